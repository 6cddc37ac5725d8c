/**
 * A generated 10,000-service cluster's node ruleset (kube-proxy + AWS VPC
 * CNI + kubelet, host/k8s; ~118,000 rules) loads completely: every `-A`
 * line becomes a rule entry, every chain declaration a chain, and the
 * emulator's `iptables-save -c` prints the same rules back. A packet
 * through KUBE-SERVICES then reports the rules it traversed like the
 * rule-by-rule walk. (Load time is measured in bench/, not here.)
 */
import { describe, expect, it } from "vitest";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import { buildEksNode } from "../../host/scenario/eks-node.js";
import { renderNodeIptables, syntheticCluster } from "../../host/k8s/iptables.js";
import { renderKubeProxy } from "../../host/k8s/kube-proxy.js";
import { renderVpcCni } from "../../host/k8s/vpc-cni.js";

describe("a 10,000-service node ruleset", () => {
  it("loads every line, prints back, and a packet walks it", async () => {
    const c = syntheticCluster({ services: 10000, seed: 7 });
    const text = renderNodeIptables(renderKubeProxy(c.services, c.endpoints, c.kubeProxy), renderVpcCni(c.vpcCni));
    const lines = text.split("\n");
    const ruleLines = lines.filter((l) => l.startsWith("-A ")).length;
    const chainLines = lines.filter((l) => l.startsWith(":")).length;
    expect(ruleLines).toBeGreaterThan(100000);
    const node = buildEksNode({ enis: 3, podsPerEni: [10, 9, 9], seed: 11 });
    const e = await Engine.create({ seed: 1 });
    e.load(parseSnapshotFiles(node.files, "test node"));
    const rs = e.loadRuleset(text);
    expect(rs.stats.rules).toBe(ruleLines);
    expect(rs.stats.chains).toBe(chainLines);
    expect(rs.compiled.entries.filter((x) => x.kind === "rule").length).toBe(ruleLines);
    // printed back: the same rules in the same order, with counters
    const back = e.iptablesSave().split("\n").filter((l) => l.startsWith("[")).map((l) => l.replace(/^\[\d+:\d+\] /, ""));
    expect(back).toEqual(lines.filter((l) => l.startsWith("-A ")));
    // a pod to a ClusterIP: same rules traversed with and without chain indexes
    const svc = c.services.find((s) => s.clusterIP !== "None" && (c.endpoints.get(`${s.namespace}/${s.name}`) ?? []).length > 0 && s.ports[0]!.protocol !== "UDP" && s.ports[0]!.protocol !== "SCTP")!;
    const pod = node.pods[0]!;
    const pkt = { iif: pod.veth, src: pod.ip, dst: svc.clusterIP, proto: "tcp" as const, sport: 33333, dport: svc.ports[0]!.port, flags: "S" };
    e.setStatisticOracle([]);
    const [a] = e.process([pkt]);
    expect(a!.rules!.some((r) => r.startsWith("-t nat -A KUBE-SERVICES") && r.includes(svc.clusterIP))).toBe(true);
    const lin = await Engine.create({ seed: 1 });
    lin.load(parseSnapshotFiles(node.files, "test node"));
    lin.loadRuleset(rs.ruleset, "iptables-save.txt", { indexMin: 0 });
    lin.setStatisticOracle([]);
    const [b] = lin.process([pkt]);
    expect(b!.rules_traversed).toBe(a!.rules_traversed);
    expect(b!.rules).toEqual(a!.rules);
    expect(a!.rules_traversed).toBeGreaterThan(100);
  }, 120_000);
});
