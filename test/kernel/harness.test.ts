/**
 * Smoke test of the kernel-differential harness (test/kernel/netns.ts):
 * a two-link node namespace, route lookups, injected and local packets,
 * counters. Needs root, iproute2 and python3; skipped otherwise.
 *
 * Injected traffic never leaves the two namespaces the harness creates; the
 * "internet" destination is a TEST-NET-3 address (203.0.113.0/24).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelNode, kernelSkipReason, run, splitRouteOutput, type InjectPacket, type Seen } from "./netns.js";
import { buildIpPacket, checksum, parseFrame, buildFrame } from "./frames.js";
import { listNamespaces, removeStaleNamespaces } from "./cleanup.js";
import { spawnSync } from "node:child_process";

const reason = kernelSkipReason();
if (reason !== undefined) console.log(`[kernel harness] skipping kernel tests: ${reason}`);

const FAR = "203.0.113.8";

describe("frames (pure)", () => {
  it("builds packets with valid checksums and parses them back", () => {
    const p: InjectPacket = { id: 4242, iif: "eth0", src: "10.0.0.1", dst: "10.0.0.2", proto: "tcp", sport: 1234, dport: 80, flags: "SA", seq: 7, ack: 9, ttl: 33, tos: 0x10, df: true };
    const ip = buildIpPacket(p);
    expect(ip.length).toBe(40);
    expect(checksum(ip, 0, 20)).toBe(0);
    const f = buildFrame(p, "02:00:00:00:00:01", "02:00:00:00:00:02");
    const s = parseFrame(f, "eth0", 5)!;
    expect(s).toMatchObject({ src: "10.0.0.1", dst: "10.0.0.2", proto: 6, ttl: 33, tos: 0x10, len: 40, ipid: 4242, df: true, mf: false, fragOffset: 0, sport: 1234, dport: 80, tcpFlags: "SA", seq: 7, ack: 9 });
    const e = buildIpPacket({ id: 1, iif: "eth0", src: "10.0.0.1", dst: "10.0.0.2", proto: "icmp", icmpType: 3, icmpCode: 4, icmpRest: 1400, inner: { src: "10.0.0.2", dst: "1.2.3.4", proto: "udp", sport: 5, dport: 53, id: 77 } });
    expect(e.length).toBe(56);
    expect(checksum(e, 20)).toBe(0);
    const es = parseFrame(Buffer.concat([Buffer.alloc(12), Buffer.from([8, 0]), e]), "x", 0)!;
    expect(es.icmp).toEqual({ type: 3, code: 4, rest: 1400, inner: { src: "10.0.0.2", dst: "1.2.3.4", proto: 17, ipid: 77, ttl: 64, sport: 5, dport: 53 } });
    expect(parseFrame(Buffer.from("ffffffffffff020000000002080600010800060400", "hex"), "x", 0)).toBeUndefined();
  });

  it("splits route get output into answers", () => {
    expect(splitRouteOutput("a b \n    cache \nc d \n    cache <local> \n")).toEqual(["a b \n    cache \n", "c d \n    cache <local> \n"]);
  });
});

describe.skipIf(reason !== undefined)("kernel harness (real kernel in network namespaces)", () => {
  let node: KernelNode;

  beforeAll(async () => {
    const t0 = performance.now();
    node = await KernelNode.create({
      links: [{ name: "eth0" }, { name: "eth1", mtu: 1400 }],
      commands: [
        "ip addr add 10.0.0.10/24 dev eth0",
        "ip addr add 10.0.1.20/24 dev eth1",
        "ip route add default via 10.0.0.1 dev eth0",
        "ip route add unreachable 192.0.2.0/24",
        "ip route add prohibit 198.51.100.0/24",
        "ip rule add pref 512 to 10.0.0.55 lookup main",
        "sysctl -w net.ipv4.ip_forward=1",
      ],
    });
    console.log(`[kernel harness] node created in ${(performance.now() - t0).toFixed(0)} ms (${node.nodeNs}, ${node.worldNs})`);
  }, 60_000);

  afterAll(async () => {
    await node?.destroy();
    const left = (await run("ip", ["netns", "list"])).stdout;
    if (node) {
      expect(left).not.toContain(node.nodeNs);
      expect(left).not.toContain(node.worldNs);
    }
  }, 60_000);

  it("removes namespaces of dead harness processes only", async () => {
    const dead = spawnSync("true").pid!;
    const stale = `np-${dead}-9-n`;
    const mine = `np-${process.pid}-stale-test`;
    await run("ip", ["netns", "add", stale]);
    await run("ip", ["netns", "add", mine]);
    try {
      const removed = removeStaleNamespaces();
      expect(removed).toContain(stale);
      expect(removed).not.toContain(mine);
      const names = listNamespaces();
      expect(names).not.toContain(stale);
      expect(names).toContain(mine);
      expect(names).toContain(node.nodeNs);
    } finally {
      await run("ip", ["netns", "del", stale]);
      await run("ip", ["netns", "del", mine]);
    }
  });

  it("reports a failing setup command with its text", async () => {
    await expect(KernelNode.create({ links: [{ name: "eth0" }], commands: ["ip addr add 10.0.0.1/24 dev eth0", "ip route add 10.1.0.0/16 via 10.9.9.9"] }))
      .rejects.toThrow(/ip route add 10\.1\.0\.0\/16 via 10\.9\.9\.9/);
    await expect(KernelNode.create({ links: [{ name: "eth0" }], commands: ["sysctl -w net.ipv4.no_such_knob=1"] }))
      .rejects.toThrow(/no_such_knob/);
  }, 60_000);

  it("routeGet answers exactly like individual `ip route get` runs", async () => {
    const base: string[][] = [
      ["8.8.8.8"],
      ["10.0.1.33"],
      ["10.0.0.10"],
      ["10.0.0.55"],
      ["10.0.0.255"],
      ["127.0.0.1"],
      ["224.0.0.5"],
      ["192.0.2.1"],
      ["198.51.100.7"],
      ["8.8.8.8", "from", "10.0.1.33", "iif", "eth1"],
      ["8.8.8.8", "from", "10.0.1.33", "iif", "eth1", "mark", "0x80"],
      ["10.0.1.33", "from", "10.0.0.20", "iif", "eth0"],
      ["192.0.2.1", "from", "10.0.1.33", "iif", "eth1"],
      ["8.8.8.8", "from", "10.9.9.9"],
      ["8.8.8.8", "from", "10.0.1.20"],
      ["8.8.8.8", "oif", "eth1"],
      ["10.0.0.7", "from", "10.0.1.33", "iif", "lo"],
      ["999.1.1.1"],
      ["8.8.8.8", "oif", "nosuchdev"],
      ["8.8.8.8", "tos", "0x10", "mark", "7"],
      ["8.8.8.8", "ipproto", "tcp", "sport", "1000", "dport", "443"],
      ["1.1.1.1", "fibmatch"],
      ["10.0.0.10", "from", "10.0.0.5", "iif", "eth0"],
      ["8.8.8.8", "iif", "eth0"],
      [],
    ];
    // a shuffled mix, so that answers after errors (and after ip restarts) are checked too
    const queries: string[][] = [];
    let x = 12345;
    for (let i = 0; i < 120; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      queries.push(base[x % base.length]);
    }
    queries.push(...base);
    const got = await node.routeGet(queries);
    expect(got.length).toBe(queries.length);
    const individual = new Map<string, { ok: boolean; text: string }>();
    for (const q of base) {
      const r = await run("ip", ["-n", node.nodeNs, "route", "get", ...q]);
      individual.set(q.join(" "), r.code === 0 ? { ok: true, text: r.stdout } : { ok: false, text: r.stderr.trim() });
    }
    queries.forEach((q, i) => {
      const want = individual.get(q.join(" "))!;
      const g = got[i];
      expect({ q: q.join(" "), ok: g.ok, text: g.ok ? g.out : g.err }).toEqual({ q: q.join(" "), ok: want.ok, text: want.text });
    });
    // sanity: both kinds present
    expect(got.some((g) => g.ok)).toBe(true);
    expect(got.filter((g) => !g.ok).map((g) => (g as { err: string }).err)).toContain("RTNETLINK answers: No route to host");
    const first = got[queries.length - base.length];
    expect(first).toEqual({ ok: true, out: "8.8.8.8 via 10.0.0.1 dev eth0 src 10.0.0.10 uid 0 \n    cache \n" });
  }, 60_000);

  it("routeGet: 1000 queries", async () => {
    const qs: string[][] = [];
    for (let i = 0; i < 1000; i++) {
      qs.push(i % 3 === 0 ? [`10.0.${i % 2}.${i % 250 + 1}`] : i % 3 === 1 ? [`192.0.2.${i % 250}`] : [`8.8.${i % 200}.1`, "from", "10.0.1.33", "iif", "eth1"]);
    }
    const t0 = performance.now();
    const r = await node.routeGet(qs);
    const ms = performance.now() - t0;
    console.log(`[kernel harness] routeGet: 1000 queries in ${ms.toFixed(1)} ms`);
    expect(r.filter((x) => x.ok).length).toBe(667);
  }, 60_000);

  it("forwards, answers and rejects packets like the kernel does", async () => {
    const before = await node.nstat();
    const pkts: InjectPacket[] = [
      { id: 101, iif: "eth1", src: "10.0.1.5", dst: FAR, proto: "tcp", sport: 40000, dport: 443, seq: 5 },
      { id: 102, iif: "eth1", src: "10.0.1.5", dst: FAR, proto: "tcp", sport: 40001, dport: 443, ttl: 1 },
      { id: 103, iif: "eth0", src: "10.0.0.77", dst: "10.0.0.10", proto: "udp", sport: 5000, dport: 9 },
      { id: 104, iif: "eth0", src: "10.0.0.77", dst: "10.0.0.10", proto: "tcp", sport: 33333, dport: 9, seq: 1000 },
      { id: 105, iif: "eth0", src: "10.0.0.77", dst: "10.0.0.10", proto: "icmp", icmpId: 7, icmpSeq: 1 },
      { id: 106, iif: "local", dst: "10.0.1.99", proto: "udp", dport: 5353 },
      { id: 107, iif: "local", src: "10.9.9.9", dst: "10.0.1.99", proto: "udp", dport: 5353 },
      { id: 108, iif: "local", dst: "192.0.2.1", proto: "udp", dport: 53 },
    ];
    const res = await node.inject(pkts);
    const after = await node.nstat();
    const o = (id: number) => res.observations.find((x) => x.id === id)!;
    expect(res.unmatched).toEqual([]);

    // forwarded SYN: leaves eth0, ttl-1, same ip id
    expect(o(101).out).toHaveLength(1);
    expect(o(101).out[0]).toMatchObject({ ifname: "eth0", src: "10.0.1.5", dst: FAR, ttl: 63, ipid: 101, tcpFlags: "S", seq: 5 });
    // ttl 1: time exceeded back out eth1, quoting ip id 102
    expect(o(102).out).toHaveLength(1);
    expect(o(102).out[0]).toMatchObject({ ifname: "eth1", src: "10.0.1.20", dst: "10.0.1.5", proto: 1, icmp: { type: 11, code: 0, inner: { ipid: 102, src: "10.0.1.5", dst: FAR, sport: 40001, dport: 443 } } });
    // UDP to a closed port: port unreachable
    expect(o(103).out).toHaveLength(1);
    expect(o(103).out[0]).toMatchObject({ ifname: "eth0", src: "10.0.0.10", dst: "10.0.0.77", icmp: { type: 3, code: 3, inner: { ipid: 103, dport: 9 } } });
    // TCP SYN to a closed port: RST+ACK, ack = seq+1
    expect(o(104).out).toHaveLength(1);
    expect(o(104).out[0]).toMatchObject({ ifname: "eth0", src: "10.0.0.10", dst: "10.0.0.77", sport: 9, dport: 33333, tcpFlags: "RA", seq: 0, ack: 1001 });
    // echo reply
    expect(o(105).out).toHaveLength(1);
    expect(o(105).out[0]).toMatchObject({ ifname: "eth0", src: "10.0.0.10", dst: "10.0.0.77", icmp: { type: 0, code: 0, rest: (7 << 16) | 1 } });
    // local UDP: leaves eth1 with the kernel-chosen source
    expect(o(106).error).toBeUndefined();
    expect(o(106).out).toHaveLength(1);
    expect(o(106).out[0]).toMatchObject({ ifname: "eth1", src: "10.0.1.20", dst: "10.0.1.99", dport: 5353, sport: o(106).bound!.sport });
    // local bind to a non-local address
    expect(o(107).error).toBe("EADDRNOTAVAIL");
    expect(o(107).out).toEqual([]);
    // local send to an unreachable route
    expect(o(108).error).toBe("EHOSTUNREACH");
    expect(o(108).out).toEqual([]);

    for (const ob of res.observations) if (ob.id !== 107) expect(ob.sentNs).toBeGreaterThan(0);
    const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    expect(d("IpForwDatagrams")).toBe(1);
    expect(d("IcmpOutTimeExcds")).toBe(1);
    expect(d("IcmpOutDestUnreachs")).toBe(1);
    expect(d("UdpNoPorts")).toBe(1);
    expect(d("TcpOutRsts")).toBe(1);
    expect(d("IcmpInEchos")).toBe(1);
    expect(d("IcmpOutEchoReps")).toBe(1);
    expect(d("IpInReceives")).toBe(5);
  }, 60_000);

  it("keeps all fragments of a forwarded packet and reports frag-needed for DF", async () => {
    const res = await node.inject([
      { id: 201, iif: "eth0", src: "10.0.0.77", dst: "10.0.1.99", proto: "udp", sport: 7, dport: 7, len: 1500 },
      { id: 202, iif: "eth0", src: "10.0.0.77", dst: "10.0.1.99", proto: "udp", sport: 7, dport: 7, len: 1500, df: true },
      { id: 203, iif: "local", dst: "10.0.1.99", proto: "udp", dport: 7, len: 2000, df: false },
      { id: 204, iif: "local", dst: "10.0.1.99", proto: "udp", dport: 7, len: 1500, df: true },
      { id: 205, iif: "eth1", src: "10.0.1.5", dst: "10.0.0.77", proto: "udp", sport: 7, dport: 7, len: 1401 },
    ]);
    expect(res.unmatched).toEqual([]);
    const [f, e, l, lmsg, big] = res.observations;
    // larger than the arrival link's MTU: not sent
    expect(big).toEqual({ id: 205, error: "EMSGSIZE", out: [] });
    expect(f.out.length).toBe(2);
    expect(f.out.every((s: Seen) => s.ifname === "eth1" && s.ipid === 201)).toBe(true);
    expect(f.out.map((s) => [s.mf, s.fragOffset])).toEqual([[true, 0], [false, 1376]]);
    expect(e.out).toHaveLength(1);
    expect(e.out[0]).toMatchObject({ ifname: "eth0", icmp: { type: 3, code: 4, rest: 1400, inner: { ipid: 202 } } });
    expect(l.out.length).toBe(2);
    expect(lmsg.error).toBe("EMSGSIZE");
  }, 60_000);

  it("honours SO_MARK and SO_BINDTODEVICE for local packets, TCP SYN and ICMP echo", async () => {
    await node.runCommands(["ip rule add pref 100 fwmark 0x80 lookup 100", "ip route add default via 10.0.1.1 dev eth1 table 100"]);
    try {
      const res = await node.inject([
        { id: 301, iif: "local", dst: FAR, proto: "udp", dport: 53, mark: 0x80 },
        { id: 302, iif: "local", dst: FAR, proto: "udp", dport: 53 },
        { id: 303, iif: "local", dst: FAR, proto: "tcp", sport: 45678, dport: 443, oif: "eth1" },
        { id: 304, iif: "local", src: "10.0.0.10", dst: FAR, proto: "icmp", icmpId: 99, icmpSeq: 3, ttl: 9, tos: 0x20 },
        { id: 305, iif: "eth1", src: "10.0.1.5", dst: "10.0.0.10", proto: "icmp", icmpId: 5, icmpSeq: 6 },
      ]);
      expect(res.unmatched).toEqual([]);
      const o = (id: number) => res.observations.find((x) => x.id === id)!;
      expect(o(301).out.map((s) => [s.ifname, s.src])).toEqual([["eth1", "10.0.1.20"]]);
      expect(o(302).out.map((s) => [s.ifname, s.src])).toEqual([["eth0", "10.0.0.10"]]);
      expect(o(303).out).toHaveLength(1);
      expect(o(303).out[0]).toMatchObject({ ifname: "eth1", sport: 45678, dport: 443, tcpFlags: "S" });
      expect(o(304).out).toHaveLength(1);
      expect(o(304).out[0]).toMatchObject({ ifname: "eth0", src: "10.0.0.10", ttl: 9, tos: 0x20, icmp: { type: 8, rest: (99 << 16) | 3 } });
      expect(o(305).out).toHaveLength(1);
      expect(o(305).out[0]).toMatchObject({ ifname: "eth1", dst: "10.0.1.5", icmp: { type: 0 } });
      const sent = res.observations.map((x) => x.sentNs!);
      for (let i = 1; i < sent.length; i++) expect(sent[i]).toBeGreaterThan(sent[i - 1]);
    } finally {
      await node.runCommands(["ip rule del pref 100", "ip route flush table 100"]);
    }
  }, 60_000);

  it("dumps a snapshot of the node", async () => {
    const snap = await node.dumpSnapshot();
    expect(snap["ip-rule.txt"]).toContain("512:\tfrom all to 10.0.0.55 lookup main");
    expect(snap["ip-route.txt"]).toContain("default via 10.0.0.1 dev eth0");
    expect(snap["ip-addr.txt"]).toContain("10.0.1.20/24");
    expect(snap["ip-link.txt"]).toMatch(/eth1.*NOARP.*mtu 1400/);
    expect(snap["sysctl.txt"]).toContain("net.ipv4.ip_forward = 1");
    expect(snap["sysctl.txt"]).toContain("net.ipv4.icmp_ratemask = 0");
    // inherited-from-host IPv4 conf values are pinned to kernel defaults
    expect(snap["sysctl.txt"]).toContain("net.ipv4.conf.all.rp_filter = 0");
    expect(snap["sysctl.txt"]).toContain("net.ipv4.conf.default.accept_source_route = 1");
    expect(snap["sysctl.txt"]).toContain("net.ipv4.conf.eth0.send_redirects = 1");
    expect(snap["ss.txt"]).toBe("");
  }, 60_000);

  it("injects 500 packets", async () => {
    const pkts: InjectPacket[] = [];
    for (let i = 0; i < 500; i++) {
      pkts.push(i % 2 === 0
        ? { id: 1000 + i, iif: "eth1", src: `10.0.1.${(i % 200) + 30}`, dst: FAR, proto: "tcp", sport: 10000 + i, dport: 443 }
        : { id: 1000 + i, iif: "eth0", src: "10.0.0.77", dst: "10.0.0.10", proto: "icmp", icmpId: i, icmpSeq: 1 });
    }
    const before = await node.nstat();
    const t0 = performance.now();
    const res = await node.inject(pkts);
    const ms = performance.now() - t0;
    const after = await node.nstat();
    console.log(`[kernel harness] inject: 500 packets in ${ms.toFixed(0)} ms (incl. 150 ms quiet wait); ` +
      `send span ${((res.observations[499].sentNs! - res.observations[0].sentNs!) / 1e6).toFixed(1)} ms`);
    expect(res.unmatched).toEqual([]);
    expect(res.observations.every((o) => o.out.length === 1)).toBe(true);
    expect(after.IpForwDatagrams - before.IpForwDatagrams).toBe(250);
    expect(after.IcmpOutEchoReps - before.IcmpOutEchoReps).toBe(250);
  }, 60_000);
});
