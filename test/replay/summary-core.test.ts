/**
 * The replay's per-packet bookkeeping in the core (assembly/replay/summary.ts
 * and talkers.ts) gives exactly what the JavaScript it replaced gave
 * (reference-summary.ts, the old code kept as the reference model): the
 * same CollectorData, the same top talkers, counts, bytes and error bounds,
 * on a JSONL workload with drops, node replies (TCP resets, ICMP errors and
 * echo replies), NAT and local traffic, on a recorded capture and on
 * closed-loop generated traffic; the top-talker summaries also on streams
 * of many distinct addresses with ties, where the batch decrement runs
 * over and over. And `--workers 2` sums up to the one-engine summary.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as abi from "../../host/core/abi.js";
import { Engine } from "../../host/engine.js";
import { Collector, type CollectorData } from "../../host/report/collect.js";
import { TopTalkers } from "../../host/report/talkers.js";
import { EngineRunner } from "../../host/replay/runner.js";
import { JsonlSource, type PacketSource } from "../../host/replay/sources.js";
import { GeneratorSource } from "../../host/replay/generator-source.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import { readNodeSpec, parseSpec } from "../../host/replay/setup.js";
import { recordGenerated } from "../../host/replay/record.js";
import { createGenerator, parseTrafficSpec } from "../../host/traffic/index.js";
import { generateWorkload } from "../../host/scenario/workload.js";
import type { PacketInput } from "../../host/packet/input.js";
import { emptyCollector, referenceCollect, referenceTalk, ReferenceTopTalkers } from "./reference-summary.js";
import { mulberry32 } from "../../host/util/prng.js";
import { writeDemoSnapshots } from "./demo-snapshots.js";

let tmp: string;
let demo: string; // the demo EKS node (200 services), redirects on
let hardened: string; // send_redirects = 0: one engine and two workers give the same results (README)
let jsonl: string;
let pcap: string;
let genSpec: string;

const SPEC = (seed: number, packets: number, clients: number, tcp = "{request: 800, response: 4000, exchanges: 2}") => [
  `seed: ${seed}`, `packets: ${packets}`, "rate: 3000", "mix: {tcp: 80, udp: 15, icmp: 5}",
  "directions: {nodeport: 15, loadbalancer: 10, pod-ip: 5, pod-to-pod: 5, pod-to-clusterip: 35, pod-to-outside: 30}",
  `clients: {count: ${clients}, cidrs: [52.0.0.0/11], zipf: 0.3}`,
  "servers: {count: 200, cidrs: [151.101.0.0/16], zipf: 1.1, tcp-ports: [443], udp-ports: [53]}",
  `tcp: ${tcp}`, "",
].join("\n");

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "nodeplane-summary-"));
  const snaps = writeDemoSnapshots(tmp);
  ({ demo, hardened } = snaps);
  const node = snaps.node;
  const cl = snaps.cluster;
  // the workload (martians, TTL 1, pings, DF too big, NAT, kubelet's local traffic), then TCP and UDP to closed ports of the node
  const work: PacketInput[] = generateWorkload(node, 12000, 7, 50000, cl.frontends);
  let t = work[work.length - 1]!.t ?? 0;
  const flags = ["S", "A", "FA", "PA", "SA", "R"];
  for (let i = 0; i < 300; i++) {
    t += 0.005; // apart: the ICMP rate limits, global and per peer, never bite (README: the one difference workers make)
    work.push(i % 3 === 2
      ? { t, iif: "eth0", src: `52.9.${i >> 8}.${i & 255}`, dst: node.nodeIp, proto: "udp", sport: 30000 + i, dport: 7 + (i % 5), len: 60 } as PacketInput
      : { t, iif: "eth0", src: `52.8.${i >> 8}.${i & 255}`, dst: node.nodeIp, proto: "tcp", sport: 40000 + i, dport: 1 + (i % 7), flags: flags[i % flags.length], len: 40 } as PacketInput);
  }
  jsonl = join(tmp, "w.jsonl");
  writeFileSync(jsonl, work.map((p) => JSON.stringify(p)).join("\n") + "\n");
  // a capture of generated traffic, recorded through the node with the seed the replays use
  pcap = join(tmp, "t.pcapng");
  const snap = parseSpec(readNodeSpec(hardened));
  const engine = await Engine.create({ seed: 0 });
  engine.load(snap, { hz: snap.hz });
  await recordGenerated(engine, createGenerator(parseTrafficSpec(SPEC(5, 12000, 3000), "capture.yaml"), engine), pcap, 0);
  // many clients: more than 2,048 distinct sources, so the summaries decrement
  genSpec = join(tmp, "gen.yaml");
  writeFileSync(genSpec, SPEC(9, 60000, 40000, "{request: 50, response: 100, exchanges: 1}"));
}, 120_000);

afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

/** Counters of the talker summaries compared: the replay's 2,048, and 64 (decrements on any input). */
const COUNTERS = [2048, 64];

interface Both {
  core: CollectorData;
  reference: CollectorData;
  talkers: { counters: number; core: TopTalkers[]; reference: ReferenceTopTalkers[] }[];
}

/**
 * Replays a source as runSingle does (talkers before the engine, the
 * collector after it), counting every batch both in the core and with the
 * reference model.
 */
async function replayBoth(dir: string, seed: number, makeSource: (e: Engine) => PacketSource | Promise<PacketSource>): Promise<Both> {
  const snap = parseSpec(readNodeSpec(dir));
  const engine = await Engine.create({ seed, batchSize: 512 });
  engine.load(snap, { hz: snap.hz });
  engine.setTrace("off");
  const col = new Collector(engine);
  const talkers = COUNTERS.map((c) => ({ counters: c, core: [new TopTalkers(engine, c), new TopTalkers(engine, c)], reference: [new ReferenceTopTalkers(c), new ReferenceTopTalkers(c)] }));
  const source = await makeSource(engine);
  const runner = new EngineRunner(engine, seed);
  const reference = emptyCollector();
  let next = 0;
  try {
    for (;;) {
      const { ptr, capacity } = engine.batchBuffer;
      const n = source.fill(engine.mem.dv, ptr, capacity);
      if (n === 0) break;
      for (const t of talkers) {
        referenceTalk(t.reference[0]!, t.reference[1]!, engine.mem.dv, ptr, n);
        TopTalkers.addBatch(t.core[0]!, t.core[1]!, ptr, n);
      }
      runner.run(n, next, {
        segment(dv, base, k0, k1, replyBase) {
          referenceCollect(reference, dv, base, k0, k1, replyBase);
          col.collect(base, k0, k1, replyBase);
        },
      });
      next += n;
      source.processed?.(engine.mem.dv, ptr, n);
    }
  } finally {
    source.close();
  }
  return { core: col.read(), reference, talkers };
}

function expectSameTalkers(b: Both): void {
  for (const t of b.talkers) {
    for (const side of [0, 1]) {
      const c = t.core[side]!, r = t.reference[side]!;
      expect(c.top(Infinity), `${t.counters} counters, side ${side}`).toEqual(r.top(Infinity));
      expect(c.top(20)).toEqual(r.top(20));
      expect(c.errorBound).toBe(r.errorBound);
      expect(c.total).toBe(r.total);
    }
  }
}

const sum = (a: number[]) => a.reduce((x, y) => x + (y ?? 0), 0);

describe("the summary record's layout (abi.ts section 10)", () => {
  it("its parts follow each other without overlapping, and hold every drop reason", () => {
    const parts: [number, number][] = [
      [abi.SUM_PACKETS, 8], [abi.SUM_BYTES, 8], [abi.SUM_RULES_TRAVERSED, 8], [abi.SUM_REPLIES, 8], [abi.SUM_LOCAL_OUT, 8], [abi.SUM_OIF_END, 8],
      [abi.SUM_VERDICTS, 8 * abi.SUM_VERDICT_SLOTS], [abi.SUM_REPLY_VERDICTS, 8 * abi.SUM_VERDICT_SLOTS], [abi.SUM_NAT_OPS, 8 * 5],
      [abi.SUM_DROPS, 8 * abi.SUM_DROP_SLOTS], [abi.SUM_CTINFO, 8 * 256], [abi.SUM_KINDS, abi.SUM_KIND_SLOTS * abi.SUM_KIND_SIZE],
      [abi.SUM_OIF_PACKETS, 8 * abi.SUM_OIF_SLOTS], [abi.SUM_OIF_BYTES, 8 * abi.SUM_OIF_SLOTS], [abi.SUM_SEEN, 8 * abi.SUM_SEEN_SLOTS],
    ];
    for (let i = 1; i < parts.length; i++) expect(parts[i]![0], `part ${i}`).toBeGreaterThanOrEqual(parts[i - 1]![0] + parts[i - 1]![1]);
    const last = parts[parts.length - 1]!;
    expect(last[0] + last[1]).toBe(abi.SUM_SIZE);
    for (const [at] of parts) expect(at % 8).toBe(0);
    expect(abi.DROP_MAX).toBeLessThanOrEqual(abi.SUM_DROP_SLOTS);
    expect(abi.VERDICT_DROP).toBeLessThan(abi.SUM_VERDICT_SLOTS);
    expect(abi.SEEN_OTHER_HEADER).toBeLessThan(abi.SUM_SEEN_SLOTS);
    expect(abi.SUM_KIND_SLOTS).toBe(1 << 10); // the kind hash keeps 10 bits (>>> 22)
  });
});

describe("the core's replay summary = the JavaScript collector and top talkers", () => {
  it("JSONL: drops, node replies (TCP resets, ICMP errors, echo replies), NAT, local delivery and local traffic", async () => {
    const b = await replayBoth(demo, 3, (e) => new JsonlSource(jsonl, e.devices, () => {}));
    // the input has all of it
    const r = b.reference;
    expect(r.packets).toBe(12300);
    expect(r.verdicts[3]).toBeGreaterThan(100);
    expect(r.verdicts[2]).toBeGreaterThan(100);
    expect(Object.keys(r.drops.filter((n) => n > 0)).length).toBeGreaterThan(2);
    expect(r.replies).toBeGreaterThan(100);
    expect(Object.keys(r.replyKinds).some((k) => k.startsWith("tcp "))).toBe(true);
    expect(Object.keys(r.replyKinds).filter((k) => k.startsWith("icmp ")).length).toBeGreaterThan(2);
    expect(r.replyVerdicts[1]).toBeGreaterThan(0);
    expect(sum(r.natOps)).toBeGreaterThan(100);
    expect(r.localOut).toBeGreaterThan(100);
    expect(r.rulesTraversed).toBeGreaterThan(r.packets);
    expect(r.oifPackets.filter((n) => n > 0).length).toBeGreaterThan(2);
    // the same, holes of the per-device arrays included
    expect(b.core).toStrictEqual(r);
    expectSameTalkers(b);
    expect(b.talkers[1]!.reference[0]!.errorBound).toBeGreaterThan(0);
  }, 60_000);

  it("a recorded capture", async () => {
    const b = await replayBoth(hardened, 0, (e) => PcapSource.open(pcap, e, { verifyChecksums: true, keepFrames: false }));
    expect(b.reference.packets).toBeGreaterThan(10000);
    expect(sum(b.reference.natOps)).toBeGreaterThan(100);
    expect(b.core).toStrictEqual(b.reference);
    expectSameTalkers(b);
  }, 60_000);

  it("closed-loop generated traffic from 40,000 clients: more than 2,048 sources, the 2,048-counter summaries decrement", async () => {
    const b = await replayBoth(demo, 1, (e) => GeneratorSource.create(genSpec, e));
    expect(b.reference.packets).toBe(60000);
    expect(b.core).toStrictEqual(b.reference);
    expectSameTalkers(b);
    // by source, where the clients are
    expect(b.talkers[0]!.reference[0]!.errorBound).toBeGreaterThan(0);
  }, 60_000);
});

describe("top talkers: the core's summary = the JavaScript one", () => {
  /** A seeded PRNG for the streams. */
  const prng = mulberry32;

  /** Feeds `stream` ([address, bytes] pairs) to both; compares everything they report. */
  async function compare(counters: number, stream: Iterable<[number, number]>): Promise<{ errorBound: number; listed: number }> {
    const engine = await Engine.create({ seed: 1 });
    const core = new TopTalkers(engine, counters), ref = new ReferenceTopTalkers(counters);
    let i = 0;
    for (const [addr, bytes] of stream) {
      core.add(addr, bytes);
      ref.add(addr, bytes);
      // now and then mid-stream too
      if (++i % 7919 === 0) expect(core.top(Infinity)).toEqual(ref.top(Infinity));
    }
    const all = ref.top(Infinity);
    expect(core.top(Infinity)).toEqual(all);
    expect(core.top(20)).toEqual(ref.top(20));
    expect(core.errorBound).toBe(ref.errorBound);
    expect(core.total).toBe(ref.total);
    return { errorBound: ref.errorBound, listed: all.length };
  }

  it("5,000 addresses round-robin (every count tied) and 100,000 distinct ones", async () => {
    function* roundRobin(): Generator<[number, number]> {
      for (let r = 0; r < 7; r++) for (let a = 0; a < 5000; a++) yield [(0x0a000000 + a) >>> 0, 60 + (a % 1400)];
    }
    const rr = await compare(2048, roundRobin());
    expect(rr.errorBound).toBeGreaterThan(0);
    function* distinct(): Generator<[number, number]> {
      for (let a = 0; a < 100000; a++) yield [Math.imul(a, 0x9e3779b1) >>> 0, 40 + (a % 9000)];
    }
    expect((await compare(2048, distinct())).errorBound).toBeGreaterThan(10);
  });

  it("skewed streams with heavy hitters, ties among them, and a long tail; 2,048 and 8 counters", async () => {
    function* skewed(seed: number, n: number): Generator<[number, number]> {
      const rnd = prng(seed);
      for (let i = 0; i < n; i++) {
        const u = rnd();
        // 8 heavy hitters taking turns (tied counts), a Zipf-like middle, a uniform tail over 2^20 addresses
        const addr = u < 0.3 ? 0xc0a80000 + (i & 7) : u < 0.7 ? 0x34000000 + Math.floor(1 / (rnd() + 1e-4)) : 0x97650000 + Math.floor(rnd() * (1 << 20));
        yield [addr >>> 0, 40 + Math.floor(rnd() * 9000)];
      }
    }
    const a = await compare(2048, skewed(1, 200000));
    expect(a.errorBound).toBeGreaterThan(0);
    expect(a.listed).toBeGreaterThan(1000);
    const b = await compare(8, skewed(2, 30000));
    expect(b.errorBound).toBeGreaterThan(100);
  });
});

describe("--workers 2: the same summary as one engine", () => {
  it("collector and top talkers of the JSONL workload (send_redirects = 0)", async () => {
    // from dist/ (npm run build): the worker threads run dist/host/replay/worker.js
    const { runReplay } = await import("../../dist/host/replay/run.js") as typeof import("../../host/replay/run.js");
    const { JsonlSource: DistJsonl } = await import("../../dist/host/replay/sources.js") as typeof import("../../host/replay/sources.js");
    const run = (workers: number) => runReplay({
      spec: readNodeSpec(hardened), seed: 5, batch: 512, workers, round: 512,
      source: (e) => new DistJsonl(jsonl, e.devices, () => {}),
    });
    const one = await run(1), two = await run(2);
    expect(one.collector.packets).toBe(12300);
    expect(two.collector).toStrictEqual(one.collector);
    // and both the reference model's
    const ref = await replayBoth(hardened, 5, (e) => new JsonlSource(jsonl, e.devices, () => {}));
    expect(one.collector).toStrictEqual(ref.reference);
    for (const [k, side] of [["bySource", 0], ["byDestination", 1]] as const) {
      expect(two[k].top(Infinity)).toEqual(one[k].top(Infinity));
      expect(two[k].errorBound).toBe(one[k].errorBound);
      expect(one[k].top(Infinity)).toEqual(ref.talkers[0]!.reference[side]!.top(Infinity));
    }
  }, 60_000);
});

describe("the input's bytes after a target changed a packet's length", () => {
  it("an MSS option TCPMSS inserted counts in the egress device's bytes, not in the input's", async () => {
    const { parseSnapshotFiles } = await import("../../host/snapshot/read.js");
    const { eksFixtureFiles } = await import("../fixtures/eks-fixture.js");
    const snap = parseSnapshotFiles(eksFixtureFiles(), "eks-node-summary");
    const engine = await Engine.create({ seed: 1 });
    engine.load(snap, { hz: snap.hz });
    engine.loadRuleset(["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
      ":POSTROUTING ACCEPT [0:0]", "-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200", "COMMIT", ""].join("\n"), "rules");
    const syn = (mss?: number) => JSON.stringify({ t: 0, iif: "eth0", src: "10.0.0.77", dst: "10.0.1.33", proto: "tcp", sport: 1000, dport: 80, flags: "S", ...(mss ? { mss, doff: 6, len: 44 } : { len: 40 }) });
    const file = join(tmp, "mss.jsonl");
    writeFileSync(file, [syn(), syn(1460)].join("\n") + "\n");
    const col = new Collector(engine);
    const reference = emptyCollector();
    const source = new JsonlSource(file, engine.devices, () => {});
    const runner = new EngineRunner(engine, 1);
    try {
      const { ptr, capacity } = engine.batchBuffer;
      const n = source.fill(engine.mem.dv, ptr, capacity);
      expect(n).toBe(2);
      runner.run(n, 0, {
        segment(dv, base, k0, k1, replyBase) {
          referenceCollect(reference, dv, base, k0, k1, replyBase);
          col.collect(base, k0, k1, replyBase);
        },
      });
    } finally {
      source.close();
    }
    const c = col.read();
    // 40 + 44 bytes arrived; 44 + 44 left by the pod's device (the bare SYN got a 4-byte option)
    expect(c.bytes).toBe(84);
    expect(sum(c.oifBytes)).toBe(88);
    expect(c).toStrictEqual(reference);
  });
});
