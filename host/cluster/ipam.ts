/**
 * IP address management as the AWS VPC CNI's ipamd does it
 * (amazon-vpc-cni-k8s pkg/ipamd/ipamd.go, pkg/ipamd/datastore, pkg/awsutils;
 * shared/reference/k8s-aws-rules.md C.7), for the pods placed on each node.
 *
 * What is modelled, per node (nodes in file order, pods in file order):
 *  - the primary ENI (eth0) comes with the node; its primary IP is the
 *    node's `primaryIP` or the lowest free address of the node's subnet;
 *  - the pool manager (`updateIPPoolIfRequired`) runs once at start-up and
 *    after every pod: while the pool is too low (`isDatastorePoolTooLow`)
 *    it fills the ENIs already attached (device order), then attaches a new
 *    ENI (`tryAllocateENI`), up to the instance type's ENI limit;
 *      WARM_ENI_TARGET mode: too low when available < (IPv4perENI-1) x
 *        WARM_ENI_TARGET (or nothing is available with WARM_ENI_TARGET=0);
 *        an ENI is filled completely;
 *      WARM_IP_TARGET / MINIMUM_IP_TARGET: short = max(WARM_IP - available,
 *        MINIMUM_IP - total, 0); exactly `short` addresses are added;
 *      prefix delegation: the unit is a /28 prefix (16 addresses) per ENI
 *        slot; WARM_PREFIX_TARGET: too low when available < 16 x target; with
 *        IP targets, short is counted in prefixes (ceil(short/16));
 *    and the pool is never "too low" once it holds max-pods addresses;
 *  - a pod waiting for an address with nothing available makes the pool
 *    grow by one unit even when the targets are met (the CNI's ADD would
 *    otherwise fail: "no available IP/Prefix addresses");
 *  - custom networking: eth0 carries no pod addresses; pod ENIs come from
 *    the ENIConfig subnet of the node's availability zone;
 *  - pods only arrive, so the pool-decrease paths (`tryFreeENI`,
 *    `decreaseIPPool`, cooldown) never trigger and are not modelled.
 *
 * Addresses (EC2 picks them at random; we pick deterministically): AWS
 * reserves the first four and the last address of each subnet; every other
 * address is handed out lowest first, across the cluster in file order
 * (explicit primary IPs are reserved before anything else); a prefix is the
 * lowest /28-aligned block whose 16 addresses are all free. A pod gets the
 * lowest free address of the first ENI (by device number) with one (ipamd
 * walks Go maps there, so a real node's choice varies).
 *
 * kubelet's max-pods is the instance type's (instance-types.ts maxPods,
 * with custom networking and prefix delegation taken into account); the two
 * host-network daemons aws-node and kube-proxy always run and use two of
 * those slots (the "+2"), listed host-network pods use more.
 */
import { createHash } from "node:crypto";
import { formatIPv4, maskOf, parseCidr, parseIPv4 } from "../util/ipv4.js";
import { instanceType, maxPods, type InstanceType } from "./instance-types.js";
import { errorAtPos } from "./load.js";
import type { ClusterSpec, NodeSpec, PodSpec, SubnetSpec } from "./spec.js";

/** Addresses of one subnet, handed out lowest first. */
export class SubnetPool {
  readonly base: number;
  readonly plen: number;
  readonly size: number;
  private readonly used: Uint8Array;

  constructor(readonly subnet: SubnetSpec) {
    const c = parseCidr(subnet.cidr)!;
    this.base = (c.addr & maskOf(c.plen)) >>> 0;
    this.plen = c.plen;
    this.size = 2 ** (32 - c.plen);
    this.used = new Uint8Array(this.size);
    // AWS: network, VPC router, DNS, future use, and the last address
    for (const o of [0, 1, 2, 3, this.size - 1]) this.used[o] = 1;
  }
  get gateway(): string { return formatIPv4(this.base + 1); }
  get broadcast(): string { return formatIPv4(this.base + this.size - 1); }
  reserve(ip: string): void { this.used[(parseIPv4(ip)! - this.base) >>> 0] = 1; }
  /** The lowest free address, or undefined. */
  take(): string | undefined {
    const i = this.used.indexOf(0);
    if (i < 0) return undefined;
    this.used[i] = 1;
    return formatIPv4(this.base + i);
  }
  /** The lowest free /28 (all 16 addresses free), or undefined. */
  takePrefix(): string | undefined {
    for (let o = 0; o + 16 <= this.size; o += 16) {
      if (this.used.subarray(o, o + 16).every((b) => b === 0)) {
        this.used.fill(1, o, o + 16);
        return `${formatIPv4(this.base + o)}/28`;
      }
    }
    return undefined;
  }
}

export interface IpamEni {
  /** Device number: ethN. */
  device: number;
  name: string;
  subnet: SubnetSpec;
  primaryIp: string;
  mac: string;
  /** Pod addresses ipamd holds on this ENI (secondary IPs, or every address of its prefixes), ascending. */
  addresses: string[];
  /** /28 prefixes (prefix delegation). */
  prefixes: string[];
  /** Route table: eth0 uses main; ethN uses N+1 (CalculateRouteTableId). */
  table: number;
}

export interface IpamPod {
  pod: PodSpec;
  ip: string;
  /** ENI device the address belongs to (-1 for host-network pods). */
  device: number;
}

export interface NodeIpam {
  node: NodeSpec;
  type: InstanceType;
  maxPods: number;
  enis: IpamEni[];
  pods: IpamPod[];
  unplaced: { pod: PodSpec; reason: string }[];
}

/** A locally administered unicast MAC derived from a name (ENI MACs are random on EC2). */
export function macFor(name: string): string {
  const h = createHash("sha1").update(name).digest();
  h[0] = (h[0] | 2) & 0xfe;
  return Array.from(h.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Runs ipamd for every node of the cluster. */
export function allocateCluster(spec: ClusterSpec): NodeIpam[] {
  const pools = new Map<string, SubnetPool>(spec.subnets.map((s) => [s.id, new SubnetPool(s)]));
  for (const n of spec.nodes) if (n.primaryIP) pools.get(n.subnet)!.reserve(n.primaryIP);
  return spec.nodes.map((n) => allocateNode(spec, n, pools));
}

function allocateNode(spec: ClusterSpec, node: NodeSpec, pools: Map<string, SubnetPool>): NodeIpam {
  const a = spec.awsNode;
  const type = instanceType(node.instanceType)!;
  const pd = a.prefixDelegation && type.nitro;
  if (a.prefixDelegation && !type.nitro) {
    spec.notes.push(`node ${node.name}: ${type.name} is not a Nitro instance; ENABLE_PREFIX_DELEGATION ignored, as ipamd does (isConfigValid)`);
  }
  const custom = a.customNetworking;
  const limit = maxPods(type, { customNetworking: custom, prefixDelegation: pd });
  const nodePool = pools.get(node.subnet)!;
  const nodeSubnet = nodePool.subnet;
  const podSubnetId = custom ? a.eniConfigs.get(nodeSubnet.az)! : node.subnet;
  const podPool = pools.get(podSubnetId)!;
  const slotsPerEni = type.ipv4PerEni - 1;
  const unit = pd ? 16 : 1;

  const primaryIp = node.primaryIP ?? nodePool.take();
  if (!primaryIp) throw errorAtPos(node.pos, "", `node ${node.name}: subnet ${node.subnet} (${nodeSubnet.cidr}) has no free address for the primary ENI`);
  const enis: IpamEni[] = [{ device: 0, name: "eth0", subnet: nodeSubnet, primaryIp, mac: macFor(`${node.name}/eth0`), addresses: [], prefixes: [], table: 254 }];
  const used = new Set<string>();
  let subnetProblem = "";

  const podEnis = () => (custom ? enis.slice(1) : enis);
  const slotsUsed = (e: IpamEni) => (pd ? e.prefixes.length : e.addresses.length);
  const total = () => podEnis().reduce((n, e) => n + e.addresses.length, 0);
  const available = () => total() - used.size;
  const ipTargets = a.warmIpTarget > 0 || a.minimumIpTarget > 0;

  /** Units (addresses or prefixes) the pool is short of; 0 = not too low. */
  const shortfall = (): number => {
    if (total() >= limit) return 0;
    const avail = available();
    if (ipTargets) {
      const s = Math.max(a.warmIpTarget - avail, a.minimumIpTarget - total(), 0);
      return pd ? Math.ceil(s / 16) : s;
    }
    if (pd && a.warmPrefixTarget > 0) return avail < 16 * a.warmPrefixTarget ? Math.ceil((16 * a.warmPrefixTarget - avail) / 16) : 0;
    const warm = slotsPerEni * unit * a.warmEniTarget;
    if (a.warmEniTarget === 0 && avail === 0) return 1;
    return avail < warm ? Math.ceil((warm - avail) / unit) : 0;
  };

  /** WARM_ENI_TARGET mode: ipamd fills whole ENIs (tryAssignIPs, tryAllocateENI). */
  const wholeEnis = !ipTargets && !(pd && a.warmPrefixTarget > 0);

  /** Adds at least `want` units (whole ENIs in WARM_ENI_TARGET mode); returns how many were added. */
  const grow = (want: number): number => {
    let added = 0;
    const fill = (e: IpamEni) => {
      const pool = pools.get(e.subnet.id)!;
      while ((wholeEnis || added < want) && slotsUsed(e) < slotsPerEni) {
        if (pd) {
          const p = pool.takePrefix();
          if (!p) { subnetProblem = `no free /28 prefix left in subnet ${e.subnet.id} (${e.subnet.cidr})`; return; }
          e.prefixes.push(p);
          const b = parseIPv4(p.slice(0, -3))!;
          for (let i = 0; i < 16; i++) e.addresses.push(formatIPv4(b + i));
        } else {
          const ip = pool.take();
          if (!ip) { subnetProblem = `subnet ${e.subnet.id} (${e.subnet.cidr}) has no free address`; return; }
          e.addresses.push(ip);
        }
        added++;
      }
    };
    for (const e of podEnis()) { if (added >= want && !wholeEnis) break; fill(e); }
    while (added < want && enis.length < type.enis && !subnetProblem) {
      const d = enis.length;
      const ip = podPool.take();
      if (!ip) { subnetProblem = `subnet ${podPool.subnet.id} (${podPool.subnet.cidr}) has no free address for a new ENI`; break; }
      const e: IpamEni = { device: d, name: `eth${d}`, subnet: podPool.subnet, primaryIp: ip, mac: macFor(`${node.name}/eth${d}`), addresses: [], prefixes: [], table: d + 1 };
      enis.push(e);
      fill(e);
    }
    return added;
  };

  const poolManager = () => {
    for (let guard = 0; guard < 64; guard++) {
      const s = shortfall();
      if (s === 0 || grow(s) === 0) return;
    }
  };

  poolManager();
  const pods: IpamPod[] = [];
  const unplaced: NodeIpam["unplaced"] = [];
  let slots = 2; // aws-node and kube-proxy
  for (const pod of spec.pods.filter((p) => p.node === node.name)) {
    if (slots >= limit) {
      unplaced.push({ pod, reason: `node is at max pods: ${type.name} allows ${limit} (${maxPodsWhy(type, custom, pd)})` });
      continue;
    }
    if (pod.hostNetwork) {
      slots++;
      pods.push({ pod, ip: primaryIp, device: -1 });
      continue;
    }
    if (available() === 0) grow(1);
    let got: IpamPod | undefined;
    for (const e of podEnis()) {
      const ip = e.addresses.find((x) => !used.has(x));
      if (ip) { got = { pod, ip, device: e.device }; break; }
    }
    if (!got) {
      const why = subnetProblem || `all ${podEnis().length} pod ENIs of ${type.name} are full (${total()} addresses, ${type.enis} ENIs max)`;
      unplaced.push({ pod, reason: `no free IPv4 address: ${why}` });
      continue;
    }
    used.add(got.ip);
    slots++;
    pods.push(got);
    poolManager();
  }
  return { node, type, maxPods: limit, enis, pods, unplaced };
}

function maxPodsWhy(t: InstanceType, custom: boolean, pd: boolean): string {
  const e = custom ? `(${t.enis} - 1) ENIs` : `${t.enis} ENIs`;
  if (pd) return `${e} x (${t.ipv4PerEni} - 1) x 16 + 2, capped at ${t.vcpus > 30 ? 250 : 110} for ${t.vcpus} vCPUs`;
  return `${e} x (${t.ipv4PerEni} - 1) + 2`;
}
