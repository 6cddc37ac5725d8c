/**
 * Randomized policy-routing configurations and the questions to ask them.
 *
 * Each case is a node (links, addresses, routes in several tables, rules with
 * every selector and action, per-device sysctls) built with real `ip` and
 * `sysctl` commands, plus `ip route get` queries and packets to inject. The
 * addresses come from small overlapping pools so that queries keep landing on
 * the interesting edges (longest-prefix ties, metrics, TOS, throw, suppress,
 * rule fall-through, rp_filter, martians). Seeded: a failing seed reproduces.
 */
import type { KernelNodeSpec, KernelLinkSpec, InjectPacket } from "./netns.js";
import { mulberry32 } from "../../host/util/prng.js";

/** Seeds are small consecutive numbers: spread them before seeding. */
export function prng(seed: number): () => number {
  return mulberry32(Math.imul(seed, 2654435761) >>> 0);
}

const ip = (n: number) => `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const num = (s: string) => s.split(".").reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
const mask = (l: number) => (l === 0 ? 0 : (0xffffffff << (32 - l)) >>> 0);

export interface RoutingCase {
  seed: number;
  spec: KernelNodeSpec;
  queries: string[][];
  packets: InjectPacket[];
}

interface LinkInfo { name: string; up: boolean; carrier: boolean; mtu: number; addrs: { a: number; plen: number }[] }

export function genRoutingCase(seed: number, opts: { queries?: number; packets?: number } = {}): RoutingCase {
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const chance = (p: number) => rnd() < p;

  // ---- links and addresses ----
  const nLinks = int(2, 4);
  const links: LinkInfo[] = [];
  const cmds: string[] = [];
  for (let i = 0; i < nLinks; i++) {
    const name = i === 3 && chance(0.5) ? "eni0a1b2c3d4e5" : `eth${i}`;
    const plen = pick([16, 20, 24, 24, 24, 26, 28]);
    const base = (num(`10.${i}.0.0`) & mask(plen)) >>> 0;
    const a = (base + 10 + i) >>> 0;
    const l: LinkInfo = { name, up: true, carrier: true, mtu: pick([1500, 1500, 9001, 1400]), addrs: [{ a, plen }] };
    if (i > 0 && chance(0.08)) l.carrier = false;
    if (i > 0 && chance(0.06)) l.up = false;
    links.push(l);
    cmds.push(`ip addr add ${ip(a)}/${plen} dev ${name}`);
    if (chance(0.3)) {
      const s = (base + 20 + i) >>> 0; // secondary in the same subnet
      cmds.push(`ip addr add ${ip(s)}/${plen} dev ${name}`);
      l.addrs.push({ a: s, plen });
    }
    if (chance(0.2)) {
      const a2 = num(`192.168.${100 + i}.1`);
      cmds.push(`ip addr add ${ip(a2)}/24 dev ${name}`);
      l.addrs.push({ a: a2, plen: 24 });
    }
  }
  const live = links.filter((l) => l.up);
  const carrierLinks = links.filter((l) => l.up && l.carrier);
  const gwOf = (l: LinkInfo) => {
    const { a, plen } = l.addrs[0];
    return ((a & mask(plen)) + 1) >>> 0;
  };

  // ---- routes ----
  const tables = ["main", "2", "3", "100"];
  const pools = ["172.16.0.0/12", "172.16.0.0/16", "172.16.5.0/24", "172.16.5.128/25", "172.16.5.7/32", "192.168.0.0/16",
    "192.168.1.0/24", "100.64.0.0/10", "100.64.3.0/24", "198.51.100.0/24", "203.0.113.0/24", "203.0.113.64/26", "0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16"];
  const routeCmds = new Set<string>();
  const usedKey = new Set<string>();
  const routePrefixes: string[] = [];
  const nRoutes = int(6, 18);
  for (let k = 0; k < nRoutes; k++) {
    const table = pick(tables);
    const prefix = pick(pools);
    const pfx = prefix === "0.0.0.0/0" ? "default" : prefix;
    const tbl = table === "main" ? "" : ` table ${table}`;
    const metric = pick([0, 0, 10, 100, 1024]);
    const tos = chance(0.12) ? pick([0x04, 0x08, 0x10]) : 0;
    const key = `${table} ${prefix} ${metric} ${tos}`;
    if (usedKey.has(key)) continue;
    usedKey.add(key);
    const kind = rnd();
    let cmd: string;
    if (kind < 0.16) cmd = `ip route append ${pick(["blackhole", "unreachable", "prohibit", "throw"])} ${pfx}${tbl}`;
    else {
      const l = pick(live);
      if (chance(0.6)) cmd = `ip route append ${pfx} via ${ip(gwOf(l))} dev ${l.name}${tbl}`;
      else cmd = `ip route append ${pfx} dev ${l.name}${tbl}`;
      if (chance(0.25)) cmd += ` src ${ip(pick(l.addrs).a)}`;
      if (chance(0.12)) cmd += ` mtu ${pick([1280, 1400])}`;
    }
    if (metric) cmd += ` metric ${metric}`;
    if (tos) cmd += ` tos 0x${tos.toString(16)}`;
    routeCmds.add(cmd);
    routePrefixes.push(prefix);
  }
  if (chance(0.7)) {
    const l = pick(live);
    routeCmds.add(`ip route add default via ${ip(gwOf(l))} dev ${l.name} metric 1`);
  }
  if (chance(0.15)) routeCmds.add("ip route add local 198.18.0.0/24 dev lo table local");

  // ---- rules ----
  const ruleCmds: string[] = [];
  const marks = [0x1, 0x80, 0x4000, 0x10];
  const nRules = int(0, 8);
  const prefs = new Set<number>();
  for (let k = 0; k < nRules; k++) {
    let pref = int(1, 3000);
    while (prefs.has(pref)) pref++;
    prefs.add(pref);
    const parts = [`ip rule add pref ${pref}`];
    if (chance(0.1)) parts.push("not");
    if (chance(0.35)) parts.push(`from ${pick([...pools.filter((p) => p !== "0.0.0.0/0"), "10.0.0.0/16", "10.1.0.0/24"])}`);
    if (chance(0.35)) parts.push(`to ${pick(pools.filter((p) => p !== "0.0.0.0/0"))}`);
    if (chance(0.2)) parts.push(`iif ${pick([...links.map((l) => l.name), "lo", "nosuch0"])}`);
    if (chance(0.12)) parts.push(`oif ${pick([...links.map((l) => l.name), "nosuch1"])}`);
    if (chance(0.25)) parts.push(chance(0.5) ? `fwmark 0x${pick(marks).toString(16)}` : `fwmark 0x${pick(marks).toString(16)}/0x${pick([0xff, 0xf0, 0xffff]).toString(16)}`);
    if (chance(0.1)) parts.push(`tos 0x${pick([0x04, 0x08, 0x10]).toString(16)}`);
    if (chance(0.12)) parts.push(`ipproto ${pick(["tcp", "udp", "icmp"])}`);
    if (chance(0.1)) parts.push(`dport ${pick(["80", "443", "1000-2000", "53"])}`);
    if (chance(0.08)) parts.push(`sport ${pick(["1024-65000", "53", "40000-40100"])}`);
    if (chance(0.06)) parts.push(`uidrange ${pick(["0-0", "1000-2000"])}`);
    const act = rnd();
    if (act < 0.55) {
      parts.push(`lookup ${pick(["main", "2", "3", "100", "250"])}`);
      if (chance(0.15)) parts.push(`suppress_prefixlength ${pick([0, 8, 16, 24])}`);
      else if (chance(0.05)) parts.push(`suppress_ifgroup ${pick([0, 5])}`);
    } else if (act < 0.67) parts.push(`goto ${pref + int(1, 800)}`);
    else if (act < 0.75) parts.push("nop");
    else parts.push(pick(["blackhole", "unreachable", "prohibit"]));
    ruleCmds.push(parts.join(" "));
  }

  // ---- sysctls ----
  const sys: string[] = [];
  if (chance(0.8)) sys.push("sysctl -qw net.ipv4.ip_forward=1");
  const devs = ["all", ...links.map((l) => l.name)];
  for (const d of devs) {
    if (chance(0.35)) sys.push(`sysctl -qw net.ipv4.conf.${d}.rp_filter=${pick([0, 1, 2])}`);
    if (d !== "all" && chance(0.15)) sys.push(`sysctl -qw net.ipv4.conf.${d}.forwarding=${pick([0, 1])}`);
    if (chance(0.08)) sys.push(`sysctl -qw net.ipv4.conf.${d}.accept_local=1`);
    if (chance(0.08)) sys.push(`sysctl -qw net.ipv4.conf.${d}.src_valid_mark=1`);
    if (chance(0.05)) sys.push(`sysctl -qw net.ipv4.conf.${d}.route_localnet=1`);
    if (chance(0.15)) sys.push(`sysctl -qw net.ipv4.conf.${d}.send_redirects=0`);
    if (chance(0.1)) sys.push(`sysctl -qw net.ipv4.conf.${d}.shared_media=0`);
  }
  if (chance(0.1)) sys.push("sysctl -qw net.ipv4.icmp_errors_use_inbound_ifaddr=1");
  const downCmds = links.filter((l) => !l.up).map((l) => `ip link set ${l.name} down`);

  const spec: KernelNodeSpec = {
    links: links.map((l): KernelLinkSpec => ({ name: l.name, mtu: l.mtu, carrier: l.carrier })),
    commands: [...cmds, ...sys, ...routeCmds, ...ruleCmds, ...downCmds],
  };

  // ---- address pools for questions ----
  const hostIn = (prefix: string) => {
    const [a, l] = prefix.split("/");
    const plen = Number(l);
    const base = num(a) & mask(plen);
    const size = plen === 32 ? 1 : 2 ** (32 - plen);
    return ip((base + Math.floor(rnd() * size)) >>> 0);
  };
  const localAddrs = links.flatMap((l) => l.addrs.map((x) => ip(x.a)));
  const subnetHosts = () => { const l = pick(links); const x = pick(l.addrs); return hostIn(`${ip(x.a & mask(x.plen))}/${x.plen}`); };
  const bcast = () => { const l = pick(links); const x = pick(l.addrs); return ip(((x.a & mask(x.plen)) | ~mask(x.plen)) >>> 0); };
  const anyDst = (): string => {
    const r = rnd();
    if (r < 0.45) return hostIn(pick(routePrefixes.length ? routePrefixes : pools));
    if (r < 0.6) return hostIn(pick(pools));
    if (r < 0.72) return subnetHosts();
    if (r < 0.8) return pick(localAddrs);
    if (r < 0.84) return bcast();
    if (r < 0.87) return pick(["255.255.255.255", "224.0.0.1", "239.1.2.3", "127.0.0.1", "0.1.2.3", "198.18.0.9"]);
    return hostIn(pick(["8.0.0.0/8", "44.0.0.0/8", "151.101.0.0/16"]));
  };
  const anySrc = (): string => {
    const r = rnd();
    if (r < 0.4) return subnetHosts();
    if (r < 0.7) return hostIn(pick(pools.filter((p) => p !== "0.0.0.0/0")));
    if (r < 0.8) return pick(localAddrs);
    if (r < 0.86) return pick(["127.0.0.5", "0.0.0.0", "224.0.0.9", bcast()]);
    return hostIn("44.0.0.0/8");
  };

  // ---- ip route get queries ----
  const queries: string[][] = [];
  const nq = opts.queries ?? 150;
  for (let k = 0; k < nq; k++) {
    const q = [anyDst()];
    const input = chance(0.5);
    if (input) {
      q.push("from", anySrc(), "iif", pick(links).name);
    } else {
      if (chance(0.35)) q.push("from", pick([...localAddrs, ...localAddrs, anySrc()]));
      if (chance(0.15)) q.push("oif", pick(links).name);
      if (chance(0.1)) q.push("uid", pick(["0", "1500"]));
    }
    if (chance(0.25)) q.push("mark", `0x${pick(marks).toString(16)}`);
    if (chance(0.12)) q.push("tos", `0x${pick([0x04, 0x08, 0x10]).toString(16)}`);
    if (chance(0.12)) {
      q.push("ipproto", pick(["tcp", "udp"]));
      if (chance(0.7)) q.push("dport", String(pick([80, 443, 1500, 53, 8080])));
      if (chance(0.5)) q.push("sport", String(pick([53, 1024, 40050, 60000])));
    }
    queries.push(q);
  }

  // ---- packets ----
  const packets: InjectPacket[] = [];
  const np = opts.packets ?? 50;
  for (let k = 0; k < np; k++) {
    const id = k + 1;
    if (chance(0.2) || carrierLinks.length === 0) {
      // a local process sends (UDP or ICMP echo)
      const p: InjectPacket = { id, iif: "local", dst: anyDst(), proto: chance(0.8) ? "udp" : "icmp", ttl: pick([64, 64, 1, 5]) };
      if (p.proto === "udp") { p.dport = pick([53, 80, 9999, 33434]); if (chance(0.3)) p.sport = pick([40050, 53, 1200]); }
      else { p.icmpId = int(1, 65535); p.icmpSeq = int(1, 100); }
      if (chance(0.3)) p.src = pick([...localAddrs, anySrc()]);
      if (chance(0.15)) p.mark = pick(marks);
      if (chance(0.1)) p.oif = pick(live).name;
      if (chance(0.1)) { p.df = true; p.len = pick([1300, 1450, 3000]); }
      if (p.dst === "0.1.2.3" || p.dst === "239.1.2.3") p.dst = pick(localAddrs); // avoid socket-level quirks outside routing
      if (p.proto === "udp" && p.dport === undefined) p.dport = 9;
      packets.push(p);
      continue;
    }
    const l = pick(carrierLinks);
    const proto = pick(["tcp", "tcp", "udp", "udp", "icmp"] as const);
    const p: InjectPacket = { id, iif: l.name, src: anySrc(), dst: anyDst(), proto, ttl: pick([64, 64, 64, 2, 1]) };
    if (proto === "tcp") { p.sport = int(1024, 65535); p.dport = pick([80, 443, 1500, 22, 8080]); p.flags = pick(["S", "S", "A", "PA", "R", "FA"]); p.seq = int(0, 2 ** 32 - 1); p.ack = int(0, 2 ** 32 - 1); }
    if (proto === "udp") { p.sport = int(1024, 65535); p.dport = pick([53, 123, 33434, 9999]); }
    if (proto === "icmp") { p.icmpId = int(1, 65535); p.icmpSeq = int(1, 500); }
    if (chance(0.1)) p.tos = pick([0x04, 0x10, 0x08]);
    if (chance(0.15)) { p.df = chance(0.7); p.len = Math.min(l.mtu, pick([1300, 1420, 1480, 1500, 3000, 8000])); }
    packets.push(p);
  }
  return { seed, spec, queries, packets };
}
