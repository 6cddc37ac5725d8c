/** Readable summaries for the terminal. */
import { DROP_TEXT } from "../packet/result.js";
import type { ReplayStats } from "../replay/jsonl.js";

function table(rows: [string, string][], indent = "  "): string {
  const w = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${indent}${k.padEnd(w)}  ${v}`).join("\n");
}

function pct(n: number, total: number): string {
  return total ? `${((100 * n) / total).toFixed(1)}%` : "-";
}

export function formatSummary(stats: ReplayStats, counters?: Record<string, number>): string {
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
  if (counters) {
    const nz = Object.entries(counters).filter(([, n]) => n !== 0);
    if (nz.length) out.push("kernel counters (nstat names):\n" + table(nz.map(([k, n]) => [k, String(n).padStart(9)])));
  }
  if (stats.seconds > 0) out.push(`throughput: ${Math.round(total / stats.seconds).toLocaleString("en-US")} packets/s (engine incl. JSON parse and format)`);
  return out.join("\n");
}
