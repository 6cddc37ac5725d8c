/**
 * The routing side of one EKS node, as the AWS VPC CNI programs it, written
 * as `ip -o link show`, `ip -o addr show`, `ip route show table all`,
 * `ip rule show` and `sysctl` print it on the node, plus the commands that
 * build the same state in a network namespace (shared/reference/k8s-aws-rules.md C.3-C.5):
 *  - eth0 keeps its DHCP routes in main (AL2023 systemd-networkd: default
 *    and gateway/IMDS host routes with proto dhcp, metric 1024);
 *  - ENI ethN (N >= 1) gets table N+1: `<gw> dev ethN scope link` and
 *    `default via <gw>` (setupENINetwork); its connected route is deleted
 *    from main; rule `32765: from <ENI primary IP> lookup N+1` (v1.20.0+);
 *  - every pod: `<podIP> dev <hostveth> scope link` in main, rule
 *    `512: from all to <podIP> lookup main`, and for a pod on a secondary
 *    ENI `1536: from <podIP> lookup <ENI table>` (rules in the order the CNI
 *    adds them: pod by pod);
 *  - `1024: from all fwmark <connmark>/<connmark> lookup main` when node
 *    port support is on or EXTERNALSNAT is off;
 *  - rp_filter 2 on eth0 (aws-vpc-cni-init), the AMI's 1 elsewhere.
 */
import { createHash } from "node:crypto";
import { hex } from "../k8s/model.js";
import { parseIPv4 } from "../util/ipv4.js";
import type { IpamEni, NodeIpam } from "./ipam.js";
import { macFor } from "./ipam.js";

export interface NodePod {
  name: string;
  namespace: string;
  ip: string;
  veth: string;
  eni: string;
  table: number;
}

/** GeneratePodHostVethName (cni names.go): prefix + hex(sha1("<namespace>.<pod>"))[:11]. */
export function hostVethName(prefix: string, namespace: string, pod: string): string {
  return prefix + createHash("sha1").update(`${namespace}.${pod}`).digest("hex").slice(0, 11);
}

const ipNum = (s: string) => parseIPv4(s)!;

export interface NodeNetworkOptions {
  fwmarkRule: boolean;
  connmark: number;
  rpFilterAll: number;
  /** The ports kube-proxy's health-check server listens on (LoadBalancer eTP=Local). */
  healthCheckPorts: number[];
}

export function renderNodeNetwork(ipam: NodeIpam, pods: NodePod[], o: NodeNetworkOptions): { files: Record<string, string>; commands: string[] } {
  const enis = ipam.enis;
  const eth0 = enis[0];
  const nodeIp = eth0.primaryIp;
  const plen = (e: IpamEni) => Number(e.subnet.cidr.split("/")[1]);
  const net = (e: IpamEni) => e.subnet.cidr;
  const gw0 = gateway(eth0);

  // ---- ip -o link show
  const link = ["1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00"];
  enis.forEach((e, i) => link.push(`${i + 2}: ${e.name}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether ${e.mac} brd ff:ff:ff:ff:ff:ff`));
  pods.forEach((p, i) => link.push(`${i + 2 + enis.length}: ${p.veth}@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc noqueue state UP mode DEFAULT group default \\    link/ether ${macFor(p.veth)} brd ff:ff:ff:ff:ff:ff link-netnsid ${i}`));

  // ---- ip -o addr show
  const addr = ["1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever"];
  enis.forEach((e, i) => {
    const dyn = i === 0 ? " dynamic" : "";
    const lft = i === 0 ? "valid_lft 3172sec preferred_lft 3172sec" : "valid_lft forever preferred_lft forever";
    addr.push(`${i + 2}: ${e.name}    inet ${e.primaryIp}/${plen(e)} brd ${e.subnet.cidr ? broadcast(e) : ""} scope global${dyn} ${e.name}\\       ${lft}`);
  });

  // ---- ip route show table all: tables in id order, routes in key order
  const route: string[] = [];
  for (const e of enis.slice(1)) {
    route.push(`default via ${gateway(e)} dev ${e.name} table ${e.table} `);
    route.push(`${gateway(e)} dev ${e.name} table ${e.table} scope link `);
  }
  const main: [number, number, string][] = [
    [0, 0, `default via ${gw0} dev eth0 proto dhcp src ${nodeIp} metric 1024 `],
    [ipNum(net(eth0).split("/")[0]), plen(eth0), `${net(eth0)} dev eth0 proto kernel scope link src ${nodeIp} `],
    [ipNum(gw0), 32, `${gw0} dev eth0 proto dhcp scope link src ${nodeIp} metric 1024 `],
    [ipNum("169.254.169.254"), 32, `169.254.169.254 dev eth0 proto dhcp scope link src ${nodeIp} metric 1024 `],
  ];
  for (const p of pods) main.push([ipNum(p.ip), 32, `${p.ip} dev ${p.veth} scope link `]);
  main.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  for (const [, , l] of main) route.push(l);
  const local: [number, number, string][] = [];
  enis.forEach((e, i) => {
    local.push([ipNum(e.primaryIp), i, `local ${e.primaryIp} dev ${e.name} table local proto kernel scope host src ${e.primaryIp} `]);
    local.push([ipNum(broadcast(e)), i, `broadcast ${broadcast(e)} dev ${e.name} table local proto kernel scope link src ${e.primaryIp} `]);
  });
  local.push([ipNum("127.0.0.0"), 0, "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 "]);
  local.push([ipNum("127.0.0.1"), 0, "local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 "]);
  local.push([ipNum("127.255.255.255"), 0, "broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 "]);
  local.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [, , l] of local) route.push(l);

  // ---- ip rule show
  const mark = `${hex(o.connmark)}/${hex(o.connmark)}`;
  const rules = ["0:\tfrom all lookup local"];
  for (const p of pods) rules.push(`512:\tfrom all to ${p.ip} lookup main`);
  if (o.fwmarkRule) rules.push(`1024:\tfrom all fwmark ${mark} lookup main`);
  for (const p of pods) if (p.table !== 254) rules.push(`1536:\tfrom ${p.ip} lookup ${p.table}`);
  for (const e of enis.slice(1)) rules.push(`32765:\tfrom ${e.primaryIp} lookup ${e.table}`);
  rules.push("32766:\tfrom all lookup main", "32767:\tfrom all lookup default");

  // ---- sysctl
  const rpOf = (d: string) => (d === "eth0" ? 2 : d === "lo" ? 0 : o.rpFilterAll);
  const devs = ["all", "default", "lo", ...enis.map((e) => e.name), ...pods.map((p) => p.veth)];
  const sysctl = ["net.ipv4.ip_forward = 1"];
  for (const d of devs) {
    sysctl.push(`net.ipv4.conf.${d}.accept_local = 0`, `net.ipv4.conf.${d}.forwarding = 1`, `net.ipv4.conf.${d}.route_localnet = 0`,
      `net.ipv4.conf.${d}.rp_filter = ${d === "all" || d === "default" ? o.rpFilterAll : rpOf(d)}`,
      `net.ipv4.conf.${d}.send_redirects = 1`, `net.ipv4.conf.${d}.src_valid_mark = 0`);
  }
  sysctl.push("net.ipv4.icmp_echo_ignore_all = 0", "net.ipv4.icmp_echo_ignore_broadcasts = 1", "net.ipv4.icmp_ratelimit = 1000",
    "net.ipv4.icmp_ratemask = 6168", "net.ipv4.icmp_msgs_per_sec = 1000", "net.ipv4.icmp_msgs_burst = 50", "net.ipv4.ip_default_ttl = 127");

  // ---- ss -Htlnu: kubelet, aws-node (ipamd 50051/61679, metrics 61678), kube-proxy (10249 metrics, 10256 healthz, health-check node ports), sshd, chronyd
  const ssTcp = (addrPort: string, peer: string) => `tcp   LISTEN 0      4096   ${addrPort.padStart(20)} ${peer.padStart(12)}`;
  const ss = [
    ssTcp("127.0.0.1:10248", "0.0.0.0:*"), ssTcp("127.0.0.1:50051", "0.0.0.0:*"), ssTcp("*:10250", "*:*"), ssTcp("*:10249", "*:*"),
    ssTcp("*:10256", "*:*"), ssTcp("*:61678", "*:*"), ssTcp("*:61679", "*:*"),
    ...o.healthCheckPorts.map((p) => ssTcp(`*:${p}`, "*:*")),
    "tcp   LISTEN 0      128                 0.0.0.0:22      0.0.0.0:*",
    "udp   UNCONN 0      0                 127.0.0.1:323     0.0.0.0:*",
  ];

  // ---- the commands that build the same state (links already exist and are up)
  const commands = [
    `sysctl -qw net.ipv4.conf.all.rp_filter=${o.rpFilterAll}`,
    `sysctl -qw net.ipv4.conf.default.rp_filter=${o.rpFilterAll}`,
    ...enis.map((e) => `sysctl -qw net.ipv4.conf.${e.name}.rp_filter=${rpOf(e.name)}`),
    ...pods.map((p) => `sysctl -qw net.ipv4.conf.${p.veth}.rp_filter=${rpOf(p.veth)}`),
    "sysctl -qw net.ipv4.ip_forward=1",
    "sysctl -qw net.ipv4.ip_default_ttl=127",
    ...enis.map((e) => `ip addr add ${e.primaryIp}/${plen(e)} brd ${broadcast(e)} dev ${e.name}`),
    ...enis.slice(1).map((e) => `ip route del ${net(e)} dev ${e.name}`),
    `ip route add ${gw0} dev eth0 proto dhcp scope link src ${nodeIp} metric 1024`,
    `ip route add 169.254.169.254 dev eth0 proto dhcp scope link src ${nodeIp} metric 1024`,
    `ip route add default via ${gw0} dev eth0 proto dhcp src ${nodeIp} metric 1024`,
    ...enis.slice(1).flatMap((e) => [`ip route add ${gateway(e)} dev ${e.name} table ${e.table} scope link`, `ip route add default via ${gateway(e)} dev ${e.name} table ${e.table}`]),
    ...(o.fwmarkRule ? [`ip rule add pref 1024 fwmark ${mark} lookup main`] : []),
    ...enis.slice(1).map((e) => `ip rule add pref 32765 from ${e.primaryIp} lookup ${e.table}`),
    ...pods.flatMap((p) => [
      `ip route add ${p.ip} dev ${p.veth} scope link`,
      `ip rule add pref 512 to ${p.ip} lookup main`,
      ...(p.table !== 254 ? [`ip rule add pref 1536 from ${p.ip} lookup ${p.table}`] : []),
    ]),
  ];

  return {
    commands,
    files: {
      "ip-link.txt": link.join("\n") + "\n",
      "ip-addr.txt": addr.join("\n") + "\n",
      "ip-route.txt": route.join("\n") + "\n",
      "ip-rule.txt": rules.join("\n") + "\n",
      "sysctl.txt": sysctl.join("\n") + "\n",
      "ss.txt": ss.join("\n") + "\n",
      "meta.txt": `kernel=6.1.158-180.294.amzn2023.x86_64\nhostname=${ipam.node.name}\nCONFIG_HZ=250\n`,
    },
  };
}

function gateway(e: IpamEni): string {
  const [a] = e.subnet.cidr.split("/");
  return formatNum(ipNum(a) + 1);
}

function broadcast(e: IpamEni): string {
  const [a, l] = e.subnet.cidr.split("/");
  return formatNum(ipNum(a) + 2 ** (32 - Number(l)) - 1);
}

function formatNum(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
