/**
 * Parser for `ss -Htlnu`: listening TCP and bound UDP sockets.
 *   Netid State  Recv-Q Send-Q Local:Port      Peer:Port [Process]
 *   tcp   LISTEN 0      4096   0.0.0.0:10250   0.0.0.0:*
 *   udp   UNCONN 0      0      127.0.0.53%lo:53 0.0.0.0:*
 * "*" (a dual-stack IPv6 socket) listens on every IPv4 address too; IPv6-only
 * sockets ("[::]", "[fe80::1]") are skipped; IPv4-mapped addresses
 * ("[::ffff:10.0.0.1]") are that IPv4 address; "%dev" suffixes are dropped.
 */

import type { Socket } from "../model/node.js";
import { parseIPv4 } from "../util/ipv4.js";
import { InputError } from "./errors.js";
import { decimal, splitLines, tokenize } from "./routes.js";

/** IPv4 address of an ss local address (without the port), "ipv6" or undefined if invalid. */
function localAddr(host: string): number | "ipv6" | undefined {
  let h = host;
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  const pct = h.indexOf("%");
  if (pct >= 0) h = h.slice(0, pct);
  if (h === "*") return 0;
  if (h.indexOf(":") >= 0) {
    const lower = h.toLowerCase();
    if (lower.startsWith("::ffff:")) {
      const v4 = parseIPv4(h.slice(7));
      if (v4 !== undefined) return v4;
    }
    return "ipv6";
  }
  return parseIPv4(h);
}

/**
 * Parses `ss -Htlnu`. Sockets bound to IPv6-only addresses are counted in one
 * summary notice pushed to `notices`.
 */
export function parseSockets(text: string, file = "ss.txt", notices: string[] = []): Socket[] {
  const sockets: Socket[] = [];
  const lines = splitLines(text);
  let ipv6 = 0;
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li]!;
    const lineNo = li + 1;
    const { toks, cols } = tokenize(line);
    if (toks.length === 0 || toks[0]!.startsWith("#")) continue;
    const fail = (problem: string, at: number): InputError =>
      new InputError(file, lineNo, at < toks.length ? toks[at]! : "", problem, line,
        at < toks.length ? cols[at] : undefined);

    const netid = toks[0]!;
    if (netid === "Netid" || netid === "State") {
      throw fail("a header line: produce the file with `ss -Htlnu` (-H: no header)", 0);
    }
    if (netid !== "tcp" && netid !== "udp") {
      throw fail("expected \"tcp\" or \"udp\" (the file is `ss -Htlnu` output)", 0);
    }
    if (toks.length < 5) throw fail("expected \"Netid State Recv-Q Send-Q Local:Port Peer:Port\"", toks.length);
    const local = toks[4]!;
    const colon = local.lastIndexOf(":");
    if (colon <= 0) throw fail("expected ADDRESS:PORT", 4);
    const port = decimal(local.slice(colon + 1));
    if (port < 0 || port > 65535) throw fail("not a local ADDRESS:PORT (port 0..65535)", 4);
    const addr = localAddr(local.slice(0, colon));
    if (addr === undefined) throw fail("not a local ADDRESS:PORT", 4);
    if (addr === "ipv6") {
      ipv6++;
      continue;
    }
    sockets.push({ proto: netid, addr, port, src: { file, line: lineNo, text: line } });
  }
  if (ipv6 > 0) {
    notices.push(`${file}: ${ipv6} IPv6-only socket${ipv6 === 1 ? "" : "s"} skipped (IPv4 dataplane)`);
  }
  return sockets;
}
