/**
 * The small node of the randomized netfilter scenarios, and the address
 * plan its rulesets and traffic share.
 *
 *   eth0   10.0.0.2/24, default via 10.0.0.1      "internet" (203.0.113.0/24, 198.51.100.0/24)
 *   eth1   192.168.1.1/24 + 192.168.1.2 (secondary) LAN clients 192.168.1.10-99
 *   eni0a  pod 10.244.0.5 (scope link route, no address on the node)
 *   eni0b  pod 10.244.0.6
 *   ip rule 100: fwmark 0x10/0x10 lookup 100 (default via 192.168.1.254 dev eth1)
 */
import type { KernelNodeSpec } from "../../kernel/netns.js";
import type { Peer } from "./flows.js";

export const SMALL_NODE: KernelNodeSpec = {
  links: [{ name: "eth0" }, { name: "eth1" }, { name: "eni0a" }, { name: "eni0b" }],
  commands: [
    "sysctl -qw net.ipv4.ip_forward=1",
    // the kernel keeps ICMP redirect back-off per peer (inet_peer) across scenarios; a fresh engine would not
    "sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0",
    "sysctl -qw net.ipv4.conf.eth0.send_redirects=0 net.ipv4.conf.eth1.send_redirects=0",
    "sysctl -qw net.ipv4.conf.eni0a.send_redirects=0 net.ipv4.conf.eni0b.send_redirects=0",
    "ip addr add 10.0.0.2/24 dev eth0",
    "ip addr add 192.168.1.1/24 dev eth1",
    "ip addr add 192.168.1.2/24 dev eth1",
    "ip route add default via 10.0.0.1 dev eth0",
    "ip route add 10.244.0.5 dev eni0a scope link",
    "ip route add 10.244.0.6 dev eni0b scope link",
    "ip rule add pref 100 fwmark 0x10/0x10 lookup 100",
    "ip route add default via 192.168.1.254 dev eth1 table 100",
  ],
};

export const NODE_ADDRS = ["10.0.0.2", "192.168.1.1", "192.168.1.2"];
export const PODS: Peer[] = [{ iif: "eni0a", ip: "10.244.0.5" }, { iif: "eni0b", ip: "10.244.0.6" }];

/** A seeded PRNG (mulberry32) and helpers. */
export class Rnd {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  pick<T>(xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)]; }
  chance(p: number): boolean { return this.next() < p; }
  u32(): number { return Math.floor(this.next() * 4294967296) >>> 0; }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
}

export function internetHost(r: Rnd): Peer {
  return { iif: "eth0", ip: r.chance(0.6) ? `203.0.113.${r.int(1, 60)}` : `198.51.100.${r.int(1, 200)}` };
}
export function lanHost(r: Rnd): Peer {
  return { iif: "eth1", ip: `192.168.1.${r.int(10, 99)}` };
}
export function anyClient(r: Rnd): Peer {
  const x = r.next();
  if (x < 0.4) return internetHost(r);
  if (x < 0.75) return lanHost(r);
  return r.pick(PODS);
}

/** Source ports and ICMP ids unique within a scenario (so NAT keeps them: port preservation). */
export class Ports {
  private used = new Set<number>();
  constructor(private r: Rnd, private lo = 10000, private hi = 30000) {}
  take(): number {
    for (;;) {
      const p = this.r.int(this.lo, this.hi);
      if (!this.used.has(p)) { this.used.add(p); return p; }
    }
  }
}
