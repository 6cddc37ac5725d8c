/**
 * A file read through one fixed buffer (4 MiB by default) that is refilled
 * in place: memory stays bounded whatever the file size. Callers that keep
 * byte offsets into the buffer (frames of a batch not yet processed) pin
 * them; a refill never discards pinned bytes and reports "blocked" instead
 * when it would have to.
 *
 * Reads go to the front of the buffer whenever they can: once the bytes
 * still needed start half a read or more into the buffer and are no more
 * than half a read, they slide to the front before the next read. The kernel's copy from the page cache
 * then writes the same few hundred kilobytes over and over, which stay in
 * the CPU's cache for the copy and for the decoding after it; cycling
 * through the whole buffer instead made reading a 1 GB capture ~1.7x
 * slower (~215 against ~125 ms, measured with 1 MiB and 128 KiB reads).
 * The buffer's size only bounds a record and what is pinned.
 */
import { closeSync, openSync, readSync } from "node:fs";

export const DEFAULT_BUFFER = 4 << 20;
/**
 * Bytes asked of one read (unless a record needs more): the bytes are
 * decoded soon after the kernel copied them, while they are still in the
 * CPU cache, and the copy writes a cache-sized region at a time.
 */
export const READ_CHUNK = 128 << 10;

/**
 * A read buffer in a WASM core's linear memory (the core's capture decoder
 * parses it in place): `size` bytes at `ptr`. The memory may grow, which
 * detaches the views: ByteSource.rebind() makes new ones.
 */
export interface LinearBuffer { memory: WebAssembly.Memory; ptr: number }

export class ByteSource {
  /** The buffer (a view of a core's memory with `linear`: see rebind()). */
  buf: Uint8Array;
  dv: DataView;
  /** Offset in buf of the next unread byte. */
  pos = 0;
  /** Offset in buf just past the valid bytes. */
  end = 0;
  /** File offset of buf[0]. */
  base = 0;
  /** Bytes before this offset in buf may be discarded by a refill (-1: nothing pinned). */
  pin = -1;
  /** End of file reached (no more bytes after `end`). */
  eof = false;
  private fd: number;
  private filePos = 0;
  /** The buffer's size (a detached view's length is 0). */
  private readonly size: number;

  constructor(readonly file: string, size = DEFAULT_BUFFER, private readonly chunk = READ_CHUNK, readonly linear?: LinearBuffer) {
    this.fd = openSync(file, "r");
    this.size = size;
    if (linear) {
      this.buf = new Uint8Array(linear.memory.buffer, linear.ptr, size);
      this.dv = new DataView(linear.memory.buffer, linear.ptr, size);
    } else {
      this.buf = new Uint8Array(size);
      this.dv = new DataView(this.buf.buffer);
    }
  }

  /** With a buffer in linear memory: new views if the memory grew since (call before reading buf or dv). */
  rebind(): void {
    const l = this.linear;
    if (!l || this.buf.buffer === l.memory.buffer) return;
    this.buf = new Uint8Array(l.memory.buffer, l.ptr, this.size);
    this.dv = new DataView(l.memory.buffer, l.ptr, this.size);
  }

  /** File offset of buf[pos]. */
  get offset(): number { return this.base + this.pos; }

  /**
   * Makes at least `n` bytes available from `pos`. Returns 1 when they are,
   * 0 when the file ends first (then end - pos bytes remain), -1 when room
   * for them would need pinned bytes discarded.
   */
  ensure(n: number): number {
    if (this.end - this.pos >= n) return 1;
    if (this.eof) return 0;
    const keep = this.pin >= 0 && this.pin < this.pos ? this.pin : this.pos;
    if (this.buf.length - (this.end - keep) < n) {
      if (keep < this.pos) return -1;
      throw new RangeError(`record of ${n} bytes exceeds the read buffer (${this.buf.length})`);
    }
    const half = this.chunk >> 1;
    if ((keep >= half && this.end - keep <= half) || this.pos + n > this.buf.length) {
      // slide the kept bytes to the front (when nothing is pinned, less than the record asked for)
      this.buf.copyWithin(0, keep, this.end);
      this.base += keep;
      this.pos -= keep;
      this.end -= keep;
      if (this.pin >= 0) this.pin -= keep;
    }
    while (this.end - this.pos < n) {
      const want = Math.min(this.buf.length - this.end, Math.max(this.chunk, n - (this.end - this.pos)));
      const r = readSync(this.fd, this.buf, this.end, want, this.filePos);
      if (r === 0) { this.eof = true; return 0; }
      this.end += r;
      this.filePos += r;
    }
    return 1;
  }

  /**
   * Skips `n` bytes (possibly beyond the buffer). Returns false, doing
   * nothing, when that would discard pinned bytes.
   */
  skip(n: number): boolean {
    const avail = this.end - this.pos;
    if (n <= avail) { this.pos += n; return true; }
    if (this.pin >= 0 && this.pin < this.pos) return false;
    this.filePos += n - avail;
    this.base = this.filePos;
    this.pos = 0;
    this.end = 0;
    this.pin = -1;
    return true;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
