/**
 * Compiles an iptables ruleset (host/model/iptables.ts) into the WASM core's
 * rule program (assembly/abi.ts section 6).
 *
 * Layout follows the kernel's table blob: per table, its chains in
 * declaration order, each chain's rules followed by its terminal entry (the
 * built-in chain's policy, or a user chain's implicit RETURN). Every entry
 * has an id that indexes its counters and `CompiledRuleset.entries` (which
 * the host uses to print rules, traces and `iptables-save -c`).
 *
 * Chain indexes: a long chain whose rules are mostly keyed by a /32
 * destination (KUBE-SERVICES) or by protocol and destination port
 * (KUBE-NODEPORTS) gets a hash map from key to the first rule with that key,
 * and each entry links to the next rule with the same key and to the next
 * rule without one ("generic"). A rule is keyed only when the key is checked
 * before any match with a side effect (statistic, recent, limit, nfacct), so
 * skipping it is exactly the kernel's failed examination.
 */
import * as abi from "../core/abi.js";
import type {
  IptRuleset, IptChain, IptRule, IptMatch, IptTarget, IptTableName, IptIface, IptRange,
} from "../model/iptables.js";
import { InputError } from "../snapshot/errors.js";
import type { IpSets } from "../ipset/parse.js";
import { ipsetImages } from "../ipset/image.js";

const TABLE_NUM: Record<IptTableName, number> = { raw: abi.NFT_RAW, mangle: abi.NFT_MANGLE, nat: abi.NFT_NAT, filter: abi.NFT_FILTER };
const HOOK_OF: Record<string, number> = {
  PREROUTING: abi.NF_INET_PRE_ROUTING, INPUT: abi.NF_INET_LOCAL_IN, FORWARD: abi.NF_INET_FORWARD,
  OUTPUT: abi.NF_INET_LOCAL_OUT, POSTROUTING: abi.NF_INET_POST_ROUTING,
};
export const HOOK_NAMES = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];
export const TABLE_NAMES: IptTableName[] = ["raw", "mangle", "nat", "filter"];

/** What an entry id stands for. */
export interface EntryInfo {
  kind: "rule" | "policy" | "return";
  table: IptTableName;
  chain: string;
  /** 1-based position in the chain (the terminal entry is rules + 1). */
  pos: number;
  rule?: IptRule;
  /** For policies: the chain. */
  chainRef?: IptChain;
}

/** Registries that must keep their numbering across ruleset replacements (kernel objects by name). */
export interface NameRegistry {
  recent: Map<string, number>;
  nfacct: Map<string, number>;
}
export function newRegistry(): NameRegistry {
  return { recent: new Map(), nfacct: new Map() };
}

export interface CompileOptions {
  /** Device names by slot (index 0 unused): the interface match table's columns. */
  devices: (string | undefined)[];
  /** CONFIG_HZ and xt_limit's CREDITS_PER_JIFFY for it (the core reports it). */
  hz: number;
  creditsPerJiffy: number;
  registry: NameRegistry;
  /** Chains with at least this many rules get an index (default 8); 0 disables indexes. */
  indexMin?: number;
  /** The node's IP sets (`ipset save`), for -m set. */
  ipsets?: IpSets;
}

export interface CompiledRuleset {
  blob: Uint8Array;
  entries: EntryInfo[];
  /** Chain index -> (table, name). */
  chains: { table: IptTableName; name: string; builtin: boolean; index: number }[];
  conntrack: boolean;
  /** Number of indexed chains (for reports). */
  indexedChains: number;
}

/** Growable little-endian byte buffer. */
class Buf {
  u8 = new Uint8Array(1 << 16);
  dv = new DataView(this.u8.buffer);
  len = 0;
  ensure(n: number): void {
    if (this.len + n <= this.u8.length) return;
    let cap = this.u8.length;
    while (cap < this.len + n) cap *= 2;
    const u = new Uint8Array(cap);
    u.set(this.u8.subarray(0, this.len));
    this.u8 = u;
    this.dv = new DataView(u.buffer);
  }
  alloc(n: number): number {
    this.ensure(n);
    const at = this.len;
    this.len += n;
    return at;
  }
  u8At(o: number, v: number): void { this.dv.setUint8(o, v); }
  u16(o: number, v: number): void { this.dv.setUint16(o, v, true); }
  u32(o: number, v: number): void { this.dv.setUint32(o, v >>> 0, true); }
}

const SIDE_EFFECT = new Set(["statistic", "recent", "limit", "nfacct"]);

/** xt_limit user2credits, in u32 arithmetic as the kernel does it. */
function user2credits(user: number, hz: number, cpj: number): number {
  const u = BigInt(user >>> 0);
  const m = BigInt(hz) * BigInt(cpj);
  if (u > 0xffffffffn / m) return Number(((u / 10000n) * m) & 0xffffffffn);
  return Number(((u * m) & 0xffffffffn) / 10000n);
}

function ruleErr(r: IptRule, token: string, problem: string): InputError {
  return new InputError(r.srcRef.file, r.srcRef.line, token, problem, r.srcRef.text);
}

/** The index key of a rule, if it has one of the given kind. */
function dstKey(r: IptRule): number | undefined {
  if (r.dst && r.dst.plen === 32 && !r.dst.inv) return r.dst.addr >>> 0;
  return undefined;
}
function portKey(r: IptRule): number | undefined {
  if (!r.proto || r.proto.inv || (r.proto.num !== 6 && r.proto.num !== 17)) return undefined;
  for (const m of r.matches) {
    if (SIDE_EFFECT.has(m.kind)) return undefined;
    if ((m.kind === "tcp" || m.kind === "udp") && (m.kind === "tcp" ? 6 : 17) === r.proto.num) {
      const d = m.dport;
      if (d && !d.inv && d.lo === d.hi) return ((r.proto.num << 16) | d.lo) >>> 0;
    }
  }
  return undefined;
}

function mix(key: number, mask: number): number {
  return (Math.imul(key, 0x9e3779b1) >>> 8) & mask;
}

/** Interface patterns: rows of the match table. */
class IfacePatterns {
  rows: IptIface[] = [];
  private ids = new Map<string, number>();
  id(i: IptIface): number {
    const k = (i.wildcard ? "+" : "=") + i.name;
    let n = this.ids.get(k);
    if (n === undefined) {
      this.rows.push(i);
      n = this.rows.length;
      this.ids.set(k, n);
    }
    return n;
  }
  /** ifname_compare_aligned: exact name (with its NUL), or a prefix for "name+". */
  static matches(pat: IptIface, dev: string): boolean {
    return pat.wildcard ? dev.startsWith(pat.name) : dev === pat.name;
  }
}

const STATE_BITS: Record<string, number> = {};

export function compileRuleset(rs: IptRuleset, opts: CompileOptions): CompiledRuleset {
  const indexMin = opts.indexMin ?? 8;
  const b = new Buf();
  b.alloc(abi.NFP_HEADER);
  const entries: EntryInfo[] = [];
  const chains: CompiledRuleset["chains"] = [];
  const chainIdx = new Map<string, number>(); // "table/name" -> index
  const chainObj: IptChain[] = [];
  const ifaces = new IfacePatterns();
  let conntrack = false;
  let indexedChains = 0;
  const hooks = new Array<number>(abi.NFT_COUNT * abi.NF_INET_NUMHOOKS).fill(0xffffffff);
  const recentParams = new Map<number, { mask: number; nstamps: number }>();
  /** -m set records to patch with their set's image offset. */
  const setRefs: { at: number; name: string }[] = [];
  /** Random statistic records to patch with their chain's endpoint list (seenEndpoints). */
  const endpointRefs: { at: number; chain: string }[] = [];
  const endpoints = seenEndpoints(rs);

  // chain numbering first (jumps may go forward)
  // conntrack runs only while a rule needs it: the checkentry of conntrack,
  // state and connmark matches and of CONNMARK and the NAT targets takes
  // nf_ct_netns_get; a (possibly empty) nat table alone does not
  for (const t of rs.tables) {
    for (const c of t.chains) {
      chainIdx.set(`${t.name}/${c.name}`, chains.length);
      chainObj.push(c);
      chains.push({ table: t.name, name: c.name, builtin: c.builtin, index: chains.length });
      if (c.builtin) {
        const h = HOOK_OF[c.name];
        if (h !== undefined) hooks[TABLE_NUM[t.name] * abi.NF_INET_NUMHOOKS + h] = chains.length - 1;
      }
    }
  }
  const chainOff = b.alloc(chains.length * abi.NFC_SIZE);

  // entries
  let depth = 0;
  const entriesStart = b.len;
  const chainFirst: number[] = new Array(chains.length);
  const chainEntryOffs: number[][] = new Array(chains.length);
  const chainEntryKeys: (number | undefined)[][] = new Array(chains.length);
  for (const t of rs.tables) {
    for (const c of t.chains) {
      const ci = chainIdx.get(`${t.name}/${c.name}`)!;
      chainFirst[ci] = b.len;
      const offs: number[] = [];
      c.rules.forEach((r, k) => {
        offs.push(b.len);
        emitRule(r, t.name, k + 1, ci);
      });
      // terminal entry
      offs.push(b.len);
      const e = b.alloc(abi.E_MATCHES);
      b.u16(e + abi.E_SIZE, abi.E_MATCHES);
      b.u32(e + abi.E_SMSK, 0);
      b.u32(e + abi.E_DMSK, 0);
      b.u32(e + abi.E_ID, entries.length);
      b.u16(e + abi.E_POS, c.rules.length + 1);
      b.u16(e + abi.E_CHAIN, ci);
      if (c.builtin) {
        b.u8At(e + abi.E_TARGET, abi.T_POLICY);
        b.u32(e + abi.E_T0, c.policy === "DROP" ? abi.T_DROP : abi.T_ACCEPT);
        entries.push({ kind: "policy", table: t.name, chain: c.name, pos: c.rules.length + 1, chainRef: c });
      } else {
        b.u8At(e + abi.E_TARGET, abi.T_IMPLICIT_RETURN);
        entries.push({ kind: "return", table: t.name, chain: c.name, pos: c.rules.length + 1, chainRef: c });
      }
      chainEntryOffs[ci] = offs;
    }
  }
  const entriesEnd = b.len;
  b.alloc(4); // zero terminator

  function emitRule(r: IptRule, table: IptTableName, pos: number, ci: number): void {
    const e = b.alloc(abi.E_MATCHES);
    let inv = 0;
    if (r.src) {
      const mask = r.src.plen === 0 ? 0 : (0xffffffff << (32 - r.src.plen)) >>> 0;
      b.u32(e + abi.E_SRC, (r.src.addr & mask) >>> 0);
      b.u32(e + abi.E_SMSK, mask);
      if (r.src.inv) inv |= abi.EI_SRC;
    }
    if (r.dst) {
      const mask = r.dst.plen === 0 ? 0 : (0xffffffff << (32 - r.dst.plen)) >>> 0;
      b.u32(e + abi.E_DST, (r.dst.addr & mask) >>> 0);
      b.u32(e + abi.E_DMSK, mask);
      if (r.dst.inv) inv |= abi.EI_DST;
    }
    if (r.inIface) {
      b.u16(e + abi.E_IN, ifaces.id(r.inIface));
      if (r.inIface.inv) inv |= abi.EI_IN;
    }
    if (r.outIface) {
      b.u16(e + abi.E_OUT, ifaces.id(r.outIface));
      if (r.outIface.inv) inv |= abi.EI_OUT;
    }
    if (r.proto && r.proto.num !== 0) {
      b.u8At(e + abi.E_PROTO, r.proto.num);
      if (r.proto.inv) inv |= abi.EI_PROTO;
    }
    let flags = abi.EF_RULE;
    if (r.fragment) {
      flags |= abi.EF_FRAG;
      if (r.fragment.inv) inv |= abi.EI_FRAG;
    }
    b.u8At(e + abi.E_INV, inv);
    b.u8At(e + abi.E_FLAGS, flags);
    b.u32(e + abi.E_ID, entries.length);
    b.u16(e + abi.E_POS, pos);
    b.u16(e + abi.E_CHAIN, ci);
    entries.push({ kind: "rule", table, chain: r.chain, pos, rule: r });
    // matches
    const mStart = b.len;
    for (const m of r.matches) emitMatch(m, r, table);
    b.u16(e + abi.E_MATCH_BYTES, b.len - mStart);
    // target
    emitTarget(e, r, table);
    b.u16(e + abi.E_SIZE, b.len - e);
    if (b.len - e > 0xffff) throw ruleErr(r, r.chain, "rule too large to compile");
  }

  function emitMatch(m: IptMatch, r: IptRule, table: IptTableName): void {
    const start = b.len;
    const hdr = (kind: number, len: number, inv: number): number => {
      const at = b.alloc(len);
      b.u8At(at + abi.M_KIND, kind);
      b.u8At(at + abi.M_INV, inv);
      b.u16(at + abi.M_LEN, len);
      return at;
    };
    void start;
    /** The sport (@4, @6) and dport (@8, @10) ranges of tcp, udp, sctp and dccp: their present and inverted bits (1, 2). */
    const portRanges = (at: number, sport: IptRange | undefined, dport: IptRange | undefined): [number, number] => {
      let present = 0, inv = 0;
      if (sport) { present |= 1; b.u16(at + 4, sport.lo); b.u16(at + 6, sport.hi); if (sport.inv) inv |= 1; }
      if (dport) { present |= 2; b.u16(at + 8, dport.lo); b.u16(at + 10, dport.hi); if (dport.inv) inv |= 2; }
      return [present, inv];
    };
    switch (m.kind) {
      case "comment":
        return;
      case "tcp":
      case "udp": {
        const at = hdr(m.kind === "tcp" ? abi.M_TCP : abi.M_UDP, 16, 0);
        let [present, inv] = portRanges(at, m.sport, m.dport);
        if (m.kind === "tcp") {
          if (m.flags) { present |= 4; b.u8At(at + 12, m.flags.mask); b.u8At(at + 13, m.flags.cmp); if (m.flags.inv) inv |= 4; }
          if (m.option) { present |= 8; b.u8At(at + 14, m.option.option); if (m.option.inv) inv |= 8; }
        }
        b.u8At(at + 15, present);
        b.u8At(at + abi.M_INV, inv);
        return;
      }
      case "sctp": {
        const at = hdr(abi.M_SCTP, 64, 0);
        let [present, inv] = portRanges(at, m.sport, m.dport);
        const c = m.chunks;
        if (c) {
          present |= 4;
          if (c.inv) inv |= 4;
          b.u8At(at + 13, c.match === "any" ? abi.SCTP_CHUNK_MATCH_ANY : c.match === "all" ? abi.SCTP_CHUNK_MATCH_ALL : abi.SCTP_CHUNK_MATCH_ONLY);
          b.u8At(at + 14, c.flags.length);
          c.flags.forEach((f, k) => {
            b.u8At(at + 16 + 4 * k, f.type);
            b.u8At(at + 17 + 4 * k, f.flag);
            b.u8At(at + 18 + 4 * k, f.mask);
          });
          for (let w = 0; w < 8; w++) b.u32(at + 32 + 4 * w, c.map[w]! >>> 0);
        }
        b.u8At(at + 12, present);
        b.u8At(at + abi.M_INV, inv);
        return;
      }
      case "dccp": {
        const at = hdr(abi.M_DCCP, 16, 0);
        let [present, inv] = portRanges(at, m.sport, m.dport);
        if (m.types) { present |= 4; b.u16(at + 12, m.types.mask); if (m.types.inv) inv |= 4; }
        if (m.option) { present |= 8; b.u8At(at + 15, m.option.option); if (m.option.inv) inv |= 8; }
        b.u8At(at + 14, present);
        b.u8At(at + abi.M_INV, inv);
        return;
      }
      case "icmp": {
        const at = hdr(abi.M_ICMP, 8, m.inv ? 1 : 0);
        b.u8At(at + 4, m.type);
        b.u8At(at + 5, m.codeMin);
        b.u8At(at + 6, m.codeMax);
        return;
      }
      case "multiport": {
        const at = hdr(abi.M_MULTIPORT, 8 + 4 * m.ports.length, m.inv ? 1 : 0);
        b.u8At(at + 4, m.mode === "src" ? 0 : m.mode === "dst" ? 1 : 2);
        b.u8At(at + 5, m.ports.length);
        m.ports.forEach(([lo, hi], i) => { b.u16(at + 8 + 4 * i, lo); b.u16(at + 10 + 4 * i, hi); });
        return;
      }
      case "addrtype": {
        let inv = 0;
        let flags = 0;
        const at = hdr(abi.M_ADDRTYPE, 12, 0);
        if (m.srcType) { flags |= 1; b.u16(at + 4, m.srcType.mask); if (m.srcType.inv) inv |= 1; }
        if (m.dstType) { flags |= 2; b.u16(at + 6, m.dstType.mask); if (m.dstType.inv) inv |= 2; }
        if (m.limitIfaceIn) flags |= 4;
        if (m.limitIfaceOut) flags |= 8;
        b.u8At(at + 8, flags);
        b.u8At(at + abi.M_INV, inv);
        return;
      }
      case "mark":
      case "connmark": {
        if (m.kind === "connmark") conntrack = true;
        const at = hdr(m.kind === "mark" ? abi.M_MARK : abi.M_CONNMARK, 12, m.inv ? 1 : 0);
        b.u32(at + 4, (m.value & m.mask) >>> 0);
        b.u32(at + 8, m.mask);
        return;
      }
      case "state": {
        conntrack = true;
        const at = hdr(abi.M_CONNTRACK, 72, 0);
        b.u16(at + 4, abi.CTM_STATE);
        b.u16(at + 6, m.inv ? abi.CTM_STATE : 0);
        b.u16(at + 8, m.mask);
        return;
      }
      case "conntrack": {
        conntrack = true;
        const at = hdr(abi.M_CONNTRACK, 72, 0);
        let present = 0;
        let inv = 0;
        const flag = (bit: number, isInv: boolean) => { present |= bit; if (isInv) inv |= bit; };
        if (m.ctstate) { flag(abi.CTM_STATE, m.ctstate.inv); b.u16(at + 8, m.ctstate.mask); }
        if (m.ctstatus) { flag(abi.CTM_STATUS, m.ctstatus.inv); b.u16(at + 10, m.ctstatus.mask); }
        if (m.ctproto) { flag(abi.CTM_PROTO, m.ctproto.inv); b.u8At(at + 12, m.ctproto.proto); }
        const addr = (a: { addr: number; plen: number; inv: boolean } | undefined, bit: number, off: number) => {
          if (!a) return;
          const mask = a.plen === 0 ? 0 : (0xffffffff << (32 - a.plen)) >>> 0;
          flag(bit, a.inv);
          b.u32(at + off, (a.addr & mask) >>> 0);
          b.u32(at + off + 4, mask);
        };
        addr(m.origsrc, abi.CTM_ORIGSRC, 16);
        addr(m.origdst, abi.CTM_ORIGDST, 24);
        addr(m.replsrc, abi.CTM_REPLSRC, 32);
        addr(m.repldst, abi.CTM_REPLDST, 40);
        const port = (pr: { lo: number; hi: number; inv: boolean } | undefined, bit: number, off: number) => {
          if (!pr) return;
          flag(bit, pr.inv);
          b.u16(at + off, pr.lo);
          b.u16(at + off + 2, pr.hi);
        };
        port(m.origsrcport, abi.CTM_ORIGSRCPORT, 48);
        port(m.origdstport, abi.CTM_ORIGDSTPORT, 52);
        port(m.replsrcport, abi.CTM_REPLSRCPORT, 56);
        port(m.repldstport, abi.CTM_REPLDSTPORT, 60);
        if (m.expire) { flag(abi.CTM_EXPIRE, m.expire.inv); b.u32(at + 64, m.expire.lo); b.u32(at + 68, m.expire.hi); }
        if (m.dir) { present |= abi.CTM_DIR; b.u8At(at + 13, m.dir === "REPLY" ? 1 : 0); }
        b.u16(at + 4, present);
        b.u16(at + 6, inv);
        return;
      }
      case "statistic": {
        const at = hdr(abi.M_STATISTIC, 28, m.inv ? 1 : 0);
        if (m.mode === "random") {
          b.u8At(at + 4, 0);
          b.u32(at + 8, m.probability);
          // the endpoint this rule leads to, for a capture's copy to choose by (seenEndpoints)
          const to = table === "nat" && !m.inv && (r.target.kind === "jump" || r.target.kind === "goto")
            ? endpoints.target.get(r.target.chain) : undefined;
          // (the rule's chain then has a list: seenEndpoints lists every chain jumping to a chain with an endpoint)
          if (to !== undefined) {
            b.u32(at + 12, Math.floor(to / 65536));
            b.u16(at + 16, to % 65536);
            endpointRefs.push({ at, chain: r.chain });
          }
        } else {
          b.u8At(at + 4, 1);
          b.u32(at + 8, m.every);
          b.u32(at + 12, m.every - m.packet); // libxt_statistic: count = every - packet
        }
        return;
      }
      case "recent": {
        let id = opts.registry.recent.get(m.name);
        if (id === undefined) { id = opts.registry.recent.size; opts.registry.recent.set(m.name, id); }
        const nstamps = m.hitcount > 0 ? pow2ceil(m.hitcount) - 1 : 31;
        const prev = recentParams.get(id);
        if (!prev) recentParams.set(id, { mask: m.mask >>> 0, nstamps });
        else prev.nstamps = Math.max(prev.nstamps, nstamps);
        const at = hdr(abi.M_RECENT, 20, m.inv ? 1 : 0);
        b.u8At(at + 4, m.op === "set" ? 1 : m.op === "rcheck" ? 2 : m.op === "update" ? 3 : 4);
        b.u8At(at + 5, (m.reap ? 1 : 0) | (m.rttl ? 2 : 0) | (m.side === "rdest" ? 4 : 0));
        b.u16(at + 6, id);
        b.u32(at + 8, m.seconds);
        b.u32(at + 12, m.hitcount);
        b.u32(at + 16, m.mask);
        return;
      }
      case "set": {
        // set_match_v4_checkentry: the set must exist (iptables: "Set NAME doesn't exist.")
        const def = opts.ipsets?.byName.get(m.name);
        if (!def) throw ruleErr(r, m.token, `set ${m.name} does not exist${opts.ipsets ? ` in ${opts.ipsets.file}` : " (no ipset.txt loaded)"}`);
        // libxt_set get_set_byname: an IPv4 rule cannot name an inet6 set
        if (def.family === "inet6") throw ruleErr(r, m.token, `the protocol family of set ${m.name} is IPv6, which is not applicable to IPv4 rules`);
        const at = hdr(abi.M_SET, 12, m.inv ? 1 : 0);
        setRefs.push({ at: at + 4, name: m.name });
        b.u8At(at + 8, m.dim);
        b.u8At(at + 9, m.srcBits);
        b.u8At(at + 10, m.returnNomatch ? abi.IPS_CMD_RETURN_NOMATCH : 0);
        return;
      }
      case "rpfilter": {
        const at = hdr(abi.M_RPFILTER, 8, 0);
        b.u8At(at + 4, (m.loose ? abi.XT_RPFILTER_LOOSE : 0) | (m.validmark ? abi.XT_RPFILTER_VALID_MARK : 0) |
          (m.acceptLocal ? abi.XT_RPFILTER_ACCEPT_LOCAL : 0) | (m.invert ? abi.XT_RPFILTER_INVERT : 0));
        return;
      }
      case "pkttype": {
        const at = hdr(abi.M_PKTTYPE, 8, m.inv ? 1 : 0);
        b.u8At(at + 4, m.type);
        return;
      }
      case "iprange": {
        const at = hdr(abi.M_IPRANGE, 24, 0);
        let flags = 0;
        if (m.src) { flags |= 1 | (m.src.inv ? 16 : 0); b.u32(at + 8, m.src.min); b.u32(at + 12, m.src.max); }
        if (m.dst) { flags |= 2 | (m.dst.inv ? 32 : 0); b.u32(at + 16, m.dst.min); b.u32(at + 20, m.dst.max); }
        b.u8At(at + 4, flags);
        return;
      }
      case "ttl": {
        const at = hdr(abi.M_TTL, 8, 0);
        b.u8At(at + 4, m.mode === "eq" ? 0 : m.mode === "ne" ? 1 : m.mode === "lt" ? 2 : 3);
        b.u8At(at + 5, m.ttl);
        return;
      }
      case "tos": {
        const at = hdr(abi.M_TOSBYTE, 8, m.inv ? 1 : 0);
        b.u8At(at + 4, 0);
        b.u8At(at + 5, m.value);
        b.u8At(at + 6, m.mask);
        return;
      }
      case "dscp": {
        const at = hdr(abi.M_TOSBYTE, 8, m.inv ? 1 : 0);
        b.u8At(at + 4, 1);
        b.u8At(at + 5, m.dscp);
        return;
      }
      case "ecn": {
        const at = hdr(abi.M_TOSBYTE, 8, 0);
        let ops = 0;
        let tcpWant = 0;
        if (m.ect) { ops |= 1 | (m.ect.inv ? 16 : 0); b.u8At(at + 5, m.ect.value); }
        if (m.ece) { ops |= 2; if (!m.ece.inv) tcpWant |= 64; }
        if (m.cwr) { ops |= 4; if (!m.cwr.inv) tcpWant |= 128; }
        b.u8At(at + 4, 2);
        b.u8At(at + 6, tcpWant);
        b.u8At(at + 7, ops);
        return;
      }
      case "tcpmss": {
        const at = hdr(abi.M_TCPMSS, 8, m.range.inv ? 1 : 0);
        b.u16(at + 4, m.range.lo);
        b.u16(at + 6, m.range.hi);
        return;
      }
      case "nfacct": {
        let id = opts.registry.nfacct.get(m.name);
        if (id === undefined) { id = opts.registry.nfacct.size; opts.registry.nfacct.set(m.name, id); }
        const at = hdr(abi.M_NFACCT, 8, 0);
        b.u32(at + 4, id);
        return;
      }
      case "limit": {
        const cost = user2credits(m.avg, opts.hz, opts.creditsPerJiffy);
        const avgBurst = Number((BigInt(m.avg) * BigInt(m.burst)) & 0xffffffffn);
        const cap = user2credits(avgBurst, opts.hz, opts.creditsPerJiffy);
        if (m.burst === 0 || cap < cost) throw ruleErr(r, m.text, `limit: overflow, try a lower rate or burst (${m.avg}/${m.burst})`);
        const at = hdr(abi.M_LIMIT, 20, 0);
        b.u32(at + 4, cost);
        b.u32(at + 8, cap);
        return;
      }
      case "owner": {
        let match = 0;
        let inv = 0;
        const at = hdr(abi.M_OWNER, 24, 0);
        if (m.uid) { match |= 1; if (m.uid.inv) inv |= 1; b.u32(at + 8, m.uid.lo); b.u32(at + 12, m.uid.hi); }
        if (m.gid) { match |= 2; if (m.gid.inv) inv |= 2; b.u32(at + 16, m.gid.lo); b.u32(at + 20, m.gid.hi); }
        if (m.socketExists) { match |= 4; if (m.socketExists.inv) inv |= 4; }
        b.u8At(at + 4, match);
        b.u8At(at + abi.M_INV, inv);
        return;
      }
      case "length": {
        const at = hdr(abi.M_LENGTH, 8, m.range.inv ? 1 : 0);
        b.u16(at + 4, m.range.lo);
        b.u16(at + 6, m.range.hi);
        return;
      }
      default: {
        const k: never = m;
        throw ruleErr(r, (k as { kind: string }).kind, "match not supported by the compiler");
      }
    }
  }

  function emitTarget(e: number, r: IptRule, table: IptTableName): void {
    const t: IptTarget = r.target;
    const set = (kind: number, a = 0, c = 0, d = 0) => {
      b.u8At(e + abi.E_TARGET, kind);
      b.u32(e + abi.E_T0, a);
      b.u32(e + abi.E_T1, c);
      b.u32(e + abi.E_T2, d);
    };
    switch (t.kind) {
      case "none": set(abi.T_NONE); return;
      case "ACCEPT": set(abi.T_ACCEPT); return;
      case "DROP": set(abi.T_DROP); return;
      case "RETURN": set(abi.T_RETURN); return;
      case "jump":
      case "goto": {
        const ci = chainIdx.get(`${table}/${t.chain}`);
        if (ci === undefined) throw ruleErr(r, t.chain, `no chain ${t.chain} in table ${table}`);
        set(t.kind === "jump" ? abi.T_JUMP : abi.T_GOTO, ci);
        return;
      }
      case "REJECT": {
        const code = REJECT_CODES[t.with];
        if (code === undefined) throw ruleErr(r, t.with, "--reject-with type not supported");
        set(abi.T_REJECT, code);
        return;
      }
      case "DNAT":
      case "SNAT": {
        conntrack = true;
        if (t.ranges.length !== 1) throw ruleErr(r, t.kind, "multiple --to ranges are no longer supported by the kernel (xt_nat needs exactly one)");
        const rg = t.ranges[0]!;
        let flags = 0;
        if (rg.minIp !== 0 || rg.maxIp !== 0) flags |= abi.NF_NAT_RANGE_MAP_IPS;
        if (rg.minPort !== 0 || rg.maxPort !== 0) flags |= abi.NF_NAT_RANGE_PROTO_SPECIFIED;
        if (t.random) flags |= abi.NF_NAT_RANGE_PROTO_RANDOM;
        if (t.randomFully) flags |= abi.NF_NAT_RANGE_PROTO_RANDOM_FULLY;
        if (t.persistent) flags |= abi.NF_NAT_RANGE_PERSISTENT;
        const data = b.alloc(abi.NR_SIZE);
        b.u32(data + abi.NR_MIN_IP, rg.minIp);
        b.u32(data + abi.NR_MAX_IP, rg.maxIp);
        b.u16(data + abi.NR_MIN_PORT, rg.minPort);
        b.u16(data + abi.NR_MAX_PORT, rg.maxPort);
        set(t.kind === "DNAT" ? abi.T_DNAT : abi.T_SNAT, 1, flags);
        b.u32(e + abi.E_T3, data);
        return;
      }
      case "MASQUERADE": {
        conntrack = true;
        let flags = 0;
        if (t.minPort !== 0 || t.maxPort !== 0) flags |= abi.NF_NAT_RANGE_PROTO_SPECIFIED;
        if (t.random) flags |= abi.NF_NAT_RANGE_PROTO_RANDOM;
        if (t.randomFully) flags |= abi.NF_NAT_RANGE_PROTO_RANDOM_FULLY;
        set(abi.T_MASQUERADE, t.minPort, t.maxPort, flags);
        return;
      }
      case "REDIRECT": {
        conntrack = true;
        let flags = 0;
        if (t.minPort !== 0 || t.maxPort !== 0) flags |= abi.NF_NAT_RANGE_PROTO_SPECIFIED;
        if (t.random) flags |= abi.NF_NAT_RANGE_PROTO_RANDOM;
        set(abi.T_REDIRECT, t.minPort, t.maxPort, flags);
        return;
      }
      case "MARK": set(abi.T_MARK, t.value, t.mask); return;
      case "CONNMARK":
        conntrack = true;
        if (t.op === "set") set(abi.T_CONNMARK_SET, t.value, t.mask);
        else set(t.op === "save" ? abi.T_CONNMARK_SAVE : abi.T_CONNMARK_RESTORE, t.nfmask, t.ctmask);
        return;
      case "LOG": set(abi.T_LOG); return;
      case "NFLOG": set(abi.T_NFLOG); return;
      case "TRACE": set(abi.T_TRACE); return;
      case "NOTRACK": set(abi.T_NOTRACK); return;
      case "TTL": set(abi.T_TTL, t.mode === "set" ? 0 : t.mode === "inc" ? 1 : 2, t.value); return;
      case "TOS": set(abi.T_TOS, t.value, t.mask); return;
      case "DSCP": set(abi.T_TOS, t.dscp << 2, 0xfc); return;
      case "CLASSIFY": set(abi.T_CLASSIFY, t.priority); return;
      case "TCPMSS": set(abi.T_TCPMSS, t.mss === "pmtu" ? abi.TCPMSS_CLAMP_PMTU : t.mss); return;
      case "NETMAP": {
        conntrack = true;
        const mask = t.plen === 0 ? 0 : (0xffffffff << (32 - t.plen)) >>> 0;
        set(abi.T_NETMAP, t.addr, mask);
        return;
      }
      default: {
        const k: never = t;
        throw ruleErr(r, (k as { kind: string }).kind, "target not supported by the compiler");
      }
    }
  }

  // jump depth (for the stack): longest jump path from any built-in chain
  {
    const memo = new Map<number, number>();
    const jumpsOf = (ci: number): number[] => {
      const c = chainObj[ci]!;
      const out: number[] = [];
      for (const r of c.rules) {
        if (r.target.kind === "jump") out.push(chainIdx.get(`${chains[ci]!.table}/${r.target.chain}`)!);
        else if (r.target.kind === "goto") out.push(-1 - chainIdx.get(`${chains[ci]!.table}/${r.target.chain}`)!);
      }
      return out;
    };
    const visit = (ci: number, stackIn: Set<number>): number => {
      const m = memo.get(ci);
      if (m !== undefined) return m;
      if (stackIn.has(ci)) return 0; // loops are refused by the parser
      stackIn.add(ci);
      let best = 0;
      for (const j of jumpsOf(ci)) {
        if (j >= 0) best = Math.max(best, 1 + visit(j, stackIn));
        else best = Math.max(best, visit(-1 - j, stackIn));
      }
      stackIn.delete(ci);
      memo.set(ci, best);
      return best;
    };
    for (let ci = 0; ci < chains.length; ci++) if (chains[ci]!.builtin) depth = Math.max(depth, visit(ci, new Set()));
  }

  // chain records and indexes
  const mapStart = b.len;
  void mapStart;
  for (let ci = 0; ci < chains.length; ci++) {
    const offs = chainEntryOffs[ci]!;
    const rec = chainOff + ci * abi.NFC_SIZE;
    b.u32(rec + abi.NFC_FIRST, chainFirst[ci]!);
    b.u32(rec + abi.NFC_TABLE, TABLE_NUM[chains[ci]!.table]);
    b.u32(rec + abi.NFC_BUILTIN, chains[ci]!.builtin ? 1 : 0);
    b.u32(rec + abi.NFC_ID, ci);
    const rules = chainObj[ci]!.rules;
    let kind = abi.NFX_NONE;
    let keys: (number | undefined)[] = [];
    if (indexMin > 0 && rules.length >= indexMin) {
      const dk = rules.map(dstKey);
      const pk = rules.map(portKey);
      const nd = dk.filter((k) => k !== undefined).length;
      const np = pk.filter((k) => k !== undefined).length;
      if (nd >= np && nd * 2 >= rules.length) { kind = abi.NFX_DST; keys = dk; }
      else if (np * 2 >= rules.length) { kind = abi.NFX_PROTO_DPORT; keys = pk; }
    }
    chainEntryKeys[ci] = keys;
    b.u32(rec + abi.NFC_INDEX, kind);
    if (kind === abi.NFX_NONE) {
      for (let k = 0; k < offs.length; k++) {
        b.u32(offs[k]! + abi.E_NEXT_GEN, k + 1 < offs.length ? offs[k + 1]! : 0);
        b.u32(offs[k]! + abi.E_NEXT_SAME, 0);
      }
      b.u32(rec + abi.NFC_FIRST_GEN, offs[0]!);
      continue;
    }
    indexedChains++;
    // next generic after each entry; the terminal entry is generic
    const isGen = (k: number) => k >= rules.length || keys[k] === undefined;
    let nextGen = offs[offs.length - 1]!;
    for (let k = offs.length - 1; k >= 0; k--) {
      b.u32(offs[k]! + abi.E_NEXT_GEN, k === offs.length - 1 ? 0 : nextGen);
      if (isGen(k)) nextGen = offs[k]!;
    }
    b.u32(rec + abi.NFC_FIRST_GEN, nextGen);
    // same-key links and the map of first occurrences
    const firstOf = new Map<number, number>();
    const lastOf = new Map<number, number>();
    for (let k = 0; k < rules.length; k++) {
      const key = keys[k];
      b.u32(offs[k]! + abi.E_NEXT_SAME, 0);
      if (key === undefined) continue;
      const prev = lastOf.get(key);
      if (prev !== undefined) b.u32(prev + abi.E_NEXT_SAME, offs[k]!);
      else firstOf.set(key, offs[k]!);
      lastOf.set(key, offs[k]!);
    }
    let slots = 8;
    while (slots < firstOf.size * 2) slots *= 2;
    const map = b.alloc(slots * abi.NFX_SLOT);
    const mask = slots - 1;
    for (const [key, off] of firstOf) {
      let i = mix(key, mask);
      while (b.dv.getUint32(map + i * 8 + 4, true) !== 0) i = (i + 1) & mask;
      b.u32(map + i * 8, key);
      b.u32(map + i * 8 + 4, off);
    }
    b.u32(rec + abi.NFC_MAP, map);
    b.u32(rec + abi.NFC_MAP_MASK, mask);
  }

  // recent table parameters (mask, nstamps mask) by id
  const nRecent = opts.registry.recent.size;
  const recentOff = b.alloc(Math.max(1, nRecent) * 8);
  for (let id = 0; id < nRecent; id++) {
    const prm = recentParams.get(id) ?? { mask: 0xffffffff, nstamps: 31 };
    b.u32(recentOff + id * 8, prm.mask);
    b.u32(recentOff + id * 8 + 4, prm.nstamps);
  }

  // interface match table: rows = patterns, columns = device slots (0 = no device)
  const cols = opts.devices.length;
  const ifOff = b.alloc(Math.max(1, ifaces.rows.length * cols));
  ifaces.rows.forEach((pat, row) => {
    for (let slot = 0; slot < cols; slot++) {
      const name = slot === 0 ? "" : opts.devices[slot] ?? "\u0000none";
      b.u8At(ifOff + row * cols + slot, IfacePatterns.matches(pat, name) ? 1 : 0);
    }
  });
  b.alloc((4 - (b.len & 3)) & 3);

  // the images of the IP sets the rules test
  if (setRefs.length > 0) {
    const imgs = ipsetImages(opts.ipsets!, setRefs.map((x) => x.name), b.len);
    const at = b.alloc(imgs.bytes.length);
    b.u8.set(imgs.bytes, at);
    for (const x of setRefs) b.u32(x.at, imgs.offsetOf.get(x.name)!);
  }

  // the endpoint lists of the chains whose random statistic rules choose an endpoint (sorted keys, u64)
  if (endpointRefs.length > 0) {
    b.alloc((8 - (b.len & 7)) & 7);
    const listOff = new Map<string, number>();
    for (const x of endpointRefs) {
      let off = listOff.get(x.chain);
      const list = endpoints.lists.get(x.chain)!;
      if (off === undefined) {
        off = b.alloc(list.length * 8);
        list.forEach((k, i) => { b.u32(off! + i * 8, k % 65536); b.u32(off! + i * 8 + 4, Math.floor(k / 65536)); });
        listOff.set(x.chain, off);
      }
      b.u32(x.at + 20, off);
      b.u32(x.at + 24, list.length);
    }
  }

  // header
  const h = 0;
  b.u32(h + abi.NFP_H_MAGIC, abi.NFP_MAGIC);
  b.u32(h + abi.NFP_H_ENTRIES, entries.length);
  b.u32(h + abi.NFP_H_CHAINS, chains.length);
  b.u32(h + abi.NFP_H_CHAIN_OFF, chainOff);
  b.u32(h + abi.NFP_H_IFACE_OFF, ifOff);
  b.u32(h + abi.NFP_H_IFACE_ROWS, ifaces.rows.length);
  b.u32(h + abi.NFP_H_IFACE_COLS, cols);
  b.u32(h + abi.NFP_H_FLAGS, conntrack ? abi.NFP_F_CONNTRACK : 0);
  b.u32(h + abi.NFP_H_MAX_DEPTH, depth);
  b.u32(h + abi.NFP_H_RECENT_TABLES, nRecent);
  b.u32(h + abi.NFP_H_NFACCT, opts.registry.nfacct.size);
  hooks.forEach((c, i) => b.u32(h + abi.NFP_H_HOOKS + i * 4, c));
  b.u32(h + abi.NFP_H_RECENT_OFF, recentOff);
  b.u32(h + abi.NFP_H_ENTRIES_END, entriesEnd);
  void entriesStart;
  void STATE_BITS;
  return { blob: b.u8.slice(0, b.len), entries, chains, conntrack, indexedChains };
}

/**
 * kube-proxy's endpoint choice, for a capture that shows it. A replayed
 * capture's packet may carry the header its forwarded copy left the node
 * with (abi.ts PKT_SEEN_*): where the kernel's `-m statistic --mode random`
 * draw sent it. In the nat table, a chain "leads to" one endpoint when its
 * DNAT rules, its own and those of the chains it jumps to (4 levels), name
 * exactly one `--to-destination A[:P]` (a KUBE-SEP chain: the DNAT, beside
 * its jump to KUBE-MARK-MASQ, which leads to none); an address range, or
 * two targets, lead to no one endpoint. `target`: chain -> its endpoint (as
 * address * 65536 + port, port 0: the packet's). `lists`: chain -> the
 * sorted endpoints its rules lead to (a KUBE-SVC chain: every endpoint,
 * the last, statistic-less rule's included). A random statistic rule of
 * chain C jumping to a chain with an endpoint keeps that endpoint and C's
 * list (match.ts statisticMatch: with a copy whose destination is in the
 * list, the rule matches exactly when it leads there; a destination the
 * list lacks draws as before).
 */
function seenEndpoints(rs: IptRuleset): { target: Map<string, number>; lists: Map<string, number[]> } {
  const target = new Map<string, number>();
  const lists = new Map<string, number[]>();
  const nat = rs.tables.find((t) => t.name === "nat");
  if (!nat) return { target, lists };
  const byName = new Map(nat.chains.map((c) => [c.name, c]));
  /** The endpoints chain `name` leads to; undefined: not one endpoint (a range, or unknown). */
  const leads = (name: string, depth: number, out: Set<number>): boolean => {
    const c = byName.get(name);
    if (!c || depth > 4) return true;
    for (const r of c.rules) {
      const t = r.target;
      if (t.kind === "DNAT") {
        const g = t.ranges[0];
        if (t.ranges.length !== 1 || !g || g.minIp === 0 || g.minIp !== g.maxIp || g.minPort !== g.maxPort) return false;
        out.add((g.minIp >>> 0) * 65536 + g.minPort);
      } else if ((t.kind === "jump" || t.kind === "goto") && !leads(t.chain, depth + 1, out)) {
        return false;
      }
    }
    return true;
  };
  for (const c of nat.chains) {
    if (c.builtin) continue;
    const out = new Set<number>();
    if (leads(c.name, 0, out) && out.size === 1) target.set(c.name, [...out][0]!);
  }
  for (const c of nat.chains) {
    const keys = new Set<number>();
    for (const r of c.rules) {
      const t = r.target;
      if (t.kind === "jump" || t.kind === "goto") { const k = target.get(t.chain); if (k !== undefined) keys.add(k); }
    }
    if (keys.size > 0) lists.set(c.name, [...keys].sort((a, b) => a - b));
  }
  return { target, lists };
}

function pow2ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** --reject-with names (iptables-save prints the long forms). */
export const REJECT_CODES: Record<string, number> = {
  "icmp-net-unreachable": abi.REJECT_ICMP_NET_UNREACH,
  "icmp-host-unreachable": abi.REJECT_ICMP_HOST_UNREACH,
  "icmp-proto-unreachable": abi.REJECT_ICMP_PROT_UNREACH,
  "icmp-port-unreachable": abi.REJECT_ICMP_PORT_UNREACH,
  "icmp-net-prohibited": abi.REJECT_ICMP_NET_PROHIBITED,
  "icmp-host-prohibited": abi.REJECT_ICMP_HOST_PROHIBITED,
  "icmp-admin-prohibited": abi.REJECT_ICMP_ADMIN_PROHIBITED,
  "tcp-reset": abi.REJECT_TCP_RESET,
};
