/**
 * The packet pipeline: one packet from ingress to egress, in the order the
 * kernel handles it. Read this file top to bottom to follow a packet.
 *
 *  arriving on a device                      sent by a local process
 *  --------------------                      -----------------------
 *  ipRcv           (ip_rcv, ip_rcv_finish)    ipLocalOut   (ip_route_output_flow,
 *   |  input routing  route/input.ts            |           ip_local_out)
 *   +-> local / broadcast -> ipLocalDeliver     +-> local route -> loopback ->
 *   |       (ipv4/local.ts: TCP RST, UDP port   |       ipLocalDeliver
 *   |        unreachable, echo reply)           +-> transmit (ipv4/output.ts)
 *   +-> error route -> ipError (ICMP unreachable)
 *   +-> unicast -> ipForward (TTL, MTU, redirect) -> transmit
 *
 * Netfilter hooks run where the kernel runs them (netfilter/hooks.ts):
 * PREROUTING before input routing, INPUT before local delivery, FORWARD
 * after the forwarding checks and TTL decrement, OUTPUT after output routing
 * (ipv4/output.ts, which re-routes if OUTPUT changed the packet), and
 * POSTROUTING just before the device. While a packet is processed its
 * header is the live header (PKT_OUT_*): NAT rewrites it, routing reads it.
 *
 * Speed: the steps of the forwarding path (here, in netfilter/hooks.ts,
 * conntrack/, nat/, route/cache.ts, ipv4/output.ts) are @inline, so that a
 * forwarded packet runs as one compiled function: a WebAssembly call costs
 * a frame, a stack check and register spills, about as much as a step's
 * own work on the established-flow path.
 */
import {
  PKT_SIZE, PKT_SHIFT, PKT_SRC, PKT_DST, PKT_SPORT, PKT_DPORT, PKT_PROTO, PKT_TCPFLAGS, PKT_TTL, PKT_TOS, PKT_LEN,
  PKT_FLAGS, PKT_IIF, PKT_IP_ERROR, PKT_FRAG_MAX, PKT_BOUND_OIF, PKT_MARK, PKT_UID, PKT_TIME, PKT_VERDICT, PKT_OIF,
  PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_SPORT, PKT_OUT_DPORT, PKT_OUT_MARK, PKT_PX, PX_HAS_SOCK, PX_MSS_INSERT, PKT_CT_INFO, CTINFO_NONE,
  PKT_NF_DROP_HOOK, PKT_NF_VERDICT_RULE, PKT_REPLY_COUNT, PKT_REPLY_FIRST, PKT_DEFERRED, PKT_DEFER_OIF,
  PKT_DEFER_NEXTHOP, PKT_DEFER_MTU, PKT_DEFER_FLAGS,
  PKT_OUT_FLAGS, PKT_NEXTHOP, PKT_RT_INDEX, PKT_RULE_INDEX, PF_DF, PF_LOCAL, PF_L2_OTHER, PF_OTHERHOST, PF_SRC_SET, PF_SO_BROADCAST, VERDICT_LOCAL,
  RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST, RTN_UNREACHABLE, RTN_UNICAST,
  DROP_DEV_DOWN, DROP_IP_RPFILTER, DROP_IP_INHDR, DROP_PKT_TOO_BIG, DROP_IP_INADDRERRORS,
  DROP_IP_INNOROUTES, DROP_BLACKHOLE, DROP_PROHIBIT, DROP_L2_NOT_HOST, DROP_OTHERHOST, DROP_BAD_SOURCE, DROP_NO_DEVICE,
  DROP_OUTPUT_EINVAL, DROP_NOT_SPECIFIED, DROP_BAD_SOURCE, DROP_SOCK_BROADCAST, OF_REDIRECT, OF_GATEWAY, OF_LOCAL, OF_BROADCAST, DEV_MTU, DEV_FORWARDING,
  CTR_IP_IN_RECEIVES, CTR_IP_EXT_IN_OCTETS, CTR_IP_EXT_IN_NOECT_PKTS, PKT_RCV_PAD, CTR_IP_IN_HDR_ERRORS, CTR_IP_FORW_DATAGRAMS, CTR_IP_FRAG_FAILS,
  CTR_IP_IN_ADDR_ERRORS, CTR_IP_EXT_IN_NO_ROUTES, CTR_IP_OUT_NO_ROUTES, CTR_TCP_EXT_IP_RPFILTER,
} from "./abi";
import { devPtr, devIsUp } from "./dev";
import { count, countN, countCast } from "./ipv4/stats";
import { clockAdvance, jiffies } from "./ipv4/clock";
import { ipRouteInputCached } from "./route/cache";
import { ipRouteOutput, ipDevFind } from "./route/output";
import {
  rtType, rtFlags, rtDev, rtGw, rtMtu, rtError, rtSaddr, RTCF_LOCAL, RTCF_DOREDIRECT, RTCF_BROADCAST, RTCF_MULTICAST,
} from "./route/rtable";
import { drop, recordRoute, transmit, setOutHeader, ipLocalOutRouted } from "./ipv4/output";
import { ipLocalDeliver } from "./ipv4/local";
import { connSockSend } from "./ipv4/connsock";
import { ipRcvHeaderError, ipRcvOptions } from "./ipv4/rcv";
import { IPERR_SRR } from "./abi";
import {
  icmpSend, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_FRAG_NEEDED, ICMP_EXC_TTL, ICMP_NET_UNREACH,
  ICMP_HOST_UNREACH, ICMP_PKT_FILTERED, ICMP_REDIRECT, ICMP_REDIR_HOST,
} from "./ipv4/icmp";
import { getPeer, P_TOKENS, P_LAST, P_NREDIR } from "./ipv4/peer";
import { setCurrent, replyRingClear, replyRingUsed } from "./ipv4/reply";
// @ts-ignore: decorator
@inline function replyRingUsedNow(): u32 { return replyRingUsed(); }
import { EINVAL, ENETUNREACH, EHOSTUNREACH, EACCES, ENODEV } from "./util/errno";
import { isLbcast, isMulticast, isZeronet } from "./util/ip";
import { localTableType } from "./fib/table";
import { hz, ipDefaultTtl } from "./config";
import { nfActive, nfPreRouting, nfLocalIn, nfForward, nfPostRouting, nfPostRoutingConfirm } from "./netfilter/hooks";
import { smpCpus, smpDeferring, smpSetDeferring, roundEnd } from "./smp";
import { traceClear } from "./netfilter/trace";
import { ctPacketBegin, ctPacketDone, ctSnapshot } from "./conntrack/core";
import { ctGcMaybeRun } from "./conntrack/table";
import { ctPrefetchBatch, pfStart, pfStep, pfPublish, pfHint, pfWorthwhile, PREFETCH_GROUP } from "./conntrack/prefetch";

/** The next group's prefetch advances a step every PREFETCH_STRIDE_MASK + 1 packets. */
const PREFETCH_STRIDE_MASK: u32 = 7;
import { ctEnabled } from "./netfilter/program";
import { replyRingPtr } from "./ipv4/reply";

/**
 * Processes `n` descriptors at `base`. One call per batch. With more than
 * one CPU modelled and `final` false, the batch's last round (smp.ts) is
 * left for the next call; returns how many descriptors were processed.
 */
export function processBatch(base: usize, n: u32, final: bool = true): u32 {
  replyRingClear();
  traceClear();
  if (smpCpus > 1 && nfActive() && ctEnabled) return processRounds(base, n, final);
  // (below pfWorthwhile's size not even the per-packet bookkeeping: the whole batch goes without)
  const prefetch = nfActive() && ctEnabled && pfWorthwhile();
  // the connections of group g + 1 are prefetched a step at a time while group g is processed
  if (prefetch) ctPrefetchBatch(base, min<u32>(PREFETCH_GROUP, n));
  for (let i: u32 = 0; i < n; i++) {
    if (prefetch) {
      const inGroup = i & (PREFETCH_GROUP - 1);
      if (inGroup == 0) {
        while (pfStep()) {} // what is left of this group's prefetch
        pfPublish(); // its answers are this group's lookups
        const next = i + PREFETCH_GROUP;
        if (next < n) pfStart(base + (<usize>next << PKT_SHIFT), min<u32>(PREFETCH_GROUP, n - next));
      } else if ((inGroup & PREFETCH_STRIDE_MASK) == 0) {
        pfStep();
      }
    }
    const p = base + (<usize>i << PKT_SHIFT);
    ctPacketBegin();
    if (prefetch) pfHint(i & (PREFETCH_GROUP - 1));
    packetRun(p, i);
    packetEnd(p);
    if (nfActive()) ctPacketDone();
  }
  return n;
}

/** The first part of a packet's processing: from arrival (or the sending socket) on. */
// @ts-ignore: decorator
@inline
function packetRun(p: usize, i: u32): void {
  initOutputs(p);
  setCurrent(p, i);
  clockAdvance(load<u64>(p, PKT_TIME));
  if (nfActive()) ctGcMaybeRun();
  if (load<u16>(p, PKT_FLAGS) & PF_LOCAL) {
    store<u8>(p, <u8>PX_HAS_SOCK, PKT_PX); // a process sent it: skb->sk is its socket
    ipLocalOut(p);
  } else {
    ipRcv(p);
  }
}

/** The connection after the packet (and after the replies it caused), into its descriptor and its replies'. */
// @ts-ignore: decorator
@inline
function packetEnd(p: usize): void {
  if (!nfActive()) return;
  ctSnapshot(p);
  const count = <u32>load<u16>(p, PKT_REPLY_COUNT);
  if (count == 0) return;
  const first = load<u32>(p, PKT_REPLY_FIRST);
  for (let r = first; r < first + count; r++) ctSnapshot(replyRingPtr() + (<usize>r << PKT_SHIFT));
}

/** processBatch with several CPUs: round by round, each in two phases (smp.ts). */
function processRounds(base: usize, n: u32, final: bool): u32 {
  let i: u32 = 0;
  while (i < n) {
    const j = roundEnd(base, i, n);
    if (j == n && !final && i != 0) break; // the next call decides where this round ends
    ctPacketBegin();
    // phase 1: every packet of the round as far as its confirm
    smpSetDeferring(true);
    for (let k = i; k < j; k++) packetRun(base + (<usize>k << PKT_SHIFT), k);
    smpSetDeferring(false);
    // phase 2: in the same order, the confirms (and the transmits they allow)
    for (let k = i; k < j; k++) {
      const p = base + (<usize>k << PKT_SHIFT);
      if (load<u8>(p, PKT_DEFERRED) != 0) forwardResume(p);
    }
    for (let k = i; k < j; k++) packetEnd(base + (<usize>k << PKT_SHIFT));
    ctPacketDone();
    i = j;
  }
  return i;
}

/**
 * Output fields start clean (bytes 72..127, 144..219 and 224..255; 128..143
 * and 220..223 are inputs); no route, rule or connection yet.
 */
export function initOutputs(p: usize): void {
  // explicit stores: memory.fill of a few dozen bytes is a call into the engine
  const z = i32x4.splat(0);
  v128.store(p, z, 72);
  v128.store(p, z, 88);
  v128.store(p, z, 104);
  store<u64>(p, 0, 120);
  v128.store(p, z, 144);
  v128.store(p, z, 160);
  v128.store(p, z, 176);
  v128.store(p, z, 192);
  store<u64>(p, 0, 208);
  store<u32>(p, 0, 216);
  v128.store(p, z, 224);
  v128.store(p, z, 240);
  store<u32>(p, 0xffffffff, PKT_RT_INDEX);
  store<u32>(p, 0xffffffff, PKT_RULE_INDEX);
  store<u8>(p, <u8>CTINFO_NONE, PKT_CT_INFO);
  store<u8>(p, 0xff, PKT_NF_DROP_HOOK);
  store<u32>(p, 0xffffffff, PKT_NF_VERDICT_RULE);
}

// ---------------------------------------------------------------------------
// Ingress
// ---------------------------------------------------------------------------

/** ip_rcv + ip_rcv_finish: a packet arrives on PKT_IIF. */
// @ts-ignore: decorator
@inline
function ipRcv(p: usize): void {
  const dev = <u32>load<u16>(p, PKT_IIF);
  if (!devIsUp(dev)) { drop(p, DROP_DEV_DOWN); return; }
  // ip_rcv_core: "drop all the crap" a promiscuous device receives, before any counter
  if (load<u16>(p, PKT_FLAGS) & PF_OTHERHOST) { drop(p, DROP_OTHERHOST); return; }
  count(CTR_IP_IN_RECEIVES);
  // IpExtInOctets: skb->len, padding included; a reassembled datagram's fragments were counted by the reassembly
  const whole = load<u16>(p, PKT_FRAG_MAX) == 0;
  if (whole) countN(CTR_IP_EXT_IN_OCTETS, <u64>load<u16>(p, PKT_LEN) + <u64>load<u16>(p, PKT_RCV_PAD));
  setOutHeader(p, load<u32>(p, PKT_SRC), load<u8>(p, PKT_TTL));
  // ip_rcv_core: a header the kernel rejects never reaches PREROUTING (ipv4/rcv.ts, which counts the ECN codepoint)
  const ipErr = <u32>load<u8>(p, PKT_IP_ERROR);
  if (ipErr != 0 && ipErr < <u32>IPERR_SRR) { ipRcvHeaderError(p, ipErr); return; }
  // its ECN codepoint (IpExtIn{NoECT,ECT1,ECT0,CE}Pkts), after the version/IHL check
  if (whole) count(CTR_IP_EXT_IN_NOECT_PKTS + <i32>(load<u8>(p, PKT_TOS) & 3));

  if (nfActive() && !nfPreRouting(p, dev)) return;

  // ip_route_input_noref, with the header as PREROUTING left it
  const src = load<u32>(p, PKT_OUT_SRC);
  const dst = load<u32>(p, PKT_OUT_DST);
  const reason = ipRouteInputCached(dst, src, load<u8>(p, PKT_TOS), dev, load<u32>(p, PKT_OUT_MARK),
    load<u8>(p, PKT_PROTO), load<u16>(p, PKT_OUT_SPORT), load<u16>(p, PKT_OUT_DPORT));
  recordRoute(p);
  if (reason != 0) {
    if (reason == DROP_IP_RPFILTER) count(CTR_TCP_EXT_IP_RPFILTER);
    drop(p, reason);
    return;
  }
  // ip_rcv_options (IHL > 5) after the route: only options it rejects come here (ipv4/rcv.ts)
  if (ipErr != 0) { ipRcvOptions(p, ipErr, rtFlags); return; }
  const type = rtType;
  countCast(false, type, 1, <u64>load<u16>(p, PKT_LEN)); // ip_rcv_finish_core's InMcast/InBcast
  if (type == RTN_UNREACHABLE) { ipError(p, dev); return; }
  if (type == RTN_LOCAL || type == RTN_BROADCAST || type == RTN_MULTICAST) {
    // ip_local_deliver: INPUT, then the transport
    const flags = rtFlags;
    store<u16>(p, <u16>rtDev, PKT_OIF);
    store<u32>(p, dst, PKT_NEXTHOP);
    if (nfActive() && !nfLocalIn(p, dev, flags, true)) return;
    store<u8>(p, VERDICT_LOCAL, PKT_VERDICT);
    store<u32>(p, OF_LOCAL | (type == RTN_BROADCAST ? OF_BROADCAST : 0), PKT_OUT_FLAGS);
    ipLocalDeliver(p, type, flags);
    return;
  }
  ipForward(p, dev);
}

/** ip_error: the input route is an error; answer with ICMP unreachable (rate limited). */
function ipError(p: usize, dev: u32): void {
  const e = rtError;
  if (load<u8>(devPtr(dev), DEV_FORWARDING) == 0) {
    if (e == EHOSTUNREACH) { count(CTR_IP_IN_ADDR_ERRORS); drop(p, DROP_IP_INADDRERRORS); }
    else if (e == ENETUNREACH) { count(CTR_IP_EXT_IN_NO_ROUTES); drop(p, DROP_IP_INNOROUTES); }
    else drop(p, errnoReason(e));
    return;
  }
  let code: u32;
  if (e == EHOSTUNREACH) code = ICMP_HOST_UNREACH;
  else if (e == ENETUNREACH) { code = ICMP_NET_UNREACH; count(CTR_IP_EXT_IN_NO_ROUTES); }
  else if (e == EACCES) code = ICMP_PKT_FILTERED;
  else { drop(p, errnoReason(e)); return; } // EINVAL (blackhole): silent
  drop(p, errnoReason(e));
  // peer bucket of ip_error: burst error_burst (5 s), cost error_cost (1 s)
  const peer = getPeer(load<u32>(p, PKT_OUT_SRC));
  const now = jiffies();
  let tokens = load<i64>(peer, P_TOKENS) + (now - load<i64>(peer, P_LAST));
  const burst = 5 * <i64>hz;
  const cost = <i64>hz;
  if (tokens > burst) tokens = burst;
  store<i64>(peer, now, P_LAST);
  let send = true;
  if (tokens >= cost) tokens -= cost;
  else send = false;
  store<i64>(peer, tokens, P_TOKENS);
  if (send) icmpSend(p, ICMP_DEST_UNREACH, code, 0, 0, true);
}

function errnoReason(e: i32): i32 {
  if (e == EHOSTUNREACH) return DROP_IP_INADDRERRORS;
  if (e == ENETUNREACH) return DROP_IP_INNOROUTES;
  if (e == EACCES) return DROP_PROHIBIT;
  return DROP_BLACKHOLE;
}

// ---------------------------------------------------------------------------
// Forwarding
// ---------------------------------------------------------------------------

/** ip_forward + ip_forward_finish, then ip_output. */
// @ts-ignore: decorator
@inline
function ipForward(p: usize, inDev: u32): void {
  // the route, before anything else may route (ICMP answers do)
  const oif = rtDev;
  const gw = rtGw;
  const flags = rtFlags;
  const mtuMetric = rtMtu;
  if (load<u16>(p, PKT_FLAGS) & PF_L2_OTHER) { drop(p, DROP_L2_NOT_HOST); return; } // pkt_type != PACKET_HOST
  const ttl = <u32>load<u8>(p, PKT_TTL);
  if (ttl <= 1) {
    count(CTR_IP_IN_HDR_ERRORS);
    icmpSend(p, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0, flags, true);
    drop(p, DROP_IP_INHDR);
    return;
  }
  count(CTR_IP_FORW_DATAGRAMS);
  const mtu = mtuMetric != 0 ? mtuMetric : load<u32>(devPtr(oif), DEV_MTU);
  // ip_exceeds_mtu: longer than the MTU with DF set; a datagram conntrack
  // reassembled (frag_max_size set, skb->ignore_df) exceeds it only when one
  // of its fragments did: otherwise it is refragmented as it came (transmit)
  const fragMax = <u32>load<u16>(p, PKT_FRAG_MAX);
  if ((load<u16>(p, PKT_FLAGS) & PF_DF) != 0 && <u32>load<u16>(p, PKT_LEN) > mtu && (fragMax == 0 || fragMax > mtu)) {
    count(CTR_IP_FRAG_FAILS);
    icmpSend(p, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu, flags, true);
    store<u16>(p, <u16>oif, PKT_OIF);
    drop(p, DROP_PKT_TOO_BIG);
    return;
  }
  // ip_decrease_ttl
  store<u8>(p, <u8>(ttl - 1), 78 /* PKT_OUT_TTL */);
  let outFlags: u32 = gw != 0 ? OF_GATEWAY : 0;
  if (flags & RTCF_DOREDIRECT) {
    outFlags |= OF_REDIRECT;
    ipRtSendRedirect(p, oif, gw != 0 ? gw : load<u32>(p, PKT_OUT_DST));
  }
  const nexthop = gw != 0 ? gw : load<u32>(p, PKT_OUT_DST);
  if (nfActive()) {
    if (!nfForward(p, inDev, oif, nexthop, flags, mtuMetric)) { store<u16>(p, <u16>oif, PKT_OIF); return; }
    // ip_output: POSTROUTING sees the ingress device too
    if (!nfPostRouting(p, inDev, oif, nexthop, flags, true, false, mtuMetric)) { store<u16>(p, <u16>oif, PKT_OIF); return; }
    if (smpDeferring) {
      // another CPU may confirm first: the rest waits for the round's second phase
      store<u8>(p, 1, PKT_DEFERRED);
      store<u16>(p, <u16>oif, PKT_DEFER_OIF);
      store<u32>(p, nexthop, PKT_DEFER_NEXTHOP);
      store<u32>(p, mtuMetric, PKT_DEFER_MTU);
      store<u32>(p, outFlags, PKT_DEFER_FLAGS);
      return;
    }
    if (!nfPostRoutingConfirm(p)) { store<u16>(p, <u16>oif, PKT_OIF); return; }
  }
  forwardOut(p, oif, nexthop, mtuMetric, outFlags, flags);
}

/**
 * ip_finish_output for a forwarded packet: ip_forward checked its length
 * against the MTU, but a target may have made it longer since (TCPMSS's
 * inserted option, PX_MSS_INSERT: the only target that lengthens a packet):
 * __ip_finish_output sends it to ip_fragment, which with DF set (and
 * skb->ignore_df clear: not a datagram conntrack reassembled) counts
 * FragFails, answers ICMP frag needed with the MTU and frees it. Otherwise
 * transmit (which fragments what is too long without DF).
 */
// @ts-ignore: decorator
@inline
function forwardOut(p: usize, oif: u32, nexthop: u32, mtuMetric: u32, outFlags: u32, rtFlags: u32): void {
  if ((load<u8>(p, PKT_PX) & PX_MSS_INSERT) != 0 && (load<u16>(p, PKT_FLAGS) & PF_DF) != 0 && load<u16>(p, PKT_FRAG_MAX) == 0) {
    const mtu = mtuMetric != 0 ? mtuMetric : load<u32>(devPtr(oif), DEV_MTU);
    if (<u32>load<u16>(p, PKT_LEN) > mtu) {
      count(CTR_IP_FRAG_FAILS);
      icmpSend(p, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu, rtFlags, true);
      store<u16>(p, <u16>oif, PKT_OIF);
      drop(p, DROP_PKT_TOO_BIG);
      return;
    }
  }
  transmit(p, oif, nexthop, mtuMetric, outFlags);
}

/** The rest of a forwarded packet whose confirm was deferred: the confirm, then the transmit. */
function forwardResume(p: usize): void {
  store<u8>(p, 0, PKT_DEFERRED);
  const oif = <u32>load<u16>(p, PKT_DEFER_OIF);
  if (!nfPostRoutingConfirm(p)) { store<u16>(p, <u16>oif, PKT_OIF); return; }
  // (the route's RTCF flags are not kept: a forwarded packet's unicast route has none icmp_send reads)
  forwardOut(p, oif, load<u32>(p, PKT_DEFER_NEXTHOP), load<u32>(p, PKT_DEFER_MTU), load<u32>(p, PKT_DEFER_FLAGS), 0);
}

/**
 * ip_rt_send_redirect: at most ip_rt_redirect_number (9) redirects per peer,
 * spaced by ip_rt_redirect_load << n (HZ/50 << n), reset after
 * ip_rt_redirect_silence ((HZ/50) << 10) without redirected packets.
 */
function ipRtSendRedirect(p: usize, oif: u32, gw: u32): void {
  // (IN_DEV_TX_REDIRECTS was checked when the route was made)
  const peer = getPeer(load<u32>(p, PKT_OUT_SRC));
  const now = jiffies();
  const load_ = <i64>(hz / 50);
  const silence = load_ << 10;
  const last = load<i64>(peer, P_LAST);
  if (now > last + silence) {
    store<i64>(peer, 0, P_TOKENS);
    store<u32>(peer, 0, P_NREDIR);
  }
  const n = load<u32>(peer, P_NREDIR);
  if (n >= 9) { store<i64>(peer, now, P_LAST); return; }
  if (n == 0 || now > load<i64>(peer, P_LAST) + (load_ << n)) {
    // the quoted header already carries the decremented TTL
    icmpSend(p, ICMP_REDIRECT, ICMP_REDIR_HOST, gw, 0, true);
    store<i64>(peer, now, P_LAST);
    store<u32>(peer, n + 1, P_NREDIR);
  }
}

// ---------------------------------------------------------------------------
// Locally generated
// ---------------------------------------------------------------------------

/** A packet sent by a process on the node: output routing, then out or loopback. */
function ipLocalOut(p: usize): void {
  const flags = <u32>load<u16>(p, PKT_FLAGS);
  if (load<u8>(p, PKT_TTL) == 0) store<u8>(p, <u8>ipDefaultTtl, PKT_TTL); // the socket's default TTL
  let saddr = (flags & PF_SRC_SET) ? load<u32>(p, PKT_SRC) : 0;
  const oif = <u32>load<u16>(p, PKT_BOUND_OIF);
  const proto = <u32>load<u8>(p, PKT_PROTO);
  if (saddr != 0) {
    // inet_bind: the address must be the node's (local), or a broadcast or
    // multicast address, in which case the socket sends from whatever
    // source routing picks ("inet_saddr = 0; /* Use device */")
    const type = inetAddrType(saddr);
    if (type == RTN_MULTICAST || type == RTN_BROADCAST) saddr = 0;
    else if (type != RTN_LOCAL) { drop(p, DROP_BAD_SOURCE); return; }
  }
  const err = ipRouteOutput(load<u32>(p, PKT_DST), saddr, load<u8>(p, PKT_TOS), oif, load<u32>(p, PKT_MARK),
    proto, load<u16>(p, PKT_SPORT), load<u16>(p, PKT_DPORT), load<u32>(p, PKT_UID), 0);
  if (err != 0) {
    recordRoute(p);
    // udp_sendmsg and tcp_v4_connect count OutNoRoutes; raw sockets do not
    if (err == -ENETUNREACH && (proto == 6 || proto == 17)) count(CTR_IP_OUT_NO_ROUTES);
    drop(p, outputErrorReason(err, saddr, oif));
    return;
  }
  // udp_sendmsg/raw_sendmsg: a broadcast needs SO_BROADCAST (`so_broadcast`,
  // else EACCES); tcp_v4_connect refuses broadcast and multicast
  if ((rtFlags & RTCF_BROADCAST) != 0 && (proto == 6 || (flags & PF_SO_BROADCAST) == 0)) {
    recordRoute(p);
    drop(p, proto == 6 ? DROP_IP_INNOROUTES : DROP_SOCK_BROADCAST);
    return;
  }
  if (proto == 6 && (rtFlags & RTCF_MULTICAST)) { recordRoute(p); drop(p, DROP_IP_INNOROUTES); return; }
  // a socket sends to a multicast group with IP_MULTICAST_TTL, default 1
  if (isMulticast(load<u32>(p, PKT_DST))) store<u8>(p, 1, PKT_TTL);
  // the sending socket, hashed (tcp_v4_connect) or bound (udp_sendmsg) before the packet is built: its replies find it (ipv4/connsock.ts)
  if (proto == 6 || proto == 17) {
    connSockSend(proto, rtSaddr, load<u16>(p, PKT_SPORT), load<u32>(p, PKT_DST), load<u16>(p, PKT_DPORT), proto == 6 ? <u32>load<u8>(p, PKT_TCPFLAGS) : 0);
  }
  // OUTPUT, re-route, POSTROUTING: ipv4/output.ts
  ipLocalOutRouted(p);
}

/** inet_addr_type: RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST or RTN_UNICAST for an address. */
function inetAddrType(a: u32): u32 {
  if (isZeronet(a) || isLbcast(a)) return RTN_BROADCAST;
  if (isMulticast(a)) return RTN_MULTICAST;
  return localTableType(a);
}

/** What the sending socket's error means, as a drop reason. */
function outputErrorReason(err: i32, saddr: u32, oif: u32): i32 {
  if (rtError != 0) return errnoReason(rtError); // the FIB said so (route or rule)
  if (err == -ENETUNREACH) {
    if (saddr != 0 && ipDevFind(saddr) == 0) return DROP_BAD_SOURCE;
    if (oif != 0) return DROP_NO_DEVICE; // bound device down
    return DROP_IP_INNOROUTES;
  }
  if (err == -ENODEV) return DROP_NO_DEVICE;
  if (err == -EINVAL) return DROP_OUTPUT_EINVAL;
  return DROP_NOT_SPECIFIED;
}


