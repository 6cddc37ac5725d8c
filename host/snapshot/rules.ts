/**
 * Parser for `ip rule show` (IPv4 policy routing rules), e.g.
 *   100:	not from 10.5.0.0/16 tos 0x10 fwmark 0x1 iif eth0 oif eth1 ipproto tcp sport 1000-2000 dport 80 lookup 5 suppress_prefixlength 0
 * Selectors and options are read as keyword/value pairs in any order; the
 * keywords iproute2 can print but the model does not cover are rejected with
 * an error naming them.
 */

import type { Rule, RuleAction } from "../model/node.js";
import { maskOf, parseCidr } from "../util/ipv4.js";
import { InputError } from "./errors.js";
import { decimal, number32, splitLines, tokenize, tosOf } from "./routes.js";
import { resolveTable } from "./rttables.js";

/** IP protocol names as /etc/protocols spells them (what iproute2 prints). */
const IPPROTO: ReadonlyMap<string, number> = new Map([
  ["ip", 0], ["hopopt", 0], ["icmp", 1], ["igmp", 2], ["ipip", 4], ["ipencap", 4], ["tcp", 6],
  ["egp", 8], ["udp", 17], ["dccp", 33], ["ipv6", 41], ["rsvp", 46], ["gre", 47], ["esp", 50],
  ["ah", 51], ["ipv6-icmp", 58], ["ospf", 89], ["pim", 103], ["vrrp", 112], ["l2tp", 115],
  ["sctp", 132], ["udplite", 136], ["mpls-in-ip", 137],
]);

/** Keywords iproute2 may print that the model does not cover. */
const UNSUPPORTED: ReadonlyMap<string, string> = new Map([
  ["l3mdev", "l3mdev (VRF) rules are not supported yet"],
  ["[l3mdev-table]", "l3mdev (VRF) rules are not supported yet"],
  ["tun_id", "tunnel-id rules are not supported yet"],
  ["dscp", "dscp selectors are not supported yet"],
  ["flowlabel", "flowlabel selectors are not supported yet"],
  ["realms", "rule realms are not supported yet"],
  ["map-to", "NAT rules (map-to) are not supported yet"],
  ["nat", "NAT rules are not supported yet"],
  ["unicast", "rule action \"unicast\" is not supported yet"],
  ["action", "this rule action is not supported yet"],
  ["type", "this rule action is not supported yet"],
]);

/**
 * Parses `ip rule show`. Rule.index is the position in the file; the file's
 * priorities must be in ascending order, as `ip rule show` prints them.
 */
export function parseRules(
  text: string,
  file = "ip-rule.txt",
  tableNames: ReadonlyMap<string, number> = new Map(),
): Rule[] {
  const rules: Rule[] = [];
  const lines = splitLines(text);
  let prevPref = -1;
  let prevLine = 0;

  for (let li = 0; li < lines.length; li++) {
    const line = lines[li]!;
    const lineNo = li + 1;
    const { toks, cols } = tokenize(line);
    if (toks.length === 0 || toks[0]!.startsWith("#")) continue;

    let i = 0;
    const fail = (problem: string, at = i): InputError =>
      new InputError(file, lineNo, at < toks.length ? toks[at]! : "", problem, line,
        at < toks.length ? cols[at] : undefined);
    /** The value after keyword toks[i] (advances i). */
    const value = (): string => {
      if (i + 1 >= toks.length) throw fail(`"${toks[i]}" expects a value`);
      return toks[++i]!;
    };

    const head = toks[0]!;
    const pref = head.endsWith(":") ? decimal(head.slice(0, -1)) : -1;
    if (pref < 0) throw fail("expected the rule priority followed by ':' (as `ip rule show` prints it)", 0);
    if (pref < prevPref) {
      throw new InputError(file, lineNo, String(pref),
        `rule priorities must be in ascending order, as \`ip rule show\` prints them ` +
        `(line ${prevLine} has priority ${prevPref})`, line, cols[0]);
    }
    prevPref = pref;
    prevLine = lineNo;

    let invert = false;
    let from: { addr: number; plen: number } | undefined;
    let to: { addr: number; plen: number } | undefined;
    let tos = 0;
    let fwmark = 0;
    let fwmask = 0;
    let iif: string | undefined;
    let oif: string | undefined;
    let ipproto = 0;
    let sport: [number, number] | undefined;
    let dport: [number, number] | undefined;
    let uidrange: [number, number] | undefined;
    let action: RuleAction | undefined;
    let table: number | undefined;
    let gotoPref: number | undefined;
    let suppressPrefixlen = -1;
    let suppressIfgroup = -1;
    let proto: string | undefined;

    const prefixValue = (): { addr: number; plen: number } | undefined => {
      const v = value();
      if (v === "all") return undefined;
      const c = parseCidr(v);
      if (c === undefined) throw fail("not an IPv4 address or prefix");
      // The kernel compares (addr ^ rule.addr) & mask: host bits do not matter.
      return { addr: (c.addr & maskOf(c.plen)) >>> 0, plen: c.plen };
    };
    const setAction = (a: RuleAction): void => {
      if (action !== undefined) throw fail("a rule has only one action");
      action = a;
    };

    for (i = 1; i < toks.length; i++) {
      const k = toks[i]!;
      switch (k) {
        case "not":
          invert = true;
          break;
        case "from":
          from = prefixValue();
          break;
        case "to":
          to = prefixValue();
          break;
        case "tos":
        case "dsfield":
          tos = tosOf(value());
          if (tos < 0) throw fail("not a TOS value (hex like 0x10, decimal, or lowdelay/throughput/reliability/mincost)");
          break;
        case "fwmark": {
          const v = value();
          const slash = v.indexOf("/");
          fwmark = number32(slash < 0 ? v : v.slice(0, slash));
          fwmask = slash < 0 ? 0xffffffff : number32(v.slice(slash + 1));
          if (fwmark < 0 || fwmask < 0) throw fail("not a firewall mark (VALUE or VALUE/MASK, hex or decimal)");
          break;
        }
        case "iif":
        case "oif": {
          const v = value();
          if (k === "iif") iif = v;
          else oif = v;
          if (toks[i + 1] === "[detached]") i++;
          break;
        }
        case "ipproto": {
          const v = value();
          const n = decimal(v);
          const p = n >= 0 ? n : IPPROTO.get(v.toLowerCase());
          if (p === undefined || p > 255) throw fail("not an IP protocol (a number 0..255 or a name like tcp, udp, icmp)");
          ipproto = p;
          break;
        }
        case "sport":
        case "dport": {
          const r = range(value(), 65535);
          if (r === undefined) throw fail("not a port or port range (N or N-M, 0..65535)");
          if (k === "sport") sport = r;
          else dport = r;
          break;
        }
        case "uidrange": {
          const r = range(value(), 0xffffffff);
          if (r === undefined) throw fail("not a uid range (N-M)");
          uidrange = r;
          break;
        }
        case "lookup":
        case "table": {
          const v = value();
          const msg = UNSUPPORTED.get(v);
          if (msg !== undefined) throw fail(msg);
          setAction("lookup");
          table = resolveTable(v, tableNames, file, lineNo, line, cols[i]);
          break;
        }
        case "goto": {
          const v = value();
          const n = decimal(v);
          if (n < 0) throw fail("not a rule priority to go to");
          setAction("goto");
          gotoPref = n;
          // "[unresolved]": no rule has that priority (the kernel then skips this rule).
          if (toks[i + 1] === "[unresolved]") i++;
          break;
        }
        case "nop":
        case "blackhole":
        case "unreachable":
        case "prohibit":
          setAction(k);
          break;
        case "suppress_prefixlength": {
          const v = value();
          const n = v === "-1" ? -1 : decimal(v);
          if (n < 0 && v !== "-1") throw fail("not a prefix length");
          suppressPrefixlen = n;
          break;
        }
        case "suppress_ifgroup": {
          const v = value();
          const n = v === "default" ? 0 : v === "-1" ? -1 : decimal(v);
          if (v !== "-1" && n < 0) {
            throw fail("not a device group number; group names other than \"default\" (from /etc/iproute2/group) are not supported yet");
          }
          suppressIfgroup = n;
          break;
        }
        case "proto":
        case "protocol":
          proto = value();
          break;
        default: {
          const msg = UNSUPPORTED.get(k);
          if (msg !== undefined) throw fail(msg);
          throw fail(`unknown keyword in a rule (not something nodeplane knows \`ip rule show\` to print)`);
        }
      }
    }

    if (action === undefined) {
      throw new InputError(file, lineNo, "", "rule without an action (lookup, goto, nop, blackhole, unreachable or prohibit)", line);
    }

    rules.push({
      pref, invert, from, to, tos, fwmark, fwmask, iif, oif, ipproto, sport, dport, uidrange,
      action, table, gotoPref, suppressPrefixlen, suppressIfgroup, proto,
      index: rules.length,
      src: { file, line: lineNo, text: line },
    });
  }
  return rules;
}

/** "N" (= N-N) or "N-M" with N <= M <= max. */
function range(v: string, max: number): [number, number] | undefined {
  const dash = v.indexOf("-");
  const a = decimal(dash < 0 ? v : v.slice(0, dash));
  const b = dash < 0 ? a : decimal(v.slice(dash + 1));
  if (a < 0 || b < 0 || a > max || b > max || a > b) return undefined;
  return [a, b];
}
