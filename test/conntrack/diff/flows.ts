/**
 * Traffic of the conntrack differential suite: scripted conversations that
 * play both ends of one connection through the node, packet by packet.
 *
 * A conversation is a list of acts, each by the client ("c") or the server
 * ("s"). The client sends from its link to the address it dials; the server
 * answers from where the kernel actually delivered the client's packet
 * (after DNAT, to the address and port SNAT gave the client), so NAT is
 * exercised in both directions. Until the kernel has forwarded a client
 * packet the server is assumed to sit at the dialled address (`server`).
 *
 * TCP acts track both sides' next sequence numbers (SYN and FIN count one,
 * data its length): by default a segment carries the sender's next sequence
 * number and acknowledges everything the other side sent. Offsets, `hold`
 * (do not advance: a probe or an out-of-window segment) and `rtx` (repeat
 * the side's previous segment exactly) express retransmissions, bad
 * segments and resets. `err` acts inject an ICMP error from one side about
 * the other side's last packet, quoting the frame the kernel sent on (so the
 * quote carries the NAT'd addresses); `idle` acts send nothing for a round.
 * Besides TCP: UDP, ICMP queries (echo, timestamp, address mask), other IP
 * protocols (all-zero payloads, UDP-Lite and SCTP headers), fixed packets,
 * and datagrams from the node's own sockets.
 */
import type { InjectPacket, Seen } from "../../kernel/netns.js";
import { tcpOptionsLen } from "../../kernel/frames.js";
import type { Outcome } from "../../netfilter/diff/runner.js";

/** A host on the world side of link `iif`. */
export interface Peer { iif: string; ip: string }

/** One packet a conversation wants sent, and how long to wait before the round it is in. */
export interface CtStep {
  /** Nothing this round (the conversation waits for the others). */
  pkt?: Omit<InjectPacket, "id">;
  /** Seconds to sleep before the round (the round waits for the longest request). */
  delay?: number;
  /** A label for reports. */
  note?: string;
}

export type CtFlow = Generator<CtStep, void, Outcome>;

type Side = "c" | "s";

/** TCP segment. */
export interface TcpAct {
  by: Side;
  flags: string;
  /** Payload bytes. */
  data?: number;
  /** Sequence number relative to the sender's next one. */
  seqOff?: number;
  /** Acknowledgment relative to the receiver's next sequence number. */
  ackOff?: number;
  /** Do not advance the sender's next sequence number. */
  hold?: boolean;
  /** Send the side's previous segment again, unchanged. */
  rtx?: boolean;
  win?: number;
  wscale?: number;
  sackok?: boolean;
  mss?: number;
  /** SACK block right edge, relative to the receiver's next sequence number. */
  sackOff?: number;
  delay?: number;
  /** TTL of the packet as it arrives. */
  ttl?: number;
  /** A bad TCP checksum. */
  csum?: "bad";
}

/** UDP datagram or ICMP echo message. */
export interface DgramAct {
  by: Side;
  /** UDP: IPv4 total length (default 48/68). ICMP: total length (default 44). */
  len?: number;
  /** ICMP echo sequence number (default: a counter per side). */
  seq?: number;
  delay?: number;
  ttl?: number;
  /** rawConv, SCTP: the chunk (ports come from the conversation). */
  sctp?: { chunk: number; tag?: number; vtag?: number; flags?: number };
}

/** An ICMP error sent by one side about the last packet of the other side that left the node towards it. */
export interface ErrAct {
  /** The side the error comes from. */
  err: Side;
  type: number;
  code: number;
  /** Source address of the error (default: the side's own address; e.g. a router). */
  from?: string;
  delay?: number;
}

/** Send nothing this round. */
export interface IdleAct { idle: true; delay?: number }

export type Act<A> = A | ErrAct | IdleAct;

/** Where the server end is: the far side of the node for the client's packets. */
interface Far { iif: string; ip: string; port?: number; peer: string; peerPort?: number }

const u32 = (x: number) => x >>> 0;

function isErr(a: object): a is ErrAct {
  return (a as ErrAct).err !== undefined;
}
function isIdle(a: object): a is IdleAct {
  return (a as IdleAct).idle === true;
}

/** `n` rounds without a packet. */
export function idle(n: number): IdleAct[] {
  return Array.from({ length: n }, () => ({ idle: true as const }));
}

/** The quoted header of an ICMP error about frame `f` (as it left the node). */
function quote(f: Seen): NonNullable<InjectPacket["inner"]> {
  const proto = f.proto === 6 ? "tcp" : f.proto === 17 ? "udp" : f.proto === 1 ? "icmp" : f.proto;
  const q: NonNullable<InjectPacket["inner"]> = { src: f.src, dst: f.dst, proto, id: f.ipid, ttl: Math.max(1, f.ttl - 1) };
  if (f.proto === 6 || f.proto === 17) { q.sport = f.sport; q.dport = f.dport; }
  if (f.proto === 6) q.seq = f.seq;
  if (f.proto === 1 && f.icmp) { q.icmpType = f.icmp.type; q.icmpCode = f.icmp.code; q.icmpId = f.icmp.rest >>> 16; q.icmpSeq = f.icmp.rest & 0xffff; }
  return q;
}

export interface ConvOpts {
  client: Peer;
  /** Address and port the client dials. */
  dst: string;
  sport?: number;
  dport?: number;
  /** Where the server is until the kernel forwards a client packet (default: `dst`:`dport` on this link). */
  server: { iif: string; ip?: string; port?: number };
}

/** State shared by the conversation kinds: where each side's packets go. */
class Ends {
  far: Far;
  /** The last frame of each side the kernel sent on (after NAT). */
  last: { c?: Seen; s?: Seen } = {};
  learned = false;
  constructor(readonly o: ConvOpts) {
    this.far = { iif: o.server.iif, ip: o.server.ip ?? o.dst, port: o.server.port ?? o.dport, peer: o.client.ip, peerPort: o.sport };
  }
  /** Learns from what the kernel did with a side's packet. */
  saw(by: Side, out: Outcome): void {
    if (!out.self) return;
    this.last[by] = out.self;
    if (by === "c" && !this.learned) {
      const s = out.self;
      this.learned = true;
      this.far = { iif: s.ifname, ip: s.dst, port: s.proto === 1 ? (s.icmp ? s.icmp.rest >>> 16 : undefined) : s.dport, peer: s.src, peerPort: s.sport };
    }
  }
  /** An ICMP error from side `from` about the other side's last forwarded packet (undefined if there is none). */
  err(a: ErrAct): CtStep | undefined {
    const about = a.err === "s" ? this.last.c : this.last.s;
    if (!about) return undefined;
    const iif = a.err === "s" ? this.far.iif : this.o.client.iif;
    return {
      // from the side's own address (where the quoted packet was going) unless a router sends it
      pkt: { iif, src: a.from ?? about.dst, dst: about.src, proto: "icmp", icmpType: a.type, icmpCode: a.code, inner: quote(about) },
      delay: a.delay,
      note: `icmp ${a.type}/${a.code} from ${a.err}`,
    };
  }
}

/** A TCP conversation. `midstream`: both sides start as if the handshake happened unseen. */
export function* tcpConv(o: ConvOpts & { isnC: number; isnS: number; midstream?: boolean }, acts: Act<TcpAct>[]): CtFlow {
  const ends = new Ends(o);
  const next = { c: o.isnC, s: o.isnS };
  if (o.midstream) { next.c = u32(o.isnC + 1); next.s = u32(o.isnS + 1); }
  const prev: { c?: Omit<InjectPacket, "id">; s?: Omit<InjectPacket, "id"> } = {};
  for (const a of acts) {
    if (isIdle(a)) {
      yield { delay: a.delay };
      continue;
    }
    if (isErr(a)) {
      const st = ends.err(a);
      if (st) yield st;
      continue;
    }
    const other: Side = a.by === "c" ? "s" : "c";
    let pkt: Omit<InjectPacket, "id">;
    if (a.rtx && prev[a.by]) {
      pkt = { ...prev[a.by]! };
      // a retransmission travels to where the side's packets go now
      if (a.by === "s") Object.assign(pkt, { iif: ends.far.iif, src: ends.far.ip, dst: ends.far.peer, sport: ends.far.port, dport: ends.far.peerPort });
    } else {
      const seq = u32(next[a.by] + (a.seqOff ?? 0));
      const ack = a.flags.includes("A") ? u32(next[other] + (a.ackOff ?? 0)) : 0;
      const data = a.data ?? 0;
      const opts = { mss: a.mss, sackok: a.sackok, wscale: a.wscale, sack: a.sackOff !== undefined ? u32(next[other] + a.sackOff) : undefined };
      const base = a.by === "c"
        ? { iif: o.client.iif, src: o.client.ip, dst: o.dst, sport: o.sport, dport: o.dport }
        : { iif: ends.far.iif, src: ends.far.ip, dst: ends.far.peer, sport: ends.far.port, dport: ends.far.peerPort };
      pkt = { ...base, proto: "tcp", flags: a.flags, seq, ack, win: a.win ?? 65535, len: 40 + tcpOptionsLen(opts) + data };
      for (const [k, v] of Object.entries(opts)) if (v !== undefined) (pkt as Record<string, unknown>)[k] = v;
      if (!a.hold) next[a.by] = u32(seq + data + (a.flags.includes("S") ? 1 : 0) + (a.flags.includes("F") ? 1 : 0));
    }
    if (a.ttl !== undefined) pkt.ttl = a.ttl;
    if (a.csum) pkt.csum = a.csum;
    else delete pkt.csum;
    prev[a.by] = pkt;
    const out: Outcome = yield { pkt, delay: a.delay, note: `${a.by} ${a.flags}` };
    ends.saw(a.by, out);
  }
}

/** A UDP conversation. */
export function* udpConv(o: ConvOpts, acts: Act<DgramAct>[]): CtFlow {
  const ends = new Ends(o);
  for (const a of acts) {
    if (isIdle(a)) {
      yield { delay: a.delay };
      continue;
    }
    if (isErr(a)) {
      const st = ends.err(a);
      if (st) yield st;
      continue;
    }
    const pkt: Omit<InjectPacket, "id"> = a.by === "c"
      ? { iif: o.client.iif, src: o.client.ip, dst: o.dst, proto: "udp", sport: o.sport, dport: o.dport, len: a.len ?? 48 }
      : { iif: ends.far.iif, src: ends.far.ip, dst: ends.far.peer, proto: "udp", sport: ends.far.port, dport: ends.far.peerPort, len: a.len ?? 68 };
    if (a.ttl !== undefined) pkt.ttl = a.ttl;
    const out: Outcome = yield { pkt, delay: a.delay, note: `udp ${a.by}` };
    ends.saw(a.by, out);
  }
}

/**
 * An ICMP query conversation (identifier `id`): the client sends requests,
 * the server replies; echo by default, or another query pair (`types`, e.g.
 * timestamp 13/14).
 */
export function* echoConv(o: ConvOpts & { id: number; types?: [number, number] }, acts: Act<DgramAct>[]): CtFlow {
  const [reqType, repType] = o.types ?? [8, 0];
  const ends = new Ends(o);
  const seqs = { c: 0, s: 0 };
  for (const a of acts) {
    if (isIdle(a)) {
      yield { delay: a.delay };
      continue;
    }
    if (isErr(a)) {
      const st = ends.err(a);
      if (st) yield st;
      continue;
    }
    const seq = a.seq ?? ++seqs[a.by];
    const pkt: Omit<InjectPacket, "id"> = a.by === "c"
      ? { iif: o.client.iif, src: o.client.ip, dst: o.dst, proto: "icmp", icmpType: reqType, icmpId: o.id, icmpSeq: seq, len: a.len ?? 44 }
      : { iif: ends.far.iif, src: ends.far.ip, dst: ends.far.peer, proto: "icmp", icmpType: repType, icmpId: ends.far.port ?? o.id, icmpSeq: seq, len: a.len ?? 44 };
    if (a.ttl !== undefined) pkt.ttl = a.ttl;
    const out: Outcome = yield { pkt, delay: a.delay, note: `icmp ${pkt.icmpType} ${a.by}` };
    ends.saw(a.by, out);
  }
}

/**
 * Packets of another IP protocol back and forth: all-zero payload, or for
 * protocols with ports (UDP-Lite, SCTP) the ports of the conversation.
 */
export function* rawConv(o: ConvOpts & { proto: number }, acts: Act<DgramAct>[]): CtFlow {
  const ends = new Ends(o);
  for (const a of acts) {
    if (isIdle(a)) {
      yield { delay: a.delay };
      continue;
    }
    if (isErr(a)) {
      const st = ends.err(a);
      if (st) yield st;
      continue;
    }
    const pkt: Omit<InjectPacket, "id"> = a.by === "c"
      ? { iif: o.client.iif, src: o.client.ip, dst: o.dst, proto: o.proto, len: a.len ?? 60, sport: o.sport, dport: o.dport }
      : { iif: ends.far.iif, src: ends.far.ip, dst: ends.far.peer, proto: o.proto, len: a.len ?? 60, sport: ends.far.port, dport: ends.far.peerPort };
    if (pkt.sport === undefined) { delete pkt.sport; delete pkt.dport; }
    if (a.sctp) {
      // exactly one chunk: the SCTP tracker rejects trailing bytes that would read as an empty chunk
      pkt.sctp = a.sctp;
      if (a.len === undefined) delete pkt.len;
    }
    if (a.ttl !== undefined) pkt.ttl = a.ttl;
    const out: Outcome = yield { pkt, delay: a.delay, note: `proto ${o.proto} ${a.by}` };
    ends.saw(a.by, out);
  }
}

/** Fixed packets, one per round (whatever the kernel does with them). */
export function* fixed(steps: CtStep[]): CtFlow {
  for (const st of steps) yield st;
}

/** A datagram a socket on the node sends (and the answer from where it went, to a socket closed by then). */
export function* localUdpConv(o: { dst: string; dport: number; answer?: boolean; delay?: number }): CtFlow {
  const r: Outcome = yield { pkt: { iif: "local", dst: o.dst, proto: "udp", dport: o.dport, len: 40 }, delay: o.delay, note: "local udp" };
  if (!r.self || o.answer === false) return;
  const s = r.self;
  yield { pkt: { iif: s.ifname, src: s.dst, dst: s.src, proto: "udp", sport: s.dport, dport: s.sport, len: 40 }, note: "udp answer" };
}

// ---------------------------------------------------------------------------
// TCP scripts

/** SYN, SYN-ACK, ACK (the options, if any, on both SYNs). */
export function handshake(opt: { wscaleC?: number; wscaleS?: number; sackok?: boolean; mss?: number; winC?: number; winS?: number } = {}): TcpAct[] {
  return [
    { by: "c", flags: "S", wscale: opt.wscaleC, sackok: opt.sackok, mss: opt.mss, win: opt.winC },
    { by: "s", flags: "SA", wscale: opt.wscaleS, sackok: opt.sackok, mss: opt.mss, win: opt.winS },
    { by: "c", flags: "A", win: opt.winC },
  ];
}

/** Data both ways with acknowledgments (segments fit the 1500-byte MTU). */
export function exchange(n = 100): TcpAct[] {
  return [
    { by: "c", flags: "PA", data: n },
    { by: "s", flags: "A" },
    { by: "s", flags: "PA", data: Math.min(2 * n, 1400) },
    { by: "c", flags: "A" },
  ];
}

/** Orderly close started by `first`: FIN, ACK, FIN, ACK (FIN_WAIT/CLOSE_WAIT, LAST_ACK, TIME_WAIT). */
export function finClose(first: Side): TcpAct[] {
  const second: Side = first === "c" ? "s" : "c";
  return [
    { by: first, flags: "FA" },
    { by: second, flags: "A" },
    { by: second, flags: "FA" },
    { by: first, flags: "A" },
  ];
}
