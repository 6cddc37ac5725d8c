/**
 * ICMP messages the node sends: __icmp_send (errors) and icmp_reply (echo
 * replies), with their rate limits (net/ipv4/icmp.c):
 *  - icmpv4_global_allow: types in icmp_ratemask share a node-wide credit of
 *    icmp_msgs_burst refilled at icmp_msgs_per_sec; each message sent takes
 *    a random 0..2 credits (icmp_global_consume), drawn from the seeded PRNG;
 *  - icmpv4_xrlim_allow: per destination peer token bucket of icmp_ratelimit.
 * The reply is written as a full descriptor into the reply ring and routed
 * and transmitted like any locally generated packet (output.ts).
 */
import { CTR_ICMP_OUT_PARM_PROBS, PF_IP_OPTS_SHIFT, PKT_IP_OPT_FADDR, PKT_PX, PX_MSS_SET, PX_MSS_INSERT, PKT_TCP_MSS, PKT_QUOTE_FLAGS, PKT_QUOTE_MSS, QF_MSS_SET, QF_MSS_INSERT, QF_TTL, PKT_QUOTE_TTL, PKT_OUT_TTL } from "../abi";
import { ipOptEchoLen, ipOptEchoSrr, ipHdrLen } from "../util/ip";
import {
  PKT_SRC, PKT_DST, PKT_PROTO, PKT_TOS, PKT_LEN, PKT_FLAGS, PKT_MARK, PKT_ICMP_TYPE, PKT_ICMP_CODE,
  PKT_ICMP_ID, PKT_ICMP_SEQ, PKT_SPORT, PKT_DPORT, PKT_IPID, PKT_INNER_SRC, PKT_INNER_DST,
  PKT_INNER_SPORT, PKT_INNER_DPORT, PKT_INNER_PROTO, PKT_TTL, PKT_ICMP_INFO, PKT_IIF,
  PF_L2_OTHER, PF_LOCAL, PF_SRC_SET, PF_INNER, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_SPORT, PKT_OUT_DPORT, PKT_OUT_MARK,
  PKT_OUT_ICMP_ID, PKT_INNER_ICMP_TYPE, PKT_INNER_ICMP_CODE, CTR_ICMP_OUT_RATELIMIT_GLOBAL, CTR_ICMP_OUT_RATELIMIT_HOST,
  CTR_ICMP_OUT_MSGS, CTR_ICMP_OUT_DEST_UNREACHS, CTR_ICMP_OUT_TIME_EXCDS, CTR_ICMP_OUT_REDIRECTS,
  CTR_ICMP_OUT_ECHO_REPS, DEV_FLAGS, IFF_LOOPBACK, RT_SCOPE_LINK,
  PKT_L4_BYTES,
} from "../abi";
import {
  icmpRatemask, icmpRatelimitJiffies, icmpMsgsPerSec, icmpMsgsBurst, icmpErrorsUseInboundIfaddr,
  ipDefaultTtl, fwmarkReflect, hz,
} from "../config";
import { count } from "./stats";
import { jiffies } from "./clock";
import { getPeer, xrlimAllow } from "./peer";
import { randomBelow } from "../util/random";
import { devPtr, inetSelectAddr } from "../dev";
import { ipRouteOutput } from "../route/output";
import { rtFlags, rtDev, RTCF_LOCAL, RTCF_BROADCAST, RTCF_MULTICAST } from "../route/rtable";
import { replyAlloc } from "./reply";
import { ipLocalOutRouted } from "./output";

export const ICMP_ECHOREPLY: u32 = 0;
export const ICMP_DEST_UNREACH: u32 = 3;
export const ICMP_REDIRECT: u32 = 5;
export const ICMP_ECHO: u32 = 8;
export const ICMP_TIME_EXCEEDED: u32 = 11;
export const ICMP_PARAMETERPROB: u32 = 12;
export const NR_ICMP_TYPES: u32 = 18;

export const ICMP_NET_UNREACH: u32 = 0;
export const ICMP_HOST_UNREACH: u32 = 1;
export const ICMP_PROT_UNREACH: u32 = 2;
export const ICMP_PORT_UNREACH: u32 = 3;
export const ICMP_FRAG_NEEDED: u32 = 4;
export const ICMP_PKT_FILTERED: u32 = 13;
export const ICMP_REDIR_HOST: u32 = 1;
export const ICMP_EXC_TTL: u32 = 0;

/** icmp_pointers[type].error */
export function icmpIsError(type: u32): bool {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

// icmp_global state (net->ipv4.icmp_global_credit / _stamp)
let globalCredit: i32 = 0;
let globalStamp: i64 = 0;
let globalInit = false;

export function icmpReset(): void {
  globalCredit = 0;
  globalStamp = 0;
  globalInit = false;
}

/** icmpv4_mask_allow: true when the type is not rate limited at all. */
function maskAllow(type: u32, code: u32): bool {
  if (type > NR_ICMP_TYPES) return true;
  if (type == ICMP_DEST_UNREACH && code == ICMP_FRAG_NEEDED) return true;
  return ((<u32>1 << type) & icmpRatemask) == 0;
}

/** icmp_global_allow */
function globalAllow(): bool {
  if (globalCredit > 0) return true;
  const now = jiffies();
  if (!globalInit) { globalStamp = now - <i64>hz; globalInit = true; } // stamp starts at 0: a full refill
  let delta = now - globalStamp;
  if (delta > <i64>hz) delta = <i64>hz;
  if (delta < <i64>(hz / 50)) return false;
  const incr = <i32>(<i64>icmpMsgsPerSec * delta / <i64>hz);
  if (incr == 0) return false;
  globalStamp = now;
  globalCredit = min(globalCredit + incr, <i32>icmpMsgsBurst);
  return true;
}

/** icmpv4_global_allow; returns -1 to refuse, 1 to allow with the per-peer limit, 0 to allow without. */
function globalGate(type: u32, code: u32, inputIsLoopback: bool): i32 {
  if (maskAllow(type, code)) return 0;
  if (inputIsLoopback) return 1; // the global limit is skipped for loopback input
  if (globalAllow()) return 1;
  count(CTR_ICMP_OUT_RATELIMIT_GLOBAL);
  return -1;
}

/** icmpv4_xrlim_allow (+ icmp_global_consume when it allows). */
function xrlim(applyRatelimit: bool, daddr: u32, outDev: u32): bool {
  if (!applyRatelimit) return true;
  if ((load<u32>(devPtr(outDev), DEV_FLAGS) & IFF_LOOPBACK) != 0) return true;
  const ok = xrlimAllow(getPeer(daddr), <i64>icmpRatelimitJiffies);
  if (!ok) { count(CTR_ICMP_OUT_RATELIMIT_HOST); return false; }
  const credits = <i32>randomBelow(3);
  if (credits != 0) globalCredit -= credits;
  return true;
}

/**
 * icmp_out_count: called from __ip_make_skb for every ICMP message the node
 * builds (its own errors and replies, and what raw/ping sockets send).
 */
export function icmpOutCount(type: u32): void {
  count(CTR_ICMP_OUT_MSGS);
  if (type == ICMP_DEST_UNREACH) count(CTR_ICMP_OUT_DEST_UNREACHS);
  else if (type == ICMP_TIME_EXCEEDED) count(CTR_ICMP_OUT_TIME_EXCDS);
  else if (type == ICMP_REDIRECT) count(CTR_ICMP_OUT_REDIRECTS);
  else if (type == ICMP_ECHOREPLY) count(CTR_ICMP_OUT_ECHO_REPS);
  else if (type == 12) count(CTR_ICMP_OUT_PARM_PROBS); // ICMP_PARAMETERPROB
}

/**
 * __icmp_send for the packet `p`, whose routing decision is described by
 * `pktRtFlags` (RTCF_*) and `inputRoute` (true when it was routed as input).
 * `origLen` is the packet's length as quoted. Returns true if an ICMP
 * message was emitted.
 */
export function icmpSend(p: usize, type: u32, code: u32, info: u32, pktRtFlags: u32, inputRoute: bool): bool {
  if (icmpXmitLock) return false; // icmp_xmit_lock: the socket is busy sending this very message
  // No replies to link-layer broadcast/multicast, nor to IP broadcast/multicast.
  if (load<u16>(p, PKT_FLAGS) & PF_L2_OTHER) return false;
  if (pktRtFlags & (RTCF_BROADCAST | RTCF_MULTICAST)) return false;
  // Never an error about an error; nor about an ICMP packet whose type cannot be read (no transport byte)
  if (icmpIsError(type) && load<u8>(p, PKT_PROTO) == 1) {
    if (load<u8>(p, PKT_L4_BYTES) == 1) return false;
    const it = <u32>load<u8>(p, PKT_ICMP_TYPE);
    if (it > NR_ICMP_TYPES || icmpIsError(it)) return false;
  }
  const iif = <u32>load<u16>(p, PKT_IIF);
  const inLoop = iif != 0 && (load<u32>(devPtr(iif), DEV_FLAGS) & IFF_LOOPBACK) != 0;
  const gate = globalGate(type, code, inLoop);
  if (gate < 0) return false;
  // __ip_options_echo: the answer's header carries the packet's RR, TS, reversed source route, CIPSO
  const echo = ipOptEchoLen(p);
  if (echo < 0) return false;

  // the offending packet as it is now (after any DNAT it has been through)
  const origSrc = load<u32>(p, PKT_OUT_SRC);
  const origDst = load<u32>(p, PKT_OUT_DST);
  let saddr = origDst;
  if (!(pktRtFlags & RTCF_LOCAL)) {
    saddr = 0;
    if (inputRoute && icmpErrorsUseInboundIfaddr && iif != 0) saddr = inetSelectAddr(iif, origSrc, RT_SCOPE_LINK);
  }
  const origTos = <u32>load<u8>(p, PKT_TOS);
  const tos = icmpIsError(type) ? ((origTos & 0x1e) | 0xc0) : origTos;
  const mark = fwmarkReflect ? load<u32>(p, PKT_OUT_MARK) : 0;
  // icmp_route_lookup: to the sender, or to the first hop of the source route the answer echoes
  const dst = ipOptEchoSrr(p) ? load<u32>(p, PKT_IP_OPT_FADDR) : origSrc;
  const err = ipRouteOutput(dst, saddr, tos, 0, mark, 1, 0, 0, 0, 0);
  if (err != 0) return false;
  if (!xrlim(gate > 0, dst, rtDev)) return false;

  const q = replyAlloc(p);
  if (q == 0) return false;
  const quoted = <u32>load<u16>(p, PKT_LEN);
  const room: u32 = 576 - 20 - <u32>echo - 8;
  store<u32>(q, rtSaddrNow(), PKT_SRC);
  store<u32>(q, dst, PKT_DST);
  store<u8>(q, 1, PKT_PROTO);
  store<u8>(q, <u8>ipDefaultTtl, PKT_TTL);
  store<u8>(q, <u8>tos, PKT_TOS);
  store<u16>(q, <u16>(20 + <u32>echo + 8 + min(quoted, room)), PKT_LEN);
  store<u8>(q, <u8>type, PKT_ICMP_TYPE);
  store<u8>(q, <u8>code, PKT_ICMP_CODE);
  store<u32>(q, info, PKT_ICMP_INFO);
  store<u32>(q, mark, PKT_MARK);
  store<u32>(q, origSrc, PKT_INNER_SRC);
  store<u32>(q, origDst, PKT_INNER_DST);
  store<u16>(q, load<u16>(p, PKT_OUT_SPORT), PKT_INNER_SPORT);
  store<u16>(q, load<u16>(p, PKT_OUT_DPORT), PKT_INNER_DPORT);
  store<u8>(q, load<u8>(p, PKT_PROTO), PKT_INNER_PROTO);
  store<u16>(q, load<u16>(p, PKT_IPID), PKT_IPID);
  if (load<u8>(p, PKT_PROTO) == 1) {
    store<u16>(q, load<u16>(p, PKT_OUT_ICMP_ID), PKT_INNER_SPORT);
    store<u16>(q, load<u16>(p, PKT_ICMP_SEQ), PKT_INNER_DPORT);
    store<u8>(q, load<u8>(p, PKT_ICMP_TYPE), PKT_INNER_ICMP_TYPE);
    store<u8>(q, load<u8>(p, PKT_ICMP_CODE), PKT_INNER_ICMP_CODE);
  }
  // the quote is the packet as it is now: its TTL (decremented by ip_forward, or a TTL target's), and a
  // segment as TCPMSS left it (its MSS option lowered or inserted): the egress bytes need to know
  let qf: u32 = QF_TTL;
  store<u8>(q, load<u8>(p, PKT_OUT_TTL), PKT_QUOTE_TTL);
  const px = <u32>load<u8>(p, PKT_PX);
  if (load<u8>(p, PKT_PROTO) == 6 && (px & (PX_MSS_SET | PX_MSS_INSERT)) != 0) {
    qf |= ((px & PX_MSS_SET) != 0 ? QF_MSS_SET : 0) | ((px & PX_MSS_INSERT) != 0 ? QF_MSS_INSERT : 0);
    store<u16>(q, load<u16>(p, PKT_TCP_MSS), PKT_QUOTE_MSS);
  }
  store<u8>(q, <u8>qf, PKT_QUOTE_FLAGS);
  store<u16>(q, load<u16>(q, PKT_FLAGS) | PF_LOCAL | PF_SRC_SET | PF_INNER | <u16>((<u32>echo >> 2) << PF_IP_OPTS_SHIFT), PKT_FLAGS);
  // icmp_glue_bits: an error carries the offender's connection (nf_ct_attach),
  // confirmed or not, the other way round
  const id = pktCt(p);
  if (id != 0 && icmpIsError(type)) {
    ctAttach(q, id - 1, pktCtInfo(p) >= <u32>CTINFO_ESTABLISHED_REPLY ? CTINFO_RELATED : CTINFO_RELATED_REPLY);
  }
  xmitLocked(q);
  return true;
}

/**
 * icmp_xmit_lock: the node's ICMP socket is held while a message it builds
 * goes through OUTPUT and POSTROUTING; an icmp_send from there (REJECT of the
 * node's own ICMP) finds it taken and sends nothing. The loopback receive
 * side runs later, from softirq, with the lock free again.
 */
export let icmpXmitLock = false;
function xmitLocked(q: usize): void {
  const was = icmpXmitLock;
  icmpXmitLock = true;
  ipLocalOutRouted(q);
  icmpXmitLock = was;
}
export function icmpXmitUnlock(): bool {
  const was = icmpXmitLock;
  icmpXmitLock = false;
  return was;
}
export function icmpXmitRelock(was: bool): void { icmpXmitLock = was; }

/** icmp_reply for an echo request delivered locally; `specDst` is fib_compute_spec_dst. */
export function icmpEchoReply(p: usize, specDst: u32): bool {
  // icmp_reply: ip_options_echo first; when it fails nothing is sent
  const echo = ipOptEchoLen(p);
  if (echo < 0) return false;
  if (icmpXmitLock) return false;
  const gate = globalGate(ICMP_ECHOREPLY, 0, false);
  if (gate < 0) return false;
  const daddr = load<u32>(p, PKT_OUT_SRC);
  const tos = <u32>load<u8>(p, PKT_TOS);
  const mark = fwmarkReflect ? load<u32>(p, PKT_OUT_MARK) : 0;
  const err = ipRouteOutput(daddr, specDst, tos, 0, mark, 1, 0, 0, 0, 0);
  if (err != 0) return false;
  if (!xrlim(gate > 0, daddr, rtDev)) return false;
  const q = replyAlloc(p);
  if (q == 0) return false;
  store<u32>(q, rtSaddrNow(), PKT_SRC);
  store<u32>(q, daddr, PKT_DST);
  store<u8>(q, 1, PKT_PROTO);
  store<u8>(q, <u8>ipDefaultTtl, PKT_TTL);
  store<u8>(q, <u8>tos, PKT_TOS);
  store<u16>(q, <u16>(<u32>load<u16>(p, PKT_LEN) - ipHdrLen(p) + 20 + <u32>echo), PKT_LEN);
  store<u8>(q, <u8>ICMP_ECHOREPLY, PKT_ICMP_TYPE);
  store<u16>(q, load<u16>(p, PKT_OUT_ICMP_ID), PKT_ICMP_ID);
  store<u16>(q, load<u16>(p, PKT_ICMP_SEQ), PKT_ICMP_SEQ);
  store<u32>(q, mark, PKT_MARK);
  store<u16>(q, load<u16>(q, PKT_FLAGS) | PF_LOCAL | PF_SRC_SET | <u16>((<u32>echo >> 2) << PF_IP_OPTS_SHIFT), PKT_FLAGS);
  xmitLocked(q);
  return true;
}

import { rtSaddr } from "../route/rtable";
import { pktCt, pktCtInfo, ctAttach } from "../conntrack/core";
import { CTINFO_ESTABLISHED_REPLY, CTINFO_RELATED, CTINFO_RELATED_REPLY } from "../abi";
// @ts-ignore: decorator
@inline function rtSaddrNow(): u32 { return rtSaddr; }
