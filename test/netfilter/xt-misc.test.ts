/**
 * -m pkttype, -m iprange, -m ttl, -m tos, -m dscp, -m ecn: the parser (the
 * forms iptables-save prints and the restore-input spellings, errors naming
 * file, line and token, printing back) and the rule VM per packet on the EKS
 * fixture (JSONL packets, including `pkt_type` broadcast vs multicast). The
 * kernel check is test/pcap/xt-misc-kernel.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { IptRule } from "../../host/model/iptables.js";
import { parseIptablesSave } from "../../host/netfilter/parse.js";
import { printIptablesSave } from "../../host/netfilter/print.js";
import { Engine } from "../../host/engine.js";
import type { PacketInput } from "../../host/packet/input.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import { eksFixtureFiles } from "../fixtures/eks-fixture.js";
import { expectInputError, table } from "./helpers.js";
import { packetInputFromBytes } from "../../host/packet/wire.js";
import { ipv4Bytes } from "../pcap/helpers.js";

const F = "iptables-save.txt";
const BUILTINS: Record<string, number> = { raw: 2, mangle: 5, nat: 4, filter: 3 };

function one(tbl: string, rule: string): IptRule {
  const rs = parseIptablesSave(table(tbl, [], [rule]), F);
  return rs.tables[0]!.chains.find((c) => c.name === rule.split(" ")[0])!.rules[0]!;
}

function bad(tbl: string, rule: string, token: string, problem: RegExp): void {
  const err = expectInputError(() => parseIptablesSave(table(tbl, [], [rule]), F), F, 2 + BUILTINS[tbl]!, token);
  const text = `-A ${rule}`;
  expect(err.text).toBe(text);
  expect(text.slice(err.column! - 1).startsWith(token)).toBe(true);
  expect(err.problem).toMatch(problem);
}

/** iptables-legacy-save 1.8.9 output for these matches (recorded from the kernel). */
const SAVED = [
  "INPUT -m pkttype --pkt-type multicast -j ACCEPT",
  "INPUT -m pkttype ! --pkt-type broadcast",
  "INPUT -m pkttype --pkt-type unicast -m pkttype --pkt-type otherhost",
  "INPUT -m iprange --src-range 10.0.0.1-10.0.0.5 ! --dst-range 10.1.0.0-10.2.0.0",
  "INPUT -m iprange --dst-range 10.0.0.9-10.0.0.1",
  "INPUT -m ttl --ttl-lt 5 -m ttl ! --ttl-eq 3 -m ttl --ttl-gt 2",
  "INPUT -m tos --tos 0x10/0x3f -m tos ! --tos 0x10/0xff -m dscp --dscp 0x22 -m dscp ! --dscp 0x03",
  "INPUT -p tcp -m ecn ! --ecn-tcp-ece --ecn-tcp-cwr --ecn-ip-ect 2",
  "INPUT -m ecn ! --ecn-ip-ect 1",
  "INPUT -p tcp -m tcpmss --mss 1460",
  "INPUT -p tcp -m tcpmss ! --mss 1000:1500",
];

describe("pkttype, iprange, ttl, tos, dscp, ecn: parser", () => {
  it("the saved forms parse into the kernel's values and print back byte for byte", () => {
    const text = table("filter", [], SAVED);
    const rs = parseIptablesSave(text, F);
    expect(printIptablesSave(rs, undefined, undefined, { withCounters: false })).toBe(text);
    const m = rs.tables[0]!.chains[0]!.rules.map((r) => r.matches);
    expect(m[0]).toEqual([{ kind: "pkttype", type: 2, inv: false }]);
    expect(m[1]).toEqual([{ kind: "pkttype", type: 1, inv: true }]);
    expect(m[2]).toEqual([{ kind: "pkttype", type: 0, inv: false }, { kind: "pkttype", type: 3, inv: false }]);
    expect(m[3]).toEqual([{ kind: "iprange", src: { min: 0x0a000001, max: 0x0a000005, inv: false }, dst: { min: 0x0a010000, max: 0x0a020000, inv: true } }]);
    expect(m[4]).toEqual([{ kind: "iprange", dst: { min: 0x0a000009, max: 0x0a000001, inv: false } }]);
    expect(m[5]).toEqual([{ kind: "ttl", mode: "lt", ttl: 5 }, { kind: "ttl", mode: "ne", ttl: 3 }, { kind: "ttl", mode: "gt", ttl: 2 }]);
    expect(m[6]).toEqual([
      { kind: "tos", value: 0x10, mask: 0x3f, inv: false }, { kind: "tos", value: 0x10, mask: 0xff, inv: true },
      { kind: "dscp", dscp: 0x22, inv: false }, { kind: "dscp", dscp: 3, inv: true },
    ]);
    expect(m[7]).toEqual([{ kind: "ecn", ece: { inv: true }, cwr: { inv: false }, ect: { value: 2, inv: false } }]);
    expect(m[8]).toEqual([{ kind: "ecn", ect: { value: 1, inv: true } }]);
    expect(m[9]).toEqual([{ kind: "tcpmss", range: { lo: 1460, hi: 1460, inv: false } }]);
    expect(m[10]).toEqual([{ kind: "tcpmss", range: { lo: 1000, hi: 1500, inv: true } }]);
  });

  it("restore-input spellings take the values iptables stores", () => {
    expect(one("filter", "INPUT -m pkttype --pkt-type host").matches).toEqual([{ kind: "pkttype", type: 0, inv: false }]);
    expect(one("filter", "INPUT -m pkttype --pkt-type Broadcast").matches).toEqual([{ kind: "pkttype", type: 1, inv: false }]);
    expect(one("filter", "INPUT -m iprange --src-range 10.0.0.9").matches).toEqual([{ kind: "iprange", src: { min: 0x0a000009, max: 0x0a000009, inv: false } }]);
    expect(one("filter", "INPUT -m tos --tos Minimize-Delay").matches).toEqual([{ kind: "tos", value: 0x10, mask: 0x3f, inv: false }]);
    expect(one("filter", "INPUT -m tos --tos minimize-cost").matches).toEqual([{ kind: "tos", value: 0x02, mask: 0x3f, inv: false }]);
    expect(one("filter", "INPUT -m tos --tos 0x10").matches).toEqual([{ kind: "tos", value: 0x10, mask: 0xff, inv: false }]);
    expect(one("filter", "INPUT -m dscp --dscp-class af41").matches).toEqual([{ kind: "dscp", dscp: 0x22, inv: false }]);
    expect(one("filter", "INPUT -m dscp ! --dscp-class EF").matches).toEqual([{ kind: "dscp", dscp: 0x2e, inv: true }]);
    expect(one("filter", "INPUT -p tcp -m tcpmss --mss :1000").matches).toEqual([{ kind: "tcpmss", range: { lo: 0, hi: 1000, inv: false } }]);
    expect(one("filter", "INPUT -p tcp -m tcpmss --mss 1000:").matches).toEqual([{ kind: "tcpmss", range: { lo: 1000, hi: 65535, inv: false } }]);
    expect(one("filter", "INPUT -m ttl --ttl-eq 0x10").matches).toEqual([{ kind: "ttl", mode: "eq", ttl: 16 }]);
  });

  it("refused with file, line and token", () => {
    bad("filter", "INPUT -m pkttype --pkt-type loopback", "loopback", /bad packet type "loopback"/);
    bad("filter", "INPUT -m pkttype --pkt-type 3", "3", /bad packet type/);
    bad("filter", "INPUT -m pkttype", "pkttype", /--pkt-type is required/);
    bad("filter", "INPUT -m iprange", "iprange", /--src-range or --dst-range is required/);
    bad("filter", "INPUT -m iprange --src-range 10.0.0.1/8", "10.0.0.1/8", /invalid address range/);
    bad("filter", "INPUT -m iprange --src-range 10.0.0.1-10.0.0.2 --src-range 10.0.0.3", "--src-range", /given twice/);
    bad("filter", "INPUT -m ttl ! --ttl-lt 3", "!", /"!" cannot precede --ttl-lt/);
    bad("filter", "INPUT -m ttl --ttl-eq 3 --ttl-lt 5", "--ttl-lt", /only one of/);
    bad("filter", "INPUT -m ttl --ttl-eq 256", "256", /invalid TTL "256"/);
    bad("filter", "INPUT -m ttl", "ttl", /is required/);
    bad("filter", "INPUT -m tos --tos 0x1ff", "0x1ff", /invalid TOS/);
    bad("filter", "INPUT -m tos --tos 0x10/0x1ff", "0x10/0x1ff", /invalid TOS/);
    bad("filter", "INPUT -m tos --tos 7/", "7/", /invalid TOS/);
    bad("filter", "INPUT -m dscp --dscp 64", "64", /invalid DSCP/);
    bad("filter", "INPUT -m dscp --dscp 3 --dscp-class EF", "--dscp-class", /cannot be used together/);
    bad("filter", "INPUT -m dscp --dscp-class AF44", "AF44", /unknown DSCP class/);
    bad("filter", "INPUT -m ecn", "ecn", /is required/);
    bad("filter", "INPUT -m ecn --ecn-ip-ect 4", "4", /invalid ECT codepoint/);
    bad("filter", "INPUT -m ecn --ecn-ip-ect 1 --ecn-ip-ect 2", "--ecn-ip-ect", /given twice/);
    bad("filter", "INPUT -m ecn --ecn-tcp-cwr", "ecn", /need -p tcp/);
    bad("filter", "INPUT -p udp -m ecn --ecn-tcp-ece", "ecn", /need -p tcp/);
    bad("filter", "INPUT ! -p tcp -m ecn --ecn-tcp-ece", "ecn", /need -p tcp/);
    bad("filter", "INPUT -m tcpmss --mss 5", "tcpmss", /only valid with -p tcp/);
    bad("filter", "INPUT ! -p tcp -m tcpmss --mss 5", "tcpmss", /only valid with -p tcp/);
    bad("filter", "INPUT -p tcp -m tcpmss", "tcpmss", /--mss is required/);
    bad("filter", "INPUT -p tcp -m tcpmss --mss 1500:1000", "1500:1000", /min > max/);
    bad("filter", "INPUT -p tcp -m tcpmss --mss 70000", "70000", /invalid MSS range/);
  });
});

async function engine(rules: string): Promise<Engine> {
  const snap = parseSnapshotFiles(eksFixtureFiles(), "eks-node-xt-misc");
  const e = await Engine.create({ seed: 1 });
  e.load(snap, { hz: snap.hz });
  e.loadRuleset(rules, "rules");
  return e;
}

/** Which of `rules` (each alone in mangle PREROUTING) each packet matches, one string of 0/1 per packet. */
async function matched(rules: string[], pkts: PacketInput[]): Promise<string[]> {
  const text = ["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]", ...rules.map((r) => `-A PREROUTING ${r}`), "COMMIT", ""].join("\n");
  const out: string[] = [];
  for (const p of pkts) {
    const e = await engine(text);
    e.process([p]);
    out.push(e.iptablesSave().split("\n").filter((l) => l.includes("-A PREROUTING ")).map((l) => /^\[(\d+):/.exec(l)![1]).join(""));
  }
  return out;
}

const udp = (o: Partial<PacketInput> = {}): PacketInput =>
  ({ iif: "eth0", src: "8.8.8.8", dst: "10.0.0.10", proto: "udp", sport: 1000, dport: 2000, ...o });

describe("pkttype, iprange, ttl, tos, dscp, ecn: the rule VM", () => {
  it("pkttype: host, broadcast, multicast and otherhost are told apart (JSONL pkt_type)", async () => {
    const rules = ["-m pkttype --pkt-type unicast", "-m pkttype --pkt-type broadcast", "-m pkttype --pkt-type multicast",
      "-m pkttype ! --pkt-type unicast", "-m pkttype ! --pkt-type multicast"];
    expect(await matched(rules, [
      udp(),
      udp({ pkt_type: "broadcast", dst: "10.0.0.255" }),
      udp({ pkt_type: "multicast", dst: "224.0.0.9" }),
      // a multicast IP destination in a unicast frame is still PACKET_HOST (only loopback copies look at the address)
      udp({ dst: "224.0.0.9" }),
    ])).toEqual(["10001", "01011", "00110", "10001"]);
  });

  it("iprange: inclusive host-order bounds, inversions, a reversed range", async () => {
    const rules = ["-m iprange --src-range 8.8.8.0-8.8.8.8", "-m iprange ! --src-range 8.8.8.0-8.8.8.8",
      "-m iprange --src-range 8.8.8.9-8.8.8.1", "-m iprange ! --src-range 8.8.8.9-8.8.8.1",
      "-m iprange --src-range 1.0.0.0-9.0.0.0 --dst-range 10.0.0.10", "-m iprange --src-range 1.0.0.0-9.0.0.0 ! --dst-range 10.0.0.10"];
    expect(await matched(rules, [udp(), udp({ src: "8.8.8.9" }), udp({ src: "8.8.7.255" }), udp({ src: "200.0.0.1" })]))
      .toEqual(["100110", "010110", "010110", "010100"]);
  });

  it("ttl: eq, ne, lt, gt", async () => {
    const rules = ["-m ttl --ttl-eq 5", "-m ttl ! --ttl-eq 5", "-m ttl --ttl-lt 5", "-m ttl --ttl-gt 5"];
    expect(await matched(rules, [udp({ ttl: 4 }), udp({ ttl: 5 }), udp({ ttl: 6 })])).toEqual(["0110", "1000", "0101"]);
  });

  it("tos, dscp, ecn on the TOS byte and the TCP ECE/CWR bits", async () => {
    const rules = ["-m tos --tos 0x10/0x3f", "-m tos ! --tos 0x10", "-m dscp --dscp 0x2e", "-m dscp ! --dscp-class EF",
      "-m ecn --ecn-ip-ect 3", "-m ecn ! --ecn-ip-ect 0", "-p tcp -m ecn --ecn-tcp-ece", "-p tcp -m ecn ! --ecn-tcp-cwr --ecn-tcp-ece"];
    const tcp = (flags: string, tos: number): PacketInput =>
      ({ iif: "eth0", src: "8.8.8.8", dst: "10.0.0.10", proto: "tcp", sport: 1000, dport: 2000, flags, tos });
    expect(await matched(rules, [
      udp({ tos: 0x10 }), // Minimize-Delay: tos with mask 0x3f and exact
      udp({ tos: 0x50 }), // 0x10 under 0x3f, not exactly 0x10
      udp({ tos: 0x13 }), // ECT 3, not 0x10 under 0x3f
      udp({ tos: 0xb8 }), // EF, not ECT
      udp({ tos: 0xba }), // EF with ECT(0)
      tcp("SEC", 0), // ECE and CWR
      tcp("SE", 1), // ECE only
      tcp("S", 0),
    ])).toEqual(["10010000", "11010000", "01011100", "01100000", "01100100", "01010010", "01010111", "01010000"]);
  });
});

/** A TCP segment (the IPv4 header checksum right; the TCP one is not verified here) with options `opts`. */
function tcpBytes(flags: number, opts: number[]): Uint8Array {
  const doff = 5 + opts.length / 4;
  return ipv4Bytes("8.8.8.8", "10.0.0.10", 6, [0x13, 0x88, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, doff << 4, flags, 0x20, 0, 0, 0, 0, 0, ...opts]);
}

describe("-m tcpmss", () => {
  it("the decoder walks the options as tcpmss_mt does (past EOL, zero lengths step one byte, first fitting MSS)", () => {
    const mss = (opts: number[]) => packetInputFromBytes(tcpBytes(2, opts), 0, 20 + 20 + opts.length, "eth0", 0, 20 + 20 + opts.length, false).mss;
    expect(mss([2, 4, 5, 0xb4])).toBe(1460);
    expect(mss([0, 0, 0, 0, 2, 4, 4, 0])).toBe(1024); // after EOL
    expect(mss([1, 1, 2, 4, 5, 0xdc, 0, 0])).toBe(1500);
    expect(mss([2, 5, 5, 0xb4, 0, 0, 0, 0])).toBeUndefined(); // wrong length: skipped by it
    expect(mss([3, 3, 7, 1, 2, 4, 1, 0])).toBe(256);
    expect(mss([3, 0, 2, 4, 1, 0, 0, 0])).toBe(256); // a zero length steps one byte
    expect(mss([1, 1, 1, 2])).toBeUndefined(); // does not fit
    expect(mss([])).toBeUndefined();
  });

  it("the rule VM: the value in range, inversion, no MSS option, other protocols", async () => {
    const rules = ["-p tcp -m tcpmss --mss 1460", "-p tcp -m tcpmss ! --mss 1000:1500", "-p tcp -m tcpmss --mss 0:600", "-p tcp -m tcpmss ! --mss 0:65535"];
    const tcp = (o: Partial<PacketInput>): PacketInput =>
      ({ iif: "eth0", src: "8.8.8.8", dst: "10.0.0.10", proto: "tcp", sport: 1000, dport: 2000, flags: "S", ...o });
    expect(await matched(rules, [
      tcp({ mss: 1460 }), tcp({ mss: 536 }), tcp({ mss: 1500, flags: "A" }), tcp({}), tcp({ wscale: 7 }), udp(),
    ])).toEqual(["1000", "0110", "0000", "0101", "0101", "0000"]);
  });
});

describe("-j TTL, TOS, DSCP, CLASSIFY", () => {
  const SAVED_T = [
    "PREROUTING -j TTL --ttl-set 5",
    "PREROUTING -j DSCP --set-dscp 0x2e",
    "PREROUTING -j TOS --set-tos 0x10/0xff",
    "PREROUTING -j TOS --set-tos 0x00/0xf0",
    "PREROUTING -j TOS --set-tos 0x04/0x04",
    "PREROUTING -j TOS --set-tos 0x08/0x00",
    "FORWARD -j TTL --ttl-dec 1",
    "POSTROUTING -j TTL --ttl-inc 3",
    "POSTROUTING -j CLASSIFY --set-class 0001:0010",
  ];

  it("the saved forms (iptables-legacy-save 1.8.9) parse and print back; restore spellings take the stored values", () => {
    const text = table("mangle", [], SAVED_T);
    const rs = parseIptablesSave(text, F);
    expect(printIptablesSave(rs, undefined, undefined, { withCounters: false })).toBe(text);
    const t = rs.tables[0]!.chains.flatMap((c) => c.rules).map((r) => r.target);
    expect(t).toEqual([
      { kind: "TTL", mode: "set", value: 5 }, { kind: "DSCP", dscp: 0x2e },
      { kind: "TOS", value: 0x10, mask: 0xff }, { kind: "TOS", value: 0, mask: 0xf0 }, { kind: "TOS", value: 4, mask: 4 },
      { kind: "TOS", value: 8, mask: 0 }, { kind: "TTL", mode: "dec", value: 1 }, { kind: "TTL", mode: "inc", value: 3 },
      { kind: "CLASSIFY", priority: 0x10010 },
    ]);
    const tgt = (r: string) => one("mangle", r).target;
    expect(tgt("PREROUTING -j TTL --ttl-set 5")).toEqual({ kind: "TTL", mode: "set", value: 5 });
    expect(tgt("FORWARD -j TTL --ttl-dec 1")).toEqual({ kind: "TTL", mode: "dec", value: 1 });
    expect(tgt("PREROUTING -j DSCP --set-dscp-class af41")).toEqual({ kind: "DSCP", dscp: 0x22 });
    expect(tgt("PREROUTING -j TOS --set-tos Minimize-Delay")).toEqual({ kind: "TOS", value: 0x10, mask: 0x3f });
    expect(tgt("PREROUTING -j TOS --and-tos 0x0f")).toEqual({ kind: "TOS", value: 0, mask: 0xf0 });
    expect(tgt("PREROUTING -j TOS --or-tos 0x04")).toEqual({ kind: "TOS", value: 4, mask: 4 });
    expect(tgt("PREROUTING -j TOS --xor-tos 0x08")).toEqual({ kind: "TOS", value: 8, mask: 0 });
    expect(tgt("OUTPUT -j CLASSIFY --set-class ffff:ffff")).toEqual({ kind: "CLASSIFY", priority: 0xffffffff });
    // TC_H_MAKE keeps 16 bits of the major: 10000:1 is 0000:0001, as iptables-save prints it
    expect(tgt("FORWARD -j CLASSIFY --set-class 10000:1")).toEqual({ kind: "CLASSIFY", priority: 1 });
    expect(one("filter", "OUTPUT -j CLASSIFY --set-class 1:10").target).toEqual({ kind: "CLASSIFY", priority: 0x10010 });
    // TCPMSS, as iptables-legacy-save prints it, and restore spellings (--syn, SYN SYN), any table
    expect(tgt("FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1400")).toEqual({ kind: "TCPMSS", mss: 1400 });
    expect(tgt("PREROUTING -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j TCPMSS --set-mss 1400")).toEqual({ kind: "TCPMSS", mss: 1400 });
    expect(one("filter", "INPUT -p tcp --syn -j TCPMSS --set-mss 1000").target).toEqual({ kind: "TCPMSS", mss: 1000 });
    expect(tgt("FORWARD -p tcp --tcp-flags SYN SYN -j TCPMSS --set-mss 0")).toEqual({ kind: "TCPMSS", mss: 0 });
    // --clamp-mss-to-pmtu: in chains reached from FORWARD, OUTPUT and POSTROUTING only, any table
    expect(tgt("FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu")).toEqual({ kind: "TCPMSS", mss: "pmtu" });
    expect(tgt("POSTROUTING -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu")).toEqual({ kind: "TCPMSS", mss: "pmtu" });
    expect(one("filter", "OUTPUT -p tcp --syn -j TCPMSS --clamp-mss-to-pmtu").target).toEqual({ kind: "TCPMSS", mss: "pmtu" });
    const clamp = parseIptablesSave(table("mangle", ["CLAMP"], ["FORWARD -j CLAMP", "OUTPUT -j CLAMP", "CLAMP -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu"]), F);
    expect(clamp.tables[0]!.chains.find((c) => c.name === "CLAMP")!.rules[0]!.target).toEqual({ kind: "TCPMSS", mss: "pmtu" });
  });

  it("refused as iptables and the kernel refuse them, naming line and token", () => {
    bad("filter", "INPUT -j TTL --ttl-set 5", "TTL", /only valid in the mangle table/);
    bad("filter", "INPUT -j DSCP --set-dscp 1", "DSCP", /only valid in the mangle table/);
    bad("nat", "PREROUTING -j TOS --set-tos 1", "TOS", /only valid in the mangle table/);
    bad("mangle", "PREROUTING -j CLASSIFY --set-class 1:10", "CLASSIFY", /not allowed in PREROUTING/);
    bad("mangle", "PREROUTING -j TTL --ttl-dec 0", "0", /invalid TTL value "0" \(a number 1\.\.255\)/);
    bad("mangle", "PREROUTING -j TTL --ttl-set 256", "256", /invalid TTL value/);
    bad("mangle", "PREROUTING -j TTL", "TTL", /is required/);
    bad("mangle", "PREROUTING -j TTL --ttl-set 1 --ttl-inc 1", "--ttl-inc", /only one of/);
    bad("mangle", "PREROUTING -j DSCP --set-dscp 64", "64", /invalid DSCP/);
    bad("mangle", "PREROUTING -j DSCP", "DSCP", /is required/);
    bad("mangle", "PREROUTING -j DSCP --set-dscp-class XX", "XX", /unknown DSCP class/);
    bad("mangle", "PREROUTING -j TOS --set-tos 0x10/0x1ff", "0x10/0x1ff", /invalid TOS/);
    bad("mangle", "PREROUTING -j TOS --and-tos 256", "256", /invalid TOS bits/);
    bad("mangle", "PREROUTING -j TOS", "TOS", /is required/);
    bad("mangle", "POSTROUTING -j CLASSIFY --set-class 10", "10", /invalid class/);
    bad("mangle", "POSTROUTING -j CLASSIFY", "CLASSIFY", /is required/);
    const syn = "-p tcp -m tcp --tcp-flags SYN,RST SYN";
    // tcpmss_tg4_check: "path-MTU clamping only supported in FORWARD, OUTPUT and POSTROUTING hooks"
    bad("mangle", `PREROUTING ${syn} -j TCPMSS --clamp-mss-to-pmtu`, "TCPMSS", /--clamp-mss-to-pmtu \(path-MTU clamping\) is not allowed in PREROUTING; it is valid in FORWARD, OUTPUT, POSTROUTING/);
    bad("filter", `INPUT ${syn} -j TCPMSS --clamp-mss-to-pmtu`, "TCPMSS", /--clamp-mss-to-pmtu \(path-MTU clamping\) is not allowed in INPUT/);
    bad("mangle", `INPUT ${syn} -j TCPMSS --set-mss 1400 --clamp-mss-to-pmtu`, "--clamp-mss-to-pmtu", /only one of/);
    const user = table("mangle", ["CLAMP"], ["FORWARD -j CLAMP", "PREROUTING -j CLAMP", `CLAMP ${syn} -j TCPMSS --clamp-mss-to-pmtu`]);
    const err = expectInputError(() => parseIptablesSave(user, F), F, 10, "TCPMSS");
    expect(err.problem).toMatch(/not allowed in PREROUTING \(chain CLAMP is reached from PREROUTING\)/);
    bad("mangle", `FORWARD ${syn} -j TCPMSS --set-mss 65516`, "65516", /invalid MSS "65516" \(a number 0\.\.65515\)/);
    bad("mangle", `FORWARD ${syn} -j TCPMSS`, "TCPMSS", /is required/);
    bad("mangle", "FORWARD -j TCPMSS --set-mss 1400", "TCPMSS", /only valid with -p tcp/);
    bad("mangle", "FORWARD -p tcp -j TCPMSS --set-mss 1400", "TCPMSS", /only works on TCP SYN packets/);
    bad("mangle", "FORWARD -p tcp -m tcp ! --tcp-flags SYN SYN -j TCPMSS --set-mss 1400", "TCPMSS", /only works on TCP SYN/);
    bad("mangle", "FORWARD -p tcp -m tcp --tcp-flags ALL NONE -j TCPMSS --set-mss 1400", "TCPMSS", /only works on TCP SYN/);
  });

  /** The results of `pkts` through mangle rules `rules` (chain -> rule texts). */
  async function run(rules: Record<string, string[]>, pkts: PacketInput[]) {
    const text = ["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
      ":POSTROUTING ACCEPT [0:0]", ...Object.entries(rules).flatMap(([c, rs]) => rs.map((r) => `-A ${c} ${r}`)), "COMMIT", ""].join("\n");
    const e = await engine(text);
    return { results: e.process(pkts), save: e.iptablesSave() };
  }
  // the fixture forwards 10.0.0.0/24 -> the pod 10.0.1.33 (eth0 -> eth1)
  const fwd = (o: Partial<PacketInput> = {}): PacketInput =>
    ({ iif: "eth0", src: "10.0.0.77", dst: "10.0.1.33", proto: "udp", sport: 1000, dport: 2000, ...o });

  it("TTL: set before ip_forward's check and decrement, saturating inc/dec, later rules see the new value", async () => {
    const { results, save } = await run({
      PREROUTING: ["-s 10.0.0.77 -j TTL --ttl-set 1", "-s 10.0.0.78 -j TTL --ttl-inc 250", "-s 10.0.0.79 -j TTL --ttl-dec 100", "-m ttl --ttl-eq 255"],
      FORWARD: ["-m ttl --ttl-eq 254"],
      POSTROUTING: ["-s 10.0.0.78 -j TTL --ttl-dec 4"],
    }, [fwd(), fwd({ src: "10.0.0.78" }), fwd({ src: "10.0.0.79" }), fwd({ src: "10.0.0.80", ttl: 1 })]);
    expect(results.map((r) => r.verdict)).toEqual(["drop", "forward", "drop", "drop"]);
    expect(results[1]!.ttl).toBe(250);
    expect(results[0]!.replies.map((q) => q.icmp_type)).toEqual([11]); // time exceeded, as for an arriving TTL 1
    expect(save).toMatch(/\[1:\d+\] -A PREROUTING -m ttl --ttl-eq 255/);
    expect(save).toMatch(/\[1:\d+\] -A FORWARD -m ttl --ttl-eq 254/);
  });

  it("TOS and DSCP: the ECN bits kept by DSCP, results report the rewritten byte, matches after see it", async () => {
    const { results, save } = await run({
      PREROUTING: ["-s 10.0.0.77 -j DSCP --set-dscp 0x2e", "-s 10.0.0.78 -j TOS --set-tos 0x10/0x3f", "-s 10.0.0.79 -j TOS --xor-tos 0x00", "-m dscp --dscp 0x2e"],
      POSTROUTING: ["-s 10.0.0.80 -j CLASSIFY --set-class 1:10", "-m tos --tos 0xd0"],
    }, [fwd({ tos: 0x03 }), fwd({ src: "10.0.0.78", tos: 0xff }), fwd({ src: "10.0.0.79", tos: 0x10 }), fwd({ src: "10.0.0.80" })]);
    expect(results.map((r) => r.verdict)).toEqual(["forward", "forward", "forward", "forward"]);
    expect(results.map((r) => r.tos)).toEqual([0xbb, 0xd0, undefined, undefined]);
    expect(save).toMatch(/\[1:\d+\] -A PREROUTING -m dscp --dscp 0x2e/);
    expect(save).toMatch(/\[1:\d+\] -A POSTROUTING -m tos --tos 0xd0/);
    expect(save).toMatch(/\[1:\d+\] -A POSTROUTING -s 10.0.0.80 -j CLASSIFY/);
  });
});

describe("-j TCPMSS: the rule VM", () => {
  it("lowers an MSS option (never raises it), leaves segments with data alone, inserts one into a SYN without options or data", async () => {
    const text = ["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
      ":POSTROUTING ACCEPT [0:0]", "-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200",
      "-A FORWARD -p tcp -m tcpmss --mss 536", "-A POSTROUTING -p tcp -m tcpmss --mss 1200", "-A POSTROUTING -p tcp -m tcpmss --mss 536", "COMMIT", ""].join("\n");
    const e = await engine(text);
    const syn = (o: Partial<PacketInput>): PacketInput =>
      ({ iif: "eth0", src: "10.0.0.77", dst: "10.0.1.33", proto: "tcp", sport: 1000, dport: 80, flags: "S", ...o });
    const r = e.process([
      syn({ mss: 1460 }), syn({ mss: 1000 }), syn({ mss: 9001, wscale: 7, sackok: true, doff: 10 }),
      syn({ flags: "A", mss: 1460 }), syn({}), syn({ len: 60 }),
    ]);
    expect(r.map((x) => x.verdict)).toEqual(["forward", "forward", "forward", "forward", "forward", "forward"]);
    // the bare SYN (40 bytes) gets an MSS option of min(1200, 536): 44 bytes from the target on
    expect(r.map((x) => x.mss)).toEqual([1200, undefined, 1200, undefined, 536, undefined]);
    expect(r.map((x) => x.len)).toEqual([undefined, undefined, undefined, undefined, 44, undefined]);
    const save = e.iptablesSave();
    expect(save).toMatch(/\[2:\d+\] -A POSTROUTING -p tcp -m tcpmss --mss 1200/);
    expect(save).toContain("[1:44] -A FORWARD -p tcp -m tcpmss --mss 536");
    expect(save).toContain("[1:44] -A POSTROUTING -p tcp -m tcpmss --mss 536");
  });
});

describe("-j TCPMSS --clamp-mss-to-pmtu: the rule VM", () => {
  it("the smaller of the route's and the reverse route's MTU, less 40: sent (OUTPUT, POSTROUTING), looped back and forwarded", async () => {
    const clamp = "-p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu";
    const text = ["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
      ":POSTROUTING ACCEPT [0:0]", `-A OUTPUT -d 8.8.8.8 ${clamp}`, `-A OUTPUT -d 10.0.0.10 ${clamp}`, `-A POSTROUTING -d 8.8.4.4 ${clamp}`,
      `-A FORWARD ${clamp}`, "-A POSTROUTING -p tcp -m tcpmss --mss 536", "COMMIT", ""].join("\n");
    const e = await engine(text);
    const syn = (o: Partial<PacketInput>): PacketInput => ({ iif: "local", src: "10.0.0.10", proto: "tcp", sport: 1000, dport: 80, flags: "S", ...o });
    const r = e.process([
      // out eth0 (mtu 9001); the route back to the node's own address is local (lo, 65536: at most 65520)
      syn({ dst: "8.8.8.8", mss: 65535 }), syn({ dst: "8.8.4.4", mss: 65535 }), syn({ dst: "8.8.8.8" }),
      // to the node itself: both routes through lo, 65520 - 40
      syn({ dst: "10.0.0.10", mss: 65535 }),
      // forwarded eth0 -> the pod's veth (9001), the route back by eth0 (9001)
      { iif: "eth0", src: "10.0.0.77", dst: "10.0.1.33", proto: "tcp", sport: 1000, dport: 80, flags: "S", mss: 65535 },
    ]);
    expect(r.map((x) => x.verdict)).toEqual(["forward", "forward", "forward", "local", "forward"]);
    expect(r.map((x) => x.mss)).toEqual([8961, 8961, 536, 65480, 8961]);
    expect(r.map((x) => x.len)).toEqual([undefined, undefined, 44, undefined, undefined]);
    expect(e.iptablesSave()).toContain("[1:44] -A POSTROUTING -p tcp -m tcpmss --mss 536");
  });
});

describe("-j NETMAP", () => {
  it("parses --to as iptables-save prints it (host bits dropped, masks as prefixes); nat only; --to required", () => {
    const tgt = (r: string) => one("nat", r).target;
    expect(tgt("PREROUTING -d 198.51.200.0/24 -j NETMAP --to 198.51.100.0/24")).toEqual({ kind: "NETMAP", addr: 0xc6336400, plen: 24 });
    expect(tgt("POSTROUTING -j NETMAP --to 10.9.9.0/255.255.255.0")).toEqual({ kind: "NETMAP", addr: 0x0a090900, plen: 24 });
    expect(tgt("OUTPUT -j NETMAP --to 10.9.9.7")).toEqual({ kind: "NETMAP", addr: 0x0a090907, plen: 32 });
    expect(tgt("INPUT -j NETMAP --to 10.9.9.9/16")).toEqual({ kind: "NETMAP", addr: 0x0a090000, plen: 16 });
    bad("mangle", "PREROUTING -j NETMAP --to 10.9.0.0/16", "NETMAP", /only valid in the nat table/);
    bad("nat", "PREROUTING -j NETMAP", "NETMAP", /--to is required/);
    bad("nat", "PREROUTING -j NETMAP --to 10.9.0.0/33", "10.9.0.0/33", /invalid prefix length/);
    bad("nat", "PREROUTING -j NETMAP --to 10.9.0.0/16 --to 10.8.0.0/16", "--to", /given twice/);
  });

  it("maps the destination in PREROUTING and the source in POSTROUTING, keeping host bits; later packets by conntrack", async () => {
    const text = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
      "-A PREROUTING -d 10.0.9.0/24 -j NETMAP --to 10.0.1.0/24", "-A POSTROUTING -s 10.0.0.64/26 -j NETMAP --to 172.16.5.0/26",
      "COMMIT", ""].join("\n");
    const e = await engine(text);
    const u = (src: string, dst: string): PacketInput => ({ iif: "eth0", src, dst, proto: "udp", sport: 1000, dport: 2000 });
    const r = e.process([u("10.0.0.77", "10.0.9.33"), u("10.0.0.77", "10.0.9.33"), u("10.0.0.5", "10.0.9.33"), u("10.0.0.70", "10.0.1.33")]);
    expect(r.map((x) => [x.verdict, x.src, x.dst])).toEqual([
      ["forward", "172.16.5.13", "10.0.1.33"], ["forward", "172.16.5.13", "10.0.1.33"],
      ["forward", "10.0.0.5", "10.0.1.33"], ["forward", "172.16.5.6", "10.0.1.33"],
    ]);
    const save = e.iptablesSave();
    expect(save).toMatch(/\[2:\d+\] -A PREROUTING -d 10.0.9.0\/24 -j NETMAP/); // the second datagram: conntrack, not the rule
  });
});

describe("-j TOS in mangle OUTPUT reroutes (ipt_mangle_out)", () => {
  it("a TOS a policy rule selects: the packet the node sends leaves by that rule's table", async () => {
    const files = eksFixtureFiles();
    files["ip-rule.txt"] = files["ip-rule.txt"]!.replace("512:", "200:\tfrom all tos 0x10 lookup 2\n512:");
    const snap = parseSnapshotFiles(files, "eks-node-tos-reroute");
    const run = async (rules: string[]) => {
      const e = await Engine.create({ seed: 1 });
      e.load(snap, { hz: snap.hz });
      e.loadRuleset(["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]", ...rules, "COMMIT", ""].join("\n"), "rules");
      return e.process([{ iif: "local", src: "10.0.0.10", dst: "8.8.8.8", proto: "udp", sport: 1000, dport: 53 }])[0]!;
    };
    expect((await run([])).oif).toBe("eth0");
    const r = await run(["-A OUTPUT -j TOS --set-tos 0x10"]);
    expect(r.oif).toBe("eth1");
    expect(r.tos).toBe(0x10);
    // the same TOS already set: no change, no reroute
    expect((await run(["-A OUTPUT -j TOS --set-tos 0x00"])).oif).toBe("eth0");
  });
});
