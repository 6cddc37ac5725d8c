/**
 * -m recent (net/netfilter/xt_recent.c): named lists of recently seen
 * addresses with the jiffies of their last packets. kube-proxy uses them for
 * sessionAffinity: ClientIP (`--set` in the endpoint chain, `--rcheck
 * --seconds N --reap` in the service chain).
 *
 * Kernel limits kept: ip_list_tot = 100 addresses per list (the least
 * recently updated one is evicted to make room), nstamps_max_mask + 1
 * timestamps per address (32 by default, more for a larger --hitcount, which
 * flushes the list when the table is enlarged), and the table's address mask
 * is the one of the rule that created it. Tables live as long as a rule uses
 * them: a ruleset replacement keeps their contents.
 *
 * Table record (RT_SIZE): u32 entries, u32 addr mask, u32 nstamps mask,
 * u32 lru sequence, u32 entry array pointer, u32 capacity.
 * Entry: u32 addr, u8 ttl, u8 used, u16 index, u16 nstamps, u16 pad,
 * u32 lru sequence, then u64 stamps[nstamps mask + 1].
 */
import { zalloc, release } from "../util/mem";
import { jiffies } from "../ipv4/clock";
import { hz } from "../config";

const IP_LIST_TOT: u32 = 100;
const RT_SIZE: usize = 24;
const R_ENTRIES: usize = 0;
const R_MASK: usize = 4;
const R_NSTAMPS_MASK: usize = 8;
const R_LRU: usize = 12;
const R_ARRAY: usize = 16;
const RE_ADDR: usize = 0;
const RE_TTL: usize = 4;
const RE_USED: usize = 5;
const RE_INDEX: usize = 6;
const RE_NSTAMPS: usize = 8;
const RE_LRU: usize = 12;
const RE_STAMPS: usize = 16;

let tables: usize = 0;
let tableCount: u32 = 0;

// @ts-ignore: decorator
@inline function tablePtr(t: u32): usize { return tables + <usize>t * RT_SIZE; }
// @ts-ignore: decorator
@inline function entrySize(tbl: usize): usize { return RE_STAMPS + ((<usize>load<u32>(tbl, R_NSTAMPS_MASK) + 1) << 3); }
// @ts-ignore: decorator
@inline function entryPtr(tbl: usize, i: u32): usize { return <usize>load<u32>(tbl, R_ARRAY) + <usize>i * entrySize(tbl); }

export function recentReset(): void {
  for (let t: u32 = 0; t < tableCount; t++) release(load<u32>(tablePtr(t), R_ARRAY));
  release(tables);
  tables = 0;
  tableCount = 0;
}

/**
 * recent_mt_check for every table the program uses: new tables take the
 * mask of the program's parameters; a table whose rules now need more
 * timestamps is flushed and enlarged.
 */
export function recentEnsureTables(n: u32, params: usize): void {
  if (n > tableCount) {
    const nt = zalloc(<usize>n * RT_SIZE);
    if (tables != 0) { memory.copy(nt, tables, <usize>tableCount * RT_SIZE); release(tables); }
    for (let t = tableCount; t < n; t++) {
      const tbl = nt + <usize>t * RT_SIZE;
      store<u32>(tbl, load<u32>(params + (<usize>t << 3)), R_MASK);
      store<u32>(tbl, load<u32>(params + (<usize>t << 3), 4), R_NSTAMPS_MASK);
    }
    tables = nt;
    tableCount = n;
  }
  for (let t: u32 = 0; t < n; t++) {
    const tbl = tablePtr(t);
    const want = load<u32>(params + (<usize>t << 3), 4);
    if (want > load<u32>(tbl, R_NSTAMPS_MASK)) {
      release(load<u32>(tbl, R_ARRAY));
      store<u32>(tbl, 0, R_ARRAY);
      store<u32>(tbl, 0, R_ENTRIES);
      store<u32>(tbl, want, R_NSTAMPS_MASK);
    }
  }
}

function findEntry(tbl: usize, addr: u32, ttl: u32): i32 {
  const arr = load<u32>(tbl, R_ARRAY);
  if (arr == 0) return -1;
  for (let i: u32 = 0; i < IP_LIST_TOT; i++) {
    const e = entryPtr(tbl, i);
    if (load<u8>(e, RE_USED) == 0) continue;
    if (load<u32>(e, RE_ADDR) != addr) continue;
    const et = <u32>load<u8>(e, RE_TTL);
    if (ttl == et || ttl == 0 || et == 0) return <i32>i;
  }
  return -1;
}

function removeEntry(tbl: usize, i: u32): void {
  store<u8>(entryPtr(tbl, i), 0, RE_USED);
  store<u32>(tbl, load<u32>(tbl, R_ENTRIES) - 1, R_ENTRIES);
}

/** The least recently updated entry (the head of the kernel's lru_list), -1 if none. */
function lruHead(tbl: usize): i32 {
  let best: i32 = -1;
  let bestSeq: u32 = 0;
  for (let i: u32 = 0; i < IP_LIST_TOT; i++) {
    const e = entryPtr(tbl, i);
    if (load<u8>(e, RE_USED) == 0) continue;
    const s = load<u32>(e, RE_LRU);
    if (best < 0 || s < bestSeq) { best = <i32>i; bestSeq = s; }
  }
  return best;
}

function touchLru(tbl: usize, e: usize): void {
  const s = load<u32>(tbl, R_LRU) + 1;
  store<u32>(tbl, s, R_LRU);
  store<u32>(e, s, RE_LRU);
}

/** recent_entry_init */
function initEntry(tbl: usize, addr: u32, ttl: u32): usize {
  if (load<u32>(tbl, R_ARRAY) == 0) store<u32>(tbl, <u32>zalloc(entrySize(tbl) * IP_LIST_TOT), R_ARRAY);
  if (load<u32>(tbl, R_ENTRIES) >= IP_LIST_TOT) {
    const h = lruHead(tbl);
    if (h >= 0) removeEntry(tbl, <u32>h);
  }
  let slot: u32 = 0;
  while (slot < IP_LIST_TOT && load<u8>(entryPtr(tbl, slot), RE_USED) != 0) slot++;
  const e = entryPtr(tbl, slot);
  memory.fill(e, 0, entrySize(tbl));
  store<u32>(e, addr, RE_ADDR);
  store<u8>(e, <u8>ttl, RE_TTL);
  store<u8>(e, 1, RE_USED);
  store<u64>(e, <u64>jiffies(), RE_STAMPS);
  store<u16>(e, 1, RE_NSTAMPS);
  store<u16>(e, 1, RE_INDEX);
  touchLru(tbl, e);
  store<u32>(tbl, load<u32>(tbl, R_ENTRIES) + 1, R_ENTRIES);
  return e;
}

/** recent_entry_update */
function updateEntry(tbl: usize, e: usize): void {
  let index = <u32>load<u16>(e, RE_INDEX) & load<u32>(tbl, R_NSTAMPS_MASK);
  store<u64>(e + RE_STAMPS + (<usize>index << 3), <u64>jiffies());
  index++;
  store<u16>(e, <u16>index, RE_INDEX);
  if (index > <u32>load<u16>(e, RE_NSTAMPS)) store<u16>(e, <u16>index, RE_NSTAMPS);
  touchLru(tbl, e);
}

// @ts-ignore: decorator
@inline function timeAfter(a: i64, b: i64): bool { return b - a < 0; }

export const RECENT_SET: u32 = 1;
export const RECENT_RCHECK: u32 = 2;
export const RECENT_UPDATE: u32 = 3;
export const RECENT_REMOVE: u32 = 4;
export const RECENT_REAP: u32 = 1;
export const RECENT_TTL: u32 = 2;

/**
 * recent_mt. `addr` is the packet's source or destination, `ttl` its TTL
 * as the match sees it. Returns the match result (before the rule's `!`,
 * which the caller applies by passing `invert`).
 */
export function recentMatch(table: u32, op: u32, flags: u32, seconds: u32, hitcount: u32, addr: u32, ttl: u32, invert: bool): bool {
  let ret = invert;
  if (table >= tableCount) return ret;
  const tbl = tablePtr(table);
  const a = addr & load<u32>(tbl, R_MASK);
  const i = findEntry(tbl, a, (flags & RECENT_TTL) != 0 ? ttl : 0);
  if (i < 0) {
    if (op != RECENT_SET) return ret;
    initEntry(tbl, a, ttl);
    return !ret;
  }
  const e = entryPtr(tbl, <u32>i);
  if (op == RECENT_SET) {
    ret = !ret;
  } else if (op == RECENT_REMOVE) {
    removeEntry(tbl, <u32>i);
    return !ret;
  } else {
    const time = jiffies() - <i64>seconds * <i64>hz;
    let hits: u32 = 0;
    const n = <u32>load<u16>(e, RE_NSTAMPS);
    for (let k: u32 = 0; k < n; k++) {
      if (seconds != 0 && timeAfter(time, <i64>load<u64>(e + RE_STAMPS + (<usize>k << 3)))) continue;
      if (hitcount == 0 || ++hits >= hitcount) { ret = !ret; break; }
    }
    if (flags & RECENT_REAP) {
      // recent_entry_reap: only the least recently updated entry can go
      const h = lruHead(tbl);
      if (h >= 0 && !(<u32>h == <u32>i && op == RECENT_UPDATE && ret)) {
        const he = entryPtr(tbl, <u32>h);
        const last = (<u32>load<u16>(he, RE_INDEX) - 1);
        if (timeAfter(time, <i64>load<u64>(he + RE_STAMPS + (<usize>last << 3)))) removeEntry(tbl, <u32>h);
      }
    }
  }
  if (op == RECENT_SET || (op == RECENT_UPDATE && ret)) {
    if (load<u8>(e, RE_USED) != 0) {
      updateEntry(tbl, e);
      store<u8>(e, <u8>ttl, RE_TTL);
    }
  }
  return ret;
}
