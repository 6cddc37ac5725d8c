/**
 * What a node has, read back from its snapshot the way an operator reads
 * `ip route` and `iptables-save` on it: the ENIs and the node IP, the pods
 * (the CNI's `<podIP> dev <hostveth> scope link` routes and their
 * `from <podIP> lookup <table>` rules), the VPC and excluded CIDRs (the
 * RETURN rules of aws-node's AWS-SNAT-CHAIN-0 / AWS-CONNMARK-CHAIN-0), and
 * the services kube-proxy programs (nat KUBE-SERVICES and KUBE-NODEPORTS, and
 * filter KUBE-SERVICES for those it rejects: no ready endpoint).
 * The behavioural diff derives its workload from these facts.
 */
import type { NodeSnapshot } from "../model/node.js";
import type { IptRule, IptRuleset } from "../model/iptables.js";
import { formatIPv4, maskOf } from "../util/ipv4.js";

/** addr/plen, always with the length. */
function cidr(addr: number, plen: number): string {
  return `${formatIPv4((addr & maskOf(plen)) >>> 0)}/${plen}`;
}

export interface PodFact { ip: string; veth: string; eni: string }
export interface EniFact { name: string; ip: string; subnet: string }
export interface ServiceFact {
  /** "clusterip", "lb" (load-balancer ingress IP) or "external" (externalIPs). */
  kind: "clusterip" | "lb" | "external";
  ip: string;
  port: number;
  proto: "tcp" | "udp";
  /** kube-proxy's comment: "namespace/name:port". */
  name: string;
}
export interface NodePortFact { port: number; proto: "tcp" | "udp"; name: string }

export interface NodeFacts {
  /** Device of the main table's default route (eth0 on EKS). */
  primaryEni?: string;
  /** The primary ENI's address (the node IP). */
  nodeIp?: string;
  enis: EniFact[];
  pods: PodFact[];
  /** VPC CIDRs (aws-node's "AWS SNAT CHAIN" / "AWS CONNMARK CHAIN" RETURN rules), or the ENI subnets if it has none. */
  vpcCidrs: string[];
  /** Where vpcCidrs came from. */
  vpcSource: "aws-node" | "eni-subnets" | "cluster";
  /** AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS ("AWS SNAT CHAIN EXCLUSION" RETURN rules). */
  excludedCidrs: string[];
  services: ServiceFact[];
  nodePorts: NodePortFact[];
}

function commentOf(r: IptRule): string | undefined {
  for (const m of r.matches) if (m.kind === "comment") return m.comment;
  return undefined;
}

function dportOf(r: IptRule): number | undefined {
  for (const m of r.matches) {
    if ((m.kind === "tcp" || m.kind === "udp") && m.dport && !m.dport.inv && m.dport.lo === m.dport.hi) return m.dport.lo;
  }
  return undefined;
}

function protoOf(r: IptRule): "tcp" | "udp" | undefined {
  if (!r.proto || r.proto.inv) return undefined;
  return r.proto.num === 6 ? "tcp" : r.proto.num === 17 ? "udp" : undefined;
}

function jumpsTo(r: IptRule, prefixes: string[]): boolean {
  const t = r.target;
  return (t.kind === "jump" || t.kind === "goto") && prefixes.some((p) => t.chain.startsWith(p));
}

/** kube-proxy's comment "ns/name:port cluster IP" without the kind words. */
function serviceName(comment: string | undefined): string {
  if (!comment) return "?";
  return comment.replace(/ (cluster IP|loadbalancer IP|external IP)$/, "");
}

/** Reads the facts of one node. */
export function nodeFacts(snap: NodeSnapshot, rules?: IptRuleset): NodeFacts {
  const enis: EniFact[] = [];
  const devWithAddr = new Set<string>();
  for (const a of snap.addrs) {
    devWithAddr.add(a.dev);
    if (a.scope === 0 && !enis.some((e) => e.name === a.dev)) {
      enis.push({ name: a.dev, ip: formatIPv4(a.local), subnet: cidr(a.local, a.plen) });
    }
  }
  const main = snap.routes.filter((r) => r.table === 254);
  const dflt = main.find((r) => r.type === "unicast" && r.plen === 0 && r.dev !== undefined);
  const primaryEni = dflt?.dev ?? enis[0]?.name;
  const nodeIp = dflt?.prefsrc ? formatIPv4(dflt.prefsrc) : enis.find((e) => e.name === primaryEni)?.ip;

  // pod -> ENI: the secondary ENI's table the pod's `from` rule looks up
  const eniOfTable = new Map<number, string>();
  for (const r of snap.routes) if (r.plen === 0 && r.dev !== undefined && r.table !== 254 && !eniOfTable.has(r.table)) eniOfTable.set(r.table, r.dev);
  const eniOfPod = new Map<number, string>();
  for (const r of snap.rules) {
    if (r.from && r.from.plen === 32 && !r.invert && r.action === "lookup" && r.table !== undefined && eniOfTable.has(r.table)) {
      eniOfPod.set(r.from.addr, eniOfTable.get(r.table)!);
    }
  }
  const pods: PodFact[] = [];
  for (const r of main) {
    if (r.type !== "unicast" || r.plen !== 32 || r.gw !== 0 || r.scope !== 253 || r.dev === undefined || devWithAddr.has(r.dev)) continue;
    if (r.dev === "lo") continue;
    pods.push({ ip: formatIPv4(r.prefix), veth: r.dev, eni: eniOfPod.get(r.prefix) ?? primaryEni ?? "" });
  }

  const vpcCidrs: string[] = [];
  const excludedCidrs: string[] = [];
  const services: ServiceFact[] = [];
  const nodePorts: NodePortFact[] = [];
  const connmarkCidrs: string[] = [];
  const nat = rules?.tables.find((t) => t.name === "nat");
  for (const c of nat?.chains ?? []) {
    for (const r of c.rules) {
      const comment = commentOf(r);
      if (/^AWS-(SNAT|CONNMARK)-CHAIN-/.test(c.name) && r.target.kind === "RETURN") {
        // the SNAT chain tells VPC CIDRs from excluded ones by comment; the
        // CONNMARK chain (v1.23 layout) does not, so it only fills in below
        const c2 = r.dst && !r.dst.inv ? cidr(r.dst.addr, r.dst.plen) : "0.0.0.0/0";
        const list = c.name.startsWith("AWS-CONNMARK") ? (comment?.includes("EXCLUDED") ? excludedCidrs : connmarkCidrs)
          : comment?.includes("EXCLUSION") ? excludedCidrs : vpcCidrs;
        if (!list.includes(c2)) list.push(c2);
      } else if (c.name === "KUBE-SERVICES" && r.dst && !r.dst.inv && r.dst.plen === 32 && jumpsTo(r, ["KUBE-SVC-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SVL-"])) {
        const proto = protoOf(r);
        const port = dportOf(r);
        if (!proto || port === undefined) continue;
        const kind = comment?.endsWith("loadbalancer IP") ? "lb" : comment?.endsWith("external IP") ? "external" : "clusterip";
        services.push({ kind, ip: formatIPv4(r.dst.addr), port, proto, name: serviceName(comment) });
      } else if (c.name === "KUBE-NODEPORTS" && !r.dst && jumpsTo(r, ["KUBE-SVC-", "KUBE-EXT-", "KUBE-SVL-"])) {
        const proto = protoOf(r);
        const port = dportOf(r);
        if (!proto || port === undefined) continue;
        nodePorts.push({ port, proto, name: serviceName(comment) });
      }
    }
  }
  // services with no ready endpoint: kube-proxy REJECTs their ClusterIP in filter KUBE-SERVICES
  const filter = rules?.tables.find((t) => t.name === "filter");
  for (const r of filter?.chains.find((c) => c.name === "KUBE-SERVICES")?.rules ?? []) {
    if (r.target.kind !== "REJECT" || !r.dst || r.dst.inv || r.dst.plen !== 32) continue;
    const proto = protoOf(r);
    const port = dportOf(r);
    if (!proto || port === undefined) continue;
    const ip = formatIPv4(r.dst.addr);
    if (services.some((s) => s.ip === ip && s.port === port && s.proto === proto)) continue;
    services.push({ kind: "clusterip", ip, port, proto, name: (commentOf(r) ?? "?").replace(/ has no endpoints$/, "") });
  }
  // the CONNMARK chain's CIDRs count as VPC CIDRs when the SNAT chain has none and they are not known as excluded
  if (!vpcCidrs.length) for (const c of connmarkCidrs) if (!excludedCidrs.includes(c)) vpcCidrs.push(c);
  // a VPC CIDR also listed as excluded is a VPC CIDR
  for (let i = excludedCidrs.length - 1; i >= 0; i--) if (vpcCidrs.includes(excludedCidrs[i]!)) excludedCidrs.splice(i, 1);
  const vpcSource = vpcCidrs.length ? "aws-node" : "eni-subnets";
  if (!vpcCidrs.length) for (const e of enis) if (!vpcCidrs.includes(e.subnet)) vpcCidrs.push(e.subnet);
  return { primaryEni, nodeIp, enis, pods, vpcCidrs, vpcSource, excludedCidrs, services, nodePorts };
}

/**
 * The facts of two nodes taken together (the workload must be the same on
 * both sides): pods, services and CIDRs of either, the first side's first.
 * A CIDR found only on one side still describes the VPC of both (an
 * EXTERNALSNAT node has no AWS-SNAT-CHAIN rules to read it from).
 */
export function mergeFacts(a: NodeFacts, b: NodeFacts, extraVpcCidrs: string[] = []): NodeFacts {
  const uniq = <T>(xs: T[], key: (x: T) => string) => {
    const seen = new Set<string>();
    return xs.filter((x) => { const k = key(x); if (seen.has(k)) return false; seen.add(k); return true; });
  };
  const aws = (f: NodeFacts) => (f.vpcSource === "eni-subnets" ? [] : f.vpcCidrs);
  const known = uniq([...extraVpcCidrs, ...aws(a), ...aws(b)], (c) => c);
  return {
    primaryEni: a.primaryEni ?? b.primaryEni,
    nodeIp: a.nodeIp ?? b.nodeIp,
    enis: uniq([...a.enis, ...b.enis], (e) => e.name),
    pods: uniq([...a.pods, ...b.pods], (p) => p.ip),
    vpcCidrs: known.length ? known : uniq([...a.vpcCidrs, ...b.vpcCidrs], (c) => c),
    vpcSource: extraVpcCidrs.length ? "cluster" : known.length ? "aws-node" : "eni-subnets",
    excludedCidrs: uniq([...a.excludedCidrs, ...b.excludedCidrs], (c) => c),
    services: uniq([...a.services, ...b.services], (s) => `${s.kind} ${s.ip}:${s.port}/${s.proto}`),
    nodePorts: uniq([...a.nodePorts, ...b.nodePorts], (s) => `${s.port}/${s.proto}`),
  };
}
