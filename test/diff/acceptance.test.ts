/**
 * Acceptance: `nodeplane diff` of a node with AWS_VPC_K8S_CNI_EXTERNALSNAT
 * false against the same node with it true names exactly the flows whose
 * source address changes. The expected set is computed here without the
 * diff's comparison: pod-initiated flows whose first packet, on the SNAT
 * side, leaves through the primary ENI towards a destination (after any
 * service DNAT) outside every VPC CIDR and excluded CIDR, the CIDRs taken
 * from what built the node (the scenario builder or the cluster file).
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Engine } from "../../host/engine.js";
import { loadClusterFile } from "../../host/cluster/render.js";
import { diffSides, type NodeDiff } from "../../host/diff/node-diff.js";
import { loadSide, type NodeSide } from "../../host/diff/sides.js";
import { stepsOf } from "../../host/diff/play.js";
import type { PacketInput } from "../../host/packet/input.js";
import { inPrefix, parseCidr, parseIPv4 } from "../../host/util/ipv4.js";
import { eksNodeFiles, writeSnapshot } from "./fixtures.js";

/** Flow ids whose source address must change when the node stops SNATing. */
async function expectedSnatFlows(side: NodeSide, n: NodeDiff, cidrs: string[], primary: string): Promise<Set<number>> {
  const nets = cidrs.map((c) => parseCidr(c)!);
  const outside = (ip: string) => !nets.some((c) => inPrefix(parseIPv4(ip)!, c.addr, c.plen));
  const engine = await Engine.create({ seed: 1 });
  engine.load(side.snapshot);
  engine.setStatisticOracle([]); // the diff pins endpoint choice the same way
  const pods = n.behaviour.flows.filter((f) => f.initiator === "pod");
  const firsts: PacketInput[] = pods.map((f) => {
    const p: PacketInput = { iif: f.iif, src: f.src, dst: f.dst, proto: f.proto, sport: f.sport, dport: f.dport };
    if (f.proto === "tcp") { p.flags = "S"; p.seq = 1000 + f.id; }
    expect(stepsOf(f.proto)[0]!.from).toBe("client");
    return p;
  });
  const res = engine.process(firsts);
  const out = new Set<number>();
  pods.forEach((f, i) => {
    const r = res[i]!;
    if (r.verdict === "forward" && r.oif === primary && outside(r.dst)) out.add(f.id);
  });
  return out;
}

function changed(n: NodeDiff, category: string): Set<number> {
  return new Set(n.behaviour.changes.filter((c) => c.category === category).map((c) => c.flow.id));
}

describe("EXTERNALSNAT false vs true", () => {
  it("snapshot pair (buildEksNode + clusterForNode): exactly the pod flows leaving the VPC through the primary ENI change source address", async () => {
    const a = eksNodeFiles(false);
    const b = eksNodeFiles(true);
    const root = mkdtempSync(join(tmpdir(), "nodeplane-diff-"));
    const sa = await loadSide(writeSnapshot(a.files, "snat", root));
    const sb = await loadSide(writeSnapshot(b.files, "externalsnat", root));
    const r = await diffSides(sa, sb, { flows: 200, seed: 5 });
    expect(r.nodes).toHaveLength(1);
    const n = r.nodes[0]!;
    const vpc = a.cluster.cluster.vpcCni;
    const cidrs = [a.node.vpcCidr, ...vpc.vpcCidrs, ...(vpc.excludeSnatCidrs ?? [])];
    const expected = await expectedSnatFlows(sa.nodes[0]!, n, cidrs, "eth0");
    const got = changed(n, "source address");
    expect([...got].sort((x, y) => x - y)).toEqual([...expected].sort((x, y) => x - y));
    // the set is not trivial: pods on both ENIs, and flows that keep their source
    const flows = new Map(n.behaviour.flows.map((f) => [f.id, f]));
    const enis = new Set([...expected].map((id) => a.node.pods.find((p) => p.ip === flows.get(id)!.src)!.eni));
    expect([...enis].sort()).toEqual(["eth0", "eth1"]);
    expect(expected.size).toBeGreaterThanOrEqual(20);
    expect(n.behaviour.unchanged).toBeGreaterThan(50);
    // every flow that changes source address was translated to the node IP on the SNAT side and left alone on the other
    for (const c of n.behaviour.changes.filter((c) => c.category === "source address")) {
      expect(c.a).toBe(`SNAT to ${a.node.nodeIp}`);
      expect(c.b).toBe("not translated");
    }
    // secondary-ENI pods leave through their own ENI once the connmark rules are gone
    const eth1 = n.behaviour.changes.filter((c) => c.category === "egress interface");
    expect(eth1.length).toBeGreaterThan(0);
    for (const c of eth1) expect([c.a, c.b]).toEqual(["eth0", "eth1"]);
  });

  it("cluster files (examples/small with EXTERNALSNAT toggled): the same, node by node", async () => {
    const d = mkdtempSync(join(tmpdir(), "nodeplane-diff-cluster-"));
    cpSync("examples/small", join(d, "a"), { recursive: true });
    cpSync("examples/small", join(d, "b"), { recursive: true });
    const fb = join(d, "b", "cluster.yaml");
    const text = readFileSync(fb, "utf8");
    expect(text).toContain('AWS_VPC_K8S_CNI_EXTERNALSNAT: "false"');
    writeFileSync(fb, text.replace('AWS_VPC_K8S_CNI_EXTERNALSNAT: "false"', 'AWS_VPC_K8S_CNI_EXTERNALSNAT: "true"'));
    const fa = join(d, "a", "cluster.yaml");
    const sa = await loadSide(fa);
    const r = await diffSides(sa, await loadSide(fb), { flows: 150, seed: 2 });
    const spec = await loadClusterFile(fa);
    const cidrs = [...spec.vpcCidrs, ...spec.awsNode.excludeSnatCidrs];
    expect(r.nodes.length).toBe(spec.nodes.length);
    let total = 0;
    for (const n of r.nodes) {
      const side = sa.nodes.find((x) => x.name === n.name)!;
      const expected = await expectedSnatFlows(side, n, cidrs, "eth0");
      expect([...changed(n, "source address")].sort((x, y) => x - y)).toEqual([...expected].sort((x, y) => x - y));
      total += expected.size;
    }
    expect(total).toBeGreaterThan(5);
  });

  for (const [x, y] of examplePairs()) {
    it(`cluster examples ${x} vs ${y}`, async () => {
      const sa = await loadSide(x);
      const r = await diffSides(sa, await loadSide(y), { flows: 150, seed: 3 });
      const spec = await loadClusterFile(x);
      const cidrs = [...spec.vpcCidrs, ...spec.awsNode.excludeSnatCidrs];
      expect(r.nodes.length).toBe(spec.nodes.length);
      expect(r.nodes.length).toBe(3);
      expect(spec.awsNode.excludeSnatCidrs.length).toBeGreaterThan(0);
      for (const n of r.nodes) {
        const expected = await expectedSnatFlows(sa.nodes.find((s) => s.name === n.name)!, n, cidrs, "eth0");
        expect(expected.size).toBeGreaterThan(0);
        // the excluded CIDR is in the workload, and its flows keep their source
        const excluded = n.behaviour.flows.filter((f) => f.kind === "pod-excluded-cidr");
        expect(excluded.length).toBeGreaterThan(0);
        for (const f of excluded) expect(expected.has(f.id)).toBe(false);
        expect([...changed(n, "source address")].sort((p, q) => p - q)).toEqual([...expected].sort((p, q) => p - q));
      }
    }, 120_000);
  }
});

/** The cluster examples: eks-3node (3 nodes, 50 services, a SNAT exclusion) and its EXTERNALSNAT=true twin. */
function examplePairs(): [string, string][] {
  const pair: [string, string] = ["examples/eks-3node/cluster.yaml", "examples/eks-3node-externalsnat/cluster.yaml"];
  return [pair];
}
