/**
 * Creating output directories. Node 20's recursive mkdir (fs.mkdirSync and
 * fs/promises.mkdir with `recursive: true`) never returns for some paths
 * (under /proc, for example: it retries a parent that exists but refuses the
 * child forever), so output directories are made here one component at a
 * time, and a failure is an error naming the directory and the reason.
 */
import { mkdirSync, openSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** Makes directory `dir` and any missing parents; throws an Error naming `dir` when it cannot. */
export function makeDir(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    let st;
    try {
      st = statSync(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") throw new Error(`cannot create ${dir}: ${d}: ${fsErrorText(e)}`);
    }
    if (st) {
      if (!st.isDirectory()) throw new Error(`cannot create ${dir}: ${d} is not a directory`);
      break;
    }
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      mkdirSync(missing[i]!);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST" && statSync(missing[i]!).isDirectory()) continue;
      throw new Error(`cannot create ${dir}: ${missing[i]}: ${fsErrorText(e)}`);
    }
  }
}

/** A file-system error in words ("no such file or directory"), or its message. */
export function fsErrorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const text: Record<string, string> = {
    EACCES: "permission denied", EPERM: "operation not permitted", ENOENT: "no such file or directory",
    ENOTDIR: "a parent is not a directory", EISDIR: "it is a directory", EROFS: "read-only file system", ENOSPC: "no space left on device",
  };
  return (err.code && text[err.code]) ?? err.message;
}

/**
 * Opens (creates or truncates) output file `path` given with command-line
 * option `option`, before any work is done, so that a path that cannot be
 * written is an error naming the option, not a failure at the end of a run.
 * Returns the open descriptor.
 */
export function openOutput(option: string, path: string): number {
  try {
    return openSync(path, "w");
  } catch (e) {
    throw new Error(`${option} ${path}: cannot write: ${fsErrorText(e)}`);
  }
}
