/**
 * Policy routing, differentially: randomized nodes are built in a network
 * namespace, dumped with the snapshot commands, loaded into the emulator, and
 * both answer the same `ip route get` questions and handle the same injected
 * packets. Every answer must agree: the printed route, the frames that leave
 * (forwarded packets, ICMP errors, redirects, resets, echo replies) and the
 * SNMP counters.
 */
import { it, expect, afterAll } from "vitest";
import { KernelNode } from "./netns.js";
import { describeKernel } from "./kernel-gate.js";
import { genRoutingCase } from "./gen-routing.js";
import { comparePackets, diagnoseCounters, type Disagreement } from "./compare.js";
import { Engine } from "../../host/engine.js";
import { parseSnapshotFiles } from "../../host/snapshot/read.js";
import { parseRouteGetArgs, routeGet } from "../../host/route/get.js";

const CONFIGS = Number(process.env.NODEPLANE_ROUTING_CONFIGS ?? 64);
const GROUP = 8;
const QUERIES = 150;
const PACKETS = 50;

let cases = 0;
const failures: string[] = [];

/** Runs one randomized configuration; returns its disagreements (as text) and the number of cases compared. */
async function runConfig(seed: number): Promise<{ problems: string[]; compared: number }> {
  const c = genRoutingCase(seed, { queries: QUERIES, packets: PACKETS });
  const kernel = await KernelNode.create(c.spec);
  try {
    const files = await kernel.dumpSnapshot();
    const snap = parseSnapshotFiles(files, `kernel seed ${seed}`);
    const engine = await Engine.create({ seed, senderSockets: "closed" /* the agent sends and closes */ });
    engine.load(snap, { hz: snap.hz ?? 250 });
    const problems: string[] = [];
    // 1. ip route get
    const answers = await kernel.routeGet(c.queries);
    c.queries.forEach((q, i) => {
      const k = answers[i];
      const a = routeGet(engine, parseRouteGetArgs(q));
      const kText = k.ok ? k.out : k.err;
      const eText = a.err === 0 ? a.text : a.text.trim();
      if (kText !== eText) problems.push(`ip route get ${q.join(" ")}\n      kernel:   ${JSON.stringify(kText)}\n      emulator: ${JSON.stringify(eText)}${a.ipRule ? `\n      (rule ${a.ipRule}; route ${a.ipRoute ?? "-"})` : ""}`);
    });
    // 2. packets
    const t0: { ns?: number } = {};
    const { disagreements, compared } = await comparePackets(kernel, engine, c.packets, t0);
    for (const d of disagreements) problems.push(fmt(d));
    if (disagreements.some((d) => d.what.startsWith("counter"))) {
      problems.push("  per-packet diagnosis:", ...(await diagnoseCounters(c.spec, async (f) => {
        const e = await Engine.create({ seed, senderSockets: "closed" /* the agent sends and closes */ });
        const s2 = parseSnapshotFiles(f, `kernel seed ${seed}`);
        e.load(s2, { hz: s2.hz ?? 250 });
        return e;
      }, c.packets)));
    }
    if (problems.length) problems.unshift(`seed ${seed}: setup\n      ${c.spec.commands.join("\n      ")}`);
    return { problems, compared: c.queries.length + compared };
  } finally {
    await kernel.destroy();
  }
}

function fmt(d: Disagreement): string {
  return `${d.what}\n      kernel:   ${d.kernel}\n      emulator: ${d.emulator}`;
}

describeKernel("policy routing agrees with the kernel on randomized nodes", () => {
  for (let g = 0; g < CONFIGS; g += GROUP) {
    it(`configurations ${g}..${Math.min(CONFIGS, g + GROUP) - 1}`, async () => {
      const local: string[] = [];
      for (let s = g; s < Math.min(CONFIGS, g + GROUP); s++) {
        const r = await runConfig(1000 + s);
        cases += r.compared;
        local.push(...r.problems);
      }
      failures.push(...local);
      expect(local.slice(0, 40).join("\n")).toBe("");
    }, 600_000);
  }

  it(`covered at least ${CONFIGS >= 64 ? "10,000" : "some"} cases`, () => {
    console.log(`routing differential: ${cases} cases (ip route get + injected packets) over ${CONFIGS} configurations, ${failures.length} disagreements`);
    if (CONFIGS >= 64) expect(cases).toBeGreaterThanOrEqual(10000);
    expect(failures.length).toBe(0);
  });
});

afterAll(() => {
  if (failures.length) console.log(failures.slice(0, 60).join("\n"));
});
