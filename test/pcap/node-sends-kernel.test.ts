/**
 * The node's own sends in a capture, against the kernel: in the node
 * namespace a TCP listener (192.0.2.2:8080) and a UDP server (:5353) serve
 * a client in the peer (handshake, data both ways, FIN close; a query and
 * its answer), and a process in the node is itself a client of the peer's
 * servers (TCP 9090 with data and FINs, UDP 5354) and of its own UDP
 * server (a datagram to 192.0.2.2 and its answer on lo, where libpcap
 * keeps only the incoming copies). Captured with `tcpdump -i any` (SLL2)
 * in the node, twice at once: whole frames, and cut at 96 bytes
 * (`-s 96`, as captures of busy nodes are taken: the data segments and
 * datagrams are longer). The capture's outgoing frames that
 * the node's processes sent (SYN-ACKs, data, FINs, answers: its address as
 * the source, TTL 64 = net.ipv4.ip_default_ttl) are replayed as local
 * sends (--node-sends replay, the default); then the emulator's
 * connections (conntrack -L: states, ASSURED, tuples), TcpInSegs,
 * TcpOutRsts, UdpNoPorts and the INVALID rule's counter are the kernel's,
 * and it makes no reset or port unreachable. With --node-sends skip (the
 * old behaviour) they are not: the server's connection stays unreplied,
 * the client's next segments are INVALID, and the replies to the node's
 * own connections are answered with resets the kernel never sent.
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { existsSync, writeFileSync, rmSync, readFileSync } from "node:fs";
import { describeKernel } from "../kernel/kernel-gate.js";
import { createNetnsPair, startCapture, stopCapture, legacyRestore, counterDeltas, type NetnsPair, pythonInBackground } from "./netns-pair.js";
import { replayCapture, type CaptureSink } from "../../host/pcap/replay.js";
import { scratchDir, haveCaptureKernelTools, snapshotEngine, forEachIPv4 } from "./helpers.js";
import { SKIP_ANSWER, SKIP_LOOPBACK, SKIP_OUTGOING } from "../../host/pcap/node-sends.js";
import type { PacketResult } from "../../host/packet/result.js";
import { CLI, SNAPSHOT_SCRIPT as SNAPSHOT } from "../repo.js";

const { dir, cleanup } = scratchDir();
const KEEP = process.env.NS_KEEP;
const CAPTURE = join(dir, "any.pcap");
/** The same traffic, captured at the same time with a snaplen of 96 bytes. */
const CAPTURE_CUT = join(dir, "any-s96.pcap");
const TOOLS = haveCaptureKernelTools();

const RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate INVALID
-A INPUT -m conntrack --ctstate ESTABLISHED
-A OUTPUT -m conntrack --ctstate NEW
COMMIT
`;

const COUNTERS = ["TcpInSegs", "TcpOutRsts", "UdpNoPorts", "UdpInDatagrams"];

/** conntrack -L lines of the test's addresses without the timeout and use count, sorted. */
function conns(text: string): string[] {
  return text.split("\n").filter((l) => l.includes("src=192.0.2."))
    .map((l) => l.replace(/^(\S+\s+\d+)\s+\d+/, "$1").replace(/\s+use=\d+/, "").replace(/\s+mark=0/, "").replace(/\s+/g, " ").trim()).sort();
}


let ns: NetnsPair | undefined;
let snapDir = "";
let before: Record<string, number> = {};
let after: Record<string, number> = {};
let kernelConns: string[] = [];
let kernelSave = "";

describeKernel("the node's own sends in a capture (tcpdump -i any), replayed as local sends, against the kernel", () => {
  beforeAll(async () => {
    if (!TOOLS) return;
    // tcpdump now and then loses a frame the kernel received (seen: one pure ACK of a dozen); the
    // comparison needs them all: the scenario runs again (new namespaces) until the capture holds every one
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt > 0) ns?.remove();
      await scenario();
      // (the two captures start and stop at different moments: their IPv4 frames are the test's traffic alone)
      let arrived = 0, arrivedCut = 0, sent = 0, sentCut = 0;
      forEachIPv4(CAPTURE, (_w, _r, link) => { if (link.pktType !== 4) arrived++; else sent++; });
      forEachIPv4(CAPTURE_CUT, (_w, _r, link) => { if (link.pktType !== 4) arrivedCut++; else sentCut++; });
      const received = (after.IpInReceives ?? 0) - (before.IpInReceives ?? 0);
      if (arrived === received && arrivedCut === received && sentCut === sent) return;
    }
    throw new Error("tcpdump lost frames in every attempt");
  }, 120000);

  async function scenario(): Promise<void> {
    ns = createNetnsPair("nsends", { txChecksumOffload: false });
    legacyRestore(ns, RULES);
    // the node's servers: TCP 8080 (reads "hello", answers "world", closes after the client), UDP 5353 (answers each datagram)
    const servers = pythonInBackground(ns.node, [
      "import socket, threading, time",
      "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('192.0.2.2', 8080)); l.listen(4)",
      "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 5353))",
      "def tcp():",
      "    c, _a = l.accept(); c.recv(100); c.send(b'world' * 100)",
      "    while c.recv(1000): pass",
      "    c.close()",
      "def udp():",
      "    for _ in range(2):",
      "        d, a = u.recvfrom(1000); u.sendto(b'answer' * 50, a)",
      "threading.Thread(target=tcp, daemon=True).start(); threading.Thread(target=udp, daemon=True).start()",
      "print('listening'); time.sleep(8)",
    ].join("\n"), "listening");
    const peerServers = pythonInBackground(ns.peer, [
      "import socket, threading, time",
      "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('192.0.2.1', 9090)); l.listen(4)",
      "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('192.0.2.1', 5354))",
      "def tcp():",
      "    c, _a = l.accept(); c.recv(100); c.send(b'pong' * 100)",
      "    while c.recv(1000): pass",
      "    c.close()",
      "def udp():",
      "    d, a = u.recvfrom(1000); u.sendto(b'answer' * 50, a)",
      "threading.Thread(target=tcp, daemon=True).start(); threading.Thread(target=udp, daemon=True).start()",
      "print('listening'); time.sleep(8)",
    ].join("\n"), "listening");
    await servers.ready;
    await peerServers.ready;
    // the snapshot while the node's servers listen (ss.txt: the sockets its packets are delivered to)
    snapDir = join(dir, "snap");
    rmSync(snapDir, { recursive: true, force: true });
    ns.inNs(ns.node, ["sh", SNAPSHOT, snapDir]);
    kernelSave = ns.inNs(ns.node, ["iptables-legacy-save"]);
    // each side learns the other's MAC before the capture (its ARP is not the test's)
    ns.inNs(ns.node, ["ping", "-c", "1", "-W", "1", "192.0.2.1"], false);
    ns.inNs(ns.node, ["conntrack", "-F"], false);
    ns.inNs(ns.node, ["iptables-legacy", "-Z"]);
    const cap = await startCapture(ns.node, ["tcpdump", "-i", "any", "-n", "-U", "--immediate-mode", "--time-stamp-precision=nano", "-w", CAPTURE]);
    const capCut = await startCapture(ns.node, ["tcpdump", "-i", "any", "-n", "-U", "--immediate-mode", "--time-stamp-precision=nano", "-s", "96", "-w", CAPTURE_CUT]);
    before = ns.nstat();
    // the peer, a client of the node's servers
    ns.inNs(ns.peer, ["python3", "-c", [
      "import socket, time",
      "t = socket.socket(); t.bind(('192.0.2.1', 41000)); t.connect(('192.0.2.2', 8080)); t.send(b'hello' * 100); t.recv(100); time.sleep(0.1)",
      "t.shutdown(socket.SHUT_WR)",
      "while t.recv(1000): pass",
      "t.close(); time.sleep(0.2)",
      "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('192.0.2.1', 41001)); u.settimeout(2); u.sendto(b'query' * 50, ('192.0.2.2', 5353)); u.recv(1000)",
    ].join("\n")]);
    // the node, a client of the peer's servers and of its own UDP server
    ns.inNs(ns.node, ["python3", "-c", [
      "import socket, time",
      "t = socket.socket(); t.bind(('192.0.2.2', 42000)); t.connect(('192.0.2.1', 9090)); t.send(b'ping' * 100); t.recv(100); time.sleep(0.1)",
      "t.shutdown(socket.SHUT_WR)",
      "while t.recv(1000): pass",
      "t.close(); time.sleep(0.2)",
      "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('192.0.2.2', 42001)); u.settimeout(2); u.sendto(b'query' * 50, ('192.0.2.1', 5354)); u.recv(1000)",
      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('192.0.2.2', 42002)); s.settimeout(2); s.sendto(b'self' * 50, ('192.0.2.2', 5353)); s.recv(1000)",
    ].join("\n")]);
    await new Promise((r) => setTimeout(r, 300));
    after = ns.nstat();
    kernelConns = conns(ns.inNs(ns.node, ["conntrack", "-L"], false));
    kernelSave = ns.inNs(ns.node, ["iptables-legacy-save", "-c"]);
    await stopCapture(cap);
    await stopCapture(capCut);
    await Promise.all([servers.done, peerServers.done]);
    if (KEEP) { spawnSync("cp", [CAPTURE, KEEP]); spawnSync("cp", ["-r", snapDir, `${KEEP}.snap`]); writeFileSync(`${KEEP}.json`, JSON.stringify({ before, after, kernelConns, kernelSave })); }
  }

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  async function replay(nodeSends: "replay" | "skip", capture = CAPTURE) {
    const engine = await snapshotEngine(snapDir);
    engine.loadRuleset(kernelSave.replace(/\[\d+:\d+\]/g, "[0:0]"), "iptables-legacy-save");
    const results: PacketResult[] = [];
    const sink: CaptureSink = { packet: (k, i) => { results.push(engine.decodeRaw(k, i)); } };
    const st = await replayCapture(engine, capture, sink, { nodeSends });
    const replies = results.flatMap((r) => r.replies.map((q) => (q.kind === "tcp" ? `tcp ${q.flags}` : `icmp ${q.icmp_type}/${q.icmp_code}`)));
    /** The packets of the INVALID rule (-A INPUT -m conntrack --ctstate INVALID), as iptables -L -v counts them. */
    const invalid = Number(/\[(\d+):\d+\] -A INPUT -m conntrack --ctstate INVALID/.exec(engine.iptablesSave())?.[1] ?? -1);
    return { engine, st, results, replies, invalid };
  }

  it.skipIf(!TOOLS)("--node-sends replay (the default): the kernel's connections, counters and answers (none)", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    // what the kernel sent of its own accord: no reset, no ICMP error (every outgoing frame its processes')
    const kernelAnswers: string[] = [];
    let outgoing = 0, loIn = 0, loOut = 0;
    forEachIPv4(CAPTURE, (w, _r, link) => {
      if (link.ifindex === 1) { if (link.pktType === 4) loOut++; else loIn++; }
      if (link.pktType !== 4) return;
      outgoing++;
      if ((w.proto === 6 && (w.tcpFlags & 4) !== 0) || w.proto === 1) kernelAnswers.push(`${w.proto} ${w.tcpFlags}`);
      expect(w.ttl).toBe(64);
    });
    expect(kernelAnswers).toEqual([]);
    expect(outgoing).toBeGreaterThanOrEqual(10);
    // the kernel's connections: both TCP ones closed with FINs (TIME_WAIT, ASSURED), the UDP ones answered
    expect(kernelConns.filter((l) => l.startsWith("tcp ")).every((l) => l.includes("TIME_WAIT") && l.includes("[ASSURED]"))).toBe(true);
    expect(kernelConns.length).toBe(5);
    const kernelInvalid = Number(/\[(\d+):\d+\] -A INPUT -m conntrack --ctstate INVALID/.exec(kernelSave)?.[1] ?? -1);
    expect(kernelInvalid).toBe(0);

    const r = await replay("replay");
    expect(r.st.error, r.st.error?.message).toBeUndefined();
    expect(r.st.interfaces[0]!.linkType).toBe(276);
    // on lo libpcap kept only the incoming copies (the datagram to itself and its answer): they stand for the sends
    expect([loIn, loOut]).toEqual([2, 0]);
    expect(r.st.notReplayed[SKIP_LOOPBACK]).toBeUndefined();
    // every outgoing frame a node send, and the two on lo
    expect(r.st.nodeSends).toBe(outgoing + loIn);
    expect(r.st.notReplayed[SKIP_ANSWER]).toBeUndefined();
    expect(r.replies).toEqual([]);
    expect(conns(r.engine.conntrackList())).toEqual(kernelConns);
    const c = counterDeltas(COUNTERS, before, after, r.engine.counters());
    expect(c.emulated).toEqual(c.kernel);
    expect(c.kernel.TcpInSegs).toBeGreaterThan(0);
    expect(r.invalid).toBe(kernelInvalid);
  });

  it.skipIf(!TOOLS)("the same traffic captured with -s 96: the cut sends are still sends, and the results the kernel's", async () => {
    // the cut capture holds the same IPv4 frames, many of them cut (data segments, datagrams), sends among them
    let ipv4 = 0, ipv4Cut = 0, cut = 0, cutSends = 0;
    forEachIPv4(CAPTURE, () => { ipv4++; });
    forEachIPv4(CAPTURE_CUT, (_w, r, link) => {
      ipv4Cut++;
      if (r.capLen < r.origLen) { cut++; if (link.pktType === 4) cutSends++; } // (PACKET_OUTGOING)
    });
    expect(ipv4Cut).toBe(ipv4);
    const whole = await replay("replay");
    const r = await replay("replay", CAPTURE_CUT);
    expect(r.st.error, r.st.error?.message).toBeUndefined();
    expect(cut).toBeGreaterThanOrEqual(8);
    expect(cutSends).toBeGreaterThanOrEqual(4);
    // every outgoing frame still a node send; none counted as "other" (or anything else)
    expect(r.st.nodeSends).toBe(whole.st.nodeSends);
    expect(Object.keys(r.st.notReplayed).filter((k) => k.startsWith("outgoing") || k.startsWith("loopback"))).toEqual([]);
    expect(r.replies).toEqual([]);
    expect(conns(r.engine.conntrackList())).toEqual(kernelConns);
    const c = counterDeltas(COUNTERS, before, after, r.engine.counters());
    expect(c.emulated).toEqual(c.kernel);
    expect(r.invalid).toBe(0);
  });

  it.skipIf(!TOOLS)("--node-sends skip (the old behaviour) is not the kernel's: unreplied connections, INVALID segments, resets", async () => {
    const r = await replay("skip");
    expect(r.st.error, r.st.error?.message).toBeUndefined();
    expect(r.st.nodeSends).toBe(0);
    expect(r.st.notReplayed[SKIP_OUTGOING]).toBeGreaterThanOrEqual(10);
    expect(conns(r.engine.conntrackList())).not.toEqual(kernelConns);
    expect(r.replies.length).toBeGreaterThan(0); // resets the kernel never sent
    expect(r.replies.every((x) => x === "tcp R" || x === "tcp RA" || x === "icmp 3/3")).toBe(true);
    expect(r.invalid).toBeGreaterThan(0); // the client's segments after its SYN, to a connection never answered
    const c = counterDeltas(COUNTERS, before, after, r.engine.counters());
    expect(c.emulated).not.toEqual(c.kernel);
    expect(c.emulated.TcpOutRsts).toBeGreaterThan(0);
    expect(c.kernel.TcpOutRsts).toBe(0);
  });

  it.skipIf(!TOOLS)("the CLI: --node-sends replay counts the node sends; a bad value is refused", () => {
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, "replay", "--snapshot", snapDir, "--iptables", join(dir, "rules.txt"), "--pcap", CAPTURE, "--no-progress", ...args], { encoding: "utf8" });
    writeFileSync(join(dir, "rules.txt"), kernelSave.replace(/\[\d+:\d+\]/g, "[0:0]"));
    const out = join(dir, "out");
    const ok = run(["--node-sends", "replay", "--out", out]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/packets \(\d+ the node's own sends, replayed as local sends\)/);
    const input = (JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as { input: { node_sends?: number; skipped: Record<string, number>; notes?: Record<string, number> } }).input;
    expect(input.node_sends).toBeGreaterThanOrEqual(12);
    expect(Object.keys(input.skipped).filter((k) => k.startsWith("outgoing"))).toEqual([]);
    expect(Object.keys(input.notes ?? {}).filter((k) => /node/i.test(k))).toEqual([]); // (a key of its own)
    // two workers: the node's sends and the replies to them sharded together, the same results
    const out2 = join(dir, "out2");
    const two = run(["--node-sends", "replay", "--workers", "2", "--out", out2, "--conntrack-dump", join(out2, "ct.txt")]);
    expect(two.status, two.stderr).toBe(0);
    const one = run(["--node-sends", "replay", "--out", join(dir, "out1"), "--conntrack-dump", join(dir, "out1", "ct.txt")]);
    expect(one.status, one.stderr).toBe(0);
    const summary = (d: string) => { const s = JSON.parse(readFileSync(join(d, "summary.json"), "utf8")) as Record<string, unknown>; delete s.timing; return s; };
    expect(summary(out2)).toEqual(summary(join(dir, "out1")));
    expect(readFileSync(join(out2, "ct.txt"), "utf8")).toBe(readFileSync(join(dir, "out1", "ct.txt"), "utf8"));
    const old = run(["--node-sends", "skip"]);
    expect(old.status, old.stderr).toBe(0);
    expect(old.stdout).not.toMatch(/the node's own sends/);
    expect(old.stdout).toMatch(/skipped: .*\d+ outgoing/);
    const bad = run(["--node-sends", "maybe"]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--node-sends.*maybe.*(replay|skip)/s);
  });
});
