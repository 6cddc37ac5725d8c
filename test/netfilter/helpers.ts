/**
 * Helpers of the netfilter tests: rulesets in restore form, and a scratch
 * network namespace to load them into the kernel and dump them back with
 * iptables-save (legacy or nft backend).
 */
import { spawnSync } from "node:child_process";
import type { IptRule, IptRuleset } from "../../host/model/iptables.js";
import { run } from "../kernel/netns.js";

export { expectInputError, lines } from "../snapshot/helpers.js";

export const BUILTIN_DECLS: Record<string, string[]> = {
  raw: ["PREROUTING", "OUTPUT"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
};

/** One table in restore form: built-in declarations, the given user chains, the rules ("CHAIN rest"), COMMIT. */
export function table(name: string, userChains: string[], rules: string[]): string {
  const out = [`*${name}`];
  for (const c of BUILTIN_DECLS[name]!) out.push(`:${c} ACCEPT [0:0]`);
  for (const c of userChains) out.push(`:${c} - [0:0]`);
  for (const r of rules) out.push(`-A ${r}`);
  out.push("COMMIT");
  return out.join("\n") + "\n";
}

/** Drops the "# ..." lines iptables-save writes around each table. */
export function withoutComments(dump: string): string {
  return dump.split("\n").filter((l) => !l.startsWith("#")).join("\n");
}

/**
 * The rule's semantic content: everything but its text, counters and source
 * reference, the informational texts of LOG, NFLOG and limit, and the
 * selectors that match everything (-p all, -s 0.0.0.0/0, -i +), which
 * iptables-save leaves out.
 */
export function semantic(r: IptRule): unknown {
  const { text: _t, srcRef: _s, counters: _c, ...rest } = r;
  const out: Record<string, unknown> = { ...rest };
  const t = r.target;
  if (t.kind === "LOG" || t.kind === "NFLOG") out.target = { ...t, text: undefined };
  out.matches = r.matches.map((m) => (m.kind === "limit" ? { ...m, text: undefined } : m));
  if (r.proto && r.proto.num === 0 && !r.proto.inv) delete out.proto;
  if (r.src && r.src.plen === 0 && !r.src.inv) delete out.src;
  if (r.dst && r.dst.plen === 0 && !r.dst.inv) delete out.dst;
  if (r.inIface && r.inIface.wildcard && r.inIface.name === "" && !r.inIface.inv) delete out.inIface;
  if (r.outIface && r.outIface.wildcard && r.outIface.name === "" && !r.outIface.inv) delete out.outIface;
  return out;
}

/** All rules of a ruleset, per "table/chain". */
export function rulesByChain(rs: IptRuleset): Map<string, IptRule[]> {
  const m = new Map<string, IptRule[]>();
  for (const t of rs.tables) for (const c of t.chains) m.set(`${t.name}/${c.name}`, c.rules);
  return m;
}

export type Backend = "legacy" | "nft";

/** A network namespace for loading rulesets; names start with np-<pid>- (see test/kernel/cleanup.ts). */
export class ScratchNs {
  private static counter = 0;
  readonly name = `np-${process.pid}-ipt${ScratchNs.counter++}`;
  private created = false;

  async create(): Promise<void> {
    const r = await run("ip", ["netns", "add", this.name]);
    if (r.code !== 0) throw new Error(`ip netns add ${this.name}: ${r.stderr}`);
    this.created = true;
    process.once("exit", () => this.destroySync());
  }

  destroySync(): void {
    if (!this.created) return;
    spawnSync("ip", ["netns", "del", this.name]);
    this.created = false;
  }

  async destroy(): Promise<void> {
    if (!this.created) return;
    await run("ip", ["netns", "del", this.name]);
    this.created = false;
  }

  /** iptables-<backend>-restore [extra] of the text (flushing the tables it names); returns exit code and stderr. */
  async restore(text: string, backend: Backend = "legacy", extra: string[] = []): Promise<{ code: number; stderr: string }> {
    const r = await run("ip", ["netns", "exec", this.name, `iptables-${backend}-restore`, ...extra], { input: text });
    return { code: r.code, stderr: r.stderr };
  }

  /** iptables-<backend>-save [-c] output. */
  async save(counters = true, backend: Backend = "legacy"): Promise<string> {
    const args = ["netns", "exec", this.name, `iptables-${backend}-save`];
    if (counters) args.push("-c");
    const r = await run("ip", args);
    if (r.code !== 0) throw new Error(`iptables-${backend}-save: ${r.stderr}`);
    return r.stdout;
  }

  /** Runs an iptables command in the namespace. */
  async iptables(args: string[], backend: Backend = "legacy"): Promise<{ code: number; stdout: string; stderr: string }> {
    return run("ip", ["netns", "exec", this.name, `iptables-${backend}`, ...args]);
  }
}
