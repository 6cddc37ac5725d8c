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

/*
 * The rule index. An EKS node has two rules per pod (`512: to POD lookup
 * main`, `1536: from POD ... lookup ethN`), walked in order on every lookup
 * by the kernel. A rule with a non-inverted /32 `from` can only match a flow
 * with that source, and one with a non-inverted /32 `to` only a flow with that
 * destination, so those rules are filed under their address; the rest stay on
 * a generic list. A lookup merges, in rule order, the generic list with the
 * lists filed under the flow's source and destination: the same rules are
 * tried in the same order as the full walk, minus rules that cannot match.
 *
 * Memory: `idxPos` holds rule positions (generic list first, then one sorted
 * run per key); `srcTab`/`dstTab` are open-addressed tables of KEY_SLOT-byte
 * slots {u32 address, u32 run offset, u32 run length} (length 0 = empty).
 */
const KEY_SLOT: usize = 12;
let idxPos: usize = 0;
let genLen: u32 = 0;
let srcTab: usize = 0;
let dstTab: usize = 0;
let keyMask: u32 = 0;

// @ts-ignore: decorator
@inline function keySlot(tab: usize, addr: u32): usize {
  let s = ((addr * 0x9E3779B1) >> 7) & keyMask;
  while (true) {
    const e = tab + <usize>s * KEY_SLOT;
    if (load<u32>(e, 8) == 0 || load<u32>(e) == addr) return e;
    s = (s + 1) & keyMask;
  }
  return 0;
}

/** 1 = filed under its source, 2 = under its destination, 0 = generic. */
function ruleKeyKind(r: usize): u32 {
  if (load<u8>(r, RULE_FLAGS) & RF_INVERT) return 0;
  if (load<u8>(r, RULE_SRC_LEN) == 32) return 1;
  if (load<u8>(r, RULE_DST_LEN) == 32) return 2;
  return 0;
}

function buildIndex(): void {
  release(idxPos); release(srcTab); release(dstTab);
  let cap: u32 = 16;
  while (cap < ruleCount * 2) cap <<= 1;
  keyMask = cap - 1;
  srcTab = zalloc(<usize>cap * KEY_SLOT);
  dstTab = zalloc(<usize>cap * KEY_SLOT);
  idxPos = zalloc(<usize>(ruleCount + 1) << 2);
  // pass 1: run lengths per key, generic count
  genLen = 0;
  for (let i: u32 = 0; i < ruleCount; i++) {
    const r = rules + <usize>i * RULE_SIZE;
    const kind = ruleKeyKind(r);
    if (kind == 0) { genLen++; continue; }
    const e = kind == 1 ? keySlot(srcTab, load<u32>(r, RULE_SRC)) : keySlot(dstTab, load<u32>(r, RULE_DST));
    store<u32>(e, kind == 1 ? load<u32>(r, RULE_SRC) : load<u32>(r, RULE_DST));
    store<u32>(e, load<u32>(e, 8) + 1, 8);
  }
  // offsets: runs follow the generic list; the offset field is the write cursor while filling
  let off = genLen;
  for (let t = 0; t < 2; t++) {
    const tab = t == 0 ? srcTab : dstTab;
    for (let s: u32 = 0; s <= keyMask; s++) {
      const e = tab + <usize>s * KEY_SLOT;
      store<u32>(e, off, 4);
      off += load<u32>(e, 8);
    }
  }
  // pass 2: positions, in rule order (so every run is sorted)
  let g: u32 = 0;
  for (let i: u32 = 0; i < ruleCount; i++) {
    const r = rules + <usize>i * RULE_SIZE;
    const kind = ruleKeyKind(r);
    if (kind == 0) { store<u32>(idxPos + (<usize>g << 2), i); g++; continue; }
    const e = kind == 1 ? keySlot(srcTab, load<u32>(r, RULE_SRC)) : keySlot(dstTab, load<u32>(r, RULE_DST));
    const k = load<u32>(e, 4);
    store<u32>(idxPos + (<usize>k << 2), i);
    store<u32>(e, k + 1, 4);
  }
  // cursors back to run starts
  for (let t = 0; t < 2; t++) {
    const tab = t == 0 ? srcTab : dstTab;
    for (let s: u32 = 0; s <= keyMask; s++) {
      const e = tab + <usize>s * KEY_SLOT;
      store<u32>(e, load<u32>(e, 4) - load<u32>(e, 8), 4);
    }
  }
}

/** The mark bits any rule's fwmark selector looks at (the route cache keys on these only). */
export let rulesMarkMask: u32 = 0;

export function rulesSet(rec: usize, count: u32): void {
  release(rules);
  ruleCount = count;
  rules = zalloc(<usize>(count + 1) * RULE_SIZE);
  memory.copy(rules, rec, <usize>count * RULE_SIZE);
  rulesMarkMask = 0;
  for (let i: u32 = 0; i < count; i++) rulesMarkMask |= load<u32>(rules + <usize>i * RULE_SIZE, RULE_MARK_MASK);
  buildIndex();
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
  if (ruleCount == 0) return -ENETUNREACH;
  // the three candidate lists (generic, filed under saddr, filed under daddr)
  let gp = idxPos;
  const ge = idxPos + (<usize>genLen << 2);
  const se0 = keySlot(srcTab, flSaddr);
  let sp = idxPos + (<usize>load<u32>(se0, 4) << 2);
  const se = sp + (<usize>load<u32>(se0, 8) << 2);
  const de0 = keySlot(dstTab, flDaddr);
  let dp = idxPos + (<usize>load<u32>(de0, 4) << 2);
  const de = dp + (<usize>load<u32>(de0, 8) << 2);
  let i: u32 = 0;
  while (true) {
    // the next candidate at or after i
    while (gp < ge && load<u32>(gp) < i) gp += 4;
    while (sp < se && load<u32>(sp) < i) sp += 4;
    while (dp < de && load<u32>(dp) < i) dp += 4;
    let c: u32 = gp < ge ? load<u32>(gp) : 0xffffffff;
    if (sp < se && load<u32>(sp) < c) c = load<u32>(sp);
    if (dp < de && load<u32>(dp) < c) c = load<u32>(dp);
    if (c == 0xffffffff) break;
    i = c;
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
