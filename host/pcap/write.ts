/**
 * Streaming capture writers: classic pcap (nanosecond magic) and pcapng
 * (one section, one interface description block per interface with
 * if_name and if_tsresol 9 = nanoseconds). Link type raw IPv4 by default
 * (LINKTYPE_RAW: no link-layer header to invent, read by tshark/Wireshark
 * and tcpdump alike). Frames are copied into a fixed buffer that is handed
 * to the output when full; `flush()` resolves when the output accepts more
 * (backpressure: await it between batches).
 *
 * A frame's bytes can also be built in place (`reserve`, write them at the
 * offset it returns in `frameBuffer`, then `commit`), saving a copy. A
 * writer made by `toFile` writes the full buffers itself, at their offsets
 * in the file, with as many writes in flight as the output allows (up to
 * 32 MiB), so filling the next buffer overlaps writing the last ones without
 * the caller returning to the event loop; written buffers are reused.
 */
import { openSync, write as fsWrite, close as fsClose } from "node:fs";
import type { Writable } from "node:stream";
import * as f from "./format.js";

export interface CaptureWriterOptions {
  format?: "pcap" | "pcapng";
  /** Link type of every interface (default LINKTYPE_RAW 101). */
  linkType?: number;
  /** Snapshot length written in the headers (default 262144). */
  snaplen?: number;
  /** Absolute time (ns since the epoch) of tsNs 0 (default 0: 1970). */
  baseNs?: bigint;
  /** Buffer size in bytes (default 1 MiB). */
  bufferSize?: number;
}

const TWO32 = 4294967296;
/** Bytes a file writer lets be in flight before `flush()` / `ready()` wait. */
const FILE_HIGH_WATER = 32 << 20;

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
  /** Output of a `toFile` writer: the file, the offset of the next buffer, what is in flight, buffers written. */
  private fd = -1;
  private pos = 0;
  private inFlight = 0;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly spare: ArrayBuffer[] = [];
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
    if ("fd" in out && typeof out.fd === "number" && !("write" in out)) this.fd = out.fd;
    else this.out = out as Writable;
    this.format = opts.format ?? "pcapng";
    this.linkType = opts.linkType ?? f.LINKTYPE_RAW;
    this.snaplen = opts.snaplen ?? f.MAX_CAPLEN;
    const size = Math.max(opts.bufferSize ?? 1 << 20, f.MAX_CAPLEN + 64);
    this.size = size;
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer);
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
    const n = this.used, full = this.buf;
    this.bytes += n;
    this.used = 0;
    // a stream may keep the chunk it is given: a new buffer (the full one is not copied); a file's written buffers come back
    const next = this.out ? undefined : this.spare.pop();
    this.buf = new Uint8Array(next ?? new ArrayBuffer(this.size));
    this.dv = new DataView(this.buf.buffer);
    if (this.out) {
      if (!this.out.write(Buffer.from(full.buffer, full.byteOffset, n)) && !this.waiting) {
        const out = this.out;
        this.waiting = new Promise<void>((res) => out.once("drain", () => { this.waiting = undefined; res(); }));
      }
    } else {
      this.inFlight += n;
      this.fileWrite(full, 0, n, this.pos);
      this.pos += n;
    }
  }

  /** Writes b[o..o+n) at file offset `pos` on the thread pool; the buffer (b[0..o+n) in flight) is reused once all of it is written. */
  private fileWrite(b: Uint8Array, o: number, n: number, pos: number): void {
    fsWrite(this.fd, b, o, n, pos, (err, written) => {
      if (!err && written < n && written > 0) { this.fileWrite(b, o + written, n - written, pos + written); return; } // a short write: the rest
      if (err || written <= 0) this.error ??= err ?? new Error(`capture writer: wrote ${written} of ${n} bytes`);
      this.inFlight -= o + n;
      if (!err) this.spare.push(b.buffer as ArrayBuffer);
      if (this.wake) { const w = this.wake; this.wake = undefined; w(); }
    });
  }

  /** Waits until at most `limit` bytes are in flight to the file (rejects with a write's error). */
  private async settle(limit: number): Promise<void> {
    while (this.inFlight > limit && !this.error) await new Promise<void>((res) => { this.wake = res; });
    if (this.error) throw this.error;
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

  /** Resolves once the output accepts more, without handing over a part-filled buffer. */
  async ready(): Promise<void> {
    if (this.out) { if (this.waiting) await this.waiting; }
    else if (this.inFlight > FILE_HIGH_WATER || this.error) await this.settle(FILE_HIGH_WATER);
  }

  /** Writes what is buffered and ends the output. */
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
    if (this.fd < 0) return;
    const fd = this.fd;
    try {
      await this.settle(0);
    } finally {
      this.fd = -1;
      await new Promise<void>((res, rej) => fsClose(fd, (e) => (e ? rej(e) : res())));
    }
  }
}
