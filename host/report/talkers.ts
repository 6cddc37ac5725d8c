/**
 * Top talkers in bounded memory: a Misra-Gries frequent-items summary
 * (Misra and Gries 1982) over IPv4 addresses, with the decrement done in
 * batches (subtract the median count from every counter when the table is
 * full), so an update is O(1) amortised. It lives in the core
 * (assembly/replay/talkers.ts, abi.ts section 11): a batch's sources and
 * destinations are counted in one core call; this class reads the table.
 *
 * With C = 2048 counters, every address that sent (or received) more than
 * N / 1024 of the N packets is in the table, and a reported count is a
 * lower bound, below the true count by at most `errorBound` (the sum of the
 * medians subtracted, itself at most 2N / C). When fewer than C distinct
 * addresses are seen, counts are exact (errorBound 0). Memory: 128 KiB per
 * summary (4,096 slots of 32 bytes) and 56 KiB of scratch, whatever the input.
 *
 * Fed in input order by the main thread, it gives the same answer whatever
 * the number of workers.
 */
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";

export interface Talker { addr: number; packets: number; bytes: number }

export class TopTalkers {
  /** The summary's address in the core's memory. */
  readonly ptr: number;

  constructor(private readonly engine: Engine, counters = 2048) {
    this.ptr = engine.core.talkers_create(counters);
    engine.mem.refresh();
  }

  /**
   * Counts descriptors [0, n) of the batch at `base` (their input fields):
   * sources into `bySource` (not a local packet's unless its socket chose
   * the source), destinations into `byDestination`. Both in `engine`'s core.
   */
  static addBatch(bySource: TopTalkers, byDestination: TopTalkers, base: number, n: number): void {
    bySource.engine.core.talkers_add_batch(bySource.ptr, byDestination.ptr, base, n);
  }

  /** One packet of `bytes` bytes from (or to) `addr`. */
  add(addr: number, bytes: number): void { this.engine.core.talkers_add(this.ptr, addr, bytes); }

  private f64(off: number): number {
    this.engine.mem.refresh();
    return this.engine.mem.f64[(this.ptr + off) / 8]!;
  }

  /** Total packets counted. */
  get total(): number { return this.f64(abi.TT_TOTAL); }

  /** Largest amount a reported count can be below the true one. */
  get errorBound(): number { return this.f64(abi.TT_ERROR_BOUND); }

  /** The `n` largest, by count then address (deterministic). */
  top(n: number): Talker[] {
    const mem = this.engine.mem;
    mem.refresh();
    const u32 = mem.u32, f64 = mem.f64, h = this.ptr / 4;
    const slots = u32[h + abi.TT_SLOTS / 4]!, table = u32[h + abi.TT_TABLE / 4]!;
    const out: Talker[] = [];
    for (let i = 0; i < slots; i++) {
      const s = table + i * abi.TT_SLOT_SIZE, packets = f64[(s + abi.TT_SLOT_PACKETS) / 8]!;
      if (packets) out.push({ addr: u32[(s + abi.TT_SLOT_ADDR) / 4]!, packets, bytes: f64[(s + abi.TT_SLOT_BYTES) / 8]! });
    }
    out.sort((a, b) => b.packets - a.packets || a.addr - b.addr);
    return out.slice(0, n);
  }
}
