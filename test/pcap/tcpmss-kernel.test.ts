/**
 * -j TCPMSS --clamp-mss-to-pmtu and the MSS option TCPMSS inserts, against
 * the kernel, on SYNs the node forwards (peer -> node -> far namespace):
 *
 *  - the clamp: min(the packet's route MTU, the MTU of the output route back
 *    to its source) - 40, with route MTUs from a device (vo at 1280), a
 *    route `mtu` metric (1400, above the device's), reverse routes with a
 *    smaller MTU (a host route to the source at mtu 1000), reverse lookups
 *    that fail (no route, unreachable, blackhole, prohibit: ~0, the forward
 *    MTU decides), and the drop when the smaller MTU is 40 or less (either
 *    way); in a user chain jumped to from FORWARD, and in POSTROUTING;
 *  - the insertion into a SYN without an MSS option or data: min(newmss,
 *    536) right after the 20-byte header, other options moved back, doff
 *    variants (6 -> 7, 14 -> 15, 15 left alone), an MSS option of the wrong
 *    length (not found: inserted), the MTU at output seeing the longer
 *    packet (DF: ICMP frag needed and FragFails; without DF: fragmented).
 *
 * The node's capture is replayed through the emulator (the JIT-compiled rule
 * walks, and the interpreter) with the kernel's `iptables-legacy-save -c`
 * ruleset: every rule counter (the inserted 4 bytes in those after the
 * target), the SNMP counters of the output path, and every packet the far
 * side received, byte for byte, must be the kernel's. And iptables-restore
 * refuses the clamp in PREROUTING and INPUT as the parser does.
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import * as abi from "../../host/core/abi.js";
import { Engine } from "../../host/engine.js";
import { emitPacket, synthesizePacket } from "../../host/packet/emit.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import { readSnapshotDir } from "../../host/snapshot/read.js";
import { parseIptablesSave } from "../../host/netfilter/parse.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { expectInputError } from "../snapshot/helpers.js";
import {
  recordKernelRun, startCapture, stopCapture, createNetnsPair, addFarNamespace, legacyRestore, iptablesCounterLines, ipPacketsById, peerIpIds,
  rawSenderPrelude, sendFramesPy, counterDeltas, type NetnsPair, type KernelRun,
} from "./netns-pair.js";
import { scratchDir, haveTool, replayEach } from "./helpers.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");
const FAR_CAPTURE = join(dir, "vx.pcapng");
const PEER_CAPTURE = join(dir, "vp.pcapng");

const RULES = [
  "*mangle",
  ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ":CLAMP - [0:0]",
  "-A FORWARD ! -d 203.0.113.128/25 -p tcp -j CLAMP",
  "-A FORWARD -p tcp -m tcpmss --mss 0:535",
  "-A FORWARD -p tcp -m tcpmss --mss 536",
  "-A FORWARD -p tcp -m tcpmss --mss 537:65535",
  "-A CLAMP -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu",
  "-A CLAMP -p tcp -m tcpmss --mss 536",
  "-A OUTPUT -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu",
  "-A POSTROUTING -d 203.0.113.128/25 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu",
  "-A POSTROUTING -p tcp -m tcpmss --mss 536",
  "-A POSTROUTING -p tcp -m tcpmss ! --mss 536",
  "COMMIT",
  // after mangle FORWARD: the ICMP error quotes the segment as TCPMSS left it
  "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  "-A FORWARD -d 203.0.113.99/32 -p tcp -j REJECT --reject-with icmp-port-unreachable",
  "COMMIT", "",
].join("\n");

/** The node's routes beside its two subnets (vn 192.0.2.2/24, vo 198.51.100.1/24 at MTU 1280). */
const ROUTES = [
  "203.0.113.0/24 via 198.51.100.2 dev vo mtu 1400",
  "203.0.113.40/32 via 198.51.100.2 dev vo mtu 40",
  "203.0.113.44/32 via 198.51.100.2 dev vo mtu 44",
  "203.0.113.60/32 via 198.51.100.2 dev vo mtu 60",
  "192.0.2.77/32 dev vn mtu 1000",
  "192.0.2.78/32 dev vn mtu 40",
  "unreachable 10.98.0.0/16",
  "blackhole 10.97.0.0/16",
  "prohibit 10.96.0.0/16",
];

const NOP = "\\x01";
const MSS = (v: number) => `\\x02\\x04\\x${(v >> 8).toString(16).padStart(2, "0")}\\x${(v & 255).toString(16).padStart(2, "0")}`;

/**
 * The SYNs (and a few others) the peer sends: source, destination, TCP
 * flags, options and payload (Python byte-string bodies), DF; what the
 * emulator's result must say (`mss`, `len`, or the drop), the same the kernel
 * did as the far capture shows.
 */
interface Case { s: string; d: string; flags?: number; opts?: string; data?: string; df?: boolean; mss?: number; len?: number; drop?: boolean; note: string }
const CASES: Case[] = [
  { s: "192.0.2.10", d: "198.51.100.2", opts: MSS(1460), mss: 1240, note: "device MTU 1280" },
  { s: "192.0.2.10", d: "198.51.100.2", opts: MSS(1000), note: "MSS below the clamp: never raised" },
  { s: "192.0.2.10", d: "203.0.113.5", opts: MSS(1460), mss: 1360, note: "route mtu 1400 (above the device's 1280)" },
  { s: "192.0.2.77", d: "203.0.113.5", opts: MSS(1460), mss: 960, note: "the route back to the source: mtu 1000" },
  { s: "192.0.2.77", d: "198.51.100.2", opts: MSS(1460), mss: 960, note: "reverse 1000 below the device's 1280" },
  { s: "10.99.0.5", d: "203.0.113.5", opts: MSS(1460), mss: 1360, note: "no route back: the forward MTU" },
  { s: "10.98.0.5", d: "198.51.100.2", opts: MSS(1460), mss: 1240, note: "unreachable route back" },
  { s: "10.97.0.5", d: "203.0.113.5", opts: MSS(1460), mss: 1360, note: "blackhole route back" },
  { s: "10.96.0.5", d: "203.0.113.5", opts: MSS(1460), mss: 1360, note: "prohibit route back" },
  { s: "192.0.2.10", d: "198.51.100.2", mss: 536, len: 44, note: "bare SYN: MSS min(1240, 536) inserted" },
  { s: "192.0.2.77", d: "203.0.113.44", mss: 4, len: 44, note: "bare SYN, route mtu 44: MSS 4 inserted, 44 bytes fit" },
  { s: "192.0.2.77", d: "203.0.113.44", opts: MSS(1460), mss: 4, note: "route mtu 44: lowered to 4" },
  { s: "192.0.2.10", d: "203.0.113.40", opts: MSS(1460), drop: true, note: "route mtu 40: dropped" },
  { s: "192.0.2.78", d: "198.51.100.2", opts: MSS(1460), drop: true, note: "route back at mtu 40: dropped" },
  { s: "192.0.2.10", d: "198.51.100.2", opts: "\\x04\\x02\\x01\\x01", mss: 536, len: 48, note: "SACK-perm, NOP, NOP: doff 6 -> 7" },
  { s: "192.0.2.10", d: "198.51.100.2", opts: "\\x03\\x03\\x07" + NOP.repeat(33), mss: 536, len: 80, note: "doff 14 -> 15" },
  { s: "192.0.2.10", d: "198.51.100.2", opts: NOP.repeat(40), note: "doff 15: no room" },
  { s: "192.0.2.10", d: "198.51.100.2", opts: "\\x02\\x03\\x05\\x01", mss: 536, len: 48, note: "an MSS option of length 3: not found, inserted" },
  { s: "192.0.2.10", d: "198.51.100.2", data: "hello", note: "data after the header: left alone" },
  { s: "192.0.2.10", d: "198.51.100.2", flags: 0x12, opts: MSS(9000), mss: 1240, note: "SYN-ACK" },
  { s: "192.0.2.10", d: "198.51.100.2", flags: 0x10, opts: MSS(1460), note: "ACK: the rule does not match" },
  { s: "192.0.2.10", d: "203.0.113.130", opts: MSS(1460), mss: 1360, note: "clamped in POSTROUTING" },
  { s: "192.0.2.10", d: "203.0.113.131", mss: 536, len: 44, note: "inserted in POSTROUTING" },
  { s: "192.0.2.10", d: "203.0.113.99", mss: 536, len: 44, drop: true, note: "inserted, then REJECT: the quote has the option" },
  { s: "192.0.2.10", d: "203.0.113.99", opts: "\\x01\\x01\\x04\\x02" + MSS(1460), mss: 1360, drop: true, note: "lowered, then REJECT: the quote has the new value" },
  { s: "192.0.2.10", d: "203.0.113.60", opts: NOP.repeat(20), df: true, mss: 20, len: 64, drop: true, note: "DF, 60 bytes at mtu 60: 64 after the insertion, frag needed" },
  { s: "192.0.2.10", d: "203.0.113.60", opts: NOP.repeat(20), mss: 20, len: 64, note: "60 bytes at mtu 60 without DF: 64, fragmented" },
];
const FIRST_ID = 0x201;

/**
 * SYNs the node itself sends (a raw socket in its namespace, from
 * 198.51.100.1, IP ids from LOCAL_ID): OUTPUT's clamp, the route back to
 * the node's own address going through lo (65536, taken as at most 65520).
 */
interface LocalCase { d: string; mss?: number; want: number; len?: number }
const LOCAL: LocalCase[] = [
  { d: "198.51.100.2", mss: 1460, want: 1240 },
  { d: "203.0.113.5", mss: 1460, want: 1360 },
  { d: "198.51.100.2", want: 536, len: 44 },
  { d: "203.0.113.44", want: 4, len: 44 },
];
const LOCAL_ID = 0x301;
/** The Python program the node runs to send LOCAL. */
const LOCAL_SENDER = [
  "import socket, struct, time",
  "def csum(b):",
  "    if len(b) % 2: b += b'\\x00'",
  "    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))",
  "    while s >> 16: s = (s & 0xffff) + (s >> 16)",
  "    return ~s & 0xffff",
  "s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)",
  "def syn(ident, d_, opts):",
  "    s_ = '198.51.100.1'",
  "    seg = struct.pack('!HHIIBBHHH', 6000 + ident - 0x300, 80, 1, 0, (5 + len(opts) // 4) << 4, 2, 8192, 0, 0) + opts",
  "    seg = seg[:16] + struct.pack('!H', csum(socket.inet_aton(s_) + socket.inet_aton(d_) + struct.pack('!BBH', 0, 6, len(seg)) + seg)) + seg[18:]",
  "    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(seg), ident, 0, 64, 6, 0, socket.inet_aton(s_), socket.inet_aton(d_))",
  "    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + seg",
  ...LOCAL.map((c, i) => `s.sendto(syn(${LOCAL_ID + i}, '${c.d}', b'${c.mss ? MSS(c.mss) : ""}'), ('${c.d}', 0)); time.sleep(0.02)`),
].join("\n");

/** An IPv4 packet's hex without its IP id and header checksum (the node's own ICMP ids are not modelled): "header|rest". */
function icmpView(hex: string): string {
  return hex.slice(0, 8) + hex.slice(12, 20) + hex.slice(24, 40) + "|" + hex.slice(40);
}
const FRAG_ID = FIRST_ID + CASES.length - 1;

const COUNTERS = ["IpForwDatagrams", "IpFragOKs", "IpFragFails", "IpFragCreates", "IcmpOutDestUnreachs", "IcmpOutMsgs"];

const TOOLS = haveTool("dumpcap") && haveTool("python3") && haveTool("tcpdump") && haveTool("nstat") && haveTool("iptables-legacy-restore");

let ns: NetnsPair | undefined;

describeKernel("-j TCPMSS --clamp-mss-to-pmtu and the inserted MSS option, kernel vs emulator", () => {
  let run: KernelRun;
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    const n = (ns = createNetnsPair("tcpmss"));
    const far = addFarNamespace(n, "tcpmss", "198.51.100.2", { mtu: 1280, silent: true });
    n.inNs(n.node, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.vn.rp_filter=0", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.vn.send_redirects=0"]);
    for (const r of ROUTES) n.inNs(n.node, ["ip", "route", "add", ...r.split(" ")]);
    // the senders' address the node's ICMP errors go to is the peer's (no one would answer its ARP)
    const peerMac = n.inNs(n.peer, ["cat", "/sys/class/net/vp/address"]).trim();
    n.inNs(n.node, ["ip", "neigh", "replace", "192.0.2.10", "lladdr", peerMac, "dev", "vn", "nud", "permanent"]);
    legacyRestore(n, RULES);
    n.inNs(n.node, ["ping", "-c", "1", "-W", "1", "198.51.100.2"], false);
    snapDir = join(dir, "snap");
    // the node's ICMP errors, as the peer receives them
    const peerCap = await startCapture(n.peer, ["dumpcap", "-q", "-i", "vp", "-f", "icmp", "-w", PEER_CAPTURE]);
    run = await recordKernelRun(n, {
      capture: CAPTURE, filter: "tcp", far: { ns: far, capture: FAR_CAPTURE }, snapDir, waitMs: 400, sender: (nodeMac) => {
        // first the node's own SYNs (inside the run: captured on the far side, in the counters)
        n.inNs(n.node, ["python3", "-c", LOCAL_SENDER]);
        return [
        ...rawSenderPrelude(nodeMac),
        "ident = 0x200",
        "def tcp(s_, d_, flags, opts, data, df):",
        "    global ident",
        "    ident += 1",
        "    seg = struct.pack('!HHIIBBHHH', 5000 + ident, 80, 1, 0, (5 + len(opts) // 4) << 4, flags, 8192, 0, 0) + opts + data",
        "    seg = seg[:16] + struct.pack('!H', csum(socket.inet_aton(s_) + socket.inet_aton(d_) + struct.pack('!BBH', 0, 6, len(seg)) + seg)) + seg[18:]",
        "    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(seg), ident, 0x4000 if df else 0, 64, 6, 0, socket.inet_aton(s_), socket.inet_aton(d_))",
        "    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + seg",
        ...sendFramesPy(CASES.map((c) => `tcp('${c.s}', '${c.d}', ${c.flags ?? 2}, b'${c.opts ?? ""}', b'${c.data ?? ""}', ${c.df ? "True" : "False"})`)),
        ].join("\n");
      },
    });
    await stopCapture(peerCap);
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  /** The capture through an engine on the node's snapshot with the kernel's ruleset: far-side bytes by IP id, results, counters. */
  async function replay(jit: boolean) {
    const snap = await readSnapshotDir(snapDir);
    const engine = await Engine.create({ seed: 1, jit });
    engine.load(snap, { hz: snap.hz });
    engine.loadRuleset(run.kernelSave, "iptables-legacy-save");
    const src = PcapSource.open(CAPTURE, engine, {});
    const emitted = new Map<number, string>();
    /** The node's ICMP errors, in order: the IPv4 header but its id and checksum, then the ICMP message (the quote). */
    const icmp: string[] = [];
    const ring = engine.core.reply_ring_ptr();
    const results = new Map<number, { verdict: string; mss?: number; len?: number; frags?: number; replies: { icmp_type?: number; icmp_code?: number; mtu?: number }[] }>();
    const out = new Uint8Array(65536);
    try {
      replayEach(engine, src, 1, (dv, p, k, index) => {
        const id = dv.getUint16(p + abi.PKT_IPID, true);
        results.set(id, engine.decodeRaw(k, index));
        const fr = src.frame(k);
        const first = dv.getUint32(p + abi.PKT_REPLY_FIRST, true);
        for (let j = 0; j < dv.getUint16(p + abi.PKT_REPLY_COUNT, true); j++) {
          const qp = ring + (first + j) * abi.PKT_SIZE;
          if (dv.getUint8(qp + abi.PKT_VERDICT) !== abi.VERDICT_FORWARD) continue;
          const n = synthesizePacket(dv, qp, out, 0, fr);
          icmp.push(icmpView(Buffer.from(out.subarray(0, n)).toString("hex")));
        }
        if (dv.getUint8(p + abi.PKT_VERDICT) !== abi.VERDICT_FORWARD) return;
        const n = emitPacket(fr.bytes, fr.offset, fr.length, dv, p, out, 0);
        emitted.set((out[4]! << 8) | out[5]!, Buffer.from(out.subarray(0, n)).toString("hex"));
      });
    } finally {
      src.close();
    }
    // the node's own SYNs (JSONL: the same fields as the raw socket's), synthesised as they leave
    const local = engine.process(LOCAL.map((c, i) => ({
      iif: "local", src: "198.51.100.1", dst: c.d, proto: "tcp", sport: 6000 + LOCAL_ID + i - 0x300, dport: 80, flags: "S", seq: 1, win: 8192,
      id: LOCAL_ID + i, ttl: 64, ...(c.mss ? { mss: c.mss, doff: 6, len: 44 } : { len: 40 }),
    })));
    const dv = engine.mem.dv;
    local.forEach((r, i) => {
      if (r.verdict !== "forward") return;
      const n = synthesizePacket(dv, engine.batchBuffer.ptr + i * abi.PKT_SIZE, out, 0);
      emitted.set(LOCAL_ID + i, Buffer.from(out.subarray(0, n)).toString("hex"));
    });
    return { engine, emitted, results, icmp, local };
  }

  for (const jit of [true, false]) {
    it.skipIf(!TOOLS)(`the kernel's MSS values, drops, rule counters, SNMP counters and far-side bytes (${jit ? "compiled" : "interpreted"} rule walks)`, async () => {
      const { engine, emitted, results, icmp, local } = await replay(jit);
      const walks = engine.ruleset!.stats.jit;
      expect("walks" in walks && walks.walks.length > 0).toBe(jit);
      // every rule counter the kernel's (the chains after an insertion count 4 more bytes)
      expect(iptablesCounterLines(engine.iptablesSave())).toEqual(iptablesCounterLines(run.kernelSave));
      const { kernel, emulated } = counterDeltas(COUNTERS, run.before, run.after, engine.counters());
      expect(emulated).toEqual(kernel);
      expect(engine.counters().IpOutTransmits).toBe(run.after.IpOutTransmits! - run.before.IpOutTransmits!);
      expect(kernel.IpFragFails).toBe(1);
      expect(kernel.IpFragCreates).toBe(2);
      // the far side's packets: every one the emulator forwarded, byte for byte (the fragmented one aside)
      const far = ipPacketsById(FAR_CAPTURE, "ip and tcp");
      const farIds = peerIpIds(FAR_CAPTURE);
      expect(farIds.filter((i) => i === FRAG_ID).length).toBe(2);
      expect(results.get(FRAG_ID)!.frags).toBe(2);
      far.delete(FRAG_ID);
      emitted.delete(FRAG_ID);
      expect(new Map([...emitted].sort((a, b) => a[0] - b[0]))).toEqual(new Map([...far].sort((a, b) => a[0] - b[0])));
      // what each case is about, in the emulator's results (the far capture shows the kernel did the same)
      const got = CASES.map((_, i) => {
        const r = results.get(FIRST_ID + i)!;
        return { drop: r.verdict === "drop", mss: r.mss, len: r.len };
      });
      expect(got).toEqual(CASES.map((c) => ({ drop: c.drop ?? false, mss: c.mss, len: c.len })));
      expect(CASES.filter((c) => !c.drop).length + LOCAL.length).toBe(far.size + 1);
      // the node's own SYNs: clamped in OUTPUT (the far side has them, byte for byte, above)
      expect(local.map((r) => ({ verdict: r.verdict, mss: r.mss, len: r.len }))).toEqual(LOCAL.map((c) => ({ verdict: "forward", mss: c.want, len: c.len })));
      expect(LOCAL.map((_, i) => far.get(LOCAL_ID + i)!.slice(80, 88))).toEqual(LOCAL.map((c) => `0204${c.want.toString(16).padStart(4, "0")}`));
      // the inserted options, as the kernel wrote them: after the 20-byte header, the old options behind
      const hex = (i: number) => far.get(FIRST_ID + i)!;
      expect(hex(9).slice(80, 88)).toBe("02040218");
      expect(hex(10).slice(80, 88)).toBe("02040004");
      expect([hex(14).slice(64, 68), hex(14).slice(80, 96)]).toEqual(["7002", "0204021804020101"]);
      // the DF packet too long after the insertion: ICMP frag needed with the route's MTU
      expect(results.get(FIRST_ID + CASES.length - 2)!.replies.map((q) => [q.icmp_type, q.icmp_code, q.mtu])).toEqual([[3, 4, 60]]);
      // the node's ICMP errors as the peer received them (REJECT's two, the frag needed), quotes byte for byte:
      // the inserted option (4 more bytes) and the lowered one, with the quoted checksums the kernel's
      const peer = [...ipPacketsById(PEER_CAPTURE, "icmp").values()].map(icmpView);
      expect(peer.length).toBe(3);
      expect(icmp).toEqual(peer);
      const opts = (h: string) => h.slice(h.indexOf("|") + 1 + 96, h.indexOf("|") + 1 + 112); // the quoted TCP header's first 8 option bytes
      expect(peer.map(opts)).toEqual(["02040218", "0101040202040550", "0204001401010101"]);
    });
  }

  it.skipIf(!TOOLS)("the clamp in PREROUTING or INPUT: iptables-restore fails, the parser refuses it naming line and token", () => {
    const syn = "-p tcp -m tcp --tcp-flags SYN,RST SYN";
    const sets = [
      ["*mangle", ":PREROUTING ACCEPT [0:0]", `-A PREROUTING ${syn} -j TCPMSS --clamp-mss-to-pmtu`, "COMMIT", ""],
      ["*filter", ":INPUT ACCEPT [0:0]", ":C - [0:0]", "-A INPUT -j C", `-A C ${syn} -j TCPMSS --clamp-mss-to-pmtu`, "COMMIT", ""],
      // accepted: OUTPUT, and a chain reached from FORWARD only
      ["*filter", ":OUTPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":C - [0:0]", "-A FORWARD -j C", `-A C ${syn} -j TCPMSS --clamp-mss-to-pmtu`,
        `-A OUTPUT ${syn} -j TCPMSS --clamp-mss-to-pmtu`, "COMMIT", ""],
    ].map((l) => l.join("\n"));
    const restore = (text: string) => spawnSync("ip", ["netns", "exec", ns!.node, "iptables-legacy-restore"], { input: text, encoding: "utf8" }).status;
    expect(sets.map(restore)).toEqual([1, 1, 0]);
    expectInputError(() => parseIptablesSave(sets[0]!, "rules"), "rules", 3, "TCPMSS");
    const e = expectInputError(() => parseIptablesSave(sets[1]!, "rules"), "rules", 5, "TCPMSS");
    expect(e.problem).toMatch(/--clamp-mss-to-pmtu \(path-MTU clamping\) is not allowed in INPUT \(chain C is reached from INPUT\)/);
    expect(() => parseIptablesSave(sets[2]!, "rules")).not.toThrow();
  });
});
