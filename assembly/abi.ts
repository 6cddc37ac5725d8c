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
 * PKT_PARENT naming the packet (index in the batch) that caused them.
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
/** u8 TCP data offset in 32-bit words (0 means 5, a bare 20-byte header). */
export const PKT_TCP_DOFF = 57;
/** u16 ICMP echo sequence number. */
export const PKT_ICMP_SEQ = 58;
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
// Bytes 128..255 are reserved for the netfilter, conntrack and NAT issues
// (ct state, NAT manips, rule counters); the core zeroes them.

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
/** TTL expired in transit (ip_forward too_many_hops). */
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
/** Link-layer broadcast/multicast frame the IP layer will not forward. */
export const DROP_OTHERHOST = 17;
/** Local sender: destination is invalid (EINVAL, e.g. 0.0.0.0 or a loopback source off-loopback). */
export const DROP_OUTPUT_EINVAL = 18;
/** Dropped for a reason the kernel does not name either (SKB_DROP_REASON_NOT_SPECIFIED), e.g. a multicast group not joined. */
export const DROP_NOT_SPECIFIED = 19;
/** Local sender: broadcast destination on a socket without SO_BROADCAST (EACCES). */
export const DROP_SOCK_BROADCAST = 20;
/** Number of drop reasons (for counters). */
export const DROP_MAX = 21;

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
/** Number of counters. */
export const CTR_MAX = 34;

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
