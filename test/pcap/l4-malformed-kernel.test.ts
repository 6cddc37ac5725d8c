/**
 * Packets whose transport header is too short or malformed (TCP under 20
 * bytes or with a data offset below 5 or beyond the segment, UDP and ICMP
 * under 8 bytes, ICMP errors with short quotes or a quoted IHL below 5), sent
 * as raw Ethernet frames into a "node" namespace we create, some to one of
 * its addresses and some forwarded through it to a third namespace, with an
 * iptables-legacy ruleset whose tcp/udp/icmp/multiport matches hotdrop what
 * they cannot read, conntrack on and a DNAT rule. The node's capture is
 * replayed against a snapshot of the node, and the emulator must agree with
 * the kernel on the SNMP counters, every rule's and policy's packet and byte
 * counters (a hotdrop counts nothing; a match that fails counts nothing
 * either, but the rules after it then count the packet), conntrack's
 * invalid and error counts, and which packets reached the far side, while
 * the sound packets between the malformed ones are replayed too (they are
 * traffic, not damage to the capture).
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync } from "node:fs";
import * as abi from "../../host/core/abi.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { peerIpIds, recordKernelRun, legacyRestore, addFarNamespace, counterDeltas, createNetnsPair, iptablesCounterLines, RAW_IP_HELPERS, rawSenderPrelude, sh, type NetnsPair, sendFramesPy, type KernelRun } from "./netns-pair.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import { VERDICT_NAMES } from "../../host/packet/result.js";
import { scratchDir, haveTool, replayEach, snapshotEngine } from "./helpers.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");
const FAR_CAPTURE = join(dir, "vx.pcapng");

let ns: NetnsPair | undefined;
let far = "";

const COUNTERS = [
  "IpInReceives", "IpInDelivers", "IpForwDatagrams", "IpInHdrErrors", "IpOutRequests",
  "TcpInSegs", "TcpInErrs", "TcpInCsumErrors", "TcpOutRsts",
  "UdpInErrors", "UdpInCsumErrors", "UdpNoPorts", "UdpInDatagrams",
  "IcmpInMsgs", "IcmpInErrors", "IcmpInCsumErrors", "IcmpInDestUnreachs", "IcmpInTimeExcds", "IcmpInEchos",
  "IcmpOutMsgs", "IcmpOutTimeExcds", "IcmpOutEchoReps", "IcmpOutDestUnreachs",
];

// A: the source the probing rules look at (their matches hotdrop); B: a source they ignore
// (its packets reach the transport); L: the node; F: the far namespace, behind the node
const A = "192.0.2.1", B = "192.0.2.11", L = "192.0.2.2", F = "198.51.100.2";

/**
 * The frames, in order (IP id = position + 1): a python expression for the
 * IPv4 packet (helpers of the sender below), and the emulator's verdict and
 * drop reason (the kernel's counters below check them).
 */
const CASES: [string, "local" | "forward" | "drop", string | undefined][] = [
  [`ip(A, L, 1, echo(1))`, "local", undefined],
  [`ip(B, L, 6, b'')`, "drop", "L4_SHORT"], // tcp_v4_rcv: pskb_may_pull(20) fails (no tuple for conntrack)
  [`ip(B, L, 6, tcp(40001, 80, 5, 2)[:12])`, "drop", "L4_SHORT"],
  [`ip(B, L, 17, udp(B, L, 40002, 7777))`, "forward", undefined], // DNAT to F
  [`ip(B, L, 6, tcp(40003, 80, 3, 2))`, "drop", "PKT_TOO_SMALL"], // th->doff < 5: TcpInErrs
  [`ip(B, L, 6, tcp(40004, 80, 8, 16, b'abcd'))`, "drop", "L4_SHORT"], // doff beyond the segment
  [`ip(B, L, 17, b'\\x9c\\x45')`, "drop", "L4_SHORT"],
  [`ip(B, L, 17, udp(B, L, 40006, 7777)[:5])`, "drop", "L4_SHORT"], // INVALID: not DNATed
  [`ip(A, L, 1, echo(2))`, "local", undefined],
  [`ip(B, L, 1, b'')`, "drop", "ICMP_CSUM"], // the checksum of nothing is wrong
  [`ip(B, L, 1, icmp(8, 0, b''))`, "drop", "L4_SHORT"],
  [`ip(B, L, 1, icmp(3, 3, b'\\0' * 4 + quoted(17, L, F)[:10]))`, "drop", "L4_SHORT"], // quote under 20 bytes
  [`ip(B, L, 1, icmp(3, 3, b'\\0' * 4 + quoted(17, L, F) + struct.pack('!HH', 7777, 40008)))`, "local", undefined], // ports, not 8 bytes
  [`ip(B, L, 1, icmp(11, 0, b'\\0' * 4 + quoted(6, L, F, ihl=6) + struct.pack('!HH', 80, 40009)))`, "local", undefined],
  [`ip(B, L, 1, icmp(11, 0, b'\\0' * 4 + quoted(17, L, F, ihl=3) + b'\\0' * 8))`, "drop", "IP_INHDR"], // icmp_unreach: ihl < 5
  [`ip(B, F, 6, tcp(40011, 80, 5, 2, src=B, dst=F))`, "forward", undefined],
  [`ip(A, L, 6, tcp(40012, 80, 5, 2)[:3])`, "drop", "NF_HOTDROP"], // multiport: no ports
  [`ip(A, L, 6, tcp(40013, 80, 5, 2)[:12])`, "drop", "NF_HOTDROP"], // tcp: no 20-byte header
  [`ip(A, L, 6, tcp(40014, 80, 3, 2))`, "drop", "NF_HOTDROP"], // --tcp-option: doff < 5
  [`ip(A, L, 17, udp(A, L, 40015, 53)[:5])`, "drop", "NF_HOTDROP"], // udp: no 8-byte header
  [`ip(A, L, 1, icmp(8, 0, b''))`, "drop", "NF_HOTDROP"], // icmp: no 8-byte header
  [`ip(B, F, 17, udp(B, F, 40017, 53))`, "forward", undefined],
  [`ip(B, F, 6, tcp(40018, 80, 5, 2)[:12])`, "forward", undefined],
  [`ip(B, F, 17, udp(B, F, 40019, 53)[:5])`, "forward", undefined],
  [`ip(B, F, 1, b'')`, "forward", undefined],
  [`ip(B, F, 1, icmp(3, 1, b'\\0' * 4 + quoted(17, F, B)[:10]))`, "forward", undefined],
  [`ip(A, F, 6, tcp(40022, 80, 5, 2)[:3])`, "drop", "NF_HOTDROP"],
  [`ip(A, F, 17, b'\\x9c\\x57')`, "drop", "NF_HOTDROP"],
  [`ip(A, F, 1, icmp(8, 0, b''))`, "drop", "NF_HOTDROP"],
  [`ip(B, F, 6, tcp(40025, 80, 5, 2)[:12], ttl=1)`, "drop", "IP_INHDR"], // time exceeded sent
  [`ip(B, F, 1, b'', ttl=1)`, "drop", "IP_INHDR"], // no type to read: no ICMP error
  [`ip(B, F, 1, icmp(8, 0, b''), ttl=1)`, "drop", "IP_INHDR"], // an echo's type: time exceeded sent
  [`ip(A, L, 1, echo(3))`, "local", undefined],
];

/** The probing rules, the same in INPUT and FORWARD; then a counter per protocol. */
const PROBES = (chain: string) => [
  `-A ${chain} -m conntrack --ctstate INVALID`,
  `-A ${chain} -s ${A}/32 -p tcp -m multiport --dports 7,8`,
  `-A ${chain} -s ${A}/32 -p tcp -m tcp --dport 9999`,
  `-A ${chain} -s ${A}/32 -p tcp -m tcp --tcp-option 2`,
  `-A ${chain} -s ${A}/32 -p udp -m udp --dport 9999`,
  `-A ${chain} -s ${A}/32 -p icmp -m icmp --icmp-type 13`,
  `-A ${chain} -p tcp`,
  `-A ${chain} -p udp`,
  `-A ${chain} -p icmp`,
];
const RULES = [
  "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
  `-A PREROUTING -d ${L}/32 -p udp -m udp --dport 7777 -j DNAT --to-destination ${F}:7777`,
  "COMMIT",
  "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  ...PROBES("INPUT"), ...PROBES("FORWARD"),
  "COMMIT", "",
].join("\n");

const TOOLS = haveTool("dumpcap") && haveTool("nstat") && haveTool("tcpdump") && haveTool("conntrack") && haveTool("iptables-legacy-restore");

describeKernel("malformed transport headers, kernel vs emulator", () => {
  /** What the kernel run saw: nstat and conntrack -S before and after the frames, iptables-save -c. */
  let kr: KernelRun = { nodeMac: "", before: {}, after: {}, ctBefore: {}, ctAfter: {}, kernelSave: "" };
  let farIds: number[] = [];
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    ns = createNetnsPair("l4mal");
    const n = ns;
    // the far side takes everything and answers nothing back (no route to the peer's subnet)
    far = addFarNamespace(n, "l4mal", F);
    n.inNs(n.peer, ["ip", "addr", "add", `${B}/24`, "dev", "vp"]);
    legacyRestore(n, RULES);
    snapDir = join(dir, "snap");
    kr = await recordKernelRun(n, {
      capture: CAPTURE, far: { ns: far, capture: FAR_CAPTURE }, snapDir, waitMs: 700, conntrack: true, sender: (nodeMac) => [
      ...rawSenderPrelude(nodeMac),
      `A, B, L, F = '${A}', '${B}', '${L}', '${F}'`,
      ...RAW_IP_HELPERS,
      "def tcp(sp, dp, doff, flags, extra=b'', src=None, dst=None):",
      "    seg = struct.pack('!HHIIBBHHH', sp, dp, 1000, 0, doff << 4, flags, 512, 0, 0) + extra",
      "    if src: seg = seg[:16] + struct.pack('!H', l4sum(src, dst, 6, seg)) + seg[18:]",
      "    return seg",
      "def udp(s_, d_, sp, dp):",
      "    seg = struct.pack('!HHHH', sp, dp, 12, 0) + b'data'",
      "    return seg[:6] + struct.pack('!H', l4sum(s_, d_, 17, seg)) + seg[8:]",
      "def quoted(proto, s_, d_, ihl=5):",
      "    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, 60, 1, 0, 64, proto, 0, socket.inet_aton(s_), socket.inet_aton(d_))",
      "    return h + b'\\x01' * max(0, ihl * 4 - 20)",
      "ident = 0",
      ...sendFramesPy(CASES.map(([py]) => py)),
    ].join("\n"),
    });
    // the IP ids of the packets that reached the far side (from the peer's subnet)
    farIds = peerIpIds(FAR_CAPTURE);
  }, 90000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same verdicts, SNMP counters, rule counters, conntrack counts and forwarded packets; the sound packets between replayed", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    const engine = await snapshotEngine(snapDir);
    // the ruleset as loaded (iptables-legacy: the snapshot script's iptables-save may be the nft one)
    engine.loadRuleset(RULES, "rules");
    const src = PcapSource.open(CAPTURE, engine, {});
    const got: { id: number; verdict: string; reason: string | undefined }[] = [];
    replayEach(engine, src, 1, (dv, p, k, index) => {
      got.push({ id: dv.getUint16(p + abi.PKT_IPID, true), verdict: VERDICT_NAMES[dv.getUint8(p + abi.PKT_VERDICT)]!, reason: engine.decodeRaw(k, index).reason });
    });
    src.close();
    // every frame the peer sent is a packet, replayed in order (the node's own frames are not)
    expect(got.map((g) => g.id)).toEqual(CASES.map((_, i) => i + 1));
    expect(got.map((g) => [g.id, g.verdict, g.reason])).toEqual(CASES.map(([, v, r], i) => [i + 1, v, r]));
    // which packets reached the far side
    expect(got.filter((g) => g.verdict === "forward").map((g) => g.id)).toEqual(farIds);
    // the SNMP counters
    const { kernel, emulated } = counterDeltas(COUNTERS, kr.before, kr.after, engine.counters());
    expect(emulated).toEqual(kernel);
    // every rule's and policy's counters (hotdrops count nothing anywhere)
    expect(iptablesCounterLines(engine.iptablesSave())).toEqual(iptablesCounterLines(kr.kernelSave));
    // conntrack: packets it found invalid, ICMP it found in error
    const ct = engine.conntrackStats();
    expect({ invalid: ct.invalid, error: ct.error }).toEqual({
      invalid: (kr.ctAfter.invalid ?? 0) - (kr.ctBefore.invalid ?? 0), error: (kr.ctAfter.error ?? 0) - (kr.ctBefore.error ?? 0),
    });
    // and the kernel did what the cases say it does (the comparisons are not vacuous)
    expect(kernel.TcpInErrs).toBe(1);
    expect(kernel.UdpInErrors).toBe(2);
    expect(kernel.IcmpOutTimeExcds).toBe(2);
    expect(farIds.length).toBe(CASES.filter(([, v]) => v === "forward").length);
  });
});
