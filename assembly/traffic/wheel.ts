/**
 * The generator's event queue as a timing wheel: 65,536 slots of 1,024 ns
 * (a 67 ms horizon) holding each slot's events in a list, a bitmap of the
 * non-empty slots, and a 4-ary min-heap for events beyond the horizon (or
 * behind the cursor). The slot under the cursor is taken out whole and
 * sorted by (time, order of scheduling) into the current run, so events come
 * out in exactly the order a heap would give them (ties in time go to the
 * event scheduled first), at O(1) cost per event instead of a heap's log n
 * sift through memory.
 *
 * A flow has at most one event queued, so events are named by their flow
 * and kept in per-flow entries (time, scheduling number, next flow in the
 * same slot); the run and the heap hold at most one entry per flow too, so
 * all are sized to the flow capacity (wheelReserve) and nothing grows while
 * events are pushed. Times and scheduling numbers are f64 (integers below
 * 2^53; Infinity: no event).
 */
import { zalloc, grow } from "../util/mem";

const SLOT_SHIFT: i64 = 10;
const WHEEL_BITS = 16;
const WHEEL: i64 = 1 << WHEEL_BITS;
const MASK: u32 = <u32>WHEEL - 1;
const BITS_WORDS: u32 = <u32>WHEEL >>> 5;

/** Per-flow event entry: f64 time, f64 scheduling number, i32 next flow in the slot. */
const EV_SIZE: usize = 24;
const EV_TIME: usize = 0, EV_SEQ: usize = 8, EV_NEXT: usize = 16;
/** Heap entry: f64 time, f64 scheduling number, i32 flow. */
const HP_SIZE: usize = 24;
const HP_TIME: usize = 0, HP_SEQ: usize = 8, HP_FLOW: usize = 16;

// wheel record
const W_HEAD: usize = 0, W_BITS: usize = 4, W_EV: usize = 8, W_RUN: usize = 12, W_HEAP: usize = 16, W_CAP: usize = 20;
const W_RUNPOS: usize = 24, W_RUNLEN: usize = 28, W_INWHEEL: usize = 32, W_HEAPN: usize = 36, W_PEEKED_HEAP: usize = 40;
/** i64 absolute slot number (time >> SLOT_SHIFT) of the cursor: the slot the run came from. */
const W_CUR: usize = 48;
const W_NEXTSEQ: usize = 56;
const W_SIZE: usize = 64;

export function wheelCreate(): usize {
  const w = zalloc(W_SIZE);
  const head = zalloc(<usize>WHEEL << 2);
  memory.fill(head, 0xff, <usize>WHEEL << 2);
  store<usize>(w, head, W_HEAD);
  store<usize>(w, zalloc(<usize>BITS_WORDS << 2), W_BITS);
  return w;
}

/** Makes room for events of flows 0..cap-1. */
export function wheelReserve(w: usize, cap: u32): void {
  const old = load<u32>(w, W_CAP);
  if (cap <= old) return;
  store<usize>(w, grow(load<usize>(w, W_EV), <usize>old * EV_SIZE, <usize>cap * EV_SIZE), W_EV);
  store<usize>(w, grow(load<usize>(w, W_RUN), <usize>old << 2, <usize>cap << 2), W_RUN);
  store<usize>(w, grow(load<usize>(w, W_HEAP), <usize>old * HP_SIZE, <usize>cap * HP_SIZE), W_HEAP);
  store<u32>(w, cap, W_CAP);
}

/** Events queued. */
export function wheelSize(w: usize): u32 {
  return load<u32>(w, W_INWHEEL) + load<u32>(w, W_RUNLEN) - load<u32>(w, W_RUNPOS) + load<u32>(w, W_HEAPN);
}

// @ts-ignore: decorator
@inline function ev(w: usize, f: i32): usize { return load<usize>(w, W_EV) + <usize>f * EV_SIZE; }

/**
 * Finds the earliest event and returns its time (Infinity when empty);
 * wheelPeekedFlow and wheelPopPeeked then refer to it, until the next push.
 */
// @ts-ignore: decorator
@inline export function wheelPeek(w: usize): f64 {
  let pos = load<u32>(w, W_RUNPOS);
  if (pos == load<u32>(w, W_RUNLEN)) {
    if (!refill(w)) {
      store<u32>(w, 1, W_PEEKED_HEAP);
      return load<u32>(w, W_HEAPN) != 0 ? load<f64>(load<usize>(w, W_HEAP), HP_TIME) : Infinity;
    }
    pos = 0;
  }
  const f = load<i32>(load<usize>(w, W_RUN) + (<usize>pos << 2));
  const e = ev(w, f);
  const t = load<f64>(e, EV_TIME);
  if (load<u32>(w, W_HEAPN) != 0) {
    const h = load<usize>(w, W_HEAP);
    const ht = load<f64>(h, HP_TIME);
    if (ht < t || (ht == t && load<f64>(h, HP_SEQ) < load<f64>(e, EV_SEQ))) {
      store<u32>(w, 1, W_PEEKED_HEAP);
      return ht;
    }
  }
  store<u32>(w, 0, W_PEEKED_HEAP);
  return t;
}

/** Flow of the event wheelPeek found. */
// @ts-ignore: decorator
@inline export function wheelPeekedFlow(w: usize): i32 {
  if (load<u32>(w, W_PEEKED_HEAP)) return load<i32>(load<usize>(w, W_HEAP), HP_FLOW);
  return load<i32>(load<usize>(w, W_RUN) + (<usize>load<u32>(w, W_RUNPOS) << 2));
}

/** Removes the event wheelPeek found. */
// @ts-ignore: decorator
@inline export function wheelPopPeeked(w: usize): void {
  if (load<u32>(w, W_PEEKED_HEAP)) heapPop(w);
  else store<u32>(w, load<u32>(w, W_RUNPOS) + 1, W_RUNPOS);
}

/** Queues flow `flow`'s next event at time t. */
// @ts-ignore: decorator
@inline export function wheelPush(w: usize, t: f64, flow: i32): void {
  const s = load<f64>(w, W_NEXTSEQ);
  store<f64>(w, s + 1, W_NEXTSEQ);
  const slot = <i64>t >> SLOT_SHIFT;
  const cur = load<i64>(w, W_CUR);
  if (slot - cur >= WHEEL || slot < cur) { heapPush(w, t, s, flow); return; }
  const e = ev(w, flow);
  store<f64>(e, t, EV_TIME);
  store<f64>(e, s, EV_SEQ);
  if (slot == cur) { insertRun(w, flow, t, s); return; }
  const i = <u32>slot & MASK;
  const head = load<usize>(w, W_HEAD) + (<usize>i << 2);
  store<i32>(e, load<i32>(head), EV_NEXT);
  store<i32>(head, flow);
  const bw = load<usize>(w, W_BITS) + (<usize>(i >>> 5) << 2);
  store<u32>(bw, load<u32>(bw) | (1 << (i & 31)));
  store<u32>(w, load<u32>(w, W_INWHEEL) + 1, W_INWHEEL);
}

/** Moves the cursor to the next non-empty slot and sorts its events into the run; false if the wheel is empty. */
function refill(w: usize): bool {
  if (load<u32>(w, W_INWHEEL) == 0) return false;
  const bits = load<usize>(w, W_BITS);
  const cur = load<i64>(w, W_CUR);
  const i = <u32>(cur + 1) & MASK;
  let wi = i >>> 5;
  let word = load<u32>(bits + (<usize>wi << 2)) & (<u32>-1 << (i & 31));
  while (word == 0) {
    wi = (wi + 1) & (BITS_WORDS - 1);
    word = load<u32>(bits + (<usize>wi << 2));
  }
  const j = (wi << 5) | ctz(word);
  // absolute slot: cur + 1 + distance around the wheel from i to j
  store<i64>(w, cur + 1 + <i64>((j - i) & MASK), W_CUR);
  const bw = bits + (<usize>wi << 2);
  store<u32>(bw, load<u32>(bw) & ~(1 << (j & 31)));
  // take the slot's list, sorted by (time, seq) with an insertion sort
  store<u32>(w, 0, W_RUNPOS);
  store<u32>(w, 0, W_RUNLEN);
  const head = load<usize>(w, W_HEAD) + (<usize>j << 2);
  let n: u32 = 0;
  for (let f = load<i32>(head); f != -1;) {
    const e = ev(w, f);
    n++;
    insertRun(w, f, load<f64>(e, EV_TIME), load<f64>(e, EV_SEQ));
    f = load<i32>(e, EV_NEXT);
  }
  store<u32>(w, load<u32>(w, W_INWHEEL) - n, W_INWHEEL);
  store<i32>(head, -1);
  return true;
}

/** Inserts flow f (time t, seq s) into the sorted run. */
function insertRun(w: usize, f: i32, t: f64, s: f64): void {
  const run = load<usize>(w, W_RUN);
  const pos = load<u32>(w, W_RUNPOS);
  let k = load<u32>(w, W_RUNLEN);
  store<u32>(w, k + 1, W_RUNLEN);
  while (k > pos) {
    const g = load<i32>(run + (<usize>(k - 1) << 2));
    const e = ev(w, g);
    const gt = load<f64>(e, EV_TIME);
    if (gt < t || (gt == t && load<f64>(e, EV_SEQ) < s)) break;
    store<i32>(run + (<usize>k << 2), g);
    k--;
  }
  store<i32>(run + (<usize>k << 2), f);
}

// ---- the heap beyond the horizon (4-ary: half the depth of a binary one) ----

function heapPush(w: usize, t: f64, s: f64, flow: i32): void {
  const h = load<usize>(w, W_HEAP);
  let i = load<u32>(w, W_HEAPN);
  store<u32>(w, i + 1, W_HEAPN);
  while (i > 0) {
    const p = (i - 1) >> 2;
    const pe = h + <usize>p * HP_SIZE;
    const pt = load<f64>(pe, HP_TIME);
    if (pt < t || (pt == t && load<f64>(pe, HP_SEQ) < s)) break;
    memory.copy(h + <usize>i * HP_SIZE, pe, HP_SIZE);
    i = p;
  }
  const e = h + <usize>i * HP_SIZE;
  store<f64>(e, t, HP_TIME);
  store<f64>(e, s, HP_SEQ);
  store<i32>(e, flow, HP_FLOW);
}

function heapPop(w: usize): void {
  const last = load<u32>(w, W_HEAPN) - 1;
  store<u32>(w, last, W_HEAPN);
  if (last == 0) return;
  const h = load<usize>(w, W_HEAP);
  const le = h + <usize>last * HP_SIZE;
  const t = load<f64>(le, HP_TIME), s = load<f64>(le, HP_SEQ), flow = load<i32>(le, HP_FLOW);
  const n = last;
  let i: u32 = 0;
  for (;;) {
    const first: u32 = 4 * i + 1;
    if (first >= n) break;
    // the earliest of up to four children
    let c = first;
    let ce = h + <usize>first * HP_SIZE;
    let ct = load<f64>(ce, HP_TIME);
    const end = first + 4 < n ? first + 4 : n;
    for (let j = first + 1; j < end; j++) {
      const je = h + <usize>j * HP_SIZE;
      const jt = load<f64>(je, HP_TIME);
      if (jt < ct || (jt == ct && load<f64>(je, HP_SEQ) < load<f64>(ce, HP_SEQ))) { c = j; ce = je; ct = jt; }
    }
    if (t < ct || (t == ct && s < load<f64>(ce, HP_SEQ))) break;
    memory.copy(h + <usize>i * HP_SIZE, ce, HP_SIZE);
    i = c;
  }
  const e = h + <usize>i * HP_SIZE;
  store<f64>(e, t, HP_TIME);
  store<f64>(e, s, HP_SEQ);
  store<i32>(e, flow, HP_FLOW);
}
