/**
 * Reading a YAML (or JSON: YAML 1.2 reads it) document with positions: every
 * value is read through a `Field` that knows its file, line and column, so a
 * wrong value is an InputError naming the file, the line, the column and the
 * key or token, and an unknown key is an error too (never a silent skip).
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import { InputError } from "../snapshot/errors.js";

/** A position in the spec file (1-based line and column). */
export interface SpecPos { line: number; col: number }

/** One value of the document, with where it is and the key path that leads to it. */
export class Field {
  constructor(readonly doc: SpecDoc, readonly node: Node | null, readonly path: string, readonly keyNode?: Node) {}

  /** Where the value (or, when absent, its key) starts. */
  get pos(): SpecPos { return this.doc.posOf(this.node ?? this.keyNode ?? null); }
  /** Where the key starts (the value when there is no key). */
  get keyPos(): SpecPos { return this.doc.posOf(this.keyNode ?? this.node ?? null); }
  /** The last component of the path: the key as written. */
  get key(): string { return this.path.slice(this.path.lastIndexOf(".") + 1); }

  /** An InputError at this value: token defaults to the key. */
  fail(problem: string, token = this.key, at: "value" | "key" = "value"): never {
    const p = at === "key" ? this.keyPos : this.pos;
    throw new InputError(this.doc.file, p.line, token, problem, this.doc.lineText(p.line), p.col);
  }

  get isNull(): boolean { return this.node === null || (isScalar(this.node) && this.node.value === null); }

  /** The keys of a mapping, each checked against `known` (an unknown key is an error at the key). */
  map(known: readonly string[]): Map<string, Field> {
    if (!isMap(this.node)) this.fail(`must be a mapping (key: value lines)${this.path ? "" : " at the top of the file"}`);
    const out = new Map<string, Field>();
    for (const pair of this.node.items) {
      const k = pair.key as Node;
      if (!isScalar(k) || typeof k.value !== "string") {
        const p = this.doc.posOf(k);
        throw new InputError(this.doc.file, p.line, String(isScalar(k) ? k.value : "?"), "keys must be plain names", this.doc.lineText(p.line), p.col);
      }
      const name = k.value;
      const path = this.path ? `${this.path}.${name}` : name;
      const f = new Field(this.doc, (pair.value as Node | null) ?? null, path, k);
      if (!known.includes(name)) f.fail(`is not a known key here (known: ${known.join(", ")})`, name, "key");
      if (out.has(name)) f.fail("is given twice", name, "key");
      out.set(name, f);
    }
    return out;
  }

  /** The items of a sequence (a single scalar is read as a one-item list). */
  list(): Field[] {
    if (isSeq(this.node)) return this.node.items.map((n, i) => new Field(this.doc, (n as Node | null) ?? null, `${this.path}[${i}]`));
    if (isScalar(this.node) && this.node.value !== null) return [this];
    return this.fail("must be a list ([a, b] or one \"- item\" per line)");
  }

  private scalar(): unknown {
    if (!isScalar(this.node)) this.fail("must be a single value");
    return this.node.value;
  }
  private token(): string {
    if (isScalar(this.node)) return String(this.node.source ?? this.node.value);
    return this.key;
  }

  /** A finite number within [min, max] (integer when `int`). */
  num(o: { min?: number; max?: number; int?: boolean; minExclusive?: boolean } = {}): number {
    const v = this.scalar();
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(`must be a number, got ${JSON.stringify(v)}`, this.token());
    if (o.int && !Number.isInteger(v)) this.fail(`must be an integer, got ${v}`, this.token());
    if (o.min !== undefined && (o.minExclusive ? v <= o.min : v < o.min)) this.fail(`must be ${o.minExclusive ? "more than" : "at least"} ${o.min}, got ${v}`, this.token());
    if (o.max !== undefined && v > o.max) this.fail(`must be at most ${o.max}, got ${v}`, this.token());
    return v;
  }

  /** true or false (YAML's booleans). */
  bool(): boolean {
    const v = this.scalar();
    if (typeof v !== "boolean") this.fail(`must be true or false, got ${JSON.stringify(v)}`, this.token());
    return v;
  }

  str(): string {
    const v = this.scalar();
    if (typeof v !== "string") this.fail(`must be a string, got ${JSON.stringify(v)}`, this.token());
    return v;
  }
}

/** A parsed spec document: its root Field, positions and line texts. */
export class SpecDoc {
  private readonly lc = new LineCounter();
  private readonly lines: string[];
  readonly root: Field;

  constructor(readonly text: string, readonly file: string) {
    this.lines = text.split(/\r?\n/);
    const doc = parseDocument(text, { lineCounter: this.lc, prettyErrors: false, uniqueKeys: false });
    const e = doc.errors[0];
    if (e) {
      const p = this.lc.linePos(e.pos[0]);
      const tok = text.slice(e.pos[0], Math.min(e.pos[1], e.pos[0] + 40)).split(/\r?\n/)[0] ?? "";
      throw new InputError(file, p.line, tok, `is not valid YAML/JSON: ${e.message.split("\n")[0]}`, this.lineText(p.line), p.col);
    }
    this.root = new Field(this, (doc.contents as Node | null) ?? null, "");
  }

  posOf(node: Node | null): SpecPos {
    const off = node?.range?.[0];
    if (off === undefined) return { line: 1, col: 1 };
    return this.lc.linePos(off);
  }

  lineText(line: number): string | undefined { return this.lines[line - 1]; }
}
