/**
 * Loading a node with a very large routing table from snapshot text, the way
 * a user does (`nodeplane replay --snapshot DIR`): parse ip-route.txt, build
 * the tables in the core. Reports each stage.
 */
import { Engine } from "../host/engine.js";
import { parseSnapshotFiles } from "../host/snapshot/read.js";
import { internetLikePrefixes } from "./prefixes.js";
import { mdTable } from "./util.js";

/** Snapshot files for a node whose main table holds `n` BGP-like routes (in `ip route show` order). */
export function bigTableFiles(n: number): Record<string, string> {
  const prefixes = internetLikePrefixes(n);
  const lines: string[] = ["default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.10 metric 1024 "];
  for (const p of prefixes) {
    const a = `${p.addr >>> 24}.${(p.addr >>> 16) & 255}.${(p.addr >>> 8) & 255}.${p.addr & 255}`;
    lines.push(`${p.plen === 32 ? a : `${a}/${p.plen}`} via 10.0.0.1 dev eth0 proto bird metric 20 `);
  }
  lines.push("10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.10 ");
  lines.push("local 10.0.0.10 dev eth0 table local proto kernel scope host src 10.0.0.10 ");
  lines.push("local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 ");
  return {
    "ip-link.txt": "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n" +
      "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether 02:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff\n",
    "ip-addr.txt": "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n2: eth0    inet 10.0.0.10/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever preferred_lft forever\n",
    "ip-route.txt": lines.join("\n") + "\n",
    "ip-rule.txt": "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n",
    "sysctl.txt": "net.ipv4.ip_forward = 1\n",
  };
}

export interface LoadTiming { n: number; parseMs: number; loadMs: number; totalMs: number; mib: number }

export async function timeLoad(n: number, files = bigTableFiles(n)): Promise<LoadTiming> {
  const engine = await Engine.create();
  const t0 = performance.now();
  const snap = parseSnapshotFiles(files, "bench");
  const t1 = performance.now();
  const node = engine.load(snap);
  const t2 = performance.now();
  return { n, parseMs: t1 - t0, loadMs: t2 - t1, totalMs: t2 - t0, mib: node.fibBytes / 1048576 };
}

export async function benchLoad(sizes = [100000, 1000000], reps = 3): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const n of sizes) {
    const files = bigTableFiles(n);
    const runs: LoadTiming[] = [];
    for (let r = 0; r < reps; r++) runs.push(await timeLoad(n, files));
    runs.sort((a, b) => a.totalMs - b.totalMs);
    const med = runs[Math.floor(runs.length / 2)];
    rows.push([n.toLocaleString("en-US"), `${med.parseMs.toFixed(0)} ms`, `${med.loadMs.toFixed(0)} ms`, `${med.totalMs.toFixed(0)} ms`, `${runs[0].totalMs.toFixed(0)} ms`, `${med.mib.toFixed(1)} MiB`]);
  }
  return mdTable(["routes", "parse (median)", "build in core (median)", "total (median)", "total (best)", "FIB memory"], rows);
}
