/** The event queues pop in (time, order of scheduling) order, as a sort would. */
import { describe, expect, it } from "vitest";
import { EventQueue } from "../../host/traffic/queue.js";
import { TimingWheel } from "../../host/traffic/wheel.js";
import { mulberry32 } from "../../host/util/prng.js";

interface Queue { size: number; topTime: number; topFlow: number; push(t: number, f: number): void; pop(): void; replaceTop(t: number, f: number): void }

function check(q: Queue, spread: (r: () => number) => number, ops = 20000): void {
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
      if (op < 0.7) {
        const t = now + spread(rnd);
        q.replaceTop(t, f); ref.shift(); refPush(t, f);
      } else { q.pop(); ref.shift(); free.push(f); }
    }
    expect(q.size).toBe(ref.length);
  }
}

describe("event queues", () => {
  it("heap: many ties", () => check(new EventQueue(4), (r) => Math.floor(r() * 50)));
  it("timing wheel: many ties within a slot", () => check(new TimingWheel(), (r) => Math.floor(r() * 3000)));
  it("timing wheel: delays from nanoseconds to beyond the horizon", () => check(new TimingWheel(), (r) => {
    const x = r();
    return x < 0.3 ? Math.floor(r() * 2000) : x < 0.6 ? Math.floor(r() * 2e6) : x < 0.9 ? Math.floor(r() * 1e8) : Math.floor(r() * 5e9);
  }));
});
