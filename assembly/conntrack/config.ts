/**
 * Conntrack settings: the net.netfilter.nf_conntrack_* sysctls, with the
 * kernel's defaults (nf_conntrack_proto_tcp.c tcp_timeouts[], tcp_init_net;
 * nf_conntrack_proto_udp.c udp_timeouts[]; nf_ct_icmp_timeout;
 * nf_ct_generic_timeout). Timeouts are kept in jiffies, as the kernel keeps
 * them, so that HZ changes the rounding exactly as it does on a node.
 */
import {
  CTC_MAX, CTC_BUCKETS, CTC_TCP_LOOSE, CTC_TCP_BE_LIBERAL, CTC_TCP_MAX_RETRANS, CTC_TCP_IGNORE_INVALID_RST,
  CTC_CHECKSUM, CTC_TCP_TIMEOUT, CTC_UDP_TIMEOUT, CTC_UDP_TIMEOUT_STREAM, CTC_ICMP_TIMEOUT, CTC_GENERIC_TIMEOUT,
  CTC_GRE_TIMEOUT, CTC_GRE_TIMEOUT_STREAM, CTC_SCTP_TIMEOUT, SCTP_CONNTRACK_CLOSED, SCTP_CONNTRACK_MAX,
} from "../abi";
import { hz } from "../config";

/** nf_conntrack_max (0 = unlimited). Default as on a >4 GiB machine with kernel >= 5.15. */
export let ctMax: u32 = 262144;
/** nf_conntrack_buckets. */
export let ctBuckets: u32 = 262144;
export let tcpLoose: bool = true;
export let tcpBeLiberal: bool = false;
export let tcpMaxRetrans: u32 = 3;
export let tcpIgnoreInvalidRst: bool = false;
export let ctChecksum: bool = true;

/** Timeouts in seconds, as the sysctls hold them; index = TCP_CONNTRACK_* (10 = retrans, 11 = unack). */
const tcpSecs = new StaticArray<u32>(12);
let udpSecs: u32 = 30;
let udpStreamSecs: u32 = 120;
let icmpSecs: u32 = 30;
let genericSecs: u32 = 600;
let greSecs: u32 = 30;
let greStreamSecs: u32 = 180;
/** SCTP timeouts in seconds by SCTP_CONNTRACK_* state (sctp_timeouts[]; [0] is CLOSED's, as nf_conntrack_sctp_init_net sets it). */
const sctpSecs = new StaticArray<u32>(SCTP_CONNTRACK_MAX);


export function ctConfigDefaults(): void {
  ctMax = 262144;
  ctBuckets = 262144;
  tcpLoose = true;
  tcpBeLiberal = false;
  tcpMaxRetrans = 3;
  tcpIgnoreInvalidRst = false;
  ctChecksum = true;
  tcpSecs[0] = 0;
  tcpSecs[1] = 120; // SYN_SENT
  tcpSecs[2] = 60; // SYN_RECV
  tcpSecs[3] = 432000; // ESTABLISHED
  tcpSecs[4] = 120; // FIN_WAIT
  tcpSecs[5] = 60; // CLOSE_WAIT
  tcpSecs[6] = 30; // LAST_ACK
  tcpSecs[7] = 120; // TIME_WAIT
  tcpSecs[8] = 10; // CLOSE
  tcpSecs[9] = 120; // SYN_SENT2
  tcpSecs[10] = 300; // RETRANS (max_retrans)
  tcpSecs[11] = 300; // UNACK (unacknowledged)
  udpSecs = 30;
  udpStreamSecs = 120;
  icmpSecs = 30;
  genericSecs = 600;
  greSecs = 30;
  greStreamSecs = 180;
  sctpSecs[1] = 10; // CLOSED
  sctpSecs[2] = 3; // COOKIE_WAIT
  sctpSecs[3] = 3; // COOKIE_ECHOED
  sctpSecs[4] = 210; // ESTABLISHED
  sctpSecs[5] = 3; // SHUTDOWN_SENT
  sctpSecs[6] = 3; // SHUTDOWN_RECD
  sctpSecs[7] = 3; // SHUTDOWN_ACK_SENT
  sctpSecs[8] = 30; // HEARTBEAT_SENT
  sctpSecs[0] = sctpSecs[1];
}
ctConfigDefaults();

// Timeouts in jiffies (the sysctl handlers multiply by HZ the same way).
// @ts-ignore: decorator
@inline export function tcpTimeout(state: u32): u32 { return unchecked(tcpSecs[state]) * hz; }
// @ts-ignore: decorator
@inline export function udpTimeout(): u32 { return udpSecs * hz; }
// @ts-ignore: decorator
@inline export function udpStreamTimeout(): u32 { return udpStreamSecs * hz; }
// @ts-ignore: decorator
@inline export function icmpTimeout(): u32 { return icmpSecs * hz; }
// @ts-ignore: decorator
@inline export function genericTimeout(): u32 { return genericSecs * hz; }
/** GRE_CT_UNREPLIED and GRE_CT_REPLIED (nf_conntrack_proto_gre.c). */
// @ts-ignore: decorator
@inline export function greTimeout(): u32 { return greSecs * hz; }
// @ts-ignore: decorator
@inline export function greStreamTimeout(): u32 { return greStreamSecs * hz; }
/** nf_sctp_pernet()->timeouts[state] */
// @ts-ignore: decorator
@inline export function sctpTimeout(state: u32): u32 { return unchecked(sctpSecs[state]) * hz; }

export function ctConfigSet(key: i32, value: u32): bool {
  if (key >= CTC_TCP_TIMEOUT + 1 && key <= CTC_TCP_TIMEOUT + 11) {
    tcpSecs[key - CTC_TCP_TIMEOUT] = value;
    return true;
  }
  if (key >= CTC_SCTP_TIMEOUT + SCTP_CONNTRACK_CLOSED && key < CTC_SCTP_TIMEOUT + SCTP_CONNTRACK_MAX) {
    sctpSecs[key - CTC_SCTP_TIMEOUT] = value;
    return true;
  }
  switch (key) {
    case CTC_MAX: ctMax = value; break;
    case CTC_BUCKETS: ctBuckets = value < 1 ? 1 : value; break;
    case CTC_TCP_LOOSE: tcpLoose = value != 0; break;
    case CTC_TCP_BE_LIBERAL: tcpBeLiberal = value != 0; break;
    case CTC_TCP_MAX_RETRANS: tcpMaxRetrans = value; break;
    case CTC_TCP_IGNORE_INVALID_RST: tcpIgnoreInvalidRst = value != 0; break;
    case CTC_CHECKSUM: ctChecksum = value != 0; break;
    case CTC_UDP_TIMEOUT: udpSecs = value; break;
    case CTC_UDP_TIMEOUT_STREAM: udpStreamSecs = value; break;
    case CTC_ICMP_TIMEOUT: icmpSecs = value; break;
    case CTC_GENERIC_TIMEOUT: genericSecs = value; break;
    case CTC_GRE_TIMEOUT: greSecs = value; break;
    case CTC_GRE_TIMEOUT_STREAM: greStreamSecs = value; break;
    default: return false;
  }
  return true;
}
