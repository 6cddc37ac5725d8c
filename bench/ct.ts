/**
 * Conntrack and NAT (`npm run bench -- ct`): the established-flow path
 * (conntrack hit, TCP window tracking, NAT rewrite, routing, forwarding) at
 * 1k, 64k and 1M concurrent connections, new connections per second, and
 * memory per connection, WASM core against the plain-TypeScript
 * implementation of bench/ts-ct.ts in the same run. Scenario:
 * bench/ct-scenario.ts (NodePort DNAT on an EKS node, both directions).
 *
 * The measured batches are copied into the batch buffer before each timed
 * call (tinybench's beforeEach), from a pool of distinct packets large
 * enough that the traffic spreads over the whole table (at 1M connections
 * the pool is a million packets): the figures include the cache and TLB
 * misses of a big table, as a real node has them.
 */
import { abi } from "../host/index.js";
import { makeScenario, establish, establishedBatches, establishedPackets, flowPacket, NODEPORT_BASE, POD_PORT, type CtScenario } from "./ct-scenario.js";
import { TsConntrackNode } from "./ts-ct.js";
import { measure, mdTable, fmtRate } from "./util.js";

function fmtNs(ns: number): string { return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`; }

/** The same scenario in the TypeScript implementation, with its connections set up; returns the SYN phase's ms. */
function tsSetup(s: CtScenario): { ts: TsConntrackNode; synMs: number } {
  const dnat = new Map<number, { ip: number; port: number }>();
  s.podIps.forEach((ip, k) => dnat.set(NODEPORT_BASE + k, { ip, port: POD_PORT }));
  const names = s.engine.node.devBySlot.map((l) => l?.name ?? "");
  const ts = new TsConntrackNode(s.engine.node.snapshot, s.nodeIp, dnat, (slot) => names[slot]!);
  let synMs = 0;
  let t = 0;
  for (let kind = 0; kind < 3; kind++) {
    const t0 = performance.now();
    for (let c = 0; c < s.conns; c++) ts.process(flowPacket(s, c, kind, (t += 1000)));
    if (kind === 0) synMs = performance.now() - t0;
  }
  return { ts, synMs };
}

/**
 * The machine's memory floor for a table of `bytes`: random 64-byte lines
 * of an array that size, read as one dependent chain (each load's address
 * comes from the one before: a lookup's bucket -> node -> entry) and as 16
 * independent chains (the overlap the prefetch passes aim for). Plain
 * typed-array loads, no engine: what any implementation pays per random
 * cache line on this machine, measured in the same run as the engine.
 */
class MemoryFloor {
  private readonly a: Int32Array;
  private p = 0;
  private readonly ps = new Int32Array(16);
  static readonly LOADS = 4096;

  constructor(bytes: number) {
    const lines = Math.max(1024, Math.floor(bytes / 64));
    this.a = new Int32Array(lines * 16);
    // one random cycle through every line (Sattolo's shuffle), seeded
    const perm = new Uint32Array(lines);
    for (let i = 0; i < lines; i++) perm[i] = i;
    let x = 0x9e3779b9;
    const rnd = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 4294967296; };
    for (let i = lines - 1; i > 0; i--) { const j = Math.floor(rnd() * i); const t = perm[i]!; perm[i] = perm[j]!; perm[j] = t; }
    for (let i = 0; i < lines; i++) this.a[perm[i]! * 16] = perm[(i + 1) % lines]! * 16;
    for (let k = 0; k < 16; k++) this.ps[k] = perm[Math.floor((k * lines) / 16)]! * 16;
  }

  /** LOADS dependent loads. */
  chase(): void {
    const a = this.a;
    let p = this.p;
    for (let i = 0; i < MemoryFloor.LOADS; i++) p = a[p]!;
    this.p = p;
  }

  /** LOADS loads in 16 independent chains. */
  parallel(): void {
    const a = this.a, ps = this.ps;
    for (let i = 0; i < MemoryFloor.LOADS / 16; i++) for (let k = 0; k < 16; k++) ps[k] = a[ps[k]!]!;
  }
}

export async function benchConntrack(sizes: number[] = [1024, 65536, 1048576]): Promise<string> {
  const rows: (string | number)[][] = [];
  const memRows: (string | number)[][] = [];
  const floorRows: (string | number)[][] = [];
  for (const n of sizes) {
    const s = await makeScenario(n);
    const { synMs, notForwarded } = establish(s);
    if (notForwarded !== 0) throw new Error(`conntrack bench: ${notForwarded} setup packets were not forwarded`);
    const core = s.engine.core;
    const count = core.ct_count();
    const bytes = core.ct_memory();
    // packets spread over the whole table: the pool covers every connection about once
    const poolBatches = Math.max(64, Math.ceil(n / s.engine.batchBuffer.capacity));
    const pool = establishedBatches(s, poolBatches, 17);
    const { ptr, capacity } = s.engine.batchBuffer;
    let next = 0;
    const load = () => {
      s.engine.mem.refresh();
      new Uint8Array(s.engine.mem.dv.buffer, ptr, capacity * abi.PKT_SIZE).set(pool[next++ % pool.length]!);
    };
    // the TypeScript side: same connections, same kind of traffic
    const { ts, synMs: tsSynMs } = tsSetup(s);
    const tsPackets = establishedPackets(s, Math.min(n, 262144), 17);
    let tnext = 0;
    const tsBatch = 256;
    const floor = new MemoryFloor(bytes);
    const r = await measure([
      { name: "wasm", batch: capacity, fn: () => { core.process_batch(ptr, capacity); }, beforeEach: load },
      {
        name: "ts", batch: tsBatch, fn: () => {
          for (let k = 0; k < tsBatch; k++) ts.process(tsPackets[(tnext + k) % tsPackets.length]!);
          tnext += tsBatch;
        },
      },
      { name: "dependent loads", batch: MemoryFloor.LOADS, fn: () => floor.chase() },
      { name: "16 chains", batch: MemoryFloor.LOADS, fn: () => floor.parallel() },
    ], { time: 2000, iterations: 64, warmupIterations: 16 });
    const [w, t, dep, par] = r as [typeof r[0], typeof r[0], typeof r[0], typeof r[0]];
    // check that the measured traffic was forwarded
    s.engine.mem.refresh();
    let fwd = 0;
    for (let k = 0; k < capacity; k++) {
      const p = ptr + k * abi.PKT_SIZE;
      if (s.engine.mem.dv.getUint8(p + abi.PKT_VERDICT) === abi.VERDICT_FORWARD && s.engine.mem.dv.getUint8(p + abi.PKT_CT_INFO) !== abi.CTINFO_NONE) fwd++;
    }
    if (fwd !== capacity) throw new Error(`conntrack bench: ${capacity - fwd} measured packets were not forwarded with their connection`);
    if (ts.counters.dropped !== 0 || ts.counters.invalid !== 0) throw new Error(`conntrack bench: the TypeScript implementation dropped ${ts.counters.dropped}, found ${ts.counters.invalid} invalid`);
    rows.push([n.toLocaleString("en-US"), fmtNs(w.nsPerItem), fmtRate(w.itemsPerSec).replace("/s", " pkt/s"), fmtNs(t.nsPerItem),
      `${(t.nsPerItem / w.nsPerItem).toFixed(1)}x`, fmtRate((n * 1000) / synMs).replace("/s", " conn/s"),
      fmtRate((n * 1000) / tsSynMs).replace("/s", " conn/s")]);
    const buckets = Number(/nf_conntrack_buckets = (\d+)/.exec(s.node.files["sysctl.txt"] ?? "")?.[1] ?? 0);
    memRows.push([n.toLocaleString("en-US"), buckets.toLocaleString("en-US"), count.toLocaleString("en-US"),
      `${(bytes / 2 ** 20).toFixed(1)} MiB`, `${(bytes / count).toFixed(1)} B`]);
    floorRows.push([n.toLocaleString("en-US"), `${(bytes / 2 ** 20).toFixed(1)} MiB`, fmtNs(dep.nsPerItem), fmtNs(par.nsPerItem), fmtNs(w.nsPerItem)]);
  }
  return [
    "Established flows through NodePort DNAT (both directions; conntrack hit, TCP window tracking, NAT rewrite, policy routing, forwarding), median per packet, and new connections (SYN through the nat table, NAT binding, confirm):",
    "",
    mdTable(["connections", "WASM / packet", "WASM rate", "plain TS / packet", "WASM/TS", "new conns WASM", "new conns TS"], rows),
    "",
    "Conntrack memory (entries, node records, hash buckets; DNAT connections have no NAT extension):",
    "",
    mdTable(["connections", "nf_conntrack_buckets", "entries", "memory", "per connection"], memRows),
    "",
    "The machine's memory floor in the same runs: a random 64-byte line of an array the size of the table, read in one dependent chain and in 16 independent ones (typed-array loads, no engine), beside the engine's packet:",
    "",
    mdTable(["connections", "table", "dependent load", "16 chains, per load", "WASM / packet"], floorRows),
  ].join("\n");
}
