/**
 * The generator's timing wheel (assembly/traffic/wheel.ts, through the core's
 * tw_* test exports) pops in (time, order of scheduling) order, as a sort
 * would: ties within a slot, delays across the horizon, and the heap beyond it.
 */
import { describe, expect, it } from "vitest";
import { Engine } from "../../host/engine.js";
import { mulberry32 } from "../../host/util/prng.js";

/** The core's wheel behind the queue interface the reference check drives. */
class CoreWheel {
  private readonly w: number;
  constructor(private readonly core: Engine["core"], flows: number) {
    this.w = core.tw_create();
    core.tw_reserve(this.w, flows);
  }
  get size(): number { return this.core.tw_size(this.w); }
  get topTime(): number { return this.core.tw_peek(this.w); }
  get topFlow(): number { this.core.tw_peek(this.w); return this.core.tw_peeked_flow(this.w); }
  push(t: number, f: number): void { this.core.tw_push(this.w, t, f); }
  pop(): void { this.core.tw_peek(this.w); this.core.tw_pop_peeked(this.w); }
  replaceTop(t: number, f: number): void { this.pop(); this.push(t, f); }
}

async function check(spread: (r: () => number) => number, ops = 20000): Promise<void> {
  const engine = await Engine.create();
  const q = new CoreWheel(engine.core, ops);
  const rnd = mulberry32(5);
  // reference: a list kept sorted by (time, seq); a flow has at most one event, as in the generator
  const ref: { t: number; s: number; f: number }[] = [];
  const free: number[] = [];
  let nextFlow = 0;
  let seq = 0;
  const refPush = (t: number, f: number) => {
    const e = { t, s: seq++, f };
    let k = ref.length;
    while (k > 0 && (ref[k - 1]!.t > t || (ref[k - 1]!.t === t && ref[k - 1]!.s > e.s))) k--;
    ref.splice(k, 0, e);
  };
  let now = 0;
  let popped = 0;
  for (let i = 0; i < ops; i++) {
    const op = rnd();
    if (op < 0.4 || ref.length === 0) {
      const f = free.pop() ?? nextFlow++;
      const t = now + spread(rnd);
      q.push(t, f); refPush(t, f);
    } else {
      expect([q.topTime, q.topFlow]).toEqual([ref[0]!.t, ref[0]!.f]);
      now = q.topTime;
      const f = ref[0]!.f;
      popped++;
      if (op < 0.7) {
        const t = now + spread(rnd);
        q.replaceTop(t, f); ref.shift(); refPush(t, f);
      } else { q.pop(); ref.shift(); free.push(f); }
    }
    expect(q.size).toBe(ref.length);
  }
  expect(popped).toBeGreaterThan(ops / 2);
  // drain: everything left comes out in order, then the queue is empty
  while (ref.length) {
    expect([q.topTime, q.topFlow]).toEqual([ref[0]!.t, ref[0]!.f]);
    q.pop(); ref.shift();
  }
  expect(q.topTime).toBe(Infinity);
  expect(q.size).toBe(0);
}

describe("the generator's timing wheel", () => {
  it("many ties within a slot", () => check((r) => Math.floor(r() * 3000)));
  it("delays from nanoseconds to beyond the horizon", () => check((r) => {
    const x = r();
    return x < 0.3 ? Math.floor(r() * 2000) : x < 0.6 ? Math.floor(r() * 2e6) : x < 0.9 ? Math.floor(r() * 1e8) : Math.floor(r() * 5e9);
  }));
  it("the heap beyond the horizon: many ties", () => check((r) => 7e7 + Math.floor(r() * 50)));
});
