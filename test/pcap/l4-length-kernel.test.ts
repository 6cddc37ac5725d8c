/**
 * The rest of what the kernel reads in a transport header, asked of the
 * kernel: raw Ethernet frames sent into a "node" namespace we create, to its
 * address and forwarded through it to a third namespace, captured, and
 * replayed against a snapshot of the node. The cases:
 *  - a UDP length field beyond the datagram, below 8, and below the
 *    datagram (udp_error, __udp4_lib_rcv's short_packet and its trim, the
 *    checksum over the length field's bytes for the UDP layer and over all of
 *    them for netfilter); forwarded ones are left alone;
 *  - REJECT --reject-with tcp-reset and icmp-port-unreachable for a packet
 *    whose checksum is wrong, in INPUT and in FORWARD, with and without
 *    conntrack's own sum at PREROUTING (NOTRACK): nf_reject_ip_tcphdr_get /
 *    nf_send_unreach send nothing for it anywhere;
 *  - SCTP under its 12-byte common header and DCCP without its ports
 *    (conntrack's tuple, the SCTP tracker's "short packet", multiport's
 *    hotdrop, local delivery of a protocol the node has no handler for);
 *  - an ICMP redirect quoting an IPv4 header length below 5
 *    (icmp_socket_deliver, the quoted protocol's error handler).
 * The emulator must agree with the kernel on verdicts, SNMP counters, every
 * rule's counters, conntrack's invalid/error counts, the packets that
 * reached the far side and the resets and ICMP errors the node sent.
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
  "IpInReceives", "IpInDelivers", "IpForwDatagrams", "IpInUnknownProtos", "IpOutRequests",
  "TcpInSegs", "TcpInErrs", "TcpInCsumErrors", "TcpOutRsts",
  "UdpInErrors", "UdpInCsumErrors", "UdpNoPorts", "UdpInDatagrams",
  "IcmpInMsgs", "IcmpInErrors", "IcmpInCsumErrors", "IcmpInEchos",
  "IcmpOutMsgs", "IcmpOutEchoReps", "IcmpOutDestUnreachs",
];

// A: the source the multiport probes look at (they hotdrop); B: a source conntrack tracks;
// C: a source the raw table NOTRACKs (no conntrack sum at PREROUTING); L: the node; F: the far namespace
const A = "192.0.2.1", B = "192.0.2.11", C = "192.0.2.12", L = "192.0.2.2", F = "198.51.100.2";

/**
 * The frames, in order (IP id = position + 1; TCP/UDP source ports 40000 +
 * id): a python expression for the IPv4 packet (helpers of the sender
 * below), the emulator's verdict and drop reason, and what the node sends
 * back ("rst", "unreach" for an ICMP destination unreachable; the kernel's
 * capture checks them).
 */
type Case = [string, "local" | "forward" | "drop", string | undefined, ("rst" | "unreach")?];
const CASES: Case[] = [
  [`ip(A, L, 1, echo(1))`, "local", undefined],
  // UDP length fields: beyond the datagram, below 8, zero: short_packet (no port unreachable)
  [`ip(B, L, 17, udp(B, L, 9, ulen=100))`, "drop", "PKT_TOO_SMALL"],
  [`ip(B, L, 17, udp(B, L, 9, ulen=4))`, "drop", "PKT_TOO_SMALL"],
  [`ip(B, L, 17, udp(B, L, 9, ulen=0))`, "drop", "PKT_TOO_SMALL"],
  // below the datagram: trimmed; its checksum over ulen bytes is right (conntrack's over all of them is not)
  [`ip(B, L, 17, udp(B, L, 9, ulen=10))`, "local", undefined, "unreach"],
  [`ip(B, L, 17, udp(B, L, 9, ulen=10, ck='none'))`, "local", undefined, "unreach"],
  // ... its checksum over all the bytes is right, over ulen bytes wrong: UdpInCsumErrors
  [`ip(B, L, 17, udp(B, L, 9, ulen=10, ck='all'))`, "drop", "UDP_CSUM"],
  [`ip(B, F, 17, udp(B, F, 9, ulen=100))`, "forward", undefined],
  [`ip(B, F, 17, udp(B, F, 9, ulen=10))`, "forward", undefined],
  // INVALID (conntrack's sum): not DNATed, delivered to the node's closed port
  [`ip(B, L, 17, udp(B, L, 7777, ulen=10))`, "local", undefined, "unreach"],
  [`ip(B, L, 17, udp(B, L, 7777, ulen=12))`, "forward", undefined], // a sound one: DNAT to F
  [`ip(A, L, 1, echo(2))`, "local", undefined],
  // REJECT tcp-reset: a right checksum; a wrong one at INPUT (conntrack's sum left the packet
  // CHECKSUM_COMPLETE, and nf_ip_checksum sums it again there), at FORWARD (ip_forward's
  // skb_forward_csum made it CHECKSUM_NONE again: summed), with and without conntrack (NOTRACK)
  [`ip(B, L, 6, tcp(B, L, 81))`, "drop", "NETFILTER", "rst"],
  [`ip(B, L, 6, tcp(B, L, 81, ok=False))`, "drop", "NETFILTER"],
  [`ip(B, F, 6, tcp(B, F, 81, ok=False))`, "drop", "NETFILTER"],
  [`ip(C, F, 6, tcp(C, F, 81, ok=False))`, "drop", "NETFILTER"],
  [`ip(C, L, 6, tcp(C, L, 81, ok=False))`, "drop", "NETFILTER"],
  [`ip(C, F, 6, tcp(C, F, 81))`, "drop", "NETFILTER", "rst"],
  // a data offset below 5: conntrack never sums it ("truncated packet"), REJECT does
  [`ip(B, F, 6, tcp(B, F, 81, doff=3, ok=False))`, "drop", "NETFILTER"],
  [`ip(B, F, 6, tcp(B, F, 81, doff=3))`, "drop", "NETFILTER", "rst"],
  // REJECT icmp-port-unreachable (nf_send_unreach checks the checksum too)
  [`ip(B, L, 17, udp(B, L, 82, ok=False))`, "drop", "NETFILTER"],
  [`ip(B, F, 17, udp(B, F, 82, ok=False))`, "drop", "NETFILTER"],
  [`ip(C, F, 17, udp(C, F, 82, ok=False))`, "drop", "NETFILTER"],
  [`ip(B, L, 17, udp(B, L, 82, ulen=10))`, "drop", "NETFILTER"], // netfilter sums all the bytes
  [`ip(B, L, 17, udp(B, L, 82, ck='none'))`, "drop", "NETFILTER", "unreach"],
  [`ip(B, L, 1, icmp(13, 0, b'\\0' * 16, ok=False))`, "drop", "NETFILTER"],
  [`ip(B, F, 1, icmp(13, 0, b'\\0' * 16, ok=False))`, "drop", "NETFILTER"],
  [`ip(B, F, 1, icmp(13, 0, b'\\0' * 16))`, "drop", "NETFILTER", "unreach"],
  [`ip(A, L, 1, echo(3))`, "local", undefined],
  // SCTP under 12 bytes, DCCP under 4: no tuple (SCTP under 4) or "short packet"; multiport
  // hotdrops what has no ports; no handler on the node: protocol unreachable
  [`ip(B, L, 132, b'\\x9c\\x5d')`, "local", undefined, "unreach"],
  [`ip(B, L, 132, struct.pack('!HHI', 40030, 9, 7))`, "local", undefined, "unreach"],
  [`ip(A, L, 132, b'\\x9c\\x5f\\x00')`, "drop", "NF_HOTDROP"],
  [`ip(B, F, 132, struct.pack('!HHI', 40032, 9, 7))`, "forward", undefined],
  [`ip(B, L, 33, b'\\x9c\\x61')`, "local", undefined, "unreach"],
  [`ip(A, L, 33, b'\\x9c\\x62\\x00')`, "drop", "NF_HOTDROP"],
  [`ip(B, F, 33, b'\\x9c\\x63')`, "forward", undefined],
  [`ip(A, L, 1, echo(4))`, "local", undefined],
  // ICMP redirects quoting an IHL below 5: 3 (the quoted protocol's handler reads ports 12 bytes in:
  // no socket, IcmpInErrors), 4 in a 20-byte quote (icmp_socket_deliver wants 24: IcmpInErrors)
  [`ip(B, L, 1, icmp(5, 1, socket.inet_aton(F) + quoted(17, L, F, ihl=3) + b'\\0' * 8))`, "local", undefined],
  [`ip(B, L, 1, icmp(5, 1, socket.inet_aton(F) + quoted(17, L, F, ihl=4)))`, "local", undefined],
  [`ip(B, L, 1, icmp(5, 1, socket.inet_aton(F) + quoted(6, L, F, ihl=3) + b'\\0' * 8))`, "local", undefined],
  [`ip(B, L, 1, icmp(5, 1, socket.inet_aton(F) + quoted(1, L, F, ihl=2) + b'\\0' * 8))`, "local", undefined],
  [`ip(A, L, 1, echo(5))`, "local", undefined],
];

/** Counting rules, the same in INPUT and FORWARD; the REJECT rules; the multiport probes. */
const CHAIN = (chain: string) => [
  `-A ${chain} -m conntrack --ctstate INVALID`,
  `-A ${chain} -s ${A}/32 -p sctp -m multiport --dports 7,8`,
  `-A ${chain} -s ${A}/32 -p dccp -m multiport --dports 7,8`,
  `-A ${chain} -p tcp -m tcp --dport 81 -j REJECT --reject-with tcp-reset`,
  `-A ${chain} -p udp -m udp --dport 82 -j REJECT --reject-with icmp-port-unreachable`,
  `-A ${chain} -p icmp -m icmp --icmp-type 13 -j REJECT --reject-with icmp-host-prohibited`,
  `-A ${chain} -p udp`,
  `-A ${chain} -p sctp`,
  `-A ${chain} -p dccp`,
  `-A ${chain} -p icmp`,
];
const RULES = [
  "*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  `-A PREROUTING -s ${C}/32 -j NOTRACK`,
  "COMMIT",
  "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
  `-A PREROUTING -d ${L}/32 -p udp -m udp --dport 7777 -j DNAT --to-destination ${F}:7777`,
  "COMMIT",
  "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  ...CHAIN("INPUT"), ...CHAIN("FORWARD"),
  "COMMIT", "",
].join("\n");

const TOOLS = haveTool("dumpcap") && haveTool("nstat") && haveTool("tcpdump") && haveTool("conntrack") && haveTool("iptables-legacy-restore");

describeKernel("UDP length, REJECT's checksum check, short SCTP/DCCP, redirects quoting IHL < 5: kernel vs emulator", () => {
  /** What the kernel run saw: nstat and conntrack -S before and after the frames, iptables-save -c. */
  let kr: KernelRun = { nodeMac: "", before: {}, after: {}, ctBefore: {}, ctAfter: {}, kernelSave: "" };
  let farIds: number[] = [];
  let sent: string[] = [];
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    ns = createNetnsPair("l4len");
    const n = ns;
    far = addFarNamespace(n, "l4len", F);
    // the peer answers ARP for B and C, so that the node's resets and errors to them leave
    n.inNs(n.peer, ["ip", "addr", "add", `${B}/24`, "dev", "vp"]);
    n.inNs(n.peer, ["ip", "addr", "add", `${C}/24`, "dev", "vp"]);
    legacyRestore(n, RULES);
    snapDir = join(dir, "snap");
    kr = await recordKernelRun(n, {
      capture: CAPTURE, far: { ns: far, capture: FAR_CAPTURE }, snapDir, waitMs: 700, conntrack: true, sender: (nodeMac) => [
      ...rawSenderPrelude(nodeMac),
      `A, B, C, L, F = '${A}', '${B}', '${C}', '${L}', '${F}'`,
      ...RAW_IP_HELPERS,
      "def tcp(s_, d_, dp, doff=5, ok=True):",
      "    seg = struct.pack('!HHIIBBHHH', 40001 + ident, dp, 1000, 0, doff << 4, 2, 512, 0, 0)",
      "    c = l4sum(s_, d_, 6, seg)",
      "    return seg[:16] + struct.pack('!H', c if ok else c ^ 0x0101) + seg[18:]",
      // a 12-byte datagram (4 bytes of data) whose length field says ulen; its checksum over the
      // ulen bytes ('ulen'), over all 12 ('all'), none, or wrong
      "def udp(s_, d_, dp, ulen=12, ck='ulen', ok=True):",
      "    seg = struct.pack('!HHHH', 40001 + ident, dp, ulen, 0) + b'data'",
      "    n = min(ulen, 12) if ck == 'ulen' and ulen >= 8 else 12",
      "    c = 0 if ck == 'none' else l4sum(s_, d_, 17, seg[:n]) or 0xffff",
      "    if not ok: c ^= 0x0101",
      "    return seg[:6] + struct.pack('!H', c) + seg[8:]",
      "def icmp(t, c, rest, ok=True):",
      "    b = struct.pack('!BBH', t, c, 0) + rest",
      "    return b[:2] + struct.pack('!H', csum(b) ^ (0 if ok else 0x0101)) + b[4:]",
      "def quoted(proto, s_, d_, ihl=5):",
      "    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, 60, 1, 0, 64, proto, 0, socket.inet_aton(s_), socket.inet_aton(d_))",
      "    return h + b'\\x01' * max(0, ihl * 4 - 20)",
      "ident = 0",
      ...sendFramesPy(CASES.map(([py]) => py)),
    ].join("\n"),
    });
    // the IP ids of the packets that reached the far side (from the peer's subnet)
    farIds = peerIpIds(FAR_CAPTURE);
    // what the node sent back: resets (to source port 40000 + id) and ICMP destination
    // unreachables (quoting the packet's IP id)
    const out = sh(["tcpdump", "-r", CAPTURE, "-n", "-v", "-e", `ether src ${kr.nodeMac} and ip and (tcp or icmp[0] = 3)`]);
    for (const m of out.matchAll(/> 192\.0\.2\.\d+\.(\d+): Flags \[R/g)) sent.push(`${Number(m[1]) - 40000} rst`);
    for (const m of out.matchAll(/unreachable[^\n]*\n\s*\([^)]*\bid (\d+),/g)) sent.push(`${Number(m[1])} unreach`);
    sent.sort();
  }, 90000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same verdicts, replies, SNMP counters, rule counters, conntrack counts and forwarded packets", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    const engine = await snapshotEngine(snapDir);
    engine.loadRuleset(RULES, "rules");
    const src = PcapSource.open(CAPTURE, engine, {});
    const got: { id: number; verdict: string; reason: string | undefined }[] = [];
    const replies: string[] = [];
    replayEach(engine, src, 1, (dv, p, k, index) => {
      const id = dv.getUint16(p + abi.PKT_IPID, true);
      const r = engine.decodeRaw(k, index);
      got.push({ id, verdict: VERDICT_NAMES[dv.getUint8(p + abi.PKT_VERDICT)]!, reason: r.reason });
      for (const q of r.replies) {
        if (q.verdict !== "forward") continue;
        if (q.kind === "tcp" && q.flags?.includes("R")) replies.push(`${id} rst`);
        else if (q.kind === "icmp" && q.icmp_type === 3) replies.push(`${id} unreach`);
      }
    });
    src.close();
    replies.sort();
    expect(got.map((g) => g.id)).toEqual(CASES.map((_, i) => i + 1));
    expect(got.map((g) => [g.id, g.verdict, g.reason])).toEqual(CASES.map(([, v, r], i) => [i + 1, v, r]));
    // the resets and ICMP errors the node sent: the kernel's, and the cases'
    expect(replies).toEqual(sent);
    expect(sent).toEqual(CASES.flatMap(([, , , a], i) => (a ? [`${i + 1} ${a}`] : [])).sort());
    expect(got.filter((g) => g.verdict === "forward").map((g) => g.id)).toEqual(farIds);
    const { kernel, emulated } = counterDeltas(COUNTERS, kr.before, kr.after, engine.counters());
    expect(emulated).toEqual(kernel);
    expect(iptablesCounterLines(engine.iptablesSave())).toEqual(iptablesCounterLines(kr.kernelSave));
    const ct = engine.conntrackStats();
    expect({ invalid: ct.invalid, error: ct.error }).toEqual({
      invalid: (kr.ctAfter.invalid ?? 0) - (kr.ctBefore.invalid ?? 0), error: (kr.ctAfter.error ?? 0) - (kr.ctBefore.error ?? 0),
    });
    // the kernel did what the cases say (the comparisons are not vacuous)
    expect(kernel.UdpInErrors).toBe(4);
    expect(kernel.UdpInCsumErrors).toBe(1);
    expect(farIds.length).toBe(CASES.filter(([, v]) => v === "forward").length);
  });
});
