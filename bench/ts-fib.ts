/**
 * Policy routing lookups (fib_rules_lookup + fib_table_lookup) written as
 * idiomatic TypeScript: rule and route objects, a Map of tables, arrays of
 * aliases per prefix, over the same trie structure as the core (TsLpm). It
 * follows the same semantics as assembly/fib (rule selectors, goto, nop,
 * suppress_prefixlength, TOS and scope checks, backtracking) so that the two
 * can be compared on equal work. Benchmarks only; not used by the engine.
 */
import type { NodeSnapshot, Rule } from "../host/model/node.js";
import { maskOf } from "../host/util/ipv4.js";
import { TsLpm } from "./ts-lpm.js";

const ERR: Record<string, number> = { blackhole: -22, unreachable: -113, prohibit: -13, throw: -11 };

interface TsRoute { type: string; tos: number; scope: number; metric: number; dev: string | undefined; index: number }
interface TsNode { prefix: number; plen: number; parent: number; routes: TsRoute[] }
interface TsTable { lpm: TsLpm; nodes: TsNode[] }
export interface TsFlow { iif: string; oif?: string; mark: number; saddr: number; daddr: number; tos: number; proto: number; sport: number; dport: number; uid: number }
export interface TsResult { err: number; route?: TsRoute; plen: number; rule: number }

export class TsFib {
  private tables = new Map<number, TsTable>();
  private rules: (Rule & { target: number })[];

  constructor(snap: NodeSnapshot) {
    const byTable = new Map<number, NodeSnapshot["routes"]>();
    for (const r of snap.routes) {
      let l = byTable.get(r.table);
      if (!l) byTable.set(r.table, (l = []));
      l.push(r);
    }
    for (const [id, list] of byTable) {
      const groups = new Map<string, TsNode>();
      for (const r of list) {
        const key = `${r.prefix}/${r.plen}`;
        let n = groups.get(key);
        if (!n) groups.set(key, (n = { prefix: r.prefix, plen: r.plen, parent: 0, routes: [] }));
        n.routes.push({ type: r.type, tos: r.tos, scope: r.scope, metric: r.metric, dev: r.dev, index: r.index });
      }
      const nodes = [...groups.values()].sort((a, b) => a.plen - b.plen || a.prefix - b.prefix);
      for (const n of nodes) n.routes.sort((a, b) => b.tos - a.tos || a.metric - b.metric || a.index - b.index);
      const lpm = new TsLpm();
      nodes.forEach((n, i) => {
        n.parent = lpm.lookup(n.prefix);
        lpm.insert(n.prefix, n.plen, i);
      });
      this.tables.set(id, { lpm, nodes });
    }
    this.rules = snap.rules.map((r, i) => ({ ...r, target: r.action === "goto" ? snap.rules.findIndex((x, j) => j > i && x.pref === r.gotoPref) : -1 }));
  }

  private tableLookup(id: number, f: TsFlow): TsResult | undefined {
    const t = this.tables.get(id);
    if (!t) return undefined;
    let leaf = t.lpm.lookup(f.daddr);
    while (leaf !== 0) {
      const n = t.nodes[leaf - 1];
      for (const r of n.routes) {
        if (r.tos !== 0 && r.tos !== (f.tos & 0x1c)) continue;
        const e = ERR[r.type];
        if (e !== undefined) return e === -11 ? undefined : { err: e, route: r, plen: n.plen, rule: -1 };
        if (f.oif !== undefined && f.oif !== r.dev) continue;
        return { err: 0, route: r, plen: n.plen, rule: -1 };
      }
      leaf = n.parent;
    }
    return undefined;
  }

  private matches(r: Rule, f: TsFlow): boolean {
    let ok = true;
    if (r.iif !== undefined && r.iif !== f.iif) ok = false;
    else if (r.oif !== undefined && r.oif !== f.oif) ok = false;
    else if (((r.fwmark ^ f.mark) & r.fwmask) !== 0) ok = false;
    else if (r.from && ((f.saddr ^ r.from.addr) & maskOf(r.from.plen)) !== 0) ok = false;
    else if (r.to && ((f.daddr ^ r.to.addr) & maskOf(r.to.plen)) !== 0) ok = false;
    else if (r.tos !== 0 && r.tos !== (f.tos & 0x1c)) ok = false;
    else if (r.ipproto !== 0 && r.ipproto !== f.proto) ok = false;
    else if (r.sport && (f.sport < r.sport[0] || f.sport > r.sport[1])) ok = false;
    else if (r.dport && (f.dport < r.dport[0] || f.dport > r.dport[1])) ok = false;
    else if (r.uidrange && (f.uid < r.uidrange[0] || f.uid > r.uidrange[1])) ok = false;
    return r.invert ? !ok : ok;
  }

  lookup(f: TsFlow): TsResult {
    let i = 0;
    while (i < this.rules.length) {
      const r = this.rules[i];
      if (!this.matches(r, f)) { i++; continue; }
      if (r.action === "goto") { if (r.target < 0) { i++; continue; } i = r.target; continue; }
      if (r.action === "nop") { i++; continue; }
      if (r.action === "lookup") {
        const res = this.tableLookup(r.table!, f);
        if (!res || (res.err === 0 && res.plen <= r.suppressPrefixlen)) { i++; continue; }
        res.rule = i;
        return res;
      }
      return { err: r.action === "unreachable" ? -101 : r.action === "prohibit" ? -13 : -22, plen: 0, rule: i };
    }
    return { err: -101, plen: 0, rule: -1 };
  }
}
