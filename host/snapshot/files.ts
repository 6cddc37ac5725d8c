/**
 * Reading a snapshot directory (what scripts/nodeplane-snapshot.sh writes on
 * a real node) into a NodeSnapshot.
 */

import type { NodeSnapshot } from "../model/node.js";
import { parseAddrs } from "./addrs.js";
import { InputError } from "./errors.js";
import { parseLinks } from "./links.js";
import { parseRoutes } from "./routes.js";
import { defaultTableNames, parseRtTables } from "./rttables.js";
import { parseRules } from "./rules.js";
import { parseSockets } from "./sockets.js";
import { parseSysctl } from "./sysctl.js";

/** Files a snapshot directory must hold, and the command that prints each. */
export const REQUIRED_FILES: Readonly<Record<string, string>> = {
  "ip-link.txt": "ip -o link show",
  "ip-addr.txt": "ip -o addr show",
  "ip-route.txt": "ip route show table all",
  "ip-rule.txt": "ip rule show",
  "sysctl.txt": "sysctl net.ipv4.ip_forward net.ipv4.conf ...",
};

/** Files a snapshot directory may hold. */
export const OPTIONAL_FILES: Readonly<Record<string, string>> = {
  "ss.txt": "ss -Htlnu",
  "iptables-save.txt": "iptables-save -c",
  "ipset.txt": "ipset save",
  "rt_tables.txt": "cat /etc/iproute2/rt_tables",
  "meta.txt": "kernel release, CONFIG_HZ, ... (key=value, informational)",
};

/**
 * Parses the files of a snapshot directory (keyed by file name). `origin`
 * names the snapshot in the result (and in the error for a missing file).
 */
export function parseSnapshotFiles(files: Record<string, string>, origin: string): NodeSnapshot {
  for (const name of Object.keys(REQUIRED_FILES)) {
    if (typeof files[name] !== "string") {
      throw new InputError(name, 0, "",
        `missing from the snapshot ${origin}: it holds the output of \`${REQUIRED_FILES[name]}\` ` +
        "(scripts/nodeplane-snapshot.sh writes all the files on a node)");
    }
  }
  const notices: string[] = [];

  const tableNames = defaultTableNames();
  const rt = files["rt_tables.txt"];
  if (rt !== undefined) {
    for (const [k, v] of parseRtTables(rt, "rt_tables.txt")) tableNames.set(k, v);
  }

  const links = parseLinks(files["ip-link.txt"]!, "ip-link.txt", notices);
  const addrs = parseAddrs(files["ip-addr.txt"]!, "ip-addr.txt", notices);
  const routes = parseRoutes(files["ip-route.txt"]!, "ip-route.txt", tableNames, notices);
  const rules = parseRules(files["ip-rule.txt"]!, "ip-rule.txt", tableNames);
  const sysctl = parseSysctl(files["sysctl.txt"]!, "sysctl.txt", notices);
  const ss = files["ss.txt"];
  const sockets = ss !== undefined ? parseSockets(ss, "ss.txt", notices) : undefined;
  const iptablesSave = files["iptables-save.txt"];
  const ipsets = files["ipset.txt"];

  // Cross-checks: addresses and routes name devices of ip-link.txt. (Rules
  // may name absent devices: the kernel shows them as "[detached]".)
  const linkByName = new Map<string, number>();
  for (const l of links) linkByName.set(l.name, l.ifindex);
  for (const a of addrs) {
    const idx = linkByName.get(a.dev);
    if (idx === undefined) {
      throw new InputError(a.src.file, a.src.line, a.dev, "device is not in ip-link.txt", a.src.text,
        columnOf(a.src.text, a.dev));
    }
    if (idx !== a.ifindex) {
      throw new InputError(a.src.file, a.src.line, a.dev,
        `ifindex ${a.ifindex} does not match ip-link.txt (where ${a.dev} has ifindex ${idx})`, a.src.text, 1);
    }
  }
  for (const r of routes) {
    if (r.dev !== undefined && !linkByName.has(r.dev)) {
      throw new InputError(r.src.file, r.src.line, r.dev, "device is not in ip-link.txt", r.src.text,
        columnOf(r.src.text, r.dev, " dev "));
    }
  }

  // the kernel puts a local route in table local for every address it has (fib_add_ifaddr): without
  // any, ip-route.txt is likely `ip route` rather than `ip route show table all`
  if (addrs.length > 0 && !routes.some((r) => r.table === 255)) {
    notices.push("ip-route.txt has no route of table local (255): it looks like `ip route` rather than `ip route show table all`, " +
      "so no address of ip-addr.txt is the node's own (packets to them are routed as to any other host)");
  }
  const snap: NodeSnapshot = { origin, links, addrs, routes, rules, sysctl, notices };
  const hz = metaHz(files["meta.txt"]);
  if (hz !== undefined) snap.hz = hz;
  if (sockets !== undefined) snap.sockets = sockets;
  if (iptablesSave !== undefined) snap.iptablesSave = iptablesSave;
  if (ipsets !== undefined) snap.ipsets = ipsets;
  return snap;
}

/**
 * CONFIG_HZ from meta.txt ("CONFIG_HZ=250" or "CONFIG_HZ: 250"); the rate
 * limiters count in jiffies. Absent or unreadable: undefined (the engine
 * assumes 250, the common distribution kernel value).
 */
function metaHz(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^CONFIG_HZ\s*[=:]\s*([0-9]+)\s*$/m.exec(text);
  if (!m) return undefined;
  const hz = Number(m[1]);
  return [100, 250, 300, 1000].includes(hz) ? hz : undefined;
}

/** 1-based column of `token` in `text` (after `before` if given), or undefined. */
function columnOf(text: string, token: string, before = ""): number | undefined {
  const i = text.indexOf(before + token);
  return i < 0 ? undefined : i + before.length + 1;
}

