/**
 * Seeded generator of edge-case rulesets (all four tables) for the small
 * node (node.ts), each with its own traffic mix.
 *
 * Rulesets are trees of user chains under the built-in chains (-j and -g,
 * RETURN, nesting up to 4 deep, goto from built-in chains so the policy
 * decides), policies ACCEPT/DROP, and the matches and targets an EKS node
 * and its neighbours use, every one with its inversions and masks: -s/-d/
 * -i/-o (+ wildcards)/-p, ports and multiport (lists and ranges), tcp flags,
 * icmp types, conntrack/state (NEW, ESTABLISHED, RELATED, INVALID,
 * UNTRACKED, SNAT, DNAT), mark and connmark with masks, MARK in all its
 * forms, CONNMARK set/save/restore with masks, addrtype with
 * --limit-iface-in/out, length, comment, statistic nth and random, recent,
 * limit (a burst that does not refill during a scenario), LOG, NOTRACK and
 * CT --notrack, REJECT variants, DNAT (ports, address ranges), REDIRECT,
 * SNAT, MASQUERADE. Marks 0x10 steer routing (ip rule fwmark 0x10/0x10), in
 * PREROUTING and, for the node's own packets, in OUTPUT (re-route).
 *
 * Only what iptables-legacy-restore accepts is generated: targets and
 * interface/addrtype options only where their table and hooks allow them
 * (each user chain is reached from a single built-in chain).
 */
import type { Flow, Scenario, StatisticPlacement } from "./runner.js";
import { echoFlow, localEchoFlow, localTcpFlow, localUdpFlow, tcpFlow, udpFlow, type Peer, type TcpVariant } from "./flows.js";
import { NODE_ADDRS, PODS, Ports, Rnd, anyClient, internetHost, lanHost } from "./node.js";

type Table = "raw" | "mangle" | "nat" | "filter";
type Hook = "PREROUTING" | "INPUT" | "FORWARD" | "OUTPUT" | "POSTROUTING";

const BUILTINS: Record<Table, Hook[]> = {
  raw: ["PREROUTING", "OUTPUT"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
};
const IN_HOOKS = new Set<Hook>(["PREROUTING", "INPUT", "FORWARD"]);
const OUT_HOOKS = new Set<Hook>(["FORWARD", "OUTPUT", "POSTROUTING"]);

/** A service the traffic targets: the nat rules DNAT some of them. */
interface Service { vip: string; port: number; proto: "tcp" | "udp"; to?: string; toPort?: number }

const IFACES_IN = ["eth0", "eth1", "eni0a", "eni0b", "eni+", "eth+", "e+", "lo", "eni0"];
const ADDRS = [
  "10.0.0.2", "10.0.0.0/24", "192.168.1.0/24", "192.168.1.2", "192.168.1.1", "192.168.1.0/28", "192.168.1.64/26",
  "10.244.0.5", "10.244.0.6", "10.244.0.0/24", "203.0.113.0/24", "203.0.113.0/26", "198.51.100.0/25", "198.51.100.128/25",
  "10.96.0.0/24", "10.96.0.10", "0.0.0.0/1", "192.168.0.0/16",
];
const MARKS = [0x1, 0x2, 0x3, 0x10, 0x11, 0x20, 0x80, 0x90, 0xff, 0x4000, 0x4010, 0x12345678];
const MASKS = [0x1, 0x3, 0x10, 0x30, 0xf0, 0xff, 0x80, 0x4000, 0xffff, 0xffffffff];
const PORTS = [22, 53, 80, 443, 8080, 9000, 1234, 5353, 30080];
const hex = (n: number) => "0x" + (n >>> 0).toString(16);

interface Chain { name: string; table: Table; hook: Hook; rules: string[]; leaf: boolean }

export interface GeneratedScenario extends Scenario {
  /** Counts of features used, for the suite's coverage summary. */
  features: Set<string>;
}

class Gen {
  readonly r: Rnd;
  readonly chains = new Map<Table, Chain[]>();
  readonly policies = new Map<string, string>();
  readonly features = new Set<string>();
  readonly services: Service[] = [];
  /** vip:port/proto of the services behind random statistic rules. */
  readonly statServices = new Set<string>();
  readonly recentNames: string[];
  readonly statMode: StatisticPlacement;
  private userCount = 0;

  constructor(readonly seed: number, readonly idx: number, readonly stateless = false) {
    this.r = new Rnd(seed);
    const r = this.r;
    this.statMode = r.chance(0.12) ? "all" : r.chance(0.25) ? "nat" : "none";
    // stateless: no rule that needs connection tracking (the kernel then tracks nothing, and walks no nat chain)
    if (stateless) this.statMode = "none";
    this.recentNames = [`R${idx}A`, `R${idx}B`];
    // services: node addresses, a cluster-IP-like range, and a LAN address
    const vips = ["10.0.0.2", "192.168.1.2", "10.96.0.10", "10.96.0.20", "192.168.1.1"];
    for (let i = 0; i < 5; i++) {
      const proto = r.chance(0.7) ? "tcp" : "udp";
      const pod = r.pick(PODS);
      this.services.push({ vip: r.pick(vips), port: r.pick([8080, 80, 53, 9000, 30080, 443]), proto, to: pod.ip, toPort: r.pick([80, 53, 8080, 0]) });
    }
  }

  use(f: string) { this.features.add(f); }

  chainsOf(t: Table): Chain[] {
    let cs = this.chains.get(t);
    if (!cs) { cs = []; this.chains.set(t, cs); }
    return cs;
  }

  newChain(t: Table, hook: Hook): Chain {
    const c: Chain = { name: `C${++this.userCount}-${t.slice(0, 2).toUpperCase()}`, table: t, hook, rules: [], leaf: true };
    this.chainsOf(t).push(c);
    return c;
  }

  generate(): string {
    const r = this.r;
    const policy = (t: Table, c: Hook): string => {
      if (t === "nat") return "ACCEPT";
      if (t === "filter") {
        const p = c === "OUTPUT" ? 0.1 : c === "INPUT" ? 0.3 : 0.4;
        return r.chance(p) ? "DROP" : "ACCEPT";
      }
      if (t === "mangle") return r.chance(0.04) ? "DROP" : "ACCEPT";
      return r.chance(0.02) ? "DROP" : "ACCEPT";
    };
    const out: string[] = [];
    for (const t of ["raw", "mangle", "nat", "filter"] as Table[]) {
      const top: Chain[] = [];
      for (const h of BUILTINS[t]) {
        const c: Chain = { name: h, table: t, hook: h, rules: [], leaf: false };
        const pol = policy(t, h);
        this.policies.set(`${t}/${h}`, pol);
        if (pol === "DROP") this.use(`policy DROP ${t}/${h}`);
        const n = this.stateless && t === "nat" ? 0 : t === "filter" ? r.int(2, 8) : t === "mangle" ? r.int(0, 6) : t === "nat" ? r.int(1, 5) : r.int(0, 3);
        if (t === "filter" && h === "FORWARD" && pol === "DROP" && r.chance(0.8) && !this.stateless) {
          c.rules.push(`-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
        }
        if (t === "nat" && h === "PREROUTING" && !this.stateless) this.natServices(c);
        for (let i = 0; i < n; i++) c.rules.push(this.rule(c, 0));
        if (t === "filter" && h !== "OUTPUT" && pol === "DROP" && r.chance(0.5)) c.rules.push(`-A ${h} -i eth1 -j ACCEPT`);
        top.push(c);
      }
      out.push(`*${t}`);
      for (const c of top) out.push(`:${c.name} ${this.policies.get(`${t}/${c.name}`)} [0:0]`);
      for (const c of this.chainsOf(t)) out.push(`:${c.name} - [0:0]`);
      for (const c of [...top, ...this.chainsOf(t)]) out.push(...c.rules);
      out.push("COMMIT");
    }
    return out.join("\n") + "\n";
  }

  /** DNAT for some services (kube-proxy-like chains with random statistic rules when statMode is "nat"). */
  private natServices(pre: Chain): void {
    const r = this.r;
    for (const s of this.services) {
      if (!r.chance(0.7)) continue;
      const m = `-d ${s.vip}/32 -p ${s.proto} -m ${s.proto} --dport ${s.port}`;
      if (this.statMode === "nat" && r.chance(0.6)) {
        this.use("statistic random (nat)");
        this.statServices.add(`${s.vip}:${s.port}/${s.proto}`);
        const svc = this.newChain("nat", "PREROUTING");
        svc.leaf = false;
        pre.rules.push(`-A PREROUTING ${m} -j ${svc.name}`);
        const eps = r.shuffle([...PODS.map((p) => p.ip), "198.51.100.200", "192.168.1.60"]).slice(0, r.int(2, 4));
        eps.forEach((ep, i) => {
          const sep = this.newChain("nat", "PREROUTING");
          const left = eps.length - i;
          const prob = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : "";
          svc.rules.push(`-A ${svc.name}${prob} -j ${sep.name}`);
          sep.rules.push(`-A ${sep.name} -s ${ep}/32 -j MARK --set-xmark 0x4000/0x4000`);
          sep.rules.push(`-A ${sep.name} -p ${s.proto} -j DNAT --to-destination ${ep}:${s.toPort || s.port}`);
        });
        continue;
      }
      if (r.chance(0.15)) {
        this.use("REDIRECT");
        pre.rules.push(`-A PREROUTING ${m} -j REDIRECT --to-ports ${r.pick([22, 2222, 53])}`);
        continue;
      }
      let to = `${s.to}${s.toPort ? `:${s.toPort}` : ""}`;
      if (r.chance(0.15)) { to = "10.244.0.5-10.244.0.6"; this.use("DNAT address range"); }
      else if (r.chance(0.1)) { to = `${s.to}:8000-8010`; this.use("DNAT port range"); }
      this.use("DNAT");
      pre.rules.push(`-A PREROUTING ${m} -j DNAT --to-destination ${to}`);
    }
  }

  private rule(c: Chain, depth: number): string {
    const r = this.r;
    const t = c.table;
    const h = c.hook;
    const parts: string[] = [];
    let proto: "tcp" | "udp" | "icmp" | undefined;
    let protoInv = false;
    const inv = (p: number) => (r.chance(p) ? "! " : "");
    const addr = () => r.pick(ADDRS);
    if (r.chance(0.3)) { const i = inv(0.25); parts.push(`${i}-s ${addr()}`); if (i) this.use("! -s"); }
    if (r.chance(0.3)) { const i = inv(0.25); parts.push(`${i}-d ${addr()}`); if (i) this.use("! -d"); }
    if (IN_HOOKS.has(h) && r.chance(0.3)) {
      const i = inv(0.2); const n = r.pick(IFACES_IN); parts.push(`${i}-i ${n}`);
      if (i) this.use("! -i"); if (n.endsWith("+")) this.use("-i wildcard");
    }
    if (OUT_HOOKS.has(h) && r.chance(0.3)) {
      const i = inv(0.2); const n = r.pick(IFACES_IN); parts.push(`${i}-o ${n}`);
      if (i) this.use("! -o"); if (n.endsWith("+")) this.use("-o wildcard");
    }
    if (r.chance(0.55)) {
      proto = r.chance(0.5) ? "tcp" : r.chance(0.6) ? "udp" : "icmp";
      protoInv = r.chance(0.1);
      parts.push(`${protoInv ? "! " : ""}-p ${proto}`);
      if (protoInv) this.use("! -p");
    }
    if (proto && !protoInv && proto !== "icmp") {
      const x = r.next();
      const port = () => (r.chance(0.8) ? String(r.pick(PORTS)) : r.pick(["1000:2000", "30000:32767", "50:90", "8000:9000"]));
      if (x < 0.4) {
        const i = inv(0.2); parts.push(`-m ${proto} ${i}--dport ${port()}`); if (i) this.use("! --dport");
        if (r.chance(0.2)) { const j = inv(0.3); parts.push(`${j}--sport ${r.pick(["10000:20000", "1024:65535", "53", "20000:30000"])}`); if (j) this.use("! --sport"); }
      } else if (x < 0.55) {
        const i = inv(0.2); parts.push(`-m ${proto} ${i}--sport ${r.pick(["10000:20000", "1024:65535", "53", "80", "20000:30000"])}`); if (i) this.use("! --sport");
      } else if (x < 0.75) {
        const mode = r.pick(["--dports", "--sports", "--ports"]);
        const list = r.shuffle([...PORTS.map(String), "1000:2000", "30000:32767", "10000:15000"]).slice(0, r.int(1, 5));
        const i = inv(0.2);
        parts.push(`-m multiport ${i}${mode} ${list.join(",")}`);
        this.use(`multiport ${mode}`); if (i) this.use("! multiport");
      }
      if (proto === "tcp" && r.chance(0.2)) {
        const i = inv(0.25);
        const m = parts.length && parts[parts.length - 1].startsWith("-m tcp ") ? parts.pop() + " " : "-m tcp ";
        if (r.chance(0.5)) parts.push(`${m}${i}--syn`);
        else parts.push(`${m}${i}--tcp-flags ${r.pick(["SYN,ACK SYN", "SYN,ACK,FIN,RST ACK", "ALL ACK", "RST RST", "FIN,ACK FIN,ACK", "ALL NONE", "SYN,ACK SYN,ACK"])}`);
        this.use(i ? "! tcp-flags" : "tcp-flags");
      }
    }
    if (proto === "icmp" && !protoInv && r.chance(0.5)) {
      const i = inv(0.2);
      parts.push(`-m icmp ${i}--icmp-type ${r.pick(["echo-request", "echo-reply", "destination-unreachable", "port-unreachable", "time-exceeded", "any", "3/3", "8"])}`);
      this.use("icmp-type");
    }
    if (!this.stateless && (t !== "raw" ? r.chance(0.3) : r.chance(0.08))) {
      const states = r.shuffle(["NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED", "DNAT", "SNAT"]).slice(0, r.int(1, 3));
      const i = inv(0.2);
      if (r.chance(0.25)) parts.push(`-m state ${i}--state ${states.filter((s) => s !== "DNAT" && s !== "SNAT").join(",") || "NEW"}`);
      else parts.push(`-m conntrack ${i}--ctstate ${states.join(",")}`);
      for (const s of states) this.use(`ctstate ${s}`);
      if (i) this.use("! ctstate");
    }
    if (r.chance(0.15)) {
      const i = inv(0.25);
      const m = r.pick(MASKS);
      parts.push(`-m mark ${i}--mark ${hex(r.pick(MARKS) & m)}${r.chance(0.7) ? "/" + hex(m) : ""}`);
      this.use(i ? "! mark" : "mark");
    }
    if (!this.stateless && r.chance(0.1)) {
      const i = inv(0.25);
      const m = r.pick(MASKS);
      parts.push(`-m connmark ${i}--mark ${hex(r.pick(MARKS) & m)}${r.chance(0.7) ? "/" + hex(m) : ""}`);
      this.use(i ? "! connmark" : "connmark");
    }
    if (r.chance(0.14)) {
      const types = ["LOCAL", "UNICAST", "BROADCAST", "MULTICAST", "LOCAL,BROADCAST", "UNREACHABLE"];
      const opts: string[] = [];
      const i1 = inv(0.25);
      const dstFirst = r.chance(0.6);
      opts.push(`${i1}--${dstFirst ? "dst" : "src"}-type ${r.pick(types)}`);
      if (i1) this.use("! addrtype");
      if (r.chance(0.25)) opts.push(`${inv(0.2)}--${dstFirst ? "src" : "dst"}-type ${r.pick(types)}`);
      if (r.chance(0.5)) {
        if (IN_HOOKS.has(h) && !OUT_HOOKS.has(h)) { opts.push("--limit-iface-in"); this.use("addrtype --limit-iface-in"); }
        else if (OUT_HOOKS.has(h) && !IN_HOOKS.has(h)) { opts.push("--limit-iface-out"); this.use("addrtype --limit-iface-out"); }
        else if (h === "FORWARD") { opts.push(r.chance(0.5) ? "--limit-iface-in" : "--limit-iface-out"); this.use("addrtype --limit-iface FORWARD"); }
      }
      parts.push(`-m addrtype ${opts.join(" ")}`);
      this.use("addrtype");
    }
    if (r.chance(0.07)) {
      const i = inv(0.25);
      parts.push(`-m length ${i}--length ${r.pick(["0:60", "40", "61:1500", "28:48", "100:200"])}`);
      this.use("length");
    }
    if (r.chance(0.12)) { parts.push(`-m comment --comment "c ${r.int(1, 999)} rule"`); this.use("comment"); }
    if (r.chance(0.05)) {
      const every = r.int(2, 4);
      const i = inv(0.1);
      parts.push(`-m statistic --mode nth ${i}--every ${every} --packet ${r.int(0, every - 1)}`);
      this.use("statistic nth");
    }
    if (this.statMode === "all" && r.chance(0.12)) {
      const i = inv(0.15);
      parts.push(`-m statistic --mode random ${i}--probability ${r.pick(["0.5", "0.25", "0.75", "0.3333333333"])}`);
      this.use("statistic random");
    }
    if (r.chance(0.07)) {
      const name = r.pick(this.recentNames);
      const side = r.chance(0.3) ? " --rdest" : "";
      if (r.chance(0.45)) parts.push(`-m recent --set --name ${name}${side}`);
      else {
        const i = inv(0.15);
        const extra = r.chance(0.4) ? " --seconds 120" : "";
        const hit = r.chance(0.3) ? " --hitcount 2" : "";
        parts.push(`-m recent ${i}--rcheck${extra}${hit} --name ${name}${side}`);
      }
      this.use("recent");
    }
    if (r.chance(0.04)) { parts.push(`-m limit --limit 1/hour --limit-burst ${r.int(1, 4)}`); this.use("limit"); }
    const target = this.target(c, depth, proto, protoInv);
    return `-A ${c.name}${parts.length ? " " + parts.join(" ") : ""}${target ? " " + target : ""}`;
  }

  private target(c: Chain, depth: number, proto: string | undefined, protoInv: boolean): string {
    const r = this.r;
    const t = c.table;
    const h = c.hook;
    const user = !BUILTINS[t].includes(c.name as Hook);
    const w: [string, number][] = [];
    const add = (k: string, weight: number) => w.push([k, weight]);
    add("none", 1);
    add("ACCEPT", t === "filter" ? 3 : 1);
    if (t !== "nat") add("DROP", t === "filter" ? 2 : 0.3);
    add("RETURN", user ? 1.5 : 0.15);
    if (depth < 4 && this.userCount < 14) add("chain", t === "filter" ? 3 : 1.5);
    add("LOG", 0.4);
    add("MARK", t === "mangle" ? 4 : 0.5);
    if (t !== "raw" && !this.stateless) add("CONNMARK", t === "mangle" ? 3 : 0.4);
    if (t === "raw" && !this.stateless) add("NOTRACK", 1.5);
    if (t === "filter") add("REJECT", 2.5);
    if (t === "nat" && (h === "PREROUTING" || h === "OUTPUT")) add("DNAT", 2.5);
    if (t === "nat" && (h === "POSTROUTING" || h === "INPUT")) add("SNAT", 2.5);
    if (t === "nat" && h === "POSTROUTING") add("MASQUERADE", 2);
    let total = 0;
    for (const [, x] of w) total += x;
    let x = r.next() * total;
    let kind = w[0][0];
    for (const [k, weight] of w) { if ((x -= weight) < 0) { kind = k; break; } }
    switch (kind) {
      case "none": return "";
      case "ACCEPT": case "DROP": case "RETURN": this.use(`-j ${kind}`); return `-j ${kind}`;
      case "LOG": this.use("LOG"); return `-j LOG --log-prefix "np ${c.name} "`;
      case "chain": {
        const goto = r.chance(0.3);
        this.use(goto ? (user ? "-g from user chain" : "-g from built-in chain") : "-j user chain");
        if (depth >= 2) this.use("chains nested 3+ deep");
        const leaves = this.chainsOf(t).filter((x) => x.leaf && x.hook === h && x !== c);
        if (leaves.length && r.chance(0.15)) return `${goto ? "-g" : "-j"} ${r.pick(leaves).name}`;
        const child = this.newChain(t, h);
        c.leaf = false;
        const n = r.int(1, 5);
        for (let i = 0; i < n; i++) child.rules.push(this.rule(child, depth + 1));
        return `${goto ? "-g" : "-j"} ${child.name}`;
      }
      case "MARK": {
        const v = r.pick(MARKS);
        const m = r.pick(MASKS);
        const form = r.int(0, 5);
        this.use(["MARK --set-xmark", "MARK --set-mark", "MARK --set-mark/mask", "MARK --or-mark", "MARK --and-mark", "MARK --xor-mark"][form]);
        return ["-j MARK --set-xmark " + hex(v) + "/" + hex(m), `-j MARK --set-mark ${hex(v)}`, `-j MARK --set-mark ${hex(v)}/${hex(m)}`,
          `-j MARK --or-mark ${hex(v)}`, `-j MARK --and-mark ${hex(m)}`, `-j MARK --xor-mark ${hex(v)}`][form];
      }
      case "CONNMARK": {
        const v = r.pick(MARKS);
        const m = r.pick(MASKS);
        const form = r.int(0, 5);
        this.use(["CONNMARK --set-xmark", "CONNMARK --set-mark", "CONNMARK --save-mark", "CONNMARK --restore-mark", "CONNMARK --save-mark masks", "CONNMARK --restore-mark masks"][form]);
        return [`-j CONNMARK --set-xmark ${hex(v)}/${hex(m)}`, `-j CONNMARK --set-mark ${hex(v)}`, "-j CONNMARK --save-mark", "-j CONNMARK --restore-mark",
          `-j CONNMARK --save-mark --nfmask ${hex(m)} --ctmask ${hex(r.pick(MASKS))}`, `-j CONNMARK --restore-mark ${r.chance(0.5) ? `--mask ${hex(m)}` : `--nfmask ${hex(m)} --ctmask ${hex(r.pick(MASKS))}`}`][form];
      }
      case "NOTRACK": this.use("NOTRACK"); return r.chance(0.5) ? "-j NOTRACK" : "-j CT --notrack";
      case "REJECT": {
        const opts = ["icmp-port-unreachable", "icmp-host-prohibited", "icmp-net-unreachable", "icmp-admin-prohibited", "icmp-host-unreachable", "icmp-proto-unreachable", "icmp-net-prohibited"];
        if (proto === "tcp" && !protoInv) opts.push("tcp-reset", "tcp-reset");
        const w2 = r.chance(0.15) ? "" : r.pick(opts);
        this.use(`REJECT ${w2 || "default"}`);
        return w2 ? `-j REJECT --reject-with ${w2}` : "-j REJECT";
      }
      case "DNAT": {
        const s = r.pick(this.services);
        this.use("DNAT");
        return h === "OUTPUT" && r.chance(0.3) ? `-j REDIRECT${proto === "tcp" || proto === "udp" ? (protoInv ? "" : " --to-ports 2222") : ""}`
          : `-j DNAT --to-destination ${s.to}${s.toPort && (proto === "tcp" || proto === "udp") && !protoInv ? `:${s.toPort}` : ""}`;
      }
      case "SNAT": this.use(`SNAT ${h}`); return `-j SNAT --to-source ${h === "INPUT" ? r.pick(["100.64.0.9", "192.168.1.2"]) : r.pick(["10.0.0.2", "192.168.1.2", "10.0.0.99"])}`;
      case "MASQUERADE": this.use("MASQUERADE"); return "-j MASQUERADE";
    }
    return "";
  }

  /** The scenario's traffic. */
  flows(n: number): Flow[] {
    const r = this.r;
    const ports = new Ports(r);
    const flows: Flow[] = [];
    const dport = () => (r.chance(0.75) ? r.pick(PORTS) : r.int(1000, 2000));
    const serverFor = (c: Peer): string => {
      const opts: string[] = [];
      if (c.iif !== "eth0") opts.push(internetHost(r).ip);
      if (c.iif !== "eth1") opts.push(lanHost(r).ip);
      for (const p of PODS) if (p.ip !== c.ip) opts.push(p.ip);
      return r.pick(opts);
    };
    const tcpVariant = (): TcpVariant => r.pick(["fin", "fin", "fin", "rst", "fin-server", "data-only", "syn-retrans", "oow"] as TcpVariant[]);
    const kinds: [string, number][] = [
      ["fwd-tcp", 5], ["svc", 5], ["fwd-udp", 3], ["udp-icmp-err", 1.5], ["echo", 2], ["echo-ttl", 1], ["input-tcp", 2], ["input-udp", 1.5],
      ["input-echo", 1], ["local-udp", 1.5], ["local-echo", 1], ["local-tcp", 1], ["invalid-tcp", 1.5], ["bcast", 0.3],
    ];
    let total = 0;
    for (const [, w] of kinds) total += w;
    for (let i = 0; i < n; i++) {
      let x = r.next() * total;
      let kind = kinds[0][0];
      for (const [k, w] of kinds) { if ((x -= w) < 0) { kind = k; break; } }
      const client = anyClient(r);
      switch (kind) {
        case "fwd-tcp": flows.push(tcpFlow({ client, dst: serverFor(client), sport: ports.take(), dport: dport(), variant: tcpVariant(), isnC: r.u32(), isnS: r.u32() })); break;
        case "svc": {
          const s = r.pick(this.services);
          if (s.proto === "tcp") flows.push(tcpFlow({ client, dst: s.vip, sport: ports.take(), dport: s.port, variant: tcpVariant(), isnC: r.u32(), isnS: r.u32() }));
          else flows.push(udpFlow({ client, dst: s.vip, sport: ports.take(), dport: s.port, variant: r.chance(0.8) ? "pair" : "icmp-error" }));
          break;
        }
        case "fwd-udp": flows.push(udpFlow({ client, dst: serverFor(client), sport: ports.take(), dport: dport(), variant: "pair" })); break;
        case "udp-icmp-err": flows.push(udpFlow({ client, dst: serverFor(client), sport: ports.take(), dport: dport(), variant: "icmp-error" })); break;
        case "echo": flows.push(echoFlow({ client, dst: serverFor(client), id: ports.take(), variant: "pair" })); break;
        case "echo-ttl": flows.push(echoFlow({ client, dst: serverFor(client), id: ports.take(), variant: "ttl-exceeded", router: r.pick(["10.0.0.1", "192.168.1.254", "203.0.113.250"]) })); break;
        case "input-tcp": flows.push(tcpFlow({ client, dst: r.pick(NODE_ADDRS), sport: ports.take(), dport: dport(), variant: "fin", isnC: r.u32(), isnS: r.u32() })); break;
        case "input-udp": flows.push(udpFlow({ client, dst: r.pick(NODE_ADDRS), sport: ports.take(), dport: dport(), variant: "one" })); break;
        case "input-echo": flows.push(echoFlow({ client, dst: r.pick(NODE_ADDRS), id: ports.take(), variant: "pair" })); break;
        case "local-udp": flows.push(localUdpFlow({ dst: serverFor({ iif: "local", ip: "" }), dport: dport(), ...(r.chance(0.3) ? { mark: r.pick([0x10, 0x11, 0x80]) } : {}) })); break;
        case "local-echo": flows.push(localEchoFlow({ dst: serverFor({ iif: "local", ip: "" }), id: ports.take(), ...(r.chance(0.3) ? { mark: 0x10 } : {}) })); break;
        case "local-tcp": flows.push(localTcpFlow({ dst: serverFor({ iif: "local", ip: "" }), dport: dport(), isnS: r.u32(), ...(r.chance(0.3) ? { mark: 0x10 } : {}) })); break;
        case "invalid-tcp": flows.push(tcpFlow({ client, dst: serverFor(client), sport: ports.take(), dport: dport(), variant: r.pick(["synack-first", "midstream", "oow"] as TcpVariant[]), isnC: r.u32(), isnS: r.u32() })); break;
        case "bcast": {
          const c2 = lanHost(r);
          flows.push(udpFlow({ client: c2, dst: "192.168.1.255", sport: ports.take(), dport: 5353, variant: "one" }));
          break;
        }
      }
    }
    return flows;
  }
}

/** Scenario `idx` of the randomized suite. */
export function generatedScenario(idx: number, baseSeed = 0x5eed): GeneratedScenario {
  const seed = (baseSeed * 1000003 + idx * 7919) >>> 0;
  // #48 and #49: stateless rulesets (no conntrack-using rule at all)
  const stateless = idx >= 48 && idx < 50;
  const g = new Gen(seed, idx, stateless);
  if (stateless) g.use("stateless (no conntrack)");
  const ruleset = g.generate();
  const loose = g.r.chance(0.3) ? "0" : "1";
  if (loose === "0") g.use("tcp_loose=0");
  const nFlows = g.statMode === "all" ? 12 : 34;
  const flows = g.flows(nFlows);
  return {
    name: `random #${idx} (seed ${seed}, statistic ${g.statMode}, loose ${loose}${stateless ? ", stateless" : ""})`,
    ruleset, flows, statistic: g.statMode, sysctl: { "net.netfilter.nf_conntrack_tcp_loose": loose }, features: g.features,
    // only packets arriving for these services can meet the random rules (nat PREROUTING)
    isolate: (p) => p.iif !== "local" && g.statServices.has(`${p.dst}:${p.dport}/${p.proto}`),
  };
}
