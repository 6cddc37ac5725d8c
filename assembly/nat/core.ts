/**
 * NAT bindings (net/netfilter/nf_nat_core.c, nf_nat_proto.c): what the
 * first packet of a connection sets up, and how every packet of it is then
 * rewritten.
 *
 *  - nf_nat_setup_info: choose the new tuple (get_unique_tuple), rewrite the
 *    entry's reply tuple so replies are recognised, set IPS_{SRC,DST}_NAT
 *    (only if something changed) and IPS_{SRC,DST}_NAT_DONE;
 *  - get_unique_tuple: keep the original when it is in range and free, reuse
 *    the mapping of another connection from the same source, hash the
 *    address out of a range (find_best_ips_proto), then search the port
 *    (nf_nat_l4proto_unique_tuple) from a random offset with the kernel's
 *    attempt limits;
 *  - nf_nat_packet / nf_nat_manip_pkt: rewrite the packet to look like the
 *    inverse of the other direction's tuple;
 *  - nf_nat_icmp_reply_translation: rewrite an ICMP error and the header it
 *    quotes.
 *
 * Randomness (the port search offset) comes from the seeded PRNG.
 */
import {
  PKT_PROTO, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_SPORT, PKT_OUT_DPORT, PKT_OUT_ICMP_ID, PKT_ICMP_TYPE, PKT_NAT_OPS,
  PKT_INNER_PROTO, PKT_INNER_ICMP_TYPE, PKT_OUT_INNER_SRC, PKT_OUT_INNER_DST, PKT_OUT_INNER_SPORT, PKT_OUT_INNER_DPORT,
  IPS_SRC_NAT, IPS_DST_NAT, IPS_NAT_MASK, IPS_SRC_NAT_DONE, IPS_DST_NAT_DONE, IPS_NAT_DONE_MASK, IPS_CONFIRMED,
  IPS_SEQ_ADJUST, IPS_FIXED_TIMEOUT, IPS_DYING, CTINFO_ESTABLISHED_REPLY,
  NF_NAT_RANGE_MAP_IPS, NF_NAT_RANGE_PROTO_SPECIFIED, NF_NAT_RANGE_PROTO_RANDOM, NF_NAT_RANGE_PERSISTENT,
  NF_NAT_RANGE_PROTO_RANDOM_FULLY, NF_NAT_RANGE_PROTO_OFFSET, NAT_OP_DNAT, NAT_OP_SNAT, NAT_OP_ICMP_INNER,
  TCP_CONNTRACK_SYN_SENT, TCP_CONNTRACK_TIME_WAIT, PKT_SEEN_SRC, PKT_SEEN_DST, PKT_SEEN_SPORT, PKT_SEEN_DPORT,
} from "../abi";
import {
  T_SRC, T_DST, T_SPORT, T_DPORT, T_PROTO, tupleEqual, tupleCopy, tupleInvert, protoHasPorts, tuple12Equal,
  tupleFromEntry, tupleToEntry, ctTuple, ctProto, ctStatus, ctStatusSet, ctState, tcpEnd,
} from "../conntrack/entry";
import { ctPtr, ctTupleTaken, ctFind, ctKill } from "../conntrack/table";
import { CTS_FOUND } from "../abi";
import { ctStat } from "../conntrack/stats";
import { zalloc } from "../util/mem";
import { randomU32 } from "../util/random";
import { bysrcAdd, bysrcFirst, bysrcNext, bysrcRef } from "./ext";

export const MANIP_SRC: u32 = 0;
export const MANIP_DST: u32 = 1;
const NF_NAT_MAX_ATTEMPTS: u32 = 128;
const NF_NAT_HARDER_THRESH: u32 = NF_NAT_MAX_ATTEMPTS / 4;
const RANDOM_ALL: u32 = NF_NAT_RANGE_PROTO_RANDOM | NF_NAT_RANGE_PROTO_RANDOM_FULLY;

/** The range handed to nf_nat_setup_info (struct nf_nat_range2), host-order addresses. */
export let rFlags: u32 = 0;
export let rMinIp: u32 = 0;
export let rMaxIp: u32 = 0;
export let rMinPort: u32 = 0;
export let rMaxPort: u32 = 0;
export let rBase: u32 = 0;
export function setRange(flags: u32, minIp: u32, maxIp: u32, minPort: u32, maxPort: u32, base: u32): void {
  rFlags = flags; rMinIp = minIp; rMaxIp = maxIp; rMinPort = minPort; rMaxPort = maxPort; rBase = base;
}

const tup: usize = zalloc(96);
const CURR: usize = 0;
const NEW: usize = 16;
const INV: usize = 32;
const TMP: usize = 48;
const TMP2: usize = 64;

/** HOOK2MANIP: SRC for POSTROUTING and INPUT, DST for PREROUTING and OUTPUT. */
// @ts-ignore: decorator
@inline export function hookManip(hook: u32): u32 { return hook == 4 || hook == 1 ? MANIP_SRC : MANIP_DST; }

/** nf_nat_initialized */
export function natInitialized(ct: usize, manip: u32): bool {
  return (ctStatus(ct) & (manip == MANIP_SRC ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE)) != 0;
}

// ---- tuple tests -------------------------------------------------------------

/** nf_nat_used_tuple: would `t`'s reply tuple clash with a confirmed entry? */
function usedTuple(t: usize, idx: u32): bool {
  tupleInvert(tup + INV, t);
  const taken = ctTupleTaken(tup + INV, idx);
  if (taken) ctStat(CTS_FOUND);
  return taken;
}

/** nf_nat_used_tuple_new: as usedTuple, but a non-NATed UDP flow may keep a tuple that clashes only with its own mirror image. */
function usedTupleNew(t: usize, idx: u32): bool {
  if (!usedTuple(t, idx)) return false;
  const ct = ctPtr(idx);
  const proto = ctProto(ct);
  if (!(proto == 17 || proto == 136 || proto == 47)) return true; // !allow_clash
  if (ctStatus(ct) & (IPS_NAT_MASK | IPS_SEQ_ADJUST)) return true;
  let node = ctFind(t);
  if (node == 0) {
    tupleInvert(tup + TMP, t);
    node = ctFind(tup + TMP);
    if (node == 0) return false; // the clashing entry went away
  }
  if (((node - 1) & 1) != 1) return true;
  const other = ctPtr((node - 1) >> 1);
  if (ctStatus(other) & (IPS_NAT_MASK | IPS_SEQ_ADJUST)) return true;
  if (ctProto(other) == proto && tuple12Equal(ctTuple(other, 0), ctTuple(ct, 1)) &&
      tuple12Equal(ctTuple(other, 1), ctTuple(ct, 0))) return false;
  return true;
}

/**
 * nf_nat_used_tuple_harder: in the last few attempts for a new TCP
 * connection, a colliding SNAT entry in TIME_WAIT or later whose sequence
 * numbers the new connection has passed is evicted and its tuple reused.
 */
function usedTupleHarder(t: usize, idx: u32, attemptsLeft: u32): bool {
  const ct = ctPtr(idx);
  if (attemptsLeft > NF_NAT_HARDER_THRESH || load<u8>(t, T_PROTO) != 6 || ctState(ct) != TCP_CONNTRACK_SYN_SENT) {
    return usedTuple(t, idx);
  }
  tupleInvert(tup + INV, t);
  const node = ctFind(tup + INV);
  if (node == 0) return false;
  if (((node - 1) & 1) == 0) return true;
  const oidx = (node - 1) >> 1;
  if (oidx == idx) return true;
  const other = ctPtr(oidx);
  const flags = ctStatus(other);
  // nf_nat_may_kill
  if (ctState(other) < <u32>TCP_CONNTRACK_TIME_WAIT) return true;
  if (flags & (IPS_FIXED_TIMEOUT | IPS_DYING)) return true;
  if (!(flags & IPS_SRC_NAT)) return true;
  // nf_seq_has_advanced
  if (<i32>(tcpEnd(ct, 0) - tcpEnd(other, 0)) <= 0) return true;
  ctKill(oidx);
  return false;
}

/** nf_nat_inet_in_range + nf_in_range (source manip view). */
function inRange(t: usize): bool {
  if (rFlags & NF_NAT_RANGE_MAP_IPS) {
    const a = load<u32>(t, T_SRC);
    if (a < rMinIp || a > rMaxIp) return false;
  }
  if (!(rFlags & NF_NAT_RANGE_PROTO_SPECIFIED)) return true;
  return l4InRange(t, MANIP_SRC);
}

/** l4proto_in_range */
function l4InRange(t: usize, manip: u32): bool {
  const proto = <u32>load<u8>(t, T_PROTO);
  if (proto == 1) {
    const id = <u32>load<u16>(t, T_SPORT);
    return id >= rMinPort && id <= rMaxPort;
  }
  if (protoHasPorts(proto) || proto == 47) {
    const port = <u32>load<u16>(t + (manip == MANIP_SRC ? T_SPORT : T_DPORT));
    return port >= rMinPort && port <= rMaxPort;
  }
  return true;
}

/** find_appropriate_src: another connection from the same source with a SRC mapping in range. */
function findAppropriateSrc(t: usize, result: usize): bool {
  const proto = <u32>load<u8>(t, T_PROTO);
  const src = load<u32>(t, T_SRC);
  const sport = <u32>load<u16>(t, T_SPORT);
  let n = bysrcFirst(src, sport, proto);
  while (n != 0) {
    const ct = ctPtr(bysrcRef(n));
    const o = ctTuple(ct, 0);
    // same_src (records of masquerade-only entries have no source mapping to copy)
    if ((ctStatus(ct) & IPS_SRC_NAT) != 0 && ctProto(ct) == proto && load<u32>(o, T_SRC) == src &&
        <u32>load<u16>(o, T_SPORT) == sport) {
      // copy the source part from the reply tuple, keep the destination
      tupleFromEntry(tup + TMP2, ct, 1);
      tupleInvert(result, tup + TMP2);
      store<u32>(result, load<u32>(t, T_DST), T_DST);
      store<u16>(result, load<u16>(t, T_DPORT), T_DPORT);
      if (inRange(result)) return true;
    }
    n = bysrcNext(n);
  }
  return false;
}

// ---- jhash2 (include/linux/jhash.h), for address ranges --------------------

// @ts-ignore: decorator
@inline function rol32(x: u32, s: u32): u32 { return rotl<u32>(x, s); }

/** jhash2 over 4 words {w0, 0, 0, 0} (an IPv4 nf_inet_addr) with `initval`. */
function jhash2Addr(w0: u32, initval: u32): u32 {
  let a: u32 = 0xdeadbeef + (4 << 2) + initval;
  let b = a;
  let c = a;
  a += w0; // b += 0; c += 0
  // __jhash_mix
  a -= c; a ^= rol32(c, 4); c += b;
  b -= a; b ^= rol32(a, 6); a += c;
  c -= b; c ^= rol32(b, 8); b += a;
  a -= c; a ^= rol32(c, 16); c += b;
  b -= a; b ^= rol32(a, 19); a += c;
  c -= b; c ^= rol32(b, 4); b += a;
  // last word (0), then __jhash_final
  c ^= b; c -= rol32(b, 14);
  a ^= c; a -= rol32(c, 11);
  b ^= a; b -= rol32(a, 25);
  c ^= b; c -= rol32(b, 16);
  a ^= c; a -= rol32(c, 4);
  b ^= a; b -= rol32(a, 14);
  c ^= b; c -= rol32(b, 24);
  return c;
}

/**
 * find_best_ips_proto: the address from the range. The kernel hashes the
 * network-order address words as host (little-endian on x86) integers, so
 * the byte-swapped values are hashed here to give x86's choice.
 */
function findBestIps(t: usize, manip: u32): void {
  if (!(rFlags & NF_NAT_RANGE_MAP_IPS)) return;
  const off = manip == MANIP_SRC ? T_SRC : T_DST;
  if (rMinIp == rMaxIp) { store<u32>(t + off, rMinIp); return; }
  const seed = (rFlags & NF_NAT_RANGE_PERSISTENT) ? 0 : bswap<u32>(load<u32>(t, T_DST));
  const j = jhash2Addr(bswap<u32>(load<u32>(t, T_SRC)), seed);
  const dist = rMaxIp - rMinIp + 1;
  // reciprocal_scale(j, dist); dist 0 means the whole space
  const pick = dist == 0 ? j : <u32>((<u64>j * <u64>dist) >> 32);
  store<u32>(t + off, rMinIp + pick);
}

/** nf_nat_l4proto_unique_tuple */
function l4UniqueTuple(t: usize, manip: u32, idx: u32): void {
  const proto = <u32>load<u8>(t, T_PROTO);
  let keyOff: usize;
  let min: u32;
  let rangeSize: u32;
  if (proto == 1) {
    keyOff = T_SPORT; // the echo id is the same either way
    if (!(rFlags & NF_NAT_RANGE_PROTO_SPECIFIED)) { min = 0; rangeSize = 65536; }
    else { min = rMinPort; rangeSize = rMaxPort - rMinPort + 1; }
  } else if (protoHasPorts(proto)) {
    keyOff = manip == MANIP_SRC ? T_SPORT : T_DPORT;
    if (!(rFlags & NF_NAT_RANGE_PROTO_SPECIFIED)) {
      if (manip == MANIP_DST) return; // a dst rewrite cannot change the port
      const port = <u32>load<u16>(t + keyOff);
      if (port < 1024) {
        if (port < 512) { min = 1; rangeSize = 511; }
        else { min = 600; rangeSize = 1023 - 600 + 1; }
      } else { min = 1024; rangeSize = 65535 - 1024 + 1; }
    } else {
      let lo = rMinPort;
      let hi = rMaxPort;
      if (hi < lo) { const x = lo; lo = hi; hi = x; }
      min = lo;
      rangeSize = hi - lo + 1;
    }
  } else {
    return; // GRE keys only for PPTP (not modelled), others have no ports
  }
  let off: u32;
  if (rFlags & NF_NAT_RANGE_PROTO_OFFSET) off = (<u32>load<u16>(t + keyOff) - rBase) & 0xffff;
  else if ((rFlags & RANDOM_ALL) != 0 || manip != MANIP_DST) off = randomU32() & 0xffff; // get_random_u16()
  else off = 0;
  let attempts = rangeSize;
  if (attempts > NF_NAT_MAX_ATTEMPTS) attempts = NF_NAT_MAX_ATTEMPTS;
  while (true) {
    for (let i: u32 = 0; i < attempts; i++, off = (off + 1) & 0xffff) {
      store<u16>(t + keyOff, <u16>(min + off % rangeSize));
      if (!usedTupleHarder(t, idx, attempts - i)) return;
    }
    if (attempts >= rangeSize || attempts < 16) return; // the last candidate stays
    attempts /= 2;
    off = randomU32() & 0xffff;
  }
}

/**
 * The packet whose capture copy (abi.ts PKT_SEEN_*) may decide the tuple of
 * the bindings it makes, or 0: set by the nat hook around the nat table's
 * walk and the null binding (netfilter/hooks.ts natHook).
 */
let seenPkt: usize = 0;
export function natSeenSet(p: usize): void { seenPkt = p; }

/**
 * The translation the packet's capture copy shows (what the kernel chose
 * when the capture was taken: a `--random-fully` port, an address of a
 * range, the port a clash moved it to), when this range could have made
 * it and its tuple is free: the replay takes the kernel's choice instead of
 * making its own (get_unique_tuple's search and its random draws). The
 * manip's address must be in the range (without NF_NAT_RANGE_MAP_IPS: the
 * packet's own); its port in the range with NF_NAT_RANGE_PROTO_SPECIFIED,
 * else unchanged for a destination and in nf_nat_l4proto_unique_tuple's
 * class of the original port (1-511, 600-1023, 1024-65535) for a source;
 * an echo identifier anywhere, or in the range. Writes the tuple to `out`.
 */
function seenTuple(out: usize, orig: usize, idx: u32, manip: u32): bool {
  const p = seenPkt;
  const proto = <u32>load<u8>(orig, T_PROTO);
  tupleCopy(out, orig);
  const addrOff: usize = manip == MANIP_SRC ? T_SRC : T_DST;
  const addr = load<u32>(p + (manip == MANIP_SRC ? PKT_SEEN_SRC : PKT_SEEN_DST));
  if (rFlags & NF_NAT_RANGE_MAP_IPS) {
    if (addr < rMinIp || addr > rMaxIp) return false;
  } else if (addr != load<u32>(orig + addrOff)) {
    return false;
  }
  store<u32>(out + addrOff, addr);
  if (proto == 1) {
    const id = <u32>load<u16>(p, PKT_SEEN_SPORT);
    if ((rFlags & NF_NAT_RANGE_PROTO_SPECIFIED) && (id < rMinPort || id > rMaxPort)) return false;
    store<u16>(out + T_SPORT, <u16>id);
  } else {
    const keyOff: usize = manip == MANIP_SRC ? T_SPORT : T_DPORT;
    const was = <u32>load<u16>(orig + keyOff);
    const port = <u32>load<u16>(p + (manip == MANIP_SRC ? PKT_SEEN_SPORT : PKT_SEEN_DPORT));
    if (rFlags & NF_NAT_RANGE_PROTO_SPECIFIED) {
      const lo = min<u32>(rMinPort, rMaxPort), hi = max<u32>(rMinPort, rMaxPort);
      if (port < lo || port > hi) return false;
    } else if (port != was) {
      if (manip == MANIP_DST) return false;
      const lo: u32 = was < 512 ? 1 : was < 1024 ? 600 : 1024;
      const hi: u32 = was < 512 ? 511 : was < 1024 ? 1023 : 65535;
      if (port < lo || port > hi) return false;
    }
    store<u16>(out + keyOff, <u16>port);
  }
  return !usedTuple(out, idx);
}

/** get_unique_tuple (first, the capture copy's choice: seenTuple) */
function getUniqueTuple(out: usize, orig: usize, idx: u32, manip: u32): void {
  if (seenPkt != 0 && seenTuple(out, orig, idx, manip)) return;
  if (manip == MANIP_SRC && !(rFlags & RANDOM_ALL)) {
    if (inRange(orig)) {
      if (!usedTupleNew(orig, idx)) { tupleCopy(out, orig); return; }
    } else if (findAppropriateSrc(orig, out)) {
      if (!usedTuple(out, idx)) return;
    }
  }
  tupleCopy(out, orig);
  findBestIps(out, manip);
  if (!(rFlags & RANDOM_ALL)) {
    if (rFlags & NF_NAT_RANGE_PROTO_SPECIFIED) {
      if (!(rFlags & NF_NAT_RANGE_PROTO_OFFSET) && l4InRange(out, manip) &&
          (rMinPort == rMaxPort || !usedTuple(out, idx))) return;
    } else if (!usedTuple(out, idx)) {
      return;
    }
  }
  l4UniqueTuple(out, manip, idx);
}

/**
 * nf_nat_setup_info for entry `idx` with the current range. Returns true
 * (NF_ACCEPT); a confirmed entry is left alone.
 */
export function natSetupInfo(idx: u32, manip: u32): bool {
  const ct = ctPtr(idx);
  if (ctStatus(ct) & IPS_CONFIRMED) return true;
  if (natInitialized(ct, manip)) return false; // WARN_ON -> NF_DROP
  const curr = tup + CURR;
  const nw = tup + NEW;
  tupleFromEntry(tup + TMP2, ct, 1);
  tupleInvert(curr, tup + TMP2);
  getUniqueTuple(nw, curr, idx, manip);
  if (!tupleEqual(nw, curr)) {
    // alter the reply tuple so replies are recognised
    tupleInvert(tup + TMP2, nw);
    tupleToEntry(ct, 1, tup + TMP2);
    // the by-source hash (see ext.ts for why only changed tuples go in)
    if (manip == MANIP_SRC) bysrcAdd(idx, ct);
    ctStatusSet(ct, manip == MANIP_SRC ? IPS_SRC_NAT : IPS_DST_NAT);
  }
  ctStatusSet(ct, manip == MANIP_DST ? IPS_DST_NAT_DONE : IPS_SRC_NAT_DONE);
  return true;
}

/** nf_nat_alloc_null_binding: the identity mapping (a SRC one may still move the port). */
export function natNullBinding(idx: u32, manip: u32): bool {
  const ct = ctPtr(idx);
  const ip = load<u32>(ctTuple(ct, 1) + (manip == MANIP_SRC ? T_DST : T_SRC));
  setRange(NF_NAT_RANGE_MAP_IPS, ip, ip, 0, 0, 0);
  return natSetupInfo(idx, manip);
}

/** nf_nat_manip_pkt: make the packet look like the inverse of the other direction's tuple. */
// @ts-ignore: decorator
@inline
function manipPkt(p: usize, ct: usize, manip: u32, dir: u32): void {
  // the target is the inverse of the other direction's tuple: its source is
  // that tuple's destination and vice versa (an ICMP id stays the source part)
  const other = ctTuple(ct, dir ^ 1);
  const proto = <u32>load<u8>(p, PKT_PROTO);
  if (manip == MANIP_SRC) {
    const a = load<u32>(other, T_DST);
    const port = load<u16>(other, T_DPORT);
    if (load<u32>(p, PKT_OUT_SRC) != a || (protoHasPorts(proto) && load<u16>(p, PKT_OUT_SPORT) != port)) {
      store<u8>(p, load<u8>(p, PKT_NAT_OPS) | <u8>NAT_OP_SNAT, PKT_NAT_OPS);
    }
    store<u32>(p, a, PKT_OUT_SRC);
    if (protoHasPorts(proto)) store<u16>(p, port, PKT_OUT_SPORT);
  } else {
    const a = load<u32>(other, T_SRC);
    const port = load<u16>(other, T_SPORT);
    if (load<u32>(p, PKT_OUT_DST) != a || (protoHasPorts(proto) && load<u16>(p, PKT_OUT_DPORT) != port)) {
      store<u8>(p, load<u8>(p, PKT_NAT_OPS) | <u8>NAT_OP_DNAT, PKT_NAT_OPS);
    }
    store<u32>(p, a, PKT_OUT_DST);
    if (protoHasPorts(proto)) store<u16>(p, port, PKT_OUT_DPORT);
  }
  // icmp_manip_pkt: queries carry the id (either manip)
  if (proto == 1 && isQuery(<u32>load<u8>(p, PKT_ICMP_TYPE))) store<u16>(p, load<u16>(other, T_SPORT), PKT_OUT_ICMP_ID);
}

// @ts-ignore: decorator
@inline function isQuery(type: u32): bool {
  return type == 0 || type == 8 || type == 13 || type == 14 || type == 15 || type == 16 || type == 17 || type == 18;
}

/** nf_nat_packet */
// @ts-ignore: decorator
@inline
export function natPacket(p: usize, idx: u32, ctinfo: u32, hook: u32): void {
  const ct = ctPtr(idx);
  const manip = hookManip(hook);
  const dir: u32 = ctinfo >= <u32>CTINFO_ESTABLISHED_REPLY ? 1 : 0;
  let statusbit = manip == MANIP_SRC ? IPS_SRC_NAT : IPS_DST_NAT;
  if (dir == 1) statusbit ^= IPS_NAT_MASK;
  if (ctStatus(ct) & statusbit) manipPkt(p, ct, manip, dir);
}

/**
 * nf_nat_icmp_reply_translation for an ICMP error attached (RELATED) to
 * entry `idx`: the quoted header is rewritten with the other direction's
 * tuple and the opposite manip, the outer header like a reply. Returns false
 * to drop (a redirect of a NATed connection).
 */
export function natIcmpReplyTranslation(p: usize, idx: u32, ctinfo: u32, hook: u32): bool {
  const ct = ctPtr(idx);
  const dir: u32 = ctinfo >= <u32>CTINFO_ESTABLISHED_REPLY ? 1 : 0;
  const manip = hookManip(hook);
  const st = ctStatus(ct);
  if (<u32>load<u8>(p, PKT_ICMP_TYPE) == 5) {
    if ((st & IPS_NAT_DONE_MASK) != IPS_NAT_DONE_MASK) return false;
    if (st & IPS_NAT_MASK) return false;
  }
  let statusbit = manip == MANIP_SRC ? IPS_SRC_NAT : IPS_DST_NAT;
  if (dir == 1) statusbit ^= IPS_NAT_MASK;
  if (!(st & statusbit)) return true;
  // inner: manip with ct->tuplehash[!dir] and !manip
  const other = ctTuple(ct, dir ^ 1);
  const innerProto = <u32>load<u8>(p, PKT_INNER_PROTO);
  if (manip == MANIP_DST) {
    // !manip = SRC: inner source <- other.src
    store<u32>(p, load<u32>(other, T_SRC), PKT_OUT_INNER_SRC);
    if (protoHasPorts(innerProto)) store<u16>(p, load<u16>(other, T_SPORT), PKT_OUT_INNER_SPORT);
  } else {
    store<u32>(p, load<u32>(other, T_DST), PKT_OUT_INNER_DST);
    if (protoHasPorts(innerProto)) store<u16>(p, load<u16>(other, T_DPORT), PKT_OUT_INNER_DPORT);
  }
  if (innerProto == 1 && isQuery(<u32>load<u8>(p, PKT_INNER_ICMP_TYPE))) store<u16>(p, load<u16>(other, T_SPORT), PKT_OUT_INNER_SPORT);
  store<u8>(p, load<u8>(p, PKT_NAT_OPS) | <u8>NAT_OP_ICMP_INNER, PKT_NAT_OPS);
  // outer: like the reply to an incoming packet (the inverse of `other`)
  if (manip == MANIP_SRC) {
    const a = load<u32>(other, T_DST);
    if (load<u32>(p, PKT_OUT_SRC) != a) store<u8>(p, load<u8>(p, PKT_NAT_OPS) | <u8>NAT_OP_SNAT, PKT_NAT_OPS);
    store<u32>(p, a, PKT_OUT_SRC);
  } else {
    const a = load<u32>(other, T_SRC);
    if (load<u32>(p, PKT_OUT_DST) != a) store<u8>(p, load<u8>(p, PKT_NAT_OPS) | <u8>NAT_OP_DNAT, PKT_NAT_OPS);
    store<u32>(p, a, PKT_OUT_DST);
  }
  return true;
}

export { RANDOM_ALL, NF_NAT_RANGE_PROTO_SPECIFIED, T_DST, T_SRC };
