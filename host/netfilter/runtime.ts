/**
 * The host side of a loaded ruleset: compiling and (re)loading it into a
 * core, reading its counters back as `iptables-save -c`, and turning the
 * core's entry ids (traces, verdicts) into rule text.
 */
import * as abi from "../core/abi.js";
import type { CoreExports, CoreMemory } from "../core/wasm.js";
import type { IptRuleset, IptCounters, IptRule, IptTableName } from "../model/iptables.js";
import { parseIptablesSave } from "./parse.js";
import { printIptablesSave } from "./print.js";
import { compileRuleset, newRegistry, HOOK_NAMES, TABLE_NAMES, type CompiledRuleset, type EntryInfo, type NameRegistry } from "./compile.js";
import type { IpSets } from "../ipset/parse.js";
import { compileWalks } from "./jit/codegen.js";

export interface RulesetLoadStats {
  rules: number;
  chains: number;
  indexedChains: number;
  /** Milliseconds: parse (when text was given), compile, load into the core. */
  parseMs: number;
  compileMs: number;
  loadMs: number;
  /** The compiled chain walks (host/netfilter/jit/): tables x hooks, chains, entries, milliseconds; or why there are none. */
  jit: { walks: string[]; chains: number; entries: number; ms: number } | { off: string };
}

export class LoadedRuleset {
  readonly ruleset: IptRuleset;
  readonly compiled: CompiledRuleset;
  readonly stats: RulesetLoadStats;
  /** Entry id -> "-t TABLE -A CHAIN text" (rules) or "-t TABLE -P CHAIN POLICY" (policies), built when first asked. */
  private readonly text: (string | undefined)[] = [];
  private byRule_?: Map<IptRule, number>;

  constructor(ruleset: IptRuleset, compiled: CompiledRuleset, stats: RulesetLoadStats) {
    this.ruleset = ruleset;
    this.compiled = compiled;
    this.stats = stats;
  }

  entry(id: number): EntryInfo | undefined { return this.compiled.entries[id]; }
  entryText(id: number): string {
    let t = this.text[id];
    if (t === undefined) {
      const e = this.compiled.entries[id];
      t = e ? entryText(e) : `entry ${id}`;
      this.text[id] = t;
    }
    return t;
  }
  idOf(rule: IptRule): number | undefined {
    if (!this.byRule_) {
      this.byRule_ = new Map();
      this.compiled.entries.forEach((e, id) => { if (e.rule) this.byRule_!.set(e.rule, id); });
    }
    return this.byRule_.get(rule);
  }
}

function entryText(e: EntryInfo): string {
  if (e.kind === "rule") {
    const t = e.rule!.text;
    return `-t ${e.table} -A ${e.chain}${t.length > 0 ? " " + t : ""}`;
  }
  if (e.kind === "policy") return `-t ${e.table} -P ${e.chain} ${e.chainRef?.policy ?? "ACCEPT"}`;
  return `-t ${e.table} -A ${e.chain} (implicit RETURN)`;
}

/** Trace record -> the kernel TRACE form "table:chain:type:rulenum" (plus ":nomatch" for rules that did not match). */
export function traceText(rs: LoadedRuleset, rec: number): string | undefined {
  if (rec & abi.TR_HOOK) return undefined;
  const id = rec & abi.TR_ID_MASK;
  const e = rs.entry(id);
  if (!e) return undefined;
  const type = e.kind === "rule" ? "rule" : e.kind === "policy" ? "policy" : "return";
  const s = `${e.table}:${e.chain}:${type}:${e.pos}`;
  return rec & abi.TR_MATCHED ? s : `${s}:nomatch`;
}

/** Per core: the function-table slots holding compiled walks (reused by the next program). */
const jitSlots = new WeakMap<CoreExports, number[]>();

/** Compiles and loads rulesets into one core, keeping kernel objects' names stable across reloads. */
export class NetfilterHost {
  readonly registry: NameRegistry = newRegistry();
  current?: LoadedRuleset;
  /** The IP sets rules may test (compiled into the program with the rules that use them). */
  ipsets?: IpSets;

  /** `jit`: compile chain walks into WebAssembly (host/netfilter/jit/); false interprets every table. */
  constructor(private readonly core: CoreExports, private readonly mem: CoreMemory, private readonly devices: () => (string | undefined)[], private readonly hz: () => number, private readonly jit = true) {}

  /** Parses (text) or takes (model) a ruleset, compiles it and loads it (a resync: connections stay). */
  load(input: string | IptRuleset, file = "iptables-save.txt", indexMin?: number): LoadedRuleset {
    const t0 = performance.now();
    const rs = typeof input === "string" ? parseIptablesSave(input, file) : input;
    const t1 = performance.now();
    const compiled = compileRuleset(rs, {
      devices: this.devices(),
      hz: this.hz(),
      creditsPerJiffy: this.core.limit_credits_per_jiffy(),
      registry: this.registry,
      indexMin,
      ipsets: this.ipsets,
    });
    const t2 = performance.now();
    const ptr = this.core.alloc(compiled.blob.length);
    this.mem.refresh();
    this.mem.u8.set(compiled.blob, ptr);
    const r = this.core.nf_program_load(ptr, compiled.blob.length);
    this.core.free(ptr);
    if (r !== 0) throw new Error(`the core refused the compiled rule program (code ${r})`);
    const t3 = performance.now();
    const jit = this.installWalks(compiled);
    let rules = 0;
    for (const t of rs.tables) for (const c of t.chains) rules += c.rules.length;
    this.current = new LoadedRuleset(rs, compiled, {
      rules, chains: compiled.chains.length, indexedChains: compiled.indexedChains,
      parseMs: typeof input === "string" ? t1 - t0 : 0, compileMs: t2 - t1, loadMs: t3 - t2, jit,
    });
    return this.current;
  }

  /**
   * Compiles the loaded program's chain walks into a module on the core's
   * memory and installs them in the core's function table (reusing the
   * slots of the previous program's). Without WebAssembly compilation at
   * run time (a browser's main thread refuses to compile large modules
   * synchronously), the tables stay interpreted: the results are the same.
   */
  private installWalks(compiled: CompiledRuleset): RulesetLoadStats["jit"] {
    if (!this.jit) return { off: "turned off (jit: false)" };
    const t0 = performance.now();
    const core = this.core;
    const m = compileWalks(compiled.blob, { prog: core.nf_program_ptr(), counters: core.nf_counters_ptr(), state: core.nf_jit_state_ptr() },
      (i) => `${compiled.chains[i]?.table ?? "?"}/${compiled.chains[i]?.name ?? i}`);
    if (!m) return { off: "no table has rules the compiled walk takes" };
    let inst: WebAssembly.Instance;
    try {
      inst = new WebAssembly.Instance(new WebAssembly.Module(m.bytes as Uint8Array<ArrayBuffer>), {
        core: { memory: core.memory, nf_jit_match: core.nf_jit_match, nf_jit_addr_type: core.nf_jit_addr_type, nf_jit_target: core.nf_jit_target, nf_jit_trace: core.nf_jit_trace, nf_jit_walk_chain: core.nf_jit_walk_chain },
      });
    } catch (e) {
      // a browser's main thread refusing a synchronous compile (RangeError); anything else is our bug
      if (e instanceof RangeError) return { off: `not compiled here (${e.message})` };
      throw new Error(`compiled rule walks: the generated module was refused (${(e as Error).message})`);
    }
    const table = core.table;
    let slots = jitSlots.get(core);
    if (!slots) jitSlots.set(core, slots = []);
    while (slots.length < m.walks.length) slots.push(table.grow(1));
    const names: string[] = [];
    m.walks.forEach((w, i) => {
      const slot = slots[i]!;
      table.set(slot, inst.exports[w.export] as (p: number) => number);
      core.nf_jit_set(w.table, w.hook, slot, (w.needsCt ? 1 : 0) | (w.needsEntry ? 2 : 0));
      names.push(`${TABLE_NAMES[w.table]}/${HOOK_NAMES[w.hook]}`);
    });
    return { walks: names, chains: m.chains, entries: m.entries, ms: performance.now() - t0 };
  }

  unload(): void {
    this.core.nf_program_reset();
    this.current = undefined;
  }

  /** Counters of entry `id` since the ruleset was loaded. */
  counters(id: number): IptCounters {
    this.mem.refresh();
    const base = this.core.nf_counters_ptr() + id * 16;
    return { packets: this.mem.dv.getBigUint64(base, true), bytes: this.mem.dv.getBigUint64(base + 8, true) };
  }

  /** The loaded ruleset in `iptables-save -c` form with the emulated counters. */
  iptablesSave(): string {
    const rs = this.current;
    if (!rs) return "";
    const policyIds = new Map<string, number>();
    rs.compiled.entries.forEach((e, id) => { if (e.kind === "policy") policyIds.set(`${e.table}/${e.chain}`, id); });
    return printIptablesSave(
      rs.ruleset,
      (rule) => { const id = rs.idOf(rule); return id === undefined ? undefined : this.counters(id); },
      (table: IptTableName, chain: string) => { const id = policyIds.get(`${table}/${chain}`); return id === undefined ? undefined : this.counters(id); },
    );
  }
}

export { HOOK_NAMES };
