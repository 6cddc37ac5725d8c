/**
 * Forwarded copies paired with their originals.
 *
 * A capture taken on the node with `tcpdump -i any` (or a dumpcap of several
 * interfaces) holds a forwarded packet twice: the frame arriving (replayed)
 * and the frame the node sent on, after routing and NAT (an outgoing frame
 * node-sends.ts classifies OC_FORWARDED; not replayed, counted as a
 * forwarded copy). The copy shows what the kernel did with the packet, its
 * random choices included (which kube-proxy endpoint the `statistic` match
 * DNATed to, the port `MASQUERADE --random-fully` picked), so the replay
 * pairs each copy with its original and writes the header the copy left
 * with into the original's descriptor: PKT_SEEN_SRC / PKT_SEEN_DST (the
 * copy's IPv4 source and destination), PKT_SEEN_SPORT / PKT_SEEN_DPORT (its
 * TCP or UDP ports; an ICMP echo's identifier in both) and PKT_SEEN_OIF (the
 * slot + 1 of the device the copy was captured on, as the ingress
 * resolution places a frame of that capture interface, SLL2 ifindex or MAC
 * without the source subnets; 0 when it places none or the slot is above
 * 254). PKT_SEEN_DST 0: no copy paired. The copy itself stays skipped and
 * counted as a forwarded copy.
 *
 * The rule (assembly/capture/copies.ts is the same in the core's decoder):
 *  - an original (a candidate) is a frame replayed as an arriving packet
 *    (not a node send, not skipped, not a reassembled datagram, its IPv4
 *    header one ip_rcv accepts) whose header has IHL 5, is not a fragment
 *    (MF clear, offset 0), and carries TCP (6), UDP (17) or an ICMP echo
 *    request or reply (type 8 or 0; the type byte captured);
 *  - a copy is an outgoing frame (not on lo) classified as a forwarded copy
 *    (OutgoingClassifier.classify OC_FORWARDED: header checksum right, IHL
 *    5, no fragment, the datagram captured whole) of the same protocols;
 *  - they pair when all of these are equal: the protocol, the IP total
 *    length, the IP identification, the copy's TTL + 1 and the original's
 *    TTL (ip_forward's ip_decrease_ttl), and 8 transport bytes NAT never
 *    rewrites: TCP bytes 4..11 (sequence and acknowledgement numbers), UDP
 *    bytes 8..15 (the first 8 payload bytes), ICMP echo bytes 6..13 (the
 *    sequence number and 6 payload bytes; the identifier may be NATed).
 *    Bytes past the captured bytes or past the IP total length count as 0
 *    (a short datagram, a snaplen; the Ethernet padding after a datagram
 *    is not its bytes);
 *  - a copy is looked for among the candidates of the current fill (the
 *    descriptors one PcapSource.fill / fillAfter call writes, none handed to
 *    the engine yet), the newest first, the last CP_SLOTS (64) of them at
 *    most; the first that matches is the one, and is used up (a second copy
 *    does not pair with it). A full fill of a capture with forwarded copies
 *    holds its last descriptors (up to CP_SLOTS, up to half the fill's)
 *    back for the next fill, which begins with them, candidates included
 *    (rebase): a copy just after a fill's end finds its original as in the
 *    middle of one. A copy whose original was handed to the engine in an
 *    earlier fill, or that matches none, is not paired.
 * Not paired: SCTP and DCCP (their fields overlay PKT_SEEN_SRC), ICMP errors
 * (PKT_INNER_*, which the seen fields overlay), fragments, headers with
 * options. With --node-sends skip no outgoing frame is classified, so none
 * is a copy; with --forwarded-copies skip nothing is paired (the
 * descriptors are as before).
 *
 * The candidates' ring and the patches live in one block (CP_* in
 * assembly/capture/format.ts): in the core's memory when its decoder runs
 * (host and core decode the frames of one fill in turns and pair across),
 * else in a buffer of its own.
 */
import * as cf from "../../assembly/capture/format.js";
import * as abi from "../core/abi.js";

/** --forwarded-copies: pair each forwarded copy with its original (default), or skip the copies as before. */
export type ForwardedCopiesMode = "pair" | "skip";

const SLOTS = cf.CP_SLOTS;

/**
 * The offset in the transport header of the 8 key bytes of protocol
 * `proto` (ICMP: of an echo whose type is `icmpType`), -1 when a datagram
 * of it is neither an original nor a copy.
 */
export function keyOffset(proto: number, icmpType: number): number {
  return proto === 6 ? 4 : proto === 17 ? 8 : proto === 1 && (icmpType === 8 || icmpType === 0) ? 6 : -1;
}

/** Word offsets of the block's fields (cf.CP_*, cf.CPE_*: 4-byte aligned). */
const W_COUNT = cf.CP_COUNT >> 2, W_RING = cf.CP_RING >> 2, W_ENTRY = cf.CPE_SIZE >> 2;
const W_INDEX = cf.CPE_INDEX >> 2, W_K0 = cf.CPE_K0 >> 2, W_K1 = cf.CPE_K1 >> 2, W_T = cf.CPE_T >> 2;

export class CopyPairer {
  /**
   * The memory the block is in, as words (a new view when the core's memory
   * grew); signed, as the key's words are kept (int32: no heap number per frame).
   */
  private w: Int32Array;
  private buf: ArrayBufferLike;
  /** The block's first word. */
  private readonly a: number;
  /** The key of the frame last looked at (key()): k0, k1, the transport bytes as two little-endian words (int32). */
  private k0 = 0;
  private k1 = 0;
  private t0 = 0;
  private t1 = 0;

  /**
   * A pairer over the block at `at` of `memory` (the core's: shared with its
   * decoder), or over a block of its own.
   */
  constructor(private readonly memory?: { readonly buffer: ArrayBufferLike }, readonly at = 0) {
    if ((at & 3) !== 0) throw new Error("CopyPairer: the block must be 4-byte aligned");
    this.buf = memory ? memory.buffer : new ArrayBuffer(cf.CP_SIZE);
    this.w = new Int32Array(this.buf, 0, this.buf.byteLength >>> 2);
    this.a = at >>> 2;
  }

  /** The block's words (a new view when the core's memory grew). */
  private words(): Int32Array {
    if (this.memory && this.memory.buffer !== this.buf) {
      this.buf = this.memory.buffer;
      this.w = new Int32Array(this.buf, 0, this.buf.byteLength >>> 2);
    }
    return this.w;
  }

  /** A new fill: no candidates. */
  reset(): void {
    this.words()[this.a + W_COUNT] = 0;
  }

  /**
   * A new fill that begins with the `count` descriptors the last one held
   * back from its index `from` (PcapSource.fillAfter), now at index `to`:
   * their candidates stay, renumbered; the others are used up (their
   * descriptors are with the engine).
   */
  rebase(from: number, count: number, to: number): void {
    const w = this.words(), a = this.a;
    const n = w[a + W_COUNT]!;
    for (let j = Math.max(0, n - SLOTS); j < n; j++) {
      const e = a + W_RING + (j & (SLOTS - 1)) * W_ENTRY;
      const i = w[e + W_INDEX]!;
      if (i >= from && i < from + count) w[e + W_INDEX] = i - from + to;
      else w[e + W_K1] = cf.CPE_USED | 0;
    }
  }

  /**
   * The pairing key of the IPv4 datagram at buf[l3..) (`cap` bytes
   * captured) into k0/k1/t0/t1, its TTL raised by `ttlAdd`; false when it
   * is not a candidate (an IHL other than 5, a fragment, another protocol).
   */
  private key(buf: Uint8Array, l3: number, cap: number, ttlAdd: number): boolean {
    if (cap < 20 || buf[l3] !== 0x45 || (((buf[l3 + 6]! << 8) | buf[l3 + 7]!) & 0x3fff) !== 0) return false;
    const ipLen = (buf[l3 + 2]! << 8) | buf[l3 + 3]!;
    const proto = buf[l3 + 9]!;
    // the transport bytes there are (captured and within the datagram)
    const have = Math.min(cap, ipLen) - 20;
    const t = l3 + 20;
    if (proto === 1 && have < 1) return false;
    const off = keyOffset(proto, proto === 1 ? buf[t]! : 0);
    if (off < 0) return false;
    this.k0 = ipLen | (((buf[l3 + 4]! << 8) | buf[l3 + 5]!) << 16);
    this.k1 = proto | ((buf[l3 + 8]! + ttlAdd) << 8);
    const k = t + off;
    if (have >= off + 8) {
      this.t0 = buf[k]! | (buf[k + 1]! << 8) | (buf[k + 2]! << 16) | (buf[k + 3]! << 24);
      this.t1 = buf[k + 4]! | (buf[k + 5]! << 8) | (buf[k + 6]! << 16) | (buf[k + 7]! << 24);
    } else {
      // bytes past those there are count as 0
      let t0 = 0, t1 = 0;
      for (let i = 0; off + i < have; i++) {
        if (i < 4) t0 |= buf[k + i]! << (i * 8);
        else t1 |= buf[k + i]! << ((i - 4) * 8);
      }
      this.t0 = t0;
      this.t1 = t1;
    }
    return true;
  }

  /** A transport u16 at byte i of the `have` there are at t (big-endian; bytes past them as 0). */
  private static u16(buf: Uint8Array, t: number, i: number, have: number): number {
    return (i < have ? buf[t + i]! << 8 : 0) | (i + 1 < have ? buf[t + i + 1]! : 0);
  }

  /**
   * Descriptor `index` of the fill was written from the arriving IPv4
   * datagram at buf[l3..) (`cap` bytes captured, its header one ip_rcv
   * accepts): recorded when it is a candidate.
   */
  original(buf: Uint8Array, l3: number, cap: number, index: number): void {
    if (!this.key(buf, l3, cap, 0)) return;
    const w = this.words(), a = this.a;
    const count = w[a + W_COUNT]!;
    const e = a + W_RING + (count & (SLOTS - 1)) * W_ENTRY;
    w[e + W_INDEX] = index;
    w[e + W_K0] = this.k0;
    w[e + W_K1] = this.k1;
    w[e + W_T] = this.t0;
    w[e + W_T + 1] = this.t1;
    w[a + W_COUNT] = count + 1;
  }

  /**
   * The forwarded copy at buf[l3..) (`cap` bytes captured), captured on the
   * device of slot `slot` (0: none placed): paired with its original when
   * it has one in the fill, whose descriptor (in the batch at
   * `base` + index * PKT_SIZE of `out`) gets the seen fields. True when paired.
   */
  copy(buf: Uint8Array, l3: number, cap: number, slot: number, out: DataView, base: number): boolean {
    if (!this.key(buf, l3, cap, 1)) return false;
    const w = this.words(), a = this.a;
    const count = w[a + W_COUNT]!;
    const k0 = this.k0, k1 = this.k1, t0 = this.t0, t1 = this.t1;
    for (let j = count - 1, last = Math.max(0, count - SLOTS); j >= last; j--) {
      const e = a + W_RING + (j & (SLOTS - 1)) * W_ENTRY;
      if (w[e + W_K1] !== k1 || w[e + W_K0] !== k0 || w[e + W_T] !== t0 || w[e + W_T + 1] !== t1) continue;
      w[e + W_K1] = cf.CPE_USED | 0;
      const p = base + w[e + W_INDEX]! * abi.PKT_SIZE;
      const proto = buf[l3 + 9]!, t = l3 + 20, have = Math.min(cap, (buf[l3 + 2]! << 8) | buf[l3 + 3]!) - 20;
      const sport = CopyPairer.u16(buf, t, proto === 1 ? 4 : 0, have), dport = proto === 1 ? sport : CopyPairer.u16(buf, t, 2, have);
      out.setInt32(p + abi.PKT_SEEN_SRC, (buf[l3 + 12]! << 24) | (buf[l3 + 13]! << 16) | (buf[l3 + 14]! << 8) | buf[l3 + 15]!, true);
      out.setInt32(p + abi.PKT_SEEN_DST, (buf[l3 + 16]! << 24) | (buf[l3 + 17]! << 16) | (buf[l3 + 18]! << 8) | buf[l3 + 19]!, true);
      out.setUint16(p + abi.PKT_SEEN_SPORT, sport, true);
      out.setUint16(p + abi.PKT_SEEN_DPORT, dport, true);
      out.setUint8(p + abi.PKT_SEEN_OIF, seenOif(slot));
      return true;
    }
    return false;
  }
}

/** PKT_SEEN_OIF of a copy captured on the device of slot `slot` (0: none placed). */
export function seenOif(slot: number): number {
  return slot > 0 && slot <= 254 ? slot + 1 : 0;
}
