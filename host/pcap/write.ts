/**
 * Streaming capture writers: classic pcap (nanosecond magic) and pcapng
 * (one section, one interface description block per interface with
 * if_name and if_tsresol 9 = nanoseconds). Link type raw IPv4 by default
 * (LINKTYPE_RAW: no link-layer header to invent, read by tshark/Wireshark
 * and tcpdump alike). Frames are copied into a buffer that is handed to
 * the output when full (a stream gets the buffer itself and the writer goes
 * on in a new one); `flush()` resolves when the output accepts more
 * (backpressure: await it between batches).
 *
 * A frame's bytes can also be built in place (`reserve`, write them at the
 * offset it returns in `frameBuffer`, then `commit`), saving a copy. A
 * writer made by `toFile` hands its full buffers (moved, not copied) to a
 * writer thread that writes them to the file one after the other and hands
 * them back: the file writes overlap the filling without the caller
 * returning to the event loop, a few buffers go round (warm in the caches),
 * and when all of them are out the filling waits (backpressure).
 */
import { openSync, closeSync } from "node:fs";
import type { Writable } from "node:stream";
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import * as f from "./format.js";

export interface CaptureWriterOptions {
  format?: "pcap" | "pcapng";
  /** Link type of every interface (default LINKTYPE_RAW 101). */
  linkType?: number;
  /** Snapshot length written in the headers (default 262144). */
  snaplen?: number;
  /** Absolute time (ns since the epoch) of tsNs 0 (default 0: 1970). */
  baseNs?: bigint;
  /** Buffer size in bytes (default 1 MiB; at least 256 KiB + 64, so that any frame fits). */
  bufferSize?: number;
}

const TWO32 = 4294967296;
/** Buffers a file writer has at most (the one being filled and those out to the writer thread). */
const FILE_BUFFERS = 8;
/** Words shared with the writer thread: buffers written (and handed back), failed. */
const DONE = 0, FAILED = 1;

/**
 * The writer thread (CommonJS, evaluated): writes each buffer it is given,
 * in order, hands it back, counts it; at the end (null), closes its port.
 */
const WRITER_THREAD = `
const { workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const { fd, ctl: sab, port } = workerData;
const ctl = new Int32Array(sab);
let failed = false;
port.on("message", (m) => {
  if (m === null) { port.close(); return; }
  if (!failed) {
    try {
      const b = new Uint8Array(m.buf, 0, m.n);
      for (let o = 0; o < m.n;) o += writeSync(fd, b, o, m.n - o);
    } catch (e) {
      failed = true;
      port.postMessage({ error: e instanceof Error ? e.message : String(e) });
      Atomics.store(ctl, ${FAILED}, 1);
    }
  }
  if (!failed) port.postMessage({ buf: m.buf }, [m.buf]);
  Atomics.add(ctl, ${DONE}, 1);
  Atomics.notify(ctl, ${DONE});
});
`;

export class CaptureWriter {
  readonly format: "pcap" | "pcapng";
  readonly linkType: number;
  readonly snaplen: number;
  private buf: Uint8Array;
  private dv: DataView;
  private used = 0;
  /** Where the frame being built (reserve .. commit) starts. */
  private at = -1;
  private readonly size: number;
  private readonly names: string[] = [];
  private waiting: Promise<void> | undefined;
  /** Output of a file writer: the file, its writer thread (a port to it, shared words), buffers sent, buffers back. */
  private fd = -1;
  private thread: Worker | undefined;
  private port: MessagePort | undefined;
  private ctl: Int32Array | undefined;
  private sent = 0;
  private spare: ArrayBuffer[] = [];
  private error: Error | undefined;
  private readonly baseHi: number;
  private readonly baseLo: number;
  private readonly baseSec: number;
  private readonly baseFrac: number;
  /** Frames written. */
  frames = 0;
  /** Bytes handed to the stream. */
  bytes = 0;

  private readonly out: Writable | undefined;

  /**
   * A writer handing its full buffers to a stream, or writing them to a
   * file opened for writing (`{ fd }`: written from offset 0, closed by `close()`).
   */
  constructor(out: Writable | { fd: number }, opts: CaptureWriterOptions = {}) {
    this.format = opts.format ?? "pcapng";
    this.linkType = opts.linkType ?? f.LINKTYPE_RAW;
    this.snaplen = opts.snaplen ?? f.MAX_CAPLEN;
    const size = (Math.max(opts.bufferSize ?? 1 << 20, f.MAX_CAPLEN + 64) + 7) & ~7;
    this.size = size;
    if ("fd" in out && typeof out.fd === "number" && !("write" in out)) {
      this.fd = out.fd;
      this.ctl = new Int32Array(new SharedArrayBuffer(8));
      const { port1, port2 } = new MessageChannel();
      this.port = port1;
      this.thread = new Worker(WRITER_THREAD, { eval: true, workerData: { fd: out.fd, ctl: this.ctl.buffer, port: port2 }, transferList: [port2] });
      this.thread.unref(); // a writer never closed does not keep the process alive
      this.thread.on("error", (e) => { this.error ??= e; });
    } else {
      this.out = out as Writable;
    }
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const base = opts.baseNs ?? 0n;
    this.baseHi = Number(base >> 32n);
    this.baseLo = Number(base & 0xffffffffn);
    this.baseSec = Number(base / 1_000_000_000n);
    this.baseFrac = Number(base % 1_000_000_000n);
    if (this.format === "pcap") this.pcapHeader();
    else this.shb();
  }

  /** A writer creating (or truncating) the file at `path`. */
  static toFile(path: string, opts: CaptureWriterOptions = {}): CaptureWriter {
    return new CaptureWriter({ fd: openSync(path, "w") }, opts);
  }

  private room(n: number): void {
    if (this.used + n > this.buf.length) this.spill();
  }

  /** Hands the buffered bytes to the output and goes on in another buffer. */
  private spill(): void {
    if (this.used === 0) return;
    const n = this.used;
    this.bytes += n;
    this.used = 0;
    const ctl = this.ctl;
    if (!ctl) {
      // a stream may keep the chunk it is given: it gets this buffer (not a copy), the writer a new one
      const full = this.buf;
      this.buf = new Uint8Array(this.size);
      this.dv = new DataView(this.buf.buffer);
      if (!this.out!.write(Buffer.from(full.buffer, full.byteOffset, n)) && !this.waiting) {
        const out = this.out!;
        this.waiting = new Promise<void>((res) => out.once("drain", () => { this.waiting = undefined; res(); }));
      }
      return;
    }
    if (this.failed()) return; // the file failed: what follows is dropped, flush() and close() report it
    const full = this.buf.buffer as ArrayBuffer;
    this.port!.postMessage({ buf: full, n }, [full]);
    this.sent++;
    // the next buffer: one handed back, a new one while fewer than FILE_BUFFERS exist, else wait for one
    for (;;) {
      this.takeBack();
      if (this.spare.length || this.sent - Atomics.load(ctl, DONE) < FILE_BUFFERS - 1 || this.failed()) break;
      Atomics.wait(ctl, DONE, Atomics.load(ctl, DONE), 1000);
    }
    this.buf = new Uint8Array(this.spare.pop() ?? new ArrayBuffer(this.size));
    this.dv = new DataView(this.buf.buffer);
  }

  /** Collects the buffers the writer thread handed back (and its error). */
  private takeBack(): void {
    for (let m = receiveMessageOnPort(this.port!); m; m = receiveMessageOnPort(this.port!)) {
      const msg = m.message as { buf?: ArrayBuffer; error?: string };
      if (msg.buf) this.spare.push(msg.buf);
      if (msg.error) this.error ??= new Error(`capture writer: ${msg.error}`);
    }
  }

  /** Whether the writer thread failed (the error kept for flush() and close()). */
  private failed(): boolean {
    if (this.error) return true;
    if (!this.ctl || !Atomics.load(this.ctl, FAILED)) return false;
    this.takeBack();
    this.error ??= new Error("capture writer: the writer thread failed");
    return true;
  }

  private pcapHeader(): void {
    const dv = this.dv;
    dv.setUint32(0, f.PCAP_MAGIC_NS, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    dv.setUint32(8, 0, true);
    dv.setUint32(12, 0, true);
    dv.setUint32(16, this.snaplen, true);
    dv.setUint32(20, this.linkType, true);
    this.used = 24;
  }

  private shb(): void {
    const dv = this.dv;
    const o = this.used;
    dv.setUint32(o, f.BT_SHB, true);
    dv.setUint32(o + 4, 28, true);
    dv.setUint32(o + 8, f.BYTE_ORDER_MAGIC, true);
    dv.setUint16(o + 12, 1, true);
    dv.setUint16(o + 14, 0, true);
    dv.setInt32(o + 16, -1, true); // section length: not given
    dv.setInt32(o + 20, -1, true);
    dv.setUint32(o + 24, 28, true);
    this.used += 28;
  }

  /**
   * Declares an interface (pcapng: an IDB with if_name) and returns its id.
   * A classic pcap has a single, unnamed interface: every name maps to 0.
   */
  addInterface(name: string): number {
    if (this.format === "pcap") { if (this.names.length === 0) this.names.push(name); return 0; }
    const nameBytes = new TextEncoder().encode(name);
    const len = 16 + 4 + ((nameBytes.length + 3) & ~3) + 8 + 4 + 4;
    this.room(len);
    const dv = this.dv, o = this.used;
    dv.setUint32(o, f.BT_IDB, true);
    dv.setUint32(o + 4, len, true);
    dv.setUint16(o + 8, this.linkType, true);
    dv.setUint16(o + 10, 0, true);
    dv.setUint32(o + 12, this.snaplen, true);
    let p = o + 16;
    dv.setUint16(p, f.IF_NAME, true);
    dv.setUint16(p + 2, nameBytes.length, true);
    this.buf.set(nameBytes, p + 4);
    this.buf.fill(0, p + 4 + nameBytes.length, p + 4 + ((nameBytes.length + 3) & ~3));
    p += 4 + ((nameBytes.length + 3) & ~3);
    dv.setUint16(p, f.IF_TSRESOL, true);
    dv.setUint16(p + 2, 1, true);
    dv.setUint32(p + 4, 9, true); // 10^-9 s, padded
    p += 8;
    dv.setUint32(p, 0, true); // opt_endofopt
    dv.setUint32(p + 4, len, true);
    this.used += len;
    this.names.push(name);
    return this.names.length - 1;
  }

  /** Writes b[o..o+len) (at most the snaplen) as a frame on `iface` at time `tsNs` (ns after baseNs). */
  packet(iface: number, tsNs: number, b: Uint8Array, o: number, len: number, origLen = len): void {
    const cap = Math.min(len, this.snaplen);
    const at = this.reserve(cap);
    this.buf.set(b.subarray(o, o + cap), at);
    this.commit(iface, tsNs, len, origLen);
  }

  /** The buffer `reserve`'s offsets point into (it changes when a frame does not fit). */
  get frameBuffer(): Uint8Array { return this.buf; }

  /**
   * Makes room for a frame of up to `maxLen` bytes and returns the offset in
   * `frameBuffer` where its bytes go; `commit` then writes it (at most
   * `maxLen` bytes may be written there, of which the first `len` count).
   */
  reserve(maxLen: number): number {
    const head = this.format === "pcap" ? 16 : 28;
    const need = head + maxLen + 8;
    if (need > this.size) throw new RangeError(`capture writer: a frame of ${maxLen} bytes does not fit the ${this.size}-byte buffer`);
    this.room(need);
    this.at = this.used;
    return this.used + head;
  }

  /** Writes the frame whose first `len` bytes were put where `reserve` said, as `packet` would. */
  commit(iface: number, tsNs: number, len: number, origLen = len): void {
    const p = this.at;
    if (p < 0) throw new Error("capture writer: commit without reserve");
    const cap = Math.min(len, this.snaplen);
    if (this.format === "pcap") {
      const dv = this.dv;
      const frac = this.baseFrac + (tsNs % 1e9);
      dv.setUint32(p, this.baseSec + Math.floor(tsNs / 1e9) + (frac >= 1e9 ? 1 : 0), true);
      dv.setUint32(p + 4, frac >= 1e9 ? frac - 1e9 : frac, true);
      dv.setUint32(p + 8, cap, true);
      dv.setUint32(p + 12, origLen, true);
      this.used = p + 16 + cap;
    } else {
      if (iface >= this.names.length || iface < 0) throw new RangeError(`pcapng writer: interface ${iface} was not added`);
      const padded = (cap + 3) & ~3;
      const blen = 32 + padded;
      const dv = this.dv;
      let lo = this.baseLo + (tsNs % TWO32);
      const hi = this.baseHi + Math.floor(tsNs / TWO32) + (lo >= TWO32 ? 1 : 0);
      if (lo >= TWO32) lo -= TWO32;
      dv.setUint32(p, f.BT_EPB, true);
      dv.setUint32(p + 4, blen, true);
      dv.setUint32(p + 8, iface, true);
      dv.setUint32(p + 12, hi, true);
      dv.setUint32(p + 16, lo, true);
      dv.setUint32(p + 20, cap, true);
      dv.setUint32(p + 24, origLen, true);
      const b = this.buf;
      for (let k = p + 28 + cap; k < p + 28 + padded; k++) b[k] = 0;
      dv.setUint32(p + 28 + padded, blen, true);
      this.used = p + blen;
    }
    this.at = -1;
    this.frames++;
  }

  /** Hands what is buffered to the output; resolves once the output accepts more (call between batches). */
  async flush(): Promise<void> {
    this.spill();
    await this.ready();
  }

  /** Resolves once the output accepts more, without handing over a part-filled buffer (a file writer waits in `reserve` when its ring is full). */
  async ready(): Promise<void> {
    if (this.out) { if (this.waiting) await this.waiting; }
    else if (this.failed()) throw this.error!;
  }

  /** Writes what is buffered and ends the output (a file writer closes the file). */
  async close(): Promise<void> {
    this.spill();
    const out = this.out;
    if (out) {
      if (this.waiting) await this.waiting;
      await new Promise<void>((res, rej) => {
        out.once("error", rej);
        out.end(() => res());
      });
      return;
    }
    const thread = this.thread, ctl = this.ctl;
    if (!thread || !ctl || this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      const exited = new Promise<void>((res) => thread.once("exit", () => res()));
      thread.ref();
      this.port!.postMessage(null);
      await exited;
      this.takeBack();
      if (this.failed()) throw this.error!;
      if (Atomics.load(ctl, DONE) !== this.sent) throw new Error("capture writer: the writer thread ended before writing everything");
    } finally {
      this.port?.close();
      try { closeSync(fd); } catch (e) { if (!this.error) throw e; }
    }
  }
}
