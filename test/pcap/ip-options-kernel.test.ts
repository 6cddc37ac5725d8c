/**
 * IPv4 header options, kernel vs emulator: raw frames with options of many
 * shapes (NOOP, EOL with bytes after it, RR, TS, RA, SEC, unknown types,
 * CIPSO, LSRR and SSRR, and malformed ones: lengths below 2 or past the
 * header, pointers out of range, duplicates, a full timestamp whose overflow
 * is at 15...) sent from the peer into a "node" namespace we create, to one
 * of its addresses and forwarded through it to a third namespace, with a
 * DNAT rule (conntrack on) and counting rules. The node's capture is
 * replayed against a snapshot of the node; compared: every frame's verdict
 * (which reached the far side), the SNMP counters (IpInHdrErrors,
 * IcmpOutParmProbs, ...), every rule's counters (bytes include the options),
 * conntrack's counts, the parameter problems the node sent (the pointer and
 * the packet they quote) and the resets' acknowledgement numbers (transport
 * lengths read after the options).
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
import { ipOptionsCompile, ipOptionsEcho, ipOptionsForward } from "../../host/packet/ipopts.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");
const FAR_CAPTURE = join(dir, "vx.pcapng");

let ns: NetnsPair | undefined;
let far = "";

const COUNTERS = [
  "IpInReceives", "IpInDelivers", "IpForwDatagrams", "IpInHdrErrors", "IpInDiscards", "IpOutRequests",
  "TcpInSegs", "TcpOutRsts", "UdpNoPorts", "UdpInDatagrams",
  "IcmpInMsgs", "IcmpInEchos", "IcmpOutMsgs", "IcmpOutParmProbs", "IcmpOutTimeExcds", "IcmpOutEchoReps", "IcmpOutDestUnreachs",
];

// A: the peer; L: the node; F: the far namespace, behind the node
const A = "192.0.2.1", L = "192.0.2.2", F = "198.51.100.2";

type Verdict = "local" | "forward" | "drop";
/**
 * The frames, in order (IP id = position + 1): a python expression for the
 * IPv4 packet, the emulator's verdict and drop reason, and the pointer of
 * the parameter problem the node answers with (0: none).
 */
const CASES: [string, Verdict, string | undefined, number][] = [
  // valid options, forwarded
  [`ipo(A, F, 17, udp(A, F, 40001, 53), [1, 1, 1, 1])`, "forward", undefined, 0],
  [`ipo(A, F, 17, udp(A, F, 40002, 53), [0, 7, 99, 5])`, "forward", undefined, 0], // EOL, then anything
  [`ipo(A, F, 17, udp(A, F, 40003, 53), [7, 7, 4, 0, 0, 0, 0, 1])`, "forward", undefined, 0], // RR
  [`ipo(A, F, 17, udp(A, F, 40004, 53), [7, 7, 8, 1, 2, 3, 4, 1])`, "forward", undefined, 0], // RR full
  [`ipo(A, F, 17, udp(A, F, 40005, 53), [68, 12, 5, 0] + [0] * 8)`, "forward", undefined, 0], // TS only
  [`ipo(A, F, 17, udp(A, F, 40006, 53), [68, 12, 5, 1] + [0] * 8)`, "forward", undefined, 0], // TS and address
  [`ipo(A, F, 17, udp(A, F, 40007, 53), [68, 8, 9, 0x10, 0, 0, 0, 0])`, "forward", undefined, 0], // TS full, overflow 1
  [`ipo(A, F, 17, udp(A, F, 40008, 53), [68, 12, 5, 3, 10, 9, 9, 9, 0, 0, 0, 0])`, "forward", undefined, 0], // prespecified, another host (the node's own: not modelled)
  [`ipo(A, F, 17, udp(A, F, 40009, 53), [68, 8, 5, 7, 0, 0, 0, 0])`, "forward", undefined, 0], // an unknown TS flag
  [`ipo(A, F, 17, udp(A, F, 40010, 53), [148, 4, 0, 0])`, "forward", undefined, 0], // router alert, no RA socket
  [`ipo(A, F, 17, udp(A, F, 40011, 53), [148, 4, 0, 1])`, "forward", undefined, 0],
  [`ipo(A, F, 17, udp(A, F, 40012, 53), [130, 4, 0, 0])`, "forward", undefined, 0], // SEC
  [`ipo(A, F, 17, udp(A, F, 40013, 53), [200, 4, 1, 2, 25, 2])`, "forward", undefined, 0], // unknown types
  [`ipo(A, F, 6, tcp(A, F, 40014, 80, 2), [1, 1, 1, 1] * 10)`, "forward", undefined, 0], // 40 bytes of options
  [`ipo(A, L, 17, udp(A, L, 40015, 7777), [1, 1, 1, 1])`, "forward", undefined, 0], // DNATed to F
  // malformed: a parameter problem pointing at the byte at fault
  [`ipo(A, F, 17, udp(A, F, 40016, 53), [7, 1, 0, 0])`, "drop", "IP_OPTIONS", 20],
  [`ipo(A, F, 17, udp(A, F, 40017, 53), [7, 9, 4, 0])`, "drop", "IP_OPTIONS", 20],
  [`ipo(A, F, 17, udp(A, F, 40018, 53), [1, 1, 1, 7])`, "drop", "IP_OPTIONS", 23],
  [`ipo(A, F, 17, udp(A, F, 40019, 53), [7, 2, 0, 0])`, "drop", "IP_OPTIONS", 21],
  [`ipo(A, F, 17, udp(A, F, 40020, 53), [7, 7, 3, 0, 0, 0, 0, 1])`, "drop", "IP_OPTIONS", 22],
  [`ipo(A, F, 17, udp(A, F, 40021, 53), [7, 7, 6, 0, 0, 0, 0, 1])`, "drop", "IP_OPTIONS", 22],
  [`ipo(A, F, 17, udp(A, F, 40022, 53), [1, 7, 3, 4, 7, 3, 4, 0])`, "drop", "IP_OPTIONS", 24], // a second RR
  [`ipo(A, F, 17, udp(A, F, 40023, 53), [68, 3, 5, 0])`, "drop", "IP_OPTIONS", 21],
  [`ipo(A, F, 17, udp(A, F, 40024, 53), [68, 8, 4, 0, 0, 0, 0, 0])`, "drop", "IP_OPTIONS", 22],
  [`ipo(A, F, 17, udp(A, F, 40025, 53), [68, 8, 5, 1, 0, 0, 0, 0])`, "drop", "IP_OPTIONS", 22],
  [`ipo(A, F, 17, udp(A, F, 40026, 53), [68, 8, 9, 0xf0, 0, 0, 0, 0])`, "drop", "IP_OPTIONS", 23],
  [`ipo(A, F, 17, udp(A, F, 40027, 53), [148, 2, 1, 1])`, "drop", "IP_OPTIONS", 21],
  [`ipo(A, F, 17, udp(A, F, 40028, 53), [134, 6, 0, 0, 0, 1])`, "drop", "IP_OPTIONS", 21], // CIPSO
  [`ipo(A, F, 17, udp(A, F, 40029, 53), [134, 8, 0, 0, 0, 1, 0, 0])`, "drop", "IP_OPTIONS", 22],
  [`ipo(A, F, 17, udp(A, F, 40030, 53), [131, 7, 3, 1, 2, 3, 4, 1])`, "drop", "IP_OPTIONS", 22],
  [`ipo(A, F, 17, udp(A, F, 40031, 53), [131, 3, 4, 137, 3, 4, 0, 0])`, "drop", "IP_OPTIONS", 23], // a second source route
  [`ipo(A, F, 17, udp(A, F, 40032, 53), [7, 1, 0, 0], ttl=1)`, "drop", "IP_OPTIONS", 20], // before ip_forward's TTL
  [`ipo(A, L, 17, udp(A, L, 40033, 9), [7, 9, 4, 0])`, "drop", "IP_OPTIONS", 20], // to the node
  [`ipo(A, L, 1, echo(1), [68, 3, 5, 0])`, "drop", "IP_OPTIONS", 21],
  // source routes: dropped, nothing counted, nothing sent
  [`ipo(A, F, 17, udp(A, F, 40035, 53), [131, 7, 4, 198, 51, 100, 2, 1])`, "drop", "IP_SRR", 0],
  [`ipo(A, F, 17, udp(A, F, 40036, 53), [137, 11, 4, 198, 51, 100, 2, 10, 0, 0, 1, 1])`, "drop", "IP_SRR", 0],
  [`ipo(A, L, 1, echo(2), [131, 7, 4, 192, 0, 2, 2, 1])`, "drop", "IP_SRR", 0],
  // valid options to the node: delivered, answered (lengths after the options)
  [`ipo(A, L, 1, echo(3), [1, 1, 1, 1])`, "local", undefined, 0],
  [`ipo(A, L, 17, udp(A, L, 40039, 9), [148, 4, 0, 0])`, "local", undefined, 0], // port unreachable
  [`ipo(A, L, 6, tcp(A, L, 40040, 9, 2), [1, 1, 1, 1, 200, 4, 0, 0])`, "local", undefined, 0], // reset, ack seq + 1
  [`ipo(A, L, 6, tcp(A, L, 40041, 9, 16, b'abcdef'), [1, 1, 1, 1])`, "local", undefined, 0], // reset, seq = ack
  [`ipo(A, L, 6, tcp(A, L, 40042, 9, 0x18, b'abcdef'), [1, 1, 1, 1] * 3)`, "local", undefined, 0],
  // time exceeded quoting a header with options
  [`ipo(A, F, 17, udp(A, F, 40043, 53), [1, 1, 1, 1], ttl=1)`, "drop", "IP_INHDR", 0],
  // answers that echo options (__ip_options_echo): RR and TS with room, full, a source route before an error
  [`ipo(A, F, 17, udp(A, F, 40045, 53), [7, 11, 4] + [0] * 8, ttl=1)`, "drop", "IP_INHDR", 0],
  [`ipo(A, F, 17, udp(A, F, 40046, 53), [68, 20, 5, 1] + [0] * 16, ttl=1)`, "drop", "IP_INHDR", 0],
  [`ipo(A, F, 17, udp(A, F, 40047, 53), [7, 7, 8, 1, 2, 3, 4, 68, 8, 9, 0x20, 0, 0, 0, 0], ttl=1)`, "drop", "IP_INHDR", 0],
  [`ipo(A, F, 17, udp(A, F, 40048, 53), [7, 10, 4] + [0] * 7, ttl=1)`, "drop", "IP_INHDR", 0], // the echo fails: nothing sent
  // a source route before the error: the answer echoes it reversed and goes to its first hop (faddr),
  // 6.5.4.3 (no route: nothing sent), then F (the sender's own address dropped from the reversed route)
  [`ipo(A, F, 17, udp(A, F, 40049, 53), [131, 11, 12, 10, 9, 8, 7, 6, 5, 4, 3, 7, 1, 0])`, "drop", "IP_OPTIONS", 0],
  [`ipo(A, F, 17, udp(A, F, 40050, 53), [131, 11, 12, 192, 0, 2, 1, 198, 51, 100, 2, 7, 1, 0])`, "drop", "IP_OPTIONS", 31],
  [`ipo(A, F, 17, udp(A, F, 40051, 53), [68, 12, 5, 0] + [0] * 8 + [1, 1, 7, 9])`, "drop", "IP_OPTIONS", 20 + 14],
  [`ipo(A, L, 1, echo(5), [7, 39, 4] + [0] * 36)`, "local", undefined, 0],
  [`ipo(A, L, 1, echo(6), [68, 12, 5, 1] + [0] * 8)`, "local", undefined, 0],
  [`ipo(A, L, 1, echo(7), [7, 10, 4] + [0] * 7)`, "local", undefined, 0], // the echo fails: no reply
  [`ipo(A, L, 17, udp(A, L, 40055, 9), [7, 7, 4, 0, 0, 0, 0])`, "local", undefined, 0],
  [`ipo(A, L, 6, tcp(A, L, 40056, 9, 2), [7, 7, 4, 0, 0, 0, 0])`, "local", undefined, 0],
  [`ip(A, L, 1, echo(4))`, "local", undefined, 0],
];

const RULES = [
  "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
  `-A PREROUTING -d ${L}/32 -p udp -m udp --dport 7777 -j DNAT --to-destination ${F}:7777`,
  "COMMIT",
  "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  "-A INPUT -m conntrack --ctstate INVALID", "-A INPUT -p tcp -m tcp --dport 9", "-A INPUT -p udp -m udp --dport 9", "-A INPUT -p icmp",
  "-A FORWARD -m conntrack --ctstate INVALID", "-A FORWARD -p udp -m udp --dport 53", "-A FORWARD -p udp -m udp --dport 7777",
  "-A FORWARD -p tcp -m tcp --dport 80",
  "-A OUTPUT -p icmp -m icmp --icmp-type 12", "-A OUTPUT -p icmp",
  "COMMIT", "",
].join("\n");

const TOOLS = haveTool("dumpcap") && haveTool("nstat") && haveTool("tcpdump") && haveTool("conntrack") && haveTool("iptables-legacy-restore");

/** Options with the address and time slots of RR and TS zeroed (their type, length, pointer and TS flags kept). */
function maskStamps(o: number[]): number[] {
  const x = o.slice();
  for (let i = 0; i < x.length;) {
    if (x[i] === 0) break;
    if (x[i] === 1) { i++; continue; }
    const len = x[i + 1]!;
    const keep = x[i] === 7 ? 3 : x[i] === 68 ? 4 : len;
    for (let k = keep; k < len; k++) x[i + k] = 0;
    i += Math.max(len, 2);
  }
  return x;
}

/** The IPv4 packets of a capture matching a tcpdump filter, as bytes (tcpdump -x prints them from the IP header). */
function capturedPackets(capture: string, filter: string): Uint8Array[] {
  const out = sh(["tcpdump", "-r", capture, "-n", "-x", filter]);
  const pkts: number[][] = [];
  for (const line of out.split("\n")) {
    const m = /^\s+0x[0-9a-f]+:\s+(.*)$/.exec(line);
    if (!m) { if (line.trim()) pkts.push([]); continue; }
    const hex = m[1]!.replace(/\s+/g, "");
    for (let i = 0; i < hex.length; i += 2) pkts[pkts.length - 1]!.push(parseInt(hex.slice(i, i + 2), 16));
  }
  return pkts.filter((p) => p.length > 0).map((p) => Uint8Array.from(p));
}

describeKernel("IPv4 header options, kernel vs emulator", () => {
  /** What the kernel run saw: nstat and conntrack -S before and after the frames, iptables-save -c. */
  let kr: KernelRun = { nodeMac: "", before: {}, after: {}, ctBefore: {}, ctAfter: {}, kernelSave: "" };
  let farIds: number[] = [];
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    ns = createNetnsPair("ipopt");
    const n = ns;
    // the far side answers nothing back (its port unreachables would come through the node)
    far = addFarNamespace(n, "ipopt", F, { silent: true });
    // pinned: source routing off (conf/all, which a new namespace may inherit), ICMP errors not rate limited
    n.inNs(n.node, ["sysctl", "-qw", "net.ipv4.conf.all.accept_source_route=0", "net.ipv4.icmp_ratemask=0",
      "net.ipv4.icmp_msgs_per_sec=10000", "net.ipv4.icmp_msgs_burst=10000", "net.ipv4.conf.all.send_redirects=0",
      "net.ipv4.conf.vn.send_redirects=0", "net.ipv4.conf.all.log_martians=0"]);
    legacyRestore(n, RULES);
    snapDir = join(dir, "snap");
    kr = await recordKernelRun(n, {
      capture: CAPTURE, far: { ns: far, capture: FAR_CAPTURE }, snapDir, waitMs: 700, conntrack: true, sender: (nodeMac) => [
      ...rawSenderPrelude(nodeMac),
      `A, L, F = '${A}', '${L}', '${F}'`,
      ...RAW_IP_HELPERS,
      "def ipo(s_, d_, proto, payload, opts, ttl=64):",
      "    global ident",
      "    ident += 1",
      "    o = bytes(opts) + b'\\0' * (-len(opts) % 4)",
      "    h = struct.pack('!BBHHHBBH4s4s', 0x40 | (5 + len(o) // 4), 0, 20 + len(o) + len(payload), ident, 0, ttl, proto, 0, socket.inet_aton(s_), socket.inet_aton(d_)) + o",
      "    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload",
      "def tcp(s_, d_, sp, dp, flags, data=b''):",
      "    seg = struct.pack('!HHIIBBHHH', sp, dp, 1000, 5000, 5 << 4, flags, 512, 0, 0) + data",
      "    return seg[:16] + struct.pack('!H', l4sum(s_, d_, 6, seg)) + seg[18:]",
      "def udp(s_, d_, sp, dp):",
      "    seg = struct.pack('!HHHH', sp, dp, 12, 0) + b'data'",
      "    return seg[:6] + struct.pack('!H', l4sum(s_, d_, 17, seg)) + seg[8:]",
      "ident = 0",
      ...sendFramesPy(CASES.map(([py]) => py)),
    ].join("\n"),
    });
    farIds = peerIpIds(FAR_CAPTURE);
  }, 90000);

  afterAll(() => {
    ns?.remove();
    if (!process.env.KEEP_IPOPT) cleanup(); else console.log("kept", dir);
  });

  it.skipIf(!TOOLS)("the same verdicts, counters, parameter problems and resets", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    const engine = await snapshotEngine(snapDir);
    engine.loadRuleset(RULES, "rules");
    const src = PcapSource.open(CAPTURE, engine, {});
    const got: { id: number; verdict: string; reason: string | undefined; pp: number; acks: number[] }[] = [];
    replayEach(engine, src, 1, (dv, p, k, index) => {
      const ring = engine.core.reply_ring_ptr();
      const first = dv.getUint32(p + abi.PKT_REPLY_FIRST, true), count = dv.getUint16(p + abi.PKT_REPLY_COUNT, true);
      let pp = 0;
      const acks: number[] = [];
      for (let r = first; r < first + count; r++) {
        const q = ring + r * abi.PKT_SIZE;
        if (dv.getUint8(q + abi.PKT_PROTO) === 1 && dv.getUint8(q + abi.PKT_ICMP_TYPE) === 12) pp = dv.getUint32(q + abi.PKT_ICMP_INFO, true) >>> 24;
        if (dv.getUint8(q + abi.PKT_PROTO) === 6) acks.push(dv.getUint8(q + abi.PKT_TCPFLAGS) & 16 ? dv.getUint32(q + abi.PKT_ACK, true) : -dv.getUint32(q + abi.PKT_SEQ, true));
      }
      got.push({ id: dv.getUint16(p + abi.PKT_IPID, true), verdict: VERDICT_NAMES[dv.getUint8(p + abi.PKT_VERDICT)]!, reason: engine.decodeRaw(k, index).reason, pp, acks });
    });
    src.close();
    // every frame the peer sent is a packet, replayed in order
    expect(got.map((g) => g.id)).toEqual(CASES.map((_, i) => i + 1));
    expect(got.map((g) => [g.id, g.verdict, g.reason, g.pp])).toEqual(CASES.map(([, v, r, pp], i) => [i + 1, v, r, pp]));
    // which packets reached the far side
    expect(got.filter((g) => g.verdict === "forward").map((g) => g.id)).toEqual(farIds);
    // the parameter problems the kernel sent: the pointer and the id of the packet each quotes
    const kernelPp = capturedPackets(CAPTURE, "icmp and src host " + L + " and icmp[0] == 12").map((b) => {
      const t = (b[0]! & 15) * 4;
      return [(b[t + 8 + 4]! << 8) | b[t + 8 + 5]!, b[t + 4]!];
    });
    // (and the one that went to the far side, to the first hop of the source route it echoes)
    const farPp = capturedPackets(FAR_CAPTURE, "icmp and icmp[0] == 12").map((b) => {
      const t = (b[0]! & 15) * 4;
      return [(b[t + 8 + 4]! << 8) | b[t + 8 + 5]!, b[t + 4]!];
    });
    expect(farPp).toEqual([[49, 31]]);
    expect(got.filter((g) => g.pp !== 0).map((g) => [g.id, g.pp])).toEqual([...kernelPp, ...farPp].sort((x, y) => x[0]! - y[0]!));
    // the resets: acknowledgement (or, for an ACK, the sequence, negated) as the kernel sent them
    const kernelRst = capturedPackets(CAPTURE, "tcp and src host " + L + " and tcp[13] & 4 != 0").map((b) => {
      const t = (b[0]! & 15) * 4;
      const seq = ((b[t + 4]! << 24) | (b[t + 5]! << 16) | (b[t + 6]! << 8) | b[t + 7]!) >>> 0;
      const ack = ((b[t + 8]! << 24) | (b[t + 9]! << 16) | (b[t + 10]! << 8) | b[t + 11]!) >>> 0;
      return b[t + 13]! & 16 ? ack : -seq;
    });
    expect(got.flatMap((g) => g.acks)).toEqual(kernelRst);
    // the options of the node's answers: what __ip_options_echo made of the cause's (ipopts.ts), the
    // addresses and times the kernel writes into RR and TS masked (not modelled)
    const sent = [...capturedPackets(CAPTURE, "ip[0] != 0x45"), ...capturedPackets(FAR_CAPTURE, "icmp and ip[0] != 0x45")];
    const bySrc = (src: number) => sent.filter((b) => (b[12] === 192 && b[15] === src) || (src === 2 && b[12] === 198 && b[15] === 1));
    const causeById = new Map(bySrc(1).map((b) => [(b[4]! << 8) | b[5]!, b]));
    const causeByEchoSeq = new Map(bySrc(1).filter((b) => b[9] === 1 && b[(b[0]! & 15) * 4] === 8).map((b) => { const t = (b[0]! & 15) * 4; return [(b[t + 6]! << 8) | b[t + 7]!, b]; }));
    const answers = bySrc(2);
    expect(answers.length).toBeGreaterThan(5);
    for (const b of answers) {
      const t = (b[0]! & 15) * 4;
      const cause = b[9] === 1 && b[t] === 0 ? causeByEchoSeq.get((b[t + 6]! << 8) | b[t + 7]!)
        : b[9] === 1 ? causeById.get((b[t + 12]! << 8) | b[t + 13]!) : causeById.get(0); // resets: below
      if (b[9] !== 1) continue;
      expect(cause, "the answered packet").toBeDefined();
      const echo = ipOptionsEcho(cause!, 0, ipOptionsCompile(cause!, 0, (cause![0]! & 15) * 4));
      expect(echo && maskStamps(echo), `answer ${[...b.subarray(0, 4)]}`).toEqual(maskStamps([...b.subarray(20, t)]));
    }
    // the forwarded packets' options as the egress capture writes them (ipOptionsForward: pointers, overflow,
    // EOL padding) against the far side's, the stamps masked; the kernel's header checksum is right too
    const arrived = new Map(capturedPackets(FAR_CAPTURE, "src net 192.0.2.0/24 and ip[0] != 0x45").map((b) => [(b[4]! << 8) | b[5]!, b]));
    expect(arrived.size).toBeGreaterThan(10);
    for (const [id, b] of arrived) {
      const ihl = (b[0]! & 15) * 4;
      const mine = Uint8Array.from(causeById.get(id)!);
      ipOptionsForward(mine, 0, ihl);
      expect(maskStamps([...mine.subarray(20, ihl)]), `frame ${id}`).toEqual(maskStamps([...b.subarray(20, ihl)]));
      let sum = 0;
      for (let i = 0; i < ihl; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      expect(sum, `frame ${id} header checksum`).toBe(0xffff);
    }
    // the SNMP counters
    const { kernel, emulated } = counterDeltas(COUNTERS, kr.before, kr.after, engine.counters());
    expect(emulated).toEqual(kernel);
    // every rule's and policy's counters (bytes with the options)
    expect(iptablesCounterLines(engine.iptablesSave())).toEqual(iptablesCounterLines(kr.kernelSave));
    const ct = engine.conntrackStats();
    expect({ invalid: ct.invalid, error: ct.error }).toEqual({
      invalid: (kr.ctAfter.invalid ?? 0) - (kr.ctBefore.invalid ?? 0), error: (kr.ctAfter.error ?? 0) - (kr.ctBefore.error ?? 0),
    });
    // not vacuous
    expect(kernel.IcmpOutParmProbs).toBe(CASES.filter(([, , , pp]) => pp !== 0).length);
    expect(kernelRst.length).toBe(4);
    expect(farIds.length).toBe(CASES.filter(([, v]) => v === "forward").length);
  });
});
