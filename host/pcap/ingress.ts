/**
 * Which interface of the node a captured frame arrived on. In order:
 *  1. the user's mapping: capture interface (pcapng interface index, or
 *     if_name), SLL2 ifindex, Ethernet destination MAC -> node link name;
 *  2. automatic: the pcapng if_name when the node has a link of that name;
 *     the SLL2 ifindex matched against ip-link.txt; for Ethernet, the
 *     destination MAC matched against the node's link MACs;
 *  3. the user's source-subnet mapping (CIDR -> link), first match.
 * Ethernet frames whose source MAC is one of the node's are the node's
 * own transmissions (outgoing copies), as are SLL/SLL2 PACKET_OUTGOING and
 * pcapng epb_flags outbound: host/pcap/node-sends.ts tells the node's own
 * sends (replayed as local sends) from the rest (counted, not replayed).
 */
import type { LoadedNode } from "../node/compile.js";
import { parseCidr, maskOf } from "../util/ipv4.js";
import { parseMac, formatMac, type LinkInfo } from "./link.js";
import type { CaptureInterface } from "./read.js";

/** The user's ingress mapping; every value is a node link name. */
export interface IngressMap {
  /** pcapng interface index (0-based, counted over all sections) -> link. */
  byInterfaceId?: Record<number, string>;
  /** Capture interface name (pcapng if_name) -> link. */
  byIfName?: Record<string, string>;
  /** SLL2 interface index -> link. */
  byIfindex?: Record<number, string>;
  /** Ethernet destination MAC (aa:bb:cc:dd:ee:ff) -> link. */
  byMac?: Record<string, string>;
  /** Source subnets, first match wins: frames from `cidr` arrive on `link`. */
  bySource?: { cidr: string; link: string }[];
  /**
   * How the caller spells each mapping for the user (e.g. a CLI option), for
   * error messages; default "ingress.<key>".
   */
  optionName?: (key: IngressKey) => string;
  /**
   * How the caller spells one mapping of `from` (the capture's value:
   * interface name, index, MAC...) for the user, in the explanation of a
   * frame that cannot be placed; default `<optionName> (<from> -> a node link)`.
   */
  suggest?: (key: IngressKey, from: string) => string;
}

export type IngressKey = "byInterfaceId" | "byIfName" | "byIfindex" | "byMac" | "bySource";

/** A problem with the mapping itself (unknown link name, bad MAC or CIDR). */
export class IngressMapError extends Error {}

/** The node's link names, for messages (the first 24, then how many more). */
export function linkList(node: LoadedNode): string {
  const names = [...node.slotByName.keys()];
  return names.length > 24 ? `${names.slice(0, 24).join(", ")} and ${names.length - 24} more` : names.join(", ");
}

export class IngressResolver {
  private readonly ifaceSlot: number[] = [];
  private readonly ifindexSlot = new Map<number, number>();
  private readonly macSlot = new Map<number, number>();
  private readonly nodeMacs = new Set<number>();
  private readonly userIfindex = new Map<number, number>();
  private readonly userMac = new Map<number, number>();
  private readonly src: { addr: number; mask: number; slot: number }[] = [];
  readonly optionName: NonNullable<IngressMap["optionName"]>;
  private readonly suggest: NonNullable<IngressMap["suggest"]>;

  constructor(private readonly node: LoadedNode, private readonly map: IngressMap = {}) {
    this.optionName = map.optionName ?? ((k) => `ingress.${k}`);
    this.suggest = map.suggest ?? ((k, from) => `${this.optionName(k)} (${from} -> a node link)`);
    const slot = (name: string, key: IngressKey): number => {
      const s = node.slotByName.get(name);
      if (s === undefined) throw new IngressMapError(`${this.optionName(key)}: "${name}" is not a link of the node (links: ${linkList(node)})`);
      return s;
    };
    node.devBySlot.forEach((l, s) => {
      if (!l) return;
      this.ifindexSlot.set(l.ifindex, s);
      const m = l.mac !== undefined ? parseMac(l.mac) : undefined;
      if (m !== undefined && m !== 0) { this.macSlot.set(m, s); this.nodeMacs.add(m); }
    });
    for (const [k, v] of Object.entries(map.byIfindex ?? {})) this.userIfindex.set(Number(k), slot(v, "byIfindex"));
    for (const [k, v] of Object.entries(map.byMac ?? {})) {
      const m = parseMac(k);
      if (m === undefined) throw new IngressMapError(`${this.optionName("byMac")}: "${k}" is not a MAC address`);
      this.userMac.set(m, slot(v, "byMac"));
    }
    for (const { cidr, link } of map.bySource ?? []) {
      const c = parseCidr(cidr);
      if (!c) throw new IngressMapError(`${this.optionName("bySource")}: "${cidr}" is not an IPv4 prefix`);
      const mask = maskOf(c.plen);
      this.src.push({ addr: (c.addr & mask) >>> 0, mask, slot: slot(link, "bySource") });
    }
    // validate the per-interface maps now (names), resolved per capture interface later
    for (const v of Object.values(map.byInterfaceId ?? {})) slot(v, "byInterfaceId");
    for (const v of Object.values(map.byIfName ?? {})) slot(v, "byIfName");
  }

  /** Slot of a capture interface from its id or if_name (user map, then same-named link), 0 if neither; cached. */
  interfaceSlot(ifc: CaptureInterface): number {
    let s = this.ifaceSlot[ifc.index];
    if (s !== undefined) return s;
    const byId = this.map.byInterfaceId?.[ifc.index];
    const byName = ifc.name !== undefined ? this.map.byIfName?.[ifc.name] : undefined;
    const auto = ifc.name !== undefined ? this.node.slotByName.get(ifc.name) : undefined;
    s = byId !== undefined ? this.node.slotByName.get(byId)! : byName !== undefined ? this.node.slotByName.get(byName)! : auto ?? 0;
    this.ifaceSlot[ifc.index] = s;
    return s;
  }

  /**
   * A mapping of a capture interface (by if_name or index) that names none
   * of the capture's interfaces `ifaces` (all of them: call at the end of
   * the input), as the offending token and the problem; undefined if none.
   * Such a mapping placed nothing: a misspelt name, most likely.
   */
  unusedInterfaceMapping(ifaces: readonly CaptureInterface[]): { token: string; problem: string } | undefined {
    const list = () => ifaces.map((i) => (i.name !== undefined ? JSON.stringify(i.name) : `#${i.index} (no name)`)).join(", ") || "none";
    const names = new Set(ifaces.map((i) => i.name));
    for (const name of Object.keys(this.map.byIfName ?? {})) {
      if (!names.has(name)) return { token: name, problem: `${this.optionName("byIfName")} maps capture interface "${name}", which the capture does not have (its interfaces: ${list()})` };
    }
    for (const id of Object.keys(this.map.byInterfaceId ?? {})) {
      if (Number(id) >= ifaces.length) return { token: id, problem: `${this.optionName("byInterfaceId")} maps capture interface ${id}, but the capture has ${ifaces.length} (${list()})` };
    }
    return undefined;
  }

  /**
   * The maps resolve() and isNodeMac() look frames up in, and the source
   * subnets (for the core's capture decoder, which resolves as resolve() does).
   */
  maps(): {
    nodeMacs: ReadonlySet<number>; userMac: ReadonlyMap<number, number>; macSlot: ReadonlyMap<number, number>;
    userIfindex: ReadonlyMap<number, number>; ifindexSlot: ReadonlyMap<number, number>; src: readonly { addr: number; mask: number; slot: number }[];
  } {
    return { nodeMacs: this.nodeMacs, userMac: this.userMac, macSlot: this.macSlot, userIfindex: this.userIfindex, ifindexSlot: this.ifindexSlot, src: this.src };
  }

  /** The frame is the node's own transmission (source MAC of a node link). */
  isNodeMac(mac: number): boolean { return mac >= 0 && this.nodeMacs.has(mac); }

  /**
   * Ingress slot of a frame, 0 when it cannot be told. `interfaceSlot` is
   * this.interfaceSlot(frame's capture interface); `src` the IPv4 source.
   */
  resolve(ifaceSlot: number, link: LinkInfo, src: number): number {
    const s = this.linkSlot(ifaceSlot, link);
    return s !== 0 ? s : this.subnetSlot(src);
  }

  /** The user's source-subnet mapping for IPv4 source `src`, first match (0: none): resolve()'s last resort. */
  subnetSlot(src: number): number {
    for (let i = 0; i < this.src.length; i++) {
      const r = this.src[i]!;
      if (((src & r.mask) >>> 0) === r.addr) return r.slot;
    }
    return 0;
  }

  /** resolve() without the source subnets: the slot the capture's interface, ifindex or MAC says (0: none). */
  linkSlot(ifaceSlot: number, link: LinkInfo): number {
    const explicitIface = ifaceSlot !== 0;
    let s: number | undefined;
    if (link.ifindex !== 0) {
      s = this.userIfindex.get(link.ifindex);
      if (s !== undefined) return s;
    }
    if (link.dstMac >= 0) {
      s = this.userMac.get(link.dstMac);
      if (s !== undefined) return s;
    }
    if (explicitIface) return ifaceSlot;
    if (link.ifindex !== 0) {
      s = this.ifindexSlot.get(link.ifindex);
      if (s !== undefined) return s;
    }
    if (link.dstMac >= 0) {
      s = this.macSlot.get(link.dstMac);
      if (s !== undefined) return s;
    }
    return 0;
  }

  /** Why a frame's ingress could not be told, and which mapping would fix it. */
  explain(ifc: CaptureInterface, link: LinkInfo): string {
    const what: string[] = [];
    const fix: string[] = [];
    if (ifc.name !== undefined) {
      what.push(`capture interface ${ifc.index} is "${ifc.name}", not a link of the node`);
      fix.push(`${this.suggest("byIfName", JSON.stringify(ifc.name))} or ${this.suggest("byInterfaceId", String(ifc.index))}`);
    }
    if (link.ifindex !== 0) {
      what.push(`SLL2 ifindex ${link.ifindex} is not in the node's ip-link.txt`);
      fix.push(this.suggest("byIfindex", String(link.ifindex)));
    }
    if (link.dstMac >= 0) {
      const bcast = Math.floor(link.dstMac / 2 ** 40) & 1;
      what.push(`destination MAC ${formatMac(link.dstMac)} ${bcast ? "is broadcast/multicast" : "is not a MAC of the node's links"}`);
      fix.push(this.suggest("byMac", formatMac(link.dstMac)));
    }
    if (what.length === 0) what.push(`the capture does not say (no interface name, ifindex or MAC)`);
    if (fix.length === 0) fix.push(this.suggest("byInterfaceId", String(ifc.index)));
    fix.push(this.suggest("bySource", "source subnet"));
    return `cannot tell which interface of the node the frame arrived on: ${what.join("; ")}; map it with ${fix.join(", or ")} (node links: ${linkList(this.node)})`;
  }
}
