/**
 * `nodeplane render --cluster FILE --out DIR`: renders every node of a
 * cluster file into DIR/<node-name>/ (a snapshot directory plus
 * build-netns.sh) and prints a summary: nodes, ENIs, pods placed, pods not
 * placed and why, iptables rule counts. Input errors exit 2 with file:line:col.
 */
import type { Command } from "commander";
import { join } from "node:path";
import { loadClusterFile } from "../cluster/load.js";
import { renderCluster, writeRenderedNode, type RenderedCluster } from "../cluster/render.js";

/** The summary `render` prints. */
export function formatRenderSummary(file: string, r: RenderedCluster, out?: string): string {
  const lines: string[] = [];
  const placed = r.nodes.reduce((n, x) => n + x.pods.length, 0);
  lines.push(`cluster ${file}: ${r.nodes.length} node${r.nodes.length === 1 ? "" : "s"}, ${placed} pod${placed === 1 ? "" : "s"} with VPC addresses, ${r.unscheduled.length} not placed`);
  for (const n of r.nodes) {
    const rules = Object.entries(n.iptablesRules).map(([t, c]) => `${t} ${c}`).join(", ");
    lines.push(`  ${n.name} (${n.instanceType}, max pods ${n.maxPods}): ${n.enis.length} ENI${n.enis.length === 1 ? "" : "s"}, ${n.pods.length} pod${n.pods.length === 1 ? "" : "s"}; iptables rules: ${rules}`);
    for (const e of n.enis) {
      const count = n.pods.filter((p) => p.eni === e.name).length;
      lines.push(`    ${e.name} ${e.ip} ${e.mac} ${e.subnet} table ${e.table === 254 ? "main" : e.table}: ${count} pod${count === 1 ? "" : "s"}`);
    }
    if (out) lines.push(`    wrote ${join(out, n.name)}/`);
  }
  if (r.unscheduled.length > 0) {
    lines.push("not placed:");
    for (const u of r.unscheduled) lines.push(`  ${u.pod} on ${u.node}: ${u.reason}`);
  }
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join("\n");
}

export function registerRender(program: Command): void {
  program
    .command("render")
    .description("render the nodes of an EKS cluster file into snapshot directories (DIR/<node>/)")
    .requiredOption("--cluster <file>", "cluster file (YAML, see examples/README.md)")
    .requiredOption("--out <dir>", "output directory; one snapshot directory per node")
    .action(async (opts: { cluster: string; out: string }) => {
      const spec = await loadClusterFile(opts.cluster);
      const r = renderCluster(spec);
      for (const n of r.nodes) await writeRenderedNode(n, join(opts.out, n.name));
      process.stdout.write(formatRenderSummary(opts.cluster, r, opts.out) + "\n");
    });
}
