/**
 * Flow keys read straight from packet descriptors (assembly/abi.ts), for
 * sharding packets over workers (shard.ts) without allocating per packet.
 *
 * A packet's *flow tuple* is (proto, src, sport, dst, dport) as it arrives:
 * ports for TCP/UDP/UDP-Lite/SCTP/DCCP, the echo identifier in both port
 * positions for ICMP queries, and for an arriving ICMP error the tuple of the
 * packet it quotes (the error belongs to that packet's connection, as
 * conntrack's RELATED path says).
 */
import * as abi from "../core/abi.js";

/** The flow tuple of the last readFlow() call (module scratch: no allocation). */
export const flow = { proto: 0, src: 0, sport: 0, dst: 0, dport: 0, icmpError: false, localNoSrc: false };

function hasPorts(p: number): boolean {
  return p === 6 || p === 17 || p === 136 || p === 132 || p === 33;
}

function isIcmpQuery(type: number): boolean {
  return type === 8 || type === 0 || type === 13 || type === 14 || type === 15 || type === 16 || type === 17 || type === 18;
}

/** Reads descriptor `p`'s flow tuple into `flow`. */
export function readFlow(dv: DataView, p: number): void {
  const proto = dv.getUint8(p + abi.PKT_PROTO);
  const pf = dv.getUint16(p + abi.PKT_FLAGS, true);
  flow.localNoSrc = (pf & abi.PF_LOCAL) !== 0 && (pf & abi.PF_SRC_SET) === 0;
  if (proto === 1 && (pf & abi.PF_INNER)) {
    // an ICMP error: key on the quoted packet (inner src -> dst as that packet went)
    const ip = dv.getUint8(p + abi.PKT_INNER_PROTO);
    flow.proto = ip;
    flow.src = dv.getUint32(p + abi.PKT_INNER_SRC, true);
    flow.dst = dv.getUint32(p + abi.PKT_INNER_DST, true);
    if (hasPorts(ip)) {
      flow.sport = dv.getUint16(p + abi.PKT_INNER_SPORT, true);
      flow.dport = dv.getUint16(p + abi.PKT_INNER_DPORT, true);
    } else if (ip === 1) {
      const id = dv.getUint16(p + abi.PKT_INNER_SPORT, true);
      flow.sport = id;
      flow.dport = id;
    } else { flow.sport = 0; flow.dport = 0; }
    flow.icmpError = true;
    return;
  }
  flow.proto = proto;
  flow.src = dv.getUint32(p + abi.PKT_SRC, true);
  flow.dst = dv.getUint32(p + abi.PKT_DST, true);
  if (hasPorts(proto)) {
    flow.sport = dv.getUint16(p + abi.PKT_SPORT, true);
    flow.dport = dv.getUint16(p + abi.PKT_DPORT, true);
  } else if (proto === 1 && isIcmpQuery(dv.getUint8(p + abi.PKT_ICMP_TYPE))) {
    const id = dv.getUint16(p + abi.PKT_ICMP_ID, true);
    flow.sport = id;
    flow.dport = id;
  } else { flow.sport = 0; flow.dport = 0; }
  flow.icmpError = false;
}

/**
 * Could this packet create a connection (and so draw NAT ports or a
 * `statistic` choice)? TCP with SYN and no ACK, and every non-TCP packet
 * except ICMP errors. TCP packets without SYN are not counted although
 * conntrack's loose pickup (nf_conntrack_tcp_loose=1) may make a connection
 * of one: see README, "replay --workers", for what that changes.
 */
export function isOpener(dv: DataView, p: number): boolean {
  const proto = dv.getUint8(p + abi.PKT_PROTO);
  if (proto === 6) return (dv.getUint8(p + abi.PKT_TCPFLAGS) & 0x12) === 0x02;
  if (proto === 1) {
    if (dv.getUint16(p + abi.PKT_FLAGS, true) & abi.PF_INNER) return false;
    const t = dv.getUint8(p + abi.PKT_ICMP_TYPE);
    return t === 8 || t === 13 || t === 15 || t === 17;
  }
  return true;
}

/** murmur3's 32-bit finaliser. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A hash of the flow that is the same for both directions of an
 * un-translated connection (the two endpoints are ordered before hashing),
 * as a symmetric RSS key (Toeplitz with a repeating key) makes a NIC do.
 */
export function symmetricHash(proto: number, src: number, sport: number, dst: number, dport: number): number {
  // order the endpoints (address, then port)
  let a = src >>> 0, ap = sport, b = dst >>> 0, bp = dport;
  if (a > b || (a === b && ap > bp)) { a = dst >>> 0; ap = dport; b = src >>> 0; bp = sport; }
  let h = fmix32(a ^ 0x9e3779b9);
  h = fmix32(h ^ b);
  h = fmix32(h ^ ((ap << 16) | bp) ^ (proto << 24));
  return h;
}

/** Hash of a directional tuple (for FlowMap). */
function tupleHash(proto: number, src: number, sport: number, dst: number, dport: number): number {
  let h = fmix32((src ^ 0x51ed270b) >>> 0);
  h = fmix32(h ^ dst);
  return fmix32(h ^ ((sport << 16) | dport) ^ Math.imul(proto, 0x27d4eb2d));
}

/**
 * An open-addressing hash map from a directional flow tuple to a small
 * number (a worker), in typed arrays: no object per entry. Grows by
 * doubling; entries are never removed (one per translated connection).
 */
export class FlowMap {
  private cap: number;
  private keys: Uint32Array; // 4 words per slot: src, dst, sport<<16|dport, proto+1 (0 = empty)
  private vals: Uint8Array;
  size = 0;

  constructor(capacity = 1 << 12) {
    this.cap = capacity;
    this.keys = new Uint32Array(capacity * 4);
    this.vals = new Uint8Array(capacity);
  }

  /** The slot holding the tuple, or the empty slot where it would go (one probe sequence). */
  private slot(proto: number, src: number, sport: number, dst: number, dport: number): number {
    const mask = this.cap - 1;
    const ports = ((sport << 16) | dport) >>> 0;
    let i = tupleHash(proto, src, sport, dst, dport) & mask;
    const k = this.keys;
    for (;;) {
      const o = i * 4;
      const tag = k[o + 3]!;
      if (tag === 0 || (tag === proto + 1 && k[o] === src >>> 0 && k[o + 1] === dst >>> 0 && k[o + 2] === ports)) return i;
      i = (i + 1) & mask;
    }
  }

  private fill(i: number, proto: number, src: number, sport: number, dst: number, dport: number, v: number): void {
    const o = i * 4, k = this.keys;
    k[o] = src >>> 0; k[o + 1] = dst >>> 0; k[o + 2] = ((sport << 16) | dport) >>> 0; k[o + 3] = proto + 1;
    this.vals[i] = v;
    this.size++;
  }

  /** The value for the tuple, or -1. */
  get(proto: number, src: number, sport: number, dst: number, dport: number): number {
    const i = this.slot(proto, src, sport, dst, dport);
    return this.keys[i * 4 + 3] === 0 ? -1 : this.vals[i]!;
  }

  set(proto: number, src: number, sport: number, dst: number, dport: number, v: number): void {
    if ((this.size + 1) * 4 > this.cap * 3) this.grow();
    const i = this.slot(proto, src, sport, dst, dport);
    if (this.keys[i * 4 + 3] === 0) this.fill(i, proto, src, sport, dst, dport, v);
    else this.vals[i] = v;
  }

  /** Adds the tuple (value 1) if it is absent; whether it was added. */
  add(proto: number, src: number, sport: number, dst: number, dport: number): boolean {
    if ((this.size + 1) * 4 > this.cap * 3) this.grow();
    const i = this.slot(proto, src, sport, dst, dport);
    if (this.keys[i * 4 + 3] !== 0) return false;
    this.fill(i, proto, src, sport, dst, dport, 1);
    return true;
  }

  private grow(): void {
    const oldK = this.keys, oldV = this.vals, oldCap = this.cap;
    this.cap = oldCap * 2;
    this.keys = new Uint32Array(this.cap * 4);
    this.vals = new Uint8Array(this.cap);
    this.size = 0;
    for (let i = 0; i < oldCap; i++) {
      const o = i * 4;
      if (oldK[o + 3] === 0) continue;
      this.set(oldK[o + 3]! - 1, oldK[o]!, oldK[o + 2]! >>> 16, oldK[o + 1]!, oldK[o + 2]! & 0xffff, oldV[i]!);
    }
  }

  /** Bytes held. */
  get bytes(): number { return this.keys.byteLength + this.vals.byteLength; }
}

/** A set of IPv4 addresses (u32) in a typed-array open-addressing table: membership without boxing. */
export class AddrSet {
  private readonly keys: Uint32Array;
  private readonly used: Uint8Array;
  private readonly mask: number;
  readonly size: number;

  constructor(addrs: Iterable<number>) {
    const list = [...new Set([...addrs].map((a) => a >>> 0))];
    let cap = 16;
    while (cap < list.length * 2) cap *= 2;
    this.keys = new Uint32Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
    this.size = list.length;
    for (const a of list) {
      let i = fmix32(a) & this.mask;
      while (this.used[i]) i = (i + 1) & this.mask;
      this.used[i] = 1;
      this.keys[i] = a;
    }
  }

  has(a: number): boolean {
    a >>>= 0;
    let i = fmix32(a) & this.mask;
    while (this.used[i]) {
      if (this.keys[i] === a) return true;
      i = (i + 1) & this.mask;
    }
    return false;
  }
}
