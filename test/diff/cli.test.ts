/**
 * `nodeplane diff` as a user runs it (dist/, built by `npm run build`):
 * exit status as diff(1) (0 same, 1 different, 2 trouble), errors that name
 * the file, deterministic output.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { eksNodeFiles, writeSnapshot } from "./fixtures.js";
import { CLI, ROOT } from "../repo.js";

interface Run { status: number | null; stdout: string; stderr: string }
function run(...args: string[]): Run {
  const env = { ...process.env };
  delete env.NODEPLANE_DEBUG;
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env, encoding: "utf8", timeout: 120_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Bad input: status 2, one short message naming `file`, no stack trace. */
function expectInputFailure(r: Run, ...parts: string[]): void {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const lines = r.stderr.split("\n").filter((l) => l && !l.startsWith("nodeplane: note: "));
  expect(lines[0]).toMatch(/^nodeplane: /);
  expect(lines.length, r.stderr).toBeLessThanOrEqual(3);
  for (const p of parts) expect(r.stderr).toContain(p);
}

let root: string;
let snat: string;
let extSnat: string;
let snatCopy: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "nodeplane-diff-cli-"));
  snat = writeSnapshot(eksNodeFiles(false).files, "snat", root);
  snatCopy = writeSnapshot(eksNodeFiles(false).files, "snat-copy", root);
  extSnat = writeSnapshot(eksNodeFiles(true).files, "externalsnat", root);
});

describe("nodeplane diff", () => {
  it("identical nodes: no differences, exit 0", () => {
    const r = run("diff", snat, snatCopy);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("structure: no differences");
    expect(r.stdout).toMatch(/behaviour: 120 flows, 0 changed, 120 unchanged/);
    expect(r.stdout).toContain("\nno differences\n");
    const j = JSON.parse(run("diff", "--json", snat, snat).stdout);
    expect(j.different).toBe(false);
    expect(j.nodes[0].behaviour.changes).toEqual([]);
  });

  it("EXTERNALSNAT off vs on: differences, exit 1, grouped by what changed", () => {
    const r = run("diff", snat, extSnat);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^@@ iptables -t nat AWS-SNAT-CHAIN-0 @@$/m);
    expect(r.stdout).toMatch(/^-:AWS-CONNMARK-CHAIN-0 -$/m);
    expect(r.stdout).toMatch(/^source address changes \(\d+ flows\):$/m);
    expect(r.stdout).toMatch(/^ {2}10\.0\.\d+\.\d+:\d+ -> [\d.]+:443 tcp \[pod-internet\]: SYN: SNAT to 10\.0\.\d+\.\d+ -> not translated \(5 packets\)$/m);
    expect(r.stdout).toMatch(/^source port translation changes \(\d+ flows\):$/m);
    expect(r.stdout).toContain("never by value (--random-fully");
    expect(r.stdout).toContain("\ndifferences found\n");
    const j = JSON.parse(run("diff", "--json", snat, extSnat).stdout);
    expect(j.different).toBe(true);
    expect(j.nodes[0].behaviour.changes.some((c: { category: string }) => c.category === "source address")).toBe(true);
  });

  it("is deterministic: the same bytes twice (text and JSON), and --seed changes the workload", () => {
    const a = run("diff", "--flows", "60", "--seed", "7", snat, extSnat);
    const b = run("diff", "--flows", "60", "--seed", "7", snat, extSnat);
    expect(a.stdout).toBe(b.stdout);
    expect(run("diff", "--json", "--seed", "7", snat, extSnat).stdout).toBe(run("diff", "--json", "--seed", "7", snat, extSnat).stdout);
    expect(run("diff", "--flows", "60", "--seed", "8", snat, extSnat).stdout).not.toBe(a.stdout);
  });

  it("--packets: a JSONL workload, each packet compared", () => {
    const files = eksNodeFiles(false);
    const pod = files.node.pods[0]!;
    const f = join(root, "in.jsonl");
    writeFileSync(f, [
      { iif: pod.veth, src: pod.ip, dst: "1.1.1.1", proto: "tcp", sport: 40000, dport: 443, flags: "S" },
      { iif: pod.veth, src: pod.ip, dst: files.node.pods[1]!.ip, proto: "tcp", sport: 40001, dport: 8080, flags: "S" },
    ].map((p) => JSON.stringify(p)).join("\n") + "\n");
    const r = run("diff", "--packets", f, snat, extSnat);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toContain("behaviour: 2 packets, 1 changed, 1 unchanged");
    expect(r.stdout).toContain(`line 1: ${pod.ip}:40000 -> 1.1.1.1:443 tcp: packet: SNAT to ${files.node.nodeIp} -> not translated`);
  });

  it("cluster files: nodes paired by name; a node on one side only is reported", () => {
    const d = mkdtempSync(join(tmpdir(), "nodeplane-diff-cl-"));
    cpSync(join(ROOT, "examples/small"), join(d, "a"), { recursive: true });
    cpSync(join(ROOT, "examples/small"), join(d, "b"), { recursive: true });
    const fa = join(d, "a", "cluster.yaml");
    const fb = join(d, "b", "cluster.yaml");
    const same = run("diff", fa, fb);
    expect(same.status, same.stderr + same.stdout).toBe(0);
    expect(same.stdout).toMatch(/^node ip-10-0-42-17\.ec2\.internal$/m);
    // rename the node on side b: each side has a node the other lacks
    writeFileSync(fb, readFileSync(fb, "utf8").replaceAll("ip-10-0-42-17.ec2.internal", "ip-10-0-42-99.ec2.internal"));
    const r = run("diff", fa, fb);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toContain(`only in a (${fa}): node ip-10-0-42-17.ec2.internal`);
    expect(r.stdout).toContain(`only in b (${fb}): node ip-10-0-42-99.ec2.internal`);
  });

  it("--node: one node of a cluster; an unknown name is an error", () => {
    const a = join(ROOT, "examples/eks-3node/cluster.yaml");
    const b = join(ROOT, "examples/eks-3node-externalsnat/cluster.yaml");
    const all = run("diff", a, b);
    expect(all.status, all.stderr).toBe(1);
    const names = [...all.stdout.matchAll(/^node (\S+)$/gm)].map((m) => m[1]!);
    expect(names).toHaveLength(3);
    const one = run("diff", "--node", names[1]!, a, b);
    expect(one.status, one.stderr).toBe(1);
    expect([...one.stdout.matchAll(/^node (\S+)$/gm)].map((m) => m[1])).toEqual([names[1]]);
    expect(one.stdout).toMatch(/^source address changes \(\d+ flows\):$/m);
    expectInputFailure(run("diff", "--node", "ip-1-2-3-4.nowhere", a, b), a, "ip-1-2-3-4.nowhere");
  });

  it("bad input: exit 2 with a message naming the file", () => {
    expectInputFailure(run("diff", join(root, "nope"), snat), join(root, "nope"), "no such snapshot directory or cluster file");
    // a broken route line
    const bad = writeSnapshot({ ...eksNodeFiles(false).files, "ip-route.txt": "default via 10.0.32.1 dev eth0 bogus 7\n" }, "bad-route", root);
    expectInputFailure(run("diff", snat, bad), join(bad, "ip-route.txt") + ":1", "bogus");
    // a broken iptables-save
    const badIpt = writeSnapshot({ ...eksNodeFiles(false).files, "iptables-save.txt": "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m frobnicate -j ACCEPT\nCOMMIT\n" }, "bad-ipt", root);
    expectInputFailure(run("diff", badIpt, snat), join(badIpt, "iptables-save.txt") + ":3", "frobnicate");
    // a packets file that is not JSONL
    const pk = join(root, "bad.jsonl");
    writeFileSync(pk, '{"iif":"eth0","dst":"1.2.3.4","proto":"tcp"}\n{not json\n');
    expectInputFailure(run("diff", "--packets", pk, snat, snat), `${pk}:2`);
    // a packet the engine refuses (unknown device) names the packets file and line
    writeFileSync(pk, '{"iif":"eth9","dst":"1.2.3.4","proto":"tcp"}\n');
    expectInputFailure(run("diff", "--packets", pk, snat, snat), `${pk}:1`, "eth9");
    // neither a directory nor a .yaml
    const txt = join(root, "x.txt");
    writeFileSync(txt, "hello\n");
    expectInputFailure(run("diff", txt, snat), txt, "expected a snapshot directory or a cluster file");
    // a broken cluster file
    const y = join(root, "broken.yaml");
    writeFileSync(y, "apiVersion: nodeplane/v1\nkind: Cluster\nname: x\nvpc: 7\n");
    expectInputFailure(run("diff", y, y), y);
    // options
    expectInputFailure(run("diff", "--flows", "0", snat, snat), "--flows");
  });
});
