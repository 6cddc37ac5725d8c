/**
 * Prefetch for the connection lookups of a group of packets.
 *
 * With a large table every packet's lookup is a chain of dependent cache
 * misses (bucket, then per node its timeout and link, then the entry).
 * Before a group of PREFETCH_GROUP packets is processed packet by packet,
 * passes touch, for every packet that arrived on a device, the bucket of its
 * tuple, then a node per pass (its timeout and link) down that chain until
 * one whose tag matches, whose entry is touched; the loads of one pass do not
 * depend on each other, so the CPU overlaps their misses, and the real
 * lookups then find the lines in cache. This changes nothing but timing:
 * the passes only read.
 *
 * The pipeline overlaps the passes with work: while a group is processed,
 * the next group's passes run a step at a time (pfStart, pfStep), so a pass
 * finds its loads landed instead of waiting for them.
 *
 * Within a pass the loads that miss are issued from loops of their own
 * (bucket heads after all the hashes, entries after the nodes): a few
 * instructions per load, so that the CPU's reorder window holds many of
 * them at once. Interleaved with the hashing it held a handful. Measured in
 * the conntrack bench at 64k connections (ct-loop, alternating builds,
 * 2026-11-22 12:40-12:55 UTC): p10 195-216 ns a packet against 218-260
 * before; at 1M within the noise.
 *
 * The tuple is taken from the descriptor's input header, which is what
 * conntrack sees at PREROUTING (raw rules cannot rewrite addresses).
 */
import {
  PKT_SHIFT, PKT_PROTO, PKT_SRC, PKT_DST, PKT_SPORT, PKT_DPORT, PKT_ICMP_ID, PKT_ICMP_TYPE, PKT_ICMP_CODE,
  PKT_FLAGS, PF_LOCAL,
} from "../abi";
import {
  tupleHashV, ctBucketHead, ctTagOf, ctPrefetchNode, ctPrefetchEntry, ctPrefetchHit, ctCount,
} from "./table";
import { zalloc, release } from "../util/mem";

/** Below this many entries the table stays in cache and the passes cost more than they save. */
const PREFETCH_MIN_ENTRIES: u32 = 32768;
/** Packets prefetched together (a power of two): enough misses in flight, few enough to stay in L1/L2. */
export const PREFETCH_GROUP: u32 = 64;
/** Chain nodes followed at most. */
const MAX_STEPS: i32 = 8;

/** Per packet of the group: the chain word being followed, and the packet's tag. */
const words: usize = zalloc(<usize>PREFETCH_GROUP << 2);
const tags: usize = zalloc(<usize>PREFETCH_GROUP << 2);
/** Entries found by a pass, touched after it. */
const ents: usize = zalloc(<usize>PREFETCH_GROUP << 2);
/** Chains still followed (packed at the front of words/tags), and passes made. */
let active: u32 = 0;
let passes: i32 = 0;

/** Prefetching on (the default) or off: tests compare both, ablation benches time both. */
let pfEnabled: bool = true;
export function pfSetEnabled(on: bool): void { pfEnabled = on; }

/** Is the table large enough for prefetching to pay (decided per batch: it changes nothing but timing)? */
// @ts-ignore: decorator
@inline export function pfWorthwhile(): bool { return pfEnabled && ctCount >= PREFETCH_MIN_ENTRIES; }

/**
 * Starts prefetching the `n` packets at `base`: their buckets' heads. The
 * loads are issued now and land while the caller does other work; pfStep
 * then goes one node further down every chain.
 */
export function pfStart(base: usize, n: u32): void {
  active = 0;
  passes = 0;
  if (!pfWorthwhile()) return;
  for (let i: u32 = 0; i < n; i++) {
    const p = base + (<usize>i << PKT_SHIFT);
    if ((load<u16>(p, PKT_FLAGS) & PF_LOCAL) != 0) continue;
    const proto = <u32>load<u8>(p, PKT_PROTO);
    let ports: u32 = 0;
    if (proto == 6 || proto == 17 || proto == 132 || proto == 136) {
      ports = <u32>load<u16>(p, PKT_SPORT) | (<u32>load<u16>(p, PKT_DPORT) << 16);
    } else if (proto == 1) {
      ports = <u32>load<u16>(p, PKT_ICMP_ID) | (((<u32>load<u8>(p, PKT_ICMP_TYPE) << 8) | <u32>load<u8>(p, PKT_ICMP_CODE)) << 16);
    }
    const hash = tupleHashV(load<u32>(p, PKT_SRC), load<u32>(p, PKT_DST), ports, proto);
    const slot = <usize>active << 2;
    store<u32>(words + slot, hash);
    store<u32>(tags + slot, ctTagOf(hash));
    active++;
  }
  // the bucket loads in a loop of their own: a few instructions each, so that
  // many of their misses are in flight at once (between the hashes they would
  // be a few)
  for (let j: u32 = 0; j < active; j++) {
    const slot = <usize>j << 2;
    store<u32>(words + slot, ctBucketHead(load<u32>(words + slot)));
  }
}

/**
 * One node further down every chain still followed: its timeout and link,
 * and, when its tag matches (most likely the connection), its entry, which
 * ends that chain. Returns false when nothing is left to follow.
 */
export function pfStep(): bool {
  if (active == 0 || passes >= MAX_STEPS) return false;
  passes++;
  let kept: u32 = 0, found: u32 = 0;
  for (let j: u32 = 0; j < active; j++) {
    const w = load<u32>(words + (<usize>j << 2));
    if (w == 0) continue;
    const tag = load<u32>(tags + (<usize>j << 2));
    const next = ctPrefetchNode(w, tag);
    if (next == 0) {
      // the chain ended, or the connection (most likely) was found: its entry's lines in the next loop
      if (ctPrefetchHit != 0) { store<u32>(ents + (<usize>found << 2), ctPrefetchHit); found++; }
      continue;
    }
    store<u32>(words + (<usize>kept << 2), next);
    store<u32>(tags + (<usize>kept << 2), tag);
    kept++;
  }
  // the entries in a loop of their own: a few instructions each, many misses in flight
  for (let j: u32 = 0; j < found; j++) ctPrefetchEntry(load<u32>(ents + (<usize>j << 2)));
  active = kept;
  return active != 0;
}

/** Prefetches the `n` packets at `base` completely, now. */
export function ctPrefetchBatch(base: usize, n: u32): void {
  pfStart(base, n);
  while (pfStep()) {}
}
