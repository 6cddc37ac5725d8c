/** Small cluster files for the tests, built from YAML text. */
import { parseClusterText } from "../../host/cluster/load.js";
import type { ClusterSpec } from "../../host/cluster/spec.js";

export interface MiniCluster {
  instanceType?: string;
  pods?: number;
  env?: Record<string, string>;
  subnetCidr?: string;
  extra?: string;
  nodes?: number;
}

/** One subnet (10.0.32.0/19 unless told), `nodes` nodes of one type, `pods` pods on the first node. */
export function miniClusterText(o: MiniCluster = {}): string {
  const lines = [
    "vpc:", "  cidrs: [10.0.0.0/16, 100.64.0.0/16]", "subnets:",
    `  - {id: subnet-a, cidr: ${o.subnetCidr ?? "10.0.32.0/19"}, az: us-east-1a}`,
    "  - {id: subnet-pods-a, cidr: 100.64.0.0/19, az: us-east-1a}",
    "nodes:",
  ];
  for (let i = 0; i < (o.nodes ?? 1); i++) lines.push(`  - {name: node-${i}, instanceType: ${o.instanceType ?? "m5.large"}, subnet: subnet-a}`);
  lines.push("awsNode:", "  env:");
  for (const [k, v] of Object.entries(o.env ?? { WARM_ENI_TARGET: "1" })) lines.push(`    ${k}: "${v}"`);
  lines.push("  eniConfigs:", "    us-east-1a: {subnet: subnet-pods-a}");
  lines.push((o.pods ?? 0) === 0 ? "pods: []" : "pods:");
  for (let i = 0; i < (o.pods ?? 0); i++) lines.push(`  - {name: pod-${String(i).padStart(4, "0")}, namespace: default, node: node-0}`);
  if (o.extra) lines.push(o.extra);
  return lines.join("\n") + "\n";
}

export function miniCluster(o: MiniCluster = {}): ClusterSpec {
  return parseClusterText(miniClusterText(o), "mini.yaml");
}
