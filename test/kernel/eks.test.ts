/**
 * EKS worker nodes (AWS VPC CNI layout: per-ENI tables, rules 512/1024/1536,
 * pods on host veths, loose rp_filter on the primary ENI), differentially:
 * each variant is built in a namespace with the same commands the CNI would
 * run, dumped, loaded into the emulator, and both answer the same
 * `ip route get` questions and handle the same realistic traffic.
 */
import { it, expect } from "vitest";
import { KernelNode, type InjectPacket } from "./netns.js";
import { describeKernel } from "./kernel-gate.js";
import { comparePackets } from "./compare.js";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import { parseRouteGetArgs, routeGet } from "../../host/route/get.js";
import { buildEksNode, buildDemoNode, type DemoNode, type EksNodeOptions } from "../../host/scenario/eks-node.js";
import { generateWorkload, prng } from "../../host/scenario/workload.js";
import type { PacketInput } from "../../host/packet/input.js";

const VARIANTS: [string, () => DemoNode][] = [
  ["demo node: 2 ENIs, 15 pods", buildDemoNode],
  ["3 ENIs, 12 pods, rp_filter all=1", () => buildEksNode({ enis: 3, podsPerEni: [4, 4, 4], seed: 3 } as EksNodeOptions)],
  ["4 ENIs, 10 pods, rp_filter all=0, eth1 loose", () => buildEksNode({ enis: 4, podsPerEni: [2, 3, 3, 2], seed: 4, rpFilterAll: 0, rpFilter: { eth1: 2 } })],
  ["2 ENIs, no fwmark rule (EXTERNALSNAT), rp_filter all=2", () => buildEksNode({ enis: 2, podsPerEni: [5, 5], seed: 5, fwmarkRule: false, rpFilterAll: 2 })],
  ["3 ENIs, 15 pods, strict secondary ENIs", () => buildEksNode({ enis: 3, podsPerEni: [6, 5, 4], seed: 7, rpFilter: { eth1: 1, eth2: 1 } })],
];

function queriesFor(node: DemoNode, seed: number): string[][] {
  const rnd = prng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const pub = () => `${pick([3, 13, 34, 52, 54, 99, 142, 185])}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${1 + Math.floor(rnd() * 254)}`;
  const vpc = () => `10.0.${32 + Math.floor(rnd() * 32)}.${1 + Math.floor(rnd() * 254)}`;
  const enis = node.eniIps.map((_, i) => `eth${i}`);
  const q: string[][] = [];
  for (const p of node.pods) {
    q.push([pub(), "from", p.ip, "iif", p.veth]);
    q.push([pub(), "from", p.ip, "iif", p.veth, "mark", "0x80"]);
    q.push([vpc(), "from", p.ip, "iif", p.veth]);
    q.push(["169.254.169.254", "from", p.ip, "iif", p.veth]);
    q.push([p.ip, "from", pub(), "iif", p.eni]);
    q.push([p.ip, "from", pub(), "iif", pick(enis)]);
    q.push([p.ip, "from", vpc(), "iif", pick(enis), "mark", "0x80"]);
    const o = pick(node.pods);
    q.push([o.ip, "from", p.ip, "iif", p.veth]);
    q.push([p.ip]);
    q.push([pub(), "from", p.ip]);
  }
  for (let i = 0; i < 40; i++) {
    const e = Math.floor(rnd() * node.eniIps.length);
    q.push([pub()]);
    q.push([pub(), "mark", "0x80"]);
    q.push([node.eniIps[e], "from", pub(), "iif", `eth${e}`]);
    q.push([node.nodeIp, "from", pub(), "iif", pick(enis)]);
    q.push([vpc(), "from", pub(), "iif", pick(enis)]);
    q.push([pub(), "from", node.eniIps[e]]);
    q.push([vpc(), "oif", pick(enis)]);
  }
  return q;
}

/** The replay format's packet as the harness injects it. */
function toInject(p: PacketInput, id: number): InjectPacket {
  const x: InjectPacket = { id, iif: p.iif, dst: p.dst, proto: p.proto as InjectPacket["proto"] };
  if (p.src !== undefined) x.src = p.src;
  if (p.sport !== undefined) x.sport = p.sport;
  if (p.dport !== undefined) x.dport = p.dport;
  if (p.flags !== undefined) x.flags = p.flags;
  if (p.seq !== undefined) x.seq = p.seq;
  if (p.ack !== undefined) x.ack = p.ack;
  if (p.icmp_type !== undefined) x.icmpType = p.icmp_type;
  if (p.icmp_code !== undefined) x.icmpCode = p.icmp_code;
  if (p.icmp_id !== undefined) x.icmpId = p.icmp_id;
  if (p.icmp_seq !== undefined) x.icmpSeq = p.icmp_seq;
  if (p.ttl !== undefined) x.ttl = p.ttl;
  if (p.tos !== undefined) x.tos = p.tos;
  if (p.df !== undefined) x.df = p.df;
  if (p.len !== undefined) x.len = p.len;
  if (p.iif === "local" && p.mark !== undefined) x.mark = p.mark;
  return x;
}

let cases = 0;

/**
 * Is every disagreement about ICMP redirects (the frame, or the counters it
 * moves: the ICMP and IP output counters and octets)? The kernel rate-limits redirects per peer in jiffies
 * (ip_rt_send_redirect: ip_rt_redirect_load << n_redirects after the last
 * one), and the emulator's clock is the agent's send time, taken before the
 * kernel handles the frame: on a busy machine the kernel can handle a
 * packet a jiffy later and cross the limit's boundary (seen once in a full
 * `npm test`, 2026-11-22: one redirect more in the kernel). Such a run is
 * tried again, in fresh namespaces; any other disagreement fails at once.
 */
function redirectTimingOnly(problems: string[]): boolean {
  return problems.length > 0 && problems.every((p) =>
    /^counter (IcmpOutRedirects|IcmpOutMsgs|IcmpMsgOutType5|IpOutRequests|IpOutTransmits|IpExtOutOctets) over the batch/.test(p) ||
    (/frames leaving the node/.test(p) && /\b5\/1\b/.test(p)));
}

describeKernel("EKS multi-ENI nodes agree with the kernel", () => {
  VARIANTS.forEach(([name, build], v) => {
    it(name, async () => {
      let problems: string[] = [];
      let compared = 0;
      for (let attempt = 0; attempt < 3; attempt++) {
        if (attempt > 0) console.log(`${name}: redirect timing only, tried again:\n${problems.join("\n")}`);
        ({ problems, compared } = await runVariant(name, build, v));
        if (!redirectTimingOnly(problems)) break;
      }
      cases += compared; // the last attempt's
      expect(problems.slice(0, 30).join("\n")).toBe("");
    }, 300_000);
  });

  it("covered the EKS cases", () => {
    console.log(`EKS differential: ${cases} cases (ip route get + injected packets) over ${VARIANTS.length} nodes`);
    expect(cases).toBeGreaterThan(2000);
  });
});

/** One variant against the kernel: the disagreements, and the cases compared. */
async function runVariant(name: string, build: () => DemoNode, v: number): Promise<{ problems: string[]; compared: number }> {
  const node = build();
  const kernel = await KernelNode.create({ links: node.links.map((n) => ({ name: n, mtu: 9001 })), commands: node.commands });
  const problems: string[] = [];
  let counted = 0;
  try {
    const snap = parseSnapshotFiles(await kernel.dumpSnapshot(), `kernel: ${name}`);
    const engine = await Engine.create({ seed: v, senderSockets: "closed" /* the agent sends and closes */ });
    engine.load(snap, { hz: snap.hz ?? 250 });
    const queries = queriesFor(node, 100 + v);
    const answers = await kernel.routeGet(queries);
    queries.forEach((q, i) => {
      const k = answers[i];
      const a = routeGet(engine, parseRouteGetArgs(q));
      const kt = k.ok ? k.out : k.err;
      const et = a.err === 0 ? a.text : a.text.trim();
      if (kt !== et) problems.push(`ip route get ${q.join(" ")}\n    kernel:   ${JSON.stringify(kt)}\n    emulator: ${JSON.stringify(et)}`);
    });
    counted += queries.length;
    const t0: { ns?: number } = {};
    const traffic = generateWorkload(node, 600, 200 + v).map((p, i) => toInject(p, (i % 200) + 1));
    for (let b = 0; b < traffic.length; b += 200) {
      const { disagreements, compared } = await comparePackets(kernel, engine, traffic.slice(b, b + 200), t0);
      counted += compared;
      for (const d of disagreements) problems.push(`${d.what}\n    kernel:   ${d.kernel}\n    emulator: ${d.emulator}`);
    }
  } finally {
    await kernel.destroy();
  }
  return { problems, compared: counted };
}
