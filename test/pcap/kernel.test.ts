/**
 * Captures the kernel wrote: traffic sent inside two namespaces we create
 * (a peer and a "node" joined by a veth pair), captured in the node by
 * `tcpdump -i any` (SLL2, ns timestamps), `tcpdump -i vn` (Ethernet) and
 * `dumpcap -i vn` (pcapng with if_name), then replayed through the engine
 * loaded with a snapshot of that very namespace. The capture also holds
 * what the kernel sent back (the outgoing copies: answers the engine makes
 * itself, counted, not replayed):
 * the emulator's replies must be the kernel's.
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { describeKernel } from "../kernel/kernel-gate.js";
import { createNetnsPair, startCapture, stopCapture, type NetnsPair } from "./netns-pair.js";
import { replayCapture, type CaptureSink } from "../../host/pcap/replay.js";
import { scratchDir, haveTool, snapshotEngine, forEachIPv4 } from "./helpers.js";
import type { PacketResult } from "../../host/packet/result.js";
import { SKIP_ANSWER } from "../../host/pcap/node-sends.js";
import { SNAPSHOT_SCRIPT as SNAPSHOT } from "../repo.js";

const { dir, cleanup } = scratchDir();

let ns: NetnsPair | undefined;

const TOOLS = haveTool("tcpdump") && haveTool("dumpcap");
let snapDir: string;
const files = { any: join(dir, "any.pcap"), eth: join(dir, "vn.pcap"), ng: join(dir, "vn.pcapng") };

describeKernel("captures written by tcpdump and dumpcap", () => {
  beforeAll(async () => {
    if (!TOOLS) return;
    ns = createNetnsPair("pcap", { txChecksumOffload: false }); // real checksums on the wire (no CHECKSUM_PARTIAL skbs crossing the veth)
    const caps = await Promise.all([
      startCapture(ns!.node, ["tcpdump", "-i", "any", "-n", "-U", "--immediate-mode", "--time-stamp-precision=nano", "-w", files.any]),
      startCapture(ns!.node, ["tcpdump", "-i", "vn", "-n", "-U", "--immediate-mode", "-w", files.eth]),
      startCapture(ns!.node, ["dumpcap", "-q", "-i", "vn", "-w", files.ng]),
    ]);
    // the peer pings the node, sends a UDP datagram and a TCP SYN to closed ports
    ns!.inNs(ns!.peer, ["python3", "-c", [
      "import socket, struct, time",
      "def csum(b):",
      "    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))",
      "    while s >> 16: s = (s & 0xffff) + (s >> 16)",
      "    return ~s & 0xffff",
      "r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)",
      "for seq in range(3):",
      "    body = struct.pack('!BBHHH', 8, 0, 0, 0x4242, seq) + b'p' * 56",
      "    body = body[:2] + struct.pack('!H', csum(body)) + body[4:]",
      "    r.sendto(body, ('192.0.2.2', 0)); time.sleep(0.2)",
      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x' * 100, ('192.0.2.2', 9999)); time.sleep(0.2)",
      "t = socket.socket(); t.settimeout(1)",
      "try: t.connect(('192.0.2.2', 81))",
      "except Exception: pass",
    ].join("\n")]);
    await new Promise((r) => setTimeout(r, 500));
    await Promise.all(caps.map(stopCapture));
    snapDir = join(dir, "snap");
    ns!.inNs(ns!.node, ["sh", SNAPSHOT, snapDir]);
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  async function replay(file: string) {
    const engine = await snapshotEngine(snapDir);
    const results: PacketResult[] = [];
    const sink: CaptureSink = { packet: (k, i) => { results.push(engine.decodeRaw(k, i)); } };
    const st = await replayCapture(engine, file, sink);
    return { st, results };
  }

  /** What the kernel sent from the node (the outgoing IPv4 frames of the capture): "icmp T/C" or "tcp FLAGS". */
  function kernelReplies(file: string): string[] {
    const out: string[] = [];
    forEachIPv4(file, (w, r, link) => {
      const outgoing = link.pktType === 4 || (link.pktType < 0 && r.dir !== 1 && link.srcMac >= 0 && r.buf[link.l3 + 12] === 192 && r.buf[link.l3 + 15] === 2);
      if (outgoing) out.push(w.proto === 6 ? `tcp ${w.tcpFlags === 20 ? "RA" : w.tcpFlags}` : `icmp ${w.icmpType}/${w.icmpCode}`);
    });
    return out;
  }

  for (const which of ["any", "eth", "ng"] as const) {
    it.skipIf(!TOOLS)(`${which === "any" ? "tcpdump -i any (SLL2, ns)" : which === "eth" ? "tcpdump -i vn (Ethernet)" : "dumpcap (pcapng, if_name)"}: replayed, non-IPv4 and outgoing counted, replies = the kernel's`, async () => {
      const file = files[which];
      expect(existsSync(file)).toBe(true);
      const head = readFileSync(file).subarray(0, 4).toString("hex");
      const { st, results } = await replay(file);
      expect(st.error, st.error?.message).toBeUndefined();
      if (which === "ng") expect(head).toBe("0a0d0d0a");
      if (which === "ng") expect(st.interfaces.map((i) => i.name)).toEqual(["vn"]);
      if (which === "any") expect(st.interfaces[0]!.linkType).toBe(276);
      if (which === "eth") expect(st.interfaces[0]!.linkType).toBe(1);
      // the peer's 5 packets: 3 echo requests, 1 UDP datagram, 1 SYN (plus any retransmitted SYN)
      expect(st.packets).toBeGreaterThanOrEqual(5);
      expect(st.verdicts).toEqual({ local: st.packets });
      expect(results.every((r) => r.verdict === "local")).toBe(true);
      // ARP went both ways; the node's answers are outgoing copies
      expect(st.notReplayed.ARP ?? 0).toBeGreaterThanOrEqual(1);
      // the kernel's answers (echo replies, port unreachable, reset) are the engine's own: counted, not replayed
      expect(st.notReplayed[SKIP_ANSWER] ?? 0).toBeGreaterThanOrEqual(5);
      expect(st.nodeSends).toBe(0);
      const emulated = results.flatMap((r) => r.replies.map((q) => (q.kind === "tcp" ? `tcp ${q.flags}` : `icmp ${q.icmp_type}/${q.icmp_code}`)));
      expect(emulated).toEqual(kernelReplies(file));
      expect(emulated.filter((x) => x === "icmp 0/0").length).toBe(3);
      expect(emulated).toContain("icmp 3/3");
      expect(emulated).toContain("tcp RA");
      expect(st.frames).toBe(st.packets + Object.values(st.notReplayed).reduce((a, b) => a + b, 0));
      expect(st.csumUnverified).toBe(0);
    });
  }
});
