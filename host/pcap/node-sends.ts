/**
 * What an outgoing IPv4 frame of a capture is (a frame the node
 * transmitted: pcapng epb_flags outbound, SLL/SLL2 PACKET_OUTGOING, a node
 * MAC as the Ethernet source; and any frame on lo, see SKIP_LOOPBACK). The kernel stamps the TTL of what the node
 * itself sends with ip_select_ttl (the socket's IP_TTL, else the route's
 * hoplimit metric, else net.ipv4.ip_default_ttl), and ip_forward lowers a
 * forwarded packet's TTL by one (ip_decrease_ttl), so:
 *  - a fragment, or a header with options, a bad checksum, or a total
 *    length beyond the frame on the wire: OC_OTHER (not replayed);
 *  - a source that is not one of the node's addresses, or a TTL below the
 *    default: OC_FORWARDED, a forwarded copy (a masqueraded one keeps the
 *    lowered TTL);
 *  - a TTL above the default: OC_OTHER;
 *  - the shapes the engine makes itself: a TCP RST with window 0 and no
 *    options (tcp_v4_send_reset, REJECT's nf_send_reset), ICMP errors and
 *    echo replies (icmp_send, icmp_echo): OC_ANSWER;
 *  - TCP, UDP and ICMP echo requests: OC_NODE_SEND, replayed as a packet a
 *    local process sends (PF_LOCAL, JSONL's `iif: "local"`);
 *  - anything else: OC_OTHER.
 * A frame the capture's snaplen cut is classified by the headers it kept:
 * the IPv4 header tells a forwarded copy; a send and an answer need the
 * transport header captured (for TCP with its options: what parseIPv4
 * reads), else OC_OTHER.
 * assembly/capture/decode.ts classifies the same way (outgoingClass).
 */
import type { LoadedNode } from "../node/compile.js";
import { globalSysctl } from "../node/sysctl.js";

export const OC_NODE_SEND = 0, OC_FORWARDED = 1, OC_ANSWER = 2, OC_OTHER = 3;

/** What becomes of the node's sends: replayed as local sends, or skipped as every outgoing frame was before. */
export type NodeSendsMode = "replay" | "skip";

/** Skip kinds (PcapSource.skipped()) of outgoing frames not replayed, by class. */
export const SKIP_FORWARDED = "outgoing: forwarded copy";
export const SKIP_ANSWER = "outgoing: the engine's own answer (RST, ICMP error, echo reply)";
export const SKIP_OTHER = "outgoing: other (fragment, IP options, TTL not the default, other protocol)";
/**
 * An outgoing copy on the loopback device. Everything on lo is what the node
 * sent; libpcap keeps only the incoming copy of it (pcap-linux.c drops the
 * outgoing one), so the incoming copy is the one classified and replayed
 * (as a send: the engine loops it back itself), and an outgoing copy, when
 * a capturer kept it, is skipped.
 */
export const SKIP_LOOPBACK = "loopback: outgoing copy (its incoming copy stands for the send)";
/** --node-sends skip: every outgoing frame, as before. */
export const SKIP_OUTGOING = "outgoing";

export const OUTGOING_KINDS = [SKIP_FORWARDED, SKIP_ANSWER, SKIP_OTHER] as const;

/** The node's local addresses as [address, mask] ranges: its interface addresses and the local table's local routes. */
export function localRanges(node: LoadedNode): { addr: number; mask: number }[] {
  const out: { addr: number; mask: number }[] = [];
  const seen = new Set<string>();
  const add = (a: number, plen: number) => {
    const mask = plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
    const addr = (a & mask) >>> 0;
    const k = `${addr}/${mask}`;
    if (!seen.has(k)) { seen.add(k); out.push({ addr, mask }); }
  };
  for (const a of node.snapshot.addrs) add(a.local, 32);
  for (const r of node.snapshot.routes) if (r.table === 255 && r.type === "local") add(r.prefix, r.plen);
  return out;
}

/** The TTL the node's own sends carry (net.ipv4.ip_default_ttl). */
export function defaultTtl(node: LoadedNode): number {
  return globalSysctl(node.snapshot.sysctl, "net.ipv4.ip_default_ttl");
}

export class OutgoingClassifier {
  readonly ranges: { addr: number; mask: number }[];
  readonly ttl: number;
  constructor(node: LoadedNode) {
    this.ranges = localRanges(node);
    this.ttl = defaultTtl(node);
  }

  isLocal(a: number): boolean {
    for (const r of this.ranges) if (((a & r.mask) >>> 0) === r.addr) return true;
    return false;
  }

  /** The class (OC_*) of the IPv4 datagram at buf[l3..l3 + cap) (the captured bytes; `wire` bytes from l3 on the wire). */
  classify(buf: Uint8Array, l3: number, cap: number, wire: number): number {
    if (cap < 20 || buf[l3] !== 0x45) return OC_OTHER;
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += (buf[l3 + i]! << 8) | buf[l3 + i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    if (s !== 0xffff) return OC_OTHER;
    const ipLen = (buf[l3 + 2]! << 8) | buf[l3 + 3]!;
    if (ipLen < 20 || ipLen > wire) return OC_OTHER;
    if ((((buf[l3 + 6]! << 8) | buf[l3 + 7]!) & 0x3fff) !== 0) return OC_OTHER;
    const src = ((buf[l3 + 12]! << 24) | (buf[l3 + 13]! << 16) | (buf[l3 + 14]! << 8) | buf[l3 + 15]!) >>> 0;
    const ttl = buf[l3 + 8]!;
    if (!this.isLocal(src) || ttl < this.ttl) return OC_FORWARDED;
    if (ttl !== this.ttl) return OC_OTHER;
    // (l4: the transport bytes of the datagram; have: those captured)
    const proto = buf[l3 + 9]!, t = l3 + 20, l4 = ipLen - 20, have = Math.min(cap, ipLen) - 20;
    if (proto === 6) {
      if (l4 < 20 || have < 20) return OC_OTHER;
      const doff = buf[t + 12]! >> 4;
      if ((buf[t + 13]! & 4) !== 0 && doff === 5 && buf[t + 14] === 0 && buf[t + 15] === 0) return OC_ANSWER;
      return doff >= 5 && doff * 4 <= l4 && doff * 4 <= have ? OC_NODE_SEND : OC_OTHER;
    }
    if (proto === 17) return l4 >= 8 && have >= 8 ? OC_NODE_SEND : OC_OTHER;
    if (proto === 1) {
      if (l4 < 8 || have < 8) return OC_OTHER;
      const type = buf[t]!;
      if (type === 8) return OC_NODE_SEND;
      if (type === 0 || type === 3 || type === 4 || type === 5 || type === 11 || type === 12) return OC_ANSWER;
      return OC_OTHER;
    }
    return OC_OTHER;
  }
}

export function outgoingKind(c: number): string {
  return c === OC_FORWARDED ? SKIP_FORWARDED : c === OC_ANSWER ? SKIP_ANSWER : SKIP_OTHER;
}
