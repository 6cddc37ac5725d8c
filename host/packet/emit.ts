/**
 * Packets as they leave the node, as bytes (for pcap output):
 *
 *  - `emitPacket`: a captured packet rewritten with the descriptor's output
 *    fields (addresses, ports, TTL, ICMP echo id, the quoted header of an
 *    ICMP error after NAT). Checksums are updated incrementally (RFC 1624)
 *    as the kernel's NAT does (inet_proto_csum_replace4, csum_replace2 in
 *    ip_decrease_ttl), so a packet cut by the capture's snaplen still gets
 *    right checksums; the IPv4 header checksum is recomputed.
 *  - `synthesizePacket`: a packet from a descriptor alone (generated
 *    traffic; the node's own replies from the reply ring: ICMP errors
 *    quoting the offending header, TCP resets, echo replies), with full
 *    checksums (a descriptor with CSUM_BAD gets a wrong one on purpose).
 *
 * Both write into `out` at `oo` and return the number of bytes written.
 */
import * as abi from "../core/abi.js";
import { csumAdd, csumFold, isIcmpError, hasPorts, sctpCrc } from "./wire.js";
import { ipOptionsCompile, ipOptionsEcho, ipOptionsForward } from "./ipopts.js";

/** Size of the quote of an ICMP error: icmp_send's room (576 - IPv4 header - ICMP header). */
export const ICMP_QUOTE_ROOM = 576 - 20 - 8;

function put16(b: Uint8Array, o: number, v: number): void { b[o] = v >>> 8; b[o + 1] = v & 255; }
function put32(b: Uint8Array, o: number, v: number): void { b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 255; b[o + 2] = (v >>> 8) & 255; b[o + 3] = v & 255; }
function get16(b: Uint8Array, o: number): number { return (b[o]! << 8) | b[o + 1]!; }
function get32(b: Uint8Array, o: number): number { return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0; }

/** Sum of a u32 as two 16-bit words. */
function s32(v: number): number { return (v >>> 16) + (v & 0xffff); }

/**
 * A checksum after the summed words changed from `before` to `after`
 * (unfolded sums): RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m').
 */
export function csumAdjust(check: number, before: number, after: number): number {
  const s = (~check & 0xffff) + (~fold(before) & 0xffff) + fold(after);
  return ~fold(s) & 0xffff;
}

/** csumFold with integer shifts for sums below 2^32 (those here: a few words, or a segment of at most 64 KiB). */
function fold(s: number): number {
  if (s > 0xffffffff) return csumFold(s);
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** Recomputes the IPv4 header checksum of the header at b[o..] (its 16-bit words summed in place: a header is 20 to 60 bytes). */
export function ipHeaderChecksum(b: Uint8Array, o: number): void {
  const end = o + (b[o]! & 15) * 4;
  b[o + 10] = 0; b[o + 11] = 0;
  let s = 0;
  for (let i = o; i < end; i += 4) s += ((b[i]! << 8) | b[i + 1]!) + ((b[i + 2]! << 8) | b[i + 3]!);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  b[o + 10] = c >>> 8; b[o + 11] = c & 255;
}

/**
 * Patches the header an ICMP error quotes at b[q..q+qcap) to the inner
 * tuple (src, dst, sport, dport), keeping the inner checksums right.
 */
function patchQuote(b: Uint8Array, q: number, qcap: number, src: number, dst: number, sport: number, dport: number): void {
  const qihl = (b[q]! & 15) * 4;
  const ip = b[q + 9]!;
  const os = get32(b, q + 12);
  const od = get32(b, q + 16);
  put32(b, q + 12, src);
  put32(b, q + 16, dst);
  if (qcap >= qihl) ipHeaderChecksum(b, q);
  const t = q + qihl;
  if (qcap < qihl + 8) return;
  if (ip === 1) {
    // a quoted echo: the id (sport) is what NAT maps; the quoted ICMP checksum follows it
    const oid = get16(b, t + 4);
    put16(b, t + 4, sport);
    put16(b, t + 2, csumAdjust(get16(b, t + 2), oid, sport));
    return;
  }
  if (!hasPorts(ip)) return;
  const osp = get16(b, t), odp = get16(b, t + 2);
  put16(b, t, sport);
  put16(b, t + 2, dport);
  const before = s32(os) + s32(od) + osp + odp;
  const after = s32(src) + s32(dst) + sport + dport;
  if ((ip === 17 || ip === 136) && get16(b, t + 6) !== 0) put16(b, t + 6, csumAdjust(get16(b, t + 6), before, after) || 0xffff);
  else if (ip === 6 && qcap >= qihl + 18) put16(b, t + 16, csumAdjust(get16(b, t + 16), before, after));
}

/**
 * TCPMSS's rewrite of the segment at b[t..t+have): the MSS option its walk
 * finds (tcpmss_mangle_packet: EOL/NOP and zero lengths step one byte) gets
 * `mss`, the TCP checksum updated as inet_proto_csum_replace2 does.
 */
function tcpMssRewrite(b: Uint8Array, t: number, have: number, mss: number): void {
  const hdr = Math.min((b[t + 12]! >> 4) * 4, have);
  for (let i = 20; i <= hdr - 4;) {
    const kind = b[t + i]!;
    if (kind === 2 && b[t + i + 1] === 4) {
      const old = get16(b, t + i + 2);
      put16(b, t + i + 2, mss);
      put16(b, t + 16, csumAdjust(get16(b, t + 16), old, mss));
      return;
    }
    i += kind <= 1 || b[t + i + 1] === 0 ? 1 : b[t + i + 1]!;
  }
}

/**
 * TCPMSS's insertion (the tail of tcpmss_mangle_packet) into the segment at
 * b[t..t+hdr), which is its header alone: the options move back 4 bytes,
 * an MSS option of `mss` goes right after the 20-byte header, the data
 * offset grows by one word, and the TCP checksum is updated as the kernel
 * updates it (the pseudo-header's length, the option's 4 bytes, the data
 * offset's word: inet_proto_csum_replace2/4). The caller makes room for
 * the 4 bytes and updates the IPv4 total length.
 */
function tcpMssInsert(b: Uint8Array, t: number, hdr: number, mss: number): void {
  b.copyWithin(t + 24, t + 20, t + hdr);
  let c = csumAdjust(get16(b, t + 16), hdr, hdr + 4);
  b[t + 20] = 2; b[t + 21] = 4; put16(b, t + 22, mss);
  c = csumAdjust(c, 0, 0x0204 + mss);
  const old = get16(b, t + 12);
  b[t + 12] = b[t + 12]! + 0x10;
  c = csumAdjust(c, old, get16(b, t + 12));
  put16(b, t + 16, c);
}

/**
 * Whether the captured IPv4 packet b[o..o+cap) is a TCP segment (not a
 * fragment) whose whole header is there, as TCPMSS's insertion needs (the
 * core inserts only into a segment without data).
 */
function tcpHeaderWhole(b: Uint8Array, o: number, cap: number): boolean {
  if (cap < 20 || b[o + 9] !== 6 || (get16(b, o + 6) & 0x3fff)) return false;
  const ihl = (b[o]! & 15) * 4;
  const len = Math.min(cap, get16(b, o + 2));
  return len >= ihl + 20 && len >= ihl + (b[o + ihl + 12]! >> 4) * 4;
}

/** Whether the egress bytes of descriptor `p` (captured bytes b[o..o+cap)) get TCPMSS's inserted option (PX_MSS_INSERT). */
export function emitInsertsMss(b: Uint8Array, o: number, cap: number, dv: DataView, p: number): boolean {
  return (dv.getUint8(p + abi.PKT_PX) & abi.PX_MSS_INSERT) !== 0 && tcpHeaderWhole(b, o, cap);
}

/**
 * TCPMSS's change in the quote b[q..q+qlen) of an ICMP error: the option
 * inserted (`insert`: the quote's bytes hold the captured segment, 4 short
 * of qlen; its total length grows by 4), or the option lowered; `mss` the
 * value. The quoted IPv4 header checksum is left to patchQuote.
 */
function quoteMss(b: Uint8Array, q: number, qlen: number, insert: boolean, mss: number): void {
  const qihl = (b[q]! & 15) * 4;
  if (insert) {
    tcpMssInsert(b, q + qihl, qlen - 4 - qihl, mss);
    put16(b, q + 2, get16(b, q + 2) + 4);
  } else if (qlen >= qihl + 20) tcpMssRewrite(b, q + qihl, qlen - qihl, mss);
}

/**
 * The captured IPv4 packet b[o..o+cap) rewritten as descriptor `p` says it
 * leaves, written to out[oo..]. Returns its length (min(cap, total
 * length), 4 more with TCPMSS's inserted option: out needs that room).
 */
export function emitPacket(b: Uint8Array, o: number, cap: number, dv: DataView, p: number, out: Uint8Array, oo: number): number {
  let len = Math.min(cap, get16(b, o + 2));
  out.set(b.subarray(o, o + len), oo);
  const insert = emitInsertsMss(b, o, cap, dv, p);
  if (insert) put16(out, oo + 2, get16(b, o + 2) + 4);
  const ihl = (out[oo]! & 15) * 4;
  const os = get32(out, oo + 12), od = get32(out, oo + 16);
  const ns = dv.getUint32(p + abi.PKT_OUT_SRC, true) || dv.getUint32(p + abi.PKT_SRC, true);
  const nd = dv.getUint32(p + abi.PKT_OUT_DST, true) || dv.getUint32(p + abi.PKT_DST, true);
  const ttl = dv.getUint8(p + abi.PKT_OUT_TTL) || dv.getUint8(p + abi.PKT_TTL);
  put32(out, oo + 12, ns);
  put32(out, oo + 16, nd);
  out[oo + 8] = ttl;
  if (dv.getUint8(p + abi.PKT_PX) & abi.PX_TOS_SET) out[oo + 1] = dv.getUint8(p + abi.PKT_TOS); // a TOS/DSCP target's
  if (ihl > 20 && len >= ihl) ipOptionsForward(out, oo, ihl); // as ip_options_compile and ip_forward_options leave them
  ipHeaderChecksum(out, oo);
  const proto = out[oo + 9]!;
  const t = oo + ihl;
  const frag = get16(out, oo + 6) & 0x3fff;
  if (frag) return len;
  if (insert) {
    // the core's MSS value: the inserted one, or what a later TCPMSS lowered it to
    tcpMssInsert(out, t, len - ihl, dv.getUint16(p + abi.PKT_TCP_MSS, true));
    len += 4;
  }
  const have = len - ihl;
  if (proto === 6 && !insert && (dv.getUint8(p + abi.PKT_PX) & abi.PX_MSS_SET) && have >= 20) tcpMssRewrite(out, t, have, dv.getUint16(p + abi.PKT_TCP_MSS, true));
  if ((proto === 6 || proto === 17 || proto === 136) && have >= 8) {
    const osp = get16(out, t), odp = get16(out, t + 2);
    const nsp = dv.getUint16(p + abi.PKT_OUT_SPORT, true) || dv.getUint16(p + abi.PKT_SPORT, true);
    const ndp = dv.getUint16(p + abi.PKT_OUT_DPORT, true) || dv.getUint16(p + abi.PKT_DPORT, true);
    put16(out, t, nsp);
    put16(out, t + 2, ndp);
    const before = s32(os) + s32(od) + osp + odp;
    const after = s32(ns) + s32(nd) + nsp + ndp;
    if (proto === 6) { if (have >= 18) put16(out, t + 16, csumAdjust(get16(out, t + 16), before, after)); }
    else if (get16(out, t + 6) !== 0) put16(out, t + 6, csumAdjust(get16(out, t + 6), before, after) || 0xffff); // CSUM_MANGLED_0
  } else if ((proto === 132 || proto === 33) && have >= 4) {
    put16(out, t, dv.getUint16(p + abi.PKT_OUT_SPORT, true) || dv.getUint16(p + abi.PKT_SPORT, true));
    put16(out, t + 2, dv.getUint16(p + abi.PKT_OUT_DPORT, true) || dv.getUint16(p + abi.PKT_DPORT, true));
  } else if (proto === 1 && have >= 8) {
    const type = out[t]!;
    if (isIcmpError(type)) {
      if (!(dv.getUint16(p + abi.PKT_FLAGS, true) & abi.PF_INNER)) return len;
      const q = t + 8;
      const qcap = have - 8;
      if (qcap < 20) return len;
      const before = csumAdd(out, q, qcap, 0);
      patchQuote(out, q, qcap,
        dv.getUint32(p + abi.PKT_OUT_INNER_SRC, true) || dv.getUint32(p + abi.PKT_INNER_SRC, true),
        dv.getUint32(p + abi.PKT_OUT_INNER_DST, true) || dv.getUint32(p + abi.PKT_INNER_DST, true),
        dv.getUint16(p + abi.PKT_OUT_INNER_SPORT, true) || dv.getUint16(p + abi.PKT_INNER_SPORT, true),
        dv.getUint16(p + abi.PKT_OUT_INNER_DPORT, true) || dv.getUint16(p + abi.PKT_INNER_DPORT, true));
      // the outer ICMP checksum: recomputed when the whole message is here (nf_nat_icmp_reply_translation), else adjusted
      const whole = cap >= get16(b, o + 2);
      if (whole) { out[t + 2] = 0; out[t + 3] = 0; put16(out, t + 2, ~csumFold(csumAdd(out, t, have, 0)) & 0xffff); }
      else put16(out, t + 2, csumAdjust(get16(out, t + 2), before, csumAdd(out, q, qcap, 0)));
    } else if (type === 0 || type === 8 || (type >= 13 && type <= 18)) {
      const oid = get16(out, t + 4);
      const nid = dv.getUint16(p + abi.PKT_OUT_ICMP_ID, true) || dv.getUint16(p + abi.PKT_ICMP_ID, true);
      if (nid !== oid) { put16(out, t + 4, nid); put16(out, t + 2, csumAdjust(get16(out, t + 2), oid, nid)); }
    }
  }
  return len;
}

/** Where a synthesised packet may copy bytes from: the packet that caused it (the quote of an ICMP error, an echo's payload). */
export interface QuoteSource { bytes: Uint8Array; offset: number; length: number }

function writeIpHeader(out: Uint8Array, oo: number, len: number, dv: DataView, q: number, id: number, opts?: number[]): void {
  out[oo] = 0x45 + (opts ? opts.length >> 2 : 0);
  if (opts) out.set(opts, oo + 20);
  out[oo + 1] = dv.getUint8(q + abi.PKT_TOS);
  put16(out, oo + 2, len);
  put16(out, oo + 4, id);
  put16(out, oo + 6, dv.getUint16(q + abi.PKT_FLAGS, true) & abi.PF_DF ? 0x4000 : 0);
  out[oo + 8] = dv.getUint8(q + abi.PKT_OUT_TTL) || dv.getUint8(q + abi.PKT_TTL) || 64;
  out[oo + 9] = dv.getUint8(q + abi.PKT_PROTO);
  put32(out, oo + 12, dv.getUint32(q + abi.PKT_OUT_SRC, true) || dv.getUint32(q + abi.PKT_SRC, true));
  put32(out, oo + 16, dv.getUint32(q + abi.PKT_OUT_DST, true) || dv.getUint32(q + abi.PKT_DST, true));
  ipHeaderChecksum(out, oo);
}

/**
 * A packet built from descriptor `q` alone (plus, for replies, the bytes of
 * the packet that caused it), written to out[oo..]; returns its length.
 * `out` must have room for PKT_LEN bytes (65535 at most).
 */
export function synthesizePacket(dv: DataView, q: number, out: Uint8Array, oo: number, cause?: QuoteSource): number {
  const proto = dv.getUint8(q + abi.PKT_PROTO);
  const flags = dv.getUint16(q + abi.PKT_FLAGS, true);
  const isReply = (flags & abi.PF_REPLY) !== 0;
  let len = dv.getUint16(q + abi.PKT_LEN, true);
  // the node's answer to a packet with options carries what __ip_options_echo made of them (ipopts.ts)
  const opts = isReply && (flags & abi.PF_IP_OPTS_MASK) ? echoedOptions(flags, cause) : undefined;
  const hl = 20 + (opts ? opts.length : 0);
  if (len < hl) len = hl;
  const t = oo + hl;
  const csumBad = dv.getUint8(q + abi.PKT_CSUM) === abi.CSUM_BAD;
  const csumNone = dv.getUint8(q + abi.PKT_CSUM) === abi.CSUM_NONE;
  const sport = dv.getUint16(q + abi.PKT_OUT_SPORT, true) || dv.getUint16(q + abi.PKT_SPORT, true);
  const dport = dv.getUint16(q + abi.PKT_OUT_DPORT, true) || dv.getUint16(q + abi.PKT_DPORT, true);
  let ipId = dv.getUint16(q + abi.PKT_IPID, true);
  if (proto === 1 && isIcmpError(dv.getUint8(q + abi.PKT_ICMP_TYPE)) && (flags & abi.PF_INNER)) {
    // an ICMP error: PKT_IPID is the quoted packet's id (icmp_send's own id is not modelled: 0)
    const type = dv.getUint8(q + abi.PKT_ICMP_TYPE);
    const qsrc = dv.getUint32(q + abi.PKT_OUT_INNER_SRC, true) || dv.getUint32(q + abi.PKT_INNER_SRC, true);
    const qdst = dv.getUint32(q + abi.PKT_OUT_INNER_DST, true) || dv.getUint32(q + abi.PKT_INNER_DST, true);
    const qsp = dv.getUint16(q + abi.PKT_OUT_INNER_SPORT, true) || dv.getUint16(q + abi.PKT_INNER_SPORT, true);
    const qdp = dv.getUint16(q + abi.PKT_OUT_INNER_DPORT, true) || dv.getUint16(q + abi.PKT_INNER_DPORT, true);
    const iproto = dv.getUint8(q + abi.PKT_INNER_PROTO);
    const qs = t + 8;
    let qlen: number;
    if (cause && cause.length >= 28) {
      // the segment as TCPMSS left it when the error was sent: its MSS option lowered, or 4 bytes inserted
      const qf = dv.getUint8(q + abi.PKT_QUOTE_FLAGS);
      const ins = iproto === 6 && (qf & abi.QF_MSS_INSERT) !== 0 && tcpHeaderWhole(cause.bytes, cause.offset, cause.length) ? 4 : 0;
      qlen = Math.min(cause.length + ins, len - hl - 8, ICMP_QUOTE_ROOM - (hl - 20), get16(cause.bytes, cause.offset + 2) + ins);
      out.set(cause.bytes.subarray(cause.offset, cause.offset + qlen - ins), qs);
      // the quoted TTL as it was when the error was sent (the quoted header's checksum: patchQuote)
      if (qf & abi.QF_TTL) out[qs + 8] = dv.getUint8(q + abi.PKT_QUOTE_TTL);
      if (iproto === 6 && (qf & (abi.QF_MSS_SET | abi.QF_MSS_INSERT))) quoteMss(out, qs, qlen, ins !== 0, dv.getUint16(q + abi.PKT_QUOTE_MSS, true));
      patchQuote(out, qs, qlen, qsrc, qdst, qsp, qdp);
    } else {
      // no bytes of the offending packet: its IPv4 header and the 8 bytes the kernel always quotes
      qlen = 28;
      out.fill(0, qs, qs + 28);
      out[qs] = 0x45;
      put16(out, qs + 2, 28);
      put16(out, qs + 4, ipId);
      out[qs + 8] = 1;
      out[qs + 9] = iproto;
      put32(out, qs + 12, qsrc);
      put32(out, qs + 16, qdst);
      ipHeaderChecksum(out, qs);
      if (iproto === 1) {
        out[qs + 20] = dv.getUint8(q + abi.PKT_INNER_ICMP_TYPE);
        out[qs + 21] = dv.getUint8(q + abi.PKT_INNER_ICMP_CODE);
        put16(out, qs + 24, qsp);
        put16(out, qs + 26, qdp);
      } else if (hasPorts(iproto)) {
        put16(out, qs + 20, qsp);
        put16(out, qs + 22, qdp);
        if (iproto === 17 || iproto === 136) put16(out, qs + 24, 8);
      }
    }
    len = hl + 8 + qlen;
    ipId = 0;
    out[t] = type;
    out[t + 1] = dv.getUint8(q + abi.PKT_ICMP_CODE);
    out[t + 2] = 0; out[t + 3] = 0;
    put32(out, t + 4, dv.getUint32(q + abi.PKT_ICMP_INFO, true));
  } else {
    const l4 = len - hl;
    out.fill(0, t, t + l4);
    if (proto === 6 && l4 >= 20) {
      put16(out, t, sport);
      put16(out, t + 2, dport);
      put32(out, t + 4, dv.getUint32(q + abi.PKT_SEQ, true));
      put32(out, t + 8, dv.getUint32(q + abi.PKT_ACK, true));
      let doff = dv.getUint8(q + abi.PKT_TCP_DOFF) || 5;
      if (doff * 4 > l4) doff = 5;
      out[t + 12] = doff << 4;
      out[t + 13] = dv.getUint8(q + abi.PKT_TCPFLAGS);
      put16(out, t + 14, dv.getUint16(q + abi.PKT_WIN, true));
      // options (what the descriptor carries), NOP-padded
      let k = t + 20;
      const oend = t + doff * 4;
      const ws = dv.getUint8(q + abi.PKT_TCP_WSCALE);
      const topts = dv.getUint8(q + abi.PKT_TCP_OPTS);
      if ((topts & abi.TO_MSS) && k + 4 <= oend) { out[k] = 2; out[k + 1] = 4; put16(out, k + 2, dv.getUint16(q + abi.PKT_TCP_MSS, true)); k += 4; }
      if (ws && k + 3 <= oend) { out[k] = 3; out[k + 1] = 3; out[k + 2] = ws - 1; k += 3; }
      if ((topts & abi.TO_SACK_PERM) && k + 2 <= oend) { out[k] = 4; out[k + 1] = 2; k += 2; }
      if ((topts & abi.TO_SACK) && k + 10 <= oend) {
        const right = dv.getUint32(q + abi.PKT_TCP_SACK, true);
        out[k] = 5; out[k + 1] = 10; put32(out, k + 2, (right - 1) >>> 0); put32(out, k + 6, right); k += 10;
      }
      out.fill(1, k, oend);
    } else if ((proto === 17 || proto === 136) && l4 >= 8) {
      put16(out, t, sport);
      put16(out, t + 2, dport);
      put16(out, t + 4, proto === 17 ? l4 : dv.getUint16(q + abi.PKT_CSCOV, true));
    } else if (proto === 132 && l4 >= 12) {
      put16(out, t, sport);
      put16(out, t + 2, dport);
      put32(out, t + 4, dv.getUint32(q + abi.PKT_SCTP_VTAG, true));
      // the chunks the descriptor lists: 4-byte chunk headers, INIT / INIT ACK with their 16-byte init header
      const nch = dv.getUint8(q + abi.PKT_SCTP_NCHUNKS);
      const tfl = dv.getUint8(q + abi.PKT_SCTP_TFLAGS), zl = dv.getUint8(q + abi.PKT_SCTP_ZEROLEN);
      const short = (dv.getUint8(q + abi.PKT_SCTP_FLAGS) & abi.SCTPF_NO_INITHDR) !== 0;
      let off = 12;
      for (let i = 0; i < nch && off + 4 <= l4; i++) {
        const type = dv.getUint8(q + abi.PKT_SCTP_CHUNKS + i);
        const init = type === 1 || type === 2;
        out[t + off] = type;
        out[t + off + 1] = dv.getUint8(q + abi.PKT_SCTP_CHUNK_FLAGS + i) | ((tfl >> i) & 1);
        if (init && short) { put16(out, t + off + 2, 4); len = 20 + off + 4; break; } // the packet ends inside its init header
        // the last chunk reaches the end of the packet (zero padding would read as more chunks)
        const last = i === nch - 1 && l4 - off >= (init ? 20 : 4);
        const clen = (zl >> i) & 1 ? 0 : last ? l4 - off : init ? 20 : 4;
        put16(out, t + off + 2, clen);
        if (init && off + 20 <= l4) put32(out, t + off + 4, dv.getUint32(q + abi.PKT_SCTP_INIT_TAG, true));
        if (clen === 0) break;
        off += clen;
      }
    } else if (proto === 33 && l4 >= 4) {
      put16(out, t, sport);
      put16(out, t + 2, dport);
      if (l4 >= 12) {
        // the generic header: data offset 3 (12 bytes), the packet type (X clear)
        out[t + 4] = 3;
        out[t + 8] = (dv.getUint8(q + abi.PKT_DCCP_TYPE) & 15) << 1;
      }
    } else if (proto === 1 && l4 >= 8) {
      const type = dv.getUint8(q + abi.PKT_ICMP_TYPE);
      out[t] = type;
      out[t + 1] = dv.getUint8(q + abi.PKT_ICMP_CODE);
      put16(out, t + 4, dv.getUint16(q + abi.PKT_OUT_ICMP_ID, true) || dv.getUint16(q + abi.PKT_ICMP_ID, true));
      put16(out, t + 6, dv.getUint16(q + abi.PKT_ICMP_SEQ, true));
      // an echo reply carries the request's payload
      if (isReply && type === 0 && cause && cause.length > 28) {
        const ihl = (cause.bytes[cause.offset]! & 15) * 4;
        const n = Math.min(l4 - 8, cause.length - ihl - 8);
        if (n > 0) out.set(cause.bytes.subarray(cause.offset + ihl + 8, cause.offset + ihl + 8 + n), t + 8);
      }
    }
  }
  writeIpHeader(out, oo, len, dv, q, ipId, opts);
  const l4 = len - hl;
  // transport checksums over the whole segment
  if (proto === 6 && l4 >= 20) {
    const s = csumAdd(out, oo + 12, 8, 6 + l4);
    put16(out, t + 16, (~csumFold(csumAdd(out, t, l4, s)) & 0xffff) ^ (csumBad ? 1 : 0));
  } else if ((proto === 17 || proto === 136) && l4 >= 8) {
    if (csumNone) put16(out, t + 6, 0);
    else {
      const cov = proto === 136 && dv.getUint16(q + abi.PKT_CSCOV, true) ? Math.min(dv.getUint16(q + abi.PKT_CSCOV, true), l4) : l4;
      let c = ~csumFold(csumAdd(out, t, cov, csumAdd(out, oo + 12, 8, proto + l4))) & 0xffff;
      if (c === 0) c = 0xffff;
      put16(out, t + 6, csumBad ? c ^ 1 || 1 : c);
    }
  } else if (proto === 132 && l4 >= 12) {
    const c = (sctpCrc(out, t, l4) ^ (csumBad ? 1 : 0)) >>> 0;
    out[t + 8] = c & 255; out[t + 9] = (c >>> 8) & 255; out[t + 10] = (c >>> 16) & 255; out[t + 11] = c >>> 24;
  } else if (proto === 1 && l4 >= 8) {
    put16(out, t + 2, (~csumFold(csumAdd(out, t, l4, 0)) & 0xffff) ^ (csumBad ? 1 : 0));
  } else if (proto === 33 && l4 >= 8) {
    // the bytes REJECT's nf_ip_checksum sums (no pseudo-header; wire.ts nfSumsRight): right unless "bad"
    put16(out, t + 6, (~csumFold(csumAdd(out, t, l4, 0)) & 0xffff) ^ (csumBad ? 1 : 0));
  } else if (csumBad && l4 > 0 && ![1, 6, 17, 33, 47, 50, 51, 132, 136].includes(proto)) {
    // another protocol's zero payload sums right for REJECT: a wrong sum needs a byte that is not
    out[t + l4 - 1] = 1;
  }
  return len;
}

/**
 * The options of the node's answer whose descriptor flags say it has some
 * (PF_IP_OPTS_MASK): __ip_options_echo of the options of the packet that
 * caused it; EOL bytes when those are not at hand.
 */
function echoedOptions(flags: number, cause?: QuoteSource): number[] {
  const n = ((flags & abi.PF_IP_OPTS_MASK) >>> abi.PF_IP_OPTS_SHIFT) * 4;
  if (cause && cause.length >= 20) {
    const ihl = (cause.bytes[cause.offset]! & 15) * 4;
    if (ihl > 20 && cause.length >= ihl) {
      const e = ipOptionsEcho(cause.bytes, cause.offset, ipOptionsCompile(cause.bytes, cause.offset, ihl));
      if (e && e.length === n) return e;
    }
  }
  return new Array<number>(n).fill(0);
}
