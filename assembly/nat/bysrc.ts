/**
 * The NAT by-source hash (nf_nat_bysource): every entry with a SRC binding,
 * found by its original source (protocol, address, port), so that
 * find_appropriate_src can give a new connection from the same source the
 * same mapping. Entries link through CT_BYSRC (index + 1, 0 = end).
 */
import { CT_ORIG, CT_BYSRC, T_SRC, T_SPORT, T_PROTO } from "../conntrack/entry";
import { ctPtr } from "../conntrack/table";
import { zalloc, release } from "../util/mem";

const BYSRC_BUCKETS: u32 = 65536;
let heads: usize = 0;

export function bysrcReset(): void {
  release(heads);
  heads = zalloc(<usize>BYSRC_BUCKETS << 2);
}

/** hash_by_src: protocol, source address and source port of a tuple. */
export function bysrcHash(t: usize): u32 {
  let h: u64 = (<u64>load<u32>(t, T_SRC) << 24) ^ (<u64>load<u16>(t, T_SPORT) << 8) ^ <u64>load<u8>(t, T_PROTO);
  h *= 0x9E3779B97F4A7C15;
  return <u32>(h >> 48); // 16 bits
}

export function bysrcAdd(idx: u32): void {
  const ct = ctPtr(idx);
  const b = heads + (<usize>bysrcHash(ct + CT_ORIG) << 2);
  store<u32>(ct, load<u32>(b), CT_BYSRC);
  store<u32>(b, idx + 1);
}

export function bysrcRemove(idx: u32): void {
  const ct = ctPtr(idx);
  let prev = heads + (<usize>bysrcHash(ct + CT_ORIG) << 2);
  let n = load<u32>(prev);
  while (n != 0) {
    if (n == idx + 1) { store<u32>(prev, load<u32>(ct, CT_BYSRC)); return; }
    prev = ctPtr(n - 1) + CT_BYSRC;
    n = load<u32>(prev);
  }
}

/** First entry (index + 1) of the chain where `t`'s source would be, 0 if empty. */
export function bysrcFirst(t: usize): u32 {
  return load<u32>(heads + (<usize>bysrcHash(t) << 2));
}
export function bysrcNext(idx: u32): u32 {
  return load<u32>(ctPtr(idx), CT_BYSRC);
}
