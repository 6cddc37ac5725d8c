/**
 * IPv4 reassembly as conntrack's defragmentation does it on a node: arriving
 * fragments are gathered at PREROUTING (nf_defrag_ipv4, priority -400:
 * nf_ct_ipv4_gather_frags -> ip_defrag with user IP_DEFRAG_CONNTRACK_IN),
 * before raw, conntrack, mangle, nat and filter, which see the whole
 * datagram. Mirrors net/ipv4/ip_fragment.c and net/ipv4/inet_fragment.c:
 *
 *  - queues keyed as ip4_frag_match: (saddr, daddr, id, protocol); the
 *    defrag user and the l3mdev vif are the same for every arriving packet;
 *  - ip_frag_queue: the final fragment fixes the length (another end, or
 *    data beyond it, kills the queue), non-final ends are cut to 8 bytes, an
 *    empty fragment kills the queue; inet_frag_queue_insert's runs of
 *    contiguous fragments: a fragment inside one run is a duplicate
 *    (dropped, DUP_FRAG; the queue lives on), any other intersection an
 *    overlap (IpExtReasmOverlaps, the queue dies: IpReasmFails);
 *  - ip_frag_too_far: a per-source counter of fragments (inet_peer rid);
 *    more than net.ipv4.ipfrag_max_dist since the queue's previous fragment
 *    counts IpReasmFails and ip_frag_reinit empties the queue (its
 *    fragments dropped, FRAG_TOO_FAR; max_size kept, timer restarted);
 *  - ip_expire: net.ipv4.ipfrag_time after the queue was created (or
 *    reinitialised), in capture time: IpReasmFails + IpReasmTimeout, no ICMP
 *    (frag_expire_skip_icmp: conntrack's users never send one);
 *  - ip_frag_reasm: the offset-0 fragment's header, tot_len = header + data,
 *    tos |= the ECN the fragments agree on (ip_frag_ecn_table; a mix with
 *    not-ECT fails), frag_off = DF when the largest fragment carried DF
 *    (max_df_size == max_size) else 0, checksum recomputed, above 65535
 *    bytes a failure; frag_max_size = the largest fragment's total length.
 *
 * Not modelled (an error names the frame): the fragment memory limit
 * (net.ipv4.ipfrag_high_thresh, counted in skb truesize, which a capture
 * does not show): more fragments queued at once than could fit in it.
 */
import { globalSysctl } from "../node/sysctl.js";
import { csumAdd, csumFold } from "./wire.js";

export interface DefragConfig {
  /** net.ipv4.ipfrag_time in ns (default 30 s). */
  timeoutNs: number;
  /** net.ipv4.ipfrag_max_dist (default 64; 0: no check). */
  maxDist: number;
  /** net.ipv4.ipfrag_high_thresh in bytes (default 4 MB). */
  highThresh: number;
}

/** The sysctls from a snapshot's sysctl.txt, with the kernel's defaults (ipv4_frags_init_net). */
export function defragConfig(sysctl: Map<string, string> | undefined): DefragConfig {
  const num = (k: string): number => globalSysctl(sysctl ?? new Map(), k);
  return {
    timeoutNs: num("net.ipv4.ipfrag_time") * 1e9, // proc_dointvec_jiffies: seconds
    maxDist: Math.max(0, num("net.ipv4.ipfrag_max_dist")),
    highThresh: num("net.ipv4.ipfrag_high_thresh"),
  };
}

/**
 * The truesize the kernel's own sizing comment gives a 1500-byte fragment
 * (ipv4_frags_init_net: "1500 truesize == 2944"), and sizeof(struct ipq):
 * the bound on queued fragments below which the memory limit is taken as
 * not reached.
 */
const FRAG_TRUESIZE = 2944;
const IPQ_SIZE = 200;

/** Why fragments left the queues without becoming a datagram (summary keys). */
export const FRAG_DROP = {
  duplicate: "duplicate (DUP_FRAG)",
  overlap: "overlap (IpExtReasmOverlaps)",
  tooFar: "too far (ipfrag_max_dist)",
  timeout: "timeout (ipfrag_time)",
  corrupt: "inconsistent length (end beyond or before the final fragment's, or empty)",
  ecn: "ECN mix with not-ECT",
  oversize: "reassembled datagram over 65535 bytes",
} as const;

const INET_FRAG_FIRST_IN = 1;
const INET_FRAG_LAST_IN = 2;

/** ip_frag_ecn_table, indexed by the OR of 1 << (tos & 3) over the fragments: the ECN to OR into tos, or 0xff (invalid). */
const ECN_TABLE = (() => {
  const NOT_ECT = 1, ECT_1 = 2, ECT_0 = 4, CE = 8;
  const t = new Uint8Array(16);
  t[CE | ECT_0] = 3; t[CE | ECT_1] = 3; t[CE | ECT_0 | ECT_1] = 3;
  for (const m of [CE, ECT_0, ECT_1, ECT_0 | ECT_1, CE | ECT_0, CE | ECT_1, CE | ECT_0 | ECT_1]) t[NOT_ECT | m] = 0xff;
  return t;
})();

interface Frag {
  offset: number;
  end: number;
  /** The fragment's data bytes that were captured (copied: the reader's buffer is reused). */
  data: Uint8Array;
}

/** A run of contiguous fragments (FRAG_CB(skb)->frag_run_len): the unit the duplicate test works on. */
interface Run { start: number; end: number; frags: Frag[] }

class FragQueue {
  runs: Run[] = [];
  /** fragments_tail: the fragment with the highest end, appended last. */
  tail: Frag | null = null;
  lastRun: Run | null = null;
  len = 0;
  meat = 0;
  flags = 0;
  maxSize = 0;
  maxDfSize = 0;
  ecn = 0;
  rid = 0;
  deadline = 0;
  /** Fragments held. */
  count = 0;
  /** The offset-0 fragment's header bytes. */
  header: Uint8Array | null = null;
  constructor(readonly key: string, readonly saddr: number) {}
}

/** A reassembled datagram: bytes[0 .. cap) captured of `length` (cap < length when a fragment was cut by the snaplen). */
export interface Datagram {
  bytes: Uint8Array;
  cap: number;
  length: number;
  /** IPCB(skb)->frag_max_size. */
  fragMax: number;
  /** Fragments it was made of. */
  fragments: number;
}

/** Counts the reassembly adds to the SNMP counters (nstat names). */
export interface DefragCounters {
  IpReasmReqds: number;
  IpReasmOKs: number;
  IpReasmFails: number;
  IpReasmTimeout: number;
  IpExtReasmOverlaps: number;
  /** ip_rcv of the fragments that did not become a datagram's descriptor (the completing one's is the core's). */
  IpInReceives: number;
  /**
   * ip_rcv_core's IpExtInOctets and ECN count of every fragment, the
   * completing one's too (its own skb->len and ECN bits, not the
   * datagram's): the core counts neither for a reassembled datagram's
   * descriptor (PKT_FRAG_MAX).
   */
  IpExtInOctets: number;
  IpExtInNoECTPkts: number;
  IpExtInECT1Pkts: number;
  IpExtInECT0Pkts: number;
  IpExtInCEPkts: number;
}

/** The DefragCounters of an ECN codepoint (tos & 3: INET_ECN_NOT_ECT, ECT_1, ECT_0, CE). */
const ECN_COUNTER = ["IpExtInNoECTPkts", "IpExtInECT1Pkts", "IpExtInECT0Pkts", "IpExtInCEPkts"] as const;

/** DefragCounters all zero. */
export function noDefragCounters(): DefragCounters {
  return {
    IpReasmReqds: 0, IpReasmOKs: 0, IpReasmFails: 0, IpReasmTimeout: 0, IpExtReasmOverlaps: 0, IpInReceives: 0,
    IpExtInOctets: 0, IpExtInNoECTPkts: 0, IpExtInECT1Pkts: 0, IpExtInECT0Pkts: 0, IpExtInCEPkts: 0,
  };
}

export class DefragError extends Error {}

export class Defragmenter {
  private readonly queues = new Map<string, FragQueue>();
  /** inet_peer rid per source address. */
  private readonly peerRid = new Map<number, number>();
  private nextDeadline = Infinity;
  private queued = 0;
  readonly counters: DefragCounters = noDefragCounters();
  /** Fragments that became datagrams, and the datagrams. */
  reassembledFragments = 0;
  datagrams = 0;
  /** Fragments dropped, by FRAG_DROP reason. */
  readonly dropped = new Map<string, number>();

  constructor(readonly cfg: DefragConfig) {}

  /** Fragments still queued (their datagrams incomplete). */
  get pending(): number { return this.queued; }

  private drop(reason: string, n: number): void {
    if (n > 0) this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + n);
  }

  /** Removes a queue (inet_frag_kill); its fragments counted as dropped for `reason`. */
  private kill(q: FragQueue, reason: string): void {
    this.queues.delete(q.key);
    this.queued -= q.count;
    this.drop(reason, q.count);
  }

  /** ip_expire for every queue whose timer ran out by `nowNs` (call as capture time advances). */
  advance(nowNs: number): void {
    if (nowNs < this.nextDeadline) return;
    let next = Infinity;
    for (const q of [...this.queues.values()]) {
      if (q.deadline <= nowNs) {
        this.counters.IpReasmFails++;
        this.counters.IpReasmTimeout++;
        this.kill(q, FRAG_DROP.timeout);
      } else if (q.deadline < next) next = q.deadline;
    }
    this.nextDeadline = next;
  }

  /**
   * One arriving fragment (its IPv4 header sound: parseIPv4 said
   * WIRE_FRAGMENT) at b[o..): `cap` bytes captured of `wire` on the wire
   * (its skb->len at ip_rcv, padding included), at capture time `nowNs`.
   * Returns the datagram it completes, or null (queued or dropped).
   */
  add(b: Uint8Array, o: number, cap: number, nowNs: number, wire = cap): Datagram | null {
    this.advance(nowNs);
    const c = this.counters;
    const tos = b[o + 1]!;
    // its own ip_rcv_core: IpExtInOctets and the ECN codepoint, whatever becomes of it
    c.IpExtInOctets += wire;
    c[ECN_COUNTER[tos & 3]!]++;
    c.IpReasmReqds++;
    c.IpInReceives++; // taken back below when this fragment becomes the datagram
    const ihl = (b[o]! & 15) * 4;
    const totLen = (b[o + 2]! << 8) | b[o + 3]!;
    const id = (b[o + 4]! << 8) | b[o + 5]!;
    const fo = (b[o + 6]! << 8) | b[o + 7]!;
    const proto = b[o + 9]!;
    const saddr = ((b[o + 12]! << 24) | (b[o + 13]! << 16) | (b[o + 14]! << 8) | b[o + 15]!) >>> 0;
    const daddr = ((b[o + 16]! << 24) | (b[o + 17]! << 16) | (b[o + 18]! << 8) | b[o + 19]!) >>> 0;
    const key = `${saddr}:${daddr}:${id}:${proto}`;
    let q = this.queues.get(key);
    if (!q) {
      // inet_frag_create: the timer starts with the queue
      if ((this.queued + 1) * FRAG_TRUESIZE + (this.queues.size + 1) * IPQ_SIZE > this.cfg.highThresh) {
        throw new DefragError(`more IPv4 fragments queued at once (${this.queued + 1} in ${this.queues.size + 1} datagrams) than nodeplane can be sure fit the kernel's fragment memory limit (net.ipv4.ipfrag_high_thresh ${this.cfg.highThresh} bytes of skb truesize); the limit is not modelled`);
      }
      q = new FragQueue(key, saddr);
      q.deadline = nowNs + this.cfg.timeoutNs;
      if (q.deadline < this.nextDeadline) this.nextDeadline = q.deadline;
      this.queues.set(key, q);
    }
    // ip_frag_too_far, then ip_frag_reinit
    if (this.cfg.maxDist > 0) {
      const start = q.rid;
      const end = ((this.peerRid.get(saddr) ?? 0) + 1) >>> 0;
      this.peerRid.set(saddr, end);
      q.rid = end;
      if (q.tail !== null && ((end - start) >>> 0) > this.cfg.maxDist) {
        c.IpReasmFails++;
        this.queued -= q.count;
        this.drop(FRAG_DROP.tooFar, q.count);
        q.count = 0;
        q.runs = []; q.tail = null; q.lastRun = null; q.header = null;
        q.flags = 0; q.len = 0; q.meat = 0; q.ecn = 0;
        q.deadline = nowNs + this.cfg.timeoutNs;
        if (q.deadline < this.nextDeadline) this.nextDeadline = q.deadline;
      }
    }
    const mf = (fo & 0x2000) !== 0;
    const offset = (fo & 0x1fff) << 3;
    let end = offset + totLen - ihl;
    const discard = (): null => {
      c.IpReasmFails++;
      this.kill(q!, FRAG_DROP.corrupt);
      this.drop(FRAG_DROP.corrupt, 1);
      return null;
    };
    if (!mf) {
      if (end < q.len || ((q.flags & INET_FRAG_LAST_IN) !== 0 && end !== q.len)) return discard();
      q.flags |= INET_FRAG_LAST_IN;
      q.len = end;
    } else {
      end &= ~7;
      if (end > q.len) {
        if (q.flags & INET_FRAG_LAST_IN) return discard();
        q.len = end;
      }
    }
    if (end === offset) return discard();
    // inet_frag_queue_insert
    const capData = Math.max(0, Math.min(cap, totLen) - ihl);
    const frag: Frag = { offset, end, data: b.slice(o + ihl, o + ihl + Math.min(capData, end - offset)) };
    const tail = q.tail;
    if (tail === null) {
      const run: Run = { start: offset, end, frags: [frag] };
      q.runs.push(run); q.lastRun = run; q.tail = frag;
    } else if (tail.end < end) {
      if (offset < tail.end) return this.overlap(q);
      if (offset === tail.end) { q.lastRun!.frags.push(frag); q.lastRun!.end = end; }
      else { const run: Run = { start: offset, end, frags: [frag] }; q.runs.push(run); q.lastRun = run; }
      q.tail = frag;
    } else {
      let at = q.runs.length;
      for (let i = 0; i < q.runs.length; i++) {
        const r = q.runs[i]!;
        if (end <= r.start) { at = i; break; }
        if (offset >= r.end) continue;
        if (offset >= r.start && end <= r.end) {
          this.drop(FRAG_DROP.duplicate, 1); // SKB_DROP_REASON_DUP_FRAG: the queue lives on
          return null;
        }
        return this.overlap(q);
      }
      q.runs.splice(at, 0, { start: offset, end, frags: [frag] });
    }
    q.count++;
    this.queued++;
    q.meat += end - offset;
    q.ecn |= 1 << (tos & 3);
    if (offset === 0) {
      q.flags |= INET_FRAG_FIRST_IN;
      q.header = b.slice(o, o + ihl);
    }
    const fragsize = end - offset + ihl;
    if (fragsize > q.maxSize) q.maxSize = fragsize;
    if ((fo & 0x4000) !== 0 && fragsize > q.maxDfSize) q.maxDfSize = fragsize;
    if (q.flags === (INET_FRAG_FIRST_IN | INET_FRAG_LAST_IN) && q.meat === q.len) return this.reasm(q);
    return null;
  }

  private overlap(q: FragQueue): null {
    this.counters.IpExtReasmOverlaps++;
    this.counters.IpReasmFails++;
    this.kill(q, FRAG_DROP.overlap);
    this.drop(FRAG_DROP.overlap, 1);
    return null;
  }

  /** ip_frag_reasm. */
  private reasm(q: FragQueue): Datagram | null {
    const c = this.counters;
    this.queues.delete(q.key);
    this.queued -= q.count;
    const ecn = ECN_TABLE[q.ecn]!;
    if (ecn === 0xff) { c.IpReasmFails++; this.drop(FRAG_DROP.ecn, q.count); return null; }
    const hdr = q.header!;
    const ihl = hdr.length;
    const length = ihl + q.len;
    if (length > 65535) { c.IpReasmFails++; this.drop(FRAG_DROP.oversize, q.count); return null; }
    const bytes = new Uint8Array(length);
    bytes.set(hdr, 0);
    // the captured prefix: up to the first fragment the snaplen cut
    let cap = length;
    for (const r of q.runs) {
      for (const f of r.frags) {
        bytes.set(f.data, ihl + f.offset);
        if (f.data.length < f.end - f.offset && ihl + f.offset + f.data.length < cap) cap = ihl + f.offset + f.data.length;
      }
    }
    bytes[1] = bytes[1]! | ecn;
    bytes[2] = length >> 8; bytes[3] = length & 255;
    const df = q.maxDfSize === q.maxSize;
    bytes[6] = df ? 0x40 : 0; bytes[7] = 0;
    bytes[10] = 0; bytes[11] = 0;
    const sum = 0xffff - csumFold(csumAdd(bytes, 0, ihl, 0));
    bytes[10] = sum >> 8; bytes[11] = sum & 255;
    c.IpReasmOKs++;
    c.IpInReceives--; // the completing fragment's ip_rcv is the datagram's (the core counts it)
    this.reassembledFragments += q.count;
    this.datagrams++;
    return { bytes, cap, length, fragMax: Math.max(q.maxDfSize, q.maxSize), fragments: q.count };
  }

  /** Fragments dropped and pending, for the summary (FRAG_DROP reasons; "queued at the end" for pending). */
  outcome(): Record<string, number> {
    const out: Record<string, number> = {};
    if (this.reassembledFragments) out[`reassembled into ${this.datagrams} datagram${this.datagrams === 1 ? "" : "s"}`] = this.reassembledFragments;
    for (const [k, n] of [...this.dropped].sort((a, b) => a[0] < b[0] ? -1 : 1)) out[`dropped: ${k}`] = n;
    if (this.queued) out["still queued at the end of the capture (datagram incomplete)"] = this.queued;
    return out;
  }
}
