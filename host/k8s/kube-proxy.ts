/**
 * The iptables rules kube-proxy (iptables mode, v1.29-v1.31 era) programs on
 * one node, in iptables-save form.
 *
 * Follows `syncProxyRules` of pkg/proxy/iptables/proxier.go and
 * `CategorizeEndpoints` of pkg/proxy/topology.go (see
 * shared/reference/k8s-aws-rules.md A.1-A.9), written from that description:
 *  - fixed chains (KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING,
 *    KUBE-MARK-MASQ in nat; KUBE-SERVICES, KUBE-EXTERNAL-SERVICES,
 *    KUBE-FORWARD, KUBE-NODEPORTS, KUBE-PROXY-FIREWALL, KUBE-FIREWALL in
 *    filter) and the KUBE-PROXY-CANARY chains the Monitor creates;
 *  - the jump rules from built-in chains, each ensured with "-I" (prepend) in
 *    the order of iptablesJumpChains + iptablesKubeletJumpChains;
 *  - per service port: KUBE-SVC/SVL/EXT/FW chains sharing one hash, one
 *    KUBE-SEP chain per reachable endpoint, the filter REJECT/DROP rules.
 *
 * Topology hints (PreferSameZone/Node) are not modelled: every ready
 * endpoint is a cluster endpoint.
 *
 * kube-proxy walks its service map, a Go map, so the order of the service
 * rules inside KUBE-SERVICES / KUBE-NODEPORTS / KUBE-EXTERNAL-SERVICES
 * changes from sync to sync on a real node. We walk the services sorted by
 * (namespace, name, port name, protocol) so that the output is
 * deterministic; the rules of different services are disjoint, so only the
 * position (and so the cost of the linear walk) differs from a real node.
 */
import { createHash } from "node:crypto";
import { formatIPv4, inPrefix, maskOf, parseCidr, parseIPv4 } from "../util/ipv4.js";
import {
  comment,
  hex,
  serviceKey,
  type EndpointsByService,
  type EnsuredRule,
  type IptablesFragment,
  type K8sEndpoint,
  type K8sService,
  type K8sServicePort,
  type KubeProxyOptions,
  type TableName,
} from "./model.js";

// ---------------------------------------------------------------------------
// chain names

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** First 16 characters of base32.StdEncoding(sha256(text)): 80 bits = the first 10 bytes. */
function hash16(text: string): string {
  const d = createHash("sha256").update(text, "utf8").digest();
  let bits = 0;
  let acc = 0;
  let out = "";
  for (let i = 0; out.length < 16; i++) {
    acc = (acc << 8) | d[i];
    bits += 8;
    while (bits >= 5 && out.length < 16) {
      bits -= 5;
      out += BASE32[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** kube-proxy's portProtoHash: the 16 characters shared by KUBE-SVC/SVL/EXT/FW of a service port. */
export function portProtoHash(servicePortName: string, protocol: string): string {
  return hash16(servicePortName + protocol);
}

/** "ns/name:port" (":port" left out for an unnamed port), as ServicePortName.String(). */
export function servicePortName(namespace: string, name: string, portName?: string): string {
  return portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}`;
}

export interface ServiceChainNames {
  svc: string;
  svl: string;
  ext: string;
  fw: string;
}

/** The four per-service-port chain names; protocol lowercase ("tcp"). */
export function serviceChainNames(svcPortName: string, protocol: string): ServiceChainNames {
  const h = portProtoHash(svcPortName, protocol);
  return { svc: `KUBE-SVC-${h}`, svl: `KUBE-SVL-${h}`, ext: `KUBE-EXT-${h}`, fw: `KUBE-FW-${h}` };
}

/** KUBE-SEP chain of one endpoint ("IP:port") of a service port. */
export function endpointChainName(svcPortName: string, protocol: string, endpoint: string): string {
  return "KUBE-SEP-" + hash16(svcPortName + protocol + endpoint);
}

// ---------------------------------------------------------------------------
// statistic probabilities

/**
 * A finite double printed with `digits` decimals, exactly rounded with ties
 * to even (what Go's %.Nf and glibc's printf do on the exact binary value).
 */
export function formatFixedExact(x: number, digits: number): string {
  if (!Number.isFinite(x) || x < 0) throw new Error(`formatFixedExact: unsupported value ${x}`);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const expBits = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp: number;
  if (expBits === 0) exp = -1074;
  else {
    mant |= 1n << 52n;
    exp = expBits - 1075;
  }
  // x = mant * 2^exp; scaled = x * 10^digits = num / den
  let num = mant * 10n ** BigInt(digits);
  let den = 1n;
  if (exp >= 0) num <<= BigInt(exp);
  else den <<= BigInt(-exp);
  let q = num / den;
  const r2 = (num % den) * 2n;
  if (r2 > den || (r2 === den && (q & 1n) === 1n)) q += 1n;
  const s = q.toString().padStart(digits + 1, "0");
  return digits === 0 ? s : `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
}

export interface Probability {
  /** What kube-proxy writes: fmt.Sprintf("%0.10f", 1/n). */
  input: string;
  /** What the kernel stores: lround(2^31 * strtod(input)) (libxt_statistic). */
  stored: number;
  /** What iptables-save prints: %.11f of stored / 2^31. */
  saved: string;
}

const probabilityCache = new Map<number, Probability>();

/** The `--probability` of the rule that picks 1 of n remaining endpoints. */
export function probability(n: number): Probability {
  let p = probabilityCache.get(n);
  if (p) return p;
  const input = formatFixedExact(1 / n, 10);
  const x = Number(input) * 2147483648; // exact: scaling by a power of two
  const f = Math.floor(x);
  const stored = x - f >= 0.5 ? f + 1 : f; // lround: halves away from zero
  const saved = formatFixedExact(stored / 2147483648, 11);
  p = { input, stored, saved };
  probabilityCache.set(n, p);
  return p;
}

// ---------------------------------------------------------------------------
// rendering

export interface KubeProxyStats {
  /** Service ports kube-proxy handles (headless services are skipped). */
  servicePorts: number;
  /** Endpoints summed over service ports (what decides largeClusterMode). */
  totalEndpoints: number;
  /** More than 1000 endpoints: per-endpoint comments are left out. */
  largeClusterMode: boolean;
  /** Rule lines kube-proxy writes with iptables-restore, per table. */
  natRules: number;
  filterRules: number;
  /** Chains in the nat restore (fixed and per service). */
  natChains: number;
}

export interface KubeProxyRules extends IptablesFragment {
  stats: KubeProxyStats;
  /** localhostNodePorts after the nodePortAddresses check (NewProxier turns it off when 127.0.0.1 is not covered). */
  localhostNodePorts: boolean;
}

interface Ep {
  ip: string;
  port: number;
  /** "IP:port", the endpoint's String(). */
  key: string;
  /** Its KUBE-SEP chain. */
  sep: string;
  local: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

interface SvcPort {
  svc: K8sService;
  port: K8sServicePort;
  name: string;
  proto: string;
  clusterIP: string;
  externalIPs: string[];
  lbVIPs: string[];
  sourceRanges: string[];
  nodePort: number;
  healthCheckNodePort: number;
  internalLocal: boolean;
  externalLocal: boolean;
  affinity: boolean;
  stickySeconds: number;
  endpoints: Ep[];
}

function endpointsOf(byService: EndpointsByService, key: string): K8sEndpoint[] {
  if (byService instanceof Map) return byService.get(key) ?? [];
  return Object.prototype.hasOwnProperty.call(byService, key) ? byService[key] : [];
}

/** "a.b.c.d/len" in network form, as both Go's IPNet.String() and iptables-save print it. */
function cidrText(s: string): string {
  const c = parseCidr(s.trim());
  if (!c) throw new Error(`not an IPv4 CIDR: ${s}`);
  return `${formatIPv4((c.addr & maskOf(c.plen)) >>> 0)}/${c.plen}`;
}

function ipv4(s: string): string | undefined {
  const a = parseIPv4(s.trim());
  return a === undefined ? undefined : formatIPv4(a);
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function collectServicePorts(services: K8sService[], byService: EndpointsByService, nodeName: string): SvcPort[] {
  const out: SvcPort[] = [];
  for (const svc of services) {
    const cip = ipv4(svc.clusterIP ?? "");
    if (cip === undefined) continue; // headless ("None"), unset, or not IPv4: not in kube-proxy's service map
    const externallyAccessibleSvc = svc.type !== "ClusterIP" || (svc.externalIPs?.length ?? 0) > 0;
    const externalLocal = externallyAccessibleSvc && svc.externalTrafficPolicy === "Local";
    const internalLocal = svc.internalTrafficPolicy === "Local";
    const externalIPs = (svc.externalIPs ?? []).map(ipv4).filter((x): x is string => x !== undefined);
    const lbVIPs =
      svc.type === "LoadBalancer"
        ? (svc.loadBalancerIngress ?? [])
            .filter((i) => i.ip && (i.ipMode ?? "VIP") === "VIP")
            .map((i) => ipv4(i.ip!))
            .filter((x): x is string => x !== undefined)
        : [];
    const sourceRanges = svc.type === "LoadBalancer" ? (svc.loadBalancerSourceRanges ?? []).map(cidrText) : [];
    const hc = svc.type === "LoadBalancer" && externalLocal ? (svc.healthCheckNodePort ?? 0) : 0;
    const eps = endpointsOf(byService, serviceKey(svc));
    for (const port of svc.ports) {
      const pname = port.name ?? "";
      const proto = port.protocol.toLowerCase();
      // endpoints of this port: dedup by "IP:port", sorted by that string (byEndpoint)
      const seen = new Map<string, Ep>();
      for (const e of eps) {
        const p = e.ports[pname];
        const ip = ipv4(e.ip);
        if (p === undefined || ip === undefined) continue;
        const key = `${ip}:${p}`;
        if (seen.has(key)) continue;
        seen.set(key, { ip, port: p, key, sep: "", local: e.nodeName === nodeName, ready: e.ready, serving: e.serving, terminating: e.terminating });
      }
      const endpoints = [...seen.values()].sort((a, b) => cmp(a.key, b.key));
      const spName = servicePortName(svc.namespace, svc.name, pname);
      for (const e of endpoints) e.sep = endpointChainName(spName, proto, e.key);
      out.push({
        svc,
        port,
        name: spName,
        proto,
        clusterIP: cip,
        externalIPs,
        lbVIPs,
        sourceRanges,
        nodePort: svc.type === "ClusterIP" ? 0 : (port.nodePort ?? 0),
        healthCheckNodePort: hc,
        internalLocal,
        externalLocal,
        affinity: svc.sessionAffinity === "ClientIP",
        stickySeconds: svc.sessionAffinityTimeoutSeconds ?? 10800,
        endpoints,
      });
    }
  }
  out.sort(
    (a, b) =>
      cmp(a.svc.namespace, b.svc.namespace) ||
      cmp(a.svc.name, b.svc.name) ||
      cmp(a.port.name ?? "", b.port.name ?? "") ||
      cmp(a.proto, b.proto),
  );
  return out;
}

/** CategorizeEndpoints without topology hints. */
function categorize(sp: SvcPort, usesCluster: boolean, usesLocal: boolean) {
  let cluster: Ep[] = [];
  let local: Ep[] = [];
  let hasAny = false;
  let allReachable: Ep[];
  if (usesCluster) {
    cluster = sp.endpoints.filter((e) => e.ready);
    if (cluster.length === 0) cluster = sp.endpoints.filter((e) => e.serving && e.terminating);
    if (cluster.length > 0) hasAny = true;
  }
  if (!usesLocal) return { cluster, local, allReachable: cluster, hasAny };
  let localReady = false;
  let localServingTerminating = false;
  for (const e of sp.endpoints) {
    if (e.ready) {
      hasAny = true;
      if (e.local) localReady = true;
    } else if (e.serving && e.terminating) {
      hasAny = true;
      if (e.local) localServingTerminating = true;
    }
  }
  let useServingTerminating = false;
  if (localReady) local = sp.endpoints.filter((e) => e.local && e.ready);
  else if (localServingTerminating) {
    useServingTerminating = true;
    local = sp.endpoints.filter((e) => e.local && e.serving && e.terminating);
  }
  if (!usesCluster) allReachable = local;
  else if (!useServingTerminating) allReachable = cluster;
  else {
    const m = new Map<string, Ep>();
    for (const e of cluster) m.set(e.key, e);
    for (const e of local) m.set(e.key, e);
    allReachable = [...m.values()];
  }
  return { cluster, local, allReachable, hasAny };
}

class ChainSet {
  readonly chains = new Map<string, string[]>();
  rules = 0;
  declare(name: string): string[] {
    let c = this.chains.get(name);
    if (!c) {
      c = [];
      this.chains.set(name, c);
    }
    return c;
  }
  add(chain: string, rest: string): void {
    this.declare(chain).push(rest === "" ? `-A ${chain}` : `-A ${chain} ${rest}`);
    this.rules++;
  }
}

/** The NodePortAddresses rules of proxyutil: match-all, contains-loopback, the selected node IPs. */
function nodePortAddressing(opts: KubeProxyOptions): { matchAll: boolean; loopback: boolean; ips: string[] } {
  const raw = opts.nodePortAddresses ?? [];
  const cidrs: { addr: number; plen: number }[] = [];
  for (const s of raw) {
    if (s === "primary") {
      for (const ip of opts.nodeIPs) cidrs.push({ addr: parseIPv4(ip)!, plen: 32 });
      continue;
    }
    const c = parseCidr(s.trim());
    if (c) cidrs.push(c); // non-IPv4 entries belong to the IPv6 proxier
  }
  const matchAll = cidrs.length === 0 || cidrs.some((c) => c.plen === 0);
  const lo = parseIPv4("127.0.0.1")!;
  const loopback = matchAll || cidrs.some((c) => inPrefix(lo, c.addr, c.plen));
  const ips: string[] = [];
  if (!matchAll) {
    // GetNodeIPs walks the interfaces: lo (ifindex 1) first, then the node's addresses
    if (loopback) ips.push("127.0.0.1");
    for (const ip of opts.nodeIPs) {
      const a = parseIPv4(ip);
      if (a !== undefined && cidrs.some((c) => inPrefix(a, c.addr, c.plen)) && !ips.includes(ip)) ips.push(ip);
    }
  }
  return { matchAll, loopback, ips };
}

const LARGE_CLUSTER_ENDPOINTS = 1000;

/**
 * `-m nfacct --nfacct-name X` as iptables-save 1.8.9 prints it: with two
 * spaces before the name (libxt_nfacct's save output; checked against the
 * kernel). kube-proxy writes one; the kernel keeps only the name.
 */
function nfacctMatch(name: string): string {
  return `-m nfacct --nfacct-name  ${name}`;
}

/** iptablesJumpChains + iptablesKubeletJumpChains, in list order: [table, from, to, extra matches, comment]. */
const JUMP_CHAINS: [TableName, string, string, string, string][] = [
  ["filter", "INPUT", "KUBE-EXTERNAL-SERVICES", "-m conntrack --ctstate NEW", "kubernetes externally-visible service portals"],
  ["filter", "FORWARD", "KUBE-EXTERNAL-SERVICES", "-m conntrack --ctstate NEW", "kubernetes externally-visible service portals"],
  ["filter", "INPUT", "KUBE-NODEPORTS", "", "kubernetes health check service ports"],
  ["filter", "FORWARD", "KUBE-SERVICES", "-m conntrack --ctstate NEW", "kubernetes service portals"],
  ["filter", "OUTPUT", "KUBE-SERVICES", "-m conntrack --ctstate NEW", "kubernetes service portals"],
  ["filter", "FORWARD", "KUBE-FORWARD", "", "kubernetes forwarding rules"],
  ["filter", "INPUT", "KUBE-PROXY-FIREWALL", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall"],
  ["filter", "OUTPUT", "KUBE-PROXY-FIREWALL", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall"],
  ["filter", "FORWARD", "KUBE-PROXY-FIREWALL", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall"],
  ["nat", "OUTPUT", "KUBE-SERVICES", "", "kubernetes service portals"],
  ["nat", "PREROUTING", "KUBE-SERVICES", "", "kubernetes service portals"],
  ["nat", "POSTROUTING", "KUBE-POSTROUTING", "", "kubernetes postrouting rules"],
  // kubelet's chain, ensured by kube-proxy too (no comment)
  ["filter", "INPUT", "KUBE-FIREWALL", "", ""],
  ["filter", "OUTPUT", "KUBE-FIREWALL", "", ""],
];

/** The KUBE-FIREWALL rule (kubelet writes the identical rule). */
export const KUBE_FIREWALL_RULE =
  '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP';

/**
 * kube-proxy's rules for this node. `endpointsByService` is keyed by
 * "namespace/name". The result is a fragment for renderNodeIptables, plus
 * statistics.
 */
export function renderKubeProxy(
  services: K8sService[],
  endpointsByService: EndpointsByService,
  opts: KubeProxyOptions,
): KubeProxyRules {
  const masqBit = opts.masqueradeBit ?? 14;
  if (!Number.isInteger(masqBit) || masqBit < 0 || masqBit > 31) throw new Error(`masqueradeBit out of range: ${masqBit}`);
  const mark = hex(2 ** masqBit);
  const masqueradeAll = opts.masqueradeAll ?? false;
  const detector = opts.localDetector ?? { mode: "none" };
  const npa = nodePortAddressing(opts);
  const localhostNodePorts = (opts.localhostNodePorts ?? true) && npa.loopback;
  const randomFully = opts.randomFully ?? true;
  const nfacct = opts.nfacct ?? false;
  const nodeIP = opts.nodeIPs.length > 0 ? parseIPv4(opts.nodeIPs[0]) : undefined;

  let ifLocal = "";
  let ifNotLocal = "";
  if (detector.mode === "clusterCIDR") {
    const c = cidrText(detector.cidr);
    ifLocal = `-s ${c}`;
    ifNotLocal = `! -s ${c}`;
  } else if (detector.mode === "interfaceNamePrefix") {
    ifLocal = `-i ${detector.prefix}+`;
    ifNotLocal = `! -i ${detector.prefix}+`;
  }

  const ports = collectServicePorts(services, endpointsByService, opts.nodeName);
  const totalEndpoints = ports.reduce((n, p) => n + p.endpoints.length, 0);
  const large = totalEndpoints > LARGE_CLUSTER_ENDPOINTS;
  const svcComment = (text: string) => (large ? "" : comment(text) + " ");

  const nat = new ChainSet();
  const filter = new ChainSet();
  for (const c of ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"]) filter.declare(c);
  for (const c of ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]) nat.declare(c);

  nat.add("KUBE-POSTROUTING", `-m mark ! --mark ${mark}/${mark} -j RETURN`);
  nat.add("KUBE-POSTROUTING", `-j MARK --set-xmark ${mark}/0x0`);
  nat.add("KUBE-POSTROUTING", `${comment("kubernetes service traffic requiring SNAT")} -j MASQUERADE${randomFully ? " --random-fully" : ""}`);
  nat.add("KUBE-MARK-MASQ", `-j MARK --set-xmark ${mark}/${mark}`);
  if (localhostNodePorts) {
    filter.declare("KUBE-FIREWALL").push(KUBE_FIREWALL_RULE);
    filter.rules++;
  }

  const target = (t: string) => (t === "REJECT" ? "REJECT --reject-with icmp-port-unreachable" : t);

  for (const sp of ports) {
    const { name, proto } = sp;
    const names = serviceChainNames(name, proto);
    const externallyAccessible = sp.nodePort !== 0 || sp.lbVIPs.length > 0 || sp.externalIPs.length > 0;
    const usesClusterEps = !sp.internalLocal || externallyAccessible;
    const usesLocalEps = sp.internalLocal || (sp.externalLocal && externallyAccessible);
    const { cluster, local, allReachable, hasAny: hasEndpoints } = categorize(sp, usesClusterEps, usesLocalEps);

    const usesClusterPolicyChain = cluster.length > 0 && usesClusterEps;
    const usesLocalPolicyChain = local.length > 0 && usesLocalEps;
    let internalChain = names.svc;
    let hasInternal = hasEndpoints;
    if (sp.internalLocal) {
      internalChain = names.svl;
      if (local.length === 0) hasInternal = false;
    }
    let externalPolicyChain = names.svc;
    let hasExternal = hasEndpoints;
    if (sp.externalLocal) {
      externalPolicyChain = names.svl;
      if (local.length === 0) hasExternal = false;
    }
    const usesExtChain = hasEndpoints && externallyAccessible;
    const usesFW = hasEndpoints && sp.lbVIPs.length > 0 && sp.sourceRanges.length > 0;
    const lbChain = usesFW ? names.fw : names.ext;

    let intTarget = "";
    let intComment = "";
    let extTarget = "";
    let extComment = "";
    if (!hasEndpoints) {
      intTarget = extTarget = "REJECT";
      intComment = extComment = `${name} has no endpoints`;
    } else {
      if (!hasInternal) {
        intTarget = "DROP";
        intComment = `${name} has no local endpoints`;
      }
      if (!hasExternal) {
        extTarget = "DROP";
        extComment = `${name} has no local endpoints`;
      }
    }
    const portMatch = `-m ${proto} --dport ${sp.port.port}`;

    // (a) cluster IP
    if (hasInternal) {
      nat.add("KUBE-SERVICES", `-d ${sp.clusterIP}/32 -p ${proto} ${comment(`${name} cluster IP`)} ${portMatch} -j ${internalChain}`);
    } else {
      filter.add("KUBE-SERVICES", `-d ${sp.clusterIP}/32 -p ${proto} ${comment(intComment)} ${portMatch} -j ${target(intTarget)}`);
    }
    // (b) external IPs
    for (const eip of sp.externalIPs) {
      if (hasEndpoints) nat.add("KUBE-SERVICES", `-d ${eip}/32 -p ${proto} ${comment(`${name} external IP`)} ${portMatch} -j ${names.ext}`);
      if (!hasExternal) filter.add("KUBE-EXTERNAL-SERVICES", `-d ${eip}/32 -p ${proto} ${comment(extComment)} ${portMatch} -j ${target(extTarget)}`);
    }
    // (c) load-balancer VIPs
    for (const vip of sp.lbVIPs) {
      if (hasEndpoints) nat.add("KUBE-SERVICES", `-d ${vip}/32 -p ${proto} ${comment(`${name} loadbalancer IP`)} ${portMatch} -j ${lbChain}`);
      if (usesFW) {
        filter.add(
          "KUBE-PROXY-FIREWALL",
          `-d ${vip}/32 -p ${proto} ${comment(`${name} traffic not accepted by ${names.fw}`)} ${portMatch} -j DROP`,
        );
      }
    }
    if (!hasExternal) {
      for (const vip of sp.lbVIPs) filter.add("KUBE-EXTERNAL-SERVICES", `-d ${vip}/32 -p ${proto} ${comment(extComment)} ${portMatch} -j ${target(extTarget)}`);
    }
    // (d) node port
    if (sp.nodePort !== 0) {
      const np = `-m ${proto} --dport ${sp.nodePort}`;
      if (hasEndpoints) {
        if (localhostNodePorts && nfacct) {
          nat.add("KUBE-NODEPORTS", `-d 127.0.0.0/8 -p ${proto} ${comment(name)} ${np} ${nfacctMatch("localhost_nps_accepted_pkts")} -j ${names.ext}`);
        }
        nat.add("KUBE-NODEPORTS", `-p ${proto} ${comment(name)} ${np} -j ${names.ext}`);
      }
      if (!hasExternal) filter.add("KUBE-EXTERNAL-SERVICES", `-p ${proto} ${comment(extComment)} -m addrtype --dst-type LOCAL ${np} -j ${target(extTarget)}`);
    }
    // (e) health check node port (one per service port, local endpoints or not)
    if (sp.healthCheckNodePort !== 0) {
      filter.add("KUBE-NODEPORTS", `-p tcp ${comment(`${name} health check node port`)} -m tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`);
    }
    // (f) internal masquerade, first rule of the internal chain
    if (hasInternal) {
      const m = `-d ${sp.clusterIP}/32 -p ${proto} ${comment(`${name} cluster IP`)} ${portMatch} -j KUBE-MARK-MASQ`;
      if (masqueradeAll) nat.add(internalChain, m);
      else if (detector.mode === "clusterCIDR") nat.add(internalChain, `${ifNotLocal} ${m}`);
      else if (detector.mode === "interfaceNamePrefix") {
        nat.add(internalChain, `-d ${sp.clusterIP}/32 ${ifNotLocal} -p ${proto} ${comment(`${name} cluster IP`)} ${portMatch} -j KUBE-MARK-MASQ`);
      }
    }
    // (g) external chain
    if (usesExtChain) {
      nat.declare(names.ext);
      if (!sp.externalLocal) {
        nat.add(names.ext, `${comment(`masquerade traffic for ${name} external destinations`)} -j KUBE-MARK-MASQ`);
      } else {
        if (detector.mode !== "none") nat.add(names.ext, `${ifLocal} ${comment(`pod traffic for ${name} external destinations`)} -j ${names.svc}`);
        nat.add(names.ext, `${comment(`masquerade LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`);
        nat.add(names.ext, `${comment(`route LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j ${names.svc}`);
      }
      if (hasExternal) nat.add(names.ext, `-j ${externalPolicyChain}`);
    }
    // (h) firewall chain
    if (usesFW) {
      nat.declare(names.fw);
      const c = comment(`${name} loadbalancer IP`);
      let allowFromNode = false;
      for (const r of sp.sourceRanges) {
        nat.add(names.fw, `-s ${r} ${c} -j ${names.ext}`);
        const cr = parseCidr(r)!;
        if (nodeIP !== undefined && inPrefix(nodeIP, cr.addr, cr.plen)) allowFromNode = true;
      }
      if (allowFromNode) for (const vip of sp.lbVIPs) nat.add(names.fw, `-s ${vip}/32 ${c} -j ${names.ext}`);
      nat.add(names.fw, comment(`other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL`));
    }
    // (i) policy chains
    const writeEndpointRules = (chain: string, eps: Ep[]) => {
      nat.declare(chain);
      if (sp.affinity) {
        for (const e of eps) {
          nat.add(
            chain,
            `${svcComment(`${name} -> ${e.key}`)}-m recent --rcheck --seconds ${sp.stickySeconds} --reap --name ${e.sep} --mask 255.255.255.255 --rsource -j ${e.sep}`,
          );
        }
      }
      eps.forEach((e, i) => {
        const stat = i < eps.length - 1 ? `-m statistic --mode random --probability ${probability(eps.length - i).saved} ` : "";
        nat.add(chain, `${svcComment(`${name} -> ${e.key}`)}${stat}-j ${e.sep}`);
      });
    };
    if (usesClusterPolicyChain) writeEndpointRules(names.svc, cluster);
    if (usesLocalPolicyChain) writeEndpointRules(names.svl, local);
    // (j) endpoint chains
    for (const e of allReachable) {
      const sep = e.sep;
      nat.declare(sep);
      nat.add(sep, `-s ${e.ip}/32 ${svcComment(name)}-j KUBE-MARK-MASQ`);
      const recent = sp.affinity ? `-m recent --set --name ${sep} --mask 255.255.255.255 --rsource ` : "";
      nat.add(sep, `-p ${proto} ${svcComment(name)}${recent}-m ${proto} -j DNAT --to-destination ${e.key}`);
    }
  }

  // the tail of nat KUBE-SERVICES
  const npComment = comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain");
  if (npa.matchAll) {
    nat.add("KUBE-SERVICES", `${localhostNodePorts ? "" : "! -d 127.0.0.0/8 "}${npComment} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`);
  } else {
    for (const ip of npa.ips) {
      if (ip === "127.0.0.1" && !localhostNodePorts) continue;
      nat.add("KUBE-SERVICES", `-d ${ip}/32 ${npComment} -j KUBE-NODEPORTS`);
    }
  }

  // KUBE-FORWARD
  if (!(opts.conntrackTcpBeLiberal ?? false)) {
    filter.add("KUBE-FORWARD", `-m conntrack --ctstate INVALID ${nfacct ? nfacctMatch("ct_state_invalid_dropped_pkts") + " " : ""}-j DROP`);
  }
  filter.add("KUBE-FORWARD", `${comment("kubernetes forwarding rules")} -m mark --mark ${mark}/${mark} -j ACCEPT`);
  filter.add("KUBE-FORWARD", `${comment("kubernetes forwarding conntrack rule")} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);

  const ensureChains: { table: TableName; chain: string }[] = [];
  // the canary Monitor starts in NewProxier, before the first sync
  for (const t of ["mangle", "nat", "filter"] as TableName[]) ensureChains.push({ table: t, chain: "KUBE-PROXY-CANARY" });
  const ensureRules: EnsuredRule[] = [];
  for (const [table, from, to, extra, text] of JUMP_CHAINS) {
    ensureChains.push({ table, chain: to });
    const parts = [`-A ${from}`];
    if (extra) parts.push(extra);
    if (text) parts.push(comment(text));
    parts.push(`-j ${to}`);
    ensureRules.push({ table, rule: parts.join(" "), position: "prepend" });
  }

  return {
    owner: "kube-proxy",
    touches: ["mangle", "nat", "filter"],
    ensureChains,
    ensureRules,
    chains: { nat: nat.chains, filter: filter.chains },
    localhostNodePorts,
    stats: {
      servicePorts: ports.length,
      totalEndpoints,
      largeClusterMode: large,
      natRules: nat.rules,
      filterRules: filter.rules,
      natChains: nat.chains.size,
    },
  };
}
