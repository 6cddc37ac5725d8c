/**
 * Rendered nodes against the kernel (root only): every node's
 * iptables-save.txt loads into a fresh namespace with iptables-legacy-restore
 * and iptables-legacy-save prints it back identically (comment/header lines
 * and counters aside); and the node's commands, run in a namespace with the
 * same links, give exactly the `ip rule show` and `ip route show table all`
 * we wrote.
 */
import { it, expect } from "vitest";
import { describeKernel } from "../kernel/kernel-gate.js";
import { run } from "../kernel/netns.js";
import { loadClusterFile } from "../../host/cluster/load.js";
import { renderCluster, type RenderedNode } from "../../host/cluster/render.js";

const CLUSTERS = [
  "examples/small/cluster.yaml",
  "examples/eks-3node/cluster.yaml",
  "examples/eks-3node-externalsnat/cluster.yaml",
  "test/cluster/fixtures/custom-pd.yaml",
];

let counter = 0;

async function withNamespace<T>(fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = `np-${process.pid}-cl${counter++}`;
  const add = await run("ip", ["netns", "add", ns]);
  if (add.code !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr}`);
  try {
    return await fn(ns);
  } finally {
    await run("ip", ["netns", "del", ns]);
  }
}

async function inNs(ns: string, cmd: string): Promise<string> {
  const argv = cmd.split(" ");
  const r = await run("ip", ["netns", "exec", ns, ...argv]);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
}

function normaliseSave(s: string): string {
  return s.split("\n").filter((l) => !l.startsWith("#")).map((l) => l.replace(/ \[\d+:\d+\]$/, " [0:0]")).join("\n");
}

function firstDifference(a: string, b: string): string {
  const x = a.split("\n");
  const y = b.split("\n");
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) return `line ${i + 1}:\n  ours:   ${x[i]}\n  kernel: ${y[i]}`;
  return "identical";
}

async function nodes(): Promise<RenderedNode[]> {
  const out: RenderedNode[] = [];
  for (const f of CLUSTERS) out.push(...renderCluster(await loadClusterFile(f)).nodes);
  return out;
}

describeKernel("rendered cluster nodes against the kernel", () => {
  it("iptables-save.txt of every node round-trips through iptables-legacy-restore / -save", async () => {
    for (const n of await nodes()) {
      const text = n.files["iptables-save.txt"];
      const dump = await withNamespace(async (ns) => {
        // touch the tables in the order the node's components first use them (the reverse of the printed order)
        const tables = text.split("\n").filter((l) => l.startsWith("*")).map((l) => l.slice(1));
        for (const t of [...tables].reverse()) await inNs(ns, `iptables-legacy -t ${t} -S`);
        const restore = await run("ip", ["netns", "exec", ns, "iptables-legacy-restore"], { input: text });
        if (restore.code !== 0) throw new Error(`${n.name}: iptables-legacy-restore failed: ${restore.stderr}`);
        return normaliseSave(await inNs(ns, "iptables-legacy-save"));
      });
      if (dump !== text) expect.fail(`${n.name}: iptables-legacy-save differs at ${firstDifference(text, dump)}`);
    }
  });

  it("the node's commands build exactly its ip rule and ip route files", async () => {
    for (const n of await nodes()) {
      const [rules, routes] = await withNamespace(async (ns) => {
        for (const k of ["all", "default"]) await inNs(ns, `sysctl -qw net.ipv6.conf.${k}.disable_ipv6=1`);
        await inNs(ns, "ip link set lo up");
        await inNs(ns, "sysctl -qw net.ipv6.conf.lo.disable_ipv6=1");
        // ENIs and host veths: veth links with the node's names (peers unaddressed), up, in ip-link.txt order
        const links = n.files["ip-link.txt"].split("\n").filter(Boolean).slice(1).map((l) => l.split(": ")[1].split("@")[0]);
        for (const [i, l] of links.entries()) {
          await inNs(ns, `ip link add ${l} type veth peer name npp${i}`);
          await inNs(ns, `ip link set ${l} up`);
          await inNs(ns, `ip link set npp${i} up`);
        }
        for (const c of n.commands) await inNs(ns, c);
        return [await inNs(ns, "ip rule show"), await inNs(ns, "ip route show table all")];
      });
      expect(rules, `${n.name} ip rule show`).toBe(n.files["ip-rule.txt"]);
      expect(routes, `${n.name} ip route show table all`).toBe(n.files["ip-route.txt"]);
    }
  });
});
