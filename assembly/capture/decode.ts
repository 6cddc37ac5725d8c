/**
 * The capture decoder's fast path: pcapng Enhanced Packet Blocks (and
 * classic pcap records) in the host's read buffer (host/pcap/source.ts,
 * in this linear memory) straight to packet descriptors (abi.ts PKT_*),
 * byte for byte what the host's
 * decoder writes for the same frames (host/replay/pcap-source.ts fillAfter:
 * CaptureReader.next, decodeLink, parseIPv4, writeDescriptor).
 *
 * It walks records while every one is the common case, and stops before
 * the first that is not, which the host then decodes as always (same
 * descriptor, skips, counters, errors and their byte offsets); the host
 * calls again after it. The common case:
 *  - the block: an EPB of a little-endian section, all in the buffer, its
 *    lengths sound (the reader's checks), options well formed (epb_flags
 *    outbound: a frame the node sent), of an interface the host
 *    described (CD_IFS), whose frames' ingress slot the interface's id or
 *    name, an SLL2 ifindex or an Ethernet destination MAC tells (CD_TAB:
 *    IngressResolver.resolve's maps) or a source subnet (CD_SRC), and a time anchor
 *    with integer nanoseconds per unit (the reader's `stamp`, the same
 *    double arithmetic; times before the first frame are clamped, counted);
 *    or (CDF_PCAP) a record of a little-endian classic pcap file, its time
 *    from the first frame's as the reader's nextPcap computes it;
 *  - the link layer (decodeLink): Ethernet (802.1Q / 802.1ad tags
 *    stripped; a node MAC as the source: a frame the node sent), Linux cooked
 *    SLL / SLL2 (PACKET_OUTGOING: sent by the node; the packet type gives skb->pkt_type
 *    as the host's flags), raw IP; ARP and IPv6 frames are counted (once
 *    the host has counted one of the kind: the order it reports them in);
 *  - a frame the node sent: with CDF_NODE_SENDS classified as
 *    host/pcap/node-sends.ts does (outgoingClass): the node's own sends
 *    decoded as local sends (PF_LOCAL, no arrival slot, checksum taken as
 *    right), the rest counted by class (once the host has counted the
 *    class); a frame on lo is one the node sent (its incoming copy
 *    classified, an outgoing copy counted); without, all counted as "outgoing";
 *  - with a pairing block (CD_COPIES), forwarded copies paired with their
 *    originals of the fill (copies.ts; host/pcap/copies.ts states the
 *    rule): every arriving TCP, UDP and ICMP echo datagram recorded in its
 *    ring, every forwarded copy looked up there; the copy's header written
 *    into the original's descriptor (PKT_SEEN_*), or a patch (CP_PATCHES)
 *    when that descriptor was copied out of this memory already;
 *  - the IPv4 header as ip_rcv_core accepts it (parseIPv4): version 4, no
 *    options (IHL 5), header checksum right, total length within the frame
 *    on the wire, not a fragment; the wire bytes after it (padding, a
 *    trailer) are PKT_RCV_PAD. The whole datagram captured, or one the
 *    capture's snaplen cut after its transport header (TCP with its options,
 *    UDP, an ICMP message other than an error): its checksum taken as
 *    right and counted as not verified, as parseIPv4 does;
 *  - TCP with a sound data offset (window scale, SACK-permitted, SACK
 *    blocks and MSS options as tcp_options / tcp_sack / tcpmss_mt read
 *    them), UDP whose length field is the transport length, ICMP (an
 *    error's quoted header and ports or ICMP header as conntrack reads
 *    them, a quote too short marked malformed), protocols without a
 *    transport parser (REJECT's checksum verdict); the transport checksum checked when CDF_VERIFY says so
 *    (RFC 1071 one's-complement sum with the pseudo-header), else counted
 *    as not verified.
 * Anything else (other blocks, big-endian sections and files, IPv4
 * options, fragments, header errors, datagrams longer than the frame on
 * the wire, transport headers or ICMP quotes the snaplen cut, SCTP,
 * UDP-Lite, DCCP, other ethertypes, damage) is the host's.
 */
import {
  PKT_SIZE, PKT_SRC, PKT_DST, PKT_SPORT, PKT_PROTO, PKT_LEN, PKT_IIF, PKT_MARK, PKT_SEQ, PKT_ACK, PKT_WIN,
  PKT_ICMP_ID, PKT_INNER_SRC, PKT_INNER_DST, PKT_INNER_SPORT, PKT_INNER_PROTO, PKT_UID, PKT_TIME, PKT_VERDICT,
  PKT_TCP_WSCALE, PKT_TCP_SACK, PKT_GID, PKT_CSUM, PKT_INNER_ICMP_TYPE,
  PF_DF, PF_SRC_SET, PF_LOCAL, PF_INNER, PF_L2_OTHER, PF_L2_MCAST, PF_OTHERHOST, CSUM_OK, CSUM_BAD, CSUM_NONE,
  TO_SACK_PERM, TO_SACK, TO_MSS,
} from "../abi";
import {
  BT_EPB, OPT_ENDOFOPT, EPB_FLAGS, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL2,
  MAX_CAPLEN, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, PACKET_OUTGOING, ETH_P_IP, ETH_P_ARP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD, ETH_P_QINQ1,
  CD_BUF, CD_POS, CD_END, CD_OUT, CD_MAX, CD_FLAGS, CD_NIF, CD_IFS, CD_TAB, CD_TAB_MASK, CDT_SIZE, CDK_NODE_MAC, CDK_USER_MAC, CDK_AUTO_MAC, CDK_USER_IFINDEX, CDK_AUTO_IFINDEX, CD_RECORDS, CD_CLAMPED, CD_UNVERIFIED,
  CD_OUTGOING, CD_STOP, CD_NEED, CD_LAST_REC, CD_LAST_TS, CD_SEC0, CD_FRAC0, CD_FRAC_MULT, CD_SRC, CD_NSRC, CDS_SIZE, CD_PRESENT, CD_ARP, CD_IPV6, CD_MOVED, CDP_ARP, CDP_IPV6, CDF_VERIFY, CDF_PCAP, PCAP_RECORD, CDS_FULL, CDS_NEED, CDS_HOST,
  CDF_NODE_SENDS, CD_LOCAL, CD_NLOCAL, CD_TTL, CD_LO, CD_OUT_FWD, CD_OUT_ANSWER, CD_OUT_OTHER, CD_LOOPBACK, CD_NODE_SENDS,
  CDP_OUT_FWD, CDP_OUT_ANSWER, CDP_OUT_OTHER, CDP_LOOPBACK, CD_COPIES, CD_N0, CD_PAIRED, CDF_DIRECT, CP_NPATCH,
  CDI_LINKTYPE, CDI_SLOT, CDI_SNAPLEN, CDI_ANCHORED, CDI_AHI, CDI_ALO, CDI_ANS, CDI_NS_PER_UNIT, CDI_SIZE,
} from "./format";
import { copyOriginal, copyPair } from "./copies";

const TWO32: f64 = 4294967296.0;
/** Replay times at or beyond 2^53 ns are the host's (its word split). */
const TWO53: f64 = 9007199254740992.0;

// @ts-ignore: decorator
@inline function be16(a: usize): u32 { return <u32>bswap<u16>(load<u16>(a)); }
// @ts-ignore: decorator
@inline function be32(a: usize): u32 { return bswap<u32>(load<u32>(a)); }
// @ts-ignore: decorator
@inline function pad4(n: u32): u32 { return (n + 3) & ~3; }

/** Protocols whose first four transport bytes are the ports (wire.ts hasPorts). */
function hasPorts(p: u32): bool { return p == 6 || p == 17 || p == 136 || p == 132 || p == 33; }

/** The frame kind of an ethertype: 0 IPv4, CDP_ARP, CDP_IPV6, -1 another (the host's). */
function kindOf(et: u32): i32 { return et == ETH_P_IP ? 0 : et == ETH_P_ARP ? CDP_ARP : et == ETH_P_IPV6 ? CDP_IPV6 : -1; }

function isVlan(et: u32): bool { return et == ETH_P_8021Q || et == ETH_P_8021AD || et == ETH_P_QINQ1; }

/** Where the ethertype after any 802.1Q/802.1ad tags is, from the first ethertype at `et` (decodeLink's tag loop). */
// @ts-ignore: decorator
@inline function pastVlanTags(et: usize, dEnd: usize): usize {
  while (isVlan(be16(et)) && et + 6 <= dEnd) et += 4;
  return et;
}

/** A 48-bit MAC at `a` (network order) as a number. */
// @ts-ignore: decorator
@inline function mac48(a: usize): u64 { return (<u64>be16(a) << 32) | <u64>be32(a + 2); }

/**
 * The value of `key` (CDK_* kind << 48 | MAC or ifindex) in the ingress
 * table (open addressing, CDT_SIZE-byte entries: u64 key, 0 empty; u32
 * value), -1 when absent.
 */
function tabGet(tab: usize, mask: u32, key: u64): i32 {
  if (tab == 0) return -1;
  let i = <u32>((key * 0x9e3779b97f4a7c15) >> 40) & mask;
  let k = load<u64>(tab + <usize>i * CDT_SIZE);
  while (k != 0 && k != key) {
    i = (i + 1) & mask;
    k = load<u64>(tab + <usize>i * CDT_SIZE);
  }
  return k == key ? <i32>load<u32>(tab + <usize>i * CDT_SIZE, 8) : -1;
}

/** Ones'-complement sum (unfolded, in a u64) of n bytes at a as big-endian 16-bit words, the odd last byte as a high byte. */
function csumBytes(a: usize, n: u32): u64 {
  // little-endian 32-bit words sum to the byte-swapped word sum modulo 0xffff (RFC 1071)
  let le: u64 = 0;
  let i: u32 = 0;
  for (const n16 = n & ~15; i < n16; i += 16) {
    le += <u64>load<u32>(a + i) + <u64>load<u32>(a + i + 4) + <u64>load<u32>(a + i + 8) + <u64>load<u32>(a + i + 12);
  }
  for (const n4 = n & ~3; i < n4; i += 4) le += <u64>load<u32>(a + i);
  while (le > 0xffff) le = (le & 0xffff) + (le >> 16);
  let s: u64 = ((le & 0xff) << 8) | (le >> 8);
  if (i + 2 <= n) { s += <u64>be16(a + i); i += 2; }
  if (i < n) s += <u64>load<u8>(a + i) << 8;
  return s;
}

// @ts-ignore: decorator
@inline function foldOk(s: u64): bool {
  while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
  return s == 0xffff;
}

/** outgoingClass's answers (host/pcap/node-sends.ts OC_*). */
const OC_NODE_SEND: u32 = 0, OC_FORWARDED: u32 = 1, OC_ANSWER: u32 = 2, OC_OTHER: u32 = 3;
/** Why a frame the node sent is not replayed (the count it goes to). */
const SK_NONE: u32 = 0, SK_OUTGOING: u32 = 1, SK_LOOPBACK: u32 = 2, SK_OUT_FWD: u32 = 3, SK_OUT_ANSWER: u32 = 4, SK_OUT_OTHER: u32 = 5;

/**
 * What an outgoing IPv4 datagram at l3 (cap bytes captured, wire on the wire) is, as
 * host/pcap/node-sends.ts OutgoingClassifier.classify tells it: the node's
 * own send (its address as the source, net.ipv4.ip_default_ttl as the TTL,
 * TCP / UDP / ICMP echo request), a forwarded copy (another source, or a
 * TTL below the default: ip_forward's ip_decrease_ttl), one of the answers
 * the engine makes itself (RST with window 0 and no options, ICMP errors,
 * echo replies) or another.
 */
function outgoingClass(l3: usize, cap: u32, wire: i64, local: usize, nlocal: u32, defTtl: u32): u32 {
  if (cap < 20 || load<u8>(l3) != 0x45) return OC_OTHER;
  let hs: u32 = 0;
  for (let i: usize = 0; i < 20; i += 2) hs += <u32>load<u16>(l3 + i);
  while (hs > 0xffff) hs = (hs & 0xffff) + (hs >> 16);
  if (hs != 0xffff) return OC_OTHER;
  const ipLen = be16(l3 + 2);
  if (ipLen < 20 || <i64>ipLen > wire) return OC_OTHER;
  if (be16(l3 + 6) & 0x3fff) return OC_OTHER;
  const src = be32(l3 + 12);
  let isLocal = false;
  for (let i: u32 = 0; i < nlocal; i++) {
    const e = local + <usize>i * CDS_SIZE;
    if ((src & load<u32>(e, 4)) == load<u32>(e)) { isLocal = true; break; }
  }
  const ttl = <u32>load<u8>(l3 + 8);
  if (!isLocal || ttl < defTtl) return OC_FORWARDED;
  if (ttl != defTtl) return OC_OTHER;
  const proto = <u32>load<u8>(l3 + 9);
  // (l4: the transport bytes of the datagram; have: those captured)
  const t = l3 + 20, l4 = ipLen - 20, have = (ipLen < cap ? ipLen : cap) - 20;
  if (proto == 6) {
    if (l4 < 20 || have < 20) return OC_OTHER;
    const doff = <u32>load<u8>(t + 12) >> 4;
    if ((load<u8>(t + 13) & 4) != 0 && doff == 5 && load<u16>(t + 14) == 0) return OC_ANSWER;
    return doff >= 5 && doff * 4 <= l4 && doff * 4 <= have ? OC_NODE_SEND : OC_OTHER;
  }
  if (proto == 17) return l4 >= 8 && have >= 8 ? OC_NODE_SEND : OC_OTHER;
  if (proto == 1) {
    if (l4 < 8 || have < 8) return OC_OTHER;
    const type = <u32>load<u8>(t);
    if (type == 8) return OC_NODE_SEND;
    if (type == 0 || type == 3 || type == 4 || type == 5 || type == 11 || type == 12) return OC_ANSWER;
    return OC_OTHER;
  }
  return OC_OTHER;
}

/**
 * Decodes records from the state block `st` (CD_*); returns the descriptors
 * written. See the module comment for what it takes and what it leaves.
 */
export function captureDecode(st: usize): u32 {
  const buf = <usize>load<u32>(st + CD_BUF);
  let pos = load<u32>(st + CD_POS);
  const end = load<u32>(st + CD_END);
  const out = <usize>load<u32>(st + CD_OUT);
  const max = load<u32>(st + CD_MAX);
  const verify = (load<u32>(st + CD_FLAGS) & CDF_VERIFY) != 0;
  const nif = load<u32>(st + CD_NIF);
  const ifs = <usize>load<u32>(st + CD_IFS);
  const tab = <usize>load<u32>(st + CD_TAB);
  const tabMask = load<u32>(st + CD_TAB_MASK);
  const pcap = (load<u32>(st + CD_FLAGS) & CDF_PCAP) != 0;
  const sec0 = <f64>load<u32>(st + CD_SEC0), frac0 = load<f64>(st + CD_FRAC0), fracMult = <f64>load<u32>(st + CD_FRAC_MULT);
  let records: u32 = 0, clamped: u32 = 0, unverified: u32 = 0, outgoing: u32 = 0, arp: u32 = 0, ipv6: u32 = 0;
  const present = load<u32>(st + CD_PRESENT);
  const nodeSends = (load<u32>(st + CD_FLAGS) & CDF_NODE_SENDS) != 0;
  const localTab = <usize>load<u32>(st + CD_LOCAL), nlocal = load<u32>(st + CD_NLOCAL);
  const defTtl = load<u32>(st + CD_TTL), loSlot = load<u32>(st + CD_LO);
  let outFwd: u32 = 0, outAnswer: u32 = 0, outOther: u32 = 0, loopback: u32 = 0, sends: u32 = 0;
  // forwarded copies paired with their originals (copies.ts): the pairing block, 0 for none
  const cp = <usize>load<u32>(st + CD_COPIES);
  const n0 = load<u32>(st + CD_N0);
  const direct = (load<u32>(st + CD_FLAGS) & CDF_DIRECT) != 0;
  let paired: u32 = 0;
  if (cp != 0) store<u32>(cp + CP_NPATCH, 0);
  /** Interfaces whose time anchor moved (bit = interface id; at most 64 interfaces). */
  let moved: u64 = 0;
  let lastRec: u32 = 0;
  let lastTs: f64 = 0;
  let n: u32 = 0;
  let stop = CDS_FULL;
  let need: u32 = 0;
  while (n < max) {
    const o = buf + pos;
    let len: u32, cap: u32, origLen: u32, d: usize, ifc: usize, id: u32 = 0;
    let outbound = false;
    let hi: u32 = 0, lo: u32 = 0;
    let ts0: f64;
    if (pcap) {
      // a classic pcap record (the reader's nextPcap): 16-byte header, the frame
      if (end - pos < <u32>PCAP_RECORD) { stop = CDS_NEED; need = PCAP_RECORD; break; }
      cap = load<u32>(o + 8);
      ifc = ifs;
      const snap = load<u32>(ifc + CDI_SNAPLEN);
      if (nif == 0 || cap > <u32>MAX_CAPLEN || (snap != 0 && cap > snap)) { stop = CDS_HOST; break; }
      len = <u32>PCAP_RECORD + cap;
      if (end - pos < len) { stop = CDS_NEED; need = len; break; }
      ts0 = (<f64>load<u32>(o) - sec0) * 1e9 + (<f64>load<u32>(o + 4) * fracMult - frac0);
      origLen = load<u32>(o + 12);
      d = o + PCAP_RECORD;
    } else {
      if (end - pos < 8) { stop = CDS_NEED; need = 8; break; }
      len = load<u32>(o + 4);
      if (load<u32>(o) != BT_EPB || (len & 3) != 0 || len < 32 || len > <u32>MAX_CAPLEN + 65536) { stop = CDS_HOST; break; }
      if (end - pos < len) { stop = CDS_NEED; need = len; break; }
      if (load<u32>(o + len - 4) != len) { stop = CDS_HOST; break; }
      id = load<u32>(o + 8);
      if (id >= nif) { stop = CDS_HOST; break; }
      ifc = ifs + <usize>id * CDI_SIZE;
      cap = load<u32>(o + 20);
      const snap = load<u32>(ifc + CDI_SNAPLEN);
      if (cap > <u32>MAX_CAPLEN || (snap != 0 && cap > snap) || <u32>28 + pad4(cap) + 4 > len) { stop = CDS_HOST; break; }
      if (load<u32>(ifc + CDI_ANCHORED) == 0) { stop = CDS_HOST; break; }
      // options: epb_flags' direction (bits 0-1); a malformed option is the host's error
      let p = o + 28 + pad4(cap);
      const oend = o + len - 4;
      let optBad = false;
      while (p + 4 <= oend) {
        const code = <u32>load<u16>(p);
        const olen = <u32>load<u16>(p + 2);
        if (code == OPT_ENDOFOPT) break;
        if (p + 4 + olen > oend) { optBad = true; break; }
        if (code == EPB_FLAGS && olen == 4) outbound = (load<u32>(p + 4) & 3) == 2;
        p += 4 + pad4(olen);
      }
      if (optBad) { stop = CDS_HOST; break; }
      origLen = load<u32>(o + 24);
      d = o + 28;
      // the reader's stamp (anchored): the anchor moves with every frame the reader returns
      hi = load<u32>(o + 12); lo = load<u32>(o + 16);
      ts0 = load<f64>(ifc + CDI_ANS)
        + (<f64>(<f64>hi - <f64>load<u32>(ifc + CDI_AHI)) * TWO32 + (<f64>lo - <f64>load<u32>(ifc + CDI_ALO))) * load<f64>(ifc + CDI_NS_PER_UNIT);
    }
    // the ingress slot from the interface's id or name (0: none)
    const islot = load<u32>(ifc + CDI_SLOT);
    let slot = islot;
    // the link layer (decodeLink)
    const dEnd = d + cap;
    const lt = load<u32>(ifc + CDI_LINKTYPE);
    let l3: usize = 0;
    let pt: i32 = -1;
    let pflags: u32 = 0;
    let own = false;
    let kind: i32 = 0;
    if (lt == LINKTYPE_ETHERNET) {
      if (cap < 14) { stop = CDS_HOST; break; }
      const et = pastVlanTags(d + 12, dEnd);
      kind = kindOf(be16(et));
      if (kind < 0) { stop = CDS_HOST; break; }
      l3 = et + 2;
      own = tabGet(tab, tabMask, (<u64>CDK_NODE_MAC << 48) | mac48(d + 6)) >= 0;
      // IngressResolver.resolve: a mapping of the destination MAC, the interface's slot, a node link's MAC
      const dst = mac48(d);
      const v = tabGet(tab, tabMask, (<u64>CDK_USER_MAC << 48) | dst);
      if (v >= 0) slot = v;
      else if (islot == 0) { const a = tabGet(tab, tabMask, (<u64>CDK_AUTO_MAC << 48) | dst); slot = a >= 0 ? a : 0; }
      if (load<u8>(d) & 1) {
        // a group address: broadcast (ff:ff:ff:ff:ff:ff) or multicast (eth_type_trans)
        pflags = load<u32>(d) == 0xffffffff && load<u16>(d + 4) == 0xffff ? PF_L2_OTHER : PF_L2_OTHER | PF_L2_MCAST;
      }
    } else if (lt == LINKTYPE_LINUX_SLL) {
      if (cap < 16) { stop = CDS_HOST; break; }
      pt = <i32>be16(d);
      const et = pastVlanTags(d + 14, dEnd);
      kind = kindOf(be16(et));
      if (kind < 0) { stop = CDS_HOST; break; }
      l3 = et + 2;
    } else if (lt == LINKTYPE_LINUX_SLL2) {
      if (cap < 20) { stop = CDS_HOST; break; }
      pt = <i32>load<u8>(d + 10);
      // IngressResolver.resolve: a mapping of the ifindex, the interface's slot, a node link's ifindex
      const ifindex = <u64>be32(d + 4);
      if (ifindex != 0) {
        const v = tabGet(tab, tabMask, (<u64>CDK_USER_IFINDEX << 48) | ifindex);
        if (v >= 0) slot = v;
        else if (islot == 0) { const a = tabGet(tab, tabMask, (<u64>CDK_AUTO_IFINDEX << 48) | ifindex); slot = a >= 0 ? a : 0; }
      }
      let e = be16(d);
      l3 = d + 20;
      if (isVlan(e)) {
        while (isVlan(e) && l3 + 4 <= dEnd) { e = be16(l3 + 2); l3 += 4; }
      }
      kind = kindOf(e);
      if (kind < 0) { stop = CDS_HOST; break; }
    } else if (lt == LINKTYPE_RAW || lt == LINKTYPE_IPV4) {
      if (cap < 1) { stop = CDS_HOST; break; }
      const v = load<u8>(d) >> 4;
      kind = v == 4 ? 0 : v == 6 && lt == LINKTYPE_RAW ? CDP_IPV6 : -1;
      if (kind < 0) { stop = CDS_HOST; break; }
      l3 = d;
    } else { stop = CDS_HOST; break; }
    if (l3 > dEnd) { stop = CDS_HOST; break; }
    const l3Cap = <u32>(dEnd - l3);
    const l3Wire = <i64>origLen - <i64>(l3 - d);
    if (kind != 0) {
      // ARP or IPv6: counted, not replayed, when the host has counted its kind already (the order it reports them in)
      if ((present & <u32>kind) == 0) { stop = CDS_HOST; break; }
      if (!pcap) { store<u32>(ifc + CDI_AHI, hi); store<u32>(ifc + CDI_ALO, lo); store<f64>(ifc + CDI_ANS, ts0); moved |= <u64>1 << <u64>id; }
      if (kind == CDP_ARP) arp++; else ipv6++;
      records++;
      lastRec = pos;
      lastTs = ts0;
      pos += len;
      continue;
    }
    let local = false;
    const sent = outbound || pt == PACKET_OUTGOING || own;
    // (slot: what the interface, ifindex or MAC says, as IngressResolver.linkSlot)
    const onLo = nodeSends && slot == loSlot;
    // a frame the node sent and that is not replayed: which count it goes to (SK_NONE: replayed)
    let skip = SK_NONE;
    if (onLo && sent) {
      skip = SK_LOOPBACK; // an outgoing copy on lo: its incoming copy stands for the send (the one libpcap keeps)
    } else if (nodeSends && (sent || onLo)) {
      // a frame the node sent: its own send (replayed as a local send), else counted by what it is
      const c = outgoingClass(l3, l3Cap, l3Wire, localTab, nlocal, defTtl);
      if (c == OC_NODE_SEND) local = true;
      else skip = c == OC_FORWARDED ? SK_OUT_FWD : c == OC_ANSWER ? SK_OUT_ANSWER : SK_OUT_OTHER;
    } else if (sent) {
      skip = SK_OUTGOING; // the node's own transmission (--node-sends skip): counted ("outgoing"), not replayed
    }
    if (skip != SK_NONE) {
      // (the classes are counted here only once the host has counted the kind: the order it reports them in)
      const bit = skip == SK_LOOPBACK ? CDP_LOOPBACK : skip == SK_OUT_FWD ? CDP_OUT_FWD : skip == SK_OUT_ANSWER ? CDP_OUT_ANSWER : skip == SK_OUT_OTHER ? CDP_OUT_OTHER : 0;
      if (bit != 0 && (present & bit) == 0) { stop = CDS_HOST; break; }
      if (!pcap) { store<u32>(ifc + CDI_AHI, hi); store<u32>(ifc + CDI_ALO, lo); store<f64>(ifc + CDI_ANS, ts0); moved |= <u64>1 << <u64>id; }
      if (skip == SK_LOOPBACK) loopback++;
      else if (skip == SK_OUT_FWD) {
        outFwd++;
        // a forwarded copy (an outgoing frame: the incoming ones on lo are not) paired with its original
        if (cp != 0 && sent && copyPair(cp, l3, l3Cap, slot, out, n0, direct)) paired++;
      }
      else if (skip == SK_OUT_ANSWER) outAnswer++;
      else if (skip == SK_OUT_OTHER) outOther++;
      else outgoing++;
      records++;
      lastRec = pos;
      lastTs = ts0;
      pos += len;
      continue;
    }
    // the IPv4 header (parseIPv4's common case)
    if (l3Wire < 20 || l3Cap < 20) { stop = CDS_HOST; break; }
    const vihl = load<u8>(l3);
    if (vihl != 0x45) { stop = CDS_HOST; break; }
    // header checksum: 10 words
    let hs: u32 = <u32>load<u16>(l3) + <u32>load<u16>(l3 + 2) + <u32>load<u16>(l3 + 4) + <u32>load<u16>(l3 + 6) + <u32>load<u16>(l3 + 8)
      + <u32>load<u16>(l3 + 10) + <u32>load<u16>(l3 + 12) + <u32>load<u16>(l3 + 14) + <u32>load<u16>(l3 + 16) + <u32>load<u16>(l3 + 18);
    hs = (hs & 0xffff) + (hs >> 16);
    hs = (hs & 0xffff) + (hs >> 16);
    if (hs != 0xffff) { stop = CDS_HOST; break; }
    const ipLen = be16(l3 + 2);
    if (<i64>ipLen > l3Wire || ipLen < 20) { stop = CDS_HOST; break; }
    // the whole datagram captured, or cut by the capture's snaplen (its transport header must be there:
    // parseIPv4 calls a header cut short capture damage, the host's error)
    const whole = ipLen <= l3Cap;
    const l4Cap: u32 = whole ? ipLen - 20 : l3Cap - 20;
    const frag = be16(l3 + 6);
    if (frag & 0x3fff) { stop = CDS_HOST; break; }
    if (local) slot = 0; // a process's send: no arrival interface
    else if (slot == 0) {
      // the user's source subnets, first match (IngressResolver.resolve's last resort); none: the host's error
      const src = be32(l3 + 12);
      const subnets = <usize>load<u32>(st + CD_SRC), ns = load<u32>(st + CD_NSRC);
      for (let i: u32 = 0; i < ns; i++) {
        const e = subnets + <usize>i * CDS_SIZE;
        if ((src & load<u32>(e, 4)) == load<u32>(e)) { slot = load<u32>(e, 8); break; }
      }
      if (slot == 0) { stop = CDS_HOST; break; }
    }
    const proto = <u32>load<u8>(l3 + 9);
    const t = l3 + 20;
    const l4len = ipLen - 20;
    let sport: u32 = 0, dport: u32 = 0, tcpFlags: u32 = 0, seq: u32 = 0, ack: u32 = 0, win: u32 = 0, doff: u32 = 0;
    let wscale: u32 = 0, topts: u32 = 0, sack: u32 = 0, icmpType: u32 = 0, icmpCode: u32 = 0, icmpId: u32 = 0, icmpSeq: u32 = 0;
    let csum = CSUM_OK;
    // (a node send's checksum is not checked: the kernel does not check its own, often left to the device;
    // nor one of a datagram cut by the snaplen: taken as right, counted as not verified)
    const check = verify && !local && whole;
    let unver = (!verify || !whole) && !local;
    let inner = false, innerSrc: u32 = 0, innerDst: u32 = 0, innerProto: u32 = 0, innerPorts: u32 = 0, innerIcmp: u32 = 0, l4Bytes: u32 = 0;
    if (proto == 6) {
      if (l4len < 20) { stop = CDS_HOST; break; }
      doff = <u32>load<u8>(t + 12) >> 4;
      if (doff < 5 || doff * 4 > l4len || doff * 4 > l4Cap) { stop = CDS_HOST; break; }
      sport = be16(t); dport = be16(t + 2);
      seq = be32(t + 4); ack = be32(t + 8);
      tcpFlags = <u32>load<u8>(t + 13);
      win = be16(t + 14);
      const on = doff * 4 - 20;
      if (on != 0) {
        // tcp_options / tcp_sack
        const ob = t + 20, oe = ob + on;
        let i = ob;
        while (i < oe) {
          const kind = <u32>load<u8>(i);
          if (kind == 0) break;
          if (kind == 1) { i++; continue; }
          if (i + 1 >= oe) break;
          const size = <u32>load<u8>(i + 1);
          if (size < 2 || i + size > oe) break;
          if (kind == 3 && size == 3) {
            const v = <u32>load<u8>(i + 2);
            wscale = (v < 14 ? v : 14) + 1;
          } else if (kind == 4 && size == 2) {
            topts |= TO_SACK_PERM;
          } else if (kind == 5 && size >= 10 && (size - 2) % 8 == 0) {
            for (let k = i + 2; k < i + size; k += 8) {
              const right = be32(k + 4);
              if (!(topts & TO_SACK) || <i32>(right - sack) > 0) sack = right;
              topts |= TO_SACK;
            }
          }
          i += size;
        }
        // tcpmss_mt's walk
        let j: u32 = 0;
        while (j < on) {
          const kind = <u32>load<u8>(ob + j);
          if (kind == 2 && on - j >= 4 && load<u8>(ob + j + 1) == 4) {
            icmpSeq = be16(ob + j + 2);
            topts |= TO_MSS;
            break;
          }
          if (kind < 2) j++;
          else {
            const s = j + 1 < on ? <u32>load<u8>(ob + j + 1) : 0;
            j += s != 0 ? s : 1;
          }
        }
      }
      if (check) {
        const s = csumBytes(l3 + 12, 8) + <u64>(proto + l4len) + csumBytes(t, l4len);
        csum = foldOk(s) ? CSUM_OK : CSUM_BAD;
      }
    } else if (proto == 17) {
      if (l4len < 8 || l4Cap < 8) { stop = CDS_HOST; break; }
      if (be16(t + 4) != l4len) { stop = CDS_HOST; break; }
      sport = be16(t); dport = be16(t + 2);
      if (load<u16>(t + 6) == 0) { csum = CSUM_NONE; unver = false; }
      else if (check) {
        const s = csumBytes(l3 + 12, 8) + <u64>(proto + l4len) + csumBytes(t, l4len);
        csum = foldOk(s) ? CSUM_OK : CSUM_BAD;
      }
    } else if (proto == 1) {
      if (l4len < 8 || l4Cap < 8) { stop = CDS_HOST; break; }
      icmpType = <u32>load<u8>(t);
      icmpCode = <u32>load<u8>(t + 1);
      if (icmpType == 3 || icmpType == 4 || icmpType == 5 || icmpType == 11 || icmpType == 12) {
        if (!whole) { stop = CDS_HOST; break; } // (a cut quote: the host's reading)
        // an error quoting the offending header (all of it captured): parseIPv4's reading of the quote
        const qh = t + 8;
        const qlen = l4len - 8;
        const qihl: u32 = qlen >= 20 ? (<u32>load<u8>(qh) & 15) * 4 : 0;
        if (qlen < 20 || qihl < 20 || qlen < qihl + 8) {
          // a quote too short: the transport header is malformed (PKT_L4_BYTES), the quoted IHL kept
          l4Bytes = 1 + (l4len < 254 ? l4len : 254);
          doff = qihl >> 2;
        }
        const ip: u32 = qlen >= 20 ? <u32>load<u8>(qh + 9) : 0;
        const needQ: u32 = ip == 1 ? 8 : hasPorts(ip) ? 4 : 0;
        if (qlen >= 20 && qlen >= qihl + needQ) {
          inner = true;
          innerSrc = be32(qh + 12);
          innerDst = be32(qh + 16);
          innerProto = ip;
          const qt = qh + qihl;
          if (ip == 1) {
            innerIcmp = <u32>load<u8>(qt) | (<u32>load<u8>(qt + 1) << 8);
            innerPorts = be16(qt + 4) | (be16(qt + 6) << 16);
          } else if (hasPorts(ip)) {
            innerPorts = be16(qt) | (be16(qt + 2) << 16);
          }
        }
      } else {
        icmpId = be16(t + 4);
        icmpSeq = be16(t + 6);
      }
      if (check) csum = foldOk(csumBytes(t, l4len)) ? CSUM_OK : CSUM_BAD;
    } else if (proto != 132 && proto != 136 && proto != 33) {
      // a protocol without a transport parser (parseIPv4's default): REJECT's nf_ip_checksum verdict,
      // the bytes summing to zero either way, for all but GRE, ESP and AH (nf_reject_verify_csum)
      const sums = proto != 47 && proto != 50 && proto != 51;
      unver = (!verify || !whole) && sums && !local;
      if (check && sums) {
        let f = csumBytes(t, l4len);
        while (f > 0xffff) f = (f & 0xffff) + (f >> 16);
        csum = f == 0xffff || f == 0 ? CSUM_OK : CSUM_BAD;
      }
    } else { stop = CDS_HOST; break; }
    let ts = ts0;
    if (!(ts < TWO53)) { stop = CDS_HOST; break; }
    // consumed: the anchor moves, the descriptor is written
    if (!pcap) { store<u32>(ifc + CDI_AHI, hi); store<u32>(ifc + CDI_ALO, lo); store<f64>(ifc + CDI_ANS, ts0); moved |= <u64>1 << <u64>id; }
    if (ts < 0) { ts = 0; clamped++; }
    if (local) { sends++; pflags = PF_LOCAL; csum = CSUM_OK; }
    if (unver) unverified++;
    if (local) {}
    else if (pt == PACKET_OTHERHOST) pflags = PF_L2_OTHER | PF_OTHERHOST;
    else if (pt == PACKET_BROADCAST) pflags = PF_L2_OTHER;
    else if (pt == PACKET_MULTICAST) pflags = PF_L2_OTHER | PF_L2_MCAST;
    // writeWords' words
    const q = out + <usize>n * PKT_SIZE;
    store<u32>(q + PKT_SRC, be32(l3 + 12));
    store<u32>(q + PKT_DST, be32(l3 + 16));
    store<u32>(q + PKT_SPORT, sport | (dport << 16));
    const tos = <u32>load<u8>(l3 + 1), ttl = <u32>load<u8>(l3 + 8);
    store<u32>(q + PKT_PROTO, proto | (tcpFlags << 8) | (ttl << 16) | (tos << 24));
    const fl = pflags | PF_SRC_SET | ((frag & 0x4000) != 0 ? PF_DF : 0) | (inner ? PF_INNER : 0);
    store<u32>(q + PKT_LEN, ipLen | (fl << 16));
    // PKT_RCV_PAD (over PKT_BOUND_OIF): the wire bytes after the datagram, which IpExtInOctets counts
    const pad = <u64>l3Wire - <u64>ipLen;
    store<u32>(q + PKT_IIF, local ? 0 : slot | (<u32>(pad < 65535 ? pad : 65535) << 16));
    store<u32>(q + PKT_MARK, 0);
    store<u32>(q + PKT_SEQ, seq);
    store<u32>(q + PKT_ACK, ack);
    store<u32>(q + PKT_WIN, win | (icmpType << 16) | (icmpCode << 24));
    store<u32>(q + PKT_ICMP_ID, icmpId | (be16(l3 + 4) << 16));
    store<u32>(q + PKT_INNER_SRC, innerSrc);
    store<u32>(q + PKT_INNER_DST, innerDst);
    store<u32>(q + PKT_INNER_SPORT, innerPorts);
    store<u32>(q + PKT_INNER_PROTO, innerProto | (proto == 6 || l4Bytes != 0 ? doff << 8 : 0) | (icmpSeq << 16));
    store<u32>(q + PKT_UID, 0);
    store<u64>(q + PKT_TIME, <u64>ts);
    // the output fields [PKT_VERDICT, PKT_TCP_WSCALE) zeroed as writeWords does (inline stores, no bulk-memory call)
    for (let z = q + PKT_VERDICT, ze = q + PKT_TCP_WSCALE; z < ze; z += 8) store<u64>(z, 0);
    store<u32>(q + PKT_TCP_WSCALE, proto == 6 ? wscale | (topts << 8) : 0);
    store<u32>(q + PKT_TCP_SACK, proto == 6 ? sack : 0);
    store<u32>(q + PKT_GID, 0);
    store<u32>(q + PKT_CSUM, csum);
    store<u32>(q + PKT_INNER_ICMP_TYPE, innerIcmp | (l4Bytes << 24));
    // a candidate original of a forwarded copy (copies.ts): an arriving TCP, UDP or ICMP echo datagram
    if (cp != 0 && !local) copyOriginal(cp, l3, l4Cap, proto, icmpType, n0 + n);
    n++;
    records++;
    lastRec = pos;
    lastTs = ts0;
    pos += len;
  }
  store<u32>(st + CD_POS, pos);
  store<u32>(st + CD_RECORDS, records);
  store<u32>(st + CD_CLAMPED, clamped);
  store<u32>(st + CD_UNVERIFIED, unverified);
  store<u32>(st + CD_OUTGOING, outgoing);
  store<u32>(st + CD_ARP, arp);
  store<u64>(st + CD_MOVED, moved);
  store<u32>(st + CD_IPV6, ipv6);
  store<u32>(st + CD_OUT_FWD, outFwd);
  store<u32>(st + CD_OUT_ANSWER, outAnswer);
  store<u32>(st + CD_OUT_OTHER, outOther);
  store<u32>(st + CD_LOOPBACK, loopback);
  store<u32>(st + CD_NODE_SENDS, sends);
  store<u32>(st + CD_PAIRED, paired);
  store<u32>(st + CD_STOP, stop);
  store<u32>(st + CD_NEED, need);
  store<u32>(st + CD_LAST_REC, lastRec);
  store<f64>(st + CD_LAST_TS, lastTs);
  return n;
}
