/**
 * The node's own multicast and broadcast sends against the kernel: the copy
 * ip_mc_output loops back to the node. A process in the node namespace
 * (python UDP sockets) sends to the all-hosts group 224.0.0.1, which every
 * interface joins (ip_mc_up), so its output route is RTCF_LOCAL and the
 * socket's IP_MULTICAST_LOOP (on by default) makes ip_mc_output clone the
 * packet: the clone walks POSTROUTING (in none, out vn) to
 * ip_mc_finish_output -> dev_loopback_xmit -> netif_rx as PACKET_LOOPBACK,
 * then ip_rcv on vn: PREROUTING (in vn; nf_conntrack_in ignores it, it
 * carries the sender's entry), no input routing (it keeps its dst), INPUT
 * (in vn), delivery (UdpIgnoredMulti: no socket on the port) — all before
 * the original reaches its own POSTROUTING and vn. Also: a group the node
 * has not joined (no clone: ip_output), an INPUT DROP that drops only the
 * clone, broadcasts without SO_BROADCAST (EACCES or, for 255.255.255.255
 * without a route or bound device, ENETUNREACH; nothing sent), and with it
 * (`so_broadcast`): the subnet's broadcast and 255.255.255.255 out of a
 * bound device (`oif`) are looped back too (ip_mc_output clones every
 * RTCF_BROADCAST packet; -m pkttype sees broadcast)..
 *
 * The emulator replays the same sends as `iif: "local"` packets on the
 * namespace's snapshot with the kernel's own `iptables-legacy-save -c`
 * ruleset (zeroed): every rule's and policy's counters, the SNMP counters
 * and each send's outcome must be the kernel's.
 */
import { it, expect, beforeAll, afterAll } from "vitest";
import { join } from "node:path";
import { describeKernel } from "../kernel/kernel-gate.js";
import { createNetnsPair, iptablesCounterLines, legacyRestore, counterDeltas, type NetnsPair } from "./netns-pair.js";
import { scratchDir, haveTool, snapshotEngine } from "./helpers.js";
import { SNAPSHOT_SCRIPT } from "../repo.js";

const { dir, cleanup } = scratchDir();

const RULES = [
  "*raw",
  ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  "-A PREROUTING -i vn -p udp",
  "-A PREROUTING -m pkttype --pkt-type multicast",
  "-A PREROUTING -m pkttype --pkt-type broadcast",
  "-A PREROUTING -m pkttype --pkt-type unicast",
  "-A OUTPUT -o vn -p udp",
  "-A OUTPUT -m pkttype --pkt-type unicast",
  "COMMIT",
  "*mangle",
  ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
  "-A PREROUTING -i vn",
  "-A PREROUTING -m addrtype --dst-type MULTICAST",
  "-A PREROUTING -m conntrack --ctstate NEW",
  "-A INPUT -i vn -m pkttype --pkt-type multicast",
  "-A INPUT -m pkttype --pkt-type broadcast",
  "-A INPUT -m addrtype --dst-type MULTICAST --limit-iface-in",
  "-A INPUT -i lo",
  "-A OUTPUT -p udp",
  "-A POSTROUTING -o vn -m pkttype --pkt-type unicast",
  "-A POSTROUTING -o vn -p udp",
  "-A POSTROUTING -m conntrack --ctstate NEW",
  "COMMIT",
  "*nat",
  ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
  "-A PREROUTING -p udp",
  "-A INPUT -p udp",
  "-A OUTPUT -p udp",
  "-A POSTROUTING -o vn -p udp",
  "COMMIT",
  "*filter",
  ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  "-A INPUT -i vn -m conntrack --ctstate NEW",
  "-A INPUT -m conntrack --ctstate ESTABLISHED",
  "-A INPUT -p udp -m udp --dport 5556 -j DROP",
  "-A INPUT -p udp",
  "-A OUTPUT -o vn -m conntrack --ctstate NEW",
  "-A OUTPUT -p udp",
  "COMMIT",
  "",
].join("\n");

/**
 * The sends: destination, port, source port, SO_BROADCAST, SO_BINDTODEVICE
 * vn, IP_TOS (its ECN bits, which UDP sockets keep, are what the looped
 * copies' ip_rcv counts in IpExtIn{NoECT,ECT1,ECT0,CE}Pkts).
 */
const SENDS: { dst: string; dport: number; sport: number; bcast?: boolean; bind?: boolean; tos?: number; self?: boolean }[] = [
  { dst: "224.0.0.1", dport: 5555, sport: 40001, tos: 1 }, // joined (all-hosts), loop on: looped back
  { dst: "224.0.0.1", dport: 5555, sport: 40001, tos: 2 }, // the same flow again
  { dst: "224.0.0.1", dport: 5556, sport: 40002, tos: 3 }, // the clone dropped by INPUT, the original sent
  { dst: "239.1.2.3", dport: 5555, sport: 40003, tos: 3 }, // not joined: no clone
  { dst: "255.255.255.255", dport: 5555, sport: 40004 }, // no route to it here (no default route, no bound device): ENETUNREACH
  { dst: "192.0.2.255", dport: 5555, sport: 40005 }, // the subnet's broadcast, no SO_BROADCAST: EACCES
  { dst: "192.0.2.255", dport: 5555, sport: 40006, bcast: true, tos: 0x22 }, // with SO_BROADCAST: sent, and looped back
  { dst: "192.0.2.255", dport: 5556, sport: 40007, bcast: true, tos: 0xb9 }, // its clone dropped by INPUT
  { dst: "255.255.255.255", dport: 5555, sport: 40008, bcast: true, bind: true }, // limited broadcast out of the bound device
  // the node's own address: out through lo and back in (ip_rcv on lo), no socket: a port unreachable to itself, through lo too
  { dst: "192.0.2.2", dport: 5557, sport: 40009, tos: 0x27, self: true },
];
const PAYLOAD = 8;

const COUNTERS = [
  "IpInReceives", "IpInDelivers", "IpOutRequests", "IpOutNoRoutes", "IpInDiscards",
  "UdpInDatagrams", "UdpNoPorts", "UdpIgnoredMulti", "UdpInErrors",
  "IpExtInMcastPkts", "IpExtInBcastPkts", "IpExtOutMcastPkts", "IpExtOutBcastPkts",
  "IpExtInMcastOctets", "IpExtInBcastOctets", "IpExtOutMcastOctets", "IpExtOutBcastOctets",
  "IpExtInOctets", "IpExtInNoECTPkts", "IpExtInECT1Pkts", "IpExtInECT0Pkts", "IpExtInCEPkts", "IpOutTransmits", "IpExtOutOctets",
];

const TOOLS = haveTool("python3");
const CONNTRACK = haveTool("conntrack");

/** conntrack -L lines without the timeout and use count, sorted. */
function conns(text: string): string[] {
  return text.split("\n").filter((l) => l.includes("src=192.0.2.2"))
    .map((l) => l.replace(/^(\S+\s+\d+)\s+\d+/, "$1").replace(/\s+use=\d+/, "").replace(/\s+/g, " ").trim()).sort();
}

let ns: NetnsPair | undefined;

describeKernel("the node's multicast and broadcast sends looped back (ip_mc_output), kernel vs emulator", () => {
  let snapDir = "";
  let kernelSave = "";
  let before: Record<string, number> = {};
  let after: Record<string, number> = {};
  let outcomes: string[] = [];
  let kernelConns: string[] = [];

  beforeAll(() => {
    if (!TOOLS) return;
    const n = (ns = createNetnsPair("mcloop"));
    // pinned: no forwarding, default TTL 64, a route for the multicast groups (no default route here)
    n.inNs(n.node, ["sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv4.ip_default_ttl=64", "net.ipv4.conf.vn.rp_filter=0"]);
    n.inNs(n.node, ["ip", "route", "add", "224.0.0.0/4", "dev", "vn"]);
    snapDir = join(dir, "snap");
    n.inNs(n.node, ["sh", SNAPSHOT_SCRIPT, snapDir]);
    legacyRestore(n, RULES);
    before = n.nstat();
    const prog = [
      "import socket, time, errno",
      "def snd(dst, port, sport, bcast, bind, tos):",
      "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
      "    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)",
      "    if bind: s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'vn')",
      "    s.bind(('0.0.0.0', sport))",
      "    if bcast: s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)",
      "    try:",
      `        s.sendto(b'x' * ${PAYLOAD}, (dst, port)); print('ok')`,
      "    except OSError as e:",
      "        print(errno.errorcode[e.errno])",
      "    s.close(); time.sleep(0.02)",
      ...SENDS.map((s) => `snd('${s.dst}', ${s.dport}, ${s.sport}, ${s.bcast ? "True" : "False"}, ${s.bind ? "True" : "False"}, ${s.tos ?? 0})`),
    ].join("\n");
    outcomes = n.inNs(n.node, ["python3", "-c", prog]).trim().split("\n");
    spawnWait(300);
    after = n.nstat();
    kernelSave = n.inNs(n.node, ["iptables-legacy-save", "-c"]);
    if (CONNTRACK) kernelConns = conns(n.inNs(n.node, ["conntrack", "-L"], false));
  }, 60000);

  afterAll(() => {
    ns?.remove();
    cleanup();
  });

  it.skipIf(!TOOLS)("the same rule counters, SNMP counters and send outcomes", async () => {
    expect(outcomes).toEqual(["ok", "ok", "ok", "ok", "ENETUNREACH", "EACCES", "ok", "ok", "ok", "ok"]);
    const engine = await snapshotEngine(snapDir);
    engine.loadRuleset(kernelSave.replace(/\[\d+:\d+\]/g, "[0:0]"), "iptables-legacy-save");
    const results = engine.process(SENDS.map((s, k) => ({
      iif: "local", dst: s.dst, proto: "udp", sport: s.sport, dport: s.dport, len: 28 + PAYLOAD, t: k * 0.02,
      ...(s.bcast ? { so_broadcast: true } : {}), ...(s.bind ? { oif: "vn" } : {}), ...(s.tos ? { tos: s.tos } : {}),
    })));
    expect(results.map((r) => r.verdict === "drop" ? `drop:${r.reason}` : r.verdict))
      .toEqual(outcomes.map((o, k) => SENDS[k]!.self ? "local" : ({ ok: "forward", EACCES: "drop:SOCK_BROADCAST", ENETUNREACH: "drop:IP_INNOROUTES" })[o]));
    expect(iptablesCounterLines(engine.iptablesSave())).toEqual(iptablesCounterLines(kernelSave));
    const { kernel, emulated } = counterDeltas(COUNTERS, before, after, engine.counters());
    expect(emulated).toEqual(kernel);
    // one entry per flow, confirmed by the clone's POSTROUTING (the original's finds it confirmed)
    if (CONNTRACK) {
      expect(conns(engine.conntrackList())).toEqual(kernelConns);
      expect(kernelConns.length).toBe(7); // the send to itself too
    }
    // not vacuous: the looped copies reached PREROUTING, INPUT and delivery in the kernel
    expect(kernelSave).toMatch(/\[6:\d+\] -A PREROUTING -i vn -p udp/);
    expect(kernelSave).toMatch(/\[3:\d+\] -A INPUT -m pkttype --pkt-type broadcast/);
    expect(kernel.UdpIgnoredMulti).toBe(4);
    // and the IpExt multicast/broadcast counters moved: the sends and their looped copies
    console.log(`IpExt cast counters: ${JSON.stringify(Object.fromEntries(Object.entries(kernel).filter(([k]) => k.startsWith("IpExt"))))}`);
    expect(kernel.IpExtOutBcastPkts).toBeGreaterThan(0);
    expect(kernel.IpExtInBcastPkts).toBeGreaterThan(0);
    expect(kernel.IpExtOutMcastPkts).toBeGreaterThan(0);
    // the looped copies' ip_rcv: their bytes and ECN codepoints (ECT(1), ECT(0), CE, ECT(0) as 0x22, ECT(1) as 0xb9, not-ECT), the
    // send to itself (CE as 0x27) and its port unreachable through lo (ECT(0): icmp_send keeps RT_TOS(0x27) = 0x06, whose low
    // bit is ECT(0)'s, the IPTOS_TOS_MASK of before ECN); every send's bytes out, the port unreachable's too (8 + 28 + 28 bytes)
    console.log(`IpExt bytes and ECN: ${JSON.stringify(Object.fromEntries(Object.entries(kernel).filter(([k]) => /Octets$|ECT|CEPkts|Transmits/.test(k))))}`);
    expect([kernel.IpExtInNoECTPkts, kernel.IpExtInECT1Pkts, kernel.IpExtInECT0Pkts, kernel.IpExtInCEPkts]).toEqual([1, 2, 3, 2]);
    expect(kernel.IpExtInOctets).toBe(7 * (28 + PAYLOAD) + 64);
    expect(kernel.IpExtOutOctets).toBe(8 * (28 + PAYLOAD) + 64);
    // each result says what became of its looped copy
    expect(results.map((r) => r.loopback ?? "-")).toEqual(["local", "local", "drop", "-", "-", "-", "local", "drop", "local", "-"]);
  });
});

function spawnWait(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
