import { describe, expect, it } from "vitest";
import { parseAddrs } from "../../host/snapshot/addrs.js";
import { parseLinks } from "../../host/snapshot/links.js";
import { parseIPv4 } from "../../host/util/ipv4.js";
import { expectInputError, lines } from "./helpers.js";

const ip = (s: string): number => parseIPv4(s)!;

describe("parseLinks", () => {
  const L = "ip-link.txt";
  const EXAMPLE = lines(
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
    "2: eth0@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN mode DEFAULT group default qlen 1000\\    link/ether 82:3d:11:f6:ed:23 brd ff:ff:ff:ff:ff:ff link-netns npx2",
    "3: eni1a2b3c4d5e6@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc noqueue state UP mode DEFAULT group default \\    link/ether 2a:1b:3c:4d:5e:6f brd ff:ff:ff:ff:ff:ff link-netnsid 0",
    "4: ens5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether 02:aa:bb:cc:dd:ee brd ff:ff:ff:ff:ff:ff\\    altname enp0s5",
  );

  it("parses the example lines", () => {
    const ls = parseLinks(EXAMPLE);
    expect(ls.map((l) => [l.ifindex, l.name, l.mtu, l.state, l.linkType, l.mac, l.group])).toEqual([
      [1, "lo", 65536, "UNKNOWN", "loopback", "00:00:00:00:00:00", 0],
      [2, "eth0", 1500, "DOWN", "ether", "82:3d:11:f6:ed:23", 0],
      [3, "eni1a2b3c4d5e6", 9001, "UP", "ether", "2a:1b:3c:4d:5e:6f", 0],
      [4, "ens5", 9001, "UP", "ether", "02:aa:bb:cc:dd:ee", 0],
    ]);
    expect(ls[0]!.flags).toEqual(["LOOPBACK", "UP", "LOWER_UP"]);
    expect(ls[1]!.flags).toEqual(["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"]);
    expect(ls[0]!.master).toBeUndefined();
    expect(ls[3]!.src).toEqual({ file: L, line: 4, text: EXAMPLE.split("\n")[3] });
  });

  it("master, numeric group, link/none, empty flags, peer, permaddr", () => {
    const ls = parseLinks(lines(
      "6: vethX@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master br0 state UP mode DEFAULT group 7 qlen 1000\\    link/ether 0a:0b:0c:0d:0e:0f brd ff:ff:ff:ff:ff:ff link-netnsid 1",
      "7: tun0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UNKNOWN mode DEFAULT group default qlen 500\\    link/none ",
      "8: dummy0: <> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000\\    link/ether 11:22:33:44:55:66 brd ff:ff:ff:ff:ff:ff permaddr 11:22:33:44:55:67",
      "9: ppp0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1492 qdisc fq_codel state UNKNOWN mode DEFAULT group default qlen 3\\    link/ppp ",
      "10: ipip0@NONE: <NOARP> mtu 1480 qdisc noop state DOWN mode DEFAULT group default qlen 1000\\    link/ipip 0.0.0.0 brd 0.0.0.0",
    ));
    expect(ls[0]).toMatchObject({ name: "vethX", master: "br0", group: 7 });
    expect(ls[1]).toMatchObject({ name: "tun0", linkType: "none", mac: undefined });
    expect(ls[2]).toMatchObject({ flags: [], mac: "11:22:33:44:55:66" });
    expect(ls[3]).toMatchObject({ linkType: "ppp", mac: undefined });
    expect(ls[4]).toMatchObject({ name: "ipip0", linkType: "ipip", mac: "0.0.0.0" });
  });

  it("XDP is a notice; alias and vf sections are skipped", () => {
    const notices: string[] = [];
    const ls = parseLinks(lines(
      "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 xdpgeneric/id:42 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether 02:aa:bb:cc:dd:ee brd ff:ff:ff:ff:ff:ff\\    prog/xdp id 42 name xdp_pass tag 3b185187f1855c4c jited \\    alias uplink to the rack switch",
      "3: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether 02:aa:bb:cc:dd:ef brd ff:ff:ff:ff:ff:ff\\    vf 0     link/ether 00:00:00:00:00:00 brd ff:ff:ff:ff:ff:ff, spoof checking on, link-state auto, trust off",
    ), "ip-link.txt", notices);
    expect(ls.map((l) => l.name)).toEqual(["eth0", "eth1"]);
    expect(notices).toEqual(["ip-link.txt: XDP programs attached to eth0 are not modelled"]);
  });

  it("errors", () => {
    expectInputError(() => parseLinks("1: lo: <LOOPBACK> mtu 65536 frob 3\n"), L, 1, "frob");
    expectInputError(() => parseLinks("1: lo: <LOOPBACK> mtu 65536 group wan\n"), L, 1, "wan");
    expectInputError(() => parseLinks("1: lo: <LOOPBACK> mtu big\n"), L, 1, "big");
    expectInputError(() => parseLinks("lo: <LOOPBACK> mtu 65536\n"), L, 1, "lo:");
    expectInputError(() => parseLinks("1: lo <LOOPBACK> mtu 65536\n"), L, 1, "lo");
    expectInputError(() => parseLinks(lines("1: lo: <LOOPBACK> mtu 65536", "2: lo: <LOOPBACK> mtu 65536")), L, 2, "lo:");
    expectInputError(() => parseLinks(lines("1: lo: <LOOPBACK> mtu 65536", "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00")),
      L, 2, "link/loopback");
  });
});

describe("parseAddrs", () => {
  const A = "ip-addr.txt";
  const EXAMPLE = lines(
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
    "1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever",
    "2: eth0    inet 10.0.0.10/24 brd 10.0.0.255 scope global dynamic eth0\\       valid_lft 3200sec preferred_lft 3200sec",
    "2: eth0    inet 10.0.0.11/24 scope global secondary eth0\\       valid_lft forever preferred_lft forever",
    "5: eth0.100@eth0    inet 10.9.0.1/24 brd 10.9.0.255 scope global eth0.100\\       valid_lft forever preferred_lft forever",
    "7: ppp0    inet 10.64.64.64 peer 10.112.112.112/32 scope global ppp0\\       valid_lft forever preferred_lft forever",
    "2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever",
    "2: eth0    inet 10.0.0.13/24 metric 50 scope global secondary noprefixroute eth0:1\\       valid_lft forever preferred_lft forever",
    "2: eth0    inet6 fd00::2/64 scope global nodad \\       valid_lft forever preferred_lft forever",
  );

  it("parses the example lines and skips IPv6 with one notice", () => {
    const notices: string[] = [];
    const as = parseAddrs(EXAMPLE, A, notices);
    expect(as.map((a) => [a.ifindex, a.dev, a.local, a.plen, a.broadcast, a.peer, a.scope, a.secondary, a.noprefixroute, a.label])).toEqual([
      [1, "lo", ip("127.0.0.1"), 8, 0, 0, 254, false, false, "lo"],
      [2, "eth0", ip("10.0.0.10"), 24, ip("10.0.0.255"), 0, 0, false, false, "eth0"],
      [2, "eth0", ip("10.0.0.11"), 24, 0, 0, 0, true, false, "eth0"],
      [5, "eth0.100", ip("10.9.0.1"), 24, ip("10.9.0.255"), 0, 0, false, false, "eth0.100"],
      [7, "ppp0", ip("10.64.64.64"), 32, 0, ip("10.112.112.112"), 0, false, false, "ppp0"],
      [2, "eth0", ip("10.0.0.13"), 24, 0, 0, 0, true, true, "eth0:1"],
    ]);
    expect(as[1]!.src).toEqual({ file: A, line: 3, text: EXAMPLE.split("\n")[2] });
    expect(notices).toEqual(["ip-addr.txt: 3 IPv6 addresses skipped (IPv4 dataplane)"]);
  });

  it("an address without a length is /32; scope link", () => {
    const [a] = parseAddrs("3: eth1    inet 169.254.1.1 scope link eth1\\       valid_lft forever preferred_lft forever\n");
    expect(a).toMatchObject({ local: ip("169.254.1.1"), plen: 32, scope: 253 });
  });

  it("errors", () => {
    expectInputError(() => parseAddrs(lines(
      "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
      "2: eth0    inet 10.0.0.10/24 frob 1 scope global eth0\\       valid_lft forever preferred_lft forever",
    )), A, 2, "frob");
    expectInputError(() => parseAddrs("2: eth0    inet 10.0.0.10/33 scope global eth0\\ valid_lft forever\n"), A, 1, "10.0.0.10/33");
    expectInputError(() => parseAddrs("2: eth0    inet 300.0.0.10/24 scope global eth0\\ valid_lft forever\n"), A, 1, "300.0.0.10/24");
    expectInputError(() => parseAddrs("2: eth0    inet 10.0.0.10/24 scope galaxy eth0\\ valid_lft forever\n"), A, 1, "galaxy");
    expectInputError(() => parseAddrs("2: eth0    link/ether 02:aa:bb:cc:dd:ee brd ff:ff:ff:ff:ff:ff\n"), A, 1, "link/ether");
    expectInputError(() => parseAddrs("eth0    inet 10.0.0.10/24 scope global eth0\n"), A, 1, "eth0");
    // the lifetimes are checked (not modelled: an address does not expire here)
    expectInputError(() => parseAddrs("2: eth0    inet 10.0.0.10/24 scope global eth0\\       abc 3172sec preferred_lft 3172sec\n"), A, 1, "abc");
    expectInputError(() => parseAddrs("2: eth0    inet 10.0.0.10/24 scope global eth0\\       valid_lft 31x preferred_lft 3172sec\n"), A, 1, "31x");
    expectInputError(() => parseAddrs("2: eth0    inet 10.0.0.10/24 scope global eth0\\       valid_lft forever preferred_lft\n"), A, 1, "preferred_lft");
  });
});
