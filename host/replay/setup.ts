/**
 * The node a replay runs on, as plain data (snapshot file texts) so that
 * every worker thread can load its own Engine from it, and the loading
 * itself with errors that name the user's files.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../engine.js";
import { InputError, isInputError } from "../snapshot/errors.js";
import { parseSnapshotFiles, REQUIRED_FILES, OPTIONAL_FILES } from "../snapshot/files.js";
import type { NodeSnapshot } from "../model/node.js";

export interface NodeSpec {
  /** Snapshot file name -> text. */
  files: Record<string, string>;
  /** The snapshot's directory or label (error messages name files under it). */
  origin: string;
  /** Whether `origin` is a directory on disk (errors then name origin/file). */
  dir: boolean;
  /** A ruleset given with --iptables instead of the snapshot's iptables-save.txt. */
  iptables?: { text: string; file: string };
}

/** Reads a snapshot directory's files (parsing happens in loadEngine). */
export function readNodeSpec(dir: string, iptablesFile?: string): NodeSpec {
  let st;
  try { st = statSync(dir); } catch { throw new InputError(dir, 0, "", "no such snapshot directory"); }
  if (!st.isDirectory()) throw new InputError(dir, 0, "", "not a directory (expected a snapshot directory)");
  const files: Record<string, string> = {};
  for (const name of [...Object.keys(REQUIRED_FILES), ...Object.keys(OPTIONAL_FILES)]) {
    try {
      files[name] = readFileSync(join(dir, name), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new InputError(join(dir, name), 0, "", `cannot read: ${(e as Error).message}`);
    }
  }
  const spec: NodeSpec = { files, origin: dir, dir: true };
  if (iptablesFile !== undefined) {
    if (!existsSync(iptablesFile)) throw new InputError(iptablesFile, 0, "", "no such iptables-save file");
    spec.iptables = { text: readFileSync(iptablesFile, "utf8"), file: iptablesFile };
  }
  return spec;
}

/** Parses the spec's snapshot (errors name the file under its directory). */
export function parseSpec(spec: NodeSpec): NodeSnapshot {
  let snap: NodeSnapshot;
  try {
    snap = parseSnapshotFiles(spec.files, spec.origin);
  } catch (e) {
    if (spec.dir && e instanceof InputError && !e.file.includes("/")) {
      throw new InputError(join(spec.origin, e.file), e.line, e.token, e.problem, e.text, e.column);
    }
    throw e;
  }
  if (spec.iptables) snap.iptablesSave = spec.iptables.text;
  return snap;
}

export interface EngineSetup {
  seed: number; batch: number; warn?: (m: string) => void; cpus?: number; raceWindowNs?: number;
  /** Compile the rule walks (EngineOptions.jit; default true). */
  jit?: boolean;
}

/** A fresh Engine with the spec's node loaded. */
export async function loadEngine(spec: NodeSpec, o: EngineSetup): Promise<{ engine: Engine; snap: NodeSnapshot }> {
  const snap = parseSpec(spec);
  const engine = await Engine.create({ seed: o.seed, batchSize: o.batch, cpus: o.cpus, raceWindowNs: o.raceWindowNs, jit: o.jit });
  if (o.warn) engine.onWarning = o.warn;
  try {
    engine.load(snap, { hz: snap.hz });
  } catch (e) {
    if (isInputError(e) && e.file === "iptables-save.txt") {
      const file = spec.iptables?.file ?? (spec.dir ? join(spec.origin, "iptables-save.txt") : `${spec.origin}: iptables-save.txt`);
      throw new InputError(file, e.line, e.token, e.problem, e.text, e.column);
    }
    throw e;
  }
  return { engine, snap };
}
