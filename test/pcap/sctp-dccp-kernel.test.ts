/**
 * `-m sctp` and `-m dccp` against the kernel (xt_sctp.c, xt_dccp.c): the
 * same ruleset restored with iptables-legacy-restore in a node namespace and
 * loaded into the emulator from the node's own `iptables-legacy-save`
 * (counters stripped), the same raw frames sent by the peer and replayed
 * from the node's capture. Compared: every rule's and policy's counters and
 * the whole `iptables-legacy-save -c` text (the emulator prints the rules
 * back exactly as the kernel's tools do), the SNMP counters of delivery, and
 * which frames the matches hotdropped.
 *
 * Covered: ports, ranges (a reversed DCCP range, open-ended SCTP ones),
 * inversions, the implicit match of `-p sctp --dport`; `--chunk-types` any,
 * all and only with flags (set, clear, under a mask), ALL and NONE, a chunk
 * length below 4, a chunk running past the packet; the hotdrops of
 * match_packet (no chunk, a zero-length chunk, 1..3 bytes after the last
 * chunk; after `any`/`only` returned early they are never reached) and of
 * sctp_mt (under 12 bytes); an inverted chunk walk that hotdrops (the rule
 * counts the packet, then the walk drops it); `--dccp-types` (INVALID and a
 * reserved type), `--dccp-option` (types the option walk finds and bytes it
 * skips) and its hotdrops (a data offset below the header, options past the
 * packet; inverted: counted, dropped), dccp_mt's (a header under 12 bytes,
 * one without its ports).
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { describeKernel } from "../kernel/kernel-gate.js";
import { legacyRestore, counterDeltas, createNetnsPair, RAW_IP_HELPERS, rawSenderPrelude, recordKernelRun, type NetnsPair, sendFramesPy } from "./netns-pair.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import * as abi from "../../host/core/abi.js";
import { scratchDir, haveTool, replayEach, snapshotEngine } from "./helpers.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");

let ns: NetnsPair | undefined;

const COUNTERS = ["IpInReceives", "IpInDelivers", "IpInUnknownProtos", "IcmpOutDestUnreachs"];

const A = "192.0.2.1", L = "192.0.2.2";

/** Chunk type numbers for the sender. */
const CH = "DATA, INIT, SACK, HEARTBEAT, ABORT, COOKIE_ECHO, COOKIE_ACK, SHUTDOWN_COMPLETE = 0, 1, 3, 4, 6, 10, 11, 14";

/**
 * The frames, in order: a python expression of the IPv4 packet (helpers of
 * the sender below) and whether a match hotdrops it. SCTP source ports
 * pick the chain: 100..199 SC_ANY, 200..299 SC_ALL, 300..399 SC_ONLY,
 * 400..499 SC_INV; DCCP ones 600..699 go through DC.
 */
const CASES: [string, boolean][] = [
  // ports
  ["sctp(50, 5000, ch(DATA, 3, b'abcd'))", false],
  ["sctp(50, 7, ch(DATA))", false],
  ["sctp(500, 5001, ch(DATA))", false],
  ["ip(A, L, 132, struct.pack('!HHH', 50, 5000, 0))", true], // 6 bytes: no common header
  // any INIT,DATA:Be / any SHUTDOWN_COMPLETE:t,ABORT:T / any NONE
  ["sctp(150, 5002, ch(INIT, 0, b'\\0' * 16))", false],
  ["sctp(101, 9, ch(DATA, 2, b'x'))", false],
  ["sctp(102, 9, ch(DATA, 3, b'x'))", false],
  ["sctp(103, 9, ch(ABORT, 1))", false],
  ["sctp(104, 9, ch(SHUTDOWN_COMPLETE, 0))", false],
  ["sctp(105, 9, ch(INIT, 0, b'\\0' * 16) + ch(DATA, 0, n=0))", true], // any returns at INIT; the next rule reaches the zero length
  ["sctp(106, 9, ch(DATA, 0, b'abcd'), tail=b'\\0\\0')", true],
  ["sctp(107, 9, b'')", true], // no chunk at all
  ["sctp(108, 9, ch(DATA, 2, n=3))", false], // a length below 4 steps 4 bytes
  ["sctp(109, 9, ch(SACK, 0, b'\\0' * 12) + ch(DATA, 2, b'abcd', n=200))", false], // past the end: the walk ends
  // all DATA,SACK / all DATA:E,INIT / all NONE
  ["sctp(201, 9, ch(DATA) + ch(SACK, 0, b'\\0' * 12))", false],
  ["sctp(202, 9, ch(SACK, 0, b'\\0' * 12) + ch(DATA, 1) + ch(INIT, 0, b'\\0' * 16))", false],
  ["sctp(203, 9, ch(DATA))", false],
  ["sctp(204, 9, ch(DATA) + ch(SACK, 0, b'\\0' * 12), tail=b'\\0\\0\\0')", true],
  ["sctp(205, 9, ch(INIT, 0, b'\\0' * 16) + ch(DATA, 1))", false],
  // only DATA:iUbE,SACK / only ALL / only DATA,ABORT:T
  ["sctp(301, 9, ch(DATA, 5))", false],
  ["sctp(302, 9, ch(DATA, 5) + ch(SACK, 0, b'\\0' * 12))", false],
  ["sctp(303, 9, ch(DATA, 7))", false],
  ["sctp(304, 9, ch(ABORT, 0))", false],
  ["sctp(305, 9, ch(SACK, 0, b'\\0' * 12) + ch(DATA, 0, n=0))", true],
  ["sctp(306, 9, ch(INIT, 0, b'\\0' * 16) + ch(DATA, 0, n=0))", true], // only returns at INIT; only ALL reaches the zero length
  // ! any HEARTBEAT / ! all DATA,INIT / ! only COOKIE_ECHO,COOKIE_ACK
  ["sctp(401, 9, ch(DATA))", false],
  ["sctp(402, 9, ch(HEARTBEAT, 0, b'\\0' * 8))", false],
  ["sctp(403, 9, ch(COOKIE_ECHO, 0, b'cookie') + ch(COOKIE_ACK))", false],
  ["sctp(404, 9, ch(DATA), tail=b'\\0')", true], // inverted walk hotdrops: counted, then dropped
  ["sctp(405, 9, b'')", true],
  ["sctp(406, 9, ch(DATA) + ch(INIT, 0, b'\\0' * 16))", false],
  // DCCP: ports
  ["dccp(650, 6005, 0)", false],
  ["dccp(700, 9, 2, x=0)", false],
  ["ip(A, L, 33, struct.pack('!HHI', 650, 9, 0))", true], // 8 bytes: ports, no generic header
  ["ip(A, L, 33, b'\\x02\\x8a')", true], // no ports
  // types REQUEST,DATA / ! types ACK,DATAACK,INVALID / ! option 32 / option 4 / types RESET option 44
  ["dccp(651, 9, 0)", false],
  ["dccp(652, 9, 2, x=0, opts=bytes([32, 4, 4, 0]))", false], // 32 found, the 4 in its value skipped
  ["dccp(653, 9, 3, opts=bytes([0, 1, 4, 2, 44, 3, 0, 0]))", false],
  ["dccp(654, 9, 7, opts=bytes([44, 2, 0, 0]))", false],
  ["dccp(655, 9, 10)", false],
  ["dccp(656, 9, 12, opts=bytes([4, 0, 1, 1]))", false], // a zero length steps one byte
  ["dccp(657, 9, 0, doff=4)", true], // data offset below the 20-byte header: the inverted option rule counts, then drops
  ["dccp(658, 9, 2, doff=10)", true], // options past the packet
];

/** The chains' rules, as written (iptables-legacy-save prints them its own way: the emulator reads that). */
const SC = (chain: string, rules: string[]) => rules.map((r) => `-A ${chain} -p sctp -m sctp ${r}`);
const RULES = [
  "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  ":SC_ANY - [0:0]", ":SC_ALL - [0:0]", ":SC_ONLY - [0:0]", ":SC_INV - [0:0]", ":DC - [0:0]",
  `-A INPUT -s ${A}/32 -p sctp -m sctp --destination-port 5000`,
  `-A INPUT -s ${A}/32 -p sctp -m sctp ! --dport 5000: --source-port 100:199`,
  `-A INPUT -s ${A}/32 -p sctp -m sctp ! --sport 100:299`,
  `-A INPUT -s ${A}/32 -p sctp --dport :7`,
  `-A INPUT -s ${A}/32 -p sctp -m sctp --sport 100:199 -j SC_ANY`,
  `-A INPUT -s ${A}/32 -p sctp -m sctp --sport 200:299 -j SC_ALL`,
  `-A INPUT -s ${A}/32 -p sctp -m sctp --sport 300:399 -j SC_ONLY`,
  `-A INPUT -s ${A}/32 -p sctp -m sctp --sport 400:499 -j SC_INV`,
  `-A INPUT -s ${A}/32 -p sctp`,
  `-A INPUT -s ${A}/32 -p dccp -m dccp --sport 7:5`,
  `-A INPUT -s ${A}/32 -p dccp -m dccp --dport 6000:6010`,
  `-A INPUT -s ${A}/32 -p dccp -m dccp ! --sport 600:699`,
  `-A INPUT -s ${A}/32 -p dccp -m dccp --sport 600:699 -j DC`,
  `-A INPUT -s ${A}/32 -p dccp`,
  ...SC("SC_ANY", ["--chunk-types any INIT,DATA:Be", "--chunk-types any shutdown_complete:t,ABORT:T", "--chunk-types ANY NONE"]),
  "-A SC_ANY -p sctp",
  ...SC("SC_ALL", ["--chunk-types all SACK,DATA", "--chunk-types all INIT,DATA:E", "--chunk-types all none"]),
  "-A SC_ALL -p sctp",
  ...SC("SC_ONLY", ["--chunk-types only DATA:iUbE,SACK", "--chunk-types only all", "--chunk-types only ABORT:T,DATA"]),
  "-A SC_ONLY -p sctp",
  ...SC("SC_INV", ["! --chunk-types any HEARTBEAT", "! --chunk-types all DATA,INIT", "! --chunk-types only COOKIE_ACK,COOKIE_ECHO"]),
  "-A SC_INV -p sctp",
  "-A DC -p dccp -m dccp --dccp-types data,REQUEST",
  "-A DC -p dccp -m dccp ! --dccp-types ACK,DATAACK,INVALID",
  "-A DC -p dccp -m dccp ! --dccp-option 32",
  "-A DC -p dccp -m dccp --dccp-option 4",
  "-A DC -p dccp -m dccp --dccp-option 44 --dccp-types RESET",
  "-A DC -p dccp",
  "COMMIT", "",
].join("\n");

const TOOLS = haveTool("dumpcap") && haveTool("nstat") && haveTool("iptables-legacy-restore");

/** A save without its comment lines, or with counters zeroed. */
const noComments = (s: string) => s.split("\n").filter((l) => !l.startsWith("#")).join("\n");
const zeroCounters = (s: string) => noComments(s).replace(/\[\d+:\d+\]/g, "[0:0]");

describeKernel("-m sctp and -m dccp: kernel vs emulator", () => {
  let before: Record<string, number> = {};
  let after: Record<string, number> = {};
  let kernelSave = "";
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    ns = createNetnsPair("sctpdccp");
    const n = ns;
    legacyRestore(n, RULES);
    snapDir = join(dir, "snap");
    const run = await recordKernelRun(n, {
      capture: CAPTURE, waitMs: 500, snapDir,
      sender: (nodeMac) => [
        ...rawSenderPrelude(nodeMac),
        `A, L = '${A}', '${L}'`,
        CH,
        ...RAW_IP_HELPERS,
        "T = []",
        "for i in range(256):",
        "    c = i",
        "    for _ in range(8): c = (c >> 1) ^ 0x82f63b78 if c & 1 else c >> 1",
        "    T.append(c)",
        "def crc32c(b):",
        "    c = 0xffffffff",
        "    for x in b: c = T[(c ^ x) & 0xff] ^ (c >> 8)",
        "    return c ^ 0xffffffff",
        // a chunk: type, flags, value; its length field n (default: header + value), padded to 4
        "def ch(t, f=0, v=b'', n=None):",
        "    c = struct.pack('!BBH', t, f, 4 + len(v) if n is None else n) + v",
        "    return c + b'\\0' * (-len(c) % 4)",
        "def sctp(sp, dp, chunks, tail=b''):",
        "    p = struct.pack('!HHII', sp, dp, 0x01020304, 0) + chunks + tail",
        "    return ip(A, L, 132, p[:8] + struct.pack('<I', crc32c(p)) + p[12:])",
        // the generic header (X: 16 bytes), the type's subheader (dccp_packet_hdr_len), options; doff in words
        "def dccp(sp, dp, t, x=1, opts=b'', doff=None):",
        "    sub = 0 if t == 2 else 8 if t in (3, 4, 5, 6, 8, 9) else 4 if t == 0 else 12",
        "    h = struct.pack('!HHBBHBBH', sp, dp, 0, 0, 0, (t << 1) | x, 0, 1) + (b'\\0\\0\\0\\1' if x else b'') + b'\\0' * sub",
        "    body = h + opts",
        "    d = len(body) // 4 if doff is None else doff",
        "    return ip(A, L, 33, body[:4] + bytes([d]) + body[5:])",
        "ident = 0",
        ...sendFramesPy(CASES.map(([py]) => py), 0.01),
      ].join("\n"),
    });
    ({ before, after, kernelSave } = run);
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same rule counters, save text, delivery counters and hotdrops", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    const engine = await snapshotEngine(snapDir);
    // the emulator reads the kernel's own dump, without its counters
    engine.loadRuleset(zeroCounters(kernelSave), "kernel-save");
    expect(noComments(engine.iptablesSave())).toBe(zeroCounters(kernelSave));
    const src = PcapSource.open(CAPTURE, engine, {});
    const got: { id: number; reason: string | undefined }[] = [];
    replayEach(engine, src, 1, (dv, p, k, index) => {
      if (dv.getUint32(p + abi.PKT_SRC, true) !== 0xc0000201) return; // the peer's frames
      const r = engine.decodeRaw(k, index);
      got.push({ id: dv.getUint16(p + abi.PKT_IPID, true), reason: r.reason });
    });
    src.close();
    expect(got.map((g) => g.id)).toEqual(CASES.map((_, i) => i + 1));
    expect(got.map((g, i) => [i + 1, g.reason === "NF_HOTDROP"])).toEqual(CASES.map(([, h], i) => [i + 1, h]));
    // every counter, and the text of every rule, as iptables-legacy-save -c prints them
    expect(noComments(engine.iptablesSave())).toBe(noComments(kernelSave));
    const { kernel, emulated } = counterDeltas(COUNTERS, before, after, engine.counters());
    expect(emulated).toEqual(kernel);
    // the kernel did what the cases say (the comparisons are not vacuous)
    expect(kernel.IpInUnknownProtos).toBe(CASES.filter(([, h]) => !h).length); // no SCTP or DCCP handler on the node
    expect(kernelSave).toContain("-A SC_ANY -p sctp -m sctp --chunk-types any DATA:Be,INIT");
    // the inverted walk's hotdrops count (401, 403, 404, 405, 406)
    expect(kernelSave).toMatch(/\n\[5:\d+\] -A SC_INV -p sctp -m sctp ! --chunk-types any HEARTBEAT\n/);
  });
});
