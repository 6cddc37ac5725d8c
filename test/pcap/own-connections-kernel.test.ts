/**
 * The node's own connections, against the kernel: a process in the node
 * namespace talks to servers in the peer (a TCP exchange closed with FINs,
 * one aborted with a reset, a connected UDP socket's query and answer), then
 * the peer sends raw segments and datagrams the node's sockets do or do not
 * take. Everything the node sent before the peer's raw frames is what its
 * processes (and their sockets' TCP stack) sent: replayed as local packets
 * (`iif: "local"`); what it sent after is its answers to the raw frames
 * (resets, port unreachable), compared with the emulator's replies. With no
 * socket table for the node's own connections, the emulator answered the
 * servers' SYN-ACK, data and FIN with resets.
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { describeKernel } from "../kernel/kernel-gate.js";
import { createNetnsPair, startCapture, stopCapture, rawSenderPrelude, sendFramesPy, RAW_IP_HELPERS, counterDeltas, type NetnsPair, pythonInBackground } from "./netns-pair.js";
import { packetInputFrom } from "../../host/packet/wire.js";
import { scratchDir, haveTool, snapshotEngine, forEachIPv4 } from "./helpers.js";
import type { PacketInput } from "../../host/packet/input.js";
import { SNAPSHOT_SCRIPT as SNAPSHOT } from "../repo.js";

const { dir, cleanup } = scratchDir();
const TOOLS = haveTool("dumpcap");
const capture = join(dir, "vn.pcapng");
const snapDir = join(dir, "snap");

let ns: NetnsPair | undefined;
let nodeMac = "";
let before: Record<string, number> = {};
let after: Record<string, number> = {};


describeKernel("the node's own connections: replies reach the sockets its processes sent from", () => {
  beforeAll(async () => {
    if (!TOOLS) return;
    ns = createNetnsPair("owncon", { txChecksumOffload: false });
    nodeMac = ns.inNs(ns.node, ["cat", "/sys/class/net/vn/address"]).trim();
    const cap = await startCapture(ns.node, ["dumpcap", "-q", "-i", "vn", "-f", "ip", "-w", capture]);
    before = ns.nstat();
    // the peer's servers: TCP 8080 (answers "pong", closes after the client), UDP 5353 (echo)
    const servers = pythonInBackground(ns.peer, [
      "import socket, threading, time",
      "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('192.0.2.1', 8080)); l.listen(4)",
      "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('192.0.2.1', 5353))",
      "def tcp():",
      "    for _ in range(2):",
      "        c, _a = l.accept(); c.recv(100); c.send(b'pong')",
      "        try: c.recv(100)",
      "        except OSError: pass",
      "        c.close()",
      "def udp():",
      "    d, a = u.recvfrom(100); u.sendto(b'answer', a)",
      "threading.Thread(target=tcp, daemon=True).start(); threading.Thread(target=udp, daemon=True).start()",
      "print('listening'); time.sleep(6)",
    ].join("\n"), "listening");
    await servers.ready;
    // the node's process: a closed exchange, an aborted one, a connected UDP socket kept open
    const client = pythonInBackground(ns.node, [
      "import socket, struct, time",
      "a = socket.socket(); a.bind(('192.0.2.2', 45000)); a.connect(('192.0.2.1', 8080)); a.send(b'ping'); a.recv(100); a.close(); time.sleep(0.3)",
      "b = socket.socket(); b.bind(('192.0.2.2', 45001)); b.connect(('192.0.2.1', 8080)); b.send(b'ping'); b.recv(100)",
      "b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); b.close(); time.sleep(0.3)",
      "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('192.0.2.2', 53000)); u.connect(('192.0.2.1', 5353)); u.send(b'query'); u.recv(100)",
      // reads the peer's late datagram too: the kernel counts UdpInDatagrams when a process reads one (udp_recvmsg)
      "time.sleep(0.5); print('sent', flush=True); u.settimeout(5); u.recv(100); time.sleep(0.2)",
    ].join("\n"), "sent");
    await client.ready;
    // the peer's raw frames, while the UDP socket is still open
    ns.inNs(ns.peer, ["python3", "-c", [
      ...rawSenderPrelude(nodeMac), "ident = 900", ...RAW_IP_HELPERS,
      "def tcp(sp, dp, seq, ack, flags):",
      "    seg = struct.pack('!HHIIBBHHH', sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0)",
      "    seg = seg[:16] + struct.pack('!H', l4sum('192.0.2.1', '192.0.2.2', 6, seg)) + seg[18:]",
      "    return ip('192.0.2.1', '192.0.2.2', 6, seg)",
      "def udp(sp, dp, data):",
      "    seg = struct.pack('!HHHH', sp, dp, 8 + len(data), 0) + data",
      "    seg = seg[:6] + struct.pack('!H', l4sum('192.0.2.1', '192.0.2.2', 17, seg)) + seg[8:]",
      "    return ip('192.0.2.1', '192.0.2.2', 17, seg)",
      ...sendFramesPy([
        "tcp(8080, 46000, 7000, 1, 0x12)", // SYN-ACK to a port no socket has: reset
        "tcp(8080, 45001, 7000, 1, 0x10)", // to the aborted connection: reset
        "udp(5354, 53000, b'stray')", // the connected socket takes only its peer: port unreachable
        "udp(5353, 53000, b'late')", // its peer: delivered
      ], 0.05),
    ].join("\n")]);
    expect(await client.done).toBe(0);
    after = ns.nstat();
    await servers.done;
    await stopCapture(cap);
    ns.inNs(ns.node, ["sh", SNAPSHOT, snapDir]);
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("no reset or port unreachable for the node's own connections; the kernel's answers to the rest are the emulator's", async () => {
    // the capture: what the peer sent is arriving traffic; what the node sent before the first raw
    // frame (the SYN-ACK to port 46000) came from its processes; what it sent after answers the raw frames
    const inputs: PacketInput[] = [];
    const kernelAnswers: string[] = [];
    let rawPhase = false;
    let t0 = -1;
    forEachIPv4(capture, (w, r) => {
      if (t0 < 0) t0 = r.tsNs;
      const fromNode = w.src === 0xc0000202; // 192.0.2.2
      if (!fromNode && w.proto === 6 && w.dport === 46000) rawPhase = true;
      if (fromNode && rawPhase) {
        kernelAnswers.push(w.proto === 6 ? `tcp ${w.tcpFlags === 4 ? "R" : w.tcpFlags === 20 ? "RA" : w.tcpFlags}` : `icmp ${w.icmpType}/${w.icmpCode}`);
        return;
      }
      inputs.push(packetInputFrom(w, fromNode ? "local" : "vn", r.tsNs - t0));
    });
    expect(rawPhase).toBe(true);
    expect(kernelAnswers).toEqual(["tcp R", "tcp R", "icmp 3/3"]);
    const local = inputs.filter((p) => p.iif === "local");
    expect(local.some((p) => p.proto === "tcp" && p.flags === "RA")).toBe(true); // the abort (SO_LINGER 0)
    expect(local.filter((p) => p.proto === "udp")).toHaveLength(1);

    const engine = await snapshotEngine(snapDir);
    const results = engine.process(inputs);
    const emulated = results.flatMap((x, k) => x.replies.map((q) => `${k}: ${q.kind === "tcp" ? `tcp ${q.flags}` : `icmp ${q.icmp_type}/${q.icmp_code}`}`));
    // every reply answers one of the raw frames, in order, as the kernel's did
    const rawStart = inputs.findIndex((p) => p.iif === "vn" && p.dport === 46000);
    expect(emulated.map((s) => s.replace(/^\d+: /, ""))).toEqual(kernelAnswers);
    expect(emulated.every((s) => Number(s.split(":")[0]) >= rawStart)).toBe(true);
    // the servers' segments and answer reached sockets; the stray datagram did not
    for (const [k, p] of inputs.entries()) {
      if (p.iif !== "vn") continue;
      const res = results[k]!;
      expect(res.verdict, `packet ${k}`).toBe("local");
      const open = k < rawStart || p.sport === 5353;
      expect(res.socket, `packet ${k} (${p.proto} ${p.sport} -> ${p.dport} ${p.flags ?? ""})`).toBe(open ? "open" : "closed");
    }
    const c = counterDeltas(["TcpInSegs", "UdpInDatagrams", "UdpNoPorts"], before, after, engine.counters());
    expect(c.emulated).toEqual(c.kernel);
    expect(c.kernel.UdpInDatagrams).toBe(2);
  });
});
