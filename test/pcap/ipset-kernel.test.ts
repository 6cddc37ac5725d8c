/**
 * `-m set` against the kernel: every modelled set type (hash:ip with a
 * netmask, hash:net with `nomatch` elements, hash:ip,port with TCP, UDP,
 * ICMP, SCTP, UDP-Lite and a protocol without ports, hash:net,port,
 * hash:ip,port,ip, hash:ip,port,net, bitmap:port, bitmap:ip, list:set with
 * an inet6 member), src/dst flags, fewer flags than the set's dimension, `!`,
 * --return-nomatch, and a TCP header too short for its ports. The sets are
 * loaded with `ipset restore` and the rules with iptables-legacy-restore in
 * the node namespace; raw frames from the peer are captured there; the
 * snapshot script's ipset.txt (`ipset save`) and the kernel's own
 * `iptables-legacy-save` text are loaded into the emulator, which replays
 * the capture: every rule counter must be the kernel's.
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { describeKernel } from "../kernel/kernel-gate.js";
import { recordKernelRun, createNetnsPair, iptablesCounterLines, legacyRestore, RAW_IP_HELPERS, rawSenderPrelude, type NetnsPair } from "./netns-pair.js";
import { scratchDir, haveTool, replayKernelCapture } from "./helpers.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");

const SETS = `
create hip hash:ip netmask 24
add hip 10.1.2.0
create hnet hash:net
add hnet 10.0.0.0/8
add hnet 10.1.0.0/16 nomatch
add hnet 10.1.5.0/24
add hnet 192.0.2.1
create hipport hash:ip,port
add hipport 192.0.2.2,tcp:80
add hipport 192.0.2.2,udp:53
add hipport 192.0.2.2,icmp:echo-request
add hipport 192.0.2.2,sctp:9
add hipport 192.0.2.2,gre:0
add hipport 192.0.2.2,udplite:7
create hnetport hash:net,port
add hnetport 10.0.0.0/8,tcp:1000
add hnetport 10.1.0.0/16,tcp:1000 nomatch
create hipportip hash:ip,port,ip
add hipportip 192.0.2.2,tcp:80,10.1.2.3
create hipportnet hash:ip,port,net
add hipportnet 192.0.2.2,tcp:80,10.0.0.0/8
add hipportnet 192.0.2.2,tcp:80,10.1.0.0/16 nomatch
create bport bitmap:port range 1000-2000
add bport 1000
add bport 1500
create bip bitmap:ip range 10.1.0.0-10.1.255.255 netmask 24
add bip 10.1.2.0
create v6 hash:net family inet6
add v6 fe80::/64
create lst list:set size 8
add lst v6
add lst hip
add lst hipport
`;

const RULES = [
  "*filter",
  ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  ...[
    "-m set --match-set hip src",
    "-m set ! --match-set hip src",
    "-m set --match-set hnet src",
    "-m set --match-set hnet src --return-nomatch",
    "-m set ! --match-set hnet src --return-nomatch",
    "-m set --match-set hipport dst,dst",
    "-m set --match-set hipport dst,src",
    "-m set --match-set hipport dst",
    "-m set --match-set hipport dst,dst ! --update-counters",
    "-m set --match-set hnetport src,src",
    "-m set --match-set hnetport src,dst --return-nomatch",
    "-m set --match-set hipportip dst,dst,src",
    "-m set --match-set hipportnet dst,dst,src",
    "-m set --match-set hipportnet dst,dst,src --return-nomatch",
    "-m set --match-set bport dst",
    "-m set --match-set bport src",
    "-m set --match-set bip src",
    "-m set --match-set lst src,dst",
    "-m set --match-set lst dst,dst",
    "-m set --match-set hip src,dst,dst",
  ].map((m) => `-A INPUT ${m}`),
  "COMMIT", "",
].join("\n");

/** The frames (python expressions of IPv4 packets to the node, 192.0.2.2). */
const FRAMES = [
  "tcp('10.1.2.3', 1000, 80)",
  "tcp('10.1.5.9', 1500, 80)",
  "tcp('10.2.0.1', 1000, 1000)",
  "tcp('10.1.9.9', 1000, 1000)",
  "udp('10.1.2.3', 1500, 53)",
  "udp('10.1.2.3', 1000, 1000)",
  "icmp('10.1.2.3', 8)",
  "icmp('10.0.0.5', 0)",
  "ip('10.1.2.3', L, 132, struct.pack('!HHII', 5000, 9, 1, 0) + struct.pack('!BBHIIHHI', 1, 0, 20, 1, 65535, 1, 1, 1))",
  "ip('10.1.2.3', L, 47, b'\\x00\\x00\\x08\\x00')",
  "ip('10.1.2.3', L, 136, struct.pack('!HHHH', 1000, 7, 0, 0) + b'lite')",
  "ip('10.1.2.3', L, 6, struct.pack('!HHI', 1000, 80, 1))",
  "tcp('192.0.2.1', 1000, 80)",
];

const TOOLS = haveTool("dumpcap") && haveTool("ipset");

let ns: NetnsPair | undefined;

describeKernel("-m set (ipset), kernel vs emulator", () => {
  let kernelSave = "";
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    const n = (ns = createNetnsPair("ipset"));
    const r = spawnSync("ip", ["netns", "exec", n.node, "ipset", "restore"], { input: SETS, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ipset restore: ${r.stderr}`);
    legacyRestore(n, RULES);
    snapDir = join(dir, "snap");
    ({ kernelSave } = await recordKernelRun(n, {
      capture: CAPTURE, snapDir, waitMs: 400, sender: (nodeMac) => [
      ...rawSenderPrelude(nodeMac),
      ...RAW_IP_HELPERS,
      "L = '192.0.2.2'",
      "def tcp(a, sp, dp):",
      "    seg = struct.pack('!HHIIBBHHH', sp, dp, 1, 0, 0x50, 0x02, 8192, 0, 0)",
      "    return ip(a, L, 6, seg[:16] + struct.pack('!H', l4sum(a, L, 6, seg)) + seg[18:])",
      "def udp(a, sp, dp):",
      "    seg = struct.pack('!HHHH', sp, dp, 12, 0) + b'data'",
      "    return ip(a, L, 17, seg[:6] + struct.pack('!H', l4sum(a, L, 17, seg) or 0xffff) + seg[8:])",
      "def icmp(a, t):",
      "    m = struct.pack('!BBHHH', t, 0, 0, 7, 1) + b'ping'",
      "    return ip(a, L, 1, m[:2] + struct.pack('!H', csum(m)) + m[4:])",
      "ident = 0",
      "for f in [",
      ...FRAMES.map((py) => `    ${py},`),
      "]:",
      "    s.send(dst + src + b'\\x08\\x00' + f); time.sleep(0.02)",
    ].join("\n"),
    }));
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same rule counters for every set type, flag and option", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    // the snapshot script saved the sets (ipset save), which the engine loads with the snapshot
    expect(readFileSync(join(snapDir, "ipset.txt"), "utf8")).toContain("create hipportnet hash:ip,port,net");
    // the kernel's own text of the rules (as iptables-save prints -m set)
    const { engine, frames } = await replayKernelCapture(snapDir, CAPTURE, kernelSave);
    expect(frames).toBeGreaterThanOrEqual(FRAMES.length);
    const lines = iptablesCounterLines(kernelSave);
    expect(iptablesCounterLines(engine.iptablesSave())).toEqual(lines);
    // not vacuous: rules matched and rules did not, per the kernel
    const counts = lines.filter((l) => l.includes("-A INPUT")).map((l) => Number(/\[(\d+):/.exec(l)![1]));
    expect(counts.filter((c) => c > 0).length).toBeGreaterThan(10);
    expect(counts.filter((c) => c === 0).length).toBeGreaterThan(1);
  });
});
