import { describe, expect, it } from "vitest";
import { parseRules } from "../../host/snapshot/rules.js";
import { defaultTableNames, parseRtTables } from "../../host/snapshot/rttables.js";
import { parseIPv4 } from "../../host/util/ipv4.js";
import { expectInputError, lines } from "./helpers.js";

const ip = (s: string): number => parseIPv4(s)!;
const F = "ip-rule.txt";

function parse(text: string, names = defaultTableNames()) {
  return parseRules(text, F, names);
}

/** What `ip rule show` (iproute2 6.1) printed for these rules. */
const EXAMPLE = lines(
  "0:\tfrom all lookup local",
  "100:\tnot from 10.5.0.0/16 tos 0x10 fwmark 0x1 iif eth0 oif eth1 ipproto tcp sport 1000-2000 dport 80 lookup 5 suppress_prefixlength 0",
  "200:\tfrom all goto 300",
  "300:\tfrom all nop",
  "400:\tfrom all to 1.2.3.4 blackhole",
  "401:\tfrom all to 1.2.3.5 unreachable",
  "402:\tfrom all to 1.2.3.6 prohibit",
  "403:\tfrom all iif nosuch [detached] lookup 7",
  "404:\tfrom all uidrange 100-200 lookup 8",
  "405:\tfrom 10.0.0.0/8 to 192.168.0.0/16 lookup 9 suppress_ifgroup 5",
  "512:\tfrom all to 10.0.0.55 lookup main",
  "1024:\tfrom all fwmark 0x80/0x80 lookup main",
  "1536:\tfrom 10.0.1.33 lookup 2",
  "32766:\tfrom all lookup main",
  "32767:\tfrom all lookup default",
);

describe("parseRules: the example", () => {
  const rules = parse(EXAMPLE);

  it("parses every line, in order, with index and source", () => {
    expect(rules.map((r) => r.pref)).toEqual([0, 100, 200, 300, 400, 401, 402, 403, 404, 405, 512, 1024, 1536, 32766, 32767]);
    expect(rules.map((r) => r.index)).toEqual([...Array(15).keys()]);
    expect(rules[1]!.src).toEqual({ file: F, line: 2, text: EXAMPLE.split("\n")[1] });
  });

  it("from all lookup local", () => {
    expect(rules[0]).toMatchObject({
      pref: 0, invert: false, from: undefined, to: undefined, tos: 0, fwmark: 0, fwmask: 0,
      iif: undefined, oif: undefined, ipproto: 0, sport: undefined, dport: undefined, uidrange: undefined,
      action: "lookup", table: 255, suppressPrefixlen: -1, suppressIfgroup: -1, proto: undefined,
    });
  });

  it("the rule with every selector", () => {
    expect(rules[1]).toMatchObject({
      pref: 100, invert: true, from: { addr: ip("10.5.0.0"), plen: 16 }, tos: 0x10,
      fwmark: 1, fwmask: 0xffffffff, iif: "eth0", oif: "eth1", ipproto: 6,
      sport: [1000, 2000], dport: [80, 80], action: "lookup", table: 5, suppressPrefixlen: 0,
    });
  });

  it("goto, nop, blackhole, unreachable, prohibit", () => {
    expect(rules[2]).toMatchObject({ action: "goto", gotoPref: 300, table: undefined });
    expect(rules[3]!.action).toBe("nop");
    expect(rules.slice(4, 7).map((r) => [r.action, r.to])).toEqual([
      ["blackhole", { addr: ip("1.2.3.4"), plen: 32 }],
      ["unreachable", { addr: ip("1.2.3.5"), plen: 32 }],
      ["prohibit", { addr: ip("1.2.3.6"), plen: 32 }],
    ]);
  });

  it("a detached iif is kept", () => {
    expect(rules[7]).toMatchObject({ iif: "nosuch", table: 7 });
  });

  it("uidrange, from+to, suppress_ifgroup", () => {
    expect(rules[8]).toMatchObject({ uidrange: [100, 200], table: 8 });
    expect(rules[9]).toMatchObject({
      from: { addr: ip("10.0.0.0"), plen: 8 }, to: { addr: ip("192.168.0.0"), plen: 16 },
      table: 9, suppressIfgroup: 5, suppressPrefixlen: -1,
    });
  });

  it("EKS rules: to pod lookup main, fwmark/mask, from pod lookup 2", () => {
    expect(rules[10]).toMatchObject({ to: { addr: ip("10.0.0.55"), plen: 32 }, table: 254 });
    expect(rules[11]).toMatchObject({ fwmark: 0x80, fwmask: 0x80, table: 254 });
    expect(rules[12]).toMatchObject({ from: { addr: ip("10.0.1.33"), plen: 32 }, table: 2 });
    expect(rules[13]!.table).toBe(254);
    expect(rules[14]!.table).toBe(253);
  });
});

describe("parseRules: other things iproute2 prints", () => {
  it("goto [unresolved], proto, ipproto names and numbers, names for suppress_ifgroup", () => {
    const rs = parse(lines(
      "406:\tfrom 10.0.0.1/8 lookup 9 proto static",
      "407:\tfrom all goto 999 [unresolved]",
      "412:\tfrom all ipproto ospf lookup 9",
      "413:\tfrom all ipproto 41 lookup 9",
      "414:\tfrom all ipproto ipv6-icmp lookup 9",
      "415:\tfrom all dport 53 lookup 9",
      "1537:\tfrom all lookup 9 suppress_ifgroup default",
      "1538:\tfrom all oif eth9 [detached] lookup 9 protocol kernel",
      "1539:\tfrom all tos lowdelay lookup 9",
      "1540:\tfrom all dsfield 0x08 lookup 9",
      "1541:\tfrom all fwmark 0 lookup 9",
      "1542:\tfrom all ipproto udp sport 67 lookup 9",
      "1543:\tfrom all ipproto icmp lookup 9",
    ));
    // The kernel compares (saddr ^ from) & mask: host bits are dropped.
    expect(rs[0]).toMatchObject({ from: { addr: ip("10.0.0.0"), plen: 8 }, proto: "static" });
    expect(rs[1]).toMatchObject({ action: "goto", gotoPref: 999 });
    expect(rs.slice(2, 5).map((r) => r.ipproto)).toEqual([89, 41, 58]);
    expect(rs[5]!.dport).toEqual([53, 53]);
    expect(rs[6]!.suppressIfgroup).toBe(0);
    expect(rs[7]).toMatchObject({ oif: "eth9", proto: "kernel" });
    expect(rs[8]!.tos).toBe(0x10);
    expect(rs[9]!.tos).toBe(0x08);
    expect(rs[10]).toMatchObject({ fwmark: 0, fwmask: 0xffffffff });
    expect(rs[11]).toMatchObject({ ipproto: 17, sport: [67, 67] });
    expect(rs[12]!.ipproto).toBe(1);
  });

  it("equal priorities are fine", () => {
    expect(parse(lines("512:\tfrom all to 10.0.0.55 lookup main", "512:\tfrom all to 10.0.1.33 lookup main"))).toHaveLength(2);
  });

  it("table names from rt_tables", () => {
    const names = defaultTableNames();
    for (const [k, v] of parseRtTables("# local\n2\teni2\n100 vpn # comment\n")) names.set(k, v);
    const rs = parse(lines("1536:\tfrom 10.0.1.33 lookup eni2", "1600:\tfrom all lookup vpn"), names);
    expect(rs.map((r) => r.table)).toEqual([2, 100]);
  });
});

describe("parseRules: errors", () => {
  it("unknown keyword", () => {
    const err = expectInputError(() => parse(lines("0:\tfrom all lookup local", "10:\tfrom all frobnicate 3 lookup main")), F, 2, "frobnicate");
    expect(err.column).toBe(14);
  });

  it("unsupported keywords name the token", () => {
    expectInputError(() => parse("410:\tfrom all lookup [l3mdev-table]\n"), F, 1, "[l3mdev-table]");
    expectInputError(() => parse("410:\tfrom all l3mdev lookup 9\n"), F, 1, "l3mdev");
    expectInputError(() => parse("411:\tfrom all lookup 9 realms 3/4\n"), F, 1, "realms");
    expectInputError(() => parse("411:\tfrom all tun_id 5 lookup 9\n"), F, 1, "tun_id");
    expectInputError(() => parse("411:\tfrom all dscp 5 lookup 9\n"), F, 1, "dscp");
    expectInputError(() => parse("411:\tfrom all flowlabel 0x5 lookup 9\n"), F, 1, "flowlabel");
    expectInputError(() => parse("411:\tfrom all map-to 1.2.3.4\n"), F, 1, "map-to");
    expectInputError(() => parse("411:\tfrom all unicast\n"), F, 1, "unicast");
  });

  it("unknown table name tells to add rt_tables.txt", () => {
    const err = expectInputError(() => parse("1536:\tfrom 10.0.1.33 lookup eni2\n"), F, 1, "eni2");
    expect(err.problem).toContain("rt_tables.txt");
  });

  it("unsorted priorities", () => {
    const err = expectInputError(() => parse(lines("0:\tfrom all lookup local", "512:\tfrom all lookup main", "100:\tfrom all lookup main")), F, 3, "100");
    expect(err.problem).toContain("ascending");
  });

  it("bad values", () => {
    expectInputError(() => parse("1:\tfrom 10.0.0.0/33 lookup main\n"), F, 1, "10.0.0.0/33");
    expectInputError(() => parse("1:\tfrom all to 300.1.1.1 lookup main\n"), F, 1, "300.1.1.1");
    expectInputError(() => parse("1:\tfrom all tos fast lookup main\n"), F, 1, "fast");
    expectInputError(() => parse("1:\tfrom all fwmark 0xzz lookup main\n"), F, 1, "0xzz");
    expectInputError(() => parse("1:\tfrom all ipproto frob lookup main\n"), F, 1, "frob");
    expectInputError(() => parse("1:\tfrom all dport 70000 lookup main\n"), F, 1, "70000");
    expectInputError(() => parse("1:\tfrom all sport 20-10 lookup main\n"), F, 1, "20-10");
    expectInputError(() => parse("1:\tfrom all lookup 9 suppress_ifgroup wan\n"), F, 1, "wan");
    expectInputError(() => parse("x:\tfrom all lookup main\n"), F, 1, "x:");
    expectInputError(() => parse("1:\tfrom all lookup\n"), F, 1, "lookup");
    expectInputError(() => parse("1:\tfrom all\n"), F, 1, "");
    expectInputError(() => parse("1:\tfrom all lookup main nop\n"), F, 1, "nop");
  });
});
