/**
 * `-m rpfilter` against the kernel (ipt_rpfilter.c). The node namespace gets
 * a second device d0 (10.9.0.1/24, a veth) and policy routing that makes the reverse
 * lookup's answers differ by option:
 *
 *   main       198.51.100.0/24 dev vn, 203.0.113.0/24 dev d0,
 *              unreachable 100.64.0.0/10, blackhole 100.127.0.0/16
 *   pref 100   to 203.0.113.64/26 iif lo lookup 101 (203.0.113.0/24 dev vn):
 *              only a lookup "arriving" on lo, as rpfilter's does, takes it
 *   pref 200   fwmark 0x1 lookup 100 (198.51.100.0/24 dev d0,
 *              203.0.113.0/24 dev vn): only --validmark sees the mark that
 *              raw PREROUTING sets on UDP port 1001
 *   pref 250   tos 0x10 lookup 100
 *   pref 300   from 10.9.0.1 to 198.51.100.0/24 lookup 102 (198.51.100.0/24
 *              dev d0), pref 310 from 192.0.2.255, 320 from 255.255.255.255,
 *              330 from 224.0.0.0/4, all lookup 102: the reverse flow's
 *              source is the packet's destination, but 0 for a limited
 *              broadcast or multicast one (rpfilter_get_saddr)
 *
 * d0's carrier is down (its veth peer is down) and d0 has
 * ignore_routes_with_linkdown, so `ip route` prints its routes "dead
 * linkdown": ordinary lookups skip them, rpfilter's
 * FIB_LOOKUP_IGNORE_LINKSTATE lookup takes them (the kernel agrees; the
 * snapshot's "dead" is the dump's doing, see host/node/compile.ts).
 *
 * The peer sends raw UDP frames with sources on each side of these routes,
 * the node's own addresses (--accept-local; on vn and on d0, and 127.0.0.1),
 * unroutable, unreachable and blackholed sources, zero and multicast
 * sources, broadcast and multicast destinations. Each frame has its own
 * source port, and raw PREROUTING has, per frame, one rule for each option
 * combination, so the counters say which combinations each frame matched;
 * mangle PREROUTING has one more rpfilter rule (after the MARK) and then
 * drops everything from vn (no replies, nothing else counted). The capture
 * on vn is replayed against the snapshot of the node and every rule and
 * policy counter of `iptables-legacy-save -c` must be the kernel's.
 *
 * Loopback (rpfilter_is_loopback) is not here: a capture on vn holds no
 * looped-back packet (test/netfilter/rpfilter.test.ts covers it).
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { describeKernel } from "../kernel/kernel-gate.js";
import { createNetnsPair, iptablesCounterLines, legacyRestore, rawSenderPrelude, recordKernelRun, type NetnsPair } from "./netns-pair.js";
import { scratchDir, haveTool, replayKernelCapture } from "./helpers.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");

/** The frames: source, destination, UDP destination port (1001 gets mark 0x1), TOS. */
const FRAMES: [string, string, number, number][] = [
  ["198.51.100.5", "192.0.2.2", 1000, 0], // main: vn
  ["198.51.100.5", "192.0.2.2", 1001, 0], // marked: table 100, d0 (only --validmark sees it)
  ["203.0.113.5", "192.0.2.2", 1000, 0], // main: d0 (only --loose)
  ["203.0.113.5", "192.0.2.2", 1001, 0], // marked: table 100, vn
  ["203.0.113.70", "192.0.2.2", 1000, 0], // the iif lo rule: vn
  ["203.0.113.5", "192.0.2.2", 1000, 0x10], // the tos rule: table 100, vn
  ["203.0.113.5", "192.0.2.2", 1000, 0x13], // ECN bits: still the tos rule
  ["192.0.2.2", "192.0.2.2", 1000, 0], // the node's own address on vn: RTN_LOCAL dev vn
  ["10.9.0.1", "192.0.2.2", 1000, 0], // ... on d0: RTN_LOCAL dev d0
  ["127.0.0.1", "192.0.2.2", 1000, 0], // RTN_LOCAL dev lo
  ["100.64.0.1", "192.0.2.2", 1000, 0], // unreachable route
  ["100.127.0.1", "192.0.2.2", 1000, 0], // blackhole route
  ["8.8.8.8", "192.0.2.2", 1000, 0], // no route at all
  ["0.0.0.0", "255.255.255.255", 1000, 0], // zero source, broadcast: matches
  ["0.0.0.0", "224.0.0.9", 1000, 0], // zero source, local multicast: matches
  ["0.0.0.0", "192.0.2.2", 1000, 0], // zero source, unicast: a lookup of 0.0.0.0
  ["224.1.2.3", "192.0.2.2", 1000, 0], // multicast source
  ["198.51.100.5", "10.9.0.1", 1000, 0], // reverse flow from 10.9.0.1: table 102, d0
  ["198.51.100.5", "192.0.2.255", 1000, 0], // ... from 192.0.2.255: table 102, d0
  ["198.51.100.5", "255.255.255.255", 1000, 0], // ... from 0 (rpfilter_get_saddr): main, vn
  ["198.51.100.5", "224.0.0.9", 1000, 0], // ... from 0: main, vn
  ["198.51.100.5", "239.1.1.1", 1000, 0], // ... from 0 (a group the node did not join)
  ["198.51.100.5", "224.0.0.9", 1001, 0], // ... from 0, marked: table 100, d0
];

const OPTIONS = [
  "", "--loose", "--validmark", "--accept-local", "--loose --accept-local", "--invert", "--validmark --invert",
  "--loose --validmark --accept-local --invert",
];

const sport = (k: number) => 20000 + k;

const RULES = [
  "*raw",
  ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":RPF - [0:0]",
  "-A PREROUTING -p udp --dport 1001 -j MARK --set-xmark 0x1/0xffffffff",
  "-A PREROUTING -i vn -p udp -j RPF",
  ...FRAMES.flatMap((_, k) => OPTIONS.map((o) => `-A RPF -p udp --sport ${sport(k)} -m rpfilter ${o}`.trimEnd())),
  "COMMIT",
  "*mangle",
  ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
  "-A PREROUTING -m rpfilter --validmark",
  "-A PREROUTING -i vn -j DROP",
  "COMMIT", "",
].join("\n");

const TOOLS = haveTool("dumpcap");

let ns: NetnsPair | undefined;

describeKernel("-m rpfilter, kernel vs emulator", () => {
  let kernelSave = "";
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    const n = (ns = createNetnsPair("rpfilter"));
    const node = (...args: string[]) => n.inNs(n.node, args);
    // d0: a veth whose peer d1 stays in the node too (no dummy driver needed)
    node("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1");
    node("ip", "addr", "add", "10.9.0.1/24", "dev", "d0");
    node("ip", "link", "set", "d1", "up");
    node("ip", "link", "set", "d0", "up");
    node("ip", "route", "add", "198.51.100.0/24", "dev", "vn");
    node("ip", "route", "add", "203.0.113.0/24", "dev", "d0");
    node("ip", "route", "add", "unreachable", "100.64.0.0/10");
    node("ip", "route", "add", "blackhole", "100.127.0.0/16");
    node("ip", "route", "add", "203.0.113.0/24", "dev", "vn", "table", "101");
    node("ip", "route", "add", "198.51.100.0/24", "dev", "d0", "table", "100");
    node("ip", "route", "add", "203.0.113.0/24", "dev", "vn", "table", "100");
    node("ip", "route", "add", "198.51.100.0/24", "dev", "d0", "table", "102");
    node("ip", "rule", "add", "pref", "100", "to", "203.0.113.64/26", "iif", "lo", "lookup", "101");
    node("ip", "rule", "add", "pref", "200", "fwmark", "0x1", "lookup", "100");
    node("ip", "rule", "add", "pref", "250", "tos", "0x10", "lookup", "100");
    node("ip", "rule", "add", "pref", "300", "from", "10.9.0.1", "to", "198.51.100.0/24", "lookup", "102");
    node("ip", "rule", "add", "pref", "310", "from", "192.0.2.255", "lookup", "102");
    node("ip", "rule", "add", "pref", "320", "from", "255.255.255.255", "lookup", "102");
    node("ip", "rule", "add", "pref", "330", "from", "224.0.0.0/4", "lookup", "102");
    // d0's carrier goes (its peer is down): its routes are linkdown, which ordinary lookups skip with
    // ignore_routes_with_linkdown; rpfilter's FIB_LOOKUP_IGNORE_LINKSTATE still takes them
    node("sysctl", "-qw", "net.ipv4.conf.d0.ignore_routes_with_linkdown=1");
    node("ip", "link", "set", "d1", "down");
    legacyRestore(n, RULES);
    snapDir = join(dir, "snap");
    const run = await recordKernelRun(n, {
      capture: CAPTURE, filter: "udp", waitMs: 400, snapDir,
      sender: (nodeMac) => [
        ...rawSenderPrelude(nodeMac),
        "ident = 0",
        "def udp(s_, d_, sp, dp, tos):",
        "    global ident",
        "    ident += 1",
        "    seg = struct.pack('!HHHH', sp, dp, 12, 0) + b'rpf!'",
        "    ps = socket.inet_aton(s_) + socket.inet_aton(d_) + struct.pack('!BBH', 0, 17, len(seg))",
        "    seg = seg[:6] + struct.pack('!H', csum(ps + seg) or 0xffff) + seg[8:]",
        "    h = struct.pack('!BBHHHBBH4s4s', 0x45, tos, 20 + len(seg), ident, 0, 64, 17, 0, socket.inet_aton(s_), socket.inet_aton(d_))",
        "    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + seg",
        "for f in [",
        ...FRAMES.map(([s, d, dp, tos], k) => `    udp('${s}', '${d}', ${sport(k)}, ${dp}, ${tos}),`),
        "]:",
        "    s.send(dst + src + b'\\x08\\x00' + f); time.sleep(0.02)",
      ].join("\n"),
    });
    kernelSave = run.kernelSave;
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same rule counters for every frame and option combination", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    // the kernel's own text of the rules (as iptables-save prints -m rpfilter)
    const { engine, frames } = await replayKernelCapture(snapDir, CAPTURE, kernelSave);
    expect(frames).toBe(FRAMES.length);
    const lines = iptablesCounterLines(kernelSave);
    expect(iptablesCounterLines(engine.iptablesSave())).toEqual(lines);
    // not vacuous: every frame reached its rules, some combinations matched and some did not
    const rpf = lines.filter((l) => l.includes("-A RPF")).map((l) => Number(/\[(\d+):/.exec(l)![1]));
    expect(rpf.length).toBe(FRAMES.length * OPTIONS.length);
    expect(rpf.filter((c) => c === 1).length).toBeGreaterThan(40);
    expect(rpf.filter((c) => c === 0).length).toBeGreaterThan(40);
  });
});
