/**
 * Node-wide settings (sysctls that are not per device, and facts about the
 * configuration the kernel keeps as flags). Set by the host with
 * `sysctl_set(SYS_*, value)` before traffic is processed.
 */
import {
  SYS_ICMP_RATEMASK, SYS_ICMP_RATELIMIT_MS, SYS_ICMP_MSGS_PER_SEC, SYS_ICMP_MSGS_BURST,
  SYS_ICMP_ECHO_IGNORE_ALL, SYS_ICMP_ECHO_IGNORE_BCAST, SYS_ICMP_ERRORS_USE_INBOUND_IFADDR,
  SYS_IP_DEFAULT_TTL, SYS_FWMARK_REFLECT, SYS_HZ, SYS_CUSTOM_RULES, SYS_CUSTOM_LOCAL_ROUTES,
  SYS_LOOPBACK_DEV, SYS_SEED, SYS_RULES_NEED_PORTS, SYS_IP_NO_PMTU_DISC,
} from "./abi";
import { seedRandom } from "./util/random";

/** net.ipv4.icmp_ratemask: kernel default 6168 (dest unreach, source quench, time exceeded, param problem). */
export let icmpRatemask: u32 = 6168;
/** net.ipv4.icmp_ratelimit in jiffies (default 1000 ms). */
export let icmpRatelimitJiffies: u32 = 250;
let icmpRatelimitMs: u32 = 1000;
export let icmpMsgsPerSec: u32 = 1000;
export let icmpMsgsBurst: u32 = 50;
export let icmpEchoIgnoreAll: bool = false;
export let icmpEchoIgnoreBroadcasts: bool = true;
export let icmpErrorsUseInboundIfaddr: bool = false;
export let ipDefaultTtl: u32 = 64;
export let fwmarkReflect: bool = false;
export let ipNoPmtuDisc: u32 = 0;
/** CONFIG_HZ of the emulated kernel. */
export let hz: u32 = 250;
/** fib4_has_custom_rules: disables fib_validate_source's fast path. */
export let customRules: bool = false;
/** fib_has_custom_local_routes: idem. */
export let customLocalRoutes: bool = false;
/** fib_rules_require_fldissect: rules look at ipproto/ports. */
export let rulesNeedPorts: bool = false;
/** Device slot of `lo`. */
export let loopbackDev: u32 = 0;

export function sysctlSet(key: i32, value: u32): bool {
  switch (key) {
    case SYS_ICMP_RATEMASK: icmpRatemask = value; break;
    case SYS_ICMP_RATELIMIT_MS: icmpRatelimitMs = value; icmpRatelimitJiffies = msToJiffies(value); break;
    case SYS_ICMP_MSGS_PER_SEC: icmpMsgsPerSec = value; break;
    case SYS_ICMP_MSGS_BURST: icmpMsgsBurst = value; break;
    case SYS_ICMP_ECHO_IGNORE_ALL: icmpEchoIgnoreAll = value != 0; break;
    case SYS_ICMP_ECHO_IGNORE_BCAST: icmpEchoIgnoreBroadcasts = value != 0; break;
    case SYS_ICMP_ERRORS_USE_INBOUND_IFADDR: icmpErrorsUseInboundIfaddr = value != 0; break;
    case SYS_IP_DEFAULT_TTL: ipDefaultTtl = value; break;
    case SYS_FWMARK_REFLECT: fwmarkReflect = value != 0; break;
    case SYS_HZ: hz = value; icmpRatelimitJiffies = msToJiffies(icmpRatelimitMs); break;
    case SYS_CUSTOM_RULES: customRules = value != 0; break;
    case SYS_CUSTOM_LOCAL_ROUTES: customLocalRoutes = value != 0; break;
    case SYS_LOOPBACK_DEV: loopbackDev = value; break;
    case SYS_SEED: seedRandom(value); break;
    case SYS_RULES_NEED_PORTS: rulesNeedPorts = value != 0; break;
    case SYS_IP_NO_PMTU_DISC: ipNoPmtuDisc = value; break;
    default: return false;
  }
  return true;
}

/** msecs_to_jiffies for HZ dividing 1000: rounds up, as the kernel does. */
export function msToJiffies(ms: u32): u32 {
  return <u32>((<u64>ms * hz + 999) / 1000);
}
