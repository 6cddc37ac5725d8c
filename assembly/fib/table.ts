/**
 * Routing tables: `fib_table_lookup` (net/ipv4/fib_trie.c) over the trie.
 *
 * A table holds *route records* (ABI ROUTE_*: one fib_alias with its
 * fib_info and single nexthop) grouped into *prefix nodes*, one per distinct
 * prefix/length. Within a node the routes are ordered as the kernel orders
 * the aliases of one prefix: TOS descending, then metric ascending, then the
 * order they were added (snapshot order). Each node knows its *parent*, the
 * longest strictly shorter prefix that covers it, which is where the kernel's
 * trie backtracks when no alias of a prefix qualifies.
 *
 * Memory layout (all owned by the table):
 *   table record  TBL_SIZE bytes in the table array, indexed by table slot
 *   nodes         NODE_SIZE bytes each: prefix u32 @0, plen u8 @4,
 *                 route count u16 @6, parent leaf u32 @8, first route u32 @12
 *   routes        ROUTE_SIZE bytes each (ABI), sorted by prefix length
 *   next          u32 per route: the next route of the same prefix, in
 *                 kernel alias order (0xFFFFFFFF ends the list)
 */
import {
  ROUTE_SIZE, RT_PREFIX, RT_PLEN, RT_TYPE, RT_SCOPE, RT_TOS, RT_METRIC, RT_DEV, RT_NHFLAGS,
  RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST, RTN_ANYCAST, RTN_MULTICAST, RTN_BLACKHOLE,
  RTN_UNREACHABLE, RTN_PROHIBIT, RTN_THROW, RTNH_F_DEAD, RTNH_F_LINKDOWN, DEV_IGNORE_LINKDOWN, RT_INDEX,
} from "../abi";
import { trieInit, trieFree, trieInsert, trieLookup, trieLookupBatch, trieBytes, trieReserve, TRIE_SIZE, NODE_SIZE, NODE_PLEN } from "./trie";
import { zalloc, release, grow } from "../util/mem";
import { EAGAIN, EINVAL, EHOSTUNREACH, EACCES } from "../util/errno";
import { flDaddr, flTos, flScope, flOif, setResult, setFlow, resType, resRoute } from "./flow";
import { devPtr } from "../dev";
import { customRules } from "../config";
import { routeCacheGeneration } from "../route/cache";

// table record
const TBL_ID = TRIE_SIZE + 0; // u32 kernel table id
const TBL_NODES = TRIE_SIZE + 4; // usize
const TBL_NODE_COUNT = TRIE_SIZE + 8; // u32
const TBL_ROUTES = TRIE_SIZE + 12; // usize
const TBL_ROUTE_COUNT = TRIE_SIZE + 16; // u32
const TBL_EXISTS = TRIE_SIZE + 20; // u32
const TBL_NEXT = TRIE_SIZE + 24; // usize: per route, the next alias of its prefix (0xFFFFFFFF = last)
const TBL_SIZE: usize = TRIE_SIZE + 32;

// node record
const NODE_PREFIX = 0;
const NODE_COUNT = 6;
const NODE_PARENT = 8;
const NODE_FIRST = 12;

/** Lookup flag: ignore RTNH_F_LINKDOWN (FIB_LOOKUP_IGNORE_LINKSTATE). */
export const FIB_LOOKUP_IGNORE_LINKSTATE: u32 = 1;

let tables: usize = 0;
let tableCap: u32 = 0;

function tablePtr(slot: u32): usize {
  return tables + <usize>slot * TBL_SIZE;
}

/** Makes room for table slots 0..count-1, dropping all existing tables. */
export function tablesReset(count: u32): void {
  for (let i: u32 = 0; i < tableCap; i++) tableFree(i);
  release(tables);
  tableCap = count;
  tables = zalloc(<usize>count * TBL_SIZE);
}

export function tableCount(): u32 { return tableCap; }

function tableFree(slot: u32): void {
  const t = tablePtr(slot);
  trieFree(t);
  release(load<usize>(t, TBL_NODES));
  release(load<usize>(t, TBL_ROUTES));
  release(load<usize>(t, TBL_NEXT));
  memory.fill(t, 0, TBL_SIZE);
}

export function tableId(slot: u32): u32 {
  return slot < tableCap ? load<u32>(tablePtr(slot), TBL_ID) : 0;
}

/**
 * The table id the kernel reports for a result from table `slot`: without
 * custom rules the local table is merged into main (fib_new_table's alias,
 * fib_unmerge undoes it), so its results read "main".
 */
export function reportedTableId(slot: u32): u32 {
  const id = tableId(slot);
  return id == 255 && !customRules ? 254 : id;
}

export function tableExists(slot: u32): bool {
  return slot < tableCap && load<u32>(tablePtr(slot), TBL_EXISTS) != 0;
}

/** Bytes used by a table (trie, nodes, routes). */
export function tableBytes(slot: u32): usize {
  const t = tablePtr(slot);
  return trieBytes(t) + <usize>load<u32>(t, TBL_NODE_COUNT) * NODE_SIZE +
    <usize>load<u32>(t, TBL_ROUTE_COUNT) * (ROUTE_SIZE + 4);
}

export function tableRouteCount(slot: u32): u32 { return load<u32>(tablePtr(slot), TBL_ROUTE_COUNT); }

/** fib_props[type].error */
export function typeError(type: u32): i32 {
  switch (type) {
    case RTN_UNICAST: case RTN_LOCAL: case RTN_BROADCAST: case RTN_ANYCAST: case RTN_MULTICAST: return 0;
    case RTN_UNREACHABLE: return -EHOSTUNREACH;
    case RTN_PROHIBIT: return -EACCES;
    case RTN_THROW: return -EAGAIN;
    case RTN_BLACKHOLE: default: return -EINVAL;
  }
}

/** Route ordering within a prefix: TOS desc, metric asc, snapshot order asc. */
function routeBefore(a: usize, b: usize): bool {
  const ta = load<u8>(a, RT_TOS), tb = load<u8>(b, RT_TOS);
  if (ta != tb) return ta > tb;
  const ma = load<u32>(a, RT_METRIC), mb = load<u32>(b, RT_METRIC);
  if (ma != mb) return ma < mb;
  return load<u32>(a, RT_INDEX) < load<u32>(b, RT_INDEX);
}

/**
 * Builds table `slot` (kernel id `id`) from `count` staged route records at
 * `staged` (any order); the staging buffer stays the caller's.
 *
 * One counting sort by prefix length (stable), then the prefixes are inserted
 * shortest first. Before inserting a prefix the trie is asked for it: the
 * answer is either the same prefix (a second route for it: it joins that
 * node's route list, kept in kernel alias order) or the longest shorter
 * prefix covering it (the node's parent, where lookups back off to). Routes
 * of a node are a linked list (`next` array) rather than a contiguous run,
 * so no full sort is needed. Returns the number of prefix nodes.
 */
export function tableBuild(slot: u32, id: u32, staged: usize, count: u32): u32 {
  tableFree(slot);
  const t = tablePtr(slot);
  store<u32>(t, id, TBL_ID);
  store<u32>(t, 1, TBL_EXISTS);
  trieInit(t);
  const n = <usize>count;

  // 1. counting sort of route positions by prefix length (stable)
  const hist = zalloc(34 << 2);
  let over16: u32 = 0;
  let over24: u32 = 0;
  for (let i: usize = 0; i < n; i++) {
    const pl = <usize>load<u8>(staged + i * ROUTE_SIZE, RT_PLEN);
    store<u32>(hist + ((pl + 1) << 2), load<u32>(hist + ((pl + 1) << 2)) + 1);
    if (pl > 16) over16++;
    if (pl > 24) over24++;
  }
  for (let k: usize = 1; k < 34; k++) store<u32>(hist + (k << 2), load<u32>(hist + (k << 2)) + load<u32>(hist + ((k - 1) << 2)));
  // scatter the records themselves: sequential reads, one write stream per
  // length (every byte of `routes` is written, so it needs no zeroing)
  const routes = heap.alloc(n * ROUTE_SIZE + 16);
  for (let i: usize = 0; i < n; i++) {
    const src = staged + i * ROUTE_SIZE;
    const pl = <usize>load<u8>(src, RT_PLEN);
    const pos = load<u32>(hist + (pl << 2));
    store<u32>(hist + (pl << 2), pos + 1);
    memory.copy(routes + <usize>pos * ROUTE_SIZE, src, ROUTE_SIZE);
  }
  release(hist);
  // an upper bound on chunks (one per /16 holding longer prefixes, one per
  // /24 holding prefixes beyond /24), so the pool never regrows mid-build
  trieReserve(t, min(over16, 65536) + over24 + 1);

  // 2. nodes as their prefix first appears (shortest first; `ip route show`
  //    prints a table in key order, so within a length the trie is walked
  //    in address order and stays cache friendly)
  const next = heap.alloc((n + 1) << 2);
  // at most one node per route; shrunk to size at the end
  let nodes = heap.alloc((n + 1) * NODE_SIZE);
  let nodeCount: usize = 0;
  for (let i: usize = 0; i < n; i++) {
    const r = routes + i * ROUTE_SIZE;
    store<u32>(next + (i << 2), 0xffffffff);
    const prefix = load<u32>(r, RT_PREFIX);
    const plen = <u32>load<u8>(r, RT_PLEN);
    const found = trieLookup(t, prefix);
    if (found != 0) {
      const fnd = nodes + (<usize>(found - 1) << 4);
      if (load<u32>(fnd, NODE_PREFIX) == prefix && <u32>load<u8>(fnd, NODE_PLEN) == plen) {
        // another alias of an existing prefix: sorted insert into its list
        let prev: u32 = 0xffffffff;
        let cur = load<u32>(fnd, NODE_FIRST);
        while (cur != 0xffffffff && !routeBefore(r, routes + <usize>cur * ROUTE_SIZE)) {
          prev = cur;
          cur = load<u32>(next + (<usize>cur << 2));
        }
        store<u32>(next + (i << 2), cur);
        if (prev == 0xffffffff) store<u32>(fnd, <u32>i, NODE_FIRST);
        else store<u32>(next + (<usize>prev << 2), <u32>i);
        store<u16>(fnd, load<u16>(fnd, NODE_COUNT) + 1, NODE_COUNT);
        continue;
      }
    }
    const nd = nodes + nodeCount * NODE_SIZE;
    store<u32>(nd, prefix, NODE_PREFIX);
    store<u8>(nd, <u8>plen, NODE_PLEN);
    store<u16>(nd, 1, NODE_COUNT);
    store<u32>(nd, found, NODE_PARENT);
    store<u32>(nd, <u32>i, NODE_FIRST);
    nodeCount++;
    trieInsert(t, prefix, plen, <u32>nodeCount, nodes);
  }
  if (nodeCount < n) nodes = heap.realloc(nodes, (nodeCount + 1) * NODE_SIZE);
  store<usize>(t, nodes, TBL_NODES);
  store<u32>(t, <u32>nodeCount, TBL_NODE_COUNT);
  store<usize>(t, routes, TBL_ROUTES);
  store<usize>(t, next, TBL_NEXT);
  store<u32>(t, count, TBL_ROUTE_COUNT);
  return <u32>nodeCount;
}

/** True if the route's TOS selector admits the flow (fib_dscp_masked_match). */
// @ts-ignore: decorator
@inline function tosOk(rtTos: u32): bool {
  return rtTos == 0 || rtTos == (flTos & 0x1c);
}

/**
 * fib_table_lookup: longest prefix first; within a prefix the first alias
 * whose TOS and scope fit and whose nexthop is usable; error route types end
 * the lookup with their error as soon as TOS and scope fit; when no alias of
 * a prefix qualifies, back off to the covering prefix. Returns 0 with the
 * result set, a negative errno for error routes (result set too, so callers
 * can report which route), or -EAGAIN when nothing matched.
 */
export function fibTableLookup(slot: u32, flags: u32): i32 {
  if (slot >= tableCap) return -EAGAIN; // rule names a table that does not exist
  const t = tablePtr(slot);
  if (load<u32>(t, TBL_EXISTS) == 0) return -EAGAIN;
  let leaf = trieLookup(t, flDaddr);
  if (leaf == 0) return -EAGAIN;
  const nodes = load<usize>(t, TBL_NODES);
  const routes = load<usize>(t, TBL_ROUTES);
  const next = load<usize>(t, TBL_NEXT);
  while (leaf != 0) {
    const nd = nodes + (<usize>(leaf - 1) << 4);
    for (let k = load<u32>(nd, NODE_FIRST); k != 0xffffffff; k = load<u32>(next + (<usize>k << 2))) {
      const r = routes + <usize>k * ROUTE_SIZE;
      if (!tosOk(load<u8>(r, RT_TOS))) continue;
      if (<u32>load<u8>(r, RT_SCOPE) < flScope) continue;
      const type = <u32>load<u8>(r, RT_TYPE);
      const err = typeError(type);
      if (err < 0) {
        setResult(type, r, load<u8>(nd, NODE_PLEN), load<u32>(nd, NODE_PREFIX), slot, load<u8>(r, RT_TOS));
        return err;
      }
      // fib_lookup_good_nhc
      const nhf = <u32>load<u8>(r, RT_NHFLAGS);
      if (nhf & RTNH_F_DEAD) continue;
      const dev = <u32>load<u16>(r, RT_DEV);
      if ((nhf & RTNH_F_LINKDOWN) && !(flags & FIB_LOOKUP_IGNORE_LINKSTATE) &&
          dev != 0 && load<u8>(devPtr(dev), DEV_IGNORE_LINKDOWN) != 0) continue;
      if (flOif != 0 && flOif != dev) continue;
      setResult(type, r, load<u8>(nd, NODE_PLEN), load<u32>(nd, NODE_PREFIX), slot, load<u8>(r, RT_TOS));
      return 0;
    }
    leaf = load<u32>(nd, NODE_PARENT);
  }
  return -EAGAIN;
}

/**
 * Longest-prefix match alone (benchmarks, memory checks): the trie walk,
 * returning the matched prefix node as `index + 1`, or 0 for no match.
 */
// @ts-ignore: decorator
@inline export function tableLpm(slot: u32, addr: u32): u32 {
  return trieLookup(tablePtr(slot), addr);
}

/** Batched longest-prefix match (see trieLookupBatch). */
export function tableLpmBatch(slot: u32, addrs: usize, n: u32, out: usize): void {
  trieLookupBatch(tablePtr(slot), addrs, <usize>n, out);
}

/** RT_INDEX (snapshot position) of the first route of prefix node `leaf` (index + 1). */
export function tableLeafRouteIndex(slot: u32, leaf: u32): u32 {
  const t = tablePtr(slot);
  const nd = load<usize>(t, TBL_NODES) + (<usize>(leaf - 1) << 4);
  return load<u32>(load<usize>(t, TBL_ROUTES) + <usize>load<u32>(nd, NODE_FIRST) * ROUTE_SIZE, RT_INDEX);
}

/**
 * inet_addr_type's table part: the type of the local-table route for `addr`
 * (RTN_LOCAL, RTN_BROADCAST, ...), RTN_UNICAST when none covers it.
 * Clobbers the flow.
 */
export function localTableType(addr: u32): u32 {
  for (let s: u32 = 0; s < tableCap; s++) {
    if (load<u32>(tablePtr(s), TBL_ID) != 255 || !tableExists(s)) continue;
    setFlow(0, 0, 0, 0, addr, 0, 0, 0, 0, 0);
    if (fibTableLookup(s, 0) == 0) return resType;
    return RTN_UNICAST;
  }
  return RTN_UNICAST;
}

/**
 * The fallback of __ip_dev_find: a RTN_LOCAL route for `addr` in the local
 * table (id 255). Returns the route's device slot or 0. Clobbers the flow.
 */
export function fibTableLookupLocal(addr: u32): u32 {
  for (let s: u32 = 0; s < tableCap; s++) {
    if (load<u32>(tablePtr(s), TBL_ID) != 255 || !tableExists(s)) continue;
    setFlow(0, 0, 0, 0, addr, 0, 0, 0, 0, 0);
    if (fibTableLookup(s, 0) == 0 && resType == RTN_LOCAL) return <u32>load<u16>(resRoute, RT_DEV);
    return 0;
  }
  return 0;
}

/** Device slot of the route found by the last localTableLookup. */
export let localLookupDev: u32 = 0;

/**
 * Remembered localTableLookup answers: the lookup (flow with only the
 * destination set, no flags) is a pure function of the address and of the
 * configuration (tables, devices), which every configuration call changes
 * the route cache's generation for (route/cache.ts). Direct-mapped, LT_SIZE
 * bytes an entry: u32 generation (0 = empty), u32 addr, u32 type, u32 dev.
 * xt_addrtype asks for every packet a rule with `-m addrtype` examines
 * (the VPC CNI's mangle PREROUTING rule for each packet from eth0).
 */
const LT_SHIFT: u32 = 10;
const LT_SIZE: usize = 16;
let ltCache: usize = 0;

/** Empties the localTableLookup cache (the generation wrapped). */
export function localTableCacheClear(): void {
  if (ltCache != 0) memory.fill(ltCache, 0, <usize>(1 << LT_SHIFT) * LT_SIZE);
}

/**
 * __inet_dev_addr_type's lookup: the local table's route type for `addr`
 * (0 when no route covers it), with its nexthop device in localLookupDev.
 * May clobber the flow.
 */
export function localTableLookup(addr: u32): u32 {
  if (ltCache == 0) ltCache = zalloc(<usize>(1 << LT_SHIFT) * LT_SIZE);
  const gen = routeCacheGeneration();
  const c = ltCache + (<usize>((addr * 0x9E3779B1) >> (32 - LT_SHIFT)) << 4);
  if (load<u32>(c) == gen && load<u32>(c, 4) == addr) {
    localLookupDev = load<u32>(c, 12);
    return load<u32>(c, 8);
  }
  const type = localTableLookupUncached(addr);
  store<u32>(c, gen);
  store<u32>(c, addr, 4);
  store<u32>(c, type, 8);
  store<u32>(c, localLookupDev, 12);
  return type;
}

function localTableLookupUncached(addr: u32): u32 {
  localLookupDev = 0;
  for (let s: u32 = 0; s < tableCap; s++) {
    if (load<u32>(tablePtr(s), TBL_ID) != 255 || !tableExists(s)) continue;
    setFlow(0, 0, 0, 0, addr, 0, 0, 0, 0, 0);
    if (fibTableLookup(s, 0) != 0) return 0;
    localLookupDev = <u32>load<u16>(resRoute, RT_DEV);
    return resType;
  }
  return 0;
}
