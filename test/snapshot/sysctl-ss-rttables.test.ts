import { describe, expect, it } from "vitest";
import { defaultTableNames, parseRtTables, tableId } from "../../host/snapshot/rttables.js";
import { parseSockets } from "../../host/snapshot/sockets.js";
import { normalizeSysctlKey, parseSysctl } from "../../host/snapshot/sysctl.js";
import { parseIPv4 } from "../../host/util/ipv4.js";
import { expectInputError, lines } from "./helpers.js";

const ip = (s: string): number => parseIPv4(s)!;

describe("parseSysctl", () => {
  const S = "sysctl.txt";

  it("key = value lines; values as printed", () => {
    const m = parseSysctl(lines(
      "net.ipv4.ip_forward = 1",
      "net.ipv4.conf.all.rp_filter = 1",
      "net.ipv4.conf.eth0.rp_filter = 2",
      "net.ipv4.ip_local_port_range = 32768\t60999",
      "net.netfilter.nf_log.0 = NONE",
      "kernel.hostname=ip-10-0-0-10",
      "net.ipv4.conf.lo.tag = ",
    ));
    expect([...m]).toEqual([
      ["net.ipv4.ip_forward", "1"],
      ["net.ipv4.conf.all.rp_filter", "1"],
      ["net.ipv4.conf.eth0.rp_filter", "2"],
      ["net.ipv4.ip_local_port_range", "32768\t60999"],
      ["net.netfilter.nf_log.0", "NONE"],
      ["kernel.hostname", "ip-10-0-0-10"],
      ["net.ipv4.conf.lo.tag", ""],
    ]);
  });

  it("turns '/' in a device name back into '.'", () => {
    const m = parseSysctl(lines(
      "net.ipv4.conf.vlan/eth/1.rp_filter = 0",
      "net.ipv4.conf.eth0/100.forwarding = 1",
      "net.ipv4.neigh.eth0/100.base_reachable_time_ms = 30000",
    ));
    expect(m.get("net.ipv4.conf.vlan.eth.1.rp_filter")).toBe("0");
    expect(m.get("net.ipv4.conf.eth0.100.forwarding")).toBe("1");
    expect(m.get("net.ipv4.neigh.eth0.100.base_reachable_time_ms")).toBe("30000");
    expect(normalizeSysctlKey("net.ipv4.conf.eth0.rp_filter")).toBe("net.ipv4.conf.eth0.rp_filter");
  });

  it("skips blank lines, comments and sysctl's own messages (one notice)", () => {
    const notices: string[] = [];
    const m = parseSysctl(lines(
      "# captured on node 1",
      "; another comment",
      "",
      "sysctl: cannot stat /proc/sys/net/ipv4/icmp_msgs_burst: No such file or directory",
      "net.ipv4.ip_forward = 1",
      "sysctl: permission denied on key 'net.ipv4.conf.all.stable_secret'",
    ), S, notices);
    expect([...m.keys()]).toEqual(["net.ipv4.ip_forward"]);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain("sysctl.txt: 2 messages from sysctl skipped");
    expect(notices[0]).toContain("cannot stat");
  });

  it("a line without '=' is an error naming it", () => {
    expectInputError(() => parseSysctl(lines("net.ipv4.ip_forward = 1", "net.ipv4.conf.all.rp_filter 1")), S, 2, "net.ipv4.conf.all.rp_filter");
  });
});

describe("parseSockets", () => {
  const SS = "ss.txt";

  it("parses every shape", () => {
    const notices: string[] = [];
    const ss = parseSockets(lines(
      "tcp   LISTEN 0      4096         0.0.0.0:10250      0.0.0.0:*",
      "udp   UNCONN 0      0      127.0.0.1:323    0.0.0.0:*",
      "tcp LISTEN 0 4096 *:10256 *:*",
      "tcp LISTEN 0 128 [::]:22 [::]:*",
      "udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:*",
      "tcp LISTEN 0 511 [::ffff:10.0.0.1]:80 *:*",
      "udp UNCONN 0 0 0.0.0.0%eth0:68 0.0.0.0:*",
      "udp UNCONN 0 0 [fe80::1%eth0]:123 [::]:*",
      "tcp LISTEN 0 4096 10.0.0.10:8080 0.0.0.0:* users:((\"nginx\",pid=1,fd=6))",
    ), SS, notices);
    expect(ss.map((s) => [s.proto, s.addr, s.port, s.src.line])).toEqual([
      ["tcp", 0, 10250, 1],
      ["udp", ip("127.0.0.1"), 323, 2],
      ["tcp", 0, 10256, 3],
      ["udp", ip("127.0.0.53"), 53, 5],
      ["tcp", ip("10.0.0.1"), 80, 6],
      ["udp", 0, 68, 7],
      ["tcp", ip("10.0.0.10"), 8080, 9],
    ]);
    expect(ss[0]!.src).toEqual({ file: SS, line: 1, text: "tcp   LISTEN 0      4096         0.0.0.0:10250      0.0.0.0:*" });
    expect(notices).toEqual(["ss.txt: 2 IPv6-only sockets skipped (IPv4 dataplane)"]);
  });

  it("errors", () => {
    expectInputError(() => parseSockets("raw UNCONN 0 0 0.0.0.0:1 0.0.0.0:*\n"), SS, 1, "raw");
    expectInputError(() => parseSockets("Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port\n"), SS, 1, "Netid");
    expectInputError(() => parseSockets(lines("tcp LISTEN 0 1 0.0.0.0:22 0.0.0.0:*", "tcp LISTEN 0 1 0.0.0.0:99999 0.0.0.0:*")),
      SS, 2, "0.0.0.0:99999");
    expectInputError(() => parseSockets("tcp LISTEN 0 1 10.0.0:22 0.0.0.0:*\n"), SS, 1, "10.0.0:22");
  });
});

describe("rt_tables", () => {
  it("defaultTableNames", () => {
    expect([...defaultTableNames()]).toEqual([["local", 255], ["main", 254], ["default", 253], ["unspec", 0]]);
  });

  it("parses the Debian file plus rt_tables.d lines, comments and hex ids", () => {
    const m = parseRtTables(lines(
      "#",
      "# reserved values",
      "#",
      "255\tlocal",
      "254\tmain",
      "253\tdefault",
      "0\tunspec",
      "#",
      "# local",
      "#",
      "#1\tinr.ruhep",
      "2 eni2 # secondary ENI",
      "  0x10   vpn",
      "",
    ));
    expect([...m]).toEqual([["local", 255], ["main", 254], ["default", 253], ["unspec", 0], ["eni2", 2], ["vpn", 16]]);
  });

  it("errors", () => {
    expectInputError(() => parseRtTables("255 local\nx main\n"), "rt_tables.txt", 2, "x");
    expectInputError(() => parseRtTables("255 local extra\n"), "rt_tables.txt", 1, "extra");
  });

  it("tableId falls back to the built-in names", () => {
    expect(tableId("main", new Map())).toBe(254);
    expect(tableId("42", new Map())).toBe(42);
    expect(tableId("nope", new Map())).toBe(-1);
  });
});
