/**
 * The dispatcher's NAT topology (host/replay/shard.ts natTopology) is built
 * from the parsed ruleset the engine runs, so a rule means to the
 * dispatcher what it means to the engine. It once read the iptables-save
 * text with regular expressions: counted lines (`iptables-save -c`, the
 * snapshot script's form) were skipped, so `--workers 2` knew no DNAT
 * target and sent replies of DNATed connections to workers that never saw
 * them (found by test/pcap/forwarded-copies-kernel.test.ts); a negated
 * `! -d A/32` read as a frontend, and quoting, NETMAP and multi-range DNATs
 * were not understood.
 */
import { describe, expect, it } from "vitest";
import { ANY_LOCAL, natTopology } from "../../host/replay/shard.js";
import { parseIptablesSave } from "../../host/netfilter/parse.js";
import { eksFixtureSnapshot } from "../fixtures/eks-fixture.js";
import { parseIPv4 } from "../../host/util/ipv4.js";

const ip = (s: string) => parseIPv4(s)! >>> 0;

const RULES = [
  "*nat", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ":KUBE-SVC-X - [0:0]", ":KUBE-SEP-A - [0:0]",
  ":KUBE-NODEPORTS - [0:0]", ":KUBE-SEP-B - [0:0]",
  "-A PREROUTING -d 10.0.0.10/32 -p tcp -m tcp --dport 30080 -j KUBE-SVC-X",
  "-A PREROUTING -d 172.20.0.10/32 -p udp -m udp --dport 53 -j KUBE-SVC-X",
  "-A PREROUTING -m addrtype --dst-type LOCAL -g KUBE-NODEPORTS",
  "-A KUBE-SVC-X -j KUBE-SEP-A",
  "-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.0.0.55:8080",
  "-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/web -d 9.9.9.9/32 web\" -m tcp --dport 31000 -j KUBE-SEP-B",
  "-A KUBE-SEP-B -p tcp -m tcp -j DNAT --to-destination 10.0.0.60-10.0.0.61:9000-9001",
  "-A OUTPUT ! -d 10.0.0.99/32 -j ACCEPT",
  "-A POSTROUTING -o eth0 -j SNAT --to-source 10.0.0.200 --random-fully",
  "COMMIT", "",
].join("\n");

/** The same rules as `iptables-save -c` writes them, with CRLF line ends too. */
const counted = (text: string, crlf: boolean) => text.split("\n").map((l, i) => (l.startsWith("-A ") ? `[${i}:${i * 60}] ${l}` : l)).join(crlf ? "\r\n" : "\n");

/** The paths as [frontend, port, target] triples. */
const triples = (p: number[]) => Array.from({ length: p.length / 3 }, (_, i) => [p[3 * i]!, p[3 * i + 1]!, p[3 * i + 2]!]);

describe("the dispatcher's NAT topology", () => {
  const snap = eksFixtureSnapshot();
  const topo = natTopology(snap, parseIptablesSave(RULES));

  it("has the DNAT targets, frontends and SNAT sources of the nat table", () => {
    expect(topo.dnatTargets).toContain(ip("10.0.0.55") * 65536 + 8080);
    // a port range of two: each port; two addresses
    for (const a of ["10.0.0.60", "10.0.0.61"]) for (const p of [9000, 9001]) expect(topo.dnatTargets).toContain(ip(a) * 65536 + p);
    expect(topo.dnatFrontends).toContain(ip("172.20.0.10"));
    expect(topo.local).toContain(ip("10.0.0.200"));
    expect(topo.dnatFrontends).toContain(ip("10.0.0.200")); // node and SNAT addresses are frontends too
  });

  it("reads a negated destination and a quoted comment as the engine does", () => {
    // `! -d 10.0.0.99/32` names every address but that one: not a frontend
    expect(topo.dnatFrontends).not.toContain(ip("10.0.0.99"));
    // the comment's text is not a -d
    expect(topo.dnatFrontends).not.toContain(ip("9.9.9.9"));
  });

  it("walks jumps and gotos from PREROUTING, narrowing by -d, --dport and --dst-type LOCAL", () => {
    const t = triples(topo.dnatPaths);
    const sep = ip("10.0.0.55") * 65536 + 8080;
    expect(t).toContainEqual([ip("10.0.0.10"), 30080, sep]);
    expect(t).toContainEqual([ip("172.20.0.10"), 53, sep]);
    // through the goto after --dst-type LOCAL: any node address, port 31000; a port range names no one port
    expect(t).toContainEqual([ANY_LOCAL, 31000, ip("10.0.0.60") * 65536]);
    expect(t).toContainEqual([ANY_LOCAL, 31000, ip("10.0.0.61") * 65536]);
    expect(t).toHaveLength(4);
  });

  it("is the same with iptables-save -c counters and CRLF line ends", () => {
    expect(natTopology(snap, parseIptablesSave(counted(RULES, false)))).toEqual(topo);
    expect(natTopology(snap, parseIptablesSave(counted(RULES, true)))).toEqual(topo);
  });

  it("takes a NETMAP prefix as targets and translation addresses", () => {
    const rules = ["*nat", ":PREROUTING ACCEPT [0:0]", "-A PREROUTING -d 192.168.5.0/30 -j NETMAP --to 10.9.0.0/30", "COMMIT", ""].join("\n");
    const t = natTopology(snap, parseIptablesSave(rules));
    for (let k = 0; k < 4; k++) {
      expect(t.dnatTargets).toContain((ip("10.9.0.0") + k) * 65536);
      expect(t.local).toContain(ip("10.9.0.0") + k);
    }
  });

  it("without a ruleset knows the node's addresses only", () => {
    const t = natTopology(snap, undefined);
    expect(t.dnatTargets).toEqual([]);
    expect(t.dnatPaths).toEqual([]);
    expect(t.local).toEqual([...new Set(snap.addrs.map((a) => a.local >>> 0))].sort((x, y) => x - y));
  });
});
