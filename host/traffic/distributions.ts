/**
 * The random laws of the traffic model: value distributions (sizes, round
 * trips, counts) and Zipf popularity. Sampling takes a uniform draw in [0, 1)
 * from the generator's seeded PRNG and allocates nothing.
 */
import { isMap } from "yaml";
import type { Field } from "./reader.js";

/** A distribution of a non-negative quantity (bytes, seconds, counts). */
export type Dist =
  | { dist: "fixed"; value: number }
  /** Uniform on [min, max]. */
  | { dist: "uniform"; min: number; max: number }
  /** Exponential with this mean, cut at max (default: no cut). */
  | { dist: "exponential"; mean: number; max?: number }
  /** Pareto (heavy tail: flow sizes) with this shape and minimum, cut at max. */
  | { dist: "pareto"; shape: number; min: number; max?: number };

export const fixed = (value: number): Dist => ({ dist: "fixed", value });

/**
 * Reads a distribution: a bare number (fixed), or a mapping
 * `{dist: fixed|uniform|exponential|pareto, ...}` with the parameters above.
 */
export function readDist(f: Field, o: { max?: number } = {}): Dist {
  if (!f.isNull && !isMapping(f)) return fixed(f.num({ min: 0, max: o.max }));
  const m = f.map(["dist", "value", "min", "max", "mean", "shape"]);
  const kind = m.get("dist");
  if (!kind) f.fail(`needs "dist": one of fixed, uniform, exponential, pareto`);
  const name = kind.str();
  const need = (k: string, opts: { minExclusive?: boolean } = {}): number => {
    const v = m.get(k);
    if (!v) f.fail(`a ${name} distribution needs "${k}"`);
    return v.num({ min: 0, max: o.max, ...opts });
  };
  const allow = (ks: string[]) => {
    for (const [k, v] of m) if (k !== "dist" && !ks.includes(k)) v.fail(`does not apply to a ${name} distribution (it takes ${ks.join(", ")})`, k, "key");
  };
  const optMax = (lo: number): number | undefined => {
    const v = m.get("max");
    if (!v) return undefined;
    const x = v.num({ min: 0, max: o.max });
    if (x < lo) v.fail(`must be at least ${lo} (the distribution's minimum)`);
    return x;
  };
  switch (name) {
    case "fixed": allow(["value"]); return fixed(need("value"));
    case "uniform": {
      allow(["min", "max"]);
      const min = need("min");
      const max = need("max");
      if (max < min) m.get("max")!.fail(`must be at least min (${min})`);
      return { dist: "uniform", min, max };
    }
    case "exponential": {
      allow(["mean", "max"]);
      const mean = need("mean", { minExclusive: true });
      return { dist: "exponential", mean, max: optMax(0) };
    }
    case "pareto": {
      allow(["shape", "min", "max"]);
      const shape = need("shape", { minExclusive: true });
      const min = need("min", { minExclusive: true });
      return { dist: "pareto", shape, min, max: optMax(min) };
    }
    default: return kind.fail(`is not a distribution: use fixed, uniform, exponential or pareto`, name);
  }
}

function isMapping(f: Field): boolean { return isMap(f.node); }

/** Compiled form of a Dist: a kind code and three parameters (no closures, no allocation per draw). */
export class DistSampler {
  private readonly k: number;
  private readonly a: number;
  private readonly b: number;
  private readonly c: number;
  constructor(readonly d: Dist) {
    switch (d.dist) {
      case "fixed": this.k = 0; this.a = d.value; this.b = 0; this.c = 0; break;
      case "uniform": this.k = 1; this.a = d.min; this.b = d.max - d.min; this.c = 0; break;
      case "exponential": this.k = 2; this.a = d.mean; this.b = d.max ?? Infinity; this.c = 0; break;
      case "pareto": this.k = 3; this.a = d.min; this.b = d.max ?? Infinity; this.c = -1 / d.shape; break;
    }
  }
  /** A draw, given a uniform `u` in [0, 1). */
  at(u: number): number {
    switch (this.k) {
      case 0: return this.a;
      case 1: return this.a + u * this.b;
      case 2: return Math.min(-Math.log(1 - u) * this.a, this.b);
      default: return Math.min(this.a * Math.pow(1 - u, this.c), this.b);
    }
  }
  /** The mean (of the uncut law for exponential and pareto cuts: a documentation aid). */
  get mean(): number {
    const d = this.d;
    switch (d.dist) {
      case "fixed": return d.value;
      case "uniform": return (d.min + d.max) / 2;
      case "exponential": return d.mean;
      case "pareto": return d.shape > 1 ? (d.shape * d.min) / (d.shape - 1) : Infinity;
    }
  }
}

/**
 * Zipf popularity over n items: item of rank k (0-based) has weight
 * 1 / (k + 1)^s (s = 0: uniform). Sampling uses Walker's alias method (Vose's
 * construction): one uniform draw, two array reads, whatever n is (a binary
 * search of a million-entry CDF costs twenty cache misses).
 */
export class Zipf {
  private readonly prob: Float64Array;
  private readonly alias: Int32Array;
  private readonly weights: Float64Array;
  private readonly total: number;
  constructor(readonly n: number, readonly s: number) {
    if (!(n >= 1)) throw new RangeError(`Zipf needs at least one item (got ${n})`);
    const w = new Float64Array(n);
    let total = 0;
    for (let k = 0; k < n; k++) total += w[k] = s === 0 ? 1 : Math.pow(k + 1, -s);
    this.weights = w;
    this.total = total;
    // Vose: scaled probabilities, small and large worklists
    const prob = new Float64Array(n);
    const alias = new Int32Array(n);
    const scaled = new Float64Array(n);
    const small = new Int32Array(n);
    const large = new Int32Array(n);
    let ns = 0, nl = 0;
    for (let k = 0; k < n; k++) {
      scaled[k] = (w[k]! * n) / total;
      if (scaled[k]! < 1) small[ns++] = k; else large[nl++] = k;
    }
    while (ns > 0 && nl > 0) {
      const l = small[--ns]!;
      const g = large[--nl]!;
      prob[l] = scaled[l]!;
      alias[l] = g;
      scaled[g] = scaled[g]! + scaled[l]! - 1;
      if (scaled[g]! < 1) small[ns++] = g; else large[nl++] = g;
    }
    while (nl > 0) { const g = large[--nl]!; prob[g] = 1; alias[g] = g; }
    while (ns > 0) { const l = small[--ns]!; prob[l] = 1; alias[l] = l; } // rounding leftovers
    this.prob = prob;
    this.alias = alias;
  }
  /** The rank drawn by uniform `u` in [0, 1): its integer part picks a column, its fraction the column's item or alias. */
  at(u: number): number {
    const x = u * this.n;
    const i = x | 0;
    return x - i < this.prob[i]! ? i : this.alias[i]!;
  }
  /** The probability of rank k. */
  p(k: number): number {
    return this.weights[k]! / this.total;
  }
}
