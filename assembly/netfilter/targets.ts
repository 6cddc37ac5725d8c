/**
 * The non-standard targets (net/netfilter/xt_*.c, net/ipv4/netfilter/
 * ipt_*.c): REJECT, the NAT targets (xt_nat DNAT/SNAT, MASQUERADE,
 * REDIRECT), MARK, CONNMARK, LOG/NFLOG, TRACE and NOTRACK.
 */
import {
  PKT_OUT_MARK, PKT_PX, PX_NFTRACE, PKT_CT_INFO, CTINFO_NONE, CTINFO_UNTRACKED,
  E_T0, E_T1, E_T2, E_T3,
  T_REJECT, T_DNAT, T_SNAT, T_MASQUERADE, T_REDIRECT, T_MARK, T_CONNMARK_SET, T_CONNMARK_SAVE, T_CONNMARK_RESTORE,
  T_LOG, T_NFLOG, T_TRACE, T_NOTRACK, T_TTL, T_TOS, T_CLASSIFY, PKT_TTL, PKT_OUT_TTL, PKT_TOS, PX_TOS_SET,
  T_TCPMSS, T_NETMAP, NF_INET_PRE_ROUTING, PKT_OUT_SRC, PKT_OUT_DST, PKT_PROTO, PKT_LEN, PKT_L4_BYTES, PKT_TCP_DOFF, PKT_TCP_OPTS, PKT_TCP_MSS, TO_MSS, PX_MSS_SET, PX_MSS_INSERT, TCPMSS_CLAMP_PMTU, PKT_RT_MTU, PKT_OIF, DEV_MTU, NR_MIN_IP, NR_MAX_IP, NR_MIN_PORT, NR_MAX_PORT, NR_BASE_PORT,
  NF_NAT_RANGE_MAP_IPS, NF_INET_LOCAL_OUT, RT_SCOPE_UNIVERSE, DROP_NAT_NO_ADDR, DROP_NETFILTER,
} from "../abi";
import { prog } from "./program";
import { hsHook, hsIn, hsOut, hsNexthop, hsInputRoute, hsRtMtu } from "./state";
import { pktCt, ctPtr } from "../conntrack/core";
import { T_SRC, ctTuple, ctMark, ctSetMark } from "../conntrack/entry";
import { natSetMasq } from "../nat/ext";
import { setRange, natSetupInfo, MANIP_SRC, MANIP_DST } from "../nat/core";
import { inetSelectAddr, devFirstAddr, devPtr } from "../dev";
import { ipRouteOutput } from "../route/output";
import { rtMtu, rtDev } from "../route/rtable";
import { nfReject } from "./reject";
import { ipHdrLen } from "../util/ip";

export const TGT_DROP: u32 = 0;
export const TGT_ACCEPT: u32 = 1;
export const TGT_CONTINUE: u32 = 0xffffffff;

/** Why the last DROP verdict of a target dropped (DROP_NETFILTER unless a NAT target had a reason). */
export let targetDropReason: i32 = DROP_NETFILTER;

/** Runs target `tk` of entry `e` for packet `p`: a verdict, or TGT_CONTINUE. */
export function runTarget(p: usize, e: usize, tk: u32): u32 {
  targetDropReason = DROP_NETFILTER;
  switch (tk) {
    case T_MARK: {
      const mark = load<u32>(p, PKT_OUT_MARK);
      store<u32>(p, (mark & ~load<u32>(e, E_T1)) ^ load<u32>(e, E_T0), PKT_OUT_MARK);
      return TGT_CONTINUE;
    }
    case T_CONNMARK_SET:
    case T_CONNMARK_SAVE:
    case T_CONNMARK_RESTORE: {
      const id = pktCt(p);
      if (id == 0) return TGT_CONTINUE;
      const ct = ctPtr(id - 1);
      const a = load<u32>(e, E_T0);
      const b = load<u32>(e, E_T1);
      const ctmark = ctMark(ct);
      if (tk == T_CONNMARK_SET) ctSetMark(ct, (ctmark & ~b) ^ a);
      else if (tk == T_CONNMARK_SAVE) ctSetMark(ct, (ctmark & ~b) ^ (load<u32>(p, PKT_OUT_MARK) & a));
      else store<u32>(p, (load<u32>(p, PKT_OUT_MARK) & ~a) ^ (ctmark & b), PKT_OUT_MARK);
      return TGT_CONTINUE;
    }
    case T_LOG:
    case T_NFLOG:
    case T_CLASSIFY: // skb->priority: read by qdiscs, nothing modelled here
      return TGT_CONTINUE;
    case T_TTL: {
      // ttl_tg (xt_HL.c): set, or inc/dec saturating at 255/0. The header's TTL is
      // PKT_OUT_TTL; PKT_TTL follows it so ip_forward (which reads it after
      // PREROUTING) and the readers that fall back to it see the new value
      const ttl = <i32>load<u8>(p, PKT_OUT_TTL);
      const v = <i32>load<u32>(e, E_T1);
      const mode = load<u32>(e, E_T0);
      let n = mode == 0 ? v : mode == 1 ? ttl + v : ttl - v;
      if (n > 255) n = 255;
      if (n < 0) n = 0;
      store<u8>(p, <u8>n, PKT_OUT_TTL);
      store<u8>(p, <u8>n, PKT_TTL);
      return TGT_CONTINUE;
    }
    case T_NETMAP: {
      // netmap_tg4 (xt_NETMAP.c): the header's address with the prefix's network bits, one address
      const id = pktCt(p);
      if (id == 0) return TGT_ACCEPT;
      const mask = load<u32>(e, E_T1);
      const dst = hsHook == NF_INET_PRE_ROUTING || hsHook == NF_INET_LOCAL_OUT;
      const a = dst ? load<u32>(p, PKT_OUT_DST) : load<u32>(p, PKT_OUT_SRC);
      const n = (a & ~mask) | (load<u32>(e, E_T0) & mask);
      setRange(NF_NAT_RANGE_MAP_IPS, n, n, 0, 0, 0);
      return natSetupInfo(id - 1, dst ? MANIP_DST : MANIP_SRC) ? TGT_ACCEPT : TGT_DROP;
    }
    case T_TCPMSS: {
      // tcpmss_tg4 -> tcpmss_mangle_packet (xt_TCPMSS.c): a header it cannot read is dropped
      if (<u32>load<u8>(p, PKT_PROTO) != 6) return TGT_CONTINUE;
      const b = <u32>load<u8>(p, PKT_L4_BYTES);
      const doff = <u32>load<u8>(p, PKT_TCP_DOFF);
      if (b != 0 && (b - 1 < 20 || doff < 5 || (doff << 2) > b - 1)) return TGT_DROP;
      const hdr: u32 = (doff == 0 ? 5 : doff) << 2;
      let newmss = load<u32>(e, E_T0);
      if (newmss == TCPMSS_CLAMP_PMTU) {
        // --clamp-mss-to-pmtu: min(dst_mtu(skb_dst(skb)), tcpmss_reverse_mtu) - 40; at most 40: NF_DROP
        const minMtu = min<u32>(dstMtu(p), reverseMtu(load<u32>(p, PKT_OUT_SRC)));
        if (minMtu <= 40) return TGT_DROP;
        newmss = minMtu - 40;
      }
      if (load<u8>(p, PKT_TCP_OPTS) & TO_MSS) {
        // the option's walk is tcpmss_mt's (the decoder's TO_MSS); never raise the MSS
        if (<u32>load<u16>(p, PKT_TCP_MSS) > newmss) {
          store<u16>(p, <u16>newmss, PKT_TCP_MSS);
          store<u8>(p, load<u8>(p, PKT_PX) | <u8>PX_MSS_SET, PKT_PX);
        }
        return TGT_CONTINUE;
      }
      // no MSS option: data after the header, or no room (doff 15): unchanged
      const len = <u32>load<u16>(p, PKT_LEN);
      if (len - ipHdrLen(p) > hdr || hdr >= 60) return TGT_CONTINUE;
      // the option inserted right after the 20-byte header, min(newmss, 536) (RFC 1122's default
      // MSS), doff + 1 and tot_len + 4: the descriptor is the longer packet from here on (later
      // rules' counters, the MTU, the egress bytes: host/packet/emit.ts inserts it)
      store<u16>(p, <u16>min<u32>(newmss, 536), PKT_TCP_MSS);
      store<u8>(p, load<u8>(p, PKT_TCP_OPTS) | <u8>TO_MSS, PKT_TCP_OPTS);
      store<u8>(p, <u8>((hdr >> 2) + 1), PKT_TCP_DOFF);
      store<u16>(p, <u16>(len + 4), PKT_LEN);
      store<u8>(p, load<u8>(p, PKT_PX) | <u8>PX_MSS_INSERT, PKT_PX);
      return TGT_CONTINUE;
    }
    case T_TOS: {
      // tos_tg / dscp_tg (xt_DSCP.c): ipv4_change_dsfield when the value changes
      const tos = <u32>load<u8>(p, PKT_TOS);
      const n = ((tos & ~load<u32>(e, E_T1)) ^ load<u32>(e, E_T0)) & 0xff;
      if (n != tos) {
        store<u8>(p, <u8>n, PKT_TOS);
        store<u8>(p, load<u8>(p, PKT_PX) | <u8>PX_TOS_SET, PKT_PX);
      }
      return TGT_CONTINUE;
    }
    case T_TRACE:
      store<u8>(p, load<u8>(p, PKT_PX) | <u8>PX_NFTRACE, PKT_PX);
      return TGT_CONTINUE;
    case T_NOTRACK:
      // notrack_tg: only a packet conntrack has not seen yet
      if (pktCt(p) == 0 && <u32>load<u8>(p, PKT_CT_INFO) == CTINFO_NONE) store<u8>(p, <u8>CTINFO_UNTRACKED, PKT_CT_INFO);
      return TGT_CONTINUE;
    case T_REJECT:
      nfReject(p, load<u32>(e, E_T0));
      return TGT_DROP;
    case T_DNAT:
    case T_SNAT: {
      const id = pktCt(p);
      if (id == 0) return TGT_ACCEPT;
      const r = prog + load<u32>(e, E_T3);
      setRange(load<u32>(e, E_T1), load<u32>(r, NR_MIN_IP), load<u32>(r, NR_MAX_IP), <u32>load<u16>(r, NR_MIN_PORT),
        <u32>load<u16>(r, NR_MAX_PORT), <u32>load<u16>(r, NR_BASE_PORT));
      return natSetupInfo(id - 1, tk == T_SNAT ? MANIP_SRC : MANIP_DST) ? TGT_ACCEPT : TGT_DROP;
    }
    case T_MASQUERADE: {
      // nf_nat_masquerade_ipv4
      const id = pktCt(p);
      if (id == 0) return TGT_ACCEPT;
      const ct = ctPtr(id - 1);
      if (load<u32>(ctTuple(ct, 0), T_SRC) == 0) return TGT_ACCEPT; // 0.0.0.0: probably not meant to be masqueraded
      const newsrc = inetSelectAddr(hsOut, hsNexthop, RT_SCOPE_UNIVERSE);
      if (newsrc == 0) { targetDropReason = DROP_NAT_NO_ADDR; return TGT_DROP; } // "... ate my IP address"
      natSetMasq(id - 1, ct, hsOut);
      setRange(load<u32>(e, E_T2) | NF_NAT_RANGE_MAP_IPS, newsrc, newsrc, load<u32>(e, E_T0), load<u32>(e, E_T1), 0);
      return natSetupInfo(id - 1, MANIP_SRC) ? TGT_ACCEPT : TGT_DROP;
    }
    case T_REDIRECT: {
      // nf_nat_redirect_ipv4: OUTPUT to 127.0.0.1, PREROUTING to the input device's first address
      const id = pktCt(p);
      if (id == 0) return TGT_ACCEPT;
      let newdst: u32 = 0x7f000001;
      if (hsHook != NF_INET_LOCAL_OUT) {
        newdst = hsIn != 0 ? devFirstAddr(hsIn) : 0;
        if (newdst == 0) { targetDropReason = DROP_NAT_NO_ADDR; return TGT_DROP; }
      }
      setRange(load<u32>(e, E_T2) | NF_NAT_RANGE_MAP_IPS, newdst, newdst, load<u32>(e, E_T0), load<u32>(e, E_T1), 0);
      return natSetupInfo(id - 1, MANIP_DST) ? TGT_ACCEPT : TGT_DROP;
    }
    default:
      return TGT_CONTINUE;
  }
}

/** IP_MAX_MTU: the most any route's MTU is taken to be. */
const IP_MAX_MTU: u32 = 0xfff0;

/** ipv4_mtu of a route: its MTU metric, else its device's MTU; at most IP_MAX_MTU. */
function routeMtu(metric: u32, dev: u32): u32 {
  const m = metric != 0 ? metric : load<u32>(devPtr(dev), DEV_MTU);
  return min<u32>(m, IP_MAX_MTU);
}

/**
 * dst_mtu(skb_dst(skb)) where TCPMSS runs (FORWARD, OUTPUT, POSTROUTING):
 * a forwarded packet's input route (its output device and metric, from the
 * hook), or a sent packet's output route as it is now (after a reroute in
 * OUTPUT too: PKT_OIF, PKT_RT_MTU).
 */
function dstMtu(p: usize): u32 {
  if (hsInputRoute) return routeMtu(hsRtMtu, hsOut);
  return routeMtu(load<u32>(p, PKT_RT_MTU), <u32>load<u16>(p, PKT_OIF));
}

/**
 * tcpmss_reverse_mtu: an output route lookup (nf_route -> ip_route_output_key)
 * with a flow all zero but its destination, the packet's source address;
 * that route's MTU, or ~0 when the lookup fails. The lookup overwrites the
 * rtable globals, as REJECT's reply routing does: the paths that run hooks
 * keep the packet's route in locals and on the descriptor, never in them.
 */
function reverseMtu(saddr: u32): u32 {
  if (ipRouteOutput(saddr, 0, 0, 0, 0, 0, 0, 0, 0, 0) != 0) return 0xffffffff;
  return routeMtu(rtMtu, rtDev);
}
