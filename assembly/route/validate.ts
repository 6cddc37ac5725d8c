/**
 * Source validation and the reverse-path filter: fib_validate_source and
 * __fib_validate_source (net/ipv4/fib_frontend.c).
 *
 * Returns a negative errno to drop (-EXDEV: rp_filter, reported as
 * IP_RPFILTER; -EINVAL: the source is local or not unicast, IP_LOCAL_SOURCE),
 * 1 when the source is directly connected through the input device (the
 * caller uses this to decide on ICMP redirects), else 0.
 */
import {
  DEV_RP_FILTER, DEV_ACCEPT_LOCAL, DEV_SEND_REDIRECTS, DEV_SRC_VALID_MARK,
  RTN_UNICAST, RTN_LOCAL, RT_DEV, RT_NHSCOPE, RT_SCOPE_HOST,
} from "../abi";
import { devPtr, devHasNoAddr, ifaddrLookup } from "../dev";
import { setFlow, resType, resRoute } from "../fib/flow";
import { fibLookup } from "../fib/rules";
import { FIB_LOOKUP_IGNORE_LINKSTATE } from "../fib/table";
import { customRules, customLocalRoutes, loopbackDev, rulesNeedPorts } from "../config";
import { EINVAL, EXDEV } from "../util/errno";

/**
 * @param src   packet source  @param dst packet destination
 * @param oif   FIB_RES_OIF of the forward route, 0 for local delivery
 * @param dev   input device slot
 */
export function fibValidateSource(src: u32, dst: u32, tos: u32, oif: u32, dev: u32, mark: u32,
                                  proto: u32, sport: u32, dport: u32): i32 {
  const d = devPtr(dev);
  const r = <u32>load<u8>(d, DEV_RP_FILTER);
  // Fast path (no tclassid users in an emulated node).
  if (r == 0 && (dev != oif || load<u8>(d, DEV_SEND_REDIRECTS) == 0)) {
    if (load<u8>(d, DEV_ACCEPT_LOCAL) != 0) return 0;
    if (!(customLocalRoutes || customRules)) {
      // "Within the same container, it is regarded as a martian source"
      if (ifaddrLookup(src) != 0) return -EINVAL;
      return 0;
    }
  }
  return fullCheck(src, dst, tos, oif, dev, mark, proto, sport, dport, r);
}

function fullCheck(src: u32, dst: u32, tos: u32, oif: u32, dev: u32, mark: u32,
                   proto: u32, sport: u32, dport: u32, rpf: u32): i32 {
  const d = devPtr(dev);
  const noAddr = devHasNoAddr(dev);
  const vmark = load<u8>(d, DEV_SRC_VALID_MARK) != 0 ? mark : 0;
  // Reverse flow: to the source, "from" the destination, arriving where the
  // forward route leaves (or on lo for local delivery); ports swapped.
  if (rulesNeedPorts) setFlow(oif != 0 ? oif : loopbackDev, 0, vmark, dst, src, tos, proto, dport, sport, 0);
  else setFlow(oif != 0 ? oif : loopbackDev, 0, vmark, dst, src, tos, 0, 0, 0, 0);
  if (fibLookup(0) != 0) return rpf != 0 ? -EXDEV : 0; // last_resort
  const type = resType;
  if (type != RTN_UNICAST && (type != RTN_LOCAL || load<u8>(d, DEV_ACCEPT_LOCAL) == 0)) return -EINVAL;
  const route = resRoute;
  let devMatch = route != 0 && <u32>load<u16>(route, RT_DEV) == dev;
  devMatch = devMatch || (type == RTN_LOCAL && dev == loopbackDev);
  if (devMatch) return <u32>load<u8>(route, RT_NHSCOPE) >= <u32>RT_SCOPE_HOST ? 1 : 0;
  if (noAddr) return rpf != 0 ? -EXDEV : 0;
  if (rpf == 1) return -EXDEV;
  // loose (2) or off: a second lookup through the input device only decides
  // whether the source counts as directly connected (for redirects).
  if (rulesNeedPorts) setFlow(oif != 0 ? oif : loopbackDev, dev, vmark, dst, src, tos, proto, dport, sport, 0);
  else setFlow(oif != 0 ? oif : loopbackDev, dev, vmark, dst, src, tos, 0, 0, 0, 0);
  if (fibLookup(FIB_LOOKUP_IGNORE_LINKSTATE) == 0 && resType == RTN_UNICAST) {
    return <u32>load<u8>(resRoute, RT_NHSCOPE) >= <u32>RT_SCOPE_HOST ? 1 : 0;
  }
  return 0;
}
