/**
 * A capture (pcap or pcapng) as a replay PacketSource, and the one place
 * captured frames become descriptors: frames are decoded from the reader's
 * buffer straight into descriptors with the capture module's pieces
 * (host/pcap: CaptureReader, decodeLink, IngressResolver;
 * host/packet/wire.ts: parseIPv4, writeDescriptor). Both the CLI's replay
 * (host/replay/run.ts) and replayCapture (host/pcap/replay.ts) read
 * captures through it. Frames that are not replayed are counted by kind
 * (ARP, IPv6, outgoing frames that are not the node's own sends, outgoing
 * copies on lo, IPv4 fragments of a node without conntrack);
 * the node's own sends (host/pcap/node-sends.ts) are replayed as packets a
 * local process sends (PF_LOCAL), unless nodeSends is "skip"; a forwarded
 * copy among them is paired with its original in the same fill, whose
 * descriptor gets the header the copy left with (host/pcap/copies.ts,
 * PKT_SEEN_*), unless forwardedCopies is "skip";
 * damage ends the input with a CaptureError naming the byte offset, after
 * the frames before it.
 *
 * IPv4 fragments, when the node's ruleset turns conntrack on, are gathered
 * as nf_defrag_ipv4 gathers them at PREROUTING (host/packet/defrag.ts): the
 * datagram a fragment completes is one descriptor at that fragment's time
 * and interface, written as a packet of those bytes would be, with
 * PKT_FRAG_MAX; its bytes are kept for frame(k). The reassembly's SNMP
 * counters (and the ip_rcv of the fragments that are not the datagram) are
 * added to the engine's counters as they happen; hostCounters() gives them
 * for engines elsewhere (workers), fragments() what became of every
 * fragment.
 *
 * The hot loop is monomorphic and allocates nothing per frame: one reused
 * LinkInfo and WireFields, per-descriptor facts in typed arrays, capture
 * interface -> ingress slot in an Int32Array.
 *
 * With a WASM core (PcapSourceOptions.fastDecode; the decode thread's),
 * the read buffer lives in the core's memory and the core decodes the
 * common records in place (assembly/capture/decode.ts, FastDecode below):
 * it stops before the first record it does not take, which the loop here
 * decodes as always, then it goes on; the descriptors, counts, notes and
 * errors are the same either way (test/pcap/fast-decode.test.ts).
 *
 * The frames of the last fill stay in the reader's buffer (pinned) until
 * the next fill, so egress.ts can rewrite their bytes as they leave; a
 * caller that processes only part of a batch (several CPUs modelled) keeps
 * the rest with carry() and tops the batch up with fillAfter().
 */
import { fstatSync, openSync, closeSync } from "node:fs";
import * as abi from "../core/abi.js";
import * as cf from "../../assembly/capture/format.js";
import type { CoreExports } from "../core/wasm.js";
import type { Engine } from "../engine.js";
import { InputError } from "../snapshot/errors.js";
import { CaptureReader, type CaptureInterface } from "../pcap/read.js";
import { CaptureError } from "../pcap/errors.js";
import { decodeLink, kindName, LinkInfo, K_IPV4, K_ARP, K_IPV6 } from "../pcap/link.js";
import { IngressResolver, type IngressMap } from "../pcap/ingress.js";
import * as f from "../pcap/format.js";
import { parseIPv4, writeDescriptor, WireFields, WIRE_OK, WIRE_ERROR, WIRE_FRAGMENT, WIRE_IP_ERROR } from "../packet/wire.js";
import { Defragmenter, DefragError, defragConfig, noDefragCounters, type DefragCounters } from "../packet/defrag.js";
import type { PacketSource, SourceProgress } from "./sources.js";
import { CopyPairer, type ForwardedCopiesMode } from "../pcap/copies.js";
import { OutgoingClassifier, OC_NODE_SEND, OC_FORWARDED, outgoingKind, SKIP_OUTGOING, SKIP_LOOPBACK, SKIP_FORWARDED, SKIP_ANSWER, SKIP_OTHER, type NodeSendsMode } from "../pcap/node-sends.js";

export interface PcapSourceOptions {
  /** Mapping of capture interfaces / ifindexes / MACs / source subnets to node links. */
  ingress?: IngressMap;
  /** Check transport checksums (default true); false takes every checksum as correct. */
  verifyChecksums?: boolean;
  /** Read buffer size in bytes (default: the reader's). */
  bufferSize?: number;
  /** Bytes asked of one read (default: the reader's). */
  readChunk?: number;
  /**
   * Keep the frames of the last fill in the read buffer for frame(k)
   * (default true). Without, no bytes are pinned: refills never move
   * frames already decoded (faster), and frame() cannot be used.
   */
  keepFrames?: boolean;
  /**
   * A WASM core whose capture decoder (assembly/capture/decode.ts) decodes
   * the common records in place, the read buffer in its linear memory;
   * the rest are decoded here as without it (the same descriptors, counts
   * and errors). Used only without keepFrames and onSkip.
   */
  fastDecode?: CoreExports;
  /**
   * The node's own sends among the outgoing frames (host/pcap/node-sends.ts):
   * "replay" (default) replays them as packets a local process sends
   * (PF_LOCAL), and takes a frame on lo as what the node sent (libpcap keeps
   * only the incoming copy there: it stands for the send, and the engine
   * loops the send back itself; an outgoing copy on lo is skipped); "skip"
   * counts every outgoing frame as "outgoing", not replayed, and replays
   * the frames on lo as arriving there.
   */
  nodeSends?: NodeSendsMode;
  /**
   * The forwarded copies among the outgoing frames (host/pcap/copies.ts):
   * "pair" (default) pairs each with its original in the same fill and
   * writes the header it left with into the original's descriptor
   * (PKT_SEEN_*); "skip" leaves the descriptors as before. Either way the
   * copies are skipped and counted. (With nodeSends "skip" no frame is
   * classified a forwarded copy: nothing is paired.)
   */
  forwardedCopies?: ForwardedCopiesMode;
}

const TWO40 = 1099511627776;
/** ff:ff:ff:ff:ff:ff as a number (eth_type_trans: PACKET_BROADCAST; other group addresses are PACKET_MULTICAST). */
const ETH_BCAST = 281474976710655;

/** PacketSource.notes() of a capture: the non-zero counts, named for the summary. */
export function inputNotes(csumUnverified: number, clamped: number): Record<string, number> {
  const out: Record<string, number> = {};
  if (csumUnverified > 0) out["checksums not verified (taken as right)"] = csumUnverified;
  if (clamped > 0) out["stamped before the first frame (replayed at its time)"] = clamped;
  return out;
}

/**
 * What a PcapSource uses of the engine: the node (devices, for the ingress
 * resolution; sysctls, for the reassembly), whether the ruleset turns
 * conntrack on (reassembly) and the SNMP counters the reassembly adds to
 * (pcap-thread.ts gives its thread a node without the ruleset, and forwards
 * the counters to the replaying engine).
 */
export interface PcapEngine {
  readonly node: Engine["node"];
  readonly ruleset?: { readonly compiled: { readonly conntrack: boolean } };
  addCounter(idx: number, n: number): void;
}

/** Why a fragment is not replayed on a node without conntrack. */
export const FRAGMENT_NOT_REPLAYED = "IPv4 fragment (node without conntrack: the kernel forwards fragments one by one, not modelled)";

/** The engine counter each DefragCounters field adds to. */
const DEFRAG_CTR: [keyof DefragCounters, number][] = [
  ["IpReasmReqds", abi.CTR_IP_REASM_REQDS], ["IpReasmOKs", abi.CTR_IP_REASM_OKS], ["IpReasmFails", abi.CTR_IP_REASM_FAILS],
  ["IpReasmTimeout", abi.CTR_IP_REASM_TIMEOUT], ["IpExtReasmOverlaps", abi.CTR_IP_REASM_OVERLAPS], ["IpInReceives", abi.CTR_IP_IN_RECEIVES],
  ["IpExtInOctets", abi.CTR_IP_EXT_IN_OCTETS], ["IpExtInNoECTPkts", abi.CTR_IP_EXT_IN_NOECT_PKTS], ["IpExtInECT1Pkts", abi.CTR_IP_EXT_IN_ECT1_PKTS],
  ["IpExtInECT0Pkts", abi.CTR_IP_EXT_IN_ECT0_PKTS], ["IpExtInCEPkts", abi.CTR_IP_EXT_IN_CE_PKTS],
];

export class PcapSource implements PacketSource {
  readonly kind = "pcap" as const;
  private readonly w = new WireFields();
  /** The link layer of the frame just read (valid in onSkip). */
  readonly link = new LinkInfo();
  /** Capture interface index -> ingress slot from its id / name (-1: not yet resolved). */
  private ifaceSlots = new Int32Array(16).fill(-1);
  private readonly skippedKinds = new Map<string, number>();
  private error?: InputError;
  private ended_ = false;
  /**
   * Per descriptor of the batch (recorded when frames are kept): file
   * offsets of the frame's captured bytes and of its IPv4 header (absolute:
   * a refill may slide the buffer), their captured lengths, the length on
   * the wire, the capture interface index, the ingress slot, the record's
   * file offset, the 1-based frame number and the replay time (ns).
   */
  fStart = new Float64Array(0);
  fLen = new Int32Array(0);
  fIp = new Float64Array(0);
  fIpLen = new Int32Array(0);
  fOrig = new Int32Array(0);
  fIface = new Int32Array(0);
  fIif = new Int32Array(0);
  fRec = new Float64Array(0);
  fNo = new Float64Array(0);
  fTs = new Float64Array(0);
  /** Per descriptor: the bytes of a reassembled datagram (the captured prefix), else undefined. */
  fRe: (Uint8Array | undefined)[] = [];
  /** conntrack's defragmentation (the node's ruleset turns conntrack on), else undefined. */
  readonly defrag?: Defragmenter;
  /** The defrag counters already added to the engine. */
  private readonly pushed: DefragCounters = noDefragCounters();
  private readonly frameView: { bytes: Uint8Array; offset: number; length: number } = { bytes: new Uint8Array(0), offset: 0, length: 0 };
  readonly size: number;
  /** Frames stamped before the first frame (replayed at time 0). */
  clamped = 0;
  /** Replayed packets whose transport checksum was not checked (cut by the snaplen, or checking off). */
  csumUnverified = 0;
  /** Outgoing frames replayed as the node's own sends (PF_LOCAL). */
  nodeSends = 0;
  /** Forwarded copies paired with their originals (host/pcap/copies.ts). */
  copiesPaired = 0;
  /** The pairing of forwarded copies (forwardedCopies "pair", outgoing frames classified), else undefined. */
  copies?: CopyPairer;
  /**
   * Descriptors of the last fill held back for the next one (see
   * fillAfter): how many, their index in that fill, their images.
   */
  private held = 0;
  private heldFrom = 0;
  private heldImg = new Uint8Array(0);
  /** The classifier of outgoing frames (nodeSends "replay"), else undefined: every outgoing frame skipped. */
  readonly outgoing?: OutgoingClassifier;
  /** The loopback device's slot (its incoming copies are skipped with nodeSends "replay"). */
  readonly loSlot: number;
  /** Called for each frame not replayed, with why; the reader and `link` describe the frame. */
  onSkip?: (kind: string) => void;
  /** The core's capture decoder (PcapSourceOptions.fastDecode), undefined without. */
  fast?: FastDecode;
  /** JS-decoded records before the fast path is tried again (it found nothing to take last time). */
  private fastWait = 0;
  private fastBackoff = 1;
  /** The most records decoded here before the fast path is tried again (0: after every record; tests). */
  fastBackoffMax = 256;
  /** Records the fast path decoded (descriptors and outgoing skips). */
  fastRecords = 0;
  /** The core the read buffer was allocated in (fast path). */
  private fastDecodeCore?: CoreExports;

  private constructor(readonly label: string, readonly reader: CaptureReader, readonly ingress: IngressResolver, readonly verifyChecksums: boolean, readonly keepFrames: boolean, private readonly engine: PcapEngine, nodeSends: NodeSendsMode, forwardedCopies: ForwardedCopiesMode) {
    if (nodeSends === "replay") this.outgoing = new OutgoingClassifier(engine.node);
    if (this.outgoing && forwardedCopies === "pair") this.copies = new CopyPairer();
    this.loSlot = engine.node.loopbackSlot;
    if (engine.ruleset?.compiled.conntrack) this.defrag = new Defragmenter(defragConfig(engine.node.snapshot.sysctl));
    const fd = openSync(label, "r");
    this.size = fstatSync(fd).size;
    closeSync(fd);
    this.grow(1024);
  }

  static open(file: string, engine: PcapEngine, opts: PcapSourceOptions = {}): PcapSource {
    const core = opts.keepFrames === false ? opts.fastDecode : undefined;
    const linear = core ? (size: number) => ({ memory: core.memory, ptr: core.alloc(size) }) : undefined;
    const r = CaptureReader.open(file, { bufferSize: opts.bufferSize, readChunk: opts.readChunk, linear });
    try {
      return PcapSource.fromReader(r, engine, opts);
    } catch (e) {
      r.close();
      throw e;
    }
  }

  /** A source over an open reader (closed by close()). */
  static fromReader(r: CaptureReader, engine: PcapEngine, opts: PcapSourceOptions = {}): PcapSource {
    const src = new PcapSource(r.file, r, new IngressResolver(engine.node, opts.ingress), opts.verifyChecksums ?? true, opts.keepFrames ?? true, engine, opts.nodeSends ?? "replay", opts.forwardedCopies ?? "pair");
    if (opts.fastDecode && !src.keepFrames && r.src.linear?.memory === opts.fastDecode.memory) {
      src.fast = new FastDecode(opts.fastDecode, src.ingress, src.outgoing, src.loSlot, src.copies !== undefined);
      src.fastDecodeCore = opts.fastDecode;
      // the candidates in the core's memory: the host and the core decode a fill's frames in turns
      if (src.copies) src.copies = new CopyPairer(opts.fastDecode.memory, src.fast.copiesBlock);
    }
    r.src.rebind();
    return src;
  }

  /** The input ended (end of file, or damage reported) and nothing is left to deliver, not even an error. */
  get ended(): boolean { return this.ended_ && !this.error; }

  private grow(n: number): void {
    const keep = <T extends Float64Array | Int32Array>(a: T, b: T): T => { b.set(a); return b; };
    this.fStart = keep(this.fStart, new Float64Array(n));
    this.fLen = keep(this.fLen, new Int32Array(n));
    this.fIp = keep(this.fIp, new Float64Array(n));
    this.fIpLen = keep(this.fIpLen, new Int32Array(n));
    this.fOrig = keep(this.fOrig, new Int32Array(n));
    this.fIface = keep(this.fIface, new Int32Array(n));
    this.fIif = keep(this.fIif, new Int32Array(n));
    this.fRec = keep(this.fRec, new Float64Array(n));
    this.fNo = keep(this.fNo, new Float64Array(n));
    this.fTs = keep(this.fTs, new Float64Array(n));
    this.fRe.length = n;
  }

  /** Frames not replayed for `kind` have been counted. */
  hasSkipped(kind: string): boolean { return this.skippedKinds.has(kind); }

  /** Counts `count` frames not replayed for `kind` (the fast path's, which has no onSkip). */
  countSkipped(kind: string, count: number): void {
    this.skippedKinds.set(kind, (this.skippedKinds.get(kind) ?? 0) + count);
  }

  private skip(kind: string): void {
    this.skippedKinds.set(kind, (this.skippedKinds.get(kind) ?? 0) + 1);
    if (this.onSkip) this.onSkip(kind);
  }

  /** Ingress slot of capture interface `index` from its id or name (0: neither says). */
  private ifaceSlot(index: number): number {
    if (index >= this.ifaceSlots.length) {
      const a = new Int32Array(Math.max(index + 1, this.ifaceSlots.length * 2)).fill(-1);
      a.set(this.ifaceSlots);
      this.ifaceSlots = a;
    }
    let s = this.ifaceSlots[index]!;
    if (s < 0) s = this.ifaceSlots[index] = this.ingress.interfaceSlot(this.reader.interfaces[index]!);
    return s;
  }

  fill(dv: DataView, base: number, max: number): number {
    return this.fillAfter(dv, base, 0, max);
  }

  /**
   * Keeps descriptors [from, n) of the batch, which the caller moved to the
   * front (0 .. n - from): their frames stay pinned for fillAfter().
   */
  carry(from: number, n: number): void {
    for (const a of [this.fStart, this.fLen, this.fIp, this.fIpLen, this.fOrig, this.fIface, this.fIif, this.fRec, this.fNo, this.fTs]) a.copyWithin(0, from, n);
    this.fRe.copyWithin(0, from, n);
    if (n > from && this.keepFrames) this.reader.pinAt(this.fStart[0]! - this.reader.src.base);
  }

  /**
   * Writes descriptors `kept` .. up to `max` at `base` (descriptor k at
   * base + k * PKT_SIZE) after the `kept` the caller still holds (see
   * carry()); returns the batch's new count. It returns `kept` (nothing
   * added) when the kept frames fill the read buffer: process them first.
   *
   * When the capture has forwarded copies (pairing on), a full fill holds
   * its last descriptors back (HOLD_MAX at most, half the fill's new ones
   * at most) and writes them first in the next fill, in the same order:
   * a copy that comes after the fill's end then still finds its original
   * (host/pcap/copies.ts), as it would in the middle of a fill. Nothing
   * else changes: the packets reach the engine in capture order, each once.
   */
  fillAfter(dv: DataView, base: number, kept: number, max: number): number {
    if (this.error) { const e = this.error; this.error = undefined; this.ended_ = true; throw e; }
    if (this.ended_) return kept;
    const r = this.reader, link = this.link, w = this.w, ingress = this.ingress, verify = this.verifyChecksums, keep = this.keepFrames;
    if (max > this.fStart.length) this.grow(max);
    const held = this.held;
    if (kept === 0 && held === 0) r.pinAt(-1); // the last fill's frames are no longer needed
    const fStart = this.fStart, fLen = this.fLen, fIp = this.fIp, fIpLen = this.fIpLen, fOrig = this.fOrig;
    const fIface = this.fIface, fIif = this.fIif, fRec = this.fRec, fNo = this.fNo, fTs = this.fTs, fRe = this.fRe;
    const defrag = this.defrag;
    const copies = this.copies;
    const u8 = new Uint8Array(dv.buffer, dv.byteOffset); // indexed as dv is (writeDescriptor)
    if (kept + held > max) throw new RangeError(`PcapSource.fillAfter: a batch of ${max} cannot take the ${kept} kept and ${held} held descriptors`);
    if (held > 0) {
      // the last fill's held descriptors first, their frames (still pinned) and their candidates with them
      u8.set(this.heldImg.subarray(0, held * abi.PKT_SIZE), base + kept * abi.PKT_SIZE);
      if (keep) {
        const from = this.heldFrom;
        for (const a of [fStart, fLen, fIp, fIpLen, fOrig, fIface, fIif, fRec, fNo, fTs]) a.copyWithin(kept, from, from + held);
        fRe.copyWithin(kept, from, from + held);
        if (kept === 0) r.pinAt(fStart[0]! - r.src.base);
      }
      copies!.rebase(this.heldFrom, held, kept);
      this.held = 0;
    } else if (copies) {
      copies.reset(); // a new fill: the originals of copies are looked for among its descriptors
    }
    const fast = this.onSkip ? undefined : this.fast;
    r.src.rebind(); // a core's memory may have grown since the last fill
    let n = kept + held;
    try {
      while (n < max) {
        if (fast && (defrag === undefined || defrag.pending === 0)) {
          if (this.fastWait > 0) this.fastWait--;
          else {
            const before = r.frame;
            n = fast.fill(this, dv, base, n, max);
            // a run too short to pay for the call (records the host decodes between a few it takes): back off
            if (r.frame - before >= FAST_RUN || n >= max) this.fastBackoff = 1;
            else { this.fastWait = Math.min(this.fastBackoff, this.fastBackoffMax); this.fastBackoff = Math.min(this.fastBackoff * 2, 256); }
            if (n >= max) break;
          }
        }
        if (!r.next()) {
          if (r.blocked && n > 0) break; // the buffer is full of this batch's frames
          if (r.blocked) { r.pinAt(-1); continue; }
          this.ended_ = true;
          const unused = ingress.unusedInterfaceMapping(r.interfaces);
          if (unused) throw new InputError(r.file, 0, unused.token, unused.problem);
          break;
        }
        if (fast) fast.touch(r.iface);
        const buf = r.buf, data = r.data, capLen = r.capLen, ifc = r.iface;
        decodeLink(buf, data, capLen, r.origLen, ifc.linkType, link);
        if (link.kind !== K_IPV4) { this.skip(kindName(link.kind, link.ethertype)); continue; }
        const pt = link.pktType;
        const cls = this.outgoing;
        let local = false;
        const out = r.dir === f.DIR_OUT || pt === f.PACKET_OUTGOING || (link.srcMac >= 0 && ingress.isNodeMac(link.srcMac));
        // the slot the capture's interface, ifindex or MAC says (the user's source subnets come last, below)
        const linkSlot = ingress.linkSlot(this.ifaceSlot(ifc.index), link);
        if (cls) {
          // on lo, libpcap keeps only the incoming copy of what the node sent (it drops the outgoing one):
          // the incoming copy stands for the send, an outgoing copy (other capturers) is skipped
          const onLo = linkSlot === this.loSlot;
          if (onLo && out) { this.skip(SKIP_LOOPBACK); continue; }
          if (onLo || out) {
            // a frame the node sent: its own send (replayed as one), else counted by what it is
            const c = cls.classify(buf, link.l3, link.l3Cap, link.l3Wire);
            if (c !== OC_NODE_SEND) {
              // a forwarded copy (an outgoing frame: the incoming ones on lo are not): its original given its header
              if (c === OC_FORWARDED && out && copies && copies.copy(buf, link.l3, link.l3Cap, linkSlot, dv, base)) this.copiesPaired++;
              this.skip(outgoingKind(c));
              continue;
            }
            local = true;
          }
        } else if (out) { this.skip(SKIP_OUTGOING); continue; }
        const l3 = link.l3;
        let ts = r.tsNs;
        if (ts < 0) { ts = 0; this.clamped++; }
        if (defrag) defrag.advance(ts); // ip_expire runs on capture time
        // (a node send's checksum is not checked: the kernel does not check its own, often left to the device)
        const st = parseIPv4(buf, l3, link.l3Cap, link.l3Wire, w, verify && !local);
        let re: Uint8Array | undefined;
        if (st !== WIRE_OK && st !== WIRE_IP_ERROR) { // a header ip_rcv rejects is a packet it drops: replayed
          if (st !== WIRE_FRAGMENT) throw new CaptureError(r.file, r.src.base + l3 + w.problemAt, r.frame, "", w.problem);
          if (!defrag) { this.skip(FRAGMENT_NOT_REPLAYED); continue; }
          // nf_defrag_ipv4 at PREROUTING: queued, dropped, or the datagram it completes
          let d;
          try {
            d = defrag.add(buf, l3, link.l3Cap, ts, link.l3Wire);
          } catch (e) {
            if (e instanceof DefragError) throw new CaptureError(r.file, r.recordOffset, r.frame, "", e.message);
            throw e;
          }
          if (!d) continue;
          const st2 = parseIPv4(d.bytes, 0, d.cap, d.length, w, verify);
          if (st2 === WIRE_ERROR || st2 === WIRE_FRAGMENT) {
            throw new CaptureError(r.file, r.src.base + l3, r.frame, "", `the datagram reassembled from ${d.fragments} fragments (this one completes it): ${st2 === WIRE_ERROR ? `${w.problem} (byte ${w.problemAt} of the datagram)` : "still a fragment"}`);
          }
          w.fragMax = d.fragMax;
          re = d.bytes.subarray(0, d.cap);
        }
        let slot = 0;
        if (local) {
          // a process's send: no arrival interface, no wire padding, its checksum taken as right
          w.rcvPad = 0;
          w.csum = abi.CSUM_OK;
          w.csumUnverified = false;
        } else {
          slot = linkSlot !== 0 ? linkSlot : ingress.subnetSlot(w.src); // (IngressResolver.resolve)
          if (slot === 0) throw new CaptureError(r.file, r.recordOffset, r.frame, "", ingress.explain(ifc, link));
        }
        const dmac = link.dstMac;
        // skb->pkt_type: as the SLL/SLL2 header records it; for Ethernet, a group destination address
        // is broadcast/multicast (eth_type_trans). A unicast Ethernet frame is taken as addressed to the
        // node (the snapshot's MACs need not be the capture's), so only SLL/SLL2 frames can be PACKET_OTHERHOST.
        // (multicast unless the address is ff:ff:ff:ff:ff:ff, which is broadcast)
        const pflags = local ? abi.PF_LOCAL : pt === f.PACKET_OTHERHOST ? abi.PF_L2_OTHER | abi.PF_OTHERHOST
          : pt === f.PACKET_BROADCAST ? abi.PF_L2_OTHER
          : pt === f.PACKET_MULTICAST ? abi.PF_L2_OTHER | abi.PF_L2_MCAST
          : dmac >= 0 && (Math.floor(dmac / TWO40) & 1) === 1 ? (dmac === ETH_BCAST ? abi.PF_L2_OTHER : abi.PF_L2_OTHER | abi.PF_L2_MCAST)
          : 0;
        if (w.csumUnverified) this.csumUnverified++;
        if (local) this.nodeSends++;
        writeDescriptor(w, u8, dv, base + n * abi.PKT_SIZE, slot, pflags, ts);
        // a candidate original of a forwarded copy (host/pcap/copies.ts): arriving, its header one ip_rcv accepts
        if (copies && !local && st === WIRE_OK) copies.original(buf, l3, link.l3Cap, n);
        if (keep) {
          if (n === 0) r.pinAt(data);
          const bufBase = r.src.base;
          fStart[n] = bufBase + data;
          fLen[n] = capLen;
          fIp[n] = bufBase + l3;
          fIpLen[n] = link.l3Cap;
          fOrig[n] = r.origLen;
          fIface[n] = ifc.index;
          fIif[n] = slot;
          fRec[n] = r.recordOffset;
          fNo[n] = r.frame;
          fTs[n] = ts;
          fRe[n] = re;
        }
        n++;
      }
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      if (n === kept) { this.ended_ = true; throw e; }
      this.error = e; // the frames before it first
    }
    if (defrag) this.pushCounters();
    if (copies && n >= max && !this.ended_ && this.error === undefined && this.hasSkipped(SKIP_FORWARDED)) {
      // a full fill of a capture with forwarded copies: its last descriptors wait for the next fill (see above)
      const h = Math.min(HOLD_MAX, (n - kept) >> 1);
      if (h > 0) {
        if (this.heldImg.length < h * abi.PKT_SIZE) this.heldImg = new Uint8Array(HOLD_MAX * abi.PKT_SIZE);
        this.heldImg.set(u8.subarray(base + (n - h) * abi.PKT_SIZE, base + n * abi.PKT_SIZE));
        this.held = h;
        this.heldFrom = n - h;
        n -= h;
      }
    }
    return n;
  }

  /** Adds what the reassembly counted since the last call to the engine's SNMP counters. */
  private pushCounters(): void {
    const c = this.defrag!.counters, p = this.pushed;
    for (const [k, idx] of DEFRAG_CTR) {
      if (c[k] !== p[k]) { this.engine.addCounter(idx, c[k] - p[k]); p[k] = c[k]; }
    }
  }

  /**
   * The SNMP counters the reassembly added (nstat names; empty without
   * conntrack): already in this source's engine, to be added to the totals
   * of engines that processed the descriptors elsewhere (workers).
   */
  hostCounters(): Record<string, number> {
    const out: Record<string, number> = {};
    if (this.defrag) for (const [k] of DEFRAG_CTR) if (this.defrag.counters[k]) out[k] = this.defrag.counters[k];
    return out;
  }

  /** What became of every IPv4 fragment (reassembled, dropped and why, still queued); undefined without conntrack. */
  fragments(): Record<string, number> | undefined {
    return this.defrag?.outcome();
  }

  frame(k: number): { bytes: Uint8Array; offset: number; length: number } {
    if (!this.keepFrames) throw new Error("PcapSource.frame(): the source was opened with keepFrames false");
    const v = this.frameView;
    const re = this.fRe[k];
    if (re) { v.bytes = re; v.offset = 0; v.length = re.length; return v; }
    v.bytes = this.reader.buf;
    v.offset = this.fIp[k]! - this.reader.src.base;
    v.length = this.fIpLen[k]!;
    return v;
  }

  progress(): SourceProgress { return { done: this.reader.src.offset, total: this.size, unit: "bytes" }; }

  skipped(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, n] of this.skippedKinds) if (n > 0) out[k] = n;
    return out;
  }

  notes(): Record<string, number> { return inputNotes(this.csumUnverified, this.clamped); }

  close(): void {
    this.reader.close();
    if (this.fast) {
      // the read buffer and the decoder's tables go back to the core
      this.fast.close();
      this.fast = undefined;
      const l = this.reader.src.linear;
      if (l) this.fastDecodeCore?.free(l.ptr);
    }
  }
}

/** The skip kinds of ARP and IPv6 frames (link.ts kindName). */
const ARP = kindName(K_ARP, 0), IPV6 = kindName(K_IPV6, 0);

/** Records a fast-path call must take to be worth its cost (~0.5 µs); fewer, and the host decodes the next ones before it tries again. */
const FAST_RUN = 16;

/** Descriptors the fast path writes into its scratch area before they are copied out (a batch buffer outside the core's memory). */
const SCRATCH_CHUNK = 128;

/** Capture interfaces of a section the fast path knows at most (frames of the others are decoded by the host). */
const FAST_IFACES = 64;

/**
 * The host's side of the core's capture decoder (assembly/capture/decode.ts):
 * its state block, the section's interface table (link type, the ingress
 * slot of the interface's id or name, the reader's time anchor), the
 * ingress table (IngressResolver's maps: the node's MACs and ifindexes, the
 * user's MAC and ifindex mappings) and the user's source subnets. fill() runs it from the reader's position
 * and brings back what it did: the reader's position, frame count and time
 * anchors, the source's counts; descriptors written to a buffer outside the
 * core's memory are copied there, the input fields only (writeDescriptor's),
 * and the forwarded copies the core paired with descriptors copied out
 * before are patched into them (cf.CP_PATCHES).
 */
export class FastDecode {
  private readonly st: number;
  private readonly ifs: number;
  private readonly tab: number;
  private readonly subnets: number;
  private scratch = 0;

  /** Views of the core's memory (new ones when it grows) and of the last batch buffer. */
  private mem: ArrayBufferLike | undefined;
  private m = new DataView(new ArrayBuffer(0));
  private memU8: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  private memI32: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private to: ArrayBufferLike | undefined;
  private toU8: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  private toI32: Int32Array<ArrayBufferLike> = new Int32Array(0);

  private readonly local: number;
  /** The forwarded-copy pairing block (cf.CP_*; host/pcap/copies.ts), 0 without pairing. */
  readonly copiesBlock: number;

  constructor(private readonly core: CoreExports, private readonly ingress: IngressResolver, private readonly outgoing?: OutgoingClassifier, loSlot = 0, copies = false) {
    // the ingress table: IngressResolver's maps under their CDK_* kinds
    const mp = ingress.maps();
    const entries: [number, number, number][] = [];
    for (const m of mp.nodeMacs) entries.push([cf.CDK_NODE_MAC, m, 0]);
    for (const [k, v] of mp.userMac) entries.push([cf.CDK_USER_MAC, k, v]);
    for (const [k, v] of mp.macSlot) entries.push([cf.CDK_AUTO_MAC, k, v]);
    for (const [k, v] of mp.userIfindex) entries.push([cf.CDK_USER_IFINDEX, k, v]);
    for (const [k, v] of mp.ifindexSlot) entries.push([cf.CDK_AUTO_IFINDEX, k, v]);
    let slots = 8;
    while (slots < entries.length * 2) slots *= 2;
    this.st = core.alloc(cf.CD_SIZE);
    this.ifs = core.alloc(FAST_IFACES * cf.CDI_SIZE);
    const tab = this.tab = core.alloc(slots * cf.CDT_SIZE);
    const dv = new DataView(core.memory.buffer);
    const mask = slots - 1;
    for (const [kind, k, v] of entries) {
      // kind << 48 | value, hashed as the core hashes it (tabGet)
      const key = (BigInt(kind) << 48n) | BigInt(k);
      let i = Number((((key * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn) >> 40n) & BigInt(mask));
      while (dv.getBigUint64(tab + i * cf.CDT_SIZE, true) !== 0n) i = (i + 1) & mask;
      dv.setBigUint64(tab + i * cf.CDT_SIZE, key, true);
      dv.setUint32(tab + i * cf.CDT_SIZE + 8, v, true);
    }
    dv.setUint32(this.st + cf.CD_TAB, tab, true);
    dv.setUint32(this.st + cf.CD_TAB_MASK, mask, true);
    // the source subnets, in order
    const subnets = this.subnets = core.alloc(Math.max(1, mp.src.length) * cf.CDS_SIZE);
    const m2 = new DataView(core.memory.buffer);
    mp.src.forEach((r, i) => {
      m2.setUint32(subnets + i * cf.CDS_SIZE, r.addr, true);
      m2.setUint32(subnets + i * cf.CDS_SIZE + 4, r.mask, true);
      m2.setUint32(subnets + i * cf.CDS_SIZE + 8, r.slot, true);
    });
    m2.setUint32(this.st + cf.CD_SRC, subnets, true);
    m2.setUint32(this.st + cf.CD_NSRC, mp.src.length, true);
    // the node's local addresses, default TTL and loopback slot (outgoing frames classified: node-sends.ts)
    const ranges = outgoing?.ranges ?? [];
    const local = this.local = core.alloc(Math.max(1, ranges.length) * cf.CDS_SIZE);
    const m3 = new DataView(core.memory.buffer);
    ranges.forEach((r, i) => {
      m3.setUint32(local + i * cf.CDS_SIZE, r.addr, true);
      m3.setUint32(local + i * cf.CDS_SIZE + 4, r.mask, true);
      m3.setUint32(local + i * cf.CDS_SIZE + 8, 0, true);
    });
    m3.setUint32(this.st + cf.CD_LOCAL, local, true);
    m3.setUint32(this.st + cf.CD_NLOCAL, ranges.length, true);
    m3.setUint32(this.st + cf.CD_TTL, outgoing?.ttl ?? 0, true);
    m3.setUint32(this.st + cf.CD_LO, loSlot, true);
    // the forwarded copies' pairing block (its count reset by the source at every fill)
    const cp = this.copiesBlock = copies ? core.alloc(cf.CP_SIZE) : 0;
    const m4 = new DataView(core.memory.buffer);
    if (cp) m4.setUint32(cp + cf.CP_COUNT, 0, true);
    m4.setUint32(this.st + cf.CD_COPIES, cp, true);
  }

  /** The interfaces last copied into the core's table, and those whose frames the host read since (their anchors moved). */
  private synced: readonly CaptureInterface[] | undefined;
  private syncedN = 0;
  private touched: CaptureInterface | undefined;
  private touchedMany = false;

  /** The host read a frame of `ifc` (its time anchor may have moved). */
  touch(ifc: CaptureInterface): void {
    if (this.touched === undefined) this.touched = ifc;
    else if (this.touched !== ifc) this.touchedMany = true;
  }

  /** Gives the core its memory back (the tables, the scratch area). */
  close(): void {
    for (const p of [this.st, this.ifs, this.tab, this.subnets, this.local, this.copiesBlock, this.scratch]) if (p) this.core.free(p);
    this.scratch = 0;
  }

  /**
   * Decodes from the reader's position into descriptors n.. of the batch at
   * `base` (up to max) while the records are the fast path's; returns the
   * batch's new count. The reader is left before the first record it did not take.
   */
  fill(src: PcapSource, dv: DataView, base: number, n: number, max: number): number {
    const r = src.reader, s = r.src, core = this.core;
    if (!r.littleEndian || r.firstTsNs === undefined) return n;
    const pcap = r.format === "pcap";
    const direct = dv.buffer === core.memory.buffer;
    if (!direct && this.scratch === 0) {
      this.scratch = core.alloc(SCRATCH_CHUNK * abi.PKT_SIZE);
      s.rebind();
    }
    if (this.mem !== core.memory.buffer) {
      const mem = this.mem = core.memory.buffer;
      this.m = new DataView(mem);
      this.memU8 = new Uint8Array(mem);
      this.memI32 = new Int32Array(mem, 0, mem.byteLength >>> 2);
    }
    if (!direct && this.to !== dv.buffer) {
      const to = this.to = dv.buffer;
      this.toU8 = new Uint8Array(to);
      this.toI32 = new Int32Array(to, 0, to.byteLength >>> 2);
    }
    const m = this.m;
    const st = this.st, ifs = this.ifs, cp = this.copiesBlock;
    // the section's interfaces, as the reader has them now
    const sec = pcap ? r.interfaces : r.sectionInterfaces;
    const nif = Math.min(sec.length, FAST_IFACES);
    // all of them when the section or its interfaces changed, else those whose frames the host read since
    let from = 0, to = nif;
    if (sec === this.synced && nif === this.syncedN && !this.touchedMany) {
      const t = this.touched;
      if (t === undefined || t.index >= FAST_IFACES + sec[0]!.index) to = 0;
      else { from = t.index - sec[0]!.index; to = from + 1; }
    }
    this.synced = sec; this.syncedN = nif; this.touched = undefined; this.touchedMany = false;
    for (let i = from; i < to; i++) {
      const ifc = sec[i]!, e = ifs + i * cf.CDI_SIZE;
      m.setUint32(e + cf.CDI_LINKTYPE, ifc.linkType, true);
      m.setUint32(e + cf.CDI_SLOT, this.ingress.interfaceSlot(ifc), true);
      m.setUint32(e + cf.CDI_SNAPLEN, ifc.snaplen, true);
      m.setUint32(e + cf.CDI_ANCHORED, ifc.anchored ? 1 : 0, true);
      m.setUint32(e + cf.CDI_AHI, ifc.aHi, true);
      m.setUint32(e + cf.CDI_ALO, ifc.aLo, true);
      m.setFloat64(e + cf.CDI_ANS, ifc.aNs, true);
      m.setFloat64(e + cf.CDI_NS_PER_UNIT, ifc.nsPerUnit, true);
    }
    m.setUint32(st + cf.CD_BUF, s.buf.byteOffset, true);
    m.setUint32(st + cf.CD_FLAGS, (src.verifyChecksums ? cf.CDF_VERIFY : 0) | (pcap ? cf.CDF_PCAP : 0) | (this.outgoing ? cf.CDF_NODE_SENDS : 0) | (direct ? cf.CDF_DIRECT : 0), true);
    if (pcap) {
      const c = r.pcapClock;
      m.setUint32(st + cf.CD_SEC0, c.sec0, true);
      m.setFloat64(st + cf.CD_FRAC0, c.frac0, true);
      m.setUint32(st + cf.CD_FRAC_MULT, c.fracMult, true);
    }
    m.setUint32(st + cf.CD_NIF, nif, true);
    m.setUint32(st + cf.CD_IFS, ifs, true);
    // the skip kinds already counted: the decoder counts those (the summary lists kinds in the order they came)
    m.setUint32(st + cf.CD_PRESENT, (src.hasSkipped(ARP) ? cf.CDP_ARP : 0) | (src.hasSkipped(IPV6) ? cf.CDP_IPV6 : 0)
      | (src.hasSkipped(SKIP_FORWARDED) ? cf.CDP_OUT_FWD : 0) | (src.hasSkipped(SKIP_ANSWER) ? cf.CDP_OUT_ANSWER : 0)
      | (src.hasSkipped(SKIP_OTHER) ? cf.CDP_OUT_OTHER : 0) | (src.hasSkipped(SKIP_LOOPBACK) ? cf.CDP_LOOPBACK : 0), true);
    let records = 0, outgoing = 0, arp = 0, ipv6 = 0, outFwd = 0, outAnswer = 0, outOther = 0, loopback = 0;
    for (;;) {
      m.setUint32(st + cf.CD_POS, s.pos, true);
      m.setUint32(st + cf.CD_END, s.end, true);
      m.setUint32(st + cf.CD_OUT, direct ? dv.byteOffset + base + n * abi.PKT_SIZE : this.scratch, true);
      // into the scratch area a few descriptors at a time: it stays in the CPU cache for the copy
      m.setUint32(st + cf.CD_MAX, direct ? max - n : Math.min(max - n, SCRATCH_CHUNK), true);
      m.setUint32(st + cf.CD_N0, n, true);
      const k = core.capture_decode(st);
      const got = m.getUint32(st + cf.CD_RECORDS, true);
      s.pos = m.getUint32(st + cf.CD_POS, true);
      if (got > 0) {
        records += got;
        r.frame += got;
        r.recordOffset = s.base + m.getUint32(st + cf.CD_LAST_REC, true);
        r.tsNs = m.getFloat64(st + cf.CD_LAST_TS, true);
        src.clamped += m.getUint32(st + cf.CD_CLAMPED, true);
        src.csumUnverified += m.getUint32(st + cf.CD_UNVERIFIED, true);
        outgoing += m.getUint32(st + cf.CD_OUTGOING, true);
        arp += m.getUint32(st + cf.CD_ARP, true);
        ipv6 += m.getUint32(st + cf.CD_IPV6, true);
        outFwd += m.getUint32(st + cf.CD_OUT_FWD, true);
        outAnswer += m.getUint32(st + cf.CD_OUT_ANSWER, true);
        outOther += m.getUint32(st + cf.CD_OUT_OTHER, true);
        loopback += m.getUint32(st + cf.CD_LOOPBACK, true);
        src.nodeSends += m.getUint32(st + cf.CD_NODE_SENDS, true);
        if (cp) src.copiesPaired += m.getUint32(st + cf.CD_PAIRED, true);
      }
      if (k > 0 && !direct) {
        const to = dv.byteOffset + base + n * abi.PKT_SIZE;
        copyInputFields(this.memU8, this.memI32, this.scratch, this.toU8, this.toI32, to, k);
      }
      // copies paired with descriptors copied out before this call: patched in the batch
      if (cp && got > 0) {
        const np = m.getUint32(cp + cf.CP_NPATCH, true);
        for (let i = 0; i < np; i++) {
          const pp = cp + cf.CP_PATCHES + i * cf.CPP_SIZE, q = base + m.getUint32(pp + cf.CPP_INDEX, true) * abi.PKT_SIZE;
          dv.setUint32(q + abi.PKT_SEEN_SRC, m.getUint32(pp + cf.CPP_SRC, true), true);
          dv.setUint32(q + abi.PKT_SEEN_DST, m.getUint32(pp + cf.CPP_DST, true), true);
          dv.setUint32(q + abi.PKT_SEEN_SPORT, m.getUint32(pp + cf.CPP_PORTS, true), true);
          dv.setUint8(q + abi.PKT_SEEN_OIF, m.getUint32(pp + cf.CPP_OIF, true));
        }
      }
      n += k;
      const stop = m.getUint32(st + cf.CD_STOP, true);
      if (n >= max) break;
      if (stop === cf.CDS_FULL) continue;
      if (stop !== cf.CDS_NEED) break;
      // the next record is not all in the buffer: read on (the reader's own refill), unless it cannot
      if (s.ensure(m.getUint32(st + cf.CD_NEED, true)) !== 1) break;
    }
    if (records > 0) {
      // the anchors the decoder moved back to the reader's interfaces
      const movedLo = m.getUint32(st + cf.CD_MOVED, true), movedHi = m.getUint32(st + cf.CD_MOVED + 4, true);
      for (let i = 0; i < nif; i++) {
        if (((i < 32 ? movedLo >>> i : movedHi >>> (i - 32)) & 1) === 0) continue;
        const ifc = sec[i]!, e = ifs + i * cf.CDI_SIZE;
        ifc.aHi = m.getUint32(e + cf.CDI_AHI, true);
        ifc.aLo = m.getUint32(e + cf.CDI_ALO, true);
        ifc.aNs = m.getFloat64(e + cf.CDI_ANS, true);
      }
      if (arp > 0) src.countSkipped(ARP, arp);
      if (ipv6 > 0) src.countSkipped(IPV6, ipv6);
      // (the one kind the decoder may count first: nothing else is counted while it runs)
      if (outgoing > 0) src.countSkipped(SKIP_OUTGOING, outgoing);
      if (outFwd > 0) src.countSkipped(SKIP_FORWARDED, outFwd);
      if (outAnswer > 0) src.countSkipped(SKIP_ANSWER, outAnswer);
      if (outOther > 0) src.countSkipped(SKIP_OTHER, outOther);
      if (loopback > 0) src.countSkipped(SKIP_LOOPBACK, loopback);
      src.fastRecords += records;
    }
    return n;
  }
}

/**
 * Descriptors a full fill holds back at most for the next (PcapSource.fillAfter):
 * as many as the candidates a forwarded copy is looked for among.
 */
const HOLD_MAX = cf.CP_SLOTS;

/** Word indices of writeDescriptor's input fields: [0, PKT_OUT_INNER_SRC) and the word at PKT_INNER_ICMP_TYPE. */
const IN_WORDS = abi.PKT_OUT_INNER_SRC >> 2, W_INNER_ICMP = abi.PKT_INNER_ICMP_TYPE >> 2, PKT_WORDS = abi.PKT_SIZE >> 2;

/** Copies the input fields of `k` descriptors at `from` in the core's memory to `to` in a batch buffer (the bytes writeDescriptor writes; the rest untouched). */
function copyInputFields(a8: Uint8Array, a32: Int32Array, from: number, b8: Uint8Array, b32: Int32Array, to: number, k: number): void {
  if ((to & 3) === 0) {
    for (let d = 0, p = from >> 2, q = to >> 2; d < k; d++, p += PKT_WORDS, q += PKT_WORDS) {
      for (let i = 0; i < IN_WORDS; i++) b32[q + i] = a32[p + i]!;
      b32[q + W_INNER_ICMP] = a32[p + W_INNER_ICMP]!;
    }
    return;
  }
  for (let d = 0, p = from, q = to; d < k; d++, p += abi.PKT_SIZE, q += abi.PKT_SIZE) {
    b8.set(a8.subarray(p, p + abi.PKT_OUT_INNER_SRC), q);
    b8.set(a8.subarray(p + abi.PKT_INNER_ICMP_TYPE, p + abi.PKT_INNER_ICMP_TYPE + 4), q + abi.PKT_INNER_ICMP_TYPE);
  }
}
