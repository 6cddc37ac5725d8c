/**
 * Loads a node model into a WASM core: assigns device and table slots,
 * writes device, address, route, rule and socket records through staging
 * buffers, and sets the node-wide sysctls. Returns the maps needed to turn
 * the core's numeric answers back into names (devices, tables, routes, rules).
 */
import * as abi from "../core/abi.js";
import type { CoreExports } from "../core/wasm.js";
import { CoreMemory } from "../core/wasm.js";
import type { NodeSnapshot, Route, Rule, Link } from "../model/node.js";
import { InputError } from "../snapshot/errors.js";
import { DEV_CONF, effectiveDevConf, globalSysctl, GLOBAL_SYSCTL_DEFAULTS } from "./sysctl.js";

const RTN: Record<Route["type"], number> = {
  unicast: abi.RTN_UNICAST, local: abi.RTN_LOCAL, broadcast: abi.RTN_BROADCAST, anycast: abi.RTN_ANYCAST,
  multicast: abi.RTN_MULTICAST, blackhole: abi.RTN_BLACKHOLE, unreachable: abi.RTN_UNREACHABLE,
  prohibit: abi.RTN_PROHIBIT, throw: abi.RTN_THROW, nat: abi.RTN_NAT, xresolve: abi.RTN_XRESOLVE,
};

const IFF: Record<string, number> = {
  UP: abi.IFF_UP, BROADCAST: abi.IFF_BROADCAST, LOOPBACK: abi.IFF_LOOPBACK,
  POINTOPOINT: abi.IFF_POINTOPOINT, NOARP: abi.IFF_NOARP, LOWER_UP: abi.IFF_LOWER_UP,
};

const NHFLAG: Record<string, number> = {
  dead: abi.RTNH_F_DEAD, pervasive: abi.RTNH_F_PERVASIVE, onlink: abi.RTNH_F_ONLINK, linkdown: abi.RTNH_F_LINKDOWN,
};

const DEV_CONF_OFFSET: Record<string, number> = {
  forwarding: abi.DEV_FORWARDING, rp_filter: abi.DEV_RP_FILTER, accept_local: abi.DEV_ACCEPT_LOCAL,
  src_valid_mark: abi.DEV_SRC_VALID_MARK, route_localnet: abi.DEV_ROUTE_LOCALNET,
  send_redirects: abi.DEV_SEND_REDIRECTS, shared_media: abi.DEV_SHARED_MEDIA,
  ignore_routes_with_linkdown: abi.DEV_IGNORE_LINKDOWN, bc_forwarding: abi.DEV_BC_FORWARDING,
};

/** What the host keeps about a loaded node to interpret the core's answers. */
export interface LoadedNode {
  snapshot: NodeSnapshot;
  /** Device slot -> link (index 0 unused). */
  devBySlot: (Link | undefined)[];
  slotByName: Map<string, number>;
  loopbackSlot: number;
  /** Table slot -> kernel table id. */
  tableIds: number[];
  /** Route index (Route.index) -> route. */
  routes: Route[];
  rules: Rule[];
  /** Core memory used by routing tables, bytes. */
  fibBytes: number;
}

/** Writes the node into the core. `core` must be freshly reset or reused for this node. */
export function loadNode(core: CoreExports, snap: NodeSnapshot, opts: { hz?: number; seed?: number } = {}): LoadedNode {
  const mem = new CoreMemory(core.memory);

  // ---- devices, in ip-link order (slot 1..n) ----
  const links = snap.links;
  const slotByName = new Map<string, number>();
  links.forEach((l, i) => slotByName.set(l.name, i + 1));
  const lo = links.find((l) => l.flags.includes("LOOPBACK"));
  if (!lo) throw new InputError("ip-link.txt", 0, "lo", "the snapshot has no loopback device; every node has one (ip -o link show lists it first)");
  const loopbackSlot = slotByName.get(lo.name)!;

  // addresses grouped per device, keeping `ip addr` order within a device
  const addrsByDev = new Map<string, typeof snap.addrs>();
  for (const a of snap.addrs) {
    if (!slotByName.has(a.dev)) throw new InputError(a.src.file, a.src.line, a.dev, "device is not in ip-link.txt", a.src.text);
    let list = addrsByDev.get(a.dev);
    if (!list) addrsByDev.set(a.dev, (list = []));
    list.push(a);
  }

  core.devs_reset(links.length);
  const addrCount = snap.addrs.length;
  let addrBuf = core.alloc(Math.max(1, addrCount) * abi.ADDR_SIZE);
  const devRec = core.alloc(abi.DEV_SIZE);
  mem.refresh();
  let addrIdx = 0;
  links.forEach((l, i) => {
    const slot = i + 1;
    mem.u8.fill(0, devRec, devRec + abi.DEV_SIZE);
    const dv = mem.dv;
    let flags = 0;
    for (const f of l.flags) flags |= IFF[f] ?? 0;
    dv.setUint32(devRec + abi.DEV_IFINDEX, l.ifindex, true);
    dv.setUint32(devRec + abi.DEV_FLAGS, flags, true);
    dv.setUint32(devRec + abi.DEV_MTU, l.mtu, true);
    dv.setUint32(devRec + abi.DEV_GROUP, l.group, true);
    for (const spec of DEV_CONF) dv.setUint8(devRec + DEV_CONF_OFFSET[spec.param], effectiveDevConf(snap.sysctl, l.name, spec));
    dv.setUint8(devRec + abi.DEV_HAS_INET, 1);
    const list = addrsByDev.get(l.name) ?? [];
    dv.setUint32(devRec + abi.DEV_ADDR_FIRST, addrIdx, true);
    dv.setUint32(devRec + abi.DEV_ADDR_COUNT, list.length, true);
    for (const a of list) {
      const p = addrBuf + addrIdx * abi.ADDR_SIZE;
      dv.setUint32(p + abi.ADDR_LOCAL, a.local, true);
      dv.setUint8(p + abi.ADDR_PLEN, a.plen);
      dv.setUint8(p + abi.ADDR_SCOPE, a.scope);
      dv.setUint8(p + abi.ADDR_FLAGS, (a.secondary ? abi.IFA_F_SECONDARY : 0) | (a.noprefixroute ? abi.IFA_F_NOPREFIXROUTE : 0));
      dv.setUint16(p + abi.ADDR_DEV, slot, true);
      dv.setUint32(p + abi.ADDR_BRD, a.broadcast, true);
      addrIdx++;
    }
    core.dev_set(slot, devRec);
  });
  core.addrs_set(addrBuf, addrCount);
  core.free(addrBuf);
  core.free(devRec);

  // ---- routing tables ----
  // One pass to size each table, one pass writing every route straight into
  // its table's staging buffer (a node can have a million routes: no
  // per-route allocation, and the device name is looked up only when it
  // changes).
  const routes = snap.routes;
  const countById = new Map<number, number>();
  for (let i = 0; i < routes.length; i++) {
    const id = routes[i].table;
    countById.set(id, (countById.get(id) ?? 0) + 1);
  }
  const tableIds = [...countById.keys()].sort((a, b) => a - b);
  const tableSlot = new Map<number, number>();
  tableIds.forEach((id, i) => tableSlot.set(id, i));
  core.tables_reset(tableIds.length);
  const bufOf = new Map<number, { ptr: number; n: number; k: number }>();
  for (const id of tableIds) {
    const n = countById.get(id)!;
    bufOf.set(id, { ptr: core.alloc(n * abi.ROUTE_SIZE), n, k: 0 });
  }
  mem.refresh();
  const u8 = mem.u8, u32 = mem.u32, u16 = mem.u16;
  let lastDev: string | undefined;
  let lastDevSlot = 0;
  let lastTable = -1;
  // fib_nexthop_info: a dump adds RTNH_F_DEAD to a RTNH_F_LINKDOWN nexthop
  // whose device ignores routes with linkdown (ip_ignore_linkdown), so `ip
  // route` prints "dead linkdown" for a nexthop that is only linkdown: the
  // kernel skips it in ordinary lookups but a FIB_LOOKUP_IGNORE_LINKSTATE one
  // (rpfilter, fib_validate_source's second lookup) still takes it. A nexthop
  // really dead (its device went down) has its single-path route flushed.
  const ignoreLinkdownSpec = DEV_CONF.find((d) => d.param === "ignore_routes_with_linkdown")!;
  const ignoresLinkdown = new Set(snap.links.filter((l) => effectiveDevConf(snap.sysctl, l.name, ignoreLinkdownSpec) !== 0).map((l) => l.name));
  let buf = { ptr: 0, n: 0, k: 0 };
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i];
    if (r.table !== lastTable) { buf = bufOf.get(r.table)!; lastTable = r.table; }
    const p = buf.ptr + buf.k++ * abi.ROUTE_SIZE;
    let devSlot = 0;
    if (r.dev !== undefined) {
      if (r.dev !== lastDev) {
        const s = slotByName.get(r.dev);
        if (s === undefined) throw new InputError(r.src.file, r.src.line, r.dev, "device is not in ip-link.txt", r.src.text);
        lastDev = r.dev;
        lastDevSlot = s;
      }
      devSlot = lastDevSlot;
    }
    let nhf = 0;
    const flags = r.nhflags;
    for (let f = 0; f < flags.length; f++) nhf |= NHFLAG[flags[f]] ?? 0;
    if ((nhf & abi.RTNH_F_LINKDOWN) && (nhf & abi.RTNH_F_DEAD) && r.dev !== undefined && ignoresLinkdown.has(r.dev)) nhf &= ~abi.RTNH_F_DEAD;
    u32[(p + abi.RT_PREFIX) >>> 2] = r.prefix;
    u8[p + abi.RT_PLEN] = r.plen;
    u8[p + abi.RT_TYPE] = RTN[r.type];
    u8[p + abi.RT_SCOPE] = r.scope;
    u8[p + abi.RT_TOS] = r.tos;
    u32[(p + abi.RT_METRIC) >>> 2] = r.metric >>> 0;
    u32[(p + abi.RT_PREFSRC) >>> 2] = r.prefsrc;
    u32[(p + abi.RT_GW) >>> 2] = r.gw;
    u16[(p + abi.RT_DEV) >>> 1] = devSlot;
    u8[p + abi.RT_NHFLAGS] = nhf;
    // fib_check_nh: a gateway is reached through a link-scope route; a
    // direct route's nexthop has host scope.
    u8[p + abi.RT_NHSCOPE] = r.gw !== 0 ? abi.RT_SCOPE_LINK : abi.RT_SCOPE_HOST;
    u32[(p + abi.RT_MTU) >>> 2] = r.mtu;
    u32[(p + abi.RT_INDEX) >>> 2] = r.index;
  }
  let fibBytes = 0;
  for (const id of tableIds) {
    const b = bufOf.get(id)!;
    const slot = tableSlot.get(id)!;
    core.table_build(slot, id, b.ptr, b.n);
    core.free(b.ptr);
    fibBytes += core.table_bytes(slot);
  }

  // ---- rules ----
  const rules = snap.rules;
  const ruleBuf = core.alloc(Math.max(1, rules.length) * abi.RULE_SIZE);
  mem.refresh();
  const dv = mem.dv;
  rules.forEach((r, i) => {
    const p = ruleBuf + i * abi.RULE_SIZE;
    dv.setUint32(p + abi.RULE_PREF, r.pref, true);
    const action = { lookup: abi.FR_ACT_TO_TBL, goto: abi.FR_ACT_GOTO, nop: abi.FR_ACT_NOP, blackhole: abi.FR_ACT_BLACKHOLE, unreachable: abi.FR_ACT_UNREACHABLE, prohibit: abi.FR_ACT_PROHIBIT }[r.action];
    dv.setUint8(p + abi.RULE_ACTION, action);
    dv.setUint8(p + abi.RULE_FLAGS, (r.invert ? abi.RF_INVERT : 0) | (r.uidrange ? abi.RF_UIDRANGE : 0));
    dv.setUint32(p + abi.RULE_SRC, r.from?.addr ?? 0, true);
    dv.setUint8(p + abi.RULE_SRC_LEN, r.from?.plen ?? 0);
    dv.setUint32(p + abi.RULE_DST, r.to?.addr ?? 0, true);
    dv.setUint8(p + abi.RULE_DST_LEN, r.to?.plen ?? 0);
    dv.setUint32(p + abi.RULE_MARK, r.fwmark >>> 0, true);
    dv.setUint32(p + abi.RULE_MARK_MASK, r.fwmask >>> 0, true);
    dv.setUint32(p + abi.RULE_TABLE, r.action === "lookup" ? (tableSlot.get(r.table!) ?? abi.TABLE_NONE) : abi.TABLE_NONE, true);
    let target = 0xffffffff;
    if (r.action === "goto") {
      // ctarget: the first rule with the target priority (it must come later)
      const t = rules.findIndex((x) => x.pref === r.gotoPref);
      if (t > i) target = t;
    }
    dv.setUint32(p + abi.RULE_GOTO, target, true);
    const devOf = (name?: string) => (name === undefined ? 0 : (slotByName.get(name) ?? abi.DEV_DETACHED));
    dv.setUint16(p + abi.RULE_IIF, devOf(r.iif), true);
    dv.setUint16(p + abi.RULE_OIF, devOf(r.oif), true);
    dv.setUint8(p + abi.RULE_TOS, r.tos);
    dv.setUint8(p + abi.RULE_IPPROTO, r.ipproto);
    dv.setUint16(p + abi.RULE_SPORT_LO, r.sport?.[0] ?? 0, true);
    dv.setUint16(p + abi.RULE_SPORT_HI, r.sport?.[1] ?? 0, true);
    dv.setUint16(p + abi.RULE_DPORT_LO, r.dport?.[0] ?? 0, true);
    dv.setUint16(p + abi.RULE_DPORT_HI, r.dport?.[1] ?? 0, true);
    dv.setInt32(p + abi.RULE_SUPPRESS_PLEN, r.suppressPrefixlen, true);
    dv.setInt32(p + abi.RULE_SUPPRESS_GROUP, r.suppressIfgroup, true);
    dv.setUint32(p + abi.RULE_UID_LO, r.uidrange?.[0] ?? 0, true);
    dv.setUint32(p + abi.RULE_UID_HI, r.uidrange?.[1] ?? 0xffffffff, true);
  });
  core.rules_set(ruleBuf, rules.length);
  core.free(ruleBuf);

  // ---- sockets ----
  const socks = snap.sockets ?? [];
  const sockBuf = core.alloc(Math.max(1, socks.length) * 8);
  mem.refresh();
  socks.forEach((s, i) => {
    const p = sockBuf + i * 8;
    mem.dv.setUint8(p, s.proto === "tcp" ? 6 : 17);
    mem.dv.setUint16(p + 2, s.port, true);
    mem.dv.setUint32(p + 4, s.addr, true);
  });
  core.sockets_set(sockBuf, socks.length, snap.sockets ? 1 : 0);
  core.free(sockBuf);

  // ---- node-wide settings ----
  const g = (k: string) => globalSysctl(snap.sysctl, k);
  const set = (key: number, v: number) => core.sysctl_set(key, v >>> 0);
  set(abi.SYS_HZ, opts.hz ?? 250);
  set(abi.SYS_ICMP_RATEMASK, g("net.ipv4.icmp_ratemask"));
  set(abi.SYS_ICMP_RATELIMIT_MS, g("net.ipv4.icmp_ratelimit"));
  set(abi.SYS_ICMP_MSGS_PER_SEC, g("net.ipv4.icmp_msgs_per_sec"));
  set(abi.SYS_ICMP_MSGS_BURST, g("net.ipv4.icmp_msgs_burst"));
  set(abi.SYS_ICMP_ECHO_IGNORE_ALL, g("net.ipv4.icmp_echo_ignore_all"));
  set(abi.SYS_ICMP_ECHO_IGNORE_BCAST, g("net.ipv4.icmp_echo_ignore_broadcasts"));
  set(abi.SYS_ICMP_ERRORS_USE_INBOUND_IFADDR, g("net.ipv4.icmp_errors_use_inbound_ifaddr"));
  set(abi.SYS_IP_DEFAULT_TTL, g("net.ipv4.ip_default_ttl"));
  set(abi.SYS_FWMARK_REFLECT, g("net.ipv4.fwmark_reflect"));
  set(abi.SYS_IP_NO_PMTU_DISC, g("net.ipv4.ip_no_pmtu_disc"));
  set(abi.SYS_LOOPBACK_DEV, loopbackSlot);
  set(abi.SYS_CUSTOM_RULES, hasCustomRules(rules) ? 1 : 0);
  set(abi.SYS_CUSTOM_LOCAL_ROUTES, snap.routes.some((r) => r.table === 255 && r.type === "local" && r.proto !== "kernel") ? 1 : 0);
  set(abi.SYS_RULES_NEED_PORTS, rules.some((r) => r.ipproto !== 0 || r.sport || r.dport) ? 1 : 0);
  set(abi.SYS_SEED, opts.seed ?? 0);
  // conntrack (net.netfilter.nf_conntrack_*): kernel defaults, then the snapshot's values
  core.ct_config_defaults();
  for (const [key, ctc] of Object.entries(CONNTRACK_SYSCTLS)) {
    const v = snap.sysctl.get(key) ?? snap.sysctl.get(key.replace("net.netfilter.", "net."));
    if (v === undefined) continue;
    const n = Number(v.trim());
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      throw new InputError("sysctl.txt", 0, `${key} = ${v}`, "must be a non-negative integer");
    }
    core.ct_config_set(ctc, n);
  }
  core.state_reset();
  refuseSourceRouting(snap);
  noteUnmodelledSysctls(snap);

  const devBySlot: (Link | undefined)[] = [undefined, ...links];
  // Route.index is the route's position in snap.routes
  return { snapshot: snap, devBySlot, slotByName, loopbackSlot, tableIds, routes, rules, fibBytes };
}

/**
 * accept_source_route (IN_DEV_SOURCE_ROUTE: conf/all && conf/<dev>): when it
 * is on for a device, ip_rcv_options hands a packet with a source route
 * option to ip_options_rcv_srr, which re-routes it to the option's next
 * address. That is not modelled, so such a node is refused rather than
 * answered wrongly; with it off (the kernel's conf/all default) a source
 * routed packet is dropped (assembly/ipv4/rcv.ts ipRcvOptions).
 */
function refuseSourceRouting(snap: NodeSnapshot): void {
  const get = (d: string): number | undefined => {
    const v = snap.sysctl.get(`net.ipv4.conf.${d}.accept_source_route`);
    return v === undefined ? undefined : Number(v.trim());
  };
  const all = get("all") ?? 0;
  if (all === 0) return;
  for (const l of snap.links) {
    // a device without its own line has conf/default's value, 1 unless set (ipv4_devconf_dflt)
    const own = get(l.name) ?? get("default") ?? 1;
    if (own !== 0) {
      throw new InputError("sysctl.txt", 0, `net.ipv4.conf.${l.name}.accept_source_route = ${own}`,
        "source routing enabled (with net.ipv4.conf.all.accept_source_route = 1) is not modelled: set it to 0 on the node or in the snapshot");
    }
  }
}

/**
 * Settings in sysctl.txt the emulator does not use: not an error (a node
 * dump holds hundreds), but said once, with examples, so nothing is
 * silently ignored.
 */
function noteUnmodelledSysctls(snap: NodeSnapshot): void {
  const modelled = new Set(DEV_CONF.map((d) => d.param));
  const unused = new Map<string, number>();
  for (const key of snap.sysctl.keys()) {
    if (key === "net.ipv4.ip_forward" || key in GLOBAL_SYSCTL_DEFAULTS || key in CONNTRACK_SYSCTLS) continue;
    if (key === "net.nf_conntrack_max") continue;
    const m = /^net\.ipv4\.conf\.(.+)\.([^.]+)$/.exec(key);
    const name = m ? `net.ipv4.conf.*.${m[2]}` : key;
    if (m && (modelled.has(m[2]) || m[2] === "accept_source_route")) continue; // the latter: refuseSourceRouting
    unused.set(name, (unused.get(name) ?? 0) + 1);
  }
  if (unused.size === 0) return;
  const names = [...unused.keys()].sort();
  const total = [...unused.values()].reduce((a, b) => a + b, 0);
  const tag = `sysctl.txt: ${total} setting${total === 1 ? " is" : "s are"} not modelled yet`;
  if (!snap.notices.some((n) => n.startsWith(tag))) {
    snap.notices.push(`${tag} (${names.slice(0, 8).join(", ")}${names.length > 8 ? `, and ${names.length - 8} more` : ""})`);
  }
}

/** net.netfilter.nf_conntrack_* settings the core models, by sysctl name. */
export const CONNTRACK_SYSCTLS: Record<string, number> = {
  "net.netfilter.nf_conntrack_max": abi.CTC_MAX,
  "net.netfilter.nf_conntrack_buckets": abi.CTC_BUCKETS,
  "net.netfilter.nf_conntrack_tcp_loose": abi.CTC_TCP_LOOSE,
  "net.netfilter.nf_conntrack_tcp_be_liberal": abi.CTC_TCP_BE_LIBERAL,
  "net.netfilter.nf_conntrack_tcp_max_retrans": abi.CTC_TCP_MAX_RETRANS,
  "net.netfilter.nf_conntrack_tcp_ignore_invalid_rst": abi.CTC_TCP_IGNORE_INVALID_RST,
  "net.netfilter.nf_conntrack_checksum": abi.CTC_CHECKSUM,
  "net.netfilter.nf_conntrack_tcp_timeout_syn_sent": abi.CTC_TCP_TIMEOUT + abi.TCP_CONNTRACK_SYN_SENT,
  "net.netfilter.nf_conntrack_tcp_timeout_syn_recv": abi.CTC_TCP_TIMEOUT + abi.TCP_CONNTRACK_SYN_RECV,
  "net.netfilter.nf_conntrack_tcp_timeout_established": abi.CTC_TCP_TIMEOUT + abi.TCP_CONNTRACK_ESTABLISHED,
  "net.netfilter.nf_conntrack_tcp_timeout_fin_wait": abi.CTC_TCP_TIMEOUT + abi.TCP_CONNTRACK_FIN_WAIT,
  "net.netfilter.nf_conntrack_tcp_timeout_close_wait": abi.CTC_TCP_TIMEOUT + abi.TCP_CONNTRACK_CLOSE_WAIT,
  "net.netfilter.nf_conntrack_tcp_timeout_last_ack": abi.CTC_TCP_TIMEOUT + abi.TCP_CONNTRACK_LAST_ACK,
  "net.netfilter.nf_conntrack_tcp_timeout_time_wait": abi.CTC_TCP_TIMEOUT + abi.TCP_CONNTRACK_TIME_WAIT,
  "net.netfilter.nf_conntrack_tcp_timeout_close": abi.CTC_TCP_TIMEOUT + abi.TCP_CONNTRACK_CLOSE,
  "net.netfilter.nf_conntrack_tcp_timeout_max_retrans": abi.CTC_TCP_TIMEOUT + abi.TCP_CONNTRACK_RETRANS,
  "net.netfilter.nf_conntrack_tcp_timeout_unacknowledged": abi.CTC_TCP_TIMEOUT + abi.TCP_CONNTRACK_UNACK,
  "net.netfilter.nf_conntrack_udp_timeout": abi.CTC_UDP_TIMEOUT,
  "net.netfilter.nf_conntrack_udp_timeout_stream": abi.CTC_UDP_TIMEOUT_STREAM,
  "net.netfilter.nf_conntrack_icmp_timeout": abi.CTC_ICMP_TIMEOUT,
  "net.netfilter.nf_conntrack_generic_timeout": abi.CTC_GENERIC_TIMEOUT,
  "net.netfilter.nf_conntrack_gre_timeout": abi.CTC_GRE_TIMEOUT,
  "net.netfilter.nf_conntrack_gre_timeout_stream": abi.CTC_GRE_TIMEOUT_STREAM,
  "net.netfilter.nf_conntrack_sctp_timeout_closed": abi.CTC_SCTP_TIMEOUT + abi.SCTP_CONNTRACK_CLOSED,
  "net.netfilter.nf_conntrack_sctp_timeout_cookie_wait": abi.CTC_SCTP_TIMEOUT + abi.SCTP_CONNTRACK_COOKIE_WAIT,
  "net.netfilter.nf_conntrack_sctp_timeout_cookie_echoed": abi.CTC_SCTP_TIMEOUT + abi.SCTP_CONNTRACK_COOKIE_ECHOED,
  "net.netfilter.nf_conntrack_sctp_timeout_established": abi.CTC_SCTP_TIMEOUT + abi.SCTP_CONNTRACK_ESTABLISHED,
  "net.netfilter.nf_conntrack_sctp_timeout_shutdown_sent": abi.CTC_SCTP_TIMEOUT + abi.SCTP_CONNTRACK_SHUTDOWN_SENT,
  "net.netfilter.nf_conntrack_sctp_timeout_shutdown_recd": abi.CTC_SCTP_TIMEOUT + abi.SCTP_CONNTRACK_SHUTDOWN_RECD,
  "net.netfilter.nf_conntrack_sctp_timeout_shutdown_ack_sent": abi.CTC_SCTP_TIMEOUT + abi.SCTP_CONNTRACK_SHUTDOWN_ACK_SENT,
  "net.netfilter.nf_conntrack_sctp_timeout_heartbeat_sent": abi.CTC_SCTP_TIMEOUT + abi.SCTP_CONNTRACK_HEARTBEAT_SENT,
};

/**
 * fib4_has_custom_rules: the kernel sets it when any rule is added and never
 * clears it; from a snapshot we can only tell whether the rules differ from
 * the three defaults (0 local, 32766 main, 32767 default).
 */
export function hasCustomRules(rules: Rule[]): boolean {
  const defaults: [number, number][] = [[0, 255], [32766, 254], [32767, 253]];
  if (rules.length !== 3) return true;
  return rules.some((r, i) =>
    r.pref !== defaults[i][0] || r.action !== "lookup" || r.table !== defaults[i][1] || r.invert || r.from || r.to ||
    r.fwmask !== 0 || r.iif !== undefined || r.oif !== undefined || r.tos !== 0 || r.ipproto !== 0 || r.sport || r.dport ||
    r.uidrange || r.suppressPrefixlen !== -1 || r.suppressIfgroup !== -1);
}
