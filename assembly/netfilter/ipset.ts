/**
 * IP sets (net/netfilter/ipset/) as `-m set --match-set` tests them:
 * ip_set_test (ip_set_core.c) and each set type's kadt in IPSET_TEST mode.
 *
 * Sets are static here (no SET target, no timeouts): the host compiles the
 * sets the ruleset uses into the rule program (host/ipset/image.ts), one
 * image per set (abi.ts section 6, "IP set image"); a match record holds the
 * image's offset in the program. The hash types are open-addressing tables
 * of 16-byte keys {a, b, c, flags}, probed linearly from ipsetHash(a, b, c)
 * (the host computes the same hash); the net types try the prefix lengths
 * present in the set from the longest down and stop at the first element
 * found, as mtype_test_cidrs does, so a more specific `nomatch` element
 * hides a wider one.
 */
import {
  PKT_PROTO, PKT_OUT_SRC, PKT_OUT_DST, PKT_OUT_SPORT, PKT_OUT_DPORT, PKT_ICMP_TYPE, PKT_ICMP_CODE, PKT_L4_BYTES,
  IPS_TYPE, IPS_DIM, IPS_NCIDR, IPS_FEATURES, IPS_MASK, IPS_SLOTS_MASK, IPS_TABLE, IPS_COUNT, IPS_CIDRS,
  IPS_HASH_IP, IPS_HASH_NET, IPS_HASH_IPPORT, IPS_HASH_NETPORT, IPS_HASH_IPPORTIP, IPS_HASH_IPPORTNET,
  IPS_BITMAP_PORT, IPS_BITMAP_IP, IPS_LIST_SET, IPS_NEVER, IPS_F_NOMATCH, IPS_SLOT, IPS_E_USED, IPS_E_NOMATCH,
  IPS_CMD_RETURN_NOMATCH,
} from "../abi";

/** Result of a type's test: 1 found, 0 not found, -ENOTEMPTY a `nomatch` element, -EINVAL no usable field. */
const FOUND: i32 = 1;
const ENOTEMPTY: i32 = -39;
const EINVAL: i32 = -22;

/** The hash of a key (host/ipset/image.ts computes the same). */
// @ts-ignore: decorator
@inline export function ipsetHash(a: u32, b: u32, c: u32): u32 {
  let h = a * 0x9e3779b1 ^ (b * 0x85ebca6b) ^ (c * 0xc2b2ae35);
  h ^= h >>> 15;
  h *= 0x2c1b3c6d;
  h ^= h >>> 13;
  return h;
}

/** Network mask of a prefix length 1..32. */
// @ts-ignore: decorator
@inline function maskOf(cidr: u32): u32 { return cidr == 0 ? 0 : 0xffffffff << (32 - cidr); }

/** Looks key {a, b, c} up in the hash table of image `s`: 0 absent, else the element's flags. */
function lookup(s: usize, a: u32, b: u32, c: u32): u32 {
  const table = s + <usize>load<u32>(s, IPS_TABLE);
  const mask = load<u32>(s, IPS_SLOTS_MASK);
  let i = ipsetHash(a, b, c) & mask;
  // the host leaves at least half the slots free: a probe always ends at one
  for (let n: u32 = 0; n <= mask; n++) {
    const e = table + (<usize>i) * IPS_SLOT;
    const f = load<u32>(e, 12);
    if ((f & IPS_E_USED) == 0) return 0;
    if (load<u32>(e) == a && load<u32>(e, 4) == b && load<u32>(e, 8) == c) return f;
    i = (i + 1) & mask;
  }
  return 0;
}

// @ts-ignore: decorator
@inline function found(f: u32): i32 { return f == 0 ? 0 : (f & IPS_E_NOMATCH) != 0 ? ENOTEMPTY : FOUND; }

/** The packet's source (src) or destination address, as ip4addrptr reads the live header. */
// @ts-ignore: decorator
@inline function addr(p: usize, src: bool): u32 { return src ? load<u32>(p, PKT_OUT_SRC) : load<u32>(p, PKT_OUT_DST); }

/**
 * ip_set_get_ip4_port: the source or destination port and the protocol as
 * port | proto << 16, or -1 when the header it needs is missing. ICMP's
 * "port" is type << 8 | code; protocols without ports give port 0.
 */
function portProto(p: usize, src: bool): i64 {
  const proto = <u32>load<u8>(p, PKT_PROTO);
  if (proto == 0) return -1;
  // skb_header_pointer of the transport header (PKT_L4_BYTES: 0 = sound, else bytes + 1)
  const raw = <u32>load<u8>(p, PKT_L4_BYTES);
  const have: u32 = raw == 0 ? 0xffff : raw - 1;
  let port: u32 = 0;
  if (proto == 6 || proto == 17 || proto == 132 || proto == 136) {
    const need: u32 = proto == 6 ? 20 : proto == 132 ? 12 : 8;
    if (have < need) return -1;
    port = src ? <u32>load<u16>(p, PKT_OUT_SPORT) : <u32>load<u16>(p, PKT_OUT_DPORT);
  } else if (proto == 1) {
    if (have < 8) return -1;
    port = (<u32>load<u8>(p, PKT_ICMP_TYPE) << 8) | <u32>load<u8>(p, PKT_ICMP_CODE);
  }
  return <i64>(port | (proto << 16));
}

/** Tries the set's prefix lengths, longest first (mtype_test_cidrs). `ip` is masked by each; key = {a, b, c | cidr << 24}. */
function testCidrs(s: usize, ip: u32, netIsB: bool, a: u32, b: u32, c: u32): i32 {
  const n = <u32>load<u8>(s, IPS_NCIDR);
  for (let j: u32 = 0; j < n; j++) {
    const cidr = <u32>load<u8>(s + IPS_CIDRS + j);
    const net = ip & maskOf(cidr);
    const f = netIsB ? lookup(s, a, net, c | (cidr << 24)) : lookup(s, net, b, c | (cidr << 24));
    if (f != 0) return found(f);
  }
  return 0;
}

/** The set type's kadt(IPSET_TEST). `srcBits`: bit i set = dimension i + 1 is the source. */
function kadtTest(base: usize, s: usize, p: usize, dim: u32, srcBits: u32, cmd: u32): i32 {
  const type = <u32>load<u8>(s, IPS_TYPE);
  const one = (srcBits & 1) != 0;
  const two = (srcBits & 2) != 0;
  const three = (srcBits & 4) != 0;
  switch (type) {
    case IPS_HASH_IP: {
      // hash_ip4_kadt: the address under the set's netmask; 0 is refused
      const ip = addr(p, one) & load<u32>(s, IPS_MASK);
      if (ip == 0) return EINVAL;
      return found(lookup(s, ip, 0, 0));
    }
    case IPS_HASH_NET: return testCidrs(s, addr(p, one), false, 0, 0, 0);
    case IPS_HASH_IPPORT: {
      const pp = portProto(p, two);
      if (pp < 0) return EINVAL;
      return found(lookup(s, addr(p, one), 0, <u32>pp));
    }
    case IPS_HASH_NETPORT: {
      const pp = portProto(p, two);
      if (pp < 0) return EINVAL;
      return testCidrs(s, addr(p, one), false, 0, 0, <u32>pp);
    }
    case IPS_HASH_IPPORTIP: {
      const pp = portProto(p, two);
      if (pp < 0) return EINVAL;
      return found(lookup(s, addr(p, one), addr(p, three), <u32>pp));
    }
    case IPS_HASH_IPPORTNET: {
      const pp = portProto(p, two);
      if (pp < 0) return EINVAL;
      return testCidrs(s, addr(p, three), true, addr(p, one), 0, <u32>pp);
    }
    case IPS_BITMAP_PORT: {
      // bitmap_port_kadt: ip_set_get_ip_port, TCP and UDP only
      const pp = portProto(p, one);
      if (pp < 0) return EINVAL;
      const proto = <u32>(pp >> 16);
      if (proto != 6 && proto != 17) return EINVAL;
      const port = <u32>pp & 0xffff;
      const first = load<u32>(s, IPS_MASK);
      if (port < first || port > load<u32>(s, IPS_SLOTS_MASK)) return EINVAL;
      const id = port - first;
      const bits = s + <usize>load<u32>(s, IPS_TABLE);
      return (load<u8>(bits + (id >> 3)) >> (id & 7)) & 1 ? FOUND : 0;
    }
    case IPS_BITMAP_IP: {
      // bitmap_ip_kadt: in [first, last], then ip_to_id under the set's netmask
      const ip = addr(p, one);
      const first = load<u32>(s, IPS_MASK);
      if (ip < first || ip > load<u32>(s, IPS_SLOTS_MASK)) return EINVAL;
      const shift = <u32>load<u8>(s, IPS_CIDRS); // 32 - netmask
      const id = shift >= 32 ? 0 : (ip - first) >> shift;
      const bits = s + <usize>load<u32>(s, IPS_TABLE);
      return (load<u8>(bits + (id >> 3)) >> (id & 7)) & 1 ? FOUND : 0;
    }
    case IPS_LIST_SET: {
      // list_set_ktest: the members in order, the first that matches ends it
      const n = load<u32>(s, IPS_COUNT);
      const members = s + <usize>load<u32>(s, IPS_TABLE);
      let ret: i32 = 0;
      for (let k: u32 = 0; k < n; k++) {
        ret = ipsetTest(base, base + <usize>load<u32>(members + (<usize>k << 2)), p, dim, srcBits, cmd);
        if (ret > 0) return FOUND;
      }
      return ret;
    }
    default: return 0; // IPS_NEVER: an inet6 set tested from IPv4
  }
}

/**
 * ip_set_test of the set image at `s` (`base`: the program, which list:set
 * member offsets count from): `dim` dimensions given by the rule (fewer than
 * the set's: no match), the type's test, --return-nomatch inverting found and
 * `nomatch` elements of the types that have them; error codes are "no match".
 */
export function ipsetTest(base: usize, s: usize, p: usize, dim: u32, srcBits: u32, cmd: u32): i32 {
  if (dim < <u32>load<u8>(s, IPS_DIM) || <u32>load<u8>(s, IPS_TYPE) == IPS_NEVER) return 0;
  let ret = kadtTest(base, s, p, dim, srcBits, cmd);
  if ((cmd & IPS_CMD_RETURN_NOMATCH) != 0 && (load<u8>(s, IPS_FEATURES) & IPS_F_NOMATCH) != 0 && (ret > 0 || ret == ENOTEMPTY)) ret = -ret;
  return ret < 0 ? 0 : ret;
}
