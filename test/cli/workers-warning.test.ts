/**
 * `replay --workers N`: when the CLI says that more workers will be slower
 * than one (host/cli/replay.ts, workersWarning; the measurements behind it
 * are in the README, "Replay at scale").
 */
import { describe, expect, it } from "vitest";
import { workersWarning } from "../../host/cli/replay.js";

describe("workersWarning", () => {
  it("one worker: nothing to say, whatever the input and CPUs", () => {
    for (const input of ["pcap", "packets", "generate"] as const) {
      expect(workersWarning(1, 1, input)).toBeUndefined();
      expect(workersWarning(1, 64, input)).toBeUndefined();
    }
  });

  it("generated traffic: always (the closed loop's fills are round trips between threads)", () => {
    expect(workersWarning(2, 64, "generate")).toMatch(/^--workers 2 with --generate: .*round trip between threads; one worker is faster/);
    expect(workersWarning(4, 2, "generate")).toMatch(/^--workers 4 with --generate/);
  });

  it("a capture: only when there is no CPU to spare beside the workers", () => {
    expect(workersWarning(2, 2, "pcap")).toBe(
      "--workers 2 with 2 CPUs: the workers and the dispatcher take turns on them; one worker (it reads and decodes the capture on a second thread) is faster on such a machine (README, \"Replay at scale\")");
    expect(workersWarning(2, 1, "pcap")).toMatch(/^--workers 2 with 1 CPU: /);
    expect(workersWarning(4, 4, "pcap")).toMatch(/^--workers 4 with 4 CPUs/);
    expect(workersWarning(2, 3, "pcap")).toBeUndefined();
    expect(workersWarning(4, 8, "pcap")).toBeUndefined();
  });

  it("JSONL input: not measured, so nothing is claimed", () => {
    expect(workersWarning(2, 2, "packets")).toBeUndefined();
  });
});
