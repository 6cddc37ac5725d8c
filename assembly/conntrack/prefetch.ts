/**
 * Prefetch for the connection lookups of a group of packets.
 *
 * With a large table every packet's lookup is a chain of dependent cache
 * misses (bucket, then per node its timeout and link, then the entry).
 * Before a group of PREFETCH_GROUP packets is processed packet by packet,
 * three passes touch, for every packet that arrived on a device, the bucket
 * of its tuple, then the timeouts and links of the first two nodes of that
 * chain and the entries whose tags match; the loads of one pass do not
 * depend on each other, so the CPU overlaps their misses, and the real
 * lookups then find the lines in cache. This changes nothing but timing:
 * the passes only read.
 *
 * The tuple is taken from the descriptor's input header, which is what
 * conntrack sees at PREROUTING (raw rules cannot rewrite addresses).
 */
import {
  PKT_SHIFT, PKT_PROTO, PKT_SRC, PKT_DST, PKT_SPORT, PKT_DPORT, PKT_ICMP_ID, PKT_ICMP_TYPE, PKT_ICMP_CODE,
  PKT_FLAGS, PF_LOCAL,
} from "../abi";
import {
  tupleHashV, ctBucketHead, ctTagOf, ctWordTimeout, ctWordLink, ctWordEntry, ctWordSmall, ctCount,
} from "./table";
import { zalloc, release } from "../util/mem";

/** Below this many entries the table stays in cache and the passes cost more than they save. */
const PREFETCH_MIN_ENTRIES: u32 = 16384;
/** Packets prefetched together (a power of two): enough misses in flight, few enough to stay in L1/L2. */
export const PREFETCH_GROUP: u32 = 64;

/** Per packet of the group: the chain word being followed, and the packet's tag. */
const words: usize = zalloc(<usize>PREFETCH_GROUP << 2);
const tags: usize = zalloc(<usize>PREFETCH_GROUP << 2);
/** Where touched values go (so that the touching loads stay). */
export let touchSink: u32 = 0;

export function ctPrefetchBatch(base: usize, n: u32): void {
  if (ctCount < PREFETCH_MIN_ENTRIES) return;
  for (let i: u32 = 0; i < n; i++) {
    const p = base + (<usize>i << PKT_SHIFT);
    let w: u32 = 0;
    let tag: u32 = 0;
    if ((load<u16>(p, PKT_FLAGS) & PF_LOCAL) == 0) {
      const proto = <u32>load<u8>(p, PKT_PROTO);
      let ports: u32 = 0;
      if (proto == 6 || proto == 17 || proto == 132 || proto == 136) {
        ports = <u32>load<u16>(p, PKT_SPORT) | (<u32>load<u16>(p, PKT_DPORT) << 16);
      } else if (proto == 1) {
        ports = <u32>load<u16>(p, PKT_ICMP_ID) | (((<u32>load<u8>(p, PKT_ICMP_TYPE) << 8) | <u32>load<u8>(p, PKT_ICMP_CODE)) << 16);
      }
      const hash = tupleHashV(load<u32>(p, PKT_SRC), load<u32>(p, PKT_DST), ports, proto);
      w = ctBucketHead(hash);
      tag = ctTagOf(hash);
    }
    store<u32>(words + (<usize>i << 2), w);
    store<u32>(tags + (<usize>i << 2), tag);
  }
  let acc: u32 = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (let i: u32 = 0; i < n; i++) {
      const a = words + (<usize>i << 2);
      const w = load<u32>(a);
      if (w == 0) continue;
      acc ^= ctWordTimeout(w);
      if ((w & 0xf0000000) == load<u32>(tags + (<usize>i << 2))) {
        const e = ctWordEntry(w);
        acc ^= load<u32>(e) ^ load<u32>(e, 32);
        if (!ctWordSmall(w)) acc ^= load<u32>(e, 76);
      }
      store<u32>(a, ctWordLink(w));
    }
  }
  touchSink = acc;
}
