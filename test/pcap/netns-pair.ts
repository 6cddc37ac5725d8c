/**
 * Two namespaces for the capture tests that ask the kernel: a peer and a
 * "node" joined by a veth pair (vp 192.0.2.1/24 in the peer, vn
 * 192.0.2.2/24 in the node), rp_filter off, ICMP unrate-limited (the
 * namespaces would inherit the host's settings otherwise), and
 * commands to run in either.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { removeStaleNamespaces } from "../kernel/cleanup.js";
import { SNAPSHOT_SCRIPT } from "../repo.js";

export function sh(args: string[], ok = true): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  if (ok && r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

export interface NetnsPair {
  peer: string;
  node: string;
  /** Runs a command in namespace `ns` (throws on failure unless `ok` is false); its stdout. */
  inNs(ns: string, args: string[], ok?: boolean): string;
  /** The node namespace's SNMP counters as nstat names them (absolute values). */
  nstat(): Record<string, number>;
  /** Namespaces added behind the node (addFarNamespace), deleted with the pair. */
  extra: string[];
  /** Deletes both namespaces and those added behind the node. */
  remove(): void;
}

/**
 * Kernel counter deltas (`after` - `before`) beside the emulator's counters,
 * for the counters `names`: two records to compare with toEqual.
 */
export function counterDeltas(names: string[], before: Record<string, number>, after: Record<string, number>, emu: Record<string, number>): { kernel: Record<string, number>; emulated: Record<string, number> } {
  const kernel: Record<string, number> = {};
  const emulated: Record<string, number> = {};
  for (const c of names) {
    kernel[c] = (after[c] ?? 0) - (before[c] ?? 0);
    emulated[c] = emu[c] ?? 0;
  }
  return { kernel, emulated };
}

/** Creates the pair (`tag` makes the names unique per test file); `txChecksumOffload` false turns veth TX checksum offload off (real checksums on the wire). */
export function createNetnsPair(tag: string, opts: { txChecksumOffload?: boolean } = {}): NetnsPair {
  const peer = `np-${process.pid}-${tag}-peer`;
  const node = `np-${process.pid}-${tag}-node`;
  const inNs = (ns: string, args: string[], ok = true) => sh(["ip", "netns", "exec", ns, ...args], ok);
  removeStaleNamespaces();
  sh(["ip", "netns", "add", peer]);
  sh(["ip", "netns", "add", node]);
  sh(["ip", "link", "add", "vp", "netns", peer, "type", "veth", "peer", "name", "vn", "netns", node]);
  for (const [ns, dev, addr] of [[peer, "vp", "192.0.2.1/24"], [node, "vn", "192.0.2.2/24"]] as const) {
    inNs(ns, ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0", "net.ipv4.icmp_ratemask=0", "net.ipv4.icmp_echo_ignore_all=0"]);
    inNs(ns, ["ip", "link", "set", "lo", "up"]);
    inNs(ns, ["ip", "addr", "add", addr, "dev", dev]);
    inNs(ns, ["ip", "link", "set", dev, "up"]);
    if (opts.txChecksumOffload === false) inNs(ns, ["ethtool", "-K", dev, "tx", "off"], false);
  }
  const extra: string[] = [];
  return {
    peer, node, inNs, extra,
    nstat() {
      const out: Record<string, number> = {};
      for (const line of inNs(node, ["nstat", "-az", "--json"]).split("\n")) {
        if (!line.trim()) continue;
        const j = JSON.parse(line) as { kernel?: Record<string, number> };
        Object.assign(out, j.kernel ?? {});
      }
      return out;
    },
    remove() {
      for (const ns of [peer, node, ...extra]) spawnSync("ip", ["netns", "del", ns]);
    },
  };
}

/**
 * The start of a python3 program for the peer that sends raw Ethernet
 * frames out of vp to `nodeMac` (AF_PACKET: nothing in the peer's stack
 * fixes what it sends): `csum(b)` (the Internet checksum), `dst`/`src`
 * (MACs) and the bound socket `s`; send a frame with
 * `s.send(dst + src + b'\x08\x00' + ip_packet)`.
 */
export function rawSenderPrelude(nodeMac: string): string[] {
  return [
    "import socket, struct, time",
    "def csum(b):",
    "    if len(b) % 2: b += b'\\0'",
    "    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))",
    "    while s >> 16: s = (s & 0xffff) + (s >> 16)",
    "    return ~s & 0xffff",
    `dst = bytes.fromhex('${nodeMac.replace(/:/g, "")}')`,
    "src = bytes.fromhex(open('/sys/class/net/vp/address').read().strip().replace(':', ''))",
    "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('vp', 0))",
  ];
}

/**
 * The end of a rawSenderPrelude program: the Python expressions `frames`
 * (IPv4 packets, built in order) each sent on vp in an Ethernet frame to
 * the node, `gap` seconds apart.
 */
export function sendFramesPy(frames: string[], gap = 0.02): string[] {
  return ["frames = [", ...frames.map((f) => `    ${f},`), "]", "for f in frames:", `    s.send(dst + src + b'\\x08\\x00' + f); time.sleep(${gap})`];
}

/**
 * Starts a capture tool in namespace `ns` (`args`: tcpdump or dumpcap and
 * their options) and resolves once it says it is capturing.
 */
export function startCapture(ns: string, args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", ns, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      // tcpdump: "listening on ..."; dumpcap: "Capturing on ..."
      if (/listening on|Capturing on/.test(err)) resolve(child);
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`${args[0]} exited ${code}: ${err}`)));
  });
}

/** Stops a capture started by startCapture (SIGINT: it writes what it has) and waits for it to exit. */
export function stopCapture(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners("exit");
    child.on("exit", () => resolve());
    child.kill("SIGINT");
  });
}

/**
 * A third namespace behind the node: a veth pair vo (198.51.100.1/24, in the
 * node, rp_filter off) - vx (`farAddr`/24, in the far namespace), forwarding
 * on in the node. Returns the far namespace's name (pair.remove() deletes
 * it). `mtu` sets both ends' MTU; `silent`: the far side drops everything
 * it receives (iptables-legacy INPUT DROP), so it answers nothing the node
 * would forward back.
 */
export function addFarNamespace(pair: NetnsPair, tag: string, farAddr: string, opts: { mtu?: number; silent?: boolean } = {}): string {
  const far = `np-${process.pid}-${tag}-far`;
  sh(["ip", "netns", "add", far]);
  pair.extra.push(far);
  sh(["ip", "link", "add", "vo", "netns", pair.node, "type", "veth", "peer", "name", "vx", "netns", far]);
  if (opts.mtu) pair.inNs(pair.node, ["ip", "link", "set", "vo", "mtu", String(opts.mtu)]);
  pair.inNs(pair.node, ["ip", "addr", "add", "198.51.100.1/24", "dev", "vo"]);
  pair.inNs(pair.node, ["ip", "link", "set", "vo", "up"]);
  pair.inNs(pair.node, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.vo.rp_filter=0"]);
  pair.inNs(far, ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]);
  pair.inNs(far, ["ip", "link", "set", "lo", "up"]);
  if (opts.mtu) pair.inNs(far, ["ip", "link", "set", "vx", "mtu", String(opts.mtu)]);
  pair.inNs(far, ["ip", "addr", "add", `${farAddr}/24`, "dev", "vx"]);
  pair.inNs(far, ["ip", "link", "set", "vx", "up"]);
  if (opts.silent) pair.inNs(far, ["iptables-legacy", "-A", "INPUT", "-j", "DROP"]);
  return far;
}

/** The node namespace's conntrack -S counters, summed over the CPUs. */
export function conntrackStats(pair: NetnsPair): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of pair.inNs(pair.node, ["conntrack", "-S"]).matchAll(/(\w+)=(\d+)/g)) {
    if (m[1] !== "cpu") out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

/**
 * The counter lines of an iptables-save -c dump (chain policies and rules),
 * each prefixed by its table, tables by name: to compare the kernel's
 * counters with Engine.iptablesSave()'s.
 */
export function iptablesCounterLines(save: string): string[] {
  let table = "";
  const out: Record<string, string[]> = {};
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    else if (/^:\S+ (ACCEPT|DROP)/.test(line) || line.startsWith("[")) (out[table] ??= []).push(`${table} ${line}`);
  }
  return Object.keys(out).sort().flatMap((t) => out[t]!);
}

/**
 * Python lines (after rawSenderPrelude) building IPv4 packets: `ip(src,
 * dst, proto, payload, ttl=64)` with the next IP id (from `ident`, which the
 * program sets first) and a right header checksum; `l4sum(src, dst, proto,
 * segment, n=None)`, the transport checksum over the pseudo-header (with
 * length `n` in it when given); `icmp(t, c, rest)`, an ICMP message with
 * its checksum; `echo(seq)`, an echo request (id 0x4242, 56 bytes of data).
 */
export const RAW_IP_HELPERS: string[] = [
  "def ip(s_, d_, proto, payload, ttl=64):",
  "    global ident",
  "    ident += 1",
  "    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, 0, ttl, proto, 0, socket.inet_aton(s_), socket.inet_aton(d_))",
  "    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload",
  "def l4sum(s_, d_, proto, seg, n=None):",
  "    return csum(socket.inet_aton(s_) + socket.inet_aton(d_) + struct.pack('!BBH', 0, proto, len(seg) if n is None else n) + seg)",
  "def icmp(t, c, rest):",
  "    b = struct.pack('!BBH', t, c, 0) + rest",
  "    return b[:2] + struct.pack('!H', csum(b)) + b[4:]",
  "def echo(seq):",
  "    return icmp(8, 0, struct.pack('!HH', 0x4242, seq) + b'p' * 56)",
];

/** The IPv4 packets matching the tcpdump `filter` in a capture, by IP id, as hex (tcpdump -xx, the Ethernet header dropped). */
export function ipPacketsById(file: string, filter: string): Map<number, string> {
  const out = new Map<number, string>();
  const text = sh(["tcpdump", "-r", file, "-nn", "-xx", filter]);
  for (const block of text.split(/\n(?=\S)/)) {
    const hex = [...block.matchAll(/^\s+0x[0-9a-f]+:\s+((?:[0-9a-f]{2,4}\s?)+)/gm)].map((m) => m[1]!.replace(/\s+/g, "")).join("");
    if (hex.length < 68) continue;
    const ip = hex.slice(28);
    out.set(parseInt(ip.slice(8, 12), 16), ip.slice(0, parseInt(ip.slice(4, 8), 16) * 2));
  }
  return out;
}

/** Loads an iptables-save ruleset into the node namespace with iptables-legacy-restore (throws what it says on failure). */
export function legacyRestore(pair: NetnsPair, rules: string): void {
  const r = spawnSync("ip", ["netns", "exec", pair.node, "iptables-legacy-restore"], { input: rules, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`iptables-legacy-restore: ${r.stderr}`);
}

/**
 * The node forwarding from vn to a silent far namespace at `farAddr`
 * (addFarNamespace), with no reverse-path filter on vn and no redirects,
 * `rules` loaded, and the far end's MAC learnt (one ping) before the test's
 * frames. Returns the far namespace's name.
 */
export function forwardToSilentFar(pair: NetnsPair, tag: string, farAddr: string, rules: string): string {
  const far = addFarNamespace(pair, tag, farAddr, { silent: true });
  pair.inNs(pair.node, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.vn.rp_filter=0", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.vn.send_redirects=0"]);
  legacyRestore(pair, rules);
  pair.inNs(pair.node, ["ping", "-c", "1", "-W", "1", farAddr], false);
  return far;
}

/** The snapshot script (run in the node namespace by recordKernelRun). */

/** What recordKernelRun saw of the node namespace. */
export interface KernelRun {
  /** The node's MAC on vn (the frames' destination). */
  nodeMac: string;
  /** nstat counters before and after the frames. */
  before: Record<string, number>;
  after: Record<string, number>;
  /** conntrack -S sums before and after (empty unless asked for). */
  ctBefore: Record<string, number>;
  ctAfter: Record<string, number>;
  /** iptables-legacy-save -c after the frames. */
  kernelSave: string;
}

/**
 * One run of a kernel test: captures on the node's vn into `capture` (and
 * on the far namespace's vx into `far.capture`), counters before, the
 * peer's python program `sender(nodeMac)`, `waitMs` for the kernel to
 * finish, counters and the ruleset after, the captures stopped, and the
 * node's snapshot written to `snapDir`. `conntrack`: read `conntrack -S`
 * around the frames too. `filter`: a capture filter for the node's capture.
 */
export async function recordKernelRun(pair: NetnsPair, opts: { capture: string; filter?: string; far?: { ns: string; capture: string }; sender: (nodeMac: string) => string; waitMs: number; snapDir: string; conntrack?: boolean }): Promise<KernelRun> {
  const nodeMac = pair.inNs(pair.node, ["cat", "/sys/class/net/vn/address"]).trim();
  const cap = await startCapture(pair.node, ["dumpcap", "-q", "-i", "vn", ...(opts.filter ? ["-f", opts.filter] : []), "-w", opts.capture]);
  const farCap = opts.far ? await startCapture(opts.far.ns, ["dumpcap", "-q", "-i", "vx", "-w", opts.far.capture]) : undefined;
  const before = pair.nstat();
  const ctBefore = opts.conntrack ? conntrackStats(pair) : {};
  pair.inNs(pair.peer, ["python3", "-c", opts.sender(nodeMac)]);
  await new Promise((res) => setTimeout(res, opts.waitMs));
  const after = pair.nstat();
  const ctAfter = opts.conntrack ? conntrackStats(pair) : {};
  const kernelSave = pair.inNs(pair.node, ["iptables-legacy-save", "-c"]);
  await stopCapture(cap);
  if (farCap) await stopCapture(farCap);
  pair.inNs(pair.node, ["sh", SNAPSHOT_SCRIPT, opts.snapDir]);
  return { nodeMac, before, after, ctBefore, ctAfter, kernelSave };
}

/** The IP ids of the packets from the peer's subnet in a capture (what reached the far side), sorted. */
export function peerIpIds(capture: string): number[] {
  const seen = sh(["tcpdump", "-r", capture, "-n", "-v", "ip and src net 192.0.2.0/24"]);
  return [...seen.matchAll(/\bid (\d+),/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
}

/**
 * A python3 program run in namespace `nsName` in the background: `ready`
 * resolves once it printed `waitFor` (at once without one) and rejects if
 * it exits first; `done` resolves with its exit status; `out()` is what it
 * printed so far (stdout, then stderr).
 */
export function pythonInBackground(nsName: string, code: string, waitFor?: string): { child: ChildProcess; ready: Promise<void>; done: Promise<number>; out: () => string } {
  const child = spawn("ip", ["netns", "exec", nsName, "python3", "-u", "-c", code], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const ready = new Promise<void>((resolve, reject) => {
    if (!waitFor) resolve();
    child.stdout!.on("data", (d: Buffer) => { out += d.toString(); if (waitFor && out.includes(waitFor)) resolve(); });
    child.on("exit", (c) => reject(new Error(`python exited ${c} before "${waitFor}": ${err}`)));
  });
  child.stderr!.on("data", (d: Buffer) => { err += d.toString(); });
  const done = new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
  return { child, ready, done, out: () => out + err };
}
