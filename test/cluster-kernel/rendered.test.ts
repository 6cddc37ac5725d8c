/**
 * The rendered 3-node example cluster (examples/eks-3node, rendered by
 * host/cluster/render.ts: an m5.large, an m5.xlarge and a t3.medium in three
 * subnets of one VPC, 50 services from kubectl YAML, aws-node defaults with
 * a SNAT exclusion; and examples/eks-3node-externalsnat) built in network
 * namespaces from the renderer's own commands and iptables-save, against the
 * emulator, hop by hop across the VPC (driver.ts). The scenarios are picked
 * from the rendered data (pods by ENI, services by where their endpoints
 * are), so they follow the example if it changes; a pick that finds nothing
 * fails the test instead of skipping it.
 *
 * These nodes carry the EKS defaults: kube-proxy's MASQUERADE and aws-node's
 * SNAT use --random-fully, so a source port chosen for a new connection is
 * compared by property (in 1024-65535, on both sides) and then followed on
 * both sides.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { KernelNode } from "../kernel/netns.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { ClusterDriver, echoConn, localConn, tcpConn, udpConn, type Client, type ConnExpect, type Disagreement, type Flow, type FlowCtx, type NodeDef, type Owner, type ScenarioResult } from "./driver.js";
import { kernelSpecOf, loadRendered, networkFiles, type RCluster, type RService } from "./rendered.js";
import type { RenderedNode } from "../../host/cluster/index.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/eks-3node/cluster.yaml", import.meta.url));
const EXAMPLE_XSNAT = fileURLToPath(new URL("../../examples/eks-3node-externalsnat/cluster.yaml", import.meta.url));

const C: RCluster = await loadRendered(EXAMPLE);
const X: RCluster = await loadRendered(EXAMPLE_XSNAT);

function need<T>(x: T | undefined, what: string): T {
  if (x === undefined) throw new Error(`the example cluster has no ${what}`);
  return x;
}

const id = (i: number) => `n${i}`;
const nodeOf = (name: string) => `n${C.nodes.findIndex((n) => n.name === name)}`;
const podsOn = (i: number, eni: string) => C.nodes[i].pods.filter((p) => p.eni === eni);
const secondaryEni = (i: number) => need(C.nodes[i].enis.slice(1).find((e) => podsOn(i, e.name).length > 0)?.name, `pod on a secondary ENI of node ${i}`);
function pod(i: number, eni: string, k = 0): Client & { ip: string } {
  const ps = podsOn(i, eni);
  const p = need(ps[k % Math.max(1, ps.length)], `pod on ${eni} of node ${i}`);
  return { node: id(i), iif: p.veth, ip: p.ip };
}
const podEni = (ip: string) => C.nodes.flatMap((n) => n.pods).find((p) => p.ip === ip)?.eni;
const outside = (i: number, ip: string): Client & { ip: string } => ({ node: id(i), iif: "eth0", ip });
const nodeIp = (i: number) => C.nodes[i].enis[0].ip;
const eps = (s: RService) => s.endpoints.map((e) => `${e.ip}:${e.port}`);

/** Services whose endpoints are all pods of the cluster's nodes. */
const podServices = () => C.services.filter((s) => !s.affinity && s.endpoints.length > 0 && s.endpoints.every((e) => podEni(e.ip) !== undefined));
function service(what: string, f: (s: RService) => boolean): RService {
  return need(podServices().find(f), what);
}
const onNode = (s: RService, i: number) => s.endpoints.filter((e) => e.node === C.nodes[i].name);

interface Sc { name: string; xsnat?: boolean; flows: (ctx: FlowCtx) => Flow[] }

function scenarios(): Sc[] {
  const s0 = secondaryEni(0);
  const s1 = secondaryEni(1);
  const s2 = secondaryEni(2);
  const expectPod = (sv: RService, x: ConnExpect = {}): ConnExpect => ({ arrives: "pod", server: eps(sv), ...x });
  // ClusterIP services, seen from node 0
  const local0 = service("TCP ClusterIP service with all endpoints on node 0", (s) => s.proto === "tcp" && !s.nodePort && s.endpoints.every((e) => e.node === C.nodes[0].name));
  const remote0 = service("TCP ClusterIP service with no endpoint on node 0", (s) => s.proto === "tcp" && !s.nodePort && onNode(s, 0).length === 0);
  const multi = service("TCP ClusterIP service with endpoints on three nodes", (s) => s.proto === "tcp" && !s.nodePort && [0, 1, 2].every((i) => onNode(s, i).length > 0));
  const udp = service("UDP ClusterIP service", (s) => s.proto === "udp" && s.endpoints.length > 0);
  // hairpin: single-endpoint services, one per node where there is one, TCP and UDP
  const singles = [0, 1, 2].map((i) => podServices().find((s) => s.proto === "tcp" && !s.nodePort && s.endpoints.length === 1 && s.endpoints[0].node === C.nodes[i].name)).filter((s): s is RService => s !== undefined);
  const singleUdp = service("UDP service with a single endpoint (hairpin)", (s) => s.proto === "udp" && s.endpoints.length === 1);
  const api = need(C.services.find((s) => s.key.startsWith("default/kubernetes:")), "default/kubernetes service");
  const local1 = service("TCP ClusterIP service with all endpoints on node 1", (s) => s.proto === "tcp" && !s.nodePort && s.endpoints.every((e) => e.node === C.nodes[1].name));
  const npCluster = service("TCP NodePort service, externalTrafficPolicy Cluster", (s) => s.proto === "tcp" && s.nodePort !== undefined && s.etp === "Cluster" && s.endpoints.length >= 2);
  const npClusterOne = service("TCP NodePort service, externalTrafficPolicy Cluster, one endpoint", (s) => s.proto === "tcp" && s.nodePort !== undefined && s.etp === "Cluster" && s.endpoints.length === 1);
  const npLocal = service("TCP NodePort service, externalTrafficPolicy Local, endpoints on some nodes but not all", (s) => s.proto === "tcp" && s.nodePort !== undefined && s.etp === "Local" && [0, 1, 2].some((i) => onNode(s, i).length === 0) && [0, 1, 2].some((i) => onNode(s, i).length > 0));
  const withLocal = [0, 1, 2].filter((i) => onNode(npLocal, i).length > 0);
  const without = need([0, 1, 2].find((i) => onNode(npLocal, i).length === 0), "node without a local endpoint");
  const hairpin = (c: FlowCtx, sv: RService, sport: number, isn: [number, number]): Flow => {
    const hp = sv.endpoints[0];
    const i = C.nodes.findIndex((n) => n.name === hp.node);
    const hpPod = C.nodes[i].pods.find((p) => p.ip === hp.ip)!;
    const client = { node: id(i), iif: hpPod.veth, ip: hpPod.ip };
    const x: ConnExpect = { arrives: "pod", serverNode: id(i), server: eps(sv), serverSeesSrcIn: C.nodes[i].enis.map((e) => e.ip) };
    const label = `${hpPod.namespace}/${hpPod.name} -> ${sv.key} (itself)`;
    return sv.proto === "tcp" ? tcpConn(c, label, client, sv.clusterIP, sv.port, sport, isn, x) : udpConn(c, label, client, sv.clusterIP, sv.port, sport, x);
  };
  const epNode = (sv: RService) => nodeOf(sv.endpoints[0].node!);
  return [
    {
      name: "pod to pod on the same node",
      flows: (c) => [0, 1, 2].flatMap((i) => [
        tcpConn(c, `n${i} eth0 pod -> n${i} ${[s0, s1, s2][i]} pod`, pod(i, "eth0"), pod(i, [s0, s1, s2][i]).ip, 8080, 40001 + i, [1 + i, 100 + i], { arrives: "pod", serverNode: id(i), serverSeesSrc: pod(i, "eth0").ip }),
        udpConn(c, `n${i} ${[s0, s1, s2][i]} pod -> n${i} eth0 pod (udp)`, pod(i, [s0, s1, s2][i], 1), pod(i, "eth0", 1).ip, 5353, 40011 + i, { arrives: "pod", serverNode: id(i) }),
      ]),
    },
    {
      name: "pod to pod on another node via eth0 (the reply through the per-ENI table when the server is on a secondary ENI)",
      flows: (c) => [
        tcpConn(c, "n0 eth0 pod -> n1 eth0 pod", pod(0, "eth0", 2), pod(1, "eth0", 2).ip, 8080, 41001, [11, 12], { arrives: "pod", serverNode: "n1", leavesBy: "eth0", returnsOn: "eth0" }),
        tcpConn(c, `n1 eth0 pod -> n2 ${s2} pod`, pod(1, "eth0", 3), pod(2, s2, 2).ip, 8080, 41002, [13, 14], { arrives: "pod", serverNode: "n2", leavesBy: "eth0", returnsOn: "eth0" }),
        tcpConn(c, `n2 eth0 pod -> n0 ${s0} pod`, pod(2, "eth0", 2), pod(0, s0, 2).ip, 8080, 41003, [15, 16], { arrives: "pod", serverNode: "n0", leavesBy: "eth0", returnsOn: "eth0" }),
        echoConn(c, "n0 eth0 pod -> n2 eth0 pod (echo)", pod(0, "eth0", 3), pod(2, "eth0", 3).ip, 0x5101, { arrives: "pod", serverNode: "n2", leavesBy: "eth0" }),
      ],
    },
    {
      name: "pod to pod on another node via a secondary ENI (per-ENI table both ways)",
      flows: (c) => [
        tcpConn(c, `n0 ${s0} pod -> n1 eth0 pod`, pod(0, s0, 3), pod(1, "eth0", 4).ip, 8080, 42001, [21, 22], { arrives: "pod", serverNode: "n1", leavesBy: s0, returnsOn: s0 }),
        tcpConn(c, `n1 ${s1} pod -> n2 ${s2} pod`, pod(1, s1, 3), pod(2, s2, 3).ip, 8080, 42002, [23, 24], { arrives: "pod", serverNode: "n2", leavesBy: s1, returnsOn: s1 }),
        udpConn(c, `n2 ${s2} pod -> n0 ${s0} pod (udp)`, pod(2, s2, 4), pod(0, s0, 4).ip, 5353, 42003, { arrives: "pod", serverNode: "n0", leavesBy: s2, returnsOn: s2 }),
      ],
    },
    {
      name: "pod to outside the VPC: SNAT to the primary IP (--random-fully); excluded CIDR not translated",
      flows: (c) => [
        tcpConn(c, "n0 eth0 pod -> 52.94.1.10:443", pod(0, "eth0", 4), "52.94.1.10", 443, 43001, [31, 32], { arrives: "outside", serverSeesSrc: nodeIp(0), leavesBy: "eth0", returnsOn: "eth0" }),
        tcpConn(c, `n2 ${s2} pod -> 3.5.6.7:443`, pod(2, s2, 1), "3.5.6.7", 443, 43002, [33, 34], { arrives: "outside", serverSeesSrc: nodeIp(2), leavesBy: "eth0", returnsOn: "eth0" }),
        udpConn(c, `n1 ${s1} pod -> 8.8.8.8:53 (udp)`, pod(1, s1, 1), "8.8.8.8", 53, 43003, { arrives: "outside", serverSeesSrc: nodeIp(1), leavesBy: "eth0", returnsOn: "eth0" }),
        tcpConn(c, `n0 ${s0} pod -> 172.31.5.5:443 (excluded CIDR)`, pod(0, s0, 5), "172.31.5.5", 443, 43004, [35, 36], { arrives: "outside", serverSeesSrc: pod(0, s0, 5).ip, leavesBy: s0, returnsOn: s0 }),
        tcpConn(c, "n1 eth0 pod -> 172.31.5.6:443 (excluded CIDR)", pod(1, "eth0", 5), "172.31.5.6", 443, 43005, [37, 38], { arrives: "outside", serverSeesSrc: pod(1, "eth0", 5).ip, leavesBy: "eth0", returnsOn: "eth0" }),
      ],
    },
    {
      name: "pod to outside with EXTERNALSNAT=true (eks-3node-externalsnat): not translated",
      xsnat: true,
      flows: (c) => [
        tcpConn(c, "n0 eth0 pod -> 52.1.1.1:443", pod(0, "eth0", 5), "52.1.1.1", 443, 44001, [41, 42], { arrives: "outside", serverSeesSrc: pod(0, "eth0", 5).ip, leavesBy: "eth0", returnsOn: "eth0" }),
        tcpConn(c, `n1 ${s1} pod -> 52.1.1.2:443 (per-ENI table)`, pod(1, s1, 4), "52.1.1.2", 443, 44002, [43, 44], { arrives: "outside", serverSeesSrc: pod(1, s1, 4).ip, leavesBy: s1, returnsOn: s1 }),
        udpConn(c, `n2 ${s2} pod -> 8.8.4.4:53 (udp)`, pod(2, s2, 0), "8.8.4.4", 53, 44003, { arrives: "outside", serverSeesSrc: pod(2, s2, 0).ip, leavesBy: s2, returnsOn: s2 }),
      ],
    },
    {
      name: "pod to a ClusterIP (endpoint local, remote, random among three nodes)",
      flows: (c) => [
        tcpConn(c, `n0 pod -> ${local0.key} (local)`, pod(0, s0, 0), local0.clusterIP, local0.port, 45001, [51, 52], expectPod(local0, { serverNode: "n0", serverSeesSrc: pod(0, s0, 0).ip })),
        tcpConn(c, `n0 ${s0} pod -> ${remote0.key} (remote)`, pod(0, s0, 1), remote0.clusterIP, remote0.port, 45002, [53, 54], expectPod(remote0, { serverSeesSrc: pod(0, s0, 1).ip, leavesBy: s0, returnsOn: s0 })),
        tcpConn(c, `n0 eth0 pod -> ${remote0.key} (remote)`, pod(0, "eth0", 6), remote0.clusterIP, remote0.port, 45003, [55, 56], expectPod(remote0, { leavesBy: "eth0", returnsOn: "eth0" })),
        ...[0, 1, 2, 3, 4].map((k) => tcpConn(c, `n${k % 3} pod -> ${multi.key} #${k}`, pod(k % 3, "eth0", k), multi.clusterIP, multi.port, 45010 + k, [57 + k, 67 + k], expectPod(multi))),
        udpConn(c, `n1 pod -> ${udp.key} (udp)`, pod(1, s1, 2), udp.clusterIP, udp.port, 45020, expectPod(udp)),
        udpConn(c, `n2 pod -> ${udp.key} (udp)`, pod(2, "eth0", 4), udp.clusterIP, udp.port, 45021, expectPod(udp)),
        tcpConn(c, `n2 ${s2} pod -> ${api.key} (the control plane's ENIs, in the VPC)`, pod(2, s2, 3), api.clusterIP, api.port, 45022, [77, 78], { arrives: "outside", server: eps(api), serverSeesSrc: pod(2, s2, 3).ip, leavesBy: s2, returnsOn: s2 }),
      ],
    },
    {
      name: "NodePort from outside, externalTrafficPolicy Cluster (masquerade to the node, --random-fully)",
      flows: (c) => [
        ...[0, 1, 2].map((i) => tcpConn(c, `52.10.0.${i + 1} -> n${i}:${npCluster.key}`, outside(i, `52.10.0.${i + 1}`), nodeIp(i), npCluster.nodePort!, 46001 + i, [71 + i, 81 + i], expectPod(npCluster, { serverSeesSrc: nodeIp(i), answerLeavesBy: "eth0" }))),
        ...[0, 1, 2].map((i) => tcpConn(c, `52.10.1.${i + 1} -> n${i}:${npClusterOne.key} (endpoint on ${epNode(npClusterOne)})`, outside(i, `52.10.1.${i + 1}`), nodeIp(i), npClusterOne.nodePort!, 46011 + i, [91 + i, 101 + i], expectPod(npClusterOne, { serverNode: epNode(npClusterOne), serverSeesSrc: nodeIp(i), answerLeavesBy: "eth0" }))),
      ],
    },
    {
      name: "NodePort from outside, externalTrafficPolicy Local (no SNAT; no local endpoint: as kube-proxy programs it)",
      flows: (c) => [
        ...withLocal.map((i) => tcpConn(c, `52.20.0.${i + 1} -> n${i}:${npLocal.key} (local endpoint)`, outside(i, `52.20.0.${i + 1}`), nodeIp(i), npLocal.nodePort!, 47001 + i, [111 + i, 121 + i],
          { arrives: "pod", serverNode: id(i), server: onNode(npLocal, i).map((e) => `${e.ip}:${e.port}`), serverSeesSrc: `52.20.0.${i + 1}`, answerLeavesBy: "eth0" })),
        tcpConn(c, `52.20.1.1 -> n${without}:${npLocal.key} (no local endpoint)`, outside(without, "52.20.1.1"), nodeIp(without), npLocal.nodePort!, 47010, [131, 132], { arrives: "stopped" }),
      ],
    },
    {
      name: "hairpin: a pod to its own service, landing on itself (masquerade, --random-fully)",
      flows: (c) => [
        ...singles.map((sv, k) => hairpin(c, sv, 48001 + k, [141 + k, 151 + k])),
        hairpin(c, singleUdp, 48010, [0, 0]),
      ],
    },
    {
      name: "node-local processes to services (OUTPUT DNAT)",
      flows: (c) => [
        localConn(c, `n0 local tcp -> ${local0.key}`, "n0", "tcp", local0.clusterIP, local0.port, 0x1000, expectPod(local0, { serverNode: "n0", serverSeesSrc: nodeIp(0) })),
        localConn(c, `n0 local tcp -> ${remote0.key}`, "n0", "tcp", remote0.clusterIP, remote0.port, 0x2000, expectPod(remote0, { serverSeesSrc: nodeIp(0), leavesBy: "eth0", returnsOn: "eth0" })),
        localConn(c, `n1 local udp -> ${udp.key}`, "n1", "udp", udp.clusterIP, udp.port, 0, expectPod(udp, { serverSeesSrc: nodeIp(1) })),
        localConn(c, `n2 local tcp -> ${multi.key}`, "n2", "tcp", multi.clusterIP, multi.port, 0x3000, expectPod(multi, { serverSeesSrc: nodeIp(2) })),
        localConn(c, `n2 local tcp -> ${local1.key} (on n1)`, "n2", "tcp", local1.clusterIP, local1.port, 0x4000, expectPod(local1, { serverNode: "n1", serverSeesSrc: nodeIp(2), leavesBy: "eth0", returnsOn: "eth0" })),
        localConn(c, `n1 local tcp -> ${api.key} (the control plane's ENIs)`, "n1", "tcp", api.clusterIP, api.port, 0x5000, { arrives: "outside", server: eps(api), serverSeesSrc: nodeIp(1), leavesBy: "eth0", returnsOn: "eth0" }),
        localConn(c, `n0 local udp -> ${singleUdp.key}`, "n0", "udp", singleUdp.clusterIP, singleUdp.port, 0, expectPod(singleUdp, { serverSeesSrc: nodeIp(0) })),
      ],
    },
  ];
}

function owners(): Array<Owner & { ip: string }> {
  const out: Array<Owner & { ip: string }> = [];
  C.nodes.forEach((n, i) => {
    for (const e of n.enis) out.push({ ip: e.ip, node: id(i), eni: e.name });
    for (const p of n.pods) out.push({ ip: p.ip, node: id(i), eni: p.eni, pod: { ip: p.ip, veth: p.veth } });
  });
  return out;
}

function frontends(n: RenderedNode): Set<string> {
  const s = new Set<string>();
  for (const x of C.services) {
    s.add(`${x.clusterIP}:${x.port}/${x.proto}`);
    if (x.nodePort) s.add(`${n.enis[0].ip}:${x.nodePort}/${x.proto}`);
  }
  return s;
}

function fmt(d: Disagreement): string {
  return `  [node ${d.node}] ${d.what}\n     kernel:   ${d.kernel}\n     emulator: ${d.emulator.length > 1500 ? d.emulator.slice(0, 1500) + "..." : d.emulator}`;
}

const results: ScenarioResult[] = [];

describeKernel("the rendered 3-node example cluster (examples/eks-3node) in network namespaces vs the emulator", () => {
  const kernels: KernelNode[] = [];
  let driver: ClusterDriver;
  const list: Sc[] = scenarios();
  beforeAll(async () => {
    for (const n of C.nodes) kernels.push(await KernelNode.create(kernelSpecOf(n)));
    const defs: NodeDef[] = C.nodes.map((n, i) => ({ id: id(i), kernel: kernels[i], frontends: frontends(n) }));
    driver = await ClusterDriver.create(defs, owners(), C.spec.vpcCidrs);
  }, 120_000);
  afterAll(async () => {
    for (const k of kernels) await k.destroy();
    console.log(`cluster-kernel (rendered eks-3node): ${results.length} scenarios, ${results.reduce((a, r) => a + r.packets, 0)} packets, ` +
      `${results.reduce((a, r) => a + r.disagreements.length, 0)} disagreements, ${results.reduce((a, r) => a + r.violations.length + r.vpcDrops.length, 0)} property violations`);
  });

  it("renders three nodes with pods on secondary ENIs; the EXTERNALSNAT variant builds the same nodes", () => {
    expect(C.nodes.length).toBe(3);
    expect(C.services.length).toBeGreaterThan(40);
    C.nodes.forEach((n, i) => expect(n.pods.some((p) => p.eni !== "eth0"), `node ${i} has pods on a secondary ENI`).toBe(true));
    expect(X.nodes.map(networkFiles)).toEqual(C.nodes.map(networkFiles));
    expect(X.nodes.map((n) => n.files["iptables-save.txt"])).not.toEqual(C.nodes.map((n) => n.files["iptables-save.txt"]));
  });

  it("the kernel built the rendered nodes: ip rule, routes of every table and addresses as rendered", async () => {
    const problems: string[] = [];
    for (const [i, n] of C.nodes.entries()) {
      const dump = await kernels[i].dumpSnapshot();
      for (const f of ["ip-rule.txt", "ip-route.txt"]) {
        const norm = (t: string) => {
          const lines = t.split("\n").filter((l) => l.trim() !== "").map((l) => l.trimEnd());
          return f === "ip-rule.txt" ? lines.sort((x, y) => Number(x.split(":")[0]) - Number(y.split(":")[0]) || (x < y ? -1 : x > y ? 1 : 0)) : lines;
        };
        const want = norm(n.files[f]);
        const got = norm(dump[f]);
        if (want.join("\n") !== got.join("\n")) {
          const missing = want.filter((l) => !got.includes(l));
          const extra = got.filter((l) => !want.includes(l));
          problems.push(`node ${n.name} ${f}: ${missing.length || extra.length ? `rendered only: ${JSON.stringify(missing)} kernel only: ${JSON.stringify(extra)}` : "same lines, other order"}`);
        }
      }
      const addrs = (t: string) => [...t.matchAll(/^\d+:\s+(\S+)\s+inet (\S+)/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
      if (addrs(n.files["ip-addr.txt"]).join(",") !== addrs(dump["ip-addr.txt"]).join(",")) problems.push(`node ${n.name} addresses: rendered ${addrs(n.files["ip-addr.txt"])} kernel ${addrs(dump["ip-addr.txt"])}`);
    }
    expect(problems.join("\n")).toBe("");
  });

  it("every rendered iptables-save loads with iptables-legacy-restore", async () => {
    for (const [i] of C.nodes.entries()) {
      for (const text of [C.nodes[i].files["iptables-save.txt"], X.nodes[i].files["iptables-save.txt"]]) {
        const r = await kernels[i].exec(["iptables-legacy-restore", "--test"], { input: text, allowFail: true });
        expect(`${r.code} ${r.stderr.trim()}`).toBe("0 ");
      }
    }
  });

  list.forEach((sc, k) => {
    it(sc.name, async () => {
      const src = sc.xsnat ? X : C;
      const rulesets = Object.fromEntries(src.nodes.map((n, i) => [id(i), n.files["iptables-save.txt"]]));
      const r = await driver.run({ name: sc.name, rulesets, flows: sc.flows }, 300 + k);
      results.push(r);
      console.log(`${sc.name}: ${r.packets} packets (${Object.entries(r.perNode).map(([n, v]) => `${n} ${v}`).join(", ")}; ${r.wire} over the VPC, ${r.isolated} alone, ${r.oracleHits} random endpoint choices), ` +
        `${r.randomPorts} random SNAT ports, ${r.checks} property checks, ${r.disagreements.length} disagreements, ${r.violations.length} property violations, ${r.vpcDrops.length} VPC drops, ${r.ms} ms`);
      for (const d of r.disagreements.slice(0, 15)) console.log(fmt(d));
      if (r.disagreements.length > 15) console.log(`  ... and ${r.disagreements.length - 15} more`);
      for (const v of [...r.violations, ...r.vpcDrops]) console.log(`  property: ${v}`);
      expect(r.packets).toBeGreaterThanOrEqual(12);
      expect([...r.violations, ...r.vpcDrops].join("\n")).toBe("");
      expect(r.disagreements.map(fmt).join("\n")).toBe("");
    }, 120_000);
  });
});
