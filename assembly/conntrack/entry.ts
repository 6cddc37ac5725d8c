/**
 * A connection tracking entry (struct nf_conn) and its tuples
 * (struct nf_conntrack_tuple), laid out in linear memory. Every field is
 * read and written through the accessors below; no other file knows the
 * offsets.
 *
 * Two pools (table.ts): TCP entries (CT_TCP_SIZE = 80 bytes, with the window
 * tracking state) and small entries for every other protocol
 * (CT_SMALL_SIZE = 36 bytes). The hash chain links and the timeout are not
 * in the entry but in dense arrays beside the pool (table.ts), so that a
 * chain walk touches only the entry it is looking for. Both layouts start
 * with the same 32-byte header:
 *
 *    0      original tuple (tuplehash[IP_CT_DIR_ORIGINAL].tuple)
 *   12      reply tuple (tuplehash[IP_CT_DIR_REPLY].tuple), rewritten by NAT
 *   24 u16  status: the kernel's IPS_* bits 0..12 at their positions, and
 *           three emulator bits where the kernel keeps HELPER, OFFLOAD and
 *           HW_OFFLOAD (never set here): CTP_SMALL, CTP_MASQ, CTP_FREE
 *   26 u16  TCP: state 0-3, last_index 4-6, last_dir 7, td_scale of the
 *           original direction 8-11, of the reply direction 12-15;
 *           small entries: u8 protocol, u8 unused
 *   28 u32  mark (ct->mark)
 *
 * TCP entries go on with struct ip_ct_tcp:
 *   32      seen[0]: u32 td_end, td_maxend, td_maxwin, td_maxack
 *   48      seen[1]: the same
 *   64 u32  last_seq        68 u32 last_ack
 *   72 u16  last_end - last_seq (a segment is at most 65,535 bytes)
 *   74 u16  last_win
 *   76 u8   seen[0].flags   77 u8 seen[1].flags (IP_CT_TCP_FLAG_* bits 0..5)
 *   78 u8   retrans
 *   79 u8   last_wscale 0-3, last_flags 4-7 (WINDOW_SCALE, SACK_PERM,
 *           EXP_CHALLENGE_ACK, SIMULTANEOUS_OPEN, in that order)
 * Small entries: 32 u32 UDP stream_ts.
 *
 * SCTP entries (rare, and the only other tracker with per-connection state
 * beyond a timestamp) live in the TCP pool, marked by bit 7 of byte 76
 * (seen[0].flags, whose bits 6-7 TCP never sets), with struct ip_ct_sctp:
 *   26 u16  state in bits 0-3 (SCTP_CONNTRACK_*), as TCP keeps its state
 *   32 u32  vtag[0]         36 u32 vtag[1]
 *   40 u8   init[0] bit 0, init[1] bit 1, SCTP_FLAG_HEARTBEAT_VTAG_FAILED
 *           bit 2, last_dir bit 3
 *
 * A tuple (TUPLE_SIZE = 12 bytes): u32 src, u32 dst, u16 sport, u16 dport.
 * The protocol is the entry's (6 for the TCP pool, the u8 at 26 otherwise).
 * For ICMP the "source port" is the echo identifier and the "destination
 * port" is type << 8 | code, as in the kernel's tuple (src.u.icmp.id,
 * dst.u.icmp.type/code); protocols without ports have zero ports (the
 * generic tracker). Code that builds tuples outside entries uses 16-byte
 * scratch tuples with the protocol at T_PROTO (tupleSet, tupleInvert).
 *
 * The by-source links of SNAT and the MASQUERADE device live in the NAT
 * extension (nat/ext.ts), as nf_conn_nat does in the kernel.
 *
 * Memory per connection: the entry (80 bytes for TCP and SCTP, 36 otherwise), its
 * timeout (4) and two chain links (8) in the pool, and the hash buckets
 * (4 bytes each, nf_conntrack_buckets of them); a SNATed or masqueraded
 * connection adds a 12-byte NAT extension record.
 */
import { IPS_NAT_CLASH, CT_ENTRY_MARK } from "../abi";

export const TUPLE_SIZE: usize = 12;
export const T_SRC: usize = 0;
export const T_DST: usize = 4;
export const T_SPORT: usize = 8;
export const T_DPORT: usize = 10;
/** Protocol byte of a 16-byte scratch tuple (not of entry tuples). */
export const T_PROTO: usize = 12;
export const SCRATCH_TUPLE_SIZE: usize = 16;

export const CT_TCP_SIZE: usize = 80;
export const CT_SMALL_SIZE: usize = 36;
export const CT_ORIG: usize = 0;
export const CT_REPLY: usize = 12;
const CT_STATUS: usize = 24;
const CT_AUX: usize = 26;
const CT_MARK: usize = CT_ENTRY_MARK; // in the ABI: compiled CONNMARK targets use it
// TCP
const CT_SEEN: usize = 32;
const TCPS_SIZE: usize = 16;
const TS_END: usize = 0;
const TS_MAXEND: usize = 4;
const TS_MAXWIN: usize = 8;
const TS_MAXACK: usize = 12;
const CT_LAST_SEQ: usize = 64;
const CT_LAST_ACK: usize = 68;
const CT_LAST_LEN: usize = 72;
const CT_LAST_WIN: usize = 74;
const CT_SEEN_FLAGS: usize = 76;
const CT_RETRANS: usize = 78;
const CT_LAST_WS_FLAGS: usize = 79;
// SCTP
const CT_SCTP_VTAG: usize = 32;
const CT_SCTP_BITS: usize = 40;
/** Bit of byte CT_SEEN_FLAGS that marks an SCTP entry in the TCP pool. */
const SCTP_MARKER: u8 = 0x80;
// small
const CT_PROTO: usize = 26;
const CT_UDP_STREAM_TS: usize = 32;

/** Emulator status bits (kernel positions of IPS_HELPER, IPS_OFFLOAD, IPS_HW_OFFLOAD). */
export const CTP_SMALL: u32 = 1 << 13;
export const CTP_MASQ: u32 = 1 << 14;
export const CTP_FREE: u32 = 1 << 15;
export const CTP_MASK: u32 = CTP_SMALL | CTP_MASQ | CTP_FREE;

// IP_CT_TCP_FLAG_* (include/uapi/linux/netfilter/nf_conntrack_tcp.h)
export const TCPF_WINDOW_SCALE: u32 = 0x01;
export const TCPF_SACK_PERM: u32 = 0x02;
export const TCPF_CLOSE_INIT: u32 = 0x04;
export const TCPF_BE_LIBERAL: u32 = 0x08;
export const TCPF_DATA_UNACKNOWLEDGED: u32 = 0x10;
export const TCPF_MAXACK_SET: u32 = 0x20;
export const TCPF_EXP_CHALLENGE_ACK: u32 = 0x40;
export const TCPF_SIMULTANEOUS_OPEN: u32 = 0x80;

// ---- header ------------------------------------------------------------------

/** The kernel-visible status bits (IPS_*). */
// @ts-ignore: decorator
@inline export function ctStatus(ct: usize): u32 { return <u32>load<u16>(ct, CT_STATUS) & ~CTP_MASK; }
/** Status including the emulator bits. */
// @ts-ignore: decorator
@inline export function ctStatusRaw(ct: usize): u32 { return <u32>load<u16>(ct, CT_STATUS); }
// @ts-ignore: decorator
@inline export function ctSetStatusRaw(ct: usize, s: u32): void { store<u16>(ct, <u16>s, CT_STATUS); }
// @ts-ignore: decorator
@inline export function ctStatusSet(ct: usize, bits: u32): void { store<u16>(ct, load<u16>(ct, CT_STATUS) | <u16>bits, CT_STATUS); }
// @ts-ignore: decorator
@inline export function ctStatusClear(ct: usize, bits: u32): void { store<u16>(ct, load<u16>(ct, CT_STATUS) & ~<u16>bits, CT_STATUS); }

// @ts-ignore: decorator
@inline export function ctIsSmall(ct: usize): bool { return (<u32>load<u16>(ct, CT_STATUS) & CTP_SMALL) != 0; }
/** The entry's protocol (the tuples' dst.protonum). */
// @ts-ignore: decorator
@inline export function ctProto(ct: usize): u32 {
  return ctIsSmall(ct) ? <u32>load<u8>(ct, CT_PROTO) : ((load<u8>(ct, CT_SEEN_FLAGS) & SCTP_MARKER) != 0 ? 132 : 6);
}
/** Does protocol `proto` get a large (TCP-pool) entry? */
// @ts-ignore: decorator
@inline export function ctLargeProto(proto: u32): bool { return proto == 6 || proto == 132; }
/** Marks a freshly zeroed TCP-pool entry as SCTP. */
// @ts-ignore: decorator
@inline export function ctSetSctp(ct: usize): void { store<u8>(ct, SCTP_MARKER, CT_SEEN_FLAGS); }
/** A small entry's protocol (set once, at allocation). */
// @ts-ignore: decorator
@inline export function ctSetSmallProto(ct: usize, proto: u32): void { store<u8>(ct, <u8>proto, CT_PROTO); }

// @ts-ignore: decorator
@inline export function ctMark(ct: usize): u32 { return load<u32>(ct, CT_MARK); }
// @ts-ignore: decorator
@inline export function ctSetMark(ct: usize, m: u32): void { store<u32>(ct, m, CT_MARK); }

/** The tuple of direction `dir` (0 original, 1 reply). */
// @ts-ignore: decorator
@inline export function ctTuple(ct: usize, dir: u32): usize { return ct + CT_ORIG + (<usize>dir * TUPLE_SIZE); }

/** TCP state (TCP_CONNTRACK_*) or SCTP state (SCTP_CONNTRACK_*); 0 for other protocols. */
// @ts-ignore: decorator
@inline export function ctState(ct: usize): u32 { return ctIsSmall(ct) ? 0 : <u32>load<u8>(ct, CT_AUX) & 0xf; }

// ---- TCP (ip_ct_tcp) ----------------------------------------------------------------

// @ts-ignore: decorator
@inline function aux(ct: usize): u32 { return <u32>load<u16>(ct, CT_AUX); }
// @ts-ignore: decorator
@inline function setAux(ct: usize, v: u32): void { store<u16>(ct, <u16>v, CT_AUX); }

// @ts-ignore: decorator
@inline export function tcpSetState(ct: usize, s: u32): void { setAux(ct, (aux(ct) & ~0xf) | (s & 0xf)); }
/** state, last_index and last_dir in one write (nf_conntrack_tcp_packet's in-window update). */
// @ts-ignore: decorator
@inline export function tcpSetStateLast(ct: usize, s: u32, index: u32, dir: u32): void {
  setAux(ct, (aux(ct) & ~0xff) | (s & 0xf) | ((index & 7) << 4) | ((dir & 1) << 7));
}
// @ts-ignore: decorator
@inline export function tcpLastIndex(ct: usize): u32 { return (aux(ct) >> 4) & 7; }
// @ts-ignore: decorator
@inline export function tcpSetLastIndex(ct: usize, i: u32): void { setAux(ct, (aux(ct) & ~0x70) | ((i & 7) << 4)); }
// @ts-ignore: decorator
@inline export function tcpLastDir(ct: usize): u32 { return (aux(ct) >> 7) & 1; }
// @ts-ignore: decorator
@inline export function tcpSetLastDir(ct: usize, d: u32): void { setAux(ct, (aux(ct) & ~0x80) | ((d & 1) << 7)); }
/** seen[dir].td_scale */
// @ts-ignore: decorator
@inline export function tcpScale(ct: usize, dir: u32): u32 { return (aux(ct) >> (8 + (dir << 2))) & 0xf; }
// @ts-ignore: decorator
@inline export function tcpSetScale(ct: usize, dir: u32, s: u32): void {
  const sh = 8 + (dir << 2);
  setAux(ct, (aux(ct) & ~(0xf << sh)) | ((s & 0xf) << sh));
}

// seen[dir] words
// @ts-ignore: decorator
@inline export function tcpEnd(ct: usize, dir: u32): u32 { return load<u32>(ct + CT_SEEN + <usize>dir * TCPS_SIZE, TS_END); }
// @ts-ignore: decorator
@inline export function tcpSetEnd(ct: usize, dir: u32, v: u32): void { store<u32>(ct + CT_SEEN + <usize>dir * TCPS_SIZE, v, TS_END); }
// @ts-ignore: decorator
@inline export function tcpMaxEnd(ct: usize, dir: u32): u32 { return load<u32>(ct + CT_SEEN + <usize>dir * TCPS_SIZE, TS_MAXEND); }
// @ts-ignore: decorator
@inline export function tcpSetMaxEnd(ct: usize, dir: u32, v: u32): void { store<u32>(ct + CT_SEEN + <usize>dir * TCPS_SIZE, v, TS_MAXEND); }
// @ts-ignore: decorator
@inline export function tcpMaxWin(ct: usize, dir: u32): u32 { return load<u32>(ct + CT_SEEN + <usize>dir * TCPS_SIZE, TS_MAXWIN); }
// @ts-ignore: decorator
@inline export function tcpSetMaxWin(ct: usize, dir: u32, v: u32): void { store<u32>(ct + CT_SEEN + <usize>dir * TCPS_SIZE, v, TS_MAXWIN); }
// @ts-ignore: decorator
@inline export function tcpMaxAck(ct: usize, dir: u32): u32 { return load<u32>(ct + CT_SEEN + <usize>dir * TCPS_SIZE, TS_MAXACK); }
// @ts-ignore: decorator
@inline export function tcpSetMaxAck(ct: usize, dir: u32, v: u32): void { store<u32>(ct + CT_SEEN + <usize>dir * TCPS_SIZE, v, TS_MAXACK); }
/** seen[dir].flags (IP_CT_TCP_FLAG_*, bits 0..5) */
// @ts-ignore: decorator
@inline export function tcpFlags(ct: usize, dir: u32): u32 { return <u32>load<u8>(ct + CT_SEEN_FLAGS + <usize>dir); }
// @ts-ignore: decorator
@inline export function tcpSetFlags(ct: usize, dir: u32, f: u32): void { store<u8>(ct + CT_SEEN_FLAGS + <usize>dir, <u8>(f & 0x3f)); }

/** nf_ct_tcp_state_reset-style clearing of seen[dir] (flags kept as given). */
export function tcpSeenClear(ct: usize, dir: u32, keepFlags: u32): void {
  const s = ct + CT_SEEN + <usize>dir * TCPS_SIZE;
  store<u64>(s, 0);
  store<u64>(s, 0, 8);
  tcpSetFlags(ct, dir, tcpFlags(ct, dir) & keepFlags);
  tcpSetScale(ct, dir, 0);
}

// @ts-ignore: decorator
@inline export function tcpLastSeq(ct: usize): u32 { return load<u32>(ct, CT_LAST_SEQ); }
// @ts-ignore: decorator
@inline export function tcpLastAck(ct: usize): u32 { return load<u32>(ct, CT_LAST_ACK); }
// @ts-ignore: decorator
@inline export function tcpSetLastAck(ct: usize, v: u32): void { store<u32>(ct, v, CT_LAST_ACK); }
/** last_end (kept as its distance from last_seq). */
// @ts-ignore: decorator
@inline export function tcpLastEnd(ct: usize): u32 { return load<u32>(ct, CT_LAST_SEQ) + <u32>load<u16>(ct, CT_LAST_LEN); }
/** Sets last_seq and last_end together (every writer of one writes the other). */
// @ts-ignore: decorator
@inline export function tcpSetLastSeqEnd(ct: usize, seq: u32, end: u32): void {
  store<u32>(ct, seq, CT_LAST_SEQ);
  store<u16>(ct, <u16>(end - seq), CT_LAST_LEN);
}
/** last_seq | last_ack << 32 (offsets 64, 68). */
// @ts-ignore: decorator
@inline export function tcpLastSeqAck(ct: usize): u64 { return load<u64>(ct, CT_LAST_SEQ); }
/** last_end - last_seq | last_win << 16 (offsets 72, 74). */
// @ts-ignore: decorator
@inline export function tcpLastLenWin(ct: usize): u32 { return load<u32>(ct, CT_LAST_LEN); }
/** last_seq, last_ack, last_end and last_win together (tcp_in_window's retransmission note), in two stores. */
// @ts-ignore: decorator
@inline export function tcpSetLastNote(ct: usize, seq: u32, ack: u32, end: u32, win: u32): void {
  store<u64>(ct, (<u64>ack << 32) | <u64>seq, CT_LAST_SEQ);
  store<u32>(ct, ((end - seq) & 0xffff) | ((win & 0xffff) << 16), CT_LAST_LEN);
}
// @ts-ignore: decorator
@inline export function tcpLastWin(ct: usize): u32 { return <u32>load<u16>(ct, CT_LAST_WIN); }
// @ts-ignore: decorator
@inline export function tcpSetLastWin(ct: usize, v: u32): void { store<u16>(ct, <u16>v, CT_LAST_WIN); }
// @ts-ignore: decorator
@inline export function tcpRetrans(ct: usize): u32 { return <u32>load<u8>(ct, CT_RETRANS); }
// @ts-ignore: decorator
@inline export function tcpSetRetrans(ct: usize, v: u32): void { store<u8>(ct, <u8>v, CT_RETRANS); }
// @ts-ignore: decorator
@inline export function tcpLastWscale(ct: usize): u32 { return <u32>load<u8>(ct, CT_LAST_WS_FLAGS) & 0xf; }
// @ts-ignore: decorator
@inline export function tcpSetLastWscale(ct: usize, v: u32): void {
  store<u8>(ct, <u8>((<u32>load<u8>(ct, CT_LAST_WS_FLAGS) & 0xf0) | (v & 0xf)), CT_LAST_WS_FLAGS);
}
/** last_flags in the kernel's encoding. */
// @ts-ignore: decorator
@inline export function tcpLastFlags(ct: usize): u32 {
  const x = <u32>load<u8>(ct, CT_LAST_WS_FLAGS) >> 4;
  return (x & 3) | ((x & 0xc) << 4);
}
// @ts-ignore: decorator
@inline export function tcpSetLastFlags(ct: usize, f: u32): void {
  const x = (f & 3) | ((f & 0xc0) >> 4);
  store<u8>(ct, <u8>((<u32>load<u8>(ct, CT_LAST_WS_FLAGS) & 0xf) | (x << 4)), CT_LAST_WS_FLAGS);
}

/** Clears the whole TCP area (tcp_new's memset of ct->proto.tcp) and the state. */
export function tcpAreaClear(ct: usize): void {
  setAux(ct, 0);
  memory.fill(ct + CT_SEEN, 0, CT_TCP_SIZE - CT_SEEN);
}

// ---- UDP ---------------------------------------------------------------------------

// @ts-ignore: decorator
@inline export function udpStreamTs(ct: usize): u32 { return load<u32>(ct, CT_UDP_STREAM_TS); }
// @ts-ignore: decorator
@inline export function udpSetStreamTs(ct: usize, v: u32): void { store<u32>(ct, v, CT_UDP_STREAM_TS); }

// ---- tuples ------------------------------------------------------------------------

/** Entry tuple equality (12 bytes; the protocol is compared by the caller). */
// @ts-ignore: decorator
@inline export function tuple12Equal(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u32>(a, 8) == load<u32>(b, 8);
}

/** Scratch tuple equality (16 bytes with zero padding, protocol included). */
// @ts-ignore: decorator
@inline export function tupleEqual(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8);
}

/** Writes a scratch tuple. */
// @ts-ignore: decorator
@inline export function tupleSet(t: usize, src: u32, dst: u32, sport: u32, dport: u32, proto: u32): void {
  store<u32>(t, src, T_SRC);
  store<u32>(t, dst, T_DST);
  store<u32>(t, (sport & 0xffff) | (dport << 16), T_SPORT);
  store<u32>(t, proto & 0xff, T_PROTO);
}

/** Copies a scratch tuple. */
export function tupleCopy(dst: usize, src: usize): void {
  store<u64>(dst, load<u64>(src));
  store<u64>(dst, load<u64>(src, 8), 8);
}

/** The scratch tuple of an entry's direction (tuple + the entry's protocol). */
export function tupleFromEntry(out: usize, ct: usize, dir: u32): void {
  const t = ctTuple(ct, dir);
  store<u64>(out, load<u64>(t));
  store<u32>(out, load<u32>(t, 8), 8);
  store<u32>(out, ctProto(ct), T_PROTO);
}

/** Writes the first 12 bytes of a scratch tuple into an entry tuple. */
// @ts-ignore: decorator
@inline export function tupleToEntry(ct: usize, dir: u32, t: usize): void {
  const e = ctTuple(ct, dir);
  store<u64>(e, load<u64>(t));
  store<u32>(e, load<u32>(t, 8), 8);
}

/** Does scratch tuple `t` equal the entry's tuple of `dir` (protocol included)? */
// @ts-ignore: decorator
@inline export function tupleMatchesEntry(t: usize, ct: usize, dir: u32): bool {
  return tuple12Equal(t, ctTuple(ct, dir)) && <u32>load<u8>(t, T_PROTO) == ctProto(ct);
}

/**
 * nf_ct_invert_tuple on a scratch tuple: the tuple of a packet going the
 * other way. ICMP queries map to their replies (echo <-> echo reply,
 * timestamp, info, address mask); other ICMP types cannot be inverted
 * (returns false).
 */
export function tupleInvert(out: usize, t: usize): bool {
  const proto = <u32>load<u8>(t, T_PROTO);
  const src = load<u32>(t, T_SRC);
  const dst = load<u32>(t, T_DST);
  const sport = <u32>load<u16>(t, T_SPORT);
  const dport = <u32>load<u16>(t, T_DPORT);
  if (proto == 1) {
    const inv = icmpInvertType(dport >> 8);
    if (inv < 0) return false;
    // id stays the source part; type inverted, code kept
    tupleSet(out, dst, src, sport, (<u32>inv << 8) | (dport & 0xff), proto);
    return true;
  }
  if (protoHasPorts(proto)) {
    tupleSet(out, dst, src, dport, sport, proto);
    return true;
  }
  tupleSet(out, dst, src, 0, 0, proto);
  return true;
}

/** The ICMP query type answering `type` (invmap in nf_conntrack_proto_icmp.c), or -1. */
export function icmpInvertType(type: u32): i32 {
  if (type == 8) return 0;
  if (type == 0) return 8;
  if (type == 13) return 14;
  if (type == 14) return 13;
  if (type == 15) return 16;
  if (type == 16) return 15;
  if (type == 17) return 18;
  if (type == 18) return 17;
  return -1;
}

/** Protocols whose tuples carry ports. */
// @ts-ignore: decorator
@inline export function protoHasPorts(proto: u32): bool {
  return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

/** Entries inserted only in the reply direction are exactly the IPS_NAT_CLASH ones. */
// @ts-ignore: decorator
@inline export function ctReplyOnly(ct: usize): bool { return (<u32>load<u16>(ct, CT_STATUS) & IPS_NAT_CLASH) != 0; }

// ---- SCTP (ip_ct_sctp) ------------------------------------------------------

/** ct->proto.sctp.state */
// @ts-ignore: decorator
@inline export function sctpSetState(ct: usize, st: u32): void { setAux(ct, (aux(ct) & ~0xf) | (st & 0xf)); }
/** ct->proto.sctp.vtag[dir] */
// @ts-ignore: decorator
@inline export function sctpVtag(ct: usize, dir: u32): u32 { return load<u32>(ct + CT_SCTP_VTAG + (<usize>dir << 2)); }
// @ts-ignore: decorator
@inline export function sctpSetVtag(ct: usize, dir: u32, v: u32): void { store<u32>(ct + CT_SCTP_VTAG + (<usize>dir << 2), v); }
/** init[dir] (bit dir), SCTP_FLAG_HEARTBEAT_VTAG_FAILED (bit 2), last_dir (bit 3). */
// @ts-ignore: decorator
@inline export function sctpBits(ct: usize): u32 { return <u32>load<u8>(ct, CT_SCTP_BITS); }
// @ts-ignore: decorator
@inline export function sctpSetBits(ct: usize, b: u32): void { store<u8>(ct, <u8>b, CT_SCTP_BITS); }
