/**
 * Capture file constants shared by the host's reader (host/pcap/format.ts
 * re-exports them) and the core's capture decoder (decode.ts): classic pcap
 * (libpcap's savefile format), pcapng (draft-ietf-opsawg-pcapng), the
 * link-layer header types (https://www.tcpdump.org/linktypes.html) and the
 * Linux packet types nodeplane reads; then the layout of the decoder's
 * state block and interface table (capture_decode, assembly/index.ts).
 */

/** Classic pcap magic, microsecond timestamps (as written, either byte order). */
export const PCAP_MAGIC_US= 0xa1b2c3d4;
/** Classic pcap magic, nanosecond timestamps. */
export const PCAP_MAGIC_NS= 0xa1b23c4d;
export const PCAP_HEADER = 24;
export const PCAP_RECORD = 16;

/** pcapng block types. */
export const BT_SHB= 0x0a0d0d0a;
export const BT_IDB= 0x00000001;
/** Obsolete Packet Block (pcapng draft before EPB). */
export const BT_OPB= 0x00000002;
export const BT_SPB= 0x00000003;
export const BT_EPB= 0x00000006;
/** Byte-order magic of the section header block. */
export const BYTE_ORDER_MAGIC= 0x1a2b3c4d;

/** pcapng option codes. */
export const OPT_ENDOFOPT = 0;
export const IF_NAME = 2;
export const IF_TSRESOL = 9;
export const EPB_FLAGS = 2;

/** Link-layer header types. */
export const LINKTYPE_ETHERNET = 1;
/** LINKTYPE_RAW: raw IPv4 or IPv6, version from the first nibble. */
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_LINUX_SLL2 = 276;

/** Largest captured length nodeplane accepts for one frame (Wireshark's limit for Ethernet). */
export const MAX_CAPLEN = 262144;

/** Frame direction as the capture records it (SLL packet type, pcapng epb_flags). */
export const DIR_UNKNOWN = 0;
export const DIR_IN = 1;
export const DIR_OUT = 2;

/** Linux packet types (include/uapi/linux/if_packet.h), as SLL/SLL2 carry them. */
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;
export const PACKET_OUTGOING = 4;

/** Ethertypes. */
export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
export const ETH_P_QINQ1 = 0x9100;

// ---- capture_decode's state block (CD_*, byte offsets; u32 unless said) ----
/** In: address of the read buffer's byte 0. */
export const CD_BUF = 0;
/** In/out: offset in the buffer of the next record (out: of the first record not decoded). */
export const CD_POS = 4;
/** In: offset just past the buffer's valid bytes. */
export const CD_END = 8;
/** In: address of descriptor 0 (descriptor k at CD_OUT + k * PKT_SIZE). */
export const CD_OUT = 12;
/** In: descriptors to write at most. */
export const CD_MAX = 16;
/** In: CDF_* bits. */
export const CD_FLAGS = 20;
/** In: interfaces of the current pcapng section (entries of the interface table). */
export const CD_NIF = 24;
/** In: address of the interface table (CD_NIF entries of CDI_SIZE bytes). */
export const CD_IFS = 28;
/** In: address of the ingress table (CDT_SIZE-byte entries, open addressing; CDK_*), 0 for none. */
export const CD_TAB = 32;
/** In: its entry count - 1 (a power of two - 1). */
export const CD_TAB_MASK = 36;
/** Out: records (pcapng blocks) consumed. */
export const CD_RECORDS = 40;
/** Out: frames stamped before the first frame (replayed at time 0). */
export const CD_CLAMPED = 44;
/** Out: descriptors whose transport checksum was not checked (checking off). */
export const CD_UNVERIFIED = 48;
/** Out: frames skipped as the node's own transmissions ("outgoing"). */
export const CD_OUTGOING = 52;
/** Out: why it stopped (CDS_*). */
export const CD_STOP = 56;
/** Out: with CDS_NEED, the bytes needed from CD_POS. */
export const CD_NEED = 60;
/** Out: offset in the buffer of the last record consumed. */
export const CD_LAST_REC = 64;
/** Out (f64): replay time of the last frame consumed (tsNs before the clamp). */
export const CD_LAST_TS = 72;
/** In (classic pcap): the first frame's seconds (u32), fraction (f64, ns) and the fraction's ns per unit (u32: 1000 or 1). */
export const CD_SEC0 = 80;
export const CD_FRAC0 = 88;
export const CD_FRAC_MULT = 96;
/** In: address of the user's source subnets (CD_NSRC entries of CDS_SIZE bytes: u32 address, mask, slot; first match wins). */
export const CD_SRC = 100;
export const CD_NSRC = 104;
/** In: CDP_* bits, the kinds of skipped frames the host has counted already (the decoder counts only those). */
export const CD_PRESENT = 108;
/** Out: ARP and IPv6 frames skipped (counted). */
export const CD_ARP = 112;
export const CD_IPV6 = 116;
/** Out (u64): the interfaces whose time anchor the decoder moved (bit = interface id). */
export const CD_MOVED = 120;
/**
 * In (CDF_NODE_SENDS): the node's local addresses (CD_NLOCAL entries of
 * CDS_SIZE bytes: u32 address, mask, unused), its default TTL
 * (net.ipv4.ip_default_ttl) and its loopback device's slot
 * (host/pcap/node-sends.ts).
 */
export const CD_LOCAL = 128;
export const CD_NLOCAL = 132;
export const CD_TTL = 136;
export const CD_LO = 140;
/** Out (CDF_NODE_SENDS): frames the node sent skipped as forwarded copies, engine answers, others; outgoing copies on lo skipped; node sends replayed. */
export const CD_OUT_FWD = 144;
export const CD_OUT_ANSWER = 148;
export const CD_OUT_OTHER = 152;
export const CD_LOOPBACK = 156;
export const CD_NODE_SENDS = 160;
/**
 * In: address of the forwarded-copy pairing block (CP_*: host/pcap/copies.ts,
 * assembly/capture/copies.ts), 0 for none (no pairing, no candidates recorded).
 */
export const CD_COPIES = 164;
/** In: the index in the fill's batch of the descriptor at CD_OUT (descriptor i of the fill is at CD_OUT + (i - CD_N0) * PKT_SIZE; see CDF_DIRECT). */
export const CD_N0 = 168;
/** Out: forwarded copies paired with their originals. */
export const CD_PAIRED = 172;
export const CD_SIZE = 176;
/** CD_PRESENT bits (and the decoder's frame kinds). */
export const CDP_ARP = 1;
export const CDP_IPV6 = 2;
/** CD_PRESENT bits of the node-sends skip kinds (host/pcap/node-sends.ts SKIP_*). */
export const CDP_OUT_FWD = 4;
export const CDP_OUT_ANSWER = 8;
export const CDP_OUT_OTHER = 16;
export const CDP_LOOPBACK = 32;
export const CDS_SIZE = 12;

/** CD_FLAGS: check transport checksums. */
export const CDF_VERIFY = 1;
/** CD_FLAGS: the records are classic pcap records of a little-endian file (interface table entry 0 describes the file). */
export const CDF_PCAP = 2;
/** CD_FLAGS: outgoing frames are classified (host/pcap/node-sends.ts): the node's sends replayed as local sends; a frame on lo is one the node sent (its outgoing copy skipped). */
export const CDF_NODE_SENDS = 4;
/**
 * CD_FLAGS: CD_OUT is in the batch itself, so every descriptor of the fill
 * is in this memory (written in place when a copy pairs with it); without,
 * a descriptor below CD_N0 was copied out already and a pairing with it is
 * a patch (CP_PATCHES) the host applies.
 */
export const CDF_DIRECT = 8;

/** CD_STOP: CD_MAX descriptors written. */
export const CDS_FULL = 0;
/** CD_STOP: the next record is not all in the buffer (CD_NEED bytes from CD_POS are needed). */
export const CDS_NEED = 1;
/** CD_STOP: the next record is one the host decodes. */
export const CDS_HOST = 2;

// ---- the ingress table: u64 key (CDK_* << 48 | MAC or ifindex; 0: empty), u32 value (a slot) ----
export const CDT_SIZE = 16;
/** A node link's MAC (the value unused): a frame from it is an outgoing copy. */
export const CDK_NODE_MAC = 1;
/** The user's destination-MAC mapping. */
export const CDK_USER_MAC = 2;
/** A node link's MAC as a destination. */
export const CDK_AUTO_MAC = 3;
/** The user's SLL2 ifindex mapping. */
export const CDK_USER_IFINDEX = 4;
/** A node link's ifindex. */
export const CDK_AUTO_IFINDEX = 5;

// ---- an interface table entry (CDI_*) ----
/** Link type. */
export const CDI_LINKTYPE = 0;
/** Ingress slot from the interface's id or name (IngressResolver.interfaceSlot), 0 for none. */
export const CDI_SLOT = 4;
/** Snapshot length (0: unlimited). */
export const CDI_SNAPLEN = 8;
/** 1 when the time anchor below is set (the host's CaptureInterface.anchored). */
export const CDI_ANCHORED = 12;
/** In/out: the anchor: the last timestamp's units (hi, lo) and its replay time (f64 ns). */
export const CDI_AHI = 16;
export const CDI_ALO = 20;
export const CDI_ANS = 24;
/** f64: nanoseconds per timestamp unit (0: the host's exact path). */
export const CDI_NS_PER_UNIT = 32;
export const CDI_SIZE = 40;

// ---- the forwarded-copy pairing block (CP_*; host/pcap/copies.ts has the rule) ----
/** u32: candidate originals recorded in the current fill (entry j at CP_RING + (j % CP_SLOTS) * CPE_SIZE). */
export const CP_COUNT = 0;
/** u32: patches written by the last capture_decode call (entries at CP_PATCHES). */
export const CP_NPATCH = 4;
/** The ring of the last CP_SLOTS candidates. */
export const CP_RING = 8;
export const CP_SLOTS = 64;
/** A ring entry: the descriptor's index in the fill's batch (u32). */
export const CPE_INDEX = 0;
/** u32: IP total length | identification << 16. */
export const CPE_K0 = 4;
/** u32: protocol | TTL << 8; CPE_USED once a copy paired with it. */
export const CPE_K1 = 8;
/** u64: the 8 transport bytes NAT never rewrites (as they lie in the frame). */
export const CPE_T = 16;
export const CPE_SIZE = 24;
/** CPE_K1 of a candidate a copy paired with (no copy's key is this). */
export const CPE_USED = 0xffffffff;
/** Patches: a pairing with a descriptor the host has already (CPP_SIZE bytes each, at most CP_SLOTS per call). */
export const CP_PATCHES = CP_RING + CP_SLOTS * CPE_SIZE;
/** A patch: u32 the descriptor's index in the fill's batch, then the PKT_SEEN_* values: u32 source, u32 destination, u32 ports (source | destination << 16), u32 device (PKT_SEEN_OIF). */
export const CPP_INDEX = 0;
export const CPP_SRC = 4;
export const CPP_DST = 8;
export const CPP_PORTS = 12;
export const CPP_OIF = 16;
export const CPP_SIZE = 20;
export const CP_SIZE = CP_PATCHES + CP_SLOTS * CPP_SIZE;
