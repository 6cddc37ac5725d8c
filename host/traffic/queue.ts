/**
 * The generator's event queue: a 4-ary min-heap (half the depth of a binary
 * one: fewer cache lines touched per event) in typed arrays of
 * (time ns, sequence number, flow). A flow has at most one event queued (its
 * next packet), so the queue holds the active flows. Ties in time go to the
 * event scheduled first (the sequence number), which makes the order
 * deterministic. Nothing is allocated per event; the arrays double when full.
 */
export class EventQueue {
  private time: Float64Array;
  private seq: Float64Array;
  private flow: Int32Array;
  private n = 0;
  private nextSeq = 0;

  constructor(capacity = 1024) {
    this.time = new Float64Array(capacity);
    this.seq = new Float64Array(capacity);
    this.flow = new Int32Array(capacity);
  }

  get size(): number { return this.n; }
  /** Time of the earliest event (Infinity when empty). */
  get topTime(): number { return this.n ? this.time[0]! : Infinity; }
  /** Flow of the earliest event. */
  get topFlow(): number { return this.flow[0]!; }

  /** Scheduling number of the earliest event. */
  get topSeq(): number { return this.seq[0]!; }

  push(t: number, flow: number): void {
    this.pushSeq(t, this.nextSeq++, flow);
  }

  /** Pushes with a scheduling number given by the caller (a queue that shares its numbering: wheel.ts). */
  pushSeq(t: number, s: number, flow: number): void {
    if (this.n === this.time.length) this.grow();
    let i = this.n++;
    const time = this.time, seq = this.seq, fl = this.flow;
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pt = time[p]!;
      if (pt < t || (pt === t && seq[p]! < s)) break;
      time[i] = pt; seq[i] = seq[p]!; fl[i] = fl[p]!;
      i = p;
    }
    time[i] = t; seq[i] = s; fl[i] = flow;
  }

  /** Replaces the earliest event by (t, flow): pop then push in one sift. */
  replaceTop(t: number, flow: number): void {
    this.siftDown(t, this.nextSeq++, flow);
  }

  /** Removes the earliest event. */
  pop(): void {
    const last = --this.n;
    if (last > 0) this.siftDown(this.time[last]!, this.seq[last]!, this.flow[last]!);
  }

  private siftDown(t: number, s: number, flow: number): void {
    const time = this.time, seq = this.seq, fl = this.flow, n = this.n;
    let i = 0;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) break;
      // the earliest of up to four children
      let c = first;
      let ct = time[first]!;
      const end = first + 4 < n ? first + 4 : n;
      for (let j = first + 1; j < end; j++) {
        const jt = time[j]!;
        if (jt < ct || (jt === ct && seq[j]! < seq[c]!)) { c = j; ct = jt; }
      }
      if (t < ct || (t === ct && s < seq[c]!)) break;
      time[i] = ct; seq[i] = seq[c]!; fl[i] = fl[c]!;
      i = c;
    }
    time[i] = t; seq[i] = s; fl[i] = flow;
  }

  private grow(): void {
    const cap = this.time.length * 2;
    const t = new Float64Array(cap); t.set(this.time); this.time = t;
    const s = new Float64Array(cap); s.set(this.seq); this.seq = s;
    const f = new Int32Array(cap); f.set(this.flow); this.flow = f;
  }
}
