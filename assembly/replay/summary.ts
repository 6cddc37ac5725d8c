/**
 * The replay summary (abi.ts section 10): per-packet bookkeeping of a
 * replay done where the descriptors are, one call per processed batch.
 * Counts only add up, so summaries of several engines (replay --workers)
 * are summed by the host in any order.
 */
import {
  PKT_SHIFT, PKT_LEN, PKT_VERDICT, PKT_REASON, PKT_OIF, PKT_NAT_OPS, PKT_CT_INFO, PKT_NF_RULES, PKT_FLAGS, PKT_REPLY_COUNT,
  PKT_REPLY_FIRST, PKT_PROTO, PKT_TCPFLAGS, PKT_ICMP_TYPE, PKT_ICMP_CODE, PF_LOCAL, VERDICT_DROP, VERDICT_FORWARD,
  SUM_PACKETS, SUM_BYTES, SUM_RULES_TRAVERSED, SUM_REPLIES, SUM_LOCAL_OUT, SUM_VERDICTS, SUM_REPLY_VERDICTS, SUM_VERDICT_SLOTS,
  SUM_NAT_OPS, SUM_DROPS, SUM_DROP_SLOTS, SUM_CTINFO, SUM_KINDS, SUM_KIND_SLOTS, SUM_KIND_SIZE, SUM_KIND_HASH,
  SUM_OIF_PACKETS, SUM_OIF_BYTES, SUM_OIF_END, SUM_SIZE, PKT_PX, PX_MSS_INSERT, SUM_SEEN,
} from "../abi";
import { seenPacket, seenAgreement } from "../capture/seen";
import { zalloc } from "../util/mem";

export function summaryCreate(): usize { return zalloc(SUM_SIZE); }

export function summaryReset(sum: usize): void { memory.fill(sum, 0, SUM_SIZE); }

// @ts-ignore: decorator
@inline function bump(at: usize, by: u64): void { store<u64>(at, load<u64>(at) + by); }

/** One more reply of kind `key` (abi.ts SUM_KINDS). */
function countKind(sum: usize, key: u32): void {
  const mask: u32 = SUM_KIND_SLOTS - 1;
  let i = (key * SUM_KIND_HASH) >>> 22;
  for (let probes: u32 = 0; probes < <u32>SUM_KIND_SLOTS; probes++) {
    const r = sum + SUM_KINDS + <usize>i * SUM_KIND_SIZE;
    const k = load<u32>(r);
    if (k == key || k == 0) {
      store<u32>(r, key);
      store<u64>(r, load<u64>(r, 8) + 1, 8);
      return;
    }
    i = (i + 1) & mask;
  }
  abort("replay summary: reply kind table full");
}

/** Counts descriptors [k0, k1) of the batch at `base` and their replies (reply ring at `replyBase`). */
export function summaryCollect(sum: usize, base: usize, k0: u32, k1: u32, replyBase: usize): void {
  let bytes: u64 = 0, traversed: u64 = 0, local: u64 = 0, replies: u64 = 0, oifEnd = load<u64>(sum, SUM_OIF_END);
  for (let k = k0; k < k1; k++) {
    const p = base + (<usize>k << PKT_SHIFT);
    const v = <u32>load<u8>(p, PKT_VERDICT);
    // the length as it left (the egress bytes per device); the input's total is as it arrived:
    // without the 4 bytes of an MSS option TCPMSS inserted
    const len = <u64>load<u16>(p, PKT_LEN);
    bytes += (load<u8>(p, PKT_PX) & <u8>PX_MSS_INSERT) != 0 ? len - 4 : len;
    if (v < <u32>SUM_VERDICT_SLOTS) bump(sum + SUM_VERDICTS + (<usize>v << 3), 1);
    if (v == VERDICT_DROP) {
      const reason = <u32>load<u16>(p, PKT_REASON);
      if (reason < <u32>SUM_DROP_SLOTS) bump(sum + SUM_DROPS + (<usize>reason << 3), 1);
    } else if (v == VERDICT_FORWARD) {
      const oif = load<u16>(p, PKT_OIF), o = <usize>oif << 3;
      bump(sum + SUM_OIF_PACKETS + o, 1);
      bump(sum + SUM_OIF_BYTES + o, len);
      if (<u64>oif >= oifEnd) oifEnd = <u64>oif + 1;
    }
    const ops = <u32>load<u8>(p, PKT_NAT_OPS);
    if (ops != 0) for (let b: u32 = 0; b < 5; b++) if (ops & (1 << b)) bump(sum + SUM_NAT_OPS + (<usize>b << 3), 1);
    bump(sum + SUM_CTINFO + (<usize>load<u8>(p, PKT_CT_INFO) << 3), 1);
    traversed += <u64>load<u32>(p, PKT_NF_RULES);
    if (seenPacket(p)) {
      bump(sum + SUM_SEEN, 1);
      bump(sum + SUM_SEEN + (<usize>seenAgreement(p) << 3), 1);
    }
    if (load<u16>(p, PKT_FLAGS) & PF_LOCAL) local++;
    const nr = <u32>load<u16>(p, PKT_REPLY_COUNT);
    if (nr != 0) {
      const first = load<u32>(p, PKT_REPLY_FIRST);
      for (let j: u32 = 0; j < nr; j++) {
        const q = replyBase + (<usize>(first + j) << PKT_SHIFT);
        const proto = <u32>load<u8>(q, PKT_PROTO);
        const key = proto == 6
          ? (6 << 16) | (<u32>load<u8>(q, PKT_TCPFLAGS) << 8)
          : (1 << 16) | (<u32>load<u8>(q, PKT_ICMP_TYPE) << 8) | <u32>load<u8>(q, PKT_ICMP_CODE);
        countKind(sum, key);
        const rv = <u32>load<u8>(q, PKT_VERDICT);
        if (rv < <u32>SUM_VERDICT_SLOTS) bump(sum + SUM_REPLY_VERDICTS + (<usize>rv << 3), 1);
        replies++;
      }
    }
  }
  if (k1 > k0) bump(sum + SUM_PACKETS, <u64>(k1 - k0));
  bump(sum + SUM_BYTES, bytes);
  bump(sum + SUM_RULES_TRAVERSED, traversed);
  bump(sum + SUM_LOCAL_OUT, local);
  bump(sum + SUM_REPLIES, replies);
  store<u64>(sum, oifEnd, SUM_OIF_END);
}
