/**
 * Generated traffic as the replay format (host/packet/input.ts): a
 * descriptor read back into a PacketInput that encodePacket turns into the
 * very same input bytes, and the closed loop (fill, process, feedback)
 * written out as JSONL for `nodeplane replay --packets`.
 */
import * as abi from "../core/abi.js";
import type { Engine } from "../engine.js";
import { tcpFlagsToLetters, type PacketInput } from "../packet/input.js";
import { formatIPv4 } from "../util/ipv4.js";
import type { TrafficGenerator } from "./generate.js";

/** Reads the input fields of the descriptor at `off` as the replay format writes them. */
export function descriptorToPacketInput(dv: DataView, off: number, deviceName: (slot: number) => string): PacketInput {
  const proto = dv.getUint8(off + abi.PKT_PROTO);
  const flags = dv.getUint16(off + abi.PKT_FLAGS, true);
  const lo = dv.getUint32(off + abi.PKT_TIME, true);
  const hi = dv.getUint32(off + abi.PKT_TIME + 4, true);
  const o: PacketInput = {
    t: (hi * 4294967296 + lo) / 1e9,
    iif: flags & abi.PF_LOCAL ? "local" : deviceName(dv.getUint16(off + abi.PKT_IIF, true)),
    src: formatIPv4(dv.getUint32(off + abi.PKT_SRC, true)),
    dst: formatIPv4(dv.getUint32(off + abi.PKT_DST, true)),
    proto: proto === 6 ? "tcp" : proto === 17 ? "udp" : proto === 1 ? "icmp" : proto,
  };
  if (proto === 6 || proto === 17) {
    o.sport = dv.getUint16(off + abi.PKT_SPORT, true);
    o.dport = dv.getUint16(off + abi.PKT_DPORT, true);
  }
  if (proto === 6) {
    o.flags = tcpFlagsToLetters(dv.getUint8(off + abi.PKT_TCPFLAGS));
    o.seq = dv.getUint32(off + abi.PKT_SEQ, true);
    o.ack = dv.getUint32(off + abi.PKT_ACK, true);
    o.win = dv.getUint16(off + abi.PKT_WIN, true);
    o.doff = dv.getUint8(off + abi.PKT_TCP_DOFF);
    const ws = dv.getUint8(off + abi.PKT_TCP_WSCALE);
    if (ws) o.wscale = ws - 1;
    const opts = dv.getUint8(off + abi.PKT_TCP_OPTS);
    if (opts & abi.TO_SACK_PERM) o.sackok = true;
    if (opts & abi.TO_SACK) o.sack = dv.getUint32(off + abi.PKT_TCP_SACK, true);
  }
  if (proto === 1) {
    o.icmp_type = dv.getUint8(off + abi.PKT_ICMP_TYPE);
    o.icmp_code = dv.getUint8(off + abi.PKT_ICMP_CODE);
    o.icmp_id = dv.getUint16(off + abi.PKT_ICMP_ID, true);
    o.icmp_seq = dv.getUint16(off + abi.PKT_ICMP_SEQ, true);
  }
  const ttl = dv.getUint8(off + abi.PKT_TTL);
  if (ttl !== 64) o.ttl = ttl;
  const tos = dv.getUint8(off + abi.PKT_TOS);
  if (tos) o.tos = tos;
  if (flags & abi.PF_DF) o.df = true;
  o.len = dv.getUint16(off + abi.PKT_LEN, true);
  o.id = dv.getUint16(off + abi.PKT_IPID, true);
  const mark = dv.getUint32(off + abi.PKT_MARK, true);
  if (mark) o.mark = mark;
  return o;
}

/** What runTraffic() saw. */
export interface TrafficRun { packets: number; batches: number; forwarded: number; local: number; dropped: number }

/**
 * The closed loop: fills the engine's batch buffer from the generator,
 * processes each batch, calls `onBatch(n)` (results are readable with
 * engine.decodeRaw or the PKT_* fields), then feeds the fates back, until
 * the traffic ends or `maxPackets` were generated.
 */
export function runTraffic(gen: TrafficGenerator, engine: Engine, onBatch?: (n: number, base: number, dv: DataView) => void, maxPackets = Infinity): TrafficRun {
  const run: TrafficRun = { packets: 0, batches: 0, forwarded: 0, local: 0, dropped: 0 };
  const { ptr, capacity } = engine.batchBuffer;
  while (run.packets < maxPackets) {
    engine.mem.refresh();
    let dv = engine.mem.dv;
    const n = gen.fill(dv, ptr, Math.min(capacity, maxPackets - run.packets));
    if (n === 0) break;
    const done = engine.processRaw(n, true);
    if (done !== n) throw new Error(`runTraffic: the engine processed ${done} of ${n} packets`);
    dv = engine.mem.dv;
    for (let k = 0; k < n; k++) {
      const v = dv.getUint8(ptr + k * abi.PKT_SIZE + abi.PKT_VERDICT);
      if (v === abi.VERDICT_FORWARD) run.forwarded++;
      else if (v === abi.VERDICT_LOCAL) run.local++;
      else if (v === abi.VERDICT_DROP) run.dropped++;
    }
    onBatch?.(n, ptr, dv);
    gen.feedback(dv, ptr, n);
    run.packets += n;
    run.batches++;
  }
  return run;
}

/**
 * Runs the closed loop and writes every generated packet as one JSONL line
 * (the replay input format) to `write`; replaying the file with the same
 * snapshot and ruleset gives the same results.
 */
export function writeTrafficJsonl(gen: TrafficGenerator, engine: Engine, write: (chunk: string) => void, maxPackets = Infinity): TrafficRun {
  return runTraffic(gen, engine, (n, base, dv) => {
    let text = "";
    for (let k = 0; k < n; k++) text += JSON.stringify(descriptorToPacketInput(dv, base + k * abi.PKT_SIZE, (s) => gen.deviceName(s))) + "\n";
    write(text);
  }, maxPackets);
}
