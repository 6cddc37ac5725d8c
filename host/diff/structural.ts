/**
 * The structural difference between two nodes: what `ip link`, `ip addr`,
 * `ip rule`, `ip route show table all`, `sysctl` and `iptables-save` say,
 * compared section by section in a stable order. Volatile parts are left
 * out: interface indexes, address lifetimes and rule counters (they change
 * on a healthy node from one minute to the next).
 */
import type { IfAddr, Link, NodeSnapshot, Route } from "../model/node.js";
import type { IptChain, IptRuleset } from "../model/iptables.js";
import { formatIPv4 } from "../util/ipv4.js";
import { diffLines, hunks, type Edit } from "./sequence.js";

/** One compared section (e.g. "ip route table main", "iptables -t nat AWS-SNAT-CHAIN-0") with its changed lines. */
export interface StructSection {
  section: string;
  /** Hunks of the edit script: changed lines with a little kept context. */
  hunks: Edit[][];
}

/** What the structural diff compares, per node. */
export interface StructInput { snapshot: NodeSnapshot; ruleset?: IptRuleset }

const SCOPE_NAMES: Record<number, string> = { 0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere" };
const TABLE_NAMES: Record<number, string> = { 253: "default", 254: "main", 255: "local" };
const IPT_TABLE_ORDER = ["raw", "mangle", "nat", "filter"];

/** A link as compared: everything `ip -o link` says but the ifindex (renumbering is not a change of behaviour). */
export function linkText(l: Link): string {
  const parts = [`${l.name}: <${l.flags.join(",")}> mtu ${l.mtu}`];
  if (l.master) parts.push(`master ${l.master}`);
  parts.push(`state ${l.state}`);
  if (l.group) parts.push(`group ${l.group}`);
  parts.push(`link/${l.linkType}${l.mac ? " " + l.mac : ""}`);
  return parts.join(" ");
}

/** An address as compared: `ip -o addr` without the index and the lifetimes. */
export function addrText(a: IfAddr): string {
  let s = `${a.dev} inet ${formatIPv4(a.local)}`;
  s += a.peer ? ` peer ${formatIPv4(a.peer)}/${a.plen}` : `/${a.plen}`;
  if (a.broadcast) s += ` brd ${formatIPv4(a.broadcast)}`;
  s += ` scope ${SCOPE_NAMES[a.scope] ?? a.scope}`;
  if (a.secondary) s += " secondary";
  if (a.noprefixroute) s += " noprefixroute";
  if (a.label !== a.dev) s += ` label ${a.label}`;
  return s;
}

/** A table id as `ip route` names it. */
export function tableName(id: number): string {
  return TABLE_NAMES[id] ?? String(id);
}

/** The keyed comparison of two sets of lines: removed and added, sorted. */
function setDiff(a: string[], b: string[]): Edit[][] {
  const inA = new Set(a);
  const inB = new Set(b);
  const edits: Edit[] = [];
  for (const t of [...new Set([...a, ...b])].sort()) {
    if (!inB.has(t)) edits.push({ op: "-", text: t });
    else if (!inA.has(t)) edits.push({ op: "+", text: t });
  }
  return edits.length ? [edits] : [];
}

function orderedDiff(a: string[], b: string[], context = 1): Edit[][] {
  return hunks(diffLines(a, b), context);
}

function routesByTable(routes: Route[]): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const r of routes) {
    let l = m.get(r.table);
    if (!l) m.set(r.table, (l = []));
    l.push(r.src.text.trim());
  }
  return m;
}

function chainHeader(c: IptChain): string {
  return `:${c.name} ${c.builtin ? c.policy ?? "ACCEPT" : "-"}`;
}

/** The iptables ruleset, table by table and chain by chain (rule order matters, counters do not). */
function iptablesSections(a: IptRuleset | undefined, b: IptRuleset | undefined, out: StructSection[]): void {
  if (!a && !b) return;
  if (!a || !b) {
    out.push({ section: "iptables-save", hunks: [[{ op: a ? "-" : "+", text: "(a ruleset: the other node has no iptables-save.txt)" }]] });
  }
  const tables = (r: IptRuleset | undefined) => new Map((r?.tables ?? []).map((t) => [t.name as string, t]));
  const ta = tables(a);
  const tb = tables(b);
  for (const name of IPT_TABLE_ORDER) {
    const x = ta.get(name);
    const y = tb.get(name);
    if (!x && !y) continue;
    const ca = new Map((x?.chains ?? []).map((c) => [c.name, c]));
    const cb = new Map((y?.chains ?? []).map((c) => [c.name, c]));
    // chain order: as the first side declares them, then the other side's new ones
    const names = [...ca.keys(), ...[...cb.keys()].filter((n) => !ca.has(n))];
    const gone: Edit[] = [];
    for (const n of names) {
      const c1 = ca.get(n);
      const c2 = cb.get(n);
      if (!c1 || !c2) gone.push({ op: c1 ? "-" : "+", text: chainHeader((c1 ?? c2)!) });
    }
    if (gone.length) out.push({ section: `iptables -t ${name}: chains`, hunks: [gone] });
    for (const n of names) {
      const c1 = ca.get(n);
      const c2 = cb.get(n);
      const lines = (c?: IptChain) => (c ? [chainHeader(c), ...c.rules.map((r) => `-A ${n} ${r.text}`)] : []);
      const h = orderedDiff(lines(c1), lines(c2));
      if (h.length) out.push({ section: `iptables -t ${name} ${n}`, hunks: h });
    }
  }
}

/** Compares two nodes' configuration; an empty list means no structural difference. */
export function structuralDiff(a: StructInput, b: StructInput): StructSection[] {
  const out: StructSection[] = [];
  const push = (section: string, h: Edit[][]) => { if (h.length) out.push({ section, hunks: h }); };
  const sa = a.snapshot;
  const sb = b.snapshot;
  push("ip link", setDiff(sa.links.map(linkText), sb.links.map(linkText)));
  push("ip addr", setDiff(sa.addrs.map(addrText), sb.addrs.map(addrText)));
  push("ip rule", orderedDiff(sa.rules.map((r) => r.src.text.trim()), sb.rules.map((r) => r.src.text.trim())));
  const ra = routesByTable(sa.routes);
  const rb = routesByTable(sb.routes);
  const ids = [...new Set([...ra.keys(), ...rb.keys()])].sort((x, y) => x - y);
  for (const id of ids) push(`ip route table ${tableName(id)}`, orderedDiff(ra.get(id) ?? [], rb.get(id) ?? []));
  push("sysctl", sysctlDiff(sa.sysctl, sb.sysctl));
  iptablesSections(a.ruleset, b.ruleset, out);
  return out;
}

/** sysctl keys compared by value, sorted by key; a changed key shows its old and new line together. */
function sysctlDiff(a: Map<string, string>, b: Map<string, string>): Edit[][] {
  const edits: Edit[] = [];
  for (const k of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(k);
    const y = b.get(k);
    if (x === y) continue;
    if (x !== undefined) edits.push({ op: "-", text: `${k} = ${x}` });
    if (y !== undefined) edits.push({ op: "+", text: `${k} = ${y}` });
  }
  return edits.length ? [edits] : [];
}
