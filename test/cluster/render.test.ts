/**
 * Rendering clusters into node snapshots: golden files for two small
 * clusters (regenerate with UPDATE_GOLDEN=1), byte stability, every node of
 * the 3-node 50-service example loading into the Engine, what the files say
 * about ENIs, pods, rules and endpoints, and `nodeplane render` end to end.
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadClusterFile } from "../../host/cluster/load.js";
import { renderCluster, writeRenderedNode, type RenderedCluster } from "../../host/cluster/render.js";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles, readSnapshotDir } from "../../host/snapshot/read.js";
import { CLI, ROOT } from "../repo.js";

const GOLDEN = join(ROOT, "test/cluster/golden");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

async function render(file: string): Promise<RenderedCluster> {
  return renderCluster(await loadClusterFile(file));
}

/** Compares (or with UPDATE_GOLDEN=1 rewrites) one cluster's golden directory. */
function checkGolden(name: string, r: RenderedCluster): void {
  const dir = join(GOLDEN, name);
  const summary = JSON.stringify({
    unscheduled: r.unscheduled, notes: r.notes,
    nodes: r.nodes.map((n) => ({ name: n.name, instanceType: n.instanceType, maxPods: n.maxPods, enis: n.enis, pods: n.pods, iptablesRules: n.iptablesRules })),
  }, null, 2) + "\n";
  const want: Record<string, string> = { "summary.json": summary };
  for (const n of r.nodes) {
    for (const [f, text] of Object.entries(n.files)) want[`${n.name}/${f}`] = text;
    want[`${n.name}/commands.txt`] = n.commands.join("\n") + "\n";
  }
  if (UPDATE) {
    for (const [f, text] of Object.entries(want)) {
      mkdirSync(join(dir, f, ".."), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
  }
  expect(existsSync(dir), `${dir} missing: run with UPDATE_GOLDEN=1`).toBe(true);
  for (const [f, text] of Object.entries(want)) {
    expect(text, `${name}/${f}`).toBe(readFileSync(join(dir, f), "utf8"));
  }
  // nothing stale in the golden directory
  const have = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile())
    .map((d) => join(d.parentPath ?? (d as unknown as { path: string }).path, d.name).slice(dir.length + 1)).sort();
  expect(have).toEqual(Object.keys(want).sort());
}

describe("golden node snapshots", () => {
  it("examples/small", async () => {
    checkGolden("small", await render("examples/small/cluster.yaml"));
  });
  it("custom networking + prefix delegation + EXTERNALSNAT (test/cluster/fixtures/custom-pd.yaml)", async () => {
    checkGolden("custom-pd", await render("test/cluster/fixtures/custom-pd.yaml"));
  });
});

describe("rendering", () => {
  it("is byte-stable: rendering twice gives the same bytes", async () => {
    for (const f of ["examples/eks-3node/cluster.yaml", "test/cluster/fixtures/custom-pd.yaml"]) {
      const a = await render(f);
      const b = await render(f);
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    }
  });

  it("every node of the 3-node 50-service example loads into the Engine", async () => {
    const r = await render("examples/eks-3node/cluster.yaml");
    expect(r.nodes).toHaveLength(3);
    for (const n of r.nodes) {
      const snap = parseSnapshotFiles(n.files, n.name);
      const engine = await Engine.create({ seed: 1 });
      const warnings: string[] = [];
      engine.onWarning = (m) => warnings.push(m);
      engine.load(snap, { hz: snap.hz });
      expect(warnings, n.name).toEqual([]);
      expect(snap.links.map((l) => l.name).slice(0, 1 + n.enis.length)).toEqual(["lo", ...n.enis.map((e) => e.name)]);
      expect(snap.links.length).toBe(1 + n.enis.length + n.pods.length);
    }
  });

  it("what a node's files say: ENIs, tables, rules, endpoints and SNAT", async () => {
    const r = await render("examples/eks-3node/cluster.yaml");
    const n = r.nodes[0];
    const rules = n.files["ip-rule.txt"];
    for (const p of n.pods) {
      expect(rules).toContain(`512:\tfrom all to ${p.ip} lookup main`);
      expect(n.files["ip-route.txt"]).toContain(`${p.ip} dev ${p.veth} scope link \n`);
      const eni = n.enis.find((e) => e.name === p.eni)!;
      if (eni.table !== 254) expect(rules).toContain(`1536:\tfrom ${p.ip} lookup ${eni.table}`);
      else expect(rules).not.toContain(`from ${p.ip} lookup`);
    }
    expect(rules).toContain("1024:\tfrom all fwmark 0x80/0x80 lookup main");
    expect(n.files["sysctl.txt"]).toContain("net.ipv4.conf.eth0.rp_filter = 2");
    const ipt = n.files["iptables-save.txt"];
    expect(ipt).toContain(`-j SNAT --to-source ${n.enis[0].ip} --random-fully`);
    expect(ipt).toContain('-A AWS-SNAT-CHAIN-0 -d 172.16.0.0/12 -m comment --comment "AWS SNAT CHAIN EXCLUSION" -j RETURN');
    // endpoints follow their pods: every local pod endpoint appears as a DNAT in this node's rules
    const spec = await loadClusterFile("examples/eks-3node/cluster.yaml");
    const mine = new Set(n.pods.map((p) => p.ip));
    let dnat = 0;
    for (const sl of spec.endpointSlices) for (const e of sl.endpoints) if (mine.has(e.address)) { expect(ipt).toContain(`--to-destination ${e.address}:`); dnat++; }
    expect(dnat).toBeGreaterThan(0);
    // the health-check node ports kube-proxy listens on
    const hc = spec.services.filter((s) => s.healthCheckNodePort).map((s) => s.healthCheckNodePort!);
    expect(hc.length).toBeGreaterThan(0);
    for (const p of hc) expect(n.files["ss.txt"]).toContain(`*:${p} `);

    const ext = await render("examples/eks-3node-externalsnat/cluster.yaml");
    const x = ext.nodes[0].files["iptables-save.txt"];
    expect(x).not.toContain("-j SNAT");
    expect(x).not.toContain("AWS-CONNMARK-CHAIN-0");
    expect(ext.nodes[0].files["ip-rule.txt"]).toContain("1024:\tfrom all fwmark 0x80/0x80 lookup main"); // node port support keeps it
    expect(ext.nodes.map((m) => m.files["ip-route.txt"])).toEqual(r.nodes.map((m) => m.files["ip-route.txt"]));
  });

  it("writeRenderedNode writes a snapshot directory readSnapshotDir reads back", async () => {
    const r = await render("examples/small/cluster.yaml");
    const dir = mkdtempSync(join(tmpdir(), "np-render-"));
    await writeRenderedNode(r.nodes[0], join(dir, r.nodes[0].name));
    const snap = await readSnapshotDir(join(dir, r.nodes[0].name));
    expect(snap.iptablesSave).toBe(r.nodes[0].files["iptables-save.txt"]);
    const script = readFileSync(join(dir, r.nodes[0].name, "build-netns.sh"), "utf8");
    expect(script).toContain(r.nodes[0].commands.join("\n"));
  });
});

describe("nodeplane render (CLI)", () => {
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });

  it("writes DIR/<node>/ and prints the summary with the pods not placed", () => {
    expect(existsSync(CLI), "build first (npm run build)").toBe(true);
    const out = mkdtempSync(join(tmpdir(), "np-render-cli-"));
    const r = cli(["render", "--cluster", "examples/eks-3node/cluster.yaml", "--out", out]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("cluster examples/eks-3node/cluster.yaml: 3 nodes, 51 pods with VPC addresses, 2 not placed");
    expect(r.stdout).toMatch(/ip-10-0-41-23\.ec2\.internal \(m5\.large, max pods 29\): 3 ENIs, 15 pods; iptables rules: nat \d+, filter \d+, mangle 3/);
    expect(r.stdout).toContain("search/reports-297743484-96d3e on ip-10-0-101-9.ec2.internal: node is at max pods: t3.medium allows 17");
    const dirs = readdirSync(out).sort();
    expect(dirs).toEqual(["ip-10-0-101-9.ec2.internal", "ip-10-0-41-23.ec2.internal", "ip-10-0-77-140.ec2.internal"]);
    // the snapshot answers a routing question through the CLI
    const q = cli(["route", "get", "--snapshot", join(out, "ip-10-0-41-23.ec2.internal"), "8.8.8.8", "from", "10.0.41.23"]);
    expect(q.stderr + q.stdout).toContain("via");
    expect(q.status).toBe(0);
    expect(q.stdout).toContain("8.8.8.8 from 10.0.41.23 via 10.0.32.1 dev eth0");
  });

  it("input errors exit 2 with file:line:col", () => {
    const dir = mkdtempSync(join(tmpdir(), "np-render-bad-"));
    const f = join(dir, "c.yaml");
    writeFileSync(f, "vpc:\n  cidrs: [10.0.0.0/16]\nsubnets:\n  - {id: s, cidr: 10.0.0.0/19, az: a, zone: b}\nnodes: []\n");
    const r = cli(["render", "--cluster", f, "--out", join(dir, "out")]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`nodeplane: ${f}:4:39: "zone": subnets[0]: unknown key`);
    expect(r.stderr).not.toContain("    at ");
    const m = cli(["render", "--cluster", join(dir, "missing.yaml"), "--out", join(dir, "out")]);
    expect(m.status).toBe(2);
    expect(m.stderr).toContain("cannot read the cluster file: no such file or directory");
  });
});
