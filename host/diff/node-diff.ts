/**
 * `nodeplane diff`: pairs the nodes of two sides, and for each pair runs the
 * structural diff (configuration) and the behavioural diff (the same flows
 * through one Engine per side, same seed).
 */
import { Engine } from "../engine.js";
import type { PacketInput } from "../packet/input.js";
import { InputError, isInputError } from "../snapshot/errors.js";
import { CATEGORIES, compareFlow, type FlowChange } from "./compare.js";
import { mergeFacts, nodeFacts, type NodeFacts } from "./facts.js";
import { playFlows, type PlayedFlow } from "./play.js";
import type { NodeSide, Side } from "./sides.js";
import { structuralDiff, type StructSection } from "./structural.js";
import { deriveFlows, type Flow } from "./workload.js";

export interface DiffOptions {
  /** Flows of the built-in workload (default 120). */
  flows?: number;
  /** Seed of the workload and of both Engines. */
  seed?: number;
  /** A packet list to replay on both sides instead of the built-in workload (each packet compared on its own). */
  packets?: { file: string; lines: { line: number; packet: Record<string, unknown> }[] };
  /** Compare only this node. */
  node?: string;
  /** Warnings about the input (unknown packet fields...). */
  onWarning?: (m: string) => void;
}

export interface BehaviourDiff {
  /** "flows" (the built-in workload) or "packets" (--packets). */
  workload: "flows" | "packets";
  flows: Flow[];
  /** Changes, category by category in report order, flows in workload order. */
  changes: FlowChange[];
  /** Flows (or packets) with no change. */
  unchanged: number;
  /** Where the workload's VPC CIDRs came from. */
  vpcCidrs: string[];
  vpcSource: NodeFacts["vpcSource"];
}

export interface NodeDiff {
  name: string;
  a: string;
  b: string;
  structural: StructSection[];
  behaviour: BehaviourDiff;
}

export interface DiffResult {
  a: string;
  b: string;
  /** Nodes only one side has. */
  onlyA: string[];
  onlyB: string[];
  nodes: NodeDiff[];
  /** Anything differs (diff(1)'s exit status 1). */
  different: boolean;
}

/** An Engine loaded with a side's node. Random endpoint choice (-m statistic --mode random) is pinned (see below). */
async function engineFor(side: NodeSide, seed: number, onWarning?: (m: string) => void): Promise<Engine> {
  const engine = await Engine.create({ seed });
  if (onWarning) engine.onWarning = onWarning;
  try {
    engine.load(side.snapshot, { hz: side.snapshot.hz }); // the local clients' sockets: the engine makes them as they send (ipv4/connsock.ts)
  } catch (e) {
    if (isInputError(e) && e.file === "iptables-save.txt") {
      throw new InputError(side.iptablesFile, e.line, e.token, e.problem, e.text, e.column);
    }
    throw e;
  }
  // kube-proxy picks a service's endpoint with `-m statistic --mode random`;
  // the draws depend on how much randomness each node used before (SNAT
  // ports under --random-fully), so the same flow could land on different
  // endpoints of two identical nodes. No random match succeeds: every
  // connection takes the chain's last endpoint, the same on both sides.
  engine.setStatisticOracle([]);
  return engine;
}

/** The --packets workload: every packet is its own one-packet "flow". */
function packetFlows(lines: { line: number; packet: Record<string, unknown> }[]): Flow[] {
  return lines.map(({ line, packet: p }, id): Flow => ({
    id,
    kind: "input",
    proto: p.proto === "udp" ? "udp" : "tcp",
    initiator: p.iif === "local" ? "local" : "external",
    iif: String(p.iif ?? ""),
    src: typeof p.src === "string" ? p.src : undefined,
    dst: String(p.dst ?? ""),
    sport: typeof p.sport === "number" ? p.sport : 0,
    dport: typeof p.dport === "number" ? p.dport : 0,
    line,
  }));
}

function playPackets(engine: Engine, flows: Flow[], opts: NonNullable<DiffOptions["packets"]>): PlayedFlow[] {
  const results = engine.process(opts.lines.map((l) => l.packet), (i) => ({ file: opts.file, line: opts.lines[i]!.line }));
  return flows.map((flow, i) => ({
    flow,
    packets: [{ step: "packet", from: "client", input: opts.lines[i]!.packet as unknown as PacketInput, result: results[i]! }],
  }));
}

/** Diffs one pair of nodes. */
export async function diffNodePair(a: NodeSide, b: NodeSide, o: DiffOptions = {}): Promise<NodeDiff> {
  const seed = o.seed ?? 1;
  const structural = structuralDiff(a, b);
  const fa = nodeFacts(a.snapshot, a.ruleset);
  const fb = nodeFacts(b.snapshot, b.ruleset);
  const merged = mergeFacts(fa, fb, [...(a.vpcCidrs ?? []), ...(b.vpcCidrs ?? [])]);
  const flows = o.packets ? packetFlows(o.packets.lines) : deriveFlows(merged, { flows: o.flows ?? 120, seed });
  const play = async (side: NodeSide, facts: NodeFacts) => {
    const engine = await engineFor(side, seed, o.onWarning);
    return o.packets ? playPackets(engine, flows, o.packets) : playFlows(engine, facts, flows, seed);
  };
  const pa = await play(a, fa);
  const pb = await play(b, fb);
  const changes: FlowChange[] = [];
  let unchanged = 0;
  const perFlow = flows.map((_, i) => compareFlow(pa[i]!, pb[i]!));
  for (const c of perFlow) if (!c.length) unchanged++;
  // category by category, flows in workload order
  for (const cat of CATEGORIES) for (const c of perFlow) for (const x of c) if (x.category === cat) changes.push(x);
  return {
    name: a.name === b.name ? a.name : `${a.name} / ${b.name}`,
    a: a.origin,
    b: b.origin,
    structural,
    behaviour: { workload: o.packets ? "packets" : "flows", flows, changes, unchanged, vpcCidrs: merged.vpcCidrs, vpcSource: merged.vpcSource },
  };
}

/**
 * Pairs the nodes of two sides: by name; two single-node sides (e.g. two
 * snapshots of one node, taken before and after a change) pair whatever
 * their names.
 */
export function pairNodes(a: Side, b: Side, only?: string): { pairs: [NodeSide, NodeSide][]; onlyA: string[]; onlyB: string[] } {
  let na = a.nodes;
  let nb = b.nodes;
  if (only !== undefined) {
    const pick = (s: Side) => (s.nodes.length === 1 && s.kind === "snapshot" ? s.nodes : s.nodes.filter((n) => n.name === only));
    na = pick(a);
    nb = pick(b);
    if (!na.length && !nb.length) throw new InputError(a.path, 0, only, `no node named ${only} on either side`);
  }
  if (na.length === 1 && nb.length === 1 && (a.kind === "snapshot" || b.kind === "snapshot" || na[0]!.name === nb[0]!.name)) {
    return { pairs: [[na[0]!, nb[0]!]], onlyA: [], onlyB: [] };
  }
  const byName = new Map(nb.map((n) => [n.name, n]));
  const pairs: [NodeSide, NodeSide][] = [];
  const onlyA: string[] = [];
  for (const n of na) {
    const m = byName.get(n.name);
    if (m) pairs.push([n, m]);
    else onlyA.push(n.name);
  }
  const names = new Set(na.map((n) => n.name));
  const onlyB = nb.filter((n) => !names.has(n.name)).map((n) => n.name);
  return { pairs, onlyA, onlyB };
}

/** Diffs two sides. */
export async function diffSides(a: Side, b: Side, o: DiffOptions = {}): Promise<DiffResult> {
  const { pairs, onlyA, onlyB } = pairNodes(a, b, o.node);
  const nodes: NodeDiff[] = [];
  for (const [x, y] of pairs) nodes.push(await diffNodePair(x, y, o));
  const different = onlyA.length > 0 || onlyB.length > 0 || nodes.some((n) => n.structural.length > 0 || n.behaviour.changes.length > 0);
  return { a: a.path, b: b.path, onlyA, onlyB, nodes, different };
}
