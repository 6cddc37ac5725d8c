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
 * FrameList collects frames where the packets are processed (the main
 * thread, or a worker, which sends its list back); EgressWriter writes them,
 * merged by packet index, so the file is the same whatever the workers.
 */
import * as abi from "../core/abi.js";
import { emitPacket, synthesizePacket } from "../packet/emit.js";
import { CaptureWriter } from "../pcap/write.js";

/** Where a packet's captured IPv4 bytes are. */
export interface OrigBytes { bytes: Uint8Array; offset: number; length: number }

/** Frames built for one stretch of packets: bytes back to back, and per frame [index, slot, tsNs, offset, length]. */
export class FrameList {
  bytes = new Uint8Array(1 << 20);
  used = 0;
  meta: number[] = [];

  private room(n: number): void {
    if (this.used + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.used + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.bytes.subarray(0, this.used));
    this.bytes = b;
  }

  /** Adds what descriptor `p` (input index `index`) sent out: itself if forwarded, and its forwarded replies. */
  add(dv: DataView, p: number, replyBase: number, index: number, orig?: OrigBytes): void {
    const ts = Number(dv.getBigUint64(p + abi.PKT_TIME, true));
    if (dv.getUint8(p + abi.PKT_VERDICT) === abi.VERDICT_FORWARD) {
      const slot = dv.getUint16(p + abi.PKT_OIF, true);
      const need = orig ? orig.length : Math.max(20, dv.getUint16(p + abi.PKT_LEN, true));
      this.room(need);
      const len = orig ? emitPacket(orig.bytes, orig.offset, orig.length, dv, p, this.bytes, this.used) : synthesizePacket(dv, p, this.bytes, this.used);
      this.meta.push(index, slot, ts, this.used, len);
      this.used += len;
    }
    const nr = dv.getUint16(p + abi.PKT_REPLY_COUNT, true);
    if (!nr) return;
    const first = dv.getUint32(p + abi.PKT_REPLY_FIRST, true);
    for (let j = 0; j < nr; j++) {
      const q = replyBase + (first + j) * abi.PKT_SIZE;
      if (dv.getUint8(q + abi.PKT_VERDICT) !== abi.VERDICT_FORWARD) continue;
      this.room(Math.max(20, dv.getUint16(q + abi.PKT_LEN, true)) + 64);
      const len = synthesizePacket(dv, q, this.bytes, this.used, orig);
      this.meta.push(index, dv.getUint16(q + abi.PKT_OIF, true), ts, this.used, len);
      this.used += len;
    }
  }

  /** The list as transferable parts (a copy), and empties it. */
  take(): { bytes: ArrayBuffer; meta: Float64Array } {
    const bytes = this.bytes.slice(0, this.used).buffer as ArrayBuffer;
    const meta = Float64Array.from(this.meta);
    this.used = 0;
    this.meta = [];
    return { bytes, meta };
  }
}

export class EgressWriter {
  private readonly w: CaptureWriter;
  private readonly ids = new Map<number, number>();

  constructor(readonly path: string, private readonly devName: (slot: number) => string) {
    this.w = CaptureWriter.toFile(path, { format: "pcapng" });
  }

  get frames(): number { return this.w.frames; }

  private iface(slot: number): number {
    let id = this.ids.get(slot);
    if (id === undefined) { id = this.w.addInterface(this.devName(slot)); this.ids.set(slot, id); }
    return id;
  }

  /** Writes a FrameList's frames (in its order). */
  writeList(bytes: Uint8Array, meta: ArrayLike<number>): void {
    for (let i = 0; i < meta.length; i += 5) this.w.packet(this.iface(meta[i + 1]!), meta[i + 2]!, bytes, meta[i + 3]!, meta[i + 4]!);
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
      const l = lists[best]!;
      // every frame of this packet (its own and its replies) from that list
      while (pos[best]! < l.meta.length && l.meta[pos[best]!] === bi) {
        const i = pos[best]!;
        this.w.packet(this.iface(l.meta[i + 1]!), l.meta[i + 2]!, l.bytes, l.meta[i + 3]!, l.meta[i + 4]!);
        pos[best] = i + 5;
      }
    }
  }

  private flushes = 0;
  /** Backpressure, between batches: waits for the stream every 16th call (the writes overlap the replay meanwhile). */
  async flush(): Promise<void> { if (++this.flushes % 16 === 0) await this.w.flush(); }
  async close(): Promise<void> { await this.w.close(); }
}
