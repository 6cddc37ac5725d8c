/** IPv4 address classification helpers (include/linux/in.h ipv4_is_*). */

/** 224.0.0.0/4 */
// @ts-ignore: decorator
@inline export function isMulticast(a: u32): bool { return (a & 0xf0000000) == 0xe0000000; }
/** 224.0.0.0/24 */
// @ts-ignore: decorator
@inline export function isLocalMulticast(a: u32): bool { return (a & 0xffffff00) == 0xe0000000; }
/** 255.255.255.255 */
// @ts-ignore: decorator
@inline export function isLbcast(a: u32): bool { return a == 0xffffffff; }
/**
 * ipv4_is_zeronet: only 0.0.0.0 since Linux 5.3 ("Allow 0.0.0.0/8 as a valid
 * address range", commit 96125bf9985a); the rest of 0.0.0.0/8 is unicast.
 */
// @ts-ignore: decorator
@inline export function isZeronet(a: u32): bool { return a == 0; }
/** 127.0.0.0/8 */
// @ts-ignore: decorator
@inline export function isLoopback(a: u32): bool { return (a & 0xff000000) == 0x7f000000; }

/** Netmask for a prefix length 0..32. */
// @ts-ignore: decorator
@inline export function maskOf(plen: u32): u32 { return plen == 0 ? 0 : (0xffffffff << (32 - plen)); }

import { PKT_FLAGS, PF_IP_OPTS_SHIFT } from "../abi";
/** The IPv4 header length of descriptor `p`: 20 bytes plus its option words (PF_IP_OPTS_MASK). */
// @ts-ignore: decorator
@inline export function ipHdrLen(p: usize): u32 { return 20 + ((<u32>load<u16>(p, PKT_FLAGS) >> PF_IP_OPTS_SHIFT) << 2); }
