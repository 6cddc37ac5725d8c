/**
 * What a replay did, accumulated from the packet descriptors' numeric fields
 * (assembly/abi.ts) with no object per packet, and mergeable: each worker
 * keeps one, the main thread adds them up (plain arrays cross postMessage).
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
}

export function emptyCollector(): CollectorData {
  return {
    packets: 0, bytes: 0, verdicts: [0, 0, 0, 0], drops: new Array<number>(abi.DROP_MAX).fill(0),
    oifPackets: [], oifBytes: [], natOps: [0, 0, 0, 0, 0], ctinfo: new Array<number>(256).fill(0),
    rulesTraversed: 0, replies: 0, replyVerdicts: [0, 0, 0, 0], replyKinds: {}, localOut: 0,
  };
}

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
export function collect(c: CollectorData, dv: DataView, base: number, k0: number, k1: number, replyBase: number): void {
  const verdicts = c.verdicts, drops = c.drops, oifP = c.oifPackets, oifB = c.oifBytes, nat = c.natOps, ctinfo = c.ctinfo;
  let bytes = 0, traversed = 0, local = 0;
  for (let k = k0; k < k1; k++) {
    const p = base + k * abi.PKT_SIZE;
    const v = dv.getUint8(p + abi.PKT_VERDICT);
    const len = dv.getUint16(p + abi.PKT_LEN, true);
    bytes += len;
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
