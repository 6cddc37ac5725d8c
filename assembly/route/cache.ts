/**
 * The input route cache: remembered ip_route_input decisions.
 *
 * Linux has had no IPv4 routing cache since 3.6; every forwarded packet walks
 * the policy rules, the tables and fib_validate_source again (on an EKS node
 * that is two or three rule walks per packet). The decision is a pure function
 * of the packet's routing key and of the node's configuration (rules, tables,
 * devices, addresses, sysctls), so the emulator may remember it without
 * changing any answer, as long as the key holds everything the decision
 * reads and every configuration change forgets what was remembered.
 *
 * The key: destination, source, input device, TOS bits the FIB compares
 * (0x1c, see fib4_rule_match and fib_table_lookup), the mark bits some rule's
 * fwmark mask looks at, and protocol and ports only when a rule selects on
 * them. The value: the rtable globals (route/rtable.ts) and the drop reason.
 *
 * Memory: RC_ENTRIES direct-mapped entries of RC_SIZE bytes (one cache line):
 *    0 u32 generation (0 = empty)   4 u32 daddr   8 u32 saddr   12 u32 mark
 *   16 u16 device  18 u8 tos  19 u8 proto  20 u16 sport  22 u16 dport
 *   24 i32 reason  28 u8 rtType  29 u8 rtTos  30 u16 rtDev  32 u32 rtFlags
 *   36 u32 rtGw  40 i32 rtError  44 u32 rtMtu  48 u32 rtTableId
 *   52 u32 rtRouteIndex  56 u32 rtRule
 */
import { zalloc } from "../util/mem";
import { ipRouteInput } from "./input";
import {
  rtType, rtFlags, rtDev, rtGw, rtError, rtMtu, rtTableId, rtRouteIndex, rtRule, rtTos,
  rtSet, rtSetError, rtSetMtu, rtSetOrigin, rtSetSaddr,
} from "./rtable";
import { rulesNeedPorts } from "../config";
import { rulesMarkMask } from "../fib/rules";
import { localTableCacheClear } from "../fib/table";

const RC_SHIFT: u32 = 15;
const RC_ENTRIES: u32 = 1 << RC_SHIFT;
const RC_SIZE: usize = 64;

let cache: usize = 0;
/** Current configuration generation; entries of older ones are stale. */
let generation: u32 = 1;
export let rcHits: u64 = 0;
export let rcMisses: u64 = 0;

/** Forgets every remembered decision (any configuration change). */
export function routeCacheInvalidate(): void {
  generation++;
  if (generation == 0) {
    // wrapped: stale entries could look current, so clear them
    if (cache != 0) memory.fill(cache, 0, <usize>RC_ENTRIES * RC_SIZE);
    localTableCacheClear();
    generation = 1;
  }
}

/** The configuration generation (other caches of configuration-only answers key on it: fib/table.ts). */
export function routeCacheGeneration(): u32 { return generation; }

export function routeCacheStatsReset(): void { rcHits = 0; rcMisses = 0; }

/** ip_route_input through the cache: same return value, same rtable globals. */
// @ts-ignore: decorator
@inline
export function ipRouteInputCached(daddr: u32, saddr: u32, tos: u32, dev: u32, mark: u32,
                                   proto: u32, sport: u32, dport: u32): i32 {
  if (cache == 0) cache = zalloc(<usize>RC_ENTRIES * RC_SIZE);
  const kmark = mark & rulesMarkMask;
  const ktos = tos & 0x1c;
  let kproto: u32 = 0, kports: u32 = 0;
  if (rulesNeedPorts) { kproto = proto; kports = (sport & 0xffff) | (dport << 16); }
  const kdev = dev | (ktos << 16) | (kproto << 24);
  let h = daddr * 0x9E3779B1 ^ (saddr + 0x7F4A7C15) * 0x85EBCA77 ^ kdev * 0xC2B2AE3D ^ kmark ^ kports * 0x27D4EB2F;
  h ^= h >> 15;
  h *= 0x2C1B3C6D;
  h ^= h >> 13;
  const e = cache + (<usize>(h >> (32 - RC_SHIFT)) << 6);
  if (load<u32>(e) == generation && load<u32>(e, 4) == daddr && load<u32>(e, 8) == saddr &&
      load<u32>(e, 12) == kmark && load<u32>(e, 16) == kdev && load<u32>(e, 20) == kports) {
    rcHits++;
    rtSet(<u32>load<u8>(e, 28), load<u32>(e, 32), <u32>load<u16>(e, 30), load<u32>(e, 36));
    rtSetError(load<i32>(e, 40));
    rtSetMtu(load<u32>(e, 44));
    rtSetOrigin(load<u32>(e, 48), load<u32>(e, 52), load<u32>(e, 56), <u32>load<u8>(e, 29));
    rtSetSaddr(0);
    return load<i32>(e, 24);
  }
  rcMisses++;
  const reason = ipRouteInput(daddr, saddr, tos, dev, mark, proto, sport, dport);
  store<u32>(e, generation);
  store<u32>(e, daddr, 4);
  store<u32>(e, saddr, 8);
  store<u32>(e, kmark, 12);
  store<u32>(e, kdev, 16);
  store<u32>(e, kports, 20);
  store<i32>(e, reason, 24);
  store<u8>(e, <u8>rtType, 28);
  store<u8>(e, <u8>rtTos, 29);
  store<u16>(e, <u16>rtDev, 30);
  store<u32>(e, rtFlags, 32);
  store<u32>(e, rtGw, 36);
  store<i32>(e, rtError, 40);
  store<u32>(e, rtMtu, 44);
  store<u32>(e, rtTableId, 48);
  store<u32>(e, rtRouteIndex, 52);
  store<u32>(e, rtRule, 56);
  return reason;
}
