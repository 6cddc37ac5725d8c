/**
 * Input routing: ip_route_input_slow and __mkroute_input (net/ipv4/route.c).
 * Decides, for a packet that arrived on a device, between local delivery,
 * broadcast delivery, forwarding, an error destination (ip_error), or a drop
 * as a martian. Fills the rtable globals; returns 0 or a DROP_* reason.
 */
import {
  RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST, RTN_UNREACHABLE,
  RT_DEV, RT_GW, RT_NHSCOPE, RT_MTU, RT_INDEX, RT_TOS, RT_SCOPE_LINK,
  DEV_FORWARDING, DEV_ROUTE_LOCALNET, DEV_SEND_REDIRECTS, DEV_SHARED_MEDIA, DEV_BC_FORWARDING,
  DROP_IP_INVALID_SOURCE, DROP_IP_INVALID_DEST, DROP_IP_LOCALNET, DROP_IP_RPFILTER,
  DROP_IP_LOCAL_SOURCE, DROP_NONE, DROP_NOT_SPECIFIED,
} from "../abi";
import { devPtr, devHasInet, inetAddrOnlink } from "../dev";
import { isMulticast, isLocalMulticast, isLbcast, isZeronet, isLoopback } from "../util/ip";
import { setFlow, resType, resRoute, resTable, resRule } from "../fib/flow";
import { fibLookup } from "../fib/rules";
import { reportedTableId } from "../fib/table";
import { EHOSTUNREACH, EXDEV } from "../util/errno";
import { fibValidateSource } from "./validate";
import { loopbackDev, rulesNeedPorts } from "../config";
import {
  rtReset, rtSet, rtSetError, rtSetMtu, rtSetOrigin, rtAddFlags,
  RTCF_LOCAL, RTCF_BROADCAST, RTCF_MULTICAST, RTCF_DOREDIRECT,
} from "./rtable";


function validateReason(err: i32): i32 {
  return err == -EXDEV ? DROP_IP_RPFILTER : DROP_IP_LOCAL_SOURCE;
}

export function ipRouteInput(daddr: u32, saddr: u32, tos: u32, dev: u32, mark: u32,
                             proto: u32, sport: u32, dport: u32): i32 {
  rtReset();
  if (!devHasInet(dev)) return DROP_NOT_SPECIFIED; // IP disabled on this device
  const d = devPtr(dev);

  if (isMulticast(daddr)) {
    // ip_route_input_rcu: only groups the device joined are received; every
    // IPv4 device is in 224.0.0.1 (all-hosts). No multicast routing modelled.
    if (daddr != 0xe0000001) return DROP_NOT_SPECIFIED;
    // ip_route_input_mc -> ip_mc_validate_source
    if (isMulticast(saddr) || isLbcast(saddr)) return DROP_IP_INVALID_SOURCE;
    if (isLoopback(saddr) && load<u8>(d, DEV_ROUTE_LOCALNET) == 0) return DROP_IP_INVALID_SOURCE;
    if (isZeronet(saddr)) {
      if (!isLocalMulticast(daddr) && proto != 2) return DROP_IP_INVALID_SOURCE;
    } else {
      const v = fibValidateSource(saddr, 0, tos, 0, dev, mark, proto, sport, dport);
      if (v < 0) return validateReason(v);
    }
    rtSet(RTN_MULTICAST, RTCF_MULTICAST | RTCF_LOCAL, loopbackDev, 0);
    return DROP_NONE;
  }

  // Weird martians fib_lookup would not catch.
  if (isMulticast(saddr) || isLbcast(saddr)) return DROP_IP_INVALID_SOURCE;
  if (isLbcast(daddr) || (saddr == 0 && daddr == 0)) return brdInput(saddr, tos, dev, mark, proto, sport, dport);
  if (isZeronet(saddr)) return DROP_IP_INVALID_SOURCE;
  if (isZeronet(daddr)) return DROP_IP_INVALID_DEST;
  const localnet = load<u8>(d, DEV_ROUTE_LOCALNET) != 0;
  if (isLoopback(daddr)) {
    if (!localnet) return DROP_IP_LOCALNET;
  } else if (isLoopback(saddr)) {
    if (!localnet) return DROP_IP_LOCALNET;
  }

  const forwarding = load<u8>(d, DEV_FORWARDING) != 0;
  if (rulesNeedPorts) setFlow(dev, 0, mark, saddr, daddr, tos, proto, sport, dport, 0);
  else setFlow(dev, 0, mark, saddr, daddr, tos, 0, 0, 0, 0);
  let err = fibLookup(0);
  const type = resType;
  const route = resRoute;
  const rule = resRule;
  const tslot = resTable;
  rtSetOrigin(route != 0 ? reportedTableId(tslot) : 0, route != 0 ? load<u32>(route, RT_INDEX) : 0xffffffff, rule,
              route != 0 ? <u32>load<u8>(route, RT_TOS) : 0);
  if (err != 0) {
    if (!forwarding) err = -EHOSTUNREACH;
    return noRoute(err);
  }
  if (type == RTN_BROADCAST) {
    if (load<u8>(d, DEV_BC_FORWARDING) != 0) return mkrouteInput(route, type, dev, daddr, saddr, tos, mark, proto, sport, dport);
    return brdInput(saddr, tos, dev, mark, proto, sport, dport);
  }
  if (type == RTN_LOCAL) {
    const v = fibValidateSource(saddr, daddr, tos, 0, dev, mark, proto, sport, dport);
    if (v < 0) return validateReason(v);
    rtSet(RTN_LOCAL, RTCF_LOCAL, loopbackDev, 0);
    return DROP_NONE;
  }
  if (!forwarding) return noRoute(-EHOSTUNREACH);
  if (type != RTN_UNICAST) return DROP_IP_INVALID_DEST;
  return mkrouteInput(route, type, dev, daddr, saddr, tos, mark, proto, sport, dport);
}

/** no_route: an error destination whose input handler is ip_error. */
function noRoute(err: i32): i32 {
  rtSet(RTN_UNREACHABLE, 0, loopbackDev, 0);
  rtSetError(-err);
  return DROP_NONE;
}

/** brd_input: limited broadcast, or a broadcast route without bc_forwarding. */
function brdInput(saddr: u32, tos: u32, dev: u32, mark: u32, proto: u32, sport: u32, dport: u32): i32 {
  if (!isZeronet(saddr)) {
    const v = fibValidateSource(saddr, 0, tos, 0, dev, mark, proto, sport, dport);
    if (v < 0) return validateReason(v);
  }
  rtSet(RTN_BROADCAST, RTCF_BROADCAST | RTCF_LOCAL, loopbackDev, 0);
  return DROP_NONE;
}

/** __mkroute_input: validate the source against the way out, decide on a redirect. */
function mkrouteInput(route: usize, type: u32, dev: u32, daddr: u32, saddr: u32, tos: u32, mark: u32,
                      proto: u32, sport: u32, dport: u32): i32 {
  const outDev = <u32>load<u16>(route, RT_DEV);
  const gw = load<u32>(route, RT_GW);
  const nhScope = <u32>load<u8>(route, RT_NHSCOPE);
  const mtu = load<u32>(route, RT_MTU);
  if (!devHasInet(outDev)) return DROP_NOT_SPECIFIED;
  const v = fibValidateSource(saddr, daddr, tos, outDev, dev, mark, proto, sport, dport);
  if (v < 0) return validateReason(v);
  const usesGw = gw != 0 && nhScope == RT_SCOPE_LINK;
  rtSet(type, 0, outDev, usesGw ? gw : 0);
  rtSetMtu(mtu);
  if (outDev == dev && v > 0 && load<u8>(devPtr(outDev), DEV_SEND_REDIRECTS) != 0) {
    if (load<u8>(devPtr(outDev), DEV_SHARED_MEDIA) != 0 || inetAddrOnlink(outDev, saddr, gw)) rtAddFlags(RTCF_DOREDIRECT);
  }
  return DROP_NONE;
}

export { RTCF_LOCAL, RTCF_BROADCAST, RTN_UNREACHABLE };
