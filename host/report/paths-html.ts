/**
 * `nodeplane paths --html FILE`: the NLB's two paths (host/replay/paths.ts)
 * as one self-contained page, the table and grouped bar charts (instance
 * target against IP target), built like the replay report (html.ts: chart.js
 * and the data inlined; `data-charts-rendered="N"` on <body> once every
 * chart is drawn, `data-report-error` on a script error).
 */
import { esc, htmlPage, htmlTable } from "./html.js";
import { formatPathsTable, type PathsReport } from "../replay/paths.js";

/** The page's script: each chart compares the two paths (r.paths[0], r.paths[1]). */
const PAGE_SCRIPT = `
(function () {
  try {
    var r = JSON.parse(document.getElementById("summary").textContent);
    var a = r.paths[0], b = r.paths[1], made = 0;
    function chart(id, labels, da, db, horizontal) {
      var el = document.getElementById(id);
      if (!el || !labels.length) return;
      new Chart(el, {
        type: "bar",
        data: { labels: labels, datasets: [
          { label: a.title, data: da, backgroundColor: "#c05621" },
          { label: b.title, data: db, backgroundColor: "#2b6cb0" }] },
        options: { animation: false, responsive: false, indexAxis: horizontal ? "y" : "x" }
      });
      made++;
    }
    function per(p, n) { return p.packets ? n / p.packets : 0; }
    function nat(p) { return (p.nat.DNAT || 0) + (p.nat.SNAT || 0); }
    chart("c-time", ["node time per packet (ns)"], [a.nsPerPacket], [b.nsPerPacket]);
    chart("c-work", ["rules traversed", "address rewrites"], [a.rulesTraversedPerPacket, per(a, nat(a))], [b.rulesTraversedPerPacket, per(b, nat(b))]);
    chart("c-ct", ["conntrack entries", "SNATed connections", "SNAT ports, busiest destination"],
      [a.conntrack.entries, a.conntrack.snatEntries, a.conntrack.snatPortsMaxPerDestination],
      [b.conntrack.entries, b.conntrack.snatEntries, b.conntrack.snatPortsMaxPerDestination]);
    var devs = Object.keys(a.forwardedByInterface);
    Object.keys(b.forwardedByInterface).forEach(function (k) { if (devs.indexOf(k) < 0) devs.push(k); });
    devs.sort(function (x, y) {
      var d = ((b.forwardedByInterface[y] || 0) + (a.forwardedByInterface[y] || 0)) - ((b.forwardedByInterface[x] || 0) + (a.forwardedByInterface[x] || 0));
      return d || (x < y ? -1 : 1);
    });
    devs = devs.slice(0, 12);
    chart("c-dev", devs, devs.map(function (k) { return a.forwardedByInterface[k] || 0; }), devs.map(function (k) { return b.forwardedByInterface[k] || 0; }), true);
    document.body.setAttribute("data-charts-rendered", String(made));
  } catch (e) {
    document.body.setAttribute("data-report-error", String(e && e.message || e));
  }
})();
`;

export function renderPathsHtml(r: PathsReport): string {
  const [a, b] = r.paths;
  const canvas = (id: string, title: string, w = 560, h = 300) =>
    `<section><h3>${esc(title)}</h3><canvas id="${id}" width="${w}" height="${h}"></canvas></section>`;
  const drops = [...new Set([...Object.keys(a!.drops), ...Object.keys(b!.drops)])].sort();
  const body = [
    `<h1>nodeplane paths</h1><p class=sub>${esc(r.node)} &middot; traffic <code>${esc(r.traffic)}</code> (seed ${r.trafficSeed}) &middot; engine seed ${r.seed}</p>`,
    `<p>The same NLB traffic with instance targets (NodePort) and with IP targets (pod IP). ` +
      `IP targets' TCP connections come from ${esc(r.ipTargetSource)}. Node time: median of ${r.rounds} alternating rounds per path.</p>`,
    `<div class=grid>`,
    canvas("c-time", "Node time per packet", 420),
    canvas("c-work", "Per packet"),
    canvas("c-ct", "Connections at the end"),
    canvas("c-dev", "Forwarded by device"),
    `</div>`,
    `<h2>Drops</h2>` + htmlTable(["reason", a!.title, b!.title], drops.map((k) => [k, a!.drops[k] ?? 0, b!.drops[k] ?? 0])),
    `<h2>The table</h2><pre>${esc(formatPathsTable(r))}</pre>`,
  ].join("\n");
  return htmlPage(`nodeplane paths: ${r.node}`, body, r, PAGE_SCRIPT);
}
