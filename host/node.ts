/** Node-only helpers: reading snapshot directories and replaying JSONL files. */
export { readSnapshotDir } from "./snapshot/read.js";
export { replayJsonl, type ReplayStats } from "./replay/jsonl.js";
export * from "./index.js";
