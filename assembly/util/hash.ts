/** MurmurHash3's 32-bit finaliser, as host/replay/flow.ts fmix32 (the host's flow and talker hashes). */
// @ts-ignore: decorator
@inline export function fmix32(h: u32): u32 {
  h ^= h >>> 16;
  h *= 0x85ebca6b;
  h ^= h >>> 13;
  h *= 0xc2b2ae35;
  h ^= h >>> 16;
  return h;
}
