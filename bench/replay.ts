/**
 * `npm run bench -- replay`: end-to-end `nodeplane replay --pcap` speed on a
 * capture on disk, with 1 and 2 workers, and peak memory (RSS).
 *
 * The capture is generated traffic through the demo EKS node (200 services,
 * kube-proxy + VPC CNI rules), mostly established TCP (10 request/response
 * exchanges per connection: NodePort, pod IP, ClusterIP and SNATed internet
 * traffic), recorded with the pcap writer as it arrives at the node
 * (host/replay/record.ts) into a temporary directory that is deleted after.
 * Size: NODEPLANE_BENCH_REPLAY_MB megabytes (default 1024). The same traffic is
 * also recorded with a snaplen (NODEPLANE_BENCH_REPLAY_SNAPLEN, default 128:
 * headers kept, payloads cut, as busy nodes are captured), the same size on
 * disk, and replayed summary-only with 1 and 2 workers.
 *
 * Each replay runs the CLI as a child process under GNU time (peak RSS of
 * the whole process, worker threads included); packets/s is the replay
 * loop's own figure (summary.json timing: reading, decoding, sharding,
 * processing, summing; node loading excluded). The dispatcher's share
 * (reading + decoding the capture, the shard key) is measured separately
 * with tinybench, as the ceiling of the main-thread dispatch design.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as abi from "../host/core/abi.js";
import { Engine } from "../host/engine.js";
import { buildDemoNode } from "../host/scenario/eks-node.js";
import { clusterForNode } from "../host/scenario/cluster.js";
import { readNodeSpec, parseSpec } from "../host/replay/setup.js";
import { recordGenerated } from "../host/replay/record.js";
import { PcapSource } from "../host/replay/pcap-source.js";
import { EngineRunner } from "../host/replay/runner.js";
import { natTopology, ShardRouter } from "../host/replay/shard.js";
import { createGenerator, parseTrafficSpec } from "../host/traffic/index.js";
import { measure, mdTable, fmtRate } from "./util.js";

const CLI = fileURLToPath(new URL("../host/cli/main.js", import.meta.url));

function spec(packets: number): string {
  return [
    "seed: 5", `packets: ${packets}`, "rate: 2000", "mix: {tcp: 100}",
    "directions: {nodeport: 20, pod-ip: 10, pod-to-clusterip: 35, pod-to-outside: 35}",
    "clients: {count: 20000, cidrs: [52.0.0.0/11], zipf: 1.0}",
    "servers: {count: 2000, cidrs: [151.101.0.0/16], zipf: 1.0, tcp-ports: [443]}",
    "tcp: {request: 2000, response: 20000, exchanges: 10, rst: 0}", "",
  ].join("\n");
}

interface RunResult { pps: number; seconds: number; rssMiB: number; barriers?: number; packets: number; wall: number }

/** One CLI run; with `out`, everything is written there (summary.json, report.html, egress.pcapng). */
function replay(snapshot: string, pcap: string, out: string | undefined, workers: number, extra: string[]): RunResult {
  const t0 = performance.now();
  const args = [CLI, "replay", "--snapshot", snapshot, "--pcap", pcap, "--workers", String(workers), "--no-progress", ...(out ? ["--out", out] : []), ...extra];
  const r = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`replay failed (${r.status}): ${r.stderr}`);
  const rss = Number(r.stderr.trim().split("\n").pop());
  // the summary table's last line: "throughput: N packets/s (S s, W workers)"
  const m = /throughput: ([\d,]+) packets\/s \(([\d.]+) s/.exec(r.stdout);
  const pk = /input: pcap \S+: ([\d,]+) packets/.exec(r.stdout);
  if (!m || !pk) throw new Error(`replay bench: no throughput in the output:\n${r.stdout}`);
  const num = (x: string) => Number(x.replace(/,/g, ""));
  const barriers = out ? JSON.parse(readFileSync(join(out, "summary.json"), "utf8")).timing.barriers : undefined;
  return { pps: num(m[1]!), seconds: Number(m[2]), rssMiB: rss / 1024, barriers, packets: num(pk[1]!), wall };
}

/** One CLI run of generated traffic (`--generate spec`): the replay loop's packets/s and the fills' count from the output. */
function replayGenerated(snapshot: string, specFile: string, workers: number): number {
  const r = spawnSync(process.execPath, [CLI, "replay", "--snapshot", snapshot, "--generate", specFile, "--workers", String(workers), "--no-progress"], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`replay --generate failed (${r.status}): ${r.stderr}`);
  const m = /throughput: ([\d,]+) packets\/s/.exec(r.stdout);
  if (!m) throw new Error(`replay bench: no throughput in the output:\n${r.stdout}`);
  return Number(m[1]!.replace(/,/g, ""));
}

export async function benchReplay(): Promise<string> {
  const mb = Number(process.env.NODEPLANE_BENCH_REPLAY_MB ?? 1024);
  const dir = mkdtempSync(join(tmpdir(), "nodeplane-bench-replay-"));
  try {
    const node = buildDemoNode();
    const cl = clusterForNode(node, { services: 200, seed: 1 });
    const snapDir = join(dir, "node");
    mkdirSync(snapDir);
    for (const [k, v] of Object.entries(node.files)) writeFileSync(join(snapDir, k), v);
    writeFileSync(join(snapDir, "iptables-save.txt"), cl.iptables);
    // about 1,370 bytes a frame in this traffic (full segments and ACKs)
    const packets = Math.max(10000, Math.round((mb * 2 ** 20) / 1370));
    const snap = parseSpec(readNodeSpec(snapDir));
    const engine = await Engine.create({ seed: 0 });
    engine.load(snap, { hz: snap.hz });
    const pcap = join(dir, "traffic.pcapng");
    const t0 = performance.now();
    const rec = await recordGenerated(engine, createGenerator(parseTrafficSpec(spec(packets), "bench.yaml"), engine), pcap, 0);
    const recS = (performance.now() - t0) / 1000;
    const size = statSync(pcap).size;

    const rows: (string | number)[][] = [];
    // [name, workers, --out?, extra flags]
    const runs: [string, number, boolean, string[]][] = [
      ["summary only, 1 worker", 1, false, ["--no-verify-checksums"]],
      ["summary only, 2 workers", 2, false, ["--no-verify-checksums"]],
      ["summary only, 1 worker, checksums verified", 1, false, []],
      ["summary only, 2 workers, checksums verified", 2, false, []],
      ["--out (+ egress.pcapng, report), 1 worker", 1, true, ["--no-verify-checksums"]],
      ["--out (+ egress.pcapng, report), 2 workers", 2, true, ["--no-verify-checksums"]],
      ["--jsonl FILE (every packet's result), 1 worker", 1, false, ["--no-verify-checksums", "--jsonl", join(dir, "results.jsonl")]],
      ["--jsonl FILE (every packet's result), 2 workers", 2, false, ["--no-verify-checksums", "--jsonl", join(dir, "results.jsonl")]],
    ];
    const res: RunResult[] = [];
    for (const [name, w, withOut, extra] of runs) {
      const out = withOut ? join(dir, `out-${res.length}`) : undefined;
      const r = replay(snapDir, pcap, out, w, extra);
      res.push(r);
      if (r.packets !== rec.packets) throw new Error(`replay bench: ${r.packets} packets replayed of ${rec.packets}`);
      rows.push([name, r.packets.toLocaleString("en-US"), `${r.seconds.toFixed(2)} s`, fmtRate(r.pps).replace("/s", " pkt/s"),
        `${(r.pps / res[w === 1 ? res.length - 1 : res.length - 2]!.pps).toFixed(2)}x`, r.barriers ?? "-", `${r.rssMiB.toFixed(0)} MiB`, `${r.wall.toFixed(1)} s`]);
      if (out) rmSync(out, { recursive: true, force: true });
      rmSync(join(dir, "results.jsonl"), { force: true });
    }
    // the same traffic recorded with a snaplen (tcpdump -s 128: headers kept, payloads cut), the same
    // size on disk: ~8.6x the packets, and reading the file no longer the most of the work
    const snaplen = Number(process.env.NODEPLANE_BENCH_REPLAY_SNAPLEN ?? 128);
    const cutPcap = join(dir, "traffic-cut.pcapng");
    const cutEngine = await Engine.create({ seed: 0 });
    cutEngine.load(snap, { hz: snap.hz });
    // (an enhanced packet block: 32 bytes around the frame, padded to 4)
    const cutPackets = Math.max(10000, Math.round((mb * 2 ** 20) / (32 + ((snaplen + 3) & ~3))));
    const cutRec = await recordGenerated(cutEngine, createGenerator(parseTrafficSpec(spec(cutPackets), "bench.yaml"), cutEngine), cutPcap, 0, Infinity, { snaplen });
    const cutSize = statSync(cutPcap).size;
    const cutRuns: [string, number, string[]][] = [
      [`summary only, 1 worker, frames cut at ${snaplen} bytes (median of 3)`, 1, ["--no-verify-checksums"]],
      [`summary only, 2 workers, frames cut at ${snaplen} bytes`, 2, ["--no-verify-checksums"]],
    ];
    let cut1 = 0;
    for (const [name, w, extra] of cutRuns) {
      const rs = (w === 1 ? [0, 1, 2] : [0]).map(() => replay(snapDir, cutPcap, undefined, w, extra)).sort((a, b) => a.pps - b.pps);
      const r = rs[rs.length >> 1]!;
      if (r.packets !== cutRec.packets) throw new Error(`replay bench: ${r.packets} packets replayed of ${cutRec.packets}`);
      if (w === 1) cut1 = r.pps;
      rows.push([name, r.packets.toLocaleString("en-US"), `${r.seconds.toFixed(2)} s`, fmtRate(r.pps).replace("/s", " pkt/s"),
        `${(r.pps / cut1).toFixed(2)}x`, "-", `${Math.max(...rs.map((x) => x.rssMiB)).toFixed(0)} MiB`, `${r.wall.toFixed(1)} s`]);
    }
    rmSync(cutPcap, { force: true });
    // the capture decode thread (one worker, summary only): on and off, alternating, in this run
    const on: number[] = [], off: number[] = [];
    for (let round = 0; round < 3; round++) {
      on.push(replay(snapDir, pcap, undefined, 1, ["--no-verify-checksums", "--decode-thread", "on"]).pps);
      off.push(replay(snapDir, pcap, undefined, 1, ["--no-verify-checksums", "--decode-thread", "off"]).pps);
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
    const threadLine = `Decode thread (one worker, summary only, 3 alternating rounds, medians): ${fmtRate(median(on)).replace("/s", " pkt/s")} with it, ` +
      `${fmtRate(median(off)).replace("/s", " pkt/s")} with \`--decode-thread off\`: ${(median(on) / median(off)).toFixed(2)}x.`;
    // generated traffic (the same spec, 200,000 packets) with 1 and 2 workers: the generator's closed loop
    const genSpec = join(dir, "bench-gen.yaml");
    writeFileSync(genSpec, spec(200000));
    const g1: number[] = [], g2: number[] = [];
    for (let round = 0; round < 3; round++) {
      g1.push(replayGenerated(snapDir, genSpec, 1));
      g2.push(replayGenerated(snapDir, genSpec, 2));
    }
    const genLine = `Generated traffic (\`--generate\`, this spec, 200,000 packets, summary only, 3 alternating rounds, medians): ${fmtRate(median(g1)).replace("/s", " pkt/s")} with 1 worker, ` +
      `${fmtRate(median(g2)).replace("/s", " pkt/s")} with 2: ${(median(g2) / median(g1)).toFixed(2)}x (the generator's closed loop makes every fill a round trip between threads).`;
    // the main thread's share with workers: reading and decoding the capture, and the shard key
    const src = PcapSource.open(pcap, engine, { verifyChecksums: false, keepFrames: false, fastDecode: engine.core });
    const router = new ShardRouter(natTopology(engine.node.snapshot, engine.ruleset?.ruleset), 2);
    const { ptr, capacity } = engine.batchBuffer;
    let filled = 0;
    let reopen = false;
    let cur = src;
    const m = await measure([{
      name: "dispatch", batch: capacity, fn: () => {
        if (reopen) { cur.close(); cur = PcapSource.open(pcap, engine, { verifyChecksums: false, keepFrames: false, fastDecode: engine.core }); reopen = false; }
        const n = cur.fill(engine.mem.dv, ptr, capacity);
        if (n < capacity) reopen = true;
        for (let k = 0; k < n; k++) router.route(engine.mem.dv, ptr + k * abi.PKT_SIZE, true);
        filled += n;
      },
    }], { time: 3000, iterations: 64 });
    cur.close();
    const jitLine = await benchCompiledWalks(pcap, snap);
    return [
      `Capture: ${rec.packets.toLocaleString("en-US")} packets, ${(size / 2 ** 20).toFixed(0)} MiB pcapng (recorded in ${recS.toFixed(1)} s), demo EKS node with 2,620 iptables rules; ` +
        `mostly established TCP through NodePort (DNAT + MASQUERADE), pod IP, ClusterIP (DNAT) and SNATed internet connections. ` +
        `"summary only" prints the summary table; "--out" also writes summary.json, report.html and egress.pcapng (every packet as it leaves, translated).`,
      "",
      mdTable(["run", "packets", "replay loop", "packets/s", "vs 1 worker", "barriers", "peak RSS", "wall (incl. node load)"], rows),
      "",
      `The "cut" rows: the same traffic recorded with a snaplen of ${snaplen} bytes (tcpdump -s ${snaplen}), ${cutRec.packets.toLocaleString("en-US")} packets in ${(cutSize / 2 ** 20).toFixed(0)} MiB.`,
      "",
      threadLine,
      "",
      genLine,
      "",
      `Main-thread dispatch alone (read + decode the capture into descriptors with the core's decoder, as the CLI does, + shard key, no engine): ${fmtRate(m[0]!.itemsPerSec).replace("/s", " pkt/s")} (${m[0]!.nsPerItem.toFixed(0)} ns/packet).`,
      "",
      jitLine,
    ].join("\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The engine alone on the capture's first 262,144 packets (summary mode: no
 * rule tracing), with the rule walks compiled (host/netfilter/jit/) and
 * interpreted (`jit: false`), in one tinybench run: each sample is one pass
 * over those packets, in order, by a fresh engine (made beforehand, outside
 * the timed window), as a replay does them. The first engines' results are
 * checked to be identical.
 */
async function benchCompiledWalks(pcap: string, snap: ReturnType<typeof parseSpec>): Promise<string> {
  const SAMPLES = 6;
  const make = async (jit: boolean) => {
    const e = await Engine.create({ seed: 0, jit });
    e.load(snap, { hz: snap.hz });
    e.setTrace("off");
    return e;
  };
  const fresh = { on: [] as Engine[], off: [] as Engine[] };
  for (let k = 0; k < SAMPLES + 2; k++) { fresh.on.push(await make(true)); fresh.off.push(await make(false)); }
  const first = fresh.on[0]!;
  const cap = first.batchBuffer.capacity;
  const src = PcapSource.open(pcap, first, { verifyChecksums: false, keepFrames: false });
  const pool: Uint8Array[] = [];
  let packets = 0;
  while (packets < 262144) {
    const n = src.fill(first.mem.dv, first.batchBuffer.ptr, cap);
    if (n === 0) break;
    first.mem.refresh();
    pool.push(first.mem.u8.slice(first.batchBuffer.ptr, first.batchBuffer.ptr + n * abi.PKT_SIZE));
    packets += n;
  }
  src.close();
  /**
   * One pass over the pool as the replay makes it (EngineRunner: each packet's
   * random choices keyed by its input index, as when the capture was
   * recorded, so the replies in it find their connections); with `digest`,
   * a hash of every packet's verdict, rules traversed and source after NAT.
   */
  const pass = (e: Engine, digest = false): number => {
    let h = 0;
    const runner = new EngineRunner(e, 0);
    const sink = { segment() {} };
    let first = 0;
    for (const img of pool) {
      const n = img.length / abi.PKT_SIZE;
      e.mem.refresh();
      e.mem.u8.set(img, e.batchBuffer.ptr);
      runner.run(n, first, sink);
      first += n;
      if (!digest) continue;
      e.mem.refresh();
      for (let k = 0; k < n; k++) {
        const p = e.batchBuffer.ptr + k * abi.PKT_SIZE;
        h = (Math.imul(h, 31) + e.mem.dv.getUint8(p + abi.PKT_VERDICT) * 65599 + e.mem.dv.getUint32(p + abi.PKT_NF_RULES, true) + e.mem.dv.getUint32(p + abi.PKT_OUT_SRC, true)) | 0;
      }
    }
    return h;
  };
  const a = fresh.on.pop()!, b = fresh.off.pop()!;
  if (pass(a, true) !== pass(b, true) || a.iptablesSave() !== b.iptablesSave()) throw new Error("replay bench: compiled and interpreted rule walks disagree");
  const walks = "walks" in a.ruleset!.stats.jit ? a.ruleset!.stats.jit.walks.join(", ") : "none";
  const task = (name: string, list: Engine[]) => {
    let e: Engine | undefined;
    return {
      name, batch: packets,
      beforeEach: () => { e = list.pop(); if (!e) throw new Error("replay bench: more samples than fresh engines"); },
      fn: () => { pass(e!); },
    };
  };
  const r = await measure([task("compiled", fresh.on), task("interpreted", fresh.off)], { time: 1, warmupTime: 1, iterations: SAMPLES, warmupIterations: 1 });
  const [c, i] = r as [typeof r[0], typeof r[0]];
  return `Engine alone on this capture (its first ${packets.toLocaleString("en-US")} packets per pass, a fresh engine each, no rule tracing, medians of ${SAMPLES} passes in one run): ` +
    `${c.nsPerItem.toFixed(0)} ns/packet with compiled rule walks (${walks}), ${i.nsPerItem.toFixed(0)} ns/packet interpreted (\`jit: false\`): ${(i.nsPerItem / c.nsPerItem).toFixed(2)}x.`;
}
