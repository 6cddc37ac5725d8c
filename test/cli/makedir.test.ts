/**
 * Output directories (host/util/fs.ts makeDir): nested creation, existing
 * directories, and clean errors where Node's recursive mkdir would hang
 * (under /proc) or a path component is a file.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeDir, openOutput } from "../../host/util/fs.js";

const dir = mkdtempSync(join(tmpdir(), "nodeplane-makedir-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("makeDir", () => {
  it("makes missing parents, accepts an existing directory", () => {
    const d = join(dir, "a", "b", "c");
    makeDir(d);
    expect(statSync(d).isDirectory()).toBe(true);
    makeDir(d);
    makeDir(join(dir, "a"));
  });

  it("a file in the path: an error naming the directory", () => {
    writeFileSync(join(dir, "f"), "x");
    expect(() => makeDir(join(dir, "f", "g"))).toThrow(/cannot create .*f\/g: .*not a directory/);
    expect(() => makeDir(join(dir, "f"))).toThrow(/is not a directory/);
  });

  it.skipIf(process.platform !== "linux" || !existsSync("/proc/self"))("under /proc: an error, not a hang", () => {
    expect(() => makeDir("/proc/nodeplane-test/x")).toThrow(/cannot create \/proc\/nodeplane-test\/x: /);
  });
});

describe("openOutput", () => {
  it("an output that cannot be written names the option and the reason", () => {
    expect(() => openOutput("--jsonl", join(dir, "nope", "x.jsonl"))).toThrow(/^--jsonl .*nope\/x\.jsonl: cannot write: no such file or directory$/);
    expect(() => openOutput("--counters", dir)).toThrow(/--counters .*: cannot write: it is a directory/);
  });
});
