/**
 * Traffic spec parsing: defaults, every wrong value an InputError with the
 * file, line, column and key; JSON accepted; a direction the node cannot
 * serve named at its line; node views read from a snapshot.
 */
import { describe, expect, it } from "vitest";
import { InputError } from "../../host/snapshot/errors.js";
import { createGenerator, nodeViewFromSnapshot, parseTrafficSpec } from "../../host/traffic/index.js";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import { buildDemoNode } from "../../host/scenario/eks-node.js";
import { demoEngine } from "./demo-node.js";

function fails(text: string): InputError {
  try {
    parseTrafficSpec(text, "spec.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error("expected an InputError");
}

describe("spec", () => {
  it("reads a full spec, with defaults for what it leaves out", () => {
    const s = parseTrafficSpec(`seed: 4
duration: 2.5
rate: 300
mix: {tcp: 2, udp: 1}
clients: {count: 50, cidrs: [198.51.100.0/24], zipf: 0.8}
tcp: {request: {dist: exponential, mean: 400, max: 5000}, rst: 0.2}
`, "s.yaml");
    expect(s).toMatchObject({ seed: 4, duration: 2.5, rate: 300, mix: { tcp: 2, udp: 1, icmp: 0 }, clients: { count: 50, cidrs: ["198.51.100.0/24"], zipf: 0.8 } });
    expect(s.tcp.request).toEqual({ dist: "exponential", mean: 400, max: 5000 });
    expect(s.tcp.rst).toBe(0.2);
    expect(s.tcp.mss).toBe(1448);
    expect(s.directions).toBeUndefined();
    expect(s.packets).toBeUndefined();
  });

  it("reads JSON", () => {
    const s = parseTrafficSpec(`{"packets": 1000, "mix": {"icmp": 1}, "icmp": {"count": {"dist": "uniform", "min": 1, "max": 4}}}`, "s.json");
    expect(s.packets).toBe(1000);
    expect(s.icmp.count).toEqual({ dist: "uniform", min: 1, max: 4 });
  });

  it("names the file, line, column and key of each error", () => {
    let e = fails("duration: 1\nrate: 10\nmix:\n  tcp: 1\n  sctp: 3\n");
    expect([e.file, e.line, e.column, e.token]).toEqual(["spec.yaml", 5, 3, "sctp"]);
    expect(e.message).toContain("not a known key");
    e = fails("duration: 1\nrate: -5\n");
    expect([e.line, e.column, e.token]).toEqual([2, 7, "-5"]);
    e = fails("duration: 1\nclients: {count: 10, cidrs: [10.0.0.1/8]}\n");
    expect([e.line, e.column, e.token]).toEqual([2, 30, "10.0.0.1/8"]);
    e = fails("duration: 1\nclients: {count: 300, cidrs: [192.0.2.0/24]}\n");
    expect([e.line, e.token]).toEqual([2, "300"]);
    expect(e.message).toContain("more than the 256 addresses");
    e = fails("duration: 1\ntcp:\n  request: {dist: pareto, mean: 3}\n");
    expect([e.line, e.token]).toEqual([3, "mean"]);
    e = fails("duration: 1\ntcp:\n  request: {dist: zipf}\n");
    expect([e.line, e.token]).toEqual([3, "zipf"]);
    e = fails("rate: 10\n");
    expect(e.message).toContain(`needs "duration"`);
    e = fails("duration: 1\nmix: {tcp: 0}\n");
    expect(e.message).toContain("at least one weight");
    e = fails("duration: 1\nmix: {tcp: 1}}\n");
    expect([e.line, e.column]).toEqual([2, 14]);
    expect(e.message).toContain("not valid YAML");
    e = fails("packets: 1.5\n");
    expect([e.line, e.column, e.token]).toEqual([1, 10, "1.5"]);
  });

  it("a direction the node cannot serve is an error at its line", async () => {
    // the demo node without a ruleset: no services
    const node = buildDemoNode();
    const engine = await Engine.create({ seed: 1 });
    engine.load(parseSnapshotFiles(node.files, "demo"));
    const spec = parseTrafficSpec("duration: 1\ndirections:\n  pod-to-pod: 1\n  nodeport: 2\n", "spec.yaml");
    let err: unknown;
    try { createGenerator(spec, engine); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InputError);
    expect([(err as InputError).line, (err as InputError).token]).toEqual([4, "nodeport"]);
    expect((err as InputError).message).toContain("KUBE-NODEPORTS");
    // with the default directions, the node's own ones are used
    const gen = createGenerator(parseTrafficSpec("packets: 200\n", "d.yaml"), engine);
    const dv = new DataView(new ArrayBuffer(256 * 256));
    expect(gen.fill(dv, 0, 256)).toBeGreaterThan(0);
    expect(gen.stats().flows.byDirection.nodeport).toBe(0);
    // an ICMP-only mix with only service directions has nothing to carry it
    const { engine: withRules } = await demoEngine();
    err = undefined;
    try { createGenerator(parseTrafficSpec("duration: 1\nmix: {icmp: 1}\ndirections: {nodeport: 1}\n", "i.yaml"), withRules); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).token).toBe("nodeport");
  });

  it("an explicit view must name the node's interfaces", async () => {
    const { engine } = await demoEngine();
    const spec = parseTrafficSpec(`packets: 10
view:
  node-ip: 10.0.52.16
  enis: [{name: eth0, ips: [10.0.52.16]}]
  pods: [{ip: 10.0.38.28, veth: eniNOPE, eni: eth0}]
`, "v.yaml");
    expect(() => createGenerator(spec, engine)).toThrow(/eniNOPE/);
    const e = fails("packets: 1\nview:\n  enis: [{name: eth0, ips: [10.0.0.300]}]\n");
    expect([e.line, e.token]).toEqual([3, "10.0.0.300"]);
  });
});

describe("node view from a snapshot", () => {
  it("finds pods, ENIs, services and VPC CIDRs of the demo node", async () => {
    const { engine, node, cluster } = await demoEngine();
    const v = nodeViewFromSnapshot(engine.node.snapshot, engine.ruleset!.ruleset);
    expect(v.nodeIp).toBe(node.nodeIp);
    expect(v.enis.map((e) => e.name)).toEqual(["eth0", "eth1"]);
    expect(v.enis.map((e) => e.ips[0])).toEqual(node.eniIps);
    expect(new Set(v.pods.map((p) => `${p.ip} ${p.veth} ${p.eni}`))).toEqual(new Set(node.pods.map((p) => `${p.ip} ${p.veth} ${p.eni}`)));
    expect(v.vpcCidrs).toEqual(["10.0.0.0/16"]);
    const key = (s: { kind: string; ip: string; port: number; proto: string }) => `${s.kind === "lb" ? "loadbalancer" : s.kind} ${s.ip} ${s.port} ${s.proto}`;
    const viewed = new Set(v.services.map(key));
    // every frontend, less the external ones kube-proxy drops for want of a local endpoint (next test)
    const left = cluster.frontends.filter((f) => !viewed.has(key(f)));
    expect(left.length).toBeGreaterThan(0);
    expect(left.every((f) => f.kind !== "clusterip")).toBe(true);
    expect(viewed).toEqual(new Set(cluster.frontends.filter((f) => !left.includes(f)).map(key)));
  });

  it("leaves out the external frontends the node drops for want of a local endpoint, as an NLB's health check does", async () => {
    const { engine, cluster } = await demoEngine();
    const v = nodeViewFromSnapshot(engine.node.snapshot, engine.ruleset!.ruleset);
    const key = (s: { kind: string; ip: string; port: number; proto: string }) => `${s.kind === "lb" ? "loadbalancer" : s.kind} ${s.ip} ${s.port} ${s.proto}`;
    const viewed = new Set(v.services.map(key));
    engine.setTrace("matched");
    let kept = 0, left = 0, sport = 20000;
    for (const f of cluster.frontends.filter((x) => x.kind !== "clusterip")) {
      // a client's first packet to the frontend, as an NLB (instance target) delivers it on the primary ENI
      const [r] = engine.process([{ iif: "eth0", src: "52.94.7.9", dst: f.ip, proto: f.proto, sport: sport++, dport: f.port, flags: f.proto === "tcp" ? "S" : undefined }]);
      const noLocal = r!.verdict === "drop" && /has no local endpoints/.test(r!.nf_verdict ?? "");
      expect(viewed.has(key(f)), `${key(f)}: ${r!.verdict} ${r!.nf_verdict ?? ""}`).toBe(!noLocal);
      if (noLocal) left++; else kept++;
    }
    expect(kept).toBeGreaterThan(5);
    expect(left).toBeGreaterThan(0);
  });
});

describe("examples/traffic", () => {
  it("every example spec parses and generates traffic on the demo node", async () => {
    const { readdirSync } = await import("node:fs");
    const { fileURLToPath } = await import("node:url");
    const { loadTrafficSpec, runTraffic } = await import("../../host/traffic/index.js");
    const dir = fileURLToPath(new URL("../../examples/traffic/", import.meta.url));
    const files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) {
      const { engine } = await demoEngine();
      const gen = createGenerator(await loadTrafficSpec(dir + f), engine);
      const run = runTraffic(gen, engine, undefined, 20000);
      expect(run.packets, f).toBeGreaterThan(1000);
      expect(engine.conntrackStats().invalid, f).toBe(0);
    }
  });
});
