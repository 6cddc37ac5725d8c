/**
 * The synthetic traffic generator: writes packet descriptors (assembly/abi.ts)
 * straight into the engine's batch buffer, in virtual-time order, and reads
 * back what the node did with them (closed loop).
 *
 * The model
 *  - Flows arrive as a Poisson process (`rate` per second) from `start` for
 *    `duration` seconds (or until `packets` packets). Each flow draws a kind
 *    from `mix` (TCP conversation, UDP request/response, ICMP echo), then a
 *    direction among those that have a target for that kind (weights of
 *    `directions`, renormalised over them), then its endpoints: outside
 *    clients, pods, service frontends and outside servers, each chosen by
 *    Zipf popularity (ranks are a seeded permutation of the population).
 *  - The client's packets enter where the client is: an outside client's on
 *    the node's ENI (the primary ENI for NodePorts and load-balancer IPs, the
 *    pod's ENI for a pod IP: NLB IP targets), a pod's on its host veth. The
 *    client's source port is a per-source counter from a random start
 *    (32768..60999), as connect() hands out ports.
 *  - The server answers what it saw: the client's first packet *as it left
 *    the node*, after DNAT and SNAT (PKT_OUT_SRC/DST/SPORT/DPORT, the ICMP id
 *    PKT_OUT_ICMP_ID) read by feedback(); its packets arrive on the device the
 *    client's packet left by when that is a pod's veth (the pod answers), else
 *    on the ENI that owns the address the server answers to (an ENI address,
 *    or a pod IP's ENI: the VPC delivers there), else on the device the
 *    packet left by. A first packet delivered to the node itself is answered
 *    by the node (its own replies are in the reply ring), not by a peer; a
 *    dropped one is never answered. Without feedback (open loop) the server
 *    is assumed to see the packet as sent.
 *  - Each side speaks after hearing the other: a packet that answers the
 *    other side (a direction switch) is sent `rtt` after the packet it
 *    answers, and only once that packet's fate is known. If a packet of the
 *    flow was dropped, the flow ends there ("aborted": no retransmissions).
 *    Packets of one side's burst follow each other `gap` apart.
 *  - TCP: SYN, SYN-ACK (both with window scale 7, SACK-permitted, window
 *    64240), ACK; then `exchanges` times: the client sends `request` bytes
 *    in MSS segments, the server answers `response` bytes; a sender never
 *    has more than 64240 bytes unacknowledged (the peer's window): past that
 *    the receiver sends a pure ACK first. Every segment carries the exact
 *    next sequence number, the acknowledgement of everything received and
 *    window 502 (x128). Teardown: client FIN, server FIN-ACK, client ACK
 *    (TIME_WAIT), or (share `rst`) a client RST-ACK at the exact sequence.
 *    Draws are cut to what a flow record holds: rtt 4 s, 65,535 exchanges or
 *    echo requests, 1e9 bytes per request or response.
 *  - UDP: `exchanges` request/response pairs (sizes from `request`,
 *    `response`). ICMP: `count` echo requests `interval` apart, each answered.
 *
 * The order of events depends only on the spec, the seed and the fates the
 * feedback reports, never on batch sizes: fill() stops early rather than
 * write a packet that answers one it has not seen processed, so the same
 * spec, seed and node give the same descriptors whatever `max` is.
 * Nothing is allocated per packet; flows live in typed-array columns
 * (flows.ts) and events in a timing wheel (wheel.ts).
 */
import * as abi from "../core/abi.js";
import type { DeviceResolver, PacketInput } from "../packet/input.js";
import { parseCidr, parseIPv4 } from "../util/ipv4.js";
import { mulberry32 } from "../util/prng.js";
import { InputError } from "../snapshot/errors.js";
import type { Engine } from "../engine.js";
import { DistSampler, Zipf } from "./distributions.js";
import { FlowTable, B_DIR, B_DROPPED, B_FATE, B_KIND, B_LAST_SIDE, B_RST, B_STEP, H_C_DPORT, H_C_IIF, H_C_SPORT, H_C_WIN, H_LEFT, H_S_DPORT, H_S_IIF, H_S_SPORT, H_S_WIN, W_C_DST, W_C_SEQ, W_C_SRC, W_LAST_FILL, W_REM, W_RTT, W_S_DST, W_S_SEQ, W_S_SRC } from "./flows.js";
import { TimingWheel } from "./wheel.js";
import { descriptorToPacketInput } from "./jsonl.js";
import { DIRECTIONS, FLOW_KINDS, type Direction, type FlowKind, type TrafficSpec } from "./spec.js";
import { nodeViewFromSnapshot, type NodeView } from "./view.js";

export const K_TCP = 0, K_UDP = 1, K_ICMP = 2;
export const D_NODEPORT = 0, D_LB = 1, D_PODIP = 2, D_POD2POD = 3, D_POD2CIP = 4, D_POD2OUT = 5;

// steps of a flow: the packet it sends next
const S_SYN = 1, S_SYNACK = 2, S_ACK3 = 3, S_DATA_C = 4, S_DATA_S = 5, S_ACK_S = 6, S_ACK_C = 7;
const S_FIN_C = 8, S_FIN_S = 9, S_LASTACK_C = 10, S_RST_C = 11, S_UDP_REQ = 12, S_UDP_RESP = 13, S_ECHO = 14, S_ECHO_REPLY = 15;
/** Which side sends each step (0 client, 1 server). */
const SIDE = new Uint8Array([0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1]);

const TH_FIN = 1, TH_SYN = 2, TH_RST = 4, TH_PSH = 8, TH_ACK = 16;
/** Bytes a sender may have unacknowledged: the window the SYN and SYN-ACK offer. */
const WINDOW = 64240;
const SYN_WIN = 64240;
/** Window field of every other segment: 502 << 7 = 64256 bytes. */
const DATA_WIN = 502;
const WSCALE = 7;
const EPH_LO = 32768, EPH_SPAN = 61000 - 32768;
/** Draws are cut to what a flow record holds (flows.ts): rtt 4 s, 65535 exchanges or echoes, 1e9 bytes per burst. */
const MAX_RTT_NS = 4e9, MAX_LEFT = 65535, MAX_BYTES = 1e9;

export interface TrafficStats {
  /** Packets written. */
  packets: number;
  packetsByKind: Record<FlowKind, number>;
  packetsByDirection: Record<Direction, number>;
  flows: {
    started: number;
    byKind: Record<FlowKind, number>;
    byDirection: Record<Direction, number>;
    /** Ran to their end. */
    completed: number;
    /** Ended early: a packet of theirs was dropped. */
    aborted: number;
    /** The first packet was delivered to the node itself, which answers on its own. */
    answeredByNode: number;
    /** Still running (cut by the packet limit, or not finished yet). */
    active: number;
  };
  /** Flows whose server saw the client's packet translated (DNAT or SNAT). */
  translated: number;
  /** Packets reported back by feedback(), and how many of those were dropped. */
  fedBack: number;
  dropped: number;
  /** fill() calls that stopped before `max` to wait for feedback. */
  shortFills: number;
}

/** A node view with device names resolved to the engine's device slots. */
interface Resolved {
  primarySlot: number;
  podIp: Uint32Array;
  podVeth: Uint16Array;
  podEni: Uint16Array;
  /** Address -> ENI slot that receives traffic for it (ENI addresses, pod IPs). */
  owner: Map<number, number>;
  /** Device slot -> is a pod veth. */
  isVeth: Uint8Array;
  /** Service frontends by direction (0 nodeport, 1 lb, 4 clusterip) and kind (tcp, udp): address and port lists. */
  svcIp: Uint32Array[][];
  svcPort: Uint16Array[][];
}

function addresses(count: number, cidrs: string[], rnd: () => number): Uint32Array {
  const cs = cidrs.map((c) => parseCidr(c)!);
  const sizes = cs.map((c) => 2 ** (32 - c.plen));
  const space = sizes.reduce((a, b) => a + b, 0);
  const at = (off: number): number => {
    for (let i = 0; i < cs.length; i++) {
      if (off < sizes[i]!) return (cs[i]!.addr + off) >>> 0;
      off -= sizes[i]!;
    }
    throw new RangeError("offset outside the CIDRs");
  };
  const out = new Uint32Array(count);
  if (count * 2 >= space) {
    const all = new Uint32Array(space); // space <= 2 * count <= 2^25
    for (let i = 0; i < space; i++) all[i] = i;
    for (let i = 0; i < count; i++) {
      const j = i + Math.floor(rnd() * (space - i));
      const x = all[j]!; all[j] = all[i]!; all[i] = x;
      out[i] = at(x);
    }
    return out;
  }
  const seen = new Set<number>();
  for (let i = 0; i < count;) {
    const off = Math.floor(rnd() * space);
    if (seen.has(off)) continue;
    seen.add(off);
    out[i++] = at(off);
  }
  return out;
}

/** A seeded permutation of 0..n-1 (rank -> item). */
function permutation(n: number, rnd: () => number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const x = p[i]!; p[i] = p[j]!; p[j] = x;
  }
  return p;
}

function ip(s: string): number { return parseIPv4(s)!; }

export class TrafficGenerator {
  readonly spec: TrafficSpec;
  readonly view: NodeView;
  private readonly rnd: () => number;
  private readonly flows = new FlowTable();
  private readonly q = new TimingWheel();
  private readonly r: Resolved;
  private readonly names: string[];
  // populations
  private readonly clientIp: Uint32Array;
  private readonly serverIp: Uint32Array;
  private readonly clientZ: Zipf;
  private readonly serverZ: Zipf;
  private readonly podZ: Zipf | undefined;
  private readonly podRank: Int32Array;
  private readonly svcZ: (Zipf | undefined)[][];
  private readonly svcRank: Int32Array[][];
  /** Next ephemeral port per source: clients, then pods. */
  private readonly ephemeral: Uint16Array;
  // laws
  private readonly rtt: DistSampler;
  private readonly tcpReq: DistSampler;
  private readonly tcpResp: DistSampler;
  private readonly tcpEx: DistSampler;
  private readonly udpReq: DistSampler;
  private readonly udpResp: DistSampler;
  private readonly udpEx: DistSampler;
  private readonly icmpCount: DistSampler;
  private readonly mss: number;
  private readonly gapNs: number;
  private readonly intervalNs: number;
  /** Cumulative kind weights, and per kind the cumulative direction weights. */
  private readonly kindCum: Float64Array;
  private readonly dirCum: Float64Array[];
  // time and limits (ns)
  private nextArrival: number;
  private readonly arrivalMeanNs: number;
  private readonly endNs: number;
  private readonly maxPackets: number;
  private serial = 0;
  /** Number of the current fill() call (u32, wrapping): a flow records the fill of its last packet. */
  private fillNo = 0;
  // the last fill, for feedback
  private batchFlow = new Int32Array(0);
  private batchFirst = new Uint8Array(0);
  private lastBase = -1;
  /** The descriptors' buffer as u32 words (WASM memory is little-endian, as are the hosts Node runs on). */
  private words: Uint32Array | undefined;
  private lastCount = 0;
  private fedBack = true;
  // statistics
  private readonly pktKind = new Float64Array(3);
  private readonly pktDir = new Float64Array(6);
  private readonly flowKind = new Float64Array(3);
  private readonly flowDir = new Float64Array(6);
  private completed = 0;
  private aborted = 0;
  private byNode = 0;
  private translated = 0;
  private nFed = 0;
  private nDropped = 0;
  private shortFills = 0;
  /** Flows started per target rank, by direction (for popularity checks). */
  readonly targetCounts: Float64Array[] = DIRECTIONS.map(() => new Float64Array(0));

  constructor(spec: TrafficSpec, view: NodeView, devices: DeviceResolver) {
    this.spec = spec;
    this.view = view;
    this.rnd = mulberry32(spec.seed);
    const rnd = this.rnd;
    const pos = (path: string) => spec.positions.get(path) ?? spec.positions.get(path.split(".")[0]!) ?? { line: 0, col: 0 };
    const specErr = (path: string, token: string, problem: string): never => {
      const p = pos(path);
      throw new InputError(spec.file, p.line, token, problem, undefined, p.col || undefined);
    };
    // device names -> slots
    this.names = [];
    for (const n of devices.names()) this.names[devices.slotOf(n)!] = n;
    const slot = (name: string, what: string): number => {
      const s = devices.slotOf(name);
      if (s === undefined) return specErr("view", name, `${what} "${name}" of the node view is not an interface of the loaded node`);
      return s;
    };
    const pods = view.pods;
    const owner = new Map<number, number>();
    for (const e of view.enis) { const s = slot(e.name, "ENI"); for (const a of e.ips) owner.set(ip(a), s); }
    const isVeth = new Uint8Array(this.names.length + 1);
    const podIp = new Uint32Array(pods.length), podVeth = new Uint16Array(pods.length), podEni = new Uint16Array(pods.length);
    pods.forEach((p, i) => {
      podIp[i] = ip(p.ip); podVeth[i] = slot(p.veth, "pod veth"); podEni[i] = slot(p.eni, "pod ENI");
      isVeth[podVeth[i]!] = 1;
      if (!owner.has(podIp[i]!)) owner.set(podIp[i]!, podEni[i]!);
    });
    const primarySlot = owner.get(ip(view.nodeIp)) ?? (view.enis[0] ? slot(view.enis[0].name, "ENI") : 0);
    const svcIp: Uint32Array[][] = [], svcPort: Uint16Array[][] = [];
    this.svcZ = []; this.svcRank = [];
    for (let d = 0; d < 6; d++) {
      svcIp.push([]); svcPort.push([]); this.svcZ.push([]); this.svcRank.push([]);
      for (let k = 0; k < 2; k++) {
        const proto = k === 0 ? "tcp" : "udp";
        const kinds = d === D_NODEPORT ? ["nodeport"] : d === D_LB ? ["loadbalancer", "externalip"] : d === D_POD2CIP ? ["clusterip"] : [];
        const l = view.services.filter((s) => s.proto === proto && kinds.includes(s.kind));
        svcIp[d]!.push(Uint32Array.from(l, (s) => ip(s.ip)));
        svcPort[d]!.push(Uint16Array.from(l, (s) => s.port));
        this.svcZ[d]!.push(l.length ? new Zipf(l.length, spec.services.zipf) : undefined);
        this.svcRank[d]!.push(permutation(l.length, rnd));
      }
    }
    this.r = { primarySlot, podIp, podVeth, podEni, owner, isVeth, svcIp, svcPort };

    // populations
    this.clientIp = addresses(spec.clients.count, spec.clients.cidrs, rnd);
    this.serverIp = addresses(spec.servers.count, spec.servers.cidrs, rnd);
    this.clientZ = new Zipf(spec.clients.count, spec.clients.zipf);
    this.serverZ = new Zipf(spec.servers.count, spec.servers.zipf);
    this.podZ = pods.length ? new Zipf(pods.length, spec.pods.zipf) : undefined;
    this.podRank = permutation(pods.length, rnd);
    this.ephemeral = new Uint16Array(spec.clients.count + pods.length);
    for (let i = 0; i < this.ephemeral.length; i++) this.ephemeral[i] = EPH_LO + Math.floor(rnd() * EPH_SPAN);

    // which directions can carry which kinds
    const has = (d: number, k: number): boolean => {
      switch (d) {
        case D_NODEPORT: case D_LB: case D_POD2CIP: return k !== K_ICMP && svcIp[d]![k]!.length > 0;
        case D_PODIP: case D_POD2OUT: return pods.length > 0;
        default: return pods.length > 1;
      }
    };
    const dw = DIRECTIONS.map((d, i): number => spec.directions ? spec.directions[d] : FLOW_KINDS.some((_, k) => has(i, k)) ? 1 : 0);
    if (spec.directions) {
      DIRECTIONS.forEach((d, i) => {
        if (dw[i]! > 0 && !FLOW_KINDS.some((kn, k) => spec.mix[kn] > 0 && has(i, k))) {
          specErr(`directions.${d}`, d, `has weight ${dw[i]} but the node has no target for it with the flow kinds of the mix (${directionNeeds(d)})`);
        }
      });
    }
    this.kindCum = new Float64Array(3);
    this.dirCum = [];
    let kacc = 0;
    FLOW_KINDS.forEach((kn, k) => {
      kacc += spec.mix[kn];
      this.kindCum[k] = kacc;
      const cum = new Float64Array(6);
      let acc = 0;
      for (let d = 0; d < 6; d++) { if (has(d, k)) acc += dw[d]!; cum[d] = acc; }
      if (spec.mix[kn] > 0 && acc === 0) {
        specErr(spec.positions.has(`mix.${kn}`) ? `mix.${kn}` : "mix", kn, `${kn} flows have weight ${spec.mix[kn]} but no direction can carry them on this node` +
          ` (${kn === "icmp" ? "ICMP echo goes to pod IPs, pods or outside servers: the node needs pods" : "the directions with weight need services or pods"})`);
      }
      this.dirCum.push(cum);
    });
    for (let d = 0; d < 6; d++) {
      const n = d === D_PODIP || d === D_POD2POD ? pods.length : d === D_POD2OUT ? spec.servers.count : Math.max(svcIp[d]![0]!.length, svcIp[d]![1]!.length);
      this.targetCounts[d] = new Float64Array(n);
    }

    this.rtt = new DistSampler(spec.rtt);
    this.tcpReq = new DistSampler(spec.tcp.request);
    this.tcpResp = new DistSampler(spec.tcp.response);
    this.tcpEx = new DistSampler(spec.tcp.exchanges);
    this.udpReq = new DistSampler(spec.udp.request);
    this.udpResp = new DistSampler(spec.udp.response);
    this.udpEx = new DistSampler(spec.udp.exchanges);
    this.icmpCount = new DistSampler(spec.icmp.count);
    this.mss = spec.tcp.mss;
    this.gapNs = Math.round(spec.tcp.gap * 1e9);
    this.intervalNs = Math.round(spec.icmp.interval * 1e9);
    this.arrivalMeanNs = 1e9 / spec.rate;
    const startNs = Math.round(spec.start * 1e9);
    this.endNs = spec.duration !== undefined ? startNs + Math.round(spec.duration * 1e9) : Infinity;
    this.maxPackets = spec.packets ?? Infinity;
    this.nextArrival = startNs;
  }

  /**
   * Writes up to `max` descriptors (PKT_SIZE apart) at `base`; returns how
   * many, 0 when the traffic has ended. Fewer than `max` (but at least one)
   * when the next packet answers one written by this call: process these,
   * call feedback(), and fill again.
   */
  fill(dv: DataView, base: number, max: number): number {
    if (!(max >= 1)) throw new RangeError(`TrafficGenerator.fill: max must be at least 1 (got ${max}); 0 is the end-of-traffic answer`);
    if (max > this.batchFlow.length) {
      this.batchFlow = new Int32Array(max);
      this.batchFirst = new Uint8Array(max);
    }
    if ((base & 3) !== 0 || dv.byteOffset !== 0) throw new RangeError(`TrafficGenerator.fill: base ${base} must be a multiple of 4 in a DataView over a whole buffer`);
    if (dv.buffer !== this.words?.buffer) this.words = new Uint32Array(dv.buffer, 0, dv.buffer.byteLength >>> 2);
    const m = this.words;
    if (base + max * abi.PKT_SIZE > m.byteLength) throw new RangeError(`TrafficGenerator.fill: ${max} descriptors at ${base} overrun the buffer`);
    this.flows.recycle();
    const F = this.flows, q = this.q;
    const fillNo = this.fillNo = (this.fillNo + 1) >>> 0;
    let n = 0;
    while (n < max && this.serial < this.maxPackets) {
      let t = this.nextArrival;
      let f: number;
      const top = q.peek();
      if (t < top) {
        if (t >= this.endNs) { this.nextArrival = Infinity; continue; }
        f = this.startFlow();
        this.nextArrival = t + Math.max(1, Math.round(-Math.log(1 - this.rnd()) * this.arrivalMeanNs));
        this.batchFirst[n] = 1;
      } else {
        if (top === Infinity) break;
        f = q.peekedFlow;
        t = top;
        const side = SIDE[F.u8[(f << 6) | B_STEP]!]!;
        if (side !== F.u8[(f << 6) | B_LAST_SIDE]) {
          // this packet answers the other side's last one: its fate must be known
          if (F.u32[(f << 4) | W_LAST_FILL] === fillNo) { this.shortFills++; break; }
          if (F.u8[(f << 6) | B_DROPPED]) { q.popPeeked(); this.aborted++; F.release(f); continue; }
          if (F.u8[(f << 6) | B_FATE] === 2) { q.popPeeked(); this.byNode++; F.release(f); continue; }
        }
        this.batchFirst[n] = 0;
      }
      const delay = this.emit(m, base + (n << abi.PKT_SHIFT), f, t);
      this.batchFlow[n] = f;
      n++;
      if (!this.batchFirst[n - 1]) q.popPeeked();
      if (delay >= 0) q.push(t + delay, f);
      else { this.completed++; F.release(f); }
    }
    this.lastBase = base;
    this.lastCount = n;
    this.fedBack = n === 0;
    return n;
  }

  /**
   * Reads what the node did with the `n` descriptors of the last fill (at
   * `base`), after Engine.processRaw: drops end their flows, and a flow's
   * first packet as it left the node is what the server answers.
   */
  feedback(dv: DataView, base: number, n: number): void {
    if (base !== this.lastBase || n !== this.lastCount) {
      throw new Error(`TrafficGenerator.feedback(base ${base}, n ${n}) must report the whole last fill (base ${this.lastBase}, ${this.lastCount} packets)`);
    }
    if (this.fedBack) throw new Error("TrafficGenerator.feedback: the last fill was already reported");
    this.fedBack = true;
    const F = this.flows, r = this.r;
    this.nFed += n;
    for (let k = 0; k < n; k++) {
      const p = base + (k << abi.PKT_SHIFT);
      const f = this.batchFlow[k]!;
      const v = dv.getUint8(p + abi.PKT_VERDICT);
      if (v === abi.VERDICT_DROP) { F.u8[(f << 6) | B_DROPPED] = 1; this.nDropped++; }
      if (!this.batchFirst[k]) continue;
      if (v === abi.VERDICT_FORWARD) {
        const src = dv.getUint32(p + abi.PKT_OUT_SRC, true);
        const dst = dv.getUint32(p + abi.PKT_OUT_DST, true);
        const icmp = F.u8[(f << 6) | B_KIND] === K_ICMP;
        const sport = icmp ? dv.getUint16(p + abi.PKT_OUT_ICMP_ID, true) : dv.getUint16(p + abi.PKT_OUT_SPORT, true);
        const dport = icmp ? 0 : dv.getUint16(p + abi.PKT_OUT_DPORT, true);
        if (src !== F.u32[(f << 4) | W_C_SRC] || dst !== F.u32[(f << 4) | W_C_DST] || sport !== F.u16[(f << 5) | H_C_SPORT] || (!icmp && dport !== F.u16[(f << 5) | H_C_DPORT])) this.translated++;
        F.u32[(f << 4) | W_S_SRC] = dst; F.u32[(f << 4) | W_S_DST] = src; F.u16[(f << 5) | H_S_SPORT] = dport; F.u16[(f << 5) | H_S_DPORT] = sport;
        const oif = dv.getUint16(p + abi.PKT_OIF, true);
        F.u16[(f << 5) | H_S_IIF] = r.isVeth[oif] ? oif : r.owner.get(src) ?? oif;
        F.u8[(f << 6) | B_FATE] = 1;
      } else F.u8[(f << 6) | B_FATE] = v === abi.VERDICT_LOCAL ? 2 : 3;
    }
  }

  stats(): TrafficStats {
    const rec = <K extends string>(keys: readonly K[], a: Float64Array) => Object.fromEntries(keys.map((k, i) => [k, a[i]])) as Record<K, number>;
    return {
      packets: this.serial,
      packetsByKind: rec(FLOW_KINDS, this.pktKind),
      packetsByDirection: rec(DIRECTIONS, this.pktDir),
      flows: {
        started: this.flowKind.reduce((a, b) => a + b, 0),
        byKind: rec(FLOW_KINDS, this.flowKind), byDirection: rec(DIRECTIONS, this.flowDir),
        completed: this.completed, aborted: this.aborted, answeredByNode: this.byNode, active: this.flows.active,
      },
      translated: this.translated, fedBack: this.nFed, dropped: this.nDropped, shortFills: this.shortFills,
    };
  }

  /** Device name of a slot (for dumps). */
  deviceName(slot: number): string { return this.names[slot] ?? `#${slot}`; }

  /** The descriptor at `off` in the replay input format (JSONL dumps, inspection). */
  toPacketInput(dv: DataView, off: number): PacketInput {
    return descriptorToPacketInput(dv, off, (s) => this.deviceName(s));
  }

  // ---- flows --------------------------------------------------------------

  private pickPort(ports: number[]): number {
    return ports.length === 1 ? ports[0]! : ports[Math.floor(this.rnd() * ports.length)]!;
  }

  private nextEphemeral(source: number): number {
    const e = this.ephemeral;
    const p = e[source]!;
    e[source] = p + 1 >= EPH_LO + EPH_SPAN ? EPH_LO : p + 1;
    return p;
  }

  /** Draws a new flow's kind, direction, endpoints and laws; its first step is set. */
  private startFlow(): number {
    const F = this.flows, r = this.r, spec = this.spec, rnd = this.rnd;
    const f = F.alloc();
    const ku = rnd() * this.kindCum[2]!;
    const k = ku < this.kindCum[0]! ? K_TCP : ku < this.kindCum[1]! ? K_UDP : K_ICMP;
    const cum = this.dirCum[k]!;
    const du = rnd() * cum[5]!;
    let d = 0;
    while (du >= cum[d]!) d++;
    const nClients = spec.clients.count;
    let src: number, dst: number, sport: number, dport = 0, iif: number, sIif: number, target: number;
    const ports = k === K_TCP ? spec.pods.tcpPorts : spec.pods.udpPorts;
    if (d === D_NODEPORT || d === D_LB || d === D_PODIP) {
      const c = this.clientZ.at(rnd());
      src = this.clientIp[c]!;
      sport = this.nextEphemeral(c);
      if (d === D_PODIP) {
        target = this.podRank[this.podZ!.at(rnd())]!;
        dst = r.podIp[target]!;
        if (k !== K_ICMP) dport = this.pickPort(ports);
        iif = r.podEni[target]!;
        sIif = r.podVeth[target]!;
      } else {
        const sk = k === K_TCP ? 0 : 1;
        target = this.svcRank[d]![sk]![this.svcZ[d]![sk]!.at(rnd())]!;
        dst = r.svcIp[d]![sk]![target]!;
        dport = r.svcPort[d]![sk]![target]!;
        iif = d === D_NODEPORT ? r.owner.get(dst) ?? r.primarySlot : r.primarySlot;
        sIif = iif;
      }
    } else {
      const a = this.podRank[this.podZ!.at(rnd())]!;
      src = r.podIp[a]!;
      iif = r.podVeth[a]!;
      sport = this.nextEphemeral(nClients + a);
      sIif = r.podEni[a]!;
      if (d === D_POD2POD) {
        let b = this.podRank[this.podZ!.at(rnd())]!;
        if (b === a) b = (b + 1) % r.podIp.length;
        target = b;
        dst = r.podIp[b]!;
        if (k !== K_ICMP) dport = this.pickPort(ports);
        sIif = r.podVeth[b]!;
      } else if (d === D_POD2CIP) {
        const sk = k === K_TCP ? 0 : 1;
        target = this.svcRank[d]![sk]![this.svcZ[d]![sk]!.at(rnd())]!;
        dst = r.svcIp[d]![sk]![target]!;
        dport = r.svcPort[d]![sk]![target]!;
      } else {
        target = this.serverZ.at(rnd());
        dst = this.serverIp[target]!;
        if (k !== K_ICMP) dport = this.pickPort(k === K_TCP ? spec.servers.tcpPorts : spec.servers.udpPorts);
      }
    }
    this.targetCounts[d]![target]!++;
    this.flowKind[k]!++;
    this.flowDir[d]!++;
    F.u8[(f << 6) | B_KIND] = k; F.u8[(f << 6) | B_DIR] = d;
    F.u32[(f << 4) | W_C_SRC] = src; F.u32[(f << 4) | W_C_DST] = dst; F.u16[(f << 5) | H_C_SPORT] = sport; F.u16[(f << 5) | H_C_DPORT] = dport; F.u16[(f << 5) | H_C_IIF] = iif;
    // open loop until feedback says otherwise: the server sees the packet as sent
    F.u32[(f << 4) | W_S_SRC] = dst; F.u32[(f << 4) | W_S_DST] = src; F.u16[(f << 5) | H_S_SPORT] = dport; F.u16[(f << 5) | H_S_DPORT] = sport; F.u16[(f << 5) | H_S_IIF] = sIif;
    F.u8[(f << 6) | B_FATE] = 1; F.u8[(f << 6) | B_DROPPED] = 0; F.u8[(f << 6) | B_LAST_SIDE] = 0;
    F.u32[(f << 4) | W_RTT] = Math.min(MAX_RTT_NS, Math.max(1, Math.round(this.rtt.at(rnd()) * 1e9)));
    if (k === K_TCP) {
      F.u8[(f << 6) | B_STEP] = S_SYN;
      F.u32[(f << 4) | W_C_SEQ] = Math.floor(rnd() * 4294967296);
      F.u32[(f << 4) | W_S_SEQ] = Math.floor(rnd() * 4294967296);
      F.u16[(f << 5) | H_LEFT] = Math.min(MAX_LEFT, Math.round(this.tcpEx.at(rnd())));
      F.u8[(f << 6) | B_RST] = rnd() < spec.tcp.rst ? 1 : 0;
      F.u16[(f << 5) | H_C_WIN] = 0; F.u16[(f << 5) | H_S_WIN] = 0;
    } else if (k === K_UDP) {
      F.u8[(f << 6) | B_STEP] = S_UDP_REQ;
      F.u16[(f << 5) | H_LEFT] = Math.min(MAX_LEFT, Math.max(0, Math.round(this.udpEx.at(rnd())) - 1));
    } else {
      F.u8[(f << 6) | B_STEP] = S_ECHO;
      F.u32[(f << 4) | W_C_SEQ] = 1;
      F.u16[(f << 5) | H_LEFT] = Math.min(MAX_LEFT, Math.max(0, Math.round(this.icmpCount.at(rnd())) - 1));
    }
    return f;
  }

  /** Starts a TCP exchange: the size of the request (the response's is drawn when the request is sent). */
  private newExchange(f: number): void {
    this.flows.u32[(f << 4) | W_REM] = Math.min(MAX_BYTES, Math.max(1, Math.round(this.tcpReq.at(this.rnd()))));
  }

  /** The client's move after an exchange: the next exchange, or the teardown. */
  private clientNext(f: number): void {
    const F = this.flows;
    if (F.u16[(f << 5) | H_LEFT]! > 0) { F.u16[(f << 5) | H_LEFT]!--; this.newExchange(f); F.u8[(f << 6) | B_STEP] = S_DATA_C; } else F.u8[(f << 6) | B_STEP] = F.u8[(f << 6) | B_RST] ? S_RST_C : S_FIN_C;
  }

  /**
   * Writes flow f's next packet at descriptor offset p, time t (ns), and
   * moves the flow on. Returns the delay (ns) to its next packet, -1 at its end.
   */
  private emit(m: Uint32Array, p: number, f: number, t: number): number {
    const F = this.flows;
    const step = F.u8[(f << 6) | B_STEP]!;
    const side = SIDE[step]!;
    const k = F.u8[(f << 6) | B_KIND]!;
    const ser = this.serial++;
    F.u32[(f << 4) | W_LAST_FILL] = this.fillNo;
    F.u8[(f << 6) | B_LAST_SIDE] = side;
    this.pktKind[k]!++;
    this.pktDir[F.u8[(f << 6) | B_DIR]!]!++;
    const rtt = F.u32[(f << 4) | W_RTT]!;
    let src: number, dst: number, sport: number, dport: number, iif: number;
    if (side === 0) { src = F.u32[(f << 4) | W_C_SRC]!; dst = F.u32[(f << 4) | W_C_DST]!; sport = F.u16[(f << 5) | H_C_SPORT]!; dport = F.u16[(f << 5) | H_C_DPORT]!; iif = F.u16[(f << 5) | H_C_IIF]!; } else { src = F.u32[(f << 4) | W_S_SRC]!; dst = F.u32[(f << 4) | W_S_DST]!; sport = F.u16[(f << 5) | H_S_SPORT]!; dport = F.u16[(f << 5) | H_S_DPORT]!; iif = F.u16[(f << 5) | H_S_IIF]!; }
    if (k === K_UDP) {
      const req = step === S_UDP_REQ;
      const len = 28 + Math.max(0, Math.round((req ? this.udpReq : this.udpResp).at(this.rnd())));
      put(m, p, src, dst, sport, dport, 17, 0, len, iif, 0, 0, 0, 0, 0, 0, 0, 0, 0, ser, t);
      if (req) { F.u8[(f << 6) | B_STEP] = S_UDP_RESP; return rtt; }
      if (F.u16[(f << 5) | H_LEFT]! > 0) { F.u16[(f << 5) | H_LEFT]!--; F.u8[(f << 6) | B_STEP] = S_UDP_REQ; return rtt; }
      return -1;
    }
    if (k === K_ICMP) {
      const size = this.spec.icmp.size;
      if (step === S_ECHO) {
        put(m, p, src, dst, 0, 0, 1, 0, size, iif, 0, 0, 0, 8, sport, F.u32[(f << 4) | W_C_SEQ]!, 0, 0, 0, ser, t);
        F.u8[(f << 6) | B_STEP] = S_ECHO_REPLY;
        return rtt;
      }
      put(m, p, src, dst, 0, 0, 1, 0, size, iif, 0, 0, 0, 0, dport, F.u32[(f << 4) | W_C_SEQ]!, 0, 0, 0, ser, t);
      F.u32[(f << 4) | W_C_SEQ] = (F.u32[(f << 4) | W_C_SEQ]! + 1) & 0xffff;
      if (F.u16[(f << 5) | H_LEFT]! > 0) { F.u16[(f << 5) | H_LEFT]!--; F.u8[(f << 6) | B_STEP] = S_ECHO; return Math.max(0, this.intervalNs - rtt); }
      return -1;
    }
    // TCP
    const gap = this.gapNs;
    switch (step) {
      case S_SYN: {
        const isn = F.u32[(f << 4) | W_C_SEQ]!;
        put(m, p, src, dst, sport, dport, 6, TH_SYN, 52, iif, isn, 0, SYN_WIN, 0, 0, 0, 8, WSCALE + 1, abi.TO_SACK_PERM, ser, t);
        F.u32[(f << 4) | W_C_SEQ] = isn + 1;
        F.u8[(f << 6) | B_STEP] = S_SYNACK;
        return rtt;
      }
      case S_SYNACK: {
        const isn = F.u32[(f << 4) | W_S_SEQ]!;
        put(m, p, src, dst, sport, dport, 6, TH_SYN | TH_ACK, 52, iif, isn, F.u32[(f << 4) | W_C_SEQ]!, SYN_WIN, 0, 0, 0, 8, WSCALE + 1, abi.TO_SACK_PERM, ser, t);
        F.u32[(f << 4) | W_S_SEQ] = isn + 1;
        F.u8[(f << 6) | B_STEP] = S_ACK3;
        return rtt;
      }
      case S_ACK3:
        put(m, p, src, dst, sport, dport, 6, TH_ACK, 40, iif, F.u32[(f << 4) | W_C_SEQ]!, F.u32[(f << 4) | W_S_SEQ]!, DATA_WIN, 0, 0, 0, 5, 0, 0, ser, t);
        this.clientNext(f);
        return gap;
      case S_DATA_C: {
        const rem = F.u32[(f << 4) | W_REM]!;
        const pay = Math.min(this.mss, rem, WINDOW - F.u16[(f << 5) | H_C_WIN]!);
        const last = pay === rem;
        put(m, p, src, dst, sport, dport, 6, last ? TH_PSH | TH_ACK : TH_ACK, 40 + pay, iif, F.u32[(f << 4) | W_C_SEQ]!, F.u32[(f << 4) | W_S_SEQ]!, DATA_WIN, 0, 0, 0, 5, 0, 0, ser, t);
        F.u32[(f << 4) | W_C_SEQ] = (F.u32[(f << 4) | W_C_SEQ]! + pay) >>> 0;
        F.u32[(f << 4) | W_REM] = rem - pay;
        F.u16[(f << 5) | H_C_WIN] = F.u16[(f << 5) | H_C_WIN]! + pay;
        F.u16[(f << 5) | H_S_WIN] = 0;
        if (!last) {
          if (F.u16[(f << 5) | H_C_WIN]! < WINDOW) return gap;
          F.u8[(f << 6) | B_STEP] = S_ACK_S;
          return rtt;
        }
        const resp = Math.min(MAX_BYTES, Math.max(0, Math.round(this.tcpResp.at(this.rnd()))));
        F.u32[(f << 4) | W_REM] = resp;
        F.u8[(f << 6) | B_STEP] = resp > 0 ? S_DATA_S : S_ACK_S;
        return rtt;
      }
      case S_ACK_S:
        put(m, p, src, dst, sport, dport, 6, TH_ACK, 40, iif, F.u32[(f << 4) | W_S_SEQ]!, F.u32[(f << 4) | W_C_SEQ]!, DATA_WIN, 0, 0, 0, 5, 0, 0, ser, t);
        F.u16[(f << 5) | H_C_WIN] = 0;
        if (F.u32[(f << 4) | W_REM]! > 0) F.u8[(f << 6) | B_STEP] = S_DATA_C;
        else this.clientNext(f);
        return rtt;
      case S_DATA_S: {
        const rem = F.u32[(f << 4) | W_REM]!;
        const pay = Math.min(this.mss, rem, WINDOW - F.u16[(f << 5) | H_S_WIN]!);
        const last = pay === rem;
        put(m, p, src, dst, sport, dport, 6, last ? TH_PSH | TH_ACK : TH_ACK, 40 + pay, iif, F.u32[(f << 4) | W_S_SEQ]!, F.u32[(f << 4) | W_C_SEQ]!, DATA_WIN, 0, 0, 0, 5, 0, 0, ser, t);
        F.u32[(f << 4) | W_S_SEQ] = (F.u32[(f << 4) | W_S_SEQ]! + pay) >>> 0;
        F.u32[(f << 4) | W_REM] = rem - pay;
        F.u16[(f << 5) | H_S_WIN] = F.u16[(f << 5) | H_S_WIN]! + pay;
        F.u16[(f << 5) | H_C_WIN] = 0;
        if (!last) {
          if (F.u16[(f << 5) | H_S_WIN]! < WINDOW) return gap;
          F.u8[(f << 6) | B_STEP] = S_ACK_C;
          return rtt;
        }
        this.clientNext(f);
        return rtt;
      }
      case S_ACK_C:
        put(m, p, src, dst, sport, dport, 6, TH_ACK, 40, iif, F.u32[(f << 4) | W_C_SEQ]!, F.u32[(f << 4) | W_S_SEQ]!, DATA_WIN, 0, 0, 0, 5, 0, 0, ser, t);
        F.u16[(f << 5) | H_S_WIN] = 0;
        F.u8[(f << 6) | B_STEP] = S_DATA_S;
        return rtt;
      case S_FIN_C:
        put(m, p, src, dst, sport, dport, 6, TH_FIN | TH_ACK, 40, iif, F.u32[(f << 4) | W_C_SEQ]!, F.u32[(f << 4) | W_S_SEQ]!, DATA_WIN, 0, 0, 0, 5, 0, 0, ser, t);
        F.u32[(f << 4) | W_C_SEQ] = (F.u32[(f << 4) | W_C_SEQ]! + 1) >>> 0;
        F.u8[(f << 6) | B_STEP] = S_FIN_S;
        return rtt;
      case S_FIN_S:
        put(m, p, src, dst, sport, dport, 6, TH_FIN | TH_ACK, 40, iif, F.u32[(f << 4) | W_S_SEQ]!, F.u32[(f << 4) | W_C_SEQ]!, DATA_WIN, 0, 0, 0, 5, 0, 0, ser, t);
        F.u32[(f << 4) | W_S_SEQ] = (F.u32[(f << 4) | W_S_SEQ]! + 1) >>> 0;
        F.u8[(f << 6) | B_STEP] = S_LASTACK_C;
        return rtt;
      case S_LASTACK_C:
        put(m, p, src, dst, sport, dport, 6, TH_ACK, 40, iif, F.u32[(f << 4) | W_C_SEQ]!, F.u32[(f << 4) | W_S_SEQ]!, DATA_WIN, 0, 0, 0, 5, 0, 0, ser, t);
        return -1;
      default: // S_RST_C
        put(m, p, src, dst, sport, dport, 6, TH_RST | TH_ACK, 40, iif, F.u32[(f << 4) | W_C_SEQ]!, F.u32[(f << 4) | W_S_SEQ]!, 0, 0, 0, 0, 5, 0, 0, ser, t);
        return -1;
    }
  }
}

function directionNeeds(d: Direction): string {
  switch (d) {
    case "nodeport": return "NodePorts: KUBE-NODEPORTS rules in the node's iptables";
    case "loadbalancer": return "load-balancer or external IPs: KUBE-SERVICES rules jumping to KUBE-EXT-";
    case "pod-to-clusterip": return "ClusterIPs: KUBE-SERVICES rules jumping to KUBE-SVC-";
    case "pod-to-pod": return "at least two pods";
    default: return "pods";
  }
}

/**
 * Writes every input field of a descriptor (as encodePacket would for the
 * same packet: arriving on `iif`, source given, TTL 64, checksum ok).
 */
function put(
  m: Uint32Array, p: number, src: number, dst: number, sport: number, dport: number, proto: number, tflags: number,
  len: number, iif: number, seq: number, ack: number, win: number, icmpType: number, icmpId: number, icmpSeq: number,
  doff: number, wscale: number, topts: number, ser: number, t: number,
): void {
  // u32 words of the descriptor (little-endian, as WASM memory is)
  const i = p >>> 2;
  m[i] = src; // PKT_SRC
  m[i + 1] = dst; // PKT_DST
  m[i + 2] = sport | (dport << 16); // PKT_SPORT, PKT_DPORT
  m[i + 3] = proto | (tflags << 8) | (64 << 16); // PKT_PROTO, PKT_TCPFLAGS, PKT_TTL 64, PKT_TOS 0
  m[i + 4] = len | (abi.PF_SRC_SET << 16); // PKT_LEN, PKT_FLAGS
  m[i + 5] = iif; // PKT_IIF, PKT_BOUND_OIF 0
  m[i + 6] = 0; // PKT_MARK
  m[i + 7] = seq; // PKT_SEQ
  m[i + 8] = ack; // PKT_ACK
  m[i + 9] = win | (icmpType << 16); // PKT_WIN, PKT_ICMP_TYPE, PKT_ICMP_CODE 0
  m[i + 10] = icmpId | ((ser & 0xffff) << 16); // PKT_ICMP_ID, PKT_IPID
  m[i + 11] = 0; // PKT_INNER_SRC
  m[i + 12] = 0; // PKT_INNER_DST
  m[i + 13] = 0; // PKT_INNER_SPORT, PKT_INNER_DPORT
  m[i + 14] = (doff << 8) | (icmpSeq << 16); // PKT_INNER_PROTO 0, PKT_TCP_DOFF, PKT_ICMP_SEQ
  m[i + 15] = 0; // PKT_UID
  m[i + 16] = t >>> 0; // PKT_TIME, low word
  m[i + 17] = (t / 4294967296) >>> 0; // high word
  m[i + 32] = wscale | (topts << 8); // PKT_TCP_WSCALE, PKT_TCP_OPTS, PKT_CSCOV 0
  m[i + 33] = 0; // PKT_TCP_SACK
  m[i + 34] = 0; // PKT_GID
  m[i + 35] = 0; // PKT_CSUM, reserved
  m[i + 55] = 0; // PKT_INNER_ICMP_TYPE, PKT_INNER_ICMP_CODE, PKT_CPU
}

/** Options of createGenerator. */
export interface GeneratorOptions {
  /** The node view (default: the spec's `view`, else read from the engine's node and ruleset). */
  view?: NodeView;
}

/** A generator for the node loaded in `engine` (its view read from the snapshot and the loaded ruleset, unless the spec gives one). */
export function createGenerator(spec: TrafficSpec, engine: Engine, opts: GeneratorOptions = {}): TrafficGenerator {
  const view = opts.view ?? spec.view ?? nodeViewFromSnapshot(engine.node.snapshot, engine.ruleset?.ruleset ?? { tables: [] });
  return new TrafficGenerator(spec, view, engine.devices);
}

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error("nodeplane's traffic generator writes WASM memory as little-endian words: this host is big-endian");
