/**
 * Traffic for the netfilter differential suite: flows that play both ends of
 * a connection through the node. A flow sends its first packet; when the
 * kernel forwards it (after NAT), the far end answers from where the packet
 * went, to where it came from; and so on: TCP with valid sequence numbers
 * (handshake, data both ways, FIN or RST), UDP request/response, ICMP echo,
 * ICMP errors quoting a tracked flow (RELATED), packets that conntrack must
 * call INVALID, packets for the node itself, and packets sent by the node's
 * own sockets.
 */
import type { Seen } from "../../kernel/netns.js";
import type { Flow, Outcome, Step } from "./runner.js";

/** A host on the world side of link `iif`. */
export interface Peer { iif: string; ip: string }

/** Where a forwarded packet went: the far end answers from there. */
interface Far { iif: string; ip: string; port?: number; peer: string; peerPort?: number }

function farOf(s: Seen): Far {
  return { iif: s.ifname, ip: s.dst, port: s.dport, peer: s.src, peerPort: s.sport };
}

const u32 = (x: number) => x >>> 0;

export type TcpVariant = "fin" | "rst" | "oow" | "midstream" | "synack-first" | "syn-retrans" | "fin-server" | "data-only";

export interface TcpOpts {
  client: Peer;
  dst: string;
  sport: number;
  dport: number;
  variant: TcpVariant;
  isnC: number;
  isnS: number;
  /** Payload bytes per data segment. */
  data?: number;
}

/** A TCP connection through (or to) the node. */
export function* tcpFlow(o: TcpOpts): Flow {
  const c = o.client;
  const data = o.data ?? 60;
  const cpkt = (flags: string, seq: number, ack: number, payload = 0): Step["pkt"] =>
    ({ iif: c.iif, src: c.ip, dst: o.dst, proto: "tcp", sport: o.sport, dport: o.dport, flags, seq: u32(seq), ack: flags.includes("A") ? u32(ack) : 0, len: 40 + payload });
  const spkt = (f: Far, flags: string, seq: number, ack: number, payload = 0): Step["pkt"] =>
    ({ iif: f.iif, src: f.ip, dst: f.peer, proto: "tcp", sport: f.port, dport: f.peerPort, flags, seq: u32(seq), ack: flags.includes("A") ? u32(ack) : 0, len: 40 + payload });
  let cs = o.isnC;
  let ss = o.isnS;
  let far: Far | undefined;
  if (o.variant === "synack-first") {
    // a SYN-ACK nobody asked for: INVALID
    yield { pkt: cpkt("SA", cs, ss + 1), fresh: true };
    yield { pkt: cpkt("A", cs + 1, ss + 1), fresh: true };
    return;
  }
  if (o.variant === "midstream") {
    // an established connection the node never saw the start of (picked up with tcp_loose=1, INVALID with 0)
    const a: Outcome = yield { pkt: cpkt("PA", cs + 1, ss + 1, data), fresh: true };
    if (!a.self) {
      yield { pkt: cpkt("A", cs + 1 + data, ss + 1), fresh: true };
      return;
    }
    far = farOf(a.self);
    yield { pkt: spkt(far, "A", ss + 1, cs + 1 + data) };
    yield { pkt: cpkt("PA", cs + 1 + data, ss + 1, data) };
    yield { pkt: spkt(far, "FA", ss + 1, cs + 1 + 2 * data) };
    yield { pkt: cpkt("FA", cs + 1 + 2 * data, ss + 2) };
    yield { pkt: spkt(far, "A", ss + 2, cs + 2 + 2 * data) };
    return;
  }
  let syn: Outcome = yield { pkt: cpkt("S", cs, 0), fresh: true };
  if (!syn.self) {
    if (syn.answers.length === 0 || o.variant === "syn-retrans") syn = yield { pkt: cpkt("S", cs, 0), fresh: true };
    if (!syn.self) return;
  } else if (o.variant === "syn-retrans") {
    // a retransmitted SYN before the answer
    yield { pkt: cpkt("S", cs, 0) };
  }
  far = farOf(syn.self);
  const sa: Outcome = yield { pkt: spkt(far, "SA", ss, cs + 1) };
  cs += 1;
  ss += 1;
  if (!sa.self && sa.answers.length > 0) return;
  yield { pkt: cpkt("A", cs, ss) };
  if (o.variant === "oow") {
    // far outside the window: INVALID (with tcp_be_liberal=0), then the real segment
    yield { pkt: cpkt("PA", cs + 0x40000000, ss, data) };
  }
  yield { pkt: cpkt("PA", cs, ss, data) };
  cs += data;
  yield { pkt: spkt(far, "PA", ss, cs, data) };
  ss += data;
  if (o.variant === "data-only") return;
  if (o.variant === "rst") {
    yield { pkt: cpkt("R", cs, 0) };
    // after the reset: the server's late segment
    yield { pkt: spkt(far, "A", ss, cs) };
    return;
  }
  if (o.variant === "fin-server") {
    yield { pkt: spkt(far, "FA", ss, cs) };
    ss += 1;
    yield { pkt: cpkt("A", cs, ss) };
    yield { pkt: cpkt("FA", cs, ss) };
    cs += 1;
    yield { pkt: spkt(far, "A", ss, cs) };
    return;
  }
  yield { pkt: cpkt("FA", cs, ss) };
  cs += 1;
  yield { pkt: spkt(far, "FA", ss, cs) };
  ss += 1;
  yield { pkt: cpkt("A", cs, ss) };
}

export type UdpVariant = "pair" | "icmp-error" | "one";

/** A UDP exchange: request, response, request, response (or an ICMP port unreachable from the far end). */
export function* udpFlow(o: { client: Peer; dst: string; sport: number; dport: number; variant: UdpVariant; len?: number }): Flow {
  const c = o.client;
  const req = (): Step["pkt"] => ({ iif: c.iif, src: c.ip, dst: o.dst, proto: "udp", sport: o.sport, dport: o.dport, len: o.len ?? 48 });
  const r: Outcome = yield { pkt: req(), fresh: true };
  if (!r.self) {
    if (r.answers.length === 0 && o.variant !== "one") yield { pkt: req(), fresh: true };
    return;
  }
  const far = farOf(r.self);
  if (o.variant === "icmp-error") {
    yield {
      pkt: {
        iif: far.iif, src: far.ip, dst: far.peer, proto: "icmp", icmpType: 3, icmpCode: 3,
        inner: { src: far.peer, dst: far.ip, proto: "udp", sport: far.peerPort, dport: far.port, id: r.self.ipid },
      },
    };
    return;
  }
  const resp = (): Step["pkt"] => ({ iif: far.iif, src: far.ip, dst: far.peer, proto: "udp", sport: far.port, dport: far.peerPort, len: 68 });
  yield { pkt: resp() };
  if (o.variant === "one") return;
  yield { pkt: req() };
  yield { pkt: resp() };
}

export type EchoVariant = "pair" | "ttl-exceeded";

/** ICMP echo: request and reply, twice (or a time-exceeded from a router on the far side). */
export function* echoFlow(o: { client: Peer; dst: string; id: number; variant: EchoVariant; router?: string }): Flow {
  const c = o.client;
  const req = (seq: number): Step["pkt"] => ({ iif: c.iif, src: c.ip, dst: o.dst, proto: "icmp", icmpType: 8, icmpId: o.id, icmpSeq: seq, len: 28 + 16 });
  const r: Outcome = yield { pkt: req(1), fresh: true };
  if (!r.self) {
    if (r.answers.length > 0) yield { pkt: req(2) };
    return;
  }
  const far = farOf(r.self);
  const fid = r.self.icmp ? r.self.icmp.rest >>> 16 : o.id;
  if (o.variant === "ttl-exceeded") {
    yield {
      pkt: {
        iif: far.iif, src: o.router ?? far.ip, dst: far.peer, proto: "icmp", icmpType: 11, icmpCode: 0,
        inner: { src: far.peer, dst: far.ip, proto: "icmp", icmpType: 8, icmpId: fid, icmpSeq: 1, id: r.self.ipid, ttl: 1 },
      },
    };
    return;
  }
  const rep = (seq: number): Step["pkt"] => ({ iif: far.iif, src: far.ip, dst: far.peer, proto: "icmp", icmpType: 0, icmpId: fid, icmpSeq: seq, len: 28 + 16 });
  yield { pkt: rep(1) };
  yield { pkt: req(2) };
  yield { pkt: rep(2) };
}

/** A datagram sent by a socket on the node, and the far end's answer (to a socket that has closed by then). */
export function* localUdpFlow(o: { dst: string; dport: number; mark?: number; src?: string }): Flow {
  const r: Outcome = yield { pkt: { iif: "local", dst: o.dst, proto: "udp", dport: o.dport, len: 40, ...(o.mark !== undefined ? { mark: o.mark } : {}), ...(o.src ? { src: o.src } : {}) }, fresh: true };
  if (!r.self) return;
  const far = farOf(r.self);
  yield { pkt: { iif: far.iif, src: far.ip, dst: far.peer, proto: "udp", sport: far.port, dport: far.peerPort, len: 40 } };
}

/** An echo request from the node, and the reply. */
export function* localEchoFlow(o: { dst: string; id: number; mark?: number }): Flow {
  const r: Outcome = yield { pkt: { iif: "local", dst: o.dst, proto: "icmp", icmpType: 8, icmpId: o.id, icmpSeq: 1, ...(o.mark !== undefined ? { mark: o.mark } : {}) }, fresh: true };
  if (!r.self) return;
  const far = farOf(r.self);
  const fid = r.self.icmp ? r.self.icmp.rest >>> 16 : o.id;
  yield { pkt: { iif: far.iif, src: far.ip, dst: far.peer, proto: "icmp", icmpType: 0, icmpId: fid, icmpSeq: 1 } };
}

/** A TCP connect() from the node, and the server's SYN-ACK (the socket is gone by then: the node resets). */
export function* localTcpFlow(o: { dst: string; dport: number; isnS: number; mark?: number }): Flow {
  const r: Outcome = yield { pkt: { iif: "local", dst: o.dst, proto: "tcp", dport: o.dport, ...(o.mark !== undefined ? { mark: o.mark } : {}) }, fresh: true };
  if (!r.self) return;
  const far = farOf(r.self);
  yield { pkt: { iif: far.iif, src: far.ip, dst: far.peer, proto: "tcp", sport: far.port, dport: far.peerPort, flags: "SA", seq: o.isnS, ack: u32((r.self.seq ?? 0) + 1) } };
}
