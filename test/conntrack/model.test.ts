/**
 * The conntrack machinery that has no kernel counterpart to compare with
 * packet by packet, checked against its own specification:
 *
 *  - the CPU model (assembly/smp.ts): one CPU is the sequential kernel;
 *    with several, new connections that race to confirm the same NAT tuple
 *    end in insert_failed (TCP) or clash resolution (UDP, same flow), only
 *    when they are close in time and on different CPUs; results do not
 *    depend on where the host cuts its batches;
 *  - gc_worker on the virtual clock: expired entries leave the table (and
 *    the count) without any packet looking them up;
 *  - the input route cache: a configuration change is seen by the very next
 *    packet;
 *  - memory per connection at a size where the figure is stable.
 */
import { describe, expect, it } from "vitest";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import { buildEksNode } from "../../host/scenario/eks-node.js";
import type { PacketInput } from "../../host/packet/input.js";
import type { PacketResult } from "../../host/packet/result.js";
import { makeScenario, establish, establishedBatches, flowPacket, writeDescriptor, type FlowPacket } from "../../bench/ct-scenario.js";
import { prng } from "../../bench/prefixes.js";
import * as abi from "../../host/core/abi.js";

const node = buildEksNode({ enis: 1, podsPerEni: [6], seed: 3 });
const snap = parseSnapshotFiles(node.files, "model test node");

function snatRules(extra = ""): string {
  return [
    "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
    `-A POSTROUTING -o eth0 ! -d 10.0.0.0/8 -j SNAT --to-source ${node.nodeIp}${extra}`, "COMMIT", "",
  ].join("\n");
}

async function engine(opts: { cpus?: number; batchSize?: number; raceWindowNs?: number } = {}, rules = snatRules()): Promise<Engine> {
  const e = await Engine.create({ seed: 5, ...opts });
  e.load(snap);
  e.loadRuleset(rules);
  return e;
}

/** Pods 0 and 1 open `n` TCP connections each, same source port and destination per round, `gapS` apart. */
function racingSyns(n: number, gapS: number, cpuOf?: (pod: number) => number): PacketInput[] {
  const out: PacketInput[] = [];
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < 2; k++) {
      const p = node.pods[k]!;
      out.push({
        iif: p.veth, src: p.ip, dst: `52.10.${r >> 8}.${r & 255}`, proto: "tcp", sport: 20000 + r, dport: 443, flags: "S",
        seq: 1, t: r * 0.001 + k * gapS, ...(cpuOf ? { cpu: cpuOf(k) } : {}),
      });
    }
  }
  return out;
}

const summary = (rs: PacketResult[]) => rs.map((r) => `${r.verdict} ${r.reason ?? ""} ${r.src}:${r.sport}`).join("\n");

describe("CPU model (confirm races)", () => {
  it("one CPU is the sequential kernel: the second pod's SYN gets another port", async () => {
    const e = await engine();
    const rs = e.process(racingSyns(50, 1e-6));
    expect(rs.every((r) => r.verdict === "forward")).toBe(true);
    for (let r = 0; r < 50; r++) {
      expect(rs[2 * r]!.sport).toBe(20000 + r);
      expect(rs[2 * r + 1]!.sport).not.toBe(20000 + r);
    }
    expect(e.conntrackStats().insert_failed).toBe(0);
  });

  it("two CPUs: concurrent SYNs pick the same tuple; the later confirm fails (insert_failed, dropped)", async () => {
    const e = await engine({ cpus: 2 });
    const rs = e.process(racingSyns(50, 1e-6, (k) => k));
    for (let r = 0; r < 50; r++) {
      expect(rs[2 * r]!.verdict).toBe("forward");
      expect(rs[2 * r + 1]!.verdict).toBe("drop");
      expect(rs[2 * r + 1]!.reason).toBe("CT_INSERT_FAILED");
    }
    const st = e.conntrackStats();
    expect(st.insert_failed).toBe(50);
    expect(st.drop).toBe(50);
    expect(e.conntrack().length).toBe(50);
  });

  it("no race when the packets are further apart than the window, or on the same CPU", async () => {
    const far = await engine({ cpus: 2, raceWindowNs: 5000 });
    expect(far.process(racingSyns(20, 20e-6, (k) => k)).every((r) => r.verdict === "forward")).toBe(true);
    const same = await engine({ cpus: 2 });
    expect(same.process(racingSyns(20, 1e-6, () => 1)).every((r) => r.verdict === "forward")).toBe(true);
  });

  it("--random-fully: the race finds different ports", async () => {
    const e = await engine({ cpus: 2 }, snatRules(" --random-fully"));
    const rs = e.process(racingSyns(50, 1e-6, (k) => k));
    expect(rs.filter((r) => r.verdict === "drop").length).toBeLessThanOrEqual(1);
    expect(e.conntrackStats().insert_failed).toBeLessThanOrEqual(1);
  });

  it("UDP: the same flow on two CPUs at once is resolved (clash_resolve), not dropped", async () => {
    const e = await engine({ cpus: 2 });
    const p = node.pods[0]!;
    const q: PacketInput[] = [];
    for (let r = 0; r < 10; r++) {
      for (let c = 0; c < 2; c++) q.push({ iif: p.veth, src: p.ip, dst: "52.20.0.1", proto: "udp", sport: 5000 + r, dport: 53, t: r * 0.01 + c * 1e-6, cpu: c });
    }
    const rs = e.process(q);
    expect(rs.every((r) => r.verdict === "forward")).toBe(true);
    const st = e.conntrackStats();
    expect(st.clash_resolve).toBe(10);
    expect(st.insert_failed).toBe(0);
    expect(e.conntrack().length).toBe(10);
  });

  it("results do not depend on the batch size", async () => {
    const pkts = racingSyns(300, 1e-6);
    const outs: string[] = [];
    for (const batchSize of [256, 257, 1000, 4096]) {
      const e = await engine({ cpus: 4, batchSize });
      outs.push(summary(e.process(pkts)) + JSON.stringify(e.conntrackStats()));
    }
    expect(new Set(outs).size).toBe(1);
  });

  it("rejects impossible settings", async () => {
    await expect(Engine.create({ cpus: 0 })).rejects.toThrow(/cpus/);
    await expect(Engine.create({ cpus: 65 })).rejects.toThrow(/cpus/);
    const e = await engine({ cpus: 2 });
    expect(() => e.process([{ iif: node.pods[0]!.veth, src: node.pods[0]!.ip, dst: "52.1.1.1", proto: "udp", sport: 1, dport: 2, cpu: 64 }])).toThrow(/cpu/);
  });
});

describe("gc_worker on the virtual clock", () => {
  it("reaps expired entries nobody looks up", async () => {
    // a conntrack match turns connection tracking on (as nf_ct_netns_get does in the kernel)
    const e = await engine({}, [
      "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
      "-A FORWARD -m conntrack --ctstate INVALID -j DROP", "COMMIT", "",
    ].join("\n"));
    const p = node.pods[0]!;
    const udp: PacketInput[] = [];
    for (let i = 0; i < 200; i++) udp.push({ iif: p.veth, src: p.ip, dst: "52.30.0.1", proto: "udp", sport: 1000 + i, dport: 9999, t: 1 + i * 0.001 });
    e.process(udp);
    expect(e.conntrackStats().count).toBe(200);
    // 31 s later (nf_conntrack_udp_timeout 30 s): nothing has looked them up; one unrelated packet runs the worker
    e.process([{ iif: "eth0", src: "52.40.0.1", dst: p.ip, proto: "icmp", icmp_type: 8, icmp_id: 1, t: 95 }]);
    expect(e.conntrackStats().count).toBe(1);
  });
});

describe("advanceClock", () => {
  it("ages connections and runs the collector without a packet", async () => {
    const e = await engine({}, [
      "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
      "-A FORWARD -m conntrack --ctstate INVALID -j DROP", "COMMIT", "",
    ].join("\n"));
    const p = node.pods[0]!;
    e.process([{ iif: p.veth, src: p.ip, dst: "52.30.0.1", proto: "udp", sport: 1000, dport: 9999, t: 10 }]);
    expect(e.conntrack()[0]!.timeout).toBe(30);
    e.advanceClock(25);
    expect(e.conntrack()[0]!.timeout).toBe(15);
    expect(e.conntrackStats().count).toBe(1);
    // expired at 40 s: gone from the dump at once, but still counted until gc_worker's next
    // sweep (scheduled ~60 s after the one at 25 s: the average lifetime it saw, with its initial bias)
    e.advanceClock(41);
    expect(e.conntrack()).toHaveLength(0);
    expect(e.conntrackStats().count).toBe(1);
    e.advanceClock(90);
    expect(e.conntrackStats().count).toBe(0);
    expect(() => e.advanceClock(-1)).toThrow(/advanceClock/);
  });
});

describe("input route cache", () => {
  it("sees a rule change at the next packet", async () => {
    const e = await Engine.create({ seed: 1 });
    e.load(snap);
    const p = node.pods[0]!;
    const pkt: PacketInput = { iif: p.veth, src: p.ip, dst: "52.50.0.1", proto: "udp", sport: 1, dport: 2 };
    expect(e.process([pkt])[0]!.verdict).toBe("forward");
    const blocked = parseSnapshotFiles({ ...node.files, "ip-rule.txt": `0:\tfrom all lookup local\n10:\tfrom ${p.ip} blackhole\n` + node.files["ip-rule.txt"]!.split("\n").slice(1).join("\n") }, "blocked");
    e.load(blocked);
    const r = e.process([pkt])[0]!;
    expect(r.verdict).toBe("drop");
  });
});

describe("prefetching the lookups of a batch (tables of 32,768 entries or more, or 16,384 with long chains)", () => {
  it("changes nothing but timing: the same descriptors, batch after batch, with the passes on and off", async () => {
    const on = await makeScenario(40000), off = await makeScenario(40000);
    off.engine.core.ct_prefetch_set(0);
    for (const s of [on, off]) expect(establish(s).notForwarded).toBe(0);
    // the passes only run on tables this large
    expect(on.engine.core.ct_count()).toBeGreaterThanOrEqual(16384);
    const batches = establishedBatches(on, 24, 5);
    let forwarded = 0;
    for (const b of batches) {
      const out: Uint8Array[] = [];
      for (const s of [on, off]) {
        const { ptr, capacity } = s.engine.batchBuffer;
        s.engine.mem.refresh();
        s.engine.mem.u8.set(b, ptr);
        s.engine.core.process_batch(ptr, capacity);
        s.engine.mem.refresh();
        out.push(s.engine.mem.u8.slice(ptr, ptr + capacity * abi.PKT_SIZE));
      }
      expect(Buffer.from(out[0]!).equals(Buffer.from(out[1]!))).toBe(true);
      for (let k = 0; k < out[0]!.length; k += abi.PKT_SIZE) if (out[0]![k + abi.PKT_VERDICT] === abi.VERDICT_FORWARD) forwarded++;
    }
    // every measured packet is an established one that goes through
    expect(forwarded).toBe(batches.length * on.engine.batchBuffer.capacity);
    expect(on.engine.core.ct_count()).toBe(off.engine.core.ct_count());
  }, 120000);

  it("and its lookups take the passes' answers only when the walk would find the same: inserts, removals, timeouts moved earlier, expiry", async () => {
    // long chains (~10 nodes a bucket), entries that expire as the traffic goes: half-open
    // connections after a second, FIN_WAIT at once; a packet every 100 µs (a group of 64
    // packets spans jiffies)
    const sysctl = "net.netfilter.nf_conntrack_tcp_timeout_syn_sent = 1\nnet.netfilter.nf_conntrack_tcp_timeout_fin_wait = 0\n";
    const on = await makeScenario(40000, { buckets: 8192, sysctl }), off = await makeScenario(40000, { buckets: 8192, sysctl });
    off.engine.core.ct_prefetch_set(0);
    for (const s of [on, off]) expect(establish(s).notForwarded).toBe(0);
    const { capacity } = on.engine.batchBuffer;
    const rnd = prng(9);
    let t = 40000 * 3 * 1000 + 1000; // after the handshakes (establish: 1 µs a packet)
    let next = 40000; // the next new connection
    const img = new DataView(new ArrayBuffer(capacity * abi.PKT_SIZE));
    const run = (pkts: FlowPacket[]): void => {
      pkts.forEach((f, k) => writeDescriptor(img, 0, k, f));
      const out: Uint8Array[] = [];
      for (const s of [on, off]) {
        const { ptr } = s.engine.batchBuffer;
        s.engine.mem.refresh();
        s.engine.mem.u8.set(new Uint8Array(img.buffer, 0, pkts.length * abi.PKT_SIZE), ptr);
        s.engine.core.process_batch(ptr, pkts.length);
        s.engine.mem.refresh();
        out.push(s.engine.mem.u8.slice(ptr, ptr + pkts.length * abi.PKT_SIZE));
      }
      expect(Buffer.from(out[0]!).equals(Buffer.from(out[1]!))).toBe(true);
      expect(on.engine.core.ct_count()).toBe(off.engine.core.ct_count());
    };
    // data both ways, with now and then a new connection (insert), a FIN (its entry's timeout
    // moved earlier: it expires at once), an RST followed a few packets later by data of the same
    // connection (removal)
    const later: FlowPacket[][] = [];
    for (let b = 0; b < 200; b++) {
      const pkts: FlowPacket[] = [];
      for (let k = 0; k < capacity; k++) {
        const due = later[b * capacity + k];
        if (due?.length) { pkts.push({ ...due.shift()!, time: (t += 100000) }); continue; }
        const r = rnd();
        if (r < 0.005) { pkts.push(flowPacket(on, next++, 0, (t += 100000))); continue; }
        const c = Math.floor(rnd() * 40000);
        const f = flowPacket(on, c, rnd() < 0.5 ? 3 : 4, (t += 100000));
        if (r < 0.03) pkts.push({ ...f, flags: 0x11 }); // FIN
        else if (r < 0.04) {
          pkts.push({ ...f, flags: 0x14 }); // RST
          (later[b * capacity + k + 3] ??= []).push(flowPacket(on, c, 3, 0));
        } else pkts.push(f);
      }
      run(pkts);
    }
    expect(on.engine.core.ct_count()).toBeGreaterThanOrEqual(16384);
    expect(on.engine.conntrackStats()).toEqual(off.engine.conntrackStats());
  }, 120000);
});

describe("memory per connection", () => {
  it("is at most 96 bytes for TCP connections (64k, nf_conntrack_buckets = 32768)", async () => {
    const s = await makeScenario(65536);
    expect(establish(s).notForwarded).toBe(0);
    const per = s.engine.core.ct_memory() / s.engine.core.ct_count();
    expect(s.engine.core.ct_count()).toBe(65536);
    expect(per).toBeLessThanOrEqual(96);
  }, 60000);
});
