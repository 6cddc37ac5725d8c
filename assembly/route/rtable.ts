/**
 * The routing decision for one packet (struct rtable / dst_entry), filled by
 * input routing (input.ts) or output routing (output.ts) and read by the
 * forwarding and delivery code. Module globals, like the flow.
 */
import { RTN_UNICAST } from "../abi";

/** rt_type: RTN_UNICAST (forward/transmit), RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST, RTN_UNREACHABLE (error dst). */
export let rtType: u32 = 0;
/** RTCF_* subset, see RTCF_ below. */
export let rtFlags: u32 = 0;
/** Output device slot (loopback for local delivery). */
export let rtDev: u32 = 0;
/** rt_gw4 when rt_uses_gateway, else 0. */
export let rtGw: u32 = 0;
/** For error dsts (ip_error): the positive errno. */
export let rtError: i32 = 0;
/** Route MTU metric, 0 = use the device MTU. */
export let rtMtu: u32 = 0;
/** Kernel table id of the FIB result, 0 = none. */
export let rtTableId: u32 = 0;
/** RT_INDEX of the matched route, 0xFFFFFFFF = none. */
export let rtRouteIndex: u32 = 0xffffffff;
/** Index of the matched rule, 0xFFFFFFFF = none. */
export let rtRule: u32 = 0xffffffff;
/** Output routing: the source address chosen (fl4->saddr after the lookup). */
export let rtSaddr: u32 = 0;
/** Route TOS (res.dscp) for `ip route get`. */
export let rtTos: u32 = 0;

export const RTCF_DOREDIRECT: u32 = 0x01000000;
export const RTCF_BROADCAST: u32 = 0x10000000;
export const RTCF_MULTICAST: u32 = 0x20000000;
export const RTCF_LOCAL: u32 = 0x80000000;

export function rtReset(): void {
  rtType = RTN_UNICAST; rtFlags = 0; rtDev = 0; rtGw = 0; rtError = 0; rtMtu = 0;
  rtTableId = 0; rtRouteIndex = 0xffffffff; rtRule = 0xffffffff; rtSaddr = 0; rtTos = 0;
}
export function rtSet(type: u32, flags: u32, dev: u32, gw: u32): void {
  rtType = type; rtFlags = flags; rtDev = dev; rtGw = gw;
}
export function rtSetError(e: i32): void { rtError = e; }
export function rtSetMtu(m: u32): void { rtMtu = m; }
export function rtSetOrigin(tableId: u32, routeIndex: u32, rule: u32, tos: u32): void {
  rtTableId = tableId; rtRouteIndex = routeIndex; rtRule = rule; rtTos = tos;
}
export function rtSetSaddr(a: u32): void { rtSaddr = a; }
export function rtAddFlags(f: u32): void { rtFlags |= f; }

