/**
 * Connection tracking core (net/netfilter/nf_conntrack_core.c):
 * nf_conntrack_in (at PREROUTING and OUTPUT), resolve_normal_ct,
 * init_conntrack with the nf_conntrack_max limit and early drop, the ICMP
 * error path that attaches errors to their connection as RELATED, the UDP,
 * ICMP and generic trackers, and __nf_conntrack_confirm (at POSTROUTING and
 * INPUT) with clash resolution.
 *
 * A packet's entry is kept in its descriptor (PKT_CT_ID, PKT_CT_INFO), like
 * skb->_nfct. An entry is private to its packet until confirmed; entries a
 * packet created but never confirmed (dropped, or a REJECT answered it) are
 * freed when the packet's processing ends (ctPacketDone).
 */
import { ipHdrLen } from "../util/ip";
import {
  PKT_PROTO, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_SPORT, PKT_OUT_DPORT, PKT_OUT_ICMP_ID, PKT_ICMP_TYPE, PKT_ICMP_CODE,
  PKT_INNER_PROTO, PKT_OUT_INNER_SRC, PKT_OUT_INNER_DST, PKT_OUT_INNER_SPORT, PKT_OUT_INNER_DPORT,
  PKT_INNER_ICMP_TYPE, PKT_INNER_ICMP_CODE, PKT_FLAGS, PF_INNER, PKT_LEN, PKT_CSUM, PKT_CSCOV, CSUM_BAD, CSUM_NONE, PKT_L4_BYTES,
  NF_INET_PRE_ROUTING, PF_UDP_LEN_BAD,
  PKT_CT_ID, PKT_CT_INFO, PKT_CT_STATUS, PKT_CT_MARK, PKT_CT_STATE, PKT_CT_PROTO, PKT_CT_TIMEOUT,
  PKT_CT_ORIG_SRC, PKT_CT_ORIG_DST, PKT_CT_ORIG_SPORT, PKT_CT_ORIG_DPORT, PKT_CT_REPL_SRC, PKT_CT_REPL_DST,
  PKT_CT_REPL_SPORT, PKT_CT_REPL_DPORT,
  CTINFO_ESTABLISHED, CTINFO_RELATED, CTINFO_NEW, CTINFO_ESTABLISHED_REPLY, CTINFO_UNTRACKED, CTINFO_NONE,
  IPS_SEEN_REPLY, IPS_ASSURED, IPS_CONFIRMED, IPS_EXPECTED, IPS_DYING, IPS_NAT_CLASH, IPS_FIXED_TIMEOUT,
  CTS_INVALID, CTS_DROP, CTS_ERROR, CTS_INSERT_FAILED, CTS_CLASH_RESOLVE, CTS_CHAINTOOLONG,
  CTD_SIZE, CTD_ORIG_SRC, CTD_ORIG_DST, CTD_ORIG_SPORT, CTD_ORIG_DPORT, CTD_REPL_SRC, CTD_REPL_DST, CTD_REPL_SPORT,
  CTD_REPL_DPORT, CTD_PROTO, CTD_STATE, CTD_STATUS, CTD_MARK, CTD_TIMEOUT, CTD_ID, DROP_CT_TABLE_FULL, DROP_NETFILTER,
} from "../abi";
import {
  T_SRC, T_DST, T_SPORT, T_DPORT, T_PROTO, CT_ORIG, tupleSet, tupleInvert, protoHasPorts, icmpInvertType,
  ctStatus, ctStatusSet, ctMark, ctProto, ctState, ctTuple, tcpSetState,
  udpStreamTs, udpSetStreamTs, tuple12Equal,
} from "./entry";
import {
  gcNoteTableFull, ctPtr, ctFind, ctFindV, ctAllocRaw, ctFree, ctCount, ctEarlyDrop, tupleHashV, ctHashInsert,
  ctConfirmScan, ctExpired, nfctTime, ctKill, ctIterReset, ctIterNext, ctInUse, CT_REF_NONE, ctTimeout, ctSetTimeout,
} from "./table";
import { ctMax, udpTimeout, udpStreamTimeout, icmpTimeout, genericTimeout, greTimeout, greStreamTimeout, ctChecksum } from "./config";
import { hsHook } from "../netfilter/state";
import { ctStat } from "./stats";
import { pfLookup } from "./prefetch";
import { tcpPacket } from "./tcp";
import { sctpPacket } from "./sctp";
import { nfChecksumBad } from "./csum";
import { NF_ACCEPT, NF_DROP, NF_INVALID, NF_REPEAT, ctRefresh } from "./verdict";
import { zalloc } from "../util/mem";
import { randomBelow } from "../util/random";
import { hz } from "../config";

/** Scratch tuples. */
const tup: usize = zalloc(64);
const TUP_INV: usize = 16;
const TUP_INNER: usize = 32;

// ---- the entries created by the packet being processed -----------------------
/** Entries created by the packets of one round (smp.ts: up to 64 packets and their replies). */
const PENDING_MAX: u32 = 512;
const pending: usize = zalloc(PENDING_MAX << 2);
let pendingCount: u32 = 0;

// @ts-ignore: decorator
@inline export function pktCt(p: usize): u32 { return load<u32>(p, PKT_CT_ID); }
// @ts-ignore: decorator
@inline export function pktCtInfo(p: usize): u32 { return <u32>load<u8>(p, PKT_CT_INFO); }

/** nf_ct_set */
export function ctAttach(p: usize, idx: u32, ctinfo: u32): void {
  store<u32>(p, idx + 1, PKT_CT_ID);
  store<u8>(p, <u8>ctinfo, PKT_CT_INFO);
}
export function ctDetach(p: usize): void {
  store<u32>(p, 0, PKT_CT_ID);
  store<u8>(p, <u8>CTINFO_NONE, PKT_CT_INFO);
}

/** The packet's tuple (nf_ct_get_tuple) from its live header, as values. */
let kSrc: u32 = 0;
let kDst: u32 = 0;
/** sport | dport << 16 (for ICMP: id | (type << 8 | code) << 16). */
let kPorts: u32 = 0;
let kProto: u32 = 0;
// @ts-ignore: decorator
@inline
function packetKey(p: usize): void {
  const proto = <u32>load<u8>(p, PKT_PROTO);
  kProto = proto;
  kSrc = load<u32>(p, PKT_OUT_SRC);
  kDst = load<u32>(p, PKT_OUT_DST);
  if (proto == 1) {
    kPorts = <u32>load<u16>(p, PKT_OUT_ICMP_ID) | (((<u32>load<u8>(p, PKT_ICMP_TYPE) << 8) | <u32>load<u8>(p, PKT_ICMP_CODE)) << 16);
  } else if (protoHasPorts(proto)) {
    kPorts = <u32>load<u16>(p, PKT_OUT_SPORT) | (<u32>load<u16>(p, PKT_OUT_DPORT) << 16);
  } else {
    kPorts = 0;
  }
}

/** The tuple of the header quoted in an ICMP error (nf_ct_get_tuplepr on the inner packet). */
function innerTuple(p: usize, t: usize): bool {
  if (!(load<u16>(p, PKT_FLAGS) & PF_INNER)) return false;
  const proto = <u32>load<u8>(p, PKT_INNER_PROTO);
  const src = load<u32>(p, PKT_OUT_INNER_SRC);
  const dst = load<u32>(p, PKT_OUT_INNER_DST);
  if (proto == 1) {
    tupleSet(t, src, dst, load<u16>(p, PKT_OUT_INNER_SPORT),
      (<u32>load<u8>(p, PKT_INNER_ICMP_TYPE) << 8) | <u32>load<u8>(p, PKT_INNER_ICMP_CODE), 1);
  } else if (protoHasPorts(proto)) {
    tupleSet(t, src, dst, load<u16>(p, PKT_OUT_INNER_SPORT), load<u16>(p, PKT_OUT_INNER_DPORT), proto);
  } else {
    tupleSet(t, src, dst, 0, 0, proto);
  }
  return true;
}

/** icmp_is_err */
// @ts-ignore: decorator
@inline function icmpIsErr(type: u32): bool {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/**
 * nf_conntrack_icmpv4_error (+ nf_conntrack_inet_error). Returns NF_ACCEPT
 * to go on with normal tracking, 2 when the error was attached to its
 * connection, or NF_INVALID.
 */
function icmpError(p: usize): i32 {
  // fewer than 8 bytes: skb_header_pointer(sizeof(struct icmphdr)) fails, "short packet"
  const l4 = <u32>load<u8>(p, PKT_L4_BYTES);
  if (l4 != 0 && l4 - 1 < 8) return NF_INVALID;
  if (nfChecksumBad(p)) return NF_INVALID; // "bad hw icmp checksum"
  const type = <u32>load<u8>(p, PKT_ICMP_TYPE);
  if (type > 18) return NF_INVALID; // "invalid icmp type"
  if (!icmpIsErr(type)) return NF_ACCEPT;
  const inner = tup + TUP_INNER;
  const inv = tup + TUP_INV;
  if (!innerTuple(p, inner)) return NF_INVALID;
  // "ordinarily we'd expect the inverted tupleproto, but it's been preserved inside the ICMP"
  if (!tupleInvert(inv, inner)) return NF_INVALID;
  const node = ctFind(inv);
  if (node == 0) return NF_INVALID;
  const idx = (node - 1) >> 1;
  const dir = (node - 1) & 1;
  const ct = ctPtr(idx);
  // the outer destination must be where that direction goes
  const ctDaddr = load<u32>(ctTuple(ct, dir), T_DST);
  if (load<u32>(p, PKT_OUT_DST) != ctDaddr) return NF_INVALID;
  ctAttach(p, idx, dir == 1 ? CTINFO_RELATED + 3 : CTINFO_RELATED);
  return 2;
}

/**
 * init_conntrack: a new, unconfirmed entry for the packet's tuple (the key
 * values). Returns its reference, CT_REF_NONE if the tuple cannot be
 * inverted (no entry, INVALID), or 0xFFFFFFFE if the table is full (drop).
 */
function initConntrack(hash: u32): u32 {
  // nf_ct_invert_tuple
  let rPorts: u32;
  if (kProto == 1) {
    const inv = icmpInvertType((kPorts >> 24) & 0xff);
    if (inv < 0) return CT_REF_NONE;
    rPorts = (kPorts & 0xffff) | (((<u32>inv << 8) | ((kPorts >> 16) & 0xff)) << 16);
  } else {
    rPorts = (kPorts >> 16) | (kPorts << 16);
  }
  // __nf_conntrack_alloc: the count includes unconfirmed entries
  if (ctMax != 0 && ctCount + 1 > ctMax) {
    if (!ctEarlyDrop(hash)) {
      gcNoteTableFull();
      return 0xfffffffe; // "nf_conntrack: table full, dropping packet"
    }
  }
  const idx = ctAllocRaw(kProto);
  if (idx == CT_REF_NONE) return 0xfffffffe;
  const ct = ctPtr(idx);
  const o = ctTuple(ct, 0);
  store<u32>(o, kSrc, T_SRC);
  store<u32>(o, kDst, T_DST);
  store<u32>(o, kPorts, T_SPORT);
  const r = ctTuple(ct, 1);
  store<u32>(r, kDst, T_SRC);
  store<u32>(r, kSrc, T_DST);
  store<u32>(r, rPorts, T_SPORT);
  if (pendingCount < PENDING_MAX) {
    store<u32>(pending + (<usize>pendingCount << 2), idx);
    pendingCount++;
  }
  return idx;
}

/** resolve_normal_ct: <0 table full; otherwise the entry (maybe none) is attached. */
// @ts-ignore: decorator
@inline
function resolveNormalCt(p: usize): i32 {
  packetKey(p);
  // the prefetch's answer when it is what the walk would find (no hash needed: the node has the tuple), else the walk
  let hash: u32 = 0;
  let node = pfLookup(kSrc, kDst, kPorts, kProto);
  if (node == 0) {
    hash = tupleHashV(kSrc, kDst, kPorts, kProto);
    node = ctFindV(kSrc, kDst, kPorts, kProto, hash);
  }
  let idx: u32;
  let dir: u32;
  if (node == 0) {
    idx = initConntrack(hash);
    if (idx == CT_REF_NONE) { ctDetach(p); return 0; }
    if (idx == 0xfffffffe) { ctDetach(p); return -1; }
    dir = 0;
  } else {
    idx = (node - 1) >> 1;
    dir = (node - 1) & 1;
  }
  let ctinfo: u32;
  if (dir == 1) {
    ctinfo = CTINFO_ESTABLISHED_REPLY;
  } else {
    const st = ctStatus(ctPtr(idx));
    if (st & IPS_SEEN_REPLY) ctinfo = CTINFO_ESTABLISHED;
    else if (st & IPS_EXPECTED) ctinfo = CTINFO_RELATED;
    else ctinfo = CTINFO_NEW;
  }
  ctAttach(p, idx, ctinfo);
  return 0;
}

/** The transport checksum is checked (nf_checksum) only at PREROUTING, with nf_conntrack_checksum on. */
// @ts-ignore: decorator
@inline function badChecksum(p: usize): bool {
  return ctChecksum && hsHook == NF_INET_PRE_ROUTING && <u32>load<u8>(p, PKT_CSUM) == CSUM_BAD;
}

/** udp_error: a truncated datagram, or a bad checksum (a zero checksum field means none: fine). */
function udpError(p: usize): bool {
  // under 8 bytes: "short packet" (PKT_L4_BYTES; a JSONL len below 28 says it too)
  if (load<u8>(p, PKT_L4_BYTES) != 0 || <u32>load<u16>(p, PKT_LEN) < ipHdrLen(p) + 8) return true;
  // a length field beyond the datagram or below 8: "truncated/malformed packet"
  if (<u32>load<u16>(p, PKT_FLAGS) & PF_UDP_LEN_BAD) return true;
  if (<u32>load<u8>(p, PKT_CSUM) == CSUM_NONE) return false;
  // nf_ip_checksum sums all the transport bytes (skb->len - dataoff), the length field notwithstanding
  return nfChecksumBad(p);
}

/** udplite_error: checksum coverage outside 8..length, no checksum (mandatory for UDP-Lite), a bad one. */
function udpliteError(p: usize): bool {
  const udplen = <u32>load<u16>(p, PKT_LEN) - ipHdrLen(p);
  if (<i32>udplen < 8 || load<u8>(p, PKT_L4_BYTES) != 0) return true; // "short packet", "packet too short"
  const cscov = <u32>load<u16>(p, PKT_CSCOV);
  if (cscov != 0 && (cscov < 8 || cscov > udplen)) return true; // "invalid checksum coverage"
  if (<u32>load<u8>(p, PKT_CSUM) == CSUM_NONE) return true; // "checksum missing"
  return badChecksum(p);
}

/** nf_conntrack_udp_packet */
function udpPacket(idx: u32, ct: usize, p: usize): i32 {
  if (udpError(p)) return NF_INVALID;
  const st = ctStatus(ct);
  const now = nfctTime();
  if ((st & IPS_CONFIRMED) == 0) udpSetStreamTs(ct, 2 * hz + now);
  if (st & IPS_SEEN_REPLY) {
    let extra = udpTimeout();
    let stream = false;
    // still active after two seconds? extend the timeout
    if (<i32>(udpStreamTs(ct) - now) < 0) {
      extra = udpStreamTimeout();
      stream = (st & IPS_ASSURED) == 0;
    }
    ctRefresh(idx, ct, extra);
    if (st & IPS_NAT_CLASH) return NF_ACCEPT; // never ASSURED: they time out soon
    if (stream) ctStatusSet(ct, IPS_ASSURED);
  } else {
    ctRefresh(idx, ct, udpTimeout());
  }
  return NF_ACCEPT;
}

/**
 * nf_conntrack_udplite_packet: UDP's timeouts without the two-second stream
 * rule: 120 s and ASSURED from the first packet after a reply.
 */
function udplitePacket(idx: u32, ct: usize, p: usize): i32 {
  if (udpliteError(p)) return NF_INVALID;
  const st = ctStatus(ct);
  if (st & IPS_SEEN_REPLY) {
    ctRefresh(idx, ct, udpStreamTimeout());
    if (st & IPS_NAT_CLASH) return NF_ACCEPT; // never ASSURED: they time out soon
    ctStatusSet(ct, IPS_ASSURED);
  } else {
    ctRefresh(idx, ct, udpTimeout());
  }
  return NF_ACCEPT;
}

/**
 * nf_conntrack_gre_packet: 30 s until a packet arrives after a reply
 * (nf_conntrack_gre_timeout), then 180 s (nf_conntrack_gre_timeout_stream)
 * and ASSURED. Keys are 0 (version 0 GRE "behaves like generic"; PPTP's
 * enhanced GRE needs the PPTP helper, which is not modelled).
 */
function grePacket(idx: u32, ct: usize): i32 {
  const st = ctStatus(ct);
  if (st & IPS_SEEN_REPLY) {
    ctRefresh(idx, ct, greStreamTimeout());
    if (st & IPS_NAT_CLASH) return NF_ACCEPT;
    ctStatusSet(ct, IPS_ASSURED);
  } else {
    ctRefresh(idx, ct, greTimeout());
  }
  return NF_ACCEPT;
}

/** nf_conntrack_icmp_packet: only queries can make a connection. */
function icmpPacket(idx: u32, ct: usize): i32 {
  const type = <u32>load<u16>(ctTuple(ct, 0), T_DPORT) >> 8;
  if (!(type == 8 || type == 13 || type == 15 || type == 17)) return NF_INVALID;
  ctRefresh(idx, ct, icmpTimeout());
  return NF_ACCEPT;
}

/** nf_conntrack_handle_packet */
// @ts-ignore: decorator
@inline
function handlePacket(idx: u32, p: usize, ctinfo: u32): i32 {
  const ct = ctPtr(idx);
  const proto = ctProto(ct);
  if (proto == 6) return tcpPacket(idx, ct, p, ctinfo >= <u32>CTINFO_ESTABLISHED_REPLY ? 1 : 0);
  if (proto == 17) return udpPacket(idx, ct, p);
  if (proto == 1) return icmpPacket(idx, ct);
  if (proto == 136) return udplitePacket(idx, ct, p);
  if (proto == 47) return grePacket(idx, ct);
  if (proto == 132) return sctpPacket(idx, ct, p, ctinfo >= <u32>CTINFO_ESTABLISHED_REPLY ? 1 : 0, badChecksum(p));
  ctRefresh(idx, ct, genericTimeout());
  return NF_ACCEPT;
}

/** Why nfConntrackIn dropped: DROP_CT_TABLE_FULL, else DROP_NETFILTER. */
export let ctDropReason: i32 = 0;

/**
 * nf_conntrack_in. Returns NF_ACCEPT or NF_DROP; the packet's entry and
 * ctinfo are in its descriptor (none = INVALID).
 */
// @ts-ignore: decorator
@inline
export function nfConntrackIn(p: usize): i32 {
  // previously seen (loopback) or untracked? ignore
  if (pktCt(p) != 0 || pktCtInfo(p) == CTINFO_UNTRACKED) return NF_ACCEPT;
  const proto = <u32>load<u8>(p, PKT_PROTO);
  // resolve_normal_ct: nf_ct_get_tuple cannot read the ports of fewer than 4 transport bytes: no entry, "invalid"
  const l4 = <u32>load<u8>(p, PKT_L4_BYTES);
  if (l4 != 0 && l4 - 1 < 4 && protoHasPorts(proto)) {
    ctStat(CTS_INVALID);
    ctDetach(p);
    return NF_ACCEPT;
  }
  if (proto == 1) {
    // nf_conntrack_handle_icmp
    const r = icmpError(p);
    if (r <= 0) {
      ctStat(CTS_ERROR);
      ctDetach(p);
      return NF_ACCEPT;
    }
    if (r == 2) return NF_ACCEPT; // attached to its connection as RELATED
  }
  for (let tries = 0; tries < 4; tries++) {
    if (resolveNormalCt(p) < 0) {
      ctStat(CTS_DROP);
      ctDropReason = DROP_CT_TABLE_FULL;
      return NF_DROP;
    }
    const id = pktCt(p);
    if (id == 0) {
      ctStat(CTS_INVALID);
      return NF_ACCEPT;
    }
    const ctinfo = pktCtInfo(p);
    const ret = handlePacket(id - 1, p, ctinfo);
    if (ret <= 0) {
      ctDetach(p);
      if (ret == NF_REPEAT) continue; // TCP reopen: a fresh entry
      ctStat(CTS_INVALID);
      if (ret == NF_DROP) { ctStat(CTS_DROP); ctDropReason = DROP_NETFILTER; return NF_DROP; }
      return NF_ACCEPT;
    }
    if (ctinfo == CTINFO_ESTABLISHED_REPLY) {
      // the entry may have been deleted (RST before any reply); its bits no longer matter
      ctStatusSet(ctPtr(id - 1), IPS_SEEN_REPLY);
    }
    return NF_ACCEPT;
  }
  return NF_ACCEPT;
}

/**
 * __nf_conntrack_confirm for the packet's entry (nf_confirm at POSTROUTING
 * and INPUT). Returns NF_ACCEPT or NF_DROP (insert_failed).
 */
// @ts-ignore: decorator
@inline
export function nfConfirm(p: usize): i32 {
  const id = pktCt(p);
  if (id == 0) return NF_ACCEPT;
  const idx = id - 1;
  const ct = ctPtr(idx);
  const st = ctStatus(ct);
  if (st & IPS_CONFIRMED) return NF_ACCEPT;
  // REJECT's attached replies travel the other way: only the original direction confirms
  if (pktCtInfo(p) >= <u32>CTINFO_ESTABLISHED_REPLY) return NF_ACCEPT;
  if (st & IPS_DYING) {
    ctStat(CTS_INSERT_FAILED);
    return NF_DROP;
  }
  const maxLen = 50 + randomBelow(30);
  let clash = ctConfirmScan(idx, 0, maxLen);
  if (clash == 0) clash = ctConfirmScan(idx, 1, maxLen);
  if (clash == 0xffffffff) {
    ctStat(CTS_CHAINTOOLONG);
    ctStat(CTS_INSERT_FAILED);
    return NF_DROP;
  }
  if (clash != 0) return resolveClash(p, idx, (clash - 1) >> 1);
  // the timeout is relative to confirmation time
  if (!(st & IPS_FIXED_TIMEOUT)) ctSetTimeout(idx, ctTimeout(idx) + nfctTime());
  ctStatusSet(ct, IPS_CONFIRMED);
  ctHashInsert(idx);
  return NF_ACCEPT;
}

/** nf_ct_match: identical in both directions. */
function ctMatch(a: usize, b: usize): bool {
  return ctProto(a) == ctProto(b) && tuple12Equal(ctTuple(a, 0), ctTuple(b, 0)) && tuple12Equal(ctTuple(a, 1), ctTuple(b, 1));
}
/** nf_ct_match_reverse: the same flow seen from the other side. */
function ctMatchReverse(a: usize, b: usize): bool {
  return ctProto(a) == ctProto(b) && tuple12Equal(ctTuple(a, 0), ctTuple(b, 1)) && tuple12Equal(ctTuple(a, 1), ctTuple(b, 0));
}

/** nf_ct_resolve_clash: `winner` is already in the table; the packet's entry `loser` lost. */
function resolveClash(p: usize, loser: u32, winner: u32): i32 {
  const l = ctPtr(loser);
  const w = ctPtr(winner);
  const proto = ctProto(w);
  // allow_clash: UDP, UDP-Lite, GRE (and, since early 2026, ICMP and generic)
  if (proto == 17 || proto == 136 || proto == 47) {
    // __nf_ct_resolve_clash: merge when both describe the same flow
    if (ctMatch(w, l) || ctMatchReverse(w, l)) {
      ctAttach(p, winner, pktCtInfo(p));
      ctStat(CTS_CLASH_RESOLVE);
      return NF_ACCEPT;
    }
    // nf_ct_resolve_clash_harder: insert the loser reply-only if its reply tuple is unique
    const n = ctConfirmScan(loser, 1, 0x7fffffff);
    if (n != 0) {
      const other = ctPtr((n - 1) >> 1);
      if (ctMatch(other, l) || ctMatchReverse(other, l)) {
        ctAttach(p, (n - 1) >> 1, pktCtInfo(p));
        ctStat(CTS_CLASH_RESOLVE);
        return NF_ACCEPT;
      }
    } else {
      ctSetTimeout(loser, nfctTime() + hz);
      ctStatusSet(l, IPS_FIXED_TIMEOUT | IPS_NAT_CLASH | IPS_CONFIRMED);
      ctHashInsert(loser); // reply direction only (IPS_NAT_CLASH)
      ctStat(CTS_CLASH_RESOLVE);
      return NF_ACCEPT;
    }
  }
  ctStat(CTS_DROP);
  ctStat(CTS_INSERT_FAILED);
  return NF_DROP;
}

/** Starts a top-level packet: no entries pending. */
export function ctPacketBegin(): void { pendingCount = 0; }

/**
 * Ends a top-level packet (and the replies it caused): entries it created
 * that were not confirmed die with their packets.
 */
// @ts-ignore: decorator
@inline
export function ctPacketDone(): void {
  for (let i: u32 = 0; i < pendingCount; i++) {
    const idx = load<u32>(pending + (<usize>i << 2));
    const ct = ctPtr(idx);
    if (ctInUse(ct) && (ctStatus(ct) & IPS_CONFIRMED) == 0) ctFree(idx);
  }
  pendingCount = 0;
}

/** Copies the packet's entry into its descriptor (the ct fields of the replay output). */
// @ts-ignore: decorator
@inline
export function ctSnapshot(p: usize): void {
  const id = pktCt(p);
  if (id == 0) return;
  const ref = id - 1;
  const ct = ctPtr(ref);
  // both tuples at once: the entry's 24 bytes (orig, reply) have the descriptor's layout (PKT_CT_ORIG_SRC..PKT_CT_REPL_DPORT)
  v128.store(p, v128.load(ct, CT_ORIG), PKT_CT_ORIG_SRC);
  store<u64>(p, load<u64>(ct, CT_ORIG + 16), PKT_CT_ORIG_SRC + 16);
  store<u8>(p, <u8>ctProto(ct), PKT_CT_PROTO);
  store<u8>(p, <u8>ctState(ct), PKT_CT_STATE);
  let st = ctStatus(ct);
  // gone (killed, or never confirmed and freed with its packet): report it dying
  const left = ctTimeout(ref) - nfctTime();
  const alive = ctInUse(ct) && (st & IPS_CONFIRMED) != 0 && <i32>left > 0; // !nf_ct_is_expired
  if ((st & IPS_CONFIRMED) != 0 && !alive) st |= IPS_DYING;
  store<u32>(p, st, PKT_CT_STATUS);
  store<u32>(p, ctMark(ct), PKT_CT_MARK);
  // in jiffies: the host divides by HZ (conntrack -L prints nf_ct_expires(ct) / HZ)
  store<u32>(p, alive ? left : 0, PKT_CT_TIMEOUT);
}

/** Writes up to `max` live entries as CTD_SIZE-byte records at `out` (from the iteration cursor). */
export function ctDump(out: usize, max: u32, restart: bool): u32 {
  if (restart) ctIterReset();
  let n: u32 = 0;
  while (n < max) {
    const idx = ctIterNext();
    if (idx == CT_REF_NONE) break;
    const ct = ctPtr(idx);
    const r = out + <usize>n * CTD_SIZE;
    const o = ctTuple(ct, 0);
    const t = ctTuple(ct, 1);
    store<u32>(r, load<u32>(o, T_SRC), CTD_ORIG_SRC);
    store<u32>(r, load<u32>(o, T_DST), CTD_ORIG_DST);
    store<u16>(r, load<u16>(o, T_SPORT), CTD_ORIG_SPORT);
    store<u16>(r, load<u16>(o, T_DPORT), CTD_ORIG_DPORT);
    store<u32>(r, load<u32>(t, T_SRC), CTD_REPL_SRC);
    store<u32>(r, load<u32>(t, T_DST), CTD_REPL_DST);
    store<u16>(r, load<u16>(t, T_SPORT), CTD_REPL_SPORT);
    store<u16>(r, load<u16>(t, T_DPORT), CTD_REPL_DPORT);
    store<u8>(r, <u8>ctProto(ct), CTD_PROTO);
    store<u8>(r, <u8>ctState(ct), CTD_STATE);
    store<u32>(r, ctStatus(ct), CTD_STATUS);
    store<u32>(r, ctMark(ct), CTD_MARK);
    const left = ctTimeout(idx) - nfctTime();
    store<u32>(r, left / hz, CTD_TIMEOUT);
    store<u32>(r, idx + 1, CTD_ID);
    n++;
  }
  return n;
}

export { ctKill, ctPtr, NF_ACCEPT, NF_DROP, CTINFO_NEW, CTINFO_ESTABLISHED, CTINFO_NONE };

/** nf_conntrack_tcp_set_closing (REJECT --reject-with tcp-reset on the old connection). */
export function ctSetClosing(idx: u32): void {
  const ct = ctPtr(idx);
  if (ctProto(ct) != 6) return;
  const st = ctStatus(ct);
  if (!(st & IPS_CONFIRMED)) return;
  const old = ctState(ct);
  tcpSetState(ct, 8 /* TCP_CONNTRACK_CLOSE */);
  if (old == 8 || (st & IPS_FIXED_TIMEOUT) != 0) return;
  ctSetTimeout(idx, tcpCloseTimeout() + nfctTime());
}
import { tcpTimeout } from "./config";
// @ts-ignore: decorator
@inline function tcpCloseTimeout(): u32 { return tcpTimeout(8); }
