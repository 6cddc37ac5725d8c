/**
 * Conntrack statistics as `conntrack -S` prints them (the per-CPU
 * ip_conntrack_stat counters, summed). Layout in abi.ts (CTS_*).
 */
import { CTS_MAX } from "../abi";
import { zalloc } from "../util/mem";

export const ctStats: usize = zalloc(CTS_MAX << 3);

// @ts-ignore: decorator
@inline export function ctStat(i: i32): void {
  const p = ctStats + (<usize>i << 3);
  store<u64>(p, load<u64>(p) + 1);
}

export function ctStatAdd(i: i32, n: u32): void {
  const p = ctStats + (<usize>i << 3);
  store<u64>(p, load<u64>(p) + n);
}

export function ctStatsReset(): void {
  memory.fill(ctStats, 0, CTS_MAX << 3);
}
