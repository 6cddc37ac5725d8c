/** The replay summary as a readable table for the terminal (stdout). */
import type { Summary, seenCounts } from "./model.js";
import { SKIP_FORWARDED } from "../pcap/node-sends.js";

function fmt(n: number): string { return n.toLocaleString("en-US"); }
function pct(n: number, total: number): string { return total ? `${((100 * n) / total).toFixed(1)}%` : "-"; }

function table(rows: string[][], indent = "  "): string {
  if (!rows.length) return "";
  const w: number[] = [];
  for (const r of rows) r.forEach((c, i) => { w[i] = Math.max(w[i] ?? 0, c.length); });
  // numbers right-aligned, text left-aligned; the last column is never padded
  return rows.map((r) => indent + r.map((c, i) => i === r.length - 1 ? c : /^-?[\d,]+(\.\d+)?%?$/.test(c) ? c.padStart(w[i]!) : c.padEnd(w[i]!)).join("  ")).join("\n");
}

/** The capture_copies line: how the packets whose forwarded copy the capture holds compare with what the kernel did. */
export function seenLine(cc: ReturnType<typeof seenCounts>): string {
  const differ = [["dropped here", cc.dropped], ["delivered locally here", cc.local], ["forwarded by another device", cc.other_device], ["translated otherwise", cc.other_header]]
    .filter(([, n]) => (n as number) > 0).map(([k, n]) => `${fmt(n as number)} ${k}`);
  return `capture copies: ${fmt(cc.packets)} packets with their forwarded copy in the capture; ${fmt(cc.agree)} (${pct(cc.agree, cc.packets)}) left as the kernel sent them` +
    (differ.length ? `; differ: ${differ.join(", ")}` : "");
}

export function formatSummaryTable(s: Summary): string {
  const out: string[] = [];
  const total = s.input.packets;
  out.push(`nodeplane replay: ${s.node}`);
  const ns = s.input.node_sends;
  const cp = s.input.forwarded_copies_paired;
  const of = [...(ns ? [`${fmt(ns)} the node's own sends, replayed as local sends`] : []), ...(cp ? [`${fmt(cp)} paired with their forwarded copies`] : [])];
  out.push(`input: ${s.input.kind} ${s.input.file}: ${fmt(total)} packets${of.length ? ` (${of.join("; ")})` : ""}, ${fmt(s.input.bytes)} bytes (IPv4 total length)`);
  const sk = Object.entries(s.input.skipped);
  const unpaired = s.input.forwarded_copies_unpaired;
  const unpairedNote = (k: string) => (k === SKIP_FORWARDED && unpaired !== undefined ? ` (${fmt(unpaired)} of them unpaired)` : "");
  if (sk.length) out.push(`skipped: ${sk.map(([k, n]) => `${fmt(n)} ${k}${unpairedNote(k)}`).join(", ")}`);
  const notes = Object.entries(s.input.notes ?? {});
  if (notes.length) out.push(`note: ${notes.map(([k, n]) => `${fmt(n)} ${k}`).join(", ")}`);
  const fr = Object.entries(s.input.fragments ?? {});
  if (fr.length) out.push(`IPv4 fragments (conntrack reassembly): ${fr.map(([k, n]) => `${fmt(n)} ${k}`).join(", ")}`);
  const cc = s.capture_copies;
  if (cc) out.push(seenLine(cc));
  if (s.input.error) out.push(`INPUT ERROR (replay stopped there, everything before it was replayed): ${s.input.error.message}`);
  out.push("verdicts:\n" + table([
    ["forwarded", fmt(s.verdicts.forward), pct(s.verdicts.forward, total)],
    ["delivered locally", fmt(s.verdicts.local), pct(s.verdicts.local, total)],
    ["dropped", fmt(s.verdicts.drop), pct(s.verdicts.drop, total)],
  ]));
  const eg = Object.entries(s.forwarded_by_interface);
  if (eg.length) out.push("forwarded by egress interface:\n" + table(eg.slice(0, 12).map(([k, v]) => [k, fmt(v.packets), `${fmt(v.bytes)} B`])) + (eg.length > 12 ? `\n  ... ${eg.length - 12} more` : ""));
  const dr = Object.entries(s.drops);
  if (dr.length) out.push("drops by reason:\n" + table(dr.map(([k, v]) => [k, fmt(v.packets), v.why])));
  if (s.node_replies.packets) {
    out.push(`packets the node sent back: ${fmt(s.node_replies.packets)} (${fmt(s.node_replies.sent)} sent, ${fmt(s.node_replies.dropped)} dropped)\n` +
      table(Object.entries(s.node_replies.by_kind).map(([k, n]) => [k, fmt(n)])));
  }
  const nat = Object.entries(s.nat);
  if (nat.length) out.push("NAT operations:\n" + table(nat.map(([k, n]) => [k, fmt(n)])));
  if (s.iptables) {
    out.push(`iptables: ${fmt(s.iptables.rules)} rules in ${fmt(s.iptables.chains)} chains; ${s.iptables.rules_traversed_per_packet} rules traversed per packet on average`);
    out.push(`  rule walks compiled: ${s.iptables.compiled_walks.length ? s.iptables.compiled_walks.join(", ") : "none (all interpreted)"}`);
    if (s.iptables.top_rules.length) out.push("rules that matched most:\n" + table(s.iptables.top_rules.slice(0, 10).map((r) => [fmt(r.packets), r.rule])));
  }
  if (s.conntrack) {
    const st = Object.entries(s.conntrack.states);
    if (st.length) out.push("conntrack state of packets:\n" + table(st.map(([k, n]) => [k, fmt(n)])));
    out.push(`conntrack: ${fmt(s.conntrack.entries)} entries at the end; ` + Object.entries(s.conntrack.stats).map(([k, v]) => `${k}=${v}`).join(" "));
  }
  const talk = (name: string, xs: { addr: string; packets: number }[]) => xs.length ? `${name}:\n` + table(xs.slice(0, 8).map((x) => [x.addr, fmt(x.packets), pct(x.packets, total)])) : "";
  const ts = talk("top sources", s.top_talkers.by_source);
  const td = talk("top destinations", s.top_talkers.by_destination);
  if (ts) out.push(ts);
  if (td) out.push(td);
  const outs = Object.entries(s.outputs);
  if (outs.length) out.push("written:\n" + table(outs.map(([k, v]) => [k, v])));
  out.push(`throughput: ${fmt(s.timing.packets_per_second)} packets/s (${s.timing.seconds} s, ${s.timing.workers} worker${s.timing.workers === 1 ? "" : "s"})`);
  return out.join("\n");
}
