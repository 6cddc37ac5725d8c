/**
 * -j TTL, -j TOS, -j DSCP and -j CLASSIFY against the kernel, on packets the
 * node forwards (peer -> node -> far namespace): the targets in mangle
 * PREROUTING (before ip_forward's TTL check and decrement), FORWARD and
 * POSTROUTING, with matches after them that see the rewritten header. The
 * capture on the node's side is replayed through the emulator with the
 * kernel's own `iptables-legacy-save -c` text: every rule counter must be
 * the kernel's, and every packet the far side received must be, byte for
 * byte (TTL, TOS, the IP header checksum, the payload), the emulator's
 * egress frame for it (emitPacket, what egress.pcapng holds).
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync } from "node:fs";
import * as abi from "../../host/core/abi.js";
import { emitPacket } from "../../host/packet/emit.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { recordKernelRun, createNetnsPair, forwardToSilentFar, iptablesCounterLines, ipPacketsById, rawSenderPrelude, type NetnsPair } from "./netns-pair.js";
import { scratchDir, haveTool, replayEach, snapshotEngine } from "./helpers.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");
const FAR_CAPTURE = join(dir, "vx.pcapng");

const RULES = [
  "*mangle",
  ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
  "-A PREROUTING -s 192.0.2.21/32 -j TTL --ttl-set 20",
  "-A PREROUTING -s 192.0.2.22/32 -j TTL --ttl-inc 5",
  "-A PREROUTING -s 192.0.2.23/32 -j TTL --ttl-dec 10",
  "-A PREROUTING -s 192.0.2.24/32 -j TTL --ttl-inc 200",
  "-A PREROUTING -s 192.0.2.25/32 -j TTL --ttl-dec 100",
  "-A PREROUTING -s 192.0.2.26/32 -j TTL --ttl-set 1",
  "-A PREROUTING -s 192.0.2.27/32 -j TTL --ttl-set 2",
  "-A PREROUTING -s 192.0.2.31/32 -j DSCP --set-dscp 0x2e",
  "-A PREROUTING -s 192.0.2.32/32 -j DSCP --set-dscp-class AF41",
  "-A PREROUTING -s 192.0.2.33/32 -j TOS --set-tos 0x10/0x3f",
  "-A PREROUTING -s 192.0.2.34/32 -j TOS --and-tos 0x0f",
  "-A PREROUTING -s 192.0.2.35/32 -j TOS --or-tos 0x04",
  "-A PREROUTING -s 192.0.2.36/32 -j TOS --xor-tos 0x08",
  "-A PREROUTING -s 192.0.2.37/32 -j TOS --set-tos Minimize-Cost",
  "-A PREROUTING -m ttl --ttl-gt 100",
  "-A PREROUTING -m tos --tos 0x10/0x3f",
  "-A FORWARD -s 192.0.2.41/32 -j TTL --ttl-set 7",
  "-A FORWARD -s 192.0.2.42/32 -j TTL --ttl-dec 2",
  "-A FORWARD -m ttl --ttl-eq 19",
  "-A FORWARD -m ttl --ttl-eq 7",
  "-A FORWARD -m dscp --dscp 0x2e",
  "-A FORWARD -s 192.0.2.60/32 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200",
  "-A FORWARD -p tcp -m tcpmss --mss 1200",
  "-A FORWARD -p tcp -m tcpmss --mss 1201:65535",
  "-A POSTROUTING -s 192.0.2.43/32 -j TTL --ttl-inc 1",
  "-A POSTROUTING -s 192.0.2.44/32 -j DSCP --set-dscp 0x00",
  "-A POSTROUTING -s 192.0.2.45/32 -j CLASSIFY --set-class 0001:0010",
  "-A POSTROUTING -m ttl --ttl-lt 10",
  "-A POSTROUTING -m dscp --dscp 0x2e",
  "-A POSTROUTING -m tos --tos 0x00/0xfc",
  "COMMIT", "",
].join("\n");

/** [last octet of the source, TOS, TTL] of UDP datagrams to the far end. */
const FRAMES: [number, number, number][] = [
  [21, 0, 64], [22, 0, 64], [23, 0, 64], [24, 0, 64], [25, 0, 64], [26, 0, 64], [27, 0, 64],
  [31, 0x03, 64], [31, 0xb8, 64], [32, 0x01, 64], [33, 0xff, 64], [34, 0xb9, 64], [35, 0x10, 64], [36, 0x0b, 64], [37, 0xe3, 64],
  [41, 0, 64], [42, 0, 9], [43, 0, 64], [44, 0xbb, 64], [45, 0x20, 64], [50, 0x2e << 2, 3],
];

/** TCP segments from 192.0.2.60 to the far end: [TCP flags, options, payload]. */
const SEGMENTS: [number, string, string][] = [
  [0x02, "\\x02\\x04\\x05\\xb4", ""], // SYN, MSS 1460: lowered to 1200
  [0x02, "\\x02\\x04\\x03\\xe8", ""], // MSS 1000: never raised
  [0x02, "\\x01\\x01\\x04\\x02\\x03\\x03\\x07\\x00\\x02\\x04\\x23\\x28", ""], // MSS 9000 after SACK-perm, window scale, EOL
  [0x12, "\\x02\\x04\\x05\\xb4", ""], // SYN-ACK: the rule's --tcp-flags SYN,RST SYN takes it too
  [0x10, "\\x02\\x04\\x05\\xb4", ""], // ACK: not a SYN, the rule does not match
  [0x02, "", "data"], // no MSS, data after the header: left alone
  [0x02, "", ""], // no MSS, no data: an MSS option inserted (min(1200, 536))
];

const TOOLS = haveTool("dumpcap") && haveTool("python3") && haveTool("tcpdump");

let ns: NetnsPair | undefined;
let far = "";

describeKernel("-j TTL/TOS/DSCP/CLASSIFY, kernel vs emulator", () => {
  let kernelSave = "";
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    const n = (ns = createNetnsPair("xttgt"));
    // the far end answers nothing (its answers would be forwarded by the node too)
    far = forwardToSilentFar(n, "xttgt", "198.51.100.2", RULES);
    snapDir = join(dir, "snap");
    ({ kernelSave } = await recordKernelRun(n, {
      capture: CAPTURE, far: { ns: far, capture: FAR_CAPTURE }, snapDir, waitMs: 400, sender: (nodeMac) => [
        ...rawSenderPrelude(nodeMac),
        "ident = 0x100",
        "def udp(s_, tos, ttl):",
        "    global ident",
        "    ident += 1",
        "    d_ = '198.51.100.2'",
        "    seg = struct.pack('!HHHH', 4000, 9, 16, 0) + bytes(range(8))",
        "    seg = seg[:6] + struct.pack('!H', csum(socket.inet_aton(s_) + socket.inet_aton(d_) + struct.pack('!BBH', 0, 17, len(seg)) + seg) or 0xffff) + seg[8:]",
        "    h = struct.pack('!BBHHHBBH4s4s', 0x45, tos, 20 + len(seg), ident, 0, ttl, 17, 0, socket.inet_aton(s_), socket.inet_aton(d_))",
        "    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + seg",
        ...FRAMES.map(([o, tos, ttl]) => `s.send(dst + src + b'\\x08\\x00' + udp('192.0.2.${o}', ${tos}, ${ttl})); time.sleep(0.02)`),
        "def tcp(flags, opts, data):",
        "    global ident",
        "    ident += 1",
        "    s_, d_ = '192.0.2.60', '198.51.100.2'",
        "    seg = struct.pack('!HHIIBBHHH', 5000 + ident, 80, 1, 0, (5 + len(opts) // 4) << 4, flags, 8192, 0, 0) + opts + data",
        "    seg = seg[:16] + struct.pack('!H', csum(socket.inet_aton(s_) + socket.inet_aton(d_) + struct.pack('!BBH', 0, 6, len(seg)) + seg)) + seg[18:]",
        "    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(seg), ident, 0, 64, 6, 0, socket.inet_aton(s_), socket.inet_aton(d_))",
        "    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + seg",
        ...SEGMENTS.map(([f, o, d]) => `s.send(dst + src + b'\\x08\\x00' + tcp(${f}, b'${o}', b'${d}')); time.sleep(0.02)`),
      ].join("\n"),
    }));
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same rule counters, and the same bytes on the far side (TTL, TOS, checksums)", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    expect(kernelSave).toContain("-A PREROUTING -s 192.0.2.35/32 -j TOS --set-tos 0x04/0x04");
    expect(kernelSave).toContain("-A PREROUTING -s 192.0.2.32/32 -j DSCP --set-dscp 0x22");
    const engine = await snapshotEngine(snapDir);
    engine.loadRuleset(kernelSave, "iptables-legacy-save");
    const src = PcapSource.open(CAPTURE, engine, {});
    const emitted = new Map<number, string>();
    const tos = new Map<number, number | undefined>();
    const results = new Map<number, { mss?: number; len?: number }>();
    const out = new Uint8Array(65536);
    try {
      replayEach(engine, src, 1, (dv, p, k, index) => {
        if (dv.getUint8(p + abi.PKT_VERDICT) !== abi.VERDICT_FORWARD) return;
        const fr = src.frame(k);
        const n = emitPacket(fr.bytes, fr.offset, fr.length, dv, p, out, 0);
        const id = (out[4]! << 8) | out[5]!;
        emitted.set(id, Buffer.from(out.subarray(0, n)).toString("hex"));
        const r = engine.decodeRaw(k, index);
        tos.set(id, r.tos);
        results.set(id, r);
      });
    } finally {
      src.close();
    }
    // every counter the kernel's: those after the SYN into which TCPMSS inserted an option count its 4 bytes
    expect(iptablesCounterLines(engine.iptablesSave())).toEqual(iptablesCounterLines(kernelSave));
    const kernel = ipPacketsById(FAR_CAPTURE, "ip and src net 192.0.2.0/24");
    // what reached the far side: all but the two whose TTL the targets left at 1 or below (ip_forward drops them)
    expect(kernel.size).toBe(FRAMES.length - 2 + SEGMENTS.length);
    // the SYN without options or data: an MSS option of min(1200, 536) inserted, in the kernel's bytes and the emulator's
    const insertId = 0x101 + FRAMES.length + SEGMENTS.length - 1;
    expect(kernel.get(insertId)!.slice(40 * 2, 44 * 2)).toBe("02040218");
    expect(emitted.get(insertId)).toBe(kernel.get(insertId));
    expect(results.get(insertId)).toMatchObject({ mss: 536, len: 44 });
    expect(new Map([...emitted].sort((a, b) => a[0] - b[0]))).toEqual(new Map([...kernel].sort((a, b) => a[0] - b[0])));
    // TCPMSS lowered the 1460, 9000 and SYN-ACK options, and the results say so
    const first = 0x101 + FRAMES.length;
    expect([0, 1, 2, 3, 4, 5].map((k) => results.get(first + k)!.mss)).toEqual([1200, undefined, 1200, 1200, undefined, undefined]);
    // the results report the rewritten TOS (a DSCP target keeping the ECN bits: 0x03 -> 0xbb)
    expect(tos.get(0x101 + 7)).toBe(0xbb);
    expect(tos.get(0x101)).toBeUndefined();
  });
});
