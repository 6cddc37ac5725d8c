/**
 * The transport checksum as netfilter sums it (net/netfilter/utils.c
 * nf_ip_checksum): conntrack's check at PREROUTING and REJECT's
 * (nf_reject_ipv4.c), which read the descriptor's verdicts (PKT_CSUM,
 * PF_NF_CSUM_OK).
 */
import {
  PKT_PROTO, PKT_FLAGS, PKT_CSUM, CSUM_BAD, CSUM_NONE, NF_INET_PRE_ROUTING,
  PF_UDP_LEN, PF_UDP_LEN_BAD, PF_NF_CSUM_OK,
} from "../abi";
import { ctChecksum } from "./config";
import { hsHook } from "../netfilter/state";

/**
 * nf_checksum at PREROUTING with nf_conntrack_checksum on (tcp_error,
 * udp_error, icmp_error): the transport checksum summed over every transport
 * byte is wrong.
 */
export function nfChecksumBad(p: usize): bool {
  if (!ctChecksum || hsHook != NF_INET_PRE_ROUTING) return false;
  return nfCsumWrong(p);
}

/**
 * The verdict nf_ip_checksum gives over all the transport bytes: PKT_CSUM,
 * except for a UDP datagram with bytes after its length field, whose
 * PKT_CSUM is over the length field's bytes (PF_NF_CSUM_OK gives the rest).
 */
export function nfCsumWrong(p: usize): bool {
  const f = <u32>load<u16>(p, PKT_FLAGS);
  if ((f & (PF_UDP_LEN | PF_UDP_LEN_BAD)) == PF_UDP_LEN && <u32>load<u8>(p, PKT_PROTO) == 17 &&
    <u32>load<u8>(p, PKT_CSUM) != CSUM_NONE) return (f & PF_NF_CSUM_OK) == 0;
  return <u32>load<u8>(p, PKT_CSUM) == CSUM_BAD;
}
