/**
 * `replay --pcap` with the capture read and decoded on a second thread
 * (host/replay/pcap-thread.ts) gives the same results, byte for byte, as
 * with the decoding on the main thread (--decode-thread off): summary.json
 * (apart from its timing), --jsonl, --counters, --conntrack-dump and
 * egress.pcapng, on a capture with frames that are not replayed (ARP,
 * IPv6, outgoing copies), IPv4 fragments reassembled by conntrack (and a
 * duplicate dropped), headers ip_rcv rejects, over many slots of the
 * thread's ring (with frames kept for --out, a batch a slot; without,
 * slotBatches() batches a slot, handed out a batch at a time); a capture
 * cut in the middle of a frame stops both at the same frame with the same
 * error, byte offset and summary (exit status 2);
 * errors opening a capture and frames no mapping places read the same.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../../host/engine.js";
import { csumAdd, csumFold } from "../../host/packet/wire.js";
import type { PacketInput } from "../../host/packet/input.js";
import { CaptureWriter } from "../../host/pcap/write.js";
import { parseMac } from "../../host/pcap/link.js";
import { SLOT_BATCHES, SLOT_DESCRIPTORS, slotBatches } from "../../host/replay/pcap-thread.js";
import { demoEngine, demoNode, demoPackets, packetBytes, scratchDir } from "../pcap/helpers.js";
import { CLI } from "../repo.js";

const { dir, cleanup } = scratchDir();
afterAll(cleanup);

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, "replay", ...args], { encoding: "utf8", timeout: 120_000, maxBuffer: 64 << 20 });
}

function macBytes(m: string): number[] {
  return m.split(":").map((x) => parseInt(x, 16));
}

/** An Ethernet frame around `payload`. */
function ether(dst: number[], src: number[], type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0); f.set(src, 6);
  f[12] = type >> 8; f[13] = type & 255;
  f.set(payload, 14);
  return f;
}

/** Fragment [a, e) of the IPv4 datagram `d` (20-byte header), MF as given, header checksum right. */
function frag(d: Uint8Array, a: number, e: number, mf: boolean): Uint8Array {
  const f = new Uint8Array(20 + e - a);
  f.set(d.subarray(0, 20));
  f.set(d.subarray(20 + a, 20 + e), 20);
  f[2] = f.length >> 8; f[3] = f.length & 255;
  const fo = (a >> 3) | (mf ? 0x2000 : 0);
  f[6] = fo >> 8; f[7] = fo & 255;
  f[10] = 0; f[11] = 0;
  const s = 0xffff - csumFold(csumAdd(f, 0, 20, 0));
  f[10] = s >> 8; f[11] = s & 255;
  return f;
}

const EXT = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];

/**
 * The demo workload on Ethernet interfaces named as the node's links, with
 * ARP and IPv6 frames, the node's own transmissions, fragmented datagrams
 * (one fragment twice) and headers with ihl 4 interleaved.
 */
async function variedCapture(engine: Engine, file: string, n: number): Promise<void> {
  const pkts = demoPackets(n, 11);
  const bytes = packetBytes(engine, pkts);
  const big: PacketInput[] = [];
  for (let i = 0; i < 12; i++) big.push({ iif: "eth0", src: `52.1.2.${10 + i}`, dst: "10.0.0.10", proto: "udp", sport: 5000 + i, dport: 53, len: 2400, id: 300 + i, t: 0 });
  const bigBytes = packetBytes(engine, big);
  const macOf = (name: string) => {
    const slot = engine.node.slotByName.get(name);
    const m = slot !== undefined ? engine.node.devBySlot[slot]?.mac : undefined;
    return m && parseMac(m) !== undefined ? macBytes(m) : [0x02, 0, 0, 0, 0, 0x10];
  };
  const w = CaptureWriter.toFile(file, { linkType: 1 });
  const ids = new Map<string, number>();
  const idOf = (name: string) => { let id = ids.get(name); if (id === undefined) ids.set(name, (id = w.addInterface(name))); return id; };
  const put = (iif: string, t: number, f: Uint8Array) => w.packet(idOf(iif), Math.round(t * 1e9), f, 0, f.length);
  let bi = 0;
  pkts.forEach((p, i) => {
    const t = p.t ?? i / 1000;
    const mac = macOf(p.iif);
    put(p.iif, t, ether(mac, EXT, 0x0800, bytes[i]!));
    if (i % 97 === 5) put(p.iif, t, ether([255, 255, 255, 255, 255, 255], EXT, 0x0806, new Uint8Array(28).fill(1))); // ARP
    if (i % 131 === 7) put(p.iif, t, ether([0x33, 0x33, 0, 0, 0, 1], EXT, 0x86dd, new Uint8Array(48).fill(0x60))); // IPv6
    if (i % 89 === 11) put(p.iif, t, ether(EXT, mac, 0x0800, bytes[i]!)); // the node's own transmission
    if (i % 211 === 13) { // ip_rcv rejects the header (ihl 4): replayed as its drop
      const b = bytes[i]!.slice();
      b[0] = 0x44;
      put(p.iif, t, ether(mac, EXT, 0x0800, b));
    }
    if (i % 173 === 17 && bi < bigBytes.length) { // a datagram in three fragments, the middle one twice
      const d = bigBytes[bi++]!, m0 = macOf("eth0");
      put("eth0", t, ether(m0, EXT, 0x0800, frag(d, 0, 800, true)));
      put("eth0", t, ether(m0, EXT, 0x0800, frag(d, 800, 1600, true)));
      if (bi % 2 === 0) put("eth0", t, ether(m0, EXT, 0x0800, frag(d, 800, 1600, true)));
      put("eth0", t, ether(m0, EXT, 0x0800, frag(d, 1600, 2380, false)));
    }
  });
  await w.close();
}

let snapDir: string;
let capture: string;

beforeAll(async () => {
  const { node, snap } = demoNode();
  snapDir = join(dir, "node");
  mkdirSync(snapDir, { recursive: true });
  for (const [k, v] of Object.entries(node.files)) writeFileSync(join(snapDir, k), v);
  writeFileSync(join(snapDir, "iptables-save.txt"), snap.iptablesSave!);
  const engine = await demoEngine();
  capture = join(dir, "varied.pcapng");
  await variedCapture(engine, capture, 3000);
});

interface Run { status: number | null; stdout: string; stderr: string; summary: Record<string, unknown>; files: Record<string, Buffer> }

/** A replay into a fresh directory; the summary without its timing, the output files' bytes. */
function replay(name: string, file: string, extra: string[]): Run {
  const out = join(dir, name);
  mkdirSync(out, { recursive: true });
  const args = ["--snapshot", snapDir, "--pcap", file, "--batch", "64", "--jsonl", join(out, "r.jsonl"), "--counters", join(out, "counters.txt"), "--conntrack-dump", join(out, "ct.txt"), ...extra];
  const r = cli([...args, "--out", out]);
  const files: Record<string, Buffer> = {};
  for (const f of ["r.jsonl", "counters.txt", "ct.txt", "egress.pcapng"]) files[f] = readFileSync(join(out, f));
  const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Record<string, unknown>;
  delete summary.timing;
  // the table's timing line (seconds, packets/s) differs from run to run
  return { status: r.status, stdout: r.stdout.replace(/^.*packets\/s.*$/m, ""), stderr: r.stderr, summary, files };
}

function expectSame(a: Run, b: Run): void {
  expect(a.status).toBe(b.status);
  expect(a.stderr).toBe(b.stderr);
  expect(a.stdout).toBe(b.stdout);
  expect(a.summary).toEqual(b.summary);
  expect(JSON.stringify(a.summary)).toBe(JSON.stringify(b.summary));
  for (const f of Object.keys(b.files)) expect(a.files[f]!.equals(b.files[f]!), f).toBe(true);
}

describe("replay --pcap --decode-thread", () => {
  it("on and off: the same summary, JSONL, counters, connections and egress.pcapng, over many slots of the ring", () => {
    const on = replay("on", capture, ["--decode-thread", "on"]);
    const off = replay("off", capture, ["--decode-thread", "off"]);
    expect(off.status, off.stderr).toBe(0);
    expectSame(on, off);
    // the capture has what it is meant to have
    const input = off.summary.input as { packets: number; skipped: Record<string, number>; fragments: Record<string, number> };
    expect(input.packets).toBeGreaterThan(6 * 64 * 4); // many times the ring (6 slots of --batch 64)
    expect(Object.keys(input.skipped).join(",")).toMatch(/ARP/);
    expect(Object.keys(input.skipped).join(",")).toMatch(/IPv6/);
    expect(Object.entries(input.skipped).filter(([k]) => k.startsWith("outgoing: ")).length).toBeGreaterThan(0); // the node's frames, by what they are
    expect(Object.keys(input.fragments).join(",")).toMatch(/reassembled/);
    expect(Object.keys(input.fragments).join(",")).toMatch(/duplicate/);
    const counters = off.summary.counters as Record<string, number>;
    expect(counters.IpReasmOKs).toBeGreaterThan(0);
    expect(counters.IpInHdrErrors).toBeGreaterThan(0);
    expect(off.files["egress.pcapng"]!.length).toBeGreaterThan(100_000);
  });

  it("auto (the default) and without --out (no frames kept): the same results", () => {
    const auto = replay("auto", capture, []);
    const off = replay("off2", capture, ["--decode-thread", "off"]);
    expectSame(auto, off);
    // without --out: no frames kept, SLOT_BATCHES batches a slot at --batch 16; on, auto and
    // off, the ring wrapped many times (6 slots of 16 * SLOT_BATCHES descriptors)
    expect(slotBatches(16, false)).toBe(SLOT_BATCHES);
    expect((off.summary.input as { packets: number }).packets).toBeGreaterThan(6 * 16 * SLOT_BATCHES * 3);
    const runs = ["on", "auto", "off"].map((when) => {
      const d = join(dir, `plain-${when}`);
      mkdirSync(d, { recursive: true });
      const r = cli(["--snapshot", snapDir, "--pcap", capture, "--batch", "16", "--jsonl", join(d, "r.jsonl"), "--decode-thread", when]);
      return { status: r.status, stderr: r.stderr, stdout: r.stdout.replace(/^.*packets\/s.*$/m, ""), jsonl: readFileSync(join(d, "r.jsonl")) };
    });
    expect(runs[2]!.status, runs[2]!.stderr).toBe(0);
    for (const r of runs.slice(0, 2)) {
      expect(r.status).toBe(0);
      expect(r.stderr).toBe(runs[2]!.stderr);
      expect(r.stdout).toBe(runs[2]!.stdout);
      expect(r.jsonl.equals(runs[2]!.jsonl)).toBe(true);
    }
  });

  it("slots: a batch each with frames kept; else up to SLOT_BATCHES batches, at most SLOT_DESCRIPTORS descriptors unless one batch is more", () => {
    expect(slotBatches(1024, true)).toBe(1);
    expect(slotBatches(1024, false)).toBe(SLOT_BATCHES);
    expect(slotBatches(1, false)).toBe(SLOT_BATCHES);
    expect(slotBatches(SLOT_DESCRIPTORS / 2, false)).toBe(2);
    expect(slotBatches(SLOT_DESCRIPTORS, false)).toBe(1);
    expect(slotBatches(SLOT_DESCRIPTORS * 16, false)).toBe(1);
    for (const batch of [1, 3, 100, 1000, 1024, 3000, 8192, 100000]) {
      const k = slotBatches(batch, false);
      expect(batch * k <= Math.max(SLOT_DESCRIPTORS, batch)).toBe(true);
    }
  });

  it("a capture cut in the middle of a frame: the same error, byte offset and summary of the frames before it (status 2)", () => {
    const whole = readFileSync(capture);
    const cut = join(dir, "cut.pcapng");
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.6) + 3));
    const on = replay("cut-on", cut, ["--decode-thread", "on"]);
    const off = replay("cut-off", cut, ["--decode-thread", "off"]);
    expect(off.status).toBe(2);
    expect(off.stderr).toMatch(/cut\.pcapng: frame \d+, byte offset \d+: /);
    expectSame(on, off);
    const err = (off.summary.input as { error: { offset: number; frame: number } }).error;
    expect(err.offset).toBeGreaterThan(whole.length * 0.5);
    expect(err.frame).toBeGreaterThan(1000);
    expect((off.summary.input as { packets: number }).packets).toBeGreaterThan(1000);
  });

  it("a file that is not a capture, and frames no mapping places: the same messages", async () => {
    const junk = join(dir, "junk.pcap");
    writeFileSync(junk, Buffer.from("this is not a capture file at all, just words"));
    const a = cli(["--snapshot", snapDir, "--pcap", junk, "--decode-thread", "on"]);
    const b = cli(["--snapshot", snapDir, "--pcap", junk, "--decode-thread", "off"]);
    expect(b.status).toBe(2);
    expect(a.status).toBe(2);
    expect(a.stderr).toBe(b.stderr);
    expect(a.stderr).not.toMatch(/ at .*\.js:\d+/); // no stack trace
    // frames on an interface the node does not have: the explanation names the --ingress options
    const elsewhere = join(dir, "elsewhere.pcapng");
    const w = CaptureWriter.toFile(elsewhere, {});
    const id = w.addInterface("nosuch0");
    const ip = new Uint8Array(28);
    ip.set([0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 52, 1, 2, 3, 10, 0, 0, 10, 0x30, 0x39, 0, 53, 0, 8, 0, 0]);
    const s = 0xffff - csumFold(csumAdd(ip, 0, 20, 0));
    ip[10] = s >> 8; ip[11] = s & 255;
    w.packet(id, 0, ip, 0, ip.length);
    await w.close();
    const c = cli(["--snapshot", snapDir, "--pcap", elsewhere, "--decode-thread", "on"]);
    const d = cli(["--snapshot", snapDir, "--pcap", elsewhere, "--decode-thread", "off"]);
    expect(d.status).toBe(2);
    expect(d.stderr).toMatch(/--ingress/);
    expect(c.status).toBe(2);
    expect(c.stderr).toBe(d.stderr);
    // an unknown device in a mapping: named by the option, either way
    const e = cli(["--snapshot", snapDir, "--pcap", capture, "--ingress", "eth0=nosuch9", "--decode-thread", "on"]);
    const f = cli(["--snapshot", snapDir, "--pcap", capture, "--ingress", "eth0=nosuch9", "--decode-thread", "off"]);
    expect(f.status).toBe(2);
    expect(f.stderr).toMatch(/--ingress: "nosuch9" is not a link of the node/);
    expect(e.status).toBe(2);
    expect(e.stderr).toBe(f.stderr);
  });
});
