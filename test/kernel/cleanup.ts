/**
 * Removal of network namespaces that earlier harness runs left behind.
 * Harness namespaces are named `np-<pid>-...`; one whose creating pid is no
 * longer alive is stale. Names starting with `np-` but carrying no pid are
 * left alone (someone else's).
 */
import { spawnSync } from "node:child_process";

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Names of all network namespaces `ip netns list` knows. */
export function listNamespaces(): string[] {
  const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  if (r.status !== 0 || typeof r.stdout !== "string") return [];
  return r.stdout.split("\n").map((l) => l.trim().split(/\s+/)[0]).filter((n) => n !== undefined && n !== "");
}

/** Deletes `np-<pid>-*` namespaces whose creating pid is no longer alive. Returns the names deleted. */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const name of listNamespaces()) {
    const m = /^np-(\d+)(?:-|$)/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    const r = spawnSync("ip", ["netns", "del", name], { encoding: "utf8" });
    if (r.status === 0) removed.push(name);
  }
  return removed;
}
