/**
 * Comparing the emulator with the kernel, packet by packet.
 *
 * Each side is reduced to the frames that leave the node: the packet itself
 * (forwarded or sent) and the packets the node answers with (ICMP errors,
 * echo replies, TCP resets). A packet that is delivered locally or dropped
 * leaves nothing but its answers, so the per-batch SNMP counter deltas are
 * compared too (they tell delivery from drop, and name the drop).
 */
import type { PacketResult } from "../../host/packet/result.js";
import type { PacketInput } from "../../host/packet/input.js";
import type { Engine } from "../../host/engine.js";
import type { InjectPacket, Observation, Seen } from "./netns.js";
import type { KernelNode } from "./netns.js";
import { tcpFlagsToLetters, trailerLen } from "./frames.js";

/** Counters compared after every batch (nstat names). */
export const COMPARED_COUNTERS = [
  "IpInReceives", "IpInHdrErrors", "IpInAddrErrors", "IpForwDatagrams", "IpInUnknownProtos", "IpInDelivers",
  "IpOutRequests", "IpOutNoRoutes", "IpFragOKs", "IpFragFails", "IpFragCreates", "IpExtInNoRoutes",
  "IcmpOutMsgs", "IcmpOutDestUnreachs", "IcmpOutTimeExcds", "IcmpOutRedirects", "IcmpOutEchoReps",
  "IcmpInMsgs", "IcmpInEchos", "IcmpInDestUnreachs", "IcmpInTimeExcds", "IcmpInEchoReps",
  "TcpExtIPReversePathFilter", "TcpOutRsts", "UdpNoPorts", "UdpInDatagrams",
  // ip_rcv_core's bytes and ECN codepoints, ip_finish_output2's transmits and bytes
  "IpExtInOctets", "IpExtInNoECTPkts", "IpExtInECT1Pkts", "IpExtInECT0Pkts", "IpExtInCEPkts", "IpOutTransmits", "IpExtOutOctets",
];

/** Frame key for a frame the kernel sent; `p` is the injected packet it is attributed to. */
export function kernelFrameKey(s: Seen, p?: InjectPacket): string {
  // the packet itself, forwarded or sent (same direction as injected)
  if (p && s.dst === p.dst && (p.src === undefined || s.src === p.src || p.iif === "local") && s.proto === protoOf(p)) {
    return `pkt ${s.ifname} ${s.src}>${s.dst} p=${s.proto} ttl=${s.ttl}`;
  }
  if (s.icmp && (s.icmp.type === 3 || s.icmp.type === 5 || s.icmp.type === 11 || s.icmp.type === 12)) {
    let rest = "";
    if (s.icmp.type === 5) rest = ` gw=${ipOf(s.icmp.rest)}`;
    if (s.icmp.type === 3 && s.icmp.code === 4) rest = ` mtu=${s.icmp.rest & 0xffff}`;
    return `icmp ${s.ifname} ${s.src}>${s.dst} ${s.icmp.type}/${s.icmp.code} ttl=${s.ttl} len=${s.len}${rest}`;
  }
  if (s.icmp && s.icmp.type === 0) return `icmp ${s.ifname} ${s.src}>${s.dst} 0/${s.icmp.code} ttl=${s.ttl} len=${s.len}`;
  if (s.proto === 6 && s.tcpFlags?.includes("R")) {
    return `rst ${s.ifname} ${s.src}:${s.sport}>${s.dst}:${s.dport} ${s.tcpFlags} seq=${s.seq} ack=${s.tcpFlags.includes("A") ? s.ack : 0} ttl=${s.ttl}`;
  }
  return `pkt ${s.ifname} ${s.src}>${s.dst} p=${s.proto} ttl=${s.ttl}`;
}

function protoOf(p: InjectPacket): number {
  return typeof p.proto === "number" ? p.proto : p.proto === "tcp" ? 6 : p.proto === "udp" ? 17 : 1;
}

function ipOf(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** The frames the emulator says leave the node for one packet. */
export function emulatorFrameKeys(r: PacketResult, proto: number): string[] {
  const keys: string[] = [];
  if (r.verdict === "forward" && r.oif) {
    const n = r.frags ?? 1;
    for (let i = 0; i < n; i++) keys.push(`pkt ${r.oif} ${r.src}>${r.dst} p=${proto} ttl=${r.ttl}`);
  }
  for (const q of r.replies) {
    if (q.verdict !== "forward" || !q.oif) continue;
    if (q.kind === "icmp") {
      let rest = "";
      if (q.icmp_type === 5) rest = ` gw=${q.gateway}`;
      if (q.icmp_type === 3 && q.icmp_code === 4) rest = ` mtu=${q.mtu}`;
      keys.push(`icmp ${q.oif} ${q.src}>${q.dst} ${q.icmp_type}/${q.icmp_code} ttl=${q.ttl} len=${q.len}${rest}`);
    } else {
      keys.push(`rst ${q.oif} ${q.src}:${q.sport}>${q.dst}:${q.dport} ${q.flags} seq=${q.seq} ack=${q.flags?.includes("A") ? q.ack : 0} ttl=${q.ttl}`);
    }
  }
  return keys.sort();
}

/** errno a local sender sees for an emulator drop reason. */
export const REASON_ERRNO: Record<string, string> = {
  BAD_SOURCE: "EADDRNOTAVAIL", IP_INNOROUTES: "ENETUNREACH", IP_INADDRERRORS: "EHOSTUNREACH", PROHIBIT: "EACCES",
  BLACKHOLE: "EINVAL", OUTPUT_EINVAL: "EINVAL", MSGSIZE: "EMSGSIZE", NO_DEVICE: "ENETUNREACH", SOCK_BROADCAST: "EACCES",
};

/** Converts a harness packet to the replay input format (with its kernel send time). */
export function toReplayInput(p: InjectPacket, obs: Observation, t0: number): PacketInput {
  const q: PacketInput = { iif: p.iif, dst: p.dst, proto: p.proto as PacketInput["proto"], id: p.id };
  if (p.src !== undefined) q.src = p.src;
  if (p.iif === "local" && obs.bound) {
    q.src = obs.bound.src;
    if (obs.bound.sport !== undefined) q.sport = obs.bound.sport;
  }
  if (p.sport !== undefined && q.sport === undefined) q.sport = p.sport;
  if (p.dport !== undefined) q.dport = p.dport;
  if (p.proto === "tcp") {
    q.flags = p.flags ?? "S";
    if (p.seq !== undefined) q.seq = p.seq;
    if (p.ack !== undefined) q.ack = p.ack;
  }
  if (p.proto === "icmp") {
    q.icmp_type = p.icmpType ?? 8;
    q.icmp_code = p.icmpCode ?? 0;
    if (p.icmpId !== undefined) q.icmp_id = p.icmpId;
    if (p.icmpSeq !== undefined) q.icmp_seq = p.icmpSeq;
  }
  if (p.ttl !== undefined) q.ttl = p.ttl;
  else if (p.iif !== "local") q.ttl = 64;
  if (p.tos !== undefined) q.tos = p.tos;
  if (p.df !== undefined) q.df = p.df;
  q.len = p.len ?? (p.proto === "tcp" ? 40 : p.proto === "udp" || p.proto === "icmp" ? 28 : 20);
  if (p.mark !== undefined) q.mark = p.mark;
  if (p.oif !== undefined) q.oif = p.oif;
  if (p.uid !== undefined) q.uid = p.uid;
  if (obs.sentNs !== undefined) q.t = (obs.sentNs - t0) / 1e9;
  // the frame's bytes after the datagram (a transport header longer than len): IpExtInOctets counts them
  if (p.iif !== "local" && p.src !== undefined) { const pad = trailerLen(p); if (pad > 0) q.pad = pad; }
  return q;
}

export interface Disagreement { what: string; kernel: string; emulator: string }

/**
 * Runs `packets` through the kernel node and the engine (same order, same
 * relative times) and returns every disagreement. `t0` anchors the engine's
 * clock to the kernel's monotonic clock (keep it for the whole engine life).
 */
export async function comparePackets(kernel: KernelNode, engine: Engine, packets: InjectPacket[], t0: { ns?: number }): Promise<{ disagreements: Disagreement[]; compared: number }> {
  const before = await kernel.nstat();
  const res = await kernel.inject(packets);
  const after = await kernel.nstat();
  const obsById = new Map(res.observations.map((o) => [o.id, o]));
  const inputs: PacketInput[] = [];
  const used: InjectPacket[] = [];
  for (const p of packets) {
    const o = obsById.get(p.id)!;
    if (p.iif !== "local" && o.error) continue; // the harness could not send it (e.g. EMSGSIZE on the wire)
    if (t0.ns === undefined) t0.ns = o.sentNs ?? 0;
    used.push(p);
    inputs.push(toReplayInput(p, o, t0.ns));
  }
  const c0 = engine.counters();
  const results = engine.process(inputs);
  const c1 = engine.counters();
  const out: Disagreement[] = [];
  results.forEach((r, i) => {
    const p = used[i];
    const o = obsById.get(p.id)!;
    const desc = describeInput(inputs[i]);
    if (p.iif === "local" && o.error) {
      const want = o.error;
      const got = r.verdict === "drop" ? (REASON_ERRNO[r.reason!] ?? r.reason!) : r.verdict;
      if (got !== want) out.push({ what: `${desc}: local send error`, kernel: want, emulator: `${r.verdict} ${r.reason ?? ""} ${JSON.stringify(r)}` });
      return;
    }
    const k = o.out.map((f) => kernelFrameKey(f, p)).sort();
    const e = emulatorFrameKeys(r, typeof p.proto === "number" ? p.proto : p.proto === "tcp" ? 6 : p.proto === "udp" ? 17 : 1);
    if (k.join("\n") !== e.join("\n")) {
      out.push({ what: `${desc}: frames leaving the node`, kernel: k.join(" | ") || "(nothing)", emulator: `${e.join(" | ") || "(nothing)"}  [${r.verdict}${r.reason ? " " + r.reason : ""}]` });
    }
  });
  if (res.unmatched.length) {
    out.push({ what: "frames the kernel sent that no packet explains", kernel: res.unmatched.map((f) => kernelFrameKey(f)).join(" | "), emulator: "(none)" });
  }
  for (const name of COMPARED_COUNTERS) {
    const dk = (after[name] ?? 0) - (before[name] ?? 0);
    const de = (c1[name] ?? 0) - (c0[name] ?? 0);
    if (dk !== de) out.push({ what: `counter ${name} over the batch`, kernel: String(dk), emulator: String(de) });
  }
  return { disagreements: out, compared: used.length };
}

export function describeInput(q: PacketInput): string {
  const ports = q.proto === "tcp" || q.proto === "udp" ? ` ${q.sport ?? "?"}>${q.dport ?? "?"}` : q.proto === "icmp" ? ` icmp ${q.icmp_type}/${q.icmp_code}` : "";
  const extra = [q.flags ? `flags=${q.flags}` : "", `ttl=${q.ttl}`, q.df ? "df" : "", `len=${q.len}`, q.tos ? `tos=${q.tos}` : "", q.mark ? `mark=${q.mark}` : "", q.oif ? `oif=${q.oif}` : ""].filter(Boolean).join(" ");
  return `#${q.id} ${q.iif} ${q.src ?? "-"} > ${q.dst} ${q.proto}${ports} ${extra}`;
}

export { tcpFlagsToLetters };

/**
 * When a batch's counters disagree, find the packets responsible: rebuild the
 * node and replay the batch one packet at a time on both sides (same order),
 * comparing counter deltas after each. Slow; only used to explain a failure.
 */
export async function diagnoseCounters(
  spec: import("./netns.js").KernelNodeSpec, makeEngine: (files: Record<string, string>) => Promise<Engine>,
  packets: InjectPacket[], limit = 4,
): Promise<string[]> {
  const { KernelNode } = await import("./netns.js");
  const kernel = await KernelNode.create(spec);
  const notes: string[] = [];
  try {
    const engine = await makeEngine(await kernel.dumpSnapshot());
    const t0: { ns?: number } = {};
    for (const p of packets) {
      const before = await kernel.nstat();
      const res = await kernel.inject([p], { quietMs: 60 });
      const after = await kernel.nstat();
      const o = res.observations[0];
      if (p.iif !== "local" && o.error) continue;
      if (t0.ns === undefined) t0.ns = o.sentNs ?? 0;
      const input = toReplayInput(p, o, t0.ns);
      const c0 = engine.counters();
      const [r] = engine.process([input]);
      const c1 = engine.counters();
      const diffs = COMPARED_COUNTERS.filter((n) => (after[n] ?? 0) - (before[n] ?? 0) !== (c1[n] ?? 0) - (c0[n] ?? 0))
        .map((n) => `${n} kernel ${(after[n] ?? 0) - (before[n] ?? 0)} emulator ${(c1[n] ?? 0) - (c0[n] ?? 0)}`);
      if (diffs.length) {
        notes.push(`  packet ${describeInput(input)} [${r.verdict}${r.reason ? " " + r.reason : ""}${o.error ? ", kernel error " + o.error : ""}]: ${diffs.join(", ")}`);
        if (notes.length >= limit) break;
      }
    }
  } finally {
    await kernel.destroy();
  }
  return notes;
}
