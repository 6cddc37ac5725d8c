/**
 * Streaming replay of JSONL packets: read a line at a time, process in
 * batches, write one JSON result per input line. Memory stays bounded by the
 * batch size whatever the input size.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Writable } from "node:stream";
import type { Engine } from "../engine.js";
import { InputError } from "../snapshot/errors.js";
import type { PacketResult } from "../packet/result.js";
import { resultJson } from "../packet/result-json.js";
import { LineBuffer } from "./lines.js";

export interface ReplayStats {
  packets: number;
  verdicts: Record<string, number>;
  drops: Record<string, number>;
  byOif: Record<string, number>;
  replies: Record<string, number>;
  /** NAT operations on packets (DNAT, SNAT rewrites; BIND_* bindings made). */
  nat: Record<string, number>;
  /** Packets by -m conntrack --ctstate. */
  ctstates: Record<string, number>;
  /** Sum of rules traversed (for the mean). */
  rulesTraversed: number;
  /** Wall-clock seconds spent in the engine (parse + process + encode). */
  seconds: number;
}

export function newStats(): ReplayStats {
  return { packets: 0, verdicts: {}, drops: {}, byOif: {}, replies: {}, nat: {}, ctstates: {}, rulesTraversed: 0, seconds: 0 };
}

export function accumulate(stats: ReplayStats, r: PacketResult): void {
  stats.packets++;
  stats.verdicts[r.verdict] = (stats.verdicts[r.verdict] ?? 0) + 1;
  if (r.reason) stats.drops[r.reason] = (stats.drops[r.reason] ?? 0) + 1;
  if (r.verdict === "forward" && r.oif) stats.byOif[r.oif] = (stats.byOif[r.oif] ?? 0) + 1;
  for (const q of r.replies) {
    const k = q.kind === "tcp" ? `tcp ${q.flags}` : `icmp ${q.icmp_type}/${q.icmp_code}`;
    stats.replies[k] = (stats.replies[k] ?? 0) + 1;
  }
  if (r.nat) for (const n of r.nat) stats.nat[n] = (stats.nat[n] ?? 0) + 1;
  if (r.ct) stats.ctstates[r.ct] = (stats.ctstates[r.ct] ?? 0) + 1;
  if (r.rules_traversed) stats.rulesTraversed += r.rules_traversed;
}

/** Writes a chunk and waits when the stream asks for it (backpressure). */
async function write(out: Writable, s: Uint8Array): Promise<void> {
  if (!out.write(s)) await new Promise<void>((res) => out.once("drain", () => res()));
}

/**
 * Replays `file` (JSONL) through the engine, writing results to `out` (or
 * nowhere when undefined). Throws InputError with file and line on bad input.
 */
export async function replayJsonl(engine: Engine, file: string, out: Writable | undefined): Promise<ReplayStats> {
  const stats = newStats();
  const output = out ? new LineBuffer(engine.batchSize * 1536) : undefined;
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let lineNo = 0;
  let batch: Record<string, unknown>[] = [];
  let lines: number[] = [];
  const flush = async (final: boolean) => {
    if (batch.length === 0) return;
    const t0 = performance.now();
    const firstIndex = stats.packets;
    const results = engine.process(batch, (i) => ({ file, line: lines[i] }), firstIndex, final);
    stats.seconds += (performance.now() - t0) / 1000;
    for (const r of results) {
      accumulate(stats, r);
      if (output) output.add(resultJson(r));
    }
    if (output) await write(out!, output.take().bytes);
    // packets the engine left for the next call (a round of concurrent packets, see EngineOptions.cpus)
    batch = batch.slice(results.length);
    lines = lines.slice(results.length);
  };
  for await (const line of rl) {
    lineNo++;
    const text = line.trim();
    if (text === "" || text.startsWith("#")) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      throw new InputError(file, lineNo, "", `not valid JSON (${(e as Error).message})`, text.length > 200 ? text.slice(0, 200) + "..." : text);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new InputError(file, lineNo, "", "each line must be a JSON object", text);
    batch.push(obj as Record<string, unknown>);
    lines.push(lineNo);
    if (batch.length >= engine.batchSize) await flush(false);
  }
  await flush(true);
  return stats;
}
