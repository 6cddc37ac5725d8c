/**
 * Link-layer headers in front of the IPv4 packet: Ethernet (with 802.1Q /
 * 802.1ad tags), Linux cooked captures SLL and SLL2, raw IP. Writes what
 * the replay needs into a reused LinkInfo: where the IPv4 header starts,
 * the kind of frame, the direction and ingress hints (SLL2 ifindex,
 * Ethernet MACs, the Linux packet type).
 */
import * as f from "./format.js";

/** Frame kinds (LinkInfo.kind). Only K_IPV4 is replayed. */
export const K_IPV4 = 0;
export const K_ARP = 1;
export const K_IPV6 = 2;
/** Another ethertype (LinkInfo.ethertype says which). */
export const K_OTHER_ETHERTYPE = 3;
/** 802.3 length field + LLC, not Ethernet II. */
export const K_LLC = 4;
/** Raw-IP link type whose version nibble is neither 4 nor 6. */
export const K_RAW_NOT_IP = 5;
/** Too short for its link-layer header. */
export const K_SHORT = 6;

/** Names of the kinds that are counted and reported instead of replayed. */
export function kindName(kind: number, ethertype: number): string {
  switch (kind) {
    case K_ARP: return "ARP";
    case K_IPV6: return "IPv6";
    case K_LLC: return "802.3/LLC";
    case K_RAW_NOT_IP: return "raw non-IP";
    case K_SHORT: return "truncated link-layer header";
    case K_OTHER_ETHERTYPE: return `ethertype 0x${ethertype.toString(16).padStart(4, "0")}`;
    default: return "IPv4";
  }
}

export class LinkInfo {
  kind = K_IPV4;
  ethertype = 0;
  /** Offset in the buffer of the network-layer header. */
  l3 = 0;
  /** Captured bytes from l3 on. */
  l3Cap = 0;
  /** Bytes from l3 on as on the wire (original length minus the link header). */
  l3Wire = 0;
  /** Linux packet type (PACKET_HOST...) when the link layer says it; -1 when unknown. */
  pktType = -1;
  /** SLL2 interface index, 0 when absent. */
  ifindex = 0;
  /** Ethernet destination and source MACs as 48-bit numbers, -1 when absent. */
  dstMac = -1;
  srcMac = -1;
  /** VLAN tags stripped. */
  vlans = 0;
}

function mac48(b: Uint8Array, o: number): number {
  return ((b[o]! << 8) | b[o + 1]!) * 4294967296 + (((b[o + 2]! << 24) | (b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!) >>> 0);
}

/** MAC text (aa:bb:cc:dd:ee:ff) -> 48-bit number, undefined if malformed. */
export function parseMac(s: string): number | undefined {
  const m = /^([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2})$/i.exec(s.trim());
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 6; i++) v = v * 256 + parseInt(m[i]!, 16);
  return v;
}

export function formatMac(v: number): string {
  const out: string[] = [];
  for (let i = 5; i >= 0; i--) out.push((Math.floor(v / 2 ** (8 * i)) % 256).toString(16).padStart(2, "0"));
  return out.join(":");
}

/** Strips VLAN tags from an ethertype at `o`; returns the offset of the final ethertype field. */
function skipTags(b: Uint8Array, o: number, end: number, info: LinkInfo): number {
  let et = (b[o]! << 8) | b[o + 1]!;
  while ((et === f.ETH_P_8021Q || et === f.ETH_P_8021AD || et === f.ETH_P_QINQ1) && o + 6 <= end) {
    o += 4;
    info.vlans++;
    et = (b[o]! << 8) | b[o + 1]!;
  }
  return o;
}

function byEthertype(info: LinkInfo, et: number): void {
  info.ethertype = et;
  info.kind = et === f.ETH_P_IP ? K_IPV4 : et === f.ETH_P_ARP ? K_ARP : et === f.ETH_P_IPV6 ? K_IPV6 : et < 0x600 ? K_LLC : K_OTHER_ETHERTYPE;
}

/**
 * Decodes the link layer of a frame of `capLen` captured bytes at `o`
 * (`origLen` on the wire) with link type `lt`.
 */
export function decodeLink(b: Uint8Array, o: number, capLen: number, origLen: number, lt: number, info: LinkInfo): void {
  const end = o + capLen;
  info.pktType = -1;
  info.ifindex = 0;
  info.dstMac = -1;
  info.srcMac = -1;
  info.vlans = 0;
  info.ethertype = 0;
  let l3: number;
  switch (lt) {
    case f.LINKTYPE_ETHERNET: {
      if (capLen < 14) { info.kind = K_SHORT; return; }
      info.dstMac = mac48(b, o);
      info.srcMac = mac48(b, o + 6);
      const et = skipTags(b, o + 12, end, info);
      byEthertype(info, (b[et]! << 8) | b[et + 1]!);
      l3 = et + 2;
      break;
    }
    case f.LINKTYPE_LINUX_SLL: {
      if (capLen < 16) { info.kind = K_SHORT; return; }
      info.pktType = (b[o]! << 8) | b[o + 1]!;
      const et = skipTags(b, o + 14, end, info);
      byEthertype(info, (b[et]! << 8) | b[et + 1]!);
      l3 = et + 2;
      break;
    }
    case f.LINKTYPE_LINUX_SLL2: {
      if (capLen < 20) { info.kind = K_SHORT; return; }
      info.ifindex = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
      info.pktType = b[o + 10]!;
      const et0 = (b[o]! << 8) | b[o + 1]!;
      let et = et0;
      l3 = o + 20;
      if (et0 === f.ETH_P_8021Q || et0 === f.ETH_P_8021AD || et0 === f.ETH_P_QINQ1) {
        // libpcap puts the tag's TCI and inner ethertype after the header
        while ((et === f.ETH_P_8021Q || et === f.ETH_P_8021AD || et === f.ETH_P_QINQ1) && l3 + 4 <= end) {
          et = (b[l3 + 2]! << 8) | b[l3 + 3]!;
          l3 += 4;
          info.vlans++;
        }
      }
      byEthertype(info, et);
      break;
    }
    default: { // raw IP (101, 228)
      if (capLen < 1) { info.kind = K_SHORT; return; }
      const v = b[o]! >> 4;
      info.kind = v === 4 ? K_IPV4 : v === 6 && lt === f.LINKTYPE_RAW ? K_IPV6 : K_RAW_NOT_IP;
      info.ethertype = v === 4 ? f.ETH_P_IP : v === 6 ? f.ETH_P_IPV6 : 0;
      l3 = o;
    }
  }
  if (l3 > end) { info.kind = K_SHORT; return; }
  info.l3 = l3;
  info.l3Cap = end - l3;
  info.l3Wire = origLen - (l3 - o);
}
