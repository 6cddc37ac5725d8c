/**
 * The random laws of the traffic model: value distributions (sizes, round
 * trips, counts) and Zipf popularity, as the spec gives them and compiled
 * into the records the core draws from (assembly/traffic/laws.ts: a kind
 * and three parameters per law, Walker alias tables for Zipf).
 */
import { isMap } from "yaml";
import * as abi from "../core/abi.js";
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

/**
 * Compiled form of a Dist, as the core's law records hold it
 * (assembly/traffic/laws.ts draws from it): a kind code (abi DIST_*) and
 * three parameters. fixed: a; uniform: a + u*b; exponential: min(-ln(1-u)*a, b);
 * pareto: min(a*(1-u)^c, b) with c = -1/shape.
 */
export class DistSampler {
  readonly k: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  constructor(readonly d: Dist) {
    switch (d.dist) {
      case "fixed": this.k = abi.DIST_FIXED; this.a = d.value; this.b = 0; this.c = 0; break;
      case "uniform": this.k = abi.DIST_UNIFORM; this.a = d.min; this.b = d.max - d.min; this.c = 0; break;
      case "exponential": this.k = abi.DIST_EXPONENTIAL; this.a = d.mean; this.b = d.max ?? Infinity; this.c = 0; break;
      case "pareto": this.k = abi.DIST_PARETO; this.a = d.min; this.b = d.max ?? Infinity; this.c = -1 / d.shape; break;
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
 * 1 / (k + 1)^s (s = 0: uniform), as a Walker alias table (Vose's
 * construction) the core samples (assembly/traffic/laws.ts zipfAt): one
 * uniform draw u, whose integer part of u*n picks column i and whose fraction
 * picks rank i (below prob[i]) or alias[i]; one table read whatever n is (a
 * binary search of a million-entry CDF costs twenty cache misses).
 */
export class Zipf {
  /** Per column: the probability of its own rank, and the other rank it holds. */
  readonly prob: Float64Array;
  readonly alias: Int32Array;
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
  /** The probability of rank k. */
  p(k: number): number {
    return this.weights[k]! / this.total;
  }
}
