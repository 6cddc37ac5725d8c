/**
 * The kernel-differential runner of the netfilter suite: one kernel node (a
 * KernelNode whose rulesets are swapped with iptables-legacy-restore) and,
 * per scenario, a fresh engine loaded with the same snapshot and ruleset.
 *
 * Traffic is made of flows (generators, flows.ts) that answer what the
 * kernel did with their previous packet (a server answers the SYN where
 * the kernel forwarded it, after NAT). Each round sends the next packet of
 * every live flow: one batch for the kernel, the same packets in the same
 * order and at the same relative times for the engine. Compared per packet:
 * the frames that leave the node (ports, TTL, answers with their quoted
 * headers) and local send errors; per batch: SNMP counter deltas and every
 * rule's and policy's packet and byte counter deltas; per scenario: the
 * connection tables.
 *
 * Packets that may meet a `-m statistic --mode random` rule are sent alone:
 * the rules the kernel's counters show matched become the engine's oracle
 * for that packet (a random choice is compared as a set of valid outcomes).
 */
import type { InjectPacket, KernelNode, KernelNodeSpec, Observation, Seen } from "../../kernel/netns.js";
import { run } from "../../kernel/netns.js";
import { COMPARED_COUNTERS, REASON_ERRNO } from "../../kernel/compare.js";
import { defaultLen, protoNum, tcpOptionsLen, trailerLen } from "../../kernel/frames.js";
import { Engine } from "../../../host/engine.js";
import { parseSnapshotFiles } from "../../../host/snapshot/read.js";
import type { PacketInput } from "../../../host/packet/input.js";
import type { PacketResult } from "../../../host/packet/result.js";
import { attribute, engineKeys, kernelKey, type Attributed, type KeyOptions } from "./attribute.js";
import { delta, diffConntrack, diffCounters, engineCounters, parseConntrack, parseSaveCounters, statisticRandomRules, type Counters, type CtLine } from "./kio.js";

/** One packet a flow wants sent. */
export interface Step {
  pkt: Omit<InjectPacket, "id">;
  /** The packet may create a connection (and so walk the nat chains). */
  fresh?: boolean;
}

/** What the kernel did with a flow's packet. */
export interface Outcome {
  pkt: InjectPacket;
  obs: Observation;
  /** The packet itself as it left the node (forwarded or sent), after NAT. */
  self?: Seen;
  /** The node's answers (ICMP errors, echo replies, resets). */
  answers: Seen[];
}

/** A flow: yields steps, receives the outcome of each. */
export type Flow = Generator<Step, void, Outcome>;

export type StatisticPlacement = "none" | "nat" | "all";

export interface Scenario {
  name: string;
  /** iptables-save text with all four tables (raw, mangle, nat, filter). */
  ruleset: string;
  /** net.netfilter.* settings for both sides. */
  sysctl?: Record<string, string>;
  flows: Flow[];
  /** Where the ruleset has random statistic rules: "nat" (walked by first packets only) or anywhere. */
  statistic: StatisticPlacement;
  /**
   * Which fresh packets may meet a random statistic rule when `statistic` is
   * "nat" (default: every fresh packet).
   */
  isolate?: (pkt: Step["pkt"]) => boolean;
  /** SNAT/MASQUERADE may pick random source ports (--random, --random-fully): compared by property. */
  randomPorts?: boolean;
  maxRounds?: number;
  /**
   * A kube-proxy-style resync: before round `round`, the ruleset is replaced
   * on both sides (iptables-legacy-restore, Engine.loadRuleset) without
   * touching the connection table; flows carry on across it.
   */
  resync?: { round: number; ruleset: string };
}

export interface Disagreement { scenario: string; what: string; kernel: string; emulator: string }

export interface ScenarioResult {
  name: string;
  packets: number;
  isolated: number;
  rules: number;
  /** Flows stopped after a random SNAT port. */
  randomStopped: number;
  /** Packets sent alone whose kernel walk matched at least one random statistic rule (the oracle was not empty). */
  oracleHits: number;
  disagreements: Disagreement[];
  ms: number;
}

/** The four tables, empty, as iptables-legacy-restore input. */
export const EMPTY_RULESET = ["raw", "mangle", "nat", "filter"].map((t) => {
  const chains: Record<string, string[]> = {
    raw: ["PREROUTING", "OUTPUT"], mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
    nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"], filter: ["INPUT", "FORWARD", "OUTPUT"],
  };
  return [`*${t}`, ...chains[t].map((c) => `:${c} ACCEPT [0:0]`), "COMMIT"].join("\n");
}).join("\n") + "\n";

/** Adds the tables a ruleset text lacks (empty), so the kernel's tables are exactly the text's. */
export function withAllTables(text: string): string {
  const have = new Set([...text.matchAll(/^\*(\w+)/gm)].map((m) => m[1]));
  const missing = EMPTY_RULESET.split(/(?=^\*)/m).filter((blk) => !have.has(/^\*(\w+)/.exec(blk)![1]));
  return (text.endsWith("\n") ? text : text + "\n") + missing.join("");
}

/** NP_DIFF_ISOLATE=1: send every packet alone (per-packet counters; slow, for diagnosis). */
const ISOLATE_ALL = process.env.NP_DIFF_ISOLATE === "1";
/** NP_DIFF_DEBUG=1: print the engine's whole result for the packets of a batch that disagreed. */
const DEBUG = process.env.NP_DIFF_DEBUG === "1" || process.env.NP_DIFF_DEBUG === "2";
const ALL_DEBUG = process.env.NP_DIFF_DEBUG === "2";

const ERRNO: Record<string, string> = { ...REASON_ERRNO, NETFILTER: "EPERM", NF_REROUTE: "EHOSTUNREACH" };

export interface RunnerOptions {
  /** Quiet time after a batch (ms). */
  quietMs?: number;
  /** Quiet time after an isolated packet (ms). */
  isolatedQuietMs?: number;
}

export class DiffNode {
  private nextId = 1;
  readonly hz: number;
  constructor(readonly kernel: KernelNode, readonly spec: KernelNodeSpec, private readonly files: Record<string, string>, private readonly opts: RunnerOptions = {}) {
    this.hz = Number(/CONFIG_HZ=(\d+)/.exec(files["meta.txt"] ?? "")?.[1] ?? 250);
  }

  /** Dumps the node once (before any ruleset) for the engine's snapshots. */
  static async create(kernel: KernelNode, opts: RunnerOptions = {}): Promise<DiffNode> {
    const files = await kernel.dumpSnapshot();
    for (const k of Object.keys(files)) if (k.startsWith("iptables")) delete files[k];
    return new DiffNode(kernel, kernel.spec, files, opts);
  }

  private ns(args: string[], input?: string) {
    return run("ip", ["netns", "exec", this.kernel.nodeNs, ...args], { input });
  }

  private async restore(text: string): Promise<void> {
    const r = await this.ns(["iptables-legacy-restore"], text);
    if (r.code !== 0) throw new Error(`iptables-legacy-restore failed: ${r.stderr.trim()}\n--- ruleset ---\n${text}`);
  }

  async kernelCounters(): Promise<Counters> {
    const r = await this.ns(["iptables-legacy-save", "-c"]);
    if (r.code !== 0) throw new Error(`iptables-legacy-save: ${r.stderr}`);
    return parseSaveCounters(r.stdout);
  }

  private id(): number {
    const v = this.nextId;
    this.nextId = this.nextId >= 65535 ? 1 : this.nextId + 1;
    return v;
  }

  /** Engine for a ruleset, on the node's snapshot with the given netfilter sysctls. */
  async engine(ruleset: string, sysctl: Record<string, string>, seed: number): Promise<Engine> {
    const snap = parseSnapshotFiles(this.files, "kernel node");
    for (const [k, v] of Object.entries(sysctl)) snap.sysctl.set(k, v);
    snap.iptablesSave = ruleset;
    const e = await Engine.create({ seed, hz: this.hz, senderSockets: "closed" /* the agent sends and closes */ });
    e.load(snap, { hz: this.hz });
    return e;
  }

  /** Loads the scenario's ruleset and settings into the kernel with a clean connection table and recent lists. */
  async prepareKernel(ruleset: string, sysctl: Record<string, string>): Promise<void> {
    await this.restore(EMPTY_RULESET);
    const settings = { "net.netfilter.nf_conntrack_tcp_loose": "1", "net.netfilter.nf_conntrack_tcp_be_liberal": "0", ...sysctl };
    const r = await this.ns(["sysctl", "-q", "-w", ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
    if (r.code !== 0) throw new Error(`sysctl: ${r.stderr}`);
    await this.ns(["conntrack", "-F"]);
    await this.restore(ruleset);
    await this.ns(["conntrack", "-F"]);
  }

  async run(sc: Scenario, seed: number): Promise<ScenarioResult> {
    const t0ms = Date.now();
    const ruleset = withAllTables(sc.ruleset);
    const sysctl = { "net.netfilter.nf_conntrack_tcp_loose": "1", "net.netfilter.nf_conntrack_tcp_be_liberal": "0", ...(sc.sysctl ?? {}) };
    await this.prepareKernel(ruleset, sysctl);
    const e = await this.engine(ruleset, sysctl, seed);
    let stat = statisticRandomRules(e);
    e.setStatisticOracle([]);
    const res: ScenarioResult = { name: sc.name, packets: 0, isolated: 0, randomStopped: 0, oracleHits: 0, rules: e.ruleset?.compiled.entries.length ?? 0, disagreements: [], ms: 0 };
    const dis = (what: string, kernel: string, emulator: string) => res.disagreements.push({ scenario: sc.name, what, kernel, emulator });
    const keyOpts: KeyOptions = { maskRandomSport: sc.randomPorts };
    const clock: { t0?: number } = {};
    let kc = await this.kernelCounters();
    let nstat: Record<string, number> | undefined;
    let ec = engineCounters(e);
    // the flows still running, each with the step it wants next
    let live: { flow: Flow; step: Step }[] = [];
    for (const flow of sc.flows) {
      const it = flow.next(undefined as unknown as Outcome);
      if (!it.done) live.push({ flow, step: it.value });
    }
    const maxRounds = sc.maxRounds ?? 40;
    for (let round = 0; live.length > 0 && round < maxRounds; round++) {
      if (sc.resync && round === sc.resync.round) {
        const text = withAllTables(sc.resync.ruleset);
        await this.restore(text); // atomic replacement; conntrack entries stay
        e.loadRuleset(text);
        stat = statisticRandomRules(e);
        e.setStatisticOracle([]);
        kc = await this.kernelCounters();
        ec = engineCounters(e);
        res.rules = e.ruleset?.compiled.entries.length ?? res.rules;
      }
      const isolate = (s: Step) => ISOLATE_ALL || sc.statistic === "all" ||
        (sc.statistic === "nat" && s.fresh === true && (sc.isolate ? sc.isolate(s.pkt) : true));
      const batch = live.filter((l) => !isolate(l.step));
      const alone = live.filter((l) => isolate(l.step));
      const outcomes = new Map<Flow, Outcome>();
      const groups: { items: typeof live; oracle: boolean }[] = [];
      if (batch.length) groups.push({ items: batch, oracle: false });
      for (const a of alone) groups.push({ items: [a], oracle: true });
      for (const g of groups) {
        const packets: InjectPacket[] = g.items.map((l) => ({ ...l.step.pkt, id: this.id() }) as InjectPacket);
        const n0 = nstat ?? await this.kernel.nstat();
        const kr = await this.kernel.inject(packets, { quietMs: g.oracle ? (this.opts.isolatedQuietMs ?? 40) : (this.opts.quietMs ?? 60), gapUs: 100 });
        const n1 = await this.kernel.nstat();
        nstat = n1;
        const kc1 = await this.kernelCounters();
        const kd = delta(kc1, kc);
        kc = kc1;
        const obs = kr.observations;
        const frames = [...obs.flatMap((o) => o.out), ...kr.unmatched];
        const att = attribute(packets, obs, frames);
        // engine inputs, in the same order and at the same relative times
        const inputs: (PacketInput | undefined)[] = packets.map((p, k) => {
          const o = obs[k];
          if (p.iif !== "local" && o.error) return undefined;
          if (clock.t0 === undefined && o.sentNs !== undefined) clock.t0 = o.sentNs;
          return toEngineInput(p, o, clock.t0 ?? 0, att.per[k]);
        });
        if (g.oracle) {
          const ids = [...stat].filter(([, key]) => (kd.get(key)?.[0] ?? 0n) > 0n).map(([id]) => id);
          e.setStatisticOracle(ids);
          if (ids.length) res.oracleHits++;
        }
        const c0 = e.counters();
        const valid = inputs.filter((q): q is PacketInput => q !== undefined);
        const results = e.process(valid);
        const c1 = e.counters();
        if (g.oracle) e.setStatisticOracle([]);
        const ec1 = engineCounters(e);
        const ed = delta(ec1, ec);
        ec = ec1;
        let ri = 0;
        const debugLines: string[] = [];
        const disBefore = res.disagreements.length;
        packets.forEach((p, k) => {
          const q = inputs[k];
          const o = obs[k];
          const l = g.items[k];
          const mine = att.per[k];
          const outcome: Outcome = { pkt: p, obs: o, self: mine.find((a) => a.role === "self")?.frame, answers: mine.filter((a) => a.role === "answer").map((a) => a.frame) };
          outcomes.set(l.flow, outcome);
          if (!q) {
            dis(`${describe(p)}: the harness could not send it`, o.error ?? "?", "-");
            return;
          }
          res.packets++;
          if (g.oracle) res.isolated++;
          const r = results[ri++];
          const why = () => ` [${r.verdict}${r.reason ? " " + r.reason : ""}${r.ct ? " ct=" + r.ct : ""}] rules: ${(r.rules ?? []).join(" ; ") || "-"}${r.nf_verdict ? " verdict: " + r.nf_verdict : ""}`;
          // (a TCP connect() does not report what happened to its SYN: compared by the frames only)
          if (p.iif === "local" && p.proto !== "tcp" && (o.error || r.verdict === "drop")) {
            const want = o.error ?? "sent";
            const got = r.verdict === "drop" ? (ERRNO[r.reason!] ?? r.reason!) : "sent";
            if (want !== got) dis(`${describe(p)}: local send`, want, got + why());
          }
          const kk = mine.map((a) => kernelKey(a, p, keyOpts, o.bound?.sport)).sort();
          const ek = engineKeys(r, p, p.iif === "local" ? o.bound?.sport : p.sport, keyOpts);
          if (kk.join("\n") !== ek.join("\n")) dis(`${describe(p)}: frames leaving the node`, kk.join(" | ") || "(nothing)", (ek.join(" | ") || "(nothing)") + why());
          if (DEBUG) debugLines.push(`${describe(p)} -> kernel ${kk.join(" | ") || "(nothing)"}${o.error ? " error " + o.error : ""}\n      engine ${JSON.stringify({ ...r, ip_rule: undefined, ip_route: undefined })}`);
        });
        if (att.unmatched.length) {
          dis("frames the kernel sent that no packet explains", att.unmatched.map((f) => `${f.ifname} p=${f.proto} ${f.src}:${f.sport ?? ""}>${f.dst}:${f.dport ?? ""} id=${f.ipid}${f.icmp ? ` icmp ${f.icmp.type}/${f.icmp.code}` : ""}${f.tcpFlags ? " " + f.tcpFlags : ""}`).join(" | "), "(none)");
        }
        const where = g.oracle ? `packet ${describe(packets[0])}` : `batch of ${packets.length} (round ${round})`;
        for (const name of COMPARED_COUNTERS) {
          const dk = (n1[name] ?? 0) - (n0[name] ?? 0);
          const de = (c1[name] ?? 0) - (c0[name] ?? 0);
          if (dk !== de) dis(`counter ${name} over the ${where}`, String(dk), String(de));
        }
        for (const d of diffCounters(kd, ed)) {
          const [key, rest] = [d.split(" ")[0], d.slice(d.indexOf(" ") + 1)];
          dis(`rule counter ${key} over the ${where} (${ruleText(e, key)})`, rest.replace(/ emulator .*/, "").replace(/^kernel /, ""), rest.replace(/.* emulator /, ""));
        }
        if (DEBUG && (ALL_DEBUG || res.disagreements.length > disBefore)) for (const l of debugLines) console.log("    " + l);
      }
      const next: typeof live = [];
      for (const l of live) {
        const o = outcomes.get(l.flow)!;
        // a random source port (--random-fully): the engine chose another one, so the flow's later packets cannot be compared
        if (sc.randomPorts && o.self && o.pkt.iif !== "local" && (o.pkt.proto === "tcp" || o.pkt.proto === "udp") && o.self.sport !== o.pkt.sport) {
          l.flow.return();
          res.randomStopped++;
          continue;
        }
        const it = l.flow.next(o);
        if (!it.done) next.push({ flow: l.flow, step: it.value });
      }
      live = next;
    }
    // connection tables
    const kct = await this.ns(["conntrack", "-L"]);
    const kl = parseConntrack(kct.stdout);
    const el = parseConntrack(e.conntrackList());
    for (const d of diffConntrack(kl, el, 3, sc.randomPorts ? maskReplyPort : undefined)) dis("conntrack -L", d, "");
    res.ms = Date.now() - t0ms;
    return res;
  }
}

/** Masks the reply tuple's destination port when it differs from the original source port (a random SNAT port). */
function maskReplyPort(l: CtLine): string {
  const [a, b] = l.key.split(" | ");
  if (b === undefined) return l.key;
  const sport = /sport=(\d+)/.exec(a)?.[1];
  return `${a} | ${b.replace(/dport=(\d+)/, (m, p) => (p === sport ? m : "dport=R"))}`;
}

function ruleText(e: Engine, key: string): string {
  const [t, c, pos] = key.split("/");
  const rs = e.ruleset;
  if (!rs) return key;
  const id = rs.compiled.entries.findIndex((en) => en.table === t && en.chain === c && (pos === "P" ? en.kind === "policy" : en.kind === "rule" && String(en.pos) === pos));
  return id >= 0 ? rs.entryText(id) : key;
}

export function describe(p: InjectPacket | PacketInput): string {
  const x = p as InjectPacket & PacketInput;
  const ports = x.proto === "tcp" || x.proto === "udp" ? `:${x.sport ?? "?"} > ${x.dst}:${x.dport ?? "?"}` : ` > ${x.dst}`;
  const icmp = x.proto === "icmp" ? ` icmp ${x.icmpType ?? x.icmp_type ?? 8}/${x.icmpCode ?? x.icmp_code ?? 0}${x.inner ? ` inner ${x.inner.src}:${x.inner.sport ?? ""}>${x.inner.dst}:${x.inner.dport ?? ""}` : ""}` : "";
  const flags = x.proto === "tcp" ? ` ${x.flags ?? "S"}` : "";
  const mark = x.mark ? ` mark=${x.mark}` : "";
  return `#${x.id} ${x.iif} ${x.src ?? "-"}${ports} ${x.proto}${flags}${icmp}${mark}`;
}

/** The engine's input for a packet the kernel saw (with its send time and, for local TCP, the SYN the kernel built). */
export function toEngineInput(p: InjectPacket, o: Observation, t0: number, mine: Attributed[]): PacketInput {
  const q: PacketInput = { iif: p.iif, dst: p.dst, proto: p.proto as PacketInput["proto"], id: p.id };
  if (p.src !== undefined) q.src = p.src;
  if (p.iif === "local" && o.bound) {
    q.src = o.bound.src;
    if (o.bound.sport !== undefined) q.sport = o.bound.sport;
  }
  if (p.sport !== undefined && q.sport === undefined) q.sport = p.sport;
  if (p.dport !== undefined) q.dport = p.dport;
  const proto = protoNum(p.proto);
  if (proto === 6) {
    if (p.iif === "local") {
      // the kernel's SYN: seq, window and options as captured
      const f = mine.find((a) => a.role === "self")?.frame;
      q.flags = "S";
      q.seq = f?.seq ?? 0;
      q.win = f?.win ?? 64240;
      q.len = f?.len ?? 60;
      if (f?.wscale !== undefined || !f) q.wscale = f?.wscale ?? 7;
      if (f?.sackok || !f) q.sackok = true;
      q.doff = ((f?.len ?? 60) - 20) / 4;
    } else {
      q.flags = p.flags ?? "S";
      q.seq = p.seq ?? 0;
      q.ack = p.ack ?? 0;
      q.win = p.win ?? 65535;
      // TCP options (the frame carries them: conntrack's window tracking reads wscale, SACK-permitted and SACK)
      const optLen = tcpOptionsLen(p);
      if (optLen > 0) {
        q.doff = 5 + optLen / 4;
        if (p.wscale !== undefined) q.wscale = p.wscale;
        if (p.sackok) q.sackok = true;
        if (p.sack !== undefined) q.sack = p.sack;
      }
    }
  }
  if (proto === 1) {
    q.icmp_type = p.icmpType ?? 8;
    q.icmp_code = p.icmpCode ?? 0;
    if (p.icmpId !== undefined) q.icmp_id = p.icmpId;
    if (p.icmpSeq !== undefined) q.icmp_seq = p.icmpSeq;
    if (p.inner) {
      const i = p.inner;
      q.inner = { src: i.src, dst: i.dst, proto: i.proto as "tcp" | "udp" | "icmp" };
      if (i.sport !== undefined) q.inner.sport = i.sport;
      if (i.dport !== undefined) q.inner.dport = i.dport;
      if (i.proto === "icmp" || i.proto === 1) {
        q.inner.icmp_type = i.icmpType ?? 8;
        q.inner.icmp_code = i.icmpCode ?? 0;
        q.inner.icmp_id = i.icmpId ?? 0;
        q.inner.icmp_seq = i.icmpSeq ?? 0;
      }
    }
  }
  if (p.ttl !== undefined) q.ttl = p.ttl;
  else if (p.iif !== "local") q.ttl = 64;
  // transport checksums the frame got wrong on purpose, and UDP-Lite's coverage
  if (p.csum !== undefined) q.csum = p.csum;
  if (proto === 136) q.cscov = p.cscov ?? 0;
  if (proto === 132) {
    // the SCTP header and chunk the frame carries (frames.ts); without one, the zero payload reads as
    // a chunk of type 0 and length 0 when there is room for a chunk header, else as no chunk at all
    const len = p.len ?? defaultLen(p);
    q.sctp = p.sctp
      ? { vtag: p.sctp.vtag ?? 0, chunks: [p.sctp.chunk === 1 || p.sctp.chunk === 2
          ? { type: p.sctp.chunk, init_tag: p.sctp.tag ?? 1 } : { type: p.sctp.chunk, t: ((p.sctp.flags ?? 0) & 1) !== 0 }] }
      : { vtag: 0, chunks: len - 20 >= 16 ? [{ type: 0, len: 0 }] : [] };
    q.len = len;
  }
  if (p.tos !== undefined) q.tos = p.tos;
  if (p.df !== undefined) q.df = p.df;
  if (q.len === undefined) q.len = p.len ?? (proto === 6 ? 40 + tcpOptionsLen(p) : proto === 17 ? 28 : proto === 1 ? (p.inner ? 56 : 28) : 20);
  if (p.mark !== undefined) q.mark = p.mark;
  if (p.oif !== undefined) q.oif = p.oif;
  if (p.uid !== undefined) q.uid = p.uid;
  if (o.sentNs !== undefined) q.t = Math.max(0, (o.sentNs - t0) / 1e9);
  // the frame's bytes after the datagram (a transport header longer than len): IpExtInOctets counts them
  if (p.iif !== "local" && p.src !== undefined) { const pad = trailerLen(p); if (pad > 0) q.pad = pad; }
  return q;
}

/** Sums of a list of scenario results. */
export function totals(rs: ScenarioResult[]): { packets: number; rulesets: number; disagreements: number } {
  return { packets: rs.reduce((a, r) => a + r.packets, 0), rulesets: rs.length, disagreements: rs.reduce((a, r) => a + r.disagreements.length, 0) };
}
