/**
 * UDP-Lite delivered to the node (__udp4_lib_rcv with IPPROTO_UDPLITE): its
 * own MIB (UdpLite*), the length field as checksum coverage (0 = the whole
 * datagram; below 8 or past the datagram, or a zero checksum field, is a
 * checksum error: udplite_checksum_init), and a closed port answered with
 * ICMP port unreachable, not protocol unreachable. Raw frames from the peer,
 * captured in the node namespace, replayed against its snapshot: the same
 * verdicts, counters and replies as the kernel.
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync } from "node:fs";
import * as abi from "../../host/core/abi.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { counterDeltas, createNetnsPair, RAW_IP_HELPERS, rawSenderPrelude, sh, startCapture, stopCapture, type NetnsPair, sendFramesPy } from "./netns-pair.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import { scratchDir, haveTool, replayEach, snapshotEngine } from "./helpers.js";
import { SNAPSHOT_SCRIPT as SNAPSHOT } from "../repo.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");

let ns: NetnsPair | undefined;

const COUNTERS = [
  "IpInReceives", "IpInDelivers", "IpInUnknownProtos", "IcmpOutDestUnreachs", "UdpNoPorts",
  "UdpLiteInDatagrams", "UdpLiteNoPorts", "UdpLiteInErrors", "UdpLiteInCsumErrors",
];

/** The frames, in order: [python expression of the IPv4 packet, the drop reason the emulator gives, the ICMP code of the node's answer]. */
const CASES: [string, string | undefined, number | undefined][] = [
  ["ulite(0)", undefined, 3], // coverage 0: the whole datagram; closed port
  ["ulite(8)", undefined, 3], // coverage of the header alone
  ["ulite(12)", undefined, 3], // part of the data
  ["ulite(0, zero=True)", "UDP_CSUM", undefined], // a zero checksum field
  ["ulite(0, bad=True)", "UDP_CSUM", undefined], // a wrong checksum
  ["ulite(4)", "UDP_CSUM", undefined], // coverage below the header
  ["ulite(100)", "PKT_TOO_SMALL", undefined], // coverage past the datagram: a short packet (ulen > skb->len)
  ["udp()", undefined, 3], // plain UDP to a closed port, for comparison
];

const TOOLS = haveTool("dumpcap") && haveTool("nstat") && haveTool("tcpdump");

describeKernel("UDP-Lite delivered to the node, kernel vs emulator", () => {
  let before: Record<string, number> = {};
  let after: Record<string, number> = {};
  let unreach: number[] = [];
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    ns = createNetnsPair("ulite");
    // the node knows the peer's MAC first (its answers do not wait for ARP)
    ns.inNs(ns.node, ["ping", "-c", "1", "-W", "1", "192.0.2.1"], false);
    const nodeMac = ns.inNs(ns.node, ["cat", "/sys/class/net/vn/address"]).trim();
    const cap = await startCapture(ns.node, ["dumpcap", "-q", "-i", "vn", "-w", CAPTURE]);
    before = ns.nstat();
    ns.inNs(ns.peer, ["python3", "-c", [
      ...rawSenderPrelude(nodeMac),
      ...RAW_IP_HELPERS,
      "A, L = '192.0.2.1', '192.0.2.2'",
      "DATA = b'udplite payload!'",
      "def ulite(cov, zero=False, bad=False):",
      "    seg = struct.pack('!HHHH', 5000 + ident, 7777, cov, 0) + DATA",
      "    n = len(seg) if cov == 0 else min(cov, len(seg))",
      // the pseudo-header carries the datagram's length; the sum covers `cov` bytes
      "    c = 0 if zero else (csum(socket.inet_aton(A) + socket.inet_aton(L) + struct.pack('!BBH', 0, 136, len(seg)) + seg[:n]) or 0xffff) ^ (0x1111 if bad else 0)",
      "    return ip(A, L, 136, seg[:6] + struct.pack('!H', c) + seg[8:])",
      "def udp():",
      "    seg = struct.pack('!HHHH', 6000, 7777, 8 + len(DATA), 0) + DATA",
      "    return ip(A, L, 17, seg[:6] + struct.pack('!H', l4sum(A, L, 17, seg) or 0xffff) + seg[8:])",
      "ident = 0",
      ...sendFramesPy(CASES.map(([py]) => py), 0.03),
    ].join("\n")]);
    await new Promise((r) => setTimeout(r, 400));
    after = ns.nstat();
    await stopCapture(cap);
    // the node's ICMP destination unreachables, by code, in order
    unreach = [...sh(["tcpdump", "-r", CAPTURE, "-n", "-v", "icmp and src host 192.0.2.2"]).matchAll(/ICMP 192\.0\.2\.2 (udp|protocol \d+) port 7777 unreachable|ICMP 192\.0\.2\.2 protocol (\d+) unreachable/g)]
      .map((m) => (m[2] !== undefined ? 2 : 3));
    snapDir = join(dir, "snap");
    ns.inNs(ns.node, ["sh", SNAPSHOT, snapDir]);
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same counters, drops and port unreachables", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    const engine = await snapshotEngine(snapDir);
    const src = PcapSource.open(CAPTURE, engine, {});
    const got: { reason: string | undefined; codes: number[] }[] = [];
    replayEach(engine, src, 1, (dv, p, k, index) => {
      if (dv.getUint32(p + abi.PKT_SRC, true) !== 0xc0000201) return; // the peer's frames
      const r = engine.decodeRaw(k, index);
      got.push({ reason: r.reason, codes: r.replies.filter((q) => q.icmp_type === 3).map((q) => q.icmp_code!) });
    });
    src.close();
    expect(got.map((g) => g.reason)).toEqual(CASES.map(([, reason]) => reason));
    expect(got.flatMap((g) => g.codes)).toEqual(unreach);
    const { kernel, emulated } = counterDeltas(COUNTERS, before, after, engine.counters());
    expect(emulated).toEqual(kernel);
    // the kernel did what the cases are about (the comparison is not vacuous)
    expect(kernel.UdpLiteNoPorts).toBe(3);
    expect(kernel.UdpLiteInCsumErrors).toBe(3);
    expect(kernel.UdpLiteInErrors).toBe(4);
    expect(kernel.IpInUnknownProtos).toBe(0);
    expect(unreach).toEqual([3, 3, 3, 3]);
  });
});
