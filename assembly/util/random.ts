/**
 * The core's only source of randomness: a seeded xorshift128+ generator, so
 * that the same inputs and seed give the same outputs byte for byte. Where the
 * kernel draws get_random_u32() we draw from here.
 */
import { PKT_SHIFT } from "../abi";
import { fmix32 } from "./hash";

let s0: u64 = 0x9e3779b97f4a7c15;
let s1: u64 = 0xbf58476d1ce4e5b9;

export function seedRandom(seed: u32): void {
  armed = false;
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

/**
 * Per-packet seeds (`seed_keys_set`): the host gives each descriptor of a
 * batch a 32-bit key, and the PRNG is re-seeded from the key of the packet
 * being processed before its first draw. A packet's random choices (NAT
 * port offsets, `statistic`, early-drop and ICMP-credit draws) then depend
 * on the packet alone, not on which packets the same engine processed before:
 * the same whether one engine replays a capture or workers replay shards of it.
 */
let keysBase: usize = 0;
let keysPtr: usize = 0;
let keysCount: u32 = 0;
/** seedKeysDerive: the keys are derived from these instead of read at keysPtr. */
let keysDerived = false;
let keysSeedPart: u32 = 0;
let keysFirst: u64 = 0;
let armed = false;
/** The armed packet's key, or (keysDerived) its input index, derived at the first draw. */
let armedKey: u64 = 0;

/** Descriptors at `base + k * PKT_SIZE` (k < count) take their seed from the u32 at `keys + 4k`; count 0 turns it off. */
export function seedKeysSet(base: usize, keys: usize, count: u32): void {
  keysBase = base;
  keysPtr = keys;
  keysCount = count;
  keysDerived = false;
  armed = false;
}

/**
 * Descriptors at `base + k * PKT_SIZE` (k < count) have the input indexes
 * first + k (first = firstHi * 2^32 + firstLo): each takes the key
 * packetKey gives for its index, derived when it first draws (most packets
 * never do).
 */
export function seedKeysDerive(base: usize, count: u32, seed: u32, firstLo: u32, firstHi: u32): void {
  seedKeysSet(base, 0, count);
  keysDerived = true;
  keysSeedPart = fmix32(seed ^ 0x6a09e667);
  keysFirst = (<u64>firstHi << 32) | <u64>firstLo;
}

/**
 * The key of input index `index` under a seed whose part is
 * fmix32(seed ^ 0x6a09e667): fmix32(seedPart ^ fmix32(lo ^ 0xbb67ae85) ^
 * hi * 0x3c6ef372) (lo, hi: the index's low and high 32 bits), as
 * host/replay/runner.ts packetSeed.
 */
// @ts-ignore: decorator
@inline function packetKey(seedPart: u32, index: u64): u32 {
  return fmix32(seedPart ^ fmix32(<u32>index ^ 0xbb67ae85) ^ (<u32>(index >> 32) * 0x3c6ef372));
}

/** Writes the keys seedKeysDerive derives for `count` consecutive indexes at `keys` (for the tests). */
export function seedKeysFill(keys: usize, count: u32, seed: u32, firstLo: u32, firstHi: u32): void {
  const s = fmix32(seed ^ 0x6a09e667);
  const first = (<u64>firstHi << 32) | <u64>firstLo;
  for (let k: u32 = 0; k < count; k++) store<u32>(keys + (<usize>k << 2), packetKey(s, first + <u64>k));
}

/** Packet `p` starts: with per-packet seeds, its key seeds the PRNG at the first draw. */
// @ts-ignore: decorator
@inline export function seedArmPacket(p: usize): void {
  if (keysCount != 0) armPacket(p);
}

function armPacket(p: usize): void {
  const k = (p - keysBase) >> PKT_SHIFT;
  if (p < keysBase || k >= <usize>keysCount) return;
  armedKey = keysDerived ? keysFirst + <u64>k : <u64>load<u32>(keysPtr + (k << 2));
  armed = true;
}

export function randomU32(): u32 {
  if (armed) seedRandom(keysDerived ? packetKey(keysSeedPart, armedKey) : <u32>armedKey);
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
