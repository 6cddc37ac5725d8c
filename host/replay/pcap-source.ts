/**
 * A capture (pcap or pcapng) as a replay PacketSource: frames are decoded
 * from the reader's buffer straight into descriptors with the capture
 * module's pieces (host/pcap: CaptureReader, decodeLink, IngressResolver;
 * host/packet/wire.ts: parseIPv4, writeDescriptor), as replayCapture does
 * for one worker. Frames that are not replayed are counted by kind (ARP,
 * IPv6, outgoing copies, IPv4 fragments); damage ends the input with a
 * CaptureError naming the byte offset, after the frames before it.
 *
 * The frames of the last fill stay in the reader's buffer (pinned) until
 * the next fill, so egress.ts can rewrite their bytes as they leave.
 */
import { fstatSync, openSync, closeSync } from "node:fs";
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { InputError } from "../snapshot/errors.js";
import { CaptureReader } from "../pcap/read.js";
import { CaptureError } from "../pcap/errors.js";
import { decodeLink, kindName, LinkInfo, K_IPV4 } from "../pcap/link.js";
import { IngressResolver, type IngressMap } from "../pcap/ingress.js";
import * as f from "../pcap/format.js";
import { parseIPv4, writeDescriptor, WireFields, WIRE_OK, WIRE_FRAGMENT } from "../packet/wire.js";
import type { PacketSource, SourceProgress } from "./sources.js";

export class PcapSource implements PacketSource {
  readonly kind = "pcap" as const;
  private readonly w = new WireFields();
  private readonly link = new LinkInfo();
  private readonly ifaceSlots: number[] = [];
  private readonly skippedKinds = new Map<string, number>();
  private error?: InputError;
  private ended = false;
  /** Absolute file offsets of the IPv4 header of each descriptor of the last fill, and captured lengths. */
  private ipAbs = new Float64Array(1024);
  private ipLen = new Int32Array(1024);
  private readonly frameView: { bytes: Uint8Array; offset: number; length: number } = { bytes: new Uint8Array(0), offset: 0, length: 0 };
  readonly size: number;

  private constructor(readonly label: string, private readonly r: CaptureReader, private readonly ingress: IngressResolver, private readonly verify: boolean) {
    const fd = openSync(label, "r");
    this.size = fstatSync(fd).size;
    closeSync(fd);
  }

  static open(file: string, engine: Engine, opts: { ingress?: IngressMap; verifyChecksums?: boolean } = {}): PcapSource {
    const r = CaptureReader.open(file);
    return new PcapSource(file, r, new IngressResolver(engine.node, opts.ingress), opts.verifyChecksums ?? true);
  }

  private skip(kind: string): void { this.skippedKinds.set(kind, (this.skippedKinds.get(kind) ?? 0) + 1); }

  fill(dv: DataView, base: number, max: number): number {
    if (this.error) { const e = this.error; this.error = undefined; this.ended = true; throw e; }
    if (this.ended) return 0;
    const r = this.r, link = this.link, w = this.w;
    if (max > this.ipAbs.length) { this.ipAbs = new Float64Array(max); this.ipLen = new Int32Array(max); }
    r.pinAt(-1); // the last fill's frames are no longer needed
    const u8 = new Uint8Array(dv.buffer);
    let n = 0;
    try {
      while (n < max) {
        if (!r.next()) {
          if (r.blocked && n > 0) break; // the buffer is full of this fill's frames
          if (r.blocked) { r.pinAt(-1); continue; }
          this.ended = true;
          break;
        }
        decodeLink(r.buf, r.data, r.capLen, r.origLen, r.iface.linkType, link);
        if (link.kind !== K_IPV4) { this.skip(kindName(link.kind, link.ethertype)); continue; }
        if (r.dir === f.DIR_OUT || link.pktType === f.PACKET_OUTGOING || this.ingress.isNodeMac(link.srcMac)) { this.skip("outgoing"); continue; }
        const st = parseIPv4(r.buf, link.l3, link.l3Cap, link.l3Wire, w, this.verify);
        if (st !== WIRE_OK) {
          if (st === WIRE_FRAGMENT) { this.skip("IPv4 fragment"); continue; }
          throw new CaptureError(r.file, r.recordOffset + (link.l3 - r.data) + w.problemAt, r.frame, "", w.problem);
        }
        const ifc = r.iface;
        let islot = this.ifaceSlots[ifc.index];
        if (islot === undefined) islot = this.ifaceSlots[ifc.index] = this.ingress.interfaceSlot(ifc);
        const slot = this.ingress.resolve(islot, link, w.src);
        if (slot === 0) throw new CaptureError(r.file, r.recordOffset, r.frame, "", this.ingress.explain(ifc, link));
        const pt = link.pktType;
        const l2other = pt === f.PACKET_BROADCAST || pt === f.PACKET_MULTICAST || pt === f.PACKET_OTHERHOST ||
          (link.dstMac >= 0 && (Math.floor(link.dstMac / 1099511627776) & 1) === 1);
        let ts = r.tsNs;
        if (ts < 0) { ts = 0; this.clamped++; }
        writeDescriptor(w, u8, dv, base + n * abi.PKT_SIZE, slot, l2other ? abi.PF_L2_OTHER : 0, ts);
        if (n === 0) r.pinAt(r.data);
        this.ipAbs[n] = r.src.base + link.l3;
        this.ipLen[n] = link.l3Cap;
        n++;
      }
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      if (n === 0) { this.ended = true; throw e; }
      this.error = e; // the frames before it first
    }
    return n;
  }

  /** Frames stamped before the first frame (replayed at time 0). */
  clamped = 0;

  frame(k: number): { bytes: Uint8Array; offset: number; length: number } {
    const v = this.frameView;
    v.bytes = this.r.buf;
    v.offset = this.ipAbs[k]! - this.r.src.base;
    v.length = this.ipLen[k]!;
    return v;
  }

  progress(): SourceProgress { return { done: this.r.src.offset, total: this.size, unit: "bytes" }; }

  skipped(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, n] of this.skippedKinds) if (n > 0) out[k] = n;
    return out;
  }

  close(): void { this.r.close(); }
}
