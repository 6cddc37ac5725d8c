/**
 * REJECT (net/ipv4/netfilter/ipt_REJECT.c, nf_reject_ipv4.c): answer the
 * packet, then drop it. ICMP variants go through icmp_send (so the ICMP rate
 * limits apply); tcp-reset builds a RST (nf_send_reset) that is routed with
 * ip_route_me_harder, attached to the packet's connection in the other
 * direction (nf_ct_attach) and sent through OUTPUT and POSTROUTING.
 */
import { ipHdrLen } from "../util/ip";
import {
  PKT_PROTO, PKT_TCPFLAGS, PKT_SEQ, PKT_ACK, PKT_LEN, PKT_TCP_DOFF, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_SPORT,
  PKT_OUT_DPORT, PKT_OUT_MARK, PKT_SRC, PKT_DST, PKT_SPORT, PKT_DPORT, PKT_TTL, PKT_LEN as LEN, PKT_MARK, PKT_FLAGS,
  PKT_BOUND_OIF, PKT_PX, PX_HAS_SOCK, PF_LOCAL, PF_SRC_SET, PF_DF, NF_INET_LOCAL_OUT,
  REJECT_TCP_RESET, PKT_L4_BYTES, RTN_LOCAL, RTN_UNICAST, CTINFO_RELATED, CTINFO_RELATED_REPLY, CTINFO_ESTABLISHED_REPLY,
  PKT_CSUM, CSUM_NONE, TH_FIN, TH_SYN, TH_RST, TH_ACK,
} from "../abi";
import { nfCsumWrong } from "../conntrack/csum";
import { icmpSend } from "../ipv4/icmp";
import { replyAlloc } from "../ipv4/reply";
import { ipRouteOutput, OUT_ANYSRC } from "../route/output";
import { ipLocalOutRouted } from "../ipv4/output";
import { hsHook, hsRtFlags, hsInputRoute } from "./state";
import { RTCF_BROADCAST, RTCF_MULTICAST } from "../route/rtable";
import { fwmarkReflect, ipDefaultTtl } from "../config";
import { pktCt, pktCtInfo, ctAttach, ctSetClosing } from "../conntrack/core";
import { localTableType } from "../fib/table";
import { isZeronet, isLbcast, isMulticast } from "../util/ip";

/** ipt_REJECT reject_tg */
export function nfReject(p: usize, kind: u32): void {
  if (kind == REJECT_TCP_RESET) { sendReset(p); return; }
  // nf_send_unreach: no answer to a packet whose checksum nf_ip_checksum finds wrong,
  // for the protocols nf_reject_verify_csum checks (TCP, UDP with a checksum, ICMP, ...)
  if (verifyCsum(p) && csumRefused(p)) return;
  // -> icmp_send(skb_in, ICMP_DEST_UNREACH, code, 0)
  icmpSend(p, 3, kind, 0, hsRtFlags, hsInputRoute);
}

/**
 * nf_reject_verify_csum: the protocols whose checksum REJECT checks: not
 * GRE, AH, ESP, SCTP, UDP-Lite, nor UDP without a checksum (DCCP is
 * checked since the kernel dropped it from the list). Every other protocol
 * is summed: TCP, UDP and ICMP by their checksums, the rest over their
 * transport bytes without a pseudo-header (nf_ip_checksum), the verdict the
 * decoder put in PKT_CSUM (host/packet/wire.ts).
 */
function verifyCsum(p: usize): bool {
  const proto = <u32>load<u8>(p, PKT_PROTO);
  if (proto == 17) return <u32>load<u8>(p, PKT_CSUM) != CSUM_NONE || load<u8>(p, PKT_L4_BYTES) != 0;
  return proto != 47 && proto != 50 && proto != 51 && proto != 132 && proto != 136;
}

/**
 * REJECT's nf_ip_checksum(oldskb, hook, ...) finds the checksum wrong, at
 * INPUT and at FORWARD alike: conntrack's sum at PREROUTING leaves a packet
 * CHECKSUM_COMPLETE, which nf_ip_checksum sums again at INPUT, and
 * ip_forward's skb_forward_csum turns back into CHECKSUM_NONE before
 * FORWARD (summed again too); a right checksum conntrack summed is
 * skb_csum_unnecessary, the same verdict. (Locally sent packets, at
 * OUTPUT, have right checksums.)
 */
function csumRefused(p: usize): bool {
  return nfCsumWrong(p);
}

/** nf_send_reset */
function sendReset(p: usize): void {
  if (<u32>load<u8>(p, PKT_PROTO) != 6) return;
  // nf_reject_ip_tcphdr_get: no 20-byte header to answer
  const l4 = <u32>load<u8>(p, PKT_L4_BYTES);
  if (l4 != 0 && l4 - 1 < 20) return;
  const oflags = <u32>load<u8>(p, PKT_TCPFLAGS);
  if (oflags & TH_RST) return; // no RST for RST
  if (csumRefused(p)) return; // "Check checksum"
  if (hsRtFlags & (RTCF_BROADCAST | RTCF_MULTICAST)) return;
  const saddr = load<u32>(p, PKT_OUT_DST);
  const daddr = load<u32>(p, PKT_OUT_SRC);
  const mark = fwmarkReflect ? load<u32>(p, PKT_OUT_MARK) : 0;
  // ip_route_me_harder: a local or unicast source is kept (FLOWI_FLAG_ANYSRC)
  const atype = inetAddrType(saddr);
  const anysrc = atype == RTN_LOCAL || atype == RTN_UNICAST;
  const oif: u32 = hsHook == NF_INET_LOCAL_OUT && (load<u8>(p, PKT_PX) & PX_HAS_SOCK) != 0 ? <u32>load<u16>(p, PKT_BOUND_OIF) : 0;
  if (ipRouteOutput(daddr, anysrc ? saddr : 0, 0, oif, mark, 6, load<u16>(p, PKT_OUT_DPORT), load<u16>(p, PKT_OUT_SPORT), 0,
    anysrc ? OUT_ANYSRC : 0) != 0) return;
  const q = replyAlloc(p);
  if (q == 0) return;
  store<u32>(q, saddr, PKT_SRC);
  store<u32>(q, daddr, PKT_DST);
  store<u16>(q, load<u16>(p, PKT_OUT_DPORT), PKT_SPORT);
  store<u16>(q, load<u16>(p, PKT_OUT_SPORT), PKT_DPORT);
  store<u8>(q, 6, PKT_PROTO);
  store<u8>(q, <u8>ipDefaultTtl, PKT_TTL); // ip4_dst_hoplimit of the old route (no hoplimit metrics)
  store<u16>(q, 40, LEN);
  store<u32>(q, mark, PKT_MARK);
  if (oflags & TH_ACK) {
    store<u32>(q, load<u32>(p, PKT_ACK), PKT_SEQ);
    store<u8>(q, <u8>TH_RST, PKT_TCPFLAGS);
  } else {
    let doff = <u32>load<u8>(p, PKT_TCP_DOFF);
    if (doff == 0 && l4 == 0) doff = 5; // a malformed header's data offset is raw (nf_reject_ip_tcphdr_put uses oth->doff)
    const payload = <u32>load<u16>(p, PKT_LEN) - ipHdrLen(p) - (doff << 2);
    store<u32>(q, load<u32>(p, PKT_SEQ) + ((oflags & TH_SYN) != 0 ? 1 : 0) + (oflags & TH_FIN) + payload, PKT_ACK);
    store<u8>(q, <u8>(TH_RST | TH_ACK), PKT_TCPFLAGS);
  }
  store<u16>(q, load<u16>(q, PKT_FLAGS) | PF_LOCAL | PF_SRC_SET | PF_DF, PKT_FLAGS);
  store<u8>(q, 0, PKT_PX); // nf_send_reset's skb has no socket
  // nf_ct_attach: the reset belongs to the packet's connection, the other way
  const id = pktCt(p);
  if (id != 0) {
    const ctinfo = pktCtInfo(p);
    ctAttach(q, id - 1, ctinfo >= <u32>CTINFO_ESTABLISHED_REPLY ? CTINFO_RELATED : CTINFO_RELATED_REPLY);
    ctSetClosing(id - 1);
  }
  ipLocalOutRouted(q);
}

/** inet_addr_type */
function inetAddrType(a: u32): u32 {
  if (isZeronet(a) || isLbcast(a)) return 3;
  if (isMulticast(a)) return 5;
  return localTableType(a);
}
