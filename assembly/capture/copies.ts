/**
 * Forwarded copies paired with their originals, in the core's capture
 * decoder (decode.ts): the rule of host/pcap/copies.ts (which states it),
 * the same key, window and outcome, over the same block (CP_* in
 * format.ts), which the host's decoder shares when both decode one fill
 * in turns.
 *  - copyOriginal: a descriptor the decoder wrote from an arriving
 *    datagram; recorded in the ring when it is a candidate (IHL 5, not a
 *    fragment: all the decoder takes; TCP, UDP, ICMP echo request or
 *    reply);
 *  - copyPair: an outgoing frame classified as a forwarded copy; its key
 *    (TTL + 1) looked for among the fill's last CP_SLOTS candidates, the
 *    newest first; the first match used up and its descriptor given the
 *    copy's header (PKT_SEEN_*): written in place when the descriptor is in
 *    this memory (the scratch area's, or the batch's with CDF_DIRECT), else
 *    as a patch the host applies to the batch.
 * The key's transport bytes past the datagram count as 0 (the decoder takes
 * only datagrams captured whole).
 */
import { PKT_SIZE, PKT_SEEN_SRC, PKT_SEEN_DST, PKT_SEEN_SPORT, PKT_SEEN_OIF } from "../abi";
import {
  CP_COUNT, CP_NPATCH, CP_RING, CP_SLOTS, CPE_INDEX, CPE_K0, CPE_K1, CPE_T, CPE_SIZE, CPE_USED,
  CP_PATCHES, CPP_INDEX, CPP_SRC, CPP_DST, CPP_PORTS, CPP_OIF, CPP_SIZE,
} from "./format";

// @ts-ignore: decorator
@inline function be16(a: usize): u32 { return <u32>bswap<u16>(load<u16>(a)); }
// @ts-ignore: decorator
@inline function be32(a: usize): u32 { return bswap<u32>(load<u32>(a)); }

/** The transport offset of the key bytes (host/pcap/copies.ts keyOffset), -1: neither an original nor a copy. */
// @ts-ignore: decorator
@inline function keyOffset(proto: u32, icmpType: u32): i32 {
  return proto == 6 ? 4 : proto == 17 ? 8 : proto == 1 && (icmpType == 8 || icmpType == 0) ? 6 : -1;
}

/** The 8 bytes at t + off as they lie (a little-endian u64), those at or past `have` transport bytes as 0. */
// @ts-ignore: decorator
@inline function keyBytes(t: usize, off: u32, have: u32): u64 {
  if (have >= off + 8) return load<u64>(t + off);
  let v: u64 = 0;
  for (let i: u32 = 0; off + i < have; i++) v |= <u64>load<u8>(t + off + i) << (<u64>i << 3);
  return v;
}

/** A transport u16 at byte i of `have` (big-endian; bytes past `have` as 0). */
// @ts-ignore: decorator
@inline function port(t: usize, i: u32, have: u32): u32 {
  if (have >= i + 2) return be16(t + i);
  return i < have ? <u32>load<u8>(t + i) << 8 : 0;
}

/**
 * Descriptor `index` of the fill was written from the arriving datagram at
 * l3 (IHL 5, not a fragment; `l4` transport bytes captured, fewer than the
 * datagram's when a snaplen cut it; protocol `proto`, ICMP type
 * `icmpType`): recorded in the ring of block `cp` when a candidate.
 */
// @ts-ignore: decorator
@inline export function copyOriginal(cp: usize, l3: usize, l4: u32, proto: u32, icmpType: u32, index: u32): void {
  const off = keyOffset(proto, icmpType);
  if (off < 0) return;
  const count = load<u32>(cp + CP_COUNT);
  const e = cp + CP_RING + <usize>(count & (CP_SLOTS - 1)) * CPE_SIZE;
  store<u32>(e + CPE_INDEX, index);
  store<u32>(e + CPE_K0, be16(l3 + 2) | (be16(l3 + 4) << 16));
  store<u32>(e + CPE_K1, proto | (<u32>load<u8>(l3 + 8) << 8));
  store<u64>(e + CPE_T, keyBytes(l3 + 20, <u32>off, l4));
  store<u32>(cp + CP_COUNT, count + 1);
}

/**
 * The forwarded copy at l3 (classified: IHL 5, not a fragment; `cap`
 * bytes captured, the snaplen may have cut it), captured on the device of
 * slot `slot` (0: none placed): paired with the newest matching candidate
 * of the fill. Its descriptor is at out + (index - n0) * PKT_SIZE when
 * index >= n0 or `direct`, else patched (CP_PATCHES). True when paired.
 */
export function copyPair(cp: usize, l3: usize, cap: u32, slot: u32, out: usize, n0: u32, direct: bool): bool {
  const proto = <u32>load<u8>(l3 + 9);
  const ipLen = be16(l3 + 2);
  // the transport bytes there are (captured and within the datagram)
  const have = (ipLen < cap ? ipLen : cap) - 20;
  const t = l3 + 20;
  if (proto == 1 && have < 1) return false;
  const off = keyOffset(proto, proto == 1 ? <u32>load<u8>(t) : 0);
  if (off < 0) return false;
  const k0 = ipLen | (be16(l3 + 4) << 16);
  const k1 = proto | ((<u32>load<u8>(l3 + 8) + 1) << 8);
  const tk = keyBytes(t, <u32>off, have);
  const count = load<u32>(cp + CP_COUNT);
  const last = count > <u32>CP_SLOTS ? count - <u32>CP_SLOTS : 0;
  for (let j = count; j > last; ) {
    j--;
    const e = cp + CP_RING + <usize>(j & (CP_SLOTS - 1)) * CPE_SIZE;
    if (load<u32>(e + CPE_K1) != k1 || load<u32>(e + CPE_K0) != k0 || load<u64>(e + CPE_T) != tk) continue;
    store<u32>(e + CPE_K1, CPE_USED);
    const index = load<u32>(e + CPE_INDEX);
    const sport = proto == 1 ? port(t, 4, have) : port(t, 0, have);
    const dport = proto == 1 ? sport : port(t, 2, have);
    const oif: u32 = slot > 0 && slot <= 254 ? slot + 1 : 0;
    if (index >= n0 || direct) {
      const q = out + <usize>(index - n0) * PKT_SIZE; // (wraps below out: the batch's earlier descriptors)
      store<u32>(q + PKT_SEEN_SRC, be32(l3 + 12));
      store<u32>(q + PKT_SEEN_DST, be32(l3 + 16));
      store<u32>(q + PKT_SEEN_SPORT, sport | (dport << 16));
      store<u8>(q + PKT_SEEN_OIF, <u8>oif);
    } else {
      const np = load<u32>(cp + CP_NPATCH);
      const pp = cp + CP_PATCHES + <usize>np * CPP_SIZE;
      store<u32>(pp + CPP_INDEX, index);
      store<u32>(pp + CPP_SRC, be32(l3 + 12));
      store<u32>(pp + CPP_DST, be32(l3 + 16));
      store<u32>(pp + CPP_PORTS, sport | (dport << 16));
      store<u32>(pp + CPP_OIF, oif);
      store<u32>(cp + CP_NPATCH, np + 1);
    }
    return true;
  }
  return false;
}
