/**
 * The generator's PRNG: mulberry32, the host's generator PRNG
 * (host/util/prng.ts), so that the host's draws at construction (addresses,
 * permutations, first ports) and the core's draws continue one stream. The
 * state is a u32 kept in a global while a generator call runs (prngLoad /
 * prngSave move it to and from the generator's record).
 */

let state: u32 = 0;

// @ts-ignore: decorator
@inline export function prngLoad(s: u32): void { state = s; }
// @ts-ignore: decorator
@inline export function prngSave(): u32 { return state; }

/** A uniform draw in [0, 1): 32 random bits / 2^32. */
// @ts-ignore: decorator
@inline export function rnd(): f64 {
  const a = state + 0x6d2b79f5;
  state = a;
  let t = (a ^ (a >>> 15)) * (a | 1);
  t ^= t + (t ^ (t >>> 7)) * (t | 61);
  return <f64>(t ^ (t >>> 14)) * (1.0 / 4294967296.0);
}
