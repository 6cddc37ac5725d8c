/**
 * Capture file constants: classic pcap (libpcap's savefile format) and
 * pcapng (draft-ietf-opsawg-pcapng), and the link-layer header types
 * (https://www.tcpdump.org/linktypes.html) nodeplane reads.
 */

/** Classic pcap magic, microsecond timestamps (as written, either byte order). */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
/** Classic pcap magic, nanosecond timestamps. */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_HEADER = 24;
export const PCAP_RECORD = 16;

/** pcapng block types. */
export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
/** Obsolete Packet Block (pcapng draft before EPB). */
export const BT_OPB = 0x00000002;
export const BT_SPB = 0x00000003;
export const BT_EPB = 0x00000006;
/** Byte-order magic of the section header block. */
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

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
export const SUPPORTED_LINKTYPES = new Set([LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL2]);

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
