/**
 * Plays the diff's flows through one Engine, packet by packet: the client's
 * packets as the flow defines them, the server's as answers to what the
 * node actually sent (to the translated source, from the translated
 * destination, arriving on the interface that owns the address they go
 * to). All flows advance one step at a time, so each step is one batch.
 *
 * A flow stops where the node drops a packet or answers it itself (a TCP
 * reset, an ICMP error): the client would give up or retry, and either way
 * the rest of the exchange would not happen as written.
 */
import type { Engine } from "../engine.js";
import type { PacketInput } from "../packet/input.js";
import type { PacketResult } from "../packet/result.js";
import type { NodeFacts } from "./facts.js";
import type { Flow } from "./workload.js";

/** One step of a flow: who sends it and its TCP fields relative to the two initial sequence numbers. */
interface Step { name: string; from: "client" | "server"; flags?: string; seq?: number; ack?: number; payload: number }

const TCP_STEPS: Step[] = [
  { name: "SYN", from: "client", flags: "S", seq: 0, ack: undefined, payload: 0 },
  { name: "SYN-ACK", from: "server", flags: "SA", seq: 0, ack: 1, payload: 0 },
  { name: "ACK", from: "client", flags: "A", seq: 1, ack: 1, payload: 0 },
  { name: "data", from: "client", flags: "PA", seq: 1, ack: 1, payload: 100 },
  { name: "data ACK", from: "server", flags: "A", seq: 1, ack: 101, payload: 0 },
  { name: "FIN", from: "client", flags: "FA", seq: 101, ack: 1, payload: 0 },
  { name: "server FIN", from: "server", flags: "FA", seq: 1, ack: 102, payload: 0 },
  { name: "last ACK", from: "client", flags: "A", seq: 102, ack: 2, payload: 0 },
];
const UDP_STEPS: Step[] = [
  { name: "request", from: "client", payload: 40 },
  { name: "response", from: "server", payload: 120 },
];

/** The steps of a flow of this protocol. */
export function stepsOf(proto: Flow["proto"]): readonly Step[] {
  return proto === "tcp" ? TCP_STEPS : UDP_STEPS;
}

/** One packet of a played flow. */
export interface PlayedPacket {
  step: string;
  from: "client" | "server";
  input: PacketInput;
  result: PacketResult;
}

export interface PlayedFlow {
  flow: Flow;
  packets: PlayedPacket[];
  /** Why the flow ended before its last step, if it did. */
  stopped?: string;
}

/** Seconds between steps (virtual clock). */
const STEP_SECONDS = 0.01;

/** Is this reply the node answering in place of the server (a reset or an ICMP error)? */
function refused(r: PacketResult): string | undefined {
  for (const x of r.replies) {
    if (x.kind === "tcp" && x.flags?.includes("R")) return "the node answered with a TCP reset";
    // destination unreachable, time exceeded, parameter problem (a redirect is advice: the packet went on)
    if (x.kind === "icmp" && (x.icmp_type === 3 || x.icmp_type === 11 || x.icmp_type === 12)) return `the node answered with ICMP type ${x.icmp_type} code ${x.icmp_code ?? 0}`;
  }
  return undefined;
}

/**
 * The interface a packet to `addr` arrives on from the VPC: the ENI that
 * owns the address (its own IP, or a pod IP the CNI assigned to it), else
 * the interface the conversation left through.
 */
function arrivalEni(facts: NodeFacts, addr: string, leftVia: string): string {
  const eni = facts.enis.find((e) => e.ip === addr);
  if (eni) return eni.name;
  const pod = facts.pods.find((p) => p.ip === addr);
  if (pod && pod.eni) return pod.eni;
  return leftVia;
}

/** Plays `flows` through `engine` (loaded with the node whose facts are `facts`). */
export function playFlows(engine: Engine, facts: NodeFacts, flows: Flow[], seed: number): PlayedFlow[] {
  const played: PlayedFlow[] = flows.map((flow) => ({ flow, packets: [] }));
  const enis = new Set(facts.enis.map((e) => e.name));
  const devs = engine.devices;
  const isn = (f: Flow, side: number) => ((seed * 7919 + f.id * 104729 + side * 1299709) % 2 ** 31) >>> 0;
  for (const p of played) {
    if (p.flow.iif !== "local" && devs.slotOf(p.flow.iif) === undefined) p.stopped = `the node has no device ${p.flow.iif}`;
  }
  const maxSteps = Math.max(0, ...flows.map((f) => stepsOf(f.proto).length));
  for (let s = 0; s < maxSteps; s++) {
    const batch: PlayedFlow[] = [];
    const inputs: PacketInput[] = [];
    for (const p of played) {
      const steps = stepsOf(p.flow.proto);
      if (p.stopped || s >= steps.length) continue;
      const step = steps[s]!;
      const f = p.flow;
      let input: PacketInput;
      if (step.from === "client") {
        input = { iif: f.iif, dst: f.dst, proto: f.proto, sport: f.sport, dport: f.dport, t: s * STEP_SECONDS };
        if (f.src !== undefined) input.src = f.src;
      } else {
        // the server answers what left the node with the conversation's first packet
        const first = p.packets[0]!.result;
        const iif = first.verdict === "local" ? "local" : enis.has(first.oif ?? "") ? arrivalEni(facts, first.src, first.oif!) : first.oif!;
        input = { iif, src: first.dst, dst: first.src, proto: f.proto, sport: first.dport, dport: first.sport, t: s * STEP_SECONDS };
      }
      if (f.proto === "tcp") {
        const mine = isn(f, step.from === "client" ? 0 : 1);
        const theirs = isn(f, step.from === "client" ? 1 : 0);
        input.flags = step.flags;
        input.seq = (mine + step.seq!) >>> 0;
        if (step.ack !== undefined) input.ack = (theirs + step.ack) >>> 0;
        input.win = 65535;
        input.len = 40 + step.payload;
      } else {
        input.len = 28 + step.payload;
      }
      batch.push(p);
      inputs.push(input);
    }
    if (!inputs.length) break;
    const results = engine.process(inputs);
    batch.forEach((p, k) => {
      const step = stepsOf(p.flow.proto)[s]!;
      const result = results[k]!;
      p.packets.push({ step: step.name, from: step.from, input: inputs[k]!, result });
      const last = s === stepsOf(p.flow.proto).length - 1;
      if (result.verdict === "drop") p.stopped = `${step.name} dropped (${result.reason ?? "?"})`;
      else if (!last && refused(result)) p.stopped = `${step.name}: ${refused(result)}`;
      else if (!last && result.verdict !== "forward" && result.verdict !== "local") p.stopped = `${step.name}: verdict ${result.verdict}`;
    });
  }
  return played;
}
