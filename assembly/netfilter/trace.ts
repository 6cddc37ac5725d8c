/**
 * The rule trace ring (abi.ts section 7): per packet, the entries that
 * matched (and, in trace-all mode, every entry examined), in evaluation
 * order, as a linked chain of records. Cleared with every batch, like the
 * reply ring.
 */
import { PKT_NF_TRACE_FIRST, PKT_NF_TRACE_COUNT, PKT_NF_TRACE_LAST, PKT_PX, PX_TRACE_TRUNC, TRACE_REC } from "../abi";
import { zalloc, release } from "../util/mem";
import { jitState } from "./jit";
import { JS_TRACE } from "../abi";

let ring: usize = 0;
let cap: u32 = 0;
let used: u32 = 0;
/** Record every entry examined (not only the matching ones), and walk chains without indexes. */
export let traceAll = false;
/**
 * Record the entries that matched (TRACE_MATCHED and TRACE_ALL); off when
 * nobody reads per-packet rule lists (a summary-only replay), which saves
 * the ring writes of every matched rule.
 */
export let traceOn = true;

/** Trace modes (trace_init). */
export const TRACE_OFF: u32 = 0;
export const TRACE_MATCHED: u32 = 1;
export const TRACE_ALL: u32 = 2;

export function traceInit(capacity: u32, mode: u32): void {
  if (capacity != cap) {
    release(ring);
    ring = zalloc(<usize>max<u32>(capacity, 1) * TRACE_REC);
    cap = capacity;
    used = 0;
  }
  traceAll = mode == TRACE_ALL;
  traceOn = mode != TRACE_OFF;
  store<u32>(jitState, traceOn ? 1 : 0, JS_TRACE); // what compiled walks read
}
export function traceRingPtr(): usize { return ring; }
export function traceRingUsed(): u32 { return used; }
export function traceClear(): void { used = 0; }

/** Appends a record to packet `p`'s chain. */
export function traceRecord(p: usize, rec: u32): void {
  if (used >= cap) {
    store<u8>(p, load<u8>(p, PKT_PX) | <u8>PX_TRACE_TRUNC, PKT_PX);
    return;
  }
  const r = ring + <usize>used * TRACE_REC;
  store<u32>(r, rec);
  store<u32>(r, 0xffffffff, 4);
  const n = load<u32>(p, PKT_NF_TRACE_COUNT);
  if (n == 0) store<u32>(p, used, PKT_NF_TRACE_FIRST);
  else store<u32>(ring + <usize>load<u32>(p, PKT_NF_TRACE_LAST) * TRACE_REC, used, 4);
  store<u32>(p, used, PKT_NF_TRACE_LAST);
  store<u32>(p, n + 1, PKT_NF_TRACE_COUNT);
  used++;
}
