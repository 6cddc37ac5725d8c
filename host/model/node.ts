/**
 * The node model: what a snapshot directory says about a node, parsed into
 * plain data. Parsers (host/snapshot) produce it; the loader (host/node)
 * compiles it into the WASM core; the kernel harness (test/kernel) loads it
 * into a network namespace. Addresses are u32 numbers (see host/util/ipv4.ts).
 */

/** Where a model element came from, for error messages and explanations. */
export interface SourceRef {
  /** File name inside the snapshot directory, e.g. "ip-route.txt". */
  file: string;
  /** 1-based line number. */
  line: number;
  /** The line as written (trimmed of the trailing newline). */
  text: string;
}

/** One device, from `ip -o link show`. */
export interface Link {
  ifindex: number;
  /** Name without any "@peer" suffix. */
  name: string;
  /** The flags between < and >, e.g. ["BROADCAST","MULTICAST","UP","LOWER_UP"]. */
  flags: string[];
  mtu: number;
  /** Device group number ("default" is 0). */
  group: number;
  /** link/ether, link/loopback, link/none, ... without the "link/" prefix. */
  linkType: string;
  /** Hardware address if shown. */
  mac?: string;
  /** Operational state word (UP, DOWN, UNKNOWN, ...). */
  state: string;
  /** Master device name if enslaved (bridge, bond, vrf). */
  master?: string;
  src: SourceRef;
}

/** One IPv4 address, from `ip -o addr show`. */
export interface IfAddr {
  ifindex: number;
  dev: string;
  local: number;
  plen: number;
  /** Broadcast address, 0 if none shown. */
  broadcast: number;
  /** Peer address for point-to-point, 0 if none. */
  peer: number;
  /** RT_SCOPE_* number (global 0, site 200, link 253, host 254). */
  scope: number;
  secondary: boolean;
  noprefixroute: boolean;
  /** Label (e.g. "eth0" or "eth0:1"). */
  label: string;
  src: SourceRef;
}

export type RouteType =
  | "unicast" | "local" | "broadcast" | "anycast" | "multicast"
  | "blackhole" | "unreachable" | "prohibit" | "throw" | "nat" | "xresolve";

/** One IPv4 route, from `ip route show table all`. */
export interface Route {
  /** Kernel table id (main 254, local 255, default 253). */
  table: number;
  type: RouteType;
  prefix: number;
  plen: number;
  /** TOS selector (dsfield), 0 = any. */
  tos: number;
  metric: number;
  /** Preferred source ("src"), 0 = none. */
  prefsrc: number;
  /** Gateway ("via"), 0 = none. */
  gw: number;
  /** Nexthop device name, undefined for blackhole/unreachable/prohibit/throw. */
  dev?: string;
  /** Protocol label as printed (kernel, boot, static, dhcp, ...), "" if none. */
  proto: string;
  /** RT_SCOPE_* number. */
  scope: number;
  /** Nexthop flags as printed: onlink, linkdown, dead, pervasive, ... */
  nhflags: string[];
  /** MTU metric, 0 = none. */
  mtu: number;
  /** Position in the snapshot (0-based, file order): the core reports it back. */
  index: number;
  src: SourceRef;
}

export type RuleAction = "lookup" | "goto" | "nop" | "blackhole" | "unreachable" | "prohibit";

/** One policy routing rule, from `ip rule show`. */
export interface Rule {
  pref: number;
  invert: boolean;
  /** Source selector, undefined for "from all". */
  from?: { addr: number; plen: number };
  to?: { addr: number; plen: number };
  tos: number;
  /** fwmark value and mask; mask 0 means no fwmark selector. */
  fwmark: number;
  fwmask: number;
  /** iif/oif device names as printed (may name a device that does not exist). */
  iif?: string;
  oif?: string;
  ipproto: number;
  sport?: [number, number];
  dport?: [number, number];
  uidrange?: [number, number];
  action: RuleAction;
  /** Table id for "lookup". */
  table?: number;
  /** Target priority for "goto". */
  gotoPref?: number;
  /** -1 when absent. */
  suppressPrefixlen: number;
  /** -1 when absent. */
  suppressIfgroup: number;
  /** Protocol label ("proto kernel") if printed. */
  proto?: string;
  index: number;
  src: SourceRef;
}

/** A bound or listening local socket, from `ss -Htlnu`. */
export interface Socket {
  proto: "tcp" | "udp";
  /** 0 = any address. */
  addr: number;
  port: number;
  src: SourceRef;
}

/** Everything a snapshot directory holds. */
export interface NodeSnapshot {
  /** Directory it was read from (or a label for embedded snapshots). */
  origin: string;
  links: Link[];
  addrs: IfAddr[];
  routes: Route[];
  rules: Rule[];
  /** sysctl key -> value as printed (e.g. "net.ipv4.conf.eth0.rp_filter" -> "2"). */
  sysctl: Map<string, string>;
  /** Local sockets, or undefined when the snapshot has no ss.txt (unknown). */
  sockets?: Socket[];
  /** Raw `iptables-save -c` text, if present (used by the netfilter engine). */
  iptablesSave?: string;
  /** `ipset save` output (ipset.txt), for -m set rules. */
  ipsets?: string;
  /** Lines describing input that was recognised but is outside the model (IPv6 routes, ...). */
  notices: string[];
  /** CONFIG_HZ of the node's kernel, from meta.txt when the collection script found it. */
  hz?: number;
}
