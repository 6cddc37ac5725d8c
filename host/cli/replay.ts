/**
 * `nodeplane replay`: packets through a node.
 *
 *   nodeplane replay --snapshot DIR --packets IN.jsonl                 JSONL results on stdout, summary on stderr (as always)
 *   nodeplane replay (--snapshot DIR | --cluster FILE [--node NAME])
 *                    (--pcap FILE | --packets JSONL | --generate SPEC)
 *                    [--out DIR] [--workers N] [--jsonl FILE] [--counters FILE] [--conntrack-dump FILE]
 *                    [--ingress IFNAME=DEV] [--ingress-index N=DEV] [--ingress-ifindex N=DEV]
 *                    [--ingress-mac MAC=DEV] [--ingress-subnet CIDR=DEV]   (captures: which device frames arrived on)
 *
 * With --out, --workers, --pcap, --generate or --cluster it runs the scaled
 * replay (host/replay/run.ts): a summary table on stdout, and in DIR
 * summary.json, report.html and egress.pcapng (every packet as it leaves
 * the node, translated, on one capture interface per egress device).
 */
import { Option, type Command } from "commander";
import { closeSync, createWriteStream, existsSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { makeDir, openOutput } from "../util/fs.js";
import { basename, join, relative, resolve } from "node:path";
import type { Writable } from "node:stream";
import { Engine } from "../engine.js";
import { InputError, isInputError } from "../snapshot/errors.js";
import { replayJsonl } from "../replay/jsonl.js";
import { formatSummary } from "../report/summary.js";
import { readNodeSpec, loadEngine, type NodeSpec } from "../replay/setup.js";
import { runReplay, type ReplayOutcome } from "../replay/run.js";
import { JsonlSource, type PacketSource } from "../replay/sources.js";
import { makeProgress } from "../replay/progress.js";
import { ThreadedPcapSource } from "../replay/pcap-thread.js";
import { availableParallelism } from "node:os";
import { buildSummary } from "../report/model.js";
import { formatSummaryTable } from "../report/text.js";
import { renderHtmlReport } from "../report/html.js";
import { printIptablesSave } from "../netfilter/print.js";
import { IngressMapError, type IngressKey, type IngressMap } from "../pcap/ingress.js";
import { CaptureError } from "../pcap/errors.js";
import { parseMac, formatMac } from "../pcap/link.js";
import { parseCidr } from "../util/ipv4.js";
import { INGRESS_OPTS, ingressSpelling } from "./ingress-spelling.js";
import type { IptTableName } from "../model/iptables.js";
import { SKIP_FORWARDED } from "../pcap/node-sends.js";

function intOption(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
    return Number(v);
  };
}

/** Parses one KEY=DEV value of an --ingress* option (the device is checked against the node later). */
function ingressOption(k: IngressKey) {
  const { flag, key, what } = INGRESS_OPTS[k];
  return (v: string, prev: [string, string][] = []): [string, string][] => {
    const eq = v.lastIndexOf("=");
    if (eq <= 0 || eq === v.length - 1) throw new Error(`--${flag} "${v}": expected ${key}=DEV (${what} = a device of the node)`);
    const from = v.slice(0, eq).trim(), dev = v.slice(eq + 1).trim();
    let norm = from;
    if (k === "byInterfaceId" || k === "byIfindex") {
      if (!/^[0-9]+$/.test(from) || Number(from) > 0xffffffff) throw new Error(`--${flag} "${v}": "${from}" is not ${what}: expected an integer`);
      norm = String(Number(from));
    } else if (k === "byMac") {
      const m = parseMac(from);
      if (m === undefined) throw new Error(`--${flag} "${v}": "${from}" is not a MAC address (aa:bb:cc:dd:ee:ff)`);
      norm = formatMac(m);
    } else if (k === "bySource") {
      if (!parseCidr(from)) throw new Error(`--${flag} "${v}": "${from}" is not an IPv4 prefix (a.b.c.d/len)`);
    }
    if (k !== "bySource" && prev.some(([f]) => f === norm)) throw new Error(`--${flag} "${v}": ${key} "${from}" is mapped twice`);
    return [...prev, [norm, dev]];
  };
}

/**
 * The ingress mapping of the --ingress* options (possibly empty), spelling
 * its mappings as these options in messages.
 */
export function ingressMapOf(o: ReplayCliOptions): IngressMap {
  const given = (Object.keys(INGRESS_OPTS) as IngressKey[]).filter((k) => (o[INGRESS_OPTS[k].attr]?.length ?? 0) > 0);
  if (given.length > 0 && o.pcap === undefined) throw new Error(`--${given.map((k) => INGRESS_OPTS[k].flag).join(", --")}: ingress mappings go with --pcap`);
  const map: IngressMap = { ...ingressSpelling };
  if (o.ingress) map.byIfName = Object.fromEntries(o.ingress);
  if (o.ingressIndex) map.byInterfaceId = Object.fromEntries(o.ingressIndex.map(([a, b]) => [Number(a), b]));
  if (o.ingressIfindex) map.byIfindex = Object.fromEntries(o.ingressIfindex.map(([a, b]) => [Number(a), b]));
  if (o.ingressMac) map.byMac = Object.fromEntries(o.ingressMac);
  if (o.ingressSubnet) map.bySource = o.ingressSubnet.map(([cidr, link]) => ({ cidr, link }));
  return map;
}

export interface ReplayCliOptions {
  snapshot?: string; cluster?: string; node?: string;
  packets?: string; pcap?: string; generate?: string;
  out?: string; jsonl?: string; workers: number;
  seed: number; batch: number; iptables?: string; trace?: boolean;
  counters?: string; conntrackDump?: string; cpus: number; raceWindow: number;
  progress?: boolean;
  verifyChecksums?: boolean;
  /** --no-jit: interpret every rule walk (the results are the same). */
  jit?: boolean;
  /** --decode-thread: where a capture is read and decoded with one worker (auto: on a second thread when it is faster). */
  decodeThread: "auto" | "on" | "off";
  /** --node-sends: the node's own sends in a capture's outgoing frames replayed as local sends (default), or skipped as every outgoing frame. */
  nodeSends?: "replay" | "skip";
  /** --forwarded-copies: a capture's forwarded copies paired with their originals (PKT_SEEN_*; default), or only skipped. */
  forwardedCopies?: "pair" | "skip";
  /** --ingress* options: [capture value, node device] pairs in the order given. */
  ingress?: [string, string][]; ingressIndex?: [string, string][]; ingressIfindex?: [string, string][];
  ingressMac?: [string, string][]; ingressSubnet?: [string, string][];
}

async function closeStream(s: Writable): Promise<void> {
  if (s === process.stdout) return;
  await new Promise<void>((res, rej) => s.end((e?: Error | null) => (e ? rej(e) : res())));
}

/** A write stream on an output file opened now (openOutput: an unwritable path is an error naming the option). */
function outputStream(option: string, path: string): Writable {
  const s = createWriteStream("", { fd: openOutput(option, path) });
  s.on("error", (e) => { process.stderr.write(`nodeplane: ${option} ${path}: ${e.message}\n`); process.exitCode = 2; });
  return s;
}

function writeAndClose(fd: number, text: string): void {
  try { writeSync(fd, text); } finally { closeSync(fd); }
}

const note = (m: string) => process.stderr.write(`nodeplane: note: ${m}\n`);
const warn = (m: string) => process.stderr.write(`nodeplane: warning: ${m}\n`);

/** The node to replay on: a snapshot directory, or one node of a cluster file. */
export async function nodeSpec(o: Pick<ReplayCliOptions, "snapshot" | "cluster" | "node" | "iptables">): Promise<NodeSpec> {
  if (o.snapshot !== undefined && o.cluster !== undefined) throw new Error("give either --snapshot or --cluster, not both");
  if (o.snapshot !== undefined) {
    if (o.node !== undefined) throw new Error("--node goes with --cluster");
    return readNodeSpec(o.snapshot, o.iptables);
  }
  if (o.cluster === undefined) throw new Error("give the node: --snapshot DIR or --cluster FILE [--node NAME]");
  const cl = await import("../cluster/index.js");
  const spec = await cl.loadClusterFile(o.cluster);
  const rendered = cl.renderCluster(spec);
  const names = rendered.nodes.map((n) => n.name);
  if (!rendered.nodes.length) throw new InputError(o.cluster, 0, "", "the cluster file has no nodes");
  let node = rendered.nodes[0]!;
  if (o.node !== undefined) {
    const n = rendered.nodes.find((x) => x.name === o.node);
    if (!n) throw new InputError(o.cluster, 0, o.node, `is not a node of the cluster (nodes: ${names.join(", ")})`);
    node = n;
  } else if (rendered.nodes.length > 1) {
    throw new InputError(o.cluster, 0, "", `the cluster has ${rendered.nodes.length} nodes: choose one with --node (${names.join(", ")})`);
  }
  const ns: NodeSpec = { files: node.files, origin: `${o.cluster} node ${node.name}`, dir: false };
  if (o.iptables !== undefined) {
    if (!existsSync(o.iptables)) throw new InputError(o.iptables, 0, "", "no such iptables-save file");
    ns.iptables = { text: readFileSync(o.iptables, "utf8"), file: o.iptables };
  }
  return ns;
}

/** The plain JSONL replay, as before issue 6: results on stdout (or --jsonl), summary on stderr. */
async function legacyReplay(o: ReplayCliOptions): Promise<void> {
  if (!existsSync(o.packets!)) throw new InputError(o.packets!, 0, "", "no such packets file");
  const spec = readNodeSpec(o.snapshot!, o.iptables);
  const { engine, snap } = await loadEngine(spec, { seed: o.seed, batch: o.batch, warn, cpus: o.cpus, raceWindowNs: o.raceWindow, jit: o.jit });
  for (const n of snap.notices) note(n);
  if (o.trace) engine.setTrace(true);
  const out: Writable = !o.jsonl || o.jsonl === "-" ? process.stdout : outputStream("--jsonl", o.jsonl);
  const countersFd = o.counters ? openOutput("--counters", o.counters) : undefined;
  const ctFd = o.conntrackDump ? openOutput("--conntrack-dump", o.conntrackDump) : undefined;
  const stats = await replayJsonl(engine, o.packets!, out);
  await closeStream(out);
  if (countersFd !== undefined) writeAndClose(countersFd, engine.iptablesSave());
  if (ctFd !== undefined) writeAndClose(ctFd, engine.conntrackList());
  process.stderr.write(formatSummary(stats, engine.counters(), engine) + "\n");
}

/** iptables-save -c with the counters summed over every engine. */
function countersText(r: ReplayOutcome): string {
  const rs = r.engine.ruleset;
  if (!rs) return "";
  const c = (id: number | undefined) => id === undefined ? undefined : { packets: BigInt(r.totals.rulePackets[id] ?? 0), bytes: BigInt(r.totals.ruleBytes[id] ?? 0) };
  const policyIds = new Map<string, number>();
  rs.compiled.entries.forEach((e, id) => { if (e.kind === "policy") policyIds.set(`${e.table}/${e.chain}`, id); });
  return printIptablesSave(rs.ruleset, (rule) => c(rs.idOf(rule)), (table: IptTableName, chain: string) => c(policyIds.get(`${table}/${chain}`)));
}

/**
 * Why `--workers N` will be slower than one worker here, when it will be
 * (undefined otherwise); measured on two CPUs (README, "Replay at scale").
 * - Generated traffic: the generator answers what leaves the node, so it
 *   hands over a few dozen packets at a time and waits for their outcome
 *   (its fills stop at the first packet that answers one of theirs); with
 *   workers every fill is a round trip between threads, longer than the
 *   work it carries, whatever the number of CPUs.
 * - A capture with no CPU to spare: the dispatcher (the main thread, which
 *   also runs shard 0) and the worker threads take turns, while one worker
 *   reads and decodes the capture on a second thread beside its engine.
 */
export function workersWarning(workers: number, cpus: number, input: "pcap" | "packets" | "generate"): string | undefined {
  if (workers <= 1) return undefined;
  if (input === "generate") {
    return `--workers ${workers} with --generate: the generator waits for the node's outcome of every few dozen packets ` +
      `(its servers answer what left the node), and with workers each wait is a round trip between threads; ` +
      `one worker is faster (README, "Replay at scale")`;
  }
  if (input !== "pcap" || cpus > workers) return undefined; // (JSONL input with workers: not measured)
  return `--workers ${workers} with ${cpus} CPU${cpus === 1 ? "" : "s"}: the workers and the dispatcher take turns on them; ` +
    `one worker (it reads and decodes the capture on a second thread) is faster on such a machine (README, "Replay at scale")`;
}

export async function replayCommand(o: ReplayCliOptions): Promise<void> {
  const inputs = [o.packets, o.pcap, o.generate].filter((x) => x !== undefined).length;
  if (inputs !== 1) throw new Error("give exactly one input: --packets FILE (JSONL), --pcap FILE or --generate SPEC");
  if (o.snapshot === undefined && o.cluster === undefined) throw new Error("give the node: --snapshot DIR or --cluster FILE [--node NAME]");
  if (o.snapshot !== undefined && o.cluster !== undefined) throw new Error("give either --snapshot or --cluster, not both");
  ingressMapOf(o); // the --ingress* options go with --pcap
  const scaled = o.out !== undefined || o.workers > 1 || o.pcap !== undefined || o.generate !== undefined || o.cluster !== undefined;
  if (!scaled) return legacyReplay(o);
  if (o.cpus > 1) throw new Error("--cpus (the confirm-race model) works with the plain JSONL replay only, not with --out, --workers, --pcap, --generate or --cluster");
  if (o.packets !== undefined && !existsSync(o.packets)) throw new InputError(o.packets, 0, "", "no such packets file");
  if (o.pcap !== undefined && !existsSync(o.pcap)) throw new InputError(o.pcap, 0, "", "no such capture file");
  const crowded = workersWarning(o.workers, availableParallelism(), o.generate !== undefined ? "generate" : o.pcap !== undefined ? "pcap" : "packets");
  if (crowded) warn(crowded);
  const spec = await nodeSpec(o);
  if (o.out !== undefined) makeDir(o.out);
  const jsonlOut: Writable | undefined = o.jsonl === undefined ? undefined : o.jsonl === "-" ? process.stdout : outputStream("--jsonl", o.jsonl);
  const countersFd = o.counters ? openOutput("--counters", o.counters) : undefined;
  const ctFd = o.conntrackDump ? openOutput("--conntrack-dump", o.conntrackDump) : undefined;
  const progress = makeProgress(o.progress !== false && process.stderr.isTTY === true);
  let notesShown = false;
  const outputs: Record<string, string> = {};
  const inOut = (f: string) => o.out !== undefined && resolve(f).startsWith(resolve(o.out) + "/") ? relative(o.out, f) : basename(f);
  // one engine replaying a capture: the frames are read and decoded on a second thread, beside it
  // (started now: it loads its engine while this thread loads the replaying one)
  // (auto: not with --out, where the egress.pcapng writer thread already takes the second CPU: measured slower)
  const decodeThread = o.decodeThread === "on" || (o.decodeThread !== "off" && o.out === undefined && availableParallelism() >= 2);
  const thread = o.pcap !== undefined && o.workers <= 1 && decodeThread
    ? ThreadedPcapSource.start(o.pcap, {
      spec, capacity: o.batch, verifyChecksums: o.verifyChecksums !== false, keepFrames: o.out !== undefined, nodeSends: o.nodeSends ?? "replay", forwardedCopies: o.forwardedCopies ?? "pair",
      ingress: ingressData(ingressMapOf(o)), spelling: { module: new URL("./ingress-spelling.js", import.meta.url).href, name: "ingressSpelling" },
    })
    : undefined;
  let r: ReplayOutcome;
  try {
    r = await runReplay({
      spec, seed: o.seed, batch: o.batch, workers: o.workers, trace: o.trace, jsonl: jsonlOut, progress, warn, jit: o.jit,
      conntrackDump: o.conntrackDump !== undefined,
      egress: o.out !== undefined ? join(o.out, "egress.pcapng") : undefined,
      source: (engine) => {
        if (!notesShown) { for (const n of engine.node.snapshot.notices) note(n); notesShown = true; }
        return thread ? openThreaded(thread, engine) : makeSourceSync(o, engine);
      },
    });
  } finally {
    progress.stop();
    thread?.close();
  }
  if (jsonlOut) { await closeStream(jsonlOut); if (o.jsonl !== "-") outputs.jsonl = inOut(o.jsonl!); }
  if (countersFd !== undefined) { writeAndClose(countersFd, countersText(r)); outputs.counters = inOut(o.counters!); }
  if (ctFd !== undefined) { writeAndClose(ctFd, r.conntrackText ?? ""); outputs.conntrack = inOut(o.conntrackDump!); }
  if (r.egressFile) outputs.egress = inOut(r.egressFile);
  if (o.out !== undefined) { outputs.summary = "summary.json"; outputs.report = "report.html"; }
  const e = r.error;
  const skipped = r.source.skipped();
  // the copies skipped that no original was found for (pairing on, copies in the capture)
  const copies = skipped[SKIP_FORWARDED] ?? 0;
  const copiesUnpaired = o.forwardedCopies !== "skip" && copies > 0 ? copies - (r.source.copiesPaired ?? 0) : undefined;
  const summary = buildSummary({
    node: { origin: r.engine.node.snapshot.origin, devices: r.engine.node.devBySlot.map((l) => l?.name) },
    ruleset: r.engine.ruleset,
    input: {
      kind: r.source.kind, file: r.source.label, skipped, notes: r.source.notes?.(), nodeSends: r.source.nodeSends, copiesPaired: r.source.copiesPaired, copiesUnpaired,
      error: e ? { message: e.message, ...(e instanceof CaptureError ? { offset: e.offset, frame: e.frame } : {}), ...(e.line ? { line: e.line } : {}) } : undefined,
    },
    collector: r.collector, totals: r.totals, bySource: r.bySource, byDestination: r.byDestination, seed: o.seed, outputs,
    timing: { seconds: r.seconds, workers: o.workers, barriers: o.workers > 1 ? r.barriers : undefined },
  });
  if (o.out !== undefined) {
    writeFileSync(join(o.out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
    writeFileSync(join(o.out, "report.html"), renderHtmlReport(summary));
  }
  (o.jsonl === "-" ? process.stderr : process.stdout).write(formatSummaryTable(summary) + "\n");
  if (e) {
    process.stderr.write(`nodeplane: ${e.message}\n`);
    process.exitCode = 2;
  }
}

// the sources need the engine synchronously inside runReplay: pre-import the optional modules
let pcapMod: typeof import("../replay/pcap-source.js") | undefined;
let genMod: typeof import("../replay/generator-source.js") | undefined;
function makeSourceSync(o: ReplayCliOptions, engine: Engine): PacketSource | Promise<PacketSource> {
  if (o.packets !== undefined) return new JsonlSource(o.packets, engine.devices, (m) => engine.onWarning(m));
  if (o.pcap !== undefined) {
    try {
      // frames are kept in the read buffer only when egress.pcapng is written (--out)
      // the core decodes the common records (the read buffer in its memory; not with --out, which keeps the frames)
      return pcapMod!.PcapSource.open(o.pcap, engine, { verifyChecksums: o.verifyChecksums !== false, ingress: ingressMapOf(o), keepFrames: o.out !== undefined, nodeSends: o.nodeSends ?? "replay", forwardedCopies: o.forwardedCopies ?? "pair", fastDecode: engine.core });
    } catch (e) {
      // a device the node does not have: the option names it, with the node's devices
      if (e instanceof IngressMapError) throw new Error(e.message);
      throw e;
    }
  }
  return genMod!.GeneratorSource.create(o.generate!, engine);
}
/** The mapping's data (its functions stay here: the decode thread loads them from ingress-spelling.ts). */
function ingressData(m: IngressMap): Omit<IngressMap, "optionName" | "suggest"> {
  const { optionName: _o, suggest: _s, ...data } = m;
  return data;
}

function openThreaded(thread: ThreadedPcapSource, engine: Engine): PacketSource {
  try {
    return thread.open(engine);
  } catch (e) {
    // as makeSourceSync: a device the node does not have is named by the option
    if (e instanceof IngressMapError) throw new Error(e.message);
    throw e;
  }
}

async function preload(o: ReplayCliOptions): Promise<void> {
  if (o.pcap !== undefined) pcapMod = await import("../replay/pcap-source.js");
  if (o.generate !== undefined) genMod = await import("../replay/generator-source.js");
}

export function registerReplay(program: Command): void {
  program
    .command("replay")
    .description("run packets through the node and say what happened (JSONL results, summary, report, egress capture)")
    .option("--snapshot <dir>", "node snapshot directory")
    .option("--cluster <file>", "a cluster file: replay on one of its nodes (with --node)")
    .option("--node <name>", "the cluster node to replay on")
    .option("--packets <file>", "input packets, one JSON object per line")
    .option("--pcap <file>", "input capture (pcap or pcapng)")
    .option("--generate <spec>", "generate traffic from a traffic spec (YAML)")
    .option("--out <dir>", "write summary.json, report.html and egress.pcapng (packets as they leave, one interface per egress device) here")
    .option("--jsonl <file>", "per-packet results as JSONL (without --out and --workers: default stdout; '-' means stdout)")
    .addOption(new Option("--workers <n>", "engines in worker threads; flows are sharded over them keeping both directions of each connection together (see README). One worker already reads and decodes a capture on a second thread; on two CPUs it is the fastest (README, Performance)").argParser(intOption("workers", 1, 64)).default(1))
    .addOption(new Option("--seed <n>", "PRNG seed").argParser(intOption("seed")).default(0))
    .addOption(new Option("--batch <n>", "packets per engine call").argParser(intOption("batch", 1)).default(1024))
    .option("--iptables <file>", "iptables-save output to load instead of the snapshot's iptables-save.txt")
    .option("--trace", "list every iptables rule each packet examined (`trace`), like the kernel's TRACE target")
    .option("--counters <file>", "write the ruleset with the emulated per-rule counters (iptables-save -c) at the end")
    .option("--conntrack-dump <file>", "write the connection table at the end, as conntrack -L prints it")
    .option("--ingress <ifname=dev>", "capture frames of interface IFNAME (pcapng if_name) arrived on node device DEV (repeatable; default: the device of the same name)", ingressOption("byIfName"))
    .option("--ingress-index <n=dev>", "capture frames of capture interface N (0-based over the file; a classic pcap has only 0) arrived on DEV (repeatable)", ingressOption("byInterfaceId"))
    .option("--ingress-ifindex <n=dev>", "frames with SLL2 interface index N arrived on DEV (repeatable; default: the node's ip-link.txt index)", ingressOption("byIfindex"))
    .option("--ingress-mac <mac=dev>", "Ethernet frames to destination MAC arrived on DEV (repeatable; default: the node's own link MACs)", ingressOption("byMac"))
    .option("--ingress-subnet <cidr=dev>", "frames no other mapping places, from source prefix CIDR, arrived on DEV (repeatable; first match wins)", ingressOption("bySource"))
    .option("--no-jit", "interpret the iptables rule walks instead of compiling them to WebAssembly (the results are the same; for comparing)")
    .option("--no-verify-checksums", "take every captured transport checksum as correct (captures taken with checksum offload); faster")
    .addOption(new Option("--decode-thread <when>", "with --pcap and one worker, read and decode the capture on a second thread, beside the engine: on, off, or auto (when the machine has 2 or more CPUs and without --out); the results are the same").choices(["auto", "on", "off"]).default("auto"))
    .addOption(new Option("--node-sends <mode>", "with --pcap, the frames the node transmitted that its own processes sent (its address as the source, net.ipv4.ip_default_ttl as the TTL; not forwarded copies, resets, ICMP errors or echo replies, which are counted): replay (as packets a local process sends, like JSONL iif \"local\"; a frame on lo counts as one the node sent) or skip (every outgoing frame counted, not replayed; frames on lo replayed as arriving there)").choices(["replay", "skip"]).default("replay"))
    .addOption(new Option("--forwarded-copies <mode>", "with --pcap, the frames the node forwarded as a capture on several interfaces (tcpdump -i any) holds them a second time, as they left: pair (each with the packet arriving in the same batch whose protocol, length, IP id, TTL + 1 and 8 transport bytes NAT does not rewrite it has, giving the packet the header and device it left with; counted in the summary) or skip (only counted, as before); either way not replayed. Needs --node-sends replay").choices(["pair", "skip"]).default("pair"))
    .option("--no-progress", "no progress bar (it is only drawn when stderr is a terminal anyway)")
    .addOption(new Option("--cpus <n>", "CPUs handling packets concurrently (new connections race to confirm, see README; plain JSONL replay only)").argParser(intOption("cpus")).default(1))
    .addOption(new Option("--race-window <ns>", "how close in time packets on different CPUs must be to race").argParser(intOption("race-window")).default(5000))
    .action(async (opts: ReplayCliOptions) => {
      if (opts.cpus < 1 || opts.cpus > 64) throw new Error(`--cpus must be from 1 to 64, got ${opts.cpus}`);
      await preload(opts);
      await replayCommand(opts);
    });
}

export { isInputError };
