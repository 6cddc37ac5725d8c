/**
 * Forwarded copies paired with their originals (host/pcap/copies.ts,
 * assembly/capture/copies.ts): captures as `tcpdump -i any` writes them
 * (SLL2, pcapng and classic pcap), a multi-interface pcapng with outbound
 * epb_flags and an Ethernet one, each holding packets arriving at the demo
 * node and the copies it forwarded (TTL one less, NAT applied), with decoys
 * that must not pair: another IP id, a TTL not one less, other payload
 * bytes, a copy used up, a copy before its original, an original out of the
 * 64-candidate window or in an earlier fill, ICMP errors. Both decoders
 * (the host's, the core's: in place and through its scratch area, with
 * patches) give the same descriptors; --forwarded-copies skip leaves the
 * seen fields 0; the count; the decode thread and --workers 2 carry them.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { writeFileSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import * as abi from "../../host/core/abi.js";
import { Bytes, pcapngBlock as block, demoEngine, scratchDir, spareCore } from "./helpers.js";
import { Engine } from "../../host/engine.js";
import { PcapSource, type PcapEngine, type PcapSourceOptions } from "../../host/replay/pcap-source.js";
import type { CoreExports } from "../../host/core/wasm.js";
import { SKIP_FORWARDED } from "../../host/pcap/node-sends.js";
import { readNodeSpec } from "../../host/replay/setup.js";
import { writeDemoSnapshots } from "../replay/demo-snapshots.js";
import type { PacketSource } from "../../host/replay/sources.js";
import { replayCapture } from "../../host/pcap/replay.js";
import { CLI } from "../repo.js";

const { dir, cleanup } = scratchDir();
afterAll(cleanup);
let engine: Engine;
/** The fast path's core: another instance, as the decode thread's. */
let core: CoreExports;
beforeAll(async () => {
  engine = await demoEngine();
  core = await spareCore();
});

// ---- packets (right checksums) ----
const ipNum = (s: string) => s.split(".").reduce((a, x) => a * 256 + Number(x), 0) >>> 0;
const ipArr = (s: string) => s.split(".").map(Number);
function sum16(b: number[], s = 0): number {
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const be16 = (v: number) => [(v >> 8) & 255, v & 255];
const be32 = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
interface Pk {
  src: string; dst: string; proto: "tcp" | "udp" | "icmp"; id: number; ttl: number;
  sport?: number; dport?: number; seq?: number; ack?: number; flags?: number;
  icmpType?: number; icmpId?: number; icmpSeq?: number; payload?: number[];
  /** An ICMP error: the quoted bytes after the ICMP header. */
  quote?: number[];
}
function pkt(p: Pk): Uint8Array {
  const pay = p.payload ?? [];
  let l4: number[];
  if (p.proto === "tcp") {
    l4 = [...be16(p.sport ?? 0), ...be16(p.dport ?? 0), ...be32(p.seq ?? 0), ...be32(p.ack ?? 0), 0x50, p.flags ?? 0x02, ...be16(502), 0, 0, 0, 0, ...pay];
  } else if (p.proto === "udp") {
    l4 = [...be16(p.sport ?? 0), ...be16(p.dport ?? 0), ...be16(8 + pay.length), 0, 0, ...pay];
  } else {
    l4 = [p.icmpType ?? 8, 0, 0, 0, ...(p.quote ? [0, 0, 0, 0, ...p.quote] : [...be16(p.icmpId ?? 0), ...be16(p.icmpSeq ?? 0), ...pay])];
  }
  const proto = p.proto === "tcp" ? 6 : p.proto === "udp" ? 17 : 1;
  if (proto === 1) {
    const c = ~sum16(l4) & 0xffff;
    l4[2] = c >> 8; l4[3] = c & 255;
  } else {
    const at = proto === 6 ? 16 : 6;
    let c = ~sum16(l4, sum16([...ipArr(p.src), ...ipArr(p.dst), 0, proto, ...be16(l4.length)])) & 0xffff;
    if (proto === 17 && c === 0) c = 0xffff;
    l4[at] = c >> 8; l4[at + 1] = c & 255;
  }
  const len = 20 + l4.length;
  const h = [0x45, 0, ...be16(len), ...be16(p.id), 0x40, 0, p.ttl, proto, 0, 0, ...ipArr(p.src), ...ipArr(p.dst)];
  const c = ~sum16(h) & 0xffff;
  h[10] = c >> 8; h[11] = c & 255;
  return Uint8Array.from([...h, ...l4]);
}

// ---- capture framing ----
const shb = () => block(true, 0x0a0d0d0a, (b) => b.u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff));
function idb(linkType: number, name: string): number[] {
  return block(true, 1, (b) => { const nb = Buffer.from(name); b.u16(linkType).u16(0).u32(0).u16(2).u16(nb.length).raw(nb).pad4().u16(0).u16(0); });
}
function epb(ifid: number, ts: bigint, data: Uint8Array, flags?: number): number[] {
  return block(true, 6, (b) => {
    b.u32(ifid).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn)).u32(data.length).u32(data.length).raw(data).pad4();
    if (flags !== undefined) b.u16(2).u16(4).u32(flags).u16(0).u16(0);
  });
}
/** An SLL2 frame (tcpdump -i any): ifindex, packet type (0 host, 4 outgoing). */
const sll2 = (ifindex: number, pktType: number, ip: Uint8Array) => Uint8Array.from([8, 0, 0, 0, ...be32(ifindex), 0, 1, pktType, 6, 2, 0, 0, 0, 9, 9, 0, 0, ...ip]);
const mac = (s: string) => s.split(":").map((x) => parseInt(x, 16));
const eth = (dst: string, src: string, ip: Uint8Array) => Uint8Array.from([...mac(dst), ...mac(src), 8, 0, ...ip]);

/** A frame of a scenario: arriving (replayed: a descriptor, named) or a copy the node sent, on a device (demo node: slot = ifindex). */
interface Frame { ip: Uint8Array; ifindex: number; out: boolean; name?: string }

// the demo node: eth0 (slot and ifindex 2, 10.0.52.16), pod veths enib183cae2f8e (4), eni5b7d39576c9 (5); ip_default_ttl 127
const ETH0 = 2, VETH = 4, VETH2 = 5;
const client = { src: "52.1.2.3", sport: 40000 };
/** What the kernel did with a packet: the header its copy left with (PKT_SEEN_*), or undefined (not paired). */
type Seen = { src: string; dst: string; sport: number; dport: number; oif: number } | undefined;

function scenario(): { frames: Frame[]; expect: Map<string, Seen> } {
  const frames: Frame[] = [];
  const exp = new Map<string, Seen>();
  const arrive = (name: string, p: Pk, ifindex: number, seen?: Seen) => { frames.push({ ip: pkt(p), ifindex, out: false, name }); exp.set(name, seen); };
  const copy = (p: Pk, ifindex: number) => frames.push({ ip: pkt(p), ifindex, out: true });
  // a forwarded copy with no original first (the core decoder counts the kind once the host has)
  copy({ src: "52.9.9.9", dst: "10.0.52.99", proto: "udp", id: 1, ttl: 10, sport: 1, dport: 2 }, VETH);
  // a NodePort SYN DNATed to a pod
  const syn: Pk = { ...client, dst: "10.0.52.16", dport: 30080, proto: "tcp", id: 1000, ttl: 64, seq: 0x11223344, flags: 0x02 };
  arrive("syn", syn, ETH0, { src: client.src, dst: "10.0.52.77", sport: client.sport, dport: 8080, oif: VETH + 1 });
  copy({ ...syn, dst: "10.0.52.77", dport: 8080, ttl: 63 }, VETH);
  // a pod's DNS query masqueraded (--random-fully's port), after three decoys
  const dns: Pk = { src: "10.0.52.77", sport: 5353, dst: "8.8.8.8", dport: 53, proto: "udp", id: 2000, ttl: 64, payload: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] };
  arrive("dns", dns, VETH, { src: "10.0.52.16", dst: "8.8.8.8", sport: 61000, dport: 53, oif: ETH0 + 1 });
  const masq: Pk = { ...dns, src: "10.0.52.16", sport: 61000, ttl: 63 };
  // (each with a port of its own: paired by mistake, it would show)
  copy({ ...masq, sport: 61001, id: 2001 }, ETH0); // another IP id
  copy({ ...masq, sport: 61002, ttl: 62 }, ETH0); // a TTL two less
  copy({ ...masq, sport: 61003, ttl: 64 }, ETH0); // the same TTL
  copy({ ...masq, sport: 61004, payload: [1, 2, 3, 99, 5, 6, 7, 8, 9, 10, 11, 12] }, ETH0); // a payload byte among the 8 that differs
  copy(masq, ETH0);
  // a ping masqueraded (its identifier NATed), then the copy again (the original is used up)
  const ping: Pk = { src: "10.0.52.77", dst: "1.1.1.1", proto: "icmp", icmpType: 8, icmpId: 100, icmpSeq: 7, id: 3000, ttl: 64, payload: [9, 8, 7, 6, 5, 4, 3, 2] };
  arrive("ping", ping, VETH, { src: "10.0.52.16", dst: "1.1.1.1", sport: 200, dport: 200, oif: ETH0 + 1 });
  copy({ ...ping, src: "10.0.52.16", icmpId: 200, ttl: 63 }, ETH0);
  copy({ ...ping, src: "10.0.52.16", icmpId: 201, ttl: 63 }, ETH0);
  // the reply, un-NATed back to the pod
  const pong: Pk = { src: "1.1.1.1", dst: "10.0.52.16", proto: "icmp", icmpType: 0, icmpId: 200, icmpSeq: 7, id: 3001, ttl: 57, payload: [9, 8, 7, 6, 5, 4, 3, 2] };
  arrive("pong", pong, ETH0, { src: "1.1.1.1", dst: "10.0.52.77", sport: 100, dport: 100, oif: VETH + 1 });
  copy({ ...pong, dst: "10.0.52.77", icmpId: 100, ttl: 56 }, VETH);
  // a retransmitted SYN (the same bytes twice), two copies DNATed to two pods: the newest original pairs first
  const rsyn: Pk = { ...client, sport: 40001, dst: "10.0.52.16", dport: 30080, proto: "tcp", id: 1100, ttl: 64, seq: 5 };
  arrive("rsyn1", rsyn, ETH0, { src: client.src, dst: "10.0.52.78", sport: 40001, dport: 8080, oif: VETH2 + 1 });
  arrive("rsyn2", rsyn, ETH0, { src: client.src, dst: "10.0.52.77", sport: 40001, dport: 8080, oif: VETH + 1 });
  copy({ ...rsyn, dst: "10.0.52.77", dport: 8080, ttl: 63 }, VETH);
  copy({ ...rsyn, dst: "10.0.52.78", dport: 8080, ttl: 63 }, VETH2);
  // ICMP errors are never paired (their quote is in the fields the seen ones overlay)
  const quote = [...pkt({ src: "10.0.52.77", dst: "52.1.2.3", proto: "udp", id: 9, ttl: 63, sport: 5000, dport: 6000 }).subarray(0, 28)];
  const unreach: Pk = { src: "52.1.2.3", dst: "10.0.52.77", proto: "icmp", icmpType: 3, quote, id: 4000, ttl: 64 };
  arrive("unreach", unreach, ETH0, undefined);
  copy({ ...unreach, ttl: 63 }, VETH);
  // a copy before its original
  const late: Pk = { ...client, sport: 40002, dst: "10.0.52.77", dport: 8080, proto: "tcp", id: 1200, ttl: 64, seq: 77, flags: 0x10, payload: [1, 2, 3] };
  copy({ ...late, ttl: 63 }, VETH);
  arrive("late", late, ETH0, undefined);
  // the window: 64 candidates after an original put it out of reach, 63 do not
  for (const [name, between] of [["far", 64], ["near", 63]] as const) {
    const o: Pk = { ...client, sport: 41000 + between, dst: "10.0.52.77", dport: 8080, proto: "tcp", id: 1300 + between, ttl: 64, seq: 1000 + between, flags: 0x10 };
    arrive(name, o, ETH0, between === 64 ? undefined : { src: client.src, dst: "10.0.52.77", sport: 41000 + between, dport: 8080, oif: VETH + 1 });
    for (let i = 0; i < between; i++) arrive(`${name}-filler${i}`, { ...client, sport: 42000 + i, dst: "10.0.52.77", dport: 8080, proto: "tcp", id: 5000 + i, ttl: 64, seq: i, flags: 0x10 }, ETH0);
    copy({ ...o, ttl: 63 }, VETH);
  }
  return { frames, expect: exp };
}

type Framing = "sll2-pcapng" | "sll2-pcap" | "pcapng-flags" | "ethernet";
/** The scenario's frames as a capture file. */
function writeScenario(name: string, frames: Frame[], framing: Framing): string {
  const f = join(dir, name);
  const T = 1_700_000_000_000_000_000n;
  if (framing === "sll2-pcap") {
    // tcpdump -i any -w: classic pcap, SLL2
    const b = new Bytes(true).u32(0xa1b23c4d).u16(2).u16(4).u32(0).u32(0).u32(262144).u32(276);
    frames.forEach((fr, i) => {
      const d = sll2(fr.ifindex, fr.out ? 4 : 0, fr.ip);
      b.u32(1_700_000_000).u32(i * 1000).u32(d.length).u32(d.length).raw(d);
    });
    writeFileSync(f, b.buffer());
    return f;
  }
  const parts: number[][] = [shb()];
  if (framing === "sll2-pcapng") parts.push(idb(276, "any"));
  else {
    // one interface per device (dumpcap -i eth0 -i enib... -i eni...): raw IPv4 with epb_flags, or Ethernet (a node MAC as the source: sent by the node)
    for (const n of ["eth0", "enib183cae2f8e", "eni5b7d39576c9"]) parts.push(idb(framing === "ethernet" ? 1 : 101, n));
  }
  const iface = (ifindex: number) => (ifindex === ETH0 ? 0 : ifindex === VETH ? 1 : 2);
  const nodeMac = (ifindex: number) => `02:00:00:00:0${ifindex}:01`;
  frames.forEach((fr, i) => {
    const ts = T + BigInt(i) * 1000n;
    if (framing === "sll2-pcapng") parts.push(epb(0, ts, sll2(fr.ifindex, fr.out ? 4 : 0, fr.ip)));
    else if (framing === "pcapng-flags") parts.push(epb(iface(fr.ifindex), ts, fr.ip, fr.out ? 2 : 1));
    else parts.push(epb(iface(fr.ifindex), ts, fr.out ? eth("0a:00:00:00:00:09", nodeMac(fr.ifindex), fr.ip) : eth(nodeMac(fr.ifindex), "0a:00:00:00:00:09", fr.ip)));
  });
  writeFileSync(f, Buffer.from(parts.flat()));
  return f;
}

/**
 * A capture (SLL2 pcapng) of the scenario's unpaired copy, then `count`
 * arriving TCP packets from the client (source ports from `sport0`) to a
 * pod, each one's forwarded copy after the next `lag` arrivals.
 */
function laggedCopies(name: string, count: number, lag: number, sport0: number): { arrivals: Uint8Array[]; f: string } {
  const frames: Frame[] = [scenario().frames[0]!];
  const hdr = Array.from({ length: count }, (_, i): Pk => ({ ...client, sport: sport0 + i, dst: "10.0.52.77", dport: 80, proto: "tcp", id: (sport0 + i) & 0xffff, ttl: 64, seq: 7 * i }));
  const arrivals = hdr.map((h) => pkt(h));
  arrivals.forEach((ip, i) => {
    frames.push({ ip, ifindex: ETH0, out: false });
    if (i >= lag) frames.push({ ip: pkt({ ...hdr[i - lag]!, ttl: 63 }), ifindex: VETH, out: true });
  });
  return { arrivals, f: writeScenario(name, frames, "sll2-pcapng") };
}

interface Decoded { descs: Buffer[]; counts: number[]; paired: number; skipped: Record<string, number>; fastRecords: number }

/** Decodes `file` with the host's decoder or the core's (into its own memory, or a buffer outside it: the scratch area and patches). */
function decode(file: string, how: "host" | "fast" | "fast-in-core", opts: PcapSourceOptions & { batch?: number } = {}): Decoded {
  const view: PcapEngine = { node: engine.node, addCounter: () => {} };
  const fast = how !== "host";
  const src = PcapSource.open(file, view, { ...opts, keepFrames: false, fastDecode: fast ? core : undefined });
  src.fastBackoffMax = 0; // the fast path tried again after every record the host decodes
  const batch = opts.batch ?? 1024;
  const size = batch * abi.PKT_SIZE;
  const at = how === "fast-in-core" ? core.alloc(size) : 0;
  const out: Decoded = { descs: [], counts: [], paired: 0, skipped: {}, fastRecords: 0 };
  try {
    for (;;) {
      const target = how === "fast-in-core" ? core.memory.buffer : new ArrayBuffer(size);
      new Uint8Array(target, at, size).fill(0);
      const n = src.fill(new DataView(target, at, size), 0, batch);
      out.counts.push(n);
      for (let k = 0; k < n; k++) out.descs.push(Buffer.from(new Uint8Array(target, at + k * abi.PKT_SIZE, abi.PKT_SIZE)));
      if (n === 0) break;
    }
    out.paired = src.copiesPaired;
    out.skipped = src.skipped();
    out.fastRecords = src.fastRecords;
  } finally {
    src.close();
    if (at) core.free(at);
  }
  return out;
}

/** The seen fields of a descriptor, undefined when no copy was paired. */
function seen(d: Buffer): Seen {
  const dv = new DataView(d.buffer, d.byteOffset, d.length);
  const dst = dv.getUint32(abi.PKT_SEEN_DST, true);
  if (dst === 0) return undefined;
  const ip = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
  return { src: ip(dv.getUint32(abi.PKT_SEEN_SRC, true)), dst: ip(dst), sport: dv.getUint16(abi.PKT_SEEN_SPORT, true), dport: dv.getUint16(abi.PKT_SEEN_DPORT, true), oif: dv.getUint8(abi.PKT_SEEN_OIF) };
}

/** Every decoder gives the same descriptors; returns the host's. */
function allSame(file: string, opts: PcapSourceOptions & { batch?: number } = {}): Decoded {
  const host = decode(file, "host", opts);
  for (const how of ["fast", "fast-in-core"] as const) {
    const f = decode(file, how, opts);
    expect(f.fastRecords).toBeGreaterThan(0);
    expect(f.descs.length).toBe(host.descs.length);
    f.descs.forEach((d, k) => { if (!d.equals(host.descs[k]!)) expect.fail(`${file} (${how}): descriptor ${k} differs from the host decoder's`); });
    expect({ ...f, descs: [], fastRecords: 0 }).toEqual({ ...host, descs: [], fastRecords: 0 });
  }
  return host;
}

describe("forwarded copies paired with their originals", () => {
  const sc = scenario();
  const names = sc.frames.filter((f) => !f.out).map((f) => f.name!);
  const copies = sc.frames.filter((f) => f.out).length;
  const pairs = [...sc.expect.values()].filter((s) => s !== undefined).length;

  for (const framing of ["sll2-pcapng", "sll2-pcap", "pcapng-flags", "ethernet"] as const) {
    it(`${framing}: the copy's header and device on its original, decoys unpaired, both decoders`, () => {
      const f = writeScenario(`scenario-${framing}.cap`, sc.frames, framing);
      const d = allSame(f);
      expect(d.descs.length).toBe(names.length);
      expect(d.skipped).toEqual({ [SKIP_FORWARDED]: copies });
      names.forEach((name, k) => {
        if (name === "unreach") return; // (an ICMP error's inner fields are where the seen ones would be: below)
        const want = sc.expect.get(name);
        expect({ name, seen: seen(d.descs[k]!) }).toEqual({ name, seen: want });
      });
      expect(d.paired).toBe(pairs);
      expect(pairs).toBe(7);
      // the ICMP error keeps its quote (PF_INNER, the inner fields the seen ones overlay)
      const u = new DataView(d.descs[names.indexOf("unreach")]!.buffer, d.descs[names.indexOf("unreach")]!.byteOffset);
      expect(u.getUint16(abi.PKT_FLAGS, true) & abi.PF_INNER).toBeTruthy();
      expect(u.getUint32(abi.PKT_INNER_SRC, true)).toBe(ipNum("10.0.52.77"));
      expect(u.getUint32(abi.PKT_INNER_DST, true)).toBe(ipNum("52.1.2.3"));
      expect(u.getUint16(abi.PKT_INNER_SPORT, true)).toBe(5000);
      expect(u.getUint8(abi.PKT_INNER_PROTO)).toBe(17);
      // --forwarded-copies skip: the same descriptors without the seen fields, nothing paired
      const skip = allSame(f, { forwardedCopies: "skip" });
      expect(skip.paired).toBe(0);
      expect(skip.skipped).toEqual(d.skipped);
      skip.descs.forEach((s, k) => {
        const p = Buffer.from(d.descs[k]!);
        if (names[k] !== "unreach") p.fill(0, abi.PKT_SEEN_SRC, abi.PKT_SEEN_OIF + 1);
        expect(s.equals(p)).toBe(true);
        if (names[k] !== "unreach") expect(seen(s)).toBeUndefined();
        else expect(s.equals(d.descs[k]!)).toBe(true);
      });
      // --node-sends skip: no outgoing frame is classified, none is a copy
      expect(allSame(f, { nodeSends: "skip" }).paired).toBe(0);
    });
  }

  it("a copy just after a full fill's end pairs: the fill's last descriptors are held back for the next", () => {
    // the unpaired copy (the capture has copies), three arrivals, the SYN, its copy
    const filler = Array.from({ length: 3 }, (_, i) => ({ ip: pkt({ ...client, sport: 31000 + i, dst: "10.0.52.77", dport: 80, proto: "tcp", id: 900 + i, ttl: 64, seq: i }), ifindex: ETH0, out: false }));
    const frames = [sc.frames[0]!, ...filler, sc.frames[1]!, sc.frames[2]!];
    const f = writeScenario("fills.pcapng", frames, "sll2-pcapng");
    // the SYN fills the batch of 4; its copy comes in the next fill: the last 2 (half the fill) wait for it
    const four = allSame(f, { batch: 4 });
    expect(four.counts).toEqual([2, 2, 0]);
    expect(four.descs).toHaveLength(4);
    expect(seen(four.descs[3]!)).toEqual(sc.expect.get("syn"));
    expect(four.paired).toBe(1);
    // the same descriptors, in the same order, as in one fill
    const whole = allSame(f, { batch: 1024 });
    expect(whole.counts).toEqual([4, 0]);
    four.descs.forEach((d, k) => expect(d.equals(whole.descs[k]!)).toBe(true));
    // a batch of one holds nothing back (half of one is none): the SYN's copy comes too late
    const one = allSame(f, { batch: 1 });
    expect(one.counts).toEqual([1, 1, 1, 1, 0]);
    expect(seen(one.descs[3]!)).toBeUndefined();
    expect(one.paired).toBe(0);
  });

  it("frames kept for egress follow the held descriptors (frame(k) is descriptor k's datagram)", () => {
    // 300 arrivals, each one's copy after the next three arrivals; fills of 9 and 64 in a small read buffer
    // (its frames pinned while the fill's descriptors are out), of 1024 in the default one
    const { arrivals, f } = laggedCopies("keep.pcapng", 300, 3, 20000);
    const view: PcapEngine = { node: engine.node, addCounter: () => {} };
    for (const batch of [9, 64, 1024]) {
      const src = PcapSource.open(f, view, { keepFrames: true, ...(batch < 1024 ? { bufferSize: 16 << 10 } : {}) });
      const got: Buffer[] = [];
      const buf = new ArrayBuffer(batch * abi.PKT_SIZE);
      try {
        for (let n; (n = src.fill(new DataView(buf), 0, batch)) > 0; ) {
          for (let k = 0; k < n; k++) {
            const fr = src.frame(k);
            got.push(Buffer.from(fr.bytes.subarray(fr.offset, fr.offset + fr.length)));
            // the descriptor is the frame's: its source port
            expect(new DataView(buf).getUint16(k * abi.PKT_SIZE + abi.PKT_SPORT, true)).toBe(20000 + got.length - 1);
          }
        }
        expect(got).toHaveLength(arrivals.length);
        got.forEach((b, k) => { if (!b.equals(Buffer.from(arrivals[k]!))) expect.fail(`batch ${batch}: frame(${k}) is not the ${k}th arrival`); });
        // every copy pairs: a fill of 9 holds 4 back, enough for a copy three arrivals late
        expect(src.copiesPaired).toBe(297);
      } finally {
        src.close();
      }
    }
  });

  it("replayCapture with CPUs modelled (its own carry of a batch's last round) sees each packet once, in order, its frame with it", async () => {
    // 1,200 packets in batches of 256 (the least): several fills, each holding its last 64 back
    const { arrivals, f } = laggedCopies("cpus.pcapng", 1200, 2, 21000);
    for (const cpus of [1, 2, 4]) {
      const e = await demoEngine({ cpus, batchSize: 256 });
      const seenIdx: number[] = [];
      const st = await replayCapture(e, f, {
        packet(_k, i, frame) {
          seenIdx.push(i);
          const b = Buffer.from(frame.buf.subarray(frame.ipStart, frame.ipStart + frame.ipLength));
          if (!b.equals(Buffer.from(arrivals[i]!))) expect.fail(`cpus ${cpus}: packet ${i} has another packet's frame`);
        },
      });
      expect(st.error).toBeUndefined();
      expect(st.packets).toBe(1200);
      expect(seenIdx).toEqual(arrivals.map((_, i) => i));
      expect(st.copiesPaired).toBe(1198);
    }
  });

  it("nothing is held back before the capture's first forwarded copy", () => {
    // the SYN ends a full fill and its copy is the capture's first: the fills are as without copies
    const filler = Array.from({ length: 3 }, (_, i) => ({ ip: pkt({ ...client, sport: 31000 + i, dst: "10.0.52.77", dport: 80, proto: "tcp", id: 900 + i, ttl: 64, seq: i }), ifindex: ETH0, out: false }));
    const f = writeScenario("first-copy.pcapng", [...filler, sc.frames[1]!, sc.frames[2]!], "sll2-pcapng");
    const four = allSame(f, { batch: 4 });
    expect(four.counts).toEqual([4, 0]);
    expect(seen(four.descs[3]!)).toBeUndefined();
    expect(four.paired).toBe(0);
  });

  it("the scenario in batches of every size: the same descriptors from every decoder (patches across scratch chunks)", () => {
    const f = writeScenario("batches.pcapng", [...sc.frames, ...Array.from({ length: 3 }, () => sc.frames).flat()], "sll2-pcapng");
    for (const batch of [1, 2, 3, 7, 64, 127, 129, 1000]) allSame(f, { batch });
    // 127 arrivals, then an original at the end of the fast path's first scratch chunk (128), its copy read in the next call
    const fill = Array.from({ length: 127 }, (_, i) => ({ ip: pkt({ ...client, sport: 30000 + i, dst: "10.0.52.77", dport: 80, proto: "tcp", id: i, ttl: 64, seq: i }), ifindex: ETH0, out: false }));
    const frames = [sc.frames[0]!, ...fill, sc.frames[1]!, sc.frames[2]!];
    const d = allSame(writeScenario("chunk.pcapng", frames, "sll2-pcapng"));
    expect(seen(d.descs[127]!)).toEqual(sc.expect.get("syn"));
  });
});

describe("the decode thread and --workers 2 carry the seen fields", () => {
  let snapshot = "";
  let file = "";
  beforeAll(() => {
    snapshot = writeDemoSnapshots(dir).demo;
    file = writeScenario("carry.pcapng", scenario().frames, "sll2-pcapng");
  });

  it("ThreadedPcapSource gives the PcapSource's descriptors and count", async () => {
    // from dist/ (npm run build): the thread runs dist/host/replay/pcap-thread-worker.js
    const { ThreadedPcapSource } = await import("../../dist/host/replay/pcap-thread.js") as unknown as typeof import("../../host/replay/pcap-thread.js");
    const spec = readNodeSpec(snapshot);
    const e = await demoEngine();
    // into a buffer of its own (the host unpacks the records) and into the engine's batch buffer (its core does)
    for (const [forwardedCopies, inCore] of [["pair", false], ["skip", false], ["pair", true]] as const) {
      const th = ThreadedPcapSource.start(file, { spec, capacity: 1024, keepFrames: false, forwardedCopies }).open(e);
      const { ptr } = e.batchBuffer;
      const dv = inCore ? e.mem.dv : new DataView(new ArrayBuffer(1024 * abi.PKT_SIZE));
      const base = inCore ? ptr : 0;
      const n = th.fill(dv, base, 1024);
      const got = Buffer.from(dv.buffer, base, n * abi.PKT_SIZE).slice();
      expect(th.fill(dv, base, 1024)).toBe(0);
      th.close();
      const host = decode(file, "host", { forwardedCopies });
      expect(n).toBe(host.descs.length);
      // every input field (the thread hands them over as input records: abi.ts section 12)
      for (let k = 0; k < n; k++) {
        const d = got.subarray(k * abi.PKT_SIZE, (k + 1) * abi.PKT_SIZE), want = host.descs[k]!;
        for (const [a, b] of [[0, abi.PKT_VERDICT], [abi.PKT_TCP_WSCALE, abi.PKT_OUT_INNER_SRC], [abi.PKT_INNER_ICMP_TYPE, abi.PKT_NF_TRACE_LAST]] as const) {
          expect(d.subarray(a, b).equals(want.subarray(a, b))).toBe(true);
        }
      }
      expect(th.copiesPaired).toBe(host.paired);
      expect(host.paired).toBe(forwardedCopies === "pair" ? 7 : 0);
    }
  });

  it("--workers 2: the engines get the descriptors' seen fields (input bytes 0..71)", async () => {
    const { runReplay } = await import("../../dist/host/replay/run.js") as unknown as typeof import("../../host/replay/run.js");
    const { PcapSource: DistPcap } = await import("../../dist/host/replay/pcap-source.js") as unknown as typeof import("../../host/replay/pcap-source.js");
    const spec = readNodeSpec(snapshot);
    const run = async (workers: number): Promise<Buffer[]> => {
      // a closed loop: the replay hands every processed descriptor back (from the workers' engines, with workers)
      const got: Buffer[] = [];
      await runReplay({
        spec, seed: 1, batch: 1024, workers, round: 256,
        source: (e) => {
          const src = DistPcap.open(file, e, { keepFrames: false });
          const wrapped: PacketSource = {
            kind: src.kind, label: src.label, closedLoop: true,
            get ended() { return src.ended; },
            fill: (dv, base, max) => src.fill(dv, base, max),
            processed: (dv, base, n) => { for (let k = 0; k < n; k++) got.push(Buffer.from(new Uint8Array(dv.buffer, dv.byteOffset + base + k * abi.PKT_SIZE, abi.PKT_SEEN_OIF + 1))); },
            progress: () => src.progress(), skipped: () => src.skipped(), close: () => src.close(),
            get copiesPaired() { return src.copiesPaired; },
          } as PacketSource;
          return wrapped;
        },
      });
      return got;
    };
    const host = decode(file, "host");
    const one = await run(1), two = await run(2);
    expect(one.length).toBe(host.descs.length);
    expect(two.length).toBe(one.length);
    for (let k = 0; k < one.length; k++) {
      const want = host.descs[k]!.subarray(abi.PKT_SEEN_SRC, abi.PKT_SEEN_OIF + 1);
      expect(one[k]!.subarray(abi.PKT_SEEN_SRC).equals(want)).toBe(true);
      expect(two[k]!.subarray(abi.PKT_SEEN_SRC).equals(want)).toBe(true);
    }
    expect(two.filter((d) => (d.readUInt16LE(abi.PKT_FLAGS) & abi.PF_INNER) === 0 && seen(d) !== undefined && d.readUInt8(abi.PKT_SEEN_OIF) !== 0).length).toBe(7);
  }, 60_000);

  it("the CLI: --forwarded-copies pair (default) and skip, one and two workers, the summary's count", () => {
    const configs = [[[], 7], [["--workers", "2"], 7], [["--decode-thread", "on"], 7], [["--decode-thread", "off"], 7], [["--forwarded-copies", "skip"], undefined], [["--node-sends", "skip"], undefined]] as const;
    for (const [extra, want] of configs) {
      // with --out (the frames kept: the host's decoder) and without (the core's, on the decode thread or beside the engine)
      for (const withOut of [true, false]) {
        const out = join(dir, `cli-${extra.join("")}-${withOut}`);
        const r = spawnSync(process.execPath, [CLI, "replay", "--snapshot", snapshot, "--pcap", file, "--no-progress", ...(withOut ? ["--out", out] : []), ...extra], { encoding: "utf8" });
        expect(r.status, r.stderr).toBe(0);
        if (withOut) {
          const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as { input: { forwarded_copies_paired?: number; forwarded_copies_unpaired?: number; skipped: Record<string, number> } };
          expect(s.input.forwarded_copies_paired).toBe(want);
          if (extra[0] !== "--node-sends") expect(s.input.skipped[SKIP_FORWARDED]).toBe(sc_copies());
          // the copies no original was found for (the decoys): counted with pairing on, absent with it off
          expect(s.input.forwarded_copies_unpaired).toBe(want === undefined ? undefined : sc_copies() - want);
          const html = readFileSync(join(out, "report.html"), "utf8");
          expect(html.includes("paired with their forwarded copies")).toBe(want !== undefined);
          expect(html.includes("unpaired (no original found)")).toBe(want !== undefined);
        }
        if (want) {
          expect(r.stdout).toMatch(/^input: pcap .*: \d+ packets \(7 paired with their forwarded copies\)/m);
          expect(r.stdout).toMatch(new RegExp(`^skipped: .*${sc_copies()} outgoing: forwarded copy \\(${sc_copies() - want} of them unpaired\\)`, "m"));
        } else expect(r.stdout).not.toMatch(/paired/);
      }
    }
  }, 120_000);
});

function sc_copies(): number { return scenario().frames.filter((f) => f.out).length; }
