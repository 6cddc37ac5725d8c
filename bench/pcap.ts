/**
 * Capture replay (`npm run bench -- pcap`): a pcapng of the demo workload
 * (host/scenario/demo.ts: the m5.large EKS node, its kube-proxy and VPC CNI
 * rules) on disk, then
 *  - read only: the file in the reader's chunks, nothing decoded (the floor);
 *  - read + decode: PcapSource.fill (host/replay/pcap-source.ts: reader,
 *    link layer, IPv4/transport decode, ingress, descriptor writer), the
 *    path the CLI and replayCapture share, into the engine's batch buffer,
 *    no engine call; with and without transport checksum checks. Decoding
 *    alone is the difference to "read only", measured in the same run;
 *  - replay: replayCapture through the engine, one worker, summary from the
 *    descriptors; without a sink, and with a sink that rewrites every
 *    forwarded packet as it leaves (emit.ts) into a pcapng per run.
 *  - the same packets as `tcpdump -i any` records them (SLL2): each arriving
 *    packet and, when the node forwards it, the copy it sent on (written
 *    from the replay: translated, TTL one less, on its egress device);
 *    read + decode with the forwarded copies paired with their originals
 *    (--forwarded-copies pair, the default) and skipped, by the host's
 *    decoder and the core's (the CLI's): the pairing's cost, same run.
 * The engine is loaded afresh before each timed run (outside the timing):
 * every run replays the capture into an empty connection table.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import * as abi from "../host/core/abi.js";
import { Engine } from "../host/engine.js";
import { parseSnapshotFiles } from "../host/snapshot/read.js";
import { buildDemoNode } from "../host/scenario/eks-node.js";
import { clusterForNode } from "../host/scenario/cluster.js";
import { generateWorkload } from "../host/scenario/workload.js";
import { encodePacket } from "../host/packet/input.js";
import { synthesizePacket, emitPacket } from "../host/packet/emit.js";
import { CaptureWriter } from "../host/pcap/write.js";
import { READ_CHUNK } from "../host/pcap/source.js";
import { LINKTYPE_LINUX_SLL2 } from "../host/pcap/format.js";
import { PcapSource } from "../host/replay/pcap-source.js";
import { replayCapture, type CaptureSink } from "../host/pcap/replay.js";
import { measure, mdTable, fmtRate } from "./util.js";

export async function benchPcap(n = 200000): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "nodeplane-bench-pcap-"));
  try {
    const node = buildDemoNode();
    const snap = parseSnapshotFiles(node.files, "demo");
    const cl = clusterForNode(node, { services: 200, seed: 1 });
    snap.iptablesSave = cl.iptables;
    const engine = await Engine.create({ seed: 1 });
    engine.load(snap, { hz: snap.hz });
    // the capture: the workload's arriving packets, synthesised, one pcapng interface per ingress link
    const pkts = generateWorkload(node, n * 2, 1, 1_000_000, cl.frontends).filter((p) => p.iif !== "local").slice(0, n);
    const file = join(dir, "demo.pcapng");
    const w = CaptureWriter.toFile(file, { format: "pcapng" });
    const ids = new Map<string, number>();
    const dv = new DataView(new ArrayBuffer(abi.PKT_SIZE));
    const scratch = new Uint8Array(65536);
    pkts.forEach((p, i) => {
      encodePacket(dv, 0, p as unknown as Record<string, unknown>, { file: "bench", line: i + 1 }, engine.devices, 0n, () => {});
      const len = synthesizePacket(dv, 0, scratch, 0);
      let id = ids.get(p.iif);
      if (id === undefined) ids.set(p.iif, (id = w.addInterface(p.iif)));
      w.packet(id, Math.round((p.t ?? 0) * 1e9), scratch, 0, len);
    });
    await w.close();
    const bytes = statSync(file).size;
    const fresh = () => engine.load(snap, { hz: snap.hz });
    // the `-i any` capture: every arriving frame, and after each forwarded one its copy (SLL2: ifindex, packet type)
    const anyFile = join(dir, "any.pcapng");
    const anyW = CaptureWriter.toFile(anyFile, { format: "pcapng", linkType: LINKTYPE_LINUX_SLL2 });
    const anyId = anyW.addInterface("any");
    const sllFrame = new Uint8Array(65536 + 20);
    const sll2 = (ifindex: number, pktType: number, b: Uint8Array, o: number, len: number, ts: number) => {
      sllFrame.fill(0, 0, 20);
      const h = new DataView(sllFrame.buffer);
      h.setUint16(0, 0x0800);
      h.setUint32(4, ifindex);
      h.setUint16(8, 1); // ARPHRD_ETHER
      sllFrame[10] = pktType;
      sllFrame.set(b.subarray(o, o + len), 20);
      anyW.packet(anyId, ts, sllFrame, 0, len + 20);
    };
    const copyBuf = new Uint8Array(65536);
    let copies = 0;
    const anySink: CaptureSink = {
      packet(k, _i, frame) {
        const mdv = engine.mem.dv;
        const p = engine.batchBuffer.ptr + (k << abi.PKT_SHIFT);
        sll2(engine.node.devBySlot[frame.iif]!.ifindex, 0, frame.buf, frame.ipStart, frame.ipLength, frame.tsNs);
        if (mdv.getUint8(p + abi.PKT_VERDICT) !== abi.VERDICT_FORWARD) return;
        const len = emitPacket(frame.buf, frame.ipStart, frame.ipLength, mdv, p, copyBuf, 0);
        sll2(engine.node.devBySlot[mdv.getUint16(p + abi.PKT_OIF, true)]!.ifindex, 4, copyBuf, 0, len, frame.tsNs + 1000);
        copies++;
      },
    };
    fresh();
    const anySt = await replayCapture(engine, file, anySink);
    if (anySt.error || anySt.packets !== n) throw new Error(`bench: writing the -i any capture: ${anySt.error?.message ?? anySt.packets}`);
    await anyW.close();
    const anyBytes = statSync(anyFile).size;

    const readBuf = new Uint8Array(READ_CHUNK);
    let sinkOut = 0;
    const emitSink = (): CaptureSink & { writer: CaptureWriter } => {
      const writer = new CaptureWriter(new Writable({ write(_c, _e, cb) { cb(); } }), { format: "pcapng" });
      const ifs: number[] = [];
      const out = new Uint8Array(65536);
      return {
        writer,
        packet(k, _i, frame) {
          const mdv = engine.mem.dv;
          const p = engine.batchBuffer.ptr + (k << abi.PKT_SHIFT);
          if (mdv.getUint8(p + abi.PKT_VERDICT) !== abi.VERDICT_FORWARD) return;
          const oif = mdv.getUint16(p + abi.PKT_OIF, true);
          let id = ifs[oif];
          if (id === undefined) id = ifs[oif] = writer.addInterface(engine.node.devBySlot[oif]!.name);
          const len = emitPacket(frame.buf, frame.ipStart, frame.ipLength, mdv, p, out, 0);
          writer.packet(id, frame.tsNs, out, 0, len);
          sinkOut++;
        },
        flush: () => writer.flush(),
      };
    };
    void createWriteStream;
    const results = await measure([
      {
        name: `read only (${READ_CHUNK >> 10} KiB reads, nothing decoded)`, batch: n, fn: () => {
          const fd = openSync(file, "r");
          let pos = 0, got: number;
          while ((got = readSync(fd, readBuf, 0, READ_CHUNK, pos)) > 0) pos += got;
          closeSync(fd);
          if (pos !== bytes) throw new Error(`read ${pos} bytes of ${bytes}`);
        },
      },
      ...[true, false].map((verify) => ({
        name: `read + decode (PcapSource.fill, checksums ${verify ? "verified" : "not verified"})`, batch: n, fn: () => {
          const src = PcapSource.open(file, engine, { verifyChecksums: verify, keepFrames: false });
          const { ptr, capacity } = engine.batchBuffer;
          let k = 0, got: number;
          while ((got = src.fill(engine.mem.dv, ptr, capacity)) > 0) k += got;
          src.close();
          if (k !== n) throw new Error(`decoded ${k} packets, expected ${n}`);
        },
      })),
      ...(["host", "core"] as const).flatMap((dec) => (["pair", "skip"] as const).map((mode) => ({
        name: `-i any capture, read + decode by the ${dec}'s decoder, forwarded copies ${mode === "pair" ? "paired" : "skipped"}`, batch: n, fn: () => {
          const src = PcapSource.open(anyFile, engine, { verifyChecksums: false, keepFrames: false, forwardedCopies: mode, fastDecode: dec === "core" ? engine.core : undefined });
          const { ptr, capacity } = engine.batchBuffer;
          let k = 0, got: number;
          while ((got = src.fill(engine.mem.dv, ptr, capacity)) > 0) k += got;
          src.close();
          if (k !== n) throw new Error(`decoded ${k} packets, expected ${n}`);
          if (mode === "pair" && src.copiesPaired !== copies) throw new Error(`paired ${src.copiesPaired} copies of ${copies}`);
        },
      }))),
      { name: "replay (no sink)", batch: n, beforeEach: fresh, fn: async () => { const st = await replayCapture(engine, file); if (st.error || st.packets !== n) throw new Error(`replay: ${st.error?.message ?? st.packets}`); } },
      { name: "replay + pcapng sink (emit every forwarded packet)", batch: n, beforeEach: fresh, fn: async () => { const s = emitSink(); const st = await replayCapture(engine, file, s); await s.writer.close(); if (st.error) throw st.error; } },
    ], { time: 4000, iterations: 5, warmupIterations: 1, warmupTime: 0 });
    void sinkOut;
    const rows = results.map((m) => [m.name, fmtRate(m.itemsPerSec), `${m.nsPerItem.toFixed(0)} ns`, `±${m.rme.toFixed(1)}%`, m.samples]);
    const [readOnly, decV, decN, hostPair, hostSkip, corePair, coreSkip] = results;
    return `Capture: ${n.toLocaleString("en")} packets of the demo workload, pcapng ${(bytes / 2 ** 20).toFixed(1)} MiB, node with ${cl.iptables.split("\n").filter((l) => l.startsWith("-A")).length} iptables rules; one worker. ` +
      `The -i any capture: the same packets and ${copies.toLocaleString("en")} forwarded copies, ${(anyBytes / 2 ** 20).toFixed(1)} MiB (per packet: per arriving packet).\n\n` +
      mdTable(["task", "packets/s", "per packet", "rme", "samples"], rows) +
      `\n\nDecoding alone (read + decode minus read only, same run): ${(decV!.nsPerItem - readOnly!.nsPerItem).toFixed(0)} ns/packet with checksums verified, ${(decN!.nsPerItem - readOnly!.nsPerItem).toFixed(0)} ns without. ` +
      `Pairing forwarded copies (paired minus skipped, same run): ${(hostPair!.nsPerItem - hostSkip!.nsPerItem).toFixed(0)} ns a packet by the host's decoder, ${(corePair!.nsPerItem - coreSkip!.nsPerItem).toFixed(0)} ns by the core's.`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
