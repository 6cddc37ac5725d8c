/**
 * `nodeplane paths`: NLB traffic through the instance-target path (NodePort,
 * DNAT and SNAT) and the IP-target path (straight to the pod), side by side
 * (host/replay/paths.ts).
 *
 *   nodeplane paths (--snapshot DIR | --cluster FILE [--node NAME]) [--generate SPEC]
 *                   [--seed N] [--rounds N] [--json FILE] [--html FILE]
 */
import { Option, type Command } from "commander";
import { writeSync, closeSync } from "node:fs";
import { openOutput } from "../util/fs.js";
import { loadTrafficSpec, parseTrafficSpec } from "../traffic/index.js";
import { comparePaths, formatPathsTable, DEFAULT_NLB_SPEC } from "../replay/paths.js";
import { nodeSpec } from "./replay.js";
import { renderPathsHtml } from "../report/paths-html.js";

interface PathsCliOptions {
  snapshot?: string; cluster?: string; node?: string; iptables?: string;
  generate?: string; seed: number; rounds: number; json?: string; html?: string; jit?: boolean;
}

function intOption(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
    return Number(v);
  };
}

export function registerPaths(program: Command): void {
  program
    .command("paths")
    .description("the same NLB traffic through the instance-target path (NodePort: DNAT, SNAT) and the IP-target path (pod IP), side by side: rules traversed, NAT, conntrack and SNAT ports, drops, node time")
    .option("--snapshot <dir>", "node snapshot directory")
    .option("--cluster <file>", "a cluster file: one of its nodes (with --node)")
    .option("--node <name>", "the cluster node")
    .option("--iptables <file>", "iptables-save output to load instead of the snapshot's iptables-save.txt")
    .option("--generate <spec>", "traffic spec (YAML); its nodeport and pod-ip weights are the NLB share, other directions run unchanged in both (default: a built-in NLB spec)")
    .addOption(new Option("--seed <n>", "engine PRNG seed").argParser(intOption("seed", 0, 0xffffffff)).default(0))
    .addOption(new Option("--rounds <n>", "runs of each path, alternating (node time: the median)").argParser(intOption("rounds", 1, 100)).default(3))
    .option("--json <file>", "also write the comparison as JSON")
    .option("--html <file>", "also write the comparison as a self-contained HTML page with charts")
    .option("--no-jit", "interpret the iptables rule walks instead of compiling them")
    .action(async (o: PathsCliOptions) => {
      if (o.snapshot === undefined && o.cluster === undefined) throw new Error("give the node: --snapshot DIR or --cluster FILE [--node NAME]");
      const node = await nodeSpec(o);
      const traffic = o.generate !== undefined ? await loadTrafficSpec(o.generate) : parseTrafficSpec(DEFAULT_NLB_SPEC, "built-in NLB traffic");
      // outputs are opened first: an unwritable path is an error before the runs
      const jsonFd = o.json !== undefined ? openOutput("--json", o.json) : undefined;
      const htmlFd = o.html !== undefined ? openOutput("--html", o.html) : undefined;
      const warn = (m: string) => process.stderr.write(`nodeplane: warning: ${m}\n`);
      try {
        const report = await comparePaths({ node, traffic, seed: o.seed, rounds: o.rounds, jit: o.jit, warn });
        if (jsonFd !== undefined) writeSync(jsonFd, JSON.stringify(report, null, 2) + "\n");
        if (htmlFd !== undefined) writeSync(htmlFd, renderPathsHtml(report));
        process.stdout.write(formatPathsTable(report) + "\n");
      } finally {
        if (jsonFd !== undefined) closeSync(jsonFd);
        if (htmlFd !== undefined) closeSync(htmlFd);
      }
    });
}
