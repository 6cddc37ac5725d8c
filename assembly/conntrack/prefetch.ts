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
 * The passes' answers are kept per packet (the node whose tag matched, and
 * how soon the nodes before it expire), and the packet's lookup takes that
 * node instead of walking its chain again when the walk could not find
 * anything else (pfLookup): the walk is ~4 dependent loads at the bench's
 * 64k connections in 32,768 buckets, even with every line in cache.
 *
 * The tuple is taken from the descriptor's input header, which is what
 * conntrack sees at PREROUTING (raw rules cannot rewrite addresses).
 */
import {
  PKT_SHIFT, PKT_PROTO, PKT_SRC, PKT_DST, PKT_SPORT, PKT_DPORT, PKT_ICMP_ID, PKT_ICMP_TYPE, PKT_ICMP_CODE,
  PKT_FLAGS, PF_LOCAL,
} from "../abi";
import {
  tupleHashV, ctBucketHead, ctTagOf, ctPrefetchNode, ctPrefetchEntry, ctPrefetchHit, ctPrefetchTimeout, ctCount,
  ctEpoch, ctNodeIsLive, nfctTime,
} from "./table";
import { zalloc, release } from "../util/mem";
import { ctBuckets } from "./config";

/**
 * When the passes pay (decided per batch: they change nothing but timing).
 * From PREFETCH_MIN_ENTRIES entries, whatever the chains: below it the table
 * mostly stays in cache and they cost more than they save. From
 * PREFETCH_MIN_ENTRIES_LONG_CHAINS, when the chains are long (two nodes a
 * bucket or more on average: entries >= nf_conntrack_buckets): the lookups
 * then take the passes' answers instead of walking the chains themselves.
 * Measured 2026-11-22 (alternating builds): 16,384 connections in 8,192
 * buckets, conntrack bench, p10 153-166 against 190-270 ns with the passes;
 * the replay of the 1 GB cut capture (40,000 connections in the default
 * 262,144 buckets), passes from 16,384 entries whatever the chains: medians
 * ~5-7% below 32,768 (11 and 6 runs).
 */
const PREFETCH_MIN_ENTRIES: u32 = 32768;
const PREFETCH_MIN_ENTRIES_LONG_CHAINS: u32 = 16384;
/** Packets prefetched together (a power of two): enough misses in flight, few enough to stay in L1/L2. */
export const PREFETCH_GROUP: u32 = 64;
/** Chain nodes followed at most. */
const MAX_STEPS: i32 = 8;

/** Per chain followed: the chain word, the packet's tag, and the packet's index in the group. */
const words: usize = zalloc(<usize>PREFETCH_GROUP << 2);
const tags: usize = zalloc(<usize>PREFETCH_GROUP << 2);
const pidx: usize = zalloc(<usize>PREFETCH_GROUP << 2);

/*
 * What the passes found, per packet of the group (HINT_SIZE bytes each): the
 * node whose tag matched (0: none within MAX_STEPS), and the least time to
 * expiry (jiffies from the passes' start) of the nodes passed before it. Two
 * buffers: the group being prefetched, and the group being processed, whose
 * lookups take these answers (pfLookup).
 */
const HINT_SIZE: usize = 8;
const H_NODE: usize = 0;
const H_MIN_LEFT: usize = 4;
let hintsNext: usize = zalloc(<usize>PREFETCH_GROUP * HINT_SIZE);
let hintsCur: usize = zalloc(<usize>PREFETCH_GROUP * HINT_SIZE);
/** For each buffer: the clock (nfctTime) and ctEpoch when its passes started, and its packets. */
let nextStart: u32 = 0, nextEpoch: u32 = 0, nextCount: u32 = 0;
let curStart: u32 = 0, curEpoch: u32 = 0, curCount: u32 = 0;
/** The packet whose lookup is next (index in the group), or NO_HINT. */
const NO_HINT: u32 = 0xffffffff;
let hintAt: u32 = NO_HINT;
/** Entries found by a pass, touched after it. */
const ents: usize = zalloc(<usize>PREFETCH_GROUP << 2);
/** Chains still followed (packed at the front of words/tags), and passes made. */
let active: u32 = 0;
let passes: i32 = 0;

/** Prefetching on (the default) or off: tests compare both, ablation benches time both. */
let pfEnabled: bool = true;
export function pfSetEnabled(on: bool): void { pfEnabled = on; }

// @ts-ignore: decorator
@inline export function pfWorthwhile(): bool {
  return pfEnabled && (ctCount >= PREFETCH_MIN_ENTRIES || (ctCount >= PREFETCH_MIN_ENTRIES_LONG_CHAINS && ctCount >= ctBuckets));
}

/**
 * Starts prefetching the `n` packets at `base`: their buckets' heads. The
 * loads are issued now and land while the caller does other work; pfStep
 * then goes one node further down every chain.
 */
export function pfStart(base: usize, n: u32): void {
  active = 0;
  passes = 0;
  nextCount = 0;
  if (!pfWorthwhile()) return;
  nextStart = nfctTime();
  nextEpoch = ctEpoch;
  nextCount = n;
  for (let i: u32 = 0; i < n; i++) {
    const p = base + (<usize>i << PKT_SHIFT);
    const h = hintsNext + <usize>i * HINT_SIZE;
    store<u32>(h, 0, H_NODE);
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
    store<u32>(pidx + slot, i);
    store<i32>(h, i32.MAX_VALUE, H_MIN_LEFT);
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
    const i = load<u32>(pidx + (<usize>j << 2));
    const h = hintsNext + <usize>i * HINT_SIZE;
    const next = ctPrefetchNode(w, tag);
    if (ctPrefetchHit != 0) {
      // the connection, most likely: its node for the lookup, its entry's lines in the next loop
      store<u32>(h, w & 0x0fffffff, H_NODE);
      store<u32>(ents + (<usize>found << 2), ctPrefetchHit);
      found++;
      continue;
    }
    // a node the lookup will pass: when it expires
    const left = <i32>(ctPrefetchTimeout - nextStart);
    if (left < load<i32>(h, H_MIN_LEFT)) store<i32>(h, left, H_MIN_LEFT);
    if (next == 0) continue; // the chain ended
    store<u32>(words + (<usize>kept << 2), next);
    store<u32>(tags + (<usize>kept << 2), tag);
    store<u32>(pidx + (<usize>kept << 2), i);
    kept++;
  }
  // the entries in a loop of their own: a few instructions each, many misses in flight
  for (let j: u32 = 0; j < found; j++) ctPrefetchEntry(load<u32>(ents + (<usize>j << 2)));
  active = kept;
  return active != 0;
}

/**
 * The group whose passes just finished is the one processed next: its
 * answers become the lookups' (pfHint, pfLookup), and the other buffer
 * takes the next group's passes.
 */
export function pfPublish(): void {
  const t = hintsCur; hintsCur = hintsNext; hintsNext = t;
  curStart = nextStart; curEpoch = nextEpoch; curCount = nextCount;
  nextCount = 0;
}

/** The next lookup is packet `i` of the group being processed (pfPublish). */
// @ts-ignore: decorator
@inline export function pfHint(i: u32): void { hintAt = i < curCount ? i : NO_HINT; }

/**
 * ____nf_conntrack_find for the packet pfHint named, when the passes' answer
 * is what the walk would find now: the node whose tag matched, if the chains
 * have not changed since the passes started (ctEpoch), no node they passed
 * before it has expired by now (the walk would reap it), and the node itself
 * is live with the tuple (its tag matched first there: no node before it can
 * have the tuple, so its chain is the one the passes followed).
 * Else 0: the caller walks the chain (ctFindV).
 */
// @ts-ignore: decorator
@inline export function pfLookup(src: u32, dst: u32, ports: u32, proto: u32): u32 {
  const at = hintAt;
  hintAt = NO_HINT;
  if (at == NO_HINT || curEpoch != ctEpoch) return 0;
  const h = hintsCur + <usize>at * HINT_SIZE;
  const n = load<u32>(h, H_NODE);
  const now = nfctTime();
  if (n != 0 && <i32>(now - curStart) < load<i32>(h, H_MIN_LEFT) &&
      ctNodeIsLive(n, (<u64>dst << 32) | <u64>src, ports, proto, now)) return n;
  return 0;
}

/** Prefetches the `n` packets at `base` completely, now. */
export function ctPrefetchBatch(base: usize, n: u32): void {
  pfStart(base, n);
  while (pfStep()) {}
}
