/**
 * Parser for `ip -o link show`: one device per line, the lines of the
 * multi-line format joined with "\" (followed by the original indentation).
 *   2: eth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\    link/ether 82:3d:11:f6:ed:23 brd ff:ff:ff:ff:ff:ff link-netns npx2
 */

import type { Link } from "../model/node.js";
import { InputError } from "./errors.js";
import { decimal, splitLines } from "./routes.js";
import type { Tokens } from "./routes.js";

/**
 * Tokens of an `ip -o` line: blank-separated, with every "\" (a line break
 * of the multi-line format) as a token of its own.
 */
export function tokenizeOneline(line: string): Tokens {
  const toks: string[] = [];
  const cols: number[] = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
    if (i >= n) break;
    const b = i;
    if (line.charCodeAt(i) === 92) {
      toks.push("\\");
      cols.push(b + 1);
      i++;
      continue;
    }
    while (i < n) {
      const c = line.charCodeAt(i);
      if (c === 32 || c === 9 || c === 92) break;
      i++;
    }
    toks.push(line.slice(b, i));
    cols.push(b + 1);
  }
  return { toks, cols };
}

/** One line of an `ip -o` listing: its tokens, its ifindex, and an error maker for a token. */
export interface OnelineRecord {
  line: string;
  lineNo: number;
  toks: string[];
  cols: number[];
  ifindex: number;
  /** An InputError about token `at` (its text and column), or the end of the line. */
  fail(problem: string, at: number): InputError;
}

/**
 * The records of an `ip -o link|addr show` listing, skipping blank and "#"
 * lines; every record starts with "IFINDEX:", else the listing is not the
 * one-line format (`what` names the command, `shape` what follows the index).
 */
export function* onelineRecords(text: string, file: string, what: "link" | "addr", shape: string): Generator<OnelineRecord> {
  const lines = splitLines(text);
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li]!;
    const lineNo = li + 1;
    const { toks, cols } = tokenizeOneline(line);
    if (toks.length === 0 || toks[0]!.startsWith("#")) continue;
    const fail = (problem: string, at: number): InputError =>
      new InputError(file, lineNo, at < toks.length ? toks[at]! : "", problem, line,
        at < toks.length ? cols[at] : undefined);
    const t0 = toks[0]!;
    const ifindex = t0.endsWith(":") ? decimal(t0.slice(0, -1)) : -1;
    if (ifindex <= 0) {
      if (t0 === "\\" || /^\s/.test(line)) {
        throw fail(`continuation of a multi-line listing: use \`ip -o ${what} show\` (one line per ${what === "link" ? "device" : "address"})`, 0);
      }
      throw fail(`expected "IFINDEX: ${shape}" (as \`ip -o ${what} show\` prints it)`, 0);
    }
    yield { line, lineNo, toks, cols, ifindex, fail };
  }
}

/** Keywords of `ip -o link show` followed by one value. */
const WITH_VALUE: ReadonlySet<string> = new Set([
  "mtu", "qdisc", "master", "state", "mode", "group", "qlen", "link-netns", "link-netnsid",
  "altname", "permaddr", "brd", "peer", "new-netns", "new-netnsid", "new-ifindex",
  "protodown", "protodown_reason", "event",
]);

/**
 * Parses `ip -o link show`. XDP programs are recognised and reported in one
 * notice (pushed to `notices` if given); VF and alias sections are skipped.
 */
export function parseLinks(text: string, file = "ip-link.txt", notices?: string[]): Link[] {
  const links: Link[] = [];
  const byName = new Map<string, number>();
  const byIndex = new Map<number, number>();
  const xdp: string[] = [];
  for (const { line, lineNo, toks, ifindex, fail } of onelineRecords(text, file, "link", "NAME: <FLAGS>")) {
    const t1 = toks[1];
    if (t1 === undefined || !t1.endsWith(":") || t1.length < 2) {
      throw fail("expected the device name followed by ':'", 1);
    }
    const at = t1.indexOf("@");
    const name = t1.slice(0, at > 0 ? at : -1);
    const t2 = toks[2];
    if (t2 === undefined || !t2.startsWith("<") || !t2.endsWith(">")) {
      throw fail("expected the device flags in <...>", 2);
    }
    const flags = t2.length > 2 ? t2.slice(1, -1).split(",") : [];

    let mtu = 0;
    let group = 0;
    let linkType = "none";
    let mac: string | undefined;
    let state = "UNKNOWN";
    let master: string | undefined;

    for (let i = 3; i < toks.length; i++) {
      const k = toks[i]!;
      if (k === "\\") {
        // Sections that are skipped whole: alias text, VF details, XDP program details.
        const s = toks[i + 1];
        if (s === "alias" || s === "vf" || (s !== undefined && s.startsWith("prog/"))) {
          i++;
          while (i + 1 < toks.length && toks[i + 1] !== "\\") i++;
        }
        continue;
      }
      if (k.startsWith("link/")) {
        linkType = k.slice(5);
        const a = toks[i + 1];
        if (a !== undefined && a !== "\\" && !WITH_VALUE.has(a)) {
          mac = a;
          i++;
        }
        continue;
      }
      if (k.startsWith("xdp")) {
        // "xdp/id:42", "xdpgeneric/id:42", "xdpmulti", ... (mode and program id).
        if (!xdp.includes(name)) xdp.push(name);
        continue;
      }
      if (!WITH_VALUE.has(k)) {
        throw fail("unknown keyword in a link (not something nodeplane knows `ip -o link show` to print)", i);
      }
      const v = toks[i + 1];
      if (v === undefined || v === "\\") throw fail(`"${k}" expects a value`, i);
      i++;
      switch (k) {
        case "mtu":
          mtu = decimal(v);
          if (mtu < 0) throw fail("not an MTU", i);
          break;
        case "qlen":
          if (decimal(v) < 0) throw fail("not a queue length", i);
          break;
        case "group":
          group = v === "default" ? 0 : decimal(v);
          if (group < 0) {
            throw fail("not a device group number; group names other than \"default\" (from /etc/iproute2/group) are not supported yet", i);
          }
          break;
        case "state":
          state = v;
          break;
        case "master":
          master = v;
          break;
        default:
          break; // qdisc, mode, link-netns(id), altname, permaddr, brd, peer, ...: not modelled
      }
    }

    if (byName.has(name)) throw fail(`device "${name}" is listed twice (first at line ${byName.get(name)})`, 1);
    if (byIndex.has(ifindex)) throw fail(`ifindex ${ifindex} is listed twice (first at line ${byIndex.get(ifindex)})`, 0);
    byName.set(name, lineNo);
    byIndex.set(ifindex, lineNo);
    links.push({ ifindex, name, flags, mtu, group, linkType, mac, state, master, src: { file, line: lineNo, text: line } });
  }

  if (xdp.length > 0 && notices !== undefined) {
    notices.push(`${file}: XDP programs attached to ${xdp.join(", ")} are not modelled`);
  }
  return links;
}
