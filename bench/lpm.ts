/**
 * Route lookups per second at 1k, 100k and 1M prefixes, for random and for
 * hot (cache-resident) destinations: the WASM core's trie against the same
 * structure in plain TypeScript, measured side by side.
 */
import { Engine } from "../host/engine.js";
import { TsLpm } from "./ts-lpm.js";
import { internetLikePrefixes, randomDestinations, hotDestinations } from "./prefixes.js";
import { syntheticSnapshot } from "./synthetic-node.js";
import { measure, mdTable, fmtRate, type Measured } from "./util.js";

const BATCH = 65536;
/** Random destinations rotate through this many addresses (64 MiB), far beyond the caches. */
const RANDOM_POOL = 1 << 24;

export async function benchLpm(sizes = [1000, 100000, 1000000]): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const n of sizes) {
    const prefixes = internetLikePrefixes(n);
    const engine = await Engine.create();
    const node = engine.load(syntheticSnapshot(prefixes));
    const slot = node.tableIds.indexOf(254);
    const ts = TsLpm.build(prefixes);
    const core = engine.core;
    const sets: [string, Uint32Array][] = [["random", randomDestinations(RANDOM_POOL)], ["hot (1024 dsts)", hotDestinations(BATCH, 1024)]];
    const out = core.alloc(BATCH * 4);
    for (const [label, dsts] of sets) {
      const addrs = core.alloc(dsts.length * 4);
      engine.mem.refresh();
      engine.mem.u32.set(dsts, addrs >>> 2);
      // correctness before speed: both implementations agree on every address
      core.lpm_batch(slot, addrs, BATCH, out);
      engine.mem.refresh();
      const got = engine.mem.u32.subarray(out >>> 2, (out >>> 2) + BATCH);
      // (the check covers the first BATCH addresses of the set)
      for (let i = 0; i < BATCH; i++) {
        const lf = ts.lookup(dsts[i]); const w = lf === 0 ? -1 : ts.valueOf(lf);
        const g = got[i] === 0 ? -1 : core.table_leaf_route_index(slot, got[i]);
        // prefixes beyond n are the two node routes (10.0.0.0/24, local): never hit by 1..223 randoms except 10/8
        if (g !== w && !(g >= n)) throw new Error(`LPM mismatch at ${dsts[i]}: wasm ${g} ts ${w}`);
      }
      // each call looks up the next BATCH addresses of the set (random: fresh, cold addresses every call)
      const slices = Math.max(1, dsts.length / BATCH);
      let wOff = 0;
      let tOff = 0;
      let sink = 0;
      const res: Measured[] = await measure([
        { name: `wasm ${n} ${label}`, batch: BATCH, fn: () => { core.lpm_batch(slot, addrs + wOff * BATCH * 4, BATCH, out); wOff = (wOff + 1) % slices; } },
        { name: `wasm-simple ${n} ${label}`, batch: BATCH, fn: () => { core.lpm_batch_simple(slot, addrs + wOff * BATCH * 4, BATCH, out); wOff = (wOff + 1) % slices; } },
        { name: `ts ${n} ${label}`, batch: BATCH, fn: () => { let s = 0; const base = tOff * BATCH; for (let i = 0; i < BATCH; i++) s += ts.lookup(dsts[base + i]); sink += s; tOff = (tOff + 1) % slices; } },
      ]);
      if (sink === 42) console.log("");
      core.free(addrs);
      rows.push([n.toLocaleString("en-US"), label, fmtRate(res[0].itemsPerSec), `${res[0].nsPerItem.toFixed(1)} ns`, fmtRate(res[1].itemsPerSec), fmtRate(res[2].itemsPerSec), `${res[2].nsPerItem.toFixed(1)} ns`, `${(res[0].itemsPerSec / res[2].itemsPerSec).toFixed(2)}x`]);
    }
    rows.push([n.toLocaleString("en-US"), "memory (main table)", `${(node.fibBytes / 1048576).toFixed(1)} MiB`, "", "", "", "", ""]);
  }
  return mdTable(["prefixes", "destinations", "WASM lookups", "WASM/lookup", "WASM, not interleaved", "TS lookups", "TS/lookup", "WASM/TS"], rows);
}
