/**
 * Synthetic routing tables for benchmarks: prefix lengths distributed like a
 * full Internet table (mostly /24, then /22-/23, /16-/21, a few longer and
 * shorter), seeded and reproducible.
 */
import { mulberry32 as prng } from "../host/util/prng.js";
export { prng };

const LEN_DIST: [number, number][] = [
  [8, 0.0005], [12, 0.002], [14, 0.004], [16, 0.02], [18, 0.03], [19, 0.05], [20, 0.07], [21, 0.07],
  [22, 0.12], [23, 0.1], [24, 0.5], [25, 0.005], [26, 0.006], [27, 0.005], [28, 0.005], [29, 0.004], [30, 0.003], [32, 0.0055],
];

export interface SynthPrefix { addr: number; plen: number; value: number }

/** `n` distinct prefixes. */
export function internetLikePrefixes(n: number, seed = 42): SynthPrefix[] {
  const rnd = prng(seed);
  const seen = new Set<string>();
  const out: SynthPrefix[] = [];
  const total = LEN_DIST.reduce((s, [, w]) => s + w, 0);
  while (out.length < n) {
    let x = rnd() * total;
    let plen = 24;
    for (const [l, w] of LEN_DIST) { if (x < w) { plen = l; break; } x -= w; }
    // first octet 1..223, skip 10/8, 127/8
    let a = (Math.floor(rnd() * 4294967296) >>> 0);
    const o1 = 1 + Math.floor(rnd() * 222);
    if (o1 === 10 || o1 === 127) continue;
    a = ((o1 << 24) | (a & 0x00ffffff)) >>> 0;
    const mask = plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
    a = (a & mask) >>> 0;
    const key = `${a}/${plen}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ addr: a, plen, value: 0 });
  }
  // `ip route show` prints a table in address order
  out.sort((x, y) => x.addr - y.addr || x.plen - y.plen);
  out.forEach((p, i) => (p.value = i));
  return out;
}

/** Random destinations (uniform over the unicast space). */
export function randomDestinations(n: number, seed = 7): Uint32Array {
  const rnd = prng(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((1 + Math.floor(rnd() * 222)) << 24 | Math.floor(rnd() * 16777216)) >>> 0;
  return out;
}

/** "Hot" destinations: `n` lookups drawn from only `distinct` addresses (cache resident). */
export function hotDestinations(n: number, distinct: number, seed = 9): Uint32Array {
  const pool = randomDestinations(distinct, seed);
  const rnd = prng(seed + 1);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = pool[Math.floor(rnd() * distinct)];
  return out;
}
