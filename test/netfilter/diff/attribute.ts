/**
 * Which captured frame belongs to which injected packet, when NAT may have
 * rewritten any address or port, and the frame keys both sides are reduced
 * to (ports included, ICMP errors with their quoted header after NAT).
 *
 * Every packet injected from the world carries an IP id unique in its batch,
 * which forwarding and NAT keep; the node's own answers are recognised by
 * what they answer (the quoted IP id of an ICMP error, the echo id/seq of an
 * echo reply, the reversed ports of a reset). Local packets are recognised by
 * the source port their socket got (ICMP: the echo id/seq).
 */
import type { InjectPacket, Observation, Seen } from "../../kernel/netns.js";
import { ICMP_ERROR_TYPES, protoNum } from "../../kernel/frames.js";
import type { PacketResult } from "../../../host/packet/result.js";

export type Role = "self" | "answer";
export interface Attributed { frame: Seen; role: Role }

function echoRest(p: InjectPacket): number {
  return ((((p.icmpId ?? 0) & 0xffff) << 16) | ((p.icmpSeq ?? 0) & 0xffff)) >>> 0;
}

/** Rank of frame s for packet p (lower is better), with its role; undefined: not p's. */
function rank(p: InjectPacket, o: Observation, s: Seen): [number, Role] | undefined {
  const proto = protoNum(p.proto);
  if (o.sentNs !== undefined && s.tNs < o.sentNs) return undefined;
  const isErr = (t?: number) => t !== undefined && ICMP_ERROR_TYPES.has(t);
  if (p.iif === "local") {
    if (o.sentNs === undefined) return undefined;
    if (s.proto !== proto) {
      return undefined;
    }
    if (proto === 6 || proto === 17) {
      const sport = o.bound?.sport;
      if (sport === undefined || s.sport !== sport) return undefined;
      if (proto === 6 && s.tcpFlags !== "S") return undefined;
      return [s.dst === p.dst && s.dport === p.dport ? 0 : 1, "self"];
    }
    if (proto === 1) {
      if (!s.icmp || s.icmp.type !== (p.icmpType ?? 8) || s.icmp.rest !== echoRest(p)) return undefined;
      return [s.dst === p.dst ? 0 : 1, "self"];
    }
    return undefined;
  }
  // the packet itself (forwarded, maybe NATed)
  if (s.ipid === p.id && s.proto === proto) {
    let same = true;
    if (proto === 6) same = s.tcpFlags === normFlags(p.flags ?? "S");
    if (proto === 1) {
      same = s.icmp !== undefined && s.icmp.type === (p.icmpType ?? 8) && s.icmp.code === (p.icmpCode ?? 0);
      if (same && isErr(p.icmpType)) same = s.icmp!.inner !== undefined && s.icmp!.inner.ipid === (p.inner?.id ?? 0);
    }
    if (same) return [0, "self"];
  }
  // an ICMP error from the node quoting it
  const inner = s.icmp?.inner;
  if (inner && isErr(s.icmp!.type) && inner.ipid === p.id && inner.proto === proto) return [1, "answer"];
  // an echo reply
  if (proto === 1 && (p.icmpType ?? 8) === 8 && s.icmp?.type === 0 && s.icmp.rest === echoRest(p)) return [s.dst === p.src ? 1 : 2, "answer"];
  // a reset (or any segment the node's stack sends back) in the reverse direction
  if (proto === 6 && s.proto === 6) {
    if (s.src === p.dst && s.dst === p.src && s.sport === p.dport && s.dport === p.sport) return [1, "answer"];
    if (s.sport === p.dport && s.dport === p.sport && s.dst === p.src) return [2, "answer"];
  }
  return undefined;
}

const FLAG_ORDER = "FSRPAUEC";
export function normFlags(f: string): string {
  let out = "";
  for (const c of FLAG_ORDER) if (f.toUpperCase().includes(c)) out += c;
  return out;
}

/** Frames per packet (same order as `packets`), and frames nobody explains. */
export function attribute(packets: InjectPacket[], obs: Observation[], frames: Seen[]): { per: Attributed[][]; unmatched: Seen[] } {
  const per: Attributed[][] = packets.map(() => []);
  const unmatched: Seen[] = [];
  const sorted = [...frames].sort((a, b) => a.tNs - b.tNs);
  const taken = new Set<number>();
  for (const s of sorted) {
    let best = -1;
    let bestRank = Infinity;
    let bestRole: Role = "self";
    for (let k = 0; k < packets.length; k++) {
      const r = rank(packets[k], obs[k], s);
      if (!r) continue;
      // a packet shows up itself at most once (no fragments in these tests)
      if (r[1] === "self" && taken.has(k)) continue;
      const later = best >= 0 && (obs[k].sentNs ?? 0) > (obs[best].sentNs ?? 0);
      if (r[0] < bestRank || (r[0] === bestRank && later)) {
        best = k;
        bestRank = r[0];
        bestRole = r[1];
      }
    }
    if (best < 0) { unmatched.push(s); continue; }
    if (bestRole === "self") taken.add(best);
    per[best].push({ frame: s, role: bestRole });
  }
  return { per, unmatched };
}

// ---------------------------------------------------------------------------
// keys

function portsOf(proto: number, sport?: number, dport?: number): [string, string] {
  return proto === 6 || proto === 17 ? [`:${sport}`, `:${dport}`] : ["", ""];
}

/** Options of the key functions: ports the kernel chose at random are compared by property. */
export interface KeyOptions {
  /** Mask a source port different from the packet's original one (random SNAT/MASQUERADE ports). */
  maskRandomSport?: boolean;
}

function sp(proto: number, port: number | undefined, orig: number | undefined, o: KeyOptions): number | string | undefined {
  if (o.maskRandomSport && (proto === 6 || proto === 17) && port !== orig && port !== undefined) {
    return port >= 1024 && port <= 65535 ? "R" : `bad${port}`;
  }
  return port;
}

function icmpInnerText(inner: { src: string; dst: string; proto: number | string; sport?: number; dport?: number }): string {
  const pn = typeof inner.proto === "number" ? inner.proto : ({ tcp: 6, udp: 17, icmp: 1 } as Record<string, number>)[inner.proto] ?? inner.proto;
  const [a, b] = portsOf(Number(pn), inner.sport, inner.dport);
  return `${inner.src}${a}>${inner.dst}${b}/${pn}`;
}

/** The key of a frame the kernel sent for packet p. */
export function kernelKey(a: Attributed, p: InjectPacket, o: KeyOptions = {}, boundSport?: number): string {
  const s = a.frame;
  if (a.role === "self") {
    const origSport = p.iif === "local" ? boundSport : p.sport;
    const [x, y] = portsOf(s.proto, sp(s.proto, s.sport, origSport, o) as number, s.dport);
    let extra = "";
    if (s.proto === 1 && s.icmp) extra = ` t=${s.icmp.type}/${s.icmp.code}`;
    if (s.proto === 6) extra = ` ${s.tcpFlags}`;
    return `fwd ${s.ifname} p=${s.proto} ${s.src}${x}>${s.dst}${y} ttl=${s.ttl}${extra}`;
  }
  if (s.icmp && ICMP_ERROR_TYPES.has(s.icmp.type)) {
    let rest = "";
    if (s.icmp.type === 5) rest = ` gw=${ipOf(s.icmp.rest)}`;
    if (s.icmp.type === 3 && s.icmp.code === 4) rest = ` mtu=${s.icmp.rest & 0xffff}`;
    const inner = s.icmp.inner ? ` inner=${icmpInnerText(s.icmp.inner)}` : "";
    return `icmp ${s.ifname} ${s.src}>${s.dst} ${s.icmp.type}/${s.icmp.code} ttl=${s.ttl} len=${s.len}${rest}${inner}`;
  }
  if (s.icmp && s.icmp.type === 0) return `echo-reply ${s.ifname} ${s.src}>${s.dst} ttl=${s.ttl} len=${s.len}`;
  if (s.proto === 6) {
    return `tcp ${s.ifname} ${s.src}:${s.sport}>${s.dst}:${s.dport} ${s.tcpFlags} seq=${s.seq} ack=${s.tcpFlags?.includes("A") ? s.ack : 0} ttl=${s.ttl}`;
  }
  return `other ${s.ifname} p=${s.proto} ${s.src}>${s.dst} ttl=${s.ttl}`;
}

function ipOf(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** The frames the emulator says leave the node for packet p (input `q`). */
export function engineKeys(r: PacketResult, p: InjectPacket, origSport: number | undefined, o: KeyOptions = {}): string[] {
  const proto = protoNum(p.proto);
  const keys: string[] = [];
  if (r.verdict === "forward" && r.oif) {
    const [x, y] = portsOf(proto, sp(proto, r.sport, origSport, o) as number, r.dport);
    let extra = "";
    if (proto === 1) extra = ` t=${p.icmpType ?? 8}/${p.icmpCode ?? 0}`;
    if (proto === 6) extra = ` ${normFlags(p.iif === "local" ? "S" : p.flags ?? "S")}`;
    const n = r.frags ?? 1;
    for (let i = 0; i < n; i++) keys.push(`fwd ${r.oif} p=${proto} ${r.src}${x}>${r.dst}${y} ttl=${r.ttl}${extra}`);
  }
  for (const q of r.replies) {
    if (q.verdict !== "forward" || !q.oif) continue;
    if (q.kind === "icmp") {
      if (q.icmp_type === 0) {
        keys.push(`echo-reply ${q.oif} ${q.src}>${q.dst} ttl=${q.ttl} len=${q.len}`);
        continue;
      }
      let rest = "";
      if (q.icmp_type === 5) rest = ` gw=${q.gateway}`;
      if (q.icmp_type === 3 && q.icmp_code === 4) rest = ` mtu=${q.mtu}`;
      const inner = q.inner ? ` inner=${icmpInnerText(q.inner)}` : "";
      keys.push(`icmp ${q.oif} ${q.src}>${q.dst} ${q.icmp_type}/${q.icmp_code} ttl=${q.ttl} len=${q.len}${rest}${inner}`);
    } else {
      keys.push(`tcp ${q.oif} ${q.src}:${q.sport}>${q.dst}:${q.dport} ${q.flags} seq=${q.seq} ack=${q.flags?.includes("A") ? q.ack : 0} ttl=${q.ttl}`);
    }
  }
  return keys.sort();
}
