/**
 * Replacing the ruleset (a kube-proxy resync): connections, their NAT
 * bindings, recent lists and nfacct counters survive; rule counters and
 * per-rule state (statistic nth counts) start again, as when
 * iptables-restore swaps the table blob. (The kernel side of the same
 * behaviour is checked in differential.test.ts, "resync" scenarios.)
 */
import { describe, expect, it } from "vitest";
import { Engine } from "../../host/engine.js";
import { readSnapshotDir } from "../../host/snapshot/read.js";
import { fileURLToPath } from "node:url";

const EKS = fileURLToPath(new URL("../fixtures/eks-node", import.meta.url));
const POD_A = "10.0.0.55";
const POD_B = "10.0.1.33";
const VIP = "10.100.0.20";

function rules(backend: string, extraFilter = ""): string {
  return `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:SVC - [0:0]
-A PREROUTING -d ${VIP}/32 -p tcp -m tcp --dport 80 -j SVC
-A SVC -m recent --rcheck --seconds 10800 --reap --name AFF --mask 255.255.255.255 --rsource -j MARK --set-xmark 0x1/0x1
-A SVC -p tcp -m recent --set --name AFF --mask 255.255.255.255 --rsource -j DNAT --to-destination ${backend}:8080
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m statistic --mode nth --every 3 --packet 0
${extraFilter}COMMIT
`;
}

describe("ruleset replacement keeps connection state", () => {
  it("an established connection keeps its DNAT to the old backend; new ones use the new rules", async () => {
    const snap = await readSnapshotDir(EKS);
    snap.iptablesSave = rules(POD_A);
    const e = await Engine.create({ seed: 2 });
    e.load(snap);
    const c = "52.1.2.3";
    const [syn] = e.process([{ iif: "eth0", src: c, dst: VIP, proto: "tcp", sport: 40000, dport: 80, flags: "S", seq: 100, t: 1 }]);
    expect(syn!.dst).toBe(POD_A);
    const [synack] = e.process([{ iif: "eni1f3a2b4c5d6", src: POD_A, dst: c, proto: "tcp", sport: 8080, dport: 40000, flags: "SA", seq: 900, ack: 101, t: 1.01 }]);
    expect(synack!.src).toBe(VIP);
    expect(synack!.sport).toBe(80);
    const before = e.iptablesSave();
    expect(before).toContain(`[1:40] -A PREROUTING -d ${VIP}/32`);

    // resync: the service now points at pod B
    const rs = e.loadRuleset(rules(POD_B));
    expect(rs.stats.rules).toBe(4);
    // counters start again
    expect(e.iptablesSave()).toContain(`[0:0] -A PREROUTING -d ${VIP}/32`);
    // the old connection: still ESTABLISHED, still to pod A, no nat walk
    const [ack] = e.process([{ iif: "eth0", src: c, dst: VIP, proto: "tcp", sport: 40000, dport: 80, flags: "A", seq: 101, ack: 901, t: 1.02 }]);
    expect(ack!.ct).toBe("ESTABLISHED");
    expect(ack!.dst).toBe(POD_A);
    expect(ack!.rules!.filter((x) => x.startsWith("-t nat"))).toEqual([]);
    expect(ack!.ct_entry!.status).toContain("ASSURED");
    // a new connection from the same client: the recent list (kept) matches, and DNAT goes to B
    const [syn2] = e.process([{ iif: "eth0", src: c, dst: VIP, proto: "tcp", sport: 40001, dport: 80, flags: "S", seq: 5, t: 2 }]);
    expect(syn2!.dst).toBe(POD_B);
    expect(syn2!.rules).toContain("-t nat -A SVC -m recent --rcheck --seconds 10800 --reap --name AFF --mask 255.255.255.255 --rsource -j MARK --set-xmark 0x1/0x1");
    // the conntrack table has both connections
    const list = e.conntrackList();
    expect(list).toContain(`src=${c} dst=${VIP} sport=40000 dport=80 src=${POD_A}`);
    expect(list).toContain(`src=${c} dst=${VIP} sport=40001 dport=80 [UNREPLIED] src=${POD_B}`);
  });

  it("per-rule state starts again (statistic --mode nth), as iptables-restore's new rule instances do", async () => {
    const snap = await readSnapshotDir(EKS);
    snap.iptablesSave = rules(POD_A);
    const e = await Engine.create({ seed: 2 });
    e.load(snap);
    const pkt = (i: number) => ({ iif: "eni1f3a2b4c5d6", src: POD_A, dst: "8.8.8.8", proto: "udp" as const, sport: 1000 + i, dport: 53, t: i });
    const hits = (rs: ReturnType<Engine["process"]>) => rs.map((r) => (r.rules ?? []).some((x) => x.includes("--mode nth")) ? 1 : 0).join("");
    // --every 3 --packet 0: the 1st, 4th, 7th... evaluations match
    expect(hits(e.process([0, 1, 2, 3, 4].map(pkt)))).toBe("10010");
    e.loadRuleset(rules(POD_A));
    expect(hits(e.process([5, 6, 7, 8].map(pkt)))).toBe("1001");
  });
});
