/**
 * The state of every active flow: one 64-byte record per flow slot (one
 * cache line: a packet touches only its own flow's). "Client" is the side
 * that opened the flow, "server" the side that answers. The client's tuple
 * is what it sends; the server's tuple is what it answers to: the client's
 * packet as it left the node (after NAT), learned by feedback.
 *
 * A slot whose flow ended is released only at the next fill, after the
 * feedback of the batch that carried the flow's last packets.
 *
 * Record layout (byte offsets):
 *   u8   0 kind, 1 direction, 2 next step, 3 side of the last packet sent,
 *        26 flags (FF_DROPPED: feedback saw a drop; FF_RST: ends with a reset),
 *        27 fate of the first packet (1 forwarded or assumed so, 2 delivered
 *        to the node, 3 dropped)
 *   u32  4 the flow's draw key (flowDraw)
 *   u16  8 client sport, 10 client dport, 12 client ingress device,
 *        14 server sport, 16 server dport (ICMP: echo id), 18 server ingress device,
 *        20 client bytes unacknowledged, 22 server bytes unacknowledged,
 *        24 exchanges or echo requests left
 *   u32  28 client src, 32 client dst, 36 server src, 40 server dst,
 *        44 client next seq (ICMP: echo sequence), 48 server next seq,
 *        52 rtt ns, 56 bytes left in the current burst (one side bursts at a time),
 *        60 number of the fill that wrote the flow's last packet
 *
 * The pool (a FP_SIZE-byte record inside the generator's) holds the records,
 * a stack of free slots and the list of slots released during the current
 * fill; all three have `cap` entries (the wheel's per-flow arrays too).
 */
import { grow } from "../util/mem";

export const FLOW_SHIFT: usize = 6;
export const F_KIND: usize = 0, F_DIR: usize = 1, F_STEP: usize = 2, F_LAST_SIDE: usize = 3, F_KEY: usize = 4, F_FLAGS: usize = 26, F_FATE: usize = 27;
/** F_FLAGS bits. */
export const FF_DROPPED: u8 = 1, FF_RST: u8 = 2;
export const F_C_SPORT: usize = 8, F_C_DPORT: usize = 10, F_C_IIF: usize = 12, F_S_SPORT: usize = 14, F_S_DPORT: usize = 16, F_S_IIF: usize = 18;
export const F_C_WIN: usize = 20, F_S_WIN: usize = 22, F_LEFT: usize = 24;
export const F_C_SRC: usize = 28, F_C_DST: usize = 32, F_S_SRC: usize = 36, F_S_DST: usize = 40, F_C_SEQ: usize = 44, F_S_SEQ: usize = 48;
export const F_RTT: usize = 52, F_REM: usize = 56, F_LAST_FILL: usize = 60;

// pool record
const FP_RECS: usize = 0, FP_CAP: usize = 4, FP_USED: usize = 8, FP_FREE: usize = 12, FP_NFREE: usize = 16;
const FP_REL: usize = 20, FP_NREL: usize = 24, FP_ACTIVE: usize = 28;
export const FP_SIZE: usize = 32;

/** The record of flow slot f. */
// @ts-ignore: decorator
@inline export function flowRec(fp: usize, f: u32): usize {
  return load<usize>(fp, FP_RECS) + (<usize>f << FLOW_SHIFT);
}

export function flowsCap(fp: usize): u32 { return load<u32>(fp, FP_CAP); }
export function flowsActive(fp: usize): u32 { return load<u32>(fp, FP_ACTIVE); }

/**
 * Makes room for `n` new flows without growing: returns the new capacity
 * when the arrays had to grow (the caller grows its per-flow arrays to it),
 * else 0.
 */
export function flowsReserve(fp: usize, n: u32): u32 {
  const cap = load<u32>(fp, FP_CAP);
  if (cap - load<u32>(fp, FP_USED) + load<u32>(fp, FP_NFREE) >= n) return 0;
  let c: u32 = cap < 1024 ? 1024 : cap * 2;
  while (c - load<u32>(fp, FP_USED) < n) c *= 2;
  store<usize>(fp, grow(load<usize>(fp, FP_RECS), <usize>cap << FLOW_SHIFT, <usize>c << FLOW_SHIFT), FP_RECS);
  store<usize>(fp, grow(load<usize>(fp, FP_FREE), <usize>cap << 2, <usize>c << 2), FP_FREE);
  store<usize>(fp, grow(load<usize>(fp, FP_REL), <usize>cap << 2, <usize>c << 2), FP_REL);
  store<u32>(fp, c, FP_CAP);
  return c;
}

/** A slot for a new flow (flowsReserve made sure there is one). */
// @ts-ignore: decorator
@inline export function flowAlloc(fp: usize): u32 {
  store<u32>(fp, load<u32>(fp, FP_ACTIVE) + 1, FP_ACTIVE);
  const nf = load<u32>(fp, FP_NFREE);
  if (nf != 0) {
    store<u32>(fp, nf - 1, FP_NFREE);
    return load<u32>(load<usize>(fp, FP_FREE) + (<usize>(nf - 1) << 2));
  }
  const u = load<u32>(fp, FP_USED);
  store<u32>(fp, u + 1, FP_USED);
  return u;
}

/** The flow ended: its slot is reused after the next fill begins. */
// @ts-ignore: decorator
@inline export function flowRelease(fp: usize, f: u32): void {
  store<u32>(fp, load<u32>(fp, FP_ACTIVE) - 1, FP_ACTIVE);
  const nr = load<u32>(fp, FP_NREL);
  store<u32>(load<usize>(fp, FP_REL) + (<usize>nr << 2), f);
  store<u32>(fp, nr + 1, FP_NREL);
}

/** Makes the slots released before this call reusable (in release order, as a stack). */
export function flowsRecycle(fp: usize): void {
  const nr = load<u32>(fp, FP_NREL);
  if (nr == 0) return;
  const nf = load<u32>(fp, FP_NFREE);
  memory.copy(load<usize>(fp, FP_FREE) + (<usize>nf << 2), load<usize>(fp, FP_REL), <usize>nr << 2);
  store<u32>(fp, nf + nr, FP_NFREE);
  store<u32>(fp, 0, FP_NREL);
}
