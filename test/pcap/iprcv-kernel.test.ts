/**
 * Frames with IPv4 headers the kernel rejects in ip_rcv_core (bad version,
 * header length, header checksum, total length), sent as raw Ethernet frames
 * into a namespace we create, captured there by dumpcap, then replayed: the
 * emulator must drop the same packets, for the same reasons, with the same
 * SNMP counters the kernel shows (IpInReceives, IpInHdrErrors,
 * IpExtInCsumErrors, IpExtInTruncatedPkts, IpInDelivers), and replay the
 * sound packets around them (a damaged header is traffic, not damage to the
 * capture).
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync } from "node:fs";
import * as abi from "../../host/core/abi.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { counterDeltas, createNetnsPair, rawSenderPrelude, startCapture, stopCapture, type NetnsPair } from "./netns-pair.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import { scratchDir, haveTool, replayEach, snapshotEngine } from "./helpers.js";
import { SNAPSHOT_SCRIPT as SNAPSHOT } from "../repo.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");
/** The same frames captured with a 60-byte snaplen: what the kernel counted is the wire length, not the bytes kept. */
const CAPTURE_SNAP = join(dir, "vn-snap60.pcapng");

let ns: NetnsPair | undefined;

const COUNTERS = [
  "IpInReceives", "IpInHdrErrors", "IpExtInCsumErrors", "IpExtInTruncatedPkts", "IpInDelivers", "IcmpInEchos", "IcmpOutEchoReps",
  // ip_rcv_core's bytes (skb->len: padding and trailers included) and ECN codepoints; the echo replies' bytes
  "IpExtInOctets", "IpExtInNoECTPkts", "IpExtInECT1Pkts", "IpExtInECT0Pkts", "IpExtInCEPkts", "IpOutTransmits", "IpExtOutOctets",
];

/**
 * The frames, in order: [what the IPv4 header has wrong, the drop reason
 * the kernel gives]. Each is an ICMP echo request from the peer to the node;
 * a sound one goes between every two damaged ones. Each has its own ECN
 * codepoint (the TOS field's low bits, in the comments of the sender), which
 * ip_rcv_core counts for all but those the version/IHL check rejects.
 */
const CASES: [string, string | undefined][] = [
  ["sound", undefined],
  ["checksum", "IP_CSUM"],
  ["sound", undefined],
  ["version 6", "IP_INHDR"],
  ["ihl 4", "IP_INHDR"],
  ["tot_len 16 (below the header)", "IP_INHDR"],
  ["tot_len 1000 (beyond the frame)", "PKT_TOO_SMALL"],
  ["checksum and tot_len beyond the frame (the checksum is checked first)", "IP_CSUM"],
  ["ihl 6 and a wrong checksum (ihl checked first, then the checksum)", "IP_CSUM"],
  ["sound", undefined],
  ["sound, 28 bytes padded to a 60-byte Ethernet frame", undefined],
  ["sound, 28 bytes in a 42-byte frame (no padding)", undefined],
  ["sound, with a 7-byte trailer", undefined],
  ["10 bytes: shorter than an IPv4 header", "IP_INHDR"],
  ["ihl 15 in 40 bytes: shorter than its header", "IP_INHDR"],
];

const TOOLS = haveTool("dumpcap") && haveTool("nstat");

describeKernel("ip_rcv_core header checks, kernel vs emulator", () => {
  let before: Record<string, number> = {};
  let after: Record<string, number> = {};
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    ns = createNetnsPair("iprcv");
    const nodeMac = ns!.inNs(ns!.node, ["cat", "/sys/class/net/vn/address"]).trim();
    const cap = await startCapture(ns!.node, ["dumpcap", "-q", "-i", "vn", "-w", CAPTURE]);
    const capSnap = await startCapture(ns!.node, ["dumpcap", "-q", "-i", "vn", "-s", "60", "-w", CAPTURE_SNAP]);
    before = ns!.nstat();
    // raw frames from the peer (AF_PACKET: nothing in the peer's stack fixes the header)
    ns!.inNs(ns!.peer, ["python3", "-c", [
      ...rawSenderPrelude(nodeMac),
      "def echo(seq, n=56):",
      "    b = struct.pack('!BBHHH', 8, 0, 0, 0x4242, seq) + b'p' * n",
      "    return b[:2] + struct.pack('!H', csum(b)) + b[4:]",
      "def ip(payload, ident, vihl=0x45, tot=None, bad=False, opts=b'', tos=0):",
      "    tot = 20 + len(opts) + len(payload) if tot is None else tot",
      "    h = struct.pack('!BBHHHBBH4s4s', vihl, tos, tot, ident, 0, 64, 1, 0, socket.inet_aton('192.0.2.1'), socket.inet_aton('192.0.2.2')) + opts",
      "    c = csum(h) ^ (0x1111 if bad else 0)",
      "    return h[:10] + struct.pack('!H', c) + h[12:] + payload",
      // ECN codepoints: 0 not-ECT, 1 ECT(1), 2 ECT(0), 3 CE (with DSCP bits above them, which do not count)
      "frames = [",
      "    ip(echo(1), 1),",
      "    ip(echo(2), 2, bad=True, tos=1),",
      "    ip(echo(3), 3, tos=0xb8 | 2),",
      "    ip(echo(4), 4, vihl=0x65, tos=3),",
      "    ip(echo(5), 5, vihl=0x44, tos=3),",
      "    ip(echo(6), 6, tot=16, tos=1),",
      "    ip(echo(7), 7, tot=1000, tos=2),",
      "    ip(echo(8), 8, tot=1000, bad=True, tos=3),",
      "    ip(echo(9), 9, vihl=0x46, opts=b'\\x01\\x01\\x01\\x00', bad=True, tos=1),",
      "    ip(echo(10), 10, tos=3),",
      "    ip(echo(11, 0), 11, tos=2) + bytes(18),",
      "    ip(echo(12, 0), 12),",
      "    ip(echo(13), 13, tos=1) + b'trailer',",
      "    ip(echo(14), 14, tos=2)[:10],",
      "    ip(echo(15), 15, vihl=0x4f, tos=1)[:40],",
      "]",
      "for f in frames:",
      "    s.send(dst + src + b'\\x08\\x00' + f); time.sleep(0.05)",
    ].join("\n")]);
    await new Promise((r) => setTimeout(r, 500));
    after = ns!.nstat();
    await stopCapture(cap);
    await stopCapture(capSnap);
    snapDir = join(dir, "snap");
    ns!.inNs(ns!.node, ["sh", SNAPSHOT, snapDir]);
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same packets dropped for the same reasons, the same counters; sound packets around them replayed", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    const engine = await snapshotEngine(snapDir);
    const src = PcapSource.open(CAPTURE, engine, {});
    const got: { verdict: number; reason: string | undefined }[] = [];
    replayEach(engine, src, 1, (dv, p, k, index) => {
      got.push({ verdict: dv.getUint8(p + abi.PKT_VERDICT), reason: engine.decodeRaw(k, index).reason });
    });
    src.close();
    // every frame the peer sent is a packet (the ARP and the node's replies are not replayed)
    expect(got.map((g) => g.reason)).toEqual(CASES.map(([, reason]) => reason));
    expect(got.map((g) => g.verdict)).toEqual(CASES.map(([, reason]) => (reason ? abi.VERDICT_DROP : abi.VERDICT_LOCAL)));
    const { kernel, emulated } = counterDeltas(COUNTERS, before, after, engine.counters());
    expect(emulated).toEqual(kernel);
    // and the kernel did count what we expect it to (the comparison is not vacuous)
    expect(kernel.IpInHdrErrors).toBe(8);
    expect(kernel.IpExtInCsumErrors).toBe(3);
    expect(kernel.IpExtInTruncatedPkts).toBe(1);
    expect(kernel.IcmpOutEchoReps).toBe(6);
    // every ECN codepoint, but not for the version, IHL and 10-byte frames
    expect([kernel.IpExtInNoECTPkts, kernel.IpExtInECT1Pkts, kernel.IpExtInECT0Pkts, kernel.IpExtInCEPkts]).toEqual([2, 5, 3, 2]);
    // the padding and the trailer counted: 9 frames of 84 bytes (the tot_len 16 and 1000 ones too), 88 (options), 28 + 18 padding, 28, 84 + 7, 10 and 40
    expect(kernel.IpExtInOctets).toBe(9 * 84 + 88 + 46 + 28 + 91 + 10 + 40);
    expect(kernel.IpExtOutOctets).toBe(4 * 84 + 28 + 28);
  });

  it.skipIf(!TOOLS)("a capture cut by a 60-byte snaplen replays to the same counters (the wire length counts, not the bytes kept)", async () => {
    expect(existsSync(CAPTURE_SNAP)).toBe(true);
    const engine = await snapshotEngine(snapDir);
    const src = PcapSource.open(CAPTURE_SNAP, engine, {});
    const reasons: (string | undefined)[] = [];
    replayEach(engine, src, 1, (_dv, _p, k, index) => { reasons.push(engine.decodeRaw(k, index).reason); });
    src.close();
    expect(reasons).toEqual(CASES.map(([, reason]) => reason));
    const { kernel, emulated } = counterDeltas(COUNTERS, before, after, engine.counters());
    expect(emulated).toEqual(kernel);
  });
});
