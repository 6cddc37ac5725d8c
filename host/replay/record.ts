/**
 * Recording generated traffic as a capture (pcapng, one interface per
 * ingress device, named after it): the generator (host/traffic) runs in its
 * closed loop through an EngineRunner, and every packet is written as it
 * arrives at the node. Replaying the capture on the same node with the same
 * seed (`replay --pcap`) gives the same results as the generator run: the
 * runner draws each connection's random choices (NAT ports, endpoints) from
 * the packet's index and the seed, so the replies in the capture match the
 * ports the replay picks. Used by bench/replay.ts and the tests.
 */
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { synthesizePacket } from "../packet/emit.js";
import { CaptureWriter } from "../pcap/write.js";
import type { TrafficGenerator } from "../traffic/index.js";
import { EngineRunner } from "./runner.js";

export interface RecordStats { packets: number; bytes: number; frames: number; localSkipped: number }

/**
 * Runs `gen` through `engine` (seeded with `seed`) and writes each arriving
 * packet to `file`; stops after `maxPackets`. With `snaplen`, every frame is
 * cut to its first `snaplen` bytes, as `tcpdump -s` cuts them (the wire
 * length kept).
 */
export async function recordGenerated(engine: Engine, gen: TrafficGenerator, file: string, seed: number, maxPackets = Infinity, opts: { snaplen?: number } = {}): Promise<RecordStats> {
  const w = CaptureWriter.toFile(file, { format: "pcapng", snaplen: opts.snaplen });
  const ids = new Map<number, number>();
  const runner = new EngineRunner(engine, seed);
  const scratch = new DataView(new ArrayBuffer(abi.PKT_SIZE));
  const scratchU8 = new Uint8Array(scratch.buffer);
  const out = new Uint8Array(65536);
  const stats: RecordStats = { packets: 0, bytes: 0, frames: 0, localSkipped: 0 };
  const sink = { segment() {} };
  for (;;) {
    const { ptr, capacity } = engine.batchBuffer;
    const n = gen.fill(engine.mem.dv, ptr, Math.min(capacity, maxPackets - stats.packets));
    if (n === 0) break;
    const mem = engine.mem.u8;
    for (let k = 0; k < n; k++) {
      const p = ptr + k * abi.PKT_SIZE;
      const slot = engine.mem.dv.getUint16(p + abi.PKT_IIF, true);
      if (slot === 0) { stats.localSkipped++; continue; }
      // the packet as it arrives: input fields only (output fields may hold the last batch's results)
      scratchU8.set(mem.subarray(p, p + abi.PKT_SIZE));
      scratchU8.fill(0, abi.PKT_VERDICT, abi.PKT_TCP_WSCALE);
      scratchU8.fill(0, abi.PKT_OUT_INNER_SRC, abi.PKT_INNER_ICMP_TYPE);
      scratchU8.fill(0, abi.PKT_NF_TRACE_LAST, abi.PKT_SIZE);
      const len = synthesizePacket(scratch, 0, out, 0);
      let id = ids.get(slot);
      if (id === undefined) { id = w.addInterface(engine.node.devBySlot[slot]!.name); ids.set(slot, id); }
      w.packet(id, Number(scratch.getBigUint64(abi.PKT_TIME, true)), out, 0, len);
      stats.frames++;
      stats.bytes += len;
    }
    runner.run(n, stats.packets, sink);
    gen.feedback(engine.mem.dv, ptr, n);
    stats.packets += n;
    await w.flush();
    if (stats.packets >= maxPackets) break;
  }
  await w.close();
  return stats;
}
