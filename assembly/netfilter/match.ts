/**
 * Rule matching: ip_packet_match (net/ipv4/netfilter/ip_tables.c) and the
 * extension matches (net/netfilter/xt_*.c), evaluated in written order with
 * the kernel's short-circuit: the first failing match ends the rule, so
 * later stateful matches (statistic, recent, limit, nfacct) are not touched.
 */
import {
  PKT_PROTO, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_SPORT, PKT_OUT_DPORT, PKT_OUT_TTL, PKT_OUT_MARK, PKT_LEN,
  PKT_TCPFLAGS, PKT_TCP_DOFF, PKT_TCP_WSCALE, PKT_TCP_OPTS, PKT_ICMP_TYPE, PKT_ICMP_CODE, PKT_UID, PKT_GID, PKT_PX,
  PX_HAS_SOCK, PX_KSOCK, TO_SACK_PERM, PKT_L4_BYTES,
  E_INV, E_SRC, E_SMSK, E_DST, E_DMSK, E_IN, E_OUT, E_PROTO, E_FLAGS, E_MATCHES, E_MATCH_BYTES, E_ID,
  EI_SRC, EI_DST, EI_IN, EI_OUT, EI_PROTO, EI_FRAG, EF_FRAG,
  M_KIND, M_INV, M_LEN, M_TCP, M_UDP, M_ICMP, M_MULTIPORT, M_ADDRTYPE, M_MARK, M_CONNMARK, M_CONNTRACK,
  M_STATISTIC, M_RECENT, M_NFACCT, M_LIMIT, M_OWNER, M_LENGTH, M_SCTP, M_DCCP, M_SET, M_RPFILTER,
  M_PKTTYPE, M_IPRANGE, M_TTL, M_TOSBYTE, M_TCPMSS, PKT_TCP_MSS, TO_MSS, PKT_TOS, PKT_FLAGS, PF_LOCAL, PF_L2_OTHER, PF_OTHERHOST, PF_L2_MCAST,
  SCTP_CHUNK_MATCH_ANY, SCTP_CHUNK_MATCH_ALL, SCTP_CHUNK_MATCH_ONLY, PKT_SCTP_NCHUNKS, PKT_SCTP_CHUNKS,
  PKT_SCTP_CHUNK_FLAGS, PKT_SCTP_ZEROLEN, PKT_SCTP_FLAGS, SCTPF_TAIL, PKT_DCCP_TYPE, PKT_DCCP_FLAGS, DCCPF_SHORT,
  DCCPF_OPT_HOTDROP, PKT_DCCP_OPTS_LO, PKT_DCCP_OPTS_MID, PKT_DCCP_OPTS_HI,
  CTM_STATE, CTM_STATUS, CTM_PROTO, CTM_ORIGSRC, CTM_ORIGDST, CTM_REPLSRC, CTM_REPLDST, CTM_ORIGSRCPORT,
  CTM_ORIGDSTPORT, CTM_REPLSRCPORT, CTM_REPLDSTPORT, CTM_EXPIRE, CTM_DIR,
  XT_STATE_INVALID, XT_STATE_SNAT, XT_STATE_DNAT, XT_STATE_UNTRACKED, IPS_SRC_NAT, IPS_DST_NAT,
  CTINFO_UNTRACKED, CTINFO_ESTABLISHED_REPLY, RTN_UNICAST, RTN_BROADCAST, RTN_MULTICAST, PKT_SEEN_DST, PKT_SEEN_DPORT,
} from "../abi";
import { ifaceMatch, nfacct, prog } from "./program";
import { seenPacket } from "../capture/seen";
import { ipsetTest } from "./ipset";
import { hsIn, hsOut, hsHook, hsLoopbackPkt } from "./state";
import { recentMatch } from "./recent";
import { rpfilterMatch } from "./rpfilter";
import { pktCt, pktCtInfo } from "../conntrack/core";
import { ctPtr, nfctTime, ctTimeout } from "../conntrack/table";
import { T_SRC, T_DST, T_SPORT, T_DPORT, ctTuple, ctStatus, ctMark, ctProto } from "../conntrack/entry";
import { randomU32 } from "../util/random";
import { jiffies } from "../ipv4/clock";
import { hz } from "../config";
import { isZeronet, isLbcast, isMulticast } from "../util/ip";
import { localTableLookup, localLookupDev } from "../fib/table";

/** ip_packet_match: addresses, interfaces, protocol and fragment flag. */
export function ipPacketMatch(p: usize, e: usize): bool {
  const inv = <u32>load<u8>(e, E_INV);
  if ((((load<u32>(p, PKT_OUT_SRC) & load<u32>(e, E_SMSK)) != load<u32>(e, E_SRC)) ? 1 : 0) ^ (inv & EI_SRC)) return false;
  if ((((load<u32>(p, PKT_OUT_DST) & load<u32>(e, E_DMSK)) != load<u32>(e, E_DST)) ? 1 : 0) ^ ((inv & EI_DST) >> 1)) return false;
  const pin = <u32>load<u16>(e, E_IN);
  if (pin != 0 && (ifaceMatch(pin, hsIn) ? 0 : 1) ^ ((inv & EI_IN) >> 2)) return false;
  const pout = <u32>load<u16>(e, E_OUT);
  if (pout != 0 && (ifaceMatch(pout, hsOut) ? 0 : 1) ^ ((inv & EI_OUT) >> 3)) return false;
  const proto = <u32>load<u8>(e, E_PROTO);
  if (proto != 0 && ((<u32>load<u8>(p, PKT_PROTO) != proto ? 1 : 0) ^ ((inv & EI_PROTO) >> 4))) return false;
  // -f: only non-first fragments match; we never see those (reassembled or unfragmented)
  if ((load<u8>(e, E_FLAGS) & EF_FRAG) != 0 && (inv & EI_FRAG) == 0) return false;
  return true;
}

/**
 * par->hotdrop: a match could not read the transport header it needs (a
 * malformed one, PKT_L4_BYTES): it fails, and ipt_do_table stops with
 * NF_DROP (walk.ts takes the flag with hotdropTake).
 */
let hotdrop = false;
export function hotdropTake(): bool {
  const h = hotdrop;
  hotdrop = false;
  return h;
}

/** The transport bytes of a packet whose transport header is malformed; 0xffff when it is sound. */
// @ts-ignore: decorator
@inline function l4Bytes(p: usize): u32 {
  const b = <u32>load<u8>(p, PKT_L4_BYTES);
  return b == 0 ? 0xffff : b - 1;
}

// @ts-ignore: decorator
@inline function portIn(port: u32, lo: u32, hi: u32, inv: bool): bool { return (port >= lo && port <= hi) != inv; }

/** tcp_mt / udp_mt */
function tcpUdpMatch(p: usize, m: usize, tcp: bool): bool {
  const want: u32 = tcp ? 6 : 17;
  if (<u32>load<u8>(p, PKT_PROTO) != want) return false;
  // tcp_mt / udp_mt: skb_header_pointer(sizeof(struct tcphdr) / sizeof(struct udphdr)) fails: hotdrop
  const n = l4Bytes(p);
  const need: u32 = tcp ? 20 : 8;
  if (n < need) { hotdrop = true; return false; }
  const inv = <u32>load<u8>(m, M_INV);
  const present = <u32>load<u8>(m, 15);
  if (present & 1) {
    if (!portIn(load<u16>(p, PKT_OUT_SPORT), load<u16>(m, 4), load<u16>(m, 6), (inv & 1) != 0)) return false;
  }
  if (present & 2) {
    if (!portIn(load<u16>(p, PKT_OUT_DPORT), load<u16>(m, 8), load<u16>(m, 10), (inv & 2) != 0)) return false;
  }
  if (tcp) {
    if (present & 4) {
      const f = <u32>load<u8>(p, PKT_TCPFLAGS);
      if (((f & <u32>load<u8>(m, 12)) == <u32>load<u8>(m, 13)) == ((inv & 4) != 0)) return false;
    }
    if (present & 8) {
      // tcp_find_option: only the options we carry (window scale 3, SACK-permitted 4) are known
      const opt = <u32>load<u8>(m, 14);
      let has = false;
      const doff = <u32>load<u8>(p, PKT_TCP_DOFF);
      // tcp_mt: doff * 4 < sizeof(struct tcphdr), or the options beyond the segment
      // (tcp_find_option's skb_header_pointer fails): hotdrop; doff is raw when malformed
      if (n != 0xffff && (doff < 5 || (doff << 2) > n)) { hotdrop = true; return false; }
      if (doff > 5) {
        if (opt == 3) has = load<u8>(p, PKT_TCP_WSCALE) != 0;
        else if (opt == 4) has = (load<u8>(p, PKT_TCP_OPTS) & TO_SACK_PERM) != 0;
      }
      if (has == ((inv & 8) != 0)) return false;
    }
  }
  return true;
}

/** icmp_match (icmp_type_code_match) */
function icmpMatch(p: usize, m: usize): bool {
  if (<u32>load<u8>(p, PKT_PROTO) != 1) return false;
  // icmp_match: skb_header_pointer(sizeof(struct icmphdr)) fails: hotdrop
  if (l4Bytes(p) < 8) { hotdrop = true; return false; }
  const type = <u32>load<u8>(m, 4);
  const cmin = <u32>load<u8>(m, 5);
  const cmax = <u32>load<u8>(m, 6);
  const inv = load<u8>(m, M_INV) != 0;
  const t = <u32>load<u8>(p, PKT_ICMP_TYPE);
  const c = <u32>load<u8>(p, PKT_ICMP_CODE);
  const hit = type == 0xff || (t == type && c >= cmin && c <= cmax);
  return hit != inv;
}

/** multiport_mt (revision 1): the invert flag applies to the whole result. */
function multiportMatch(p: usize, m: usize): bool {
  const proto = <u32>load<u8>(p, PKT_PROTO);
  if (!(proto == 6 || proto == 17 || proto == 132 || proto == 33 || proto == 136)) return false;
  // multiport_mt: the two ports cannot be read: hotdrop
  if (l4Bytes(p) < 4) { hotdrop = true; return false; }
  const mode = <u32>load<u8>(m, 4);
  const n = <u32>load<u8>(m, 5);
  const inv = load<u8>(m, M_INV) != 0;
  const sp = <u32>load<u16>(p, PKT_OUT_SPORT);
  const dp = <u32>load<u16>(p, PKT_OUT_DPORT);
  for (let i: u32 = 0; i < n; i++) {
    const lo = <u32>load<u16>(m + 8 + (<usize>i << 2));
    const hi = <u32>load<u16>(m + 10 + (<usize>i << 2));
    if (mode == 0 && sp >= lo && sp <= hi) return !inv;
    if (mode == 1 && dp >= lo && dp <= hi) return !inv;
    if (mode == 2 && ((sp >= lo && sp <= hi) || (dp >= lo && dp <= hi))) return !inv;
  }
  return inv;
}

/**
 * par->hotdrop raised by a match that still matched: an inverted
 * `--chunk-types` whose chunk walk hotdropped (SCCHECK inverts match_packet's
 * false). ipt_do_table then counts the rule and runs its target before its
 * `while (!acpar.hotdrop)` ends the walk with NF_DROP.
 */
export function hotdropPending(): bool { return hotdrop; }

/** match_flags: the flags of the first flag info for this chunk type must agree under its mask; no info: true. */
function sctpFlagsMatch(m: usize, count: u32, type: u32, flags: u32): bool {
  for (let i: u32 = 0; i < count; i++) {
    const f = m + 16 + (<usize>i << 2);
    if (<u32>load<u8>(f) == type) return (flags & <u32>load<u8>(f, 2)) == <u32>load<u8>(f, 1);
  }
  return true;
}

// @ts-ignore: decorator
@inline function chunkmapIsSet(m: usize, type: u32): bool {
  return ((load<u32>(m + 32 + (<usize>(type >> 5) << 2)) >> (type & 31)) & 1) != 0;
}

/**
 * match_packet (xt_sctp.c): walks the chunks (a do-while: the first chunk
 * header is read even when the packet has none) and stops early for `any`
 * (a chunk that matches) and `only` (one that does not). A chunk header it
 * cannot read (no chunk at all, 1..3 bytes after the last chunk) or a
 * zero-length chunk, when the walk reaches it, hotdrops.
 */
function sctpChunksMatch(p: usize, m: usize): bool {
  const mt = <u32>load<u8>(m, 13);
  const count = <u32>load<u8>(m, 14);
  const n = <u32>load<u8>(p, PKT_SCTP_NCHUNKS);
  const zerolen = <u32>load<u8>(p, PKT_SCTP_ZEROLEN);
  // SCTP_CHUNK_MATCH_ALL: the chunk types (of the map) still to be seen with matching flags
  let seen0: u32 = 0, seen1: u32 = 0, seen2: u32 = 0, seen3: u32 = 0;
  let seen4: u32 = 0, seen5: u32 = 0, seen6: u32 = 0, seen7: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if ((zerolen >> i) & 1) { hotdrop = true; return false; }
    const type = <u32>load<u8>(p + PKT_SCTP_CHUNKS + <usize>i);
    const flags = <u32>load<u8>(p + PKT_SCTP_CHUNK_FLAGS + <usize>i);
    if (chunkmapIsSet(m, type)) {
      const ok = sctpFlagsMatch(m, count, type, flags);
      if (mt == SCTP_CHUNK_MATCH_ANY) {
        if (ok) return true;
      } else if (mt == SCTP_CHUNK_MATCH_ALL) {
        if (ok) {
          const bit = <u32>1 << (type & 31);
          switch (type >> 5) {
            case 0: seen0 |= bit; break;
            case 1: seen1 |= bit; break;
            case 2: seen2 |= bit; break;
            case 3: seen3 |= bit; break;
            case 4: seen4 |= bit; break;
            case 5: seen5 |= bit; break;
            case 6: seen6 |= bit; break;
            default: seen7 |= bit; break;
          }
        }
      } else if (!ok) return false;
    } else if (mt == SCTP_CHUNK_MATCH_ONLY) return false;
  }
  if (n == 0 || (<u32>load<u8>(p, PKT_SCTP_FLAGS) & SCTPF_TAIL) != 0) { hotdrop = true; return false; }
  if (mt == SCTP_CHUNK_MATCH_ALL) {
    // SCTP_CHUNKMAP_IS_CLEAR(chunkmapcopy): every type of the map was seen
    const c = m + 32;
    return load<u32>(c) == seen0 && load<u32>(c, 4) == seen1 && load<u32>(c, 8) == seen2 && load<u32>(c, 12) == seen3 &&
      load<u32>(c, 16) == seen4 && load<u32>(c, 20) == seen5 && load<u32>(c, 24) == seen6 && load<u32>(c, 28) == seen7;
  }
  return mt == SCTP_CHUNK_MATCH_ONLY;
}

/** sctp_mt: the common header (12 bytes) or hotdrop; ports, then the chunk walk (SCCHECK short-circuits). */
function sctpMatch(p: usize, m: usize): bool {
  if (<u32>load<u8>(p, PKT_PROTO) != 132) return false;
  if (l4Bytes(p) < 12) { hotdrop = true; return false; }
  const inv = <u32>load<u8>(m, M_INV);
  const present = <u32>load<u8>(m, 12);
  if (present & 1) {
    if (!portIn(load<u16>(p, PKT_OUT_SPORT), load<u16>(m, 4), load<u16>(m, 6), (inv & 1) != 0)) return false;
  }
  if (present & 2) {
    if (!portIn(load<u16>(p, PKT_OUT_DPORT), load<u16>(m, 8), load<u16>(m, 10), (inv & 2) != 0)) return false;
  }
  if (present & 4) {
    // an inverted walk that hotdropped matches (hotdropPending)
    if (sctpChunksMatch(p, m) == ((inv & 4) != 0)) return false;
  }
  return true;
}

/** dccp_mt: the generic header (struct dccp_hdr, 12 bytes) or hotdrop; ports, then match_types. */
function dccpMatch(p: usize, m: usize): bool {
  if (<u32>load<u8>(p, PKT_PROTO) != 33) return false;
  if (l4Bytes(p) < 12 || (<u32>load<u8>(p, PKT_DCCP_FLAGS) & DCCPF_SHORT) != 0) { hotdrop = true; return false; }
  const inv = <u32>load<u8>(m, M_INV);
  const present = <u32>load<u8>(m, 14);
  if (present & 1) {
    if (!portIn(load<u16>(p, PKT_OUT_SPORT), load<u16>(m, 4), load<u16>(m, 6), (inv & 1) != 0)) return false;
  }
  if (present & 2) {
    if (!portIn(load<u16>(p, PKT_OUT_DPORT), load<u16>(m, 8), load<u16>(m, 10), (inv & 2) != 0)) return false;
  }
  if (present & 4) {
    // match_types: the reserved types 10..15 are DCCP_PKT_INVALID's bit (what the kernel does,
    // test/pcap/sctp-dccp-kernel.test.ts)
    const type = min<u32>(<u32>load<u8>(p, PKT_DCCP_TYPE) & 15, 10);
    if ((((<u32>load<u16>(m, 12) >> type) & 1) != 0) == ((inv & 4) != 0)) return false;
  }
  if (present & 8) {
    // dccp_find_option: a data offset below the header or options beyond the packet hotdrop;
    // DCCHECK inverts the false it returns then (hotdropPending)
    if (dccpFindOption(p, <u32>load<u8>(m, 15)) == ((inv & 8) != 0)) return false;
  }
  return true;
}

/** dccp_find_option, over the map of the option types its walk finds (abi.ts, PKT_DCCP_OPTS_*). */
function dccpFindOption(p: usize, option: u32): bool {
  if (<u32>load<u8>(p, PKT_DCCP_FLAGS) & DCCPF_OPT_HOTDROP) { hotdrop = true; return false; }
  const at: usize = option < 128 ? PKT_DCCP_OPTS_LO + (option >> 3)
    : option < 192 ? PKT_DCCP_OPTS_MID + ((option - 128) >> 3) : PKT_DCCP_OPTS_HI + ((option - 192) >> 3);
  return ((<u32>load<u8>(p + at) >> (option & 7)) & 1) != 0;
}

/** inet_dev_addr_type: the address type in the local table; with a device, only its own local routes count. */
export function devAddrType(dev: u32, limit: bool, addr: u32): u32 {
  if (isZeronet(addr) || isLbcast(addr)) return RTN_BROADCAST;
  if (isMulticast(addr)) return RTN_MULTICAST;
  const type = localTableLookup(addr);
  if (type == 0) return RTN_UNICAST;
  if (!limit || dev == localLookupDev) return type;
  return RTN_UNICAST;
}

/** addrtype_mt_v1 */
function addrtypeMatch(p: usize, m: usize): bool {
  const flags = <u32>load<u8>(m, 8);
  const inv = <u32>load<u8>(m, M_INV);
  let dev: u32 = 0;
  let limit = false;
  if (flags & 4) { dev = hsIn; limit = true; } else if (flags & 8) { dev = hsOut; limit = true; }
  if (flags & 1) {
    const t = devAddrType(dev, limit, load<u32>(p, PKT_OUT_SRC));
    if ((((<u32>load<u16>(m, 4) >> t) & 1) != 0) == ((inv & 1) != 0)) return false;
  }
  if (flags & 2) {
    const t = devAddrType(dev, limit, load<u32>(p, PKT_OUT_DST));
    if ((((<u32>load<u16>(m, 6) >> t) & 1) != 0) == ((inv & 2) != 0)) return false;
  }
  return true;
}

/**
 * The packet's XT_CONNTRACK_STATE bits as conntrack_mt computes them: the
 * ctinfo's state bit plus SNAT / DNAT from the entry's status; UNTRACKED
 * or INVALID without an entry.
 */
export function ctStateBit(p: usize): u32 {
  const id = pktCt(p);
  return ctStateBitOf(id != 0 ? ctPtr(id - 1) : 0, pktCtInfo(p));
}

/** ctStateBit of a packet whose conntrack entry is `ct` (0: none) and whose ctinfo is `ctinfo`. */
// @ts-ignore: decorator
@inline export function ctStateBitOf(ct: usize, ctinfo: u32): u32 {
  if (ct != 0) {
    let statebit = <u32>1 << ((ctinfo % 3) + 1); // XT_CONNTRACK_STATE_BIT(ctinfo)
    const st = ctStatus(ct);
    if (st & IPS_SRC_NAT) statebit |= XT_STATE_SNAT;
    if (st & IPS_DST_NAT) statebit |= XT_STATE_DNAT;
    return statebit;
  }
  return ctinfo == CTINFO_UNTRACKED ? XT_STATE_UNTRACKED : XT_STATE_INVALID;
}

/** conntrack_mt (revisions 1-3): with no entry, only --ctstate can match. */
function conntrackMatch(p: usize, m: usize): bool {
  const present = <u32>load<u16>(m, 4);
  const inv = <u32>load<u16>(m, 6);
  const id = pktCt(p);
  const ctinfo = pktCtInfo(p);
  const ct: usize = id != 0 ? ctPtr(id - 1) : 0;
  const statebit = ctStateBit(p);
  if (present & CTM_STATE) {
    if (((statebit & <u32>load<u16>(m, 8)) != 0) == ((inv & CTM_STATE) != 0)) return false;
  }
  if (ct == 0) return (present & CTM_STATE) != 0;
  const orig = ctTuple(ct, 0);
  const repl = ctTuple(ct, 1);
  if (present & CTM_PROTO) {
    if ((ctProto(ct) == <u32>load<u8>(m, 12)) == ((inv & CTM_PROTO) != 0)) return false;
  }
  if (present & CTM_ORIGSRC) {
    if (((load<u32>(orig, T_SRC) & load<u32>(m, 20)) == load<u32>(m, 16)) == ((inv & CTM_ORIGSRC) != 0)) return false;
  }
  if (present & CTM_ORIGDST) {
    if (((load<u32>(orig, T_DST) & load<u32>(m, 28)) == load<u32>(m, 24)) == ((inv & CTM_ORIGDST) != 0)) return false;
  }
  if (present & CTM_REPLSRC) {
    if (((load<u32>(repl, T_SRC) & load<u32>(m, 36)) == load<u32>(m, 32)) == ((inv & CTM_REPLSRC) != 0)) return false;
  }
  if (present & CTM_REPLDST) {
    if (((load<u32>(repl, T_DST) & load<u32>(m, 44)) == load<u32>(m, 40)) == ((inv & CTM_REPLDST) != 0)) return false;
  }
  if (present & (CTM_ORIGSRCPORT | CTM_ORIGDSTPORT | CTM_REPLSRCPORT | CTM_REPLDSTPORT)) {
    // conntrack_mt_origsrc etc. compare the tuple's ports; protocols without ports fail (the port is 0)
    if (present & CTM_ORIGSRCPORT) {
      if (!portIn(load<u16>(orig, T_SPORT), load<u16>(m, 48), load<u16>(m, 50), (inv & CTM_ORIGSRCPORT) != 0)) return false;
    }
    if (present & CTM_ORIGDSTPORT) {
      if (!portIn(load<u16>(orig, T_DPORT), load<u16>(m, 52), load<u16>(m, 54), (inv & CTM_ORIGDSTPORT) != 0)) return false;
    }
    if (present & CTM_REPLSRCPORT) {
      if (!portIn(load<u16>(repl, T_SPORT), load<u16>(m, 56), load<u16>(m, 58), (inv & CTM_REPLSRCPORT) != 0)) return false;
    }
    if (present & CTM_REPLDSTPORT) {
      if (!portIn(load<u16>(repl, T_DPORT), load<u16>(m, 60), load<u16>(m, 62), (inv & CTM_REPLDSTPORT) != 0)) return false;
    }
  }
  if (present & CTM_DIR) {
    const reply = ctinfo >= <u32>CTINFO_ESTABLISHED_REPLY;
    const wantReply = load<u8>(m, 13) != 0;
    if ((reply == wantReply) == ((inv & CTM_DIR) != 0)) return false;
  }
  if (present & CTM_STATUS) {
    if (((ctStatus(ct) & <u32>load<u16>(m, 10)) != 0) == ((inv & CTM_STATUS) != 0)) return false;
  }
  if (present & CTM_EXPIRE) {
    const left = <i32>(ctTimeout(id - 1) - nfctTime());
    const secs: u32 = left > 0 ? <u32>left / hz : 0;
    if ((secs >= load<u32>(m, 64) && secs <= load<u32>(m, 68)) == ((inv & CTM_EXPIRE) != 0)) return false;
  }
  return true;
}

/**
 * Test oracle for random choices: when enabled, a `statistic --mode random`
 * match does not draw; it succeeds exactly for the entries listed (the
 * kernel-differential harness lists the rules the kernel's walk matched, so
 * both sides take the same random path; the choice itself is then checked
 * to be one the kernel could make, and distributions are checked apart).
 */
let oracleOn = false;
let oracleIds: usize = 0;
let oracleCount: u32 = 0;
export function statisticOracle(enabled: bool, ids: usize, n: u32): void {
  oracleOn = enabled;
  oracleIds = ids;
  oracleCount = n;
}
function oracleHas(id: u32): bool {
  for (let i: u32 = 0; i < oracleCount; i++) if (load<u32>(oracleIds + (<usize>i << 2)) == id) return true;
  return false;
}

/**
 * The endpoint the capture shows for packet `p` (its forwarded copy's
 * destination, abi.ts PKT_SEEN_*) is among the sorted endpoints at `list`
 * (host/netfilter/compile.ts seenEndpoints): u64 keys address << 32 | port,
 * port 0 for any port.
 */
function seenListed(list: usize, n: u32, dst: u32, dport: u32): bool {
  return sortedHas(list, n, (<u64>dst << 32) | <u64>dport) || sortedHas(list, n, <u64>dst << 32);
}

/** Is `key` among the `n` sorted u64 at `list`? */
function sortedHas(list: usize, n: u32, key: u64): bool {
  let lo: u32 = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = load<u64>(list + (<usize>mid << 3));
    if (k == key) return true;
    if (k < key) lo = mid + 1; else hi = mid;
  }
  return false;
}

/**
 * statistic_mt. A random rule that leads to one endpoint (compile.ts
 * seenEndpoints: kube-proxy's `-m statistic --mode random -j KUBE-SEP-...`)
 * does not draw for a packet whose capture copy shows where the kernel's
 * draw sent it (seenPacket): it matches exactly when it leads there, so
 * the walk takes the kernel's endpoint. A copy's destination that is not
 * one of the chain's endpoints (another ruleset than the capture's) draws.
 */
function statisticMatch(p: usize, e: usize, m: usize): bool {
  const inv = load<u8>(m, M_INV) != 0;
  if (load<u8>(m, 4) == 0) {
    if (oracleOn) return oracleHas(load<u32>(e, E_ID));
    const to = load<u32>(m, 12);
    if (to != 0 && seenPacket(p)) {
      const dst = load<u32>(p, PKT_SEEN_DST), dport = <u32>load<u16>(p, PKT_SEEN_DPORT);
      if (seenListed(prog + <usize>load<u32>(m, 20), load<u32>(m, 24), dst, dport)) {
        const port = <u32>load<u16>(m, 16);
        return to == dst && (port == 0 || port == dport);
      }
    }
    return ((randomU32() & 0x7fffffff) < load<u32>(m, 8)) != inv;
  }
  const every = load<u32>(m, 8);
  const c = load<u32>(m, 12);
  const n = c == every ? 0 : c + 1;
  store<u32>(m, n, 12);
  return (n == 0) != inv;
}

/** limit_mt: a token bucket in credits (xt_limit.c; CREDITS_PER_JIFFY from HZ). */
function limitMatch(m: usize): bool {
  const cost = load<u32>(m, 4);
  const cap = load<u32>(m, 8);
  let credit = load<u32>(m, 12);
  const now = <u32>jiffies();
  const prev = load<u32>(m, 16);
  if (credit < cost && prev == now) return false;
  credit = <u32>min<u64>(<u64>credit + <u64>(now - prev) * <u64>creditsPerJiffy(), <u64>cap);
  store<u32>(m, now, 16);
  let ret = false;
  if (credit >= cost) { ret = true; credit -= cost; }
  store<u32>(m, credit, 12);
  return ret;
}

/** CREDITS_PER_JIFFY = POW2_BELOW32(0xFFFFFFFF / (HZ * 60 * 60 * 24)) */
export function creditsPerJiffy(): u32 {
  const maxCpj = <u32>(0xffffffff / (<u64>hz * 86400));
  let p: u32 = 1;
  while ((p << 1) <= maxCpj && p < 0x80000000) p <<= 1;
  return p;
}

/** owner_mt */
function ownerMatch(p: usize, m: usize): bool {
  const match = <u32>load<u8>(m, 4);
  const inv = <u32>load<u8>(m, M_INV);
  const px = <u32>load<u8>(p, PKT_PX);
  if ((px & (PX_HAS_SOCK | PX_KSOCK)) == 0) return (match ^ inv) == 0;
  if ((match & inv & 4) != 0) return false; // socket exists, ! --socket-exists
  if (px & PX_KSOCK) return ((match ^ inv) & 3) == 0; // a socket without a file
  if (match & 1) {
    const uid = load<u32>(p, PKT_UID);
    if ((uid >= load<u32>(m, 8) && uid <= load<u32>(m, 12)) == ((inv & 1) != 0)) return false;
  }
  if (match & 2) {
    const gid = load<u32>(p, PKT_GID);
    if ((gid >= load<u32>(m, 16) && gid <= load<u32>(m, 20)) == ((inv & 2) != 0)) return false;
  }
  return true;
}

/**
 * pkttype_mt (xt_pkttype.c): skb->pkt_type, or for PACKET_LOOPBACK the
 * destination's kind. A packet the node sends is PACKET_HOST at every hook
 * we run (looped back through lo it is too: eth_type_trans on lo's zero
 * address); ip_mc_output's PACKET_LOOPBACK copy (hsLoopbackPkt, in its
 * receive hooks) is multicast for a multicast destination, else broadcast.
 */
function pktType(p: usize): u32 {
  const f = <u32>load<u16>(p, PKT_FLAGS);
  if (p == hsLoopbackPkt) return (load<u32>(p, PKT_OUT_DST) & 0xf0000000) == 0xe0000000 ? 2 : 1;
  if ((f & PF_LOCAL) != 0 || (f & PF_L2_OTHER) == 0) return 0;
  if (f & PF_OTHERHOST) return 3;
  return (f & PF_L2_MCAST) != 0 ? 2 : 1;
}

/** iprange_mt4 (xt_iprange.c): host-order comparisons, each side with its own inversion. */
function iprangeMatch(p: usize, m: usize): bool {
  const flags = <u32>load<u8>(m, 4);
  if (flags & 1) {
    const a = load<u32>(p, PKT_OUT_SRC);
    const out = a < load<u32>(m, 8) || a > load<u32>(m, 12);
    if (out != ((flags & 16) != 0)) return false;
  }
  if (flags & 2) {
    const a = load<u32>(p, PKT_OUT_DST);
    const out = a < load<u32>(m, 16) || a > load<u32>(m, 20);
    if (out != ((flags & 32) != 0)) return false;
  }
  return true;
}

/** ttl_mt (ipt_ttl.c) on the header's TTL as it is at this hook (after ip_forward's decrement). */
function ttlMatch(p: usize, m: usize): bool {
  const ttl = <u32>load<u8>(p, PKT_OUT_TTL);
  const v = <u32>load<u8>(m, 5);
  switch (<u32>load<u8>(m, 4)) {
    case 0: return ttl == v;
    case 1: return ttl != v;
    case 2: return ttl < v;
    default: return ttl > v;
  }
}

/** tos_mt (xt_dscp.c), dscp_mt, ecn_mt4 (xt_ecn.c) on the TOS byte. */
function tosByteMatch(p: usize, m: usize): bool {
  const tos = <u32>load<u8>(p, PKT_TOS);
  const kind = <u32>load<u8>(m, 4);
  const inv = load<u8>(m, M_INV) != 0;
  if (kind == 0) return ((tos & <u32>load<u8>(m, 6)) == <u32>load<u8>(m, 5)) != inv;
  if (kind == 1) return ((tos >> 2) == <u32>load<u8>(m, 5)) != inv;
  const ops = <u32>load<u8>(m, 7);
  // match_ip: (tos & XT_ECN_IP_MASK) == ip_ect, inverted
  if ((ops & 1) != 0 && (((tos & 3) == <u32>load<u8>(m, 5)) == ((ops & 16) != 0))) return false;
  if (ops & 6) {
    // match_tcp: no TCP header to read (skb_header_pointer fails) is no match, not a hotdrop
    if (l4Bytes(p) < 20) return false;
    const f = <u32>load<u8>(p, PKT_TCPFLAGS);
    const want = <u32>load<u8>(m, 6);
    if ((ops & 2) != 0 && (f & 64) != (want & 64)) return false;
    if ((ops & 4) != 0 && (f & 128) != (want & 128)) return false;
  }
  return true;
}

/**
 * tcpmss_mt (xt_tcpmss.c): the first MSS option's value in range, inverted;
 * no options or no MSS option: only the inverted match. A header or its
 * options it cannot read: hotdrop (the same cases as tcp_mt's option walk).
 */
function tcpmssMatch(p: usize, m: usize): bool {
  if (<u32>load<u8>(p, PKT_PROTO) != 6) return false;
  const n = l4Bytes(p);
  if (n < 20) { hotdrop = true; return false; }
  const doff = <u32>load<u8>(p, PKT_TCP_DOFF);
  if (n != 0xffff && (doff < 5 || (doff << 2) > n)) { hotdrop = true; return false; }
  const inv = load<u8>(m, M_INV) != 0;
  if ((load<u8>(p, PKT_TCP_OPTS) & TO_MSS) == 0) return inv;
  const mss = <u32>load<u16>(p, PKT_TCP_MSS);
  return (mss >= <u32>load<u16>(m, 4) && mss <= <u32>load<u16>(m, 6)) != inv;
}

/** recent: the TTL as seen before forwarding (+1 when the packet has an output device and no socket). */
function recentRule(p: usize, m: usize): bool {
  const flags = <u32>load<u8>(m, 5);
  const addr = (flags & 4) != 0 ? load<u32>(p, PKT_OUT_DST) : load<u32>(p, PKT_OUT_SRC);
  let ttl = <u32>load<u8>(p, PKT_OUT_TTL);
  if (hsOut != 0 && (load<u8>(p, PKT_PX) & (PX_HAS_SOCK | PX_KSOCK)) == 0) ttl = (ttl + 1) & 0xff;
  return recentMatch(<u32>load<u16>(m, 6), <u32>load<u8>(m, 4), flags & 3, load<u32>(m, 8), load<u32>(m, 12), addr, ttl,
    load<u8>(m, M_INV) != 0);
}

/** Evaluates the extension matches of entry `e` in order; false at the first that fails. */
export function extMatches(p: usize, e: usize): bool {
  let m = e + E_MATCHES;
  const end = m + <usize>load<u16>(e, E_MATCH_BYTES);
  while (m < end) {
    if (!matchOne(p, e, m)) return false;
    m += <usize>load<u16>(m, M_LEN);
  }
  return true;
}

/** Entry `e`'s extension match at `m`, for packet `p` (its side effects included: statistic, recent, limit, nfacct). */
// @ts-ignore: decorator
@inline export function matchOne(p: usize, e: usize, m: usize): bool {
  const kind = <u32>load<u8>(m, M_KIND);
  let ok = true;
  switch (kind) {
    case M_TCP: ok = tcpUdpMatch(p, m, true); break;
    case M_UDP: ok = tcpUdpMatch(p, m, false); break;
    case M_ICMP: ok = icmpMatch(p, m); break;
    case M_MULTIPORT: ok = multiportMatch(p, m); break;
    case M_SCTP: ok = sctpMatch(p, m); break;
    case M_DCCP: ok = dccpMatch(p, m); break;
    case M_ADDRTYPE: ok = addrtypeMatch(p, m); break;
    case M_MARK: ok = ((load<u32>(p, PKT_OUT_MARK) & load<u32>(m, 8)) == load<u32>(m, 4)) != (load<u8>(m, M_INV) != 0); break;
    case M_CONNMARK: {
      const id = pktCt(p);
      // no entry: false, even inverted
      ok = id != 0 && ((ctMark(ctPtr(id - 1)) & load<u32>(m, 8)) == load<u32>(m, 4)) != (load<u8>(m, M_INV) != 0);
      break;
    }
    case M_CONNTRACK: ok = conntrackMatch(p, m); break;
    case M_STATISTIC: ok = statisticMatch(p, e, m); break;
    case M_RECENT: ok = recentRule(p, m); break;
    case M_NFACCT: {
      const c = nfacct + (<usize>load<u32>(m, 4) << 4);
      store<u64>(c, load<u64>(c) + 1);
      store<u64>(c, load<u64>(c, 8) + <u64>load<u16>(p, PKT_LEN), 8);
      break;
    }
    case M_LIMIT: ok = limitMatch(m); break;
    case M_OWNER: ok = ownerMatch(p, m); break;
    case M_LENGTH: {
      const len = <u32>load<u16>(p, PKT_LEN);
      ok = (len >= <u32>load<u16>(m, 4) && len <= <u32>load<u16>(m, 6)) != (load<u8>(m, M_INV) != 0);
      break;
    }
    case M_PKTTYPE: ok = (pktType(p) == <u32>load<u8>(m, 4)) != (load<u8>(m, M_INV) != 0); break;
    case M_IPRANGE: ok = iprangeMatch(p, m); break;
    case M_TTL: ok = ttlMatch(p, m); break;
    case M_TOSBYTE: ok = tosByteMatch(p, m); break;
    case M_TCPMSS: ok = tcpmssMatch(p, m); break;
    case M_RPFILTER: ok = rpfilterMatch(p, hsIn, <u32>load<u8>(m, 4)); break;
    case M_SET: {
      // match_set (xt_set.c): ip_set_test, inverted by `!`
      const hit = ipsetTest(prog, prog + <usize>load<u32>(m, 4), p, <u32>load<u8>(m, 8), <u32>load<u8>(m, 9), <u32>load<u8>(m, 10)) != 0;
      ok = hit != (load<u8>(m, M_INV) != 0);
      break;
    }
    default: break;
  }
  return ok;
}

export { hsHook };
