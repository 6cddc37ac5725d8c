/**
 * The lookup key and the lookup result, as `struct flowi4` and
 * `struct fib_result` are in the kernel. The core is single-threaded, so they
 * are module globals: whoever fills the flow calls `fibLookup` and reads the
 * result before the next lookup (nested lookups, e.g. for an ICMP error, copy
 * what they need first).
 */

// ---- struct flowi4 ----
export let flIif: u32 = 0; // device slot (loopback slot for output lookups)
export let flOif: u32 = 0; // device slot, 0 = any
export let flMark: u32 = 0;
export let flSaddr: u32 = 0;
export let flDaddr: u32 = 0;
/** DS field with ECN bits cleared (flowi4_dscp as a dsfield). */
export let flTos: u32 = 0;
export let flProto: u32 = 0;
export let flSport: u32 = 0;
export let flDport: u32 = 0;
export let flUid: u32 = 0;
export let flScope: u32 = 0;

export function setFlow(iif: u32, oif: u32, mark: u32, saddr: u32, daddr: u32, tos: u32,
                        proto: u32, sport: u32, dport: u32, uid: u32): void {
  flIif = iif; flOif = oif; flMark = mark; flSaddr = saddr; flDaddr = daddr;
  flTos = tos & 0xfc; flProto = proto; flSport = sport; flDport = dport; flUid = uid;
  flScope = 0;
}
export function setFlowSaddr(a: u32): void { flSaddr = a; }
export function setFlowOif(o: u32): void { flOif = o; }
export function setFlowPorts(proto: u32, sport: u32, dport: u32): void { flProto = proto; flSport = sport; flDport = dport; }

// ---- struct fib_result ----
export let resType: u32 = 0;
/** Pointer to the matched route record, 0 if none (error from a rule). */
export let resRoute: usize = 0;
export let resPlen: u32 = 0;
export let resPrefix: u32 = 0;
/** Table slot of the result, 0xFFFFFFFF if none. */
export let resTable: u32 = 0xffffffff;
/** Index of the rule that produced the result, 0xFFFFFFFF if none. */
export let resRule: u32 = 0xffffffff;

/**
 * res->dscp: the TOS of the last route a table lookup returned during this
 * fib_lookup, kept even when the rule then suppressed that result (the
 * kernel leaves it in the fib_result, and `ip route get` prints it when a
 * later fallback answers).
 */
export let resTos: u32 = 0;

export function setResult(type: u32, route: usize, plen: u32, prefix: u32, table: u32, tos: u32): void {
  resType = type; resRoute = route; resPlen = plen; resPrefix = prefix; resTable = table; resTos = tos;
}
export function clearResult(): void {
  resType = 0; resRoute = 0; resPlen = 0; resPrefix = 0; resTable = 0xffffffff; resRule = 0xffffffff; resTos = 0;
}
export function setResultRule(r: u32): void { resRule = r; }
export function setResultType(t: u32): void { resType = t; }
