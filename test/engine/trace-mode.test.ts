/**
 * Engine.setTrace("off"): the core stops recording each packet's matched
 * rules (what summary-only replays do), and nothing else changes: the same
 * verdicts, translations, rules traversed, rule counters and connections.
 */
import { describe, expect, it } from "vitest";
import { demoEngine, demoPackets } from "../pcap/helpers.js";
import type { PacketResult } from "../../host/packet/result.js";

/** A result without its `rules` lists (the packet's and its replies'). */
function strip(r: PacketResult): PacketResult {
  const { rules: _, ...rest } = r;
  return { ...rest, replies: r.replies.map(({ rules: _r, ...q }) => q) } as PacketResult;
}

describe("trace mode off", () => {
  it("results lose `rules` and nothing else; counters and connections are the same", async () => {
    const pkts = demoPackets(2000);
    const on = await demoEngine();
    const off = await demoEngine();
    off.setTrace("off");
    const a = on.process(pkts);
    const b = off.process(pkts);
    expect(a.length).toBe(pkts.length);
    // the comparison is not vacuous: packets matched rules, and those lists are gone
    expect(a.filter((r) => (r.rules?.length ?? 0) > 0).length).toBeGreaterThan(pkts.length / 2);
    expect(b.every((r) => r.rules === undefined && r.replies.every((q) => q.rules === undefined))).toBe(true);
    expect(b).toEqual(a.map(strip));
    expect(off.ruleCounters()).toEqual(on.ruleCounters());
    expect(off.conntrackList()).toBe(on.conntrackList());
    expect(off.counters()).toEqual(on.counters());
    // and back on
    off.setTrace("matched");
    const c = off.process(pkts.slice(0, 50));
    expect(c.some((r) => (r.rules?.length ?? 0) > 0)).toBe(true);
  });
});
