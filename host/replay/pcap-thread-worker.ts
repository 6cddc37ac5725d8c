/**
 * The capture decode thread of a ThreadedPcapSource (pcap-thread.ts): a
 * PcapSource on its own engine filling the ring's slots one after the
 * other with input records (abi.ts section 12), each batch announced by a
 * message; it waits while every slot is out to the main thread (released
 * in W_RELEASED), and stops when asked (W_STOP), at the end of the
 * capture, or after its error.
 */
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { InputError } from "../snapshot/errors.js";
import type { IngressMap } from "../pcap/ingress.js";
import { PcapSource } from "./pcap-source.js";
import { loadEngine } from "./setup.js";
import { errorData, W_CONNTRACK, W_POSTED, W_RELEASED, W_STOP, type FromPcapThread, type PcapThreadData } from "./pcap-thread.js";

export async function runThread(d: PcapThreadData): Promise<void> {
  const ctl = new Int32Array(d.ctl);
  const post = (m: FromPcapThread, transfer: ArrayBuffer[] = []): void => {
    d.port.postMessage(m, transfer);
    Atomics.add(ctl, W_POSTED, 1);
    Atomics.notify(ctl, W_POSTED);
  };
  let src: PcapSource;
  let engine: Engine;
  /** The sums of the running totals last sent (skipped, host counters, fragments): -1 = never sent. */
  const sent = [-1, -1, -1];
  const changed = (i: number, totals: Record<string, number> | undefined): Record<string, number> | undefined => {
    if (!totals) return undefined;
    let sum = 0;
    for (const k in totals) sum += totals[k]!;
    if (sum === sent[i]) return undefined;
    sent[i] = sum;
    return totals;
  };
  /** addCounter calls of the fill under way. */
  const counters: number[] = [];
  try {
    // the node without its ruleset (the replaying engine's says whether it turns conntrack on);
    // warnings about the node were given by the replaying engine's loading
    const files = { ...d.spec.files };
    delete files["iptables-save.txt"];
    ({ engine } = await loadEngine({ ...d.spec, files, iptables: undefined }, { seed: 0, batch: 1, warn: () => {} }));
    const ingress: IngressMap = { ...d.ingress };
    if (d.spelling) {
      const m = (await import(d.spelling.module)) as Record<string, Pick<IngressMap, "optionName" | "suggest">>;
      Object.assign(ingress, m[d.spelling.name]);
    }
    for (;;) {
      if (Atomics.load(ctl, W_STOP)) return;
      if (Atomics.load(ctl, W_CONNTRACK) !== 0) break;
      Atomics.wait(ctl, W_CONNTRACK, 0);
    }
    const ruleset = Atomics.load(ctl, W_CONNTRACK) === 2 ? { compiled: { conntrack: true } } : undefined;
    const view = { node: engine.node, ruleset, addCounter: (i: number, n: number) => { counters.push(i, n); } };
    // the core's capture decoder decodes the common records (without keepFrames)
    src = PcapSource.open(d.file, view, { ingress, verifyChecksums: d.verifyChecksums, keepFrames: d.keepFrames, nodeSends: d.nodeSends, forwardedCopies: d.forwardedCopies, fastDecode: d.fastDecode === false ? undefined : engine.core });
  } catch (e) {
    post({ t: "failed", error: errorData(e) });
    return;
  }
  try {
    post({ t: "open", size: src.size });
    // a slot's descriptors are decoded into the core's memory (the decoder writes them in place), packed
    // there into input records (abi.ts section 12) and copied into the ring: 96 bytes a packet, not 256
    const core = engine.core;
    const staging = core.alloc(d.capacity * abi.PKT_SIZE);
    const slotBytes = d.capacity * abi.IN_SIZE;
    const ring = new Uint8Array(d.ring);
    for (let seq = 0; ; seq++) {
      // a free slot: at most `slots` batches out to the main thread
      for (;;) {
        if (Atomics.load(ctl, W_STOP)) return;
        const released = Atomics.load(ctl, W_RELEASED);
        if (seq - released < d.slots) break;
        Atomics.wait(ctl, W_RELEASED, released);
      }
      counters.length = 0;
      let n = 0;
      let error: InputError | undefined;
      try {
        engine.mem.refresh();
        n = src.fill(engine.mem.dv, staging, d.capacity);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        error = e;
      }
      if (n > 0) {
        core.pkt_pack_inputs(staging, n);
        ring.set(new Uint8Array(core.memory.buffer, staging, n * abi.IN_SIZE), (seq % d.slots) * slotBytes);
      }
      let frames: ArrayBuffer | undefined;
      if (d.keepFrames && n > 0) {
        // the IPv4 bytes in the slot's frame area, or (larger) in a buffer moved with the message
        let total = 0;
        for (let k = 0; k < n; k++) total += src.frame(k).length;
        const slot = seq % d.slots;
        const bytes = total <= d.frameSlotBytes ? new Uint8Array(d.frameRing, slot * d.frameSlotBytes, d.frameSlotBytes) : new Uint8Array(total);
        const at = new Int32Array(d.atRing, slot * d.capacity * 8, 2 * d.capacity);
        let o = 0;
        for (let k = 0; k < n; k++) {
          const fr = src.frame(k);
          bytes.set(fr.bytes.subarray(fr.offset, fr.offset + fr.length), o);
          at[2 * k] = o;
          at[2 * k + 1] = fr.length;
          o += fr.length;
        }
        if (total > d.frameSlotBytes) frames = bytes.buffer as ArrayBuffer;
      }
      const end = n === 0 || (src.ended && !error);
      const skipped = changed(0, src.skipped());
      const hostCounters = src.defrag ? changed(1, src.hostCounters()) : undefined;
      const fragments = changed(2, src.fragments());
      post({
        t: "batch", n, end, error: error ? errorData(error) : undefined,
        done: src.progress().done, clamped: src.clamped, csumUnverified: src.csumUnverified, nodeSends: src.nodeSends, copiesPaired: src.copiesPaired,
        skipped, counters: counters.slice(), hostCounters, fragments, frames,
      }, frames ? [frames] : []);
      if (end) return;
    }
  } catch (e) {
    post({ t: "failed", error: errorData(e) });
  } finally {
    src.close();
  }
}
