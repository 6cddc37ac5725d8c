/**
 * Compiled chain walks (host/netfilter/jit/) against the interpreter
 * (assembly/netfilter/walk.ts): the same engine inputs through an engine
 * with `jit: true` and one with `jit: false` must give the same results,
 * byte for byte: verdicts, drop reasons and deciding rules, rules traversed,
 * matched-rule lists, NAT, conntrack states and entries, replies (REJECT
 * runs the OUTPUT walk from inside the FORWARD or INPUT walk), every rule's
 * and policy's counters, and the SNMP counters.
 *
 * Rulesets: the 50 randomized edge-case rulesets of the kernel differential
 * suite (diff/gen.ts: user chains with -j/-g/RETURN, policies, inversions,
 * marks and connmarks, ctstate, multiport, addrtype, REJECT, NAT,
 * statistic, recent, limit, ...) and kube-proxy + VPC CNI rulesets, on the
 * small node of that suite. Traffic: connections opened from every side
 * (internet, LAN, pods, local processes) to the addresses and ports the
 * ruleset names, answered and continued from the replies the node sent, so
 * walks see NEW, ESTABLISHED and RELATED packets, in both trace modes the
 * compiled walk runs in (off and matched). The kube-proxy rulesets have
 * chains left to the interpreter (long, with an index: KUBE-SERVICES),
 * which compiled walks hand to it.
 *
 * The kernel itself is the referee of the interpreter (differential.test.ts,
 * which runs with compiled walks on, as every engine does by default).
 */
import { describe, expect, it } from "vitest";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import type { PacketInput } from "../../host/packet/input.js";
import type { PacketResult } from "../../host/packet/result.js";
import { renderNodeIptables } from "../../host/k8s/iptables.js";
import { renderKubeProxy } from "../../host/k8s/kube-proxy.js";
import { renderVpcCni } from "../../host/k8s/vpc-cni.js";
import { syntheticCluster } from "../../host/k8s/iptables.js";
import { mulberry32 } from "../../host/util/prng.js";
import { generatedScenario } from "./diff/gen.js";
import { withAllTables } from "./diff/runner.js";

/** diff/node.ts's SMALL_NODE as a snapshot. */
const SMALL_NODE_FILES: Record<string, string> = {
  "ip-link.txt": [
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
    "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether 02:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff",
    "3: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether 02:00:00:00:00:02 brd ff:ff:ff:ff:ff:ff",
    "4: eni0a: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default\\    link/ether 02:00:00:00:00:03 brd ff:ff:ff:ff:ff:ff",
    "5: eni0b: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default\\    link/ether 02:00:00:00:00:04 brd ff:ff:ff:ff:ff:ff",
    "",
  ].join("\n"),
  "ip-addr.txt": [
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
    "2: eth0    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever preferred_lft forever",
    "3: eth1    inet 192.168.1.1/24 brd 192.168.1.255 scope global eth1\\       valid_lft forever preferred_lft forever",
    "3: eth1    inet 192.168.1.2/24 brd 192.168.1.255 scope global secondary eth1\\       valid_lft forever preferred_lft forever",
    "",
  ].join("\n"),
  "ip-route.txt": [
    "default via 192.168.1.254 dev eth1 table 100",
    "default via 10.0.0.1 dev eth0",
    "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.2",
    "10.244.0.5 dev eni0a scope link",
    "10.244.0.6 dev eni0b scope link",
    "192.168.1.0/24 dev eth1 proto kernel scope link src 192.168.1.1",
    "",
  ].join("\n"),
  "ip-rule.txt": "0:\tfrom all lookup local\n100:\tfrom all fwmark 0x10/0x10 lookup 100\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n",
  "sysctl.txt": "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.send_redirects = 0\nnet.ipv4.conf.default.send_redirects = 0\n",
  "meta.txt": "CONFIG_HZ=250\n",
};


/** The small node with its local table (the addresses' local and broadcast routes, as `ip route show table all` lists them). */
const SMALL_NODE_LOCAL: Record<string, string> = {
  ...SMALL_NODE_FILES,
  "ip-route.txt": SMALL_NODE_FILES["ip-route.txt"] + [
    "local 10.0.0.2 dev eth0 table local proto kernel scope host src 10.0.0.2",
    "broadcast 10.0.0.255 dev eth0 table local proto kernel scope link src 10.0.0.2",
    "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1",
    "local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1",
    "local 192.168.1.1 dev eth1 table local proto kernel scope host src 192.168.1.1",
    "local 192.168.1.2 dev eth1 table local proto kernel scope host src 192.168.1.1",
    "broadcast 192.168.1.255 dev eth1 table local proto kernel scope link src 192.168.1.1",
    "",
  ].join("\n"),
};

async function engine(ruleset: string, jit: boolean, trace: "off" | "matched", sysctl: Record<string, string>, files = SMALL_NODE_FILES): Promise<Engine> {
  const snap = parseSnapshotFiles(files, "small node");
  for (const [k, v] of Object.entries(sysctl)) snap.sysctl.set(k, v);
  snap.iptablesSave = ruleset;
  const e = await Engine.create({ seed: 11, jit });
  e.load(snap);
  e.setTrace(trace);
  return e;
}

/** Addresses and ports the ruleset names (where its rules can match), plus the node's and its neighbours'. */
function targets(ruleset: string): { addrs: string[]; ports: number[] } {
  const addrs = new Set(["10.0.0.2", "192.168.1.1", "192.168.1.2", "10.244.0.5", "10.244.0.6", "203.0.113.9", "198.51.100.7", "192.168.1.50", "255.255.255.255", "192.168.1.255"]);
  for (const m of ruleset.matchAll(/(?:-d|--to-destination|--dst-range) (\d+\.\d+\.\d+\.\d+)/g)) addrs.add(m[1]!);
  const ports = new Set([22, 53, 80, 443, 8080]);
  for (const m of ruleset.matchAll(/--(?:dport|dports|to-destination \S+?:|to-ports) (\d+)(?:[,:](\d+))?/g)) {
    ports.add(Number(m[1]));
    if (m[2]) ports.add(Number(m[2]));
  }
  return { addrs: [...addrs], ports: [...ports].filter((p) => p > 0 && p < 65536) };
}

/**
 * The traffic: `n` openers from random sides to random targets, each
 * followed (when the node passed it) by the answer to what left the node and
 * one more packet of the opener's side, in the order a real exchange has.
 */
function* traffic(ruleset: string, seed: number, n: number, to?: { addrs: string[]; ports: number[] }): Generator<PacketInput, void, PacketResult | undefined> {
  const rnd = mulberry32(seed);
  const pick = <T>(a: T[]) => a[Math.floor(rnd() * a.length)]!;
  const { addrs, ports } = to ?? targets(ruleset);
  const sides = [
    () => ({ iif: "eth0", src: `203.0.113.${1 + Math.floor(rnd() * 200)}` }),
    () => ({ iif: "eth1", src: `192.168.1.${10 + Math.floor(rnd() * 80)}` }),
    () => pick([{ iif: "eni0a", src: "10.244.0.5" }, { iif: "eni0b", src: "10.244.0.6" }]),
    () => ({ iif: "local", src: undefined as string | undefined }),
  ];
  let t = 0;
  for (let k = 0; k < n; k++) {
    const side = pick(sides)();
    const kind = rnd();
    const proto: "tcp" | "udp" | "icmp" = kind < 0.6 ? "tcp" : kind < 0.85 ? "udp" : "icmp";
    const base: PacketInput = { iif: side.iif, dst: pick(addrs), proto, t: (t += 0.001) };
    if (side.src) base.src = side.src;
    if (side.iif === "local" && rnd() < 0.3) base.mark = pick([0x10, 0x80, 0x4000, 1]);
    if (proto === "icmp") { base.icmp_type = 8; base.icmp_id = 100 + k; base.icmp_seq = 1; }
    else { base.sport = 30000 + k; base.dport = pick(ports); }
    if (proto === "tcp") { base.flags = "S"; base.seq = 1000; }
    const r = yield base;
    if (!r || (r.verdict !== "forward" && r.verdict !== "local")) continue;
    // the answer, from where the packet went, to where it came from (as translated)
    const back: PacketInput = { iif: r.verdict === "local" ? "local" : r.oif!, src: r.dst, dst: r.src!, proto, t: (t += 0.001) };
    if (proto === "icmp") { back.icmp_type = 0; back.icmp_id = r.icmp_id ?? base.icmp_id; back.icmp_seq = 1; }
    else { back.sport = r.dport; back.dport = r.sport; }
    if (proto === "tcp") { back.flags = "SA"; back.seq = 5000; back.ack = 1001; }
    const r2 = yield back;
    if (!r2 || proto !== "tcp") continue;
    const more: PacketInput = { ...base, flags: rnd() < 0.3 ? "R" : "A", seq: 1001, ack: 5001, t: (t += 0.001) };
    if (side.iif === "local") { more.src = r.src; more.sport = r.sport; }
    yield more;
  }
}

/** Runs the traffic through both engines, comparing as it goes; returns the packets compared. */
function compare(a: Engine, b: Engine, ruleset: string, seed: number, n: number, where: string, to?: { addrs: string[]; ports: number[] }): number {
  const gen = traffic(ruleset, seed, n, to);
  let last: PacketResult | undefined;
  let count = 0;
  for (;;) {
    const it = gen.next(last);
    if (it.done) break;
    const [x] = a.process([it.value]);
    const [y] = b.process([it.value]);
    expect(JSON.stringify(x), `${where}, packet ${count} ${JSON.stringify(it.value)}`).toBe(JSON.stringify(y));
    last = y;
    count++;
  }
  expect(a.iptablesSave(), `${where}: rule counters`).toBe(b.iptablesSave());
  expect(a.counters(), `${where}: SNMP counters`).toEqual(b.counters());
  expect(a.conntrackList(), `${where}: connections`).toBe(b.conntrackList());
  return count;
}

/**
 * Chains too long to compile, walked by the interpreter for a compiled walk,
 * with what can happen inside them: a REJECT, whose ICMP error takes the
 * OUTPUT walk (compiled) while the outer walk is under way; a NOTRACK that
 * changes the state a later compiled `--ctstate` match sees.
 */
const long = (k: number) => `10.98.${k >> 4}.${1 + (k & 15)}`;

function longChainRuleset(): string {
  const raw = ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":LONGRAW - [0:0]",
    "-A PREROUTING -p tcp -j LONGRAW",
    "-A PREROUTING -m conntrack --ctstate UNTRACKED -j ACCEPT",
    "-A PREROUTING -m conntrack --ctstate INVALID -j ACCEPT"];
  for (let k = 0; k < 80; k++) raw.push(`-A LONGRAW -d ${long(k)}/32 -p tcp -m tcp --dport 80 -j ${k % 3 === 0 ? "NOTRACK" : "RETURN"}`);
  raw.push("COMMIT");
  const filter = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]", ":LONG - [0:0]", ":OUT - [0:0]",
    "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A FORWARD -j LONG",
    "-A FORWARD -i eni+ -j ACCEPT",
    "-A INPUT -j LONG",
    "-A OUTPUT -j OUT",
    "-A OUT -p icmp -j ACCEPT",
    "-A OUT -m mark --mark 0x10/0x10 -j DROP"];
  for (let k = 0; k < 80; k++) {
    const how = k % 4 === 0 ? "REJECT --reject-with icmp-port-unreachable" : k % 4 === 1 ? "REJECT --reject-with tcp-reset" : k % 4 === 2 ? "RETURN" : "ACCEPT";
    filter.push(`-A LONG -d ${k < 40 ? long(k) : "10.0.0.2"}/32 -p tcp -m tcp --dport ${k < 40 ? 80 : 8000 + k} -j ${how}`);
  }
  filter.push("COMMIT");
  const nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
    "-A POSTROUTING -o eth0 -j MASQUERADE", "COMMIT"];
  return [...raw, ...nat, ...filter, ""].join("\n");
}

/**
 * Marks carried through connections: CONNMARK set, save and restore with
 * masks that differ (nfmask, ctmask) on connections whose mark is not 0,
 * MARK, and `-m addrtype` with and without --limit-iface-in/out, inverted,
 * on source and destination; the marks decide verdicts.
 */
const MARKS = ["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
  "-A PREROUTING -m conntrack --ctstate NEW -j CONNMARK --set-xmark 0xa5005a/0xff00ff",
  "-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xffff --ctmask 0xff0000",
  "-A PREROUTING -i eth0 -m addrtype --dst-type LOCAL --limit-iface-in -j MARK --set-xmark 0x100/0x300",
  "-A PREROUTING -i eth1 -m addrtype ! --dst-type LOCAL --limit-iface-in -j MARK --set-xmark 0x200/0x300",
  "-A PREROUTING -m addrtype --src-type UNICAST ! --dst-type BROADCAST -j MARK --set-xmark 0x400/0x400",
  "-A PREROUTING -m mark --mark 0xa50000/0xff0000 -j CONNMARK --save-mark --nfmask 0xf0f0f0f --ctmask 0xff0fff",
  "-A FORWARD -j CONNMARK --restore-mark --mask 0xff00",
  "-A OUTPUT -j CONNMARK --set-xmark 0x11/0xff",
  "-A OUTPUT -m addrtype --src-type LOCAL ! --dst-type LOCAL -j MARK --set-xmark 0x2000/0x2000",
  "-A OUTPUT -m addrtype ! --dst-type LOCAL --limit-iface-out -j MARK --set-xmark 0x800/0x800",
  "-A POSTROUTING -m mark --mark 0x400/0x400 -j CONNMARK --save-mark --nfmask 0xffff --ctmask 0xff00",
  "COMMIT",
  "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  "-A FORWARD -m mark --mark 0x200/0x200 -m conntrack --ctstate ESTABLISHED -j DROP",
  "-A INPUT -m mark --mark 0xa5/0xff -p udp -j DROP",
  "-A INPUT -m mark --mark 0x5a/0xff -p tcp --tcp-flags RST RST -j DROP",
  "COMMIT", ""].join("\n");

describe("compiled chain walks = the interpreter", () => {
  it("marks through connections: CONNMARK with different masks, MARK, addrtype", async () => {
    for (const trace of ["off", "matched"] as const) {
      const on = await engine(MARKS, true, trace, {}, SMALL_NODE_LOCAL);
      const off = await engine(MARKS, false, trace, {}, SMALL_NODE_LOCAL);
      const jit = on.ruleset!.stats.jit;
      expect("walks" in jit && jit.walks).toEqual(expect.arrayContaining(["mangle/PREROUTING", "mangle/FORWARD", "mangle/OUTPUT", "mangle/POSTROUTING"]));
      compare(on, off, MARKS, 5, 300, `marks, trace ${trace}`);
      // the rules the comparison is about did match
      const save = on.iptablesSave();
      const matched = (rule: string) => save.split("\n").some((l) => /^\[[1-9]\d*:\d+\] /.test(l) && l.endsWith(rule));
      for (const r of MARKS.split("\n").filter((l) => l.startsWith("-A ") && !l.includes("-j DROP"))) expect(matched(r), r).toBe(true);
      expect(on.conntrackList()).toMatch(/mark=[1-9]/);
    }
  }, 120_000);

  it("chains too long to compile, walked by the interpreter inside compiled walks", async () => {
    const ruleset = longChainRuleset();
    for (const trace of ["off", "matched"] as const) {
      const on = await engine(ruleset, true, trace, {});
      const off = await engine(ruleset, false, trace, {});
      const jit = on.ruleset!.stats.jit;
      expect("walks" in jit && jit.walks).toEqual(expect.arrayContaining(["raw/PREROUTING", "filter/FORWARD", "filter/INPUT", "filter/OUTPUT"]));
      const to = { addrs: [...Array.from({ length: 48 }, (_, k) => long(k)), "10.0.0.2", "192.168.1.1"], ports: [80, 80, 80, 8041, 8042, 8043, 8044, 22] };
      compare(on, off, ruleset, 77, 400, `long chains, trace ${trace}`, to);
      // the traffic met the REJECT and NOTRACK rules of the long chains
      const save = on.iptablesSave();
      expect(save).toMatch(/\[[1-9]\d*:\d+\] -A LONG -d \S+ -p tcp -m tcp --dport 80 -j REJECT/);
      expect(save).toMatch(/\[[1-9]\d*:\d+\] -A PREROUTING -m conntrack --ctstate UNTRACKED -j ACCEPT/);
    }
  }, 120_000);

  it("50 randomized edge-case rulesets, trace off and matched", async () => {
    let compiled = 0, packets = 0;
    for (let i = 0; i < 50; i++) {
      const sc = generatedScenario(i);
      const ruleset = withAllTables(sc.ruleset);
      for (const trace of ["off", "matched"] as const) {
        const on = await engine(ruleset, true, trace, sc.sysctl ?? {});
        const off = await engine(ruleset, false, trace, sc.sysctl ?? {});
        const jit = on.ruleset!.stats.jit;
        if ("walks" in jit) compiled++;
        expect("off" in off.ruleset!.stats.jit).toBe(true);
        packets += compare(on, off, ruleset, 1000 + i, 40, `${sc.name}, trace ${trace}`);
      }
    }
    // the comparison means something only if the walks were compiled
    expect(compiled).toBeGreaterThanOrEqual(90);
    expect(packets).toBeGreaterThan(5000);
  }, 300_000);

  it("kube-proxy + VPC CNI rulesets", async () => {
    for (const [services, seed] of [[20, 1], [120, 2]] as const) {
      const c = syntheticCluster({ services, seed, nodePortShare: 0.4, affinityShare: 0 });
      const ruleset = renderNodeIptables(renderKubeProxy(c.services, c.endpoints, c.kubeProxy), renderVpcCni(c.vpcCni));
      const on = await engine(ruleset, true, "off", {});
      const off = await engine(ruleset, false, "off", {});
      const jit = on.ruleset!.stats.jit;
      // nat PREROUTING too: its KUBE-SERVICES (long, with an index) is walked by the interpreter
      expect("walks" in jit && jit.walks).toEqual(expect.arrayContaining(["filter/FORWARD", "filter/INPUT", "nat/PREROUTING", "nat/OUTPUT"]));
      compare(on, off, ruleset, seed, 300, `${services} services`);
    }
  }, 120_000);
});
