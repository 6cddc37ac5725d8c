/**
 * Top talkers (abi.ts section 11): the Misra-Gries summary of
 * host/report/talkers.ts kept in the core, so that counting a batch's
 * sources and destinations is one call. The same hash, probing, batch
 * decrement by the median and byte scaling as the JavaScript it replaced,
 * so the same answers (test/replay/summary-core.test.ts compares them).
 */
import {
  PKT_SHIFT, PKT_SRC, PKT_DST, PKT_LEN, PKT_FLAGS, PF_LOCAL, PF_SRC_SET,
  TT_COUNTERS, TT_SLOTS, TT_SIZE, TT_TABLE, TT_TOTAL, TT_ERROR_BOUND, TT_SCRATCH, TT_HEADER,
  TT_SLOT_SIZE, TT_SLOT_PACKETS, TT_SLOT_BYTES, TT_SLOT_ADDR,
} from "../abi";
import { zalloc } from "../util/mem";
import { fmix32 } from "../util/hash";

// @ts-ignore: decorator
@inline const SLOT_SHIFT = 5;

/** A summary of `counters` (a power of two) counters. */
export function talkersCreate(counters: u32): usize {
  if (counters == 0 || (counters & (counters - 1)) != 0) abort("top talkers: counters must be a power of two");
  const slots = counters << 1;
  const t = zalloc(<usize>TT_HEADER + (<usize>slots << SLOT_SHIFT) + <usize>counters * 28);
  store<u32>(t, counters, TT_COUNTERS);
  store<u32>(t, slots, TT_SLOTS);
  store<u32>(t, <u32>(t + TT_HEADER), TT_TABLE);
  store<u32>(t, <u32>(t + TT_HEADER + (<usize>slots << SLOT_SHIFT)), TT_SCRATCH);
  return t;
}

/** One packet of `bytes` bytes from (or to) `addr`. */
export function talkersAdd(t: usize, addr: u32, bytes: f64): void {
  store<f64>(t, load<f64>(t, TT_TOTAL) + 1, TT_TOTAL);
  count(t, <usize>load<u32>(t, TT_TABLE), load<u32>(t, TT_SLOTS) - 1, addr, bytes);
}

/** talkersAdd but the total, with the table's address and slot mask at hand. */
// @ts-ignore: decorator
@inline function count(t: usize, table: usize, mask: u32, addr: u32, bytes: f64): void {
  let i = fmix32(addr) & mask;
  for (;;) {
    const s = table + (<usize>i << SLOT_SHIFT);
    const c = load<f64>(s, TT_SLOT_PACKETS);
    if (c == 0) break;
    if (load<u32>(s, TT_SLOT_ADDR) == addr) {
      store<f64>(s, c + 1, TT_SLOT_PACKETS);
      store<f64>(s, load<f64>(s, TT_SLOT_BYTES) + bytes, TT_SLOT_BYTES);
      return;
    }
    i = (i + 1) & mask;
  }
  const size = load<u32>(t, TT_SIZE);
  if (size < load<u32>(t, TT_COUNTERS)) {
    const s = table + (<usize>i << SLOT_SHIFT);
    store<f64>(s, 1, TT_SLOT_PACKETS);
    store<f64>(s, bytes, TT_SLOT_BYTES);
    store<u32>(s, addr, TT_SLOT_ADDR);
    store<u32>(t, size + 1, TT_SIZE);
    return;
  }
  decrement(t); // the new address's single count is absorbed by the decrement
}

/** JavaScript's Math.round for x >= 0 (the nearest integer, halves up). */
// @ts-ignore: decorator
@inline function roundHalfUp(x: f64): f64 {
  const f = Math.floor(x);
  return x - f >= 0.5 ? f + 1 : f;
}

/** The k-th smallest of the `n` f64 at `a` (reorders them). */
function select(a: usize, n: i32, k: i32): f64 {
  let lo = 0, hi = n - 1;
  while (lo < hi) {
    const pivot = load<f64>(a + (<usize>((lo + hi) >> 1) << 3));
    let i = lo, j = hi;
    while (i <= j) {
      while (load<f64>(a + (<usize>i << 3)) < pivot) i++;
      while (load<f64>(a + (<usize>j << 3)) > pivot) j--;
      if (i <= j) {
        const x = load<f64>(a + (<usize>i << 3));
        store<f64>(a + (<usize>i << 3), load<f64>(a + (<usize>j << 3)));
        store<f64>(a + (<usize>j << 3), x);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return load<f64>(a + (<usize>k << 3));
}

/** Subtracts the median count from every counter, drops those that reach zero, re-inserts the rest in slot order. */
function decrement(t: usize): void {
  const slots = load<u32>(t, TT_SLOTS), counters = load<u32>(t, TT_COUNTERS), mask = slots - 1;
  const table = <usize>load<u32>(t, TT_TABLE);
  // scratch: f64 counts (for the median), then the survivors: f64 counts, f64 bytes, u32 addresses
  const live = <usize>load<u32>(t, TT_SCRATCH);
  const sCounts = live + (<usize>counters << 3), sBytes = sCounts + (<usize>counters << 3), sAddrs = sBytes + (<usize>counters << 3);
  let n = 0;
  for (let i: u32 = 0; i < slots; i++) {
    const c = load<f64>(table + (<usize>i << SLOT_SHIFT), TT_SLOT_PACKETS);
    if (c != 0) { store<f64>(live + (<usize>n << 3), c); n++; }
  }
  const m = Math.max(1, select(live, n, n >> 1));
  store<f64>(t, load<f64>(t, TT_ERROR_BOUND) + m, TT_ERROR_BOUND);
  let kept = 0;
  for (let i: u32 = 0; i < slots; i++) {
    const s = table + (<usize>i << SLOT_SHIFT);
    const c = load<f64>(s, TT_SLOT_PACKETS);
    if (c <= m) continue; // free slots (0) too
    store<f64>(sCounts + (<usize>kept << 3), c - m);
    // bytes are scaled down with the count (an estimate once decremented)
    store<f64>(sBytes + (<usize>kept << 3), roundHalfUp(load<f64>(s, TT_SLOT_BYTES) * (c - m) / c));
    store<u32>(sAddrs + (<usize>kept << 2), load<u32>(s, TT_SLOT_ADDR));
    kept++;
  }
  memory.fill(table, 0, <usize>slots << SLOT_SHIFT);
  for (let k = 0; k < kept; k++) {
    const addr = load<u32>(sAddrs + (<usize>k << 2));
    let j = fmix32(addr) & mask;
    while (load<f64>(table + (<usize>j << SLOT_SHIFT), TT_SLOT_PACKETS) != 0) j = (j + 1) & mask;
    const s = table + (<usize>j << SLOT_SHIFT);
    store<f64>(s, load<f64>(sCounts + (<usize>k << 3)), TT_SLOT_PACKETS);
    store<f64>(s, load<f64>(sBytes + (<usize>k << 3)), TT_SLOT_BYTES);
    store<u32>(s, addr, TT_SLOT_ADDR);
  }
  store<u32>(t, <u32>kept, TT_SIZE);
}

/** Counts descriptors [0, n) at `base` (input fields) into the source and destination summaries. */
export function talkersAddBatch(bySrc: usize, byDst: usize, base: usize, n: u32): void {
  const srcTable = <usize>load<u32>(bySrc, TT_TABLE), srcMask = load<u32>(bySrc, TT_SLOTS) - 1;
  const dstTable = <usize>load<u32>(byDst, TT_TABLE), dstMask = load<u32>(byDst, TT_SLOTS) - 1;
  let sources: u32 = 0;
  for (let k: u32 = 0; k < n; k++) {
    const p = base + (<usize>k << PKT_SHIFT);
    const len = <f64>load<u16>(p, PKT_LEN);
    const flags = <u32>load<u16>(p, PKT_FLAGS);
    if (!(flags & PF_LOCAL) || (flags & PF_SRC_SET)) { count(bySrc, srcTable, srcMask, load<u32>(p, PKT_SRC), len); sources++; }
    count(byDst, dstTable, dstMask, load<u32>(p, PKT_DST), len);
  }
  store<f64>(bySrc, load<f64>(bySrc, TT_TOTAL) + <f64>sources, TT_TOTAL);
  store<f64>(byDst, load<f64>(byDst, TT_TOTAL) + <f64>n, TT_TOTAL);
}
