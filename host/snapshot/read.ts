/**
 * Reading a snapshot directory from disk (Node only; parseSnapshotFiles in
 * files.ts does the parsing and works anywhere).
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { NodeSnapshot } from "../model/node.js";
import { InputError } from "./errors.js";
import { parseSnapshotFiles, REQUIRED_FILES, OPTIONAL_FILES } from "./files.js";

export { parseSnapshotFiles, REQUIRED_FILES, OPTIONAL_FILES };

/** Reads a snapshot directory (see parseSnapshotFiles). */
export async function readSnapshotDir(dir: string): Promise<NodeSnapshot> {
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw new InputError(dir, 0, "", "no such snapshot directory");
  }
  if (!st.isDirectory()) throw new InputError(dir, 0, "", "not a directory (expected a snapshot directory)");
  const files: Record<string, string> = {};
  const names = [...Object.keys(REQUIRED_FILES), ...Object.keys(OPTIONAL_FILES)];
  await Promise.all(names.map(async (name) => {
    try {
      files[name] = await readFile(join(dir, name), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new InputError(join(dir, name), 0, "", `cannot read: ${(e as Error).message}`);
      }
    }
  }));
  try {
    return parseSnapshotFiles(files, dir);
  } catch (e) {
    // name the file with its directory: a user may have several snapshots
    if (e instanceof InputError && !e.file.includes("/")) {
      throw new InputError(join(dir, e.file), e.line, e.token, e.problem, e.text, e.column);
    }
    throw e;
  }
}
