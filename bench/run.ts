/**
 * `npm run bench`: every benchmark, printed as the Markdown tables the README
 * quotes. Compare ratios measured in the same run; absolute numbers on shared
 * 2-core machines move from run to run.
 *
 *   npm run bench                 all
 *   npm run bench -- lpm fib      some (lpm, fib, load, crosscheck, nf, ct, replay, pcap, gen, paths)
 */
import os from "node:os";
import { benchLpm } from "./lpm.js";
import { benchFib } from "./fib.js";
import { benchLoad } from "./load.js";
import { crossCheckLpm } from "./crosscheck.js";
import { benchNetfilter } from "./nf.js";
import { benchConntrack } from "./ct.js";
import { benchReplay } from "./replay.js";
import { benchPcap } from "./pcap.js";
import { benchGenerator } from "./gen.js";
import { benchPaths } from "./paths.js";

const all: Record<string, () => Promise<string>> = {
  lpm: () => benchLpm([1000, 100000, 1000000]),
  fib: () => benchFib(),
  load: () => benchLoad([100000, 1000000], 5),
  crosscheck: () => crossCheckLpm(),
  nf: () => benchNetfilter(),
  ct: () => benchConntrack(),
  replay: () => benchReplay(),
  pcap: () => benchPcap(),
  gen: () => benchGenerator(),
  paths: () => benchPaths(),
};

const which = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const names = which.length ? which : Object.keys(all);
console.log(`nodeplane benchmarks: node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${new Date().toISOString()}\n`);
for (const n of names) {
  const f = all[n];
  if (!f) {
    console.error(`unknown benchmark "${n}" (known: ${Object.keys(all).join(", ")})`);
    process.exit(2);
  }
  console.log(`## ${n}\n`);
  console.log(await f());
  console.log("");
}
