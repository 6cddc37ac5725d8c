/**
 * "Rules traversed" is the number of rules the kernel's ipt_do_table
 * examines. The core skips runs of rules with chain indexes; these tests
 * check that what it reports is exactly what a rule-by-rule walk examines:
 *  - the indexed walk, the walk with indexes off and the trace-all walk (which
 *    records every rule it examines) report the same count and the same
 *    matched rules for every packet;
 *  - the plain-TypeScript evaluator of bench/ts-nf.ts, an independent
 *    implementation of ipt_do_table over the parsed rules, examines the same
 *    number of rules in the nat PREROUTING walk (KUBE-SERVICES and the
 *    service chains) and matches the same rules.
 * Random `statistic` choices are made the same on every side with the
 * engine's statistic oracle.
 */
import { describe, expect, it } from "vitest";
import * as abi from "../../host/core/abi.js";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import { buildEksNode } from "../../host/scenario/eks-node.js";
import { syntheticCluster, renderNodeIptables } from "../../host/k8s/iptables.js";
import { renderKubeProxy } from "../../host/k8s/kube-proxy.js";
import { renderVpcCni } from "../../host/k8s/vpc-cni.js";
import { formatIPv4, parseIPv4 } from "../../host/util/ipv4.js";
import type { PacketInput } from "../../host/packet/input.js";
import type { IptRule } from "../../host/model/iptables.js";
import { TsNetfilter } from "../../bench/ts-nf.js";
import { mulberry32 } from "../../host/util/prng.js";

function cluster(services: number, seed: number) {
  const c = syntheticCluster({ services, seed, nodePortShare: 0.4, affinityShare: 0 });
  const text = renderNodeIptables(renderKubeProxy(c.services, c.endpoints, c.kubeProxy), renderVpcCni(c.vpcCni));
  return { c, text };
}

async function engine(text: string, files: Record<string, string>, mode: "indexed" | "linear" | "trace"): Promise<Engine> {
  const e = await Engine.create({ seed: 5, batchSize: 256 });
  e.load(parseSnapshotFiles(files, "test node"));
  e.loadRuleset(text, "iptables-save.txt", { indexMin: mode === "linear" ? 0 : undefined });
  if (mode === "trace") e.setTrace(true);
  return e;
}

describe("rules traversed: indexed walk = rule-by-rule walk = the plain-TypeScript ipt_do_table", () => {
  for (const [services, seed] of [[60, 1], [400, 2]] as const) {
    it(`${services} services, pod -> ClusterIP / NodePort / outside`, async () => {
      const node = buildEksNode({ enis: 2, podsPerEni: [4, 4], seed: 3 });
      const { c, text } = cluster(services, seed);
      const [ix, lin, tr] = await Promise.all([engine(text, node.files, "indexed"), engine(text, node.files, "linear"), engine(text, node.files, "trace")]);
      const rs = ix.ruleset!;
      const idOf = new Map<IptRule, number>();
      rs.compiled.entries.forEach((e, id) => { if (e.rule) idOf.set(e.rule, id); });
      const rnd = mulberry32(seed * 7);
      const ts = new TsNetfilter(rs.ruleset, () => (rnd() * 2 ** 32) >>> 0);
      const targets: { ip: string; port: number; proto: "tcp" | "udp" }[] = [];
      for (const s of c.services) {
        for (const p of s.ports) {
          const proto = (p.protocol ?? "TCP") === "UDP" ? "udp" : "tcp";
          if (s.clusterIP && s.clusterIP !== "None") targets.push({ ip: s.clusterIP, port: p.port, proto });
          if (p.nodePort) targets.push({ ip: node.nodeIp, port: p.nodePort, proto });
        }
      }
      const localAddrs = new Set(parseSnapshotFiles(node.files, "x").addrs.map((a) => a.local));
      let packets = 0;
      for (let k = 0; k < 300; k++) {
        const t = targets[Math.floor(rnd() * targets.length)]!;
        const fromPod = rnd() < 0.6;
        const pod = node.pods[Math.floor(rnd() * node.pods.length)]!;
        const src = fromPod ? pod.ip : `52.${1 + Math.floor(rnd() * 200)}.${Math.floor(rnd() * 256)}.${1 + Math.floor(rnd() * 250)}`;
        const iif = fromPod ? pod.veth : "eth0";
        const toOutside = rnd() < 0.1;
        const dst = toOutside ? "8.8.4.4" : t.ip;
        const pkt: PacketInput = { iif, src, dst, proto: t.proto, sport: 20000 + k, dport: toOutside ? 443 : t.port, t: k * 0.001 };
        if (t.proto === "tcp") pkt.flags = "S";
        // the TypeScript walk of nat PREROUTING decides the random choices
        const tsv = ts.run("nat", "PREROUTING", {
          src: parseIPv4(src)!, dst: parseIPv4(dst)!, proto: t.proto === "tcp" ? 6 : 17, sport: pkt.sport!, dport: pkt.dport!,
          tcpFlags: t.proto === "tcp" ? 2 : 0, icmpType: 0, icmpCode: 0, len: t.proto === "tcp" ? 40 : 28, mark: 0,
          inIface: iif, outIface: "", ctstate: 8, ctmark: 0,
          addrType: (a) => (localAddrs.has(a) ? abi.RTN_LOCAL : a === 0xffffffff ? abi.RTN_BROADCAST : abi.RTN_UNICAST),
        });
        const oracle = tsv.matched.filter((r) => r.matches.some((m) => m.kind === "statistic" && m.mode === "random")).map((r) => idOf.get(r)!);
        for (const e of [ix, lin, tr]) e.setStatisticOracle(oracle);
        const [a] = ix.process([pkt]);
        const [b] = lin.process([pkt]);
        const [d] = tr.process([pkt]);
        const where = `packet ${k} ${JSON.stringify(pkt)}`;
        expect(b!.rules_traversed, where).toBe(a!.rules_traversed);
        expect(d!.rules_traversed, where).toBe(a!.rules_traversed);
        expect(b!.rules, where).toEqual(a!.rules);
        expect(d!.rules, where).toEqual(a!.rules);
        // the trace lists every examined rule: as many as the count
        expect(d!.trace!.filter((x) => x.includes(":rule:")).length, where).toBe(a!.rules_traversed);
        // nat PREROUTING: the TypeScript walk examined the same rules
        const natPre = d!.trace!.filter((x) => x.startsWith("nat:") && x.includes(":rule:"));
        const preRules = natPre.filter((x) => isPreroutingWalk(x, rs.compiled.chains));
        expect(preRules.length, where).toBe(tsv.traversed);
        const tsMatched = tsv.matched.map((r) => `-t nat -A ${r.chain}${r.text ? " " + r.text : ""}`);
        expect(a!.rules!.filter((x) => x.startsWith("-t nat ")).slice(0, tsMatched.length), where).toEqual(tsMatched);
        packets++;
      }
      expect(packets).toBe(300);
      void formatIPv4;
    }, 120_000);
  }
});

/**
 * Trace entries of the nat PREROUTING walk: the nat chains examined before
 * the walk leaves PREROUTING. Every nat chain is reached from PREROUTING
 * first in these packets' paths except POSTROUTING's own (KUBE-POSTROUTING,
 * AWS-SNAT-CHAIN-*), which are only walked at POSTROUTING.
 */
function isPreroutingWalk(entry: string, _chains: unknown): boolean {
  const chain = entry.split(":")[1]!;
  return !(chain === "POSTROUTING" || chain === "KUBE-POSTROUTING" || chain.startsWith("AWS-SNAT-CHAIN") || chain === "OUTPUT" || chain === "INPUT");
}
