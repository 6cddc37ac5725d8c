/**
 * The diff's workload: a set of flows (connections, not loose packets)
 * derived from what the node has (facts.ts), the same on both sides. Each
 * flow is a TCP handshake, data and FIN exchange, or a UDP request and its
 * response; flow.ts plays it packet by packet, the server's packets
 * answering what the node actually sent.
 */
import type { NodeFacts } from "./facts.js";
import { mulberry32 } from "../util/prng.js";
import { inPrefix, parseCidr, parseIPv4, formatIPv4, maskOf } from "../util/ipv4.js";

/** Kinds of flow, in the order they are reported. */
export const FLOW_KINDS = [
  "pod-internet", "pod-internet-udp", "pod-pod-local", "pod-pod-remote", "pod-clusterip", "pod-excluded-cidr",
  "pod-metadata", "external-nodeport", "external-lb", "external-pod", "local-clusterip", "local-internet", "input",
] as const;
export type FlowKind = typeof FLOW_KINDS[number];

/** What each kind is, for the report. */
export const FLOW_KIND_TEXT: Record<FlowKind, string> = {
  "pod-internet": "pod to outside the VPC (TCP 443)",
  "pod-internet-udp": "pod to outside the VPC (UDP 53)",
  "pod-pod-local": "pod to pod on this node",
  "pod-pod-remote": "pod to an address on another node of the VPC",
  "pod-clusterip": "pod to a ClusterIP service",
  "pod-excluded-cidr": "pod to an excluded SNAT CIDR",
  "pod-metadata": "pod to the instance metadata service",
  "external-nodeport": "outside client to a NodePort on the primary ENI",
  "external-lb": "outside client to a load-balancer IP",
  "external-pod": "outside client to a pod IP (NLB IP target)",
  "local-clusterip": "node-local process to a ClusterIP service",
  "local-internet": "node-local process to outside the VPC",
  "input": "a packet of the --packets file",
};

export interface Flow {
  id: number;
  kind: FlowKind;
  proto: "tcp" | "udp";
  /** Who opens the connection. */
  initiator: "pod" | "external" | "local";
  /** Where the client's packets enter: a pod's host veth, an ENI, or "local" (a process on the node). */
  iif: string;
  /** The client's address (absent for a local process: the node picks it). */
  src?: string;
  dst: string;
  sport: number;
  dport: number;
  /** The service the flow addresses, if any. */
  service?: string;
  /** --packets: the packet's line in the file. */
  line?: number;
}

export interface WorkloadOptions {
  /** At most this many flows (spread over the kinds in turn). */
  flows: number;
  seed: number;
}

/** The flow as one line: "10.0.1.23:40000 -> 1.1.1.1:443 tcp". */
export function flowLabel(f: Flow): string {
  return `${f.src ?? "node"}:${f.sport} -> ${f.dst}:${f.dport} ${f.proto}`;
}

const PUBLIC_FIRST_OCTETS = [3, 8, 13, 18, 23, 34, 35, 44, 52, 54, 63, 99, 104, 142, 151, 185, 203];

function shuffled<T>(xs: readonly T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Builds the workload for a node (or a merged pair of nodes). */
export function deriveFlows(facts: NodeFacts, o: WorkloadOptions): Flow[] {
  const rnd = mulberry32(o.seed * 2654435761 + 17);
  const cidrs = [...facts.vpcCidrs, ...facts.excludedCidrs].map((c) => parseCidr(c)!).filter(Boolean);
  const taken = new Set<string>([...facts.pods.map((p) => p.ip), ...facts.enis.map((e) => e.ip)]);
  const outsideAll = (ip: string) => {
    const a = parseIPv4(ip)!;
    return !cidrs.some((c) => inPrefix(a, c.addr, c.plen));
  };
  const publicIp = (): string => {
    for (;;) {
      const a = PUBLIC_FIRST_OCTETS[Math.floor(rnd() * PUBLIC_FIRST_OCTETS.length)]!;
      const ip = `${a}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${1 + Math.floor(rnd() * 254)}`;
      if (outsideAll(ip) && !taken.has(ip)) return ip;
    }
  };
  /** A host address inside `cidr` that is not this node's, outside the excluded CIDRs unless `cidr` is one (up to 64 tries). */
  const hostIn = (cidr: string): string | undefined => {
    const c = parseCidr(cidr)!;
    if (c.plen > 28) return undefined;
    const size = 2 ** (32 - c.plen);
    const excluded = facts.excludedCidrs.includes(cidr) ? [] : facts.excludedCidrs.map((e) => parseCidr(e)!);
    for (let k = 0; k < 64; k++) {
      const a = (((c.addr & maskOf(c.plen)) >>> 0) + 4 + Math.floor(rnd() * (size - 8))) >>> 0;
      const ip = formatIPv4(a);
      if (!taken.has(ip) && !excluded.some((x) => inPrefix(a, x.addr, x.plen))) return ip;
    }
    return undefined;
  };

  const pods = shuffled(facts.pods, rnd);
  const pod = (k: number) => pods[k % pods.length]!;
  const clusterIps = shuffled(facts.services.filter((s) => s.kind === "clusterip"), rnd);
  const lbs = shuffled(facts.services.filter((s) => s.kind !== "clusterip"), rnd);
  const nodePorts = shuffled(facts.nodePorts, rnd);
  const primary = facts.primaryEni;
  const n = o.flows;

  type Draft = Omit<Flow, "id" | "sport">;
  const kinds = new Map<FlowKind, Draft[]>();
  const add = (d: Draft) => { let l = kinds.get(d.kind); if (!l) kinds.set(d.kind, (l = [])); l.push(d); };
  const each = (count: number, f: (k: number) => void) => { for (let k = 0; k < count; k++) f(k); };

  if (pods.length) {
    each(Math.min(n, pods.length * 2), (k) => add({ kind: "pod-internet", proto: "tcp", initiator: "pod", iif: pod(k).veth, src: pod(k).ip, dst: publicIp(), dport: 443 }));
    each(Math.min(n, pods.length), (k) => add({ kind: "pod-internet-udp", proto: "udp", initiator: "pod", iif: pod(k).veth, src: pod(k).ip, dst: publicIp(), dport: 53 }));
    if (pods.length > 1) each(Math.min(n, pods.length), (k) => add({ kind: "pod-pod-local", proto: "tcp", initiator: "pod", iif: pod(k).veth, src: pod(k).ip, dst: pod(k + 1).ip, dport: 8080 }));
    each(Math.min(n, pods.length), (k) => {
      const dst = hostIn(facts.vpcCidrs[k % facts.vpcCidrs.length]!);
      if (dst) add({ kind: "pod-pod-remote", proto: "tcp", initiator: "pod", iif: pod(k).veth, src: pod(k).ip, dst, dport: 8080 });
    });
    each(Math.min(n, clusterIps.length), (k) => {
      const s = clusterIps[k]!;
      add({ kind: "pod-clusterip", proto: s.proto, initiator: "pod", iif: pod(k).veth, src: pod(k).ip, dst: s.ip, dport: s.port, service: s.name });
    });
    facts.excludedCidrs.forEach((c, k) => {
      const dst = hostIn(c);
      if (dst) add({ kind: "pod-excluded-cidr", proto: "tcp", initiator: "pod", iif: pod(k).veth, src: pod(k).ip, dst, dport: 443 });
    });
    each(Math.min(n, 2), (k) => add({ kind: "pod-metadata", proto: "tcp", initiator: "pod", iif: pod(k).veth, src: pod(k).ip, dst: "169.254.169.254", dport: 80 }));
  }
  if (primary && facts.nodeIp) {
    each(Math.min(n, nodePorts.length), (k) => {
      const s = nodePorts[k]!;
      add({ kind: "external-nodeport", proto: s.proto, initiator: "external", iif: primary, src: publicIp(), dst: facts.nodeIp!, dport: s.port, service: s.name });
    });
    each(Math.min(n, lbs.length), (k) => {
      const s = lbs[k]!;
      add({ kind: "external-lb", proto: s.proto, initiator: "external", iif: primary, src: publicIp(), dst: s.ip, dport: s.port, service: s.name });
    });
  }
  each(Math.min(n, pods.length), (k) => add({ kind: "external-pod", proto: "tcp", initiator: "external", iif: pod(k).eni || primary || "", src: publicIp(), dst: pod(k).ip, dport: 8080 }));
  each(Math.min(n, clusterIps.length), (k) => {
    const s = clusterIps[(k + 1) % clusterIps.length]!;
    add({ kind: "local-clusterip", proto: s.proto, initiator: "local", iif: "local", dst: s.ip, dport: s.port, service: s.name });
  });
  each(2, () => add({ kind: "local-internet", proto: "tcp", initiator: "local", iif: "local", dst: publicIp(), dport: 443 }));

  // take the kinds in turn until `flows` are chosen
  const out: Flow[] = [];
  const base = 32768 + Math.floor(rnd() * 16384);
  const queues = FLOW_KINDS.map((k) => kinds.get(k) ?? []);
  for (let round = 0; out.length < n && queues.some((q) => round < q.length); round++) {
    for (const q of queues) {
      if (out.length >= n) break;
      const d = q[round];
      if (d) out.push({ ...d, id: out.length, sport: base + out.length } as Flow);
    }
  }
  // report order: by kind, then as drawn
  out.sort((x, y) => FLOW_KINDS.indexOf(x.kind) - FLOW_KINDS.indexOf(y.kind) || x.id - y.id);
  out.forEach((f, i) => { f.sport = base + i; f.id = i; });
  return out;
}
