/**
 * Output routing for packets the node sends itself:
 * ip_route_output_key_hash_rcu, fib_select_path and __mkroute_output
 * (net/ipv4/route.c, net/ipv4/fib_semantics.c), including the source address
 * selection of fib_result_prefsrc/inet_select_addr.
 *
 * Returns 0 with the rtable globals set (rtSaddr = the chosen source), or a
 * negative errno as a sending socket would see it.
 */
import {
  RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST, RT_DEV, RT_GW, RT_NHSCOPE, RT_MTU,
  RT_PREFSRC, RT_SCOPE, RT_INDEX, RT_TOS, RT_PLEN, RT_SCOPE_LINK, RT_SCOPE_HOST, DEV_ROUTE_LOCALNET,
} from "../abi";
import { devPtr, devHasInet, devIsUp, devIsLoopback, inetSelectAddr, ifaddrLookup } from "../dev";
import { isMulticast, isLocalMulticast, isLbcast, isZeronet, isLoopback } from "../util/ip";
import { setFlow, resType, resRoute, resTable, resRule, resTos, flScope } from "../fib/flow";
import { fibLookup } from "../fib/rules";
import { reportedTableId, fibTableLookupLocal } from "../fib/table";
import { EINVAL, ENETUNREACH, ENODEV } from "../util/errno";
import { loopbackDev } from "../config";
import {
  rtReset, rtSet, rtSetMtu, rtSetError, rtSetOrigin, rtSetSaddr, RTCF_LOCAL, RTCF_BROADCAST, RTCF_MULTICAST,
} from "./rtable";

/** FLOWI_FLAG_ANYSRC: the source need not be local (transparent/freebind, NAT replies). */
export const OUT_ANYSRC: u32 = 1;

/**
 * __ip_dev_find: the device that owns `addr` (configured address, else a
 * local route in the local table), or 0.
 */
export function ipDevFind(addr: u32): u32 {
  const dev = ifaddrLookup(addr);
  if (dev != 0) return dev;
  return fibTableLookupLocal(addr);
}

export function ipRouteOutput(daddr: u32, saddr: u32, tos: u32, oif: u32, mark: u32,
                              proto: u32, sport: u32, dport: u32, uid: u32, oflags: u32): i32 {
  rtReset();
  let origOif = oif;
  let devOut: u32 = 0;
  let type: u32 = RTN_UNICAST;
  let flags: u32 = 0;
  let route: usize = 0;

  if (saddr != 0) {
    if (isMulticast(saddr) || isLbcast(saddr) || isZeronet(saddr)) return -EINVAL;
    if (oif == 0 && (isMulticast(daddr) || isLbcast(daddr))) {
      devOut = ipDevFind(saddr);
      if (devOut == 0) return -ENETUNREACH;
      oif = devOut;
      return mkrouteOutput(0, type, daddr, saddr, origOif, devOut, flags);
    }
    if (!(oflags & OUT_ANYSRC) && ipDevFind(saddr) == 0) return -ENETUNREACH;
  }
  if (oif != 0) {
    devOut = oif;
    if (!devIsUp(devOut) || !devHasInet(devOut)) return -ENETUNREACH;
    if (isLocalMulticast(daddr) || isLbcast(daddr) || proto == 2 /* IGMP */) {
      if (saddr == 0) saddr = inetSelectAddr(devOut, 0, RT_SCOPE_LINK);
      return mkrouteOutput(0, type, daddr, saddr, origOif, devOut, flags);
    }
    if (saddr == 0) {
      if (isMulticast(daddr)) saddr = inetSelectAddr(devOut, 0, flScope);
      else if (daddr == 0) saddr = inetSelectAddr(devOut, 0, RT_SCOPE_HOST);
    }
  }
  if (daddr == 0) {
    daddr = saddr;
    if (daddr == 0) { daddr = 0x7f000001; saddr = 0x7f000001; }
    return mkrouteOutput(0, RTN_LOCAL, daddr, saddr, origOif, loopbackDev, RTCF_LOCAL);
  }

  setFlow(loopbackDev, oif, mark, saddr, daddr, tos, proto, sport, dport, uid);
  const err = fibLookup(0);
  route = resRoute;
  type = resType;
  if (route != 0) {
    rtSetOrigin(reportedTableId(resTable), load<u32>(route, RT_INDEX), resRule, <u32>load<u8>(route, RT_TOS));
  } else {
    rtSetOrigin(0, 0xffffffff, resRule, 0);
  }
  if (err != 0) {
    if (oif != 0) {
      // "Apparently, routing tables are wrong. Assume, that the destination is on link."
      if (saddr == 0) saddr = inetSelectAddr(devOut, 0, RT_SCOPE_LINK);
      rtSetOrigin(0, 0xffffffff, 0xffffffff, resTos);
      return mkrouteOutput(0, RTN_UNICAST, daddr, saddr, origOif, devOut, flags);
    }
    rtSetError(-err); // a FIB error (route or rule), as opposed to a martian
    return err;
  }
  if (type == RTN_LOCAL) {
    if (saddr == 0) {
      const pref = load<u32>(route, RT_PREFSRC);
      saddr = pref != 0 ? pref : daddr;
    }
    origOif = <u32>load<u16>(route, RT_DEV);
    return mkrouteOutput(route, RTN_LOCAL, daddr, saddr, origOif, loopbackDev, RTCF_LOCAL);
  }
  // fib_select_path: (single nexthop) then the source from the route.
  if (saddr == 0) saddr = resultPrefsrc(route);
  devOut = <u32>load<u16>(route, RT_DEV);
  return mkrouteOutput(route, type, daddr, saddr, origOif, devOut, flags);
}

/** fib_result_prefsrc: the route's src, else inet_select_addr(nh dev, gw, route scope). */
export function resultPrefsrc(route: usize): u32 {
  const pref = load<u32>(route, RT_PREFSRC);
  if (pref != 0) return pref;
  return inetSelectAddr(<u32>load<u16>(route, RT_DEV), load<u32>(route, RT_GW), <u32>load<u8>(route, RT_SCOPE));
}

/** __mkroute_output */
function mkrouteOutput(route: usize, type: u32, daddr: u32, saddr: u32, origOif: u32, devOut: u32, flags: u32): i32 {
  if (!devHasInet(devOut)) return -EINVAL;
  if (load<u8>(devPtr(devOut), DEV_ROUTE_LOCALNET) == 0) {
    if (isLoopback(saddr) && !devIsLoopback(devOut)) return -EINVAL;
  }
  let fi = route;
  if (isLbcast(daddr)) { type = RTN_BROADCAST; fi = 0; }
  else if (isMulticast(daddr)) type = RTN_MULTICAST;
  else if (isZeronet(daddr)) return -EINVAL;
  if (devIsLoopback(devOut)) flags |= RTCF_LOCAL;
  if (type == RTN_BROADCAST) { flags |= RTCF_BROADCAST | RTCF_LOCAL; fi = 0; }
  else if (type == RTN_MULTICAST) {
    flags |= RTCF_MULTICAST;
    // local only if a socket joined the group: only all-hosts is modelled
    if (daddr == 0xe0000001) flags |= RTCF_LOCAL;
    // "If multicast route do not exist use default one, but do not gateway in this case."
    if (fi != 0 && <u32>load<u8>(fi, RT_PLEN) < 4) fi = 0;
  }
  let gw: u32 = 0;
  if (fi != 0) {
    const g = load<u32>(fi, RT_GW);
    if (g != 0 && <u32>load<u8>(fi, RT_NHSCOPE) == RT_SCOPE_LINK) gw = g;
    rtSetMtu(load<u32>(fi, RT_MTU));
  }
  rtSet(type, flags, devOut, gw);
  rtSetSaddr(saddr);
  return 0;
}

export { ENODEV };
