/**
 * An independent second opinion on one headline number: the WASM trie's
 * random-destination lookup rate, measured by benchmark.js instead of
 * tinybench. benchmark.js is archived upstream; it is used here and nowhere
 * else, only to check that the tinybench harness is not flattering us.
 */
import Benchmark from "benchmark";
import { Engine } from "../host/engine.js";
import { internetLikePrefixes, randomDestinations } from "./prefixes.js";
import { syntheticSnapshot } from "./synthetic-node.js";
import { measure, mdTable, fmtRate } from "./util.js";

const BATCH = 65536;

export async function crossCheckLpm(): Promise<string> {
  const engine = await Engine.create();
  const node = engine.load(syntheticSnapshot(internetLikePrefixes(1000000)));
  const slot = node.tableIds.indexOf(254);
  const core = engine.core;
  const dsts = randomDestinations(1 << 24);
  const addrs = core.alloc(dsts.length * 4);
  const out = core.alloc(BATCH * 4);
  engine.mem.refresh();
  engine.mem.u32.set(dsts, addrs >>> 2);
  const slices = dsts.length / BATCH;
  let off = 0;
  const step = () => { core.lpm_batch(slot, addrs + off * BATCH * 4, BATCH, out); off = (off + 1) % slices; };
  const [tb] = await measure([{ name: "tinybench", batch: BATCH, fn: step }]);
  const hz = await new Promise<number>((resolve) => {
    new Benchmark("benchmark.js", step, { minSamples: 30, maxTime: 3 }).on("complete", function (this: Benchmark) { resolve(this.hz); }).run();
  });
  return mdTable(["harness", "WASM lookups, 1M prefixes, random dsts"], [["tinybench (median)", fmtRate(tb.itemsPerSec)], ["benchmark.js (mean)", fmtRate(hz * BATCH)]]);
}
