/**
 * The NAT extension of a connection (struct nf_conn_nat): its place in the
 * by-source hash (nf_nat_bysource) and the device a MASQUERADE binding was
 * made for (masq_index).
 *
 * The kernel hangs the extension off every entry the nat table saw; here a
 * record exists only for entries with a real source mapping (IPS_SRC_NAT)
 * or a MASQUERADE device (CTP_MASQ): find_appropriate_src is only asked
 * when the original source is outside the range, so an identity binding
 * (source unchanged) could never answer it, and masq_index is 0 for
 * everything else. Records hang in the by-source chain of their entry's
 * original source (protocol, address, port), newest first as
 * hlist_add_head_rcu leaves them, which is the order find_appropriate_src
 * walks; an entry finds its record through that same chain.
 *
 * Record (EXT_SIZE = 12 bytes): u32 next record (index + 1, 0 = end),
 * u32 entry reference, u16 masquerade device slot, u16 unused.
 */
import { T_SRC, T_SPORT, CTP_MASQ, ctTuple, ctProto, ctStatus, ctStatusRaw, ctSetStatusRaw } from "../conntrack/entry";
import { IPS_SRC_NAT } from "../abi";
import { zalloc, release, grow } from "../util/mem";
import { ctBuckets } from "../conntrack/config";

const EXT_SIZE: usize = 12;
const X_NEXT: usize = 0;
const X_REF: usize = 4;
const X_MASQ: usize = 8;

let heads: usize = 0;
let nheads: u32 = 0;
let recs: usize = 0;
let recCap: u32 = 0;
let recUsed: u32 = 0;
let recFree: u32 = 0;

export function natExtReset(): void {
  release(heads);
  release(recs);
  // a quarter of the conntrack buckets: chains stay short (only NATed entries are here)
  nheads = max<u32>(1024, ctBuckets >> 2);
  heads = zalloc(<usize>nheads << 2);
  recs = 0; recCap = 0; recUsed = 0; recFree = 0;
}

/** Bytes held by the extension (for the memory figure). */
export function natExtBytes(): usize { return (<usize>nheads << 2) + <usize>recCap * EXT_SIZE; }

// @ts-ignore: decorator
@inline function rec(i: u32): usize { return recs + <usize>(i - 1) * EXT_SIZE; }

/** hash_by_src: protocol, source address and source port. */
// @ts-ignore: decorator
@inline export function bysrcBucket(src: u32, sport: u32, proto: u32): u32 {
  let h: u64 = ((<u64>src << 24) ^ (<u64>sport << 8) ^ <u64>proto) * 0x9E3779B97F4A7C15;
  return <u32>(((h >> 32) * <u64>nheads) >> 32);
}

// @ts-ignore: decorator
@inline function entryBucket(ct: usize): u32 {
  const o = ctTuple(ct, 0);
  return bysrcBucket(load<u32>(o, T_SRC), <u32>load<u16>(o, T_SPORT), ctProto(ct));
}

/** The record of entry `ref` (index + 1), or 0. */
function find(ref: u32, ct: usize): u32 {
  let n = load<u32>(heads + (<usize>entryBucket(ct) << 2));
  while (n != 0) {
    if (load<u32>(rec(n), X_REF) == ref) return n;
    n = load<u32>(rec(n), X_NEXT);
  }
  return 0;
}

/** The record of entry `ref`, made (at the head of its chain) if it has none. */
function findOrAdd(ref: u32, ct: usize): u32 {
  const have = (ctStatusRaw(ct) & CTP_MASQ) != 0 || (ctStatus(ct) & IPS_SRC_NAT) != 0 ? find(ref, ct) : 0;
  if (have != 0) return have;
  let n: u32;
  if (recFree != 0) {
    n = recFree;
    recFree = load<u32>(rec(n), X_NEXT);
  } else {
    if (recUsed == recCap) {
      const ncap = recCap == 0 ? 1024 : recCap << 1;
      recs = grow(recs, <usize>recCap * EXT_SIZE, <usize>ncap * EXT_SIZE);
      recCap = ncap;
    }
    n = ++recUsed;
  }
  const b = heads + (<usize>entryBucket(ct) << 2);
  store<u32>(rec(n), load<u32>(b), X_NEXT);
  store<u32>(rec(n), ref, X_REF);
  store<u32>(rec(n), 0, X_MASQ);
  store<u32>(b, n);
  return n;
}

/**
 * Adds entry `ref` to the by-source hash (nf_nat_setup_info for a SRC
 * manip that changed the tuple). Call before setting IPS_SRC_NAT.
 */
export function bysrcAdd(ref: u32, ct: usize): void { findOrAdd(ref, ct); }

/** Records the MASQUERADE device (nat->masq_index) and marks the entry CTP_MASQ. */
export function natSetMasq(ref: u32, ct: usize, dev: u32): void {
  const n = findOrAdd(ref, ct);
  store<u16>(rec(n), <u16>dev, X_MASQ);
  ctSetStatusRaw(ct, ctStatusRaw(ct) | CTP_MASQ);
}

/** nat->masq_index of an entry (0 = none). */
// @ts-ignore: decorator
@inline
export function natMasqDev(ref: u32, ct: usize): u32 {
  if ((ctStatusRaw(ct) & CTP_MASQ) == 0) return 0;
  const n = find(ref, ct);
  return n == 0 ? 0 : <u32>load<u16>(rec(n), X_MASQ);
}

/** nf_nat_cleanup_conntrack: the entry is being freed; drop its record. */
export function natExtRelease(ref: u32, ct: usize): void {
  if ((ctStatusRaw(ct) & CTP_MASQ) == 0 && (ctStatus(ct) & IPS_SRC_NAT) == 0) return;
  let prev = heads + (<usize>entryBucket(ct) << 2);
  let n = load<u32>(prev);
  while (n != 0) {
    if (load<u32>(rec(n), X_REF) == ref) {
      store<u32>(prev, load<u32>(rec(n), X_NEXT));
      store<u32>(rec(n), recFree, X_NEXT);
      recFree = n;
      return;
    }
    prev = rec(n) + X_NEXT;
    n = load<u32>(prev);
  }
}

/** First record (index + 1) of the by-source chain for (src, sport, proto), 0 if none. */
export function bysrcFirst(src: u32, sport: u32, proto: u32): u32 {
  return load<u32>(heads + (<usize>bysrcBucket(src, sport, proto) << 2));
}
/** The record after `n`. */
export function bysrcNext(n: u32): u32 { return load<u32>(rec(n), X_NEXT); }
/** The entry reference of record `n`. */
export function bysrcRef(n: u32): u32 { return load<u32>(rec(n), X_REF); }
