/**
 * The conntrack confirm race (assembly/smp.ts) against the kernel.
 *
 * Two pods, each behind its veth, open many short TCP connections, from two
 * processes pinned to different CPUs; in round r both pods connect to the
 * same destination (one of its own per round) from the same source port, at
 * about the same moment, and the node SNATs them to its address. (One
 * destination per round keeps the NAT port space empty, so that nothing but
 * the race can make a port search fail.)
 * Without --random-fully both pods' first packets keep their source port
 * while neither entry is confirmed (nf_nat_used_tuple sees only confirmed
 * entries), so whenever the two CPUs overlap the second confirm finds the
 * reply tuple taken: insert_failed and a dropped SYN. With --random-fully
 * the ports are drawn and the clashes vanish.
 *
 * The kernel run is captured on the pods' veths (nanosecond timestamps) and
 * the same SYNs, at the same relative times, each on the CPU that sent it,
 * are replayed into the emulator with two CPUs modelled. Compared: the
 * `conntrack -S` insert_failed and drop counters (the kernel's depend on how
 * its two CPUs happened to overlap, so the emulator's must be of the same
 * order, and zero exactly where the kernel's are), and the connections each
 * side kept. With one CPU the emulator is the sequential kernel: no clash.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpus as osCpus } from "node:os";
import { KernelNode, run } from "../kernel/netns.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import type { PacketInput } from "../../host/packet/input.js";

const PODS = [
  { link: "vpod1", ip: "10.1.0.11", cpu: 0 },
  { link: "vpod2", ip: "10.1.0.12", cpu: 1 },
];
const NODE_IP = "10.0.0.2";
const SYNS_PER_POD = 15000;
/** Kernel clashes below this are retried: a handful says little about the overlap's order of magnitude. */
const MIN_CLASHES = 10;
const TWO_CPUS = osCpus().length >= 2;

/** The sender: SYNs from one pod out of its world-side veth (AF_PACKET), from a synchronized start. */
const SENDER = String.raw`
import socket, struct, sys, time
ifname, src_mac, dst_mac, src, n, start = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
mac = lambda m: bytes(int(x, 16) for x in m.split(":"))
eth = mac(dst_mac) + mac(src_mac) + b"\x08\x00"
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
frames = []
for r in range(n):
    sport = 20000 + r
    # a destination of its own per round: the two pods' SYNs of a round share it (and the port), nothing else does
    dst = "52.10.%d.%d" % ((r >> 8) & 255, r & 255)
    tcp = struct.pack("!HHIIBBHHH", sport, 443, 1000, 0, 5 << 4, 2, 65535, 0, 0)
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, r & 0xffff, 0, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    frames.append(eth + ip + tcp)
# paced: frame r leaves at start + r * GAP, so that the two pods' frames of a round leave together
GAP = 0.00002
for r, f in enumerate(frames):
    target = start + r * GAP
    while time.time() < target: pass
    s.send(f)
`;

interface RunOutcome { insertFailed: number; drop: number; entries: number; syns: PacketInput[] }

let node: KernelNode | undefined;
let dir = "";
let snapFiles: Record<string, string> = {};

function ruleset(randomFully: boolean): string {
  return [
    "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
    `-A POSTROUTING -o eth0 -j SNAT --to-source ${NODE_IP}${randomFully ? " --random-fully" : ""}`, "COMMIT", "",
  ].join("\n");
}

/** Sums a counter over `conntrack -S` lines (one per CPU). */
function statSum(text: string, name: string): number {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`\\b${name}=(\\d+)`, "g"))) n += Number(m[1]);
  return n;
}

async function kernelRun(randomFully: boolean): Promise<RunOutcome> {
  const k = node!;
  await k.exec(["iptables-legacy-restore"], { input: ruleset(randomFully) });
  await k.exec(["conntrack", "-F"], { allowFail: true });
  const before = (await k.exec(["conntrack", "-S"])).stdout;
  const pcap = join(dir, `syn-${randomFully ? "rf" : "plain"}.pcap`);
  // capture the SYNs as they reach the node (its pod-side veths)
  const cap = run("ip", ["netns", "exec", k.nodeNs, "tcpdump", "-i", "any", "-nn", "-B", "65536", "-U", "--time-stamp-precision=nano",
    "-w", pcap, "tcp[tcpflags] & tcp-syn != 0 and src net 10.1.0.0/16 and dst net 52.10.0.0/16"]);
  await new Promise((r) => setTimeout(r, 700));
  const start = Date.now() / 1000 + 0.6;
  const senders = PODS.map((p, i) => run("ip", ["netns", "exec", k.worldNs, "taskset", "-c", String(p.cpu), "python3", "-c", SENDER,
    KernelNode.worldName(i + 1), KernelNode.worldMac(i + 1), KernelNode.nodeMac(i + 1), p.ip, String(SYNS_PER_POD), String(start)]));
  for (const r of await Promise.all(senders)) if (r.code !== 0) throw new Error(`sender failed: ${r.stderr}`);
  await new Promise((r) => setTimeout(r, 500));
  await run("ip", ["netns", "exec", k.nodeNs, "pkill", "-INT", "tcpdump"]);
  await cap;
  const after = (await k.exec(["conntrack", "-S"])).stdout;
  const count = Number((await k.exec(["conntrack", "-C"])).stdout.trim());
  // the captured SYNs with their times, in time order: the two CPUs' packets reach the capture
  // socket in an order their timestamps do not always follow (a later frame can carry an earlier time)
  const t = await run("tshark", ["-r", pcap, "-T", "fields", "-E", "separator=,", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst", "-e", "tcp.srcport"]);
  if (t.code !== 0) throw new Error(`tshark: ${t.stderr}`);
  const rows = t.stdout.trim().split("\n").filter(Boolean).map((l) => l.split(","));
  rows.sort((a, b) => Number(a[0]) - Number(b[0])); // stable: equal times keep capture order
  const t0 = Number(rows[0]![0]);
  const syns: PacketInput[] = rows.map(([ts, src, dst, sport]) => {
    const pod = PODS.find((p) => p.ip === src)!;
    return { iif: pod.link, src, dst, proto: "tcp", sport: Number(sport), dport: 443, flags: "S", seq: 1000, t: Number(ts) - t0, cpu: pod.cpu };
  });
  return { insertFailed: statSum(after, "insert_failed") - statSum(before, "insert_failed"), drop: statSum(after, "drop") - statSum(before, "drop"), entries: count, syns };
}

async function emulatorRun(syns: PacketInput[], randomFully: boolean, cpus: number): Promise<Omit<RunOutcome, "syns">> {
  const snap = parseSnapshotFiles(snapFiles, "race node");
  snap.iptablesSave = ruleset(randomFully);
  const e = await Engine.create({ seed: 7, cpus, senderSockets: "closed" /* the agent sends and closes */ });
  e.load(snap);
  e.process(syns);
  const st = e.conntrackStats();
  return { insertFailed: st.insert_failed, drop: st.drop, entries: e.conntrack().length };
}

describeKernel("conntrack confirm races (two CPUs, concurrent SNAT)", () => {
  beforeAll(async () => {
    if (!TWO_CPUS) return;
    dir = mkdtempSync(join(tmpdir(), "np-race-"));
    node = await KernelNode.create({
      links: [{ name: "eth0" }, ...PODS.map((p) => ({ name: p.link }))],
      commands: [
        `ip addr add ${NODE_IP}/24 dev eth0`,
        "ip route add default via 10.0.0.1 dev eth0",
        ...PODS.map((p) => `ip route add ${p.ip}/32 dev ${p.link} scope link`),
        "sysctl -q -w net.ipv4.ip_forward=1",
      ],
    });
    snapFiles = await node.dumpSnapshot();
    for (const f of Object.keys(snapFiles)) if (f.startsWith("iptables")) delete snapFiles[f];
  }, 60000);
  afterAll(async () => {
    await node?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!TWO_CPUS)("insert_failed appears with concurrent SNAT and vanishes with --random-fully, in the kernel and in the emulator", async (ctx) => {
    let plain = await kernelRun(false);
    // the kernel's CPUs may, on a busy machine, happen not to overlap, or barely (seen: one clash in 15,000
    // rounds, where an idle run has ~50; and, with the other test worker busy, none in 4 runs): too few
    // to compare an order of magnitude with. Try again, a second apart
    for (let i = 0; i < 7 && plain.insertFailed < MIN_CLASHES; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      plain = await kernelRun(false);
    }
    const rf = await kernelRun(true);
    const emuPlain = await emulatorRun(plain.syns, false, 2);
    const emuPlain1 = await emulatorRun(plain.syns, false, 1);
    const emuRf = await emulatorRun(rf.syns, true, 2);
    const report = {
      kernel: { plain: { ...plain, syns: plain.syns.length }, randomFully: { ...rf, syns: rf.syns.length } },
      emulator: { plain2cpus: emuPlain, plain1cpu: emuPlain1, randomFully2cpus: emuRf },
    };
    writeFileSync(join(dir, "report.json"), JSON.stringify(report, null, 1));
    console.log(`conntrack race: ${JSON.stringify(report)}`);
    expect(plain.syns.length).toBe(2 * SYNS_PER_POD);
    if (plain.insertFailed === 0) {
      // the kernel shows no race: its two CPUs never handled SYNs at once in 8 runs (the machine's other
      // load), so there is nothing to compare the emulator's race with. What holds without it is checked;
      // the emulator's race itself is test/cli/cli.test.ts's ("--cpus 2: concurrent SYNs clash at confirm")
      expect(emuPlain.insertFailed, "the emulator on the kernel's timing, which had no overlap").toBe(0);
      expect(emuPlain1.insertFailed).toBe(0);
      expect(rf.insertFailed).toBe(0);
      expect(emuRf.insertFailed).toBe(0);
      ctx.skip("the kernel's two CPUs never overlapped in 8 runs (a busy machine): no race to compare with");
    }
    // the kernel shows the race
    expect(plain.insertFailed).toBeGreaterThan(0);
    expect(plain.drop).toBe(plain.insertFailed);
    expect(plain.entries).toBe(2 * SYNS_PER_POD - plain.insertFailed);
    // the emulator, on the kernel's timing, two CPUs: the same mechanism, the same order of magnitude
    expect(emuPlain.insertFailed).toBeGreaterThan(0);
    expect(emuPlain.drop).toBe(emuPlain.insertFailed);
    expect(emuPlain.entries).toBe(2 * SYNS_PER_POD - emuPlain.insertFailed);
    const ratio = emuPlain.insertFailed / plain.insertFailed;
    expect(ratio, `emulator ${emuPlain.insertFailed} vs kernel ${plain.insertFailed}`).toBeGreaterThan(0.1);
    expect(ratio, `emulator ${emuPlain.insertFailed} vs kernel ${plain.insertFailed}`).toBeLessThan(10);
    // one CPU: the sequential kernel, no race
    expect(emuPlain1.insertFailed).toBe(0);
    expect(emuPlain1.entries).toBe(2 * SYNS_PER_POD);
    // --random-fully: gone on both sides
    expect(rf.insertFailed).toBe(0);
    expect(rf.entries).toBe(2 * SYNS_PER_POD);
    expect(emuRf.insertFailed).toBe(0);
    expect(emuRf.entries).toBe(2 * SYNS_PER_POD);
  }, 180000);
});

