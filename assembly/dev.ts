/**
 * Network devices and their IPv4 addresses (struct net_device + in_device +
 * the ifa_list), and the address helpers of net/ipv4/devinet.c.
 *
 * Devices live in slots 1..count (slot 0 = none); addresses are one array in
 * `ip addr` order, each device owning a contiguous run. Per-device sysctls
 * arrive already combined with conf/all the way the kernel's IN_DEV_* macros
 * combine them (the host does that, see host/node/sysctl.ts).
 */
import {
  DEV_SIZE, DEV_FLAGS, DEV_ADDR_FIRST, DEV_ADDR_COUNT, DEV_HAS_INET,
  ADDR_SIZE, ADDR_LOCAL, ADDR_PLEN, ADDR_SCOPE, ADDR_FLAGS, IFA_F_SECONDARY, DEV_ROUTE_LOCALNET,
  IFF_UP, IFF_LOOPBACK, RT_SCOPE_HOST, RT_SCOPE_LINK,
} from "./abi";
import { zalloc, release } from "./util/mem";
import { maskOf } from "./util/ip";

let devs: usize = 0;
let devCount: u32 = 0;
let addrs: usize = 0;
let addrCount: u32 = 0;

export function devsReset(count: u32): void {
  release(devs);
  devCount = count;
  devs = zalloc(<usize>(count + 1) * DEV_SIZE);
}

export function devTotal(): u32 { return devCount; }

// @ts-ignore: decorator
@inline export function devPtr(slot: u32): usize {
  return devs + <usize>slot * DEV_SIZE;
}

export function devSet(slot: u32, rec: usize): void {
  memory.copy(devPtr(slot), rec, DEV_SIZE);
}

export function addrsSet(rec: usize, count: u32): void {
  release(addrs);
  addrCount = count;
  addrs = zalloc(<usize>(count + 1) * ADDR_SIZE);
  memory.copy(addrs, rec, <usize>count * ADDR_SIZE);
}

// @ts-ignore: decorator
@inline export function devIsUp(slot: u32): bool {
  return (load<u32>(devPtr(slot), DEV_FLAGS) & IFF_UP) != 0;
}

// @ts-ignore: decorator
@inline export function devIsLoopback(slot: u32): bool {
  return (load<u32>(devPtr(slot), DEV_FLAGS) & IFF_LOOPBACK) != 0;
}

// @ts-ignore: decorator
@inline export function devHasInet(slot: u32): bool {
  return slot != 0 && slot <= devCount && load<u8>(devPtr(slot), DEV_HAS_INET) != 0;
}

/** idev->ifa_list == NULL */
export function devHasNoAddr(slot: u32): bool {
  return load<u32>(devPtr(slot), DEV_ADDR_COUNT) == 0;
}

/** inet_ifa_match: addr within the address's subnet. */
// @ts-ignore: decorator
@inline function ifaMatch(a: usize, addr: u32): bool {
  const m = maskOf(load<u8>(a, ADDR_PLEN));
  return ((addr ^ load<u32>(a, ADDR_LOCAL)) & m) == 0;
}

function scopeAllowed(a: usize, scope: u32, localnetScope: u32): bool {
  const s = <u32>load<u8>(a, ADDR_SCOPE);
  return min(s, localnetScope) <= scope;
}

/**
 * inet_select_addr(dev, dst, scope): the first primary address on `dev` whose
 * scope fits, preferring one whose subnet holds `dst`; failing that, the
 * first primary non-link-scope address of any device, in device order
 * (loopback first, as it is first in the kernel's device list).
 */
export function inetSelectAddr(dev: u32, dst: u32, scope: u32): u32 {
  let addr: u32 = 0;
  if (devHasInet(dev)) {
    const d = devPtr(dev);
    const localnetScope: u32 = load<u8>(d, DEV_ROUTE_LOCALNET) != 0 ? RT_SCOPE_LINK : RT_SCOPE_HOST;
    const first = <usize>load<u32>(d, DEV_ADDR_FIRST);
    const cnt = <usize>load<u32>(d, DEV_ADDR_COUNT);
    for (let i: usize = 0; i < cnt; i++) {
      const a = addrs + (first + i) * ADDR_SIZE;
      if (load<u8>(a, ADDR_FLAGS) & IFA_F_SECONDARY) continue;
      if (!scopeAllowed(a, scope, localnetScope)) continue;
      if (dst == 0 || ifaMatch(a, dst)) return load<u32>(a, ADDR_LOCAL);
      if (addr == 0) addr = load<u32>(a, ADDR_LOCAL);
    }
    if (addr != 0) return addr;
  }
  // in_dev_select_addr over every device, in order
  for (let s: u32 = 1; s <= devCount; s++) {
    if (!devHasInet(s)) continue;
    const d = devPtr(s);
    const first = <usize>load<u32>(d, DEV_ADDR_FIRST);
    const cnt = <usize>load<u32>(d, DEV_ADDR_COUNT);
    for (let i: usize = 0; i < cnt; i++) {
      const a = addrs + (first + i) * ADDR_SIZE;
      if (load<u8>(a, ADDR_FLAGS) & IFA_F_SECONDARY) continue;
      const sc = <u32>load<u8>(a, ADDR_SCOPE);
      if (sc != RT_SCOPE_LINK && sc <= scope) return load<u32>(a, ADDR_LOCAL);
    }
  }
  return 0;
}

/**
 * inet_addr_onlink(in_dev, a, b): some address of `dev` has a subnet holding
 * `a` and, if b != 0, `b` too.
 */
export function inetAddrOnlink(dev: u32, a: u32, b: u32): bool {
  const d = devPtr(dev);
  const first = <usize>load<u32>(d, DEV_ADDR_FIRST);
  const cnt = <usize>load<u32>(d, DEV_ADDR_COUNT);
  for (let i: usize = 0; i < cnt; i++) {
    const ad = addrs + (first + i) * ADDR_SIZE;
    if (ifaMatch(ad, a) && (b == 0 || ifaMatch(ad, b))) return true;
  }
  return false;
}

/**
 * inet_lookup_ifaddr_rcu: the device slot that has `addr` configured, or 0.
 * (Linear: a node has tens of configured addresses; the VPC CNI does not
 * configure pod addresses on the host.)
 */
export function ifaddrLookup(addr: u32): u32 {
  for (let i: u32 = 0; i < addrCount; i++) {
    const a = addrs + <usize>i * ADDR_SIZE;
    if (load<u32>(a, ADDR_LOCAL) == addr) return <u32>load<u16>(a, 8);
  }
  return 0;
}

/** Primary address of a device (first in ifa_list), 0 if none (REDIRECT). */
export function devFirstAddr(dev: u32): u32 {
  const d = devPtr(dev);
  if (load<u32>(d, DEV_ADDR_COUNT) == 0) return 0;
  return load<u32>(addrs + <usize>load<u32>(d, DEV_ADDR_FIRST) * ADDR_SIZE, ADDR_LOCAL);
}

export { RT_SCOPE_HOST };
