/**
 * The dispatcher's NAT topology (host/replay/shard.ts natTopology) reads the
 * node's iptables-save text: the same with `iptables-save -c`'s counters
 * before every rule (the snapshot script's form) as without. Before this was
 * checked, counted lines were skipped: `--workers 2` knew no DNAT target and
 * sent replies of DNATed connections to workers that never saw them
 * (found by test/pcap/forwarded-copies-kernel.test.ts).
 */
import { describe, expect, it } from "vitest";
import { natTopology } from "../../host/replay/shard.js";
import { eksFixtureSnapshot } from "../fixtures/eks-fixture.js";

const RULES = [
  "*nat", ":PREROUTING ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ":KUBE-SVC-X - [0:0]", ":KUBE-SEP-A - [0:0]",
  "-A PREROUTING -d 10.0.0.10/32 -p tcp -m tcp --dport 30080 -j KUBE-SVC-X",
  "-A PREROUTING -d 172.20.0.10/32 -p udp -m udp --dport 53 -j KUBE-SVC-X",
  "-A KUBE-SVC-X -j KUBE-SEP-A",
  "-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.0.0.55:8080",
  "-A POSTROUTING -o eth0 -j SNAT --to-source 10.0.0.200 --random-fully",
  "COMMIT", "",
].join("\n");

/** The same rules as `iptables-save -c` writes them, with CRLF line ends too. */
const counted = (text: string, crlf: boolean) => text.split("\n").map((l, i) => (l.startsWith("-A ") ? `[${i}:${i * 60}] ${l}` : l)).join(crlf ? "\r\n" : "\n");

describe("the dispatcher's NAT topology", () => {
  it("reads rules with iptables-save -c counters (and CRLF) as it reads them without", () => {
    const snap = eksFixtureSnapshot();
    const plain = natTopology(snap, RULES);
    expect(plain.dnatTargets).toContain((0x0a000037 >>> 0) * 65536 + 8080);
    expect(plain.dnatFrontends).toContain(0xac14000a >>> 0);
    expect(plain.local).toContain(0x0a0000c8 >>> 0);
    expect(plain.dnatPaths.length).toBeGreaterThan(0);
    expect(natTopology(snap, counted(RULES, false))).toEqual(plain);
    expect(natTopology(snap, counted(RULES, true))).toEqual(plain);
  });
});
