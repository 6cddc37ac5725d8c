/**
 * -m rpfilter (ipt_rpfilter.c): the parser (every option, the tables and
 * hooks the kernel refuses, errors naming file, line and token) and the rule
 * VM on the EKS fixture with extra policy rules: a reverse lookup that
 * differs from the main table (a `from POD` rule, an `iif lo` rule), a
 * fwmark rule only --validmark sees, --loose, --accept-local with the
 * node's own address, the zero-source broadcast case, loopback, an
 * unreachable source. The kernel check is test/pcap/rpfilter-kernel.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { IptRule } from "../../host/model/iptables.js";
import { parseIptablesSave } from "../../host/netfilter/parse.js";
import { Engine } from "../../host/engine.js";
import type { PacketInput } from "../../host/packet/input.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import { eksFixtureFiles } from "../fixtures/eks-fixture.js";
import { expectInputError, table } from "./helpers.js";

const F = "iptables-save.txt";

function one(tbl: string, rule: string, chains: string[] = []): IptRule {
  const rs = parseIptablesSave(table(tbl, chains, [rule]), F);
  return rs.tables[0]!.chains.find((c) => c.name === rule.split(" ")[0])!.rules[0]!;
}

const BUILTINS: Record<string, number> = { raw: 2, mangle: 5, nat: 4, filter: 3 };

/** Parsing the one rule fails at its line, naming `token` (its column checked), with `problem`. */
function bad(tbl: string, rule: string, token: string, problem: RegExp, chains: string[] = []): void {
  const err = expectInputError(() => parseIptablesSave(table(tbl, chains, [rule]), F), F, 2 + BUILTINS[tbl]! + chains.length, token);
  const text = `-A ${rule}`;
  expect(err.text).toBe(text);
  expect(text.slice(err.column! - 1).startsWith(token)).toBe(true);
  expect(err.problem).toMatch(problem);
}

describe("-m rpfilter: parser", () => {
  it("every option, alone and together, in raw and mangle PREROUTING", () => {
    const none = { kind: "rpfilter", loose: false, validmark: false, acceptLocal: false, invert: false };
    expect(one("raw", "PREROUTING -m rpfilter").matches).toEqual([none]);
    expect(one("raw", "PREROUTING -m rpfilter --loose").matches).toEqual([{ ...none, loose: true }]);
    expect(one("mangle", "PREROUTING -m rpfilter --validmark").matches).toEqual([{ ...none, validmark: true }]);
    expect(one("raw", "PREROUTING -m rpfilter --accept-local").matches).toEqual([{ ...none, acceptLocal: true }]);
    expect(one("raw", "PREROUTING -m rpfilter --invert").matches).toEqual([{ ...none, invert: true }]);
    const calico = one("raw", "cali-PREROUTING -m rpfilter --validmark --invert -j DROP", ["cali-PREROUTING"]);
    expect(calico.matches).toEqual([{ ...none, validmark: true, invert: true }]);
    expect(calico.text).toBe("-m rpfilter --validmark --invert -j DROP");
    expect(one("mangle", "PREROUTING -m rpfilter --invert --accept-local --validmark --loose").matches)
      .toEqual([{ kind: "rpfilter", loose: true, validmark: true, acceptLocal: true, invert: true }]);
  });

  it("refused: other tables, other hooks (also through a user chain), ! before an option, repeats, unknown options", () => {
    bad("filter", "INPUT -m rpfilter", "rpfilter", /only valid in the raw or mangle table \(not filter\)/);
    bad("nat", "PREROUTING -m rpfilter --loose", "rpfilter", /not nat/);
    bad("raw", "OUTPUT -m rpfilter", "rpfilter", /match rpfilter is not allowed in OUTPUT; it is valid in PREROUTING/);
    bad("mangle", "FORWARD -m rpfilter --invert -j DROP", "rpfilter", /not allowed in FORWARD/);
    bad("mangle", "INPUT -m rpfilter", "rpfilter", /not allowed in INPUT/);
    bad("raw", "PREROUTING -m rpfilter ! --loose", "!", /"!" cannot precede --loose/);
    bad("raw", "PREROUTING -m rpfilter --loose --loose", "--loose", /given twice/);
    bad("raw", "PREROUTING -m rpfilter --strict", "--strict", /unknown option/);
    // a user chain: refused when OUTPUT reaches it, accepted when only PREROUTING does or nothing does
    const t = table("raw", ["X"], ["PREROUTING -j X", "OUTPUT -j X", "X -m rpfilter --validmark --invert -j DROP"]);
    const e = expectInputError(() => parseIptablesSave(t, F), F, 7, "rpfilter");
    expect(e.problem).toMatch(/chain X is reached from OUTPUT/);
    expect(() => parseIptablesSave(table("raw", ["X"], ["PREROUTING -j X", "X -m rpfilter -j DROP"]), F)).not.toThrow();
    expect(() => one("mangle", "X -m rpfilter", ["X"])).not.toThrow();
    // past an unconditional verdict the kernel's walk never reaches the rule: no hook to refuse
    expect(() => parseIptablesSave(table("raw", [], ["OUTPUT -j ACCEPT", "OUTPUT -m rpfilter"]), F)).not.toThrow();
  });
});

/*
 * The fixture (eth0 10.0.0.10/24 default via 10.0.0.1; eth1 10.0.1.20/24;
 * `1536: from 10.0.1.33 lookup 2`, table 2 default via eth1) plus: an `iif
 * lo` rule sending 203.0.113.0/24 to eth1 (only a lookup "arriving" on lo,
 * like rpfilter's, takes it), a fwmark rule (mark 0x1 -> table 101, default
 * via eth1), an unreachable route for 198.18.0.0/15, and routes printed
 * "dead linkdown": linkdown on eth1 (ignore_routes_with_linkdown), dead on
 * the pod device eni1f3a2b4c5d6.
 */
async function engine(rules: string): Promise<Engine> {
  const files = eksFixtureFiles();
  files["ip-rule.txt"] = files["ip-rule.txt"]!.replace("512:", "100:\tfrom all to 203.0.113.0/24 iif lo lookup 100\n200:\tfrom all fwmark 0x1 lookup 101\n512:");
  files["ip-route.txt"] = [
    "203.0.113.0/24 dev eth1 table 100 scope link ",
    "default via 10.0.1.1 dev eth1 table 101 ",
    "unreachable 198.18.0.0/15 ",
    // as `ip route` prints a linkdown nexthop on a device that ignores routes with linkdown
    // (fib_nexthop_info adds RTNH_F_DEAD to the dump), and a dead one elsewhere
    "192.0.2.0/24 dev eth1 scope link dead linkdown ",
    "192.0.3.0/24 dev eni1f3a2b4c5d6 scope link dead linkdown ",
    files["ip-route.txt"]!,
  ].join("\n");
  files["sysctl.txt"] = files["sysctl.txt"]!.replace("net.ipv4.conf.eth1.ignore_routes_with_linkdown = 0", "net.ipv4.conf.eth1.ignore_routes_with_linkdown = 1");
  const snap = parseSnapshotFiles(files, "eks-node-rpfilter");
  const e = await Engine.create({ seed: 1 });
  e.load(snap, { hz: snap.hz });
  e.loadRuleset(rules, "rules");
  return e;
}

const RULES = [
  "-m rpfilter",
  "-m rpfilter --loose",
  "-m rpfilter --validmark",
  "-m rpfilter --accept-local",
  "-m rpfilter --loose --accept-local",
  "-m rpfilter --invert",
  "-m rpfilter --validmark --invert",
];
const RAW = ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...RULES.map((r) => `-A PREROUTING ${r}`), "COMMIT", ""].join("\n");

/** Which of RULES match each packet alone (1 = matched), from the rule counters. */
async function matched(pkts: PacketInput[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of pkts) {
    const e = await engine(RAW);
    e.process([p]);
    const counts = e.iptablesSave().split("\n").filter((l) => l.includes("-A PREROUTING ")).map((l) => /^\[(\d+):/.exec(l)![1]);
    out.push(counts.join(""));
  }
  return out;
}

describe("-m rpfilter: the rule VM (rpfilter_mt)", () => {
  it("strict, loose, validmark, accept-local and invert over policy routing", async () => {
    const udp = (iif: string, src: string, dst: string, o: Partial<PacketInput> = {}): PacketInput =>
      ({ iif, src, dst, proto: "udp", sport: 1000, dport: 2000, ...o });
    //                      strict loose validmark accept-local loose+local invert validmark+invert
    expect(await matched([
      udp("eth0", "8.8.8.8", "10.0.0.10"), // the main table's default route leaves by eth0
      udp("eth1", "8.8.8.8", "10.0.0.10"), // ... not by eth1: only --loose
      udp("eth1", "8.8.8.8", "10.0.1.33"), // reverse flow from the pod: `from 10.0.1.33 lookup 2`, eth1
      udp("eth0", "8.8.8.8", "10.0.1.33"), // ... so not through eth0
      udp("eth1", "203.0.113.5", "10.0.0.10"), // the `iif lo` rule: eth1
      udp("eth0", "203.0.113.5", "10.0.0.10"),
      udp("eth1", "8.8.8.8", "10.0.0.10", { mark: 1 }), // only --validmark takes the fwmark rule (eth1)
      udp("eth0", "8.8.8.8", "10.0.0.10", { mark: 1 }),
      udp("eth0", "10.0.0.10", "10.0.0.10"), // a local source: RTN_LOCAL (dev eth0)
      udp("eth1", "10.0.0.10", "10.0.0.10"), // ... arriving on eth1: only with --loose too
      udp("eth0", "198.18.0.1", "10.0.0.10"), // no route back: even --loose fails
      udp("eth0", "0.0.0.0", "255.255.255.255"), // zero source to broadcast: matches before any lookup
      udp("eth1", "0.0.0.0", "224.0.0.9"), // ... to a local multicast group
      udp("eth1", "192.0.2.5", "10.0.0.10"), // a linkdown route: FIB_LOOKUP_IGNORE_LINKSTATE takes it
      udp("eni1f3a2b4c5d6", "192.0.3.5", "10.0.0.10"), // a dead one: no lookup takes it (the default route: eth0)
    ])).toEqual([
      "1111100",
      "0100111",
      "1111100",
      "0100111",
      "1111100",
      "0100111",
      "0110110",
      "1101101",
      "0001111",
      "0000111",
      "0000011",
      "1111100",
      "1111100",
      "1111100",
      "0100111",
    ]);
  });

  it("loopback: the node's own packets arrive on lo and always match (inverted: never)", async () => {
    const e = await engine(RAW);
    const r = e.process([{ iif: "local", src: "10.0.0.10", dst: "10.0.0.10", proto: "udp", sport: 1, dport: 2 }]);
    expect(r[0]!.verdict).toBe("local");
    // the closed port's ICMP error to the node itself loops back on lo too: two packets
    expect(r[0]!.replies.map((q) => q.icmp_type)).toEqual([3]);
    const counts = e.iptablesSave().split("\n").filter((l) => l.includes("-A PREROUTING ")).map((l) => /^\[(\d+):/.exec(l)![1]).join("");
    expect(counts).toBe("2222200");
  });

  it("Calico's raw rule drops what fails the strict check and keeps the rest", async () => {
    const e = await engine(["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":cali-PREROUTING - [0:0]",
      "-A PREROUTING -j cali-PREROUTING", "-A cali-PREROUTING -m rpfilter --validmark --invert -j DROP", "COMMIT", ""].join("\n"));
    const r = e.process([
      { iif: "eth1", src: "8.8.8.8", dst: "10.0.0.10", proto: "udp", sport: 1, dport: 2 },
      { iif: "eth0", src: "8.8.8.8", dst: "10.0.0.10", proto: "udp", sport: 1, dport: 2 },
    ]);
    expect(r[0]!.verdict).toBe("drop");
    expect(r[0]!.nf_verdict).toBe("-t raw -A cali-PREROUTING -m rpfilter --validmark --invert -j DROP");
    expect(r[1]!.nf_verdict).toBeUndefined();
  });
});
