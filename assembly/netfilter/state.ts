/**
 * struct nf_hook_state for the hook being run: the hook number and the
 * input and output devices that -i/-o, addrtype --limit-iface-* and the
 * NAT targets see. Set by netfilter/hooks.ts before each table runs.
 */
export let hsHook: u32 = 0;
/** Input device slot (0 = none: OUTPUT, and POSTROUTING of local packets). */
export let hsIn: u32 = 0;
/** Output device slot (0 = none: PREROUTING, INPUT). */
export let hsOut: u32 = 0;
/** Next hop of the packet's route (rt_nexthop: gateway, or the destination). */
export let hsNexthop: u32 = 0;
/** RTCF_* flags of the packet's route (REJECT needs them). */
export let hsRtFlags: u32 = 0;
/** True when the packet's route was an input route (REJECT's icmp_send). */
export let hsInputRoute = false;
/**
 * The MTU metric of a forwarded packet's route (the input route; 0: its
 * device's MTU), for TCPMSS --clamp-mss-to-pmtu's dst_mtu. A packet the
 * node sends carries its output route's on the descriptor (PKT_RT_MTU).
 */
export let hsRtMtu: u32 = 0;
/**
 * The descriptor of ip_mc_output's looped-back copy while it is in its
 * receive hooks (dev_loopback_xmit: skb->pkt_type PACKET_LOOPBACK), 0
 * otherwise: -m pkttype derives its type from the destination (pkttype_mt).
 */
export let hsLoopbackPkt: usize = 0;
export function hookLoopback(p: usize): void { hsLoopbackPkt = p; }

export function hookState(hook: u32, inDev: u32, outDev: u32): void {
  hsHook = hook;
  hsIn = inDev;
  hsOut = outDev;
}
export function hookRoute(nexthop: u32, rtFlags: u32, inputRoute: bool, rtMtu: u32 = 0): void {
  hsNexthop = nexthop;
  hsRtFlags = rtFlags;
  hsInputRoute = inputRoute;
  hsRtMtu = rtMtu;
}
