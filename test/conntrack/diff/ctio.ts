/**
 * Reading and comparing the two connection tables: `conntrack -L` lines
 * (the kernel's, and Engine.conntrackList()) with timeouts compared within a
 * tolerance (and entries about to expire optional), `conntrack -S` counters
 * (the kernel prints one line per CPU: summed), and NAT port choices the
 * kernel makes at random (kept as a per-scenario map from the emulator's
 * port to the kernel's, so later packets and tables can be compared).
 */
import { parseConntrack, type CtLine } from "../../netfilter/diff/kio.js";

// ---------------------------------------------------------------------------
// conntrack -S

export const STAT_KEYS = ["found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error", "search_restart", "clash_resolve", "chaintoolong"] as const;
export type Stats = Record<string, number>;

/** `conntrack -S` text (one line per CPU, or the emulator's one line), summed. */
export function parseStats(text: string): Stats {
  const out: Stats = {};
  for (const line of text.split("\n")) {
    for (const m of line.matchAll(/(\w+)=(\d+)/g)) {
      if (m[1] === "cpu") continue;
      out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
    }
  }
  return out;
}

export function statsDelta(after: Stats, before: Stats): Stats {
  const out: Stats = {};
  for (const k of Object.keys(after)) out[k] = after[k] - (before[k] ?? 0);
  return out;
}

// ---------------------------------------------------------------------------
// random NAT choices

/**
 * Ports (and ICMP ids) that NAT chose at random, per connection reply
 * tuple: protocol, NAT address, the far end (address and port; ICMP: port
 * 0), and the emulator's choice <-> the kernel's. The same NAT port may
 * serve several far ends, so the far end is part of the key.
 */
export class PortMap {
  private e2k = new Map<string, number>();
  private k2e = new Map<string, number>();
  /** Every learned choice: [proto, NAT address, kernel port, engine port, original port]. */
  readonly choices: [number, string, number, number, number][] = [];

  private static key(proto: number, addr: string, port: number, far: string, farPort: number | undefined): string {
    return `${proto}/${addr}/${port}/${far}/${proto === 1 ? 0 : farPort ?? 0}`;
  }

  learn(proto: number, addr: string, kernel: number, engine: number, orig: number, far: string, farPort: number | undefined): void {
    if (this.k2e.has(PortMap.key(proto, addr, kernel, far, farPort))) return;
    this.choices.push([proto, addr, kernel, engine, orig]);
    this.e2k.set(PortMap.key(proto, addr, engine, far, farPort), kernel);
    this.k2e.set(PortMap.key(proto, addr, kernel, far, farPort), engine);
  }
  /** The kernel's port for the engine's (identity when none was learned). */
  toKernel(proto: number, addr: string, port: number | undefined, far: string, farPort: number | undefined): number | undefined {
    if (port === undefined) return port;
    return this.e2k.get(PortMap.key(proto, addr, port, far, farPort)) ?? port;
  }
  /** The engine's port for the kernel's. */
  toEngine(proto: number, addr: string, port: number | undefined, far: string, farPort: number | undefined): number | undefined {
    if (port === undefined) return port;
    return this.k2e.get(PortMap.key(proto, addr, port, far, farPort)) ?? port;
  }
  get size(): number { return this.e2k.size; }

  /** The NAT ports each side gave a client source (protocol, address, port) the first time: find_appropriate_src reuses them. */
  readonly bySource = new Map<string, [number, number]>();
}

const PROTO_OF: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 };

/** A `conntrack -L` line of the emulator with its random NAT ports replaced by the kernel's (reply tuple). */
export function mapCtLine(line: string, map: PortMap): string {
  if (map.size === 0) return line;
  const proto = PROTO_OF[line.trim().split(/\s+/)[0]];
  if (proto === undefined) return line;
  const i = line.indexOf("src=", line.indexOf("src=") + 1);
  if (i < 0) return line;
  const head = line.slice(0, i);
  let reply = line.slice(i);
  const src = /src=(\S+)/.exec(reply)?.[1] ?? "";
  const dst = /dst=(\S+)/.exec(reply)?.[1];
  if (!dst) return line;
  if (proto === 1) {
    reply = reply.replace(/\bid=(\d+)/, (_, p) => `id=${map.toKernel(1, dst, Number(p), src, 0)}`);
  } else {
    const sport = Number(/sport=(\d+)/.exec(reply)?.[1] ?? 0);
    reply = reply.replace(/\bdport=(\d+)/, (_, p) => `dport=${map.toKernel(proto, dst, Number(p), src, sport)}`);
  }
  return head + reply;
}

// ---------------------------------------------------------------------------
// conntrack -L

/**
 * Differences between the kernel's table (read at time T) and the
 * emulator's (its clock `elapsed` seconds behind T, normally 0 since the
 * runner advances it): entries only one side has, and timeouts further
 * apart than `tol` seconds. The emulator's timeouts are reduced by
 * `elapsed`; an entry within `tol` of expiring on either side may be missing
 * on the other.
 */
export function diffTables(kernelText: string, engineText: string, elapsed: number, tol: number, map: PortMap): string[] {
  const k = parseConntrack(byNumber(kernelText));
  const e = parseConntrack(byNumber(engineText.split("\n").map((l) => mapCtLine(l, map)).join("\n"))).map((l) => ({ ...l, timeout: l.timeout - elapsed }));
  const group = (ls: CtLine[]) => {
    const m = new Map<string, number[]>();
    for (const l of ls) m.set(l.key, [...(m.get(l.key) ?? []), l.timeout]);
    for (const v of m.values()) v.sort((a, b) => a - b);
    return m;
  };
  const km = group(k);
  const em = group(e.filter((l) => l.timeout > -tol));
  const out: string[] = [];
  for (const key of new Set([...km.keys(), ...em.keys()])) {
    const kt = km.get(key) ?? [];
    const et = em.get(key) ?? [];
    // an entry within `tol` of expiring on one side may already be gone on the other
    const kSure = kt.filter((t) => t > tol).length;
    const eSure = et.filter((t) => t > tol).length;
    if (kSure > et.length || eSure > kt.length) {
      out.push(`conntrack entry ${key}: kernel ${kt.length} (timeouts ${kt.join(",") || "-"}) emulator ${et.length} (timeouts ${et.map((t) => t.toFixed(1)).join(",") || "-"}, ${elapsed.toFixed(2)} s later)`);
      continue;
    }
    // pair the longest-lived entries
    const kk = [...kt].reverse();
    const ee = [...et].reverse();
    for (let i = 0; i < Math.min(kk.length, ee.length); i++) {
      if (Math.abs(kk[i] - ee[i]) > tol) out.push(`conntrack timeout of ${key}: kernel ${kk[i]} emulator ${ee[i].toFixed(1)} (${elapsed.toFixed(2)} s later)`);
    }
  }
  return out;
}

/** `conntrack -L` lines with the protocol name column replaced by its number (the names are compared by protoNames). */
function byNumber(text: string): string {
  return text.split("\n").map((l) => l.replace(/^(\S+)(\s+)(\d+)\s/, (_, _name, sp, num) => `${num}${sp}${num} `)).join("\n");
}

/** The protocol names a table prints, by protocol number ("unknown" for protocols conntrack-tools has no name for). */
export function protoNames(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of text.split("\n")) {
    const m = /^(\S+)\s+(\d+)\s/.exec(l);
    if (m) out.set(m[2], m[1]);
  }
  return out;
}

/** Reply tuples that occur more than once in a table (must not happen: NAT keeps tuples unique). */
export function duplicateReplyTuples(text: string): string[] {
  const seen = new Map<string, number>();
  for (const l of parseConntrack(text)) {
    const reply = `${l.key.split(" ")[0]} ${l.key.split(" | ")[1]?.split(" [")[0]?.replace(/ mark=\S+/, "") ?? ""}`;
    seen.set(reply, (seen.get(reply) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([t, n]) => `${t} x${n}`);
}
