/**
 * EKS worker nodes as the AWS VPC CNI programs them, written as the snapshot
 * files `ip` prints on them, together with the commands that build the same
 * node in a network namespace (so the kernel can check the emulator on it).
 *
 * What the CNI does (amazon-vpc-cni-k8s, see shared/reference/k8s-aws-rules.md C.3-C.5):
 *  - the primary ENI (eth0) keeps its DHCP default route in main;
 *  - every secondary ENI ethN gets table N+1 with `<gw> dev ethN scope link`
 *    and `default via <gw> dev ethN`, and its connected route is deleted from
 *    main;
 *  - every pod gets `<podIP> dev <hostveth> scope link` in main and a rule
 *    `512: from all to <podIP> lookup main`; a pod whose IP belongs to a
 *    secondary ENI also gets `1536: from <podIP> lookup <eni table>`;
 *  - `1024: from all fwmark 0x80/0x80 lookup main` (NodePort / SNAT return path);
 *  - rp_filter is loose (2) on the primary ENI; other devices follow conf/all.
 */
import { createHash } from "node:crypto";
import { mulberry32 } from "../util/prng.js";

export interface DemoPod {
  name: string;
  namespace: string;
  ip: string;
  /** Host-side veth, named as the CNI names it: "eni" + sha1(ns.name)[:11]. */
  veth: string;
  /** ENI whose secondary IP the pod has ("eth0" is the primary ENI). */
  eni: string;
}

export interface DemoNode {
  nodeIp: string;
  /** Primary IP of every ENI, eth0 first. */
  eniIps: string[];
  gateway: string;
  vpcCidr: string;
  subnet: string;
  pods: DemoPod[];
  files: Record<string, string>;
  /** Commands that build the same node in a network namespace (after links exist). */
  commands: string[];
  /** Node links (everything but lo), in ifindex order. */
  links: string[];
}

export interface EksNodeOptions {
  /** Number of ENIs (1..4); eth0 is the primary. */
  enis?: number;
  /** Pods per ENI, by ENI index. */
  podsPerEni?: number[];
  /** Seed for pod names and addresses. */
  seed?: number;
  /** conf/all rp_filter (the AMI's choice; EKS AL2 ships 1). */
  rpFilterAll?: number;
  /** rp_filter per device name (overrides). */
  rpFilter?: Record<string, number>;
  /** AWS_VPC_CNI_NODE_PORT_SUPPORT || !EXTERNALSNAT: the fwmark rule 1024. */
  fwmarkRule?: boolean;
}

/** GeneratePodHostVethName: prefix + hex(sha1("<namespace>.<pod>"))[:11]. */
export function cniVethName(namespace: string, pod: string): string {
  return "eni" + createHash("sha1").update(`${namespace}.${pod}`).digest("hex").slice(0, 11);
}

function ipNum(s: string): number {
  const p = s.split(".").map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}
function ipStr(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

const NAMESPACES = ["kube-system", "default", "shop", "monitoring", "payments", "search"];
const APPS = ["coredns", "web", "api", "cart", "checkout", "catalog", "prometheus", "worker", "recs", "ledger", "indexer"];

/** The built-in demo node: an m5.large (3 ENIs x 10 IPv4 addresses, 29 pods max) running 15 pods on two ENIs. */
export function buildDemoNode(): DemoNode {
  return buildEksNode({ enis: 2, podsPerEni: [9, 6], seed: 1 });
}

export function buildEksNode(opts: EksNodeOptions = {}): DemoNode {
  const enis = opts.enis ?? 2;
  const podsPerEni = opts.podsPerEni ?? [9, 6];
  const rnd = mulberry32(opts.seed ?? 1);
  const rpAll = opts.rpFilterAll ?? 1;
  const fwmarkRule = opts.fwmarkRule ?? true;
  const subnet = "10.0.32.0/19";
  const base = ipNum("10.0.32.0");
  const gateway = "10.0.32.1";
  const bcast = "10.0.63.255";
  const used = new Set<number>([base, base + 1, ipNum(bcast)]);
  const freeIp = () => {
    for (;;) {
      const n = base + 2 + Math.floor(rnd() * 8188);
      if (!used.has(n)) { used.add(n); return ipStr(n); }
    }
  };
  const eniIps = Array.from({ length: enis }, () => freeIp());
  const nodeIp = eniIps[0];
  const eniNames = Array.from({ length: enis }, (_, i) => `eth${i}`);
  const pods: DemoPod[] = [];
  const names = new Set<string>();
  podsPerEni.slice(0, enis).forEach((n, e) => {
    for (let k = 0; k < n; k++) {
      let name: string;
      let ns: string;
      do {
        ns = NAMESPACES[Math.floor(rnd() * NAMESPACES.length)];
        const app = APPS[Math.floor(rnd() * APPS.length)];
        const h = Math.floor(rnd() * 0xffffffff).toString(36).slice(0, 5).padStart(5, "x");
        name = `${app}-${Math.floor(rnd() * 0xffffffff).toString(16).slice(0, 8).padStart(8, "0")}-${h}`;
      } while (names.has(`${ns}/${name}`));
      names.add(`${ns}/${name}`);
      pods.push({ namespace: ns, name, eni: eniNames[e], ip: freeIp(), veth: cniVethName(ns, name) });
    }
  });
  const rpOf = (dev: string) => opts.rpFilter?.[dev] ?? (dev === "eth0" ? 2 : dev === "lo" ? 0 : rpAll);

  // ---- ip -o link show ----
  const macOf = (i: number) => `02:00:00:00:${i.toString(16).padStart(2, "0")}:01`;
  const link: string[] = [
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
  ];
  eniNames.forEach((n, i) => link.push(`${i + 2}: ${n}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether ${macOf(i + 2)} brd ff:ff:ff:ff:ff:ff`));
  pods.forEach((p, i) => link.push(`${i + 2 + enis}: ${p.veth}@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc noqueue state UP mode DEFAULT group default \\    link/ether ${macOf(i + 2 + enis)} brd ff:ff:ff:ff:ff:ff link-netnsid ${i}`));

  // ---- ip -o addr show ----
  const addr = ["1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever"];
  eniNames.forEach((n, i) => {
    const dyn = i === 0 ? " dynamic" : "";
    const lft = i === 0 ? "valid_lft 3172sec preferred_lft 3172sec" : "valid_lft forever preferred_lft forever";
    addr.push(`${i + 2}: ${n}    inet ${eniIps[i]}/19 brd ${bcast} scope global${dyn} ${n}\\       ${lft}`);
  });

  // ---- ip route show table all (tables in id order, each in key order) ----
  const route: string[] = [];
  for (let e = 1; e < enis; e++) {
    route.push(`${gateway} dev eth${e} table ${e + 1} scope link `);
    route.push(`default via ${gateway} dev eth${e} table ${e + 1} `);
    // kernel order within the table: default (0.0.0.0) first
    const n = route.length;
    [route[n - 2], route[n - 1]] = [route[n - 1], route[n - 2]];
  }
  const main: [number, string][] = [
    [0, `default via ${gateway} dev eth0 proto dhcp src ${nodeIp} metric 1024 `],
    [ipNum("10.0.32.0"), `10.0.32.0/19 dev eth0 proto kernel scope link src ${nodeIp} `],
    [ipNum(gateway), `${gateway} dev eth0 proto dhcp scope link src ${nodeIp} metric 1024 `],
    [ipNum("169.254.169.254"), `169.254.169.254 dev eth0 proto dhcp scope link src ${nodeIp} metric 1024 `],
  ];
  for (const p of pods) main.push([ipNum(p.ip), `${p.ip} dev ${p.veth} scope link `]);
  // the connected route sorts before the gateway host route (same key order: /19 then /32)
  main.sort((a, b) => a[0] - b[0]);
  for (const [, l] of main) route.push(l);
  const local: [number, number, string][] = [];
  eniNames.forEach((n, i) => {
    local.push([ipNum(eniIps[i]), i, `local ${eniIps[i]} dev ${n} table local proto kernel scope host src ${eniIps[i]} `]);
    local.push([ipNum(bcast), i, `broadcast ${bcast} dev ${n} table local proto kernel scope link src ${eniIps[i]} `]);
  });
  local.push([ipNum("127.0.0.0"), 0, "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 "]);
  local.push([ipNum("127.0.0.1"), 0, "local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 "]);
  local.push([ipNum("127.255.255.255"), 0, "broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 "]);
  local.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [, , l] of local) route.push(l);

  // ---- ip rule show ----
  const rules = ["0:\tfrom all lookup local"];
  for (const p of [...pods].sort((a, b) => ipNum(a.ip) - ipNum(b.ip))) rules.push(`512:\tfrom all to ${p.ip} lookup main`);
  if (fwmarkRule) rules.push("1024:\tfrom all fwmark 0x80/0x80 lookup main");
  for (const p of pods.filter((p) => p.eni !== "eth0").sort((a, b) => ipNum(a.ip) - ipNum(b.ip))) {
    rules.push(`1536:\tfrom ${p.ip} lookup ${Number(p.eni.slice(3)) + 1}`);
  }
  rules.push("32766:\tfrom all lookup main", "32767:\tfrom all lookup default");

  // ---- sysctl ----
  const devs = ["all", "default", "lo", ...eniNames, ...pods.map((p) => p.veth)];
  const sysctl: string[] = ["net.ipv4.ip_forward = 1"];
  for (const d of devs) {
    sysctl.push(`net.ipv4.conf.${d}.accept_local = 0`);
    sysctl.push(`net.ipv4.conf.${d}.forwarding = 1`);
    sysctl.push(`net.ipv4.conf.${d}.route_localnet = 0`);
    sysctl.push(`net.ipv4.conf.${d}.rp_filter = ${d === "all" || d === "default" ? rpAll : rpOf(d)}`);
    sysctl.push(`net.ipv4.conf.${d}.send_redirects = 1`);
    sysctl.push(`net.ipv4.conf.${d}.src_valid_mark = 0`);
  }
  sysctl.push(
    "net.ipv4.icmp_echo_ignore_all = 0", "net.ipv4.icmp_echo_ignore_broadcasts = 1", "net.ipv4.icmp_ratelimit = 1000",
    "net.ipv4.icmp_ratemask = 6168", "net.ipv4.icmp_msgs_per_sec = 1000", "net.ipv4.icmp_msgs_burst = 50",
    "net.ipv4.ip_default_ttl = 127",
  );

  const ss = [
    "tcp   LISTEN 0      4096         127.0.0.1:10248      0.0.0.0:*",
    "tcp   LISTEN 0      4096         127.0.0.1:50051      0.0.0.0:*",
    "tcp   LISTEN 0      4096                 *:10250            *:*",
    "tcp   LISTEN 0      4096                 *:10249            *:*",
    "tcp   LISTEN 0      4096                 *:10256            *:*",
    "tcp   LISTEN 0      4096                 *:61679            *:*",
    "tcp   LISTEN 0      128            0.0.0.0:22         0.0.0.0:*",
    "udp   UNCONN 0      0            127.0.0.1:323        0.0.0.0:*",
  ];

  // ---- the same node, built with commands ----
  const commands: string[] = [
    `sysctl -qw net.ipv4.conf.all.rp_filter=${rpAll}`,
    `sysctl -qw net.ipv4.conf.default.rp_filter=${rpAll}`,
    ...eniNames.map((d) => `sysctl -qw net.ipv4.conf.${d}.rp_filter=${rpOf(d)}`),
    ...pods.map((p) => `sysctl -qw net.ipv4.conf.${p.veth}.rp_filter=${rpOf(p.veth)}`),
    "sysctl -qw net.ipv4.ip_forward=1",
    "sysctl -qw net.ipv4.ip_default_ttl=127",
    ...eniNames.map((n, i) => `ip addr add ${eniIps[i]}/19 brd ${bcast} dev ${n}`),
    ...eniNames.slice(1).map((n) => `ip route del 10.0.32.0/19 dev ${n}`),
    `ip route add ${gateway} dev eth0 proto dhcp scope link src ${nodeIp} metric 1024`,
    `ip route add 169.254.169.254 dev eth0 proto dhcp scope link src ${nodeIp} metric 1024`,
    `ip route add default via ${gateway} dev eth0 proto dhcp src ${nodeIp} metric 1024`,
    ...eniNames.slice(1).flatMap((n, i) => [`ip route add ${gateway} dev ${n} table ${i + 2} scope link`, `ip route add default via ${gateway} dev ${n} table ${i + 2}`]),
    ...pods.map((p) => `ip route add ${p.ip} dev ${p.veth} scope link`),
    ...pods.map((p) => `ip rule add pref 512 to ${p.ip} lookup main`),
    ...(fwmarkRule ? ["ip rule add pref 1024 fwmark 0x80/0x80 lookup main"] : []),
    ...pods.filter((p) => p.eni !== "eth0").map((p) => `ip rule add pref 1536 from ${p.ip} lookup ${Number(p.eni.slice(3)) + 1}`),
  ];

  return {
    nodeIp, eniIps, gateway, vpcCidr: "10.0.0.0/16", subnet, pods, commands,
    links: [...eniNames, ...pods.map((p) => p.veth)],
    files: {
      "ip-link.txt": link.join("\n") + "\n",
      "ip-addr.txt": addr.join("\n") + "\n",
      "ip-route.txt": route.join("\n") + "\n",
      "ip-rule.txt": rules.join("\n") + "\n",
      "sysctl.txt": sysctl.join("\n") + "\n",
      "ss.txt": ss.join("\n") + "\n",
      "meta.txt": "kernel=6.1.158-180.294.amzn2023.x86_64\nhostname=ip-10-0-42-17.ec2.internal\nCONFIG_HZ=250\n",
    },
  };
}
