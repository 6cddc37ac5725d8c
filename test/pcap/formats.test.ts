/**
 * Capture formats: classic pcap in both byte orders with µs and ns magic,
 * pcapng sections in both byte orders (if_name, if_tsresol, EPB flags,
 * SPB, unknown blocks, several sections), link types Ethernet with 802.1Q /
 * 802.1ad tags, SLL, SLL2 and raw IPv4; non-IPv4 frames and outgoing
 * copies counted by kind; ingress by if_name, SLL2 ifindex, MAC, mapping.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { Bytes, pcapngBlock as block, demoEngine, packetBytes, scratchDir } from "./helpers.js";
import { CaptureReader } from "../../host/pcap/read.js";
import { replayCapture, type CaptureSink } from "../../host/pcap/replay.js";
import { CaptureError } from "../../host/pcap/errors.js";
import { parseMac } from "../../host/pcap/link.js";
import type { Engine } from "../../host/engine.js";
import type { PacketInput } from "../../host/packet/input.js";
import { SKIP_FORWARDED } from "../../host/pcap/node-sends.js";

const { dir, cleanup } = scratchDir();
afterAll(cleanup);
let engine: Engine;
let ip: Uint8Array[];
const PKTS: PacketInput[] = [
  { iif: "eth0", src: "52.1.2.3", dst: "10.0.0.10", proto: "tcp", sport: 40000, dport: 22, flags: "S", len: 60, t: 0 },
  { iif: "eth0", src: "52.1.2.4", dst: "10.0.0.10", proto: "udp", sport: 5000, dport: 53, len: 80, t: 0 },
  { iif: "eth0", src: "52.1.2.5", dst: "10.0.0.10", proto: "icmp", icmp_type: 8, icmp_id: 1, icmp_seq: 1, len: 84, t: 0 },
];

beforeAll(async () => {
  engine = await demoEngine();
  ip = packetBytes(engine, PKTS);
});

function pcapFile(le: boolean, ns: boolean, linkType: number, frames: { sec: number; frac: number; bytes: Uint8Array }[], snaplen = 65535): Buffer {
  const b = new Bytes(le).u32(ns ? 0xa1b23c4d : 0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(snaplen).u32(linkType);
  for (const f of frames) b.u32(f.sec).u32(f.frac).u32(f.bytes.length).u32(f.bytes.length).raw(f.bytes);
  return b.buffer();
}

function shb(le: boolean): number[] { return block(le, 0x0a0d0d0a, (b) => b.u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff)); }
function idb(le: boolean, linkType: number, name: string, tsresol?: number): number[] {
  return block(le, 1, (b) => {
    b.u16(linkType).u16(0).u32(0);
    const nb = Buffer.from(name);
    b.u16(2).u16(nb.length).raw(nb).pad4();
    if (tsresol !== undefined) b.u16(9).u16(1).u8(tsresol).pad4();
    b.u16(0).u16(0);
  });
}
function epb(le: boolean, ifid: number, ts: bigint, data: Uint8Array, flags?: number): number[] {
  return block(le, 6, (b) => {
    b.u32(ifid).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn)).u32(data.length).u32(data.length).raw(data).pad4();
    if (flags !== undefined) b.u16(2).u16(4).u32(flags).u16(0).u16(0);
  });
}
function spb(le: boolean, data: Uint8Array): number[] { return block(le, 3, (b) => b.u32(data.length).raw(data).pad4()); }

function mac(s: string): number[] { return s.split(":").map((x) => parseInt(x, 16)); }
function eth(dst: string, src: string, tags: [number, number][], type: number, payload: Uint8Array): Uint8Array {
  const out = [...mac(dst), ...mac(src)];
  for (const [tpid, vid] of tags) out.push(tpid >> 8, tpid & 255, vid >> 8, vid & 255);
  out.push(type >> 8, type & 255, ...payload);
  return Uint8Array.from(out);
}
function sll(pktType: number, type: number, payload: Uint8Array): Uint8Array {
  return Uint8Array.from([0, pktType, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, type >> 8, type & 255, ...payload]);
}
function sll2(ifindex: number, pktType: number, type: number, payload: Uint8Array): Uint8Array {
  return Uint8Array.from([type >> 8, type & 255, 0, 0, ifindex >>> 24, (ifindex >> 16) & 255, (ifindex >> 8) & 255, ifindex & 255, 0, 1, pktType, 6, 1, 2, 3, 4, 5, 6, 0, 0, ...payload]);
}

function collect(e: Engine) {
  const got: { iif: string; t: number; number: number; dst: string }[] = [];
  const skipped: string[] = [];
  const sink: CaptureSink = {
    packet(k, index, frame) {
      const r = e.decodeRaw(k, index);
      got.push({ iif: e.node.devBySlot[frame.iif]!.name, t: frame.tsNs, number: frame.number, dst: r.dst });
    },
    skipped(frame, kind) { skipped.push(`${frame.number}:${kind}`); },
  };
  return { got, skipped, sink };
}

describe("classic pcap", () => {
  for (const le of [true, false]) {
    for (const ns of [false, true]) {
      it(`${le ? "little" : "big"}-endian, ${ns ? "ns" : "µs"} timestamps: frames and times`, async () => {
        const f = join(dir, `c-${le}-${ns}.pcap`);
        writeFileSync(f, pcapFile(le, ns, 101, [
          { sec: 1700000000, frac: ns ? 999999999 : 999999, bytes: ip[0]! },
          { sec: 1700000001, frac: ns ? 5 : 5, bytes: ip[1]! },
          { sec: 1700000003, frac: 0, bytes: ip[2]! },
        ]));
        const r = CaptureReader.open(f);
        const times: number[] = [];
        while (r.next()) times.push(r.tsNs);
        r.close();
        expect(r.firstTsNs).toBe(1700000000n * 1_000_000_000n + (ns ? 999999999n : 999999000n));
        expect(times).toEqual(ns ? [0, 6, 2000000001] : [0, 6000, 2000001000]);
        const e = await demoEngine();
        const st = await replayCapture(e, f, undefined, { ingress: { bySource: [{ cidr: "52.1.2.0/24", link: "eth0" }] } });
        expect(st.error).toBeUndefined();
        expect(st.packets).toBe(3);
      });
    }
  }

  it("caplen above the snaplen, unknown link type, short header", async () => {
    const f1 = join(dir, "snap.pcap");
    writeFileSync(f1, pcapFile(true, false, 101, [{ sec: 1, frac: 0, bytes: ip[0]! }, { sec: 1, frac: 0, bytes: ip[2]! }], 70));
    const e = await demoEngine();
    let st = await replayCapture(e, f1, undefined, { ingress: { byInterfaceId: { 0: "eth0" } } });
    expect(st.packets).toBe(1);
    expect((st.error as CaptureError).offset).toBe(24 + 16 + 60 + 8);
    expect(st.error!.message).toContain("captured length exceeds the file's snaplen 70");
    const f2 = join(dir, "lt.pcap");
    writeFileSync(f2, pcapFile(true, false, 147, []));
    st = await replayCapture(e, f2);
    expect(st.error!.message).toMatch(/"147": byte offset 20: unsupported link type/);
    const f3 = join(dir, "short.pcap");
    writeFileSync(f3, pcapFile(true, false, 101, []).subarray(0, 10));
    st = await replayCapture(e, f3);
    expect(st.error!.message).toContain("byte offset 0: file truncated: the file header needs 24 bytes but the file ends after 10");
  });
});

describe("pcapng", () => {
  it("two sections in opposite byte orders, if_tsresol, EPB direction flags, SPB, unknown blocks skipped", async () => {
    const t0 = 1700000000n * 1_000_000n; // µs
    const bytes = [
      ...shb(false),
      ...idb(false, 101, "eth0"), // µs (default)
      ...block(false, 0x0bad, (b) => b.u32(1).u32(2)), // unknown block
      ...epb(false, 0, t0, ip[0]!, 1), // inbound
      ...epb(false, 0, t0 + 10n, ip[1]!, 2), // outbound: not replayed
      ...spb(false, ip[2]!), // no timestamp: the previous frame's
      ...shb(true),
      ...idb(true, 101, "eth1", 9), // ns
      ...idb(true, 101, "eth0", 3), // ms
      ...epb(true, 1, 1700000000n * 1000n + 2n, ip[0]!),
      ...epb(true, 0, 1700000000n * 1_000_000_000n + 7n, ip[1]!),
    ];
    const f = join(dir, "mixed.pcapng");
    writeFileSync(f, Buffer.from(bytes));
    const e = await demoEngine();
    const c = collect(e);
    const st = await replayCapture(e, f, c.sink);
    expect(st.error).toBeUndefined();
    expect(st.frames).toBe(5);
    expect(st.notReplayed).toEqual({ [SKIP_FORWARDED]: 1 });
    expect(c.skipped).toEqual([`2:${SKIP_FORWARDED}`]);
    expect(c.got.map((g) => [g.number, g.iif, g.t])).toEqual([[1, "eth0", 0], [3, "eth0", 10000], [4, "eth0", 2000000], [5, "eth1", 7]]);
    expect(st.interfaces.map((i) => i.name)).toEqual(["eth0", "eth1", "eth0"]);
  });

  it("an interface the node does not have is an error naming frame, offset and the mapping that fixes it; the mapping fixes it", async () => {
    const bytes = [...shb(true), ...idb(true, 101, "ens5"), ...epb(true, 0, 5n, ip[0]!), ...epb(true, 0, 6n, ip[1]!)];
    const f = join(dir, "unknown-if.pcapng");
    writeFileSync(f, Buffer.from(bytes));
    const e = await demoEngine();
    const st = await replayCapture(e, f);
    const err = st.error as CaptureError;
    expect(err.frame).toBe(1);
    expect(err.offset).toBe(28 + 32); // SHB 28, IDB 32
    expect(err.message).toContain(`capture interface 0 is "ens5", not a link of the node`);
    expect(err.message).toContain(`ingress.byIfName ("ens5" -> a node link)`);
    const st2 = await replayCapture(await demoEngine(), f, undefined, { ingress: { byIfName: { ens5: "eth1" } } });
    expect(st2.error).toBeUndefined();
    expect(st2.packets).toBe(2);
  });
});

describe("link layers", () => {
  it("Ethernet: VLAN tags stripped, ingress by destination MAC, own source MAC = outgoing, broadcast = PF_L2_OTHER, non-IPv4 by kind", async () => {
    const e = await demoEngine();
    const links = e.node.devBySlot.filter((l) => l?.mac && l.name !== "lo");
    const eth0 = links.find((l) => l!.name === "eth0")!.mac!;
    const eth1 = links.find((l) => l!.name === "eth1")!.mac!;
    const peer = "02:aa:bb:cc:dd:ee";
    const frames = [
      eth(eth0, peer, [], 0x0800, ip[0]!),
      eth(eth1, peer, [[0x8100, 100]], 0x0800, ip[1]!),
      eth(eth0, peer, [[0x88a8, 5], [0x8100, 100]], 0x0800, ip[2]!),
      eth(peer, eth0, [], 0x0800, ip[0]!), // the node's own transmission
      eth("ff:ff:ff:ff:ff:ff", peer, [], 0x0806, new Uint8Array(28)),
      eth(eth0, peer, [], 0x86dd, new Uint8Array(40)),
      eth(eth0, peer, [], 0x88cc, new Uint8Array(20)),
      eth(eth0, peer, [], 0x0030, new Uint8Array(48)), // 802.3 length
    ];
    const f = join(dir, "eth.pcap");
    writeFileSync(f, pcapFile(true, true, 1, frames.map((b, i) => ({ sec: 10, frac: i, bytes: b }))));
    const c = collect(e);
    const st = await replayCapture(e, f, c.sink);
    expect(st.error).toBeUndefined();
    expect(c.got.map((g) => g.iif)).toEqual(["eth0", "eth1", "eth0"]);
    expect(st.notReplayed).toEqual({ [SKIP_FORWARDED]: 1, ARP: 1, IPv6: 1, "ethertype 0x88cc": 1, "802.3/LLC": 1 });
    expect(st.frames).toBe(8);
    // a broadcast IPv4 frame needs a mapping, and arrives as PACKET_BROADCAST (dropped as OTHERHOST when forwarded)
    const f2 = join(dir, "bcast.pcap");
    writeFileSync(f2, pcapFile(true, true, 1, [{ sec: 1, frac: 0, bytes: eth("ff:ff:ff:ff:ff:ff", peer, [], 0x0800, ip[1]!) }]));
    const st2 = await replayCapture(await demoEngine(), f2);
    expect(st2.error!.message).toContain("destination MAC ff:ff:ff:ff:ff:ff is broadcast/multicast");
    expect(st2.error!.message).toContain("ingress.byMac (ff:ff:ff:ff:ff:ff -> a node link)");
    const e3 = await demoEngine();
    const c3 = collect(e3);
    const st3 = await replayCapture(e3, f2, c3.sink, { ingress: { byMac: { "ff:ff:ff:ff:ff:ff": "eth0" } } });
    expect(st3.packets).toBe(1);
    expect(parseMac(eth0)).toBeGreaterThan(0);
  });

  it("SLL and SLL2: packet types, OUTGOING copies, ifindex matched against ip-link.txt", async () => {
    const e = await demoEngine();
    const eth1 = e.node.devBySlot.find((l) => l?.name === "eth1")!;
    const f = join(dir, "sll2.pcap");
    writeFileSync(f, pcapFile(true, false, 276, [
      { sec: 1, frac: 0, bytes: sll2(eth1.ifindex, 0, 0x0800, ip[0]!) },
      { sec: 1, frac: 1, bytes: sll2(eth1.ifindex, 4, 0x0800, ip[0]!) }, // outgoing copy
      { sec: 1, frac: 2, bytes: sll2(eth1.ifindex, 0, 0x0806, new Uint8Array(28)) },
      { sec: 1, frac: 3, bytes: sll2(eth1.ifindex, 0, 0x8100, Uint8Array.from([0, 7, 0x08, 0x00, ...ip[2]!])) },
      { sec: 1, frac: 4, bytes: sll2(999, 0, 0x0800, ip[1]!) },
    ]));
    const c = collect(e);
    const st = await replayCapture(e, f, c.sink);
    expect(c.got.map((g) => g.iif)).toEqual(["eth1", "eth1"]);
    expect(st.notReplayed).toEqual({ [SKIP_FORWARDED]: 1, ARP: 1 });
    expect(st.error!.message).toContain("SLL2 ifindex 999 is not in the node's ip-link.txt");
    expect((st.error as CaptureError).frame).toBe(5);
    const f1 = join(dir, "sll.pcap");
    writeFileSync(f1, pcapFile(false, false, 113, [
      { sec: 1, frac: 0, bytes: sll(0, 0x0800, ip[0]!) },
      { sec: 1, frac: 0, bytes: sll(4, 0x0800, ip[0]!) },
      { sec: 1, frac: 0, bytes: sll(1, 0x0800, ip[1]!) },
    ]));
    const e2 = await demoEngine();
    const st2 = await replayCapture(e2, f1, undefined, { ingress: { bySource: [{ cidr: "52.1.0.0/16", link: "eth0" }] } });
    expect(st2.error).toBeUndefined();
    expect(st2.packets).toBe(2);
    expect(st2.notReplayed).toEqual({ [SKIP_FORWARDED]: 1 });
  });
});
