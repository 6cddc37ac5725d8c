/**
 * Shared benchmark plumbing (tinybench). Every task processes a whole batch
 * per call (tinybench brackets one call per sample), so per-item figures are
 * batch-scaled. Variants compared with each other run in the same Bench, in
 * one process, and we report their ratio: absolute numbers on shared 2-core
 * machines drift, ratios measured side by side do not.
 */
import { Bench } from "tinybench";

export interface Measured {
  name: string;
  /** Items per task call. */
  batch: number;
  /** Median ns per item. */
  nsPerItem: number;
  /** Median items per second. */
  itemsPerSec: number;
  /** Relative margin of error of the latency mean, %. */
  rme: number;
  samples: number;
}

export async function measure(tasks: { name: string; batch: number; fn: () => void; beforeEach?: () => unknown }[], opts: { time?: number; warmupTime?: number; iterations?: number; warmupIterations?: number } = {}): Promise<Measured[]> {
  const bench = new Bench({
    time: opts.time ?? 1500, warmupTime: opts.warmupTime ?? 400, warmupIterations: opts.warmupIterations ?? 32,
    iterations: opts.iterations ?? 64,
  });
  // beforeEach runs outside the timed window (tinybench hooks; awaited when it returns a promise)
  // (Bench.run awaits what the hook returns: an async one finishes before the timed call)
  for (const t of tasks) bench.add(t.name, t.fn, t.beforeEach ? { beforeEach: t.beforeEach as () => void } : {});
  await bench.run();
  return tasks.map((t) => {
    const task = bench.getTask(t.name)!;
    const r = task.result as { state: string; latency?: { p50: number; mean: number; rme: number; samplesCount?: number }; error?: Error };
    if (!r.latency) throw new Error(`benchmark task ${t.name} did not complete: ${r.state} ${r.error?.message ?? ""}`);
    const ms = r.latency.p50;
    return {
      name: t.name, batch: t.batch, nsPerItem: (ms * 1e6) / t.batch, itemsPerSec: (t.batch * 1000) / ms,
      rme: r.latency.rme, samples: (task.runs as number) ?? 0,
    };
  });
}

export function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)} M/s`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k/s`;
  return `${x.toFixed(0)} /s`;
}

export function mdTable(header: string[], rows: (string | number)[][]): string {
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  return lines.join("\n");
}
