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
  const v: IpOptionsVerdict = { ppPtr: 0, srr: false, rr: false, ts: false, routerAlert: false };
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
        break;
      case IPOPT_RR:
        if (v.rr) return fail(i);
        if (optlen < 3) return fail(i + 1);
        if (ptr < 4) return fail(i + 2);
        if (ptr <= optlen && ptr + 3 > optlen) return fail(i + 2);
        v.rr = true;
        break;
      case IPOPT_TIMESTAMP: {
        if (v.ts) return fail(i);
        if (optlen < 4) return fail(i + 1);
        if (ptr < 5) return fail(i + 2);
        const flag = b[i + 3]! & 15;
        if (ptr <= optlen) {
          if (ptr + 3 > optlen) return fail(i + 2);
          if ((flag === IPOPT_TS_TSANDADDR || flag === IPOPT_TS_PRESPEC) && ptr + 7 > optlen) return fail(i + 2);
          // IPOPT_TS_TSONLY and other flags: nothing more to check on receive
          void IPOPT_TS_TSONLY;
        } else if (flag !== IPOPT_TS_PRESPEC) {
          // full: the overflow counter goes up, unless it is at 15
          if (b[i + 3]! >> 4 === 15) return fail(i + 3);
        }
        v.ts = true;
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
