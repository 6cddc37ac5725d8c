/**
 * Runs scripts/nodeplane-snapshot.sh in a fresh network namespace (needs
 * root and unshare; skipped otherwise) and reads what it wrote: the parsers
 * against the real iproute2 / sysctl / ss of this machine.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readSnapshotDir } from "../../host/snapshot/read.js";
import { parseIPv4 } from "../../host/util/ipv4.js";
import { SNAPSHOT_SCRIPT as SCRIPT } from "../repo.js";

function canUnshare(): boolean {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  const r = spawnSync("unshare", ["--net", "ip", "link", "add", "t0", "type", "veth", "peer", "name", "t1"], { stdio: "ignore" });
  return r.status === 0;
}

const SETUP = `
set -e
ip link set lo up
ip link add eth0 type veth peer name v.eth.1
ip link set eth0 up
ip link set v.eth.1 up
ip addr add 10.0.0.10/24 dev eth0
ip route add default via 10.0.0.1 dev eth0
ip route add 10.0.1.1 dev eth0 table 2 scope link
ip route add default via 10.0.1.1 dev eth0 table 2
ip route add 10.3.0.0/16 via 10.0.0.1 dev eth0 mtu lock 1400 advmss 1360
ip rule add pref 512 to 10.0.0.55 lookup main
ip rule add pref 1024 fwmark 0x80/0x80 lookup main
ip rule add pref 1536 from 10.0.1.33 lookup 2
sysctl -q -w net.ipv4.conf.v/eth/1.rp_filter=2
`;

describe.skipIf(!canUnshare())("scripts/nodeplane-snapshot.sh in a network namespace", () => {
  it("writes a snapshot that readSnapshotDir reads", async () => {
    const dir = await mkdtemp(join(tmpdir(), "nodeplane-script-"));
    try {
      const out = join(dir, "snap");
      execFileSync("unshare", ["--net", "sh", "-c", `${SETUP}\nexec "$0" "$1"`, SCRIPT, out], { stdio: "pipe" });
      const s = await readSnapshotDir(out);
      expect(s.links.map((l) => l.name).sort()).toEqual(["eth0", "lo", "v.eth.1"]);
      expect(s.addrs.map((a) => [a.dev, a.local, a.plen])).toContainEqual(["eth0", parseIPv4("10.0.0.10"), 24]);
      expect(s.routes.filter((r) => r.table === 2)).toHaveLength(2);
      expect(s.routes.find((r) => r.plen === 16)).toMatchObject({ mtu: 1400, gw: parseIPv4("10.0.0.1") });
      expect(s.rules.map((r) => [r.pref, r.table])).toEqual([[0, 255], [512, 254], [1024, 254], [1536, 2], [32766, 254], [32767, 253]]);
      expect(s.sysctl.get("net.ipv4.conf.v.eth.1.rp_filter")).toBe("2");
      expect(s.sysctl.has("net.ipv4.ip_forward")).toBe(true);
      expect(s.sockets).toBeDefined();
      const mss = s.routes.find((r) => r.plen === 16)!.src.line;
      expect(s.notices).toContain(`ip-route.txt: route metric "advmss" is not modelled (first at line ${mss})`);
      const meta = await readFile(join(out, "meta.txt"), "utf8");
      expect(meta).toMatch(/^kernel=/m);
      expect(meta).toMatch(/^hostname=/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const legacy = spawnSync("sh", ["-c", "command -v iptables-legacy && command -v iptables-save && iptables-save --version | grep -q nf_tables"], { stdio: "ignore" }).status === 0;
  it.skipIf(!legacy)("takes the legacy tables when iptables-save is iptables-nft and the rules are legacy (the nft one only warns, on stderr)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "nodeplane-script-"));
    try {
      const out = join(dir, "snap");
      const rules = "iptables-legacy -t nat -A POSTROUTING -o eth0 -j MASQUERADE --random-fully\niptables-legacy -A FORWARD -m conntrack --ctstate INVALID -j DROP\n";
      const r = spawnSync("unshare", ["--net", "sh", "-c", `${SETUP}\n${rules}exec "$0" "$1"`, SCRIPT, out], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const saved = await readFile(join(out, "iptables-save.txt"), "utf8");
      expect(saved).toMatch(/^\[\d+:\d+\] -A POSTROUTING -o eth0 -j MASQUERADE --random-fully$/m);
      expect(saved).toMatch(/-A FORWARD -m conntrack --ctstate INVALID -j DROP/);
      expect(r.stderr).not.toMatch(/both/); // the nft tables hold no rule: nothing to warn about
      const s = await readSnapshotDir(out);
      expect(s.iptablesSave).toContain("MASQUERADE");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
