/**
 * `nodeplane diff A B`: the structural and behavioural differences between
 * two nodes (snapshot directories or cluster files). Exit status as diff(1):
 * 0 no differences, 1 differences, 2 trouble (bad input).
 */
import { Option, type Command } from "commander";
import { readFile } from "node:fs/promises";
import { InputError } from "../snapshot/errors.js";
import { diffSides, type DiffOptions } from "../diff/node-diff.js";
import { diffJson, formatDiff } from "../diff/report.js";
import { loadSide } from "../diff/sides.js";

function count(name: string, min: number) {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min) throw new InputError(`--${name}`, 0, v, `must be an integer of at least ${min}`);
    return Number(v);
  };
}

/** Reads a JSONL packet file (one JSON object per line; blank lines skipped). */
export async function readPacketLines(file: string): Promise<NonNullable<DiffOptions["packets"]>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new InputError(file, 0, "", "no such packets file");
  }
  const lines: { line: number; packet: Record<string, unknown> }[] = [];
  text.split("\n").forEach((l, i) => {
    const t = l.trim();
    if (t === "") return;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (e) {
      throw new InputError(file, i + 1, t.length > 40 ? t.slice(0, 40) + "..." : t, `not JSON (${(e as Error).message})`);
    }
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new InputError(file, i + 1, t.slice(0, 40), "expected a JSON object (one packet)");
    lines.push({ line: i + 1, packet: v as Record<string, unknown> });
  });
  if (!lines.length) throw new InputError(file, 0, "", "no packets in the file");
  return { file, lines };
}

export function registerDiff(program: Command): void {
  program
    .command("diff")
    .description("structural and behavioural differences between two nodes (exit 0: none, 1: some, 2: trouble)")
    .argument("<a>", "snapshot directory or cluster file (.yaml)")
    .argument("<b>", "snapshot directory or cluster file (.yaml)")
    .option("--packets <file>", "replay these packets (JSONL) on both sides instead of the built-in flows")
    .addOption(new Option("--flows <n>", "flows of the built-in workload").argParser(count("flows", 1)).default(120))
    .addOption(new Option("--seed <n>", "seed of the workload and of both engines").argParser(count("seed", 0)).default(1))
    .option("--json", "machine-readable output")
    .option("--node <name>", "compare only this node")
    .action(async (a: string, b: string, opts: { packets?: string; flows: number; seed: number; json?: boolean; node?: string }) => {
      const sa = await loadSide(a);
      const sb = await loadSide(b);
      const packets = opts.packets !== undefined ? await readPacketLines(opts.packets) : undefined;
      const r = await diffSides(sa, sb, {
        flows: opts.flows, seed: opts.seed, packets, node: opts.node,
        onWarning: (m) => process.stderr.write(`nodeplane: warning: ${m}\n`),
      });
      process.stdout.write(opts.json ? diffJson(r) : formatDiff(r));
      process.exitCode = r.different ? 1 : 0;
    });
}
