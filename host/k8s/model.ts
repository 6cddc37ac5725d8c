/**
 * Inputs for rendering the iptables rules of an Amazon EKS worker node:
 * Kubernetes Services and their endpoints (kept close to the API objects, so
 * that real Service / EndpointSlice YAML can be mapped onto them), the
 * kube-proxy configuration and the AWS VPC CNI (aws-node) configuration.
 *
 * Also the intermediate form the renderers produce (an `IptablesFragment`
 * per component) and the few iptables-save formatting helpers they share.
 * Everything is IPv4 only, as nodeplane is.
 */

// ---------------------------------------------------------------------------
// Kubernetes objects

export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer";
export type ServiceProtocol = "TCP" | "UDP" | "SCTP";
export type TrafficPolicy = "Cluster" | "Local";

/** One entry of `spec.ports`. */
export interface K8sServicePort {
  /** Port name; may be left out (or "") when the service has a single port. */
  name?: string;
  protocol: ServiceProtocol;
  port: number;
  /** Informational: endpoints carry their own port numbers (as EndpointSlices do). */
  targetPort?: number | string;
  /** Allocated node port (NodePort and LoadBalancer services); 0 or absent = none. */
  nodePort?: number;
}

/** `status.loadBalancer.ingress[]`. AWS NLB/CLB publish `hostname` only, which gives no VIP rules. */
export interface K8sLoadBalancerIngress {
  ip?: string;
  hostname?: string;
  /** "VIP" (default) or "Proxy"; kube-proxy makes rules only for VIP. */
  ipMode?: "VIP" | "Proxy";
}

/** The parts of a v1.Service that kube-proxy looks at. */
export interface K8sService {
  namespace: string;
  name: string;
  type: ServiceType;
  /** `spec.clusterIP`; "None" (headless) or "" means kube-proxy ignores the service. */
  clusterIP: string;
  externalIPs?: string[];
  ports: K8sServicePort[];
  /** Only meaningful for NodePort / LoadBalancer / externalIPs. Default Cluster. */
  externalTrafficPolicy?: TrafficPolicy;
  /** Default Cluster. */
  internalTrafficPolicy?: TrafficPolicy;
  /** Default None. */
  sessionAffinity?: "None" | "ClientIP";
  /** `sessionAffinityConfig.clientIP.timeoutSeconds`; default 10800. */
  sessionAffinityTimeoutSeconds?: number;
  loadBalancerIngress?: K8sLoadBalancerIngress[];
  loadBalancerSourceRanges?: string[];
  /** Allocated by the API server for LoadBalancer services with externalTrafficPolicy Local. */
  healthCheckNodePort?: number;
}

/**
 * One endpoint (an EndpointSlice endpoint with a single address) of a
 * service. Conditions follow discovery/v1 semantics.
 */
export interface K8sEndpoint {
  ip: string;
  /** Port number per service port name ("" for an unnamed port). An endpoint without the name is not used for that port. */
  ports: Record<string, number>;
  /** `nodeName` of the endpoint; endpoints on KubeProxyOptions.nodeName are "local". */
  nodeName?: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

/** Endpoints keyed by "namespace/name" of their service. */
export type EndpointsByService = Map<string, K8sEndpoint[]> | Record<string, K8sEndpoint[]>;

/** "namespace/name", the key of EndpointsByService. */
export function serviceKey(s: { namespace: string; name: string }): string {
  return `${s.namespace}/${s.name}`;
}

// ---------------------------------------------------------------------------
// Component configuration

/** kube-proxy's "local traffic detector". EKS configures none (clusterCIDR ""). */
export type LocalDetector =
  | { mode: "none" }
  | { mode: "clusterCIDR"; cidr: string }
  | { mode: "interfaceNamePrefix"; prefix: string };

export interface KubeProxyOptions {
  /** Name of this node: endpoints with this nodeName are local. */
  nodeName: string;
  /** IPv4 addresses of this node, primary (InternalIP) first. */
  nodeIPs: string[];
  /** Default 14 (mark 0x4000), as on EKS. */
  masqueradeBit?: number;
  /** Default false. */
  masqueradeAll?: boolean;
  /** Default none (EKS). */
  localDetector?: LocalDetector;
  /** --iptables-localhost-nodeports; default true. Forced off when nodePortAddresses excludes 127.0.0.1. */
  localhostNodePorts?: boolean;
  /** --nodeport-addresses: CIDRs, or "primary" for the node IPs. Default: all addresses. */
  nodePortAddresses?: string[];
  /** iptables supports --random-fully (>= 1.6.2); default true. */
  randomFully?: boolean;
  /** The nfacct counters could be created (kube-proxy >= 1.30 with nfnetlink_acct); default false. */
  nfacct?: boolean;
  /** sysctl net.netfilter.nf_conntrack_tcp_be_liberal != 0; default false (keeps the INVALID drop). */
  conntrackTcpBeLiberal?: boolean;
}

export type RandomizeSnat = "prng" | "hashrandom" | "none";

export interface VpcCniOptions {
  /** Primary IP of the primary ENI (the SNAT source). */
  primaryIp: string;
  /** VPC CIDRs as IMDS lists them (primary first, then secondary CIDRs). */
  vpcCidrs: string[];
  /** AWS_VPC_K8S_CNI_EXTERNALSNAT; default false. */
  externalSnat?: boolean;
  /** AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS in config order; default []. Ignored when externalSnat. */
  excludeSnatCidrs?: string[];
  /** AWS_VPC_K8S_CNI_RANDOMIZESNAT; default prng (--random-fully). */
  randomizeSnat?: RandomizeSnat;
  /** AWS_VPC_K8S_CNI_CONNMARK; default 0x80. */
  connmark?: number;
  /** AWS_VPC_CNI_NODE_PORT_SUPPORT; default true. */
  nodePortSupport?: boolean;
  /** AWS_VPC_K8S_CNI_VETHPREFIX; default "eni". */
  vethPrefix?: string;
  /** Name of the interface with the primary ENI's MAC; default "eth0" ("ens5" on AL2023). */
  primaryIf?: string;
  /**
   * Which aws-node rule layout: "v1.23" (default; connmark rules from
   * iptables_connmark.go, chain deleted under EXTERNALSNAT) or "v1.16"
   * (v1.16-v1.22: single AWS-SNAT-CHAIN-0 too, but the connmark RETURNs are
   * commented "AWS CONNMARK CHAIN, VPC CIDR" / ", EXCLUDED CIDR" and the
   * chain always exists).
   */
  layout?: "v1.23" | "v1.16";
}

// ---------------------------------------------------------------------------
// Rendered rules

export type TableName = "raw" | "mangle" | "nat" | "filter";

/** Built-in chains of each table, in the order iptables-save prints them. */
export const BUILTIN_CHAINS: Record<TableName, readonly string[]> = {
  raw: ["PREROUTING", "OUTPUT"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
};

/** A rule a component adds with `iptables -I/-A` when it is missing (EnsureRule / Exists+Append). */
export interface EnsuredRule {
  table: TableName;
  /** The full rule in iptables-save form, "-A CHAIN ...". */
  rule: string;
  position: "prepend" | "append";
}

/**
 * What one component (kubelet, kube-proxy, aws-node) does to the tables at
 * start-up, in the order it does it. Rules are in iptables-save form, so a
 * merged fragment prints byte-exact.
 */
export interface IptablesFragment {
  owner: string;
  /** Tables in the order the component first touches them (decides iptables-save's table order, see iptables.ts). */
  touches: TableName[];
  /** Chains the component makes sure exist (iptables -N), without touching their rules. */
  ensureChains: { table: TableName; chain: string }[];
  /** Rules inserted/appended one by one if missing, in issue order. */
  ensureRules: EnsuredRule[];
  /** User chains whose whole contents the component writes (iptables-restore --noflush replaces them). */
  chains: Partial<Record<TableName, Map<string, string[]>>>;
}

/** Chain name of a rule line ("-A NAME ..."). */
export function ruleChain(rule: string): string {
  const end = rule.indexOf(" ", 3);
  return end < 0 ? rule.slice(3) : rule.slice(3, end);
}

// ---------------------------------------------------------------------------
// iptables-save formatting

const NO_QUOTE = /^[_\-0-9a-zA-Z]+$/;

/**
 * A string argument as iptables-save prints it (libxtables
 * xtables_save_string): bare if non-empty and made only of [_-0-9a-zA-Z],
 * otherwise in double quotes with `"`, `\` and `'` backslash-escaped.
 * Checked against iptables 1.8.9: `x` -> x, `a.b` -> "a.b", `` -> "".
 */
export function saveString(s: string): string {
  if (NO_QUOTE.test(s)) return s;
  return `"${s.replace(/["\\']/g, (c) => "\\" + c)}"`;
}

/** `-m comment --comment X` as iptables-save prints it. */
export function comment(s: string): string {
  return `-m comment --comment ${saveString(s)}`;
}

/** A mark/mask number as iptables prints it (0x%x). */
export function hex(n: number): string {
  return "0x" + (n >>> 0).toString(16);
}
