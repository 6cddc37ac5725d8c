import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Route, Rule } from "../../host/model/node.js";
import { InputError } from "../../host/snapshot/errors.js";
import { parseSnapshotFiles, readSnapshotDir } from "../../host/snapshot/read.js";
import { formatIPv4, formatPrefix, parseIPv4 } from "../../host/util/ipv4.js";
import { expectInputError, lines } from "./helpers.js";

const ip = (s: string): number => parseIPv4(s)!;
const EKS = fileURLToPath(new URL("../fixtures/eks-node", import.meta.url));

/** A small valid snapshot, as files. */
function minimal(): Record<string, string> {
  return {
    "ip-link.txt": lines(
      "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
      "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether 02:aa:bb:cc:dd:ee brd ff:ff:ff:ff:ff:ff",
    ),
    "ip-addr.txt": lines(
      "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
      "2: eth0    inet 10.0.0.10/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever preferred_lft forever",
    ),
    "ip-route.txt": lines(
      "default via 10.0.0.1 dev eth0 ",
      "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.10 ",
      "local 10.0.0.10 dev eth0 table local proto kernel scope host src 10.0.0.10 ",
    ),
    "ip-rule.txt": lines("0:\tfrom all lookup local", "32766:\tfrom all lookup main", "32767:\tfrom all lookup default"),
    "sysctl.txt": lines("net.ipv4.ip_forward = 1"),
  };
}

describe("readSnapshotDir: the EKS node fixture", () => {
  it("reads every file into the model", async () => {
    const s = await readSnapshotDir(EKS);
    expect(s.origin).toBe(EKS);

    expect(s.links.map((l) => `${l.ifindex}:${l.name}`)).toEqual(["1:lo", "2:eth0", "3:eni1f3a2b4c5d6", "4:eth1", "5:eni7a8b9c0d1e2"]);
    expect(s.links.every((l) => l.mtu === (l.name === "lo" ? 65536 : 9001) && l.state !== "DOWN")).toBe(true);

    expect(s.addrs.map((a) => `${a.dev} ${formatPrefix(a.local, a.plen)} brd ${formatIPv4(a.broadcast)}`)).toEqual([
      "lo 127.0.0.1/8 brd 0.0.0.0",
      "eth0 10.0.0.10/24 brd 10.0.0.255",
      "eth1 10.0.1.20/24 brd 10.0.1.255",
    ]);

    const show = s.routes.map((r) =>
      `${r.type} ${formatPrefix(r.prefix, r.plen)} table ${r.table}` +
      (r.gw ? ` via ${formatIPv4(r.gw)}` : "") + ` dev ${r.dev} scope ${r.scope}`);
    expect(show).toEqual([
      "unicast 0.0.0.0/0 table 2 via 10.0.1.1 dev eth1 scope 0",
      "unicast 10.0.1.1 table 2 dev eth1 scope 253",
      "unicast 0.0.0.0/0 table 254 via 10.0.0.1 dev eth0 scope 0",
      "unicast 10.0.0.0/24 table 254 dev eth0 scope 253",
      "unicast 10.0.0.55 table 254 dev eni1f3a2b4c5d6 scope 253",
      "unicast 10.0.1.33 table 254 dev eni7a8b9c0d1e2 scope 253",
      "unicast 169.254.169.254 table 254 dev eth0 scope 0",
      "local 10.0.0.10 table 255 dev eth0 scope 254",
      "broadcast 10.0.0.255 table 255 dev eth0 scope 253",
      "local 10.0.1.20 table 255 dev eth1 scope 254",
      "broadcast 10.0.1.255 table 255 dev eth1 scope 253",
      "local 127.0.0.0/8 table 255 dev lo scope 254",
      "local 127.0.0.1 table 255 dev lo scope 254",
      "broadcast 127.255.255.255 table 255 dev lo scope 253",
    ]);
    expect(s.routes.map((r) => r.index)).toEqual([...Array(14).keys()]);
    expect(s.routes[4]!.src).toEqual({ file: "ip-route.txt", line: 5, text: "10.0.0.55 dev eni1f3a2b4c5d6 scope link " });

    expect(s.rules.map((r) => [r.pref, r.to && formatPrefix(r.to.addr, r.to.plen), r.from && formatPrefix(r.from.addr, r.from.plen),
      r.fwmark, r.fwmask, r.table])).toEqual([
      [0, undefined, undefined, 0, 0, 255],
      [512, "10.0.0.55", undefined, 0, 0, 254],
      [512, "10.0.1.33", undefined, 0, 0, 254],
      [1024, undefined, undefined, 0x80, 0x80, 254],
      [1536, undefined, "10.0.1.33", 0, 0, 2],
      [32766, undefined, undefined, 0, 0, 254],
      [32767, undefined, undefined, 0, 0, 253],
    ]);

    expect(s.sysctl.get("net.ipv4.ip_forward")).toBe("1");
    expect(s.sysctl.get("net.ipv4.conf.all.rp_filter")).toBe("1");
    expect(s.sysctl.get("net.ipv4.conf.eth0.rp_filter")).toBe("2");
    expect(s.sysctl.get("net.ipv4.conf.eth1.rp_filter")).toBe("1");
    expect(s.sysctl.get("net.ipv4.conf.all.route_localnet")).toBe("1");
    expect(s.sysctl.get("net.ipv4.conf.eni1f3a2b4c5d6.forwarding")).toBe("1");
    expect(s.sysctl.get("net.netfilter.nf_conntrack_max")).toBe("131072");

    expect(s.sockets!.map((k) => `${k.proto} ${formatIPv4(k.addr)}:${k.port}`)).toEqual([
      "udp 127.0.0.1:323",
      "udp 0.0.0.0:68",
      "tcp 127.0.0.1:10248",
      "tcp 127.0.0.1:10249",
      "tcp 127.0.0.1:50051",
      "tcp 127.0.0.1:61679",
      "tcp 127.0.0.1:34817",
      "tcp 0.0.0.0:22",
      "tcp 0.0.0.0:10250",
      "tcp 0.0.0.0:10256",
      "tcp 0.0.0.0:61678",
    ]);
    expect(s.iptablesSave).toBeUndefined();

    expect(s.notices).toEqual([
      "ip-addr.txt: 5 IPv6 addresses skipped (IPv4 dataplane)",
      "ip-route.txt: 9 IPv6 routes skipped (IPv4 dataplane)",
      "ss.txt: 2 IPv6-only sockets skipped (IPv4 dataplane)",
    ]);
  });

  it("the same result from parseSnapshotFiles on the files' text", async () => {
    const files: Record<string, string> = {};
    for (const f of ["ip-link.txt", "ip-addr.txt", "ip-route.txt", "ip-rule.txt", "sysctl.txt", "ss.txt", "meta.txt"]) {
      files[f] = await readFile(join(EKS, f), "utf8");
    }
    expect(parseSnapshotFiles(files, EKS)).toEqual(await readSnapshotDir(EKS));
  });
});

/** A route printed back the way `ip route show table all` prints it (the fields the fixture uses). */
function showRoute(r: Route): string {
  const tables: Record<number, string> = { 255: "local", 253: "default" };
  const scopes: Record<number, string> = { 253: "link", 254: "host", 200: "site", 255: "nowhere" };
  const w: string[] = [];
  if (r.type !== "unicast") w.push(r.type);
  w.push(r.plen === 0 && r.prefix === 0 ? "default" : formatPrefix(r.prefix, r.plen));
  if (r.tos) w.push("tos", `0x${r.tos.toString(16)}`);
  if (r.gw) w.push("via", formatIPv4(r.gw));
  if (r.dev !== undefined) w.push("dev", r.dev);
  if (r.table !== 254) w.push("table", tables[r.table] ?? String(r.table));
  if (r.proto) w.push("proto", r.proto);
  if (r.scope) w.push("scope", scopes[r.scope] ?? String(r.scope));
  if (r.prefsrc) w.push("src", formatIPv4(r.prefsrc));
  if (r.metric) w.push("metric", String(r.metric));
  w.push(...r.nhflags);
  if (r.mtu) w.push("mtu", String(r.mtu));
  return w.join(" ") + " ";
}

/** A rule printed back the way `ip rule show` prints it (the fields the fixture uses). */
function showRule(r: Rule): string {
  const tables: Record<number, string> = { 255: "local", 254: "main", 253: "default" };
  const w: string[] = [`${r.pref}:\t${r.invert ? "not " : ""}from`];
  w.push(r.from ? formatPrefix(r.from.addr, r.from.plen) : "all");
  if (r.to) w.push("to", formatPrefix(r.to.addr, r.to.plen));
  if (r.fwmask) w.push("fwmark", `0x${r.fwmark.toString(16)}` + (r.fwmask !== 0xffffffff ? `/0x${r.fwmask.toString(16)}` : ""));
  if (r.action === "lookup") w.push("lookup", tables[r.table!] ?? String(r.table));
  else w.push(r.action);
  return w.join(" ");
}

describe("round trip: the EKS fixture printed back from the model", () => {
  it("routes and rules print back to the lines they came from", async () => {
    const s = await readSnapshotDir(EKS);
    for (const r of s.routes) expect(showRoute(r)).toBe(r.src.text);
    for (const r of s.rules) expect(showRule(r)).toBe(r.src.text);
    const routeText = await readFile(join(EKS, "ip-route.txt"), "utf8");
    const ipv4Lines = routeText.split("\n").filter((l) => l !== "" && !l.includes(":"));
    expect(s.routes.map(showRoute)).toEqual(ipv4Lines);
  });
});

describe("parseSnapshotFiles", () => {
  it("a minimal snapshot; optional files absent", () => {
    const s = parseSnapshotFiles(minimal(), "test");
    expect(s.links).toHaveLength(2);
    expect(s.addrs).toHaveLength(2);
    expect(s.routes).toHaveLength(3);
    expect(s.rules).toHaveLength(3);
    expect(s.sockets).toBeUndefined();
    expect(s.iptablesSave).toBeUndefined();
    expect(s.notices).toEqual([]);
  });

  it("ip-route.txt without the local table (`ip route` instead of `ip route show table all`): a notice says so", () => {
    const files = minimal();
    files["ip-route.txt"] = files["ip-route.txt"]!.split("\n").filter((l) => !l.includes("table local")).join("\n");
    const s = parseSnapshotFiles(files, "test");
    expect(s.notices).toEqual([expect.stringMatching(/^ip-route\.txt has no route of table local \(255\): it looks like `ip route` rather than `ip route show table all`/)]);
  });

  it("keeps iptables-save text raw and uses rt_tables.txt names in routes and rules", () => {
    const files = minimal();
    files["iptables-save.txt"] = "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n";
    files["rt_tables.txt"] = "255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n2\teni2\n";
    files["ip-route.txt"] += "default via 10.0.0.1 dev eth0 table eni2 \n";
    files["ip-rule.txt"] = lines("0:\tfrom all lookup local", "1536:\tfrom 10.0.0.33 lookup eni2", "32766:\tfrom all lookup main");
    files["ss.txt"] = "";
    const s = parseSnapshotFiles(files, "test");
    expect(s.iptablesSave).toBe(files["iptables-save.txt"]);
    expect(s.routes[3]).toMatchObject({ table: 2, gw: ip("10.0.0.1") });
    expect(s.rules[1]).toMatchObject({ table: 2, from: { addr: ip("10.0.0.33"), plen: 32 } });
    expect(s.sockets).toEqual([]);
  });

  it("a missing required file is an error naming it", () => {
    for (const f of ["ip-rule.txt", "ip-route.txt", "ip-addr.txt", "ip-link.txt", "sysctl.txt"]) {
      const files = minimal();
      delete files[f];
      const err = expectInputError(() => parseSnapshotFiles(files, "snap"), f, 0, "");
      expect(err.message).toContain(f);
    }
  });

  it("an address on a device not in ip-link.txt", () => {
    const files = minimal();
    files["ip-addr.txt"] += "3: eth1    inet 10.0.1.20/24 scope global eth1\\       valid_lft forever preferred_lft forever\n";
    const err = expectInputError(() => parseSnapshotFiles(files, "snap"), "ip-addr.txt", 3, "eth1");
    expect(err.problem).toContain("ip-link.txt");
    expect(err.column).toBe(4);
  });

  it("an address whose ifindex does not match ip-link.txt", () => {
    const files = minimal();
    files["ip-addr.txt"] = files["ip-addr.txt"]!.replace("2: eth0", "9: eth0");
    expectInputError(() => parseSnapshotFiles(files, "snap"), "ip-addr.txt", 2, "eth0");
  });

  it("a route on a device not in ip-link.txt", () => {
    const files = minimal();
    files["ip-route.txt"] += "10.0.0.55 dev eni1f3a2b4c5d6 scope link \n";
    const err = expectInputError(() => parseSnapshotFiles(files, "snap"), "ip-route.txt", 4, "eni1f3a2b4c5d6");
    expect(err.problem).toContain("ip-link.txt");
    expect(err.column).toBe(15);
  });

  it("rules may name devices that do not exist", () => {
    const files = minimal();
    files["ip-rule.txt"] = lines("0:\tfrom all lookup local", "10:\tfrom all iif gone [detached] oif gone2 [detached] lookup main", "32766:\tfrom all lookup main");
    expect(parseSnapshotFiles(files, "snap").rules[1]).toMatchObject({ iif: "gone", oif: "gone2" });
  });
});

describe("readSnapshotDir: errors", () => {
  it("a directory that does not exist", async () => {
    await expect(readSnapshotDir("/nonexistent/nodeplane-snapshot")).rejects.toBeInstanceOf(InputError);
  });

  it("a missing required file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "nodeplane-snap-"));
    try {
      const files = minimal();
      delete files["sysctl.txt"];
      for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
      const err = await readSnapshotDir(dir).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).file).toBe(join(dir, "sysctl.txt"));
      expect((err as InputError).message).toContain(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
