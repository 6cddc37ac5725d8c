/**
 * Snapshot pairs for the diff tests: the built-in EKS node with its
 * cluster's iptables rendered with AWS_VPC_K8S_CNI_EXTERNALSNAT off or on.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildEksNode, type DemoNode } from "../../host/scenario/eks-node.js";
import { clusterForNode, type NodeCluster } from "../../host/scenario/cluster.js";

export interface Built { node: DemoNode; cluster: NodeCluster; files: Record<string, string> }

/** The node's snapshot files with EXTERNALSNAT off or on (everything else equal). */
export function eksNodeFiles(externalSnat: boolean, services = 40): Built {
  const node = buildEksNode({ enis: 2, podsPerEni: [6, 4], seed: 3 });
  const cluster = clusterForNode(node, { services, seed: 2, externalSnat });
  return { node, cluster, files: { ...node.files, "iptables-save.txt": cluster.iptables } };
}

/** Writes snapshot files into a new directory under a fresh temp root. */
export function writeSnapshot(files: Record<string, string>, name: string, root = mkdtempSync(join(tmpdir(), "nodeplane-diff-"))): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}
