/**
 * The structural diff: what changed in links, addresses, rules, routes,
 * sysctls and iptables, in a stable order, volatile fields ignored.
 */
import { describe, expect, it } from "vitest";
import { sideFromFiles } from "../../host/diff/sides.js";
import { structuralDiff } from "../../host/diff/structural.js";
import { diffLines, hunks } from "../../host/diff/sequence.js";
import { nodeFacts } from "../../host/diff/facts.js";
import { mulberry32 } from "../../host/util/prng.js";
import { eksNodeFiles } from "./fixtures.js";

function lines(s: ReturnType<typeof structuralDiff>, section: string): string[] | undefined {
  return s.find((x) => x.section === section)?.hunks.flat().map((e) => `${e.op}${e.text}`);
}

const base = eksNodeFiles(false);

describe("structural diff", () => {
  const pod = base.node.pods.find((p) => p.eni === "eth1")!;

  it("no differences for the same files; counters and address lifetimes are ignored", () => {
    const a = sideFromFiles("n", base.files, "a");
    const files = { ...base.files };
    files["iptables-save.txt"] = files["iptables-save.txt"]!.replace(/^(-A|:)(\S+)/gm, (m) => m).replace(/^-A /gm, "[7:420] -A ");
    files["ip-addr.txt"] = files["ip-addr.txt"]!.replace("valid_lft 3172sec preferred_lft 3172sec", "valid_lft 1999sec preferred_lft 1999sec");
    expect(files["iptables-save.txt"]).toContain("[7:420] -A ");
    const b = sideFromFiles("n", files, "b");
    expect(structuralDiff(a, b)).toEqual([]);
  });

  it("a changed route, rule and sysctl show in their sections", () => {
    const files = { ...base.files };
    files["ip-route.txt"] = files["ip-route.txt"]!.replace(`${pod.ip} dev ${pod.veth} scope link `, `${pod.ip} dev ${pod.veth} scope link metric 5 `);
    files["ip-rule.txt"] = files["ip-rule.txt"]!.replace("1024:\tfrom all fwmark 0x80/0x80 lookup main\n", "");
    files["sysctl.txt"] = files["sysctl.txt"]!.replace("net.ipv4.conf.eth0.rp_filter = 2", "net.ipv4.conf.eth0.rp_filter = 1");
    const s = structuralDiff(sideFromFiles("n", base.files, "a"), sideFromFiles("n", files, "b"));
    expect(s.map((x) => x.section)).toEqual(["ip rule", "ip route table main", "sysctl"]);
    expect(lines(s, "ip route table main")!.filter((l) => !l.startsWith(" "))).toEqual([
      `-${pod.ip} dev ${pod.veth} scope link`, `+${pod.ip} dev ${pod.veth} scope link metric 5`,
    ]);
    expect(lines(s, "ip rule")!.filter((l) => !l.startsWith(" "))).toEqual(["-1024:\tfrom all fwmark 0x80/0x80 lookup main"]);
    expect(lines(s, "sysctl")).toEqual(["-net.ipv4.conf.eth0.rp_filter = 2", "+net.ipv4.conf.eth0.rp_filter = 1"]);
  });

  it("links and addresses: added, removed and changed, sorted; ifindex renumbering is not a change", () => {
    const files = { ...base.files };
    files["ip-link.txt"] = files["ip-link.txt"]!.replace("2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001", "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500");
    files["ip-addr.txt"] = files["ip-addr.txt"]! + `2: eth0    inet 10.0.40.40/19 brd 10.0.63.255 scope global secondary eth0\\       valid_lft forever preferred_lft forever\n`;
    const s = structuralDiff(sideFromFiles("n", base.files, "a"), sideFromFiles("n", files, "b"));
    expect(lines(s, "ip link")).toEqual([
      "-eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 state UP link/ether 02:00:00:00:02:01",
      "+eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP link/ether 02:00:00:00:02:01",
    ].sort());
    expect(lines(s, "ip addr")).toEqual(["+eth0 inet 10.0.40.40/19 brd 10.0.63.255 scope global secondary"]);
    expect(s.map((x) => x.section)).toEqual(["ip link", "ip addr"]);
    // a pod veth with another ifindex is the same link
    const linkLines = base.files["ip-link.txt"]!.trimEnd().split("\n");
    const last = linkLines.length - 1;
    linkLines[last] = linkLines[last]!.replace(/^\d+:/, "99:");
    const renumbered = sideFromFiles("n", { ...base.files, "ip-link.txt": linkLines.join("\n") + "\n" }, "c");
    expect(renumbered.snapshot.links.at(-1)!.ifindex).toBe(99);
    expect(structuralDiff(sideFromFiles("n", base.files, "a"), renumbered)).toEqual([]);
  });

  it("iptables: chains added and removed, rules in chain order with context", () => {
    const a = sideFromFiles("n", base.files, "a");
    const b = sideFromFiles("n", eksNodeFiles(true).files, "b");
    const s = structuralDiff(a, b);
    expect(lines(s, "iptables -t nat: chains")).toEqual(["-:AWS-CONNMARK-CHAIN-0 -"]);
    expect(lines(s, "iptables -t nat POSTROUTING")!.filter((l) => !l.startsWith(" "))).toEqual([
      '--A POSTROUTING -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0',
    ]);
    // the same comparison the other way round adds what was removed
    const back = structuralDiff(b, a);
    expect(lines(back, "iptables -t nat: chains")).toEqual(["+:AWS-CONNMARK-CHAIN-0 -"]);
    // stable: the same sections in the same order every time
    expect(structuralDiff(a, b)).toEqual(s);
  });
});

describe("line sequence diff (Myers)", () => {
  /** Length of the longest common subsequence, by dynamic programming. */
  function lcs(a: string[], b: string[]): number {
    const d = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
    for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) d[i]![j] = a[i - 1] === b[j - 1] ? d[i - 1]![j - 1]! + 1 : Math.max(d[i - 1]![j]!, d[i]![j - 1]!);
    return d[a.length]![b.length]!;
  }
  it("is a shortest edit script that turns a into b (random inputs)", () => {
    const rnd = mulberry32(9);
    for (let t = 0; t < 300; t++) {
      const gen = () => Array.from({ length: Math.floor(rnd() * 14) }, () => "abcde"[Math.floor(rnd() * 5)]!);
      const a = gen();
      const b = gen();
      const e = diffLines(a, b);
      expect(e.filter((x) => x.op !== "+").map((x) => x.text)).toEqual(a);
      expect(e.filter((x) => x.op !== "-").map((x) => x.text)).toEqual(b);
      expect(e.filter((x) => x.op === " ").length).toBe(lcs(a, b));
    }
  });
  it("hunks keep context around changes only", () => {
    const a = ["1", "2", "3", "4", "5", "6", "7", "8"];
    const b = ["1", "2", "3", "X", "5", "6", "7", "8"];
    expect(hunks(diffLines(a, b), 1).map((h) => h.map((e) => e.op + e.text))).toEqual([[" 3", "-4", "+X", " 5"]]);
    expect(hunks(diffLines(a, a))).toEqual([]);
  });
});

describe("node facts read back from a snapshot", () => {
  it("finds the builder's pods, ENIs, VPC CIDR and kube-proxy services", () => {
    const s = sideFromFiles("n", base.files, "a");
    const f = nodeFacts(s.snapshot, s.ruleset);
    expect(f.primaryEni).toBe("eth0");
    expect(f.nodeIp).toBe(base.node.nodeIp);
    expect(f.enis.map((e) => e.ip)).toEqual(base.node.eniIps);
    const key = (p: { ip: string; veth: string; eni: string }) => `${p.ip} ${p.veth} ${p.eni}`;
    expect(f.pods.map(key).sort()).toEqual(base.node.pods.map(key).sort());
    expect(f.vpcCidrs).toEqual(base.cluster.cluster.vpcCni.vpcCidrs);
    expect(f.vpcSource).toBe("aws-node");
    // every ClusterIP port kube-proxy programs, with endpoints (DNAT) or without (REJECT)
    const want = base.cluster.cluster.services.filter((x) => x.clusterIP && x.clusterIP !== "None").flatMap((x) =>
      x.ports.filter((p) => (p.protocol ?? "TCP") !== "SCTP").map((p) => `${x.clusterIP}:${p.port}/${(p.protocol ?? "TCP").toLowerCase()}`)).sort();
    expect(want.length).toBeGreaterThan(base.cluster.frontends.filter((x) => x.kind === "clusterip").length);
    expect(f.services.filter((x) => x.kind === "clusterip").map((x) => `${x.ip}:${x.port}/${x.proto}`).sort()).toEqual(want);
    const np = base.cluster.frontends.filter((x) => x.kind === "nodeport").map((x) => `${x.port}/${x.proto}`).sort();
    expect(f.nodePorts.map((x) => `${x.port}/${x.proto}`).sort()).toEqual(np);
    // with EXTERNALSNAT there are no aws-node CIDRs to read: the ENI subnets stand in
    const e = sideFromFiles("n", eksNodeFiles(true).files, "b");
    const fe = nodeFacts(e.snapshot, e.ruleset);
    expect(fe.vpcSource).toBe("eni-subnets");
    expect(fe.vpcCidrs).toEqual([base.node.subnet]);
  });
});
