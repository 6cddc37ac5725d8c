/**
 * `replay` at scale: a packet source (JSONL, pcap, generator) through one
 * engine on the main thread, or sharded over worker threads (shard.ts,
 * worker.ts), into a summary (report/model.ts) and optional per-packet
 * outputs. Deterministic: the same inputs and seed give the same summary
 * (apart from its `timing` key) and the same per-packet results, whatever
 * the number of workers, within the limits README "replay --workers" lists.
 */
import { Worker } from "node:worker_threads";
import type { Writable } from "node:stream";
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { InputError } from "../snapshot/errors.js";
import { Collector, emptyCollector, mergeCollector, type CollectorData } from "../report/collect.js";
import { mergeTotals, type EngineTotals } from "../report/model.js";
import { TopTalkers } from "../report/talkers.js";
import { EngineRunner, type SegmentSink } from "./runner.js";
import { loadEngine, type NodeSpec } from "./setup.js";
import type { PacketSource } from "./sources.js";
import { natTopology, ShardRouter, type NatTopology } from "./shard.js";
import type { Progress } from "./progress.js";
import { conntrackDumpText, type ConntrackEntry } from "../conntrack/dump.js";
import { EgressWriter } from "./egress.js";
import { ShardEngine } from "./shard-engine.js";
import { resultJson } from "../packet/result-json.js";
import { LineBuffer } from "./lines.js";

export interface ReplayRunOptions {
  spec: NodeSpec;
  seed: number;
  batch: number;
  workers: number;
  trace?: boolean;
  /** Per-packet results (the JSONL replay format), in input order. */
  jsonl?: Writable;
  /** Packets per dispatch round with workers (default 2048). */
  round?: number;
  progress?: Progress;
  warn?: (m: string) => void;
  /** Makes the source once the main engine is loaded (the JSONL encoder needs its devices). */
  source: (engine: Engine) => PacketSource | Promise<PacketSource>;
  /** Also collect the final connection table (--conntrack-dump). */
  conntrackDump?: boolean;
  /** Write every packet as it leaves to this pcapng (egress.ts). */
  egress?: string;
  /** Compile the rule walks (EngineOptions.jit; default true), in every engine. */
  jit?: boolean;
}

export interface ReplayOutcome {
  engine: Engine;
  source: PacketSource;
  collector: CollectorData;
  totals: EngineTotals;
  bySource: TopTalkers;
  byDestination: TopTalkers;
  /** The input error that stopped the replay (everything before it was replayed). */
  error?: InputError;
  seconds: number;
  barriers: number;
  conntrackText?: string;
  egressFile?: string;
}

/** The engine's end-of-run numbers (summed over workers by mergeTotals). */
export function engineTotals(engine: Engine): EngineTotals {
  const rc = engine.ruleCounters();
  return {
    rulePackets: rc.map((c) => Number(c.packets)),
    ruleBytes: rc.map((c) => Number(c.bytes)),
    conntrack: engine.ruleset?.compiled.conntrack ? { ...engine.conntrackStats() } : undefined,
    counters: engine.counters(),
  };
}

/**
 * What the source itself did to the traffic (a capture's IPv4 reassembly):
 * `fragments` on the totals; with workers, the SNMP counters it counted
 * (in the main engine, which processes nothing) added to theirs.
 */
function sourceTotals(totals: EngineTotals, source: PacketSource, workers: boolean): void {
  if (workers && source.hostCounters) for (const [k, v] of Object.entries(source.hostCounters())) totals.counters[k] = (totals.counters[k] ?? 0) + v;
  const fr = source.fragments?.();
  if (fr) totals.fragments = fr;
}

async function write(out: Writable, s: string | Uint8Array): Promise<void> {
  if (s.length === 0) return;
  if (!out.write(s)) await new Promise<void>((res) => out.once("drain", () => res()));
}

export async function runReplay(o: ReplayRunOptions): Promise<ReplayOutcome> {
  const { engine } = await loadEngine(o.spec, { seed: o.seed, batch: o.batch, warn: o.warn, jit: o.jit });
  // per-packet rule lists are only recorded for per-packet output
  engine.setTrace(o.trace ? "all" : o.jsonl ? "matched" : "off");
  // the core's summaries first: they allocate, and a source may keep its own state in the core's memory
  const talkers = { bySource: new TopTalkers(engine), byDestination: new TopTalkers(engine) };
  const col = o.workers <= 1 ? new Collector(engine) : undefined;
  const source = await o.source(engine);
  try {
    return col ? await runSingle(o, engine, source, col, talkers) : await runParallel(o, engine, source, talkers);
  } finally {
    source.close();
  }
}

/** The top talkers of a replay's input (in the main engine's core). */
interface Talkers { bySource: TopTalkers; byDestination: TopTalkers }

async function runSingle(o: ReplayRunOptions, engine: Engine, source: PacketSource, col: Collector, talkers: Talkers): Promise<ReplayOutcome> {
  const runner = new EngineRunner(engine, o.seed);
  const { bySource, byDestination } = talkers;
  let next = 0;
  const lines = o.jsonl ? new LineBuffer(o.batch * 1536) : undefined;
  let first = 0;
  const egress = o.egress ? new EgressWriter(o.egress, (slot) => engine.node.devBySlot[slot]?.name ?? `slot${slot}`) : undefined;
  const sink: SegmentSink = {
    segment(dv, base, k0, k1, replyBase) {
      col.collect(base, k0, k1, replyBase);
      if (lines) for (let k = k0; k < k1; k++) lines.add(resultJson(engine.decodeRaw(k, first + k)));
      // frames are built straight into the egress file's buffer
      if (egress) for (let k = k0; k < k1; k++) egress.add(dv, base + k * abi.PKT_SIZE, replyBase, first + k, source.frame?.(k));
    },
  };
  let error: InputError | undefined;
  const t0 = performance.now();
  for (;;) {
    const { ptr, capacity } = engine.batchBuffer;
    let n: number;
    try {
      n = source.fill(engine.mem.dv, ptr, capacity);
    } catch (e) {
      if (e instanceof InputError) { error = e; break; }
      throw e;
    }
    if (n === 0) break;
    TopTalkers.addBatch(bySource, byDestination, ptr, n);
    first = next;
    runner.run(n, first, sink);
    next += n;
    source.processed?.(engine.mem.dv, ptr, n);
    if (lines) await write(o.jsonl!, lines.take().bytes);
    if (egress) await egress.flush();
    o.progress?.update(source.progress(), next);
  }
  await egress?.close();
  const seconds = (performance.now() - t0) / 1000;
  const totals = engineTotals(engine);
  sourceTotals(totals, source, false);
  return {
    engine, source, collector: col.read(), totals, bySource, byDestination, error, seconds, barriers: 0,
    conntrackText: o.conntrackDump ? engine.conntrackList() : undefined, egressFile: o.egress,
  };
}

// ---- workers -----------------------------------------------------------------

/** Messages to a worker. */
export type ToWorker =
  | { type: "init"; spec: NodeSpec; seed: number; batch: number; topo: NatTopology; jsonl: boolean; trace: boolean; egress: boolean; closedLoop: boolean; id: number; jit: boolean }
  | { type: "round"; round: number; n: number; buf: ArrayBuffer; idx: ArrayBuffer; orig?: { bytes: ArrayBuffer; at: Float64Array } }
  | { type: "finish"; conntrack: boolean; clockNs: number };

/** Messages from a worker. */
export type FromWorker =
  | { type: "ready" }
  | { type: "warning"; message: string }
  | { type: "error"; message: string; input?: { file: string; line: number; token: string; problem: string; text?: string; column?: number } }
  | {
    type: "done"; round: number; learned: number[]; buf: ArrayBuffer; idx: ArrayBuffer; n: number; frames?: { bytes: ArrayBuffer; meta: Float64Array };
    /** The round's JSONL lines, UTF-8, in the order processed; ends[k] is where line k ends. */
    jsonl?: { bytes: ArrayBuffer; length: number; ends: Uint32Array };
  }
  | { type: "final"; collector: CollectorData; totals: EngineTotals; conntrack?: ConntrackEntry[] };

interface RoundRec { round: number; openers: number[]; waiting: number; results: (FromWorker & { type: "done" })[] }

interface Handle {
  readonly id: number;
  freeBufs: ArrayBuffer[];
  freeIdx: ArrayBuffer[];
  next(): Promise<FromWorker>;
  post(m: ToWorker, transfer?: ArrayBuffer[]): void;
  close(): Promise<void>;
}

/** A shard in a worker thread. */
class WorkerHandle implements Handle {
  readonly w: Worker;
  private waiters: ((m: FromWorker) => void)[] = [];
  private queue: FromWorker[] = [];
  failure?: Error;
  freeBufs: ArrayBuffer[] = [];
  freeIdx: ArrayBuffer[] = [];

  constructor(readonly id: number, warn?: (m: string) => void) {
    this.w = new Worker(new URL("./worker.js", import.meta.url));
    this.w.on("message", (m: FromWorker) => {
      if (m.type === "warning") { warn?.(m.message); return; }
      const f = this.waiters.shift();
      if (f) f(m); else this.queue.push(m);
    });
    this.w.on("error", (e) => { this.failure = e; for (const f of this.waiters.splice(0)) f({ type: "error", message: e.message }); });
  }

  next(): Promise<FromWorker> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.failure) return Promise.resolve({ type: "error", message: this.failure.message });
    return new Promise((res) => this.waiters.push(res));
  }

  post(m: ToWorker, transfer: ArrayBuffer[] = []): void { this.w.postMessage(m, transfer); }
  async close(): Promise<void> { await this.w.terminate(); }
}

/**
 * Shard 0, on the main thread beside the dispatcher: N workers need N - 1
 * threads (on a 2-core machine, a third busy thread only takes turns). It
 * processes a round when it is handed over, while the worker threads
 * process theirs, and answers in the same order.
 */
class LocalHandle implements Handle {
  private readonly shard = new ShardEngine();
  private readonly queue: (FromWorker | Promise<FromWorker>)[] = [];
  freeBufs: ArrayBuffer[] = [];
  freeIdx: ArrayBuffer[] = [];

  constructor(readonly id: number, private readonly warn?: (m: string) => void) {}

  next(): Promise<FromWorker> { return Promise.resolve(this.queue.shift()!); }

  post(m: ToWorker): void {
    try {
      if (m.type === "init") {
        this.queue.push(this.shard.init(m, (x) => this.warn?.(x)).then(() => ({ type: "ready" }) as FromWorker, (e: unknown) => toError(e)));
      } else if (m.type === "round") this.queue.push(this.shard.round(m));
      else this.queue.push(this.shard.finish(m.conntrack, m.clockNs));
    } catch (e) {
      this.queue.push(toError(e));
    }
  }

  async close(): Promise<void> {}
}

function toError(e: unknown): FromWorker {
  if (e instanceof InputError) return { type: "error", message: e.message, input: { file: e.file, line: e.line, token: e.token, problem: e.problem, text: e.text, column: e.column } };
  return { type: "error", message: (e as Error)?.stack ?? String(e) };
}

/** The descriptor words of its input fields (abi.ts section 12): [0, W_IN_A), [W_IN_B, W_IN_B_END) and W_IN_C. */
const W_IN_A = abi.IN_A >> 2, W_IN_B = abi.PKT_TCP_WSCALE >> 2, W_IN_B_END = abi.PKT_OUT_INNER_SRC >> 2, W_IN_C = abi.PKT_INNER_ICMP_TYPE >> 2;

function workerError(m: FromWorker & { type: "error" }): Error {
  if (m.input) return new InputError(m.input.file, m.input.line, m.input.token, m.input.problem, m.input.text, m.input.column);
  return new Error(`replay worker: ${m.message}`);
}

async function runParallel(o: ReplayRunOptions, engine: Engine, source: PacketSource, talkers: Talkers): Promise<ReplayOutcome> {
  const N = o.workers;
  // measured on the 2-core machines this runs on (bench/replay.ts): small rounds, deep pipeline
  const ROUND = Math.max(256, o.round ?? 2048);
  /** Rounds in flight: results of round r - DEPTH are applied when round r is handed over. */
  const DEPTH = 8;
  const topo = natTopology(engine.node.snapshot, engine.ruleset?.ruleset);
  const router = new ShardRouter(topo, N);
  const handles: Handle[] = Array.from({ length: N }, (_, i) => i === 0 ? new LocalHandle(0, o.warn) : new WorkerHandle(i, o.warn));
  try {
    for (const h of handles) h.post({ type: "init", spec: o.spec, seed: o.seed, batch: o.batch, topo, jsonl: !!o.jsonl, trace: !!o.trace, egress: !!o.egress, closedLoop: source.closedLoop === true, id: h.id, jit: o.jit !== false });
    for (const h of handles) {
      const m = await h.next();
      if (m.type === "error") throw workerError(m);
    }
    const { bySource, byDestination } = talkers;
    // the round being built: per worker a descriptor buffer and the input indices
    let bufs: Uint8Array[] = [], bufs32: Int32Array[] = [], idxs: Float64Array[] = [], counts: number[] = [];
    // captured bytes of the round's packets (for egress.pcapng), per worker: bytes and [offset, length] per packet
    const withOrig = !!o.egress && typeof source.frame === "function";
    let origB: Uint8Array[] = [], origUsed: number[] = [], origAt: number[][] = [];
    const egress = o.egress ? new EgressWriter(o.egress, (slot) => engine.node.devBySlot[slot]?.name ?? `slot${slot}`) : undefined;
    const closed = source.closedLoop === true;
    let fillFirst = 0;
    let openers: number[] = [];
    let roundNo = 0;
    let total = 0;
    const inflight: RoundRec[] = [];
    const staging = engine.batchBuffer;
    const newRound = () => {
      bufs = handles.map((h) => new Uint8Array(h.freeBufs.pop() ?? new ArrayBuffer(ROUND * abi.PKT_SIZE)));
      bufs32 = bufs.map((b) => new Int32Array(b.buffer));
      idxs = handles.map((h) => new Float64Array(h.freeIdx.pop() ?? new ArrayBuffer(ROUND * 8)));
      counts = handles.map(() => 0);
      openers = [];
      // the bytes buffers are kept from round to round (grown once; each round sends a copy)
      if (withOrig) { if (!origB.length) origB = handles.map(() => new Uint8Array(1 << 16)); origUsed = handles.map(() => 0); origAt = handles.map(() => []); }
    };
    const apply = async (): Promise<void> => {
      const rec = inflight.shift()!;
      for (const h of handles) {
        const m = await h.next();
        if (m.type === "error") throw workerError(m);
        if (m.type !== "done" || m.round !== rec.round) throw new Error(`replay: worker ${h.id} answered out of order`);
        rec.results[h.id] = m;
      }
      // learned tuples in worker order: deterministic when two workers learn the same tuple
      for (const h of handles) router.learn(rec.results[h.id]!.learned, h.id);
      router.retire(rec.openers);
      if (egress) {
        egress.writeMerged(rec.results.map((r) => ({ bytes: new Uint8Array(r.frames!.bytes), meta: r.frames!.meta })));
        await egress.flush();
      }
      if (closed) {
        // the processed descriptors back where the source wrote them, for its closed loop
        const mem = engine.mem.u8;
        for (const r of rec.results) {
          const ix = new Float64Array(r.idx, 0, r.n), b = new Uint8Array(r.buf);
          for (let k = 0; k < r.n; k++) {
            const at = staging.ptr + (ix[k]! - fillFirst) * abi.PKT_SIZE;
            mem.set(b.subarray(k * abi.PKT_SIZE, (k + 1) * abi.PKT_SIZE), at);
          }
        }
      }
      if (o.jsonl) {
        // merge the workers' lines by input index, as bytes
        const pos = handles.map(() => 0);
        const ix = rec.results.map((r) => new Float64Array(r.idx, 0, r.n));
        const src = rec.results.map((r) => new Uint8Array(r.jsonl!.bytes, 0, r.jsonl!.length));
        const out = Buffer.allocUnsafe(src.reduce((a, b) => a + b.length, 0));
        let at = 0;
        for (;;) {
          let best = -1, bi = Infinity;
          for (let w = 0; w < N; w++) if (pos[w]! < rec.results[w]!.n && ix[w]![pos[w]!]! < bi) { bi = ix[w]![pos[w]!]!; best = w; }
          if (best < 0) break;
          const ends = rec.results[best]!.jsonl!.ends, k = pos[best]!++;
          const from = k === 0 ? 0 : ends[k - 1]!;
          out.set(src[best]!.subarray(from, ends[k]!), at);
          at += ends[k]! - from;
        }
        await write(o.jsonl, out);
      }
      for (const h of handles) { h.freeBufs.push(rec.results[h.id]!.buf); h.freeIdx.push(rec.results[h.id]!.idx); }
    };
    const flush = async (): Promise<void> => {
      if (counts.every((c) => c === 0)) return;
      while (inflight.length >= DEPTH) await apply();
      const rec: RoundRec = { round: roundNo++, openers, waiting: N, results: [] };
      for (const h of handles) {
        const b = bufs[h.id]!.buffer as ArrayBuffer, x = idxs[h.id]!.buffer as ArrayBuffer;
        const orig = withOrig ? { bytes: origB[h.id]!.slice(0, origUsed[h.id]!).buffer as ArrayBuffer, at: Float64Array.from(origAt[h.id]!) } : undefined;
        h.post({ type: "round", round: rec.round, n: counts[h.id]!, buf: b, idx: x, orig }, orig ? [b, x, orig.bytes, orig.at.buffer as ArrayBuffer] : [b, x]);
      }
      inflight.push(rec);
      newRound();
    };
    newRound();
    let inRound = 0;
    let lastTime = 0;
    let error: InputError | undefined;
    const t0 = performance.now();
    for (;;) {
      let n: number;
      try {
        n = source.fill(engine.mem.dv, staging.ptr, staging.capacity);
      } catch (e) {
        if (e instanceof InputError) { error = e; break; }
        throw e;
      }
      if (n === 0) break;
      // taken after the fill: a source may grow the core's memory (the generator keeps its flows there)
      const dv = engine.mem.dv;
      fillFirst = total;
      TopTalkers.addBatch(bySource, byDestination, staging.ptr, n);
      const mem32 = new Int32Array(dv.buffer);
      for (let k = 0; k < n; k++) {
        const p = staging.ptr + k * abi.PKT_SIZE;
        let w = router.route(dv, p, false);
        if (w < 0) {
          // a barrier: every in-flight round completes and is applied first
          await flush();
          while (inflight.length) await apply();
          inRound = 0;
          router.barriers++;
          w = router.route(dv, p, true);
        }
        const tns = mem32[(p + abi.PKT_TIME + 4) >> 2]! * 4294967296 + (mem32[(p + abi.PKT_TIME) >> 2]! >>> 0);
        if (tns > lastTime) lastTime = tns;
        const c = counts[w]!;
        // the descriptor's input fields (abi.ts section 12) as words, no subarray object per
        // packet; the output fields need not be cleared (Engine.processRaw)
        const to = bufs32[w]!, s0 = p >> 2, d0 = c * (abi.PKT_SIZE >> 2);
        for (let i = 0; i < W_IN_A; i++) to[d0 + i] = mem32[s0 + i]!;
        for (let i = W_IN_B; i < W_IN_B_END; i++) to[d0 + i] = mem32[s0 + i]!;
        to[d0 + W_IN_C] = mem32[s0 + W_IN_C]!;
        idxs[w]![c] = total + k;
        counts[w] = c + 1;
        if (withOrig) {
          const fr = source.frame!(k);
          const len = fr?.length ?? 0;
          if (origUsed[w]! + len > origB[w]!.length) {
            let size = origB[w]!.length * 2;
            while (size < origUsed[w]! + len) size *= 2;
            const nb = new Uint8Array(size);
            nb.set(origB[w]!.subarray(0, origUsed[w]!));
            origB[w] = nb;
          }
          if (fr) origB[w]!.set(fr.bytes.subarray(fr.offset, fr.offset + len), origUsed[w]!);
          origAt[w]!.push(origUsed[w]!, fr ? len : -1);
          origUsed[w]! += len;
        }
        router.addInFlight(dv, p, w, openers);
        if (++inRound >= ROUND || c + 1 >= ROUND) { await flush(); inRound = 0; }
      }
      if (closed) {
        // the source needs this fill's outcome before it fills again
        await flush();
        while (inflight.length) await apply();
        inRound = 0;
        source.processed!(engine.mem.dv, staging.ptr, n);
      }
      total += n;
      o.progress?.update(source.progress(), total);
    }
    await flush();
    while (inflight.length) await apply();
    await egress?.close();
    const collector = emptyCollector();
    let totals: EngineTotals | undefined;
    const entries: ConntrackEntry[] = [];
    // every engine's clock at the last packet's time, as one engine's would be (conntrack -L timeouts, gc)
    for (const h of handles) h.post({ type: "finish", conntrack: !!o.conntrackDump, clockNs: lastTime });
    for (const h of handles) {
      const m = await h.next();
      if (m.type === "error") throw workerError(m);
      if (m.type !== "final") throw new Error(`replay: worker ${h.id} answered out of order`);
      mergeCollector(collector, m.collector);
      if (!totals) totals = m.totals; else mergeTotals(totals, m.totals);
      if (m.conntrack) entries.push(...m.conntrack);
    }
    const seconds = (performance.now() - t0) / 1000;
    sourceTotals(totals!, source, true);
    return {
      engine, source, collector, totals: totals!, bySource, byDestination, error, seconds, barriers: router.barriers,
      conntrackText: o.conntrackDump ? conntrackDumpText(entries) : undefined, egressFile: o.egress,
    };
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
}
