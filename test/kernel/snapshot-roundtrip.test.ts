/**
 * Snapshot -> kernel -> snapshot: a parsed snapshot is loaded into a network
 * namespace (test/kernel/load-snapshot.ts), the namespace is dumped the way
 * scripts/nodeplane-snapshot.sh dumps a node, and the two models must be the
 * same: links, addresses, routes (every table), rules and the IPv4 settings
 * the dataplane depends on.
 *
 * Three snapshots: the EKS fixture (test/fixtures/eks-node), the built-in
 * demo node (buildDemoNode), and a hand-written one exercising what EKS nodes
 * rarely have (blackhole/unreachable/prohibit/throw routes, TOS and MTU
 * routes, several tables, every rule selector, goto, nop, ...).
 *
 * The kernel part needs root and iproute2 (describeKernel); the checks that
 * the loader refuses what a namespace cannot reproduce run everywhere.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { IfAddr, Link, NodeSnapshot, Route, Rule } from "../../host/model/node.js";
import { buildDemoNode } from "../../host/scenario/eks-node.js";
import { parseSnapshotFiles, readSnapshotDir } from "../../host/snapshot/read.js";
import { formatIPv4 } from "../../host/util/ipv4.js";
import { describeKernel } from "./kernel-gate.js";
import {
  DEVCONF_PARAMS, GLOBAL_SYSCTL, SnapshotLoadError, explainFailure, normProto, planFromSnapshot, routeAttrs, specFromSnapshot,
} from "./load-snapshot.js";
import { KernelNode } from "./netns.js";

const EKS_FIXTURE = fileURLToPath(new URL("../fixtures/eks-node", import.meta.url));

// ---------------------------------------------------------------------------
// normalisation: what must survive the round trip

function linkView(l: Link): string {
  return `${l.name} mtu ${l.mtu} group ${l.group} ${l.flags.includes("UP") ? "UP" : "DOWN"}${l.flags.includes("LOWER_UP") ? ",LOWER_UP" : ""}`;
}

function addrView(a: IfAddr): string {
  const metric = /\smetric\s+([0-9]+)/.exec(a.src.text)?.[1] ?? "0";
  return [
    a.dev, `${formatIPv4(a.local)}/${a.plen}`, a.peer ? `peer ${formatIPv4(a.peer)}` : "",
    a.broadcast ? `brd ${formatIPv4(a.broadcast)}` : "", `scope ${a.scope}`, a.secondary ? "secondary" : "",
    a.noprefixroute ? "noprefixroute" : "", `label ${a.label}`, `metric ${metric}`,
  ].filter((s) => s !== "").join(" ");
}

/** A route by everything it is (linkdown and the ifindex left out). */
function routeView(r: Route): string {
  const a = routeAttrs(r); // for the MTU lock and the metrics the model does not hold
  const flags = r.nhflags.filter((f) => f !== "linkdown").sort();
  return [
    `table ${r.table}`, r.type, `${formatIPv4(r.prefix)}/${r.plen}`, r.tos ? `tos 0x${r.tos.toString(16)}` : "",
    r.gw ? `via ${formatIPv4(r.gw)}` : "", r.dev !== undefined ? `dev ${r.dev}` : "", `metric ${r.metric}`,
    `scope ${r.scope}`, r.prefsrc ? `src ${formatIPv4(r.prefsrc)}` : "", `proto ${normProto(r.proto)}`,
    r.mtu ? `mtu ${a.mtuLock ? "lock " : ""}${r.mtu}` : "", ...flags, ...a.metrics,
  ].filter((s) => s !== "").join(" ");
}

/** Routes with the same table/destination/TOS/metric, in the order the kernel keeps (and prints) them. */
function aliasOrder(s: NodeSnapshot): string[] {
  const groups = new Map<string, string[]>();
  for (const r of s.routes) {
    const g = `table ${r.table} ${formatIPv4(r.prefix)}/${r.plen} tos ${r.tos} metric ${r.metric}`;
    groups.set(g, [...(groups.get(g) ?? []), routeView(r)]);
  }
  return [...groups].filter(([, v]) => v.length > 1).map(([g, v]) => `${g}: ${v.join(" | ")}`).sort();
}

function ruleView(r: Rule): object {
  const { index: _i, src: _s, proto, ...rest } = r;
  return { ...rest, proto: proto === "kernel" ? undefined : proto };
}

/** The snapshot's values of the settings the loader writes, keyed as in the model. */
function sysctlView(s: NodeSnapshot, devs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of s.sysctl) if (GLOBAL_SYSCTL.test(k)) out[k] = v;
  for (const d of ["all", "default", ...devs]) {
    for (const p of DEVCONF_PARAMS) {
      const v = s.sysctl.get(`net.ipv4.conf.${d}.${p}`);
      if (v !== undefined) out[`net.ipv4.conf.${d}.${p}`] = v;
    }
  }
  return out;
}

/**
 * The values the kernel acts on per device (IN_DEV_FORWARD, IN_DEV_RPFILTER
 * = max(all, dev), IN_DEV_ORCONF / IN_DEV_ANDCONF, IN_DEV_RX_REDIRECTS),
 * where the snapshot has all the keys needed.
 */
function effectiveView(s: NodeSnapshot, devs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  const get = (d: string, p: string) => {
    const v = s.sysctl.get(`net.ipv4.conf.${d}.${p}`);
    return v === undefined ? undefined : Number(v);
  };
  for (const dev of devs) {
    for (const p of DEVCONF_PARAMS) {
      const all = get("all", p);
      const own = get(dev, p);
      if (all === undefined || own === undefined) continue;
      let v: number;
      if (p === "forwarding") v = own;
      else if (p === "rp_filter") v = Math.max(all, own);
      else if (p === "bc_forwarding") v = all && own ? 1 : 0;
      else if (p === "accept_redirects") {
        const fwd = get(dev, "forwarding");
        if (fwd === undefined) continue;
        v = (fwd ? all && own : all || own) ? 1 : 0;
      } else v = all || own ? 1 : 0;
      out[`${dev}.${p}`] = v;
    }
  }
  return out;
}

interface RoundTrip {
  spec: ReturnType<typeof specFromSnapshot>;
  skipped: string[];
  back: NodeSnapshot;
}

/** Loads `snap` into the kernel, dumps it, and checks the dump against the snapshot. */
async function roundTrip(snap: NodeSnapshot, label: string): Promise<RoundTrip> {
  const plan = planFromSnapshot(snap);
  expect(specFromSnapshot(snap)).toEqual(plan.spec);
  let node: KernelNode;
  try {
    node = await KernelNode.create(plan.spec);
  } catch (e) {
    throw explainFailure(e, plan, label);
  }
  let back: NodeSnapshot;
  try {
    back = parseSnapshotFiles(await node.dumpSnapshot(), `${label} (kernel dump)`);
  } finally {
    await node.destroy();
  }
  if (plan.skipped.length) console.log(`[${label}] not reproduced:\n  ${plan.skipped.join("\n  ")}`);

  expect(back.links.map(linkView), `${label}: links`).toEqual(snap.links.map(linkView));
  expect(back.addrs.map(addrView), `${label}: addresses (in order)`).toEqual(snap.addrs.map(addrView));

  const want = snap.routes.map(routeView).sort();
  const got = back.routes.map(routeView).sort();
  const missing = want.filter((r) => !got.includes(r));
  const extra = got.filter((r) => !want.includes(r));
  expect({ missing, extra }, `${label}: routes (missing = in the snapshot only, extra = in the kernel only)`)
    .toEqual({ missing: [], extra: [] });
  expect(got, `${label}: routes`).toEqual(want);
  expect(aliasOrder(back), `${label}: order of routes sharing destination/TOS/metric`).toEqual(aliasOrder(snap));

  expect(back.rules.map(ruleView), `${label}: rules`).toEqual(snap.rules.map(ruleView));

  const devs = snap.links.map((l) => l.name);
  const wantSys = sysctlView(snap, devs);
  const gotSys = sysctlView(back, devs);
  const sysDiff = Object.keys(wantSys).filter((k) => gotSys[k] !== wantSys[k]).map((k) => `${k}: snapshot ${wantSys[k]}, kernel ${gotSys[k]}`);
  expect(sysDiff, `${label}: sysctls`).toEqual([]);
  const wantEff = effectiveView(snap, devs);
  const gotEff = effectiveView(back, devs);
  const effDiff = Object.keys(wantEff).filter((k) => gotEff[k] !== wantEff[k]).map((k) => `${k}: snapshot ${wantEff[k]}, kernel ${gotEff[k]}`);
  expect(effDiff, `${label}: effective per-device settings`).toEqual([]);

  return { spec: plan.spec, skipped: plan.skipped, back };
}

// ---------------------------------------------------------------------------
// the hand-written snapshot

const L = (i: number, name: string, flags: string, mtu: number, state: string, group = "default") =>
  `${i}: ${name}: <${flags}> mtu ${mtu} qdisc mq state ${state} mode DEFAULT group ${group} qlen 1000\\    link/ether 02:00:00:00:${i.toString(16).padStart(2, "0")}:01 brd ff:ff:ff:ff:ff:ff`;
const A = (i: number, dev: string, rest: string) => `${i}: ${dev}    inet ${rest}\\       valid_lft forever preferred_lft forever`;

function sysctlText(): string {
  const lines = ["net.ipv4.ip_forward = 1"];
  const conf: Record<string, Partial<Record<(typeof DEVCONF_PARAMS)[number], number>>> = {
    all: { forwarding: 1, rp_filter: 1, accept_local: 0, src_valid_mark: 1, route_localnet: 0, send_redirects: 0, shared_media: 1, ignore_routes_with_linkdown: 1, bc_forwarding: 1, accept_redirects: 0 },
    default: { forwarding: 1, rp_filter: 2, accept_local: 0, src_valid_mark: 0, route_localnet: 0, send_redirects: 1, shared_media: 1, ignore_routes_with_linkdown: 0, bc_forwarding: 0, accept_redirects: 1 },
    lo: { forwarding: 1, rp_filter: 0, accept_local: 0, src_valid_mark: 0, route_localnet: 0, send_redirects: 1, shared_media: 1, ignore_routes_with_linkdown: 0, bc_forwarding: 0, accept_redirects: 1 },
    eth0: { forwarding: 1, rp_filter: 2, accept_local: 1, src_valid_mark: 0, route_localnet: 1, send_redirects: 1, shared_media: 0, ignore_routes_with_linkdown: 0, bc_forwarding: 0, accept_redirects: 1 },
    eth1: { forwarding: 1, rp_filter: 0, accept_local: 0, src_valid_mark: 0, route_localnet: 0, send_redirects: 0, shared_media: 1, ignore_routes_with_linkdown: 1, bc_forwarding: 1, accept_redirects: 0 },
    "eth0/100": { forwarding: 1, rp_filter: 0, accept_local: 0, src_valid_mark: 1, route_localnet: 0, send_redirects: 1, shared_media: 1, ignore_routes_with_linkdown: 0, bc_forwarding: 1, accept_redirects: 1 },
    eth2: { forwarding: 0, rp_filter: 1, accept_local: 0, src_valid_mark: 0, route_localnet: 0, send_redirects: 1, shared_media: 1, ignore_routes_with_linkdown: 0, bc_forwarding: 0, accept_redirects: 1 },
    eth3: { forwarding: 1, rp_filter: 1, accept_local: 0, src_valid_mark: 0, route_localnet: 0, send_redirects: 1, shared_media: 1, ignore_routes_with_linkdown: 1, bc_forwarding: 0, accept_redirects: 0 },
    // a device that is gone (not in ip-link.txt): skipped
    eth9: { forwarding: 1, rp_filter: 1 },
  };
  for (const [dev, vals] of Object.entries(conf)) {
    for (const [p, v] of Object.entries(vals)) lines.push(`net.ipv4.conf.${dev}.${p} = ${v}`);
    lines.push(`net.ipv4.conf.${dev}.log_martians = 0`); // not one of the settings the loader writes
  }
  lines.push(
    "net.ipv4.icmp_echo_ignore_all = 0", "net.ipv4.icmp_echo_ignore_broadcasts = 0", "net.ipv4.icmp_ratelimit = 500",
    "net.ipv4.icmp_ratemask = 6168", "net.ipv4.icmp_msgs_per_sec = 2000", "net.ipv4.icmp_msgs_burst = 100",
    "net.ipv4.icmp_errors_use_inbound_ifaddr = 1", "net.ipv4.ip_default_ttl = 100", "net.ipv4.fwmark_reflect = 1",
    "net.ipv4.ip_no_pmtu_disc = 1", "net.netfilter.nf_conntrack_max = 131072",
  );
  return lines.join("\n") + "\n";
}

/** A node with what EKS nodes rarely have; written as `ip`/`sysctl` print it. */
function handWrittenFiles(): Record<string, string> {
  const link = [
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
    L(2, "eth0", "BROADCAST,MULTICAST,UP,LOWER_UP", 9001, "UP"),
    L(3, "eth1", "BROADCAST,MULTICAST,UP,LOWER_UP", 1500, "UP", "5"),
    L(4, "eth0.100@eth0", "BROADCAST,MULTICAST,UP,LOWER_UP", 1500, "UP"),
    L(5, "eth2", "BROADCAST,MULTICAST", 1500, "DOWN"),
    L(6, "eth3", "NO-CARRIER,BROADCAST,MULTICAST,UP", 1500, "DOWN"),
  ];
  const addr = [
    A(1, "lo", "127.0.0.1/8 scope host lo"),
    A(1, "lo", "10.255.0.1/32 scope global lo"),
    A(2, "eth0", "10.0.0.10/24 brd 10.0.0.255 scope global eth0"),
    A(2, "eth0", "10.0.9.1/24 scope global noprefixroute eth0"),
    A(2, "eth0", "10.0.0.11/24 brd 10.0.0.255 scope global secondary eth0:1"),
    A(3, "eth1", "172.16.0.2/30 brd 172.16.0.3 scope global eth1"),
    A(3, "eth1", "10.9.9.1 peer 10.9.9.2/32 scope global eth1"),
    A(3, "eth1", "10.0.1.5/24 metric 50 brd 10.0.1.255 scope global eth1"),
    A(4, "eth0.100", "192.168.100.1/24 brd 192.168.100.255 scope global eth0.100"),
    A(5, "eth2", "10.2.0.1/24 brd 10.2.0.255 scope global eth2"),
    A(6, "eth3", "10.3.0.1/24 brd 10.3.0.255 scope link eth3"),
  ];
  const route = [
    // table 100 and 200: gateways, throw, prohibit, unreachable with a VRF-style metric
    "default via 10.0.0.1 dev eth0 table 100 ",
    "10.0.0.0/24 dev eth0 table 100 scope link ",
    "throw 10.40.0.0/16 table 100 ",
    "prohibit 10.66.0.0/16 table 100 proto static ",
    "unreachable default table 200 metric 4278198272 ",
    "10.50.0.0/16 via 172.16.0.1 dev eth1 table 200 proto static ",
    "172.16.0.1 dev eth1 table 200 scope link ",
    // main
    "default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.10 metric 100 ",
    "default via 172.16.0.1 dev eth1 metric 200 ",
    // a route printed before the kernel's connected route of the same destination: it was added first
    "10.0.0.0/24 dev eth1 scope link ",
    "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.10 ",
    "10.0.1.0/24 dev eth1 proto kernel scope link src 10.0.1.5 metric 50 ",
    // eth3 has no carrier and ignore_routes_with_linkdown: the kernel marks its nexthops dead
    "10.3.0.0/24 dev eth3 proto kernel scope link src 10.3.0.1 dead linkdown ",
    "10.9.9.2 dev eth1 proto kernel scope link src 10.9.9.1 ",
    "10.20.0.0/16 tos 0x10 via 172.16.0.1 dev eth1 ",
    "10.20.0.0/16 via 10.0.0.1 dev eth0 ",
    "10.30.0.0/16 via 192.0.2.1 dev eth1 onlink ",
    "10.40.0.0/16 via 10.0.0.1 dev eth0 mtu lock 1400 ",
    "10.41.0.0/16 via 10.0.0.1 dev eth0 mtu 1300 advmss 1260 ",
    "10.42.0.0/16 dev eth0 scope link ",
    "10.42.0.0/16 dev eth1 scope link ",
    "blackhole 10.77.0.0/16 proto bird ",
    "unreachable 10.78.0.0/16 ",
    "prohibit 10.79.0.0/16 metric 10 ",
    "172.16.0.0/30 dev eth1 proto kernel scope link src 172.16.0.2 ",
    // (no 192.168.100.0/24 dev eth0.100: the kernel's connected route was deleted)
    "default via 10.0.0.254 dev eth0 table default metric 500 ",
    "blackhole default table 1000000 ",
    // local: the kernel's routes for the addresses, plus one added by hand (AnyIP)
    "local 10.0.0.10 dev eth0 table local proto kernel scope host src 10.0.0.10 ",
    "local 10.0.0.11 dev eth0 table local proto kernel scope host src 10.0.0.10 ",
    "broadcast 10.0.0.255 dev eth0 table local proto kernel scope link src 10.0.0.10 ",
    "local 10.0.1.5 dev eth1 table local proto kernel scope host src 10.0.1.5 ",
    "broadcast 10.0.1.255 dev eth1 table local proto kernel scope link src 10.0.1.5 ",
    "local 10.0.9.1 dev eth0 table local proto kernel scope host src 10.0.9.1 ",
    "broadcast 10.0.9.255 dev eth0 table local proto kernel scope link src 10.0.9.1 ",
    "local 10.2.0.1 dev eth2 table local proto kernel scope host src 10.2.0.1 ",
    "local 10.3.0.1 dev eth3 table local proto kernel scope host src 10.3.0.1 ",
    "broadcast 10.3.0.255 dev eth3 table local proto kernel scope link src 10.3.0.1 dead linkdown ",
    "local 10.9.9.1 dev eth1 table local proto kernel scope host src 10.9.9.1 ",
    "local 10.99.0.0/16 dev lo table local scope host ",
    "local 10.255.0.1 dev lo table local proto kernel scope host src 10.255.0.1 ",
    "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 ",
    "local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 ",
    "broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 ",
    "local 172.16.0.2 dev eth1 table local proto kernel scope host src 172.16.0.2 ",
    "broadcast 172.16.0.3 dev eth1 table local proto kernel scope link src 172.16.0.2 ",
    "local 192.168.100.1 dev eth0.100 table local proto kernel scope host src 192.168.100.1 ",
    "broadcast 192.168.100.255 dev eth0.100 table local proto kernel scope link src 192.168.100.1 ",
  ];
  const rule = [
    "0:\tfrom all lookup local",
    "10:\tfrom all iif eth0 oif eth1 lookup 100",
    "20:\tnot from 10.0.0.0/8 to 192.0.2.0/24 lookup 200",
    "30:\tfrom all tos 0x10 lookup 100",
    "40:\tfrom all fwmark 0x1/0xff goto 60",
    "45:\tfrom all fwmark 0x3 goto 47 [unresolved]",
    "50:\tfrom all ipproto tcp sport 1000-2000 dport 80 lookup 200",
    "55:\tfrom all uidrange 1000-2000 lookup 100",
    "58:\tfrom all iif ghost0 [detached] lookup 100",
    "60:\tfrom all nop",
    "70:\tfrom 198.51.100.0/24 blackhole",
    "71:\tfrom 198.51.101.0/24 unreachable",
    "72:\tfrom 198.51.102.0/24 prohibit",
    "80:\tfrom all lookup main suppress_prefixlength 0",
    "90:\tfrom all lookup main suppress_ifgroup 5",
    "100:\tfrom 10.0.1.0/24 lookup 1000000 proto static",
    "32766:\tfrom all lookup main",
    "32766:\tfrom all fwmark 0x2 lookup 100",
    // (no "32767: from all lookup default": deleted)
  ];
  return {
    "ip-link.txt": link.join("\n") + "\n",
    "ip-addr.txt": addr.join("\n") + "\n",
    "ip-route.txt": route.join("\n") + "\n",
    "ip-rule.txt": rule.join("\n") + "\n",
    "sysctl.txt": sysctlText(),
  };
}

/** A minimal snapshot: eth0 with one address, the kernel's routes, the default rules; `edit` changes a file. */
function smallFiles(edit: Partial<Record<string, string>> = {}): Record<string, string> {
  return {
    "ip-link.txt": [
      "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
      L(2, "eth0", "BROADCAST,MULTICAST,UP,LOWER_UP", 1500, "UP"),
    ].join("\n") + "\n",
    "ip-addr.txt": [A(1, "lo", "127.0.0.1/8 scope host lo"), A(2, "eth0", "10.0.0.10/24 brd 10.0.0.255 scope global eth0")].join("\n") + "\n",
    "ip-route.txt": [
      "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.10 ",
      "local 10.0.0.10 dev eth0 table local proto kernel scope host src 10.0.0.10 ",
      "broadcast 10.0.0.255 dev eth0 table local proto kernel scope link src 10.0.0.10 ",
      "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 ",
      "local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 ",
      "broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 ",
    ].join("\n") + "\n",
    "ip-rule.txt": "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n",
    "sysctl.txt": "net.ipv4.ip_forward = 0\n",
    ...edit,
  } as Record<string, string>;
}

// ---------------------------------------------------------------------------
// without the kernel: what the loader produces, and what it refuses

describe("specFromSnapshot (no kernel needed)", () => {
  it("leaves the kernel's own state alone: default rules, kernel-created routes, lo's 127.0.0.1/8", () => {
    const spec = specFromSnapshot(parseSnapshotFiles(smallFiles(), "small"));
    expect(spec.links).toEqual([{ name: "eth0", mtu: 1500 }]);
    expect(spec.commands).toEqual([
      "sysctl -qw net.ipv4.ip_forward=0",
      "ip addr add 10.0.0.10/24 brd 10.0.0.255 scope global dev eth0",
    ]);
  });

  it("never re-adds a local route the kernel creates itself", async () => {
    for (const snap of [await readSnapshotDir(EKS_FIXTURE), parseSnapshotFiles(buildDemoNode().files, "demo")]) {
      const cmds = specFromSnapshot(snap).commands;
      expect(cmds.filter((c) => /^ip route (add|append) local /.test(c))).toEqual([]);
    }
  });

  it("deletes the connected route the VPC CNI removes from main for a secondary ENI", async () => {
    const cmds = specFromSnapshot(await readSnapshotDir(EKS_FIXTURE)).commands;
    expect(cmds).toContain("ip route del unicast 10.0.1.0/24 dev eth1 table 254 proto 2 scope link src 10.0.1.20 metric 0");
    expect(cmds.filter((c) => c.startsWith("ip rule del"))).toEqual([]); // the defaults stay; the others go between them
  });

  it("takes the carrier of each link from LOWER_UP unless told otherwise", () => {
    const snap = parseSnapshotFiles(smallFiles({
      "ip-link.txt": smallFiles()["ip-link.txt"]!.replace("UP,LOWER_UP> mtu 1500", "UP> mtu 1500"),
    }), "small");
    expect(specFromSnapshot(snap).links).toEqual([{ name: "eth0", mtu: 1500, carrier: false }]);
    expect(specFromSnapshot(snap, { carrier: () => true }).links).toEqual([{ name: "eth0", mtu: 1500 }]);
  });

  it("maps a failing command back to its snapshot line", () => {
    const plan = planFromSnapshot(parseSnapshotFiles(smallFiles({
      "ip-route.txt": smallFiles()["ip-route.txt"] + "10.5.0.0/16 via 10.0.0.1 dev eth0 proto nosuchproto \n",
    }), "small"));
    const cmd = plan.spec.commands.find((c) => c.includes("10.5.0.0/16"))!;
    const e = explainFailure(new Error(`node command failed: ${cmd}\nError: argument "nosuchproto" is wrong`), plan, "small");
    expect(e.message).toContain("(reproducing small: ip-route.txt:7: 10.5.0.0/16 via 10.0.0.1 dev eth0 proto nosuchproto)");
  });

  const refuses = (what: string, edit: Partial<Record<string, string>>, where: RegExp, why: RegExp) => {
    it(`refuses ${what}, naming the line`, () => {
      const snap = parseSnapshotFiles(smallFiles(edit), "small");
      let err: unknown;
      try {
        specFromSnapshot(snap);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SnapshotLoadError);
      expect((err as Error).message).toMatch(where);
      expect((err as Error).message).toMatch(why);
    });
  };
  refuses("an enslaved device", {
    "ip-link.txt": smallFiles()["ip-link.txt"] + "3: veth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master br0 state UP mode DEFAULT group default qlen 1000\\    link/ether 02:00:00:00:03:01 brd ff:ff:ff:ff:ff:ff\n",
  }, /ip-link\.txt:3:/, /enslaved to br0/);
  refuses("an MTU a veth cannot have", {
    "ip-link.txt": smallFiles()["ip-link.txt"]!.replace("mtu 1500", "mtu 70000"),
  }, /ip-link\.txt:2:/, /MTU 70000/);
  refuses("a down lo", {
    "ip-link.txt": smallFiles()["ip-link.txt"]!.replace("LOOPBACK,UP,LOWER_UP", "LOOPBACK"),
  }, /ip-link\.txt:1:/, /lo is down/);
  refuses("a NAT route", {
    "ip-route.txt": smallFiles()["ip-route.txt"] + "nat 10.9.0.0/16 via 10.0.0.1 table 5 \n",
  }, /ip-route\.txt:7:/, /no longer accepts/);
  refuses("a dead nexthop (not from a missing carrier)", {
    "ip-route.txt": smallFiles()["ip-route.txt"] + "10.9.0.0/16 via 10.0.0.1 dev eth0 dead \n",
  }, /ip-route\.txt:7:/, /dead nexthop/);
  refuses("two identical routes", {
    "ip-route.txt": smallFiles()["ip-route.txt"] + "10.9.0.0/16 dev eth0 scope link \n10.9.0.0/16 dev eth0 scope link \n",
  }, /ip-route\.txt:8:/, /same route as line 7/);
  refuses("a secondary address without a primary", {
    "ip-addr.txt": smallFiles()["ip-addr.txt"] + A(2, "eth0", "10.1.0.11/24 scope global secondary eth0") + "\n",
  }, /ip-addr\.txt:3:/, /marked secondary/);
  refuses("a primary that the kernel would make secondary", {
    "ip-addr.txt": smallFiles()["ip-addr.txt"] + A(2, "eth0", "10.0.0.11/24 scope global eth0") + "\n",
  }, /ip-addr\.txt:3:/, /would make it secondary/);
  refuses("kernel local routes in an order the loader cannot give them", {
    "ip-link.txt": smallFiles()["ip-link.txt"] + L(3, "eth1", "BROADCAST,MULTICAST,UP,LOWER_UP", 1500, "UP") + "\n",
    "ip-addr.txt": smallFiles()["ip-addr.txt"] + A(3, "eth1", "10.0.0.10/32 scope global eth1") + "\n",
    "ip-route.txt": smallFiles()["ip-route.txt"]!.replace(
      "local 10.0.0.10 dev eth0", "local 10.0.0.10 dev eth1 table local proto kernel scope host src 10.0.0.10 \nlocal 10.0.0.10 dev eth0"),
  }, /ip-route\.txt:2:/, /fib_has_custom_local_routes/);
});

// ---------------------------------------------------------------------------
// through the kernel

describeKernel("snapshot round trip through the kernel", () => {
  it("test/fixtures/eks-node", async () => {
    const snap = await readSnapshotDir(EKS_FIXTURE);
    const { skipped } = await roundTrip(snap, "eks-node");
    expect(skipped).toEqual(["ip-addr.txt:3: 10.0.0.10/24 has a finite lifetime; added as permanent"]);
  });

  it("the built-in demo node (buildDemoNode)", async () => {
    const snap = parseSnapshotFiles(buildDemoNode().files, "demo");
    const { spec, skipped } = await roundTrip(snap, "demo");
    const dynamic = snap.addrs.filter((a) => /valid_lft [0-9]+sec/.test(a.src.text));
    expect(dynamic.length).toBeGreaterThan(0);
    expect(skipped).toEqual(dynamic.map((a) => `ip-addr.txt:${a.src.line}: ${formatIPv4(a.local)}/${a.plen} has a finite lifetime; added as permanent`));
    expect(spec.links.map((l) => l.name)).toEqual(snap.links.filter((l) => l.name !== "lo").map((l) => l.name));
  });

  it("a node whose local rule moved off priority 0 and whose lo lost 127.0.0.1/8", async () => {
    const files = smallFiles({
      "ip-addr.txt": [A(1, "lo", "10.255.0.1/32 scope host lo"), A(2, "eth0", "10.0.0.10/24 brd 10.0.0.255 scope global eth0")].join("\n") + "\n",
      "ip-route.txt": smallFiles()["ip-route.txt"]!.split("\n").filter((l) => !l.includes("dev lo")).join("\n") +
        "local 10.255.0.1 dev lo table local proto kernel scope host src 10.255.0.1 \n",
      "ip-rule.txt": "1000:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n",
    });
    const snap = parseSnapshotFiles(files, "small");
    const { spec, skipped } = await roundTrip(snap, "local-rule-moved");
    expect(skipped).toEqual([]);
    expect(spec.commands.filter((c) => !c.startsWith("sysctl"))).toEqual([
      "ip addr del 127.0.0.1/8 dev lo",
      "ip addr add 10.255.0.1/32 scope host dev lo",
      "ip addr add 10.0.0.10/24 brd 10.0.0.255 scope global dev eth0",
      "ip rule del pref 0",
      "ip rule add pref 1000 lookup 255",
    ]);
  });

  it("a hand-written node: route types, TOS, MTU, tables, every rule selector, goto", async () => {
    const snap = parseSnapshotFiles(handWrittenFiles(), "hand-written");
    const { spec, skipped } = await roundTrip(snap, "hand-written");
    expect(skipped).toEqual(["sysctl.txt: net.ipv4.conf.eth9.*: device eth9 is not in ip-link.txt"]);
    expect(spec.links).toEqual([
      { name: "eth0", mtu: 9001 }, { name: "eth1", mtu: 1500 }, { name: "eth0.100", mtu: 1500 },
      { name: "eth2", mtu: 1500, up: false }, { name: "eth3", mtu: 1500, carrier: false },
    ]);
    // the only local route added from user space is the one the snapshot's kernel did not create either
    expect(spec.commands.filter((c) => /^ip route (add|append) local /.test(c)))
      .toEqual(["ip route add local 10.99.0.0/16 dev lo table 255 proto 3 scope host metric 0"]);
  });
});
