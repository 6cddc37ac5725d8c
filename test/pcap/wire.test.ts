/**
 * wire.ts: bytes -> descriptor gives exactly the descriptor the JSONL
 * encoder writes for the same packet; synthesised packets decode back to
 * the packet they were built from; checksum verdicts come from the bytes.
 */
import { describe, it, expect, beforeAll } from "vitest";
import * as abi from "../../host/core/abi.js";
import { encodePacket, type PacketInput } from "../../host/packet/input.js";
import { parseIPv4, writeDescriptor, packetInputFromBytes, WireFields, WIRE_OK, WIRE_FRAGMENT, WIRE_ERROR, WIRE_IP_ERROR, csumAdd, csumFold } from "../../host/packet/wire.js";
import { synthesizePacket } from "../../host/packet/emit.js";
import { demoEngine, demoPackets, packetBytes, VARIETY } from "./helpers.js";
import type { Engine } from "../../host/engine.js";
import { parseIPv4 as parseIPv4Text } from "../../host/util/ipv4.js";


let engine: Engine;
beforeAll(async () => { engine = await demoEngine(); });

function encode(p: PacketInput): DataView {
  const dv = new DataView(new ArrayBuffer(abi.PKT_SIZE));
  encodePacket(dv, 0, p as unknown as Record<string, unknown>, { file: "t", line: 1 }, engine.devices, 0n, () => {});
  return dv;
}

/** The input fields of a descriptor (the bytes the host writes). */
function inputs(dv: DataView): number[] {
  const u8 = new Uint8Array(dv.buffer);
  return [...u8.subarray(0, abi.PKT_OUT_INNER_SRC), ...u8.subarray(abi.PKT_INNER_ICMP_TYPE, abi.PKT_CPU + 2)];
}

function fromBytes(b: Uint8Array, iif: string, tNs: number): DataView {
  const w = new WireFields();
  expect(parseIPv4(b, 0, b.length, b.length, w)).toBe(WIRE_OK);
  const dv = new DataView(new ArrayBuffer(abi.PKT_SIZE));
  writeDescriptor(w, new Uint8Array(dv.buffer), dv, 0, engine.devices.slotOf(iif)!, 0, tNs);
  return dv;
}

function synth(p: PacketInput): Uint8Array {
  const out = new Uint8Array(65536);
  const n = synthesizePacket(encode(p), 0, out, 0);
  return out.slice(0, n);
}

describe("bytes -> descriptor", () => {
  it("hand-made packets: synthesised, decoded back to the very descriptor the JSONL encoder writes", () => {
    for (const p of VARIETY) {
      const b = synth(p);
      const tNs = Math.round(p.t! * 1e9);
      const d = fromBytes(b, p.iif, tNs);
      expect(inputs(d), JSON.stringify(p)).toEqual(inputs(encode(p)));
      const back = packetInputFromBytes(b, 0, b.length, p.iif, tNs);
      expect(inputs(encode(back)), JSON.stringify(back)).toEqual(inputs(d));
    }
  });

  it("the demo workload: 5000 packets, descriptor from bytes = descriptor from JSONL", async () => {
    const pkts = demoPackets(5000, 11);
    const bytes = packetBytes(engine, pkts);
    pkts.forEach((p, i) => {
      const tNs = Math.round((p.t ?? 0) * 1e9);
      const d = fromBytes(bytes[i]!, p.iif, tNs);
      const back = packetInputFromBytes(bytes[i]!, 0, bytes[i]!.length, p.iif, tNs);
      const want = inputs(encode(back));
      const got = inputs(d);
      if (want.join() !== got.join()) expect(got, JSON.stringify(p)).toEqual(want);
    });
  });

  it("the ones'-complement sum (word-at-a-time path included) equals the plain 16-bit one at every alignment and length", () => {
    const buf = new Uint8Array(4096);
    let x = 12345;
    for (let i = 0; i < buf.length; i++) { x = (x * 1103515245 + 12345) >>> 0; buf[i] = x >>> 24; }
    const view = new Uint8Array(buf.buffer, 3, 4000); // an unaligned view too
    for (const b of [buf, view]) {
      for (let o = 0; o < 8; o++) {
        for (const n of [0, 1, 2, 3, 63, 64, 65, 66, 67, 200, 1499, 1500, 3000]) {
          let ref = 0;
          for (let i = 0; i + 1 < n; i += 2) ref += (b[o + i]! << 8) | b[o + i + 1]!;
          if (n & 1) ref += b[o + n - 1]! << 8;
          expect(csumFold(csumAdd(b, o, n, 7)) % 0xffff, `o=${o} n=${n}`).toBe(csumFold(ref + 7) % 0xffff);
        }
      }
    }
  });

  it("checksum verdicts come from the bytes", () => {
    const w = new WireFields();
    const tcp = synth(VARIETY[1]!);
    expect(parseIPv4(tcp, 0, tcp.length, tcp.length, w)).toBe(WIRE_OK);
    expect(w.csum).toBe(abi.CSUM_OK);
    tcp[500] ^= 0x40; // a payload bit
    parseIPv4(tcp, 0, tcp.length, tcp.length, w);
    expect(w.csum).toBe(abi.CSUM_BAD);
    // cut by the snaplen: cannot be checked, taken as correct
    parseIPv4(tcp, 0, 96, tcp.length, w);
    expect([w.csum, w.csumUnverified]).toEqual([abi.CSUM_OK, true]);
    const udp0 = synth(VARIETY[4]!);
    parseIPv4(udp0, 0, udp0.length, udp0.length, w);
    expect(w.csum).toBe(abi.CSUM_NONE);
    const icmp = synth(VARIETY[7]!);
    icmp[40] ^= 1;
    parseIPv4(icmp, 0, icmp.length, icmp.length, w);
    expect(w.csum).toBe(abi.CSUM_BAD);
    // UDP-Lite: only the covered bytes count
    const lite = synth(VARIETY[6]!);
    lite[50] ^= 0xff;
    parseIPv4(lite, 0, lite.length, lite.length, w);
    expect(w.csum).toBe(abi.CSUM_OK);
    lite[30] ^= 0xff;
    parseIPv4(lite, 0, lite.length, lite.length, w);
    expect(w.csum).toBe(abi.CSUM_BAD);
  });

  it("TCP options as conntrack parses them: wscale clamped to 14, SACK's highest right edge, malformed options stop the walk", () => {
    const b = synth({ iif: "eth0", src: "1.1.1.1", dst: "10.0.0.10", proto: "tcp", flags: "A", doff: 11, len: 64 });
    // options: NOP, wscale 20, SACK 2 blocks (right edges 1000 and 0xfffffff0 + 40 wrapping)
    const opt = [1, 3, 3, 20, 5, 18, 0, 0, 0, 0, 0, 0, 3, 0xe8, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0xf8, 1, 0];
    b.set(opt, 40);
    // fix the TCP checksum: recompute by synthesising is not possible here, so check the verdict separately
    const w = new WireFields();
    parseIPv4(b, 0, b.length, b.length, w, false);
    expect(w.wscale).toBe(15);
    expect(w.topts).toBe(abi.TO_SACK);
    expect(w.sack).toBe(1000); // 1000 is after 0xfffffff8 in sequence space
    b[40] = 3; b[41] = 1; // a "silly" option (size < 2): the kernel stops there
    parseIPv4(b, 0, b.length, b.length, w, false);
    expect([w.wscale, w.topts]).toEqual([0, 0]);
  });

  it("fragments are recognised, headers ip_rcv rejects are packets it drops, capture damage says what and where", () => {
    const w = new WireFields();
    const b = synth(VARIETY[3]!);
    const frag = b.slice();
    frag[6] = 0x20; // MF
    frag[10] = 0; frag[11] = 0;
    expect(parseIPv4(frag, 0, frag.length, frag.length, w)).toBe(WIRE_IP_ERROR); // header checksum now wrong
    expect(w.ipError).toBe(abi.IPERR_CSUM);
    expect([w.src, w.dst, w.proto, w.len]).toEqual([parseIPv4Text(VARIETY[3]!.src)!, parseIPv4Text(VARIETY[3]!.dst)!, 17, frag.length]);
    const f2 = synth({ ...VARIETY[3]!, id: 9 });
    f2[7] = 0x10; // offset
    // fix the header checksum
    f2[10] = 0; f2[11] = 0;
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += (f2[i]! << 8) | f2[i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    f2[10] = (~s >> 8) & 0xff; f2[11] = ~s & 0xff;
    expect(parseIPv4(f2, 0, f2.length, f2.length, w)).toBe(WIRE_FRAGMENT);
    expect(w.ipError).toBe(abi.IPERR_NONE);
    // 30 bytes on the wire for a total length of 100: ip_rcv_core's truncated packet
    expect(parseIPv4(b, 0, 30, 30, w)).toBe(WIRE_IP_ERROR);
    expect(w.ipError).toBe(abi.IPERR_TRUNCATED);
    expect(w.len).toBe(30);
    // the checksum is checked before the length (ip_rcv_core's order)
    expect(parseIPv4(frag, 0, 30, 30, w)).toBe(WIRE_IP_ERROR);
    expect(w.ipError).toBe(abi.IPERR_CSUM);
    // version and header length, whatever else is wrong
    const v6 = b.slice(); v6[0] = 0x65;
    expect(parseIPv4(v6, 0, v6.length, v6.length, w)).toBe(WIRE_IP_ERROR);
    expect(w.ipError).toBe(abi.IPERR_HDR);
    const ihl4 = b.slice(); ihl4[0] = 0x44;
    expect(parseIPv4(ihl4, 0, ihl4.length, ihl4.length, w)).toBe(WIRE_IP_ERROR);
    expect(w.ipError).toBe(abi.IPERR_HDR);
    // ten bytes on the wire: not even a header (pskb_may_pull fails), before the ECN count
    expect(packetInputFromBytes(b, 0, 10, "eth0").ip_error).toBe("hdr");
    // past the version/IHL check (the ECN count): a frame shorter than IHL * 4, a total length below it
    const ihl15 = b.slice(); ihl15[0] = 0x4f;
    expect(parseIPv4(ihl15, 0, 40, 40, w)).toBe(WIRE_IP_ERROR);
    expect(w.ipError).toBe(abi.IPERR_HDR_LEN);
    expect(packetInputFromBytes(ihl15, 0, 40, "eth0").ip_error).toBe("hdr_len");
    const tot16 = b.slice(); tot16[2] = 0; tot16[3] = 16; tot16[10] = 0; tot16[11] = 0;
    let s16 = 0;
    for (let i = 0; i < 20; i += 2) s16 += (tot16[i]! << 8) | tot16[i + 1]!;
    while (s16 > 0xffff) s16 = (s16 & 0xffff) + (s16 >>> 16);
    tot16[10] = (~s16 >> 8) & 0xff; tot16[11] = ~s16 & 0xff;
    expect(parseIPv4(tot16, 0, tot16.length, tot16.length, w)).toBe(WIRE_IP_ERROR);
    expect([w.ipError, w.len, w.rcvPad]).toEqual([abi.IPERR_HDR_LEN, tot16.length, 0]);
    // padding after the datagram (a short Ethernet frame): kept for IpExtInOctets, from the wire length (a snaplen does not cut it)
    const padded = new Uint8Array(b.length + 12); padded.set(b);
    expect(parseIPv4(padded, 0, padded.length, padded.length, w)).toBe(WIRE_OK);
    expect([w.len, w.rcvPad]).toEqual([b.length, 12]);
    expect(parseIPv4(padded, 0, b.length, padded.length + 100, w)).toBe(WIRE_OK);
    expect(w.rcvPad).toBe(112);
    expect(packetInputFromBytes(padded, 0, padded.length, "eth0").pad).toBe(12);
    // the snaplen cut what the packet has: damage to the capture, not the packet's fault
    expect(parseIPv4(b, 0, 24, b.length, w)).toBe(WIRE_ERROR);
    expect(w.problem).toContain("too short for a UDP header");
    expect(w.problemAt).toBe(20);
    expect(() => packetInputFromBytes(b, 0, 10, "eth0", 0, b.length)).toThrow(/too short for an IPv4 header/);
  });
});
