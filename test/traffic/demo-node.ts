/**
 * The demo EKS node (built as host/scenario/demo.ts does) loaded into an
 * engine, for the traffic tests.
 */
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import { buildDemoNode, type DemoNode } from "../../host/scenario/eks-node.js";
import { clusterForNode, type NodeCluster } from "../../host/scenario/cluster.js";

export interface DemoEngine { engine: Engine; node: DemoNode; cluster: NodeCluster }

export async function demoEngine(opts: { services?: number; seed?: number; batchSize?: number } = {}): Promise<DemoEngine> {
  const node = buildDemoNode();
  const snap = parseSnapshotFiles(node.files, "built-in EKS node");
  const cluster = clusterForNode(node, { services: opts.services ?? 60, seed: 1 });
  snap.iptablesSave = cluster.iptables;
  const engine = await Engine.create({ seed: opts.seed ?? 1, batchSize: opts.batchSize });
  engine.load(snap, { hz: snap.hz });
  return { engine, node, cluster };
}
