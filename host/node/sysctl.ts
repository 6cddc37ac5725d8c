/**
 * How the kernel combines conf/all with conf/<dev> for each per-device IPv4
 * setting (the IN_DEV_* macros of include/linux/inetdevice.h), and the
 * kernel defaults for settings a snapshot does not list.
 */

/** How a per-device value is derived. */
export type Combine =
  /** IN_DEV_CONF_GET: the device's own value. */
  | "dev"
  /** IN_DEV_ORCONF: all || dev. */
  | "or"
  /** IN_DEV_ANDCONF: all && dev. */
  | "and"
  /** IN_DEV_MAXCONF: max(all, dev). */
  | "max";

export interface DevConfSpec { param: string; combine: Combine; kernelDefault: number }

/** The per-device settings the core models. */
export const DEV_CONF: DevConfSpec[] = [
  { param: "forwarding", combine: "dev", kernelDefault: 0 },
  { param: "rp_filter", combine: "max", kernelDefault: 0 },
  { param: "accept_local", combine: "or", kernelDefault: 0 },
  { param: "src_valid_mark", combine: "or", kernelDefault: 0 },
  { param: "route_localnet", combine: "or", kernelDefault: 0 },
  { param: "send_redirects", combine: "or", kernelDefault: 1 },
  { param: "shared_media", combine: "or", kernelDefault: 1 },
  { param: "ignore_routes_with_linkdown", combine: "or", kernelDefault: 0 },
  { param: "bc_forwarding", combine: "and", kernelDefault: 0 },
];

function num(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  return Number.isFinite(n) ? n : undefined;
}

/**
 * The effective value of `param` for device `dev`, as the kernel computes it
 * from the sysctl map. A device without its own line falls back to
 * conf/default (the value it would have been created with), then to the
 * kernel default; "forwarding" also honours net.ipv4.ip_forward, which sets
 * every device.
 */
export function effectiveDevConf(sysctl: Map<string, string>, dev: string, spec: DevConfSpec): number {
  const get = (d: string) => num(sysctl.get(`net.ipv4.conf.${d}.${spec.param}`));
  let own = get(dev);
  if (own === undefined && spec.param === "forwarding") own = num(sysctl.get("net.ipv4.ip_forward"));
  if (own === undefined) own = get("default");
  if (own === undefined) own = spec.kernelDefault;
  let all = get("all");
  if (all === undefined && spec.param === "forwarding") all = num(sysctl.get("net.ipv4.ip_forward"));
  if (all === undefined) all = spec.kernelDefault;
  switch (spec.combine) {
    case "dev": return own;
    case "or": return all !== 0 || own !== 0 ? 1 : 0;
    case "and": return all !== 0 && own !== 0 ? 1 : 0;
    case "max": return Math.max(all, own);
  }
}

/** Node-wide sysctls with kernel defaults. */
export const GLOBAL_SYSCTL_DEFAULTS: Record<string, number> = {
  "net.ipv4.icmp_ratemask": 6168,
  "net.ipv4.icmp_ratelimit": 1000,
  "net.ipv4.icmp_msgs_per_sec": 1000,
  "net.ipv4.icmp_msgs_burst": 50,
  "net.ipv4.icmp_echo_ignore_all": 0,
  "net.ipv4.icmp_echo_ignore_broadcasts": 1,
  "net.ipv4.icmp_errors_use_inbound_ifaddr": 0,
  "net.ipv4.ip_default_ttl": 64,
  "net.ipv4.fwmark_reflect": 0,
  "net.ipv4.ip_no_pmtu_disc": 0,
  // IPv4 reassembly (ipv4_frags_init_net; host/packet/defrag.ts reads them)
  "net.ipv4.ipfrag_time": 30,
  "net.ipv4.ipfrag_max_dist": 64,
  "net.ipv4.ipfrag_high_thresh": 4 * 1024 * 1024,
};

export function globalSysctl(sysctl: Map<string, string>, key: string): number {
  return num(sysctl.get(key)) ?? GLOBAL_SYSCTL_DEFAULTS[key];
}
