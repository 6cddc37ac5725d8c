import { describe, expect, it } from "vitest";
import { parseRoutes } from "../../host/snapshot/routes.js";
import { defaultTableNames } from "../../host/snapshot/rttables.js";
import { parseIPv4 } from "../../host/util/ipv4.js";
import { expectInputError, lines } from "./helpers.js";

const ip = (s: string): number => parseIPv4(s)!;
const F = "ip-route.txt";

function parse(text: string, names = defaultTableNames(), notices: string[] = []) {
  return parseRoutes(text, F, names, notices);
}

/** The route of a single line. */
function one(line: string) {
  const rs = parse(line + "\n");
  expect(rs).toHaveLength(1);
  return rs[0]!;
}

describe("parseRoutes: the example lines", () => {
  it("default via ... table 2 linkdown", () => {
    const r = one("default via 10.0.1.1 dev eth1 table 2 linkdown ");
    expect(r).toMatchObject({
      table: 2, type: "unicast", prefix: 0, plen: 0, gw: ip("10.0.1.1"), dev: "eth1",
      scope: 0, metric: 0, proto: "", nhflags: ["linkdown"], mtu: 0, tos: 0, prefsrc: 0, index: 0,
    });
    expect(r.src).toEqual({ file: F, line: 1, text: "default via 10.0.1.1 dev eth1 table 2 linkdown " });
  });

  it("host route, scope link", () => {
    expect(one("10.0.1.1 dev eth1 table 2 scope link linkdown ")).toMatchObject({
      table: 2, prefix: ip("10.0.1.1"), plen: 32, gw: 0, dev: "eth1", scope: 253, nhflags: ["linkdown"],
    });
  });

  it("throw / prohibit / unreachable / blackhole have no device", () => {
    const rs = parse(lines(
      "throw 10.6.0.0/16 table 2 ",
      "prohibit 10.7.0.0/16 table 5 ",
      "unreachable 10.8.0.0/16 metric 5 ",
      "blackhole 10.9.0.0/16 ",
    ));
    expect(rs.map((r) => [r.type, r.table, r.prefix, r.plen, r.metric, r.dev])).toEqual([
      ["throw", 2, ip("10.6.0.0"), 16, 0, undefined],
      ["prohibit", 5, ip("10.7.0.0"), 16, 0, undefined],
      ["unreachable", 254, ip("10.8.0.0"), 16, 5, undefined],
      ["blackhole", 254, ip("10.9.0.0"), 16, 0, undefined],
    ]);
    expect(rs.map((r) => r.index)).toEqual([0, 1, 2, 3]);
  });

  it("default route with proto, src and metric", () => {
    expect(one("default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.10 metric 1024 ")).toMatchObject({
      table: 254, gw: ip("10.0.0.1"), dev: "eth0", proto: "dhcp", prefsrc: ip("10.0.0.10"), metric: 1024, scope: 0,
    });
  });

  it("connected route", () => {
    expect(one("10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.10 linkdown ")).toMatchObject({
      prefix: ip("10.0.0.0"), plen: 24, dev: "eth0", proto: "kernel", scope: 253, prefsrc: ip("10.0.0.10"),
      nhflags: ["linkdown"], gw: 0,
    });
  });

  it("local table: local and broadcast routes", () => {
    const rs = parse(lines(
      "local 10.0.0.10 dev eth0 table local proto kernel scope host src 10.0.0.10 ",
      "broadcast 10.0.0.255 dev eth0 table local proto kernel scope link src 10.0.0.10 linkdown ",
      "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 ",
    ));
    expect(rs.map((r) => [r.type, r.table, r.prefix, r.plen, r.scope, r.dev, r.prefsrc])).toEqual([
      ["local", 255, ip("10.0.0.10"), 32, 254, "eth0", ip("10.0.0.10")],
      ["broadcast", 255, ip("10.0.0.255"), 32, 253, "eth0", ip("10.0.0.10")],
      ["local", 255, ip("127.0.0.0"), 8, 254, "lo", ip("127.0.0.1")],
    ]);
  });

  it("mtu, mtu lock, advmss (notice), tos", () => {
    const notices: string[] = [];
    const rs = parse(lines(
      "10.2.0.0/16 via 10.0.0.1 dev eth0 mtu 1400 ",
      "10.3.0.0/16 via 10.0.0.1 dev eth0 mtu lock 1400 advmss 1360 ",
      "10.4.0.0/16 tos 0x10 via 10.0.0.1 dev eth0 ",
    ), defaultTableNames(), notices);
    expect(rs[0]).toMatchObject({ mtu: 1400, tos: 0 });
    expect(rs[1]).toMatchObject({ mtu: 1400 });
    expect(rs[2]).toMatchObject({ tos: 0x10, prefix: ip("10.4.0.0"), plen: 16, gw: ip("10.0.0.1") });
    expect(notices).toEqual([`${F}: route metric "advmss" is not modelled (first at line 2)`]);
  });

  it("keywords in any order; dsfield and rt_dsfield names", () => {
    expect(one("10.4.0.0/16 dev eth0 metric 7 via 10.0.0.1 dsfield 0x08 table 9")).toMatchObject({
      tos: 8, metric: 7, gw: ip("10.0.0.1"), dev: "eth0", table: 9,
    });
    expect(one("10.4.0.0/16 tos AF11 via 10.0.0.1 dev eth0 ").tos).toBe(0x28);
    expect(one("10.4.0.0/16 tos lowdelay via 10.0.0.1 dev eth0 ").tos).toBe(0x10);
  });

  it("via inet, numeric scope and proto, expires, several flags", () => {
    expect(one("10.21.0.0/16 via inet 10.0.0.1 dev eth0 proto 42 scope 7 onlink pervasive expires 299sec")).toMatchObject({
      gw: ip("10.0.0.1"), proto: "42", scope: 7, nhflags: ["onlink", "pervasive"],
    });
    expect(one("10.21.0.0/16 dev eth0 scope site").scope).toBe(200);
    expect(one("10.21.0.0/16 dev eth0 scope global").scope).toBe(0);
    expect(one("10.21.0.0/16 dev eth0 scope nowhere").scope).toBe(255);
  });

  it("every route type", () => {
    for (const t of ["unicast", "local", "broadcast", "anycast", "multicast"] as const) {
      expect(one(`${t} 10.1.2.3 dev eth0`).type).toBe(t);
    }
    for (const t of ["blackhole", "unreachable", "prohibit", "throw", "nat"] as const) {
      expect(one(`${t} 10.1.2.0/24`).type).toBe(t);
    }
  });

  it("one notice per distinct metric name, at its first line", () => {
    const notices: string[] = [];
    parse(lines(
      "10.20.0.0/16 via 10.0.0.1 dev eth0 onlink realm 5 rtt 10ms rttvar 5ms hoplimit 64 initcwnd 10 features ecn quickack 1 congctl lock cubic ",
      "10.21.0.0/16 via 10.0.0.1 dev eth0 rtt 10ms advmss lock 1400",
    ), defaultTableNames(), notices);
    expect(notices).toEqual([
      `${F}: route metric "realms" is not modelled (first at line 1)`,
      `${F}: route metric "rtt" is not modelled (first at line 1)`,
      `${F}: route metric "rttvar" is not modelled (first at line 1)`,
      `${F}: route metric "hoplimit" is not modelled (first at line 1)`,
      `${F}: route metric "initcwnd" is not modelled (first at line 1)`,
      `${F}: route metric "features" is not modelled (first at line 1)`,
      `${F}: route metric "quickack" is not modelled (first at line 1)`,
      `${F}: route metric "congctl" is not modelled (first at line 1)`,
      `${F}: route metric "advmss" is not modelled (first at line 2)`,
    ]);
  });

  it("CRLF line ends, blank lines and a missing final newline", () => {
    const rs = parse("10.1.0.0/16 dev eth0\r\n\r\n10.2.0.0/16 dev eth0");
    expect(rs.map((r) => [r.prefix, r.src.line, r.src.text])).toEqual([
      [ip("10.1.0.0"), 1, "10.1.0.0/16 dev eth0"],
      [ip("10.2.0.0"), 3, "10.2.0.0/16 dev eth0"],
    ]);
    expect(parse("")).toEqual([]);
  });
});

describe("parseRoutes: IPv6", () => {
  it("skips IPv6 routes with one summary notice; index counts IPv4 routes only", () => {
    const notices: string[] = [];
    const rs = parse(lines(
      "fe80::/64 dev eth0 proto kernel metric 256 pref medium",
      "10.1.0.0/16 dev eth0 ",
      "local ::1 dev lo table local proto kernel metric 0 pref medium",
      "multicast ff00::/8 dev eth0 table local proto kernel metric 256 pref medium",
      "default via fe80::1 dev eth0 proto ra metric 1024 expires 1798sec hoplimit 64 pref medium",
      "default dev eth0 metric 1024 pref high",
      "2001:db8::/64 metric 1024 pref medium",
      "\tnexthop via fe80::1 dev eth0 weight 1 ",
      "\tnexthop via fe80::2 dev eth0 weight 1 ",
      "10.2.0.0/16 dev eth0 ",
    ), defaultTableNames(), notices);
    expect(rs.map((r) => [r.prefix, r.index, r.src.line])).toEqual([
      [ip("10.1.0.0"), 0, 2],
      [ip("10.2.0.0"), 1, 10],
    ]);
    // hoplimit on the IPv6 route does not produce a metric notice.
    expect(notices).toEqual([`${F}: 6 IPv6 routes skipped (IPv4 dataplane)`]);
  });

  it("no notice without IPv6 routes", () => {
    const notices: string[] = [];
    parse("10.1.0.0/16 dev eth0\n", defaultTableNames(), notices);
    expect(notices).toEqual([]);
  });
});

describe("parseRoutes: rt_tables names", () => {
  it("resolves table names from rt_tables", () => {
    const names = defaultTableNames();
    names.set("eni2", 2);
    names.set("vpn", 1000);
    const rs = parse(lines(
      "default via 10.0.1.1 dev eth1 table eni2 ",
      "10.32.0.0/16 via 10.0.0.1 dev eth0 table vpn ",
      "10.33.0.0/16 via 10.0.0.1 dev eth0 table default ",
    ), names);
    expect(rs.map((r) => r.table)).toEqual([2, 1000, 253]);
  });

  it("an unknown table name tells to add rt_tables.txt", () => {
    const err = expectInputError(() => parse(lines("10.0.0.0/8 dev eth0", "default via 10.0.1.1 dev eth1 table eni2 ")),
      F, 2, "eni2");
    expect(err.problem).toContain("rt_tables.txt");
    expect(err.column).toBe(37);
  });
});

describe("parseRoutes: errors name file, line and token", () => {
  it("unknown keyword", () => {
    const err = expectInputError(() => parse(lines("10.1.0.0/16 dev eth0", "10.22.0.0/16 nhid 5 via 10.0.0.1 dev eth0 ")),
      F, 2, "nhid");
    expect(err.problem).toContain("not supported yet");
    expect(err.column).toBe(14);
    expectInputError(() => parse("10.1.0.0/16 dev eth0 encap mpls 100\n"), F, 1, "encap");
    expectInputError(() => parse("10.1.0.0/16 dev eth0 ttl-propagate enabled\n"), F, 1, "ttl-propagate");
    expectInputError(() => parse("10.1.0.0/16 via 10.0.0.1 dev eth0 as to 10.1.1.1\n"), F, 1, "as");
    // Near misses of keywords.
    expectInputError(() => parse("10.1.0.0/16 devs eth0\n"), F, 1, "devs");
    expectInputError(() => parse("10.1.0.0/16 de eth0\n"), F, 1, "de");
    expectInputError(() => parse("10.1.0.0/16 dev eth0 Metric 5\n"), F, 1, "Metric");
    expectInputError(() => parse("10.1.0.0/16 dev eth0 metrics 5\n"), F, 1, "metrics");
    expectInputError(() => parse("10.1.0.0/16 dev eth0 \u3b69a 5\n"), F, 1, "\u3b69a");
    expectInputError(() => parse("10.1.0.0/16 dev eth0 \u0000via 10.0.0.1\n"), F, 1, "\u0000via");
  });

  it("bad CIDRs", () => {
    expectInputError(() => parse("10.0.0.0/33 dev eth0\n"), F, 1, "10.0.0.0/33");
    expectInputError(() => parse("300.1.1.1 dev eth0\n"), F, 1, "300.1.1.1");
    expectInputError(() => parse("10.0.0/8 dev eth0\n"), F, 1, "10.0.0/8");
    expectInputError(() => parse("10.0.0.0/ dev eth0\n"), F, 1, "10.0.0.0/");
    expectInputError(() => parse("10.1.0.0/16 via 10.0.0.256 dev eth0\n"), F, 1, "10.0.0.256");
    expectInputError(() => parse("10.1.0.0/16 dev eth0 src 1.2.3\n"), F, 1, "1.2.3");
    expectInputError(() => parse("10.1.0.0/16 dev eth0 metric x\n"), F, 1, "x");
    expectInputError(() => parse("10.1.0.0/16 dev eth0 scope galaxy\n"), F, 1, "galaxy");
    expectInputError(() => parse("10.1.0.0/16 dev eth0 tos fast\n"), F, 1, "fast");
    expectInputError(() => parse("bogus 10.1.0.0/16 dev eth0\n"), F, 1, "bogus");
  });

  it("host bits set", () => {
    const err = expectInputError(() => parse("10.0.0.1/24 dev eth0\n"), F, 1, "10.0.0.1/24");
    expect(err.problem).toContain("host bits set");
  });

  it("a keyword without its value", () => {
    expectInputError(() => parse("10.1.0.0/16 via 10.0.0.1 dev\n"), F, 1, "dev");
  });

  it("multipath nexthop lines", () => {
    const err = expectInputError(() => parse(lines(
      "10.1.0.0/16 dev eth0 ",
      "10.5.0.0/16 proto static metric 10 ",
      "\tnexthop via 10.0.0.1 dev eth0 weight 1 ",
      "\tnexthop via 10.0.0.2 dev eth0 weight 2 ",
    )), F, 3, "nexthop");
    expect(err.problem).toBe("multipath routes (nexthop) are not supported yet");
    expect(err.column).toBe(2);
    expectInputError(() => parse("\tnexthop via 10.0.0.1 dev eth0 weight 1\n"), F, 1, "nexthop");
  });

  it("unicast route without a device", () => {
    expectInputError(() => parse("10.5.0.0/16 proto static\n"), F, 1, "10.5.0.0/16");
  });

  it("IPv4 route via an IPv6 gateway", () => {
    expectInputError(() => parse("10.30.0.0/16 via inet6 fe80::1 dev eth0 \n"), F, 1, "inet6");
  });

  it("cache lines", () => {
    expectInputError(() => parse("cache 10.1.1.1 dev eth0\n"), F, 1, "cache");
    expectInputError(() => parse(lines("10.1.1.1 via 10.0.0.1 dev eth0", "    cache expires 30sec")), F, 2, "cache");
  });
});
