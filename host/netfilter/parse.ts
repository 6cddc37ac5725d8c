/**
 * Parser for `iptables-save [-c]` output (iptables 1.8.x, legacy and nft
 * backends) into the IptRuleset model (host/model/iptables.ts).
 *
 * What it accepts is what iptables-save prints, plus the restore-input forms
 * a person or kube-proxy writes (implicit `-p tcp --dport` matches, MARK
 * mnemonics, ICMP type names, ...), each stored in the encoding the kernel
 * keeps, so a rule parsed from restore input and the same rule parsed from
 * the kernel's dump give the same model (the tests check this against the
 * kernel).
 *
 * Checks are the ones iptables and the kernel make: a table given twice, a
 * missing COMMIT, undeclared chains, jumps to built-in chains, loops among
 * the chains a hook reaches, targets and matches outside their table or
 * hooks (the kernel's per-rule hook mask: the built-in chains from which the
 * rule is reached, along jumps and gotos and up to a chain's first
 * unconditional verdict), required options and their combinations, the
 * protocol a match or a port needs, -j DROP in nat. Every error is an
 * InputError naming the file, the line, the token and its column. A few
 * inputs iptables-restore takes but iptables-save never prints are refused
 * too (an unterminated quote, an over-long comment or log prefix that
 * restore would truncate, masks CONNMARK --set-mark would ignore); a DROP
 * policy in nat is accepted, as iptables-restore and the kernel accept it.
 *
 * Written for speed (a 10,000-service kube-proxy dump is ~100,000 rules):
 * lines are split into words by character code into reused arrays, and most
 * words never become strings: option, match, target and chain names are
 * looked up where they stand (WordTable), addresses and ports are read in
 * place, options dispatch on integer codes, and no regular expression runs.
 * Rules are built with one object shape and exact-size arrays, to keep the
 * garbage collector's share down.
 */

import type {
  IptAddr, IptChain, IptCounters, IptIface, IptMatch, IptRange, IptRule, IptRuleset, IptTable,
  IptTableName, IptTarget,
} from "../model/iptables.js";
import type { SourceRef } from "../model/node.js";
import { InputError } from "../snapshot/errors.js";

/* ------------------------------------------------------------------------ */
/* Tables, hooks and names                                                  */
/* ------------------------------------------------------------------------ */

/** NF_INET_* hook numbers as bits. */
const H_PRE = 1 << 0;
const H_IN = 1 << 1;
const H_FWD = 1 << 2;
const H_OUT = 1 << 3;
const H_POST = 1 << 4;
const HOOK_NAMES = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/** Built-in chains per table, in the order iptables-save prints them, with their hook bit. */
const BUILTINS: Readonly<Record<IptTableName, ReadonlyArray<readonly [string, number]>>> = {
  raw: [["PREROUTING", H_PRE], ["OUTPUT", H_OUT]],
  mangle: [["PREROUTING", H_PRE], ["INPUT", H_IN], ["FORWARD", H_FWD], ["OUTPUT", H_OUT], ["POSTROUTING", H_POST]],
  nat: [["PREROUTING", H_PRE], ["INPUT", H_IN], ["OUTPUT", H_OUT], ["POSTROUTING", H_POST]],
  filter: [["INPUT", H_IN], ["FORWARD", H_FWD], ["OUTPUT", H_OUT]],
};

/** Every name iptables treats as a built-in chain of some table. */
const BUILTIN_NAMES = new Set(["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]);

/** Longest chain name iptables accepts (XT_EXTENSION_MAXNAMELEN - 1). */
const MAX_CHAIN_NAME = 28;

/**
 * Targets iptables knows but nodeplane does not model: a -j to one of these
 * is "not supported"; a -j to any other undeclared name is a jump to an
 * undeclared chain.
 */
const OTHER_TARGETS = new Set([
  "QUEUE", "NFQUEUE", "AUDIT", "CHECKSUM", "CLUSTERIP", "CONNSECMARK", "ECN",
  "HMARK", "IDLETIMER", "LED", "RATEEST", "SECMARK", "SET", "SYNPROXY",
  "TCPOPTSTRIP", "TEE", "TPROXY", "ULOG", "MIRROR", "SAME", "STANDARD", "ERROR",
]);

/** Standard verdict names (cannot be chain names). */
const STANDARD_TARGETS = new Set(["ACCEPT", "DROP", "RETURN", "QUEUE"]);

/** Protocol names as iptables resolves them (-p is lower-cased first): /etc/protocols names plus xtables' own list. */
export const PROTO_NAMES: ReadonlyMap<string, number> = new Map([
  ["all", 0], ["ip", 0], ["hopopt", 0], ["icmp", 1], ["igmp", 2], ["ggp", 3], ["ipencap", 4], ["st", 5],
  ["tcp", 6], ["egp", 8], ["igp", 9], ["pup", 12], ["udp", 17], ["hmp", 20], ["xns-idp", 22], ["rdp", 27],
  ["iso-tp4", 29], ["dccp", 33], ["xtp", 36], ["ddp", 37], ["idpr-cmtp", 38], ["ipv6", 41],
  ["ipv6-route", 43], ["ipv6-frag", 44], ["idrp", 45], ["rsvp", 46], ["gre", 47], ["esp", 50], ["ah", 51],
  ["skip", 57], ["ipv6-icmp", 58], ["icmpv6", 58], ["ipv6-nonxt", 59], ["ipv6-opts", 60], ["rspf", 73],
  ["vmtp", 81], ["eigrp", 88], ["ospf", 89], ["ax.25", 93], ["ipip", 94], ["etherip", 97], ["encap", 98],
  ["pim", 103], ["ipcomp", 108], ["vrrp", 112], ["l2tp", 115], ["isis", 124], ["sctp", 132], ["fc", 133],
  ["mobility-header", 135], ["mh", 135], ["udplite", 136], ["mpls-in-ip", 137], ["manet", 138],
  ["hip", 139], ["shim6", 140], ["wesp", 141], ["rohc", 142], ["ethernet", 143],
]);

const P_ICMP = 1;
const P_TCP = 6;
const P_UDP = 17;
const P_DCCP = 33;
const P_SCTP = 132;
const P_UDPLITE = 136;

/**
 * Protocols with which NAT targets may give ports (iptables' NAT, MASQUERADE
 * and REDIRECT extensions: TCP, UDP, SCTP, DCCP and ICMP, whose id is the
 * "port"; an inverted -p passes the check too, as in iptables).
 */
function natPortProto(p: { num: number } | undefined): boolean {
  if (!p) return false;
  const n = p.num;
  return n === P_TCP || n === P_UDP || n === P_SCTP || n === P_DCCP || n === P_ICMP;
}

/** TCP flag names of --tcp-flags. */
const TCP_FLAGS: ReadonlyMap<string, number> = new Map([
  ["FIN", 0x01], ["SYN", 0x02], ["RST", 0x04], ["PSH", 0x08], ["ACK", 0x10], ["URG", 0x20],
  ["ALL", 0x3f], ["NONE", 0],
]);

/** ICMP type names of libxt_icmp: [name, type, codeMin, codeMax]. */
const ICMP_TYPES: ReadonlyArray<readonly [string, number, number, number]> = [
  ["any", 0xff, 0, 0xff],
  ["echo-reply", 0, 0, 0xff], ["pong", 0, 0, 0xff],
  ["destination-unreachable", 3, 0, 0xff],
  ["network-unreachable", 3, 0, 0], ["host-unreachable", 3, 1, 1], ["protocol-unreachable", 3, 2, 2],
  ["port-unreachable", 3, 3, 3], ["fragmentation-needed", 3, 4, 4], ["source-route-failed", 3, 5, 5],
  ["network-unknown", 3, 6, 6], ["host-unknown", 3, 7, 7], ["network-prohibited", 3, 9, 9],
  ["host-prohibited", 3, 10, 10], ["TOS-network-unreachable", 3, 11, 11], ["TOS-host-unreachable", 3, 12, 12],
  ["communication-prohibited", 3, 13, 13], ["host-precedence-violation", 3, 14, 14],
  ["precedence-cutoff", 3, 15, 15],
  ["source-quench", 4, 0, 0xff],
  ["redirect", 5, 0, 0xff], ["network-redirect", 5, 0, 0], ["host-redirect", 5, 1, 1],
  ["TOS-network-redirect", 5, 2, 2], ["TOS-host-redirect", 5, 3, 3],
  ["echo-request", 8, 0, 0xff], ["ping", 8, 0, 0xff],
  ["router-advertisement", 9, 0, 0xff], ["router-solicitation", 10, 0, 0xff],
  ["time-exceeded", 11, 0, 0xff], ["ttl-exceeded", 11, 0, 0xff],
  ["ttl-zero-during-transit", 11, 0, 0], ["ttl-zero-during-reassembly", 11, 1, 1],
  ["parameter-problem", 12, 0, 0xff], ["ip-header-bad", 12, 0, 0], ["required-option-missing", 12, 1, 1],
  ["timestamp-request", 13, 0, 0xff], ["timestamp-reply", 14, 0, 0xff],
  ["address-mask-request", 17, 0, 0xff], ["address-mask-reply", 18, 0, 0xff],
];

/** Route types of -m addrtype (RTN_* numbers; the mask bit is 1 << n). */
const RTN_TYPES: ReadonlyMap<string, number> = new Map([
  ["UNSPEC", 0], ["UNICAST", 1], ["LOCAL", 2], ["BROADCAST", 3], ["ANYCAST", 4], ["MULTICAST", 5],
  ["BLACKHOLE", 6], ["UNREACHABLE", 7], ["PROHIBIT", 8], ["THROW", 9], ["NAT", 10], ["XRESOLVE", 11],
]);

/**
 * XT_CONNTRACK_STATE bits (conntrack --ctstate and state --state), in the
 * order iptables tries them: like iptables, a word may be any prefix of a
 * name (case-insensitive) and the first name it starts gets it ("est" is
 * ESTABLISHED).
 */
const CT_STATES: ReadonlyMap<string, number> = new Map([
  ["INVALID", 1], ["NEW", 8], ["ESTABLISHED", 2], ["RELATED", 4], ["UNTRACKED", 256], ["SNAT", 64], ["DNAT", 128],
]);
/** -m state knows no SNAT/DNAT. */
const STATE_STATES: ReadonlyMap<string, number> = new Map([
  ["INVALID", 1], ["NEW", 8], ["ESTABLISHED", 2], ["RELATED", 4], ["UNTRACKED", 256],
]);
/** IPS_* bits of --ctstatus (prefixes as for states). */
const CT_STATUS: ReadonlyMap<string, number> = new Map([
  ["NONE", 0], ["EXPECTED", 1], ["SEEN_REPLY", 2], ["ASSURED", 4], ["CONFIRMED", 8],
]);

/** REJECT --reject-with: accepted spellings → the name iptables-save prints. */
const REJECT_WITH: ReadonlyMap<string, string> = new Map([
  ["icmp-net-unreachable", "icmp-net-unreachable"], ["net-unreach", "icmp-net-unreachable"],
  ["icmp-host-unreachable", "icmp-host-unreachable"], ["host-unreach", "icmp-host-unreachable"],
  ["icmp-port-unreachable", "icmp-port-unreachable"], ["port-unreach", "icmp-port-unreachable"],
  ["icmp-proto-unreachable", "icmp-proto-unreachable"], ["proto-unreach", "icmp-proto-unreachable"],
  ["icmp-net-prohibited", "icmp-net-prohibited"], ["net-prohib", "icmp-net-prohibited"],
  ["icmp-host-prohibited", "icmp-host-prohibited"], ["host-prohib", "icmp-host-prohibited"],
  ["icmp-admin-prohibited", "icmp-admin-prohibited"], ["admin-prohib", "icmp-admin-prohibited"],
  ["tcp-reset", "tcp-reset"], ["tcp-rst", "tcp-reset"],
]);

/** LOG --log-level names (syslog levels). */
const LOG_LEVELS: ReadonlyMap<string, number> = new Map([
  ["emerg", 0], ["panic", 0], ["alert", 1], ["crit", 2], ["error", 3], ["warning", 4], ["notice", 5], ["info", 6], ["debug", 7],
]);

/** xt_limit's scale: avg = XT_LIMIT_SCALE * seconds-per-unit / rate. */
const XT_LIMIT_SCALE = 10000;

/* ------------------------------------------------------------------------ */
/* Number and address scanning                                              */
/* ------------------------------------------------------------------------ */

/** strtoul(s, 0)-style unsigned number (decimal, 0x hex, 0 octal) up to 0xffffffff, or -1. */
export function uint0(s: string): number {
  return uintAt(s, 0, s.length);
}

/** uint0 of s[b, e). */
function uintAt(s: string, b: number, e: number): number {
  const n = e - b;
  if (n <= 0) return -1;
  const c0 = s.charCodeAt(b);
  if (c0 === 48 && n > 1) {
    const c1 = s.charCodeAt(b + 1) | 32;
    let v = 0;
    if (c1 === 120) {
      if (n === 2 || n > 10) return -1;
      for (let i = b + 2; i < e; i++) {
        const c = s.charCodeAt(i) | 32;
        let d: number;
        if (c >= 48 && c <= 57) d = c - 48;
        else if (c >= 97 && c <= 102) d = c - 87;
        else return -1;
        v = v * 16 + d;
      }
      return v;
    }
    for (let i = b + 1; i < e; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 7) return -1;
      v = v * 8 + d;
      if (v > 0xffffffff) return -1;
    }
    return v;
  }
  if (n > 10) return -1;
  let v = 0;
  for (let i = b; i < e; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v <= 0xffffffff ? v : -1;
}

/** Plain unsigned decimal up to 0xffffffff, or -1. */
function decimal(s: string): number {
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

/** Dotted quad in s[b, e) (strict: four decimal octets), or -1. */
function quadAt(s: string, b: number, e: number): number {
  let v = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = b; i < e; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return -1; // leading zero (octal to inet_aton)
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

function maskBits(plen: number): number {
  return plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
}

/** Prefix length of a contiguous mask, or -1. */
function plenOfMask(m: number): number {
  const inv = (~m) >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1;
  return Math.clz32(inv);
}

/** Parses a BigInt counter from decimal digits in s[b, e), or undefined. */
function counterAt(s: string, b: number, e: number): bigint | undefined {
  if (e <= b) return undefined;
  if (e - b <= 15) {
    let v = 0;
    for (let i = b; i < e; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return undefined;
      v = v * 10 + d;
    }
    return v === 0 ? ZERO : BigInt(v);
  }
  for (let i = b; i < e; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
  }
  const v = BigInt(s.slice(b, e));
  return v <= MAX_U64 ? v : undefined;
}
const ZERO = 0n;
const MAX_U64 = 0xffffffffffffffffn;

/** "[p:b]" in s[b, e), or undefined. */
function bracketCountersAt(s: string, b: number, e: number): IptCounters | undefined {
  if (e - b < 5 || s.charCodeAt(b) !== 91 || s.charCodeAt(e - 1) !== 93) return undefined;
  const colon = s.indexOf(":", b);
  if (colon < 0 || colon >= e) return undefined;
  const packets = counterAt(s, b + 1, colon);
  const bytes = counterAt(s, colon + 1, e - 1);
  if (packets === undefined || bytes === undefined) return undefined;
  return { packets, bytes };
}

/** "[p:b]" of word k, or undefined. */
function wordCounters(k: number): IptCounters | undefined {
  at(k);
  return bracketCountersAt(SS, SB, SE);
}

/* ------------------------------------------------------------------------ */
/* Word splitting (iptables-restore's rules)                                 */
/* ------------------------------------------------------------------------ */

/**
 * Words of the current line (reused between lines): start offsets, 1-based
 * columns, end offsets, and the strings. A word's string is made only when
 * asked for (word(k)): option names, match and target names and chain names
 * are recognised where they stand in the line, and addresses and ports are
 * read there, so most words never become strings. Quoted words are unescaped
 * into their string at once (QUOTED[k]).
 */
let LINE = "";
let W: (string | undefined)[] = [];
let WB: number[] = [];
let WC: number[] = [];
let WE: number[] = [];
let QUOTED: boolean[] = [];
let WN = 0;

/** The string of word k. */
function word(k: number): string {
  let w = W[k];
  if (w === undefined) {
    w = LINE.slice(WB[k], WE[k]);
    W[k] = w;
  }
  return w;
}

/** Where word k's text is: SS[SB, SE) (the line, or the unescaped string of a quoted word). */
let SS = "";
let SB = 0;
let SE = 0;
function at(k: number): void {
  if (QUOTED[k]) {
    SS = W[k]!;
    SB = 0;
    SE = SS.length;
  } else {
    SS = LINE;
    SB = WB[k]!;
    SE = WE[k]!;
  }
}

/**
 * Splits line[from..] into words as iptables-restore does: blanks separate
 * words; a double-quoted part (backslash escapes any character inside it)
 * belongs to the word it starts in and a closing quote ends the word.
 * Returns the column of an unterminated quote, or 0.
 */
function splitWords(line: string, from: number): number {
  WN = 0;
  LINE = line;
  const n = line.length;
  // lines with tabs take the general path; others find word ends with the native indexOf
  if (line.indexOf("\t", from) >= 0) return splitWordsGeneral(line, from);
  let q = line.indexOf('"', from);
  let i = from;
  while (i < n) {
    if (line.charCodeAt(i) === 32) {
      i++;
      continue;
    }
    let e = line.indexOf(" ", i);
    if (e < 0) e = n;
    if (q >= 0 && q < e) {
      i = readWord(line, i, n);
      if (i < 0) return -i;
      q = line.indexOf('"', i);
      continue;
    }
    W[WN] = undefined;
    QUOTED[WN] = false;
    WB[WN] = i;
    WC[WN] = i + 1;
    WE[WN] = e;
    WN++;
    i = e;
  }
  return 0;
}

function splitWordsGeneral(line: string, from: number): number {
  const n = line.length;
  LINE = line;
  let i = from;
  for (;;) {
    let c = 0;
    while (i < n && ((c = line.charCodeAt(i)) === 32 || c === 9)) i++;
    if (i >= n) return 0;
    i = readWord(line, i, n);
    if (i < 0) return -i;
  }
}

/**
 * Reads the word starting at b (not a blank) into W/WC/WE; returns where it
 * ends, or minus the column of an unterminated quote.
 */
function readWord(line: string, b: number, n: number): number {
  let i = b;
  let c = 0;
  while (i < n && (c = line.charCodeAt(i)) !== 32 && c !== 9 && c !== 34) i++;
  let s = line.slice(b, i);
  while (i < n) {
    c = line.charCodeAt(i);
    if (c === 34) {
      // inside quotes up to the closing quote, which ends the word; backslash escapes any character
      const q = i;
      i++;
      let run = i;
      for (;;) {
        if (i >= n) return -(q + 1);
        c = line.charCodeAt(i);
        if (c === 34) break;
        if (c === 92 && i + 1 < n) {
          s += line.slice(run, i) + line[i + 1];
          i += 2;
          run = i;
          continue;
        }
        i++;
      }
      s += line.slice(run, i);
      i++;
      break;
    }
    if (c === 32 || c === 9) break;
    s += line[i];
    i++;
  }
  W[WN] = s;
  const q = line.indexOf('"', b);
  QUOTED[WN] = q >= 0 && q < i;
  WB[WN] = b;
  WC[WN] = b + 1;
  WE[WN] = i;
  WN++;
  return i;
}

/* ------------------------------------------------------------------------ */
/* Looking words up where they stand                                        */
/* ------------------------------------------------------------------------ */

/** Whether s has key at b (a loop: cheaper than a startsWith call for the short words here). */
function sameAt(s: string, b: number, key: string): boolean {
  const n = key.length;
  if (n > 24) return s.startsWith(key, b);
  for (let i = 0; i < n; i++) if (s.charCodeAt(b + i) !== key.charCodeAt(i)) return false;
  return true;
}

/** FNV-1a of s[b, e). */
function hashAt(s: string, b: number, e: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = b; i < e; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

interface WEntry<V> { key: string; hash: number; value: V; next: WEntry<V> | undefined }

/**
 * A string-keyed table that can be asked about a part of a string without
 * cutting it out (getAt): the key is found by a hash of the characters (in
 * an array of buckets, cheaper than a Map) and confirmed with startsWith.
 * Map lookups with freshly cut strings were a large part of the parse time.
 */
class WordTable<V> {
  private slots: (WEntry<V> | undefined)[] = new Array<WEntry<V> | undefined>(64).fill(undefined);
  private mask = 63;
  private count = 0;

  set(key: string, value: V): void {
    const h = hashAt(key, 0, key.length);
    for (let en = this.slots[h & this.mask]; en; en = en.next) {
      if (en.hash === h && en.key === key) {
        en.value = value;
        return;
      }
    }
    if (++this.count > this.slots.length >> 1) this.grow();
    const k = h & this.mask;
    this.slots[k] = { key, hash: h, value, next: this.slots[k] };
  }

  private grow(): void {
    const old = this.slots;
    const n = old.length * 4;
    this.slots = new Array<WEntry<V> | undefined>(n).fill(undefined);
    this.mask = n - 1;
    for (let en of old) {
      while (en) {
        const next = en.next;
        const k = en.hash & this.mask;
        en.next = this.slots[k];
        this.slots[k] = en;
        en = next;
      }
    }
  }

  get(key: string): V | undefined {
    return this.getAt(key, 0, key.length);
  }

  has(key: string): boolean {
    return this.getAt(key, 0, key.length) !== undefined;
  }

  getAt(s: string, b: number, e: number): V | undefined {
    const h = hashAt(s, b, e);
    const n = e - b;
    for (let en = this.slots[h & this.mask]; en; en = en.next) {
      if (en.hash === h && en.key.length === n && sameAt(s, b, en.key)) return en.value;
    }
    return undefined;
  }
}

/** Word k looked up in a table. */
function lookupWord<V>(t: WordTable<V>, k: number): V | undefined {
  return QUOTED[k] ? t.get(W[k]!) : t.getAt(LINE, WB[k]!, WE[k]!);
}

/** A table mapping each of the strings to itself (to get the constant string of a word without cutting it). */
function canonTable(names: Iterable<string>): WordTable<string> {
  const t = new WordTable<string>();
  for (const n of names) t.set(n, n);
  return t;
}

/* ------------------------------------------------------------------------ */
/* Parse state                                                              */
/* ------------------------------------------------------------------------ */

interface ChainState {
  chain: IptChain;
  /** Hook bits that reach the start of this chain. */
  hooks: number;
  /** Index (1-based) of the first unconditional ACCEPT/DROP/RETURN rule: the kernel's walk stops there. */
  cutoff: number;
  /** The user chains the reached rules jump or go to, and those rules (null: none). */
  edges: ChainState[] | null;
  edgeRules: IptRule[] | null;
  /** Hooks every reached rule's targets and matches allow (checked at COMMIT). */
  allowed: number;
  /** DFS state for loop detection: 0 new, 1 on the stack, 2 done. */
  mark: number;
}

const ALL_HOOKS = H_PRE | H_IN | H_FWD | H_OUT | H_POST;

interface TableState {
  table: IptTable;
  chains: WordTable<ChainState>;
  line: number;
  /** The chain of the previous rule, and its rules not yet moved into it. */
  last?: ChainState;
  pending: IptRule[];
}

function chainState(chain: IptChain, hooks: number): ChainState {
  return { chain, hooks, cutoff: Infinity, edges: null, edgeRules: null, allowed: ALL_HOOKS, mark: 0 };
}

/** Option descriptor of an extension: id, number of arguments, whether "!" may precede it, whether it may repeat. */
interface OptSpec { id: number; nargs: 0 | 1 | 2; inv: boolean; multi?: boolean }

function specs(list: ReadonlyArray<readonly [string[], number, 0 | 1 | 2, boolean, boolean?]>): ReadonlyMap<string, OptSpec> {
  const m = new Map<string, OptSpec>();
  for (const [names, id, nargs, inv, multi] of list) {
    for (const n of names) m.set(n, { id, nargs, inv, multi });
  }
  return m;
}

/**
 * One rule being parsed: the words of its line, the ip part so far, and the
 * loaded extensions (matches and target) in the order they were loaded.
 */
class RuleCtx {
  file = "";
  lineNo = 0;
  line = "";
  table: IptTableName = "filter";
  proto: { num: number; inv: boolean } | undefined;
  protoIdx = -1;
  exts: Ext[] = [];
  implicitTried = false;

  err(idx: number, problem: string): InputError {
    if (idx < 0 || idx >= WN) return new InputError(this.file, this.lineNo, "", problem, this.line);
    return new InputError(this.file, this.lineNo, word(idx), problem, this.line, WC[idx]);
  }

  /** Checks that the argument word at idx exists (an error naming the option otherwise). */
  need(idx: number, optIdx: number): void {
    if (idx >= WN) throw this.err(optIdx, `option ${word(optIdx)} needs a value`);
  }

  /** The argument word at idx (an option's value); an error naming the option if it is missing. */
  arg(idx: number, optIdx: number): string {
    if (idx >= WN) throw this.err(optIdx, `option ${word(optIdx)} needs a value`);
    return word(idx);
  }
}

/** A loaded match or target extension. */
abstract class Ext {
  // plain assignments in the constructor, not class-field initializers: those define properties
  // with [[Define]] semantics, which is slow on this polymorphic base (one map per subclass)
  /** Index of the word naming the extension (after -m or -j). */
  declare readonly nameIdx: number;
  declare readonly isTarget: boolean;
  /** Bits of option ids seen. */
  declare seen: number;
  /** Where the first and last option words of this extension lie (for LOG/NFLOG text). */
  declare optStart: number;
  declare optEnd: number;
  constructor(nameIdx: number, isTarget: boolean) {
    (this as { nameIdx: number }).nameIdx = nameIdx;
    (this as { isTarget: boolean }).isTarget = isTarget;
    this.seen = 0;
    this.optStart = -1;
    this.optEnd = -1;
  }
  abstract get opts(): ReadonlyMap<string, OptSpec>;
  /** Applies option word W[i] (spec id) with its arguments at i+1.. */
  abstract opt(p: RuleCtx, id: number, inv: boolean, i: number): void;
  /** Checks the combination and builds the model object. */
  abstract finish(p: RuleCtx): IptMatch | IptTarget;
}

/* ------------------------------------------------------------------------ */
/* Shared value parsers (they throw InputError naming the value word)        */
/* ------------------------------------------------------------------------ */

function portAt(p: RuleCtx, s: string, b: number, e: number, idx: number): number {
  const v = uintAt(s, b, e);
  if (v < 0 || v > 65535) throw p.err(idx, `invalid port "${s.slice(b, e)}" (a number 0..65535; service names are not resolved here)`);
  return v;
}

function parsePort(p: RuleCtx, s: string, idx: number): number {
  return portAt(p, s, 0, s.length, idx);
}

/** Word idx as a tcp/udp port range: "a", "a:b", "a:" (a..65535), ":b" (0..b). */
function parsePortRangeAt(p: RuleCtx, idx: number, inv: boolean): IptRange {
  at(idx);
  const s = SS;
  const b = SB;
  const e = SE;
  let colon = s.indexOf(":", b);
  if (colon >= e) colon = -1;
  if (colon < 0) {
    const v = portAt(p, s, b, e, idx);
    return { lo: v, hi: v, inv };
  }
  const lo = colon === b ? 0 : portAt(p, s, b, colon, idx);
  const hi = colon === e - 1 ? 65535 : portAt(p, s, colon + 1, e, idx);
  if (lo > hi) throw p.err(idx, `invalid port range "${word(idx)}" (min > max)`);
  return { lo, hi, inv };
}

/** "a[:b]" of unsigned numbers up to max (also "a:" and ":b"). */
function parseNumRange(p: RuleCtx, s: string, idx: number, inv: boolean, max: number, what: string, sep = ":"): IptRange {
  const one = (t: string): number => {
    const v = uint0(t);
    if (v < 0 || v > max) throw p.err(idx, `invalid ${what} "${s}" (numbers 0..${max})`);
    return v;
  };
  let k = s.indexOf(sep);
  if (k < 0 && sep !== ":") k = s.indexOf(":");
  if (k < 0) {
    const v = one(s);
    return { lo: v, hi: v, inv };
  }
  const lo = k === 0 ? 0 : one(s.slice(0, k));
  const hi = k === s.length - 1 ? max : one(s.slice(k + 1));
  return { lo, hi, inv };
}

/** Word idx as A[/M], M a prefix length or a contiguous dotted mask; host bits are masked off. */
function parseAddrAt(p: RuleCtx, idx: number, inv: boolean): IptAddr {
  at(idx);
  const s = SS;
  const b = SB;
  const e = SE;
  let slash = s.indexOf("/", b);
  if (slash >= e) slash = -1;
  const comma = s.indexOf(",", b);
  if (comma >= 0 && comma < e) {
    throw p.err(idx, `several addresses in one rule ("${word(idx)}") are not supported (iptables-save prints one address per rule)`);
  }
  const a = quadAt(s, b, slash < 0 ? e : slash);
  if (a < 0) throw p.err(idx, `invalid IPv4 address "${word(idx)}" (host names are not resolved here)`);
  let plen = 32;
  if (slash >= 0) {
    const dot = s.indexOf(".", slash);
    if (dot >= 0 && dot < e) {
      const m = quadAt(s, slash + 1, e);
      if (m < 0) throw p.err(idx, `invalid mask in "${word(idx)}"`);
      plen = plenOfMask(m);
      if (plen < 0) throw p.err(idx, `non-contiguous mask in "${word(idx)}" is not supported`);
    } else {
      const n = e - slash - 1;
      const v = n > 0 && n <= 2 && !(n === 2 && s.charCodeAt(slash + 1) === 48) ? uintAt(s, slash + 1, e) : -1;
      if (v < 0 || v > 32) throw p.err(idx, `invalid prefix length in "${word(idx)}"`);
      plen = v;
    }
  }
  return { addr: (a & maskBits(plen)) >>> 0, plen, inv };
}

/** A mark value "V[/M]" (strtoul base 0); mask defaults to 0xffffffff. */
function parseMarkMask(p: RuleCtx, s: string, idx: number): { value: number; mask: number } {
  const slash = s.indexOf("/");
  const v = uint0(slash < 0 ? s : s.slice(0, slash));
  const m = slash < 0 ? 0xffffffff : uint0(s.slice(slash + 1));
  if (v < 0 || m < 0) throw p.err(idx, `invalid mark "${s}" (value[/mask], 32-bit numbers)`);
  return { value: v, mask: m };
}

function parseU32(p: RuleCtx, s: string, idx: number, what: string, min = 0, max = 0xffffffff): number {
  const v = uint0(s);
  if (v < min || v > max) throw p.err(idx, `invalid ${what} "${s}" (a number ${min}..${max})`);
  return v;
}

/** Protocol names, looked up in place (iptables lower-cases -p first: other spellings take parseProto). */
const PROTO_TABLE = new WordTable<number>();
for (const [n, v] of PROTO_NAMES) PROTO_TABLE.set(n, v);

/** Word idx as a protocol (a name or a number 0..255). */
function protoAt(p: RuleCtx, idx: number): number {
  const v = lookupWord(PROTO_TABLE, idx);
  return v !== undefined ? v : parseProto(p, word(idx), idx);
}

function parseProto(p: RuleCtx, s: string, idx: number): number {
  const v = uint0(s);
  if (v >= 0) {
    if (v > 255) throw p.err(idx, `invalid protocol number "${s}" (0..255)`);
    return v;
  }
  const n = PROTO_NAMES.get(s.toLowerCase());
  if (n === undefined) throw p.err(idx, `unknown protocol "${s}"`);
  return n;
}

/**
 * Comma list of names from a table, ORed; names are case-insensitive. With
 * `prefixes`, a word may be a prefix of a name and takes the first name
 * (in table order) it starts, as iptables' conntrack and state matches do.
 */
function parseNameList(
  p: RuleCtx, s: string, idx: number, names: ReadonlyMap<string, number>, what: string, asBits: boolean, prefixes = false,
): number {
  let mask = 0;
  let b = 0;
  for (;;) {
    let e = s.indexOf(",", b);
    if (e < 0) e = s.length;
    const name = s.slice(b, e).toUpperCase();
    let v = names.get(name);
    if (v === undefined && prefixes && name.length > 0) {
      for (const [n, nv] of names) {
        if (n.startsWith(name)) {
          v = nv;
          break;
        }
      }
    }
    if (v === undefined) throw p.err(idx, `unknown ${what} "${s.slice(b, e)}" (one of ${[...names.keys()].join(", ")})`);
    mask |= asBits ? 1 << v : v;
    if (e === s.length) break;
    b = e + 1;
  }
  return mask >>> 0;
}

/* ------------------------------------------------------------------------ */
/* Matches                                                                  */
/* ------------------------------------------------------------------------ */

class CommentExt extends Ext {
  static readonly O = specs([[["--comment"], 0, 1, false]]);
  get opts() { return CommentExt.O; }
  comment: string | undefined;
  opt(p: RuleCtx, _id: number, _inv: boolean, i: number): void {
    const c = p.arg(i + 1, i);
    if (c.length > 255) throw p.err(i + 1, "comment longer than 255 characters");
    this.comment = c;
  }
  finish(p: RuleCtx): IptMatch {
    if (this.comment === undefined) throw p.err(this.nameIdx, "comment: --comment is required");
    return { kind: "comment", comment: this.comment };
  }
}

/** tcp and udp (the udp one knows only the port options). */
class TcpUdpExt extends Ext {
  static readonly OT = specs([
    [["--sport", "--source-port"], 0, 1, true], [["--dport", "--destination-port"], 1, 1, true],
    [["--tcp-flags"], 2, 2, true], [["--syn"], 3, 0, true], [["--tcp-option"], 4, 1, true],
  ]);
  static readonly OU = specs([
    [["--sport", "--source-port"], 0, 1, true], [["--dport", "--destination-port"], 1, 1, true],
  ]);
  constructor(nameIdx: number, readonly udp: boolean, readonly implicit: boolean) { super(nameIdx, false); }
  get opts() { return this.udp ? TcpUdpExt.OU : TcpUdpExt.OT; }
  sport?: IptRange;
  dport?: IptRange;
  flags?: { mask: number; cmp: number; inv: boolean };
  option?: { option: number; inv: boolean };
  /** find_syn_match (xt_TCPMSS.c): a tcp match comparing SYN as set, not inverted. */
  synFlagsMatch(): boolean {
    return !this.udp && this.flags !== undefined && (this.flags.cmp & 0x02) !== 0 && !this.flags.inv;
  }
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    switch (id) {
      case 0: this.sport = parsePortRangeAt(p, i + 1, inv); break;
      case 1: this.dport = parsePortRangeAt(p, i + 1, inv); break;
      case 2:
      case 3: {
        if (this.seen & (id === 2 ? 1 << 3 : 1 << 2)) throw p.err(i, "only one of --syn and --tcp-flags is allowed");
        if (id === 3) {
          this.flags = { mask: 0x17, cmp: 0x02, inv };
        } else {
          const m = p.arg(i + 1, i);
          const c = p.arg(i + 2, i);
          this.flags = {
            mask: parseNameList(p, m, i + 1, TCP_FLAGS, "TCP flag", false),
            cmp: parseNameList(p, c, i + 2, TCP_FLAGS, "TCP flag", false),
            inv,
          };
        }
        break;
      }
      case 4: this.option = { option: parseU32(p, p.arg(i + 1, i), i + 1, "TCP option", 1, 255), inv }; break;
    }
  }
  finish(p: RuleCtx): IptMatch {
    const want = this.udp ? P_UDP : P_TCP;
    if (!p.proto || p.proto.num !== want || p.proto.inv) {
      throw p.err(this.nameIdx, `match ${this.udp ? "udp" : "tcp"} needs -p ${this.udp ? "udp" : "tcp"} (not inverted)`);
    }
    if (this.udp) {
      const m: IptMatch = { kind: "udp" };
      if (this.sport) m.sport = this.sport;
      if (this.dport) m.dport = this.dport;
      return m;
    }
    const m: IptMatch = { kind: "tcp" };
    if (this.sport) m.sport = this.sport;
    if (this.dport) m.dport = this.dport;
    if (this.flags) m.flags = this.flags;
    if (this.option) m.option = this.option;
    return m;
  }
}

class IcmpExt extends Ext {
  static readonly O = specs([[["--icmp-type"], 0, 1, true]]);
  get opts() { return IcmpExt.O; }
  type = 0xff;
  codeMin = 0;
  codeMax = 0xff;
  inv = false;
  opt(p: RuleCtx, _id: number, inv: boolean, i: number): void {
    const s = p.arg(i + 1, i);
    this.inv = inv;
    const c0 = s.charCodeAt(0);
    if (c0 >= 48 && c0 <= 57) {
      const slash = s.indexOf("/");
      const t = uint0(slash < 0 ? s : s.slice(0, slash));
      if (t < 0 || t > 255) throw p.err(i + 1, `invalid ICMP type "${s}"`);
      this.type = t;
      if (slash < 0) {
        this.codeMin = 0;
        this.codeMax = 0xff;
      } else {
        const c = uint0(s.slice(slash + 1));
        if (c < 0 || c > 255) throw p.err(i + 1, `invalid ICMP code in "${s}"`);
        this.codeMin = this.codeMax = c;
      }
      return;
    }
    // names: an exact (case-insensitive) name, else a unique prefix, as libxt_icmp
    const low = s.toLowerCase();
    let hit: (typeof ICMP_TYPES)[number] | undefined;
    let hits = 0;
    for (const e of ICMP_TYPES) {
      const name = e[0].toLowerCase();
      if (name === low) {
        hit = e;
        hits = 1;
        break;
      }
      if (name.startsWith(low)) {
        hit = e;
        hits++;
      }
    }
    if (hits !== 1 || !hit) throw p.err(i + 1, hits > 1 ? `ambiguous ICMP type "${s}"` : `unknown ICMP type "${s}"`);
    this.type = hit[1];
    this.codeMin = hit[2];
    this.codeMax = hit[3];
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.seen) throw p.err(this.nameIdx, "icmp: --icmp-type is required");
    if (!p.proto || p.proto.num !== P_ICMP || p.proto.inv) throw p.err(this.nameIdx, "match icmp needs -p icmp (not inverted)");
    return { kind: "icmp", type: this.type, codeMin: this.codeMin, codeMax: this.codeMax, inv: this.inv };
  }
}

class MultiportExt extends Ext {
  static readonly O = specs([
    [["--sports", "--source-ports"], 0, 1, true], [["--dports", "--destination-ports"], 1, 1, true],
    [["--ports"], 2, 1, true],
  ]);
  get opts() { return MultiportExt.O; }
  mode: "src" | "dst" | "any" = "any";
  ports: [number, number][] = [];
  inv = false;
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    if (this.seen & 7) throw p.err(i, "multiport can only have one of --sports, --dports and --ports");
    this.mode = id === 0 ? "src" : id === 1 ? "dst" : "any";
    this.inv = inv;
    const s = p.arg(i + 1, i);
    let slots = 0;
    let b = 0;
    for (;;) {
      let e = s.indexOf(",", b);
      if (e < 0) e = s.length;
      const item = s.slice(b, e);
      const colon = item.indexOf(":");
      if (colon < 0) {
        const v = parsePort(p, item, i + 1);
        this.ports.push([v, v]);
        slots += 1;
      } else {
        const lo = parsePort(p, item.slice(0, colon), i + 1);
        const hi = parsePort(p, item.slice(colon + 1), i + 1);
        if (lo >= hi) throw p.err(i + 1, `invalid port range "${item}" in multiport (min must be below max)`);
        this.ports.push([lo, hi]);
        slots += 2;
      }
      if (slots > 15) throw p.err(i + 1, "too many ports for multiport (at most 15; a range takes two)");
      if (e === s.length) break;
      b = e + 1;
    }
  }
  finish(p: RuleCtx): IptMatch {
    if ((this.seen & 7) === 0) throw p.err(this.nameIdx, "multiport needs one of --sports, --dports, --ports");
    const pr = p.proto;
    if (!pr || pr.inv || !(pr.num === P_TCP || pr.num === P_UDP || pr.num === P_UDPLITE || pr.num === P_SCTP || pr.num === P_DCCP)) {
      throw p.err(this.nameIdx, "multiport needs -p tcp, udp, udplite, sctp or dccp (not inverted)");
    }
    return { kind: "multiport", mode: this.mode, ports: this.ports, inv: this.inv };
  }
}

/**
 * SCTP chunk names as libxt_sctp knows them, in its table order, with the
 * flag letters of each (bit 7 first; "-" is no flag, and is itself accepted
 * as bit 7). libxt_sctp files a chunk's flags under its index in this table
 * (save_chunk_flag_info), which is the chunk type for all but the last three.
 */
const SCTP_CHUNKS: ReadonlyArray<readonly [string, number, string]> = [
  ["DATA", 0, "----IUBE"], ["INIT", 1, "--------"], ["INIT_ACK", 2, "--------"], ["SACK", 3, "--------"],
  ["HEARTBEAT", 4, "--------"], ["HEARTBEAT_ACK", 5, "--------"], ["ABORT", 6, "-------T"], ["SHUTDOWN", 7, "--------"],
  ["SHUTDOWN_ACK", 8, "--------"], ["ERROR", 9, "--------"], ["COOKIE_ECHO", 10, "--------"], ["COOKIE_ACK", 11, "--------"],
  ["ECN_ECNE", 12, "--------"], ["ECN_CWR", 13, "--------"], ["SHUTDOWN_COMPLETE", 14, "-------T"], ["ASCONF", 193, "--------"],
  ["ASCONF_ACK", 128, "--------"], ["FORWARD_TSN", 192, "--------"],
];
const SCTP_MATCH_TYPES: ReadonlyMap<string, "any" | "all" | "only"> = new Map([["any", "any"], ["all", "all"], ["only", "only"]]);
/** DCCP packet types as libxt_dccp names them (bit i of --dccp-types is type i). */
const DCCP_TYPES = ["REQUEST", "RESPONSE", "DATA", "ACK", "DATAACK", "CLOSEREQ", "CLOSE", "RESET", "SYNC", "SYNCACK", "INVALID"];

/** -m sctp (libxt_sctp: --sport, --dport, --chunk-types {any|all|only} TYPE[:FLAGS],...|ALL|NONE). */
class SctpExt extends Ext {
  static readonly O = specs([
    [["--sport", "--source-port"], 0, 1, true], [["--dport", "--destination-port"], 1, 1, true],
    [["--chunk-types"], 2, 2, true],
  ]);
  get opts() { return SctpExt.O; }
  sport?: IptRange;
  dport?: IptRange;
  chunks?: { match: "any" | "all" | "only"; map: number[]; flags: { type: number; flag: number; mask: number }[]; inv: boolean };
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    switch (id) {
      case 0: this.sport = parsePortRangeAt(p, i + 1, inv); break;
      case 1: this.dport = parsePortRangeAt(p, i + 1, inv); break;
      case 2: {
        const mt = SCTP_MATCH_TYPES.get(p.arg(i + 1, i).toLowerCase());
        if (!mt) throw p.err(i + 1, `sctp: match type "${word(i + 1)}" has to be one of "all", "any" or "only"`);
        const list = p.arg(i + 2, i);
        const c0 = list.charCodeAt(0);
        if (c0 === 45 || c0 === 33) throw p.err(i + 2, "--chunk-types requires two args (a match type and the chunk types)");
        const map = [0, 0, 0, 0, 0, 0, 0, 0];
        const flags: { type: number; flag: number; mask: number }[] = [];
        const up = list.toUpperCase();
        if (up === "ALL") map.fill(0xffffffff);
        else if (up !== "NONE") {
          // parse_sctp_chunk: strtok(",") items NAME[:FLAGS]
          for (const item of list.split(",")) {
            if (item.length === 0) continue;
            const colon = item.indexOf(":");
            const name = (colon < 0 ? item : item.slice(0, colon)).toUpperCase();
            const k = SCTP_CHUNKS.findIndex((c) => c[0] === name);
            if (k < 0) throw p.err(i + 2, `unknown SCTP chunk type "${colon < 0 ? item : item.slice(0, colon)}" (one of ${SCTP_CHUNKS.map((c) => c[0]).join(", ")}, or ALL, NONE)`);
            const [, type, valid] = SCTP_CHUNKS[k]!;
            map[type >>> 5] = (map[type >>> 5]! | (1 << (type & 31))) >>> 0;
            if (colon < 0) continue;
            for (const ch of item.slice(colon + 1)) {
              const pos = valid.indexOf(ch.toUpperCase());
              if (pos < 0) throw p.err(i + 2, `invalid flag "${ch}" for SCTP chunk type ${name} (its flags: ${valid.replace(/-/g, "") || "none"})`);
              const bit = 1 << (7 - pos);
              // save_chunk_flag_info: one entry per chunk (its table index), at most XT_NUM_SCTP_FLAGS (4)
              let f = flags.find((x) => x.type === k);
              if (!f) {
                if (flags.length === 4) throw p.err(i + 2, "sctp: flags for more than 4 chunk types (XT_NUM_SCTP_FLAGS)");
                f = { type: k, flag: 0, mask: 0 };
                flags.push(f);
              }
              f.mask |= bit;
              if (ch !== ch.toLowerCase()) f.flag |= bit;
            }
          }
        }
        this.chunks = { match: mt, map, flags, inv };
        break;
      }
    }
  }
  finish(p: RuleCtx): IptMatch {
    if (!p.proto || p.proto.num !== P_SCTP || p.proto.inv) throw p.err(this.nameIdx, "match sctp needs -p sctp (not inverted)");
    const m: IptMatch = { kind: "sctp" };
    if (this.sport) m.sport = this.sport;
    if (this.dport) m.dport = this.dport;
    if (this.chunks) m.chunks = this.chunks;
    return m;
  }
}

/** "a", "a:b", "a:", ":b" as xtables' XTTYPE_PORTRC takes it (a range may be reversed: it never matches). */
function parsePortRangeRc(p: RuleCtx, idx: number, inv: boolean): IptRange {
  const s = word(idx);
  const colon = s.indexOf(":");
  if (colon < 0) {
    const v = parsePort(p, s, idx);
    return { lo: v, hi: v, inv };
  }
  const lo = colon === 0 ? 0 : parsePort(p, s.slice(0, colon), idx);
  const hi = colon === s.length - 1 ? 65535 : parsePort(p, s.slice(colon + 1), idx);
  return { lo, hi, inv };
}

/** -m dccp (libxt_dccp: --sport, --dport, --dccp-types, --dccp-option). */
class DccpExt extends Ext {
  static readonly O = specs([
    [["--sport", "--source-port"], 0, 1, true], [["--dport", "--destination-port"], 1, 1, true],
    [["--dccp-types"], 2, 1, true], [["--dccp-option"], 3, 1, true],
  ]);
  get opts() { return DccpExt.O; }
  sport?: IptRange;
  dport?: IptRange;
  types?: { mask: number; inv: boolean };
  option?: { option: number; inv: boolean };
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    switch (id) {
      case 0: this.sport = parsePortRangeRc(p, i + 1, inv); break;
      case 1: this.dport = parsePortRangeRc(p, i + 1, inv); break;
      case 2: {
        let mask = 0;
        for (const t of p.arg(i + 1, i).split(",")) {
          if (t.length === 0) continue;
          const k = DCCP_TYPES.indexOf(t.toUpperCase());
          if (k < 0) throw p.err(i + 1, `unknown DCCP type "${t}" (one of ${DCCP_TYPES.join(", ")})`);
          mask |= 1 << k;
        }
        this.types = { mask, inv };
        break;
      }
      case 3: this.option = { option: parseU32(p, word(i + 1), i + 1, "DCCP option", 1, 255), inv }; break;
    }
  }
  finish(p: RuleCtx): IptMatch {
    if (!p.proto || p.proto.num !== P_DCCP || p.proto.inv) throw p.err(this.nameIdx, "match dccp needs -p dccp (not inverted)");
    const m: IptMatch = { kind: "dccp" };
    if (this.sport) m.sport = this.sport;
    if (this.dport) m.dport = this.dport;
    if (this.types) m.types = this.types;
    if (this.option) m.option = this.option;
    return m;
  }
}

class AddrtypeExt extends Ext {
  static readonly O = specs([
    [["--src-type"], 0, 1, true], [["--dst-type"], 1, 1, true],
    [["--limit-iface-in"], 2, 0, false], [["--limit-iface-out"], 3, 0, false],
  ]);
  get opts() { return AddrtypeExt.O; }
  srcType?: { mask: number; inv: boolean };
  dstType?: { mask: number; inv: boolean };
  limitIn = false;
  limitOut = false;
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    switch (id) {
      case 0: this.srcType = { mask: parseNameList(p, p.arg(i + 1, i), i + 1, RTN_TYPES, "address type", true), inv }; break;
      case 1: this.dstType = { mask: parseNameList(p, p.arg(i + 1, i), i + 1, RTN_TYPES, "address type", true), inv }; break;
      case 2:
      case 3:
        if (this.seen & (id === 2 ? 1 << 3 : 1 << 2)) throw p.err(i, "addrtype: --limit-iface-in and --limit-iface-out exclude each other");
        if (id === 2) this.limitIn = true;
        else this.limitOut = true;
        break;
    }
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.srcType && !this.dstType) throw p.err(this.nameIdx, "addrtype needs --src-type or --dst-type");
    const m: IptMatch = { kind: "addrtype", limitIfaceIn: this.limitIn, limitIfaceOut: this.limitOut };
    if (this.srcType) m.srcType = this.srcType;
    if (this.dstType) m.dstType = this.dstType;
    return m;
  }
}

class MarkMatchExt extends Ext {
  static readonly O = specs([[["--mark"], 0, 1, true]]);
  get opts() { return MarkMatchExt.O; }
  constructor(nameIdx: number, readonly conn: boolean) { super(nameIdx, false); }
  value = 0;
  mask = 0xffffffff;
  inv = false;
  opt(p: RuleCtx, _id: number, inv: boolean, i: number): void {
    const mm = parseMarkMask(p, p.arg(i + 1, i), i + 1);
    this.value = mm.value;
    this.mask = mm.mask;
    this.inv = inv;
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.seen) throw p.err(this.nameIdx, `${this.conn ? "connmark" : "mark"}: --mark is required`);
    return { kind: this.conn ? "connmark" : "mark", value: this.value, mask: this.mask, inv: this.inv };
  }
}

class ConntrackExt extends Ext {
  static readonly O = specs([
    [["--ctstate"], 0, 1, true], [["--ctproto"], 1, 1, true],
    [["--ctorigsrc"], 2, 1, true], [["--ctorigdst"], 3, 1, true], [["--ctreplsrc"], 4, 1, true], [["--ctrepldst"], 5, 1, true],
    [["--ctorigsrcport"], 6, 1, true], [["--ctorigdstport"], 7, 1, true],
    [["--ctreplsrcport"], 8, 1, true], [["--ctrepldstport"], 9, 1, true],
    [["--ctstatus"], 10, 1, true], [["--ctexpire"], 11, 1, true], [["--ctdir"], 12, 1, false],
  ]);
  get opts() { return ConntrackExt.O; }
  m: Extract<IptMatch, { kind: "conntrack" }> = { kind: "conntrack" };
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    const s = p.arg(i + 1, i);
    const m = this.m;
    switch (id) {
      case 0: m.ctstate = { mask: parseNameList(p, s, i + 1, CT_STATES, "conntrack state", false, true), inv }; break;
      case 1: {
        m.ctproto = { proto: parseProto(p, s, i + 1), inv };
        break;
      }
      case 2: m.origsrc = parseAddrAt(p, i + 1, inv); break;
      case 3: m.origdst = parseAddrAt(p, i + 1, inv); break;
      case 4: m.replsrc = parseAddrAt(p, i + 1, inv); break;
      case 5: m.repldst = parseAddrAt(p, i + 1, inv); break;
      case 6: m.origsrcport = parseNumRange(p, s, i + 1, inv, 65535, "port range"); break;
      case 7: m.origdstport = parseNumRange(p, s, i + 1, inv, 65535, "port range"); break;
      case 8: m.replsrcport = parseNumRange(p, s, i + 1, inv, 65535, "port range"); break;
      case 9: m.repldstport = parseNumRange(p, s, i + 1, inv, 65535, "port range"); break;
      case 10: m.ctstatus = { mask: parseNameList(p, s, i + 1, CT_STATUS, "conntrack status", false, true), inv }; break;
      case 11: {
        const r = parseNumRange(p, s, i + 1, inv, 0xffffffff, "expiry range");
        if (r.lo > r.hi) throw p.err(i + 1, `invalid expiry range "${s}" (min > max)`);
        m.expire = r;
        break;
      }
      case 12: {
        const u = s.toUpperCase();
        if (u !== "ORIGINAL" && u !== "REPLY") throw p.err(i + 1, `--ctdir takes ORIGINAL or REPLY, not "${s}"`);
        m.dir = u as "ORIGINAL" | "REPLY";
        break;
      }
    }
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.seen) throw p.err(this.nameIdx, "conntrack needs at least one option");
    return this.m;
  }
}

class StateExt extends Ext {
  static readonly O = specs([[["--state"], 0, 1, true]]);
  get opts() { return StateExt.O; }
  mask = 0;
  inv = false;
  opt(p: RuleCtx, _id: number, inv: boolean, i: number): void {
    this.mask = parseNameList(p, p.arg(i + 1, i), i + 1, STATE_STATES, "state", false, true);
    this.inv = inv;
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.seen) throw p.err(this.nameIdx, "state: --state is required");
    return { kind: "state", mask: this.mask, inv: this.inv };
  }
}

/** A decimal fraction as strtod reads it (digits, one dot, optional exponent), or NaN. */
function decimalFloat(s: string): number {
  const n = s.length;
  let i = 0;
  let digits = 0;
  let dot = false;
  if (i < n && (s.charCodeAt(i) === 43)) i++;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 46 && !dot) dot = true;
    else break;
  }
  if (digits === 0) return NaN;
  if (i < n && (s.charCodeAt(i) | 32) === 101) {
    i++;
    if (i < n && (s.charCodeAt(i) === 43 || s.charCodeAt(i) === 45)) i++;
    let ed = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 48 && c <= 57) ed++;
      else break;
    }
    if (ed === 0) return NaN;
  }
  if (i !== n) return NaN;
  return Number(s);
}

/** lround: nearest integer, halves away from zero. */
function lround(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

class StatisticExt extends Ext {
  static readonly O = specs([
    [["--mode"], 0, 1, false], [["--probability"], 1, 1, true], [["--every"], 2, 1, true], [["--packet"], 3, 1, false],
  ]);
  get opts() { return StatisticExt.O; }
  mode: "random" | "nth" | undefined;
  modeIdx = -1;
  probability = 0;
  every = 0;
  packet = 0;
  inv = false;
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    const s = p.arg(i + 1, i);
    switch (id) {
      case 0:
        if (s !== "random" && s !== "nth") throw p.err(i + 1, `statistic --mode takes random or nth, not "${s}"`);
        this.mode = s;
        this.modeIdx = i;
        break;
      case 1: {
        const v = decimalFloat(s);
        if (!(v >= 0 && v <= 1)) throw p.err(i + 1, `--probability must be between 0 and 1, not "${s}"`);
        this.probability = Math.min(0x80000000, Math.max(0, lround(v * 0x80000000)));
        if (inv) this.inv = true;
        break;
      }
      case 2: {
        const v = parseU32(p, s, i + 1, "--every value", 1);
        this.every = v - 1;
        if (inv) this.inv = true;
        break;
      }
      case 3: this.packet = parseU32(p, s, i + 1, "--packet value"); break;
    }
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.mode) throw p.err(this.nameIdx, "statistic needs --mode random or --mode nth");
    const hasP = (this.seen & (1 << 1)) !== 0;
    const hasE = (this.seen & (1 << 2)) !== 0;
    const hasN = (this.seen & (1 << 3)) !== 0;
    if (this.mode === "random") {
      if (hasE || hasN) throw p.err(this.modeIdx, "--every and --packet need --mode nth");
      if (!hasP) throw p.err(this.modeIdx, "--mode random needs --probability");
      return { kind: "statistic", mode: "random", probability: this.probability, inv: this.inv };
    }
    if (hasP) throw p.err(this.modeIdx, "--probability needs --mode random");
    if (!hasE) throw p.err(this.modeIdx, "--mode nth needs --every");
    if (this.packet > this.every) throw p.err(this.modeIdx, `--packet must be 0..${this.every} (below --every)`);
    return { kind: "statistic", mode: "nth", every: this.every, packet: this.packet, inv: this.inv };
  }
}

class RecentExt extends Ext {
  static readonly O = specs([
    [["--set"], 0, 0, true], [["--rcheck"], 1, 0, true], [["--update"], 2, 0, true], [["--remove"], 3, 0, true],
    [["--seconds"], 4, 1, false], [["--hitcount"], 5, 1, false], [["--reap"], 6, 0, false], [["--rttl"], 7, 0, false],
    [["--name"], 8, 1, false], [["--mask"], 9, 1, false], [["--rsource"], 10, 0, false], [["--rdest"], 11, 0, false],
  ]);
  static readonly OPS = ["set", "rcheck", "update", "remove"] as const;
  get opts() { return RecentExt.O; }
  op: "set" | "rcheck" | "update" | "remove" | undefined;
  opIdx = -1;
  name = "DEFAULT";
  seconds = 0;
  hitcount = 0;
  reap = false;
  rttl = false;
  mask = 0xffffffff;
  side: "rsource" | "rdest" = "rsource";
  inv = false;
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    switch (id) {
      case 0: case 1: case 2: case 3:
        if (this.op) throw p.err(i, "recent takes only one of --set, --rcheck, --update and --remove");
        this.op = RecentExt.OPS[id];
        this.opIdx = i;
        this.inv = inv;
        break;
      case 4: this.seconds = parseU32(p, p.arg(i + 1, i), i + 1, "--seconds value"); break;
      case 5: this.hitcount = parseU32(p, p.arg(i + 1, i), i + 1, "--hitcount value"); break;
      case 6: this.reap = true; break;
      case 7: this.rttl = true; break;
      case 8: {
        const s = p.arg(i + 1, i);
        if (s.length === 0 || s.length > 199) throw p.err(i + 1, "recent --name must have 1..199 characters");
        this.name = s;
        break;
      }
      case 9: {
        const s = p.arg(i + 1, i);
        const a = quadAt(s, 0, s.length);
        if (a < 0) throw p.err(i + 1, `invalid --mask "${s}" (a dotted quad)`);
        this.mask = a;
        break;
      }
      case 10:
      case 11:
        if (this.seen & (id === 10 ? 1 << 11 : 1 << 10)) throw p.err(i, "recent: --rsource and --rdest exclude each other");
        this.side = id === 10 ? "rsource" : "rdest";
        break;
    }
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.op) throw p.err(this.nameIdx, "recent needs one of --set, --rcheck, --update, --remove");
    if ((this.op === "set" || this.op === "remove") && (this.seconds || this.hitcount || this.reap || this.rttl)) {
      throw p.err(this.opIdx, "--seconds, --hitcount, --reap and --rttl go with --rcheck or --update only");
    }
    if (this.reap && !this.seconds) throw p.err(this.nameIdx, "recent --reap needs --seconds");
    return {
      kind: "recent", op: this.op, name: this.name, seconds: this.seconds, hitcount: this.hitcount,
      reap: this.reap, rttl: this.rttl, mask: this.mask, side: this.side, inv: this.inv,
    };
  }
}

class NfacctExt extends Ext {
  static readonly O = specs([[["--nfacct-name"], 0, 1, false]]);
  get opts() { return NfacctExt.O; }
  name: string | undefined;
  opt(p: RuleCtx, _id: number, _inv: boolean, i: number): void {
    const s = p.arg(i + 1, i);
    if (s.length === 0 || s.length > 31) throw p.err(i + 1, "nfacct name must have 1..31 characters");
    this.name = s;
  }
  finish(p: RuleCtx): IptMatch {
    if (this.name === undefined) throw p.err(this.nameIdx, "nfacct: --nfacct-name is required");
    return { kind: "nfacct", name: this.name };
  }
}

class LimitExt extends Ext {
  static readonly O = specs([[["--limit"], 0, 1, false], [["--limit-burst"], 1, 1, false]]);
  get opts() { return LimitExt.O; }
  avg = (XT_LIMIT_SCALE * 3600) / 3;
  text = "3/hour";
  burst = 5;
  opt(p: RuleCtx, id: number, _inv: boolean, i: number): void {
    const s = p.arg(i + 1, i);
    if (id === 1) {
      // 0 passes iptables but the kernel refuses it (xt_limit: "Overflow, try lower")
      this.burst = parseU32(p, s, i + 1, "--limit-burst value", 1, 10000);
      return;
    }
    const slash = s.indexOf("/");
    let mult = 1;
    if (slash >= 0) {
      const u = s.slice(slash + 1).toLowerCase();
      if (u.length === 0) throw p.err(i + 1, `bad rate "${s}"`);
      if ("second".startsWith(u)) mult = 1;
      else if ("minute".startsWith(u)) mult = 60;
      else if ("hour".startsWith(u)) mult = 3600;
      else if ("day".startsWith(u)) mult = 86400;
      else throw p.err(i + 1, `bad rate unit in "${s}" (second, minute, hour or day)`);
    }
    const r = decimal(slash < 0 ? s : s.slice(0, slash));
    if (r <= 0) throw p.err(i + 1, `bad rate "${s}"`);
    const avg = Math.floor((XT_LIMIT_SCALE * mult) / r);
    if (avg === 0) throw p.err(i + 1, `rate too fast "${s}"`);
    this.avg = avg;
    this.text = s;
  }
  finish(): IptMatch {
    return { kind: "limit", avg: this.avg, burst: this.burst, text: this.text };
  }
}

class OwnerExt extends Ext {
  static readonly O = specs([[["--uid-owner"], 0, 1, true], [["--gid-owner"], 1, 1, true], [["--socket-exists"], 2, 0, true]]);
  get opts() { return OwnerExt.O; }
  uid?: IptRange;
  gid?: IptRange;
  socketExists?: { inv: boolean };
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    if (id === 2) {
      this.socketExists = { inv };
      return;
    }
    const s = p.arg(i + 1, i);
    const what = id === 0 ? "uid" : "gid";
    const c0 = s.charCodeAt(0);
    if (!(c0 >= 48 && c0 <= 57)) throw p.err(i + 1, `${what} "${s}" is not numeric (user and group names cannot be resolved here)`);
    const r = parseNumRange(p, s, i + 1, inv, 0xfffffffe, `${what} range`, "-");
    if (r.lo > r.hi) throw p.err(i + 1, `invalid ${what} range "${s}" (min > max)`);
    if (id === 0) this.uid = r;
    else this.gid = r;
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.seen) throw p.err(this.nameIdx, "owner needs --uid-owner, --gid-owner or --socket-exists");
    const m: IptMatch = { kind: "owner" };
    if (this.uid) m.uid = this.uid;
    if (this.gid) m.gid = this.gid;
    if (this.socketExists) m.socketExists = this.socketExists;
    return m;
  }
}

class LengthExt extends Ext {
  static readonly O = specs([[["--length"], 0, 1, true]]);
  get opts() { return LengthExt.O; }
  range: IptRange | undefined;
  opt(p: RuleCtx, _id: number, inv: boolean, i: number): void {
    this.range = parseNumRange(p, p.arg(i + 1, i), i + 1, inv, 65535, "length range");
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.range) throw p.err(this.nameIdx, "length: --length is required");
    return { kind: "length", range: this.range };
  }
}

class SetExt extends Ext {
  static readonly O = specs([
    [["--match-set"], 0, 2, true], [["--return-nomatch"], 1, 0, false],
    [["--update-counters"], 2, 0, true], [["--update-subcounters"], 3, 0, true],
    [["--packets-eq", "--packets-lt", "--packets-gt", "--bytes-eq", "--bytes-lt", "--bytes-gt"], 4, 1, true],
  ]);
  get opts() { return SetExt.O; }
  name: string | undefined;
  nameWordIdx = -1;
  srcBits = 0;
  dim = 0;
  inv = false;
  returnNomatch = false;
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    switch (id) {
      case 0: {
        const name = p.arg(i + 1, i);
        if (name.length === 0 || name.length > 31) throw p.err(i + 1, "set name must have 1..31 characters");
        const dirs = p.arg(i + 2, i).split(",");
        // libxt_set parse_dirs: at most IPSET_DIM_MAX src/dst words
        if (dirs.length > 6) throw p.err(i + 2, "more than 6 src/dst flags");
        let bits = 0;
        dirs.forEach((d, k) => {
          if (d === "src") bits |= 1 << k;
          else if (d !== "dst") throw p.err(i + 2, "flags are a comma separated list of src and dst");
        });
        this.name = name;
        this.nameWordIdx = i + 1;
        this.srcBits = bits;
        this.dim = dirs.length;
        this.inv = inv;
        break;
      }
      case 1: this.returnNomatch = true; break;
      case 2: case 3: break; // set counters are not reported: whether they are updated changes no verdict
      case 4: throw p.err(i, "set counter conditions (--packets-*, --bytes-*) are not modelled");
    }
  }
  finish(p: RuleCtx): IptMatch {
    if (this.name === undefined) throw p.err(this.nameIdx, "set: --match-set is required");
    return { kind: "set", name: this.name, srcBits: this.srcBits, dim: this.dim, inv: this.inv, returnNomatch: this.returnNomatch, token: word(this.nameWordIdx) };
  }
}

/**
 * -m rpfilter (libxt_rpfilter): four flags without arguments, none of which
 * "!" may precede (the match inverts itself with --invert).
 */
class RpfilterExt extends Ext {
  static readonly O = specs([
    [["--loose"], 0, 0, false], [["--validmark"], 1, 0, false], [["--accept-local"], 2, 0, false], [["--invert"], 3, 0, false],
  ]);
  get opts() { return RpfilterExt.O; }
  opt(): void {}
  finish(): IptMatch {
    return {
      kind: "rpfilter", loose: (this.seen & 1) !== 0, validmark: (this.seen & 2) !== 0,
      acceptLocal: (this.seen & 4) !== 0, invert: (this.seen & 8) !== 0,
    };
  }
}

/** -m pkttype names (libxt_pkttype): PACKET_HOST 0 (printed "unicast"), BROADCAST 1, MULTICAST 2, OTHERHOST 3. */
const PKT_TYPES: ReadonlyMap<string, number> = new Map([
  ["unicast", 0], ["broadcast", 1], ["multicast", 2], ["otherhost", 3], ["host", 0],
]);

/** -m pkttype [!] --pkt-type TYPE (names case-insensitive, as libxt_pkttype's strcasecmp). */
class PkttypeExt extends Ext {
  static readonly O = specs([[["--pkt-type"], 0, 1, true]]);
  get opts() { return PkttypeExt.O; }
  type = -1;
  inv = false;
  opt(p: RuleCtx, _id: number, inv: boolean, i: number): void {
    const s = p.arg(i + 1, i);
    const t = PKT_TYPES.get(s.toLowerCase());
    if (t === undefined) throw p.err(i + 1, `bad packet type "${s}" (unicast, broadcast, multicast, host or otherhost)`);
    this.type = t;
    this.inv = inv;
  }
  finish(p: RuleCtx): IptMatch {
    if (this.type < 0) throw p.err(this.nameIdx, "pkttype: --pkt-type is required");
    return { kind: "pkttype", type: this.type, inv: this.inv };
  }
}

/** -m iprange [!] --src-range A[-B] [!] --dst-range A[-B] (libxt_iprange; a lone A is A-A). */
class IprangeExt extends Ext {
  static readonly O = specs([[["--src-range"], 0, 1, true], [["--dst-range"], 1, 1, true]]);
  get opts() { return IprangeExt.O; }
  src: { min: number; max: number; inv: boolean } | undefined;
  dst: { min: number; max: number; inv: boolean } | undefined;
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    const s = p.arg(i + 1, i);
    const dash = s.indexOf("-");
    const min = quadAt(s, 0, dash < 0 ? s.length : dash);
    const max = dash < 0 ? min : quadAt(s, dash + 1, s.length);
    if (min < 0 || max < 0) throw p.err(i + 1, `invalid address range "${s}" (A.B.C.D or A.B.C.D-E.F.G.H)`);
    // a reversed range is accepted (iprange_mt_check only warns) and never matches
    const r = { min, max, inv };
    if (id === 0) this.src = r;
    else this.dst = r;
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.src && !this.dst) throw p.err(this.nameIdx, "iprange: --src-range or --dst-range is required");
    const m: IptMatch = { kind: "iprange" };
    if (this.src) m.src = this.src;
    if (this.dst) m.dst = this.dst;
    return m;
  }
}

/** -m ttl: one of --ttl-eq (invertible: IPT_TTL_NE), --ttl-lt, --ttl-gt (libxt_ttl). */
class TtlExt extends Ext {
  static readonly O = specs([[["--ttl-eq"], 0, 1, true], [["--ttl-lt"], 1, 1, false], [["--ttl-gt"], 2, 1, false]]);
  get opts() { return TtlExt.O; }
  mode: "eq" | "ne" | "lt" | "gt" | undefined;
  ttl = 0;
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    if (this.seen) throw p.err(i, "ttl: only one of --ttl-eq, --ttl-lt and --ttl-gt may be given");
    this.ttl = parseU32(p, p.arg(i + 1, i), i + 1, "TTL", 0, 255);
    this.mode = id === 0 ? (inv ? "ne" : "eq") : id === 1 ? "lt" : "gt";
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.mode) throw p.err(this.nameIdx, "ttl: --ttl-eq, --ttl-lt or --ttl-gt is required");
    return { kind: "ttl", mode: this.mode, ttl: this.ttl };
  }
}

/** The TOS names of libxt_tos (tos_parse_symbolic); a name's mask is 0x3f. */
const TOS_NAMES: ReadonlyMap<string, number> = new Map([
  ["minimize-delay", 0x10], ["maximize-throughput", 0x08], ["maximize-reliability", 0x04],
  ["minimize-cost", 0x02], ["normal-service", 0x00],
]);

/** "value[/mask]" of 8-bit numbers (strtoul base 0), mask 0xff when absent; or a TOS name (mask 0x3f). */
function parseTosValue(p: RuleCtx, s: string, idx: number): { value: number; mask: number } {
  const named = TOS_NAMES.get(s.toLowerCase());
  if (named !== undefined) return { value: named, mask: 0x3f };
  const slash = s.indexOf("/");
  const v = uint0(slash < 0 ? s : s.slice(0, slash));
  const m = slash < 0 ? 0xff : uint0(s.slice(slash + 1));
  if (v < 0 || v > 0xff || m < 0 || m > 0xff) throw p.err(idx, `invalid TOS "${s}" (value[/mask], 0..255, or a name: ${[...TOS_NAMES.keys()].join(", ")})`);
  return { value: v, mask: m };
}

/** -m tos [!] --tos value[/mask] | NAME (xt_tos revision 1). */
class TosExt extends Ext {
  static readonly O = specs([[["--tos"], 0, 1, true]]);
  get opts() { return TosExt.O; }
  v: { value: number; mask: number; inv: boolean } | undefined;
  opt(p: RuleCtx, _id: number, inv: boolean, i: number): void {
    this.v = { ...parseTosValue(p, p.arg(i + 1, i), i + 1), inv };
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.v) throw p.err(this.nameIdx, "tos: --tos is required");
    return { kind: "tos", value: this.v.value, mask: this.v.mask, inv: this.v.inv };
  }
}

/** DiffServ class names of libxt_dscp (class_to_dscp; case-insensitive). */
export const DSCP_CLASSES: ReadonlyMap<string, number> = new Map([
  ["CS0", 0x00], ["CS1", 0x08], ["CS2", 0x10], ["CS3", 0x18], ["CS4", 0x20], ["CS5", 0x28], ["CS6", 0x30], ["CS7", 0x38],
  ["BE", 0x00], ["AF11", 0x0a], ["AF12", 0x0c], ["AF13", 0x0e], ["AF21", 0x12], ["AF22", 0x14], ["AF23", 0x16],
  ["AF31", 0x1a], ["AF32", 0x1c], ["AF33", 0x1e], ["AF41", 0x22], ["AF42", 0x24], ["AF43", 0x26], ["EF", 0x2e],
]);

/** -m dscp [!] --dscp N | [!] --dscp-class CLASS (one of them). */
class DscpExt extends Ext {
  static readonly O = specs([[["--dscp"], 0, 1, true], [["--dscp-class"], 1, 1, true]]);
  get opts() { return DscpExt.O; }
  dscp = -1;
  inv = false;
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    if (this.seen) throw p.err(i, "dscp: --dscp and --dscp-class cannot be used together");
    const s = p.arg(i + 1, i);
    if (id === 0) this.dscp = parseU32(p, s, i + 1, "DSCP", 0, 63);
    else {
      const c = DSCP_CLASSES.get(s.toUpperCase());
      if (c === undefined) throw p.err(i + 1, `unknown DSCP class "${s}" (${[...DSCP_CLASSES.keys()].join(", ")})`);
      this.dscp = c;
    }
    this.inv = inv;
  }
  finish(p: RuleCtx): IptMatch {
    if (this.dscp < 0) throw p.err(this.nameIdx, "dscp: --dscp or --dscp-class is required");
    return { kind: "dscp", dscp: this.dscp, inv: this.inv };
  }
}

/** -m tcpmss [!] --mss min[:max] (libxt_tcpmss; "a:" is a..65535, ":b" 0..b). */
class TcpmssExt extends Ext {
  static readonly O = specs([[["--mss"], 0, 1, true]]);
  get opts() { return TcpmssExt.O; }
  range: IptRange | undefined;
  opt(p: RuleCtx, _id: number, inv: boolean, i: number): void {
    const r = parseNumRange(p, p.arg(i + 1, i), i + 1, inv, 65535, "MSS range");
    if (r.lo > r.hi) throw p.err(i + 1, `invalid MSS range "${word(i + 1)}" (min > max)`);
    this.range = r;
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.range) throw p.err(this.nameIdx, "tcpmss: --mss is required");
    // xt_check_match: the match is registered for IPPROTO_TCP only
    if (!p.proto || p.proto.num !== P_TCP || p.proto.inv) throw p.err(this.nameIdx, "match tcpmss is only valid with -p tcp");
    return { kind: "tcpmss", range: this.range };
  }
}

/** -m ecn [!] --ecn-tcp-cwr [!] --ecn-tcp-ece [!] --ecn-ip-ect 0..3 (libxt_ecn). */
class EcnExt extends Ext {
  static readonly O = specs([[["--ecn-tcp-cwr"], 0, 0, true], [["--ecn-tcp-ece"], 1, 0, true], [["--ecn-ip-ect"], 2, 1, true]]);
  get opts() { return EcnExt.O; }
  cwr: { inv: boolean } | undefined;
  ece: { inv: boolean } | undefined;
  ect: { value: number; inv: boolean } | undefined;
  opt(p: RuleCtx, id: number, inv: boolean, i: number): void {
    if (id === 0) this.cwr = { inv };
    else if (id === 1) this.ece = { inv };
    else this.ect = { value: parseU32(p, p.arg(i + 1, i), i + 1, "ECT codepoint", 0, 3), inv };
  }
  finish(p: RuleCtx): IptMatch {
    if (!this.seen) throw p.err(this.nameIdx, "ecn: --ecn-tcp-cwr, --ecn-tcp-ece or --ecn-ip-ect is required");
    // ecn_mt_check4: the TCP bits need -p tcp (not inverted)
    if ((this.cwr || this.ece) && (!p.proto || p.proto.num !== P_TCP || p.proto.inv)) {
      throw p.err(this.nameIdx, "ecn: --ecn-tcp-cwr and --ecn-tcp-ece need -p tcp");
    }
    const m: IptMatch = { kind: "ecn" };
    if (this.cwr) m.cwr = this.cwr;
    if (this.ece) m.ece = this.ece;
    if (this.ect) m.ect = this.ect;
    return m;
  }
}

/* ------------------------------------------------------------------------ */
/* Targets                                                                  */
/* ------------------------------------------------------------------------ */

/** -j TTL: exactly one of --ttl-set 0..255, --ttl-dec 1..255, --ttl-inc 1..255 (libxt_TTL). */
class TtlTargetExt extends Ext {
  static readonly O = specs([[["--ttl-set"], 0, 1, false], [["--ttl-dec"], 1, 1, false], [["--ttl-inc"], 2, 1, false]]);
  get opts() { return TtlTargetExt.O; }
  mode: "set" | "inc" | "dec" | undefined;
  value = 0;
  opt(p: RuleCtx, id: number, _inv: boolean, i: number): void {
    if (this.seen) throw p.err(i, "TTL: only one of --ttl-set, --ttl-dec and --ttl-inc may be given");
    this.value = parseU32(p, p.arg(i + 1, i), i + 1, "TTL value", id === 0 ? 0 : 1, 255);
    this.mode = id === 0 ? "set" : id === 1 ? "dec" : "inc";
  }
  finish(p: RuleCtx): IptTarget {
    if (!this.mode) throw p.err(this.nameIdx, "TTL: --ttl-set, --ttl-dec or --ttl-inc is required");
    return { kind: "TTL", mode: this.mode, value: this.value };
  }
}

/** -j DSCP: --set-dscp 0..63 or --set-dscp-class CLASS (libxt_DSCP). */
class DscpTargetExt extends Ext {
  static readonly O = specs([[["--set-dscp"], 0, 1, false], [["--set-dscp-class"], 1, 1, false]]);
  get opts() { return DscpTargetExt.O; }
  dscp = -1;
  opt(p: RuleCtx, id: number, _inv: boolean, i: number): void {
    if (this.seen) throw p.err(i, "DSCP: --set-dscp and --set-dscp-class cannot be used together");
    const s = p.arg(i + 1, i);
    if (id === 0) this.dscp = parseU32(p, s, i + 1, "DSCP", 0, 63);
    else {
      const c = DSCP_CLASSES.get(s.toUpperCase());
      if (c === undefined) throw p.err(i + 1, `unknown DSCP class "${s}" (${[...DSCP_CLASSES.keys()].join(", ")})`);
      this.dscp = c;
    }
  }
  finish(p: RuleCtx): IptTarget {
    if (this.dscp < 0) throw p.err(this.nameIdx, "DSCP: --set-dscp or --set-dscp-class is required");
    return { kind: "DSCP", dscp: this.dscp };
  }
}

/**
 * -j TOS (libxt_TOS revision 1): --set-tos value[/mask] or a name (mask
 * 0x3f), --and-tos B (0/~B), --or-tos B (B/B), --xor-tos B (B/0).
 */
class TosTargetExt extends Ext {
  static readonly O = specs([[["--set-tos"], 0, 1, false], [["--and-tos"], 1, 1, false], [["--or-tos"], 2, 1, false], [["--xor-tos"], 3, 1, false]]);
  get opts() { return TosTargetExt.O; }
  v: { value: number; mask: number } | undefined;
  opt(p: RuleCtx, id: number, _inv: boolean, i: number): void {
    if (this.seen) throw p.err(i, "TOS: only one of --set-tos, --and-tos, --or-tos and --xor-tos may be given");
    const s = p.arg(i + 1, i);
    if (id === 0) { this.v = parseTosValue(p, s, i + 1); return; }
    const b = parseU32(p, s, i + 1, "TOS bits", 0, 255);
    this.v = id === 1 ? { value: 0, mask: ~b & 0xff } : id === 2 ? { value: b, mask: b } : { value: b, mask: 0 };
  }
  finish(p: RuleCtx): IptTarget {
    if (!this.v) throw p.err(this.nameIdx, "TOS: --set-tos, --and-tos, --or-tos or --xor-tos is required");
    return { kind: "TOS", value: this.v.value, mask: this.v.mask };
  }
}

/**
 * -j TCPMSS --set-mss 0..65515 | --clamp-mss-to-pmtu (libxt_TCPMSS).
 * tcpmss_tg4_check: -p tcp, and a tcp match whose --tcp-flags compare
 * values include SYN (find_syn_match), not inverted; the clamp only in
 * chains reached from FORWARD, OUTPUT and POSTROUTING (checked at COMMIT,
 * targetHooks).
 */
class TcpmssTargetExt extends Ext {
  static readonly O = specs([[["--set-mss"], 0, 1, false], [["--clamp-mss-to-pmtu"], 1, 0, false]]);
  get opts() { return TcpmssTargetExt.O; }
  mss: number | "pmtu" = -1;
  opt(p: RuleCtx, id: number, _inv: boolean, i: number): void {
    if (this.seen) throw p.err(i, "TCPMSS: only one of --set-mss and --clamp-mss-to-pmtu may be given");
    this.mss = id === 1 ? "pmtu" : parseU32(p, p.arg(i + 1, i), i + 1, "MSS", 0, 65515);
  }
  finish(p: RuleCtx): IptTarget {
    if (this.mss === -1) throw p.err(this.nameIdx, "TCPMSS: --set-mss or --clamp-mss-to-pmtu is required");
    if (!p.proto || p.proto.num !== P_TCP || p.proto.inv) throw p.err(this.nameIdx, "target TCPMSS is only valid with -p tcp");
    const syn = p.exts.some((e) => e instanceof TcpUdpExt && e.synFlagsMatch());
    if (!syn) throw p.err(this.nameIdx, "target TCPMSS only works on TCP SYN packets: the rule needs --tcp-flags with SYN among the flags compared set (e.g. --tcp-flags SYN,RST SYN), not inverted");
    return { kind: "TCPMSS", mss: this.mss };
  }
}

/** -j NETMAP --to A[/N|/MASK] (libxt_NETMAP; host bits of A dropped, as iptables-save shows). */
class NetmapExt extends Ext {
  static readonly O = specs([[["--to"], 0, 1, false]]);
  get opts() { return NetmapExt.O; }
  to: IptAddr | undefined;
  opt(p: RuleCtx, _id: number, _inv: boolean, i: number): void {
    p.need(i + 1, i);
    this.to = parseAddrAt(p, i + 1, false);
  }
  finish(p: RuleCtx): IptTarget {
    if (!this.to) throw p.err(this.nameIdx, "NETMAP: --to is required");
    return { kind: "NETMAP", addr: this.to.addr, plen: this.to.plen };
  }
}

/** -j CLASSIFY --set-class MAJOR:MINOR (hex, as sscanf "%x:%x"; TC_H_MAKE keeps 16 bits of each). */
class ClassifyExt extends Ext {
  static readonly O = specs([[["--set-class"], 0, 1, false]]);
  get opts() { return ClassifyExt.O; }
  priority = -1;
  opt(p: RuleCtx, _id: number, _inv: boolean, i: number): void {
    const s = p.arg(i + 1, i);
    const m = /^([0-9a-fA-F]{1,8}):([0-9a-fA-F]{1,8})$/.exec(s);
    if (!m) throw p.err(i + 1, `invalid class "${s}" (MAJOR:MINOR in hex)`);
    this.priority = ((((parseInt(m[1]!, 16) << 16) >>> 0) & 0xffff0000) | (parseInt(m[2]!, 16) & 0xffff)) >>> 0;
  }
  finish(p: RuleCtx): IptTarget {
    if (this.priority < 0) throw p.err(this.nameIdx, "CLASSIFY: --set-class is required");
    return { kind: "CLASSIFY", priority: this.priority };
  }
}

class NoOptTarget extends Ext {
  static readonly O: ReadonlyMap<string, OptSpec> = new Map();
  get opts() { return NoOptTarget.O; }
  constructor(nameIdx: number, readonly t: IptTarget) { super(nameIdx, true); }
  opt(): void {}
  finish(): IptTarget { return this.t; }
}

class RejectExt extends Ext {
  static readonly O = specs([[["--reject-with"], 0, 1, false]]);
  get opts() { return RejectExt.O; }
  with = "icmp-port-unreachable";
  withIdx = -1;
  opt(p: RuleCtx, _id: number, _inv: boolean, i: number): void {
    const s = p.arg(i + 1, i);
    const w = REJECT_WITH.get(s);
    if (w === undefined) throw p.err(i + 1, `unknown --reject-with "${s}"`);
    this.with = w;
    this.withIdx = i + 1;
  }
  finish(p: RuleCtx): IptTarget {
    if (this.with === "tcp-reset" && (!p.proto || p.proto.num !== P_TCP || p.proto.inv)) {
      throw p.err(this.withIdx, "--reject-with tcp-reset needs -p tcp (not inverted)");
    }
    return { kind: "REJECT", with: this.with };
  }
}

type NatRange = { minIp: number; maxIp: number; minPort: number; maxPort: number };

/** "p[-q]" port range of NAT targets (ports 1..65535). */
function parseNatPorts(p: RuleCtx, s: string, idx: number): [number, number] {
  const dash = s.indexOf("-");
  const one = (t: string): number => {
    const v = uint0(t);
    if (v < 1 || v > 65535) throw p.err(idx, `invalid port "${t}" in "${s}" (1..65535)`);
    return v;
  };
  const lo = one(dash < 0 ? s : s.slice(0, dash));
  const hi = dash < 0 ? lo : one(s.slice(dash + 1));
  if (hi < lo) throw p.err(idx, `invalid port range "${s}" (min > max)`);
  return [lo, hi];
}

class NatExt extends Ext {
  static readonly OD = specs([[["--to-destination"], 0, 1, false, true], [["--random"], 1, 0, false], [["--persistent"], 3, 0, false]]);
  static readonly OS = specs([
    [["--to-source"], 0, 1, false, true], [["--random"], 1, 0, false], [["--random-fully"], 2, 0, false], [["--persistent"], 3, 0, false],
  ]);
  constructor(nameIdx: number, readonly dnat: boolean) { super(nameIdx, true); }
  get opts() { return this.dnat ? NatExt.OD : NatExt.OS; }
  ranges: NatRange[] = [];
  portIdx = -1;
  random = false;
  randomFully = false;
  persistent = false;
  opt(p: RuleCtx, id: number, _inv: boolean, i: number): void {
    switch (id) {
      case 0: {
        // [ip[-ip]][:port[-port]], read in place
        p.need(i + 1, i);
        at(i + 1);
        const s = SS;
        const b = SB;
        const e = SE;
        const r: NatRange = { minIp: 0, maxIp: 0, minPort: 0, maxPort: 0 };
        let colon = s.indexOf(":", b);
        if (colon >= e) colon = -1;
        const ie = colon < 0 ? e : colon;
        if (ie > b) {
          let dash = s.indexOf("-", b);
          if (dash >= ie) dash = -1;
          const a = quadAt(s, b, dash < 0 ? ie : dash);
          const z = dash < 0 ? a : quadAt(s, dash + 1, ie);
          if (a < 0 || z < 0) throw p.err(i + 1, `invalid address range in "${word(i + 1)}"`);
          if (z < a) throw p.err(i + 1, `invalid address range in "${word(i + 1)}" (first > last)`);
          r.minIp = a;
          r.maxIp = z;
        }
        if (colon >= 0) {
          const slash = s.indexOf("/", colon);
          if (slash >= 0 && slash < e) throw p.err(i + 1, `a port offset (".../base") in "${word(i + 1)}" is not supported`);
          [r.minPort, r.maxPort] = parseNatPorts(p, s.slice(colon + 1, e), i + 1);
          this.portIdx = i + 1;
        } else if (ie === b) {
          throw p.err(i + 1, `empty ${word(i)}`);
        }
        if (this.ranges.length === 0) this.ranges = [r];
        else this.ranges.push(r);
        break;
      }
      case 1: this.random = true; break;
      case 2: this.randomFully = true; break;
      case 3: this.persistent = true; break;
    }
  }
  finish(p: RuleCtx): IptTarget {
    if (this.ranges.length === 0) throw p.err(this.nameIdx, `${this.dnat ? "DNAT needs --to-destination" : "SNAT needs --to-source"}`);
    if (this.portIdx >= 0 && !natPortProto(p.proto)) {
      throw p.err(this.portIdx, "a port in a NAT range needs -p tcp, udp, sctp, dccp or icmp");
    }
    return {
      kind: this.dnat ? "DNAT" : "SNAT", ranges: this.ranges,
      random: this.random, randomFully: this.randomFully, persistent: this.persistent,
    };
  }
}

class MasqRedirExt extends Ext {
  static readonly OM = specs([[["--to-ports"], 0, 1, false], [["--random"], 1, 0, false], [["--random-fully"], 2, 0, false]]);
  static readonly OR = specs([[["--to-ports"], 0, 1, false], [["--random"], 1, 0, false]]);
  constructor(nameIdx: number, readonly redirect: boolean) { super(nameIdx, true); }
  get opts() { return this.redirect ? MasqRedirExt.OR : MasqRedirExt.OM; }
  minPort = 0;
  maxPort = 0;
  portIdx = -1;
  random = false;
  randomFully = false;
  opt(p: RuleCtx, id: number, _inv: boolean, i: number): void {
    if (id === 0) {
      [this.minPort, this.maxPort] = parseNatPorts(p, p.arg(i + 1, i), i + 1);
      this.portIdx = i + 1;
    } else if (id === 1) this.random = true;
    else this.randomFully = true;
  }
  finish(p: RuleCtx): IptTarget {
    if (this.portIdx >= 0 && !natPortProto(p.proto)) {
      throw p.err(this.portIdx, "--to-ports needs -p tcp, udp, sctp, dccp or icmp");
    }
    if (this.redirect) return { kind: "REDIRECT", minPort: this.minPort, maxPort: this.maxPort, random: this.random };
    return { kind: "MASQUERADE", minPort: this.minPort, maxPort: this.maxPort, random: this.random, randomFully: this.randomFully };
  }
}

/** MARK and CONNMARK: the mnemonics are stored as the kernel's xmark (value, mask): mark = (mark & ~mask) ^ value. */
class MarkTargetExt extends Ext {
  static readonly OM = specs([
    [["--set-xmark"], 0, 1, false], [["--set-mark"], 1, 1, false], [["--and-mark"], 2, 1, false],
    [["--or-mark"], 3, 1, false], [["--xor-mark"], 4, 1, false],
  ]);
  static readonly OC = specs([
    [["--set-xmark"], 0, 1, false], [["--set-mark"], 1, 1, false], [["--and-mark"], 2, 1, false],
    [["--or-mark"], 3, 1, false], [["--xor-mark"], 4, 1, false],
    [["--save-mark"], 5, 0, false], [["--restore-mark"], 6, 0, false],
    [["--nfmask"], 7, 1, false], [["--ctmask"], 8, 1, false], [["--mask"], 9, 1, false],
  ]);
  constructor(nameIdx: number, readonly conn: boolean) { super(nameIdx, true); }
  get opts() { return this.conn ? MarkTargetExt.OC : MarkTargetExt.OM; }
  mode = -1;
  value = 0;
  mask = 0;
  nfmask = 0xffffffff;
  ctmask = 0xffffffff;
  maskIdx = -1;
  opt(p: RuleCtx, id: number, _inv: boolean, i: number): void {
    if (id <= 6) {
      if (this.mode >= 0) throw p.err(i, `${this.conn ? "CONNMARK" : "MARK"} takes only one action`);
      this.mode = id;
    }
    if (id <= 4) {
      const s = p.arg(i + 1, i);
      if (id <= 1) {
        const mm = parseMarkMask(p, s, i + 1);
        this.value = mm.value;
        this.mask = id === 0 ? mm.mask : (mm.mask | mm.value) >>> 0;
      } else {
        if (s.indexOf("/") >= 0) throw p.err(i + 1, `${word(i)} takes a value without a mask`);
        const b = parseU32(p, s, i + 1, "mark");
        if (id === 2) {
          this.value = 0;
          this.mask = (~b) >>> 0;
        } else if (id === 3) {
          this.value = b;
          this.mask = b;
        } else {
          this.value = b;
          this.mask = 0;
        }
      }
      return;
    }
    if (id >= 7) {
      if (id === 9 ? this.seen & (3 << 7) : this.seen & (1 << 9)) throw p.err(i, "--mask cannot be used together with --nfmask or --ctmask");
      const v = parseU32(p, p.arg(i + 1, i), i + 1, "mask");
      if (id === 7) this.nfmask = v;
      else if (id === 8) this.ctmask = v;
      else this.nfmask = this.ctmask = v;
      if (this.maskIdx < 0) this.maskIdx = i;
    }
  }
  finish(p: RuleCtx): IptTarget {
    const name = this.conn ? "CONNMARK" : "MARK";
    if (this.mode < 0) throw p.err(this.nameIdx, `${name} needs an action (--set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark${this.conn ? ", --save-mark, --restore-mark" : ""})`);
    if (this.mode <= 4) {
      if (this.maskIdx >= 0) throw p.err(this.maskIdx, "--nfmask, --ctmask and --mask go with --save-mark or --restore-mark only");
      if (this.conn) return { kind: "CONNMARK", op: "set", value: this.value, mask: this.mask };
      return { kind: "MARK", value: this.value, mask: this.mask };
    }
    return { kind: "CONNMARK", op: this.mode === 5 ? "save" : "restore", nfmask: this.nfmask, ctmask: this.ctmask };
  }
}

class LogExt extends Ext {
  static readonly O = specs([
    [["--log-level"], 0, 1, false], [["--log-prefix"], 1, 1, false], [["--log-tcp-sequence"], 2, 0, false],
    [["--log-tcp-options"], 3, 0, false], [["--log-ip-options"], 4, 0, false], [["--log-uid"], 5, 0, false],
    [["--log-macdecode"], 6, 0, false],
  ]);
  get opts() { return LogExt.O; }
  prefix: string | undefined;
  opt(p: RuleCtx, id: number, _inv: boolean, i: number): void {
    if (id === 0) {
      const s = p.arg(i + 1, i);
      const v = uint0(s);
      if (!(v >= 0 && v <= 7) && !LOG_LEVELS.has(s.toLowerCase())) throw p.err(i + 1, `invalid --log-level "${s}"`);
    } else if (id === 1) {
      const s = p.arg(i + 1, i);
      if (s.length > 29) throw p.err(i + 1, "--log-prefix longer than 29 characters");
      this.prefix = s;
    }
  }
  finish(p: RuleCtx): IptTarget {
    const t: IptTarget = { kind: "LOG", text: extText(p, this) };
    if (this.prefix !== undefined) t.prefix = this.prefix;
    return t;
  }
}

class NflogExt extends Ext {
  static readonly O = specs([
    [["--nflog-group"], 0, 1, false], [["--nflog-prefix"], 1, 1, false], [["--nflog-range"], 2, 1, false],
    [["--nflog-size"], 3, 1, false], [["--nflog-threshold"], 4, 1, false],
  ]);
  get opts() { return NflogExt.O; }
  group: number | undefined;
  prefix: string | undefined;
  opt(p: RuleCtx, id: number, _inv: boolean, i: number): void {
    const s = p.arg(i + 1, i);
    switch (id) {
      case 0: this.group = parseU32(p, s, i + 1, "--nflog-group", 0, 65535); break;
      case 1:
        if (s.length > 63) throw p.err(i + 1, "--nflog-prefix longer than 63 characters");
        this.prefix = s;
        break;
      case 2: case 3: parseU32(p, s, i + 1, word(i)); break;
      case 4: parseU32(p, s, i + 1, "--nflog-threshold", 0, 65535); break;
    }
  }
  finish(p: RuleCtx): IptTarget {
    const t: IptTarget = { kind: "NFLOG", text: extText(p, this) };
    if (this.group !== undefined) t.group = this.group;
    if (this.prefix !== undefined) t.prefix = this.prefix;
    return t;
  }
}

class CtExt extends Ext {
  static readonly O = specs([
    [["--notrack"], 0, 0, false], [["--helper"], 1, 1, false], [["--ctevents"], 1, 1, false], [["--expevents"], 1, 1, false],
    [["--zone"], 1, 1, false], [["--zone-orig"], 1, 1, false], [["--zone-reply"], 1, 1, false], [["--timeout"], 1, 1, false],
  ]);
  get opts() { return CtExt.O; }
  opt(p: RuleCtx, id: number, _inv: boolean, i: number): void {
    if (id !== 0) throw p.err(i, `CT option ${word(i)} is not supported (only CT --notrack)`);
  }
  finish(p: RuleCtx): IptTarget {
    if (!(this.seen & 1)) throw p.err(this.nameIdx, "CT without --notrack is not supported");
    return { kind: "NOTRACK" };
  }
}

/** The option text of an extension, as written (from its first option word to its last). */
function extText(p: RuleCtx, e: Ext): string {
  return e.optStart < 0 ? "" : p.line.slice(e.optStart, e.optEnd);
}

/* ------------------------------------------------------------------------ */
/* Loading extensions                                                       */
/* ------------------------------------------------------------------------ */

function loadMatch(p: RuleCtx, name: string, idx: number, implicit: boolean): Ext {
  switch (name) {
    case "comment": return new CommentExt(idx, false);
    case "tcp": return new TcpUdpExt(idx, false, implicit);
    case "udp": return new TcpUdpExt(idx, true, implicit);
    case "icmp": return new IcmpExt(idx, false);
    case "multiport": return new MultiportExt(idx, false);
    case "sctp": return new SctpExt(idx, false);
    case "dccp": return new DccpExt(idx, false);
    case "addrtype": return new AddrtypeExt(idx, false);
    case "mark": return new MarkMatchExt(idx, false);
    case "connmark": return new MarkMatchExt(idx, true);
    case "conntrack": return new ConntrackExt(idx, false);
    case "state": return new StateExt(idx, false);
    case "statistic": return new StatisticExt(idx, false);
    case "recent": return new RecentExt(idx, false);
    case "nfacct": return new NfacctExt(idx, false);
    case "limit": return new LimitExt(idx, false);
    case "owner": return new OwnerExt(idx, false);
    case "length": return new LengthExt(idx, false);
    case "set": return new SetExt(idx, false);
    case "rpfilter":
      // rpfilter_check: "only valid in 'raw' or 'mangle' table" (its hook, PREROUTING, is checked at COMMIT)
      if (p.table !== "raw" && p.table !== "mangle") throw p.err(idx, `match rpfilter is only valid in the raw or mangle table (not ${p.table})`);
      return new RpfilterExt(idx, false);
    case "pkttype": return new PkttypeExt(idx, false);
    case "iprange": return new IprangeExt(idx, false);
    case "ttl": return new TtlExt(idx, false);
    case "tos": return new TosExt(idx, false);
    case "dscp": return new DscpExt(idx, false);
    case "ecn": return new EcnExt(idx, false);
    case "tcpmss": return new TcpmssExt(idx, false);
  }
  throw p.err(idx, `match ${name} is not supported`);
}

/** Table and hooks a target may be used in (the kernel's xt_target .table/.hooks), 0 = any. */
interface TargetPlace { table?: IptTableName; hooks: number }
const TARGET_PLACE: ReadonlyMap<string, TargetPlace> = new Map([
  ["REJECT", { table: "filter", hooks: H_IN | H_FWD | H_OUT }],
  ["DNAT", { table: "nat", hooks: H_PRE | H_OUT }],
  ["REDIRECT", { table: "nat", hooks: H_PRE | H_OUT }],
  ["SNAT", { table: "nat", hooks: H_POST | H_IN }],
  ["MASQUERADE", { table: "nat", hooks: H_POST }],
  ["TRACE", { table: "raw", hooks: 0 }],
  ["NOTRACK", { table: "raw", hooks: 0 }],
  ["CT", { table: "raw", hooks: 0 }],
  // xt_HL / xt_DSCP: .table = "mangle"; xt_CLASSIFY: any table, .hooks OUTPUT, FORWARD, POSTROUTING
  ["TTL", { table: "mangle", hooks: 0 }],
  ["TOS", { table: "mangle", hooks: 0 }],
  ["DSCP", { table: "mangle", hooks: 0 }],
  ["CLASSIFY", { hooks: H_OUT | H_FWD | H_POST }],
  // xt_NETMAP: nat, PREROUTING/OUTPUT map the destination, POSTROUTING/INPUT the source
  ["NETMAP", { table: "nat", hooks: 0 }],
]);

/** Targets restricted to some hooks: the allowed hook bits. */
const TARGET_HOOKS: ReadonlyMap<string, number> = new Map(
  [...TARGET_PLACE].filter(([, pl]) => pl.hooks !== 0).map(([n, pl]) => [n, pl.hooks]),
);

/**
 * The hooks target `t` is allowed in, undefined for any: TARGET_HOOKS, and
 * TCPMSS --clamp-mss-to-pmtu (tcpmss_tg4_check: "path-MTU clamping only
 * supported in FORWARD, OUTPUT and POSTROUTING hooks").
 */
function targetHooks(t: IptTarget): number | undefined {
  if (t.kind === "TCPMSS") return t.mss === "pmtu" ? H_FWD | H_OUT | H_POST : undefined;
  return TARGET_HOOKS.get(t.kind);
}

function loadTarget(p: RuleCtx, name: string, idx: number): Ext {
  const place = TARGET_PLACE.get(name);
  if (place?.table && place.table !== p.table) {
    throw p.err(idx, `target ${name} is only valid in the ${place.table} table (not ${p.table})`);
  }
  switch (name) {
    case "ACCEPT": return new NoOptTarget(idx, { kind: "ACCEPT" });
    case "DROP":
      if (p.table === "nat") throw p.err(idx, 'the "nat" table is not intended for filtering: DROP is not allowed in it');
      return new NoOptTarget(idx, { kind: "DROP" });
    case "RETURN": return new NoOptTarget(idx, { kind: "RETURN" });
    case "REJECT": return new RejectExt(idx, true);
    case "DNAT": return new NatExt(idx, true);
    case "SNAT": return new NatExt(idx, false);
    case "MASQUERADE": return new MasqRedirExt(idx, false);
    case "REDIRECT": return new MasqRedirExt(idx, true);
    case "MARK": return new MarkTargetExt(idx, false);
    case "CONNMARK": return new MarkTargetExt(idx, true);
    case "LOG": return new LogExt(idx, true);
    case "NFLOG": return new NflogExt(idx, true);
    case "TRACE": return new NoOptTarget(idx, { kind: "TRACE" });
    case "NOTRACK": return new NoOptTarget(idx, { kind: "NOTRACK" });
    case "CT": return new CtExt(idx, true);
    case "TTL": return new TtlTargetExt(idx, true);
    case "DSCP": return new DscpTargetExt(idx, true);
    case "TOS": return new TosTargetExt(idx, true);
    case "CLASSIFY": return new ClassifyExt(idx, true);
    case "TCPMSS": return new TcpmssTargetExt(idx, true);
    case "NETMAP": return new NetmapExt(idx, true);
  }
  throw p.err(idx, `target ${name} is not supported`);
}

/** Every target name iptables knows (standard verdicts, the supported extensions and the others). */
const TARGET_NAMES = new Set<string>([
  ...STANDARD_TARGETS, ...OTHER_TARGETS,
  "REJECT", "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "MARK", "CONNMARK", "LOG", "NFLOG", "TRACE", "NOTRACK", "CT",
  "TTL", "DSCP", "TOS", "CLASSIFY", "TCPMSS", "NETMAP",
]);

function isTargetName(name: string): boolean {
  return TARGET_NAMES.has(name);
}

/* ------------------------------------------------------------------------ */
/* The parser                                                               */
/* ------------------------------------------------------------------------ */

const TABLE_NAMES = new Set<string>(["raw", "mangle", "nat", "filter"]);

/**
 * Parses `iptables-save [-c]` output. Throws InputError (file, line, token,
 * column) on anything iptables-restore or the kernel would refuse, and on
 * what nodeplane does not model (the security table, unsupported
 * matches and targets).
 */
export function parseIptablesSave(text: string, file = "iptables-save.txt"): IptRuleset {
  try {
    return parseText(text, file);
  } finally {
    releaseScratch();
  }
}

/** Drops the scratch state's references to the input (the last line and its words). */
function releaseScratch(): void {
  for (let k = 0; k < W.length; k++) W[k] = undefined;
  WN = 0;
  LINE = "";
  SS = "";
  MATCHES.length = 0;
}

function parseText(text: string, file: string): IptRuleset {
  const tables: IptTable[] = [];
  const seenTables = new Set<string>();
  let cur: TableState | undefined;
  const p = new RuleCtx();
  p.file = file;

  const lines = text.split("\n");
  let nLines = lines.length;
  if (nLines > 0 && lines[nLines - 1] === "") nLines--;

  for (let ln = 0; ln < nLines; ln++) {
    let line = lines[ln]!;
    if (line.length > 0 && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    const lineNo = ln + 1;
    // first non-blank character
    let s = 0;
    const n = line.length;
    let c = 0;
    while (s < n && ((c = line.charCodeAt(s)) === 32 || c === 9)) s++;
    if (s >= n || c === 35 /* # */) continue;

    if (c === 45 /* - */ || c === 91 /* [ */) {
      if (!cur) throw new InputError(file, lineNo, firstWord(line, s), "rule outside a table (no *table line before it)", line, s + 1);
      parseRule(p, cur, line, lineNo, s);
      continue;
    }
    if (c === 58 /* : */) {
      if (!cur) throw new InputError(file, lineNo, firstWord(line, s), "chain declaration outside a table", line, s + 1);
      declareChain(cur, file, line, lineNo, s);
      continue;
    }
    if (c === 42 /* * */) {
      const q = splitWords(line, s + 1);
      if (q || WN !== 1) throw new InputError(file, lineNo, line.slice(s).trim(), "a table line is *NAME alone", line, s + 1);
      const name = word(0);
      if (cur) {
        throw new InputError(file, cur.line, cur.table.name, `table ${cur.table.name} is not committed (no COMMIT before the *${name} line ${lineNo})`, cur.table.src.text, 2);
      }
      if (name === "security") throw new InputError(file, lineNo, name, "the security table is not supported", line, WC[0]);
      if (!TABLE_NAMES.has(name)) throw new InputError(file, lineNo, name, `unknown table ${name} (raw, mangle, nat or filter)`, line, WC[0]);
      if (seenTables.has(name)) throw new InputError(file, lineNo, name, `table ${name} is given twice`, line, WC[0]);
      seenTables.add(name);
      const table: IptTable = { name: name as IptTableName, chains: [], src: { file, line: lineNo, text: line } };
      cur = { table, chains: new WordTable(), line: lineNo, pending: [] };
      continue;
    }
    const q = splitWords(line, s);
    if (!q && WN === 1 && word(0) === "COMMIT") {
      if (!cur) throw new InputError(file, lineNo, "COMMIT", "COMMIT outside a table", line, WC[0]);
      finishTable(cur, file);
      tables.push(cur.table);
      cur = undefined;
      continue;
    }
    throw new InputError(file, lineNo, firstWord(line, s), "unexpected line (expected *table, :chain, a rule, COMMIT or a # comment)", line, s + 1);
  }
  if (cur) {
    throw new InputError(file, cur.line, cur.table.name, `table ${cur.table.name} is not committed (missing COMMIT at the end of the input)`, cur.table.src.text, 2);
  }
  return { tables };
}

function firstWord(line: string, s: number): string {
  let e = s;
  while (e < line.length && line.charCodeAt(e) !== 32 && line.charCodeAt(e) !== 9) e++;
  return line.slice(s, e);
}

function declareChain(t: TableState, file: string, line: string, lineNo: number, s: number): void {
  const q = splitWords(line, s + 1);
  if (q) throw new InputError(file, lineNo, '"', "unterminated quoted string", line, q);
  const colEnd = s + 1;
  if (WN === 0 || WC[0] !== colEnd + 1) throw new InputError(file, lineNo, ":", "a chain declaration is :NAME POLICY [packets:bytes]", line, s + 1);
  const name = word(0);
  const src: SourceRef = { file, line: lineNo, text: line };
  if (name.length > MAX_CHAIN_NAME) throw new InputError(file, lineNo, name, `chain name longer than ${MAX_CHAIN_NAME} characters`, line, WC[0]);
  if (t.chains.has(name)) throw new InputError(file, lineNo, name, `chain ${name} is declared twice`, line, WC[0]);
  if (WN < 2) throw new InputError(file, lineNo, name, `chain ${name} has no policy ("-" for a user chain)`, line, WC[0]);
  if (WN > 3) throw new InputError(file, lineNo, word(3), "unexpected word after the chain's counters", line, WC[3]);
  const policy = word(1);
  let counters: IptCounters = { packets: ZERO, bytes: ZERO };
  if (WN === 3) {
    const cs = wordCounters(2);
    if (!cs) throw new InputError(file, lineNo, word(2), "invalid counters (expected [packets:bytes])", line, WC[2]);
    counters = cs;
  }
  const builtin = BUILTINS[t.table.name].find((b) => b[0] === name);
  let chain: IptChain;
  let hooks = 0;
  if (builtin) {
    if (policy === "-") throw new InputError(file, lineNo, policy, `built-in chain ${name} needs a policy (ACCEPT or DROP), not "-"`, line, WC[1]);
    if (policy !== "ACCEPT" && policy !== "DROP") throw new InputError(file, lineNo, policy, `invalid policy "${policy}" (ACCEPT or DROP)`, line, WC[1]);
    // a DROP policy in nat: `iptables -P` refuses it, but iptables-restore (legacy and nft) and the
    // kernel accept it, so iptables-save can print it: accepted (-j DROP in nat is refused, as by iptables)
    chain = { name, builtin: true, policy, counters, rules: [], src };
    hooks = builtin[1];
  } else {
    if (BUILTIN_NAMES.has(name)) throw new InputError(file, lineNo, name, `${name} is not a built-in chain of table ${t.table.name}`, line, WC[0]);
    if (STANDARD_TARGETS.has(name) || isTargetName(name)) throw new InputError(file, lineNo, name, `chain name ${name} clashes with a target name`, line, WC[0]);
    if (name.charCodeAt(0) === 45 || name === "!") throw new InputError(file, lineNo, name, "invalid chain name", line, WC[0]);
    if (policy !== "-") throw new InputError(file, lineNo, policy, `user chain ${name} cannot have a policy (write "-")`, line, WC[1]);
    chain = { name, builtin: false, counters, rules: [], src };
  }
  t.table.chains.push(chain);
  t.chains.set(name, chainState(chain, hooks));
}

/** Parses one rule line (after the first non-blank at s). */
function parseRule(p: RuleCtx, t: TableState, line: string, lineNo: number, s: number): void {
  const file = p.file;
  const q = splitWords(line, s);
  if (q) throw new InputError(file, lineNo, '"', "unterminated quoted string", line, q);
  p.lineNo = lineNo;
  p.line = line;
  p.table = t.table.name;
  p.proto = undefined;
  p.protoIdx = -1;
  p.exts.length = 0;
  p.implicitTried = false;

  let i = 0;
  let counters: IptCounters | undefined;
  if (line.charCodeAt(s) === 91) {
    counters = wordCounters(0);
    if (!counters) throw p.err(0, "invalid counters (expected [packets:bytes])");
    i = 1;
  }
  const isA = i < WN && !QUOTED[i] && WE[i]! - WB[i]! === 2 && line.charCodeAt(WB[i]!) === 45 && line.charCodeAt(WB[i]! + 1) === 65;
  const a0 = isA ? "-A" : i < WN ? lookupWord(OPTS, i) : undefined;
  if (a0 !== "-A" && a0 !== "--append") {
    throw p.err(i < WN ? i : i - 1, i < WN ? `unexpected "${word(i)}" (iptables-save rules start with -A CHAIN)` : "counters without a rule");
  }
  if (i + 1 >= WN) throw p.err(i, "-A needs a chain name");
  // rules of a chain come together: remember the last chain looked up; its new rules are
  // collected in t.pending and moved into an array of the exact size when the chain changes
  let cs = t.last;
  if (!cs || !wordIs(i + 1, cs.chain.name)) {
    cs = lookupWord(t.chains, i + 1);
    if (!cs) throw p.err(i + 1, `rule in undeclared chain ${word(i + 1)} (table ${t.table.name})`);
    flushPending(t);
    t.last = cs;
  }
  i += 2;
  // the rule text: from the first word after the chain to the end, trailing blanks dropped
  let textStart = line.length;
  if (i < WN) textStart = WC[i]! - 1;
  let te = line.length;
  while (te > textStart && (line.charCodeAt(te - 1) === 32 || line.charCodeAt(te - 1) === 9)) te--;

  // the ip part, collected here; the rule object is made once at the end
  let src: IptAddr | undefined;
  let dst: IptAddr | undefined;
  let inIface: IptIface | undefined;
  let outIface: IptIface | undefined;
  let proto: { num: number; inv: boolean } | undefined;
  let fragment: { inv: boolean } | undefined;

  let inv = false;
  let invIdx = -1;
  let jumpTo: ChainState | undefined;
  let jumpGoto = false;
  let targetIdx = -1;
  const exts = p.exts;


  while (i < WN) {
    // the option's constant string (undefined if it is no option iptables knows here)
    const opt = lookupWord(OPTS, i);
    if (opt === "!") {
      if (inv) throw p.err(i, 'multiple "!" flags');
      inv = true;
      invIdx = i;
      i++;
      continue;
    }
    const code = opt !== undefined ? BASE_CODES.get(opt) ?? 0 : 0;
    switch (code) {
      case O_SRC:
      case O_DST: {
        const isDst = code === O_DST;
        if (isDst ? dst : src) throw p.err(i, `multiple ${opt} options`);
        p.need(i + 1, i);
        const a = parseAddrAt(p, i + 1, inv);
        if (isDst) dst = a;
        else src = a;
        i += 2;
        break;
      }
      case O_IN:
      case O_OUT: {
        const out = code === O_OUT;
        if (out ? outIface : inIface) throw p.err(i, `multiple ${opt} options`);
        const v = p.arg(i + 1, i);
        if (v.length === 0 || v.length > 15) throw p.err(i + 1, `interface name "${v}" must have 1..15 characters`);
        const wild = v.charCodeAt(v.length - 1) === 43;
        const iface: IptIface = { name: wild ? v.slice(0, -1) : v, wildcard: wild, inv };
        if (out) outIface = iface;
        else inIface = iface;
        i += 2;
        break;
      }
      case O_PROTO: {
        if (proto) throw p.err(i, `multiple ${opt} options`);
        p.need(i + 1, i);
        const num = protoAt(p, i + 1);
        if (num === 0 && inv) throw p.err(i + 1, "rule would never match protocol (! -p all)");
        proto = { num, inv };
        p.proto = proto;
        p.protoIdx = i;
        i += 2;
        break;
      }
      case O_FRAG:
        if (fragment) throw p.err(i, `multiple ${opt} options`);
        fragment = { inv };
        i += 1;
        break;
      case O_MATCH: {
        if (inv) throw p.err(invIdx, `"!" cannot precede ${opt}`);
        p.need(i + 1, i);
        exts.push(loadMatch(p, lookupWord(MATCH_TABLE, i + 1) ?? word(i + 1), i + 1, false));
        i += 2;
        break;
      }
      case O_JUMP:
      case O_GOTO: {
        if (inv) throw p.err(invIdx, `"!" cannot precede ${opt}`);
        if (targetIdx >= 0) throw p.err(i, "multiple -j/-g options");
        targetIdx = i;
        p.need(i + 1, i);
        const goto = code === O_GOTO;
        const to = lookupWord(t.chains, i + 1);
        if (to && !to.chain.builtin) {
          jumpTo = to;
          jumpGoto = goto;
        } else {
          const tname = lookupWord(TARGET_TABLE, i + 1);
          const name = tname ?? word(i + 1);
          if (to || BUILTIN_NAMES.has(name)) {
            throw p.err(i + 1, `cannot ${goto ? "goto" : "jump to"} built-in chain ${name}`);
          } else if (goto) {
            if (tname !== undefined) throw p.err(i + 1, `goto ${name}: not a chain`);
            throw p.err(i + 1, `goto to undeclared chain ${name} (table ${t.table.name})`);
          } else if (tname !== undefined) {
            exts.push(loadTarget(p, tname, i + 1));
          } else {
            throw p.err(i + 1, `jump to undeclared chain ${name} (table ${t.table.name}); if it is a target, target ${name} is not supported`);
          }
        }
        i += 2;
        break;
      }
      case O_COUNTERS: {
        if (inv) throw p.err(invIdx, `"!" cannot precede ${opt}`);
        const a = p.arg(i + 1, i);
        const b = p.arg(i + 2, i);
        const pk = counterAt(a, 0, a.length);
        const by = counterAt(b, 0, b.length);
        if (pk === undefined || by === undefined) throw p.err(i, "invalid -c counters");
        counters = { packets: pk, bytes: by };
        i += 3;
        break;
      }
      default: {
        if (opt === undefined) {
          if (word(i).charCodeAt(0) !== 45) throw p.err(i, `unexpected word "${word(i)}"`);
          throw p.err(i, `unknown option ${word(i)}`);
        }
        if (code !== 0 || opt === "-A" || opt === "--append") throw p.err(i, `unexpected ${opt} inside a rule`);
        i = extOption(p, opt, i, inv, invIdx);
        break;
      }
    }
    inv = false;
  }
  if (inv) throw p.err(invIdx, '"!" at the end of the rule');

  let nm = 0;
  let allowed = ALL_HOOKS;
  let tgt: IptTarget | undefined;
  for (let k = 0; k < exts.length; k++) {
    const e = exts[k]!;
    const r = e.finish(p);
    if (!e.isTarget) MATCHES[nm++] = r as IptMatch;
    else tgt = r as IptTarget;
    if (e instanceof OwnerExt) allowed &= H_OUT | H_POST;
    else if (e instanceof RpfilterExt) allowed &= H_PRE;
    else if (e instanceof AddrtypeExt) {
      if (e.limitIn) allowed &= H_PRE | H_IN | H_FWD;
      if (e.limitOut) allowed &= H_FWD | H_OUT | H_POST;
    }
  }
  if (jumpTo) tgt = jumpGoto ? { kind: "goto", chain: jumpTo.chain.name } : { kind: "jump", chain: jumpTo.chain.name };
  else if (tgt) allowed &= targetHooks(tgt) ?? ALL_HOOKS;

  // every field present (undefined when absent): one object shape for all rules; matches in an
  // array of the exact size (a pushed-to [] reserves 17 slots)
  const rule: IptRule = {
    table: t.table.name,
    chain: cs.chain.name,
    index: cs.chain.rules.length + t.pending.length + 1,
    counters,
    src,
    dst,
    inIface,
    outIface,
    proto,
    fragment,
    matches: nm > 0 ? MATCHES.slice(0, nm) : [],
    target: tgt ?? { kind: "none" },
    text: line.slice(textStart, te),
    srcRef: { file, line: lineNo, text: line },
  };

  // the kernel's walk from a hook stops at the first unconditional ACCEPT/DROP/RETURN: later rules are
  // never reached, so they add no edges and no hook restrictions
  if (cs.cutoff === Infinity) {
    if (jumpTo) {
      if (cs.edges) {
        cs.edges.push(jumpTo);
        cs.edgeRules!.push(rule);
      } else {
        cs.edges = [jumpTo];
        cs.edgeRules = [rule];
      }
    }
    cs.allowed &= allowed;
    if (isUnconditionalVerdict(rule)) cs.cutoff = rule.index;
  }
  t.pending.push(rule);
}

/** Moves the rules collected for t.last into its chain. */
function flushPending(t: TableState): void {
  const pend = t.pending;
  if (pend.length === 0 || !t.last) return;
  const rules = t.last.chain.rules;
  t.last.chain.rules = rules.length === 0 ? pend.slice() : rules.concat(pend);
  pend.length = 0;
}

/** Scratch list of a rule's matches. */
const MATCHES: IptMatch[] = [];

/** Base (non-extension) options of a rule, by code. */
const O_SRC = 1;
const O_DST = 2;
const O_IN = 3;
const O_OUT = 4;
const O_PROTO = 5;
const O_FRAG = 6;
const O_MATCH = 7;
const O_JUMP = 8;
const O_GOTO = 9;
const O_COUNTERS = 10;
const SHORT_OPTS = new Uint8Array(128);
for (const [ch, code] of [["s", O_SRC], ["d", O_DST], ["i", O_IN], ["o", O_OUT], ["p", O_PROTO], ["f", O_FRAG],
  ["m", O_MATCH], ["j", O_JUMP], ["g", O_GOTO], ["c", O_COUNTERS]] as const) SHORT_OPTS[ch.charCodeAt(0)] = code;
const LONG_OPTS: ReadonlyMap<string, number> = new Map([
  ["--source", O_SRC], ["--destination", O_DST], ["--in-interface", O_IN], ["--out-interface", O_OUT],
  ["--protocol", O_PROTO], ["--fragment", O_FRAG], ["--match", O_MATCH], ["--jump", O_JUMP], ["--goto", O_GOTO],
  ["--set-counters", O_COUNTERS],
]);

/** Base option strings and their codes. */
const BASE_CODES: ReadonlyMap<string, number> = new Map([
  ...[...LONG_OPTS],
  ...["s", "d", "i", "o", "p", "f", "m", "j", "g", "c"].map((ch): [string, number] => [`-${ch}`, SHORT_OPTS[ch.charCodeAt(0)]!]),
]);

/** Every option word iptables knows here (base options, "!", -A and the options of all extensions). */
const OPTS = canonTable([
  "!", "-A", "--append", ...BASE_CODES.keys(),
  ...[
    CommentExt.O, TcpUdpExt.OT, TcpUdpExt.OU, IcmpExt.O, MultiportExt.O, SctpExt.O, DccpExt.O, AddrtypeExt.O, MarkMatchExt.O, ConntrackExt.O,
    StateExt.O, StatisticExt.O, RecentExt.O, NfacctExt.O, LimitExt.O, OwnerExt.O, LengthExt.O, SetExt.O, RpfilterExt.O,
    PkttypeExt.O, IprangeExt.O, TtlExt.O, TosExt.O, DscpExt.O, EcnExt.O, TcpmssExt.O, RejectExt.O, NatExt.OD,
    NatExt.OS, MasqRedirExt.OM, MasqRedirExt.OR, MarkTargetExt.OM, MarkTargetExt.OC, LogExt.O, NflogExt.O, CtExt.O,
    TtlTargetExt.O, DscpTargetExt.O, TosTargetExt.O, ClassifyExt.O, TcpmssTargetExt.O, NetmapExt.O,
  ].flatMap((m) => [...m.keys()]),
]);

/** Match names loadMatch knows (others are "not supported"). */
const MATCH_TABLE = canonTable([
  "comment", "tcp", "udp", "icmp", "multiport", "sctp", "dccp", "addrtype", "mark", "connmark", "conntrack", "state", "statistic",
  "recent", "nfacct", "limit", "owner", "length", "set", "pkttype", "iprange", "ttl", "tos", "dscp", "ecn", "tcpmss",
]);

/** Target names iptables knows. */
const TARGET_TABLE = canonTable(TARGET_NAMES);

/** Whether word k is exactly the string s. */
function wordIs(k: number, s: string): boolean {
  return QUOTED[k] ? W[k] === s : WE[k]! - WB[k]! === s.length && sameAt(LINE, WB[k]!, s);
}

/** Dispatches an extension option to the most recently loaded extension that knows it (as xtables merges options). */
function extOption(p: RuleCtx, w: string, i: number, inv: boolean, invIdx: number): number {
  const exts = p.exts;
  for (;;) {
    for (let k = exts.length - 1; k >= 0; k--) {
      const e = exts[k]!;
      const spec = e.opts.get(w);
      if (!spec) continue;
      if (inv && !spec.inv) throw p.err(invIdx, `"!" cannot precede ${w}`);
      const bit = 1 << spec.id;
      if ((e.seen & bit) && !spec.multi) throw p.err(i, `option ${w} given twice`);
      for (let a = 1; a <= spec.nargs; a++) p.arg(i + a, i);
      e.opt(p, spec.id, inv, i);
      e.seen |= bit;
      if (e.optStart < 0) e.optStart = WC[i]! - 1;
      e.optEnd = WE[i + spec.nargs]!;
      return i + 1 + spec.nargs;
    }
    // the implicit match of -p tcp/udp/icmp, loaded on its first unknown option
    if (!p.implicitTried && p.proto && !p.proto.inv) {
      p.implicitTried = true;
      const n = p.proto.num;
      const name = n === P_TCP ? "tcp" : n === P_UDP ? "udp" : n === P_ICMP ? "icmp" : n === P_SCTP ? "sctp" : n === P_DCCP ? "dccp" : "";
      if (name) {
        exts.push(loadMatch(p, name, p.protoIdx + 1, true));
        continue;
      }
    }
    throw p.err(i, `unknown option ${w}`);
  }
}

function isUnconditionalVerdict(r: IptRule): boolean {
  const k = r.target.kind;
  if (k !== "ACCEPT" && k !== "DROP" && k !== "RETURN") return false;
  if (r.matches.length > 0 || r.fragment) return false;
  if (r.src && (r.src.plen !== 0 || r.src.inv)) return false;
  if (r.dst && (r.dst.plen !== 0 || r.dst.inv)) return false;
  if (r.proto && (r.proto.num !== 0 || r.proto.inv)) return false;
  const anyIface = (f: IptIface | undefined) => f !== undefined && !(f.wildcard && f.name === "" && !f.inv);
  return !anyIface(r.inIface) && !anyIface(r.outIface);
}

function hookList(bits: number): string {
  const out: string[] = [];
  for (let h = 0; h < 5; h++) if (bits & (1 << h)) out.push(HOOK_NAMES[h]!);
  return out.join(", ");
}

/** Column of the word after `flags` (e.g. "-j") whose value is `value` in a rule line, or undefined. */
function columnOf(line: string, flags: string[], value: string): number | undefined {
  for (const f of flags) {
    const k = line.indexOf(` ${f} ${value}`);
    if (k >= 0) return k + f.length + 3;
  }
  return undefined;
}

/** The hook restriction a rule breaks, if any, as an InputError naming the target or match. */
function hookProblem(r: IptRule, hooks: number): InputError | undefined {
  const line = r.srcRef.text;
  const fail = (token: string, flags: string[], what: string, allowed: number): InputError | undefined => {
    const bad = hooks & ~allowed;
    if (!bad) return undefined;
    const via = BUILTIN_NAMES.has(r.chain) ? "" : ` (chain ${r.chain} is reached from ${hookList(bad)})`;
    return new InputError(r.srcRef.file, r.srcRef.line, token,
      `${what} is not allowed in ${hookList(bad)}${via}; it is valid in ${hookList(allowed)}`, line, columnOf(line, flags, token));
  };
  const tname = r.target.kind;
  const allowed = targetHooks(r.target);
  if (allowed !== undefined) {
    const clamp = r.target.kind === "TCPMSS";
    const e = fail(tname, ["-j", "--jump"], clamp ? "target TCPMSS --clamp-mss-to-pmtu (path-MTU clamping)" : `target ${tname}`, allowed);
    if (e) return e;
  }
  for (const m of r.matches) {
    let e: InputError | undefined;
    if (m.kind === "owner") e = fail("owner", ["-m", "--match"], "match owner", H_OUT | H_POST);
    else if (m.kind === "addrtype" && m.limitIfaceIn) e = fail("addrtype", ["-m", "--match"], "addrtype --limit-iface-in", H_PRE | H_IN | H_FWD);
    else if (m.kind === "addrtype" && m.limitIfaceOut) e = fail("addrtype", ["-m", "--match"], "addrtype --limit-iface-out", H_FWD | H_OUT | H_POST);
    else if (m.kind === "rpfilter") e = fail("rpfilter", ["-m", "--match"], "match rpfilter", H_PRE);
    if (e) return e;
  }
  return undefined;
}

/**
 * At COMMIT: adds missing built-in chains, refuses loops among the chains
 * reachable from a hook, works out which hooks reach each chain (as the
 * kernel's mark_source_chains: along jumps and gotos, up to the first
 * unconditional verdict of a chain) and checks the hook restrictions of
 * targets and matches (the kernel's xt_check_target/xt_check_match).
 */
function finishTable(t: TableState, file: string): void {
  const table = t.table;
  flushPending(t);
  // built-in chains iptables-restore would keep even if not declared
  const builtins = BUILTINS[table.name];
  if (builtins.some(([n]) => !t.chains.has(n))) {
    const firstUser = table.chains.findIndex((c) => !c.builtin);
    const missing: IptChain[] = [];
    for (const [n, h] of builtins) {
      if (t.chains.has(n)) continue;
      const chain: IptChain = { name: n, builtin: true, policy: "ACCEPT", counters: { packets: ZERO, bytes: ZERO }, rules: [], src: table.src };
      missing.push(chain);
      t.chains.set(n, chainState(chain, h));
    }
    table.chains.splice(firstUser < 0 ? table.chains.length : firstUser, 0, ...missing);
  }

  // depth-first from the built-in chains: loops, and the finishing order
  const post: ChainState[] = [];
  const stack: ChainState[] = [];
  const next: number[] = [];
  for (const [n] of builtins) {
    const root = t.chains.get(n)!;
    if (root.mark) continue;
    root.mark = 1;
    stack.push(root);
    next.push(0);
    while (stack.length > 0) {
      const top = stack.length - 1;
      const c = stack[top]!;
      const k = next[top]!;
      if (!c.edges || k >= c.edges.length) {
        c.mark = 2;
        post.push(c);
        stack.pop();
        next.pop();
        continue;
      }
      next[top] = k + 1;
      const to = c.edges[k]!;
      if (to.mark === 1) {
        const r = c.edgeRules![k]!;
        const name = to.chain.name;
        throw new InputError(file, r.srcRef.line, name, `jumping to ${name} here makes a loop (the kernel refuses the table)`,
          r.srcRef.text, columnOf(r.srcRef.text, ["-j", "-g", "--jump", "--goto"], name));
      }
      if (to.mark === 0) {
        to.mark = 1;
        stack.push(to);
        next.push(0);
      }
    }
  }

  // hooks flow along the edges in topological order (the reverse finishing order), one pass
  for (let k = post.length - 1; k >= 0; k--) {
    const c = post[k]!;
    if (!c.edges) continue;
    for (const to of c.edges) to.hooks |= c.hooks;
  }

  // hook restrictions: only a chain whose hooks some reached rule does not allow needs a look
  for (const c of post) {
    if ((c.hooks & ~c.allowed) === 0) continue;
    const rules = c.chain.rules;
    for (let k = 0, e = Math.min(c.cutoff, rules.length); k < e; k++) {
      const err = hookProblem(rules[k]!, c.hooks);
      if (err) throw err;
    }
  }
}
