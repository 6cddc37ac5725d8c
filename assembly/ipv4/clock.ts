/**
 * The virtual clock. Packet timestamps (PKT_TIME, ns) drive it; it never runs
 * backwards (a packet stamped earlier than its predecessor is processed at the
 * predecessor's time, as a real capture's reordering would be).
 */
import { hz } from "../config";

let nowNs: u64 = 0;
/** Jiffies start high so that "jiffies - 60*HZ" never goes below zero. */
const JIFFIES_BASE: i64 = 1 << 40;
/** jiffies at nowNs, for HZ = nowHz (recomputed when either changes). */
let nowJiffies: i64 = JIFFIES_BASE;
let nowHz: u32 = 0;

function recalc(): void {
  nowHz = hz;
  // split so that epoch-scale timestamps (~1.7e18 ns) times HZ cannot overflow
  const secs = nowNs / 1000000000;
  const frac = nowNs % 1000000000;
  nowJiffies = JIFFIES_BASE + <i64>(secs * <u64>hz + (frac * <u64>hz) / 1000000000);
}

export function clockAdvance(t: u64): void {
  if (t > nowNs) { nowNs = t; recalc(); }
}
export function clockNow(): u64 { return nowNs; }
export function clockReset(): void { nowNs = 0; recalc(); }

/** jiffies at the current virtual time. */
// @ts-ignore: decorator
@inline export function jiffies(): i64 {
  if (nowHz != hz) recalc();
  return nowJiffies;
}
