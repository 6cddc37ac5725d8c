/**
 * An iptables ruleset as `iptables-save [-c]` prints it, parsed into plain
 * data. The netfilter parser (host/netfilter/parse.ts) produces it; the
 * compiler (host/netfilter/compile.ts) turns it into the WASM core's rule
 * program; the printer writes it back in `iptables-save -c` form with the
 * core's counters.
 *
 * Addresses are u32 numbers (host order), as everywhere in nodeplane.
 */
import type { SourceRef } from "./node.js";

export type IptTableName = "raw" | "mangle" | "nat" | "filter";

/** Packet and byte counters ([packets:bytes] in iptables-save -c). */
export interface IptCounters { packets: bigint; bytes: bigint }

export interface IptRuleset {
  /** In the order they appear in the text. */
  tables: IptTable[];
}

export interface IptTable {
  name: IptTableName;
  /** Chains in declaration order (built-in chains first, as iptables-save prints them). */
  chains: IptChain[];
  src: SourceRef;
}

export interface IptChain {
  name: string;
  /** Built-in chains have a policy; user chains have none ("-" in the declaration). */
  builtin: boolean;
  policy?: "ACCEPT" | "DROP";
  /** The declaration's counters (the policy's counters for built-in chains). */
  counters: IptCounters;
  rules: IptRule[];
  src: SourceRef;
}

/** An address selector of -s/-d and similar: addr/plen, maybe inverted. */
export interface IptAddr { addr: number; plen: number; inv: boolean }
/** An interface selector of -i/-o: the name, "+" wildcard (prefix match), maybe inverted. */
export interface IptIface { name: string; wildcard: boolean; inv: boolean }
/** A port (or ICMP type/id) range, maybe inverted. */
export interface IptRange { lo: number; hi: number; inv: boolean }

export type IptMatch =
  | { kind: "comment"; comment: string }
  /** -m tcp (or the implicit match of -p tcp with --sport/--dport/--tcp-flags/--syn). */
  | { kind: "tcp"; sport?: IptRange; dport?: IptRange; flags?: { mask: number; cmp: number; inv: boolean }; option?: { option: number; inv: boolean } }
  | { kind: "udp"; sport?: IptRange; dport?: IptRange }
  /** --icmp-type: type, code range (min..max; any = 0..255), or type 255 = any. */
  | { kind: "icmp"; type: number; codeMin: number; codeMax: number; inv: boolean }
  /** --sports/--dports/--ports: up to 15 ports, a range uses two slots. */
  | { kind: "multiport"; mode: "src" | "dst" | "any"; ports: [number, number][]; inv: boolean }
  /** RTN type bitmasks (1 << RTN_*), each with its own inversion. */
  | { kind: "addrtype"; srcType?: { mask: number; inv: boolean }; dstType?: { mask: number; inv: boolean }; limitIfaceIn: boolean; limitIfaceOut: boolean }
  | { kind: "mark"; value: number; mask: number; inv: boolean }
  | { kind: "connmark"; value: number; mask: number; inv: boolean }
  | {
    kind: "conntrack";
    /** XT_CONNTRACK_STATE bits: INVALID 1, ESTABLISHED 2, RELATED 4, NEW 8, SNAT 64, DNAT 128, UNTRACKED 256. */
    ctstate?: { mask: number; inv: boolean };
    /** IPS_* bits: EXPECTED 1, SEEN_REPLY 2, ASSURED 4, CONFIRMED 8. */
    ctstatus?: { mask: number; inv: boolean };
    ctproto?: { proto: number; inv: boolean };
    origsrc?: IptAddr; origdst?: IptAddr; replsrc?: IptAddr; repldst?: IptAddr;
    origsrcport?: IptRange; origdstport?: IptRange; replsrcport?: IptRange; repldstport?: IptRange;
    /** --ctexpire min[:max] in seconds. */
    expire?: IptRange;
    /** --ctdir ORIGINAL|REPLY. */
    dir?: "ORIGINAL" | "REPLY";
  }
  /** -m state --state (an alias of conntrack --ctstate). */
  | { kind: "state"; mask: number; inv: boolean }
  /** probability as the kernel stores it: lround(p * 2^31), compared with 31 random bits. */
  | { kind: "statistic"; mode: "random"; probability: number; inv: boolean }
  /** --every n --packet p: stored every = n-1, initial count per libxt_statistic. */
  | { kind: "statistic"; mode: "nth"; every: number; packet: number; inv: boolean }
  | {
    kind: "recent";
    op: "set" | "rcheck" | "update" | "remove";
    name: string;
    /** 0 = not given. */
    seconds: number;
    hitcount: number;
    reap: boolean;
    rttl: boolean;
    /** --mask, default 255.255.255.255. */
    mask: number;
    side: "rsource" | "rdest";
    inv: boolean;
  }
  | { kind: "nfacct"; name: string }
  /** --limit RATE[/second|minute|hour|day] --limit-burst N, as xt_limit stores them. */
  | { kind: "limit"; avg: number; burst: number; text: string }
  | { kind: "owner"; uid?: IptRange; gid?: IptRange; socketExists?: { inv: boolean } }
  /** -m length --length min[:max]. */
  | { kind: "length"; range: IptRange }
  /**
   * -m sctp (xt_sctp_info): ports, and --chunk-types: the match type, the
   * chunk types (256-bit map, 8 u32 words, bit t%32 of word t/32) and up to
   * 4 flag infos (a chunk type's flags under a mask).
   */
  | {
    kind: "sctp"; sport?: IptRange; dport?: IptRange;
    chunks?: { match: "any" | "all" | "only"; map: number[]; flags: { type: number; flag: number; mask: number }[]; inv: boolean };
  }
  /** -m dccp (xt_dccp_info): ports, --dccp-types (bit t for DCCP packet type t), --dccp-option (1..255). */
  | { kind: "dccp"; sport?: IptRange; dport?: IptRange; types?: { mask: number; inv: boolean }; option?: { option: number; inv: boolean } }
  /**
   * -m set [!] --match-set NAME src|dst[,...]: srcBits bit i = dimension
   * i + 1 is "src"; dim = flags given; token = the name as written (errors).
   */
  | { kind: "set"; name: string; srcBits: number; dim: number; inv: boolean; returnNomatch: boolean; token: string }
  /**
   * -m rpfilter (ipt_rpfilter.c): the reverse-path check of the packet's
   * source; --loose, --validmark, --accept-local, --invert.
   */
  | { kind: "rpfilter"; loose: boolean; validmark: boolean; acceptLocal: boolean; invert: boolean }
  /** -m pkttype --pkt-type: PACKET_HOST 0 (unicast, host), BROADCAST 1, MULTICAST 2, OTHERHOST 3. */
  | { kind: "pkttype"; type: number; inv: boolean }
  /** -m iprange --src-range / --dst-range min-max (host-order addresses, inclusive). */
  | { kind: "iprange"; src?: { min: number; max: number; inv: boolean }; dst?: { min: number; max: number; inv: boolean } }
  /** -m ttl: --ttl-eq (! = ne), --ttl-lt, --ttl-gt. */
  | { kind: "ttl"; mode: "eq" | "ne" | "lt" | "gt"; ttl: number }
  /** -m tos --tos value[/mask] (symbolic names have mask 0x3f): (tos & mask) == value. */
  | { kind: "tos"; value: number; mask: number; inv: boolean }
  /** -m dscp --dscp / --dscp-class: tos >> 2 == dscp. */
  | { kind: "dscp"; dscp: number; inv: boolean }
  /** -m ecn: --ecn-tcp-cwr, --ecn-tcp-ece (TCP header bits), --ecn-ip-ect 0..3 (tos & 3), each maybe inverted. */
  /** -m tcpmss --mss min[:max]: the MSS option's value (packets without one match only inverted). */
  | { kind: "tcpmss"; range: IptRange }
  | { kind: "ecn"; cwr?: { inv: boolean }; ece?: { inv: boolean }; ect?: { value: number; inv: boolean } };

export type IptTarget =
  /** No -j: a rule that only counts (and traces). */
  | { kind: "none" }
  | { kind: "ACCEPT" } | { kind: "DROP" } | { kind: "RETURN" }
  | { kind: "jump"; chain: string }
  | { kind: "goto"; chain: string }
  /** --reject-with, as the saved name (icmp-port-unreachable, tcp-reset, ...). */
  | { kind: "REJECT"; with: string }
  | {
    kind: "DNAT" | "SNAT";
    /** --to-destination / --to-source: address range (0,0 = keep) and port range (0,0 = keep); several ranges allowed. */
    ranges: { minIp: number; maxIp: number; minPort: number; maxPort: number }[];
    random: boolean; randomFully: boolean; persistent: boolean;
  }
  | { kind: "MASQUERADE"; minPort: number; maxPort: number; random: boolean; randomFully: boolean }
  | { kind: "REDIRECT"; minPort: number; maxPort: number; random: boolean }
  /** All MARK forms as the kernel applies them: mark = (mark & ~mask) ^ value. */
  | { kind: "MARK"; value: number; mask: number }
  | { kind: "CONNMARK"; op: "set"; value: number; mask: number }
  | { kind: "CONNMARK"; op: "save" | "restore"; nfmask: number; ctmask: number }
  | { kind: "LOG"; prefix?: string; text: string }
  | { kind: "NFLOG"; group?: number; prefix?: string; text: string }
  | { kind: "TRACE" }
  /** -j TTL --ttl-set/--ttl-inc/--ttl-dec N (mangle). */
  | { kind: "TTL"; mode: "set" | "inc" | "dec"; value: number }
  /** -j TOS (all forms: tos = (tos & ~mask) ^ value) and -j DSCP (value = dscp << 2, mask 0xfc), mangle. */
  | { kind: "TOS"; value: number; mask: number }
  | { kind: "DSCP"; dscp: number }
  /** -j CLASSIFY --set-class MAJOR:MINOR (skb->priority; accepted, changes nothing modelled). */
  | { kind: "CLASSIFY"; priority: number }
  /** -j NETMAP --to A/N (nat): the prefix mapped 1:1 (host bits kept). */
  | { kind: "NETMAP"; addr: number; plen: number }
  /** -j TCPMSS --set-mss N (0..65515), or --clamp-mss-to-pmtu ("pmtu"). */
  | { kind: "TCPMSS"; mss: number | "pmtu" }
  /** -j NOTRACK or -j CT --notrack. */
  | { kind: "NOTRACK" };

export interface IptRule {
  table: IptTableName;
  chain: string;
  /** 1-based position in the chain (iptables -L --line-numbers). */
  index: number;
  /** Counters from `-c` output, if present. */
  counters?: IptCounters;
  src?: IptAddr;
  dst?: IptAddr;
  inIface?: IptIface;
  outIface?: IptIface;
  /** -p: protocol number (0 = all), maybe inverted. */
  proto?: { num: number; inv: boolean };
  /** -f / ! -f */
  fragment?: { inv: boolean };
  /** Extension matches, in the order written (the kernel evaluates them in this order and stops at the first failure). */
  matches: IptMatch[];
  target: IptTarget;
  /** The rule as iptables-save prints it after "-A CHAIN " (no counters). */
  text: string;
  srcRef: SourceRef;
}
