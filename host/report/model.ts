/**
 * The replay summary (`summary.json`): one object with a fixed key order,
 * deterministic for the same inputs and seed, except the `timing` key,
 * which holds everything about how fast and how (workers) the run went.
 *
 * Built from the merged counters of every engine (collect.ts), the top
 * talkers of the input (talkers.ts), and the engines' own counters (rule
 * counters, conntrack -S, SNMP counters) summed over workers.
 */
import * as abi from "../core/abi.js";
import { DROP_NAMES, DROP_TEXT } from "../packet/result.js";
import { formatIPv4 } from "../util/ipv4.js";
import type { CollectorData } from "./collect.js";
import type { TopTalkers } from "./talkers.js";
import type { LoadedRuleset } from "../netfilter/runtime.js";

/** What each engine reports at the end (summed over workers). */
export interface EngineTotals {
  /** Per rule entry id: packets and bytes. */
  rulePackets: number[];
  ruleBytes: number[];
  /** conntrack -S counters and `count` (entries in the table). */
  conntrack: Record<string, number> | undefined;
  /** SNMP counters by nstat name. */
  counters: Record<string, number>;
  /**
   * What became of a capture's IPv4 fragments when the node runs conntrack
   * (host/packet/defrag.ts outcome(): reassembled, dropped by reason, still
   * queued at the end); set by the replay from its source, not per engine.
   */
  fragments?: Record<string, number>;
}

export function mergeTotals(a: EngineTotals, b: EngineTotals): void {
  for (let i = 0; i < b.rulePackets.length; i++) {
    a.rulePackets[i] = (a.rulePackets[i] ?? 0) + b.rulePackets[i]!;
    a.ruleBytes[i] = (a.ruleBytes[i] ?? 0) + b.ruleBytes[i]!;
  }
  if (b.conntrack) {
    a.conntrack ??= {};
    for (const [k, v] of Object.entries(b.conntrack)) a.conntrack[k] = (a.conntrack[k] ?? 0) + v;
  }
  for (const [k, v] of Object.entries(b.counters)) a.counters[k] = (a.counters[k] ?? 0) + v;
}

export interface InputInfo {
  kind: string;
  file: string;
  /** Frames or lines skipped, by why. */
  skipped: Record<string, number>;
  /** Facts about replayed packets the results do not show (PacketSource.notes). */
  notes?: Record<string, number>;
  /** A capture's frames replayed as the node's own sends (PacketSource.nodeSends). */
  nodeSends?: number;
  /** A capture's forwarded copies paired with their originals (PacketSource.copiesPaired). */
  copiesPaired?: number;
  /** Its forwarded copies left unpaired (pairing on and copies in the capture; else undefined). */
  copiesUnpaired?: number;
  /** The input error that ended the replay early (everything before it was replayed). */
  error?: { message: string; offset?: number; frame?: number; line?: number };
}

export interface SummaryContext {
  node: { origin: string; devices: (string | undefined)[] };
  ruleset?: LoadedRuleset;
  input: InputInfo;
  collector: CollectorData;
  totals: EngineTotals;
  bySource: TopTalkers;
  byDestination: TopTalkers;
  seed: number;
  outputs: Record<string, string>;
  timing: { seconds: number; workers: number; engineSeconds?: number; barriers?: number };
}

const CT_NAMES: [number[], string][] = [
  [[abi.CTINFO_NEW], "NEW"], [[abi.CTINFO_ESTABLISHED, abi.CTINFO_ESTABLISHED_REPLY], "ESTABLISHED"],
  [[abi.CTINFO_RELATED, abi.CTINFO_RELATED_REPLY], "RELATED"], [[abi.CTINFO_UNTRACKED], "UNTRACKED"], [[abi.CTINFO_NONE], "INVALID"],
];
/** Names of the NAT_OP_* bits (bit index 0..4), as the summary and `paths` print them. */
export const NAT_NAMES = ["DNAT", "SNAT", "BIND_DST", "BIND_SRC", "ICMP_INNER"];

function sortedCounts(m: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) out[k] = v;
  return out;
}

/** Most first, then by name. */
function byCount(a: [string, number, ...number[]], b: [string, number, ...number[]]): number { return b[1] - a[1] || (a[0] < b[0] ? -1 : 1); }

/** The collector's dropped packets by reason name (DROP_NAMES), most first; reasons with none left out. */
export function dropCounts(col: CollectorData): [string, number][] {
  return col.drops.map((n, i) => [DROP_NAMES[i] ?? String(i), n] as [string, number]).filter(([, n]) => n > 0).sort(byCount);
}

/** Forwarded packets and bytes by egress device (`devices`: names by slot), most packets first. */
export function egressCounts(col: CollectorData, devices: readonly (string | undefined)[]): [string, number, number][] {
  return col.oifPackets.map((n, slot) => [devices[slot] ?? `slot ${slot}`, n ?? 0, col.oifBytes[slot] ?? 0] as [string, number, number])
    .filter(([, n]) => n > 0).sort(byCount);
}

/** Packets by NAT operation (NAT_NAMES), those with none left out. */
export function natCounts(col: CollectorData): Record<string, number> {
  const nat: Record<string, number> = {};
  NAT_NAMES.forEach((k, b) => { if (col.natOps[b]) nat[k] = col.natOps[b]!; });
  return nat;
}

/**
 * The replayed packets whose forwarded copy the capture holds (paired by the
 * capture decoders: abi.ts PKT_SEEN_*), by how each left here against its
 * copy, which is what the kernel did: `agree` (forwarded by the copy's
 * device with its header, translation included), `dropped` or `local`
 * here, `other_device`, `other_header` (translated otherwise).
 */
export function seenCounts(col: CollectorData): { packets: number; agree: number; dropped: number; local: number; other_device: number; other_header: number } {
  const s = col.seen;
  return {
    packets: s[0] ?? 0, agree: s[abi.SEEN_AGREE] ?? 0, dropped: s[abi.SEEN_DROPPED] ?? 0, local: s[abi.SEEN_LOCAL] ?? 0,
    other_device: s[abi.SEEN_OTHER_DEVICE] ?? 0, other_header: s[abi.SEEN_OTHER_HEADER] ?? 0,
  };
}

export type Summary = ReturnType<typeof buildSummary>;

export function buildSummary(c: SummaryContext) {
  const col = c.collector;
  const verdicts = { forward: col.verdicts[abi.VERDICT_FORWARD] ?? 0, local: col.verdicts[abi.VERDICT_LOCAL] ?? 0, drop: col.verdicts[abi.VERDICT_DROP] ?? 0 };
  const drops: Record<string, { packets: number; why: string }> = {};
  for (const [k, n] of dropCounts(col)) drops[k] = { packets: n, why: DROP_TEXT[k] ?? "" };
  const egress: Record<string, { packets: number; bytes: number }> = {};
  for (const [k, n, b] of egressCounts(col, c.node.devices)) egress[k] = { packets: n, bytes: b };
  const nat = natCounts(col);
  const rs = c.ruleset;
  const ctStates: Record<string, number> = {};
  if (rs?.compiled.conntrack) for (const [codes, name] of CT_NAMES) {
    const n = codes.reduce((s, x) => s + (col.ctinfo[x] ?? 0), 0);
    if (n) ctStates[name] = n;
  }
  const topRules = rs ? c.totals.rulePackets
    .map((n, id) => ({ id, n: n ?? 0 }))
    .filter((x) => x.n > 0 && rs.entry(x.id)?.kind === "rule")
    .sort((a, b) => b.n - a.n || a.id - b.id)
    .slice(0, 20)
    .map((x) => ({ packets: x.n, bytes: c.totals.ruleBytes[x.id] ?? 0, rule: rs.entryText(x.id) })) : [];
  const ct = c.totals.conntrack;
  const talkers = (t: TopTalkers) => t.top(20).map((x) => ({ addr: formatIPv4(x.addr), packets: x.packets, bytes: x.bytes }));
  const counters: Record<string, number> = {};
  for (const [k, v] of Object.entries(c.totals.counters)) if (v) counters[k] = v;
  const notes = c.input.notes ?? {};
  const nodeSends = c.input.nodeSends ?? 0;
  const copiesPaired = c.input.copiesPaired ?? 0;
  const pps = c.timing.seconds > 0 ? Math.round(col.packets / c.timing.seconds) : 0;
  return {
    nodeplane: "replay summary",
    node: c.node.origin,
    seed: c.seed,
    input: {
      kind: c.input.kind,
      file: c.input.file,
      packets: col.packets,
      bytes: col.bytes,
      // of the packets, a capture's frames the node's own processes sent, replayed as local sends (host/pcap/node-sends.ts)
      ...(nodeSends ? { node_sends: nodeSends } : {}),
      // of the packets, those whose forwarded copy in the capture was paired with them (host/pcap/copies.ts)
      ...(copiesPaired ? { forwarded_copies_paired: copiesPaired } : {}),
      // of the forwarded copies skipped, those no original was found for (host/pcap/copies.ts: what stays unpaired)
      ...(c.input.copiesUnpaired !== undefined ? { forwarded_copies_unpaired: c.input.copiesUnpaired } : {}),
      skipped: sortedCounts(c.input.skipped),
      ...(Object.keys(notes).length ? { notes: sortedCounts(notes) } : {}),
      ...(c.totals.fragments ? { fragments: c.totals.fragments } : {}),
      error: c.input.error ?? null,
    },
    // packets whose forwarded copy the capture holds (tcpdump -i any), against what the kernel did with them
    ...(col.seen[0] ? { capture_copies: seenCounts(col) } : {}),
    verdicts,
    forwarded_by_interface: egress,
    drops,
    node_replies: { packets: col.replies, by_kind: sortedCounts(col.replyKinds), sent: col.replyVerdicts[abi.VERDICT_FORWARD] ?? 0, dropped: col.replyVerdicts[abi.VERDICT_DROP] ?? 0 },
    local_out: col.localOut,
    nat,
    iptables: rs ? {
      rules: rs.stats.rules,
      chains: rs.stats.chains,
      rules_traversed_per_packet: col.packets ? Math.round((col.rulesTraversed / col.packets) * 100) / 100 : 0,
      // the tables x hooks whose walks ran compiled (host/netfilter/jit/; empty with --no-jit)
      compiled_walks: "walks" in rs.stats.jit ? rs.stats.jit.walks : [],
      top_rules: topRules,
    } : null,
    conntrack: rs?.compiled.conntrack && ct ? {
      states: ctStates,
      entries: ct.count ?? 0,
      stats: {
        found: ct.found ?? 0, invalid: ct.invalid ?? 0, insert: ct.insert ?? 0, insert_failed: ct.insert_failed ?? 0,
        drop: ct.drop ?? 0, early_drop: ct.early_drop ?? 0, error: ct.error ?? 0, search_restart: ct.search_restart ?? 0,
        clash_resolve: ct.clash_resolve ?? 0, chaintoolong: ct.chaintoolong ?? 0,
      },
    } : null,
    counters,
    top_talkers: {
      algorithm: "Misra-Gries summary, 2048 counters per direction, in input order (counts are lower bounds; error_bound is the most any is below the truth)",
      by_source: talkers(c.bySource),
      by_source_error_bound: c.bySource.errorBound,
      by_destination: talkers(c.byDestination),
      by_destination_error_bound: c.byDestination.errorBound,
    },
    outputs: c.outputs,
    timing: {
      seconds: Math.round(c.timing.seconds * 1000) / 1000,
      packets_per_second: pps,
      workers: c.timing.workers,
      ...(c.timing.barriers !== undefined ? { barriers: c.timing.barriers } : {}),
    },
  };
}
