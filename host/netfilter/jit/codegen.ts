/**
 * Compiles the chain walks of a loaded rule program (the blob of
 * host/netfilter/compile.ts, abi.ts section 6) into a WebAssembly module
 * that runs beside the core on its memory (assembly/netfilter/jit.ts says
 * when the core calls it). What ipt_do_table (net/ipv4/netfilter/
 * ip_tables.c) interprets entry by entry becomes straight-line code per
 * chain, with every rule's constants folded in:
 *
 *   - one function per chain reachable from a compiled built-in chain;
 *     the built-in chain's function is the walk's entry point;
 *   - per rule: count it as examined, test ip_packet_match's fields (only
 *     those the rule sets), then its matches (in order, or the inlined ones
 *     first when the order cannot matter: matchOrder) (inlined: mark, tcp
 *     and udp ports and flags, conntrack states; addrtype compiled but for
 *     the address type, which the core's inet_dev_addr_type gives
 *     (nf_jit_addr_type); the others call the core's own match code,
 *     nf_jit_match, so stateful matches keep their state in one place),
 *     then count the rule (packets, bytes) and run its target: ACCEPT and
 *     DROP end the walk, a jump calls the chain's function and goes on
 *     unless it gave a verdict, a goto returns what the chain gives, RETURN
 *     goes back (from a built-in chain: to its policy), MARK and CONNMARK
 *     are compiled (the connection's mark through JS_CT_ENTRY), any other
 *     target is the core's (nf_jit_target);
 *   - a built-in chain ends with its policy (counted, the verdict), a user
 *     chain with its implicit RETURN entry (counted).
 *
 * Every matched entry is recorded in the packet's rule trace when the core
 * traces the matched entries (TRACE_MATCHED; with TRACE_ALL the core
 * interprets). A chain function returns NF_DROP (0), NF_ACCEPT (1) or
 * CONTINUE (2: the chain returned). Rules examined are summed in a global and added to the
 * descriptor's PKT_NF_RULES when the walk ends; the deciding entry is
 * written to JIT_STATE.
 *
 * A table is compiled at a hook when its built-in chain has rules (at most
 * MAX_CHAIN_RULES, and no chain index) and no chain the compiled code
 * reaches has an sctp or dccp match (they hotdrop sound packets, which the
 * compiled code does not model). A user chain that is longer, or has an
 * index (compile.ts gives one to chains of 8 rules or more keyed by
 * destination or port, such as KUBE-SERVICES), stays with the interpreter,
 * whose index skips the rules that cannot match (measured: evaluating such
 * a chain rule by rule in compiled code was slower than the index at 1,000
 * services); the compiled code calls the core's walk for it
 * (nf_jit_walk_chain), with everything that chain reaches.
 */
import * as abi from "../../core/abi.js";
import { Code, Op, I32, VOID, assemble, type Func } from "./wasm.js";

/** Longest chain compiled (rules): longer chains are interpreted with their indexes. */
export const MAX_CHAIN_RULES = 64;

/** What the compiled module exports for each compiled table x hook. */
export interface JitWalk {
  table: number;
  hook: number;
  export: string;
  /** Its code tests the conntrack state bits (the core then writes them to JIT_STATE before the call). */
  needsCt: boolean;
  /** Its code reads the connection's entry (a compiled CONNMARK: the core writes JS_CT_ENTRY before the call). */
  needsEntry: boolean;
}

export interface JitModule {
  bytes: Uint8Array;
  walks: JitWalk[];
  /** Chains compiled (functions). */
  chains: number;
  /** Entries compiled. */
  entries: number;
}

/** Where the program and its companions are in the core's memory. */
export interface JitAddresses {
  /** The loaded program (nf_program_ptr): blob offsets are relative to it. */
  prog: number;
  /** Per-entry counters (nf_counters_ptr): u64 packets, u64 bytes. */
  counters: number;
  /** JIT_STATE (nf_jit_state_ptr). */
  state: number;
}

const CONTINUE = 2;
const TGT_CONTINUE = -1; // 0xFFFFFFFF as an i32 constant

// function types
const T_ENTRY = 0; // (p) -> verdict
const T_CHAIN = 1; // (p, len, in, out) -> verdict
const T_MATCH = 2; // core: (p, e, m) -> 0 | 1
const T_TARGET = 3; // core: (p, e) -> verdict | TGT_CONTINUE
const T_TRACE = 4; // core: (p, id) -> ()
const T_WALK = 3; // core: (p, chain) -> verdict | CONTINUE, the same shape as T_TARGET
const T_ADDRTYPE = 2; // core: (addr, dev, limit) -> RTN_*, the same shape as T_MATCH
// imported functions
const F_MATCH = 0;
const F_TARGET = 1;
const F_TRACE = 2;
const F_WALK = 3;
const F_ADDRTYPE = 4;
const IMPORTED = 5;
// the global: rules examined in this walk
const G_EXAMINED = 0;
// locals of every chain function (the entry's are locals, the others' parameters)
const L_P = 0, L_LEN = 1, L_IN = 2, L_OUT = 3, L_R = 4, L_SAVED = 5, L_CT = 6;

interface Chain { index: number; first: number; builtin: boolean; entries: number[] }

/** Reads the program's structure. */
class Program {
  readonly dv: DataView;
  /**
   * Some entry is a TCPMSS target, which may make the packet longer (an
   * inserted MSS option): the length the counters add is read again after
   * it and after every chain call (ADD_COUNTER reads skb->len each time).
   */
  readonly lenMayChange: boolean;
  constructor(readonly blob: Uint8Array) {
    this.dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    let tcpmss = false;
    for (let c = 0, n = this.u32(abi.NFP_H_CHAINS); c < n && !tcpmss; c++) tcpmss = this.chain(c).entries.some((e) => this.u8(e + abi.E_TARGET) === abi.T_TCPMSS);
    this.lenMayChange = tcpmss;
  }
  u8(o: number): number { return this.dv.getUint8(o); }
  u16(o: number): number { return this.dv.getUint16(o, true); }
  u32(o: number): number { return this.dv.getUint32(o, true); }
  chainRec(c: number): number { return this.u32(abi.NFP_H_CHAIN_OFF) + c * abi.NFC_SIZE; }
  /** The chain's entries, up to and including its policy or implicit return. */
  chain(c: number): Chain {
    const rec = this.chainRec(c);
    const first = this.u32(rec + abi.NFC_FIRST);
    const entries: number[] = [];
    for (let e = first; ; e += this.u16(e + abi.E_SIZE)) {
      entries.push(e);
      const t = this.u8(e + abi.E_TARGET);
      if (t === abi.T_POLICY || t === abi.T_IMPLICIT_RETURN) break;
    }
    return { index: c, first, builtin: this.u32(rec + abi.NFC_BUILTIN) === 1, entries };
  }
  /** Kinds of entry `e`'s matches, with their offsets. */
  matches(e: number): { kind: number; at: number }[] {
    const out: { kind: number; at: number }[] = [];
    let m = e + abi.E_MATCHES;
    const end = m + this.u16(e + abi.E_MATCH_BYTES);
    while (m < end) {
      out.push({ kind: this.u8(m + abi.M_KIND), at: m });
      const len = this.u16(m + abi.M_LEN);
      if (len === 0) break;
      m += len;
    }
    return out;
  }
}

/**
 * The chains to compile for the walk from built-in chain `c` (itself
 * first): those it reaches through chains it compiles; a chain longer than
 * MAX_CHAIN_RULES or with an index is left to the interpreter
 * (`interpreted`), with what it reaches. Undefined when the walk is not
 * compiled.
 */
function reachable(pg: Program, c: number, interpreted: Set<number>): Chain[] | undefined {
  const seen = new Map<number, Chain>();
  const todo = [c];
  while (todo.length) {
    const ci = todo.pop()!;
    if (seen.has(ci) || interpreted.has(ci)) continue;
    const ch = pg.chain(ci);
    if (ch.entries.length - 1 > MAX_CHAIN_RULES || pg.u32(pg.chainRec(ci) + abi.NFC_INDEX) !== abi.NFX_NONE) {
      if (ci === c) return undefined;
      interpreted.add(ci);
      continue;
    }
    seen.set(ci, ch);
    for (const e of ch.entries) {
      for (const m of pg.matches(e)) if (m.kind === abi.M_SCTP || m.kind === abi.M_DCCP) return undefined;
      const t = pg.u8(e + abi.E_TARGET);
      if (t === abi.T_JUMP || t === abi.T_GOTO) todo.push(pg.u32(e + abi.E_T0));
    }
  }
  return [...seen.values()];
}

/**
 * Compiles the walks of `blob` worth compiling; undefined when there is
 * none (every table at every hook interpreted).
 */
export function compileWalks(blob: Uint8Array, at: JitAddresses, chainNames?: (index: number) => string): JitModule | undefined {
  const pg = new Program(blob);
  const fnOf = new Map<number, number>(); // chain index -> function index
  const interpreted = new Set<number>(); // chains left to the interpreter
  const chains: Chain[] = [];
  const walks: JitWalk[] = [];
  for (let t = 0; t < abi.NFT_COUNT; t++) {
    for (let h = 0; h < abi.NF_INET_NUMHOOKS; h++) {
      const c = pg.u32(abi.NFP_H_HOOKS + (t * abi.NF_INET_NUMHOOKS + h) * 4);
      if (c === 0xffffffff) continue;
      const first = pg.u32(pg.chainRec(c) + abi.NFC_FIRST);
      if (pg.u8(first + abi.E_TARGET) === abi.T_POLICY) continue; // no rules: the core answers from the policy
      const rs = reachable(pg, c, interpreted);
      if (!rs) continue;
      for (const ch of rs) {
        if (fnOf.has(ch.index)) continue;
        fnOf.set(ch.index, IMPORTED + chains.length);
        chains.push(ch);
      }
      const needsCt = rs.some((ch) => ch.entries.some((e) => pg.matches(e).some((m) => inlineCtState(pg, m.kind, m.at))));
      const needsEntry = rs.some((ch) => ch.entries.some((e) => inlineConnmark(pg.u8(e + abi.E_TARGET))));
      walks.push({ table: t, hook: h, export: `walk_${t}_${h}`, needsCt, needsEntry });
    }
  }
  if (walks.length === 0) return undefined;
  const ifaceTable = at.prog + pg.u32(abi.NFP_H_IFACE_OFF);
  const ifaceCols = pg.u32(abi.NFP_H_IFACE_COLS);
  const funcs: Func[] = [];
  let entries = 0;
  for (const ch of chains) {
    funcs.push(chainFunction(pg, ch, fnOf, at, ifaceTable, ifaceCols));
    entries += ch.entries.length;
  }
  const exports = walks.map((w) => ({ name: w.export, func: fnOf.get(pg.u32(abi.NFP_H_HOOKS + (w.table * abi.NF_INET_NUMHOOKS + w.hook) * 4))! }));
  const bytes = assemble({
    types: [
      { params: [I32], results: [I32] },
      { params: [I32, I32, I32, I32], results: [I32] },
      { params: [I32, I32, I32], results: [I32] },
      { params: [I32, I32], results: [I32] },
      { params: [I32, I32], results: [] },
    ],
    memory: { module: "core", name: "memory" },
    imports: [
      { module: "core", name: "nf_jit_match", kind: "func", type: T_MATCH },
      { module: "core", name: "nf_jit_target", kind: "func", type: T_TARGET },
      { module: "core", name: "nf_jit_trace", kind: "func", type: T_TRACE },
      { module: "core", name: "nf_jit_walk_chain", kind: "func", type: T_WALK },
      { module: "core", name: "nf_jit_addr_type", kind: "func", type: T_ADDRTYPE },
    ],
    funcs,
    globals: 1,
    exports,
    names: chainNames ? new Map(chains.map((ch) => [fnOf.get(ch.index)!, chainNames(ch.index)])) : undefined,
  });
  return { bytes, walks, chains: chains.length, entries };
}

/** One chain's function. */
function chainFunction(pg: Program, ch: Chain, fnOf: Map<number, number>, at: JitAddresses, ifaceTable: number, ifaceCols: number): Func {
  const c = new Code();
  const entry = ch.builtin;
  // a built-in chain is the walk's entry: it sets up what the other chains get as parameters
  if (entry) {
    c.i32(0).gset(G_EXAMINED);
    c.get(L_P).mem(Op.i32_load16_u, 1, abi.PKT_LEN).set(L_LEN);
    c.i32(at.state).mem(Op.i32_load, 2, abi.JS_IN_DEV).set(L_IN);
    c.i32(at.state).mem(Op.i32_load, 2, abi.JS_OUT_DEV).set(L_OUT);
    c.block("exit", I32);
    c.block("policy");
  }
  /** Ends the walk (entry) or the chain with the verdict on the stack. */
  const giveVerdict = () => { if (entry) c.br("exit"); else c.op(Op.return); };
  const setVerdictEntry = (id: number) => { c.i32(at.state).i32(id).mem(Op.i32_store, 2, abi.JS_VERDICT_ENTRY); };
  /** ADD_COUNTER for a matched entry, and its trace record when the matched entries are traced. */
  const count = (id: number) => {
    const a = at.counters + id * 16;
    c.i32(a).i32(a).mem(Op.i64_load, 3, 0).i64(1).op(Op.i64_add).mem(Op.i64_store, 3, 0);
    c.i32(a).i32(a).mem(Op.i64_load, 3, 8).get(L_LEN).op(Op.i64_extend_i32_u).op(Op.i64_add).mem(Op.i64_store, 3, 8);
    c.i32(at.state).mem(Op.i32_load, 2, abi.JS_TRACE).if().get(L_P).i32(id).call(F_TRACE).end();
  };
  /** Calls chain `target`: its function, or the interpreter for a chain too long to compile. */
  const callChain = (target: number) => {
    const f = fnOf.get(target);
    if (f !== undefined) c.get(L_P).get(L_LEN).get(L_IN).get(L_OUT).call(f);
    else {
      // the interpreter's walk can run targets with walks of their own: keep this walk's count
      c.gget(G_EXAMINED).set(L_SAVED);
      c.get(L_P).i32(target).call(F_WALK);
      c.get(L_SAVED).gset(G_EXAMINED);
    }
    if (pg.lenMayChange) reloadLen();
  };
  /** The packet's length again (after a TCPMSS target inserted an option). */
  const reloadLen = () => { c.get(L_P).mem(Op.i32_load16_u, 1, abi.PKT_LEN).set(L_LEN); };

  for (const e of ch.entries) {
    const tk = pg.u8(e + abi.E_TARGET);
    const id = pg.u32(e + abi.E_ID);
    if (tk === abi.T_POLICY) {
      if (!entry) throw new Error("jit: a policy entry in a user chain");
      c.end(); // policy: a RETURN of the built-in chain lands here
      count(id);
      setVerdictEntry(id);
      c.i32(pg.u32(e + abi.E_T0) === abi.T_DROP ? 0 : 1);
      break;
    }
    if (tk === abi.T_IMPLICIT_RETURN) {
      count(id);
      c.i32(CONTINUE).op(Op.return);
      break;
    }
    c.block("rule");
    if (pg.u8(e + abi.E_FLAGS) & abi.EF_RULE) c.gget(G_EXAMINED).i32(1).op(Op.i32_add).gset(G_EXAMINED);
    ipMatch(c, pg, e, ifaceTable, ifaceCols);
    for (const m of matchOrder(pg, e)) extMatch(c, pg, e, m.kind, m.at, at.prog, at.state);
    count(id);
    switch (tk) {
      case abi.T_NONE: break;
      case abi.T_ACCEPT: setVerdictEntry(id); c.i32(1); giveVerdict(); break;
      case abi.T_DROP: setVerdictEntry(id); c.i32(0); giveVerdict(); break;
      case abi.T_RETURN:
        if (entry) c.br("policy");
        else c.i32(CONTINUE).op(Op.return);
        break;
      case abi.T_JUMP:
        callChain(pg.u32(e + abi.E_T0));
        c.tee(L_R).i32(CONTINUE).op(Op.i32_ne).if().get(L_R);
        giveVerdict();
        c.end();
        break;
      case abi.T_GOTO:
        callChain(pg.u32(e + abi.E_T0));
        if (entry) {
          // the chain's RETURN returns from the built-in chain: its policy
          c.tee(L_R).i32(CONTINUE).op(Op.i32_eq).brIf("policy").get(L_R);
          giveVerdict();
        } else c.op(Op.return);
        break;
      case abi.T_MARK: {
        // mark_tg: skb->mark = (skb->mark & ~mask) ^ value
        c.get(L_P).get(L_P).mem(Op.i32_load, 2, abi.PKT_OUT_MARK).i32(~pg.u32(e + abi.E_T1)).op(Op.i32_and).i32(pg.u32(e + abi.E_T0)).op(Op.i32_xor);
        c.mem(Op.i32_store, 2, abi.PKT_OUT_MARK);
        break;
      }
      case abi.T_CONNMARK_SET:
      case abi.T_CONNMARK_SAVE:
      case abi.T_CONNMARK_RESTORE:
        connmark(c, tk, pg.u32(e + abi.E_T0), pg.u32(e + abi.E_T1), at.state);
        break;
      default:
        // a target can run a walk of its own (REJECT's icmp_send through OUTPUT): keep this walk's count
        c.gget(G_EXAMINED).set(L_SAVED);
        c.get(L_P).i32(at.prog + e).call(F_TARGET);
        c.get(L_SAVED).gset(G_EXAMINED);
        if (tk === abi.T_TCPMSS) reloadLen();
        c.tee(L_R).i32(TGT_CONTINUE).op(Op.i32_ne).if();
        setVerdictEntry(id);
        c.get(L_R);
        giveVerdict();
        c.end();
    }
    c.end(); // rule
  }
  if (entry) {
    c.end(); // exit: the verdict on the stack
    c.set(L_R);
    c.get(L_P).get(L_P).mem(Op.i32_load, 2, abi.PKT_NF_RULES).gget(G_EXAMINED).op(Op.i32_add).mem(Op.i32_store, 2, abi.PKT_NF_RULES);
    c.get(L_R);
    return { type: T_ENTRY, locals: [I32, I32, I32, I32, I32, I32], code: c };
  }
  c.op(Op.unreachable); // every user chain ends with its implicit return
  return { type: T_CHAIN, locals: [I32, I32, I32], code: c };
}

/** A CONNMARK target the compiled code runs itself (through JS_CT_ENTRY: the walk then needs the entry). */
function inlineConnmark(tk: number): boolean {
  return tk === abi.T_CONNMARK_SET || tk === abi.T_CONNMARK_SAVE || tk === abi.T_CONNMARK_RESTORE;
}

/**
 * connmark_tg_shift without shifts (what the rule program keeps: value `a`,
 * mask `b`), on the packet's connection if it has one: --set-xmark
 * ct->mark = (ct->mark & ~b) ^ a; --save-mark ct->mark = (ct->mark & ~b) ^
 * (skb->mark & a); --restore-mark skb->mark = (skb->mark & ~a) ^ (ct->mark & b).
 */
function connmark(c: Code, tk: number, a: number, b: number, stateAddr: number): void {
  c.i32(stateAddr).mem(Op.i32_load, 2, abi.JS_CT_ENTRY).tee(L_CT).if();
  if (tk === abi.T_CONNMARK_RESTORE) {
    c.get(L_P).get(L_P).mem(Op.i32_load, 2, abi.PKT_OUT_MARK).i32(~a).op(Op.i32_and);
    c.get(L_CT).mem(Op.i32_load, 2, abi.CT_ENTRY_MARK).i32(b).op(Op.i32_and).op(Op.i32_xor);
    c.mem(Op.i32_store, 2, abi.PKT_OUT_MARK);
  } else {
    c.get(L_CT).get(L_CT).mem(Op.i32_load, 2, abi.CT_ENTRY_MARK).i32(~b).op(Op.i32_and);
    if (tk === abi.T_CONNMARK_SET) c.i32(a);
    else c.get(L_P).mem(Op.i32_load, 2, abi.PKT_OUT_MARK).i32(a).op(Op.i32_and);
    c.op(Op.i32_xor).mem(Op.i32_store, 2, abi.CT_ENTRY_MARK);
  }
  c.end();
}

/** Leaves the rule block when the value on the stack is true (`failIfTrue`) or false. */
function failIf(c: Code, failIfTrue: boolean): void {
  if (!failIfTrue) c.op(Op.i32_eqz);
  c.brIf("rule");
}

/** ip_packet_match: the fields the rule sets. */
function ipMatch(c: Code, pg: Program, e: number, ifaceTable: number, ifaceCols: number): void {
  const inv = pg.u8(e + abi.E_INV);
  const addr = (field: number, addrAt: number, maskAt: number, bit: number) => {
    const a = pg.u32(e + addrAt), mask = pg.u32(e + maskAt);
    const inverted = (inv & bit) !== 0;
    if (mask === 0) {
      // (0 != a) ^ inverted decides for every packet
      if ((a !== 0) !== inverted) c.br("rule");
      return;
    }
    // fails when ((x & mask) != a) ^ inverted
    c.get(L_P).mem(Op.i32_load, 2, field).i32(mask).op(Op.i32_and).i32(a).op(Op.i32_ne);
    failIf(c, !inverted);
  };
  addr(abi.PKT_OUT_SRC, abi.E_SRC, abi.E_SMSK, abi.EI_SRC);
  addr(abi.PKT_OUT_DST, abi.E_DST, abi.E_DMSK, abi.EI_DST);
  const iface = (patAt: number, dev: number, bit: number) => {
    const pat = pg.u16(e + patAt);
    if (pat === 0) return;
    // ifaceMatch: the pattern's row of the interface table, 0 for a device beyond it
    c.get(dev).i32(ifaceCols).op(Op.i32_lt_u).if(I32);
    c.get(dev).mem(Op.i32_load8_u, 0, ifaceTable + (pat - 1) * ifaceCols);
    c.else().i32(0).end();
    failIf(c, (inv & bit) !== 0); // fails when it matched and is inverted, or did not and is not
  };
  iface(abi.E_IN, L_IN, abi.EI_IN);
  iface(abi.E_OUT, L_OUT, abi.EI_OUT);
  const proto = pg.u8(e + abi.E_PROTO);
  if (proto !== 0) {
    c.get(L_P).mem(Op.i32_load8_u, 0, abi.PKT_PROTO).i32(proto).op(Op.i32_ne);
    failIf(c, (inv & abi.EI_PROTO) === 0);
  }
  // -f: only non-first fragments match, and the core never sees those
  if ((pg.u8(e + abi.E_FLAGS) & abi.EF_FRAG) !== 0 && (inv & abi.EI_FRAG) === 0) c.br("rule");
}

/** Matches with a side effect when they are evaluated (a random draw, a list, a credit, a counter). */
const STATEFUL = new Set<number>([abi.M_STATISTIC, abi.M_RECENT, abi.M_LIMIT, abi.M_NFACCT]);

/**
 * The order the compiled code tests entry `e`'s matches in. The kernel
 * tests them in the order written and stops at the first that fails; when
 * none has a side effect (STATEFUL) and none can hotdrop (on the sound
 * packets the compiled walk runs for, none of those it compiles can), the
 * rule's outcome does not depend on the order, so the tests compiled inline
 * go first and a failing port or state test spares the calls into the core
 * (`-m addrtype ... -m tcp --dport N` in KUBE-EXTERNAL-SERVICES: what the
 * interpreter's chain index spares it). Otherwise the written order.
 */
function matchOrder(pg: Program, e: number): { kind: number; at: number }[] {
  const ms = pg.matches(e);
  if (ms.some((m) => STATEFUL.has(m.kind))) return ms;
  return [...ms.filter((m) => inlined(pg, m.kind, m.at)), ...ms.filter((m) => !inlined(pg, m.kind, m.at))];
}

/** extMatch compiles this match inline (no call into the core). */
function inlined(pg: Program, kind: number, m: number): boolean {
  if (kind === abi.M_MARK) return true;
  if (kind === abi.M_TCP || kind === abi.M_UDP) return (pg.u8(m + 15) & 8) === 0;
  return inlineCtState(pg, kind, m);
}

/** A conntrack match the compiled code tests itself: --ctstate alone, against JIT_STATE's state bits. */
function inlineCtState(pg: Program, kind: number, m: number): boolean {
  return kind === abi.M_CONNTRACK && pg.u16(m + 4) === abi.CTM_STATE;
}

/** One extension match: inlined when simple, else the core's. */
function extMatch(c: Code, pg: Program, e: number, kind: number, m: number, prog: number, stateAddr: number): void {
  const inv = pg.u8(m + abi.M_INV);
  switch (kind) {
    case abi.M_MARK: {
      // mark_mt: (mark & mask) == value, inverted by !
      c.get(L_P).mem(Op.i32_load, 2, abi.PKT_OUT_MARK).i32(pg.u32(m + 8)).op(Op.i32_and).i32(pg.u32(m + 4)).op(Op.i32_eq);
      failIf(c, inv !== 0);
      return;
    }
    case abi.M_CONNTRACK: {
      // conntrack_mt with only --ctstate: the state bits the core keeps in JIT_STATE
      if (!inlineCtState(pg, kind, m)) break;
      c.i32(stateAddr).mem(Op.i32_load, 2, abi.JS_CT_STATE).i32(pg.u16(m + 8)).op(Op.i32_and);
      failIf(c, (pg.u16(m + 6) & abi.CTM_STATE) !== 0);
      return;
    }
    case abi.M_ADDRTYPE: {
      // addrtype_mt_v1: the address types from the core (inet_dev_addr_type), tested against the masks here
      const flags = pg.u8(m + 8);
      const limit = (flags & 12) !== 0;
      const test = (bit: number, field: number, maskAt: number) => {
        if (!(flags & bit)) return;
        c.i32(pg.u16(m + maskAt));
        c.get(L_P).mem(Op.i32_load, 2, field);
        if (flags & 4) c.get(L_IN); else if (flags & 8) c.get(L_OUT); else c.i32(0);
        c.i32(limit ? 1 : 0).call(F_ADDRTYPE);
        c.op(Op.i32_shr_u).i32(1).op(Op.i32_and);
        failIf(c, (inv & bit) !== 0);
      };
      test(1, abi.PKT_OUT_SRC, 4);
      test(2, abi.PKT_OUT_DST, 6);
      return;
    }
    case abi.M_TCP:
    case abi.M_UDP: {
      const present = pg.u8(m + 15);
      if (present & 8) break; // a TCP option test: the core's
      // tcp_mt / udp_mt on a sound header (the compiled walk runs only for those)
      c.get(L_P).mem(Op.i32_load8_u, 0, abi.PKT_PROTO).i32(kind === abi.M_TCP ? 6 : 17).op(Op.i32_ne);
      failIf(c, true);
      const range = (bit: number, field: number, loAt: number) => {
        if (!(present & bit)) return;
        const lo = pg.u16(m + loAt), hi = pg.u16(m + loAt + 2);
        // (lo <= port && port <= hi) != inverted; as one unsigned compare: port - lo <= hi - lo
        c.get(L_P).mem(Op.i32_load16_u, 1, field).i32(lo).op(Op.i32_sub).i32(hi - lo).op(Op.i32_le_u);
        if (hi < lo) { c.op(Op.drop).i32(0); }
        failIf(c, (inv & bit) !== 0);
      };
      range(1, abi.PKT_OUT_SPORT, 4);
      range(2, abi.PKT_OUT_DPORT, 8);
      if (kind === abi.M_TCP && (present & 4)) {
        c.get(L_P).mem(Op.i32_load8_u, 0, abi.PKT_TCPFLAGS).i32(pg.u8(m + 12)).op(Op.i32_and).i32(pg.u8(m + 13)).op(Op.i32_eq);
        failIf(c, (inv & 4) !== 0);
      }
      return;
    }
    default:
      break;
  }
  c.get(L_P).i32(prog + e).i32(prog + m).call(F_MATCH);
  failIf(c, false);
}

export { VOID };
