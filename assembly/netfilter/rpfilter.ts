/**
 * -m rpfilter: rpfilter_mt (net/ipv4/netfilter/ipt_rpfilter.c), a reverse
 * path check of the packet's source made with the node's own policy routing
 * (fib/rules.ts fibLookup: `ip rule`, then the tables), independent of the
 * rp_filter sysctls (route/validate.ts is the pipeline's own check).
 */
import {
  PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_MARK, PKT_TOS, RTN_UNICAST, RTN_LOCAL, RT_DEV,
  XT_RPFILTER_LOOSE, XT_RPFILTER_VALID_MARK, XT_RPFILTER_ACCEPT_LOCAL, XT_RPFILTER_INVERT,
} from "../abi";
import { devIsLoopback } from "../dev";
import { isZeronet, isLbcast, isMulticast, isLocalMulticast } from "../util/ip";
import { setFlow, resType, resRoute } from "../fib/flow";
import { fibLookup } from "../fib/rules";
import { FIB_LOOKUP_IGNORE_LINKSTATE } from "../fib/table";
import { loopbackDev } from "../config";

/** rpfilter_get_saddr: no route is looked up "from" a multicast, broadcast or zeronet address. */
// @ts-ignore: decorator
@inline function rpfilterGetSaddr(addr: u32): u32 {
  return isMulticast(addr) || isLbcast(addr) || isZeronet(addr) ? 0 : addr;
}

/**
 * rpfilter_lookup_reverse: fib_lookup(FIB_LOOKUP_IGNORE_LINKSTATE) of the
 * flow the caller set; an error fails; the result must be unicast (or local
 * with --accept-local); then fib_info_nh_uses_dev (a single nexthop here:
 * the route's device is the input device), or anything with --loose. This
 * kernel no longer looks at the nexthop's scope.
 */
function rpfilterLookupReverse(dev: u32, flags: u32): bool {
  if (fibLookup(FIB_LOOKUP_IGNORE_LINKSTATE) != 0) return false;
  const type = resType;
  if (type != RTN_UNICAST && (type != RTN_LOCAL || (flags & XT_RPFILTER_ACCEPT_LOCAL) == 0)) return false;
  const route = resRoute;
  const devMatch = route != 0 && <u32>load<u16>(route, RT_DEV) == dev;
  return devMatch || (flags & XT_RPFILTER_LOOSE) != 0;
}

/** rpfilter_mt for packet `p` arriving on device slot `inDev` (PREROUTING's par->in). */
export function rpfilterMatch(p: usize, inDev: u32, flags: u32): bool {
  const invert = (flags & XT_RPFILTER_INVERT) != 0;
  // rpfilter_is_loopback: PACKET_LOOPBACK or an IFF_LOOPBACK input device; the
  // emulator loops the node's own packets back only through lo
  if (devIsLoopback(inDev)) return !invert;
  const saddr = load<u32>(p, PKT_OUT_SRC);
  const daddr = load<u32>(p, PKT_OUT_DST);
  if (isZeronet(saddr) && (isLbcast(daddr) || isLocalMulticast(daddr))) return !invert;
  // the reverse flow: to the source, from the destination, "arriving" on lo
  // (LOOPBACK_IFINDEX, so `iif lo` rules match), the mark only with
  // --validmark, the DSCP bits, uid 0 (sock_net_uid(net, NULL)), no ports
  // (the flow is zeroed first)
  const mark = (flags & XT_RPFILTER_VALID_MARK) != 0 ? load<u32>(p, PKT_OUT_MARK) : 0;
  setFlow(loopbackDev, 0, mark, rpfilterGetSaddr(daddr), saddr, <u32>load<u8>(p, PKT_TOS), 0, 0, 0, 0);
  return rpfilterLookupReverse(inDev, flags) != invert;
}
