/**
 * The conntrack hash table (nf_conntrack_hash) and the entry pools.
 *
 * Like the kernel's, the table is an array of nf_conntrack_buckets chains;
 * every confirmed entry sits in two chains, once per direction, so a packet
 * finds its connection by its own tuple whichever way it travels. Lookups
 * depend only on exact tuple equality, so the hash function is ours (the
 * kernel's is keyed by a boot-time random siphash key); the bucket choice only
 * matters for early drop (NF_CT_EVICTION_RANGE buckets from the new tuple's)
 * and the chain-length limit at confirm, which both work on these buckets.
 *
 * Expiry is lazy, as in the kernel: a lookup that meets an expired entry
 * anywhere on its chain removes it and goes on (____nf_conntrack_find ->
 * nf_ct_gc_expired), and gc_worker reaps the rest on its schedule (below).
 *
 * Layout. Entries are named by a reference: an index into the TCP pool, or
 * CT_REF_SMALL | index into the small pool (entry.ts has both layouts). A
 * pool grows by chunks of CHUNK_ENTRIES entries that never move, so an
 * entry's address stays valid for its life. A chunk holds, one after the
 * other, its entries and their node records: timeout (absolute u32 jiffies once
 * confirmed, relative before) and chain links (two u32, one per direction)
 * in 12-byte node records, so that visiting a node reads one cache line. A chain node is (ref << 1 | direction) + 1; a chain word
 * (a bucket head or a link) is node | tag << 28, where the tag is four bits
 * of the node's tuple hash, or 0 for the end of the chain. A walk reads the
 * dense links and timeouts of every node it passes, as the kernel does
 * (expiry is checked on each), but reads an entry's tuple only when the tag
 * matches: the entry, the only large and cold thing, is touched once per
 * lookup instead of once per node. A free entry's orig-direction link holds
 * the free list.
 */
import {
  CT_TCP_SIZE, CT_SMALL_SIZE, CT_ORIG, CT_REPLY, CTP_SMALL, CTP_FREE,
  ctStatusRaw, ctSetStatusRaw, ctStatus, ctProto, ctState, ctSetSmallProto, ctReplyOnly, ctTuple,
  ctLargeProto, ctSetSctp,
} from "./entry";
import {
  IPS_CONFIRMED, IPS_ASSURED, IPS_DYING, CTS_EARLY_DROP,
  TCP_CONNTRACK_FIN_WAIT, TCP_CONNTRACK_LAST_ACK, TCP_CONNTRACK_TIME_WAIT, TCP_CONNTRACK_CLOSE, TCP_CONNTRACK_CLOSE_WAIT,
  SCTP_CONNTRACK_SHUTDOWN_SENT, SCTP_CONNTRACK_SHUTDOWN_ACK_SENT,
} from "../abi";
import { zalloc, release, grow } from "../util/mem";
import { ctBuckets, ctMax } from "./config";
import { hz } from "../config";
import { ctStatAdd } from "./stats";
import { jiffies } from "../ipv4/clock";
import { natExtRelease } from "../nat/ext";

/** Reference bit of the small pool. */
export const CT_REF_SMALL: u32 = 1 << 26;
/** No entry. */
export const CT_REF_NONE: u32 = 0xffffffff;
/** Entries per pool chunk. */
const CHUNK_SHIFT: u32 = 12;
const CHUNK_ENTRIES: u32 = 1 << CHUNK_SHIFT;
const CHUNK_MASK: u32 = CHUNK_ENTRIES - 1;
/** Most entries a pool holds (the reference space; more than 4 GiB of memory could hold). */
const POOL_MAX: u32 = CT_REF_SMALL;
/** Chain words: node in the low 28 bits, tag in the top 4. */
const NODE_MASK: u32 = 0x0fffffff;
const TAG_SHIFT: u32 = 28;
/** Offsets of a chunk's timeout and link arrays. */
/** A node record: u32 link of the original-direction node, u32 link of the reply one, u32 timeout. */
const NODE_REC: usize = 12;
const NR_TIMEOUT: usize = 8;
const TCP_RECS: usize = <usize>CHUNK_ENTRIES * CT_TCP_SIZE;
const TCP_CHUNK_BYTES: usize = TCP_RECS + <usize>CHUNK_ENTRIES * NODE_REC;
const SMALL_RECS: usize = <usize>CHUNK_ENTRIES * CT_SMALL_SIZE;
const SMALL_CHUNK_BYTES: usize = SMALL_RECS + <usize>CHUNK_ENTRIES * NODE_REC;

/** One pool: chunk pointer table, chunk count, entries handed out, free list head (index + 1). */
class Pool {
  chunks: usize = 0;
  nchunks: u32 = 0;
  chunksCap: u32 = 0;
  used: u32 = 0;
  free: u32 = 0;
}
const tcpPool = new Pool();
const smallPool = new Pool();
/**
 * The pools' chunk tables (Pool.chunks) as plain globals, kept in step by
 * poolSync: ctPtr, on every packet's path, then reads one address less.
 */
let tcpChunks: usize = 0;
let smallChunks: usize = 0;
function poolSync(): void { tcpChunks = tcpPool.chunks; smallChunks = smallPool.chunks; }

/** Allocated entries, confirmed or not (cnet->count). */
export let ctCount: u32 = 0;

let buckets: usize = 0;
let nbuckets: u32 = 0;

/** nfct_time_stamp: the low 32 bits of jiffies. */
// @ts-ignore: decorator
@inline export function nfctTime(): u32 { return <u32>jiffies(); }

// @ts-ignore: decorator
@inline function chunkOf(ref: u32): usize {
  if (ref & CT_REF_SMALL) return <usize>load<u32>(smallChunks + (<usize>((ref & ~CT_REF_SMALL) >> CHUNK_SHIFT) << 2));
  return <usize>load<u32>(tcpChunks + (<usize>(ref >> CHUNK_SHIFT) << 2));
}

/**
 * The node record and the entry of reference `ref`, in its pool chunk at
 * `chunk` (chunkOf). A chain walk looks the chunk up once per node and
 * derives both from it: the chunk table load is on the walk's critical
 * path, and the engine does not merge two loads of it (worth 3-9% a packet
 * at 64k connections in the conntrack bench, 2026-11-22).
 */
// @ts-ignore: decorator
@inline function nodeRecAt(chunk: usize, ref: u32): usize {
  return chunk + (ref & CT_REF_SMALL ? SMALL_RECS : TCP_RECS) + <usize>(ref & CHUNK_MASK) * NODE_REC;
}
// @ts-ignore: decorator
@inline function nodeEntryAt(chunk: usize, ref: u32): usize {
  const i = <usize>(ref & CHUNK_MASK);
  return chunk + (ref & CT_REF_SMALL ? i * CT_SMALL_SIZE : i * CT_TCP_SIZE);
}

/** The entry of a reference. */
// @ts-ignore: decorator
@inline export function ctPtr(ref: u32): usize { return nodeEntryAt(chunkOf(ref), ref); }
/** Address of the entry's node record (links, timeout). */
// @ts-ignore: decorator
@inline function recPtr(ref: u32): usize { return nodeRecAt(chunkOf(ref), ref); }
/** Address of the entry's timeout. */
// @ts-ignore: decorator
@inline function timeoutPtr(ref: u32): usize { return recPtr(ref) + NR_TIMEOUT; }
/** Address of chain node `node`'s link word. */
// @ts-ignore: decorator
@inline function linkPtr(node: u32): usize { return recPtr((node - 1) >> 1) + (<usize>((node - 1) & 1) << 2); }

/** The entry's timeout (ct->timeout). */
// @ts-ignore: decorator
@inline export function ctTimeout(ref: u32): u32 { return load<u32>(timeoutPtr(ref)); }
// @ts-ignore: decorator
@inline export function ctSetTimeout(ref: u32, t: u32): void {
  const at = timeoutPtr(ref);
  if (<i32>(t - load<u32>(at)) < 0) ctEpoch++; // an earlier expiry: see ctEpoch
  store<u32>(at, t);
}

/**
 * Changes to the hash chains that a lookup could see differently: a node
 * inserted or removed, or an entry's timeout moved earlier. The prefetch
 * passes (prefetch.ts) walk a packet's chain ahead of its lookup; the lookup
 * takes their answer only if this has not changed since (and no node they
 * passed has expired by then): what the walk would have found itself.
 */
export let ctEpoch: u32 = 0;

/** nf_ct_is_expired */
// @ts-ignore: decorator
@inline export function ctExpired(ref: u32): bool {
  return <i32>(ctTimeout(ref) - nfctTime()) <= 0;
}

function poolRelease(p: Pool): void {
  for (let i: u32 = 0; i < p.nchunks; i++) release(<usize>load<u32>(p.chunks + (<usize>i << 2)));
  release(p.chunks);
  p.chunks = 0; p.nchunks = 0; p.chunksCap = 0; p.used = 0; p.free = 0;
  poolSync();
}

/** Empties the table and the pools (configuration load, flush). */
export function ctTableReset(): void {
  ctEpoch++;
  poolRelease(tcpPool);
  poolRelease(smallPool);
  ctCount = 0;
  release(buckets);
  nbuckets = ctBuckets;
  buckets = zalloc(<usize>nbuckets << 2);
  gcReset();
}

/** Bytes held by the pools (entries, timeouts, links), their chunk tables and the buckets. */
export function ctTableBytes(): usize {
  return <usize>tcpPool.nchunks * TCP_CHUNK_BYTES + <usize>smallPool.nchunks * SMALL_CHUNK_BYTES +
    (<usize>(tcpPool.chunksCap + smallPool.chunksCap) << 2) + (<usize>nbuckets << 2);
}
/** Entries ever handed out (both pools). */
export function ctPoolUsed(): u32 { return tcpPool.used + smallPool.used; }

/**
 * The tuple hash: addresses, ports and protocol (not the direction). `ports`
 * is sport | dport << 16, as the tuple stores them.
 */
// @ts-ignore: decorator
@inline export function tupleHashV(src: u32, dst: u32, ports: u32, proto: u32): u32 {
  let h: u64 = ((<u64>dst << 32) | <u64>src) * 0x9E3779B97F4A7C15 + ((<u64>proto << 32) | <u64>ports);
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9;
  h ^= h >> 27;
  h *= 0x94D049BB133111EB;
  h ^= h >> 31;
  return <u32>(h >> 32);
}

/** Hash of an entry tuple (12 bytes) with its protocol. */
// @ts-ignore: decorator
@inline export function tupleHash12(t: usize, proto: u32): u32 {
  return tupleHashV(load<u32>(t), load<u32>(t, 4), load<u32>(t, 8), proto);
}

/** reciprocal_scale(hash, nbuckets) */
// @ts-ignore: decorator
@inline export function bucketOf(hash: u32): u32 { return <u32>((<u64>hash * <u64>nbuckets) >> 32); }
/** The chain-word tag of a hash (bits the bucket choice does not use). */
// @ts-ignore: decorator
@inline function tagOf(hash: u32): u32 { return (hash & 0xf) << TAG_SHIFT; }

function poolTake(p: Pool, chunkBytes: usize, tag: u32): u32 {
  let i: u32;
  if (p.free != 0) {
    i = p.free - 1;
    p.free = load<u32>(linkPtr(((i | tag) << 1) + 1));
    return i | tag;
  }
  if (p.used >= POOL_MAX) return CT_REF_NONE;
  i = p.used;
  if ((i & CHUNK_MASK) == 0) {
    const c = i >> CHUNK_SHIFT;
    if (c >= p.chunksCap) {
      const ncap = p.chunksCap == 0 ? 16 : p.chunksCap << 1;
      p.chunks = grow(p.chunks, <usize>p.chunksCap << 2, <usize>ncap << 2);
      p.chunksCap = ncap;
      poolSync();
    }
    // chunks are not zeroed: an entry is cleared when it is handed out
    store<u32>(p.chunks + (<usize>c << 2), <u32>heap.alloc(chunkBytes));
    p.nchunks = c + 1;
  }
  p.used = i + 1;
  return i | tag;
}

/**
 * A zeroed, unhashed entry for protocol `proto` (TCP entries come from the
 * TCP pool), with timeout 0, or CT_REF_NONE when the pool is exhausted.
 */
export function ctAllocRaw(proto: u32): u32 {
  let ref: u32;
  if (ctLargeProto(proto)) {
    ref = poolTake(tcpPool, TCP_CHUNK_BYTES, 0);
    if (ref == CT_REF_NONE) return ref;
    memory.fill(ctPtr(ref), 0, CT_TCP_SIZE);
    if (proto == 132) ctSetSctp(ctPtr(ref));
  } else {
    ref = poolTake(smallPool, SMALL_CHUNK_BYTES, CT_REF_SMALL);
    if (ref == CT_REF_NONE) return ref;
    const ct = ctPtr(ref);
    memory.fill(ct, 0, CT_SMALL_SIZE);
    ctSetStatusRaw(ct, CTP_SMALL);
    ctSetSmallProto(ct, proto);
  }
  ctSetTimeout(ref, 0);
  ctCount++;
  return ref;
}

/** Is the entry allocated? (A freed one keeps its fields, marked CTP_FREE.) */
// @ts-ignore: decorator
@inline export function ctInUse(ct: usize): bool { return (ctStatusRaw(ct) & CTP_FREE) == 0; }

/** nf_conntrack_free: back to its pool (must not be in the hash). */
export function ctFree(ref: u32): void {
  const ct = ctPtr(ref);
  natExtRelease(ref, ct);
  ctSetStatusRaw(ct, ctStatusRaw(ct) | CTP_FREE);
  const p = (ref & CT_REF_SMALL) ? smallPool : tcpPool;
  store<u32>(linkPtr((ref << 1) + 1), p.free);
  p.free = (ref & ~CT_REF_SMALL) + 1;
  ctCount--;
}

// @ts-ignore: decorator
@inline function bucketPtr(b: u32): usize { return buckets + (<usize>b << 2); }
// @ts-ignore: decorator
@inline function nodeRef(node: u32): u32 { return (node - 1) >> 1; }
// @ts-ignore: decorator
@inline function nodeDir(node: u32): u32 { return (node - 1) & 1; }

function chainInsert(b: u32, node: u32, tag: u32): void {
  ctEpoch++;
  store<u32>(linkPtr(node), load<u32>(bucketPtr(b)));
  store<u32>(bucketPtr(b), node | tag);
}

function chainRemove(b: u32, node: u32): void {
  ctEpoch++;
  let prev: usize = bucketPtr(b);
  let w = load<u32>(prev);
  while (w != 0) {
    const n = w & NODE_MASK;
    if (n == node) { store<u32>(prev, load<u32>(linkPtr(n))); return; }
    prev = linkPtr(n);
    w = load<u32>(prev);
  }
}

// @ts-ignore: decorator
@inline function entryHash(ct: usize, dir: u32): u32 { return tupleHash12(ctTuple(ct, dir), ctProto(ct)); }

/** __nf_conntrack_hash_insert: both directions, or only the reply one (an IPS_NAT_CLASH entry). */
export function ctHashInsert(ref: u32): void {
  const ct = ctPtr(ref);
  if (!ctReplyOnly(ct)) {
    const h = entryHash(ct, 0);
    chainInsert(bucketOf(h), (ref << 1) + 1, tagOf(h));
  }
  const h = entryHash(ct, 1);
  chainInsert(bucketOf(h), (ref << 1) + 2, tagOf(h));
}

/** nf_ct_delete for a confirmed entry: out of both chains, then freed. */
export function ctDelete(ref: u32): void {
  const ct = ctPtr(ref);
  if (!ctReplyOnly(ct)) chainRemove(bucketOf(entryHash(ct, 0)), (ref << 1) + 1);
  chainRemove(bucketOf(entryHash(ct, 1)), (ref << 1) + 2);
  ctFree(ref);
}

/** nf_ct_kill: deletes a confirmed entry; an unconfirmed one is only marked dying (its packet frees it). */
export function ctKill(ref: u32): void {
  const ct = ctPtr(ref);
  const st = ctStatus(ct);
  if (st & IPS_DYING) return;
  if (st & IPS_CONFIRMED) ctDelete(ref);
  else ctSetStatusRaw(ct, ctStatusRaw(ct) | IPS_DYING);
}

/** Does node `n` (entry `ref`) carry exactly the tuple (k64 = src | dst << 32, ports, proto)? */
// @ts-ignore: decorator
@inline function nodeIs(ref: u32, n: u32, k64: u64, ports: u32, proto: u32): bool {
  return entryHasTuple(ctPtr(ref), nodeDir(n), k64, ports, proto);
}
/** Does entry `ct`'s tuple of direction `dir` equal (k64, ports, proto)? */
// @ts-ignore: decorator
@inline function entryHasTuple(ct: usize, dir: u32, k64: u64, ports: u32, proto: u32): bool {
  const t = ctTuple(ct, dir);
  return load<u64>(t) == k64 && load<u32>(t, 8) == ports && ctProto(ct) == proto;
}

/**
 * ____nf_conntrack_find: the node (ref << 1 | dir, + 1) with the tuple
 * (src, dst, ports, proto) and hash `hash`, or 0. Expired entries met on
 * the way are reaped.
 */
// @ts-ignore: decorator
@inline
export function ctFindV(src: u32, dst: u32, ports: u32, proto: u32, hash: u32): u32 {
  const b = bucketOf(hash);
  const tag = tagOf(hash);
  const k64 = (<u64>dst << 32) | <u64>src;
  const now = nfctTime(); // (reaping does not move the clock)
  let w = load<u32>(bucketPtr(b));
  while (w != 0) {
    const n = w & NODE_MASK;
    const ref = nodeRef(n);
    const chunk = chunkOf(ref);
    const rec = nodeRecAt(chunk, ref);
    if (<i32>(load<u32>(rec, NR_TIMEOUT) - now) <= 0) { // nf_ct_is_expired
      ctDelete(ref);
      w = load<u32>(bucketPtr(b)); // links may have changed: start over
      continue;
    }
    if ((w & ~NODE_MASK) == tag && entryHasTuple(nodeEntryAt(chunk, ref), nodeDir(n), k64, ports, proto)) return n;
    w = load<u32>(rec + (<usize>nodeDir(n) << 2));
  }
  return 0;
}

/** ctFindV for a 16-byte scratch tuple. */
export function ctFind(t: usize): u32 {
  const src = load<u32>(t), dst = load<u32>(t, 4), ports = load<u32>(t, 8), proto = <u32>load<u8>(t, 12);
  return ctFindV(src, dst, ports, proto, tupleHashV(src, dst, ports, proto));
}

/**
 * nf_conntrack_tuple_taken: is scratch tuple `t` the tuple of a confirmed
 * entry other than `ignored`? An entry with the very same original tuple as
 * `ignored` does not count (clash resolution deals with it).
 */
export function ctTupleTaken(t: usize, ignored: u32): bool {
  const src = load<u32>(t), dst = load<u32>(t, 4), ports = load<u32>(t, 8), proto = <u32>load<u8>(t, 12);
  const hash = tupleHashV(src, dst, ports, proto);
  const b = bucketOf(hash);
  const tag = tagOf(hash);
  const k64 = (<u64>dst << 32) | <u64>src;
  const ign = ctPtr(ignored);
  let w = load<u32>(bucketPtr(b));
  while (w != 0) {
    const n = w & NODE_MASK;
    const ref = nodeRef(n);
    if (ref != ignored) {
      if (ctExpired(ref)) {
        ctDelete(ref);
        w = load<u32>(bucketPtr(b));
        continue;
      }
      if ((w & ~NODE_MASK) == tag && nodeIs(ref, n, k64, ports, proto)) {
        const ct = ctPtr(ref);
        if (!(ctProto(ign) == ctProto(ct) && tuple12EqualAt(ctTuple(ign, 0), ctTuple(ct, 0)))) return true;
      }
    }
    w = load<u32>(linkPtr(n));
  }
  return false;
}

// @ts-ignore: decorator
@inline function tuple12EqualAt(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u32>(a, 8) == load<u32>(b, 8);
}

/**
 * The confirm-time scan of one chain (__nf_conntrack_confirm) for entry
 * `ref`'s tuple of direction `dir`: the node with an equal tuple (confirmed
 * entries; expired ones are not skipped, as in the kernel), 0 if none, or
 * 0xFFFFFFFF if the chain is longer than `maxLen`.
 */
export function ctConfirmScan(ref: u32, dir: u32, maxLen: u32): u32 {
  const me = ctPtr(ref);
  const t = ctTuple(me, dir);
  const src = load<u32>(t), dst = load<u32>(t, 4), ports = load<u32>(t, 8), proto = ctProto(me);
  const hash = tupleHashV(src, dst, ports, proto);
  const b = bucketOf(hash);
  const tag = tagOf(hash);
  const k64 = (<u64>dst << 32) | <u64>src;
  let w = load<u32>(bucketPtr(b));
  let len: u32 = 0;
  while (w != 0) {
    const n = w & NODE_MASK;
    if ((w & ~NODE_MASK) == tag && nodeIs(nodeRef(n), n, k64, ports, proto)) return n;
    if (len++ > maxLen) return 0xffffffff;
    w = load<u32>(linkPtr(n));
  }
  return 0;
}

/**
 * early_drop: in up to 8 buckets starting at the new tuple's, delete every
 * confirmed, non-ASSURED entry of the first bucket that has one (expired
 * entries are reaped on the way). Returns true if anything was dropped.
 */
export function ctEarlyDrop(hash: u32): bool {
  let b = bucketOf(hash);
  for (let i = 0; i < 8; i++) {
    if (i != 0) b = (b + 1) % nbuckets;
    let drops: u32 = 0;
    let w = load<u32>(bucketPtr(b));
    while (w != 0) {
      const n = w & NODE_MASK;
      const ref = nodeRef(n);
      const st = ctStatus(ctPtr(ref));
      if (ctExpired(ref)) {
        ctDelete(ref);
      } else if ((st & (IPS_ASSURED | IPS_DYING)) == 0 && (st & IPS_CONFIRMED) != 0) {
        ctDelete(ref);
        drops++;
      } else {
        w = load<u32>(linkPtr(n));
        continue;
      }
      // links may have changed (the entry's other node can sit in this chain): start over
      w = load<u32>(bucketPtr(b));
    }
    if (drops != 0) {
      ctStatAdd(CTS_EARLY_DROP, drops);
      return true;
    }
  }
  return false;
}

/*
 * gc_worker (nf_conntrack_core.c), on the virtual clock. The kernel's worker
 * sweeps the whole table, reaping expired entries, then sleeps for roughly
 * the average remaining lifetime of what it saw (clamped to 1..60 s, less
 * the time the sweep took); a sweep that reaps more than GC_SCAN_EXPIRED_MAX
 * entries stops and resumes right away. While the table was recently full
 * (gcEarlyDrop, set by a failed allocation) it also drops entries that may
 * be early-dropped once the count is at 95% of nf_conntrack_max. A sweep
 * takes no virtual time, so GC_SCAN_MAX_DURATION never cuts one short. The
 * first run is one second after the clock starts (nf_conntrack_init_start
 * queues the work with a delay of HZ).
 */
let gcNextRun: i64 = 0;
let gcNextBucket: u32 = 0;
let gcAvgTimeout: i64 = 0;
let gcSeen: i64 = 0;
let gcStartTime: u32 = 0;
/** conntrack_gc_work.early_drop: set when an allocation found the table full. */
let gcEarlyDrop: bool = false;
export function gcNoteTableFull(): void { gcEarlyDrop = true; }

function gcReset(): void {
  gcNextRun = 0; // set by the first packet: one second later (queue_delayed_work(..., HZ))
  gcNextBucket = 0;
  gcAvgTimeout = 0;
  gcSeen = 0;
  gcStartTime = 0;
  gcEarlyDrop = false;
}

/** The virtual clock moved without a packet: run the worker as often as it falls due at the new time. */
export function ctGcCatchUp(): void {
  const now = jiffies();
  if (gcNextRun == 0) { gcNextRun = now + <i64>hz; return; }
  // a sweep that stops early reschedules itself at once: bounded all the same
  for (let i = 0; i < 1 << 20 && now >= gcNextRun; i++) gcWorker();
}

/** Runs the worker if it is due (called once per packet, before it is handled). */
// @ts-ignore: decorator
@inline export function ctGcMaybeRun(): void {
  const now = jiffies();
  if (now >= gcNextRun) {
    if (gcNextRun == 0) gcNextRun = now + <i64>hz;
    else gcWorker();
  }
}

/**
 * gc_worker_can_early_drop: not ASSURED, or TCP in a closing state
 * (tcp_can_early_drop), or SCTP shutting down (sctp_can_early_drop).
 */
function gcCanEarlyDrop(ct: usize): bool {
  if ((ctStatus(ct) & IPS_ASSURED) == 0) return true;
  const proto = ctProto(ct);
  if (proto == 132) {
    const st = ctState(ct);
    return st >= <u32>SCTP_CONNTRACK_SHUTDOWN_SENT && st <= <u32>SCTP_CONNTRACK_SHUTDOWN_ACK_SENT;
  }
  if (proto != 6) return false;
  const s = ctState(ct);
  return s == TCP_CONNTRACK_FIN_WAIT || s == TCP_CONNTRACK_LAST_ACK || s == TCP_CONNTRACK_TIME_WAIT ||
         s == TCP_CONNTRACK_CLOSE || s == TCP_CONNTRACK_CLOSE_WAIT;
}

function gcWorker(): void {
  const now = nfctTime();
  const intervalMin: i64 = <i64>hz;
  const intervalMax: i64 = 60 * <i64>hz;
  const clampMax: i64 = 300 * <i64>hz;
  const expiredMax: u32 = 64000 / hz;
  const max95: u32 = gcEarlyDrop ? ctMax / 100 * 95 : 0;
  let i = gcNextBucket;
  if (i == 0) {
    gcAvgTimeout = intervalMax; // GC_SCAN_INTERVAL_INIT
    gcSeen = 100; // GC_SCAN_INITIAL_COUNT
    gcStartTime = now;
  }
  let nextRun: i64 = gcAvgTimeout;
  let count: i64 = gcSeen;
  let expired: u32 = 0;
  while (i < nbuckets) {
    let w = load<u32>(bucketPtr(i));
    while (w != 0) {
      const node = w & NODE_MASK;
      const next = load<u32>(linkPtr(node));
      const ref = nodeRef(node);
      const ct = ctPtr(ref);
      if (expired > expiredMax) {
        gcNextBucket = i;
        gcAvgTimeout = nextRun;
        gcSeen = count;
        // re-sched immediately if total cycle time is exceeded
        const delta = <i32>(now - gcStartTime);
        gcSchedule(delta < <i32>intervalMax ? 1 : 0);
        return;
      }
      if (ctExpired(ref)) {
        ctDelete(ref);
        expired++;
        w = load<u32>(bucketPtr(i)); // links may have changed: rescan the bucket
        continue;
      }
      let left: i64 = <i64><i32>(ctTimeout(ref) - now);
      left = left < intervalMin ? intervalMin : left > clampMax ? clampMax : left;
      count++;
      nextRun += (left - nextRun) / count;
      const st = ctStatus(ct);
      if (max95 != 0 && (st & IPS_CONFIRMED) != 0 && (st & IPS_DYING) == 0 && ctCount >= max95 && gcCanEarlyDrop(ct)) {
        ctKill(ref);
        expired++;
        w = load<u32>(bucketPtr(i));
        continue;
      }
      w = next;
    }
    i++;
  }
  gcNextBucket = 0;
  nextRun = nextRun < intervalMin ? intervalMin : nextRun > intervalMax ? intervalMax : nextRun;
  // delta_time = max(now - start_time, 1)
  const delta: i64 = max<i64>(<i64><i32>(now - gcStartTime), 1);
  gcSchedule(nextRun > delta ? nextRun - delta : 1);
}

function gcSchedule(nextRun: i64): void {
  if (nextRun != 0) gcEarlyDrop = false;
  gcNextRun = jiffies() + nextRun;
}

/**
 * Iteration over live entries for dumps: the next entry reference after the
 * one found at the (bucket, node) cursor, in bucket order, each entry once
 * (via its reply node), skipping expired ones and IPS_NAT_CLASH ones (reply
 * only, not dumped). Returns CT_REF_NONE at the end. `ctIterReset` starts over.
 */
let itBucket: u32 = 0;
let itNode: u32 = 0;
export function ctIterReset(): void { itBucket = 0; itNode = 0; }
export function ctIterNext(): u32 {
  while (itBucket < nbuckets) {
    let w = itNode == 0 ? load<u32>(bucketPtr(itBucket)) : load<u32>(linkPtr(itNode));
    while (w != 0) {
      const n = w & NODE_MASK;
      itNode = n;
      if (nodeDir(n) == 1) {
        const ref = nodeRef(n);
        if (!ctExpired(ref) && !ctReplyOnly(ctPtr(ref))) return ref;
      }
      w = load<u32>(linkPtr(n));
    }
    itBucket++;
    itNode = 0;
  }
  return CT_REF_NONE;
}

/** The chain word at the head of `hash`'s bucket (prefetch.ts touches it early). */
// @ts-ignore: decorator
@inline export function ctBucketHead(hash: u32): u32 { return load<u32>(bucketPtr(bucketOf(hash))); }
/** Prefetch support: the tag bits of a hash, as chain words carry them. */
// @ts-ignore: decorator
@inline export function ctTagOf(hash: u32): u32 { return tagOf(hash); }
/** What the prefetch touches read (folded), so that their loads are kept. */
let ctPrefetchSink: u32 = 0;
/**
 * Prefetch support: one step down a chain at chain word `w` (not 0), as
 * ctFindV takes it, for a lookup whose tag is `tag`: touches the node's
 * timeout and returns its link; or, when the tag matches (most likely the
 * connection), returns 0 (the lookup ends there) with the entry in
 * ctPrefetchHit for ctPrefetchEntry to touch. One chunk lookup for both.
 */
// @ts-ignore: decorator
@inline export function ctPrefetchNode(w: u32, tag: u32): u32 {
  const n = w & NODE_MASK;
  const ref = nodeRef(n);
  const chunk = chunkOf(ref);
  const rec = nodeRecAt(chunk, ref);
  const timeout = load<u32>(rec, NR_TIMEOUT);
  ctPrefetchTimeout = timeout;
  if ((w & ~NODE_MASK) == tag) {
    // (entries are 4-byte aligned: bit 1 says small)
    ctPrefetchHit = <u32>nodeEntryAt(chunk, ref) | (ref & CT_REF_SMALL ? 2 : 0) | 1;
    return 0;
  }
  ctPrefetchHit = 0;
  return load<u32>(rec + (<usize>nodeDir(n) << 2));
}
/** The entry ctPrefetchNode found (bit 0 set, bit 1 for a small entry), or 0; and the node's timeout it read. */
export let ctPrefetchHit: u32 = 0;
export let ctPrefetchTimeout: u32 = 0;
/**
 * Is node `n` live at `now` with the tuple (k64 = src | dst << 32, ports,
 * proto)? ctFindV's test of the node it returns, for a lookup that takes
 * the prefetch's answer (prefetch.ts).
 */
// @ts-ignore: decorator
@inline export function ctNodeIsLive(n: u32, k64: u64, ports: u32, proto: u32, now: u32): bool {
  const ref = nodeRef(n);
  const chunk = chunkOf(ref);
  if (<i32>(load<u32>(nodeRecAt(chunk, ref), NR_TIMEOUT) - now) <= 0) return false;
  return entryHasTuple(nodeEntryAt(chunk, ref), nodeDir(n), k64, ports, proto);
}
/** Prefetch support: touches the lines of entry `e` (as ctPrefetchHit gives it) a packet's path reads. */
// @ts-ignore: decorator
@inline export function ctPrefetchEntry(e: u32): void {
  const a = <usize>(e & ~3);
  let acc = ctPrefetchSink ^ load<u32>(a) ^ load<u32>(a, 32);
  if (!(e & 2)) acc ^= load<u32>(a, 76);
  ctPrefetchSink = acc;
}

/** Chain-length histogram (diagnostics): counts of buckets with 0..max-1 nodes (the last slot: max-1 or more) into u32s at `out`. */
export function ctChainHistogram(out: usize, max: u32): void {
  memory.fill(out, 0, <usize>max << 2);
  for (let b: u32 = 0; b < nbuckets; b++) {
    let len: u32 = 0;
    let w = load<u32>(bucketPtr(b));
    while (w != 0) { len++; w = load<u32>(linkPtr(w & NODE_MASK)); }
    const slot = out + (<usize>min<u32>(len, max - 1) << 2);
    store<u32>(slot, load<u32>(slot) + 1);
  }
}
