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

import { PKT_FLAGS, PF_IP_OPTS_SHIFT, PF_IP_OPTS_MASK, PF_LOCAL, PKT_IP_OPT_ECHO, IP_OPT_ECHO_FAILS, IP_OPT_ECHO_SRR } from "../abi";
/** The IPv4 header length of descriptor `p`: 20 bytes plus its option words (PF_IP_OPTS_MASK). */
// @ts-ignore: decorator
@inline export function ipHdrLen(p: usize): u32 { return 20 + ((<u32>load<u16>(p, PKT_FLAGS) >> PF_IP_OPTS_SHIFT) << 2); }
/**
 * The length of the options the node's answer to `p` echoes (__ip_options_echo:
 * abi.ts PKT_IP_OPT_ECHO), or -1 when the echo fails and no answer is sent.
 */
// @ts-ignore: decorator
@inline export function ipOptEchoLen(p: usize): i32 {
  const f = <u32>load<u16>(p, PKT_FLAGS);
  if ((f & PF_IP_OPTS_MASK) == 0 || (f & PF_LOCAL) != 0) return 0;
  const e = <u32>load<u8>(p, PKT_IP_OPT_ECHO);
  return e == IP_OPT_ECHO_FAILS ? -1 : <i32>(e & ~IP_OPT_ECHO_SRR);
}
/** Whether the options echoed to `p` hold a source route (its first hop, PKT_IP_OPT_FADDR, is where the answer goes). */
// @ts-ignore: decorator
@inline export function ipOptEchoSrr(p: usize): bool {
  const f = <u32>load<u16>(p, PKT_FLAGS);
  if ((f & PF_IP_OPTS_MASK) == 0 || (f & PF_LOCAL) != 0) return false;
  const e = <u32>load<u8>(p, PKT_IP_OPT_ECHO);
  return e != IP_OPT_ECHO_FAILS && (e & IP_OPT_ECHO_SRR) != 0;
}
