/**
 * -m pkttype, -m iprange, -m ttl, -m tos, -m dscp and -m ecn against the
 * kernel. The rules (mangle PREROUTING and INPUT) are loaded with
 * iptables-legacy-restore in the node namespace; the peer sends raw frames
 * to the node's MAC, to ff:ff:ff:ff:ff:ff and to 01:00:5e group addresses
 * (PACKET_HOST, BROADCAST, MULTICAST as eth_type_trans sets them, also a
 * multicast IP destination in a unicast frame), with varied TTL, TOS (DSCP
 * and ECN bits), TCP ECE/CWR and source addresses. The capture on the node's
 * side is replayed through the emulator with the kernel's own
 * `iptables-legacy-save -c` text (which also checks that the emulator reads
 * what iptables-save prints for these matches): every rule counter must be
 * the kernel's.
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { describeKernel } from "../kernel/kernel-gate.js";
import { recordKernelRun, createNetnsPair, counterDeltas, iptablesCounterLines, legacyRestore, rawSenderPrelude, type NetnsPair } from "./netns-pair.js";
import { scratchDir, haveTool, replayKernelCapture } from "./helpers.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");

const PRE = [
  "-m pkttype --pkt-type unicast",
  "-m pkttype --pkt-type broadcast",
  "-m pkttype --pkt-type multicast",
  "-m pkttype ! --pkt-type unicast",
  "-m pkttype ! --pkt-type multicast",
  "-m pkttype --pkt-type otherhost",
  "-m iprange --src-range 192.0.2.1-192.0.2.10",
  "-m iprange ! --src-range 192.0.2.5-192.0.2.100",
  "-m iprange --dst-range 224.0.0.0-239.255.255.255",
  "-m iprange --src-range 192.0.2.1-192.0.2.200 ! --dst-range 192.0.2.2",
  "-m iprange --src-range 192.0.2.9-192.0.2.3",
  "-m ttl --ttl-eq 1",
  "-m ttl ! --ttl-eq 64",
  "-m ttl --ttl-lt 5",
  "-m ttl --ttl-gt 63",
  "-m tos --tos 0x10/0x3f",
  "-m tos --tos Minimize-Delay",
  "-m tos ! --tos 0xb8",
  "-m tos --tos 0x02/0x03",
  "-m dscp --dscp 0x2e",
  "-m dscp --dscp-class AF41",
  "-m dscp ! --dscp 0",
  "-m ecn --ecn-ip-ect 1",
  "-m ecn --ecn-ip-ect 3",
  "-m ecn ! --ecn-ip-ect 0",
  "-p tcp -m ecn --ecn-tcp-ece",
  "-p tcp -m ecn --ecn-tcp-cwr",
  "-p tcp -m ecn ! --ecn-tcp-cwr --ecn-tcp-ece",
  "-p tcp -m ecn --ecn-tcp-ece --ecn-tcp-cwr --ecn-ip-ect 2",
  "-m pkttype --pkt-type broadcast -m iprange --dst-range 255.255.255.255",
  "-p tcp -m tcpmss --mss 1460",
  "-p tcp -m tcpmss ! --mss 1000:1500",
  "-p tcp -m tcpmss --mss :600",
  "-p tcp -m tcpmss ! --mss 0:65535",
  "-p tcp -m tcpmss --mss 1000:",
];
const INPUT = [
  "-m pkttype --pkt-type unicast",
  "-m pkttype --pkt-type broadcast",
  "-m pkttype --pkt-type multicast",
  "-m ttl --ttl-lt 5",
  "-m tos --tos 0x10/0x3f",
];

const RULES = [
  "*mangle",
  ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
  ...PRE.map((m) => `-A PREROUTING ${m}`),
  ...INPUT.map((m) => `-A INPUT ${m}`),
  "COMMIT", "",
].join("\n");

/** Frames: python calls send(dmac, packet) with packets from ip4(src, dst, proto, payload, ttl, tos). */
const FRAMES = [
  // unicast to the node: TTLs
  "send(dst, udp('192.0.2.1', '192.0.2.2', ttl=1))",
  "send(dst, udp('192.0.2.1', '192.0.2.2', ttl=2))",
  "send(dst, udp('192.0.2.5', '192.0.2.2', ttl=5))",
  "send(dst, udp('192.0.2.10', '192.0.2.2', ttl=63))",
  "send(dst, udp('192.0.2.11', '192.0.2.2', ttl=255))",
  // TOS: DSCP and ECN bits
  "send(dst, udp('192.0.2.1', '192.0.2.2', tos=0x10))",
  "send(dst, udp('192.0.2.100', '192.0.2.2', tos=0x50))",
  "send(dst, udp('192.0.2.101', '192.0.2.2', tos=0xb8))",
  "send(dst, udp('192.0.2.150', '192.0.2.2', tos=0xb9))",
  "send(dst, udp('192.0.2.200', '192.0.2.2', tos=0x8a))",
  "send(dst, udp('192.0.2.201', '192.0.2.2', tos=0x03))",
  "send(dst, udp('192.0.2.3', '192.0.2.2', tos=0x02))",
  // TCP ECE / CWR (SYN with both: an ECN setup)
  "send(dst, tcp('192.0.2.4', 0x02 | 0x40 | 0x80, tos=0))",
  "send(dst, tcp('192.0.2.4', 0x02 | 0x40, tos=2))",
  "send(dst, tcp('192.0.2.6', 0x10 | 0x80, tos=1))",
  "send(dst, tcp('192.0.2.7', 0x10 | 0x40 | 0x80, tos=2))",
  "send(dst, tcp('192.0.2.8', 0x10, tos=3))",
  // MSS options: plain, small, after EOL (xt_tcpmss walks on past it), on an ACK, a wrong length, after window scale
  "send(dst, tcp('192.0.2.12', 0x02, opts=b'\\x02\\x04\\x05\\xb4'))",
  "send(dst, tcp('192.0.2.12', 0x02, opts=b'\\x02\\x04\\x02\\x18'))",
  "send(dst, tcp('192.0.2.12', 0x02, opts=b'\\x00\\x00\\x00\\x00\\x02\\x04\\x04\\x00'))",
  "send(dst, tcp('192.0.2.12', 0x10, opts=b'\\x01\\x01\\x02\\x04\\x05\\xdc\\x00\\x00'))",
  "send(dst, tcp('192.0.2.12', 0x02, opts=b'\\x02\\x05\\x05\\xb4\\x00\\x00\\x00\\x00'))",
  "send(dst, tcp('192.0.2.12', 0x02, opts=b'\\x03\\x03\\x07\\x01\\x02\\x04\\x01\\x00'))",
  // broadcast frames: the subnet's and the limited broadcast, and a unicast IP in one
  "send(BC, udp('192.0.2.1', '192.0.2.255', ttl=1, tos=0x10))",
  "send(BC, udp('192.0.2.50', '255.255.255.255', ttl=3))",
  "send(BC, udp('192.0.2.1', '192.0.2.2'))",
  // multicast frames (the all-hosts group the node is in; a group it is not in)
  "send(mc('224.0.0.1'), udp('192.0.2.1', '224.0.0.1', ttl=1, tos=0xb8))",
  "send(mc('239.1.2.3'), udp('192.0.2.9', '239.1.2.3', ttl=4))",
  // a multicast IP destination in a unicast frame: PACKET_HOST
  "send(dst, udp('192.0.2.1', '224.0.0.1', ttl=1))",
];

const TOOLS = haveTool("dumpcap") && haveTool("python3");

const IN_COUNTERS = [
  "IpInReceives", "IpExtInMcastPkts", "IpExtInBcastPkts", "IpExtInMcastOctets", "IpExtInBcastOctets",
  // ip_rcv_core's bytes (short frames: Ethernet padding) and ECN codepoints (the frames carry every TOS the matches test)
  "IpExtInOctets", "IpExtInNoECTPkts", "IpExtInECT1Pkts", "IpExtInECT0Pkts", "IpExtInCEPkts",
];

let ns: NetnsPair | undefined;

describeKernel("-m pkttype/iprange/ttl/tos/dscp/ecn, kernel vs emulator", () => {
  let kernelSave = "";
  let snapDir = "";
  let before: Record<string, number> = {};
  let after: Record<string, number> = {};

  beforeAll(async () => {
    if (!TOOLS) return;
    const n = (ns = createNetnsPair("xtmisc"));
    // what the frames depend on: no reverse-path filter on vn (the sources are all on-link anyway)
    n.inNs(n.node, ["sysctl", "-qw", "net.ipv4.conf.vn.rp_filter=0"]);
    legacyRestore(n, RULES);
    snapDir = join(dir, "snap");
    ({ kernelSave, before, after } = await recordKernelRun(n, {
      capture: CAPTURE, snapDir, waitMs: 400, sender: (nodeMac) => [
      ...rawSenderPrelude(nodeMac),
      "ident = 0",
      "BC = b'\\xff' * 6",
      "def mc(g):",
      "    o = socket.inet_aton(g)",
      "    return bytes([1, 0, 0x5e, o[1] & 0x7f, o[2], o[3]])",
      "def ip4(s_, d_, proto, payload, ttl=64, tos=0):",
      "    global ident",
      "    ident += 1",
      "    h = struct.pack('!BBHHHBBH4s4s', 0x45, tos, 20 + len(payload), ident, 0, ttl, proto, 0, socket.inet_aton(s_), socket.inet_aton(d_))",
      "    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload",
      "def l4sum(s_, d_, proto, seg):",
      "    return csum(socket.inet_aton(s_) + socket.inet_aton(d_) + struct.pack('!BBH', 0, proto, len(seg)) + seg)",
      "def udp(s_, d_, ttl=64, tos=0):",
      "    seg = struct.pack('!HHHH', 4000, 4001, 12, 0) + b'data'",
      "    return ip4(s_, d_, 17, seg[:6] + struct.pack('!H', l4sum(s_, d_, 17, seg) or 0xffff) + seg[8:], ttl, tos)",
      "def tcp(s_, flags, ttl=64, tos=0, opts=b''):",
      "    d_ = '192.0.2.2'",
      "    seg = struct.pack('!HHIIBBHHH', 5000 + ident, 80, 1, 0, (5 + len(opts) // 4) << 4, flags, 8192, 0, 0) + opts",
      "    return ip4(s_, d_, 6, seg[:16] + struct.pack('!H', l4sum(s_, d_, 6, seg)) + seg[18:], ttl, tos)",
      "def send(m, f):",
      "    s.send(m + src + b'\\x08\\x00' + f); time.sleep(0.02)",
      ...FRAMES,
    ].join("\n"),
    }));
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same rule counters for every match, option and packet type", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    // iptables-save's canonical forms, which the emulator loads
    expect(kernelSave).toContain("-A PREROUTING -m tos --tos 0x10/0x3f");
    expect(kernelSave).toContain("-A PREROUTING -m dscp --dscp 0x22");
    expect(kernelSave).toContain("-A PREROUTING -p tcp -m ecn --ecn-tcp-ece ! --ecn-tcp-cwr");
    const { engine, frames } = await replayKernelCapture(snapDir, CAPTURE, kernelSave);
    expect(frames).toBeGreaterThanOrEqual(FRAMES.length);
    const lines = iptablesCounterLines(kernelSave);
    expect(iptablesCounterLines(engine.iptablesSave())).toEqual(lines);
    // not vacuous: every PREROUTING rule but the otherhost one and the reversed range matched something
    const counts = lines.filter((l) => l.includes("-A PREROUTING")).map((l) => Number(/\[(\d+):/.exec(l)![1]));
    expect(counts.filter((c) => c === 0).length).toBe(2);
    // the MSS after EOL (1024) counts: xt_tcpmss's walk is not conntrack's
    expect(lines.find((l) => l.includes("--mss 1000:65535"))).toMatch(/ \[3:/);
    const input = lines.filter((l) => l.includes("-A INPUT")).map((l) => Number(/\[(\d+):/.exec(l)![1]));
    expect(input.filter((c) => c > 0).length).toBeGreaterThanOrEqual(4);
    // ip_rcv_finish_core's counts of the broadcast and multicast frames (the node's own sends are not compared)
    const { kernel, emulated } = counterDeltas(IN_COUNTERS, before, after, engine.counters());
    expect(emulated).toEqual(kernel);
    expect(kernel.IpExtInBcastPkts).toBe(2);
    expect(kernel.IpExtInMcastPkts).toBeGreaterThanOrEqual(2);
    console.log(`xt-misc bytes and ECN in: ${JSON.stringify(Object.fromEntries(Object.entries(kernel).filter(([k]) => /InOctets|ECT|CEPkts/.test(k))))}`);
    for (const k of ["IpExtInNoECTPkts", "IpExtInECT1Pkts", "IpExtInECT0Pkts", "IpExtInCEPkts"]) expect(kernel[k]).toBeGreaterThan(0);
  });
});
