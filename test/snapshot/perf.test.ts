import { describe, expect, it } from "vitest";
import { parseRoutes } from "../../host/snapshot/routes.js";
import { defaultTableNames } from "../../host/snapshot/rttables.js";
import { parseIPv4 } from "../../host/util/ipv4.js";

describe("parseRoutes at scale", () => {
  it("parses 200,000 BGP-style routes", () => {
    const N = 200_000;
    const parts: string[] = new Array(N);
    for (let i = 0; i < N; i++) {
      parts[i] = `10.${(i >> 8) & 255}.${i & 255}.0/24 via 10.0.0.1 dev eth0 proto bird metric 20 `;
    }
    // Through a Buffer, like a file read: a flat string.
    const text = Buffer.from(parts.join("\n") + "\n").toString("utf8");
    const notices: string[] = [];
    const t0 = performance.now();
    const routes = parseRoutes(text, "ip-route.txt", defaultTableNames(), notices);
    const ms = performance.now() - t0;
    console.log(`parseRoutes: ${N} lines in ${ms.toFixed(0)} ms`);
    expect(routes).toHaveLength(N);
    expect(notices).toEqual([]);
    const r = routes[N - 1]!;
    expect(r).toMatchObject({
      prefix: parseIPv4(`10.${((N - 1) >> 8) & 255}.${(N - 1) & 255}.0`), plen: 24, gw: parseIPv4("10.0.0.1"),
      dev: "eth0", proto: "bird", metric: 20, table: 254, index: N - 1,
    });
    expect(r.src.line).toBe(N);
  });
});
