/**
 * host/packet/emit.ts's IPv4 header checksum: against RFC 1071's sum
 * written out plainly, for headers of every length (with options), at any
 * offset, whatever the checksum field held before.
 */
import { describe, it, expect } from "vitest";
import { ipHeaderChecksum } from "../../host/packet/emit.js";

/** RFC 1071: the one's complement of the one's complement sum of the header's 16-bit words (checksum field as zero). */
function reference(h: number[]): number {
  let s = 0;
  for (let i = 0; i < h.length; i += 2) s += i === 10 ? 0 : (h[i]! << 8) | h[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

describe("ipHeaderChecksum", () => {
  it("matches RFC 1071 for 20- to 60-byte headers at any offset, and the header then sums to 0xffff", () => {
    let seed = 12345;
    const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed >>> 24; };
    for (let t = 0; t < 5000; t++) {
      const ihl = 5 + (t % 11);
      const h = Array.from({ length: ihl * 4 }, () => (t % 50 === 0 ? 0xff : rnd()));
      h[0] = 0x40 | ihl;
      const off = t % 7;
      const b = new Uint8Array(off + h.length + 8).fill(0xaa);
      b.set(h, off);
      ipHeaderChecksum(b, off);
      const got = (b[off + 10]! << 8) | b[off + 11]!;
      expect(got).toBe(reference(h));
      let s = 0;
      for (let i = 0; i < ihl * 4; i += 2) s += (b[off + i]! << 8) | b[off + i + 1]!;
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      expect(s).toBe(0xffff);
      // only the checksum field changed
      expect([...b.subarray(off, off + 10), ...b.subarray(off + 12, off + ihl * 4)]).toEqual([...h.slice(0, 10), ...h.slice(12)]);
      expect(b[off + ihl * 4]).toBe(0xaa);
    }
  });
});
