/**
 * The two-node EKS cluster of the cluster-kernel suite.
 *
 * Nodes A and B are VPC CNI nodes from host/scenario/eks-node.ts (3 ENIs
 * each, pods on the primary and on the secondary ENIs, per-ENI tables, rules
 * 512/1024/1536, strict rp_filter on secondary ENIs and pod veths, loose on
 * eth0) in one VPC (10.0.0.0/16, subnet 10.0.32.0/19). Their iptables-save is
 * rendered by host/k8s (kube-proxy, aws-node, kubelet) for one cluster: the
 * 50 services of host/k8s's synthetic cluster (their endpoints placed on the
 * pods of A and B) plus a handful of services whose endpoints the scenarios
 * pin down (local / remote / several endpoints, NodePort with
 * externalTrafficPolicy Cluster and Local, a hairpin service, UDP).
 *
 * Random source ports are off (kube-proxy without --random-fully,
 * AWS_VPC_K8S_CNI_RANDOMIZESNAT=none) so that NAT is compared exactly; the
 * random endpoint choice of `-m statistic` stays and is compared by oracle
 * (the kernel's choice fed to the emulator) and by property.
 */
import type { KernelNodeSpec } from "../kernel/netns.js";
import { buildEksNode, type DemoNode, type DemoPod } from "../../host/scenario/eks-node.js";
import { renderNodeIptables, syntheticCluster } from "../../host/k8s/iptables.js";
import { renderKubeProxy } from "../../host/k8s/kube-proxy.js";
import { renderVpcCni } from "../../host/k8s/vpc-cni.js";
import type { K8sEndpoint, K8sService } from "../../host/k8s/model.js";

export const VPC_CIDR = "10.0.0.0/16";
/** AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS of the default configuration (a peered network). */
export const EXCLUDED_CIDR = "172.16.0.0/12";

export interface ClusterNode {
  /** "A" or "B". */
  id: string;
  /** Kubernetes node name. */
  name: string;
  node: DemoNode;
  spec: KernelNodeSpec;
}

export interface CniConfig {
  externalSnat: boolean;
  excludeSnatCidrs: string[];
  /** The EKS defaults: kube-proxy's MASQUERADE --random-fully and aws-node's SNAT --random-fully (RANDOMIZESNAT=prng). */
  randomFully?: boolean;
}

export const DEFAULT_CNI: CniConfig = { externalSnat: false, excludeSnatCidrs: [EXCLUDED_CIDR] };
export const EXTERNAL_SNAT: CniConfig = { externalSnat: true, excludeSnatCidrs: [EXCLUDED_CIDR] };
export const RANDOM_FULLY: CniConfig = { externalSnat: false, excludeSnatCidrs: [EXCLUDED_CIDR], randomFully: true };

/** A service the scenarios address, with its endpoints (pod, node id). */
export interface PinnedService {
  key: string;
  clusterIP: string;
  port: number;
  targetPort: number;
  proto: "tcp" | "udp";
  nodePort?: number;
  etp: "Cluster" | "Local";
  endpoints: { pod: DemoPod; node: string }[];
}

export interface Cluster {
  nodes: ClusterNode[];
  services: Map<string, PinnedService>;
  /** iptables-save text of each node for a CNI configuration. */
  ruleset(nodeId: string, cni: CniConfig): string;
}

function ipNum(s: string): number {
  const p = s.split(".").map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

export function inCidr(ip: string, cidr: string): boolean {
  const [a, l] = cidr.split("/");
  const len = Number(l);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((ipNum(ip) & mask) >>> 0) === ((ipNum(a) & mask) >>> 0);
}

function nodeName(ip: string): string {
  return `ip-${ip.replace(/\./g, "-")}.ec2.internal`;
}

/** Node links for the harness: redirects off (the kernel keeps redirect back-off per peer across scenarios, a fresh engine would not). */
function specOf(node: DemoNode): KernelNodeSpec {
  const devs = ["all", "default", ...node.links];
  return {
    links: node.links.map((n) => ({ name: n, mtu: 9001 })),
    commands: [...node.commands, ...devs.map((d) => `sysctl -qw net.ipv4.conf.${d}.send_redirects=0`)],
  };
}

export function buildCluster(): Cluster {
  const a = buildEksNode({ enis: 3, podsPerEni: [3, 2, 2], seed: 21 });
  const b = buildEksNode({ enis: 3, podsPerEni: [2, 2, 2], seed: 22 });
  // the two nodes share the VPC subnet: their addresses must not collide
  const ipsOf = (n: DemoNode) => [...n.eniIps, ...n.pods.map((p) => p.ip)];
  const seen = new Set(ipsOf(a));
  for (const ip of ipsOf(b)) if (seen.has(ip)) throw new Error(`cluster: nodes A and B both have ${ip}`);
  const vethA = new Set(a.pods.map((p) => p.veth));
  for (const p of b.pods) if (vethA.has(p.veth)) throw new Error(`cluster: veth name ${p.veth} on both nodes`);
  const nodes: ClusterNode[] = [
    { id: "A", name: nodeName(a.nodeIp), node: a, spec: specOf(a) },
    { id: "B", name: nodeName(b.nodeIp), node: b, spec: specOf(b) },
  ];

  // ---- filler: the synthetic cluster's 50 services, endpoints placed on A's and B's pods
  const syn = syntheticCluster({ services: 50, seed: 5, nodePortShare: 0.3, localShare: 0.3, udpShare: 0.1, nodes: 6 });
  const synNodes = syn.nodes.map((n) => n.name);
  const counters = [0, 0];
  for (const eps of syn.endpoints.values()) {
    for (const ep of eps) {
      const which = synNodes.indexOf(ep.nodeName ?? "");
      if (which === 0 || which === 1) {
        const n = nodes[which];
        ep.nodeName = n.name;
        ep.ip = n.node.pods[counters[which]++ % n.node.pods.length].ip;
      }
    }
  }

  // ---- the services the scenarios address
  const pinned = new Map<string, PinnedService>();
  const services: K8sService[] = [...syn.services];
  const endpoints = new Map<string, K8sEndpoint[]>(syn.endpoints);
  const usedNodePorts = new Set(syn.services.flatMap((s) => s.ports.map((p) => p.nodePort ?? 0)));
  let cip = 0;
  let np = 32600;
  const add = (name: string, proto: "tcp" | "udp", eps: { pod: DemoPod; node: string }[], o: { nodePort?: boolean; etp?: "Cluster" | "Local" } = {}) => {
    const key = `scenarios/${name}`;
    const clusterIP = `10.100.250.${++cip}`;
    while (usedNodePorts.has(np)) np++;
    const nodePort = o.nodePort ? np++ : undefined;
    const port = proto === "udp" ? 53 : 80;
    const targetPort = proto === "udp" ? 5353 : 8080;
    const svc: K8sService = {
      namespace: "scenarios", name, type: o.nodePort ? "NodePort" : "ClusterIP", clusterIP,
      ports: [{ name: "p", protocol: proto === "udp" ? "UDP" : "TCP", port, targetPort, ...(nodePort ? { nodePort } : {}) }],
      ...(o.nodePort ? { externalTrafficPolicy: o.etp ?? "Cluster" } : {}),
    };
    services.push(svc);
    endpoints.set(key, eps.map((e) => ({
      ip: e.pod.ip, ports: { p: targetPort }, nodeName: nodes.find((n) => n.id === e.node)!.name, ready: true, serving: true, terminating: false,
    })));
    pinned.set(name, { key, clusterIP, port, targetPort, proto, nodePort, etp: o.etp ?? "Cluster", endpoints: eps });
  };
  const podA = (i: number) => ({ pod: a.pods[i], node: "A" });
  const podB = (i: number) => ({ pod: b.pods[i], node: "B" });
  // pods of A: 0-2 on eth0, 3-4 on eth1, 5-6 on eth2; of B: 0-1 eth0, 2-3 eth1, 4-5 eth2
  add("cip-local", "tcp", [podA(4)]);
  add("cip-remote", "tcp", [podB(3)]);
  add("cip-multi", "tcp", [podA(1), podB(0), podB(5)]);
  add("udp-local", "udp", [podA(6)]);
  add("udp-remote", "udp", [podB(4)]);
  add("np-cluster-local", "tcp", [podA(2)], { nodePort: true });
  add("np-cluster-remote", "tcp", [podB(5)], { nodePort: true });
  add("np-cluster-multi", "tcp", [podA(3), podB(2)], { nodePort: true });
  add("np-local", "tcp", [podA(5), podA(0)], { nodePort: true, etp: "Local" });
  add("hairpin", "tcp", [podA(3)]);

  const ruleset = (nodeId: string, cni: CniConfig): string => {
    const n = nodes.find((x) => x.id === nodeId)!;
    const kp = renderKubeProxy(services, endpoints, { ...syn.kubeProxy, nodeName: n.name, nodeIPs: [n.node.nodeIp], randomFully: cni.randomFully ?? false });
    const vc = renderVpcCni({
      ...syn.vpcCni, primaryIp: n.node.nodeIp, vpcCidrs: [VPC_CIDR], randomizeSnat: cni.randomFully ? "prng" : "none",
      externalSnat: cni.externalSnat, excludeSnatCidrs: cni.excludeSnatCidrs,
    });
    return renderNodeIptables(kp, vc);
  };
  return { nodes, services: pinned, ruleset };
}
