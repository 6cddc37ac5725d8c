/**
 * The established-flow scenario of the conntrack benchmark: an EKS worker
 * (3 ENIs, 28 pods, the VPC CNI's policy routing) with one NodePort DNAT
 * rule per pod, and N TCP connections from clients outside the VPC to the
 * node's NodePorts, each DNATed to its pod. Connections are set up with a
 * real three-way handshake (SYN from the client, SYN/ACK from the pod, ACK),
 * then the measured traffic is established packets in both directions:
 * client -> pod (conntrack hit, DNAT, routing to the pod's veth) and
 * pod -> client (conntrack hit in the reply direction, un-DNAT at
 * POSTROUTING, policy routing out of the pod's ENI).
 *
 * Descriptors are written straight into the batch buffer, as a generator
 * would; the same packets are also produced as plain objects for the
 * plain-TypeScript implementation (bench/ts-ct.ts).
 */
import * as abi from "../host/core/abi.js";
import { Engine } from "../host/engine.js";
import { parseSnapshotFiles } from "../host/snapshot/read.js";
import { buildEksNode, type DemoNode } from "../host/scenario/eks-node.js";
import { parseIPv4 } from "../host/util/ipv4.js";
import { prng } from "./prefixes.js";

export const NODEPORT_BASE = 30000;
export const POD_PORT = 8080;
const CLIENT_BASE = 0x64400000; // 100.64.0.0
const CLIENT_PORTS = 50000;
const TCP_SYN = 0x02;
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;
const CLIENT_ISN = 1000;
const POD_ISN = 700000;
const PAYLOAD = 100;

/** One packet, as both implementations take it. */
export interface FlowPacket {
  iif: number; src: number; dst: number; sport: number; dport: number; flags: number;
  seq: number; ack: number; len: number; time: number;
}

export interface CtScenario {
  node: DemoNode;
  engine: Engine;
  nodeIp: number;
  podIps: number[];
  podSlots: number[];
  eth0: number;
  conns: number;
  rules: string;
}

/** The DNAT ruleset: NodePort 30000 + k goes to pod k, port 8080. */
export function scenarioRules(node: DemoNode): string {
  const lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"];
  node.pods.forEach((p, k) => {
    lines.push(`-A PREROUTING -d ${node.nodeIp}/32 -p tcp -m tcp --dport ${NODEPORT_BASE + k} -j DNAT --to-destination ${p.ip}:${POD_PORT}`);
  });
  lines.push("COMMIT", "");
  return lines.join("\n");
}

/**
 * An engine with the scenario node loaded: nf_conntrack_max above `conns`,
 * nf_conntrack_buckets = `buckets` (default: conns / 2, rounded up to a
 * power of two), and `sysctl` lines added to the node's sysctl.txt.
 */
export async function makeScenario(conns: number, opts: { buckets?: number; batchSize?: number; module?: WebAssembly.Module; sysctl?: string } = {}): Promise<CtScenario> {
  const node = buildEksNode({ enis: 3, podsPerEni: [10, 9, 9], seed: 11 });
  const buckets = opts.buckets ?? Math.max(1024, 2 ** Math.ceil(Math.log2(conns / 2)));
  node.files["sysctl.txt"] += `net.netfilter.nf_conntrack_max = ${conns + 65536}\nnet.netfilter.nf_conntrack_buckets = ${buckets}\n${opts.sysctl ?? ""}`;
  const snap = parseSnapshotFiles(node.files, "bench conntrack node");
  const engine = await Engine.create({ seed: 5, batchSize: opts.batchSize ?? 256, module: opts.module });
  engine.load(snap);
  const rules = scenarioRules(node);
  engine.loadRuleset(rules, "bench conntrack rules");
  return {
    node, engine, nodeIp: parseIPv4(node.nodeIp)!, podIps: node.pods.map((p) => parseIPv4(p.ip)!),
    podSlots: node.pods.map((p) => engine.node.slotByName.get(p.veth)!), eth0: engine.node.slotByName.get("eth0")!,
    conns, rules,
  };
}

/** Packet `kind` of connection `c`: 0 SYN, 1 SYN/ACK, 2 ACK, 3 client data, 4 pod data. */
export function flowPacket(s: Pick<CtScenario, "nodeIp" | "podIps" | "podSlots" | "eth0">, c: number, kind: number, time: number): FlowPacket {
  const k = c % s.podIps.length;
  const client = (CLIENT_BASE + Math.floor(c / CLIENT_PORTS)) >>> 0;
  const cport = 10000 + (c % CLIENT_PORTS);
  const fromClient = kind === 0 || kind === 2 || kind === 3;
  const len = 40 + (kind >= 3 ? PAYLOAD : 0);
  if (fromClient) {
    const flags = kind === 0 ? TCP_SYN : kind === 2 ? TCP_ACK : TCP_ACK | TCP_PSH;
    return {
      iif: s.eth0, src: client, dst: s.nodeIp, sport: cport, dport: NODEPORT_BASE + k, flags,
      seq: kind === 0 ? CLIENT_ISN : CLIENT_ISN + 1, ack: kind === 0 ? 0 : POD_ISN + 1, len, time,
    };
  }
  const flags = kind === 1 ? TCP_SYN | TCP_ACK : TCP_ACK | TCP_PSH;
  return {
    iif: s.podSlots[k]!, src: s.podIps[k]!, dst: client, sport: POD_PORT, dport: cport, flags,
    // the pod acknowledges the handshake (data may arrive either way first: every ack stays in the window)
    seq: kind === 1 ? POD_ISN : POD_ISN + 1, ack: CLIENT_ISN + 1, len, time,
  };
}

/** Writes `f` as descriptor `k` of the batch at `ptr`. */
export function writeDescriptor(dv: DataView, ptr: number, k: number, f: FlowPacket): void {
  const p = ptr + k * abi.PKT_SIZE;
  for (let o = 0; o < abi.PKT_SIZE; o += 4) dv.setUint32(p + o, 0, true);
  dv.setUint32(p + abi.PKT_SRC, f.src, true);
  dv.setUint32(p + abi.PKT_DST, f.dst, true);
  dv.setUint16(p + abi.PKT_SPORT, f.sport, true);
  dv.setUint16(p + abi.PKT_DPORT, f.dport, true);
  dv.setUint8(p + abi.PKT_PROTO, 6);
  dv.setUint8(p + abi.PKT_TCPFLAGS, f.flags);
  dv.setUint8(p + abi.PKT_TTL, 64);
  dv.setUint16(p + abi.PKT_LEN, f.len, true);
  dv.setUint16(p + abi.PKT_IIF, f.iif, true);
  dv.setUint16(p + abi.PKT_FLAGS, abi.PF_SRC_SET, true);
  dv.setUint32(p + abi.PKT_SEQ, f.seq >>> 0, true);
  dv.setUint32(p + abi.PKT_ACK, f.ack >>> 0, true);
  dv.setUint16(p + abi.PKT_WIN, 65535, true);
  dv.setBigUint64(p + abi.PKT_TIME, BigInt(f.time), true);
}

/**
 * Sets up the scenario's connections (SYN, SYN/ACK, ACK for each, a batch
 * at a time). Returns the milliseconds the SYN phase took (new connections)
 * and the number of packets that were not forwarded (should be 0).
 */
export function establish(s: CtScenario): { synMs: number; notForwarded: number } {
  const { engine } = s;
  const { ptr, capacity } = engine.batchBuffer;
  let t = 0;
  let synMs = 0;
  let notForwarded = 0;
  for (let kind = 0; kind < 3; kind++) {
    for (let base = 0; base < s.conns; base += capacity) {
      const n = Math.min(capacity, s.conns - base);
      engine.mem.refresh();
      const dv = engine.mem.dv;
      for (let k = 0; k < n; k++) writeDescriptor(dv, ptr, k, flowPacket(s, base + k, kind, (t += 1000)));
      const t0 = performance.now();
      engine.core.process_batch(ptr, n);
      if (kind === 0) synMs += performance.now() - t0;
      engine.mem.refresh();
      const out = engine.mem.dv;
      for (let k = 0; k < n; k++) if (out.getUint8(ptr + k * abi.PKT_SIZE + abi.PKT_VERDICT) !== abi.VERDICT_FORWARD) notForwarded++;
    }
  }
  lastTime = t;
  return { synMs, notForwarded };
}
let lastTime = 0;

/**
 * How the measured packets pick their connection: "uniform" over all of
 * them (every packet a likely cache miss: the worst case), or "zipf", the
 * popularity real traffic has (connection rank r gets a share proportional
 * to 1/r; the heavy connections stay in cache).
 */
export type Popularity = "uniform" | "zipf";

/** Connection picker for a popularity over `conns` connections. */
function picker(conns: number, pop: Popularity, rnd: () => number): () => number {
  if (pop === "uniform") return () => Math.floor(rnd() * conns);
  const cdf = new Float64Array(conns);
  let sum = 0;
  for (let r = 0; r < conns; r++) cdf[r] = sum += 1 / (r + 1);
  // ranks are spread over the table (rank r is not connection r)
  const perm = new Uint32Array(conns);
  for (let i = 0; i < conns; i++) perm[i] = i;
  for (let i = conns - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const x = perm[i]!; perm[i] = perm[j]!; perm[j] = x;
  }
  return () => {
    const u = rnd() * sum;
    let lo = 0, hi = conns - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1; else hi = mid;
    }
    return perm[lo]!;
  };
}

/** Established packets of connections picked by `pop`, half each way. */
export function establishedPackets(s: Pick<CtScenario, "nodeIp" | "podIps" | "podSlots" | "eth0" | "conns">, n: number, seed: number, pop: Popularity = "uniform"): FlowPacket[] {
  const rnd = prng(seed);
  const pick = picker(s.conns, pop, rnd);
  const out: FlowPacket[] = [];
  let t = lastTime;
  for (let i = 0; i < n; i++) out.push(flowPacket(s, pick(), rnd() < 0.5 ? 3 : 4, (t += 1000)));
  return out;
}

/** Batches of established packets as raw descriptor images (copied into the batch buffer before each run). */
export function establishedBatches(s: CtScenario, batches: number, seed: number, pop: Popularity = "uniform"): Uint8Array[] {
  const { capacity } = s.engine.batchBuffer;
  const pkts = establishedPackets(s, batches * capacity, seed, pop);
  const out: Uint8Array[] = [];
  const buf = new ArrayBuffer(capacity * abi.PKT_SIZE);
  const dv = new DataView(buf);
  for (let b = 0; b < batches; b++) {
    for (let k = 0; k < capacity; k++) writeDescriptor(dv, 0, k, pkts[b * capacity + k]!);
    out.push(new Uint8Array(buf.slice(0)));
  }
  return out;
}
