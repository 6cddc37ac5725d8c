/**
 * resultJson (host/packet/result-json.ts) is JSON.stringify for replay
 * results, byte for byte: checked over traffic that exercises every key of
 * every result type (the test fails if some key is never produced, so the
 * corpus grows with the format).
 */
import { describe, expect, it } from "vitest";
import { eksFixtureEngine } from "../fixtures/eks-fixture.js";
import type { PacketInput } from "../../host/packet/input.js";
import type { PacketResult } from "../../host/packet/result.js";
import { resultJson, PACKET_KEYS, REPLY_KEYS, CT_ENTRY_KEYS, CT_TUPLE_KEYS, INNER_KEYS, SEEN_KEYS } from "../../host/packet/result-json.js";
import { demoEngine, demoPackets } from "../pcap/helpers.js";

// the fixture: eth0 10.0.0.10/24 via 10.0.0.1, pod 10.0.0.55 on eni1f3a2b4c5d6, MTU 9001, TCP 22 listening
const RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.0.0.10/32 -p tcp --dport 8080 -j DNAT --to-destination 10.0.0.55:80
-A POSTROUTING -s 10.0.0.55/32 ! -d 10.0.0.0/16 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset
-A INPUT -p udp --dport 69 -j DROP
-A FORWARD -m conntrack --ctstate INVALID -j DROP
-A FORWARD -p udp --dport 9 -j REJECT
-A OUTPUT -p icmp --icmp-type time-exceeded -j DROP
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A FORWARD -p tcp -m tcp --dport 81 --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200
-A FORWARD -p udp -m udp --dport 82 -j TOS --set-tos 0x10/0xff
COMMIT
`;

const fixture = () => eksFixtureEngine({ rules: RULES });

const C = "52.1.2.3";
const FIXTURE_PACKETS: PacketInput[] = [
  // NodePort-like DNAT to the pod, its answer, an ICMP error about it (inner, rewritten)
  { iif: "eth0", src: C, dst: "10.0.0.10", proto: "tcp", sport: 40000, dport: 8080, flags: "S", seq: 1, win: 64240, t: 0.1 },
  { iif: "eni1f3a2b4c5d6", src: "10.0.0.55", dst: C, proto: "tcp", sport: 80, dport: 40000, flags: "SA", seq: 7, ack: 2, win: 64240, t: 0.2 },
  { iif: "eth0", src: "52.9.9.9", dst: "10.0.0.10", proto: "icmp", icmp_type: 3, icmp_code: 1, len: 56, t: 0.3,
    inner: { src: "10.0.0.10", dst: C, proto: "tcp", sport: 8080, dport: 40000 } },
  // pod to the internet: MASQUERADE; an echo (icmp_id)
  { iif: "eni1f3a2b4c5d6", src: "10.0.0.55", dst: "8.8.8.8", proto: "udp", sport: 5000, dport: 53, t: 0.4 },
  { iif: "eni1f3a2b4c5d6", src: "10.0.0.55", dst: "8.8.8.8", proto: "icmp", icmp_type: 8, icmp_id: 9, icmp_seq: 1, t: 0.5 },
  // local: RST from REJECT, a DROP (nf_verdict), a closed TCP port (the stack's RST), an echo answered
  { iif: "eth0", src: C, dst: "10.0.0.10", proto: "tcp", sport: 40001, dport: 23, flags: "S", seq: 5, t: 0.6 },
  { iif: "eth0", src: C, dst: "10.0.0.10", proto: "udp", sport: 40002, dport: 69, t: 0.7 },
  { iif: "eth0", src: C, dst: "10.0.0.10", proto: "tcp", sport: 40003, dport: 9999, flags: "S", seq: 5, t: 0.8 },
  { iif: "eth0", src: C, dst: "10.0.0.10", proto: "icmp", icmp_type: 8, icmp_id: 3, icmp_seq: 1, t: 0.9 },
  // forwarded: REJECT (ICMP port unreachable quoting the packet), too big with DF (mtu), fragmented without
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: "udp", sport: 40004, dport: 9, t: 1.0 },
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: "udp", sport: 40005, dport: 7, len: 9500, df: true, t: 1.1 },
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: "udp", sport: 40006, dport: 7, len: 9500, df: false, t: 1.2 },
  // on-link source leaving by the same device: an ICMP redirect (gateway)
  { iif: "eth0", src: "10.0.0.99", dst: "8.8.4.4", proto: "udp", sport: 40007, dport: 53, t: 1.3 },
  // TTL expiry (its time exceeded is dropped at OUTPUT: a reply's nf_verdict), an INVALID TCP packet (no connection, not a SYN)
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: "tcp", sport: 40008, dport: 80, flags: "S", ttl: 1, t: 1.4 },
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: "tcp", sport: 40009, dport: 80, flags: "A", seq: 1, ack: 1, t: 1.5 },
  // SCTP and GRE (ct_entry states and protocol names)
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: 132, sport: 3868, dport: 3868, len: 52, t: 1.6, sctp: { vtag: 0, chunks: [{ type: "INIT", init_tag: 7 }] } },
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: 47, len: 48, t: 1.7 },
  // an ICMP error quoting an ICMP echo
  { iif: "eth0", src: "52.9.9.9", dst: "10.0.0.10", proto: "icmp", icmp_type: 11, icmp_code: 0, len: 56, t: 1.8,
    inner: { src: "10.0.0.10", dst: "52.9.9.8", proto: "icmp", icmp_type: 8, icmp_code: 0, icmp_id: 5, icmp_seq: 9 } },
  // mangle targets: an MSS lowered (mss), a SYN without an MSS option (one inserted: mss, len), a TOS rewritten (tos)
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: "tcp", sport: 40010, dport: 81, flags: "S", seq: 1, doff: 6, mss: 1460, t: 1.9 },
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: "tcp", sport: 40011, dport: 81, flags: "S", seq: 1, t: 2.0 },
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: "udp", sport: 40012, dport: 82, t: 2.1 },
  // the node's own multicast to the all-hosts group: ip_mc_output's looped copy delivered, and dropped by INPUT (loopback)
  { iif: "local", dst: "224.0.0.1", proto: "udp", sport: 40013, dport: 5555, t: 2.2 },
  { iif: "local", dst: "224.0.0.1", proto: "udp", sport: 40014, dport: 69, t: 2.3 },
  // the capture's forwarded copy (seen): with its device, and without
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: "udp", sport: 40015, dport: 82, t: 2.4, seen: { src: C, dst: "10.0.0.55", sport: 40015, dport: 82, oif: "eni1f3a2b4c5d6" } },
  { iif: "eth0", src: C, dst: "10.0.0.55", proto: "icmp", icmp_type: 8, icmp_id: 4, icmp_seq: 1, t: 2.5, seen: { src: C, dst: "10.0.0.56", sport: 4, dport: 4 } },
];

/** Every key seen in the results (per type), for the coverage check. */
function keysSeen(results: PacketResult[]) {
  const seen = { packet: new Set<string>(), reply: new Set<string>(), ctEntry: new Set<string>(), tuple: new Set<string>(), inner: new Set<string>(), copy: new Set<string>() };
  const nested = (o: Record<string, unknown>) => {
    const e = o.ct_entry as Record<string, unknown> | undefined;
    if (e) {
      for (const k of Object.keys(e)) seen.ctEntry.add(k);
      for (const t of [e.orig, e.reply] as Record<string, unknown>[]) for (const k of Object.keys(t)) seen.tuple.add(k);
    }
    const h = o.inner as Record<string, unknown> | undefined;
    if (h) for (const k of Object.keys(h)) seen.inner.add(k);
    const c = o.seen as Record<string, unknown> | undefined;
    if (c) for (const k of Object.keys(c)) seen.copy.add(k);
  };
  for (const r of results) {
    for (const k of Object.keys(r)) seen.packet.add(k);
    nested(r as unknown as Record<string, unknown>);
    for (const q of r.replies) {
      for (const k of Object.keys(q)) seen.reply.add(k);
      nested(q as unknown as Record<string, unknown>);
    }
  }
  return seen;
}

describe("resultJson = JSON.stringify", () => {
  it("byte for byte over traffic that produces every key of every result type", async () => {
    const all: PacketResult[] = [];
    // the fixture with a ruleset: matched rules, every rule examined, and a trace ring too small (trace_truncated)
    for (const mode of ["matched", "all", "tiny"] as const) {
      const e = await fixture();
      if (mode === "all") e.setTrace(true);
      if (mode === "tiny") e.setTrace(true, 4);
      all.push(...e.process(FIXTURE_PACKETS));
    }
    // the demo EKS node: a workload of thousands of packets through kube-proxy's rules
    const d = await demoEngine();
    all.push(...d.process(demoPackets(3000)));
    const off = await demoEngine();
    off.setTrace("off");
    all.push(...off.process(demoPackets(500, 5)));
    for (const r of all) expect(resultJson(r)).toBe(JSON.stringify(r));
    const seen = keysSeen(all);
    expect([...PACKET_KEYS].filter((k) => !seen.packet.has(k))).toEqual([]);
    expect([...REPLY_KEYS].filter((k) => !seen.reply.has(k))).toEqual([]);
    expect([...CT_ENTRY_KEYS].filter((k) => !seen.ctEntry.has(k))).toEqual([]);
    expect([...CT_TUPLE_KEYS].filter((k) => !seen.tuple.has(k))).toEqual([]);
    expect([...INNER_KEYS].filter((k) => !seen.inner.has(k))).toEqual([]);
    expect([...SEEN_KEYS].filter((k) => !seen.copy.has(k))).toEqual([]);
  });

  it("strings that need escaping, and numbers JSON writes as null", () => {
    const r = {
      i: 1, verdict: "drop", reason: "NETFILTER", src: "1.2.3.4", dst: "5.6.7.8", ttl: 64,
      rules: ["\u2028 line sep", "é"], rules_traversed: NaN,
      nf_verdict: '-t filter -A INPUT -m comment --comment "a \\ b\tc\u0001" -j DROP', replies: [],
    } as unknown as PacketResult;
    expect(resultJson(r)).toBe(JSON.stringify(r));
  });
});
