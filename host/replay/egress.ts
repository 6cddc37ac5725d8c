/**
 * `replay --out DIR` writes DIR/egress.pcapng: every packet as it leaves the
 * node, translated (host/packet/emit.ts rewrites the captured bytes as the
 * descriptor says; without captured bytes, from JSONL or the generator, the
 * packet is synthesised from the descriptor), and every packet the node
 * itself sent (ICMP errors, resets, echo replies). One pcapng file with one
 * interface per egress device (if_name = the device, e.g. eth0 or a pod's
 * veth), declared in the order devices are first used: `tshark -r
 * egress.pcapng -Y 'frame.interface_name == "eth0"'` shows what left eth0.
 * Frames are in input order (a packet's own frame first, then the node's
 * replies it caused), timestamped with the packet's time; a fragmented
 * packet is written whole, once.
 *
 * With one thread, EgressWriter.add builds each frame in place in the
 * capture writer's buffer (one copy of the captured bytes, rewritten there).
 * With workers, each worker's FrameList collects its frames and is sent
 * back; EgressWriter writes the lists merged by packet index. Both build
 * frames with the same code (addFrames), so the file is the same whatever
 * the workers.
 */
import * as abi from "../core/abi.js";
import { emitPacket, synthesizePacket } from "../packet/emit.js";
import { CaptureWriter } from "../pcap/write.js";

/** Where a packet's captured IPv4 bytes are. */
export interface OrigBytes { bytes: Uint8Array; offset: number; length: number }

/** Where frames are built: a frame leaving by device `slot` gets room for up to `maxLen` bytes at the returned offset of `buffer`, then `commit`. */
interface FrameOut {
  reserve(slot: number, maxLen: number): number;
  readonly buffer: Uint8Array;
  commit(index: number, tsNs: number, len: number): void;
}

/** Builds in `out` what descriptor `p` (input index `index`) sent out: itself if forwarded, and its forwarded replies. */
function addFrames(out: FrameOut, dv: DataView, p: number, replyBase: number, index: number, orig: OrigBytes | undefined): void {
  const fwd = dv.getUint8(p + abi.PKT_VERDICT) === abi.VERDICT_FORWARD;
  const nr = dv.getUint16(p + abi.PKT_REPLY_COUNT, true);
  if (!fwd && !nr) return;
  // the time as a double, as Number(getBigUint64) rounds it (hi * 2^32 is exact; the sum is rounded once), without a BigInt
  const ts = dv.getUint32(p + abi.PKT_TIME + 4, true) * 4294967296 + dv.getUint32(p + abi.PKT_TIME, true);
  if (fwd) {
    // (TCPMSS's inserted option makes a captured packet 4 bytes longer)
    const at = out.reserve(dv.getUint16(p + abi.PKT_OIF, true), orig ? orig.length + 4 : Math.max(20, dv.getUint16(p + abi.PKT_LEN, true)));
    const len = orig ? emitPacket(orig.bytes, orig.offset, orig.length, dv, p, out.buffer, at) : synthesizePacket(dv, p, out.buffer, at);
    out.commit(index, ts, len);
  }
  if (!nr) return;
  const first = dv.getUint32(p + abi.PKT_REPLY_FIRST, true);
  for (let j = 0; j < nr; j++) {
    const q = replyBase + (first + j) * abi.PKT_SIZE;
    if (dv.getUint8(q + abi.PKT_VERDICT) !== abi.VERDICT_FORWARD) continue;
    const at = out.reserve(dv.getUint16(q + abi.PKT_OIF, true), Math.max(20, dv.getUint16(q + abi.PKT_LEN, true)) + 64);
    const len = synthesizePacket(dv, q, out.buffer, at, orig);
    out.commit(index, ts, len);
  }
}

/** Values per frame in FrameList.meta: [index, slot, tsNs, offset, length]. */
const META = 5;

/** Frames built for one stretch of packets (in a worker): bytes back to back, and per frame [index, slot, tsNs, offset, length]. */
export class FrameList implements FrameOut {
  bytes: Uint8Array;
  used = 0;
  meta: Float64Array;
  /** Values used in `meta` (META per frame). */
  metaUsed = 0;
  private at = 0;
  private slot = 0;

  constructor(bytes = 1 << 20, frames = 4096) {
    this.bytes = new Uint8Array(bytes);
    this.meta = new Float64Array(frames * META);
  }

  get buffer(): Uint8Array { return this.bytes; }

  reserve(slot: number, n: number): number {
    this.slot = slot;
    if (this.used + n > this.bytes.length) {
      let size = this.bytes.length * 2;
      while (size < this.used + n) size *= 2;
      const b = new Uint8Array(size);
      b.set(this.bytes.subarray(0, this.used));
      this.bytes = b;
    }
    this.at = this.used;
    return this.at;
  }

  commit(index: number, tsNs: number, len: number): void {
    if (this.metaUsed + META > this.meta.length) {
      const m = new Float64Array(this.meta.length * 2);
      m.set(this.meta);
      this.meta = m;
    }
    const m = this.meta, i = this.metaUsed;
    m[i] = index; m[i + 1] = this.slot; m[i + 2] = tsNs; m[i + 3] = this.at; m[i + 4] = len;
    this.metaUsed = i + META;
    this.used = this.at + len;
  }

  /** Adds what descriptor `p` (input index `index`) sent out: itself if forwarded, and its forwarded replies. */
  add(dv: DataView, p: number, replyBase: number, index: number, orig?: OrigBytes): void {
    addFrames(this, dv, p, replyBase, index, orig);
  }

  /** The list as transferable parts (a copy), and empties it. */
  take(): { bytes: ArrayBuffer; meta: Float64Array } {
    const bytes = this.bytes.slice(0, this.used).buffer as ArrayBuffer;
    const meta = this.meta.slice(0, this.metaUsed);
    this.used = 0;
    this.metaUsed = 0;
    return { bytes, meta };
  }
}

/**
 * Writes egress.pcapng: frames built in place by `add` (one thread), or
 * FrameLists from workers (`writeList`, `writeMerged`).
 */
export class EgressWriter implements FrameOut {
  private readonly w: CaptureWriter;
  /** Interface id per device slot (-1: not declared yet). */
  private readonly ids = new Int32Array(65536).fill(-1);

  constructor(readonly path: string, private readonly devName: (slot: number) => string) {
    // the smallest buffers (a frame of up to 256 KiB fits): the writer's few buffers stay in the caches (measured faster than 1 MiB)
    this.w = CaptureWriter.toFile(path, { format: "pcapng", bufferSize: 256 << 10 });
  }

  get frames(): number { return this.w.frames; }

  private iface(slot: number): number {
    const id = this.ids[slot]!;
    return id >= 0 ? id : (this.ids[slot] = this.w.addInterface(this.devName(slot)));
  }

  /** FrameOut, for `add`: the frame is built in the capture writer's buffer (its interface declared first). */
  private id = -1;
  get buffer(): Uint8Array { return this.w.frameBuffer; }
  reserve(slot: number, n: number): number { this.id = this.iface(slot); return this.w.reserve(n); }
  commit(_index: number, tsNs: number, len: number): void { this.w.commit(this.id, tsNs, len); }

  /** Writes what descriptor `p` sent out (as FrameList.add, straight into the file's buffer). */
  add(dv: DataView, p: number, replyBase: number, index: number, orig?: OrigBytes): void {
    addFrames(this, dv, p, replyBase, index, orig);
  }

  /** Writes a FrameList's frames (in its order); `meta` holds `metaUsed` values (default: all). */
  writeList(bytes: Uint8Array, meta: ArrayLike<number>, metaUsed = meta.length): void {
    for (let i = 0; i < metaUsed; i += META) this.w.packet(this.iface(meta[i + 1]!), meta[i + 2]!, bytes, meta[i + 3]!, meta[i + 4]!);
  }

  /** Writes several workers' lists merged by packet index (each list is in index order). */
  writeMerged(lists: { bytes: Uint8Array; meta: Float64Array }[]): void {
    const pos = lists.map(() => 0);
    for (;;) {
      let best = -1, bi = Infinity;
      for (let w = 0; w < lists.length; w++) {
        const m = lists[w]!.meta;
        if (pos[w]! < m.length && m[pos[w]!]! < bi) { bi = m[pos[w]!]!; best = w; }
      }
      if (best < 0) return;
      const l = lists[best]!, m = l.meta;
      // every frame of this packet (its own and its replies) from that list
      let i = pos[best]!;
      while (i < m.length && m[i] === bi) {
        this.w.packet(this.iface(m[i + 1]!), m[i + 2]!, l.bytes, m[i + 3]!, m[i + 4]!);
        i += META;
      }
      pos[best] = i;
    }
  }

  /** Backpressure, between batches: waits while the file is more than its high-water mark behind (the writes overlap the replay meanwhile). */
  async flush(): Promise<void> { await this.w.ready(); }
  async close(): Promise<void> { await this.w.close(); }
}
