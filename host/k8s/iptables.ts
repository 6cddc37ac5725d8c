/**
 * One EKS node's complete iptables ruleset, exactly as `iptables-save`
 * (iptables 1.8.9, legacy backend, no -c) prints it, minus the `#` header
 * and footer lines; and a generator of synthetic clusters to feed it.
 *
 * The components' start-up is replayed in the order it happens on a node:
 * kubelet (KUBE-IPTABLES-HINT, KUBE-FIREWALL and its jumps, the
 * KUBE-KUBELET-CANARY chains), then kube-proxy (jump rules prepended, its
 * chains restored), then aws-node (its rules appended). kube-proxy and
 * aws-node run as pods, so they start after kubelet; between them the order
 * does not change the result (one prepends, the other appends).
 *
 * What the kernel decides (checked with iptables-legacy-save in a fresh
 * network namespace, test/k8s/render.test.ts):
 *  - tables are listed newest first: the kernel adds a table to the front of
 *    its per-namespace list when it is first used (xt_register_table uses
 *    list_add), and iptables-save walks /proc/net/ip_tables_names. kubelet
 *    touches mangle (hint chain), filter (KUBE-FIREWALL) and then nat (its
 *    canary), so a node prints nat, filter, mangle;
 *  - in a table, the built-in chains come first in hook order, then the
 *    user chains sorted by name (strcmp: "AWS-..." < "KUBE-..." < "a...",
 *    libiptc keeps its chain list sorted);
 *  - rules follow, chain by chain in that same order.
 */
import {
  BUILTIN_CHAINS,
  ruleChain,
  serviceKey,
  type IptablesFragment,
  type K8sEndpoint,
  type K8sService,
  type K8sServicePort,
  type KubeProxyOptions,
  type TableName,
  type VpcCniOptions,
} from "./model.js";
import { KUBE_FIREWALL_RULE } from "./kube-proxy.js";
import { mulberry32 } from "../util/prng.js";
import { formatIPv4, parseIPv4 } from "../util/ipv4.js";

/** What kubelet (v1.28+, KEP-3178 done) sets up: pkg/kubelet/kubelet_network_linux.go syncIPTablesRules + Monitor. */
export function kubeletFragment(): IptablesFragment {
  return {
    owner: "kubelet",
    touches: ["mangle", "filter", "nat"],
    ensureChains: [
      { table: "mangle", chain: "KUBE-IPTABLES-HINT" },
      { table: "filter", chain: "KUBE-FIREWALL" },
      { table: "mangle", chain: "KUBE-KUBELET-CANARY" },
      { table: "nat", chain: "KUBE-KUBELET-CANARY" },
      { table: "filter", chain: "KUBE-KUBELET-CANARY" },
    ],
    ensureRules: [
      { table: "filter", rule: "-A OUTPUT -j KUBE-FIREWALL", position: "prepend" },
      { table: "filter", rule: "-A INPUT -j KUBE-FIREWALL", position: "prepend" },
      { table: "filter", rule: KUBE_FIREWALL_RULE, position: "append" },
    ],
    chains: {},
  };
}

export interface RenderNodeOptions {
  /** Include kubelet's chains and rules (default true: every EKS node runs kubelet). */
  kubelet?: boolean;
  /** Force the table order instead of deriving it from the start-up order. */
  tableOrder?: TableName[];
}

interface TableState {
  chains: Map<string, string[]>;
}

/** Targets (extensions and verdicts) the renderers use. */
const TARGETS = new Set(["ACCEPT", "DROP", "RETURN", "REJECT", "DNAT", "SNAT", "MASQUERADE", "MARK", "CONNMARK"]);

const byteCmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The node's `iptables-save` output (no `#` lines), deterministic. Rules of
 * shared built-in chains: kube-proxy's jumps first (prepended), then
 * kubelet's, then aws-node's (appended).
 */
export function renderNodeIptables(kubeProxy: IptablesFragment, vpcCni: IptablesFragment, opts: RenderNodeOptions = {}): string {
  const parts = [...(opts.kubelet ?? true ? [kubeletFragment()] : []), kubeProxy, vpcCni];
  const touched: TableName[] = [];
  const tables = new Map<TableName, TableState>();
  const table = (t: TableName) => {
    let s = tables.get(t);
    if (!s) {
      s = { chains: new Map(BUILTIN_CHAINS[t].map((c) => [c, [] as string[]])) };
      tables.set(t, s);
      touched.push(t);
    }
    return s;
  };
  for (const part of parts) {
    for (const t of part.touches) table(t);
    for (const { table: t, chain } of part.ensureChains) {
      const s = table(t);
      if (!s.chains.has(chain)) s.chains.set(chain, []);
    }
    for (const { table: t, rule, position } of part.ensureRules) {
      const s = table(t);
      const chain = ruleChain(rule);
      const rules = s.chains.get(chain);
      if (!rules) throw new Error(`${part.owner}: rule for missing chain ${t}/${chain}: ${rule}`);
      if (rules.includes(rule)) continue;
      if (position === "prepend") rules.unshift(rule);
      else rules.push(rule);
    }
    for (const [t, chains] of Object.entries(part.chains) as [TableName, Map<string, string[]>][]) {
      const s = table(t);
      for (const [chain, rules] of chains) s.chains.set(chain, [...rules]);
    }
  }
  // every chain a rule jumps to must exist, as iptables-restore would insist
  for (const [t, s] of tables) {
    for (const rules of s.chains.values()) {
      for (const r of rules) {
        const j = r.lastIndexOf(" -j ");
        if (j < 0) continue;
        const end = r.indexOf(" ", j + 4);
        const target = end < 0 ? r.slice(j + 4) : r.slice(j + 4, end);
        if (!s.chains.has(target) && !TARGETS.has(target)) throw new Error(`${t}: jump to undeclared chain ${target} in: ${r}`);
      }
    }
  }
  const order = opts.tableOrder ?? [...touched].reverse();
  const out: string[] = [];
  for (const t of order) {
    const s = tables.get(t);
    if (!s) continue;
    const builtins = BUILTIN_CHAINS[t];
    const user = [...s.chains.keys()].filter((c) => !builtins.includes(c)).sort(byteCmp);
    out.push(`*${t}`);
    for (const c of builtins) out.push(`:${c} ACCEPT [0:0]`);
    for (const c of user) out.push(`:${c} - [0:0]`);
    for (const c of [...builtins, ...user]) for (const r of s.chains.get(c)!) out.push(r);
    out.push("COMMIT");
  }
  return out.join("\n") + "\n";
}

// ---------------------------------------------------------------------------
// synthetic clusters

export interface SyntheticClusterOptions {
  /** Number of services, the default kubernetes and kube-dns services included. */
  services: number;
  /** Mean endpoints per service (1..2m-1, uniform); default 3. */
  endpointsPerService?: number;
  /** Share of services reachable from outside (NodePort, or LoadBalancer with an NLB hostname); default 0.2. */
  nodePortShare?: number;
  /** Share of those with externalTrafficPolicy Local (LoadBalancer ones get a healthCheckNodePort); default 0.3. */
  localShare?: number;
  /** Share with sessionAffinity ClientIP; default 0.05. */
  affinityShare?: number;
  /** Share without any endpoint (or with only not-ready ones); default 0.05. */
  noEndpointShare?: number;
  /** Share of UDP services; default 0.05. */
  udpShare?: number;
  /** Worker nodes; this node is one of them. Default 10. */
  nodes?: number;
  seed?: number;
}

export interface SyntheticNode {
  name: string;
  ip: string;
}

export interface SyntheticCluster {
  services: K8sService[];
  /** Keyed by "namespace/name". */
  endpoints: Map<string, K8sEndpoint[]>;
  /** This node (the one whose rules get rendered). */
  node: SyntheticNode;
  nodes: SyntheticNode[];
  kubeProxy: KubeProxyOptions;
  vpcCni: VpcCniOptions;
}

const VPC = "10.0.0.0/16";
/** This node: the address of host/scenario/eks-node.ts's meta hostname (ip-10-0-42-17). */
const THIS_NODE_IP = "10.0.42.17";
const NAMESPACES = ["default", "shop", "payments", "search", "monitoring", "ingress", "data", "auth", "media", "batch"];
const APPS = ["web", "api", "cart", "checkout", "catalog", "ledger", "indexer", "recs", "gateway", "users", "orders", "images", "events", "billing", "notify"];
const TCP_PORTS: [string, number, number][] = [
  ["http", 80, 8080],
  ["https", 443, 8443],
  ["grpc", 9090, 9090],
  ["http", 8080, 8080],
  ["metrics", 9100, 9100],
  ["redis", 6379, 6379],
  ["postgres", 5432, 5432],
];
const UDP_PORTS: [string, number, number][] = [
  ["syslog", 514, 5140],
  ["statsd", 8125, 8125],
  ["dns", 53, 5353],
  ["quic", 443, 8443],
];

function nodeNameOf(ip: string): string {
  return `ip-${ip.replace(/\./g, "-")}.ec2.internal`;
}

/**
 * A cluster on the EKS defaults: VPC 10.0.0.0/16, service CIDR
 * 10.100.0.0/16 (kubernetes at .1, kube-dns at .10), nodes and pods in three
 * /18 subnets (one per AZ), this node 10.0.42.17 with its pods in
 * 10.0.0.0/18, secondary VPC CIDRs 100.64.0.0/16... when the pods do not
 * fit. Endpoints are spread evenly over the nodes, so about 1/nodes of them
 * are on this node. Same options and seed, same cluster.
 */
export function syntheticCluster(o: SyntheticClusterOptions): SyntheticCluster {
  const rnd = mulberry32(o.seed ?? 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const chance = (p: number) => rnd() < p;
  const meanEps = Math.max(1, o.endpointsPerService ?? 3);
  const nodePortShare = o.nodePortShare ?? 0.2;
  const localShare = o.localShare ?? 0.3;
  const affinityShare = o.affinityShare ?? 0.05;
  const noEndpointShare = o.noEndpointShare ?? 0.05;
  const udpShare = o.udpShare ?? 0.05;
  const nodeCount = Math.max(1, o.nodes ?? 10);

  // Address pools: three /18 node subnets in the VPC (one per AZ); when a
  // subnet fills up, pods spill into secondary VPC CIDRs 100.64.0.0/16,
  // 100.65.0.0/16, ... (the EKS custom-networking layout for big clusters).
  const subnets = ["10.0.0.0", "10.0.64.0", "10.0.128.0"].map((s) => new Pool(parseIPv4(s)!, 18, rnd));
  const secondary: Pool[] = [];
  const vpcCidrs = [VPC];
  const thisIp = parseIPv4(THIS_NODE_IP)!;
  subnets[0].reserve(thisIp);
  const node: SyntheticNode = { name: nodeNameOf(THIS_NODE_IP), ip: THIS_NODE_IP };
  const nodes: SyntheticNode[] = [node];
  const nodeSubnet = new Map<string, Pool>([[node.name, subnets[0]]]);
  for (let i = 1; i < nodeCount; i++) {
    const pool = subnets[i % 3];
    const ip = pool.alloc();
    if (ip === undefined) throw new Error("syntheticCluster: too many nodes");
    const n = { name: nodeNameOf(ip), ip };
    nodes.push(n);
    nodeSubnet.set(n.name, pool);
  }
  const spill = (): string => {
    for (const p of secondary) {
      const ip = p.alloc();
      if (ip !== undefined) return ip;
    }
    const base = parseIPv4(`100.${64 + secondary.length}.0.0`)!;
    if (secondary.length >= 64) throw new Error("syntheticCluster: out of pod addresses");
    const p = new Pool(base, 16, rnd);
    secondary.push(p);
    vpcCidrs.push(`100.${64 + secondary.length - 1}.0.0/16`);
    return p.alloc()!;
  };
  const podIp = (nodeName: string) => nodeSubnet.get(nodeName)!.alloc() ?? spill();
  const anySubnetIp = () => pick(subnets).alloc() ?? spill();

  const usedCips = new Set<number>();
  const cipBase = parseIPv4("10.100.0.0")!;
  const reserveCip = (s: string) => usedCips.add(parseIPv4(s)!);
  const freeCip = () => {
    for (;;) {
      const n = cipBase + 2 + Math.floor(rnd() * 65530);
      if (!usedCips.has(n)) {
        usedCips.add(n);
        return formatIPv4(n);
      }
    }
  };
  const nodePorts: number[] = [];
  for (let p = 30000; p <= 32767; p++) nodePorts.push(p);
  const takeNodePort = () => {
    if (nodePorts.length === 0) return undefined;
    const i = Math.floor(rnd() * nodePorts.length);
    const p = nodePorts[i];
    nodePorts[i] = nodePorts[nodePorts.length - 1];
    nodePorts.pop();
    return p;
  };

  const services: K8sService[] = [];
  const endpoints = new Map<string, K8sEndpoint[]>();

  // the API server behind default/kubernetes: two control-plane ENIs in the VPC, no node
  reserveCip("10.100.0.1");
  reserveCip("10.100.0.10");
  services.push({ namespace: "default", name: "kubernetes", type: "ClusterIP", clusterIP: "10.100.0.1", ports: [{ name: "https", protocol: "TCP", port: 443, targetPort: 443 }] });
  endpoints.set("default/kubernetes", [0, 1].map(() => ({ ip: anySubnetIp(), ports: { https: 443 }, ready: true, serving: true, terminating: false })));
  if (o.services >= 2) {
    services.push({
      namespace: "kube-system",
      name: "kube-dns",
      type: "ClusterIP",
      clusterIP: "10.100.0.10",
      ports: [
        { name: "dns", protocol: "UDP", port: 53, targetPort: 53 },
        { name: "dns-tcp", protocol: "TCP", port: 53, targetPort: 53 },
        { name: "metrics", protocol: "TCP", port: 9153, targetPort: 9153 },
      ],
    });
    endpoints.set(
      "kube-system/kube-dns",
      [0, 1].map(() => {
        const n = pick(nodes).name;
        return { ip: podIp(n), ports: { dns: 53, "dns-tcp": 53, metrics: 9153 }, nodeName: n, ready: true, serving: true, terminating: false };
      }),
    );
  }

  const names = new Set<string>();
  for (let i = services.length; i < o.services; i++) {
    let ns: string;
    let name: string;
    do {
      ns = pick(NAMESPACES);
      name = `${pick(APPS)}-${Math.floor(rnd() * 0x100000).toString(36)}`;
    } while (names.has(`${ns}/${name}`));
    names.add(`${ns}/${name}`);

    const udp = chance(udpShare);
    const multi = !udp && chance(0.2);
    let ports: K8sServicePort[];
    if (udp) {
      const [pn, p, tp] = pick(UDP_PORTS);
      ports = [{ name: pn, protocol: "UDP", port: p, targetPort: tp }];
    } else if (multi) {
      const a = pick(TCP_PORTS);
      let b = pick(TCP_PORTS);
      while (b[0] === a[0] || b[1] === a[1]) b = pick(TCP_PORTS);
      ports = [a, b].map(([pn, p, tp]) => ({ name: pn, protocol: "TCP" as const, port: p, targetPort: tp }));
    } else {
      const [pn, p, tp] = pick(TCP_PORTS);
      // single-port services often leave the port unnamed
      ports = [{ ...(chance(0.3) ? {} : { name: pn }), protocol: "TCP", port: p, targetPort: tp }];
    }
    const svc: K8sService = { namespace: ns, name, type: "ClusterIP", clusterIP: freeCip(), ports };
    if (chance(nodePortShare)) {
      const lb = chance(0.5);
      const local = chance(localShare);
      svc.type = lb ? "LoadBalancer" : "NodePort";
      for (const p of ports) {
        const np = takeNodePort();
        if (np !== undefined) p.nodePort = np;
      }
      if (ports.every((p) => p.nodePort !== undefined)) {
        if (local) svc.externalTrafficPolicy = "Local";
        if (lb) {
          svc.loadBalancerIngress = [{ hostname: `k8s-${ns}-${name}-${Math.floor(rnd() * 2 ** 32).toString(16).padStart(8, "0")}.elb.us-east-1.amazonaws.com` }];
          if (local) svc.healthCheckNodePort = takeNodePort();
        }
      } else {
        svc.type = "ClusterIP";
        for (const p of ports) delete p.nodePort;
      }
    }
    if (chance(affinityShare)) {
      svc.sessionAffinity = "ClientIP";
      if (chance(0.5)) svc.sessionAffinityTimeoutSeconds = pick([300, 600, 3600]);
    }
    services.push(svc);

    const key = serviceKey(svc);
    if (chance(noEndpointShare)) {
      // nothing yet, or pods that are not ready
      const eps: K8sEndpoint[] = [];
      if (chance(0.5)) {
        const n = pick(nodes).name;
        eps.push({ ip: podIp(n), ports: portsOf(ports), nodeName: n, ready: false, serving: false, terminating: false });
      }
      endpoints.set(key, eps);
      continue;
    }
    const count = 1 + Math.floor(rnd() * (2 * meanEps - 1));
    const eps: K8sEndpoint[] = [];
    for (let k = 0; k < count; k++) {
      const n = pick(nodes).name;
      const state = rnd();
      // 3% terminating (still serving), 2% not ready
      const terminating = state < 0.03;
      const notReady = !terminating && state < 0.05;
      eps.push({
        ip: podIp(n),
        ports: portsOf(ports),
        nodeName: n,
        ready: !terminating && !notReady,
        serving: !notReady,
        terminating,
      });
    }
    endpoints.set(key, eps);
  }

  return {
    services,
    endpoints,
    node,
    nodes,
    kubeProxy: { nodeName: node.name, nodeIPs: [node.ip] },
    vpcCni: { primaryIp: node.ip, vpcCidrs },
  };
}

/** Addresses of one subnet handed out at random, up to 90% full (then `alloc` gives up). */
class Pool {
  private readonly used = new Set<number>();
  private readonly size: number;
  constructor(
    private readonly base: number,
    plen: number,
    private readonly rnd: () => number,
  ) {
    this.size = 2 ** (32 - plen);
  }
  reserve(a: number): void {
    this.used.add(a);
  }
  alloc(): string | undefined {
    if (this.used.size >= this.size * 0.9) return undefined;
    for (;;) {
      // skip the 4 addresses AWS reserves at the start and the broadcast address
      const a = this.base + 4 + Math.floor(this.rnd() * (this.size - 5));
      if (!this.used.has(a)) {
        this.used.add(a);
        return formatIPv4(a);
      }
    }
  }
}

function portsOf(ports: K8sServicePort[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of ports) out[p.name ?? ""] = typeof p.targetPort === "number" ? p.targetPort : p.port;
  return out;
}
