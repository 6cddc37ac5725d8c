/**
 * Per-packet JSONL output encoded straight into bytes: each line is UTF-8
 * encoded into a growing Buffer as it is made, so a batch's output is never
 * one long concatenated string (flattening and encoding a megabyte rope of
 * 1.2 kB lines cost more than making the lines). With `ends`, the end of
 * every line is kept too, for merging the lines of several workers by input
 * index (run.ts).
 */
export class LineBuffer {
  private buf: Buffer;
  private off = 0;
  private ends: Uint32Array | undefined;
  private n = 0;

  constructor(initialBytes = 1 << 20, trackEnds = false) {
    this.buf = Buffer.allocUnsafe(initialBytes);
    if (trackEnds) this.ends = new Uint32Array(1024);
  }

  /** Appends `line` and a newline. */
  add(line: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit
    const need = this.off + line.length * 3 + 1;
    if (need > this.buf.length) {
      const b = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(b, 0, 0, this.off);
      this.buf = b;
    }
    this.off += this.buf.write(line, this.off);
    this.buf[this.off++] = 10;
    if (this.ends) {
      if (this.n === this.ends.length) { const e = new Uint32Array(this.n * 2); e.set(this.ends); this.ends = e; }
      this.ends[this.n] = this.off;
    }
    this.n++;
  }

  /** Lines added since the last take(). */
  get lines(): number { return this.n; }

  /** The bytes added since the last take() (theirs to keep: writing goes on in a new buffer), and the line ends when tracked. */
  take(): { bytes: Buffer; ends?: Uint32Array } {
    const bytes = this.buf.subarray(0, this.off);
    this.buf = Buffer.allocUnsafe(this.buf.length);
    const ends = this.ends ? this.ends.slice(0, this.n) : undefined;
    this.off = 0;
    this.n = 0;
    return { bytes, ends };
  }
}
