/**
 * The netfilter hooks of the IPv4 path, each running its functions in the
 * kernel's priority order (include/uapi/linux/netfilter_ipv4.h):
 *
 *   PREROUTING   raw -300, conntrack -200, mangle -150, nat (DNAT) -100
 *   INPUT        mangle -150, filter 0, nat (SNAT) 100, confirm
 *   FORWARD      mangle -150, filter 0
 *   OUTPUT       raw -300, conntrack -200, mangle -150 (+ reroute),
 *                nat (DNAT) -100 (+ reroute), filter 0
 *   POSTROUTING  mangle -150, nat (SNAT) 100, confirm
 *
 * Conntrack and NAT run only when the ruleset turns them on (a nat table, or
 * a conntrack match or target), as the kernel registers their hooks only
 * then. Each function returns true when the packet goes on; a drop has been
 * recorded on the descriptor (reason, hook, and the rule that decided).
 */
import {
  PKT_PROTO, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_MARK, PKT_TOS, PKT_NAT_OPS, PKT_NF_DROP_HOOK, PKT_NF_VERDICT_RULE, PKT_PX,
  PKT_BOUND_OIF, PKT_UID, PKT_OUT_SPORT, PKT_OUT_DPORT, PX_REROUTED, PX_HAS_SOCK,
  NFT_RAW, NFT_MANGLE, NFT_NAT, NFT_FILTER, NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT,
  NF_INET_POST_ROUTING, CTINFO_RELATED, CTINFO_RELATED_REPLY, CTINFO_NEW, CTINFO_ESTABLISHED_REPLY,
  NAT_OP_SETUP_DST, NAT_OP_SETUP_SRC, DROP_NETFILTER, DROP_CT_INSERT_FAILED, DROP_NAT_OIF_CHANGED, DROP_NF_REROUTE,
  RTN_LOCAL, RTN_UNICAST,
} from "../abi";
import { prog, ctEnabled, natEnabled, chainAt } from "./program";
import { hookState, hookRoute } from "./state";
import { iptDoTable, iptDoTableHook, NF_ACCEPT, verdictEntry, walkDropReason } from "./walk";
import { nfConntrackIn, nfConfirm, pktCt, pktCtInfo, ctPtr, ctKill, ctDropReason } from "../conntrack/core";
import { T_SRC, T_DST, ctTuple } from "../conntrack/entry";
import { natMasqDev } from "../nat/ext";
import {
  natInitialized, natNullBinding, natSeenSet, natPacket, natIcmpReplyTranslation, hookManip,
} from "../nat/core";
import { seenPacket } from "../capture/seen";
import { drop } from "../ipv4/output";
import { ipRouteOutput, OUT_ANYSRC } from "../route/output";
import { localTableType } from "../fib/table";
import { isZeronet, isLbcast, isMulticast } from "../util/ip";

/** True when a ruleset is loaded (the hooks have something to run). */
// @ts-ignore: decorator
@inline export function nfActive(): bool { return prog != 0; }

function dropBy(p: usize, hook: u32, reason: i32, byRule: bool): bool {
  store<u8>(p, <u8>hook, PKT_NF_DROP_HOOK);
  if (byRule) store<u32>(p, verdictEntry, PKT_NF_VERDICT_RULE);
  drop(p, reason);
  return false;
}

/** Runs one table; false (and the drop recorded) on a DROP verdict. */
// @ts-ignore: decorator
@inline function table(p: usize, t: u32, hook: u32): bool {
  if (chainAt(t, hook) == 0xffffffff) return true; // no such table at this hook
  if (iptDoTableHook(p, t, hook) == NF_ACCEPT) return true;
  return dropBy(p, hook, walkDropReason, true);
}

// @ts-ignore: decorator
@inline
function conntrackIn(p: usize, hook: u32): bool {
  if (!ctEnabled) return true;
  if (nfConntrackIn(p) == 1) return true;
  return dropBy(p, hook, ctDropReason, false);
}

// @ts-ignore: decorator
@inline
function confirm(p: usize, hook: u32): bool {
  if (!ctEnabled) return true;
  if (nfConfirm(p) == 1) return true;
  return dropBy(p, hook, DROP_CT_INSERT_FAILED, false);
}

/**
 * nf_nat_ipv4_fn + nf_nat_inet_fn: the nat table runs only for a
 * connection's first packet (per manip type); every packet is then rewritten
 * from the binding.
 */
// @ts-ignore: decorator
@inline
function natHook(p: usize, hook: u32, outDev: u32): bool {
  if (!natEnabled) return true;
  const id = pktCt(p);
  if (id == 0) return true; // no entry (INVALID or untracked): not NATed
  const idx = id - 1;
  const ctinfo = pktCtInfo(p);
  if ((ctinfo == CTINFO_RELATED || ctinfo == CTINFO_RELATED_REPLY) && <u32>load<u8>(p, PKT_PROTO) == 1) {
    if (natIcmpReplyTranslation(p, idx, ctinfo, hook)) return true;
    return dropBy(p, hook, DROP_NETFILTER, false);
  }
  const manip = hookManip(hook);
  const ct = ctPtr(idx);
  if (ctinfo == CTINFO_RELATED || ctinfo == CTINFO_RELATED_REPLY || ctinfo == CTINFO_NEW) {
    if (!natInitialized(ct, manip)) {
      // the bindings follow what the packet's capture copy shows, if it has one (capture/seen.ts)
      natSeenSet(seenPacket(p) ? p : 0);
      const v = iptDoTable(p, NFT_NAT, hook);
      if (v != NF_ACCEPT) { natSeenSet(0); return dropBy(p, hook, walkDropReason, true); }
      const bound = natInitialized(ct, manip) || natNullBinding(idx, manip);
      natSeenSet(0);
      if (!bound) return dropBy(p, hook, DROP_NETFILTER, false);
      store<u8>(p, load<u8>(p, PKT_NAT_OPS) | <u8>(manip == 0 ? NAT_OP_SETUP_SRC : NAT_OP_SETUP_DST), PKT_NAT_OPS);
    } else if (oifChanged(idx, ct, hook, ctinfo, outDev)) {
      ctKill(idx);
      return dropBy(p, hook, DROP_NAT_OIF_CHANGED, false);
    }
  } else if (oifChanged(idx, ct, hook, ctinfo, outDev)) {
    ctKill(idx);
    return dropBy(p, hook, DROP_NAT_OIF_CHANGED, false);
  }
  natPacket(p, idx, ctinfo, hook);
  return true;
}

/** nf_nat_oif_changed */
// @ts-ignore: decorator
@inline
function oifChanged(idx: u32, ct: usize, hook: u32, ctinfo: u32, outDev: u32): bool {
  if (hook != NF_INET_POST_ROUTING || ctinfo >= <u32>CTINFO_ESTABLISHED_REPLY) return false;
  const masq = natMasqDev(idx, ct);
  return masq != 0 && masq != outDev;
}

/** PREROUTING: raw, conntrack, mangle, nat (DNAT). */
// @ts-ignore: decorator
@inline
export function nfPreRouting(p: usize, inDev: u32): bool {
  hookState(NF_INET_PRE_ROUTING, inDev, 0);
  if (!table(p, NFT_RAW, NF_INET_PRE_ROUTING)) return false;
  if (!conntrackIn(p, NF_INET_PRE_ROUTING)) return false;
  if (!table(p, NFT_MANGLE, NF_INET_PRE_ROUTING)) return false;
  hookState(NF_INET_PRE_ROUTING, inDev, 0);
  return natHook(p, NF_INET_PRE_ROUTING, 0);
}

/** INPUT: mangle, filter, nat (SNAT), confirm. `rtFlags` are the input route's (for REJECT). */
export function nfLocalIn(p: usize, inDev: u32, rtFlags: u32, inputRoute: bool): bool {
  hookState(NF_INET_LOCAL_IN, inDev, 0);
  hookRoute(load<u32>(p, PKT_OUT_DST), rtFlags, inputRoute);
  if (!table(p, NFT_MANGLE, NF_INET_LOCAL_IN)) return false;
  if (!table(p, NFT_FILTER, NF_INET_LOCAL_IN)) return false;
  hookState(NF_INET_LOCAL_IN, inDev, 0);
  if (!natHook(p, NF_INET_LOCAL_IN, 0)) return false;
  return confirm(p, NF_INET_LOCAL_IN);
}

/** FORWARD: mangle, filter. `rtMtu`: the route's MTU metric (0: the device's). */
// @ts-ignore: decorator
@inline
export function nfForward(p: usize, inDev: u32, outDev: u32, nexthop: u32, rtFlags: u32, rtMtu: u32): bool {
  hookState(NF_INET_FORWARD, inDev, outDev);
  hookRoute(nexthop, rtFlags, true, rtMtu);
  if (!table(p, NFT_MANGLE, NF_INET_FORWARD)) return false;
  return table(p, NFT_FILTER, NF_INET_FORWARD);
}

/**
 * OUTPUT: raw, conntrack, mangle (+ reroute when it changed the source,
 * destination, mark or TOS: ipt_mangle_out), nat DNAT (+ reroute for a
 * DNATed connection: nf_nat_ipv4_local_fn), filter. The output device the
 * rules see is the one routing chose before the hook; a reroute writes the
 * new route into the descriptor (PKT_OIF, PKT_RT_*) and sets PX_REROUTED.
 */
export function nfLocalOut(p: usize, outDev: u32, rtFlags: u32): bool {
  hookState(NF_INET_LOCAL_OUT, 0, outDev);
  hookRoute(load<u32>(p, PKT_OUT_DST), rtFlags, false);
  if (!table(p, NFT_RAW, NF_INET_LOCAL_OUT)) return false;
  if (!conntrackIn(p, NF_INET_LOCAL_OUT)) return false;
  const saddr = load<u32>(p, PKT_OUT_SRC);
  const daddr = load<u32>(p, PKT_OUT_DST);
  const mark = load<u32>(p, PKT_OUT_MARK);
  const tos = load<u8>(p, PKT_TOS);
  if (!table(p, NFT_MANGLE, NF_INET_LOCAL_OUT)) return false;
  if (load<u32>(p, PKT_OUT_SRC) != saddr || load<u32>(p, PKT_OUT_DST) != daddr || load<u32>(p, PKT_OUT_MARK) != mark ||
    load<u8>(p, PKT_TOS) != tos) {
    if (!routeMeHarder(p)) return dropBy(p, NF_INET_LOCAL_OUT, DROP_NF_REROUTE, false);
  }
  hookState(NF_INET_LOCAL_OUT, 0, outDev);
  if (!natHook(p, NF_INET_LOCAL_OUT, outDev)) return false;
  const id = pktCt(p);
  if (natEnabled && id != 0) {
    const ct = ctPtr(id - 1);
    const dir: u32 = pktCtInfo(p) >= <u32>CTINFO_ESTABLISHED_REPLY ? 1 : 0;
    const here = ctTuple(ct, dir);
    const there = ctTuple(ct, dir ^ 1);
    if (load<u32>(here, T_DST) != load<u32>(there, T_SRC)) {
      if (!routeMeHarder(p)) return dropBy(p, NF_INET_LOCAL_OUT, DROP_NF_REROUTE, false);
    }
  }
  hookState(NF_INET_LOCAL_OUT, 0, outDev);
  return table(p, NFT_FILTER, NF_INET_LOCAL_OUT);
}

/**
 * POSTROUTING: mangle, nat (SNAT), confirm. `inDev` is the ingress device of
 * a forwarded packet. With `withConfirm` false the confirm is left to the
 * caller (nfPostRoutingConfirm): the CPU model (smp.ts) runs it later.
 * `rtMtu`: a forwarded packet's route MTU metric (0: the device's).
 */
// @ts-ignore: decorator
@inline
export function nfPostRouting(p: usize, inDev: u32, outDev: u32, nexthop: u32, rtFlags: u32, inputRoute: bool, withConfirm: bool = true, rtMtu: u32 = 0): bool {
  hookState(NF_INET_POST_ROUTING, inDev, outDev);
  hookRoute(nexthop, rtFlags, inputRoute, rtMtu);
  if (!table(p, NFT_MANGLE, NF_INET_POST_ROUTING)) return false;
  hookState(NF_INET_POST_ROUTING, inDev, outDev);
  hookRoute(nexthop, rtFlags, inputRoute, rtMtu);
  if (!natHook(p, NF_INET_POST_ROUTING, outDev)) return false;
  return withConfirm ? confirm(p, NF_INET_POST_ROUTING) : true;
}

/** The confirm that ends POSTROUTING (nf_confirm), on its own. */
// @ts-ignore: decorator
@inline
export function nfPostRoutingConfirm(p: usize): bool { return confirm(p, NF_INET_POST_ROUTING); }

/**
 * ip_route_me_harder: the output route again for the packet's current
 * destination, mark and TOS and the socket's bound device, keeping its
 * source address (FLOWI_FLAG_ANYSRC when it is local or unicast).
 */
function routeMeHarder(p: usize): bool {
  const saddr = load<u32>(p, PKT_OUT_SRC);
  const t = addrType(saddr);
  const keep = t == RTN_LOCAL || t == RTN_UNICAST;
  const sock = (load<u8>(p, PKT_PX) & PX_HAS_SOCK) != 0;
  const err = ipRouteOutput(load<u32>(p, PKT_OUT_DST), keep ? saddr : 0, <u32>load<u8>(p, PKT_TOS) & 0xfc,
    sock ? <u32>load<u16>(p, PKT_BOUND_OIF) : 0, load<u32>(p, PKT_OUT_MARK), <u32>load<u8>(p, PKT_PROTO),
    load<u16>(p, PKT_OUT_SPORT), load<u16>(p, PKT_OUT_DPORT), sock ? load<u32>(p, PKT_UID) : 0, keep ? OUT_ANYSRC : 0);
  if (err != 0) return false;
  store<u8>(p, load<u8>(p, PKT_PX) | <u8>PX_REROUTED, PKT_PX);
  rerouteRecord(p);
  // later functions of this hook see the new dst (skb_rtable): REJECT's
  // icmp_send takes its RTCF_LOCAL from it; the hook's output device stays
  hookRoute(load<u32>(p, PKT_OUT_DST), rtFlagsNow(), false);
  return true;
}

import { rtFlags } from "../route/rtable";
// @ts-ignore: decorator
@inline function rtFlagsNow(): u32 { return rtFlags; }

import { recordOutputRoute } from "../ipv4/output";
// @ts-ignore: decorator
@inline function rerouteRecord(p: usize): void { recordOutputRoute(p); }

/** inet_addr_type */
function addrType(a: u32): u32 {
  if (isZeronet(a) || isLbcast(a)) return 3;
  if (isMulticast(a)) return 5;
  return localTableType(a);
}
