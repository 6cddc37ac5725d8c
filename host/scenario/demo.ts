/**
 * `npm start` / `nodeplane demo`: the built-in EKS node and workload, replayed
 * through the engine, ending in a readable summary.
 */
import type { Writable } from "node:stream";
import { Engine } from "../engine.js";
import { parseSnapshotFiles } from "../snapshot/read.js";
import { buildDemoNode } from "./eks-node.js";
import { clusterForNode } from "./cluster.js";
import { generateWorkload, workloadClasses, prng } from "./workload.js";
import { newStats, accumulate } from "../replay/jsonl.js";
import { resultJson } from "../packet/result-json.js";
import { formatSummary } from "../report/summary.js";
import type { PacketResult } from "../packet/result.js";
import type { PacketInput } from "../packet/input.js";
import { comparePaths, formatPathsTable, DEFAULT_NLB_SPEC } from "../replay/paths.js";
import { parseTrafficSpec } from "../traffic/index.js";

export interface DemoOptions { packets: number; seed: number; out?: Writable; services?: number }

function describe(p: PacketInput, r: PacketResult): string {
  const ports = p.dport !== undefined ? `:${p.dport}` : "";
  // a process's packet that leaves the node is "forward" in the results (it left): "sent" here
  const local = p.iif === "local";
  const verdict = local && r.verdict === "forward" ? "sent" : r.verdict;
  let s = `${local ? "node process" : p.iif} ${p.src ?? (local ? `(source ${r.src})` : "")} -> ${p.dst}${ports} ${p.proto}: ${verdict}`;
  if (r.verdict === "forward") s += ` via ${r.oif}${r.nexthop && r.nexthop !== p.dst ? ` (next hop ${r.nexthop})` : ""}, src ${r.src}, ttl ${r.ttl}`;
  if (r.verdict === "drop") s += ` (${r.reason})`;
  for (const q of r.replies) s += `; node answers ${q.kind === "tcp" ? `TCP ${q.flags}` : `ICMP ${q.icmp_type}/${q.icmp_code}`} from ${q.src} via ${q.oif}`;
  if (r.nat?.includes("DNAT")) s += `, DNAT to ${r.dst}:${r.dport ?? ""}`.replace(/:$/, "");
  if (r.nat?.includes("SNAT")) s += `, SNAT to ${r.src}`;
  if (r.rules_traversed) s += ` (${r.rules_traversed} iptables rules traversed)`;
  for (const x of r.rules ?? []) if (/ -j (DNAT|SNAT|MASQUERADE|REJECT|DROP)/.test(x) || x.includes("AWS-SNAT")) s += `\n      iptables: ${x}`;
  if (r.nf_verdict) s += `\n      dropped by: ${r.nf_verdict}`;
  if (r.ip_rule) s += `\n      ip rule:  ${r.ip_rule}`;
  if (r.ip_route) s += `\n      ip route: ${r.ip_route}`;
  return s;
}

export async function runDemo(opts: DemoOptions): Promise<string> {
  const node = buildDemoNode();
  const snap = parseSnapshotFiles(node.files, "built-in EKS node (m5.large, VPC CNI, kube-proxy iptables mode)");
  const services = opts.services ?? 200;
  const cl = clusterForNode(node, { services, seed: 1 });
  snap.iptablesSave = cl.iptables;
  const engine = await Engine.create({ seed: opts.seed });
  engine.load(snap, { hz: snap.hz });
  const packets = generateWorkload(node, opts.packets, opts.seed, 50000, cl.frontends);
  const stats = newStats();
  const t0 = performance.now();
  const chunk = 65536;
  for (let i = 0; i < packets.length; i += chunk) {
    const part = packets.slice(i, i + chunk);
    const results = engine.process(part, (k) => ({ file: "built-in workload", line: i + k + 1 }), i);
    let text = "";
    for (const r of results) {
      accumulate(stats, r);
      if (opts.out) text += resultJson(r) + "\n";
    }
    if (opts.out && !opts.out.write(text)) await new Promise<void>((res) => opts.out!.once("drain", () => res()));
  }
  stats.seconds = (performance.now() - t0) / 1000;

  // one worked example per traffic class, from a fresh engine so the answers are self-contained
  const ex = await Engine.create({ seed: opts.seed });
  ex.load(snap, { hz: snap.hz });
  const rnd = prng(opts.seed ^ 0x5eed);
  const examples = workloadClasses(node, cl.frontends).map((c) => {
    const p = c.make(rnd, 0);
    const [r] = ex.process([p]);
    return `  ${c.name}\n    ${describe(p, r)}`;
  });

  const head = [
    `nodeplane demo: ${snap.origin}`,
    `  ${node.pods.length} pods (${node.pods.filter((p) => p.eni !== "eth0").length} on secondary ENIs), ${snap.routes.length} routes, ${snap.rules.length} ip rules`,
    `  ${services} services (${cl.frontends.length} frontends), ${engine.ruleset?.stats.rules ?? 0} iptables rules in ${engine.ruleset?.stats.chains ?? 0} chains`,
    `  workload: ${opts.packets} packets, seed ${opts.seed}`,
    "",
  ].join("\n");
  // the NLB's two paths with the same traffic (nodeplane paths)
  const paths = await comparePaths({
    node: { files: { ...node.files, "iptables-save.txt": cl.iptables }, origin: snap.origin, dir: false },
    traffic: parseTrafficSpec(DEFAULT_NLB_SPEC, "built-in NLB traffic"), seed: opts.seed, rounds: 3,
  });
  return `${head}${formatSummary(stats, engine.counters(), engine)}\n\nwhat happens to each kind of traffic:\n${examples.join("\n")}` +
    `\n\nthe same NLB traffic through instance targets and IP targets (nodeplane paths):\n${formatPathsTable(paths, { compact: true })}`;
}
