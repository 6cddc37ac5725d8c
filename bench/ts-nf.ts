/**
 * An idiomatic plain-TypeScript iptables evaluator, for the benchmarks and
 * as an independent cross-check of the WASM core's chain walk: it walks the
 * parsed ruleset (host/model/iptables.ts objects) rule by rule, exactly as
 * ipt_do_table does, with a jump stack, counters and the same match
 * semantics, and counts the rules it examines. No indexes, no precompiled
 * form: what a TypeScript developer would write first.
 *
 * It evaluates one table at one hook for a packet whose connection-tracking
 * view is given (a first packet is NEW); it does not do NAT or routing.
 */
import type { IptRuleset, IptRule, IptChain, IptMatch, IptTableName, IptCounters } from "../host/model/iptables.js";

export interface TsPacket {
  src: number;
  dst: number;
  proto: number;
  sport: number;
  dport: number;
  tcpFlags: number;
  icmpType: number;
  icmpCode: number;
  len: number;
  mark: number;
  inIface: string;
  outIface: string;
  /** XT_CONNTRACK_STATE bits of the packet (NEW = 8, ESTABLISHED = 2, ...); INVALID = 1. */
  ctstate: number;
  ctmark: number;
  /** RTN type of an address (local table view), for -m addrtype. */
  addrType: (addr: number) => number;
}

export interface TsVerdict { verdict: "ACCEPT" | "DROP" | "NAT" | "REJECT"; rule?: IptRule; traversed: number; matched: IptRule[] }

interface Frame { chain: IptChain; next: number }

export class TsNetfilter {
  private readonly chains = new Map<string, IptChain>();
  readonly counters = new Map<IptRule, IptCounters>();
  /** Draws for -m statistic --mode random: return a u32. */
  random: () => number;
  private readonly nth = new Map<IptMatch, number>();

  constructor(readonly ruleset: IptRuleset, random: () => number = () => (Math.random() * 2 ** 32) >>> 0) {
    this.random = random;
    for (const t of ruleset.tables) for (const c of t.chains) this.chains.set(`${t.name}/${c.name}`, c);
  }

  /** ipt_do_table for `table` at the built-in chain `hook`. */
  run(table: IptTableName, hook: string, p: TsPacket): TsVerdict {
    const start = this.chains.get(`${table}/${hook}`);
    if (!start) return { verdict: "ACCEPT", traversed: 0, matched: [] };
    const stack: Frame[] = [];
    let chain = start;
    let i = 0;
    let traversed = 0;
    const matched: IptRule[] = [];
    for (;;) {
      if (i >= chain.rules.length) {
        // end of chain: a built-in chain's policy, or an implicit RETURN
        if (chain.builtin) return { verdict: chain.policy === "DROP" ? "DROP" : "ACCEPT", traversed, matched };
        const f = stack.pop();
        if (!f) { chain = start; i = start.rules.length; continue; }
        chain = f.chain;
        i = f.next;
        continue;
      }
      const r = chain.rules[i]!;
      traversed++;
      if (!this.ruleMatches(r, p)) { i++; continue; }
      const c = this.counters.get(r);
      if (c) { c.packets++; c.bytes += BigInt(p.len); } else this.counters.set(r, { packets: 1n, bytes: BigInt(p.len) });
      matched.push(r);
      const t = r.target;
      switch (t.kind) {
        case "ACCEPT": return { verdict: "ACCEPT", rule: r, traversed, matched };
        case "DROP": return { verdict: "DROP", rule: r, traversed, matched };
        case "REJECT": return { verdict: "REJECT", rule: r, traversed, matched };
        case "DNAT": case "SNAT": case "MASQUERADE": case "REDIRECT":
          return { verdict: "NAT", rule: r, traversed, matched };
        case "RETURN": {
          const f = stack.pop();
          if (!f) { chain = start; i = start.rules.length; continue; }
          chain = f.chain;
          i = f.next;
          continue;
        }
        case "jump": case "goto": {
          const next = this.chains.get(`${table}/${t.chain}`);
          if (!next) throw new Error(`no chain ${t.chain}`);
          if (t.kind === "jump") stack.push({ chain, next: i + 1 });
          chain = next;
          i = 0;
          continue;
        }
        case "MARK": p.mark = ((p.mark & ~t.mask) ^ t.value) >>> 0; i++; continue;
        case "CONNMARK":
          if (t.op === "set") p.ctmark = ((p.ctmark & ~t.mask) ^ t.value) >>> 0;
          else if (t.op === "save") p.ctmark = ((p.ctmark & ~t.ctmask) ^ (p.mark & t.nfmask)) >>> 0;
          else p.mark = ((p.mark & ~t.nfmask) ^ (p.ctmark & t.ctmask)) >>> 0;
          i++;
          continue;
        default: i++; continue; // LOG, NFLOG, TRACE, NOTRACK, none: continue
      }
    }
  }

  private ruleMatches(r: IptRule, p: TsPacket): boolean {
    if (r.src && (this.masked(p.src, r.src.plen) === this.masked(r.src.addr, r.src.plen)) === r.src.inv) return false;
    if (r.dst && (this.masked(p.dst, r.dst.plen) === this.masked(r.dst.addr, r.dst.plen)) === r.dst.inv) return false;
    if (r.inIface && this.iface(r.inIface.name, r.inIface.wildcard, p.inIface) === r.inIface.inv) return false;
    if (r.outIface && this.iface(r.outIface.name, r.outIface.wildcard, p.outIface) === r.outIface.inv) return false;
    if (r.proto && r.proto.num !== 0 && (p.proto === r.proto.num) === r.proto.inv) return false;
    if (r.fragment && !r.fragment.inv) return false;
    for (const m of r.matches) if (!this.match(m, p)) return false;
    return true;
  }

  private masked(a: number, plen: number): number {
    return plen === 0 ? 0 : (a & (0xffffffff << (32 - plen))) >>> 0;
  }

  private iface(name: string, wildcard: boolean, dev: string): boolean {
    return wildcard ? dev.startsWith(name) : dev === name;
  }

  private match(m: IptMatch, p: TsPacket): boolean {
    const inRange = (v: number, r: { lo: number; hi: number; inv: boolean }) => (v >= r.lo && v <= r.hi) !== r.inv;
    switch (m.kind) {
      case "comment": return true;
      case "tcp": case "udp":
        if (p.proto !== (m.kind === "tcp" ? 6 : 17)) return false;
        if (m.sport && !inRange(p.sport, m.sport)) return false;
        if (m.dport && !inRange(p.dport, m.dport)) return false;
        if (m.kind === "tcp" && m.flags && ((p.tcpFlags & m.flags.mask) === m.flags.cmp) === m.flags.inv) return false;
        return true;
      case "icmp":
        if (p.proto !== 1) return false;
        return (m.type === 255 || (p.icmpType === m.type && p.icmpCode >= m.codeMin && p.icmpCode <= m.codeMax)) !== m.inv;
      case "multiport": {
        let hit = false;
        for (const [lo, hi] of m.ports) {
          if ((m.mode !== "dst" && p.sport >= lo && p.sport <= hi) || (m.mode !== "src" && p.dport >= lo && p.dport <= hi)) { hit = true; break; }
        }
        return hit !== m.inv;
      }
      case "addrtype":
        if (m.srcType && (((m.srcType.mask >> p.addrType(p.src)) & 1) === 1) === m.srcType.inv) return false;
        if (m.dstType && (((m.dstType.mask >> p.addrType(p.dst)) & 1) === 1) === m.dstType.inv) return false;
        return true;
      case "mark": return ((p.mark & m.mask) === (m.value & m.mask)) !== m.inv;
      case "connmark": return ((p.ctmark & m.mask) === (m.value & m.mask)) !== m.inv;
      case "state": return ((p.ctstate & m.mask) !== 0) !== m.inv;
      case "conntrack":
        if (m.ctstate && ((p.ctstate & m.ctstate.mask) !== 0) === m.ctstate.inv) return false;
        return true;
      case "statistic":
        if (m.mode === "random") return ((this.random() & 0x7fffffff) < m.probability) !== m.inv;
        {
          const c = this.nth.get(m) ?? m.every - m.packet;
          const n = c === m.every ? 0 : c + 1;
          this.nth.set(m, n);
          return (n === 0) !== m.inv;
        }
      case "length": return (p.len >= m.range.lo && p.len <= m.range.hi) !== m.range.inv;
      default: return true; // recent, limit, nfacct, owner: not on the measured path
    }
  }
}
