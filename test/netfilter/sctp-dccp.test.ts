/**
 * `-m sctp` and `-m dccp` (xt_sctp.c, xt_dccp.c) in the emulator: what the
 * decoders put in the descriptor for them (SCTP chunk flags and a chunk
 * header that cannot be read, the DCCP packet type, a short generic header,
 * the option types and unreadable options), the same from a capture's bytes
 * as from their JSONL, the JSONL errors, and the rule VM: ports, chunk walks,
 * types, options, hotdrops (an inverted one counts the rule and runs its
 * target before the drop). The kernel's side is
 * test/pcap/sctp-dccp-kernel.test.ts.
 */
import { describe, expect, it } from "vitest";
import * as abi from "../../host/core/abi.js";
import type { Engine } from "../../host/engine.js";
import { encodePacket, type PacketInput } from "../../host/packet/input.js";
import { WireFields, parseIPv4, packetInputFromBytes, writeDescriptor, WIRE_OK, WIRE_ERROR } from "../../host/packet/wire.js";
import { eksFixtureEngine } from "../fixtures/eks-fixture.js";
import { ipv4Bytes } from "../pcap/helpers.js";

const S = "52.1.2.3", NODE = "10.0.0.10";

const u16 = (v: number) => [v >> 8, v & 255];

/** An SCTP chunk: type, flags, value, length field (default: 4 + value), padded to 4. */
function ch(type: number, flags = 0, value: number[] = [], len?: number): number[] {
  const c = [type, flags, ...u16(len ?? 4 + value.length), ...value];
  while (c.length % 4) c.push(0);
  return c;
}
/** An SCTP packet's transport bytes (the CRC is not checked by these tests' rules). */
const sctp = (sp: number, dp: number, chunks: number[], tail: number[] = []) => [...u16(sp), ...u16(dp), 0, 0, 0, 7, 0, 0, 0, 0, ...chunks, ...tail];

/** A DCCP header: the generic header (16 bytes with X), the type's subheader, options; doff in 32-bit words. */
function dccp(sp: number, dp: number, type: number, o: { x?: boolean; opts?: number[]; doff?: number } = {}): number[] {
  const x = o.x ?? true;
  const sub = type === 2 ? 0 : [3, 4, 5, 6, 8, 9].includes(type) ? 8 : type === 0 ? 4 : 12;
  const h = [...u16(sp), ...u16(dp), 0, 0, 0, 0, (type << 1) | (x ? 1 : 0), 0, 0, 1, ...(x ? [0, 0, 0, 1] : []), ...Array<number>(sub).fill(0), ...(o.opts ?? [])];
  h[4] = o.doff ?? h.length >> 2;
  return h;
}

const IN_RANGES: [number, number][] = [[0, abi.PKT_OUT_INNER_SRC], [abi.PKT_INNER_ICMP_TYPE, abi.PKT_L4_BYTES + 1]];

describe("decoding: the fields -m sctp and -m dccp read, the same from bytes as from their JSONL", () => {
  let e: Engine;
  const w = new WireFields();

  /** Decodes `l4` (protocol `proto`), checks the capture's descriptor is the JSONL's; returns the JSONL form. */
  async function roundTrip(proto: number, l4: number[]): Promise<PacketInput> {
    e ??= await eksFixtureEngine();
    const b = ipv4Bytes(S, NODE, proto, l4);
    expect(parseIPv4(b, 0, b.length, b.length, w)).toBe(WIRE_OK);
    const fromBytes = new Uint8Array(abi.PKT_SIZE);
    writeDescriptor(w, fromBytes, new DataView(fromBytes.buffer), 0, e.devices.slotOf("eth0")!, 0, 0);
    const p = packetInputFromBytes(b, 0, b.length, "eth0");
    const fromJsonl = new Uint8Array(abi.PKT_SIZE);
    encodePacket(new DataView(fromJsonl.buffer), 0, { ...p, t: 0 } as unknown as Record<string, unknown>, { file: "t", line: 1 }, e.devices, 0n, () => {});
    for (const [a, z] of IN_RANGES) expect([...fromBytes.subarray(a, z)], JSON.stringify(p)).toEqual([...fromJsonl.subarray(a, z)]);
    return p;
  }

  it("SCTP: every chunk's flags byte, and 1..3 bytes after the last chunk (SCTPF_TAIL)", async () => {
    const p = await roundTrip(132, sctp(1, 2, [...ch(0, 0x0b, [1, 2, 3, 4]), ...ch(6, 1)], [0, 0]));
    expect([w.nchunks, [...w.chunkTypes.subarray(0, 2)], [...w.chunkFlags.subarray(0, 2)], w.tflags, w.sctpFlags]).toEqual([2, [0, 6], [0x0b, 1], 0b11, abi.SCTPF_TAIL]);
    expect(p.sctp).toEqual({ vtag: 7, chunks: [{ type: 0, t: true, flags: 0x0b }, { type: 6, t: true }], tail: true });
    await roundTrip(132, sctp(1, 2, [], [0])); // a common header and one byte
    expect([w.nchunks, w.sctpFlags]).toEqual([0, abi.SCTPF_TAIL]);
    await roundTrip(132, sctp(1, 2, [])); // none at all: no tail (the walk still cannot read a chunk)
    expect([w.nchunks, w.sctpFlags]).toEqual([0, 0]);
    // a zero-length chunk ends the walk: what follows is never read
    await roundTrip(132, sctp(1, 2, [...ch(3, 0, [], 0), 0, 0]));
    expect([w.nchunks, w.zerolen, w.sctpFlags]).toEqual([1, 1, 0]);
    // a length below 4 steps 4 bytes; one past the packet ends the walk (no tail)
    await roundTrip(132, sctp(1, 2, [...ch(0, 2, [], 3), ...ch(0, 2, [9, 9, 9, 9], 100)]));
    expect([w.nchunks, [...w.chunkFlags.subarray(0, 2)], w.sctpFlags]).toEqual([2, [2, 2], 0]);
  });

  it("DCCP: the packet type, a header under 12 bytes, the option types the walk finds, unreadable options", async () => {
    let p = await roundTrip(33, dccp(5, 6, 4, { opts: [0, 1, 40, 3, 9, 44, 0, 0] }));
    // 40's length 3 skips the 9; 44's length 0 steps one byte, the 0 after it is padding
    expect(p.dccp).toEqual({ type: 4, options: [0, 1, 40, 44] });
    expect([w.dccpType, w.dccpFlags]).toEqual([4, 0]);
    p = await roundTrip(33, dccp(5, 6, 2, { x: false, opts: [200, 4, 130, 0] }));
    expect(p.dccp).toEqual({ type: 2, options: [200] });
    p = await roundTrip(33, dccp(5, 6, 12, { opts: [255, 2, 129, 2] }));
    expect(p.dccp).toEqual({ type: 12, options: [129, 255] });
    p = await roundTrip(33, dccp(5, 6, 0)); // no options: no map
    expect(p.dccp).toEqual({ type: 0 });
    p = await roundTrip(33, dccp(5, 6, 0, { doff: 4 })); // below REQUEST's 20-byte header
    expect(p.dccp).toEqual({ type: 0, bad_options: true });
    p = await roundTrip(33, dccp(5, 6, 2, { doff: 10 })); // options past the packet
    expect(p.dccp).toEqual({ type: 2, bad_options: true });
    p = await roundTrip(33, [...u16(5), ...u16(6), 0, 0, 0, 0]); // the ports, not the generic header
    expect([p.dccp, p.len, w.dccpFlags, w.l4Bytes]).toEqual([undefined, 28, abi.DCCPF_SHORT, 0]);
    // the snaplen cut the options: damage
    const b = ipv4Bytes(S, NODE, 33, dccp(5, 6, 0, { opts: [1, 1, 1, 1] }));
    expect(parseIPv4(b, 0, b.length - 2, b.length, w)).toBe(WIRE_ERROR);
    expect(w.problem).toBe("DCCP data offset 6 (24 bytes) overruns the captured bytes");
    expect(parseIPv4(b, 0, 28, b.length, w)).toBe(WIRE_ERROR);
    expect(w.problem).toBe("too short for a DCCP header (8 bytes captured)");
  });
});

const pkt = (o: Partial<PacketInput> & Record<string, unknown>): PacketInput => ({ iif: "eth0", src: S, dst: NODE, ...o } as PacketInput);

describe("JSONL sctp and dccp: errors that name the field", () => {
  const bad: [Record<string, unknown>, string, RegExp][] = [
    [{ proto: 33, l4_bytes: 2, dccp: { type: 0 } }, "dccp", /has no packet type: leave dccp out/],
    [{ proto: 33, len: 30, dccp: { type: 0 } }, "dccp", /under 12 bytes \(len 30\)/],
    [{ proto: 33, dccp: { type: "BOGUS" } }, "BOGUS", /is not a DCCP packet type name/],
    [{ proto: 33, dccp: { type: 16 } }, "type", /must be an integer 0\.\.15/],
    [{ proto: 33, dccp: { type: 0, opts: [] } }, "dccp.opts", /is not a dccp field/],
    [{ proto: 33, dccp: { options: [256] } }, "dccp.options", /option types 0\.\.255/],
    [{ proto: 33, dccp: { options: 4 } }, "dccp.options", /must be an array/],
    [{ proto: 33, dccp: { options: [4], bad_options: true } }, "dccp.options", /cannot be read when bad_options/],
    [{ proto: 132, sctp: { vtag: 0, chunks: [{ type: "DATA", flags: 256 }] } }, "flags", /must be an integer 0\.\.255/],
    [{ proto: 132, sctp: { vtag: 0, chunks: [], tail: 1 } }, "sctp.tail", /must be true or false/],
  ];
  for (const [o, token, problem] of bad) {
    it(`${JSON.stringify(o)}: ${token}`, async () => {
      const e = await eksFixtureEngine();
      let err: Error | undefined;
      try { e.process([pkt(o)]); } catch (x) { err = x as Error; }
      expect(err?.message).toMatch(problem);
      expect(err?.message).toContain(token);
    });
  }
});

const FILTER = (input: string[], chains: string[] = []) =>
  ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...chains.map((c) => `:${c} - [0:0]`), ...input, "COMMIT", ""].join("\n");

type Chunk = { type: number | string; t?: boolean; flags?: number; len?: number; init_tag?: number };
const sp = (sport: number, chunks: Chunk[], o: Record<string, unknown> = {}) => pkt({ proto: 132, sport, dport: 9, sctp: { vtag: 1, chunks, ...o } });

/** The counters of the chain's rules (iptables-save -c order), "packets rule". */
function counts(e: Engine, chain: string): string[] {
  return e.iptablesSave().split("\n").filter((l) => l.includes(`-A ${chain} `)).map((l) => `${/^\[(\d+):/.exec(l)![1]} ${l.replace(/^\[\d+:\d+\] -A \S+ /, "")}`);
}

describe("the rule VM: sctp_mt and match_packet", () => {
  it("ports, ranges and inversions", async () => {
    const e = await eksFixtureEngine({ rules: FILTER([
      "-A INPUT -p sctp -m sctp --sport 1000:2000 ! --dport 5",
      "-A INPUT -p sctp -m sctp ! --sport 1000:2000",
      "-A INPUT -p sctp -m sctp --dport 9:",
    ]) });
    e.process([sp(1500, [{ type: "DATA" }]), sp(999, [{ type: "DATA" }]), pkt({ proto: 132, sport: 1000, dport: 5, sctp: { vtag: 1, chunks: [{ type: "DATA" }] } })]);
    expect(counts(e, "INPUT")).toEqual([
      "1 -p sctp -m sctp --sport 1000:2000 ! --dport 5", "1 -p sctp -m sctp ! --sport 1000:2000", "2 -p sctp -m sctp --dport 9:",
    ]);
  });

  it("chunk types any / all / only, flags under a mask, early returns, hotdrops where the walk reaches a bad chunk", async () => {
    const e = await eksFixtureEngine({ rules: FILTER([
      "-A INPUT -p sctp -m sctp --chunk-types any INIT,DATA:Be",
      "-A INPUT -p sctp -m sctp --chunk-types all DATA:E,SACK",
      "-A INPUT -p sctp -m sctp --chunk-types only DATA,SACK",
      "-A INPUT -p sctp -m sctp --chunk-types only ALL",
    ]) });
    const r = e.process([
      sp(1, [{ type: "DATA", flags: 2 }]), // any; not all (SACK); only
      sp(2, [{ type: "DATA", flags: 3 }, { type: "SACK" }]), // not any (E set); all; only
      sp(3, [{ type: "INIT", init_tag: 1 }, { type: "DATA", len: 0 }]), // any returns at INIT; all reaches the zero length
      sp(4, [{ type: "SACK" }], { tail: true }), // the first walk to the end hotdrops
      sp(5, []), // no chunk: hotdrop
      sp(6, [{ type: "ABORT", t: true }, { type: "DATA", len: 0 }]), // any walks past ABORT to the zero length
    ]);
    expect(r.map((x) => [x.verdict, x.reason])).toEqual([
      ["local", undefined], ["local", undefined], ["drop", "NF_HOTDROP"], ["drop", "NF_HOTDROP"], ["drop", "NF_HOTDROP"], ["drop", "NF_HOTDROP"],
    ]);
    expect(r[2]!.nf_verdict).toBe("-t filter -A INPUT -p sctp -m sctp --chunk-types all DATA:E,SACK");
    expect(r[3]!.nf_verdict).toBe("-t filter -A INPUT -p sctp -m sctp --chunk-types any INIT,DATA:Be");
    expect(r[5]!.nf_verdict).toBe("-t filter -A INPUT -p sctp -m sctp --chunk-types any INIT,DATA:Be");
    expect(counts(e, "INPUT").map((l) => Number(l.split(" ")[0]))).toEqual([2, 1, 2, 2]);
    // only returns at the first chunk outside its map, before a bad one; only ALL reaches it
    const o = await eksFixtureEngine({ rules: FILTER(["-A INPUT -p sctp -m sctp --chunk-types only DATA,SACK", "-A INPUT -p sctp -m sctp --chunk-types only ALL"]) });
    const q = o.process([sp(7, [{ type: "ABORT" }, { type: "DATA", len: 0 }])]);
    expect([q[0]!.reason, q[0]!.nf_verdict]).toEqual(["NF_HOTDROP", "-t filter -A INPUT -p sctp -m sctp --chunk-types only ALL"]);
  });

  it("an inverted walk that hotdrops matches: the rule counts the packet and runs its target, then the walk drops it", async () => {
    const e = await eksFixtureEngine({ rules: FILTER([
      "-A INPUT -p sctp -m sctp ! --chunk-types any HEARTBEAT -j REJECT --reject-with icmp-port-unreachable",
      "-A INPUT -p sctp",
    ]) });
    const r = e.process([sp(1, [{ type: "DATA" }], { tail: true }), sp(2, [{ type: "HEARTBEAT" }])]);
    expect(r.map((x) => [x.verdict, x.reason, x.replies.map((q) => q.icmp_code)])).toEqual([["drop", "NF_HOTDROP", [3]], ["local", undefined, [2]]]);
    expect(r[0]!.rules).toEqual(["-t filter -A INPUT -p sctp -m sctp ! --chunk-types any HEARTBEAT -j REJECT --reject-with icmp-port-unreachable"]);
    expect(counts(e, "INPUT").map((l) => Number(l.split(" ")[0]))).toEqual([1, 1]);
  });

  it("under the 12-byte common header: hotdrop at the first sctp match (and not at -p sctp alone)", async () => {
    const e = await eksFixtureEngine({ rules: FILTER(["-A INPUT -p sctp", "-A INPUT -p sctp -m sctp --dport 9", "-A INPUT -p sctp"]) });
    const r = e.process([pkt({ proto: 132, l4_bytes: 8, sport: 1, dport: 9 })]);
    expect([r[0]!.verdict, r[0]!.reason]).toEqual(["drop", "NF_HOTDROP"]);
    expect(counts(e, "INPUT").map((l) => Number(l.split(" ")[0]))).toEqual([1, 0, 0]);
  });
});

describe("the rule VM: dccp_mt", () => {
  const dp = (sport: number, d: Record<string, unknown> | undefined, len?: number) => pkt({ proto: 33, sport, dport: 9, ...(d ? { dccp: d } : {}), ...(len ? { len } : {}) } as Record<string, unknown>);

  it("ports (a reversed range never matches), types (10..15 are INVALID), options", async () => {
    const e = await eksFixtureEngine({ rules: FILTER([
      "-A INPUT -p dccp -m dccp --sport 7:5",
      "-A INPUT -p dccp -m dccp ! --sport 600:699 --dport 9",
      "-A INPUT -p dccp -m dccp --dccp-types REQUEST,DATA",
      "-A INPUT -p dccp -m dccp --dccp-types INVALID",
      "-A INPUT -p dccp -m dccp --dccp-option 44",
      "-A INPUT -p dccp -m dccp ! --dccp-option 200 --dccp-types ACK",
    ]) });
    e.process([dp(6, { type: "REQUEST" }), dp(650, { type: 2, options: [44] }), dp(651, { type: 13 }), dp(652, { type: "ACK", options: [200] }), dp(653, { type: 3 })]);
    expect(counts(e, "INPUT").map((l) => Number(l.split(" ")[0]))).toEqual([0, 1, 2, 1, 1, 1]);
  });

  it("hotdrops: a header under 12 bytes, no ports, unreadable options (inverted: counted, then dropped)", async () => {
    const e = await eksFixtureEngine({ rules: FILTER([
      "-A INPUT -p dccp -m dccp --dport 9",
      "-A INPUT -p dccp -m dccp --sport 1:2 ! --dccp-option 4",
      "-A INPUT -p dccp -m dccp --dccp-option 4",
    ]) });
    const r = e.process([
      dp(1, undefined, 30), // 10 transport bytes
      pkt({ proto: 33, l4_bytes: 2 }),
      dp(1, { type: 0, bad_options: true }), // the inverted rule: counted
      dp(3, { type: 0, bad_options: true }), // the plain one: not counted
      dp(3, { type: 0, options: [4] }),
    ]);
    expect(r.map((x) => [x.verdict, x.reason])).toEqual([
      ["drop", "NF_HOTDROP"], ["drop", "NF_HOTDROP"], ["drop", "NF_HOTDROP"], ["drop", "NF_HOTDROP"], ["local", undefined],
    ]);
    expect(counts(e, "INPUT").map((l) => Number(l.split(" ")[0]))).toEqual([3, 1, 1]);
  });
});
