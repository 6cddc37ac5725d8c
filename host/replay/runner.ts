/**
 * One engine's packet loop for `replay` (main thread with one worker, or
 * inside each worker thread): processes the descriptors written in the
 * engine's batch buffer and hands the processed batch to a sink.
 *
 * Randomness keyed by packet: every descriptor gets a PRNG key derived from
 * (seed, the packet's input index), by the core for consecutive indexes
 * (`seed_keys_derive`: when the packet first draws) or in a key array
 * beside the batch (`seed_keys_set`; assembly/util/random.ts), and the
 * core re-seeds its PRNG from the key of the packet being processed before
 * that packet's first draw. A packet's NAT port choice (--random, --random-fully), its
 * `statistic` endpoint choice and its confirm-time draws then depend on the
 * packet alone, not on which other packets the same engine saw before: the
 * draws are the same whether one engine sees every packet or a worker sees
 * a shard of them, and a whole batch is one core call. This is why a
 * replay's NAT ports differ from the plain JSONL replay (one PRNG stream)
 * for the same seed; both are deterministic.
 */
import type { Engine } from "../engine.js";
import { fmix32 } from "./flow.js";

export interface SegmentSink {
  /**
   * Descriptors [k0, k1) of the batch at `base` were processed (replies
   * in the reply ring at `replyBase`, valid until the next segment).
   */
  segment(dv: DataView, base: number, k0: number, k1: number, replyBase: number): void;
}

/** The PRNG seed for the packet with input index `index`. */
export function packetSeed(seed: number, index: number): number {
  const lo = index >>> 0, hi = Math.floor(index / 4294967296) >>> 0;
  return fmix32(fmix32((seed ^ 0x6a09e667) >>> 0) ^ fmix32(lo ^ 0xbb67ae85) ^ Math.imul(hi, 0x3c6ef372)) >>> 0;
}

export class EngineRunner {
  /** Core calls made. */
  calls = 0;
  /** The key array in the core's memory (one u32 per batch descriptor), for index functions. */
  private keysPtr = 0;
  private keysCap = 0;
  private readonly seedHi: number;

  constructor(readonly engine: Engine, readonly seed: number) {
    this.seedHi = fmix32((seed ^ 0x6a09e667) >>> 0);
  }

  /**
   * Processes the `n` descriptors at the start of the batch buffer, whose
   * input indexes are `first`, first + 1, ... (the core derives their keys),
   * or `first(k)` for descriptor k (the keys are written here).
   */
  run(n: number, first: number | ((k: number) => number), sink: SegmentSink): void {
    if (n === 0) return;
    const e = this.engine;
    const core = e.core;
    const base = e.batchBuffer.ptr;
    if (typeof first === "number") {
      core.seed_keys_derive(base, n, this.seed >>> 0, first >>> 0, Math.floor(first / 4294967296) >>> 0);
    } else {
      if (this.keysCap < n) {
        if (this.keysPtr) core.free(this.keysPtr);
        this.keysCap = Math.max(n, e.batchBuffer.capacity);
        this.keysPtr = core.alloc(this.keysCap * 4);
      }
      e.mem.refresh();
      const keys = new Uint32Array(e.mem.dv.buffer, this.keysPtr, n);
      const hi = this.seedHi;
      for (let k = 0; k < n; k++) {
        const index = first(k);
        const lo = index >>> 0;
        // packetSeed, with the seed's part computed once
        keys[k] = index < 4294967296 ? fmix32(hi ^ fmix32(lo ^ 0xbb67ae85)) : packetSeed(this.seed, index);
      }
      core.seed_keys_set(base, this.keysPtr, n);
    }
    try {
      core.process_batch(base, n);
    } finally {
      core.seed_keys_set(0, 0, 0);
    }
    this.calls++;
    e.mem.refresh();
    sink.segment(e.mem.dv, base, 0, n, core.reply_ring_ptr());
  }
}
