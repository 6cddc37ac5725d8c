/**
 * Damaged user input other than captures and snapshots (those:
 * test/pcap/fast-decode.test.ts, test/snapshot/mutants.test.ts), seeded
 * random mutations: replay-format packets (a field set to a value of the
 * wrong type or range, or a field the format does not have), traffic specs
 * and cluster files (a token of a line replaced by junk, removed, repeated,
 * or the line cut). Each is either taken or refused with an InputError that
 * names the file and the line: never another error, never a crash.
 */
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../../host/snapshot/errors.js";
import { parseTrafficSpec } from "../../host/traffic/index.js";
import { parseClusterText } from "../../host/cluster/load.js";
import { demoEngine } from "../traffic/demo-node.js";
import { ROOT } from "../repo.js";
import { drawBelow, mutateToken } from "../mutate.js";

/** Runs `f`; "taken", "refused" (an InputError at `file`, line >= 1), or what else happened. */
function outcome(f: () => unknown, file: string): string {
  try {
    f();
    return "taken";
  } catch (e) {
    if (e instanceof InputError && e.file === file && e.line >= 1) return "refused";
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
}

/** Text mutants: one token of one line each (the same every run). */
function textMutants(text: string, count: number, seed: number): string[] {
  const below = drawBelow(seed);
  const junk = ["", "-1", "1e309", "0", "0.5", "abc", "[", "]", "{", "}", ":", "- x", "null", "~", "1.2.3.4/33", "256.0.0.1/8", "65536", "-", "\"", "&a", "*a", "!!binary", "10.0.0.0/8", "true", "[]", "{}"];
  return Array.from({ length: count }, () => {
    const lines = text.split("\n");
    const li = below(lines.length);
    lines[li] = mutateToken(lines[li]!, below, junk, "yaml");
    return lines.join("\n");
  });
}

describe("damaged input is taken or refused with its place", () => {
  it("replay-format packets", async () => {
    const { engine } = await demoEngine();
    const below = drawBelow(0x5eed);
    const base: Record<string, unknown>[] = [
      { iif: "eth0", src: "52.1.2.3", dst: "10.0.52.16", proto: "tcp", sport: 40000, dport: 30080, flags: "S", seq: 5, win: 64240, len: 60, t: 0.001 },
      { iif: "eth0", src: "52.1.2.3", dst: "10.0.52.16", proto: "udp", sport: 5353, dport: 53, len: 60, t: 0.002 },
      { iif: "eth0", src: "52.1.2.5", dst: "10.0.52.16", proto: "icmp", icmp_type: 8, icmp_id: 3, icmp_seq: 1, len: 84, t: 0.003 },
      { iif: "local", dst: "8.8.8.8", proto: "udp", sport: 3333, dport: 53, len: 60, t: 0.004 },
    ];
    const keys = ["iif", "src", "dst", "proto", "sport", "dport", "flags", "seq", "ack", "win", "len", "t", "ttl", "tos", "df", "mark",
      "icmp_type", "icmp_code", "icmp_id", "icmp_seq", "csum", "mss", "wscale", "sackok", "doff", "bogus"];
    const values: unknown[] = [null, true, -1, 1e20, 65536, 4294967296, 1.5, "", "x", "1.2.3.4/33", "256.1.1.1", [], {}, "tcp", "S", 0, "SA", "eth9"];
    const seen = new Map<string, number>();
    const wrong: string[] = [];
    for (let m = 0; m < 400; m++) {
      const pk = base.map((b) => ({ ...b }));
      pk[below(pk.length)]![keys[below(keys.length)]!] = values[below(values.length)];
      const o = outcome(() => engine.process(pk, (i) => ({ file: "in.jsonl", line: i + 1 })), "in.jsonl");
      const k = o === "taken" || o === "refused" ? o : "wrong";
      seen.set(k, (seen.get(k) ?? 0) + 1);
      if (k === "wrong") wrong.push(`${JSON.stringify(pk)}: ${o}`);
    }
    expect(wrong).toEqual([]);
    expect(seen.get("refused") ?? 0).toBeGreaterThan(50);
    expect(seen.get("taken") ?? 0).toBeGreaterThan(50);
  }, 60_000);

  it("traffic specs and cluster files", () => {
    const spec = [
      "seed: 5", "packets: 2000", "rate: 2000", "mix: {tcp: 80, udp: 15, icmp: 5}",
      "directions: {nodeport: 20, pod-ip: 10, pod-to-clusterip: 35, pod-to-outside: 35}",
      "clients: {count: 200, cidrs: [52.0.0.0/11], zipf: 1.0}",
      "servers: {count: 20, cidrs: [151.101.0.0/16], zipf: 1.0, tcp-ports: [443]}",
      "tcp: {request: 2000, response: 20000, exchanges: 10, rst: 0}", "",
    ].join("\n");
    const cluster = readFileSync(join(ROOT, "test/cluster/fixtures/custom-pd.yaml"), "utf8");
    for (const [name, text, parse] of [
      ["spec.yaml", spec, (t: string) => parseTrafficSpec(t, "spec.yaml")],
      ["cluster.yaml", cluster, (t: string) => parseClusterText(t, "cluster.yaml")],
    ] as const) {
      const seen = new Map<string, number>();
      const wrong: string[] = [];
      for (const t of textMutants(text, 600, name.length)) {
        const o = outcome(() => parse(t), name);
        const k = o === "taken" || o === "refused" ? o : "wrong";
        seen.set(k, (seen.get(k) ?? 0) + 1);
        if (k === "wrong") wrong.push(o);
      }
      expect(wrong, name).toEqual([]);
      expect(seen.get("refused") ?? 0, name).toBeGreaterThan(100);
      expect(seen.get("taken") ?? 0, name).toBeGreaterThan(20);
    }
  });
});
