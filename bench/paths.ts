/**
 * The NLB's two paths (`npm run bench -- paths`): the same NLB traffic
 * (host/replay/paths.ts's built-in spec: ~5,000 TCP connections of
 * request/response exchanges) through the demo EKS node with instance
 * targets (NodePort: DNAT, and SNAT for externalTrafficPolicy Cluster) and
 * with IP targets (straight to the pod IP), as `nodeplane paths` compares
 * them. Each path's packets are recorded once from the closed loop; a timed
 * call then processes all of them through a fresh engine (made before the
 * call, outside the timed window) in full batches, copying each batch's
 * descriptors into the batch buffer as a source would write them. Both
 * tasks run in the same Bench: compare their ratio.
 */
import { buildDemoNode } from "../host/scenario/eks-node.js";
import { clusterForNode } from "../host/scenario/cluster.js";
import { parseTrafficSpec } from "../host/traffic/index.js";
import {
  DEFAULT_NLB_SPEC, freshEngine, processRecorded, runClosedLoop, specForPath, PATH_TITLES, type PathName, type PathsOptions, type RoundResult,
} from "../host/replay/paths.js";
import * as abi from "../host/core/abi.js";
import { measure, mdTable, fmtRate } from "./util.js";

export async function benchPaths(): Promise<string> {
  const node = buildDemoNode();
  const cl = clusterForNode(node, { services: 200, seed: 1 });
  const o: PathsOptions = {
    node: { files: { ...node.files, "iptables-save.txt": cl.iptables }, origin: "demo node", dir: false },
    traffic: parseTrafficSpec(DEFAULT_NLB_SPEC, "built-in NLB traffic"), seed: 1,
  };
  const paths: PathName[] = ["instance", "ip"];
  const runs: RoundResult[] = [];
  for (const p of paths) runs.push(await runClosedLoop(o, specForPath(o.traffic, p)));
  for (const r of runs) if (r.inputs.length / abi.PKT_SIZE !== r.packets) throw new Error("paths bench: the run is longer than the recorded packets");
  // a fresh engine for every timed call, made in beforeEach (outside the timed window): a spent one holds the connections
  const ready: (Awaited<ReturnType<typeof freshEngine>> | undefined)[] = [undefined, undefined];
  const tasks = paths.map((p, i) => ({
    name: p,
    batch: runs[i]!.packets,
    beforeEach: async () => { ready[i] = await freshEngine(o); },
    fn: () => { processRecorded(ready[i]!, runs[i]!.inputs); },
  }));
  const r = await measure(tasks, { time: 4000, iterations: 8, warmupIterations: 2, warmupTime: 0 });
  const rows = paths.map((p, i) => {
    const c = runs[i]!.collector;
    const nat = c.natOps[0]! + c.natOps[1]!;
    return [PATH_TITLES[p], runs[i]!.packets.toLocaleString("en-US"), `${r[i]!.nsPerItem.toFixed(0)} ns`, fmtRate(r[i]!.itemsPerSec).replace("/s", " pkt/s"),
      (c.rulesTraversed / c.packets).toFixed(2), (nat / c.packets).toFixed(2)];
  });
  return [
    "The NLB's two paths through the demo node (the same ~5,000 connections; `nodeplane paths`), all of a path's packets per call through a fresh engine:",
    "",
    mdTable(["path", "packets", "per packet", "rate", "rules traversed / packet", "address rewrites / packet"], rows),
    "",
    `Instance target / IP target, time per packet: ${(r[0]!.nsPerItem / r[1]!.nsPerItem).toFixed(2)}x`,
  ].join("\n");
}
