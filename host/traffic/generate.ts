/**
 * The synthetic traffic generator, host side: reads the spec and the node
 * view, resolves device names to the engine's slots, builds the populations
 * (client and server addresses, seeded rank permutations folded into Zipf
 * alias tables, service frontends, pods, first ephemeral ports) and copies
 * them into the engine's WASM memory, where the generator's per-packet and
 * per-flow logic runs (assembly/traffic/generator.ts, which documents the
 * traffic model): fill() writes descriptors straight into the batch buffer
 * and feedback() reads the node's verdicts and translations back, one core
 * call each. Spec errors (a direction the node cannot serve) are found here.
 */
import * as abi from "../core/abi.js";
import type { CoreExports, CoreMemory } from "../core/wasm.js";
import type { PacketInput } from "../packet/input.js";
import { parseCidr, parseIPv4 } from "../util/ipv4.js";
import { Mulberry32 } from "../util/prng.js";
import { InputError } from "../snapshot/errors.js";
import type { Engine } from "../engine.js";
import { DistSampler, Zipf } from "./distributions.js";
import { descriptorToPacketInput } from "./jsonl.js";
import { DIRECTIONS, FLOW_KINDS, type Direction, type FlowKind, type TrafficSpec } from "./spec.js";
import { nodeViewFromSnapshot, type NodeView } from "./view.js";

const K_ICMP = 2;
const D_NODEPORT = 0, D_LB = 1, D_PODIP = 2, D_POD2POD = 3, D_POD2CIP = 4, D_POD2OUT = 5;
const EPH_LO = 32768, EPH_SPAN = 61000 - 32768;
/** Descriptor words (u32) the generator writes: bytes 0-71, 128-143 and 220-223. */
const INPUT_WORDS = [...Array.from({ length: 18 }, (_, i) => i), 32, 33, 34, 35, 55];

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

/** The engine's core and its memory views: where the generator's state lives. */
interface CoreRef { core: CoreExports; mem: CoreMemory }

/**
 * A generator on one engine. Its state lives in the engine's memory as long
 * as the engine does: the population tables, and per flow slot a 64-byte
 * record and ~60 bytes of queue entries; a fill first makes room for `max`
 * new flows. Generators (on one engine or several) are independent.
 */
export class TrafficGenerator {
  readonly spec: TrafficSpec;
  readonly view: NodeView;
  private readonly core: CoreExports;
  private readonly mem: CoreMemory;
  /** The generator's record in the core's memory (abi.ts section 9). */
  private readonly g: number;
  private readonly names: string[];
  /** Per direction: the core's flows-per-target counters (f64) and their number. */
  private readonly targets: { ptr: number; n: number }[] = [];
  /** Descriptors in the core's memory for callers whose buffer is not the core's (filled there, then copied). */
  private scratch = 0;
  private scratchCap = 0;
  // the last fill, for feedback
  private lastBase = -1;
  private lastCount = 0;
  private fedBack = true;

  constructor(spec: TrafficSpec, view: NodeView, engine: CoreRef & { devices: Engine["devices"] }) {
    this.spec = spec;
    this.view = view;
    this.core = engine.core;
    this.mem = engine.mem;
    const devices = engine.devices;
    const prng = new Mulberry32(spec.seed);
    const rnd = () => prng.next();
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
    /** Address -> ENI slot that receives traffic for it (ENI addresses, pod IPs). */
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
    // service frontends by direction (0 nodeport, 1 lb, 4 clusterip) and kind (tcp, udp), their Zipf tables and rank permutations
    const svcIp: Uint32Array[][] = [], svcPort: Uint16Array[][] = [], svcZ: (Zipf | undefined)[][] = [], svcRank: Int32Array[][] = [];
    for (let d = 0; d < 6; d++) {
      svcIp.push([]); svcPort.push([]); svcZ.push([]); svcRank.push([]);
      for (let k = 0; k < 2; k++) {
        const proto = k === 0 ? "tcp" : "udp";
        const kinds = d === D_NODEPORT ? ["nodeport"] : d === D_LB ? ["loadbalancer", "externalip"] : d === D_POD2CIP ? ["clusterip"] : [];
        const l = view.services.filter((s) => s.proto === proto && kinds.includes(s.kind));
        svcIp[d]!.push(Uint32Array.from(l, (s) => ip(s.ip)));
        svcPort[d]!.push(Uint16Array.from(l, (s) => s.port));
        svcZ[d]!.push(l.length ? new Zipf(l.length, spec.services.zipf) : undefined);
        svcRank[d]!.push(permutation(l.length, rnd));
      }
    }

    // populations
    const clientIp = addresses(spec.clients.count, spec.clients.cidrs, rnd);
    const serverIp = addresses(spec.servers.count, spec.servers.cidrs, rnd);
    const podRank = permutation(pods.length, rnd);
    // IP targets without client IP preservation: the NLB's addresses (and their own ephemeral ports, after the pods')
    const nlbIp = spec.nlb && !spec.nlb.preserveClientIp ? Uint32Array.from(spec.nlb.ips, ip) : new Uint32Array(0);
    const ephemeral = new Uint16Array(spec.clients.count + pods.length + nlbIp.length);
    for (let i = 0; i < ephemeral.length; i++) ephemeral[i] = EPH_LO + Math.floor(rnd() * EPH_SPAN);

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
    const kindCum: number[] = [];
    const dirCum: number[][] = [];
    let kacc = 0;
    FLOW_KINDS.forEach((kn, k) => {
      kacc += spec.mix[kn];
      kindCum.push(kacc);
      const cum: number[] = [];
      let acc = 0;
      for (let d = 0; d < 6; d++) { if (has(d, k)) acc += dw[d]!; cum.push(acc); }
      if (spec.mix[kn] > 0 && acc === 0) {
        specErr(spec.positions.has(`mix.${kn}`) ? `mix.${kn}` : "mix", kn, `${kn} flows have weight ${spec.mix[kn]} but no direction can carry them on this node` +
          ` (${kn === "icmp" ? "ICMP echo goes to pod IPs, pods or outside servers: the node needs pods" : "the directions with weight need services or pods"})`);
      }
      dirCum.push(cum);
    });

    // the generator in the core: parameters, laws, tables
    const core = this.core;
    const g = this.g = core.gen_create();
    const param = (key: number, v: number) => core.gen_param_set(g, key, v);
    param(abi.GP_MSS, spec.tcp.mss);
    param(abi.GP_ICMP_SIZE, spec.icmp.size);
    param(abi.GP_GAP_NS, Math.round(spec.tcp.gap * 1e9));
    param(abi.GP_INTERVAL_NS, Math.round(spec.icmp.interval * 1e9));
    param(abi.GP_RST, spec.tcp.rst);
    param(abi.GP_ARRIVAL_MEAN_NS, 1e9 / spec.rate);
    const startNs = Math.round(spec.start * 1e9);
    param(abi.GP_START_NS, startNs);
    param(abi.GP_END_NS, spec.duration !== undefined ? startNs + Math.round(spec.duration * 1e9) : Infinity);
    param(abi.GP_MAX_PACKETS, spec.packets ?? Infinity);
    param(abi.GP_CLIENTS, spec.clients.count);
    kindCum.forEach((v, k) => param(abi.GP_KIND_CUM + k, v));
    dirCum.forEach((cum, k) => cum.forEach((v, d) => param(abi.GP_DIR_CUM + k * 6 + d, v)));
    const laws: [number, DistSampler][] = [
      [abi.LAW_RTT, new DistSampler(spec.rtt)],
      [abi.LAW_TCP_REQUEST, new DistSampler(spec.tcp.request)], [abi.LAW_TCP_RESPONSE, new DistSampler(spec.tcp.response)],
      [abi.LAW_TCP_EXCHANGES, new DistSampler(spec.tcp.exchanges)],
      [abi.LAW_UDP_REQUEST, new DistSampler(spec.udp.request)], [abi.LAW_UDP_RESPONSE, new DistSampler(spec.udp.response)],
      [abi.LAW_UDP_EXCHANGES, new DistSampler(spec.udp.exchanges)],
      [abi.LAW_ICMP_COUNT, new DistSampler(spec.icmp.count)],
    ];
    for (const [l, d] of laws) core.gen_law_set(g, l, d.k, d.a, d.b, d.c);

    /** A table of `n` entries of `size` bytes, written by `write(dv, ptr)` and handed to the generator. */
    const table = (t: number, n: number, size: number, write?: (dv: DataView, p: number) => void): number => {
      const ptr = core.alloc(Math.max(8, n * size));
      this.mem.refresh();
      write?.(this.mem.dv, ptr);
      core.gen_table_set(g, t, ptr, n);
      return ptr;
    };
    const u32s = (t: number, a: ArrayLike<number>) => table(t, a.length, 4, (dv, p) => { for (let i = 0; i < a.length; i++) dv.setUint32(p + i * 4, a[i]!, true); });
    const u16s = (t: number, a: ArrayLike<number>) => table(t, a.length, 2, (dv, p) => { for (let i = 0; i < a.length; i++) dv.setUint16(p + i * 2, a[i]!, true); });
    /** Zipf alias columns with their ranks mapped to items by `item` (the seeded permutation). */
    const zipf = (t: number, z: Zipf | undefined, item: (rank: number) => number = (r) => r) => {
      const n = z?.n ?? 0;
      table(t, n, abi.GEN_ZIPF_SIZE, (dv, p) => {
        for (let i = 0; i < n; i++) {
          const e = p + i * abi.GEN_ZIPF_SIZE;
          dv.setFloat64(e, z!.prob[i]!, true);
          dv.setInt32(e + 8, item(i), true);
          dv.setInt32(e + 12, item(z!.alias[i]!), true);
        }
      });
    };
    u32s(abi.GT_CLIENT_IP, clientIp);
    u32s(abi.GT_SERVER_IP, serverIp);
    table(abi.GT_POD, pods.length, abi.GEN_POD_SIZE, (dv, p) => {
      for (let i = 0; i < pods.length; i++) {
        const e = p + i * abi.GEN_POD_SIZE;
        dv.setUint32(e, podIp[i]!, true); dv.setUint16(e + 4, podVeth[i]!, true); dv.setUint16(e + 6, podEni[i]!, true);
      }
    });
    u16s(abi.GT_EPHEMERAL, ephemeral);
    u32s(abi.GT_NLB_IP, nlbIp);
    zipf(abi.GT_CLIENT_ZIPF, new Zipf(spec.clients.count, spec.clients.zipf));
    zipf(abi.GT_SERVER_ZIPF, new Zipf(spec.servers.count, spec.servers.zipf));
    zipf(abi.GT_POD_ZIPF, pods.length ? new Zipf(pods.length, spec.pods.zipf) : undefined, (r) => podRank[r]!);
    u16s(abi.GT_POD_PORTS, spec.pods.tcpPorts);
    u16s(abi.GT_POD_PORTS + 1, spec.pods.udpPorts);
    u16s(abi.GT_SERVER_PORTS, spec.servers.tcpPorts);
    u16s(abi.GT_SERVER_PORTS + 1, spec.servers.udpPorts);
    // the owner map as an open-addressing hash (at most half full)
    let bits = 3;
    while (1 << bits < owner.size * 2) bits++;
    table(abi.GT_OWNER, 1 << bits, abi.GEN_OWNER_SIZE, (dv, p) => {
      const mask = (1 << bits) - 1;
      for (const [a, s] of owner) {
        let i = (Math.imul(a, abi.GEN_OWNER_HASH) >>> (32 - bits)) & mask;
        while (dv.getUint32(p + i * abi.GEN_OWNER_SIZE + 4, true) !== 0) i = (i + 1) & mask;
        dv.setUint32(p + i * abi.GEN_OWNER_SIZE, a, true);
        dv.setUint32(p + i * abi.GEN_OWNER_SIZE + 4, s, true);
      }
    });
    table(abi.GT_IS_VETH, isVeth.length, 1, (dv, p) => new Uint8Array(dv.buffer, p, isVeth.length).set(isVeth));
    for (const d of [D_NODEPORT, D_LB, D_POD2CIP]) {
      for (let k = 0; k < 2; k++) {
        const ips = svcIp[d]![k]!, ports = svcPort[d]![k]!;
        table(abi.GT_SVC + d * 2 + k, ips.length, abi.GEN_SVC_SIZE, (dv, p) => {
          for (let i = 0; i < ips.length; i++) {
            const e = p + i * abi.GEN_SVC_SIZE;
            // NodePort clients arrive on the ENI that owns the node address, load-balancer ones on the primary ENI
            const iif = d === D_NODEPORT ? owner.get(ips[i]!) ?? primarySlot : primarySlot;
            dv.setUint32(e, ips[i]!, true); dv.setUint16(e + 4, ports[i]!, true); dv.setUint16(e + 6, iif, true);
          }
        });
        zipf(abi.GT_SVC_ZIPF + d * 2 + k, svcZ[d]![k], (r) => svcRank[d]![k]![r]!);
      }
    }
    for (let d = 0; d < 6; d++) {
      const n = d === D_PODIP || d === D_POD2POD ? pods.length : d === D_POD2OUT ? spec.servers.count : Math.max(svcIp[d]![0]!.length, svcIp[d]![1]!.length);
      this.targets.push({ ptr: table(abi.GT_TARGETS + d, n, 8), n });
    }
    // the core continues the PRNG stream the populations drew from
    param(abi.GP_PRNG, prng.state);
  }

  /**
   * Writes up to `max` descriptors (PKT_SIZE apart) at `base`; returns how
   * many, 0 when the traffic has ended. Fewer than `max` (but at least one)
   * when the next packet answers one written by this call: process these,
   * call feedback(), and fill again. With `dv` over the engine's memory (its
   * batch buffer) the core writes them in place; any other buffer gets a
   * copy of their input fields. The core may grow its memory: take the
   * engine's views (engine.mem) again after the call.
   */
  fill(dv: DataView, base: number, max: number): number {
    if (!(max >= 1)) throw new RangeError(`TrafficGenerator.fill: max must be at least 1 (got ${max}); 0 is the end-of-traffic answer`);
    this.checkBuffer("fill", dv, base, max);
    let n: number;
    if (dv.buffer === this.core.memory.buffer) {
      n = this.core.gen_fill(this.g, base, max);
      this.mem.refresh();
    } else {
      const s = this.scratchFor(max);
      n = this.core.gen_fill(this.g, s, max);
      this.mem.refresh();
      const from = this.mem.u32, to = new Uint32Array(dv.buffer as ArrayBuffer, 0, dv.buffer.byteLength >>> 2);
      for (let k = 0; k < n; k++) {
        const a = (s >>> 2) + k * (abi.PKT_SIZE >>> 2), b = (base >>> 2) + k * (abi.PKT_SIZE >>> 2);
        for (const w of INPUT_WORDS) to[b + w] = from[a + w]!;
      }
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
    this.checkBuffer("feedback", dv, base, n);
    this.fedBack = true;
    if (dv.buffer === this.core.memory.buffer) {
      this.core.gen_feedback(this.g, base, n);
    } else {
      const s = this.scratchFor(n);
      this.mem.u8.set(new Uint8Array(dv.buffer as ArrayBuffer, base, n * abi.PKT_SIZE), s);
      this.core.gen_feedback(this.g, s, n);
    }
  }

  private checkBuffer(what: string, dv: DataView, base: number, n: number): void {
    if ((base & 3) !== 0 || dv.byteOffset !== 0) throw new RangeError(`TrafficGenerator.${what}: base ${base} must be a multiple of 4 in a DataView over a whole buffer`);
    if (dv.buffer.byteLength === 0) throw new RangeError(`TrafficGenerator.${what}: the buffer is detached (the engine's memory grew: take engine.mem.dv again)`);
    if (base + n * abi.PKT_SIZE > dv.buffer.byteLength) throw new RangeError(`TrafficGenerator.${what}: ${n} descriptors at ${base} overrun the buffer`);
  }

  /** Room for `n` descriptors in the core's memory. */
  private scratchFor(n: number): number {
    if (n > this.scratchCap) {
      if (this.scratch) this.core.free(this.scratch);
      this.scratch = this.core.alloc(n * abi.PKT_SIZE);
      this.scratchCap = n;
      this.mem.refresh();
    }
    return this.scratch;
  }

  stats(): TrafficStats {
    const st = (k: number) => this.core.gen_stat(this.g, k);
    const rec = <K extends string>(keys: readonly K[], first: number) => Object.fromEntries(keys.map((k, i) => [k, st(first + i)])) as Record<K, number>;
    const byKind = rec(FLOW_KINDS, abi.GS_FLOW_KIND);
    return {
      packets: st(abi.GS_PACKETS),
      packetsByKind: rec(FLOW_KINDS, abi.GS_PKT_KIND),
      packetsByDirection: rec(DIRECTIONS, abi.GS_PKT_DIR),
      flows: {
        started: byKind.tcp + byKind.udp + byKind.icmp,
        byKind, byDirection: rec(DIRECTIONS, abi.GS_FLOW_DIR),
        completed: st(abi.GS_COMPLETED), aborted: st(abi.GS_ABORTED), answeredByNode: st(abi.GS_BY_NODE), active: st(abi.GS_ACTIVE),
      },
      translated: st(abi.GS_TRANSLATED), fedBack: st(abi.GS_FED), dropped: st(abi.GS_DROPPED), shortFills: st(abi.GS_SHORT_FILLS),
    };
  }

  /** Flows started per target rank, by direction (for popularity checks): a copy of the core's counters. */
  get targetCounts(): Float64Array[] {
    this.mem.refresh();
    return this.targets.map(({ ptr, n }) => this.mem.f64.slice(ptr >>> 3, (ptr >>> 3) + n));
  }

  /** Device name of a slot (for dumps). */
  deviceName(slot: number): string { return this.names[slot] ?? `#${slot}`; }

  /** The descriptor at `off` in the replay input format (JSONL dumps, inspection). */
  toPacketInput(dv: DataView, off: number): PacketInput {
    return descriptorToPacketInput(dv, off, (s) => this.deviceName(s));
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

/** Options of createGenerator. */
export interface GeneratorOptions {
  /** The node view (default: the spec's `view`, else read from the engine's node and ruleset). */
  view?: NodeView;
}

/** A generator for the node loaded in `engine` (its view read from the snapshot and the loaded ruleset, unless the spec gives one). */
export function createGenerator(spec: TrafficSpec, engine: Engine, opts: GeneratorOptions = {}): TrafficGenerator {
  const view = opts.view ?? spec.view ?? nodeViewFromSnapshot(engine.node.snapshot, engine.ruleset?.ruleset ?? { tables: [] });
  return new TrafficGenerator(spec, view, engine);
}
