/**
 * `ipset save` output (a snapshot's ipset.txt): `create NAME TYPE [options]`
 * and `add NAME ELEMENT [options]` lines, as ipset 7 prints them.
 *
 * Modelled types (the ones kube-proxy's IPVS mode and network policy agents
 * such as Calico use): hash:ip, hash:net, hash:ip,port, hash:net,port,
 * hash:ip,port,ip, hash:ip,port,net, bitmap:port, bitmap:ip and list:set.
 * inet6 sets are read (their names exist for rules) but IPv4 rules never
 * match them, as ip_set_test's family check has it. Anything else, and
 * elements that expire (`timeout` above 0), is refused with an error naming
 * the file, line and token: the emulator does not guess.
 */
import { InputError } from "../snapshot/errors.js";
import { parseIPv4, maskOf } from "../util/ipv4.js";
import { PROTO_NAMES } from "../netfilter/parse.js";

export type IpSetType =
  | "hash:ip" | "hash:net" | "hash:ip,port" | "hash:net,port" | "hash:ip,port,ip" | "hash:ip,port,net"
  | "bitmap:port" | "bitmap:ip" | "list:set";

/** One element. Unused fields are 0; `cidr` is the prefix length of the type's net dimension. */
export interface IpSetElem {
  a: number;
  b: number;
  port: number;
  proto: number;
  cidr: number;
  nomatch: boolean;
}

export interface IpSetDef {
  name: string;
  type: IpSetType;
  family: "inet" | "inet6";
  /** The type's dimension (the number of src/dst flags a match needs). */
  dim: number;
  /** hash:ip netmask (prefix length, 32 without one); bitmap:ip netmask. */
  netmask: number;
  /** bitmap:port first..last port, bitmap:ip first..last address. */
  first: number;
  last: number;
  elems: IpSetElem[];
  /** list:set members, in order. */
  members: string[];
  line: number;
}

export interface IpSets {
  file: string;
  sets: IpSetDef[];
  byName: Map<string, IpSetDef>;
}

const DIM: Record<IpSetType, number> = {
  "hash:ip": 1, "hash:net": 1, "hash:ip,port": 2, "hash:net,port": 2, "hash:ip,port,ip": 3, "hash:ip,port,net": 3,
  "bitmap:port": 1, "bitmap:ip": 1, "list:set": 1,
};
/** Types with `nomatch` elements (IPSET_TYPE_NOMATCH). */
export const NOMATCH_TYPES: ReadonlySet<IpSetType> = new Set<IpSetType>(["hash:net", "hash:net,port", "hash:ip,port,net"]);
/** Types known to ipset but not modelled. */
const OTHER_TYPES = new Set(["hash:net,net", "hash:net,port,net", "hash:net,iface", "hash:ip,mark", "hash:mac", "hash:ip,mac", "bitmap:ip,mac"]);

/** ICMP type/code names as ipset prints them (libipset's icmp table). */
export const ICMP_NAMES: ReadonlyMap<string, number> = new Map([
  ["echo-reply", 0x0000], ["pong", 0x0000],
  ["network-unreachable", 0x0300], ["host-unreachable", 0x0301], ["protocol-unreachable", 0x0302],
  ["port-unreachable", 0x0303], ["fragmentation-needed", 0x0304], ["source-route-failed", 0x0305],
  ["network-unknown", 0x0306], ["host-unknown", 0x0307], ["network-prohibited", 0x0309],
  ["host-prohibited", 0x030a], ["TOS-network-unreachable", 0x030b], ["TOS-host-unreachable", 0x030c],
  ["communication-prohibited", 0x030d], ["host-precedence-violation", 0x030e], ["precedence-cutoff", 0x030f],
  ["source-quench", 0x0400], ["network-redirect", 0x0500], ["host-redirect", 0x0501],
  ["TOS-network-redirect", 0x0502], ["TOS-host-redirect", 0x0503], ["echo-request", 0x0800], ["ping", 0x0800],
  ["router-advertisement", 0x0900], ["router-solicitation", 0x0a00], ["ttl-zero-during-transit", 0x0b00],
  ["ttl-zero-during-reassembly", 0x0b01], ["ip-header-bad", 0x0c00], ["required-option-missing", 0x0c01],
  ["timestamp-request", 0x0d00], ["timestamp-reply", 0x0e00], ["address-mask-request", 0x1100],
  ["address-mask-reply", 0x1200],
]);

/** Words of a line with their columns; a double-quoted word (a comment) is one word without its quotes. */
function words(line: string): { w: string; col: number }[] {
  const out: { w: string; col: number }[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && (line[i] === " " || line[i] === "\t")) i++;
    if (i >= n) break;
    const col = i + 1;
    if (line[i] === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) { out.push({ w: line.slice(i), col }); break; }
      out.push({ w: line.slice(i + 1, end), col });
      i = end + 1;
      continue;
    }
    const s = i;
    while (i < n && line[i] !== " " && line[i] !== "\t") i++;
    out.push({ w: line.slice(s, i), col });
  }
  return out;
}

function uint(s: string, max: number): number {
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(s)) return -1;
  const v = Number(s);
  return v > max ? -1 : v;
}

/** Create options with a value, per type family ("*" = all types). */
const CREATE_VALUE_OPTS = new Set(["family", "hashsize", "maxelem", "netmask", "bucketsize", "initval", "timeout", "range", "size", "resize", "markmask", "bitmask"]);
const CREATE_FLAG_OPTS = new Set(["counters", "comment", "skbinfo", "forceadd"]);

/**
 * Parses `ipset save` text. Errors name the file, line and token (InputError).
 */
export function parseIpsetSave(text: string, file = "ipset.txt"): IpSets {
  const sets: IpSetDef[] = [];
  const byName = new Map<string, IpSetDef>();
  const lines = text.split("\n");
  for (let ln = 0; ln < lines.length; ln++) {
    let line = lines[ln]!;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    const lineNo = ln + 1;
    const ws = words(line);
    if (ws.length === 0 || ws[0]!.w.startsWith("#")) continue;
    const err = (k: number, problem: string): InputError =>
      k < ws.length ? new InputError(file, lineNo, ws[k]!.w, problem, line, ws[k]!.col) : new InputError(file, lineNo, "", problem, line);
    const cmd = ws[0]!.w;
    if (cmd !== "create" && cmd !== "add") {
      throw err(0, cmd === "-exist" || cmd.startsWith("-")
        ? "only `ipset save` lines (create NAME TYPE ..., add NAME ELEMENT ...) are read"
        : `unknown command (ipset save writes "create" and "add" lines)`);
    }
    if (ws.length < 3) throw err(ws.length, `${cmd} needs a set name and ${cmd === "create" ? "a type" : "an element"}`);
    const name = ws[1]!.w;
    if (cmd === "create") {
      if (name.length > 31) throw err(1, "set name longer than 31 characters (IPSET_MAXNAMELEN)");
      if (byName.has(name)) throw err(1, `set ${name} is created twice`);
      const typeWord = ws[2]!.w;
      if (OTHER_TYPES.has(typeWord)) throw err(2, `set type ${typeWord} is not modelled (hash:ip, hash:net, hash:ip,port, hash:net,port, hash:ip,port,ip, hash:ip,port,net, bitmap:port, bitmap:ip and list:set are)`);
      if (!(typeWord in DIM)) throw err(2, "unknown set type");
      const type = typeWord as IpSetType;
      const set: IpSetDef = { name, type, family: "inet", dim: DIM[type], netmask: 32, first: 0, last: 0, elems: [], members: [], line: lineNo };
      let haveRange = false;
      for (let k = 3; k < ws.length; k++) {
        const opt = ws[k]!.w;
        if (CREATE_FLAG_OPTS.has(opt)) continue; // extensions whose data the tests do not read
        if (!CREATE_VALUE_OPTS.has(opt)) throw err(k, "unknown create option");
        if (k + 1 >= ws.length) throw err(k, `option ${opt} needs a value`);
        const v = ws[++k]!.w;
        switch (opt) {
          case "family":
            if (v !== "inet" && v !== "inet6") throw err(k, "family is inet or inet6");
            if (type.startsWith("bitmap:") || type === "list:set") throw err(k - 1, `${type} has no family option`);
            set.family = v;
            break;
          case "timeout":
            if (uint(v, 2147483) < 0) throw err(k, "invalid timeout");
            if (Number(v) !== 0) throw err(k, "sets whose elements expire (timeout above 0) are not modelled");
            break;
          case "netmask": {
            if (type !== "hash:ip" && type !== "bitmap:ip") throw err(k - 1, `netmask is not an option of ${type} here (hash:ip and bitmap:ip have it)`);
            const m = uint(v, 32);
            if (m < 1) throw err(k, "invalid netmask (a prefix length 1..32)");
            set.netmask = m;
            break;
          }
          case "range": {
            if (type === "bitmap:port") {
              const m = /^([0-9]+)-([0-9]+)$/.exec(v);
              const lo = m ? uint(m[1]!, 65535) : -1, hi = m ? uint(m[2]!, 65535) : -1;
              if (lo < 0 || hi < 0 || lo > hi) throw err(k, "invalid port range (FROM-TO)");
              set.first = lo; set.last = hi;
            } else if (type === "bitmap:ip") {
              const r = ipRange(v);
              if (!r) throw err(k, "invalid address range (FROM-TO or ADDRESS/CIDR)");
              set.first = r[0]; set.last = r[1];
            } else throw err(k - 1, `range is not an option of ${type}`);
            haveRange = true;
            break;
          }
          case "bitmask": case "markmask":
            throw err(k - 1, `${opt} is not modelled`);
          default:
            if (uint(v, 0xffffffff) < 0) throw err(k, `invalid ${opt}`);
        }
      }
      if (type.startsWith("bitmap:") && !haveRange) throw err(2, `${type} needs a range`);
      if (type === "bitmap:ip") {
        // init_map_ip: the range is taken under the netmask, at most 65536 elements
        const mask = maskOf(set.netmask);
        set.first = (set.first & mask) >>> 0;
        set.last = ((set.last & mask) | (~mask >>> 0)) >>> 0;
        const hosts = 2 ** (32 - set.netmask);
        if ((set.last - set.first + 1) / hosts > 65536) throw err(2, "bitmap:ip range too large (more than 65536 elements)");
      }
      sets.push(set);
      byName.set(name, set);
      continue;
    }
    // add
    const set = byName.get(name);
    if (!set) throw err(1, `set ${name} does not exist (no create line before it)`);
    let nomatch = false;
    for (let k = 3; k < ws.length; k++) {
      const opt = ws[k]!.w;
      if (opt === "nomatch") {
        if (!NOMATCH_TYPES.has(set.type)) throw err(k, `nomatch is not an option of ${set.type}`);
        nomatch = true;
        continue;
      }
      if (opt === "timeout") {
        if (k + 1 >= ws.length) throw err(k, "option timeout needs a value");
        const v = ws[++k]!.w;
        if (uint(v, 2147483) < 0) throw err(k, "invalid timeout");
        if (Number(v) !== 0) throw err(k, "elements that expire (timeout above 0) are not modelled");
        continue;
      }
      if (opt === "packets" || opt === "bytes" || opt === "comment" || opt === "skbmark" || opt === "skbprio" || opt === "skbqueue") {
        if (k + 1 >= ws.length) throw err(k, `option ${opt} needs a value`);
        k++; // extension data the tests do not read
        continue;
      }
      throw err(k, "unknown element option");
    }
    if (set.family === "inet6") continue; // IPv4 rules never test an inet6 set's elements
    if (set.type === "list:set") {
      const m = byName.get(ws[2]!.w);
      if (!m) throw err(2, `set ${ws[2]!.w} does not exist`);
      if (m.type === "list:set") throw err(2, "a list:set cannot hold another list:set");
      if (set.members.includes(m.name)) throw err(2, `set ${m.name} is already a member`);
      set.members.push(m.name);
      continue;
    }
    set.elems.push(parseElem(set, ws[2]!.w, nomatch, (problem) => err(2, problem)));
  }
  return { file, sets, byName };
}

/** "A-B" or "A/N" as [first, last]. */
function ipRange(v: string): [number, number] | undefined {
  const dash = v.indexOf("-");
  if (dash >= 0) {
    const a = parseIPv4(v.slice(0, dash)), b = parseIPv4(v.slice(dash + 1));
    if (a === undefined || b === undefined || a > b) return undefined;
    return [a, b];
  }
  const n = parseNet(v);
  if (!n) return undefined;
  return [n.addr, (n.addr | (~maskOf(n.cidr) >>> 0)) >>> 0];
}

/** "A" (cidr 32) or "A/N", N 1..32; host bits are cleared. */
function parseNet(v: string): { addr: number; cidr: number } | undefined {
  const slash = v.indexOf("/");
  const a = parseIPv4(slash < 0 ? v : v.slice(0, slash));
  if (a === undefined) return undefined;
  let cidr = 32;
  if (slash >= 0) {
    cidr = uint(v.slice(slash + 1), 32);
    if (cidr < 1 || !/^[0-9]+$/.test(v.slice(slash + 1))) return undefined;
  }
  return { addr: (a & maskOf(cidr)) >>> 0, cidr };
}

/** "[PROTO:]PORT" as ipset reads it (tcp when no protocol is given); ICMP's port is type << 8 | code. */
function parsePortProto(v: string, fail: (p: string) => InputError): { port: number; proto: number } {
  const colon = v.indexOf(":");
  if (colon < 0) {
    const port = uint(v, 65535);
    if (port < 0) throw fail(`invalid port "${v}"`);
    return { port, proto: 6 };
  }
  const pw = v.slice(0, colon), rest = v.slice(colon + 1);
  let proto = uint(pw, 255);
  if (proto < 0) proto = PROTO_NAMES.get(pw.toLowerCase()) ?? -1;
  if (proto <= 0) throw fail(`invalid protocol "${pw}"`);
  if (proto === 58) throw fail("protocol ICMPv6 can be used with family inet6 only");
  if (proto === 1) {
    const named = ICMP_NAMES.get(rest);
    if (named !== undefined) return { port: named, proto };
    const m = /^([0-9]+)\/([0-9]+)$/.exec(rest);
    const t = m ? uint(m[1]!, 255) : -1, c = m ? uint(m[2]!, 255) : -1;
    if (t < 0 || c < 0) throw fail(`invalid ICMP type/code "${rest}"`);
    return { port: (t << 8) | c, proto };
  }
  const port = uint(rest, 65535);
  if (port < 0) throw fail(`invalid port "${rest}"`);
  // hash_ipport4_uadt: protocols without ports keep port 0
  const withPorts = proto === 6 || proto === 17 || proto === 132 || proto === 136;
  return { port: withPorts ? port : 0, proto };
}

function parseElem(set: IpSetDef, v: string, nomatch: boolean, fail: (p: string) => InputError): IpSetElem {
  const parts = v.split(",");
  const e: IpSetElem = { a: 0, b: 0, port: 0, proto: 0, cidr: 0, nomatch };
  const want = set.type === "bitmap:port" || set.type === "bitmap:ip" || set.type === "hash:ip" || set.type === "hash:net" ? 1 : set.dim;
  if (parts.length !== want) throw fail(`a ${set.type} element has ${want} part${want > 1 ? "s" : ""} separated by commas`);
  const host = (s: string): number => {
    const a = parseIPv4(s);
    if (a === undefined) throw fail(`invalid IPv4 address "${s}" (ipset save writes single addresses)`);
    return a;
  };
  const net = (s: string): { addr: number; cidr: number } => {
    const n = parseNet(s);
    if (!n) throw fail(`invalid network "${s}" (ADDRESS or ADDRESS/1..32)`);
    return n;
  };
  switch (set.type) {
    case "hash:ip": {
      const a = host(parts[0]!);
      e.a = (a & maskOf(set.netmask)) >>> 0;
      if (e.a === 0) throw fail("address 0.0.0.0 cannot be an element of hash:ip");
      break;
    }
    case "hash:net": { const n = net(parts[0]!); e.a = n.addr; e.cidr = n.cidr; break; }
    case "hash:ip,port": { e.a = host(parts[0]!); Object.assign(e, parsePortProto(parts[1]!, fail)); break; }
    case "hash:net,port": { const n = net(parts[0]!); e.a = n.addr; e.cidr = n.cidr; Object.assign(e, parsePortProto(parts[1]!, fail)); break; }
    case "hash:ip,port,ip": { e.a = host(parts[0]!); Object.assign(e, parsePortProto(parts[1]!, fail)); e.b = host(parts[2]!); break; }
    case "hash:ip,port,net": {
      e.a = host(parts[0]!); Object.assign(e, parsePortProto(parts[1]!, fail));
      const n = net(parts[2]!); e.b = n.addr; e.cidr = n.cidr;
      break;
    }
    case "bitmap:port": {
      const pp = parts[0]!.includes(":") ? parsePortProto(parts[0]!, fail) : { port: uint(parts[0]!, 65535), proto: 6 };
      if (pp.port < 0) throw fail(`invalid port "${parts[0]}"`);
      if (pp.port < set.first || pp.port > set.last) throw fail(`port ${pp.port} is outside the set's range ${set.first}-${set.last}`);
      e.port = pp.port;
      break;
    }
    case "bitmap:ip": {
      const a = host(parts[0]!);
      if (a < set.first || a > set.last) throw fail("address outside the set's range");
      e.a = a;
      break;
    }
    case "list:set": break;
  }
  return e;
}
