/**
 * Routing table names: /etc/iproute2/rt_tables (copied into a snapshot as
 * rt_tables.txt), and resolving a table as `ip` prints it (a name or a number).
 */

import { InputError } from "./errors.js";

/** The names every iproute2 knows without a file (RT_TABLE_*). */
export function defaultTableNames(): Map<string, number> {
  return new Map<string, number>([
    ["local", 255],
    ["main", 254],
    ["default", 253],
    ["unspec", 0],
  ]);
}

const DEFAULTS: ReadonlyMap<string, number> = defaultTableNames();

/**
 * Parses an rt_tables file: lines "ID NAME", ID decimal or 0x-hex, "#" starts
 * a comment (whole line or after the name), blank lines are skipped. Returns
 * only what the file says (merge with defaultTableNames() yourself).
 */
export function parseRtTables(text: string, file = "rt_tables.txt"): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let raw = lines[i]!;
    if (raw.endsWith("\r")) raw = raw.slice(0, -1);
    const hash = raw.indexOf("#");
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (body === "") continue;
    const toks = body.split(/\s+/);
    const lineNo = i + 1;
    if (toks.length !== 2) {
      throw new InputError(file, lineNo, toks.length > 2 ? toks[2]! : body,
        "expected \"NUMBER NAME\" (a routing table id and its name)", raw);
    }
    const id = parseTableId(toks[0]!);
    if (id < 0) {
      throw new InputError(file, lineNo, toks[0]!, "not a routing table id (0..4294967295, decimal or 0x-hex)", raw);
    }
    const name = toks[1]!;
    if (/^[0-9]/.test(name)) {
      throw new InputError(file, lineNo, name, "a table name must not start with a digit", raw);
    }
    out.set(name, id);
  }
  return out;
}

function parseTableId(s: string): number {
  let v: number;
  if (/^0[xX][0-9a-fA-F]{1,8}$/.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^[0-9]{1,10}$/.test(s)) v = Number(s);
  else return -1;
  return v <= 0xffffffff ? v : -1;
}

/**
 * A table as printed after "table" (routes) or "lookup" (rules): a decimal id
 * or a name from `names` (falling back to local/main/default/unspec).
 * Returns -1 if it is neither a number nor a known name.
 */
export function tableId(tok: string, names: ReadonlyMap<string, number>): number {
  const c = tok.charCodeAt(0);
  if (c >= 48 && c <= 57) {
    let v = 0;
    for (let i = 0; i < tok.length; i++) {
      const d = tok.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return -1;
      v = v * 10 + d;
      if (v > 0xffffffff) return -1;
    }
    return v;
  }
  const n = names.get(tok);
  if (n !== undefined) return n;
  const d = DEFAULTS.get(tok);
  return d !== undefined ? d : -1;
}

/** tableId(), throwing the InputError that tells the user to add rt_tables.txt. */
export function resolveTable(
  tok: string, names: ReadonlyMap<string, number>,
  file: string, line: number, text: string, column?: number,
): number {
  const id = tableId(tok, names);
  if (id >= 0) return id;
  if (tok.charCodeAt(0) >= 48 && tok.charCodeAt(0) <= 57) {
    throw new InputError(file, line, tok, "not a routing table id (0..4294967295)", text, column);
  }
  throw new InputError(file, line, tok,
    "unknown routing table name; add the node's /etc/iproute2/rt_tables (and rt_tables.d/*.conf) " +
    "to the snapshot directory as rt_tables.txt (scripts/nodeplane-snapshot.sh does this)",
    text, column);
}
