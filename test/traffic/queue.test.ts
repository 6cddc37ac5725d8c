/** The event queue pops in (time, order of scheduling) order, as a sort would. */
import { expect, it } from "vitest";
import { EventQueue } from "../../host/traffic/queue.js";
import { mulberry32 } from "../../host/util/prng.js";

it("pops events in time order, ties in scheduling order, through pushes, pops and replaceTop", () => {
  const rnd = mulberry32(5);
  const q = new EventQueue(4);
  // reference: a list kept sorted by (time, seq)
  const ref: { t: number; s: number; f: number }[] = [];
  let seq = 0;
  const refPush = (t: number, f: number) => { ref.push({ t, s: seq++, f }); ref.sort((a, b) => a.t - b.t || a.s - b.s); };
  let now = 0;
  for (let i = 0; i < 20000; i++) {
    const op = rnd();
    if (op < 0.4 || q.size === 0) {
      const t = now + Math.floor(rnd() * 50); // many ties
      q.push(t, i); refPush(t, i);
    } else {
      expect([q.topTime, q.topFlow]).toEqual([ref[0]!.t, ref[0]!.f]);
      now = q.topTime;
      if (op < 0.7) {
        const t = now + Math.floor(rnd() * 50);
        q.replaceTop(t, i); ref.shift(); refPush(t, i);
      } else { q.pop(); ref.shift(); }
    }
    expect(q.size).toBe(ref.length);
  }
});
