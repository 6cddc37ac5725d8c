/**
 * IP set images for the rule program (layout: assembly/abi.ts, "IP set
 * image"; tested by assembly/netfilter/ipset.ts). The hash types become
 * open-addressing tables at most half full, probed from ipsetHash, the same
 * function the core computes.
 */
import * as abi from "../core/abi.js";
import { NOMATCH_TYPES, type IpSetDef, type IpSets } from "./parse.js";

/** assembly/netfilter/ipset.ts ipsetHash, in u32 arithmetic. */
export function ipsetHash(a: number, b: number, c: number): number {
  let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b) ^ Math.imul(c, 0xc2b2ae35)) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, 0x2c1b3c6d) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  return h;
}

const TYPE_CODE: Record<IpSetDef["type"], number> = {
  "hash:ip": abi.IPS_HASH_IP, "hash:net": abi.IPS_HASH_NET, "hash:ip,port": abi.IPS_HASH_IPPORT,
  "hash:net,port": abi.IPS_HASH_NETPORT, "hash:ip,port,ip": abi.IPS_HASH_IPPORTIP, "hash:ip,port,net": abi.IPS_HASH_IPPORTNET,
  "bitmap:port": abi.IPS_BITMAP_PORT, "bitmap:ip": abi.IPS_BITMAP_IP, "list:set": abi.IPS_LIST_SET,
};

/** The {a, b, c} key of an element (abi.ts lists them per type). */
function keyOf(set: IpSetDef, e: IpSetDef["elems"][number]): [number, number, number] {
  const pp = (e.port | (e.proto << 16)) >>> 0;
  const cidr = (e.cidr << 24) >>> 0;
  switch (set.type) {
    case "hash:ip": return [e.a, 0, 0];
    case "hash:net": return [e.a, 0, cidr];
    case "hash:ip,port": return [e.a, 0, pp];
    case "hash:net,port": return [e.a, 0, (pp | cidr) >>> 0];
    case "hash:ip,port,ip": return [e.a, e.b, pp];
    case "hash:ip,port,net": return [e.a, e.b, (pp | cidr) >>> 0];
    default: throw new Error(`no hash key for ${set.type}`);
  }
}

function setImage(set: IpSetDef, memberOffsets: number[]): Uint8Array {
  const hdr = abi.IPS_HDR;
  let body: Uint8Array;
  const head = new Uint8Array(hdr);
  const hv = new DataView(head.buffer);
  hv.setUint8(abi.IPS_DIM, set.dim);
  hv.setUint8(abi.IPS_FEATURES, NOMATCH_TYPES.has(set.type) ? abi.IPS_F_NOMATCH : 0);
  hv.setUint32(abi.IPS_TABLE, hdr, true);
  if (set.family === "inet6") {
    hv.setUint8(abi.IPS_TYPE, abi.IPS_NEVER);
    return head;
  }
  hv.setUint8(abi.IPS_TYPE, TYPE_CODE[set.type]);
  if (set.type === "list:set") {
    body = new Uint8Array(memberOffsets.length * 4);
    const bv = new DataView(body.buffer);
    memberOffsets.forEach((o, k) => bv.setUint32(k * 4, o, true));
    hv.setUint32(abi.IPS_COUNT, memberOffsets.length, true);
  } else if (set.type === "bitmap:port" || set.type === "bitmap:ip") {
    const shift = set.type === "bitmap:ip" ? 32 - set.netmask : 0;
    const n = Math.floor((set.last - set.first) / 2 ** shift) + 1;
    body = new Uint8Array(Math.ceil(n / 8));
    for (const e of set.elems) {
      const id = set.type === "bitmap:port" ? e.port - set.first : Math.floor((e.a - set.first) / 2 ** shift);
      body[id >> 3]! |= 1 << (id & 7);
    }
    hv.setUint32(abi.IPS_MASK, set.first, true);
    hv.setUint32(abi.IPS_SLOTS_MASK, set.last, true);
    hv.setUint8(abi.IPS_CIDRS, shift);
  } else {
    // distinct prefix lengths, longest first (the order mtype_test_cidrs tries them in)
    const cidrs = [...new Set(set.elems.map((e) => e.cidr))].filter((c) => c > 0).sort((x, y) => y - x);
    hv.setUint8(abi.IPS_NCIDR, cidrs.length);
    cidrs.forEach((c, j) => hv.setUint8(abi.IPS_CIDRS + j, c));
    hv.setUint32(abi.IPS_MASK, set.netmask === 32 ? 0xffffffff : (0xffffffff << (32 - set.netmask)) >>> 0, true);
    let slots = 8;
    while (slots < set.elems.length * 2) slots *= 2;
    hv.setUint32(abi.IPS_SLOTS_MASK, slots - 1, true);
    body = new Uint8Array(slots * abi.IPS_SLOT);
    const bv = new DataView(body.buffer);
    for (const e of set.elems) {
      const [a, b, c] = keyOf(set, e);
      let i = ipsetHash(a, b, c) & (slots - 1);
      let dup = false;
      for (;;) {
        const o = i * abi.IPS_SLOT;
        const f = bv.getUint32(o + 12, true);
        if ((f & abi.IPS_E_USED) === 0) break;
        if (bv.getUint32(o, true) === a && bv.getUint32(o + 4, true) === b && bv.getUint32(o + 8, true) === c) { dup = true; break; }
        i = (i + 1) & (slots - 1);
      }
      const o = i * abi.IPS_SLOT;
      // ipset save lists each element once; a repeated one keeps its last flags (ipset add -exist)
      bv.setUint32(o, a, true);
      bv.setUint32(o + 4, b, true);
      bv.setUint32(o + 8, c, true);
      bv.setUint32(o + 12, abi.IPS_E_USED | (e.nomatch ? abi.IPS_E_NOMATCH : 0), true);
      void dup;
    }
  }
  const out = new Uint8Array(hdr + ((body.length + 3) & ~3));
  out.set(head);
  out.set(body, hdr);
  return out;
}

/**
 * Images of the sets named in `used` (and of list:set members), placed from
 * program offset `base`: the bytes and each set's program offset.
 */
export function ipsetImages(sets: IpSets, used: Iterable<string>, base: number): { bytes: Uint8Array; offsetOf: Map<string, number> } {
  const order: IpSetDef[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const s = sets.byName.get(name);
    if (!s) throw new Error(`ipset ${name} is not loaded`);
    for (const m of s.members) visit(m); // members first: a list's image holds their offsets
    order.push(s);
  };
  for (const n of used) visit(n);
  const offsetOf = new Map<string, number>();
  const parts: Uint8Array[] = [];
  let at = base;
  for (const s of order) {
    const img = setImage(s, s.members.map((m) => offsetOf.get(m)!));
    offsetOf.set(s.name, at);
    parts.push(img);
    at += img.length;
  }
  const bytes = new Uint8Array(at - base);
  let o = 0;
  for (const p of parts) { bytes.set(p, o); o += p.length; }
  return { bytes, offsetOf };
}
