/**
 * The state of every active flow: one 128-byte record per flow slot in a
 * single buffer (two cache lines: a packet touches only its own flow's),
 * read through typed-array views of the buffer. "Client" is the side that
 * opened the flow, "server" the side that answers. The client's tuple is
 * what it sends; the server's tuple is what it answers to: the client's
 * packet as it left the node (after NAT), learned by feedback (generate.ts).
 *
 * A slot whose flow ended is released only at the next fill, after the
 * feedback of the batch that carried the flow's last packets.
 *
 * Record layout (64 bytes: one cache line; byte offsets):
 *   u8   0 kind, 1 direction, 2 next step, 3 side of the last packet sent,
 *        4 dropped (feedback saw a drop), 5 fate of the first packet
 *        (1 forwarded or assumed so, 2 delivered to the node, 3 dropped), 6 ends with a reset
 *   u16  8 client sport, 10 client dport, 12 client ingress device,
 *        14 server sport, 16 server dport (ICMP: echo id), 18 server ingress device,
 *        20 client bytes unacknowledged, 22 server bytes unacknowledged,
 *        24 exchanges or echo requests left
 *   u32  28 client src, 32 client dst, 36 server src, 40 server dst,
 *        44 client next seq (ICMP: echo sequence), 48 server next seq,
 *        52 rtt ns, 56 bytes left in the current burst (one side bursts at a time),
 *        60 number of the fill() that wrote the flow's last packet
 */
export const FLOW_RECORD = 64;

/** Byte fields (Uint8Array index: slot << 6 | B_*). */
export const B_KIND = 0, B_DIR = 1, B_STEP = 2, B_LAST_SIDE = 3, B_DROPPED = 4, B_FATE = 5, B_RST = 6;
/** u16 fields (Uint16Array index: slot << 5 | H_*). */
export const H_C_SPORT = 4, H_C_DPORT = 5, H_C_IIF = 6, H_S_SPORT = 7, H_S_DPORT = 8, H_S_IIF = 9, H_C_WIN = 10, H_S_WIN = 11, H_LEFT = 12;
/** u32 fields (Uint32Array index: slot << 4 | W_*). */
export const W_C_SRC = 7, W_C_DST = 8, W_S_SRC = 9, W_S_DST = 10, W_C_SEQ = 11, W_S_SEQ = 12, W_RTT = 13, W_REM = 14, W_LAST_FILL = 15;

export class FlowTable {
  cap = 0;
  u8 = new Uint8Array(0);
  u16 = new Uint16Array(0);
  u32 = new Uint32Array(0);

  private free: number[] = [];
  private released: number[] = [];
  private used = 0;
  active = 0;

  /** A slot for a new flow (the views may be replaced: read them after). */
  alloc(): number {
    this.active++;
    const f = this.free.pop();
    if (f !== undefined) return f;
    if (this.used === this.cap) this.grow();
    return this.used++;
  }

  /** The flow ended: its slot is reused after the next fill begins. */
  release(f: number): void {
    this.active--;
    this.released.push(f);
  }

  /** Makes the slots released before this call reusable. */
  recycle(): void {
    for (const f of this.released) this.free.push(f);
    this.released.length = 0;
  }

  private grow(): void {
    const cap = Math.max(1024, this.cap * 2);
    const buf = new ArrayBuffer(cap * FLOW_RECORD);
    new Uint8Array(buf).set(this.u8);
    this.u8 = new Uint8Array(buf);
    this.u16 = new Uint16Array(buf);
    this.u32 = new Uint32Array(buf);
    this.cap = cap;
  }
}
