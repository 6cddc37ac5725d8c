/**
 * Parser for `ip -o addr show` (IPv4 addresses; IPv6 ones are recognised and
 * skipped).
 *   2: eth0    inet 10.0.0.10/24 brd 10.0.0.255 scope global dynamic eth0\       valid_lft 3200sec preferred_lft 3200sec
 *   7: ppp0    inet 10.64.64.64 peer 10.112.112.112/32 scope global ppp0\       valid_lft forever preferred_lft forever
 */

import type { IfAddr } from "../model/node.js";
import { parseCidr, parseIPv4 } from "../util/ipv4.js";
import { onelineRecords } from "./links.js";
import { decimal, scopeOf } from "./routes.js";

/** Address flags iproute2 prints as bare words. */
const ADDR_FLAGS: ReadonlySet<string> = new Set([
  "secondary", "temporary", "dynamic", "noprefixroute", "deprecated", "tentative",
  "permanent", "mngtmpaddr", "home", "nodad", "optimistic", "dadfailed",
  "stable-privacy", "autojoin",
]);

/**
 * Parses `ip -o addr show`. IPv4 addresses become IfAddr objects; IPv6
 * addresses are counted in one summary notice pushed to `notices`.
 */
export function parseAddrs(text: string, file = "ip-addr.txt", notices: string[] = []): IfAddr[] {
  const addrs: IfAddr[] = [];
  let ipv6 = 0;

  for (const { line, lineNo, toks, ifindex, fail } of onelineRecords(text, file, "addr", "DEVICE inet ...")) {
    if (toks.length < 4) throw fail("expected \"IFINDEX: DEVICE inet ADDRESS ...\"", toks.length);
    const t1 = toks[1]!;
    const atSign = t1.indexOf("@");
    const dev = atSign > 0 ? t1.slice(0, atSign) : t1;
    const family = toks[2]!;
    if (family === "inet6") {
      ipv6++;
      continue;
    }
    if (family !== "inet") {
      throw fail("expected \"inet\" or \"inet6\" (use `ip -o addr show`)", 2);
    }

    // The label is the last token before the "\" that starts the lifetimes.
    let end = toks.indexOf("\\");
    if (end < 0) end = toks.length;
    if (end < 5) throw fail("expected \"... scope SCOPE ... LABEL\\\" after the address", Math.min(end, toks.length - 1));
    const label = toks[end - 1]!;

    const a = toks[3]!;
    const hasLen = a.indexOf("/") >= 0;
    const c = parseCidr(a);
    if (c === undefined) throw fail("not an IPv4 address (A.B.C.D/N)", 3);

    let plen = c.plen;
    let broadcast = 0;
    let peer = 0;
    let scope = 0;
    let secondary = false;
    let noprefixroute = false;

    for (let i = 4; i < end - 1; i++) {
      const k = toks[i]!;
      if (ADDR_FLAGS.has(k)) {
        if (k === "secondary") secondary = true;
        else if (k === "noprefixroute") noprefixroute = true;
        continue;
      }
      if (k !== "peer" && k !== "brd" && k !== "scope" && k !== "metric" && k !== "proto") {
        throw fail("unknown keyword in an address (not something nodeplane knows `ip -o addr show` to print)", i);
      }
      if (i + 1 >= end - 1) throw fail(`"${k}" expects a value`, i);
      const v = toks[++i]!;
      switch (k) {
        case "peer": {
          // "inet LOCAL peer PEER/N": the prefix length belongs to the peer.
          const p = parseCidr(v);
          if (p === undefined) throw fail("not an IPv4 peer address", i);
          peer = p.addr;
          if (!hasLen) plen = p.plen;
          break;
        }
        case "brd": {
          const b = parseIPv4(v);
          if (b === undefined) throw fail("not an IPv4 broadcast address", i);
          broadcast = b;
          break;
        }
        case "scope":
          scope = scopeOf(v);
          if (scope < 0) throw fail("not a scope (host, link, global, site, nowhere or 0..255)", i);
          break;
        case "metric":
          if (decimal(v) < 0) throw fail("not a metric", i);
          break;
        default:
          break; // proto: not modelled
      }
    }

    // the lifetimes after the backslash (print_lifetime: "forever" or Nsec), not modelled: checked, not skipped
    for (let i = end + 1; i < toks.length; i += 2) {
      const k = toks[i]!;
      if (k !== "valid_lft" && k !== "preferred_lft") throw fail("expected \"valid_lft\" or \"preferred_lft\" (the address's lifetimes)", i);
      const v = toks[i + 1];
      if (v === undefined || !(v === "forever" || /^\d+sec$/.test(v))) throw fail(`"${k}" expects "forever" or a number of seconds (Nsec)`, v === undefined ? i : i + 1);
    }

    addrs.push({
      ifindex, dev, local: c.addr, plen, broadcast, peer, scope, secondary, noprefixroute, label,
      src: { file, line: lineNo, text: line },
    });
  }

  if (ipv6 > 0) {
    notices.push(`${file}: ${ipv6} IPv6 address${ipv6 === 1 ? "" : "es"} skipped (IPv4 dataplane)`);
  }
  return addrs;
}
