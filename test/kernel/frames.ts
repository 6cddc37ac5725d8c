import { tcpFlagsFromLetters, tcpFlagsToLetters } from "../../host/packet/input.js";

/**
 * Building and parsing Ethernet II + IPv4 frames for the kernel-differential
 * harness. Pure TypeScript, no dependencies.
 */

/** A packet to inject into (or send from) the kernel node. */
export interface InjectPacket {
  /** 1..65535, written as the IPv4 identification field; unique within one inject() call. */
  id: number;
  /** Node-side link name the packet arrives on, or "local" for a packet sent by a process on the node. */
  iif: string;
  /** Dotted quad. Required for packets arriving on a link; optional for local packets (the kernel chooses). */
  src?: string;
  dst: string;
  proto: "tcp" | "udp" | "icmp" | number;
  sport?: number;
  dport?: number;
  /** TCP flags letters F S R P A U E C, default "S". */
  flags?: string;
  seq?: number;
  ack?: number;
  /** TCP window, default 65535. */
  win?: number;
  /**
   * TCP options (none by default): MSS, SACK-permitted, window scale (shift),
   * and one SACK block ending at `sack` (its left edge is `sack - 1`). They are
   * written in that order after the 20-byte header, NOP-padded to a multiple
   * of 4 bytes (`tcpOptionsLen`); `len` must count them.
   */
  mss?: number;
  sackok?: boolean;
  wscale?: number;
  sack?: number;
  /** Default echo request (8/0). */
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  icmpSeq?: number;
  /**
   * The 4 bytes after the ICMP checksum as a u32, overriding icmpId/icmpSeq
   * (e.g. the next-hop MTU of a "fragmentation needed" error: `mtu` in the low 16 bits).
   */
  icmpRest?: number;
  /** Default 64. */
  ttl?: number;
  /** Default 0. */
  tos?: number;
  /** Default false. */
  df?: boolean;
  /**
   * IPv4 total length; default 40 tcp, 28 udp, 28 icmp (56 for an ICMP error
   * with `inner`), 20 other. Payload is zero-filled to reach it (TCP header is
   * 20 bytes, no options). Headers are always written whole even if `len` is
   * smaller (the total-length field then says `len`). Local TCP packets ignore
   * it (the kernel builds the SYN).
   */
  len?: number;
  /**
   * SCTP (proto 132): one chunk after the common header (ports from
   * sport/dport): its type (1 INIT, 2 INIT ACK, ...) and, for INIT and INIT
   * ACK, the initiate tag; `vtag` is the common header's verification tag
   * (0 for INIT). The CRC32c checksum is computed.
   */
  sctp?: { chunk: number; tag?: number; vtag?: number; flags?: number };
  /** The transport checksum (TCP, UDP, UDP-Lite, ICMP): correct (default), "bad" (off by one), or "none" (0). */
  csum?: "bad" | "none";
  /** UDP-Lite: the checksum coverage written in the length field (default 0: the whole datagram). */
  cscov?: number;
  /** Local packets only: SO_MARK. */
  mark?: number;
  /** Local packets only: SO_BINDTODEVICE. */
  oif?: string;
  /** Local UDP/TCP packets only: the socket is created with this effective uid. */
  uid?: number;
  /** For ICMP errors arriving from outside (type 3/4/5/11/12): the quoted header (IPv4 + 8 bytes). */
  inner?: {
    src: string; dst: string; proto: "tcp" | "udp" | "icmp" | number; sport?: number; dport?: number;
    /** Quoted IP id, default 0. */ id?: number;
    /** Quoted TTL, default 64. */ ttl?: number;
    /** Quoted ICMP message (inner proto icmp): type (default 8, echo request), code, id, seq. */
    icmpType?: number; icmpCode?: number; icmpId?: number; icmpSeq?: number;
    /** Quoted TCP sequence number (inner proto tcp), default 0. */
    seq?: number;
  };
}

/** A decoded IPv4 frame captured on the world side. */
export interface Seen {
  /** NODE-side link name it left through. */
  ifname: string;
  tNs: number;
  src: string;
  dst: string;
  proto: number;
  ttl: number;
  tos: number;
  len: number;
  ipid: number;
  df: boolean;
  mf: boolean;
  /** In bytes. */
  fragOffset: number;
  sport?: number;
  dport?: number;
  tcpFlags?: string;
  seq?: number;
  ack?: number;
  /** TCP window field. */
  win?: number;
  /** TCP options the kernel put on the segment: window-scale shift (absent: none), SACK-permitted. */
  wscale?: number;
  sackok?: boolean;
  icmp?: {
    type: number;
    code: number;
    /** The 4 bytes after the checksum as u32: gateway / next-hop MTU / id<<16|seq. */
    rest: number;
    inner?: { src: string; dst: string; proto: number; ipid: number; ttl: number; sport?: number; dport?: number; icmpType?: number; icmpId?: number };
  };
}

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 };
/** ICMP types that quote the offending datagram. */
export const ICMP_ERROR_TYPES = new Set([3, 4, 5, 11, 12]);

export function protoNum(p: InjectPacket["proto"]): number {
  if (typeof p === "number") {
    if (!Number.isInteger(p) || p < 0 || p > 255) throw new Error(`bad protocol number ${p}`);
    return p;
  }
  const n = PROTO_NUM[p];
  if (n === undefined) throw new Error(`unknown protocol ${JSON.stringify(p)}`);
  return n;
}

export function tcpFlagsToBits(s: string): number {
  const v = tcpFlagsFromLetters(s);
  if (v === undefined) throw new Error(`bad TCP flag letters ${JSON.stringify(s)}`);
  return v;
}

/** Letters in bit order F S R P A U E C (SYN+ACK = "SA", RST+ACK = "RA"). */
export { tcpFlagsToLetters };

export function ipToBytes(s: string): Buffer {
  const parts = s.split(".");
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${JSON.stringify(s)}`);
  const b = Buffer.alloc(4);
  parts.forEach((p, i) => {
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${JSON.stringify(s)}`);
    b[i] = Number(p);
  });
  return b;
}

export function bytesToIp(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

export function macToBytes(mac: string): Buffer {
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`not a MAC address: ${mac}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

const CRC32C = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32c (Castagnoli) of `b`, as SCTP computes it (stored little-endian in the header). */
export function crc32c(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC32C[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A correct checksum made bad ("bad": off by one) or absent ("none": 0). */
function spoil(c: number, how: InjectPacket["csum"]): number {
  if (how === "none") return 0;
  if (how === "bad") return c === 0xffff ? 0xfffe : c + 1;
  return c;
}

/** RFC 1071 ones' complement sum (not yet complemented), folded to 16 bits. */
function sum16(b: Buffer, start: number, end: number, init = 0): number {
  let s = init;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (i < end) s += b[i] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export function checksum(b: Buffer, start = 0, end = b.length, init = 0): number {
  return ~sum16(b, start, end, init) & 0xffff;
}

function pseudoSum(src: Buffer, dst: Buffer, proto: number, l4len: number): number {
  const ph = Buffer.alloc(12);
  src.copy(ph, 0);
  dst.copy(ph, 4);
  ph[9] = proto;
  ph.writeUInt16BE(l4len & 0xffff, 10);
  return sum16(ph, 0, 12);
}

function writeIpHeader(b: Buffer, o: number, f: {
  tos: number; totLen: number; id: number; df: boolean; ttl: number; proto: number; src: Buffer; dst: Buffer;
}): void {
  b[o] = 0x45;
  b[o + 1] = f.tos & 0xff;
  b.writeUInt16BE(f.totLen & 0xffff, o + 2);
  b.writeUInt16BE(f.id & 0xffff, o + 4);
  b.writeUInt16BE(f.df ? 0x4000 : 0, o + 6);
  b[o + 8] = f.ttl & 0xff;
  b[o + 9] = f.proto;
  b.writeUInt16BE(0, o + 10);
  f.src.copy(b, o + 12);
  f.dst.copy(b, o + 16);
  b.writeUInt16BE(checksum(b, o, o + 20), o + 10);
}

/** The quoted part of an ICMP error: IPv4 header + 8 bytes of the original datagram. */
function buildInner(inner: NonNullable<InjectPacket["inner"]>): Buffer {
  const proto = protoNum(inner.proto);
  const b = Buffer.alloc(28);
  const origLen = proto === 6 ? 40 : proto === 17 ? 28 : proto === 1 ? 28 : 20;
  writeIpHeader(b, 0, {
    tos: 0, totLen: origLen, id: inner.id ?? 0, df: false, ttl: inner.ttl ?? 64, proto,
    src: ipToBytes(inner.src), dst: ipToBytes(inner.dst),
  });
  if (proto === 6 || proto === 17) {
    b.writeUInt16BE(inner.sport ?? 0, 20);
    b.writeUInt16BE(inner.dport ?? 0, 22);
    if (proto === 17) b.writeUInt16BE(8, 24); // udp length; checksum 0 (none)
    if (proto === 6) b.writeUInt32BE((inner.seq ?? 0) >>> 0, 24);
  } else if (proto === 1) {
    b[20] = inner.icmpType ?? 8; // echo request by default
    b[21] = inner.icmpCode ?? 0;
    b.writeUInt16BE((inner.icmpId ?? 0) & 0xffff, 24);
    b.writeUInt16BE((inner.icmpSeq ?? 0) & 0xffff, 26);
  }
  return b;
}

/** The TCP options of `p` as bytes (empty without options), padded with NOPs to a multiple of 4. */
function tcpOptions(p: Pick<InjectPacket, "mss" | "sackok" | "wscale" | "sack">): Buffer {
  const b: number[] = [];
  if (p.mss !== undefined) b.push(2, 4, (p.mss >> 8) & 0xff, p.mss & 0xff);
  if (p.sackok) b.push(4, 2);
  if (p.wscale !== undefined) b.push(3, 3, p.wscale & 0xff);
  if (p.sack !== undefined) {
    const r = p.sack >>> 0;
    const l = (r - 1) >>> 0;
    b.push(5, 10, l >>> 24, (l >>> 16) & 0xff, (l >>> 8) & 0xff, l & 0xff, r >>> 24, (r >>> 16) & 0xff, (r >>> 8) & 0xff, r & 0xff);
  }
  while (b.length % 4) b.push(1);
  return Buffer.from(b);
}

/** SCTP bytes of a packet with one chunk: the common header and the chunk (INIT and INIT ACK carry 16 bytes of parameters). */
function sctpLen(c: { chunk: number }): number {
  return 12 + (c.chunk === 1 || c.chunk === 2 ? 20 : 4);
}

/** Bytes of TCP options `p` carries (0, or a multiple of 4). */
export function tcpOptionsLen(p: Pick<InjectPacket, "mss" | "sackok" | "wscale" | "sack">): number {
  return tcpOptions(p).length;
}

export function defaultLen(p: InjectPacket): number {
  const proto = protoNum(p.proto);
  if (proto === 6) return 40 + tcpOptionsLen(p);
  if (proto === 17) return 28;
  if (proto === 1) return p.inner ? 56 : 28;
  if (proto === 136) return 28;
  if (proto === 132 && p.sctp) return 20 + sctpLen(p.sctp);
  return 20;
}

/** The IPv4 datagram (no Ethernet header) for `p`, with correct checksums. */
export function buildIpPacket(p: InjectPacket): Buffer {
  if (p.src === undefined) throw new Error(`packet ${p.id}: src is required to build a frame`);
  const proto = protoNum(p.proto);
  const totLen = p.len ?? defaultLen(p);
  const src = ipToBytes(p.src);
  const dst = ipToBytes(p.dst);
  let l4: Buffer;
  if (proto === 6) {
    const opts = tcpOptions(p);
    l4 = Buffer.alloc(Math.max(20 + opts.length, totLen - 20));
    l4.writeUInt16BE(p.sport ?? 0, 0);
    l4.writeUInt16BE(p.dport ?? 0, 2);
    l4.writeUInt32BE((p.seq ?? 0) >>> 0, 4);
    l4.writeUInt32BE((p.ack ?? 0) >>> 0, 8);
    l4[12] = (5 + opts.length / 4) << 4;
    opts.copy(l4, 20);
    l4[13] = tcpFlagsToBits(p.flags ?? "S");
    l4.writeUInt16BE(p.win ?? 65535, 14);
    l4.writeUInt16BE(spoil(checksum(l4, 0, l4.length, pseudoSum(src, dst, 6, l4.length)), p.csum), 16);
  } else if (proto === 17) {
    l4 = Buffer.alloc(Math.max(8, totLen - 20));
    l4.writeUInt16BE(p.sport ?? 0, 0);
    l4.writeUInt16BE(p.dport ?? 0, 2);
    l4.writeUInt16BE(l4.length & 0xffff, 4);
    let c = checksum(l4, 0, l4.length, pseudoSum(src, dst, 17, l4.length));
    if (c === 0) c = 0xffff;
    l4.writeUInt16BE(spoil(c, p.csum), 6);
  } else if (proto === 1) {
    l4 = Buffer.alloc(Math.max(8 + (p.inner ? 28 : 0), totLen - 20));
    l4[0] = p.icmpType ?? 8;
    l4[1] = p.icmpCode ?? 0;
    const rest = p.icmpRest ?? (((p.icmpId ?? 0) & 0xffff) << 16) | ((p.icmpSeq ?? 0) & 0xffff);
    l4.writeUInt32BE(rest >>> 0, 4);
    if (p.inner) buildInner(p.inner).copy(l4, 8);
    l4.writeUInt16BE(spoil(checksum(l4), p.csum), 2);
  } else if (proto === 136) {
    // UDP-Lite (RFC 3828): the length field is the checksum coverage (0: the whole datagram), the checksum mandatory
    l4 = Buffer.alloc(Math.max(8, totLen - 20));
    l4.writeUInt16BE(p.sport ?? 0, 0);
    l4.writeUInt16BE(p.dport ?? 0, 2);
    const cov = p.cscov ?? 0;
    l4.writeUInt16BE(cov, 4);
    let c = checksum(l4, 0, cov === 0 ? l4.length : Math.min(cov, l4.length), pseudoSum(src, dst, 136, l4.length));
    if (c === 0) c = 0xffff;
    l4.writeUInt16BE(spoil(c, p.csum), 6);
  } else if (proto === 132 && p.sctp) {
    // SCTP common header + one chunk (INIT/INIT ACK with their fixed parameters), CRC32c
    l4 = Buffer.alloc(Math.max(sctpLen(p.sctp), totLen - 20));
    l4.writeUInt16BE(p.sport ?? 0, 0);
    l4.writeUInt16BE(p.dport ?? 0, 2);
    l4.writeUInt32BE((p.sctp.vtag ?? 0) >>> 0, 4);
    l4[12] = p.sctp.chunk;
    l4[13] = p.sctp.flags ?? 0;
    const init = p.sctp.chunk === 1 || p.sctp.chunk === 2;
    l4.writeUInt16BE(init ? 20 : 4, 14);
    if (init) {
      l4.writeUInt32BE((p.sctp.tag ?? 1) >>> 0, 16);
      l4.writeUInt32BE(65535, 20); // a_rwnd
      l4.writeUInt16BE(1, 24); // outbound streams
      l4.writeUInt16BE(1, 26); // inbound streams
      l4.writeUInt32BE(1, 28); // initial TSN
    }
    l4.writeUInt32LE(crc32c(l4), 8);
  } else {
    l4 = Buffer.alloc(Math.max(0, totLen - 20));
  }
  const b = Buffer.alloc(20 + l4.length);
  writeIpHeader(b, 0, {
    tos: p.tos ?? 0, totLen, id: p.id, df: p.df ?? false, ttl: p.ttl ?? 64, proto, src, dst,
  });
  l4.copy(b, 20);
  return b;
}

/**
 * The bytes buildIpPacket puts after the datagram's total length (a
 * transport header longer than `len` leaves room for): the kernel's
 * ip_rcv_core counts them in IpExtInOctets, so the emulator's input says
 * them (JSONL `pad`).
 */
export function trailerLen(p: InjectPacket): number {
  return Math.max(0, buildIpPacket(p).length - (p.len ?? defaultLen(p)));
}

/** Ethernet II + IPv4 (+TCP/UDP/ICMP) with correct IPv4, TCP, UDP and ICMP checksums. */
export function buildFrame(p: InjectPacket, dstMac: string, srcMac: string): Buffer {
  const ip = buildIpPacket(p);
  const b = Buffer.alloc(14 + ip.length);
  macToBytes(dstMac).copy(b, 0);
  macToBytes(srcMac).copy(b, 6);
  b.writeUInt16BE(0x0800, 12);
  ip.copy(b, 14);
  return b;
}

/** Decodes an IPv4 frame; undefined for non-IPv4 (ARP, IPv6, ...) or truncated frames. */
export function parseFrame(buf: Buffer, ifname: string, tNs: number): Seen | undefined {
  let o = 14;
  if (buf.length < 14) return undefined;
  let ethType = buf.readUInt16BE(12);
  if (ethType === 0x8100 && buf.length >= 18) {
    ethType = buf.readUInt16BE(16);
    o = 18;
  }
  if (ethType !== 0x0800 || buf.length < o + 20) return undefined;
  if (buf[o] >> 4 !== 4) return undefined;
  const ihl = (buf[o] & 0x0f) * 4;
  if (ihl < 20 || buf.length < o + ihl) return undefined;
  const fragWord = buf.readUInt16BE(o + 6);
  const s: Seen = {
    ifname, tNs,
    src: bytesToIp(buf, o + 12),
    dst: bytesToIp(buf, o + 16),
    proto: buf[o + 9],
    ttl: buf[o + 8],
    tos: buf[o + 1],
    len: buf.readUInt16BE(o + 2),
    ipid: buf.readUInt16BE(o + 4),
    df: (fragWord & 0x4000) !== 0,
    mf: (fragWord & 0x2000) !== 0,
    fragOffset: (fragWord & 0x1fff) * 8,
  };
  if (s.fragOffset !== 0) return s;
  const end = Math.min(buf.length, o + Math.max(s.len, ihl));
  const l = o + ihl;
  if ((s.proto === 6 || s.proto === 17) && end >= l + 4) {
    s.sport = buf.readUInt16BE(l);
    s.dport = buf.readUInt16BE(l + 2);
    if (s.proto === 6 && end >= l + 14) {
      s.seq = buf.readUInt32BE(l + 4);
      s.ack = buf.readUInt32BE(l + 8);
      s.tcpFlags = tcpFlagsToLetters(buf[l + 13]);
      if (end >= l + 16) s.win = buf.readUInt16BE(l + 14);
      const doff = (buf[l + 12] >> 4) * 4;
      for (let q = l + 20; q < Math.min(end, l + doff);) {
        const kind = buf[q];
        if (kind === 0) break;
        if (kind === 1) { q++; continue; }
        const olen = buf[q + 1];
        if (olen < 2) break;
        if (kind === 3 && olen === 3) s.wscale = buf[q + 2];
        if (kind === 4 && olen === 2) s.sackok = true;
        q += olen;
      }
    }
  } else if ((s.proto === 132 || s.proto === 136 || s.proto === 33) && end >= l + 4) {
    // SCTP, UDP-Lite and DCCP start with the ports too
    s.sport = buf.readUInt16BE(l);
    s.dport = buf.readUInt16BE(l + 2);
  } else if (s.proto === 1 && end >= l + 8) {
    s.icmp = { type: buf[l], code: buf[l + 1], rest: buf.readUInt32BE(l + 4) };
    const q = l + 8;
    if (ICMP_ERROR_TYPES.has(s.icmp.type) && end >= q + 20 && buf[q] >> 4 === 4) {
      const qihl = (buf[q] & 0x0f) * 4;
      const inner: NonNullable<NonNullable<Seen["icmp"]>["inner"]> = {
        src: bytesToIp(buf, q + 12),
        dst: bytesToIp(buf, q + 16),
        proto: buf[q + 9],
        ipid: buf.readUInt16BE(q + 4),
        ttl: buf[q + 8],
      };
      const innerFragOff = buf.readUInt16BE(q + 6) & 0x1fff;
      if ((inner.proto === 6 || inner.proto === 17) && innerFragOff === 0 && end >= q + qihl + 4) {
        inner.sport = buf.readUInt16BE(q + qihl);
        inner.dport = buf.readUInt16BE(q + qihl + 2);
      }
      if (inner.proto === 1 && innerFragOff === 0 && end >= q + qihl + 8) {
        inner.icmpType = buf[q + qihl];
        inner.icmpId = buf.readUInt16BE(q + qihl + 4);
      }
      s.icmp.inner = inner;
    }
  }
  return s;
}
