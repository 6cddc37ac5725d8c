/**
 * replayCapture: the same packets as a capture and as JSONL give the same
 * engine results, result by result; damage ends reading with the byte
 * offset while every frame before it is replayed, handed to the sink and
 * counted.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import { demoEngine, demoPackets, packetBytes, scratchDir, writeCapture } from "./helpers.js";
import { replayCapture, type CaptureSink } from "../../host/pcap/replay.js";
import { CaptureReader } from "../../host/pcap/read.js";
import { CaptureError } from "../../host/pcap/errors.js";
import { packetInputFromBytes } from "../../host/packet/wire.js";
import { accumulate, newStats } from "../../host/replay/jsonl.js";
import type { PacketInput } from "../../host/packet/input.js";
import type { PacketResult } from "../../host/packet/result.js";
import type { Engine } from "../../host/engine.js";

const { dir, cleanup } = scratchDir();
afterAll(cleanup);

let pkts: PacketInput[];
let bytes: Uint8Array[];
const N = 3000;

beforeAll(async () => {
  const e = await demoEngine();
  pkts = demoPackets(N);
  bytes = packetBytes(e, pkts);
});

/** A sink that decodes every result and rebuilds the JSONL input from the frame's bytes. */
function collector(engine: Engine) {
  const results: PacketResult[] = [];
  const inputs: PacketInput[] = [];
  const frames: number[] = [];
  const sink: CaptureSink = {
    packet(k, index, frame) {
      results.push(engine.decodeRaw(k, index));
      inputs.push(packetInputFromBytes(frame.buf, frame.ipStart, frame.ipLength, engine.node.devBySlot[frame.iif]!.name, frame.tsNs));
      frames.push(frame.number);
    },
  };
  return { results, inputs, frames, sink };
}

function stripSeconds<T extends { seconds: number }>(s: T): Omit<T, "seconds"> {
  const { seconds: _, ...rest } = s;
  return rest;
}

describe("capture replay = JSONL replay", () => {
  for (const cpus of [1, 2]) {
    for (const format of ["pcapng", "pcap"] as const) {
      it(`${format}, ${cpus} CPU(s): same results, packet by packet, and the same summary`, async () => {
        const file = join(dir, `same-${cpus}.${format}`);
        if (format === "pcapng") await writeCapture(file, pkts, bytes, { format });
        const a = await demoEngine({ cpus, batchSize: 256 });
        const c = collector(a);
        const opts: Parameters<typeof replayCapture>[3] = {};
        if (format === "pcap") {
          // one interface: replay only the frames of one link (eth0) written to their own file
          const eth0 = pkts.map((p, i) => [p, bytes[i]!] as const).filter(([p]) => p.iif === "eth0");
          await writeCapture(file, eth0.map((x) => x[0]), eth0.map((x) => x[1]), { format });
          opts.ingress = { byInterfaceId: { 0: "eth0" } };
        }
        const st = await replayCapture(a, file, c.sink, opts);
        expect(st.error).toBeUndefined();
        expect(st.packets).toBe(c.results.length);
        expect(st.frames).toBe(format === "pcap" ? pkts.filter((p) => p.iif === "eth0").length : N);
        const b = await demoEngine({ cpus });
        const ref = b.process(c.inputs);
        expect(ref.length).toBe(c.results.length);
        for (let i = 0; i < ref.length; i++) {
          if (JSON.stringify(ref[i]) !== JSON.stringify(c.results[i])) expect(c.results[i]).toEqual(ref[i]);
        }
        const js = newStats();
        for (const r of ref) accumulate(js, r);
        const { frames: _f, notReplayed, csumUnverified, nodeSends, copiesPaired, timeBeforeStart, firstTimestampNs: _t, interfaces: _i, error: _e, ...core } = st;
        expect(stripSeconds(core)).toEqual(stripSeconds(js));
        expect(notReplayed).toEqual({});
        expect(nodeSends).toBe(0); // arriving packets only
        expect(copiesPaired).toBe(0); // (no forwarded copies)
        expect(csumUnverified).toBe(0);
        expect(timeBeforeStart).toBe(0);
        // the capture's packets are the generated ones (same inputs up to the fields a capture adds)
        const src = format === "pcap" ? pkts.filter((p) => p.iif === "eth0") : pkts;
        for (let i = 0; i < 50; i++) {
          expect(c.inputs[i]!.dst).toBe(src[i]!.dst);
          expect(c.inputs[i]!.iif).toBe(src[i]!.iif);
        }
        // the workload exercises NAT and conntrack and drops
        expect(Object.keys(st.nat).length).toBeGreaterThan(0);
        expect(st.verdicts.drop ?? 0).toBeGreaterThan(0);
      });
    }
  }
});

describe("bounded memory", () => {
  it("a read buffer smaller than a batch of frames: refills around the frames the sink still needs give the same results", async () => {
    const file = join(dir, "small-buffer.pcapng");
    await writeCapture(file, pkts, bytes, { format: "pcapng" });
    const size = readFileSync(file).length;
    expect(size).toBeGreaterThan(2 * (512 << 10));
    const a = await demoEngine();
    const ca = collector(a);
    const sa = await replayCapture(a, file, ca.sink);
    for (const cpus of [1, 2]) {
      const b = await demoEngine({ cpus, batchSize: 4096 });
      const cb = collector(b);
      const reader = CaptureReader.open(file, { bufferSize: 512 << 10 });
      expect(reader.buf.length).toBe(512 << 10);
      const sb = await replayCapture(b, reader, cb.sink);
      expect(sb.error).toBeUndefined();
      expect(sb.packets).toBe(N);
      expect(cb.inputs).toEqual(ca.inputs);
      if (cpus === 1) expect(cb.results).toEqual(ca.results);
    }
    expect(sa.packets).toBe(N);
  });
});

describe("damaged captures", () => {
  let good: string;
  let size: number;
  let recordOffsets: number[];
  beforeAll(async () => {
    good = join(dir, "good.pcapng");
    await writeCapture(good, pkts.slice(0, 400), bytes.slice(0, 400), { format: "pcapng" });
    const buf = readFileSync(good);
    size = buf.length;
    // walk the blocks: offsets of the packet blocks
    recordOffsets = [];
    for (let o = 0; o < buf.length;) {
      const type = buf.readUInt32LE(o);
      if (type === 6) recordOffsets.push(o);
      o += buf.readUInt32LE(o + 4);
    }
    expect(recordOffsets.length).toBe(400);
  });

  async function run(file: string) {
    const e = await demoEngine();
    const c = collector(e);
    const st = await replayCapture(e, file, c.sink);
    return { st, c, e };
  }

  it("truncated at several points: the error names the offset of the cut record; all frames before are replayed and counted", async () => {
    const full = readFileSync(good);
    const ref = await run(good);
    expect(ref.st.packets).toBe(400);
    for (const [frameIdx, into] of [[0, 3], [17, 8], [150, 20], [150, 27], [399, 40]] as const) {
      const cut = recordOffsets[frameIdx]! + into;
      const f = join(dir, `cut-${cut}.pcapng`);
      writeFileSync(f, full.subarray(0, cut));
      const { st, c } = await run(f);
      expect(st.error).toBeInstanceOf(CaptureError);
      const err = st.error as CaptureError;
      expect(err.offset).toBe(recordOffsets[frameIdx]);
      expect(err.frame).toBe(frameIdx + 1);
      expect(err.message).toContain(`byte offset ${recordOffsets[frameIdx]}`);
      expect(err.message).toContain("truncated");
      expect(st.packets).toBe(frameIdx);
      expect(st.frames).toBe(frameIdx);
      expect(c.results).toEqual(ref.c.results.slice(0, frameIdx));
      const sum = st.verdicts.forward ?? 0;
      expect(sum + (st.verdicts.drop ?? 0) + (st.verdicts.local ?? 0)).toBe(frameIdx);
    }
    expect(size).toBe(full.length);
  });

  it("malformed records: bad block length, trailing length mismatch, caplen above the snaplen, unknown interface", async () => {
    const full = readFileSync(good);
    const cases: [string, (b: Buffer, o: number) => void, number, string][] = [
      ["length not a multiple of 4", (b, o) => b.writeUInt32LE(b.readUInt32LE(o + 4) + 2, o + 4), 4, "multiple of 4"],
      ["trailing mismatch", (b, o) => { const l = b.readUInt32LE(o + 4); b.writeUInt32LE(l + 4, o + l - 4); }, -1, "trailing block length"],
      ["caplen above 256 KiB", (b, o) => b.writeUInt32LE(300000, o + 20), 20, "exceeds 262144"],
      ["unknown interface id", (b, o) => b.writeUInt32LE(99, o + 8), 8, "interface 99"],
    ];
    for (const [name, damage, rel, text] of cases) {
      const b = Buffer.from(full);
      const idx = 77;
      const o = recordOffsets[idx]!;
      damage(b, o);
      const f = join(dir, `bad-${name.replace(/\W+/g, "-")}.pcapng`);
      writeFileSync(f, b);
      const { st } = await run(f);
      const err = st.error as CaptureError;
      expect(err, name).toBeInstanceOf(CaptureError);
      expect(err.message, name).toContain(text);
      expect(err.offset, name).toBe(rel >= 0 ? o + rel : o + b.readUInt32LE(o + 4) - 4);
      expect(err.frame, name).toBe(idx + 1);
      expect(st.packets, name).toBe(idx);
    }
  });

  it("not a capture: bad magic names offset 0", async () => {
    const f = join(dir, "notpcap.bin");
    writeFileSync(f, Buffer.from("hello world, this is not a capture file"));
    const { st } = await run(f);
    expect(st.error).toBeInstanceOf(CaptureError);
    expect(st.error!.message).toMatch(/notpcap\.bin: "0x68656c6c": byte offset 0: not a pcap or pcapng file/);
    expect(st.packets).toBe(0);
  });

  it("a malformed transport header is a packet, not damage: the replay goes on, and the packet decodes as its JSONL twin", async () => {
    const ref = await run(good);
    const b = Buffer.from(readFileSync(good));
    // the first TCP packet (raw IPv4 frames: the header is where the EPB's data starts, record + 28)
    const idx = recordOffsets.findIndex((o) => b[o + 28 + 9] === 6);
    expect(idx).toBeGreaterThanOrEqual(0);
    const o = recordOffsets[idx]!;
    const ip = o + 28;
    const ihl = (b[ip]! & 15) * 4;
    b[ip + ihl + 12] = 0x30; // TCP data offset 3
    const f = join(dir, "doff.pcapng");
    writeFileSync(f, b);
    const { st, c } = await run(f);
    expect(st.error).toBeUndefined();
    expect(st.packets).toBe(ref.st.packets);
    expect(c.inputs[idx]).toMatchObject({ proto: "tcp", doff: 3, l4_bytes: c.inputs[idx]!.len! - ihl });
    // conntrack finds it INVALID (tcp_error: "truncated packet"): no entry, no NAT
    expect(c.results[idx]!.ct).toBe("INVALID");
    expect(c.results[idx]!.nat ?? []).toEqual([]);
    // the packets before it are as in the sound capture
    expect(c.results.slice(0, idx)).toEqual(ref.c.results.slice(0, idx));
  });

  it("an IPv4 header ip_rcv rejects is a packet the node drops, not damage: the replay goes on", async () => {
    const ref = await run(good);
    const b = Buffer.from(readFileSync(good));
    const idx = 5;
    const o = recordOffsets[idx]!;
    b[o + 28] = 0x43; // IHL 3
    const f = join(dir, "ihl.pcapng");
    writeFileSync(f, b);
    const { st, c, e } = await run(f);
    expect(st.error).toBeUndefined();
    expect(st.packets).toBe(400);
    expect(c.results[idx]).toMatchObject({ verdict: "drop", reason: "IP_INHDR" });
    // one more header error than the sound capture (whose TTL-expired packets count there too)
    expect(e.counters().IpInHdrErrors).toBe(ref.e.counters().IpInHdrErrors! + 1);
    // the packets before it are as in the sound capture
    expect(c.results.slice(0, idx)).toEqual(ref.c.results.slice(0, idx));
  });
});
