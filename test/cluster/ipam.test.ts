/**
 * ipamd as nodeplane models it: instance-type limits and max pods (checked
 * against every row of the table the seed quotes), the warm pool under each
 * target, prefix delegation, custom networking, and pods that cannot be
 * placed, with their reasons.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { allocateCluster, type NodeIpam } from "../../host/cluster/ipam.js";
import { INSTANCE_TYPES, instanceType, maxPods } from "../../host/cluster/instance-types.js";
import { renderCluster } from "../../host/cluster/render.js";
import { parseIPv4 } from "../../host/util/ipv4.js";
import { miniCluster, type MiniCluster } from "./helpers.js";

const SEED = readFileSync(new URL("./fixtures/eni-max-pods.txt", import.meta.url), "utf8")
  .split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(" ")).map(([t, n]) => [t, Number(n)] as const);

function node0(o: MiniCluster): NodeIpam {
  return allocateCluster(miniCluster(o))[0];
}
const addrCount = (n: NodeIpam, custom = false) => (custom ? n.enis.slice(1) : n.enis).reduce((k, e) => k + e.addresses.length, 0);

describe("instance types and max pods", () => {
  it("the seed table has 269 rows and every one is known with the seed's max pods", () => {
    expect(SEED.length).toBe(269);
    const wrong: string[] = [];
    for (const [name, want] of SEED) {
      const t = instanceType(name);
      if (!t) { wrong.push(`${name}: unknown`); continue; }
      const got = maxPods(t);
      if (got !== want) wrong.push(`${name}: ${got} != ${want}`);
    }
    expect(wrong).toEqual([]);
  });

  it("placing pods fills exactly max pods for every ENI shape of the table", () => {
    const shapes = new Map<string, string>();
    for (const [name] of SEED) {
      const t = instanceType(name)!;
      shapes.set(`${t.enis}x${t.ipv4PerEni}`, name);
    }
    expect(shapes.size).toBeGreaterThanOrEqual(15);
    for (const name of shapes.values()) {
      const want = SEED.find(([n]) => n === name)![1];
      const spec = miniCluster({ instanceType: name, pods: want - 2 + 1, subnetCidr: "10.0.0.0/17" });
      const r = renderCluster(spec);
      expect(r.nodes[0].pods.length, name).toBe(want - 2);
      expect(r.unscheduled.length, name).toBe(1);
      expect(r.unscheduled[0].reason).toMatch(new RegExp(`max pods: ${name.replace(".", "\\.")} allows ${want}`));
    }
  });

  it("current types are known too, with their vCPUs and Nitro flag", () => {
    expect(maxPods(instanceType("m6i.large")!)).toBe(29);
    expect(maxPods(instanceType("c7g.16xlarge")!)).toBe(737);
    expect(maxPods(instanceType("t4g.medium")!)).toBe(17);
    expect(instanceType("m5.large")!.nitro).toBe(true);
    expect(instanceType("m4.large")!.nitro).toBe(false);
    expect(instanceType("m5.24xlarge")!.vcpus).toBe(96);
    expect(INSTANCE_TYPES.size).toBeGreaterThan(300);
  });

  it("custom networking and prefix delegation formulas (with the 110/250 caps)", () => {
    const m5l = instanceType("m5.large")!;
    expect(maxPods(m5l, { customNetworking: true })).toBe(20); // (3-1) x 9 + 2
    expect(maxPods(m5l, { prefixDelegation: true })).toBe(110); // 434, capped (2 vCPUs)
    expect(maxPods(instanceType("t3.small")!, { prefixDelegation: true })).toBe(110); // 3 x 3 x 16 + 2 = 146 -> 110
    expect(maxPods(instanceType("t3.nano")!, { prefixDelegation: true })).toBe(34); // 2 x 1 x 16 + 2, under the cap
    expect(maxPods(instanceType("m5.8xlarge")!, { prefixDelegation: true })).toBe(250); // 32 vCPUs
    expect(maxPods(instanceType("m5.4xlarge")!, { prefixDelegation: true })).toBe(110); // 16 vCPUs
  });
});

describe("warm pool", () => {
  it("WARM_ENI_TARGET=1 (default): a spare ENI's worth of addresses is kept", () => {
    // m5.large: 9 pod addresses per ENI
    const counts = [0, 1, 9, 10, 18, 19, 27].map((pods) => {
      const n = node0({ pods });
      return [pods, n.enis.length, addrCount(n)];
    });
    expect(counts).toEqual([[0, 1, 9], [1, 2, 18], [9, 2, 18], [10, 3, 27], [18, 3, 27], [19, 3, 27], [27, 3, 27]]);
  });

  it("WARM_ENI_TARGET=2 attaches two spare ENIs' worth", () => {
    const n = node0({ instanceType: "m5.xlarge", env: { WARM_ENI_TARGET: "2" }, pods: 1 });
    expect(n.enis.length).toBe(3); // 14 per ENI: 1 used, 28 available
    expect(addrCount(n)).toBe(42);
  });

  it("WARM_IP_TARGET and MINIMUM_IP_TARGET: exactly the addresses asked for", () => {
    for (const pods of [0, 1, 2, 3, 8, 20]) {
      const n = node0({ env: { WARM_IP_TARGET: "3", MINIMUM_IP_TARGET: "5" }, pods });
      const total = Math.max(5, pods + 3);
      expect(addrCount(n), `${pods} pods`).toBe(total);
      expect(n.enis.length).toBe(Math.ceil(total / 9));
    }
    // WARM_IP_TARGET alone
    const n = node0({ env: { WARM_IP_TARGET: "1" }, pods: 4 });
    expect(addrCount(n)).toBe(5);
  });

  it("WARM_ENI_TARGET=0 with nothing else: addresses come as pods need them, an ENI at a time", () => {
    const n = node0({ env: { WARM_ENI_TARGET: "0" }, pods: 9 });
    expect(n.pods.length).toBe(9);
    expect(n.enis.length).toBe(2); // the ninth pod left none available
  });

  it("addresses: lowest free first, AWS-reserved ones skipped, nodes in file order", () => {
    const r = allocateCluster(miniCluster({ nodes: 2, pods: 2 }));
    expect(r[0].enis[0].primaryIp).toBe("10.0.32.4");
    expect(r[0].enis[0].addresses[0]).toBe("10.0.32.5");
    expect(r[0].pods.map((p) => p.ip)).toEqual(["10.0.32.5", "10.0.32.6"]);
    expect(r[0].enis[1].primaryIp).toBe("10.0.32.14");
    // node-1 starts after everything node-0 holds
    expect(r[1].enis[0].primaryIp).toBe("10.0.32.24");
  });
});

describe("prefix delegation", () => {
  it("/28 prefixes, WARM_PREFIX_TARGET=1, and the 110 cap", () => {
    const env = { ENABLE_PREFIX_DELEGATION: "true", WARM_PREFIX_TARGET: "1" };
    let n = node0({ env, pods: 0 });
    expect(n.maxPods).toBe(110);
    expect(n.enis[0].prefixes).toEqual(["10.0.32.16/28"]); // 10.0.32.0/28 holds reserved and the ENI's own address
    n = node0({ env, pods: 16 });
    expect(n.enis[0].prefixes).toEqual(["10.0.32.16/28", "10.0.32.32/28"]);
    for (const p of n.pods) {
      const a = parseIPv4(p.ip)!;
      expect(n.enis[p.device].prefixes.some((x) => (parseIPv4(x.slice(0, -3))! >>> 4) === a >>> 4)).toBe(true);
    }
    expect(n.pods[0].ip).toBe("10.0.32.16");
    const r = renderCluster(miniCluster({ env, pods: 109 }));
    expect(r.nodes[0].pods.length).toBe(108);
    expect(r.unscheduled).toHaveLength(1);
    expect(r.unscheduled[0].reason).toContain("capped at 110 for 2 vCPUs");
  });

  it("is ignored with a note on a non-Nitro instance", () => {
    const r = renderCluster(miniCluster({ instanceType: "m4.large", env: { ENABLE_PREFIX_DELEGATION: "true" }, pods: 3 }));
    expect(r.notes.join("\n")).toMatch(/m4\.large is not a Nitro instance/);
    expect(r.nodes[0].maxPods).toBe(20);
  });

  it("WARM_IP_TARGET counts in prefixes", () => {
    const n = node0({ env: { ENABLE_PREFIX_DELEGATION: "true", WARM_IP_TARGET: "20" }, pods: 0 });
    expect(n.enis[0].prefixes.length).toBe(2);
  });
});

describe("custom networking", () => {
  it("the primary ENI holds no pods; pod ENIs come from the ENIConfig subnet", () => {
    const r = renderCluster(miniCluster({ env: { AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: "true" }, pods: 19 }));
    const n = r.nodes[0];
    expect(n.maxPods).toBe(20);
    expect(n.enis[0].subnet).toBe("subnet-a");
    expect(n.enis.slice(1).every((e) => e.subnet === "subnet-pods-a" && e.ip.startsWith("100.64."))).toBe(true);
    expect(n.pods.every((p) => p.eni !== "eth0" && p.ip.startsWith("100.64."))).toBe(true);
    expect(n.pods).toHaveLength(18);
    expect(r.unscheduled.map((u) => u.reason)).toEqual(["node is at max pods: m5.large allows 20 ((3 - 1) ENIs x (10 - 1) + 2)"]);
    // the node's ip rules: every pod on a secondary ENI gets its 1536 rule
    expect(n.files["ip-rule.txt"].match(/^1536:/gm)).toHaveLength(18);
    expect(n.files["ip-route.txt"]).toContain("default via 100.64.0.1 dev eth1 table 2 ");
  });
});

describe("pods that cannot be placed", () => {
  it("a full subnet: reported with the subnet, never dropped silently", () => {
    // 10.0.32.0/28: 11 usable addresses; the node takes one, eth0 holds 9, eth1 takes the last
    const r = renderCluster(miniCluster({ subnetCidr: "10.0.32.0/28", pods: 12 }));
    expect(r.nodes[0].pods).toHaveLength(9);
    expect(r.unscheduled).toHaveLength(3);
    for (const u of r.unscheduled) {
      expect(u.node).toBe("node-0");
      expect(u.reason).toBe("no free IPv4 address: subnet subnet-a (10.0.32.0/28) has no free address");
    }
    expect(r.unscheduled.map((u) => u.pod)).toEqual(["default/pod-0009", "default/pod-0010", "default/pod-0011"]);
  });

  it("host-network pods use max-pods slots but no address", () => {
    const spec = miniCluster({ instanceType: "t3.nano", pods: 2 }); // max pods 4
    spec.pods.unshift({ ...spec.pods[0], name: "exporter", hostNetwork: true });
    const r = renderCluster(spec);
    expect(r.nodes[0].pods.map((p) => p.name)).toEqual(["pod-0000"]);
    expect(r.unscheduled).toEqual([{ pod: "default/pod-0001", node: "node-0", reason: "node is at max pods: t3.nano allows 4 (2 ENIs x (2 - 1) + 2)" }]);
  });
});
