/**
 * The random laws of the traffic model (host/traffic/distributions.ts
 * compiles a spec's distributions into these records): value laws for
 * sizes, round trips and counts, and Zipf popularity drawn from Walker
 * alias tables (Vose's construction, built by the host). Each takes a
 * uniform draw u in [0, 1) and allocates nothing.
 */
import { DIST_FIXED, DIST_UNIFORM, DIST_EXPONENTIAL, GEN_ZIPF_SIZE } from "../abi";

/** A law record: u32 kind (DIST_*), then f64 parameters a, b, c. */
export const LAW_SIZE: usize = 32;
const L_KIND: usize = 0, L_A: usize = 8, L_B: usize = 16, L_C: usize = 24;

export function lawSet(law: usize, kind: u32, a: f64, b: f64, c: f64): void {
  store<u32>(law, kind, L_KIND);
  store<f64>(law, a, L_A);
  store<f64>(law, b, L_B);
  store<f64>(law, c, L_C);
}

/**
 * A draw of the law at `law`: fixed a; uniform a + u*b; exponential
 * min(-ln(1-u)*a, b) (a the mean, b the cut); pareto min(a*(1-u)^c, b) (a the
 * minimum, c = -1/shape, b the cut).
 */
export function lawAt(law: usize, u: f64): f64 {
  const k = load<u32>(law, L_KIND);
  const a = load<f64>(law, L_A);
  if (k == DIST_FIXED) return a;
  const b = load<f64>(law, L_B);
  if (k == DIST_UNIFORM) return a + u * b;
  if (k == DIST_EXPONENTIAL) return Math.min(-Math.log(1 - u) * a, b);
  return Math.min(a * Math.pow(1 - u, load<f64>(law, L_C)), b);
}

/**
 * The item a Zipf alias table of `n` columns at `z` gives for uniform u: the
 * integer part of u*n picks a column, its fraction the column's item or
 * its alias.
 */
// @ts-ignore: decorator
@inline export function zipfAt(z: usize, n: u32, u: f64): i32 {
  const x = u * <f64>n;
  const i = <i32>x;
  const e = z + <usize>i * GEN_ZIPF_SIZE;
  return x - <f64>i < load<f64>(e) ? load<i32>(e, 8) : load<i32>(e, 12);
}
