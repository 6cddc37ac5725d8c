/**
 * ipt_do_table (net/ipv4/netfilter/ip_tables.c): one table's chain walk at
 * one hook.
 *
 * Rules run in order; a rule matches when ip_packet_match and all its
 * extension matches do; its counters then count the packet and its target
 * runs. Standard targets jump (pushing the return point), goto (no push),
 * RETURN (pop, or the built-in chain's policy when the stack is empty) or
 * give a verdict; other targets either continue with the next rule or give
 * a verdict. Falling off a user chain is an implicit RETURN.
 *
 * Chain indexes (abi.ts NFX_*) let the walk jump over runs of rules whose
 * key (destination address, or protocol and destination port) cannot equal
 * the packet's: the kernel would examine each of them and fail before any
 * side effect, so they are counted as examined ("rules traversed") without
 * being evaluated. In trace-all mode the walk examines every rule, so the
 * trace lists them.
 *
 * A table the host compiled (jit.ts) runs its compiled walk instead, with
 * the same semantics, unless every rule is traced (trace-all) or the
 * transport header is malformed.
 */
import {
  PKT_LEN, PKT_PROTO, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_DPORT, PKT_NF_RULES, PKT_PX, PX_NFTRACE,
  E_SIZE, E_TARGET, E_FLAGS, E_ID, E_T0, E_NEXT_SAME, E_NEXT_GEN, E_POS, EF_RULE, E_INV, E_SRC, E_SMSK, E_DST, E_DMSK,
  EI_SRC, EI_DST,
  NFC_FIRST, NFC_INDEX, NFC_MAP, NFC_MAP_MASK, NFC_FIRST_GEN, NFX_NONE, NFX_DST, NFX_PROTO_DPORT,
  T_NONE, T_ACCEPT, T_DROP, T_RETURN, T_JUMP, T_GOTO, T_POLICY, T_IMPLICIT_RETURN,
  TR_MATCHED, TR_HOOK, PKT_L4_BYTES, DROP_NETFILTER, DROP_NF_HOTDROP,
} from "../abi";
import { prog, stack, stackDepth, chainAt, chainPtr, countEntry, policyOnlyAt } from "./program";
import { ipPacketMatch, extMatches, hotdropTake, hotdropPending } from "./match";
import { runTarget, TGT_CONTINUE, targetDropReason } from "./targets";
import { traceAll, traceOn, traceRecord } from "./trace";
import { jitSlot, jitRun, jitState, JS_VERDICT_ENTRY, JS_DROP_REASON } from "./jit";

export const NF_DROP: u32 = 0;
export const NF_ACCEPT: u32 = 1;

/** Entry id of the rule (or policy) whose verdict ended the last walk. */
export let verdictEntry: u32 = 0xffffffff;
/**
 * Why the last walk's NF_DROP dropped: DROP_NETFILTER (a DROP rule, a
 * policy, REJECT), DROP_NF_HOTDROP (a match could not read the header it
 * needs; verdictEntry is that rule), or a NAT target's reason (NAT_NO_ADDR).
 */
export let walkDropReason: i32 = DROP_NETFILTER;

/** Looks `key` up in a chain's index map: offset of the first entry with that key, 0 if none. */
function indexLookup(c: usize, key: u32): u32 {
  const map = prog + load<u32>(c, NFC_MAP);
  const mask = load<u32>(c, NFC_MAP_MASK);
  let i = (key * 0x9E3779B1) >> 8 & mask;
  while (true) {
    const s = map + (<usize>i << 3);
    const off = load<u32>(s, 4);
    if (off == 0) return 0;
    if (load<u32>(s) == key) return off;
    i = (i + 1) & mask;
  }
}

/**
 * Runs table `table`'s chain at `hook` for packet `p`. Returns NF_ACCEPT or
 * NF_DROP; the rules examined are added to PKT_NF_RULES.
 */
export function iptDoTable(p: usize, table: u32, hook: u32): u32 {
  const start = chainAt(table, hook);
  if (start == 0xffffffff) return NF_ACCEPT;
  // a compiled walk (jit.ts), for the packets it is exact for: not every
  // rule traced, a sound transport header
  const jit = jitSlot(table, hook);
  if (jit != 0 && !traceAll && load<u8>(p, PKT_L4_BYTES) == 0) {
    const v = jitRun(jit, p);
    verdictEntry = load<u32>(jitState, JS_VERDICT_ENTRY);
    walkDropReason = load<i32>(jitState, JS_DROP_REASON);
    return v;
  }
  walkDropReason = DROP_NETFILTER;
  const all = traceAll;
  if (all) traceRecord(p, TR_HOOK | (table << 4) | hook);
  // a built-in chain without rules (most of an established packet's table walks)
  const e0 = policyOnlyAt(table, hook);
  if (e0 != 0 && !all) return policyWalk(p, e0);
  return walkChain(p, start, false);
}

/**
 * The walk of a built-in chain without rules, policy entry `e0`: it counts
 * the packet and gives the verdict, as ipt_do_table does reaching it first
 * (what walkChain would do, without its set-up). Not for a walk that traces
 * every rule (traceAll records the hook first).
 */
// @ts-ignore: decorator
@inline function policyWalk(p: usize, e0: usize): u32 {
  walkDropReason = DROP_NETFILTER;
  const id = load<u32>(e0, E_ID);
  countEntry(id, <u32>load<u16>(p, PKT_LEN));
  if (traceOn) traceRecord(p, id | TR_MATCHED);
  verdictEntry = id;
  return load<u32>(e0, E_T0) == T_DROP ? NF_DROP : NF_ACCEPT;
}

/**
 * iptDoTable for the hooks, with a chain without rules walked inline (no
 * call: an established packet's mangle FORWARD and POSTROUTING on an EKS node).
 */
// @ts-ignore: decorator
@inline export function iptDoTableHook(p: usize, table: u32, hook: u32): u32 {
  const e0 = policyOnlyAt(table, hook);
  if (e0 != 0 && !traceAll) return policyWalk(p, e0);
  return iptDoTable(p, table, hook);
}

/** What walkChain returns for a user chain (`sub`) that returned. */
export const NF_CONTINUE: u32 = 2;

/**
 * The interpreter's walk from chain `start`: a table's built-in chain
 * (ending with its policy), or, `sub`, a user chain a compiled walk jumps
 * or goes to (a long one it leaves to the interpreter, with its index):
 * NF_CONTINUE when that chain returns. Rules examined are added to
 * PKT_NF_RULES; verdictEntry and walkDropReason say what decided.
 */
export function walkChain(p: usize, start: u32, sub: bool): u32 {
  walkDropReason = DROP_NETFILTER;
  const all = traceAll;
  // a malformed transport header: a tcp/udp/icmp/multiport match of any rule
  // the kernel examines may hotdrop it, so no rule is skipped by an index
  const malformed = load<u8>(p, PKT_L4_BYTES) != 0;
  const seq = all || malformed;
  // skb->len as ADD_COUNTER reads it (a TCPMSS target that inserts an option makes it 4 more: read again after a target)
  let len = <u32>load<u16>(p, PKT_LEN);
  let c = chainPtr(start);
  const first = load<u32>(c, NFC_FIRST);
  // index keys of the packet (the header does not change during a walk)
  const keyDst = load<u32>(p, PKT_OUT_DST);
  const proto = <u32>load<u8>(p, PKT_PROTO);
  const keyPort = (proto == 6 || proto == 17) ? (proto << 16) | <u32>load<u16>(p, PKT_OUT_DPORT) : 0xffffffff;
  let examined: u32 = 0;
  let sp: u32 = 0;

  // cursor: next entry with the packet's key (cd), next generic entry (cg),
  // position the kernel's walk has reached (pos)
  let chain = start;
  let cd: u32 = 0;
  let cg: u32 = first;
  let pos: u32 = 1;
  let kind = seq ? NFX_NONE : load<u32>(c, NFC_INDEX);
  if (kind != NFX_NONE) {
    cg = load<u32>(c, NFC_FIRST_GEN);
    const key = kind == NFX_DST ? keyDst : keyPort;
    if (key != 0xffffffff) cd = indexLookup(c, key);
  }
  let verdict = NF_ACCEPT;
  const keySrc = load<u32>(p, PKT_OUT_SRC);
  while (true) {
    // a chain walked rule by rule: skip the rules whose addresses fail
    // without the cursor bookkeeping (the common case in long chains;
    // a terminal entry has zero masks and always stops this loop)
    if (!seq) {
      let o = cg;
      const stop = cd == 0 ? 0xffffffff : cd;
      while (o < stop) {
        const x = prog + o;
        const inv = <u32>load<u8>(x, E_INV);
        if ((((keyDst & load<u32>(x, E_DMSK)) ^ load<u32>(x, E_DST)) != 0) == ((inv & EI_DST) == 0) ||
            (((keySrc & load<u32>(x, E_SMSK)) ^ load<u32>(x, E_SRC)) != 0) == ((inv & EI_SRC) == 0)) {
          o = load<u32>(x, E_NEXT_GEN);
          continue;
        }
        break;
      }
      cg = o;
    }
    // next candidate: the nearer of cd and cg (entries of a chain are in order)
    const off = cd != 0 && cd < cg ? cd : cg;
    const e = prog + off;
    const epos = <u32>load<u16>(e, E_POS);
    const isRule = (load<u8>(e, E_FLAGS) & EF_RULE) != 0;
    examined += epos - pos; // skipped rules: examined by the kernel, failed
    if (isRule) examined++;
    pos = epos + 1;
    // advance the cursor past e
    if (off == cd) cd = load<u32>(e, E_NEXT_SAME);
    if (off == cg) cg = load<u32>(e, E_NEXT_GEN);
    if (seq && kind == NFX_NONE) cg = off + <u32>load<u16>(e, E_SIZE);

    const id = load<u32>(e, E_ID);
    const tk = <u32>load<u8>(e, E_TARGET);
    if (!(ipPacketMatch(p, e) && extMatches(p, e))) {
      if (all) traceRecord(p, id);
      // ipt_do_table: `while (!acpar.hotdrop)` ends the walk, NF_DROP; nothing counts the packet
      // (sctp and dccp hotdrop sound packets too: their chunks and generic header, not PKT_L4_BYTES)
      if (hotdropTake()) { walkDropReason = DROP_NF_HOTDROP; verdict = NF_DROP; verdictEntry = id; break; }
      continue;
    }
    countEntry(id, len);
    if (traceOn) traceRecord(p, id | TR_MATCHED);
    if (hotdropPending()) {
      // a match hotdropped yet matched (an inverted sctp --chunk-types): ipt_do_table counts the
      // rule and runs its target, then `while (!acpar.hotdrop)` ends the walk with NF_DROP
      hotdropTake();
      if (tk != T_JUMP && tk != T_GOTO && tk != T_RETURN && tk != T_IMPLICIT_RETURN && tk != T_POLICY &&
          tk != T_ACCEPT && tk != T_DROP && tk != T_NONE) runTarget(p, e, tk);
      walkDropReason = DROP_NF_HOTDROP;
      verdict = NF_DROP;
      verdictEntry = id;
      break;
    }

    if (tk == T_JUMP || tk == T_GOTO) {
      if (tk == T_JUMP) {
        if (sp >= stackDepth) { verdict = NF_DROP; verdictEntry = id; break; }
        const f = stack + (<usize>sp << 4);
        store<u32>(f, chain);
        store<u32>(f, pos, 4);
        store<u32>(f, cd, 8);
        store<u32>(f, cg, 12);
        sp++;
      }
      chain = load<u32>(e, E_T0);
      c = chainPtr(chain);
      kind = seq ? NFX_NONE : load<u32>(c, NFC_INDEX);
      pos = 1;
      cd = 0;
      cg = load<u32>(c, NFC_FIRST);
      if (kind != NFX_NONE) {
        cg = load<u32>(c, NFC_FIRST_GEN);
        const key = kind == NFX_DST ? keyDst : keyPort;
        cd = key != 0xffffffff ? indexLookup(c, key) : 0;
      }
      continue;
    }
    if (tk == T_RETURN || tk == T_IMPLICIT_RETURN) {
      if (sp == 0 && sub) { verdict = NF_CONTINUE; break; } // back to the compiled walk that called it
      if (sp == 0) {
        // underflow: the built-in chain's policy entry
        chain = start;
        c = chainPtr(chain);
        kind = NFX_NONE;
        cd = 0;
        cg = policyEntry(c);
        pos = <u32>load<u16>(prog + cg, E_POS);
        continue;
      }
      sp--;
      const f = stack + (<usize>sp << 4);
      chain = load<u32>(f);
      c = chainPtr(chain);
      kind = seq ? NFX_NONE : load<u32>(c, NFC_INDEX);
      pos = load<u32>(f, 4);
      cd = load<u32>(f, 8);
      cg = load<u32>(f, 12);
      continue;
    }
    if (tk == T_POLICY) {
      verdict = load<u32>(e, E_T0) == T_DROP ? NF_DROP : NF_ACCEPT;
      verdictEntry = id;
      break;
    }
    if (tk == T_ACCEPT) { verdict = NF_ACCEPT; verdictEntry = id; break; }
    if (tk == T_DROP) { verdict = NF_DROP; verdictEntry = id; break; }
    if (tk == T_NONE) continue;
    const r = runTarget(p, e, tk);
    if (r == TGT_CONTINUE) { len = <u32>load<u16>(p, PKT_LEN); continue; }
    verdict = r;
    verdictEntry = id;
    walkDropReason = targetDropReason;
    break;
  }
  store<u32>(p, load<u32>(p, PKT_NF_RULES) + examined, PKT_NF_RULES);
  return verdict;
}

/** The policy entry of a built-in chain: its last entry (walk from the first). */
function policyEntry(c: usize): u32 {
  let off = load<u32>(c, NFC_FIRST);
  while (true) {
    const e = prog + off;
    if (load<u8>(e, E_TARGET) == T_POLICY) return off;
    off += <u32>load<u16>(e, E_SIZE);
  }
}

export { PX_NFTRACE, PKT_PX };
