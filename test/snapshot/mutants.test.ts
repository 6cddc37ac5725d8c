/**
 * Damaged snapshots: seeded random mutations of the demo EKS node's files
 * (the kube-proxy and VPC CNI rules of a 200-service cluster, ip addr /
 * link / rule / route, sysctl, ss), one token of one line at a time: a
 * token replaced by junk (bad addresses, prefixes, numbers out of range,
 * quotes, option names without values), removed, repeated, or the line cut
 * short. Loading the node must either succeed (the line still says
 * something valid) or fail with an InputError naming a snapshot file, a
 * line and the token's column (or no token: the whole line is wrong, its
 * message says what was expected): never another error, never a crash.
 * `SNAPSHOT_MUTANTS=N` runs more (2,000 passed by hand).
 */
import { describe, it, expect } from "vitest";
import { buildDemoNode } from "../../host/scenario/eks-node.js";
import { clusterForNode } from "../../host/scenario/cluster.js";
import { loadEngine, type NodeSpec } from "../../host/replay/setup.js";
import { InputError } from "../../host/snapshot/errors.js";
import { drawBelow, mutateToken } from "../mutate.js";

const JUNK = ["", "-1", "999999999999", "0x", "1.2.3.4/33", "256.0.0.1", "abc", "--", "-j", "!", "/", "::1", "10.0.0.0/8/8",
  "4294967296", "0/0", "dev", "lookup", "table", "\"", "'", "-m", "65536", "1-0", "0x1/0x", ",", "--to-destination", "-p"];

describe("damaged snapshot files", () => {
  it("a mutated token loads or is an InputError with file, line and column", async () => {
    const node = buildDemoNode();
    const files0: Record<string, string> = { ...node.files, "iptables-save.txt": clusterForNode(node, { services: 200, seed: 1 }).iptables };
    const names = Object.keys(files0).filter((f) => f !== "meta.txt");
    const below = drawBelow(0x5eed); // the same mutants every run
    const outcomes = new Map<string, number>();
    const wrong: string[] = [];
    for (let m = 0; m < Number(process.env.SNAPSHOT_MUTANTS ?? 300); m++) {
      const f = names[below(names.length)]!;
      const lines = files0[f]!.split("\n");
      let li = below(lines.length);
      // most of the ruleset's lines are rules: favour them over chain and table lines
      if (f === "iptables-save.txt") for (let t = 0; t < 50 && !lines[li]!.startsWith("-A"); t++) li = below(lines.length);
      const line = mutateToken(lines[li]!, below, JUNK, "words");
      const spec: NodeSpec = { files: { ...files0, [f]: [...lines.slice(0, li), line, ...lines.slice(li + 1)].join("\n") }, origin: "/snap", dir: true };
      let outcome: string;
      try {
        await loadEngine(spec, { seed: 0, batch: 16, warn: () => {} });
        outcome = "loaded";
      } catch (e) {
        if (e instanceof InputError && names.some((n) => e.file === `/snap/${n}`) && e.line >= 1 && (e.token === "" || (e.column ?? 0) >= 1)) {
          outcome = "InputError";
        } else {
          outcome = "wrong";
          wrong.push(`${f}:${li + 1}: ${JSON.stringify(line)}: ${e instanceof InputError ? `InputError ${e.file}:${e.line}:${e.column} ${e.message}` : (e as Error).stack?.split("\n").slice(0, 3).join(" | ")}`);
        }
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    expect(wrong).toEqual([]);
    // both outcomes are exercised
    expect(outcomes.get("InputError") ?? 0).toBeGreaterThan(50);
    expect(outcomes.get("loaded") ?? 0).toBeGreaterThan(20);
  }, 120_000);
});
