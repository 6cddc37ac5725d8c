/**
 * The library in a browser: headless Chromium loads dist/host/index.js as ES
 * modules and build/core.wasm (fetched and compiled by the library itself,
 * WebAssembly.compileStreaming), loads the EKS fixture node and a ruleset,
 * and replays packets twice in one page; Node does the same. The results,
 * SNMP counters and connection tables must be the same, byte for byte: the
 * engine is deterministic with a seed, in either runtime (the ruleset draws
 * from the seeded PRNG: `statistic --mode random` and `--random-fully`).
 *
 * The page is served by a small static server (static-server.mjs) on the
 * loopback of a network namespace the test creates, where Chromium runs too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import type { PacketInput } from "../../host/packet/input.js";
import { eksFixtureFiles } from "../fixtures/eks-fixture.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { removeStaleNamespaces } from "../kernel/cleanup.js";
import { ROOT } from "../repo.js";

const SERVER = fileURLToPath(new URL("./static-server.mjs", import.meta.url));
const HAVE_CHROMIUM = spawnSync("sh", ["-c", "command -v chromium"]).status === 0;

const RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.0.0.10/32 -p tcp -m tcp --dport 30080 -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.0.0.55:8080
-A PREROUTING -d 10.0.0.10/32 -p tcp -m tcp --dport 30080 -j DNAT --to-destination 10.0.1.33:8080
-A POSTROUTING -s 10.0.0.0/16 ! -d 10.0.0.0/16 -j MASQUERADE --random-fully
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate INVALID -j DROP
-A INPUT -p udp -m udp --dport 69 -j REJECT
COMMIT
`;

/** Clients to a NodePort (split at random between two pods), pods to the internet (masqueraded, random ports), a few local answers. */
function packets(): PacketInput[] {
  const out: PacketInput[] = [];
  for (let i = 0; i < 40; i++) {
    out.push({ iif: "eth0", src: `52.1.${i >> 4}.${(i & 15) + 1}`, dst: "10.0.0.10", proto: "tcp", sport: 40000 + i, dport: 30080, flags: "S", seq: 1000 + i, win: 64240, t: i * 0.01 });
    out.push({ iif: i & 1 ? "eni1f3a2b4c5d6" : "eni7a8b9c0d1e2", src: i & 1 ? "10.0.0.55" : "10.0.1.33", dst: `8.8.${i}.8`, proto: "udp", sport: 5000 + i, dport: 53, t: i * 0.01 + 0.005 });
  }
  out.push({ iif: "eth0", src: "52.9.9.9", dst: "10.0.0.10", proto: "udp", sport: 7000, dport: 69, t: 1 });
  out.push({ iif: "eth0", src: "52.9.9.9", dst: "10.0.0.10", proto: "icmp", icmp_type: 8, icmp_id: 4, icmp_seq: 1, t: 1.1 });
  out.push({ iif: "eth0", src: "52.9.9.9", dst: "10.0.0.55", proto: "tcp", sport: 7001, dport: 8080, flags: "A", seq: 1, ack: 1, t: 1.2 });
  return out;
}

const PAGE = `<!doctype html><html><body><script type="module">
import { Engine, parseSnapshotFiles } from "/dist/host/index.js";
const out = (k, v) => document.body.setAttribute(k, encodeURIComponent(v));
try {
  const { files, rules, packets } = await (await fetch("/data.json")).json();
  const runs = [];
  for (let r = 0; r < 2; r++) {
    const snap = parseSnapshotFiles(files, "eks-node");
    const e = await Engine.create({ seed: 7 });
    e.load(snap, { hz: snap.hz });
    e.loadRuleset(rules, "rules");
    const results = e.process(packets);
    const jit = e.ruleset.stats.jit;
    runs.push(JSON.stringify({ results, counters: e.counters(), conntrack: e.conntrackList(), walks: jit.walks ?? jit.off }));
  }
  out("data-run-0", runs[0]);
  out("data-run-1", runs[1]);
} catch (err) {
  out("data-error", String(err && err.stack || err));
}
</script></body></html>`;

describeKernel("the library in a browser (headless Chromium), same results as Node", () => {
  const ns = `np-${process.pid}-browser`;
  let dir = "";
  let server: ChildProcess | undefined;
  const port = 8000 + (process.pid % 1000);

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) return;
    removeStaleNamespaces();
    spawnSync("ip", ["netns", "add", ns]);
    spawnSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
    dir = mkdtempSync(join(tmpdir(), "nodeplane-browser-"));
    symlinkSync(join(ROOT, "dist"), join(dir, "dist"));
    symlinkSync(join(ROOT, "build"), join(dir, "build"));
    writeFileSync(join(dir, "index.html"), PAGE);
    writeFileSync(join(dir, "data.json"), JSON.stringify({ files: eksFixtureFiles(), rules: RULES, packets: packets() }));
    server = spawn("ip", ["netns", "exec", ns, process.execPath, SERVER, dir, String(port)], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      server!.stdout!.once("data", () => resolve());
      server!.once("exit", (code) => reject(new Error(`static server exited ${code}`)));
    });
  }, 30_000);

  afterAll(() => {
    server?.kill();
    spawnSync("ip", ["netns", "del", ns]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!HAVE_CHROMIUM)("replays the same packets to the same results, counters and connections as Node, run after run", async () => {
    const profile = join(dir, "profile");
    const r = spawnSync("ip", ["netns", "exec", ns, "chromium", "--headless", "--no-sandbox", "--disable-gpu", `--user-data-dir=${profile}`,
      "--virtual-time-budget=30000", "--dump-dom", `http://127.0.0.1:${port}/index.html`], { encoding: "utf8", timeout: 120_000, maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    const attr = (k: string) => { const m = new RegExp(`${k}="([^"]*)"`).exec(r.stdout); return m ? decodeURIComponent(m[1]!) : undefined; };
    expect(attr("data-error")).toBeUndefined();
    const browser = [attr("data-run-0"), attr("data-run-1")];
    expect(browser[0], "the page produced no results").toBeDefined();
    // Node, the same inputs
    const snap = parseSnapshotFiles(eksFixtureFiles(), "eks-node");
    const e = await Engine.create({ seed: 7 });
    e.load(snap, { hz: snap.hz });
    e.loadRuleset(RULES, "rules");
    const results = e.process(packets());
    // the page compiled the same rule walks (host/netfilter/jit/) as Node
    const jit = e.ruleset!.stats.jit;
    expect("walks" in jit).toBe(true);
    const node = JSON.stringify({ results, counters: e.counters(), conntrack: e.conntrackList(), walks: "walks" in jit ? jit.walks : jit.off });
    expect(browser[0]).toBe(node);
    expect(browser[1]).toBe(node);
    // and the PRNG was in play: both pods got NodePort connections, masquerading chose ports
    expect(new Set(results.filter((x) => x.dport === 8080).map((x) => x.dst)).size).toBe(2);
  }, 180_000);
});
