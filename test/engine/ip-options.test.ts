/**
 * IPv4 header options (IHL > 5): ip_options_compile's checks as the capture
 * decoder runs them (host/packet/ipopts.ts), and what the engine does with
 * the verdict (assembly/ipv4/rcv.ts ipRcvOptions: after PREROUTING and input
 * routing, IpInHdrErrors and a parameter problem pointing at the byte at
 * fault; a source route dropped silently), valid options passing unchanged,
 * and transport lengths read past the options.
 * test/pcap/ip-options-kernel.test.ts compares the same with the kernel.
 */
import { describe, expect, it } from "vitest";
import * as abi from "../../host/core/abi.js";
import type { Engine } from "../../host/engine.js";
import { WireFields, parseIPv4, writeDescriptor, WIRE_OK } from "../../host/packet/wire.js";
import { ipOptionsCompile, ipOptionsEcho } from "../../host/packet/ipopts.js";
import type { PacketResult } from "../../host/packet/result.js";
import { eksFixtureEngine, eksFixtureSnapshot } from "../fixtures/eks-fixture.js";
import { Engine as EngineClass } from "../../host/engine.js";

const S = "52.1.2.3", NODE = "10.0.0.10", POD = "10.0.0.55";
const a4 = (s: string) => s.split(".").map(Number);

function csum16(b: number[]): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** An IPv4 packet whose header carries `opts` (padded with EOL to 4 bytes), right header checksum. */
export function ipv4WithOptions(src: string, dst: string, proto: number, l4: number[], opts: number[], ttl = 60): Uint8Array {
  const o = opts.slice();
  while (o.length % 4) o.push(0);
  const ihl = 20 + o.length;
  const len = ihl + l4.length;
  const h = [0x40 | (ihl >> 2), 0, len >> 8, len & 255, 0, 7, 0, 0, ttl, proto, 0, 0, ...a4(src), ...a4(dst), ...o];
  const c = csum16(h);
  h[10] = c >> 8; h[11] = c & 255;
  return Uint8Array.from([...h, ...l4]);
}

const udp = (sport = 5353, dport = 53) => [sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 12, 0, 0, 1, 2, 3, 4];
/** A SYN from S to NODE with its checksum (the pseudo-header's addresses are S and NODE). */
const tcpSyn = (seq: number, dport: number) => {
  const t = [0x9c, 0x40, dport >> 8, dport & 255, seq >>> 24, (seq >>> 16) & 255, (seq >>> 8) & 255, seq & 255, 0, 0, 0, 0, 0x50, 2, 0xff, 0xff, 0, 0, 0, 0];
  const c = csum16([...a4(S), ...a4(NODE), 0, 6, 0, t.length, ...t]);
  t[16] = c >> 8; t[17] = c & 255;
  return t;
};

/** Decodes each frame (arriving on eth0) into the engine's batch and processes them. */
function runFrames(e: Engine, frames: Uint8Array[]): PacketResult[] {
  const w = new WireFields();
  const { ptr } = e.batchBuffer;
  const eth0 = e.devices.slotOf("eth0")!;
  frames.forEach((b, k) => {
    expect(parseIPv4(b, 0, b.length, b.length, w)).toBe(WIRE_OK);
    writeDescriptor(w, e.mem.u8, e.mem.dv, ptr + k * abi.PKT_SIZE, eth0, 0, 1e9 + k * 1e6);
  });
  e.processRaw(frames.length);
  return frames.map((_, k) => e.decodeRaw(k, k));
}

/** [pp_ptr or 0, srr] of the options */
const verdict = (opts: number[]) => {
  const b = ipv4WithOptions(S, POD, 17, udp(), opts);
  const v = ipOptionsCompile(b, 0, (b[0]! & 15) * 4);
  return [v.ppPtr, v.srr];
};

describe("ip_options_compile's checks (receive)", () => {
  it("valid options: NOOP, EOL with anything after it, RR, TS, RA, SEC, unknown types", () => {
    expect(verdict([1, 1, 1, 1])).toEqual([0, false]);
    expect(verdict([0, 7, 99, 5])).toEqual([0, false]); // after EOL nothing is read
    expect(verdict([7, 7, 4, 0, 0, 0, 0, 1])).toEqual([0, false]); // RR, room for one
    expect(verdict([7, 7, 8, 1, 2, 3, 4, 1])).toEqual([0, false]); // RR full: nothing to fill
    expect(verdict([68, 8, 5, 0, 0, 0, 0, 0])).toEqual([0, false]); // TS only
    expect(verdict([68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0])).toEqual([0, false]); // TS and address
    expect(verdict([68, 8, 9, 0x10, 0, 0, 0, 0])).toEqual([0, false]); // TS full: overflow 1 -> 2
    expect(verdict([68, 8, 9, 0xf3, 0, 0, 0, 0])).toEqual([0, false]); // prespecified full: no overflow check
    expect(verdict([68, 8, 5, 7, 0, 0, 0, 0])).toEqual([0, false]); // an unknown TS flag, accepted on receive
    expect(verdict([148, 4, 0, 0])).toEqual([0, false]); // router alert
    expect(verdict([148, 4, 0, 1])).toEqual([0, false]); // another RA value: kept, no router alert
    expect(verdict([130, 4, 0, 0])).toEqual([0, false]); // SEC
    expect(verdict([200, 4, 1, 2, 25, 2])).toEqual([0, false]); // unknown types, skipped by their length
  });

  it("malformed options: pp_ptr is the byte at fault, counted from the header's start", () => {
    expect(verdict([7, 1, 0, 0])).toEqual([20, false]); // a length below 2
    expect(verdict([7, 9, 4, 0])).toEqual([20, false]); // a length beyond the options
    expect(verdict([1, 1, 1, 7])).toEqual([23, false]); // a type byte with no length after it
    expect(verdict([7, 2, 0, 0])).toEqual([21, false]); // RR without a pointer
    expect(verdict([7, 7, 3, 0, 0, 0, 0, 1])).toEqual([22, false]); // RR pointer below 4
    expect(verdict([7, 7, 6, 0, 0, 0, 0, 1])).toEqual([22, false]); // RR pointer with no room for an address
    expect(verdict([7, 3, 4, 7, 3, 4, 0, 0])).toEqual([23, false]); // a second RR
    expect(verdict([68, 3, 5, 0])).toEqual([21, false]); // TS under 4 bytes
    expect(verdict([68, 8, 4, 0, 0, 0, 0, 0])).toEqual([22, false]); // TS pointer below 5
    expect(verdict([68, 8, 5, 1, 0, 0, 0, 0])).toEqual([22, false]); // TS and address with room for one part
    expect(verdict([68, 8, 9, 0xf0, 0, 0, 0, 0])).toEqual([23, false]); // TS full with the overflow at 15
    expect(verdict([148, 2, 1, 1])).toEqual([21, false]); // RA under 4 bytes
    expect(verdict([134, 6, 0, 0, 0, 1])).toEqual([21, false]); // CIPSO under 8 bytes
    expect(verdict([134, 8, 0, 0, 0, 1, 0, 0])).toEqual([22, false]); // CIPSO with a DOI the node does not have
    expect(verdict([131, 7, 3, 1, 2, 3, 4, 1])).toEqual([22, false]); // LSRR pointer below 4
    expect(verdict([131, 2, 1, 1])).toEqual([21, false]); // LSRR without a pointer
    expect(verdict([131, 3, 4, 137, 3, 4, 0, 0])).toEqual([23, true]); // a second source route
  });

  it("source routes: LSRR and SSRR are valid, and flagged", () => {
    expect(verdict([131, 7, 4, 10, 0, 1, 33, 1])).toEqual([0, true]);
    expect(verdict([137, 11, 4, 10, 0, 1, 33, 10, 0, 1, 34, 1])).toEqual([0, true]);
  });
});

describe("the engine: where and how packets with options are dropped", () => {
  // a raw PREROUTING rule counts what reached PREROUTING
  const RULES = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -j ACCEPT\nCOMMIT\n";

  it("valid options are forwarded; malformed ones are dropped after PREROUTING with IpInHdrErrors and a parameter problem", async () => {
    const e = await eksFixtureEngine({ rules: RULES });
    const r = runFrames(e, [
      ipv4WithOptions(S, POD, 17, udp(), [1, 1, 1, 1]),
      ipv4WithOptions(S, POD, 17, udp(), [7, 7, 4, 0, 0, 0, 0, 1]),
      ipv4WithOptions(S, POD, 17, udp(), [148, 4, 0, 0]),
      ipv4WithOptions(S, POD, 17, udp(), [7, 7, 3, 0, 0, 0, 0, 1]),
      ipv4WithOptions(S, NODE, 17, udp(), [68, 3, 5, 0]),
    ]);
    expect(r.map((x) => [x.verdict, x.reason])).toEqual([
      ["forward", undefined], ["forward", undefined], ["forward", undefined], ["drop", "IP_OPTIONS"], ["drop", "IP_OPTIONS"]]);
    const pp = (x: PacketResult) => x.replies.map((q) => [q.icmp_type, q.icmp_code, q.dst]);
    expect(pp(r[3]!)).toEqual([[12, 0, S]]);
    expect(pp(r[4]!)).toEqual([[12, 0, S]]);
    const c = e.counters();
    expect([c.IpInReceives, c.IpInHdrErrors, c.IpForwDatagrams, c.IcmpOutParmProbs, c.IcmpOutMsgs]).toEqual([5, 2, 3, 2, 2]);
    expect(Number(e.ruleCounters()[0]!.packets)).toBe(5); // every one reached PREROUTING
  });

  it("the parameter problem points at the byte at fault (pp_ptr << 24 in its info word)", async () => {
    const e = await eksFixtureEngine();
    runFrames(e, [ipv4WithOptions(S, POD, 17, udp(), [1, 1, 7, 7, 3, 0, 0, 0, 0, 1, 0, 0])]);
    const q = e.core.reply_ring_ptr();
    expect(e.mem.dv.getUint8(q + abi.PKT_ICMP_TYPE)).toBe(12);
    expect(e.mem.dv.getUint32(q + abi.PKT_ICMP_INFO, true) >>> 24).toBe(24);
  });

  it("a source route is dropped silently (accept_source_route off), after PREROUTING", async () => {
    const e = await eksFixtureEngine({ rules: RULES });
    const r = runFrames(e, [ipv4WithOptions(S, POD, 17, udp(), [131, 7, 4, 10, 0, 1, 33, 1]), ipv4WithOptions(S, NODE, 17, udp(), [137, 7, 4, 10, 0, 1, 33, 1])]);
    expect(r.map((x) => [x.verdict, x.reason, x.replies.length])).toEqual([["drop", "IP_SRR", 0], ["drop", "IP_SRR", 0]]);
    const c = e.counters();
    expect([c.IpInReceives, c.IpInHdrErrors, c.IcmpOutMsgs]).toEqual([2, 0, 0]);
    expect(Number(e.ruleCounters()[0]!.packets)).toBe(2);
  });

  it("input routing decides first: a martian source is dropped as such, options unread", async () => {
    const e = await eksFixtureEngine();
    const r = runFrames(e, [ipv4WithOptions("127.0.0.1", POD, 17, udp(), [7, 1, 0, 0])]);
    expect(r[0]!.reason).not.toBe("IP_OPTIONS");
    expect(e.counters().IpInHdrErrors).toBe(0);
  });

  it("transport lengths start after the options: a reset acknowledges a bare SYN's sequence + 1", async () => {
    const e = await eksFixtureEngine();
    const r = runFrames(e, [ipv4WithOptions(S, NODE, 6, tcpSyn(1000, 9), [1, 1, 1, 1, 148, 4, 0, 0])]);
    expect(r[0]!.verdict).toBe("local");
    const rst = r[0]!.replies[0] as unknown as { flags: string; ack: number };
    expect([rst.flags, rst.ack]).toEqual(["RA", 1001]);
  });
});

describe("accept_source_route on is refused at load", () => {
  it("conf/all and the device both on: an error naming the setting", async () => {
    const snap = eksFixtureSnapshot();
    snap.sysctl.set("net.ipv4.conf.all.accept_source_route", "1");
    snap.sysctl.set("net.ipv4.conf.eth0.accept_source_route", "1");
    const e = await EngineClass.create({ seed: 1 });
    expect(() => e.load(snap)).toThrow(/accept_source_route.*not modelled/);
    // conf/all off: the devices' values do not matter
    snap.sysctl.set("net.ipv4.conf.all.accept_source_route", "0");
    expect(() => e.load(snap)).not.toThrow();
  });
});

describe("__ip_options_echo: the options of the node's answers", () => {
  const echo = (opts: number[], src = S) => {
    const b = ipv4WithOptions(src, POD, 17, udp(), opts);
    const e = ipOptionsEcho(b, 0, ipOptionsCompile(b, 0, (b[0]! & 15) * 4));
    return e && { bytes: [...e], faddr: e.faddr };
  };
  it("RR and TS copied with their pointers past the receive's and the answer's stamps; NOOP, RA, unknown not echoed", () => {
    expect(echo([1, 1, 148, 4, 0, 0, 200, 2])).toEqual({ bytes: [], faddr: 0 });
    expect(echo([7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0])!.bytes.slice(0, 3)).toEqual([7, 11, 12]);
    expect(echo([68, 20, 5, 1, ...new Array(16).fill(0)])!.bytes.slice(0, 4)).toEqual([68, 20, 21, 1]);
    expect(echo([68, 8, 9, 0x20, 0, 0, 0, 0])!.bytes.slice(0, 4)).toEqual([68, 8, 9, 0x30]); // full: the receive counted the overflow
    expect(echo([7, 10, 4, 0, 0, 0, 0, 0, 0, 0])).toBeNull(); // room for less than an address after the receive's: no answer
  });
  it("a source route reversed, its first hop the answer's destination; CIPSO copied even when it failed", () => {
    expect(echo([131, 11, 12, 10, 9, 8, 7, 6, 5, 4, 3, 7, 1])).toEqual({ bytes: [131, 11, 4, 10, 9, 8, 7, ...a4(S), 0], faddr: 0x06050403 });
    expect(echo([131, 11, 12, ...a4(S), 6, 5, 4, 3, 7, 1])).toEqual({ bytes: [131, 7, 4, ...a4(S), 0], faddr: 0x06050403 });
    expect(echo([134, 8, 0, 0, 0, 1, 0, 0])).toEqual({ bytes: [134, 8, 0, 0, 0, 1, 0, 0], faddr: 0 });
  });
  it("the engine: the answers' lengths carry the echo; a failing echo sends nothing", async () => {
    const e = await eksFixtureEngine();
    const r = runFrames(e, [
      ipv4WithOptions(S, POD, 17, udp(), [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0], 1),
      ipv4WithOptions(S, POD, 17, udp(), [7, 10, 4, 0, 0, 0, 0, 0, 0, 0], 1),
      ipv4WithOptions(S, POD, 17, udp(), [1, 1, 1, 1], 1),
    ]);
    expect(r.map((x) => x.replies.map((q) => [q.icmp_type, q.len]))).toEqual([[[11, 20 + 12 + 8 + 32 + 12]], [], [[11, 20 + 8 + 24 + 12]]]);
  });
});
