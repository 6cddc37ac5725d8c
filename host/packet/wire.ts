/**
 * IPv4 packets as bytes on the wire -> packet descriptors (abi.ts), with no
 * allocation per packet: `parseIPv4` fills a reused WireFields, then
 * `writeDescriptor` writes exactly the input fields `encodePacket`
 * (input.ts) writes for the same packet given as JSONL, and
 * `packetInputFromBytes` gives that JSONL PacketInput.
 *
 * What is read: the IPv4 header (ip_rcv_core's checks: version, IHL,
 * header checksum, total length), TCP (ports, flags, seq, ack, window, data
 * offset, and the options conntrack reads, as tcp_options()/tcp_sack() in
 * net/netfilter/nf_conntrack_proto_tcp.c parse them), UDP and UDP-Lite
 * (ports, coverage), SCTP and DCCP ports, ICMP (type, code, echo id/seq, the
 * header quoted by an error), and the transport checksum verdict computed
 * from the bytes (CSUM_OK / CSUM_BAD / CSUM_NONE).
 */
import * as abi from "../core/abi.js";
import { ipOptionsCompile, ipOptionsEcho } from "./ipopts.js";
import { formatIPv4 } from "../util/ipv4.js";
import { tcpFlagsToLetters, writeDccpOptions, type PacketInput } from "./input.js";

/** parseIPv4 results. */
export const WIRE_OK = 0;
/**
 * A fragment (MF set or offset > 0): reassembled by host/packet/defrag.ts
 * when the node runs conntrack (nf_defrag_ipv4), else not replayed.
 */
export const WIRE_FRAGMENT = 1;
/** Malformed or too short: WireFields.problem / problemAt say what and where. */
export const WIRE_ERROR = 2;
/**
 * A header ip_rcv_core rejects (WireFields.ipError: IPERR_*): a packet the
 * kernel drops with its counters, replayed as such (src, dst, proto, ttl
 * and id as the header's bytes say; len the bytes that arrived).
 */
export const WIRE_IP_ERROR = 3;

/** The decoded header fields of one packet (reused from packet to packet). */
export class WireFields {
  src = 0; dst = 0; proto = 0; ttl = 0; tos = 0; len = 0; id = 0; df = false;
  sport = 0; dport = 0; tcpFlags = 0; seq = 0; ack = 0; win = 0; doff = 0;
  /** Window-scale shift + 1 (0 = absent). */
  wscale = 0;
  /** TO_* bits. */
  topts = 0;
  sack = 0;
  /** UDP-Lite: the coverage; UDP: the length field when it is not the transport length (udpLen). */
  cscov = 0;
  /** UDP: PF_UDP_LEN, PF_UDP_LEN_BAD and PF_NF_CSUM_OK (abi.ts) for a length field that is not the transport length; 0 otherwise. */
  udpLen = 0;
  icmpType = 0; icmpCode = 0; icmpId = 0; icmpSeq = 0;
  /** The packet is an ICMP error quoting a header (the inner* fields). */
  hasInner = false;
  innerSrc = 0; innerDst = 0; innerProto = 0; innerSport = 0; innerDport = 0; innerIcmpType = 0; innerIcmpCode = 0;
  /** SCTP: verification tag, INIT/INIT ACK initiate tag, chunk types, T flags, zero-length chunks, SCTPF_* flags. */
  vtag = 0; initTag = 0; nchunks = 0;
  readonly chunkTypes = new Uint8Array(abi.SCTP_MAX_CHUNKS);
  /** SCTP: the chunks' flags bytes (PKT_SCTP_CHUNK_FLAGS). */
  readonly chunkFlags = new Uint8Array(abi.SCTP_MAX_CHUNKS);
  tflags = 0; zerolen = 0; sctpFlags = 0;
  /** DCCP: the generic header's packet type and DCCPF_* (PKT_DCCP_TYPE, PKT_DCCP_FLAGS). */
  dccpType = 0; dccpFlags = 0;
  /** DCCP: the option types dccp_find_option's walk finds, bit t & 7 of byte t >> 3 (valid when hasDccpOpts). */
  readonly dccpOpts = new Uint8Array(32);
  hasDccpOpts = false;
  csum = abi.CSUM_OK;
  /** What ip_rcv_core finds wrong with the header (IPERR_*; WIRE_IP_ERROR). */
  ipError = abi.IPERR_NONE;
  /**
   * PKT_RCV_PAD: the bytes on the wire after the datagram's total length
   * (link-layer padding, a trailer), which ip_rcv_core's IpExtInOctets
   * counts; 0 for a header it rejects (len is then all the bytes).
   */
  rcvPad = 0;
  /**
   * IPCB(skb)->frag_max_size of a datagram conntrack reassembled (the total
   * length of its largest fragment; PKT_FRAG_MAX); 0 otherwise. parseIPv4
   * clears it; the reassembler sets it after parsing the datagram.
   */
  fragMax = 0;
  /** The header's option words, IHL - 5 (PF_IP_OPTS_MASK); the options' verdict is `ipError` (IPERR_SRR, IPERR_OPTIONS + pp_ptr). */
  ipOptWords = 0;
  /** PKT_IP_OPT_ECHO: the length of the options the node's answers echo (IP_OPT_ECHO_FAILS: none sent); with ipOptWords only. */
  ipOptEcho = 0;
  /** PKT_IP_OPT_FADDR: the first hop of an echoed source route (with IP_OPT_ECHO_SRR). */
  ipOptFaddr = 0;
  /**
   * PKT_L4_BYTES: 0 when the transport header is sound; else 1 + the
   * transport bytes the whole datagram carries (at most 255): a header the
   * kernel finds too short or malformed (abi.ts says which). `doff` then
   * holds TCP's raw data offset, or an ICMP error's quoted IHL.
   */
  l4Bytes = 0;
  /** The transport checksum could not be checked (payload cut by the snaplen, or checking off). */
  csumUnverified = false;
  /** Offset (from the IP header) of the transport header. */
  l4 = 0;
  /** Error text (WIRE_ERROR) and its offset from the IP header start. */
  problem = "";
  problemAt = 0;
}

/** ICMP types that quote the offending header (icmp_is_err / conntrack's icmp_error). */
export function isIcmpError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** Protocols whose first four transport bytes are source and destination ports. */
export function hasPorts(proto: number): boolean {
  return proto === 6 || proto === 17 || proto === 136 || proto === 132 || proto === 33;
}

function u16(b: Uint8Array, o: number): number { return (b[o]! << 8) | b[o + 1]!; }
function u32(b: Uint8Array, o: number): number { return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0; }

let u32Buf: ArrayBufferLike | undefined;
let u32View: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/**
 * Ones'-complement sum of bytes [o, o+n) added to `sum` (unfolded; exact in
 * a double). Long runs at a 4-byte aligned address are summed as native
 * (little-endian) 32-bit words and byte-swapped once at the end (RFC 1071,
 * "byte order independence").
 */
export function csumAdd(b: Uint8Array, o: number, n: number, sum: number): number {
  let i = o;
  const end = o + n;
  let s = sum;
  const abs = b.byteOffset + o;
  if (n >= 64 && (abs & 1) === 0) {
    if ((abs & 2) !== 0) { s += (b[i]! << 8) | b[i + 1]!; i += 2; }
    if (b.buffer !== u32Buf) { u32Buf = b.buffer; u32View = new Uint32Array(b.buffer, 0, b.buffer.byteLength >>> 2); }
    const w0 = (b.byteOffset + i) >>> 2;
    const w1 = w0 + ((end - i) >>> 2);
    // two sums of 16-bit halves (int32 up to 32767 words, exact doubles beyond): integer adds, no
    // floating-point dependency chain; congruent to the word sum modulo 0xffff, so the same fold
    const view = u32View;
    let lo = 0, hi = 0, k = w0;
    for (const w4 = w0 + ((w1 - w0) & ~3); k < w4; k += 4) {
      const a = view[k]!, b2 = view[k + 1]!, c = view[k + 2]!, d = view[k + 3]!;
      lo += (a & 0xffff) + (b2 & 0xffff) + (c & 0xffff) + (d & 0xffff);
      hi += (a >>> 16) + (b2 >>> 16) + (c >>> 16) + (d >>> 16);
    }
    for (; k < w1; k++) { const v = view[k]!; lo += v & 0xffff; hi += v >>> 16; }
    let le = lo + hi;
    i += (w1 - w0) << 2;
    // fold the little-endian sum to 16 bits, then swap its bytes into network order
    le = csumFold(le);
    s += ((le & 0xff) << 8) | (le >>> 8);
  }
  const end4 = i + ((end - i) & ~3);
  for (; i < end4; i += 4) s += ((b[i]! << 8) | b[i + 1]!) + ((b[i + 2]! << 8) | b[i + 3]!);
  if (i + 2 <= end) { s += (b[i]! << 8) | b[i + 1]!; i += 2; }
  if (i < end) s += b[i]! << 8;
  return s;
}

/** Folds a sum to 16 bits (not complemented). */
export function csumFold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

/**
 * The IPv4 header checksum of the `ihl` bytes at b[o..] is right (sums to
 * 0xffff): at most 30 words, summed inline (an int sum below 2^21, folded twice).
 */
function headerSumOk(b: Uint8Array, o: number, ihl: number): boolean {
  let s = 0;
  const end = o + ihl;
  for (let i = o; i < end; i += 4) s += ((b[i]! << 8) | b[i + 1]!) + ((b[i + 2]! << 8) | b[i + 3]!);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

/**
 * A packet ip_rcv_core drops for `err`: the header fields as its bytes say
 * (those captured), no transport fields, `len` the bytes that arrived.
 */
function ipError(b: Uint8Array, o: number, cap: number, wire: number, w: WireFields, err: number): number {
  w.ipError = err;
  w.len = Math.min(wire, 65535);
  w.rcvPad = 0;
  w.tos = cap > 1 ? b[o + 1]! : 0;
  w.id = cap >= 6 ? u16(b, o + 4) : 0;
  w.df = cap >= 8 && (b[o + 6]! & 0x40) !== 0;
  w.ttl = cap > 8 ? b[o + 8]! : 0;
  w.proto = cap > 9 ? b[o + 9]! : 0;
  w.src = cap >= 16 ? u32(b, o + 12) : 0;
  w.dst = cap >= 20 ? u32(b, o + 16) : 0;
  w.sport = 0; w.dport = 0; w.tcpFlags = 0; w.seq = 0; w.ack = 0; w.win = 0; w.doff = 0; w.wscale = 0; w.topts = 0; w.sack = 0;
  w.vtag = 0; w.initTag = 0; w.nchunks = 0; w.tflags = 0; w.zerolen = 0; w.sctpFlags = 0; w.dccpType = 0; w.dccpFlags = 0; w.hasDccpOpts = false;
  w.cscov = 0; w.udpLen = 0; w.icmpType = 0; w.icmpCode = 0; w.icmpId = 0; w.icmpSeq = 0; w.hasInner = false;
  w.csum = abi.CSUM_OK;
  w.csumUnverified = false;
  w.l4Bytes = 0;
  w.l4 = 0;
  return WIRE_IP_ERROR;
}

function fail(w: WireFields, at: number, problem: string): number {
  w.problem = problem;
  w.problemAt = at;
  return WIRE_ERROR;
}

/** Marks the transport header malformed: `n` bytes of it are in the datagram (PKT_L4_BYTES). */
function malformed(w: WireFields, n: number): void {
  w.l4Bytes = 1 + Math.min(n, 254);
}

/** TCP/UDP/UDP-Lite/SCTP/DCCP ports of a transport header with at least 4 bytes. */
function ports(b: Uint8Array, t: number, n: number, w: WireFields): void {
  if (n < 4) return;
  w.sport = u16(b, t);
  w.dport = u16(b, t + 2);
}

/**
 * Parses the IPv4 packet at b[o..]: `cap` bytes captured, `wire` bytes on
 * the wire (cap < wire when the capture's snaplen cut the frame). With
 * `verify` false the transport checksum is taken as correct (CSUM_OK).
 */
export function parseIPv4(b: Uint8Array, o: number, cap: number, wire: number, w: WireFields, verify = true): number {
  // ip_rcv_core's checks, in its order: a header the kernel rejects is a
  // packet it drops (WIRE_IP_ERROR); bytes the capture did not keep (snaplen)
  // are damage to the capture (WIRE_ERROR)
  w.ipError = abi.IPERR_NONE;
  w.fragMax = 0;
  w.ipOptWords = 0;
  w.ipOptEcho = 0;
  w.ipOptFaddr = 0;
  if (wire < 20) return ipError(b, o, cap, wire, w, abi.IPERR_HDR); // pskb_may_pull(skb, sizeof(struct iphdr)) fails
  if (cap < 20) return fail(w, 0, `${cap} bytes captured, too short for an IPv4 header (20)`);
  const vihl = b[o]!;
  const ihl = (vihl & 15) * 4;
  if (vihl >> 4 !== 4 || ihl < 20) return ipError(b, o, cap, wire, w, abi.IPERR_HDR);
  // past the version/IHL check ip_rcv_core counts the ECN codepoint: the errors below are after it
  if (wire < ihl) return ipError(b, o, cap, wire, w, abi.IPERR_HDR_LEN); // pskb_may_pull(skb, iph->ihl*4) fails
  if (cap < ihl) return fail(w, 0, `${cap} bytes captured, too short for the IPv4 header of ${ihl} bytes`);
  if (!headerSumOk(b, o, ihl)) return ipError(b, o, cap, wire, w, abi.IPERR_CSUM);
  const len = u16(b, o + 2);
  if (len > wire) return ipError(b, o, cap, wire, w, abi.IPERR_TRUNCATED);
  if (len < ihl) return ipError(b, o, cap, wire, w, abi.IPERR_HDR_LEN);
  // the bytes after the datagram (padding, a trailer): skb->len at IpExtInOctets still holds them
  w.rcvPad = Math.min(wire - len, 65535);
  if (ihl > 20) {
    // ip_rcv_options runs after PREROUTING and input routing: the packet is
    // decoded in full, and the core drops it there (ipopts.ts, assembly/ipv4/rcv.ts)
    w.ipOptWords = (ihl - 20) >> 2;
    const v = ipOptionsCompile(b, o, ihl);
    if (v.ppPtr !== 0) w.ipError = abi.IPERR_OPTIONS + v.ppPtr;
    else if (v.srr) w.ipError = abi.IPERR_SRR;
    const echo = ipOptionsEcho(b, o, v);
    w.ipOptEcho = echo === null ? abi.IP_OPT_ECHO_FAILS : echo.length | (echo.faddr ? abi.IP_OPT_ECHO_SRR : 0);
    w.ipOptFaddr = echo?.faddr ?? 0;
  }
  const frag = u16(b, o + 6);
  w.df = (frag & 0x4000) !== 0;
  if (frag & 0x3fff) return WIRE_FRAGMENT;
  w.tos = b[o + 1]!;
  w.len = len;
  w.id = u16(b, o + 4);
  w.ttl = b[o + 8]!;
  const proto = b[o + 9]!;
  w.proto = proto;
  w.src = u32(b, o + 12);
  w.dst = u32(b, o + 16);
  w.sport = 0; w.dport = 0; w.tcpFlags = 0; w.seq = 0; w.ack = 0; w.win = 0; w.doff = 0; w.wscale = 0; w.topts = 0; w.sack = 0;
  w.vtag = 0; w.initTag = 0; w.nchunks = 0; w.tflags = 0; w.zerolen = 0; w.sctpFlags = 0; w.dccpType = 0; w.dccpFlags = 0; w.hasDccpOpts = false;
  w.cscov = 0; w.udpLen = 0; w.icmpType = 0; w.icmpCode = 0; w.icmpId = 0; w.icmpSeq = 0; w.hasInner = false;
  w.csum = abi.CSUM_OK;
  w.csumUnverified = false;
  w.l4Bytes = 0;
  w.l4 = ihl;
  const t = o + ihl;
  const l4len = len - ihl;
  // every byte of the datagram was captured: a transport header too short
  // for its protocol is the packet's own (traffic the kernel handles,
  // PKT_L4_BYTES), not capture damage
  const full = cap >= len;
  // the transport checksum can only be checked when the whole datagram was captured
  const whole = verify && full;
  // every transport checksum something reads (TCP, UDP, UDP-Lite, ICMP; REJECT's sum of the others but SCTP, GRE, AH, ESP)
  if (!verify || !whole) w.csumUnverified = proto !== 132 && rejectSumsPayload(proto);
  const pseudo = whole ? csumAdd(b, o + 12, 8, proto + l4len) : 0;
  switch (proto) {
    case 6: {
      if (l4len < 20) {
        if (!full) return fail(w, ihl, `too short for a TCP header (${Math.min(l4len, cap - ihl)} bytes)`);
        // tcp_v4_rcv: pskb_may_pull(skb, sizeof(struct tcphdr)) fails; only the ports are read (conntrack's tuple)
        malformed(w, l4len);
        ports(b, t, l4len, w);
        if (l4len >= 13) w.doff = b[t + 12]! >> 4;
        w.csumUnverified = false;
        break;
      }
      if (cap < ihl + 20) return fail(w, ihl, `too short for a TCP header (${cap - ihl} bytes captured)`);
      w.sport = u16(b, t);
      w.dport = u16(b, t + 2);
      w.seq = u32(b, t + 4);
      w.ack = u32(b, t + 8);
      const doff = b[t + 12]! >> 4;
      w.doff = doff;
      w.tcpFlags = b[t + 13]!;
      w.win = u16(b, t + 14);
      if (doff < 5 || doff * 4 > l4len) {
        // a data offset below 5, or beyond the datagram (tcp_v4_rcv, tcp_error): no options are read
        if (!full) return fail(w, ihl + 12, doff < 5 ? `TCP data offset ${doff} is below 5` : `TCP data offset ${doff} (${doff * 4} bytes) overruns the packet`);
        malformed(w, l4len);
        w.csumUnverified = false;
        // only REJECT reads it then (nf_reject_ip_tcphdr_get -> nf_ip_checksum, over the bytes there are)
        if (whole) w.csum = csumFold(csumAdd(b, t, l4len, pseudo)) === 0xffff ? abi.CSUM_OK : abi.CSUM_BAD;
        break;
      }
      if (ihl + doff * 4 > cap) return fail(w, ihl + 12, `TCP data offset ${doff} (${doff * 4} bytes) overruns the captured bytes`);
      tcpOptions(b, t + 20, doff * 4 - 20, w);
      tcpMssOption(b, t + 20, doff * 4 - 20, w);
      if (whole) w.csum = csumFold(csumAdd(b, t, l4len, pseudo)) === 0xffff ? abi.CSUM_OK : abi.CSUM_BAD;
      break;
    }
    case 17:
    case 136: {
      if (l4len < 8) {
        if (!full) return fail(w, ihl, `too short for a ${proto === 17 ? "UDP" : "UDP-Lite"} header (${Math.min(l4len, cap - ihl)} bytes)`);
        // __udp4_lib_rcv: pskb_may_pull(skb, sizeof(struct udphdr)) fails
        malformed(w, l4len);
        ports(b, t, l4len, w);
        w.csumUnverified = false;
        // only REJECT reads it then (nf_send_unreach: nf_reject_verify_csum cannot read the
        // checksum field, so nf_ip_checksum sums the bytes there are)
        if (whole && proto === 17) w.csum = csumFold(csumAdd(b, t, l4len, pseudo)) === 0xffff ? abi.CSUM_OK : abi.CSUM_BAD;
        break;
      }
      if (cap < ihl + 8) return fail(w, ihl, `too short for a ${proto === 17 ? "UDP" : "UDP-Lite"} header (${cap - ihl} bytes captured)`);
      w.sport = u16(b, t);
      w.dport = u16(b, t + 2);
      const ck = u16(b, t + 6);
      if (proto === 136) w.cscov = u16(b, t + 4);
      const ulen = u16(b, t + 4);
      if (proto === 17 && ulen !== l4len) {
        // a length field that is not the transport length: beyond it or below 8, udp_error's
        // "truncated/malformed packet" and __udp4_lib_rcv's short_packet; below it (and 8 or
        // more), __udp4_lib_rcv trims the datagram to it (pskb_trim_rcsum)
        w.cscov = ulen;
        w.udpLen = abi.PF_UDP_LEN | (ulen < 8 || ulen > l4len ? abi.PF_UDP_LEN_BAD : 0);
      }
      const trimmed = w.udpLen === abi.PF_UDP_LEN;
      if (ck === 0) { w.csum = abi.CSUM_NONE; w.csumUnverified = false; break; }
      // a checksum that cannot be checked is taken as correct, netfilter's too
      if (trimmed) w.udpLen |= abi.PF_NF_CSUM_OK;
      if (!whole) break;
      if (proto === 17) {
        // nf_ip_checksum (conntrack, REJECT) sums every transport byte, their count in the pseudo-header
        const all = csumFold(csumAdd(b, t, l4len, pseudo)) === 0xffff;
        if (trimmed) {
          // __udp4_lib_rcv sums the ulen bytes it kept, ulen in the pseudo-header (udp4_csum_init)
          if (!all) w.udpLen &= ~abi.PF_NF_CSUM_OK;
          const upseudo = csumAdd(b, o + 12, 8, proto + ulen);
          w.csum = csumFold(csumAdd(b, t, ulen, upseudo)) === 0xffff ? abi.CSUM_OK : abi.CSUM_BAD;
        } else {
          w.csum = all ? abi.CSUM_OK : abi.CSUM_BAD;
        }
      } else {
        // UDP-Lite covers cscov bytes (0 = all); a coverage below the header or past the datagram is invalid (udplite_error)
        const cov = w.cscov === 0 ? l4len : w.cscov;
        if (cov < 8 || cov > l4len) w.csum = abi.CSUM_BAD;
        else w.csum = csumFold(csumAdd(b, t, cov, pseudo)) === 0xffff ? abi.CSUM_OK : abi.CSUM_BAD;
      }
      break;
    }
    case 132: {
      if (l4len < 12) {
        if (!full) return fail(w, ihl, `too short for an SCTP common header (${Math.min(l4len, cap - ihl)} bytes)`);
        // sctp_error: "short packet" (conntrack needs 4 bytes for the ports of its tuple); no chunks
        malformed(w, l4len);
        ports(b, t, l4len, w);
        break;
      }
      if (cap < ihl + 12) return fail(w, ihl, `too short for an SCTP common header (${cap - ihl} bytes captured)`);
      w.sport = u16(b, t);
      w.dport = u16(b, t + 2);
      w.vtag = u32(b, t + 4);
      const st = sctpChunks(b, t, Math.min(l4len, cap - ihl), w, full);
      if (st !== WIRE_OK) return st;
      if (whole) {
        const want = (b[t + 8]! | (b[t + 9]! << 8) | (b[t + 10]! << 16) | (b[t + 11]! << 24)) >>> 0;
        w.csum = sctpCrc(b, t, l4len) === want ? abi.CSUM_OK : abi.CSUM_BAD;
      } else w.csumUnverified = true;
      break;
    }
    case 33: {
      if (l4len < 4) {
        if (!full) return fail(w, ihl, `too short for the ports of protocol ${proto}`);
        // DCCP without its ports: only -m multiport reads them here (it hotdrops); the
        // kernel has no DCCP tracker (the generic one reads no ports)
        malformed(w, l4len);
        break;
      }
      if (cap < ihl + 4) return fail(w, ihl, `too short for the ports of protocol ${proto}`);
      w.sport = u16(b, t);
      w.dport = u16(b, t + 2);
      if (l4len < 12) {
        // the ports, not the generic header (struct dccp_hdr) dccp_mt reads: it hotdrops
        if (!full) return fail(w, ihl, `too short for a DCCP header (${Math.min(l4len, cap - ihl)} bytes)`);
        w.dccpFlags = abi.DCCPF_SHORT;
        break;
      }
      if (cap < ihl + 12) return fail(w, ihl, `too short for a DCCP header (${cap - ihl} bytes captured)`);
      w.dccpType = (b[t + 8]! >> 1) & 15; // dccph_type: bits 4..1 of the ninth byte
      // the options dccp_find_option reads: from __dccp_hdr_len to the data offset
      const hdr = ((b[t + 8]! & 1) !== 0 ? 16 : 12) + dccpPacketHdrLen(w.dccpType);
      const doff = b[t + 4]! * 4;
      // (no options: not read at all; beyond the packet: skb_header_pointer fails, "partial")
      if (doff < hdr || (doff > hdr && doff > l4len)) w.dccpFlags = abi.DCCPF_OPT_HOTDROP;
      else if (doff > hdr) {
        if (cap < ihl + doff) return fail(w, ihl + 4, `DCCP data offset ${doff >> 2} (${doff} bytes) overruns the captured bytes`);
        dccpOptions(b, t + hdr, doff - hdr, w);
      }
      break;
    }
    case 1: {
      if (l4len < 8) {
        if (!full) return fail(w, ihl, `too short for an ICMP header (${Math.min(l4len, cap - ihl)} bytes)`);
        // icmp_rcv: the checksum is checked, then pskb_pull(skb, sizeof(*icmph)) fails;
        // icmp_send reads the type (one byte) to never answer an error
        malformed(w, l4len);
        if (l4len >= 1) w.icmpType = b[t]!;
        if (l4len >= 2) w.icmpCode = b[t + 1]!;
        if (whole) w.csum = csumFold(csumAdd(b, t, l4len, 0)) === 0xffff ? abi.CSUM_OK : abi.CSUM_BAD;
        break;
      }
      if (cap < ihl + 8) return fail(w, ihl, `too short for an ICMP header (${cap - ihl} bytes captured)`);
      const type = b[t]!;
      w.icmpType = type;
      w.icmpCode = b[t + 1]!;
      if (isIcmpError(type)) {
        // the quoted header: IPv4 header + the first 8 bytes of its payload
        const q = t + 8;
        const qlen = l4len - 8; // quoted bytes in the datagram
        const qcap = Math.min(cap, len) - ihl - 8; // ... and captured
        if (qcap < Math.min(qlen, 20)) return fail(w, ihl + 8, `ICMP error quotes ${Math.max(qcap, 0)} bytes, too short for the offending IPv4 header`);
        // neither icmp_unreach nor conntrack's ipv4_get_l4proto looks at the version; icmp_unreach drops an IHL below 5
        const qihl = qlen >= 20 ? (b[q]! & 15) * 4 : 0;
        // icmp_unreach / icmp_redirect need 20 bytes, icmp_socket_deliver the quoted header and 8 bytes
        const bad = qlen < 20 || qihl < 20 || qlen < qihl + 8;
        if (bad && !full) return fail(w, ihl + 8, `ICMP error quotes ${Math.max(qcap, 0)} bytes, too short for the offending header and 8 bytes of its payload`);
        if (!bad && qcap < qihl + 8) return fail(w, ihl + 8, `ICMP error quotes ${qcap} bytes, too short for the offending header and 8 bytes of its payload`);
        if (bad) { malformed(w, l4len); w.doff = qihl >> 2; }
        // the quoted tuple as nf_ct_get_tuplepr reads it: the addresses, the protocol, then
        // from IHL*4 bytes in, 4 bytes of ports or an 8-byte ICMP header (none for others)
        const ip = qlen >= 20 ? b[q + 9]! : 0;
        const need = ip === 1 ? 8 : hasPorts(ip) ? 4 : 0;
        w.innerIcmpType = 0;
        w.innerIcmpCode = 0;
        if (qlen >= 20 && qlen >= qihl + need) {
          w.hasInner = true;
          w.innerSrc = u32(b, q + 12);
          w.innerDst = u32(b, q + 16);
          w.innerProto = ip;
          const qt = q + qihl;
          if (ip === 1) {
            w.innerIcmpType = b[qt]!;
            w.innerIcmpCode = b[qt + 1]!;
            w.innerSport = u16(b, qt + 4);
            w.innerDport = u16(b, qt + 6);
          } else if (hasPorts(ip)) {
            w.innerSport = u16(b, qt);
            w.innerDport = u16(b, qt + 2);
          } else {
            w.innerSport = 0;
            w.innerDport = 0;
          }
        }
      } else {
        w.icmpId = u16(b, t + 4);
        w.icmpSeq = u16(b, t + 6);
      }
      if (whole) w.csum = csumFold(csumAdd(b, t, l4len, 0)) === 0xffff ? abi.CSUM_OK : abi.CSUM_BAD;
      break;
    }
    default:
      // REJECT's nf_send_unreach checks every protocol nf_reject_verify_csum does not exempt
      if (whole && rejectSumsPayload(proto)) w.csum = nfSumsRight(b, t, l4len) ? abi.CSUM_OK : abi.CSUM_BAD;
      break;
  }
  // DCCP too (the kernel has no DCCP stack any more, and nf_reject_verify_csum no exemption for it)
  if (proto === 33 && whole) w.csum = nfSumsRight(b, t, l4len) ? abi.CSUM_OK : abi.CSUM_BAD;
  return WIRE_OK;
}

/**
 * nf_ip_checksum's verdict for a protocol other than TCP and UDP: it sums
 * from skb->data, the IP header, which a valid header makes one's-complement
 * zero (0xffff), so the transport bytes are right when they sum to zero
 * either way: 0xffff, or 0 (all zero, or none).
 */
function nfSumsRight(b: Uint8Array, t: number, n: number): boolean {
  const sum = csumFold(csumAdd(b, t, n, 0));
  return sum === 0xffff || sum === 0;
}

/**
 * The protocols without a transport parser here whose bytes REJECT's ICMP
 * answers check (nf_reject_verify_csum: not GRE, AH, ESP, which have other
 * integrity checks).
 */
export function rejectSumsPayload(proto: number): boolean {
  return proto !== 47 && proto !== 50 && proto !== 51;
}

/**
 * The SCTP chunks as conntrack walks them (for_each_sctp_chunk in
 * nf_conntrack_proto_sctp.c): 4-byte chunk headers while the packet lasts,
 * each advancing by its length rounded up to 4; a zero length ends the walk
 * (do_basic_checks finds it). INIT / INIT ACK: the initiate tag follows the
 * chunk header, when the 16-byte init header fits in the packet.
 */
function sctpChunks(b: Uint8Array, t: number, n: number, w: WireFields, full: boolean): number {
  let off = 12;
  while (off + 4 <= n) {
    if (w.nchunks === abi.SCTP_MAX_CHUNKS) return fail(w, 0, `SCTP packet with more than ${abi.SCTP_MAX_CHUNKS} chunks: more than nodeplane models`);
    const i = w.nchunks++;
    const type = b[t + off]!;
    const len = u16(b, t + off + 2);
    w.chunkTypes[i] = type;
    w.chunkFlags[i] = b[t + off + 1]!;
    if (b[t + off + 1]! & 1) w.tflags |= 1 << i;
    if (type === 1 || type === 2) {
      if (off + 4 + 16 <= n) w.initTag = u32(b, t + off + 4);
      else w.sctpFlags |= abi.SCTPF_NO_INITHDR;
    }
    if (len === 0) { w.zerolen |= 1 << i; return WIRE_OK; }
    off += (len + 3) & ~3;
  }
  // 1..3 bytes after the last chunk: a chunk header xt_sctp's walk cannot read (SCTPF_TAIL)
  if (full && off < n) w.sctpFlags |= abi.SCTPF_TAIL;
  return WIRE_OK;
}

/** dccp_packet_hdr_len (include/linux/dccp.h): the type's subheader after the generic header. */
function dccpPacketHdrLen(type: number): number {
  if (type === 2) return 0; // DATA
  if (type === 3 || type === 4 || type === 5 || type === 6 || type === 8 || type === 9) return 8; // dccp_hdr_ack_bits
  if (type === 0) return 4; // REQUEST: dccp_hdr_request
  return 12; // RESPONSE: dccp_hdr_response; RESET and the rest: dccp_hdr_reset
}

/** The option types dccp_find_option's walk finds in b[s, s+n): types below 2 are one byte, others skip their length (0 as 1). */
function dccpOptions(b: Uint8Array, s: number, n: number, w: WireFields): void {
  w.hasDccpOpts = true;
  const m = w.dccpOpts;
  m.fill(0);
  for (let i = 0; i < n;) {
    const o = b[s + i]!;
    m[o >> 3] |= 1 << (o & 7);
    if (o < 2) i++;
    else i += (i + 1 < n ? b[s + i + 1]! : 0) || 1; // a length beyond the options ends the walk either way
  }
}

const CRC32C = (() => {
  const tab = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    tab[i] = c >>> 0;
  }
  return tab;
})();

/** SCTP's CRC32c of the packet at b[t..t+n) with its checksum field taken as zero (sctp_compute_cksum), as the field's little-endian value. */
export function sctpCrc(b: Uint8Array, t: number, n: number): number {
  let c = 0xffffffff;
  for (let i = 0; i < n; i++) {
    const v = i >= 8 && i < 12 ? 0 : b[t + i]!;
    c = CRC32C[(c ^ v) & 0xff]! ^ (c >>> 8);
  }
  return ~c >>> 0;
}

/** TCP options conntrack reads: window scale, SACK-permitted, SACK blocks (tcp_options / tcp_sack). */
function tcpOptions(b: Uint8Array, o: number, n: number, w: WireFields): void {
  let i = o;
  const end = o + n;
  while (i < end) {
    const kind = b[i]!;
    if (kind === 0) return; // TCPOPT_EOL
    if (kind === 1) { i++; continue; } // TCPOPT_NOP
    if (i + 1 >= end) return;
    const size = b[i + 1]!;
    if (size < 2 || i + size > end) return; // "silly options" / partial option: the kernel stops
    if (kind === 3 && size === 3) {
      w.wscale = Math.min(b[i + 2]!, 14) + 1; // TCP_MAX_WSCALE
    } else if (kind === 4 && size === 2) {
      w.topts |= abi.TO_SACK_PERM;
    } else if (kind === 5 && size >= 10 && (size - 2) % 8 === 0) {
      for (let k = i + 2; k < i + size; k += 8) {
        const right = u32(b, k + 4);
        // the highest right edge in sequence space (after())
        if (!(w.topts & abi.TO_SACK) || ((right - w.sack) | 0) > 0) w.sack = right;
        w.topts |= abi.TO_SACK;
      }
    }
    i += size;
  }
}

/**
 * The MSS option as tcpmss_mt (xt_tcpmss.c) walks the options, which is not
 * tcp_options' walk: EOL and NOP both step one byte (the walk goes on past
 * EOL), a zero length steps one byte, and the first kind-2 option of length
 * 4 that fits is taken. Its value goes where PKT_TCP_MSS lies (icmpSeq), TO_MSS.
 */
function tcpMssOption(b: Uint8Array, o: number, n: number, w: WireFields): void {
  let i = 0;
  while (i < n) {
    const kind = b[o + i]!;
    if (kind === 2 && n - i >= 4 && b[o + i + 1] === 4) {
      w.icmpSeq = u16(b, o + i + 2);
      w.topts |= abi.TO_MSS;
      return;
    }
    if (kind < 2) i++;
    else i += (i + 1 < n ? b[o + i + 1]! : 0) || 1;
  }
}

/**
 * Writes descriptor `p`'s input fields from `w` (as encodePacket writes
 * the same packet from JSONL). `flags` adds PF_* bits (PF_L2_OTHER);
 * `timeNs` is split into the two u32 halves of PKT_TIME.
 *
 * Little-endian hosts (the WASM memory's byte order) write whole 32-bit
 * words through an Int32Array over the buffer (FAST_WORDS, checked against
 * the field-by-field writer when this module loads); others, and unaligned
 * descriptors, write field by field through the DataView.
 */
export function writeDescriptor(w: WireFields, u8: Uint8Array, dv: DataView, p: number, iif: number, flags: number, timeNs: number): void {
  const abs = dv.byteOffset + p;
  if (FAST_WORDS && (abs & 3) === 0) {
    if (dv !== i32Dv || i32View.length === 0) { i32Dv = dv; i32View = new Int32Array(dv.buffer, 0, dv.buffer.byteLength >>> 2); }
    writeWords(w, i32View, abs >> 2, iif, flags, timeNs);
    if (w.proto === 132) writeSctp(w, u8, dv, p);
    else if (w.proto === 33) writeDccp(w, u8, p);
    return;
  }
  writeFields(w, u8, dv, p, iif, flags, timeNs);
}

/** The word view of the last DataView written through (a grown WASM memory comes with a new DataView). */
let i32Dv: DataView | undefined;
let i32View: Int32Array<ArrayBufferLike> = new Int32Array(0);

function descriptorFlags(w: WireFields, flags: number): number {
  let fl = flags | abi.PF_SRC_SET;
  if (w.df) fl |= abi.PF_DF;
  if (w.hasInner) fl |= abi.PF_INNER;
  return fl | w.udpLen | (w.ipOptWords << abi.PF_IP_OPTS_SHIFT);
}

/** Word indices of the descriptor fields writeWords writes (module constants: no namespace load per packet). */
const
  W_ACK = abi.PKT_ACK >> 2,
  W_CSUM = abi.PKT_CSUM >> 2,
  W_DST = abi.PKT_DST >> 2,
  W_GID = abi.PKT_GID >> 2,
  W_ICMP_ID = abi.PKT_ICMP_ID >> 2,
  W_IIF = abi.PKT_IIF >> 2,
  W_INNER_DST = abi.PKT_INNER_DST >> 2,
  W_INNER_ICMP_TYPE = abi.PKT_INNER_ICMP_TYPE >> 2,
  W_INNER_PROTO = abi.PKT_INNER_PROTO >> 2,
  W_INNER_SPORT = abi.PKT_INNER_SPORT >> 2,
  W_INNER_SRC = abi.PKT_INNER_SRC >> 2,
  W_LEN = abi.PKT_LEN >> 2,
  W_MARK = abi.PKT_MARK >> 2,
  W_PROTO = abi.PKT_PROTO >> 2,
  W_SEQ = abi.PKT_SEQ >> 2,
  W_SPORT = abi.PKT_SPORT >> 2,
  W_SRC = abi.PKT_SRC >> 2,
  W_TCP_SACK = abi.PKT_TCP_SACK >> 2,
  W_TCP_WSCALE = abi.PKT_TCP_WSCALE >> 2,
  W_TIME = abi.PKT_TIME >> 2,
  W_UID = abi.PKT_UID >> 2,
  W_VERDICT = abi.PKT_VERDICT >> 2,
  W_WIN = abi.PKT_WIN >> 2;

/**
 * The input fields as 32-bit little-endian words at word index q: words
 * 0 .. PKT_OUT_INNER_SRC / 4 and the word at PKT_INNER_ICMP_TYPE, in the
 * layout of assembly/abi.ts (FAST_WORDS checks it matches).
 */
function writeWords(w: WireFields, a: Int32Array<ArrayBufferLike>, q: number, iif: number, flags: number, timeNs: number): void {
  const tcp = w.proto === 6, inner = w.hasInner;
  a[q + W_SRC] = w.src;
  a[q + W_DST] = w.dst;
  a[q + W_SPORT] = w.sport | (w.dport << 16);
  a[q + W_PROTO] = w.proto | (w.tcpFlags << 8) | (w.ttl << 16) | (w.tos << 24);
  a[q + W_LEN] = w.len | (descriptorFlags(w, flags) << 16);
  a[q + W_IIF] = iif | (w.rcvPad << 16); // + PKT_RCV_PAD (over PKT_BOUND_OIF)
  a[q + W_MARK] = 0;
  a[q + W_SEQ] = w.seq;
  a[q + W_ACK] = w.ack;
  a[q + W_WIN] = w.win | (w.icmpType << 16) | (w.icmpCode << 24);
  a[q + W_ICMP_ID] = w.icmpId | (w.id << 16);
  a[q + W_INNER_SRC] = inner ? w.innerSrc : 0;
  a[q + W_INNER_DST] = inner ? w.innerDst : 0;
  a[q + W_INNER_SPORT] = inner ? w.innerSport | (w.innerDport << 16) : 0;
  a[q + W_INNER_PROTO] = (inner ? w.innerProto : 0) | (tcp || w.l4Bytes !== 0 ? w.doff << 8 : 0) | (w.icmpSeq << 16);
  a[q + W_UID] = w.ipOptEcho; // PKT_IP_OPT_ECHO, the low byte
  // the two u32 halves without a floating-point remainder (a C call): exact below 2^53
  const hi = Math.floor(timeNs / 4294967296);
  a[q + W_TIME] = timeNs - hi * 4294967296;
  a[q + W_TIME + 1] = hi;
  for (let k = q + W_VERDICT, end = q + W_TCP_WSCALE; k < end; k++) a[k] = 0;
  a[q + W_TCP_WSCALE] = (tcp ? w.wscale | (w.topts << 8) : 0) | (w.cscov << 16);
  a[q + W_TCP_SACK] = tcp ? w.sack : 0;
  a[q + W_GID] = w.ipOptFaddr; // PKT_IP_OPT_FADDR
  a[q + W_CSUM] = w.csum | (w.ipError << 8) | (w.fragMax << 16);
  a[q + W_INNER_ICMP_TYPE] = (inner ? w.innerIcmpType | (w.innerIcmpCode << 8) : 0) | (w.l4Bytes << 24); // + PKT_CPU 0
}

function writeSctp(w: WireFields, u8: Uint8Array, dv: DataView, p: number): void {
  dv.setUint32(p + abi.PKT_SCTP_VTAG, w.vtag, true);
  dv.setUint32(p + abi.PKT_SCTP_INIT_TAG, w.initTag, true);
  u8[p + abi.PKT_SCTP_NCHUNKS] = w.nchunks;
  for (let i = 0; i < w.nchunks; i++) u8[p + abi.PKT_SCTP_CHUNKS + i] = w.chunkTypes[i]!;
  u8[p + abi.PKT_SCTP_TFLAGS] = w.tflags;
  u8[p + abi.PKT_SCTP_ZEROLEN] = w.zerolen;
  u8[p + abi.PKT_SCTP_FLAGS] = w.sctpFlags;
  for (let i = 0; i < w.nchunks; i++) u8[p + abi.PKT_SCTP_CHUNK_FLAGS + i] = w.chunkFlags[i]!;
}

function writeDccp(w: WireFields, u8: Uint8Array, p: number): void {
  u8[p + abi.PKT_DCCP_TYPE] = w.dccpType;
  u8[p + abi.PKT_DCCP_FLAGS] = w.dccpFlags;
  if (w.hasDccpOpts) writeDccpOptions(w.dccpOpts, u8, p);
}


/** The field-by-field writer (any host byte order, any alignment). */
function writeFields(w: WireFields, u8: Uint8Array, dv: DataView, p: number, iif: number, flags: number, timeNs: number): void {
  // zero the input fields [0, PKT_OUT_INNER_SRC) 8 bytes at a time (inlined stores, no builtin call per packet)
  for (let i = 0; i < abi.PKT_OUT_INNER_SRC; i += 8) dv.setFloat64(p + i, 0);
  dv.setUint32(p + abi.PKT_INNER_ICMP_TYPE, 0, true); // inner type, code, cpu, l4 bytes
  dv.setUint32(p + abi.PKT_SRC, w.src, true);
  dv.setUint32(p + abi.PKT_DST, w.dst, true);
  dv.setUint16(p + abi.PKT_SPORT, w.sport, true);
  dv.setUint16(p + abi.PKT_DPORT, w.dport, true);
  u8[p + abi.PKT_PROTO] = w.proto;
  u8[p + abi.PKT_TCPFLAGS] = w.tcpFlags;
  u8[p + abi.PKT_TTL] = w.ttl;
  u8[p + abi.PKT_TOS] = w.tos;
  dv.setUint16(p + abi.PKT_LEN, w.len, true);
  dv.setUint16(p + abi.PKT_IIF, iif, true);
  dv.setUint16(p + abi.PKT_RCV_PAD, w.rcvPad, true);
  dv.setUint32(p + abi.PKT_SEQ, w.seq, true);
  dv.setUint32(p + abi.PKT_ACK, w.ack, true);
  dv.setUint16(p + abi.PKT_WIN, w.win, true);
  u8[p + abi.PKT_ICMP_TYPE] = w.icmpType;
  u8[p + abi.PKT_ICMP_CODE] = w.icmpCode;
  dv.setUint16(p + abi.PKT_ICMP_ID, w.icmpId, true);
  dv.setUint16(p + abi.PKT_ICMP_SEQ, w.icmpSeq, true);
  dv.setUint16(p + abi.PKT_IPID, w.id, true);
  u8[p + abi.PKT_CSUM] = w.csum;
  u8[p + abi.PKT_IP_ERROR] = w.ipError;
  u8[p + abi.PKT_IP_OPT_ECHO] = w.ipOptEcho;
  dv.setUint32(p + abi.PKT_IP_OPT_FADDR, w.ipOptFaddr, true);
  dv.setUint16(p + abi.PKT_FRAG_MAX, w.fragMax, true);
  dv.setUint16(p + abi.PKT_CSCOV, w.cscov, true);
  u8[p + abi.PKT_L4_BYTES] = w.l4Bytes;
  // a malformed header's raw TCP data offset, or an ICMP error's quoted IHL (abi.ts PKT_L4_BYTES)
  if (w.proto === 6 || w.l4Bytes !== 0) u8[p + abi.PKT_TCP_DOFF] = w.doff;
  if (w.proto === 6) {
    u8[p + abi.PKT_TCP_WSCALE] = w.wscale;
    u8[p + abi.PKT_TCP_OPTS] = w.topts;
    dv.setUint32(p + abi.PKT_TCP_SACK, w.sack, true);
  }
  if (w.hasInner) {
    dv.setUint32(p + abi.PKT_INNER_SRC, w.innerSrc, true);
    dv.setUint32(p + abi.PKT_INNER_DST, w.innerDst, true);
    dv.setUint16(p + abi.PKT_INNER_SPORT, w.innerSport, true);
    dv.setUint16(p + abi.PKT_INNER_DPORT, w.innerDport, true);
    u8[p + abi.PKT_INNER_PROTO] = w.innerProto;
    u8[p + abi.PKT_INNER_ICMP_TYPE] = w.innerIcmpType;
    u8[p + abi.PKT_INNER_ICMP_CODE] = w.innerIcmpCode;
  }
  // over fields these protocols do not have (the SCTP chunk flags over the inner addresses)
  if (w.proto === 132) writeSctp(w, u8, dv, p);
  else if (w.proto === 33) writeDccp(w, u8, p);
  dv.setUint16(p + abi.PKT_FLAGS, descriptorFlags(w, flags), true);
  dv.setUint32(p + abi.PKT_TIME, timeNs % 4294967296, true);
  dv.setUint32(p + abi.PKT_TIME + 4, Math.floor(timeNs / 4294967296), true);
}

/**
 * Whether the word writer is used: a little-endian host, and for packets
 * of every kind with every field set (random values, fixed seed), it writes
 * the very bytes the field-by-field writer writes, bytes outside the input
 * fields untouched. A descriptor layout the word writer does not match
 * (assembly/abi.ts changed) turns it off: slower, never wrong.
 */
/** The WireFields the word writer knows (written, or not descriptor fields). */
const WORD_FIELDS = new Set<string>(["src", "dst", "proto", "ttl", "tos", "len", "id", "df", "sport", "dport", "tcpFlags", "seq", "ack", "win", "doff",
  "wscale", "topts", "sack", "cscov", "icmpType", "icmpCode", "icmpId", "icmpSeq", "hasInner", "innerSrc", "innerDst", "innerProto", "innerSport",
  "innerDport", "innerIcmpType", "innerIcmpCode", "vtag", "initTag", "nchunks", "chunkTypes", "chunkFlags", "tflags", "zerolen", "sctpFlags",
  "dccpType", "dccpFlags", "dccpOpts", "hasDccpOpts", "csum", "ipError", "rcvPad",
  "fragMax", "ipOptWords", "ipOptEcho", "ipOptFaddr", "l4Bytes", "csumUnverified", "l4", "problem", "problemAt", "udpLen"]);

export const FAST_WORDS: boolean = (() => {
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) return false;
  let x = 0x9e3779b9;
  const rnd = (bits: number): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return bits === 32 ? x >>> 0 : (x >>> 0) % (1 << bits); };
  const a = new Uint8Array(abi.PKT_SIZE * 2), b = new Uint8Array(abi.PKT_SIZE * 2);
  const adv = new DataView(a.buffer), bdv = new DataView(b.buffer);
  const words = new Int32Array(b.buffer);
  for (let t = 0; t < 64; t++) {
    const w = new WireFields();
    w.proto = [6, 17, 1, 132, 136, 47, 33][t % 7]!;
    w.src = rnd(32); w.dst = rnd(32); w.ttl = rnd(8); w.tos = rnd(8); w.len = rnd(16); w.id = rnd(16); w.df = rnd(1) === 1;
    w.sport = rnd(16); w.dport = rnd(16); w.tcpFlags = rnd(8); w.seq = rnd(32); w.ack = rnd(32); w.win = rnd(16); w.doff = rnd(4);
    w.wscale = rnd(4); w.topts = rnd(2); w.sack = rnd(32); w.cscov = rnd(16);
    w.icmpType = rnd(8); w.icmpCode = rnd(8); w.icmpId = rnd(16); w.icmpSeq = rnd(16); w.hasInner = rnd(1) === 1;
    w.innerSrc = rnd(32); w.innerDst = rnd(32); w.innerProto = rnd(8); w.innerSport = rnd(16); w.innerDport = rnd(16); w.innerIcmpType = rnd(8); w.innerIcmpCode = rnd(8);
    w.vtag = rnd(32); w.initTag = rnd(32); w.nchunks = rnd(3); for (let i = 0; i < w.nchunks; i++) { w.chunkTypes[i] = rnd(8); w.chunkFlags[i] = rnd(8); }
    w.tflags = rnd(8); w.zerolen = rnd(8); w.sctpFlags = rnd(8); w.dccpType = rnd(4); w.dccpFlags = rnd(2); w.hasDccpOpts = rnd(1) === 1; for (let i = 0; i < 32; i++) w.dccpOpts[i] = rnd(8); w.csum = rnd(2); w.ipError = rnd(2); w.fragMax = rnd(16); w.rcvPad = rnd(16);
    w.l4Bytes = rnd(2) ? 0 : rnd(8);
    w.udpLen = rnd(1) ? 0 : abi.PF_UDP_LEN | (rnd(1) ? abi.PF_UDP_LEN_BAD : 0) | (rnd(1) ? abi.PF_NF_CSUM_OK : 0);
    // a field added to WireFields (and to the field writer) after the word writer was written: set it,
    // so that a word writer that does not write it fails this check
    for (const k of Object.keys(w) as (keyof WireFields)[]) {
      if (WORD_FIELDS.has(k)) continue;
      const v = w[k] as unknown;
      if (typeof v === "number") (w as unknown as Record<string, number>)[k] = 1 + rnd(6);
      else if (typeof v === "boolean") (w as unknown as Record<string, boolean>)[k] = true;
    }
    const iif = rnd(16), flags = rnd(1) ? abi.PF_L2_OTHER : 0, ts = rnd(32) * 65536 + rnd(16);
    a.fill(0xa5); b.fill(0xa5);
    const p = abi.PKT_SIZE;
    writeFields(w, a, adv, p, iif, flags, ts);
    writeWords(w, words, p >> 2, iif, flags, ts);
    if (w.proto === 132) writeSctp(w, b, bdv, p);
    else if (w.proto === 33) writeDccp(w, b, p);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  }
  return true;
})();

function firstInit(w: WireFields): number {
  for (let i = 0; i < w.nchunks; i++) if (w.chunkTypes[i] === 1 || w.chunkTypes[i] === 2) return i;
  return -1;
}

const CSUM_WORD = ["ok", "bad", "none"] as const;
const IPERR_WORD: Record<number, NonNullable<PacketInput["ip_error"]>> = { [abi.IPERR_HDR]: "hdr", [abi.IPERR_HDR_LEN]: "hdr_len", [abi.IPERR_CSUM]: "csum", [abi.IPERR_TRUNCATED]: "truncated" };

/**
 * The packet in `w` as a JSONL PacketInput arriving on `iif` at `tNs`
 * (ns) with link-layer packet type `pktType`: replaying it through
 * `Engine.process` gives the same result as the descriptor writeDescriptor
 * writes with pktTypeFlags(pktType).
 */
export function packetInputFrom(w: WireFields, iif: string, tNs: number, pktType: NonNullable<PacketInput["pkt_type"]> = "host"): PacketInput {
  const p: PacketInput = { iif, src: formatIPv4(w.src), dst: formatIPv4(w.dst), proto: w.proto, ttl: w.ttl, tos: w.tos, len: w.len, id: w.id, df: w.df, t: tNs / 1e9 };
  if (w.proto === 6 || w.proto === 17) p.proto = w.proto === 6 ? "tcp" : "udp";
  else if (w.proto === 1) p.proto = "icmp";
  if (hasPorts(w.proto)) { p.sport = w.sport; p.dport = w.dport; }
  if (w.proto === 6) {
    p.flags = tcpFlagsToLetters(w.tcpFlags);
    p.seq = w.seq; p.ack = w.ack; p.win = w.win; p.doff = w.doff;
    if (w.wscale) p.wscale = w.wscale - 1;
    if (w.topts & abi.TO_SACK_PERM) p.sackok = true;
    if (w.topts & abi.TO_SACK) p.sack = w.sack;
    if (w.topts & abi.TO_MSS) p.mss = w.icmpSeq;
  }
  if (w.proto === 136) p.cscov = w.cscov;
  if (w.udpLen !== 0) {
    // a UDP length field that is not the transport length (abi.ts PF_UDP_LEN)
    p.ulen = w.cscov;
    if (w.udpLen & abi.PF_NF_CSUM_OK) p.nf_csum = "ok";
  }
  if (w.proto === 132 && w.l4Bytes === 0) {
    const chunks: NonNullable<PacketInput["sctp"]>["chunks"] = [];
    let tagGiven = false;
    for (let i = 0; i < w.nchunks; i++) {
      const type = w.chunkTypes[i]!;
      const c: NonNullable<PacketInput["sctp"]>["chunks"][number] = { type };
      if (w.tflags & (1 << i)) c.t = true;
      if (w.chunkFlags[i]! & 0xfe) c.flags = w.chunkFlags[i]!;
      if (w.zerolen & (1 << i)) c.len = 0;
      if (type === 1 || type === 2) {
        // the descriptor keeps one initiate tag (the last readable one) and whether some INIT chunk was short
        if (!tagGiven && (w.sctpFlags & abi.SCTPF_NO_INITHDR) && i === firstInit(w)) c.short = true;
        else { c.init_tag = w.initTag; tagGiven = true; }
      }
      chunks.push(c);
    }
    p.sctp = { vtag: w.vtag, chunks };
    if (w.sctpFlags & abi.SCTPF_TAIL) p.sctp.tail = true;
  }
  // a short DCCP header (DCCPF_SHORT) is told by len
  if (w.proto === 33 && w.l4Bytes === 0 && !(w.dccpFlags & abi.DCCPF_SHORT)) {
    p.dccp = { type: w.dccpType };
    if (w.dccpFlags & abi.DCCPF_OPT_HOTDROP) p.dccp.bad_options = true;
    else if (w.hasDccpOpts) {
      const opts: number[] = [];
      for (let t = 0; t < 256; t++) if (w.dccpOpts[t >> 3]! & (1 << (t & 7))) opts.push(t);
      p.dccp.options = opts;
    }
  }
  if (w.proto === 1) {
    p.icmp_type = w.icmpType; p.icmp_code = w.icmpCode; p.icmp_id = w.icmpId; p.icmp_seq = w.icmpSeq;
    if (w.hasInner) {
      const ip = w.innerProto;
      p.inner = { src: formatIPv4(w.innerSrc), dst: formatIPv4(w.innerDst), proto: ip === 6 ? "tcp" : ip === 17 ? "udp" : ip === 1 ? "icmp" : ip };
      if (ip === 1) { p.inner.icmp_type = w.innerIcmpType; p.inner.icmp_code = w.innerIcmpCode; p.inner.icmp_id = w.innerSport; p.inner.icmp_seq = w.innerDport; }
      else { p.inner.sport = w.innerSport; p.inner.dport = w.innerDport; }
    }
  }
  if (w.l4Bytes !== 0) {
    // a malformed transport header: its bytes, and an ICMP error's quoted IHL (abi.ts PKT_L4_BYTES)
    p.l4_bytes = w.len - w.l4;
    if (w.proto === 1 && isIcmpError(w.icmpType) && w.len - w.l4 >= 28) p.quote_ihl = w.doff;
  }
  p.csum = CSUM_WORD[w.csum];
  // IPv4 options have no JSONL form (ipopts.ts): a capture's packets with options replay from the capture only
  if (w.ipOptWords !== 0) throw new Error(`an IPv4 header with options (IHL ${5 + w.ipOptWords}) has no JSONL form`);
  if (w.ipError !== abi.IPERR_NONE) p.ip_error = IPERR_WORD[w.ipError];
  if (w.fragMax !== 0) p.frag_max = w.fragMax;
  if (w.rcvPad !== 0) p.pad = w.rcvPad;
  if (pktType !== "host") p.pkt_type = pktType;
  return p;
}

/** The PF_* bits of a link-layer packet type (what JSONL `pkt_type` sets). */
export function pktTypeFlags(pktType: NonNullable<PacketInput["pkt_type"]>): number {
  return pktType === "host" ? 0 : pktType === "otherhost" ? abi.PF_L2_OTHER | abi.PF_OTHERHOST
    : pktType === "multicast" ? abi.PF_L2_OTHER | abi.PF_L2_MCAST : abi.PF_L2_OTHER;
}

/**
 * The IPv4 packet at b[o..o+cap) (wire length `wire`, default cap) as a JSONL
 * PacketInput arriving on `iif` at `tNs` ns. Throws an Error naming the
 * problem for a malformed packet, and for a fragment (not replayed).
 */
export function packetInputFromBytes(b: Uint8Array, o: number, cap: number, iif: string, tNs = 0, wire = cap, verify = true, pktType: NonNullable<PacketInput["pkt_type"]> = "host"): PacketInput {
  const w = new WireFields();
  const st = parseIPv4(b, o, cap, wire, w, verify);
  if (st === WIRE_FRAGMENT) throw new Error("an IPv4 fragment: one fragment is not a packet (the capture replay reassembles fragments when the node runs conntrack)");
  if (st === WIRE_ERROR) throw new Error(`${w.problem} (byte ${w.problemAt} of the IPv4 packet)`);
  return packetInputFrom(w, iif, tNs, pktType);
}
