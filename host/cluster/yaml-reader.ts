/**
 * Validated reading of YAML documents: every value keeps its file, line and
 * column, so a problem is reported as an InputError pointing at the key or
 * value at fault. Mappings are read against a list of known keys; an unknown
 * key is an error, with "did you mean" when a known key is close.
 *
 * Built on eemeli/yaml's document AST (parseAllDocuments + LineCounter).
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Node as YamlNode } from "yaml";
import { InputError } from "../snapshot/errors.js";
import { parseCidr, parseIPv4 } from "../util/ipv4.js";

/** Where a value came from. */
export interface Source {
  file: string;
  text: string;
  lines: LineCounter;
}

/** A YAML value with its position. */
export class YValue {
  constructor(
    readonly src: Source,
    readonly node: YamlNode | null,
    /** Offset to report (the node's, or its key's when the value is empty). */
    readonly offset: number,
    /** Dotted path for messages ("nodes[2].instanceType"). */
    readonly path: string,
  ) {}

  /** An InputError at this value. */
  error(problem: string, token?: string): InputError {
    return errorAt(this.src, this.offset, token ?? this.token(), `${this.path}: ${problem}`);
  }

  /** The value's source text (for scalars), or "" for collections. */
  token(): string {
    if (this.node && isScalar(this.node)) return String(this.node.source ?? this.node.value ?? "");
    return "";
  }

  get isNull(): boolean {
    return this.node === null || (isScalar(this.node) && this.node.value === null);
  }

  private kind(): string {
    const n = this.node;
    if (n === null || (isScalar(n) && n.value === null)) return "nothing";
    if (isMap(n)) return "a mapping";
    if (isSeq(n)) return "a list";
    if (isScalar(n)) return typeof n.value === "string" ? "a string" : typeof n.value === "number" ? "a number" : typeof n.value === "boolean" ? "a boolean" : "a scalar";
    return "something else";
  }

  /** The pairs of a mapping, checked against `known` keys. */
  map(known: readonly string[]): Map<string, YValue> {
    const n = this.node;
    if (!isMap(n)) throw this.error(`expected a mapping, found ${this.kind()}`);
    const out = new Map<string, YValue>();
    for (const pair of n.items) {
      const k = pair.key as YamlNode | null;
      const keyOff = k && k.range ? k.range[0] : this.offset;
      if (!k || !isScalar(k) || typeof k.value !== "string") {
        throw errorAt(this.src, keyOff, k && isScalar(k) ? String(k.value) : "", `${this.path}: keys must be strings`);
      }
      const key = k.value;
      const path = this.path ? `${this.path}.${key}` : key;
      if (!known.includes(key)) {
        const near = didYouMean(key, known);
        throw errorAt(this.src, keyOff, key, `${this.path ? this.path + ": " : ""}unknown key${near ? ` (did you mean "${near}"?)` : ""}; known keys: ${known.join(", ")}`);
      }
      if (out.has(key)) throw errorAt(this.src, keyOff, key, `${path}: duplicate key`);
      const v = pair.value as YamlNode | null;
      if (v && isAlias(v)) throw errorAt(this.src, v.range?.[0] ?? keyOff, String(v.source), `${path}: YAML aliases are not supported`);
      out.set(key, new YValue(this.src, v ?? null, v?.range ? v.range[0] : keyOff, path));
    }
    return out;
  }

  /** Items of a list. */
  seq(): YValue[] {
    const n = this.node;
    if (!isSeq(n)) throw this.error(`expected a list, found ${this.kind()}`);
    return n.items.map((it, i) => {
      const v = it as YamlNode | null;
      if (v && isAlias(v)) throw errorAt(this.src, v.range?.[0] ?? this.offset, String(v.source), `${this.path}[${i}]: YAML aliases are not supported`);
      return new YValue(this.src, v ?? null, v?.range ? v.range[0] : this.offset, `${this.path}[${i}]`);
    });
  }

  isMap(): boolean { return isMap(this.node); }
  isSeq(): boolean { return isSeq(this.node); }
  isString(): boolean { return isScalar(this.node) && typeof this.node.value === "string"; }

  str(): string {
    const n = this.node;
    if (!isScalar(n) || typeof n.value !== "string") throw this.error(`expected a string, found ${this.kind()}`);
    return n.value;
  }

  /** A non-empty string. */
  name(): string {
    const s = this.str();
    if (s === "") throw this.error("must not be empty");
    return s;
  }

  int(min = -Infinity, max = Infinity): number {
    const n = this.node;
    if (!isScalar(n) || typeof n.value !== "number" || !Number.isInteger(n.value)) throw this.error(`expected an integer, found ${this.kind()}`);
    if (n.value < min || n.value > max) throw this.error(`must be from ${min} to ${max}`);
    return n.value;
  }

  bool(): boolean {
    const n = this.node;
    if (!isScalar(n) || typeof n.value !== "boolean") throw this.error(`expected true or false, found ${this.kind()}`);
    return n.value;
  }

  /** A scalar as the text an environment variable would hold. */
  envText(): string {
    const n = this.node;
    if (!isScalar(n) || n.value === null || typeof n.value === "object") throw this.error(`expected a value (environment variables are strings), found ${this.kind()}`);
    return String(n.value);
  }

  /** An IPv4 address. */
  ip(): string {
    const s = this.str();
    if (parseIPv4(s) === undefined) throw this.error("not an IPv4 address");
    return s;
  }

  /** An IPv4 CIDR "a.b.c.d/n" with no host bits set. */
  cidr(): string {
    return checkCidr(this.str(), (p) => this.error(p));
  }
}

/** Validates "a.b.c.d/n" (a prefix length is required, host bits must be 0). */
export function checkCidr(s: string, fail: (problem: string) => Error): string {
  if (!s.includes("/")) throw fail("not an IPv4 CIDR (a.b.c.d/n)");
  const c = parseCidr(s);
  if (!c) throw fail("not an IPv4 CIDR (a.b.c.d/n)");
  if (parseCidr(s, true) === undefined) throw fail("host bits are set below the prefix length");
  return s;
}

/** An InputError at a byte offset of a source. */
export function errorAt(src: Source, offset: number, token: string, problem: string): InputError {
  const { line, col } = src.lines.linePos(offset);
  const text = src.text.split("\n")[line - 1]?.replace(/\r$/, "");
  return new InputError(src.file, line, token, problem, text, col);
}

/** The documents of a YAML text (YAML syntax errors as InputError). */
export function readDocuments(text: string, file: string): YValue[] {
  const lines = new LineCounter();
  const src: Source = { file, text, lines };
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: false });
  if (!Array.isArray(docs)) throw new InputError(file, 1, "", "not a YAML stream");
  const out: YValue[] = [];
  for (const d of docs) {
    const e = d.errors[0];
    if (e) throw errorAt(src, e.pos[0], "", `YAML syntax error: ${e.message.split("\n")[0]}`);
    const c = d.contents as YamlNode | null;
    if (c === null) continue; // an empty document ("---" alone)
    out.push(new YValue(src, c, c.range ? c.range[0] : 0, ""));
  }
  return out;
}

/** The closest known key, if it is close enough to be a likely typo. */
export function didYouMean(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const k of known) {
    const d = editDistance(w, k.toLowerCase());
    if (d < bestD) { bestD = d; best = k; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = t;
    }
  }
  return prev[b.length];
}
