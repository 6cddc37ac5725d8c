/**
 * `nodeplane paths` (host/replay/paths.ts, host/cli/paths.ts): the same NLB
 * traffic through the instance-target path (NodePort: DNAT, SNAT) and the
 * IP-target path (pod IP), and the generator property it rests on (moving
 * the NLB share between directions keeps every flow's draws).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as abi from "../../host/core/abi.js";
import { Engine } from "../../host/engine.js";
import { parseSpec, readNodeSpec, type NodeSpec } from "../../host/replay/setup.js";
import { comparePaths, specForPath, type PathsReport } from "../../host/replay/paths.js";
import { createGenerator, nodeViewFromSnapshot, parseTrafficSpec, type TrafficSpec } from "../../host/traffic/index.js";
import { EngineRunner } from "../../host/replay/runner.js";
import { writeDemoSnapshots } from "./demo-snapshots.js";
import { CLI, ROOT } from "../repo.js";

let tmp: string;
let snapDir: string;
let node: NodeSpec;

const SPEC = `seed: 5
duration: 1.5
rate: 400
mix: {tcp: 9, udp: 1}
directions: {nodeport: 3, pod-ip: 1, pod-to-outside: 1}
clients: {count: 300, cidrs: [198.51.100.0/24, 203.0.113.0/24], zipf: 0.8}
tcp: {request: 300, response: {dist: pareto, shape: 1.2, min: 500, max: 60000}, exchanges: {dist: uniform, min: 0, max: 4}, rst: 0.1}
`;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "nodeplane-paths-"));
  const { demo } = writeDemoSnapshots(tmp);
  snapDir = demo;
  node = readNodeSpec(demo);
});
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

/** Every descriptor the closed loop wrote for a spec, as (src, sport, dst, dport, time, len, flags, seq) of the clients' packets. */
async function clientPackets(spec: TrafficSpec): Promise<string[]> {
  const engine = await Engine.create({ seed: 0, batchSize: 512 });
  engine.load(parseSpec(node), {});
  const gen = createGenerator(spec, engine);
  const runner = new EngineRunner(engine, 0);
  const inClients = (a: number) => (a >>> 8) === ((198 << 16) | (51 << 8) | 100) || (a >>> 8) === ((203 << 16) | (0 << 8) | 113);
  const out: string[] = [];
  let next = 0;
  for (;;) {
    const { ptr, capacity } = engine.batchBuffer;
    const n = gen.fill(engine.mem.dv, ptr, capacity);
    if (n === 0) break;
    const dv = engine.mem.dv;
    for (let k = 0; k < n; k++) {
      const p = ptr + k * abi.PKT_SIZE;
      const src = dv.getUint32(p + abi.PKT_SRC, true) >>> 0;
      if (!inClients(src)) continue;
      out.push([src, dv.getUint16(p + abi.PKT_SPORT, true), dv.getBigUint64(p + abi.PKT_TIME, true),
        dv.getUint16(p + abi.PKT_LEN, true), dv.getUint8(p + abi.PKT_TCPFLAGS), dv.getUint32(p + abi.PKT_SEQ, true)].join(" "));
    }
    runner.run(n, next, { segment() {} });
    next += n;
    gen.feedback(engine.mem.dv, ptr, n);
  }
  return out;
}

describe("the generator keeps every flow's draws when the NLB share changes direction", () => {
  it("the clients' packets (address, port, time, length, flags, sequence) are the same to a NodePort and to a pod IP", async () => {
    // pods with two ports: a flow to a pod IP draws its port, one to a NodePort does not need to
    const spec = parseTrafficSpec(SPEC + "pods: {tcp-ports: [8080, 8443], udp-ports: [53, 5353]}\n", "paths.yaml");
    const a = await clientPackets(specForPath(spec, "instance"));
    const b = await clientPackets(specForPath(spec, "ip"));
    expect(a.length).toBeGreaterThan(1000);
    expect(b).toEqual(a);
    // and the spec as written (both directions mixed) sends the same clients too
    const mixed = await clientPackets(spec);
    expect(mixed).toEqual(a);
  });
});

describe("IP targets without client IP preservation (spec nlb)", () => {
  it("pod-ip TCP connections come from the NLB's addresses and ports, UDP and NodePort ones from the clients; the flows are the same", async () => {
    const nlb = "nlb: {preserve-client-ip: false, ips: [10.0.200.10, 10.0.201.10]}\n";
    const spec = parseTrafficSpec(SPEC + nlb, "nlb.yaml");
    const seen = { nlbTcp: 0, clientUdp: 0, other: 0 };
    const ports = new Map<string, number>();
    const engine = await Engine.create({ seed: 0, batchSize: 512 });
    engine.load(parseSpec(node), {});
    const gen = createGenerator(specForPath(spec, "ip"), engine);
    const runner = new EngineRunner(engine, 0);
    const podIps = new Set(nodeViewFromSnapshot(engine.node.snapshot, engine.ruleset!.ruleset).pods.map((p) => p.ip));
    let next = 0;
    for (;;) {
      const { ptr, capacity } = engine.batchBuffer;
      const n = gen.fill(engine.mem.dv, ptr, capacity);
      if (n === 0) break;
      for (let k = 0; k < n; k++) {
        const q = gen.toPacketInput(engine.mem.dv, ptr + k * abi.PKT_SIZE);
        if (!podIps.has(q.dst) || q.iif.startsWith("eni")) continue; // packets to a pod IP from outside
        if (q.proto === "tcp" && q.flags === "S") {
          expect(["10.0.200.10", "10.0.201.10"]).toContain(q.src);
          // one connection per NLB address and port at a time (the NLB's own ephemeral ports)
          const key = `${q.src}:${q.sport}`;
          ports.set(key, (ports.get(key) ?? 0) + 1);
          seen.nlbTcp++;
        } else if (q.proto === "udp") {
          expect(q.src).toMatch(/^(198\.51\.100|203\.0\.113)\./);
          seen.clientUdp++;
        } else seen.other++;
      }
      runner.run(n, next, { segment() {} });
      next += n;
      gen.feedback(engine.mem.dv, ptr, n);
    }
    expect(seen.nlbTcp).toBeGreaterThan(300);
    expect(seen.clientUdp).toBeGreaterThan(10);
    expect(Math.max(...ports.values())).toBe(1);
    // the comparison: the same flows and packets both ways, the IP path's connections from the NLB
    const r = await comparePaths({ node, traffic: spec, seed: 7, rounds: 1 });
    expect(r.ipTargetSource).toMatch(/the NLB's 10\.0\.200\.10, 10\.0\.201\.10/);
    expect(r.paths[1]!.packets).toBe(r.paths[0]!.packets);
    expect(r.paths[1]!.nlbFlows).toBe(r.paths[0]!.nlbFlows);
    // preservation on (or no nlb key): the clients' own addresses, the same descriptors as without the key
    const on = parseTrafficSpec(SPEC + "nlb: {preserve-client-ip: true, ips: [10.0.200.10]}\n", "on.yaml");
    expect(await clientPackets(specForPath(on, "ip"))).toEqual(await clientPackets(specForPath(parseTrafficSpec(SPEC, "paths.yaml"), "ip")));
  }, 120_000);

  it("spec errors name the line: no addresses, a bad address, not a boolean", () => {
    const fail = (text: string) => { try { parseTrafficSpec(text, "n.yaml"); } catch (e) { return e as { line: number; token: string; message: string }; } throw new Error("accepted"); };
    expect(fail("duration: 1\nnlb: {preserve-client-ip: false}\n").message).toMatch(/n\.yaml:2.*needs the NLB's private addresses/s);
    expect(fail("duration: 1\nnlb:\n  preserve-client-ip: false\n  ips: [10.0.0.300]\n")).toMatchObject({ line: 4, token: "10.0.0.300" });
    expect(fail("duration: 1\nnlb: {preserve-client-ip: nope, ips: [10.0.0.1]}\n").message).toMatch(/must be true or false/);
  });
});

describe("nodeplane paths", () => {
  let report: PathsReport;
  beforeAll(async () => {
    report = await comparePaths({ node, traffic: parseTrafficSpec(SPEC, "paths.yaml"), seed: 7, rounds: 2 });
  }, 120_000);

  it("the same flows through both paths, nothing dropped", () => {
    const [inst, ip] = report.paths;
    expect(inst!.path).toBe("instance");
    expect(ip!.path).toBe("ip");
    expect(inst!.nlbFlows).toBeGreaterThan(300);
    expect(ip!.nlbFlows).toBe(inst!.nlbFlows);
    expect(ip!.flows).toBe(inst!.flows);
    expect(report.nlbShare).toBeCloseTo(0.8, 5);
    for (const p of report.paths) {
      expect(p.verdicts.drop, p.title).toBe(0);
      expect(p.abortedFlows, p.title).toBe(0);
      expect(p.verdicts.forward + p.verdicts.local).toBe(p.packets);
      expect(p.timedPackets).toBe(p.packets);
      expect(p.roundSeconds).toHaveLength(2);
      expect(p.nsPerPacket).toBeGreaterThan(0);
    }
    // the IP target path carries the same packets (no NAT changes what the servers answer)
    expect(ip!.packets).toBe(inst!.packets);
  });

  it("the instance path DNATs and SNATs every NLB connection; the IP path translates only the background's", () => {
    const [inst, ip] = report.paths;
    // pod-to-outside background: SNATed to the node address in both (its replies un-SNATed: a destination rewrite)
    expect(ip!.nat.SNAT ?? 0).toBeGreaterThan(0);
    expect(ip!.nat.DNAT ?? 0).toBeGreaterThan(0);
    expect(ip!.nat.BIND_DST).toBe(inst!.nat.BIND_DST);
    // NodePort: the client's packets DNATed (and SNATed for externalTrafficPolicy Cluster), the pod's un-NATed
    expect(inst!.nat.DNAT! - ip!.nat.DNAT!).toBeGreaterThan(inst!.nlbFlows * 4);
    expect(inst!.nat.SNAT! - ip!.nat.SNAT!).toBeGreaterThan(inst!.nlbFlows * 4);
    expect(inst!.conntrack.snatEntries).toBeGreaterThan(ip!.conntrack.snatEntries);
    expect(inst!.conntrack.snatPortsMaxPerDestination).toBeGreaterThan(0);
    expect(inst!.conntrack.entries).toBe(ip!.conntrack.entries);
    expect(inst!.rulesTraversedPerPacket).toBeGreaterThan(ip!.rulesTraversedPerPacket);
  });

  it("is deterministic: a second comparison gives the same report but for the timings", async () => {
    const again = await comparePaths({ node, traffic: parseTrafficSpec(SPEC, "paths.yaml"), seed: 7, rounds: 1 });
    const strip = (r: PathsReport) => JSON.stringify({ ...r, rounds: 0, paths: r.paths.map((p) => ({ ...p, engineSeconds: 0, roundSeconds: [], packetsPerSecond: 0, nsPerPacket: 0 })) });
    expect(strip(again)).toBe(strip(report));
  }, 120_000);

  it("a spec without NLB traffic is an error naming it", () => {
    const t = parseTrafficSpec("duration: 1\ndirections: {pod-to-outside: 1}\n", "bg.yaml");
    expect(() => specForPath(t, "instance")).toThrow(/bg\.yaml: the traffic spec sends no NLB traffic/);
    const u = parseTrafficSpec("duration: 1\n", "none.yaml");
    expect(() => specForPath(u, "ip")).toThrow(/none\.yaml: the traffic spec has no `directions`/);
  });

  it("the command prints the table and writes the JSON; bad input exits 2 with a message", () => {
    const specFile = join(tmp, "nlb.yaml");
    writeFileSync(specFile, SPEC);
    const jsonFile = join(tmp, "paths.json");
    const htmlFile = join(tmp, "paths.html");
    const r = spawnSync(process.execPath, [CLI, "paths", "--snapshot", snapDir, "--generate", specFile, "--rounds", "1", "--seed", "7", "--json", jsonFile, "--html", htmlFile], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/instance target \(NodePort\)\s+IP target \(pod IP\)/);
    expect(r.stdout).toMatch(/rules traversed per packet/);
    expect(r.stdout).toMatch(/SNATed connections at the end/);
    const j = JSON.parse(readFileSync(jsonFile, "utf8")) as PathsReport;
    expect(j.nodeplane).toBe("paths");
    expect(j.paths.map((p) => p.nlbFlows)).toEqual(report.paths.map((p) => p.nlbFlows));
    // the page: self-contained, and Chromium draws its four charts
    const page = readFileSync(htmlFile, "utf8");
    expect(/<script[^>]+src=/.test(page)).toBe(false);
    expect(page).toContain("instance target (NodePort)");
    const c = spawnSync("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom", `file://${htmlFile}`],
      { encoding: "utf8", timeout: 90_000, maxBuffer: 64 << 20 });
    expect(c.status, c.stderr).toBe(0);
    expect(/<body[^>]*data-report-error=/.test(c.stdout)).toBe(false);
    expect(/data-charts-rendered="(\d+)"/.exec(c.stdout)?.[1]).toBe("4");
    const bad = join(tmp, "bg.yaml");
    writeFileSync(bad, "duration: 1\ndirections: {pod-to-outside: 1}\n");
    const e = spawnSync(process.execPath, [CLI, "paths", "--snapshot", snapDir, "--generate", bad], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect(e.status).toBe(2);
    expect(e.stderr).toMatch(/bg\.yaml: the traffic spec sends no NLB traffic/);
    expect(e.stderr).not.toMatch(/\n\s+at /);
    const n = spawnSync(process.execPath, [CLI, "paths", "--generate", specFile], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect(n.status).toBe(2);
    expect(n.stderr).toMatch(/give the node/);
  }, 180_000);
});
