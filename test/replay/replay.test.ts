/**
 * `nodeplane replay` at scale, run as a child process from dist/ (built by
 * `npm run build`): each input kind, the --out directory, the summary's
 * determinism, a damaged capture, the HTML report in headless Chromium, the
 * egress capture in tshark, and the same results with 1 and 2 workers on
 * NAT-heavy traffic through the demo EKS node.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../host/engine.js";
import { generateWorkload } from "../../host/scenario/workload.js";
import { readNodeSpec, parseSpec } from "../../host/replay/setup.js";
import { recordGenerated } from "../../host/replay/record.js";
import { createGenerator, parseTrafficSpec } from "../../host/traffic/index.js";
import { writeDemoSnapshots } from "./demo-snapshots.js";
import { CLI, ROOT } from "../repo.js";

interface Run { status: number | null; stdout: string; stderr: string }
function run(args: string[], timeout = 120_000): Run {
  const env = { ...process.env };
  delete env.NODEPLANE_DEBUG;
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env, encoding: "utf8", timeout, maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let tmp: string;
let demo: string; // the demo EKS node (200 services), redirects on (the default)
let hardened: string; // the same node with send_redirects = 0 (CIS-hardened AMIs)
let nodeIp: string;
let jsonl: string;
let spec: string;
let natSpec: string;
let podSpec: string;
let pcap: string;
let pcapPackets: number;

const SPEC = (seed: number, packets: number, directions: string) => [
  `seed: ${seed}`, `packets: ${packets}`, "rate: 3000", "mix: {tcp: 80, udp: 15, icmp: 5}",
  `directions: {${directions}}`,
  "clients: {count: 2000, cidrs: [52.0.0.0/11], zipf: 1.0}",
  "servers: {count: 200, cidrs: [151.101.0.0/16], zipf: 1.1, tcp-ports: [443], udp-ports: [53]}",
  "tcp: {request: 800, response: 4000, exchanges: 2}", "",
].join("\n");
const NAT_HEAVY = "nodeport: 15, loadbalancer: 10, pod-ip: 5, pod-to-pod: 5, pod-to-clusterip: 35, pod-to-outside: 30";

/** A file's digest (the per-packet files are large: compare digests, not strings). */
function digest(f: string): string { return createHash("sha256").update(readFileSync(f)).digest("hex"); }

function summaryWithoutTiming(dir: string): Record<string, unknown> {
  const s = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as Record<string, unknown>;
  expect(s.timing).toBeDefined();
  delete s.timing;
  return s;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "nodeplane-replay-"));
  const snaps = writeDemoSnapshots(tmp);
  ({ demo, hardened } = snaps);
  const node = snaps.node;
  const cl = snaps.cluster;
  nodeIp = node.nodeIp;
  jsonl = join(tmp, "w.jsonl");
  writeFileSync(jsonl, generateWorkload(node, 3000, 7, 50000, cl.frontends).map((p) => JSON.stringify(p)).join("\n") + "\n");
  spec = join(tmp, "t.yaml");
  writeFileSync(spec, SPEC(3, 6000, NAT_HEAVY));
  natSpec = join(tmp, "nat.yaml");
  writeFileSync(natSpec, SPEC(11, 20000, NAT_HEAVY));
  podSpec = join(tmp, "pods.yaml"); // traffic any EKS node can serve (the small cluster has no load balancers)
  writeFileSync(podSpec, SPEC(4, 3000, "pod-ip: 20, pod-to-pod: 20, pod-to-clusterip: 30, pod-to-outside: 30"));
  // a capture of generated traffic, recorded through the same node and seed the replays use
  pcap = join(tmp, "t.pcapng");
  const snap = parseSpec(readNodeSpec(hardened));
  const engine = await Engine.create({ seed: 0 });
  engine.load(snap, { hz: snap.hz });
  const gen = createGenerator(parseTrafficSpec(SPEC(5, 8000, NAT_HEAVY), "capture.yaml"), engine);
  pcapPackets = (await recordGenerated(engine, gen, pcap, 0)).packets;
}, 120_000);

afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe("replay --out DIR with each input kind", () => {
  it("--packets JSONL: summary.json, report.html, egress.pcapng, a table on stdout; packets accounted for", () => {
    const out = join(tmp, "o-jsonl");
    const r = run(["replay", "--snapshot", demo, "--packets", jsonl, "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    for (const f of ["summary.json", "report.html", "egress.pcapng"]) expect(existsSync(join(out, f)), f).toBe(true);
    const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(s.input).toMatchObject({ kind: "jsonl", packets: 3000, error: null });
    // every packet is forwarded, delivered or dropped
    expect(s.verdicts.forward + s.verdicts.local + s.verdicts.drop).toBe(3000);
    const dropSum = Object.values(s.drops as Record<string, { packets: number }>).reduce((a, d) => a + d.packets, 0);
    expect(dropSum).toBe(s.verdicts.drop);
    expect(Object.keys(s)).toEqual(["nodeplane", "node", "seed", "input", "verdicts", "forwarded_by_interface", "drops", "node_replies",
      "local_out", "nat", "iptables", "conntrack", "counters", "top_talkers", "outputs", "timing"]);
    expect(s.nat.SNAT).toBeGreaterThan(0);
    expect(s.iptables.top_rules.length).toBeGreaterThan(5);
    expect(s.iptables.top_rules[0].rule).toMatch(/^-t \w+ -A /);
    expect(s.conntrack.entries).toBeGreaterThan(0);
    expect(s.top_talkers.by_source.length).toBeGreaterThan(0);
    expect(s.top_talkers.by_destination[0].packets).toBeGreaterThanOrEqual(s.top_talkers.by_destination[1].packets);
    expect(r.stdout).toContain("verdicts:");
    expect(r.stdout).toContain("rules that matched most:");
    expect(r.stdout).toContain("top sources:");
    expect(r.stdout).toMatch(/throughput: [\d,]+ packets\/s/);
  });

  it("--pcap: the capture's packets, ESTABLISHED replies (the capture was recorded with the replay's NAT choices)", () => {
    const out = join(tmp, "o-pcap");
    const r = run(["replay", "--snapshot", hardened, "--pcap", pcap, "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(s.input).toMatchObject({ kind: "pcap", packets: pcapPackets, error: null });
    expect(s.conntrack.states.ESTABLISHED).toBeGreaterThan(pcapPackets * 0.6);
    expect(s.conntrack.states.INVALID ?? 0).toBe(0);
  });

  it("--no-jit: the same summary and per-packet results with the rule walks interpreted", () => {
    const strip = (t: string) => t.replace(/throughput: .*\n/, "").replace(/ {2}rule walks compiled: .*\n/, "");
    for (const workers of ["1", "2"]) {
      const args = ["replay", "--snapshot", hardened, "--pcap", pcap, "--workers", workers, "--no-progress", "--jsonl", "-"];
      const a = run(args);
      const b = run([...args, "--no-jit"]);
      expect(a.status, a.stderr).toBe(0);
      expect(b.status, b.stderr).toBe(0);
      expect(a.stdout.length).toBeGreaterThan(100000);
      expect(strip(b.stdout)).toBe(strip(a.stdout));
      expect(strip(b.stderr)).toBe(strip(a.stderr));
      // the summary says which walks ran compiled
      expect(a.stderr).toMatch(/ {2}rule walks compiled: .*filter\/FORWARD/);
      expect(b.stderr).toContain("  rule walks compiled: none (all interpreted)");
    }
  });

  it("--pcap of the same traffic recorded with a snaplen (tcpdump -s 96): the same per-packet results and summary", async () => {
    const cut = join(tmp, "t-s96.pcapng");
    const snap = parseSpec(readNodeSpec(hardened));
    const engine = await Engine.create({ seed: 0 });
    engine.load(snap, { hz: snap.hz });
    const gen = createGenerator(parseTrafficSpec(SPEC(5, 8000, NAT_HEAVY), "capture.yaml"), engine);
    expect((await recordGenerated(engine, gen, cut, 0, Infinity, { snaplen: 96 })).packets).toBe(pcapPackets);
    expect(statSync(cut).size).toBeLessThan(statSync(pcap).size / 2);
    const strip = (t: string, f: string) => t.replace(/throughput: .*\n/, "").split(f).join("CAPTURE");
    for (const extra of [[], ["--decode-thread", "off"], ["--workers", "2"]]) {
      const args = ["--snapshot", hardened, "--no-progress", "--no-verify-checksums", "--jsonl", "-", ...extra];
      const a = run(["replay", "--pcap", pcap, ...args]);
      const b = run(["replay", "--pcap", cut, ...args]);
      expect(a.status, a.stderr).toBe(0);
      expect(b.status, b.stderr).toBe(0);
      expect(a.stdout.length).toBeGreaterThan(100000);
      expect(strip(b.stdout, cut)).toBe(strip(a.stdout, pcap));
      expect(strip(b.stderr, cut)).toBe(strip(a.stderr, pcap));
    }
    // checking checksums: those of the cut datagrams cannot be, and are counted
    const v = run(["replay", "--snapshot", hardened, "--pcap", cut, "--no-progress"]);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/[\d,]+ checksums not verified \(taken as right\)/);
  });

  it("--generate SPEC: closed-loop generated traffic", () => {
    const out = join(tmp, "o-gen");
    const r = run(["replay", "--snapshot", demo, "--generate", spec, "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(s.input).toMatchObject({ kind: "generate", packets: 6000 });
    expect(s.nat.DNAT).toBeGreaterThan(0);
    expect(s.nat.SNAT).toBeGreaterThan(0);
  });

  it("--cluster FILE (one node) and --cluster FILE --node NAME", () => {
    const a = run(["replay", "--cluster", "examples/small/cluster.yaml", "--generate", podSpec, "--out", join(tmp, "o-cl1")]);
    expect(a.status, a.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(tmp, "o-cl1", "summary.json"), "utf8")).node).toContain("ip-10-0-42-17.ec2.internal");
    const b = run(["replay", "--cluster", "examples/eks-3node/cluster.yaml", "--node", "ip-10-0-77-140.ec2.internal", "--packets", jsonl, "--out", join(tmp, "o-cl3")]);
    // the demo workload names the demo node's devices: the cluster node has others
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/w\.jsonl:1: "eni[0-9a-f]+": is not an interface of this node/);
    const c = run(["replay", "--cluster", "examples/eks-3node/cluster.yaml", "--generate", podSpec]);
    expect(c.status).toBe(2);
    expect(c.stderr).toContain("choose one with --node");
  });

  it("exactly one input; --jsonl with --out writes the per-packet results; no progress bar on a pipe", () => {
    const none = run(["replay", "--snapshot", demo, "--out", join(tmp, "x")]);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain("exactly one input");
    const two = run(["replay", "--snapshot", demo, "--packets", jsonl, "--pcap", pcap]);
    expect(two.status).toBe(2);
    const noNode = run(["replay", "--packets", jsonl]);
    expect(noNode.status).toBe(2);
    expect(noNode.stderr).toContain("give the node: --snapshot DIR or --cluster FILE");
    const out = join(tmp, "o-j");
    const r = run(["replay", "--snapshot", demo, "--packets", jsonl, "--out", out, "--jsonl", join(out, "results.jsonl")]);
    expect(r.status, r.stderr).toBe(0);
    const lines = readFileSync(join(out, "results.jsonl"), "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(3000);
    expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([...Array(3000).keys()]);
    expect(r.stderr).not.toContain("|"); // no progress bar drawn on a pipe
    expect(r.stderr).not.toContain("ETA");
  });

  it("the progress bar is drawn on a terminal (stderr a TTY)", () => {
    const out = join(tmp, "o-tty");
    const cmd = `${process.execPath} ${CLI} replay --snapshot ${demo} --packets ${jsonl} --out ${out} > /dev/null`;
    const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/replay \|.*\| \d+% \|/);
    expect(r.stdout).toMatch(/pkt\/s/);
  });
});

describe("summary.json is deterministic", () => {
  it("two runs: identical except the timing key", () => {
    const a = join(tmp, "det-a"), b = join(tmp, "det-b");
    expect(run(["replay", "--snapshot", demo, "--packets", jsonl, "--out", a]).status).toBe(0);
    expect(run(["replay", "--snapshot", demo, "--packets", jsonl, "--out", b]).status).toBe(0);
    expect(summaryWithoutTiming(a)).toEqual(summaryWithoutTiming(b));
    expect(digest(join(a, "egress.pcapng"))).toBe(digest(join(b, "egress.pcapng")));
  });
});

/** Offsets of the pcapng blocks of type `type` (6: enhanced packet block). */
function pcapngBlocks(buf: Buffer, type: number): number[] {
  const out: number[] = [];
  for (let o = 0; o + 12 <= buf.length;) {
    const t = buf.readUInt32LE(o), len = buf.readUInt32LE(o + 4);
    if (t === type) out.push(o);
    o += len;
  }
  return out;
}

describe("a damaged capture", () => {
  it("exit 2, the byte offset on stderr, and the summary of everything before the damage", () => {
    const buf = readFileSync(pcap);
    const epbs = pcapngBlocks(buf, 6);
    const k = 5000;
    const at = epbs[k]!;
    const damaged = join(tmp, "damaged.pcapng");
    writeFileSync(damaged, buf.subarray(0, at + 20)); // cut inside the record of frame k + 1
    const out = join(tmp, "o-damaged");
    const r = run(["replay", "--snapshot", hardened, "--pcap", damaged, "--out", out]);
    expect(r.status).toBe(2);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).toContain(`byte offset ${at}`);
    const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(s.input.packets).toBe(k);
    expect(s.input.error.offset).toBe(at);
    expect(s.input.error.message).toContain(damaged);
    expect(readFileSync(join(out, "report.html"), "utf8")).toContain("Input error");
  });
});

describe("the HTML report", () => {
  it("renders its charts in headless Chromium (offline, self-contained)", () => {
    const html = join(tmp, "o-jsonl", "report.html");
    const page = readFileSync(html, "utf8");
    // nothing fetched: no external scripts, styles or images
    expect(/<script[^>]+src=/.test(page)).toBe(false);
    expect(/(src|href)=["']?(https?:)?\/\//.test(page)).toBe(false);
    expect(page.length).toBeGreaterThan(100_000); // chart.js inlined
    const r = spawnSync("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom", `file://${html}`],
      { encoding: "utf8", timeout: 90_000, maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    expect(/<body[^>]*data-report-error=/.test(r.stdout)).toBe(false);
    const m = /data-charts-rendered="(\d+)"/.exec(r.stdout);
    expect(m, "the page did not mark its charts rendered").not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(6);
  }, 120_000);
});

describe("egress.pcapng in tshark", () => {
  it("SNATed pod traffic leaves eth0 with the node IP as source, as the per-packet results say", () => {
    const out = join(tmp, "o-egress");
    const r = run(["replay", "--snapshot", hardened, "--pcap", pcap, "--out", out, "--jsonl", join(out, "r.jsonl")]);
    expect(r.status, r.stderr).toBe(0);
    const results = readFileSync(join(out, "r.jsonl"), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as
      { verdict: string; oif?: string; src: string; dst: string; sport?: number; dport?: number; nat?: string[]; replies: { verdict: string; oif?: string }[] });
    const snat = results.filter((x) => x.verdict === "forward" && x.oif === "eth0" && x.nat?.includes("SNAT") && x.src === nodeIp && x.sport !== undefined);
    expect(snat.length).toBeGreaterThan(100);
    const t = spawnSync("tshark", ["-r", join(out, "egress.pcapng"), "-T", "fields", "-e", "frame.interface_name", "-e", "ip.src", "-e", "ip.dst", "-e", "tcp.srcport", "-e", "udp.srcport"],
      { encoding: "utf8", timeout: 60_000, maxBuffer: 256 << 20 });
    expect(t.status, t.stderr).toBe(0);
    const frames = t.stdout.trimEnd().split("\n").map((l) => l.split("\t"));
    const forwarded = results.filter((x) => x.verdict === "forward").length + results.reduce((a, x) => a + x.replies.filter((q) => q.verdict === "forward").length, 0);
    expect(frames).toHaveLength(forwarded);
    const onEth0 = new Set(frames.filter((f) => f[0] === "eth0").map((f) => `${f[1]} ${f[2]} ${f[3] || f[4]}`));
    for (const x of snat.slice(0, 200)) expect(onEth0.has(`${x.src} ${x.dst} ${x.sport}`), `${x.src}:${x.sport} -> ${x.dst}`).toBe(true);
    // no pod address leaves eth0 towards the internet (the VPC CNI SNATs it)
    const podToOutside = frames.filter((f) => f[0] === "eth0" && f[1]!.startsWith("10.0.") && f[1] !== nodeIp && f[2]!.startsWith("151.101."));
    expect(podToOutside).toHaveLength(0);
  });
});

describe("--workers: the same results with 1 and 2 workers", () => {
  it("NAT-heavy generated traffic (SNAT --random-fully, DNAT, NodePort masquerade, session affinity): identical summary and per-packet JSONL", () => {
    const outs = [1, 2].map((w) => {
      const out = join(tmp, `nat-w${w}`);
      const r = run(["replay", "--snapshot", hardened, "--generate", natSpec, "--workers", String(w), "--out", out, "--jsonl", join(out, "r.jsonl"),
        "--counters", join(out, "counters.txt"), "--conntrack-dump", join(out, "conntrack.txt")]);
      expect(r.status, r.stderr).toBe(0);
      // the generator's closed loop makes workers slower than one: said (workersWarning)
      expect(r.stderr.includes("warning: --workers 2 with --generate"), r.stderr).toBe(w === 2);
      return out;
    });
    const [a, b] = outs as [string, string];
    const sa = summaryWithoutTiming(a);
    expect(sa).toEqual(summaryWithoutTiming(b));
    // the rule counters summed over the workers, and the connection tables put together
    const counters = readFileSync(join(a, "counters.txt"), "utf8");
    expect(counters).toMatch(/^\[[1-9]\d*:\d+\] -A KUBE-SERVICES /m);
    expect(readFileSync(join(b, "counters.txt"), "utf8")).toBe(counters);
    const ct = readFileSync(join(a, "conntrack.txt"), "utf8");
    expect(ct.split("\n").length).toBeGreaterThan(1000);
    expect(readFileSync(join(b, "conntrack.txt"), "utf8")).toBe(ct);
    expect(digest(join(a, "r.jsonl"))).toBe(digest(join(b, "r.jsonl")));
    expect(digest(join(a, "egress.pcapng"))).toBe(digest(join(b, "egress.pcapng")));
    // it is NAT-heavy, and the replies found their connections (on the worker that made them)
    const s = sa as { input: { packets: number }; nat: Record<string, number>; conntrack: { states: Record<string, number> } };
    expect(s.input.packets).toBe(20000);
    expect(s.nat.SNAT).toBeGreaterThan(4000);
    expect(s.nat.DNAT).toBeGreaterThan(4000);
    expect(s.conntrack.states.ESTABLISHED).toBeGreaterThan(14000);
    expect(s.conntrack.states.INVALID ?? 0).toBe(0);
    const timing = JSON.parse(readFileSync(join(b, "summary.json"), "utf8")).timing;
    expect(timing.workers).toBe(2);
  }, 180_000);

  it("a capture: identical with 1 and 2 workers", () => {
    const outs = [1, 2].map((w) => {
      const out = join(tmp, `pcap-w${w}`);
      const r = run(["replay", "--snapshot", hardened, "--pcap", pcap, "--workers", String(w), "--out", out, "--jsonl", join(out, "r.jsonl")]);
      expect(r.status, r.stderr).toBe(0);
      return out;
    });
    expect(summaryWithoutTiming(outs[0]!)).toEqual(summaryWithoutTiming(outs[1]!));
    expect(digest(join(outs[0]!, "r.jsonl"))).toBe(digest(join(outs[1]!, "r.jsonl")));
    expect(digest(join(outs[0]!, "egress.pcapng"))).toBe(digest(join(outs[1]!, "egress.pcapng")));
  }, 120_000);

  it("with ICMP redirects on (the default node), the only differences are the node's rate-limited redirects (README)", () => {
    const res = [1, 2].map((w) => {
      const out = join(tmp, `redir-w${w}`);
      const r = run(["replay", "--snapshot", demo, "--generate", natSpec, "--workers", String(w), "--out", out, "--jsonl", join(out, "r.jsonl")]);
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(join(out, "r.jsonl"), "utf8").trimEnd().split("\n");
    });
    let differing = 0;
    for (let i = 0; i < res[0]!.length; i++) {
      if (res[0]![i] === res[1]![i]) continue;
      differing++;
      const x = JSON.parse(res[0]![i]!), y = JSON.parse(res[1]![i]!);
      // the same packet outcome; only which redirects the per-peer backoff let through
      const strip = (o: { replies: { icmp_type?: number }[] }) => ({ ...o, replies: o.replies.filter((q) => q.icmp_type !== 5) });
      expect(strip(x)).toEqual(strip(y));
    }
    expect(res[0]!.length).toBe(res[1]!.length);
    expect(differing).toBeLessThan(res[0]!.length / 100);
  }, 180_000);
});
