/**
 * The conntrack hash table (nf_conntrack_hash) and the entry pool.
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
 * removes it and goes on (____nf_conntrack_find -> nf_ct_gc_expired), and
 * gc_worker reaps the rest on its schedule (see below).
 */
import {
  CT_SIZE, CT_SHIFT, CT_LINK_ORIG, CT_ORIG, CT_REPLY, CT_STATUS, CT_TIMEOUT, CT_FLAGS, CT_FREE_NEXT,
  CF_USED, CF_REPLY_ONLY, CT_STATE, T_PROTO, tupleEqual,
} from "./entry";
import {
  IPS_CONFIRMED, IPS_ASSURED, IPS_DYING, IPS_SRC_NAT_DONE, CTS_EARLY_DROP, CTS_COUNT,
  TCP_CONNTRACK_FIN_WAIT, TCP_CONNTRACK_LAST_ACK, TCP_CONNTRACK_TIME_WAIT, TCP_CONNTRACK_CLOSE, TCP_CONNTRACK_CLOSE_WAIT,
} from "../abi";
import { zalloc, release, grow } from "../util/mem";
import { ctBuckets, ctMax } from "./config";
import { hz } from "../config";
import { ctStat, ctStatAdd } from "./stats";
import { jiffies } from "../ipv4/clock";
import { bysrcRemove } from "../nat/bysrc";

let pool: usize = 0;
let poolCap: u32 = 0;
/** Head of the free list (index + 1, 0 = empty). */
let freeHead: u32 = 0;
/** Entries handed out so far (high-water mark of the pool). */
let poolUsed: u32 = 0;
/** Allocated entries, confirmed or not (cnet->count). */
export let ctCount: u32 = 0;

let buckets: usize = 0;
let nbuckets: u32 = 0;

/** nfct_time_stamp: the low 32 bits of jiffies. */
// @ts-ignore: decorator
@inline export function nfctTime(): u32 { return <u32>jiffies(); }

// @ts-ignore: decorator
@inline export function ctPtr(idx: u32): usize { return pool + (<usize>idx << CT_SHIFT); }

/** nf_ct_is_expired */
// @ts-ignore: decorator
@inline export function ctExpired(ct: usize): bool {
  return <i32>(load<u32>(ct, CT_TIMEOUT) - nfctTime()) <= 0;
}

/** Empties the table and the pool (configuration load). */
export function ctTableReset(): void {
  release(pool);
  release(buckets);
  poolCap = 1024;
  pool = zalloc(<usize>poolCap << CT_SHIFT);
  freeHead = 0;
  poolUsed = 0;
  ctCount = 0;
  nbuckets = ctBuckets;
  buckets = zalloc(<usize>nbuckets << 2);
  gcReset();
}

/** Bytes used by the pool and the buckets (for the memory figure). */
export function ctTableBytes(): usize {
  return (<usize>poolCap << CT_SHIFT) + (<usize>nbuckets << 2);
}
export function ctPoolUsed(): u32 { return poolUsed; }

/** Hash of a tuple (addresses, ports, protocol; not the direction). */
export function tupleHash(t: usize): u32 {
  let h: u64 = load<u64>(t) * 0x9E3779B97F4A7C15;
  h ^= load<u64>(t, 8) + 0x632BE59BD9B4E019 + (h << 6) + (h >> 2);
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9;
  h ^= h >> 32;
  return <u32>h;
}

/** reciprocal_scale(hash, nbuckets) */
// @ts-ignore: decorator
@inline export function bucketOf(hash: u32): u32 { return <u32>((<u64>hash * <u64>nbuckets) >> 32); }

/** A zeroed entry (not in the hash), or 0xFFFFFFFF if the pool cannot grow. */
export function ctAllocRaw(): u32 {
  let idx: u32;
  if (freeHead != 0) {
    idx = freeHead - 1;
    freeHead = load<u32>(ctPtr(idx), CT_FREE_NEXT);
  } else {
    if (poolUsed == poolCap) {
      if (poolCap >= 0x4000000) return 0xffffffff;
      const ncap = poolCap << 1;
      pool = grow(pool, <usize>poolCap << CT_SHIFT, <usize>ncap << CT_SHIFT);
      poolCap = ncap;
    }
    idx = poolUsed++;
  }
  const ct = ctPtr(idx);
  memory.fill(ct, 0, CT_SIZE);
  store<u8>(ct, CF_USED, CT_FLAGS);
  ctCount++;
  return idx;
}

/** nf_conntrack_free: back to the pool (must not be in the hash). */
export function ctFree(idx: u32): void {
  const ct = ctPtr(idx);
  if (load<u32>(ct, CT_STATUS) & IPS_SRC_NAT_DONE) bysrcRemove(idx);
  store<u8>(ct, 0, CT_FLAGS);
  store<u32>(ct, freeHead, CT_FREE_NEXT);
  freeHead = idx + 1;
  ctCount--;
}

// @ts-ignore: decorator
@inline function bucketPtr(b: u32): usize { return buckets + (<usize>b << 2); }
// @ts-ignore: decorator
@inline function nodeLink(node: u32): usize {
  return ctPtr((node - 1) >> 1) + CT_LINK_ORIG + (<usize>((node - 1) & 1) << 2);
}
// @ts-ignore: decorator
@inline function nodeTuple(node: u32): usize {
  return ctPtr((node - 1) >> 1) + CT_ORIG + (<usize>((node - 1) & 1) << 4);
}

function chainInsert(b: u32, node: u32): void {
  store<u32>(nodeLink(node), load<u32>(bucketPtr(b)));
  store<u32>(bucketPtr(b), node);
}

function chainRemove(b: u32, node: u32): void {
  let prev: usize = bucketPtr(b);
  let n = load<u32>(prev);
  while (n != 0) {
    if (n == node) { store<u32>(prev, load<u32>(nodeLink(n))); return; }
    prev = nodeLink(n);
    n = load<u32>(prev);
  }
}

/** __nf_conntrack_hash_insert: both directions (or only the reply one). */
export function ctHashInsert(idx: u32, replyOnly: bool): void {
  const ct = ctPtr(idx);
  if (!replyOnly) chainInsert(bucketOf(tupleHash(ct + CT_ORIG)), (idx << 1) + 1);
  else store<u8>(ct, load<u8>(ct, CT_FLAGS) | CF_REPLY_ONLY, CT_FLAGS);
  chainInsert(bucketOf(tupleHash(ct + CT_REPLY)), (idx << 1) + 2);
}

/** nf_ct_delete for a confirmed entry: out of both chains, then freed. */
export function ctDelete(idx: u32): void {
  const ct = ctPtr(idx);
  if (!(load<u8>(ct, CT_FLAGS) & CF_REPLY_ONLY)) chainRemove(bucketOf(tupleHash(ct + CT_ORIG)), (idx << 1) + 1);
  chainRemove(bucketOf(tupleHash(ct + CT_REPLY)), (idx << 1) + 2);
  ctFree(idx);
}

/** nf_ct_kill: deletes a confirmed entry; an unconfirmed one is only marked dying (its packet frees it). */
export function ctKill(idx: u32): void {
  const ct = ctPtr(idx);
  const st = load<u32>(ct, CT_STATUS);
  if (st & IPS_DYING) return;
  if (st & IPS_CONFIRMED) ctDelete(idx);
  else store<u32>(ct, st | IPS_DYING, CT_STATUS);
}

/**
 * ____nf_conntrack_find: the node (index << 1 | dir, + 1) whose tuple equals
 * `t`, or 0. Expired entries met on the way are reaped.
 */
export function ctFind(t: usize): u32 {
  const b = bucketOf(tupleHash(t));
  let n = load<u32>(bucketPtr(b));
  while (n != 0) {
    const ct = ctPtr((n - 1) >> 1);
    if (ctExpired(ct)) {
      ctDelete((n - 1) >> 1);
      n = load<u32>(bucketPtr(b)); // links may have changed: start over
      continue;
    }
    if (tupleEqual(nodeTuple(n), t)) return n;
    n = load<u32>(nodeLink(n));
  }
  return 0;
}

/**
 * nf_conntrack_tuple_taken: is `t` the tuple of a confirmed entry other than
 * `ignored` (whose original tuple is `ignoredOrig`)? An entry with the very
 * same original tuple does not count (clash resolution deals with it).
 */
export function ctTupleTaken(t: usize, ignored: u32): bool {
  const b = bucketOf(tupleHash(t));
  let n = load<u32>(bucketPtr(b));
  const ign = ctPtr(ignored);
  while (n != 0) {
    const idx = (n - 1) >> 1;
    if (idx != ignored) {
      const ct = ctPtr(idx);
      if (ctExpired(ct)) {
        ctDelete(idx);
        n = load<u32>(bucketPtr(b));
        continue;
      }
      if (tupleEqual(nodeTuple(n), t) && !tupleEqual(ign + CT_ORIG, ct + CT_ORIG)) return true;
    }
    n = load<u32>(nodeLink(n));
  }
  return false;
}

/**
 * The confirm-time scan of one chain (__nf_conntrack_confirm): the node
 * equal to `t` (confirmed entries; expired ones are not skipped, as in the
 * kernel), 0 if none, or 0xFFFFFFFF if the chain is longer than `maxLen`.
 */
export function ctConfirmScan(t: usize, maxLen: u32): u32 {
  const b = bucketOf(tupleHash(t));
  let n = load<u32>(bucketPtr(b));
  let len: u32 = 0;
  while (n != 0) {
    if (tupleEqual(nodeTuple(n), t)) return n;
    if (len++ > maxLen) return 0xffffffff;
    n = load<u32>(nodeLink(n));
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
    let n = load<u32>(bucketPtr(b));
    while (n != 0) {
      const idx = (n - 1) >> 1;
      const ct = ctPtr(idx);
      const st = load<u32>(ct, CT_STATUS);
      if (ctExpired(ct)) {
        ctDelete(idx);
      } else if ((st & (IPS_ASSURED | IPS_DYING)) == 0 && (st & IPS_CONFIRMED) != 0) {
        ctDelete(idx);
        drops++;
      } else {
        n = load<u32>(nodeLink(n));
        continue;
      }
      // links may have changed (the entry's other node can sit in this chain): start over
      n = load<u32>(bucketPtr(b));
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

/** Runs the worker if it is due (called once per packet, before it is handled). */
// @ts-ignore: decorator
@inline export function ctGcMaybeRun(): void {
  const now = jiffies();
  if (now >= gcNextRun) {
    if (gcNextRun == 0) gcNextRun = now + <i64>hz;
    else gcWorker();
  }
}

/** tcp_can_early_drop; other protocols have no can_early_drop. */
function gcCanEarlyDrop(ct: usize): bool {
  if ((load<u32>(ct, CT_STATUS) & IPS_ASSURED) == 0) return true;
  if (load<u8>(ct, CT_ORIG + T_PROTO) != 6) return false;
  const s = <u32>load<u8>(ct, CT_STATE);
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
    let node = load<u32>(bucketPtr(i));
    while (node != 0) {
      const next = load<u32>(nodeLink(node));
      const idx = (node - 1) >> 1;
      const ct = ctPtr(idx);
      if (expired > expiredMax) {
        gcNextBucket = i;
        gcAvgTimeout = nextRun;
        gcSeen = count;
        // re-sched immediately if total cycle time is exceeded
        const delta = <i32>(now - gcStartTime);
        finish(now, delta < <i32>intervalMax ? 1 : 0);
        return;
      }
      if (ctExpired(ct)) {
        ctDelete(idx);
        expired++;
        node = load<u32>(bucketPtr(i)); // links may have changed: rescan the bucket
        continue;
      }
      let left: i64 = <i64><i32>(load<u32>(ct, CT_TIMEOUT) - now);
      left = left < intervalMin ? intervalMin : left > clampMax ? clampMax : left;
      count++;
      nextRun += (left - nextRun) / count;
      const st = load<u32>(ct, CT_STATUS);
      if (max95 != 0 && (st & IPS_CONFIRMED) != 0 && (st & IPS_DYING) == 0 && ctCount >= max95 && gcCanEarlyDrop(ct)) {
        ctKill(idx);
        expired++;
        node = load<u32>(bucketPtr(i));
        continue;
      }
      node = next;
    }
    i++;
  }
  gcNextBucket = 0;
  nextRun = nextRun < intervalMin ? intervalMin : nextRun > intervalMax ? intervalMax : nextRun;
  const took: i64 = 1; // max(now - start_time, 1): the sweep took no virtual time
  const delta: i64 = max<i64>(<i64><i32>(now - gcStartTime), took);
  finish(now, nextRun > delta ? nextRun - delta : 1);
}

function finish(now: u32, nextRun: i64): void {
  if (nextRun != 0) gcEarlyDrop = false;
  gcNextRun = jiffies() + nextRun;
}

/**
 * Iteration over live entries for dumps: the next entry index after the one
 * found at (bucket, node) state, in bucket order, each entry once (via its
 * reply node), skipping expired and reply-only entries. Returns 0xFFFFFFFF at
 * the end. `ctIterReset` starts over.
 */
let itBucket: u32 = 0;
let itNode: u32 = 0;
export function ctIterReset(): void { itBucket = 0; itNode = 0; }
export function ctIterNext(): u32 {
  while (itBucket < nbuckets) {
    let n = itNode == 0 ? load<u32>(bucketPtr(itBucket)) : load<u32>(nodeLink(itNode));
    while (n != 0) {
      itNode = n;
      if (((n - 1) & 1) == 1) {
        const idx = (n - 1) >> 1;
        const ct = ctPtr(idx);
        if (!ctExpired(ct) && !(load<u8>(ct, CT_FLAGS) & CF_REPLY_ONLY)) return idx;
      }
      n = load<u32>(nodeLink(n));
    }
    itBucket++;
    itNode = 0;
  }
  return 0xffffffff;
}
