/**
 * Streaming capture writers: classic pcap (nanosecond magic) and pcapng
 * (one section, one interface description block per interface with
 * if_name and if_tsresol 9 = nanoseconds). Link type raw IPv4 by default
 * (LINKTYPE_RAW: no link-layer header to invent, read by tshark/Wireshark
 * and tcpdump alike). Frames are copied into a fixed buffer that is handed
 * to the output stream when full; `flush()` resolves when the stream has
 * drained (backpressure: await it between batches).
 */
import { createWriteStream } from "node:fs";
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

export class CaptureWriter {
  readonly format: "pcap" | "pcapng";
  readonly linkType: number;
  readonly snaplen: number;
  private buf: Uint8Array;
  private dv: DataView;
  private used = 0;
  private readonly names: string[] = [];
  private waiting: Promise<void> | undefined;
  private readonly baseHi: number;
  private readonly baseLo: number;
  private readonly baseSec: number;
  private readonly baseFrac: number;
  /** Frames written. */
  frames = 0;
  /** Bytes handed to the stream. */
  bytes = 0;

  constructor(private readonly out: Writable, opts: CaptureWriterOptions = {}) {
    this.format = opts.format ?? "pcapng";
    this.linkType = opts.linkType ?? f.LINKTYPE_RAW;
    this.snaplen = opts.snaplen ?? f.MAX_CAPLEN;
    const size = Math.max(opts.bufferSize ?? 1 << 20, f.MAX_CAPLEN + 64);
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

  static toFile(path: string, opts: CaptureWriterOptions = {}): CaptureWriter {
    return new CaptureWriter(createWriteStream(path), opts);
  }

  private room(n: number): void {
    if (this.used + n > this.buf.length) this.spill();
  }

  /** Hands the buffered bytes to the stream. */
  private spill(): void {
    if (this.used === 0) return;
    const chunk = Buffer.from(this.buf.subarray(0, this.used)); // a copy: the buffer is reused
    this.bytes += this.used;
    this.used = 0;
    if (!this.out.write(chunk) && !this.waiting) {
      this.waiting = new Promise<void>((res) => this.out.once("drain", () => { this.waiting = undefined; res(); }));
    }
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
    if (this.format === "pcap") {
      this.room(16 + cap);
      const dv = this.dv, p = this.used;
      const frac = this.baseFrac + (tsNs % 1e9);
      dv.setUint32(p, this.baseSec + Math.floor(tsNs / 1e9) + (frac >= 1e9 ? 1 : 0), true);
      dv.setUint32(p + 4, frac >= 1e9 ? frac - 1e9 : frac, true);
      dv.setUint32(p + 8, cap, true);
      dv.setUint32(p + 12, origLen, true);
      this.buf.set(b.subarray(o, o + cap), p + 16);
      this.used = p + 16 + cap;
    } else {
      if (iface >= this.names.length) throw new RangeError(`pcapng writer: interface ${iface} was not added`);
      const padded = (cap + 3) & ~3;
      const blen = 32 + padded;
      this.room(blen);
      const dv = this.dv, p = this.used;
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
      this.buf.set(b.subarray(o, o + cap), p + 28);
      this.buf.fill(0, p + 28 + cap, p + 28 + padded);
      dv.setUint32(p + 28 + padded, blen, true);
      this.used = p + blen;
    }
    this.frames++;
  }

  /** Resolves once the stream accepts more (call between batches). */
  async flush(): Promise<void> {
    this.spill();
    if (this.waiting) await this.waiting;
  }

  /** Writes what is buffered and ends the stream. */
  async close(): Promise<void> {
    this.spill();
    if (this.waiting) await this.waiting;
    await new Promise<void>((res, rej) => {
      this.out.once("error", rej);
      this.out.end(() => res());
    });
  }
}
