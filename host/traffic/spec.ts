/**
 * The traffic spec: a YAML (or JSON) file describing synthetic traffic for a
 * node. Every key is optional except one of `duration` / `packets`; every
 * wrong value is an InputError naming the file, line, column and key. See
 * examples/traffic/*.yaml and the model in assembly/traffic/generator.ts.
 *
 *   seed: 7                   # PRNG seed (same spec + seed = same packets)
 *   start: 0                  # virtual time of the first arrival, seconds
 *   duration: 10              # arrivals for this many seconds, then every flow finishes
 *   packets: 1000000          # or: stop after this many packets (the last flows are cut)
 *   rate: 2000                # new connections per second (Poisson arrivals)
 *   mix: {tcp: 80, udp: 15, icmp: 5}                  # flow kinds, weights
 *   directions: {nodeport: 10, loadbalancer: 5, pod-ip: 15, pod-to-pod: 20, pod-to-clusterip: 30, pod-to-outside: 20}
 *   clients: {count: 10000, cidrs: [52.0.0.0/11], zipf: 1.0}    # outside clients
 *   servers: {count: 500, cidrs: [151.101.0.0/16], zipf: 1.1, tcp-ports: [443], udp-ports: [53]}
 *   services: {zipf: 1.2}     # popularity of the node's service frontends
 *   pods: {zipf: 0.5, tcp-ports: [8080], udp-ports: [53]}
 *   rtt: {dist: uniform, min: 0.0002, max: 0.002}    # seconds, node <-> peer and back
 *   tcp: {request: ..., response: ..., exchanges: 1, mss: 1448, rst: 0.1, gap: 0.00001}
 *   udp: {request: 40, response: {dist: uniform, min: 60, max: 300}, exchanges: 1}
 *   icmp: {count: 3, interval: 1, size: 84}
 *   nlb: {preserve-client-ip: false, ips: [10.0.0.200]}   # IP targets (pod-ip) over TCP: see TrafficSpec.nlb
 *   view: {...}               # an explicit node view instead of the loaded node's
 *
 * Distributions (sizes in bytes, times in seconds, counts): a number, or
 * {dist: fixed|uniform|exponential|pareto, value|min|max|mean|shape}.
 */
import { fsErrorText } from "../util/fs.js";
import { readFile } from "node:fs/promises";
import { parseCidr, parseIPv4 } from "../util/ipv4.js";
import { fixed, readDist, type Dist } from "./distributions.js";
import { Field, SpecDoc, type SpecPos } from "./reader.js";
import type { FrontendKind, NodeView, ViewService } from "./view.js";

export type FlowKind = "tcp" | "udp" | "icmp";
export const FLOW_KINDS: readonly FlowKind[] = ["tcp", "udp", "icmp"];

/**
 * Where a flow starts and what it is addressed to:
 *  - nodeport: an outside client to the node IP:NodePort, arriving on the primary ENI (NLB instance target);
 *  - loadbalancer: an outside client to a load-balancer (or external) IP:port, arriving on the primary ENI;
 *  - pod-ip: an outside client straight to a pod IP, arriving on the pod's ENI (NLB IP target);
 *  - pod-to-pod: a pod to another pod of the node;
 *  - pod-to-clusterip: a pod to a ClusterIP:port;
 *  - pod-to-outside: a pod to an outside server.
 */
export type Direction = "nodeport" | "loadbalancer" | "pod-ip" | "pod-to-pod" | "pod-to-clusterip" | "pod-to-outside";
export const DIRECTIONS: readonly Direction[] = ["nodeport", "loadbalancer", "pod-ip", "pod-to-pod", "pod-to-clusterip", "pod-to-outside"];

export interface Population {
  count: number;
  cidrs: string[];
  /** Zipf exponent of popularity (0 = uniform). */
  zipf: number;
}

export interface TrafficSpec {
  /** The file it was read from (for errors found later, e.g. a direction the node cannot serve). */
  file: string;
  seed: number;
  /** Seconds. */
  start: number;
  /** Seconds of arrivals; every flow then runs to its end. */
  duration?: number;
  /** Stop after this many packets. */
  packets?: number;
  /** New connections per second. */
  rate: number;
  mix: Record<FlowKind, number>;
  /** Weights; undefined: every direction the node has targets for, equally. */
  directions?: Record<Direction, number>;
  clients: Population;
  servers: Population & { tcpPorts: number[]; udpPorts: number[] };
  services: { zipf: number };
  pods: { zipf: number; tcpPorts: number[]; udpPorts: number[] };
  /** Seconds between the node seeing a packet and seeing the peer's answer (at most 4). */
  rtt: Dist;
  tcp: {
    /** Bytes the client sends per exchange (at least 1). */
    request: Dist;
    /** Bytes the server answers per exchange. */
    response: Dist;
    /** Request/response exchanges per connection (0: handshake then teardown; at most 65535). */
    exchanges: Dist;
    mss: number;
    /** Share of connections the client ends with a reset instead of FIN. */
    rst: number;
    /** Seconds between the segments of a burst. */
    gap: number;
  };
  udp: { request: Dist; response: Dist; exchanges: Dist };
  icmp: { count: Dist; interval: number; size: number };
  /**
   * The NLB in front of the node, for `pod-ip` (IP target) TCP flows: with
   * client IP preservation off (`preserve_client_ip.enabled` false, AWS's
   * default for TCP and TLS IP target groups) the pod sees the connection
   * come from one of the NLB's private addresses (`ips`, chosen per client:
   * one address models cross-zone load balancing off, the NLB node of the
   * node's zone) and one of its ports. Instance targets (`nodeport`) and UDP
   * keep the client's address, as AWS's defaults do. Absent: every
   * direction keeps the client's address.
   */
  nlb?: { preserveClientIp: boolean; ips: string[] };
  view?: NodeView;
  /** Positions of keys by path ("directions.nodeport"), for errors found after parsing. */
  positions: Map<string, SpecPos>;
}

const DEFAULT_CLIENT_CIDRS = ["52.0.0.0/11", "3.0.0.0/9", "18.128.0.0/9"];
const DEFAULT_SERVER_CIDRS = ["151.101.0.0/16", "104.16.0.0/13", "142.250.0.0/15"];

const TOP_KEYS = ["seed", "start", "duration", "packets", "rate", "mix", "directions", "clients", "servers", "services", "pods", "rtt", "tcp", "udp", "icmp", "nlb", "view"];

export async function loadTrafficSpec(path: string): Promise<TrafficSpec> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read traffic spec ${path}: ${fsErrorText(e)}`);
  }
  return parseTrafficSpec(text, path);
}

export function parseTrafficSpec(text: string, file: string): TrafficSpec {
  const doc = new SpecDoc(text, file);
  if (doc.root.isNull) doc.root.fail("the traffic spec is empty: it needs at least duration or packets", "");
  const top = doc.root.map(TOP_KEYS);
  const positions = new Map<string, SpecPos>();
  const note = (f: Field) => { positions.set(f.path, f.keyPos); return f; };
  const get = (m: Map<string, Field>, k: string) => { const f = m.get(k); return f ? note(f) : undefined; };
  const num = (m: Map<string, Field>, k: string, def: number, o: Parameters<Field["num"]>[0] = {}) => get(m, k)?.num(o) ?? def;
  const sub = (k: string, known: string[]) => { const f = get(top, k); return f ? f.map(known) : new Map<string, Field>(); };

  const seed = num(top, "seed", 1, { min: 0, max: 0xffffffff, int: true });
  const start = num(top, "start", 0, { min: 0, max: 1e6 });
  const durationF = get(top, "duration");
  const packetsF = get(top, "packets");
  if (!durationF && !packetsF) doc.root.fail(`needs "duration" (seconds of arrivals) or "packets" (how many to generate)`, "", "key");
  const duration = durationF?.num({ min: 0, max: 1e6, minExclusive: true });
  const packets = packetsF?.num({ min: 1, max: 2 ** 52, int: true });
  const rate = num(top, "rate", 1000, { min: 0, max: 1e9, minExclusive: true });

  const weights = <K extends string>(f: Field | undefined, keys: readonly K[], def: Record<K, number> | undefined): Record<K, number> | undefined => {
    if (!f) return def;
    const m = f.map(keys);
    const out = Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
    let sum = 0;
    for (const k of keys) {
      const w = get(m, k);
      if (w) sum += out[k] = w.num({ min: 0, max: 1e9 });
    }
    if (sum <= 0) f.fail("needs at least one weight above 0");
    return out;
  };
  const mix = weights(get(top, "mix"), FLOW_KINDS, { tcp: 80, udp: 15, icmp: 5 })!;
  const directions = weights(get(top, "directions"), DIRECTIONS, undefined);

  const ports = (m: Map<string, Field>, k: string, def: number[]) => {
    const f = get(m, k);
    if (!f) return def;
    const l = f.list().map((x) => x.num({ min: 1, max: 65535, int: true }));
    if (!l.length) f.fail("needs at least one port");
    return l;
  };
  const population = (k: string, defCount: number, defCidrs: string[], extra: string[] = []) => {
    const m = sub(k, ["count", "cidrs", "zipf", ...extra]);
    const cf = get(m, "cidrs");
    let cidrs = defCidrs;
    let space = 0;
    if (cf) {
      cidrs = cf.list().map((x) => {
        const s = x.str();
        const c = parseCidr(s, true);
        if (!c) x.fail("is not an IPv4 CIDR (a.b.c.d/len, host bits zero)", s);
        return s;
      });
      if (!cidrs.length) cf.fail("needs at least one CIDR");
    }
    for (const c of cidrs) space += 2 ** (32 - parseCidr(c)!.plen);
    const countF = get(m, "count");
    const count = countF?.num({ min: 1, max: 1 << 24, int: true }) ?? Math.min(defCount, space);
    if (count > space) countF!.fail(`is more than the ${space} addresses of ${cidrs.join(", ")}`, String(count));
    return { m, pop: { count, cidrs, zipf: num(m, "zipf", 1, { min: 0, max: 10 }) } };
  };
  const clients = population("clients", 10000, DEFAULT_CLIENT_CIDRS).pop;
  const srv = population("servers", 1000, DEFAULT_SERVER_CIDRS, ["tcp-ports", "udp-ports"]);
  const servers = { ...srv.pop, tcpPorts: ports(srv.m, "tcp-ports", [443]), udpPorts: ports(srv.m, "udp-ports", [53]) };
  const svcM = sub("services", ["zipf"]);
  const services = { zipf: num(svcM, "zipf", 1, { min: 0, max: 10 }) };
  const podM = sub("pods", ["zipf", "tcp-ports", "udp-ports"]);
  const pods = { zipf: num(podM, "zipf", 0, { min: 0, max: 10 }), tcpPorts: ports(podM, "tcp-ports", [8080]), udpPorts: ports(podM, "udp-ports", [53]) };

  const dist = (m: Map<string, Field>, k: string, def: Dist, max?: number) => { const f = get(m, k); return f ? readDist(f, { max }) : def; };
  const rttF = get(top, "rtt");
  const rtt = rttF ? readDist(rttF, { max: 4 }) : { dist: "uniform" as const, min: 0.0002, max: 0.002 };

  const tcpM = sub("tcp", ["request", "response", "exchanges", "mss", "rst", "gap"]);
  const tcp = {
    request: dist(tcpM, "request", { dist: "pareto", shape: 1.5, min: 200, max: 200000 }, 1e9),
    response: dist(tcpM, "response", { dist: "pareto", shape: 1.2, min: 500, max: 1000000 }, 1e9),
    exchanges: dist(tcpM, "exchanges", fixed(1), 65535),
    mss: num(tcpM, "mss", 1448, { min: 1, max: 65495, int: true }),
    rst: num(tcpM, "rst", 0.05, { min: 0, max: 1 }),
    gap: num(tcpM, "gap", 0.00001, { min: 0, max: 60 }),
  };
  const udpM = sub("udp", ["request", "response", "exchanges"]);
  const udp = {
    request: dist(udpM, "request", fixed(40), 65507),
    response: dist(udpM, "response", { dist: "uniform", min: 60, max: 300 }, 65507),
    exchanges: dist(udpM, "exchanges", fixed(1), 65536),
  };
  const icmpM = sub("icmp", ["count", "interval", "size"]);
  const icmp = {
    count: dist(icmpM, "count", fixed(3), 65536),
    interval: num(icmpM, "interval", 1, { min: 0, max: 3600 }),
    size: num(icmpM, "size", 84, { min: 28, max: 65535, int: true }),
  };
  const nlbF = get(top, "nlb");
  let nlb: TrafficSpec["nlb"];
  if (nlbF) {
    const nm = nlbF.map(["preserve-client-ip", "ips"]);
    const preserveClientIp = get(nm, "preserve-client-ip")?.bool() ?? true;
    const ipsF = get(nm, "ips");
    const ips = (ipsF?.list() ?? []).map(ip);
    if (!preserveClientIp && !ips.length) (ipsF ?? nlbF).fail("preserve-client-ip false needs the NLB's private addresses: ips: [a.b.c.d, ...]");
    if (ips.length > 64) ipsF!.fail(`lists ${ips.length} addresses: at most 64`);
    nlb = { preserveClientIp, ips };
  }
  const viewF = get(top, "view");
  const view = viewF ? readView(viewF) : undefined;
  return { file, seed, start, duration, packets, rate, mix, directions, clients, servers, services, pods, rtt, tcp, udp, icmp, nlb, view, positions };
}

function ip(f: Field): string {
  const s = f.str();
  if (parseIPv4(s) === undefined) f.fail("is not an IPv4 address", s);
  return s;
}

/** An explicit node view: {node-ip, enis: [{name, ips}], pods: [{ip, veth, eni}], services: [{kind, ip, port, proto}], vpc-cidrs}. */
function readView(f: Field): NodeView {
  const m = f.map(["node-ip", "enis", "pods", "services", "vpc-cidrs"]);
  const need = (k: string) => m.get(k) ?? f.fail(`an explicit view needs "${k}"`);
  const enis = need("enis").list().map((e) => {
    const em = e.map(["name", "ips"]);
    return { name: (em.get("name") ?? e.fail(`an ENI needs "name"`)).str(), ips: (em.get("ips") ?? e.fail(`an ENI needs "ips"`)).list().map(ip) };
  });
  if (!enis.length) need("enis").fail("needs at least one ENI");
  const eniNames = new Set(enis.map((e) => e.name));
  const pods = (m.get("pods")?.list() ?? []).map((p) => {
    const pm = p.map(["ip", "veth", "eni"]);
    const eniF = pm.get("eni") ?? p.fail(`a pod needs "eni"`);
    const eni = eniF.str();
    if (!eniNames.has(eni)) eniF.fail(`is not one of the view's ENIs (${[...eniNames].join(", ")})`, eni);
    return { ip: ip(pm.get("ip") ?? p.fail(`a pod needs "ip"`)), veth: (pm.get("veth") ?? p.fail(`a pod needs "veth"`)).str(), eni };
  });
  const kinds: FrontendKind[] = ["clusterip", "nodeport", "loadbalancer", "externalip"];
  const services = (m.get("services")?.list() ?? []).map((s): ViewService => {
    const sm = s.map(["kind", "ip", "port", "proto"]);
    const kf = sm.get("kind") ?? s.fail(`a service needs "kind" (${kinds.join(", ")})`);
    const kind = kf.str() as FrontendKind;
    if (!kinds.includes(kind)) kf.fail(`is not a frontend kind (${kinds.join(", ")})`, kind);
    const pf = sm.get("proto");
    const proto = pf ? pf.str() : "tcp";
    if (proto !== "tcp" && proto !== "udp") return pf!.fail(`must be tcp or udp`, proto);
    return { kind, proto, ip: ip(sm.get("ip") ?? s.fail(`a service needs "ip"`)), port: (sm.get("port") ?? s.fail(`a service needs "port"`)).num({ min: 1, max: 65535, int: true }) };
  });
  const vpcCidrs = (m.get("vpc-cidrs")?.list() ?? []).map((c) => {
    const s = c.str();
    if (!parseCidr(s, true)) c.fail("is not an IPv4 CIDR (a.b.c.d/len, host bits zero)", s);
    return s;
  });
  const nodeIp = m.get("node-ip") ? ip(m.get("node-ip")!) : enis[0]!.ips[0] ?? f.fail(`an explicit view needs "node-ip" or an ENI address`);
  return { nodeIp, enis, pods, services, vpcCidrs };
}
