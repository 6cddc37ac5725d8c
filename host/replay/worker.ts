/**
 * A replay worker thread (`replay --workers N`, shards 1..N-1): a
 * ShardEngine (shard-engine.ts) behind the worker message port.
 */
import { parentPort } from "node:worker_threads";
import { isInputError } from "../snapshot/errors.js";
import { ShardEngine } from "./shard-engine.js";
import type { FromWorker, ToWorker } from "./run.js";

const port = parentPort!;
const shard = new ShardEngine();

function send(m: FromWorker, transfer: ArrayBuffer[] = []): void { port.postMessage(m, transfer); }

function fail(e: unknown): void {
  if (isInputError(e)) send({ type: "error", message: e.message, input: { file: e.file, line: e.line, token: e.token, problem: e.problem, text: e.text, column: e.column } });
  else send({ type: "error", message: (e as Error)?.stack ?? String(e) });
}

port.on("message", (m: ToWorker) => {
  void handle(m).catch(fail);
});

async function handle(m: ToWorker): Promise<void> {
  if (m.type === "init") {
    await shard.init(m, (message) => send({ type: "warning", message }));
    send({ type: "ready" });
  } else if (m.type === "round") {
    const d = shard.round(m);
    const t = [d.buf, d.idx];
    if (d.frames) t.push(d.frames.bytes, d.frames.meta.buffer as ArrayBuffer);
    if (d.jsonl) t.push(d.jsonl.bytes, d.jsonl.ends.buffer as ArrayBuffer);
    send(d, t);
  } else {
    send(shard.finish(m.conntrack, m.clockNs));
  }
}
