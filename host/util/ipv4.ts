/**
 * IPv4 addresses as u32 numbers in host order (10.1.2.3 = 0x0A010203), the
 * representation the WASM core uses. Parsing is strict: four decimal octets,
 * no leading "+" or spaces, each 0..255.
 */

/** Parses a dotted quad; returns undefined if it is not one. */
export function parseIPv4(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (p.length === 0 || p.length > 3 || !/^[0-9]+$/.test(p)) return undefined;
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
