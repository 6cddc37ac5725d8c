/**
 * Generated traffic (`replay --generate SPEC`, host/traffic) as a replay
 * PacketSource. The generator is a closed loop: its servers answer what
 * left the node (after NAT), so it reads every fill's outcome (processed())
 * before it fills again; with workers, each fill is therefore dispatched and
 * completed before the next (run.ts), which costs parallelism but keeps the
 * traffic, and so the results, the same whatever the number of workers.
 */
import type { Engine } from "../engine.js";
import { createGenerator, loadTrafficSpec, type TrafficGenerator } from "../traffic/index.js";
import type { PacketSource, SourceProgress } from "./sources.js";

export class GeneratorSource implements PacketSource {
  readonly kind = "generate" as const;
  readonly closedLoop = true;
  private done = 0;

  private constructor(readonly label: string, private readonly gen: TrafficGenerator, private readonly total: number) {}

  static async create(specPath: string, engine: Engine): Promise<GeneratorSource> {
    const spec = await loadTrafficSpec(specPath);
    const gen = createGenerator(spec, engine);
    return new GeneratorSource(specPath, gen, spec.packets ?? 0);
  }

  fill(dv: DataView, base: number, max: number): number {
    const n = this.gen.fill(dv, base, max);
    this.done += n;
    return n;
  }

  processed(dv: DataView, base: number, n: number): void { this.gen.feedback(dv, base, n); }

  /** Packets (the spec's `packets` is the total when it gives one). */
  progress(): SourceProgress { return { done: this.done, total: this.total, unit: "packets" }; }
  skipped(): Record<string, number> { return {}; }
  close(): void {}
}
