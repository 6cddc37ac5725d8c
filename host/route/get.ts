/**
 * `nodeplane route get`: the same question and the same answer as
 * `ip route get` (iproute2's print_route for a cloned route, fed by the
 * kernel's inet_rtm_getroute / rt_fill_info).
 */
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { parseIPv4Iproute2 as parseIPv4, formatIPv4 } from "../util/ipv4.js";
import { InputError } from "../snapshot/errors.js";

export interface RouteGetQuery {
  dst: number;
  src?: number;
  iif?: string;
  oif?: string;
  mark?: number;
  tos?: number;
  ipproto?: number;
  sport?: number;
  dport?: number;
  uid?: number;
}

export interface RouteGetAnswer {
  /** 0 or a negative errno. */
  err: number;
  /** What `ip route get` prints: two lines, or "RTNETLINK answers: ..." on error. */
  text: string;
  type?: number;
  dev?: string;
  gateway?: string;
  src?: string;
  table?: number;
  /** The snapshot lines that decided, when known. */
  ipRule?: string;
  ipRoute?: string;
}

const STRERROR: Record<number, string> = {
  3: "No such process", 11: "Resource temporarily unavailable", 13: "Permission denied", 18: "Invalid cross-device link",
  19: "No such device", 22: "Invalid argument", 101: "Network is unreachable", 113: "No route to host",
};

const TYPE_NAMES: Record<number, string> = {
  [abi.RTN_UNSPEC]: "none", [abi.RTN_UNICAST]: "unicast", [abi.RTN_LOCAL]: "local", [abi.RTN_BROADCAST]: "broadcast",
  [abi.RTN_ANYCAST]: "anycast", [abi.RTN_MULTICAST]: "multicast", [abi.RTN_BLACKHOLE]: "blackhole",
  [abi.RTN_UNREACHABLE]: "unreachable", [abi.RTN_PROHIBIT]: "prohibit", [abi.RTN_THROW]: "throw",
  [abi.RTN_NAT]: "nat", [abi.RTN_XRESOLVE]: "xresolve",
};

const PROTOS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, igmp: 2, gre: 47, esp: 50, ah: 51, sctp: 132 };
const DSFIELD: Record<string, number> = { lowdelay: 0x10, throughput: 0x08, reliability: 0x04, mincost: 0x02 };

function num(s: string, max: number): number | undefined {
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(s)) return undefined;
  const v = Number(s);
  return v <= max ? v : undefined;
}

/** Parses `ip route get` arguments (after "get"). `file` names the source for errors. */
export function parseRouteGetArgs(args: string[], file = "command line"): RouteGetQuery {
  const bad = (tok: string, problem: string): never => { throw new InputError(file, 0, tok, problem); };
  let dst: number | undefined;
  const q: Partial<RouteGetQuery> = {};
  for (let i = 0; i < args.length; i++) {
    const k = args[i];
    const v = () => { if (i + 1 >= args.length) bad(k, "needs a value"); return args[++i]; };
    switch (k) {
      case "to": { const a = v(); dst = parseIPv4(a) ?? bad(a, "is not an IPv4 address"); break; }
      case "from": { const a = v(); q.src = parseIPv4(a) ?? bad(a, "is not an IPv4 address"); break; }
      case "iif": q.iif = v(); break;
      case "oif": q.oif = v(); break;
      case "mark": { const a = v(); q.mark = num(a, 0xffffffff) ?? bad(a, "is not a mark (decimal or 0x hex)"); break; }
      case "tos": case "dsfield": { const a = v(); q.tos = DSFIELD[a] ?? num(a, 255) ?? bad(a, "is not a TOS value"); break; }
      case "ipproto": { const a = v(); q.ipproto = PROTOS[a] ?? num(a, 255) ?? bad(a, "is not an IP protocol"); break; }
      case "sport": { const a = v(); q.sport = num(a, 65535) ?? bad(a, "is not a port"); break; }
      case "dport": { const a = v(); q.dport = num(a, 65535) ?? bad(a, "is not a port"); break; }
      case "uid": { const a = v(); q.uid = num(a, 0xffffffff) ?? bad(a, "is not a uid"); break; }
      case "connected": case "fibmatch": case "vrf": case "as": case "flowlabel": case "dscp":
        bad(k, "is not supported by nodeplane route get");
        break;
      default: {
        const a = parseIPv4(k);
        if (a === undefined || dst !== undefined) bad(k, "is not an address or a known keyword (to from iif oif mark tos ipproto sport dport uid)");
        dst = a;
      }
    }
  }
  if (dst === undefined) bad("", "needs a destination address");
  return { ...q, dst: dst! };
}

function tableName(id: number): string {
  if (id === 255) return "local";
  if (id === 254) return "main";
  if (id === 253) return "default";
  return String(id);
}

/** Asks the engine's node; formats as iproute2 prints. */
export function routeGet(engine: Engine, q: RouteGetQuery): RouteGetAnswer {
  const node = engine.node;
  const core = engine.core;
  const slot = (name: string) => {
    const s = node.slotByName.get(name);
    if (s === undefined) throw new InputError("command line", 0, name, `Cannot find device "${name}"`);
    return s;
  };
  const input = q.iif !== undefined;
  // inet_rtm_getroute: "u8 ip_proto = IPPROTO_UDP" unless the query names one
  const proto = q.ipproto ?? 17;
  let err: number;
  if (input) {
    err = core.route_get_input(q.dst, q.src ?? 0, q.tos ?? 0, slot(q.iif!), q.mark ?? 0, proto, q.sport ?? 0, q.dport ?? 0);
  } else {
    err = core.route_get_output(q.dst, q.src ?? 0, q.tos ?? 0, q.oif !== undefined ? slot(q.oif) : 0, q.mark ?? 0,
      proto, q.sport ?? 0, q.dport ?? 0, q.uid ?? 0);
  }
  const res = core.alloc(abi.RES_SIZE);
  core.route_result(res, err);
  engine.mem.refresh();
  const dv = engine.mem.dv;
  const type = dv.getUint32(res + abi.RES_TYPE, true);
  const flags = dv.getUint32(res + abi.RES_FLAGS, true);
  const dev = dv.getUint32(res + abi.RES_DEV, true);
  const gw = dv.getUint32(res + abi.RES_GW, true);
  const saddr = dv.getUint32(res + abi.RES_SADDR, true);
  const table = dv.getUint32(res + abi.RES_TABLE, true);
  const routeIdx = dv.getUint32(res + abi.RES_ROUTE, true);
  const ruleIdx = dv.getUint32(res + abi.RES_RULE, true);
  const tos = dv.getUint32(res + abi.RES_TOS, true);
  const mtu = dv.getUint32(res + abi.RES_MTU, true);
  core.free(res);
  const ipRule = ruleIdx !== 0xffffffff ? node.rules[ruleIdx]?.src.text.trim() : undefined;
  const ipRoute = routeIdx !== 0xffffffff ? node.routes[routeIdx]?.src.text.trim() : undefined;
  if (err !== 0) {
    return { err, text: `RTNETLINK answers: ${STRERROR[-err] ?? `error ${-err}`}\n`, ipRule, ipRoute };
  }
  const devName = dev ? node.devBySlot[dev]?.name : undefined;
  // line 1 (print_route)
  let s = "";
  if (type !== abi.RTN_UNICAST) s += `${TYPE_NAMES[type] ?? type} `;
  s += formatIPv4(q.dst) + " ";
  if (q.src !== undefined && q.src !== 0) s += `from ${formatIPv4(q.src)} `;
  if (tos) s += `tos 0x${tos.toString(16).padStart(2, "0")} `;
  if (gw) s += `via ${formatIPv4(gw)} `;
  if (devName !== undefined) s += `dev ${devName} `;
  if (table && table !== 254) s += `table ${tableName(table)} `;
  if (!input && saddr !== (q.src ?? 0)) s += `src ${formatIPv4(saddr)} `;
  if (flags & 0x20000000) s += "rt_offload_failed "; // RTCF_MULTICAST shares its bit with RTM_F_OFFLOAD_FAILED
  if (q.mark) s += q.mark >= 16 ? `mark 0x${q.mark.toString(16)} ` : `mark ${q.mark} `; // iproute2: hex from 16 on
  if (!input) s += `uid ${q.uid ?? 0} `;
  s += "\n    cache ";
  const cf: string[] = [];
  if (flags & 0x80000000) cf.push("local");
  if (flags & 0x20000000) cf.push("mc");
  if (flags & 0x10000000) cf.push("brd");
  if (flags & 0x01000000) cf.push("redirect");
  if (cf.length) s += `<${cf.join(",")}> `;
  if (mtu) s += `mtu ${mtu} `;
  if (input) s += `iif ${q.iif} `;
  s += "\n";
  return {
    err: 0, text: s, type, dev: devName, gateway: gw ? formatIPv4(gw) : undefined,
    src: !input ? formatIPv4(saddr) : undefined, table: table || undefined, ipRule, ipRoute,
  };
}
