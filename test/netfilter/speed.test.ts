/**
 * Parse speed on a kube-proxy-like dump of 10,000 services (~100,000 rules):
 * prints the time; no timing assertion (machines differ), only a sanity
 * check of the result.
 */
import { describe, expect, it } from "vitest";
import { parseIptablesSave } from "../../host/netfilter/parse.js";
import { printIptablesSave } from "../../host/netfilter/print.js";

/** A deterministic, unique 16-character chain hash like kube-proxy's base32 names (a bijective mix of n and salt). */
function hash(n: number, salt: number): string {
  const A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let x = (n * 16 + salt) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  let s = "";
  let y = x;
  for (let i = 0; i < 16; i++) {
    s += A[y & 31];
    y = i === 6 ? Math.imul(x, 0x9e3779b1) >>> 0 : y >>> 5;
  }
  return s;
}

/** nat and filter tables of a kube-proxy node with `services` services of 3 endpoints each (~10 rules per service). */
export function kubeProxyDump(services: number): { text: string; rules: number } {
  // rules per chain, in declaration order (as iptables-save prints them)
  const chains = new Map<string, string[]>();
  for (const b of ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", "KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]) chains.set(b, []);
  const c = (chain: string, rest: string) => {
    let l = chains.get(chain);
    if (!l) chains.set(chain, (l = []));
    l.push(`[0:0] -A ${chain} ${rest}`);
  };
  c("PREROUTING", '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  c("OUTPUT", '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  c("POSTROUTING", '-m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING');
  c("KUBE-MARK-MASQ", "-j MARK --set-xmark 0x4000/0x4000");
  c("KUBE-POSTROUTING", "-m mark ! --mark 0x4000/0x4000 -j RETURN");
  c("KUBE-POSTROUTING", "-j MARK --set-xmark 0x4000/0x0");
  c("KUBE-POSTROUTING", '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully');
  const probs = ["0.33333333349", "0.50000000000"];
  for (let s = 0; s < services; s++) {
    const name = `ns${s % 97}/svc-${s}:http`;
    const svc = `KUBE-SVC-${hash(s, 1)}`;
    const cip = `172.20.${(s >> 8) & 255}.${s & 255}`;
    c("KUBE-SERVICES", `-d ${cip}/32 -p tcp -m comment --comment "${name} cluster IP" -m tcp --dport 80 -j ${svc}`);
    for (let e = 0; e < 3; e++) {
      const sep = `KUBE-SEP-${hash(s, 10 + e)}`;
      const ip = `10.${1 + (s >> 16)}.${(s >> 6) & 255}.${((s & 63) << 2) + e + 1}`;
      const stat = e < 2 ? `-m statistic --mode random --probability ${probs[e]} ` : "";
      c(svc, `-m comment --comment "${name} -> ${ip}:8080" ${stat}-j ${sep}`);
      c(sep, `-s ${ip}/32 -m comment --comment "${name}" -j KUBE-MARK-MASQ`);
      c(sep, `-p tcp -m comment --comment "${name}" -m tcp -j DNAT --to-destination ${ip}:8080`);
    }
  }
  c("KUBE-SERVICES", '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
  const out: string[] = ["*nat"];
  let rules = 0;
  for (const name of chains.keys()) {
    out.push(/^(PREROUTING|INPUT|OUTPUT|POSTROUTING)$/.test(name) ? `:${name} ACCEPT [0:0]` : `:${name} - [0:0]`);
  }
  for (const l of chains.values()) {
    out.push(...l);
    rules += l.length;
  }
  out.push(
    "COMMIT",
    "*filter", ":INPUT ACCEPT [10:1000]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":KUBE-FORWARD - [0:0]",
    '[0:0] -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    "[0:0] -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
    '[0:0] -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '[0:0] -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    "COMMIT",
  );
  return { text: out.join("\n") + "\n", rules: rules + 4 };
}

describe("parse speed", () => {
  it("parses a 10,000-service kube-proxy dump (~100,000 rules)", () => {
    const { text, rules } = kubeProxyDump(10_000);
    expect(rules).toBeGreaterThan(100_000);
    // warm up once (JIT), then time the best of a few runs
    parseIptablesSave(text);
    let best = Infinity;
    let rs = parseIptablesSave(text);
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      rs = parseIptablesSave(text);
      best = Math.min(best, performance.now() - t0);
    }
    const t1 = performance.now();
    const out = printIptablesSave(rs);
    const printMs = performance.now() - t1;
    console.log(`parseIptablesSave: ${rules} rules, ${(text.length / 1e6).toFixed(1)} MB in ${best.toFixed(1)} ms (best of 3); print ${printMs.toFixed(1)} ms`);
    const n = rs.tables.reduce((a, t) => a + t.chains.reduce((b, c) => b + c.rules.length, 0), 0);
    expect(n).toBe(rules);
    // (a boolean: a failing diff of two 15 MB strings takes minutes)
    expect(out === text).toBe(true);
  });
});
