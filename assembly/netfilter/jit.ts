/**
 * Compiled chain walks: the core's side of host/netfilter/jit/.
 *
 * For a table's built-in chain at a hook, the host may compile the rules it
 * can reach into WebAssembly (one function per chain, the rules' constants
 * folded into the code) and put the built-in chain's function into the
 * core's function table; iptDoTable (walk.ts) then calls it instead of
 * interpreting the program, for the packets the compiled walk is exact for:
 *
 *   - rule tracing off or of the matched entries only (TRACE_OFF,
 *     TRACE_MATCHED: the compiled code records them through jitTrace), and
 *   - a sound transport header (PKT_L4_BYTES 0): the matches that hotdrop a
 *     malformed one (tcp, udp, icmp, multiport, tcpmss) cannot hotdrop it,
 *     and the host compiles no table that can reach an sctp or dccp match,
 *     the two that hotdrop sound packets too.
 *
 * Everything else takes the interpreter, and so do the chains too long to
 * compile: the compiled code calls jitWalkChain for them. The compiled walk keeps
 * ipt_do_table's semantics exactly: rules in order, the same counters
 * (rules, policies, implicit returns), jumps, gotos, returns, policies, the
 * same rules-examined count (PKT_NF_RULES) and verdict entry. Matches and
 * targets the host does not inline call back into the core (jitMatch,
 * jitTarget), which run the interpreter's own code for them.
 *
 * The compiled code and the core share JIT_STATE (abi.ts): the core writes
 * the hook's devices and the packet's conntrack state bits before the call
 * (and the bits again after each target it runs); the compiled code writes
 * the verdict entry, and a target's drop reason through jitTarget.
 */
import { JIT_STATE_SIZE, JS_VERDICT_ENTRY, JS_DROP_REASON, JS_IN_DEV, JS_OUT_DEV, JS_CT_STATE, JS_CT_ENTRY, JS_TRACE, E_TARGET, DROP_NETFILTER, TR_MATCHED } from "../abi";
import { hsIn, hsOut } from "./state";
import { matchOne, ctStateBitOf, devAddrType } from "./match";
import { pktCt, pktCtInfo } from "../conntrack/core";
import { ctPtr } from "../conntrack/table";
import { runTarget, TGT_CONTINUE, targetDropReason } from "./targets";
import { traceRecord } from "./trace";
import { walkChain, NF_CONTINUE, verdictEntry, walkDropReason } from "./walk";

/** The state shared with the compiled walks (JIT_STATE layout in abi.ts). */
export const jitState: usize = memory.data(JIT_STATE_SIZE);
store<u32>(jitState, 1, JS_TRACE); // trace.ts's traceOn starts true; traceInit keeps the two in step

/**
 * Function-table index of the compiled walk of table T at hook H (T * 5 +
 * H), 0 = interpret; JIT_NEEDS_CT set when its code reads JS_CT_STATE,
 * JIT_NEEDS_ENTRY when it reads JS_CT_ENTRY.
 */
const jitSlots = new StaticArray<u32>(20);
const JIT_NEEDS_CT: u32 = 0x80000000;
const JIT_NEEDS_ENTRY: u32 = 0x40000000;
const JIT_NEEDS = JIT_NEEDS_CT | JIT_NEEDS_ENTRY;

/**
 * Installs (index != 0) or removes (0) the compiled walk of table `t` at
 * hook `h`; `needs`: 1 when its code tests the conntrack state bits, 2 when
 * it reads the connection's entry (a compiled CONNMARK), or both.
 */
export function jitSet(t: u32, h: u32, index: u32, needs: u32): void {
  const flags = (needs & 1 ? JIT_NEEDS_CT : 0) | (needs & 2 ? JIT_NEEDS_ENTRY : 0);
  if (t < 4 && h < 5 && index < JIT_NEEDS_ENTRY) unchecked(jitSlots[t * 5 + h] = index | flags);
}

/** Removes every compiled walk (a new program, or none). */
export function jitClear(): void {
  for (let i = 0; i < jitSlots.length; i++) unchecked(jitSlots[i] = 0);
}

/** The compiled walk of table `t` at hook `h`, 0 if none. */
// @ts-ignore: decorator
@inline export function jitSlot(t: u32, h: u32): u32 { return unchecked(jitSlots[t * 5 + h]); }

/**
 * What the running compiled walk reads of the connection (its JIT_NEEDS
 * flags): only that do the core's targets and interpreted chains it calls
 * write again after they ran (nothing else reads them).
 */
let jitNeeds: u32 = 0;

/**
 * Runs compiled walk `slot` (a jitSlot value) for packet `p`: NF_ACCEPT or
 * NF_DROP; the verdict entry and drop reason are in JIT_STATE afterwards.
 */
// @ts-ignore: decorator
@inline export function jitRun(slot: u32, p: usize): u32 {
  store<u32>(jitState, hsIn, JS_IN_DEV);
  store<u32>(jitState, hsOut, JS_OUT_DEV);
  store<i32>(jitState, DROP_NETFILTER, JS_DROP_REASON);
  const needs = slot & JIT_NEEDS;
  if (needs) jitCtState(p, needs);
  // a target may run a walk of its own (REJECT's icmp_send through OUTPUT): this one's flags after it
  const outer = jitNeeds;
  jitNeeds = needs;
  const v = call_indirect<u32>(slot & ~JIT_NEEDS, p);
  jitNeeds = outer;
  return v;
}

/** The packet's conntrack state bits (JIT_NEEDS_CT) and entry (JIT_NEEDS_ENTRY) into JIT_STATE, as `needs` asks. */
// @ts-ignore: decorator
@inline function jitCtState(p: usize, needs: u32): void {
  const id = pktCt(p);
  const ct: usize = id != 0 ? ctPtr(id - 1) : 0;
  if (needs & JIT_NEEDS_CT) store<u32>(jitState, ctStateBitOf(ct, pktCtInfo(p)), JS_CT_STATE);
  if (needs & JIT_NEEDS_ENTRY) store<u32>(jitState, <u32>ct, JS_CT_ENTRY);
}

/** inet_dev_addr_type for `-m addrtype` in compiled code: `addr`'s RTN_* type, on device `dev` only when `limit`. */
export function jitAddrType(addr: u32, dev: u32, limit: u32): u32 {
  return devAddrType(dev, limit != 0, addr);
}

/** Entry `e`'s match at `m` for packet `p` (a match the compiled code does not inline): 1 or 0. */
export function jitMatch(p: usize, e: usize, m: usize): u32 {
  return matchOne(p, e, m) ? 1 : 0;
}

/**
 * User chain `chain` walked by the interpreter for a compiled walk (a chain
 * too long to compile, walked with its index): NF_CONTINUE when it returns,
 * else its verdict, whose entry and drop reason go to JIT_STATE.
 */
export function jitWalkChain(p: usize, chain: u32): u32 {
  const r = walkChain(p, chain, true);
  if (r != NF_CONTINUE) {
    store<u32>(jitState, verdictEntry, JS_VERDICT_ENTRY);
    store<i32>(jitState, walkDropReason, JS_DROP_REASON);
  } else if (jitNeeds) {
    jitCtState(p, jitNeeds); // its targets may have changed them (and a walk of their own written its own)
  }
  return r;
}

/** Records entry `id` as matched in packet `p`'s rule trace (TRACE_MATCHED). */
export function jitTrace(p: usize, id: u32): void {
  traceRecord(p, id | TR_MATCHED);
}

/** Entry `e`'s (non-standard) target for packet `p`: a verdict (its drop reason in JIT_STATE), or TGT_CONTINUE. */
export function jitTarget(p: usize, e: usize): u32 {
  const r = runTarget(p, e, <u32>load<u8>(e, E_TARGET));
  if (r != TGT_CONTINUE) store<i32>(jitState, targetDropReason, JS_DROP_REASON);
  else if (jitNeeds) jitCtState(p, jitNeeds);
  return r;
}

export { JS_VERDICT_ENTRY, JS_DROP_REASON };
