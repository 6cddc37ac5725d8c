/**
 * The core's capture decoder (assembly/capture/decode.ts, PcapSource's
 * fastDecode) against the host's decoder: every capture is decoded with
 * the fast path on and off, and everything a PcapSource reports must be the
 * same: every batch's descriptor bytes (bytes the decoders do not write
 * included), counts, skipped kinds, notes, reassembly counters and
 * fragments, the reader's frame count and position, the thrown error
 * (class, message, offset, frame). Captures: the writer's (raw IPv4,
 * several interfaces, thousands of frames across read-buffer refills) and
 * hand-built ones: Ethernet (node, broadcast, multicast, VLAN tags, the
 * node's own MAC as source), SLL, SLL2 (packet types, ifindex), raw links,
 * epb_flags, IPv4 options, fragments (with and without conntrack), bad
 * header and transport checksums (checking on and off), ICMP errors,
 * non-IPv4 frames, truncated frames, times before the first frame, new
 * interfaces and sections midway, damaged tails; forwarded copies paired
 * with their originals (tcpdump -i any's SLL2, outbound epb_flags: the
 * seen fields, written in place or patched after the core's scratch area
 * was copied out, and the count); and 240 seeded random mutants of a pcapng
 * and a classic pcap (flipped bytes, length-like words, cuts, lost bytes:
 * `MUTANTS=N` runs more), whose damage must be a CaptureError with an
 * offset inside the file.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import * as abi from "../../host/core/abi.js";
import { Bytes, pcapngBlock as block, demoEngine, demoPackets, packetBytes, scratchDir, spareCore, writeCapture, VARIETY } from "./helpers.js";
import { Engine } from "../../host/engine.js";
import { PcapSource, type PcapEngine, type PcapSourceOptions } from "../../host/replay/pcap-source.js";
import { CaptureError } from "../../host/pcap/errors.js";
import type { CoreExports } from "../../host/core/wasm.js";
import type { PacketInput } from "../../host/packet/input.js";
import { SKIP_ANSWER, SKIP_FORWARDED, SKIP_OTHER, SKIP_LOOPBACK, SKIP_OUTGOING } from "../../host/pcap/node-sends.js";
import { FRAGMENT_NOT_REPLAYED } from "../../host/replay/pcap-source.js";
import { drawBelow } from "../mutate.js";

const { dir, cleanup } = scratchDir();
afterAll(cleanup);
let engine: Engine;
/** The decoder's core: another instance, as the decode thread's. */
let core: CoreExports;

beforeAll(async () => {
  engine = await demoEngine();
  core = await spareCore();
});

// ---- capture bytes, built here (little- or big-endian pcapng) ----
const shb = (le = true) => block(le, 0x0a0d0d0a, (b) => b.u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff));
function idb(linkType: number, name: string | undefined, opts: { tsresol?: number; snaplen?: number; le?: boolean } = {}): number[] {
  return block(opts.le ?? true, 1, (b) => {
    b.u16(linkType).u16(0).u32(opts.snaplen ?? 0);
    if (name !== undefined) { const nb = Buffer.from(name); b.u16(2).u16(nb.length).raw(nb).pad4(); }
    if (opts.tsresol !== undefined) b.u16(9).u16(1).u8(opts.tsresol).pad4();
    b.u16(0).u16(0);
  });
}
function epb(ifid: number, ts: bigint, data: Uint8Array, opts: { flags?: number; orig?: number; cap?: number; le?: boolean; junkOpt?: boolean } = {}): number[] {
  const cap = opts.cap ?? data.length;
  return block(opts.le ?? true, 6, (b) => {
    b.u32(ifid).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn)).u32(cap).u32(opts.orig ?? data.length).raw(data.subarray(0, cap)).pad4();
    if (opts.junkOpt) b.u16(1).u16(3).raw([1, 2, 3]).pad4(); // opt_comment
    if (opts.flags !== undefined) b.u16(2).u16(4).u32(opts.flags);
    if (opts.flags !== undefined || opts.junkOpt) b.u16(0).u16(0);
  });
}
const mac = (s: string) => s.split(":").map((x) => parseInt(x, 16));
function eth(dst: string, src: string, tags: number[], type: number, payload: Uint8Array): Uint8Array {
  const out = [...mac(dst), ...mac(src)];
  for (const tpid of tags) out.push(tpid >> 8, tpid & 255, 0, 42);
  out.push(type >> 8, type & 255, ...payload);
  return Uint8Array.from(out);
}
const sll = (pktType: number, type: number, payload: Uint8Array) => Uint8Array.from([0, pktType, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, type >> 8, type & 255, ...payload]);
function sll2(ifindex: number, pktType: number, type: number, payload: Uint8Array, vlan = false): Uint8Array {
  const head = [type >> 8, type & 255, 0, 0, ifindex >>> 24, (ifindex >> 16) & 255, (ifindex >> 8) & 255, ifindex & 255, 0, 1, pktType, 6, 1, 2, 3, 4, 5, 6, 0, 0];
  if (vlan) { head[0] = 0x81; head[1] = 0; return Uint8Array.from([...head, 0, 42, type >> 8, type & 255, ...payload]); }
  return Uint8Array.from([...head, ...payload]);
}

/** The IPv4 header checksum of b (IHL from its first byte), rewritten. */
function fixHeaderSum(b: Uint8Array): Uint8Array {
  const ihl = (b[0]! & 15) * 4;
  b[10] = 0; b[11] = 0;
  let s = 0;
  for (let i = 0; i < ihl; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  s = ~s & 0xffff;
  b[10] = s >> 8; b[11] = s & 255;
  return b;
}
/** The packet with IPv4 options (a NOP-padded record route of `words` words) inserted. */
function withOptions(p: Uint8Array, opt: number[]): Uint8Array {
  const o = [...opt];
  while (o.length % 4) o.push(1);
  const out = new Uint8Array(p.length + o.length);
  out.set(p.subarray(0, 20));
  out.set(o, 20);
  out.set(p.subarray(20), 20 + o.length);
  out[0] = 0x40 | ((20 + o.length) >> 2);
  const len = out.length;
  out[2] = len >> 8; out[3] = len & 255;
  return fixHeaderSum(out);
}
/** A fragment of packet p: payload bytes [a, e) (multiples of 8), MF as given. */
function fragment(p: Uint8Array, a: number, e: number, mf: boolean): Uint8Array {
  const out = new Uint8Array(20 + e - a);
  out.set(p.subarray(0, 20));
  out.set(p.subarray(20 + a, 20 + e), 20);
  const off = (a >> 3) | (mf ? 0x2000 : 0);
  out[6] = off >> 8; out[7] = off & 255;
  out[2] = out.length >> 8; out[3] = out.length & 255;
  return fixHeaderSum(out);
}
const flip = (p: Uint8Array, at: number) => { const c = p.slice(); c[at]! ^= 0x5a; return c; };

// ---- the comparison ----
interface Outcome {
  batches: Buffer[];
  counts: number[];
  /** skipped() as entries: the order is the summary's. */
  skipped: [string, number][];
  notes: Record<string, number>;
  /** Frames replayed as the node's own sends. */
  nodeSends: number;
  /** Forwarded copies paired with their originals (host/pcap/copies.ts). */
  copiesPaired: number;
  hostCounters: Record<string, number>;
  fragments?: Record<string, number>;
  counters: number[];
  clamped: number;
  csumUnverified: number;
  frames: number;
  done: number;
  error?: { cls: string; message: string; offset?: number; frame?: number };
}

function decode(file: string, fast: boolean, opts: PcapSourceOptions & { batch?: number; base?: number; conntrack?: boolean; eager?: boolean; inCore?: boolean } = {}): { out: Outcome; fastRecords: number } {
  const counters: number[] = [];
  const view: PcapEngine = { node: engine.node, ruleset: opts.conntrack ? { compiled: { conntrack: true } } : undefined, addCounter: (i, n) => { counters.push(i, n); } };
  const batch = opts.batch ?? 1024, base = opts.base ?? 0;
  const out: Outcome = { batches: [], counts: [], skipped: [], notes: {}, nodeSends: 0, copiesPaired: 0, hostCounters: {}, counters, clamped: 0, csumUnverified: 0, frames: 0, done: 0 };
  let src: PcapSource;
  try {
    src = PcapSource.open(file, view, { ...opts, keepFrames: false, fastDecode: fast ? core : undefined });
  } catch (e) {
    const ce = e as CaptureError;
    out.error = { cls: ce.constructor.name, message: ce.message, offset: ce.offset, frame: ce.frame };
    return { out, fastRecords: 0 };
  }
  // the batch buffer: its own, or in the decoder's core (the fast path writes the descriptors in place)
  const size = base + batch * abi.PKT_SIZE;
  const at = opts.inCore ? core.alloc(size) : 0;
  const target = opts.inCore ? core.memory.buffer : new ArrayBuffer(size);
  // bytes no decoder writes: a sentinel
  new Uint8Array(target, at, size).fill(0xa5);
  const dv = new DataView(target, at, size);
  if (opts.eager) src.fastBackoffMax = 0; // the fast path tried again after every record the host decodes
  for (;;) {
    let n: number;
    try {
      n = src.fill(dv, base, batch);
    } catch (e) {
      const ce = e as CaptureError;
      out.error = { cls: ce.constructor.name, message: ce.message, offset: ce.offset, frame: ce.frame };
      break;
    }
    out.counts.push(n);
    out.batches.push(Buffer.from(new Uint8Array(target, at, base + n * abi.PKT_SIZE)));
    if (n === 0) break;
  }
  out.skipped = Object.entries(src.skipped());
  out.notes = src.notes();
  out.nodeSends = src.nodeSends;
  out.copiesPaired = src.copiesPaired;
  out.hostCounters = src.hostCounters();
  out.fragments = src.fragments();
  out.clamped = src.clamped;
  out.csumUnverified = src.csumUnverified;
  out.frames = src.reader.frame;
  out.done = src.progress().done;
  const fastRecords = src.fastRecords;
  src.close();
  if (opts.inCore) core.free(at);
  return { out, fastRecords };
}

/** Decodes `file` both ways and compares; returns the records the fast path took. */
function same(file: string, opts: Parameters<typeof decode>[2] = {}): number {
  const slow = decode(file, false, opts).out;
  const { out: fast, fastRecords } = decode(file, true, opts);
  // the first differing descriptor, for a readable failure
  for (let b = 0; b < Math.min(slow.batches.length, fast.batches.length); b++) {
    const x = slow.batches[b]!, y = fast.batches[b]!;
    if (x.equals(y)) continue;
    const base = opts.base ?? 0;
    let i = 0;
    while (i < Math.min(x.length, y.length) && x[i] === y[i]) i++;
    const k = Math.floor((i - base) / abi.PKT_SIZE), at = (i - base) % abi.PKT_SIZE;
    expect.fail(`${file}: batch ${b}, descriptor ${k}, byte ${at}: host ${x[i]}, fast path ${y[i]}`);
  }
  expect(fast.batches.length).toBe(slow.batches.length);
  expect({ ...fast, batches: [] }).toEqual({ ...slow, batches: [] });
  return fastRecords;
}

function writeFile(name: string, parts: number[][]): string {
  const f = join(dir, name);
  writeFileSync(f, Buffer.from(parts.flat()));
  return f;
}

let tcpOpts: PacketInput[];
describe("the core's capture decoder decodes as the host does", () => {
  let ip: Uint8Array[];
  let demo: Uint8Array[];
  let demoPk: PacketInput[];
  beforeAll(() => {
    tcpOpts = [
      { iif: "eth0", src: "52.1.2.3", dst: "10.0.0.10", proto: "tcp", sport: 40000, dport: 443, flags: "S", seq: 5, win: 64240, doff: 10, wscale: 14, sackok: true, mss: 1460, len: 60, t: 0 },
      { iif: "eth0", src: "52.1.2.3", dst: "10.0.0.10", proto: "tcp", sport: 40000, dport: 443, flags: "A", seq: 5, ack: 9, win: 501, doff: 8, sack: 0x80000001, len: 1000, t: 0 },
      { iif: "eth0", src: "52.1.2.3", dst: "10.0.0.10", proto: "tcp", sport: 40000, dport: 443, flags: "A", seq: 5, ack: 9, win: 501, doff: 6, mss: 9001, len: 44, t: 0 },
    ];
    // odd lengths and every remainder of the checksum's 16-byte steps, right and wrong sums
    for (let len = 28; len < 64; len++) {
      const csum = len % 3 === 0 ? "bad" as const : "ok" as const;
      tcpOpts.push({ iif: "eth0", src: "52.1.2.4", dst: "10.0.0.10", proto: "udp", sport: 5353, dport: 53, len, csum, t: 0 });
      tcpOpts.push({ iif: "eth0", src: "52.1.2.5", dst: "10.0.0.10", proto: "icmp", icmp_type: 0, icmp_id: len, icmp_seq: 1, len, csum, t: 0 });
      if (len >= 40) tcpOpts.push({ iif: "eth0", src: "52.1.2.3", dst: "10.0.0.10", proto: "tcp", sport: 1000 + len, dport: 80, flags: "A", len, csum, t: 0 });
    }
    // protocols without a transport parser: no payload, odd lengths
    tcpOpts.push({ iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 253, len: 20, t: 0 }, { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 4, len: 41, t: 0 },
      { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 47, len: 21, t: 0 }, { iif: "eth0", src: "52.1.2.6", dst: "10.0.0.10", proto: 89, len: 43, csum: "bad", t: 0 });
    ip = packetBytes(engine, [...VARIETY, ...tcpOpts]);
    demoPk = demoPackets(3000, 11);
    demo = packetBytes(engine, demoPk);
  });

  it("the writer's captures (raw IPv4, an interface per device), checksums checked and not, batches of every size", async () => {
    const f = join(dir, "demo.pcapng");
    // frames up to 1500 bytes: several refills of a 512 KiB buffer read 64 KiB at a time
    const big = demo.map((b, i) => (i % 3 === 0 ? b : b));
    await writeCapture(f, demoPk.map((p, i) => ({ ...p, t: i * 1e-5 })), big);
    for (const [verifyChecksums, batch, base, conntrack, inCore] of  [[true, 1024, 0, true, false], [false, 1024, 0, false, false], [true, 7, 0, false, true], [false, 33, 2, true, false], [false, 100, 2, false, true]] as const) {
      const took = same(f, { verifyChecksums, batch, base, conntrack, inCore, bufferSize: 512 << 10, readChunk: 64 << 10 });
      expect(took).toBeGreaterThan(demo.length * 0.9);
    }
  });

  it("every decoded field: TCP options, UDP, ICMP echo and errors, SCTP, DCCP, other protocols, bad checksums", async () => {
    const f = join(dir, "variety.pcapng");
    const pk = [...VARIETY, ...tcpOpts].map((p, i) => ({ ...p, iif: "eth0", t: i * 0.001 }));
    await writeCapture(f, pk, ip);
    for (const verifyChecksums of [true, false]) {
      expect(same(f, { verifyChecksums, eager: true })).toBe(16 + 36 * 2 + 24 + 4); // all but the first and the SCTP, UDP-Lite and DCCP ones
      same(f, { verifyChecksums });
    }
  });

  it("link layers, directions, ingress mappings, IPv4 options, fragments, header errors, truncated frames", () => {
    const [tcp, , badTcp, udp, udpNone, udpBad, , echo, unreach] = ip;
    const big = demo.find((b) => b.length > 600 && b[9] === 17) ?? demo.find((b) => b.length > 600)!;
    const frames: number[][] = [shb(), idb(1, "eth0"), idb(113, "eth1"), idb(276, undefined), idb(101, "eth0"), idb(228, "nosuchlink"), idb(1, undefined, { tsresol: 3 })];
    // (interface 4 is not used: an interface no frame names)
    const T = 1_700_000_000_000_000_000n;
    let t = T;
    const add = (ifid: number, data: Uint8Array, o: Parameters<typeof epb>[3] = {}) => { frames.push(epb(ifid, t, data, o)); t += 1000n; };
    const nodeMac = "02:00:00:00:02:01", other = "0a:00:00:00:00:09";
    const v6 = Uint8Array.from([0x60, 0, 0, 0, 0, 8, 17, 64, ...new Array(32).fill(1), 0, 1, 0, 2, 0, 8, 0, 0]);
    // the skipped kinds in the order they first came: an outgoing copy, then an IPv6 frame
    add(0, eth(nodeMac, other, [], 0x800, tcp!));
    add(0, eth(other, nodeMac, [], 0x800, tcp!));
    add(0, eth(nodeMac, other, [], 0x86dd, v6));
    for (const p of [tcp!, udp!, echo!]) {
      add(0, eth(nodeMac, other, [], 0x800, p));
      add(0, eth("ff:ff:ff:ff:ff:ff", other, [], 0x800, p));
      add(0, eth("01:00:5e:00:00:01", other, [], 0x800, p));
      add(0, eth(nodeMac, other, [0x8100], 0x800, p));
      add(0, eth(nodeMac, other, [0x88a8, 0x8100], 0x800, p));
      add(0, eth(other, nodeMac, [], 0x800, p)); // the node's own transmission
      add(0, eth(other, "0a:00:00:00:00:07", [], 0x800, p)); // a destination MAC a mapping may name
      add(0, eth(nodeMac, other, [], 0x806, p)); // ARP
      add(0, eth(nodeMac, other, [], 0x86dd, p)); // IPv6
      for (const pt of [0, 1, 2, 3, 4, 7]) add(1, sll(pt, 0x800, p));
      add(1, sll(0, 0x8100, Uint8Array.from([0, 42, 8, 0, ...p])));
      add(2, sll2(2, 0, 0x800, p));
      add(2, sll2(3, 3, 0x800, p, true));
      add(2, sll2(999, 0, 0x800, p)); // ifindex not in the node: the host says which
      add(3, p);
      add(3, p, { flags: 1 });
      add(3, p, { flags: 2 }); // outbound
      add(3, p, { junkOpt: true });
      add(3, v6); // raw IPv6: counted
      add(1, sll(0, 0x86dd, v6));
      add(1, sll(0, 0x806, p));
      add(2, sll2(2, 0, 0x86dd, v6, true));
      add(5, eth(nodeMac, other, [], 0x800, p)); // an unnamed interface: the node link of the destination MAC
      add(5, eth("0a:00:00:00:00:07", other, [], 0x800, p)); // ... a MAC not the node's: source subnets, or the host's error
    }
    // IPv4 options, header errors, truncation, fragments
    add(3, withOptions(tcp!, [7, 7, 4, 0, 0, 0, 0])); // record route
    add(3, withOptions(udp!, [0x44, 4, 5, 0])); // a timestamp option too short
    add(3, flip(tcp!, 10)); // header checksum
    add(3, flip(udp!, 8)); // the TTL: header checksum
    add(3, badTcp!);
    add(3, udpBad!);
    add(3, udpNone!);
    add(3, unreach!);
    add(3, flip(echo!, 20 + 2)); // ICMP checksum
    // ICMP errors whose quotes are short, odd or of other protocols
    const cutTo = (b: Uint8Array, n: number) => { const c = b.slice(0, n); c[2] = n >> 8; c[3] = n & 255; return fixHeaderSum(c); };
    const poke = (b: Uint8Array, at: number, v: number) => { const c = b.slice(); c[at] = v; return c; };
    for (const n of [28 + 4, 28 + 10, 28 + 20, 28 + 22, 28 + 24, 28 + 27]) add(3, cutTo(unreach!, n));
    for (const [at, v] of [[28, 0x44], [28, 0x46], [28, 0x4f], [28 + 9, 47], [28 + 9, 1], [28 + 9, 132], [28 + 9, 0]]) add(3, poke(unreach!, at!, v!));
    add(3, big, { cap: 100, orig: big.length }); // cut by a snaplen
    add(3, fragment(big, 0, 200, true));
    add(3, fragment(big, 200, big.length - 20, false));
    add(3, fragment(big, 0, 96, true)); // never completed
    add(3, Uint8Array.from([0x45, 0, 0, 20])); // too short for its header
    add(3, tcp!);
    // bytes after the datagram (PKT_RCV_PAD): Ethernet padding, a trailer, one cut by a snaplen (the wire length counts), after a fragment
    const padded = (b: Uint8Array, n: number) => Uint8Array.from([...b, ...new Array<number>(n).fill(0)]);
    add(0, eth(nodeMac, other, [], 0x800, padded(udp!, 18)));
    add(3, padded(echo!, 7));
    add(3, padded(tcp!, 40), { cap: tcp!.length, orig: tcp!.length + 40 });
    add(3, padded(fragment(big, 96, 200, true), 6));
    // a frame before the first (clamped), a new interface midway, a new section
    frames.push(epb(3, T - 5000n, tcp!));
    frames.push(idb(101, "eth1"));
    frames.push(epb(7, t, udp!)); t += 10n;
    frames.push(epb(7, t, udp!)); t += 10n;
    frames.push(epb(6, 123456789n, tcp!)); frames.push(epb(6, 123456790n, tcp!)); // a millisecond resolution
    frames.push(shb(), idb(101, "eth0"));
    frames.push(epb(0, t, tcp!)); frames.push(epb(0, t + 1n, udp!));
    frames.push(shb(false), idb(101, "eth0", { le: false }), epb(0, t, tcp!, { le: false }), epb(0, t + 2n, tcp!, { le: false }));
    frames.push(shb(), idb(101, "eth0"), epb(0, t + 3n, tcp!));
    frames.push(idb(228, "nosuchlink"), epb(1, t + 4n, tcp!), epb(1, t + 5n, tcp!)); // no slot: the host's error, after the rest
    const f = writeFile("links.pcapng", frames);
    let took = 0;
    for (const verifyChecksums of [true, false]) {
      for (const conntrack of [false, true]) {
        for (const batch of [1024, 5]) {
          took += same(f, { verifyChecksums, conntrack, batch, eager: true });
          took += same(f, { verifyChecksums, conntrack, batch, eager: true });
          took += same(f, { verifyChecksums, conntrack, batch, eager: batch === 5, ingress: { bySource: [{ cidr: "0.0.0.0/0", link: "eth0" }] } });
          took += same(f, { verifyChecksums, conntrack, batch, eager: true, ingress: { byMac: { [other]: "eth1" }, byIfindex: { 999: "eth1" }, bySource: [{ cidr: "52.0.0.0/8", link: "eth0" }] } });
        }
      }
    }
    expect(took).toBeGreaterThan(1000);
  });

  it("captures cut by a snaplen: every packet at every cut, on Ethernet and raw links, checksums checked and not", () => {
    // each packet of the variety (every protocol, TCP options, ICMP errors, odd lengths) cut at each of these
    // lengths of its IPv4 datagram: inside the IPv4 header, inside or just after the transport header and
    // its options, inside an ICMP error's quote, and beyond the datagram (whole)
    const cuts = [19, 20, 27, 28, 33, 40, 47, 48, 56, 60, 64, 96, 1 << 16];
    const nodeMac = "02:00:00:00:02:01", other = "0a:00:00:00:00:09";
    /** The records the fast path took when every frame fits its header's needs (all but the host's cases). */
    let took = 0, frames = 0;
    for (const cut of cuts) {
      for (const [link, hdr] of [[101, 0], [1, 14]] as const) {
        // a cut the host calls damage stops the capture: the rest go in the next file, until none is left
        let rest = ip;
        for (let file = 0; rest.length > 0; file++) {
          const T = 1_700_000_000_000_000_000n;
          const parts: number[][] = [shb(), idb(link, "eth0", { snaplen: hdr + Math.min(cut, 65535) })];
          rest.forEach((p, i) => {
            const data = link === 1 ? eth(nodeMac, other, [], 0x800, p) : p;
            parts.push(epb(0, T + BigInt(i) * 1000n, data, { cap: Math.min(data.length, hdr + cut), orig: data.length }));
          });
          const f = writeFile(`cut-${cut}-${link}-${file}.pcapng`, parts);
          let stopped = -1;
          for (const verifyChecksums of [true, false]) {
            took += same(f, { verifyChecksums, eager: true });
            same(f, { verifyChecksums, batch: 3, conntrack: true });
            const err = decode(f, false, { verifyChecksums }).out.error;
            stopped = err?.frame ?? -1;
          }
          frames += stopped < 0 ? rest.length : stopped;
          // (the frame numbers are 1-based: the damaged one is `stopped`; the next file starts after it)
          rest = stopped < 0 ? [] : rest.slice(stopped);
        }
      }
    }
    expect(frames).toBeGreaterThan(cuts.length * 2 * ip.length * 0.6);
    expect(took).toBeGreaterThan(frames); // (each file decoded twice: checksums checked and not)
    // the common case cut after its headers is the core's: the demo workload cut at 96 bytes of IPv4 takes
    // the fast path for the same records as whole (its TCP options, UDP and ICMP echo headers all within)
    const whole = [shb(), idb(101, "eth0")], cut96 = [shb(), idb(101, "eth0", { snaplen: 96 })];
    demo.forEach((p, i) => {
      whole.push(epb(0, 1_700_000_000_000_000_000n + BigInt(i) * 1000n, p));
      cut96.push(epb(0, 1_700_000_000_000_000_000n + BigInt(i) * 1000n, p, { cap: Math.min(p.length, 96), orig: p.length }));
    });
    const fw = writeFile("demo-whole.pcapng", whole), fc = writeFile("demo-cut96.pcapng", cut96);
    expect(demo.filter((p) => p.length > 96).length).toBeGreaterThan(demo.length / 4);
    for (const verifyChecksums of [true, false]) {
      const w = same(fw, { verifyChecksums, eager: true }), c = same(fc, { verifyChecksums, eager: true });
      expect(w).toBeGreaterThan(demo.length * 0.9);
      expect(c).toBe(w);
    }
  });

  it("outgoing frames: the node's sends replayed as local sends, the rest counted by what they are; loopback copies; --node-sends skip", () => {
    // the demo node: ip_default_ttl 127, addresses 10.0.52.16 (eth0), 10.0.32.24 (eth1), 127.0.0.0/8; lo ifindex 1, eth0 2
    const me = "10.0.52.16", peer = "52.1.2.3";
    const P = (p: Partial<PacketInput>): PacketInput => ({ iif: "eth0", src: me, dst: peer, proto: "tcp", ttl: 127, t: 0, ...p } as PacketInput);
    const sends = packetBytes(engine, [
      P({ sport: 443, dport: 40000, flags: "SA", seq: 1, ack: 6, win: 65160, doff: 10, wscale: 7, sackok: true, mss: 1460, len: 60 }), // a listener's SYN-ACK
      P({ sport: 443, dport: 40000, flags: "PA", seq: 2, ack: 6, win: 509, doff: 8, len: 152 }), // its data
      P({ sport: 443, dport: 40000, flags: "PA", seq: 2, ack: 6, win: 509, doff: 8, len: 152, csum: "bad" }), // checksum left to the device
      P({ sport: 443, dport: 40000, flags: "RA", seq: 3, ack: 6, win: 509, doff: 8, len: 52 }), // a socket's own reset (window, options)
      P({ proto: "udp", sport: 53, dport: 5353, len: 61 }),
      P({ proto: "udp", sport: 53, dport: 5353, len: 40, csum: "none" }),
      P({ proto: "icmp", icmp_type: 8, icmp_id: 7, icmp_seq: 1, len: 84 }), // ping
      P({ src: "10.0.32.24", dst: "10.0.52.16", sport: 33000, dport: 10250, flags: "S", doff: 10, mss: 65495, len: 60 }), // to the node itself
    ]);
    const answers = packetBytes(engine, [
      P({ sport: 443, dport: 40000, flags: "RA", seq: 0, ack: 6, win: 0, len: 40 }), // tcp_v4_send_reset
      P({ sport: 80, dport: 40000, flags: "R", seq: 9, win: 0, len: 40 }),
      P({ proto: "icmp", icmp_type: 0, icmp_id: 7, icmp_seq: 1, len: 84 }), // icmp_echo
      P({ proto: "icmp", icmp_type: 3, icmp_code: 3, inner: { src: peer, dst: me, proto: "udp", sport: 5353, dport: 9 }, len: 56 } as Partial<PacketInput>),
      P({ proto: "icmp", icmp_type: 11, icmp_code: 0, inner: { src: peer, dst: "10.9.9.9", proto: "tcp", sport: 1, dport: 2 }, len: 56 } as Partial<PacketInput>),
    ]);
    const forwarded = packetBytes(engine, [
      P({ ttl: 126, sport: 33000, dport: 443, flags: "S", doff: 10, mss: 1460, len: 60 }), // masqueraded by the node: its address, the lowered TTL
      P({ src: "10.0.52.77", ttl: 63, sport: 8080, dport: 40000, flags: "SA", doff: 10, mss: 1460, len: 60 }), // a pod's
      P({ src: "10.0.52.77", ttl: 127, proto: "udp", sport: 53, dport: 5353, len: 40 }), // a source not the node's
      P({ src: "10.0.52.77", ttl: 63, sport: 80, dport: 40000, flags: "R", win: 0, len: 40 }), // a pod's reset, forwarded
    ]);
    const bigSend = packetBytes(engine, [P({ proto: "udp", sport: 53, dport: 5353, len: 600 })])[0]!;
    const others = [
      ...packetBytes(engine, [
        P({ ttl: 255, sport: 443, dport: 40000, flags: "A", len: 40 }), // a TTL the process set
        P({ proto: 47, len: 24 }),
        P({ proto: "icmp", icmp_type: 13, len: 40 }),
      ]),
      fragment(bigSend, 0, 200, true), fragment(bigSend, 200, bigSend.length - 20, false),
      withOptions(sends[0]!, [7, 7, 4, 0, 0, 0, 0]),
      flip(sends[4]!, 10),
    ];
    const frames: number[][] = [shb(), idb(1, "eth0"), idb(276, undefined), idb(101, "eth0")];
    const T = 1_700_000_000_000_000_000n;
    let t = T;
    const add = (ifid: number, data: Uint8Array, o: Parameters<typeof epb>[3] = {}) => { frames.push(epb(ifid, t, data, o)); t += 1000n; };
    const nodeMac = "02:00:00:00:02:01", other = "0a:00:00:00:00:09";
    for (const p of [...sends, ...answers, ...forwarded, ...others]) {
      add(0, eth(other, nodeMac, [], 0x800, p)); // the node's MAC as the source
      add(1, sll2(2, 4, 0x800, p)); // SLL2 PACKET_OUTGOING
      add(2, p, { flags: 2 }); // pcapng outbound
      add(1, sll2(2, 0, 0x800, p)); // (an arriving one, for contrast)
    }
    // a send to a local address on lo: the outgoing copy (skipped), then the incoming one (the send)
    add(1, sll2(1, 4, 0x800, sends[7]!));
    add(1, sll2(1, 0, 0x800, sends[7]!));
    add(1, sll2(1, 0, 0x800, sends[4]!)); // an incoming copy alone (libpcap drops the outgoing ones on lo)
    add(1, sll2(1, 0, 0x800, answers[0]!)); // a reset on lo: the engine's own answer
    add(2, sends[4]!, { flags: 2 }); // (with byInterfaceId 2 -> lo: an outgoing copy on lo)
    add(0, eth("00:00:00:00:00:00", "00:00:00:00:00:00", [], 0x800, sends[1]!)); // tcpdump -i lo's Ethernet
    const f = writeFile("node-sends.pcapng", frames);
    let took = 0;
    for (const verifyChecksums of [true, false]) {
      for (const nodeSends of ["replay", "skip"] as const) {
        for (const batch of [1024, 3]) {
          took += same(f, { verifyChecksums, nodeSends, batch, eager: true });
          took += same(f, { verifyChecksums, nodeSends, batch, conntrack: true });
          took += same(f, { verifyChecksums, nodeSends, batch, eager: true, ingress: { byInterfaceId: { 2: "lo" } } });
        }
      }
    }
    expect(took).toBeGreaterThan(500);
    // what the host decoder made of them
    const { out } = decode(f, false, { verifyChecksums: true });
    const n4 = sends.length + answers.length + forwarded.length + others.length;
    expect(Object.fromEntries(out.skipped)).toEqual({
      [SKIP_ANSWER]: answers.length * 3 + 1, [SKIP_FORWARDED]: forwarded.length * 3, [SKIP_OTHER]: others.length * 3, [SKIP_LOOPBACK]: 1,
      [FRAGMENT_NOT_REPLAYED]: 2, // the arriving copies of the fragments
    });
    expect(out.nodeSends).toBe(sends.length * 3 + 3); // + the two incoming copies on lo, the last pcapng outbound one
    const all = Buffer.concat(out.batches);
    const descs = Array.from({ length: all.length / abi.PKT_SIZE }, (_, k) => new DataView(all.buffer, all.byteOffset + k * abi.PKT_SIZE, abi.PKT_SIZE));
    expect(descs.length).toBe(sends.length * 3 + 3 + n4 - 2 + 1); // the sends, the arriving copies but the fragments, tcpdump -i lo's frame on eth0
    const local = descs.filter((d) => (d.getUint16(abi.PKT_FLAGS, true) & abi.PF_LOCAL) !== 0);
    expect(local.length).toBe(sends.length * 3 + 3);
    for (const d of local) {
      expect(d.getUint16(abi.PKT_IIF, true)).toBe(0); // no arrival device
      expect(d.getUint16(abi.PKT_RCV_PAD, true)).toBe(0); // (PKT_BOUND_OIF: no bound device)
      expect(d.getUint8(abi.PKT_CSUM)).toBe(abi.CSUM_OK); // the device's checksum, not the kernel's to check
      expect(d.getUint8(abi.PKT_TTL)).toBe(127);
    }
    // --node-sends skip: every outgoing frame as before, the incoming copies on lo replayed as arriving there
    const old = decode(f, false, { verifyChecksums: true, nodeSends: "skip" }).out;
    expect(Object.fromEntries(old.skipped)).toEqual({ [SKIP_OUTGOING]: n4 * 3 + 2, [FRAGMENT_NOT_REPLAYED]: 2 });
    expect(old.batches.reduce((a, b) => a + b.length, 0) / abi.PKT_SIZE).toBe(n4 - 2 + 3 + 1); // the arriving copies, the three incoming on lo, the one on eth0
    expect(old.nodeSends).toBe(0);

    // cut by a snaplen (tcpdump -s N): classified by the headers kept. A send or an answer whose
    // transport header (with its options) was kept is one; cut inside it, "other"; a forwarded
    // copy is told by its IPv4 header alone
    const cuts = [20, 28, 32, 40, 44, 52, 60, 64, 80];
    const cf: number[][] = [shb(), idb(276, undefined, { snaplen: 20 + 80 }), idb(101, "eth0", { snaplen: 80 })];
    let ct = T;
    const expected = { sends: 0, answers: 0, forwarded: 0, other: 0 };
    const tcpHeader = (p: Uint8Array) => 20 + (p[9] === 6 ? (p[32]! >> 4) * 4 : 8);
    for (const cut of cuts) {
      for (const [kind, list] of [["sends", sends], ["answers", answers], ["forwarded", forwarded]] as const) {
        for (const p of list) {
          const n = Math.min(cut, p.length);
          for (const [ifid, data, hdr, flags] of [[0, sll2(2, 4, 0x800, p), 20, undefined], [1, p, 0, 2]] as const) {
            cf.push(epb(ifid, ct, data, { cap: hdr + n, orig: data.length, flags })); ct += 1000n;
          }
          // (the loopback send to itself (sends[7]) goes out on eth0 here too: a send)
          const kept = kind === "forwarded" || n >= tcpHeader(p);
          expected[kept ? kind : "other"] += 2;
        }
      }
    }
    const fcut = writeFile("node-sends-cut.pcapng", cf);
    for (const verifyChecksums of [true, false]) {
      for (const batch of [1024, 3]) {
        expect(same(fcut, { verifyChecksums, batch, eager: true })).toBeGreaterThan(0);
        same(fcut, { verifyChecksums, batch, conntrack: true, forwardedCopies: "skip" });
      }
    }
    const cutOut = decode(fcut, false, { verifyChecksums: true }).out;
    expect(cutOut.error, JSON.stringify(cutOut.error)).toBeUndefined();
    expect(cutOut.nodeSends).toBe(expected.sends);
    expect(Object.fromEntries(cutOut.skipped)).toEqual({ [SKIP_ANSWER]: expected.answers, [SKIP_FORWARDED]: expected.forwarded, [SKIP_OTHER]: expected.other });
    expect(expected.sends).toBeGreaterThan(sends.length * 2 * 2); // cut sends among them (every send is shorter than 80 but one)
    // a send cut after its transport header: taken as right (it would not be checked anyway: a node send)
    expect(cutOut.csumUnverified).toBe(0);
  });

  it("forwarded copies: the demo workload with the node's copies (tcpdump -i any's SLL2, pcapng outbound), late, missing, twice, NATed", () => {
    // demo node: slot = ifindex; the copies leave by a pod's veth (4) or eth0 (2)
    const ifindexOf = (name: string) => engine.node.devBySlot[engine.node.slotByName.get(name)!]!.ifindex;
    /** The copy the node forwards of IPv4 datagram b: TTL one less, NAT rewrites (addresses, ports), the header checksum right. */
    const copyOf = (b: Uint8Array, i: number): Uint8Array => {
      const c = b.slice();
      c[8] = c[8]! - 1;
      if (i % 3 === 0) c.set([10, 0, 52, 77], 16); // DNAT to a pod
      if (i % 5 === 0) c.set([10, 0, 52, 16], 12); // masqueraded
      const ihl = (c[0]! & 15) * 4;
      if ((c[9] === 6 || c[9] === 17) && i % 2 === 0 && c.length >= ihl + 4) { c[ihl + 2] = 0x1f; c[ihl + 3] = i & 255; } // a port
      if (c[9] === 1 && i % 2 === 0 && c.length >= ihl + 6) c[ihl + 5] ^= 0x55; // an echo identifier
      return fixHeaderSum(c);
    };
    const T = 1_700_000_000_000_000_000n;
    /** The workload and its copies, whole or (snaplen) every frame cut to its first `snap` bytes. */
    const build = (outbound: boolean, snap = 0): string => {
      const frames: number[][] = [shb()];
      const names = [...new Set(demoPk.map((p) => p.iif))];
      if (outbound) for (const n of names) frames.push(idb(101, n, { snaplen: snap }));
      else frames.push(idb(276, "any", { snaplen: snap }));
      let t = T;
      const block = (id: number, data: Uint8Array, flags?: number) => {
        frames.push(epb(id, t, data, { flags, cap: snap > 0 ? Math.min(snap, data.length) : data.length, orig: data.length }));
        t += 1000n;
      };
      const arrive = (i: number) => {
        const p = demo[i]!, dev = demoPk[i]!.iif;
        if (outbound) block(names.indexOf(dev), p, 1);
        else block(0, sll2(ifindexOf(dev), 0, 0x800, p));
      };
      const send = (i: number) => {
        const c = copyOf(demo[i]!, i), dev = i % 3 === 0 ? "enib183cae2f8e" : "eth0";
        const id = names.indexOf(dev);
        if (outbound) block(id >= 0 ? id : 0, c, 2);
        else block(0, sll2(ifindexOf(dev), 4, 0x800, c));
      };
      const late: number[] = [];
      for (let i = 0; i < demo.length; i++) {
        arrive(i);
        if (demo[i]![8]! <= 1) continue; // (not forwarded)
        if (i % 11 === 0) continue; // no copy (dropped, or delivered locally)
        if (i % 7 === 0) { late.push(i); continue; } // a few packets later
        send(i);
        if (i % 13 === 0) send(i); // twice
        while (late.length > 0 && (late[0]! + 5 <= i || late.length > 3)) send(late.shift()!);
      }
      for (const i of late) send(i);
      return writeFile(`copies-${outbound ? "outbound" : "any"}-${snap}.pcapng`, frames);
    };
    for (const outbound of [false, true]) {
      const f = build(outbound);
      // cut at 100 bytes (tcpdump -s 100): every header kept, the data cut; the copies pair as whole
      const fcut = build(outbound, 100);
      const whole = decode(f, true, {}).out, cut = decode(fcut, true, {}).out;
      expect(cut.copiesPaired).toBe(whole.copiesPaired);
      expect(cut.skipped).toEqual(whole.skipped);
      expect(same(fcut, { batch: 7, eager: true })).toBeGreaterThan(demo.length);
      let paired = 0;
      for (const [batch, base, inCore, eager] of [[1024, 0, false, true], [1024, 0, false, false], [100, 2, true, true], [7, 0, false, true], [129, 0, false, false], [3, 0, true, false]] as const) {
        const took = same(f, { batch, base, inCore, eager });
        expect(took).toBeGreaterThan(demo.length);
        const { out } = decode(f, true, { batch, base, inCore, eager });
        if (batch === 1024) paired = out.copiesPaired;
        expect(out.copiesPaired).toBeGreaterThan(0);
        // --forwarded-copies skip: the same, nothing paired
        same(f, { batch, base, inCore, eager, forwardedCopies: "skip" });
      }
      // most copies pair (in full batches: all but a copy sent twice, and those whose original the previous fill had)
      expect(paired).toBeGreaterThan(demo.length * 0.7);
    }
  });

  it("classic pcap: both magics, both byte orders, Ethernet, SLL and raw links, a frame before the first, damaged tails", async () => {
    const f = join(dir, "demo.pcap");
    await writeCapture(f, demoPk.map((p, i) => ({ ...p, t: 1 + i * 1e-5 })), demo, { format: "pcap" });
    expect(same(f, { verifyChecksums: false, batch: 100, bufferSize: 512 << 10, readChunk: 64 << 10, ingress: { byInterfaceId: { 0: "eth0" } } })).toBeGreaterThan(demo.length * 0.9);
    expect(same(f, { verifyChecksums: true, ingress: { bySource: [{ cidr: "10.0.0.0/8", link: "eth1" }, { cidr: "0.0.0.0/0", link: "eth0" }] } })).toBeGreaterThan(demo.length * 0.9); // no interface name: source subnets
    const [tcp, , , udp, , , , echo] = ip;
    const nodeMac = "02:00:00:00:02:01", other = "0a:00:00:00:00:09";
    for (const le of [true, false]) {
      for (const ns of [false, true]) {
        for (const [lt, wrap] of [[1, (p: Uint8Array) => eth(nodeMac, other, [0x8100], 0x800, p)], [113, (p: Uint8Array) => sll(0, 0x800, p)], [101, (p: Uint8Array) => p]] as const) {
          const b = new Bytes(le).u32(ns ? 0xa1b23c4d : 0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(lt);
          const rec = (sec: number, frac: number, data: Uint8Array, cap = data.length) => b.u32(sec).u32(frac).u32(cap).u32(data.length).raw(data.subarray(0, cap));
          for (let i = 0; i < 300; i++) rec(1_700_000_000 + (i >> 4), (i * 7919) % (ns ? 1e9 : 1e6), wrap([tcp!, udp!, echo!][i % 3]!));
          rec(1_600_000_000, 5, wrap(tcp!)); // before the first frame
          rec(1_700_000_100, 1, wrap(eth(other, nodeMac, [], 0x800, tcp!)));
          rec(1_700_000_100, 2, wrap(tcp!), 30); // cut by a snaplen
          for (const [name, tail] of [["ok", []], ["cut", [1, 2, 3, 4, 5]], ["snap", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0]]] as const) {
            const file = join(dir, `c-${le}-${ns}-${lt}-${name}.pcap`);
            writeFileSync(file, Buffer.from([...b.parts, ...tail]));
            const took = same(file, { ingress: { byInterfaceId: { 0: "eth0" } }, eager: true });
            if (le) expect(took).toBeGreaterThanOrEqual(299); else expect(took).toBe(0);
          }
        }
      }
    }
  });

  it("damaged tails: a truncated block, a trailing length that does not match, an option overrunning its block, a caplen past the block", () => {
    const [tcp, , , udp] = ip;
    const head = [shb(), idb(101, "eth0")];
    const good: number[][] = [];
    for (let i = 0; i < 50; i++) good.push(epb(0, 1000n + BigInt(i), i % 2 ? tcp! : udp!));
    const cut = epb(0, 2000n, tcp!).slice(0, 40);
    const badTrail = epb(0, 2000n, tcp!); badTrail[badTrail.length - 4]! ^= 4;
    const badOpt = epb(0, 2000n, tcp!, { flags: 1 }); // the option's length: past the block
    badOpt[28 + ((tcp!.length + 3) & ~3) + 2] = 200;
    const badCap = epb(0, 2000n, tcp!); badCap[20] = 255;
    const badIf = epb(5, 2000n, tcp!);
    for (const [name, tail] of [["cut", cut], ["trail", badTrail], ["opt", badOpt], ["cap", badCap], ["iface", badIf]] as const) {
      const f = writeFile(`damaged-${name}.pcapng`, [...head, ...good, tail, ...good]);
      for (const batch of [1024, 16]) {
        expect(same(f, { batch, eager: true })).toBeGreaterThan(40);
      }
      const r = decode(f, true).out;
      expect(r.error?.cls).toBe("CaptureError");
    }
  });

  it("damaged captures (seeded random mutations): both decoders agree, and damage is a CaptureError with its offset, never a crash", () => {
    const [tcp, , , udp, , , , echo, unreach] = ip;
    const nodeMac = "02:00:00:00:02:01", other = "0a:00:00:00:00:09";
    const payloads = [tcp!, udp!, echo!, unreach!, withOptions(tcp!, [7, 7, 4, 0, 0, 0, 0]), fragment(demo.find((b) => b.length > 600)!, 0, 96, true)];
    // a pcapng base: Ethernet, SLL, SLL2 and raw interfaces, and a classic pcap base
    const T = 1_700_000_000_000_000_000n;
    const ng: number[][] = [shb(), idb(1, "eth0"), idb(113, "eth1"), idb(276, undefined), idb(101, "eth0")];
    for (let i = 0; i < 48; i++) {
      const p = payloads[i % payloads.length]!;
      const ifid = (i >> 2) % 4;
      const data = ifid === 0 ? eth(nodeMac, other, i % 5 ? [] : [0x8100], 0x800, p) : ifid === 1 ? sll(0, 0x800, p) : ifid === 2 ? sll2(2, 0, 0x800, p) : p;
      ng.push(epb(ifid, T + BigInt(i * 1000), data, i % 7 === 3 ? { flags: 1 } : {}));
    }
    const classic = new Bytes(true).u32(0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(1);
    for (let i = 0; i < 48; i++) {
      const d = eth(nodeMac, other, [], 0x800, payloads[i % payloads.length]!);
      classic.u32(1_700_000_000 + i).u32(i * 10).u32(d.length).u32(d.length).raw(d);
    }
    const bases = [Uint8Array.from(ng.flat()), Uint8Array.from(classic.parts)];
    const below = drawBelow(0x5eed); // the same mutants every run
    const words = [0, 1, 3, 4, 12, 16, 28, 0x7fffffff, 0xffffffff, 0x10000, 65535];
    let damaged = 0, crashes: string[] = [];
    for (let m = 0; m < Number(process.env.MUTANTS ?? 240); m++) {
      const base = bases[m % bases.length]!;
      let bytes = base.slice();
      for (let k = 1 + below(3); k > 0; k--) {
        const kind = below(4);
        if (kind === 0) bytes[below(bytes.length)]! ^= 1 + below(255); // a flipped byte
        else if (kind === 1) { // a length-like word
          const at = below(bytes.length >> 2) << 2, v = words[below(words.length)]!;
          bytes[at] = v & 255; bytes[at + 1] = (v >>> 8) & 255; bytes[at + 2] = (v >>> 16) & 255; bytes[at + 3] = v >>> 24;
        } else if (kind === 2) bytes = bytes.slice(0, below(bytes.length)); // cut short
        else { const at = below(bytes.length), n = 1 + below(16); bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(Math.min(bytes.length, at + n))]); } // bytes lost
      }
      const f = join(dir, `mutant-${m}.${m % 2 ? "pcap" : "pcapng"}`);
      writeFileSync(f, bytes);
      const opts = { batch: 1 + below(40), eager: m % 3 === 0, ingress: m % 2 ? {} : { byInterfaceId: { 2: "eth0" } }, verifyChecksums: m % 4 === 0 };
      try {
        same(f, opts);
      } catch (e) {
        crashes.push(`${f}: ${(e as Error).message.split("\n")[0]}`);
        continue;
      }
      const r = decode(f, true, opts).out;
      if (r.error) {
        damaged++;
        // (a mapping naming an interface the damaged capture no longer has is the user's input error)
        const mapping = r.error.cls === "InputError" && r.error.message.includes("ingress.byInterfaceId maps capture interface");
        if (!mapping && (r.error.cls !== "CaptureError" || !(r.error.offset! >= 0 && r.error.offset! <= bytes.length))) crashes.push(`${f}: ${r.error.cls} ${r.error.message} (offset ${r.error.offset})`);
      }
    }
    expect(crashes).toEqual([]);
    expect(damaged).toBeGreaterThan(50);
  });
});
