/**
 * The loaded iptables ruleset (abi.ts section 6): the program blob, its
 * per-entry counters, and the state that outlives a ruleset replacement
 * (xt_recent tables, nfacct objects), as a kube-proxy resync keeps them.
 */
import {
  NFP_MAGIC, NFP_H_MAGIC, NFP_H_ENTRIES, NFP_H_CHAINS, NFP_H_CHAIN_OFF, NFP_H_IFACE_OFF, NFP_H_IFACE_ROWS,
  NFP_H_IFACE_COLS, NFP_H_FLAGS, NFP_H_MAX_DEPTH, NFP_H_RECENT_TABLES, NFP_H_NFACCT, NFP_H_HOOKS, NFP_H_RECENT_OFF, NFP_H_ENTRIES_END, NFP_F_CONNTRACK,
  NFC_SIZE, NFC_FIRST, E_TARGET, T_POLICY, NFT_NAT, NFT_COUNT, NF_INET_NUMHOOKS, E_SIZE, E_MATCHES, E_MATCH_BYTES, M_KIND, M_LEN, M_LIMIT,
} from "../abi";
import { zalloc, release } from "../util/mem";
import { recentEnsureTables } from "./recent";
import { jiffies } from "../ipv4/clock";
import { jitClear } from "./jit";

/** The program (0 = no ruleset loaded). */
export let prog: usize = 0;
/** Its length in bytes. */
export let progLen: usize = 0;
/** u64 packets + u64 bytes per entry id. */
export let counters: usize = 0;
export let entryCount: u32 = 0;
/** Jump stack: 4 u32 per frame (chain, pos, cd, cg). */
export let stack: usize = 0;
export let stackDepth: u32 = 0;
/** The ruleset needs conntrack; the nat table is present. */
export let ctEnabled = false;
export let natEnabled = false;
/** Hook -> chain index of table T at hook H, 0xFFFFFFFF if the table does not run there. */
const hookChain = new StaticArray<u32>(20);
/**
 * Table T at hook H whose built-in chain has no rules: its policy entry's
 * address (the walk is that entry alone), 0 otherwise.
 */
const hookPolicy = new StaticArray<usize>(20);
/** nfacct counters: u64 packets, u64 bytes per object (persist across reloads). */
export let nfacct: usize = 0;
let nfacctCount: u32 = 0;

for (let i = 0; i < NFT_COUNT * NF_INET_NUMHOOKS; i++) hookChain[i] = 0xffffffff;

export function nfProgramReset(): void {
  release(prog);
  release(counters);
  release(stack);
  prog = 0;
  counters = 0;
  stack = 0;
  entryCount = 0;
  ctEnabled = false;
  natEnabled = false;
  for (let i = 0; i < hookChain.length; i++) { hookChain[i] = 0xffffffff; hookPolicy[i] = 0; }
  jitClear();
}

/**
 * Loads a program (replacing the previous one). Counters start at zero;
 * recent tables and nfacct objects that the new program still uses keep
 * their state. Returns 0, or a negative code for a malformed blob.
 */
export function nfProgramLoad(src: usize, len: usize): i32 {
  if (len < 128 || load<u32>(src, NFP_H_MAGIC) != NFP_MAGIC) return -1;
  jitClear(); // compiled for the previous program
  release(prog);
  release(counters);
  release(stack);
  prog = zalloc(len);
  memory.copy(prog, src, len);
  progLen = len;
  entryCount = load<u32>(prog, NFP_H_ENTRIES);
  counters = zalloc(<usize>(entryCount + 1) << 4);
  stackDepth = load<u32>(prog, NFP_H_MAX_DEPTH) + 2;
  stack = zalloc(<usize>stackDepth << 4);
  const flags = load<u32>(prog, NFP_H_FLAGS);
  ctEnabled = (flags & NFP_F_CONNTRACK) != 0;
  natEnabled = false;
  for (let i = 0; i < NFT_COUNT * NF_INET_NUMHOOKS; i++) {
    const c = load<u32>(prog + NFP_H_HOOKS + (<usize>i << 2));
    hookChain[i] = c;
    hookPolicy[i] = 0;
    if (c != 0xffffffff) {
      const e0 = prog + load<u32>(chainPtr(c), NFC_FIRST);
      if (load<u8>(e0, E_TARGET) == T_POLICY) hookPolicy[i] = e0;
    }
    if (c != 0xffffffff && i / NF_INET_NUMHOOKS == NFT_NAT) natEnabled = true;
  }
  recentEnsureTables(load<u32>(prog, NFP_H_RECENT_TABLES), prog + load<u32>(prog, NFP_H_RECENT_OFF));
  const nacct = load<u32>(prog, NFP_H_NFACCT);
  if (nacct > nfacctCount) {
    const n = zalloc(<usize>nacct << 4);
    if (nfacct != 0) { memory.copy(n, nfacct, <usize>nfacctCount << 4); release(nfacct); }
    nfacct = n;
    nfacctCount = nacct;
  }
  initLimits();
  return 0;
}

/** xt_limit checkentry: each limit match starts with full credit at load time. */
function initLimits(): void {
  const nchains = load<u32>(prog, NFP_H_CHAINS);
  if (nchains == 0) return;
  const first = load<u32>(prog + load<u32>(prog, NFP_H_CHAIN_OFF));
  let e = prog + first;
  const end = prog + load<u32>(prog, NFP_H_ENTRIES_END);
  const now = <u32>jiffies();
  while (e < end) {
    const size = <usize>load<u16>(e, E_SIZE);
    let m = e + E_MATCHES;
    const mend = m + <usize>load<u16>(e, E_MATCH_BYTES);
    while (m < mend) {
      if (load<u8>(m, M_KIND) == M_LIMIT) {
        store<u32>(m, load<u32>(m, 8), 12); // credit = credit_cap
        store<u32>(m, now, 16); // prev = jiffies
      }
      const ml = <usize>load<u16>(m, M_LEN);
      if (ml == 0) break;
      m += ml;
    }
    e += size;
  }
}

/** Chain index of table `t` at hook `h`, 0xFFFFFFFF if none. */
// @ts-ignore: decorator
@inline export function chainAt(t: u32, h: u32): u32 { return unchecked(hookChain[t * NF_INET_NUMHOOKS + h]); }

/** The policy entry of table `t`'s built-in chain at hook `h` when it has no rules, else 0. */
// @ts-ignore: decorator
@inline export function policyOnlyAt(t: u32, h: u32): usize { return unchecked(hookPolicy[t * NF_INET_NUMHOOKS + h]); }

// @ts-ignore: decorator
@inline export function chainPtr(c: u32): usize { return prog + load<u32>(prog, NFP_H_CHAIN_OFF) + <usize>c * NFC_SIZE; }

/** Interface match table lookup: does pattern row `pat` (1-based) match device slot `dev` (0 = none)? */
// @ts-ignore: decorator
@inline export function ifaceMatch(pat: u32, dev: u32): bool {
  const cols = load<u32>(prog, NFP_H_IFACE_COLS);
  if (dev >= cols) return false;
  return load<u8>(prog + load<u32>(prog, NFP_H_IFACE_OFF) + <usize>(pat - 1) * cols + dev) != 0;
}

/** ADD_COUNTER(e->counters, skb->len, 1) */
// @ts-ignore: decorator
@inline export function countEntry(id: u32, len: u32): void {
  const c = counters + (<usize>id << 4);
  store<u64>(c, load<u64>(c) + 1);
  store<u64>(c, load<u64>(c, 8) + len, 8);
}

export function nfCountersReset(): void {
  if (counters != 0) memory.fill(counters, 0, <usize>(entryCount + 1) << 4);
}

export { NFC_SIZE };
