/**
 * One shard of a `replay --workers N` run: its own Engine with the node
 * loaded, fed rounds of descriptors by the dispatcher (run.ts) and
 * processing them in input order with the same EngineRunner as a
 * single-engine replay. Per round it answers with the reply tuples of the
 * connections it made (shard.ts learns them), and when asked the per-packet
 * JSONL lines and the frames that left (egress.ts). Shard 0 runs on the main
 * thread beside the dispatcher, the others in worker threads (worker.ts).
 */
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { Collector } from "../report/collect.js";
import { EngineRunner, type SegmentSink } from "./runner.js";
import { loadEngine } from "./setup.js";
import { NatSets, learnedTuple } from "./shard.js";
import { engineTotals, type FromWorker, type ToWorker } from "./run.js";
import { FrameList, type OrigBytes } from "./egress.js";
import { resultJson } from "../packet/result-json.js";
import { LineBuffer } from "./lines.js";

type Init = ToWorker & { type: "init" };
type Round = ToWorker & { type: "round" };
type Done = FromWorker & { type: "done" };
type Final = FromWorker & { type: "final" };

export class ShardEngine {
  private engine!: Engine;
  private runner!: EngineRunner;
  private sets!: NatSets;
  private jsonl = false;
  private lines: LineBuffer | undefined;
  private frames: FrameList | undefined;
  private closedLoop = false;
  private col!: Collector;

  async init(m: Init, warn: (message: string) => void): Promise<void> {
    ({ engine: this.engine } = await loadEngine(m.spec, { seed: m.seed, batch: m.batch, warn, jit: m.jit }));
    this.engine.setTrace(m.trace ? "all" : m.jsonl ? "matched" : "off");
    this.runner = new EngineRunner(this.engine, m.seed);
    this.col = new Collector(this.engine);
    this.sets = new NatSets(m.topo);
    this.jsonl = m.jsonl;
    if (m.egress) this.frames = new FrameList();
    this.closedLoop = m.closedLoop;
  }

  /** Processes a round; the answer carries the round's buffers back (for reuse). */
  round(m: Round): Done {
    const engine = this.engine, sets = this.sets, col = this.col, frames = this.frames;
    const src = new Uint8Array(m.buf, 0, m.n * abi.PKT_SIZE);
    const idx = new Float64Array(m.idx);
    const learned: number[] = [];
    const lines = this.jsonl ? (this.lines ??= new LineBuffer(m.n * 1536, true)) : undefined;
    const ob = m.orig ? new Uint8Array(m.orig.bytes) : undefined, oat = m.orig?.at;
    const orig: OrigBytes = { bytes: ob ?? new Uint8Array(0), offset: 0, length: 0 };
    let off = 0;
    const origOf = (i: number): OrigBytes | undefined => {
      if (!oat || oat[2 * i + 1]! < 0) return undefined;
      orig.offset = oat[2 * i]!;
      orig.length = oat[2 * i + 1]!;
      return orig;
    };
    const sink: SegmentSink = {
      segment(dv, base, k0, k1, replyBase) {
        col.collect(base, k0, k1, replyBase);
        for (let k = k0; k < k1; k++) learnedTuple(dv, base + k * abi.PKT_SIZE, sets, learned);
        if (lines) for (let k = k0; k < k1; k++) lines.add(resultJson(engine.decodeRaw(k, idx[off + k]!)));
        if (frames) for (let k = k0; k < k1; k++) frames.add(dv, base + k * abi.PKT_SIZE, replyBase, idx[off + k]!, origOf(off + k));
      },
    };
    for (off = 0; off < m.n;) {
      const { ptr, capacity } = engine.batchBuffer;
      const n = Math.min(capacity, m.n - off);
      new Uint8Array(engine.core.memory.buffer, ptr, n * abi.PKT_SIZE).set(src.subarray(off * abi.PKT_SIZE, (off + n) * abi.PKT_SIZE));
      const at = off;
      this.runner.run(n, (k) => idx[at + k]!, sink);
      // the processed descriptors go back to a closed-loop source (the generator reads them)
      if (this.closedLoop) new Uint8Array(m.buf).set(new Uint8Array(engine.core.memory.buffer, engine.batchBuffer.ptr, n * abi.PKT_SIZE), off * abi.PKT_SIZE);
      off += n;
    }
    let jsonl: Done["jsonl"];
    if (lines) {
      const { bytes, ends } = lines.take();
      jsonl = { bytes: bytes.buffer as ArrayBuffer, length: bytes.byteLength, ends: ends! };
    }
    return { type: "done", round: m.round, learned, jsonl, buf: m.buf, idx: m.idx, n: m.n, frames: frames?.take() };
  }

  finish(conntrack: boolean, clockNs: number): Final {
    if (clockNs > 0) this.engine.advanceClock(clockNs / 1e9);
    return { type: "final", collector: this.col.read(), totals: engineTotals(this.engine), conntrack: conntrack ? this.engine.conntrack() : undefined };
  }
}
