/**
 * Input records (abi.ts section 12): descriptors packed down to their input
 * fields and back, in place, with 16-byte loads and stores (a record is 96
 * bytes, a descriptor 256).
 */
import { PKT_SHIFT, PKT_TCP_WSCALE, PKT_INNER_ICMP_TYPE, IN_SIZE, IN_B, IN_C } from "../abi";

/** Descriptors [0, n) at `base` become input records [0, n) at `base`. */
export function packInputs(base: usize, n: u32): void {
  // first to last: record k ends at 96k + 96, descriptor k + 1 starts at 256k + 256
  for (let k: u32 = 0; k < n; k++) {
    const d = base + (<usize>k << PKT_SHIFT), r = base + <usize>k * IN_SIZE;
    // every load before any store: record 0 is descriptor 0's own bytes
    const a = v128.load(d, 0), b = v128.load(d, 16), c = v128.load(d, 32), e = v128.load(d, 48);
    const f = load<u64>(d, 64), g = v128.load(d, PKT_TCP_WSCALE), h = load<u32>(d, PKT_INNER_ICMP_TYPE);
    v128.store(r, a, 0); v128.store(r, b, 16); v128.store(r, c, 32); v128.store(r, e, 48);
    store<u64>(r, f, 64); v128.store(r, g, IN_B); store<u32>(r, h, IN_C); store<u32>(r, 0, IN_C + 4);
  }
}

/** Input records [0, n) at `base` become descriptors [0, n) at `base` (their input fields). */
export function unpackInputs(base: usize, n: u32): void {
  // last to first: descriptor k covers records of index above k only, already unpacked
  for (let k = n; k > 0;) {
    k--;
    const d = base + (<usize>k << PKT_SHIFT), r = base + <usize>k * IN_SIZE;
    const a = v128.load(r, 0), b = v128.load(r, 16), c = v128.load(r, 32), e = v128.load(r, 48);
    const f = load<u64>(r, 64), g = v128.load(r, IN_B), h = load<u32>(r, IN_C);
    v128.store(d, a, 0); v128.store(d, b, 16); v128.store(d, c, 32); v128.store(d, e, 48);
    store<u64>(d, f, 64); v128.store(d, g, PKT_TCP_WSCALE); store<u32>(d, h, PKT_INNER_ICMP_TYPE);
  }
}
