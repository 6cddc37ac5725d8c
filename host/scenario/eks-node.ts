/**
 * The built-in node: an EKS worker (m5.large: 3 ENIs x 10 IPv4 addresses,
 * max 29 pods) as the AWS VPC CNI programs it, written as the snapshot files
 * `ip` would print on it. Pods on the primary ENI's secondary IPs route
 * through the main table; pods on the secondary ENI's IPs have a rule at
 * priority 1536 sending their traffic to that ENI's table (2).
 *
 * The same description also yields the commands that build this node in a
 * network namespace, so the kernel can check the emulator on it.
 */
import { createHash } from "node:crypto";

export interface DemoPod {
  name: string;
  namespace: string;
  ip: string;
  /** Host-side veth, named as the CNI names it: "eni" + sha1(ns.name)[:11]. */
  veth: string;
  /** ENI whose secondary IP the pod has: "eth0" (primary) or "eth1". */
  eni: "eth0" | "eth1";
}

export interface DemoNode {
  nodeIp: string;
  eth1Ip: string;
  gateway: string;
  vpcCidr: string;
  subnet: string;
  pods: DemoPod[];
  files: Record<string, string>;
  /** Commands that build the same node in a network namespace (after links exist). */
  commands: string[];
  links: string[];
}

/** GeneratePodHostVethName: prefix + hex(sha1("<namespace>.<pod>"))[:11]. */
export function cniVethName(namespace: string, pod: string): string {
  return "eni" + createHash("sha1").update(`${namespace}.${pod}`).digest("hex").slice(0, 11);
}

const POD_SPECS: [string, string, "eth0" | "eth1", string][] = [
  ["kube-system", "coredns-5d849c4789-7xk2p", "eth0", "10.0.44.120"],
  ["kube-system", "coredns-5d849c4789-qm9zt", "eth0", "10.0.38.7"],
  ["default", "web-7f9c6d8b5d-abcde", "eth0", "10.0.51.33"],
  ["default", "web-7f9c6d8b5d-fghij", "eth0", "10.0.36.201"],
  ["default", "api-6c7d9f8b4-k2l3m", "eth0", "10.0.60.14"],
  ["shop", "cart-54b9c8d7f6-n4p5q", "eth0", "10.0.47.90"],
  ["shop", "checkout-7b8c9d6f5-r6s7t", "eth0", "10.0.33.150"],
  ["shop", "payments-6d5c4b3a2-u8v9w", "eth0", "10.0.58.61"],
  ["shop", "catalog-5f4e3d2c1-x0y1z", "eth0", "10.0.41.240"],
  ["monitoring", "prometheus-0", "eth1", "10.0.39.77"],
  ["monitoring", "node-exporter-p9q8r", "eth1", "10.0.62.5"],
  ["default", "worker-8e7d6c5b4-a1b2c", "eth1", "10.0.45.188"],
  ["default", "worker-8e7d6c5b4-d3e4f", "eth1", "10.0.53.19"],
  ["shop", "search-4c3b2a1f0-g5h6i", "eth1", "10.0.35.222"],
  ["shop", "recs-3b2a1f0e9-j7k8l", "eth1", "10.0.57.101"],
];

/** Builds the node: snapshot files and the equivalent setup commands. */
export function buildDemoNode(): DemoNode {
  const nodeIp = "10.0.42.17";
  const eth1Ip = "10.0.55.201";
  const gateway = "10.0.32.1";
  const subnet = "10.0.32.0/19";
  const pods: DemoPod[] = POD_SPECS.map(([ns, name, eni, ip]) => ({ namespace: ns, name, eni, ip, veth: cniVethName(ns, name) }));

  // ip -o link show (ifindex order: lo, eth0, eth1, then host veths)
  const macOf = (i: number) => `02:00:00:00:${i.toString(16).padStart(2, "0")}:01`;
  const link: string[] = [
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
    `2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether ${macOf(2)} brd ff:ff:ff:ff:ff:ff`,
    `3: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether ${macOf(3)} brd ff:ff:ff:ff:ff:ff`,
  ];
  pods.forEach((p, i) => {
    link.push(`${i + 4}: ${p.veth}@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc noqueue state UP mode DEFAULT group default \\    link/ether ${macOf(i + 4)} brd ff:ff:ff:ff:ff:ff link-netnsid ${i}`);
  });

  const addr = [
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
    `2: eth0    inet ${nodeIp}/19 brd 10.0.63.255 scope global dynamic eth0\\       valid_lft 3172sec preferred_lft 3172sec`,
    `3: eth1    inet ${eth1Ip}/19 brd 10.0.63.255 scope global eth1\\       valid_lft forever preferred_lft forever`,
  ];

  // ip route show table all: table 2 (secondary ENI), main, local
  const route: string[] = [
    `${gateway} dev eth1 table 2 scope link `,
    `default via ${gateway} dev eth1 table 2 `,
    `default via ${gateway} dev eth0 proto dhcp src ${nodeIp} metric 1024 `,
  ];
  const main: [number, string][] = [
    [ipNum("10.0.32.0"), `10.0.32.0/19 dev eth0 proto kernel scope link src ${nodeIp} `],
    [ipNum(gateway), `${gateway} dev eth0 proto dhcp scope link src ${nodeIp} metric 1024 `],
    [ipNum("169.254.169.254"), `169.254.169.254 dev eth0 proto dhcp scope link src ${nodeIp} metric 1024 `],
  ];
  for (const p of pods) main.push([ipNum(p.ip), `${p.ip} dev ${p.veth} scope link `]);
  main.sort((a, b) => a[0] - b[0]);
  for (const [, l] of main) route.push(l);
  route.push(
    `local ${nodeIp} dev eth0 table local proto kernel scope host src ${nodeIp} `,
    `local ${eth1Ip} dev eth1 table local proto kernel scope host src ${eth1Ip} `,
    `broadcast 10.0.63.255 dev eth0 table local proto kernel scope link src ${nodeIp} `,
    "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 ",
    "local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 ",
    "broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 ",
  );
  // kernel order inside the local table is by key; keep it sorted like the kernel prints
  const localStart = route.findIndex((l) => l.includes("table local"));
  const localLines = route.splice(localStart).sort((a, b) => ipNum(a.split(" ")[1]) - ipNum(b.split(" ")[1]));
  route.push(...localLines);

  const rules = ["0:\tfrom all lookup local"];
  for (const p of [...pods].sort((a, b) => ipNum(a.ip) - ipNum(b.ip))) rules.push(`512:\tfrom all to ${p.ip} lookup main`);
  rules.push("1024:\tfrom all fwmark 0x80/0x80 lookup main");
  for (const p of pods.filter((p) => p.eni === "eth1").sort((a, b) => ipNum(a.ip) - ipNum(b.ip))) rules.push(`1536:\tfrom ${p.ip} lookup 2`);
  rules.push("32766:\tfrom all lookup main", "32767:\tfrom all lookup default");

  const devs = ["all", "default", "lo", "eth0", "eth1", ...pods.map((p) => p.veth)];
  const sysctl: string[] = ["net.ipv4.ip_forward = 1"];
  const rp: Record<string, number> = { all: 1, default: 1, lo: 0, eth0: 2, eth1: 1 };
  for (const d of devs) {
    sysctl.push(`net.ipv4.conf.${d}.accept_local = 0`);
    sysctl.push(`net.ipv4.conf.${d}.forwarding = 1`);
    sysctl.push(`net.ipv4.conf.${d}.route_localnet = 0`);
    sysctl.push(`net.ipv4.conf.${d}.rp_filter = ${rp[d] ?? 1}`);
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

  // Commands building the same node in a namespace (links are created by the harness).
  const commands: string[] = [
    ...devs.filter((d) => d !== "lo").map((d) => `sysctl -qw net.ipv4.conf.${d}.rp_filter=${rp[d] ?? 1}`),
    "sysctl -qw net.ipv4.ip_forward=1",
    "sysctl -qw net.ipv4.ip_default_ttl=127",
    `ip addr add ${nodeIp}/19 brd 10.0.63.255 dev eth0`,
    `ip addr add ${eth1Ip}/19 brd 10.0.63.255 dev eth1`,
    "ip route del 10.0.32.0/19 dev eth1",
    `ip route add ${gateway} dev eth0 proto dhcp scope link src ${nodeIp} metric 1024`,
    `ip route add 169.254.169.254 dev eth0 proto dhcp scope link src ${nodeIp} metric 1024`,
    `ip route add default via ${gateway} dev eth0 proto dhcp src ${nodeIp} metric 1024`,
    `ip route add ${gateway} dev eth1 table 2 scope link`,
    `ip route add default via ${gateway} dev eth1 table 2`,
    ...pods.map((p) => `ip route add ${p.ip} dev ${p.veth} scope link`),
    ...pods.map((p) => `ip rule add pref 512 to ${p.ip} lookup main`),
    "ip rule add pref 1024 fwmark 0x80/0x80 lookup main",
    ...pods.filter((p) => p.eni === "eth1").map((p) => `ip rule add pref 1536 from ${p.ip} lookup 2`),
  ];

  return {
    nodeIp, eth1Ip, gateway, vpcCidr: "10.0.0.0/16", subnet, pods, commands,
    links: ["eth0", "eth1", ...pods.map((p) => p.veth)],
    files: {
      "ip-link.txt": link.join("\n") + "\n",
      "ip-addr.txt": addr.join("\n") + "\n",
      "ip-route.txt": route.join("\n") + "\n",
      "ip-rule.txt": rules.join("\n") + "\n",
      "sysctl.txt": sysctl.join("\n") + "\n",
      "ss.txt": ss.join("\n") + "\n",
      "meta.txt": "kernel: 6.1.158-180.294.amzn2023.x86_64\nhostname: ip-10-0-42-17.ec2.internal\nCONFIG_HZ=250\n",
    },
  };
}

function ipNum(s: string): number {
  const p = s.split(".").map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}
