/**
 * The established-flow path written as idiomatic TypeScript, for the
 * conntrack benchmark (bench/ct.ts): a Map of connections keyed by tuple
 * strings, connection and tuple objects, the TCP state table and
 * tcp_in_window's sequence and window checks on per-direction objects, NAT
 * rewrites from the tuples, and routing through TsFib (bench/ts-fib.ts)
 * with a Map as route cache, forward lookup and reverse-path check both.
 * It does the work the core does for the scenario's packets (bench/ct-scenario.ts),
 * not every corner of it (no ICMP errors, no IGNORE path, no clash
 * resolution). Benchmarks only; not used by the engine.
 */
import type { NodeSnapshot } from "../host/model/node.js";
import { TsFib, type TsFlow } from "./ts-fib.js";
import type { FlowPacket } from "./ct-scenario.js";

interface Tuple { src: number; dst: number; sport: number; dport: number }
interface Seen { end: number; maxend: number; maxwin: number; maxack: number; scale: number; flags: number }
interface Conn {
  orig: Tuple;
  reply: Tuple;
  status: Set<string>;
  state: number;
  seen: [Seen, Seen];
  last: { dir: number; seq: number; ack: number; end: number; win: number; index: number };
  retrans: number;
  timeout: number;
  dnat: boolean;
}
export interface TsOutcome { verdict: "forward" | "drop"; oif?: string; src: number; dst: number; sport: number; dport: number; ttl: number; ct: string }

const [NO, SS, SR, ES, FW, CW, LA, TW, CL, S2, IV] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const IG = 11;
/** tcp_conntracks[dir][index][state] */
const TABLE: number[][][] = [
  [
    [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2], [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR], [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
    [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV], [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL], [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
  ],
  [
    [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2], [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR], [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
    [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG], [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL], [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
  ],
];
const TIMEOUTS = [0, 120, 60, 432000, 120, 60, 30, 120, 10, 120];
const before = (a: number, b: number) => ((a - b) | 0) < 0;
const after = (a: number, b: number) => ((b - a) | 0) < 0;

function indexOf(flags: number): number {
  if (flags & 4) return 4;
  if (flags & 2) return flags & 16 ? 1 : 0;
  if (flags & 1) return 2;
  if (flags & 16) return 3;
  return 5;
}

export class TsConntrackNode {
  private conns = new Map<string, { conn: Conn; dir: number }>();
  private routes = new Map<string, { err: number; oif?: string }>();
  private fib: TsFib;
  private now = 0;
  counters = { forwarded: 0, dropped: 0, invalid: 0 };

  constructor(snap: NodeSnapshot, private readonly nodeIp: number, private readonly dnat: Map<number, { ip: number; port: number }>,
              private readonly devName: (slot: number) => string) {
    this.fib = new TsFib(snap);
  }

  get size(): number { return this.conns.size / 2; }

  private key(t: Tuple): string { return `6|${t.src}|${t.dst}|${t.sport}|${t.dport}`; }

  process(p: FlowPacket): TsOutcome {
    this.now = Math.max(this.now, p.time);
    const iif = this.devName(p.iif);
    const tuple: Tuple = { src: p.src, dst: p.dst, sport: p.sport, dport: p.dport };
    let hit = this.conns.get(this.key(tuple));
    let fresh = false;
    if (!hit) {
      if (indexOf(p.flags) !== 0) { this.counters.invalid++; return this.drop(p, "INVALID"); }
      const to = this.dnat.get(p.dport);
      const dnat = p.dst === this.nodeIp && to !== undefined;
      const reply: Tuple = dnat ? { src: to!.ip, dst: p.src, sport: to!.port, dport: p.sport } : { src: p.dst, dst: p.src, sport: p.dport, dport: p.sport };
      const conn: Conn = {
        orig: tuple, reply, status: new Set(), state: NO, retrans: 0, timeout: 0, dnat,
        seen: [{ end: 0, maxend: 0, maxwin: 0, maxack: 0, scale: 0, flags: 0 }, { end: 0, maxend: 0, maxwin: 0, maxack: 0, scale: 0, flags: 0 }],
        last: { dir: 0, seq: 0, ack: 0, end: 0, win: 0, index: 5 },
      };
      const end = p.seq + (p.len - 40) + (p.flags & 2 ? 1 : 0) + (p.flags & 1);
      conn.seen[0].end = end; conn.seen[0].maxend = end; conn.seen[0].maxwin = 65535;
      hit = { conn, dir: 0 };
      fresh = true;
    }
    const { conn, dir } = hit;
    if (!this.track(conn, dir, p)) { this.counters.invalid++; return this.drop(p, "INVALID"); }
    const ct = dir === 1 ? "ESTABLISHED" : conn.status.has("SEEN_REPLY") ? "ESTABLISHED" : "NEW";
    if (dir === 1) conn.status.add("SEEN_REPLY");
    // NAT: the packet becomes the inverse of the other direction's tuple
    const other = dir === 0 ? conn.reply : conn.orig;
    let { src, dst, sport, dport } = p;
    if (conn.dnat && dir === 0) { dst = other.src; dport = other.sport; }
    // routing (after PREROUTING's DNAT), cached per (iif, src, dst)
    const rkey = `${iif}|${src}|${dst}`;
    let route = this.routes.get(rkey);
    if (!route) {
      const flow: TsFlow = { iif, mark: 0, saddr: src, daddr: dst, tos: 0, proto: 0, sport: 0, dport: 0, uid: 0 };
      const r = this.fib.lookup(flow);
      let err = r.err;
      const oif = r.route?.dev;
      if (err === 0) {
        // reverse path: is the source reachable through the input device?
        const back = this.fib.lookup({ iif: oif ?? "lo", mark: 0, saddr: dst, daddr: src, tos: 0, proto: 0, sport: 0, dport: 0, uid: 0 });
        if (back.err !== 0 && iif !== "eth0") err = -18;
      }
      route = { err, oif };
      this.routes.set(rkey, route);
    }
    if (route.err !== 0) return this.drop(p, ct);
    // POSTROUTING: un-DNAT the replies
    if (conn.dnat && dir === 1) { src = other.dst; sport = other.dport; }
    if (fresh) {
      // confirm: both directions findable
      conn.timeout += this.now;
      this.conns.set(this.key(conn.orig), { conn, dir: 0 });
      this.conns.set(this.key(conn.reply), { conn, dir: 1 });
    }
    this.counters.forwarded++;
    return { verdict: "forward", oif: route.oif, src, dst, sport, dport, ttl: 63, ct };
  }

  private drop(p: FlowPacket, ct: string): TsOutcome {
    this.counters.dropped++;
    return { verdict: "drop", src: p.src, dst: p.dst, sport: p.sport, dport: p.dport, ttl: 64, ct };
  }

  /** nf_conntrack_tcp_packet's main path: state transition, tcp_in_window, timeout. */
  private track(conn: Conn, dir: number, p: FlowPacket): boolean {
    const index = indexOf(p.flags);
    const oldState = conn.state;
    const newState = TABLE[dir]![index]![oldState]!;
    if (newState === IV || newState === IG) return false;
    if (!this.inWindow(conn, dir, index, p)) return false;
    conn.state = newState;
    conn.last.index = index;
    conn.last.dir = dir;
    if (conn.status.has("SEEN_REPLY") && !conn.status.has("ASSURED") && (oldState === SR || oldState === ES) && newState === ES) {
      conn.status.add("ASSURED");
    }
    conn.timeout = TIMEOUTS[newState]! * 250 + (conn.status.has("CONFIRMED") ? this.now : 0);
    return true;
  }

  private inWindow(conn: Conn, dir: number, index: number, p: FlowPacket): boolean {
    const sender = conn.seen[dir];
    const receiver = conn.seen[dir ^ 1];
    let seq = p.seq;
    let ack = p.ack;
    let win = 65535;
    const end = (seq + (p.len - 40) + (p.flags & 2 ? 1 : 0) + (p.flags & 1)) >>> 0;
    if (sender.maxwin === 0) {
      if (p.flags & 2) {
        sender.end = end; sender.maxend = end; sender.maxwin = win;
        if (!(p.flags & 16)) return true;
      } else {
        sender.end = end; sender.maxwin = win; sender.maxend = end + win;
        if (receiver.maxwin === 0) { receiver.end = ack; receiver.maxend = ack; }
      }
    }
    if (!(p.flags & 16)) ack = receiver.end;
    const maxAckWin = Math.max(sender.maxwin, 66000);
    if (!before(seq, sender.maxend + 1)) return false;
    if (!before(ack, receiver.end + 1)) return false;
    if (receiver.maxwin !== 0 && !after(end, sender.end - receiver.maxwin - 1)) return false;
    if (!after(ack, receiver.end - maxAckWin - 1)) return false;
    if (!(p.flags & 2)) win = (win << sender.scale) >>> 0;
    if (sender.maxwin < win) sender.maxwin = win;
    if (after(end, sender.end)) { sender.end = end; sender.flags |= 0x10; }
    if (p.flags & 16) {
      if (!(sender.flags & 0x20)) { sender.maxack = ack; sender.flags |= 0x20; } else if (after(ack, sender.maxack)) sender.maxack = ack;
    }
    if (receiver.maxwin !== 0 && after(end, sender.maxend)) receiver.maxwin += end - sender.maxend;
    if (after(ack + win, receiver.maxend - 1)) receiver.maxend = (ack + win + (win === 0 ? 1 : 0)) >>> 0;
    if (ack === receiver.end) receiver.flags &= ~0x10;
    if (index === 3) {
      const l = conn.last;
      if (l.dir === dir && l.seq === seq && l.ack === ack && l.end === end && l.win === win) conn.retrans++;
      else { l.dir = dir; l.seq = seq; l.ack = ack; l.end = end; l.win = win; conn.retrans = 0; }
    }
    void seq;
    return true;
  }
}
