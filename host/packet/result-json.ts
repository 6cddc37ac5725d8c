/**
 * The replay output format as text: `resultJson(r)` is, byte for byte,
 * `JSON.stringify(r)` for a PacketResult that decodePacket (result.ts)
 * built, about three times faster. JSON.stringify costs ~3 µs for a typical
 * 1.2 kB result (it escapes the same rule texts, `ip rule` and `ip route`
 * lines again for every packet); here the keys are written in decodePacket's
 * insertion order, addresses and numbers as they are, and every other string
 * through a cache of its escaped form (rule texts, device names and state
 * names repeat from packet to packet).
 *
 * decodePacket / decodeReply / decodeNf stay the one definition of what a
 * result holds. The key lists below must name every key of PacketResult,
 * ReplyResult, CtEntry and InnerHeader (the compiler checks it), and
 * test/engine/result-json.test.ts checks the text against JSON.stringify over
 * traffic that exercises every key.
 */
import type { CtEntry, CtTuple, InnerHeader, PacketResult, ReplyResult, SeenCopy } from "./result.js";

/** Escaped forms of strings seen before (their set is bounded by the ruleset, the snapshot and the name tables). */
const escaped = new Map<string, string>();

/** `JSON.stringify(s)` through the cache. */
function str(s: string): string {
  let e = escaped.get(s);
  if (e === undefined) {
    e = JSON.stringify(s);
    if (escaped.size < 1 << 16) escaped.set(s, e);
  }
  return e;
}

function strs(a: string[]): string {
  let s = "[";
  for (let i = 0; i < a.length; i++) s += (i === 0 ? "" : ",") + str(a[i]!);
  return s + "]";
}

/** A number as JSON.stringify writes it. */
function num(n: number): string {
  return Number.isFinite(n) ? "" + n : "null";
}

/** Keys every serializer below writes, in decodePacket's insertion order (checked against the types). */
export const PACKET_KEYS = [
  "i", "verdict", "reason", "oif", "nexthop", "src", "dst", "sport", "dport", "icmp_id", "inner", "ttl", "tos", "mss", "len", "frags", "redirect",
  "loopback", "socket", "seen", "ip_rule", "ip_route", "rules", "rules_traversed", "trace", "trace_truncated", "nf_verdict", "nf_hook", "nat", "ct", "ct_dir",
  "ct_entry", "replies",
] as const;
export const REPLY_KEYS = [
  "kind", "verdict", "reason", "oif", "nexthop", "src", "dst", "ttl", "icmp_type", "icmp_code", "gateway", "mtu", "inner",
  "sport", "dport", "flags", "seq", "ack", "len", "rules", "rules_traversed", "trace", "trace_truncated", "nf_verdict", "nf_hook",
  "nat", "ct", "ct_dir", "ct_entry",
] as const;
export const CT_ENTRY_KEYS = ["proto", "timeout", "orig", "reply", "status", "mark", "table", "state"] as const;
export const CT_TUPLE_KEYS = ["src", "dst", "type", "code", "id", "sport", "dport"] as const;
export const INNER_KEYS = ["src", "dst", "proto", "sport", "dport", "icmp_type", "icmp_id"] as const;
export const SEEN_KEYS = ["oif", "src", "dst", "sport", "dport", "result"] as const;

// a key added to a result type but not to its list (and so not to its serializer) fails to compile here
type Covers<T, K extends readonly (keyof T)[]> = [Exclude<keyof T, K[number]>] extends [never] ? true : false;
const covered: [
  Covers<PacketResult, typeof PACKET_KEYS>, Covers<ReplyResult, typeof REPLY_KEYS>, Covers<CtEntry, typeof CT_ENTRY_KEYS>,
  Covers<CtTuple, typeof CT_TUPLE_KEYS>, Covers<InnerHeader, typeof INNER_KEYS>, Covers<SeenCopy, typeof SEEN_KEYS>,
] = [true, true, true, true, true, true];
void covered;

function tuple(t: CtTuple): string {
  // ctTuple: addresses, then ICMP's type/code/id or the ports
  let s = `{"src":"${t.src}","dst":"${t.dst}"`;
  if (t.type !== undefined) s += `,"type":${t.type}`;
  if (t.code !== undefined) s += `,"code":${t.code}`;
  if (t.id !== undefined) s += `,"id":${t.id}`;
  if (t.sport !== undefined) s += `,"sport":${t.sport}`;
  if (t.dport !== undefined) s += `,"dport":${t.dport}`;
  return s + "}";
}

function ctEntry(e: CtEntry): string {
  let s = `{"proto":${str(e.proto)},"timeout":${num(e.timeout)},"orig":${tuple(e.orig)},"reply":${tuple(e.reply)},"status":${strs(e.status)},"mark":${num(e.mark)},"table":${str(e.table)}`;
  if (e.state !== undefined) s += `,"state":${str(e.state)}`;
  return s + "}";
}

function inner(h: InnerHeader): string {
  let s = `{"src":"${h.src}","dst":"${h.dst}","proto":${str(h.proto)}`;
  if (h.sport !== undefined) s += `,"sport":${h.sport}`;
  if (h.dport !== undefined) s += `,"dport":${h.dport}`;
  if (h.icmp_type !== undefined) s += `,"icmp_type":${h.icmp_type}`;
  if (h.icmp_id !== undefined) s += `,"icmp_id":${h.icmp_id}`;
  return s + "}";
}

/** The netfilter and conntrack keys decodeNf adds, shared by packets and replies. */
function nfKeys(r: PacketResult | ReplyResult): string {
  let s = "";
  if (r.rules !== undefined) s += `,"rules":${strs(r.rules)}`;
  if (r.rules_traversed !== undefined) s += `,"rules_traversed":${num(r.rules_traversed)}`;
  if (r.trace !== undefined) s += `,"trace":${strs(r.trace)}`;
  if (r.trace_truncated !== undefined) s += `,"trace_truncated":${r.trace_truncated}`;
  if (r.nf_verdict !== undefined) s += `,"nf_verdict":${str(r.nf_verdict)}`;
  if (r.nf_hook !== undefined) s += `,"nf_hook":${str(r.nf_hook)}`;
  if (r.nat !== undefined) s += `,"nat":${strs(r.nat)}`;
  if (r.ct !== undefined) s += `,"ct":${str(r.ct)}`;
  if (r.ct_dir !== undefined) s += `,"ct_dir":${str(r.ct_dir)}`;
  if (r.ct_entry !== undefined) s += `,"ct_entry":${ctEntry(r.ct_entry)}`;
  return s;
}

/** `JSON.stringify(q)` for a reply decodeReply built. */
export function replyJson(q: ReplyResult): string {
  let s = `{"kind":${str(q.kind)},"verdict":${str(q.verdict)}`;
  if (q.reason !== undefined) s += `,"reason":${str(q.reason)}`;
  if (q.oif !== undefined) s += `,"oif":${str(q.oif)}`;
  if (q.nexthop !== undefined) s += `,"nexthop":"${q.nexthop}"`;
  s += `,"src":"${q.src}","dst":"${q.dst}","ttl":${num(q.ttl)}`;
  if (q.icmp_type !== undefined) s += `,"icmp_type":${q.icmp_type}`;
  if (q.icmp_code !== undefined) s += `,"icmp_code":${q.icmp_code}`;
  if (q.gateway !== undefined) s += `,"gateway":"${q.gateway}"`;
  if (q.mtu !== undefined) s += `,"mtu":${num(q.mtu)}`;
  if (q.inner !== undefined) s += `,"inner":${inner(q.inner)}`;
  if (q.sport !== undefined) s += `,"sport":${q.sport}`;
  if (q.dport !== undefined) s += `,"dport":${q.dport}`;
  if (q.flags !== undefined) s += `,"flags":${str(q.flags)}`;
  if (q.seq !== undefined) s += `,"seq":${num(q.seq)}`;
  if (q.ack !== undefined) s += `,"ack":${num(q.ack)}`;
  s += `,"len":${num(q.len)}`;
  return s + nfKeys(q) + "}";
}

/** `JSON.stringify(r)` for a result decodePacket built. */
export function resultJson(r: PacketResult): string {
  let s = `{"i":${num(r.i)},"verdict":${str(r.verdict)}`;
  if (r.reason !== undefined) s += `,"reason":${str(r.reason)}`;
  if (r.oif !== undefined) s += `,"oif":${str(r.oif)}`;
  if (r.nexthop !== undefined) s += `,"nexthop":"${r.nexthop}"`;
  s += `,"src":"${r.src}","dst":"${r.dst}"`;
  if (r.sport !== undefined) s += `,"sport":${r.sport}`;
  if (r.dport !== undefined) s += `,"dport":${r.dport}`;
  if (r.icmp_id !== undefined) s += `,"icmp_id":${r.icmp_id}`;
  if (r.inner !== undefined) s += `,"inner":${inner(r.inner)}`;
  s += `,"ttl":${num(r.ttl)}`;
  if (r.tos !== undefined) s += `,"tos":${r.tos}`;
  if (r.mss !== undefined) s += `,"mss":${r.mss}`;
  if (r.len !== undefined) s += `,"len":${r.len}`;
  if (r.frags !== undefined) s += `,"frags":${r.frags}`;
  if (r.redirect !== undefined) s += `,"redirect":${r.redirect}`;
  if (r.loopback !== undefined) s += `,"loopback":${str(r.loopback)}`;
  if (r.socket !== undefined) s += `,"socket":${str(r.socket)}`;
  if (r.seen !== undefined) {
    const c = r.seen;
    s += `,"seen":{` + (c.oif !== undefined ? `"oif":${str(c.oif)},` : "") + `"src":"${c.src}","dst":"${c.dst}","sport":${c.sport},"dport":${c.dport},"result":${str(c.result)}}`;
  }
  if (r.ip_rule !== undefined) s += `,"ip_rule":${str(r.ip_rule)}`;
  if (r.ip_route !== undefined) s += `,"ip_route":${str(r.ip_route)}`;
  s += nfKeys(r) + `,"replies":[`;
  const rep = r.replies;
  for (let k = 0; k < rep.length; k++) s += (k === 0 ? "" : ",") + replyJson(rep[k]!);
  return s + "]}";
}
