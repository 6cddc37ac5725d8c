/**
 * inet_peer: per remote address state that the kernel's ICMP and redirect
 * rate limiters share (net/ipv4/inetpeer.c). One peer per IPv4 address; its
 * rate_tokens/rate_last are used by ip_error, icmpv4_xrlim_allow and
 * ip_rt_send_redirect alike, exactly as in the kernel.
 *
 * Open-addressing hash table, linear probing, grown at half load. Peers are
 * not garbage-collected: after the kernel's GC delay (>= 120 s idle) a
 * recreated peer and an idle one give the same token arithmetic.
 */
import { zalloc, release } from "../util/mem";
import { jiffies } from "./clock";
import { hz } from "../config";

// record: addr u32 @0, used u32 @4, rate_tokens i64 @8, rate_last i64 @16, n_redirects u32 @24
const P_ADDR = 0;
const P_USED = 4;
export const P_TOKENS = 8;
export const P_LAST = 16;
export const P_NREDIR = 24;
const P_SIZE: usize = 32;

let table: usize = 0;
let cap: u32 = 0;
let used: u32 = 0;

export function peersReset(): void {
  release(table);
  cap = 1024;
  used = 0;
  table = zalloc(<usize>cap * P_SIZE);
}

// @ts-ignore: decorator
@inline function hash(a: u32): u32 {
  let h = a * 0x9e3779b1;
  return h ^ (h >>> 15);
}

function rehash(): void {
  const old = table;
  const oldCap = cap;
  cap = oldCap * 2;
  table = zalloc(<usize>cap * P_SIZE);
  for (let i: u32 = 0; i < oldCap; i++) {
    const o = old + <usize>i * P_SIZE;
    if (load<u32>(o, P_USED) == 0) continue;
    let j = hash(load<u32>(o, P_ADDR)) & (cap - 1);
    while (load<u32>(table + <usize>j * P_SIZE, P_USED) != 0) j = (j + 1) & (cap - 1);
    memory.copy(table + <usize>j * P_SIZE, o, P_SIZE);
  }
  release(old);
}

/** inet_getpeer_v4(base, addr, create=1): never fails in the emulator. */
export function getPeer(addr: u32): usize {
  if (table == 0) peersReset();
  let j = hash(addr) & (cap - 1);
  while (true) {
    const p = table + <usize>j * P_SIZE;
    if (load<u32>(p, P_USED) == 0) break;
    if (load<u32>(p, P_ADDR) == addr) return p;
    j = (j + 1) & (cap - 1);
  }
  if ((used + 1) * 2 > cap) {
    rehash();
    return getPeer(addr);
  }
  const p = table + <usize>j * P_SIZE;
  store<u32>(p, addr, P_ADDR);
  store<u32>(p, 1, P_USED);
  store<i64>(p, 0, P_TOKENS);
  // "60*HZ is arbitrary, but chosen enough high so that the first
  //  calculation of tokens is at its maximum."
  store<i64>(p, jiffies() - 60 * <i64>hz, P_LAST);
  store<u32>(p, 0, P_NREDIR);
  used++;
  return p;
}

/** inet_peer_xrlim_allow(peer, timeout): token bucket, burst 6 x timeout. */
export function xrlimAllow(p: usize, timeout: i64): bool {
  const now = jiffies();
  let token = load<i64>(p, P_TOKENS) + (now - load<i64>(p, P_LAST));
  store<i64>(p, now, P_LAST);
  if (token > 6 * timeout) token = 6 * timeout;
  let rc = false;
  if (token >= timeout) { token -= timeout; rc = true; }
  store<i64>(p, token, P_TOKENS);
  return rc;
}
