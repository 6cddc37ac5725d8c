/**
 * The core's only source of randomness: a seeded xorshift128+ generator, so
 * that the same inputs and seed give the same outputs byte for byte. Where the
 * kernel draws get_random_u32() we draw from here.
 */
let s0: u64 = 0x9e3779b97f4a7c15;
let s1: u64 = 0xbf58476d1ce4e5b9;

export function seedRandom(seed: u32): void {
  // splitmix64 expansion of the seed into two non-zero words
  let z: u64 = <u64>seed + 0x9e3779b97f4a7c15;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  s0 = z ^ (z >> 31);
  z = <u64>seed + 0x3c6ef372fe94f82a;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  s1 = (z ^ (z >> 31)) | 1;
}

export function randomU32(): u32 {
  let x = s0;
  const y = s1;
  s0 = y;
  x ^= x << 23;
  s1 = x ^ y ^ (x >> 17) ^ (y >> 26);
  return <u32>((s1 + y) >> 32);
}

/** get_random_u32_below(n): uniform in [0, n). */
export function randomBelow(n: u32): u32 {
  return <u32>((<u64>randomU32() * <u64>n) >> 32);
}
