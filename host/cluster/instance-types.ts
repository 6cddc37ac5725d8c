/**
 * EC2 instance types: how many ENIs an instance can attach and how many IPv4
 * addresses each ENI can hold (the facts amazon-vpc-cni-k8s keeps in
 * pkg/vpc/vpc_ip_resource_limit.go, generated from EC2
 * DescribeInstanceTypes: NetworkInfo.MaximumNetworkInterfaces and
 * Ipv4AddressesPerInterface, default network card), with vCPUs and whether
 * the instance is Nitro-based (prefix delegation needs Nitro).
 *
 * The older families follow the table the seed quotes (vpc-cni
 * misc/eni-max-pods.txt, 2020). Where EC2 has since changed a limit the seed
 * value is kept, so max pods agrees with that table: the 16xlarge sizes of
 * f1/g3/h1/i3/r4 use 31 IPv4 per ENI (the 31-address note in the table; EC2
 * now lists 50), inf1.24xlarge uses 15 ENIs (EC2 now lists 11). Newer
 * families (m6i/c6i/r6i, m7i/c7i/r7i, m6a/c6a/r6a, Graviton 2/3, t4g) are
 * from the same source's current data.
 */

export interface InstanceType {
  name: string;
  /** Maximum ENIs (network interfaces) on the default network card. */
  enis: number;
  /** IPv4 addresses per ENI, the ENI's primary address included. */
  ipv4PerEni: number;
  vcpus: number;
  /** Nitro hypervisor or bare metal: /28 prefixes can be assigned. */
  nitro: boolean;
}

/** family -> "size:ENIsxIPv4 ..." */
const FAMILIES: Record<string, string> = {
  "a1": "medium:2x4 large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30",
  "c1": "medium:2x6 xlarge:4x15",
  "c3": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30",
  "c4": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30",
  "c5": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 9xlarge:8x30 12xlarge:8x30 18xlarge:15x50 24xlarge:15x50 metal:15x50",
  "c5d": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 9xlarge:8x30 12xlarge:8x30 18xlarge:15x50 24xlarge:15x50 metal:15x50",
  "c5n": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 9xlarge:8x30 18xlarge:15x50",
  "cc2": "8xlarge:8x30",
  "cr1": "8xlarge:8x30",
  "d2": "xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30",
  "f1": "2xlarge:4x15 4xlarge:8x30 16xlarge:8x31",
  "g2": "2xlarge:4x15 8xlarge:8x30",
  "g3s": "xlarge:4x15",
  "g3": "4xlarge:8x30 8xlarge:8x30 16xlarge:15x31",
  "g4dn": "xlarge:3x10 2xlarge:3x10 4xlarge:3x10 8xlarge:4x15 16xlarge:4x15 12xlarge:8x30 metal:15x50",
  "h1": "2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 16xlarge:15x31",
  "hs1": "8xlarge:8x30",
  "i2": "xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30",
  "i3": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 16xlarge:15x31 metal:15x50",
  "i3en": "large:3x10 xlarge:4x15 2xlarge:4x15 3xlarge:4x15 6xlarge:8x30 12xlarge:8x30 24xlarge:15x50",
  "inf1": "xlarge:4x10 2xlarge:4x10 6xlarge:8x30 24xlarge:15x30",
  "m1": "small:2x4 medium:2x6 large:3x10 xlarge:4x15",
  "m2": "xlarge:4x15 2xlarge:4x30 4xlarge:8x30",
  "m3": "medium:2x6 large:3x10 xlarge:4x15 2xlarge:4x30",
  "m4": "large:2x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 10xlarge:8x30 16xlarge:8x30",
  "m5": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 24xlarge:15x50 metal:15x50",
  "m5a": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 24xlarge:15x50",
  "m5ad": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 12xlarge:8x30 24xlarge:15x50",
  "m5d": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 24xlarge:15x50 metal:15x50",
  "m5dn": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 24xlarge:15x50",
  "m5n": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 24xlarge:15x50",
  "m6g": "medium:2x4 large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50",
  "p2": "xlarge:4x15 8xlarge:8x30 16xlarge:8x30",
  "p3": "2xlarge:4x15 8xlarge:8x30 16xlarge:8x30",
  "p3dn": "24xlarge:15x50",
  "r3": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30",
  "r4": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 16xlarge:15x31",
  "r5": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 24xlarge:15x50 metal:15x50",
  "r5a": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 24xlarge:15x50",
  "r5ad": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 12xlarge:8x30 24xlarge:15x50",
  "r5d": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 24xlarge:15x50 metal:15x50",
  "r5dn": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 24xlarge:15x50",
  "r5n": "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 24xlarge:15x50",
  "t1": "micro:2x2",
  "t2": "nano:2x2 micro:2x2 small:3x4 medium:3x6 large:3x12 xlarge:3x15 2xlarge:3x15",
  "t3": "nano:2x2 micro:2x2 small:3x4 medium:3x6 large:3x12 xlarge:4x15 2xlarge:4x15",
  "t3a": "nano:2x2 micro:2x2 small:2x4 medium:3x6 large:3x12 xlarge:4x15 2xlarge:4x15",
  "u-6tb1": "metal:5x30",
  "u-9tb1": "metal:5x30",
  "u-12tb1": "metal:5x30",
  "x1": "16xlarge:8x30 32xlarge:8x30",
  "x1e": "xlarge:3x10 2xlarge:4x15 4xlarge:4x15 8xlarge:4x15 16xlarge:8x30 32xlarge:8x30",
  "z1d": "large:3x10 xlarge:4x15 2xlarge:4x15 3xlarge:8x30 6xlarge:8x30 12xlarge:15x50 metal:15x50",
  // current common families
  ...Object.fromEntries(["m6i", "c6i", "r6i", "m7i", "c7i", "r7i", "m6a", "c6a", "r6a"].map((f) => [f,
    "large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 24xlarge:15x50 32xlarge:15x50 metal:15x50"])),
  ...Object.fromEntries(["c6g", "r6g", "m7g", "c7g", "r7g"].map((f) => [f,
    "medium:2x4 large:3x10 xlarge:4x15 2xlarge:4x15 4xlarge:8x30 8xlarge:8x30 12xlarge:8x30 16xlarge:15x50 metal:15x50"])),
  "t4g": "nano:2x2 micro:2x2 small:3x4 medium:3x6 large:3x12 xlarge:4x15 2xlarge:4x15",
};

/** Families on the Nitro system (metal sizes count as Nitro too, as ipamd's isConfigValid accepts bare metal). */
const NITRO = new Set(["a1", "c5", "c5d", "c5n", "g4dn", "i3en", "inf1", "m5", "m5a", "m5ad", "m5d", "m5dn", "m5n", "m6g", "p3dn",
  "r5", "r5a", "r5ad", "r5d", "r5dn", "r5n", "t3", "t3a", "z1d", "u-6tb1", "u-9tb1", "u-12tb1",
  "m6i", "c6i", "r6i", "m7i", "c7i", "r7i", "m6a", "c6a", "r6a", "c6g", "r6g", "m7g", "c7g", "r7g", "t4g"]);

/** vCPUs where the size name does not say (EC2 documentation). */
const VCPUS: Record<string, number> = {
  "m1.small": 1, "m1.medium": 1, "m3.medium": 1, "a1.medium": 1, "m6g.medium": 1, "c6g.medium": 1, "r6g.medium": 1,
  "m7g.medium": 1, "c7g.medium": 1, "r7g.medium": 1, "c1.medium": 2, "c1.xlarge": 8, "m2.xlarge": 2, "m2.2xlarge": 4,
  "m2.4xlarge": 8, "t1.micro": 1, "t2.nano": 1, "t2.micro": 1, "t2.small": 1, "t2.medium": 2, "t2.large": 2,
  "t3.nano": 2, "t3.micro": 2, "t3.small": 2, "t3.medium": 2, "t3a.nano": 2, "t3a.micro": 2, "t3a.small": 2, "t3a.medium": 2,
  "t4g.nano": 2, "t4g.micro": 2, "t4g.small": 2, "t4g.medium": 2, "hs1.8xlarge": 16, "x1e.xlarge": 4,
  "u-6tb1.metal": 448, "u-9tb1.metal": 448, "u-12tb1.metal": 448, "a1.metal": 16, "i3.metal": 72, "z1d.metal": 48,
  "g4dn.metal": 96, "c5.metal": 96, "c5d.metal": 96, "m5.metal": 96, "m5d.metal": 96, "r5.metal": 96, "r5d.metal": 96,
  "c6g.metal": 64, "r6g.metal": 64, "m7g.metal": 64, "c7g.metal": 64, "r7g.metal": 64, "m6i.metal": 128, "c6i.metal": 128,
  "r6i.metal": 128, "m7i.metal": 192, "c7i.metal": 192, "r7i.metal": 192, "m6a.metal": 192, "c6a.metal": 192, "r6a.metal": 192,
};

function vcpusOf(name: string, size: string): number {
  const v = VCPUS[name];
  if (v !== undefined) return v;
  if (size === "medium") return 1;
  if (size === "large") return 2;
  if (size === "xlarge") return 4;
  const m = /^([0-9]+)xlarge$/.exec(size);
  if (m) return 4 * Number(m[1]);
  throw new Error(`instance-types: no vCPU count for ${name}`);
}

export const INSTANCE_TYPES: ReadonlyMap<string, InstanceType> = (() => {
  const out = new Map<string, InstanceType>();
  for (const [family, sizes] of Object.entries(FAMILIES)) {
    for (const item of sizes.split(" ")) {
      const [size, lim] = item.split(":");
      const [enis, ipv4] = lim.split("x").map(Number);
      const name = `${family}.${size}`;
      out.set(name, { name, enis, ipv4PerEni: ipv4, vcpus: vcpusOf(name, size), nitro: NITRO.has(family) || size === "metal" });
    }
  }
  return out;
})();

export function instanceType(name: string): InstanceType | undefined {
  return INSTANCE_TYPES.get(name);
}

/**
 * Max pods as EKS computes it (misc/eni-max-pods.txt, scripts/gen_vpc_ip_limits.go
 * printPodLimit): ENIs x (IPv4 per ENI - 1) + 2, the +2 being the
 * host-network aws-node and kube-proxy pods.
 *
 * With custom networking the primary ENI carries no pod addresses:
 * (ENIs - 1) x (IPv4 per ENI - 1) + 2 (amazon-eks-ami max-pods-calculator.sh).
 *
 * With prefix delegation every secondary slot holds a /28 (16 addresses):
 * ENIs x ((IPv4 per ENI - 1) x 16) + 2, then capped as the calculator
 * recommends: 110 for instances with 30 vCPUs or fewer, 250 above.
 */
export function maxPods(t: InstanceType, o: { customNetworking?: boolean; prefixDelegation?: boolean } = {}): number {
  const enis = o.customNetworking ? t.enis - 1 : t.enis;
  const perEni = o.prefixDelegation ? (t.ipv4PerEni - 1) * 16 : t.ipv4PerEni - 1;
  const n = enis * perEni + 2;
  if (!o.prefixDelegation) return n;
  return Math.min(n, t.vcpus > 30 ? 250 : 110);
}
