/**
 * The embedding API: one `Engine` is one emulated node in its own WASM
 * instance. Create as many as you like in one process (they share the
 * compiled module, not state); the same snapshot, packets and seed give the
 * same results byte for byte.
 *
 *   const engine = await Engine.create({ seed: 1 });
 *   engine.load(snapshot);
 *   const results = engine.process([{ iif: "eth0", src: "1.2.3.4", dst: "10.0.0.10", proto: "tcp", dport: 443 }]);
 */
import * as abi from "./core/abi.js";
import { coreModule, instantiateCore, CoreMemory, type CoreExports } from "./core/wasm.js";
import type { NodeSnapshot } from "./model/node.js";
import { loadNode, type LoadedNode } from "./node/compile.js";
import { encodePacket, type PacketInput, type DeviceResolver, type InputPos } from "./packet/input.js";
import { decodePacket, DROP_NAMES, type PacketResult, type NfDecode } from "./packet/result.js";
import { parseIpsetSave, type IpSets } from "./ipset/parse.js";
import { NetfilterHost, type LoadedRuleset } from "./netfilter/runtime.js";
import type { IptRuleset } from "./model/iptables.js";
import { conntrackDumpText, conntrackStatsText, readConntrack, readConntrackStats, type ConntrackEntry, type ConntrackStats } from "./conntrack/dump.js";

export interface EngineOptions {
  /** Seed of the core's PRNG (rate-limit credits now; NAT ports and statistic matches later). */
  seed?: number;
  /** Packets per batch (one JS->WASM call each); at least abi.BATCH_MIN. */
  batchSize?: number;
  /** Use the debug build (bounds checks, assertions). */
  debug?: boolean;
  /** A compiled core module to instantiate (embedders that load the .wasm themselves). */
  module?: WebAssembly.Module;
  /** CONFIG_HZ of the emulated kernel (default 250). */
  hz?: number;
  /**
   * CPUs handling packets concurrently (1..64, default 1): new connections
   * on different CPUs within `raceWindowNs` of each other race to confirm
   * their conntrack entries, as on a real node (see assembly/smp.ts).
   */
  cpus?: number;
  /** How close in time (ns) packets on different CPUs must be to race (default 5000). */
  raceWindowNs?: number;
  /**
   * Compile the rule walks into WebAssembly (default true; host/netfilter/jit/).
   * The results are the same either way; false interprets every table.
   */
  jit?: boolean;
  /**
   * What becomes of the socket a local process sends a TCP segment or UDP
   * datagram from (`iif: "local"`): `"kept"` (default) keeps it, so what
   * comes back to it is delivered to it (assembly/ipv4/connsock.ts);
   * `"closed"` models a sender that closes its socket right after sending
   * (a connecting TCP socket closes without a reset), so replies find no
   * socket, as for the kernel tests' agent, which sends and closes.
   */
  senderSockets?: "kept" | "closed";
}

/** SNMP counters, named as `nstat` names the kernel's. */
export const COUNTER_NAMES: Record<number, string> = {
  [abi.CTR_IP_IN_RECEIVES]: "IpInReceives",
  [abi.CTR_IP_IN_HDR_ERRORS]: "IpInHdrErrors",
  [abi.CTR_IP_IN_ADDR_ERRORS]: "IpInAddrErrors",
  [abi.CTR_IP_FORW_DATAGRAMS]: "IpForwDatagrams",
  [abi.CTR_IP_IN_UNKNOWN_PROTOS]: "IpInUnknownProtos",
  [abi.CTR_IP_IN_DISCARDS]: "IpInDiscards",
  [abi.CTR_IP_IN_DELIVERS]: "IpInDelivers",
  [abi.CTR_IP_OUT_REQUESTS]: "IpOutRequests",
  [abi.CTR_IP_OUT_DISCARDS]: "IpOutDiscards",
  [abi.CTR_IP_OUT_NO_ROUTES]: "IpOutNoRoutes",
  [abi.CTR_IP_FRAG_OKS]: "IpFragOKs",
  [abi.CTR_IP_FRAG_FAILS]: "IpFragFails",
  [abi.CTR_IP_FRAG_CREATES]: "IpFragCreates",
  [abi.CTR_IP_EXT_IN_NO_ROUTES]: "IpExtInNoRoutes",
  [abi.CTR_IP_OUT_TRANSMITS]: "IpOutTransmits",
  [abi.CTR_ICMP_OUT_MSGS]: "IcmpOutMsgs",
  [abi.CTR_ICMP_OUT_DEST_UNREACHS]: "IcmpOutDestUnreachs",
  [abi.CTR_ICMP_OUT_TIME_EXCDS]: "IcmpOutTimeExcds",
  [abi.CTR_ICMP_OUT_REDIRECTS]: "IcmpOutRedirects",
  [abi.CTR_ICMP_OUT_ECHO_REPS]: "IcmpOutEchoReps",
  [abi.CTR_ICMP_IN_MSGS]: "IcmpInMsgs",
  [abi.CTR_ICMP_IN_ECHOS]: "IcmpInEchos",
  [abi.CTR_ICMP_OUT_RATELIMIT_GLOBAL]: "IcmpOutRateLimitGlobal",
  [abi.CTR_ICMP_OUT_RATELIMIT_HOST]: "IcmpOutRateLimitHost",
  [abi.CTR_TCP_EXT_IP_RPFILTER]: "TcpExtIPReversePathFilter",
  [abi.CTR_TCP_OUT_RSTS]: "TcpOutRsts",
  [abi.CTR_TCP_IN_SEGS]: "TcpInSegs",
  [abi.CTR_UDP_NO_PORTS]: "UdpNoPorts",
  [abi.CTR_UDP_IN_DATAGRAMS]: "UdpInDatagrams",
  [abi.CTR_ICMP_IN_DEST_UNREACHS]: "IcmpInDestUnreachs",
  [abi.CTR_ICMP_IN_TIME_EXCDS]: "IcmpInTimeExcds",
  [abi.CTR_ICMP_IN_ECHO_REPS]: "IcmpInEchoReps",
  [abi.CTR_UDP_IGNORED_MULTI]: "UdpIgnoredMulti",
  [abi.CTR_ICMP_OUT_ERRORS]: "IcmpOutErrors",
  [abi.CTR_TCP_IN_CSUM_ERRORS]: "TcpInCsumErrors",
  [abi.CTR_TCP_IN_ERRS]: "TcpInErrs",
  [abi.CTR_UDP_IN_CSUM_ERRORS]: "UdpInCsumErrors",
  [abi.CTR_UDP_IN_ERRORS]: "UdpInErrors",
  [abi.CTR_ICMP_IN_CSUM_ERRORS]: "IcmpInCsumErrors",
  [abi.CTR_ICMP_IN_ERRORS]: "IcmpInErrors",
  [abi.CTR_IP_IN_TRUNCATED_PKTS]: "IpExtInTruncatedPkts",
  [abi.CTR_IP_IN_CSUM_ERRORS]: "IpExtInCsumErrors",
  [abi.CTR_IP_REASM_REQDS]: "IpReasmReqds",
  [abi.CTR_IP_REASM_OKS]: "IpReasmOKs",
  [abi.CTR_IP_REASM_FAILS]: "IpReasmFails",
  [abi.CTR_IP_REASM_TIMEOUT]: "IpReasmTimeout",
  [abi.CTR_IP_REASM_OVERLAPS]: "IpExtReasmOverlaps",
  [abi.CTR_UDPLITE_IN_DATAGRAMS]: "UdpLiteInDatagrams",
  [abi.CTR_UDPLITE_NO_PORTS]: "UdpLiteNoPorts",
  [abi.CTR_UDPLITE_IN_ERRORS]: "UdpLiteInErrors",
  [abi.CTR_UDPLITE_IN_CSUM_ERRORS]: "UdpLiteInCsumErrors",
  [abi.CTR_UDPLITE_IGNORED_MULTI]: "UdpLiteIgnoredMulti",
  [abi.CTR_ICMP_OUT_PARM_PROBS]: "IcmpOutParmProbs",
  [abi.CTR_IP_EXT_IN_MCAST_PKTS]: "IpExtInMcastPkts",
  [abi.CTR_IP_EXT_IN_BCAST_PKTS]: "IpExtInBcastPkts",
  [abi.CTR_IP_EXT_OUT_MCAST_PKTS]: "IpExtOutMcastPkts",
  [abi.CTR_IP_EXT_OUT_BCAST_PKTS]: "IpExtOutBcastPkts",
  [abi.CTR_IP_EXT_IN_MCAST_OCTETS]: "IpExtInMcastOctets",
  [abi.CTR_IP_EXT_IN_BCAST_OCTETS]: "IpExtInBcastOctets",
  [abi.CTR_IP_EXT_OUT_MCAST_OCTETS]: "IpExtOutMcastOctets",
  [abi.CTR_IP_EXT_OUT_BCAST_OCTETS]: "IpExtOutBcastOctets",
  [abi.CTR_IP_EXT_IN_OCTETS]: "IpExtInOctets",
  [abi.CTR_IP_EXT_OUT_OCTETS]: "IpExtOutOctets",
  [abi.CTR_IP_EXT_IN_NOECT_PKTS]: "IpExtInNoECTPkts",
  [abi.CTR_IP_EXT_IN_ECT1_PKTS]: "IpExtInECT1Pkts",
  [abi.CTR_IP_EXT_IN_ECT0_PKTS]: "IpExtInECT0Pkts",
  [abi.CTR_IP_EXT_IN_CE_PKTS]: "IpExtInCEPkts",
};

export class Engine {
  readonly core: CoreExports;
  readonly mem: CoreMemory;
  readonly batchSize: number;
  private batchPtr = 0;
  private node_?: LoadedNode;
  private readonly seed: number;
  private readonly hz: number;
  private readonly jit: boolean;
  private lastTime = 0n;
  private warned = new Set<string>();
  private nf_?: NetfilterHost;
  private traceAll = false;
  private traceOff = false;
  /** Called once per distinct warning about the input (unknown or not-yet-modelled fields). */
  onWarning: (message: string) => void = () => {};

  /** CPUs modelled (EngineOptions.cpus). */
  readonly cpus: number;

  private constructor(core: CoreExports, opts: EngineOptions) {
    this.core = core;
    this.mem = new CoreMemory(core.memory);
    this.batchSize = Math.max(abi.BATCH_MIN, opts.batchSize ?? 1024);
    this.seed = opts.seed ?? 0;
    this.hz = opts.hz ?? 250;
    this.jit = opts.jit ?? true;
    const cpus = opts.cpus ?? 1;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64) throw new RangeError(`cpus must be an integer from 1 to 64 (got ${cpus})`);
    const win = opts.raceWindowNs ?? 5000;
    if (!Number.isInteger(win) || win < 0) throw new RangeError(`raceWindowNs must be a non-negative integer (got ${win})`);
    this.cpus = cpus;
    core.smp_set(cpus, BigInt(win));
    const sockets = opts.senderSockets ?? "kept";
    if (sockets !== "kept" && sockets !== "closed") throw new RangeError(`senderSockets must be "kept" or "closed" (got ${String(sockets)})`);
    core.conn_socks_keep(sockets === "kept" ? 1 : 0);
  }

  static async create(opts: EngineOptions = {}): Promise<Engine> {
    const module = opts.module ?? (await coreModule(opts.debug));
    return new Engine(await instantiateCore(module), opts);
  }

  /** The loaded node (throws if none). */
  get node(): LoadedNode {
    if (!this.node_) throw new Error("no node loaded: call engine.load(snapshot) first");
    return this.node_;
  }

  /**
   * Loads a node; dynamic state (rate limiters, counters, connections,
   * clock) starts fresh. The snapshot's iptables-save.txt, if any, is
   * parsed, compiled and loaded.
   */
  load(snapshot: NodeSnapshot, opts: { hz?: number } = {}): LoadedNode {
    this.core.nf_program_reset();
    this.node_ = loadNode(this.core, snapshot, { hz: opts.hz ?? this.hz, seed: this.seed });
    if (!this.batchPtr) this.batchPtr = this.core.batch_alloc(this.batchSize);
    this.mem.refresh();
    this.lastTime = 0n;
    this.nf_ = undefined;
    if (snapshot.ipsets !== undefined) this.loadIpsets(snapshot.ipsets, "ipset.txt");
    if (snapshot.iptablesSave !== undefined) this.loadRuleset(snapshot.iptablesSave, "iptables-save.txt");
    return this.node_;
  }

  private get nfHost(): NetfilterHost {
    if (!this.nf_) {
      const node = this.node;
      this.nf_ = new NetfilterHost(this.core, this.mem, () => node.devBySlot.map((l) => l?.name), () => this.hzOf(), this.jit);
    }
    return this.nf_;
  }
  private hzOf(): number { return this.node_?.snapshot.hz ?? this.hz; }

  /**
   * Loads (or replaces, like a kube-proxy resync) the iptables ruleset:
   * `iptables-save` text or a parsed ruleset. Connections, recent lists and
   * nfacct counters are kept; rule counters start at zero.
   */
  loadRuleset(rules: string | IptRuleset, file = "iptables-save.txt", opts: { indexMin?: number } = {}): LoadedRuleset {
    const r = this.nfHost.load(rules, file, opts.indexMin);
    this.mem.refresh();
    return r;
  }

  /**
   * Loads the node's IP sets (`ipset save` text, or parsed) for `-m set`
   * matches. Sets are static: they are compiled into the rule program, so
   * when a ruleset is already loaded it is loaded again with the new sets
   * (a resync: its rule counters start at zero).
   */
  loadIpsets(sets: string | IpSets, file = "ipset.txt"): IpSets {
    const parsed = typeof sets === "string" ? parseIpsetSave(sets, file) : sets;
    this.nfHost.ipsets = parsed;
    const cur = this.nfHost.current;
    if (cur) this.nfHost.load(cur.ruleset);
    this.mem.refresh();
    return parsed;
  }

  /** The loaded ruleset, if any. */
  get ruleset(): LoadedRuleset | undefined { return this.nf_?.current; }

  /**
   * What the core records of each packet's rule walk: `"matched"` (the
   * default; results list the rules that matched, `rules`), `"all"` (also
   * every rule examined, `trace`; chains are walked without indexes), or
   * `"off"` (no per-packet rule lists: results have no `rules`; verdicts,
   * counters and `rules_traversed` are unchanged; for runs that only
   * summarise, ~7% less engine time). `true`/`false` mean "all"/"matched".
   */
  setTrace(mode: boolean | "off" | "matched" | "all", capacity = this.batchSize * 4096): void {
    const m = mode === true ? "all" : mode === false ? "matched" : mode;
    this.traceAll = m === "all";
    this.traceOff = m === "off";
    this.core.trace_init(m === "all" ? capacity : this.batchSize * 64, m === "all" ? 2 : m === "off" ? 0 : 1);
    this.mem.refresh();
  }

  /**
   * Kernel-differential tests: make random `statistic` matches succeed for
   * exactly these entry ids (undefined: draw from the PRNG again).
   */
  setStatisticOracle(ids: number[] | undefined): void {
    const n = ids?.length ?? 0;
    const ptr = this.core.alloc(Math.max(4, n * 4));
    this.mem.refresh();
    for (let i = 0; i < n; i++) this.mem.dv.setUint32(ptr + i * 4, ids![i]!, true);
    this.core.statistic_oracle(ids ? 1 : 0, ptr, n);
    this.core.free(ptr);
  }

  /** Per-entry counters (packets, bytes) since the ruleset was loaded, by entry id. */
  ruleCounters(): { packets: bigint; bytes: bigint }[] {
    const rs = this.nf_?.current;
    if (!rs) return [];
    return rs.compiled.entries.map((_, id) => this.nf_!.counters(id));
  }

  /** The ruleset with the emulated counters, as `iptables-save -c` prints it. */
  iptablesSave(): string {
    return this.nf_?.iptablesSave() ?? "";
  }

  /** The connection table (live entries, table order). */
  conntrack(): ConntrackEntry[] { return readConntrack(this.core, this.mem, this.hzOf()); }
  /** The connection table as `conntrack -L` prints it. */
  conntrackList(): string { return conntrackDumpText(this.conntrack()); }
  /** conntrack -S counters. */
  conntrackStats(): ConntrackStats { return readConntrackStats(this.core, this.mem); }

  /**
   * Moves the virtual clock to `t` seconds (as the packets' `t` counts; never
   * backwards) without sending a packet: connections age, and conntrack's
   * garbage collector runs as it would have meanwhile, so that
   * conntrackList() shows the table as `conntrack -L` would at that time.
   */
  advanceClock(t: number): void {
    if (!Number.isFinite(t) || t < 0) throw new RangeError(`advanceClock: t must be a non-negative number of seconds (got ${t})`);
    const ns = BigInt(Math.round(t * 1e9));
    this.core.clock_advance(ns);
    if (ns > this.lastTime) this.lastTime = ns;
  }
  conntrackStatsText(): string { return conntrackStatsText(this.conntrackStats()); }

  /** A resolver of the node's device names, for the packet encoder. */
  get devices(): DeviceResolver {
    const node = this.node;
    return { slotOf: (n) => node.slotByName.get(n), names: () => [...node.slotByName.keys()] };
  }

  private warn = (message: string): void => {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.onWarning(message);
  };

  /**
   * Processes packets in batches; `pos(i)` names the input position of
   * packet i for error messages. Results come back in input order. With
   * several CPUs modelled and `final` false (more packets follow), the last
   * round of concurrent packets may be left unprocessed: only the first
   * `results.length` packets were processed, and the caller passes the rest
   * again, in front of the next ones (results then do not depend on how the
   * input was chunked).
   */
  process(packets: ArrayLike<PacketInput | Record<string, unknown>>, pos?: (i: number) => InputPos, firstIndex = 0, final = true): PacketResult[] {
    const out: PacketResult[] = [];
    const devs = this.devices;
    const where = pos ?? ((i: number) => ({ file: "packets", line: i + 1 }));
    const times: bigint[] = [];
    for (let start = 0; start < packets.length;) {
      const n = Math.min(this.batchSize, packets.length - start);
      this.mem.refresh();
      const dv = this.mem.dv;
      for (let k = 0; k < n; k++) {
        times[k] = this.lastTime;
        this.lastTime = encodePacket(dv, this.batchPtr + k * abi.PKT_SIZE, packets[start + k] as Record<string, unknown>,
          where(start + k), devs, this.lastTime, this.warn);
      }
      // with several CPUs the batch's last round of concurrent packets may wait for the next batch
      const last = start + n >= packets.length;
      const done = this.cpus > 1 ? this.core.process_batch_partial(this.batchPtr, n, last && final ? 1 : 0) : (this.core.process_batch(this.batchPtr, n), n);
      if (done < n) this.lastTime = times[done]!;
      this.mem.refresh();
      const replyBase = this.core.reply_ring_ptr();
      const nf = this.nfDecode();
      for (let k = 0; k < done; k++) {
        out.push(decodePacket(this.mem.dv, this.batchPtr + k * abi.PKT_SIZE, firstIndex + start + k, this.node, replyBase, true, nf));
      }
      start += done;
      if (last && done < n) break; // the caller passes the rest again
    }
    return out;
  }

  /**
   * The fast path for callers that write descriptors themselves (pcap
   * replay, the traffic generator): processes the `n` descriptors the caller
   * wrote at `batchBuffer.ptr` (input fields only, PKT_TIME included; the
   * output fields need not be cleared) in one call into the core. Returns
   * how many were processed: `n`, except with several CPUs modelled and
   * `final` false, when the last round of concurrent packets is left for
   * the caller to write again in front of the next ones (see process()).
   * Read results with the PKT_* offsets (abi.ts), or decodeRaw().
   */
  processRaw(n: number, final = true): number {
    if (!this.node_) throw new Error("no node loaded: call engine.load(snapshot) first");
    if (n <= 0) return 0;
    if (n > this.batchSize) throw new RangeError(`processRaw: ${n} packets exceed the batch capacity ${this.batchSize}`);
    const done = this.cpus > 1 ? this.core.process_batch_partial(this.batchPtr, n, final ? 1 : 0) : (this.core.process_batch(this.batchPtr, n), n);
    this.mem.refresh();
    return done;
  }

  /** The result of descriptor `k` of the last processRaw() call, as process() would return it (`index` is its `i`). */
  decodeRaw(k: number, index: number): PacketResult {
    return decodePacket(this.mem.dv, this.batchPtr + k * abi.PKT_SIZE, index, this.node, this.core.reply_ring_ptr(), true, this.nfDecode());
  }

  /** What decoding needs to print netfilter fields (undefined without a ruleset). */
  nfDecode(): NfDecode | undefined {
    const rs = this.nf_?.current;
    if (!rs) return undefined;
    return { ruleset: rs, traceBase: this.core.trace_ring_ptr(), traceAll: this.traceAll, rules: !this.traceOff, conntrack: rs.compiled.conntrack, hz: this.hzOf() };
  }

  /** The batch buffer, for callers that write descriptors themselves (generators, pcap replay). */
  get batchBuffer(): { ptr: number; capacity: number } {
    if (!this.batchPtr) this.batchPtr = this.core.batch_alloc(this.batchSize);
    this.mem.refresh();
    return { ptr: this.batchPtr, capacity: this.batchSize };
  }

  /** SNMP counters since load (or the last reset), by nstat name. */
  counters(): Record<string, number> {
    this.mem.refresh();
    const base = this.core.counters_ptr();
    const out: Record<string, number> = {};
    for (let i = 0; i < abi.CTR_MAX; i++) out[COUNTER_NAMES[i]] = Number(this.mem.dv.getBigUint64(base + i * 8, true));
    return out;
  }

  /**
   * Adds `n` to SNMP counter `idx` (CTR_*): for what the kernel counts
   * outside the core's pipeline, here the capture decoder's reassembly
   * (host/packet/defrag.ts: IpReasm*, the ip_rcv of fragments that do
   * not become the datagram's descriptor, and every fragment's
   * IpExtInOctets and ECN count).
   */
  addCounter(idx: number, n: number): void {
    if (n === 0) return;
    this.mem.refresh();
    const p = this.core.counters_ptr() + idx * 8;
    this.mem.dv.setBigUint64(p, this.mem.dv.getBigUint64(p, true) + BigInt(n), true);
  }

  /** Packets dropped, by reason name. */
  dropCounts(): Record<string, number> {
    this.mem.refresh();
    const base = this.core.drop_counters_ptr();
    const out: Record<string, number> = {};
    for (let i = 1; i < abi.DROP_MAX; i++) {
      const v = Number(this.mem.dv.getBigUint64(base + i * 8, true));
      if (v) out[DROP_NAMES[i]] = v;
    }
    return out;
  }
}
