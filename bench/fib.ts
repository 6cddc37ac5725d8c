/**
 * Route lookups with policy routing (the rules walk, the table lookup, alias
 * selection and backtracking: fib_lookup as input routing calls it), WASM
 * core against the idiomatic TypeScript engine of bench/ts-fib.ts, same run.
 */
import { Engine } from "../host/engine.js";
import { parseSnapshotFiles } from "../host/snapshot/read.js";
import { buildEksNode } from "../host/scenario/eks-node.js";
import { TsFib, type TsFlow } from "./ts-fib.js";
import { internetLikePrefixes, prng } from "./prefixes.js";
import { syntheticSnapshot } from "./synthetic-node.js";
import type { NodeSnapshot } from "../host/model/node.js";
import { measure, mdTable, fmtRate } from "./util.js";

const BATCH = 16384;

interface Flow { iif: string; src: number; dst: number; mark: number }

function eksFlows(n: number): { snap: NodeSnapshot; flows: Flow[] } {
  const node = buildEksNode({ enis: 3, podsPerEni: [10, 9, 9], seed: 11 });
  const snap = parseSnapshotFiles(node.files, "bench EKS node");
  const rnd = prng(5);
  const ip = (s: string) => s.split(".").reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
  const pub = () => ((52 << 24) | Math.floor(rnd() * 16777216)) >>> 0;
  const flows: Flow[] = [];
  for (let i = 0; i < n; i++) {
    const p = node.pods[Math.floor(rnd() * node.pods.length)];
    const k = rnd();
    if (k < 0.4) flows.push({ iif: p.veth, src: ip(p.ip), dst: pub(), mark: 0 }); // pod egress
    else if (k < 0.7) flows.push({ iif: "eth0", src: pub(), dst: ip(p.ip), mark: 0 }); // NLB -> pod
    else if (k < 0.85) flows.push({ iif: p.veth, src: ip(p.ip), dst: ip(node.pods[Math.floor(rnd() * node.pods.length)].ip), mark: 0 });
    else flows.push({ iif: "eth0", src: pub(), dst: ip(node.nodeIp), mark: 0x80 }); // NodePort
  }
  return { snap, flows };
}

function bigTableFlows(n: number): { snap: NodeSnapshot; flows: Flow[] } {
  const snap = syntheticSnapshot(internetLikePrefixes(1000000));
  const rnd = prng(6);
  const flows: Flow[] = [];
  for (let i = 0; i < n; i++) flows.push({ iif: "eth0", src: 0x0a000063, dst: (((1 + Math.floor(rnd() * 222)) << 24) | Math.floor(rnd() * 16777216)) >>> 0, mark: 0 });
  return { snap, flows };
}

export async function benchFib(): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const [label, make] of [["EKS node, 3 ENIs, 28 pods, 58 rules", eksFlows], ["1,000,000 prefixes, default rules, random dsts", bigTableFlows]] as const) {
    const { snap, flows } = make(BATCH * 16);
    const engine = await Engine.create();
    const node = engine.load(snap);
    const ts = new TsFib(snap);
    const core = engine.core;
    const buf = core.alloc(flows.length * 16);
    const out = core.alloc(BATCH * 8);
    engine.mem.refresh();
    const u32 = engine.mem.u32;
    flows.forEach((f, i) => {
      const b = (buf >>> 2) + i * 4;
      u32[b] = node.slotByName.get(f.iif)!; u32[b + 1] = f.src; u32[b + 2] = f.dst; u32[b + 3] = f.mark;
    });
    const tsFlows: TsFlow[] = flows.map((f) => ({ iif: f.iif, mark: f.mark, saddr: f.src, daddr: f.dst, tos: 0, proto: 17, sport: 0, dport: 0, uid: 0 }));
    // correctness before speed: the same route (or error) for every flow of the first batch
    core.fib_lookup_batch(buf, BATCH, out);
    engine.mem.refresh();
    for (let i = 0; i < BATCH; i++) {
      const r = ts.lookup(tsFlows[i]);
      const w = engine.mem.u32[(out >>> 2) + 2 * i];
      const we = engine.mem.i32[(out >>> 2) + 2 * i + 1];
      const tIdx = r.route ? r.route.index : 0xffffffff;
      if (w !== tIdx || we !== r.err) throw new Error(`fib mismatch on flow ${i}: wasm route ${w} err ${we}, ts route ${tIdx} err ${r.err}`);
    }
    const slices = flows.length / BATCH;
    let wOff = 0;
    let tOff = 0;
    let sink = 0;
    const res = await measure([
      { name: `wasm ${label}`, batch: BATCH, fn: () => { core.fib_lookup_batch(buf + wOff * BATCH * 16, BATCH, out); wOff = (wOff + 1) % slices; } },
      { name: `ts ${label}`, batch: BATCH, fn: () => { const base = tOff * BATCH; for (let i = 0; i < BATCH; i++) sink += ts.lookup(tsFlows[base + i]).err; tOff = (tOff + 1) % slices; } },
    ]);
    if (sink === 42) console.log("");
    rows.push([label, fmtRate(res[0].itemsPerSec), `${res[0].nsPerItem.toFixed(1)} ns`, fmtRate(res[1].itemsPerSec), `${res[1].nsPerItem.toFixed(1)} ns`, `${(res[0].itemsPerSec / res[1].itemsPerSec).toFixed(2)}x`]);
  }
  return mdTable(["route lookups (fib_lookup)", "WASM", "WASM/lookup", "TS", "TS/lookup", "WASM/TS"], rows);
}
