/**
 * REJECT's checksum check for the protocols without a transport parser
 * (nf_send_unreach: nf_reject_verify_csum, then nf_ip_checksum over the
 * transport bytes, no pseudo-header for protocols other than TCP and UDP):
 * an ICMP answer only when the bytes sum right, except for the protocols
 * nf_reject_verify_csum exempts (GRE, AH, ESP). Raw frames from the peer to
 * the node, whose INPUT rejects them; the capture replayed against the
 * node's snapshot: the same answered frames as the kernel's.
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { existsSync } from "node:fs";
import * as abi from "../../host/core/abi.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { recordKernelRun, createNetnsPair, legacyRestore, RAW_IP_HELPERS, rawSenderPrelude, sh, type NetnsPair } from "./netns-pair.js";
import { PcapSource } from "../../host/replay/pcap-source.js";
import { scratchDir, haveTool, replayEach, snapshotEngine } from "./helpers.js";

const { dir, cleanup } = scratchDir();
const CAPTURE = join(dir, "vn.pcapng");

const RULES = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  "-A INPUT -s 192.0.2.1/32 -j REJECT --reject-with icmp-port-unreachable", "COMMIT", ""].join("\n");

/** [protocol, payload kind]: "good" sums right (0xffff), "bad" does not, "empty" has no bytes. */
const CASES: [number, "good" | "bad" | "empty"][] = [];
for (const proto of [89, 112, 253, 4, 33, 0, 47, 50, 51]) for (const kind of ["good", "bad", "empty"] as const) CASES.push([proto, kind]);

const TOOLS = haveTool("dumpcap") && haveTool("tshark");

let ns: NetnsPair | undefined;

describeKernel("REJECT's checksum check of other protocols, kernel vs emulator", () => {
  let answered: number[] = [];
  let snapDir = "";

  beforeAll(async () => {
    if (!TOOLS) return;
    const n = (ns = createNetnsPair("rejcsum"));
    // the node knows the peer's MAC first (its answers do not wait for ARP)
    n.inNs(n.node, ["ping", "-c", "1", "-W", "1", "192.0.2.1"], false);
    legacyRestore(n, RULES);
    snapDir = join(dir, "snap");
    await recordKernelRun(n, {
      capture: CAPTURE, snapDir, waitMs: 400, sender: (nodeMac) => [
      ...rawSenderPrelude(nodeMac),
      ...RAW_IP_HELPERS,
      "A, L = '192.0.2.1', '192.0.2.2'",
      "def payload(kind):",
      "    if kind == 'empty': return b''",
      "    body = b'payload of other protocols' + bytes([ident & 255, 7])",
      "    if kind == 'bad': return body + b'\\x12\\x34'",
      // two bytes that make the one's-complement sum 0xffff: the complement of the body's sum
      "    return body + struct.pack('!H', csum(body))",
      "ident = 0",
      "for proto, kind in [",
      ...CASES.map(([p, k]) => `    (${p}, '${k}'),`),
      "]:",
      "    s.send(dst + src + b'\\x08\\x00' + ip(A, L, proto, payload(kind))); time.sleep(0.02)",
    ].join("\n"),
    });
    // the IP ids the node's port unreachables quote (the second ip.id of each: the quoted header's)
    const out = sh(["tshark", "-r", CAPTURE, "-Y", "icmp.type == 3 && ip.src == 192.0.2.2", "-T", "fields", "-e", "ip.id"]);
    answered = out.split("\n").filter((l) => l.trim()).map((l) => Number(l.split(",")[1])).sort((a, b) => a - b);
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("answers the same frames", async () => {
    expect(existsSync(CAPTURE)).toBe(true);
    const engine = await snapshotEngine(snapDir);
    engine.loadRuleset(RULES, "rules");
    const src = PcapSource.open(CAPTURE, engine, {});
    const got: number[] = [];
    let frames = 0;
    replayEach(engine, src, 1, (dv, p, k, index) => {
      if (dv.getUint32(p + abi.PKT_SRC, true) !== 0xc0000201) return; // the peer's frames
      frames++;
      const r = engine.decodeRaw(k, index);
      if (r.replies.some((q) => q.icmp_type === 3 && q.verdict === "forward")) got.push(dv.getUint16(p + abi.PKT_IPID, true));
    });
    src.close();
    expect(frames).toBe(CASES.length);
    expect(got.sort((a, b) => a - b)).toEqual(answered);
    // not vacuous: some frames were answered and some were not
    expect(answered.length).toBeGreaterThan(5);
    expect(answered.length).toBeLessThan(CASES.length - 5);
  });
});
