/**
 * The reply ring: packets the node generates while processing a batch (ICMP
 * errors, TCP resets, echo replies) are full descriptors here, linked from the
 * packet that caused them (PKT_REPLY_FIRST / PKT_REPLY_COUNT) and back
 * (PKT_PARENT). The ring is cleared at the start of every batch.
 */
import {
  PKT_SIZE, PKT_SHIFT, PKT_REPLY_FIRST, PKT_REPLY_COUNT, PKT_PARENT, PKT_FLAGS, PKT_TIME, PF_REPLY, PKT_CT_INFO,
  CTINFO_NONE, PKT_NF_DROP_HOOK, PKT_NF_VERDICT_RULE, PKT_RT_INDEX, PKT_RULE_INDEX, PKT_PX, PX_KSOCK,
} from "../abi";
import { zalloc, release } from "../util/mem";
import { seedArmPacket } from "../util/random";

let ring: usize = 0;
let ringCap: u32 = 0;
let ringUsed: u32 = 0;
/** Replies that did not fit (the host sizes the ring so this stays 0). */
let ringOverflow: u32 = 0;
/** Index, in the batch, of the packet being processed. */
let curIndex: u32 = 0;
/** The top-level packet being processed (replies of replies link to it). */
let curPacket: usize = 0;

export function replyRingInit(cap: u32): void {
  if (cap <= ringCap) return;
  release(ring);
  ring = zalloc(<usize>cap << PKT_SHIFT);
  ringCap = cap;
}
export function replyRingPtr(): usize { return ring; }
export function replyRingUsed(): u32 { return ringUsed; }
export function replyRingOverflow(): u32 { return ringOverflow; }
export function replyRingClear(): void { ringUsed = 0; ringOverflow = 0; }

export function setCurrent(p: usize, index: u32): void {
  curPacket = p;
  curIndex = index;
  seedArmPacket(p);
  store<u32>(p, 0xffffffff, PKT_REPLY_FIRST);
  store<u16>(p, 0, PKT_REPLY_COUNT);
}

/** A zeroed reply descriptor caused by the current packet, or 0 if the ring is full. */
export function replyAlloc(cause: usize): usize {
  if (ringUsed >= ringCap) { ringOverflow++; return 0; }
  const q = ring + (<usize>ringUsed << PKT_SHIFT);
  memory.fill(q, 0, PKT_SIZE);
  store<u16>(q, PF_REPLY, PKT_FLAGS);
  store<u16>(q, <u16>curIndex, PKT_PARENT);
  store<u64>(q, load<u64>(cause, PKT_TIME), PKT_TIME);
  store<u32>(q, 0xffffffff, PKT_REPLY_FIRST);
  store<u32>(q, 0xffffffff, PKT_RT_INDEX);
  store<u32>(q, 0xffffffff, PKT_RULE_INDEX);
  store<u8>(q, <u8>CTINFO_NONE, PKT_CT_INFO);
  store<u8>(q, 0xff, PKT_NF_DROP_HOOK);
  store<u32>(q, 0xffffffff, PKT_NF_VERDICT_RULE);
  // the kernel's own replies go out on a control socket (no file behind it)
  store<u8>(q, <u8>PX_KSOCK, PKT_PX);
  const top = curPacket;
  if (load<u16>(top, PKT_REPLY_COUNT) == 0) store<u32>(top, ringUsed, PKT_REPLY_FIRST);
  store<u16>(top, load<u16>(top, PKT_REPLY_COUNT) + 1, PKT_REPLY_COUNT);
  ringUsed++;
  return q;
}
