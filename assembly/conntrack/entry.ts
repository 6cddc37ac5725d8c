/**
 * A connection tracking entry (struct nf_conn) and its tuples
 * (struct nf_conntrack_tuple), laid out in linear memory.
 *
 * Tuple (TUPLE_SIZE = 16 bytes): u32 src, u32 dst, u16 sport, u16 dport,
 * u8 protocol, three zero bytes. For ICMP the "source port" is the echo
 * identifier and the "destination port" is type << 8 | code, as in the
 * kernel's tuple (src.u.icmp.id, dst.u.icmp.type/code). Unknown protocols
 * have zero ports (the generic tracker). The zero padding lets two tuples be
 * compared as two u64 words.
 *
 * Entry (CT_SIZE = 128 bytes):
 *    0 u32  hash chain link of the original-direction node
 *    4 u32  hash chain link of the reply-direction node
 *    8      original tuple (tuplehash[IP_CT_DIR_ORIGINAL])
 *   24      reply tuple (tuplehash[IP_CT_DIR_REPLY]), rewritten by NAT
 *   40 u32  status (IPS_*)
 *   44 u32  timeout: absolute u32 jiffies once confirmed, relative before
 *   48 u32  mark (ct->mark)
 *   52 u8   protocol state (TCP_CONNTRACK_*)
 *   53 u8   entry flags (CF_*)
 *   54 u16  device slot the MASQUERADE binding was made for (masq_index)
 *   56 u32  link in the NAT by-source chain
 *   60 u32  UDP: stream_ts (u32 jiffies); otherwise free-list link
 *   64      TCP window tracking (struct ip_ct_tcp):
 *            64 seen[0]: td_end, td_maxend, td_maxwin, td_maxack (u32 each),
 *            80 u8 td_scale, 81 u8 flags
 *            84 seen[1]: same layout (84..101)
 *           102 u8 last_dir, 103 u8 retrans, 104 u8 last_index,
 *           105 u8 last_wscale, 106 u8 last_flags
 *           108 u32 last_seq, 112 last_ack, 116 last_end, 120 u16 last_win
 *
 * Hash chain nodes are (entry index << 1 | direction) + 1; 0 ends a chain.
 * Entries are addressed by index (the pool may move when it grows).
 */
export const TUPLE_SIZE: usize = 16;
export const T_SRC: usize = 0;
export const T_DST: usize = 4;
export const T_SPORT: usize = 8;
export const T_DPORT: usize = 10;
export const T_PROTO: usize = 12;

export const CT_SIZE: usize = 128;
export const CT_SHIFT: usize = 7;
export const CT_LINK_ORIG: usize = 0;
export const CT_LINK_REPLY: usize = 4;
export const CT_ORIG: usize = 8;
export const CT_REPLY: usize = 24;
export const CT_STATUS: usize = 40;
export const CT_TIMEOUT: usize = 44;
export const CT_MARK: usize = 48;
export const CT_STATE: usize = 52;
export const CT_FLAGS: usize = 53;
export const CT_MASQ_DEV: usize = 54;
export const CT_BYSRC: usize = 56;
export const CT_UDP_STREAM_TS: usize = 60;
export const CT_FREE_NEXT: usize = 60;
export const CT_TCP: usize = 64;

// struct ip_ct_tcp_state, at CT_TCP + dir * TCPS_SIZE
export const TCPS_SIZE: usize = 20;
export const TS_END: usize = 0;
export const TS_MAXEND: usize = 4;
export const TS_MAXWIN: usize = 8;
export const TS_MAXACK: usize = 12;
export const TS_SCALE: usize = 16;
export const TS_FLAGS: usize = 17;
// the rest of struct ip_ct_tcp
export const CT_TCP_LAST_DIR: usize = 102;
export const CT_TCP_RETRANS: usize = 103;
export const CT_TCP_LAST_INDEX: usize = 104;
export const CT_TCP_LAST_WSCALE: usize = 105;
export const CT_TCP_LAST_FLAGS: usize = 106;
export const CT_TCP_LAST_SEQ: usize = 108;
export const CT_TCP_LAST_ACK: usize = 112;
export const CT_TCP_LAST_END: usize = 116;
export const CT_TCP_LAST_WIN: usize = 120;

/** Entry flags. */
/** Allocated (not on the free list). */
export const CF_USED: u8 = 1;
/** Inserted only in the reply direction (IPS_NAT_CLASH entry; hidden from dumps). */
export const CF_REPLY_ONLY: u8 = 2;

// IP_CT_TCP_FLAG_* (include/uapi/linux/netfilter/nf_conntrack_tcp.h)
export const TCPF_WINDOW_SCALE: u8 = 0x01;
export const TCPF_SACK_PERM: u8 = 0x02;
export const TCPF_CLOSE_INIT: u8 = 0x04;
export const TCPF_BE_LIBERAL: u8 = 0x08;
export const TCPF_DATA_UNACKNOWLEDGED: u8 = 0x10;
export const TCPF_MAXACK_SET: u8 = 0x20;
export const TCPF_EXP_CHALLENGE_ACK: u8 = 0x40;
export const TCPF_SIMULTANEOUS_OPEN: u8 = 0x80;

/** Tuple equality (both 16-byte tuples with zero padding). */
// @ts-ignore: decorator
@inline export function tupleEqual(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8);
}

/** Writes a tuple. */
// @ts-ignore: decorator
@inline export function tupleSet(t: usize, src: u32, dst: u32, sport: u32, dport: u32, proto: u32): void {
  store<u32>(t, src, T_SRC);
  store<u32>(t, dst, T_DST);
  store<u16>(t, <u16>sport, T_SPORT);
  store<u16>(t, <u16>dport, T_DPORT);
  store<u32>(t, proto & 0xff, T_PROTO);
}

export function tupleCopy(dst: usize, src: usize): void {
  store<u64>(dst, load<u64>(src));
  store<u64>(dst, load<u64>(src, 8), 8);
}

/**
 * nf_ct_invert_tuple: the tuple of a packet going the other way. ICMP
 * queries map to their replies (echo <-> echo reply, timestamp, info,
 * address mask); other ICMP types cannot be inverted (returns false).
 */
export function tupleInvert(out: usize, t: usize): bool {
  const proto = <u32>load<u8>(t, T_PROTO);
  let sport = <u32>load<u16>(t, T_SPORT);
  let dport = <u32>load<u16>(t, T_DPORT);
  if (proto == 1) {
    const type = dport >> 8;
    let inv: i32 = -1;
    if (type == 8) inv = 0;
    else if (type == 0) inv = 8;
    else if (type == 13) inv = 14;
    else if (type == 14) inv = 13;
    else if (type == 15) inv = 16;
    else if (type == 16) inv = 15;
    else if (type == 17) inv = 18;
    else if (type == 18) inv = 17;
    if (inv < 0) return false;
    // id stays the source part; type inverted, code kept
    tupleSet(out, load<u32>(t, T_DST), load<u32>(t, T_SRC), sport, (<u32>inv << 8) | (dport & 0xff), proto);
    return true;
  }
  if (proto == 6 || proto == 17 || proto == 132 || proto == 136) {
    tupleSet(out, load<u32>(t, T_DST), load<u32>(t, T_SRC), dport, sport, proto);
    return true;
  }
  tupleSet(out, load<u32>(t, T_DST), load<u32>(t, T_SRC), 0, 0, proto);
  return true;
}

/** Protocols whose tuples carry ports. */
// @ts-ignore: decorator
@inline export function protoHasPorts(proto: u32): bool {
  return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}
