/**
 * Parser for `ip route show table all` (the IPv4 part; IPv6 routes are
 * recognised and skipped), plus scanning helpers the other snapshot parsers
 * share. Written for speed: a node can have a million routes, so route lines
 * are scanned in place by character code, with no regular expressions and no
 * string per token (keywords and addresses are matched where they stand;
 * only device and protocol names are cut out, and reused while they repeat).
 */

import type { Route, RouteType, SourceRef } from "../model/node.js";
import { maskOf } from "../util/ipv4.js";
import { InputError } from "./errors.js";
import { resolveTable } from "./rttables.js";

/* ------------------------------------------------------------------------ */
/* Shared scanning helpers (also used by the other snapshot parsers).       */
/* ------------------------------------------------------------------------ */

/** Whitespace-separated tokens of a line and their 1-based columns. */
export interface Tokens {
  toks: string[];
  cols: number[];
}

/** Splits a line on blanks (spaces and tabs), remembering where tokens start. */
export function tokenize(line: string): Tokens {
  const toks: string[] = [];
  const cols: number[] = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
    if (i >= n) break;
    const b = i;
    while (i < n && line.charCodeAt(i) !== 32 && line.charCodeAt(i) !== 9) i++;
    toks.push(line.slice(b, i));
    cols.push(b + 1);
  }
  return { toks, cols };
}

/** The lines of a text without their line ends ("\n" or "\r\n"). */
export function splitLines(text: string): string[] {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.length > 0 && l.charCodeAt(l.length - 1) === 13) lines[i] = l.slice(0, -1);
  }
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Dotted quad in s[b, e), or -1. */
export function ipv4At(s: string, b: number, e: number): number {
  let v = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = b; i < e; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      v = v * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return (v * 256 + octet) >>> 0;
}

/** Unsigned decimal (at most 0xffffffff), or -1. */
export function decimal(s: string): number {
  const n = s.length;
  if (n === 0 || n > 10) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v <= 0xffffffff ? v : -1;
}

/** Unsigned decimal or 0x-hex (at most 0xffffffff), or -1. */
export function number32(s: string): number {
  if (s.length > 2 && s.charCodeAt(0) === 48 && (s.charCodeAt(1) | 32) === 120) {
    if (s.length > 10) return -1;
    let v = 0;
    for (let i = 2; i < s.length; i++) {
      const c = s.charCodeAt(i) | 32;
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else return -1;
      v = v * 16 + d;
    }
    return v;
  }
  return decimal(s);
}

/** RT_SCOPE_* for a scope as iproute2 prints it (name or number), or -1. */
export function scopeOf(s: string): number {
  switch (s) {
    case "global":
    case "universe":
      return 0;
    case "site":
      return 200;
    case "link":
      return 253;
    case "host":
      return 254;
    case "nowhere":
      return 255;
  }
  const v = decimal(s);
  return v >= 0 && v <= 255 ? v : -1;
}

/**
 * TOS / dsfield values by name: the old TOS names and the names of the
 * rt_dsfield file iproute2 ships (iproute2 prints 0x28 as "AF11" when that
 * file is installed, as on Debian).
 */
const TOS_NAMES: ReadonlyMap<string, number> = new Map([
  ["lowdelay", 0x10], ["throughput", 0x08], ["reliability", 0x04], ["mincost", 0x02],
  ["default", 0x00],
  ["af11", 0x28], ["af12", 0x30], ["af13", 0x38],
  ["af21", 0x48], ["af22", 0x50], ["af23", 0x58],
  ["af31", 0x68], ["af32", 0x70], ["af33", 0x78],
  ["af41", 0x88], ["af42", 0x90], ["af43", 0x98],
  ["cs1", 0x20], ["cs2", 0x40], ["cs3", 0x60], ["cs4", 0x80],
  ["cs5", 0xa0], ["cs6", 0xc0], ["cs7", 0xe0],
  ["ef", 0xb8],
]);

/** A tos/dsfield value (hex, decimal or a known name), or -1. */
export function tosOf(s: string): number {
  const v = number32(s);
  if (v >= 0) return v <= 255 ? v : -1;
  const n = TOS_NAMES.get(s.toLowerCase());
  return n !== undefined ? n : -1;
}

/* ------------------------------------------------------------------------ */
/* Routes                                                                   */
/* ------------------------------------------------------------------------ */


/** Nexthop/route flags iproute2 prints as bare words. */
const ROUTE_FLAGS: ReadonlySet<string> = new Set([
  "dead", "onlink", "pervasive", "offload", "trap", "notify", "linkdown",
  "unresolved", "rt_offload", "rt_trap", "rt_offload_failed",
]);

/** Route metrics (RTAX_*) and realms: accepted, not modelled. */
const IGNORED_METRICS: ReadonlySet<string> = new Set([
  "advmss", "rtt", "rttvar", "reordering", "window", "cwnd", "initcwnd",
  "initrwnd", "ssthresh", "hoplimit", "rto_min", "quickack", "congctl",
  "features", "fastopen_no_cookie", "realms", "realm",
]);

function routeTypeOf(s: string): RouteType | undefined {
  switch (s) {
    case "unicast":
    case "local":
    case "broadcast":
    case "anycast":
    case "multicast":
    case "blackhole":
    case "unreachable":
    case "prohibit":
    case "throw":
    case "nat":
    case "xresolve":
      return s;
  }
  return undefined;
}

/** Types whose routes always have a nexthop device. */
function needsDev(t: RouteType): boolean {
  return t === "unicast" || t === "local" || t === "broadcast" || t === "anycast" || t === "multicast";
}

/** True for "... pref medium|high|low ..." (only IPv6 routes have a router preference). */
function hasIPv6Pref(line: string): boolean {
  let i = line.indexOf(" pref ");
  while (i >= 0) {
    const b = i + 6;
    let e = b;
    while (e < line.length && line.charCodeAt(e) !== 32 && line.charCodeAt(e) !== 9) e++;
    const w = line.slice(b, e);
    if (w === "medium" || w === "high" || w === "low") return true;
    i = line.indexOf(" pref ", b);
  }
  return false;
}

const MULTIPATH = "multipath routes (nexthop) are not supported yet";
const CACHE = "route cache entries are not part of `ip route show table all` output";

// Keyword codes.
const K_OTHER = 0;
const K_VIA = 1;
const K_DEV = 2;
const K_SRC = 3;
const K_TOS = 4;
const K_MTU = 5;
const K_PREF = 6;
const K_TABLE = 7;
const K_PROTO = 8;
const K_SCOPE = 9;
const K_CACHE = 10;
const K_METRIC = 11;
const K_EXPIRES = 12;
const K_NEXTHOP = 13;

/**
 * A word of up to 7 printable ASCII characters (33..126) as one number: the
 * character codes as digits base 128, exact in a double and different for
 * different words. Scanner.next() computes it for every token on the way
 * (-1 for anything else), so keywords are recognised without comparing text.
 */
function wordCode(w: string): number {
  let v = 0;
  for (let i = 0; i < w.length; i++) v = v * 128 + w.charCodeAt(i);
  return v;
}

const W_VIA = wordCode("via");
const W_DEV = wordCode("dev");
const W_SRC = wordCode("src");
const W_TOS = wordCode("tos");
const W_MTU = wordCode("mtu");
const W_PREF = wordCode("pref");
const W_TABLE = wordCode("table");
const W_PROTO = wordCode("proto");
const W_SCOPE = wordCode("scope");
const W_CACHE = wordCode("cache");
const W_METRIC = wordCode("metric");
const W_EXPIRES = wordCode("expires");
const W_DSFIELD = wordCode("dsfield");
const W_NEXTHOP = wordCode("nexthop");

/**
 * Tokens of one line of a larger text, by position: no string is made for a
 * token unless the caller asks (keywords are matched in place).
 */
class Scanner {
  /** Line bounds in `s`. */
  b = 0;
  e = 0;
  /** Current position. */
  i = 0;
  /** Last token bounds. */
  tb = 0;
  te = 0;
  /** Word code of the last token (see wordCode), -1 if it has none. */
  w = -1;
  constructor(readonly s: string) {}

  line(b: number, e: number): void {
    this.b = b;
    this.e = e;
    this.i = b;
    this.tb = b;
    this.te = b;
  }

  /** Moves to the next token; false at the end of the line. */
  next(): boolean {
    const s = this.s;
    const e = this.e;
    let i = this.i;
    while (i < e) {
      const c = s.charCodeAt(i);
      if (c !== 32 && c !== 9) break;
      i++;
    }
    if (i >= e) {
      this.i = this.tb = this.te = e;
      this.w = -1;
      return false;
    }
    const b = i;
    // The word code of the token (see wordCode) is computed on the way.
    let w = 0;
    let bad = 0;
    while (i < e) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 9) break;
      w = w * 128 + c;
      bad |= (c - 33) | (126 - c); // negative unless printable ASCII
      i++;
    }
    this.tb = b;
    this.te = this.i = i;
    this.w = i - b <= 7 && bad >= 0 ? w : -1;
    return true;
  }

  str(): string {
    return this.s.slice(this.tb, this.te);
  }

  is(w: string): boolean {
    return this.te - this.tb === w.length && same(this.s, this.tb, w);
  }

  column(): number {
    return this.tb - this.b + 1;
  }

  keyword(): number {
    const w = this.w;
    if (w === W_DEV) return K_DEV;
    if (w === W_VIA) return K_VIA;
    if (w === W_PROTO) return K_PROTO;
    if (w === W_METRIC) return K_METRIC;
    if (w === W_SCOPE) return K_SCOPE;
    if (w === W_SRC) return K_SRC;
    if (w === W_TABLE) return K_TABLE;
    if (w === W_TOS || w === W_DSFIELD) return K_TOS;
    if (w === W_MTU) return K_MTU;
    if (w === W_PREF) return K_PREF;
    if (w === W_EXPIRES) return K_EXPIRES;
    if (w === W_NEXTHOP) return K_NEXTHOP;
    if (w === W_CACHE) return K_CACHE;
    return K_OTHER;
  }

  /** Thrown for the current token (or `token` if given). */
  fail(file: string, line: number, problem: string, token?: string): InputError {
    return new InputError(file, line, token ?? this.str(), problem, this.s.slice(this.b, this.e), this.column());
  }
}

/** Does s hold w at b? (The caller has checked that it fits.) */
function same(s: string, b: number, w: string): boolean {
  for (let k = 0; k < w.length; k++) {
    if (s.charCodeAt(b + k) !== w.charCodeAt(k)) return false;
  }
  return true;
}

/** Shared by every route without nexthop flags (never mutated). */
const NO_FLAGS: string[] = Object.freeze([]) as unknown as string[];

/**
 * A route as parsed, with its source reference made on demand: a table of a
 * million routes then costs one object per route (no per-route line string
 * or SourceRef until someone asks for it: errors and explanations).
 */
class ParsedRoute implements Route {
  constructor(
    public table: number, public type: RouteType, public prefix: number, public plen: number, public tos: number,
    public metric: number, public prefsrc: number, public gw: number, public dev: string | undefined,
    public proto: string, public scope: number, public nhflags: string[], public mtu: number, public index: number,
    private readonly file: string, private readonly line: number, private readonly doc: string,
    private readonly b: number, private readonly e: number,
  ) {}

  get src(): SourceRef {
    return { file: this.file, line: this.line, text: this.doc.slice(this.b, this.e) };
  }

  /** Plain data, as the model interface describes it (for JSON and deep equality). */
  toJSON(): Route {
    const { table, type, prefix, plen, tos, metric, prefsrc, gw, dev, proto, scope, nhflags, mtu, index } = this;
    return { table, type, prefix, plen, tos, metric, prefsrc, gw, dev, proto, scope, nhflags: [...nhflags], mtu, index, src: this.src };
  }
}

/** Raised inside a line that turns out to be an IPv6 route: skip it. */
class SkipIPv6 {}
const SKIP_IPV6 = new SkipIPv6();

/**
 * Parses `ip route show table all`. IPv4 routes become Route objects (index =
 * position among the IPv4 routes); IPv6 routes (a destination or gateway
 * with ':', or a "pref medium|high|low") are skipped with one summary notice,
 * together with their multipath "nexthop" lines. Route metrics that are not
 * modelled produce one notice per metric name.
 */
export function parseRoutes(
  text: string,
  file = "ip-route.txt",
  tableNames: ReadonlyMap<string, number> = new Map(),
  notices: string[] = [],
): Route[] {
  const routes: Route[] = [];
  const sc = new Scanner(text);
  let ipv6 = 0;
  let lastSkipped = false; // the previous route line was IPv6 (skip its nexthop lines)
  const ignored = new Map<string, number>(); // metric name -> first line
  const pending: string[] = []; // metric names seen on the current line
  let lastDev = "";
  let lastProto = "";
  let lineNo = 0;
  let pos = 0;
  const len = text.length;

  while (pos < len || (pos === len && len === 0)) {
    let nl = text.indexOf("\n", pos);
    if (nl < 0) nl = len;
    let end = nl;
    if (end > pos && text.charCodeAt(end - 1) === 13) end--;
    const lb = pos;
    pos = nl + 1;
    lineNo++;

    sc.line(lb, end);
    if (!sc.next() || text.charCodeAt(sc.tb) === 35 /* # */) continue;

    // Continuation lines (multipath nexthops) start with blanks.
    if (sc.tb !== lb) {
      if (sc.is("nexthop")) {
        if (lastSkipped) continue;
        throw sc.fail(file, lineNo, MULTIPATH);
      }
      if (sc.is("cache")) throw sc.fail(file, lineNo, CACHE);
      throw sc.fail(file, lineNo, "unexpected continuation line (not something `ip route show table all` prints for IPv4)");
    }

    try {
      let type: RouteType = "unicast";
      const c0 = text.charCodeAt(sc.tb);
      if (c0 < 48 || c0 > 57) {
        if (!sc.is("default")) {
          const t = routeTypeOf(sc.str());
          if (t === undefined) {
            if (sc.is("cache")) throw sc.fail(file, lineNo, CACHE);
            if (sc.str().indexOf(":") >= 0) throw SKIP_IPV6;
            throw sc.fail(file, lineNo, "not a route type or an IPv4 destination");
          }
          type = t;
          if (!sc.next()) throw sc.fail(file, lineNo, "route type without a destination");
        }
      }

      // Destination.
      let prefix = 0;
      let plen = 0;
      const destB = sc.tb;
      const destE = sc.te;
      if (!sc.is("default")) {
        const tb = sc.tb;
        const te = sc.te;
        let slash = te;
        for (let k = tb; k < te; k++) {
          const c = text.charCodeAt(k);
          if (c === 47) {
            slash = k;
            break;
          }
          if (c === 58) throw SKIP_IPV6;
        }
        const a = ipv4At(text, tb, slash);
        if (a < 0) throw sc.fail(file, lineNo, "not an IPv4 destination (expected default, A.B.C.D or A.B.C.D/N)");
        prefix = a;
        plen = 32;
        if (slash < te) {
          const p = te - slash - 1;
          const d1 = text.charCodeAt(slash + 1) - 48;
          const d2 = p === 2 ? text.charCodeAt(slash + 2) - 48 : 0;
          plen = p === 1 ? d1 : d1 * 10 + d2;
          if (p < 1 || p > 2 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || plen > 32) {
            if (sc.str().indexOf(":") >= 0) throw SKIP_IPV6;
            throw sc.fail(file, lineNo, "not an IPv4 destination (bad prefix length, expected 0..32)");
          }
        }
        if (((prefix & ~maskOf(plen)) >>> 0) !== 0) {
          throw sc.fail(file, lineNo, "host bits set below the prefix length (the kernel never prints such a route)");
        }
      }

      let table = 254;
      let tos = 0;
      let metric = 0;
      let prefsrc = 0;
      let gw = 0;
      let dev: string | undefined;
      let proto = "";
      let scope = 0;
      let mtu = 0;
      let nhflags: string[] | undefined;
      if (pending.length !== 0) pending.length = 0;

      while (sc.next()) {
        const k = sc.keyword();
        if (k === K_OTHER) {
          const w = sc.str();
          if (ROUTE_FLAGS.has(w)) {
            if (nhflags === undefined) nhflags = [w];
            else nhflags.push(w);
          } else if (IGNORED_METRICS.has(w)) {
            if (!sc.next()) throw sc.fail(file, lineNo, "expects a value", w);
            if (sc.is("lock") && !sc.next()) throw sc.fail(file, lineNo, "expects a value", w);
            pending.push(w === "realm" ? "realms" : w);
          } else {
            throw sc.fail(file, lineNo, `"${w}" in a route is not supported yet`);
          }
          continue;
        }
        if (k === K_NEXTHOP) throw sc.fail(file, lineNo, MULTIPATH);
        if (k === K_CACHE) throw sc.fail(file, lineNo, CACHE);
        const kw = sc.str();
        if (!sc.next()) {
          throw new InputError(file, lineNo, kw, "expects a value", text.slice(lb, end), sc.column() - kw.length);
        }
        switch (k) {
          case K_VIA: {
            if (sc.is("inet")) {
              if (!sc.next()) throw sc.fail(file, lineNo, "expects a gateway address", kw);
            } else if (sc.is("inet6")) {
              throw sc.fail(file, lineNo, "IPv4 routes via an IPv6 gateway are not supported yet");
            }
            const g = ipv4At(text, sc.tb, sc.te);
            if (g < 0) {
              const v = sc.str();
              if (v.indexOf(":") >= 0) throw SKIP_IPV6;
              throw sc.fail(file, lineNo, "not an IPv4 gateway address");
            }
            gw = g;
            break;
          }
          case K_DEV:
            if (sc.is(lastDev)) dev = lastDev;
            else dev = lastDev = sc.str();
            break;
          case K_TABLE:
            table = resolveTable(sc.str(), tableNames, file, lineNo, text.slice(lb, end), sc.column());
            break;
          case K_PROTO:
            if (sc.is(lastProto)) proto = lastProto;
            else proto = lastProto = sc.str();
            break;
          case K_SCOPE:
            scope = scopeOf(sc.str());
            if (scope < 0) throw sc.fail(file, lineNo, "not a scope (host, link, global, site, nowhere or 0..255)");
            break;
          case K_SRC: {
            const a = ipv4At(text, sc.tb, sc.te);
            if (a < 0) {
              if (sc.str().indexOf(":") >= 0) throw SKIP_IPV6;
              throw sc.fail(file, lineNo, "not an IPv4 source address");
            }
            prefsrc = a;
            break;
          }
          case K_METRIC:
            metric = decimal(sc.str());
            if (metric < 0) throw sc.fail(file, lineNo, "not a metric (0..4294967295)");
            break;
          case K_TOS:
            tos = tosOf(sc.str());
            if (tos < 0) throw sc.fail(file, lineNo, "not a TOS value (hex like 0x10, decimal, or an rt_dsfield name)");
            break;
          case K_MTU:
            if (sc.is("lock") && !sc.next()) throw sc.fail(file, lineNo, "expects a value", kw);
            mtu = decimal(sc.str());
            if (mtu < 0) throw sc.fail(file, lineNo, "not an MTU");
            break;
          case K_EXPIRES:
            break;
          case K_PREF:
            if (sc.is("medium") || sc.is("high") || sc.is("low")) throw SKIP_IPV6;
            throw sc.fail(file, lineNo, `"pref" in an IPv4 route is not supported`, kw);
        }
      }

      if (dev === undefined && needsDev(type)) {
        // A multipath route: the header line has no device, the nexthops follow.
        let i = pos;
        while (i < len && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
        if (i > pos && text.startsWith("nexthop", i)) {
          let e = text.indexOf("\n", pos);
          if (e < 0) e = len;
          if (e > pos && text.charCodeAt(e - 1) === 13) e--;
          throw new InputError(file, lineNo + 1, "nexthop", MULTIPATH, text.slice(pos, e), i - pos + 1);
        }
        const t0 = text.slice(lb, end);
        throw new InputError(file, lineNo, text.slice(destB, destE), `${type} route without a device ("dev")`, t0, destB - lb + 1);
      }

      for (let k = 0; k < pending.length; k++) {
        if (!ignored.has(pending[k]!)) ignored.set(pending[k]!, lineNo);
      }
      lastSkipped = false;
      routes.push(new ParsedRoute(table, type, prefix, plen, tos, metric, prefsrc, gw, dev, proto, scope,
        nhflags ?? NO_FLAGS, mtu, routes.length, file, lineNo, text, lb, end));
    } catch (err) {
      if (err === SKIP_IPV6 || (err instanceof InputError && hasIPv6Pref(text.slice(lb, end)))) {
        ipv6++;
        lastSkipped = true;
        continue;
      }
      throw err;
    }
  }

  if (ipv6 > 0) {
    notices.push(`${file}: ${ipv6} IPv6 route${ipv6 === 1 ? "" : "s"} skipped (IPv4 dataplane)`);
  }
  for (const [name, at] of ignored) {
    notices.push(`${file}: route metric "${name}" is not modelled (first at line ${at})`);
  }
  return routes;
}
