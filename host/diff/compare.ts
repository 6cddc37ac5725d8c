/**
 * The behavioural comparison: the same flows played on two nodes, compared
 * packet by packet on what an observer outside the node would see — the
 * verdict (and drop reason), the egress interface and next hop, the source
 * and destination (address and port) as the packet leaves, and the packets
 * the node sends back.
 *
 * Source ports that NAT translated are compared as "translated" or not, not
 * by value: SNAT/MASQUERADE with --random-fully (aws-node and kube-proxy
 * both use it) picks them at random, so two runs of the same node differ.
 */
import type { PacketResult, ReplyResult } from "../packet/result.js";
import type { PlayedFlow, PlayedPacket } from "./play.js";
import type { Flow } from "./workload.js";

/** What is compared, in report order. */
export const CATEGORIES = [
  "verdict", "egress interface", "next hop", "source address", "source port", "destination address", "destination port", "replies",
] as const;
export type Category = typeof CATEGORIES[number];

/** One flow's change in one category: the first packet where it shows, and what each side did there. */
export interface FlowChange {
  flow: Flow;
  category: Category;
  step: string;
  a: string;
  b: string;
  /** Packets of the flow that differ in this category (at least 1). */
  packets: number;
}

function replyText(r: ReplyResult): string {
  let s = `${r.kind}`;
  if (r.kind === "icmp") s += ` type ${r.icmp_type ?? "?"} code ${r.icmp_code ?? 0}`;
  else s += ` ${r.flags ?? ""}`;
  s += ` ${r.src} -> ${r.dst} ${r.verdict}`;
  if (r.reason) s += ` (${r.reason})`;
  if (r.oif) s += ` via ${r.oif}`;
  return s;
}

function verdictText(r: PacketResult): string {
  if (r.verdict !== "drop") return r.verdict;
  return `drop (${r.reason ?? "?"}${r.nf_verdict ? `: ${r.nf_verdict}` : ""})`;
}

/** The value compared (key) and the words shown (text) for one category of one packet. */
interface Seen { key: string; text: string }

function seen(p: PlayedPacket, c: Category): Seen | undefined {
  const r = p.result;
  const i = p.input;
  const passed = r.verdict === "forward" || r.verdict === "local";
  switch (c) {
    case "verdict": { const v = verdictText(r); return { key: v, text: v }; }
    case "replies": {
      const t = r.replies.map(replyText).join("; ");
      return { key: t, text: t || "none" };
    }
    default: if (!passed) return undefined;
  }
  switch (c) {
    case "egress interface": return { key: r.oif ?? "", text: r.oif ?? "none" };
    case "next hop": return { key: r.nexthop ?? "", text: r.nexthop ?? "none" };
    case "source address": {
      const nat = p.from === "client" ? "SNAT to" : "translated to";
      if (i.src === undefined) return { key: r.src, text: r.src };
      return { key: r.src, text: r.src === i.src ? "not translated" : `${nat} ${r.src}` };
    }
    case "source port": {
      if (r.sport === undefined) return { key: "", text: "none" };
      // the client's port: translated (to a port we cannot predict) or kept
      if (p.from === "client") return r.sport === i.sport ? { key: String(r.sport), text: `${r.sport} (kept)` } : { key: "translated", text: "translated" };
      return { key: String(r.sport), text: String(r.sport) };
    }
    case "destination address": {
      const nat = p.from === "client" ? "DNAT to" : "translated to";
      return { key: r.dst, text: r.dst === i.dst ? `${r.dst} (not translated)` : `${nat} ${r.dst}` };
    }
    case "destination port": return { key: String(r.dport ?? ""), text: r.dport === i.dport ? `${r.dport} (not translated)` : `translated to ${r.dport}` };
  }
  return undefined;
}

/** What a side did with a step it never played. */
function absent(f: PlayedFlow): Seen {
  const t = `not sent (${f.stopped ?? "flow ended"})`;
  return { key: t, text: t };
}

/** Compares one flow as played on both sides; an empty list means it behaved the same. */
export function compareFlow(a: PlayedFlow, b: PlayedFlow): FlowChange[] {
  const out: FlowChange[] = [];
  const n = Math.max(a.packets.length, b.packets.length);
  for (const c of CATEGORIES) {
    let first: FlowChange | undefined;
    for (let k = 0; k < n; k++) {
      const pa = a.packets[k];
      const pb = b.packets[k];
      let x: Seen | undefined;
      let y: Seen | undefined;
      if (!pa || !pb) {
        if (c !== "verdict") continue; // a packet one side never sent shows as a verdict change
        x = pa ? seen(pa, c) : absent(a);
        y = pb ? seen(pb, c) : absent(b);
      } else {
        x = seen(pa, c);
        y = seen(pb, c);
        if (!x || !y) continue; // dropped on a side: the verdict says so
      }
      if (x!.key === y!.key) continue;
      if (first) first.packets++;
      else first = { flow: a.flow, category: c, step: (pa ?? pb)!.step, a: x!.text, b: y!.text, packets: 1 };
    }
    if (first) out.push(first);
  }
  return out;
}
