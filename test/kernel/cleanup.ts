/**
 * Removal of network namespaces that earlier harness runs left behind.
 * Harness namespaces are named `np-<pid>-...`; one whose creating pid is no
 * longer alive is stale. Names starting with `np-` but carrying no pid are
 * left alone (someone else's).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

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

/*
 * Exclusive use of the host's conntrack settings. nf_conntrack_max and
 * nf_conntrack_buckets can only be set in init_net and bound every
 * namespace's table, so a test that changes them must be alone: it leaves a
 * marker (EXCLUSIVE_DIR/<pid>) and waits until no other live process has
 * harness namespaces; a process that has none and wants to start a harness
 * waits while another process's marker is there (a process already running
 * one carries on, so the two cannot wait on each other).
 */
const EXCLUSIVE_DIR = "/tmp/nodeplane-kernel-exclusive";

/**
 * The host's values of global sysctls a process changed while alone
 * (EXCLUSIVE_DIR/<pid>.sysctl, JSON [name, value] pairs), so that a process
 * killed before it could restore them (a test timeout kills the worker)
 * does not leave them changed for every later test: the next process to
 * look at the markers restores them.
 */
export function recordGlobalSysctls(saved: [string, string][]): void {
  mkdirSync(EXCLUSIVE_DIR, { recursive: true });
  writeFileSync(`${EXCLUSIVE_DIR}/${process.pid}.sysctl`, JSON.stringify(saved));
}
export function forgetGlobalSysctls(): void {
  rmSync(`${EXCLUSIVE_DIR}/${process.pid}.sysctl`, { force: true });
}

/** Live processes other than this one with a marker (a dead one's marker is removed, its sysctls restored). */
function otherMarkers(): number[] {
  let names: string[] = [];
  try { names = readdirSync(EXCLUSIVE_DIR); } catch { return []; }
  const out: number[] = [];
  for (const n of names) {
    const m = /^(\d+)\.sysctl$/.exec(n);
    if (m) {
      if (Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
        try {
          for (const [k, v] of JSON.parse(readFileSync(`${EXCLUSIVE_DIR}/${n}`, "utf8")) as [string, string][]) if (v) spawnSync("sysctl", ["-qw", `${k}=${v}`]);
        } finally {
          rmSync(`${EXCLUSIVE_DIR}/${n}`, { force: true });
        }
      }
      continue;
    }
    const pid = Number(n);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    if (pidAlive(pid)) out.push(pid);
    else rmSync(`${EXCLUSIVE_DIR}/${n}`, { force: true }); // left by a crashed run
  }
  return out;
}

/** Live processes other than this one that have harness namespaces. */
function otherHarnesses(): number[] {
  const pids = new Set<number>();
  for (const n of listNamespaces()) {
    const m = /^np-(\d+)-/.exec(n);
    if (m && Number(m[1]) !== process.pid && pidAlive(Number(m[1]))) pids.add(Number(m[1]));
  }
  return [...pids];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Before starting a harness (this process has none running): wait while another process works alone. */
export async function waitForExclusiveHolders(timeoutMs = 15 * 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (otherMarkers().length && Date.now() < end) await sleep(200);
}

/**
 * Runs `fn` while no other process has harness namespaces. Returns undefined
 * and does not run `fn` if that did not happen within `timeoutMs` (the
 * reason is in the second element).
 */
export async function withKernelAlone<T>(fn: () => Promise<T>, timeoutMs = 10 * 60_000): Promise<[T | undefined, string | undefined]> {
  mkdirSync(EXCLUSIVE_DIR, { recursive: true });
  const marker = `${EXCLUSIVE_DIR}/${process.pid}`;
  writeFileSync(marker, "");
  const drop = () => rmSync(marker, { force: true });
  process.once("exit", drop);
  try {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const others = otherHarnesses();
      // two processes that both want to be alone: the lower pid goes first
      const rivals = otherMarkers().filter((p) => p < process.pid);
      if (others.length === 0 && rivals.length === 0) break;
      if (Date.now() > end) return [undefined, `other test processes kept their namespaces for ${Math.round(timeoutMs / 1000)} s (${[...others, ...rivals].join(", ")})`];
      await sleep(250);
    }
    return [await fn(), undefined];
  } finally {
    drop();
    process.removeListener("exit", drop);
  }
}
