/**
 * Our writers and packet builders, read by tshark: interface names,
 * addresses and ports as we wrote them, and no checksum tshark finds bad
 * (except where we asked for a bad one).
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import * as abi from "../../host/core/abi.js";
import { demoEngine, demoPackets, packetBytes, scratchDir, writeCapture, haveTool, tshark, VARIETY } from "./helpers.js";
import { replayCapture, type CaptureSink } from "../../host/pcap/replay.js";
import { CaptureWriter } from "../../host/pcap/write.js";
import { emitPacket, synthesizePacket } from "../../host/packet/emit.js";
import type { Engine } from "../../host/engine.js";
import type { PacketResult } from "../../host/packet/result.js";

const { dir, cleanup } = scratchDir();
afterAll(cleanup);
const HAVE = haveTool("tshark");
const CHECKS = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "sctp.checksum:crc-32c"];
const FIELDS = ["frame.interface_name", "ip.src", "ip.dst", "ip.proto", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
  "ip.checksum.status", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status", "sctp.checksum.status", "ip.ttl", "icmp.type", "ip.len"];

function fields(file: string): Record<string, string>[] {
  const r = tshark(["-n", "-r", file, ...CHECKS, "-T", "fields", "-E", "separator=/t", ...FIELDS.flatMap((f) => ["-e", f])]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trimEnd().split("\n").map((line) => {
    const v = line.split("\t");
    return Object.fromEntries(FIELDS.map((f, i) => [f, v[i] ?? ""]));
  });
}

/** Every checksum tshark checked is good (1); "2" is unverified (a quote too short), "3" not present (UDP's zero). */
function allGood(row: Record<string, string>): boolean {
  // an ICMP error quoting part of a longer packet: tshark checks the quoted transport checksum over the part
  // quoted only, and finds it wrong as it would in the kernel's own errors: only the IP and ICMP ones count
  const lens = row["ip.len"]!.split(",").map(Number);
  const partial = lens.length === 2 && lens[1]! > lens[0]! - 28;
  return ["ip.checksum.status", ...(partial ? [] : ["tcp.checksum.status", "udp.checksum.status"]), "icmp.checksum.status", "sctp.checksum.status"]
    .every((k) => row[k] === "" || row[k]!.split(",").every((x) => x === "1" || x === "2" || x === "3"));
}

describe.skipIf(!HAVE)("tshark reads what we write", () => {
  let engine: Engine;
  beforeAll(async () => { engine = await demoEngine(); });

  for (const format of ["pcapng", "pcap"] as const) {
    it(`${format}: synthesised packets of every kind decode with good checksums, except the ones made bad`, async () => {
      const bytes = packetBytes(engine, VARIETY);
      const f = join(dir, `variety.${format}`);
      await writeCapture(f, VARIETY, bytes, { format });
      const rows = fields(f);
      expect(rows.length).toBe(VARIETY.length);
      VARIETY.forEach((p, i) => {
        const row = rows[i]!;
        if (format === "pcapng") expect(row["frame.interface_name"]).toBe(p.iif);
        expect(row["ip.src"]!.split(",")[0]).toBe(p.src);
        expect(row["ip.dst"]!.split(",")[0]).toBe(p.dst);
        if (p.proto === "tcp") expect([row["tcp.srcport"], row["tcp.dstport"]]).toEqual([String(p.sport), String(p.dport)]);
        if (p.proto === "udp") expect([row["udp.srcport"], row["udp.dstport"]]).toEqual([String(p.sport), String(p.dport)]);
        // (other protocols' "bad" is REJECT's sum of their bytes, which tshark does not check)
        if (p.csum === "bad" && (p.proto === "tcp" || p.proto === "udp" || p.proto === 132)) {
          const k = p.proto === "tcp" ? "tcp.checksum.status" : p.proto === "udp" ? "udp.checksum.status" : "sctp.checksum.status";
          expect(row[k], JSON.stringify(p)).toBe("0");
        } else expect(allGood(row), `${JSON.stringify(p)} -> ${JSON.stringify(row)}`).toBe(true);
      });
    });
  }

  it("replayed packets as they leave (NAT, TTL) and the node's replies: tshark sees the result's addresses and ports, checksums good", async () => {
    const pkts = demoPackets(3000, 5);
    const bytes = packetBytes(engine, pkts);
    const cap = join(dir, "in.pcapng");
    await writeCapture(cap, pkts, bytes);
    const e = await demoEngine();
    const outFile = join(dir, "out.pcapng");
    const w = CaptureWriter.toFile(outFile, { format: "pcapng" });
    const ids = new Map<string, number>();
    const scratch = new Uint8Array(65536);
    const expected: { oif: string; src: string; dst: string; sport?: number; dport?: number; reply?: string }[] = [];
    const idOf = (n: string) => ids.get(n) ?? (ids.set(n, w.addInterface(n)), ids.get(n)!);
    const results: PacketResult[] = [];
    const sink: CaptureSink = {
      packet(k, index, frame) {
        const r = e.decodeRaw(k, index);
        results.push(r);
        const dv = e.mem.dv;
        const p = e.batchBuffer.ptr + k * abi.PKT_SIZE;
        if (r.verdict === "forward") {
          const n = emitPacket(frame.buf, frame.ipStart, frame.ipLength, dv, p, scratch, 0);
          w.packet(idOf(r.oif!), frame.tsNs, scratch, 0, n);
          expected.push({ oif: r.oif!, src: r.src, dst: r.dst, sport: r.sport, dport: r.dport });
        }
        const first = dv.getUint32(p + abi.PKT_REPLY_FIRST, true);
        r.replies.forEach((q, j) => {
          if (q.verdict !== "forward") return;
          const qp = e.core.reply_ring_ptr() + (first + j) * abi.PKT_SIZE;
          const n = synthesizePacket(dv, qp, scratch, 0, { bytes: frame.buf, offset: frame.ipStart, length: frame.ipLength });
          w.packet(idOf(q.oif!), frame.tsNs, scratch, 0, n);
          expected.push({ oif: q.oif!, src: q.src, dst: q.dst, sport: q.sport, dport: q.dport, reply: q.kind === "icmp" ? String(q.icmp_type) : "tcp" });
        });
      },
      flush: () => w.flush(),
    };
    const st = await replayCapture(e, cap, sink);
    await w.close();
    expect(st.error).toBeUndefined();
    const rows = fields(outFile);
    expect(rows.length).toBe(expected.length);
    let natted = 0, replies = 0;
    rows.forEach((row, i) => {
      const x = expected[i]!;
      expect(row["frame.interface_name"]).toBe(x.oif);
      // ICMP errors list the quoted header's fields after the outer ones
      const first = (k: string) => row[k]!.split(",")[0];
      expect([first("ip.src"), first("ip.dst")]).toEqual([x.src, x.dst]);
      if (row["tcp.srcport"] && !x.reply) expect([row["tcp.srcport"], row["tcp.dstport"]]).toEqual([String(x.sport), String(x.dport)]);
      if (row["udp.srcport"] && !x.reply) expect([row["udp.srcport"], row["udp.dstport"]]).toEqual([String(x.sport), String(x.dport)]);
      if (x.reply) { replies++; if (x.reply !== "tcp") expect(row["icmp.type"]!.split(",")[0]).toBe(x.reply); }
      expect(allGood(row), `${JSON.stringify(x)} -> ${JSON.stringify(row)}`).toBe(true);
    });
    for (const r of results) if (r.nat?.includes("DNAT") || r.nat?.includes("SNAT")) natted++;
    expect(natted).toBeGreaterThan(100);
    expect(replies).toBeGreaterThan(10);
  });
});
