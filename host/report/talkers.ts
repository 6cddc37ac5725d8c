/**
 * Top talkers in bounded memory: a Misra-Gries frequent-items summary
 * (Misra and Gries 1982) over IPv4 addresses, with the decrement done in
 * batches (subtract the median count from every counter when the table is
 * full), so an update is O(1) amortised.
 *
 * With C = 2048 counters, every address that sent (or received) more than
 * N / 1024 of the N packets is in the table, and a reported count is a
 * lower bound, below the true count by at most `errorBound` (the sum of the
 * medians subtracted, itself at most 2N / C). When fewer than C distinct
 * addresses are seen, counts are exact (errorBound 0). Memory: 48 KiB per
 * summary, whatever the input.
 *
 * Fed in input order by the main thread, it gives the same answer whatever
 * the number of workers.
 */
import { fmix32 } from "../replay/flow.js";

export class TopTalkers {
  private readonly slots: number;
  private readonly cap: number;
  private keys: Uint32Array;
  private counts: Float64Array;
  private bytesOf: Float64Array;
  private used: Uint8Array;
  private size = 0;
  /** Total packets counted. */
  total = 0;
  /** Largest amount a reported count can be below the true one. */
  errorBound = 0;

  constructor(counters = 2048) {
    this.cap = counters;
    this.slots = counters * 2;
    this.keys = new Uint32Array(this.slots);
    this.counts = new Float64Array(this.slots);
    this.bytesOf = new Float64Array(this.slots);
    this.used = new Uint8Array(this.slots);
  }

  add(addr: number, bytes: number): void {
    this.total++;
    const mask = this.slots - 1;
    let i = fmix32(addr) & mask;
    for (;;) {
      if (!this.used[i]) break;
      if (this.keys[i] === addr) { this.counts[i]!++; this.bytesOf[i]! += bytes; return; }
      i = (i + 1) & mask;
    }
    if (this.size < this.cap) {
      this.used[i] = 1;
      this.keys[i] = addr;
      this.counts[i] = 1;
      this.bytesOf[i] = bytes;
      this.size++;
      return;
    }
    this.decrement(); // the new address's single count is absorbed by the decrement
  }

  /** Subtracts the median count from every counter and drops those that reach zero. */
  private decrement(): void {
    const live: number[] = [];
    for (let i = 0; i < this.slots; i++) if (this.used[i]) live.push(this.counts[i]!);
    live.sort((a, b) => a - b);
    const m = Math.max(1, live[live.length >> 1]!);
    this.errorBound += m;
    const keys = this.keys, counts = this.counts, bytes = this.bytesOf, used = this.used;
    this.keys = new Uint32Array(this.slots);
    this.counts = new Float64Array(this.slots);
    this.bytesOf = new Float64Array(this.slots);
    this.used = new Uint8Array(this.slots);
    this.size = 0;
    const mask = this.slots - 1;
    for (let i = 0; i < used.length; i++) {
      if (!used[i] || counts[i]! <= m) continue;
      let j = fmix32(keys[i]!) & mask;
      while (this.used[j]) j = (j + 1) & mask;
      this.used[j] = 1;
      this.keys[j] = keys[i]!;
      this.counts[j] = counts[i]! - m;
      // bytes are scaled down with the count (an estimate once decremented)
      this.bytesOf[j] = Math.round(bytes[i]! * (counts[i]! - m) / counts[i]!);
      this.size++;
    }
  }

  /** The `n` largest, by count then address (deterministic). */
  top(n: number): { addr: number; packets: number; bytes: number }[] {
    const out: { addr: number; packets: number; bytes: number }[] = [];
    for (let i = 0; i < this.slots; i++) if (this.used[i]) out.push({ addr: this.keys[i]!, packets: this.counts[i]!, bytes: this.bytesOf[i]! });
    out.sort((a, b) => b.packets - a.packets || a.addr - b.addr);
    return out.slice(0, n);
  }
}
