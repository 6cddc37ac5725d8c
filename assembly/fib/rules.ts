/**
 * Policy routing rules: fib_rules_lookup (net/core/fib_rules.c) with the IPv4
 * match and action (net/ipv4/fib_rules.c), ending in __fib_lookup.
 *
 * Rules are ABI RULE_* records sorted by priority (equal priorities keep their
 * order), exactly the order `ip rule show` prints.
 */
import {
  RULE_SIZE, RULE_PREF, RULE_ACTION, RULE_FLAGS, RULE_SRC_LEN, RULE_DST_LEN, RULE_SRC, RULE_DST,
  RULE_MARK, RULE_MARK_MASK, RULE_TABLE, RULE_GOTO, RULE_IIF, RULE_OIF, RULE_TOS, RULE_IPPROTO,
  RULE_SPORT_LO, RULE_SPORT_HI, RULE_DPORT_LO, RULE_DPORT_HI, RULE_SUPPRESS_PLEN, RULE_SUPPRESS_GROUP,
  RULE_UID_LO, RULE_UID_HI, RF_INVERT, FR_ACT_TO_TBL, FR_ACT_GOTO, FR_ACT_NOP, FR_ACT_UNREACHABLE,
  FR_ACT_PROHIBIT, RT_DEV, DEV_GROUP,
} from "../abi";
import { zalloc, release } from "../util/mem";
import { maskOf } from "../util/ip";
import { EAGAIN, EINVAL, ENETUNREACH, EACCES, ESRCH } from "../util/errno";
import {
  flIif, flOif, flMark, flSaddr, flDaddr, flTos, flProto, flSport, flDport, flUid,
  resPlen, resRoute, clearResult, setResultRule,
} from "./flow";
import { fibTableLookup } from "./table";
import { devPtr } from "../dev";

let rules: usize = 0;
let ruleCount: u32 = 0;

export function rulesSet(rec: usize, count: u32): void {
  release(rules);
  ruleCount = count;
  rules = zalloc(<usize>(count + 1) * RULE_SIZE);
  memory.copy(rules, rec, <usize>count * RULE_SIZE);
}

export function rulesTotal(): u32 { return ruleCount; }

// @ts-ignore: decorator
@inline function portInRange(lo: u32, hi: u32, p: u32): bool {
  // fib_rule_port_range_set: both ends non-zero
  return lo == 0 || hi == 0 || (p >= lo && p <= hi);
}

/** fib_rule_match + fib4_rule_match, inversion included. */
function ruleMatches(r: usize): bool {
  let ok = true;
  const iif = <u32>load<u16>(r, RULE_IIF);
  const oif = <u32>load<u16>(r, RULE_OIF);
  const mask = load<u32>(r, RULE_MARK_MASK);
  if (iif != 0 && iif != flIif) ok = false;
  else if (oif != 0 && oif != flOif) ok = false;
  else if (((load<u32>(r, RULE_MARK) ^ flMark) & mask) != 0) ok = false;
  else if (flUid < load<u32>(r, RULE_UID_LO) || flUid > load<u32>(r, RULE_UID_HI)) ok = false;
  else if (((flSaddr ^ load<u32>(r, RULE_SRC)) & maskOf(load<u8>(r, RULE_SRC_LEN))) != 0) ok = false;
  else if (((flDaddr ^ load<u32>(r, RULE_DST)) & maskOf(load<u8>(r, RULE_DST_LEN))) != 0) ok = false;
  else {
    const tos = <u32>load<u8>(r, RULE_TOS);
    const proto = <u32>load<u8>(r, RULE_IPPROTO);
    if (tos != 0 && tos != (flTos & 0x1c)) ok = false;
    else if (proto != 0 && proto != flProto) ok = false;
    else if (!portInRange(load<u16>(r, RULE_SPORT_LO), load<u16>(r, RULE_SPORT_HI), flSport)) ok = false;
    else if (!portInRange(load<u16>(r, RULE_DPORT_LO), load<u16>(r, RULE_DPORT_HI), flDport)) ok = false;
  }
  return (load<u8>(r, RULE_FLAGS) & RF_INVERT) != 0 ? !ok : ok;
}

/** fib4_rule_suppress: discard a successful result that is too general. */
function suppressed(r: usize): bool {
  const plen = load<i32>(r, RULE_SUPPRESS_PLEN);
  if (<i32>resPlen <= plen) return true;
  const grp = load<i32>(r, RULE_SUPPRESS_GROUP);
  if (grp != -1 && resRoute != 0) {
    const dev = <u32>load<u16>(resRoute, RT_DEV);
    if (dev != 0 && load<i32>(devPtr(dev), DEV_GROUP) == grp) return true;
  }
  return false;
}

/**
 * fib_lookup: walk the rules with the current flow. Returns 0 and the result,
 * or a negative errno: -ENETUNREACH when no rule produced a route (-ESRCH is
 * mapped as __fib_lookup does), or the error of the route/rule that stopped
 * the walk (-EHOSTUNREACH, -EACCES, -EINVAL).
 */
export function fibLookup(flags: u32): i32 {
  clearResult();
  let i: u32 = 0;
  while (i < ruleCount) {
    const r = rules + <usize>i * RULE_SIZE;
    if (!ruleMatches(r)) { i++; continue; }
    const action = <u32>load<u8>(r, RULE_ACTION);
    if (action == FR_ACT_GOTO) {
      const target = load<u32>(r, RULE_GOTO);
      // an unresolved goto is skipped; a resolved one continues the walk at
      // its target, which is matched like any other rule ("goto jumped")
      if (target == 0xffffffff) { i++; continue; }
      i = target;
      continue;
    }
    if (action == FR_ACT_NOP) { i++; continue; }
    let err: i32;
    if (action == FR_ACT_TO_TBL) {
      err = fibTableLookup(load<u32>(r, RULE_TABLE), flags);
      if (err == 0 && suppressed(r)) { i++; continue; }
    } else if (action == FR_ACT_UNREACHABLE) {
      err = -ENETUNREACH;
    } else if (action == FR_ACT_PROHIBIT) {
      err = -EACCES;
    } else {
      err = -EINVAL; // blackhole and anything unknown
    }
    if (err != -EAGAIN) {
      setResultRule(i);
      return err;
    }
    i++;
  }
  return -ENETUNREACH; // -ESRCH from fib_rules_lookup, mapped by __fib_lookup
}

export { ESRCH, RULE_PREF };
