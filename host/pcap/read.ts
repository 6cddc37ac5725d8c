/**
 * Streaming reader of capture files: classic pcap (either byte order,
 * microsecond or nanosecond magic) and pcapng (sections in either byte
 * order, interface description blocks with if_name / if_tsresol /
 * if_tsoffset, enhanced, simple and obsolete packet blocks; other blocks
 * skipped by their length). One fixed read buffer, refilled: bounded memory.
 *
 * Pull API, no allocation per frame: `next()` moves to the next frame and
 * the reader's fields describe it (`data`/`capLen` index `buf`).
 *
 * Timestamps become the virtual clock: `tsNs` is nanoseconds since the
 * first frame's timestamp (`firstTsNs` keeps that absolute time), computed
 * exactly in doubles (integer deltas from the previous frame of the same
 * interface), so captures spanning up to 104 days keep nanosecond accuracy.
 *
 * Damage (truncated file, bad magic, block length not a multiple of 4,
 * caplen above the snaplen or 256 KiB, trailing length mismatch, unknown
 * link type) throws a CaptureError naming the byte offset; every frame
 * before it has been returned.
 */
import { ByteSource, DEFAULT_BUFFER, READ_CHUNK, type LinearBuffer } from "./source.js";
import { CaptureError } from "./errors.js";
import * as f from "./format.js";

/** One capture interface (classic pcap has exactly one). */
export interface CaptureInterface {
  /** Index over the whole file (sections in order). */
  index: number;
  /** pcapng section (0-based) and interface id within it. */
  section: number;
  id: number;
  /** if_name, when the capture names it. */
  name?: string;
  linkType: number;
  /** 0 = unlimited. */
  snaplen: number;
  /** File offset of its description (IDB or pcap header). */
  offset: number;
  /** Timestamp units per second. */
  unitsPerSec: bigint;
  /** if_tsoffset in ns. */
  offsetNs: bigint;
  /** Nanoseconds per unit when an integer (decimal resolutions down to 1 ns), else 0 (exact slow path). */
  nsPerUnit: number;
  anchored: boolean;
  aHi: number;
  aLo: number;
  aNs: number;
}

export interface ReaderOptions {
  /** Read buffer size in bytes (default 4 MiB; at least 512 KiB). */
  bufferSize?: number;
  /** Bytes asked of one read (default READ_CHUNK, 128 KiB). */
  readChunk?: number;
  /** Puts the read buffer (of the size given) in a WASM core's linear memory (PcapSource's fast path). */
  linear?: (size: number) => LinearBuffer;
}

const TWO32 = 4294967296;

function pad4(n: number): number { return (n + 3) & ~3; }

export class CaptureReader {
  readonly src: ByteSource;
  readonly format: "pcap" | "pcapng";
  readonly interfaces: CaptureInterface[] = [];
  /** Absolute time of the first frame, ns since the epoch (undefined before it). */
  firstTsNs: bigint | undefined;

  // ---- the current frame ----
  /** 1-based number of the current frame (frames returned so far). */
  frame = 0;
  /** File offset of the current frame's record (block). */
  recordOffset = 0;
  /** Offset in `buf` of the captured bytes. */
  data = 0;
  capLen = 0;
  /** Length on the wire. */
  origLen = 0;
  iface!: CaptureInterface;
  tsNs = 0;
  /** Direction, f.DIR_* (pcapng epb_flags; link layers refine it). */
  dir = f.DIR_UNKNOWN;
  /** next() returned false because the buffer is full of pinned bytes: unpin and call again. */
  blocked = false;
  /** Blocks skipped (pcapng blocks nodeplane does not read). */
  skippedBlocks = 0;

  // pcap
  private le = true;
  private fracMult = 1000;
  private sec0 = 0;
  private frac0 = 0;
  // pcapng
  private section = -1;
  private secIfs: CaptureInterface[] = [];

  private constructor(readonly file: string, opts: ReaderOptions) {
    const size = Math.max(512 << 10, opts.bufferSize ?? DEFAULT_BUFFER);
    this.src = new ByteSource(file, size, Math.max(64 << 10, opts.readChunk ?? READ_CHUNK), opts.linear?.(size));
    const s = this.src;
    if (s.ensure(4) !== 1) this.fail(0, 0, "", `not a pcap or pcapng file: ${s.end} bytes, too short for a file header`);
    const m = s.dv.getUint32(0, false);
    const ml = s.dv.getUint32(0, true);
    if (m === f.BT_SHB) {
      this.format = "pcapng";
      if (!this.readShb()) this.fail(0, 0, "", "section header block larger than the read buffer");
    } else if (m === f.PCAP_MAGIC_US || ml === f.PCAP_MAGIC_US || m === f.PCAP_MAGIC_NS || ml === f.PCAP_MAGIC_NS) {
      this.format = "pcap";
      this.le = ml === f.PCAP_MAGIC_US || ml === f.PCAP_MAGIC_NS;
      this.fracMult = (m === f.PCAP_MAGIC_NS || ml === f.PCAP_MAGIC_NS) ? 1 : 1000;
      this.readPcapHeader();
    } else {
      this.fail(0, 0, hex(m), "not a pcap or pcapng file (unknown magic number)");
    }
  }

  static open(file: string, opts: ReaderOptions = {}): CaptureReader {
    return new CaptureReader(file, opts);
  }

  /** The current section is little-endian (pcapng; classic pcap: the file). */
  get littleEndian(): boolean { return this.le; }

  /** Classic pcap: the first frame's seconds and fraction (ns), the fraction's ns per unit (the clock tsNs counts from). */
  get pcapClock(): { sec0: number; frac0: number; fracMult: number } { return { sec0: this.sec0, frac0: this.frac0, fracMult: this.fracMult }; }

  /** The interfaces of the current pcapng section, by interface id. */
  get sectionInterfaces(): readonly CaptureInterface[] { return this.secIfs; }

  /** The read buffer (frame bytes are at data .. data + capLen). */
  get buf(): Uint8Array { return this.src.buf; }

  close(): void { this.src.close(); }

  /** Keeps bytes from buffer offset `at` on across refills (-1: none). */
  pinAt(at: number): void { this.src.pin = at; }

  private fail(offset: number, frame: number, token: string, problem: string): never {
    throw new CaptureError(this.file, offset, frame, token, problem);
  }

  private truncated(rec: number, need: number, what: string): never {
    const have = this.src.end - this.src.pos;
    this.fail(rec, what === "file header" || what.startsWith("section") ? 0 : this.frame + 1, "",
      `file truncated: the ${what} needs ${need} bytes but the file ends after ${have}`);
  }

  /**
   * Moves to the next frame. Returns false at the end of the file, or with
   * `blocked` set when pinned bytes fill the buffer.
   */
  next(): boolean {
    this.blocked = false;
    return this.format === "pcap" ? this.nextPcap() : this.nextPcapng();
  }

  // ---------------------------------------------------------------------------
  // classic pcap

  private readPcapHeader(): void {
    const s = this.src;
    if (s.ensure(f.PCAP_HEADER) !== 1) this.truncated(0, f.PCAP_HEADER, "file header");
    const dv = s.dv;
    const major = dv.getUint16(4, this.le);
    if (major !== 2) this.fail(4, 0, String(major), "unsupported pcap version (expected 2.4)");
    const snaplen = dv.getUint32(16, this.le);
    const network = dv.getUint32(20, this.le);
    const linkType = network & 0xffff;
    if (network & 0x04000000) this.fail(20, 0, hex(network), "frames carry an FCS (link type FCS bits set): not supported");
    this.checkLinkType(linkType, 20, 0);
    this.interfaces.push(this.newIface(0, 0, undefined, linkType, snaplen, 0, this.fracMult === 1 ? 1_000_000_000n : 1_000_000n, 0n));
    this.iface = this.interfaces[0]!;
    s.pos = f.PCAP_HEADER;
  }

  private nextPcap(): boolean {
    const s = this.src;
    let st = s.ensure(f.PCAP_RECORD);
    if (st !== 1) {
      if (st < 0) { this.blocked = true; return false; }
      if (s.end === s.pos) return false;
      this.truncated(s.offset, f.PCAP_RECORD, "record header");
    }
    const le = this.le;
    const rec = s.offset;
    let o = s.pos;
    const dv = s.dv;
    const incl = dv.getUint32(o + 8, le);
    if (incl > f.MAX_CAPLEN) this.fail(rec + 8, this.frame + 1, String(incl), `captured length exceeds ${f.MAX_CAPLEN} bytes`);
    const snap = this.iface.snaplen;
    if (snap !== 0 && incl > snap) this.fail(rec + 8, this.frame + 1, String(incl), `captured length exceeds the file's snaplen ${snap}`);
    st = s.ensure(f.PCAP_RECORD + incl);
    if (st !== 1) {
      if (st < 0) { this.blocked = true; return false; }
      this.truncated(rec, f.PCAP_RECORD + incl, "record");
    }
    o = s.pos;
    const sec = dv.getUint32(o, le);
    const frac = dv.getUint32(o + 4, le) * this.fracMult;
    if (this.firstTsNs === undefined) {
      this.firstTsNs = BigInt(sec) * 1_000_000_000n + BigInt(frac);
      this.sec0 = sec;
      this.frac0 = frac;
    }
    this.tsNs = (sec - this.sec0) * 1e9 + (frac - this.frac0);
    this.capLen = incl;
    this.origLen = dv.getUint32(o + 12, le);
    this.data = o + f.PCAP_RECORD;
    this.recordOffset = rec;
    this.dir = f.DIR_UNKNOWN;
    s.pos = o + f.PCAP_RECORD + incl;
    this.frame++;
    return true;
  }

  // ---------------------------------------------------------------------------
  // pcapng

  /** Reads a section header block; false (nothing consumed) when pinned bytes leave no room for it. */
  private readShb(): boolean {
    const s = this.src;
    const rec = s.offset;
    let st = s.ensure(12);
    if (st < 0) return false;
    if (st === 0) this.truncated(rec, 12, "section header block");
    let o = s.pos;
    const bom = s.dv.getUint32(o + 8, true);
    let le: boolean;
    if (bom === f.BYTE_ORDER_MAGIC) le = true;
    else if (bom === 0x4d3c2b1a) le = false;
    else this.fail(rec + 8, 0, hex(bom), "bad pcapng byte-order magic in the section header block");
    const len = s.dv.getUint32(o + 4, le);
    if (len % 4 !== 0 || len < 28) this.fail(rec + 4, 0, String(len), "section header block length must be a multiple of 4 and at least 28");
    if (len > s.buf.length >> 1) this.fail(rec + 4, 0, String(len), "section header block larger than nodeplane reads (half the read buffer)");
    st = s.ensure(len);
    if (st < 0) return false;
    if (st === 0) this.truncated(rec, len, "section header block");
    o = s.pos;
    const dv = s.dv;
    const major = dv.getUint16(o + 12, le);
    if (major !== 1) this.fail(rec + 12, 0, String(major), "unsupported pcapng major version (expected 1)");
    if (dv.getUint32(o + len - 4, le) !== len) this.fail(rec + len - 4, 0, String(dv.getUint32(o + len - 4, le)), `trailing block length does not match the leading ${len}`);
    this.le = le;
    this.section++;
    this.secIfs = [];
    s.pos = o + len;
    return true;
  }

  private readIdb(o: number, len: number, rec: number): void {
    const dv = this.src.dv;
    const le = this.le;
    if (len < 20) this.fail(rec + 4, this.frame + 1, String(len), "interface description block shorter than 20 bytes");
    const linkType = dv.getUint16(o + 8, le);
    const snaplen = dv.getUint32(o + 12, le);
    let name: string | undefined;
    let units = 1_000_000n;
    let offNs = 0n;
    let resolOk = true;
    let p = o + 16;
    const end = o + len - 4;
    while (p + 4 <= end) {
      const code = dv.getUint16(p, le);
      const olen = dv.getUint16(p + 2, le);
      if (code === f.OPT_ENDOFOPT) break;
      if (p + 4 + olen > end) this.fail(rec + (p - o), this.frame + 1, String(olen), `interface option ${code} overruns its block`);
      if (code === f.IF_NAME) name = new TextDecoder().decode(this.src.buf.subarray(p + 4, p + 4 + olen)).replace(/\0+$/, "");
      else if (code === f.IF_TSRESOL && olen >= 1) {
        const v = this.src.buf[p + 4]!;
        const e = v & 0x7f;
        if (v & 0x80) { if (e > 62) resolOk = false; units = 1n << BigInt(e); }
        else { if (e > 18) resolOk = false; units = 10n ** BigInt(e); }
        if (!resolOk) this.fail(rec + (p - o) + 4, this.frame + 1, hex(v), "if_tsresol beyond what nodeplane reads (10^-18 or 2^-62 s)");
      } else if (code === 14 && olen >= 8) { // if_tsoffset: seconds
        const hi = dv.getInt32(p + 4 + (le ? 4 : 0), le);
        const lo = dv.getUint32(p + 4 + (le ? 0 : 4), le);
        offNs = (BigInt(hi) * 4294967296n + BigInt(lo)) * 1_000_000_000n;
      }
      p += 4 + pad4(olen);
    }
    this.checkLinkType(linkType, rec + 8, this.frame + 1);
    const ifc = this.newIface(this.section, this.secIfs.length, name, linkType, snaplen, rec, units, offNs);
    this.secIfs.push(ifc);
    this.interfaces.push(ifc);
  }

  private newIface(section: number, id: number, name: string | undefined, linkType: number, snaplen: number, offset: number, units: bigint, offsetNs: bigint): CaptureInterface {
    const nsPerUnit = 1_000_000_000n % units === 0n ? Number(1_000_000_000n / units) : 0;
    return { index: this.interfaces.length, section, id, name, linkType, snaplen, offset, unitsPerSec: units, offsetNs, nsPerUnit, anchored: false, aHi: 0, aLo: 0, aNs: 0 };
  }

  private checkLinkType(lt: number, at: number, frame: number): void {
    if (!f.SUPPORTED_LINKTYPES.has(lt)) {
      this.fail(at, frame, String(lt), "unsupported link type (nodeplane reads Ethernet 1, raw IP 101, Linux cooked SLL 113, IPv4 228, SLL2 276)");
    }
  }

  /** Timestamp (hi, lo units of `ifc`) -> ns since the first frame. */
  private stamp(ifc: CaptureInterface, hi: number, lo: number): number {
    if (ifc.anchored) {
      const ns = ifc.aNs + ((hi - ifc.aHi) * TWO32 + (lo - ifc.aLo)) * ifc.nsPerUnit;
      ifc.aHi = hi; ifc.aLo = lo; ifc.aNs = ns;
      return ns;
    }
    const abs = ((BigInt(hi) << 32n) | BigInt(lo)) * 1_000_000_000n / ifc.unitsPerSec + ifc.offsetNs;
    if (this.firstTsNs === undefined) this.firstTsNs = abs;
    const ns = Number(abs - this.firstTsNs);
    if (ifc.nsPerUnit) { ifc.anchored = true; ifc.aHi = hi; ifc.aLo = lo; ifc.aNs = ns; }
    return ns;
  }

  private ifaceOf(id: number, rec: number, at: number): CaptureInterface {
    const ifc = this.secIfs[id];
    if (ifc === undefined) this.fail(rec + at, this.frame + 1, String(id), `packet block names interface ${id} but the section has ${this.secIfs.length} interface description block(s)`);
    return ifc;
  }

  private nextPcapng(): boolean {
    const s = this.src;
    for (;;) {
      let st = s.ensure(8);
      if (st !== 1) {
        if (st < 0) { this.blocked = true; return false; }
        if (s.end === s.pos) return false;
        this.truncated(s.offset, 8, "block header");
      }
      const rec = s.offset;
      let o = s.pos;
      const type = s.dv.getUint32(o, this.le);
      if (type === f.BT_SHB) {
        if (!this.readShb()) { this.blocked = true; return false; }
        continue;
      }
      const len = s.dv.getUint32(o + 4, this.le);
      if (len % 4 !== 0 || len < 12) this.fail(rec + 4, this.frame + 1, String(len), "block length must be a multiple of 4 and at least 12");
      const isPacket = type === f.BT_EPB || type === f.BT_SPB || type === f.BT_OPB;
      if (!isPacket && type !== f.BT_IDB && len > s.buf.length >> 1) {
        // a large block nodeplane does not read: seek past it, then check its trailer
        if (!s.skip(len - 4)) { this.blocked = true; return false; }
        if (s.ensure(4) !== 1) this.truncated(rec, len, "block");
        const t = s.dv.getUint32(s.pos, this.le);
        if (t !== len) this.fail(rec + len - 4, this.frame + 1, String(t), `trailing block length does not match the leading ${len}`);
        s.pos += 4;
        this.skippedBlocks++;
        continue;
      }
      if (len > f.MAX_CAPLEN + 65536) this.fail(rec + 4, this.frame + 1, String(len), `block length exceeds ${f.MAX_CAPLEN + 65536} bytes`);
      st = s.ensure(len);
      if (st !== 1) {
        if (st < 0) { this.blocked = true; return false; }
        this.truncated(rec, len, "block");
      }
      o = s.pos;
      const dv = s.dv;
      const le = this.le;
      const trail = dv.getUint32(o + len - 4, le);
      if (trail !== len) this.fail(rec + len - 4, this.frame + 1, String(trail), `trailing block length does not match the leading ${len}`);
      if (type === f.BT_EPB || type === f.BT_OPB) {
        const opb = type === f.BT_OPB;
        if (len < 32) this.fail(rec + 4, this.frame + 1, String(len), "packet block shorter than 32 bytes");
        const ifc = this.ifaceOf(opb ? dv.getUint16(o + 8, le) : dv.getUint32(o + 8, le), rec, 8);
        const cap = dv.getUint32(o + 20, le);
        if (cap > f.MAX_CAPLEN) this.fail(rec + 20, this.frame + 1, String(cap), `captured length exceeds ${f.MAX_CAPLEN} bytes`);
        if (ifc.snaplen !== 0 && cap > ifc.snaplen) this.fail(rec + 20, this.frame + 1, String(cap), `captured length exceeds the interface's snaplen ${ifc.snaplen}`);
        if (28 + pad4(cap) + 4 > len) this.fail(rec + 20, this.frame + 1, String(cap), `captured length overruns the block (block length ${len})`);
        this.tsNs = this.stamp(ifc, dv.getUint32(o + 12, le), dv.getUint32(o + 16, le));
        this.iface = ifc;
        this.capLen = cap;
        this.origLen = dv.getUint32(o + 24, le);
        this.data = o + 28;
        this.dir = f.DIR_UNKNOWN;
        // options: epb_flags (pack_flags in the OPB) carry the direction in bits 0-1
        let p = o + 28 + pad4(cap);
        const end = o + len - 4;
        while (p + 4 <= end) {
          const code = dv.getUint16(p, le);
          const olen = dv.getUint16(p + 2, le);
          if (code === f.OPT_ENDOFOPT) break;
          if (p + 4 + olen > end) this.fail(rec + (p - o), this.frame + 1, String(olen), `packet option ${code} overruns its block`);
          if (code === f.EPB_FLAGS && olen === 4) {
            const d = dv.getUint32(p + 4, le) & 3;
            this.dir = d === 1 ? f.DIR_IN : d === 2 ? f.DIR_OUT : f.DIR_UNKNOWN;
          }
          p += 4 + pad4(olen);
        }
      } else if (type === f.BT_SPB) {
        if (len < 16) this.fail(rec + 4, this.frame + 1, String(len), "simple packet block shorter than 16 bytes");
        const ifc = this.ifaceOf(0, rec, 0);
        const orig = dv.getUint32(o + 8, le);
        let cap = Math.min(orig, len - 16);
        if (ifc.snaplen !== 0 && cap > ifc.snaplen) cap = ifc.snaplen;
        if (cap > f.MAX_CAPLEN) this.fail(rec + 8, this.frame + 1, String(cap), `captured length exceeds ${f.MAX_CAPLEN} bytes`);
        // a simple packet block has no timestamp: the previous frame's time
        this.iface = ifc;
        this.capLen = cap;
        this.origLen = orig;
        this.data = o + 12;
        this.dir = f.DIR_UNKNOWN;
      } else {
        if (type === f.BT_IDB) this.readIdb(o, len, rec);
        else this.skippedBlocks++;
        s.pos = o + len;
        continue;
      }
      this.recordOffset = rec;
      s.pos = o + len;
      this.frame++;
      return true;
    }
  }
}

export function hex(v: number): string { return "0x" + (v >>> 0).toString(16).padStart(8, "0"); }
