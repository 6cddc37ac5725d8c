/**
 * Frames addressed to another host's MAC (skb->pkt_type PACKET_OTHERHOST):
 * ip_rcv_core drops them before anything counts them and before PREROUTING,
 * so conntrack never sees them. Raw Ethernet frames go from the peer to the
 * node namespace (which tracks connections), some to the node's MAC and some
 * to a foreign unicast MAC; `dumpcap -i any -y LINUX_SLL2` in the node records each frame's
 * packet type (SLL); the capture is replayed against a snapshot of the node:
 * the same drops, the same SNMP counters and the same connections as the
 * kernel.
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync, writeFileSync } from "node:fs";
import * as abi from "../../host/core/abi.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { legacyRestore, counterDeltas, createNetnsPair, rawSenderPrelude, startCapture, stopCapture, type NetnsPair } from "./netns-pair.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import { scratchDir, haveTool, replayEach, snapshotEngine } from "./helpers.js";
import { SNAPSHOT_SCRIPT as SNAPSHOT } from "../repo.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "any.pcapng");

let ns: NetnsPair | undefined;

const COUNTERS = ["IpInReceives", "IpInDelivers", "IcmpInEchos", "IcmpOutEchoReps", "IcmpOutDestUnreachs", "UdpNoPorts"];

const RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate NEW -j ACCEPT
COMMIT
`;

/** The frames in order: [what, addressed to the node's MAC]. */
const CASES: [string, boolean][] = [
  ["udp 2001", true],
  ["udp 2002", false],
  ["echo 1", true],
  ["echo 2", false],
  ["udp 2003", true],
  ["udp 2004", false],
];

const SENDER = (nodeMac: string) => [
  ...rawSenderPrelude(nodeMac),
  "other = bytes.fromhex('020000000099')",
  "SRC = socket.inet_aton('192.0.2.1'); NODE = socket.inet_aton('192.0.2.2')",
  "def ip(proto, payload, ident):",
  "    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0, SRC, NODE)",
  "    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload",
  "def udp(sport):",
  "    data = b'q' * 24; n = 8 + len(data)",
  "    h = struct.pack('!HHHH', sport, 9, n, 0)",
  "    c = csum(SRC + NODE + struct.pack('!BBH', 0, 17, n) + h + data)",
  "    return ip(17, struct.pack('!HHHH', sport, 9, n, c or 0xffff) + data, sport)",
  "def echo(seq):",
  "    b = struct.pack('!BBHHH', 8, 0, 0, 0x4242, seq) + b'p' * 56",
  "    return ip(1, b[:2] + struct.pack('!H', csum(b)) + b[4:], 100 + seq)",
  "frames = [(udp(2001), dst), (udp(2002), other), (echo(1), dst), (echo(2), other), (udp(2003), dst), (udp(2004), other)]",
  "for (f, mac) in frames:",
  "    s.send(mac + src + b'\\x08\\x00' + f); time.sleep(0.05)",
].join("\n");

const TOOLS = haveTool("dumpcap") && haveTool("nstat") && haveTool("conntrack") && haveTool("iptables-legacy-restore") && haveTool("iptables-legacy-save");

describeKernel("frames to another host's MAC (PACKET_OTHERHOST), kernel vs emulator", () => {
  let before: Record<string, number> = {};
  let after: Record<string, number> = {};
  let kernelConns: string[] = [];
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    ns = createNetnsPair("othost");
    legacyRestore(ns, RULES);
    // the node learns the peer's MAC first (its answers do not wait for ARP)
    ns.inNs(ns.node, ["ping", "-c", "1", "-W", "1", "192.0.2.1"], false);
    ns.inNs(ns.node, ["conntrack", "-F"], false);
    const nodeMac = ns.inNs(ns.node, ["cat", "/sys/class/net/vn/address"]).trim();
    const cap = await startCapture(ns.node, ["dumpcap", "-q", "-i", "any", "-y", "LINUX_SLL2", "-w", CAPTURE]);
    before = ns.nstat();
    ns.inNs(ns.peer, ["python3", "-c", SENDER(nodeMac)]);
    await new Promise((r) => setTimeout(r, 300));
    after = ns.nstat();
    await stopCapture(cap);
    kernelConns = ns.inNs(ns.node, ["conntrack", "-L"], false).split("\n").filter((l) => l.includes("192.0.2.1"));
    snapDir = join(dir, "snap");
    ns.inNs(ns.node, ["sh", SNAPSHOT, snapDir]);
    writeFileSync(join(snapDir, "iptables-save.txt"), ns.inNs(ns.node, ["iptables-legacy-save", "-c"]));
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("dropped before any counter and before conntrack, as the kernel does", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    const engine = await snapshotEngine(snapDir);
    expect(engine.ruleset?.compiled.conntrack).toBeTruthy();
    const src = PcapSource.open(CAPTURE, engine, {});
    const got: { verdict: number; reason: string | undefined; sport: number }[] = [];
    replayEach(engine, src, 1, (dv, p, k, index) => {
      // the peer's frames only (the node's own ping and ARP are not replayed; its first echo reply is)
      if (dv.getUint32(p + abi.PKT_SRC, true) !== 0xc0000201) return;
      got.push({ verdict: dv.getUint8(p + abi.PKT_VERDICT), reason: engine.decodeRaw(k, index).reason, sport: dv.getUint16(p + abi.PKT_SPORT, true) });
    });
    src.close();
    const want = CASES.map(([, host]) => (host ? undefined : "OTHERHOST"));
    // the echo reply to the node's own ping comes first
    expect(got.slice(-CASES.length).map((g) => g.reason)).toEqual(want);
    expect(got.slice(-CASES.length).map((g) => g.verdict)).toEqual(CASES.map(([, host]) => (host ? abi.VERDICT_LOCAL : abi.VERDICT_DROP)));
    const { kernel, emulated } = counterDeltas(COUNTERS, before, after, engine.counters());
    // the emulator counted the reply to the node's ping too; the kernel's deltas start after it
    const pre = got.length - CASES.length;
    expect(pre).toBeLessThanOrEqual(1);
    if (pre === 1) { emulated.IpInReceives! -= 1; emulated.IpInDelivers! -= 1; }
    expect(emulated).toEqual(kernel);
    // the kernel counted only the frames addressed to it (the comparison is not vacuous)
    expect(kernel.IpInReceives).toBe(CASES.filter(([, host]) => host).length);
    // the same connections: none for the frames to the other MAC
    const emuConns = engine.conntrack().filter((c) => c.orig.src === 0xc0000201);
    expect(kernelConns.length).toBe(3);
    expect(emuConns.length).toBe(kernelConns.length);
    for (const sport of [2002, 2004]) expect(kernelConns.some((l) => l.includes(`sport=${sport} `))).toBe(false);
    expect(emuConns.some((c) => c.orig.sport === 2002 || c.orig.sport === 2004)).toBe(false);
  });
});
