/**
 * The traffic generator on the demo EKS node: determinism whatever the batch
 * size, the spec's mix in the packets, conversations conntrack accepts
 * (ESTABLISHED/ASSURED, closed, never INVALID by the generator's doing),
 * replies that follow NAT, Zipf popularity, and descriptors equal to what the
 * replay encoder writes for the same packet.
 */
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import * as abi from "../../host/core/abi.js";
import { encodePacket } from "../../host/packet/input.js";
import { formatIPv4 } from "../../host/util/ipv4.js";
import { createGenerator, parseTrafficSpec, runTraffic, Zipf, type TrafficGenerator } from "../../host/traffic/index.js";
import { demoEngine, type DemoEngine } from "./demo-node.js";

const BASE = `seed: 11
duration: 0.5
rate: 4000
directions: {nodeport: 10, loadbalancer: 5, pod-ip: 15, pod-to-pod: 20, pod-to-clusterip: 30, pod-to-outside: 20}
clients: {count: 2000}
servers: {count: 300}
tcp: {request: {dist: pareto, shape: 1.5, min: 200, max: 150000}, response: {dist: pareto, shape: 1.2, min: 500, max: 300000}, exchanges: {dist: uniform, min: 0, max: 3}, rst: 0.1}
`;

/** Input bytes of a descriptor: everything the host writes. */
function inputBytes(dv: DataView, p: number): Uint8Array {
  const u8 = new Uint8Array(dv.buffer);
  const out = new Uint8Array(72 + 16 + 4);
  out.set(u8.subarray(p, p + 72), 0);
  out.set(u8.subarray(p + 128, p + 144), 72);
  out.set(u8.subarray(p + 220, p + 224), 88);
  return out;
}

async function closedLoop(spec: string, batch: number): Promise<{ hash: string; d: DemoEngine; gen: TrafficGenerator; packets: number }> {
  const d = await demoEngine({ batchSize: 1024 });
  const gen = createGenerator(parseTrafficSpec(spec, "t.yaml"), d.engine);
  const h = createHash("sha256");
  const { ptr } = d.engine.batchBuffer;
  let packets = 0;
  for (;;) {
    d.engine.mem.refresh();
    const n = gen.fill(d.engine.mem.dv, ptr, batch);
    if (!n) break;
    d.engine.processRaw(n, true);
    const dv = d.engine.mem.dv;
    for (let k = 0; k < n; k++) h.update(inputBytes(dv, ptr + k * abi.PKT_SIZE));
    gen.feedback(dv, ptr, n);
    packets += n;
  }
  h.update(d.engine.conntrackList());
  return { hash: h.digest("hex"), d, gen, packets };
}

describe("determinism", () => {
  it("same spec and seed: the same descriptors and connections whatever the batch size", async () => {
    const a = await closedLoop(BASE, 1024);
    const b = await closedLoop(BASE, 7);
    const c = await closedLoop(BASE, 300);
    expect(a.packets).toBeGreaterThan(5000);
    expect(b.hash).toBe(a.hash);
    expect(c.hash).toBe(a.hash);
    const other = await closedLoop(BASE.replace("seed: 11", "seed: 12"), 1024);
    expect(other.hash).not.toBe(a.hash);
  });

  it("a buffer outside the engine's memory: the same closed loop through copies", async () => {
    const a = await closedLoop(BASE, 300);
    const d = await demoEngine({ batchSize: 1024 });
    const gen = createGenerator(parseTrafficSpec(BASE, "t.yaml"), d.engine);
    const plain = new DataView(new ArrayBuffer(1024 * abi.PKT_SIZE));
    const h = createHash("sha256");
    const { ptr } = d.engine.batchBuffer;
    for (let n; (n = gen.fill(plain, 0, 300));) {
      // the caller moves the descriptors into the batch buffer and the results back
      new Uint8Array(d.engine.mem.dv.buffer).set(new Uint8Array(plain.buffer, 0, n * abi.PKT_SIZE), ptr);
      d.engine.processRaw(n, true);
      new Uint8Array(plain.buffer).set(new Uint8Array(d.engine.mem.dv.buffer, ptr, n * abi.PKT_SIZE), 0);
      for (let k = 0; k < n; k++) h.update(inputBytes(plain, k * abi.PKT_SIZE));
      gen.feedback(plain, 0, n);
    }
    h.update(d.engine.conntrackList());
    expect(h.digest("hex")).toBe(a.hash);
  });

  it("open loop (no feedback): the same descriptors whatever the batch size", async () => {
    const d = await demoEngine();
    const spec = parseTrafficSpec(BASE, "t.yaml");
    const run = (batch: number) => {
      const gen = createGenerator(spec, d.engine);
      const dv = new DataView(new ArrayBuffer(batch * abi.PKT_SIZE));
      const h = createHash("sha256");
      let total = 0;
      for (let n; (n = gen.fill(dv, 0, batch));) {
        for (let k = 0; k < n; k++) h.update(inputBytes(dv, k * abi.PKT_SIZE));
        total += n;
      }
      return { hash: h.digest("hex"), total };
    };
    const x = run(1024), y = run(5);
    expect(x.total).toBeGreaterThan(5000);
    expect(y).toEqual(x);
  });
});

describe("through the demo node", () => {
  let r: Awaited<ReturnType<typeof closedLoop>>;
  beforeAll(async () => { r = await closedLoop(BASE, 1024); });

  it("the mix of flow kinds and directions shows in the flows and packets", () => {
    const st = r.gen.stats();
    const n = st.flows.started;
    expect(n).toBeGreaterThan(1500);
    // mix 80/15/5: within 4 standard deviations of the binomial
    for (const [k, share] of [["tcp", 0.8], ["udp", 0.15], ["icmp", 0.05]] as const) {
      const sd = Math.sqrt(n * share * (1 - share));
      expect(Math.abs(st.flows.byKind[k] - n * share)).toBeLessThan(4 * sd);
    }
    // directions: ICMP cannot use the service directions, the rest follow the weights
    expect(st.flows.byDirection["pod-to-clusterip"]).toBeGreaterThan(st.flows.byDirection["loadbalancer"] * 3);
    expect(st.packets).toBe(r.packets);
    expect(st.packetsByKind.tcp + st.packetsByKind.udp + st.packetsByKind.icmp).toBe(r.packets);
    // every packet accounted for: fed back, flows all ended
    expect(st.fedBack).toBe(r.packets);
    expect(st.flows.active).toBe(0);
    expect(st.flows.completed + st.flows.aborted + st.flows.answeredByNode).toBe(n);
  });

  it("TCP conversations are valid for conntrack: established, assured, closed, never INVALID", () => {
    const { engine } = r.d;
    expect(engine.conntrackStats().invalid).toBe(0);
    const tcp = engine.conntrack().filter((e) => e.proto === 6);
    expect(tcp.length).toBeGreaterThan(1000);
    const states = new Map<number, number>();
    for (const e of tcp) states.set(e.state!, (states.get(e.state!) ?? 0) + 1);
    // every connection closed: TIME_WAIT after FIN, CLOSE after RST (the aborted ones excepted)
    const closed = (states.get(abi.TCP_CONNTRACK_TIME_WAIT) ?? 0) + (states.get(abi.TCP_CONNTRACK_CLOSE) ?? 0);
    expect(closed).toBeGreaterThanOrEqual(tcp.length - r.gen.stats().flows.aborted);
    expect(states.get(abi.TCP_CONNTRACK_TIME_WAIT) ?? 0).toBeGreaterThan(tcp.length * 0.8);
    const assured = tcp.filter((e) => (e.status & abi.IPS_ASSURED) !== 0).length;
    expect(assured).toBeGreaterThanOrEqual(tcp.length - r.gen.stats().flows.aborted);
  });

  it("every packet after a flow's first is ESTABLISHED in conntrack (no INVALID from the generator's sequence numbers)", async () => {
    const d = await demoEngine();
    const gen = createGenerator(parseTrafficSpec(BASE, "t.yaml"), d.engine);
    let invalid = 0, established = 0, news = 0;
    const notEstablished: string[] = [];
    runTraffic(gen, d.engine, (n, base, dv) => {
      for (let k = 0; k < n; k++) {
        const p = base + k * abi.PKT_SIZE;
        const ci = dv.getUint8(p + abi.PKT_CT_INFO);
        if (ci === abi.CTINFO_NONE) { invalid++; if (notEstablished.length < 5) notEstablished.push(JSON.stringify(gen.toPacketInput(dv, p))); }
        else if (ci === abi.CTINFO_NEW) news++;
        else established++;
      }
    });
    expect(notEstablished).toEqual([]);
    expect(invalid).toBe(0);
    expect(news).toBe(gen.stats().flows.started);
    expect(established).toBeGreaterThan(news * 3);
  });
});

describe("replies follow NAT", () => {
  it("pod-to-outside: SNAT to the node IP; the server answers the node IP on eth0, un-NATed back to the pod's veth", async () => {
    const d = await demoEngine();
    const spec = `seed: 3\npackets: 3000\nrate: 2000\nmix: {tcp: 1, udp: 1, icmp: 1}\ndirections: {pod-to-outside: 1}\n`;
    const gen = createGenerator(parseTrafficSpec(spec, "t.yaml"), d.engine);
    const nodeIp = d.node.nodeIp;
    const podByIp = new Map(d.node.pods.map((p) => [p.ip, p]));
    let requests = 0, replies = 0;
    runTraffic(gen, d.engine, (n, base, dv) => {
      for (let k = 0; k < n; k++) {
        const p = base + k * abi.PKT_SIZE;
        const pkt = gen.toPacketInput(dv, p);
        const r = d.engine.decodeRaw(k, 0);
        if (podByIp.has(pkt.src!)) {
          requests++;
          expect(r.verdict).toBe("forward");
          expect(r.src).toBe(nodeIp); // AWS-SNAT-CHAIN-0: SNAT --to-source the primary IP
        } else {
          replies++;
          expect(pkt.dst).toBe(nodeIp);
          expect(pkt.iif).toBe("eth0");
          expect(r.verdict).toBe("forward");
          const pod = podByIp.get(r.dst!);
          expect(pod, `reply un-NATed to a pod: ${JSON.stringify(r)}`).toBeDefined();
          expect(r.oif).toBe(pod!.veth);
        }
      }
    });
    expect(requests).toBeGreaterThan(1000);
    expect(replies).toBeGreaterThan(1000);
    expect(gen.stats().translated).toBe(gen.stats().flows.started);
  });

  it("pod-to-clusterip: the endpoint answers the pod, and the reply leaves with the ClusterIP as its source", async () => {
    const d = await demoEngine();
    const spec = `seed: 5\npackets: 3000\nrate: 2000\nmix: {tcp: 3, udp: 1}\ndirections: {pod-to-clusterip: 1}\n`;
    const gen = createGenerator(parseTrafficSpec(spec, "t.yaml"), d.engine);
    const cips = new Set(d.cluster.frontends.filter((f) => f.kind === "clusterip").map((f) => f.ip));
    const firstDst = new Map<string, string>();
    let checked = 0;
    runTraffic(gen, d.engine, (n, base, dv) => {
      for (let k = 0; k < n; k++) {
        const pkt = gen.toPacketInput(dv, base + k * abi.PKT_SIZE);
        const r = d.engine.decodeRaw(k, 0);
        if (cips.has(pkt.dst)) {
          // the client's packets: DNAT to an endpoint
          expect(r.nat ?? []).toContain("DNAT");
          firstDst.set(`${pkt.src}:${pkt.sport}`, pkt.dst);
        } else if (r.verdict === "forward" && firstDst.has(`${r.dst}:${r.dport}`)) {
          // the endpoint's answer, un-DNATed: the pod sees the ClusterIP
          expect(r.src).toBe(firstDst.get(`${r.dst}:${r.dport}`));
          checked++;
        }
      }
    });
    expect(checked).toBeGreaterThan(500);
  });
});

describe("popularity", () => {
  it("Zipf alias table: rank probabilities 1/(k+1)^s", () => {
    // the probability the table gives rank k: its own column's share plus the columns aliasing it, each 1/n wide
    const implied = (z: Zipf) => {
      const p = new Float64Array(z.n);
      for (let i = 0; i < z.n; i++) { p[i]! += z.prob[i]! / z.n; p[z.alias[i]!]! += (1 - z.prob[i]!) / z.n; }
      return p;
    };
    for (const [n, s] of [[50, 1.2], [1000, 1.0], [7, 0.5]] as const) {
      const z = new Zipf(n, s);
      const p = implied(z);
      for (let k = 0; k < n; k++) expect(p[k]!).toBeCloseTo(z.p(k), 12);
    }
    const z = new Zipf(50, 1.2);
    expect(z.p(0) / z.p(1)).toBeCloseTo(2 ** 1.2, 6);
    const uniform = new Zipf(4, 0);
    expect([0, 1, 2, 3].map((k) => uniform.p(k))).toEqual([0.25, 0.25, 0.25, 0.25]);
  });

  it("generated flows pick servers by Zipf popularity", async () => {
    const d = await demoEngine();
    const spec = `seed: 9\nduration: 4\nrate: 5000\nmix: {udp: 1}\ndirections: {pod-to-outside: 1}\nservers: {count: 100, zipf: 1.0}\n`;
    const gen = createGenerator(parseTrafficSpec(spec, "t.yaml"), d.engine);
    const dv = new DataView(new ArrayBuffer(1024 * abi.PKT_SIZE));
    const dsts = new Map<string, number>();
    for (let n; (n = gen.fill(dv, 0, 1024));) {
      for (let k = 0; k < n; k++) {
        const p = k * abi.PKT_SIZE;
        if (dv.getUint16(p + abi.PKT_DPORT, true) !== 53) continue; // requests only
        const a = formatIPv4(dv.getUint32(p + abi.PKT_DST, true));
        dsts.set(a, (dsts.get(a) ?? 0) + 1);
      }
    }
    const counts = [...dsts.values()].sort((a, b) => b - a);
    const total = counts.reduce((a, b) => a + b, 0);
    const z = new Zipf(100, 1.0);
    expect(total).toBe(gen.stats().flows.started);
    // the most popular server gets 1/H(100) of the flows, the tenth a tenth of that
    expect(counts[0]! / total).toBeCloseTo(z.p(0), 1);
    expect(counts[0]! / counts[9]!).toBeGreaterThan(6);
    expect(counts[0]! / counts[9]!).toBeLessThan(15);
  });
});

describe("generators in one process", () => {
  /** Fills through the engine's batch buffer (open loop), hashing each generator's descriptors separately. */
  const hashes = (gens: { gen: TrafficGenerator; engine: DemoEngine["engine"] }[], batch: (i: number) => number) => {
    const hs = gens.map(() => createHash("sha256"));
    const counts = gens.map(() => 0);
    for (let round = 0, live = gens.length; live > 0; round++) {
      live = 0;
      gens.forEach(({ gen, engine }, i) => {
        const { ptr } = engine.batchBuffer;
        const n = gen.fill(engine.mem.dv, ptr, batch(round + i));
        if (!n) return;
        live++;
        const dv = engine.mem.dv;
        for (let k = 0; k < n; k++) hs[i]!.update(inputBytes(dv, ptr + k * abi.PKT_SIZE));
        counts[i]! += n;
      });
    }
    return hs.map((h, i) => `${counts[i]} ${h.digest("hex")}`);
  };

  it("two engines: the same seed gives the same bytes, another seed others; interleaved fills do not disturb each other", async () => {
    const a = await demoEngine(), b = await demoEngine();
    const make = (seed: number, d: DemoEngine) => ({ gen: createGenerator(parseTrafficSpec(BASE.replace("seed: 11", `seed: ${seed}`), "t.yaml"), d.engine), engine: d.engine });
    // alone, one after the other
    const [alone11] = hashes([make(11, a)], () => 1024);
    const [alone12] = hashes([make(12, b)], () => 1024);
    // interleaved on two engines, batch sizes varying
    const [x, y] = hashes([make(11, a), make(11, b)], (r) => 1 + ((r * 37) % 700));
    expect(x).toBe(alone11);
    expect(y).toBe(alone11);
    const [p, q] = hashes([make(11, a), make(12, b)], (r) => 1 + ((r * 53) % 900));
    expect(p).toBe(alone11);
    expect(q).toBe(alone12);
    expect(alone12).not.toBe(alone11);
    expect(Number(alone11.split(" ")[0])).toBeGreaterThan(5000);
  });

  it("two generators on one engine keep their own state", async () => {
    const d = await demoEngine();
    const spec = (seed: number) => parseTrafficSpec(BASE.replace("seed: 11", `seed: ${seed}`), "t.yaml");
    const [alone] = hashes([{ gen: createGenerator(spec(11), d.engine), engine: d.engine }], () => 1024);
    const [other] = hashes([{ gen: createGenerator(spec(13), d.engine), engine: d.engine }], () => 1024);
    const g1 = createGenerator(spec(11), d.engine), g2 = createGenerator(spec(13), d.engine);
    const [x, y] = hashes([{ gen: g1, engine: d.engine }, { gen: g2, engine: d.engine }], (r) => 1 + ((r * 29) % 500));
    expect(x).toBe(alone);
    expect(y).toBe(other);
    expect(g1.stats().packets).toBe(Number(alone.split(" ")[0]));
  });
});

describe("descriptors", () => {
  it("toPacketInput read back and encoded by the replay encoder gives the same input bytes", async () => {
    const d = await demoEngine();
    const gen = createGenerator(parseTrafficSpec(BASE, "t.yaml"), d.engine);
    const dv = new DataView(new ArrayBuffer(1024 * abi.PKT_SIZE));
    const enc = new DataView(new ArrayBuffer(abi.PKT_SIZE));
    let checked = 0;
    for (let n; (n = gen.fill(dv, 0, 1024)) && checked < 20000;) {
      for (let k = 0; k < n; k++) {
        const pkt = gen.toPacketInput(dv, k * abi.PKT_SIZE);
        const line = JSON.parse(JSON.stringify(pkt)) as Record<string, unknown>;
        encodePacket(enc, 0, line, { file: "gen", line: k + 1 }, d.engine.devices, 0n, (w) => { throw new Error(w); });
        expect(inputBytes(enc, 0)).toEqual(inputBytes(dv, k * abi.PKT_SIZE));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10000);
  });
});
