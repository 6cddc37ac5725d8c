/**
 * The exports of the nodeplane core: numeric functions over shared linear
 * memory. Layouts are in abi.ts. Configuration calls happen once per node
 * load; the packet path is one `process_batch` call per batch.
 */
import {
  PKT_SHIFT, RES_ERR, RES_TYPE, RES_FLAGS, RES_DEV, RES_GW, RES_SADDR, RES_TABLE, RES_ROUTE, RES_RULE,
  RES_TOS, RES_MTU, RES_REASON, RTN_UNREACHABLE, RT_INDEX,
} from "./abi";
import { zalloc, release } from "./util/mem";
import { devsReset, devSet, addrsSet } from "./dev";
import { tablesReset, tableBuild, tableBytes, tableLpm, tableLpmBatch, tableLeafRouteIndex } from "./fib/table";
import { rulesSet } from "./fib/rules";
import { sysctlSet } from "./config";
import { counters, dropCounters, resetCounters } from "./ipv4/stats";
import { processBatch } from "./pipeline";
import { seedKeysSet, seedKeysDerive, seedKeysFill } from "./util/random";
import { summaryCreate, summaryReset, summaryCollect } from "./replay/summary";
import { talkersCreate, talkersAdd, talkersAddBatch } from "./replay/talkers";
import { packInputs, unpackInputs } from "./replay/records";
import { smpSet } from "./smp";
import { replyRingInit, replyRingPtr, replyRingUsed, replyRingOverflow } from "./ipv4/reply";
import { socketsSet } from "./ipv4/local";
import { connSocksReset, connSocksKeep } from "./ipv4/connsock";
import { peersReset } from "./ipv4/peer";
import { icmpReset } from "./ipv4/icmp";
import { clockReset, clockAdvance } from "./ipv4/clock";
import { ipRouteInput } from "./route/input";
import { routeCacheInvalidate } from "./route/cache";
import { ipRouteOutput } from "./route/output";
import {
  rtType, rtFlags, rtDev, rtGw, rtSaddr, rtTableId, rtRouteIndex, rtRule, rtTos, rtMtu, rtError,
} from "./route/rtable";
import { EINVAL } from "./util/errno";
import { setFlow, resRoute } from "./fib/flow";
import { fibLookup } from "./fib/rules";
import { jitState, jitSet, jitMatch, jitAddrType, jitTarget, jitTrace, jitWalkChain } from "./netfilter/jit";
import { nfProgramLoad, nfProgramReset, prog as nfProg, counters as nfCounters, nfCountersReset, entryCount, nfacct, ctEnabled } from "./netfilter/program";
import { traceInit, traceRingPtr, traceRingUsed, TRACE_MATCHED } from "./netfilter/trace";
import { recentReset } from "./netfilter/recent";
import { ctConfigSet, ctConfigDefaults } from "./conntrack/config";
import { ctTableReset, ctTableBytes, ctCount, ctPoolUsed, ctChainHistogram, ctGcCatchUp } from "./conntrack/table";
import { ctStats, ctStatsReset } from "./conntrack/stats";
import { pfSetEnabled } from "./conntrack/prefetch";
import { ctDump } from "./conntrack/core";
import { natExtReset, natExtBytes } from "./nat/ext";
import { creditsPerJiffy, statisticOracle } from "./netfilter/match";
import { CTS_COUNT } from "./abi";
import { genCreate, genParamSet, genLawSet, genTableSet, genFill, genFeedback, genStat } from "./traffic/generator";
import { captureDecode } from "./capture/decode";
import { wheelCreate, wheelReserve, wheelPush, wheelPeek, wheelPeekedFlow, wheelPopPeeked, wheelSize } from "./traffic/wheel";

// ---- memory for the host's staging buffers ----
export function alloc(size: usize): usize { return zalloc(size); }
export function free(ptr: usize): void { release(ptr); }

// ---- node configuration ----
/** Forgets all dynamic state (peers, counters, clock); configuration stays. */
export function state_reset(): void {
  peersReset();
  icmpReset();
  clockReset();
  resetCounters();
  if (ctTablesMade) { ctTableReset(); natExtReset(); }
  ctStatsReset();
  recentReset();
  nfCountersReset();
  connSocksReset();
}
let ctTablesMade = false;

// ---- netfilter, conntrack, NAT ----
/**
 * Loads an iptables rule program (abi.ts section 6), replacing the previous
 * one: connections, recent lists and nfacct counters are kept (a resync);
 * rule counters start at zero. Returns 0 or a negative code.
 */
export function nf_program_load(ptr: usize, len: usize): i32 {
  const r = nfProgramLoad(ptr, len);
  if (r == 0 && ctEnabled && !ctTablesMade) { ctTableReset(); natExtReset(); ctTablesMade = true; }
  return r;
}
/** Unloads the ruleset: no hooks run (connections are kept). */
export function nf_program_reset(): void { nfProgramReset(); }
/** Where the loaded program is (compiled walks address its entries), 0 if none. */
export function nf_program_ptr(): usize { return nfProg; }
/** The state shared with compiled walks (JIT_STATE in abi.ts). */
export function nf_jit_state_ptr(): usize { return jitState; }
/**
 * Installs compiled walk `index` (a function-table index; 0 removes it) for
 * table `t` at hook `h`; `needs`: 1 when its code tests the conntrack state bits, 2 when it reads the connection's entry.
 */
export function nf_jit_set(t: u32, h: u32, index: u32, needs: u32): void { jitSet(t, h, index, needs); }
/** Called by compiled walks: entry `e`'s match at `m` (one the compiled code does not inline). */
export function nf_jit_match(p: usize, e: usize, m: usize): u32 { return jitMatch(p, e, m); }
/** Called by compiled walks: `-m addrtype`'s inet_dev_addr_type of `addr` (RTN_*), limited to device `dev` when `limit` is 1. */
export function nf_jit_addr_type(addr: u32, dev: u32, limit: u32): u32 { return jitAddrType(addr, dev, limit); }
/** Called by compiled walks: entry `e`'s non-standard target (a verdict, or 0xFFFFFFFF to continue). */
export function nf_jit_target(p: usize, e: usize): u32 { return jitTarget(p, e); }
/** Called by compiled walks: user chain `chain` walked by the interpreter (2 when it returns, else a verdict). */
export function nf_jit_walk_chain(p: usize, chain: u32): u32 { return jitWalkChain(p, chain); }
/** Called by compiled walks: records entry `id` as matched in the packet's rule trace. */
export function nf_jit_trace(p: usize, id: u32): void { jitTrace(p, id); }
/** Per-entry counters: u64 packets, u64 bytes per entry id. */
export function nf_counters_ptr(): usize { return nfCounters; }
export function nf_entry_count(): u32 { return entryCount; }
export function nf_counters_reset(): void { nfCountersReset(); }
/** nfacct objects: u64 packets, u64 bytes each. */
export function nfacct_ptr(): usize { return nfacct; }
/** The trace ring: `capacity` records; `all` = record every rule examined. */
/** The rule trace ring's capacity and mode: 0 off, 1 the matched entries, 2 every entry examined. */
export function trace_init(capacity: u32, mode: u32): void { traceInit(capacity, mode); }
export function trace_ring_ptr(): usize { return traceRingPtr(); }
export function trace_ring_used(): u32 { return traceRingUsed(); }
/** Conntrack settings (CTC_*); set before the ruleset is loaded (bucket count). */
export function ct_config_set(key: i32, value: u32): u32 { return ctConfigSet(key, value) ? 1 : 0; }
export function ct_config_defaults(): void { ctConfigDefaults(); }
/** Empties the connection table (and applies a new bucket count). */
/**
 * Moves the virtual clock to `ns` (never backwards) without a packet, and
 * lets gc_worker run as it would have meanwhile.
 */
export function clock_advance(ns: u64): void {
  clockAdvance(ns);
  if (ctTablesMade) ctGcCatchUp();
}
export function ct_flush(): void { if (ctTablesMade) { ctTableReset(); natExtReset(); } }
export function ct_stats_ptr(): usize {
  store<u64>(ctStats + (<usize>CTS_COUNT << 3), <u64>ctCount);
  return ctStats;
}
/** Writes up to `max` entries (CTD_SIZE each) at `out`; `restart` = 1 starts from the first. Returns how many. */
export function ct_dump(out: usize, max: u32, restart: u32): u32 { return ctTablesMade ? ctDump(out, max, restart != 0) : 0; }
/** Entries allocated (confirmed or not). */
export function ct_count(): u32 { return ctCount; }
/** Bytes of connection-tracking memory (entry pool + buckets), and entries the pool has handed out. */
export function ct_memory(): usize { return ctTablesMade ? ctTableBytes() + natExtBytes() : 0; }
export function ct_pool_used(): u32 { return ctPoolUsed(); }
/** The prefetch passes over a batch's connection lookups (conntrack/prefetch.ts): 1 on (the default), 0 off. They change nothing but timing. */
export function ct_prefetch_set(on: u32): void { pfSetEnabled(on != 0); }
/** Diagnostics: histogram of hash chain lengths (see ctChainHistogram). */
export function ct_chain_histogram(out: usize, max: u32): void { if (ctTablesMade) ctChainHistogram(out, max); }
/** xt_limit's CREDITS_PER_JIFFY for the current HZ (the compiler needs it to turn rates into credits). */
export function limit_credits_per_jiffy(): u32 { return creditsPerJiffy(); }
// Every configuration call forgets the remembered input routes (route/cache.ts).
export function devs_reset(count: u32): void { routeCacheInvalidate(); devsReset(count); }
export function dev_set(slot: u32, rec: usize): void { routeCacheInvalidate(); devSet(slot, rec); }
export function addrs_set(rec: usize, count: u32): void { routeCacheInvalidate(); addrsSet(rec, count); }
export function tables_reset(count: u32): void { routeCacheInvalidate(); tablesReset(count); }
export function table_build(slot: u32, id: u32, routes: usize, count: u32): u32 { routeCacheInvalidate(); return tableBuild(slot, id, routes, count); }
export function table_bytes(slot: u32): usize { return tableBytes(slot); }
export function rules_set(rec: usize, count: u32): void { routeCacheInvalidate(); rulesSet(rec, count); }
export function sockets_set(rec: usize, count: u32, known: u32): void { socketsSet(rec, count, known != 0); }
export function sysctl_set(key: i32, value: u32): u32 { routeCacheInvalidate(); return sysctlSet(key, value) ? 1 : 0; }

// ---- packets ----
/** A batch buffer for `capacity` descriptors (and a reply ring twice that size). */
export function batch_alloc(capacity: u32): usize {
  replyRingInit(capacity * 2);
  traceInit(capacity * 64, TRACE_MATCHED);
  return zalloc(<usize>capacity << PKT_SHIFT);
}
export function process_batch(base: usize, count: u32): void { processBatch(base, count, true); }
/**
 * Per-packet PRNG seeds (util/random.ts): descriptor `base + k * PKT_SIZE`
 * (k < count) is seeded from the u32 at `keys + 4k` before its first draw;
 * count 0 turns per-packet seeding off (one stream, seeded by SYS_SEED).
 */
export function seed_keys_set(base: usize, keys: usize, count: u32): void { seedKeysSet(base, keys, count); }
/**
 * Per-packet PRNG seeds as seed_keys_set, for descriptors with consecutive
 * input indexes from firstHi * 2^32 + firstLo: the core derives each key
 * from `seed` and the index (host/replay/runner.ts packetSeed) when the
 * packet first draws. seed_keys_set(0, 0, 0) turns it off.
 */
export function seed_keys_derive(base: usize, count: u32, seed: u32, firstLo: u32, firstHi: u32): void { seedKeysDerive(base, count, seed, firstLo, firstHi); }
/**
 * As process_batch, but with several CPUs modelled the batch's last round of
 * concurrent packets is left for the next call (unless `final`): returns how
 * many descriptors were processed (the host resubmits the rest first).
 */
export function process_batch_partial(base: usize, count: u32, final: u32): u32 { return processBatch(base, count, final != 0); }
/** The CPU model (smp.ts): number of CPUs (1..64) and the race window in ns. */
export function smp_set(cpus: u32, windowNs: u64): void { smpSet(cpus, windowNs); }
/** Whether a local sender's socket stays after it sends (EngineOptions.senderSockets; ipv4/connsock.ts). */
export function conn_socks_keep(keep: u32): void { connSocksKeep(keep != 0); }
export function reply_ring_ptr(): usize { return replyRingPtr(); }
export function reply_ring_used(): u32 { return replyRingUsed(); }
export function reply_ring_overflow(): u32 { return replyRingOverflow(); }
export function counters_ptr(): usize { return counters; }
export function drop_counters_ptr(): usize { return dropCounters; }
export function counters_reset(): void { resetCounters(); }

// ---- replay bookkeeping (abi.ts sections 10 and 11) ----
/** A zeroed replay summary record (SUM_SIZE bytes). */
export function summary_create(): usize { return summaryCreate(); }
export function summary_reset(sum: usize): void { summaryReset(sum); }
/** Counts descriptors [k0, k1) of the processed batch at `base` and their replies (reply ring at `replyBase`) into `sum`. */
export function summary_collect(sum: usize, base: usize, k0: u32, k1: u32, replyBase: usize): void { summaryCollect(sum, base, k0, k1, replyBase); }
/** A Misra-Gries top-talkers summary of `counters` (a power of two) counters. */
export function talkers_create(counters: u32): usize { return talkersCreate(counters); }
/** One packet of `bytes` bytes from (or to) `addr`. */
export function talkers_add(t: usize, addr: u32, bytes: u32): void { talkersAdd(t, addr, <f64>bytes); }
/** Descriptors [0, n) at `base` by source into `bySrc` and by destination into `byDst` (their input fields). */
export function talkers_add_batch(bySrc: usize, byDst: usize, base: usize, n: u32): void { talkersAddBatch(bySrc, byDst, base, n); }

// ---- input records (abi.ts section 12) ----
/** Descriptors [0, n) at `base` packed in place into input records. */
export function pkt_pack_inputs(base: usize, n: u32): void { packInputs(base, n); }
/** Input records [0, n) at `base` unpacked in place into descriptors (input fields only). */
export function pkt_unpack_inputs(base: usize, n: u32): void { unpackInputs(base, n); }

// ---- route queries (ip route get) ----
let qReason: i32 = 0;
/** Input route for a packet arriving on `iif` (0 / negative errno). */
export function route_get_input(dst: u32, src: u32, tos: u32, iif: u32, mark: u32, proto: u32, sport: u32, dport: u32): i32 {
  qReason = ipRouteInput(dst, src, tos, iif, mark, proto, sport, dport);
  if (qReason != 0) return -EINVAL;
  if (rtType == RTN_UNREACHABLE) return -rtError;
  return 0;
}
/** Output route for a local sender (0 / negative errno). */
export function route_get_output(dst: u32, src: u32, tos: u32, oif: u32, mark: u32, proto: u32, sport: u32, dport: u32, uid: u32): i32 {
  qReason = 0;
  return ipRouteOutput(dst, src, tos, oif, mark, proto, sport, dport, uid, 0);
}
/** Writes the last query's rtable (RES_* layout) at `out`. */
export function route_result(out: usize, err: i32): void {
  store<i32>(out, err, RES_ERR);
  store<u32>(out, rtType, RES_TYPE);
  store<u32>(out, rtFlags, RES_FLAGS);
  store<u32>(out, rtDev, RES_DEV);
  store<u32>(out, rtGw, RES_GW);
  store<u32>(out, rtSaddr, RES_SADDR);
  store<u32>(out, rtTableId, RES_TABLE);
  store<u32>(out, rtRouteIndex, RES_ROUTE);
  store<u32>(out, rtRule, RES_RULE);
  store<u32>(out, rtTos, RES_TOS);
  store<u32>(out, rtMtu, RES_MTU);
  store<i32>(out, qReason, RES_REASON);
}

// ---- benchmarks and measurement ----
/** lpm_batch without the interleaving: one lookup after another (benchmarks, to show what interleaving buys). */
export function lpm_batch_simple(slot: u32, addrs: usize, n: u32, out: usize): void {
  for (let i: usize = 0; i < <usize>n; i++) store<u32>(out + (i << 2), tableLpm(slot, load<u32>(addrs + (i << 2))));
}
/** RT_INDEX of the first route of prefix node `leaf` (to interpret lpm_batch results). */
export function table_leaf_route_index(slot: u32, leaf: u32): u32 { return tableLeafRouteIndex(slot, leaf); }
/** Longest-prefix match of `n` u32 addresses at `addrs` in table `slot`; the matched prefix node (index + 1, 0 = none) written to `out`. */
export function lpm_batch(slot: u32, addrs: usize, n: u32, out: usize): void {
  tableLpmBatch(slot, addrs, n, out);
}
/**
 * Full fib_lookup (rules, tables, alias selection, backtracking) for `n`
 * input flows of 16 bytes at `flows` (iif device slot u32, saddr u32, daddr
 * u32, mark u32); for each, the matched route's RT_INDEX (0xFFFFFFFF if
 * none) goes to `out + 8i` and the error to `out + 8i + 4`.
 */
export function fib_lookup_batch(flows: usize, n: u32, out: usize): void {
  for (let i: usize = 0; i < <usize>n; i++) {
    const f = flows + (i << 4);
    setFlow(load<u32>(f), 0, load<u32>(f, 12), load<u32>(f, 4), load<u32>(f, 8), 0, 17, 0, 0, 0);
    const err = fibLookup(0);
    store<u32>(out + (i << 3), resRoute != 0 ? load<u32>(resRoute, RT_INDEX) : 0xffffffff);
    store<i32>(out + (i << 3), err, 4);
  }
}

// ---- the traffic generator (traffic/generator.ts; abi.ts section 9) ----
export function gen_create(): usize { return genCreate(); }
export function gen_param_set(g: usize, key: i32, value: f64): void { genParamSet(g, key, value); }
export function gen_law_set(g: usize, law: i32, kind: u32, a: f64, b: f64, c: f64): void { genLawSet(g, law, kind, a, b, c); }
export function gen_table_set(g: usize, table: i32, ptr: usize, n: u32): void { genTableSet(g, table, ptr, n); }
export function gen_fill(g: usize, base: usize, max: u32): u32 { return genFill(g, base, max); }
export function gen_feedback(g: usize, base: usize, n: u32): void { genFeedback(g, base, n); }
export function gen_stat(g: usize, s: i32): f64 { return genStat(g, s); }

// ---- test support ----
let oracleBuf: usize = 0;
/**
 * Kernel-differential tests only: random statistic matches succeed exactly
 * for the `n` entry ids at `ids` (copied), instead of drawing; enabled = 0
 * turns the oracle off.
 */
export function statistic_oracle(enabled: u32, ids: usize, n: u32): void {
  release(oracleBuf);
  oracleBuf = zalloc(<usize>(n + 1) << 2);
  memory.copy(oracleBuf, ids, <usize>n << 2);
  statisticOracle(enabled != 0, oracleBuf, n);
}
/** The keys seed_keys_derive derives for `count` consecutive indexes, written at `keys` (test/engine/seed-keys.test.ts compares them with packetSeed). */
export function seed_keys_fill(keys: usize, count: u32, seed: u32, firstLo: u32, firstHi: u32): void { seedKeysFill(keys, count, seed, firstLo, firstHi); }
/** The generator's timing wheel alone (test/traffic/queue.test.ts checks its order against a sort). */
export function tw_create(): usize { return wheelCreate(); }
export function tw_reserve(w: usize, cap: u32): void { wheelReserve(w, cap); }
export function tw_push(w: usize, t: f64, flow: i32): void { wheelPush(w, t, flow); }
export function tw_peek(w: usize): f64 { return wheelPeek(w); }
export function tw_peeked_flow(w: usize): i32 { return wheelPeekedFlow(w); }
export function tw_pop_peeked(w: usize): void { wheelPopPeeked(w); }
export function tw_size(w: usize): u32 { return wheelSize(w); }

// ---- capture decoding (capture/decode.ts: the replay's fast path over pcapng packet blocks) ----
export function capture_decode(state: usize): u32 { return captureDecode(state); }
