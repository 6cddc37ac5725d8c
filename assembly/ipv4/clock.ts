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
/** The time (ns) at which jiffies next changes: until then a new timestamp needs no arithmetic. */
let nextTickNs: u64 = 0;

function recalc(): void {
  nowHz = hz;
  // split so that epoch-scale timestamps (~1.7e18 ns) times HZ cannot overflow
  const secs = nowNs / 1000000000;
  const frac = nowNs % 1000000000;
  const inSec = (frac * <u64>hz) / 1000000000;
  nowJiffies = JIFFIES_BASE + <i64>(secs * <u64>hz + inSec);
  // the first ns of the next jiffy: ceil((inSec + 1) * 1e9 / hz) into this second
  nextTickNs = secs * 1000000000 + ((inSec + 1) * 1000000000 + <u64>hz - 1) / <u64>hz;
}

export function clockAdvance(t: u64): void {
  if (t > nowNs) {
    nowNs = t;
    if (t >= nextTickNs) recalc();
  }
}
export function clockNow(): u64 { return nowNs; }
export function clockReset(): void { nowNs = 0; recalc(); }

/** jiffies at the current virtual time. */
// @ts-ignore: decorator
@inline export function jiffies(): i64 {
  if (nowHz != hz) recalc();
  return nowJiffies;
}
