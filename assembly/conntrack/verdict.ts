/**
 * Netfilter verdicts as the trackers return them, and the timeout refresh
 * every tracker ends with.
 */
import { ctStatus } from "./entry";
import { IPS_FIXED_TIMEOUT, IPS_CONFIRMED } from "../abi";
import { nfctTime, ctKill, ctSetTimeout } from "./table";

export const NF_DROP: i32 = 0;
export const NF_ACCEPT: i32 = 1;
/** -NF_ACCEPT: "invalid, let the ruleset decide" (the packet continues without an entry). */
export const NF_INVALID: i32 = -1;
/** -NF_REPEAT: the entry was killed (TCP reopen); look the packet up again. */
export const NF_REPEAT: i32 = -4;

/** __nf_ct_refresh_acct: timeout = now + extra (relative until confirmed); fixed timeouts stay. */
// @ts-ignore: decorator
@inline
export function ctRefresh(ref: u32, ct: usize, extra: u32): void {
  const st = ctStatus(ct);
  if (st & IPS_FIXED_TIMEOUT) return;
  ctSetTimeout(ref, (st & IPS_CONFIRMED) != 0 ? extra + nfctTime() : extra);
}

/** nf_ct_kill_acct */
export function ctKillAcct(idx: u32): void { ctKill(idx); }
