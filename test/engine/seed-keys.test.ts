/**
 * Per-packet PRNG seeds (`seed_keys_set`, assembly/util/random.ts), as the
 * scaled replay uses them (host/replay/runner.ts): a packet's random draws
 * depend on its key alone, not on which packets the engine processed before
 * it, so a worker that sees a shard of the packets draws what one engine
 * seeing all of them draws.
 *
 * The draws here are `statistic --mode random --probability 0.5` in the
 * filter table, on every forwarded packet (no connection state involved).
 */
import { describe, expect, it } from "vitest";
import * as abi from "../../host/core/abi.js";
import { Engine } from "../../host/engine.js";
import { encodePacket, type PacketInput } from "../../host/packet/input.js";
import { EngineRunner, packetSeed } from "../../host/replay/runner.js";
import { eksFixtureEngine } from "../fixtures/eks-fixture.js";

const RULES = [
  "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
  "-A FORWARD -m statistic --mode random --probability 0.5 -j DROP",
  "COMMIT", "",
].join("\n");

const engine = (seed: number): Promise<Engine> => eksFixtureEngine({ seed, batchSize: 64, rules: RULES });

/** Forwarded UDP from a pod to the internet, one source port per packet. */
function packets(n: number): PacketInput[] {
  return Array.from({ length: n }, (_, i) => ({
    iif: "eni1f3a2b4c5d6", src: "10.0.0.55", dst: "52.1.2.3", proto: "udp", sport: 40000 + i, dport: 53, len: 80, time: i * 1000,
  } as PacketInput));
}

/**
 * Runs the packets with input indices `indices` through a runner; the
 * verdicts, in that order. Descriptor k's key is from its index, or from
 * `keys`: an index function (keys made by the host) or the first of
 * consecutive indexes (keys made by the core).
 */
function run(e: Engine, seed: number, all: PacketInput[], indices: number[], keys: number | ((k: number) => number) = (k) => indices[k]!): number[] {
  const runner = new EngineRunner(e, seed);
  const { ptr } = e.batchBuffer;
  e.mem.refresh();
  let t = 0n;
  indices.forEach((i, k) => { t = encodePacket(e.mem.dv, ptr + k * abi.PKT_SIZE, all[i] as unknown as Record<string, unknown>, { file: "t", line: i + 1 }, e.devices, t, () => {}); });
  const out: number[] = [];
  runner.run(indices.length, keys, {
    segment(dv, base, k0, k1) { for (let k = k0; k < k1; k++) out.push(dv.getUint8(base + k * abi.PKT_SIZE + abi.PKT_VERDICT)); },
  });
  return out;
}

describe("per-packet PRNG seeds", () => {
  it("a packet draws the same whether the engine sees every packet or a shard of them", async () => {
    const all = packets(64);
    const idx = all.map((_, i) => i);
    const whole = run(await engine(7), 7, all, idx);
    // both outcomes occur: the draws are real
    expect(whole.filter((v) => v === abi.VERDICT_FORWARD).length).toBeGreaterThan(10);
    expect(whole.filter((v) => v === abi.VERDICT_DROP).length).toBeGreaterThan(10);
    const odd = idx.filter((i) => i % 2 === 1);
    const shard = run(await engine(7), 7, all, odd);
    expect(shard).toEqual(odd.map((i) => whole[i]));
    // reversed order, same keys: same draws
    const rev = [...idx].reverse();
    expect(run(await engine(7), 7, all, rev)).toEqual(rev.map((i) => whole[i]));
  });

  it("consecutive indexes: the core derives the keys packetSeed gives, across 2^32 too", async () => {
    const e = await engine(7);
    const n = 300;
    const ptr = e.core.alloc(n * 4);
    for (const seed of [0, 7, 0x9e3779b9, 0xffffffff]) {
      for (const first of [0, 1, 1000, 2 ** 32 - 150, 2 ** 32, 2 ** 40 + 3, 2 ** 53 - 1000]) {
        e.core.seed_keys_fill(ptr, n, seed, first >>> 0, Math.floor(first / 2 ** 32) >>> 0);
        e.mem.refresh();
        expect(Array.from(new Uint32Array(e.mem.dv.buffer, ptr, n)), `seed ${seed}, first ${first}`)
          .toEqual(Array.from({ length: n }, (_, k) => packetSeed(seed, first + k)));
      }
    }
    // and the runner's two ways draw the same: keys from the core, keys from an index function
    const all = packets(64);
    const idx = all.map((_, i) => i);
    for (const first of [0, 2 ** 32 - 30, 2 ** 40 + 5]) {
      expect(run(await engine(7), 7, all, idx, first)).toEqual(run(await engine(7), 7, all, idx, (k) => first + k));
    }
  });

  it("the keys come from the seed: another seed draws differently", async () => {
    const all = packets(64);
    const idx = all.map((_, i) => i);
    const a = run(await engine(7), 7, all, idx);
    const b = run(await engine(8), 8, all, idx);
    expect(b).not.toEqual(a);
  });

  it("without keys the engine draws from one stream (processing order matters)", async () => {
    const all = packets(64);
    const e = await engine(7);
    const once = e.process(all).map((r) => r.verdict);
    const e2 = await engine(7);
    const odd = all.filter((_, i) => i % 2 === 1);
    const shard = e2.process(odd).map((r) => r.verdict);
    // one stream: the shard's draws are the stream's first 32, not the odd packets' draws
    expect(shard).not.toEqual(once.filter((_, i) => i % 2 === 1));
  });
});
