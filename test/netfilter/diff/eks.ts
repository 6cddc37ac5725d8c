/**
 * EKS-like scenarios: a VPC CNI node (host/scenario/eks-node.ts) with the
 * kube-proxy and aws-node rules rendered for a synthetic cluster
 * (host/k8s) of a given size, and the traffic such a node sees: clients
 * on NodePorts and load-balancer IPs, pods on ClusterIPs, pods going out
 * (AWS SNAT), pod to pod, VPC hosts to pods, the node's own sockets on
 * ClusterIPs, and the backends' answers.
 */
import type { KernelNodeSpec } from "../../kernel/netns.js";
import { buildEksNode, type DemoNode } from "../../../host/scenario/eks-node.js";
import { renderNodeIptables, syntheticCluster } from "../../../host/k8s/iptables.js";
import { renderKubeProxy } from "../../../host/k8s/kube-proxy.js";
import { renderVpcCni } from "../../../host/k8s/vpc-cni.js";
import type { K8sService } from "../../../host/k8s/model.js";
import type { Flow, Scenario } from "./runner.js";
import { echoFlow, localUdpFlow, tcpFlow, udpFlow, type Peer, type TcpVariant } from "./flows.js";
import { Ports, Rnd } from "./node.js";

/** The EKS node of these scenarios (2 ENIs, 5 pods), with redirects off (the kernel keeps their back-off across scenarios). */
export function eksNode(): { node: DemoNode; spec: KernelNodeSpec } {
  const node = buildEksNode({ enis: 2, podsPerEni: [3, 2], seed: 11 });
  const devs = ["all", "default", ...node.links];
  const commands = [...node.commands, ...devs.map((d) => `sysctl -qw net.ipv4.conf.${d}.send_redirects=0`)];
  return { node, spec: { links: node.links.map((n) => ({ name: n, mtu: 9001 })), commands } };
}

export interface EksVariant {
  services: number;
  seed: number;
  /** kube-proxy --random-fully and aws-node's default --random-fully SNAT (random ports, compared by property). */
  randomPorts?: boolean;
  externalSnat?: boolean;
  flows?: number;
  /**
   * Resync after this many rounds: endpoints move (a new pod for one in
   * three services, the endpoint list rotated), some services go away, then
   * both sides load the new rules while the flows carry on.
   */
  resyncRound?: number;
}

interface Frontend { ip: string; port: number; proto: "tcp" | "udp"; kind: string }

/** An EKS scenario: the rendered ruleset and its traffic. */
export function eksScenario(node: DemoNode, v: EksVariant): Scenario & { frontends: number } {
  const r = new Rnd(v.seed * 7 + 1);
  const cluster = syntheticCluster({ services: v.services, seed: v.seed, nodePortShare: 0.35, localShare: 0.3, noEndpointShare: 0.08, udpShare: 0.1, affinityShare: 0.06 });
  // this node is the built EKS node: its IP and its pods' IPs
  const thisNode = cluster.node.name;
  let podIdx = 0;
  for (const eps of cluster.endpoints.values()) {
    for (const ep of eps) {
      if (ep.nodeName === thisNode) ep.ip = node.pods[podIdx++ % node.pods.length].ip;
    }
  }
  // load balancers: give some an IP (NLB in IP mode publishes hostnames; a VIP exercises the LB rules)
  let lb = 0;
  for (const s of cluster.services) {
    if (s.type === "LoadBalancer" && r.chance(0.6)) s.loadBalancerIngress = [{ ip: `52.95.${lb >> 8}.${(lb++ & 255) + 1}` }];
  }
  const kp = renderKubeProxy(cluster.services, cluster.endpoints, {
    ...cluster.kubeProxy, nodeIPs: [node.nodeIp], randomFully: v.randomPorts ?? false,
  });
  const cni = renderVpcCni({ ...cluster.vpcCni, primaryIp: node.nodeIp, randomizeSnat: v.randomPorts ? "prng" : "none", externalSnat: v.externalSnat ?? false });
  const ruleset = renderNodeIptables(kp, cni);
  let resync: Scenario["resync"];
  if (v.resyncRound !== undefined) {
    const moved = new Map(cluster.endpoints);
    let k = 0;
    for (const [key, eps] of cluster.endpoints) {
      if (k++ % 3 !== 0 || eps.length === 0) continue;
      const next = [...eps.slice(1), { ...eps[0]!, ip: `10.0.${r.int(64, 95)}.${r.int(4, 250)}`, nodeName: "ip-10-0-70-1.ec2.internal" }];
      moved.set(key, next);
    }
    const kept = cluster.services.filter((_, i) => i % 7 !== 3);
    const kp2 = renderKubeProxy(kept, moved, { ...cluster.kubeProxy, nodeIPs: [node.nodeIp], randomFully: v.randomPorts ?? false });
    resync = { round: v.resyncRound, ruleset: renderNodeIptables(kp2, cni) };
  }

  const fronts: Frontend[] = [];
  for (const s of cluster.services) {
    for (const p of s.ports) {
      const proto = p.protocol === "UDP" ? "udp" : p.protocol === "TCP" ? "tcp" : undefined;
      if (!proto) continue;
      fronts.push({ ip: s.clusterIP, port: p.port, proto, kind: "clusterip" });
      if (p.nodePort) fronts.push({ ip: node.nodeIp, port: p.nodePort, proto, kind: "nodeport" });
      for (const i of s.loadBalancerIngress ?? []) if (i.ip) fronts.push({ ip: i.ip, port: p.port, proto, kind: "lb" });
    }
  }
  const frontSet = new Set(fronts.map((f) => `${f.ip}:${f.port}/${f.proto}`));
  const ports = new Ports(r);
  const pods: Peer[] = node.pods.map((p) => ({ iif: p.veth, ip: p.ip }));
  const internet = (): Peer => ({ iif: "eth0", ip: `${r.pick([3, 13, 34, 52, 54, 99])}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}` });
  const vpcHost = (): Peer => ({ iif: "eth0", ip: `10.0.${r.int(0, 31)}.${r.int(4, 250)}` });
  const pick = (kind: string) => {
    const xs = fronts.filter((f) => f.kind === kind);
    return xs.length ? r.pick(xs) : r.pick(fronts);
  };
  const variant = (): TcpVariant => r.pick(["fin", "fin", "fin", "rst", "data-only", "fin-server"] as TcpVariant[]);
  const flows: Flow[] = [];
  const n = v.flows ?? 30;
  for (let i = 0; i < n; i++) {
    const x = r.next();
    const conn = (client: Peer, f: Frontend) => f.proto === "tcp"
      ? tcpFlow({ client, dst: f.ip, sport: ports.take(), dport: f.port, variant: variant(), isnC: r.u32(), isnS: r.u32() })
      : udpFlow({ client, dst: f.ip, sport: ports.take(), dport: f.port, variant: r.chance(0.85) ? "pair" : "icmp-error" });
    if (x < 0.22) flows.push(conn(r.chance(0.7) ? internet() : vpcHost(), pick("nodeport")));
    else if (x < 0.32) flows.push(conn(internet(), pick("lb")));
    else if (x < 0.6) flows.push(conn(r.pick(pods), pick("clusterip")));
    else if (x < 0.72) {
      const p = r.pick(pods);
      const dst = internet().ip;
      flows.push(r.chance(0.7) ? tcpFlow({ client: p, dst, sport: ports.take(), dport: r.pick([443, 80]), variant: variant(), isnC: r.u32(), isnS: r.u32() })
        : r.chance(0.5) ? udpFlow({ client: p, dst, sport: ports.take(), dport: 53, variant: "pair" }) : echoFlow({ client: p, dst, id: ports.take(), variant: "pair" }));
    } else if (x < 0.8) {
      const [a, b] = r.shuffle([...pods]);
      flows.push(tcpFlow({ client: a, dst: b.ip, sport: ports.take(), dport: 8080, variant: variant(), isnC: r.u32(), isnS: r.u32() }));
    } else if (x < 0.88) {
      flows.push(tcpFlow({ client: vpcHost(), dst: r.pick(pods).ip, sport: ports.take(), dport: 8080, variant: variant(), isnC: r.u32(), isnS: r.u32() }));
    } else if (x < 0.94) {
      const f = fronts.filter((y) => y.kind === "clusterip" && y.proto === "udp");
      flows.push(localUdpFlow({ dst: f.length ? r.pick(f).ip : "10.100.0.10", dport: f.length ? r.pick(f).port : 53 }));
    } else {
      flows.push(tcpFlow({ client: internet(), dst: node.nodeIp, sport: ports.take(), dport: r.pick([22, 10250, 31999]), variant: "fin", isnC: r.u32(), isnS: r.u32() }));
    }
  }
  return {
    name: `EKS ${v.services} services (seed ${v.seed}${v.randomPorts ? ", --random-fully" : ""}${v.externalSnat ? ", EXTERNALSNAT" : ""}${v.resyncRound !== undefined ? `, resync after round ${v.resyncRound}` : ""})`,
    ruleset,
    resync,
    flows,
    statistic: "nat",
    isolate: (p) => frontSet.has(`${p.dst}:${p.dport}/${p.proto}`),
    randomPorts: v.randomPorts,
    frontends: fronts.length,
  };
}

/** A service with `n` endpoints on remote nodes, for the distribution test. */
export function spreadService(n: number): { services: K8sService[]; endpoints: Map<string, import("../../../host/k8s/model.js").K8sEndpoint[]> } {
  const svc: K8sService = { namespace: "default", name: "spread", type: "ClusterIP", clusterIP: "10.100.50.50", ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080 }] };
  const eps = Array.from({ length: n }, (_, i) => ({ ip: `10.0.70.${10 + i}`, ports: { http: 8080 }, nodeName: `ip-10-0-70-${i}.ec2.internal`, ready: true, serving: true, terminating: false }));
  return { services: [svc], endpoints: new Map([["default/spread", eps]]) };
}
