/**
 * A synthetic cluster around an EKS node built by eks-node.ts: the
 * services and endpoints of host/k8s's synthetic cluster, with this node's
 * share of endpoints placed on the node's own pods, rendered into the
 * node's iptables-save (kube-proxy, aws-node, kubelet), and the frontends
 * clients can reach (ClusterIPs, NodePorts on the node IP, load-balancer
 * IPs).
 */
import type { DemoNode } from "./eks-node.js";
import { renderNodeIptables, syntheticCluster, type SyntheticCluster } from "../k8s/iptables.js";
import { renderKubeProxy } from "../k8s/kube-proxy.js";
import { renderVpcCni } from "../k8s/vpc-cni.js";
import { mulberry32 } from "../util/prng.js";

export interface Frontend { ip: string; port: number; proto: "tcp" | "udp"; kind: "clusterip" | "nodeport" | "lb"; service: string }

export interface NodeCluster {
  cluster: SyntheticCluster;
  /** The node's iptables-save text. */
  iptables: string;
  frontends: Frontend[];
}

export interface NodeClusterOptions {
  services: number;
  seed?: number;
  /** kube-proxy --random-fully on its MASQUERADE (default true, as kube-proxy does when the kernel has it). */
  randomFully?: boolean;
  /** AWS_VPC_K8S_CNI_EXTERNALSNAT (default false). */
  externalSnat?: boolean;
}

export function clusterForNode(node: DemoNode, o: NodeClusterOptions): NodeCluster {
  const seed = o.seed ?? 1;
  const rnd = mulberry32(seed * 31 + 7);
  const cluster = syntheticCluster({ services: o.services, seed, nodePortShare: 0.3, localShare: 0.3, udpShare: 0.1 });
  const thisNode = cluster.node.name;
  let k = 0;
  for (const eps of cluster.endpoints.values()) {
    for (const ep of eps) if (ep.nodeName === thisNode) ep.ip = node.pods[k++ % node.pods.length]!.ip;
  }
  // some load balancers with an IP (NLB in IP mode publishes hostnames only)
  let lb = 0;
  for (const s of cluster.services) {
    if (s.type === "LoadBalancer" && rnd() < 0.5) s.loadBalancerIngress = [{ ip: `52.95.${lb >> 8}.${(lb++ & 255) + 1}` }];
  }
  const kp = renderKubeProxy(cluster.services, cluster.endpoints, { ...cluster.kubeProxy, nodeIPs: [node.nodeIp], randomFully: o.randomFully ?? true });
  const cni = renderVpcCni({ ...cluster.vpcCni, primaryIp: node.nodeIp, externalSnat: o.externalSnat ?? false });
  const frontends: Frontend[] = [];
  for (const s of cluster.services) {
    const eps = cluster.endpoints.get(`${s.namespace}/${s.name}`) ?? [];
    if (!eps.length) continue;
    for (const p of s.ports) {
      const proto = p.protocol === "UDP" ? "udp" : p.protocol === "TCP" || p.protocol === undefined ? "tcp" : undefined;
      if (!proto) continue;
      const service = `${s.namespace}/${s.name}`;
      if (s.clusterIP && s.clusterIP !== "None") frontends.push({ ip: s.clusterIP, port: p.port, proto, kind: "clusterip", service });
      if (p.nodePort) frontends.push({ ip: node.nodeIp, port: p.nodePort, proto, kind: "nodeport", service });
      for (const i of s.loadBalancerIngress ?? []) if (i.ip) frontends.push({ ip: i.ip, port: p.port, proto, kind: "lb", service });
    }
  }
  return { cluster, iptables: renderNodeIptables(kp, cni), frontends };
}
