/**
 * The diff as text (unified-diff-like, stable order) and as JSON.
 */
import type { DiffResult, NodeDiff } from "./node-diff.js";
import type { FlowChange, Category } from "./compare.js";
import { FLOW_KINDS, flowLabel, type Flow } from "./workload.js";

const CATEGORY_TITLE: Record<Category, string> = {
  "verdict": "verdict changes",
  "egress interface": "egress interface changes",
  "next hop": "next hop changes",
  "source address": "source address changes",
  "source port": "source port translation changes",
  "destination address": "destination address changes",
  "destination port": "destination port changes",
  "replies": "changes in the packets the node sends back",
};

/** "1 flow", "2 flows". */
function count(n: number, unit: string): string {
  return `${n} ${n === 1 ? unit.replace(/s$/, "") : unit}`;
}

function flowText(f: Flow): string {
  if (f.kind === "input") return `line ${f.line}: ${flowLabel(f)}`;
  return `${flowLabel(f)} [${f.kind}${f.service ? ` ${f.service}` : ""}]`;
}

function changeLine(c: FlowChange): string {
  const more = c.packets > 1 ? ` (${c.packets} packets)` : "";
  return `  ${flowText(c.flow)}: ${c.step}: ${c.a} -> ${c.b}${more}`;
}

function nodeText(n: NodeDiff, out: string[]): void {
  out.push(`node ${n.name}`, `--- a ${n.a}`, `+++ b ${n.b}`);
  if (!n.structural.length) out.push("structure: no differences");
  for (const s of n.structural) {
    out.push(`@@ ${s.section} @@`);
    s.hunks.forEach((h, i) => {
      if (i > 0) out.push("  ...");
      for (const e of h) out.push(`${e.op}${e.text}`);
    });
  }
  const b = n.behaviour;
  const changed = b.flows.length - b.unchanged;
  const unit = b.workload === "flows" ? "flows" : "packets";
  out.push(`behaviour: ${count(b.flows.length, unit)}, ${changed} changed, ${b.unchanged} unchanged`);
  if (b.workload === "flows") {
    const kinds = FLOW_KINDS.filter((k) => b.flows.some((f) => f.kind === k)).map((k) => {
      const all = b.flows.filter((f) => f.kind === k).length;
      const ch = new Set(b.changes.filter((c) => c.flow.kind === k).map((c) => c.flow.id)).size;
      return `  ${k}: ${count(all, "flows")}, ${all - ch} unchanged`;
    });
    out.push(...kinds);
    out.push(`  (VPC CIDRs ${b.vpcCidrs.join(", ")}, from ${b.vpcSource === "aws-node" ? "the aws-node SNAT/CONNMARK rules" : b.vpcSource === "cluster" ? "the cluster file" : "the ENI subnets"})`);
  }
  let cat: string | undefined;
  for (const c of b.changes) {
    if (c.category !== cat) {
      cat = c.category;
      const n = new Set(b.changes.filter((x) => x.category === cat).map((x) => x.flow.id)).size;
      out.push(`${CATEGORY_TITLE[c.category]} (${count(n, unit)}):`);
    }
    out.push(changeLine(c));
  }
}

/** The readable report. */
export function formatDiff(r: DiffResult): string {
  const out: string[] = [];
  for (const n of r.onlyA) out.push(`only in a (${r.a}): node ${n}`);
  for (const n of r.onlyB) out.push(`only in b (${r.b}): node ${n}`);
  for (const n of r.nodes) nodeText(n, out);
  out.push(r.different ? "differences found" : "no differences");
  out.push("note: source ports translated by SNAT/MASQUERADE are compared as translated or not, never by value (--random-fully picks them at random); kube-proxy's random endpoint choice is pinned to each service's last endpoint on both sides");
  return out.join("\n") + "\n";
}

/** The machine-readable report (stable key order). */
export function diffJson(r: DiffResult): string {
  const flow = (f: Flow) => {
    const o: Record<string, unknown> = { id: f.id, kind: f.kind, proto: f.proto, initiator: f.initiator, iif: f.iif };
    if (f.src !== undefined) o.src = f.src;
    o.dst = f.dst; o.sport = f.sport; o.dport = f.dport;
    if (f.service) o.service = f.service;
    if (f.line !== undefined) o.line = f.line;
    return o;
  };
  const j = {
    a: r.a,
    b: r.b,
    different: r.different,
    only_a: r.onlyA,
    only_b: r.onlyB,
    nodes: r.nodes.map((n) => ({
      name: n.name,
      a: n.a,
      b: n.b,
      structural: n.structural.map((s) => ({ section: s.section, hunks: s.hunks.map((h) => h.map((e) => `${e.op}${e.text}`)) })),
      behaviour: {
        workload: n.behaviour.workload,
        vpc_cidrs: n.behaviour.vpcCidrs,
        vpc_source: n.behaviour.vpcSource,
        unchanged: n.behaviour.unchanged,
        flows: n.behaviour.flows.map(flow),
        changes: n.behaviour.changes.map((c) => ({ category: c.category, flow: c.flow.id, label: flowLabel(c.flow), step: c.step, a: c.a, b: c.b, packets: c.packets })),
      },
    })),
    source_ports: "translated source ports are compared as translated or not, not by value (--random-fully)",
  };
  return JSON.stringify(j, null, 1) + "\n";
}
