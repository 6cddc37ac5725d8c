#!/usr/bin/env node
/**
 * The `nodeplane` command line.
 *
 *   nodeplane demo                                   the built-in EKS-like node and workload
 *   nodeplane route get --snapshot DIR 8.8.8.8 from 10.0.1.33 iif eth1
 *   nodeplane replay --snapshot DIR --packets IN.jsonl [--jsonl OUT.jsonl] [--iptables FILE]
 *                    [--trace] [--counters OUT] [--conntrack-dump OUT]
 *   nodeplane replay (--snapshot DIR | --cluster FILE [--node NAME]) (--pcap F | --packets F | --generate SPEC)
 *                    [--out DIR] [--workers N] ...         (host/cli/replay.ts)
 *   nodeplane paths (--snapshot DIR | --cluster FILE [--node NAME]) [--generate SPEC]   (host/cli/paths.ts)
 *
 * Errors about input name the file, line and token and exit with status 2;
 * no stack traces unless NODEPLANE_DEBUG=1.
 */
import { Command, Option } from "commander";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { Engine } from "../engine.js";
import { readSnapshotDir } from "../snapshot/read.js";
import { isInputError, InputError } from "../snapshot/errors.js";
import { parseRouteGetArgs, routeGet } from "../route/get.js";
import { runDemo } from "../scenario/demo.js";
import { registerReplay } from "./replay.js";
import { registerRender } from "./render.js";
import { registerDiff } from "./diff.js";
import { registerPaths } from "./paths.js";

function intOption(name: string) {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v)) throw new Error(`--${name} must be a non-negative integer, got "${v}"`);
    return Number(v);
  };
}

async function engineFor(dir: string, seed: number, batch?: number, iptables?: string, cpus?: number, raceWindowNs?: number): Promise<Engine> {
  const snap = await readSnapshotDir(dir);
  if (iptables !== undefined) {
    if (!existsSync(iptables)) throw new InputError(iptables, 0, "", "no such iptables-save file");
    snap.iptablesSave = readFileSync(iptables, "utf8");
  }
  if (cpus !== undefined && (cpus < 1 || cpus > 64)) throw new Error(`--cpus must be from 1 to 64, got ${cpus}`);
  const engine = await Engine.create({ seed, batchSize: batch, cpus, raceWindowNs });
  engine.onWarning = (m) => process.stderr.write(`nodeplane: warning: ${m}\n`);
  try {
    engine.load(snap, { hz: snap.hz });
  } catch (e) {
    // rule errors name iptables-save.txt; say which file that was
    if (isInputError(e) && e.file === "iptables-save.txt") {
      throw new InputError(iptables ?? `${dir}/iptables-save.txt`, e.line, e.token, e.problem, e.text, e.column);
    }
    throw e;
  }
  for (const n of snap.notices) process.stderr.write(`nodeplane: note: ${n}\n`);
  return engine;
}

async function closeStream(s: Writable): Promise<void> {
  if (s === process.stdout) return;
  await new Promise<void>((res, rej) => s.end((e?: Error | null) => (e ? rej(e) : res())));
}

const program = new Command();
program
  .name("nodeplane")
  .description("Emulates a Kubernetes (EKS) worker node's IPv4 dataplane, checked against the Linux kernel.")
  .showHelpAfterError()
  // usage errors exit 2, like every other input error (help and --version exit 0)
  .exitOverride((err) => { process.exit(err.exitCode === 0 ? 0 : 2); });

program
  .command("demo")
  .description("replay a built-in workload through a built-in EKS-like node and summarise what happened")
  .addOption(new Option("--packets <n>", "number of packets to generate").argParser(intOption("packets")).default(200000))
  .addOption(new Option("--seed <n>", "PRNG seed").argParser(intOption("seed")).default(1))
  .option("--jsonl <file>", "also write per-packet results as JSONL")
  .action(async (opts: { packets: number; seed: number; jsonl?: string }) => {
    const out = opts.jsonl ? (opts.jsonl === "-" ? process.stdout : createWriteStream(opts.jsonl)) : undefined;
    const text = await runDemo({ packets: opts.packets, seed: opts.seed, out });
    if (out) await closeStream(out);
    (opts.jsonl === "-" ? process.stderr : process.stdout).write(text + "\n");
  });

const route = program.command("route").description("routing questions");
route
  .command("get")
  .description("what `ip route get` would answer on the node")
  .requiredOption("--snapshot <dir>", "node snapshot directory")
  .addOption(new Option("--seed <n>", "PRNG seed").argParser(intOption("seed")).default(0))
  .option("--explain", "also print the ip rule and ip route lines that decided")
  .argument("<query...>", "ADDRESS [from ADDR] [iif IF] [oif IF] [mark M] [tos T] [ipproto P] [sport N] [dport N] [uid N]")
  .action(async (query: string[], opts: { snapshot: string; seed: number; explain?: boolean }) => {
    const q = parseRouteGetArgs(query);
    const engine = await engineFor(opts.snapshot, opts.seed);
    const a = routeGet(engine, q);
    if (a.err !== 0) {
      process.stderr.write(a.text);
    } else {
      process.stdout.write(a.text);
    }
    if (opts.explain) {
      if (a.ipRule) process.stderr.write(`# ip rule:  ${a.ipRule}\n`);
      if (a.ipRoute) process.stderr.write(`# ip route: ${a.ipRoute}\n`);
    }
    if (a.err !== 0) process.exitCode = 2;
  });

registerReplay(program);
registerPaths(program);

registerDiff(program);

registerRender(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (isInputError(e)) {
    process.stderr.write(`nodeplane: ${e.message}\n`);
  } else if (e instanceof Error && process.env.NODEPLANE_DEBUG !== "1") {
    process.stderr.write(`nodeplane: ${e.message}\n`);
  } else {
    process.stderr.write(`nodeplane: ${(e as Error)?.stack ?? String(e)}\n`);
  }
  process.exitCode = 2;
});
