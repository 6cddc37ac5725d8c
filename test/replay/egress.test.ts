/**
 * egress.pcapng writing (host/replay/egress.ts, host/pcap/write.ts): frames
 * built in place in the file's buffer (one thread), FrameLists grown past
 * their first buffers (written in order, and merged from two lists by packet
 * index), and frames copied one by one through CaptureWriter.packet into a
 * stream all give the same bytes; a file writer gives the same bytes as a
 * stream writer over many buffers, in both formats.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import * as abi from "../../host/core/abi.js";
import type { Engine } from "../../host/engine.js";
import { encodePacket, type PacketInput } from "../../host/packet/input.js";
import { emitPacket, synthesizePacket } from "../../host/packet/emit.js";
import { CaptureWriter, type CaptureWriterOptions } from "../../host/pcap/write.js";
import { CaptureReader } from "../../host/pcap/read.js";
import { EgressWriter, FrameList } from "../../host/replay/egress.js";
import { EngineRunner } from "../../host/replay/runner.js";
import { demoEngine, demoPackets, packetBytes, scratchDir } from "../pcap/helpers.js";

const { dir, cleanup } = scratchDir();
afterAll(cleanup);

/** A stream keeping every chunk it is given. */
function collector(): { out: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const out = new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } });
  return { out, bytes: () => Buffer.concat(chunks) };
}

describe("egress frames", () => {
  let engine: Engine;
  let pkts: PacketInput[];
  let orig: Uint8Array[];
  beforeAll(async () => {
    engine = await demoEngine();
    // the demo workload with some packets made to expire (ICMP time exceeded from the node) and a few cut short by a snaplen
    pkts = demoPackets(1500, 5).map((p, i) => (i % 7 === 3 ? { ...p, ttl: 1 } : p));
    orig = packetBytes(engine, pkts).map((b, i) => (i % 11 === 5 && b.length > 60 ? b.subarray(0, 60) : b));
  });

  it("in place, through grown FrameLists, merged from two lists, and copied frame by frame: the same file", async () => {
    const devName = (slot: number) => engine.node.devBySlot[slot]?.name ?? `slot${slot}`;
    const direct = new EgressWriter(join(dir, "direct.pcapng"), devName);
    const listed = new EgressWriter(join(dir, "listed.pcapng"), devName);
    const merged = new EgressWriter(join(dir, "merged.pcapng"), devName);
    const one = new FrameList(64, 1);
    const two = [new FrameList(64, 1), new FrameList(64, 1)];
    // the reference: each frame built in a scratch buffer, then copied by CaptureWriter.packet
    const ref = collector();
    const refW = new CaptureWriter(ref.out, { format: "pcapng" });
    const ids = new Map<number, number>();
    const idOf = (slot: number) => { let id = ids.get(slot); if (id === undefined) { id = refW.addInterface(devName(slot)); ids.set(slot, id); } return id; };
    const scratch = new Uint8Array(65536 + 128);
    let replies = 0, forwarded = 0, grew = false;

    const runner = new EngineRunner(engine, 3);
    const batch = 256;
    for (let start = 0; start < pkts.length; start += batch) {
      const { ptr, capacity } = engine.batchBuffer;
      const n = Math.min(batch, capacity, pkts.length - start);
      for (let k = 0; k < n; k++) {
        encodePacket(engine.mem.dv, ptr + k * abi.PKT_SIZE, pkts[start + k] as unknown as Record<string, unknown>, { file: "t", line: start + k + 1 }, engine.devices, 0n, () => {});
      }
      runner.run(n, (k) => start + k, {
        segment(dv, base, k0, k1, replyBase) {
          for (let k = k0; k < k1; k++) {
            const p = base + k * abi.PKT_SIZE, i = start + k;
            const o = { bytes: orig[i]!, offset: 0, length: orig[i]!.length };
            direct.add(dv, p, replyBase, i, o);
            one.add(dv, p, replyBase, i, o);
            two[i % 2]!.add(dv, p, replyBase, i, o);
            const ts = Number(dv.getBigUint64(p + abi.PKT_TIME, true));
            if (dv.getUint8(p + abi.PKT_VERDICT) === abi.VERDICT_FORWARD) {
              forwarded++;
              const len = emitPacket(o.bytes, 0, o.length, dv, p, scratch, 0);
              refW.packet(idOf(dv.getUint16(p + abi.PKT_OIF, true)), ts, scratch, 0, len);
            }
            const first = dv.getUint32(p + abi.PKT_REPLY_FIRST, true);
            for (let j = 0; j < dv.getUint16(p + abi.PKT_REPLY_COUNT, true); j++) {
              const q = replyBase + (first + j) * abi.PKT_SIZE;
              if (dv.getUint8(q + abi.PKT_VERDICT) !== abi.VERDICT_FORWARD) continue;
              replies++;
              const len = synthesizePacket(dv, q, scratch, 0, o);
              refW.packet(idOf(dv.getUint16(q + abi.PKT_OIF, true)), ts, scratch, 0, len);
            }
          }
        },
      });
      grew ||= one.bytes.length > 64 && one.meta.length > 5;
      listed.writeList(one.bytes, one.meta, one.metaUsed);
      one.used = 0; one.metaUsed = 0;
      merged.writeMerged(two.map((l) => { const t = l.take(); return { bytes: new Uint8Array(t.bytes), meta: t.meta }; }));
      await direct.flush();
    }
    await Promise.all([direct.close(), listed.close(), merged.close(), refW.close()]);

    expect(forwarded).toBeGreaterThan(500);
    expect(replies).toBeGreaterThan(20);
    expect(grew).toBe(true);
    const want = ref.bytes();
    expect(direct.frames).toBe(forwarded + replies);
    for (const f of ["direct", "listed", "merged"]) {
      const got = readFileSync(join(dir, `${f}.pcapng`));
      expect(got.length, f).toBe(want.length);
      expect(Buffer.compare(got, want), f).toBe(0);
    }
    // and it reads back: every frame, in order, on its named interface
    const r = CaptureReader.open(join(dir, "direct.pcapng"));
    let n = 0;
    const names = new Set<string>();
    while (r.next()) { n++; names.add(r.iface.name ?? ""); }
    r.close();
    expect(n).toBe(forwarded + replies);
    expect(names.has("eth0")).toBe(true);
    expect(names.size).toBeGreaterThan(2);
  });
});

describe("CaptureWriter outputs", () => {
  for (const format of ["pcapng", "pcap"] as const) {
    it(`${format}: a file written over many buffers, built in place or copied, equals what a stream gets`, async () => {
      const opts: CaptureWriterOptions = { format, baseNs: 1_700_000_000_123_456_789n, bufferSize: 1 };
      const file = join(dir, `many.${format}`);
      const fw = CaptureWriter.toFile(file, opts);
      const s = collector();
      const sw = new CaptureWriter(s.out, opts);
      const a = [fw.addInterface("eth0"), fw.addInterface("veth-abc")];
      const b = [sw.addInterface("eth0"), sw.addInterface("veth-abc")];
      const src = new Uint8Array(70000);
      for (let i = 0; i < src.length; i++) src[i] = (i * 131 + 7) & 255;
      let total = 0;
      for (let i = 0; i < 3000; i++) {
        const len = 1 + ((i * 977) % 9000) + (i % 5 === 0 ? 60000 : 0);
        const ts = i * 1_000_003 + (i % 3) * 4294967296;
        const off = i % 13;
        if (i % 2) fw.packet(a[i % 2]!, ts, src, off, len);
        else {
          const at = fw.reserve(len);
          fw.frameBuffer.set(src.subarray(off, off + len), at);
          fw.commit(a[i % 2]!, ts, len);
        }
        sw.packet(b[i % 2]!, ts, src, off, len);
        total += len;
        if (i % 97 === 0) { await fw.flush(); await sw.flush(); }
      }
      await fw.close();
      await sw.close();
      const got = readFileSync(file), want = s.bytes();
      expect(total).toBeGreaterThan(20 * 262208); // many buffers' worth
      expect(fw.frames).toBe(3000);
      expect(got.length).toBe(want.length);
      expect(Buffer.compare(got, want)).toBe(0);
      const r = CaptureReader.open(file);
      let n = 0, bytes = 0;
      while (r.next()) { n++; bytes += r.capLen; }
      r.close();
      expect(n).toBe(3000);
      expect(bytes).toBe(total);
    });
  }

  it("a frame larger than the buffer is refused, and a failed write rejects close()", async () => {
    const w = new CaptureWriter(collector().out, { format: "pcapng", bufferSize: 1 });
    expect(() => w.reserve(1 << 20)).toThrow(RangeError);
    const bad = new CaptureWriter({ fd: 1 << 20 }, { format: "pcapng" }); // not an open file
    bad.addInterface("eth0");
    bad.packet(0, 0, new Uint8Array(100), 0, 100);
    await expect(bad.close()).rejects.toThrow();
  });
});
