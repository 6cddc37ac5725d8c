/**
 * The engine follows what a capture's forwarded copy of a packet shows the
 * kernel did (abi.ts PKT_SEEN_*, assembly/capture/seen.ts): kube-proxy's
 * random endpoint (`-m statistic --mode random` rules leading to KUBE-SEP
 * chains: netfilter/match.ts statisticMatch, host/netfilter/compile.ts
 * seenEndpoints) and the port `--random-fully` picked (nat/core.ts
 * seenTuple), when the rules here can make them; the replay summary counts
 * how each such packet compares with its copy (SUM_SEEN).
 *
 * Hand-made descriptors through the EKS fixture node: a NodePort 30080 on
 * 10.0.0.10 with three endpoints (the fixture's two pods and 10.0.0.99 on
 * eth0's subnet), masqueraded as kube-proxy does for externalTrafficPolicy
 * Cluster, with --random-fully.
 */
import { describe, expect, it } from "vitest";
import * as abi from "../../host/core/abi.js";
import type { Engine } from "../../host/engine.js";
import { encodePacket, type PacketInput } from "../../host/packet/input.js";
import { Collector } from "../../host/report/collect.js";
import { decodePacket } from "../../host/packet/result.js";
import { seenCounts } from "../../host/report/model.js";
import { formatIPv4, parseIPv4 } from "../../host/util/ipv4.js";
import { eksFixtureEngine } from "../fixtures/eks-fixture.js";

const EPS = ["10.0.0.55", "10.0.1.33", "10.0.0.99"];
const SEP = (k: number) => `KUBE-SEP-E${k}`;
const RULES = [
  "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
  ":KUBE-SERVICES - [0:0]", ":KUBE-SVC-WEB - [0:0]", ":KUBE-MARK-MASQ - [0:0]", ":KUBE-POSTROUTING - [0:0]",
  ...EPS.map((_, k) => `:${SEP(k)} - [0:0]`),
  "-A PREROUTING -j KUBE-SERVICES",
  "-A POSTROUTING -j KUBE-POSTROUTING",
  "-A KUBE-SERVICES -d 10.0.0.10/32 -p tcp -m tcp --dport 30080 -j KUBE-MARK-MASQ",
  "-A KUBE-SERVICES -d 10.0.0.10/32 -p tcp -m tcp --dport 30080 -j KUBE-SVC-WEB",
  "-A KUBE-SVC-WEB -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-E0",
  "-A KUBE-SVC-WEB -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-E1",
  "-A KUBE-SVC-WEB -j KUBE-SEP-E2",
  ...EPS.flatMap((ip, k) => [`-A ${SEP(k)} -s ${ip}/32 -j KUBE-MARK-MASQ`, `-A ${SEP(k)} -p tcp -m tcp -j DNAT --to-destination ${ip}:8080`]),
  "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
  "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
  "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
  "-A KUBE-POSTROUTING -j MASQUERADE --random-fully",
  "COMMIT", "",
].join("\n");

/** Client c's SYN to the NodePort. */
const syn = (c: number): PacketInput => ({ iif: "eth0", src: `203.0.113.${1 + (c % 200)}`, dst: "10.0.0.10", proto: "tcp", sport: 20000 + c, dport: 30080, flags: "S", seq: 1000 + c, t: c * 0.001 });

interface Seen { src: string; dst: string; sport: number; dport: number; oif?: string }
interface Out { verdict: number; src: string; dst: string; sport: number; dport: number; oif: number }

/** Runs the packets (each with its copy's header, if given) as one batch; the headers they left with and the summary's capture_copies. */
function run(e: Engine, pkts: PacketInput[], seen: (Seen | undefined)[]): { out: Out[]; cc: ReturnType<typeof seenCounts> } {
  const { ptr } = e.batchBuffer;
  e.mem.refresh();
  const dv = e.mem.dv;
  let t = 0n;
  pkts.forEach((p, k) => {
    const at = ptr + k * abi.PKT_SIZE;
    t = encodePacket(dv, at, p as unknown as Record<string, unknown>, { file: "t", line: k + 1 }, e.devices, t, () => {});
    const s = seen[k];
    if (!s) return;
    dv.setUint32(at + abi.PKT_SEEN_SRC, parseIPv4(s.src)! >>> 0, true);
    dv.setUint32(at + abi.PKT_SEEN_DST, parseIPv4(s.dst)! >>> 0, true);
    dv.setUint16(at + abi.PKT_SEEN_SPORT, s.sport, true);
    dv.setUint16(at + abi.PKT_SEEN_DPORT, s.dport, true);
    dv.setUint8(at + abi.PKT_SEEN_OIF, s.oif ? e.node.slotByName.get(s.oif)! + 1 : 0);
  });
  const col = new Collector(e);
  e.core.process_batch(ptr, pkts.length);
  col.collect(ptr, 0, pkts.length, e.core.reply_ring_ptr());
  e.mem.refresh();
  const r = e.mem.dv;
  const out = pkts.map((_, k) => {
    const at = ptr + k * abi.PKT_SIZE;
    return {
      verdict: r.getUint8(at + abi.PKT_VERDICT), src: formatIPv4(r.getUint32(at + abi.PKT_OUT_SRC, true)), dst: formatIPv4(r.getUint32(at + abi.PKT_OUT_DST, true)),
      sport: r.getUint16(at + abi.PKT_OUT_SPORT, true), dport: r.getUint16(at + abi.PKT_OUT_DPORT, true), oif: r.getUint16(at + abi.PKT_OIF, true),
    };
  });
  const cc = seenCounts(col.read());
  // the results' seen.result (host/packet/result.ts, TypeScript) and the summary's counts (the core) are one classification
  const byResult: Record<string, number> = {};
  pkts.forEach((_, k) => {
    const s = decodePacket(r, ptr + k * abi.PKT_SIZE, k, e.node, e.core.reply_ring_ptr(), false).seen;
    if (s) byResult[s.result] = (byResult[s.result] ?? 0) + 1;
  });
  expect(Object.values(byResult).reduce((a, b) => a + b, 0)).toBe(cc.packets);
  expect([byResult.agrees ?? 0, byResult.dropped ?? 0, byResult.local ?? 0, byResult.other_device ?? 0, byResult.other_header ?? 0])
    .toEqual([cc.agree, cc.dropped, cc.local, cc.other_device, cc.other_header]);
  return { out, cc };
}

/** Packets counted by each KUBE-SEP DNAT rule. */
function sepCounts(e: Engine): number[] {
  const save = e.iptablesSave();
  return EPS.map((ip) => Number(new RegExp(`\\[(\\d+):\\d+\\] -A KUBE-SEP-E\\d -p tcp -m tcp -j DNAT --to-destination ${ip.replace(/\./g, "\\.")}:8080`).exec(save)?.[1] ?? -1));
}

const engine = () => eksFixtureEngine({ seed: 3, batchSize: 256, rules: RULES });
const N = 60;
/** The endpoint and masquerade port "the kernel chose" for connection c. */
const chosen = (c: number) => ({ ep: EPS[(c * 7) % 3]!, port: 33000 + ((c * 977) % 20000) });

describe("following a capture's forwarded copies (PKT_SEEN_*)", () => {
  it("takes kube-proxy's endpoint and the --random-fully port the copy shows; the summary counts every packet as agreeing", async () => {
    // the masquerade address each endpoint's route gives (what a copy would show as its source)
    const dry = await engine();
    const probe = run(dry, EPS.map((_, k) => syn(1000 + k)), EPS.map((ep) => ({ src: "0.0.0.0", dst: ep, sport: 1, dport: 8080 })));
    const masq = new Map(probe.out.map((o) => [o.dst, { src: o.src, oif: o.oif }]));
    expect(masq.size).toBe(3);

    const e = await engine();
    const pkts = Array.from({ length: N }, (_, c) => syn(c));
    const seen = pkts.map((_, c) => {
      const { ep, port } = chosen(c);
      return { src: masq.get(ep)!.src, dst: ep, sport: port, dport: 8080, oif: e.node.devBySlot[masq.get(ep)!.oif]!.name };
    });
    const { out, cc } = run(e, pkts, seen);
    out.forEach((o, c) => {
      expect(o.verdict).toBe(abi.VERDICT_FORWARD);
      expect([o.dst, o.dport, o.sport]).toEqual([chosen(c).ep, 8080, chosen(c).port]);
    });
    expect(cc).toEqual({ packets: N, agree: N, dropped: 0, local: 0, other_device: 0, other_header: 0 });
    // the rule counters follow too: each KUBE-SEP's DNAT counted its connections
    expect(sepCounts(e)).toEqual(EPS.map((ep) => pkts.filter((_, c) => chosen(c).ep === ep).length));
  });

  it("the JSONL input's `seen` is the same thing: the same endpoints and ports, and each result's seen.result", async () => {
    const dry = await engine();
    const probe = run(dry, EPS.map((_, k) => syn(1000 + k)), EPS.map((ep) => ({ src: "0.0.0.0", dst: ep, sport: 1, dport: 8080 })));
    const masq = new Map(probe.out.map((o) => [o.dst, o]));
    const e = await engine();
    const pkts = Array.from({ length: 30 }, (_, c) => {
      const { ep, port } = chosen(c);
      // one copy in three shows the port off by one, another device for one in five
      const sport = c % 3 === 2 ? port + 1 : port;
      const oif = c % 5 === 4 ? "eth1" : e.node.devBySlot[masq.get(ep)!.oif]!.name;
      return { ...syn(c), seen: { src: masq.get(ep)!.src, dst: ep, sport, dport: 8080, oif } };
    });
    const results = e.process(pkts);
    results.forEach((r, c) => {
      expect(r.dst).toBe(chosen(c).ep);
      const shown = pkts[c]!.seen;
      expect(r.seen).toEqual({ ...shown, result: c % 5 === 4 ? "other_device" : "agrees" });
      // a port the copy shows is taken when free: off by one or not, the packet leaves with it
      expect(r.sport).toBe(shown.sport);
    });
  });

  it("the JSONL input refuses a `seen` it cannot carry, naming the line and the token", async () => {
    const e = await engine();
    const bad = (p: Record<string, unknown>) => { try { e.process([p as unknown as PacketInput]); return ""; } catch (x) { return (x as Error).message; } };
    expect(bad({ iif: "eth0", src: "203.0.113.9", dst: "10.0.0.55", proto: 132, sport: 1, dport: 2, len: 52, sctp: { vtag: 1, chunks: [{ type: "DATA" }] }, seen: { src: "1.1.1.1", dst: "10.0.0.55" } }))
      .toMatch(/seen.*TCP, UDP and ICMP echo/);
    expect(bad({ ...syn(1), seen: { src: "10.0.0.10", dst: "10.0.0.55", oif: "eth9" } })).toMatch(/eth9.*not an interface/);
    expect(bad({ ...syn(1), seen: { src: "10.0.0.10", dst: "0.0.0.0" } })).toMatch(/seen\.dst/);
    expect(bad({ ...syn(1), seen: "10.0.0.55" })).toMatch(/seen.*object/);
  });

  it("without copies the engine draws its own endpoints and ports (so the test above can fail)", async () => {
    const e = await engine();
    const { out, cc } = run(e, Array.from({ length: N }, (_, c) => syn(c)), []);
    expect(new Set(out.map((o) => o.dst)).size).toBe(3);
    const same = out.filter((o, c) => o.dst === chosen(c).ep && o.sport === chosen(c).port).length;
    expect(same).toBeLessThan(3);
    expect(cc.packets).toBe(0);
  });

  it("a copy the rules cannot explain is not followed, and the summary says how the packet differs", async () => {
    const e = await engine();
    const r = run(e, [syn(1), syn(2), syn(3)], [
      // an endpoint this ruleset does not have: the statistic rules draw
      { src: "10.0.0.10", dst: "10.9.9.9", sport: 40001, dport: 8080 },
      // a port outside the masquerade's class for a source port >= 1024 (nf_nat_l4proto_unique_tuple): not taken
      { src: "10.0.0.10", dst: EPS[0]!, sport: 700, dport: 8080 },
      { src: "10.0.0.10", dst: EPS[2]!, sport: 45000, dport: 8080 },
    ]);
    expect(EPS).toContain(r.out[0]!.dst);
    expect(r.out[1]!.dst).toBe(EPS[0]);
    expect(r.out[1]!.sport).not.toBe(700);
    expect([r.out[2]!.dst, r.out[2]!.sport]).toEqual([EPS[2], 45000]);
    expect(r.cc).toEqual({ packets: 3, agree: 1, dropped: 0, local: 0, other_device: 0, other_header: 2 });
  });

  it("a second connection whose copy shows a tuple already taken gets its own port", async () => {
    const e = await engine();
    // two connections whose copies show the same masqueraded tuple (a masqueraded reply tuple does not name the
    // client: endpoint:8080 -> 10.0.0.10:50000 for both)
    const a = syn(5), b = syn(6);
    const seenA = { src: "10.0.0.10", dst: EPS[2]!, sport: 50000, dport: 8080 };
    const r = run(e, [a, b], [seenA, seenA]);
    expect(r.out[0]!.sport).toBe(50000);
    // b's copy claims the tuple a holds (same reply tuple): the engine searches as it would without a copy
    expect(r.out[1]!.sport).not.toBe(50000);
    expect(r.cc).toMatchObject({ packets: 2, agree: 1, other_header: 1 });
  });
});
