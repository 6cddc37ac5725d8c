/**
 * IP sets: reading `ipset save` (errors name the file, line and token), the
 * rules that name sets, and large sets tested packet by packet against a
 * plain reference of ip_set_test (longest prefix present first, `nomatch`
 * elements, --return-nomatch). The kernel comparison of every type is
 * test/pcap/ipset-kernel.test.ts.
 */
import { describe, expect, it } from "vitest";
import { parseIpsetSave } from "../../host/ipset/parse.js";
import { parseIptablesSave } from "../../host/netfilter/parse.js";
import { formatIPv4, maskOf } from "../../host/util/ipv4.js";
import { eksFixtureEngine } from "../fixtures/eks-fixture.js";
import { expectInputError } from "./helpers.js";

function raw(rules: string[]): string {
  return ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...rules.map((r) => `-A PREROUTING ${r}`), "COMMIT", ""].join("\n");
}

/** mulberry32: deterministic test data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("ipset save", () => {
  it("reads every modelled type with the options ipset prints", () => {
    const s = parseIpsetSave([
      "create a hash:ip family inet hashsize 1024 maxelem 65536 netmask 24 bucketsize 12 initval 0x51da468d",
      "add a 10.1.2.0",
      "create k hash:ip family inet hashsize 1024 maxelem 65536 timeout 0 counters comment bucketsize 12 initval 0xbaff5cae",
      'add k 1.2.3.4 timeout 0 packets 5 bytes 300 comment "a comment"',
      "create n hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xf9317ffe",
      "add n 10.1.0.0/16 nomatch",
      "add n 192.168.1.1",
      "create c hash:ip,port family inet hashsize 1024 maxelem 65536",
      "add c 10.0.0.1,icmp:echo-request",
      "add c 10.0.0.2,icmp:3/8",
      "add c 10.0.0.3,gre:0",
      "add c 10.0.0.4,udplite:7",
      "create g bitmap:port range 30000-32767",
      "add g 30080",
      "create j bitmap:ip range 10.0.0.0-10.0.255.255",
      "add j 10.0.1.1",
      "create v hash:net family inet6 hashsize 1024 maxelem 65536",
      "add v fe80::/64",
      "create l list:set size 8",
      "add l v",
      "add l a",
    ].join("\n"), "ipset.txt");
    expect(s.sets.map((x) => `${x.name} ${x.type} ${x.family} ${x.elems.length}`)).toEqual([
      "a hash:ip inet 1", "k hash:ip inet 1", "n hash:net inet 2", "c hash:ip,port inet 4", "g bitmap:port inet 1",
      "j bitmap:ip inet 1", "v hash:net inet6 0", "l list:set inet 0",
    ]);
    expect(s.byName.get("c")!.elems.map((e) => [e.proto, e.port])).toEqual([[1, 0x0800], [1, 0x0308], [47, 0], [136, 7]]);
    expect(s.byName.get("n")!.elems.map((e) => [formatIPv4(e.a), e.cidr, e.nomatch])).toEqual([["10.1.0.0", 16, true], ["192.168.1.1", 32, false]]);
    expect(s.byName.get("l")!.members).toEqual(["v", "a"]);
  });

  it("refuses what it does not model or cannot read, naming file, line and token", () => {
    const f = "ipset.txt";
    expectInputError(() => parseIpsetSave("create x hash:net,net family inet", f), f, 1, "hash:net,net");
    expectInputError(() => parseIpsetSave("create x hash:foo", f), f, 1, "hash:foo");
    expectInputError(() => parseIpsetSave("create x hash:ip timeout 300", f), f, 1, "300");
    expectInputError(() => parseIpsetSave("create x hash:ip timeout 0\nadd x 1.2.3.4 timeout 60", f), f, 2, "60");
    expectInputError(() => parseIpsetSave("create x hash:ip frobnicate 1", f), f, 1, "frobnicate");
    expectInputError(() => parseIpsetSave("add x 1.2.3.4", f), f, 1, "x");
    expectInputError(() => parseIpsetSave("create x hash:ip\nadd x 1.2.3", f), f, 2, "1.2.3");
    expectInputError(() => parseIpsetSave("create x hash:ip\nadd x 1.2.3.4 nomatch", f), f, 2, "nomatch");
    expectInputError(() => parseIpsetSave("create x hash:net\nadd x 10.0.0.0/33", f), f, 2, "10.0.0.0/33");
    expectInputError(() => parseIpsetSave("create x hash:ip,port\nadd x 10.0.0.1,tcp:70000", f), f, 2, "10.0.0.1,tcp:70000");
    expectInputError(() => parseIpsetSave("create x hash:ip,port\nadd x 10.0.0.1,foo:1", f), f, 2, "10.0.0.1,foo:1");
    expectInputError(() => parseIpsetSave("create x hash:ip,port\nadd x 10.0.0.1,icmp:bogus", f), f, 2, "10.0.0.1,icmp:bogus");
    expectInputError(() => parseIpsetSave("create x bitmap:port range 10-20\nadd x 30", f), f, 2, "30");
    expectInputError(() => parseIpsetSave("create x bitmap:port", f), f, 1, "bitmap:port");
    expectInputError(() => parseIpsetSave("create x hash:ip\ncreate x hash:ip", f), f, 2, "x");
    expectInputError(() => parseIpsetSave("create l list:set\ncreate m list:set\nadd l m", f), f, 3, "m");
    expectInputError(() => parseIpsetSave("create l list:set\nadd l nosuch", f), f, 2, "nosuch");
    expectInputError(() => parseIpsetSave("-N x hash:ip", f), f, 1, "-N");
  });

  it("rules: a missing set, an inet6 set and counter conditions are refused; flags are parsed", async () => {
    const e = await eksFixtureEngine();
    e.loadIpsets("create a hash:ip\nadd a 10.0.0.1\ncreate v hash:net family inet6\n", "sets.txt");
    const missing = expectInputError(() => e.loadRuleset(raw(["-m set --match-set nosuch src"]), "r.txt"), "r.txt", 4, "nosuch");
    expect(missing.message).toContain("does not exist in sets.txt");
    expectInputError(() => e.loadRuleset(raw(["-m set --match-set v src"]), "r.txt"), "r.txt", 4, "v");
    expectInputError(() => parseIptablesSave(raw(["-m set --match-set a src --packets-gt 5"]), "r.txt"), "r.txt", 4, "--packets-gt");
    expectInputError(() => parseIptablesSave(raw(["-m set --match-set a src,dsr"]), "r.txt"), "r.txt", 4, "src,dsr");
    const rs = parseIptablesSave(raw(["-m set ! --match-set a dst,src,src --return-nomatch ! --update-counters"]), "r.txt");
    expect(rs.tables[0]!.chains[0]!.rules[0]!.matches).toEqual([{ kind: "set", name: "a", srcBits: 6, dim: 3, inv: true, returnNomatch: true, token: "a" }]);
    expect(() => e.loadRuleset(raw(["-m set --match-set a src"]), "r.txt")).not.toThrow();
  });

  it("large hash:net and hash:ip,port,net sets give ip_set_test's answer for every packet", async () => {
    const rnd = rng(42);
    // networks inside 10.0.0.0/12 of assorted prefix lengths, some nomatch, nested on purpose
    const nets = new Map<string, { addr: number; cidr: number; nomatch: boolean }>();
    while (nets.size < 4000) {
      const cidr = [12, 16, 20, 24, 26, 28, 30, 32][Math.floor(rnd() * 8)]!;
      const addr = ((0x0a000000 | Math.floor(rnd() * 0x100000)) & maskOf(cidr)) >>> 0;
      nets.set(`${addr}/${cidr}`, { addr, cidr, nomatch: rnd() < 0.3 });
    }
    const list = [...nets.values()];
    const lines = ["create big hash:net family inet hashsize 4096 maxelem 65536"];
    for (const n of list) lines.push(`add big ${formatIPv4(n.addr)}${n.cidr === 32 ? "" : `/${n.cidr}`}${n.nomatch ? " nomatch" : ""}`);
    lines.push("create ipn hash:ip,port,net family inet hashsize 4096 maxelem 65536");
    for (const n of list.slice(0, 2000)) lines.push(`add ipn 10.0.42.17,udp:53,${formatIPv4(n.addr)}/${n.cidr}${n.nomatch ? " nomatch" : ""}`);
    /** ip_set_test of a hash:net-like set: the longest prefix present with an element decides. */
    const refSet = (elems: typeof list) => ({
      present: [...new Set(elems.map((n) => n.cidr))].sort((a, b) => b - a),
      byKey: new Map(elems.map((n) => [`${n.addr}/${n.cidr}`, n])),
    });
    const ref = ({ present, byKey }: ReturnType<typeof refSet>, ip: number, returnNomatch: boolean): boolean => {
      for (const c of present) {
        const n = byKey.get(`${(ip & maskOf(c)) >>> 0}/${c}`);
        if (n) return n.nomatch === returnNomatch;
      }
      return false;
    };
    const e = await eksFixtureEngine();
    e.loadIpsets(lines.join("\n"), "big.txt");
    const rules = [
      "-m set --match-set big src",
      "-m set --match-set big src --return-nomatch",
      "-p udp -m set --match-set ipn dst,dst,src",
    ];
    e.loadRuleset(raw(rules), "rules.txt");
    const pkts = [];
    for (let i = 0; i < 3000; i++) {
      // half the sources inside a listed network, half anywhere in the /12
      const base = list[Math.floor(rnd() * list.length)]!;
      const src = rnd() < 0.5 ? (base.addr | Math.floor(rnd() * 2 ** (32 - base.cidr))) >>> 0 : (0x0a000000 | Math.floor(rnd() * 0x100000)) >>> 0;
      pkts.push({ iif: "eth0", src: formatIPv4(src), dst: "10.0.42.17", proto: "udp" as const, sport: 1000 + (i % 50), dport: 53 });
    }
    const res = e.process(pkts);
    const bigRef = refSet(list);
    const ipnRef = refSet(list.slice(0, 2000));
    const hits = [0, 0, 0];
    res.forEach((r, i) => {
      const src = pkts[i]!.src.split(".").reduce((a, o) => a * 256 + Number(o), 0);
      const want = [ref(bigRef, src, false), ref(bigRef, src, true), ref(ipnRef, src, false)];
      const got = rules.map((t) => (r.rules ?? []).some((x) => x.endsWith(t)));
      expect(got, `packet ${i} from ${pkts[i]!.src}`).toEqual(want);
      want.forEach((w, k) => { if (w) hits[k]!++; });
    });
    // every rule matched some packets and missed others
    for (const h of hits) { expect(h).toBeGreaterThan(100); expect(h).toBeLessThan(2900); }
  });

  it("sets loaded after the ruleset: the rules are loaded again and test the new sets", async () => {
    const e = await eksFixtureEngine();
    e.loadIpsets("create a hash:ip\nadd a 52.1.2.3\n");
    e.loadRuleset(raw(["-m set --match-set a src -j DROP"]), "r.txt");
    const p = { iif: "eth0", src: "52.1.2.3", dst: "10.0.42.17", proto: "udp" as const, sport: 5, dport: 53 };
    expect(e.process([p])[0]!.verdict).toBe("drop");
    e.loadIpsets("create a hash:ip\nadd a 52.1.2.4\n");
    expect(e.process([p])[0]!.verdict).not.toBe("drop");
  });
});
