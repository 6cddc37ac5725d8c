/**
 * The capture decoding path end to end (PcapSource: reader, link layer,
 * IPv4/transport decode, ingress, descriptor writer), the one both the CLI
 * and replayCapture use: every descriptor it writes into the engine's batch
 * buffer is, byte for byte, the descriptor the JSONL encoder writes for the
 * same packet, whatever the read buffer size and whether frames are kept;
 * bytes outside the input fields are not touched.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import * as abi from "../../host/core/abi.js";
import { encodePacket, type PacketInput } from "../../host/packet/input.js";
import { FAST_WORDS } from "../../host/packet/wire.js";
import { PcapSource, type PcapSourceOptions } from "../../host/replay/pcap-source.js";
import type { Engine } from "../../host/engine.js";
import { demoEngine, demoPackets, packetBytes, scratchDir, writeCapture, VARIETY, MALFORMED } from "./helpers.js";

const { dir, cleanup } = scratchDir();
afterAll(cleanup);

let engine: Engine;
let pkts: PacketInput[];
let bytes: Uint8Array[];
const SENTINEL = 0xa5;

beforeAll(async () => {
  engine = await demoEngine({ batchSize: 256 });
  // the demo workload, every hand-made kind of packet and the malformed transport
  // headers (hand-made bytes and their JSONL), interleaved in time order
  const demo = demoPackets(3000, 5);
  const t0 = demo[0]!.t ?? 0;
  const variety = VARIETY.map((p, i) => ({ ...p, t: t0 + 0.0001 * (i + 1) }));
  const malformed = MALFORMED.map((m, i) => ({ ...m.input, t: t0 + 0.0001 * (VARIETY.length + i + 1) }));
  pkts = [...demo.slice(0, 10), ...variety, ...malformed, ...demo.slice(10)];
  bytes = [...packetBytes(engine, [...demo.slice(0, 10), ...variety]), ...MALFORMED.map((m) => m.bytes), ...packetBytes(engine, demo.slice(10))];
});

/** The descriptor the JSONL encoder writes for `p` (at time 0: times are compared on their own). */
function jsonlDescriptor(p: PacketInput): Uint8Array {
  const dv = new DataView(new ArrayBuffer(abi.PKT_SIZE));
  encodePacket(dv, 0, { ...p, t: 0 } as unknown as Record<string, unknown>, { file: "t", line: 1 }, engine.devices, 0n, () => {});
  return new Uint8Array(dv.buffer);
}

const IN_RANGES: [number, number][] = [[0, abi.PKT_OUT_INNER_SRC], [abi.PKT_INNER_ICMP_TYPE, abi.PKT_L4_BYTES + 1]];

/** All descriptors a PcapSource writes for `file`, each a copy of its 256 bytes (the buffer is preset to SENTINEL). */
function decodeAll(file: string, opts: PcapSourceOptions, frames: Uint8Array[] = bytes): Uint8Array[] {
  const src = PcapSource.open(file, engine, opts);
  const out: Uint8Array[] = [];
  const { ptr, capacity } = engine.batchBuffer;
  for (;;) {
    engine.mem.u8.fill(SENTINEL, ptr, ptr + capacity * abi.PKT_SIZE);
    const n = src.fill(engine.mem.dv, ptr, capacity);
    if (n === 0) break;
    for (let k = 0; k < n; k++) out.push(engine.mem.u8.slice(ptr + k * abi.PKT_SIZE, ptr + (k + 1) * abi.PKT_SIZE));
    if (opts.keepFrames !== false) {
      // the kept frame of each descriptor is its packet's IPv4 bytes
      const f = src.frame(n - 1);
      expect(f.bytes.subarray(f.offset, f.offset + f.length)).toEqual(frames[out.length - 1]);
    }
  }
  expect(src.skipped()).toEqual({});
  src.close();
  return out;
}

function check(got: Uint8Array[], want: PacketInput[], verify: boolean): void {
  expect(got.length).toBe(want.length);
  const t0 = Math.round((want[0]!.t ?? 0) * 1e9);
  let mismatches = 0;
  got.forEach((d, i) => {
    const p = want[i]!;
    // without checking, a bad checksum is taken as correct (a missing UDP checksum stays "none"),
    // netfilter's over all the bytes of a datagram longer than its UDP length too
    const trimmed = p.ulen !== undefined && p.ulen >= 8 && p.ulen < (p.len ?? 0) - 20 && p.csum !== "none";
    const ref = jsonlDescriptor(verify ? p : { ...p, csum: p.csum === "bad" ? undefined : p.csum, nf_csum: trimmed ? "ok" : p.nf_csum });
    const dv = new DataView(d.buffer);
    const t = dv.getUint32(abi.PKT_TIME, true) + dv.getUint32(abi.PKT_TIME + 4, true) * 4294967296;
    for (const [a, b] of IN_RANGES) {
      for (let j = a; j < b; j++) {
        if (j >= abi.PKT_TIME && j < abi.PKT_TIME + 8) continue;
        if (d[j] !== ref[j] && mismatches++ < 5) expect(`packet ${i} byte ${j}: ${d[j]}`, JSON.stringify(p)).toBe(`packet ${i} byte ${j}: ${ref[j]}`);
      }
    }
    expect(t, `packet ${i} time`).toBe(Math.round((p.t ?? 0) * 1e9) - t0);
    // outside the input fields: untouched
    for (let j = abi.PKT_OUT_INNER_SRC; j < abi.PKT_INNER_ICMP_TYPE; j++) if (d[j] !== SENTINEL) expect(`packet ${i} byte ${j} written`).toBe("");
    for (let j = abi.PKT_L4_BYTES + 1; j < abi.PKT_SIZE; j++) if (d[j] !== SENTINEL) expect(`packet ${i} byte ${j} written`).toBe("");
  });
  expect(mismatches).toBe(0);
}

describe("capture -> descriptors = JSONL -> descriptors", () => {
  it("the word-at-a-time descriptor writer is on for a little-endian host (it checked itself against the field writer)", () => {
    const le = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    expect(FAST_WORDS).toBe(le);
  });

  for (const verify of [true, false]) {
    it(`pcapng, checksums ${verify ? "verified" : "taken as correct"}: every buffer size and frame keeping gives the same, JSONL's, descriptors`, async () => {
      const file = join(dir, `all-${verify}.pcapng`);
      await writeCapture(file, pkts, bytes, { format: "pcapng" });
      const ref = decodeAll(file, { verifyChecksums: verify });
      check(ref, pkts, verify);
      for (const opts of [{ keepFrames: false }, { bufferSize: 512 << 10 }, { bufferSize: 512 << 10, readChunk: 64 << 10, keepFrames: false }] as PcapSourceOptions[]) {
        const got = decodeAll(file, { ...opts, verifyChecksums: verify });
        expect(got.length).toBe(ref.length);
        got.forEach((d, i) => { if (Buffer.compare(d, ref[i]!) !== 0) expect([...d], `${JSON.stringify(opts)} packet ${i}`).toEqual([...ref[i]!]); });
      }
    });
  }

  it("classic pcap (one interface, mapped to eth0): the same descriptors", async () => {
    const sel = pkts.map((p, i) => [p, bytes[i]!] as const).filter(([p]) => p.iif === "eth0");
    const file = join(dir, "eth0.pcap");
    await writeCapture(file, sel.map((x) => x[0]), sel.map((x) => x[1]), { format: "pcap" });
    const got = decodeAll(file, { ingress: { byInterfaceId: { 0: "eth0" } } }, sel.map((x) => x[1]));
    check(got, sel.map((x) => x[0]), true);
  });
});
