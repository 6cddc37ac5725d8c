/**
 * Egress: ip_local_out / ip_output / ip_finish_output (net/ipv4/ip_output.c)
 * for forwarded packets and for packets the node sends, plus the loopback
 * path for locally generated packets addressed to the node itself.
 */
import {
  PKT_SRC, PKT_DST, PKT_PROTO, PKT_ICMP_TYPE, PKT_SPORT, PKT_DPORT, PKT_TTL, PKT_LEN, PKT_FLAGS, PKT_MARK, PKT_VERDICT, PKT_REASON,
  PKT_ICMP_ID, PKT_INNER_SRC, PKT_INNER_DST, PKT_INNER_SPORT, PKT_INNER_DPORT, PKT_OUT_ICMP_ID, PKT_OUT_INNER_SRC,
  PKT_OUT_INNER_DST, PKT_OUT_INNER_SPORT, PKT_OUT_INNER_DPORT, PKT_RT_GW, PKT_RT_FLAGS, PKT_RT_MTU,
  PKT_OIF, PKT_OUT_TTL, PKT_NEXTHOP, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_SPORT, PKT_OUT_DPORT,
  PKT_FRAGS, PKT_FRAG_MAX, PKT_OUT_FLAGS, PKT_OUT_MARK, PKT_RT_TYPE, PKT_RT_TABLE, PKT_RT_INDEX, PKT_RULE_INDEX,
  PF_DF, VERDICT_FORWARD, VERDICT_LOCAL, VERDICT_DROP, DROP_MSGSIZE, DROP_NO_CARRIER,
  OF_BROADCAST, OF_LOCAL, OF_GATEWAY, OF_NO_CARRIER, DEV_MTU, DEV_FLAGS, IFF_LOWER_UP, IFF_LOOPBACK,
  RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST, CTR_IP_OUT_REQUESTS, CTR_IP_OUT_TRANSMITS, CTR_IP_FRAG_OKS, CTR_IP_FRAG_CREATES,
  CTR_IP_FRAG_FAILS, PKT_SIZE, PKT_IIF, PKT_TOS, PKT_PX, PKT_NF_VERDICT_RULE,
  OF_LOOP_LOCAL, OF_LOOP_DROP, CTR_IP_EXT_OUT_OCTETS,
} from "../abi";
import { devPtr } from "../dev";
import { count, countN, countDrop, countCast, countRcv } from "./stats";
import { ipHdrLen } from "../util/ip";
import {
  rtType, rtFlags, rtDev, rtGw, rtMtu, rtSaddr, rtTableId, rtRouteIndex, rtRule,
  RTCF_LOCAL, RTCF_BROADCAST, RTCF_MULTICAST,
} from "../route/rtable";
import { ipLocalDeliver } from "./local";
import { icmpOutCount, icmpXmitUnlock, icmpXmitRelock } from "./icmp";
import { nfActive, nfLocalOut, nfPostRouting, nfPreRouting, nfLocalIn } from "../netfilter/hooks";
import { hookLoopback } from "../netfilter/state";

/** Marks a packet dropped with `reason` and counts it. */
export function drop(p: usize, reason: i32): void {
  store<u8>(p, VERDICT_DROP, PKT_VERDICT);
  store<u16>(p, <u16>reason, PKT_REASON);
  countDrop(reason);
}

/** Copies the routing decision's provenance into the descriptor. */
// @ts-ignore: decorator
@inline
export function recordRoute(p: usize): void {
  store<u8>(p, <u8>rtType, PKT_RT_TYPE);
  store<u32>(p, rtTableId, PKT_RT_TABLE);
  store<u32>(p, rtRouteIndex, PKT_RT_INDEX);
  store<u32>(p, rtRule, PKT_RULE_INDEX);
}

/** Number of fragments ip_do_fragment's slow path makes of `len` bytes for `mtu` (20-byte header). */
export function fragmentCount(len: u32, mtu: u32): u32 {
  const payload = len - 20;
  const per = (mtu - 20) & ~7;
  return (payload + per - 1) / per;
}

/**
 * ip_finish_output for a packet leaving through `dev` towards `nexthop`
 * with the route MTU `mtu` (0 = device MTU). DF packets larger than the MTU
 * never get here (the caller answered them); others are fragmented.
 *
 * __ip_finish_output calls ip_fragment when the packet is longer than the
 * MTU *or* carries IPCB(skb)->frag_max_size (PKT_FRAG_MAX: conntrack
 * reassembled it), so a reassembled datagram always leaves as fragments,
 * even when it would fit whole. ip_do_fragment cuts at min(MTU,
 * frag_max_size). Its fast path keeps the fragments' own geometry (the
 * frag_list ip_frag_reasm built: each fragment fits, as none was larger
 * than frag_max_size); the count is modelled as the slow path's at
 * min(MTU, frag_max_size), which is the same count when every fragment but
 * the last was the largest one (as a sender's ip_fragment cuts them).
 */
// @ts-ignore: decorator
@inline
export function transmit(p: usize, dev: u32, nexthop: u32, mtuMetric: u32, outFlags: u32): u32 {
  const d = devPtr(dev);
  const mtu = mtuMetric != 0 ? mtuMetric : load<u32>(d, DEV_MTU);
  const len = <u32>load<u16>(p, PKT_LEN);
  const fragMax = <u32>load<u16>(p, PKT_FRAG_MAX);
  let frags: u32 = 1;
  let octets = <u64>len;
  if (len > mtu || fragMax != 0) {
    frags = fragmentCount(len, fragMax != 0 && fragMax < mtu ? fragMax : mtu);
    count(CTR_IP_FRAG_OKS);
    countN(CTR_IP_FRAG_CREATES, frags);
    store<u8>(p, <u8>min(frags, 255), PKT_FRAGS);
    // every fragment but the first adds a header of the datagram's length
    octets += <u64>(frags - 1) * <u64>ipHdrLen(p);
  }
  // ip_finish_output2, once per fragment: IpOutTransmits and IpExtOutOctets
  countN(CTR_IP_OUT_TRANSMITS, frags);
  countN(CTR_IP_EXT_OUT_OCTETS, octets);
  store<u16>(p, <u16>dev, PKT_OIF);
  store<u32>(p, nexthop, PKT_NEXTHOP);
  store<u32>(p, load<u32>(p, PKT_OUT_FLAGS) | outFlags, PKT_OUT_FLAGS);
  if ((load<u32>(d, DEV_FLAGS) & (IFF_LOWER_UP | IFF_LOOPBACK)) == 0) {
    store<u32>(p, load<u32>(p, PKT_OUT_FLAGS) | OF_NO_CARRIER, PKT_OUT_FLAGS);
    drop(p, DROP_NO_CARRIER);
    return frags;
  }
  store<u8>(p, VERDICT_FORWARD, PKT_VERDICT);
  return frags;
}

/**
 * Starts the live header (abi.ts: PKT_OUT_* are the packet's header while it
 * is processed) from the input fields.
 */
// @ts-ignore: decorator
@inline
export function setOutHeader(p: usize, src: u32, ttl: u32): void {
  store<u32>(p, src, PKT_OUT_SRC);
  store<u32>(p, load<u32>(p, PKT_DST), PKT_OUT_DST);
  store<u16>(p, load<u16>(p, PKT_SPORT), PKT_OUT_SPORT);
  store<u16>(p, load<u16>(p, PKT_DPORT), PKT_OUT_DPORT);
  store<u8>(p, <u8>ttl, PKT_OUT_TTL);
  store<u32>(p, load<u32>(p, PKT_MARK), PKT_OUT_MARK);
  store<u16>(p, load<u16>(p, PKT_ICMP_ID), PKT_OUT_ICMP_ID);
  store<u32>(p, load<u32>(p, PKT_INNER_SRC), PKT_OUT_INNER_SRC);
  store<u32>(p, load<u32>(p, PKT_INNER_DST), PKT_OUT_INNER_DST);
  store<u16>(p, load<u16>(p, PKT_INNER_SPORT), PKT_OUT_INNER_SPORT);
  store<u16>(p, load<u16>(p, PKT_INNER_DPORT), PKT_OUT_INNER_DPORT);
}

/** Remembers the output route (the rtable globals) on the descriptor: provenance and what dst_output needs. */
export function recordOutputRoute(p: usize): void {
  recordRoute(p);
  store<u16>(p, <u16>rtDev, PKT_OIF);
  store<u32>(p, rtGw, PKT_RT_GW);
  store<u32>(p, rtFlags, PKT_RT_FLAGS);
  store<u32>(p, rtMtu, PKT_RT_MTU);
}

/**
 * ip_local_out for a locally generated packet whose output route has just
 * been computed (the rtable globals): OUTPUT hooks (which may re-route),
 * then dst_output: POSTROUTING and out through the device, or through
 * loopback back into the node (PREROUTING on lo, INPUT, delivery).
 */
export function ipLocalOutRouted(p: usize): void {
  recordOutputRoute(p);
  const src = rtSaddr;
  store<u32>(p, src, PKT_SRC);
  setOutHeader(p, src, load<u8>(p, PKT_TTL));
  let dev = rtDev;
  let flags = rtFlags;
  let type = rtType;
  const mtu0 = rtMtu != 0 ? rtMtu : load<u32>(devPtr(dev), DEV_MTU);
  if ((load<u16>(p, PKT_FLAGS) & PF_DF) != 0 && <u32>load<u16>(p, PKT_LEN) > mtu0 &&
      (load<u32>(devPtr(dev), DEV_FLAGS) & IFF_LOOPBACK) == 0) {
    // ip_append_data refuses a DF datagram larger than the path MTU: the
    // socket gets EMSGSIZE and nothing reaches the IP output path
    drop(p, DROP_MSGSIZE);
    return;
  }
  if (load<u8>(p, PKT_PROTO) == 1) icmpOutCount(load<u8>(p, PKT_ICMP_TYPE));
  count(CTR_IP_OUT_REQUESTS); // __ip_local_out, before the OUTPUT hook
  if (nfActive()) {
    if (!nfLocalOut(p, dev, flags)) return;
    // a re-route left the new route on the descriptor
    dev = <u32>load<u16>(p, PKT_OIF);
    flags = load<u32>(p, PKT_RT_FLAGS);
    type = <u32>load<u8>(p, PKT_RT_TYPE);
  }
  const gw = load<u32>(p, PKT_RT_GW);
  const mtuMetric = load<u32>(p, PKT_RT_MTU);
  const daddr = load<u32>(p, PKT_OUT_DST);
  if (type == RTN_LOCAL || (flags & RTCF_LOCAL) != 0 && (load<u32>(devPtr(dev), DEV_FLAGS) & IFF_LOOPBACK) != 0) {
    // ip_output on lo: POSTROUTING, then loopback_xmit -> ip_rcv on lo; the
    // skb keeps its dst (no input routing) and its conntrack entry
    if (nfActive() && !nfPostRouting(p, 0, dev, daddr, flags, false)) return;
    const len = <u64>load<u16>(p, PKT_LEN);
    countN(CTR_IP_OUT_TRANSMITS, 1);
    countN(CTR_IP_EXT_OUT_OCTETS, len);
    countRcv(len, load<u8>(p, PKT_TOS)); // ip_rcv on lo: IpInReceives, IpExtInOctets, the ECN codepoint
    store<u16>(p, <u16>dev, PKT_OIF);
    store<u32>(p, daddr, PKT_NEXTHOP);
    // the receive side runs from softirq, after the sender released its locks
    const locked = icmpXmitUnlock();
    if ((!nfActive() || nfPreRouting(p, dev)) && (!nfActive() || nfLocalIn(p, dev, flags | RTCF_LOCAL, true))) {
      store<u8>(p, VERDICT_LOCAL, PKT_VERDICT);
      store<u32>(p, OF_LOCAL, PKT_OUT_FLAGS);
      ipLocalDeliver(p, RTN_LOCAL, flags | RTCF_LOCAL);
    }
    icmpXmitRelock(locked);
    return;
  }
  const nexthop = gw != 0 ? gw : daddr;
  // ip_mc_output (the route's output for RTCF_LOCAL broadcast/multicast,
  // __mkroute_output): the copy for the node itself goes first
  if ((flags & RTCF_LOCAL) != 0 && (flags & (RTCF_BROADCAST | RTCF_MULTICAST)) != 0) mcLoopback(p, dev, flags);
  if (nfActive() && !nfPostRouting(p, 0, dev, nexthop, flags, false)) {
    store<u16>(p, <u16>dev, PKT_OIF);
    return;
  }
  let outFlags: u32 = 0;
  if (flags & RTCF_BROADCAST) outFlags |= OF_BROADCAST;
  if (gw != 0) outFlags |= OF_GATEWAY;
  const frags = <u64>transmit(p, dev, nexthop, mtuMetric, outFlags);
  // ip_finish_output2's OutMcast/OutBcast, each fragment with its own header (a sender's has no options)
  countCast(true, type, frags, <u64>load<u16>(p, PKT_LEN) + (frags - 1) * <u64>ipHdrLen(p));
}

/** The original's fields mcLoopback keeps while the copy runs on the descriptor. */
const mcSaved = memory.data(PKT_SIZE);

/**
 * ip_mc_output's copy of a broadcast, or of a multicast to a group the node
 * joined (the socket's IP_MULTICAST_LOOP, on by default), for the node
 * itself: skb_clone, NF_HOOK(POST_ROUTING, in none, out `dev`) ->
 * ip_mc_finish_output -> dev_loopback_xmit -> netif_rx as PACKET_LOOPBACK
 * -> ip_rcv on `dev` (IpInReceives): PREROUTING with in `dev` (the clone
 * carries the sender's conntrack entry, which nf_conntrack_in leaves alone:
 * "previously seen"), no input routing (ip_rcv_finish_core: it keeps its
 * dst), ip_local_deliver: INPUT with in `dev`, the transport. netif_rx
 * runs the receive at its local_bh_enable, before the original reaches its
 * own POSTROUTING. The clone's header is its own (NAT or mangle on it leave
 * the original's alone): the original's fields are put back afterwards, and
 * the copy's fate is OF_LOOP_LOCAL or OF_LOOP_DROP (its drop is counted).
 */
function mcLoopback(p: usize, dev: u32, flags: u32): void {
  const type: u32 = (flags & RTCF_BROADCAST) != 0 ? RTN_BROADCAST : RTN_MULTICAST;
  memory.copy(mcSaved, p, PKT_SIZE);
  const daddr = load<u32>(p, PKT_OUT_DST);
  let ok = !nfActive() || nfPostRouting(p, 0, dev, daddr, flags, false);
  if (ok) {
    countRcv(<u64>load<u16>(p, PKT_LEN), load<u8>(p, PKT_TOS)); // ip_rcv of the copy: IpInReceives, IpExtInOctets, ECN
    store<u16>(p, <u16>dev, PKT_IIF);
    hookLoopback(p);
    // the receive side runs from softirq, after the sender released its locks
    const locked = icmpXmitUnlock();
    if (nfActive()) ok = nfPreRouting(p, dev);
    // ip_rcv_finish_core, with the dst the copy kept: its InMcast/InBcast, before INPUT
    if (ok) countCast(false, type, 1, <u64>load<u16>(p, PKT_LEN));
    if (ok && nfActive()) ok = nfLocalIn(p, dev, flags, true);
    hookLoopback(0);
    if (ok) {
      store<u8>(p, VERDICT_LOCAL, PKT_VERDICT);
      ipLocalDeliver(p, type, flags);
      ok = load<u8>(p, PKT_VERDICT) != VERDICT_DROP;
    }
    icmpXmitRelock(locked);
  }
  // the original's header, route, verdict and flags; the rules, NAT
  // operations and connection the copy added stay
  memory.copy(p + PKT_VERDICT, mcSaved + PKT_VERDICT, PKT_OUT_DPORT + 2 - PKT_VERDICT);
  memory.copy(p + PKT_OUT_FLAGS, mcSaved + PKT_OUT_FLAGS, PKT_OUT_MARK + 4 - PKT_OUT_FLAGS);
  memory.copy(p + PKT_OUT_INNER_SRC, mcSaved + PKT_OUT_INNER_SRC, PKT_OUT_ICMP_ID + 2 - PKT_OUT_INNER_SRC);
  store<u8>(p, load<u8>(mcSaved, PKT_TOS), PKT_TOS);
  store<u32>(p, load<u32>(mcSaved, PKT_FLAGS), PKT_FLAGS); // PKT_FLAGS, PKT_IIF
  store<u16>(p, load<u16>(mcSaved, PKT_PX), PKT_PX); // PKT_PX, PKT_NF_DROP_HOOK
  store<u32>(p, load<u32>(mcSaved, PKT_NF_VERDICT_RULE), PKT_NF_VERDICT_RULE);
  memory.copy(p + PKT_RT_FLAGS, mcSaved + PKT_RT_FLAGS, PKT_RT_GW + 4 - PKT_RT_FLAGS);
  store<u32>(p, load<u32>(p, PKT_OUT_FLAGS) | (ok ? OF_LOOP_LOCAL : OF_LOOP_DROP), PKT_OUT_FLAGS);
}
