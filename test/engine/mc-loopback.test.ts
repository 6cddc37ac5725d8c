/**
 * The node's own broadcast and multicast sends without a kernel: SO_BROADCAST
 * (`so_broadcast`), and ip_mc_output's looped-back copy through the receive
 * hooks (`loopback`; test/pcap/mc-loopback-kernel.test.ts asks the kernel).
 */
import { describe, expect, it } from "vitest";
import { eksFixtureEngine } from "../fixtures/eks-fixture.js";

// the fixture: eth0 10.0.0.10/24 via 10.0.0.1
const RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i eth0 -m pkttype --pkt-type broadcast
-A INPUT -i eth0 -m pkttype --pkt-type multicast
-A INPUT -p udp --dport 69 -j DROP
COMMIT
`;

describe("local broadcast and multicast sends", () => {
  it("SO_BROADCAST, and the looped copy's INPUT rules and fate", async () => {
    const e = await eksFixtureEngine({ rules: RULES });
    const r = e.process([
      { iif: "local", dst: "10.0.0.255", proto: "udp", sport: 40000, dport: 5555 },
      { iif: "local", dst: "10.0.0.255", proto: "udp", sport: 40001, dport: 5555, so_broadcast: true },
      { iif: "local", dst: "10.0.0.255", proto: "udp", sport: 40002, dport: 69, so_broadcast: true },
      { iif: "local", dst: "224.0.0.1", proto: "udp", sport: 40003, dport: 5555 },
      { iif: "local", dst: "10.0.0.255", proto: "tcp", sport: 40004, dport: 80, flags: "S", so_broadcast: true },
    ]);
    expect(r.map((x) => [x.verdict, x.reason, x.loopback])).toEqual([
      ["drop", "SOCK_BROADCAST", undefined],
      ["forward", undefined, "local"],
      ["forward", undefined, "drop"],
      ["forward", undefined, "local"],
      ["drop", "IP_INNOROUTES", undefined],
    ]);
    expect(r[1]!.oif).toBe("eth0");
    const save = e.iptablesSave();
    expect(save).toContain("[2:56] -A INPUT -i eth0 -m pkttype --pkt-type broadcast");
    expect(save).toContain("[1:28] -A INPUT -i eth0 -m pkttype --pkt-type multicast");
    expect(save).toContain("[1:28] -A INPUT -p udp --dport 69 -j DROP");
    expect(e.counters().IpInReceives).toBe(3); // the three looped copies (ip_rcv)
  });

  it("so_broadcast is for local packets, true or false", async () => {
    const e = await eksFixtureEngine({ rules: RULES });
    expect(() => e.process([{ iif: "eth0", src: "10.0.0.1", dst: "10.0.0.10", proto: "udp", so_broadcast: true }])).toThrow(/so_broadcast/);
    expect(() => e.process([{ iif: "local", dst: "10.0.0.255", proto: "udp", so_broadcast: 1 } as never])).toThrow(/so_broadcast/);
  });
});
