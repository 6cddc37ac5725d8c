/**
 * Kernel-differential harness: builds a "node" network namespace that mirrors
 * an emulated node, plus a "world" namespace holding the other end of every
 * node link (veth pairs), and asks the real kernel the questions the emulator
 * answers (route lookups, packet fates, counters).
 *
 * Traffic only ever flows between these two namespaces.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { removeStaleNamespaces, waitForExclusiveHolders } from "./cleanup.js";
import { buildFrame, defaultLen, parseFrame, protoNum, ICMP_ERROR_TYPES, type InjectPacket, type Seen } from "./frames.js";
import { SNAPSHOT_SCRIPT } from "../repo.js";

export type { InjectPacket, Seen } from "./frames.js";

const AGENT = fileURLToPath(new URL("./agent.py", import.meta.url));
const WORLD_MTU = 65535;
/** IPv4 per-device settings pinned to their kernel defaults in a new node ns: [name, conf/all, conf/default]. */
const PINNED_DEVCONF: Array<[string, number, number]> = [
  ["forwarding", 0, 0], ["rp_filter", 0, 0], ["accept_local", 0, 0], ["src_valid_mark", 0, 0],
  ["route_localnet", 0, 0], ["send_redirects", 1, 1], ["shared_media", 1, 1], ["ignore_routes_with_linkdown", 0, 0],
  ["bc_forwarding", 0, 0], ["accept_redirects", 1, 1], ["secure_redirects", 1, 1], ["accept_source_route", 0, 1],
  ["arp_filter", 0, 0], ["proxy_arp", 0, 0], ["log_martians", 0, 0], ["disable_policy", 0, 0], ["disable_xfrm", 0, 0],
];
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

// ---------------------------------------------------------------------------
// process helpers

export interface RunResult { stdout: string; stderr: string; code: number }

/** Runs a command without a shell; never throws for a non-zero exit (check `code`). */
export function run(cmd: string, args: string[], opts: { input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    // the child may exit before reading all its input (e.g. `ip -batch` on a fatal error)
    child.stdin.on("error", () => {});
    child.on("close", (code, signal) => {
      resolve({
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        code: code ?? (signal ? 128 : 1),
      });
    });
    child.stdin.end(opts.input ?? "");
  });
}

async function runOk(cmd: string, args: string[], input?: string): Promise<RunResult> {
  const r = await run(cmd, args, { input });
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r;
}

// ---------------------------------------------------------------------------
// skip reason

let skipReason: { v: string | undefined } | undefined;

/** undefined if kernel tests can run here; otherwise a short human reason. Cached. */
export function kernelSkipReason(): string | undefined {
  if (skipReason) return skipReason.v;
  skipReason = { v: computeSkipReason() };
  return skipReason.v;
}

function computeSkipReason(): string | undefined {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return "not root";
  const ok = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    return !r.error && r.status === 0;
  };
  if (!ok("ip", ["-V"])) return "iproute2 missing (ip)";
  if (!ok("nstat", ["-V"])) return "iproute2 missing (nstat)";
  if (!ok(PYTHON, ["--version"])) return "python3 missing";
  const probe = `np-${process.pid}-probe`;
  const add = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (add.error || add.status !== 0) {
    return `cannot create network namespaces (ip netns add: ${(add.stderr ?? "").trim() || add.error?.message})`;
  }
  spawnSync("ip", ["netns", "del", probe]);
  return undefined;
}

// ---------------------------------------------------------------------------
// namespace bookkeeping (cleanup on exit)

const liveNamespaces = new Set<string>();
const liveAgents = new Set<ChildProcess>();
let exitHookInstalled = false;
let staleRemoved = false;
let nsCounter = 0;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const a of liveAgents) {
      try { a.kill("SIGKILL"); } catch { /* gone */ }
    }
    for (const ns of liveNamespaces) spawnSync("ip", ["netns", "del", ns]);
    liveNamespaces.clear();
  });
}

// ---------------------------------------------------------------------------
// agent (test/kernel/agent.py) client

class Agent {
  private readonly child: ChildProcess;
  private readonly waiting: Array<{ resolve: (v: any) => void; reject: (e: Error) => void }> = [];
  private stderr = "";
  private exited: Error | undefined;
  readonly ready: Promise<any>;

  constructor(ns: string, capture: boolean) {
    const args = ["netns", "exec", ns, PYTHON, "-u", AGENT];
    if (capture) args.push("--capture");
    this.child = spawn("ip", args, { stdio: ["pipe", "pipe", "pipe"] });
    liveAgents.add(this.child);
    this.child.stdin!.on("error", () => {});
    this.child.stderr!.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString("utf8")).slice(-4000);
    });
    const rl = createInterface({ input: this.child.stdout! });
    rl.on("line", (line) => {
      const w = this.waiting.shift();
      if (!w) return;
      let msg: any;
      try {
        msg = JSON.parse(line);
      } catch {
        w.reject(new Error(`agent sent a non-JSON line: ${line}`));
        return;
      }
      if (msg.ok === false) w.reject(new Error(`agent in ${ns}: ${msg.error}`));
      else w.resolve(msg);
    });
    const fail = (e: Error) => {
      this.exited = e;
      liveAgents.delete(this.child);
      for (const w of this.waiting.splice(0)) w.reject(e);
    };
    this.child.on("error", (e) => fail(e));
    this.child.on("close", (code, signal) => {
      fail(new Error(`agent in ${ns} exited (code ${code}, signal ${signal}): ${this.stderr.trim()}`));
    });
    // the first line the agent prints is {"ok":true,"ready":true,...}
    this.ready = new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  request(req: object): Promise<any> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin!.write(JSON.stringify(req) + "\n");
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once("close", () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 2000);
    await done;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// public API

export interface KernelLinkSpec {
  name: string;
  mtu?: number;
  /** Default true. */
  up?: boolean;
  /** Default true: the world-side peer is up. */
  carrier?: boolean;
}

export interface KernelNodeSpec {
  /** Node-side interface names, e.g. eth0, eth1, eni1f3a2b4c5d6 (max 15 chars). */
  links: KernelLinkSpec[];
  /**
   * Run in the node ns in order after the links exist and are up, e.g.
   * "ip addr add 10.0.0.10/24 dev eth0", "sysctl -w net.ipv4.ip_forward=1".
   * Split on whitespace and executed without a shell.
   */
  commands: string[];
}

export interface Observation {
  id: number;
  /** Monotonic send time (CLOCK_MONOTONIC ns). */
  sentNs?: number;
  /** Local packets: errno name if bind/send failed (or the send of an injected frame failed). */
  error?: string;
  /** Local packets: the address/port the socket ended up with (getsockname after sending). */
  bound?: { src: string; sport?: number };
  /** Frames attributable to this packet, in capture order. */
  out: Seen[];
}

export interface InjectResult { observations: Observation[]; unmatched: Seen[] }

export interface InjectOptions {
  /** Wait until no frame arrived for this long (default 150). */
  quietMs?: number;
  /** ...but at most this long (default 3000). */
  maxWaitMs?: number;
  /** Gap between consecutive packets in microseconds (default 200). */
  gapUs?: number;
}

export type RouteGetResult = { ok: true; out: string } | { ok: false; err: string };

function hex2(i: number): string {
  return i.toString(16).padStart(2, "0");
}

function splitCommand(cmd: string): string[] {
  return cmd.trim().split(/\s+/).filter((s) => s !== "");
}

export class KernelNode {
  readonly nodeNs: string;
  readonly worldNs: string;
  readonly spec: KernelNodeSpec;
  private world: Agent | undefined;
  private local: Agent | undefined;
  private destroyed = false;
  private injectQueue: Promise<unknown> = Promise.resolve();

  private constructor(spec: KernelNodeSpec, nodeNs: string, worldNs: string) {
    this.spec = spec;
    this.nodeNs = nodeNs;
    this.worldNs = worldNs;
  }

  /** Node-side MAC of link i: 02:00:00:00:<i>:01. */
  static nodeMac(i: number): string { return `02:00:00:00:${hex2(i)}:01`; }
  /** World-side MAC of link i: 02:00:00:00:<i>:02. */
  static worldMac(i: number): string { return `02:00:00:00:${hex2(i)}:02`; }
  /** World-side interface name of link i. */
  static worldName(i: number): string { return `w${i}`; }

  static async create(spec: KernelNodeSpec): Promise<KernelNode> {
    const reason = kernelSkipReason();
    if (reason !== undefined) throw new Error(`kernel tests cannot run here: ${reason}`);
    if (!staleRemoved) {
      staleRemoved = true;
      removeStaleNamespaces();
    }
    const names = new Set<string>();
    if (spec.links.length > 256) throw new Error("at most 256 links");
    for (const l of spec.links) {
      if (!/^[A-Za-z0-9_.-]{1,15}$/.test(l.name) || l.name === "lo") throw new Error(`bad link name ${JSON.stringify(l.name)}`);
      if (names.has(l.name)) throw new Error(`duplicate link name ${l.name}`);
      names.add(l.name);
    }
    installExitHook();
    // a process starting its first harness waits while another changes host-wide conntrack settings
    if (liveNamespaces.size === 0) await waitForExclusiveHolders();
    const base = `np-${process.pid}-${++nsCounter}`;
    const node = new KernelNode(spec, `${base}-n`, `${base}-w`);
    try {
      await node.setup();
    } catch (e) {
      await node.destroy().catch(() => {});
      throw e;
    }
    return node;
  }

  private async setup(): Promise<void> {
    const { nodeNs, worldNs, spec } = this;
    liveNamespaces.add(nodeNs);
    liveNamespaces.add(worldNs);
    await runOk("ip", ["-batch", "-"], `netns add ${nodeNs}\nnetns add ${worldNs}\n`);
    const noV6 = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"];
    // A new netns copies conf/all and conf/default of the host's IPv4 settings
    // (net.core.devconf_inherit_init_net=0): pin them to the kernel defaults so
    // the node does not depend on the host (they are set before the links exist,
    // so the links start from these values too).
    const pinned = PINNED_DEVCONF.flatMap(([k, all, dflt]) => [`net.ipv4.conf.all.${k}=${all}`, `net.ipv4.conf.default.${k}=${dflt}`]);
    await Promise.all([
      runOk("ip", ["netns", "exec", nodeNs, "sysctl", "-q", "-w", ...noV6, ...pinned, "net.ipv4.icmp_ratemask=0"]),
      runOk("ip", ["netns", "exec", worldNs, "sysctl", "-q", "-w", ...noV6]),
    ]);
    const nodeCmds: string[] = [];
    const worldCmds: string[] = [];
    spec.links.forEach((l, i) => {
      // The world side gets the largest MTU so that it captures whatever the node sends,
      // even after a test raised the node link's MTU.
      const mtu = l.mtu !== undefined ? ` mtu ${l.mtu}` : "";
      nodeCmds.push(
        `link add name ${l.name} address ${KernelNode.nodeMac(i)}${mtu} type veth peer name ${KernelNode.worldName(i)} ` +
          `address ${KernelNode.worldMac(i)} mtu ${WORLD_MTU} netns ${worldNs}`,
      );
    });
    nodeCmds.push("link set lo up");
    spec.links.forEach((l, i) => {
      nodeCmds.push(`link set ${l.name} arp off${l.up === false ? "" : " up"}`);
      if (l.carrier !== false) worldCmds.push(`link set ${KernelNode.worldName(i)} up`);
    });
    await runOk("ip", ["-n", nodeNs, "-batch", "-"], nodeCmds.join("\n") + "\n");
    if (worldCmds.length) await runOk("ip", ["-n", worldNs, "-batch", "-"], worldCmds.join("\n") + "\n");
    await this.runCommands(spec.commands);
    this.world = new Agent(worldNs, true);
    await this.world.ready;
  }

  /** Runs setup commands in the node ns; consecutive plain `ip` commands go through one `ip -batch -`. */
  async runCommands(commands: string[]): Promise<void> {
    let batch: string[] = [];
    const flush = async () => {
      if (!batch.length) return;
      const cmds = batch;
      batch = [];
      const r = await run("ip", ["-n", this.nodeNs, "-batch", "-"], { input: cmds.map((c) => c + "\n").join("") });
      if (r.code !== 0) {
        const m = /Command failed -:(\d+)/.exec(r.stderr);
        const failing = m ? cmds[Number(m[1]) - 1] : undefined;
        const err = r.stderr.replace(/\n?Command failed -:\d+\n?/g, "\n").trim();
        if (failing !== undefined) throw new Error(`node command failed: ip ${failing}\n${err}`);
        throw new Error(`node command failed (one of: ${cmds.map((c) => "ip " + c).join("; ")}):\n${err}`);
      }
    };
    for (const c of commands) {
      const argv = splitCommand(c);
      if (argv.length === 0) continue;
      if (argv[0] === "ip" && argv.length > 1 && !argv[1].startsWith("-") && !/["'#\\]/.test(c)) {
        batch.push(argv.slice(1).join(" "));
        continue;
      }
      await flush();
      const r = await this.exec(argv, { allowFail: true });
      if (r.code !== 0) throw new Error(`node command failed: ${c}\n${(r.stderr || r.stdout).trim()}`);
    }
    await flush();
  }

  /** Runs a command (no shell) in the node ns. Throws on a non-zero exit unless allowFail. */
  async exec(args: string[], opts: { input?: string; allowFail?: boolean } = {}): Promise<RunResult> {
    if (args.length === 0) throw new Error("exec: empty command");
    const r = await run("ip", ["netns", "exec", this.nodeNs, ...args], { input: opts.input });
    if (r.code !== 0 && !opts.allowFail) {
      throw new Error(`${args.join(" ")} failed in ${this.nodeNs} (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
    }
    return r;
  }

  /**
   * A snapshot of the node ns: scripts/nodeplane-snapshot.sh <dir> if it exists,
   * otherwise the equivalent commands. Returns file name -> contents.
   */
  async dumpSnapshot(): Promise<Record<string, string>> {
    const dir = mkdtempSync(join(tmpdir(), "np-snap-"));
    try {
      const files: Record<string, string> = {};
      if (existsSync(SNAPSHOT_SCRIPT)) {
        await this.exec(["bash", SNAPSHOT_SCRIPT, dir]);
        for (const f of readdirSync(dir, { recursive: true, withFileTypes: true })) {
          if (!f.isFile()) continue;
          const full = join(f.parentPath ?? (f as any).path, f.name);
          files[full.slice(dir.length + 1)] = readFileSync(full, "utf8");
        }
        return files;
      }
      const cmds: Array<[string, string[]]> = [
        ["ip-rule.txt", ["ip", "rule", "show"]],
        ["ip-route.txt", ["ip", "route", "show", "table", "all"]],
        ["ip-addr.txt", ["ip", "-o", "addr", "show"]],
        ["ip-link.txt", ["ip", "-o", "link", "show"]],
        ["sysctl.txt", ["sysctl", "net.ipv4.ip_forward", "net.ipv4.conf", "net.ipv4.icmp_ratemask", "net.ipv4.icmp_ratelimit",
          "net.ipv4.icmp_msgs_per_sec", "net.ipv4.icmp_msgs_burst", "net.ipv4.icmp_echo_ignore_all",
          "net.ipv4.icmp_echo_ignore_broadcasts", "net.ipv4.icmp_errors_use_inbound_ifaddr", "net.ipv4.ip_default_ttl",
          "net.ipv4.fwmark_reflect", "net.ipv4.ip_no_pmtu_disc"]],
        ["ss.txt", ["ss", "-Htlnu"]],
      ];
      const results = await Promise.all(cmds.map(([, argv]) => this.exec(argv)));
      cmds.forEach(([name], i) => { files[name] = results[i].stdout; });
      return files;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * `ip route get <query...>` for each query, through one `ip -force -batch -`
   * process (restarted after the rare argument errors that make ip exit).
   * out = stdout exactly as printed; err = stderr trimmed.
   */
  async routeGet(queries: string[][]): Promise<RouteGetResult[]> {
    const results: RouteGetResult[] = new Array(queries.length);
    let start = 0;
    while (start < queries.length) {
      const lines = queries.slice(start).map((q) => {
        const line = ["route", "get", ...q].join(" ");
        if (/[\n"'#\\]/.test(line)) throw new Error(`routeGet: unsupported characters in query ${JSON.stringify(q)}`);
        return line;
      });
      const r = await run("ip", ["-n", this.nodeNs, "-force", "-batch", "-"], { input: lines.join("\n") + "\n" });
      const failed = new Map<number, string>();
      let pending: string[] = [];
      for (const line of r.stderr.split("\n")) {
        const m = /^Command failed -:(\d+)$/.exec(line);
        if (m) {
          failed.set(Number(m[1]) - 1, pending.join("\n").trim());
          pending = [];
        } else if (line !== "") {
          pending.push(line);
        }
      }
      const chunks = splitRouteOutput(r.stdout);
      const processed = chunks.length + failed.size;
      for (const i of failed.keys()) {
        if (i >= processed) {
          throw new Error(`routeGet: ip -batch output does not add up (failed line ${i + 1}, ${chunks.length} outputs)\n` +
            `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
        }
      }
      let c = 0;
      for (let i = 0; i < processed && i < lines.length; i++) {
        const f = failed.get(i);
        results[start + i] = f !== undefined ? { ok: false, err: f } : { ok: true, out: chunks[c++] };
      }
      if (processed >= lines.length) {
        if (processed > lines.length) throw new Error(`routeGet: more outputs than queries\n${r.stdout}`);
        break;
      }
      // ip exited early: the next query is the one it died on (e.g. an unparsable argument)
      if (r.code === 0) throw new Error(`routeGet: ip answered ${processed} of ${lines.length} queries and exited 0`);
      results[start + processed] = { ok: false, err: pending.join("\n").trim() || `ip exited with code ${r.code}` };
      start += processed + 1;
    }
    return results;
  }

  private nodeLinkIndex(name: string): number {
    const i = this.spec.links.findIndex((l) => l.name === name);
    if (i < 0) throw new Error(`${JSON.stringify(name)} is not a link of this node (${this.spec.links.map((l) => l.name).join(", ")})`);
    return i;
  }

  /** Current MTU of every node link (name -> mtu). */
  async linkMtus(): Promise<Map<string, number>> {
    const r = await runOk("ip", ["-n", this.nodeNs, "-o", "link", "show"]);
    const m = new Map<string, number>();
    for (const line of r.stdout.split("\n")) {
      const x = /^\d+:\s+([^:@\s]+)[@:].*\smtu (\d+)/.exec(line);
      if (x) m.set(x[1], Number(x[2]));
    }
    return m;
  }

  private async localAgent(): Promise<Agent> {
    if (!this.local) {
      this.local = new Agent(this.nodeNs, false);
      await this.local.ready;
    }
    return this.local;
  }

  /**
   * Sends the packets in order (frames injected from the world side on their
   * iif, or local packets from real sockets in the node ns), captures what
   * leaves the node on all links until it is quiet, and attributes the frames
   * to packets.
   */
  inject(packets: InjectPacket[], opts: InjectOptions = {}): Promise<InjectResult> {
    // one at a time: captures of concurrent calls would mix
    const r = this.injectQueue.then(() => this.injectNow(packets, opts));
    this.injectQueue = r.catch(() => {});
    return r;
  }

  private async injectNow(packets: InjectPacket[], opts: InjectOptions): Promise<InjectResult> {
    if (this.destroyed || !this.world) throw new Error("KernelNode destroyed");
    const world = this.world;
    const gapUs = opts.gapUs ?? 200;
    const ids = new Set<number>();
    for (const p of packets) {
      if (!Number.isInteger(p.id) || p.id < 1 || p.id > 65535) throw new Error(`packet id must be 1..65535: ${p.id}`);
      if (ids.has(p.id)) throw new Error(`duplicate packet id ${p.id}`);
      ids.add(p.id);
      if (p.iif !== "local") {
        this.nodeLinkIndex(p.iif);
        if (p.src === undefined) throw new Error(`packet ${p.id}: src is required for packets arriving on a link`);
      }
    }
    const obs: Observation[] = packets.map((p) => ({ id: p.id, out: [] }));
    // A frame larger than the node link's MTU would be dropped silently by the veth
    // (as a NIC drops oversized frames): report it instead of sending it.
    const tooBig = new Set<number>();
    if (packets.some((p) => p.iif !== "local" && (p.len ?? defaultLen(p)) > 1280)) {
      const mtus = await this.linkMtus();
      packets.forEach((p, k) => {
        if (p.iif === "local") return;
        const mtu = mtus.get(p.iif);
        if (mtu !== undefined && (p.len ?? defaultLen(p)) > mtu) {
          tooBig.add(k);
          obs[k].error = "EMSGSIZE";
        }
      });
    }
    const sinceNs: number = (await world.request({ op: "now" })).now;
    let lastNs = sinceNs;
    for (let i = 0; i < packets.length;) {
      const local = packets[i].iif === "local";
      let j = i;
      while (j < packets.length && (packets[j].iif === "local") === local) j++;
      const group = packets.slice(i, j);
      if (local) {
        const agent = await this.localAgent();
        const resp = await agent.request({ op: "local", gapUs, packets: group });
        (resp.results as any[]).forEach((r, k) => {
          const o = obs[i + k];
          if (r.tNs !== undefined) { o.sentNs = r.tNs; lastNs = Math.max(lastNs, r.tNs); }
          if (r.error !== undefined) o.error = r.error;
          if (r.src !== undefined) o.bound = { src: r.src, sport: r.sport };
        });
      } else {
        const idx = group.map((_, k) => i + k).filter((k) => !tooBig.has(k));
        const frames = idx.map((k) => {
          const p = packets[k];
          const li = this.nodeLinkIndex(p.iif);
          return {
            ifname: KernelNode.worldName(li),
            hex: buildFrame(p, KernelNode.nodeMac(li), KernelNode.worldMac(li)).toString("hex"),
          };
        });
        const resp = frames.length ? await world.request({ op: "send", gapUs, frames }) : { sent: [] };
        (resp.sent as any[]).forEach((r, n) => {
          const o = obs[idx[n]];
          if (r.tNs !== undefined) { o.sentNs = r.tNs; lastNs = Math.max(lastNs, r.tNs); }
          if (r.error !== undefined) o.error = r.error;
        });
      }
      i = j;
    }
    const resp = await world.request({
      op: "collect", sinceNs, afterNs: lastNs, quietMs: opts.quietMs ?? 150, maxWaitMs: opts.maxWaitMs ?? 3000,
    });
    const seen: Seen[] = [];
    const worldToNode = new Map(this.spec.links.map((l, i) => [KernelNode.worldName(i), l.name]));
    for (const f of resp.frames as Array<{ ifname: string; tNs: number; hex: string }>) {
      const s = parseFrame(Buffer.from(f.hex, "hex"), worldToNode.get(f.ifname) ?? f.ifname, f.tNs);
      if (s && s.proto !== 2) seen.push(s);
    }
    return matchFrames(packets, obs, seen);
  }

  /** `nstat -asz` in the node ns: absolute counters, name -> value. */
  async nstat(): Promise<Record<string, number>> {
    const r = await this.exec(["nstat", "-asz"]);
    return parseNstat(r.stdout);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([this.world?.close(), this.local?.close()]);
    for (const ns of [this.nodeNs, this.worldNs]) {
      if (!liveNamespaces.has(ns)) continue;
      const r = await run("ip", ["netns", "del", ns]);
      if (r.code === 0 || /No such file/.test(r.stderr)) liveNamespaces.delete(ns);
    }
  }
}

/** Splits `ip route get` batch output into one chunk per answer: a line at column 0 plus its indented continuation lines. */
export function splitRouteOutput(stdout: string): string[] {
  const chunks: string[] = [];
  const lines = stdout.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (const line of lines) {
    if (chunks.length === 0 || !/^\s/.test(line)) chunks.push(line + "\n");
    else chunks[chunks.length - 1] += line + "\n";
  }
  return chunks;
}

export function parseNstat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const [name, value] = line.trim().split(/\s+/);
    const v = Number(value);
    if (name && Number.isFinite(v)) out[name] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------
// matching

/**
 * Attributes captured frames to packets. Returns an InjectResult whose
 * observations are `obs` filled in.
 *
 * Packets arriving on a link claim (rank 0): (a) frames with the same IP id,
 * protocol and src/dst (forwarded, possibly fragmented); (b) ICMP errors
 * quoting a header with that IP id and src/dst; (c) echo replies with the
 * echo's id/seq sent to its source; (d) TCP segments in the reverse direction
 * (RST, or SYN-ACK from a listener). Rank 1 (after NAT): same IP id and
 * protocol with one port unchanged, or an ICMP error quoting the IP id and
 * protocol. Local packets claim frames with their protocol, dst, src (if
 * given), dport and the socket's actual sport (ICMP: type and id/seq).
 * Ties go to the packet sent last before the frame was captured. Fragments
 * that carry no ports follow the first fragment with the same id/src/dst.
 */
export function matchFrames(packets: InjectPacket[], obs: Observation[], seen: Seen[]): InjectResult {
  const owner = new Map<Seen, number>();
  const unmatched: Seen[] = [];
  const protos = packets.map((p) => protoNum(p.proto));
  for (const s of seen) {
    let best = -1;
    let bestRank = Infinity;
    for (let k = 0; k < packets.length; k++) {
      const rank = matchRank(packets[k], protos[k], obs[k], s);
      if (rank === undefined) continue;
      const better = rank < bestRank ||
        (rank === bestRank && preferLater(obs[k].sentNs, obs[best].sentNs, s.tNs));
      if (better) { best = k; bestRank = rank; }
    }
    if (best >= 0) owner.set(s, best);
  }
  // fragments without L4 headers: follow the frame with the same id/src/dst/proto
  for (const s of seen) {
    if (owner.has(s) || !(s.mf || s.fragOffset > 0)) continue;
    for (const [t, k] of owner) {
      if (t.ipid === s.ipid && t.src === s.src && t.dst === s.dst && t.proto === s.proto) { owner.set(s, k); break; }
    }
  }
  for (const s of seen) {
    const k = owner.get(s);
    if (k === undefined) unmatched.push(s);
    else obs[k].out.push(s);
  }
  return { observations: obs, unmatched };
}

function preferLater(candNs: number | undefined, curNs: number | undefined, frameNs: number): boolean {
  const okC = candNs !== undefined && candNs <= frameNs;
  const okB = curNs !== undefined && curNs <= frameNs;
  if (okC && !okB) return true;
  if (okC && okB) return candNs! > curNs!;
  return false;
}

/** 224.0.0.0/4, 255.255.255.255, or an address ending in .255 / .0 (good enough: bind only allows local ones). */
function isMulticastOrBroadcastish(a: string): boolean {
  const o = a.split(".").map(Number);
  return (o[0] >= 224 && o[0] <= 239) || a === "255.255.255.255" || o[3] === 255;
}

function matchRank(p: InjectPacket, proto: number, o: Observation, s: Seen): number | undefined {
  const echoRest = (((p.icmpId ?? 0) & 0xffff) << 16 | ((p.icmpSeq ?? 0) & 0xffff)) >>> 0;
  const isEcho = proto === 1 && (p.icmpType ?? 8) === 8;
  if (p.iif === "local") {
    if (o.error !== undefined && o.sentNs === undefined) return undefined;
    if (s.proto !== proto || s.dst !== p.dst) return undefined;
    // a socket bound to a multicast or broadcast address sends from the
    // address routing picks (inet_bind sets inet_saddr = 0), so only a
    // unicast bound source must show up as the frame's source
    // (a subnet broadcast address is not recognisable here: a source that
    // differs only ranks lower instead of ruling the frame out)
    const srcRank = p.src !== undefined && s.src !== p.src && !isMulticastOrBroadcastish(p.src) ? 1 : 0;
    if (proto === 6 || proto === 17) {
      if (s.sport === undefined) return undefined; // non-first fragment: handled later
      if (s.dport !== (p.dport ?? 0)) return undefined;
      const sport = p.sport || o.bound?.sport;
      if (sport && s.sport !== sport) return undefined;
      return srcRank;
    }
    if (proto === 1) {
      if (!s.icmp) return undefined;
      if (s.icmp.type !== (p.icmpType ?? 8) || s.icmp.code !== (p.icmpCode ?? 0)) return undefined;
      const rest = p.icmpRest !== undefined ? p.icmpRest >>> 0 : echoRest;
      if (s.icmp.rest !== rest) return undefined;
      return srcRank;
    }
    return s.fragOffset === 0 ? srcRank : undefined;
  }
  // (a) forwarded (possibly fragmented)
  if (s.ipid === p.id && s.src === p.src && s.dst === p.dst && s.proto === proto) return 0;
  const inner = s.icmp?.inner;
  // (b) ICMP errors quoting the packet
  if (inner && ICMP_ERROR_TYPES.has(s.icmp!.type) && inner.ipid === p.id && inner.src === p.src && inner.dst === p.dst) return 0;
  // (c) echo reply
  if (isEcho && s.icmp && s.icmp.type === 0 && s.icmp.rest === echoRest && s.dst === p.src) return 0;
  // (d) TCP answers (RST, SYN-ACK) in the reverse direction
  if (proto === 6 && s.proto === 6 && s.src === p.dst && s.dst === p.src && s.sport === (p.dport ?? 0) && s.dport === (p.sport ?? 0)) return 0;
  // rank 1: NAT changed addresses or ports
  if (s.ipid === p.id && s.proto === proto) {
    if (proto === 6 || proto === 17) {
      if (s.sport === undefined || s.sport === (p.sport ?? 0) || s.dport === (p.dport ?? 0)) return 1;
    } else if (proto === 1) {
      if (s.icmp === undefined || s.icmp.type === (p.icmpType ?? 8)) return 1;
    } else {
      return 1;
    }
  }
  if (inner && ICMP_ERROR_TYPES.has(s.icmp!.type) && inner.ipid === p.id && inner.proto === proto) return 1;
  return undefined;
}
