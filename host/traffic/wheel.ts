/**
 * The generator's event queue as a timing wheel: 65,536 slots of 1,024 ns
 * (a 67 ms horizon) holding each slot's events in a list, a bitmap of the
 * non-empty slots, and a small heap (queue.ts) for events beyond the horizon.
 * The slot under the cursor is taken out whole and sorted by (time, order of
 * scheduling) into the current run, so events still come out in exactly the
 * order a heap would give them, at O(1) cost per event instead of a heap's
 * log n sift through memory.
 *
 * A flow has at most one event queued, so events are named by their flow and
 * stored in arrays indexed by it (no node pool, nothing allocated per event).
 */
import { EventQueue } from "./queue.js";

const SLOT_SHIFT = 10;
const SLOT_NS = 1 << SLOT_SHIFT;
const WHEEL_BITS = 16;
const WHEEL = 1 << WHEEL_BITS;
const MASK = WHEEL - 1;

export class TimingWheel {
  /** Per flow: its event's time, scheduling number, next flow in the same slot. */
  private evTime = new Float64Array(1024);
  private evSeq = new Float64Array(1024);
  private evNext = new Int32Array(1024);
  private readonly head = new Int32Array(WHEEL).fill(-1);
  private readonly bits = new Uint32Array(WHEEL >>> 5);
  /** Absolute slot number (time >> SLOT_SHIFT) of the cursor: the slot the run came from. */
  private cur = 0;
  /** The cursor slot's events, sorted; run[runPos..runLen) are still queued. */
  private run = new Int32Array(256);
  private runPos = 0;
  private runLen = 0;
  private inWheel = 0;
  private readonly far = new EventQueue(64);
  private nextSeq = 0;

  get size(): number { return this.inWheel + (this.runLen - this.runPos) + this.far.size; }

  /** Time of the earliest event (Infinity when empty). */
  get topTime(): number {
    if (this.runPos === this.runLen && !this.refill()) return this.far.topTime;
    const t = this.evTime[this.run[this.runPos]!]!;
    const ft = this.far.topTime;
    return ft < t || (ft === t && this.far.topSeq < this.evSeq[this.run[this.runPos]!]!) ? ft : t;
  }

  /** Flow of the earliest event (after topTime). */
  get topFlow(): number {
    if (this.fromFar()) return this.far.topFlow;
    return this.run[this.runPos]!;
  }

  /**
   * Finds the earliest event and returns its time (Infinity when empty);
   * peekedFlow and popPeeked() then refer to it, until the next push.
   */
  peek(): number {
    if (this.runPos === this.runLen && !this.refill()) { this.peekedFar = true; return this.far.topTime; }
    const f = this.run[this.runPos]!;
    const t = this.evTime[f]!;
    if (this.far.size !== 0) {
      const ft = this.far.topTime;
      if (ft < t || (ft === t && this.far.topSeq < this.evSeq[f]!)) { this.peekedFar = true; return ft; }
    }
    this.peekedFar = false;
    return t;
  }
  private peekedFar = false;

  /** Flow of the event peek() found. */
  get peekedFlow(): number { return this.peekedFar ? this.far.topFlow : this.run[this.runPos]!; }

  /** Removes the event peek() found. */
  popPeeked(): void {
    if (this.peekedFar) this.far.pop();
    else this.runPos++;
  }

  push(t: number, flow: number): void {
    const s = this.nextSeq++;
    const slot = Math.floor(t / SLOT_NS);
    if (slot - this.cur >= WHEEL || slot < this.cur) { this.far.pushSeq(t, s, flow); return; }
    if (flow >= this.evTime.length) this.grow(flow);
    this.evTime[flow] = t;
    this.evSeq[flow] = s;
    if (slot === this.cur) { this.insertRun(flow, t, s); return; }
    const i = slot & MASK;
    this.evNext[flow] = this.head[i]!;
    this.head[i] = flow;
    this.bits[i >>> 5]! |= 1 << (i & 31);
    this.inWheel++;
  }

  /** Removes the earliest event. */
  pop(): void {
    if (this.fromFar()) this.far.pop();
    else this.runPos++;
  }

  /** Replaces the earliest event by (t, flow). */
  replaceTop(t: number, flow: number): void {
    this.pop();
    this.push(t, flow);
  }

  /** Is the earliest event in the far heap? (the run is refilled first) */
  private fromFar(): boolean {
    if (this.runPos === this.runLen && !this.refill()) return true;
    if (this.far.size === 0) return false;
    const f = this.run[this.runPos]!;
    const t = this.evTime[f]!;
    const ft = this.far.topTime;
    return ft < t || (ft === t && this.far.topSeq < this.evSeq[f]!);
  }

  /** Moves the cursor to the next non-empty slot and sorts its events into the run; false if the wheel is empty. */
  private refill(): boolean {
    if (this.inWheel === 0) return false;
    const bits = this.bits;
    let i = (this.cur + 1) & MASK;
    let w = i >>> 5;
    let word = bits[w]! & (~0 << (i & 31));
    while (word === 0) {
      w = (w + 1) & (bits.length - 1);
      word = bits[w]!;
    }
    const j = (w << 5) | (31 - Math.clz32(word & -word));
    // absolute slot: cur + 1 + distance around the wheel from i to j
    this.cur += 1 + ((j - i) & MASK);
    bits[w]! &= ~(1 << (j & 31));
    // take the slot's list, sorted by (time, seq) with an insertion sort
    this.runPos = 0;
    this.runLen = 0;
    for (let f = this.head[j]!; f !== -1; f = this.evNext[f]!) {
      this.inWheel--;
      this.insertRun(f, this.evTime[f]!, this.evSeq[f]!);
    }
    this.head[j] = -1;
    return true;
  }

  /** Inserts flow f (time t, seq s) into the sorted run. */
  private insertRun(f: number, t: number, s: number): void {
    if (this.runLen === this.run.length) {
      const r = new Int32Array(this.run.length * 2);
      r.set(this.run);
      this.run = r;
    }
    const run = this.run, time = this.evTime, seq = this.evSeq;
    let k = this.runLen++;
    while (k > this.runPos) {
      const g = run[k - 1]!;
      const gt = time[g]!;
      if (gt < t || (gt === t && seq[g]! < s)) break;
      run[k] = g;
      k--;
    }
    run[k] = f;
  }

  private grow(flow: number): void {
    let cap = this.evTime.length;
    while (cap <= flow) cap *= 2;
    const t = new Float64Array(cap); t.set(this.evTime); this.evTime = t;
    const s = new Float64Array(cap); s.set(this.evSeq); this.evSeq = s;
    const n = new Int32Array(cap); n.set(this.evNext); this.evNext = n;
  }
}
