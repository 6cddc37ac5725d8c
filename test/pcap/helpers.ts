/** Shared helpers of the pcap tests: the demo node, synthesised captures, scratch files. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import * as abi from "../../host/core/abi.js";
import { Engine, type EngineOptions } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import { buildDemoNode } from "../../host/scenario/eks-node.js";
import { clusterForNode } from "../../host/scenario/cluster.js";
import { generateWorkload } from "../../host/scenario/workload.js";
import { encodePacket, type PacketInput } from "../../host/packet/input.js";
import { synthesizePacket } from "../../host/packet/emit.js";
import { CaptureWriter, type CaptureWriterOptions } from "../../host/pcap/write.js";
import type { NodeSnapshot } from "../../host/model/node.js";
import { EngineRunner } from "../../host/replay/runner.js";
import type { PacketSource } from "../../host/replay/sources.js";

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
    runner.run(n, (k) => first + k, {
      segment(dv, base, k0, k1) {
        for (let k = k0; k < k1; k++) onPacket(dv, base + k * abi.PKT_SIZE, k, first + k);
      },
    });
    index += n;
  }
}
