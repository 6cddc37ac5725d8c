/**
 * The replay's per-packet bookkeeping as it was written in JavaScript before
 * it moved into the core (assembly/replay/summary.ts, talkers.ts): the
 * reference model the tests compare the core's summaries with. Kept as it
 * was (only the exports and these comments differ).
 */
import * as abi from "../../host/core/abi.js";
import { emptyCollector, type CollectorData } from "../../host/report/collect.js";
import { fmix32 } from "../../host/replay/flow.js";

export { emptyCollector };

const TCP_LETTERS = "FSRPAUEC";
const kindCache = new Map<number, string>();
function replyKind(proto: number, a: number, b: number): string {
  const key = (proto << 16) | (a << 8) | b;
  let s = kindCache.get(key);
  if (s === undefined) {
    if (proto === 6) {
      s = "tcp ";
      for (let i = 0; i < 8; i++) if (a & (1 << i)) s += TCP_LETTERS[i];
    } else s = `icmp ${a}/${b}`;
    kindCache.set(key, s);
  }
  return s;
}

/**
 * Counts descriptors [k0, k1) at `base` (the batch just processed) and
 * their replies (in the reply ring at `replyBase`).
 */
export function referenceCollect(c: CollectorData, dv: DataView, base: number, k0: number, k1: number, replyBase: number): void {
  const verdicts = c.verdicts, drops = c.drops, oifP = c.oifPackets, oifB = c.oifBytes, nat = c.natOps, ctinfo = c.ctinfo;
  let bytes = 0, traversed = 0, local = 0;
  for (let k = k0; k < k1; k++) {
    const p = base + k * abi.PKT_SIZE;
    const v = dv.getUint8(p + abi.PKT_VERDICT);
    const len = dv.getUint16(p + abi.PKT_LEN, true);
    bytes += dv.getUint8(p + abi.PKT_PX) & abi.PX_MSS_INSERT ? len - 4 : len;
    verdicts[v]!++;
    if (v === abi.VERDICT_DROP) drops[dv.getUint16(p + abi.PKT_REASON, true)]!++;
    else if (v === abi.VERDICT_FORWARD) {
      const o = dv.getUint16(p + abi.PKT_OIF, true);
      oifP[o] = (oifP[o] ?? 0) + 1;
      oifB[o] = (oifB[o] ?? 0) + len;
    }
    const ops = dv.getUint8(p + abi.PKT_NAT_OPS);
    if (ops) for (let b = 0; b < 5; b++) if (ops & (1 << b)) nat[b]!++;
    ctinfo[dv.getUint8(p + abi.PKT_CT_INFO)]!++;
    traversed += dv.getUint32(p + abi.PKT_NF_RULES, true);
    if (dv.getUint16(p + abi.PKT_FLAGS, true) & abi.PF_LOCAL) local++;
    const nr = dv.getUint16(p + abi.PKT_REPLY_COUNT, true);
    if (nr) {
      const first = dv.getUint32(p + abi.PKT_REPLY_FIRST, true);
      for (let j = 0; j < nr; j++) {
        const q = replyBase + (first + j) * abi.PKT_SIZE;
        const proto = dv.getUint8(q + abi.PKT_PROTO);
        const kind = proto === 6 ? replyKind(6, dv.getUint8(q + abi.PKT_TCPFLAGS), 0) : replyKind(1, dv.getUint8(q + abi.PKT_ICMP_TYPE), dv.getUint8(q + abi.PKT_ICMP_CODE));
        c.replyKinds[kind] = (c.replyKinds[kind] ?? 0) + 1;
        c.replyVerdicts[dv.getUint8(q + abi.PKT_VERDICT)]!++;
        c.replies++;
      }
    }
  }
  c.packets += k1 - k0;
  c.bytes += bytes;
  c.rulesTraversed += traversed;
  c.localOut += local;
}

/** host/report/talkers.ts's Misra-Gries summary, in JavaScript. */
export class ReferenceTopTalkers {
  private readonly slots: number;
  private readonly cap: number;
  private keys: Uint32Array;
  private counts: Float64Array;
  private bytesOf: Float64Array;
  private used: Uint8Array;
  private size = 0;
  /** Total packets counted. */
  total = 0;
  /** Largest amount a reported count can be below the true one. */
  errorBound = 0;

  constructor(counters = 2048) {
    this.cap = counters;
    this.slots = counters * 2;
    this.keys = new Uint32Array(this.slots);
    this.counts = new Float64Array(this.slots);
    this.bytesOf = new Float64Array(this.slots);
    this.used = new Uint8Array(this.slots);
  }

  add(addr: number, bytes: number): void {
    this.total++;
    const mask = this.slots - 1;
    let i = fmix32(addr) & mask;
    for (;;) {
      if (!this.used[i]) break;
      if (this.keys[i] === addr) { this.counts[i]!++; this.bytesOf[i]! += bytes; return; }
      i = (i + 1) & mask;
    }
    if (this.size < this.cap) {
      this.used[i] = 1;
      this.keys[i] = addr;
      this.counts[i] = 1;
      this.bytesOf[i] = bytes;
      this.size++;
      return;
    }
    this.decrement(); // the new address's single count is absorbed by the decrement
  }

  /** Subtracts the median count from every counter and drops those that reach zero. */
  private decrement(): void {
    const live: number[] = [];
    for (let i = 0; i < this.slots; i++) if (this.used[i]) live.push(this.counts[i]!);
    live.sort((a, b) => a - b);
    const m = Math.max(1, live[live.length >> 1]!);
    this.errorBound += m;
    const keys = this.keys, counts = this.counts, bytes = this.bytesOf, used = this.used;
    this.keys = new Uint32Array(this.slots);
    this.counts = new Float64Array(this.slots);
    this.bytesOf = new Float64Array(this.slots);
    this.used = new Uint8Array(this.slots);
    this.size = 0;
    const mask = this.slots - 1;
    for (let i = 0; i < used.length; i++) {
      if (!used[i] || counts[i]! <= m) continue;
      let j = fmix32(keys[i]!) & mask;
      while (this.used[j]) j = (j + 1) & mask;
      this.used[j] = 1;
      this.keys[j] = keys[i]!;
      this.counts[j] = counts[i]! - m;
      // bytes are scaled down with the count (an estimate once decremented)
      this.bytesOf[j] = Math.round(bytes[i]! * (counts[i]! - m) / counts[i]!);
      this.size++;
    }
  }

  /** The `n` largest, by count then address (deterministic). */
  top(n: number): { addr: number; packets: number; bytes: number }[] {
    const out: { addr: number; packets: number; bytes: number }[] = [];
    for (let i = 0; i < this.slots; i++) if (this.used[i]) out.push({ addr: this.keys[i]!, packets: this.counts[i]!, bytes: this.bytesOf[i]! });
    out.sort((a, b) => b.packets - a.packets || a.addr - b.addr);
    return out.slice(0, n);
  }
}

/** What run.ts's talk() counted: sources (not a local packet's unless its socket chose it) and destinations of descriptors [0, n). */
export function referenceTalk(src: ReferenceTopTalkers, dst: ReferenceTopTalkers, dv: DataView, base: number, n: number): void {
  for (let k = 0; k < n; k++) {
    const p = base + k * abi.PKT_SIZE;
    const len = dv.getUint16(p + abi.PKT_LEN, true);
    if (!(dv.getUint16(p + abi.PKT_FLAGS, true) & abi.PF_LOCAL) || dv.getUint16(p + abi.PKT_FLAGS, true) & abi.PF_SRC_SET) src.add(dv.getUint32(p + abi.PKT_SRC, true) >>> 0, len);
    dst.add(dv.getUint32(p + abi.PKT_DST, true) >>> 0, len);
  }
}
