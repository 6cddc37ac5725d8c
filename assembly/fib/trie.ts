/**
 * Longest-prefix-match structure of one routing table: a fixed-stride
 * multibit trie with strides 16-8-8 ("DIR-16-8-8").
 *
 * Why this structure (and not DIR-24-8, Poptrie or the kernel's LC-trie):
 *  - A lookup is at most three *dependent* memory reads (level 1 indexed by
 *    the top 16 bits, then up to two 256-entry chunks), with no loops and no
 *    branches beyond two tests of a tag bit; it is O(1) whatever the table.
 *  - DIR-24-8 saves one read but costs a fixed 64 MiB per table. An EKS node
 *    has a dozen tables (main, local, one per ENI), most of them tiny; here a
 *    table costs 256 KiB plus 1 KiB per populated /16 (and per populated /24
 *    for prefixes longer than /24), so 1,000,000 prefixes fit in ~60 MiB and a
 *    four-route ENI table in 257 KiB.
 *  - The 256 KiB first level stays cache resident, so for random destinations
 *    over a large table the cost is one cache miss into a chunk, the same as
 *    DIR-24-8's miss into its 64 MiB array.
 *  - Poptrie compresses further but needs popcount bitmaps and more reads;
 *    memory is not our constraint, read count is.
 *
 * Entries are u32: 0 = no route; bit 31 set = pointer to a chunk (index in the
 * chunk pool); otherwise `node index + 1` of the longest matching prefix node.
 * Controlled prefix expansion: a prefix of length L fills the 2^(stride-L)
 * entries it covers at its level, and only overwrites entries whose current
 * prefix is shorter, so insertion order does not matter for correctness.
 */
import { grow, zalloc, release } from "../util/mem";

export const CHUNK_BIT: u32 = 0x80000000;
const L1_ENTRIES: usize = 65536;
/** A chunk is 256 u32 entries = 1 KiB. */
const CHUNK_BYTES: usize = 1024;

/** Trie header, embedded in the table record (see table.ts). */
export const TRIE_L1 = 0; // usize: level-1 array (65536 u32)
export const TRIE_POOL = 4; // usize: chunk pool
export const TRIE_POOL_CAP = 8; // u32: chunks allocated
export const TRIE_POOL_USED = 12; // u32: chunks in use
export const TRIE_SIZE = 16;

export function trieInit(t: usize): void {
  store<usize>(t, zalloc(L1_ENTRIES << 2), TRIE_L1);
  store<usize>(t, 0, TRIE_POOL);
  store<u32>(t, 0, TRIE_POOL_CAP);
  store<u32>(t, 0, TRIE_POOL_USED);
}

export function trieFree(t: usize): void {
  release(load<usize>(t, TRIE_L1));
  release(load<usize>(t, TRIE_POOL));
  memory.fill(t, 0, TRIE_SIZE);
}

/** Makes room for `chunks` chunks up front (avoids regrowing the pool). */
export function trieReserve(t: usize, chunks: u32): void {
  const cap = load<u32>(t, TRIE_POOL_CAP);
  if (chunks <= cap) return;
  store<usize>(t, grow(load<usize>(t, TRIE_POOL), <usize>cap * CHUNK_BYTES, <usize>chunks * CHUNK_BYTES), TRIE_POOL);
  store<u32>(t, chunks, TRIE_POOL_CAP);
}

/** Bytes the trie occupies (for memory reports): the level-1 array and the chunks in use. */
export function trieBytes(t: usize): usize {
  if (load<usize>(t, TRIE_L1) == 0) return 0;
  return (L1_ENTRIES << 2) + <usize>load<u32>(t, TRIE_POOL_USED) * CHUNK_BYTES;
}

/**
 * Longest-prefix match: returns `node index + 1`, or 0 if no prefix covers
 * `addr`. Three dependent loads at most.
 */
// @ts-ignore: decorator
@inline export function trieLookup(t: usize, addr: u32): u32 {
  let e = load<u32>(load<usize>(t, TRIE_L1) + (<usize>(addr >>> 16) << 2));
  if (e & CHUNK_BIT) {
    const pool = load<usize>(t, TRIE_POOL);
    e = load<u32>(pool + (<usize>(e & ~CHUNK_BIT) << 10) + (<usize>((addr >>> 8) & 0xff) << 2));
    if (e & CHUNK_BIT) {
      e = load<u32>(pool + (<usize>(e & ~CHUNK_BIT) << 10) + (<usize>(addr & 0xff) << 2));
    }
  }
  return e;
}

/** Node records live in the table; the trie needs only their prefix length. */
export const NODE_SIZE = 16;
export const NODE_PLEN = 4;

// @ts-ignore: decorator
@inline function plenOf(nodes: usize, leaf: u32): u32 {
  return load<u8>(nodes + (<usize>(leaf - 1) << 4), NODE_PLEN);
}

/**
 * Makes the entry at `slot` a chunk (copying its current leaf into all 256
 * entries) and returns the chunk index. The pool may move: callers recompute
 * pointers from indices after this returns.
 */
function ensureChunk(t: usize, slot: usize): u32 {
  const e = load<u32>(slot);
  if (e & CHUNK_BIT) return e & ~CHUNK_BIT;
  // `slot` may live inside the pool, which can move when it grows.
  const pool0 = load<usize>(t, TRIE_POOL);
  const inPool = pool0 != 0 && slot >= pool0 && slot < pool0 + <usize>load<u32>(t, TRIE_POOL_CAP) * CHUNK_BYTES;
  const rel = inPool ? slot - pool0 : 0;
  let used = load<u32>(t, TRIE_POOL_USED);
  let cap = load<u32>(t, TRIE_POOL_CAP);
  if (used == cap) {
    const ncap: u32 = cap == 0 ? 16 : cap * 2;
    store<usize>(t, grow(pool0, <usize>cap * CHUNK_BYTES, <usize>ncap * CHUNK_BYTES), TRIE_POOL);
    store<u32>(t, ncap, TRIE_POOL_CAP);
    cap = ncap;
  }
  const pool = load<usize>(t, TRIE_POOL);
  const idx = used;
  const chunk = pool + (<usize>idx << 10);
  for (let i: usize = 0; i < 256; i++) store<u32>(chunk + (i << 2), e);
  store<u32>(t, used + 1, TRIE_POOL_USED);
  const realSlot = inPool ? pool + rel : slot;
  store<u32>(realSlot, idx | CHUNK_BIT);
  return idx;
}

/** Writes `leaf` into the entry if its current prefix is shorter; descends chunks. */
function setEntry(t: usize, slot: usize, leaf: u32, plen: u32, nodes: usize): void {
  const e = load<u32>(slot);
  if (e & CHUNK_BIT) {
    const chunk = load<usize>(t, TRIE_POOL) + (<usize>(e & ~CHUNK_BIT) << 10);
    for (let i: usize = 0; i < 256; i++) setEntry(t, chunk + (i << 2), leaf, plen, nodes);
    return;
  }
  if (e == 0 || plenOf(nodes, e) < plen) store<u32>(slot, leaf);
}

/** Inserts prefix/plen with value `leaf` (node index + 1). */
export function trieInsert(t: usize, prefix: u32, plen: u32, leaf: u32, nodes: usize): void {
  const l1 = load<usize>(t, TRIE_L1);
  const s1 = l1 + (<usize>(prefix >>> 16) << 2);
  if (plen <= 16) {
    const n: usize = <usize>1 << (16 - plen);
    for (let i: usize = 0; i < n; i++) setEntry(t, s1 + (i << 2), leaf, plen, nodes);
    return;
  }
  const c1 = ensureChunk(t, s1);
  let pool = load<usize>(t, TRIE_POOL);
  const s2 = pool + (<usize>c1 << 10) + (<usize>((prefix >>> 8) & 0xff) << 2);
  if (plen <= 24) {
    const n: usize = <usize>1 << (24 - plen);
    for (let i: usize = 0; i < n; i++) setEntry(t, s2 + (i << 2), leaf, plen, nodes);
    return;
  }
  const c2 = ensureChunk(t, s2);
  pool = load<usize>(t, TRIE_POOL);
  const s3 = pool + (<usize>c2 << 10) + (<usize>(prefix & 0xff) << 2);
  const n: usize = <usize>1 << (32 - plen);
  for (let i: usize = 0; i < n; i++) setEntry(t, s3 + (i << 2), leaf, plen, nodes);
}
