/**
 * Several CPUs handling packets at once (the race model of conntrack
 * confirmation).
 *
 * In the kernel a new connection's entry is private to the CPU that created
 * it until __nf_conntrack_confirm inserts it in the hash at POSTROUTING (or
 * INPUT). Two CPUs that each see the first packet of a connection in that
 * window do not see each other's entries: both may pick the same NAT tuple
 * (nf_nat_used_tuple only looks at confirmed entries), and the second to
 * confirm finds its tuple taken: clash resolution where the protocol allows
 * it (nf_ct_resolve_clash), else insert_failed and a dropped packet. This is
 * the SNAT port race of many short connections from several pods, and the
 * UDP race of parallel DNS queries.
 *
 * The model: with `smpCpus` > 1 every packet is handled by a CPU, the one in
 * its descriptor (PKT_CPU) or one chosen by a hash of its flow. Packets are
 * taken in order in rounds: a round is the longest run of consecutive
 * packets on different CPUs whose timestamps lie within `smpWindowNs` of the
 * round's first one (the time a CPU spends between conntrack lookup and
 * confirm). A round runs in two phases: every packet goes, in order, as far
 * as its POSTROUTING confirm; then, in the same order, each confirms and is
 * transmitted. Packets sent by local processes, and packets delivered
 * locally, are confirmed where they are (they run alone). With one CPU every
 * round is a single packet: exactly the sequential kernel.
 *
 * Rounds never span process_batch calls; process_batch_partial (index.ts)
 * leaves a batch's last round for the next call, so results do not depend on
 * where the host cuts its batches.
 */
import { PKT_SHIFT, PKT_CPU, PKT_TIME, PKT_FLAGS, PF_LOCAL, PKT_SRC, PKT_DST, PKT_SPORT, PKT_DPORT, PKT_PROTO } from "./abi";
import { tupleHashV } from "./conntrack/table";

/** CPUs modelled (1..64). */
export let smpCpus: u32 = 1;
/** How close in time (ns) packets on different CPUs must be to race. */
export let smpWindowNs: u64 = 5000;
/** True while a round's first phase runs: forwarded packets stop before their confirm. */
export let smpDeferring: bool = false;

export function smpSet(cpus: u32, windowNs: u64): void {
  smpCpus = cpus < 1 ? 1 : cpus > 64 ? 64 : cpus;
  smpWindowNs = windowNs;
}
export function smpSetDeferring(on: bool): void { smpDeferring = on; }

/** The CPU of the packet at `p`: its PKT_CPU, or a hash of its flow (RSS). */
export function cpuOf(p: usize): u32 {
  const c = <u32>load<u8>(p, PKT_CPU);
  if (c != 0) return (c - 1) % smpCpus;
  const h = tupleHashV(load<u32>(p, PKT_SRC), load<u32>(p, PKT_DST),
    <u32>load<u16>(p, PKT_SPORT) | (<u32>load<u16>(p, PKT_DPORT) << 16), <u32>load<u8>(p, PKT_PROTO));
  return <u32>((<u64>(h ^ (h >> 13)) * <u64>smpCpus) >> 32);
}

/**
 * The end (exclusive) of the round starting at packet `i` of the `n` at
 * `base`. A locally sent packet is a round of its own.
 */
export function roundEnd(base: usize, i: u32, n: u32): u32 {
  const first = base + (<usize>i << PKT_SHIFT);
  if (load<u16>(first, PKT_FLAGS) & PF_LOCAL) return i + 1;
  const t0 = load<u64>(first, PKT_TIME);
  let used: u64 = 0;
  let j = i;
  while (j < n) {
    const p = base + (<usize>j << PKT_SHIFT);
    if (j > i) {
      if (load<u16>(p, PKT_FLAGS) & PF_LOCAL) break;
      const t = load<u64>(p, PKT_TIME);
      if (t > t0 && t - t0 > smpWindowNs) break;
    }
    const bit = <u64>1 << cpuOf(p);
    if (used & bit) break;
    used |= bit;
    j++;
  }
  return j;
}
