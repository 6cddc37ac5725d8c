/**
 * The node as the traffic generator sees it: which addresses are its pods
 * (and behind which host veth, on which ENI), its ENIs and their addresses,
 * its primary IP, the service frontends kube-proxy programs (ClusterIP:port,
 * NodePorts, load-balancer and external IPs), and the VPC CIDRs.
 *
 * nodeViewFromSnapshot() reads it from any snapshot, as the AWS VPC CNI and
 * kube-proxy leave it:
 *  - pods: `<podIP> dev <hostveth> scope link` routes of the main table (a
 *    /32, no gateway, a device without IPv4 addresses of its own); the pod's
 *    ENI is the device of the default route of the table its
 *    `from <podIP> lookup N` rule names (secondary-ENI pods), else the main
 *    table's default route device;
 *  - ENIs: devices with a global IPv4 address (primary: the main table's
 *    default route device); the node IP is the primary ENI's first address;
 *  - services: the nat table's KUBE-SERVICES rules with `-d IP/32 -p
 *    tcp|udp --dport P` jumping to KUBE-SVC-/KUBE-SVL- (ClusterIP) or
 *    KUBE-EXT-/KUBE-FW- (load-balancer IP; "external IP" when kube-proxy's
 *    comment says so), and KUBE-NODEPORTS rules `-p --dport` (NodePorts,
 *    reached on the node IP);
 *    Left out: the NodePorts, load-balancer and external IPs of a service
 *    with externalTrafficPolicy Local and no endpoint on this node (the
 *    filter table's KUBE-EXTERNAL-SERVICES drops them: "has no local
 *    endpoints"). An NLB sends them no traffic: the service's health check
 *    port fails on such a node, and the NLB sends to the nodes that pass.
 *  - VPC CIDRs: the `-d CIDR -j RETURN` rules of the CNI's AWS-SNAT-CHAIN-*
 *    (the traffic it does not SNAT), else the ENIs' connected subnets.
 */
import type { NodeSnapshot } from "../model/node.js";
import type { IptRuleset } from "../model/iptables.js";
import { parseIptablesSave } from "../netfilter/parse.js";
import { formatIPv4, formatPrefix, maskOf } from "../util/ipv4.js";

export type FrontendKind = "clusterip" | "nodeport" | "loadbalancer" | "externalip";

export interface ViewPod { ip: string; veth: string; eni: string }
export interface ViewEni { name: string; ips: string[] }
export interface ViewService { kind: FrontendKind; ip: string; port: number; proto: "tcp" | "udp" }

export interface NodeView {
  /** The primary ENI's primary address: NodePorts are reached on it. */
  nodeIp: string;
  /** The ENIs, the primary first. */
  enis: ViewEni[];
  pods: ViewPod[];
  services: ViewService[];
  vpcCidrs: string[];
}

const MAIN = 254;

export function nodeViewFromSnapshot(snapshot: NodeSnapshot, iptables?: string | IptRuleset): NodeView {
  const addrDevs = new Set(snapshot.addrs.filter((a) => a.dev !== "lo").map((a) => a.dev));
  const loopbacks = new Set(snapshot.links.filter((l) => l.linkType === "loopback").map((l) => l.name));
  // ENIs in ifindex order, the main default route's device first
  const mainDefault = snapshot.routes.find((r) => r.table === MAIN && r.plen === 0 && r.type === "unicast" && r.dev);
  const enis: ViewEni[] = [];
  for (const l of [...snapshot.links].sort((a, b) => a.ifindex - b.ifindex)) {
    if (loopbacks.has(l.name)) continue;
    const ips = snapshot.addrs.filter((a) => a.dev === l.name && a.scope === 0).map((a) => formatIPv4(a.local));
    if (ips.length) enis.push({ name: l.name, ips });
  }
  if (mainDefault?.dev) {
    const k = enis.findIndex((e) => e.name === mainDefault.dev);
    if (k > 0) enis.unshift(...enis.splice(k, 1));
  }
  const primary = enis[0];
  const nodeIp = primary ? (mainDefault?.prefsrc && mainDefault.dev === primary.name ? formatIPv4(mainDefault.prefsrc) : primary.ips[0]!) : "0.0.0.0";

  // pods: host routes to a device without addresses of its own
  const pods: ViewPod[] = [];
  for (const r of snapshot.routes) {
    if (r.table !== MAIN || r.type !== "unicast" || r.plen !== 32 || r.gw !== 0 || !r.dev || r.scope !== 253) continue;
    if (addrDevs.has(r.dev) || loopbacks.has(r.dev)) continue;
    const rule = snapshot.rules.find((x) => x.action === "lookup" && !x.invert && x.from?.plen === 32 && x.from.addr === r.prefix && !x.to);
    let eni = mainDefault?.dev ?? primary?.name ?? "";
    if (rule?.table !== undefined && rule.table !== MAIN) {
      const d = snapshot.routes.find((x) => x.table === rule.table && x.plen === 0 && x.dev);
      if (d?.dev) eni = d.dev;
    }
    pods.push({ ip: formatIPv4(r.prefix), veth: r.dev, eni });
  }

  const rs = typeof iptables === "string" ? parseIptablesSave(iptables) : iptables ?? (snapshot.iptablesSave !== undefined ? parseIptablesSave(snapshot.iptablesSave) : undefined);
  const services: ViewService[] = [];
  const vpcCidrs: string[] = [];
  const nat = rs?.tables.find((t) => t.name === "nat");
  const noLocal = noLocalEndpoints(rs);
  const seen = new Set<string>();
  const add = (s: ViewService) => {
    const k = `${s.kind} ${s.ip} ${s.port} ${s.proto}`;
    if (s.kind !== "clusterip" && (noLocal.has(`${s.proto} ${s.kind === "nodeport" ? "LOCAL" : s.ip} ${s.port}`))) return;
    if (!seen.has(k)) { seen.add(k); services.push(s); }
  };
  for (const chain of nat?.chains ?? []) {
    for (const r of chain.rules) {
      const proto = r.proto && !r.proto.inv ? (r.proto.num === 6 ? "tcp" : r.proto.num === 17 ? "udp" : undefined) : undefined;
      const l4 = r.matches.find((m) => m.kind === "tcp" || m.kind === "udp") as { dport?: { lo: number; hi: number; inv: boolean } } | undefined;
      const dport = l4?.dport && !l4.dport.inv && l4.dport.lo === l4.dport.hi ? l4.dport.lo : undefined;
      const jump = r.target.kind === "jump" || r.target.kind === "goto" ? r.target.chain : "";
      if (chain.name === "KUBE-SERVICES" && proto && dport !== undefined && r.dst && !r.dst.inv && r.dst.plen === 32) {
        const comment = r.matches.find((m) => m.kind === "comment") as { comment: string } | undefined;
        let kind: FrontendKind | undefined;
        if (jump.startsWith("KUBE-SVC-") || jump.startsWith("KUBE-SVL-")) kind = "clusterip";
        else if (jump.startsWith("KUBE-EXT-") || jump.startsWith("KUBE-FW-")) kind = /external IP/i.test(comment?.comment ?? "") ? "externalip" : "loadbalancer";
        if (kind) add({ kind, ip: formatIPv4(r.dst.addr), port: dport, proto });
      } else if (chain.name === "KUBE-NODEPORTS" && proto && dport !== undefined && !r.dst && (jump.startsWith("KUBE-EXT-") || jump.startsWith("KUBE-SVC-"))) {
        add({ kind: "nodeport", ip: nodeIp, port: dport, proto });
      } else if (chain.name.startsWith("AWS-SNAT-CHAIN") && r.target.kind === "RETURN" && r.dst && !r.dst.inv) {
        const c = formatPrefix(r.dst.addr, r.dst.plen);
        if (!vpcCidrs.includes(c)) vpcCidrs.push(c);
      }
    }
  }
  if (!vpcCidrs.length) {
    for (const a of snapshot.addrs) {
      if (a.dev === "lo" || a.scope !== 0) continue;
      const c = formatPrefix((a.local & maskOf(a.plen)) >>> 0, a.plen);
      if (!vpcCidrs.includes(c)) vpcCidrs.push(c);
    }
  }
  return { nodeIp, enis, pods, services, vpcCidrs };
}

/**
 * Frontends kube-proxy drops for want of a local endpoint (externalTrafficPolicy
 * Local): the filter table's KUBE-EXTERNAL-SERVICES `-j DROP` rules, as
 * "proto LOCAL port" (NodePorts: `-m addrtype --dst-type LOCAL`) or
 * "proto IP port" (`-d IP/32`: load-balancer and external IPs).
 */
function noLocalEndpoints(rs: IptRuleset | undefined): Set<string> {
  const out = new Set<string>();
  const chain = rs?.tables.find((t) => t.name === "filter")?.chains.find((c) => c.name === "KUBE-EXTERNAL-SERVICES");
  for (const r of chain?.rules ?? []) {
    if (r.target.kind !== "DROP") continue;
    const proto = r.proto && !r.proto.inv ? (r.proto.num === 6 ? "tcp" : r.proto.num === 17 ? "udp" : undefined) : undefined;
    const l4 = r.matches.find((m) => m.kind === "tcp" || m.kind === "udp") as { dport?: { lo: number; hi: number; inv: boolean } } | undefined;
    if (!proto || !l4?.dport || l4.dport.inv || l4.dport.lo !== l4.dport.hi) continue;
    const at = r.matches.find((m) => m.kind === "addrtype") as { dstType?: { mask: number; inv: boolean } } | undefined;
    if (at?.dstType && !at.dstType.inv && !r.dst) out.add(`${proto} LOCAL ${l4.dport.lo}`);
    else if (r.dst && !r.dst.inv && r.dst.plen === 32) out.add(`${proto} ${formatIPv4(r.dst.addr)} ${l4.dport.lo}`);
  }
  return out;
}
