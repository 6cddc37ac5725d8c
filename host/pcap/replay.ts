/**
 * The single-worker capture replay loop: descriptors come from PcapSource
 * (host/replay/pcap-source.ts, the one capture decoding path, also the
 * CLI's), are processed one batch per call into the core (Engine.processRaw,
 * so the concurrent-CPU model applies), counted by the report collector
 * (host/report/collect.ts, as the CLI counts them) and turned into the same
 * summary the JSONL replay builds (ReplayStats), plus what a capture adds:
 * frames not replayed, by kind.
 *
 * Damage in the capture (CaptureError) or a frame whose ingress cannot be
 * told ends reading: the frames before it are still processed, handed to
 * the sink and counted, and the error is returned in `stats.error` for the
 * caller to report after them (replayCapture itself does not throw it).
 */
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { newStats, type ReplayStats } from "../replay/jsonl.js";
import { InputError } from "../snapshot/errors.js";
import { PcapSource } from "../replay/pcap-source.js";
import { Collector, collectorStats } from "../report/collect.js";
import { CaptureReader, type CaptureInterface } from "./read.js";
import type { IngressMap } from "./ingress.js";

/**
 * One captured frame, as the sink sees it. The object and the buffer are
 * reused: copy what you keep (`bytes`/`ipBytes` make subarrays, valid only
 * during the call).
 */
export class CapturedFrame {
  /**
   * The reader's buffer; the frame is buf[start .. start + length). For a
   * datagram reassembled from fragments: the datagram's bytes alone (no link
   * header), while offset, number and time are those of the fragment that
   * completed it.
   */
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
  /** The node's own sends among the outgoing frames: replayed as local sends (default) or skipped (host/pcap/node-sends.ts). */
  nodeSends?: "replay" | "skip";
  /** The forwarded copies among the outgoing frames: paired with their originals (default) or only skipped (host/pcap/copies.ts). */
  forwardedCopies?: "pair" | "skip";
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
  /** Outgoing frames replayed as the node's own sends (PF_LOCAL). */
  nodeSends: number;
  /** Forwarded copies paired with their originals (PKT_SEEN_*). */
  copiesPaired: number;
  /** Frames stamped before the first frame (clamped to time 0). */
  timeBeforeStart: number;
  /** Absolute time of the first frame, ns since the epoch. */
  firstTimestampNs?: bigint;
  /** The capture's interfaces. */
  interfaces: { index: number; name?: string; linkType: number }[];
  /** What ended reading early (damage, an unmappable frame); everything before it was replayed and counted. */
  error?: InputError;
}

/**
 * Replays a capture (a file name or an open reader, closed at the end)
 * through `engine`, with one worker. Returns the summary; see `error`.
 */
export async function replayCapture(engine: Engine, reader: CaptureReader | string, sink?: CaptureSink, opts: CaptureReplayOptions = {}): Promise<CaptureStats> {
  // the summary record first (it allocates in the core)
  const col = new Collector(engine);
  try {
    return await replayWith(col, engine, reader, sink, opts);
  } finally {
    col.free();
  }
}

async function replayWith(col: Collector, engine: Engine, reader: CaptureReader | string, sink: CaptureSink | undefined, opts: CaptureReplayOptions): Promise<CaptureStats> {
  const t0 = performance.now();
  const stats: CaptureStats = { ...newStats(), frames: 0, notReplayed: {}, csumUnverified: 0, nodeSends: 0, copiesPaired: 0, timeBeforeStart: 0, interfaces: [] };
  let src: PcapSource;
  try {
    const r = typeof reader === "string" ? CaptureReader.open(reader) : reader;
    try {
      src = PcapSource.fromReader(r, engine, { ingress: opts.ingress, verifyChecksums: opts.verifyChecksums, keepFrames: sink !== undefined, nodeSends: opts.nodeSends, forwardedCopies: opts.forwardedCopies });
    } catch (e) {
      r.close();
      throw e;
    }
  } catch (e) {
    if (e instanceof InputError) { stats.error = e; return stats; }
    throw e;
  }
  const r = src.reader;
  const { ptr, capacity } = engine.batchBuffer;
  const frame = new CapturedFrame();
  let packets = 0;
  let n = 0;

  function setFrame(start: number, len: number, ip: number, ipLen: number, orig: number, ts: number, off: number, no: number, ifc: CaptureInterface, iif: number): void {
    frame.buf = r.buf; frame.start = start; frame.length = len; frame.ipStart = ip; frame.ipLength = ipLen;
    frame.origLength = orig; frame.tsNs = ts; frame.offset = off; frame.number = no; frame.iface = ifc; frame.iif = iif;
  }
  if (sink?.skipped) {
    const link = src.link;
    src.onSkip = (kind) => {
      setFrame(r.data, r.capLen, link.l3, link.l3Cap, r.origLen, r.tsNs, r.recordOffset, r.frame, r.iface, 0);
      sink.skipped!(frame, kind);
    };
  }

  const flush = async (final: boolean): Promise<void> => {
    if (n === 0) return;
    const done = engine.processRaw(n, final);
    col.collect(ptr, 0, done, engine.core.reply_ring_ptr());
    if (sink) {
      const base = r.src.base;
      for (let k = 0; k < done; k++) {
        setFrame(src.fStart[k]! - base, src.fLen[k]!, src.fIp[k]! - base, src.fIpLen[k]!, src.fOrig[k]!, src.fTs[k]!, src.fRec[k]!, src.fNo[k]!, r.interfaces[src.fIface[k]!]!, src.fIif[k]!);
        const re = src.fRe[k];
        if (re) {
          // a reassembled datagram: its bytes (no link header), with the completing fragment's record, time and interface
          frame.buf = re; frame.start = 0; frame.length = re.length; frame.ipStart = 0; frame.ipLength = re.length; frame.origLength = re.length;
        }
        sink.packet(k, packets + k, frame);
      }
    }
    packets += done;
    if (done < n) {
      // several CPUs modelled: the last round waits for the next batch; carry it to the front
      engine.mem.u8.copyWithin(ptr, ptr + done * abi.PKT_SIZE, ptr + n * abi.PKT_SIZE);
      src.carry(done, n);
    }
    n -= done;
    if (sink?.flush) await sink.flush();
    opts.onProgress?.(r.frame, r.src.offset);
  };

  try {
    for (;;) {
      const before = n;
      n = src.fillAfter(engine.mem.dv, ptr, n, capacity);
      if (src.ended || n === 0) break;
      // a full batch, or no room in the read buffer for more frames (then process them all)
      await flush(n === before);
    }
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    stats.error = e;
  }
  while (n > 0) await flush(true);
  src.close();

  stats.frames = r.frame;
  Object.assign(stats, collectorStats(col.read(), engine), { packets });
  stats.notReplayed = src.skipped();
  stats.csumUnverified = src.csumUnverified;
  stats.nodeSends = src.nodeSends;
  stats.copiesPaired = src.copiesPaired;
  stats.timeBeforeStart = src.clamped;
  stats.firstTimestampNs = r.firstTsNs;
  stats.interfaces = r.interfaces.map((i) => ({ index: i.index, name: i.name, linkType: i.linkType }));
  stats.seconds = (performance.now() - t0) / 1000;
  return stats;
}
