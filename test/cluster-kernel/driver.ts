/**
 * Several EKS nodes in the kernel at once, each next to its emulator, and a
 * VPC between them.
 *
 * Every node is a KernelNode (its own node and world namespaces). The VPC is
 * modelled here, in the test, from the kernel's captures: a frame that node
 * A's kernel sends out of ENI ethN is checked against the VPC's
 * source/destination check (its source must be an address of that ENI: the
 * ENI's own IP or a pod IP assigned to it) and delivered, byte for byte as
 * captured (addresses, ports, TTL, TCP sequence numbers, length), to the ENI
 * of the node that owns its destination, which is injected into that node
 * next (kernel and emulator). Frames to addresses outside the VPC reach an
 * outside host, whose answer comes back to the ENI that owns the address it
 * answers to. A frame leaving on a pod's veth has reached the pod. So a
 * connection from a pod on A to a pod on B goes A -> wire -> B -> pod, and the
 * pod's answer B -> wire -> A -> pod, each hop compared on its node.
 *
 * Per node, per group of packets (as test/netfilter/diff/runner.ts does):
 * the frames that leave the node (after NAT: addresses, ports, TTL, TCP
 * flags, the node's own answers) for every packet, the SNMP counter deltas,
 * every iptables rule's packet and byte counters, and at the end of each
 * scenario the connection tables (conntrack -L). A first packet addressed
 * to a service (it may meet kube-proxy's `-m statistic --mode random`
 * rules) is sent alone: the statistic rules whose kernel counters moved
 * become the emulator's choice for that packet.
 */
import type { InjectPacket, KernelNode, Observation, Seen } from "../kernel/netns.js";
import { run } from "../kernel/netns.js";
import { COMPARED_COUNTERS, REASON_ERRNO } from "../kernel/compare.js";
import { tcpOptionsLen } from "../kernel/frames.js";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import type { PacketInput } from "../../host/packet/input.js";
import { attribute, engineKeys, kernelKey } from "../netfilter/diff/attribute.js";
import { delta, diffConntrack, diffCounters, engineCounters, parseConntrack, parseSaveCounters, statisticRandomRules, type Counters, type CtLine } from "../netfilter/diff/kio.js";
import { EMPTY_RULESET, describe as describePkt, toEngineInput, withAllTables } from "../netfilter/diff/runner.js";
import { inCidr } from "./cluster.js";

export type Pkt = Omit<InjectPacket, "id">;

/** One packet to send on one node. */
export interface Step { node: string; pkt: Pkt; fresh?: boolean }

/** What the kernel did with it. */
export interface Outcome {
  node: string;
  pkt: InjectPacket;
  obs: Observation;
  /** The packet itself as it left the node (after NAT). */
  self?: Seen;
  /** The node's answers (ICMP errors, echo replies, resets). */
  answers: Seen[];
}

export type Flow = Generator<Step, void, Outcome>;

export interface Disagreement { scenario: string; node: string; what: string; kernel: string; emulator: string }

export interface ScenarioResult {
  name: string;
  packets: number;
  perNode: Record<string, number>;
  isolated: number;
  oracleHits: number;
  /** Frames carried over the VPC from one node to another. */
  wire: number;
  /** Property checks made on the kernel's behaviour (endpoint choice, NAT consistency, expected paths). */
  checks: number;
  disagreements: Disagreement[];
  /** Property violations (kernel behaviour the scenario expected otherwise). */
  violations: string[];
  vpcDrops: string[];
  /** Connections whose source port both sides chose at random (compared by property, then mapped). */
  randomPorts: number;
  ms: number;
}

/** Where an address lives in the VPC: a node's ENI (its own IP, or a pod IP assigned to it). */
export interface Owner { node: string; eni: string; pod?: { ip: string; veth: string } }

export interface NodeDef {
  id: string;
  kernel: KernelNode;
  /** Frontends (ip:port/proto) whose first packets may meet random statistic rules. */
  frontends: Set<string>;
}

const ERRNO: Record<string, string> = { ...REASON_ERRNO, NETFILTER: "EPERM", NF_REROUTE: "EHOSTUNREACH" };

class NodeRun {
  engine!: Engine;
  stat!: Map<number, string>;
  kc!: Counters;
  ec!: Counters;
  nstat?: Record<string, number>;
  clock: { t0?: number } = {};
  nextId = 1;
  /**
   * Source ports SNAT/MASQUERADE chose at random (--random-fully): "proto/ip:kernelPort" -> the
   * emulator's port for the same connection, and back. Answers to the kernel's port are given to
   * the emulator with its own port, and the emulator's port is shown as the kernel's in the keys.
   */
  toEngine = new Map<string, number>();
  toKernel = new Map<string, number>();
  constructor(readonly def: NodeDef, readonly files: Record<string, string>, readonly hz: number) {}

  ns(args: string[], input?: string) {
    return run("ip", ["netns", "exec", this.def.kernel.nodeNs, ...args], { input });
  }
  async restore(text: string): Promise<void> {
    const r = await this.ns(["iptables-legacy-restore"], text);
    if (r.code !== 0) throw new Error(`iptables-legacy-restore on node ${this.def.id} failed: ${r.stderr.trim()}`);
  }
  async kernelCounters(): Promise<Counters> {
    const r = await this.ns(["iptables-legacy-save", "-c"]);
    if (r.code !== 0) throw new Error(`iptables-legacy-save: ${r.stderr}`);
    return parseSaveCounters(r.stdout);
  }
  id(): number {
    const v = this.nextId;
    this.nextId = this.nextId >= 65535 ? 1 : this.nextId + 1;
    return v;
  }
  /** Kernel: empty tables, conntrack settings, flush, the rendered ruleset (must load), flush. Emulator: a fresh engine with the same. */
  async prepare(ruleset: string, sysctl: Record<string, string>, seed: number): Promise<void> {
    await this.restore(EMPTY_RULESET);
    const r = await this.ns(["sysctl", "-q", "-w", ...Object.entries(sysctl).map(([k, v]) => `${k}=${v}`)]);
    if (r.code !== 0) throw new Error(`sysctl: ${r.stderr}`);
    await this.ns(["conntrack", "-F"]);
    await this.restore(ruleset);
    await this.ns(["conntrack", "-F"]);
    const snap = parseSnapshotFiles(this.files, `kernel node ${this.def.id}`);
    for (const [k, v] of Object.entries(sysctl)) snap.sysctl.set(k, v);
    snap.iptablesSave = ruleset;
    this.engine = await Engine.create({ seed, hz: this.hz, senderSockets: "closed" /* the agent sends and closes */ });
    this.engine.load(snap, { hz: this.hz });
    this.stat = statisticRandomRules(this.engine);
    this.engine.setStatisticOracle([]);
    this.kc = await this.kernelCounters();
    this.ec = engineCounters(this.engine);
    this.nstat = undefined;
    this.clock = {};
    this.toEngine.clear();
    this.toKernel.clear();
  }
}

export class ClusterDriver {
  private runs = new Map<string, NodeRun>();
  private owners = new Map<string, Owner>();
  private veths = new Map<string, Map<string, string>>();

  private constructor(readonly vpcCidrs: string[]) {}

  /** `owners`: every VPC address of the cluster's nodes and pods. */
  static async create(defs: NodeDef[], owners: Array<Owner & { ip: string }>, vpcCidrs: string[]): Promise<ClusterDriver> {
    const d = new ClusterDriver(vpcCidrs);
    for (const def of defs) {
      const files = await def.kernel.dumpSnapshot();
      for (const k of Object.keys(files)) if (k.startsWith("iptables")) delete files[k];
      const hz = Number(/CONFIG_HZ=(\d+)/.exec(files["meta.txt"] ?? "")?.[1] ?? 250);
      d.runs.set(def.id, new NodeRun(def, files, hz));
      d.veths.set(def.id, new Map());
    }
    for (const o of owners) {
      if (d.owners.has(o.ip)) throw new Error(`VPC: ${o.ip} owned twice`);
      d.owners.set(o.ip, o);
      if (o.pod) d.veths.get(o.node)!.set(o.pod.veth, o.pod.ip);
    }
    return d;
  }

  owner(ip: string): Owner | undefined { return this.owners.get(ip); }
  inVpc(ip: string): boolean { return this.vpcCidrs.some((c) => inCidr(ip, c)); }
  /** The pod IP behind a host veth of a node, if `ifname` is one. */
  podBehind(node: string, ifname: string): string | undefined { return this.veths.get(node)?.get(ifname); }

  async run(sc: { name: string; rulesets: Record<string, string>; flows: (ctx: FlowCtx) => Flow[]; maxRounds?: number }, seed: number): Promise<ScenarioResult> {
    const t0 = Date.now();
    const res: ScenarioResult = { name: sc.name, packets: 0, perNode: {}, isolated: 0, oracleHits: 0, wire: 0, checks: 0, disagreements: [], violations: [], vpcDrops: [], randomPorts: 0, ms: 0 };
    const sysctl = { "net.netfilter.nf_conntrack_tcp_loose": "1", "net.netfilter.nf_conntrack_tcp_be_liberal": "0" };
    for (const [id, nr] of this.runs) {
      const text = sc.rulesets[id];
      if (text === undefined) throw new Error(`scenario ${sc.name}: no ruleset for node ${id}`);
      await nr.prepare(withAllTables(text), sysctl, seed);
      res.perNode[id] = 0;
    }
    const ctx = new FlowCtx(this, res);
    const dis = (node: string, what: string, kernel: string, emulator: string) => res.disagreements.push({ scenario: sc.name, node, what, kernel, emulator });
    let live: { flow: Flow; step: Step }[] = [];
    for (const flow of sc.flows(ctx)) {
      const it = flow.next(undefined as unknown as Outcome);
      if (!it.done) live.push({ flow, step: it.value });
    }
    const maxRounds = sc.maxRounds ?? 80;
    for (let round = 0; live.length > 0 && round < maxRounds; round++) {
      const outcomes = new Map<Flow, Outcome>();
      for (const [id, nr] of this.runs) {
        const mine = live.filter((l) => l.step.node === id);
        if (!mine.length) continue;
        const isolate = (s: Step) => s.fresh === true && nr.def.frontends.has(`${s.pkt.dst}:${s.pkt.dport ?? ""}/${s.pkt.proto}`);
        const groups: { items: typeof live; oracle: boolean }[] = [];
        const batch = mine.filter((l) => !isolate(l.step));
        if (batch.length) groups.push({ items: batch, oracle: false });
        for (const a of mine.filter((l) => isolate(l.step))) groups.push({ items: [a], oracle: true });
        for (const g of groups) await this.group(nr, g.items, g.oracle, outcomes, res, (w, k, e) => dis(id, w, k, e), round);
      }
      const next: typeof live = [];
      for (const l of live) {
        const it = l.flow.next(outcomes.get(l.flow)!);
        if (!it.done) next.push({ flow: l.flow, step: it.value });
      }
      live = next;
    }
    if (live.length) res.violations.push(`${live.length} flows still running after ${maxRounds} rounds`);
    for (const [id, nr] of this.runs) {
      const kct = await nr.ns(["conntrack", "-L"]);
      const kl = parseConntrack(kct.stdout);
      const el = parseConntrack(nr.engine.conntrackList());
      // a reply tuple's destination port is the random SNAT port on each side: masked where it was mapped
      const mask = nr.toEngine.size ? maskReplyPort : undefined;
      for (const d of diffConntrack(kl, el, 3, mask)) dis(id, "conntrack -L", d, "");
    }
    res.ms = Date.now() - t0;
    return res;
  }

  private async group(nr: NodeRun, items: { flow: Flow; step: Step }[], oracle: boolean, outcomes: Map<Flow, Outcome>, res: ScenarioResult,
    dis: (what: string, kernel: string, emulator: string) => void, round: number): Promise<void> {
    const kernel = nr.def.kernel;
    const e = nr.engine;
    const packets: InjectPacket[] = items.map((l) => ({ ...l.step.pkt, id: nr.id() }) as InjectPacket);
    const n0 = nr.nstat ?? await kernel.nstat();
    const kr = await kernel.inject(packets, { quietMs: oracle ? 40 : 60, gapUs: 100 });
    const n1 = await kernel.nstat();
    nr.nstat = n1;
    const kc1 = await nr.kernelCounters();
    const kd = delta(kc1, nr.kc);
    nr.kc = kc1;
    const obs = kr.observations;
    const frames = [...obs.flatMap((o) => o.out), ...kr.unmatched];
    const att = attribute(packets, obs, frames);
    const inputs: (PacketInput | undefined)[] = packets.map((p, k) => {
      const o = obs[k];
      if (p.iif !== "local" && o.error) return undefined;
      if (nr.clock.t0 === undefined && o.sentNs !== undefined) nr.clock.t0 = o.sentNs;
      const q = toEngineInput(p, o, nr.clock.t0 ?? 0, att.per[k]);
      const mapped = q.dport !== undefined ? nr.toEngine.get(`${q.proto}/${q.dst}:${q.dport}`) : undefined;
      if (mapped !== undefined) q.dport = mapped;
      return q;
    });
    if (oracle) {
      const ids = [...nr.stat].filter(([, key]) => (kd.get(key)?.[0] ?? 0n) > 0n).map(([id]) => id);
      e.setStatisticOracle(ids);
      if (ids.length) res.oracleHits++;
    }
    const c0 = e.counters();
    const results = e.process(inputs.filter((q): q is PacketInput => q !== undefined));
    const c1 = e.counters();
    if (oracle) e.setStatisticOracle([]);
    const ec1 = engineCounters(e);
    const ed = delta(ec1, nr.ec);
    nr.ec = ec1;
    let ri = 0;
    packets.forEach((p, k) => {
      const q = inputs[k];
      const o = obs[k];
      const l = items[k];
      const mine = att.per[k];
      outcomes.set(l.flow, { node: nr.def.id, pkt: p, obs: o, self: mine.find((a) => a.role === "self")?.frame, answers: mine.filter((a) => a.role === "answer").map((a) => a.frame) });
      if (!q) {
        dis(`${describePkt(p)}: the harness could not send it`, o.error ?? "?", "-");
        return;
      }
      res.packets++;
      res.perNode[nr.def.id]++;
      if (oracle) res.isolated++;
      let r = results[ri++];
      const self = mine.find((a) => a.role === "self")?.frame;
      if (p.iif !== "local" && (p.proto === "tcp" || p.proto === "udp") && r.verdict === "forward" && self && r.sport !== undefined) {
        const kKey = `${p.proto}/${self.src}:${self.sport}`;
        const eKey = `${p.proto}/${r.src}:${r.sport}`;
        if (l.step.fresh === true && self.sport !== p.sport && r.sport !== p.sport && self.sport !== r.sport && !nr.toEngine.has(kKey) && !nr.toKernel.has(eKey) && self.src === r.src) {
          // the first packet of a connection, and both picked a new (different) source port: compared by property
          // (a port of the range), then mapped
          res.randomPorts++;
          const inRange = (x: number) => x >= 1024 && x <= 65535;
          if (!inRange(self.sport!) || !inRange(r.sport)) dis(`${describePkt(p)}: random source port out of 1024-65535`, String(self.sport), String(r.sport));
          nr.toEngine.set(kKey, r.sport);
          nr.toKernel.set(eKey, self.sport!);
        }
        const back = nr.toKernel.get(eKey);
        if (back !== undefined) r = { ...r, sport: back };
      }
      const why = () => ` [${r.verdict}${r.reason ? " " + r.reason : ""}${r.ct ? " ct=" + r.ct : ""}] rules: ${(r.rules ?? []).join(" ; ") || "-"}`;
      if (p.iif === "local" && p.proto !== "tcp" && (o.error || r.verdict === "drop")) {
        const want = o.error ?? "sent";
        const got = r.verdict === "drop" ? (ERRNO[r.reason!] ?? r.reason!) : "sent";
        if (want !== got) dis(`${describePkt(p)}: local send`, want, got + why());
      }
      const kk = mine.map((a) => kernelKey(a, p, {}, o.bound?.sport)).sort();
      const ek = engineKeys(r, p, p.iif === "local" ? o.bound?.sport : p.sport, {});
      if (kk.join("\n") !== ek.join("\n")) dis(`${describePkt(p)}: frames leaving the node`, kk.join(" | ") || "(nothing)", (ek.join(" | ") || "(nothing)") + why());
    });
    if (att.unmatched.length) {
      dis("frames the kernel sent that no packet explains", att.unmatched.map((f) => `${f.ifname} p=${f.proto} ${f.src}:${f.sport ?? ""}>${f.dst}:${f.dport ?? ""} id=${f.ipid}${f.icmp ? ` icmp ${f.icmp.type}/${f.icmp.code}` : ""}${f.tcpFlags ? " " + f.tcpFlags : ""}`).join(" | "), "(none)");
    }
    const where = oracle ? `packet ${describePkt(packets[0])}` : `batch of ${packets.length} (round ${round})`;
    for (const name of COMPARED_COUNTERS) {
      const dk = (n1[name] ?? 0) - (n0[name] ?? 0);
      const de = (c1[name] ?? 0) - (c0[name] ?? 0);
      if (dk !== de) dis(`counter ${name} over the ${where}`, String(dk), String(de));
    }
    for (const d of diffCounters(kd, ed)) {
      const key = d.split(" ")[0];
      const rest = d.slice(d.indexOf(" ") + 1);
      dis(`rule counter ${key} over the ${where}`, rest.replace(/ emulator .*/, "").replace(/^kernel /, ""), rest.replace(/.* emulator /, ""));
    }
  }
}

/** Masks the reply tuple's destination port when it differs from the original source port (a random SNAT port). */
function maskReplyPort(l: CtLine): string {
  const [a, b] = l.key.split(" | ");
  if (b === undefined) return l.key;
  const sport = /sport=(\d+)/.exec(a)?.[1];
  return `${a} | ${b.replace(/dport=(\d+)/, (m, x) => (x === sport ? m : "dport=R"))}`;
}

// ---------------------------------------------------------------------------
// flows over the VPC

/** One node a packet crossed: where it came in and went out. */
export interface Hop { node: string; iif: string; oif: string }

/** Where a packet ended up. */
export type Arrival =
  | { kind: "pod"; node: string; veth: string; podIp: string; frame: Seen; path: Hop[] }
  /** A host that is not one of the nodes: outside the VPC, or an address of the VPC no node owns. */
  | { kind: "outside"; node: string; eni: string; frame: Seen; path: Hop[] }
  | { kind: "stopped"; node: string; outcome: Outcome }
  | { kind: "vpc-drop"; node: string; frame: Seen; why: string };

/** The packet a frame becomes when the VPC delivers it to ENI `iif` (or when it is re-sent as captured). */
export function packetOf(s: Seen, iif: string): Pkt {
  const p: Pkt = { iif, src: s.src, dst: s.dst, proto: s.proto === 6 ? "tcp" : s.proto === 17 ? "udp" : s.proto === 1 ? "icmp" : s.proto, ttl: s.ttl, tos: s.tos, df: s.df };
  if (s.sport !== undefined) p.sport = s.sport;
  if (s.dport !== undefined) p.dport = s.dport;
  if (s.proto === 6) {
    p.flags = s.tcpFlags ?? "";
    p.seq = s.seq;
    p.ack = s.ack;
    if (s.win !== undefined) p.win = s.win;
    p.len = s.len;
    if ((s.tcpFlags ?? "").includes("S") && (s.wscale !== undefined || s.sackok)) {
      // a SYN from a local socket carries MSS, SACK-permitted, window scale and timestamps: the harness
      // writes the first three (timestamps it cannot), so the delivered SYN is shorter than the captured one
      p.mss = 1460;
      if (s.wscale !== undefined) p.wscale = s.wscale;
      if (s.sackok) p.sackok = true;
      p.len = 40 + tcpOptionsLen(p);
    }
  } else {
    p.len = s.len;
  }
  if (s.icmp) {
    p.icmpType = s.icmp.type;
    p.icmpCode = s.icmp.code;
    p.icmpId = s.icmp.rest >>> 16;
    p.icmpSeq = s.icmp.rest & 0xffff;
  }
  return p;
}

export class FlowCtx {
  constructor(readonly d: ClusterDriver, readonly res: ScenarioResult) {}

  /** A property of the kernel's behaviour the scenario expects. */
  check(ok: boolean, what: string): boolean {
    this.res.checks++;
    if (!ok) this.res.violations.push(what);
    return ok;
  }

  /** Sends `pkt` on `node` and follows it through the VPC until it reaches a pod, an outside host, or stops. */
  *travel(node: string, pkt: Pkt, fresh = false): Generator<Step, Arrival, Outcome> {
    const path: Hop[] = [];
    for (let hop = 0; ; hop++) {
      if (hop > 4) throw new Error(`packet ${JSON.stringify(pkt)} loops through the VPC`);
      const o: Outcome = yield { node, pkt, fresh };
      if (!o.self) return { kind: "stopped", node, outcome: o };
      const s = o.self;
      path.push({ node, iif: pkt.iif, oif: s.ifname });
      const podIp = this.d.podBehind(node, s.ifname);
      if (podIp !== undefined) return { kind: "pod", node, veth: s.ifname, podIp, frame: s, path };
      // out of an ENI: the VPC's source/destination check
      const src = this.d.owner(s.src);
      if (!src || src.node !== node || src.eni !== s.ifname) {
        const why = `node ${node} sent ${s.src} > ${s.dst} out of ${s.ifname}, but ${s.src} is ${src ? `an address of node ${src.node} ${src.eni}` : "no address of the VPC"}: the VPC drops it (source/destination check)`;
        this.res.vpcDrops.push(why);
        return { kind: "vpc-drop", node, frame: s, why };
      }
      if (!this.d.inVpc(s.dst)) return { kind: "outside", node, eni: s.ifname, frame: s, path };
      const dst = this.d.owner(s.dst);
      // an address of the VPC that is none of the nodes' (e.g. the EKS control plane's ENIs): a host that answers
      if (!dst) return { kind: "outside", node, eni: s.ifname, frame: s, path };
      this.res.wire++;
      node = dst.node;
      pkt = packetOf(s, dst.eni);
    }
  }

  /** Where the answer to an arrival's frame starts: the pod's veth, or (from outside) the ENI owning the address it goes to. */
  answerStart(a: Arrival): { node: string; iif: string } | undefined {
    if (a.kind === "pod") return { node: a.node, iif: a.veth };
    if (a.kind === "outside") {
      const o = this.d.owner(a.frame.src);
      if (!o) {
        this.res.vpcDrops.push(`an outside host's answer to ${a.frame.src}: no ENI owns it`);
        return undefined;
      }
      return { node: o.node, iif: o.eni };
    }
    return undefined;
  }
}

/** A client: a pod behind its veth on a node, a host outside arriving on an ENI of a node, or the node itself. */
export interface Client { node: string; iif: string; ip?: string }

export interface ConnExpect {
  /** The server side must be one of these (ip:port as the server sees it); for a service, its endpoints. */
  server?: string[];
  /** Where the first packet must arrive: pod (a veth) or outside; "stopped" = the node must not forward it. */
  arrives?: "pod" | "outside" | "stopped";
  /** The source address the server sees (after SNAT / masquerade, or the client's own). */
  serverSeesSrc?: string;
  /** ...or one of these. */
  serverSeesSrcIn?: string[];
  /** The node id the first packet must reach its server on. */
  serverNode?: string;
  /** The ENI the first packet must leave its first node by (path through the per-ENI table). */
  leavesBy?: string;
  /** The ENI the server's answer must come back on to the client's node (over the VPC). */
  returnsOn?: string;
  /** The interface the server's answer must leave its last node by, towards the client. */
  answerLeavesBy?: string;
}

function u32(x: number): number { return x >>> 0; }

/**
 * A TCP connection between a client and whatever the VPC and the nodes make
 * of dst:dport: handshake, data both ways, FIN from the client, with every
 * packet of both directions carried hop by hop. Checks (kernel side):
 * expectations in `x`, the server side the same for every client packet
 * (NAT consistent across the connection), and the client seeing every
 * answer come from dst:dport.
 */
export function* tcpConn(ctx: FlowCtx, label: string, c: Client, dst: string, dport: number, sport: number, isn: [number, number], x: ConnExpect = {}): Flow {
  let cs = isn[0];
  let ss = isn[1];
  const cpkt = (flags: string, seq: number, ack: number, payload = 0): Pkt =>
    ({ iif: c.iif, src: c.ip, dst, proto: "tcp", sport, dport, flags, seq: u32(seq), ack: flags.includes("A") ? u32(ack) : 0, len: 40 + payload });
  const syn = yield* ctx.travel(c.node, cpkt("S", cs, 0), true);
  if (!checkFirst(ctx, label, syn, x)) return;
  if (syn.kind !== "pod" && syn.kind !== "outside") return;
  const f = syn.frame;
  const server = `${syn.node}:${f.dst}:${f.dport}<${f.src}:${f.sport}`;
  const start = ctx.answerStart(syn);
  if (!start) return;
  const spkt = (flags: string, seq: number, ack: number, payload = 0): Pkt =>
    ({ iif: start.iif, src: f.dst, dst: f.src, proto: "tcp", sport: f.dport, dport: f.sport, flags, seq: u32(seq), ack: flags.includes("A") ? u32(ack) : 0, len: 40 + payload });
  const toClient = function* (p: Pkt, first = false): Generator<Step, boolean, Outcome> {
    const a = yield* ctx.travel(start.node, p);
    return checkBack(ctx, label, a, c, dst, dport, sport, first ? x : {});
  };
  const toServer = function* (p: Pkt): Generator<Step, boolean, Outcome> {
    const a = yield* ctx.travel(c.node, p);
    const ok = a.kind === "pod" || a.kind === "outside";
    const got = ok ? `${a.node}:${(a as { frame: Seen }).frame.dst}:${(a as { frame: Seen }).frame.dport}<${(a as { frame: Seen }).frame.src}:${(a as { frame: Seen }).frame.sport}` : a.kind;
    return ctx.check(got === server, `${label}: a later client packet reached ${got}, the SYN reached ${server} (NAT not consistent across the connection)`);
  };
  if (!(yield* toClient(spkt("SA", ss, cs + 1), true))) return;
  cs += 1;
  ss += 1;
  if (!(yield* toServer(cpkt("A", cs, ss)))) return;
  if (!(yield* toServer(cpkt("PA", cs, ss, 60)))) return;
  cs += 60;
  if (!(yield* toClient(spkt("PA", ss, cs, 120)))) return;
  ss += 120;
  if (!(yield* toServer(cpkt("FA", cs, ss)))) return;
  cs += 1;
  if (!(yield* toClient(spkt("FA", ss, cs)))) return;
  ss += 1;
  yield* toServer(cpkt("A", cs, ss));
}

/** UDP request / response, twice, every datagram carried hop by hop. */
export function* udpConn(ctx: FlowCtx, label: string, c: Client, dst: string, dport: number, sport: number, x: ConnExpect = {}): Flow {
  const req = (): Pkt => ({ iif: c.iif, src: c.ip, dst, proto: "udp", sport, dport, len: 48 });
  const first = yield* ctx.travel(c.node, req(), true);
  if (!checkFirst(ctx, label, first, x)) return;
  if (first.kind !== "pod" && first.kind !== "outside") return;
  const f = first.frame;
  const start = ctx.answerStart(first);
  if (!start) return;
  const resp = (): Pkt => ({ iif: start.iif, src: f.dst, dst: f.src, proto: "udp", sport: f.dport, dport: f.sport, len: 68 });
  if (!checkBack(ctx, label, yield* ctx.travel(start.node, resp()), c, dst, dport, sport, x)) return;
  const again = yield* ctx.travel(c.node, req());
  const same = (again.kind === "pod" || again.kind === "outside") && again.frame.dst === f.dst && again.frame.dport === f.dport && again.frame.src === f.src && again.frame.sport === f.sport;
  if (!ctx.check(same, `${label}: the second datagram did not reach the server the first one did`)) return;
  checkBack(ctx, label, yield* ctx.travel(start.node, resp()), c, dst, dport, sport, {});
}

/** ICMP echo request / reply, twice. */
export function* echoConn(ctx: FlowCtx, label: string, c: Client, dst: string, id: number, x: ConnExpect = {}): Flow {
  const req = (seq: number): Pkt => ({ iif: c.iif, src: c.ip, dst, proto: "icmp", icmpType: 8, icmpId: id, icmpSeq: seq, len: 44 });
  for (let seq = 1; seq <= 2; seq++) {
    const a = yield* ctx.travel(c.node, req(seq), seq === 1);
    if (seq === 1 && !checkFirst(ctx, label, a, x)) return;
    if (a.kind !== "pod" && a.kind !== "outside") return;
    const start = ctx.answerStart(a);
    if (!start) return;
    const rest = a.frame.icmp?.rest ?? 0;
    const b = yield* ctx.travel(start.node, { iif: start.iif, src: a.frame.dst, dst: a.frame.src, proto: "icmp", icmpType: 0, icmpId: rest >>> 16, icmpSeq: rest & 0xffff, len: 44 });
    const ok = (c.iif === "local" ? b.kind === "stopped" : b.kind === "pod" || b.kind === "outside");
    if (!ctx.check(ok && (b.kind === "stopped" || (b as { frame: Seen }).frame.src === dst), `${label}: echo reply ${seq} ended ${b.kind}${b.kind !== "stopped" && b.kind !== "vpc-drop" ? " from " + b.frame.src : ""}`)) return;
  }
}

/**
 * A node-local socket to dst:dport (TCP connect or a UDP datagram); the
 * server answers (SYN-ACK or a datagram) and the answer comes back to the
 * node, where the socket has closed: the node resets or says port
 * unreachable. The node's own answer is compared like every other frame.
 */
export function* localConn(ctx: FlowCtx, label: string, node: string, proto: "tcp" | "udp", dst: string, dport: number, isnS: number, x: ConnExpect = {}): Flow {
  const first = yield* ctx.travel(node, { iif: "local", dst, proto, dport, ...(proto === "udp" ? { len: 40 } : {}) }, true);
  if (!checkFirst(ctx, label, first, x)) return;
  if (first.kind !== "pod" && first.kind !== "outside") return;
  const f = first.frame;
  const start = ctx.answerStart(first);
  if (!start) return;
  const p: Pkt = proto === "tcp"
    ? { iif: start.iif, src: f.dst, dst: f.src, proto, sport: f.dport, dport: f.sport, flags: "SA", seq: isnS, ack: u32((f.seq ?? 0) + 1) }
    : { iif: start.iif, src: f.dst, dst: f.src, proto, sport: f.dport, dport: f.sport, len: 40 };
  const back = yield* ctx.travel(start.node, p);
  // the answer is for the node itself: delivered (no frame of its own leaves), the node answers
  ctx.check(back.kind === "stopped" && back.node === node, `${label}: the answer to the node's socket ended ${back.kind} on ${back.node}`);
  if (back.kind === "stopped" && x.returnsOn !== undefined) {
    ctx.check(back.outcome.pkt.iif === x.returnsOn, `${label}: the answer came back on ${back.outcome.pkt.iif}, expected ${x.returnsOn}`);
  }
}

function checkFirst(ctx: FlowCtx, label: string, a: Arrival, x: ConnExpect): boolean {
  if (x.arrives !== undefined) {
    if (!ctx.check(a.kind === x.arrives, `${label}: first packet ended ${a.kind}${a.kind === "vpc-drop" ? ` (${a.why})` : ""}, expected ${x.arrives}`)) return false;
  } else if (!ctx.check(a.kind === "pod" || a.kind === "outside", `${label}: first packet ended ${a.kind}${a.kind === "vpc-drop" ? ` (${a.why})` : ""}`)) return false;
  if (a.kind !== "pod" && a.kind !== "outside") return true;
  const f = a.frame;
  if (x.server) ctx.check(x.server.includes(`${f.dst}:${f.dport}`), `${label}: the server is ${f.dst}:${f.dport}, not one of ${x.server.join(", ")}`);
  if (x.serverNode) ctx.check(a.node === x.serverNode, `${label}: reached its server on node ${a.node}, expected ${x.serverNode}`);
  if (x.serverSeesSrcIn !== undefined) ctx.check(x.serverSeesSrcIn.includes(f.src), `${label}: the server sees source ${f.src}, expected one of ${x.serverSeesSrcIn.join(", ")}`);
  if (x.leavesBy !== undefined) ctx.check(a.path[0].oif === x.leavesBy, `${label}: left node ${a.path[0].node} by ${a.path[0].oif}, expected ${x.leavesBy}`);
  if (x.serverSeesSrc !== undefined) ctx.check(f.src === x.serverSeesSrc, `${label}: the server sees source ${f.src}, expected ${x.serverSeesSrc}`);
  return true;
}

/** An answer must reach the client, from the address and port the client addressed. */
function checkBack(ctx: FlowCtx, label: string, a: Arrival, c: Client, dst: string, dport: number, sport: number, x: ConnExpect): boolean {
  if (c.iif === "local") return ctx.check(a.kind === "stopped" && a.node === c.node, `${label}: answer ended ${a.kind}`);
  const wantKind = ctx.d.podBehind(c.node, c.iif) !== undefined ? "pod" : "outside";
  if (!ctx.check(a.kind === wantKind && a.node === c.node, `${label}: the answer ended ${a.kind} on node ${a.node}${a.kind === "vpc-drop" ? ` (${a.why})` : ""}, expected ${wantKind} on ${c.node}`)) return false;
  const f = (a as { frame: Seen }).frame;
  if (x.returnsOn !== undefined && (a.kind === "pod" || a.kind === "outside")) {
    const last = a.path[a.path.length - 1];
    ctx.check(last.iif === x.returnsOn, `${label}: the answer came back to node ${last.node} on ${last.iif}, expected ${x.returnsOn}`);
  }
  if (x.answerLeavesBy !== undefined && (a.kind === "pod" || a.kind === "outside")) {
    const last = a.path[a.path.length - 1];
    ctx.check(last.oif === x.answerLeavesBy, `${label}: the answer left node ${last.node} by ${last.oif}, expected ${x.answerLeavesBy}`);
  }
  return ctx.check(f.src === dst && f.dst === c.ip && (f.proto === 1 || (f.sport === dport && f.dport === sport)),
    `${label}: the client got ${f.src}:${f.sport ?? ""} > ${f.dst}:${f.dport ?? ""}, expected ${dst}:${dport} > ${c.ip}:${sport}`);
}
