/**
 * The single-worker capture replay loop: frames are decoded straight from
 * the reader's buffer into the engine's batch of descriptors (no object per
 * packet), processed one batch per call into the core, and summed from the
 * descriptors into the same summary the JSONL replay builds (ReplayStats),
 * plus what a capture adds: frames not replayed, by kind.
 *
 * Damage in the capture (CaptureError) or a frame whose ingress cannot be
 * told ends reading: the frames before it are still processed, handed to
 * the sink and counted, and the error is returned in `stats.error` for the
 * caller to report after them (replayCapture itself does not throw it).
 */
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { DROP_NAMES } from "../packet/result.js";
import { tcpFlagsToLetters } from "../packet/input.js";
import { newStats, type ReplayStats } from "../replay/jsonl.js";
import { parseIPv4, writeDescriptor, WireFields, WIRE_OK, WIRE_FRAGMENT } from "../packet/wire.js";
import { InputError } from "../snapshot/errors.js";
import { CaptureReader, type CaptureInterface } from "./read.js";
import { CaptureError } from "./errors.js";
import { decodeLink, kindName, LinkInfo, K_IPV4 } from "./link.js";
import { IngressResolver, type IngressMap } from "./ingress.js";
import * as f from "./format.js";

/**
 * One captured frame, as the sink sees it. The object and the buffer are
 * reused: copy what you keep (`bytes`/`ipBytes` make subarrays, valid only
 * during the call).
 */
export class CapturedFrame {
  /** The reader's buffer; the frame is buf[start .. start + length). */
  buf!: Uint8Array;
  start = 0;
  /** Captured length (link layer included). */
  length = 0;
  /** Offset in buf of the IPv4 header, and captured bytes from there. */
  ipStart = 0;
  ipLength = 0;
  /** Length on the wire. */
  origLength = 0;
  /** Virtual time, ns since the capture's first frame. */
  tsNs = 0;
  /** File offset of the frame's record. */
  offset = 0;
  /** 1-based frame number in the file. */
  number = 0;
  /** Capture interface. */
  iface!: CaptureInterface;
  /** Ingress device slot it was replayed on (0 for frames not replayed): `engine.node.devBySlot[iif].name`. */
  iif = 0;
  get bytes(): Uint8Array { return this.buf.subarray(this.start, this.start + this.length); }
  get ipBytes(): Uint8Array { return this.buf.subarray(this.ipStart, this.ipStart + this.ipLength); }
}

/**
 * Receives every replayed packet, in capture order, right after the engine
 * processed it: `k` is the descriptor's index in `engine.batchBuffer` (read
 * the outcome with the PKT_* offsets of abi.ts from `engine.mem.dv` at
 * `engine.batchBuffer.ptr + k * PKT_SIZE`, or `engine.decodeRaw(k, index)`),
 * `index` the packet's 0-based number among replayed packets (the JSONL
 * result's `i`), `frame` the captured bytes (emit.ts turns them into the
 * packet as it leaves).
 */
export interface CaptureSink {
  packet(k: number, index: number, frame: CapturedFrame): void;
  /** Frames not replayed: `kind` is e.g. "ARP", "IPv6", "outgoing", "IPv4 fragment". */
  skipped?(frame: CapturedFrame, kind: string): void;
  /** Called after each batch; a returned promise is awaited (backpressure for writers). */
  flush?(): void | Promise<void>;
}

export interface CaptureReplayOptions {
  /** Mapping of capture interfaces / ifindexes / MACs / source subnets to node links. */
  ingress?: IngressMap;
  /** Check transport checksums (default true); false takes every checksum as correct (captures with checksum offload). */
  verifyChecksums?: boolean;
  /** Called after each batch with the frames read so far. */
  onProgress?: (frames: number, bytesRead: number) => void;
}

export interface CaptureStats extends ReplayStats {
  /** Frames read (replayed or not). */
  frames: number;
  /** Frames not replayed, by kind (ARP, IPv6, outgoing, IPv4 fragment, ...). */
  notReplayed: Record<string, number>;
  /** Replayed packets whose transport checksum could not be checked (cut by the snaplen): taken as correct. */
  csumUnverified: number;
  /** Frames stamped before the first frame (clamped to time 0). */
  timeBeforeStart: number;
  /** Absolute time of the first frame, ns since the epoch. */
  firstTimestampNs?: bigint;
  /** The capture's interfaces. */
  interfaces: { index: number; name?: string; linkType: number }[];
  /** What ended reading early (damage, an unmappable frame); everything before it was replayed and counted. */
  error?: InputError;
}

const VERDICT_NAMES = ["none", "forward", "local", "drop"];
const CT_NAMES: Record<number, string> = { 0: "ESTABLISHED", 1: "RELATED", 2: "NEW", 3: "ESTABLISHED", 4: "RELATED", 7: "UNTRACKED", 255: "INVALID" };
const NAT_NAMES: [number, string][] = [[abi.NAT_OP_DNAT, "DNAT"], [abi.NAT_OP_SNAT, "SNAT"], [abi.NAT_OP_ICMP_INNER, "ICMP_INNER"], [abi.NAT_OP_SETUP_DST, "BIND_DST"], [abi.NAT_OP_SETUP_SRC, "BIND_SRC"]];

/**
 * Replays a capture (a file name or an open reader, closed at the end)
 * through `engine`, with one worker. Returns the summary; see `error`.
 */
export async function replayCapture(engine: Engine, reader: CaptureReader | string, sink?: CaptureSink, opts: CaptureReplayOptions = {}): Promise<CaptureStats> {
  const t0 = performance.now();
  const stats: CaptureStats = { ...newStats(), frames: 0, notReplayed: {}, csumUnverified: 0, timeBeforeStart: 0, interfaces: [] };
  let r: CaptureReader;
  try {
    r = typeof reader === "string" ? CaptureReader.open(reader) : reader;
  } catch (e) {
    if (e instanceof InputError) { stats.error = e; return stats; }
    throw e;
  }
  const node = engine.node;
  const ingress = new IngressResolver(node, opts.ingress);
  const verify = opts.verifyChecksums ?? true;
  const { ptr, capacity } = engine.batchBuffer;
  const w = new WireFields();
  const link = new LinkInfo();
  const frame = new CapturedFrame();
  // per descriptor: where its frame is (for the sink, and for a tail carried over); mStart and mIp
  // are file offsets, as a refill may slide the pinned bytes within the buffer
  const mStart = new Float64Array(capacity), mLen = new Int32Array(capacity), mIp = new Float64Array(capacity), mIpLen = new Int32Array(capacity);
  const mOrig = new Int32Array(capacity), mIface = new Int32Array(capacity), mIif = new Int32Array(capacity);
  const mOff = new Float64Array(capacity), mNo = new Float64Array(capacity), mTs = new Float64Array(capacity);
  // numeric accumulators, turned into names at the end
  const verdicts = new Float64Array(4), drops = new Float64Array(abi.DROP_MAX + 1), byOif = new Float64Array(node.devBySlot.length + 1);
  const nat = new Float64Array(32), ct = new Float64Array(256);
  const replies = new Map<number, number>();
  const nf = engine.nfDecode();
  const withNf = nf !== undefined;
  const withCt = nf?.conntrack === true;
  let rules = 0;
  let packets = 0;
  const skipped: Map<string, number> = new Map();
  const ifaceSlots: number[] = [];
  let n = 0;

  const skip = (kind: string): void => {
    skipped.set(kind, (skipped.get(kind) ?? 0) + 1);
    if (sink?.skipped) {
      setFrame(r.data, r.capLen, link.l3, link.l3Cap, r.origLen, r.tsNs, r.recordOffset, r.frame, r.iface, 0);
      sink.skipped(frame, kind);
    }
  };
  function setFrame(start: number, len: number, ip: number, ipLen: number, orig: number, ts: number, off: number, no: number, ifc: CaptureInterface, iif: number): void {
    frame.buf = r.buf; frame.start = start; frame.length = len; frame.ipStart = ip; frame.ipLength = ipLen;
    frame.origLength = orig; frame.tsNs = ts; frame.offset = off; frame.number = no; frame.iface = ifc; frame.iif = iif;
  }

  const flush = async (final: boolean): Promise<void> => {
    if (n === 0) return;
    const done = engine.processRaw(n, final);
    const mem = engine.mem;
    const dv = mem.dv, u8 = mem.u8;
    const replyBase = engine.core.reply_ring_ptr();
    for (let k = 0; k < done; k++) {
      const p = ptr + (k << abi.PKT_SHIFT);
      const v = u8[p + abi.PKT_VERDICT]!;
      verdicts[v & 3]!++;
      if (v === abi.VERDICT_DROP) drops[dv.getUint16(p + abi.PKT_REASON, true)]!++;
      else if (v === abi.VERDICT_FORWARD) byOif[dv.getUint16(p + abi.PKT_OIF, true)]!++;
      const nr = dv.getUint16(p + abi.PKT_REPLY_COUNT, true);
      if (nr) {
        const first = dv.getUint32(p + abi.PKT_REPLY_FIRST, true);
        for (let j = 0; j < nr; j++) {
          const q = replyBase + ((first + j) << abi.PKT_SHIFT);
          const key = u8[q + abi.PKT_PROTO] === 6 ? 0x10000 | u8[q + abi.PKT_TCPFLAGS]! : (u8[q + abi.PKT_ICMP_TYPE]! << 8) | u8[q + abi.PKT_ICMP_CODE]!;
          replies.set(key, (replies.get(key) ?? 0) + 1);
        }
      }
      if (withNf) {
        nat[u8[p + abi.PKT_NAT_OPS]! & 31]!++;
        rules += dv.getUint32(p + abi.PKT_NF_RULES, true);
        if (withCt) ct[u8[p + abi.PKT_CT_INFO]!]!++;
      }
    }
    if (sink) {
      const base = r.src.base;
      for (let k = 0; k < done; k++) {
        setFrame(mStart[k]! - base, mLen[k]!, mIp[k]! - base, mIpLen[k]!, mOrig[k]!, mTs[k]!, mOff[k]!, mNo[k]!, r.interfaces[mIface[k]!]!, mIif[k]!);
        sink.packet(k, packets + k, frame);
      }
    }
    packets += done;
    if (done < n) {
      // several CPUs modelled: the last round waits for the next batch; carry it to the front
      u8.copyWithin(ptr, ptr + done * abi.PKT_SIZE, ptr + n * abi.PKT_SIZE);
      for (const a of [mStart, mLen, mIp, mIpLen, mOrig, mIface, mIif, mOff, mNo, mTs]) a.copyWithin(0, done, n);
    }
    n -= done;
    if (sink) r.pinAt(n > 0 ? mStart[0]! - r.src.base : -1);
    if (sink?.flush) await sink.flush();
    opts.onProgress?.(r.frame, r.src.offset);
  };

  try {
    let u8 = engine.mem.u8, dv = engine.mem.dv;
    for (;;) {
      if (!r.next()) {
        if (!r.blocked) break;
        const before = n;
        await flush(false);
        if (n === before) await flush(true);
        u8 = engine.mem.u8; dv = engine.mem.dv;
        continue;
      }
      decodeLink(r.buf, r.data, r.capLen, r.origLen, r.iface.linkType, link);
      if (link.kind !== K_IPV4) { skip(kindName(link.kind, link.ethertype)); continue; }
      if (r.dir === f.DIR_OUT || link.pktType === f.PACKET_OUTGOING || ingress.isNodeMac(link.srcMac)) { skip("outgoing"); continue; }
      const st = parseIPv4(r.buf, link.l3, link.l3Cap, link.l3Wire, w, verify);
      if (st !== WIRE_OK) {
        if (st === WIRE_FRAGMENT) { skip("IPv4 fragment"); continue; }
        throw new CaptureError(r.file, r.src.base + link.l3 + w.problemAt, r.frame, "", w.problem);
      }
      const ifc = r.iface;
      let islot = ifaceSlots[ifc.index];
      if (islot === undefined) islot = ifaceSlots[ifc.index] = ingress.interfaceSlot(ifc);
      const slot = ingress.resolve(islot, link, w.src);
      if (slot === 0) throw new CaptureError(r.file, r.recordOffset, r.frame, "", ingress.explain(ifc, link));
      const pt = link.pktType;
      const l2other = pt === f.PACKET_BROADCAST || pt === f.PACKET_MULTICAST || pt === f.PACKET_OTHERHOST ||
        (link.dstMac >= 0 && (Math.floor(link.dstMac / 1099511627776) & 1) === 1);
      let ts = r.tsNs;
      if (ts < 0) { ts = 0; stats.timeBeforeStart++; }
      if (w.csumUnverified) stats.csumUnverified++;
      writeDescriptor(w, u8, dv, ptr + (n << abi.PKT_SHIFT), slot, l2other ? abi.PF_L2_OTHER : 0, ts);
      if (sink) {
        if (n === 0) r.pinAt(r.data);
        const base = r.src.base;
        mStart[n] = base + r.data; mLen[n] = r.capLen; mIp[n] = base + link.l3; mIpLen[n] = link.l3Cap; mOrig[n] = r.origLen;
        mIface[n] = ifc.index; mIif[n] = slot; mOff[n] = r.recordOffset; mNo[n] = r.frame; mTs[n] = ts;
      }
      if (++n === capacity) {
        await flush(false);
        u8 = engine.mem.u8; dv = engine.mem.dv;
      }
    }
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    stats.error = e;
  }
  await flush(true);
  r.close();

  stats.frames = r.frame;
  stats.packets = packets;
  for (let v = 0; v < 4; v++) if (verdicts[v]) stats.verdicts[VERDICT_NAMES[v]!] = verdicts[v]!;
  for (let i = 0; i < drops.length; i++) if (drops[i]) stats.drops[DROP_NAMES[i] ?? String(i)] = drops[i]!;
  for (let s = 1; s < byOif.length; s++) if (byOif[s]) stats.byOif[node.devBySlot[s]?.name ?? String(s)] = byOif[s]!;
  for (const [key, c] of [...replies].sort((a, b) => a[0] - b[0])) {
    const name = key & 0x10000 ? `tcp ${tcpFlagsToLetters(key & 0xff)}` : `icmp ${key >> 8}/${key & 0xff}`;
    stats.replies[name] = c;
  }
  for (const [bit, name] of NAT_NAMES) {
    let c = 0;
    for (let m = 0; m < 32; m++) if (m & bit) c += nat[m]!;
    if (c) stats.nat[name] = c;
  }
  for (let i = 0; i < 256; i++) if (ct[i]) { const k = CT_NAMES[i] ?? String(i); stats.ctstates[k] = (stats.ctstates[k] ?? 0) + ct[i]!; }
  stats.rulesTraversed = rules;
  for (const [k, c] of skipped) stats.notReplayed[k] = c;
  stats.firstTimestampNs = r.firstTsNs;
  stats.interfaces = r.interfaces.map((i) => ({ index: i.index, name: i.name, linkType: i.linkType }));
  stats.seconds = (performance.now() - t0) / 1000;
  return stats;
}
