/**
 * Longest-prefix-match structure of one routing table: a multibit trie with
 * strides 16-8-8 whose lower levels are compressed with popcount bitmaps
 * (the idea of Poptrie, Asai & Ohara, SIGCOMM 2015).
 *
 * Why this structure:
 *  - Bounded work: a lookup reads the 16-bit first level, then at most two
 *    compressed nodes, each costing one bitmap word and one popcount, then
 *    one leaf. No loops, no backtracking inside the trie.
 *  - Size decides speed for random destinations: a million prefixes must not
 *    turn every lookup into a DRAM and TLB miss (expensive under nested
 *    paging, as on these VMs). Uncompressed 256-entry chunks would take
 *    ~90 MiB for a full Internet-like table; compressed nodes take ~15 MiB,
 *    which stays in the last-level cache. DIR-24-8 would cost a fixed 64 MiB
 *    per table, and an EKS node has a dozen (mostly tiny) tables.
 *  - The 256 KiB first level is indexed directly and stays cache resident.
 *
 * Two phases. Building inserts prefixes into plain 256-entry chunks (u32:
 * 0 = no route, bit 31 = chunk pointer, otherwise `node index + 1`) with
 * controlled prefix expansion: a prefix fills the entries it covers at its
 * level and overwrites only entries holding a shorter prefix, so insertion
 * order does not matter. `trieCompress` then turns every chunk into a
 * compressed node and frees the chunks; lookups use only compressed nodes.
 *
 * Compressed node (CN_SIZE bytes), for the 256 entries of one chunk:
 *   @0   u64[4] child   bit i: entry i is a pointer to a lower-level node
 *   @32  u64[4] run     bit i: entry i is a leaf whose value starts a new run
 *   @64  u32    leafBase   index of this node's first run value in `leaves`
 *   @68  u32    childBase  index of this node's first child node
 *   @72  u8[4]  runsBefore[w]   runs started in words 0..w-1
 *   @76  u8[4]  childrenBefore[w]
 * Entry i (word w = i/64, bit b = i%64): if child bit set, the child is node
 * childBase + childrenBefore[w] + popcount(child[w] & ((1<<b)-1)); otherwise
 * its value is leaves[leafBase + runsBefore[w] + popcount(run[w] << (63-b)) - 1].
 */
import { zalloc, release } from "../util/mem";

export const CHUNK_BIT: u32 = 0x80000000;
const L1_ENTRIES: usize = 65536;
/** A build chunk is 256 u32 entries = 1 KiB. */
const CHUNK_BYTES: usize = 1024;
/** Compressed node size. */
const CN_SIZE: usize = 80;

/** Trie header, embedded in the table record (see table.ts). */
export const TRIE_L1 = 0; // usize: level-1 array (65536 u32)
export const TRIE_POOL = 4; // usize: build chunks
export const TRIE_POOL_CAP = 8; // u32: chunks allocated
export const TRIE_POOL_USED = 12; // u32: chunks in use
export const TRIE_CN = 16; // usize: compressed nodes
export const TRIE_CN_COUNT = 20; // u32
export const TRIE_LEAVES = 24; // usize: u32 run values
export const TRIE_LEAF_COUNT = 28; // u32
export const TRIE_SIZE = 32;

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
  release(load<usize>(t, TRIE_CN));
  release(load<usize>(t, TRIE_LEAVES));
  memory.fill(t, 0, TRIE_SIZE);
}

/** Bytes the trie occupies once built (for memory reports). */
export function trieBytes(t: usize): usize {
  if (load<usize>(t, TRIE_L1) == 0) return 0;
  return (L1_ENTRIES << 2) + <usize>load<u32>(t, TRIE_POOL_USED) * CHUNK_BYTES +
    <usize>load<u32>(t, TRIE_CN_COUNT) * CN_SIZE + (<usize>load<u32>(t, TRIE_LEAF_COUNT) << 2);
}

// ---------------------------------------------------------------------------
// Lookup (compressed form)
// ---------------------------------------------------------------------------

/** The value of entry `i` of compressed node `p` (a leaf value, or CHUNK_BIT | child node). */
// @ts-ignore: decorator
@inline function cnEntry(p: usize, i: u32, leaves: usize): u32 {
  const w = <usize>(i >> 6);
  const b = <u64>(i & 63);
  const child = load<u64>(p + (w << 3));
  if ((child >> b) & 1) {
    const before = <u32>popcnt<u64>(child & ((<u64>1 << b) - 1));
    return CHUNK_BIT | (load<u32>(p, 68) + <u32>load<u8>(p + 76 + w) + before);
  }
  const run = load<u64>(p + 32 + (w << 3));
  const n = <u32>load<u8>(p + 72 + w) + <u32>popcnt<u64>(run << (63 - b));
  return load<u32>(leaves + (<usize>(load<u32>(p, 64) + n - 1) << 2));
}

/**
 * Longest-prefix match on a built (compressed) trie: `node index + 1`, or 0
 * if no prefix covers `addr`.
 */
// @ts-ignore: decorator
@inline export function trieLookup(t: usize, addr: u32): u32 {
  let e = load<u32>(load<usize>(t, TRIE_L1) + (<usize>(addr >>> 16) << 2));
  if (e & CHUNK_BIT) {
    const cn = load<usize>(t, TRIE_CN);
    const leaves = load<usize>(t, TRIE_LEAVES);
    e = cnEntry(cn + <usize>(e & ~CHUNK_BIT) * CN_SIZE, (addr >>> 8) & 0xff, leaves);
    if (e & CHUNK_BIT) e = cnEntry(cn + <usize>(e & ~CHUNK_BIT) * CN_SIZE, addr & 0xff, leaves);
  }
  return e;
}

// ---------------------------------------------------------------------------
// Building (plain chunks)
// ---------------------------------------------------------------------------

/** Longest-prefix match while building (plain chunks). */
export function trieLookupBuild(t: usize, addr: u32): u32 {
  let e = load<u32>(load<usize>(t, TRIE_L1) + (<usize>(addr >>> 16) << 2));
  if (e & CHUNK_BIT) {
    const pool = load<usize>(t, TRIE_POOL);
    e = load<u32>(pool + (<usize>(e & ~CHUNK_BIT) << 10) + (<usize>((addr >>> 8) & 0xff) << 2));
    if (e & CHUNK_BIT) e = load<u32>(pool + (<usize>(e & ~CHUNK_BIT) << 10) + (<usize>(addr & 0xff) << 2));
  }
  return e;
}

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
// Compression
// ---------------------------------------------------------------------------

let cnCap: u32 = 0;
let leafCap: u32 = 0;

function cnReserve(t: usize, n: u32): u32 {
  const used = load<u32>(t, TRIE_CN_COUNT);
  if (used + n > cnCap) {
    const ncap = max(cnCap * 2, used + n + 64);
    const old = load<usize>(t, TRIE_CN);
    store<usize>(t, old == 0 ? heap.alloc(<usize>ncap * CN_SIZE) : heap.realloc(old, <usize>ncap * CN_SIZE), TRIE_CN);
    cnCap = ncap;
  }
  store<u32>(t, used + n, TRIE_CN_COUNT);
  return used;
}

function leafPush(t: usize, v: u32): void {
  const used = load<u32>(t, TRIE_LEAF_COUNT);
  if (used == leafCap) {
    const ncap = max(leafCap * 2, 1024);
    const old = load<usize>(t, TRIE_LEAVES);
    store<usize>(t, old == 0 ? heap.alloc(<usize>ncap << 2) : heap.realloc(old, <usize>ncap << 2), TRIE_LEAVES);
    leafCap = ncap;
  }
  store<u32>(load<usize>(t, TRIE_LEAVES) + (<usize>used << 2), v);
  store<u32>(t, used + 1, TRIE_LEAF_COUNT);
}

/** Compresses the build chunk `chunk` into compressed node `idx` (children first reserved). */
function compressChunk(t: usize, chunk: u32, idx: u32): void {
  const src = load<usize>(t, TRIE_POOL) + (<usize>chunk << 10);
  let nChild: u32 = 0;
  for (let i: usize = 0; i < 256; i++) if (load<u32>(src + (i << 2)) & CHUNK_BIT) nChild++;
  const childBase = nChild != 0 ? cnReserve(t, nChild) : 0;
  const p = load<usize>(t, TRIE_CN) + <usize>idx * CN_SIZE;
  memory.fill(p, 0, CN_SIZE);
  store<u32>(p, load<u32>(t, TRIE_LEAF_COUNT), 64);
  store<u32>(p, childBase, 68);
  let prev: u32 = 0xffffffff; // value of the previous entry if it was a leaf
  let runs: u32 = 0;
  let kids: u32 = 0;
  for (let i: u32 = 0; i < 256; i++) {
    const w = <usize>(i >> 6);
    if ((i & 63) == 0) {
      store<u8>(p + 72 + w, <u8>runs);
      store<u8>(p + 76 + w, <u8>kids);
    }
    const e = load<u32>(src + (<usize>i << 2));
    const bit = <u64>1 << <u64>(i & 63);
    if (e & CHUNK_BIT) {
      store<u64>(p + (w << 3), load<u64>(p + (w << 3)) | bit);
      kids++;
      prev = 0xffffffff;
    } else if (e != prev) {
      store<u64>(p + 32 + (w << 3), load<u64>(p + 32 + (w << 3)) | bit);
      leafPush(t, e);
      runs++;
      prev = e;
    }
  }
  // children, in entry order (their indices are childBase + k)
  let k: u32 = 0;
  for (let i: usize = 0; i < 256; i++) {
    const e = load<u32>(src + (i << 2));
    if (e & CHUNK_BIT) compressChunk(t, e & ~CHUNK_BIT, childBase + k++);
  }
}

/** Replaces every build chunk by a compressed node and frees the chunks. */
export function trieCompress(t: usize): void {
  cnCap = 0;
  leafCap = 0;
  const l1 = load<usize>(t, TRIE_L1);
  for (let i: usize = 0; i < L1_ENTRIES; i++) {
    const e = load<u32>(l1 + (i << 2));
    if (!(e & CHUNK_BIT)) continue;
    const idx = cnReserve(t, 1);
    compressChunk(t, e & ~CHUNK_BIT, idx);
    store<u32>(l1 + (i << 2), idx | CHUNK_BIT);
  }
  // shrink to size
  const cn = load<u32>(t, TRIE_CN_COUNT);
  if (cn != 0) store<usize>(t, heap.realloc(load<usize>(t, TRIE_CN), <usize>cn * CN_SIZE), TRIE_CN);
  const lv = load<u32>(t, TRIE_LEAF_COUNT);
  if (lv != 0) store<usize>(t, heap.realloc(load<usize>(t, TRIE_LEAVES), <usize>lv << 2), TRIE_LEAVES);
  release(load<usize>(t, TRIE_POOL));
  store<usize>(t, 0, TRIE_POOL);
  store<u32>(t, 0, TRIE_POOL_CAP);
  store<u32>(t, 0, TRIE_POOL_USED);
}

// ---------------------------------------------------------------------------
// Batched lookup
// ---------------------------------------------------------------------------

/**
 * Longest-prefix match of `n` addresses at `addrs` (u32 each), results
 * (`node index + 1` or 0) to `out`. Lookups are resolved eight at a time,
 * level by level: the eight first-level reads are issued together, then the
 * eight second-level ones, so their cache misses overlap instead of queueing
 * behind one another (the same idea as DPDK's rte_lpm_lookupx4).
 */
export function trieLookupBatch(t: usize, addrs: usize, n: usize, out: usize): void {
  const l1 = load<usize>(t, TRIE_L1);
  const cn = load<usize>(t, TRIE_CN);
  const leaves = load<usize>(t, TRIE_LEAVES);
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) {
    const a = addrs + (i << 2);
    const a0 = load<u32>(a), a1 = load<u32>(a, 4), a2 = load<u32>(a, 8), a3 = load<u32>(a, 12);
    const a4 = load<u32>(a, 16), a5 = load<u32>(a, 20), a6 = load<u32>(a, 24), a7 = load<u32>(a, 28);
    let e0 = load<u32>(l1 + (<usize>(a0 >>> 16) << 2));
    let e1 = load<u32>(l1 + (<usize>(a1 >>> 16) << 2));
    let e2 = load<u32>(l1 + (<usize>(a2 >>> 16) << 2));
    let e3 = load<u32>(l1 + (<usize>(a3 >>> 16) << 2));
    let e4 = load<u32>(l1 + (<usize>(a4 >>> 16) << 2));
    let e5 = load<u32>(l1 + (<usize>(a5 >>> 16) << 2));
    let e6 = load<u32>(l1 + (<usize>(a6 >>> 16) << 2));
    let e7 = load<u32>(l1 + (<usize>(a7 >>> 16) << 2));
    if (e0 & CHUNK_BIT) e0 = cnEntry(cn + <usize>(e0 & ~CHUNK_BIT) * CN_SIZE, (a0 >>> 8) & 0xff, leaves);
    if (e1 & CHUNK_BIT) e1 = cnEntry(cn + <usize>(e1 & ~CHUNK_BIT) * CN_SIZE, (a1 >>> 8) & 0xff, leaves);
    if (e2 & CHUNK_BIT) e2 = cnEntry(cn + <usize>(e2 & ~CHUNK_BIT) * CN_SIZE, (a2 >>> 8) & 0xff, leaves);
    if (e3 & CHUNK_BIT) e3 = cnEntry(cn + <usize>(e3 & ~CHUNK_BIT) * CN_SIZE, (a3 >>> 8) & 0xff, leaves);
    if (e4 & CHUNK_BIT) e4 = cnEntry(cn + <usize>(e4 & ~CHUNK_BIT) * CN_SIZE, (a4 >>> 8) & 0xff, leaves);
    if (e5 & CHUNK_BIT) e5 = cnEntry(cn + <usize>(e5 & ~CHUNK_BIT) * CN_SIZE, (a5 >>> 8) & 0xff, leaves);
    if (e6 & CHUNK_BIT) e6 = cnEntry(cn + <usize>(e6 & ~CHUNK_BIT) * CN_SIZE, (a6 >>> 8) & 0xff, leaves);
    if (e7 & CHUNK_BIT) e7 = cnEntry(cn + <usize>(e7 & ~CHUNK_BIT) * CN_SIZE, (a7 >>> 8) & 0xff, leaves);
    if (e0 & CHUNK_BIT) e0 = cnEntry(cn + <usize>(e0 & ~CHUNK_BIT) * CN_SIZE, a0 & 0xff, leaves);
    if (e1 & CHUNK_BIT) e1 = cnEntry(cn + <usize>(e1 & ~CHUNK_BIT) * CN_SIZE, a1 & 0xff, leaves);
    if (e2 & CHUNK_BIT) e2 = cnEntry(cn + <usize>(e2 & ~CHUNK_BIT) * CN_SIZE, a2 & 0xff, leaves);
    if (e3 & CHUNK_BIT) e3 = cnEntry(cn + <usize>(e3 & ~CHUNK_BIT) * CN_SIZE, a3 & 0xff, leaves);
    if (e4 & CHUNK_BIT) e4 = cnEntry(cn + <usize>(e4 & ~CHUNK_BIT) * CN_SIZE, a4 & 0xff, leaves);
    if (e5 & CHUNK_BIT) e5 = cnEntry(cn + <usize>(e5 & ~CHUNK_BIT) * CN_SIZE, a5 & 0xff, leaves);
    if (e6 & CHUNK_BIT) e6 = cnEntry(cn + <usize>(e6 & ~CHUNK_BIT) * CN_SIZE, a6 & 0xff, leaves);
    if (e7 & CHUNK_BIT) e7 = cnEntry(cn + <usize>(e7 & ~CHUNK_BIT) * CN_SIZE, a7 & 0xff, leaves);
    const o = out + (i << 2);
    store<u32>(o, e0); store<u32>(o, e1, 4); store<u32>(o, e2, 8); store<u32>(o, e3, 12);
    store<u32>(o, e4, 16); store<u32>(o, e5, 20); store<u32>(o, e6, 24); store<u32>(o, e7, 28);
  }
  for (; i < n; i++) store<u32>(out + (i << 2), trieLookup(t, load<u32>(addrs + (i << 2))));
}
