/**
 * The replay summary as one self-contained HTML page (`report.html`):
 * tables and charts, with chart.js (node_modules/chart.js/dist/chart.umd.js)
 * and the summary inlined, so it opens offline from anywhere. When every
 * chart has rendered, the page sets `data-charts-rendered="N"` on <body>
 * (N charts), which the tests check in headless Chromium; a script error
 * sets `data-report-error` instead.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Summary } from "./model.js";

let chartJs: string | undefined;
export function chartSource(): string {
  if (chartJs === undefined) {
    const main = createRequire(import.meta.url).resolve("chart.js"); // .../chart.js/dist/chart.cjs
    chartJs = readFileSync(join(dirname(main), "chart.umd.js"), "utf8");
  }
  return chartJs;
}

/** Text safe inside <script>: no "</script", no U+2028/2029 surprises. */
export function scriptSafe(s: string): string {
  return s.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

export function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

function fmt(n: number): string { return n.toLocaleString("en-US"); }

export function htmlTable(head: string[], rows: (string | number)[][]): string {
  if (!rows.length) return "<p class=none>none</p>";
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c) => typeof c === "number" ? `<td class=num>${fmt(c)}</td>` : `<td>${esc(c)}</td>`).join("")}</tr>`).join("") +
    "</tbody></table>";
}

/** The page's own script: draws the charts from the inlined summary. */
const PAGE_SCRIPT = `
(function () {
  try {
    var s = JSON.parse(document.getElementById("summary").textContent);
    var made = 0;
    function chart(id, type, labels, data, label, horizontal) {
      var el = document.getElementById(id);
      if (!el || !labels.length) return;
      new Chart(el, {
        type: type,
        data: { labels: labels, datasets: [{ label: label, data: data, backgroundColor: ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b7791f", "#c53030", "#319795", "#718096", "#d53f8c", "#4a5568"] }] },
        options: { animation: false, responsive: false, indexAxis: horizontal ? "y" : "x", plugins: { legend: { display: type === "doughnut" } } }
      });
      made++;
    }
    chart("c-verdicts", "doughnut", ["forwarded", "delivered locally", "dropped"], [s.verdicts.forward, s.verdicts.local, s.verdicts.drop], "packets");
    var eg = Object.keys(s.forwarded_by_interface).slice(0, 15);
    chart("c-egress", "bar", eg, eg.map(function (k) { return s.forwarded_by_interface[k].packets; }), "packets", false);
    var dr = Object.keys(s.drops);
    chart("c-drops", "bar", dr, dr.map(function (k) { return s.drops[k].packets; }), "packets", true);
    var nat = Object.keys(s.nat);
    chart("c-nat", "bar", nat, nat.map(function (k) { return s.nat[k]; }), "packets", false);
    var rules = s.iptables ? s.iptables.top_rules.slice(0, 10) : [];
    chart("c-rules", "bar", rules.map(function (r, i) { return "#" + (i + 1); }), rules.map(function (r) { return r.packets; }), "packets", true);
    var src = s.top_talkers.by_source.slice(0, 10), dst = s.top_talkers.by_destination.slice(0, 10);
    chart("c-src", "bar", src.map(function (x) { return x.addr; }), src.map(function (x) { return x.packets; }), "packets", true);
    chart("c-dst", "bar", dst.map(function (x) { return x.addr; }), dst.map(function (x) { return x.packets; }), "packets", true);
    document.body.setAttribute("data-charts-rendered", String(made));
  } catch (e) {
    document.body.setAttribute("data-report-error", String(e && e.message || e));
  }
})();
`;

export function renderHtmlReport(s: Summary): string {
  const total = s.input.packets;
  const canvas = (id: string, title: string, show: boolean, w = 560, h = 300) =>
    show ? `<section><h3>${esc(title)}</h3><canvas id="${id}" width="${w}" height="${h}"></canvas></section>` : "";
  const parts: string[] = [];
  parts.push(`<h1>nodeplane replay</h1><p class=sub>${esc(s.node)} &middot; ${esc(s.input.kind)} <code>${esc(s.input.file)}</code> &middot; seed ${s.seed}</p>`);
  if (s.input.error) parts.push(`<p class=err><b>Input error</b> (replay stopped there; everything before it was replayed): ${esc(s.input.error.message)}</p>`);
  const nodeSends = s.input.node_sends ?? 0;
  const copiesPaired = s.input.forwarded_copies_paired ?? 0;
  const unpaired = s.input.forwarded_copies_unpaired;
  parts.push(htmlTable(["", "packets", "share"], [
    ["input packets", total, ""],
    ...(nodeSends ? [["of them the node's own sends (replayed as local sends)", nodeSends, pct(nodeSends, total)] as (string | number)[]] : []),
    ...(copiesPaired ? [["of them paired with their forwarded copies in the capture", copiesPaired, pct(copiesPaired, total)] as (string | number)[]] : []),
    ["forwarded", s.verdicts.forward, pct(s.verdicts.forward, total)],
    ["delivered locally", s.verdicts.local, pct(s.verdicts.local, total)], ["dropped", s.verdicts.drop, pct(s.verdicts.drop, total)],
    ["sent back by the node", s.node_replies.packets, ""], ...Object.entries(s.input.skipped).map(([k, n]) => [`skipped: ${k}`, n, ""] as (string | number)[]),
    ...(unpaired !== undefined ? [["of the forwarded copies, unpaired (no original found)", unpaired, ""] as (string | number)[]] : []),
    ...Object.entries(s.input.fragments ?? {}).map(([k, n]) => [`IPv4 fragments: ${k}`, n, ""] as (string | number)[]),
    ...Object.entries(s.input.notes ?? {}).map(([k, n]) => [`note: ${k}`, n, ""] as (string | number)[]),
  ]));
  const cc = s.capture_copies;
  if (cc) {
    parts.push(`<h3>Against the capture's forwarded copies (what the kernel did)</h3>` + htmlTable(["", "packets", "share"], [
      ["packets with their copy in the capture", cc.packets, ""], ["left as the kernel sent them", cc.agree, pct(cc.agree, cc.packets)],
      ["dropped here", cc.dropped, pct(cc.dropped, cc.packets)], ["delivered locally here", cc.local, pct(cc.local, cc.packets)],
      ["forwarded by another device", cc.other_device, pct(cc.other_device, cc.packets)], ["translated otherwise", cc.other_header, pct(cc.other_header, cc.packets)],
    ]));
  }
  parts.push(`<div class=grid>`);
  parts.push(canvas("c-verdicts", "Verdicts", true, 360, 300));
  parts.push(canvas("c-egress", "Forwarded by egress interface", Object.keys(s.forwarded_by_interface).length > 0));
  parts.push(canvas("c-drops", "Drops by reason", Object.keys(s.drops).length > 0));
  parts.push(canvas("c-nat", "NAT operations", Object.keys(s.nat).length > 0));
  parts.push(canvas("c-rules", "Rules that matched most (see table)", (s.iptables?.top_rules.length ?? 0) > 0));
  parts.push(canvas("c-src", "Top sources", s.top_talkers.by_source.length > 0));
  parts.push(canvas("c-dst", "Top destinations", s.top_talkers.by_destination.length > 0));
  parts.push(`</div>`);
  parts.push(`<h2>Drops</h2>` + htmlTable(["reason", "packets", "why"], Object.entries(s.drops).map(([k, v]) => [k, v.packets, v.why])));
  parts.push(`<h2>Packets the node sent back</h2>` + htmlTable(["kind", "packets"], Object.entries(s.node_replies.by_kind)));
  if (s.iptables) {
    parts.push(`<h2>iptables</h2><p>${fmt(s.iptables.rules)} rules in ${fmt(s.iptables.chains)} chains; ${s.iptables.rules_traversed_per_packet} rules traversed per packet on average. ` +
      `Rule walks compiled: ${s.iptables.compiled_walks.length ? esc(s.iptables.compiled_walks.join(", ")) : "none (all interpreted)"}.</p>`);
    parts.push(htmlTable(["#", "packets", "bytes", "rule"], s.iptables.top_rules.map((r, i) => [`#${i + 1}`, r.packets, r.bytes, r.rule])));
  }
  if (s.conntrack) {
    parts.push(`<h2>Connection tracking</h2><p>${fmt(s.conntrack.entries)} entries at the end.</p>`);
    parts.push(htmlTable(["state of packets", "packets"], Object.entries(s.conntrack.states)));
    parts.push(htmlTable(["conntrack -S", "count"], Object.entries(s.conntrack.stats)));
  }
  parts.push(`<h2>Top talkers</h2><p>${esc(s.top_talkers.algorithm)}</p><div class=grid>` +
    `<section>${htmlTable(["source", "packets", "bytes"], s.top_talkers.by_source.map((x) => [x.addr, x.packets, x.bytes]))}</section>` +
    `<section>${htmlTable(["destination", "packets", "bytes"], s.top_talkers.by_destination.map((x) => [x.addr, x.packets, x.bytes]))}</section></div>`);
  parts.push(`<h2>Kernel counters (nstat names)</h2>` + htmlTable(["counter", "value"], Object.entries(s.counters)));
  parts.push(`<p class=sub>${fmt(s.timing.packets_per_second)} packets/s, ${s.timing.seconds} s, ${s.timing.workers} worker(s)</p>`);
  return htmlPage(`nodeplane replay: ${s.node}`, parts.join("\n"), s, PAGE_SCRIPT);
}

/**
 * A self-contained page: `body` (HTML), `data` inlined as the JSON of
 * <script id="summary">, chart.js, then `script` (which draws from it).
 */
export function htmlPage(title: string, body: string, data: unknown, script: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1a202c;max-width:1300px}
h1{margin:0 0 4px}.sub{color:#4a5568}.err{background:#fed7d7;padding:8px;border-radius:4px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #e2e8f0;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}.grid{display:flex;flex-wrap:wrap;gap:24px}code{background:#edf2f7;padding:0 3px}
.none{color:#718096}
</style></head>
<body>
${body}
<script id="summary" type="application/json">${JSON.stringify(data).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029")}</script>
<script>${scriptSafe(chartSource())}</script>
<script>${script}</script>
</body></html>
`;
}

function pct(n: number, total: number): string { return total ? `${((100 * n) / total).toFixed(1)}%` : "-"; }
