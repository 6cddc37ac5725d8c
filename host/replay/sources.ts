/**
 * Packet sources for `replay`: each writes descriptors (assembly/abi.ts)
 * straight into a buffer, with no object per packet where the format
 * allows (pcap); the JSONL source parses a line at a time.
 *
 * A source that meets damaged input returns the packets before the damage
 * first; the next fill() throws the InputError (CaptureError for captures,
 * with the byte offset), so everything before the damage is replayed.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { encodePacket, type DeviceResolver } from "../packet/input.js";
import { InputError } from "../snapshot/errors.js";
import * as abi from "../core/abi.js";

export interface SourceProgress { done: number; total: number; unit: "bytes" | "packets" }

export interface PacketSource {
  readonly kind: "jsonl" | "pcap" | "generate";
  /** The input as the user named it. */
  readonly label: string;
  /**
   * Writes up to `max` descriptors at `base`; returns how many (0: the input
   * ended). It may grow the engine's memory (the generator's flows live
   * there): read engine.mem's views after the call.
   */
  fill(dv: DataView, base: number, max: number): number;
  progress(): SourceProgress;
  /** Frames not replayed, by why (non-IPv4, ...). */
  skipped(): Record<string, number>;
  /**
   * What the user should know about replayed packets that the results do
   * not show (captures): transport checksums taken as right without being
   * checked (the snaplen cut the payload, or --no-verify-checksums), frames
   * stamped before the capture's first (replayed at its time). Non-zero
   * counts only.
   */
  notes?(): Record<string, number>;
  /** Frames replayed as the node's own sends (captures: host/pcap/node-sends.ts); read after the replay. */
  readonly nodeSends?: number;
  /** Forwarded copies paired with their originals (captures: host/pcap/copies.ts); read after the replay. */
  readonly copiesPaired?: number;
  /** Original bytes of descriptor k of the last fill (captures), for writing packets as they leave. */
  frame?(k: number): { bytes: Uint8Array; offset: number; length: number } | undefined;
  /**
   * The descriptors of the last fill, processed (results in place, in fill
   * order): a closed-loop source (the generator) reads what the node did.
   * Called after every fill, before the next.
   */
  processed?(dv: DataView, base: number, n: number): void;
  /** A source that needs processed() before it can fill again (closed loop). */
  readonly closedLoop?: boolean;
  /** What became of the input's IPv4 fragments (a capture reassembled on a conntrack node). */
  fragments?(): Record<string, number> | undefined;
  /**
   * SNMP counters the source itself counted (reassembly), by nstat name;
   * added to the engine it was opened with, and summed into the totals by
   * the caller when other engines process the packets (workers).
   */
  hostCounters?(): Record<string, number>;
  close(): void;
}

/** JSONL packets (the replay input format, host/packet/input.ts). */
export class JsonlSource implements PacketSource {
  readonly kind = "jsonl" as const;
  private fd: number;
  private size: number;
  private buf = Buffer.alloc(1 << 20);
  private pending = "";
  private lines: string[] = [];
  private lineAt = 0;
  private lineNo = 0;
  private readBytes = 0;
  private eof = false;
  private prevTime = 0n;
  private error?: InputError;

  constructor(readonly label: string, private readonly devs: DeviceResolver, private readonly warn: (m: string) => void) {
    try {
      this.fd = openSync(label, "r");
    } catch {
      throw new InputError(label, 0, "", "no such packets file");
    }
    this.size = fstatSync(this.fd).size;
  }

  private nextLine(): string | undefined {
    for (;;) {
      if (this.lineAt < this.lines.length) return this.lines[this.lineAt++];
      if (this.eof) {
        if (this.pending !== "") { const s = this.pending; this.pending = ""; return s; }
        return undefined;
      }
      const r = readSync(this.fd, this.buf, 0, this.buf.length, null);
      if (r === 0) { this.eof = true; continue; }
      this.readBytes += r;
      const parts = (this.pending + this.buf.toString("utf8", 0, r)).split("\n");
      this.pending = parts.pop()!;
      this.lines = parts;
      this.lineAt = 0;
    }
  }

  fill(dv: DataView, base: number, max: number): number {
    if (this.error) { const e = this.error; this.error = undefined; throw e; }
    let n = 0;
    while (n < max) {
      const raw = this.nextLine();
      if (raw === undefined) break;
      this.lineNo++;
      const text = raw.trim();
      if (text === "" || text.startsWith("#")) continue;
      try {
        let obj: unknown;
        try {
          obj = JSON.parse(text);
        } catch (e) {
          throw new InputError(this.label, this.lineNo, "", `not valid JSON (${(e as Error).message})`, text.length > 200 ? text.slice(0, 200) + "..." : text);
        }
        if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new InputError(this.label, this.lineNo, "", "each line must be a JSON object", text);
        this.prevTime = encodePacket(dv, base + n * abi.PKT_SIZE, obj as Record<string, unknown>, { file: this.label, line: this.lineNo }, this.devs, this.prevTime, this.warn);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        if (n === 0) throw e;
        this.error = e; // the packets before it first
        return n;
      }
      n++;
    }
    return n;
  }

  progress(): SourceProgress { return { done: this.readBytes, total: this.size, unit: "bytes" }; }
  skipped(): Record<string, number> { return {}; }
  close(): void { closeSync(this.fd); }
}
