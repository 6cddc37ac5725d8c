/**
 * ip_rcv_core's header checks (net/ipv4/ip_input.c): a packet whose IPv4
 * header the kernel rejects never reaches PREROUTING. The capture decoder
 * (host/packet/wire.ts) finds what is wrong and says so in PKT_IP_ERROR;
 * here the packet is dropped with the kernel's reason and counters, in the
 * kernel's order: version and header length, then the header checksum, then
 * the total length against the frame.
 *
 *  - IPERR_HDR: fewer than 20 bytes, or `iph->ihl < 5 || iph->version != 4`:
 *    IpInHdrErrors, SKB_DROP_REASON_IP_INHDR;
 *  - then the ECN codepoint is counted (IpExtIn{NoECT,ECT1,ECT0,CE}Pkts)
 *    for all the errors below;
 *  - IPERR_HDR_LEN: fewer than `ihl * 4` bytes (pskb_may_pull), or
 *    `len < ihl * 4` (after the checksum and the truncation test: a
 *    capture decoder gives the first that applies): IpInHdrErrors, IP_INHDR;
 *  - IPERR_CSUM: `ip_fast_csum` fails: IpExtInCsumErrors and IpInHdrErrors
 *    (csum_error falls through to inhdr_error), SKB_DROP_REASON_IP_CSUM;
 *  - IPERR_TRUNCATED: `skb->len < tot_len`: IpExtInTruncatedPkts,
 *    SKB_DROP_REASON_PKT_TOO_SMALL.
 *
 * IpInReceives and IpExtInOctets were counted before
 * (`__IP_UPD_PO_STATS(net, IPSTATS_MIB_IN, skb->len)` comes first).
 */
import {
  IPERR_CSUM, IPERR_TRUNCATED, IPERR_SRR, IPERR_OPTIONS, DROP_IP_OPTIONS, DROP_IP_SRR, DROP_IP_INHDR, DROP_IP_CSUM, DROP_PKT_TOO_SMALL,
  CTR_IP_IN_HDR_ERRORS, CTR_IP_IN_CSUM_ERRORS, CTR_IP_IN_TRUNCATED_PKTS, IPERR_HDR, CTR_IP_EXT_IN_NOECT_PKTS, PKT_TOS,
} from "../abi";
import { count } from "./stats";
import { drop } from "./output";
import { icmpSend } from "./icmp";

/** Drops packet `p`, whose header ip_rcv_core rejects for `err` (IPERR_*, not 0). */
export function ipRcvHeaderError(p: usize, err: u32): void {
  // the ECN count comes right after the version/IHL check
  if (err != IPERR_HDR) count(CTR_IP_EXT_IN_NOECT_PKTS + <i32>(load<u8>(p, PKT_TOS) & 3));
  if (err == IPERR_TRUNCATED) {
    count(CTR_IP_IN_TRUNCATED_PKTS);
    drop(p, DROP_PKT_TOO_SMALL);
    return;
  }
  if (err == IPERR_CSUM) count(CTR_IP_IN_CSUM_ERRORS);
  count(CTR_IP_IN_HDR_ERRORS);
  drop(p, err == IPERR_CSUM ? DROP_IP_CSUM : DROP_IP_INHDR);
}

/**
 * ip_rcv_options (net/ipv4/ip_input.c), for a packet with IPv4 options whose
 * options the capture decoder found wrong (PKT_IP_ERROR is IPERR_SRR or
 * IPERR_OPTIONS + pp_ptr; host/packet/ipopts.ts runs ip_options_compile's
 * checks). It runs after input routing (ip_rcv_finish_core), so the route
 * decides first and `rtFlags` are its RTCF_* flags. Valid options without a
 * source route never come here: the packet goes on unchanged.
 *
 *  - ip_options_compile fails: IpInHdrErrors, and icmp_send(ICMP_PARAMETERPROB,
 *    0, pp_ptr << 24) with icmp_send's own checks and rate limits;
 *  - a source route with accept_source_route off: dropped, counting nothing.
 */
export function ipRcvOptions(p: usize, err: u32, rtFlags: u32): void {
  if (err == <u32>IPERR_SRR) { drop(p, DROP_IP_SRR); return; }
  count(CTR_IP_IN_HDR_ERRORS);
  icmpSend(p, ICMP_PARAMETERPROB, 0, (err - <u32>IPERR_OPTIONS) << 24, rtFlags, true);
  drop(p, DROP_IP_OPTIONS);
}
const ICMP_PARAMETERPROB: u32 = 12;
