/**
 * What the summary says about replayed packets that their results do not
 * show (PacketSource.notes): transport checksums taken as right because the
 * capture's snaplen cut the payload (or --no-verify-checksums), and frames
 * stamped before the capture's first (replayed at its time). Decoded on the
 * main thread and on the decode thread alike.
 */
import { describe, it, expect, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CaptureWriter } from "../../host/pcap/write.js";
import { demoEngine, demoNode, demoPackets, packetBytes, scratchDir } from "../pcap/helpers.js";
import { writeFileSync, mkdirSync } from "node:fs";
import { CLI } from "../repo.js";

const { dir, cleanup } = scratchDir();
afterAll(cleanup);

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, "replay", ...args], { encoding: "utf8", timeout: 120_000, maxBuffer: 64 << 20 });
}

describe("summary notes", () => {
  it("counts checksums not verified (snaplen) and frames stamped before the first; the terminal table says them", async () => {
    const engine = await demoEngine();
    const pkts = demoPackets(400, 5);
    const bytes = packetBytes(engine, pkts);
    // raw IPv4 frames (link type 228), one capture interface per node link, payloads cut at 60 bytes
    const file = join(dir, "cut.pcapng");
    const w = CaptureWriter.toFile(file, { linkType: 228, snaplen: 60 });
    const ids = new Map<string, number>();
    let cut = 0;
    pkts.forEach((p, i) => {
      let id = ids.get(p.iif);
      if (id === undefined) ids.set(p.iif, (id = w.addInterface(p.iif)));
      const b = bytes[i]!;
      // the first frame at 1 s; two later frames stamped before it
      const t = i === 10 || i === 20 ? 0.5e9 : 1e9 + i * 1e6;
      w.packet(id, t, b, 0, b.length);
      const proto = b[9]!;
      if (b.length > 60 && (proto === 6 || proto === 17 || proto === 1)) cut++;
    });
    await w.close();
    expect(cut).toBeGreaterThan(50); // the comparison is not vacuous
    const snap = join(dir, "node");
    mkdirSync(snap);
    const { node, snap: s } = demoNode();
    for (const [k, v] of Object.entries(node.files)) writeFileSync(join(snap, k), v);
    writeFileSync(join(snap, "iptables-save.txt"), s.iptablesSave!);
    for (const thread of ["on", "off"]) {
      const out = join(dir, `out-${thread}`);
      const r = cli(["--snapshot", snap, "--pcap", file, "--out", out, "--no-progress", "--decode-thread", thread]);
      expect(r.status, r.stderr).toBe(0);
      const sum = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
      expect(sum.input.notes).toEqual({
        "checksums not verified (taken as right)": cut,
        "stamped before the first frame (replayed at its time)": 2,
      });
      expect(r.stdout).toMatch(/note: .*checksums not verified/);
    }
  }, 120_000);
});
