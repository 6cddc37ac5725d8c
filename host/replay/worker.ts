/**
 * A replay worker thread (`replay --workers N`): its own Engine with the
 * node loaded, fed rounds of descriptors by the dispatcher (run.ts), which
 * it processes in input order with the same EngineRunner as the main
 * thread. Per round it answers with the reply tuples of the connections it
 * made (shard.ts learns them) and, when asked, the per-packet JSONL lines.
 */
import { parentPort } from "node:worker_threads";
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { isInputError } from "../snapshot/errors.js";
import { collect, emptyCollector } from "../report/collect.js";
import { EngineRunner, type SegmentSink } from "./runner.js";
import { loadEngine } from "./setup.js";
import { NatSets, learnedTuple } from "./shard.js";
import { engineTotals, type FromWorker, type ToWorker } from "./run.js";
import { FrameList, type OrigBytes } from "./egress.js";

const port = parentPort!;
let engine: Engine;
let runner: EngineRunner;
let sets: NatSets;
let jsonl = false;
let frames: FrameList | undefined;
let closedLoop = false;
const col = emptyCollector();

function send(m: FromWorker, transfer: ArrayBuffer[] = []): void { port.postMessage(m, transfer); }

function fail(e: unknown): void {
  if (isInputError(e)) send({ type: "error", message: e.message, input: { file: e.file, line: e.line, token: e.token, problem: e.problem, text: e.text, column: e.column } });
  else send({ type: "error", message: (e as Error)?.stack ?? String(e) });
}

port.on("message", (m: ToWorker) => {
  void handle(m).catch(fail);
});

async function handle(m: ToWorker): Promise<void> {
  if (m.type === "init") {
    ({ engine } = await loadEngine(m.spec, { seed: m.seed, batch: m.batch, warn: (message) => send({ type: "warning", message }) }));
    if (m.trace) engine.setTrace(true);
    runner = new EngineRunner(engine, m.seed);
    sets = new NatSets(m.topo);
    jsonl = m.jsonl;
    if (m.egress) frames = new FrameList();
    closedLoop = m.closedLoop;
    send({ type: "ready" });
    return;
  }
  if (m.type === "round") {
    const src = new Uint8Array(m.buf, 0, m.n * abi.PKT_SIZE);
    const idx = new Float64Array(m.idx);
    const learned: number[] = [];
    const lines: string[] | undefined = jsonl ? [] : undefined;
    let off = 0;
    const ob = m.orig ? new Uint8Array(m.orig.bytes) : undefined, oat = m.orig?.at;
    const orig: OrigBytes = { bytes: ob ?? new Uint8Array(0), offset: 0, length: 0 };
    const origOf = (i: number): OrigBytes | undefined => {
      if (!oat || oat[2 * i + 1]! < 0) return undefined;
      orig.offset = oat[2 * i]!;
      orig.length = oat[2 * i + 1]!;
      return orig;
    };
    const sink: SegmentSink = {
      segment(dv, base, k0, k1, replyBase) {
        collect(col, dv, base, k0, k1, replyBase);
        for (let k = k0; k < k1; k++) learnedTuple(dv, base + k * abi.PKT_SIZE, sets, learned);
        if (lines) for (let k = k0; k < k1; k++) lines.push(JSON.stringify(engine.decodeRaw(k, idx[off + k]!)) + "\n");
        if (frames) for (let k = k0; k < k1; k++) frames.add(dv, base + k * abi.PKT_SIZE, replyBase, idx[off + k]!, origOf(off + k));
      },
    };
    for (off = 0; off < m.n;) {
      const { ptr, capacity } = engine.batchBuffer;
      const n = Math.min(capacity, m.n - off);
      new Uint8Array(engine.core.memory.buffer, ptr, n * abi.PKT_SIZE).set(src.subarray(off * abi.PKT_SIZE, (off + n) * abi.PKT_SIZE));
      const at = off;
      runner.run(n, (k) => idx[at + k]!, sink);
      // the processed descriptors go back to a closed-loop source (the generator reads them)
      if (closedLoop) new Uint8Array(m.buf).set(new Uint8Array(engine.core.memory.buffer, engine.batchBuffer.ptr, n * abi.PKT_SIZE), off * abi.PKT_SIZE);
      off += n;
    }
    const fr = frames?.take();
    send({ type: "done", round: m.round, learned, lines, buf: m.buf, idx: m.idx, n: m.n, frames: fr }, fr ? [m.buf, m.idx, fr.bytes, fr.meta.buffer as ArrayBuffer] : [m.buf, m.idx]);
    return;
  }
  if (m.type === "finish") {
    send({ type: "final", collector: col, totals: engineTotals(engine), conntrack: m.conntrack ? engine.conntrack() : undefined });
  }
}
