/**
 * The same LPM structure as assembly/fib/trie.ts (16-8-8 multibit trie with
 * controlled prefix expansion), written as idiomatic TypeScript over typed
 * arrays. It exists to measure the WASM core against plain TypeScript in the
 * same run; it is not used by the engine.
 */
export class TsLpm {
  private l1 = new Uint32Array(65536);
  private pool = new Uint32Array(256 * 16);
  private used = 0;
  private nodePlen: number[] = [];
  private nodeValue: number[] = [];

  /** Bulk build: prefixes in any order; `value` is returned by lookup. */
  static build(prefixes: { addr: number; plen: number; value: number }[]): TsLpm {
    const t = new TsLpm();
    const sorted = [...prefixes].sort((a, b) => a.plen - b.plen || a.addr - b.addr);
    for (const p of sorted) t.insert(p.addr >>> 0, p.plen, p.value);
    return t;
  }

  private chunk(slotArr: Uint32Array, slot: number): number {
    const e = slotArr[slot];
    if (e & 0x80000000) return e & 0x7fffffff;
    if ((this.used + 1) * 256 > this.pool.length) {
      const np = new Uint32Array(this.pool.length * 2);
      np.set(this.pool);
      // slotArr may be the pool itself: keep writing to the live array
      if (slotArr === this.pool) slotArr = np;
      this.pool = np;
    }
    const idx = this.used++;
    this.pool.fill(e, idx * 256, idx * 256 + 256);
    (slotArr === this.l1 ? this.l1 : this.pool)[slot] = (idx | 0x80000000) >>> 0;
    return idx;
  }

  private set(arr: Uint32Array, i: number, leaf: number, plen: number): void {
    const e = arr[i];
    if (e & 0x80000000) {
      const base = (e & 0x7fffffff) * 256;
      for (let k = 0; k < 256; k++) this.set(this.pool, base + k, leaf, plen);
      return;
    }
    if (e === 0 || this.nodePlen[e - 1] < plen) arr[i] = leaf;
  }

  insert(addr: number, plen: number, value: number): void {
    this.nodePlen.push(plen);
    this.nodeValue.push(value);
    const leaf = this.nodePlen.length;
    const s1 = addr >>> 16;
    if (plen <= 16) {
      const n = 1 << (16 - plen);
      for (let i = 0; i < n; i++) this.set(this.l1, s1 + i, leaf, plen);
      return;
    }
    const c1 = this.chunk(this.l1, s1);
    const s2 = c1 * 256 + ((addr >>> 8) & 0xff);
    if (plen <= 24) {
      const n = 1 << (24 - plen);
      for (let i = 0; i < n; i++) this.set(this.pool, s2 + i, leaf, plen);
      return;
    }
    const c2 = this.chunk(this.pool, s2);
    const s3 = c2 * 256 + (addr & 0xff);
    const n = 1 << (32 - plen);
    for (let i = 0; i < n; i++) this.set(this.pool, s3 + i, leaf, plen);
  }

  /** The longest matching prefix as `index + 1` (insertion order), 0 if none. */
  lookup(addr: number): number {
    let e = this.l1[addr >>> 16];
    if (e & 0x80000000) {
      e = this.pool[(e & 0x7fffffff) * 256 + ((addr >>> 8) & 0xff)];
      if (e & 0x80000000) e = this.pool[(e & 0x7fffffff) * 256 + (addr & 0xff)];
    }
    return e;
  }

  /** The value stored with prefix `leaf` (as returned by lookup). */
  valueOf(leaf: number): number {
    return this.nodeValue[leaf - 1];
  }
}
