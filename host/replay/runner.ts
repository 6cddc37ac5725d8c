/**
 * One engine's packet loop for `replay` (main thread with one worker, or
 * inside each worker thread): processes the descriptors written in the
 * engine's batch buffer and hands each processed stretch to a sink.
 *
 * Randomness keyed by packet: a packet that may open a connection
 * (flow.ts isOpener: a TCP SYN, any UDP or ICMP query...) is processed on
 * its own, after the core's PRNG is re-seeded from (seed, the packet's input
 * index). Its NAT port choice (--random-fully), its `statistic` endpoint
 * choice and its confirm-time draws then depend on the packet alone, not on
 * which other packets the same engine saw before: the draws are the same
 * whether one engine sees every packet or a worker sees a shard of them.
 * A packet of a flow this engine has not yet seen with a conntrack entry is
 * treated the same way (conntrack's loose pickup makes a connection of a
 * TCP packet without SYN, and that connection may be NATed): the engine
 * remembers the arrival tuples of packets that left with an entry attached
 * (a typed-array map, one entry per flow direction).
 * Other packets run in one core call per stretch. This is why a replay's
 * NAT ports differ from the plain JSONL replay (one PRNG stream) for the
 * same seed; both are deterministic.
 */
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { fmix32, flow, FlowMap, isOpener, readFlow } from "./flow.js";

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
  /** Packets processed alone (re-seeded). */
  openers = 0;
  /** Core calls made. */
  calls = 0;

  /** Arrival tuples seen with a conntrack entry (only when the ruleset turns conntrack on). */
  private readonly known = new FlowMap(1 << 14);
  private readonly tracked: boolean;

  constructor(readonly engine: Engine, readonly seed: number) {
    this.tracked = engine.ruleset?.compiled.conntrack === true;
  }

  /** Per descriptor of the batch: its flow was already known before it was processed. */
  private wasKnown = new Uint8Array(1024);

  private opens(dv: DataView, p: number, k: number): boolean {
    this.wasKnown[k] = 0;
    if (isOpener(dv, p)) return true;
    if (!this.tracked) return false;
    readFlow(dv, p);
    if (this.known.get(flow.proto, flow.src, flow.sport, flow.dst, flow.dport) < 0) return true;
    this.wasKnown[k] = 1;
    return false;
  }

  private remember(dv: DataView, base: number, k0: number, k1: number): void {
    if (!this.tracked) return;
    for (let k = k0; k < k1; k++) {
      if (this.wasKnown[k]) continue;
      const p = base + k * abi.PKT_SIZE;
      if (dv.getUint32(p + abi.PKT_CT_ID, true) === 0) continue;
      readFlow(dv, p);
      if (this.known.get(flow.proto, flow.src, flow.sport, flow.dst, flow.dport) < 0) this.known.set(flow.proto, flow.src, flow.sport, flow.dst, flow.dport, 1);
    }
  }

  /**
   * Processes the `n` descriptors at the start of the batch buffer;
   * `indexOf(k)` is descriptor k's input index.
   */
  run(n: number, indexOf: (k: number) => number, sink: SegmentSink): void {
    const e = this.engine;
    const core = e.core;
    const base = e.batchBuffer.ptr;
    let dv = e.mem.dv;
    let start = 0;
    if (this.wasKnown.length < n) this.wasKnown = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      if (!this.opens(dv, base + k * abi.PKT_SIZE, k)) continue;
      if (k > start) {
        core.process_batch(base + start * abi.PKT_SIZE, k - start);
        this.calls++;
        e.mem.refresh();
        dv = e.mem.dv;
        this.remember(dv, base, start, k);
        sink.segment(dv, base, start, k, core.reply_ring_ptr());
      }
      core.sysctl_set(abi.SYS_SEED, packetSeed(this.seed, indexOf(k)));
      core.process_batch(base + k * abi.PKT_SIZE, 1);
      this.calls++;
      this.openers++;
      e.mem.refresh();
      dv = e.mem.dv;
      this.remember(dv, base, k, k + 1);
      sink.segment(dv, base, k, k + 1, core.reply_ring_ptr());
      start = k + 1;
    }
    if (n > start) {
      core.process_batch(base + start * abi.PKT_SIZE, n - start);
      this.calls++;
      e.mem.refresh();
      this.remember(e.mem.dv, base, start, n);
      sink.segment(e.mem.dv, base, start, n, core.reply_ring_ptr());
    }
  }
}
