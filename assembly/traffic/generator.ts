/**
 * The synthetic traffic generator's per-packet and per-flow logic: writes
 * packet descriptors (abi.ts section 1) straight into a batch buffer, in
 * virtual-time order, and reads back what the node did with them (closed
 * loop). The host (host/traffic/generate.ts) parses the spec, resolves the
 * node view, builds the populations and tables (abi.ts section 9) and reads
 * the statistics; everything per packet and per flow happens here.
 *
 * The model
 *  - Flows arrive as a Poisson process (`rate` per second) from `start` for
 *    `duration` seconds (or until `packets` packets). Each flow draws a kind
 *    from `mix` (TCP conversation, UDP request/response, ICMP echo), then a
 *    direction among those that have a target for that kind (weights of
 *    `directions`, renormalised over them), then its endpoints: outside
 *    clients, pods, service frontends and outside servers, each chosen by
 *    Zipf popularity (ranks are a seeded permutation of the population).
 *  - The client's packets enter where the client is: an outside client's on
 *    the node's ENI (the primary ENI for NodePorts and load-balancer IPs, the
 *    pod's ENI for a pod IP: NLB IP targets), a pod's on its host veth. The
 *    client's source port is a per-source counter from a random start
 *    (32768..60999), as connect() hands out ports.
 *  - The server answers what it saw: the client's first packet *as it left
 *    the node*, after DNAT and SNAT (PKT_OUT_SRC/DST/SPORT/DPORT, the ICMP id
 *    PKT_OUT_ICMP_ID) read by feedback; its packets arrive on the device the
 *    client's packet left by when that is a pod's veth (the pod answers), else
 *    on the ENI that owns the address the server answers to (an ENI address,
 *    or a pod IP's ENI: the VPC delivers there), else on the device the
 *    packet left by. A first packet delivered to the node itself is answered
 *    by the node (its own replies are in the reply ring), not by a peer; a
 *    dropped one is never answered. Without feedback (open loop) the server
 *    is assumed to see the packet as sent.
 *  - Each side speaks after hearing the other: a packet that answers the
 *    other side (a direction switch) is sent `rtt` after the packet it
 *    answers, and only once that packet's fate is known. If a packet of the
 *    flow was dropped, the flow ends there ("aborted": no retransmissions).
 *    Packets of one side's burst follow each other `gap` apart.
 *  - TCP: SYN, SYN-ACK (both with window scale 7, SACK-permitted, window
 *    64240), ACK; then `exchanges` times: the client sends `request` bytes
 *    in MSS segments, the server answers `response` bytes; a sender never
 *    has more than 64240 bytes unacknowledged (the peer's window): past that
 *    the receiver sends a pure ACK first. Every segment carries the exact
 *    next sequence number, the acknowledgement of everything received and
 *    window 502 (x128). Teardown: client FIN, server FIN-ACK, client ACK
 *    (TIME_WAIT), or (share `rst`) a client RST-ACK at the exact sequence.
 *    Draws are cut to what a flow record holds: rtt 4 s, 65,535 exchanges or
 *    echo requests, 1e9 bytes per request or response.
 *  - UDP: `exchanges` request/response pairs (sizes from `request`,
 *    `response`). ICMP: `count` echo requests `interval` apart, each answered.
 *
 * Draws: the generator's stream gives the arrival times and, per flow, the
 * same number of draws whatever its direction (kind, direction, source,
 * target, port, laws); the sizes drawn while a flow runs are keyed by the
 * flow and exchange (flowDraw). So every flow draws the same values however
 * other flows went (dropped, cut short) and whichever direction it took:
 * the same spec and seed with the NLB share moved from `nodeport` to
 * `pod-ip` (`nodeplane paths`) sends the same clients, ports, times and
 * sizes to the other target.
 *
 * The order of events depends only on the spec, the seed and the fates the
 * feedback reports, never on batch sizes: a fill stops early rather than
 * write a packet that answers one it has not seen processed, so the same
 * spec, seed and node give the same descriptors whatever `max` is.
 * Nothing is allocated per packet; flows live in 64-byte records (flows.ts)
 * and events in a timing wheel (wheel.ts), all in this generator's own
 * memory (its record below), so generators are independent of each other.
 */
import { TH_FIN, TH_SYN, TH_RST, TH_PSH, TH_ACK } from "../abi";
import {
  PKT_SHIFT, PKT_SRC, PKT_DST, PKT_SPORT, PKT_PROTO, PKT_LEN, PKT_IIF, PKT_MARK, PKT_SEQ, PKT_ACK, PKT_WIN,
  PKT_ICMP_ID, PKT_INNER_SRC, PKT_INNER_SPORT, PKT_INNER_PROTO, PKT_UID, PKT_TIME, PKT_TCP_WSCALE, PKT_TCP_SACK,
  PKT_GID, PKT_INNER_ICMP_TYPE, PKT_VERDICT, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_SPORT, PKT_OUT_DPORT,
  PKT_OUT_ICMP_ID, PKT_OIF, PF_SRC_SET, TO_SACK_PERM, VERDICT_DROP, VERDICT_FORWARD, VERDICT_LOCAL,
  GP_MSS, GP_ICMP_SIZE, GP_GAP_NS, GP_INTERVAL_NS, GP_RST, GP_ARRIVAL_MEAN_NS, GP_END_NS, GP_MAX_PACKETS,
  GP_START_NS, GP_CLIENTS, GP_PRNG, GP_KIND_CUM, GP_DIR_CUM,
  LAW_RTT, LAW_TCP_REQUEST, LAW_TCP_RESPONSE, LAW_TCP_EXCHANGES, LAW_UDP_REQUEST, LAW_UDP_RESPONSE,
  LAW_UDP_EXCHANGES, LAW_ICMP_COUNT, LAW_COUNT,
  GT_CLIENT_IP, GT_SERVER_IP, GT_POD, GT_EPHEMERAL, GT_CLIENT_ZIPF, GT_SERVER_ZIPF, GT_POD_ZIPF, GT_POD_PORTS,
  GT_SERVER_PORTS, GT_OWNER, GT_IS_VETH, GT_SVC, GT_SVC_ZIPF, GT_TARGETS, GT_NLB_IP, GT_COUNT,
  GEN_POD_SIZE, GEN_OWNER_SIZE, GEN_OWNER_HASH, GEN_SVC_SIZE,
  GS_PACKETS, GS_PKT_KIND, GS_PKT_DIR, GS_FLOW_KIND, GS_FLOW_DIR, GS_COMPLETED, GS_ABORTED, GS_BY_NODE,
  GS_TRANSLATED, GS_FED, GS_DROPPED, GS_SHORT_FILLS, GS_ACTIVE, GS_COUNT,
} from "../abi";
import { zalloc, grow } from "../util/mem";
import { prngLoad, prngSave, rnd } from "./prng";
import { LAW_SIZE, lawSet, lawAt, zipfAt } from "./laws";
import {
  FP_SIZE, flowRec, flowsReserve, flowAlloc, flowRelease, flowsRecycle, flowsActive,
  F_KIND, F_DIR, F_STEP, F_LAST_SIDE, F_FLAGS, FF_DROPPED, FF_RST, F_FATE, F_C_SPORT, F_C_DPORT, F_C_IIF, F_S_SPORT,
  F_S_DPORT, F_S_IIF, F_C_WIN, F_S_WIN, F_LEFT, F_C_SRC, F_C_DST, F_S_SRC, F_S_DST, F_C_SEQ, F_S_SEQ, F_RTT,
  F_REM, F_LAST_FILL, F_KEY,
} from "./flows";
import { wheelCreate, wheelReserve, wheelPeek, wheelPeekedFlow, wheelPopPeeked, wheelPush } from "./wheel";

const K_TCP: u32 = 0, K_UDP: u32 = 1, K_ICMP: u32 = 2;
const D_NODEPORT: u32 = 0, D_LB: u32 = 1, D_PODIP: u32 = 2, D_POD2POD: u32 = 3, D_POD2CIP: u32 = 4;

// steps of a flow: the packet it sends next
const S_SYN: u32 = 1, S_SYNACK: u32 = 2, S_ACK3: u32 = 3, S_DATA_C: u32 = 4, S_DATA_S: u32 = 5, S_ACK_S: u32 = 6, S_ACK_C: u32 = 7;
const S_FIN_C: u32 = 8, S_FIN_S: u32 = 9, S_LASTACK_C: u32 = 10, S_RST_C: u32 = 11, S_UDP_REQ: u32 = 12, S_UDP_RESP: u32 = 13, S_ECHO: u32 = 14;
/** Bit s set: step s is sent by the server (SYN-ACK, server data and ACKs, server FIN, UDP response, echo reply). */
const SERVER_STEPS: u32 = (1 << 2) | (1 << 5) | (1 << 6) | (1 << 9) | (1 << 13) | (1 << 15);
// @ts-ignore: decorator
@inline function sideOf(step: u32): u32 { return (SERVER_STEPS >>> step) & 1; }

/** Bytes a sender may have unacknowledged: the window the SYN and SYN-ACK offer. */
const WINDOW: u32 = 64240;
const SYN_WIN: u32 = 64240;
/** Window field of every other segment: 502 << 7 = 64256 bytes. */
const DATA_WIN: u32 = 502;
const WSCALE: u32 = 7;
const EPH_LO: u32 = 32768, EPH_END: u32 = 61000;
/** Draws are cut to what a flow record holds: rtt 4 s, 65535 exchanges or echoes, 1e9 bytes per burst. */
const MAX_RTT_NS: f64 = 4e9, MAX_LEFT: f64 = 65535, MAX_BYTES: f64 = 1e9;

// ---- the generator's record ----
const G_PRNG: usize = 0, G_FILL_NO: usize = 4, G_CLIENTS: usize = 8, G_MSS: usize = 12, G_ICMP_SIZE: usize = 16;
/** Per descriptor of the last fill: its flow, | 1 << 31 when it was the flow's first packet. */
const G_BATCH: usize = 20, G_BATCH_CAP: usize = 24;
const G_WHEEL: usize = 28;
const G_NEXT_ARRIVAL: usize = 32, G_ARRIVAL_MEAN: usize = 40, G_END: usize = 48, G_MAX_PACKETS: usize = 56;
const G_GAP: usize = 64, G_INTERVAL: usize = 72, G_RST: usize = 80;
const G_KIND_CUM: usize = 88; // f64 x 3
const G_DIR_CUM: usize = 112; // f64 x 18: per kind, the cumulative direction weights
const G_LAWS: usize = 256; // LAW_COUNT law records
const G_FLOWS: usize = G_LAWS + <usize>LAW_COUNT * LAW_SIZE; // the flow pool
const G_TABLES: usize = G_FLOWS + FP_SIZE; // GT_COUNT x {u32 ptr, u32 entries}
const G_STATS: usize = G_TABLES + (<usize>GT_COUNT << 3); // GS_COUNT f64
const G_SIZE: usize = G_STATS + (<usize>GS_COUNT << 3);

// @ts-ignore: decorator
@inline function tbl(g: usize, t: i32): usize { return load<usize>(g + G_TABLES + (<usize>t << 3)); }
// @ts-ignore: decorator
@inline function tblN(g: usize, t: i32): u32 { return load<u32>(g + G_TABLES + (<usize>t << 3), 4); }
// @ts-ignore: decorator
@inline function statAdd(g: usize, s: i32, v: f64): void {
  const a = g + G_STATS + (<usize>s << 3);
  store<f64>(a, load<f64>(a) + v);
}
// @ts-ignore: decorator
@inline function law(g: usize, l: i32, u: f64): f64 { return lawAt(g + G_LAWS + <usize>l * LAW_SIZE, u); }

/** Packets written so far (the IP id's source) and the current fill's number, while a fill runs. */
let serial: f64 = 0;
let fillNo: u32 = 0;

/** A new generator: empty tables, no flows; the host sets its parameters, laws and tables next. */
export function genCreate(): usize {
  const g = zalloc(G_SIZE);
  store<usize>(g, wheelCreate(), G_WHEEL);
  store<f64>(g, Infinity, G_END);
  store<f64>(g, Infinity, G_MAX_PACKETS);
  return g;
}

export function genParamSet(g: usize, key: i32, v: f64): void {
  switch (key) {
    case GP_MSS: store<u32>(g, <u32>v, G_MSS); break;
    case GP_ICMP_SIZE: store<u32>(g, <u32>v, G_ICMP_SIZE); break;
    case GP_GAP_NS: store<f64>(g, v, G_GAP); break;
    case GP_INTERVAL_NS: store<f64>(g, v, G_INTERVAL); break;
    case GP_RST: store<f64>(g, v, G_RST); break;
    case GP_ARRIVAL_MEAN_NS: store<f64>(g, v, G_ARRIVAL_MEAN); break;
    case GP_END_NS: store<f64>(g, v, G_END); break;
    case GP_MAX_PACKETS: store<f64>(g, v, G_MAX_PACKETS); break;
    case GP_START_NS: store<f64>(g, v, G_NEXT_ARRIVAL); break;
    case GP_CLIENTS: store<u32>(g, <u32>v, G_CLIENTS); break;
    case GP_PRNG: store<u32>(g, <u32>v, G_PRNG); break;
    default:
      if (key >= GP_KIND_CUM && key < GP_KIND_CUM + 3) store<f64>(g + G_KIND_CUM + (<usize>(key - GP_KIND_CUM) << 3), v);
      else if (key >= GP_DIR_CUM && key < GP_DIR_CUM + 18) store<f64>(g + G_DIR_CUM + (<usize>(key - GP_DIR_CUM) << 3), v);
  }
}

export function genLawSet(g: usize, l: i32, kind: u32, a: f64, b: f64, c: f64): void {
  if (l >= 0 && l < LAW_COUNT) lawSet(g + G_LAWS + <usize>l * LAW_SIZE, kind, a, b, c);
}

export function genTableSet(g: usize, t: i32, ptr: usize, n: u32): void {
  if (t < 0 || t >= GT_COUNT) return;
  store<usize>(g + G_TABLES + (<usize>t << 3), ptr);
  store<u32>(g + G_TABLES + (<usize>t << 3), n, 4);
}

export function genStat(g: usize, s: i32): f64 {
  if (s == GS_ACTIVE) return <f64>flowsActive(g + G_FLOWS);
  if (s < 0 || s >= GS_COUNT) return 0;
  return load<f64>(g + G_STATS + (<usize>s << 3));
}

/**
 * Writes up to `max` descriptors (PKT_SIZE apart) at `base`; returns how
 * many, 0 when the traffic has ended. Fewer than `max` (but at least one)
 * when the next packet answers one written by this call: process these,
 * call genFeedback, and fill again.
 */
export function genFill(g: usize, base: usize, max: u32): u32 {
  const fp = g + G_FLOWS;
  const w = load<usize>(g, G_WHEEL);
  flowsRecycle(fp);
  // room for `max` new flows and the batch record: nothing grows in the loop
  const cap = flowsReserve(fp, max);
  if (cap) wheelReserve(w, cap);
  if (max > load<u32>(g, G_BATCH_CAP)) {
    store<usize>(g, grow(load<usize>(g, G_BATCH), <usize>load<u32>(g, G_BATCH_CAP) << 2, <usize>max << 2), G_BATCH);
    store<u32>(g, max, G_BATCH_CAP);
  }
  const batch = load<usize>(g, G_BATCH);
  prngLoad(load<u32>(g, G_PRNG));
  serial = load<f64>(g, G_STATS + (<usize>GS_PACKETS << 3));
  fillNo = load<u32>(g, G_FILL_NO) + 1;
  store<u32>(g, fillNo, G_FILL_NO);
  const maxPackets = load<f64>(g, G_MAX_PACKETS);
  const endNs = load<f64>(g, G_END);
  const meanNs = load<f64>(g, G_ARRIVAL_MEAN);
  let nextArrival = load<f64>(g, G_NEXT_ARRIVAL);
  let n: u32 = 0;
  while (n < max && serial < maxPackets) {
    let t = nextArrival;
    let f: u32;
    let first: u32;
    const top = wheelPeek(w);
    if (t < top) {
      if (t >= endNs) { nextArrival = Infinity; continue; }
      f = startFlow(g);
      nextArrival = t + Math.max(1, Math.round(-Math.log(1 - rnd()) * meanNs));
      first = 1;
    } else {
      if (top == Infinity) break;
      f = <u32>wheelPeekedFlow(w);
      t = top;
      const r = flowRec(fp, f);
      if (sideOf(load<u8>(r, F_STEP)) != load<u8>(r, F_LAST_SIDE)) {
        // this packet answers the other side's last one: its fate must be known
        if (load<u32>(r, F_LAST_FILL) == fillNo) { statAdd(g, GS_SHORT_FILLS, 1); break; }
        if (load<u8>(r, F_FLAGS) & FF_DROPPED) { wheelPopPeeked(w); statAdd(g, GS_ABORTED, 1); flowRelease(fp, f); continue; }
        if (load<u8>(r, F_FATE) == 2) { wheelPopPeeked(w); statAdd(g, GS_BY_NODE, 1); flowRelease(fp, f); continue; }
      }
      first = 0;
    }
    const delay = emit(g, base + (<usize>n << PKT_SHIFT), f, t);
    store<u32>(batch + (<usize>n << 2), f | (first << 31));
    n++;
    if (!first) wheelPopPeeked(w);
    if (delay >= 0) wheelPush(w, t + delay, <i32>f);
    else { statAdd(g, GS_COMPLETED, 1); flowRelease(fp, f); }
  }
  store<f64>(g, nextArrival, G_NEXT_ARRIVAL);
  store<f64>(g + G_STATS + (<usize>GS_PACKETS << 3), serial);
  store<u32>(g, prngSave(), G_PRNG);
  return n;
}

/**
 * Reads what the node did with the `n` descriptors of the last fill (at
 * `base`), after processing: drops end their flows, and a flow's first
 * packet as it left the node is what the server answers.
 */
export function genFeedback(g: usize, base: usize, n: u32): void {
  const fp = g + G_FLOWS;
  const batch = load<usize>(g, G_BATCH);
  statAdd(g, GS_FED, <f64>n);
  for (let k: u32 = 0; k < n; k++) {
    const p = base + (<usize>k << PKT_SHIFT);
    const e = load<u32>(batch + (<usize>k << 2));
    const r = flowRec(fp, e & 0x7fffffff);
    const v = load<u8>(p, PKT_VERDICT);
    if (v == VERDICT_DROP) { store<u8>(r, load<u8>(r, F_FLAGS) | FF_DROPPED, F_FLAGS); statAdd(g, GS_DROPPED, 1); }
    if (!(e >>> 31)) continue;
    if (v == VERDICT_FORWARD) {
      const src = load<u32>(p, PKT_OUT_SRC);
      const dst = load<u32>(p, PKT_OUT_DST);
      const icmp = load<u8>(r, F_KIND) == K_ICMP;
      const sport: u32 = icmp ? load<u16>(p, PKT_OUT_ICMP_ID) : load<u16>(p, PKT_OUT_SPORT);
      const dport: u32 = icmp ? 0 : load<u16>(p, PKT_OUT_DPORT);
      if (src != load<u32>(r, F_C_SRC) || dst != load<u32>(r, F_C_DST) || sport != <u32>load<u16>(r, F_C_SPORT) || (!icmp && dport != <u32>load<u16>(r, F_C_DPORT))) {
        statAdd(g, GS_TRANSLATED, 1);
      }
      store<u32>(r, dst, F_S_SRC); store<u32>(r, src, F_S_DST); store<u16>(r, <u16>dport, F_S_SPORT); store<u16>(r, <u16>sport, F_S_DPORT);
      const oif: u32 = load<u16>(p, PKT_OIF);
      let iif = oif;
      if (oif >= tblN(g, GT_IS_VETH) || !load<u8>(tbl(g, GT_IS_VETH) + <usize>oif)) {
        const o = ownerOf(g, src);
        if (o != 0) iif = o;
      }
      store<u16>(r, <u16>iif, F_S_IIF);
      store<u8>(r, 1, F_FATE);
    } else store<u8>(r, v == VERDICT_LOCAL ? 2 : 3, F_FATE);
  }
}

/** The ENI slot that receives traffic for address a (ENI addresses, pod IPs), 0 if none. */
function ownerOf(g: usize, a: u32): u32 {
  const n = tblN(g, GT_OWNER);
  if (n == 0) return 0;
  const t = tbl(g, GT_OWNER);
  const mask = n - 1;
  let i = ((a * GEN_OWNER_HASH) >>> (32 - ctz(n))) & mask;
  let slot = load<u32>(t + <usize>i * GEN_OWNER_SIZE, 4);
  while (slot != 0 && load<u32>(t + <usize>i * GEN_OWNER_SIZE) != a) {
    i = (i + 1) & mask;
    slot = load<u32>(t + <usize>i * GEN_OWNER_SIZE, 4);
  }
  return slot;
}

// ---- flows ----------------------------------------------------------------

/** A port from a list, by the uniform draw `u`. */
// @ts-ignore: decorator
@inline function pickPort(g: usize, t: i32, u: f64): u32 {
  const n = tblN(g, t);
  const p = tbl(g, t);
  return n == 1 ? <u32>load<u16>(p) : <u32>load<u16>(p + (<usize>(<u32>(u * <f64>n)) << 1));
}

/**
 * A draw made while a flow runs (the size of a request or response): a
 * hash of the flow (its 32-bit draw key and round-trip time, drawn when it
 * started), of the exchange (exchanges left) and of
 * what is drawn (`what`), uniform in [0, 1). Keyed, not taken from the
 * generator's stream: a flow that ends early, or runs differently, changes
 * no other flow's draws.
 */
function flowDraw(r: usize, what: u32): f64 {
  let h = load<u32>(r, F_KEY) * 0x9E3779B1;
  h ^= (h >>> 15) ^ load<u32>(r, F_RTT) * 0x85EBCA77;
  h ^= ((<u32>load<u16>(r, F_LEFT) << 8) | what) * 0xC2B2AE3D;
  h ^= h >>> 16; h *= 0x85EBCA6B; h ^= h >>> 13; h *= 0xC2B2AE35; h ^= h >>> 16;
  return <f64>h * (1.0 / 4294967296.0);
}
const DRAW_TCP_REQUEST: u32 = 1, DRAW_TCP_RESPONSE: u32 = 2, DRAW_UDP_REQUEST: u32 = 3, DRAW_UDP_RESPONSE: u32 = 4;

/** The next ephemeral port of a source (clients first, then pods). */
// @ts-ignore: decorator
@inline function nextEphemeral(g: usize, source: u32): u32 {
  const a = tbl(g, GT_EPHEMERAL) + (<usize>source << 1);
  const p: u32 = load<u16>(a);
  store<u16>(a, <u16>(p + 1 >= EPH_END ? EPH_LO : p + 1));
  return p;
}

/** Draws a new flow's kind, direction, endpoints and laws; its first step is set. */
function startFlow(g: usize): u32 {
  const fp = g + G_FLOWS;
  const f = flowAlloc(fp);
  const r = flowRec(fp, f);
  const ku = rnd() * load<f64>(g, G_KIND_CUM + 16);
  const k: u32 = ku < load<f64>(g, G_KIND_CUM) ? K_TCP : ku < load<f64>(g, G_KIND_CUM + 8) ? K_UDP : K_ICMP;
  const cum = g + G_DIR_CUM + <usize>k * 48;
  const du = rnd() * load<f64>(cum, 40);
  let d: u32 = 0;
  while (d < 5 && du >= load<f64>(cum + (<usize>d << 3))) d++;
  let src: u32, dst: u32, sport: u32, dport: u32 = 0, iif: u32, sIif: u32, target: i32;
  const ports = GT_POD_PORTS + (k == K_TCP ? 0 : 1);
  const sk: i32 = k == K_TCP ? 0 : 1;
  // the same three draws for every direction (source, target, port), used or not: a flow's
  // later draws, and every later flow's, do not depend on which direction it took
  const uSource = rnd(), uTarget = rnd(), uPort = rnd();
  if (d == D_NODEPORT || d == D_LB || d == D_PODIP) {
    const c = zipfAt(tbl(g, GT_CLIENT_ZIPF), tblN(g, GT_CLIENT_ZIPF), uSource);
    src = load<u32>(tbl(g, GT_CLIENT_IP) + (<usize>c << 2));
    sport = nextEphemeral(g, c);
    if (d == D_PODIP) {
      target = zipfAt(tbl(g, GT_POD_ZIPF), tblN(g, GT_POD_ZIPF), uTarget);
      const pe = tbl(g, GT_POD) + <usize>target * GEN_POD_SIZE;
      dst = load<u32>(pe);
      if (k != K_ICMP) dport = pickPort(g, ports, uPort);
      iif = load<u16>(pe, 6);
      sIif = load<u16>(pe, 4);
      const nlbs = tblN(g, GT_NLB_IP);
      if (k == K_TCP && nlbs != 0) {
        // an IP target without client IP preservation: the NLB's address (the client's NLB node) and port
        const j = <u32>c % nlbs;
        src = load<u32>(tbl(g, GT_NLB_IP) + (<usize>j << 2));
        sport = nextEphemeral(g, load<u32>(g, G_CLIENTS) + tblN(g, GT_POD) + j);
      }
    } else {
      const t = <i32>d * 2 + sk;
      target = zipfAt(tbl(g, GT_SVC_ZIPF + t), tblN(g, GT_SVC_ZIPF + t), uTarget);
      const se = tbl(g, GT_SVC + t) + <usize>target * GEN_SVC_SIZE;
      dst = load<u32>(se);
      dport = load<u16>(se, 4);
      iif = load<u16>(se, 6);
      sIif = iif;
    }
  } else {
    const pods = tbl(g, GT_POD);
    const a = zipfAt(tbl(g, GT_POD_ZIPF), tblN(g, GT_POD_ZIPF), uSource);
    const pa = pods + <usize>a * GEN_POD_SIZE;
    src = load<u32>(pa);
    iif = load<u16>(pa, 4);
    sport = nextEphemeral(g, load<u32>(g, G_CLIENTS) + <u32>a);
    sIif = load<u16>(pa, 6);
    if (d == D_POD2POD) {
      let b = zipfAt(tbl(g, GT_POD_ZIPF), tblN(g, GT_POD_ZIPF), uTarget);
      if (b == a) b = (b + 1) % <i32>tblN(g, GT_POD);
      target = b;
      const pb = pods + <usize>b * GEN_POD_SIZE;
      dst = load<u32>(pb);
      if (k != K_ICMP) dport = pickPort(g, ports, uPort);
      sIif = load<u16>(pb, 4);
    } else if (d == D_POD2CIP) {
      const t = <i32>d * 2 + sk;
      target = zipfAt(tbl(g, GT_SVC_ZIPF + t), tblN(g, GT_SVC_ZIPF + t), uTarget);
      const se = tbl(g, GT_SVC + t) + <usize>target * GEN_SVC_SIZE;
      dst = load<u32>(se);
      dport = load<u16>(se, 4);
    } else {
      target = zipfAt(tbl(g, GT_SERVER_ZIPF), tblN(g, GT_SERVER_ZIPF), uTarget);
      dst = load<u32>(tbl(g, GT_SERVER_IP) + (<usize>target << 2));
      if (k != K_ICMP) dport = pickPort(g, GT_SERVER_PORTS + sk, uPort);
    }
  }
  const tc = tbl(g, GT_TARGETS + <i32>d) + (<usize>target << 3);
  store<f64>(tc, load<f64>(tc) + 1);
  statAdd(g, GS_FLOW_KIND + <i32>k, 1);
  statAdd(g, GS_FLOW_DIR + <i32>d, 1);
  store<u8>(r, <u8>k, F_KIND); store<u8>(r, <u8>d, F_DIR);
  store<u32>(r, src, F_C_SRC); store<u32>(r, dst, F_C_DST); store<u16>(r, <u16>sport, F_C_SPORT); store<u16>(r, <u16>dport, F_C_DPORT); store<u16>(r, <u16>iif, F_C_IIF);
  // open loop until feedback says otherwise: the server sees the packet as sent
  store<u32>(r, dst, F_S_SRC); store<u32>(r, src, F_S_DST); store<u16>(r, <u16>dport, F_S_SPORT); store<u16>(r, <u16>sport, F_S_DPORT); store<u16>(r, <u16>sIif, F_S_IIF);
  store<u8>(r, 1, F_FATE); store<u8>(r, 0, F_FLAGS); store<u8>(r, 0, F_LAST_SIDE);
  store<u32>(r, <u32>Math.min(MAX_RTT_NS, Math.max(1, Math.round(law(g, LAW_RTT, rnd()) * 1e9))), F_RTT);
  store<u32>(r, <u32>(rnd() * 4294967296.0), F_KEY);
  if (k == K_TCP) {
    store<u8>(r, <u8>S_SYN, F_STEP);
    store<u32>(r, <u32>(rnd() * 4294967296.0), F_C_SEQ);
    store<u32>(r, <u32>(rnd() * 4294967296.0), F_S_SEQ);
    store<u16>(r, <u16>Math.min(MAX_LEFT, Math.round(law(g, LAW_TCP_EXCHANGES, rnd()))), F_LEFT);
    if (rnd() < load<f64>(g, G_RST)) store<u8>(r, FF_RST, F_FLAGS);
    store<u16>(r, 0, F_C_WIN); store<u16>(r, 0, F_S_WIN);
  } else if (k == K_UDP) {
    store<u8>(r, <u8>S_UDP_REQ, F_STEP);
    store<u16>(r, <u16>Math.min(MAX_LEFT, Math.max(0, Math.round(law(g, LAW_UDP_EXCHANGES, rnd())) - 1)), F_LEFT);
  } else {
    store<u8>(r, <u8>S_ECHO, F_STEP);
    store<u32>(r, 1, F_C_SEQ);
    store<u16>(r, <u16>Math.min(MAX_LEFT, Math.max(0, Math.round(law(g, LAW_ICMP_COUNT, rnd())) - 1)), F_LEFT);
  }
  return f;
}

/** Starts a TCP exchange: the size of the request (the response's is drawn when the request is sent). */
// @ts-ignore: decorator
@inline function newExchange(g: usize, r: usize): void {
  store<u32>(r, <u32>Math.min(MAX_BYTES, Math.max(1, Math.round(law(g, LAW_TCP_REQUEST, flowDraw(r, DRAW_TCP_REQUEST))))), F_REM);
}

/** The client's move after an exchange: the next exchange, or the teardown. */
function clientNext(g: usize, r: usize): void {
  const left = load<u16>(r, F_LEFT);
  if (left > 0) {
    store<u16>(r, left - 1, F_LEFT);
    newExchange(g, r);
    store<u8>(r, <u8>S_DATA_C, F_STEP);
  } else store<u8>(r, <u8>((load<u8>(r, F_FLAGS) & FF_RST) != 0 ? S_RST_C : S_FIN_C), F_STEP);
}

/**
 * Writes every input field of the descriptor at p (as encodePacket would for
 * the same packet: arriving on `iif`, source given, TTL 64, checksum ok).
 */
// @ts-ignore: decorator
@inline function put(
  p: usize, src: u32, dst: u32, sport: u32, dport: u32, proto: u32, tflags: u32, len: u32, iif: u32,
  seq: u32, ack: u32, win: u32, icmpType: u32, icmpId: u32, icmpSeq: u32, doff: u32, wscale: u32, topts: u32, t: f64,
): void {
  store<u32>(p, src, PKT_SRC);
  store<u32>(p, dst, PKT_DST);
  store<u32>(p, sport | (dport << 16), PKT_SPORT); // PKT_DPORT
  store<u32>(p, proto | (tflags << 8) | (64 << 16), PKT_PROTO); // PKT_TCPFLAGS, PKT_TTL 64, PKT_TOS 0
  store<u32>(p, len | (PF_SRC_SET << 16), PKT_LEN); // PKT_FLAGS
  store<u32>(p, iif, PKT_IIF); // PKT_BOUND_OIF 0
  store<u32>(p, 0, PKT_MARK);
  store<u32>(p, seq, PKT_SEQ);
  store<u32>(p, ack, PKT_ACK);
  store<u32>(p, win | (icmpType << 16), PKT_WIN); // PKT_ICMP_TYPE, PKT_ICMP_CODE 0
  store<u32>(p, icmpId | ((<u32><i64>serial & 0xffff) << 16), PKT_ICMP_ID); // PKT_IPID
  store<u64>(p, 0, PKT_INNER_SRC); // PKT_INNER_DST
  store<u32>(p, 0, PKT_INNER_SPORT); // PKT_INNER_DPORT
  store<u32>(p, (doff << 8) | (icmpSeq << 16), PKT_INNER_PROTO); // PKT_TCP_DOFF, PKT_ICMP_SEQ
  store<u32>(p, 0, PKT_UID);
  store<u64>(p, <u64>t, PKT_TIME);
  store<u32>(p, wscale | (topts << 8), PKT_TCP_WSCALE); // PKT_TCP_OPTS, PKT_CSCOV 0
  store<u32>(p, 0, PKT_TCP_SACK);
  store<u64>(p, 0, PKT_GID); // PKT_CSUM, PKT_IP_ERROR, PKT_FRAG_MAX
  store<u32>(p, 0, PKT_INNER_ICMP_TYPE); // PKT_INNER_ICMP_CODE, PKT_CPU, PKT_L4_BYTES
  serial += 1;
}

/** dataSegment's outcomes: the exchange's last segment, more to send, or a full window (wait for an ACK). */
const DATA_LAST: u32 = 0, DATA_MORE: u32 = 1, DATA_WINDOW_FULL: u32 = 2;

/**
 * A data segment from one side of a TCP flow: the next bytes of the
 * exchange's F_REM, at most an MSS and what the window has left (`winField`
 * counts the bytes this side sent since the other acknowledged; the other
 * side's count starts again). `seq`/`ack` are the sender's sequence and the
 * other side's; `seqField` is the sender's.
 */
// @ts-ignore: decorator
@inline function dataSegment(
  g: usize, r: usize, p: usize, src: u32, dst: u32, sport: u32, dport: u32, iif: u32,
  seq: u32, ack: u32, seqField: usize, winField: usize, peerWinField: usize, t: f64,
): u32 {
  const rem = load<u32>(r, F_REM);
  const win: u32 = load<u16>(r + winField);
  const pay = min(min(load<u32>(g, G_MSS), rem), WINDOW - win);
  const last = pay == rem;
  put(p, src, dst, sport, dport, 6, last ? TH_PSH | TH_ACK : TH_ACK, 40 + pay, iif, seq, ack, DATA_WIN, 0, 0, 0, 5, 0, 0, t);
  store<u32>(r + seqField, seq + pay);
  store<u32>(r, rem - pay, F_REM);
  store<u16>(r + winField, <u16>(win + pay));
  store<u16>(r + peerWinField, 0);
  return last ? DATA_LAST : win + pay < WINDOW ? DATA_MORE : DATA_WINDOW_FULL;
}

/**
 * Writes flow f's next packet at descriptor p, time t (ns), and moves the
 * flow on. Returns the delay (ns) to its next packet, -1 at its end.
 */
// @ts-ignore: decorator
@inline function emit(g: usize, p: usize, f: u32, t: f64): f64 {
  const r = flowRec(g + G_FLOWS, f);
  const step: u32 = load<u8>(r, F_STEP);
  const side = sideOf(step);
  const k: u32 = load<u8>(r, F_KIND);
  store<u32>(r, fillNo, F_LAST_FILL);
  store<u8>(r, <u8>side, F_LAST_SIDE);
  statAdd(g, GS_PKT_KIND + <i32>k, 1);
  statAdd(g, GS_PKT_DIR + <i32>load<u8>(r, F_DIR), 1);
  const rtt = <f64>load<u32>(r, F_RTT);
  let src: u32, dst: u32, sport: u32, dport: u32, iif: u32;
  if (side == 0) {
    src = load<u32>(r, F_C_SRC); dst = load<u32>(r, F_C_DST); sport = load<u16>(r, F_C_SPORT); dport = load<u16>(r, F_C_DPORT); iif = load<u16>(r, F_C_IIF);
  } else {
    src = load<u32>(r, F_S_SRC); dst = load<u32>(r, F_S_DST); sport = load<u16>(r, F_S_SPORT); dport = load<u16>(r, F_S_DPORT); iif = load<u16>(r, F_S_IIF);
  }
  if (k == K_UDP) {
    const req = step == S_UDP_REQ;
    const len = 28 + <u32>Math.max(0, Math.round(law(g, req ? LAW_UDP_REQUEST : LAW_UDP_RESPONSE, flowDraw(r, req ? DRAW_UDP_REQUEST : DRAW_UDP_RESPONSE))));
    put(p, src, dst, sport, dport, 17, 0, len, iif, 0, 0, 0, 0, 0, 0, 0, 0, 0, t);
    if (req) { store<u8>(r, <u8>S_UDP_RESP, F_STEP); return rtt; }
    const left = load<u16>(r, F_LEFT);
    if (left > 0) { store<u16>(r, left - 1, F_LEFT); store<u8>(r, <u8>S_UDP_REQ, F_STEP); return rtt; }
    return -1;
  }
  if (k == K_ICMP) {
    const size = load<u32>(g, G_ICMP_SIZE);
    const seq = load<u32>(r, F_C_SEQ);
    if (step == S_ECHO) {
      put(p, src, dst, 0, 0, 1, 0, size, iif, 0, 0, 0, 8, sport, seq, 0, 0, 0, t);
      store<u8>(r, <u8>(S_ECHO + 1), F_STEP);
      return rtt;
    }
    put(p, src, dst, 0, 0, 1, 0, size, iif, 0, 0, 0, 0, dport, seq, 0, 0, 0, t);
    store<u32>(r, (seq + 1) & 0xffff, F_C_SEQ);
    const left = load<u16>(r, F_LEFT);
    if (left > 0) { store<u16>(r, left - 1, F_LEFT); store<u8>(r, <u8>S_ECHO, F_STEP); return Math.max(0, load<f64>(g, G_INTERVAL) - rtt); }
    return -1;
  }
  // TCP
  const gap = load<f64>(g, G_GAP);
  const cseq = load<u32>(r, F_C_SEQ), sseq = load<u32>(r, F_S_SEQ);
  switch (step) {
    case S_SYN: {
      put(p, src, dst, sport, dport, 6, TH_SYN, 52, iif, cseq, 0, SYN_WIN, 0, 0, 0, 8, WSCALE + 1, TO_SACK_PERM, t);
      store<u32>(r, cseq + 1, F_C_SEQ);
      store<u8>(r, <u8>S_SYNACK, F_STEP);
      return rtt;
    }
    case S_SYNACK: {
      put(p, src, dst, sport, dport, 6, TH_SYN | TH_ACK, 52, iif, sseq, cseq, SYN_WIN, 0, 0, 0, 8, WSCALE + 1, TO_SACK_PERM, t);
      store<u32>(r, sseq + 1, F_S_SEQ);
      store<u8>(r, <u8>S_ACK3, F_STEP);
      return rtt;
    }
    case S_ACK3: {
      put(p, src, dst, sport, dport, 6, TH_ACK, 40, iif, cseq, sseq, DATA_WIN, 0, 0, 0, 5, 0, 0, t);
      clientNext(g, r);
      return gap;
    }
    case S_DATA_C: {
      const more = dataSegment(g, r, p, src, dst, sport, dport, iif, cseq, sseq, F_C_SEQ, F_C_WIN, F_S_WIN, t);
      if (more != DATA_LAST) {
        if (more == DATA_MORE) return gap;
        store<u8>(r, <u8>S_ACK_S, F_STEP);
        return rtt;
      }
      const resp = <u32>Math.min(MAX_BYTES, Math.max(0, Math.round(law(g, LAW_TCP_RESPONSE, flowDraw(r, DRAW_TCP_RESPONSE)))));
      store<u32>(r, resp, F_REM);
      store<u8>(r, <u8>(resp > 0 ? S_DATA_S : S_ACK_S), F_STEP);
      return rtt;
    }
    case S_ACK_S: {
      put(p, src, dst, sport, dport, 6, TH_ACK, 40, iif, sseq, cseq, DATA_WIN, 0, 0, 0, 5, 0, 0, t);
      store<u16>(r, 0, F_C_WIN);
      if (load<u32>(r, F_REM) > 0) store<u8>(r, <u8>S_DATA_C, F_STEP);
      else clientNext(g, r);
      return rtt;
    }
    case S_DATA_S: {
      const more = dataSegment(g, r, p, src, dst, sport, dport, iif, sseq, cseq, F_S_SEQ, F_S_WIN, F_C_WIN, t);
      if (more != DATA_LAST) {
        if (more == DATA_MORE) return gap;
        store<u8>(r, <u8>S_ACK_C, F_STEP);
        return rtt;
      }
      clientNext(g, r);
      return rtt;
    }
    case S_ACK_C: {
      put(p, src, dst, sport, dport, 6, TH_ACK, 40, iif, cseq, sseq, DATA_WIN, 0, 0, 0, 5, 0, 0, t);
      store<u16>(r, 0, F_S_WIN);
      store<u8>(r, <u8>S_DATA_S, F_STEP);
      return rtt;
    }
    case S_FIN_C: {
      put(p, src, dst, sport, dport, 6, TH_FIN | TH_ACK, 40, iif, cseq, sseq, DATA_WIN, 0, 0, 0, 5, 0, 0, t);
      store<u32>(r, cseq + 1, F_C_SEQ);
      store<u8>(r, <u8>S_FIN_S, F_STEP);
      return rtt;
    }
    case S_FIN_S: {
      put(p, src, dst, sport, dport, 6, TH_FIN | TH_ACK, 40, iif, sseq, cseq, DATA_WIN, 0, 0, 0, 5, 0, 0, t);
      store<u32>(r, sseq + 1, F_S_SEQ);
      store<u8>(r, <u8>S_LASTACK_C, F_STEP);
      return rtt;
    }
    case S_LASTACK_C: {
      put(p, src, dst, sport, dport, 6, TH_ACK, 40, iif, cseq, sseq, DATA_WIN, 0, 0, 0, 5, 0, 0, t);
      return -1;
    }
    default: { // S_RST_C
      put(p, src, dst, sport, dport, 6, TH_RST | TH_ACK, 40, iif, cseq, sseq, 0, 0, 0, 0, 5, 0, 0, t);
      return -1;
    }
  }
}
