/**
 * Malformed transport headers (PKT_L4_BYTES): the capture decoder's cases
 * (a header too short or malformed in a wholly captured datagram is a
 * packet; bytes the snaplen cut are damage, with the byte offset), the JSONL
 * fields `l4_bytes` and `quote_ihl` and their errors, and what the engine
 * does with such packets (test/pcap/l4-malformed-kernel.test.ts compares the
 * same with the kernel).
 */
import { describe, expect, it } from "vitest";
import * as abi from "../../host/core/abi.js";
import type { Engine } from "../../host/engine.js";
import { eksFixtureEngine } from "../fixtures/eks-fixture.js";
import type { PacketInput } from "../../host/packet/input.js";
import { WireFields, parseIPv4, packetInputFromBytes, WIRE_OK, WIRE_ERROR } from "../../host/packet/wire.js";
import { ipv4Bytes, icmpBytes } from "./helpers.js";

const S = "52.1.2.3", NODE = "10.0.0.10";

const u16 = (v: number) => [v >> 8, v & 255];
const tcpHdr = (doff: number, flags: number, sport = 40000, dport = 80) =>
  [...u16(sport), ...u16(dport), 0, 0, 0, 1, 0, 0, 0, 0, doff << 4, flags, 1, 0, 0, 0, 0, 0];
const quoted = (proto: number, ihl = 5) => [0x40 | ihl, 0, 0, 60, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 10, 52, 1, 2, 3];

describe("decoding: malformed transport headers are packets, snaplen cuts are damage", () => {
  const w = new WireFields();

  it("TCP: under 20 bytes (ports from 4, the data offset from 13), data offsets below 5 or beyond the segment", () => {
    for (const [n, ports, doff] of [[0, false, 0], [3, false, 0], [4, true, 0], [12, true, 0], [13, true, 5], [19, true, 5]] as const) {
      const b = ipv4Bytes(S, NODE, 6, tcpHdr(5, 2).slice(0, n));
      expect(parseIPv4(b, 0, b.length, b.length, w), `${n} bytes`).toBe(WIRE_OK);
      expect([w.l4Bytes, w.sport, w.dport, w.doff, w.tcpFlags, w.seq]).toEqual([n + 1, ports ? 40000 : 0, ports ? 80 : 0, doff, 0, 0]);
    }
    const low = ipv4Bytes(S, NODE, 6, tcpHdr(3, 18));
    expect(parseIPv4(low, 0, low.length, low.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.doff, w.tcpFlags, w.seq, w.win]).toEqual([21, 3, 18, 1, 256]);
    const over = ipv4Bytes(S, NODE, 6, [...tcpHdr(8, 16), 1, 2, 3, 4]);
    expect(parseIPv4(over, 0, over.length, over.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.doff, w.wscale, w.topts]).toEqual([25, 8, 0, 0]);
    // a sound header has none
    const ok = ipv4Bytes(S, NODE, 6, tcpHdr(5, 2));
    expect(parseIPv4(ok, 0, ok.length, ok.length, w)).toBe(WIRE_OK);
    expect(w.l4Bytes).toBe(0);
    expect(packetInputFromBytes(low, 0, low.length, "eth0")).toMatchObject({ proto: "tcp", l4_bytes: 20, doff: 3, flags: "SA" });
  });

  it("UDP, UDP-Lite and ICMP under 8 bytes; the ICMP type from one byte and the checksum over what is there", () => {
    const udp = ipv4Bytes(S, NODE, 17, [0x14, 0xe9, 0, 53, 0]);
    expect(parseIPv4(udp, 0, udp.length, udp.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.sport, w.dport]).toEqual([6, 5353, 53]);
    const lite = ipv4Bytes(S, NODE, 136, [0, 7]);
    expect(parseIPv4(lite, 0, lite.length, lite.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.sport]).toEqual([3, 0]);
    const none = ipv4Bytes(S, NODE, 1, []);
    expect(parseIPv4(none, 0, none.length, none.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.icmpType, w.csum]).toEqual([1, 0, abi.CSUM_BAD]); // the sum of nothing is not 0xffff
    const half = ipv4Bytes(S, NODE, 1, icmpBytes([8, 0, 0, 0]));
    expect(parseIPv4(half, 0, half.length, half.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.icmpType, w.icmpId, w.csum]).toEqual([5, 8, 0, abi.CSUM_OK]);
  });

  it("ICMP errors: short quotes, the quoted IHL, and the quoted tuple only when conntrack can read it", () => {
    const err = (type: number, q: number[]) => ipv4Bytes(S, NODE, 1, icmpBytes([type, 3, 0, 0, 0, 0, 0, 0, ...q]));
    let b = err(3, quoted(17).slice(0, 10));
    expect(parseIPv4(b, 0, b.length, b.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.doff, w.hasInner]).toEqual([19, 0, false]);
    b = err(3, quoted(17)); // 20 bytes: no ports
    expect(parseIPv4(b, 0, b.length, b.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.doff, w.hasInner]).toEqual([29, 5, false]);
    b = err(3, [...quoted(17), 0x82, 0x9a, 0, 53]); // the ports, not 8 bytes
    expect(parseIPv4(b, 0, b.length, b.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.hasInner, w.innerSport, w.innerDport]).toEqual([33, true, 33434, 53]);
    b = err(11, [...quoted(1), 8, 0, 0, 0]); // a quoted echo needs 8 bytes
    expect(parseIPv4(b, 0, b.length, b.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.hasInner]).toEqual([33, false]);
    // IHL 3: conntrack reads the "ports" 12 bytes in (the quoted source address)
    b = err(12, [...quoted(6, 3), 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv4(b, 0, b.length, b.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.doff, w.innerSport, w.innerDport]).toEqual([37, 3, 0x0a00, 0x000a]);
    // the version is read by neither icmp_unreach nor conntrack: a sound error
    const v6 = quoted(6); v6[0] = 0x65;
    b = err(3, [...v6, 0, 80, 0x9c, 0x40, 0, 0, 0, 1]);
    expect(parseIPv4(b, 0, b.length, b.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.hasInner, w.innerSport]).toEqual([0, true, 80]);
  });

  it("bytes the snaplen cut stay damage, at the byte offset of what is missing", () => {
    const cases: [number[], number, number, number, RegExp][] = [
      // [IPv4 payload, protocol, bytes captured, offset, problem]
      [tcpHdr(5, 2).concat(new Array(20).fill(0)), 6, 30, 20, /too short for a TCP header \(10 bytes captured\)/],
      [tcpHdr(5, 2).slice(0, 12), 6, 25, 20, /too short for a TCP header \(5 bytes\)/], // malformed on the wire too, but cut
      [tcpHdr(3, 2).concat([0, 0, 0, 0]), 6, 40, 32, /TCP data offset 3 is below 5/],
      [tcpHdr(15, 2).concat(new Array(40).fill(1)), 6, 50, 32, /TCP data offset 15 \(60 bytes\) overruns the captured bytes/],
      [[0x14, 0xe9, 0, 53, 0, 12, 0, 0, 1, 2], 17, 26, 20, /too short for a UDP header \(6 bytes captured\)/],
      [icmpBytes([8, 0, 0, 0]), 1, 22, 20, /too short for an ICMP header \(2 bytes\)/],
      [icmpBytes([3, 3, 0, 0, 0, 0, 0, 0, ...quoted(17).slice(0, 10)]), 1, 30, 28, /ICMP error quotes 2 bytes, too short for the offending IPv4 header/],
      [icmpBytes([3, 3, 0, 0, 0, 0, 0, 0, ...quoted(17), 0, 1]), 1, 49, 28, /ICMP error quotes 21 bytes, too short for the offending header and 8 bytes/],
    ];
    for (const [l4, proto, cap, at, problem] of cases) {
      const b = ipv4Bytes(S, NODE, proto, l4);
      expect(parseIPv4(b, 0, cap, b.length, w), String(problem)).toBe(WIRE_ERROR);
      expect(w.problem).toMatch(problem);
      expect(w.problemAt).toBe(at);
      expect(() => packetInputFromBytes(b, 0, cap, "eth0", 0, b.length)).toThrow(`(byte ${at} of the IPv4 packet)`);
    }
  });
});

const engine = (rules?: string, indexMin?: number): Promise<Engine> => eksFixtureEngine({ rules, indexMin });

const pkt = (o: Partial<PacketInput> & Record<string, unknown>): PacketInput => ({ iif: "eth0", src: S, dst: NODE, ...o } as PacketInput);

describe("JSONL l4_bytes and quote_ihl: what is malformed, and errors that name the field", () => {
  const bad: [Record<string, unknown>, string, RegExp][] = [
    [{ iif: "local", proto: "tcp", l4_bytes: 3 }, "l4_bytes", /only applies to packets arriving on an interface/],
    [{ proto: 47, l4_bytes: 3 }, "l4_bytes", /applies to tcp, udp, udplite \(136\), sctp \(132\), dccp \(33\) and icmp packets, not protocol 47/],
    [{ proto: "tcp", len: 30, l4_bytes: 12 }, "l4_bytes", /must be at most len - 20 \(10\)/],
    [{ proto: "tcp", l4_bytes: 20, doff: 5 }, "l4_bytes", /20 bytes with doff 5 is a sound TCP header/],
    [{ proto: "tcp", l4_bytes: 2, sport: 1 }, "sport", /is beyond the 2 transport bytes of l4_bytes \(the ports needs 4\)/],
    [{ proto: "tcp", l4_bytes: 12, flags: "S" }, "flags", /is beyond the 12 transport bytes/],
    [{ proto: "tcp", l4_bytes: 12, doff: 5 }, "doff", /is beyond the 12 transport bytes/],
    [{ proto: "tcp", l4_bytes: 20, doff: 3, wscale: 2 }, "wscale", /has no options the kernel reads/],
    [{ proto: "udp", l4_bytes: 8 }, "l4_bytes", /8 bytes hold a sound UDP header/],
    [{ proto: "icmp", l4_bytes: 8 }, "l4_bytes", /a sound ICMP header \(type 8 quotes nothing\)/],
    [{ proto: "icmp", l4_bytes: 4, icmp_id: 3 }, "icmp_id", /is beyond the 4 transport bytes/],
    [{ proto: "icmp", icmp_type: 3, l4_bytes: 18, quote_ihl: 5 }, "quote_ihl", /a quote of 10 bytes has no IPv4 header/],
    [{ proto: "icmp", icmp_type: 3, l4_bytes: 36 }, "l4_bytes", /a quote of 28 bytes holds the quoted header \(IHL 5\) and 8 bytes: a sound ICMP error/],
    [{ proto: "icmp", icmp_type: 3, l4_bytes: 30, inner: { src: NODE, dst: S, proto: "udp", sport: 1, dport: 2 } }, "inner", /holds no ports for conntrack's tuple \(24 needed\)/],
    [{ proto: "tcp", l4_bytes: 3, quote_ihl: 5 }, "quote_ihl", /only applies to ICMP errors/],
    [{ proto: "udp", l4_bytes: -1 }, "l4_bytes", /must be an integer 0\.\.65535/],
  ];
  for (const [o, token, problem] of bad) {
    it(`${JSON.stringify(o)}: ${token}`, async () => {
      const e = await engine();
      let err: Error | undefined;
      try { e.process([pkt(o)]); } catch (x) { err = x as Error; }
      expect(err?.message).toMatch(problem);
      expect(err?.message).toContain(token);
    });
  }

  it("without l4_bytes, doff below 5 is still an error (a sound header is the default)", async () => {
    const e = await engine();
    expect(() => e.process([pkt({ proto: "tcp", doff: 3 })])).toThrow(/doff.*must be 5\.\.15/);
  });
});

describe("the engine: INVALID, hotdrop, local delivery's counters, ICMP errors about them", () => {
  const FILTER = (input: string[]) => ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...input, "COMMIT", ""].join("\n");

  it("local delivery: tcp_v4_rcv, __udp4_lib_rcv and icmp_rcv drop with their counters; conntrack finds each INVALID", async () => {
    const e = await engine(FILTER(["-A INPUT -m conntrack --ctstate INVALID"]));
    const r = e.process([
      pkt({ proto: "tcp", l4_bytes: 12, sport: 1, dport: 80, len: 32 }),
      pkt({ proto: "tcp", l4_bytes: 20, doff: 3, sport: 1, dport: 80, flags: "S" }),
      pkt({ proto: "tcp", l4_bytes: 24, doff: 8, sport: 1, dport: 80, flags: "A" }),
      pkt({ proto: "udp", l4_bytes: 5, sport: 1, dport: 53 }),
      pkt({ proto: "icmp", l4_bytes: 4, icmp_type: 8 }),
      pkt({ proto: "icmp", icmp_type: 3, icmp_code: 3, l4_bytes: 32, quote_ihl: 5, inner: { src: NODE, dst: S, proto: "udp", sport: 1, dport: 2 } }),
    ]);
    expect(r.map((x) => [x.verdict, x.reason, x.ct])).toEqual([
      ["drop", "L4_SHORT", "INVALID"], ["drop", "PKT_TOO_SMALL", "INVALID"], ["drop", "L4_SHORT", "INVALID"],
      ["drop", "L4_SHORT", "INVALID"], ["drop", "L4_SHORT", "INVALID"], ["local", undefined, "INVALID"],
    ]);
    const c = e.counters();
    expect([c.IpInDelivers, c.TcpInSegs, c.TcpInErrs, c.UdpInErrors, c.IcmpInMsgs, c.IcmpInErrors, c.IcmpInDestUnreachs, c.TcpOutRsts])
      .toEqual([6, 3, 1, 1, 2, 2, 1, 0]);
    expect(e.ruleCounters().map((x) => Number(x.packets))[0]).toBe(6);
    expect(e.conntrackStats()).toMatchObject({ invalid: 4, error: 2 });
  });

  it("a hotdrop ends the walk at the rule whose match cannot read the header, even where the chain index would skip it", async () => {
    // a chain long enough to be indexed by protocol and port: the kernel still examines its first rule
    const rules = FILTER([...Array.from({ length: 40 }, (_, i) => `-A INPUT -p tcp -m tcp --dport ${1000 + i} -j ACCEPT`), "-A INPUT -p tcp -j DROP"]);
    for (const indexMin of [undefined, 1 << 30]) {
      const e = await engine(rules, indexMin);
      const r = e.process([
        pkt({ proto: "tcp", l4_bytes: 12, sport: 1, dport: 80, len: 32 }),
        pkt({ proto: "tcp", sport: 1, dport: 80 }),
      ]);
      expect(r.map((x) => [x.verdict, x.reason, x.nf_verdict])).toEqual([
        ["drop", "NF_HOTDROP", "-t filter -A INPUT -p tcp -m tcp --dport 1000 -j ACCEPT"],
        ["drop", "NETFILTER", "-t filter -A INPUT -p tcp -j DROP"],
      ]);
      // nothing counted the hotdropped packet: not the rule, not the policy
      const counts = e.ruleCounters().map((x) => Number(x.packets));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
    }
  });

  it("icmp_send answers a malformed packet's TTL expiry unless it is ICMP without a type byte", async () => {
    const e = await engine();
    const r = e.process([
      pkt({ dst: "10.0.0.55", ttl: 1, proto: "tcp", l4_bytes: 12, sport: 1, dport: 80, len: 32 }),
      pkt({ dst: "10.0.0.55", ttl: 1, proto: "icmp", l4_bytes: 0 }),
      pkt({ dst: "10.0.0.55", ttl: 1, proto: "icmp", l4_bytes: 1, icmp_type: 8, csum: "bad" }),
      pkt({ dst: "10.0.0.55", ttl: 1, proto: "icmp", l4_bytes: 1, icmp_type: 3, csum: "bad" }),
    ]);
    expect(r.map((x) => [x.reason, x.replies?.length])).toEqual([["IP_INHDR", 1], ["IP_INHDR", 0], ["IP_INHDR", 1], ["IP_INHDR", 0]]);
  });
});
