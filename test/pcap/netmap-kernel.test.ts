/**
 * -j NETMAP against the kernel (nf_nat_netmap / netmap_tg4): a prefix mapped
 * 1:1 onto another, as DNAT in PREROUTING (the destination's host bits
 * kept) and as SNAT in POSTROUTING, alone and together on one connection,
 * for UDP and TCP, and the packets after the first of a connection (which
 * conntrack translates without the rule). The peer's frames are forwarded
 * by the node to a far namespace; the node's capture is replayed through
 * the emulator with the kernel's own `iptables-legacy-save -c` text: every
 * rule counter must be the kernel's, and every packet the far side received
 * must be the emulator's egress frame for it, byte for byte (addresses,
 * ports, IP and transport checksums).
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
  "*nat",
  ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
  "-A PREROUTING -d 198.51.200.0/24 -j NETMAP --to 198.51.100.0/24",
  "-A POSTROUTING -s 192.0.2.0/28 -o vo -j NETMAP --to 10.77.0.16/255.255.255.240",
  "-A POSTROUTING -d 198.51.100.2/32",
  "COMMIT", "",
].join("\n");

/** [source, destination, protocol, source port] of the peer's packets (each sent twice: the second is the connection's next packet). */
const FLOWS: [string, string, string, number][] = [
  ["192.0.2.5", "198.51.200.2", "udp", 4001], // both mapped: 10.77.0.21 -> 198.51.100.2
  ["192.0.2.20", "198.51.200.2", "udp", 4002], // the destination only
  ["192.0.2.6", "198.51.100.2", "udp", 4003], // the source only
  ["192.0.2.7", "198.51.200.2", "tcp", 5000], // TCP, both
];

const TOOLS = haveTool("dumpcap") && haveTool("python3") && haveTool("tcpdump");

let ns: NetnsPair | undefined;
let far = "";

describeKernel("-j NETMAP, kernel vs emulator", () => {
  let kernelSave = "";
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    const n = (ns = createNetnsPair("netmap"));
    // the far end answers nothing (its answers would be forwarded by the node too)
    far = forwardToSilentFar(n, "netmap", "198.51.100.2", RULES);
    snapDir = join(dir, "snap");
    ({ kernelSave } = await recordKernelRun(n, {
      capture: CAPTURE, far: { ns: far, capture: FAR_CAPTURE }, snapDir, waitMs: 400, sender: (nodeMac) => [
        ...rawSenderPrelude(nodeMac),
        "ident = 0x200",
        "def pkt(s_, d_, proto, sp, n):",
        "    global ident",
        "    ident += 1",
        "    if proto == 'udp':",
        "        seg = struct.pack('!HHHH', sp, 9, 12, 0) + b'd%03d' % n",
        "        seg = seg[:6] + struct.pack('!H', csum(socket.inet_aton(s_) + socket.inet_aton(d_) + struct.pack('!BBH', 0, 17, len(seg)) + seg) or 0xffff) + seg[8:]",
        "        p = 17",
        "    else:",
        "        seg = struct.pack('!HHIIBBHHH', sp, 80, 1000, 0, 0x50, 0x02, 8192, 0, 0)  # the second: a retransmitted SYN",
        "        seg = seg[:16] + struct.pack('!H', csum(socket.inet_aton(s_) + socket.inet_aton(d_) + struct.pack('!BBH', 0, 6, len(seg)) + seg)) + seg[18:]",
        "        p = 6",
        "    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(seg), ident, 0, 64, p, 0, socket.inet_aton(s_), socket.inet_aton(d_))",
        "    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + seg",
        "for n in range(2):",
        ...FLOWS.map(([s, d, proto, sp]) => `    s.send(dst + src + b'\\x08\\x00' + pkt('${s}', '${d}', '${proto}', ${sp}, n)); time.sleep(0.02)`),
      ].join("\n"),
    }));
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same rule counters, and the same translated bytes on the far side", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    expect(kernelSave).toContain("-A POSTROUTING -s 192.0.2.0/28 -o vo -j NETMAP --to 10.77.0.16/28");
    const engine = await snapshotEngine(snapDir);
    engine.loadRuleset(kernelSave, "iptables-legacy-save");
    const src = PcapSource.open(CAPTURE, engine, {});
    const emitted = new Map<number, string>();
    const out = new Uint8Array(65536);
    try {
      replayEach(engine, src, 1, (dv, p, k) => {
        if (dv.getUint8(p + abi.PKT_VERDICT) !== abi.VERDICT_FORWARD) return;
        const fr = src.frame(k);
        const n = emitPacket(fr.bytes, fr.offset, fr.length, dv, p, out, 0);
        emitted.set((out[4]! << 8) | out[5]!, Buffer.from(out.subarray(0, n)).toString("hex"));
      });
    } finally {
      src.close();
    }
    expect(iptablesCounterLines(engine.iptablesSave())).toEqual(iptablesCounterLines(kernelSave));
    const kernel = ipPacketsById(FAR_CAPTURE, "ip and dst host 198.51.100.2");
    expect(kernel.size).toBe(FLOWS.length * 2);
    expect(new Map([...emitted].sort((a, b) => a[0] - b[0]))).toEqual(new Map([...kernel].sort((a, b) => a[0] - b[0])));
    // not vacuous: the kernel mapped the addresses (10.77.0.21 = 0a4d0015 as the first datagram's source)
    expect(kernel.get(0x201)!.slice(24, 40)).toBe("0a4d0015c6336402");
  });
});
