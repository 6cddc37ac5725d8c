/**
 * Parser for `sysctl` output ("key = value" lines).
 *
 * sysctl prints a device name that contains dots with '/' in their place
 * (eth0.100 -> net.ipv4.conf.eth0/100.rp_filter), since '.' separates the
 * key's components; the map keys use the device's real name
 * (net.ipv4.conf.eth0.100.rp_filter).
 */

import { InputError } from "./errors.js";
import { splitLines } from "./routes.js";

/** Key prefixes whose next component is a device name. */
const DEVICE_KEYS = ["net.ipv4.conf.", "net.ipv4.neigh.", "net.ipv6.conf.", "net.ipv6.neigh."];

/** A sysctl key with '/' in its device component turned back into '.'. */
export function normalizeSysctlKey(key: string): string {
  if (key.indexOf("/") < 0) return key;
  for (const p of DEVICE_KEYS) {
    if (key.startsWith(p)) {
      const last = key.lastIndexOf(".");
      if (last <= p.length) return key;
      return p + key.slice(p.length, last).replaceAll("/", ".") + key.slice(last);
    }
  }
  return key;
}

/**
 * Parses sysctl output into key -> value (value as printed, trimmed). Blank
 * lines and lines starting with '#' or ';' are skipped; messages from sysctl
 * itself ("sysctl: cannot stat ...", "sysctl: permission denied ...") are
 * skipped and summarised in one notice pushed to `notices` if given.
 */
export function parseSysctl(text: string, file = "sysctl.txt", notices?: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const lines = splitLines(text);
  let messages = 0;
  let firstMessage = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const t = line.trim();
    if (t === "" || t.startsWith("#") || t.startsWith(";")) continue;
    if (t.startsWith("sysctl: ")) {
      if (messages++ === 0) firstMessage = t;
      continue;
    }
    const eq = t.indexOf("=");
    if (eq < 0) {
      const sp = t.search(/\s/);
      throw new InputError(file, i + 1, sp < 0 ? t : t.slice(0, sp),
        "expected \"key = value\" (as sysctl prints it)", line, line.indexOf(t) + 1);
    }
    const key = t.slice(0, eq).trim();
    if (key === "" || /\s/.test(key)) {
      throw new InputError(file, i + 1, key, "not a sysctl key", line, line.indexOf(t) + 1);
    }
    out.set(normalizeSysctlKey(key), t.slice(eq + 1).trim());
  }
  if (messages > 0 && notices !== undefined) {
    notices.push(`${file}: ${messages} message${messages === 1 ? "" : "s"} from sysctl skipped (first: ${firstMessage})`);
  }
  return out;
}
