/**
 * The two things `nodeplane diff` compares: each side is a snapshot
 * directory (one node) or a cluster file (every node it renders, paired by
 * name with the other side's).
 */
import { readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { NodeSnapshot } from "../model/node.js";
import type { IptRuleset } from "../model/iptables.js";
import { parseIptablesSave } from "../netfilter/parse.js";
import { InputError, isInputError } from "../snapshot/errors.js";
import { parseSnapshotFiles } from "../snapshot/files.js";
import { readSnapshotDir } from "../snapshot/read.js";
import { loadClusterFile, renderCluster } from "../cluster/render.js";

/** One node of a side, parsed. */
export interface NodeSide {
  /** The node's name (a cluster's node name, or a snapshot's hostname / directory name). */
  name: string;
  /** Where it came from, for the report and for error messages ("dir" or "cluster.yaml#node"). */
  origin: string;
  snapshot: NodeSnapshot;
  ruleset?: IptRuleset;
  /** The name errors about its iptables-save text should carry. */
  iptablesFile: string;
  /** VPC CIDRs the cluster file states (the workload's "outside the VPC" needs them). */
  vpcCidrs?: string[];
}

export interface Side {
  kind: "snapshot" | "cluster";
  path: string;
  nodes: NodeSide[];
}

/** meta.txt's hostname=, if any. */
function hostnameOf(meta: string | undefined): string | undefined {
  const m = meta === undefined ? null : /^hostname\s*[=:]\s*(\S+)\s*$/m.exec(meta);
  return m ? m[1] : undefined;
}

function parseRules(snap: NodeSnapshot, file: string): IptRuleset | undefined {
  return snap.iptablesSave === undefined ? undefined : parseIptablesSave(snap.iptablesSave, file);
}

/** A node from snapshot files held in memory (a rendered cluster node, or a test's). */
export function sideFromFiles(name: string, files: Record<string, string>, origin: string, vpcCidrs?: string[]): NodeSide {
  let snapshot: NodeSnapshot;
  try {
    snapshot = parseSnapshotFiles(files, origin);
  } catch (e) {
    if (isInputError(e)) throw new InputError(`${origin}: ${e.file}`, e.line, e.token, e.problem, e.text, e.column);
    throw e;
  }
  const iptablesFile = `${origin}: iptables-save.txt`;
  const side: NodeSide = { name, origin, snapshot, ruleset: parseRules(snapshot, iptablesFile), iptablesFile };
  if (vpcCidrs?.length) side.vpcCidrs = vpcCidrs;
  return side;
}

/** A snapshot directory as a side of one node. */
export async function snapshotSide(dir: string): Promise<NodeSide> {
  const snapshot = await readSnapshotDir(dir);
  let meta: string | undefined;
  try { meta = await readFile(join(dir, "meta.txt"), "utf8"); } catch { meta = undefined; }
  const iptablesFile = join(dir, "iptables-save.txt");
  return { name: hostnameOf(meta) ?? basename(dir.replace(/\/+$/, "")), origin: dir, snapshot, ruleset: parseRules(snapshot, iptablesFile), iptablesFile };
}

/** A cluster file as a side: every node it renders (host/cluster/render.ts), with the VPC CIDRs it states. */
export async function clusterSide(path: string): Promise<Side> {
  const spec = await loadClusterFile(path);
  const rendered = renderCluster(spec);
  const nodes = rendered.nodes.map((n) => sideFromFiles(n.name, n.files, `${path}#${n.name}`, spec.vpcCidrs));
  return { kind: "cluster", path, nodes };
}

/** Reads one side of the diff: a directory is a snapshot, a file a cluster file. */
export async function loadSide(path: string): Promise<Side> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new InputError(path, 0, "", "no such snapshot directory or cluster file");
  }
  if (st.isDirectory()) return { kind: "snapshot", path, nodes: [await snapshotSide(path)] };
  if (!/\.ya?ml$/i.test(path)) throw new InputError(path, 0, "", "expected a snapshot directory or a cluster file (.yaml)");
  return clusterSide(path);
}
