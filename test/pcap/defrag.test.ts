/**
 * conntrack's IPv4 reassembly of a capture (host/packet/defrag.ts through
 * PcapSource): the Defragmenter's rules one by one, the reassembled
 * datagram's descriptor = the JSONL descriptor of the same packet with
 * frag_max, and the same totals with 1 and 2 workers.
 * (test/pcap/defrag-kernel.test.ts compares with the kernel.)
 */
import { describe, it, expect, afterAll } from "vitest";
import { join } from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import * as abi from "../../host/core/abi.js";
import { Defragmenter, defragConfig, FRAG_DROP } from "../../host/packet/defrag.js";
import { csumAdd, csumFold } from "../../host/packet/wire.js";
import { encodePacket, type PacketInput } from "../../host/packet/input.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import { replayCapture } from "../../host/pcap/replay.js";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { CaptureWriter } from "../../host/pcap/write.js";
import { demoEngine, demoNode, packetBytes, scratchDir } from "./helpers.js";
import { CLI } from "../repo.js";

const { dir, cleanup } = scratchDir();
afterAll(cleanup);

/** Fragment [a, e) of the datagram `d` (its IPv4 header 20 bytes), with MF and DF as given. */
function frag(d: Uint8Array, a: number, e: number, mf: boolean, df = false): Uint8Array {
  const f = new Uint8Array(20 + e - a);
  f.set(d.subarray(0, 20));
  f.set(d.subarray(20 + a, 20 + e), 20);
  f[2] = f.length >> 8; f[3] = f.length & 255;
  const fo = (a >> 3) | (mf ? 0x2000 : 0) | (df ? 0x4000 : 0);
  f[6] = fo >> 8; f[7] = fo & 255;
  f[10] = 0; f[11] = 0;
  const s = 0xffff - csumFold(csumAdd(f, 0, 20, 0));
  f[10] = s >> 8; f[11] = s & 255;
  return f;
}

/** A UDP datagram of `len` bytes with a right checksum (DF clear). */
function udpDatagram(len: number, id: number, src = [52, 1, 2, 3], dst = [10, 0, 0, 10]): Uint8Array {
  const d = new Uint8Array(len);
  d.set([0x45, 0, len >> 8, len & 255, id >> 8, id & 255, 0, 0, 64, 17, 0, 0, ...src, ...dst]);
  for (let i = 28; i < len; i++) d[i] = (i * 7) & 255;
  d.set([0x30, 0x39, 0, 53, (len - 20) >> 8, (len - 20) & 255, 0, 0], 20);
  const pseudo = csumAdd(d, 12, 8, 17 + len - 20);
  const c = 0xffff - csumFold(csumAdd(d, 20, len - 20, pseudo));
  d[26] = c >> 8; d[27] = c & 255;
  const h = 0xffff - csumFold(csumAdd(d, 0, 20, 0));
  d[10] = h >> 8; d[11] = h & 255;
  return d;
}

const CFG = defragConfig(undefined);
const add = (df: Defragmenter, f: Uint8Array, tNs = 0) => df.add(f, 0, f.length, tNs);

describe("Defragmenter (ip_defrag with user IP_DEFRAG_CONNTRACK_IN)", () => {
  it("defaults are the kernel's: ipfrag_time 30 s, ipfrag_max_dist 64; sysctl.txt values win", () => {
    expect(CFG.timeoutNs).toBe(30e9);
    expect(CFG.maxDist).toBe(64);
    const c = defragConfig(new Map([["net.ipv4.ipfrag_time", "5"], ["net.ipv4.ipfrag_max_dist", "0"]]));
    expect(c.timeoutNs).toBe(5e9);
    expect(c.maxDist).toBe(0);
  });

  it("in order and reversed: the datagram's own bytes; ReasmReqds per fragment, ReasmOKs per datagram", () => {
    const d = udpDatagram(1500, 7);
    for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0]]) {
      const df = new Defragmenter(CFG);
      const fr = [frag(d, 0, 600, true), frag(d, 600, 1200, true), frag(d, 1200, 1480, false)];
      let out = null;
      for (const i of order) { const r = add(df, fr[i]!); if (r) out = r; else expect(out).toBeNull(); }
      expect(out).not.toBeNull();
      expect(out!.bytes).toEqual(d);
      expect(out!.fragMax).toBe(620);
      expect(out!.fragments).toBe(3);
      expect(df.counters).toMatchObject({ IpReasmReqds: 3, IpReasmOKs: 1, IpReasmFails: 0, IpInReceives: 2 });
      expect(df.pending).toBe(0);
    }
  });

  it("an exact duplicate is dropped and the queue lives on; an overlap kills the queue (ReasmOverlaps, ReasmFails)", () => {
    const d = udpDatagram(1020, 8);
    const df = new Defragmenter(CFG);
    expect(add(df, frag(d, 0, 400, true))).toBeNull();
    expect(add(df, frag(d, 0, 400, true))).toBeNull();
    expect(add(df, frag(d, 400, 1000, false))!.bytes).toEqual(d);
    expect(df.dropped.get(FRAG_DROP.duplicate)).toBe(1);
    const d2 = udpDatagram(1020, 9);
    expect(add(df, frag(d2, 0, 400, true))).toBeNull();
    expect(add(df, frag(d2, 392, 800, true))).toBeNull();
    expect(df.counters).toMatchObject({ IpExtReasmOverlaps: 1, IpReasmFails: 1, IpReasmOKs: 1 });
    expect(df.dropped.get(FRAG_DROP.overlap)).toBe(2);
    // the rest of d2 starts a new queue
    expect(add(df, frag(d2, 800, 1000, false))).toBeNull();
    expect(df.pending).toBe(1);
    expect(df.outcome()).toEqual({
      "reassembled into 1 datagram": 2, [`dropped: ${FRAG_DROP.duplicate}`]: 1, [`dropped: ${FRAG_DROP.overlap}`]: 2,
      "still queued at the end of the capture (datagram incomplete)": 1,
    });
  });

  it("ipfrag_time on capture time since the queue was created: ReasmFails + ReasmTimeout", () => {
    const d = udpDatagram(1020, 10);
    const df = new Defragmenter(CFG);
    expect(add(df, frag(d, 0, 400, true), 1e9)).toBeNull();
    expect(add(df, frag(d, 400, 800, true), 30.9e9)).toBeNull(); // not extended by later fragments
    expect(add(df, frag(d, 800, 1000, false), 31e9)).toBeNull(); // the queue expired at 31 s: a new one
    expect(df.counters).toMatchObject({ IpReasmFails: 1, IpReasmTimeout: 1, IpReasmOKs: 0 });
    expect(df.dropped.get(FRAG_DROP.timeout)).toBe(2);
    expect(df.pending).toBe(1);
    df.advance(61e9);
    expect(df.counters.IpReasmTimeout).toBe(2);
    expect(df.pending).toBe(0);
  });

  it("too far: more than ipfrag_max_dist fragments from the source since the queue's last: ReasmFails, the queue restarts with this fragment", () => {
    const df = new Defragmenter({ ...CFG, maxDist: 3 });
    const a = udpDatagram(1020, 11), b = udpDatagram(1020, 12);
    expect(add(df, frag(a, 0, 400, true))).toBeNull();
    for (const [x, y, mf] of [[0, 400, true], [400, 800, true], [800, 1000, false]] as const) add(df, frag(b, x, y, mf));
    expect(df.counters.IpReasmOKs).toBe(1);
    expect(add(df, frag(a, 400, 800, true))).toBeNull(); // 4 fragments from 52.1.2.3 since: too far
    expect(df.counters.IpReasmFails).toBe(1);
    expect(df.dropped.get(FRAG_DROP.tooFar)).toBe(1);
    expect(add(df, frag(a, 800, 1000, false))).toBeNull();
    expect(add(df, frag(a, 0, 400, true))!.bytes).toEqual(a);
    // another source's fragments do not count
    const c = udpDatagram(1020, 13, [52, 9, 9, 9]);
    expect(add(df, frag(c, 0, 400, true))).toBeNull();
    for (const [x, y, mf] of [[0, 400, true], [400, 800, true], [800, 1000, false]] as const) add(df, frag(udpDatagram(1020, 14), x, y, mf));
    expect(add(df, frag(c, 400, 1000, false))).not.toBeNull();
  });

  it("DF only when the largest fragment had it; tot_len, header checksum recomputed; frag_max the largest fragment", () => {
    const d = udpDatagram(1020, 15);
    for (const [dfA, dfB, want] of [[true, true, 0x40], [false, true, 0x40], [true, false, 0]] as const) {
      const df = new Defragmenter(CFG);
      add(df, frag(d, 0, 400, true, dfA));
      const r = add(df, frag(d, 400, 1000, false, dfB))!;
      expect(r.bytes[6]).toBe(want);
      expect(r.fragMax).toBe(620);
      expect((r.bytes[2]! << 8) | r.bytes[3]!).toBe(1020);
      expect(csumFold(csumAdd(r.bytes, 0, 20, 0))).toBe(0xffff);
      expect(r.bytes.subarray(20)).toEqual(d.subarray(20));
    }
  });

  it("a final fragment ending before data already queued, or an empty fragment, kills the queue", () => {
    const d = udpDatagram(1020, 16);
    const df = new Defragmenter(CFG);
    add(df, frag(d, 0, 800, true));
    expect(add(df, frag(d, 400, 600, false))).toBeNull();
    expect(df.counters.IpReasmFails).toBe(1);
    expect(df.dropped.get(FRAG_DROP.corrupt)).toBe(2);
  });
});

describe("reassembled datagrams through PcapSource", () => {
  /** Demo packets with big payloads, their bytes, and the fragments (some reversed) in capture order. */
  async function fragmentedCapture(file: string) {
    const engine = await demoEngine({ batchSize: 256 });
    const base: PacketInput[] = [
      { iif: "eth0", src: "52.1.2.4", dst: "10.0.0.10", proto: "udp", sport: 5353, dport: 53, len: 3000, id: 100, t: 1 },
      { iif: "eth0", src: "52.1.2.5", dst: "10.0.0.10", proto: "icmp", icmp_type: 8, icmp_id: 7, icmp_seq: 1, len: 2000, id: 101, df: true, t: 1.1 },
      { iif: "eth0", src: "52.1.2.4", dst: "10.0.0.10", proto: "tcp", sport: 40000, dport: 443, flags: "PA", seq: 9, ack: 5, win: 500, len: 1800, id: 102, t: 1.2 },
      { iif: "eth0", src: "52.1.2.4", dst: "10.0.0.10", proto: "udp", sport: 5353, dport: 53, len: 100, id: 103, t: 1.3 },
    ];
    const bytes = packetBytes(engine, base);
    const w = CaptureWriter.toFile(file, {});
    const id = w.addInterface("eth0");
    const put = (b: Uint8Array, t: number) => w.packet(id, Math.round(t * 1e9), b, 0, b.length);
    // 0: three fragments in order; 1: two, reversed, DF; 2: in order with a duplicate; 3 whole
    put(frag(bytes[0]!, 0, 1480, true), 1); put(frag(bytes[0]!, 1480, 2960, true), 1.01); put(frag(bytes[0]!, 2960, 2980, false), 1.02);
    put(frag(bytes[1]!, 1000, 1980, false, true), 1.1); put(frag(bytes[1]!, 0, 1000, true, true), 1.11);
    put(frag(bytes[2]!, 0, 896, true), 1.2); put(frag(bytes[2]!, 0, 896, true), 1.21); put(frag(bytes[2]!, 896, 1780, false), 1.22);
    put(bytes[3]!, 1.3);
    await w.close();
    const want: PacketInput[] = [
      { ...base[0]!, frag_max: 1500, t: 1.02 }, { ...base[1]!, frag_max: 1020, t: 1.11 }, { ...base[2]!, frag_max: 916, t: 1.22 }, base[3]!,
    ];
    return { engine, bytes, want };
  }

  it("one descriptor per datagram, = the JSONL descriptor with frag_max, frame(k) the datagram's bytes; counters in the engine", async () => {
    const file = join(dir, "frags.pcapng");
    const { engine, bytes, want } = await fragmentedCapture(file);
    const src = PcapSource.open(file, engine, {});
    const { ptr, capacity } = engine.batchBuffer;
    const n = src.fill(engine.mem.dv, ptr, capacity);
    expect(n).toBe(4);
    for (let k = 0; k < n; k++) {
      const ref = new DataView(new ArrayBuffer(abi.PKT_SIZE));
      encodePacket(ref, 0, { ...want[k]!, t: 0 } as unknown as Record<string, unknown>, { file: "t", line: 1 }, engine.devices, 0n, () => {});
      const got = engine.mem.u8.subarray(ptr + k * abi.PKT_SIZE, ptr + (k + 1) * abi.PKT_SIZE);
      for (const [a, b] of [[0, abi.PKT_TIME], [abi.PKT_TIME + 8, abi.PKT_OUT_INNER_SRC], [abi.PKT_INNER_ICMP_TYPE, abi.PKT_CPU + 2]]) {
        expect([...got.subarray(a!, b!)], `packet ${k} bytes ${a}..${b}`).toEqual([...new Uint8Array(ref.buffer).subarray(a!, b!)]);
      }
      const f = src.frame(k);
      expect(f.bytes.subarray(f.offset, f.offset + f.length)).toEqual(bytes[k]);
    }
    expect(src.fill(engine.mem.dv, ptr, capacity)).toBe(0);
    expect(src.skipped()).toEqual({});
    expect(src.fragments()).toEqual({ "reassembled into 3 datagrams": 7, [`dropped: ${FRAG_DROP.duplicate}`]: 1 });
    src.close();
    const c = engine.counters();
    expect(c.IpReasmReqds).toBe(8);
    expect(c.IpReasmOKs).toBe(3);
    expect(c.IpInReceives).toBe(5); // the 5 fragments that are not a datagram's descriptor (the core counts the rest when it runs)
    // every fragment's own bytes and ECN codepoint, the duplicate's and the completing ones' too (the core counts neither for a datagram)
    expect(c.IpExtInOctets).toBe(1500 + 1500 + 40 + 1000 + 1020 + 916 + 916 + 904);
    expect(c.IpExtInNoECTPkts).toBe(8);
    // the core: the whole packet's 100 bytes and codepoint, the datagrams' IpInReceives only
    engine.processRaw(n);
    const d = engine.counters();
    expect([d.IpInReceives, d.IpExtInOctets, d.IpExtInNoECTPkts]).toEqual([9, 7796 + 100, 9]);
  });

  it("replayCapture hands its sink the datagram's bytes for a reassembled packet", async () => {
    const file = join(dir, "frags-sink.pcapng");
    const { engine, bytes } = await fragmentedCapture(file);
    const got: Uint8Array[] = [];
    const numbers: number[] = [];
    const st = await replayCapture(engine, file, { packet: (_k, _i, f) => { got.push(f.ipBytes.slice()); numbers.push(f.number); } });
    expect(st.error).toBeUndefined();
    expect(got).toEqual(bytes);
    // each datagram comes with the record number of the fragment that completed it
    expect(numbers).toEqual([3, 5, 8, 9]);
  });

  it("a node without conntrack: fragments are not replayed, with the reason", async () => {
    const file = join(dir, "frags-noct.pcapng");
    const { engine } = await fragmentedCapture(file);
    const { snap } = demoNode();
    const plain = await (await import("../../host/engine.js")).Engine.create({ seed: 1 });
    plain.load({ ...snap, iptablesSave: undefined }, { hz: snap.hz });
    expect(plain.ruleset?.compiled.conntrack).toBeFalsy();
    const src = PcapSource.open(file, plain, {});
    const { ptr, capacity } = plain.batchBuffer;
    expect(src.fill(plain.mem.dv, ptr, capacity)).toBe(1);
    expect(Object.values(src.skipped())).toEqual([8]);
    expect(Object.keys(src.skipped())[0]).toMatch(/without conntrack/);
    src.close();
    void engine;
  });

  it("1 and 2 workers: the same totals, counters and fragment outcome", async () => {
    const file = join(dir, "frags-w.pcapng");
    await fragmentedCapture(file);
    const { node } = demoNode();
    const snapDir = join(dir, "demo");
    mkdirSync(snapDir, { recursive: true });
    for (const [k, v] of Object.entries(node.files)) writeFileSync(join(snapDir, k), v);
    writeFileSync(join(snapDir, "iptables-save.txt"), demoNode().snap.iptablesSave!);
    const results: Record<string, unknown>[] = [];
    for (const workers of [1, 2]) {
      const out = join(dir, `out-${workers}`);
      const r = spawnSync(process.execPath, [CLI, "replay", "--snapshot", snapDir, "--pcap", file, "--out", out, "--workers", String(workers)], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Record<string, unknown>;
      delete s.timing;
      delete s.outputs;
      results.push(s);
      if (workers === 1) expect(r.stdout).toMatch(/IPv4 fragments \(conntrack reassembly\): 7 reassembled into 3 datagrams, 1 dropped: duplicate/);
    }
    const input = results[0]!.input as { fragments: Record<string, number>; packets: number };
    expect(input.fragments).toEqual({ "reassembled into 3 datagrams": 7, [`dropped: ${FRAG_DROP.duplicate}`]: 1 });
    expect(input.packets).toBe(4);
    const counters = results[0]!.counters as Record<string, number>;
    expect(counters.IpReasmReqds).toBe(8);
    expect(counters.IpReasmOKs).toBe(3);
    expect(counters.IpInReceives).toBe(9);
    expect(results[1]).toEqual(results[0]);
  });
});
