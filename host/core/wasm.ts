/**
 * Loading and instantiating the WASM core.
 *
 * The compiled `WebAssembly.Module` is cached per process and every `Core` is
 * a separate instance with its own linear memory, so one process can run many
 * emulated nodes side by side (multi-node comparisons, one engine per seed).
 * We use the plain WebAssembly API: the core exports only numeric functions,
 * so neither AssemblyScript's generated bindings nor @assemblyscript/loader
 * are needed on this path.
 */

/** The core's exports (see assembly/index.ts). */
export interface CoreExports {
  memory: WebAssembly.Memory;
  alloc(size: number): number;
  free(ptr: number): void;
  state_reset(): void;
  devs_reset(count: number): void;
  dev_set(slot: number, rec: number): void;
  addrs_set(rec: number, count: number): void;
  tables_reset(count: number): void;
  table_build(slot: number, id: number, routes: number, count: number): number;
  table_bytes(slot: number): number;
  rules_set(rec: number, count: number): void;
  sockets_set(rec: number, count: number, known: number): void;
  sysctl_set(key: number, value: number): number;
  batch_alloc(capacity: number): number;
  process_batch(base: number, count: number): void;
  /** The core's function table (compiled chain walks are installed in it). */
  table: WebAssembly.Table;
  nf_program_ptr(): number;
  nf_jit_state_ptr(): number;
  nf_jit_set(table: number, hook: number, index: number, needs: number): void;
  nf_jit_match(p: number, e: number, m: number): number;
  nf_jit_addr_type(addr: number, dev: number, limit: number): number;
  nf_jit_target(p: number, e: number): number;
  nf_jit_trace(p: number, id: number): void;
  nf_jit_walk_chain(p: number, chain: number): number;
  seed_keys_set(base: number, keys: number, count: number): void;
  seed_keys_derive(base: number, count: number, seed: number, firstLo: number, firstHi: number): void;
  seed_keys_fill(keys: number, count: number, seed: number, firstLo: number, firstHi: number): void;
  summary_create(): number;
  summary_reset(sum: number): void;
  summary_collect(sum: number, base: number, k0: number, k1: number, replyBase: number): void;
  talkers_create(counters: number): number;
  talkers_add(t: number, addr: number, bytes: number): void;
  talkers_add_batch(bySrc: number, byDst: number, base: number, n: number): void;
  pkt_pack_inputs(base: number, n: number): void;
  pkt_unpack_inputs(base: number, n: number): void;
  process_batch_partial(base: number, count: number, final: number): number;
  smp_set(cpus: number, windowNs: bigint): void;
  conn_socks_keep(keep: number): void;
  clock_advance(ns: bigint): void;
  reply_ring_ptr(): number;
  reply_ring_used(): number;
  reply_ring_overflow(): number;
  counters_ptr(): number;
  drop_counters_ptr(): number;
  counters_reset(): void;
  route_get_input(dst: number, src: number, tos: number, iif: number, mark: number, proto: number, sport: number, dport: number): number;
  route_get_output(dst: number, src: number, tos: number, oif: number, mark: number, proto: number, sport: number, dport: number, uid: number): number;
  route_result(out: number, err: number): void;
  nf_program_load(ptr: number, len: number): number;
  nf_program_reset(): void;
  nf_counters_ptr(): number;
  nf_entry_count(): number;
  nf_counters_reset(): void;
  nfacct_ptr(): number;
  /** mode: 0 off, 1 the matched entries, 2 every entry examined. */
  trace_init(capacity: number, mode: number): void;
  trace_ring_ptr(): number;
  trace_ring_used(): number;
  ct_config_set(key: number, value: number): number;
  ct_config_defaults(): void;
  ct_flush(): void;
  ct_stats_ptr(): number;
  ct_dump(out: number, max: number, restart: number): number;
  ct_count(): number;
  ct_memory(): number;
  /** The prefetch passes over a batch's connection lookups: 1 on (the default), 0 off (they change nothing but timing). */
  ct_prefetch_set(on: number): void;
  ct_pool_used(): number;
  ct_chain_histogram(out: number, max: number): void;
  limit_credits_per_jiffy(): number;
  statistic_oracle(enabled: number, ids: number, n: number): void;
  lpm_batch(slot: number, addrs: number, n: number, out: number): void;
  lpm_batch_simple(slot: number, addrs: number, n: number, out: number): void;
  table_leaf_route_index(slot: number, leaf: number): number;
  fib_lookup_batch(flows: number, n: number, out: number): void;
  gen_create(): number;
  gen_param_set(g: number, key: number, value: number): void;
  gen_law_set(g: number, law: number, kind: number, a: number, b: number, c: number): void;
  gen_table_set(g: number, table: number, ptr: number, n: number): void;
  gen_fill(g: number, base: number, max: number): number;
  gen_feedback(g: number, base: number, n: number): void;
  gen_stat(g: number, stat: number): number;
  tw_create(): number;
  tw_reserve(w: number, cap: number): void;
  tw_push(w: number, t: number, flow: number): void;
  tw_peek(w: number): number;
  tw_peeked_flow(w: number): number;
  tw_pop_peeked(w: number): void;
  tw_size(w: number): number;
  /** Decodes capture records from the state block at `state` (assembly/capture/format.ts CD_*); returns the descriptors written. */
  capture_decode(state: number): number;
}

const isNode = typeof process !== "undefined" && !!(process as { versions?: { node?: string } }).versions?.node;
const moduleCache = new Map<string, Promise<WebAssembly.Module>>();

/** Finds build/<file> by walking up from this module (works from dist/ and from sources). */
async function readBuiltWasm(file: string): Promise<Uint8Array<ArrayBuffer>> {
  const { readFile, access } = await import("node:fs/promises");
  const { fileURLToPath } = await import("node:url");
  const path = await import("node:path");
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, "build", file);
    try {
      await access(candidate);
      return new Uint8Array(await readFile(candidate)) as Uint8Array<ArrayBuffer>;
    } catch {
      dir = path.dirname(dir);
    }
  }
  throw new Error(`nodeplane: build/${file} not found; run "npm run build" first`);
}

/** The compiled core module (release build unless `debug`), cached. */
export function coreModule(debug = false): Promise<WebAssembly.Module> {
  const file = debug ? "core.debug.wasm" : "core.wasm";
  let m = moduleCache.get(file);
  if (!m) {
    m = (async () => {
      if (isNode) return WebAssembly.compile(await readBuiltWasm(file));
      // this module is dist/host/core/wasm.js in the package, beside build/ (test/embed/browser.test.ts)
      const url = new URL(`../../../build/${file}`, import.meta.url);
      return WebAssembly.compileStreaming(fetch(url));
    })();
    moduleCache.set(file, m);
  }
  return m;
}

/** Decodes an AssemblyScript string (UTF-16LE, byte length at ptr - 4). */
function readAsString(mem: WebAssembly.Memory, ptr: number): string {
  if (!ptr) return "";
  const len = new Uint32Array(mem.buffer, ptr - 4, 1)[0];
  const u16 = new Uint16Array(mem.buffer, ptr, len >>> 1);
  let s = "";
  for (let i = 0; i < u16.length; i += 4096) s += String.fromCharCode(...u16.subarray(i, i + 4096));
  return s;
}

/** Instantiates a fresh core (own memory) from a compiled module. */
export async function instantiateCore(module: WebAssembly.Module): Promise<CoreExports> {
  let memory: WebAssembly.Memory | undefined;
  const imports = {
    env: {
      abort(msg: number, file: number, line: number, col: number): never {
        const m = memory ? readAsString(memory, msg) : String(msg);
        const f = memory ? readAsString(memory, file) : String(file);
        throw new Error(`nodeplane core aborted: ${m} at ${f}:${line}:${col}`);
      },
    },
  };
  const instance = await WebAssembly.instantiate(module, imports);
  const exports = instance.exports as unknown as CoreExports;
  memory = exports.memory;
  return exports;
}

/**
 * Typed views over a core's memory. Memory growth detaches the old buffer, so
 * call `refresh()` after any export that may allocate (configuration calls,
 * batch_alloc); the packet path itself never allocates.
 */
export class CoreMemory {
  u8!: Uint8Array;
  u16!: Uint16Array;
  u32!: Uint32Array;
  i32!: Int32Array;
  f64!: Float64Array;
  u64!: BigUint64Array;
  dv!: DataView;
  private buffer: ArrayBuffer | undefined;
  constructor(private readonly memory: WebAssembly.Memory) { this.refresh(); }
  refresh(): void {
    const b = this.memory.buffer as ArrayBuffer;
    if (b === this.buffer) return;
    this.buffer = b;
    this.u8 = new Uint8Array(b);
    this.u16 = new Uint16Array(b);
    this.u32 = new Uint32Array(b);
    this.i32 = new Int32Array(b);
    this.f64 = new Float64Array(b);
    this.u64 = new BigUint64Array(b);
    this.dv = new DataView(b);
  }
}
