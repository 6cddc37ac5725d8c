/**
 * The replay tests' snapshot directories: the demo EKS node with the
 * kube-proxy and VPC CNI rules of a 200-service cluster, as `demo`
 * (send_redirects on, the default) and as `hardened` (send_redirects = 0,
 * as CIS-hardened AMIs set it: with it, one engine and two workers give the
 * same results, README "replay --workers").
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildDemoNode } from "../../host/scenario/eks-node.js";
import { clusterForNode } from "../../host/scenario/cluster.js";

export function writeDemoSnapshots(dir: string): { demo: string; hardened: string; node: ReturnType<typeof buildDemoNode>; cluster: ReturnType<typeof clusterForNode> } {
  const node = buildDemoNode();
  const cluster = clusterForNode(node, { services: 200, seed: 1 });
  const demo = join(dir, "demo");
  const hardened = join(dir, "hardened");
  for (const [d, sysctl] of [[demo, node.files["sysctl.txt"]!], [hardened, node.files["sysctl.txt"]!.replace(/send_redirects = 1/g, "send_redirects = 0")]] as const) {
    mkdirSync(d);
    for (const [k, v] of Object.entries(node.files)) writeFileSync(join(d, k), v);
    writeFileSync(join(d, "sysctl.txt"), sysctl);
    writeFileSync(join(d, "iptables-save.txt"), cluster.iptables);
  }
  return { demo, hardened, node, cluster };
}
