/**
 * mulberry32: a small, fast, seeded PRNG for the host's generators (workloads,
 * scenarios, benchmark inputs). Deterministic for a seed. The core has its
 * own (assembly/util/random.ts) for what the kernel randomises; the traffic
 * generator continues this one's stream in the core (assembly/traffic/prng.ts)
 * from the state the host leaves (Mulberry32.state).
 */
export class Mulberry32 {
  /** The u32 state: the next draw depends on it alone. */
  state: number;
  constructor(seed: number) { this.state = seed >>> 0; }
  /** A uniform draw in [0, 1). */
  next(): number {
    const a = this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export function mulberry32(seed: number): () => number {
  const m = new Mulberry32(seed);
  return () => m.next();
}
