/**
 * SNMP MIB counters, mirroring what `nstat` shows for the kernel (IpInReceives,
 * IpForwDatagrams, IcmpOutDestUnreachs, TcpExtIPReversePathFilter, ...).
 * Indices are the CTR_* constants of the ABI; the host names them.
 */
import {
  CTR_MAX, DROP_MAX, RTN_BROADCAST, RTN_MULTICAST, CTR_IP_EXT_IN_MCAST_PKTS, CTR_IP_EXT_IN_BCAST_PKTS,
  CTR_IP_EXT_OUT_MCAST_PKTS, CTR_IP_EXT_OUT_BCAST_PKTS, CTR_IP_EXT_IN_MCAST_OCTETS, CTR_IP_EXT_IN_BCAST_OCTETS,
  CTR_IP_EXT_OUT_MCAST_OCTETS, CTR_IP_EXT_OUT_BCAST_OCTETS, CTR_IP_IN_RECEIVES, CTR_IP_EXT_IN_OCTETS, CTR_IP_EXT_IN_NOECT_PKTS,
} from "../abi";
import { zalloc } from "../util/mem";

export const counters: usize = zalloc(<usize>CTR_MAX << 3);
/** Per drop reason packet counts (u64 each). */
export const dropCounters: usize = zalloc(<usize>DROP_MAX << 3);

// @ts-ignore: decorator
@inline export function count(idx: i32): void {
  const p = counters + (<usize>idx << 3);
  store<u64>(p, load<u64>(p) + 1);
}

// @ts-ignore: decorator
@inline export function countN(idx: i32, n: u64): void {
  const p = counters + (<usize>idx << 3);
  store<u64>(p, load<u64>(p) + n);
}

/**
 * IpExt{In,Out}{Mcast,Bcast}{Pkts,Octets} (__IP_UPD_PO_STATS) for `pkts`
 * packets of `octets` bytes in all whose route has type `type` (RTN_*):
 * ip_rcv_finish_core for received ones (`out` false), ip_finish_output2 for
 * sent ones, once per fragment. Other route types count nothing.
 */
// @ts-ignore: decorator
@inline export function countCast(out: bool, type: u32, pkts: u64, octets: u64): void {
  if (type == RTN_MULTICAST) {
    countN(out ? CTR_IP_EXT_OUT_MCAST_PKTS : CTR_IP_EXT_IN_MCAST_PKTS, pkts);
    countN(out ? CTR_IP_EXT_OUT_MCAST_OCTETS : CTR_IP_EXT_IN_MCAST_OCTETS, octets);
  } else if (type == RTN_BROADCAST) {
    countN(out ? CTR_IP_EXT_OUT_BCAST_PKTS : CTR_IP_EXT_IN_BCAST_PKTS, pkts);
    countN(out ? CTR_IP_EXT_OUT_BCAST_OCTETS : CTR_IP_EXT_IN_BCAST_OCTETS, octets);
  }
}

/**
 * ip_rcv_core's first counts for a packet of `len` bytes (skb->len) and TOS
 * `tos` whose header is sound: IpInReceives, IpExtInOctets and its ECN
 * codepoint (IpExtIn{NoECT,ECT1,ECT0,CE}Pkts). For the ip_rcv of packets
 * the node loops back to itself; pipeline.ts ipRcv counts arriving ones.
 */
// @ts-ignore: decorator
@inline export function countRcv(len: u64, tos: u32): void {
  count(CTR_IP_IN_RECEIVES);
  countN(CTR_IP_EXT_IN_OCTETS, len);
  count(CTR_IP_EXT_IN_NOECT_PKTS + <i32>(tos & 3));
}

// @ts-ignore: decorator
@inline export function countDrop(reason: i32): void {
  const p = dropCounters + (<usize>reason << 3);
  store<u64>(p, load<u64>(p) + 1);
}

export function resetCounters(): void {
  memory.fill(counters, 0, <usize>CTR_MAX << 3);
  memory.fill(dropCounters, 0, <usize>DROP_MAX << 3);
}
