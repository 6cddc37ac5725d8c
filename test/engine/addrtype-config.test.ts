/**
 * xt_addrtype after a configuration change: the core remembers the local
 * table's answer per address (fib/table.ts localTableLookup), and every
 * configuration load must forget it. The same engine sees 10.0.0.77 first
 * as a remote address, then (a snapshot whose local table has it) as a
 * local one, then remote again; compiled and interpreted rule walks alike.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";

const EKS = fileURLToPath(new URL("../fixtures/eks-node", import.meta.url));
const ADDR = "10.0.0.77";

const RULES = [
  "*mangle",
  ":PREROUTING ACCEPT [0:0]",
  ":INPUT ACCEPT [0:0]",
  ":FORWARD ACCEPT [0:0]",
  ":OUTPUT ACCEPT [0:0]",
  ":POSTROUTING ACCEPT [0:0]",
  "-A PREROUTING -i eth0 -m addrtype --dst-type LOCAL --limit-iface-in -j MARK --set-xmark 0x1/0x1",
  "-A PREROUTING -i eth0 -m addrtype --dst-type UNICAST -j MARK --set-xmark 0x2/0x2",
  "COMMIT",
  "",
].join("\n");

function files(local: boolean): Record<string, string> {
  const f: Record<string, string> = {};
  for (const name of readdirSync(EKS)) f[name] = readFileSync(join(EKS, name), "utf8");
  if (local) {
    f["ip-route.txt"] = f["ip-route.txt"]!.replace(
      "local 10.0.0.10 dev eth0 table local",
      `local ${ADDR} dev eth0 table local proto kernel scope host src 10.0.0.10 \nlocal 10.0.0.10 dev eth0 table local`);
    expect(f["ip-route.txt"]).toContain(`local ${ADDR} dev eth0`);
  }
  return f;
}

/** [LOCAL rule, UNICAST rule] packet counts after one packet from eth0 to ADDR. */
function matched(e: Engine): [number, number] {
  e.loadRuleset(RULES);
  e.process([{ iif: "eth0", src: "52.1.2.3", dst: ADDR, proto: "udp", sport: 40000, dport: 9999 }]);
  const lines = e.iptablesSave().split("\n").filter((l) => l.includes("addrtype"));
  expect(lines.length).toBe(2);
  return lines.map((l) => Number(/^\[(\d+):/.exec(l)![1])) as [number, number];
}

describe("addrtype after a configuration change", () => {
  for (const jit of [true, false]) {
    it(`sees the new local table (${jit ? "compiled" : "interpreted"} walks)`, async () => {
      const remote = parseSnapshotFiles(files(false), EKS);
      const local = parseSnapshotFiles(files(true), EKS);
      const e = await Engine.create({ seed: 0, jit });
      e.load(remote, { hz: remote.hz });
      expect(matched(e)).toEqual([0, 1]);
      e.load(local, { hz: local.hz });
      expect(matched(e)).toEqual([1, 0]);
      e.load(remote, { hz: remote.hz });
      expect(matched(e)).toEqual([0, 1]);
    });
  }
});
