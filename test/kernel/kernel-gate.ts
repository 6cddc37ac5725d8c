/**
 * Whether kernel-differential tests run here. They need root and iproute2;
 * without them they skip with the reason, unless NODEPLANE_REQUIRE_KERNEL=1
 * (set by .ci/run), which turns a skip into a failure.
 */
import { describe, it } from "vitest";
import { kernelSkipReason } from "./netns.js";

export const KERNEL_SKIP = kernelSkipReason();
export const KERNEL_REQUIRED = process.env.NODEPLANE_REQUIRE_KERNEL === "1";

/** describe() that runs only when the kernel is available (and fails loudly when it is required but missing). */
export function describeKernel(name: string, fn: () => void): void {
  if (KERNEL_SKIP === undefined) {
    describe(name, fn);
    return;
  }
  if (KERNEL_REQUIRED) {
    describe(name, () => {
      it("needs the kernel", () => {
        throw new Error(`kernel-differential tests are required (NODEPLANE_REQUIRE_KERNEL=1) but cannot run: ${KERNEL_SKIP}`);
      });
    });
    return;
  }
  describe.skip(`${name} (skipped: ${KERNEL_SKIP}; run as root with iproute2 to compare with the kernel)`, fn);
}
