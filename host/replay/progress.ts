/**
 * The replay progress bar (cli-progress) on stderr, only when stderr is a
 * terminal: bytes (or packets) done, packets/s, ETA. On a pipe or a file it
 * prints nothing at all.
 */
import cliProgress from "cli-progress";
import type { SourceProgress } from "./sources.js";

export interface Progress {
  update(p: SourceProgress, packets: number): void;
  stop(): void;
}

function human(n: number, unit: string): string {
  if (unit === "bytes") {
    if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
    if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
    if (n >= 1024) return `${(n / 1024).toFixed(0)} KiB`;
    return `${n} B`;
  }
  return n.toLocaleString("en-US");
}

export function makeProgress(enabled = process.stderr.isTTY === true): Progress {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: "replay |{bar}| {percentage}% | {doneText} of {totalText} | {packets} packets, {pps} pkt/s | ETA {eta_formatted}",
    hideCursor: true,
    clearOnComplete: false,
    etaBuffer: 50,
    fps: 5,
  }, cliProgress.Presets.shades_classic);
  const t0 = performance.now();
  let started = false;
  let last = 0;
  return {
    update(p, packets) {
      const now = performance.now();
      const payload = {
        doneText: human(p.done, p.unit), totalText: p.total ? human(p.total, p.unit) : "?",
        packets: packets.toLocaleString("en-US"), pps: Math.round(packets / Math.max(1e-3, (now - t0) / 1000)).toLocaleString("en-US"),
      };
      if (!started) { bar.start(Math.max(1, p.total), p.done, payload); started = true; last = now; return; }
      if (now - last < 100) return;
      last = now;
      bar.update(Math.min(p.done, Math.max(1, p.total)), payload);
    },
    stop() { if (started) bar.stop(); },
  };
}
