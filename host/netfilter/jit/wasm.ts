/**
 * A small WebAssembly binary writer: the sections, types and instructions
 * the compiled chain walks (codegen.ts) use, nothing more. Encoding per the
 * WebAssembly core specification (binary format, section 5): LEB128
 * integers, sections as id + size + contents.
 */

export const I32 = 0x7f;
export const I64 = 0x7e;

/** Opcodes used by the code generator. */
export const Op = {
  unreachable: 0x00, block: 0x02, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, br_if: 0x0d, return: 0x0f,
  call: 0x10, drop: 0x1a, select: 0x1b,
  local_get: 0x20, local_set: 0x21, local_tee: 0x22, global_get: 0x23, global_set: 0x24,
  i32_load: 0x28, i64_load: 0x29, i32_load8_u: 0x2d, i32_load16_u: 0x2f, i32_store: 0x36, i64_store: 0x37,
  i32_const: 0x41, i64_const: 0x42,
  i32_eqz: 0x45, i32_eq: 0x46, i32_ne: 0x47, i32_lt_u: 0x49, i32_gt_u: 0x4b, i32_le_u: 0x4d, i32_ge_u: 0x4f,
  i32_add: 0x6a, i32_sub: 0x6b, i32_and: 0x71, i32_or: 0x72, i32_xor: 0x73, i32_shr_u: 0x76,
  i64_add: 0x7c, i64_extend_i32_u: 0xad,
} as const;

/** Block type: no result. */
export const VOID = 0x40;

/** A growable byte buffer with the encodings of the binary format. */
export class Bytes {
  private buf = new Uint8Array(256);
  length = 0;

  byte(b: number): this {
    if (this.length === this.buf.length) {
      const n = new Uint8Array(this.buf.length * 2);
      n.set(this.buf);
      this.buf = n;
    }
    this.buf[this.length++] = b;
    return this;
  }

  bytes(b: Uint8Array): this {
    for (let i = 0; i < b.length; i++) this.byte(b[i]!);
    return this;
  }

  /** Unsigned LEB128 (u32). */
  u32(v: number): this {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 of a 32-bit integer (i32.const immediates: u32 values are taken modulo 2^32). */
  s32(v: number): this {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) { this.byte(b); return this; }
      this.byte(b | 0x80);
    }
  }

  /** Signed LEB128 of a small i64 constant (|v| < 2^31). */
  s64small(v: number): this { return this.s32(v); }

  name(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u32(b.length).bytes(b);
  }

  done(): Uint8Array { return this.buf.slice(0, this.length); }
}

/** One function's body: locals and instructions, with named block labels resolved to depths. */
export class Code {
  readonly b = new Bytes();
  private labels: (string | undefined)[] = [];

  op(o: number): this { this.b.byte(o); return this; }
  i32(v: number): this { this.b.byte(Op.i32_const).s32(v); return this; }
  i64(v: number): this { this.b.byte(Op.i64_const).s64small(v); return this; }
  get(l: number): this { this.b.byte(Op.local_get).u32(l); return this; }
  set(l: number): this { this.b.byte(Op.local_set).u32(l); return this; }
  tee(l: number): this { this.b.byte(Op.local_tee).u32(l); return this; }
  gget(g: number): this { this.b.byte(Op.global_get).u32(g); return this; }
  gset(g: number): this { this.b.byte(Op.global_set).u32(g); return this; }
  call(f: number): this { this.b.byte(Op.call).u32(f); return this; }
  /** A memory access: `o` (a load or store opcode) with alignment log2 `align` and a constant offset. */
  mem(o: number, align: number, offset: number): this { this.b.byte(o).u32(align).u32(offset); return this; }

  /** Opens a block (`label` names it for br/brIf); `type` VOID or a value type. */
  block(label?: string, type = VOID): this { this.labels.push(label); this.b.byte(Op.block).byte(type); return this; }
  /** Opens an if (consumes an i32). */
  if(type = VOID): this { this.labels.push(undefined); this.b.byte(Op.if).byte(type); return this; }
  else(): this { this.b.byte(Op.else); return this; }
  end(): this { this.labels.pop(); this.b.byte(Op.end); return this; }

  private depth(label: string): number {
    for (let i = this.labels.length - 1; i >= 0; i--) if (this.labels[i] === label) return this.labels.length - 1 - i;
    throw new Error(`wasm: no enclosing block ${label}`);
  }
  br(label: string): this { this.b.byte(Op.br).u32(this.depth(label)); return this; }
  brIf(label: string): this { this.b.byte(Op.br_if).u32(this.depth(label)); return this; }
}

export interface FuncType { params: number[]; results: number[] }
export interface Import { module: string; name: string; kind: "func"; type: number }
export interface MemoryImport { module: string; name: string }
export interface Func { type: number; locals: number[]; code: Code }

/** Assembles a module: imported memory, imported functions, one mutable i32 global per `globals`, exported functions. */
export function assemble(m: {
  types: FuncType[];
  memory: MemoryImport;
  imports: Import[];
  funcs: Func[];
  globals: number;
  exports: { name: string; func: number }[];
  /** Function names for the "name" custom section (stack traces, profilers), by function index. */
  names?: Map<number, string>;
}): Uint8Array {
  const out = new Bytes();
  out.bytes(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
  const section = (id: number, body: Bytes) => { const c = body.done(); out.byte(id).u32(c.length).bytes(c); };
  // 1 type
  const types = new Bytes().u32(m.types.length);
  for (const t of m.types) {
    types.byte(0x60).u32(t.params.length);
    for (const p of t.params) types.byte(p);
    types.u32(t.results.length);
    for (const r of t.results) types.byte(r);
  }
  section(1, types);
  // 2 import: the memory, then the functions
  const imps = new Bytes().u32(m.imports.length + 1);
  imps.name(m.memory.module).name(m.memory.name).byte(0x02).byte(0x00).u32(0);
  for (const i of m.imports) imps.name(i.module).name(i.name).byte(0x00).u32(i.type);
  section(2, imps);
  // 3 function
  const fs = new Bytes().u32(m.funcs.length);
  for (const f of m.funcs) fs.u32(f.type);
  section(3, fs);
  // 6 global
  if (m.globals > 0) {
    const gs = new Bytes().u32(m.globals);
    for (let i = 0; i < m.globals; i++) gs.byte(I32).byte(0x01).byte(Op.i32_const).s32(0).byte(Op.end);
    section(6, gs);
  }
  // 7 export
  const ex = new Bytes().u32(m.exports.length);
  for (const e of m.exports) ex.name(e.name).byte(0x00).u32(e.func);
  section(7, ex);
  // 10 code
  const code = new Bytes().u32(m.funcs.length);
  for (const f of m.funcs) {
    const body = new Bytes();
    // locals, run-length encoded by type
    const runs: [number, number][] = [];
    for (const t of f.locals) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    body.u32(runs.length);
    for (const [n, t] of runs) body.u32(n).byte(t);
    body.bytes(f.code.b.done()).byte(Op.end);
    const c = body.done();
    code.u32(c.length).bytes(c);
  }
  section(10, code);
  // 0 custom "name": subsection 1, the function names
  if (m.names && m.names.size > 0) {
    const fn = new Bytes().u32(m.names.size);
    for (const [i, n] of [...m.names].sort((a, b) => a[0] - b[0])) fn.u32(i).name(n);
    const sub = fn.done();
    section(0, new Bytes().name("name").byte(1).u32(sub.length).bytes(sub));
  }
  return out.done();
}
