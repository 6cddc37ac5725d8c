/**
 * The `ip_error` input field: a header ip_rcv_core rejects is dropped before
 * PREROUTING with the kernel's reason and counters (assembly/ipv4/rcv.ts;
 * test/pcap/iprcv-kernel.test.ts compares the same with the kernel).
 */
import { describe, expect, it } from "vitest";
import type { PacketInput } from "../../host/packet/input.js";
import { eksFixtureEngine } from "../fixtures/eks-fixture.js";

// a ruleset that would count the packet if it reached PREROUTING
const engine = () => eksFixtureEngine({ rules: "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -j ACCEPT\nCOMMIT\n" });

const pkt = (ip_error?: string): PacketInput => ({ iif: "eth0", src: "52.1.2.3", dst: "10.0.0.55", proto: "udp", sport: 5353, dport: 53, len: 80, ...(ip_error ? { ip_error } : {}) } as PacketInput);

describe("ip_error: ip_rcv_core drops", () => {
  it("each kind: its drop reason and counters, before PREROUTING", async () => {
    const e = await engine();
    const r = e.process([pkt("hdr"), pkt("csum"), pkt("truncated"), pkt()]);
    expect(r.map((x) => [x.verdict, x.reason])).toEqual([["drop", "IP_INHDR"], ["drop", "IP_CSUM"], ["drop", "PKT_TOO_SMALL"], ["forward", undefined]]);
    const c = e.counters();
    expect([c.IpInReceives, c.IpInHdrErrors, c.IpExtInCsumErrors, c.IpExtInTruncatedPkts, c.IpForwDatagrams]).toEqual([4, 2, 1, 1, 1]);
    // only the sound packet reached the raw table
    expect(e.ruleCounters().map((x) => Number(x.packets))[0]).toBe(1);
  });

  it("the ECN codepoint is counted for all but \"hdr\" (after the version/IHL check); IpExtInOctets counts the padding too", async () => {
    const e = await engine();
    const r = e.process([
      { ...pkt("hdr"), tos: 1 }, { ...pkt("hdr_len"), tos: 2 }, { ...pkt("csum"), tos: 3 }, { ...pkt("truncated"), tos: 1 },
      { ...pkt(), tos: 0, pad: 26 }, { ...pkt(), tos: 0xfe },
    ]);
    expect(r.map((x) => x.reason)).toEqual(["IP_INHDR", "IP_INHDR", "IP_CSUM", "PKT_TOO_SMALL", undefined, undefined]);
    const c = e.counters();
    expect([c.IpInReceives, c.IpInHdrErrors]).toEqual([6, 3]);
    expect([c.IpExtInNoECTPkts, c.IpExtInECT1Pkts, c.IpExtInECT0Pkts, c.IpExtInCEPkts]).toEqual([1, 1, 2, 1]); // 0xfe & 3 is ECT(0)
    // skb->len: every packet's 80 bytes, and the padding after the fifth
    expect(c.IpExtInOctets).toBe(6 * 80 + 26);
    // the two forwarded, once each through ip_finish_output2
    expect([c.IpOutTransmits, c.IpExtOutOctets]).toEqual([2, 160]);
  });

  it("an unknown value names the field; pad only where it means something", async () => {
    const e = await engine();
    expect(() => e.process([pkt("bogus")])).toThrow(/ip_error.*"hdr", "hdr_len", "csum" or "truncated"/);
    expect(() => e.process([{ ...pkt("csum"), pad: 4 }])).toThrow(/pad/);
    expect(() => e.process([{ ...pkt(), iif: "local", pad: 4 }])).toThrow(/pad.*arriving/);
  });
});

describe("pkt_type: the link-layer packet type", () => {
  const typed = (pkt_type: string, dst = "10.0.0.55"): PacketInput => ({ ...pkt(), dst, pkt_type } as PacketInput);

  it("otherhost is dropped by ip_rcv_core before any counter and before PREROUTING; broadcast and multicast are not forwarded", async () => {
    const e = await engine();
    const r = e.process([typed("otherhost"), typed("broadcast"), typed("multicast"), typed("host")]);
    expect(r.map((x) => [x.verdict, x.reason])).toEqual([["drop", "OTHERHOST"], ["drop", "L2_NOT_HOST"], ["drop", "L2_NOT_HOST"], ["forward", undefined]]);
    const c = e.counters();
    // ip_forward's pkt_type check comes after IpInReceives and PREROUTING
    expect(c.IpInReceives).toBe(3);
    expect(e.ruleCounters().map((x) => Number(x.packets))[0]).toBe(3);
  });

  it("a bad value, or a type on a locally sent packet, names the field", async () => {
    const e = await engine();
    expect(() => e.process([typed("promisc")])).toThrow(/pkt_type.*"host", "broadcast", "multicast" or "otherhost"/);
    expect(() => e.process([{ iif: "local", dst: "10.0.0.55", proto: "udp", sport: 1, dport: 2, pkt_type: "broadcast" } as PacketInput])).toThrow(/pkt_type.*arriving on an interface/);
  });
});
