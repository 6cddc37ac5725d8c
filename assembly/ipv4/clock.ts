/**
 * The virtual clock. Packet timestamps (PKT_TIME, ns) drive it; it never runs
 * backwards (a packet stamped earlier than its predecessor is processed at the
 * predecessor's time, as a real capture's reordering would be).
 */
import { hz } from "../config";

let nowNs: u64 = 0;
/** Jiffies start high so that "jiffies - 60*HZ" never goes below zero. */
const JIFFIES_BASE: i64 = 1 << 40;

export function clockAdvance(t: u64): void {
  if (t > nowNs) nowNs = t;
}
export function clockNow(): u64 { return nowNs; }
export function clockReset(): void { nowNs = 0; }

/** jiffies at the current virtual time. */
export function jiffies(): i64 {
  return JIFFIES_BASE + <i64>((nowNs * <u64>hz) / 1000000000);
}
