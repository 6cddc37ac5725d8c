/**
 * Longest-prefix-match structure of one routing table: a fixed-stride
 * multibit trie with strides 16-8-8 ("DIR-16-8-8").
 *
 * Why this structure:
 *  - Bounded work: a lookup is at most three dependent reads (the 16-bit
 *    first level, then up to two 256-entry chunks), with no loops and two
 *    tests of a tag bit.
 *  - DIR-24-8 saves one read but costs a fixed 64 MiB per table, and an EKS
 *    node has a dozen tables (main, local, one per ENI), most of them tiny;
 *    here a table costs 256 KiB plus 1 KiB per populated /16 (and per /24
 *    holding longer prefixes). The first level stays cache resident, so a
 *    random lookup over a large table costs one miss, like DIR-24-8.
 *  - Compressing the chunks with popcount bitmaps (Poptrie) was built and
 *    measured here: it cut a 1M-prefix trie from ~87 to ~12 MiB but made
 *    lookups ~3x slower on these VMs (more dependent reads per lookup, and
 *    the saved misses were not cache hits on a shared last-level cache), so
 *    the chunks stay plain. See bench/README numbers.
 *  - Batches of lookups (trieLookupBatch) are resolved eight at a time, level
 *    by level, so their misses overlap.
 *
 * Entries are u32: 0 = no route; bit 31 set = pointer to a chunk (index in the
 * chunk pool); otherwise `node index + 1` of the longest matching prefix node.
 * Controlled prefix expansion: a prefix of length L fills the 2^(stride-L)
 * entries it covers at its level and overwrites only entries whose current
 * prefix is shorter, so insertion order does not matter for correctness.
 */
import { zalloc, release } from "../util/mem";

export const CHUNK_BIT: u32 = 0x80000000;
const L1_ENTRIES: usize = 65536;
/** A build chunk is 256 u32 entries = 1 KiB. */
const CHUNK_BYTES: usize = 1024;

/** Trie header, embedded in the table record (see table.ts). */
export const TRIE_L1 = 0; // usize: level-1 array (65536 u32)
export const TRIE_POOL = 4; // usize: build chunks
export const TRIE_POOL_CAP = 8; // u32: chunks allocated
export const TRIE_POOL_USED = 12; // u32: chunks in use
export const TRIE_SIZE = 16;

/** Node records live in the table; the trie needs only their prefix length. */
export const NODE_SIZE = 16;
export const NODE_PLEN = 4;

export function trieInit(t: usize): void {
  memory.fill(t, 0, TRIE_SIZE);
  store<usize>(t, zalloc(L1_ENTRIES << 2), TRIE_L1);
}

export function trieFree(t: usize): void {
  release(load<usize>(t, TRIE_L1));
  release(load<usize>(t, TRIE_POOL));
  memory.fill(t, 0, TRIE_SIZE);
}

/** Bytes the trie occupies (for memory reports). */
export function trieBytes(t: usize): usize {
  if (load<usize>(t, TRIE_L1) == 0) return 0;
  return (L1_ENTRIES << 2) + <usize>load<u32>(t, TRIE_POOL_USED) * CHUNK_BYTES;
}

// ---------------------------------------------------------------------------
// Lookup
// ---------------------------------------------------------------------------

/**
 * Longest-prefix match: `node index + 1`, or 0 if no prefix covers `addr`.
 * Three dependent reads at most.
 */
// @ts-ignore: decorator
@inline export function trieLookup(t: usize, addr: u32): u32 {
  let e = load<u32>(load<usize>(t, TRIE_L1) + (<usize>(addr >>> 16) << 2));
  if (e & CHUNK_BIT) {
    const pool = load<usize>(t, TRIE_POOL);
    e = load<u32>(pool + (<usize>(e & ~CHUNK_BIT) << 10) + (<usize>((addr >>> 8) & 0xff) << 2));
    if (e & CHUNK_BIT) e = load<u32>(pool + (<usize>(e & ~CHUNK_BIT) << 10) + (<usize>(addr & 0xff) << 2));
  }
  return e;
}

// ---------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------

/**
 * Makes room for `chunks` build chunks (avoids regrowing the pool). The room
 * is not zeroed: a chunk is written whole when it is taken, and pages never
 * taken are never touched.
 */
export function trieReserve(t: usize, chunks: u32): void {
  const cap = load<u32>(t, TRIE_POOL_CAP);
  if (chunks <= cap) return;
  const old = load<usize>(t, TRIE_POOL);
  store<usize>(t, old == 0 ? heap.alloc(<usize>chunks * CHUNK_BYTES) : heap.realloc(old, <usize>chunks * CHUNK_BYTES), TRIE_POOL);
  store<u32>(t, chunks, TRIE_POOL_CAP);
}

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
  const used = load<u32>(t, TRIE_POOL_USED);
  const cap = load<u32>(t, TRIE_POOL_CAP);
  if (used == cap) trieReserve(t, cap == 0 ? 16 : cap * 2);
  const pool = load<usize>(t, TRIE_POOL);
  const chunk = pool + (<usize>used << 10);
  for (let i: usize = 0; i < 256; i++) store<u32>(chunk + (i << 2), e);
  store<u32>(t, used + 1, TRIE_POOL_USED);
  store<u32>(inPool ? pool + rel : slot, used | CHUNK_BIT);
  return used;
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

/** Inserts prefix/plen with value `leaf` (node index + 1); build phase only. */
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

// ---------------------------------------------------------------------------
// Batched lookup
// ---------------------------------------------------------------------------

/** Lookups resolved side by side in trieLookupBatch. */
const W: usize = 8; // 16 was measured: no better

/**
 * Longest-prefix match of `n` addresses at `addrs` (u32 each), results
 * (`node index + 1` or 0) to `out`. Lookups are resolved W at a time,
 * level by level: the W first-level reads are issued together, then the W
 * second-level ones, so their cache misses overlap instead of queueing
 * behind one another (the same idea as DPDK's rte_lpm_lookupx4).
 */
export function trieLookupBatch(t: usize, addrs: usize, n: usize, out: usize): void {
  const l1 = load<usize>(t, TRIE_L1);
  const pool = load<usize>(t, TRIE_POOL);
  let i: usize = 0;
  for (; i + W <= n; i += W) {
    const a = addrs + (i << 2);
    const o = out + (i << 2);
    const a0 = load<u32>(a, 0);
    const a1 = load<u32>(a, 4);
    const a2 = load<u32>(a, 8);
    const a3 = load<u32>(a, 12);
    const a4 = load<u32>(a, 16);
    const a5 = load<u32>(a, 20);
    const a6 = load<u32>(a, 24);
    const a7 = load<u32>(a, 28);
    let e0 = load<u32>(l1 + (<usize>(a0 >>> 16) << 2));
    let e1 = load<u32>(l1 + (<usize>(a1 >>> 16) << 2));
    let e2 = load<u32>(l1 + (<usize>(a2 >>> 16) << 2));
    let e3 = load<u32>(l1 + (<usize>(a3 >>> 16) << 2));
    let e4 = load<u32>(l1 + (<usize>(a4 >>> 16) << 2));
    let e5 = load<u32>(l1 + (<usize>(a5 >>> 16) << 2));
    let e6 = load<u32>(l1 + (<usize>(a6 >>> 16) << 2));
    let e7 = load<u32>(l1 + (<usize>(a7 >>> 16) << 2));
    if (e0 & CHUNK_BIT) e0 = load<u32>(pool + (<usize>(e0 & ~CHUNK_BIT) << 10) + (<usize>((a0 >>> 8) & 0xff) << 2));
    if (e1 & CHUNK_BIT) e1 = load<u32>(pool + (<usize>(e1 & ~CHUNK_BIT) << 10) + (<usize>((a1 >>> 8) & 0xff) << 2));
    if (e2 & CHUNK_BIT) e2 = load<u32>(pool + (<usize>(e2 & ~CHUNK_BIT) << 10) + (<usize>((a2 >>> 8) & 0xff) << 2));
    if (e3 & CHUNK_BIT) e3 = load<u32>(pool + (<usize>(e3 & ~CHUNK_BIT) << 10) + (<usize>((a3 >>> 8) & 0xff) << 2));
    if (e4 & CHUNK_BIT) e4 = load<u32>(pool + (<usize>(e4 & ~CHUNK_BIT) << 10) + (<usize>((a4 >>> 8) & 0xff) << 2));
    if (e5 & CHUNK_BIT) e5 = load<u32>(pool + (<usize>(e5 & ~CHUNK_BIT) << 10) + (<usize>((a5 >>> 8) & 0xff) << 2));
    if (e6 & CHUNK_BIT) e6 = load<u32>(pool + (<usize>(e6 & ~CHUNK_BIT) << 10) + (<usize>((a6 >>> 8) & 0xff) << 2));
    if (e7 & CHUNK_BIT) e7 = load<u32>(pool + (<usize>(e7 & ~CHUNK_BIT) << 10) + (<usize>((a7 >>> 8) & 0xff) << 2));
    if (e0 & CHUNK_BIT) e0 = load<u32>(pool + (<usize>(e0 & ~CHUNK_BIT) << 10) + (<usize>(a0 & 0xff) << 2));
    if (e1 & CHUNK_BIT) e1 = load<u32>(pool + (<usize>(e1 & ~CHUNK_BIT) << 10) + (<usize>(a1 & 0xff) << 2));
    if (e2 & CHUNK_BIT) e2 = load<u32>(pool + (<usize>(e2 & ~CHUNK_BIT) << 10) + (<usize>(a2 & 0xff) << 2));
    if (e3 & CHUNK_BIT) e3 = load<u32>(pool + (<usize>(e3 & ~CHUNK_BIT) << 10) + (<usize>(a3 & 0xff) << 2));
    if (e4 & CHUNK_BIT) e4 = load<u32>(pool + (<usize>(e4 & ~CHUNK_BIT) << 10) + (<usize>(a4 & 0xff) << 2));
    if (e5 & CHUNK_BIT) e5 = load<u32>(pool + (<usize>(e5 & ~CHUNK_BIT) << 10) + (<usize>(a5 & 0xff) << 2));
    if (e6 & CHUNK_BIT) e6 = load<u32>(pool + (<usize>(e6 & ~CHUNK_BIT) << 10) + (<usize>(a6 & 0xff) << 2));
    if (e7 & CHUNK_BIT) e7 = load<u32>(pool + (<usize>(e7 & ~CHUNK_BIT) << 10) + (<usize>(a7 & 0xff) << 2));
    store<u32>(o, e0, 0);
    store<u32>(o, e1, 4);
    store<u32>(o, e2, 8);
    store<u32>(o, e3, 12);
    store<u32>(o, e4, 16);
    store<u32>(o, e5, 20);
    store<u32>(o, e6, 24);
    store<u32>(o, e7, 28);
  }
  for (; i < n; i++) store<u32>(out + (i << 2), trieLookup(t, load<u32>(addrs + (i << 2))));
}
