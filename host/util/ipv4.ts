/**
 * IPv4 addresses as u32 numbers in host order (10.1.2.3 = 0x0A010203), the
 * representation the WASM core uses. Parsing is strict: four decimal octets,
 * each 0..255, no leading zeros, signs or spaces.
 */

/** Parses a dotted quad; returns undefined if it is not one. */
export function parseIPv4(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    // no leading zeros: "010" means 8 to inet_aton and 10 to a reader; refuse the ambiguity
    if (p.length === 0 || p.length > 3 || !/^[0-9]+$/.test(p) || (p.length > 1 && p[0] === "0")) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** Formats a u32 as a dotted quad. */
export function formatIPv4(a: number): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Network mask for a prefix length. */
export function maskOf(plen: number): number {
  return plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
}

/**
 * Parses "A.B.C.D[/N]"; a missing length means /32. Returns undefined if the
 * text is not a CIDR. `strict` rejects host bits set below the mask.
 */
export function parseCidr(s: string, strict = false): { addr: number; plen: number } | undefined {
  const slash = s.indexOf("/");
  const a = parseIPv4(slash < 0 ? s : s.slice(0, slash));
  if (a === undefined) return undefined;
  let plen = 32;
  if (slash >= 0) {
    const t = s.slice(slash + 1);
    if (!/^[0-9]{1,2}$/.test(t)) return undefined;
    plen = Number(t);
    if (plen > 32) return undefined;
  }
  if (strict && ((a & ~maskOf(plen)) >>> 0) !== 0) return undefined;
  return { addr: a, plen };
}

/** "A.B.C.D/N", or just the address for /32 (as iproute2 prints). */
export function formatPrefix(addr: number, plen: number): string {
  return plen === 32 ? formatIPv4(addr) : `${formatIPv4(addr)}/${plen}`;
}

/** True if `a` falls in addr/plen. */
export function inPrefix(a: number, addr: number, plen: number): boolean {
  const m = maskOf(plen);
  return ((a & m) >>> 0) === ((addr & m) >>> 0);
}

/**
 * iproute2's get_addr_ipv4: up to four parts separated by dots, each read by
 * strtoul(..., 0) (so "010" is octal 8 and "0x0a" is 10), missing trailing
 * parts are zero ("10.8" is 10.8.0.0). For command-line compatibility with
 * `ip route get`.
 */
export function parseIPv4Iproute2(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length < 1 || parts.length > 4) return undefined;
  const bytes = [0, 0, 0, 0];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    let n: number;
    if (/^0[xX][0-9a-fA-F]+$/.test(p)) n = parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) n = p.length > 1 ? parseInt(p, 8) : 0;
    else if (/^[1-9][0-9]*$/.test(p)) n = Number(p);
    else return undefined;
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
}
