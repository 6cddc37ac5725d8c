/**
 * The conntrack bench's established packets in a plain loop, for comparing
 * core builds that differ in one thing (one process per build, run
 * alternately: the tables are too big to share a cache in one process).
 * Prints the mean, median and 10th percentile of rounds of 50 batches.
 *
 *   node dist/bench/ct-loop.js [connections] [seconds] [hot]
 *
 * `hot`: the packets pick among the first `hot` connections only (their
 * lines stay in cache) instead of all of them. Environment: NODEPLANE_WASM,
 * a core build to load instead of build/core.wasm; NODEPLANE_BUCKETS,
 * nf_conntrack_buckets instead of the bench's connections / 2;
 * NODEPLANE_POPULARITY=zipf, connections picked by Zipf popularity (rank r
 * with weight 1/r, ranks spread over the table) instead of uniformly.
 */
import { existsSync, readFileSync } from "node:fs";
import * as abi from "../host/core/abi.js";
import { establish, establishedBatches, establishedPackets, makeScenario, writeDescriptor, type Popularity } from "./ct-scenario.js";

/** A usage error: said on stderr, exit status 2 (no stack trace). */
function fail(message: string): never {
  process.stderr.write(`ct-loop: ${message}\n`);
  process.exit(2);
}

const conns = Number(process.argv[2] ?? 65536);
const seconds = Number(process.argv[3] ?? 4);
const hot = Number(process.argv[4] ?? 0);
for (const [name, v] of [["connections", conns], ["seconds", seconds], ["hot", hot]] as const) {
  if (!Number.isFinite(v) || v < 0) fail(`${name} must be a number >= 0 (got ${String(v)})`);
}
const wasm = process.env.NODEPLANE_WASM;
if (wasm !== undefined && !existsSync(wasm)) fail(`NODEPLANE_WASM: no such file ${wasm}`);
const buckets = process.env.NODEPLANE_BUCKETS;
if (buckets !== undefined && !(Number.isInteger(Number(buckets)) && Number(buckets) >= 1)) {
  fail(`NODEPLANE_BUCKETS must be a whole number >= 1 (got ${JSON.stringify(buckets)})`);
}
const popularity = (process.env.NODEPLANE_POPULARITY ?? "uniform") as Popularity;
if (popularity !== "uniform" && popularity !== "zipf") fail(`NODEPLANE_POPULARITY must be uniform or zipf (got ${String(popularity)})`);
const s = await makeScenario(conns, {
  ...(wasm ? { module: await WebAssembly.compile(readFileSync(wasm)) } : {}),
  ...(buckets ? { buckets: Number(buckets) } : {}),
});
const { notForwarded } = establish(s);
if (notForwarded !== 0) throw new Error(`ct-loop: ${notForwarded} setup packets were not forwarded`);
const { ptr, capacity } = s.engine.batchBuffer;
const batches = Math.max(64, Math.ceil(conns / capacity));
let pool: Uint8Array[];
if (hot > 0) {
  const pk = establishedPackets({ ...s, conns: Math.min(hot, conns) }, batches * capacity, 17, popularity);
  const dv = new DataView(new ArrayBuffer(capacity * abi.PKT_SIZE));
  pool = [];
  for (let b = 0; b < batches; b++) {
    for (let k = 0; k < capacity; k++) writeDescriptor(dv, 0, k, pk[b * capacity + k]!);
    pool.push(new Uint8Array(dv.buffer.slice(0)));
  }
} else {
  pool = establishedBatches(s, batches, 17, popularity);
}
const rounds: number[] = [];
let next = 0, total = 0, packets = 0;
const end = performance.now() + seconds * 1000;
while (performance.now() < end) {
  let t = 0;
  for (let r = 0; r < 50; r++) {
    s.engine.mem.refresh();
    new Uint8Array(s.engine.mem.dv.buffer, ptr, capacity * abi.PKT_SIZE).set(pool[next++ % pool.length]!);
    const a = performance.now();
    s.engine.core.process_batch(ptr, capacity);
    t += performance.now() - a;
  }
  total += t;
  packets += 50 * capacity;
  rounds.push((t * 1e6) / (50 * capacity));
}
rounds.sort((a, b) => a - b);
const at = (q: number) => rounds[Math.min(rounds.length - 1, Math.floor(rounds.length * q))]!.toFixed(1);
console.log(`connections ${conns} hot ${hot || "all"} ${popularity}${buckets ? ` buckets ${buckets}` : ""}: mean ${((total * 1e6) / packets).toFixed(1)}, median ${at(0.5)}, p10 ${at(0.1)} ns a packet`);
