/**
 * Sharding packets over workers (`replay --workers N`) so that both
 * directions of every connection reach the same worker, NAT included.
 *
 * The problem: each worker has its own Engine, hence its own conntrack
 * table. A reply's tuple differs from its original's when the node
 * translated the connection (SNAT/MASQUERADE to a node address, DNAT to a
 * pod, both for a NodePort with externalTrafficPolicy Cluster), so a 5-tuple
 * hash alone would send the reply to a worker that never saw the connection.
 *
 * The design (README, "replay --workers"):
 *  1. The static key. A packet with exactly one end at a *frontend* (a
 *     node address, a `-d A/32` of the nat table: ClusterIPs, load
 *     balancer IPs, or a DNAT target address:port, where a DNATed
 *     connection's reply comes from) goes by a hash of the other end's
 *     address (so a DNATed connection's reply hashes like its original): a client's
 *     every connection to the node's services is on one worker, so
 *     kube-proxy's session affinity (`-m recent --rsource`, keyed by the
 *     client address) sees them all, and the reply of a pod's connection
 *     SNATed to the node address (from the remote server to the node) hashes
 *     like its original (see next). Else a packet with exactly one end
 *     *outside* (not a frontend, not a pod on the node: a /32 route on a
 *     device without an address, as the VPC CNI routes its pods' veths)
 *     goes by a hash of that end's address, the end NAT never rewrites here:
 *     both directions of a pod's connection to the internet, SNATed or not,
 *     of an NLB's connection to a pod IP, hash the same, and every
 *     connection that could compete for an SNAT port to one outside address
 *     is on one worker (the NAT port search sees them all, as the kernel's
 *     does), as are all the packets from and to one outside peer (its ICMP
 *     rate limits). Else (pod to pod, node to node) a symmetric hash of both
 *     endpoints with ports (both directions hash the same, as a symmetric
 *     RSS key does).
 *  2. A translated connection's reply tuple is *learned*: the worker that
 *     made the connection reports its reply tuple (conntrack's, read from
 *     the descriptor) and the dispatcher sends packets with that tuple to the
 *     same worker. Only tuples that can be translated are looked up and
 *     learned: those with a node address (or an SNAT --to-source address) as
 *     source or destination, or a DNAT target (--to-destination) as source.
 *     The node's configuration says which these are (NatTopology).
 *  3. Determinism: what the dispatcher has learned changes only at fixed
 *     points (results of round r-8 are applied when round r is handed over). A
 *     translatable packet whose tuple is not learned yet, and could be the
 *     reply of a connection still in flight on another worker than its
 *     static one (an in-flight connection-opening packet could have made it:
 *     same address on the far side, or a DNAT+SNAT opener when the packet
 *     comes from a DNAT target to a node address), waits for a barrier:
 *     every in-flight round completes and is applied first. The decision for
 *     a packet therefore depends only on the packets before it, never on
 *     timing. A learned tuple is used at once: it can only mislead when a
 *     connection's reply tuple is taken again by a new connection made on
 *     another worker while the new one's first packet is still in flight
 *     (README lists this).
 */
import * as abi from "../core/abi.js";
import type { NodeSnapshot } from "../model/node.js";
import type { IptRule, IptRuleset, IptTable } from "../model/iptables.js";
import { AddrSet, FlowMap, flow, fmix32, isOpener, readFlow, symmetricHash } from "./flow.js";

/** Which addresses the node's translations can put in a tuple (plain arrays: posted to workers). */
export interface NatTopology {
  /** Node addresses and SNAT --to-source addresses (MASQUERADE picks a node address). */
  local: number[];
  /** DNAT --to-destination targets as address*65536+port (port 0: any port of the address). */
  dnatTargets: number[];
  /** Destinations a DNAT can be keyed on: -d A/32 addresses in the nat table (node addresses count too). */
  dnatFrontends: number[];
  /** Addresses that are not outside: the node's, its pods' (/32 link routes), the DNAT frontends. */
  inside: number[];
  /**
   * Which frontends lead to which DNAT target, from the nat table's chains
   * (walked from PREROUTING and OUTPUT): triples of frontend address
   * (ANY_LOCAL: any node address, as KUBE-NODEPORTS after `--dst-type
   * LOCAL`; 0: any address), frontend port (0: any), target
   * (address*65536+port, port 0: any).
   */
  dnatPaths: number[];
}

export const ANY_LOCAL = 0xffffffff;

/** RTN_LOCAL's bit in an addrtype match's mask (1 << RTN_LOCAL). */
const ADDRTYPE_LOCAL = 1 << 2;
/** Addresses taken at most from one address range of a NAT target (a larger range is unlikely in a NAT rule). */
const RANGE_CAP = 65536;
/** DNAT target addresses per range a path names at most. */
const PATH_RANGE_CAP = 256;

/** The addresses minIp..maxIp (at most `cap` of them). */
function addRange(out: Set<number>, a: number, b: number, cap = RANGE_CAP): void {
  for (let x = a >>> 0, k = 0; x <= b >>> 0 && k < cap; x++, k++) out.add(x >>> 0);
}

/** A rule's destination when it names exactly one address (`-d A/32`, not negated). */
function dstAddress(r: IptRule): number | undefined {
  return r.dst && !r.dst.inv && r.dst.plen === 32 ? r.dst.addr >>> 0 : undefined;
}

/** A rule's destination port when its tcp/udp/sctp/dccp match names exactly one (`--dport N`, not negated). */
function dstPort(r: IptRule): number | undefined {
  for (const m of r.matches) {
    if ((m.kind === "tcp" || m.kind === "udp" || m.kind === "sctp" || m.kind === "dccp") && m.dport && !m.dport.inv && m.dport.lo === m.dport.hi) return m.dport.lo;
  }
  return undefined;
}

/** Does the rule match only packets to a node address (`-m addrtype --dst-type LOCAL`, not negated)? */
function dstLocal(r: IptRule): boolean {
  return r.matches.some((m) => m.kind === "addrtype" && m.dstType !== undefined && !m.dstType.inv && m.dstType.mask === ADDRTYPE_LOCAL);
}

/** The chain a rule continues in (-j/-g to a user chain), if any. */
function nextChain(r: IptRule): string | undefined {
  return r.target.kind === "jump" || r.target.kind === "goto" ? r.target.chain : undefined;
}

/**
 * The DNAT paths of a nat table (see NatTopology.dnatPaths): the chains
 * walked from PREROUTING and OUTPUT, each rule narrowing the frontend by its
 * `-d A/32`, `--dport N` and `--dst-type LOCAL`, down to its DNAT targets.
 * What a rule does not narrow this way (a prefix, a port range, a negation,
 * another address type) leaves the frontend wider: a path may name more
 * frontends than reach a target, never fewer (the dispatcher then waits
 * more often, never too little).
 */
function dnatPaths(nat: IptTable): number[] {
  const chains = new Map(nat.chains.map((c) => [c.name, c.rules]));
  const out: number[] = [];
  const seen = new Set<string>();
  const walk = (chain: string, d: number | undefined, local: boolean, dport: number | undefined, depth: number, stack: Set<string>) => {
    const rules = chains.get(chain);
    if (!rules || depth > 16 || stack.has(chain)) return;
    stack.add(chain);
    for (const r of rules) {
      const rd = dstAddress(r) ?? d, rl = dstLocal(r) || local, rp = dstPort(r) ?? dport;
      if (r.target.kind === "DNAT") {
        const fa = rd !== undefined ? rd : rl ? ANY_LOCAL : 0;
        for (const g of r.target.ranges) {
          if (g.minIp === 0) continue; // a port-only DNAT keeps the frontend's address: its reply comes from the frontend
          const addrs = new Set<number>();
          addRange(addrs, g.minIp, g.maxIp, PATH_RANGE_CAP);
          for (const a of addrs) {
            const t = a * 65536 + (g.minPort === g.maxPort ? g.minPort : 0);
            const key = `${fa}/${rp ?? 0}/${t}`;
            if (!seen.has(key)) { seen.add(key); out.push(fa, rp ?? 0, t); }
          }
        }
      }
      const next = nextChain(r);
      if (next !== undefined) walk(next, rd, rl, rp, depth + 1, stack);
    }
    stack.delete(chain);
  };
  walk("PREROUTING", undefined, false, undefined, 0, new Set());
  walk("OUTPUT", undefined, false, undefined, 0, new Set());
  return out;
}

/**
 * The node's translation addresses, from its addresses and the ruleset the
 * engine runs (its nat table: parsed, so a rule reads here as it reads to
 * the engine, counters, negations and quoting included).
 */
export function natTopology(snap: NodeSnapshot, ruleset: IptRuleset | undefined): NatTopology {
  const local = new Set<number>();
  for (const a of snap.addrs) local.add(a.local >>> 0);
  const targets = new Set<number>();
  const frontends = new Set<number>();
  const nat = ruleset?.tables.find((t) => t.name === "nat");
  for (const chain of nat?.chains ?? []) {
    for (const r of chain.rules) {
      const d = dstAddress(r);
      if (d !== undefined) frontends.add(d);
      const t = r.target;
      if (t.kind === "DNAT") {
        for (const g of t.ranges) {
          if (g.minIp === 0) continue; // port only: the reply comes from the frontend's address
          const addrs = new Set<number>();
          addRange(addrs, g.minIp, g.maxIp);
          for (const x of addrs) {
            if (g.minPort === 0 || g.maxPort - g.minPort > 1024) targets.add(x * 65536);
            else for (let p = g.minPort; p <= g.maxPort; p++) targets.add(x * 65536 + p);
          }
        }
      } else if (t.kind === "SNAT") {
        for (const g of t.ranges) if (g.minIp !== 0) addRange(local, g.minIp, g.maxIp);
      } else if (t.kind === "NETMAP") {
        // a prefix mapped 1:1: as a DNAT to every address of it (replies come from them), as an SNAT to them (replies go to them)
        const size = t.plen === 0 ? 2 ** 32 : 2 ** (32 - t.plen);
        const lo = (t.addr >>> 0) - ((t.addr >>> 0) % size);
        const addrs = new Set<number>();
        addRange(addrs, lo, lo + size - 1);
        for (const x of addrs) { targets.add(x * 65536); local.add(x); }
      }
    }
  }
  for (const a of local) frontends.add(a);
  const inside = new Set<number>(frontends);
  // pods on the node: the VPC CNI routes each one as a /32 on its host veth, a device without an address
  const addressed = new Set(snap.addrs.map((a) => a.dev));
  for (const r of snap.routes) {
    if (r.plen === 32 && r.type === "unicast" && r.gw === 0 && r.dev !== undefined && r.table !== 255 && !addressed.has(r.dev)) inside.add(r.prefix >>> 0);
  }
  const sort = (s: Set<number>) => [...s].sort((x, y) => x - y);
  return { local: sort(local), dnatTargets: sort(targets), dnatFrontends: sort(frontends), inside: sort(inside), dnatPaths: nat ? dnatPaths(nat) : [] };
}

/** Address classes (AddrClass bits). */
const C_FRONTEND = 1, C_INSIDE = 2, C_LOCAL = 4, C_TARGET = 8, C_TARGET_ANY_PORT = 16;

/**
 * What the node's configuration makes of each address it names: one
 * open-addressing table of address -> class bits (frontend, inside, node
 * address, DNAT target with or without a port), so that a packet's two
 * addresses are classified with two lookups.
 */
class AddrClass {
  private readonly keys: Uint32Array;
  private readonly bits: Uint8Array;
  private readonly mask: number;

  constructor(entries: [number[], number][]) {
    const all = new Map<number, number>();
    for (const [addrs, bit] of entries) for (const a of addrs) all.set(a >>> 0, (all.get(a >>> 0) ?? 0) | bit);
    let cap = 16;
    while (cap < all.size * 2) cap *= 2;
    this.keys = new Uint32Array(cap);
    this.bits = new Uint8Array(cap);
    this.mask = cap - 1;
    for (const [a, b] of all) {
      let i = fmix32(a) & this.mask;
      while (this.bits[i]) i = (i + 1) & this.mask;
      this.keys[i] = a;
      this.bits[i] = b;
    }
  }

  /** The class bits of `a` (0: an address the configuration does not name: outside). */
  of(a: number): number {
    a >>>= 0;
    let i = fmix32(a) & this.mask;
    for (;;) {
      const b = this.bits[i]!;
      if (b === 0 || this.keys[i] === a) return b;
      i = (i + 1) & this.mask;
    }
  }
}

/** Fast membership tests over a NatTopology. */
export class NatSets {
  readonly local: AddrSet;
  /** DNAT targets with a port (address, port) */
  private readonly targetPairs: FlowMap;
  readonly frontends: AddrSet;
  readonly inside: AddrSet;
  readonly cls: AddrClass;

  constructor(t: NatTopology) {
    this.inside = new AddrSet(t.inside);
    this.local = new AddrSet(t.local);
    this.frontends = new AddrSet(t.dnatFrontends);
    const pairs = t.dnatTargets.filter((x) => x % 65536 !== 0);
    this.targetPairs = new FlowMap(Math.max(16, 2 ** Math.ceil(Math.log2(pairs.length * 2 + 1))));
    for (const x of pairs) this.targetPairs.set(0, Math.floor(x / 65536), x % 65536, 0, 0, 1);
    this.cls = new AddrClass([
      [t.dnatFrontends, C_FRONTEND], [t.inside, C_INSIDE], [t.local, C_LOCAL],
      [t.dnatTargets.map((x) => Math.floor(x / 65536)), C_TARGET],
      [t.dnatTargets.filter((x) => x % 65536 === 0).map((x) => x / 65536), C_TARGET_ANY_PORT],
    ]);
  }

  /** Is the source endpoint (class bits `c` of its address) a DNAT target? */
  isTargetC(c: number, src: number, sport: number): boolean {
    if (!(c & C_TARGET)) return false;
    return (c & C_TARGET_ANY_PORT) !== 0 || this.targetPairs.get(0, src >>> 0, sport, 0, 0) >= 0;
  }

  /** Is the source endpoint a DNAT target? */
  isTarget(src: number, sport: number): boolean { return this.isTargetC(this.cls.of(src), src, sport); }

  /** Can a tuple with these endpoints be a translated connection's reply (so: learned, looked up)? */
  translatable(src: number, sport: number, dst: number): boolean {
    return this.translatableC(this.cls.of(src), src, sport, this.cls.of(dst));
  }

  /** translatable() given the class bits of both addresses. */
  translatableC(cs: number, src: number, sport: number, cd: number): boolean {
    return ((cs | cd) & C_LOCAL) !== 0 || this.isTargetC(cs, src, sport);
  }
}

/**
 * The static shard key (before any learned mapping): see the file comment,
 * point 1. `localSrc`: a packet a local process sends without a source
 * (routing gives it a node address).
 */
export function staticKey(sets: NatSets, proto: number, src: number, sport: number, dst: number, dport: number, localSrc = false): number {
  return staticKeyC(sets, sets.cls.of(src), sets.cls.of(dst), proto, src, sport, dst, dport, localSrc);
}

/** staticKey() given the class bits of both addresses. */
function staticKeyC(sets: NatSets, cs: number, cd: number, proto: number, src: number, sport: number, dst: number, dport: number, localSrc: boolean): number {
  // a DNAT target (pod:port) counts as a frontend: the reply of a DNATed connection comes from it
  const sf = localSrc || (cs & C_FRONTEND) !== 0 || sets.isTargetC(cs, src, sport), df = (cd & C_FRONTEND) !== 0 || sets.isTargetC(cd, dst, dport);
  if (sf !== df) return addrHash(sf ? dst : src);
  const so = (cs & C_INSIDE) === 0, dout = (cd & C_INSIDE) === 0;
  if (so !== dout) return addrHash(so ? src : dst);
  return symmetricHash(proto, src, sport, dst, dport);
}

function addrHash(a: number): number { return fmix32(fmix32((a ^ 0x2545f491) >>> 0) ^ 0x68e31da4); }

/** Does any worker other than `w` have a count? */
function other(a: Int32Array | undefined, w: number): boolean {
  if (!a) return false;
  for (let i = 0; i < a.length; i++) if (i !== w && a[i] !== 0) return true;
  return false;
}

/**
 * The dispatcher's routing state (main thread). route() returns the worker
 * for descriptor `p`, or -1 when a barrier is needed first (see above).
 */
export class ShardRouter {
  readonly learned = new FlowMap();
  /** Flow directions dispatched so far (their first packet may open a connection). */
  private readonly seen = new FlowMap(1 << 14);
  private readonly sets: NatSets;
  /** In-flight openers by destination address, per worker, and those that may be DNATed. */
  private readonly inDst = new Map<number, Int32Array>();
  private readonly dnatCand: Int32Array;
  /** In-flight openers sent by local processes (their source is chosen by routing: any node address). */
  private readonly localOpeners: Int32Array;
  barriers = 0;

  /** DNAT target (address*65536+port) -> the frontends leading to it, as [address, port] pairs (dnatPaths). */
  private readonly frontsOf = new Map<number, number[]>();
  private readonly localList: number[];
  /** In-flight openers to a frontend, per worker, by address*65536+port and by address. */
  private readonly inFront = new Map<number, Int32Array>();
  private readonly inFrontAddr = new Map<number, Int32Array>();
  /** In-flight openers to a frontend by source address, per worker (they may be DNATed back to that source). */
  private readonly inSrcFront = new Map<number, Int32Array>();

  constructor(topo: NatTopology, readonly shards: number) {
    this.sets = new NatSets(topo);
    this.dnatCand = new Int32Array(shards);
    this.localOpeners = new Int32Array(shards);
    this.localList = topo.local;
    const p = topo.dnatPaths;
    for (let i = 0; i + 2 < p.length; i += 3) {
      let l = this.frontsOf.get(p[i + 2]!);
      if (!l) this.frontsOf.set(p[i + 2]!, (l = []));
      l.push(p[i]!, p[i + 1]!);
    }
  }

  /** Could an in-flight opener to a frontend on a worker other than `w` have been DNATed to src:sport? */
  private frontendInFlight(src: number, sport: number, w: number): boolean {
    const fronts = this.frontsOf.get((src >>> 0) * 65536 + sport) ?? this.frontsOf.get((src >>> 0) * 65536);
    if (!fronts) return other(this.dnatCand, w); // a target the nat table's paths do not explain: any frontend opener
    for (let i = 0; i < fronts.length; i += 2) {
      const fa = fronts[i]!, fp = fronts[i + 1]!;
      if (fa === 0) { if (other(this.dnatCand, w)) return true; continue; }
      const addrs = fa === ANY_LOCAL ? this.localList : [fa];
      for (const a of addrs) {
        if (fp ? other(this.inFront.get(a * 65536 + fp), w) : other(this.inFrontAddr.get(a), w)) return true;
      }
    }
    return false;
  }

  private bump(m: Map<number, Int32Array>, k: number, w: number, d: number): void {
    let a = m.get(k);
    if (!a) { a = new Int32Array(this.shards); m.set(k, a); }
    a[w]! += d;
    if (d < 0 && a.every((x) => x === 0)) m.delete(k);
  }

  /** The worker for descriptor `p`; -1: wait for a barrier, then ask again with `afterBarrier`. */
  route(dv: DataView, p: number, afterBarrier: boolean): number {
    readFlow(dv, p);
    this.flowOf = p;
    const proto = flow.proto, src = flow.src, sport = flow.sport, dst = flow.dst, dport = flow.dport;
    const sets = this.sets;
    const cs = sets.cls.of(src), cd = sets.cls.of(dst);
    const stat = staticKeyC(sets, cs, cd, proto, src, sport, dst, dport, flow.localNoSrc) % this.shards;
    // a learned tuple is trusted without waiting (README: when a reused reply tuple can mislead it)
    if (sets.translatableC(cs, src, sport, cd)) {
      let w = this.learned.get(proto, src, sport, dst, dport);
      // an ICMP error quotes a packet the node sent: its connection may be known by the reverse tuple
      if (w < 0 && flow.icmpError) w = this.learned.get(proto, dst, dport, src, sport);
      if (w >= 0) return w;
      if (!afterBarrier && this.mayBeInFlight(src, sport, dst, stat)) return -1;
      return stat;
    }
    if (flow.icmpError && sets.translatableC(cd, dst, dport, cs)) {
      const w = this.learned.get(proto, dst, dport, src, sport);
      if (w >= 0) return w;
      if (!afterBarrier && this.mayBeInFlight(dst, dport, src, stat)) return -1;
      return stat;
    }
    return stat;
  }

  /** The descriptor whose flow tuple `flow` holds (route() read it). */
  private flowOf = -1;

  /**
   * Could an in-flight opener on a worker other than `w` have made a
   * connection whose reply is this tuple? (On `w` itself it would not
   * matter: the packet goes there anyway.)
   */
  private mayBeInFlight(src: number, sport: number, dst: number, w: number): boolean {
    // SNAT-shaped: the reply comes from the opener's destination (no wait needed when that is an
    // outside endpoint: the static key is the same both ways); DNAT-shaped: goes to its source
    if (this.sets.inside.has(src) && other(this.inDst.get(src >>> 0), w)) return true;
    if (other(this.inSrcFront.get(dst >>> 0), w)) return true;
    if (this.sets.local.has(dst) && other(this.localOpeners, w)) return true;
    // DNAT+SNAT: from a DNAT target to a node address, made by an opener to a frontend leading to it
    return other(this.dnatCand, w) && this.sets.local.has(dst) && this.sets.isTarget(src, sport) && this.frontendInFlight(src, sport, w);
  }

  /**
   * Records descriptor `p` (just routed) as in flight if it may open a
   * connection; returns a token for retire() (-1: nothing recorded).
   * Tokens are pushed by the caller into the round's list.
   */
  addInFlight(dv: DataView, p: number, w: number, out: number[]): void {
    // an opener, or the first packet the dispatcher sees of a flow direction (conntrack's loose pickup)
    if (!isOpener(dv, p)) {
      if (this.flowOf !== p) readFlow(dv, p);
      if (!this.seen.add(flow.proto, flow.src, flow.sport, flow.dst, flow.dport)) return;
    }
    const src = dv.getUint32(p + abi.PKT_SRC, true) >>> 0;
    const dst = dv.getUint32(p + abi.PKT_DST, true) >>> 0;
    const cand = (this.sets.frontends.has(dst) ? 1 : 0) | (dv.getUint16(p + abi.PKT_FLAGS, true) & abi.PF_LOCAL ? 2 : 0);
    const proto = dv.getUint8(p + abi.PKT_PROTO);
    const dport = proto === 6 || proto === 17 || proto === 132 || proto === 136 || proto === 33 ? dv.getUint16(p + abi.PKT_DPORT, true) : 0;
    this.bump(this.inDst, dst, w, 1);
    if (cand & 1) { this.bump(this.inFront, dst * 65536 + dport, w, 1); this.bump(this.inFrontAddr, dst, w, 1); this.bump(this.inSrcFront, src, w, 1); }
    this.dnatCand[w]! += cand & 1;
    this.localOpeners[w]! += cand >> 1;
    out.push(src, dst, cand, w, dport);
  }

  /** A round's openers are no longer in flight (its results were applied). */
  retire(list: number[]): void {
    for (let i = 0; i < list.length; i += 5) {
      const w = list[i + 3]!;
      this.bump(this.inDst, list[i + 1]!, w, -1);
      if (list[i + 2]! & 1) { this.bump(this.inFront, list[i + 1]! * 65536 + list[i + 4]!, w, -1); this.bump(this.inFrontAddr, list[i + 1]!, w, -1); this.bump(this.inSrcFront, list[i]!, w, -1); }
      this.dnatCand[w]! -= list[i + 2]! & 1;
      this.localOpeners[w]! -= list[i + 2]! >> 1;
    }
  }

  /** Applies learned reply tuples (5 words each: proto, src, sport, dst, dport) of worker `w`. */
  learn(tuples: ArrayLike<number>, w: number): void {
    for (let i = 0; i + 4 < tuples.length; i += 5) this.learned.set(tuples[i]!, tuples[i + 1]!, tuples[i + 2]!, tuples[i + 3]!, tuples[i + 4]!, w);
  }
}

/**
 * Worker side: the reply tuple of a connection descriptor `p` just created
 * (as packets of the reply direction will arrive), when it is translatable;
 * appended to `out` as 5 words. Read from conntrack's reply tuple.
 */
export function learnedTuple(dv: DataView, p: number, sets: NatSets, out: number[]): void {
  if (dv.getUint32(p + abi.PKT_CT_ID, true) === 0) return;
  if (dv.getUint8(p + abi.PKT_CT_INFO) !== abi.CTINFO_NEW) return;
  // translated or not: a local process's packet arrives without its source (routing picks it),
  // so even an untranslated connection of the node's own is keyed by what conntrack recorded
  const proto = dv.getUint8(p + abi.PKT_CT_PROTO);
  const src = dv.getUint32(p + abi.PKT_CT_REPL_SRC, true) >>> 0;
  const dst = dv.getUint32(p + abi.PKT_CT_REPL_DST, true) >>> 0;
  let sport = dv.getUint16(p + abi.PKT_CT_REPL_SPORT, true);
  let dport = dv.getUint16(p + abi.PKT_CT_REPL_DPORT, true);
  if (proto === 1) dport = sport; // the echo id, in both port positions as readFlow keys ICMP queries
  else if (!(proto === 6 || proto === 17 || proto === 136 || proto === 132 || proto === 33)) { sport = 0; dport = 0; }
  if (!sets.translatable(src, sport, dst)) return;
  out.push(proto, src, sport, dst, dport);
}
