/**
 * Local delivery: ip_local_deliver -> ip_protocol_deliver_rcu and the
 * transport receive paths as far as they answer a packet no socket wants:
 * tcp_v4_rcv -> tcp_v4_send_reset, __udp4_lib_rcv -> ICMP port unreachable,
 * icmp_rcv -> icmp_echo, and ICMP protocol unreachable for other protocols.
 *
 * Sockets: the node's listening/bound sockets come from the snapshot's
 * `ss.txt` (`ss -Htlnu`). With a socket table, a packet for a bound port is
 * delivered to it (the local TCP/UDP endpoint itself is not emulated: no
 * SYN-ACK or data reply is generated) and every other port is closed. Without
 * one (sockets unknown), no transport-level answer is generated at all.
 */
import { ipHdrLen, ipOptEchoLen } from "../util/ip";
import { PF_IP_OPTS_SHIFT, TH_FIN, TH_SYN, TH_RST, TH_ACK } from "../abi";
import {
  PKT_SRC, PKT_DST, PKT_SPORT, PKT_DPORT, PKT_PROTO, PKT_TCPFLAGS, PKT_SEQ, PKT_ACK, PKT_LEN, PKT_TOS,
  PKT_FLAGS, PKT_MARK, PKT_ICMP_TYPE, PKT_TTL, PKT_IIF, PKT_TCP_DOFF, PKT_OUT_FLAGS, PF_L2_OTHER, PKT_CT_ID,
  PF_LOCAL, PF_SRC_SET, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_SPORT, PKT_OUT_DPORT, PKT_OUT_MARK, RTN_LOCAL, RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, DEV_SRC_VALID_MARK,
  CTR_IP_IN_DELIVERS, CTR_IP_IN_UNKNOWN_PROTOS, CTR_TCP_IN_SEGS, CTR_TCP_OUT_RSTS, CTR_UDP_NO_PORTS,
  CTR_UDP_IN_DATAGRAMS, CTR_UDP_IGNORED_MULTI, CTR_ICMP_IN_MSGS, CTR_ICMP_IN_ECHOS,
  CTR_ICMP_IN_DEST_UNREACHS, CTR_ICMP_IN_TIME_EXCDS, CTR_ICMP_IN_ECHO_REPS,
  PKT_CSUM, CSUM_BAD, CSUM_NONE, CTR_UDPLITE_IN_ERRORS, CTR_UDPLITE_IN_CSUM_ERRORS, CTR_UDPLITE_NO_PORTS, CTR_UDPLITE_IGNORED_MULTI, PKT_ICMP_CODE, PF_INNER, PKT_INNER_PROTO, PKT_OUT_INNER_SRC, PKT_OUT_INNER_SPORT, DROP_TCP_CSUM, DROP_UDP_CSUM, DROP_ICMP_CSUM, CTR_TCP_IN_CSUM_ERRORS, CTR_TCP_IN_ERRS,
  CTR_UDP_IN_CSUM_ERRORS, CTR_UDP_IN_ERRORS, CTR_ICMP_IN_CSUM_ERRORS, CTR_ICMP_IN_ERRORS,
  PKT_L4_BYTES, OF_SOCKET, OF_NO_SOCKET, DROP_L4_SHORT, DROP_PKT_TOO_SMALL, DROP_IP_INHDR, PF_UDP_LEN_BAD, PF_UDP_LEN, PKT_CSCOV,
} from "../abi";
import { count } from "./stats";
import { zalloc, release } from "../util/mem";
import { isZeronet } from "../util/ip";
import { icmpEchoIgnoreAll, icmpEchoIgnoreBroadcasts, ipDefaultTtl, fwmarkReflect, loopbackDev } from "../config";
import { RTCF_BROADCAST, RTCF_MULTICAST, RTCF_LOCAL, rtSaddr } from "../route/rtable";
import { ipRouteOutput, resultPrefsrc } from "../route/output";
import { setFlow, resRoute } from "../fib/flow";
import { fibLookup } from "../fib/rules";
import { devPtr, inetSelectAddr } from "../dev";
import {
  icmpSend, icmpEchoReply, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, ICMP_PROT_UNREACH, ICMP_ECHO,
  ICMP_ECHOREPLY, ICMP_TIME_EXCEEDED,
} from "./icmp";
import { replyAlloc } from "./reply";
import { ipLocalOutRouted, drop } from "./output";
import { connSockDeliver } from "./connsock";


// ---- socket table: proto u8 @0, port u16 @2, addr u32 @4 (0 = any) ----
let socks: usize = 0;
let sockCount: u32 = 0;
/** False until the host loads a socket table: transport answers are unknown. */
let socketsKnown = false;

export function socketsSet(rec: usize, count: u32, known: bool): void {
  release(socks);
  socks = zalloc(<usize>(count + 1) << 3);
  memory.copy(socks, rec, <usize>count << 3);
  sockCount = count;
  socketsKnown = known;
}

function socketBound(proto: u32, addr: u32, port: u32): bool {
  for (let i: u32 = 0; i < sockCount; i++) {
    const s = socks + (<usize>i << 3);
    if (<u32>load<u8>(s) != proto || <u32>load<u16>(s, 2) != port) continue;
    const a = load<u32>(s, 4);
    if (a == 0 || a == addr) return true;
  }
  return false;
}

/** Depth of replies-to-replies through loopback (bounded: a reset is never answered). */
let depth: u32 = 0;

/**
 * Delivers `p` to the node. `rtType`/`rtFlagsIn` describe the route that
 * brought it here (local, broadcast or multicast).
 */
export function ipLocalDeliver(p: usize, rtType: u32, rtFlagsIn: u32): void {
  if (depth > 2) return;
  depth++;
  const proto = <u32>load<u8>(p, PKT_PROTO);
  if (proto == 6) { count(CTR_IP_IN_DELIVERS); tcpRcv(p, rtType, rtFlagsIn); }
  else if (proto == 17) { count(CTR_IP_IN_DELIVERS); udpRcv(p, rtFlagsIn, false); }
  else if (proto == 136) { count(CTR_IP_IN_DELIVERS); udpRcv(p, rtFlagsIn, true); }
  else if (proto == 1) { count(CTR_IP_IN_DELIVERS); icmpRcv(p, rtFlagsIn); }
  else {
    // no handler and no raw socket
    count(CTR_IP_IN_UNKNOWN_PROTOS);
    icmpSend(p, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH, 0, rtFlagsIn, !(load<u16>(p, PKT_FLAGS) & PF_LOCAL));
  }
  depth--;
}

function tcpRcv(p: usize, rtType: u32, rtFlagsIn: u32): void {
  if (load<u16>(p, PKT_FLAGS) & PF_L2_OTHER) return; // pkt_type != PACKET_HOST
  count(CTR_TCP_IN_SEGS); // "count it even if it's bad"
  const l4 = <u32>load<u8>(p, PKT_L4_BYTES);
  if (l4 != 0) {
    // tcp_v4_rcv: pskb_may_pull(skb, sizeof(struct tcphdr)) fails, or th->doff < 5
    // (bad_packet: TcpInErrs, PKT_TOO_SMALL), or pskb_may_pull(skb, th->doff * 4)
    // fails: discard_it, before the checksum; no reset
    const n = l4 - 1;
    if (n >= 20 && <u32>load<u8>(p, PKT_TCP_DOFF) < 5) {
      count(CTR_TCP_IN_ERRS);
      drop(p, DROP_PKT_TOO_SMALL);
    } else {
      drop(p, DROP_L4_SHORT);
    }
    return;
  }
  if (<u32>load<u8>(p, PKT_CSUM) == CSUM_BAD) {
    // tcp_v4_rcv: csum_error (the segment never reaches a socket, and no reset answers it)
    count(CTR_TCP_IN_CSUM_ERRORS);
    count(CTR_TCP_IN_ERRS);
    drop(p, DROP_TCP_CSUM);
    return;
  }
  const flags = <u32>load<u8>(p, PKT_TCPFLAGS);
  // __inet_lookup_skb: the established hash (the node's own connections) before the listeners
  if (connSockDeliver(6, load<u32>(p, PKT_OUT_DST), load<u16>(p, PKT_OUT_DPORT), load<u32>(p, PKT_OUT_SRC), load<u16>(p, PKT_OUT_SPORT), flags)) {
    markOut(p, OF_SOCKET);
    return;
  }
  if (!socketsKnown) return;
  if (socketBound(6, load<u32>(p, PKT_OUT_DST), load<u16>(p, PKT_OUT_DPORT))) {
    markOut(p, OF_SOCKET);
    return;
  }
  markOut(p, OF_NO_SOCKET);
  // tcp_v4_send_reset
  if (flags & TH_RST) return; // never answer a reset
  if (rtType != RTN_LOCAL) return; // no socket and not a local route: silent
  const daddr = load<u32>(p, PKT_OUT_SRC);
  const saddr = load<u32>(p, PKT_OUT_DST);
  const mark = fwmarkReflect ? load<u32>(p, PKT_OUT_MARK) : 0;
  const tos = <u32>load<u8>(p, PKT_TOS) & 0x1e;
  // tcp_v4_send_reset counts the reset whether or not it can be routed
  count(CTR_TCP_OUT_RSTS);
  // ip_send_unicast_reply: ports swapped, no bound device
  // ip_send_unicast_reply: __ip_options_echo first (a failure sends nothing)
  const echo = ipOptEchoLen(p);
  if (echo < 0) return;
  if (ipRouteOutput(daddr, saddr, tos, 0, mark, 6, load<u16>(p, PKT_OUT_DPORT), load<u16>(p, PKT_OUT_SPORT), 0, 0) != 0) return;
  const q = replyAlloc(p);
  if (q == 0) return;
  store<u32>(q, rtSaddr, PKT_SRC);
  store<u32>(q, daddr, PKT_DST);
  store<u16>(q, load<u16>(p, PKT_OUT_DPORT), PKT_SPORT);
  store<u16>(q, load<u16>(p, PKT_OUT_SPORT), PKT_DPORT);
  store<u8>(q, 6, PKT_PROTO);
  store<u8>(q, <u8>ipDefaultTtl, PKT_TTL);
  store<u8>(q, load<u8>(p, PKT_TOS), PKT_TOS);
  store<u16>(q, <u16>(40 + echo), PKT_LEN);
  store<u32>(q, mark, PKT_MARK);
  if (flags & TH_ACK) {
    store<u32>(q, load<u32>(p, PKT_ACK), PKT_SEQ);
    store<u8>(q, <u8>TH_RST, PKT_TCPFLAGS);
  } else {
    let doff = <u32>load<u8>(p, PKT_TCP_DOFF);
    if (doff == 0) doff = 5;
    const segLen = <u32>load<u16>(p, PKT_LEN) - ipHdrLen(p) - (doff << 2);
    const ack = load<u32>(p, PKT_SEQ) + ((flags & TH_SYN) != 0 ? 1 : 0) + (flags & TH_FIN) + segLen;
    store<u32>(q, ack, PKT_ACK);
    store<u8>(q, <u8>(TH_RST | TH_ACK), PKT_TCPFLAGS);
  }
  store<u16>(q, load<u16>(q, PKT_FLAGS) | PF_LOCAL | PF_SRC_SET | <u16>((<u32>echo >> 2) << PF_IP_OPTS_SHIFT), PKT_FLAGS);
  ipLocalOutRouted(q);
}

/**
 * __udp4_lib_rcv for UDP and (`lite`) UDP-Lite, which counts into its own
 * MIB (UdpLite*) and takes the length field as its checksum coverage: past
 * the datagram it is a short packet (the `ulen > skb->len` check every
 * protocol gets), below 8 or with a zero checksum field a checksum error
 * (udplite_checksum_init; the decoder says CSUM_BAD or CSUM_NONE). A
 * snapshot lists no UDP-Lite sockets (ss does not show them).
 */
function udpRcv(p: usize, rtFlagsIn: u32, lite: bool): void {
  if (load<u8>(p, PKT_L4_BYTES) != 0) {
    // __udp4_lib_rcv: pskb_may_pull(skb, sizeof(struct udphdr)) fails: UdpInErrors, before the checksum
    count(lite ? CTR_UDPLITE_IN_ERRORS : CTR_UDP_IN_ERRORS);
    drop(p, DROP_L4_SHORT);
    return;
  }
  if (lite) {
    // `if (ulen > skb->len) goto short_packet` comes first, for UDP-Lite too (its coverage field)
    if (<u32>load<u16>(p, PKT_CSCOV) > <u32>load<u16>(p, PKT_LEN) - ipHdrLen(p)) {
      count(CTR_UDPLITE_IN_ERRORS);
      drop(p, DROP_PKT_TOO_SMALL);
      return;
    }
    const cs = <u32>load<u8>(p, PKT_CSUM);
    if (cs == CSUM_BAD || cs == CSUM_NONE) {
      // udp4_csum_init fails (coverage, zero field) or the coverage's sum is wrong: csum_error
      count(CTR_UDPLITE_IN_CSUM_ERRORS);
      count(CTR_UDPLITE_IN_ERRORS);
      drop(p, DROP_UDP_CSUM);
      return;
    }
    if (rtFlagsIn & (RTCF_BROADCAST | RTCF_MULTICAST)) { if (socketsKnown) count(CTR_UDPLITE_IGNORED_MULTI); return; }
    if (!socketsKnown) return;
    markOut(p, OF_NO_SOCKET);
    count(CTR_UDPLITE_NO_PORTS);
    udpPortUnreachable(p, rtFlagsIn);
    return;
  }
  if (load<u16>(p, PKT_FLAGS) & PF_UDP_LEN_BAD) {
    // __udp4_lib_rcv: ulen > skb->len, or ulen < sizeof(struct udphdr): short_packet,
    // before the checksum (a shorter ulen is trimmed to: PKT_CSUM is over its bytes)
    count(CTR_UDP_IN_ERRORS);
    drop(p, DROP_PKT_TOO_SMALL);
    return;
  }
  if (<u32>load<u8>(p, PKT_CSUM) == CSUM_BAD) {
    // __udp4_lib_rcv: csum_error (with a socket the kernel finds out when the
    // application reads the datagram; the counters are the same)
    count(CTR_UDP_IN_CSUM_ERRORS);
    count(CTR_UDP_IN_ERRORS);
    drop(p, DROP_UDP_CSUM);
    return;
  }
  if (rtFlagsIn & (RTCF_BROADCAST | RTCF_MULTICAST)) {
    if (socketsKnown && !socketBound(17, load<u32>(p, PKT_OUT_DST), load<u16>(p, PKT_OUT_DPORT))) count(CTR_UDP_IGNORED_MULTI);
    return;
  }
  // __udp4_lib_lookup: a socket the node sent from, connected to this peer, scores above the bound-only ones
  if (connSockDeliver(17, load<u32>(p, PKT_OUT_DST), load<u16>(p, PKT_OUT_DPORT), load<u32>(p, PKT_OUT_SRC), load<u16>(p, PKT_OUT_SPORT), 0)) {
    count(CTR_UDP_IN_DATAGRAMS);
    markOut(p, OF_SOCKET);
    return;
  }
  if (!socketsKnown) return;
  if (socketBound(17, load<u32>(p, PKT_OUT_DST), load<u16>(p, PKT_OUT_DPORT))) {
    count(CTR_UDP_IN_DATAGRAMS);
    markOut(p, OF_SOCKET);
    return;
  }
  markOut(p, OF_NO_SOCKET);
  count(CTR_UDP_NO_PORTS);
  udpPortUnreachable(p, rtFlagsIn);
}

/** __udp4_lib_rcv without a socket: ICMP port unreachable. */
function udpPortUnreachable(p: usize, rtFlagsIn: u32): void {
  // __udp4_lib_rcv drops the skb's conntrack reference (nf_reset_ct) before
  // icmp_send, so this error does not carry the connection (icmp_glue_bits'
  // nf_ct_attach finds none): conntrack looks it up in OUTPUT instead
  const ct = load<u32>(p, PKT_CT_ID);
  store<u32>(p, 0, PKT_CT_ID);
  // a datagram with bytes after its UDP length was trimmed to it (pskb_trim_rcsum): icmp_send
  // quotes what is left, the IP header and ulen bytes (the quoted total length is unchanged)
  const len = load<u16>(p, PKT_LEN);
  if (load<u16>(p, PKT_FLAGS) & PF_UDP_LEN) store<u16>(p, <u16>(ipHdrLen(p) + <u32>load<u16>(p, PKT_CSCOV)), PKT_LEN);
  icmpSend(p, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, rtFlagsIn, !(load<u16>(p, PKT_FLAGS) & PF_LOCAL));
  store<u16>(p, len, PKT_LEN);
  store<u32>(p, ct, PKT_CT_ID);
}

function icmpRcv(p: usize, rtFlagsIn: u32): void {
  // icmp_rcv counts the message by type (ICMPMSGIN_INC_STATS) before it
  // decides anything, so an ignored broadcast echo still counts as InEchos
  count(CTR_ICMP_IN_MSGS);
  if (<u32>load<u8>(p, PKT_CSUM) == CSUM_BAD) {
    // csum_error: before the type is looked at
    count(CTR_ICMP_IN_CSUM_ERRORS);
    count(CTR_ICMP_IN_ERRORS);
    drop(p, DROP_ICMP_CSUM);
    return;
  }
  const l4 = <u32>load<u8>(p, PKT_L4_BYTES);
  if (l4 != 0 && l4 - 1 < 8) {
    // pskb_pull(skb, sizeof(*icmph)) fails: "error", before the type is counted
    count(CTR_ICMP_IN_ERRORS);
    drop(p, DROP_L4_SHORT);
    return;
  }
  const type = <u32>load<u8>(p, PKT_ICMP_TYPE);
  if (type == ICMP_DEST_UNREACH) count(CTR_ICMP_IN_DEST_UNREACHS);
  else if (type == ICMP_TIME_EXCEEDED) count(CTR_ICMP_IN_TIME_EXCDS);
  else if (type == ICMP_ECHOREPLY) count(CTR_ICMP_IN_ECHO_REPS);
  else if (type == ICMP_ECHO) count(CTR_ICMP_IN_ECHOS);
  if (type > 18) { count(CTR_ICMP_IN_ERRORS); return; } // > NR_ICMP_TYPES: "error"
  if (rtFlagsIn & (RTCF_BROADCAST | RTCF_MULTICAST)) {
    // RFC 1122 3.2.2.6 and 3.2.2.8: the "error" label counts them
    if ((type == ICMP_ECHO || type == 13) && icmpEchoIgnoreBroadcasts) { count(CTR_ICMP_IN_ERRORS); return; }
    if (type != ICMP_ECHO && type != 13 && type != 17 && type != 18) { count(CTR_ICMP_IN_ERRORS); return; }
  }
  // icmp_unreach / icmp_redirect -> icmp_socket_deliver: the quoted protocol's error
  // handler looks for the socket that sent the quoted packet
  if (l4 != 0 && (type == ICMP_DEST_UNREACH || type == 4 || type == ICMP_TIME_EXCEEDED || type == 12 || type == 5)) {
    icmpErrShortQuote(p, type, l4 - 1);
    return;
  }
  if (type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED || type == 12 || type == 5) {
    if (type == ICMP_DEST_UNREACH && <u32>load<u8>(p, PKT_ICMP_CODE) > 15) return; // > NR_ICMP_UNREACH
    errSocketLookup(p);
    return;
  }
  if (type != ICMP_ECHO) return;
  if (icmpEchoIgnoreAll) return;
  icmpEchoReply(p, specDst(p, rtFlagsIn));
}

/**
 * An ICMP error whose quote is too short for the quoted header and 8 bytes
 * of its payload (PKT_L4_BYTES: `n` bytes of ICMP; PKT_TCP_DOFF: the quoted
 * IHL): icmp_unreach (types 3, 4, 11, 12) drops a quote under 20 bytes and
 * an IHL below 5 ("error"), returns early for an unreachable code above 15
 * and for a fragment reassembly timeout; icmp_redirect drops a quote under
 * 20 bytes and takes any IHL; icmp_socket_deliver counts the rest as errors
 * when pskb_may_pull(skb, iph->ihl * 4 + 8) fails, and otherwise (a
 * redirect quoting an IHL below 5 and 8 bytes after it) hands the quote to
 * the quoted protocol's error handler, which reads the ports IHL*4 bytes in
 * (tcp_v4_err, __udp4_lib_err: the quoted tuple, PF_INNER).
 */
function icmpErrShortQuote(p: usize, type: u32, n: u32): void {
  const q = n - 8;
  const ihl = <u32>load<u8>(p, PKT_TCP_DOFF) << 2;
  if (q < 20) {
    count(CTR_ICMP_IN_ERRORS);
    drop(p, type == 5 ? DROP_PKT_TOO_SMALL : DROP_L4_SHORT);
    return;
  }
  if (type != 5) {
    if (ihl < 20) { count(CTR_ICMP_IN_ERRORS); drop(p, DROP_IP_INHDR); return; } // "Mangled header"
    const code = <u32>load<u8>(p, PKT_ICMP_CODE);
    if (type == ICMP_DEST_UNREACH && code > 15) return; // > NR_ICMP_UNREACH
    if (type == ICMP_TIME_EXCEEDED && code == 1) return; // ICMP_EXC_FRAGTIME
  }
  if (q < ihl + 8) count(CTR_ICMP_IN_ERRORS);
  else errSocketLookup(p);
}

/**
 * The error handlers of the quoted protocol when the node's socket is not
 * found: tcp_v4_err (it looks among established sockets only, which a
 * snapshot does not list: never found) and __udp4_lib_err (the bound
 * sockets of ss.txt) count IcmpInErrors; ping_err (a quoted echo) does not.
 * Without ss.txt nothing is known about sockets and nothing is counted.
 */
function errSocketLookup(p: usize): void {
  if (!socketsKnown || !(load<u16>(p, PKT_FLAGS) & PF_INNER)) return;
  const proto = <u32>load<u8>(p, PKT_INNER_PROTO);
  if (proto == 6) count(CTR_ICMP_IN_ERRORS);
  // the quoted header as NAT left it (an error for a NATed flow is translated before delivery)
  else if (proto == 17 && !socketBound(17, load<u32>(p, PKT_OUT_INNER_SRC), load<u16>(p, PKT_OUT_INNER_SPORT))) count(CTR_ICMP_IN_ERRORS);
}

/** fib_compute_spec_dst: the address an echo reply is sent from. */
function specDst(p: usize, rtFlagsIn: u32): u32 {
  if ((rtFlagsIn & (RTCF_BROADCAST | RTCF_MULTICAST | RTCF_LOCAL)) == RTCF_LOCAL) return load<u32>(p, PKT_OUT_DST);
  const saddr = load<u32>(p, PKT_OUT_SRC);
  let dev = <u32>load<u16>(p, PKT_IIF);
  if (dev == 0) dev = loopbackDev;
  let scope: u32 = RT_SCOPE_UNIVERSE;
  if (!isZeronet(saddr)) {
    const vmark = load<u8>(devPtr(dev), DEV_SRC_VALID_MARK) != 0 ? load<u32>(p, PKT_OUT_MARK) : 0;
    setFlow(loopbackDev, 0, vmark, 0, saddr, load<u8>(p, PKT_TOS), 0, 0, 0, 0);
    if (fibLookup(0) == 0) return resultPrefsrc(resRoute);
  } else {
    scope = RT_SCOPE_LINK;
  }
  return inetSelectAddr(dev, saddr, scope);
}

function markOut(p: usize, f: u32): void {
  store<u32>(p, load<u32>(p, PKT_OUT_FLAGS) | f, PKT_OUT_FLAGS);
}

export { PKT_IIF };
