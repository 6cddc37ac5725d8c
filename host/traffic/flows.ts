/**
 * The state of every active flow, as columns of typed arrays indexed by flow
 * slot (no object per flow or per packet). "Client" is the side that opened
 * the flow, "server" the side that answers. The client's tuple is what it
 * sends; the server's tuple is what it answers to: the client's packet as it
 * left the node (after NAT), learned by feedback (see generate.ts).
 *
 * A slot whose flow ended is released only at the next fill, after the
 * feedback of the batch that carried the flow's last packets.
 */
export class FlowTable {
  cap = 0;
  kind = new Uint8Array(0);
  dir = new Uint8Array(0);
  /** Next step (S_* in generate.ts). */
  step = new Uint8Array(0);
  /** Side that sent the flow's last packet (0 client, 1 server). */
  lastSide = new Uint8Array(0);
  /** Set by feedback when a packet of the flow was dropped. */
  dropped = new Uint8Array(0);
  /** What became of the flow's first packet: 1 forwarded (or assumed so), 2 delivered to the node, 3 dropped. */
  fate = new Uint8Array(0);
  /** 1: the client ends with a reset. */
  rst = new Uint8Array(0);
  cSrc = new Uint32Array(0);
  cDst = new Uint32Array(0);
  cSport = new Uint16Array(0);
  cDport = new Uint16Array(0);
  cIif = new Uint16Array(0);
  sSrc = new Uint32Array(0);
  sDst = new Uint32Array(0);
  sSport = new Uint16Array(0);
  sDport = new Uint16Array(0);
  sIif = new Uint16Array(0);
  /** Next sequence number of each side (TCP); echo sequence (ICMP). */
  cSeq = new Uint32Array(0);
  sSeq = new Uint32Array(0);
  /** Bytes left in the current burst of each side, and bytes sent since the other side's last acknowledgement. */
  cRem = new Float64Array(0);
  sRem = new Float64Array(0);
  cWin = new Float64Array(0);
  sWin = new Float64Array(0);
  /** Exchanges (TCP, UDP) or echo requests (ICMP) left after the current one. */
  left = new Uint32Array(0);
  /** Round-trip time, ns. */
  rtt = new Float64Array(0);
  /** Serial number of the last packet each side sent (2 per flow: client, server). */
  lastSer = new Float64Array(0);
  /** Rank of the endpoint the flow was addressed to (service, pod or server), for statistics. */
  target = new Int32Array(0);

  private free: number[] = [];
  private released: number[] = [];
  private used = 0;
  active = 0;

  /** A slot for a new flow. */
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
    const g = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(a: T, per = 1): T => {
      const b = new (a.constructor as new (n: number) => T)(cap * per);
      b.set(a);
      return b;
    };
    this.kind = g(this.kind); this.dir = g(this.dir); this.step = g(this.step); this.lastSide = g(this.lastSide);
    this.dropped = g(this.dropped); this.fate = g(this.fate); this.rst = g(this.rst);
    this.cSrc = g(this.cSrc); this.cDst = g(this.cDst); this.cSport = g(this.cSport); this.cDport = g(this.cDport); this.cIif = g(this.cIif);
    this.sSrc = g(this.sSrc); this.sDst = g(this.sDst); this.sSport = g(this.sSport); this.sDport = g(this.sDport); this.sIif = g(this.sIif);
    this.cSeq = g(this.cSeq); this.sSeq = g(this.sSeq); this.cRem = g(this.cRem); this.sRem = g(this.sRem);
    this.cWin = g(this.cWin); this.sWin = g(this.sWin); this.left = g(this.left); this.rtt = g(this.rtt);
    this.lastSer = g(this.lastSer, 2); this.target = g(this.target);
    this.cap = cap;
  }
}
