/**
 * IPv4 header options on receive: the checks of ip_options_compile
 * (net/ipv4/ip_options.c __ip_options_compile, called with the skb from
 * ip_rcv_options after input routing). The capture decoder (wire.ts) runs
 * them on a header longer than 20 bytes and hands the verdict to the core in
 * PKT_IP_ERROR (assembly/abi.ts IPERR_SRR, IPERR_OPTIONS + pp_ptr), which
 * drops the packet where and as the kernel does (assembly/ipv4/rcv.ts
 * ipRcvOptions).
 *
 * What the kernel accepts: EOL (the bytes after it are rewritten to EOL),
 * NOOP, LSRR and SSRR (at most one source route), RR, TS (flags 0, 1 and 3;
 * other flags are accepted on receive), RA (a value other than 0 is kept but
 * is no router alert), CIPSO (validated against the node's CIPSO DOIs: a node
 * without netlabel configuration has none, so every CIPSO option is
 * rejected), SEC, SID and every unknown type (kept, skipped by their length).
 */

/** The verdict of ip_options_compile on one header's options. */
export interface IpOptionsVerdict {
  /** Offset from the header's start of the byte at fault (pp_ptr), 0 when the options are valid. */
  ppPtr: number;
  /** A source route (LSRR or SSRR) is present (opt->srr). */
  srr: boolean;
  /** A Record Route option (opt->rr) and a Timestamp option (opt->ts). */
  rr: boolean;
  ts: boolean;
  /** A Router Alert option with value 0 (opt->router_alert). */
  routerAlert: boolean;
  /**
   * What the compile recorded before it stopped (struct ip_options), for
   * __ip_options_echo: each option's offset from the header's start (0:
   * none), the RR and TS pointers as the receive left them (advanced past
   * what it filled in), and the fills the answer's header will need.
   */
  rrAt: number; tsAt: number; srrAt: number; cipsoAt: number;
  rrPtr: number; tsPtr: number;
  /** The TS option's overflow and flags byte as the receive left it (a full TS's overflow counted up). */
  tsFlags: number;
  rrNeedAddr: boolean; tsNeedAddr: boolean; tsNeedTime: boolean;
}

const IPOPT_END = 0, IPOPT_NOOP = 1, IPOPT_RR = 7, IPOPT_TIMESTAMP = 68, IPOPT_RA = 148;
const IPOPT_LSRR = 131, IPOPT_SSRR = 137, IPOPT_CIPSO = 134;
const IPOPT_TS_TSONLY = 0, IPOPT_TS_TSANDADDR = 1, IPOPT_TS_PRESPEC = 3;

/**
 * __ip_options_compile's checks on the options of the IPv4 header at b[o..]
 * (`ihl` bytes, more than 20), on receive (an skb with its input route).
 * Only the checks: the kernel's rewrites (RR and TS filled in, bytes after EOL)
 * are not made here.
 */
export function ipOptionsCompile(b: Uint8Array, o: number, ihl: number): IpOptionsVerdict {
  const v: IpOptionsVerdict = {
    ppPtr: 0, srr: false, rr: false, ts: false, routerAlert: false,
    rrAt: 0, tsAt: 0, srrAt: 0, cipsoAt: 0, rrPtr: 0, tsPtr: 0, tsFlags: 0, rrNeedAddr: false, tsNeedAddr: false, tsNeedTime: false,
  };
  let cipso = false;
  let i = o + 20;
  let l = ihl - 20;
  const fail = (at: number): IpOptionsVerdict => { v.ppPtr = at - o; return v; };
  while (l > 0) {
    const type = b[i]!;
    if (type === IPOPT_END) break; // the rest is EOL (rewritten so if not)
    if (type === IPOPT_NOOP) { l--; i++; continue; }
    if (l < 2) return fail(i);
    const optlen = b[i + 1]!;
    if (optlen < 2 || optlen > l) return fail(i);
    const ptr = optlen >= 3 ? b[i + 2]! : 0;
    switch (type) {
      case IPOPT_SSRR:
      case IPOPT_LSRR:
        if (optlen < 3) return fail(i + 1);
        if (ptr < 4) return fail(i + 2);
        if (v.srr) return fail(i); // RFC 1812 5.2.4.1: one source route
        v.srr = true;
        v.srrAt = i - o;
        break;
      case IPOPT_RR:
        if (v.rr) return fail(i);
        if (optlen < 3) return fail(i + 1);
        if (ptr < 4) return fail(i + 2);
        if (ptr <= optlen && ptr + 3 > optlen) return fail(i + 2);
        v.rr = true;
        v.rrAt = i - o;
        // the receive records spec_dst at the pointer and advances it
        v.rrPtr = ptr <= optlen ? ptr + 4 : ptr;
        v.rrNeedAddr = ptr <= optlen;
        break;
      case IPOPT_TIMESTAMP: {
        if (v.ts) return fail(i);
        if (optlen < 4) return fail(i + 1);
        if (ptr < 5) return fail(i + 2);
        const flag = b[i + 3]! & 15;
        if (ptr <= optlen) {
          if (ptr + 3 > optlen) return fail(i + 2);
          if ((flag === IPOPT_TS_TSANDADDR || flag === IPOPT_TS_PRESPEC) && ptr + 7 > optlen) return fail(i + 2);
          // the receive's stamps: a time (TSONLY), an address and a time
          // (TSANDADDR); a prespecified address is taken as not the node's
          // (inet_addr_type RTN_UNICAST: nothing); other flags: nothing
          if (flag === IPOPT_TS_TSONLY) { v.tsNeedTime = true; v.tsPtr = ptr + 4; }
          else if (flag === IPOPT_TS_TSANDADDR) { v.tsNeedAddr = true; v.tsNeedTime = true; v.tsPtr = ptr + 8; }
          else v.tsPtr = ptr;
        } else if (flag !== IPOPT_TS_PRESPEC) {
          // full: the overflow counter goes up, unless it is at 15
          if (b[i + 3]! >> 4 === 15) return fail(i + 3);
          v.tsPtr = ptr;
          v.tsFlags = b[i + 3]! + 16;
        } else v.tsPtr = ptr;
        if (ptr <= optlen || flag === IPOPT_TS_PRESPEC) v.tsFlags = b[i + 3]!;
        v.ts = true;
        v.tsAt = i - o;
        break;
      }
      case IPOPT_RA:
        if (optlen < 4) return fail(i + 1);
        if (b[i + 2] === 0 && b[i + 3] === 0) v.routerAlert = true;
        break;
      case IPOPT_CIPSO:
        // cipso_v4_validate: under 8 bytes the length is at fault, else the DOI,
        // which a node without CIPSO DOIs configured does not know
        if (cipso) return fail(i);
        cipso = true;
        v.cipsoAt = i - o;
        return fail(optlen < 8 ? i + 1 : i + 2);
      default:
        // IPOPT_SEC, IPOPT_SID and unknown types: kept as they are on receive
        break;
    }
    l -= optlen;
    i += optlen;
  }
  return v;
}

/**
 * The options __ip_options_echo puts into the header of the node's answer
 * (an ICMP error from icmp_send, an echo reply from icmp_reply) to the
 * packet whose header is at b[o..] and whose compile `v` recorded: RR and TS
 * copied with their pointers advanced over the room the answer's own stamps
 * take, a source route reversed (RFC 1812 fixes: the sender's own address
 * dropped), CIPSO copied, padded with EOL to 4 bytes. null: the echo fails
 * (-EINVAL: an RR or TS pointer with room for less than an entry), and the
 * kernel sends no answer. The addresses and times the kernel writes into
 * the answer (ip_options_build) and into the received header are not filled
 * in: those bytes are as received. With a source route, `faddr` is its
 * first hop, where the answer goes.
 */
export function ipOptionsEcho(b: Uint8Array, o: number, v: IpOptionsVerdict): IpOptionsEcho | null {
  const d: number[] = [];
  let faddr = 0;
  if (v.rrAt) {
    const s = o + v.rrAt, optlen = b[s + 1]!;
    const at = d.length;
    for (let k = 0; k < optlen; k++) d.push(b[s + k]!);
    d[at + 2] = v.rrPtr;
    if (v.rrNeedAddr && v.rrPtr <= optlen) {
      if (v.rrPtr + 3 > optlen) return null;
      d[at + 2] = v.rrPtr + 4;
    }
  }
  if (v.tsAt) {
    const s = o + v.tsAt, optlen = b[s + 1]!;
    const at = d.length;
    for (let k = 0; k < optlen; k++) d.push(b[s + k]!);
    let soff = v.tsPtr;
    d[at + 2] = soff;
    d[at + 3] = v.tsFlags;
    if (soff <= optlen) {
      if (v.tsNeedAddr) { if (soff + 3 > optlen) return null; soff += 4; }
      if (v.tsNeedTime) {
        if (soff + 3 > optlen) return null;
        if ((b[s + 3]! & 15) !== IPOPT_TS_PRESPEC) soff += 4;
      }
      d[at + 2] = soff;
    }
  }
  if (v.srrAt) {
    const s = o + v.srrAt, optlen = b[s + 1]!;
    let soff = b[s + 2]!;
    let doff = 0;
    const addrs: number[][] = [];
    if (soff > optlen) soff = optlen + 1;
    soff -= 4;
    const soffFirst = soff;
    if (soff > 3) {
      // the addresses before the pointer, last first; the first of them is the answer's next hop
      for (soff -= 4, doff = 4; soff > 3; soff -= 4, doff += 4) addrs.push([...b.subarray(s + soff - 1, s + soff + 3)]);
      const src = b.subarray(o + 12, o + 16), last = b.subarray(s + soff + 3, s + soff + 7);
      // "RFC1812 requires to fix illegal source routes": the sender's own address is dropped
      if (src.every((x, k) => x === last[k])) { doff -= 4; addrs.pop(); }
    }
    // the last slot: the answer's destination, the sender (ip_options_build); the answer goes to faddr
    if (doff > 3) {
      d.push(b[s]!, doff + 3, 4, ...addrs.flat(), ...b.subarray(o + 12, o + 16));
      faddr = ((b[s + soffFirst - 1]! << 24) | (b[s + soffFirst]! << 16) | (b[s + soffFirst + 1]! << 8) | b[s + soffFirst + 2]!) >>> 0;
    }
  }
  if (v.cipsoAt) {
    const s = o + v.cipsoAt;
    for (let k = 0; k < b[s + 1]!; k++) d.push(b[s + k]!);
  }
  while (d.length & 3) d.push(0);
  return Object.assign(d, { faddr });
}

/** The echoed options' bytes; `faddr`, when they hold a source route, its first hop (dopt->faddr), else 0. */
export type IpOptionsEcho = number[] & { faddr: number };

/**
 * The options of the IPv4 header at b[o..] (`ihl` bytes), valid ones, as a
 * forwarded packet leaves with them, written in place: the bytes after an
 * EOL set to EOL, RR and TS pointers advanced over what the receive
 * recorded (__ip_options_compile: spec_dst and the time at the pointer), a
 * full TS's overflow counted up. The recorded addresses and times
 * themselves (spec_dst, ip_forward_options' ip_rt_get_source, the clock)
 * are not written: those bytes stay as received. The caller recomputes the
 * header checksum (ip_forward_options: ip_send_check).
 */
export function ipOptionsForward(b: Uint8Array, o: number, ihl: number): void {
  const v = ipOptionsCompile(b, o, ihl);
  if (v.ppPtr !== 0) return;
  // EOL: the rest of the options becomes EOL
  for (let i = o + 20, l = ihl - 20; l > 0;) {
    const type = b[i]!;
    if (type === IPOPT_END) { b.fill(IPOPT_END, i, o + ihl); break; }
    if (type === IPOPT_NOOP) { i++; l--; continue; }
    const optlen = b[i + 1]!;
    i += optlen; l -= optlen;
  }
  if (v.rrAt) b[o + v.rrAt + 2] = v.rrPtr;
  if (v.tsAt) { b[o + v.tsAt + 2] = v.tsPtr; b[o + v.tsAt + 3] = v.tsFlags; }
}
