/**
 * Raw memory for the core's data structures. Everything on the packet path is
 * addressed through `load`/`store` on pointers obtained here; no managed
 * (garbage-collected) objects are created after configuration.
 */

/** Allocates `size` zeroed bytes, 16-byte aligned (TLSF via heap.alloc). */
export function zalloc(size: usize): usize {
  const p = heap.alloc(size);
  memory.fill(p, 0, size);
  return p;
}

/** Frees memory from `zalloc`/`grow`; null is ignored. */
export function release(p: usize): void {
  if (p != 0) heap.free(p);
}

/** Grows a block from `oldSize` to `newSize` bytes, zeroing the new tail. */
export function grow(p: usize, oldSize: usize, newSize: usize): usize {
  const q = p == 0 ? heap.alloc(newSize) : heap.realloc(p, newSize);
  if (newSize > oldSize) memory.fill(q + oldSize, 0, newSize - oldSize);
  return q;
}
