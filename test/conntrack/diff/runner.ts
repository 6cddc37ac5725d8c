/**
 * The kernel-differential runner of the conntrack suite. One kernel node
 * (test/kernel/netns.ts, the netfilter suite's small node) whose ruleset,
 * conntrack sysctls and connection table are reset per scenario, and per
 * scenario a fresh engine on the same snapshot, ruleset and sysctls.
 *
 * A scenario is a set of conversations (flows.ts). Each round sends the next
 * packet of every live conversation: one batch into the kernel, the same
 * packets in the same order at the same relative times (the engine's virtual
 * clock follows the kernel's send timestamps) into the engine. A round may
 * first sleep (timeouts). After every round it compares:
 *
 *  - per packet, the frames that leave the node (addresses and ports after
 *    NAT in both directions, ICMP echo ids, TTL, TCP flags, the node's own
 *    answers with their quoted headers);
 *  - SNMP counter deltas and every rule's and policy's counter deltas;
 *  - the connection tables (`conntrack -L`: tuples, TCP state, [UNREPLIED],
 *    [ASSURED], mark; timeouts within TOL seconds), the emulator's clock
 *    advanced to the moment the kernel's table was read (Engine.advanceClock);
 *  - `conntrack -S` counter deltas (found, invalid, insert, insert_failed,
 *    drop, early_drop, error, ...).
 *
 * NAT ports (and ICMP ids) the kernel picks at random (a taken original
 * port, --random, --random-fully) are compared by property: both sides keep
 * the original where the kernel's rule is deterministic (get_unique_tuple:
 * the original tuple when it is free), choose a port in the range the
 * kernel would (nf_nat_l4proto_unique_tuple), and keep reply tuples unique.
 * The emulator's choice is then mapped to the kernel's so the conversation
 * and the tables can still be compared exactly (ctio.ts PortMap).
 */
import { spawnSync } from "node:child_process";
import type { InjectPacket, KernelNode, Observation, Seen } from "../../kernel/netns.js";
import { withKernelAlone, recordGlobalSysctls, forgetGlobalSysctls } from "../../kernel/cleanup.js";
import { COMPARED_COUNTERS, REASON_ERRNO } from "../../kernel/compare.js";
import { protoNum } from "../../kernel/frames.js";
import type { Engine } from "../../../host/engine.js";
import type { PacketInput } from "../../../host/packet/input.js";
import type { PacketResult } from "../../../host/packet/result.js";
import { DiffNode, describe, toEngineInput, withAllTables, type Outcome } from "../../netfilter/diff/runner.js";
import { attribute, engineKeys, kernelKey, type Attributed } from "../../netfilter/diff/attribute.js";
import { delta, diffCounters, engineCounters } from "../../netfilter/diff/kio.js";
import type { CtFlow, CtStep } from "./flows.js";
import { diffTables, duplicateReplyTuples, parseStats, PortMap, protoNames, STAT_KEYS, statsDelta, type Stats } from "./ctio.js";

/** Timeouts in `conntrack -L` may differ by this many seconds. */
export const TOL = 2;

/**
 * The conntrack sysctls every scenario starts from, on both sides (the
 * kernel's defaults, written again before each scenario since the kernel
 * node is shared).
 */
export const CT_DEFAULTS: Record<string, string> = {
  "net.netfilter.nf_conntrack_checksum": "1",
  "net.netfilter.nf_conntrack_tcp_loose": "1",
  "net.netfilter.nf_conntrack_tcp_be_liberal": "0",
  "net.netfilter.nf_conntrack_tcp_max_retrans": "3",
  "net.netfilter.nf_conntrack_tcp_ignore_invalid_rst": "0",
  "net.netfilter.nf_conntrack_tcp_timeout_syn_sent": "120",
  "net.netfilter.nf_conntrack_tcp_timeout_syn_recv": "60",
  "net.netfilter.nf_conntrack_tcp_timeout_established": "432000",
  "net.netfilter.nf_conntrack_tcp_timeout_fin_wait": "120",
  "net.netfilter.nf_conntrack_tcp_timeout_close_wait": "60",
  "net.netfilter.nf_conntrack_tcp_timeout_last_ack": "30",
  "net.netfilter.nf_conntrack_tcp_timeout_time_wait": "120",
  "net.netfilter.nf_conntrack_tcp_timeout_close": "10",
  "net.netfilter.nf_conntrack_tcp_timeout_max_retrans": "300",
  "net.netfilter.nf_conntrack_tcp_timeout_unacknowledged": "300",
  "net.netfilter.nf_conntrack_udp_timeout": "30",
  "net.netfilter.nf_conntrack_udp_timeout_stream": "120",
  "net.netfilter.nf_conntrack_icmp_timeout": "30",
  "net.netfilter.nf_conntrack_generic_timeout": "600",
};

/** How the kernel picks NAT source ports (and ICMP ids) in a scenario. */
export interface NatPorts {
  /**
   * "keep": get_unique_tuple keeps the original port when the tuple is free
   * (compared exactly), and picks a random one in the range otherwise;
   * "random": --random / --random-fully (always random).
   */
  mode: "keep" | "random";
  /** The range of the rule (--to-source A:lo-hi, --to-ports); default: the kernel's by original port. */
  range?: [number, number];
  /** ICMP ids are picked from 0-65535 (or `range`) the same way. */
}

export interface CtScenario {
  name: string;
  /** iptables-save text (missing tables are added empty). */
  ruleset: string;
  /** net.netfilter.* settings on top of CT_DEFAULTS, for both sides. */
  sysctl?: Record<string, string>;
  flows: CtFlow[];
  /** NAT port choices the kernel may make at random (default: every port compared exactly). */
  nat?: NatPorts;
  /**
   * The global nf_conntrack_max (only init_net may set it: the scenario
   * changes the host's value for its duration; see GlobalMax).
   */
  ctMax?: number;
  /** The global nf_conntrack_buckets (init_net only, like ctMax). */
  ctBuckets?: number;
  /**
   * Early drop may evict unassured entries: which ones depends on the
   * kernel's random hash seed (early_drop scans the new tuple's bucket and the
   * next ones). Assured entries are compared exactly, unassured ones by count
   * (at most ctMax in all), `early_drop` by whether it happened at all.
   */
  earlyDrop?: boolean;
  /** Compare the protocol names `conntrack -L` prints (default true; entries are compared by protocol number either way). */
  protoNames?: boolean;
  maxRounds?: number;
  /** What the scenario is about, for the report. */
  doc?: string;
}

export interface Disagreement { scenario: string; what: string; kernel: string; emulator: string }

export interface CtResult {
  name: string;
  packets: number;
  rounds: number;
  /** conntrack -L comparisons made. */
  tables: number;
  /** NAT choices compared by property. */
  randomChoices: number;
  disagreements: Disagreement[];
  /** The kernel's conntrack -S counters over the scenario (non-zero ones). */
  stats: Stats;
  /** Why the scenario did not run (it is then not a failure). */
  skipped?: string;
  notes: string[];
  ms: number;
}

/** SNMP counters compared besides the netfilter suite's (checksum errors: conntrack and local delivery). */
const MORE_COUNTERS = ["TcpInCsumErrors", "TcpInErrs", "UdpInCsumErrors", "UdpInErrors", "IcmpInCsumErrors", "IcmpInErrors"];

const DEBUG = process.env.NP_CT_DEBUG === "1" || process.env.NP_CT_DEBUG === "2";
const ALL_DEBUG = process.env.NP_CT_DEBUG === "2";
const ERRNO: Record<string, string> = { ...REASON_ERRNO, NETFILTER: "EPERM", NF_REROUTE: "EHOSTUNREACH" };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** CLOCK_MONOTONIC in ns (libuv's hrtime is the same clock the agents stamp packets with). */
const monoNs = () => Number(process.hrtime.bigint());

/** The kernel's default NAT port range for an original port (nf_nat_l4proto_unique_tuple without a range). */
export function defaultPortRange(orig: number): [number, number] {
  if (orig < 512) return [1, 511];
  if (orig < 1024) return [600, 1023];
  return [1024, 65535];
}

/**
 * The global conntrack sysctls nf_conntrack_max and nf_conntrack_buckets:
 * writable in init_net only (a netns sees them read-only), and they bound
 * and hash every namespace's table. A scenario that needs a small table
 * sets them for its duration and restores them, alone: it waits until no
 * other test process has harness namespaces, and keeps new ones from
 * starting meanwhile (withKernelAlone, test/kernel/cleanup.ts); and only
 * when the host's own table is empty. NP_CT_GLOBAL=1 skips the host check,
 * NP_CT_GLOBAL=0 never touches them.
 */
export class GlobalMax {
  private saved: [string, string][] = [];
  static whyNot(): string | undefined {
    if (process.env.NP_CT_GLOBAL === "0") return "NP_CT_GLOBAL=0";
    if (process.env.NP_CT_GLOBAL === "1") return undefined;
    const count = Number(spawnSync("sysctl", ["-n", "net.netfilter.nf_conntrack_count"], { encoding: "utf8" }).stdout.trim() || "0");
    if (count > 0) return `the host's own conntrack table has ${count} entries (NP_CT_GLOBAL=1 forces)`;
    return undefined;
  }
  /** Sets the values; returns what the kernel made of them (nf_ct_alloc_hashtable rounds the buckets up to a page of heads: 512). */
  set(values: Record<string, number>): Record<string, string> {
    const effective: Record<string, string> = {};
    process.once("exit", this.restoreSync);
    for (const [k, v] of Object.entries(values)) {
      const r = spawnSync("sysctl", ["-n", k], { encoding: "utf8" });
      this.saved.unshift([k, r.stdout.trim()]);
      recordGlobalSysctls(this.saved);
      const w = spawnSync("sysctl", ["-qw", `${k}=${v}`], { encoding: "utf8" });
      if (w.status !== 0) throw new Error(`sysctl ${k}=${v}: ${w.stderr}`);
      effective[k] = spawnSync("sysctl", ["-n", k], { encoding: "utf8" }).stdout.trim();
    }
    return effective;
  }
  private restoreSync = () => {
    for (const [k, v] of this.saved) if (v) spawnSync("sysctl", ["-qw", `${k}=${v}`]);
    forgetGlobalSysctls();
  };
  restore(): void {
    this.restoreSync();
    this.saved = [];
    process.removeListener("exit", this.restoreSync);
  }
}

export class CtRunner {
  private nextId = 1;
  constructor(readonly diff: DiffNode, readonly kernel: KernelNode) {}

  static async create(kernel: KernelNode): Promise<CtRunner> {
    return new CtRunner(await DiffNode.create(kernel), kernel);
  }

  private id(): number {
    const v = this.nextId;
    this.nextId = this.nextId >= 65535 ? 1 : this.nextId + 1;
    return v;
  }

  private async ns(args: string[]): Promise<string> {
    const r = await this.kernel.exec(args, { allowFail: true });
    if (r.code !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  async kernelStats(): Promise<Stats> {
    return parseStats(await this.ns(["conntrack", "-S"]));
  }

  async run(sc: CtScenario, seed: number): Promise<CtResult> {
    const t0ms = Date.now();
    const res: CtResult = { name: sc.name, packets: 0, rounds: 0, tables: 0, randomChoices: 0, disagreements: [], notes: [], stats: {}, ms: 0 };
    const dis = (what: string, kernel: string, emulator: string) => res.disagreements.push({ scenario: sc.name, what, kernel, emulator });
    let globals: Record<string, string> = {};
    if (sc.ctMax !== undefined || sc.ctBuckets !== undefined) {
      const why = GlobalMax.whyNot();
      if (why) {
        res.skipped = why;
        res.ms = Date.now() - t0ms;
        return res;
      }
      // alone: the host-wide values would cap other test processes' tables too
      const [, busy] = await withKernelAlone(async () => {
        const global = new GlobalMax();
        const values: Record<string, number> = {};
        if (sc.ctMax !== undefined) values["net.netfilter.nf_conntrack_max"] = sc.ctMax;
        if (sc.ctBuckets !== undefined) values["net.netfilter.nf_conntrack_buckets"] = sc.ctBuckets;
        globals = global.set(values);
        if (sc.ctBuckets !== undefined && globals["net.netfilter.nf_conntrack_buckets"] !== String(sc.ctBuckets)) {
          res.notes.push(`nf_conntrack_buckets=${sc.ctBuckets} gave ${globals["net.netfilter.nf_conntrack_buckets"]} buckets (the emulator is given that)`);
        }
        try {
          await this.runScenario(sc, seed, res, dis, globals);
        } finally {
          global.restore();
        }
        return true;
      });
      if (busy) res.skipped = busy;
      res.ms = Date.now() - t0ms;
      return res;
    }
    await this.runScenario(sc, seed, res, dis, globals);
    res.ms = Date.now() - t0ms;
    return res;
  }

  private async runScenario(sc: CtScenario, seed: number, res: CtResult, dis: (w: string, k: string, e: string) => void, globals: Record<string, string>): Promise<void> {
    const ruleset = withAllTables(sc.ruleset);
    const sysctl: Record<string, string> = { ...CT_DEFAULTS, ...(sc.sysctl ?? {}) };
    await this.diff.prepareKernel(ruleset, sysctl);
    const engineSysctl = { ...sysctl };
    // the global values as the kernel reads them back (what a node's snapshot would show)
    Object.assign(engineSysctl, globals);
    const e = await this.diff.engine(ruleset, engineSysctl, seed);
    const map = new PortMap();
    let t0: number | undefined;
    let engineNow = 0;
    let kc = await this.diff.kernelCounters();
    let ec = engineCounters(e);
    let nstat = await this.kernel.nstat();
    let kst = await this.kernelStats();
    let est = parseStats(e.conntrackStatsText());

    const earlyDrops = [0, 0];
    let live: { flow: CtFlow; step: CtStep }[] = [];
    for (const flow of sc.flows) {
      const it = flow.next(undefined as unknown as Outcome);
      if (!it.done) live.push({ flow, step: it.value });
    }
    const maxRounds = sc.maxRounds ?? 60;
    for (let round = 0; live.length > 0 && round < maxRounds; round++) {
      res.rounds++;
      const delay = Math.max(0, ...live.map((l) => l.step.delay ?? 0));
      if (delay > 0) await sleep(delay * 1000);
      // conversations that wait this round send nothing (and hear nothing)
      const active = live.filter((l) => l.step.pkt);
      if (active.length === 0) {
        live = advance(live, new Map());
        continue;
      }
      const packets: InjectPacket[] = active.map((l) => ({ ...l.step.pkt!, id: this.id() }) as InjectPacket);
      const n0 = nstat;
      const kr = await this.kernel.inject(packets, { quietMs: 60, gapUs: 100 });
      // the kernel's table as soon as the node is quiet (the time it was read brings the emulator's clock along)
      const tA = monoNs();
      const kTable = await this.ns(["conntrack", "-L"]);
      const tB = monoNs();
      const kst1 = await this.kernelStats();
      const n1 = await this.kernel.nstat();
      nstat = n1;
      const kc1 = await this.diff.kernelCounters();
      const kd = delta(kc1, kc);
      kc = kc1;
      const obs = kr.observations;
      const att = attribute(packets, obs, [...obs.flatMap((o) => o.out), ...kr.unmatched]);

      const inputs: (PacketInput | undefined)[] = packets.map((p, k) => {
        const o = obs[k];
        if (p.iif !== "local" && o.error) return undefined;
        if (t0 === undefined && o.sentNs !== undefined) t0 = o.sentNs;
        const q = toEngineInput(p, o, t0 ?? 0, att.per[k]);
        if (q.t !== undefined) engineNow = Math.max(engineNow, q.t);
        return toEngineView(q, map);
      });
      const c0 = e.counters();
      const results = e.process(inputs.filter((q): q is PacketInput => q !== undefined));
      const c1 = e.counters();
      const ec1 = engineCounters(e);
      const ed = delta(ec1, ec);
      ec = ec1;

      const choicesBefore = map.choices.length;
      let collisions = 0;
      const outcomes = new Map<CtFlow, Outcome>();
      const debugLines: string[] = [];
      const before = res.disagreements.length;
      let ri = 0;
      packets.forEach((p, k) => {
        const o = obs[k];
        const mine = att.per[k];
        const l = active[k];
        outcomes.set(l.flow, { pkt: p, obs: o, self: mine.find((a) => a.role === "self")?.frame, answers: mine.filter((a) => a.role === "answer").map((a) => a.frame) });
        if (!inputs[k]) {
          dis(`${describe(p)}: the harness could not send it`, o.error ?? "?", "-");
          return;
        }
        res.packets++;
        const r = results[ri++];
        const self = mine.find((a) => a.role === "self")?.frame;
        if (this.learn(sc, p, o, self, r, map, res, dis)) collisions++;
        const rk = toKernelView(r, p, map);
        const why = () => ` [${r.verdict}${r.reason ? " " + r.reason : ""}${r.ct ? " ct=" + r.ct : ""}${r.ct_entry?.state ? " " + r.ct_entry.state : ""}] rules: ${(r.rules ?? []).join(" ; ") || "-"}${r.nf_verdict ? " verdict: " + r.nf_verdict : ""}`;
        if (p.iif === "local" && p.proto !== "tcp" && (o.error || r.verdict === "drop")) {
          const want = o.error ?? "sent";
          const got = r.verdict === "drop" ? (ERRNO[r.reason!] ?? r.reason!) : "sent";
          if (want !== got) dis(`${describe(p)}: local send`, want, got + why());
        }
        const kk = mine.map((a) => kernelKey(a, p, {}, o.bound?.sport) + kernelExtra(a)).sort();
        const ek = engineKeysExtra(rk, p, p.iif === "local" ? o.bound?.sport : p.sport);
        if (kk.join("\n") !== ek.join("\n")) dis(`round ${round} ${describe(p)}: frames leaving the node`, kk.join(" | ") || "(nothing)", (ek.join(" | ") || "(nothing)") + why());
        if (DEBUG) debugLines.push(`${describe(p)} -> kernel ${kk.join(" | ") || "(nothing)"}\n      engine ${JSON.stringify({ ...r, ip_rule: undefined, ip_route: undefined })}`);
      });
      if (att.unmatched.length) {
        dis(`round ${round}: frames the kernel sent that no packet explains`, att.unmatched.map((f) => `${f.ifname} p=${f.proto} ${f.src}:${f.sport ?? ""}>${f.dst}:${f.dport ?? ""} id=${f.ipid}${f.icmp ? ` icmp ${f.icmp.type}/${f.icmp.code}` : ""}${f.tcpFlags ? " " + f.tcpFlags : ""}`).join(" | "), "(none)");
      }
      const where = `round ${round} (${packets.length} packets)`;
      for (const name of [...COMPARED_COUNTERS, ...MORE_COUNTERS]) {
        const dk = (n1[name] ?? 0) - (n0[name] ?? 0);
        const de = (c1[name] ?? 0) - (c0[name] ?? 0);
        if (dk !== de) dis(`counter ${name} over ${where}`, String(dk), String(de));
      }
      for (const d of diffCounters(kd, ed)) {
        const key = d.split(" ")[0];
        const rest = d.slice(d.indexOf(" ") + 1);
        dis(`rule counter ${key} over ${where} (${ruleText(e, key)})`, rest.replace(/ emulator .*/, "").replace(/^kernel /, ""), rest.replace(/.* emulator /, ""));
      }
      // the tables at the moment the kernel's was read: the emulator's clock is brought there
      // (Engine.advanceClock ages its entries and runs its gc_worker as the kernel's ran meanwhile)
      const readAt = ((tA + tB) / 2 - (t0 ?? tA)) / 1e9;
      if (readAt > engineNow) {
        e.advanceClock(readAt);
        engineNow = readAt;
      }
      const elapsed = readAt - engineNow;
      const eTable = e.conntrackList();
      res.tables++;
      if (sc.protoNames !== false) {
        const [kn, en] = [protoNames(kTable), protoNames(eTable)];
        for (const [num, name] of kn) if (en.has(num) && en.get(num) !== name) dis(`conntrack -L after ${where}: name of protocol ${num}`, name, en.get(num)!);
      }
      if (sc.earlyDrop) {
        // assured entries exactly; unassured ones (early drop's victims are random) by count
        const assured = (t: string) => t.split("\n").filter((l) => l.includes("[ASSURED]")).join("\n");
        for (const d of diffTables(assured(kTable), assured(eTable), elapsed, TOL, map)) dis(`conntrack -L (assured entries) after ${where}`, d, "");
        const n = (t: string) => t.split("\n").filter((l) => l.trim() && !l.includes("[ASSURED]")).length;
        const [nk, ne] = [n(kTable), n(eTable)];
        if (nk !== ne) res.notes.push(`${where}: ${nk} unassured entries in the kernel, ${ne} in the emulator (early drop evicts a random bucket's)`);
        const total = (t: string) => t.split("\n").filter((l) => l.trim()).length;
        if (sc.ctMax !== undefined && total(eTable) > sc.ctMax) dis(`conntrack -L after ${where}: more entries than nf_conntrack_max`, String(total(kTable)), String(total(eTable)));
      } else {
        for (const d of diffTables(kTable, eTable, elapsed, TOL, map)) dis(`conntrack -L after ${where}`, d, "");
      }
      if (DEBUG && (ALL_DEBUG || res.disagreements.length > before)) {
        debugLines.push(`kernel table:\n${kTable.trim()}\n    engine table (${elapsed.toFixed(2)} s behind):\n${eTable.trim()}`);
      }
      // conntrack -S
      const est1 = parseStats(e.conntrackStatsText());
      const kdS = statsDelta(kst1, kst);
      const edS = statsDelta(est1, est);
      kst = kst1;
      est = est1;
      for (const k of STAT_KEYS) if (kdS[k]) res.stats[k] = (res.stats[k] ?? 0) + kdS[k];
      // a random NAT port may itself be taken (nf_nat_used_tuple counts `found` once per taken tuple): with random
      // choices in the round, `found` must only cover the original tuples that were taken
      const random = map.choices.slice(choicesBefore);
      const taken = collisions;
      for (const key of STAT_KEYS) {
        const [dk, de] = [kdS[key] ?? 0, edS[key] ?? 0];
        if (key === "early_drop" && sc.earlyDrop) {
          earlyDrops[0] += dk;
          earlyDrops[1] += de;
          continue;
        }
        if (key === "found" && random.length > 0) {
          if (dk < taken || de < taken) dis(`conntrack -S found over ${where} (${random.length} random NAT choices, ${taken} taken original tuples)`, String(dk), String(de));
          else if (dk !== de) res.notes.push(`conntrack -S found over ${where}: kernel ${dk}, emulator ${de} (random NAT choices that were themselves taken)`);
          continue;
        }
        if (dk !== de) dis(`conntrack -S ${key} over ${where}`, String(dk), String(de));
      }
      if (DEBUG && (ALL_DEBUG || res.disagreements.length > before)) for (const d of debugLines) console.log("    " + d);

      live = advance(live, outcomes);
    }
    if (sc.earlyDrop && (earlyDrops[0] > 0) !== (earlyDrops[1] > 0)) dis("conntrack -S early_drop over the scenario", String(earlyDrops[0]), String(earlyDrops[1]));
    if (sc.earlyDrop) res.notes.push(`early drops: kernel ${earlyDrops[0]}, emulator ${earlyDrops[1]}`);
    // NAT properties over the whole scenario: reply tuples unique on both sides
    const kFinal = await this.ns(["conntrack", "-L"]);
    for (const d of duplicateReplyTuples(kFinal)) dis("conntrack -L: reply tuple used twice", d, "");
    for (const d of duplicateReplyTuples(e.conntrackList())) dis("conntrack -L: reply tuple used twice", "", d);
    res.randomChoices = map.choices.filter(([, , k, en, o]) => k !== o || en !== o).length;
  }

  /**
   * Learns a NAT port the kernel may have chosen at random, from the first
   * packet of a connection (the emulator's choice is compared by property,
   * then mapped to the kernel's). True when the kernel found the original
   * tuple taken.
   */
  private learn(sc: CtScenario, p: InjectPacket, o: Observation, self: Seen | undefined, r: PacketResult, map: PortMap, res: CtResult,
    dis: (w: string, k: string, e: string) => void): boolean {
    const nat = sc.nat ?? { mode: "keep" };
    if (!self || r.verdict !== "forward" || self.src !== r.src) return false;
    const proto = protoNum(p.proto);
    let orig: number | undefined;
    let kp: number | undefined;
    let ep: number | undefined;
    if (proto === 6 || proto === 17) {
      orig = p.iif === "local" ? o.bound?.sport : p.sport;
      kp = self.sport;
      ep = r.sport;
    } else if (proto === 1 && isQuery(p.icmpType ?? 8)) {
      orig = p.icmpId ?? 0;
      kp = self.icmp ? self.icmp.rest >>> 16 : undefined;
      ep = r.icmp_id;
    }
    if (orig === undefined || kp === undefined || ep === undefined) return false;
    // only a connection's first packet chooses (later ones follow the binding)
    if (r.ct !== "NEW") return false;
    const what = `${describe(p)}: NAT ${proto === 1 ? "id" : "port"} for original ${orig}`;
    // a port chosen before for this source is reused (find_appropriate_src): both sides must reuse theirs
    const far = r.dst;
    const farPort = proto === 1 ? 0 : r.dport;
    const kBefore = map.toKernel(proto, r.src, ep, far, farPort);
    const eBefore = map.toEngine(proto, r.src, kp, far, farPort);
    if (kBefore !== ep || eBefore !== kp) {
      if (kBefore !== kp || eBefore !== ep) dis(`${what}: reuse of an earlier random choice`, `${kp} (the emulator's ${eBefore} before)`, `${ep} (the kernel's ${kBefore} before)`);
      return false;
    }
    // a client source mapped before keeps its mapping towards other servers when it is free (find_appropriate_src)
    const srcKey = `${proto}/${p.iif === "local" ? o.bound?.src : p.src}/${orig}`;
    const before = map.bySource.get(srcKey);
    if (nat.mode === "keep" && before && (kp === before[0]) !== (ep === before[1])) {
      dis(`${what}: the source's earlier mapping (kernel ${before[0]}, emulator ${before[1]})`, kp === before[0] ? `reused ${kp}` : `chose ${kp}`, ep === before[1] ? `reused ${ep}` : `chose ${ep}`);
    }
    if (!before) map.bySource.set(srcKey, [kp, ep]);
    if (kp === orig && ep === orig) return false;
    if (nat.mode === "keep" && (kp === orig) !== (ep === orig)) {
      dis(what, kp === orig ? `kept ${orig} (the tuple was free)` : `chose ${kp} (the original tuple was taken)`, ep === orig ? `kept ${orig}` : `chose ${ep}`);
    }
    const [lo, hi] = nat.range ?? (proto === 1 ? [0, 65535] : defaultPortRange(orig));
    if (kp !== orig && (kp < lo || kp > hi)) res.notes.push(`${what}: the kernel chose ${kp}, outside ${lo}-${hi}`);
    if (ep !== orig && (ep < lo || ep > hi)) dis(`${what}: out of range ${lo}-${hi}`, String(kp), String(ep));
    map.learn(proto, r.src, kp, ep, orig, far, farPort);
    // the kernel moved a port it could have kept: the original tuple was taken (one `found`)
    return nat.mode === "keep" && !before && kp !== orig && orig >= lo && orig <= hi;
  }
}

/** Every live conversation's next step, given what happened to its packet (nothing, for an idle round). */
function advance(live: { flow: CtFlow; step: CtStep }[], outcomes: Map<CtFlow, Outcome>): { flow: CtFlow; step: CtStep }[] {
  const next: { flow: CtFlow; step: CtStep }[] = [];
  for (const l of live) {
    const out = outcomes.get(l.flow) ?? ({ answers: [] } as unknown as Outcome);
    const it = l.flow.next(out);
    if (!it.done) next.push({ flow: l.flow, step: it.value });
  }
  return next;
}

/** ICMP query messages (echo, timestamp, information, address mask): their id is NATed like a port. */
function isQuery(t: number): boolean {
  return t === 0 || t === 8 || (t >= 13 && t <= 18);
}

/** What NAT may change that attribute.ts's keys leave out: ICMP echo ids, and the quoted header of a forwarded ICMP error. */
function kernelExtra(a: Attributed): string {
  const f = a.frame;
  if (f.proto !== 1 || !f.icmp) return "";
  if (isQuery(f.icmp.type)) return ` id=${f.icmp.rest >>> 16}`;
  const i = f.icmp.inner;
  if (!i) return "";
  return innerText(i.src, i.dst, i.proto, i.sport, i.dport, i.icmpId);
}

function innerText(src: string, dst: string, proto: number, sport?: number, dport?: number, icmpId?: number): string {
  if (proto === 6 || proto === 17) return ` q=${src}:${sport}>${dst}:${dport}/${proto}`;
  if (proto === 1) return ` q=${src}>${dst}/1 id=${icmpId}`;
  return ` q=${src}>${dst}/${proto}`;
}

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 };

/** engineKeys (attribute.ts) with the same additions as kernelExtra. */
function engineKeysExtra(r: PacketResult, p: InjectPacket, origSport: number | undefined): string[] {
  const proto = protoNum(p.proto);
  const keys: string[] = [];
  const inner = (i: PacketResult["inner"]) => i ? innerText(i.src, i.dst, PROTO_NUM[i.proto] ?? Number(i.proto), i.sport, i.dport, i.icmp_id) : "";
  for (const k of engineKeys({ ...r, replies: [] }, p, origSport)) {
    const echo = proto === 1 && isQuery(p.icmpType ?? 8);
    keys.push(k + (echo ? ` id=${r.icmp_id ?? p.icmpId ?? 0}` : proto === 1 ? inner(r.inner) : ""));
  }
  for (const q of r.replies) {
    const suffix = q.kind !== "icmp" ? "" : q.icmp_type === 0 ? ` id=${p.icmpId ?? 0}` : inner(q.inner);
    for (const k of engineKeys({ ...r, verdict: "drop", replies: [q] }, p, origSport)) keys.push(k + suffix);
  }
  return keys.sort();
}

/** The engine's input for a packet the kernel saw: ports and ids NAT chose at random are the engine's own. */
function toEngineView(q: PacketInput, map: PortMap): PacketInput {
  if (map.size === 0) return q;
  const out: PacketInput = { ...q };
  const proto = typeof q.proto === "number" ? q.proto : protoNum(q.proto ?? "tcp");
  const src = q.src ?? "";
  if (proto === 6 || proto === 17) out.dport = map.toEngine(proto, q.dst, q.dport, src, q.sport);
  if (proto === 1 && isQuery(q.icmp_type ?? 8)) out.icmp_id = map.toEngine(1, q.dst, q.icmp_id, src, 0);
  if (proto === 1 && q.inner) {
    // the quoted packet went from the NAT address to the far end
    const ip = typeof q.inner.proto === "number" ? q.inner.proto : protoNum(q.inner.proto ?? "tcp");
    const inner = { ...q.inner };
    if (ip === 6 || ip === 17) inner.sport = map.toEngine(ip, inner.src, inner.sport, inner.dst, inner.dport);
    if (ip === 1) inner.icmp_id = map.toEngine(1, inner.src, inner.icmp_id, inner.dst, 0);
    out.inner = inner;
  }
  return out;
}

/** The engine's result with its random NAT ports replaced by the kernel's. */
function toKernelView(r: PacketResult, p: InjectPacket, map: PortMap): PacketResult {
  if (map.size === 0) return r;
  const pn = (n: string | undefined) => (n === "tcp" ? 6 : n === "udp" ? 17 : n === "icmp" ? 1 : 0);
  const proto = protoNum(p.proto);
  const out: PacketResult = { ...r, replies: r.replies.map((q) => ({ ...q })) };
  if ((proto === 6 || proto === 17) && r.sport !== undefined) out.sport = map.toKernel(proto, r.src, r.sport, r.dst, r.dport);
  if (r.icmp_id !== undefined) out.icmp_id = map.toKernel(1, r.src, r.icmp_id, r.dst, 0);
  const mapInner = (i: NonNullable<PacketResult["inner"]>) => {
    const inner = { ...i };
    const ip = pn(inner.proto);
    if (ip === 6 || ip === 17) inner.sport = map.toKernel(ip, inner.src, inner.sport, inner.dst, inner.dport);
    if (ip === 1 && inner.icmp_id !== undefined) inner.icmp_id = map.toKernel(1, inner.src, inner.icmp_id, inner.dst, 0);
    return inner;
  };
  if (r.inner) out.inner = mapInner(r.inner);
  for (const q of out.replies) if (q.inner) q.inner = mapInner(q.inner);
  return out;
}

function ruleText(e: Engine, key: string): string {
  const [t, c, pos] = key.split("/");
  const rs = e.ruleset;
  if (!rs) return key;
  const id = rs.compiled.entries.findIndex((en) => en.table === t && en.chain === c && (pos === "P" ? en.kind === "policy" : en.kind === "rule" && String(en.pos) === pos));
  return id >= 0 ? rs.entryText(id) : key;
}

