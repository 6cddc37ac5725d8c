/** Shared helpers of the pcap tests: the demo node, synthesised captures, scratch files. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import * as abi from "../../host/core/abi.js";
import { Engine, type EngineOptions } from "../../host/engine.js";
import type { CoreExports } from "../../host/core/wasm.js";
import { parseSnapshotFiles, readSnapshotDir } from "../../host/snapshot/read.js";
import { buildDemoNode } from "../../host/scenario/eks-node.js";
import { clusterForNode } from "../../host/scenario/cluster.js";
import { generateWorkload } from "../../host/scenario/workload.js";
import { encodePacket, type PacketInput } from "../../host/packet/input.js";
import { synthesizePacket } from "../../host/packet/emit.js";
import { CaptureWriter, type CaptureWriterOptions } from "../../host/pcap/write.js";
import type { NodeSnapshot } from "../../host/model/node.js";
import { EngineRunner } from "../../host/replay/runner.js";
import type { PacketSource } from "../../host/replay/sources.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import { CaptureReader } from "../../host/pcap/read.js";
import { decodeLink, LinkInfo } from "../../host/pcap/link.js";
import { parseIPv4, WireFields, WIRE_OK } from "../../host/packet/wire.js";

let demo: { snap: NodeSnapshot; node: ReturnType<typeof buildDemoNode>; frontends: ReturnType<typeof clusterForNode>["frontends"] } | undefined;

export function demoNode() {
  if (!demo) {
    const node = buildDemoNode();
    const snap = parseSnapshotFiles(node.files, "demo");
    const cl = clusterForNode(node, { services: 50, seed: 1 });
    snap.iptablesSave = cl.iptables;
    demo = { snap, node, frontends: cl.frontends };
  }
  return demo;
}

export async function demoEngine(opts: EngineOptions = {}): Promise<Engine> {
  const { snap } = demoNode();
  const e = await Engine.create({ seed: 7, ...opts });
  e.load(snap, { hz: snap.hz });
  return e;
}

/** A second core instance, as the decode thread's (its capture decoder run beside an engine's). */
export async function spareCore(): Promise<CoreExports> {
  return (await Engine.create({ seed: 1 })).core;
}

/** Arriving packets of the demo workload (local ones cannot be captured on a link). */
export function demoPackets(n: number, seed = 3): PacketInput[] {
  const { node, frontends } = demoNode();
  return generateWorkload(node, n * 2, seed, 50000, frontends).filter((p) => p.iif !== "local").slice(0, n);
}

/** Bytes of each packet: encoded as a descriptor, then synthesised. */
export function packetBytes(engine: Engine, pkts: PacketInput[]): Uint8Array[] {
  const buf = new ArrayBuffer(abi.PKT_SIZE);
  const dv = new DataView(buf);
  const out: Uint8Array[] = [];
  const scratch = new Uint8Array(65536);
  pkts.forEach((p, i) => {
    encodePacket(dv, 0, p as unknown as Record<string, unknown>, { file: "t", line: i + 1 }, engine.devices, 0n, () => {});
    const n = synthesizePacket(dv, 0, scratch, 0);
    out.push(scratch.slice(0, n));
  });
  return out;
}

export function scratchDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "nodeplane-pcap-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes packets as a capture, one interface per distinct iif (pcapng) with its if_name. */
export async function writeCapture(file: string, pkts: PacketInput[], bytes: Uint8Array[], opts: CaptureWriterOptions = {}): Promise<void> {
  const w = CaptureWriter.toFile(file, opts);
  const ids = new Map<string, number>();
  pkts.forEach((p, i) => {
    let id = ids.get(p.iif);
    if (id === undefined) ids.set(p.iif, (id = w.addInterface(p.iif)));
    const b = bytes[i]!;
    w.packet(id, Math.round((p.t ?? 0) * 1e9), b, 0, b.length);
  });
  await w.close();
}

export function haveTool(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`]).status === 0;
}

/**
 * Whether a kernel test that captures a namespace with tcpdump can run:
 * tcpdump, nstat, conntrack, legacy iptables-restore/-save and python3.
 */
export function haveCaptureKernelTools(): boolean {
  return ["tcpdump", "nstat", "conntrack", "iptables-legacy-restore", "iptables-legacy-save", "python3"].every(haveTool);
}

export function tshark(args: string[]): { stdout: string; stderr: string; status: number } {
  const r = spawnSync("tshark", args, { encoding: "utf8" });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? 1 };
}

/** Hand-made packets covering every decoded field. */
export const VARIETY: PacketInput[] = [
  { iif: "eth0", src: "52.1.2.3", dst: "10.0.0.10", proto: "tcp", sport: 40000, dport: 443, flags: "S", seq: 123456789, win: 64240, doff: 9, wscale: 7, sackok: true, sack: 99, ttl: 57, tos: 0x10, df: true, id: 4321, len: 60, t: 0.5 },
  { iif: "eth0", src: "52.1.2.3", dst: "10.0.0.10", proto: "tcp", sport: 40000, dport: 443, flags: "PA", seq: 1, ack: 0xfffffff0, win: 501, len: 1040, t: 0.6 },
  { iif: "eth0", src: "52.1.2.3", dst: "10.0.0.10", proto: "tcp", sport: 1, dport: 2, flags: "FSRPAUEC", len: 40, csum: "bad", t: 0.7 },
  { iif: "eth0", src: "52.1.2.4", dst: "10.0.0.10", proto: "udp", sport: 5353, dport: 53, len: 100, t: 0.8 },
  { iif: "eth0", src: "52.1.2.4", dst: "10.0.0.10", proto: "udp", sport: 5353, dport: 53, len: 64, csum: "none", t: 0.9 },
  { iif: "eth0", src: "52.1.2.4", dst: "10.0.0.10", proto: "udp", sport: 5353, dport: 53, len: 64, csum: "bad", t: 0.9 },
  { iif: "eth0", src: "52.1.2.4", dst: "10.0.0.10", proto: 136, sport: 7, dport: 8, len: 60, cscov: 16, t: 1 },
  { iif: "eth0", src: "52.1.2.5", dst: "10.0.0.10", proto: "icmp", icmp_type: 8, icmp_code: 0, icmp_id: 77, icmp_seq: 3, len: 84, t: 1.1 },
  { iif: "eth0", src: "52.1.2.5", dst: "10.0.0.10", proto: "icmp", icmp_type: 3, icmp_code: 3, len: 56, t: 1.2,
    inner: { src: "10.0.0.10", dst: "52.1.2.5", proto: "udp", sport: 33434, dport: 53 } },
  { iif: "eth0", src: "52.1.2.5", dst: "10.0.0.10", proto: "icmp", icmp_type: 11, icmp_code: 0, len: 56, t: 1.3,
    inner: { src: "10.0.0.10", dst: "52.1.2.9", proto: "icmp", icmp_type: 8, icmp_code: 0, icmp_id: 5, icmp_seq: 9 } },
  { iif: "eth0", src: "52.1.2.5", dst: "10.0.0.10", proto: "icmp", icmp_type: 3, icmp_code: 4, len: 56, t: 1.4,
    inner: { src: "10.0.0.10", dst: "52.1.2.5", proto: "tcp", sport: 443, dport: 40000 } },
  { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 132, sport: 3868, dport: 3868, len: 52, t: 1.5,
    sctp: { vtag: 0, chunks: [{ type: "INIT", init_tag: 0xdeadbeef }] } },
  { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 132, sport: 3868, dport: 3868, len: 48, t: 1.55,
    sctp: { vtag: 77, chunks: [{ type: "DATA" }, { type: "ABORT", t: true }, { type: "SACK" }] } },
  { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 132, sport: 3868, dport: 3868, len: 40, t: 1.56, csum: "bad",
    sctp: { vtag: 77, chunks: [{ type: "HEARTBEAT" }, { type: "DATA", len: 0 }] } },
  { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 47, len: 48, t: 1.6 },
  { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 50, len: 48, ttl: 1, t: 1.7 },
  // REJECT's sum of the transport bytes (other protocols, DCCP): right, and wrong
  { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 253, len: 44, t: 1.8 },
  { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 253, len: 44, csum: "bad", t: 1.81 },
  { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 33, sport: 5000, dport: 5001, len: 52, dccp: { type: "DATA" }, t: 1.82 },
  { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 33, sport: 5000, dport: 5001, len: 52, dccp: { type: "DATA" }, csum: "bad", t: 1.83 },
];

/**
 * Replays every descriptor `src` gives through `engine` as the CLI does
 * (EngineRunner, per-packet PRNG keys from `seed`), calling `onPacket` with
 * each processed descriptor (its address `p`, its batch slot `k`, its input
 * index).
 */
export function replayEach(engine: Engine, src: PacketSource, seed: number, onPacket: (dv: DataView, p: number, k: number, index: number) => void): void {
  const runner = new EngineRunner(engine, seed);
  let index = 0;
  for (;;) {
    const { ptr, capacity } = engine.batchBuffer;
    const n = src.fill(engine.mem.dv, ptr, capacity);
    if (n === 0) break;
    const first = index;
    runner.run(n, first, {
      segment(dv, base, k0, k1) {
        for (let k = k0; k < k1; k++) onPacket(dv, base + k * abi.PKT_SIZE, k, first + k);
      },
    });
    index += n;
  }
}

/**
 * A kernel test's replay: the node namespace's snapshot in an engine, with
 * the ruleset the kernel itself printed (`iptables-legacy-save -c` text, its
 * counters not carried over), replaying the capture taken in the namespace.
 * Returns the engine (its rule counters to compare with the kernel's) and
 * the number of frames replayed.
 */
export async function replayKernelCapture(snapDir: string, capture: string, kernelSave: string): Promise<{ engine: Engine; frames: number }> {
  const engine = await snapshotEngine(snapDir);
  engine.loadRuleset(kernelSave, "iptables-legacy-save");
  const src = PcapSource.open(capture, engine, {});
  let frames = 0;
  try {
    replayEach(engine, src, 1, () => { frames++; });
  } finally {
    src.close();
  }
  return { engine, frames };
}

/** Ones'-complement checksum of `b` (as the packet carries it: complemented). */
function csum16(b: number[]): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** An IPv4 packet (20-byte header, right header checksum) around the transport bytes `l4`. */
export function ipv4Bytes(src: string, dst: string, proto: number, l4: number[], id = 7, ttl = 60): Uint8Array {
  const a = (s: string) => s.split(".").map(Number);
  const len = 20 + l4.length;
  const h = [0x45, 0, len >> 8, len & 255, id >> 8, id & 255, 0, 0, ttl, proto, 0, 0, ...a(src), ...a(dst)];
  const c = csum16(h);
  h[10] = c >> 8; h[11] = c & 255;
  return Uint8Array.from([...h, ...l4]);
}

/** ICMP bytes with the checksum (bytes 2-3) filled in; fewer than 4 bytes are left as they are. */
export function icmpBytes(b: number[]): number[] {
  if (b.length < 4) return b;
  const x = b.slice();
  x[2] = 0; x[3] = 0;
  const c = csum16(x);
  x[2] = c >> 8; x[3] = c & 255;
  return x;
}

const u16b = (v: number) => [v >> 8, v & 255];
/** A quoted IPv4 header (IHL words `ihl`, the rest as a plain header) of a packet 10.0.0.10 -> 52.1.2.5. */
function quotedHeader(proto: number, ihl = 5): number[] {
  const h = [0x40 | ihl, 0, 0, 60, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 10, 52, 1, 2, 5];
  for (let i = 20; i < ihl * 4; i++) h.push(1); // options (NOPs)
  return h;
}

/**
 * Packets whose transport header the kernel finds too short or malformed,
 * as bytes and as the JSONL input the decoder must give for them (written
 * by hand from the bytes, not by the decoder).
 */
export const MALFORMED: { input: PacketInput; bytes: Uint8Array }[] = (() => {
  const S = "52.1.2.7", D = "10.0.0.10";
  const base = { iif: "eth0", src: S, dst: D, ttl: 60, id: 7, tos: 0, df: false };
  const tcpHdr = (doff: number, flags: number) => [...u16b(40001), ...u16b(80), 0, 0, 0, 9, 0, 0, 0, 0, doff << 4, flags, ...u16b(512), 0, 0, 0, 0];
  const list: [PacketInput, number, number[]][] = [
    // TCP: no byte, no ports, the ports only, the ports and a data offset, data offsets below 5 and beyond the segment
    [{ ...base, proto: "tcp", len: 20, l4_bytes: 0 }, 6, []],
    [{ ...base, proto: "tcp", len: 23, l4_bytes: 3 }, 6, [0x9c, 0x41, 0]],
    [{ ...base, proto: "tcp", len: 32, l4_bytes: 12, sport: 40001, dport: 80 }, 6, tcpHdr(5, 2).slice(0, 12)],
    [{ ...base, proto: "tcp", len: 36, l4_bytes: 16, sport: 40001, dport: 80, doff: 5 }, 6, tcpHdr(5, 2).slice(0, 16)],
    // (a zero checksum field: wrong, as REJECT's nf_ip_checksum sums a 20-byte header)
    [{ ...base, proto: "tcp", len: 40, l4_bytes: 20, sport: 40001, dport: 80, doff: 3, flags: "S", seq: 9, win: 512, csum: "bad" }, 6, tcpHdr(3, 2)],
    [{ ...base, proto: "tcp", len: 44, l4_bytes: 24, sport: 40001, dport: 80, doff: 8, flags: "A", seq: 9, win: 512, csum: "bad" }, 6, [...tcpHdr(8, 16), 1, 1, 1, 1]],
    [{ ...base, proto: "tcp", len: 40, l4_bytes: 20, sport: 40001, dport: 80, doff: 0, flags: "SA", seq: 9, win: 512, csum: "bad" }, 6, tcpHdr(0, 18)],
    // UDP and UDP-Lite under 8 bytes (the UDP bytes there are, with the pseudo-header, do not sum
    // to 0xffff: what REJECT's nf_ip_checksum would find)
    [{ ...base, proto: "udp", len: 25, l4_bytes: 5, sport: 5353, dport: 53, csum: "bad" }, 17, [...u16b(5353), ...u16b(53), 0]],
    [{ ...base, proto: "udp", len: 22, l4_bytes: 2, csum: "bad" }, 17, [0x14, 0xe9]],
    [{ ...base, proto: 136, len: 26, l4_bytes: 6, sport: 7, dport: 8, cscov: 0 }, 136, [0, 7, 0, 8, 0, 0]],
    // SCTP under its 12-byte common header (no chunks), DCCP without its ports
    [{ ...base, proto: 132, len: 22, l4_bytes: 2 }, 132, [0x9c, 0x41]],
    [{ ...base, proto: 132, len: 28, l4_bytes: 8, sport: 40001, dport: 9 }, 132, [...u16b(40001), ...u16b(9), 0, 0, 0, 7]],
    // (REJECT's sum of these bytes is wrong: nf_ip_checksum checks DCCP now)
    [{ ...base, proto: 33, len: 23, l4_bytes: 3, csum: "bad" }, 33, [0x9c, 0x41, 0]],
    // UDP length fields that are not the transport length (12 bytes here): beyond it, below 8, below it
    // (no checksum; a wrong one over the 10 bytes and over all 12)
    [{ ...base, proto: "udp", len: 32, sport: 40001, dport: 9, ulen: 100, csum: "none" }, 17, [...u16b(40001), ...u16b(9), 0, 100, 0, 0, 1, 2, 3, 4]],
    [{ ...base, proto: "udp", len: 32, sport: 40001, dport: 9, ulen: 0, csum: "none" }, 17, [...u16b(40001), ...u16b(9), 0, 0, 0, 0, 1, 2, 3, 4]],
    [{ ...base, proto: "udp", len: 32, sport: 40001, dport: 9, ulen: 10, csum: "none" }, 17, [...u16b(40001), ...u16b(9), 0, 10, 0, 0, 1, 2, 3, 4]],
    [{ ...base, proto: "udp", len: 32, sport: 40001, dport: 9, ulen: 10, csum: "bad" }, 17, [...u16b(40001), ...u16b(9), 0, 10, 0x12, 0x34, 1, 2, 3, 4]],
    // ICMP under 8 bytes: none (whose checksum is wrong: a sum of nothing), the type only, an echo's first half
    [{ ...base, proto: "icmp", len: 20, l4_bytes: 0, icmp_type: 0, csum: "bad" }, 1, []],
    [{ ...base, proto: "icmp", len: 21, l4_bytes: 1, icmp_type: 8, csum: "bad" }, 1, [8]],
    [{ ...base, proto: "icmp", len: 24, l4_bytes: 4, icmp_type: 8, icmp_code: 0 }, 1, icmpBytes([8, 0, 0, 0])],
    // ICMP errors with short quotes: 10 bytes; 20 (IHL 5, UDP: no ports); 24 (ports, not 8 bytes); IHL 6 in 28;
    // IHL 3 (icmp_unreach's mangled header; conntrack reads "ports" 12 bytes in); a quoted echo without its 8 bytes
    [{ ...base, proto: "icmp", len: 38, l4_bytes: 18, icmp_type: 3, icmp_code: 3 }, 1, icmpBytes([3, 3, 0, 0, 0, 0, 0, 0, ...quotedHeader(17).slice(0, 10)])],
    [{ ...base, proto: "icmp", len: 48, l4_bytes: 28, icmp_type: 11, icmp_code: 0, quote_ihl: 5 }, 1, icmpBytes([11, 0, 0, 0, 0, 0, 0, 0, ...quotedHeader(17)])],
    [{ ...base, proto: "icmp", len: 52, l4_bytes: 32, icmp_type: 3, icmp_code: 3, quote_ihl: 5, inner: { src: D, dst: "52.1.2.5", proto: "udp", sport: 33434, dport: 53 } },
      1, icmpBytes([3, 3, 0, 0, 0, 0, 0, 0, ...quotedHeader(17), ...u16b(33434), ...u16b(53)])],
    [{ ...base, proto: "icmp", len: 56, l4_bytes: 36, icmp_type: 3, icmp_code: 1, quote_ihl: 6, inner: { src: D, dst: "52.1.2.5", proto: "tcp", sport: 443, dport: 40000 } },
      1, icmpBytes([3, 1, 0, 0, 0, 0, 0, 0, ...quotedHeader(6, 6), ...u16b(443), ...u16b(40000)])],
    [{ ...base, proto: "icmp", len: 56, l4_bytes: 36, icmp_type: 12, icmp_code: 0, quote_ihl: 3, inner: { src: D, dst: "52.1.2.5", proto: "udp", sport: 10 << 8, dport: 10 } },
      1, icmpBytes([12, 0, 0, 0, 0, 0, 0, 0, ...quotedHeader(17, 3), 0, 0, 0, 0, 0, 0, 0, 0])],
    [{ ...base, proto: "icmp", len: 52, l4_bytes: 32, icmp_type: 11, icmp_code: 0, quote_ihl: 5 }, 1, icmpBytes([11, 0, 0, 0, 0, 0, 0, 0, ...quotedHeader(1), 8, 0, 0, 0])],
    // a redirect quoting IHL 3 (the quoted protocol's error handler reads "ports" 12 bytes in) and IHL 0
    [{ ...base, proto: "icmp", len: 56, l4_bytes: 36, icmp_type: 5, icmp_code: 1, quote_ihl: 3, inner: { src: D, dst: "52.1.2.5", proto: "udp", sport: 10 << 8, dport: 10 } },
      1, icmpBytes([5, 1, 0, 0, 10, 0, 0, 1, ...quotedHeader(17, 3), 0, 0, 0, 0, 0, 0, 0, 0])],
    [{ ...base, proto: "icmp", len: 48, l4_bytes: 28, icmp_type: 5, icmp_code: 0, quote_ihl: 0, inner: { src: D, dst: "52.1.2.5", proto: "tcp", sport: 0x4000, dport: 60 } },
      1, icmpBytes([5, 0, 0, 0, 10, 0, 0, 1, ...quotedHeader(6, 0)])],
  ];
  return list.map(([input, proto, l4], i) => ({ input: { ...input, t: 2 + i * 0.001 }, bytes: ipv4Bytes(S, D, proto, l4) }));
})();

/** An engine (seed 1) with the snapshot a kernel test took of its node namespace. */
export async function snapshotEngine(snapDir: string): Promise<Engine> {
  const snap = await readSnapshotDir(snapDir);
  const engine = await Engine.create({ seed: 1 });
  engine.load(snap, { hz: snap.hz });
  return engine;
}

/** Capture bytes built by hand, little- or big-endian (independent of host/pcap/write.ts). */
export class Bytes {
  parts: number[] = [];
  constructor(readonly le = true) {}
  u8(v: number) { this.parts.push(v & 255); return this; }
  u16(v: number) { const a = [v & 255, (v >>> 8) & 255]; this.parts.push(...(this.le ? a : a.reverse())); return this; }
  u32(v: number) { const a = [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24]; this.parts.push(...(this.le ? a : a.reverse())); return this; }
  raw(b: ArrayLike<number>) { for (let i = 0; i < b.length; i++) this.parts.push(b[i]!); return this; }
  pad4() { while (this.parts.length % 4) this.parts.push(0); return this; }
  get length() { return this.parts.length; }
  buffer() { return Buffer.from(this.parts); }
}

/** A pcapng block: type, total length, the body `body` writes (padded to 4 bytes), total length again. */
export function pcapngBlock(le: boolean, type: number, body: (b: Bytes) => void): number[] {
  const inner = new Bytes(le);
  body(inner);
  inner.pad4();
  const len = inner.length + 12;
  return new Bytes(le).u32(type).u32(len).raw(inner.parts).u32(len).parts;
}

/**
 * Calls `fn` for every IPv4 frame of capture `file` whose header parses
 * (WIRE_OK), in order, with its fields, the reader (timestamps, direction)
 * and its link layer (packet type, source MAC). `fn`'s arguments are reused
 * from frame to frame.
 */
export function forEachIPv4(file: string, fn: (w: WireFields, r: CaptureReader, link: LinkInfo) => void): void {
  const r = CaptureReader.open(file);
  const link = new LinkInfo();
  const w = new WireFields();
  try {
    while (r.next()) {
      decodeLink(r.buf, r.data, r.capLen, r.origLen, r.iface.linkType, link);
      if (link.kind !== 0 || parseIPv4(r.buf, link.l3, link.l3Cap, link.l3Wire, w) !== WIRE_OK) continue;
      fn(w, r, link);
    }
  } finally {
    r.close();
  }
}
