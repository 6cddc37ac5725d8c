/** Readable summaries for the terminal. */
import { DROP_TEXT } from "../packet/result.js";
import type { ReplayStats } from "../replay/jsonl.js";
import type { Engine } from "../engine.js";

function table(rows: [string, string][], indent = "  "): string {
  const w = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${indent}${k.padEnd(w)}  ${v}`).join("\n");
}

function pct(n: number, total: number): string {
  return total ? `${((100 * n) / total).toFixed(1)}%` : "-";
}

export function formatSummary(stats: ReplayStats, counters?: Record<string, number>, engine?: Engine): string {
  const total = stats.packets;
  const out: string[] = [];
  out.push(`packets: ${total}`);
  const v = ["forward", "local", "drop"].map((k) => [k, `${String(stats.verdicts[k] ?? 0).padStart(9)}  ${pct(stats.verdicts[k] ?? 0, total)}`] as [string, string]);
  out.push("verdicts:\n" + table(v));
  const oifs = Object.entries(stats.byOif).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (oifs.length) out.push("forwarded by egress interface:\n" + table(oifs.slice(0, 12).map(([k, n]) => [k, String(n).padStart(9)])) + (oifs.length > 12 ? `\n  ... ${oifs.length - 12} more` : ""));
  const drops = Object.entries(stats.drops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (drops.length) out.push("drops by reason:\n" + table(drops.map(([k, n]) => [k, `${String(n).padStart(9)}  ${DROP_TEXT[k] ?? ""}`])));
  const replies = Object.entries(stats.replies).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (replies.length) out.push("packets the node sent back:\n" + table(replies.map(([k, n]) => [k, String(n).padStart(9)])));
  const rs = engine?.ruleset;
  if (rs) {
    const mean = total ? stats.rulesTraversed / total : 0;
    out.push(`iptables: ${rs.stats.rules} rules in ${rs.stats.chains} chains; ${mean.toFixed(1)} rules traversed per packet on average`);
    const nat = Object.entries(stats.nat).sort((a, b) => a[0].localeCompare(b[0]));
    if (nat.length) out.push("NAT:\n" + table(nat.map(([k, n]) => [k, String(n).padStart(9)])));
    const cts = Object.entries(stats.ctstates).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (cts.length) out.push("conntrack state of packets:\n" + table(cts.map(([k, n]) => [k, String(n).padStart(9)])));
    const hot = engine!.ruleCounters()
      .map((c, id) => ({ id, n: Number(c.packets) }))
      .filter((x) => x.n > 0 && rs.entry(x.id)?.kind === "rule")
      .sort((a, b) => b.n - a.n || a.id - b.id)
      .slice(0, 8);
    if (hot.length) out.push("rules that matched most:\n" + table(hot.map((x) => [String(x.n).padStart(9), rs.entryText(x.id)])));
    if (rs.compiled.conntrack) {
      const st = engine!.conntrackStats();
      out.push(`conntrack: ${st.count} entries; ` + Object.entries(st).filter(([k, v]) => k !== "count" && v !== 0).map(([k, v]) => `${k}=${v}`).join(" "));
    }
  }
  if (counters) {
    const nz = Object.entries(counters).filter(([, n]) => n !== 0);
    if (nz.length) out.push("kernel counters (nstat names):\n" + table(nz.map(([k, n]) => [k, String(n).padStart(9)])));
  }
  if (stats.seconds > 0) out.push(`throughput: ${Math.round(total / stats.seconds).toLocaleString("en-US")} packets/s (engine incl. JSON parse and format)`);
  return out.join("\n");
}
