/**
 * Seeded mutations for the input-damage tests (test/snapshot/mutants.test.ts,
 * test/engine/input-mutants.test.ts, test/pcap/fast-decode.test.ts): the
 * project's mulberry32 (host/util/prng.ts), and one token of a line changed.
 */
import { mulberry32 } from "../host/util/prng.js";

/** A seeded draw of an integer in [0, n). */
export function drawBelow(seed: number): (n: number) => number {
  const rnd = mulberry32(seed);
  return (n) => Math.floor(rnd() * n);
}

/**
 * `line` with one token replaced by one of `junk`, removed, repeated
 * elsewhere, cut short, or the line cut before it. Tokens are words between
 * spaces ("words": snapshot files), or pieces split before spaces and YAML
 * punctuation, which a replacement keeps ("yaml").
 */
export function mutateToken(line: string, below: (n: number) => number, junk: readonly string[], style: "words" | "yaml"): string {
  const yaml = style === "yaml";
  const toks = yaml ? line.split(/(?=[ ,:{}[\]])/) : line.split(" ");
  const ti = below(toks.length);
  const kind = below(5);
  if (kind === 0) toks[ti] = (yaml ? /^[ ,:{}[\]]/.exec(toks[ti]!)?.[0] ?? "" : "") + junk[below(junk.length)]!;
  else if (kind === 1) toks.splice(ti, 1);
  else if (kind === 2) toks.splice(ti, 0, toks[below(toks.length)]!);
  else if (kind === 3) toks.length = ti;
  else toks[ti] = toks[ti]!.slice(0, below(toks[ti]!.length + 1));
  return toks.join(yaml ? "" : " ");
}
