/**
 * How `replay` spells the ingress mappings (--ingress* options) for the
 * user: the options themselves, and the spelling an IngressResolver uses in
 * its messages. A module of its own so that the capture decode thread
 * (host/replay/pcap-thread.ts) can load the same spelling: an IngressMap's
 * functions cannot cross to a thread.
 */
import type { IngressKey, IngressMap } from "../pcap/ingress.js";

/** The --ingress* options: capture value -> node device, as the user gives them. */
export const INGRESS_OPTS = {
  byIfName: { flag: "ingress", attr: "ingress", key: "IFNAME", what: "a capture interface name (pcapng if_name)" },
  byInterfaceId: { flag: "ingress-index", attr: "ingressIndex", key: "N", what: "a capture interface index (0-based over the file; a classic pcap has 0)" },
  byIfindex: { flag: "ingress-ifindex", attr: "ingressIfindex", key: "N", what: "an SLL2 (Linux cooked v2) interface index" },
  byMac: { flag: "ingress-mac", attr: "ingressMac", key: "MAC", what: "a destination MAC address" },
  bySource: { flag: "ingress-subnet", attr: "ingressSubnet", key: "CIDR", what: "a source IPv4 prefix" },
} as const satisfies Record<IngressKey, { flag: string; attr: string; key: string; what: string }>;

/** The mappings spelled as the --ingress* options, in an IngressResolver's messages. */
export const ingressSpelling: Required<Pick<IngressMap, "optionName" | "suggest">> = {
  optionName: (k) => `--${INGRESS_OPTS[k].flag}`,
  suggest: (k, from) => `--${INGRESS_OPTS[k].flag} ${k === "bySource" ? "CIDR" : from.replace(/^"(.*)"$/, "$1")}=DEV`,
};
