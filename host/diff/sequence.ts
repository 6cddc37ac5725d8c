/**
 * Line-sequence difference (Myers' O(ND) algorithm, "An O(ND) Difference
 * Algorithm and Its Variations", 1986), as diff(1) computes it: the shortest
 * edit script turning `a` into `b`, with the common lines kept. Used where
 * order means something (iptables rules in a chain, routes in a table, ip
 * rules by priority).
 */

/** One line of an edit script: kept (" "), removed ("-", only in a) or added ("+", only in b). */
export interface Edit { op: " " | "-" | "+"; text: string }

/** The shortest edit script from `a` to `b`. */
export function diffLines(a: readonly string[], b: readonly string[]): Edit[] {
  // common prefix and suffix first: most real differences are small
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const out: Edit[] = [];
  for (let i = 0; i < pre; i++) out.push({ op: " ", text: a[i]! });
  out.push(...myers(a.slice(pre, a.length - suf), b.slice(pre, b.length - suf)));
  for (let i = a.length - suf; i < a.length; i++) out.push({ op: " ", text: a[i]! });
  return out;
}

function myers(a: readonly string[], b: readonly string[]): Edit[] {
  const n = a.length;
  const m = b.length;
  if (n === 0) return b.map((text) => ({ op: "+", text }));
  if (m === 0) return a.map((text) => ({ op: "-", text }));
  const max = n + m;
  const off = max;
  let v = new Int32Array(2 * max + 2);
  const trace: Int32Array[] = [];
  let found = false;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1]! < v[off + k + 1]!) ? v[off + k + 1]! : v[off + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      v[off + k] = x;
      if (x >= n && y >= m) { found = true; break; }
    }
  }
  trace.push(v);
  // walk back through the saved frontiers
  const rev: Edit[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 2; d >= 0 && (x > 0 || y > 0); d--) {
    const vd = trace[d]!;
    const k = x - y;
    const down = k === -d || (k !== d && vd[off + k - 1]! < vd[off + k + 1]!);
    const pk = down ? k + 1 : k - 1;
    const px = d === 0 ? 0 : vd[off + pk]!;
    const py = px - pk;
    while (x > px && y > py && x > 0 && y > 0 && a[x - 1] === b[y - 1]) { rev.push({ op: " ", text: a[x - 1]! }); x--; y--; }
    if (d === 0) break;
    if (down) { rev.push({ op: "+", text: b[y - 1]! }); y--; }
    else { rev.push({ op: "-", text: a[x - 1]! }); x--; }
  }
  while (x > 0 && y > 0) { rev.push({ op: " ", text: a[x - 1]! }); x--; y--; }
  rev.reverse();
  return rev;
}

/**
 * The changed lines of an edit script with up to `context` kept lines around
 * each change, in hunks (like diff -U). Kept lines far from any change are
 * left out; an empty result means no difference.
 */
export function hunks(edits: readonly Edit[], context = 1): Edit[][] {
  const keep = new Uint8Array(edits.length);
  edits.forEach((e, i) => {
    if (e.op === " ") return;
    for (let j = Math.max(0, i - context); j <= Math.min(edits.length - 1, i + context); j++) keep[j] = 1;
  });
  const out: Edit[][] = [];
  let cur: Edit[] | undefined;
  edits.forEach((e, i) => {
    if (!keep[i]) { cur = undefined; return; }
    if (!cur) out.push((cur = []));
    cur.push(e);
  });
  return out;
}
