/**
 * conntrack's IPv4 reassembly (nf_defrag_ipv4 at PREROUTING) and the
 * refragmentation of reassembled datagrams on the way out, kernel vs
 * emulator. A node namespace with a conntrack rule (iptables-legacy),
 * forwarding on, between a peer (raw fragments sent with AF_PACKET) and a
 * far namespace behind a 600-byte MTU link. Fragments in order, reversed,
 * with a duplicate, with an overlap, one alone (incomplete), one queue that
 * times out (ipfrag_time 2) and one that is "too far" (ipfrag_max_dist 4),
 * DF datagrams whose fragments fit the far link and one whose fragments do
 * not, and a fragmented echo request to the node itself. Compared: the
 * SNMP counters (nstat deltas) and the fragments the kernel sent to the far
 * namespace (captured there) vs PKT_FRAGS / IpFragCreates.
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as abi from "../../host/core/abi.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { recordKernelRun, legacyRestore, addFarNamespace, counterDeltas, createNetnsPair, rawSenderPrelude, type NetnsPair } from "./netns-pair.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import { CaptureReader } from "../../host/pcap/read.js";
import { scratchDir, haveTool, replayEach, snapshotEngine } from "./helpers.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");
const FAR_CAPTURE = join(dir, "vx.pcapng");

let ns: NetnsPair | undefined;
let far = "";

const COUNTERS = [
  "IpInReceives", "IpReasmReqds", "IpReasmOKs", "IpReasmFails", "IpReasmTimeout", "IpExtReasmOverlaps",
  "IpForwDatagrams", "IpFragOKs", "IpFragCreates", "IpFragFails", "IpInDelivers", "IcmpInEchos", "IcmpOutEchoReps", "IcmpOutDestUnreachs",
  // every fragment's own ip_rcv_core (its bytes, padding included, and its ECN codepoint); ip_finish_output2 per fragment sent
  "IpExtInOctets", "IpExtInNoECTPkts", "IpExtInECT1Pkts", "IpExtInECT0Pkts", "IpExtInCEPkts", "IpOutTransmits", "IpExtOutOctets",
];

const RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT
COMMIT
`;

/**
 * The sender: datagrams cut into fragments by hand. frag(ident, payload,
 * [(start, end, mf, df[, tos[, pad]])]) sends payload[start:end] at offset
 * start, with that TOS (its ECN codepoint: 1 ECT(1), 2 ECT(0), 3 CE) and
 * `pad` zero bytes after it in the frame (a short frame's Ethernet padding).
 */
const SENDER = (nodeMac: string) => [
  ...rawSenderPrelude(nodeMac),
  "SRC = socket.inet_aton('192.0.2.1')",
  "def udp(daddr, n, sport):",
  "    data = bytes((i * 7) & 255 for i in range(n - 8))",
  "    h = struct.pack('!HHHH', sport, 9, n, 0)",
  "    c = csum(SRC + daddr + struct.pack('!BBH', 0, 17, n) + h + data)",
  "    return struct.pack('!HHHH', sport, 9, n, c or 0xffff) + data",
  "def echo(n, seq):",
  "    b = struct.pack('!BBHHH', 8, 0, 0, 0x4242, seq) + bytes((i * 3) & 255 for i in range(n - 8))",
  "    return b[:2] + struct.pack('!H', csum(b)) + b[4:]",
  "def frag(ident, proto, daddr, payload, pieces):",
  "    for pc in pieces:",
  "        (a, e, mf, df), tos, pad = pc[:4], (pc[4] if len(pc) > 4 else 0), (pc[5] if len(pc) > 5 else 0)",
  "        fo = (a >> 3) | (0x2000 if mf else 0) | (0x4000 if df else 0)",
  "        body = payload[a:e]",
  "        h = struct.pack('!BBHHHBBH4s4s', 0x45, tos, 20 + len(body), ident, fo, 64, proto, 0, SRC, daddr)",
  "        h = h[:10] + struct.pack('!H', csum(h)) + h[12:]",
  "        s.send(dst + src + b'\\x08\\x00' + h + body + bytes(pad)); time.sleep(0.02)",
  "FAR = socket.inet_aton('198.51.100.2'); NODE = socket.inet_aton('192.0.2.2')",
  // a queue that times out (ipfrag_time 2): its second fragment comes 2.5 s later and starts a new queue
  "p = udp(FAR, 800, 1009)",
  "frag(109, 17, FAR, p, [(0, 400, 1, 0)]); time.sleep(2.5); frag(109, 17, FAR, p, [(400, 800, 0, 0)])",
  // D1: in order, no DF, fragments larger than the far MTU: the slow path at the MTU
  "p = udp(FAR, 1208, 1001); frag(101, 17, FAR, p, [(0, 600, 1, 0, 2), (600, 1208, 0, 0, 2)])",
  // too far (ipfrag_max_dist 4): the first fragment of 110, then 5 fragments from the same source, then its last
  "q = udp(FAR, 800, 1010); frag(110, 17, FAR, q, [(0, 400, 1, 0)])",
  // D2: reversed, fragments that fit: the fast path keeps them
  "p = udp(FAR, 1000, 1002); frag(102, 17, FAR, p, [(800, 1000, 0, 0, 1), (400, 800, 1, 0, 2), (0, 400, 1, 0, 1)])",
  // D3: DF on every fragment, each fits the far MTU: forwarded, refragmented
  "p = udp(FAR, 1000, 1003); frag(103, 17, FAR, p, [(0, 496, 1, 1, 2), (496, 1000, 0, 1, 3)])",
  "frag(110, 17, FAR, q, [(400, 800, 0, 0)])",
  // D4: DF, a fragment larger than the far MTU: frag needed
  "p = udp(FAR, 1000, 1004); frag(104, 17, FAR, p, [(0, 800, 1, 1), (800, 1000, 0, 1)])",
  // D5: a duplicate
  "p = udp(FAR, 808, 1005); frag(105, 17, FAR, p, [(0, 400, 1, 0, 2), (0, 400, 1, 0, 3), (400, 808, 0, 0, 2)])",
  // D6: an overlap kills the queue; its last fragment then starts a new one (incomplete)
  "p = udp(FAR, 1000, 1006); frag(106, 17, FAR, p, [(0, 400, 1, 0), (392, 800, 1, 0), (800, 1000, 0, 0)])",
  // D8: an echo request to the node, out of order: reassembled, delivered, answered
  "p = echo(1008, 1); frag(108, 1, NODE, p, [(504, 1008, 0, 0), (0, 504, 1, 0)])",
  // D7: one fragment alone (incomplete at the end)
  "p = udp(FAR, 1000, 1007); frag(107, 17, FAR, p, [(0, 400, 1, 0)])",
  // D9: CE and ECT(0) (the datagram is CE); its 8-byte last fragment padded to a 60-byte frame
  "p = udp(FAR, 408, 1011); frag(111, 17, FAR, p, [(0, 400, 1, 0, 3), (400, 408, 0, 0, 2, 18)])",
  // D10: not-ECT and CE: ip_frag_reasm refuses the mix (IpReasmFails)
  "p = udp(FAR, 800, 1012); frag(112, 17, FAR, p, [(0, 400, 1, 0, 0), (400, 800, 0, 0, 3)])",
].join("\n");

const TOOLS = haveTool("dumpcap") && haveTool("nstat") && haveTool("iptables-legacy-restore") && haveTool("iptables-legacy-save");

/** IPv4 packets from 192.0.2.1 in a capture: [id, total length, fragment offset, MF]. */
function farPackets(file: string): [number, number, number, boolean][] {
  const r = CaptureReader.open(file);
  const out: [number, number, number, boolean][] = [];
  while (r.next()) {
    const b = r.buf, o = r.data + 14;
    if (r.capLen < 34 || b[r.data + 12] !== 0x08 || b[r.data + 13] !== 0) continue;
    if (b[o + 12] !== 192 || b[o + 13] !== 0 || b[o + 14] !== 2 || b[o + 15] !== 1) continue;
    const fo = (b[o + 6]! << 8) | b[o + 7]!;
    out.push([(b[o + 4]! << 8) | b[o + 5]!, (b[o + 2]! << 8) | b[o + 3]!, (fo & 0x1fff) * 8, (fo & 0x2000) !== 0]);
  }
  r.close();
  return out;
}

describeKernel("conntrack reassembly and refragmentation, kernel vs emulator", () => {
  let before: Record<string, number> = {};
  let after: Record<string, number> = {};
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    ns = createNetnsPair("defrag");
    far = addFarNamespace(ns, "defrag", "198.51.100.2", { mtu: 600 });
    ns.inNs(far, ["ip", "route", "add", "default", "via", "198.51.100.1"]);
    // the far end answers nothing (its answers would be forwarded by the node too)
    ns.inNs(far, ["iptables-legacy", "-A", "INPUT", "-j", "DROP"]);
    ns.inNs(ns.node, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.ipfrag_time=2", "net.ipv4.ipfrag_max_dist=4"]);
    legacyRestore(ns, RULES);
    // the node learns the far end's MAC first (no fragments wait for ARP)
    ns.inNs(ns.node, ["ping", "-c", "1", "-W", "1", "198.51.100.2"], false);
    snapDir = join(dir, "snap");
    const run = await recordKernelRun(ns, { capture: CAPTURE, far: { ns: far, capture: FAR_CAPTURE }, sender: SENDER, waitMs: 300, snapDir });
    ({ before, after } = run);
    // the rules are legacy iptables (the snapshot script's iptables-save may be the nft one)
    writeFileSync(join(snapDir, "iptables-save.txt"), run.kernelSave);
    // the reassembly sysctls come with the snapshot (the script collects them)
    expect(readFileSync(join(snapDir, "sysctl.txt"), "utf8")).toMatch(/^net\.ipv4\.ipfrag_time = 2$/m);
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same reassembly counters, forwarding decisions and refragmentation as the kernel", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    const engine = await snapshotEngine(snapDir);
    expect(engine.node.snapshot.iptablesSave).toContain("--ctstate NEW,ESTABLISHED");
    expect(engine.ruleset?.compiled.conntrack).toBeTruthy();
    const src = PcapSource.open(CAPTURE, engine, {});
    expect(src.defrag?.cfg.maxDist).toBe(4);
    expect(src.defrag?.cfg.timeoutNs).toBe(2e9);
    const got: { dst: number; verdict: number; reason?: string; frags: number; len: number; fragMax: number }[] = [];
    replayEach(engine, src, 1, (dv, p, k, index) => {
      got.push({
        dst: dv.getUint32(p + abi.PKT_DST, true), verdict: dv.getUint8(p + abi.PKT_VERDICT), reason: engine.decodeRaw(k, index).reason,
        frags: dv.getUint8(p + abi.PKT_FRAGS), len: dv.getUint16(p + abi.PKT_LEN, true), fragMax: dv.getUint16(p + abi.PKT_FRAG_MAX, true),
      });
    });
    const fragments = src.fragments();
    src.close();
    const { kernel, emulated } = counterDeltas(COUNTERS, before, after, engine.counters());
    console.log(`defrag kernel counters: ${JSON.stringify(kernel)}`);
    expect(emulated).toEqual(kernel);
    // the kernel did what the cases are about (the comparison is not vacuous)
    expect(kernel.IpReasmOKs).toBe(7);
    expect(kernel.IpReasmFails).toBe(4);
    // each fragment's own ECN codepoint and bytes (the padding of D9's last one too)
    expect([kernel.IpExtInNoECTPkts, kernel.IpExtInECT1Pkts, kernel.IpExtInECT0Pkts, kernel.IpExtInCEPkts]).toEqual([13, 2, 7, 4]);
    expect(kernel.IpReasmTimeout).toBe(1);
    expect(kernel.IpExtReasmOverlaps).toBe(1);
    expect(kernel.IpFragFails).toBe(1);
    // the fragments the far end received, by datagram, vs the emulator's PKT_FRAGS
    const farPk = farPackets(FAR_CAPTURE);
    const byId = new Map<number, number[]>();
    for (const [id, len] of farPk) byId.set(id, [...(byId.get(id) ?? []), len]);
    const forwarded = got.filter((g) => g.verdict === abi.VERDICT_FORWARD);
    expect(forwarded.length).toBe(byId.size);
    expect(forwarded.reduce((a, g) => a + g.frags, 0)).toBe(farPk.length);
    expect(forwarded.every((g) => g.fragMax > 0)).toBe(true);
    // per datagram (in the order they were forwarded): as many fragments as the kernel sent
    expect(forwarded.map((g) => g.frags)).toEqual([...byId.values()].map((l) => l.length));
    // every fragment accounted for: 24 sent by the peer
    const total = Object.values(fragments ?? {}).reduce((a, b) => a + b, 0);
    expect(total).toBe(kernel.IpReasmReqds);
    expect(fragments).toMatchObject({ "still queued at the end of the capture (datagram incomplete)": 4 });
  });
});
