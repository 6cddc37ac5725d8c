/**
 * Reading the kernel's and the emulator's netfilter state in one comparable
 * form: per-rule counters (iptables-save -c, by table/chain/position, plus
 * built-in chain policies) and connection tables (conntrack -L lines without
 * timeouts).
 */
import type { Engine } from "../../../host/engine.js";

/** "table/chain/N" (rule N, 1-based) or "table/chain/P" (policy) -> [packets, bytes]. */
export type Counters = Map<string, [bigint, bigint]>;

/** Counters of `iptables-save -c` text. */
export function parseSaveCounters(text: string): Counters {
  const out: Counters = new Map();
  let table = "";
  const pos = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) {
      table = line.slice(1).trim();
      pos.clear();
      continue;
    }
    let m = /^:(\S+) (\S+) \[(\d+):(\d+)\]/.exec(line);
    if (m) {
      if (m[2] !== "-") out.set(`${table}/${m[1]}/P`, [BigInt(m[3]), BigInt(m[4])]);
      continue;
    }
    m = /^\[(\d+):(\d+)\] -A (\S+)/.exec(line);
    if (m) {
      const n = (pos.get(m[3]) ?? 0) + 1;
      pos.set(m[3], n);
      out.set(`${table}/${m[3]}/${n}`, [BigInt(m[1]), BigInt(m[2])]);
    }
  }
  return out;
}

/** The engine's counters in the same form (implicit RETURN entries have no iptables-save counters). */
export function engineCounters(e: Engine): Counters {
  const out: Counters = new Map();
  const rs = e.ruleset;
  if (!rs) return out;
  const c = e.ruleCounters();
  rs.compiled.entries.forEach((en, id) => {
    if (en.kind === "rule") out.set(`${en.table}/${en.chain}/${en.pos}`, [c[id].packets, c[id].bytes]);
    else if (en.kind === "policy") out.set(`${en.table}/${en.chain}/P`, [c[id].packets, c[id].bytes]);
  });
  return out;
}

/** Entry id -> counter key, for the statistic oracle. */
export function entryKey(e: Engine, id: number): string | undefined {
  const en = e.ruleset?.compiled.entries[id];
  if (!en) return undefined;
  if (en.kind === "rule") return `${en.table}/${en.chain}/${en.pos}`;
  if (en.kind === "policy") return `${en.table}/${en.chain}/P`;
  return undefined;
}

/** Ids of the rules with a `-m statistic --mode random` match, with their counter keys. */
export function statisticRandomRules(e: Engine): Map<number, string> {
  const out = new Map<number, string>();
  e.ruleset?.compiled.entries.forEach((en, id) => {
    if (en.kind === "rule" && en.rule?.matches.some((m) => m.kind === "statistic" && m.mode === "random")) {
      out.set(id, `${en.table}/${en.chain}/${en.pos}`);
    }
  });
  return out;
}

export function delta(after: Counters, before: Counters): Counters {
  const out: Counters = new Map();
  for (const [k, [p, b]] of after) {
    const [p0, b0] = before.get(k) ?? [0n, 0n];
    out.set(k, [p - p0, b - b0]);
  }
  return out;
}

/** Keys whose deltas differ: "key kernel p/b emulator p/b". Keys only one side has are reported too. */
export function diffCounters(k: Counters, e: Counters): string[] {
  const out: string[] = [];
  const keys = new Set([...k.keys(), ...e.keys()]);
  for (const key of keys) {
    const a = k.get(key);
    const b = e.get(key);
    if (!a || !b) {
      // a table the kernel has but the ruleset text does not (or the reverse): only a difference if it counted
      const x = a ?? b!;
      if (x[0] !== 0n || x[1] !== 0n) out.push(`${key} kernel ${a ? `${a[0]}/${a[1]}` : "(absent)"} emulator ${b ? `${b[0]}/${b[1]}` : "(absent)"}`);
      continue;
    }
    if (a[0] !== b[0] || a[1] !== b[1]) out.push(`${key} kernel ${a[0]}/${a[1]} emulator ${b[0]}/${b[1]}`);
  }
  return out.sort();
}

// ---------------------------------------------------------------------------
// conntrack -L

export interface CtLine {
  /** Everything but the timeout and use=, normalised. */
  key: string;
  timeout: number;
  /** orig tuple text, to recognise flows. */
  orig: string;
}

/** Lines of `conntrack -L` (kernel or emulator), timeouts split off. */
export function parseConntrack(text: string): CtLine[] {
  const out: CtLine[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("conntrack v")) continue;
    const f = line.split(/\s+/);
    const proto = f[0];
    const timeout = Number(f[2]);
    let i = 3;
    let state = "";
    if (!f[i].includes("=") && !f[i].startsWith("[")) state = f[i++];
    const rest = f.slice(i).filter((x) => !x.startsWith("use=") && !x.startsWith("zone="));
    // the first tuple ends where src= appears the second time
    const tuples: string[][] = [[], []];
    const flags: string[] = [];
    let other: string[] = [];
    let t = -1;
    for (const x of rest) {
      if (x.startsWith("src=")) t++;
      if (x.startsWith("[")) { flags.push(x); continue; }
      if (x.startsWith("mark=")) { other.push(x); continue; }
      if (t >= 0 && t < 2) tuples[t].push(x);
      else other.push(x);
    }
    other = other.sort();
    const orig = `${proto} ${tuples[0].join(" ")}`;
    out.push({ key: `${proto} ${state} ${tuples[0].join(" ")} | ${tuples[1].join(" ")} ${flags.sort().join(" ")} ${other.join(" ")}`.replace(/\s+/g, " ").trim(), timeout, orig });
  }
  return out;
}

/** Differences between two conntrack tables: entries only one side has, and timeouts further apart than `tol` seconds. */
export function diffConntrack(k: CtLine[], e: CtLine[], tol: number, mask?: (l: CtLine) => string): string[] {
  const keyOf = mask ?? ((l: CtLine) => l.key);
  const km = new Map<string, CtLine[]>();
  for (const l of k) km.set(keyOf(l), [...(km.get(keyOf(l)) ?? []), l]);
  const out: string[] = [];
  const em = new Map<string, CtLine[]>();
  for (const l of e) em.set(keyOf(l), [...(em.get(keyOf(l)) ?? []), l]);
  for (const [key, ks] of km) {
    const es = em.get(key) ?? [];
    if (ks.length !== es.length) {
      out.push(`conntrack entry ${key}: kernel ${ks.length} emulator ${es.length}`);
      continue;
    }
    ks.forEach((kl, i) => {
      if (Math.abs(kl.timeout - es[i].timeout) > tol) out.push(`conntrack timeout of ${key}: kernel ${kl.timeout} emulator ${es[i].timeout}`);
    });
  }
  for (const [key, es] of em) if (!km.has(key)) out.push(`conntrack entry ${key}: kernel 0 emulator ${es.length}`);
  return out;
}
