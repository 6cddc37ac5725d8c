/**
 * `nodeplane replay --pcap` with the ingress options (--ingress,
 * --ingress-index, --ingress-mac, --ingress-subnet), run as a child process
 * from dist/: captures whose frames the node cannot place by itself
 * (interface names it does not have, no names at all, peer MACs) fail with
 * an error naming the frame and the option that places it; with the
 * mapping they replay to the very summary and egress capture of the same
 * packets captured on interfaces named like the node's devices. Bad option
 * values are errors naming the option and the token.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CaptureWriter } from "../../host/pcap/write.js";
import type { PacketInput } from "../../host/packet/input.js";
import { demoEngine, demoNode, demoPackets, packetBytes, scratchDir, writeCapture } from "../pcap/helpers.js";
import { CLI, ROOT } from "../repo.js";

const { dir, cleanup } = scratchDir();
afterAll(cleanup);

interface Run { status: number | null; stdout: string; stderr: string }
function run(args: string[]): Run {
  const env = { ...process.env };
  delete env.NODEPLANE_DEBUG;
  const r = spawnSync(process.execPath, [CLI, "replay", ...args], { cwd: ROOT, env, encoding: "utf8", timeout: 120_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function digest(f: string): string { return createHash("sha256").update(readFileSync(f)).digest("hex"); }

/** summary.json without what names the input file or times the run. */
function summary(out: string): Record<string, unknown> {
  const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Record<string, Record<string, unknown>>;
  delete s.timing;
  delete s.input!.file;
  return s;
}

let snapshot: string;
let pkts: PacketInput[];
let bytes: Uint8Array[];
/** The capture with interfaces named like the node's devices: the reference. */
let named: string;
let devs: string[];

beforeAll(async () => {
  const { node, snap } = demoNode();
  snapshot = join(dir, "node");
  mkdirSync(snapshot);
  for (const [k, v] of Object.entries(node.files)) writeFileSync(join(snapshot, k), v);
  writeFileSync(join(snapshot, "iptables-save.txt"), snap.iptablesSave!);
  const e = await demoEngine();
  pkts = demoPackets(2000, 9);
  bytes = packetBytes(e, pkts);
  devs = [...new Set(pkts.map((p) => p.iif))];
  expect(devs.length).toBeGreaterThan(2);
  named = join(dir, "named.pcapng");
  await writeCapture(named, pkts, bytes, { format: "pcapng" });
}, 60_000);

/** Replays `file` with `extra` options into a fresh --out directory. */
function replayOut(name: string, file: string, extra: string[]): { r: Run; out: string } {
  const out = join(dir, `out-${name}`);
  const r = run(["--snapshot", snapshot, "--pcap", file, "--out", out, "--no-progress", ...extra]);
  return { r, out };
}

describe("replay --pcap: ingress options place the frames the node cannot place by itself", () => {
  it("--ingress IFNAME=DEV: pcapng interfaces named unlike the node's devices", async () => {
    const renamed = join(dir, "renamed.pcapng");
    const alias = (d: string) => `cap-${devs.indexOf(d)}`;
    await writeCapture(renamed, pkts.map((p) => ({ ...p, iif: alias(p.iif) })), bytes, { format: "pcapng" });
    // without the mapping: an error naming the frame, the interface and the option that places it
    const bad = run(["--snapshot", snapshot, "--pcap", renamed, "--no-progress"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("frame 1");
    expect(bad.stderr).toContain(`capture interface 0 is "${alias(pkts[0]!.iif)}", not a link of the node`);
    expect(bad.stderr).toContain(`--ingress ${alias(pkts[0]!.iif)}=DEV`);
    expect(bad.stderr).toContain("node links: ");
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    // with it: the summary and the egress capture of the reference
    const ref = replayOut("named", named, []);
    expect(ref.r.status, ref.r.stderr).toBe(0);
    const got = replayOut("renamed", renamed, devs.flatMap((d) => ["--ingress", `${alias(d)}=${d}`]));
    expect(got.r.status, got.r.stderr).toBe(0);
    expect(summary(got.out)).toEqual(summary(ref.out));
    expect(digest(join(got.out, "egress.pcapng"))).toBe(digest(join(ref.out, "egress.pcapng")));
    expect((summary(got.out).input as { packets: number }).packets).toBe(pkts.length);
  });

  it("--ingress-index N=DEV and --ingress-subnet CIDR=DEV: a classic pcap (one unnamed interface)", async () => {
    const sel = pkts.map((p, i) => [p, bytes[i]!] as const).filter(([p]) => p.iif === "eth0");
    expect(sel.length).toBeGreaterThan(100);
    const pcap = join(dir, "eth0.pcap");
    await writeCapture(pcap, sel.map((x) => x[0]), sel.map((x) => x[1]), { format: "pcap" });
    const ng = join(dir, "eth0.pcapng");
    await writeCapture(ng, sel.map((x) => x[0]), sel.map((x) => x[1]), { format: "pcapng" });
    const bad = run(["--snapshot", snapshot, "--pcap", pcap, "--no-progress"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("the capture does not say (no interface name, ifindex or MAC)");
    expect(bad.stderr).toContain("--ingress-index 0=DEV");
    expect(bad.stderr).toContain("--ingress-subnet CIDR=DEV");
    const ref = replayOut("eth0-ng", ng, []);
    expect(ref.r.status, ref.r.stderr).toBe(0);
    for (const [name, opts] of [["index", ["--ingress-index", "0=eth0"]], ["subnet", ["--ingress-subnet", "0.0.0.0/0=eth0"]]] as const) {
      const got = replayOut(`eth0-${name}`, pcap, [...opts]);
      expect(got.r.status, got.r.stderr).toBe(0);
      expect(summary(got.out), name).toEqual(summary(ref.out));
    }
    // the first matching subnet wins: a /32 that matches nothing, then a catch-all on another device, changes the ingress
    const other = replayOut("eth0-other", pcap, ["--ingress-subnet", "203.0.113.7/32=eth0", "--ingress-subnet", "0.0.0.0/0=eth1"]);
    expect(other.r.status, other.r.stderr).toBe(0);
    expect(summary(other.out)).not.toEqual(summary(ref.out));
  });

  it("--ingress-mac MAC=DEV: Ethernet frames to peer MACs", async () => {
    const two = pkts.map((p, i) => [p, bytes[i]!] as const).filter(([p]) => p.iif === "eth0" || p.iif === "eth1");
    const macOf: Record<string, string> = { eth0: "02:00:5e:00:00:0a", eth1: "02:00:5e:00:00:0b" };
    const hex = (m: string) => m.split(":").map((x) => parseInt(x, 16));
    const file = join(dir, "eth.pcap");
    const w = CaptureWriter.toFile(file, { format: "pcap", linkType: 1 });
    const id = w.addInterface("eth");
    for (const [p, b] of two) {
      const f = new Uint8Array(14 + b.length);
      f.set(hex(macOf[p.iif]!), 0);
      f.set(hex("02:aa:bb:cc:dd:ee"), 6);
      f[12] = 0x08; f[13] = 0x00;
      f.set(b, 14);
      w.packet(id, Math.round((p.t ?? 0) * 1e9), f, 0, f.length);
    }
    await w.close();
    const ng = join(dir, "two.pcapng");
    await writeCapture(ng, two.map((x) => x[0]), two.map((x) => x[1]), { format: "pcapng" });
    const bad = run(["--snapshot", snapshot, "--pcap", file, "--no-progress"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(`destination MAC ${macOf[two[0]![0].iif]} is not a MAC of the node's links`);
    expect(bad.stderr).toContain(`--ingress-mac ${macOf[two[0]![0].iif]}=DEV`);
    const ref = replayOut("two-ng", ng, []);
    expect(ref.r.status, ref.r.stderr).toBe(0);
    // MACs are matched whatever their case and leading zeros
    const got = replayOut("two-mac", file, ["--ingress-mac", "02:00:5E:0:0:0A=eth0", "--ingress-mac", `${macOf.eth1}=eth1`]);
    expect(got.r.status, got.r.stderr).toBe(0);
    expect(summary(got.out)).toEqual(summary(ref.out));
  });
});

describe("bad ingress option values: errors naming the option and the token", () => {
  const cases: [string, string[], string[]][] = [
    ["no =", ["--ingress", "ens5"], ['--ingress "ens5": expected IFNAME=DEV']],
    ["a device the node does not have", ["--ingress", "ens5=eth9"], ['--ingress: "eth9" is not a link of the node (links: ', "eth0, "]],
    ["not a MAC", ["--ingress-mac", "02:00:zz:00:00:01=eth0"], ['--ingress-mac "02:00:zz:00:00:01=eth0": "02:00:zz:00:00:01" is not a MAC address']],
    ["not a prefix", ["--ingress-subnet", "10.0.0.0/33=eth0"], ['--ingress-subnet "10.0.0.0/33=eth0": "10.0.0.0/33" is not an IPv4 prefix']],
    ["not an index", ["--ingress-index", "first=eth0"], ['--ingress-index "first=eth0": "first" is not a capture interface index']],
    ["mapped twice", ["--ingress", "ens5=eth0", "--ingress", "ens5=eth1"], ['--ingress "ens5=eth1": IFNAME "ens5" is mapped twice']],
    ["a MAC device the node does not have", ["--ingress-mac", "02:00:00:00:00:01=eth7"], ['--ingress-mac: "eth7" is not a link of the node']],
  ];
  for (const [name, opts, texts] of cases) {
    it(name, () => {
      const r = run(["--snapshot", snapshot, "--pcap", named, "--no-progress", ...opts]);
      expect(r.status, r.stdout).toBe(2);
      for (const t of texts) expect(r.stderr).toContain(t);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }
  for (const thread of ["on", "off"]) {
    it(`a capture interface mapping that places nothing (a misspelt name, an index beyond the capture's): an error at the end (decode thread ${thread})`, () => {
      for (const [opt, token, text] of [
        ["--ingress", "ens5=eth0", `--ingress maps capture interface "ens5", which the capture does not have (its interfaces: "${devs[0]}"`],
        ["--ingress-index", `${devs.length + 3}=eth0`, `--ingress-index maps capture interface ${devs.length + 3}, but the capture has ${devs.length} (`],
      ] as const) {
        const r = run(["--snapshot", snapshot, "--pcap", named, "--no-progress", "--decode-thread", thread, opt, token]);
        expect(r.status, r.stderr).toBe(2);
        expect(r.stderr).toContain(text);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        // everything was replayed first, and summarised
        expect(r.stdout).toContain(`${pkts.length.toLocaleString("en-US")} packets`);
      }
    });
  }

  it("without --pcap", () => {
    const jsonl = join(dir, "p.jsonl");
    writeFileSync(jsonl, JSON.stringify(pkts[0]) + "\n");
    const r = run(["--snapshot", snapshot, "--packets", jsonl, "--out", join(dir, "o-j"), "--ingress", "ens5=eth0"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--ingress: ingress mappings go with --pcap");
  });
});
