/**
 * Input records (abi.ts section 12; assembly/replay/records.ts): the core
 * packs descriptors into records and unpacks them back in place, keeping
 * every input field (bytes 0..71, 128..143, 220..223) and nothing else, for
 * batches of every length (the in-place moves overlap differently for the
 * first few descriptors); the host's unpackInputs (for batches outside the
 * core's memory) gives the same input fields. The decode thread hands its
 * batches over as records (decode-thread.test.ts holds the replay to the
 * same results as without the thread).
 */
import { describe, expect, it } from "vitest";
import * as abi from "../../host/core/abi.js";
import { coreModule, instantiateCore } from "../../host/core/wasm.js";
import { unpackInputs } from "../../host/replay/pcap-thread.js";
import { mulberry32 } from "../../host/util/prng.js";

/** The input spans of a descriptor: [from, to) byte ranges. */
const INPUTS: [number, number][] = [[0, abi.PKT_VERDICT], [abi.PKT_TCP_WSCALE, abi.PKT_OUT_INNER_SRC], [abi.PKT_INNER_ICMP_TYPE, abi.PKT_NF_TRACE_LAST]];

function inputsOf(d: Uint8Array): number[] {
  return INPUTS.flatMap(([a, b]) => [...d.subarray(a, b)]);
}

function randomBatch(n: number, seed: number): Uint8Array {
  const rnd = mulberry32(seed);
  const b = new Uint8Array(n * abi.PKT_SIZE);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

describe("input records", () => {
  it("the layout: the input spans back to back, 92 bytes and 4 of padding", () => {
    expect(abi.IN_A).toBe(abi.PKT_VERDICT);
    expect(abi.IN_B).toBe(abi.IN_A);
    expect(abi.IN_C).toBe(abi.IN_B + (abi.PKT_OUT_INNER_SRC - abi.PKT_TCP_WSCALE));
    expect(abi.IN_C + 4 + 4).toBe(abi.IN_SIZE);
    expect(abi.PKT_NF_TRACE_LAST - abi.PKT_INNER_ICMP_TYPE).toBe(4);
  });

  it("pack then unpack in place keeps every input field, for batches of 0 to 40 and 1,024 descriptors", async () => {
    const core = await instantiateCore(await coreModule());
    for (const n of [...Array.from({ length: 41 }, (_, i) => i), 1024]) {
      const batch = randomBatch(n, 1000 + n);
      const base = core.alloc(Math.max(1, n) * abi.PKT_SIZE + 16) + 8; // not 16-byte aligned: the core must not rely on it
      new Uint8Array(core.memory.buffer, base, n * abi.PKT_SIZE).set(batch);
      core.pkt_pack_inputs(base, n);
      const packed = new Uint8Array(core.memory.buffer, base, n * abi.IN_SIZE).slice();
      for (let k = 0; k < n; k++) {
        const d = batch.subarray(k * abi.PKT_SIZE, (k + 1) * abi.PKT_SIZE);
        const r = packed.subarray(k * abi.IN_SIZE, (k + 1) * abi.IN_SIZE);
        expect([...r.subarray(0, abi.IN_C + 4)]).toEqual(inputsOf(d));
        expect([...r.subarray(abi.IN_C + 4)]).toEqual([0, 0, 0, 0]);
      }
      // unpacked by the core, in place, and by the host into another buffer: the same input fields
      core.pkt_unpack_inputs(base, n);
      const inCore = new Uint8Array(core.memory.buffer, base, n * abi.PKT_SIZE);
      const byHost = new Uint8Array(n * abi.PKT_SIZE).fill(0xa5);
      unpackInputs(packed, byHost, n);
      for (let k = 0; k < n; k++) {
        const want = inputsOf(batch.subarray(k * abi.PKT_SIZE, (k + 1) * abi.PKT_SIZE));
        expect(inputsOf(inCore.subarray(k * abi.PKT_SIZE, (k + 1) * abi.PKT_SIZE))).toEqual(want);
        const h = byHost.subarray(k * abi.PKT_SIZE, (k + 1) * abi.PKT_SIZE);
        expect(inputsOf(h)).toEqual(want);
        // the host writes the input fields only
        expect([...h.subarray(abi.PKT_VERDICT, abi.PKT_TCP_WSCALE)].every((x) => x === 0xa5)).toBe(true);
        expect([...h.subarray(abi.PKT_OUT_INNER_SRC, abi.PKT_INNER_ICMP_TYPE)].every((x) => x === 0xa5)).toBe(true);
        expect([...h.subarray(abi.PKT_NF_TRACE_LAST)].every((x) => x === 0xa5)).toBe(true);
      }
    }
  });
});
