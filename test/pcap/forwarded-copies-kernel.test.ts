/**
 * Forwarded copies in a capture, against the kernel. A node namespace
 * forwards between a client outside (192.0.2.1, also the outside server)
 * and three "pods" behind veths, routed as the VPC CNI routes them (a /32
 * scope-link route per pod on the node; in the pod a default route via
 * 169.254.1.1 with a permanent neighbour entry). Its nat table is
 * kube-proxy's for a NodePort (192.0.2.2:30080, externalTrafficPolicy
 * Cluster: KUBE-EXT marks for masquerade, KUBE-SVC picks an endpoint with
 * `-m statistic --mode random`, KUBE-SEP DNATs, KUBE-POSTROUTING
 * `MASQUERADE --random-fully`) and the VPC CNI's AWS-SNAT-CHAIN-0 (`SNAT
 * --to-source 192.0.2.2 --random-fully` for what leaves the VPC CIDR).
 * The client opens 24 short TCP connections to the NodePort (each pod
 * answers with its name); meanwhile each pod opens two TCP connections and
 * sends one UDP request to the outside server. `tcpdump -i any` in the node holds
 * every forwarded packet twice: arriving, and leaving after NAT, so the
 * kernel's random choices (the endpoint, the masqueraded port) are in the
 * capture, and so are the replies to them (arriving on the pods' veths and
 * on the outside link).
 *
 * With --forwarded-copies pair (the default) the replay follows those
 * choices: the emulator's connections (conntrack -L: tuples, endpoints and
 * ports included), the KUBE-SEP DNAT, statistic, SNAT and INVALID rules'
 * counters are the kernel's, and it answers nothing the kernel did not.
 * With --forwarded-copies skip (the old behaviour: its own PRNG draws) the
 * connection table is not the kernel's. A control replays the capture
 * (copies skipped) with the kernel's choices written into the ruleset as
 * per-connection rules: then the replay is the kernel's, so what pair mode
 * has to add is following the choices and nothing else. Two workers must
 * give one worker's summary and connection table (the CLI).
 *
 * NS_KEEP=/path keeps the capture (/path), the node's snapshot
 * (/path.snap), the kernel's facts (/path.json: nstat before and after,
 * conntrack -L, iptables-legacy-save -c, the answers) and the control's
 * ruleset (/path.control-rules.txt).
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { existsSync, writeFileSync, rmSync, readFileSync } from "node:fs";
import { describeKernel } from "../kernel/kernel-gate.js";
import { createNetnsPair, startCapture, stopCapture, legacyRestore, counterDeltas, sh, type NetnsPair, pythonInBackground } from "./netns-pair.js";
import { replayCapture, type CaptureSink, type CaptureReplayOptions } from "../../host/pcap/replay.js";
import { scratchDir, haveCaptureKernelTools, snapshotEngine, forEachIPv4 } from "./helpers.js";
import * as abi from "../../host/core/abi.js";
import type { PacketResult } from "../../host/packet/result.js";
import { CLI, SNAPSHOT_SCRIPT as SNAPSHOT } from "../repo.js";

const { dir, cleanup } = scratchDir();
const KEEP = process.env.NS_KEEP;
const CAPTURE = join(dir, "any.pcap");
const TOOLS = haveCaptureKernelTools();

const CLIENT = "192.0.2.1";
const NODE = "192.0.2.2";
const NODEPORT = 30080;
const CONNECTIONS = 24;
/** The pods: name (what each answers), address, the node's end of its veth, its KUBE-SEP chain. */
const PODS = [
  { name: "pod-a", ip: "10.0.1.5", dev: "eni1a", sep: "KUBE-SEP-MQDN5OCMXJJ4U26K" },
  { name: "pod-b", ip: "10.0.1.6", dev: "eni1b", sep: "KUBE-SEP-7OVDVBXVE5ZPWQRB" },
  { name: "pod-c", ip: "10.0.1.7", dev: "eni1c", sep: "KUBE-SEP-LQ2CUI4N3DVX6RWZ" },
];
const SVC = "KUBE-SVC-CDGGSHYLG3RE2FKL";
const EXT = "KUBE-EXT-CDGGSHYLG3RE2FKL";
const PROBABILITY = ["0.33333333349", "0.50000000000"];

/** kube-proxy's rules (iptables mode) for default/web:http as a NodePort, the VPC CNI's SNAT chain, and counting filter rules. */
const RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:AWS-SNAT-CHAIN-0 - [0:0]
:${EXT} - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
${PODS.map((p) => `:${p.sep} - [0:0]`).join("\n")}
:KUBE-SERVICES - [0:0]
:${SVC} - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0
-A AWS-SNAT-CHAIN-0 -d 10.0.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN
-A AWS-SNAT-CHAIN-0 ! -o vlan+ -m comment --comment "AWS, SNAT" -m addrtype ! --dst-type LOCAL -j SNAT --to-source ${NODE} --random-fully
-A ${EXT} -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ
-A ${EXT} -j ${SVC}
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http" -m tcp --dport ${NODEPORT} -j ${EXT}
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
${PODS.map((p) => `-A ${p.sep} -s ${p.ip}/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A ${p.sep} -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination ${p.ip}:8080`).join("\n")}
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
${PODS.map((p, i) => `-A ${SVC} -m comment --comment "default/web:http -> ${p.ip}:8080" ${i < PODS.length - 1 ? `-m statistic --mode random --probability ${PROBABILITY[i]} ` : ""}-j ${p.sep}`).join("\n")}
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate INVALID
-A FORWARD -m conntrack --ctstate INVALID -j DROP
-A FORWARD -m conntrack --ctstate ESTABLISHED
-A FORWARD -m conntrack --ctstate NEW
COMMIT
`;

const COUNTERS = ["IpInReceives", "IpForwDatagrams", "IpInDelivers", "TcpInSegs", "TcpOutRsts", "UdpNoPorts", "IcmpOutMsgs"];

/** conntrack -L lines of the test's addresses without the timeout, use count and mark=0, sorted. */
function conns(text: string): string[] {
  return text.split("\n").filter((l) => /(src|dst)=(192\.0\.2|10\.0\.1)\./.test(l))
    .map((l) => l.replace(/^(\S+\s+\d+)\s+\d+/, "$1").replace(/\s+use=\d+/, "").replace(/\s+mark=0/, "").replace(/\s+/g, " ").trim()).sort();
}

/** The NodePort connections of a conntrack -L text: client port -> "endpoint masqueraded-port" (the reply tuple's source and destination port). */
function nodePortChoices(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const l of conns(text)) {
    const m = new RegExp(`src=${CLIENT.replace(/\./g, "\\.")} dst=${NODE.replace(/\./g, "\\.")} sport=(\\d+) dport=${NODEPORT} .*?src=(\\S+) dst=\\S+ sport=8080 dport=(\\d+)`).exec(l);
    if (m) out.set(Number(m[1]), `${m[2]} ${m[3]}`);
  }
  return out;
}

/**
 * The packet counters of every rule of an iptables-save -c dump (not the
 * policies), keyed by table, chain and position in the chain ("nat
 * KUBE-SVC-... #2": independent of how a dump spells the matches).
 */
function ruleCounters(save: string): Record<string, number> {
  let table = "";
  const pos: Record<string, number> = {};
  const out: Record<string, number> = {};
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    const m = /^\[(\d+):\d+\] -A (\S+)/.exec(line);
    if (!m) continue;
    const k = `${table} ${m[2]}`;
    pos[k] = (pos[k] ?? 0) + 1;
    out[`${k} #${pos[k]}`] = Number(m[1]);
  }
  return out;
}

/** A rule's counter by its chain and a piece of its text. */
function ruleCount(save: string, chain: string, text: string): number {
  const line = save.split("\n").find((l) => l.includes(` -A ${chain} `) && l.includes(text));
  return Number(/^\[(\d+):\d+\]/.exec(line ?? "")?.[1] ?? -1);
}

/**
 * The control: the kernel's ruleset with its random choices written in as
 * rules, from its connection table (each NodePort connection, by the
 * client's port, jumps to the KUBE-SEP chain of the endpoint the kernel
 * chose and is SNATed to the port MASQUERADE chose; each pod connection
 * SNATed to the port AWS-SNAT-CHAIN-0 chose) instead of the statistic
 * rules and --random-fully: a replay of it needs no pairing.
 */
function choicesAsRules(save: string, ct: string): string {
  const svc: string[] = [], masq: string[] = [], snat: string[] = [];
  const sepOf = (ip: string) => PODS.find((p) => p.ip === ip)!.sep;
  for (const [port, c] of nodePortChoices(ct)) {
    const [ip, masqPort] = c.split(" ");
    svc.push(`-A ${SVC} -p tcp -m tcp --sport ${port} -j ${sepOf(ip!)}`);
    masq.push(`-A KUBE-POSTROUTING -p tcp -m tcp --sport ${port} -j SNAT --to-source ${NODE}:${masqPort}`);
  }
  for (const l of conns(ct)) {
    const m = new RegExp(`^(tcp|udp) .*?src=(10\\.0\\.1\\.\\d+) dst=${CLIENT.replace(/\./g, "\\.")} sport=(\\d+) dport=\\d+ .*?dport=(\\d+)`).exec(l);
    if (m) snat.push(`-A AWS-SNAT-CHAIN-0 -s ${m[2]}/32 -p ${m[1]} -m ${m[1]} --sport ${m[3]} -j SNAT --to-source ${NODE}:${m[4]}`);
  }
  const lines = save.replace(/\[\d+:\d+\]/g, "[0:0]").split("\n").filter((l) => !l.includes(`-A ${SVC} `) && !l.includes("--random-fully"));
  const nat = lines.indexOf("*nat");
  lines.splice(lines.findIndex((l, i) => i > nat && l.startsWith("COMMIT")), 0, ...svc, ...masq, ...snat);
  return lines.join("\n");
}


/** Runs a python3 program in namespace `nsName`; resolves with its stdout when it exits 0. */
function pythonIn(nsName: string, code: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", nsName, "python3", "-c", code], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout!.on("data", (d: Buffer) => { out += d.toString(); });
    child.stderr!.on("data", (d: Buffer) => { err += d.toString(); });
    child.on("exit", (c) => (c === 0 ? resolve(out) : reject(new Error(`python in ${nsName} exited ${c}: ${err}`))));
  });
}

/**
 * A pod behind the node as the VPC CNI wires one: a veth pair (`dev` in
 * the node, eth0 in the pod), the pod's address as a /32 on eth0, its
 * default route via 169.254.1.1 (a permanent neighbour entry: the node's
 * end's MAC), the node's route `ip route add <ip> dev <dev> scope link`.
 * Returns the pod namespace's name (deleted with the pair).
 */
function addPod(pair: NetnsPair, pod: { name: string; ip: string; dev: string }): string {
  const nsName = `np-${process.pid}-fwdcp-${pod.name}`;
  sh(["ip", "netns", "add", nsName]);
  pair.extra.push(nsName);
  sh(["ip", "link", "add", pod.dev, "netns", pair.node, "type", "veth", "peer", "name", "eth0", "netns", nsName]);
  pair.inNs(nsName, ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0", "net.ipv4.icmp_ratemask=0"]);
  pair.inNs(nsName, ["ip", "link", "set", "lo", "up"]);
  pair.inNs(nsName, ["ip", "addr", "add", `${pod.ip}/32`, "dev", "eth0"]);
  pair.inNs(nsName, ["ip", "link", "set", "eth0", "up"]);
  pair.inNs(nsName, ["ethtool", "-K", "eth0", "tx", "off"], false);
  pair.inNs(pair.node, ["ip", "link", "set", pod.dev, "up"]);
  pair.inNs(pair.node, ["ethtool", "-K", pod.dev, "tx", "off"], false);
  pair.inNs(pair.node, ["sysctl", "-qw", `net.ipv4.conf.${pod.dev}.rp_filter=0`]);
  const mac = pair.inNs(pair.node, ["cat", `/sys/class/net/${pod.dev}/address`]).trim();
  pair.inNs(nsName, ["ip", "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link"]);
  pair.inNs(nsName, ["ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0"]);
  pair.inNs(nsName, ["ip", "neigh", "add", "169.254.1.1", "dev", "eth0", "lladdr", mac, "nud", "permanent"]);
  pair.inNs(pair.node, ["ip", "route", "add", pod.ip, "dev", pod.dev, "scope", "link"]);
  return nsName;
}

let ns: NetnsPair | undefined;
let podNs: string[] = [];
let snapDir = "";
let before: Record<string, number> = {};
let after: Record<string, number> = {};
let kernelCt = "";
let kernelSave = "";
/** Which pod answered each client connection, by the client's port. */
let answers: Record<string, string> = {};
/** The node's interfaces by ifindex. */
let ifnames: Record<number, string> = {};
/** Scenario runs until the capture held every frame. */
let attempts = 0;

describeKernel("forwarded copies in a capture (tcpdump -i any): kube-proxy's endpoint and --random-fully ports, against the kernel", () => {
  beforeAll(async () => {
    if (!TOOLS) return;
    // tcpdump now and then loses a frame (seen in node-sends-kernel: one pure ACK of a dozen); the
    // comparison needs them all: the scenario runs again (new namespaces) until the capture holds every
    // frame the node received and every one it forwarded
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) ns?.remove();
      attempts = attempt + 1;
      await scenario();
      let arrived = 0, outgoing = 0;
      forEachIPv4(CAPTURE, (_w, _r, link) => { if (link.pktType === 4) outgoing++; else arrived++; });
      if (arrived === (after.IpInReceives ?? 0) - (before.IpInReceives ?? 0) && outgoing === (after.IpForwDatagrams ?? 0) - (before.IpForwDatagrams ?? 0)) return;
    }
    throw new Error("tcpdump lost frames in every attempt");
  }, 90000);

  async function scenario(): Promise<void> {
    ns = createNetnsPair("fwdcp", { txChecksumOffload: false });
    const node = ns.node;
    ns.inNs(node, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.vn.rp_filter=0", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0"]);
    podNs = PODS.map((p) => addPod(ns!, p));
    legacyRestore(ns, RULES);
    // (the conntrack sysctls exist once the rules loaded nf_conntrack in the namespace)
    ns.inNs(node, ["sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=1", "net.netfilter.nf_conntrack_checksum=1"]);
    ifnames = {};
    for (const m of ns.inNs(node, ["ip", "-o", "link"]).matchAll(/^(\d+): ([^:@]+)/gm)) ifnames[Number(m[1])] = m[2]!;

    // each pod's server on 8080: reads the request, answers its name, closes after the client
    const servers = PODS.map((p, i) => pythonInBackground(podNs[i]!, [
      "import socket, threading",
      "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('0.0.0.0', 8080)); l.listen(64)",
      "def serve(c):",
      `    c.recv(100); c.send(b'${p.name}')`,
      "    while c.recv(100): pass",
      "    c.close()",
      "print('listening', flush=True)",
      "while True:",
      "    c, _a = l.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()",
    ].join("\n"), "listening"));
    // the outside server (in the client's namespace): TCP 9090 answers "pong", UDP 9091 answers each datagram
    servers.push(pythonInBackground(ns.peer, [
      "import socket, threading",
      `l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('${CLIENT}', 9090)); l.listen(64)`,
      `u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('${CLIENT}', 9091))`,
      "def serve(c):",
      "    c.recv(100); c.send(b'pong')",
      "    while c.recv(100): pass",
      "    c.close()",
      "def udp():",
      "    while True:",
      "        d, a = u.recvfrom(100); u.sendto(b'answer', a)",
      "threading.Thread(target=udp, daemon=True).start()",
      "print('listening', flush=True)",
      "while True:",
      "    c, _a = l.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()",
    ].join("\n"), "listening"));
    let cap: ChildProcess | undefined;
    try {
      await Promise.all(servers.map((s) => s.ready));
      snapDir = join(dir, "snap");
      rmSync(snapDir, { recursive: true, force: true });
      ns.inNs(node, ["sh", SNAPSHOT, snapDir]);
      // a clean table and counters (the neighbours are learnt during the capture: ARP, which the replay skips)
      ns.inNs(node, ["conntrack", "-F"], false);
      ns.inNs(node, ["iptables-legacy", "-Z"]);
      ns.inNs(node, ["iptables-legacy", "-t", "nat", "-Z"]);
      // (-s 2048 -B 8192: in immediate mode libpcap's ring has a slot of the snaplen per frame, so the default
      // 262144 bytes in the default 2 MB gave 8 slots, and bursts of this traffic lost frames, both copies at once)
      cap = await startCapture(node, ["tcpdump", "-i", "any", "-n", "-s", "2048", "-B", "8192", "-U", "--immediate-mode", "--time-stamp-precision=nano", "-w", CAPTURE]);
      before = ns.nstat();
      // at once: the client, CONNECTIONS connections to the NodePort from ports 41000.. (4 threads; each a request,
      // the answer, FINs), and each pod, two TCP connections to the outside server and one UDP request, SNATed to
      // the node's address: the copies of different connections interleave in the capture
      const client = pythonIn(ns.peer, [
        "import socket, json, threading",
        "out = {}",
        "def conn(i):",
        "    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
        `    t.bind(('${CLIENT}', 41000 + i)); t.settimeout(3); t.connect(('${NODE}', ${NODEPORT})); t.send(b'hello')`,
        "    a = b''",
        "    while len(a) < 5: a += t.recv(100)",
        "    t.shutdown(socket.SHUT_WR)",
        "    while t.recv(100): pass",
        "    t.close(); out[41000 + i] = a.decode()",
        "def run(k):",
        `    for i in range(k, ${CONNECTIONS}, 4): conn(i)`,
        "ts = [threading.Thread(target=run, args=(k,)) for k in range(4)]",
        "for t in ts: t.start()",
        "for t in ts: t.join()",
        "print(json.dumps(out))",
      ].join("\n"));
      const pods = podNs.map((pn) => pythonIn(pn, [
        "import socket",
        "for i in range(2):",
        `    t = socket.socket(); t.settimeout(3); t.connect(('${CLIENT}', 9090)); t.send(b'ping')`,
        "    a = b''",
        "    while len(a) < 4: a += t.recv(100)",
        "    t.shutdown(socket.SHUT_WR)",
        "    while t.recv(100): pass",
        "    t.close()",
        `u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3); u.sendto(b'query', ('${CLIENT}', 9091)); u.recv(100)`,
      ].join("\n")));
      answers = JSON.parse(await client) as Record<string, string>;
      await Promise.all(pods);
      await new Promise((r) => setTimeout(r, 300));
      after = ns.nstat();
      kernelCt = ns.inNs(node, ["conntrack", "-L"], false);
      kernelSave = ns.inNs(node, ["iptables-legacy-save", "-c"]);
      await stopCapture(cap);
      cap = undefined;
    } finally {
      // (on a failure too: tcpdump and the servers outlive their namespace)
      if (cap) await stopCapture(cap);
      for (const s of servers) s.child.kill();
    }
    if (KEEP) {
      spawnSync("cp", [CAPTURE, KEEP]);
      spawnSync("rm", ["-rf", `${KEEP}.snap`]);
      spawnSync("cp", ["-r", snapDir, `${KEEP}.snap`]);
      writeFileSync(`${KEEP}.json`, JSON.stringify({ attempts, before, after, answers, ifnames, kernelCt, kernelSave }, null, 1));
      writeFileSync(`${KEEP}.control-rules.txt`, choicesAsRules(kernelSave, kernelCt));
    }
  }

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  /** What the capture holds, by the node's interface and direction. */
  function captureFacts() {
    const frames: Record<string, number> = {};
    const kernelAnswers: string[] = [];
    forEachIPv4(CAPTURE, (w, _r, link) => {
      const k = `${ifnames[link.ifindex] ?? link.ifindex} ${link.pktType === 4 ? "out" : "in"}`;
      frames[k] = (frames[k] ?? 0) + 1;
      if ((w.proto === 6 && (w.tcpFlags & 4) !== 0) || w.proto === 1) kernelAnswers.push(`${k} ${w.proto} ${w.tcpFlags}`);
    });
    return { frames, kernelAnswers };
  }

  async function replay(forwardedCopies: "pair" | "skip", rules = kernelSave.replace(/\[\d+:\d+\]/g, "[0:0]")) {
    const engine = await snapshotEngine(snapDir);
    engine.loadRuleset(rules, "iptables-legacy-save");
    const results: PacketResult[] = [];
    let paired = 0;
    const sink: CaptureSink = {
      packet: (k, i) => {
        // the forwarded copy the decoder paired with this packet (PKT_SEEN_DST != 0), if any
        if (engine.mem.dv.getUint32(engine.batchBuffer.ptr + k * abi.PKT_SIZE + abi.PKT_SEEN_DST, true) !== 0) paired++;
        results.push(engine.decodeRaw(k, i));
      },
    };
    // (forwardedCopies: the option the decoders' pairing adds to CaptureReplayOptions)
    const opts: CaptureReplayOptions & { forwardedCopies?: "pair" | "skip" } = { forwardedCopies };
    const st = await replayCapture(engine, CAPTURE, sink, opts);
    const replies = results.flatMap((r) => r.replies.map((q) => (q.kind === "tcp" ? `tcp ${q.flags}` : `icmp ${q.icmp_type}/${q.icmp_code}`)));
    return { engine, st, results, replies, paired, save: engine.iptablesSave(), ct: engine.conntrackList() };
  }

  /**
   * The CLI on the capture with `rules` (a file in the scratch directory) and `args`: one worker with --out
   * (the decoder of host/pcap), two workers with --out, and one worker without --out (the core's capture
   * decoder, assembly/capture). Returns each run's summary (without timing) and connection table.
   */
  function cliRuns(name: string, rules: string, args: string[]) {
    const file = join(dir, `${name}-rules.txt`);
    writeFileSync(file, rules);
    const run = (a: string[]) => spawnSync(process.execPath, [CLI, "replay", "--snapshot", snapDir, "--iptables", file, "--pcap", CAPTURE, "--no-progress", ...args, ...a], { encoding: "utf8" });
    const out = (d: string) => {
      const s = JSON.parse(readFileSync(join(d, "summary.json"), "utf8")) as Record<string, unknown>;
      delete s.timing;
      return s;
    };
    const runs: Record<string, string[]> = { one: ["--out", join(dir, `${name}-one`)], two: ["--workers", "2", "--out", join(dir, `${name}-two`)], fast: ["--decode-thread", "off"] };
    const res: Record<string, { summary?: Record<string, unknown>; ct: string }> = {};
    for (const [k, a] of Object.entries(runs)) {
      // (in the --out directory: the summary names its outputs relative to it)
      const ct = a.includes("--out") ? join(a[a.indexOf("--out") + 1]!, "ct.txt") : join(dir, `${name}-${k}.ct`);
      const r = run([...a, "--conntrack-dump", ct]);
      expect(r.status, `${k}: ${r.stderr}`).toBe(0);
      res[k] = { summary: a.includes("--out") ? out(a[a.indexOf("--out") + 1]!) : undefined, ct: readFileSync(ct, "utf8") };
    }
    return { one: res.one!, two: res.two!, fast: res.fast!, run };
  }

  it.skipIf(!TOOLS)("the kernel: every connection answered, by more than one pod; the capture holds both copies of what it forwarded", () => {
    expect(existsSync(CAPTURE)).toBe(true);
    // every client connection answered by a pod, and not always the same one
    expect(Object.keys(answers).length).toBe(CONNECTIONS);
    expect(Object.values(answers).every((a) => PODS.some((p) => p.name === a))).toBe(true);
    expect(new Set(Object.values(answers)).size).toBeGreaterThan(1);
    // the kernel's connection table says the same: the endpoint of each NodePort connection is the pod that answered
    const choices = nodePortChoices(kernelCt);
    expect(choices.size).toBe(CONNECTIONS);
    for (const [port, c] of choices) expect(c.split(" ")[0]).toBe(PODS.find((p) => p.name === answers[String(port)])!.ip);
    // MASQUERADE --random-fully: the masqueraded ports are not the client's
    expect([...choices].filter(([port, c]) => Number(c.split(" ")[1]) === port).length).toBeLessThan(3);
    const all = conns(kernelCt);
    expect(all.length).toBe(CONNECTIONS + PODS.length * 3);
    expect(all.filter((l) => l.startsWith("tcp ")).every((l) => l.includes("TIME_WAIT") && l.includes("[ASSURED]"))).toBe(true);
    // the pods' connections out: SNAT --random-fully to the node's address
    expect(all.filter((l) => new RegExp(`src=10\\.0\\.1\\.\\d+ dst=${CLIENT} .* src=${CLIENT} dst=${NODE} `).test(l)).length).toBe(PODS.length * 3);
    // the capture: arriving and leaving frames on the outside link and on every pod's veth; nothing the node answered itself
    const f = captureFacts();
    expect(f.kernelAnswers).toEqual([]);
    for (const k of ["vn in", "vn out", ...PODS.flatMap((p) => [`${p.dev} in`, `${p.dev} out`])]) expect(f.frames[k], k).toBeGreaterThan(0);
    const inFrames = Object.entries(f.frames).filter(([k]) => k.endsWith(" in")).reduce((s, [, n]) => s + n, 0);
    const outFrames = Object.entries(f.frames).filter(([k]) => k.endsWith(" out")).reduce((s, [, n]) => s + n, 0);
    expect(inFrames).toBe(after.IpInReceives! - before.IpInReceives!);
    expect(outFrames).toBe(inFrames); // every frame forwarded: none dropped, none delivered
    expect(after.IpInDelivers! - before.IpInDelivers!).toBe(0);
    // the rules: one DNAT per connection, spread as the answers were; no INVALID
    for (const p of PODS) expect(ruleCount(kernelSave, p.sep, "DNAT")).toBe(Object.values(answers).filter((a) => a === p.name).length);
    expect(ruleCount(kernelSave, "FORWARD", "INVALID")).toBe(0);
    expect(ruleCount(kernelSave, "KUBE-POSTROUTING", "MASQUERADE")).toBe(CONNECTIONS);
    expect(ruleCount(kernelSave, "AWS-SNAT-CHAIN-0", "--to-source")).toBe(PODS.length * 3);
  });

  it.skipIf(!TOOLS)("control: with the kernel's choices written into the ruleset, the replay (copies skipped) is the kernel's: all pairing must add is following them", async () => {
    const rules = choicesAsRules(kernelSave, kernelCt);
    expect(rules).not.toMatch(/statistic|random-fully/);
    const r = await replay("skip", rules);
    expect(r.st.error, r.st.error?.message).toBeUndefined();
    expect(nodePortChoices(r.ct)).toEqual(nodePortChoices(kernelCt));
    expect(conns(r.ct)).toEqual(conns(kernelCt));
    expect(r.replies).toEqual([]);
    const c = counterDeltas(COUNTERS, before, after, r.engine.counters());
    expect(c.emulated).toEqual(c.kernel);
    // the filter table's counters (the same rules as the kernel's): INVALID, ESTABLISHED, NEW
    const filter = (save: string) => Object.fromEntries(Object.entries(ruleCounters(save)).filter(([k]) => k.startsWith("filter ")));
    expect(filter(r.save)).toEqual(filter(kernelSave));
  });

  it.skipIf(!TOOLS)("control, CLI: with the choices as rules, two workers and the core's decoder give one worker's summary and connections, the kernel's", () => {
    // the rules as iptables-save -c prints them ("[0:0] -A ..."), as a snapshot's iptables-save.txt has them. The
    // dispatcher's NAT topology (host/replay/shard.ts: natTopology, dnatPaths) has to read that form too: when this
    // test was written it read only lines starting with "-A ", knew no DNAT target, and sent a NodePort
    // connection's replies by their own hash, about half of them to the other worker, where they opened
    // connections of their own (without the counters: 12 barriers, the same table as one worker)
    const rules = choicesAsRules(kernelSave, kernelCt);
    expect(rules).toMatch(/^\[0:0\] -A KUBE-SEP-\S+ .*-j DNAT/m);
    const r = cliRuns("control", rules, []);
    expect(conns(r.one.ct)).toEqual(conns(kernelCt));
    expect(r.fast.ct).toBe(r.one.ct);
    expect(r.two.summary).toEqual(r.one.summary);
    expect(r.two.ct).toBe(r.one.ct);
  });

  it.skipIf(!TOOLS)("--forwarded-copies pair (the default): the kernel's endpoints, ports, connections, rule counters and answers (none)", async () => {
    const r = await replay("pair");
    expect(r.st.error, r.st.error?.message).toBeUndefined();
    expect(r.st.interfaces[0]!.linkType).toBe(276);
    // the decoder paired each forwarded copy with its original (the feature this test waits for)
    const f = captureFacts();
    const outFrames = Object.entries(f.frames).filter(([k]) => k.endsWith(" out")).reduce((s, [, n]) => s + n, 0);
    expect(r.paired, "packets with the forwarded copy paired (PKT_SEEN_DST)").toBe(outFrames);
    // the kernel's choices followed: each NodePort connection's endpoint and masqueraded port, then every connection
    expect(nodePortChoices(r.ct)).toEqual(nodePortChoices(kernelCt));
    expect(conns(r.ct)).toEqual(conns(kernelCt));
    // the rules' counters: KUBE-SEP DNAT, KUBE-SVC statistic, MASQUERADE/SNAT, INVALID/ESTABLISHED/NEW
    for (const p of PODS) expect(ruleCount(r.save, p.sep, "DNAT"), p.sep).toBe(ruleCount(kernelSave, p.sep, "DNAT"));
    expect(ruleCount(r.save, "FORWARD", "INVALID")).toBe(ruleCount(kernelSave, "FORWARD", "INVALID"));
    expect(ruleCounters(r.save)).toEqual(ruleCounters(kernelSave));
    // nothing answered that the kernel did not answer (it answered nothing)
    expect(r.replies).toEqual([]);
    const c = counterDeltas(COUNTERS, before, after, r.engine.counters());
    expect(c.emulated).toEqual(c.kernel);
  });

  it.skipIf(!TOOLS)("--forwarded-copies skip (the old behaviour: its own draws) is not the kernel's: other endpoints and ports", async () => {
    const r = await replay("skip");
    expect(r.st.error, r.st.error?.message).toBeUndefined();
    expect(r.paired).toBe(0);
    const kernelChoices = nodePortChoices(kernelCt);
    const own = nodePortChoices(r.ct);
    // the engine's own endpoints and ports: some connection (in practice every one, by its port) differs
    const differ = [...kernelChoices].filter(([port, c]) => own.get(port) !== c);
    expect(differ.length).toBeGreaterThan(0);
    expect(conns(r.ct)).not.toEqual(conns(kernelCt));
    const dnat = PODS.map((p) => ruleCount(r.save, p.sep, "DNAT"));
    expect(dnat.reduce((a, b) => a + b, 0)).toBe(CONNECTIONS); // (each SYN DNATed to some endpoint: the counts differ or not)
    expect(ruleCounters(r.save)).not.toEqual(ruleCounters(kernelSave));
    // the replies to the kernel's ports find no connection: the pods' SYN-ACKs and the server's answers reach
    // the node's own stack (INVALID in INPUT: a SYN-ACK starts no connection), which resets them, and the UDP
    // answers get port unreachables; the openers' next segments, on connections never answered, are INVALID
    // in FORWARD (dropped)
    expect(r.replies.length).toBeGreaterThan(0);
    expect(r.replies.every((x) => x === "tcp R" || x === "tcp RA" || x === "icmp 3/3")).toBe(true);
    expect(ruleCount(r.save, "FORWARD", "INVALID")).toBeGreaterThan(0);
    const c = counterDeltas(COUNTERS, before, after, r.engine.counters());
    expect(c.emulated.TcpOutRsts).toBeGreaterThan(0);
    expect(c.kernel.TcpOutRsts).toBe(0);
  });

  it.skipIf(!TOOLS)("the CLI: --forwarded-copies pair: the kernel's connections, with one worker, two, and the core's decoder; skip is not; a bad value is refused", () => {
    const rules = kernelSave.replace(/\[\d+:\d+\]/g, "[0:0]");
    const r = cliRuns("pair", rules, ["--forwarded-copies", "pair"]);
    expect(conns(r.one.ct)).toEqual(conns(kernelCt));
    expect(r.fast.ct).toBe(r.one.ct);
    expect(r.two.summary).toEqual(r.one.summary);
    expect(r.two.ct).toBe(r.one.ct);
    // the old behaviour: its own choices, not the kernel's
    const ct = join(dir, "skip.ct");
    const skip = r.run(["--forwarded-copies", "skip", "--conntrack-dump", ct]);
    expect(skip.status, skip.stderr).toBe(0);
    expect(conns(readFileSync(ct, "utf8"))).not.toEqual(conns(kernelCt));
    const bad = r.run(["--forwarded-copies", "maybe"]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--forwarded-copies.*maybe.*(pair|skip)/s);
  });
});
