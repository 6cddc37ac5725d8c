/**
 * Capture file constants: classic pcap (libpcap's savefile format) and
 * pcapng (draft-ietf-opsawg-pcapng), and the link-layer header types
 * (https://www.tcpdump.org/linktypes.html) nodeplane reads. The numbers
 * live in assembly/capture/format.ts, shared with the core's capture
 * decoder (assembly/capture/decode.ts).
 */

export {
  PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_HEADER, PCAP_RECORD,
  BT_SHB, BT_IDB, BT_OPB, BT_SPB, BT_EPB, BYTE_ORDER_MAGIC,
  OPT_ENDOFOPT, IF_NAME, IF_TSRESOL, EPB_FLAGS,
  LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL2,
  MAX_CAPLEN, DIR_UNKNOWN, DIR_IN, DIR_OUT,
  PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, PACKET_OUTGOING,
  ETH_P_IP, ETH_P_ARP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD, ETH_P_QINQ1,
} from "../../assembly/capture/format.js";
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL2 } from "../../assembly/capture/format.js";

export const SUPPORTED_LINKTYPES = new Set([LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL2]);
