/**
 * The replay output format: one JSON object per input packet, built from the
 * descriptor's output fields. Key order is fixed so output is byte-for-byte
 * reproducible. Later issues add NAT, conntrack and rule-trace fields.
 */
import * as abi from "../core/abi.js";
import { formatIPv4 } from "../util/ipv4.js";
import type { LoadedNode } from "../node/compile.js";
import { tcpFlagsToLetters } from "./input.js";

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
  IP_INHDR: "TTL expired in transit",
  PKT_TOO_BIG: "larger than the MTU with DF set",
  BLACKHOLE: "blackhole route or rule",
  PROHIBIT: "prohibit route or rule",
  DEV_DOWN: "ingress device is down",
  NO_CARRIER: "egress device has no carrier",
  BAD_SOURCE: "local sender: source address is not local",
  NO_DEVICE: "local sender: bound device missing or down",
  MSGSIZE: "local sender: message too long with DF",
  OTHERHOST: "link-layer broadcast/multicast not forwarded",
  OUTPUT_EINVAL: "local sender: invalid destination or source (EINVAL)",
  NOT_SPECIFIED: "dropped (no specific kernel reason; e.g. multicast group not joined)",
  SOCK_BROADCAST: "local sender: broadcast without SO_BROADCAST (EACCES)",
};

const VERDICTS = ["none", "forward", "local", "drop"];

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
  ttl: number;
  frags?: number;
  redirect?: boolean;
  /** The `ip rule` that decided (as the snapshot prints it). */
  ip_rule?: string;
  /** The `ip route` that decided (as the snapshot prints it). */
  ip_route?: string;
  replies: ReplyResult[];
}

function devName(node: LoadedNode, slot: number): string | undefined {
  return slot ? node.devBySlot[slot]?.name : undefined;
}

function hasPorts(proto: number): boolean {
  return proto === 6 || proto === 17;
}

/** Decodes descriptor `p` of the batch (input index `i`). */
export function decodePacket(dv: DataView, p: number, i: number, node: LoadedNode, replyBase: number, withProvenance = true): PacketResult {
  const verdict = dv.getUint8(p + abi.PKT_VERDICT);
  const reason = dv.getUint16(p + abi.PKT_REASON, true);
  const oif = dv.getUint16(p + abi.PKT_OIF, true);
  const proto = dv.getUint8(p + abi.PKT_PROTO);
  const outFlags = dv.getUint32(p + abi.PKT_OUT_FLAGS, true);
  const r: PacketResult = { i, verdict: VERDICTS[verdict] ?? "none" } as PacketResult;
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
  const outTtl = dv.getUint8(p + abi.PKT_OUT_TTL);
  r.ttl = outTtl || dv.getUint8(p + abi.PKT_TTL);
  const frags = dv.getUint8(p + abi.PKT_FRAGS);
  if (frags > 1) r.frags = frags;
  if (outFlags & abi.OF_REDIRECT) r.redirect = true;
  if (withProvenance) {
    const ruleIdx = dv.getUint32(p + abi.PKT_RULE_INDEX, true);
    const routeIdx = dv.getUint32(p + abi.PKT_RT_INDEX, true);
    if (ruleIdx !== 0xffffffff && node.rules[ruleIdx]) r.ip_rule = node.rules[ruleIdx].src.text.trim();
    if (routeIdx !== 0xffffffff && node.routes[routeIdx]) r.ip_route = node.routes[routeIdx].src.text.trim();
  }
  r.replies = [];
  const first = dv.getUint32(p + abi.PKT_REPLY_FIRST, true);
  const n = dv.getUint16(p + abi.PKT_REPLY_COUNT, true);
  for (let k = 0; k < n; k++) r.replies.push(decodeReply(dv, replyBase + (first + k) * abi.PKT_SIZE, node));
  return r;
}

export function decodeReply(dv: DataView, q: number, node: LoadedNode): ReplyResult {
  const proto = dv.getUint8(q + abi.PKT_PROTO);
  const verdict = dv.getUint8(q + abi.PKT_VERDICT);
  const r: ReplyResult = { kind: proto === 6 ? "tcp" : "icmp", verdict: VERDICTS[verdict] ?? "none" } as ReplyResult;
  if (verdict === abi.VERDICT_DROP) r.reason = DROP_NAMES[dv.getUint16(q + abi.PKT_REASON, true)];
  const o = devName(node, dv.getUint16(q + abi.PKT_OIF, true));
  if (o !== undefined) r.oif = o;
  const nh = dv.getUint32(q + abi.PKT_NEXTHOP, true);
  if (verdict !== abi.VERDICT_DROP && nh) r.nexthop = formatIPv4(nh);
  r.src = formatIPv4(dv.getUint32(q + abi.PKT_SRC, true));
  r.dst = formatIPv4(dv.getUint32(q + abi.PKT_DST, true));
  r.ttl = dv.getUint8(q + abi.PKT_TTL);
  if (proto === 1) {
    const type = dv.getUint8(q + abi.PKT_ICMP_TYPE);
    r.icmp_type = type;
    r.icmp_code = dv.getUint8(q + abi.PKT_ICMP_CODE);
    const info = dv.getUint32(q + abi.PKT_ICMP_INFO, true);
    if (type === 5) r.gateway = formatIPv4(info);
    if (type === 3 && r.icmp_code === 4) r.mtu = info;
  } else if (proto === 6) {
    r.sport = dv.getUint16(q + abi.PKT_SPORT, true);
    r.dport = dv.getUint16(q + abi.PKT_DPORT, true);
    r.flags = tcpFlagsToLetters(dv.getUint8(q + abi.PKT_TCPFLAGS));
    r.seq = dv.getUint32(q + abi.PKT_SEQ, true);
    r.ack = dv.getUint32(q + abi.PKT_ACK, true);
  }
  r.len = dv.getUint16(q + abi.PKT_LEN, true);
  return r;
}
