/**
 * `nodeplane paths`: the same NLB traffic through the node's two paths,
 * side by side.
 *
 *  - instance target: the NLB sends each connection to the node's
 *    IP:NodePort (it arrives on the primary ENI); kube-proxy's KUBE-NODEPORTS
 *    rules DNAT it to an endpoint (maybe on another node) and, with
 *    externalTrafficPolicy Cluster, mark it for MASQUERADE (SNAT to a node
 *    address, a port per connection).
 *  - IP target: the NLB sends it straight to a pod IP (it arrives on the
 *    pod's ENI): routing only, no NAT, fewer rules.
 *
 * The traffic is a traffic spec (host/traffic/spec.ts) run twice with the
 * same seed: once with its NLB share (the weights of `nodeport` and
 * `pod-ip`) all as `nodeport`, once all as `pod-ip`; every other direction
 * (background traffic) is the same in both. Each flow draws the same client,
 * arrival time, sizes and round-trip time in both runs (the generator draws
 * a flow's endpoints and laws in the same order for both directions, as long
 * as the pods have one port each and no flow is cut short by a drop).
 *
 * Each variant runs once as a closed loop (the generator's servers answer
 * what left the node), which gives every count. The node's time is then
 * measured apart: the recorded descriptors go through a fresh engine in
 * full batches (the closed loop's fills are short, and their per-call cost
 * is not the path's), `rounds` times per variant, alternating so that both
 * see the same machine load; only the engine's calls are timed (not the
 * generator, not loading), and the median round counts. The timed runs must
 * reproduce the closed loop's results exactly.
 */
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { Collector, type CollectorData } from "../report/collect.js";
import { NAT_NAMES, dropCounts, egressCounts, natCounts } from "../report/model.js";
import { createGenerator, type TrafficSpec, type TrafficStats, type Direction } from "../traffic/index.js";
import { EngineRunner, type SegmentSink } from "./runner.js";
import { loadEngine, type NodeSpec } from "./setup.js";
import { formatIPv4 } from "../util/ipv4.js";

/**
 * The traffic when no spec is given: an NLB in front of the node, clients
 * that each open a few connections of request/response exchanges (as
 * examples/traffic/nlb.yaml, shorter): `nodeplane paths` without
 * --generate, and `npm start`.
 */
export const DEFAULT_NLB_SPEC = `# built-in NLB traffic (nodeplane paths)
seed: 3
duration: 10
rate: 500
mix: {tcp: 1}
directions: {nodeport: 1}
clients: {count: 5000, cidrs: [198.51.100.0/24, 203.0.113.0/24, 52.94.0.0/16], zipf: 0.7}
rtt: {dist: pareto, shape: 2.5, min: 0.001, max: 0.2}
tcp:
  request: {dist: exponential, mean: 600, max: 8000}
  response: {dist: pareto, shape: 1.1, min: 2000, max: 500000}
  exchanges: {dist: exponential, mean: 4, max: 50}
  rst: 0.02
`;

export type PathName = "instance" | "ip";
export const PATH_TITLES: Record<PathName, string> = {
  instance: "instance target (NodePort)",
  ip: "IP target (pod IP)",
};
const PATH_DIRECTION: Record<PathName, Direction> = { instance: "nodeport", ip: "pod-ip" };
/** What each NAT operation (PKT_NAT_OPS bit) did to a packet, for the table. */
const NAT_LABELS: Record<string, string> = {
  DNAT: "destination rewritten (DNAT, un-SNAT)",
  SNAT: "source rewritten (SNAT, un-DNAT)",
  BIND_DST: "NAT bindings made: destination",
  BIND_SRC: "NAT bindings made: source",
  ICMP_INNER: "ICMP error quotes rewritten",
};

export interface PathsOptions {
  node: NodeSpec;
  traffic: TrafficSpec;
  /** The engines' seed (NAT ports, kube-proxy's random endpoint choice). */
  seed: number;
  /** Runs of each variant (timing: the median); default 3. */
  rounds?: number;
  batch?: number;
  jit?: boolean;
  warn?: (m: string) => void;
}

/** What one path did with the traffic (every number but the timing is the same in every round). */
export interface PathResult {
  path: PathName;
  title: string;
  /** The flows the NLB sent this way, and every flow of the run. */
  nlbFlows: number;
  flows: number;
  /** Flows cut short because the node dropped one of their packets. */
  abortedFlows: number;
  packets: number;
  bytes: number;
  /** The node's processing of the first `timedPackets` packets (all, up to TIMED_PACKETS_MAX) in full batches: median over the rounds, and every round's. */
  timedPackets: number;
  engineSeconds: number;
  roundSeconds: number[];
  packetsPerSecond: number;
  nsPerPacket: number;
  rulesTraversedPerPacket: number;
  verdicts: { forward: number; local: number; drop: number };
  drops: Record<string, number>;
  /**
   * Packets per NAT operation (PKT_NAT_OPS): DNAT and SNAT, the destination
   * or source address rewritten (either direction: a reply's un-SNAT is a
   * destination rewrite); BIND_DST, BIND_SRC, the packet made the
   * connection's binding (walked the nat table); ICMP_INNER, an ICMP error's
   * quote rewritten.
   */
  nat: Record<string, number>;
  conntrack: {
    entries: number;
    insert: number;
    insertFailed: number;
    drop: number;
    earlyDrop: number;
    /** Entries at the end whose source was translated (SNAT, MASQUERADE). */
    snatEntries: number;
    /** Distinct destinations (protocol, address, port) of those, and the most translated source ports in use toward one of them. */
    snatDestinations: number;
    snatPortsMaxPerDestination: number;
    snatBusiestDestination: string | null;
  };
  forwardedByInterface: Record<string, number>;
  nodeReplies: number;
}

export interface PathsReport {
  nodeplane: "paths";
  node: string;
  traffic: string;
  seed: number;
  trafficSeed: number;
  rounds: number;
  /** The NLB share of the spec's flows (nodeport + pod-ip weights over all weights). */
  nlbShare: number;
  /** Where the IP target path's TCP connections come from: the clients (client IP preservation on), or the NLB's addresses (spec `nlb`). */
  ipTargetSource: string;
  paths: PathResult[];
}

/** The spec with its NLB share moved to one direction (the other NLB direction gets 0). */
export function specForPath(t: TrafficSpec, path: PathName): TrafficSpec {
  const w = t.directions ? { ...t.directions } : undefined;
  if (!w) throw new Error(`${t.file}: the traffic spec has no \`directions\`: give the NLB traffic's weights (nodeport and/or pod-ip)`);
  const nlb = (w.nodeport ?? 0) + (w["pod-ip"] ?? 0);
  if (!(nlb > 0)) throw new Error(`${t.file}: the traffic spec sends no NLB traffic: give \`directions\` a weight for nodeport or pod-ip`);
  w.nodeport = 0;
  w["pod-ip"] = 0;
  w[PATH_DIRECTION[path]] = nlb;
  return { ...t, directions: w };
}

/** One path's closed-loop run: its counts, and the input descriptors kept for timing. */
export interface RoundResult { collector: CollectorData; stats: TrafficStats; engine: Engine; inputs: Uint8Array; packets: number }

/** Packets whose descriptors are kept for the timed runs (256 bytes each). */
export const TIMED_PACKETS_MAX = 1 << 20;

/** A fresh engine with the node loaded, its summary collector and the loop that feeds it. */
export async function freshEngine(o: PathsOptions): Promise<{ engine: Engine; col: Collector; runner: EngineRunner; sink: SegmentSink }> {
  const { engine } = await loadEngine(o.node, { seed: o.seed, batch: o.batch ?? 1024, warn: o.warn, jit: o.jit });
  const col = new Collector(engine);
  const sink: SegmentSink = { segment(_dv, base, k0, k1, replyBase) { col.collect(base, k0, k1, replyBase); } };
  return { engine, col, runner: new EngineRunner(engine, o.seed), sink };
}

/**
 * The closed-loop run of a spec on a fresh engine (the generator answers
 * what left the node), keeping the first TIMED_PACKETS_MAX input
 * descriptors as the generator wrote them.
 */
export async function runClosedLoop(o: PathsOptions, spec: TrafficSpec): Promise<RoundResult> {
  const { engine, col, runner, sink } = await freshEngine(o);
  const gen = createGenerator(spec, engine);
  const kept: Uint8Array[] = [];
  let keptPackets = 0;
  let next = 0;
  for (;;) {
    const { ptr, capacity } = engine.batchBuffer;
    const n = gen.fill(engine.mem.dv, ptr, capacity);
    if (n === 0) break;
    if (keptPackets < TIMED_PACKETS_MAX) {
      const k = Math.min(n, TIMED_PACKETS_MAX - keptPackets);
      kept.push(engine.mem.u8.slice(ptr, ptr + k * abi.PKT_SIZE));
      keptPackets += k;
    }
    runner.run(n, next, sink);
    next += n;
    gen.feedback(engine.mem.dv, ptr, n);
  }
  const inputs = new Uint8Array(keptPackets * abi.PKT_SIZE);
  let at = 0;
  for (const b of kept) { inputs.set(b, at); at += b.length; }
  return { collector: col.read(), stats: gen.stats(), engine, inputs, packets: next };
}

/**
 * Processes recorded input descriptors through an engine in full batches
 * (input indexes from 0, as the closed loop numbered them); with `timed`,
 * returns the nanoseconds spent in the engine's calls (0n otherwise).
 */
export function processRecorded(e: { engine: Engine; runner: EngineRunner; sink: SegmentSink }, inputs: Uint8Array, timed = false): bigint {
  const { engine, runner, sink } = e;
  const total = inputs.length / abi.PKT_SIZE;
  let ns = 0n;
  for (let first = 0; first < total;) {
    const { ptr, capacity } = engine.batchBuffer;
    const n = Math.min(capacity, total - first);
    engine.mem.refresh();
    engine.mem.u8.set(inputs.subarray(first * abi.PKT_SIZE, (first + n) * abi.PKT_SIZE), ptr);
    const t0 = timed ? process.hrtime.bigint() : 0n;
    runner.run(n, first, sink);
    if (timed) ns += process.hrtime.bigint() - t0;
    first += n;
  }
  return ns;
}

/**
 * The node's time for the recorded descriptors: a fresh engine processes
 * them in full batches (the closed loop's fills are short: a fill waits for
 * the answers to what the node just did), and only the engine's calls are
 * timed. With every packet recorded, the results must be the closed loop's.
 */
async function timeRecorded(o: PathsOptions, r: RoundResult, what: string): Promise<number> {
  const { engine, col, runner, sink } = await freshEngine(o);
  const total = r.inputs.length / abi.PKT_SIZE;
  const ns = processRecorded({ engine, runner, sink }, r.inputs, true);
  if (total === r.packets && JSON.stringify(col.read()) !== JSON.stringify(r.collector)) {
    throw new Error(`internal error: the ${what} path's packets replayed in full batches gave other results than the closed loop (the engine must not depend on batch boundaries)`);
  }
  col.free();
  return Number(ns) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** SNAT port use from the connection table at the end of a run. */
function snatUse(engine: Engine): Pick<PathResult["conntrack"], "snatEntries" | "snatDestinations" | "snatPortsMaxPerDestination" | "snatBusiestDestination"> {
  const byDest = new Map<string, number>();
  let snat = 0;
  for (const e of engine.conntrack()) {
    if ((e.status & abi.IPS_SRC_NAT) === 0) continue;
    snat++;
    // nf_nat keeps reply tuples unique: ports are spent per (protocol, destination address and port, translated address)
    const k = `${e.proto === 6 ? "tcp" : e.proto === 17 ? "udp" : e.proto === 1 ? "icmp" : `proto ${e.proto}`} ${formatIPv4(e.reply.src)}:${e.reply.sport} from ${formatIPv4(e.reply.dst)}`;
    byDest.set(k, (byDest.get(k) ?? 0) + 1);
  }
  let busiest: string | null = null, max = 0;
  for (const [k, n] of [...byDest.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) if (n > max) { max = n; busiest = k; }
  return { snatEntries: snat, snatDestinations: byDest.size, snatPortsMaxPerDestination: max, snatBusiestDestination: busiest };
}

function pathResult(path: PathName, r: RoundResult, seconds: number[]): PathResult {
  const c = r.collector;
  const engineSeconds = median(seconds);
  const timed = r.inputs.length / abi.PKT_SIZE;
  const drops = Object.fromEntries(dropCounts(c));
  const nat = natCounts(c);
  const fwd = Object.fromEntries(egressCounts(c, r.engine.node.devBySlot.map((l) => l?.name)).map(([k, n]) => [k, n]));
  const ct = r.engine.ruleset?.compiled.conntrack ? r.engine.conntrackStats() : undefined;
  return {
    path, title: PATH_TITLES[path],
    nlbFlows: r.stats.flows.byDirection[PATH_DIRECTION[path]],
    flows: r.stats.flows.started,
    abortedFlows: r.stats.flows.aborted,
    packets: c.packets,
    bytes: c.bytes,
    engineSeconds,
    roundSeconds: seconds,
    timedPackets: timed,
    packetsPerSecond: engineSeconds > 0 ? timed / engineSeconds : 0,
    nsPerPacket: timed ? (engineSeconds * 1e9) / timed : 0,
    rulesTraversedPerPacket: c.packets ? c.rulesTraversed / c.packets : 0,
    verdicts: { forward: c.verdicts[abi.VERDICT_FORWARD] ?? 0, local: c.verdicts[abi.VERDICT_LOCAL] ?? 0, drop: c.verdicts[abi.VERDICT_DROP] ?? 0 },
    drops, nat,
    conntrack: {
      entries: ct?.count ?? 0, insert: ct?.insert ?? 0, insertFailed: ct?.insert_failed ?? 0, drop: ct?.drop ?? 0, earlyDrop: ct?.early_drop ?? 0,
      ...snatUse(r.engine),
    },
    forwardedByInterface: fwd,
    nodeReplies: c.replies,
  };
}

/** Runs the two paths, then times them (alternating rounds), and compares them. */
export async function comparePaths(o: PathsOptions): Promise<PathsReport> {
  const rounds = o.rounds ?? 3;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be a positive integer, got ${rounds}`);
  const paths: PathName[] = ["instance", "ip"];
  const runs: RoundResult[] = [];
  for (const p of paths) runs.push(await runClosedLoop(o, specForPath(o.traffic, p)));
  const seconds: number[][] = paths.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < paths.length; i++) seconds[i]!.push(await timeRecorded(o, runs[i]!, PATH_TITLES[paths[i]!]));
  }
  const w = o.traffic.directions!;
  const total = Object.values(w).reduce((s, x) => s + (x ?? 0), 0);
  return {
    nodeplane: "paths",
    node: runs[0]!.engine.node.snapshot.origin,
    traffic: o.traffic.file,
    seed: o.seed,
    trafficSeed: o.traffic.seed,
    rounds,
    nlbShare: total > 0 ? ((w.nodeport ?? 0) + (w["pod-ip"] ?? 0)) / total : 0,
    ipTargetSource: o.traffic.nlb && !o.traffic.nlb.preserveClientIp
      ? `the NLB's ${o.traffic.nlb.ips.join(", ")} (client IP preservation off)`
      : "the clients' own addresses (client IP preservation on)",
    paths: paths.map((p, i) => pathResult(p, runs[i]!, seconds[i]!)),
  };
}

// ---- the terminal table --------------------------------------------------------

function int(n: number): string { return Math.round(n).toLocaleString("en-US"); }
function rate(n: number): string { return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0); }
function perPacket(n: number, packets: number): string { return packets ? (n / packets).toFixed(3) : "0"; }

/** Side-by-side table of a PathsReport (the timing rows vary between runs; every other row is deterministic). */
export function formatPathsTable(r: PathsReport, opts: { compact?: boolean } = {}): string {
  const [a, b] = r.paths as [PathResult, PathResult];
  const rows: [string, string, string][] = [];
  const row = (label: string, f: (p: PathResult) => string) => rows.push([label, f(a), f(b)]);
  row("NLB flows", (p) => int(p.nlbFlows));
  if (r.nlbShare < 1) row("all flows (with background)", (p) => int(p.flows));
  row("flows cut short by a drop", (p) => int(p.abortedFlows));
  row("packets through the node", (p) => int(p.packets));
  row("node time per packet", (p) => `${p.nsPerPacket.toFixed(0)} ns`);
  row("packets/s (node time, median)", (p) => `${rate(p.packetsPerSecond)}`);
  row("rules traversed per packet", (p) => p.rulesTraversedPerPacket.toFixed(2));
  row("forwarded / local / dropped", (p) => `${int(p.verdicts.forward)} / ${int(p.verdicts.local)} / ${int(p.verdicts.drop)}`);
  const dropNames = [...new Set([...Object.keys(a.drops), ...Object.keys(b.drops)])].sort();
  for (const k of dropNames) row(`  dropped: ${k}`, (p) => int(p.drops[k] ?? 0));
  const natNames = NAT_NAMES.filter((k) => a.nat[k] || b.nat[k]);
  for (const k of natNames) row(`${NAT_LABELS[k]} (per packet)`, (p) => `${int(p.nat[k] ?? 0)} (${perPacket(p.nat[k] ?? 0, p.packets)})`);
  row("conntrack entries at the end", (p) => int(p.conntrack.entries));
  if (!opts.compact) {
    row("conntrack insert / insert_failed", (p) => `${int(p.conntrack.insert)} / ${int(p.conntrack.insertFailed)}`);
    row("conntrack drop / early_drop", (p) => `${int(p.conntrack.drop)} / ${int(p.conntrack.earlyDrop)}`);
  }
  row("SNATed connections at the end", (p) => int(p.conntrack.snatEntries));
  row("SNAT ports toward the busiest destination", (p) => int(p.conntrack.snatPortsMaxPerDestination));
  row("packets the node sent itself", (p) => int(p.nodeReplies));
  const ifs = [...new Set([...Object.keys(a.forwardedByInterface), ...Object.keys(b.forwardedByInterface)])];
  ifs.sort((x, y) => ((b.forwardedByInterface[y] ?? 0) + (a.forwardedByInterface[y] ?? 0)) - ((b.forwardedByInterface[x] ?? 0) + (a.forwardedByInterface[x] ?? 0)) || (x < y ? -1 : 1));
  const shown = opts.compact ? 2 : 8;
  for (const k of ifs.slice(0, shown)) row(`  forwarded via ${k}`, (p) => int(p.forwardedByInterface[k] ?? 0));
  if (ifs.length > shown) row(`  forwarded via ${ifs.length - shown} other devices`, (p) => int(ifs.slice(shown).reduce((s, k) => s + (p.forwardedByInterface[k] ?? 0), 0)));
  const w0 = Math.max(...rows.map((x) => x[0].length), 6);
  const w1 = Math.max(...rows.map((x) => x[1].length), a.title.length);
  const w2 = Math.max(...rows.map((x) => x[2].length), b.title.length);
  const line = (x: string, y: string, z: string) => `${x.padEnd(w0)}  ${y.padStart(w1)}  ${z.padStart(w2)}`;
  const out = [
    `nodeplane paths: ${r.node}`,
    `  traffic: ${r.traffic} (seed ${r.trafficSeed}); NLB share ${(r.nlbShare * 100).toFixed(0)}% of flows, the same flows through each path`,
    `  IP targets' TCP connections come from ${r.ipTargetSource}; instance targets keep the client's`,
    `  engine seed ${r.seed}; node time: median of ${r.rounds} alternating rounds per path` +
      (r.paths.some((p) => p.timedPackets < p.packets) ? `, over the first ${int(Math.min(...r.paths.map((p) => p.timedPackets)))} packets of each` : ""),
    "",
    line("", a.title, b.title),
    ...rows.map(([x, y, z]) => line(x, y, z)),
  ];
  if (a.conntrack.snatBusiestDestination) out.push("", `busiest SNAT destination (${a.title}): ${a.conntrack.snatBusiestDestination}`);
  if (b.conntrack.snatBusiestDestination) out.push(`busiest SNAT destination (${b.title}): ${b.conntrack.snatBusiestDestination}`);
  return out.join("\n");
}
