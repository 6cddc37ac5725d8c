/**
 * The nodeplane WASM ABI: every byte layout shared by the AssemblyScript core
 * and the TypeScript host. This file is the single place it is documented.
 *
 * It is written in the common subset of TypeScript and AssemblyScript (plain
 * integer constants, no AS-only types) so that both compilers read the very
 * same file: `assembly/` imports it directly, `host/core/abi.ts` re-exports it.
 * Changing a number here changes both sides at once.
 *
 * Conventions
 *  - All integers are little-endian, as WASM linear memory is.
 *  - IPv4 addresses are u32 in *host* numeric order: 10.1.2.3 is 0x0A010203.
 *    (The kernel keeps them in network order; only hashes that must reproduce
 *    the kernel's byte-exact result convert, see the comment at such a hash.)
 *  - Interfaces are *device slots*: small dense numbers (1..) that the host
 *    assigns when it loads a node; slot 0 means "none". The kernel ifindex is
 *    kept in the device record for printing.
 *  - Routing tables are *table slots*, also dense; the kernel table id is kept
 *    in the table record.
 *  - Time is a virtual clock in nanoseconds (u64), driven by packet timestamps.
 *
 * ----------------------------------------------------------------------------
 * 1. Packet batch
 * ----------------------------------------------------------------------------
 * The host writes PKT_SIZE-byte descriptors back to back into a batch buffer it
 * got from `batch_alloc(capacity)`, then makes ONE call,
 * `process_batch(ptr, count)`, which fills the output fields of every
 * descriptor. Packets the node itself sends in answer (ICMP errors, TCP
 * resets, echo replies) are written as full descriptors into the reply ring
 * (`reply_ring_ptr()`); a packet points at its replies with
 * PKT_REPLY_FIRST/PKT_REPLY_COUNT. Reply descriptors have PF_REPLY set and
 * PKT_PARENT naming the packet (index in the batch) that caused them. The
 * input fields alone, packed for moving batches between threads, are
 * section 12's input records.
 *
 * Per-packet PRNG keys (optional): before `process_batch`, the host may call
 * `seed_keys_set(base, keys, count)` with `keys` pointing at `count` u32
 * values in linear memory (allocated with `alloc`), one per descriptor of
 * the batch at `base`: the core then re-seeds its PRNG from the key of the
 * packet being processed before that packet's first draw (NAT port offsets,
 * `statistic`, early drop, ICMP credits), so a packet draws the same
 * whatever other packets the engine processed. `seed_keys_set(0, 0, 0)`
 * returns to one stream seeded by SYS_SEED. For packets with consecutive
 * input indexes, `seed_keys_derive(base, count, seed, firstLo, firstHi)`
 * has the core derive the replay's keys (host/replay/runner.ts packetSeed)
 * itself, no key array, when a packet first draws.
 */

/** Size of one packet descriptor in bytes. */
export const PKT_SIZE = 256;
/** log2(PKT_SIZE): descriptor i lives at base + (i << PKT_SHIFT). */
export const PKT_SHIFT = 8;
/** Smallest batch the host should use: one JS->WASM call amortised over it. */
export const BATCH_MIN = 256;

// ---- input fields (written by the host) ------------------------------------
/** u32 source address. */
export const PKT_SRC = 0;
/** u32 destination address. */
export const PKT_DST = 4;
/** u16 TCP/UDP source port. */
export const PKT_SPORT = 8;
/** u16 TCP/UDP destination port. */
export const PKT_DPORT = 10;
/** u8 IP protocol number (6 tcp, 17 udp, 1 icmp, anything else allowed). */
export const PKT_PROTO = 12;
/** u8 TCP flags, the header's low byte: FIN 1 SYN 2 RST 4 PSH 8 ACK 16 URG 32 ECE 64 CWR 128. */
export const PKT_TCPFLAGS = 13;
/** The bits of PKT_TCPFLAGS (the TCP header's flags byte). */
export const TH_FIN = 1;
export const TH_SYN = 2;
export const TH_RST = 4;
export const TH_PSH = 8;
export const TH_ACK = 16;
export const TH_URG = 32;
export const TH_ECE = 64;
export const TH_CWR = 128;
/** u8 IP TTL as the packet arrives (or as the local socket sends it). */
export const PKT_TTL = 14;
/** u8 IP TOS / DS field. */
export const PKT_TOS = 15;
/** u16 IP total length in bytes (header + payload). */
export const PKT_LEN = 16;
/** u16 packet flags, PF_* below. */
export const PKT_FLAGS = 18;
/** u16 ingress device slot; 0 for a packet sent by a local process. */
export const PKT_IIF = 20;
/** u16 for local packets: device the socket is bound to (SO_BINDTODEVICE), 0 = none. */
export const PKT_BOUND_OIF = 22;
/**
 * u16 for packets arriving on a device (over PKT_BOUND_OIF, which only
 * local packets have): the bytes the device delivered after the IPv4
 * datagram (Ethernet padding of a frame under 60 bytes, a trailer), which
 * skb->len still holds when ip_rcv_core counts IpExtInOctets (it trims
 * them only later, pskb_trim_rcsum): the core counts PKT_LEN + this. The
 * capture decoders set it from the frame's wire length (not the captured
 * length: a snaplen cuts the capture, not what the kernel received),
 * 65535 at most; 0 for a header ip_rcv_core rejects (PKT_LEN is then all
 * the bytes) and for a reassembled datagram (PKT_FRAG_MAX: each fragment's
 * bytes are counted where the reassembly runs).
 */
export const PKT_RCV_PAD = 22;
/** u32 skb mark on arrival (for local packets: the socket's SO_MARK). */
export const PKT_MARK = 24;
/** u32 TCP sequence number. */
export const PKT_SEQ = 28;
/** u32 TCP acknowledgement number. */
export const PKT_ACK = 32;
/** u16 TCP window. */
export const PKT_WIN = 36;
/** u8 ICMP type. */
export const PKT_ICMP_TYPE = 38;
/** u8 ICMP code. */
export const PKT_ICMP_CODE = 39;
/** u16 ICMP echo identifier. */
export const PKT_ICMP_ID = 40;
/** u16 IP identification (kept through forwarding; quoted in ICMP errors). */
export const PKT_IPID = 42;
/** u32 quoted inner header of an arriving ICMP error: source address. */
export const PKT_INNER_SRC = 44;
/** u32 inner destination address. */
export const PKT_INNER_DST = 48;
/** u16 inner source port. */
export const PKT_INNER_SPORT = 52;
/** u16 inner destination port. */
export const PKT_INNER_DPORT = 54;
/** u8 inner protocol. */
export const PKT_INNER_PROTO = 56;
/**
 * The capture's forwarded copy of this packet: a capture that holds both
 * the frame arriving and the frame the node sent on (`tcpdump -i any`,
 * a multi-interface dumpcap) shows what the kernel did with it, NAT's
 * choices included (kube-proxy's random endpoint, a `--random-fully`
 * port). The replay pairs such a copy with its original (host/pcap/copies.ts,
 * assembly/capture/copies.ts) and writes the header the copy left with
 * here, over the inner-header fields (a packet with PF_INNER, an ICMP
 * error, never has them; nor do SCTP and DCCP, whose fields overlay 44).
 * Present when PKT_SEEN_DST != 0. TCP, UDP and ICMP echo: for echo the
 * identifier in both port fields.
 */
export const PKT_SEEN_SRC = 44;
/** u32 the copy's destination address (0: no copy paired). */
export const PKT_SEEN_DST = 48;
/** u16 the copy's source port (ICMP echo: identifier). */
export const PKT_SEEN_SPORT = 52;
/** u16 the copy's destination port (ICMP echo: identifier). */
export const PKT_SEEN_DPORT = 54;
/** u8 the device the copy left by: its slot + 1 (0: not known, or a slot above 254). */
export const PKT_SEEN_OIF = 56;
/**
 * u8 TCP data offset in 32-bit words (0 means 5, a bare 20-byte header).
 * Raw (0..15) when PKT_L4_BYTES says the header is malformed; an ICMP error
 * with a short quote has its quoted IHL here (PKT_L4_BYTES).
 */
export const PKT_TCP_DOFF = 57;
/** u16 ICMP echo sequence number. */
export const PKT_ICMP_SEQ = 58;
/**
 * u16 TCP (PKT_PROTO 6; overlays PKT_ICMP_SEQ): the value of the MSS option
 * xt_tcpmss's walk finds, when PKT_TCP_OPTS has TO_MSS.
 */
export const PKT_TCP_MSS = 58;
/** u32 uid of the sending socket (local packets; forwarded packets use 0 as the kernel does). */
export const PKT_UID = 60;
/** u64 virtual time of the packet in nanoseconds. */
export const PKT_TIME = 64;

// ---- output fields (written by the core) -----------------------------------
/** u8 verdict, VERDICT_* below. */
export const PKT_VERDICT = 72;
/** u8 number of fragments the packet left in (0 or 1 = not fragmented). */
export const PKT_FRAGS = 73;
/** u16 drop reason, DROP_* below (0 unless dropped). */
export const PKT_REASON = 74;
/** u16 egress device slot (forwarded/sent packets; loopback slot for local delivery). */
export const PKT_OIF = 76;
/** u8 TTL as the packet leaves. */
export const PKT_OUT_TTL = 78;
/** u8 route type of the decision (RTN_*). */
export const PKT_RT_TYPE = 79;
/** u32 next hop (gateway, or the destination itself when on-link). */
export const PKT_NEXTHOP = 80;
/** u32 source address as the packet leaves. */
export const PKT_OUT_SRC = 84;
/** u32 destination address as the packet leaves. */
export const PKT_OUT_DST = 88;
/** u16 source port as the packet leaves. */
export const PKT_OUT_SPORT = 92;
/** u16 destination port as the packet leaves. */
export const PKT_OUT_DPORT = 94;
/** u32 index of the first reply in the reply ring. */
export const PKT_REPLY_FIRST = 96;
/** u16 number of replies this packet caused. */
export const PKT_REPLY_COUNT = 100;
/** u16 for replies: index of the packet in the batch that caused it. */
export const PKT_PARENT = 102;
/** u32 table id (kernel number) of the FIB result, 0 if none. */
export const PKT_RT_TABLE = 104;
/** u32 index (snapshot line order) of the route that matched, 0xFFFFFFFF if none. */
export const PKT_RT_INDEX = 108;
/** u32 index of the ip rule that matched, 0xFFFFFFFF if none. */
export const PKT_RULE_INDEX = 112;
/** u32 for replies: ICMP "rest of header" (gateway for redirects, MTU for frag-needed). */
export const PKT_ICMP_INFO = 116;
/** u32 output packet flags, OF_* below. */
export const PKT_OUT_FLAGS = 120;
/** u32 mark as the packet leaves. */
export const PKT_OUT_MARK = 124;

// ---- more input fields (written by the host) --------------------------------
/** u8 TCP window-scale option: shift + 1 (0 = option absent). */
export const PKT_TCP_WSCALE = 128;
/** u8 TCP option flags: TO_SACK_PERM, TO_SACK below. */
export const PKT_TCP_OPTS = 129;
/**
 * u16 UDP-Lite checksum coverage, as the header's length field carries it
 * (0 = the whole datagram). For UDP (PKT_PROTO 17): the header's length
 * field when PF_UDP_LEN says it is not the datagram's transport length, else 0.
 */
export const PKT_CSCOV = 130;
/** u32 highest right edge of the SACK blocks (when PKT_TCP_OPTS has TO_SACK). */
export const PKT_TCP_SACK = 132;
/** u32 gid of the sending socket (local packets). */
export const PKT_GID = 136;
/**
 * u8 the transport checksum: CSUM_OK, CSUM_BAD (wrong), CSUM_NONE (the field
 * is zero: "no checksum" for UDP). Summed over the transport bytes, as the
 * transport receive checks it; for a UDP datagram whose length field is
 * below its transport bytes (PF_UDP_LEN without PF_UDP_LEN_BAD), over the
 * bytes the length field covers (__udp4_lib_rcv trims to them:
 * pskb_trim_rcsum), PF_NF_CSUM_OK then giving netfilter's verdict over all
 * of them. For a malformed header (PKT_L4_BYTES), over the bytes there are
 * (only REJECT's nf_ip_checksum reads it then).
 */
export const PKT_CSUM = 140;
/**
 * u8 what ip_rcv_core finds wrong with the IPv4 header (IPERR_*; 0: nothing):
 * the decoder of a capture sets it, the core drops the packet as the kernel
 * does, with its counters, before PREROUTING.
 */
export const PKT_IP_ERROR = 141;
/**
 * u16 IPCB(skb)->frag_max_size: the datagram was reassembled from fragments
 * at PREROUTING (nf_defrag_ipv4: nf_ct_ipv4_gather_frags -> ip_defrag) and
 * this is the total length of its largest fragment; 0: not reassembled.
 * Such a datagram also has skb->ignore_df set. The forwarding path reads it
 * as the kernel does: ip_exceeds_mtu (DF and a fragment larger than the MTU:
 * ICMP frag needed) and ip_fragment / ip_do_fragment (always refragmented,
 * at min(MTU, frag_max_size)). The ip_rcv of the fragments other than the
 * completing one (IpInReceives), every fragment's IpExtInOctets and ECN
 * count (the completing one's too: its own bytes and ECN bits, not the
 * datagram's) and the reassembly counters (IpReasm*) are counted where the
 * reassembly runs (the capture decoder, host/packet/defrag.ts); the core
 * counts this descriptor's IpInReceives once, as the kernel counts the
 * completing fragment's, and not its bytes or ECN codepoint.
 */
export const PKT_FRAG_MAX = 142;
/**
 * The header is sound. ip_rcv_core counts the ECN codepoint of every packet
 * whose header passes the version and IHL check (IpExtIn{NoECT,ECT1,ECT0,CE}Pkts,
 * before pskb_may_pull(ihl * 4), the checksum and the total length):
 * the errors below say which side of it they are.
 */
export const IPERR_NONE = 0;
/**
 * Fewer than 20 bytes (pskb_may_pull(sizeof(struct iphdr)) fails), version
 * not 4 or IHL below 5: IpInHdrErrors, IP_INHDR; before the ECN count.
 */
export const IPERR_HDR = 1;
/** Header checksum wrong: IpExtInCsumErrors and IpInHdrErrors, IP_CSUM; after the ECN count. */
export const IPERR_CSUM = 2;
/** Total length beyond the frame: IpExtInTruncatedPkts, PKT_TOO_SMALL; after the ECN count. */
export const IPERR_TRUNCATED = 3;
/**
 * The frame is shorter than the header's IHL * 4 bytes (pskb_may_pull(ihl *
 * 4) fails), or the total length is below them: IpInHdrErrors, IP_INHDR;
 * after the ECN count.
 */
export const IPERR_HDR_LEN = 4;
/**
 * The options are valid and hold a source route (LSRR or SSRR):
 * ip_rcv_options drops the packet after input routing when the device's
 * accept_source_route is off (IN_DEV_SOURCE_ROUTE), counting nothing
 * (SKB_DROP_REASON_NOT_SPECIFIED); DROP_IP_SRR. Loading refuses a node where
 * it is on (ip_options_rcv_srr is not modelled).
 */
export const IPERR_SRR = 5;
/**
 * IPERR_OPTIONS + n: ip_options_compile rejects the options, n (20..59)
 * being the offset from the header's start of the byte at fault (pp_ptr):
 * after input routing, IpInHdrErrors, an ICMP parameter problem pointing at
 * it (icmp_send(ICMP_PARAMETERPROB, 0, n << 24)), DROP_IP_OPTIONS.
 */
export const IPERR_OPTIONS = 64;
export const CSUM_OK = 0;
export const CSUM_BAD = 1;
export const CSUM_NONE = 2;

// ---- SCTP packets (PKT_PROTO 132) reuse the TCP and ICMP input fields ------
// An SCTP packet has no TCP or ICMP header, so the SCTP common header and
// what the conntrack tracker reads of its chunks (nf_conntrack_proto_sctp.c:
// the chunk types in order, their T flags, zero-length chunks, the INIT /
// INIT ACK initiate tag) are written over those fields. PKT_SPORT/DPORT are
// the SCTP ports; PKT_CSUM is the CRC32c verdict.
/** u32 the common header's verification tag (over PKT_SEQ). */
export const PKT_SCTP_VTAG = 28;
/** u32 the initiate tag of an INIT or INIT ACK chunk (over PKT_ACK). */
export const PKT_SCTP_INIT_TAG = 32;
/** u8 number of chunks, 0..SCTP_MAX_CHUNKS (over PKT_TCPFLAGS). */
export const PKT_SCTP_NCHUNKS = 13;
/** u8 x SCTP_MAX_CHUNKS chunk types in packet order (over PKT_TCP_WSCALE .. PKT_TCP_SACK). */
export const PKT_SCTP_CHUNKS = 128;
/** u8 bit i: chunk i has the T flag (over PKT_WIN's low byte). */
export const PKT_SCTP_TFLAGS = 36;
/** u8 bit i: chunk i has a zero length field (over PKT_WIN's high byte). */
export const PKT_SCTP_ZEROLEN = 37;
/** u8 SCTPF_* below (over PKT_ICMP_TYPE). */
export const PKT_SCTP_FLAGS = 38;
/** The INIT or INIT ACK chunk is too short to hold its initiate tag. */
export const SCTPF_NO_INITHDR = 1;
/** Chunks the descriptor can carry. */
export const SCTP_MAX_CHUNKS = 8;
/**
 * u8 x SCTP_MAX_CHUNKS the chunks' flags bytes, in packet order (over
 * PKT_INNER_SRC/DST, which only ICMP errors have): what `-m sctp
 * --chunk-types` compares (xt_sctp.c match_flags); bit 0 is the T flag
 * (PKT_SCTP_TFLAGS, which conntrack reads, keeps it too).
 */
export const PKT_SCTP_CHUNK_FLAGS = 44;
/**
 * (PKT_SCTP_FLAGS) 1..3 bytes follow the last chunk: a chunk header that
 * cannot be read. xt_sctp's chunk walk (match_packet) hotdrops the packet
 * when it reaches it, as it does a packet without any chunk (no chunks, no
 * zero-length chunk) and a zero-length chunk; conntrack's walk just stops.
 */
export const SCTPF_TAIL = 2;

// ---- DCCP packets (PKT_PROTO 33) reuse the TCP and ICMP input fields too ---
// What `-m dccp` reads of the 12-byte generic header (struct dccp_hdr) besides
// the ports: its packet type, and the options. A DCCP packet with its ports
// but under 12 transport bytes is not malformed for PKT_L4_BYTES (multiport
// reads 4), so DCCPF_SHORT says it. The option area reaches 1020 bytes (an
// 8-bit data offset), so the descriptor carries what `--dccp-option N` asks
// of it: the set of option types dccp_find_option's walk finds (a byte below
// 2 is one byte long, any other is followed by its length, 0 read as 1), a
// 256-bit map in three pieces: bit t & 7 of byte (t >> 3) from
// PKT_DCCP_OPTS_LO for t < 128, of byte ((t - 128) >> 3) from
// PKT_DCCP_OPTS_MID for t 128..191, of byte ((t - 192) >> 3) from
// PKT_DCCP_OPTS_HI for t 192..255.
/** u8 dccph_type, 0..15 (over PKT_TCPFLAGS). */
export const PKT_DCCP_TYPE = 13;
/** u8 DCCPF_* below (over PKT_ICMP_TYPE). */
export const PKT_DCCP_FLAGS = 38;
/** 4..11 transport bytes: the ports, not the generic header dccp_mt reads (it hotdrops). */
export const DCCPF_SHORT = 1;
/**
 * The options cannot be read: the data offset is below the header's length
 * (__dccp_hdr_len: 12 or 16 with X, plus the type's subheader), or the
 * options run beyond the packet. dccp_find_option hotdrops (the option map is 0).
 */
export const DCCPF_OPT_HOTDROP = 2;
/** u8 x 16 option types 0..127 (over PKT_INNER_SRC .. PKT_ICMP_SEQ). */
export const PKT_DCCP_OPTS_LO = 44;
/** u8 x 8 option types 128..191 (over PKT_SEQ, PKT_ACK). */
export const PKT_DCCP_OPTS_MID = 28;
/** u8 x 8 option types 192..255 (over PKT_TCP_WSCALE .. PKT_TCP_SACK). */
export const PKT_DCCP_OPTS_HI = 128;

// ---- the live header -------------------------------------------------------
// While a packet is processed, PKT_OUT_SRC/DST/SPORT/DPORT/TTL/MARK plus the
// fields below ARE the packet's header: the core copies the input fields into
// them first, NAT and mangle rewrite them, routing and rules read them. When
// processing ends they hold the packet as it leaves (or as it was dropped).
/** u32 quoted inner header of an ICMP error, as it leaves: source. */
export const PKT_OUT_INNER_SRC = 144;
/** u32 inner destination. */
export const PKT_OUT_INNER_DST = 148;
/** u16 inner source port (or ICMP echo id of a quoted echo). */
export const PKT_OUT_INNER_SPORT = 152;
/** u16 inner destination port (or quoted echo sequence). */
export const PKT_OUT_INNER_DPORT = 154;
/** u16 ICMP echo identifier as it leaves (NAT may change it). */
export const PKT_OUT_ICMP_ID = 156;

// ---- conntrack and netfilter results (written by the core) -------------------
/** u8 ctinfo as the packet was classified, CTINFO_* below (CTINFO_NONE: no conntrack entry = INVALID). */
export const PKT_CT_INFO = 158;
/** u8 NAT_OP_* bits: what NAT did to this packet. */
export const PKT_NAT_OPS = 159;
/** u32 conntrack entry (index + 1; 0 = none). */
export const PKT_CT_ID = 160;
/** u32 the entry's status bits (IPS_*) after the packet. */
export const PKT_CT_STATUS = 164;
/** u32 the entry's mark after the packet. */
export const PKT_CT_MARK = 168;
/** u8 the entry's protocol state after the packet (TCP_CONNTRACK_*). */
export const PKT_CT_STATE = 172;
/** u8 the entry's protocol number. */
export const PKT_CT_PROTO = 173;
/** u8 packet processing flags, PX_* below. */
export const PKT_PX = 174;
/** u8 hook (NF_INET_*) of the netfilter verdict that dropped the packet, 0xff if none. */
export const PKT_NF_DROP_HOOK = 175;
/** u32 jiffies until the entry expires, after the packet (the host divides by HZ, as `conntrack -L` prints nf_ct_expires / HZ). */
export const PKT_CT_TIMEOUT = 176;
/** u32 entry's original tuple: source, destination, ports (ICMP: id, type<<8|code). */
export const PKT_CT_ORIG_SRC = 180;
export const PKT_CT_ORIG_DST = 184;
export const PKT_CT_ORIG_SPORT = 188;
export const PKT_CT_ORIG_DPORT = 190;
/** u32 entry's reply tuple, same layout. */
export const PKT_CT_REPL_SRC = 192;
export const PKT_CT_REPL_DST = 196;
export const PKT_CT_REPL_SPORT = 200;
export const PKT_CT_REPL_DPORT = 202;
/** u32 index of the packet's first record in the trace ring. */
export const PKT_NF_TRACE_FIRST = 204;
/** u32 number of trace records. */
export const PKT_NF_TRACE_COUNT = 208;
/** u32 rules the kernel's ipt_do_table would have examined for this packet (all tables, all hooks). */
export const PKT_NF_RULES = 212;
/** u32 rule entry (E_ID) whose verdict dropped or rejected the packet, 0xFFFFFFFF if none. */
export const PKT_NF_VERDICT_RULE = 216;
// ---- inputs placed after the results (written by the host; initOutputs keeps them)
/** u8 type of the ICMP message quoted by an arriving ICMP error (when PKT_INNER_PROTO is 1). */
export const PKT_INNER_ICMP_TYPE = 220;
/** u8 code of the quoted ICMP message. */
export const PKT_INNER_ICMP_CODE = 221;
/**
 * u8 CPU that handles the packet, plus one (1..64; 0: the core picks one by
 * a hash of the flow, as RSS spreads flows over a NIC's queues). Only read
 * when the core models more than one CPU (smp.ts).
 */
export const PKT_CPU = 222;
/**
 * u8 the transport header is malformed although the whole datagram arrived
 * (0: it is sound, as far as the kernel reads it): 1 + the number of
 * transport bytes the datagram carries (total length - IPv4 header length),
 * 255 for 254 or more (every check below reads fewer). Malformed means:
 *  - TCP: fewer than 20 bytes, or a data offset below 5 or beyond the bytes
 *    (PKT_TCP_DOFF then holds the raw data offset, 0..15; 0 when fewer than
 *    13 bytes hold none);
 *  - UDP, UDP-Lite: fewer than 8 bytes;
 *  - SCTP: fewer than 12 (no common header: sctp_error's "short packet";
 *    the chunk fields are then 0), DCCP: fewer than 4 (no ports: only
 *    multiport reads DCCP here, and the kernel has no DCCP tracker);
 *  - ICMP: fewer than 8 bytes, or an error (icmp_is_err) whose quote (the
 *    bytes after the 8-byte ICMP header) is shorter than the quoted IPv4
 *    header and 8 bytes of its payload. For such an error PKT_TCP_DOFF holds
 *    the quoted header's IHL field (0..15; 0 when the quote is shorter than
 *    20 bytes: an IHL below 5 is a malformed quote too, which icmp_unreach
 *    drops and icmp_redirect hands to the quoted protocol's error handler,
 *    its ports read IHL*4 bytes in), and PF_INNER is set only when conntrack can read the quoted
 *    tuple (nf_ct_get_tuplepr: IHL*4 bytes, then 4 more for the ports of
 *    TCP/UDP/UDP-Lite/SCTP/DCCP, 8 for ICMP).
 * Fields whose bytes are missing are 0 (TCP and UDP ports need 4 bytes; TCP
 * flags, sequence, acknowledgement and window the whole 20-byte header; the
 * ICMP type 1 byte, the code 2). The core handles the packet as the kernel
 * does: conntrack finds it INVALID (nf_ct_get_tuple, tcp_error, udp_error,
 * icmp_error), the tcp/udp/icmp/multiport matches hotdrop it when they
 * cannot read what they need (DROP_NF_HOTDROP), local delivery drops it in
 * tcp_v4_rcv / __udp4_lib_rcv / icmp_rcv with their counters, forwarding
 * forwards it untouched. Only packets arriving on a device carry it.
 * (A UDP length field that disagrees with the bytes is PF_UDP_LEN.)
 */
export const PKT_L4_BYTES = 223;
// ---- core bookkeeping (output area) ----
/** u32 index of the packet's last record in the trace ring (core bookkeeping). */
export const PKT_NF_TRACE_LAST = 224;
/** u32 RTCF_* flags of the packet's current output route (core bookkeeping for local packets). */
export const PKT_RT_FLAGS = 228;
/** u32 MTU metric of that route, 0 = device MTU (core bookkeeping). */
export const PKT_RT_MTU = 232;
/** u32 gateway of that route, 0 = on-link (core bookkeeping). */
export const PKT_RT_GW = 236;
/**
 * u8 non-zero while the packet waits, between the two phases of a round of
 * concurrent packets (smp.ts), for its POSTROUTING confirm; the four fields
 * after it hold what the transmit after the confirm needs (core bookkeeping).
 */
export const PKT_DEFERRED = 240;
/** u16 egress device of the deferred transmit. */
export const PKT_DEFER_OIF = 242;
/** u32 next hop of the deferred transmit. */
export const PKT_DEFER_NEXTHOP = 244;
/** u32 route MTU metric of the deferred transmit (0 = device MTU). */
export const PKT_DEFER_MTU = 248;
/** u32 OF_* flags of the deferred transmit. */
export const PKT_DEFER_FLAGS = 252;

/** TCP option flags (PKT_TCP_OPTS). */
export const TO_SACK_PERM = 1;
export const TO_SACK = 2;
/** An MSS option (kind 2, length 4) as tcpmss_mt's walk finds it; its value in PKT_TCP_MSS. */
export const TO_MSS = 4;

/** ctinfo (enum ip_conntrack_info) and our "no entry" marker. */
export const CTINFO_ESTABLISHED = 0;
export const CTINFO_RELATED = 1;
export const CTINFO_NEW = 2;
export const CTINFO_ESTABLISHED_REPLY = 3;
export const CTINFO_RELATED_REPLY = 4;
export const CTINFO_UNTRACKED = 7;
/** No conntrack entry attached: what -m conntrack calls INVALID. */
export const CTINFO_NONE = 0xff;

/** NAT operations on this packet (PKT_NAT_OPS). */
export const NAT_OP_DNAT = 1;
export const NAT_OP_SNAT = 2;
/** This packet made the DST binding (walked nat PREROUTING/OUTPUT). */
export const NAT_OP_SETUP_DST = 4;
/** This packet made the SRC binding (walked nat POSTROUTING/INPUT). */
export const NAT_OP_SETUP_SRC = 8;
/** The inner header of an ICMP error was translated. */
export const NAT_OP_ICMP_INNER = 16;

/** Packet processing flags (PKT_PX). */
/** skb->nf_trace: a TRACE target marked the packet. */
export const PX_NFTRACE = 1;
/** The trace ring filled up; the packet's trace is incomplete. */
export const PX_TRACE_TRUNC = 2;
/** The packet was re-routed after OUTPUT (ip_route_me_harder). */
export const PX_REROUTED = 4;
/** The packet carries a user socket (a local process sent it): -m owner sees its uid/gid. */
export const PX_HAS_SOCK = 8;
/** The packet carries a kernel control socket (TCP reset, ICMP reply): -m owner sees a socket without a file. */
export const PX_KSOCK = 16;
/** A TOS or DSCP target rewrote PKT_TOS: results report `tos`, the egress bytes carry it. */
export const PX_TOS_SET = 32;
/** TCPMSS lowered the MSS option (PKT_TCP_MSS): results report `mss`, the egress bytes carry it (TCP checksum updated). */
export const PX_MSS_SET = 64;
/**
 * TCPMSS inserted an MSS option (a segment without one and without data,
 * tcpmss_mangle_packet's tail): 4 bytes right after the 20-byte TCP header,
 * the options that were there moved back. The core has already made the
 * descriptor the longer packet (PKT_LEN + 4, PKT_TCP_DOFF + 1, TO_MSS,
 * PKT_TCP_MSS its value, which a later TCPMSS may lower: PX_MSS_SET too);
 * the egress bytes insert it (TCP and IP checksums updated), results report
 * `mss` and `len`.
 */
export const PX_MSS_INSERT = 128;
/**
 * An ICMP error the node sends (PF_REPLY) quoting a TCP segment TCPMSS
 * changed before the error was sent: u8 QF_* below, what the quote's bytes
 * must show that the captured bytes do not (overlays PKT_TCP_OPTS, a TCP
 * field: an ICMP error has none).
 */
export const PKT_QUOTE_FLAGS = 129;
/** u16 the quoted segment's MSS option (overlays PKT_ICMP_SEQ, which an ICMP error does not carry). */
export const PKT_QUOTE_MSS = 58;
/** The quoted segment's MSS option has PKT_QUOTE_MSS (PX_MSS_SET). */
export const QF_MSS_SET = 1;
/** The quoted segment has an inserted MSS option of PKT_QUOTE_MSS (PX_MSS_INSERT): 4 bytes longer. */
export const QF_MSS_INSERT = 2;
/**
 * PKT_QUOTE_TTL holds the quoted header's TTL as it was when the error was
 * sent (after ip_forward's decrement, a TTL target), which the captured
 * bytes may not show.
 */
export const QF_TTL = 4;
/** u8 the quoted header's TTL (QF_TTL; overlays PKT_TCP_WSCALE, a TCP field: an ICMP error has none). */
export const PKT_QUOTE_TTL = 128;

// ---- packet flags (PKT_FLAGS) ----------------------------------------------
/** IP Don't Fragment. */
export const PF_DF = 1;
/** Sent by a local process (PKT_IIF is 0). */
export const PF_LOCAL = 2;
/** Carries a quoted inner header (arriving ICMP error). */
export const PF_INNER = 4;
/** This descriptor is a reply generated by the node. */
export const PF_REPLY = 8;
/** Link-layer broadcast/multicast (skb->pkt_type != PACKET_HOST). */
export const PF_L2_OTHER = 16;
/** The packet's source was given (local packets: bound address); else chosen by routing. */
export const PF_SRC_SET = 32;
/**
 * The frame was addressed to another host (skb->pkt_type PACKET_OTHERHOST,
 * as a capture's SLL/SLL2 header records it; set with PF_L2_OTHER):
 * ip_rcv_core drops it first (DROP_OTHERHOST).
 */
export const PF_OTHERHOST = 64;
/**
 * UDP (PKT_PROTO 17): the header's length field is not the datagram's
 * transport length (IP total length - header length); PKT_CSCOV holds it.
 * Forwarding leaves it alone; conntrack and local delivery read it (with
 * PF_UDP_LEN_BAD and PF_NF_CSUM_OK below).
 */
export const PF_UDP_LEN = 128;
/**
 * With PF_UDP_LEN: the length field is beyond the transport bytes or below
 * 8. udp_error finds the packet INVALID ("truncated/malformed packet",
 * before the checksum); __udp4_lib_rcv drops it (short_packet: UdpInErrors,
 * PKT_TOO_SMALL, before the checksum). Without it (and with PF_UDP_LEN) the
 * length is below the transport bytes: the receive trims the datagram to
 * it and PKT_CSUM is the checksum over that many bytes.
 */
export const PF_UDP_LEN_BAD = 256;
/**
 * With PF_UDP_LEN (a length below the transport bytes) and a checksum: the
 * ones' complement sum over ALL the transport bytes, their count in the
 * pseudo-header, is right. That is what nf_ip_checksum computes (conntrack's
 * udp_error at PREROUTING, REJECT): clear, netfilter finds the checksum bad
 * even when PKT_CSUM (over the UDP length) is right, as it is for a
 * datagram with bytes after its UDP length.
 */
export const PF_NF_CSUM_OK = 512;
/**
 * Bits 12..15: the IPv4 header's option words, IHL - 5 (0: a 20-byte
 * header, the common case). Transport lengths are the total length minus
 * 20 + 4 * these words (util/ip.ts ipHdrLen). ip_options_compile's verdict
 * on the options is PKT_IP_ERROR (IPERR_SRR, IPERR_OPTIONS).
 */
export const PF_IP_OPTS_SHIFT = 12;
export const PF_IP_OPTS_MASK = 0xf000;
/**
 * u8 over PKT_UID's low byte (a uid only local packets have), for a packet
 * arriving with options (PF_IP_OPTS_MASK): the length of the options
 * __ip_options_echo puts into the header of the node's answers to it (ICMP
 * errors, echo replies, TCP resets), 0..40; IP_OPT_ECHO_FAILS when the echo
 * fails (-EINVAL) and the kernel sends no answer. The capture decoder
 * computes it (host/packet/ipopts.ts ipOptionsEcho).
 */
export const PKT_IP_OPT_ECHO = 60;
export const IP_OPT_ECHO_FAILS = 0xff;
/**
 * Set in PKT_IP_OPT_ECHO (with the length in its low 6 bits) when the echo
 * holds a reversed source route: the answer goes to the route's first hop
 * (dopt->faddr: icmp_route_lookup routes to it and it is the answer's
 * destination), which PKT_IP_OPT_FADDR holds.
 */
export const IP_OPT_ECHO_SRR = 0x80;
/** u32 over PKT_GID (a gid only local packets have): dopt->faddr, with IP_OPT_ECHO_SRR. */
export const PKT_IP_OPT_FADDR = 136;
/**
 * With PF_L2_OTHER (and not PF_OTHERHOST): the frame went to a multicast
 * link-layer address (skb->pkt_type PACKET_MULTICAST); without it a
 * PF_L2_OTHER frame is PACKET_BROADCAST. Only -m pkttype tells them apart.
 */
export const PF_L2_MCAST = 1024;
/**
 * Local packets: the sending socket has SO_BROADCAST (JSON `so_broadcast`),
 * without which udp_sendmsg and raw_sendmsg refuse a broadcast route
 * (EACCES).
 */
export const PF_SO_BROADCAST = 2048;

// ---- output flags (PKT_OUT_FLAGS) --------------------------------------------
/** The forwarding path decided to send an ICMP redirect (RTCF_DOREDIRECT). */
export const OF_REDIRECT = 1;
/** Delivered as broadcast (RTCF_BROADCAST). */
export const OF_BROADCAST = 2;
/** Delivered/sent via the loopback device (RTCF_LOCAL). */
export const OF_LOCAL = 4;
/** The route uses a gateway (rt_uses_gateway). */
export const OF_GATEWAY = 8;
/** The egress device has no carrier. */
export const OF_NO_CARRIER = 16;
/** A local broadcast/multicast send: ip_mc_output's looped-back copy was delivered to the node. */
export const OF_LOOP_LOCAL = 32;
/** A local broadcast/multicast send: ip_mc_output's looped-back copy was dropped (by a hook). */
export const OF_LOOP_DROP = 64;
/** Local delivery: a socket took the TCP segment or UDP datagram (a listener of ss.txt, or a connection the node made). */
export const OF_SOCKET = 0x100;
/** Local delivery: the node's sockets are known (ss.txt) and none took it (a closed port: RST or port unreachable). */
export const OF_NO_SOCKET = 0x200;

// ---- verdicts --------------------------------------------------------------
export const VERDICT_NONE = 0;
/** Leaves the node through PKT_OIF (for local packets: transmitted). */
export const VERDICT_FORWARD = 1;
/** Delivered to the node itself. */
export const VERDICT_LOCAL = 2;
/** Dropped; PKT_REASON says why. */
export const VERDICT_DROP = 3;

// ---- drop reasons: named after the kernel's enum skb_drop_reason where one
// exists (include/net/dropreason-core.h); the host maps them to strings. -----
export const DROP_NONE = 0;
/** Martian source: multicast, limited broadcast or 0.0.0.0 (ip_route_input_slow). */
export const DROP_IP_INVALID_SOURCE = 1;
/** Martian destination: 0.0.0.0, or a route type that cannot be forwarded. */
export const DROP_IP_INVALID_DEST = 2;
/** 127.0.0.0/8 seen on a non-loopback device without route_localnet. */
export const DROP_IP_LOCALNET = 3;
/** Reverse-path filter (rp_filter) rejected the source. */
export const DROP_IP_RPFILTER = 4;
/** Source is one of the node's own addresses (fib_validate_source -EINVAL). */
export const DROP_IP_LOCAL_SOURCE = 5;
/** No route to host (EHOSTUNREACH: unreachable route, or forwarding disabled). */
export const DROP_IP_INADDRERRORS = 6;
/** Network unreachable (ENETUNREACH: no route, or an unreachable rule). */
export const DROP_IP_INNOROUTES = 7;
/** IP header error: TTL expired in transit (ip_forward too_many_hops), a malformed header (ip_rcv_core), or an arriving ICMP error quoting a header with IHL below 5 (icmp_unreach). */
export const DROP_IP_INHDR = 8;
/** DF set and larger than the path MTU (ip_forward). */
export const DROP_PKT_TOO_BIG = 9;
/** Blackhole route or rule (dst_discard). */
export const DROP_BLACKHOLE = 10;
/** Administratively prohibited route or rule (EACCES). */
export const DROP_PROHIBIT = 11;
/** Ingress device is down. */
export const DROP_DEV_DOWN = 12;
/** Egress device has no carrier (queued then dropped by the driver). */
export const DROP_NO_CARRIER = 13;
/** Local sender: source address is not local (EINVAL/ENETUNREACH from routing). */
export const DROP_BAD_SOURCE = 14;
/** Local sender: bound device does not exist or is down (ENODEV/ENETUNREACH). */
export const DROP_NO_DEVICE = 15;
/** Local sender: message too long for the MTU with DF (EMSGSIZE). */
export const DROP_MSGSIZE = 16;
/** Link-layer broadcast/multicast frame the IP layer will not forward (ip_forward: pkt_type != PACKET_HOST). */
export const DROP_L2_NOT_HOST = 17;
/** Local sender: destination is invalid (EINVAL, e.g. 0.0.0.0 or a loopback source off-loopback). */
export const DROP_OUTPUT_EINVAL = 18;
/** Dropped for a reason the kernel does not name either (SKB_DROP_REASON_NOT_SPECIFIED), e.g. a multicast group not joined. */
export const DROP_NOT_SPECIFIED = 19;
/** Local sender: broadcast destination on a socket without SO_BROADCAST (EACCES). */
export const DROP_SOCK_BROADCAST = 20;
/** A netfilter rule or chain policy said DROP or REJECT (SKB_DROP_REASON_NETFILTER_DROP); PKT_NF_VERDICT_RULE names it. */
export const DROP_NETFILTER = 21;
/** nf_conntrack table full and nothing could be early-dropped ("nf_conntrack: table full, dropping packet"). */
export const DROP_CT_TABLE_FULL = 22;
/** The connection could not be confirmed: its tuple was taken by then (conntrack -S insert_failed). */
export const DROP_CT_INSERT_FAILED = 23;
/** MASQUERADE found no address on the egress device, or REDIRECT none on the ingress device. */
export const DROP_NAT_NO_ADDR = 24;
/** A MASQUERADEd connection's packet left through another device (nf_nat_oif_changed). */
export const DROP_NAT_OIF_CHANGED = 25;
/** Re-routing after OUTPUT (ip_route_me_harder) found no route. */
export const DROP_NF_REROUTE = 26;
/** TCP checksum error on local delivery (SKB_DROP_REASON_TCP_CSUM). */
export const DROP_TCP_CSUM = 27;
/** UDP checksum error on local delivery (SKB_DROP_REASON_UDP_CSUM). */
export const DROP_UDP_CSUM = 28;
/** ICMP checksum error on local delivery (SKB_DROP_REASON_ICMP_CSUM). */
export const DROP_ICMP_CSUM = 29;
/** Number of drop reasons (for counters). */
/** ip_rcv_core: IPv4 header checksum wrong (SKB_DROP_REASON_IP_CSUM). */
export const DROP_IP_CSUM = 30;
/** ip_rcv_core: IPv4 total length beyond the frame; tcp_v4_rcv: TCP data offset below 5 (SKB_DROP_REASON_PKT_TOO_SMALL). */
export const DROP_PKT_TOO_SMALL = 31;
/**
 * A frame addressed to another host's MAC (skb->pkt_type PACKET_OTHERHOST,
 * PF_OTHERHOST): ip_rcv_core drops it before anything counts it
 * (SKB_DROP_REASON_OTHERHOST).
 */
export const DROP_OTHERHOST = 32;
/**
 * An iptables match could not read the transport header it needs (a TCP
 * header under 20 bytes, UDP or ICMP under 8, no ports for multiport; TCP
 * options beyond the bytes or a data offset below 5 for --tcp-option):
 * tcp_mt / udp_mt / icmp_match / multiport_mt set par->hotdrop and
 * ipt_do_table returns NF_DROP at once (SKB_DROP_REASON_NETFILTER_DROP; no
 * rule or policy counts the packet). PKT_NF_VERDICT_RULE names the rule
 * whose match hotdropped.
 */
export const DROP_NF_HOTDROP = 33;
/**
 * The transport header is shorter than its protocol needs (PKT_L4_BYTES)
 * and the transport receive drops the packet without naming a reason
 * (SKB_DROP_REASON_NOT_SPECIFIED): tcp_v4_rcv (fewer than 20 bytes, or a
 * data offset beyond them), __udp4_lib_rcv (fewer than 8), icmp_rcv (fewer
 * than 8), icmp_unreach (a quote under 20 bytes). A TCP data offset below 5
 * is PKT_TOO_SMALL, as the kernel names it; a quoted IHL below 5, IP_INHDR.
 */
export const DROP_L4_SHORT = 34;
/**
 * ip_rcv_options: ip_options_compile rejected the IPv4 options (IPERR_OPTIONS;
 * IpInHdrErrors, a parameter problem; the kernel's reason is NOT_SPECIFIED).
 */
export const DROP_IP_OPTIONS = 35;
/** ip_rcv_options: a source route option with accept_source_route off (IPERR_SRR; no counter; NOT_SPECIFIED). */
export const DROP_IP_SRR = 36;
export const DROP_MAX = 37;

// ---- route types (rtnetlink RTN_*), scopes (RT_SCOPE_*) --------------------
export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
export const RTN_ANYCAST = 4;
export const RTN_MULTICAST = 5;
export const RTN_BLACKHOLE = 6;
export const RTN_UNREACHABLE = 7;
export const RTN_PROHIBIT = 8;
export const RTN_THROW = 9;
export const RTN_NAT = 10;
export const RTN_XRESOLVE = 11;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;

/*
 * ----------------------------------------------------------------------------
 * 2. Node configuration records (written by the host through staging buffers)
 * ----------------------------------------------------------------------------
 */

/** Device record: one per device slot, `dev_set(slot, ptr)` copies it in. */
export const DEV_SIZE = 48;
/** u32 kernel ifindex. */
export const DEV_IFINDEX = 0;
/** u32 IFF_* flags as `ip link` shows them (UP 0x1, LOOPBACK 0x8, NOARP 0x80, LOWER_UP 0x10000). */
export const DEV_FLAGS = 4;
/** u32 MTU. */
export const DEV_MTU = 8;
/** u32 device group (for suppress_ifgroup). */
export const DEV_GROUP = 12;
/** u8 effective conf: forwarding (IN_DEV_FORWARD). */
export const DEV_FORWARDING = 16;
/** u8 effective rp_filter = max(conf/all, conf/dev) (IN_DEV_RPFILTER). */
export const DEV_RP_FILTER = 17;
/** u8 effective accept_local (IN_DEV_ORCONF). */
export const DEV_ACCEPT_LOCAL = 18;
/** u8 effective src_valid_mark (IN_DEV_ORCONF). */
export const DEV_SRC_VALID_MARK = 19;
/** u8 effective route_localnet (IN_DEV_ORCONF). */
export const DEV_ROUTE_LOCALNET = 20;
/** u8 effective send_redirects (IN_DEV_ORCONF, IN_DEV_TX_REDIRECTS). */
export const DEV_SEND_REDIRECTS = 21;
/** u8 effective shared_media (IN_DEV_ORCONF). */
export const DEV_SHARED_MEDIA = 22;
/** u8 effective ignore_routes_with_linkdown (IN_DEV_ORCONF? see host). */
export const DEV_IGNORE_LINKDOWN = 23;
/** u8 effective bc_forwarding (IN_DEV_ANDCONF). */
export const DEV_BC_FORWARDING = 24;
/** u8 1 if the device has an IPv4 configuration (in_device). */
export const DEV_HAS_INET = 25;
/** u32 index of the device's first address in the address array. */
export const DEV_ADDR_FIRST = 28;
/** u32 number of addresses. */
export const DEV_ADDR_COUNT = 32;

export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;
export const IFF_NOARP = 0x80;
export const IFF_LOWER_UP = 0x10000;

/** Address record, in the order `ip addr` lists them (the kernel's ifa_list). */
export const ADDR_SIZE = 16;
/** u32 local address. */
export const ADDR_LOCAL = 0;
/** u8 prefix length. */
export const ADDR_PLEN = 4;
/** u8 scope (RT_SCOPE_*). */
export const ADDR_SCOPE = 5;
/** u8 flags, IFA_F_* subset below. */
export const ADDR_FLAGS = 6;
/** u16 device slot. */
export const ADDR_DEV = 8;
/** u32 broadcast address (0 if none). */
export const ADDR_BRD = 12;
export const IFA_F_SECONDARY = 1;
export const IFA_F_NOPREFIXROUTE = 2;

/** Route record (fib_alias + fib_info + one nexthop), staged per table. */
export const ROUTE_SIZE = 32;
/** u32 prefix (already masked). */
export const RT_PREFIX = 0;
/** u8 prefix length. */
export const RT_PLEN = 4;
/** u8 route type RTN_*. */
export const RT_TYPE = 5;
/** u8 scope RT_SCOPE_*. */
export const RT_SCOPE = 6;
/** u8 TOS (fa_dscp as a DS field; 0 = any). */
export const RT_TOS = 7;
/** u32 metric (fib_priority). */
export const RT_METRIC = 8;
/** u32 preferred source (fib_prefsrc), 0 = none. */
export const RT_PREFSRC = 12;
/** u32 gateway, 0 = none. */
export const RT_GW = 16;
/** u16 nexthop device slot, 0 = none. */
export const RT_DEV = 20;
/** u8 RTNH_F_* nexthop flags: DEAD 1, PERVASIVE 2, ONLINK 4, LINKDOWN 16. */
export const RT_NHFLAGS = 22;
/** u8 nexthop scope (RT_SCOPE_HOST for a direct route, LINK with a gateway). */
export const RT_NHSCOPE = 23;
/** u32 MTU metric, 0 = none (use the device MTU). */
export const RT_MTU = 24;
/** u32 the route's index in the snapshot (line order), returned in PKT_RT_INDEX. */
export const RT_INDEX = 28;
export const RTNH_F_DEAD = 1;
export const RTNH_F_PERVASIVE = 2;
export const RTNH_F_ONLINK = 4;
export const RTNH_F_LINKDOWN = 16;

/** Policy routing rule record, in priority order (`rules_set(ptr, count)`). */
export const RULE_SIZE = 64;
/** u32 priority. */
export const RULE_PREF = 0;
/** u8 action, FR_ACT_* below. */
export const RULE_ACTION = 4;
/** u8 flags, RF_* below. */
export const RULE_FLAGS = 5;
/** u8 source prefix length. */
export const RULE_SRC_LEN = 6;
/** u8 destination prefix length. */
export const RULE_DST_LEN = 7;
/** u32 source prefix. */
export const RULE_SRC = 8;
/** u32 destination prefix. */
export const RULE_DST = 12;
/** u32 fwmark value. */
export const RULE_MARK = 16;
/** u32 fwmark mask (0 = fwmark not used). */
export const RULE_MARK_MASK = 20;
/** u32 table slot for FR_ACT_TO_TBL, 0xFFFFFFFF if the table does not exist. */
export const RULE_TABLE = 24;
/** u32 for FR_ACT_GOTO: index of the target rule, 0xFFFFFFFF if unresolved. */
export const RULE_GOTO = 28;
/** u16 iif device slot; 0 = any; 0xFFFF = named device absent ([detached]). */
export const RULE_IIF = 32;
/** u16 oif device slot; same conventions. */
export const RULE_OIF = 34;
/** u8 TOS selector (0 = any). */
export const RULE_TOS = 36;
/** u8 ipproto selector (0 = any). */
export const RULE_IPPROTO = 37;
/** u16 source port range low / high (both 0 = any). */
export const RULE_SPORT_LO = 40;
export const RULE_SPORT_HI = 42;
/** u16 destination port range low / high. */
export const RULE_DPORT_LO = 44;
export const RULE_DPORT_HI = 46;
/** i32 suppress_prefixlength, -1 = none. */
export const RULE_SUPPRESS_PLEN = 48;
/** i32 suppress_ifgroup, -1 = none. */
export const RULE_SUPPRESS_GROUP = 52;
/** u32 uid range low / high (only tested if RF_UIDRANGE). */
export const RULE_UID_LO = 56;
export const RULE_UID_HI = 60;

export const FR_ACT_TO_TBL = 1;
export const FR_ACT_GOTO = 2;
export const FR_ACT_NOP = 3;
export const FR_ACT_BLACKHOLE = 6;
export const FR_ACT_UNREACHABLE = 7;
export const FR_ACT_PROHIBIT = 8;

/** Rule flag: `not` (FIB_RULE_INVERT). */
export const RF_INVERT = 1;
/** Rule flag: uidrange selector present. */
export const RF_UIDRANGE = 2;

/** Device slot value meaning "named device that does not exist". */
export const DEV_DETACHED = 0xffff;
/** Table slot value meaning "no such table". */
export const TABLE_NONE = 0xffffffff;

/*
 * ----------------------------------------------------------------------------
 * 3. Node-wide settings: `sysctl_set(key, value)` with these keys.
 * ----------------------------------------------------------------------------
 */
export const SYS_ICMP_RATEMASK = 1;
/** net.ipv4.icmp_ratelimit, in milliseconds. */
export const SYS_ICMP_RATELIMIT_MS = 2;
export const SYS_ICMP_MSGS_PER_SEC = 3;
export const SYS_ICMP_MSGS_BURST = 4;
export const SYS_ICMP_ECHO_IGNORE_ALL = 5;
export const SYS_ICMP_ECHO_IGNORE_BCAST = 6;
export const SYS_ICMP_ERRORS_USE_INBOUND_IFADDR = 7;
export const SYS_IP_DEFAULT_TTL = 8;
export const SYS_FWMARK_REFLECT = 9;
/** Kernel CONFIG_HZ: jiffies per second for every rate limiter. */
export const SYS_HZ = 10;
/** 1 if the node has ip rules other than the three defaults (fib4_has_custom_rules). */
export const SYS_CUSTOM_RULES = 11;
/** 1 if user space added local routes (fib_has_custom_local_routes). */
export const SYS_CUSTOM_LOCAL_ROUTES = 12;
/** Device slot of the loopback device. */
export const SYS_LOOPBACK_DEV = 13;
/** Seed of the core's deterministic PRNG (low 32 bits; set before traffic). */
export const SYS_SEED = 14;
/** 1 if any rule uses ipproto/sport/dport (fib_rules_require_fldissect). */
export const SYS_RULES_NEED_PORTS = 15;
/** net.ipv4.ip_no_pmtu_disc (0 = DF on by default for local sockets). */
export const SYS_IP_NO_PMTU_DISC = 16;

/*
 * ----------------------------------------------------------------------------
 * 4. Counters: `counters_ptr()` points at CTR_MAX u64 values, named as nstat
 *    prints the kernel's SNMP counters.
 * ----------------------------------------------------------------------------
 */
export const CTR_IP_IN_RECEIVES = 0;
export const CTR_IP_IN_HDR_ERRORS = 1;
export const CTR_IP_IN_ADDR_ERRORS = 2;
export const CTR_IP_FORW_DATAGRAMS = 3;
export const CTR_IP_IN_UNKNOWN_PROTOS = 4;
export const CTR_IP_IN_DISCARDS = 5;
export const CTR_IP_IN_DELIVERS = 6;
export const CTR_IP_OUT_REQUESTS = 7;
export const CTR_IP_OUT_DISCARDS = 8;
export const CTR_IP_OUT_NO_ROUTES = 9;
export const CTR_IP_FRAG_OKS = 10;
export const CTR_IP_FRAG_FAILS = 11;
export const CTR_IP_FRAG_CREATES = 12;
export const CTR_IP_EXT_IN_NO_ROUTES = 13;
export const CTR_IP_OUT_TRANSMITS = 14;
export const CTR_ICMP_OUT_MSGS = 15;
export const CTR_ICMP_OUT_DEST_UNREACHS = 16;
export const CTR_ICMP_OUT_TIME_EXCDS = 17;
export const CTR_ICMP_OUT_REDIRECTS = 18;
export const CTR_ICMP_OUT_ECHO_REPS = 19;
export const CTR_ICMP_IN_MSGS = 20;
export const CTR_ICMP_IN_ECHOS = 21;
export const CTR_ICMP_OUT_RATELIMIT_GLOBAL = 22;
export const CTR_ICMP_OUT_RATELIMIT_HOST = 23;
export const CTR_TCP_EXT_IP_RPFILTER = 24;
export const CTR_TCP_OUT_RSTS = 25;
export const CTR_TCP_IN_SEGS = 26;
export const CTR_UDP_NO_PORTS = 27;
export const CTR_UDP_IN_DATAGRAMS = 28;
export const CTR_ICMP_IN_DEST_UNREACHS = 29;
export const CTR_ICMP_IN_TIME_EXCDS = 30;
export const CTR_ICMP_IN_ECHO_REPS = 31;
export const CTR_UDP_IGNORED_MULTI = 32;
export const CTR_ICMP_OUT_ERRORS = 33;
export const CTR_TCP_IN_CSUM_ERRORS = 34;
export const CTR_TCP_IN_ERRS = 35;
export const CTR_UDP_IN_CSUM_ERRORS = 36;
export const CTR_UDP_IN_ERRORS = 37;
export const CTR_ICMP_IN_CSUM_ERRORS = 38;
export const CTR_ICMP_IN_ERRORS = 39;
export const CTR_IP_IN_TRUNCATED_PKTS = 40;
export const CTR_IP_IN_CSUM_ERRORS = 41;
/*
 * IPv4 reassembly (ip_defrag, net/ipv4/ip_fragment.c): counted by the host,
 * where conntrack's defragmentation of a capture runs (host/packet/defrag.ts,
 * Engine.addCounter); the core never counts them.
 */
export const CTR_IP_REASM_REQDS = 42;
export const CTR_IP_REASM_OKS = 43;
export const CTR_IP_REASM_FAILS = 44;
export const CTR_IP_REASM_TIMEOUT = 45;
export const CTR_IP_REASM_OVERLAPS = 46;
/* UDP-Lite (__udp4_lib_rcv with IPPROTO_UDPLITE counts into its own MIB). */
export const CTR_UDPLITE_IN_DATAGRAMS = 47;
export const CTR_UDPLITE_NO_PORTS = 48;
export const CTR_UDPLITE_IN_ERRORS = 49;
export const CTR_UDPLITE_IN_CSUM_ERRORS = 50;
export const CTR_UDPLITE_IGNORED_MULTI = 51;
/** icmp_out_count for ICMP_PARAMETERPROB (IcmpOutParmProbs): ip_options_compile's answer. */
export const CTR_ICMP_OUT_PARM_PROBS = 52;
/**
 * IpExt In/Out Mcast/Bcast Pkts and Octets: ip_rcv_finish_core counts a
 * received packet whose route is multicast or broadcast (after the options
 * check, before INPUT or forwarding), ip_finish_output2 a sent one (each
 * fragment), packets and skb->len bytes (__IP_UPD_PO_STATS).
 */
export const CTR_IP_EXT_IN_MCAST_PKTS = 53;
export const CTR_IP_EXT_IN_BCAST_PKTS = 54;
export const CTR_IP_EXT_OUT_MCAST_PKTS = 55;
export const CTR_IP_EXT_OUT_BCAST_PKTS = 56;
export const CTR_IP_EXT_IN_MCAST_OCTETS = 57;
export const CTR_IP_EXT_IN_BCAST_OCTETS = 58;
export const CTR_IP_EXT_OUT_MCAST_OCTETS = 59;
export const CTR_IP_EXT_OUT_BCAST_OCTETS = 60;
/**
 * IpExtInOctets (IPSTATS_MIB_INOCTETS): ip_rcv_core's
 * __IP_UPD_PO_STATS(IPSTATS_MIB_IN, skb->len), with IpInReceives, before
 * any header check: skb->len is what the device delivered, link-layer
 * padding and trailers included (the datagram is trimmed to its total
 * length only after the checks). The core counts PKT_LEN + PKT_RCV_PAD for
 * a packet arriving on a device, PKT_LEN for the ip_rcv of a packet the
 * node loops back to itself (lo, a multicast or broadcast send's copy).
 * A datagram conntrack reassembled (PKT_FRAG_MAX) is counted where the
 * reassembly runs (host/packet/defrag.ts, Engine.addCounter): each
 * fragment's own bytes, the completing one's too, not the datagram's; the
 * core counts only its IpInReceives. (A JSONL packet with `frag_max` stands
 * for a datagram whose fragments are not given: nothing counts their bytes.)
 */
export const CTR_IP_EXT_IN_OCTETS = 61;
/**
 * IpExtOutOctets (IPSTATS_MIB_OUTOCTETS): ip_finish_output2's
 * IP_UPD_PO_STATS(IPSTATS_MIB_OUT, skb->len) with IpOutTransmits, per
 * fragment ("OUTOCTETS should be counted after fragment"): every fragment
 * carries the datagram's header length (ip_options_fragment fills the
 * options it does not copy with NOOPs), so n fragments of a PKT_LEN-byte
 * datagram are PKT_LEN + (n - 1) * header length bytes.
 */
export const CTR_IP_EXT_OUT_OCTETS = 62;
/**
 * IpExtIn{NoECT,ECT1,ECT0,CE}Pkts: ip_rcv_core's IPSTATS_MIB_NOECTPKTS +
 * (iph->tos & INET_ECN_MASK), after the version/IHL check (IPERR_HDR is
 * not counted, the other header errors are), for every ip_rcv IpInReceives
 * counts (the four are consecutive, in INET_ECN_* order: index
 * CTR_IP_EXT_IN_NOECT_PKTS + (tos & 3)). Fragments conntrack reassembles
 * are counted as IpExtInOctets is: each fragment's own ECN bits, by the host.
 */
export const CTR_IP_EXT_IN_NOECT_PKTS = 63;
export const CTR_IP_EXT_IN_ECT1_PKTS = 64;
export const CTR_IP_EXT_IN_ECT0_PKTS = 65;
export const CTR_IP_EXT_IN_CE_PKTS = 66;
/** Number of counters. */
export const CTR_MAX = 67;

/*
 * ----------------------------------------------------------------------------
 * 5. Route query result (`route_get_input` / `route_get_output` then
 *    `route_result(ptr)` writes RES_SIZE bytes) - what `ip route get` needs.
 * ----------------------------------------------------------------------------
 */
export const RES_SIZE = 48;
/** i32 0, or the negative errno the kernel would answer. */
export const RES_ERR = 0;
/** u32 route type RTN_*. */
export const RES_TYPE = 4;
/** u32 RTCF_* flags: LOCAL 0x80000000, BROADCAST 0x10000000, MULTICAST 0x20000000, DOREDIRECT 0x01000000. */
export const RES_FLAGS = 8;
/** u32 output device slot. */
export const RES_DEV = 12;
/** u32 gateway (0 if none). */
export const RES_GW = 16;
/** u32 selected source (output lookups). */
export const RES_SADDR = 20;
/** u32 kernel table id of the FIB result (0 if none). */
export const RES_TABLE = 24;
/** u32 RT_INDEX of the route (0xFFFFFFFF if none). */
export const RES_ROUTE = 28;
/** u32 index of the rule (0xFFFFFFFF if none). */
export const RES_RULE = 32;
/** u32 TOS of the matched route. */
export const RES_TOS = 36;
/** u32 MTU metric of the route (0 if none). */
export const RES_MTU = 40;
/** u32 drop reason for input lookups that were refused as martians (0 otherwise). */
export const RES_REASON = 44;

/*
 * ----------------------------------------------------------------------------
 * 6. Netfilter rule program (`nf_program_load(ptr, len)` copies it in).
 * ----------------------------------------------------------------------------
 * An iptables ruleset compiled by host/netfilter/compile.ts. Like the
 * kernel's ipt_entry blob, each table is a sequence of entries, chain after
 * chain; a built-in chain ends with its policy entry, a user chain with an
 * implicit RETURN entry. Entries are variable-sized (E_SIZE); offsets are
 * from the start of the program. All fields 4-byte aligned.
 *
 *   header (NFP_HEADER bytes)
 *   chain records   (NFC_SIZE each)
 *   entries         (variable)
 *   index maps      (open-addressing tables of NFX_SLOT-byte slots)
 *   interface match table (pattern x device slot -> u8)
 */
export const NFP_MAGIC = 0x4e465031; // "NFP1"
export const NFP_HEADER = 160;
/** u32 magic. */
export const NFP_H_MAGIC = 0;
/** u32 number of entries (rules + policy + implicit returns) = number of counters. */
export const NFP_H_ENTRIES = 4;
/** u32 number of chains. */
export const NFP_H_CHAINS = 8;
/** u32 offset of the chain records. */
export const NFP_H_CHAIN_OFF = 12;
/** u32 offset of the interface match table. */
export const NFP_H_IFACE_OFF = 16;
/** u32 number of interface patterns (rows). */
export const NFP_H_IFACE_ROWS = 20;
/** u32 number of device slots + 1 (columns; column 0 = no device). */
export const NFP_H_IFACE_COLS = 24;
/** u32 flags, NFP_F_* below. */
export const NFP_H_FLAGS = 28;
/** u32 deepest jump nesting (for the jump stack). */
export const NFP_H_MAX_DEPTH = 32;
/** u32 number of recent tables used (names are numbered by the host). */
export const NFP_H_RECENT_TABLES = 36;
/** u32 number of nfacct objects. */
export const NFP_H_NFACCT = 40;
/** u32 x 20: chain index of table T's built-in chain at hook H (T*5+H), 0xFFFFFFFF if none. */
export const NFP_H_HOOKS = 48;
/** u32 offset of the recent-table parameters: per table u32 address mask, u32 nstamps mask (power of two - 1). */
export const NFP_H_RECENT_OFF = 128;
/** u32 offset just past the last entry (entries are contiguous from the first chain's first entry). */
export const NFP_H_ENTRIES_END = 132;

/** Program flags: the ruleset turns conntrack on (nat table, or a ct match/target). */
export const NFP_F_CONNTRACK = 1;

/** Tables (kernel priority order at each hook) and hooks (NF_INET_*). */
export const NFT_RAW = 0;
export const NFT_MANGLE = 1;
export const NFT_NAT = 2;
export const NFT_FILTER = 3;
export const NFT_COUNT = 4;
export const NF_INET_PRE_ROUTING = 0;
export const NF_INET_LOCAL_IN = 1;
export const NF_INET_FORWARD = 2;
export const NF_INET_LOCAL_OUT = 3;
export const NF_INET_POST_ROUTING = 4;
export const NF_INET_NUMHOOKS = 5;

/** Chain record. */
export const NFC_SIZE = 32;
/** u32 offset of the chain's first entry. */
export const NFC_FIRST = 0;
/** u32 index kind, NFX_* below. */
export const NFC_INDEX = 4;
/** u32 offset of the index map (NFX_NONE: unused). */
export const NFC_MAP = 8;
/** u32 index map mask (slots - 1). */
export const NFC_MAP_MASK = 12;
/** u32 offset of the chain's first generic entry (see E_NEXT_GEN). */
export const NFC_FIRST_GEN = 16;
/** u32 table (NFT_*). */
export const NFC_TABLE = 20;
/** u32 1 for a built-in chain. */
export const NFC_BUILTIN = 24;
/** u32 chain id as the host numbers it (for traces). */
export const NFC_ID = 28;

/**
 * Chain indexes. The kernel tries every rule in order; a rule whose key
 * (destination /32, or protocol + destination port) differs from the
 * packet's fails before any side effect, so the core may skip straight to
 * the next rule whose key equals the packet's or that has no key
 * ("generic"), and still count every skipped rule as examined.
 */
export const NFX_NONE = 0;
/** Key: the packet's destination address (rules with -d A/32). */
export const NFX_DST = 1;
/** Key: protocol << 16 | destination port (rules with -p tcp|udp and a single --dport). */
export const NFX_PROTO_DPORT = 2;
/** Index map slot: u32 key, u32 offset of the first entry with that key (0 = empty slot). */
export const NFX_SLOT = 8;

/**
 * State shared by the core and a compiled chain walk (assembly/netfilter/
 * jit.ts, host/netfilter/jit/): JIT_STATE_SIZE bytes at a fixed address
 * (nf_jit_state_ptr). The core writes the hook's devices and the packet's
 * conntrack state bits and entry before the call; the compiled code writes
 * the entry whose verdict ended the walk, and a target's drop reason
 * (through nf_jit_target, which also refreshes the state bits and entry).
 * `-m addrtype` calls nf_jit_addr_type(addr, dev, limit) for an address's
 * type (inet_dev_addr_type: RTN_*), the rest of the match compiled.
 */
export const JIT_STATE_SIZE = 32;
/** u32 entry id of the rule or policy whose verdict ended the walk. */
export const JS_VERDICT_ENTRY = 0;
/** i32 drop reason of a DROP verdict (DROP_NETFILTER unless a target gave one). */
export const JS_DROP_REASON = 4;
/** u32 input device slot of the hook (nf_hook_state.in; 0 = none). */
export const JS_IN_DEV = 8;
/** u32 output device slot of the hook (nf_hook_state.out; 0 = none). */
export const JS_OUT_DEV = 12;
/**
 * u32 the packet's XT_CONNTRACK_STATE bits (conntrack_mt's state test), as
 * of the walk's start and again after every target the core ran (a target
 * can change them: NAT status bits, NOTRACK).
 */
export const JS_CT_STATE = 16;
/** u32 1 when the matched entries are recorded in the rule trace (TRACE_MATCHED), else 0 (kept by trace.ts traceInit). */
export const JS_TRACE = 20;
/**
 * u32 address of the packet's conntrack entry (0: none), written (for a
 * walk that reads it) when JS_CT_STATE is: the compiled CONNMARK targets
 * read and write the connection's mark there (at CT_ENTRY_MARK) themselves.
 */
export const JS_CT_ENTRY = 24;
/** Offset of the connection mark (u32, ct->mark) in a conntrack entry (assembly/conntrack/entry.ts). */
export const CT_ENTRY_MARK = 28;

/** Entry (variable size). */
export const E_SIZE = 0;
/** u8 target kind, T_* below. */
export const E_TARGET = 2;
/** u8 inversion flags, EI_* below. */
export const E_INV = 3;
export const E_SRC = 4;
export const E_SMSK = 8;
export const E_DST = 12;
export const E_DMSK = 16;
/** u16 input interface pattern (row + 1; 0 = any). */
export const E_IN = 20;
/** u16 output interface pattern. */
export const E_OUT = 22;
/** u8 protocol (0 = any). */
export const E_PROTO = 24;
/** u8 entry flags, EF_* below. */
export const E_FLAGS = 25;
/** u16 bytes of matches (they start at E_MATCHES). */
export const E_MATCH_BYTES = 26;
/** u32 entry id: index of its counters and of the host's rule table. */
export const E_ID = 28;
/** u32 target arguments (meaning per target). */
export const E_T0 = 32;
export const E_T1 = 36;
export const E_T2 = 40;
export const E_T3 = 44;
/** u32 offset of the next entry in this chain with the same index key (0 = none). */
export const E_NEXT_SAME = 48;
/** u32 offset of the next entry in this chain that has no index key, or of the next entry when the chain has no index. */
export const E_NEXT_GEN = 52;
/** u16 position in the chain (1-based, as iptables -L --line-numbers). */
export const E_POS = 56;
/** u16 chain index. */
export const E_CHAIN = 58;
/** Matches start here; after them, target data (NAT ranges) at E_T3 when used. */
export const E_MATCHES = 60;

/** Inversion flags. */
export const EI_SRC = 1;
export const EI_DST = 2;
export const EI_IN = 4;
export const EI_OUT = 8;
export const EI_PROTO = 16;
export const EI_FRAG = 32;
/** Entry flags. */
/** A rule written by the user (policy and implicit-return entries are not). */
export const EF_RULE = 1;
/** -f or ! -f given (EI_FRAG says which). */
export const EF_FRAG = 2;

/** Targets. */
export const T_NONE = 0;
export const T_ACCEPT = 1;
export const T_DROP = 2;
export const T_RETURN = 3;
/** T0 = chain index. */
export const T_JUMP = 4;
/** T0 = chain index. */
export const T_GOTO = 5;
/** Built-in chain policy entry: T0 = T_ACCEPT or T_DROP. */
export const T_POLICY = 6;
/** End of a user chain. */
export const T_IMPLICIT_RETURN = 7;
/** T0 = REJECT_* kind. */
export const T_REJECT = 8;
/** T0 = range count, T1 = NAT range flags, T3 = offset of ranges (NR_SIZE each). */
export const T_DNAT = 9;
export const T_SNAT = 10;
/** T0 = min port, T1 = max port (0 = none), T2 = range flags. */
export const T_MASQUERADE = 11;
/** T0 = min port, T1 = max port (0 = keep), T2 = range flags. */
export const T_REDIRECT = 12;
/** T0 = value, T1 = mask: mark = (mark & ~mask) ^ value. */
export const T_MARK = 13;
/** T0 = value, T1 = mask: ctmark = (ctmark & ~mask) ^ value. */
export const T_CONNMARK_SET = 14;
/** T0 = nfmask, T1 = ctmask: ctmark = (ctmark & ~ctmask) ^ (mark & nfmask). */
export const T_CONNMARK_SAVE = 15;
/** T0 = nfmask, T1 = ctmask: mark = (mark & ~nfmask) ^ (ctmark & ctmask). */
export const T_CONNMARK_RESTORE = 16;
/** Non-terminating, recorded in the trace. */
export const T_LOG = 17;
export const T_NFLOG = 18;
/** Sets skb->nf_trace (raw table). */
export const T_TRACE = 19;
/** -j NOTRACK / -j CT --notrack (raw table). */
export const T_NOTRACK = 20;
/** -j TTL (mangle): T0 = mode (IPT_TTL_SET 0, INC 1, DEC 2), T1 = value. */
export const T_TTL = 21;
/** -j TOS / -j DSCP (mangle): the TOS byte becomes (tos & ~T1) ^ T0 (DSCP: T1 = 0xfc, keeping the ECN bits). */
export const T_TOS = 22;
/** -j CLASSIFY: skb->priority = T0 (nothing modelled reads it). */
export const T_CLASSIFY = 23;
/** -j TCPMSS: T0 = the MSS of --set-mss, or TCPMSS_CLAMP_PMTU for --clamp-mss-to-pmtu. */
export const T_TCPMSS = 24;
/**
 * T0 of -j TCPMSS --clamp-mss-to-pmtu (XT_TCPMSS_CLAMP_PMTU): the MSS is the
 * smaller of the packet's route MTU and the MTU of the output route back to
 * its source (tcpmss_reverse_mtu), less 40.
 */
export const TCPMSS_CLAMP_PMTU = 0xffff;
/** -j NETMAP --to A/N (nat): T0 = the prefix A, T1 = its netmask. */
export const T_NETMAP = 25;

/** REJECT kinds (--reject-with). */
export const REJECT_ICMP_NET_UNREACH = 0;
export const REJECT_ICMP_HOST_UNREACH = 1;
export const REJECT_ICMP_PROT_UNREACH = 2;
export const REJECT_ICMP_PORT_UNREACH = 3;
export const REJECT_ICMP_NET_PROHIBITED = 9;
export const REJECT_ICMP_HOST_PROHIBITED = 10;
export const REJECT_ICMP_ADMIN_PROHIBITED = 13;
/** tcp-reset (not an ICMP code). */
export const REJECT_TCP_RESET = 0x100;

/** NAT range (T_DNAT/T_SNAT data): u32 min ip, max ip, u16 min port, max port, u16 base port, u16 pad. */
export const NR_SIZE = 16;
export const NR_MIN_IP = 0;
export const NR_MAX_IP = 4;
export const NR_MIN_PORT = 8;
export const NR_MAX_PORT = 10;
export const NR_BASE_PORT = 12;
/** NAT range flags (include/uapi/linux/netfilter/nf_nat.h). */
export const NF_NAT_RANGE_MAP_IPS = 1;
export const NF_NAT_RANGE_PROTO_SPECIFIED = 2;
export const NF_NAT_RANGE_PROTO_RANDOM = 4;
export const NF_NAT_RANGE_PERSISTENT = 8;
export const NF_NAT_RANGE_PROTO_RANDOM_FULLY = 16;
export const NF_NAT_RANGE_PROTO_OFFSET = 32;

/**
 * Matches: u8 kind, u8 inversion bits, u16 length in bytes (header included,
 * multiple of 4), then the data below (offsets from the match start).
 */
export const M_KIND = 0;
export const M_INV = 1;
export const M_LEN = 2;
/** -m tcp / -m udp: u16 sport lo, hi @4, dport lo, hi @8; u8 flags mask @12, cmp @13, option @14, u8 which-present @15. */
export const M_TCP = 1;
export const M_UDP = 2;
/** Inversion bits of tcp/udp: sport 1, dport 2, flags 4, option 8. Present bits @15: sport 1, dport 2, flags 4, option 8. */
/** -m icmp: u8 type @4 (255 = any), code min @5, max @6. */
export const M_ICMP = 3;
/** -m multiport: u8 mode @4 (0 src, 1 dst, 2 any), u8 count @5, then count u16 lo/hi pairs @8. */
export const M_MULTIPORT = 4;
/** -m addrtype: u16 src mask @4, dst mask @6, u8 flags @8 (1 src given, 2 dst given, 4 limit-iface-in, 8 limit-iface-out); inv bits src 1, dst 2. */
export const M_ADDRTYPE = 5;
/** -m mark: u32 value @4, mask @8. */
export const M_MARK = 6;
/** -m connmark: u32 value @4, mask @8. */
export const M_CONNMARK = 7;
/**
 * -m conntrack / -m state: u16 present @4 (CTM_* bits), u16 inverted @6
 * (same bits); u16 state mask @8, u16 status mask @10, u8 proto @12, u8 dir @13
 * (0 original, 1 reply); addresses/masks origsrc @16, origdst @24, replsrc
 * @32, repldst @40 (u32 addr, u32 mask each); ports lo/hi u16: origsrcport
 * @48, origdstport @52, replsrcport @56, repldstport @60; expire lo/hi u32 @64.
 */
export const M_CONNTRACK = 8;
export const CTM_STATE = 1;
export const CTM_STATUS = 2;
export const CTM_PROTO = 4;
export const CTM_ORIGSRC = 8;
export const CTM_ORIGDST = 16;
export const CTM_REPLSRC = 32;
export const CTM_REPLDST = 64;
export const CTM_ORIGSRCPORT = 128;
export const CTM_ORIGDSTPORT = 256;
export const CTM_REPLSRCPORT = 512;
export const CTM_REPLDSTPORT = 1024;
export const CTM_EXPIRE = 2048;
export const CTM_DIR = 4096;
/** XT_CONNTRACK_STATE bits. */
export const XT_STATE_INVALID = 1;
export const XT_STATE_ESTABLISHED = 2;
export const XT_STATE_RELATED = 4;
export const XT_STATE_NEW = 8;
export const XT_STATE_SNAT = 64;
export const XT_STATE_DNAT = 128;
export const XT_STATE_UNTRACKED = 256;
/** -m statistic: u8 mode @4 (0 random, 1 nth); u32 probability or every @8; u32 count (nth state, mutable) @12. */
export const M_STATISTIC = 9;
/**
 * -m recent: u8 op @4 (1 set, 2 rcheck, 3 update, 4 remove), u8 flags @5
 * (1 reap, 2 rttl, 4 rdest), u16 table @6, u32 seconds @8, u32 hitcount @12,
 * u32 mask @16.
 */
export const M_RECENT = 10;
/** -m nfacct: u32 object index @4. */
export const M_NFACCT = 11;
/** -m limit: u32 cost @4, credit cap @8; mutable: u32 credit @12, u32 prev jiffies (low 32 bits) @16. */
export const M_LIMIT = 12;
/** -m owner: u8 flags @4 (1 uid, 2 gid, 4 socket-exists), inv bits same; u32 uid lo @8, hi @12, gid lo @16, hi @20. */
export const M_OWNER = 13;
/** -m length: u16 min @4, max @6. */
export const M_LENGTH = 14;
/** -m comment (compiled away; never emitted). */
export const M_COMMENT = 15;
/**
 * -m sctp (xt_sctp_info): u16 sport lo, hi @4, dport lo, hi @8; u8 present
 * @12 (1 sport, 2 dport, 4 chunk types; inversion bits the same); u8 chunk
 * match type @13 (SCTP_CHUNK_MATCH_*); u8 flag count @14 (0..4); flag infos
 * @16, 4 bytes each {u8 chunk type, u8 flag, u8 flag mask, u8 0}; the
 * 256-bit chunk map @32 (8 u32, bit t of word t >> 5 for chunk type t).
 */
export const M_SCTP = 16;
export const SCTP_CHUNK_MATCH_ANY = 1;
export const SCTP_CHUNK_MATCH_ALL = 2;
export const SCTP_CHUNK_MATCH_ONLY = 4;
/** -m dccp (xt_dccp_info): u16 sport lo, hi @4, dport lo, hi @8, u16 type mask @12; u8 present @14 (1 sport, 2 dport, 4 types, 8 option; inversion bits the same); u8 option @15. */
export const M_DCCP = 17;
/**
 * -m set --match-set: u32 offset of the set's image in the program @4, u8
 * dimensions given @8, u8 source bits @9 (bit i: dimension i + 1 is "src"),
 * u8 command flags @10 (IPS_CMD_*).
 */
export const M_SET = 24;
export const IPS_CMD_RETURN_NOMATCH = 1;
/**
 * -m rpfilter (xt_rpfilter_info): u8 flags @4, XT_RPFILTER_* below (the
 * kernel's bit values).
 */
export const M_RPFILTER = 25;
export const XT_RPFILTER_LOOSE = 1;
export const XT_RPFILTER_VALID_MARK = 2;
export const XT_RPFILTER_ACCEPT_LOCAL = 4;
export const XT_RPFILTER_INVERT = 8;
/**
 * -m pkttype (xt_pkttype_info): u8 packet type @4 (PACKET_HOST 0,
 * BROADCAST 1, MULTICAST 2, OTHERHOST 3), inverted by M_INV.
 */
export const M_PKTTYPE = 26;
/**
 * -m iprange (xt_iprange_mtinfo): u8 flags @4 (IPRANGE_SRC 1, IPRANGE_DST
 * 2, IPRANGE_SRC_INV 16, IPRANGE_DST_INV 32), u32 src min, max @8, dst min,
 * max @16 (host order).
 */
export const M_IPRANGE = 27;
/** -m ttl (ipt_ttl_info): u8 mode @4 (IPT_TTL_EQ 0, NE 1, LT 2, GT 3), u8 ttl @5. */
export const M_TTL = 28;
/**
 * -m tos / -m dscp / -m ecn on the TOS byte: u8 kind @4 (0 tos: (tos & mask)
 * == value, 1 dscp: tos >> 2 == value, both inverted by M_INV; 2 ecn), u8
 * value @5, u8 mask @6. For ecn: @5 the ECT codepoint, @6 the TCP flag
 * values wanted (64 ECE, 128 CWR: set unless that option is inverted), u8
 * operations @7 (1 ECT: (tos & 3) == @5, 16 it inverted; 2 ECE; 4 CWR).
 */
export const M_TOSBYTE = 29;
/** -m tcpmss (xt_tcpmss_match_info): u16 mss min @4, max @6, inverted by M_INV. */
export const M_TCPMSS = 30;

/*
 * IP set image (host/ipset/image.ts writes one per set a ruleset uses, in the
 * rule program; assembly/netfilter/ipset.ts tests them). Header, IPS_HDR bytes:
 *   @0 u8 type (IPS_*), @1 u8 dimension, @2 u8 prefix lengths (net types),
 *   @3 u8 features (IPS_F_*), @4 u32 address mask (hash:ip netmask) or
 *   bitmap first port/address, @8 u32 slot mask (hash) or bitmap last,
 *   @12 u32 offset from the image of its table (hash slots, bitmap bits,
 *   list:set member image offsets from the program start, u32 each),
 *   @16 u32 elements (list:set members), @20 u8[36] prefix lengths, longest
 *   first (bitmap:ip: @20 is 32 - netmask).
 * Hash slot, IPS_SLOT bytes: u32 a, u32 b, u32 c, u32 flags (IPS_E_*):
 *   hash:ip {ip, 0, 0}; hash:net {net, 0, cidr << 24};
 *   hash:ip,port {ip, 0, port | proto << 16}; hash:net,port {net, 0,
 *   port | proto << 16 | cidr << 24}; hash:ip,port,ip {ip, ip2, port | proto << 16};
 *   hash:ip,port,net {ip, net2, port | proto << 16 | cidr << 24}.
 */
export const IPS_TYPE = 0;
export const IPS_DIM = 1;
export const IPS_NCIDR = 2;
export const IPS_FEATURES = 3;
export const IPS_MASK = 4;
export const IPS_SLOTS_MASK = 8;
export const IPS_TABLE = 12;
export const IPS_COUNT = 16;
export const IPS_CIDRS = 20;
export const IPS_HDR = 56;
export const IPS_SLOT = 16;
export const IPS_HASH_IP = 1;
export const IPS_HASH_NET = 2;
export const IPS_HASH_IPPORT = 3;
export const IPS_HASH_NETPORT = 4;
export const IPS_HASH_IPPORTIP = 5;
export const IPS_HASH_IPPORTNET = 6;
export const IPS_BITMAP_PORT = 7;
export const IPS_BITMAP_IP = 8;
export const IPS_LIST_SET = 9;
/** An inet6 set: IPv4 rules never match it (ip_set_test's family check). */
export const IPS_NEVER = 10;
/** IPSET_TYPE_NOMATCH: the type has `nomatch` elements (--return-nomatch applies). */
export const IPS_F_NOMATCH = 1;
export const IPS_E_USED = 1;
export const IPS_E_NOMATCH = 2;

/*
 * ----------------------------------------------------------------------------
 * 7. Trace ring (`trace_ring_ptr()`): TRACE_REC-byte records {u32 value,
 *    u32 index of the packet's next record (0xFFFFFFFF = last)}, a chain per
 *    packet from PKT_NF_TRACE_FIRST, PKT_NF_TRACE_COUNT long (a packet's
 *    records interleave with those of the replies it causes). A value is an
 *    entry id (E_ID) with TR_* flags in the top bits. Without trace-all mode
 *    only entries that matched are recorded (rules, policies, implicit
 *    returns); with it, every entry examined and where each table began.
 * ----------------------------------------------------------------------------
 */
export const TRACE_REC = 8;
export const TR_ID_MASK = 0x0fffffff;
/** The entry matched (its target ran). */
export const TR_MATCHED = 0x80000000;
/** Record of a hook: the low bits are T << 4 | H (table, hook) where evaluation of a table began. */
export const TR_HOOK = 0x40000000;
/** Entries skipped by a chain index (examined by the kernel, failed): the low bits count them. */
export const TR_SKIPPED = 0x20000000;

/*
 * ----------------------------------------------------------------------------
 * 8. Conntrack: settings (`ct_config_set(key, value)`) and counters
 *    (`ct_stats_ptr()`: CTS_MAX u64 values, named as `conntrack -S` prints them).
 * ----------------------------------------------------------------------------
 */
export const CTC_MAX = 1;
export const CTC_BUCKETS = 2;
export const CTC_TCP_LOOSE = 3;
export const CTC_TCP_BE_LIBERAL = 4;
export const CTC_TCP_MAX_RETRANS = 5;
export const CTC_TCP_IGNORE_INVALID_RST = 6;
export const CTC_CHECKSUM = 7;
/** Timeouts in seconds: TCP states 1..9 are CTC_TCP_TIMEOUT + state; retrans 10, unack 11. */
export const CTC_TCP_TIMEOUT = 16;
export const CTC_UDP_TIMEOUT = 32;
export const CTC_UDP_TIMEOUT_STREAM = 33;
export const CTC_ICMP_TIMEOUT = 34;
export const CTC_GENERIC_TIMEOUT = 35;
export const CTC_GRE_TIMEOUT = 36;
export const CTC_GRE_TIMEOUT_STREAM = 37;
/** SCTP timeouts in seconds: CTC_SCTP_TIMEOUT + SCTP_CONNTRACK_* state (1 CLOSED .. 8 HEARTBEAT_SENT). */
export const CTC_SCTP_TIMEOUT = 40;

export const CTS_FOUND = 0;
export const CTS_INVALID = 1;
export const CTS_INSERT = 2;
export const CTS_INSERT_FAILED = 3;
export const CTS_DROP = 4;
export const CTS_EARLY_DROP = 5;
export const CTS_ERROR = 6;
export const CTS_SEARCH_RESTART = 7;
export const CTS_CLASH_RESOLVE = 8;
export const CTS_CHAINTOOLONG = 9;
/** Not a conntrack -S counter: entries currently in the table (conntrack -C). */
export const CTS_COUNT = 10;
export const CTS_MAX = 11;

/** Status bits (enum ip_conntrack_status). */
export const IPS_EXPECTED = 1;
export const IPS_SEEN_REPLY = 2;
export const IPS_ASSURED = 4;
export const IPS_CONFIRMED = 8;
export const IPS_SRC_NAT = 16;
export const IPS_DST_NAT = 32;
export const IPS_NAT_MASK = 48;
export const IPS_SEQ_ADJUST = 64;
export const IPS_SRC_NAT_DONE = 128;
export const IPS_DST_NAT_DONE = 256;
export const IPS_NAT_DONE_MASK = 384;
export const IPS_DYING = 512;
export const IPS_FIXED_TIMEOUT = 1024;
export const IPS_NAT_CLASH = 4096;

/** TCP conntrack states (enum tcp_conntrack). */
export const TCP_CONNTRACK_NONE = 0;
export const TCP_CONNTRACK_SYN_SENT = 1;
export const TCP_CONNTRACK_SYN_RECV = 2;
export const TCP_CONNTRACK_ESTABLISHED = 3;
export const TCP_CONNTRACK_FIN_WAIT = 4;
export const TCP_CONNTRACK_CLOSE_WAIT = 5;
export const TCP_CONNTRACK_LAST_ACK = 6;
export const TCP_CONNTRACK_TIME_WAIT = 7;
export const TCP_CONNTRACK_CLOSE = 8;
export const TCP_CONNTRACK_SYN_SENT2 = 9;
export const TCP_CONNTRACK_MAX = 10;
export const TCP_CONNTRACK_IGNORE = 11;
export const TCP_CONNTRACK_RETRANS = 10;
export const TCP_CONNTRACK_UNACK = 11;

/** SCTP conntrack states (enum sctp_conntrack); PKT_CT_STATE / CTD_STATE of an SCTP entry. */
export const SCTP_CONNTRACK_NONE = 0;
export const SCTP_CONNTRACK_CLOSED = 1;
export const SCTP_CONNTRACK_COOKIE_WAIT = 2;
export const SCTP_CONNTRACK_COOKIE_ECHOED = 3;
export const SCTP_CONNTRACK_ESTABLISHED = 4;
export const SCTP_CONNTRACK_SHUTDOWN_SENT = 5;
export const SCTP_CONNTRACK_SHUTDOWN_RECD = 6;
export const SCTP_CONNTRACK_SHUTDOWN_ACK_SENT = 7;
export const SCTP_CONNTRACK_HEARTBEAT_SENT = 8;
export const SCTP_CONNTRACK_MAX = 9;

/**
 * Conntrack dump (`ct_dump(ptr, max)`): CTD_SIZE-byte records of the entries
 * in the table, in table order.
 */
export const CTD_SIZE = 48;
export const CTD_ORIG_SRC = 0;
export const CTD_ORIG_DST = 4;
export const CTD_ORIG_SPORT = 8;
export const CTD_ORIG_DPORT = 10;
export const CTD_REPL_SRC = 12;
export const CTD_REPL_DST = 16;
export const CTD_REPL_SPORT = 20;
export const CTD_REPL_DPORT = 22;
export const CTD_PROTO = 24;
export const CTD_STATE = 25;
export const CTD_STATUS = 28;
export const CTD_MARK = 32;
/** u32 seconds until expiry. */
export const CTD_TIMEOUT = 36;
/** u32 entry id (index + 1). */
export const CTD_ID = 40;

/**
 * ----------------------------------------------------------------------------
 * 9. Traffic generator (assembly/traffic/): the synthetic generator's state
 *    lives in the core's memory, one record per generator (`gen_create()`
 *    returns it; several generators in one instance are independent).
 * ----------------------------------------------------------------------------
 * The host sets it up once: `gen_param_set(g, GP_*, value)`, the value laws
 * `gen_law_set(g, LAW_*, DIST_*, a, b, c)` (fixed: a; uniform: a + u*b;
 * exponential: min(-ln(1-u)*a, b); pareto: min(a*(1-u)^c, b)), and tables
 * `gen_table_set(g, GT_*, ptr, n)` of memory it got from `alloc` and filled
 * (the generator owns it from then on). Then `gen_fill(g, base, max)` writes
 * up to `max` descriptors at `base` (their input fields) and
 * `gen_feedback(g, base, n)` reads the verdicts and translated addresses of
 * the last fill's `n` descriptors after processing. `gen_stat(g, GS_*)`
 * reads a statistic. gen_fill may allocate (more flows in flight): views of
 * the memory must be refreshed after it.
 *
 * Tables: addresses u32[n]; GT_POD GEN_POD_SIZE-byte entries {u32 ip, u16 veth
 * slot, u16 ENI slot}; GT_EPHEMERAL u16[n] (next source port per client, then
 * per pod); Zipf alias tables GEN_ZIPF_SIZE-byte entries {f64 probability
 * of the column's own item, i32 its item, i32 its alias's item} (items after
 * the rank permutation); port lists u16[n]; GT_OWNER an open-addressing
 * hash of n (a power of two) GEN_OWNER_SIZE-byte entries {u32 address, u32
 * ENI slot (0: empty)}, probed linearly from GEN_OWNER_HASH * address >>> (32 - log2 n);
 * GT_IS_VETH u8[n] by device slot; services GEN_SVC_SIZE-byte entries
 * {u32 ip, u16 port, u16 ingress slot}; GT_TARGETS f64[n] flows started per
 * target (the generator counts into it).
 */
export const GP_MSS = 0;
export const GP_ICMP_SIZE = 1;
/** ns between the segments of a burst. */
export const GP_GAP_NS = 2;
/** ns between ICMP echo requests. */
export const GP_INTERVAL_NS = 3;
/** share of TCP flows ended by a reset. */
export const GP_RST = 4;
export const GP_ARRIVAL_MEAN_NS = 5;
/** end of arrivals (ns; Infinity: none). */
export const GP_END_NS = 6;
/** packets to write in all (Infinity: no limit). */
export const GP_MAX_PACKETS = 7;
/** time of the first arrival (ns). */
export const GP_START_NS = 8;
/** number of clients (the ephemeral ports of pods follow theirs). */
export const GP_CLIENTS = 9;
/** the PRNG state (mulberry32), set after the host's own draws. */
export const GP_PRNG = 10;
/** cumulative kind weights: GP_KIND_CUM + kind. */
export const GP_KIND_CUM = 11;
/** cumulative direction weights per kind: GP_DIR_CUM + kind * 6 + direction. */
export const GP_DIR_CUM = 14;
export const GP_COUNT = 32;

export const LAW_RTT = 0;
export const LAW_TCP_REQUEST = 1;
export const LAW_TCP_RESPONSE = 2;
export const LAW_TCP_EXCHANGES = 3;
export const LAW_UDP_REQUEST = 4;
export const LAW_UDP_RESPONSE = 5;
export const LAW_UDP_EXCHANGES = 6;
export const LAW_ICMP_COUNT = 7;
export const LAW_COUNT = 8;
export const DIST_FIXED = 0;
export const DIST_UNIFORM = 1;
export const DIST_EXPONENTIAL = 2;
export const DIST_PARETO = 3;

export const GT_CLIENT_IP = 0;
export const GT_SERVER_IP = 1;
export const GT_POD = 2;
export const GT_EPHEMERAL = 3;
export const GT_CLIENT_ZIPF = 4;
export const GT_SERVER_ZIPF = 5;
export const GT_POD_ZIPF = 6;
/** pods' TCP ports (+1: UDP). */
export const GT_POD_PORTS = 7;
/** outside servers' TCP ports (+1: UDP). */
export const GT_SERVER_PORTS = 9;
export const GT_OWNER = 11;
export const GT_IS_VETH = 12;
/** service frontends: GT_SVC + direction * 2 + (0 tcp, 1 udp). */
export const GT_SVC = 13;
/** their Zipf tables: GT_SVC_ZIPF + direction * 2 + (0 tcp, 1 udp). */
export const GT_SVC_ZIPF = 25;
/** flows per target: GT_TARGETS + direction. */
export const GT_TARGETS = 37;
/**
 * u32 addresses of the NLB that sends `pod-ip` TCP flows when client IP
 * preservation is off (empty: the client's own address); the flow's client
 * picks one (client index modulo their number), and a port of that address's
 * own ephemeral counter (the counters after the clients' and the pods').
 */
export const GT_NLB_IP = 43;
export const GT_COUNT = 44;
export const GEN_POD_SIZE = 8;
export const GEN_ZIPF_SIZE = 16;
export const GEN_OWNER_SIZE = 8;
export const GEN_OWNER_HASH = 0x9e3779b1;
export const GEN_SVC_SIZE = 8;

/** Statistics (f64): packets written, then per kind and direction, flows... */
export const GS_PACKETS = 0;
/** packets per flow kind: GS_PKT_KIND + kind (0 tcp, 1 udp, 2 icmp). */
export const GS_PKT_KIND = 1;
/** packets per direction: GS_PKT_DIR + direction. */
export const GS_PKT_DIR = 4;
export const GS_FLOW_KIND = 10;
export const GS_FLOW_DIR = 13;
export const GS_COMPLETED = 19;
export const GS_ABORTED = 20;
export const GS_BY_NODE = 21;
export const GS_TRANSLATED = 22;
export const GS_FED = 23;
export const GS_DROPPED = 24;
export const GS_SHORT_FILLS = 25;
export const GS_ACTIVE = 26;
export const GS_COUNT = 27;

/**
 * ----------------------------------------------------------------------------
 * 10. Replay summary (assembly/replay/summary.ts): what a replay's packets
 *     became, counted by the core from the processed descriptors
 *     (host/report/collect.ts reads it into a CollectorData).
 * ----------------------------------------------------------------------------
 * `summary_create()` returns a zeroed SUM_SIZE-byte record (it allocates:
 * refresh memory views); after each `process_batch`,
 * `summary_collect(sum, base, k0, k1, replyBase)` counts descriptors
 * [k0, k1) of the batch at `base` and their replies (in the reply ring at
 * `replyBase`); `summary_reset(sum)` zeroes it, `free(sum)` releases it.
 * Every count is a u64.
 */
/** Packets counted. */
export const SUM_PACKETS = 0;
/** Sum of their PKT_LEN. */
export const SUM_BYTES = 8;
/** Sum of their PKT_NF_RULES. */
export const SUM_RULES_TRAVERSED = 16;
/** Replies (reply-ring descriptors the packets point at). */
export const SUM_REPLIES = 24;
/** Packets with PF_LOCAL (sent by local processes). */
export const SUM_LOCAL_OUT = 32;
/** 1 + the largest PKT_OIF of a forwarded packet counted (0: none): the per-device counts end there. */
export const SUM_OIF_END = 40;
/** u64 x SUM_VERDICT_SLOTS: packets by PKT_VERDICT. */
export const SUM_VERDICTS = 64;
/** u64 x SUM_VERDICT_SLOTS: replies by their PKT_VERDICT. */
export const SUM_REPLY_VERDICTS = 96;
export const SUM_VERDICT_SLOTS = 4;
/** u64 x 5: packets by NAT_OP_* bit (bit index 0..4). */
export const SUM_NAT_OPS = 128;
/** u64 x SUM_DROP_SLOTS: dropped packets by PKT_REASON (DROP_MAX <= SUM_DROP_SLOTS). */
export const SUM_DROPS = 192;
export const SUM_DROP_SLOTS = 64;
/** u64 x 256: packets by PKT_CT_INFO (CTINFO_*, 255 = no entry). */
export const SUM_CTINFO = 704;
/**
 * Replies by kind: SUM_KIND_SLOTS records of SUM_KIND_SIZE bytes {u32 key,
 * u32 0, u64 replies}, key 0 = free. The key is (6 << 16) | (tcp flags << 8)
 * for a TCP reply, (1 << 16) | (icmp type << 8) | icmp code for any other;
 * open addressing from SUM_KIND_HASH * key >>> 22, probed linearly. (The
 * core's replies have a few hundred kinds at most: the 256 TCP flag
 * combinations and some ICMP types and codes.)
 */
export const SUM_KINDS = 2752;
export const SUM_KIND_SLOTS = 1024;
export const SUM_KIND_SIZE = 16;
export const SUM_KIND_HASH = 0x9e3779b1;
/** u64 x 65536: forwarded (VERDICT_FORWARD) packets by PKT_OIF. */
export const SUM_OIF_PACKETS = 19136;
/** u64 x 65536: their bytes (PKT_LEN) by PKT_OIF. */
export const SUM_OIF_BYTES = 543424;
export const SUM_OIF_SLOTS = 65536;
/**
 * u64 x SUM_SEEN_SLOTS: packets that carried their capture copy's header
 * (PKT_SEEN_*), by how they compare with it (SEEN_*: index 0 is the total).
 */
export const SUM_SEEN = 1067712;
export const SUM_SEEN_SLOTS = 8;
export const SUM_SIZE = 1067776;

/** How a packet compares with its capture copy (assembly/capture/seen.ts seenAgreement; SUM_SEEN slots). */
/** Forwarded by the copy's device with the copy's header: what the kernel did. */
export const SEEN_AGREE = 1;
/** Dropped here; the kernel forwarded it. */
export const SEEN_DROPPED = 2;
/** Delivered locally here; the kernel forwarded it. */
export const SEEN_LOCAL = 3;
/** Forwarded by another device than the copy's. */
export const SEEN_OTHER_DEVICE = 4;
/** Forwarded by the copy's device with another header (translated otherwise). */
export const SEEN_OTHER_HEADER = 5;

/**
 * ----------------------------------------------------------------------------
 * 11. Top talkers (assembly/replay/talkers.ts): a Misra-Gries summary of
 *     IPv4 addresses (host/report/talkers.ts reads it).
 * ----------------------------------------------------------------------------
 * `talkers_create(counters)` returns a zeroed record for `counters` (a power
 * of two) counters (it allocates: refresh memory views);
 * `talkers_add(t, addr, bytes)` counts one packet;
 * `talkers_add_batch(bySrc, byDst, base, n)` counts descriptors [0, n) at
 * `base` by their input fields: PKT_DST and PKT_LEN into `byDst`, PKT_SRC
 * into `bySrc` unless the packet is local (PF_LOCAL) without a source the
 * socket chose (PF_SRC_SET).
 *
 * The record: this header, then the table at TT_TABLE: 2 x counters slots
 * of TT_SLOT_SIZE bytes (open addressing from fmix32(addr) & (slots - 1),
 * probed linearly; one slot is half a cache line), then the decrement's
 * scratch space. When an address finds the table full, every count drops
 * by the median count (the bytes scaled with it: round(bytes * (count - m)
 * / count)), the entries left at 0 go, and the survivors are re-inserted in
 * slot order.
 */
/** u32 counters. */
export const TT_COUNTERS = 0;
/** u32 slots (2 x counters). */
export const TT_SLOTS = 4;
/** u32 entries in use. */
export const TT_SIZE = 8;
/** u32 address of the table (TT_SLOT_SIZE-byte slots). */
export const TT_TABLE = 12;
/** f64 packets counted. */
export const TT_TOTAL = 16;
/** f64 sum of the medians subtracted: the most a count is below the truth. */
export const TT_ERROR_BOUND = 24;
/** u32 address of the scratch space (counters x 28 bytes). */
export const TT_SCRATCH = 32;
export const TT_HEADER = 48;
/** A slot: f64 packets (0 = free), f64 bytes, u32 IPv4 address. */
export const TT_SLOT_SIZE = 32;
export const TT_SLOT_PACKETS = 0;
export const TT_SLOT_BYTES = 8;
export const TT_SLOT_ADDR = 16;

/**
 * ----------------------------------------------------------------------------
 * 12. Input records (assembly/replay/records.ts): a descriptor's input
 *     fields alone, packed, for moving batches between threads.
 * ----------------------------------------------------------------------------
 * A descriptor's inputs are bytes [0, 72), [128, 144) and [220, 224); the
 * rest is the core's (initOutputs clears it). An input record is those 92
 * bytes back to back, padded to IN_SIZE: descriptor bytes [0, 72) at 0,
 * [128, 144) at IN_B, [220, 224) at IN_C, then 4 zero bytes.
 * `pkt_pack_inputs(base, n)` turns descriptors [0, n) at `base` into n
 * records at `base` (in place, first to last: record k never reaches
 * descriptor k + 1); `pkt_unpack_inputs(base, n)` turns n records at `base`
 * back into descriptors (in place, last to first), writing their input
 * fields only. The capture decode thread (host/replay/pcap-thread.ts)
 * hands batches over as records: 96 bytes a packet to copy between the
 * threads instead of 256.
 */
export const IN_SIZE = 96;
/** Descriptor bytes [0, IN_A) start a record. */
export const IN_A = 72;
/** Where descriptor bytes [PKT_TCP_WSCALE, PKT_OUT_INNER_SRC) (128..143) are in a record. */
export const IN_B = 72;
/** Where descriptor bytes [PKT_INNER_ICMP_TYPE, PKT_NF_TRACE_LAST) (220..223) are in a record. */
export const IN_C = 88;
