/**
 * The replay output format: one JSON object per input packet, built from the
 * descriptor's output fields. Key order is fixed so output is byte-for-byte
 * reproducible. Later issues add NAT, conntrack and rule-trace fields.
 */
import * as abi from "../core/abi.js";
import { formatIPv4 } from "../util/ipv4.js";
import type { LoadedNode } from "../node/compile.js";
import { tcpFlagsToLetters } from "./input.js";
import { traceText, HOOK_NAMES, type LoadedRuleset } from "../netfilter/runtime.js";

/** Drop reason number -> name (the DROP_* constant without its prefix). */
export const DROP_NAMES: string[] = (() => {
  const names: string[] = [];
  for (const [k, v] of Object.entries(abi)) {
    if (k.startsWith("DROP_") && k !== "DROP_MAX" && typeof v === "number") names[v] = k.slice(5);
  }
  return names;
})();

/** Human explanations of drop reasons, for summaries. */
export const DROP_TEXT: Record<string, string> = {
  IP_INVALID_SOURCE: "martian source (multicast, broadcast or 0.0.0.0)",
  IP_INVALID_DEST: "martian destination (0.0.0.0, or a route type that cannot be forwarded)",
  IP_LOCALNET: "127.0.0.0/8 on a non-loopback device without route_localnet",
  IP_RPFILTER: "reverse-path filter (rp_filter)",
  IP_LOCAL_SOURCE: "source address is the node's own",
  IP_INADDRERRORS: "no route to host (unreachable route, or forwarding disabled)",
  IP_INNOROUTES: "network unreachable (no route)",
  IP_INHDR: "IP header error (TTL expired in transit, a bad version or length, or an ICMP error quoting a header with IHL below 5)",
  PKT_TOO_BIG: "larger than the MTU with DF set",
  BLACKHOLE: "blackhole route or rule",
  PROHIBIT: "prohibit route or rule",
  DEV_DOWN: "ingress device is down",
  NO_CARRIER: "egress device has no carrier",
  BAD_SOURCE: "local sender: source address is not local",
  NO_DEVICE: "local sender: bound device missing or down",
  MSGSIZE: "local sender: message too long with DF",
  L2_NOT_HOST: "link-layer broadcast/multicast not forwarded",
  OUTPUT_EINVAL: "local sender: invalid destination or source (EINVAL)",
  NOT_SPECIFIED: "dropped (no specific kernel reason; e.g. multicast group not joined)",
  SOCK_BROADCAST: "local sender: broadcast without SO_BROADCAST (EACCES)",
  NETFILTER: "an iptables rule or chain policy (DROP or REJECT)",
  CT_TABLE_FULL: "nf_conntrack: table full, dropping packet",
  CT_INSERT_FAILED: "conntrack insert failed: the connection's tuple was taken when it was confirmed",
  NAT_NO_ADDR: "MASQUERADE/REDIRECT: no address on the device",
  NAT_OIF_CHANGED: "MASQUERADEd connection left through another device",
  NF_REROUTE: "no route after OUTPUT changed the packet (ip_route_me_harder)",
  TCP_CSUM: "delivered locally with a bad TCP checksum",
  UDP_CSUM: "delivered locally with a bad UDP checksum",
  ICMP_CSUM: "delivered locally with a bad ICMP checksum",
  IP_CSUM: "IPv4 header checksum wrong (ip_rcv)",
  PKT_TOO_SMALL: "IPv4 total length beyond the frame (ip_rcv: truncated), or a TCP data offset below 5 (tcp_v4_rcv)",
  OTHERHOST: "frame addressed to another host's MAC (ip_rcv: PACKET_OTHERHOST)",
  NF_HOTDROP: "an iptables match could not read the transport header it needs (hotdrop)",
  L4_SHORT: "delivered locally with a transport header too short for its protocol",
  IP_OPTIONS: "IPv4 options malformed (ip_options_compile): parameter problem sent",
  IP_SRR: "IPv4 source route option (LSRR/SSRR) with accept_source_route off",
};

/** Netfilter context for decoding: the loaded ruleset and the trace ring. */
export interface NfDecode {
  ruleset: LoadedRuleset;
  traceBase: number;
  /** Trace-all mode: add `trace` (every rule examined). */
  traceAll: boolean;
  /** The core recorded the matched rules (Engine.setTrace not "off"): add `rules`. */
  rules: boolean;
  /** Connection tracking is on for the ruleset. */
  conntrack: boolean;
  /** CONFIG_HZ of the node (the core reports timeouts in jiffies). */
  hz: number;
}

/** ctinfo as -m conntrack --ctstate names it. */
export const CT_STATE_NAMES: Record<number, string> = { 0: "ESTABLISHED", 1: "RELATED", 2: "NEW", 3: "ESTABLISHED", 4: "RELATED", 7: "UNTRACKED", 255: "INVALID" };
export const TCP_STATE_NAMES = ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"];
/** SCTP conntrack states (sctp_conntrack_names[]), as `conntrack -L` prints them. */
export const SCTP_STATE_NAMES = ["NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT"];
const STATUS_BITS: [number, string][] = [
  [abi.IPS_EXPECTED, "EXPECTED"], [abi.IPS_SEEN_REPLY, "SEEN_REPLY"], [abi.IPS_ASSURED, "ASSURED"], [abi.IPS_CONFIRMED, "CONFIRMED"],
  [abi.IPS_SRC_NAT, "SRC_NAT"], [abi.IPS_DST_NAT, "DST_NAT"], [abi.IPS_SRC_NAT_DONE, "SRC_NAT_DONE"], [abi.IPS_DST_NAT_DONE, "DST_NAT_DONE"],
  [abi.IPS_DYING, "DYING"], [abi.IPS_FIXED_TIMEOUT, "FIXED_TIMEOUT"], [abi.IPS_NAT_CLASH, "NAT_CLASH"],
];
export function statusNames(st: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of STATUS_BITS) if (st & bit) out.push(name);
  return out;
}
const PROTO_NAMES: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 132: "sctp", 136: "udplite", 47: "gre" };
export function protoName(n: number): string { return PROTO_NAMES[n] ?? String(n); }

/** One direction of a connection (a conntrack tuple). */
export interface CtTuple { src: string; dst: string; sport?: number; dport?: number; type?: number; code?: number; id?: number }

/** The connection after the packet (conntrack -L's view of it). */
export interface CtEntry {
  proto: string;
  /** TCP state. */
  state?: string;
  /** Seconds until the entry expires (0 when it is gone). */
  timeout: number;
  orig: CtTuple;
  reply: CtTuple;
  /** Status bits (IPS_*); UNREPLIED is !SEEN_REPLY as conntrack -L shows it. */
  status: string[];
  mark: number;
  /** "confirmed", "unconfirmed" (dropped before confirmation: it never entered the table) or "deleted". */
  table: "confirmed" | "unconfirmed" | "deleted";
}

function ctTuple(dv: DataView, p: number, proto: number, src: number, dst: number, sport: number, dport: number): CtTuple {
  const t: CtTuple = { src: formatIPv4(dv.getUint32(p + src, true)), dst: formatIPv4(dv.getUint32(p + dst, true)) };
  const sp = dv.getUint16(p + sport, true);
  const dp = dv.getUint16(p + dport, true);
  if (proto === 1) { t.type = dp >> 8; t.code = dp & 0xff; t.id = sp; }
  else if (proto === 6 || proto === 17 || proto === 132 || proto === 136) { t.sport = sp; t.dport = dp; }
  return t;
}

/** Netfilter and conntrack fields of descriptor `p` (added to a packet or reply result). */
function decodeNf(dv: DataView, p: number, nf: NfDecode, r: PacketResult | ReplyResult): void {
  const rs = nf.ruleset;
  const rules: string[] = [];
  const trace: string[] = [];
  let rec = dv.getUint32(p + abi.PKT_NF_TRACE_FIRST, true);
  const n = dv.getUint32(p + abi.PKT_NF_TRACE_COUNT, true);
  for (let k = 0; k < n; k++) {
    const at = nf.traceBase + rec * abi.TRACE_REC;
    const v = dv.getUint32(at, true);
    rec = dv.getUint32(at + 4, true);
    if ((v & abi.TR_MATCHED) && !(v & abi.TR_HOOK)) {
      const e = rs.entry(v & abi.TR_ID_MASK);
      if (e?.kind === "rule") rules.push(rs.entryText(v & abi.TR_ID_MASK));
    }
    if (nf.traceAll) {
      const s = traceText(rs, v);
      if (s !== undefined) trace.push(s);
    }
  }
  if (nf.rules) r.rules = rules;
  r.rules_traversed = dv.getUint32(p + abi.PKT_NF_RULES, true);
  if (nf.traceAll) r.trace = trace;
  if (dv.getUint8(p + abi.PKT_PX) & abi.PX_TRACE_TRUNC) r.trace_truncated = true;
  const vr = dv.getUint32(p + abi.PKT_NF_VERDICT_RULE, true);
  if (vr !== 0xffffffff && dv.getUint8(p + abi.PKT_VERDICT) === abi.VERDICT_DROP) {
    r.nf_verdict = rs.entryText(vr);
    const hook = dv.getUint8(p + abi.PKT_NF_DROP_HOOK);
    if (hook < 5) r.nf_hook = HOOK_NAMES[hook];
  } else {
    const hook = dv.getUint8(p + abi.PKT_NF_DROP_HOOK);
    if (hook < 5) r.nf_hook = HOOK_NAMES[hook];
  }
  const ops = dv.getUint8(p + abi.PKT_NAT_OPS);
  if (ops) {
    const nat: string[] = [];
    if (ops & abi.NAT_OP_DNAT) nat.push("DNAT");
    if (ops & abi.NAT_OP_SNAT) nat.push("SNAT");
    if (ops & abi.NAT_OP_ICMP_INNER) nat.push("ICMP_INNER");
    if (ops & abi.NAT_OP_SETUP_DST) nat.push("BIND_DST");
    if (ops & abi.NAT_OP_SETUP_SRC) nat.push("BIND_SRC");
    r.nat = nat;
  }
  if (!nf.conntrack) return;
  const ctinfo = dv.getUint8(p + abi.PKT_CT_INFO);
  r.ct = CT_STATE_NAMES[ctinfo] ?? String(ctinfo);
  if (ctinfo === 3 || ctinfo === 4) r.ct_dir = "reply";
  else if (ctinfo <= 2) r.ct_dir = "original";
  const id = dv.getUint32(p + abi.PKT_CT_ID, true);
  if (id === 0) return;
  const proto = dv.getUint8(p + abi.PKT_CT_PROTO);
  const st = dv.getUint32(p + abi.PKT_CT_STATUS, true);
  const e: CtEntry = {
    proto: protoName(proto),
    timeout: Math.floor(dv.getUint32(p + abi.PKT_CT_TIMEOUT, true) / nf.hz),
    orig: ctTuple(dv, p, proto, abi.PKT_CT_ORIG_SRC, abi.PKT_CT_ORIG_DST, abi.PKT_CT_ORIG_SPORT, abi.PKT_CT_ORIG_DPORT),
    reply: ctTuple(dv, p, proto, abi.PKT_CT_REPL_SRC, abi.PKT_CT_REPL_DST, abi.PKT_CT_REPL_SPORT, abi.PKT_CT_REPL_DPORT),
    status: statusNames(st),
    mark: dv.getUint32(p + abi.PKT_CT_MARK, true),
    table: !(st & abi.IPS_CONFIRMED) ? "unconfirmed" : (st & abi.IPS_DYING) ? "deleted" : "confirmed",
  };
  if (proto === 6) e.state = TCP_STATE_NAMES[dv.getUint8(p + abi.PKT_CT_STATE)] ?? "?";
  else if (proto === 132) e.state = SCTP_STATE_NAMES[dv.getUint8(p + abi.PKT_CT_STATE)] ?? "?";
  if (!(st & abi.IPS_SEEN_REPLY)) e.status.unshift("UNREPLIED");
  r.ct_entry = e;
}

/** VERDICT_* -> the name results use. */
export const VERDICT_NAMES = ["none", "forward", "local", "drop"];

export interface ReplyResult {
  kind: "icmp" | "tcp";
  verdict: string;
  reason?: string;
  oif?: string;
  nexthop?: string;
  src: string;
  dst: string;
  ttl: number;
  icmp_type?: number;
  icmp_code?: number;
  /** ICMP redirect gateway. */
  gateway?: string;
  /** ICMP fragmentation-needed next-hop MTU. */
  mtu?: number;
  sport?: number;
  dport?: number;
  flags?: string;
  seq?: number;
  ack?: number;
  len: number;
  rules?: string[];
  rules_traversed?: number;
  trace?: string[];
  trace_truncated?: boolean;
  nf_verdict?: string;
  nf_hook?: string;
  nat?: string[];
  ct?: string;
  ct_dir?: "original" | "reply";
  ct_entry?: CtEntry;
  /** The quoted header of an ICMP error, as it leaves. */
  inner?: InnerHeader;
}

/** The header an ICMP error quotes (as the error leaves: NAT rewrites it). */
export interface InnerHeader { src: string; dst: string; proto: string; sport?: number; dport?: number; icmp_type?: number; icmp_id?: number }

function decodeInner(dv: DataView, q: number): InnerHeader {
  const ip = dv.getUint8(q + abi.PKT_INNER_PROTO);
  const inner: InnerHeader = {
    src: formatIPv4(dv.getUint32(q + abi.PKT_OUT_INNER_SRC, true)),
    dst: formatIPv4(dv.getUint32(q + abi.PKT_OUT_INNER_DST, true)),
    proto: protoName(ip),
  };
  if (ip === 6 || ip === 17) {
    inner.sport = dv.getUint16(q + abi.PKT_OUT_INNER_SPORT, true);
    inner.dport = dv.getUint16(q + abi.PKT_OUT_INNER_DPORT, true);
  } else if (ip === 1) {
    inner.icmp_type = dv.getUint8(q + abi.PKT_INNER_ICMP_TYPE);
    inner.icmp_id = dv.getUint16(q + abi.PKT_OUT_INNER_SPORT, true);
  }
  return inner;
}

/** A packet's forwarded copy in the capture and how the packet compares (PacketResult.seen). */
export interface SeenCopy {
  oif?: string;
  src: string;
  dst: string;
  /** TCP and UDP ports; for ICMP echo, the identifier in both. */
  sport: number;
  dport: number;
  result: "agrees" | "dropped" | "local" | "other_device" | "other_header";
}

const SEEN_RESULTS: SeenCopy["result"][] = ["agrees", "agrees", "dropped", "local", "other_device", "other_header"];

/**
 * The descriptor's capture copy (abi.ts PKT_SEEN_*) and how it compares:
 * assembly/capture/seen.ts's seenPacket and seenAgreement, which the
 * replay summary counts with (test/netfilter/seen.test.ts checks both agree).
 */
function decodeSeen(dv: DataView, p: number, node: LoadedNode): SeenCopy | undefined {
  const dst = dv.getUint32(p + abi.PKT_SEEN_DST, true);
  const flags = dv.getUint16(p + abi.PKT_FLAGS, true);
  if (dst === 0 || (flags & abi.PF_INNER) !== 0) return undefined;
  const proto = dv.getUint8(p + abi.PKT_PROTO);
  const type = dv.getUint8(p + abi.PKT_ICMP_TYPE);
  if (!(proto === 6 || proto === 17 || (proto === 1 && (type === 8 || type === 0)))) return undefined;
  const src = dv.getUint32(p + abi.PKT_SEEN_SRC, true), sport = dv.getUint16(p + abi.PKT_SEEN_SPORT, true), dport = dv.getUint16(p + abi.PKT_SEEN_DPORT, true);
  const oifSlot = dv.getUint8(p + abi.PKT_SEEN_OIF);
  const v = dv.getUint8(p + abi.PKT_VERDICT);
  let k: number;
  if (v === abi.VERDICT_LOCAL) k = abi.SEEN_LOCAL;
  else if (v !== abi.VERDICT_FORWARD) k = abi.SEEN_DROPPED;
  else if (oifSlot !== 0 && dv.getUint16(p + abi.PKT_OIF, true) !== oifSlot - 1) k = abi.SEEN_OTHER_DEVICE;
  else if (dv.getUint32(p + abi.PKT_OUT_SRC, true) !== src || dv.getUint32(p + abi.PKT_OUT_DST, true) !== dst) k = abi.SEEN_OTHER_HEADER;
  else if (proto === 1 ? dv.getUint16(p + abi.PKT_OUT_ICMP_ID, true) !== sport
    : dv.getUint16(p + abi.PKT_OUT_SPORT, true) !== sport || dv.getUint16(p + abi.PKT_OUT_DPORT, true) !== dport) k = abi.SEEN_OTHER_HEADER;
  else k = abi.SEEN_AGREE;
  const r = {} as SeenCopy;
  const o = oifSlot !== 0 ? devName(node, oifSlot - 1) : undefined;
  if (o !== undefined) r.oif = o;
  r.src = formatIPv4(src);
  r.dst = formatIPv4(dst);
  r.sport = sport;
  r.dport = dport;
  r.result = SEEN_RESULTS[k]!;
  return r;
}

export interface PacketResult {
  i: number;
  verdict: string;
  reason?: string;
  oif?: string;
  nexthop?: string;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  /** ICMP echo (and other query) identifier as the packet leaves. */
  icmp_id?: number;
  /** ICMP errors: the quoted header as the packet leaves (NAT rewrites it too). */
  inner?: InnerHeader;
  ttl: number;
  /** The TOS byte as the packet leaves, when a TOS or DSCP target rewrote it. */
  tos?: number;
  /** The TCP MSS option as the packet leaves, when -j TCPMSS lowered or inserted it. */
  mss?: number;
  /** The IP total length as the packet leaves, when a target changed it (-j TCPMSS inserted a 4-byte MSS option). */
  len?: number;
  frags?: number;
  redirect?: boolean;
  /**
   * A broadcast or joined-multicast packet the node sends: what became of
   * the copy ip_mc_output loops back to the node (through POSTROUTING,
   * PREROUTING and INPUT on the output device): delivered locally, or
   * dropped (its rules and its drop reason's count are the engine's too).
   */
  loopback?: "local" | "drop";
  /**
   * A TCP segment or UDP datagram delivered to the node: `"open"` when a
   * socket took it (a listener of the snapshot's ss.txt, or a connection a
   * local process made earlier in the replay), `"closed"` when the node's
   * sockets are known and none did (the node answers with a reset or a port
   * unreachable). Absent when the sockets are unknown.
   */
  socket?: "open" | "closed";
  /**
   * The packet's forwarded copy in the capture (input `seen`): the header
   * and device it left the kernel with, and how this result compares
   * (`result`: "agrees" when forwarded by that device with that header;
   * else "dropped", "local", "other_device" or "other_header").
   */
  seen?: SeenCopy;
  /** The `ip rule` that decided (as the snapshot prints it). */
  ip_rule?: string;
  /** The `ip route` that decided (as the snapshot prints it). */
  ip_route?: string;
  /** iptables rules that matched, in evaluation order, as `-t TABLE -A CHAIN <rule>`. */
  rules?: string[];
  /** Rules the kernel's walk examined (all tables, all hooks). */
  rules_traversed?: number;
  /** With --trace: every rule examined, as table:chain:rule:N (":nomatch" when it did not match), plus policies and returns. */
  trace?: string[];
  trace_truncated?: boolean;
  /** The rule or policy whose verdict dropped the packet. */
  nf_verdict?: string;
  /** The hook where netfilter dropped the packet. */
  nf_hook?: string;
  /** NAT done to this packet: DNAT, SNAT (rewrites), BIND_DST, BIND_SRC (bindings it made), ICMP_INNER. */
  nat?: string[];
  /** -m conntrack --ctstate of the packet. */
  ct?: string;
  ct_dir?: "original" | "reply";
  /** The connection after the packet. */
  ct_entry?: CtEntry;
  replies: ReplyResult[];
}

function devName(node: LoadedNode, slot: number): string | undefined {
  return slot ? node.devBySlot[slot]?.name : undefined;
}

function hasPorts(proto: number): boolean {
  return proto === 6 || proto === 17;
}

/** The `ip rule` and `ip route` lines as results print them (trimmed once per line, not per packet). */
const provenance = new WeakMap<LoadedNode, { rules: string[]; routes: string[] }>();
function provenanceTexts(node: LoadedNode): { rules: string[]; routes: string[] } {
  let t = provenance.get(node);
  if (!t) provenance.set(node, (t = { rules: [], routes: [] }));
  return t;
}

/** Decodes descriptor `p` of the batch (input index `i`). */
export function decodePacket(dv: DataView, p: number, i: number, node: LoadedNode, replyBase: number, withProvenance = true, nf?: NfDecode): PacketResult {
  const verdict = dv.getUint8(p + abi.PKT_VERDICT);
  const reason = dv.getUint16(p + abi.PKT_REASON, true);
  const oif = dv.getUint16(p + abi.PKT_OIF, true);
  const proto = dv.getUint8(p + abi.PKT_PROTO);
  const outFlags = dv.getUint32(p + abi.PKT_OUT_FLAGS, true);
  const r: PacketResult = { i, verdict: VERDICT_NAMES[verdict] ?? "none" } as PacketResult;
  if (verdict === abi.VERDICT_DROP) r.reason = DROP_NAMES[reason] ?? String(reason);
  const o = devName(node, oif);
  if (o !== undefined) r.oif = o;
  const nh = dv.getUint32(p + abi.PKT_NEXTHOP, true);
  if (verdict !== abi.VERDICT_DROP && nh) r.nexthop = formatIPv4(nh);
  const outSrc = dv.getUint32(p + abi.PKT_OUT_SRC, true);
  r.src = formatIPv4(outSrc || dv.getUint32(p + abi.PKT_SRC, true));
  r.dst = formatIPv4(dv.getUint32(p + abi.PKT_OUT_DST, true) || dv.getUint32(p + abi.PKT_DST, true));
  if (hasPorts(proto)) {
    r.sport = dv.getUint16(p + abi.PKT_OUT_SPORT, true) || dv.getUint16(p + abi.PKT_SPORT, true);
    r.dport = dv.getUint16(p + abi.PKT_OUT_DPORT, true) || dv.getUint16(p + abi.PKT_DPORT, true);
  }
  if (proto === 1) {
    const type = dv.getUint8(p + abi.PKT_ICMP_TYPE);
    // the echo identifier as it leaves (NAT may remap it like a port)
    if (type === 0 || type === 8 || (type >= 13 && type <= 18)) r.icmp_id = dv.getUint16(p + abi.PKT_OUT_ICMP_ID, true);
    if (dv.getUint16(p + abi.PKT_FLAGS, true) & abi.PF_INNER) r.inner = decodeInner(dv, p);
  }
  const outTtl = dv.getUint8(p + abi.PKT_OUT_TTL);
  r.ttl = outTtl || dv.getUint8(p + abi.PKT_TTL);
  const px = dv.getUint8(p + abi.PKT_PX);
  if (px & abi.PX_TOS_SET) r.tos = dv.getUint8(p + abi.PKT_TOS);
  if (px & (abi.PX_MSS_SET | abi.PX_MSS_INSERT)) r.mss = dv.getUint16(p + abi.PKT_TCP_MSS, true);
  if (px & abi.PX_MSS_INSERT) r.len = dv.getUint16(p + abi.PKT_LEN, true);
  const frags = dv.getUint8(p + abi.PKT_FRAGS);
  if (frags > 1) r.frags = frags;
  if (outFlags & abi.OF_REDIRECT) r.redirect = true;
  if (outFlags & (abi.OF_LOOP_LOCAL | abi.OF_LOOP_DROP)) r.loopback = outFlags & abi.OF_LOOP_LOCAL ? "local" : "drop";
  if (outFlags & (abi.OF_SOCKET | abi.OF_NO_SOCKET)) r.socket = outFlags & abi.OF_SOCKET ? "open" : "closed";
  const seen = decodeSeen(dv, p, node);
  if (seen) r.seen = seen;
  if (withProvenance) {
    const ruleIdx = dv.getUint32(p + abi.PKT_RULE_INDEX, true);
    const routeIdx = dv.getUint32(p + abi.PKT_RT_INDEX, true);
    if (ruleIdx !== 0xffffffff || routeIdx !== 0xffffffff) {
      const t = provenanceTexts(node);
      if (ruleIdx !== 0xffffffff && node.rules[ruleIdx]) r.ip_rule = t.rules[ruleIdx] ??= node.rules[ruleIdx].src.text.trim();
      if (routeIdx !== 0xffffffff && node.routes[routeIdx]) r.ip_route = t.routes[routeIdx] ??= node.routes[routeIdx].src.text.trim();
    }
  }
  if (nf) decodeNf(dv, p, nf, r);
  r.replies = [];
  const first = dv.getUint32(p + abi.PKT_REPLY_FIRST, true);
  const n = dv.getUint16(p + abi.PKT_REPLY_COUNT, true);
  for (let k = 0; k < n; k++) r.replies.push(decodeReply(dv, replyBase + (first + k) * abi.PKT_SIZE, node, nf));
  return r;
}

export function decodeReply(dv: DataView, q: number, node: LoadedNode, nf?: NfDecode): ReplyResult {
  const proto = dv.getUint8(q + abi.PKT_PROTO);
  const verdict = dv.getUint8(q + abi.PKT_VERDICT);
  const r: ReplyResult = { kind: proto === 6 ? "tcp" : "icmp", verdict: VERDICT_NAMES[verdict] ?? "none" } as ReplyResult;
  if (verdict === abi.VERDICT_DROP) r.reason = DROP_NAMES[dv.getUint16(q + abi.PKT_REASON, true)];
  const o = devName(node, dv.getUint16(q + abi.PKT_OIF, true));
  if (o !== undefined) r.oif = o;
  const nh = dv.getUint32(q + abi.PKT_NEXTHOP, true);
  if (verdict !== abi.VERDICT_DROP && nh) r.nexthop = formatIPv4(nh);
  // the reply as it leaves (NAT may have rewritten it)
  r.src = formatIPv4(dv.getUint32(q + abi.PKT_OUT_SRC, true) || dv.getUint32(q + abi.PKT_SRC, true));
  r.dst = formatIPv4(dv.getUint32(q + abi.PKT_OUT_DST, true) || dv.getUint32(q + abi.PKT_DST, true));
  r.ttl = dv.getUint8(q + abi.PKT_OUT_TTL) || dv.getUint8(q + abi.PKT_TTL);
  if (proto === 1) {
    const type = dv.getUint8(q + abi.PKT_ICMP_TYPE);
    r.icmp_type = type;
    r.icmp_code = dv.getUint8(q + abi.PKT_ICMP_CODE);
    const info = dv.getUint32(q + abi.PKT_ICMP_INFO, true);
    if (type === 5) r.gateway = formatIPv4(info);
    if (type === 3 && r.icmp_code === 4) r.mtu = info;
    if (type === 3 || type === 11 || type === 12 || type === 4 || type === 5) r.inner = decodeInner(dv, q);
  } else if (proto === 6) {
    r.sport = dv.getUint16(q + abi.PKT_OUT_SPORT, true);
    r.dport = dv.getUint16(q + abi.PKT_OUT_DPORT, true);
    r.flags = tcpFlagsToLetters(dv.getUint8(q + abi.PKT_TCPFLAGS));
    r.seq = dv.getUint32(q + abi.PKT_SEQ, true);
    r.ack = dv.getUint32(q + abi.PKT_ACK, true);
  }
  r.len = dv.getUint16(q + abi.PKT_LEN, true);
  if (nf) decodeNf(dv, q, nf, r);
  return r;
}
