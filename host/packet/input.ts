/**
 * The replay input format: one JSON object per packet (JSONL), validated and
 * written into WASM packet descriptors.
 */
import * as abi from "../core/abi.js";
import { parseIPv4 } from "../util/ipv4.js";
import { InputError } from "../snapshot/errors.js";

/** A packet as the replay format describes it. */
export interface PacketInput {
  /** Interface the packet arrives on, or "local" for a packet sent by a process on the node. */
  iif: string;
  src?: string;
  dst: string;
  proto?: "tcp" | "udp" | "icmp" | number;
  sport?: number;
  dport?: number;
  /** TCP flags as letters: F S R P A U E C (e.g. "S", "SA", "FA"). */
  flags?: string;
  seq?: number;
  ack?: number;
  win?: number;
  icmp_type?: number;
  icmp_code?: number;
  icmp_id?: number;
  icmp_seq?: number;
  /** Default 64 for arriving packets; for local packets the node's net.ipv4.ip_default_ttl. */
  ttl?: number;
  tos?: number;
  df?: boolean;
  /** Local packets: the sending socket has SO_BROADCAST (a broadcast is refused with EACCES without it). */
  so_broadcast?: boolean;
  /** IPv4 total length. */
  len?: number;
  mark?: number;
  /** Seconds (virtual clock). */
  t?: number;
  /** IP identification. */
  id?: number;
  /** Local packets: device the socket is bound to (SO_BINDTODEVICE). */
  oif?: string;
  /** Local packets: uid of the sending socket. */
  uid?: number;
  /** Local packets: gid of the sending socket. */
  gid?: number;
  /** TCP data offset in 32-bit words (5..15; 0..15 with `l4_bytes`); default 5, or 8 when options are given. */
  doff?: number;
  /** TCP window-scale option (shift 0..14); absent = no option. */
  wscale?: number;
  /** TCP SACK-permitted option. */
  sackok?: boolean;
  /** Highest right edge of the TCP SACK blocks (a SACK option). */
  sack?: number;
  /** TCP MSS option value (what -m tcpmss reads). */
  mss?: number;
  /**
   * CPU that handles the packet (0-based), when the engine models several
   * (EngineOptions.cpus); default: chosen by a hash of the flow.
   */
  cpu?: number;
  /**
   * The transport checksum: "ok" (default), "bad" (conntrack finds the packet
   * INVALID at PREROUTING with nf_conntrack_checksum on; local delivery drops
   * it), or "none" (the field is zero: allowed for UDP, INVALID for UDP-Lite).
   * For DCCP and protocols without a transport parser (but GRE, AH, ESP):
   * whether the bytes sum right for REJECT's ICMP answers ("bad": none).
   */
  csum?: "ok" | "bad" | "none";
  /**
   * What ip_rcv_core finds wrong with the IPv4 header (captures with damaged
   * headers decode to this): "hdr" (fewer than 20 bytes, version, header
   * length below 5 words), "hdr_len" (fewer bytes than the header length,
   * or a total length below it), "csum" (header checksum), "truncated"
   * (total length beyond the frame). The packet is dropped before
   * PREROUTING with the kernel's counters; all but "hdr" have their ECN
   * codepoint (`tos`) counted first. `len` is then all the bytes that arrived.
   */
  ip_error?: "hdr" | "hdr_len" | "csum" | "truncated";
  /**
   * Arriving packets: the bytes the link layer delivered after the datagram
   * (`len`): the padding of an Ethernet frame under 60 bytes, a trailer.
   * The kernel trims them, but only after ip_rcv_core counted them in
   * IpExtInOctets. Default 0; a capture's packets decode to it.
   */
  pad?: number;
  /**
   * The link-layer packet type (skb->pkt_type, as an SLL/SLL2 capture header
   * records it): "host" (default: addressed to the interface), "broadcast"
   * or "multicast" (delivered locally when routed there, never forwarded),
   * "otherhost" (addressed to another host's MAC: ip_rcv_core drops it before
   * any counter). Arriving packets only.
   */
  pkt_type?: "host" | "broadcast" | "multicast" | "otherhost";
  /**
   * The datagram was reassembled from fragments at PREROUTING (conntrack's
   * nf_defrag_ipv4) and this is the total length of its largest fragment
   * (IPCB(skb)->frag_max_size): forwarding refragments it at min(MTU,
   * frag_max), and refuses it (ICMP frag needed) only when it has DF and a
   * fragment was larger than the MTU. A capture's reassembled datagrams
   * decode to this.
   */
  frag_max?: number;
  /** UDP-Lite checksum coverage, as its header's length field (0 = the whole datagram). */
  cscov?: number;
  /**
   * UDP: the header's length field, when it is not the datagram's transport
   * length (len - 20). Beyond it or below 8: conntrack finds the packet
   * INVALID, local delivery drops it (UdpInErrors, PKT_TOO_SMALL). Below it:
   * local delivery trims the datagram to it and `csum` is the checksum over
   * those bytes. Forwarding leaves it alone. Arriving packets only.
   */
  ulen?: number;
  /**
   * With a `ulen` below the transport length and a checksum (`csum` not
   * "none"): "ok" when the checksum summed over all the transport bytes (what
   * netfilter's nf_ip_checksum sums for conntrack and REJECT) is right too;
   * "bad" (default, as it is for a checksum computed over `ulen` bytes unless
   * the bytes after them happen to make up for it).
   */
  nf_csum?: "ok" | "bad";
  /**
   * The transport header is malformed although the whole datagram arrived:
   * the datagram carries only these transport bytes (TCP below 20 or below
   * its data offset, UDP/UDP-Lite/ICMP below 8, an ICMP error whose quote is
   * too short for the quoted header and 8 bytes), or TCP's `doff` (then
   * 0..15) is below 5 or beyond them. Fields whose bytes are missing must be
   * absent (or 0). Conntrack finds the packet INVALID, the tcp/udp/icmp/
   * multiport matches hotdrop it, local delivery drops it with the kernel's
   * counters. Arriving packets only; at most len - 20. A capture's packets
   * with such headers decode to this.
   */
  l4_bytes?: number;
  /** With `l4_bytes`, an ICMP error quoting at least 20 bytes: the quoted IPv4 header's IHL field (0..15, default 5). */
  quote_ihl?: number;
  /**
   * SCTP packets (proto 132, required for them): the common header's
   * verification tag and the chunks in order, as conntrack's SCTP tracker
   * reads them. `type` is a number or a name (DATA, INIT, INIT_ACK, SACK,
   * HEARTBEAT, HEARTBEAT_ACK, ABORT, SHUTDOWN, SHUTDOWN_ACK, ERROR,
   * COOKIE_ECHO, COOKIE_ACK, ECNE, CWR, SHUTDOWN_COMPLETE); `t`: the chunk's
   * T flag; `len`: 0 for a chunk whose length field is zero (malformed);
   * `init_tag`: the initiate tag of INIT and INIT ACK (required for them,
   * unless `short` says the chunk is too short to hold it); `flags`: the
   * chunk's flags byte (0..255, what `-m sctp --chunk-types` compares; its
   * bit 0 is the T flag). `tail`: 1..3 bytes follow the last chunk (a chunk
   * header that cannot be read: `-m sctp --chunk-types` hotdrops the packet
   * when its walk reaches it).
   */
  sctp?: { vtag: number; chunks: { type: number | string; t?: boolean; flags?: number; len?: number; init_tag?: number; short?: boolean }[]; tail?: boolean };
  /**
   * DCCP packets (proto 33): the generic header's packet type (a number
   * 0..15 or a name: REQUEST, RESPONSE, DATA, ACK, DATAACK, CLOSEREQ, CLOSE,
   * RESET, SYNC, SYNCACK, INVALID), what `-m dccp --dccp-types` reads.
   * Default REQUEST. A `len` under 32 (fewer than the 12 bytes of the
   * generic header) makes the header short: `-m dccp` hotdrops it.
   * `options`: the option types the options hold (as dccp_find_option walks
   * them: what `--dccp-option` finds); `bad_options`: the data offset is
   * below the header's length or beyond the packet (`--dccp-option`
   * hotdrops the packet).
   */
  dccp?: { type: number | string; options?: number[]; bad_options?: boolean };
  /**
   * What the kernel did with this packet, as a capture's forwarded copy of
   * it shows (abi.ts PKT_SEEN_*: the header it left the node with, after
   * NAT, and the device): the engine takes kube-proxy's random endpoint and
   * NAT's address and port from it, and the result's `seen` compares. TCP,
   * UDP and ICMP echo only (for echo, `sport` and `dport` are the
   * identifier). A replayed capture's packets carry it when the capture
   * holds the copy (`--forwarded-copies pair`).
   */
  seen?: { src: string; dst: string; sport?: number; dport?: number; oif?: string };
  /** ICMP errors arriving from outside: the quoted original header (icmp_* when it quotes an ICMP message). */
  inner?: {
    src: string; dst: string; proto?: "tcp" | "udp" | "icmp" | number; sport?: number; dport?: number;
    icmp_type?: number; icmp_code?: number; icmp_id?: number; icmp_seq?: number;
  };
}

/** Fields the format defines; anything else is ignored with a one-time warning. */
export const KNOWN_FIELDS = new Set([
  "iif", "src", "dst", "proto", "sport", "dport", "flags", "seq", "ack", "win", "icmp_type", "icmp_code",
  "icmp_id", "icmp_seq", "ttl", "tos", "df", "len", "mark", "t", "id", "oif", "uid", "inner", "gid", "doff",
  "wscale", "sackok", "sack", "cpu", "csum", "cscov", "sctp", "ip_error", "frag_max", "pkt_type",
  "l4_bytes", "quote_ihl", "ulen", "nf_csum", "dccp", "mss", "so_broadcast", "pad", "seen",
]);

/** SCTP chunk types by name (RFC 9260, include/linux/sctp.h enum sctp_cid). */
export const SCTP_CHUNK_TYPES: Record<string, number> = {
  DATA: 0, INIT: 1, INIT_ACK: 2, SACK: 3, HEARTBEAT: 4, HEARTBEAT_ACK: 5, ABORT: 6, SHUTDOWN: 7,
  SHUTDOWN_ACK: 8, ERROR: 9, COOKIE_ECHO: 10, COOKIE_ACK: 11, ECNE: 12, CWR: 13, SHUTDOWN_COMPLETE: 14,
};

/**
 * Fields the format defines but the emulator does not use yet: accepted and
 * ignored with a one-time warning (they matter to later features, e.g. TCP
 * window tracking in conntrack).
 */
export const NOT_YET_MODELLED = new Set<string>();

const TCP_FLAG_BITS: Record<string, number> = { F: 1, S: 2, R: 4, P: 8, A: 16, U: 32, E: 64, C: 128 };
const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 };

export function tcpFlagsFromLetters(s: string): number | undefined {
  let v = 0;
  for (const ch of s.toUpperCase()) {
    const b = TCP_FLAG_BITS[ch];
    if (b === undefined) return undefined;
    v |= b;
  }
  return v;
}

export function tcpFlagsToLetters(v: number): string {
  let s = "";
  for (const ch of "FSRPAUEC") if (v & TCP_FLAG_BITS[ch]) s += ch;
  return s;
}

export function protoNumber(p: PacketInput["proto"]): number | undefined {
  if (p === undefined) return 0;
  if (typeof p === "number") return Number.isInteger(p) && p >= 0 && p <= 255 ? p : undefined;
  return PROTO_NUM[p];
}

/** Resolves device names for the encoder. */
export interface DeviceResolver {
  slotOf(name: string): number | undefined;
  names(): string[];
}

/** Where an input came from, for error messages. */
export interface InputPos { file: string; line: number }

function err(pos: InputPos, token: string, problem: string): never {
  throw new InputError(pos.file, pos.line, token, problem);
}

function u(pos: InputPos, o: Record<string, unknown>, k: string, max: number, def: number): number {
  const v = o[k];
  if (v === undefined || v === null) return def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) err(pos, k, `must be an integer 0..${max}, got ${JSON.stringify(v)}`);
  return v;
}

function addr(pos: InputPos, v: unknown, k: string): number {
  if (typeof v !== "string") err(pos, k, `must be an IPv4 address string, got ${JSON.stringify(v)}`);
  const a = parseIPv4(v);
  if (a === undefined) err(pos, String(v), `is not an IPv4 address (field "${k}")`);
  return a;
}

/**
 * Validates one decoded JSON object and writes it as descriptor `p` (byte
 * offset into memory). `prevTime` is the previous packet's time (ns), used
 * when `t` is absent. Returns the packet's time in ns.
 */
export function encodePacket(
  dv: DataView, p: number, o: Record<string, unknown>, pos: InputPos, devs: DeviceResolver,
  prevTime: bigint, warn: (field: string) => void,
): bigint {
  if (typeof o !== "object" || o === null || Array.isArray(o)) err(pos, "", "each line must be a JSON object");
  for (const k of Object.keys(o)) {
    if (!KNOWN_FIELDS.has(k)) warn(`input field "${k}" is not part of the format and is ignored`);
    else if (NOT_YET_MODELLED.has(k)) warn(`input field "${k}" is not modelled yet and is ignored`);
  }
  const iif = o.iif;
  if (typeof iif !== "string") err(pos, "iif", `is required: an interface name or "local"`);
  const local = iif === "local";
  let flags = 0;
  let iifSlot = 0;
  if (local) flags |= abi.PF_LOCAL;
  else {
    const s = devs.slotOf(iif);
    if (s === undefined) err(pos, iif, `is not an interface of this node (known: ${devs.names().join(", ")})`);
    iifSlot = s;
  }
  if (o.proto === undefined) err(pos, "proto", `is required: "tcp", "udp", "icmp" or an IP protocol number`);
  const proto = protoNumber(o.proto as PacketInput["proto"]);
  if (proto === undefined) err(pos, String(o.proto), `is not a protocol: use "tcp", "udp", "icmp" or a number 0..255`);
  if (o.dst === undefined) err(pos, "dst", "is required");
  const dst = addr(pos, o.dst, "dst");
  let src = 0;
  if (o.src !== undefined) {
    src = addr(pos, o.src, "src");
    flags |= abi.PF_SRC_SET;
  } else if (!local) err(pos, "src", "is required for packets arriving on an interface");
  let tcpFlags = 0;
  if (proto !== 6 && o.flags !== undefined) warn(`input field "flags" only applies to tcp packets and is ignored`);
  const l4Given = typeof o.l4_bytes === "number";
  if (proto === 132 && o.sctp === undefined && !l4Given) {
    err(pos, "sctp", "is required for SCTP packets (proto 132): {\"vtag\": N, \"chunks\": [{\"type\": \"INIT\", \"init_tag\": N}, ...]}, as conntrack's SCTP tracker reads the chunks");
  }
  if (proto === 132 && o.sctp !== undefined && l4Given) err(pos, "sctp", "a malformed SCTP header (l4_bytes, under the 12 bytes of the common header) has no chunks: leave sctp out");
  if (proto !== 132 && o.sctp !== undefined) warn(`input field "sctp" only applies to sctp packets (proto 132) and is ignored`);
  if (proto !== 33 && o.dccp !== undefined) warn(`input field "dccp" only applies to dccp packets (proto 33) and is ignored`);
  if (proto === 33 && o.dccp !== undefined && l4Given) err(pos, "dccp", "a malformed DCCP header (l4_bytes, under the 4 bytes of its ports) has no packet type: leave dccp out");
  if (proto === 132 && o.cscov !== undefined) warn(`input field "cscov" only applies to udplite packets and is ignored`);
  if (proto === 6) {
    // a header cut short (l4_bytes below 20) has no flags
    const f = o.flags === undefined ? (o.l4_bytes !== undefined && typeof o.l4_bytes === "number" && o.l4_bytes < 20 ? "" : "S") : o.flags;
    if (typeof f !== "string") err(pos, "flags", "must be a string of TCP flag letters (F S R P A U E C)");
    const b = tcpFlagsFromLetters(f);
    if (b === undefined) err(pos, f, "is not a set of TCP flag letters (F S R P A U E C)");
    tcpFlags = b;
  }
  // TCP options: window scale, SACK-permitted, SACK (the ones conntrack reads)
  const hasOpts = proto === 6 && (o.wscale !== undefined || o.sackok !== undefined || o.sack !== undefined || o.mss !== undefined);
  if (proto !== 6) {
    for (const k of ["doff", "wscale", "sackok", "sack", "mss"]) {
      if (o[k] !== undefined) warn(`input field "${k}" only applies to tcp packets and is ignored`);
    }
  }
  // a malformed transport header (l4_bytes): TCP's data offset is taken as it is, 0..15
  const l4b = o.l4_bytes === undefined ? -1 : u(pos, o, "l4_bytes", 65535, 0);
  const doff = proto === 6 ? u(pos, o, "doff", 15, l4b >= 0 ? (l4b >= 13 ? 5 : 0) : hasOpts ? 8 : 5) : 0;
  if (proto === 6 && doff < 5 && l4b < 0) err(pos, "doff", "must be 5..15 (32-bit words of TCP header)");
  if (hasOpts && doff === 5) err(pos, "doff", "must be more than 5 when TCP options (wscale, sackok, sack, mss) are given");
  const sctp = proto === 132 && !l4Given ? sctpInput(pos, o.sctp) : undefined;
  const defLen = l4b >= 0 ? 20 + l4b : proto === 6 ? 20 + doff * 4 : proto === 17 || proto === 1 ? 28 : proto === 132 ? 20 + sctp!.bytes : proto === 33 ? 32 : 20;
  const len = u(pos, o, "len", 65535, defLen);
  if (proto === 6 && l4b < 0 && len < 20 + doff * 4) err(pos, "len", `must be at least ${20 + doff * 4} (IPv4 header + TCP header of doff ${doff})`);
  const quoteIhl = l4b >= 0 ? malformedCheck(pos, o, proto, l4b, len, doff, local) : 0;
  if (len < 20) err(pos, "len", "must be at least 20 (the IPv4 header)");
  let df = false;
  if (o.df !== undefined) {
    if (typeof o.df !== "boolean") err(pos, "df", "must be true or false");
    df = o.df;
  }
  if (df) flags |= abi.PF_DF;
  if (o.so_broadcast !== undefined) {
    if (!local) err(pos, "so_broadcast", `only applies to local packets (iif "local")`);
    if (typeof o.so_broadcast !== "boolean") err(pos, "so_broadcast", "must be true or false");
    if (o.so_broadcast) flags |= abi.PF_SO_BROADCAST;
  }
  let bound = 0;
  if (o.pad !== undefined) {
    // PKT_RCV_PAD, over PKT_BOUND_OIF (which only local packets have)
    if (local) err(pos, "pad", `only applies to packets arriving on an interface`);
    if (o.ip_error !== undefined || o.frag_max !== undefined) err(pos, "pad", `a header ip_rcv_core rejects (ip_error: len is all the bytes) or a reassembled datagram (frag_max) has none`);
    bound = u(pos, o, "pad", 65535, 0);
  }
  if (o.oif !== undefined) {
    if (!local) err(pos, "oif", `only applies to local packets (iif "local")`);
    if (typeof o.oif !== "string") err(pos, "oif", "must be an interface name");
    const s = devs.slotOf(o.oif);
    if (s === undefined) err(pos, o.oif, `is not an interface of this node`);
    bound = s;
  }
  let t = prevTime;
  if (o.t !== undefined) {
    if (typeof o.t !== "number" || !Number.isFinite(o.t) || o.t < 0) err(pos, "t", "must be a non-negative number of seconds");
    // the virtual clock counts nanoseconds in a u64
    if (o.t > 1.8e10) err(pos, "t", `is too large for the virtual clock (${o.t}); it must be below 1.8e10 seconds`);
    t = BigInt(Math.round(o.t * 1e9));
  }
  const u8 = new Uint8Array(dv.buffer, p, abi.PKT_SIZE);
  u8.fill(0);
  dv.setUint32(p + abi.PKT_SRC, src, true);
  dv.setUint32(p + abi.PKT_DST, dst, true);
  dv.setUint16(p + abi.PKT_SPORT, u(pos, o, "sport", 65535, 0), true);
  dv.setUint16(p + abi.PKT_DPORT, u(pos, o, "dport", 65535, 0), true);
  dv.setUint8(p + abi.PKT_PROTO, proto);
  dv.setUint8(p + abi.PKT_TCPFLAGS, tcpFlags);
  // a local socket that sets no TTL uses net.ipv4.ip_default_ttl: 0 asks the core for it
  // (IP_TTL takes 1..255, so 0 cannot be asked for explicitly)
  if (local && o.ttl === 0) err(pos, "ttl", "must be 1..255 for a local packet (a socket cannot send with TTL 0)");
  dv.setUint8(p + abi.PKT_TTL, local ? u(pos, o, "ttl", 255, 0) : u(pos, o, "ttl", 255, 64));
  dv.setUint8(p + abi.PKT_TOS, u(pos, o, "tos", 255, 0));
  dv.setUint16(p + abi.PKT_LEN, len, true);
  dv.setUint16(p + abi.PKT_IIF, iifSlot, true);
  dv.setUint16(p + abi.PKT_BOUND_OIF, bound, true);
  dv.setUint32(p + abi.PKT_MARK, u(pos, o, "mark", 0xffffffff, 0), true);
  dv.setUint32(p + abi.PKT_SEQ, u(pos, o, "seq", 0xffffffff, 0), true);
  dv.setUint32(p + abi.PKT_ACK, u(pos, o, "ack", 0xffffffff, 0), true);
  dv.setUint16(p + abi.PKT_WIN, u(pos, o, "win", 65535, 0), true);
  dv.setUint8(p + abi.PKT_ICMP_TYPE, u(pos, o, "icmp_type", 255, proto === 1 && !(l4b >= 0 && l4b < 1) ? 8 : 0));
  dv.setUint8(p + abi.PKT_ICMP_CODE, u(pos, o, "icmp_code", 255, 0));
  dv.setUint16(p + abi.PKT_ICMP_ID, u(pos, o, "icmp_id", 65535, 0), true);
  dv.setUint16(p + abi.PKT_ICMP_SEQ, u(pos, o, "icmp_seq", 65535, 0), true);
  dv.setUint16(p + abi.PKT_IPID, u(pos, o, "id", 65535, 0), true);
  dv.setUint32(p + abi.PKT_UID, u(pos, o, "uid", 0xffffffff, 0), true);
  dv.setUint32(p + abi.PKT_GID, u(pos, o, "gid", 0xffffffff, 0), true);
  if (o.cpu !== undefined) dv.setUint8(p + abi.PKT_CPU, u(pos, o, "cpu", 63, 0) + 1);
  if (o.csum !== undefined) {
    const c = ({ ok: abi.CSUM_OK, bad: abi.CSUM_BAD, none: abi.CSUM_NONE } as Record<string, number>)[String(o.csum)];
    if (c === undefined) err(pos, "csum", `must be "ok", "bad" or "none", got ${JSON.stringify(o.csum)}`);
    dv.setUint8(p + abi.PKT_CSUM, c!);
  }
  if (o.ip_error !== undefined) {
    // what ip_rcv_core finds wrong with the header (assembly/ipv4/rcv.ts)
    const c = ({ hdr: abi.IPERR_HDR, hdr_len: abi.IPERR_HDR_LEN, csum: abi.IPERR_CSUM, truncated: abi.IPERR_TRUNCATED } as Record<string, number>)[String(o.ip_error)];
    if (c === undefined) err(pos, "ip_error", `must be "hdr", "hdr_len", "csum" or "truncated", got ${JSON.stringify(o.ip_error)}`);
    if (o.frag_max !== undefined) err(pos, "frag_max", `a header ip_rcv_core rejects (ip_error) is not a reassembled datagram`);
    dv.setUint8(p + abi.PKT_IP_ERROR, c!);
  }
  if (o.pkt_type !== undefined) {
    // skb->pkt_type as eth_type_trans sets it (PF_L2_OTHER, PF_L2_MCAST, PF_OTHERHOST)
    const f = ({ host: 0, broadcast: abi.PF_L2_OTHER, multicast: abi.PF_L2_OTHER | abi.PF_L2_MCAST, otherhost: abi.PF_L2_OTHER | abi.PF_OTHERHOST } as Record<string, number>)[String(o.pkt_type)];
    if (f === undefined) err(pos, "pkt_type", `must be "host", "broadcast", "multicast" or "otherhost", got ${JSON.stringify(o.pkt_type)}`);
    if (local && f !== 0) err(pos, "pkt_type", `only applies to packets arriving on an interface`);
    flags |= f!;
  }
  if (o.frag_max !== undefined) {
    // IPCB(skb)->frag_max_size: a reassembled datagram has at least two fragments, each at most the datagram
    if (local) err(pos, "frag_max", `only applies to packets arriving on an interface (a datagram conntrack reassembled at PREROUTING)`);
    const fm = u(pos, o, "frag_max", 65535, 0);
    if (fm < 28 || fm > len) err(pos, "frag_max", `must be a fragment's total length: 28..len (${len}), got ${fm}`);
    dv.setUint16(p + abi.PKT_FRAG_MAX, fm, true);
  }
  if (o.cscov !== undefined && proto === 17) warn(`input field "cscov" only applies to udplite packets (a UDP length field is "ulen") and is ignored`);
  if (o.cscov !== undefined && proto !== 132 && proto !== 17) dv.setUint16(p + abi.PKT_CSCOV, u(pos, o, "cscov", 65535, 0), true);
  flags |= udpLength(pos, o, proto, len, l4b, local, dv, p);
  if (l4b >= 0) {
    // PKT_L4_BYTES: 1 + the transport bytes, saturated; an ICMP error's quoted IHL rides in PKT_TCP_DOFF (abi.ts)
    dv.setUint8(p + abi.PKT_L4_BYTES, 1 + Math.min(l4b, 254));
    if (proto === 1) dv.setUint8(p + abi.PKT_TCP_DOFF, quoteIhl);
  }
  if (sctp) {
    // over the TCP/ICMP fields an SCTP packet does not have (abi.ts, "SCTP packets")
    dv.setUint32(p + abi.PKT_SCTP_VTAG, sctp.vtag, true);
    dv.setUint32(p + abi.PKT_SCTP_INIT_TAG, sctp.initTag, true);
    dv.setUint8(p + abi.PKT_SCTP_NCHUNKS, sctp.types.length);
    sctp.types.forEach((t, i) => dv.setUint8(p + abi.PKT_SCTP_CHUNKS + i, t));
    dv.setUint8(p + abi.PKT_SCTP_TFLAGS, sctp.tflags);
    dv.setUint8(p + abi.PKT_SCTP_ZEROLEN, sctp.zerolen);
    dv.setUint8(p + abi.PKT_SCTP_FLAGS, sctp.flags);
    sctp.chunkFlags.forEach((f, i) => dv.setUint8(p + abi.PKT_SCTP_CHUNK_FLAGS + i, f));
  }
  if (proto === 33 && l4b < 0) {
    // over the TCP/ICMP fields a DCCP packet does not have (abi.ts, "DCCP packets")
    const d = dccpInput(pos, o.dccp);
    dv.setUint8(p + abi.PKT_DCCP_TYPE, d.type);
    if (len - 20 < 12) {
      if (o.dccp !== undefined) err(pos, "dccp", `a DCCP header under 12 bytes (len ${len}) has no packet type or options: leave dccp out`);
      dv.setUint8(p + abi.PKT_DCCP_FLAGS, abi.DCCPF_SHORT);
    } else {
      dv.setUint8(p + abi.PKT_DCCP_FLAGS, d.flags);
      if (d.map) writeDccpOptions(d.map, new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength), p);
    }
  }
  if (proto === 6) {
    dv.setUint8(p + abi.PKT_TCP_DOFF, doff);
    if (o.wscale !== undefined) dv.setUint8(p + abi.PKT_TCP_WSCALE, u(pos, o, "wscale", 14, 0) + 1);
    let topts = 0;
    if (o.sackok !== undefined) {
      if (typeof o.sackok !== "boolean") err(pos, "sackok", "must be true or false");
      if (o.sackok) topts |= abi.TO_SACK_PERM;
    }
    if (o.sack !== undefined) {
      dv.setUint32(p + abi.PKT_TCP_SACK, u(pos, o, "sack", 0xffffffff, 0), true);
      topts |= abi.TO_SACK;
    }
    if (o.mss !== undefined) {
      dv.setUint16(p + abi.PKT_TCP_MSS, u(pos, o, "mss", 65535, 0), true);
      topts |= abi.TO_MSS;
    }
    dv.setUint8(p + abi.PKT_TCP_OPTS, topts);
  }
  if (o.inner !== undefined) {
    const inner = o.inner as Record<string, unknown>;
    if (typeof inner !== "object" || inner === null) err(pos, "inner", "must be an object {src, dst, proto, sport, dport}");
    const ip = protoNumber(inner.proto as PacketInput["proto"]);
    if (ip === undefined) err(pos, String(inner.proto), "inner.proto is not a protocol");
    dv.setUint32(p + abi.PKT_INNER_SRC, addr(pos, inner.src, "inner.src"), true);
    dv.setUint32(p + abi.PKT_INNER_DST, addr(pos, inner.dst, "inner.dst"), true);
    dv.setUint16(p + abi.PKT_INNER_SPORT, u(pos, inner, "sport", 65535, 0), true);
    dv.setUint16(p + abi.PKT_INNER_DPORT, u(pos, inner, "dport", 65535, 0), true);
    dv.setUint8(p + abi.PKT_INNER_PROTO, ip);
    if (ip === 1) {
      dv.setUint8(p + abi.PKT_INNER_ICMP_TYPE, u(pos, inner, "icmp_type", 255, 8));
      dv.setUint8(p + abi.PKT_INNER_ICMP_CODE, u(pos, inner, "icmp_code", 255, 0));
      dv.setUint16(p + abi.PKT_INNER_SPORT, u(pos, inner, "icmp_id", 65535, 0), true);
      dv.setUint16(p + abi.PKT_INNER_DPORT, u(pos, inner, "icmp_seq", 65535, 0), true);
    }
    flags |= abi.PF_INNER;
  }
  if (o.seen !== undefined) {
    const sn = o.seen as Record<string, unknown>;
    if (typeof sn !== "object" || sn === null) err(pos, "seen", "must be an object {src, dst, sport, dport, oif}");
    const echo = proto === 1 && (o.icmp_type === undefined || o.icmp_type === 8 || o.icmp_type === 0);
    if (!(proto === 6 || proto === 17 || echo) || o.inner !== undefined) err(pos, "seen", "applies to TCP, UDP and ICMP echo packets only");
    dv.setUint32(p + abi.PKT_SEEN_SRC, addr(pos, sn.src, "seen.src"), true);
    const sd = addr(pos, sn.dst, "seen.dst");
    if (sd === 0) err(pos, "seen.dst", "0.0.0.0 is not a destination a packet left with");
    dv.setUint32(p + abi.PKT_SEEN_DST, sd, true);
    dv.setUint16(p + abi.PKT_SEEN_SPORT, u(pos, sn, "sport", 65535, 0), true);
    dv.setUint16(p + abi.PKT_SEEN_DPORT, u(pos, sn, "dport", 65535, 0), true);
    if (sn.oif !== undefined) {
      if (typeof sn.oif !== "string") err(pos, "seen.oif", "must be an interface name");
      const slot = devs.slotOf(sn.oif);
      if (slot === undefined) err(pos, sn.oif, "is not an interface of this node");
      dv.setUint8(p + abi.PKT_SEEN_OIF, slot + 1 <= 255 ? slot + 1 : 0);
    }
  }
  dv.setUint16(p + abi.PKT_FLAGS, flags, true);
  dv.setBigUint64(p + abi.PKT_TIME, t, true);
  return t;
}

/**
 * `ulen` and `nf_csum` (abi.ts PF_UDP_LEN): writes PKT_CSCOV and returns
 * the PF_* bits; 0 when the length field is the transport length.
 */
function udpLength(pos: InputPos, o: Record<string, unknown>, proto: number, len: number, l4b: number, local: boolean, dv: DataView, p: number): number {
  if (o.ulen === undefined) {
    if (o.nf_csum !== undefined) err(pos, "nf_csum", `only applies with a "ulen" below the transport length`);
    return 0;
  }
  if (proto !== 17) err(pos, "ulen", `only applies to udp packets (a UDP-Lite length field is "cscov")`);
  if (local) err(pos, "ulen", `only applies to packets arriving on an interface (a socket sends sound headers)`);
  if (l4b >= 0) err(pos, "ulen", `a UDP header under 8 bytes (l4_bytes) has no length field the kernel reads`);
  const ulen = u(pos, o, "ulen", 65535, 0);
  const n = len - 20;
  if (ulen === n) {
    if (o.nf_csum !== undefined) err(pos, "nf_csum", `only applies with a "ulen" below the transport length (${n})`);
    return 0;
  }
  let f = abi.PF_UDP_LEN;
  if (ulen < 8 || ulen > n) {
    if (o.nf_csum !== undefined) err(pos, "nf_csum", `only applies with a "ulen" below the transport length (${n}) and 8 or more: with ${ulen} the checksum is never checked`);
    f |= abi.PF_UDP_LEN_BAD;
  } else if (o.nf_csum !== undefined) {
    if (o.nf_csum !== "ok" && o.nf_csum !== "bad") err(pos, "nf_csum", `must be "ok" or "bad", got ${JSON.stringify(o.nf_csum)}`);
    if (o.csum === "none") err(pos, "nf_csum", `a datagram without a checksum ("csum": "none") has no checksum to sum`);
    if (o.nf_csum === "ok") f |= abi.PF_NF_CSUM_OK;
  }
  dv.setUint16(p + abi.PKT_CSCOV, ulen, true);
  return f;
}

/** ICMP types that quote the offending header (icmp_is_err). */
function icmpIsErr(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/**
 * Checks `l4_bytes` (`n`): an arriving TCP, UDP, UDP-Lite or ICMP packet
 * whose header the kernel finds too short or malformed (abi.ts
 * PKT_L4_BYTES), with no field whose bytes are missing. Returns an ICMP
 * error's quoted IHL (`quote_ihl`), else 0.
 */
function malformedCheck(pos: InputPos, o: Record<string, unknown>, proto: number, n: number, len: number, doff: number, local: boolean): number {
  if (local) err(pos, "l4_bytes", `only applies to packets arriving on an interface (a socket sends sound headers)`);
  if (proto !== 6 && proto !== 17 && proto !== 136 && proto !== 1 && proto !== 132 && proto !== 33) {
    err(pos, "l4_bytes", `applies to tcp, udp, udplite (136), sctp (132), dccp (33) and icmp packets, not protocol ${proto}`);
  }
  if (n > len - 20) err(pos, "l4_bytes", `must be at most len - 20 (${len - 20}): the transport bytes of the datagram, got ${n}`);
  const nonzero = (k: string): boolean => o[k] !== undefined && o[k] !== 0 && o[k] !== "" && o[k] !== false;
  const missing = (keys: string[], need: number, what: string): void => {
    if (n >= need) return;
    for (const k of keys) if (nonzero(k)) err(pos, k, `is beyond the ${n} transport bytes of l4_bytes (${what} needs ${need})`);
  };
  if (proto !== 1 && o.quote_ihl !== undefined) err(pos, "quote_ihl", `only applies to ICMP errors`);
  if (proto === 6) {
    missing(["sport", "dport"], 4, "the ports");
    missing(["seq", "ack", "win", "flags"], 20, "the TCP header");
    missing(["doff"], 13, "the data offset");
    for (const k of ["wscale", "sackok", "sack"]) if (o[k] !== undefined) err(pos, k, `a malformed TCP header (l4_bytes) has no options the kernel reads`);
    if (n >= 20 && doff >= 5 && doff * 4 <= n) err(pos, "l4_bytes", `${n} bytes with doff ${doff} is a sound TCP header: leave l4_bytes out`);
    return 0;
  }
  if (proto === 132 || proto === 33) {
    missing(["sport", "dport"], 4, "the ports");
    const need = proto === 132 ? 12 : 4;
    if (n >= need) err(pos, "l4_bytes", `${n} bytes hold ${proto === 132 ? "an SCTP common header" : "the DCCP ports"}: leave l4_bytes out`);
    return 0;
  }
  if (proto === 17 || proto === 136) {
    missing(["sport", "dport"], 4, "the ports");
    missing(["cscov"], 6, "the coverage");
    if (n >= 8) err(pos, "l4_bytes", `${n} bytes hold a sound ${proto === 17 ? "UDP" : "UDP-Lite"} header: leave l4_bytes out`);
    return 0;
  }
  // ICMP
  missing(["icmp_type"], 1, "the type");
  missing(["icmp_code"], 2, "the code");
  missing(["icmp_id", "icmp_seq"], 8, "the ICMP header");
  const type = typeof o.icmp_type === "number" ? o.icmp_type : n >= 1 ? 8 : 0;
  if (n < 8) {
    if (o.quote_ihl !== undefined) err(pos, "quote_ihl", `an ICMP packet of ${n} bytes quotes nothing`);
    if (o.inner !== undefined) err(pos, "inner", `an ICMP packet of ${n} bytes quotes nothing`);
    return 0;
  }
  if (!icmpIsErr(type)) err(pos, "l4_bytes", `${n} bytes hold a sound ICMP header (type ${type} quotes nothing): leave l4_bytes out`);
  const q = n - 8;
  if (q < 20) {
    if (o.quote_ihl !== undefined) err(pos, "quote_ihl", `a quote of ${q} bytes has no IPv4 header`);
    if (o.inner !== undefined) err(pos, "inner", `a quote of ${q} bytes has no IPv4 header: conntrack reads no tuple from it`);
    return 0;
  }
  const ihl = u(pos, o, "quote_ihl", 15, 5);
  if (ihl >= 5 && q >= ihl * 4 + 8) err(pos, "l4_bytes", `a quote of ${q} bytes holds the quoted header (IHL ${ihl}) and 8 bytes: a sound ICMP error, leave l4_bytes out`);
  if (o.inner !== undefined) {
    // conntrack reads the quoted tuple only when its bytes are there (nf_ct_get_tuplepr)
    const ip = protoNumber((o.inner as Record<string, unknown>)?.proto as PacketInput["proto"]) ?? 0;
    const need = ip === 1 ? 8 : ip === 6 || ip === 17 || ip === 136 || ip === 132 || ip === 33 ? 4 : 0;
    if (q < ihl * 4 + need) err(pos, "inner", `a quote of ${q} bytes with IHL ${ihl} holds no ${need ? "ports" : "transport"} for conntrack's tuple (${ihl * 4 + need} needed)`);
  }
  return ihl;
}

/** The `sctp` field, checked, in descriptor form; `bytes`: the SCTP header and chunks' size (the default length). */
/** DCCP packet types by name (libxt_dccp, include/uapi/linux/dccp.h enum dccp_pkt_type). */
export const DCCP_PKT_TYPES: Record<string, number> = {
  REQUEST: 0, RESPONSE: 1, DATA: 2, ACK: 3, DATAACK: 4, CLOSEREQ: 5, CLOSE: 6, RESET: 7, SYNC: 8, SYNCACK: 9, INVALID: 10,
};

/** The 256-bit DCCP option map (bit t & 7 of byte t >> 3) in its three descriptor pieces (abi.ts, PKT_DCCP_OPTS_*). */
export function writeDccpOptions(map: Uint8Array, u8: Uint8Array, p: number): void {
  for (let k = 0; k < 16; k++) u8[p + abi.PKT_DCCP_OPTS_LO + k] = map[k]!;
  for (let k = 0; k < 8; k++) u8[p + abi.PKT_DCCP_OPTS_MID + k] = map[16 + k]!;
  for (let k = 0; k < 8; k++) u8[p + abi.PKT_DCCP_OPTS_HI + k] = map[24 + k]!;
}

function dccpInput(pos: InputPos, v: unknown): { type: number; flags: number; map?: Uint8Array } {
  if (v === undefined) return { type: 0, flags: 0 };
  if (typeof v !== "object" || v === null || Array.isArray(v)) err(pos, "dccp", "must be an object {type, options, bad_options}");
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== "type" && k !== "options" && k !== "bad_options") err(pos, `dccp.${k}`, "is not a dccp field (type, options, bad_options)");
  let type: number;
  if (typeof o.type === "string") {
    const n = DCCP_PKT_TYPES[o.type.toUpperCase()];
    if (n === undefined) err(pos, o.type, `is not a DCCP packet type name (${Object.keys(DCCP_PKT_TYPES).join(", ")}) or a number 0..15`);
    type = n;
  } else type = u(pos, o, "type", 15, 0);
  if (o.bad_options !== undefined && typeof o.bad_options !== "boolean") err(pos, "dccp.bad_options", "must be true or false");
  if (o.bad_options === true) {
    if (o.options !== undefined) err(pos, "dccp.options", "cannot be read when bad_options is true: leave it out");
    return { type, flags: abi.DCCPF_OPT_HOTDROP };
  }
  if (o.options === undefined) return { type, flags: 0 };
  if (!Array.isArray(o.options)) err(pos, "dccp.options", "must be an array of option types 0..255");
  const map = new Uint8Array(32);
  for (const t of o.options as unknown[]) {
    if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t > 255) err(pos, "dccp.options", `must hold option types 0..255, got ${JSON.stringify(t)}`);
    map[t >> 3] |= 1 << (t & 7);
  }
  return { type, flags: 0, map };
}

function sctpInput(pos: InputPos, v: unknown): { vtag: number; initTag: number; types: number[]; chunkFlags: number[]; tflags: number; zerolen: number; flags: number; bytes: number } {
  if (typeof v !== "object" || v === null || Array.isArray(v)) err(pos, "sctp", "must be an object {vtag, chunks}");
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== "vtag" && k !== "chunks" && k !== "tail") err(pos, `sctp.${k}`, "is not an sctp field (vtag, chunks, tail)");
  const vtag = u(pos, o, "vtag", 0xffffffff, 0);
  if (!Array.isArray(o.chunks)) err(pos, "sctp.chunks", "must be an array of chunks ([] for a packet without any)");
  const chunks = o.chunks as unknown[];
  if (chunks.length > abi.SCTP_MAX_CHUNKS) err(pos, "sctp.chunks", `has ${chunks.length} chunks; at most ${abi.SCTP_MAX_CHUNKS} are modelled`);
  const out = { vtag, initTag: 0, types: [] as number[], chunkFlags: [] as number[], tflags: 0, zerolen: 0, flags: 0, bytes: 12 };
  if (o.tail !== undefined && typeof o.tail !== "boolean") err(pos, "sctp.tail", "must be true or false");
  chunks.forEach((c, i) => {
    if (typeof c !== "object" || c === null || Array.isArray(c)) err(pos, `sctp.chunks[${i}]`, "must be an object {type, ...}");
    const ch = c as Record<string, unknown>;
    for (const k of Object.keys(ch)) {
      if (!["type", "t", "flags", "len", "init_tag", "short"].includes(k)) err(pos, `sctp.chunks[${i}].${k}`, "is not a chunk field (type, t, flags, len, init_tag, short)");
    }
    let type: number;
    if (typeof ch.type === "string") {
      const n = SCTP_CHUNK_TYPES[ch.type.toUpperCase()];
      if (n === undefined) err(pos, ch.type, `is not an SCTP chunk type name (${Object.keys(SCTP_CHUNK_TYPES).join(", ")}) or a number`);
      type = n;
    } else {
      type = u(pos, ch, "type", 255, -1);
      if (type < 0) err(pos, `sctp.chunks[${i}].type`, "is required");
    }
    out.types.push(type);
    if (ch.t !== undefined) {
      if (typeof ch.t !== "boolean") err(pos, `sctp.chunks[${i}].t`, "must be true or false");
      if (ch.t) out.tflags |= 1 << i;
    }
    // the flags byte; its bit 0 is the T flag
    const fl = u(pos, ch, "flags", 255, 0) | ((out.tflags >> i) & 1);
    out.chunkFlags.push(fl);
    out.tflags |= (fl & 1) << i;
    const len = u(pos, ch, "len", 65535, 4);
    if (len === 0) out.zerolen |= 1 << i;
    const init = type === 1 || type === 2;
    if (ch.short !== undefined && typeof ch.short !== "boolean") err(pos, `sctp.chunks[${i}].short`, "must be true or false");
    if (init && ch.short === true) out.flags |= abi.SCTPF_NO_INITHDR;
    else if (init) {
      if (ch.init_tag === undefined) err(pos, `sctp.chunks[${i}].init_tag`, "is required for INIT and INIT_ACK chunks (or \"short\": true)");
      out.initTag = u(pos, ch, "init_tag", 0xffffffff, 0);
    } else if (ch.init_tag !== undefined) err(pos, `sctp.chunks[${i}].init_tag`, "only applies to INIT and INIT_ACK chunks");
    out.bytes += init && ch.short !== true ? 20 : Math.max(4, (len + 3) & ~3);
  });
  if (o.tail === true) {
    out.flags |= abi.SCTPF_TAIL;
    out.bytes += 1;
  }
  return out;
}
