/**
 * Loading a parsed snapshot (host/model/node.ts) into a real kernel: the
 * harness spec (test/kernel/netns.ts) that rebuilds the node's IPv4 routing
 * state in a network namespace, so that the kernel can referee the emulator
 * on any node a snapshot describes, not only on nodes built from commands.
 *
 * The spec is computed without asking the kernel. Where the kernel creates
 * state on its own (the routes of an address, lo's 127.0.0.1/8, the three
 * default rules), the loader predicts what it creates (as fib_add_ifaddr,
 * inet_insert_ifa and fib_default_rules_init do) and only adds what is
 * missing and deletes what the snapshot does not have. A wrong prediction
 * does not go unnoticed: deleting a route that is not there, or adding one
 * that already is, fails loudly, and a route the kernel created but the
 * loader did not predict shows up when the node is dumped again.
 *
 * Whatever cannot be rebuilt in a namespace makes specFromSnapshot throw a
 * SnapshotLoadError naming the snapshot line; what is deliberately left out
 * is listed in LoadPlan.skipped.
 */
import type { IfAddr, Link, NodeSnapshot, Route, Rule, SourceRef } from "../../host/model/node.js";
import { formatIPv4, maskOf } from "../../host/util/ipv4.js";
import { KernelNode, type KernelLinkSpec, type KernelNodeSpec } from "./netns.js";

// ---------------------------------------------------------------------------
// public API

export interface LoadOptions {
  /**
   * Whether the world-side peer of a link is up (the node side then has a
   * carrier). Default: the snapshot's LOWER_UP flag for links that are UP
   * (an UP link without LOWER_UP is NO-CARRIER), true for links that are down.
   */
  carrier?: (link: string) => boolean;
}

/** The spec, plus where each command comes from and what was left out. */
export interface LoadPlan {
  spec: KernelNodeSpec;
  /** Command (as in spec.commands) -> the snapshot line it reproduces, when it reproduces one line. */
  sources: Map<string, SourceRef>;
  /** Things of the snapshot the spec deliberately does not reproduce, each with the reason. */
  skipped: string[];
}

/** Something of the snapshot that cannot be rebuilt in a network namespace. */
export class SnapshotLoadError extends Error {
  override readonly name = "SnapshotLoadError";
  constructor(readonly src: SourceRef | undefined, readonly problem: string, origin = "") {
    super(
      (origin ? `snapshot ${origin}: ` : "") +
        (src ? `${src.file}:${src.line}: ${problem}\n    ${src.text}` : problem),
    );
  }
}

/** IPv4 per-device settings the loader writes (net.ipv4.conf.{all,default,DEV}.NAME). */
export const DEVCONF_PARAMS = [
  "forwarding", "rp_filter", "accept_local", "src_valid_mark", "route_localnet", "send_redirects",
  "shared_media", "ignore_routes_with_linkdown", "bc_forwarding", "accept_redirects",
] as const;

/** Global (per-netns) IPv4 settings the loader writes. */
export const GLOBAL_SYSCTL = /^net\.ipv4\.(ip_forward|icmp_[a-z_]+|ip_default_ttl|fwmark_reflect|ip_no_pmtu_disc)$/;

/**
 * The harness spec that rebuilds the snapshot's node in a namespace: one
 * veth per non-loopback device of ip-link.txt (name, MTU, up/down, carrier),
 * then commands: device groups, sysctls, addresses, routes, rules.
 * Throws SnapshotLoadError for what cannot be rebuilt.
 */
export function specFromSnapshot(snap: NodeSnapshot, opts: LoadOptions = {}): KernelNodeSpec {
  return planFromSnapshot(snap, opts).spec;
}

/** specFromSnapshot, with the origin of each command and the list of what was left out. */
export function planFromSnapshot(snap: NodeSnapshot, opts: LoadOptions = {}): LoadPlan {
  return new Planner(snap, opts).plan();
}

/**
 * KernelNode.create(plan.spec), where a failing command is reported with the
 * snapshot line it came from.
 */
export async function createFromPlan(plan: LoadPlan, origin = ""): Promise<KernelNode> {
  try {
    return await KernelNode.create(plan.spec);
  } catch (e) {
    throw explainFailure(e, plan, origin);
  }
}

/** The error of a failed KernelNode.create, with the snapshot line of the failing command appended. */
export function explainFailure(e: unknown, plan: LoadPlan, origin = ""): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  const m = /node command failed: (?:ip )?([^\n]*)/.exec(err.message);
  if (!m) return err;
  const failing = m[1]!.trim();
  for (const [cmd, src] of plan.sources) {
    if (cmd === failing || cmd === `ip ${failing}`) {
      const where = `${origin ? origin + ": " : ""}${src.file}:${src.line}`;
      const out = new Error(`${err.message}\n  (reproducing ${where}: ${src.text.trim()})`);
      out.stack = err.stack;
      return out;
    }
  }
  return err;
}

// ---------------------------------------------------------------------------
// route identity

/** A route with everything `ip route` can set, in a form that compares by value. */
export interface RouteAttrs {
  table: number;
  type: string;
  prefix: number;
  plen: number;
  tos: number;
  metric: number;
  gw: number;
  dev: string | undefined;
  prefsrc: number;
  scope: number;
  /** Protocol as a number when iproute2 knows the name (boot when none was printed). */
  proto: string;
  mtu: number;
  mtuLock: boolean;
  onlink: boolean;
  /** Other route metrics as printed ("advmss 1460", "initcwnd 10", ...). */
  metrics: string[];
}

/** Route protocols iproute2 names without a file (rtnl_rtprot_tab) and the usual rt_protos names. */
export const RT_PROTOS: ReadonlyMap<string, number> = new Map([
  ["unspec", 0], ["redirect", 1], ["kernel", 2], ["boot", 3], ["static", 4], ["gated", 8], ["ra", 9],
  ["mrt", 10], ["zebra", 11], ["bird", 12], ["dnrouted", 13], ["xorp", 14], ["ntk", 15], ["dhcp", 16],
  ["keepalived", 18], ["babel", 42], ["openr", 99], ["bgp", 186], ["isis", 187], ["ospf", 188],
  ["rip", 189], ["eigrp", 192],
]);

/** A route protocol as a comparable string: its number when known ("" = not printed = boot). */
export function normProto(p: string | undefined): string {
  if (p === undefined || p === "") return "3";
  const n = RT_PROTOS.get(p);
  if (n !== undefined) return String(n);
  return /^(0x[0-9a-f]+|[0-9]+)$/i.test(p) ? String(Number(p)) : p;
}

/** Route metrics the parser accepts without modelling them (they are kept from the line text). */
const PASSTHROUGH_METRICS: ReadonlySet<string> = new Set([
  "advmss", "rtt", "rttvar", "reordering", "window", "cwnd", "initcwnd", "initrwnd", "ssthresh",
  "hoplimit", "rto_min", "quickack", "congctl", "features", "fastopen_no_cookie", "realms", "realm",
]);

/** Nexthop flags set by drivers or by the kernel's state, not by `ip route add`. */
const STATE_FLAGS: ReadonlySet<string> = new Set([
  "linkdown", "offload", "trap", "rt_offload", "rt_trap", "rt_offload_failed", "notify", "unresolved",
]);

/** RouteAttrs of a parsed route (MTU lock and the unmodelled metrics are read from the line). */
export function routeAttrs(r: Route): RouteAttrs {
  const toks = r.src.text.trim().split(/\s+/);
  const metrics: string[] = [];
  let mtuLock = false;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t === "mtu" && toks[i + 1] === "lock") mtuLock = true;
    if (PASSTHROUGH_METRICS.has(t) && i + 1 < toks.length) {
      const parts = [t === "realm" ? "realms" : t];
      if (toks[i + 1] === "lock" && i + 2 < toks.length) parts.push(toks[++i]!);
      parts.push(toks[++i]!);
      metrics.push(parts.join(" "));
    }
  }
  return {
    table: r.table, type: r.type, prefix: r.prefix, plen: r.plen, tos: r.tos, metric: r.metric,
    gw: r.gw, dev: r.dev, prefsrc: r.prefsrc, scope: r.scope, proto: normProto(r.proto),
    mtu: r.mtu, mtuLock, onlink: r.nhflags.includes("onlink"), metrics,
  };
}

/** A string identifying a route by everything the kernel compares (two routes with the same key are the same route). */
export function routeKey(a: RouteAttrs): string {
  return [
    `table ${a.table}`, a.type, `${formatIPv4(a.prefix)}/${a.plen}`, `tos 0x${a.tos.toString(16)}`,
    `via ${a.gw ? formatIPv4(a.gw) : "-"}`, `dev ${a.dev ?? "-"}`, `metric ${a.metric}`, `scope ${a.scope}`,
    `src ${a.prefsrc ? formatIPv4(a.prefsrc) : "-"}`, `proto ${a.proto}`,
    `mtu ${a.mtuLock ? "lock " : ""}${a.mtu}`, a.onlink ? "onlink" : "", ...a.metrics,
  ].filter((s) => s !== "").join(" ");
}

/** Routes with the same group share a fib alias list position: the kernel keeps them in insertion order. */
function groupKey(a: RouteAttrs): string {
  return `${a.table} ${a.prefix}/${a.plen} ${a.tos} ${a.metric}`;
}

// ---------------------------------------------------------------------------
// formatting helpers

const SCOPE_NAMES: ReadonlyMap<number, string> = new Map([[0, "global"], [200, "site"], [253, "link"], [254, "host"], [255, "nowhere"]]);

function scopeName(s: number): string {
  return SCOPE_NAMES.get(s) ?? String(s);
}

function hex(n: number): string {
  return "0x" + (n >>> 0).toString(16);
}

function prefixText(addr: number, plen: number): string {
  return plen === 0 && addr === 0 ? "default" : `${formatIPv4(addr)}/${plen}`;
}

/** `ip route` arguments selecting/creating exactly this route (without the verb). */
function routeArgs(a: RouteAttrs, forDelete: boolean): string {
  const p = [a.type, prefixText(a.prefix, a.plen)];
  if (a.tos) p.push("tos", hex(a.tos));
  if (a.gw) p.push("via", formatIPv4(a.gw));
  if (a.dev !== undefined) p.push("dev", a.dev);
  p.push("table", String(a.table), "proto", a.proto, "scope", scopeName(a.scope));
  if (a.prefsrc) p.push("src", formatIPv4(a.prefsrc));
  p.push("metric", String(a.metric));
  if (!forDelete) {
    if (a.onlink) p.push("onlink");
    if (a.mtu) p.push("mtu", ...(a.mtuLock ? ["lock"] : []), String(a.mtu));
    for (const m of a.metrics) p.push(m);
  }
  return p.join(" ");
}

// ---------------------------------------------------------------------------
// kernel-created state

/** An address as the kernel holds it (enough of it to predict its routes). */
interface KAddr {
  dev: string;
  local: number;
  /** ifa_address: the peer for point-to-point addresses, else the local address. */
  address: number;
  plen: number;
  broadcast: number;
  scope: number;
  secondary: boolean;
  noprefixroute: boolean;
  metric: number;
}

/** The routes fib_add_ifaddr creates for `ifa` (added to `held`, the device's addresses so far, in list order). */
function addressRoutes(ifa: KAddr, held: KAddr[], loopback: boolean, up: boolean): RouteAttrs[] {
  const mask = maskOf(ifa.plen);
  const prefix = (ifa.address & mask) >>> 0;
  let prim = ifa;
  if (ifa.secondary) {
    const p = held.find((x) => x.plen === ifa.plen && ((x.address & mask) >>> 0) === prefix);
    if (p) prim = p;
  }
  const mk = (type: string, dst: number, plen: number, table: number, scope: number, metric: number): RouteAttrs => ({
    table, type, prefix: dst, plen, tos: 0, metric, gw: 0, dev: ifa.dev, prefsrc: prim.local, scope,
    proto: normProto("kernel"), mtu: 0, mtuLock: false, onlink: false, metrics: [],
  });
  const out: RouteAttrs[] = [mk("local", ifa.local, 32, 255, 254, 0)];
  if (!up) return out;
  if (ifa.broadcast !== 0 && ifa.broadcast !== 0xffffffff) out.push(mk("broadcast", ifa.broadcast, 32, 255, 253, 0));
  if (prefix !== 0 && !ifa.secondary && (prefix !== ifa.local || ifa.plen < 32)) {
    if (!ifa.noprefixroute) {
      out.push(loopback ? mk("local", prefix, ifa.plen, 255, 254, ifa.metric) : mk("unicast", prefix, ifa.plen, 254, 253, ifa.metric));
    }
    if (ifa.plen < 31) out.push(mk("broadcast", (prefix | ~mask) >>> 0, 32, 255, 253, 0));
  }
  return out;
}

/** lo's address in a new namespace once lo is up (inetdev_event, NETDEV_UP). */
const LO_DEFAULT: KAddr = {
  dev: "lo", local: 0x7f000001, address: 0x7f000001, plen: 8, broadcast: 0, scope: 254,
  secondary: false, noprefixroute: false, metric: 0,
};

function addrMetric(a: IfAddr): number {
  const m = /\smetric\s+([0-9]+)/.exec(a.src.text);
  return m ? Number(m[1]) : 0;
}

// ---------------------------------------------------------------------------
// rules

interface DefaultRule { pref: number; table: number }
const DEFAULT_RULES: DefaultRule[] = [{ pref: 0, table: 255 }, { pref: 32766, table: 254 }, { pref: 32767, table: 253 }];

/** Is `r` the plain rule "PREF: from all lookup TABLE" the kernel starts with? */
function isDefaultRule(r: Rule, d: DefaultRule): boolean {
  return r.pref === d.pref && !r.invert && r.from === undefined && r.to === undefined && r.tos === 0 &&
    r.fwmask === 0 && r.fwmark === 0 && r.iif === undefined && r.oif === undefined && r.ipproto === 0 &&
    r.sport === undefined && r.dport === undefined && r.uidrange === undefined && r.action === "lookup" &&
    r.table === d.table && r.suppressPrefixlen === -1 && r.suppressIfgroup === -1 &&
    (r.proto === undefined || r.proto === "kernel");
}

function ruleArgs(r: Rule): string {
  const p = ["pref", String(r.pref)];
  if (r.invert) p.push("not");
  if (r.from) p.push("from", `${formatIPv4(r.from.addr)}/${r.from.plen}`);
  if (r.to) p.push("to", `${formatIPv4(r.to.addr)}/${r.to.plen}`);
  if (r.tos) p.push("tos", hex(r.tos));
  if (r.fwmask !== 0) p.push("fwmark", `${hex(r.fwmark)}/${hex(r.fwmask)}`);
  if (r.iif !== undefined) p.push("iif", r.iif);
  if (r.oif !== undefined) p.push("oif", r.oif);
  if (r.ipproto) p.push("ipproto", String(r.ipproto));
  if (r.sport) p.push("sport", `${r.sport[0]}-${r.sport[1]}`);
  if (r.dport) p.push("dport", `${r.dport[0]}-${r.dport[1]}`);
  if (r.uidrange) p.push("uidrange", `${r.uidrange[0]}-${r.uidrange[1]}`);
  switch (r.action) {
    case "lookup": p.push("lookup", String(r.table)); break;
    case "goto": p.push("goto", String(r.gotoPref)); break;
    default: p.push(r.action);
  }
  if (r.suppressPrefixlen >= 0) p.push("suppress_prefixlength", String(r.suppressPrefixlen));
  if (r.suppressIfgroup >= 0) p.push("suppress_ifgroup", String(r.suppressIfgroup));
  if (r.proto !== undefined) p.push("protocol", r.proto);
  return p.join(" ");
}

/**
 * Rules the kernel inserts after the last rule whose priority is <= the new
 * one's. With the default rules `keep` (indexes into `rules`, or -1 when
 * deleted) still there, does adding the others in file order give the
 * snapshot's order?
 */
function ruleOrderWorks(rules: Rule[], keep: number[]): boolean {
  const list: number[] = keep.filter((k) => k >= 0);
  const kept = new Set(list);
  for (let i = 0; i < rules.length; i++) {
    if (kept.has(i)) continue;
    let at = 0;
    for (let j = 0; j < list.length; j++) if (rules[list[j]!]!.pref <= rules[i]!.pref) at = j + 1;
    list.splice(at, 0, i);
  }
  return list.every((v, i) => v === i);
}

// ---------------------------------------------------------------------------
// the planner

class Planner {
  private readonly commands: string[] = [];
  private readonly sources = new Map<string, SourceRef>();
  private readonly skipped: string[] = [];
  private readonly links = new Map<string, Link>();

  constructor(private readonly snap: NodeSnapshot, private readonly opts: LoadOptions) {}

  private fail(src: SourceRef | undefined, problem: string): never {
    throw new SnapshotLoadError(src, problem, this.snap.origin);
  }

  private cmd(c: string, src?: SourceRef): void {
    this.commands.push(c);
    if (src && !this.sources.has(c)) this.sources.set(c, src);
  }

  plan(): LoadPlan {
    const linkSpecs = this.planLinks();
    this.planSysctls();
    const kernelRoutes = this.planAddresses();
    this.planRoutes(kernelRoutes);
    this.planRules();
    return { spec: { links: linkSpecs, commands: this.commands }, sources: this.sources, skipped: this.skipped };
  }

  private isUp(dev: string): boolean {
    return this.links.get(dev)?.flags.includes("UP") ?? false;
  }

  // -- links ---------------------------------------------------------------

  private planLinks(): KernelLinkSpec[] {
    const specs: KernelLinkSpec[] = [];
    for (const l of this.snap.links) {
      this.links.set(l.name, l);
      if (l.master !== undefined) {
        this.fail(l.src, `${l.name} is enslaved to ${l.master}: the namespace rebuilds every device as an ` +
          "unenslaved veth, so bridge/bond/VRF membership cannot be reproduced");
      }
      if (l.name === "lo" || l.flags.includes("LOOPBACK") || l.linkType === "loopback") {
        if (l.name !== "lo") this.fail(l.src, `loopback device named ${l.name}: only "lo" can be a loopback device`);
        if (!l.flags.includes("UP")) this.fail(l.src, "lo is down: the harness brings lo up (a down lo loses 127.0.0.0/8)");
        if (l.group !== 0) this.cmd(`ip link set lo group ${l.group}`, l.src);
        continue;
      }
      if (!/^[A-Za-z0-9_.-]{1,15}$/.test(l.name)) {
        this.fail(l.src, `device name ${JSON.stringify(l.name)} cannot be given to a veth by the harness`);
      }
      if (l.mtu < 68 || l.mtu > 65535) this.fail(l.src, `MTU ${l.mtu} is outside what a veth accepts (68..65535)`);
      if (l.linkType !== "ether") {
        this.skipped.push(`${l.src.file}:${l.src.line}: ${l.name} is link/${l.linkType}; rebuilt as a veth (ethernet, NOARP)`);
      }
      const up = l.flags.includes("UP");
      const carrier = this.opts.carrier ? this.opts.carrier(l.name) : !up || l.flags.includes("LOWER_UP");
      const s: KernelLinkSpec = { name: l.name, mtu: l.mtu };
      if (!up) s.up = false;
      if (!carrier) s.carrier = false;
      specs.push(s);
      if (l.group !== 0) this.cmd(`ip link set ${l.name} group ${l.group}`, l.src);
    }
    return specs;
  }

  // -- sysctls -------------------------------------------------------------

  private planSysctls(): void {
    const sc = this.snap.sysctl;
    const value = (key: string): string | undefined => {
      const v = sc.get(key);
      if (v === undefined) return undefined;
      if (v === "" || /\s/.test(v)) {
        this.fail(undefined, `sysctl.txt: ${key} = ${JSON.stringify(v)}: not a single value the loader can write`);
      }
      return v;
    };
    const write = (pairs: Array<[string, string]>) => {
      if (pairs.length) this.cmd("sysctl -qw " + pairs.map(([k, v]) => `${k}=${v}`).join(" "));
    };
    const confKey = (dev: string, p: string) => `net.ipv4.conf.${dev}.${p}`;
    const confArg = (dev: string, p: string) => `net.ipv4.conf.${dev.replaceAll(".", "/")}.${p}`;

    // 1. forwarding first: writing ip_forward or conf/all/forwarding sets every
    //    device's forwarding, conf/default's, and conf/all/accept_redirects (to !forwarding).
    const first: Array<[string, string]> = [];
    for (const k of ["net.ipv4.ip_forward", confKey("all", "forwarding")]) {
      const v = value(k);
      if (v !== undefined) first.push([k, v]);
    }
    write(first);
    // 2. the other global settings, then conf/all and conf/default (writing a
    //    conf/default value copies it to every device not set explicitly).
    const globals: Array<[string, string]> = [];
    for (const k of sc.keys()) {
      if (k !== "net.ipv4.ip_forward" && GLOBAL_SYSCTL.test(k)) globals.push([k, value(k)!]);
    }
    write(globals.sort((a, b) => a[0].localeCompare(b[0])));
    for (const dev of ["all", "default"]) {
      const pairs: Array<[string, string]> = [];
      for (const p of DEVCONF_PARAMS) {
        if (dev === "all" && p === "forwarding") continue;
        const v = value(confKey(dev, p));
        if (v !== undefined) pairs.push([confArg(dev, p), v]);
      }
      write(pairs);
    }
    // 3. per device, every listed value (so that each is explicitly set).
    for (const dev of ["lo", ...this.snap.links.filter((l) => l.name !== "lo").map((l) => l.name)]) {
      const pairs: Array<[string, string]> = [];
      for (const p of DEVCONF_PARAMS) {
        const v = value(confKey(dev, p));
        if (v !== undefined) pairs.push([confArg(dev, p), v]);
      }
      write(pairs);
    }
    const missing = new Set<string>();
    for (const k of sc.keys()) {
      if (!k.startsWith("net.ipv4.conf.")) continue;
      const rest = k.slice("net.ipv4.conf.".length);
      const dev = rest.slice(0, rest.lastIndexOf("."));
      if (dev !== "all" && dev !== "default" && !this.links.has(dev)) missing.add(dev);
    }
    for (const dev of missing) {
      this.skipped.push(`sysctl.txt: net.ipv4.conf.${dev}.*: device ${dev} is not in ip-link.txt`);
    }
  }

  // -- addresses -------------------------------------------------------------

  /** Adds the addresses; returns the routes the kernel creates for them, in creation order. */
  private planAddresses(): RouteAttrs[] {
    const held = new Map<string, KAddr[]>();
    const routes: RouteAttrs[] = [];
    const seen = new Set<string>();
    const add = (ifa: KAddr) => {
      const list = held.get(ifa.dev) ?? [];
      for (const r of addressRoutes(ifa, list, ifa.dev === "lo", ifa.dev === "lo" || this.isUp(ifa.dev))) {
        const k = routeKey(r);
        if (!seen.has(k)) { seen.add(k); routes.push(r); }
      }
      list.push(ifa);
      held.set(ifa.dev, list);
    };

    const loAddrs = this.snap.addrs.filter((a) => a.dev === "lo");
    const first = loAddrs[0];
    const keepLoDefault = first !== undefined && first.local === LO_DEFAULT.local && first.plen === 8 &&
      first.peer === 0 && first.broadcast === 0 && first.scope === 254 && !first.noprefixroute &&
      addrMetric(first) === 0 && first.label === "lo";
    if (keepLoDefault) add(LO_DEFAULT);
    else this.cmd("ip addr del 127.0.0.1/8 dev lo");

    for (const a of this.snap.addrs) {
      if (keepLoDefault && a === first) continue;
      const metric = addrMetric(a);
      const ifa: KAddr = {
        dev: a.dev, local: a.local, address: a.peer || a.local, plen: a.plen, broadcast: a.broadcast,
        scope: a.scope, secondary: false, noprefixroute: a.noprefixroute, metric,
      };
      // inet_insert_ifa: an address in the subnet (same mask) of one the device has is secondary
      const mask = maskOf(a.plen);
      const same = (held.get(a.dev) ?? []).filter((x) => x.plen === a.plen && (((x.address ^ ifa.address) & mask) >>> 0) === 0);
      if (same.some((x) => x.local === a.local)) this.fail(a.src, "the device already has this address (earlier line)");
      if (same.some((x) => x.scope !== a.scope)) {
        this.fail(a.src, "same subnet as an earlier address of the device but another scope: the kernel refuses it");
      }
      ifa.secondary = same.length > 0;
      if (ifa.secondary !== a.secondary) {
        this.fail(a.src, a.secondary
          ? "marked secondary, but no earlier address of the device is in its subnet, so the kernel would make it primary"
          : "not marked secondary, but an earlier address of the device is in its subnet, so the kernel would make it secondary");
      }
      if (a.label !== a.dev && !a.label.startsWith(a.dev)) {
        this.fail(a.src, `label ${a.label} does not start with the device name (ip addr add refuses such a label)`);
      }
      const p = ["ip", "addr", "add", a.peer ? `${formatIPv4(a.local)} peer ${formatIPv4(a.peer)}/${a.plen}` : `${formatIPv4(a.local)}/${a.plen}`];
      if (a.broadcast) p.push("brd", formatIPv4(a.broadcast));
      p.push("scope", scopeName(a.scope), "dev", a.dev);
      if (a.label !== a.dev) p.push("label", a.label);
      if (metric) p.push("metric", String(metric));
      if (a.noprefixroute) p.push("noprefixroute");
      this.cmd(p.join(" "), a.src);
      const proto = /\sproto\s+(\S+)/.exec(a.src.text.split("\\")[0]!);
      if (proto) {
        this.skipped.push(`${a.src.file}:${a.src.line}: address protocol ${proto[1]} is not reproduced (the model does not hold it)`);
      }
      if (/\svalid_lft\s+[0-9]+sec/.test(a.src.text)) {
        this.skipped.push(`${a.src.file}:${a.src.line}: ${formatIPv4(a.local)}/${a.plen} has a finite lifetime; added as permanent`);
      }
      add(ifa);
    }
    return routes;
  }

  // -- routes ----------------------------------------------------------------

  private planRoutes(kernelRoutes: RouteAttrs[]): void {
    // What the snapshot wants, by key.
    const want: Array<{ a: RouteAttrs; r: Route; key: string }> = [];
    const wantByKey = new Map<string, Route>();
    for (const r of this.snap.routes) {
      if (r.type === "nat" || r.type === "xresolve") {
        this.fail(r.src, `route type ${r.type}: the kernel no longer accepts it`);
      }
      for (const f of r.nhflags) {
        // dead + linkdown: no carrier and ignore_routes_with_linkdown, both reproduced;
        // dead alone (a multipath nexthop whose device went down) cannot be added
        if (f === "dead" && !r.nhflags.includes("linkdown")) {
          this.fail(r.src, "dead nexthop without linkdown: only the kernel makes a nexthop dead (a device went down under a multipath route); ip route add cannot");
        }
        if (f === "pervasive") this.fail(r.src, "pervasive nexthop flag: ip route add cannot set it");
        if (STATE_FLAGS.has(f) && f !== "linkdown") {
          this.skipped.push(`${r.src.file}:${r.src.line}: nexthop flag "${f}" is kernel/driver state, not reproduced`);
        }
      }
      const a = routeAttrs(r);
      const key = routeKey(a);
      const dup = wantByKey.get(key);
      if (dup) this.fail(r.src, `same route as line ${dup.src.line}: the kernel cannot hold two identical routes`);
      wantByKey.set(key, r);
      want.push({ a, r, key });
    }

    // The simulated tables: group -> keys in alias order.
    const groups = new Map<string, string[]>();
    const attrsOf = new Map<string, RouteAttrs>();
    const kernelKeys = new Set<string>();
    for (const k of kernelRoutes) {
      const key = routeKey(k);
      kernelKeys.add(key);
      attrsOf.set(key, k);
      const g = groupKey(k);
      groups.set(g, [...(groups.get(g) ?? []), key]);
    }
    const addRoute = (a: RouteAttrs, key: string, src: SourceRef) => {
      const g = groupKey(a);
      const list = groups.get(g) ?? [];
      // "add" fails if any route of the group exists; "append" only on an identical one
      this.cmd(`ip route ${list.length ? "append" : "add"} ${routeArgs(a, false)}`, src);
      list.push(key);
      groups.set(g, list);
      attrsOf.set(key, a);
    };
    const delRoute = (a: RouteAttrs, key: string, src?: SourceRef) => {
      const g = groupKey(a);
      this.cmd(`ip route del ${routeArgs(a, true)}`, src);
      groups.set(g, (groups.get(g) ?? []).filter((k) => k !== key));
    };

    // 1. routes without a gateway to check (device routes, local, broadcast,
    //    blackhole, ...; onlink), then gateway routes: a gateway must be
    //    reachable through a link-scope route when its route is added.
    const toAdd = want.filter((w) => !kernelKeys.has(w.key));
    for (const w of toAdd) if (!w.a.gw || w.a.onlink) addRoute(w.a, w.key, w.r.src);
    for (const w of toAdd) if (w.a.gw && !w.a.onlink) addRoute(w.a, w.key, w.r.src);
    // 2. kernel-created routes the snapshot does not have (after the adds: a
    //    gateway route may have been added while the route to its gateway existed).
    for (const k of kernelRoutes) {
      const key = routeKey(k);
      if (!wantByKey.has(key)) delRoute(k, key);
    }
    // 3. routes with the same destination, table, TOS and metric are kept in
    //    the order they were added, and the first that fits wins a lookup:
    //    where the order differs from the snapshot's, delete and re-add.
    const wantGroups = new Map<string, string[]>();
    for (const w of want) {
      const g = groupKey(w.a);
      wantGroups.set(g, [...(wantGroups.get(g) ?? []), w.key]);
    }
    for (const [g, order] of wantGroups) {
      const have = groups.get(g) ?? [];
      if (have.length === order.length && have.every((k, i) => k === order[i])) continue;
      const keptLocal = have.filter((k) => kernelKeys.has(k) && attrsOf.get(k)!.type === "local");
      if (keptLocal.length) {
        const lines = order.map((k) => wantByKey.get(k)!.src.line).join(", ");
        this.fail(wantByKey.get(order[0]!)!.src,
          `routes on lines ${lines} (same destination, table, TOS and metric) are in an order the kernel ` +
          "gives them only if the addresses were added in another order; reordering would mean re-adding the kernel's " +
          "own local route from user space (which sets fib_has_custom_local_routes)");
      }
      for (const k of [...have]) delRoute(attrsOf.get(k)!, k, wantByKey.get(k)?.src);
      for (const k of order) addRoute(attrsOf.get(k)!, k, wantByKey.get(k)!.src);
    }
  }

  // -- rules -----------------------------------------------------------------

  private planRules(): void {
    const rules = this.snap.rules;
    // Which of the kernel's default rules can stay (index of the snapshot rule it is, or -1).
    const firstMatch = (d: DefaultRule, used: Set<number>) => {
      const i = rules.findIndex((r, j) => !used.has(j) && isDefaultRule(r, d));
      if (i >= 0) used.add(i);
      return i;
    };
    const used = new Set<number>();
    let keep = DEFAULT_RULES.map((d) => firstMatch(d, used));
    if (keep.every((k) => k >= 0) && rules.length === 3) return; // exactly the defaults: touch nothing
    if (!ruleOrderWorks(rules, keep)) {
      keep = [rules.length && isDefaultRule(rules[0]!, DEFAULT_RULES[0]!) ? 0 : -1, -1, -1];
      if (!ruleOrderWorks(rules, keep)) keep = [-1, -1, -1];
    }
    DEFAULT_RULES.forEach((d, i) => {
      if (keep[i]! < 0) this.cmd(`ip rule del pref ${d.pref}`);
    });
    const kept = new Set(keep);
    rules.forEach((r, i) => {
      if (!kept.has(i)) this.cmd(`ip rule add ${ruleArgs(r)}`, r.src);
    });
  }
}
