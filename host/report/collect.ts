/**
 * What a replay did, counted in the core from the packet descriptors'
 * numeric fields (assembly/replay/summary.ts, one call per batch) and read
 * out as plain arrays, mergeable: each worker keeps one, the main thread
 * adds them up (plain arrays cross postMessage).
 * Sums do not depend on the order packets were counted in, so the merged
 * totals are the same whatever the number of workers.
 */
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { CT_STATE_NAMES, DROP_NAMES, VERDICT_NAMES } from "../packet/result.js";
import type { ReplayStats } from "../replay/jsonl.js";

export interface CollectorData {
  packets: number;
  bytes: number;
  /** By VERDICT_*. */
  verdicts: number[];
  /** By DROP_* reason. */
  drops: number[];
  /** Forwarded (sent) packets and bytes by egress device slot. */
  oifPackets: number[];
  oifBytes: number[];
  /** Packets by NAT operation bit (NAT_OP_*: bit 0..4). */
  natOps: number[];
  /** Packets by ctinfo (CTINFO_*, 255 = no entry). */
  ctinfo: number[];
  /** Sum of rules traversed. */
  rulesTraversed: number;
  /** Packets the node sent back: total, by verdict, by kind (key "tcp RA", "icmp 3/3"). */
  replies: number;
  replyVerdicts: number[];
  replyKinds: Record<string, number>;
  /** Packets sent by local processes (iif "local"). */
  localOut: number;
  /**
   * Packets that carried their capture copy's header (abi.ts PKT_SEEN_*):
   * [0] all of them, [SEEN_*] by how they compare with it.
   */
  seen: number[];
}

export function emptyCollector(): CollectorData {
  return {
    packets: 0, bytes: 0, verdicts: [0, 0, 0, 0], drops: new Array<number>(abi.DROP_MAX).fill(0),
    oifPackets: [], oifBytes: [], natOps: [0, 0, 0, 0, 0], ctinfo: new Array<number>(256).fill(0),
    rulesTraversed: 0, replies: 0, replyVerdicts: [0, 0, 0, 0], replyKinds: {}, localOut: 0,
    seen: new Array<number>(abi.SUM_SEEN_SLOTS).fill(0),
  };
}

const TCP_LETTERS = "FSRPAUEC";
/** The name of a reply kind key (abi.ts SUM_KINDS): "tcp RA", "icmp 3/3". */
export function replyKindName(key: number): string {
  const proto = key >>> 16, a = (key >>> 8) & 255, b = key & 255;
  if (proto !== 6) return `icmp ${a}/${b}`;
  let s = "tcp ";
  for (let i = 0; i < 8; i++) if (a & (1 << i)) s += TCP_LETTERS[i];
  return s;
}

/**
 * The collector of one engine: a replay summary record in its core
 * (abi.ts section 10), counting each processed batch in one core call.
 */
export class Collector {
  /** The record's address in the core's memory. */
  readonly ptr: number;

  constructor(private readonly engine: Engine) {
    this.ptr = engine.core.summary_create();
    engine.mem.refresh();
  }

  /**
   * Counts descriptors [k0, k1) of the batch at `base` (just processed)
   * and their replies (in the reply ring at `replyBase`).
   */
  collect(base: number, k0: number, k1: number, replyBase: number): void {
    this.engine.core.summary_collect(this.ptr, base, k0, k1, replyBase);
  }

  /** What was counted so far. */
  read(): CollectorData {
    const mem = this.engine.mem;
    mem.refresh();
    const u64 = mem.u64, at = this.ptr / 8;
    const n = (off: number, i = 0) => Number(u64[at + off / 8 + i]!);
    const list = (off: number, len: number) => Array.from({ length: len }, (_, i) => n(off, i));
    const c: CollectorData = {
      packets: n(abi.SUM_PACKETS), bytes: n(abi.SUM_BYTES), verdicts: list(abi.SUM_VERDICTS, abi.SUM_VERDICT_SLOTS),
      drops: list(abi.SUM_DROPS, abi.DROP_MAX), oifPackets: [], oifBytes: [], natOps: list(abi.SUM_NAT_OPS, 5),
      ctinfo: list(abi.SUM_CTINFO, 256), rulesTraversed: n(abi.SUM_RULES_TRAVERSED), replies: n(abi.SUM_REPLIES),
      replyVerdicts: list(abi.SUM_REPLY_VERDICTS, abi.SUM_VERDICT_SLOTS), replyKinds: {}, localOut: n(abi.SUM_LOCAL_OUT),
      seen: list(abi.SUM_SEEN, abi.SUM_SEEN_SLOTS),
    };
    // devices that forwarded nothing stay holes, as in arrays built by counting
    for (let o = 0, end = n(abi.SUM_OIF_END); o < end; o++) {
      const p = n(abi.SUM_OIF_PACKETS, o);
      if (p) { c.oifPackets[o] = p; c.oifBytes[o] = n(abi.SUM_OIF_BYTES, o); }
    }
    const kinds: [number, number][] = [];
    for (let i = 0; i < abi.SUM_KIND_SLOTS; i++) {
      const r = this.ptr + abi.SUM_KINDS + i * abi.SUM_KIND_SIZE;
      const key = mem.u32[r / 4]!;
      if (key) kinds.push([key, Number(u64[r / 8 + 1]!)]);
    }
    for (const [key, k] of kinds.sort((x, y) => x[0] - y[0])) c.replyKinds[replyKindName(key)] = k;
    return c;
  }

  /** Counts from zero again. */
  reset(): void { this.engine.core.summary_reset(this.ptr); }

  /** Releases the record. */
  free(): void { this.engine.core.free(this.ptr); }
}

function addArr(a: number[], b: number[]): void {
  for (let i = 0; i < b.length; i++) if (b[i] !== undefined) a[i] = (a[i] ?? 0) + b[i]!;
}

/** a += b. */
export function mergeCollector(a: CollectorData, b: CollectorData): void {
  a.packets += b.packets;
  a.bytes += b.bytes;
  addArr(a.verdicts, b.verdicts);
  addArr(a.drops, b.drops);
  addArr(a.oifPackets, b.oifPackets);
  addArr(a.oifBytes, b.oifBytes);
  addArr(a.natOps, b.natOps);
  addArr(a.ctinfo, b.ctinfo);
  a.rulesTraversed += b.rulesTraversed;
  a.replies += b.replies;
  addArr(a.replyVerdicts, b.replyVerdicts);
  for (const [k, n] of Object.entries(b.replyKinds)) a.replyKinds[k] = (a.replyKinds[k] ?? 0) + n;
  a.localOut += b.localOut;
  addArr(a.seen, b.seen);
}

/** NAT_OP_* bit -> the name JSONL results use (PacketResult.nat). */
const NAT_NAMES: [number, string][] = [[abi.NAT_OP_DNAT, "DNAT"], [abi.NAT_OP_SNAT, "SNAT"], [abi.NAT_OP_ICMP_INNER, "ICMP_INNER"], [abi.NAT_OP_SETUP_DST, "BIND_DST"], [abi.NAT_OP_SETUP_SRC, "BIND_SRC"]];

/** Sort key of a reply kind: ICMP by type/code first, then TCP by flag bits (as a number). */
function replyKey(kind: string): number {
  if (kind.startsWith("icmp ")) {
    const [t, c] = kind.slice(5).split("/");
    return (Number(t) << 8) | Number(c);
  }
  let v = 0;
  for (const ch of kind.slice(4)) v |= 1 << TCP_LETTERS.indexOf(ch);
  return 0x10000 | v;
}

/**
 * The collector's counts named as the JSONL replay's summary names them
 * (ReplayStats, the fields host/replay/jsonl.ts accumulate() sums from
 * results): the same numbers for the same packets. Conntrack states and
 * rules traversed are only counted when the engine's ruleset has them, as
 * results only carry them then. `seconds` is 0 (the caller times).
 */
export function collectorStats(c: CollectorData, engine: Engine): ReplayStats {
  const nf = engine.nfDecode();
  const out: ReplayStats = { packets: c.packets, verdicts: {}, drops: {}, byOif: {}, replies: {}, nat: {}, ctstates: {}, rulesTraversed: 0, seconds: 0 };
  c.verdicts.forEach((n, v) => { if (n) out.verdicts[VERDICT_NAMES[v] ?? String(v)] = n; });
  c.drops.forEach((n, i) => { if (n) out.drops[DROP_NAMES[i] ?? String(i)] = n; });
  const devs = engine.node.devBySlot;
  c.oifPackets.forEach((n, s) => { if (n && s > 0) out.byOif[devs[s]?.name ?? String(s)] = n; });
  for (const k of Object.keys(c.replyKinds).sort((a, b) => replyKey(a) - replyKey(b))) out.replies[k] = c.replyKinds[k]!;
  if (nf) {
    for (const [bit, name] of NAT_NAMES) { const n = c.natOps[31 - Math.clz32(bit)]!; if (n) out.nat[name] = n; }
    out.rulesTraversed = c.rulesTraversed;
    if (nf.conntrack) c.ctinfo.forEach((n, i) => { if (n) { const k = CT_STATE_NAMES[i] ?? String(i); out.ctstates[k] = (out.ctstates[k] ?? 0) + n; } });
  }
  return out;
}
