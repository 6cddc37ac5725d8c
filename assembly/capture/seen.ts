/**
 * What a capture saw the kernel do with a packet: the header of the
 * packet's forwarded copy (abi.ts PKT_SEEN_*, written by the capture
 * decoders when they pair a copy with its original: host/pcap/copies.ts,
 * assembly/capture/copies.ts). The engine follows the kernel's random
 * choices it shows (kube-proxy's endpoint: netfilter/match.ts
 * statisticMatch; NAT's address and port: nat/core.ts seenTuple), and the
 * replay summary says whether each such packet left as its copy did
 * (seenAgreement).
 */
import {
  PKT_FLAGS, PF_INNER, PKT_PROTO, PKT_ICMP_TYPE, PKT_SEEN_SRC, PKT_SEEN_DST, PKT_SEEN_SPORT, PKT_SEEN_DPORT, PKT_SEEN_OIF,
  PKT_VERDICT, PKT_OIF, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_SPORT, PKT_OUT_DPORT, PKT_OUT_ICMP_ID,
  VERDICT_FORWARD, VERDICT_LOCAL, SEEN_AGREE, SEEN_DROPPED, SEEN_LOCAL, SEEN_OTHER_DEVICE, SEEN_OTHER_HEADER,
} from "../abi";

/**
 * Does packet `p` carry its capture copy's header? Only TCP, UDP and ICMP
 * echo do (the fields overlay the inner header of ICMP errors, and SCTP's
 * and DCCP's own fields).
 */
// @ts-ignore: decorator
@inline export function seenPacket(p: usize): bool {
  if (load<u32>(p, PKT_SEEN_DST) == 0 || (load<u16>(p, PKT_FLAGS) & PF_INNER) != 0) return false;
  const proto = <u32>load<u8>(p, PKT_PROTO);
  if (proto == 6 || proto == 17) return true;
  if (proto != 1) return false;
  const type = <u32>load<u8>(p, PKT_ICMP_TYPE);
  return type == 8 || type == 0;
}

/**
 * How processed packet `p` compares with its capture copy (SEEN_*, abi.ts):
 * forwarded by the copy's device with the copy's header (addresses and
 * ports, or the echo identifier), or not. Only for seenPacket(p).
 */
export function seenAgreement(p: usize): u32 {
  const v = <u32>load<u8>(p, PKT_VERDICT);
  if (v == VERDICT_LOCAL) return SEEN_LOCAL;
  if (v != VERDICT_FORWARD) return SEEN_DROPPED;
  const oif = <u32>load<u8>(p, PKT_SEEN_OIF);
  if (oif != 0 && <u32>load<u16>(p, PKT_OIF) != oif - 1) return SEEN_OTHER_DEVICE;
  if (load<u32>(p, PKT_OUT_SRC) != load<u32>(p, PKT_SEEN_SRC) || load<u32>(p, PKT_OUT_DST) != load<u32>(p, PKT_SEEN_DST)) return SEEN_OTHER_HEADER;
  if (<u32>load<u8>(p, PKT_PROTO) == 1) {
    if (load<u16>(p, PKT_OUT_ICMP_ID) != load<u16>(p, PKT_SEEN_SPORT)) return SEEN_OTHER_HEADER;
  } else if (load<u16>(p, PKT_OUT_SPORT) != load<u16>(p, PKT_SEEN_SPORT) || load<u16>(p, PKT_OUT_DPORT) != load<u16>(p, PKT_SEEN_DPORT)) {
    return SEEN_OTHER_HEADER;
  }
  return SEEN_AGREE;
}
