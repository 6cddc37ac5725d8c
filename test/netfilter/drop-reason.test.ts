/**
 * The drop reason of a netfilter verdict belongs to the walk that gave it:
 * REDIRECT on a device without an address drops with NAT_NO_ADDR
 * (nf_nat_redirect_ipv4: no ifa_list entry on the ingress device), and a
 * later packet dropped by a plain DROP rule is NETFILTER, not that reason again.
 */
import { describe, expect, it } from "vitest";
import { eksFixtureEngine } from "../fixtures/eks-fixture.js";

const RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i eni+ -p tcp --dport 15001 -j REDIRECT --to-ports 15001
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -p udp --dport 9 -j DROP
COMMIT
`;

describe("netfilter drop reasons", () => {
  it("REDIRECT without an address on the ingress device: NAT_NO_ADDR; a DROP rule after it: NETFILTER", async () => {
    const e = await eksFixtureEngine({ rules: RULES });
    const r = e.process([
      // the pod's host-side veth has no IPv4 address
      { iif: "eni1f3a2b4c5d6", src: "10.0.0.55", dst: "1.2.3.4", proto: "tcp", sport: 40000, dport: 15001, flags: "S" },
      { iif: "eth0", src: "52.1.2.3", dst: "10.0.0.55", proto: "udp", sport: 40001, dport: 9 },
    ]);
    expect(r.map((x) => [x.verdict, x.reason, x.nf_hook])).toEqual([["drop", "NAT_NO_ADDR", "PREROUTING"], ["drop", "NETFILTER", "FORWARD"]]);
  });
});
