/**
 * Reading the core's connection table and statistics, and printing them as
 * `conntrack -L` and `conntrack -S` do (conntrack-tools 1.4).
 */
import * as abi from "../core/abi.js";
import type { CoreExports, CoreMemory } from "../core/wasm.js";
import { formatIPv4 } from "../util/ipv4.js";
import { TCP_STATE_NAMES, SCTP_STATE_NAMES } from "../packet/result.js";

export interface ConntrackEntry {
  id: number;
  proto: number;
  /** TCP state number (TCP_CONNTRACK_*). */
  state: number;
  status: number;
  mark: number;
  /** Seconds until expiry (nf_ct_expires / HZ). */
  timeout: number;
  orig: { src: number; dst: number; sport: number; dport: number };
  reply: { src: number; dst: number; sport: number; dport: number };
}

export type ConntrackStats = Record<"found" | "invalid" | "insert" | "insert_failed" | "drop" | "early_drop" | "error" |
  "search_restart" | "clash_resolve" | "chaintoolong" | "count", number>;

export function readConntrack(core: CoreExports, mem: CoreMemory, _hz: number): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  const chunk = 4096;
  const buf = core.alloc(chunk * abi.CTD_SIZE);
  let restart = 1;
  for (;;) {
    const n = core.ct_dump(buf, chunk, restart);
    restart = 0;
    mem.refresh();
    const dv = mem.dv;
    for (let k = 0; k < n; k++) {
      const r = buf + k * abi.CTD_SIZE;
      out.push({
        id: dv.getUint32(r + abi.CTD_ID, true),
        proto: dv.getUint8(r + abi.CTD_PROTO),
        state: dv.getUint8(r + abi.CTD_STATE),
        status: dv.getUint32(r + abi.CTD_STATUS, true),
        mark: dv.getUint32(r + abi.CTD_MARK, true),
        timeout: dv.getUint32(r + abi.CTD_TIMEOUT, true),
        orig: {
          src: dv.getUint32(r + abi.CTD_ORIG_SRC, true), dst: dv.getUint32(r + abi.CTD_ORIG_DST, true),
          sport: dv.getUint16(r + abi.CTD_ORIG_SPORT, true), dport: dv.getUint16(r + abi.CTD_ORIG_DPORT, true),
        },
        reply: {
          src: dv.getUint32(r + abi.CTD_REPL_SRC, true), dst: dv.getUint32(r + abi.CTD_REPL_DST, true),
          sport: dv.getUint16(r + abi.CTD_REPL_SPORT, true), dport: dv.getUint16(r + abi.CTD_REPL_DPORT, true),
        },
      });
    }
    if (n < chunk) break;
  }
  core.free(buf);
  return out;
}

/**
 * The protocol's name as conntrack-tools prints it (libnetfilter_conntrack's
 * table: tcp, udp, udplite, icmp, icmpv6, sctp, gre, dccp; "unknown" else).
 */
function toolsProtoName(proto: number): string {
  const n = ({ 6: "tcp", 17: "udp", 136: "udplite", 1: "icmp", 58: "icmpv6", 132: "sctp", 47: "gre", 33: "dccp" } as Record<number, string>)[proto];
  return n ?? "unknown";
}

function tupleText(proto: number, t: ConntrackEntry["orig"]): string {
  const base = `src=${formatIPv4(t.src)} dst=${formatIPv4(t.dst)}`;
  if (proto === 1) return `${base} type=${t.dport >> 8} code=${t.dport & 0xff} id=${t.sport}`;
  // conntrack prints the ports of tcp, udp, udplite, sctp and dccp (zero for dccp: this
  // kernel has no DCCP tracker, so the tuple has none) and GRE's keys (0: version 0 GRE)
  if (proto === 6 || proto === 17 || proto === 132 || proto === 136 || proto === 33) return `${base} sport=${t.sport} dport=${t.dport}`;
  if (proto === 47) return `${base} srckey=0x${t.sport.toString(16)} dstkey=0x${t.dport.toString(16)}`;
  return base;
}

/** One line of `conntrack -L`. */
export function conntrackLine(e: ConntrackEntry): string {
  const parts: string[] = [`${toolsProtoName(e.proto).padEnd(8)} ${e.proto} ${e.timeout}`];
  if (e.proto === 6) parts.push(TCP_STATE_NAMES[e.state] ?? String(e.state));
  else if (e.proto === 132) parts.push(SCTP_STATE_NAMES[e.state] ?? String(e.state));
  parts.push(tupleText(e.proto, e.orig));
  if (!(e.status & abi.IPS_SEEN_REPLY)) parts.push("[UNREPLIED]");
  parts.push(tupleText(e.proto, e.reply));
  if (e.status & abi.IPS_ASSURED) parts.push("[ASSURED]");
  parts.push(`mark=${e.mark} use=1`);
  return parts.join(" ");
}

/** The table as `conntrack -L` prints it (entries sorted for a stable, comparable order). */
export function conntrackDumpText(entries: ConntrackEntry[]): string {
  const lines = entries.map(conntrackLine);
  lines.sort();
  return lines.length ? lines.join("\n") + "\n" : "";
}

export function readConntrackStats(core: CoreExports, mem: CoreMemory): ConntrackStats {
  const p = core.ct_stats_ptr();
  mem.refresh();
  const g = (i: number) => Number(mem.dv.getBigUint64(p + i * 8, true));
  return {
    found: g(abi.CTS_FOUND), invalid: g(abi.CTS_INVALID), insert: g(abi.CTS_INSERT), insert_failed: g(abi.CTS_INSERT_FAILED),
    drop: g(abi.CTS_DROP), early_drop: g(abi.CTS_EARLY_DROP), error: g(abi.CTS_ERROR), search_restart: g(abi.CTS_SEARCH_RESTART),
    clash_resolve: g(abi.CTS_CLASH_RESOLVE), chaintoolong: g(abi.CTS_CHAINTOOLONG), count: g(abi.CTS_COUNT),
  };
}

/** `conntrack -S` (one CPU: the emulated node's counters summed). */
export function conntrackStatsText(s: ConntrackStats): string {
  return `cpu=0   \tfound=${s.found} invalid=${s.invalid} insert=${s.insert} insert_failed=${s.insert_failed} drop=${s.drop} ` +
    `early_drop=${s.early_drop} error=${s.error} search_restart=${s.search_restart} clash_resolve=${s.clash_resolve} chaintoolong=${s.chaintoolong} \n`;
}
