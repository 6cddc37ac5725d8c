/**
 * A capture decoded on a second thread: the PacketSource of single-engine
 * `replay --pcap` when the machine has a CPU to spare. The thread
 * (pcap-thread-worker.ts) reads the file and decodes its frames with a
 * PcapSource of its own (its own Engine for the node's devices and the
 * ruleset's conntrack flag) into its core's memory, packing each batch
 * into input records (abi.ts section 12: the descriptors' input fields,
 * 96 bytes a packet instead of 256) in a slot of a ring of
 * SharedArrayBuffer slots; the main thread's fill() copies a slot's records
 * into the engine's batch buffer, where the engine's core unpacks them,
 * while the thread decodes the next ones, so reading and decoding overlap
 * the engine. (Records made the 1 GB capture cut at 128 bytes replay at a
 * median 3.59 M packets/s against 3.30 M with whole descriptors, 10
 * alternating runs of each, 2026-11-22: the copies out of the shared ring
 * were ~10% of the replaying thread's time.)
 * Without keepFrames the thread's core decodes the common records itself
 * (PcapSourceOptions.fastDecode, assembly/capture/decode.ts; the
 * `fastDecode` option, default on), the read buffer in its memory.
 *
 * Everything else the PcapSource reports comes across with each batch, in
 * a message on a MessagePort the main thread reads synchronously
 * (receiveMessageOnPort, woken by Atomics.wait on a shared counter): the
 * frames not replayed by kind, the SNMP counters the reassembly adds (the
 * same addCounter calls, made on the replaying engine in the same order),
 * what became of every fragment, frames clamped to time 0, checksums not
 * verified, node sends, forwarded copies paired, the bytes read; with keepFrames, the IPv4 bytes of every
 * descriptor (frame(k): egress.pcapng), in a buffer moved with the message.
 * An InputError (a CaptureError with its byte offset and frame number)
 * comes as the batch after the descriptors before it and is thrown by the
 * fill() that reaches it, rebuilt as the same class with the same fields:
 * the replay gives the same results, byte for byte, as with a PcapSource
 * on the main thread.
 *
 * The thread starts (and loads the node, without its ruleset) as soon as
 * the source is made (start()), while the replaying engine is loaded;
 * open() tells it whether the ruleset turns conntrack on and waits until
 * it opened the capture (errors opening it are thrown there, as
 * PcapSource.open throws them).
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import * as abi from "../core/abi.js";
import { InputError } from "../snapshot/errors.js";
import { CaptureError } from "../pcap/errors.js";
import { IngressMapError, type IngressMap } from "../pcap/ingress.js";
import { inputNotes, type PcapEngine } from "./pcap-source.js";
import type { NodeSpec } from "./setup.js";
import type { CoreExports } from "../core/wasm.js";
import type { PacketSource, SourceProgress } from "./sources.js";
import type { NodeSendsMode } from "../pcap/node-sends.js";
import type { ForwardedCopiesMode } from "../pcap/copies.js";

/**
 * Shared words: messages posted by the thread, slots released by the main
 * thread, stop asked, thread gone, whether the ruleset turns conntrack on
 * (0: not yet known, 1: off, 2: on).
 */
export const W_POSTED = 0, W_RELEASED = 1, W_STOP = 2, W_GONE = 3, W_CONNTRACK = 4;

export interface PcapThreadOptions {
  /** The node (the thread loads its own engine from it). */
  spec: NodeSpec;
  /** The ingress mapping's data (its functions cannot cross to the thread: see `spelling`). */
  ingress?: Omit<IngressMap, "optionName" | "suggest">;
  /** A module (URL) and export giving the mapping's optionName and suggest (e.g. host/cli/ingress-spelling.ts). */
  spelling?: { module: string; name: string };
  /** Check transport checksums (default true). */
  verifyChecksums?: boolean;
  /** Keep every descriptor's IPv4 bytes for frame(k) (default true). */
  keepFrames?: boolean;
  /** Decode the common records with the thread's core (PcapSourceOptions.fastDecode; default true, used without keepFrames). */
  fastDecode?: boolean;
  /** The node's own sends among the outgoing frames (PcapSourceOptions.nodeSends; default "replay"). */
  nodeSends?: NodeSendsMode;
  /** The forwarded copies among the outgoing frames (PcapSourceOptions.forwardedCopies; default "pair"). */
  forwardedCopies?: ForwardedCopiesMode;
  /** The engine's batch (descriptors per fill; a slot holds slotBatches(capacity, keepFrames) of them). */
  capacity: number;
  /** Slots in the ring (default 6). */
  slots?: number;
}

/**
 * Engine batches per ring slot without keepFrames, at most. Every slot
 * costs the two threads a message, a wake-up and a release; a slot of 8
 * batches (8,192 descriptors at the default batch) made the 1 GB capture
 * cut at 128 bytes replay at a median 3.51 M packets/s against 3.27 M with
 * a slot per batch (8 alternating runs of each, 2026-11-22), and the
 * thread's CPU time fell by about a fifth.
 */
export const SLOT_BATCHES = 8;
/**
 * Descriptors a slot holds at most when it holds more than one batch
 * (the thread decodes a slot's worth in its core: 2 MiB of descriptors;
 * large batches get fewer a slot).
 */
export const SLOT_DESCRIPTORS = 8192;

/**
 * Engine batches of `capacity` descriptors per ring slot: one with
 * keepFrames (each descriptor also has up to 1536 bytes of frame in the
 * slot), else SLOT_BATCHES, fewer for batches over SLOT_DESCRIPTORS /
 * SLOT_BATCHES (never less than one).
 */
export function slotBatches(capacity: number, keepFrames: boolean): number {
  if (keepFrames) return 1;
  return Math.max(1, Math.min(SLOT_BATCHES, Math.floor(SLOT_DESCRIPTORS / Math.max(1, capacity))));
}

/**
 * The engine a ThreadedPcapSource fills batches for: with its core, batches
 * in the core's memory are unpacked by it (pkt_unpack_inputs).
 */
export type ReplayingEngine = PcapEngine & { readonly core?: Pick<CoreExports, "memory" | "pkt_unpack_inputs"> };

/**
 * Input records (abi.ts section 12) [0, n) of `from` into the input fields
 * of descriptors [0, n) of `to`: the core's pkt_unpack_inputs, for a batch
 * outside the core's memory.
 */
export function unpackInputs(from: Uint8Array, to: Uint8Array, n: number): void {
  for (let k = 0; k < n; k++) {
    const r = k * abi.IN_SIZE, d = k * abi.PKT_SIZE;
    to.set(from.subarray(r, r + abi.IN_A), d);
    to.set(from.subarray(r + abi.IN_B, r + abi.IN_B + (abi.PKT_OUT_INNER_SRC - abi.PKT_TCP_WSCALE)), d + abi.PKT_TCP_WSCALE);
    to.set(from.subarray(r + abi.IN_C, r + abi.IN_C + 4), d + abi.PKT_INNER_ICMP_TYPE);
  }
}

/** What the thread is given. */
export interface PcapThreadData {
  file: string;
  spec: NodeSpec;
  ingress?: Omit<IngressMap, "optionName" | "suggest">;
  spelling?: { module: string; name: string };
  verifyChecksums: boolean;
  keepFrames: boolean;
  fastDecode: boolean;
  nodeSends: NodeSendsMode;
  forwardedCopies: ForwardedCopiesMode;
  /** Descriptors per slot. */
  capacity: number;
  slots: number;
  ctl: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  /** Per slot (keepFrames): the descriptors' IPv4 bytes, and [offset, length] per descriptor. */
  frameRing: SharedArrayBuffer;
  frameSlotBytes: number;
  atRing: SharedArrayBuffer;
  port: MessagePort;
}

/** Bytes per descriptor in a slot's frame area (frames up to 1536 bytes fill every descriptor of a slot). */
export const FRAME_BYTES_PER_DESCRIPTOR = 1536;

/** An error as it crosses from the thread. */
export type ErrorData =
  | { cls: "capture"; file: string; offset: number; frame: number; token: string; problem: string }
  | { cls: "input"; file: string; line: number; token: string; problem: string; text?: string; column?: number }
  | { cls: "ingress"; message: string }
  | { cls: "other"; message: string };

/** Messages from the thread (each counted in W_POSTED after it is posted). */
export type FromPcapThread =
  | { t: "open"; size: number }
  | { t: "failed"; error: ErrorData }
  | {
      t: "batch"; n: number; end: boolean; error?: ErrorData;
      done: number; clamped: number; csumUnverified: number; nodeSends: number; copiesPaired: number;
      /**
       * The source's running totals below, sent only when they changed since
       * the last batch (each only grows, so a changed sum means a change):
       * most batches carry none of them, and nothing is cloned for them.
       */
      skipped?: Record<string, number>;
      /** addCounter calls of this batch: [counter, n, counter, n, ...]. */
      counters: number[];
      hostCounters?: Record<string, number>;
      fragments?: Record<string, number>;
      /** The descriptors' IPv4 bytes when they do not fit in the slot's frame area (offsets in atRing). */
      frames?: ArrayBuffer;
    };

export function errorData(e: unknown): ErrorData {
  if (e instanceof CaptureError) {
    // the problem as the CaptureError was made (its message adds the frame and offset)
    const prefix = `${e.frame ? `frame ${e.frame}, ` : ""}byte offset ${e.offset}: `;
    const problem = e.problem.startsWith(prefix) ? e.problem.slice(prefix.length) : e.problem;
    return { cls: "capture", file: e.file, offset: e.offset, frame: e.frame, token: e.token, problem };
  }
  if (e instanceof InputError) return { cls: "input", file: e.file, line: e.line, token: e.token, problem: e.problem, text: e.text, column: e.column };
  if (e instanceof IngressMapError) return { cls: "ingress", message: e.message };
  return { cls: "other", message: (e as Error)?.stack ?? String(e) };
}

function rebuild(d: ErrorData): Error {
  switch (d.cls) {
    case "capture": return new CaptureError(d.file, d.offset, d.frame, d.token, d.problem);
    case "input": return new InputError(d.file, d.line, d.token, d.problem, d.text, d.column);
    case "ingress": return new IngressMapError(d.message);
    default: return new Error(`capture decode thread: ${d.message}`);
  }
}

/**
 * The thread (CommonJS, evaluated): notes in the shared words when it ends
 * however it ends (so that a main thread waiting on it wakes up), then runs
 * pcap-thread-worker.js.
 */
const BOOT = `
const { workerData } = require("node:worker_threads");
const ctl = new Int32Array(workerData.ctl);
process.on("exit", () => { Atomics.store(ctl, ${W_GONE}, 1); Atomics.notify(ctl, ${W_POSTED}); });
import(workerData.module).then((m) => m.runThread(workerData)).catch((e) => {
  try { workerData.port.postMessage({ t: "failed", error: { cls: "other", message: String((e && e.stack) || e) } }); } catch {}
  Atomics.add(ctl, ${W_POSTED}, 1);
  Atomics.notify(ctl, ${W_POSTED});
});
`;

export class ThreadedPcapSource implements PacketSource {
  readonly kind = "pcap" as const;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly ctl: Int32Array;
  private readonly ring: Uint8Array;
  private readonly slots: number;
  private readonly slotBytes: number;
  /** Descriptors per slot. */
  private readonly slotCap: number;
  private workerError?: Error;
  private received = 0;
  private engine?: ReplayingEngine;
  private opened = false;
  private closed = false;
  /** The batch being handed out: its slot, descriptors, how many handed out. */
  private seq = -1;
  private cur?: FromPcapThread & { t: "batch" };
  private pos = 0;
  /** Where the last fill started in the current batch (frame(k)). */
  private fillPos = 0;
  private readonly frameRing: Uint8Array;
  private readonly frameSlotBytes: number;
  private readonly atRing: Int32Array;
  private frameBytes: Uint8Array = new Uint8Array(0);
  /** Where descriptor 0's bytes are in frameBytes and its [offset, length] in atRing. */
  private frameBase = 0;
  private atBase = 0;
  /** A slot handed out whose frames frame(k) may still read (released at the next fill). */
  private held = false;
  private readonly frameView: { bytes: Uint8Array; offset: number; length: number } = { bytes: new Uint8Array(0), offset: 0, length: 0 };
  private pendingError?: Error;
  private ended_ = false;
  private size = 0;
  private done = 0;
  private skipped_: Record<string, number> = {};
  private hostCounters_: Record<string, number> = {};
  private fragments_?: Record<string, number>;
  /** Frames stamped before the first frame (replayed at time 0). */
  clamped = 0;
  /** Replayed packets whose transport checksum was not checked. */
  csumUnverified = 0;
  /** Outgoing frames replayed as the node's own sends. */
  nodeSends = 0;
  /** Forwarded copies paired with their originals. */
  copiesPaired = 0;

  private constructor(readonly label: string, private readonly opts: PcapThreadOptions) {
    this.slots = Math.max(2, opts.slots ?? 6);
    const keep = opts.keepFrames ?? true;
    this.slotCap = Math.max(1, opts.capacity) * slotBatches(opts.capacity, keep);
    this.slotBytes = this.slotCap * abi.IN_SIZE;
    this.ctl = new Int32Array(new SharedArrayBuffer(32));
    const ring = new SharedArrayBuffer(this.slots * this.slotBytes);
    this.ring = new Uint8Array(ring);
    this.frameSlotBytes = keep ? this.slotCap * FRAME_BYTES_PER_DESCRIPTOR : 0;
    const frameRing = new SharedArrayBuffer(this.slots * this.frameSlotBytes);
    const atRing = new SharedArrayBuffer(keep ? this.slots * this.slotCap * 8 : 0);
    this.frameRing = new Uint8Array(frameRing);
    this.atRing = new Int32Array(atRing);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const data: PcapThreadData & { module: string } = {
      file: label, spec: opts.spec, ingress: opts.ingress, spelling: opts.spelling,
      verifyChecksums: opts.verifyChecksums ?? true, keepFrames: opts.keepFrames ?? true, fastDecode: opts.fastDecode ?? true, nodeSends: opts.nodeSends ?? "replay", forwardedCopies: opts.forwardedCopies ?? "pair",
      capacity: this.slotCap, slots: this.slots, ctl: this.ctl.buffer as SharedArrayBuffer, ring, frameRing, frameSlotBytes: this.frameSlotBytes, atRing, port: port2,
      module: new URL("./pcap-thread-worker.js", import.meta.url).href,
    };
    this.worker = new Worker(BOOT, { eval: true, workerData: data, transferList: [port2] });
    this.worker.unref(); // a source never closed does not keep the process alive
    this.worker.on("error", (e) => { this.workerError ??= e; });
  }

  /** Starts the thread on `file` (it loads its engine meanwhile); open() waits for it. */
  static start(file: string, opts: PcapThreadOptions): ThreadedPcapSource {
    return new ThreadedPcapSource(file, opts);
  }

  /**
   * Waits until the thread opened the capture (throws what opening it
   * threw); `engine` is the replaying engine, which gets the reassembly's
   * SNMP counters.
   */
  open(engine: ReplayingEngine): this {
    if (this.opened) throw new Error("ThreadedPcapSource.open(): already open");
    this.engine = engine;
    // the thread's node has no ruleset (compiling it twice would only cost time): whether it turns conntrack on
    Atomics.store(this.ctl, W_CONNTRACK, engine.ruleset?.compiled.conntrack ? 2 : 1);
    Atomics.notify(this.ctl, W_CONNTRACK);
    const m = this.next();
    if (m.t === "failed") { this.close(); throw rebuild(m.error); }
    if (m.t !== "open") { this.close(); throw new Error(`capture decode thread: unexpected message ${m.t}`); }
    this.size = m.size;
    this.opened = true;
    return this;
  }

  /** The next message of the thread, waiting for it. */
  private next(): FromPcapThread {
    const ctl = this.ctl;
    for (;;) {
      const r = receiveMessageOnPort(this.port);
      if (r) { this.received++; return r.message as FromPcapThread; }
      const posted = Atomics.load(ctl, W_POSTED);
      if (posted > this.received) { Atomics.wait(ctl, W_GONE, 0, 1); continue; } // posted, not yet in the port
      if (Atomics.load(ctl, W_GONE)) {
        throw new Error(`capture decode thread: ended unexpectedly${this.workerError ? ` (${this.workerError.message})` : ""}`);
      }
      Atomics.wait(ctl, W_POSTED, posted, 1000);
    }
  }

  /** The input ended (end of file, or damage reported). */
  get ended(): boolean { return this.ended_; }

  private release(): void {
    Atomics.add(this.ctl, W_RELEASED, 1);
    Atomics.notify(this.ctl, W_RELEASED);
  }

  fill(dv: DataView, base: number, max: number): number {
    if (!this.opened) throw new Error("ThreadedPcapSource.fill(): not open");
    if (this.pendingError) { const e = this.pendingError; this.pendingError = undefined; this.ended_ = true; throw e; }
    if (this.ended_ || max <= 0) return 0;
    if (this.held) { this.held = false; this.release(); }
    if (!this.cur || this.pos >= this.cur.n) {
      const m = this.next();
      if (m.t === "failed") { this.ended_ = true; throw rebuild(m.error); }
      if (m.t !== "batch") throw new Error(`capture decode thread: unexpected message ${m.t}`);
      this.seq++;
      this.cur = m;
      this.pos = 0;
      // what the thread's PcapSource did in this fill, as it would have done it here
      const c = m.counters;
      for (let i = 0; i < c.length; i += 2) this.engine!.addCounter(c[i]!, c[i + 1]!);
      this.done = m.done;
      this.clamped = m.clamped;
      this.csumUnverified = m.csumUnverified;
      this.nodeSends = m.nodeSends;
      this.copiesPaired = m.copiesPaired;
      if (m.skipped) this.skipped_ = m.skipped;
      if (m.hostCounters) this.hostCounters_ = m.hostCounters;
      if (m.fragments) this.fragments_ = m.fragments;
      const slot = this.seq % this.slots;
      if (m.frames) { this.frameBytes = new Uint8Array(m.frames); this.frameBase = 0; } else { this.frameBytes = this.frameRing; this.frameBase = slot * this.frameSlotBytes; }
      this.atBase = slot * this.slotCap * 2;
      if (m.n === 0) {
        this.ended_ = true;
        this.release();
        if (m.error) throw rebuild(m.error);
        return 0;
      }
      if (m.error) this.pendingError = rebuild(m.error); // after these descriptors (the thread sends it with them only if it has none left)
    }
    const m = this.cur;
    const k = Math.min(max, m.n - this.pos);
    const slot = (this.seq % this.slots) * this.slotBytes;
    const records = this.ring.subarray(slot + this.pos * abi.IN_SIZE, slot + (this.pos + k) * abi.IN_SIZE);
    const core = this.engine!.core;
    if (core && dv.buffer === core.memory.buffer) {
      // the records at the batch's start, unpacked there by the core
      new Uint8Array(dv.buffer, dv.byteOffset + base, k * abi.IN_SIZE).set(records);
      core.pkt_unpack_inputs(dv.byteOffset + base, k);
    } else unpackInputs(records, new Uint8Array(dv.buffer, dv.byteOffset + base, k * abi.PKT_SIZE), k);
    this.fillPos = this.pos;
    this.pos += k;
    if (this.pos >= m.n) {
      // the slot's frames are read until the next fill
      if (this.frameSlotBytes > 0) this.held = true; else this.release();
      if (m.end) this.ended_ = true;
    }
    return k;
  }

  frame(k: number): { bytes: Uint8Array; offset: number; length: number } {
    if (this.opts.keepFrames === false) throw new Error("ThreadedPcapSource.frame(): the source was made with keepFrames false");
    const v = this.frameView, i = this.atBase + 2 * (this.fillPos + k);
    v.bytes = this.frameBytes;
    v.offset = this.frameBase + this.atRing[i]!;
    v.length = this.atRing[i + 1]!;
    return v;
  }

  progress(): SourceProgress { return { done: this.done, total: this.size, unit: "bytes" }; }

  skipped(): Record<string, number> { return { ...this.skipped_ }; }

  notes(): Record<string, number> { return inputNotes(this.csumUnverified, this.clamped); }

  /** The SNMP counters the reassembly added (see PcapSource.hostCounters). */
  hostCounters(): Record<string, number> { return { ...this.hostCounters_ }; }

  /** What became of every IPv4 fragment; undefined without conntrack. */
  fragments(): Record<string, number> | undefined { return this.fragments_ ? { ...this.fragments_ } : undefined; }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, W_STOP, 1);
    Atomics.notify(this.ctl, W_RELEASED);
    Atomics.notify(this.ctl, W_CONNTRACK);
    this.port.close();
    void this.worker.terminate();
  }
}
