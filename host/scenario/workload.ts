/**
 * The built-in workload for the demo node: a seeded, deterministic mix of the
 * traffic an EKS worker sees, including the kinds that go wrong.
 */
import type { DemoNode } from "./eks-node.js";
import type { PacketInput } from "../packet/input.js";
import type { Frontend } from "./cluster.js";

import { mulberry32 as prng } from "../util/prng.js";
export { prng };

export interface WorkloadClass {
  name: string;
  weight: number;
  make(rnd: () => number, t: number): PacketInput;
}

function pick<T>(rnd: () => number, xs: T[]): T {
  return xs[Math.floor(rnd() * xs.length)];
}

function publicIp(rnd: () => number): string {
  // avoid private, loopback and multicast space
  const a = pick(rnd, [3, 8, 13, 18, 23, 34, 35, 44, 52, 54, 63, 99, 104, 142, 151, 172, 185, 203]);
  return `${a}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${1 + Math.floor(rnd() * 254)}`;
}

function ephemeral(rnd: () => number): number {
  return 32768 + Math.floor(rnd() * 28232);
}

/** The traffic classes and their shares; `frontends` are the node's services (cluster.ts), if it has kube-proxy rules. */
export function workloadClasses(node: DemoNode, frontends: Frontend[] = []): WorkloadClass[] {
  const byKind = (k: Frontend["kind"]) => frontends.filter((f) => f.kind === k);
  const clusterIps = byKind("clusterip");
  const nodePorts = byKind("nodeport");
  const lbs = byKind("lb");
  const eth0Pods = node.pods.filter((p) => p.eni === "eth0");
  const eth1Pods = node.pods.filter((p) => p.eni !== "eth0");
  const remotePod = (rnd: () => number) => `10.0.${32 + Math.floor(rnd() * 32)}.${1 + Math.floor(rnd() * 254)}`;
  const classes: WorkloadClass[] = [
    {
      name: "pod -> internet (primary-ENI pod)", weight: 20,
      make: (rnd, t) => { const p = pick(rnd, eth0Pods); return { t, iif: p.veth, src: p.ip, dst: publicIp(rnd), proto: "tcp", sport: ephemeral(rnd), dport: 443, flags: pick(rnd, ["S", "A", "PA", "A", "FA"]), len: 40 + Math.floor(rnd() * 1400) }; },
    },
    {
      name: "pod -> internet (secondary-ENI pod, rule 1536 -> table 2)", weight: 10,
      make: (rnd, t) => { const p = pick(rnd, eth1Pods); return { t, iif: p.veth, src: p.ip, dst: publicIp(rnd), proto: "tcp", sport: ephemeral(rnd), dport: 443, flags: pick(rnd, ["S", "A", "PA"]), len: 40 + Math.floor(rnd() * 1400) }; },
    },
    {
      name: "pod -> pod on this node", weight: 12,
      make: (rnd, t) => { const a = pick(rnd, node.pods); const b = pick(rnd, node.pods.filter((p) => p !== a)); return { t, iif: a.veth, src: a.ip, dst: b.ip, proto: "tcp", sport: ephemeral(rnd), dport: 8080, flags: "PA", len: 200 + Math.floor(rnd() * 800) }; },
    },
    {
      name: "pod -> pod on another node", weight: 10,
      make: (rnd, t) => { const a = pick(rnd, node.pods); return { t, iif: a.veth, src: a.ip, dst: remotePod(rnd), proto: "tcp", sport: ephemeral(rnd), dport: 8080, flags: "A", len: 52 }; },
    },
    {
      name: "pod -> CoreDNS (UDP 53)", weight: 8,
      make: (rnd, t) => { const a = pick(rnd, node.pods); const dns = pick(rnd, node.pods.filter((p) => p.name.startsWith("coredns"))); return { t, iif: a.veth, src: a.ip, dst: dns.ip, proto: "udp", sport: ephemeral(rnd), dport: 53, len: 72 }; },
    },
    {
      name: "NLB ip-target -> pod (client IP preserved)", weight: 12,
      make: (rnd, t) => { const p = pick(rnd, node.pods); return { t, iif: p.eni, src: publicIp(rnd), dst: p.ip, proto: "tcp", sport: ephemeral(rnd), dport: 8080, flags: pick(rnd, ["S", "A", "PA"]), len: 60 }; },
    },
    {
      name: "NLB instance-target -> NodePort on eth0", weight: 8,
      make: (rnd, t) => {
        if (nodePorts.length) {
          const f = pick(rnd, nodePorts);
          const p: PacketInput = { t, iif: "eth0", src: publicIp(rnd), dst: f.ip, proto: f.proto, sport: ephemeral(rnd), dport: f.port, len: 60 };
          if (f.proto === "tcp") { p.flags = "S"; p.seq = Math.floor(rnd() * 2 ** 32); }
          return p;
        }
        return { t, iif: "eth0", src: publicIp(rnd), dst: node.nodeIp, proto: "tcp", sport: ephemeral(rnd), dport: 30000 + Math.floor(rnd() * 2768), flags: "S", seq: Math.floor(rnd() * 2 ** 32), len: 60 };
      },
    },
    {
      name: "pod -> ClusterIP service (kube-proxy DNAT to an endpoint)", weight: 12,
      make: (rnd, t) => {
        const a = pick(rnd, node.pods);
        const f = pick(rnd, clusterIps);
        const p: PacketInput = { t, iif: a.veth, src: a.ip, dst: f.ip, proto: f.proto, sport: ephemeral(rnd), dport: f.port, len: 60 };
        if (f.proto === "tcp") { p.flags = "S"; p.seq = Math.floor(rnd() * 2 ** 32); }
        return p;
      },
    },
    {
      name: "client -> load balancer IP (kube-proxy KUBE-EXT chain)", weight: 3,
      make: (rnd, t) => {
        const f = pick(rnd, lbs);
        const p: PacketInput = { t, iif: "eth0", src: publicIp(rnd), dst: f.ip, proto: f.proto, sport: ephemeral(rnd), dport: f.port, len: 60 };
        if (f.proto === "tcp") { p.flags = "S"; p.seq = Math.floor(rnd() * 2 ** 32); }
        return p;
      },
    },
    {
      name: "kubelet health checks -> pods (node-local process)", weight: 6,
      make: (rnd, t) => { const p = pick(rnd, node.pods); return { t, iif: "local", dst: p.ip, proto: "tcp", sport: ephemeral(rnd), dport: 8080, flags: "S", len: 60 }; },
    },
    {
      name: "pods -> instance metadata (169.254.169.254)", weight: 3,
      make: (rnd, t) => { const p = pick(rnd, node.pods); return { t, iif: p.veth, src: p.ip, dst: "169.254.169.254", proto: "tcp", sport: ephemeral(rnd), dport: 80, flags: "S", len: 60 }; },
    },
    {
      name: "asymmetric: internet -> primary-ENI pod arriving on eth1 (strict rp_filter)", weight: 3,
      make: (rnd, t) => { const p = pick(rnd, eth0Pods); return { t, iif: node.eniIps.length > 1 ? "eth1" : "eth0", src: publicIp(rnd), dst: p.ip, proto: "tcp", sport: ephemeral(rnd), dport: 8080, flags: "S", len: 60 }; },
    },
    {
      name: "traceroute probes through the node (TTL 1)", weight: 2,
      make: (rnd, t) => ({ t, iif: "eth0", src: publicIp(rnd), dst: pick(rnd, node.pods).ip, proto: "udp", sport: ephemeral(rnd), dport: 33434 + Math.floor(rnd() * 30), ttl: 1, len: 60 }),
    },
    {
      name: "ping the node", weight: 2,
      make: (rnd, t) => ({ t, iif: "eth0", src: publicIp(rnd), dst: node.nodeIp, proto: "icmp", icmp_type: 8, icmp_id: Math.floor(rnd() * 65536), icmp_seq: 1, len: 84 }),
    },
    {
      name: "oversized packets with DF (9100 bytes > MTU 9001)", weight: 1,
      make: (rnd, t) => { const p = pick(rnd, eth0Pods); return { t, iif: p.veth, src: p.ip, dst: publicIp(rnd), proto: "tcp", sport: ephemeral(rnd), dport: 443, flags: "A", len: 9100, df: true }; },
    },
    {
      name: "spoofed / martian sources", weight: 1,
      make: (rnd, t) => ({ t, iif: "eth0", src: pick(rnd, ["0.0.0.0", "127.0.0.1", node.nodeIp, "224.0.0.5"]), dst: node.pods[0].ip, proto: "udp", sport: 1234, dport: 53, len: 60 }),
    },
  ];
  // a node without secondary-ENI pods (or without services) has no such traffic
  return classes.filter((c) =>
    !(c.name.includes("secondary-ENI") && !eth1Pods.length) &&
    !(c.name.startsWith("pod -> ClusterIP") && !clusterIps.length) &&
    !(c.name.startsWith("client -> load balancer") && !lbs.length));
}

/** Generates `n` packets at `rate` packets per second of virtual time. */
export function generateWorkload(node: DemoNode, n: number, seed: number, rate = 50000, frontends: Frontend[] = []): PacketInput[] {
  const rnd = prng(seed);
  const classes = workloadClasses(node, frontends);
  const total = classes.reduce((s, c) => s + c.weight, 0);
  const out: PacketInput[] = [];
  for (let i = 0; i < n; i++) {
    let x = rnd() * total;
    let c = classes[0];
    for (const k of classes) { if (x < k.weight) { c = k; break; } x -= k.weight; }
    const p = c.make(rnd, Math.round((i / rate) * 1e6) / 1e6);
    p.id = i & 0xffff;
    out.push(p);
  }
  return out;
}
