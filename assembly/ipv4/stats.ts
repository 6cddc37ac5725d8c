/**
 * SNMP MIB counters, mirroring what `nstat` shows for the kernel (IpInReceives,
 * IpForwDatagrams, IcmpOutDestUnreachs, TcpExtIPReversePathFilter, ...).
 * Indices are the CTR_* constants of the ABI; the host names them.
 */
import { CTR_MAX, DROP_MAX } from "../abi";
import { zalloc } from "../util/mem";

export const counters: usize = zalloc(<usize>CTR_MAX << 3);
/** Per drop reason packet counts (u64 each). */
export const dropCounters: usize = zalloc(<usize>DROP_MAX << 3);

// @ts-ignore: decorator
@inline export function count(idx: i32): void {
  const p = counters + (<usize>idx << 3);
  store<u64>(p, load<u64>(p) + 1);
}

// @ts-ignore: decorator
@inline export function countN(idx: i32, n: u64): void {
  const p = counters + (<usize>idx << 3);
  store<u64>(p, load<u64>(p) + n);
}

// @ts-ignore: decorator
@inline export function countDrop(reason: i32): void {
  const p = dropCounters + (<usize>reason << 3);
  store<u64>(p, load<u64>(p) + 1);
}

export function resetCounters(): void {
  memory.fill(counters, 0, <usize>CTR_MAX << 3);
  memory.fill(dropCounters, 0, <usize>DROP_MAX << 3);
}
