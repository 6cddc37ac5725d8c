import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // kernel-differential suites build network namespaces and time packets:
    // two workers on the 2-core machines this runs on
    maxWorkers: 2,
    reporters: ["default"],
  },
});
