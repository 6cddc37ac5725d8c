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
