/**
 * The traffic generator (`npm run bench -- gen`): packets per second the
 * core writes into the engine's batch buffer (fill only, open loop: nobody
 * processes them), and
 * generated + processed through the demo EKS node (fill, processRaw,
 * feedback: the closed loop), with the mix of examples/traffic/eks-mix.yaml
 * at two connection rates (the virtual rate sets how many flows are in
 * flight, hence how long a batch can be before a packet answers one in it),
 * and a bulk variant (bigger responses: more packets per flow).
 *
 * Each timed call produces exactly one batch-buffer's worth of packets
 * (calling fill as often as it takes), so figures are per packet.
 */
import { Engine } from "../host/engine.js";
import { parseSnapshotFiles } from "../host/snapshot/read.js";
import { buildDemoNode } from "../host/scenario/eks-node.js";
import { clusterForNode } from "../host/scenario/cluster.js";
import { abi } from "../host/index.js";
import { createGenerator, parseTrafficSpec, type TrafficGenerator } from "../host/traffic/index.js";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { measure, mdTable, fmtRate } from "./util.js";

/**
 * examples/traffic/eks-mix.yaml made endless (the bench draws as many packets
 * as it needs) at `rate` connections per second; "bulk" gives its TCP
 * responses 20 kB to 2 MB (more packets per flow: the per-packet cost alone).
 */
function specText(rate: number, bulk: boolean): string {
  let text = readFileSync(fileURLToPath(new URL("../../examples/traffic/eks-mix.yaml", import.meta.url)), "utf8");
  text = text.replace(/^duration:.*$/m, "packets: 4503599627370496").replace(/^rate:.*$/m, `rate: ${rate}`);
  if (bulk) text = text.replace(/^  response:.*$/m, "  response: {dist: pareto, shape: 1.2, min: 20000, max: 2000000}");
  return text;
}

async function demoEngine(): Promise<Engine> {
  const node = buildDemoNode();
  const snap = parseSnapshotFiles(node.files, "built-in EKS node");
  snap.iptablesSave = clusterForNode(node, { services: 200, seed: 1 }).iptables;
  const engine = await Engine.create({ seed: 1, batchSize: 1024 });
  engine.load(snap, { hz: snap.hz });
  return engine;
}

export async function benchGenerator(): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const [rate, bulk] of [[20000, false], [1000000, false], [20000, true]] as const) {
    // fill only: the core writes into the engine's batch buffer (1024 descriptors), nobody processes them
    const fillEngine = await demoEngine();
    const gen = createGenerator(parseTrafficSpec(specText(rate, bulk), "bench"), fillEngine);
    const { ptr: fillPtr, capacity: cap } = fillEngine.batchBuffer;
    let fills = 0;
    const fillOnly = () => {
      for (let n = 0; n < cap;) { n += gen.fill(fillEngine.mem.dv, fillPtr + n * abi.PKT_SIZE, cap - n); fills++; }
    };
    // generate + process through the node
    const engine = await demoEngine();
    const loopGen: TrafficGenerator = createGenerator(parseTrafficSpec(specText(rate, bulk), "bench"), engine);
    const { ptr } = engine.batchBuffer;
    let batches = 0;
    const closedLoop = () => {
      for (let done = 0; done < cap;) {
        const n = loopGen.fill(engine.mem.dv, ptr, cap - done);
        engine.processRaw(n, true);
        loopGen.feedback(engine.mem.dv, ptr, n);
        done += n;
        batches++;
      }
    };
    const [f, c] = await measure([
      { name: `fill ${rate}`, batch: cap, fn: fillOnly },
      { name: `loop ${rate}`, batch: cap, fn: closedLoop },
    ], { time: 2000 });
    const st = loopGen.stats();
    const fillCalls = fills;
    rows.push([
      `${bulk ? "bulk" : "eks-mix"}, ${rate.toLocaleString("en-US")} conn/s`, (gen.stats().packets / gen.stats().flows.started).toFixed(1),
      fmtRate(f!.itemsPerSec).replace("/s", " pkt/s"), `${(gen.stats().packets / fillCalls).toFixed(0)}`,
      fmtRate(c!.itemsPerSec).replace("/s", " pkt/s"), `${(st.packets / batches).toFixed(0)}`,
      `${((st.dropped / Math.max(1, st.fedBack)) * 100).toFixed(2)}%`, st.flows.active.toLocaleString("en-US"),
    ]);
  }
  return [
    "Synthetic traffic (TCP conversations, UDP request/response, ICMP echo over the six directions) on the demo node (200 services): descriptors written per second by fill() alone, and generated + processed through the node with feedback (closed loop); mean packets per fill() call (a fill stops before a packet that answers one it wrote), dropped share, flows in flight at the end:",
    "",
    mdTable(["mix, arrivals", "pkts/flow", "fill only", "pkts/fill", "fill + process + feedback", "pkts/batch", "dropped", "flows in flight"], rows),
  ].join("\n");
}
