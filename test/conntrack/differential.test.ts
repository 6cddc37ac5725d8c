/**
 * Connection tracking and NAT against the kernel (test/conntrack/diff/):
 * scripted TCP, UDP and ICMP conversations through a node built in network
 * namespaces, the same packets into the emulator, and after every round the
 * frames that left the node (NAT'd addresses and ports in both directions,
 * the node's own answers), rule and SNMP counters, `conntrack -L` (tuples,
 * state, [UNREPLIED]/[ASSURED], mark, timeouts within 2 s) and
 * `conntrack -S` compared. Scenarios (diff/scenarios.ts):
 *
 *  - tcp: handshakes, data, FIN from either side, RST teardowns, RST
 *    answering a SYN, SYN and SYN-ACK retransmission, simultaneous open,
 *    out-of-window segments with be_liberal 0 and 1, mid-stream pickup with
 *    tcp_loose 1 and 0, reopening from TIME_WAIT and CLOSE, window scaling
 *    and SACK, a long conversation;
 *  - udp: request/response to ASSURED, one-way, ICMP port unreachable;
 *  - icmp: echo pairs by id, unanswered echoes, errors RELATED to flows,
 *    errors for the node, timestamp and address-mask queries;
 *  - nat: DNAT with a port change, SNAT, MASQUERADE, port ranges, clashing
 *    source ports, --random, --random-fully (random ports compared by
 *    property, then followed), REDIRECT, address ranges, hairpin, OUTPUT DNAT;
 *  - notrack, generic and other trackers: NOTRACK/CT --notrack, protocols
 *    without a tracker, GRE, UDP-Lite, SCTP, `conntrack -L` protocol names;
 *  - checksum: bad and missing transport checksums with
 *    nf_conntrack_checksum 1 and 0;
 *  - timeout: udp/tcp/icmp timeouts lowered, entries expiring between rounds;
 *  - table full: nf_conntrack_max=16 with every entry assured (drops), and
 *    1000 entries in 512 buckets (early drop, compared by property); both
 *    change global sysctls (see GlobalMax in diff/runner.ts);
 *  - connmark: CONNMARK save/restore and the conntrack matches.
 *
 * Scenarios in diff/known.ts disagree because of emulator bugs written up
 * in diff/FINDINGS.md: reported, not failed.
 *
 * Needs root (network namespaces); skipped otherwise (a failure with
 * NODEPLANE_REQUIRE_KERNEL=1). Knobs:
 *   NP_CT_DEBUG=1    print both sides' answers and tables for rounds that disagreed (=2: every round)
 *   NP_CT_GLOBAL=1   run the table-full scenarios even if the host's own conntrack table is not empty (0: never)
 *   npx vitest run test/conntrack/differential.test.ts -t "tcp: simultaneous open"
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { KernelNode } from "../kernel/netns.js";
import { describeKernel } from "../kernel/kernel-gate.js";
import { SMALL_NODE } from "../netfilter/diff/node.js";
import { CtRunner, type CtResult, type Disagreement } from "./diff/runner.js";
import { allScenarios } from "./diff/scenarios.js";
import { KNOWN_EMULATOR_BUGS } from "./diff/known.js";

const results: CtResult[] = [];

function fmt(d: Disagreement): string {
  return `  ${d.scenario}: ${d.what}\n     kernel:   ${d.kernel}\n     emulator: ${d.emulator.length > 1500 ? d.emulator.slice(0, 1500) + "..." : d.emulator}`;
}

function report(r: CtResult): void {
  results.push(r);
  const known = KNOWN_EMULATOR_BUGS.has(r.name);
  if (r.skipped) {
    console.log(`${r.name}: skipped (${r.skipped})`);
    return;
  }
  console.log(`${r.name}: ${r.packets} packets in ${r.rounds} rounds, ${r.tables} tables compared, ${r.randomChoices} random NAT choices compared by property, ` +
    `conntrack -S ${Object.entries(r.stats).map(([k, v]) => `${k}=${v}`).join(" ") || "-"}, ${r.disagreements.length} disagreements, ${r.ms} ms${known ? " [known emulator bug]" : ""}`);
  for (const n of r.notes) console.log(`  note: ${n}`);
  for (const d of r.disagreements.slice(0, 15)) console.log(fmt(d));
  if (r.disagreements.length > 15) console.log(`  ... and ${r.disagreements.length - 15} more`);
}

describeKernel("conntrack and NAT vs the kernel (conntrack -L, conntrack -S, translated packets)", () => {
  let kernel: KernelNode;
  let runner: CtRunner;
  beforeAll(async () => {
    kernel = await KernelNode.create(SMALL_NODE);
    runner = await CtRunner.create(kernel);
  }, 60_000);
  afterAll(async () => { await kernel?.destroy(); });

  allScenarios().forEach((sc, i) => {
    it(sc.name, async () => {
      const r = await runner.run(sc, 1000 + i);
      report(r);
      if (KNOWN_EMULATOR_BUGS.has(r.name)) {
        if (r.disagreements.length === 0 && !r.skipped) console.log(`  NOTE: ${r.name} is listed in KNOWN_EMULATOR_BUGS but agreed with the kernel this time`);
        return;
      }
      expect(r.disagreements.map(fmt).join("\n")).toBe("");
    }, 60_000);
  });

  it("summary: every scenario agrees (or is a known emulator bug)", () => {
    const ran = results.filter((r) => !r.skipped);
    const packets = ran.reduce((a, r) => a + r.packets, 0);
    const tables = ran.reduce((a, r) => a + r.tables, 0);
    const dis = ran.reduce((a, r) => a + r.disagreements.length, 0);
    const known = ran.filter((r) => KNOWN_EMULATOR_BUGS.has(r.name));
    const knownDis = known.reduce((a, r) => a + r.disagreements.length, 0);
    console.log(`conntrack differential: ${packets} packets in ${ran.length} scenarios (${results.length - ran.length} skipped), ${tables} conntrack tables compared; ` +
      `${dis} disagreements (${knownDis} in ${known.length} scenarios listed as known emulator bugs, ${dis - knownDis} elsewhere)`);
    expect(dis - knownDis).toBe(0);
  });
});
