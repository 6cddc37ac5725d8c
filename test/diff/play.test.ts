/**
 * Playing flows: the server's packets answer what the node actually sent,
 * with sequence numbers conntrack accepts, so whole conversations go
 * through; a flow stops only where the node refuses it.
 */
import { describe, expect, it } from "vitest";
import { Engine } from "../../host/engine.js";
import { nodeFacts } from "../../host/diff/facts.js";
import { playFlows, stepsOf } from "../../host/diff/play.js";
import { sideFromFiles } from "../../host/diff/sides.js";
import { deriveFlows, FLOW_KINDS } from "../../host/diff/workload.js";
import { eksNodeFiles } from "./fixtures.js";

describe("playing the workload", () => {
  it("every flow completes unless kube-proxy refuses it (a service without (local) endpoints)", async () => {
    const s = sideFromFiles("n", eksNodeFiles(false).files, "a");
    const facts = nodeFacts(s.snapshot, s.ruleset);
    const flows = deriveFlows(facts, { flows: 400, seed: 4 });
    // every kind the node supports is in the workload (no excluded CIDR on this node)
    expect(new Set(flows.map((f) => f.kind))).toEqual(new Set(FLOW_KINDS.filter((k) => k !== "input" && k !== "pod-excluded-cidr")));
    const engine = await Engine.create({ seed: 4 });
    engine.load(s.snapshot);
    engine.setStatisticOracle([]);
    const played = playFlows(engine, facts, flows, 4);
    let completed = 0;
    for (const p of played) {
      if (p.stopped) {
        const last = p.packets.at(-1)!.result;
        expect(p.packets).toHaveLength(1);
        expect(last.verdict, p.stopped).toBe("drop");
        expect(last.nf_verdict, p.stopped).toMatch(/^-t filter -A KUBE-(SERVICES|EXTERNAL-SERVICES) .*has no (local )?endpoints" .*-j (REJECT|DROP)/);
        continue;
      }
      completed++;
      expect(p.packets).toHaveLength(stepsOf(p.flow.proto).length);
      for (const k of p.packets) {
        expect(["forward", "local"], `${p.flow.kind} ${k.step}`).toContain(k.result.verdict);
        expect(k.result.ct, `${p.flow.kind} ${k.step}`).not.toBe("INVALID");
      }
      if (p.flow.proto === "tcp") {
        // the last ACK found the connection closing, both directions seen
        const e = p.packets.at(-1)!.result.ct_entry!;
        expect(e.state).toBe("TIME_WAIT");
        expect(e.status).toContain("ASSURED");
      }
    }
    expect(completed).toBeGreaterThan(played.length * 0.9);
  });

  it("the server's answer to a node-local client reaches the client's socket: no reset (ipv4/connsock.ts)", async () => {
    const s = sideFromFiles("n", eksNodeFiles(false).files, "a");
    const facts = nodeFacts(s.snapshot, s.ruleset);
    const flows = deriveFlows(facts, { flows: 400, seed: 4 }).filter((f) => f.kind === "local-internet");
    expect(flows.length).toBe(2);
    expect(s.snapshot.sockets?.some((k) => flows.some((f) => f.sport === k.port))).toBe(false); // ss.txt has no socket on the clients' ports
    const engine = await Engine.create({ seed: 4 });
    engine.load(s.snapshot);
    for (const p of playFlows(engine, facts, flows, 4)) {
      expect(p.stopped).toBeUndefined();
      const answers = p.packets.filter((k) => k.result.verdict === "local");
      expect(answers.length).toBeGreaterThan(0);
      for (const k of answers) {
        expect(k.result.socket, k.step).toBe("open");
        expect(k.result.replies, k.step).toEqual([]);
      }
    }
  });
});
