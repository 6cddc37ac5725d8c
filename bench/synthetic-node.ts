/** A minimal node snapshot around a big main table, for routing benchmarks. */
import type { NodeSnapshot, Route } from "../host/model/node.js";
import type { SynthPrefix } from "./prefixes.js";

const src = (line: number) => ({ file: "synthetic", line, text: "" });

export function syntheticSnapshot(prefixes: SynthPrefix[]): NodeSnapshot {
  const routes: Route[] = prefixes.map((p, i) => ({
    table: 254, type: "unicast", prefix: p.addr, plen: p.plen, tos: 0, metric: 20, prefsrc: 0, gw: 0x0a000001,
    dev: "eth0", proto: "bird", scope: 0, nhflags: [], mtu: 0, index: i, src: src(i + 1),
  }));
  routes.push({ table: 254, type: "unicast", prefix: 0x0a000000, plen: 24, tos: 0, metric: 0, prefsrc: 0x0a00000a, gw: 0, dev: "eth0", proto: "kernel", scope: 253, nhflags: [], mtu: 0, index: routes.length, src: src(0) });
  routes.push({ table: 255, type: "local", prefix: 0x0a00000a, plen: 32, tos: 0, metric: 0, prefsrc: 0x0a00000a, gw: 0, dev: "eth0", proto: "kernel", scope: 254, nhflags: [], mtu: 0, index: routes.length, src: src(0) });
  return {
    origin: "synthetic",
    links: [
      { ifindex: 1, name: "lo", flags: ["LOOPBACK", "UP", "LOWER_UP"], mtu: 65536, group: 0, linkType: "loopback", state: "UNKNOWN", src: src(1) },
      { ifindex: 2, name: "eth0", flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], mtu: 1500, group: 0, linkType: "ether", state: "UP", src: src(2) },
    ],
    addrs: [{ ifindex: 2, dev: "eth0", local: 0x0a00000a, plen: 24, broadcast: 0x0a0000ff, peer: 0, scope: 0, secondary: false, noprefixroute: false, label: "eth0", src: src(1) }],
    routes,
    rules: [
      { pref: 0, invert: false, tos: 0, fwmark: 0, fwmask: 0, ipproto: 0, action: "lookup", table: 255, suppressPrefixlen: -1, suppressIfgroup: -1, index: 0, src: src(1) },
      { pref: 32766, invert: false, tos: 0, fwmark: 0, fwmask: 0, ipproto: 0, action: "lookup", table: 254, suppressPrefixlen: -1, suppressIfgroup: -1, index: 1, src: src(2) },
      { pref: 32767, invert: false, tos: 0, fwmark: 0, fwmask: 0, ipproto: 0, action: "lookup", table: 253, suppressPrefixlen: -1, suppressIfgroup: -1, index: 2, src: src(3) },
    ],
    sysctl: new Map([["net.ipv4.ip_forward", "1"]]),
    notices: [],
  };
}
