/**
 * What else the kernel reads in a transport header (the unit side of
 * test/pcap/l4-length-kernel.test.ts): the UDP length field (PF_UDP_LEN,
 * JSONL `ulen` and `nf_csum`), REJECT's own checksum check, SCTP and DCCP
 * headers too short for their ports or SCTP's common header (PKT_L4_BYTES),
 * and ICMP redirects quoting an IPv4 header length below 5: the decoder's
 * cases, the JSONL errors, and what the engine does with them.
 */
import { describe, expect, it } from "vitest";
import * as abi from "../../host/core/abi.js";
import type { Engine } from "../../host/engine.js";
import { eksFixtureEngine } from "../fixtures/eks-fixture.js";
import type { PacketInput } from "../../host/packet/input.js";
import { WireFields, parseIPv4, packetInputFromBytes, WIRE_OK, WIRE_ERROR } from "../../host/packet/wire.js";
import { ipv4Bytes, icmpBytes } from "./helpers.js";

const S = "52.1.2.3", NODE = "10.0.0.10", FAR = "10.0.0.55";

const u16 = (v: number) => [v >> 8, v & 255];
const a4 = (s: string) => s.split(".").map(Number);

/** The Internet checksum of `b` (complemented), as a header carries it. */
function csum(b: number[]): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * A 12-byte UDP datagram S -> NODE (4 bytes of data) whose length field is
 * `ulen`, its checksum summed over `n` bytes with `n` in the pseudo-header
 * (0: no checksum).
 */
function udp12(ulen: number, n: number): number[] {
  const seg = [...u16(40000), ...u16(9), ...u16(ulen), 0, 0, 1, 2, 3, 4];
  if (n === 0) return seg;
  const c = csum([...a4(S), ...a4(NODE), 0, 17, ...u16(n), ...seg.slice(0, n)]) || 0xffff;
  seg[6] = c >> 8; seg[7] = c & 255;
  return seg;
}

describe("decoding: the UDP length field, short SCTP and DCCP, redirects quoting IHL below 5", () => {
  const w = new WireFields();

  it("a UDP length beyond the bytes or below 8 is PF_UDP_LEN_BAD; below them, the checksum is over its bytes and netfilter's over all", () => {
    const cases: [number, number, number, number, number][] = [
      // [ulen, checksum over, PF bits, PKT_CSUM]
      [12, 12, 0, abi.CSUM_OK, 0],
      [100, 12, abi.PF_UDP_LEN | abi.PF_UDP_LEN_BAD, abi.CSUM_OK, 100],
      [4, 0, abi.PF_UDP_LEN | abi.PF_UDP_LEN_BAD, abi.CSUM_NONE, 4],
      [0, 12, abi.PF_UDP_LEN | abi.PF_UDP_LEN_BAD, abi.CSUM_OK, 0],
      [10, 10, abi.PF_UDP_LEN, abi.CSUM_OK, 10],
      [10, 12, abi.PF_UDP_LEN | abi.PF_NF_CSUM_OK, abi.CSUM_BAD, 10],
      [10, 0, abi.PF_UDP_LEN, abi.CSUM_NONE, 10],
    ];
    for (const [ulen, n, bits, ck, cscov] of cases) {
      const b = ipv4Bytes(S, NODE, 17, udp12(ulen, n));
      expect(parseIPv4(b, 0, b.length, b.length, w), `ulen ${ulen}`).toBe(WIRE_OK);
      expect([w.udpLen, w.csum, w.cscov, w.l4Bytes], `ulen ${ulen} summed over ${n}`).toEqual([bits, ck, cscov, 0]);
    }
    // the JSONL form
    const t = ipv4Bytes(S, NODE, 17, udp12(10, 10));
    expect(packetInputFromBytes(t, 0, t.length, "eth0")).toMatchObject({ proto: "udp", len: 32, ulen: 10, csum: "ok" });
    expect(packetInputFromBytes(t, 0, t.length, "eth0").nf_csum).toBeUndefined();
    const all = ipv4Bytes(S, NODE, 17, udp12(10, 12));
    expect(packetInputFromBytes(all, 0, all.length, "eth0")).toMatchObject({ ulen: 10, csum: "bad", nf_csum: "ok" });
    const sound = ipv4Bytes(S, NODE, 17, udp12(12, 12));
    expect(packetInputFromBytes(sound, 0, sound.length, "eth0").ulen).toBeUndefined();
    // unchecked (snaplen cut, or checking off): both taken as right
    expect(parseIPv4(t, 0, t.length, t.length, w, false)).toBe(WIRE_OK);
    expect([w.udpLen, w.csum]).toEqual([abi.PF_UDP_LEN | abi.PF_NF_CSUM_OK, abi.CSUM_OK]);
  });

  it("SCTP under 12 bytes and DCCP under 4 are packets when captured whole, damage when the snaplen cut them", () => {
    for (const [proto, n, ports] of [[132, 0, false], [132, 3, false], [132, 4, true], [132, 11, true], [33, 0, false], [33, 3, false]] as const) {
      const l4 = [...u16(40000), ...u16(9), 0, 0, 0, 7, 1, 1, 1, 1].slice(0, n);
      const b = ipv4Bytes(S, NODE, proto, l4);
      expect(parseIPv4(b, 0, b.length, b.length, w), `${proto}: ${n} bytes`).toBe(WIRE_OK);
      expect([w.l4Bytes, w.sport, w.dport, w.vtag, w.nchunks]).toEqual([n + 1, ports ? 40000 : 0, ports ? 9 : 0, 0, 0]);
      const p = packetInputFromBytes(b, 0, b.length, "eth0");
      expect(p.l4_bytes).toBe(n);
      expect(p.sctp).toBeUndefined();
    }
    const sc = ipv4Bytes(S, NODE, 132, [...u16(40000), ...u16(9), 0, 0, 0, 7]);
    expect(parseIPv4(sc, 0, 25, sc.length, w)).toBe(WIRE_ERROR);
    expect([w.problem, w.problemAt]).toEqual(["too short for an SCTP common header (5 bytes)", 20]);
    const sc16 = ipv4Bytes(S, NODE, 132, [...u16(40000), ...u16(9), 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 4]);
    expect(parseIPv4(sc16, 0, 30, sc16.length, w)).toBe(WIRE_ERROR);
    expect([w.problem, w.problemAt]).toEqual(["too short for an SCTP common header (10 bytes captured)", 20]);
    const dc = ipv4Bytes(S, NODE, 33, [0x9c, 0x40, 0]);
    expect(parseIPv4(dc, 0, 22, dc.length, w)).toBe(WIRE_ERROR);
    expect([w.problem, w.problemAt]).toEqual(["too short for the ports of protocol 33", 20]);
  });

  it("a redirect quoting IHL 3: a malformed quote whose ports conntrack reads 12 bytes in", () => {
    const q = [0x43, 0, 0, 60, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 10, 52, 1, 2, 3];
    const r = ipv4Bytes(S, NODE, 1, icmpBytes([5, 1, 0, 0, 10, 0, 0, 1, ...q, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect(parseIPv4(r, 0, r.length, r.length, w)).toBe(WIRE_OK);
    expect([w.l4Bytes, w.doff, w.hasInner, w.innerProto, w.innerSport, w.innerDport]).toEqual([37, 3, true, 17, 10 << 8, 10]);
  });
});

const engine = (rules?: string): Promise<Engine> => eksFixtureEngine({ rules });

const pkt = (o: Partial<PacketInput> & Record<string, unknown>): PacketInput => ({ iif: "eth0", src: S, dst: NODE, ...o } as PacketInput);

describe("JSONL ulen, nf_csum, l4_bytes for SCTP and DCCP: errors that name the field", () => {
  const bad: [Record<string, unknown>, string, RegExp][] = [
    [{ proto: "tcp", ulen: 10 }, "ulen", /only applies to udp packets/],
    [{ iif: "local", proto: "udp", ulen: 10, len: 32 }, "ulen", /only applies to packets arriving on an interface/],
    [{ proto: "udp", l4_bytes: 6, ulen: 10 }, "ulen", /a UDP header under 8 bytes \(l4_bytes\) has no length field/],
    [{ proto: "udp", ulen: 70000 }, "ulen", /must be an integer 0\.\.65535/],
    [{ proto: "udp", nf_csum: "ok" }, "nf_csum", /only applies with a "ulen" below the transport length/],
    [{ proto: "udp", len: 32, ulen: 100, nf_csum: "ok" }, "nf_csum", /with 100 the checksum is never checked/],
    [{ proto: "udp", len: 32, ulen: 10, csum: "none", nf_csum: "ok" }, "nf_csum", /has no checksum to sum/],
    [{ proto: "udp", len: 32, ulen: 10, nf_csum: "fine" }, "nf_csum", /must be "ok" or "bad"/],
    [{ proto: 132, l4_bytes: 2, sctp: { vtag: 0, chunks: [] } }, "sctp", /has no chunks: leave sctp out/],
    [{ proto: 132, l4_bytes: 12 }, "l4_bytes", /12 bytes hold an SCTP common header/],
    [{ proto: 132, l4_bytes: 3, sport: 9 }, "sport", /is beyond the 3 transport bytes/],
    [{ proto: 33, l4_bytes: 4 }, "l4_bytes", /4 bytes hold the DCCP ports/],
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
});

describe("the engine: UDP lengths, REJECT's checksum check, short SCTP/DCCP, redirects quoting IHL below 5", () => {
  const FILTER = (input: string[]) => ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...input, "COMMIT", ""].join("\n");

  it("a UDP length beyond the datagram or below 8: INVALID, short_packet locally, forwarded as it is", async () => {
    const e = await engine(FILTER(["-A INPUT -m conntrack --ctstate INVALID", "-A FORWARD -m conntrack --ctstate INVALID"]));
    const r = e.process([
      pkt({ proto: "udp", sport: 40000, dport: 9, len: 32, ulen: 100 }),
      pkt({ proto: "udp", sport: 40000, dport: 9, len: 32, ulen: 4 }),
      pkt({ proto: "udp", sport: 40000, dport: 9, len: 32, ulen: 0, csum: "bad" }), // never summed
      pkt({ dst: FAR, proto: "udp", sport: 40000, dport: 9, len: 32, ulen: 100 }),
      pkt({ proto: "udp", sport: 40000, dport: 9, len: 32, ulen: 12 }), // the transport length: sound
    ]);
    expect(r.map((x) => [x.verdict, x.reason, x.ct])).toEqual([
      ["drop", "PKT_TOO_SMALL", "INVALID"], ["drop", "PKT_TOO_SMALL", "INVALID"], ["drop", "PKT_TOO_SMALL", "INVALID"],
      ["forward", undefined, "INVALID"], ["local", undefined, "NEW"],
    ]);
    const c = e.counters();
    expect([c.UdpInErrors, c.UdpInCsumErrors ?? 0, c.UdpNoPorts]).toEqual([3, 0, 1]);
    expect(e.conntrackStats()).toMatchObject({ invalid: 4 });
  });

  it("a UDP length below the datagram: the UDP layer checks its bytes (and quotes what is left), conntrack all of them", async () => {
    const e = await engine(FILTER(["-A INPUT -m conntrack --ctstate INVALID"]));
    const r = e.process([
      pkt({ proto: "udp", sport: 40000, dport: 9, len: 32, ulen: 10 }),
      pkt({ proto: "udp", sport: 40001, dport: 9, len: 32, ulen: 10, nf_csum: "ok" }),
      pkt({ proto: "udp", sport: 40002, dport: 9, len: 32, ulen: 10, csum: "bad", nf_csum: "ok" }),
      pkt({ proto: "udp", sport: 40003, dport: 9, len: 32, ulen: 10, csum: "none" }),
    ]);
    expect(r.map((x) => [x.verdict, x.reason, x.ct])).toEqual([
      ["local", undefined, "INVALID"], ["local", undefined, "NEW"], ["drop", "UDP_CSUM", "NEW"], ["local", undefined, "NEW"],
    ]);
    // port unreachable quoting the IP header and the 10 bytes __udp4_lib_rcv kept
    expect(r.map((x) => x.replies.map((q) => [q.icmp_type, q.len]))).toEqual([[[3, 58]], [[3, 58]], [], [[3, 58]]]);
    const c = e.counters();
    expect([c.UdpInErrors, c.UdpInCsumErrors, c.UdpNoPorts]).toEqual([1, 1, 3]);
  });

  it("REJECT answers no packet whose checksum is wrong, at INPUT and at FORWARD (nf_reject_ip_tcphdr_get, nf_send_unreach)", async () => {
    const rules = FILTER([
      "-A INPUT -p tcp -m tcp --dport 81 -j REJECT --reject-with tcp-reset",
      "-A INPUT -p udp -m udp --dport 82 -j REJECT --reject-with icmp-port-unreachable",
      "-A INPUT -p icmp -j REJECT --reject-with icmp-host-prohibited",
      "-A FORWARD -p tcp -m tcp --dport 81 -j REJECT --reject-with tcp-reset",
      "-A FORWARD -p udp -m udp --dport 82 -j REJECT --reject-with icmp-port-unreachable",
    ]);
    const e = await engine(rules);
    const cases: [Partial<PacketInput> & Record<string, unknown>, number][] = [
      [{ proto: "tcp", sport: 1, dport: 81 }, 1],
      [{ proto: "tcp", sport: 2, dport: 81, csum: "bad" }, 0],
      [{ dst: FAR, proto: "tcp", sport: 3, dport: 81, csum: "bad" }, 0],
      [{ dst: FAR, proto: "tcp", sport: 4, dport: 81 }, 1],
      [{ dst: FAR, proto: "tcp", sport: 5, dport: 81, l4_bytes: 20, doff: 3, csum: "bad" }, 0],
      [{ proto: "udp", sport: 6, dport: 82, csum: "bad" }, 0],
      [{ dst: FAR, proto: "udp", sport: 7, dport: 82, csum: "bad" }, 0],
      [{ proto: "udp", sport: 8, dport: 82, csum: "none" }, 1],
      [{ proto: "udp", sport: 9, dport: 82, len: 32, ulen: 10 }, 0], // netfilter sums all 12 bytes
      [{ proto: "udp", sport: 10, dport: 82, len: 32, ulen: 10, nf_csum: "ok" }, 1],
      [{ proto: "icmp", icmp_type: 13, len: 40, csum: "bad" }, 0],
      [{ proto: "icmp", icmp_type: 13, len: 40 }, 1],
    ];
    const r = e.process(cases.map(([o]) => pkt(o)));
    expect(r.map((x) => [x.verdict, x.reason, x.replies.length])).toEqual(cases.map(([, n]) => ["drop", "NETFILTER", n]));
    // a reset is counted where it is sent (tcp_v4_send_reset is not REJECT's): no TcpOutRsts
    expect(e.counters().TcpOutRsts ?? 0).toBe(0);
  });

  it("SCTP and DCCP without their ports or SCTP's common header: conntrack, multiport's hotdrop, protocol unreachable", async () => {
    const e = await engine(FILTER([
      "-A INPUT -m conntrack --ctstate INVALID",
      "-A INPUT -p sctp -m multiport --dports 7,8",
      "-A INPUT -p dccp -m multiport --dports 7,8",
    ]));
    const r = e.process([
      pkt({ proto: 132, l4_bytes: 2 }),
      pkt({ proto: 132, l4_bytes: 8, sport: 40000, dport: 9 }),
      pkt({ proto: 33, l4_bytes: 2 }),
      pkt({ proto: 132, sport: 40000, dport: 9, sctp: { vtag: 0, chunks: [{ type: "INIT", init_tag: 5 }] } }),
    ]);
    expect(r.map((x) => [x.verdict, x.reason, x.ct])).toEqual([
      ["drop", "NF_HOTDROP", "INVALID"], ["local", undefined, "INVALID"], ["drop", "NF_HOTDROP", "NEW"], ["local", undefined, "NEW"],
    ]);
    expect(r[1]!.replies.map((q) => [q.icmp_type, q.icmp_code])).toEqual([[3, 2]]);
    expect(e.conntrackStats()).toMatchObject({ invalid: 2 });
    expect(e.counters().IpInUnknownProtos).toBe(2);
  });

  it("a redirect quoting IHL 3: the quoted protocol's handler finds no socket (IcmpInErrors); IHL 4 in a 20-byte quote is short", async () => {
    const e = await engine();
    const inner = { src: NODE, dst: S, proto: "udp" as const, sport: 10 << 8, dport: 10 };
    const r = e.process([
      pkt({ proto: "icmp", icmp_type: 5, icmp_code: 1, l4_bytes: 36, quote_ihl: 3, inner }),
      pkt({ proto: "icmp", icmp_type: 5, icmp_code: 1, l4_bytes: 28, quote_ihl: 4, inner }),
      pkt({ proto: "icmp", icmp_type: 5, icmp_code: 1, l4_bytes: 36, quote_ihl: 3, inner: { ...inner, proto: "icmp" as const } }),
    ]);
    expect(r.map((x) => [x.verdict, x.reason])).toEqual([["local", undefined], ["local", undefined], ["local", undefined]]);
    const c = e.counters();
    expect([c.IcmpInMsgs, c.IcmpInErrors]).toEqual([3, 2]);
  });
});
