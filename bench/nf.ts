/**
 * The iptables path: the first packet of a connection from a pod to a
 * ClusterIP through a kube-proxy + VPC CNI ruleset of 100, 1,000 and 10,000
 * services (conntrack, the nat walk through KUBE-SERVICES -> KUBE-SVC ->
 * KUBE-SEP, DNAT, filter FORWARD, nat POSTROUTING, routing), in the WASM
 * engine, against the plain-TypeScript evaluator of bench/ts-nf.ts walking
 * the same tables at the same hooks; and rule evaluations per second with
 * the chain indexes off (every rule evaluated, as in the kernel) in both.
 * The WASM engine runs with compiled rule walks (the default) and, in the
 * same run, with the interpreter alone (`jit: false`).
 * Each WASM batch starts with an empty connection table, so every packet
 * is a first packet.
 */
import * as abi from "../host/core/abi.js";
import { Engine } from "../host/engine.js";
import { parseSnapshotFiles } from "../host/snapshot/read.js";
import { buildEksNode } from "../host/scenario/eks-node.js";
import { syntheticCluster } from "../host/k8s/iptables.js";
import { renderKubeProxy } from "../host/k8s/kube-proxy.js";
import { renderVpcCni } from "../host/k8s/vpc-cni.js";
import { renderNodeIptables } from "../host/k8s/iptables.js";
import { parseIPv4 } from "../host/util/ipv4.js";
import { TsNetfilter, type TsPacket } from "./ts-nf.js";
import { measure, mdTable, fmtRate } from "./util.js";
import { prng } from "./prefixes.js";
import type { IptTableName } from "../host/model/iptables.js";

/** Packets per measured call: fewer for the big rulesets (the plain-TS walk takes ~0.4 ms a packet at 10,000 services). */
const batchFor = (services: number) => (services >= 10000 ? 256 : services >= 1000 ? 1024 : 2048);

export function clusterRuleset(services: number): string {
  const c = syntheticCluster({ services, seed: 7 });
  return renderNodeIptables(renderKubeProxy(c.services, c.endpoints, c.kubeProxy), renderVpcCni(c.vpcCni));
}

/** ClusterIP:port pairs of services that have endpoints (TCP). */
export function clusterTargets(services: number): { ip: number; port: number }[] {
  const c = syntheticCluster({ services, seed: 7 });
  const out: { ip: number; port: number }[] = [];
  for (const s of c.services) {
    const eps = c.endpoints.get(`${s.namespace}/${s.name}`) ?? [];
    if (!eps.length || !s.clusterIP || s.clusterIP === "None") continue;
    for (const p of s.ports) if ((p.protocol ?? "TCP") === "TCP") out.push({ ip: parseIPv4(s.clusterIP)!, port: p.port });
  }
  return out;
}

interface Setup { engine: Engine; ptr: number; n: number; ts: TsNetfilter; tsPackets: TsPacket[]; traversed: number }

async function setup(services: number, indexMin?: number, jit = true): Promise<Setup & { loadMs: number }> {
  const BATCH = batchFor(services);
  const node = buildEksNode({ enis: 3, podsPerEni: [10, 9, 9], seed: 11 });
  const snap = parseSnapshotFiles(node.files, "bench EKS node");
  const engine = await Engine.create({ seed: 3, batchSize: BATCH, jit });
  engine.load(snap);
  const text = clusterRuleset(services);
  const t0 = performance.now();
  const rs = engine.loadRuleset(text, "bench", { indexMin });
  const loadMs = performance.now() - t0;
  const targets = clusterTargets(services);
  const rnd = prng(9);
  const { ptr } = engine.batchBuffer;
  const dv = () => { engine.mem.refresh(); return engine.mem.dv; };
  const tsPackets: TsPacket[] = [];
  const local = new Set<number>([...snap.addrs.map((a) => a.local)]);
  const addrType = (a: number) => (local.has(a) ? abi.RTN_LOCAL : abi.RTN_UNICAST);
  for (let k = 0; k < BATCH; k++) {
    const pod = node.pods[Math.floor(rnd() * node.pods.length)]!;
    const t = targets[Math.floor(rnd() * targets.length)]!;
    const p = ptr + k * abi.PKT_SIZE;
    const d = dv();
    new Uint8Array(d.buffer, p, abi.PKT_SIZE).fill(0);
    const src = parseIPv4(pod.ip)!;
    const sport = 10000 + k;
    d.setUint32(p + abi.PKT_SRC, src, true);
    d.setUint32(p + abi.PKT_DST, t.ip, true);
    d.setUint16(p + abi.PKT_SPORT, sport, true);
    d.setUint16(p + abi.PKT_DPORT, t.port, true);
    d.setUint8(p + abi.PKT_PROTO, 6);
    d.setUint8(p + abi.PKT_TCPFLAGS, 2);
    d.setUint8(p + abi.PKT_TTL, 64);
    d.setUint16(p + abi.PKT_LEN, 60, true);
    d.setUint16(p + abi.PKT_IIF, engine.node.slotByName.get(pod.veth)!, true);
    d.setUint16(p + abi.PKT_FLAGS, abi.PF_SRC_SET, true);
    d.setUint32(p + abi.PKT_SEQ, 1000, true);
    d.setUint16(p + abi.PKT_WIN, 65535, true);
    tsPackets.push({
      src, dst: t.ip, proto: 6, sport, dport: t.port, tcpFlags: 2, icmpType: 0, icmpCode: 0, len: 60, mark: 0,
      inIface: pod.veth, outIface: "", ctstate: 8, ctmark: 0, addrType,
    });
  }
  // one warm run to read the rules traversed
  engine.core.ct_flush();
  engine.core.process_batch(ptr, BATCH);
  const d = dv();
  let traversed = 0;
  for (let k = 0; k < BATCH; k++) traversed += d.getUint32(ptr + k * abi.PKT_SIZE + abi.PKT_NF_RULES, true);
  const seed = prng(4);
  const ts = new TsNetfilter(rs.ruleset, () => (seed() * 2 ** 32) >>> 0);
  return { engine, ptr, n: BATCH, ts, tsPackets, traversed: traversed / BATCH, loadMs };
}

/** The table walks the kernel makes for a forwarded first packet (same order as the core). */
const FORWARD_PATH: [IptTableName, string][] = [
  ["raw", "PREROUTING"], ["mangle", "PREROUTING"], ["nat", "PREROUTING"],
  ["mangle", "FORWARD"], ["filter", "FORWARD"], ["mangle", "POSTROUTING"], ["nat", "POSTROUTING"],
];

function tsFirstPackets(s: Setup): number {
  let traversed = 0;
  for (const p0 of s.tsPackets) {
    const p = { ...p0 };
    for (const [t, h] of FORWARD_PATH) {
      if (h === "POSTROUTING" || h === "FORWARD") p.outIface = "eth0";
      const v = s.ts.run(t, h, p);
      traversed += v.traversed;
      if (v.verdict === "DROP" || v.verdict === "REJECT") break;
    }
  }
  return traversed;
}

export async function benchNetfilter(sizes: number[] = [100, 1000, 10000]): Promise<string> {
  const rows: (string | number)[][] = [];
  const evalRows: (string | number)[][] = [];
  const loadRows: (string | number)[][] = [];
  for (const n of sizes) {
    const s = await setup(n);
    const si = await setup(n, undefined, false);
    let tsTraversed = 0;
    const r = await measure([
      { name: "wasm", batch: s.n, fn: () => { s.engine.core.ct_flush(); s.engine.core.process_batch(s.ptr, s.n); } },
      { name: "wasm-interpreted", batch: si.n, fn: () => { si.engine.core.ct_flush(); si.engine.core.process_batch(si.ptr, si.n); } },
      { name: "ts", batch: s.n, fn: () => { tsTraversed = tsFirstPackets(s) / s.n; } },
    ], { time: 1500, iterations: 10, warmupIterations: 3 });
    const [w, wi, t] = r as [typeof r[0], typeof r[0], typeof r[0]];
    rows.push([n.toLocaleString("en-US"), s.engine.ruleset!.stats.rules.toLocaleString("en-US"), s.traversed.toFixed(0),
      `${(w.nsPerItem / 1000).toFixed(2)} µs`, `${(wi.nsPerItem / 1000).toFixed(2)} µs`, `${(t.nsPerItem / 1000).toFixed(2)} µs`, `${(t.nsPerItem / w.nsPerItem).toFixed(1)}x`]);
    void tsTraversed;
    const st = s.engine.ruleset!.stats;
    loadRows.push([n.toLocaleString("en-US"), st.rules.toLocaleString("en-US"),
      `${st.parseMs.toFixed(0)} ms`, `${st.compileMs.toFixed(0)} ms`, `${st.loadMs.toFixed(0)} ms`,
      "walks" in st.jit ? `${st.jit.ms.toFixed(0)} ms (${st.jit.chains} chains)` : "-", `${s.loadMs.toFixed(0)} ms`]);
    // rule evaluations per second: no indexes, every rule evaluated (compiled chains, and the interpreter alone)
    const lin = await setup(n, 0);
    const linI = await setup(n, 0, false);
    const r2 = await measure([
      { name: "wasm-linear", batch: lin.n, fn: () => { lin.engine.core.ct_flush(); lin.engine.core.process_batch(lin.ptr, lin.n); } },
      { name: "wasm-linear-interpreted", batch: linI.n, fn: () => { linI.engine.core.ct_flush(); linI.engine.core.process_batch(linI.ptr, linI.n); } },
      { name: "ts", batch: lin.n, fn: () => { tsFirstPackets(lin); } },
    ], { time: 1500, iterations: 10, warmupIterations: 3 });
    const [wl, wli, tl] = r2 as [typeof r2[0], typeof r2[0], typeof r2[0]];
    evalRows.push([n.toLocaleString("en-US"), lin.traversed.toFixed(0), fmtRate(lin.traversed * wl.itemsPerSec).replace("/s", " rules/s"),
      fmtRate(lin.traversed * wli.itemsPerSec).replace("/s", " rules/s"),
      fmtRate(lin.traversed * tl.itemsPerSec).replace("/s", " rules/s"), `${(tl.nsPerItem / wl.nsPerItem).toFixed(1)}x`]);
  }
  return [
    "First packet of a connection, pod -> ClusterIP, kube-proxy + VPC CNI ruleset (median per packet; the WASM figure is the whole packet: conntrack, NAT, rules, routing):",
    "",
    mdTable(["services", "rules", "rules traversed", "WASM (indexed, compiled walks)", "WASM (indexed, interpreted: jit false)", "plain TS (rules only)", "ratio (TS / compiled)"], rows),
    "",
    "Rule evaluations per second, chain indexes off (every rule evaluated in order, as the kernel does; chains of up to 64 rules compiled, longer ones interpreted):",
    "",
    mdTable(["services", "rules traversed", "WASM", "WASM interpreted (jit false)", "plain TS", "ratio (TS / WASM)"], evalRows),
    "",
    "Ruleset load (a kube-proxy resync: parse, compile, load into the core, compile the walks; connections kept):",
    "",
    mdTable(["services", "rules", "parse", "compile", "core load", "walks compiled", "total"], loadRows),
  ].join("\n");
}
