/**
 * The scenarios of the conntrack differential suite, on the netfilter
 * suite's small node (test/netfilter/diff/node.ts):
 *
 *   eth0   10.0.0.2/24, default via 10.0.0.1      internet 203.0.113.0/24, 198.51.100.0/24
 *   eth1   192.168.1.1/24 + 192.168.1.2            LAN clients 192.168.1.10-99
 *   eni0a  pod 10.244.0.5      eni0b  pod 10.244.0.6
 *   ip rule 100: fwmark 0x10/0x10 lookup 100 (default via 192.168.1.254 dev eth1)
 *
 * Every ruleset carries "observer" rules without targets in FORWARD, INPUT
 * and OUTPUT that count packets by ctstate, ctdir and ctstatus, so the rule
 * counters the runner compares show how each packet was classified. Most
 * TCP scenarios run the same script twice: a LAN client without NAT and a
 * pod whose connections are MASQUERADEd out of eth0.
 *
 * Groups: tcp (handshakes, teardowns, retransmissions, simultaneous open,
 * window tracking with be_liberal 0/1, mid-stream pickup with tcp_loose 1/0,
 * TIME_WAIT and CLOSE reopen, window scaling and SACK), udp, icmp, nat
 * (DNAT, SNAT, MASQUERADE, port ranges, port clashes, --random,
 * --random-fully, REDIRECT, address ranges, hairpin, local OUTPUT DNAT),
 * timeout (sysctl overrides with entries expiring between rounds), table
 * full (nf_conntrack_max, early drop) and connmark (CONNMARK save/restore,
 * -m conntrack/-m connmark/-m state on the same flows).
 */
import { Rnd } from "../../netfilter/diff/node.js";
import type { CtScenario } from "./runner.js";
import { echoConv, exchange, finClose, fixed, handshake, idle, localUdpConv, rawConv, tcpConv, udpConv, type Act, type CtFlow, type DgramAct, type Peer, type TcpAct } from "./flows.js";

const LAN = (n: number): Peer => ({ iif: "eth1", ip: `192.168.1.${n}` });
const NET = (n: number): Peer => ({ iif: "eth0", ip: `203.0.113.${n}` });
const POD_A: Peer = { iif: "eni0a", ip: "10.244.0.5" };
const POD_B: Peer = { iif: "eni0b", ip: "10.244.0.6" };
const NODE = "10.0.0.2";

/** Counting rules (no target) for a filter chain: how conntrack classified each packet. */
function observers(chain: string): string[] {
  return [
    "-m conntrack --ctstate NEW --ctdir ORIGINAL",
    "-m conntrack --ctstate ESTABLISHED --ctdir ORIGINAL",
    "-m conntrack --ctstate ESTABLISHED --ctdir REPLY",
    "-m conntrack --ctstate RELATED --ctdir ORIGINAL",
    "-m conntrack --ctstate RELATED --ctdir REPLY",
    "-m conntrack --ctstate INVALID",
    "-m conntrack --ctstate UNTRACKED",
    "-m conntrack --ctstatus ASSURED",
    "-m conntrack --ctstatus SEEN_REPLY",
    "-m conntrack --ctstate SNAT",
    "-m conntrack --ctstate DNAT",
    "-p tcp -m conntrack --ctstate NEW --tcp-flags SYN,ACK,RST,FIN SYN",
  ].map((m) => `-A ${chain} ${m}`);
}

/** A ruleset: NAT rules, extra filter rules, mangle rules; observers everywhere; INVALID dropped in FORWARD unless told not to. */
function rules(o: { nat?: string[]; filter?: string[]; mangle?: string[]; raw?: string[]; dropInvalid?: boolean } = {}): string {
  const out: string[] = [];
  if (o.raw?.length) out.push("*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...o.raw, "COMMIT");
  out.push("*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ...(o.mangle ?? []), "COMMIT");
  out.push("*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ...(o.nat ?? []), "COMMIT");
  out.push("*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
    ...observers("FORWARD"), ...observers("INPUT"), ...observers("OUTPUT"), ...(o.filter ?? []));
  if (o.dropInvalid !== false) out.push("-A FORWARD -m conntrack --ctstate INVALID -j DROP");
  out.push("COMMIT");
  return out.join("\n") + "\n";
}

const MASQ_PODS = ["-A POSTROUTING -s 10.244.0.0/16 -o eth0 -j MASQUERADE"];

/** The same TCP script from a LAN client (no NAT) and from a pod (MASQUERADE), to internet servers. */
function tcpPair(script: Act<TcpAct>[], opts: { port: number; seed: number; midstream?: boolean; lanHost?: number; dst?: number }): CtFlow[] {
  const r = new Rnd(opts.seed);
  const dst = `203.0.113.${opts.dst ?? 10}`;
  return [
    tcpConv({ client: LAN(opts.lanHost ?? 20), dst, sport: opts.port, dport: 443, server: { iif: "eth0" }, isnC: r.u32(), isnS: r.u32(), midstream: opts.midstream }, script),
    tcpConv({ client: POD_A, dst, sport: opts.port + 1, dport: 443, server: { iif: "eth0" }, isnC: r.u32(), isnS: r.u32(), midstream: opts.midstream }, script),
  ];
}

// ---------------------------------------------------------------------------
// TCP

function tcpScenarios(): CtScenario[] {
  const out: CtScenario[] = [];
  out.push({
    name: "tcp: handshake, data both ways, FIN from the client",
    doc: "SYN_SENT -> SYN_RECV -> ESTABLISHED [ASSURED] -> FIN_WAIT -> CLOSE_WAIT -> LAST_ACK -> TIME_WAIT, a late ACK in TIME_WAIT",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: tcpPair([...handshake(), ...exchange(100), ...exchange(1400), ...finClose("c"), { by: "s", flags: "A", rtx: true }], { port: 40001, seed: 11 }),
  });
  out.push({
    name: "tcp: FIN from the server",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: tcpPair([...handshake(), ...exchange(), ...finClose("s"), { by: "c", flags: "A", rtx: true }], { port: 40011, seed: 12 }),
  });
  out.push({
    name: "tcp: FIN and FIN crossing, half-close with data",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: [
      ...tcpPair([...handshake(), { by: "c", flags: "FA" }, { by: "s", flags: "FA", ackOff: -1 }, { by: "c", flags: "A" }, { by: "s", flags: "A" }], { port: 40021, seed: 13 }),
      // client half-closes, the server still sends data, then closes
      ...tcpPair([...handshake(), { by: "c", flags: "FA" }, { by: "s", flags: "A" }, { by: "s", flags: "PA", data: 500 }, { by: "c", flags: "A" },
        { by: "s", flags: "FA" }, { by: "c", flags: "A" }], { port: 40023, seed: 14, lanHost: 21 }),
    ],
  });
  out.push({
    name: "tcp: RST teardown from either side",
    doc: "RST after data from the client and from the server (CLOSE), a segment after the reset, a second RST",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: [
      ...tcpPair([...handshake(), ...exchange(), { by: "c", flags: "R" }, { by: "s", flags: "PA", data: 50 }, { by: "c", flags: "R", rtx: true }], { port: 40031, seed: 15 }),
      ...tcpPair([...handshake(), ...exchange(), { by: "s", flags: "RA" }, { by: "c", flags: "PA", data: 50 }], { port: 40033, seed: 16, lanHost: 22 }),
      // an RST with a sequence number outside the window (ignored: INVALID), then a valid one
      ...tcpPair([...handshake(), { by: "c", flags: "R", seqOff: 200000, hold: true }, { by: "s", flags: "R", seqOff: -70000, hold: true }, { by: "c", flags: "PA", data: 10 }, { by: "s", flags: "R" }], { port: 40035, seed: 17, lanHost: 23 }),
    ],
  });
  out.push({
    name: "tcp: RST answering a SYN",
    doc: "RST+ACK acking the SYN (CLOSE), RST with a wrong ack (INVALID), SYN to a closed port of the node (its own reset)",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: [
      ...tcpPair([{ by: "c", flags: "S" }, { by: "s", flags: "RA", ackOff: 0 }, { by: "c", flags: "S", rtx: true }, { by: "s", flags: "SA" }, { by: "c", flags: "A" }], { port: 40041, seed: 18 }),
      ...tcpPair([{ by: "c", flags: "S" }, { by: "s", flags: "RA", ackOff: 5 }, { by: "s", flags: "SA" }, { by: "c", flags: "A" }], { port: 40043, seed: 19, lanHost: 24 }),
      tcpConv({ client: LAN(25), dst: "192.168.1.1", sport: 40045, dport: 81, server: { iif: "eth1" }, isnC: 77, isnS: 0 }, [{ by: "c", flags: "S" }, { by: "c", flags: "S", rtx: true, delay: 0.2 }]),
      tcpConv({ client: NET(26), dst: NODE, sport: 40046, dport: 82, server: { iif: "eth0" }, isnC: 99, isnS: 0 }, [{ by: "c", flags: "S" }, { by: "c", flags: "A", ackOff: 1 }]),
    ],
  });
  out.push({
    name: "tcp: SYN retransmission",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: tcpPair([{ by: "c", flags: "S" }, { by: "c", flags: "S", rtx: true }, { by: "c", flags: "S", rtx: true }, { by: "s", flags: "SA" }, { by: "c", flags: "S", rtx: true },
      { by: "c", flags: "A" }, ...exchange()], { port: 40051, seed: 20 }),
  });
  out.push({
    name: "tcp: SYN-ACK retransmission",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: tcpPair([{ by: "c", flags: "S" }, { by: "s", flags: "SA" }, { by: "s", flags: "SA", rtx: true }, { by: "c", flags: "A" }, { by: "s", flags: "SA", rtx: true }, ...exchange()],
      { port: 40061, seed: 21 }),
  });
  out.push({
    name: "tcp: simultaneous open",
    doc: "both ends send a SYN (SYN_SENT2), then SYN-ACKs crossing, then data",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: [
      tcpConv({ client: LAN(30), dst: "203.0.113.30", sport: 40071, dport: 40072, server: { iif: "eth0" }, isnC: 100000, isnS: 900000 }, [
        { by: "c", flags: "S" },
        { by: "s", flags: "S", ackOff: 0 },
        { by: "c", flags: "SA", seqOff: -1, hold: true },
        { by: "s", flags: "SA", seqOff: -1, hold: true, ackOff: 0 },
        { by: "c", flags: "A" },
        ...exchange(),
        ...finClose("s"),
      ]),
      // the server's SYN answered by the client's SYN-ACK only
      tcpConv({ client: LAN(31), dst: "203.0.113.31", sport: 40073, dport: 40074, server: { iif: "eth0" }, isnC: 300000, isnS: 700000 }, [
        { by: "c", flags: "S" },
        { by: "s", flags: "S" },
        { by: "c", flags: "SA", seqOff: -1, hold: true },
        { by: "s", flags: "A" },
        ...exchange(),
      ]),
    ],
  });
  for (const liberal of [0, 1]) {
    out.push({
      name: `tcp: out-of-window segments, be_liberal=${liberal}`,
      doc: "data far beyond the window, an old segment, an ACK for data never sent, a SYN in ESTABLISHED; INVALID dropped by a --ctstate INVALID rule",
      ruleset: rules({ nat: MASQ_PODS }),
      sysctl: { "net.netfilter.nf_conntrack_tcp_be_liberal": String(liberal) },
      flows: [
        ...tcpPair([...handshake(), ...exchange(),
          { by: "c", flags: "PA", data: 100, seqOff: 0x40000000, hold: true },
          { by: "c", flags: "PA", data: 100, seqOff: -300000, hold: true },
          { by: "s", flags: "A", ackOff: 1000000 },
          { by: "c", flags: "PA", data: 100 },
          { by: "s", flags: "PA", data: 100, ackOff: -200000, hold: true },
          { by: "s", flags: "A" },
          { by: "c", flags: "S", seqOff: 5000, hold: true },
          { by: "c", flags: "PA", data: 20 },
          ...finClose("c"),
        ], { port: 40081 + liberal * 10, seed: 22 + liberal }),
      ],
    });
  }
  for (const loose of [1, 0]) {
    out.push({
      name: `tcp: mid-stream pickup, tcp_loose=${loose}`,
      doc: "connections whose handshake the node never saw: data, ACKs, FIN teardown; an RST and a FIN as first packets",
      ruleset: rules({ nat: MASQ_PODS }),
      sysctl: { "net.netfilter.nf_conntrack_tcp_loose": String(loose) },
      flows: [
        ...tcpPair([{ by: "c", flags: "PA", data: 100 }, { by: "s", flags: "A" }, { by: "s", flags: "PA", data: 300 }, { by: "c", flags: "A" }, ...finClose("c")],
          { port: 40101 + loose * 10, seed: 24 + loose, midstream: true }),
        // the server's side speaks first (its packet is the connection's original direction)
        tcpConv({ client: NET(40), dst: "192.168.1.40", sport: 443, dport: 40105 + loose * 10, server: { iif: "eth1" }, isnC: 5000, isnS: 9000, midstream: true },
          [{ by: "c", flags: "A" }, { by: "s", flags: "PA", data: 10 }, { by: "c", flags: "PA", data: 10 }]),
        tcpConv({ client: LAN(41), dst: "203.0.113.41", sport: 40106 + loose * 10, dport: 443, server: { iif: "eth0" }, isnC: 1, isnS: 2, midstream: true },
          [{ by: "c", flags: "RA" }, { by: "c", flags: "FA" }, { by: "s", flags: "A" }]),
      ],
    });
  }
  out.push({
    name: "tcp: reopen in TIME_WAIT with a new SYN",
    doc: "FIN teardown to TIME_WAIT, then a SYN with the same ports (nf_ct_kill and a new connection), handshake and close again",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: tcpPair([...handshake(), ...exchange(), ...finClose("c"),
      { by: "c", flags: "S", seqOff: 100000 }, { by: "s", flags: "SA", seqOff: 50000 }, { by: "c", flags: "A" }, ...exchange(), ...finClose("s")], { port: 40121, seed: 26 }),
  });
  out.push({
    name: "tcp: reopen after RST (CLOSE) and SYN in LAST_ACK",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: [
      ...tcpPair([...handshake(), { by: "c", flags: "R" }, { by: "c", flags: "S", seqOff: 10 }, { by: "s", flags: "SA", seqOff: 20 }, { by: "c", flags: "A" }, ...exchange()],
        { port: 40131, seed: 27 }),
      ...tcpPair([...handshake(), { by: "c", flags: "FA" }, { by: "s", flags: "FA" }, { by: "c", flags: "S", seqOff: 7777 }, { by: "s", flags: "A", ackOff: 0 }],
        { port: 40133, seed: 28, lanHost: 42 }),
    ],
  });
  out.push({
    name: "tcp: window scaling and SACK",
    doc: "a segment beyond the unscaled window but inside the scaled one: valid with window scaling on both SYNs, INVALID when only the client offers it; SACK blocks acknowledging it",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: [
      ...tcpPair([...handshake({ wscaleC: 7, wscaleS: 7, sackok: true, mss: 1460, winS: 1000, winC: 2000 }),
        { by: "s", flags: "A", win: 1000 },
        { by: "c", flags: "PA", data: 100, seqOff: 60000, hold: true, win: 2000 },
        { by: "s", flags: "A", win: 1000, sackOff: 60100 },
        { by: "c", flags: "PA", data: 1000, win: 2000 },
        { by: "s", flags: "PA", data: 1400, win: 1000 },
        { by: "c", flags: "A", win: 2000 },
        ...finClose("c")], { port: 40141, seed: 29 }),
      ...tcpPair([...handshake({ wscaleC: 7, sackok: true, winS: 1000, winC: 2000 }),
        { by: "s", flags: "A", win: 1000 },
        { by: "c", flags: "PA", data: 100, seqOff: 60000, hold: true, win: 2000 },
        { by: "c", flags: "PA", data: 500, win: 2000 },
        { by: "s", flags: "A", win: 1000 },
        { by: "c", flags: "PA", data: 600, win: 2000 },
      ], { port: 40143, seed: 30, lanHost: 43 }),
      // scale 14 (the maximum) on both sides
      ...tcpPair([...handshake({ wscaleC: 14, wscaleS: 14, winS: 4, winC: 4 }), { by: "s", flags: "A", win: 4 },
        { by: "c", flags: "PA", data: 100, seqOff: 50000, hold: true, win: 4 }, { by: "c", flags: "PA", data: 100, win: 4 }], { port: 40145, seed: 31, lanHost: 44 }),
    ],
  });
  for (const ignore of [0, 1]) {
    out.push({
      name: `tcp: RST sequence checks, tcp_ignore_invalid_rst=${ignore}`,
      doc: "an RST below the last ACK (invalid rst unless ignored), an RST inside the window but not at the expected sequence (ESTABLISHED kept for a challenge ACK), an RST right after data (a train), an exact RST",
      ruleset: rules({ nat: MASQ_PODS }),
      sysctl: { "net.netfilter.nf_conntrack_tcp_ignore_invalid_rst": String(ignore) },
      flows: [
        ...tcpPair([...handshake(), ...exchange(), { by: "c", flags: "R", seqOff: -50, hold: true }, { by: "c", flags: "R", seqOff: 10, hold: true }, { by: "s", flags: "A" },
          { by: "c", flags: "PA", data: 30 }, { by: "s", flags: "A" }, { by: "c", flags: "R" }], { port: 40161 + ignore * 10, seed: 33 + ignore }),
        ...tcpPair([...handshake(), ...exchange(), { by: "s", flags: "PA", data: 100 }, { by: "s", flags: "R" }, { by: "c", flags: "A" }],
          { port: 40163 + ignore * 10, seed: 35 + ignore, lanHost: 45 }),
        ...tcpPair([...handshake(), { by: "s", flags: "RA", seqOff: 1, hold: true }, { by: "s", flags: "RA", seqOff: 100000, hold: true }, { by: "c", flags: "A" }, { by: "s", flags: "RA" }],
          { port: 40165 + ignore * 10, seed: 37 + ignore, lanHost: 46 }),
      ],
    });
  }
  out.push({
    name: "tcp: a SYN in ESTABLISHED is ignored, the SYN-ACK brings conntrack back in sync",
    doc: "the client restarts with a new ISN while the entry is ESTABLISHED (TCP_CONNTRACK_IGNORE: accepted, state kept); the server's SYN-ACK for it resyncs the entry (SYN_RECV); an ignored SYN the server answers with an RST",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: [
      ...tcpPair([...handshake(), ...exchange(), { by: "c", flags: "S", seqOff: 2000000 }, { by: "s", flags: "SA", seqOff: 3000000 }, { by: "c", flags: "A" }, ...exchange(), ...finClose("c")],
        { port: 40181, seed: 39 }),
      ...tcpPair([...handshake(), { by: "c", flags: "S", seqOff: 5000000 }, { by: "s", flags: "A", ackOff: -5000001 }, { by: "c", flags: "R", seqOff: -5000001 }, { by: "c", flags: "PA", data: 10, seqOff: -5000001 }],
        { port: 40183, seed: 40, lanHost: 47 }),
    ],
  });
  out.push({
    name: "tcp: retransmissions past nf_conntrack_tcp_max_retrans (timeout_max_retrans=20)",
    doc: "the same unacknowledged segment sent 5 times: after max_retrans the entry's timeout drops to timeout_max_retrans; an ACK restores it",
    ruleset: rules({ nat: MASQ_PODS }),
    sysctl: { "net.netfilter.nf_conntrack_tcp_max_retrans": "3", "net.netfilter.nf_conntrack_tcp_timeout_max_retrans": "20", "net.netfilter.nf_conntrack_tcp_timeout_unacknowledged": "40" },
    flows: tcpPair([...handshake(), { by: "c", flags: "PA", data: 500 }, { by: "c", flags: "PA", rtx: true }, { by: "c", flags: "PA", rtx: true }, { by: "c", flags: "PA", rtx: true },
      { by: "c", flags: "PA", rtx: true }, { by: "s", flags: "A" }, { by: "s", flags: "PA", data: 100 }, { by: "s", flags: "PA", rtx: true }, { by: "c", flags: "A" }], { port: 40191, seed: 41 }),
  });
  out.push({
    name: "tcp: invalid flag combinations",
    doc: "SYN+FIN, SYN+RST, FIN without ACK, no flags, all flags: tcp_error drops them (INVALID, no entry); SYN with ECE+CWR and SYN with data are valid",
    ruleset: rules({ nat: MASQ_PODS, dropInvalid: false }),
    flows: [
      ...(["SF", "SR", "F", "", "FSRPAUEC", "SRA", "FPU"] as const).map((f, i) =>
        tcpConv({ client: LAN(70 + i), dst: "203.0.113.150", sport: 40200 + i, dport: 443, server: { iif: "eth0" }, isnC: 1000 * i, isnS: 0 }, [{ by: "c", flags: f }, { by: "c", flags: "S" }])),
      ...tcpPair([{ by: "c", flags: "SEC" }, { by: "s", flags: "SAE" }, { by: "c", flags: "A" }, { by: "c", flags: "FA", ackOff: 0 }, { by: "s", flags: "F" }, { by: "s", flags: "FA" }], { port: 40211, seed: 42 }),
      // data on the SYN (TCP fast open) and on the SYN-ACK
      ...tcpPair([{ by: "c", flags: "S", data: 100 }, { by: "s", flags: "SA", data: 50 }, { by: "c", flags: "A" }, ...exchange()], { port: 40213, seed: 43, lanHost: 48 }),
    ],
  });
  out.push({
    name: "tcp: SYN with a new ISN in SYN_SENT, SYN-ACK with a new ISN in SYN_RECV",
    doc: "a retransmitted SYN with a higher sequence number re-initialises the sender (tcp_in_window); a SYN-ACK acking the old ISN is then out of window",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: [
      ...tcpPair([{ by: "c", flags: "S" }, { by: "c", flags: "S", seqOff: 100000 }, { by: "s", flags: "SA", ackOff: -100001 }, { by: "s", flags: "SA", rtx: false, seqOff: -1, hold: true }, { by: "c", flags: "A" }, ...exchange()],
        { port: 40221, seed: 44 }),
      ...tcpPair([{ by: "c", flags: "S" }, { by: "s", flags: "SA" }, { by: "s", flags: "SA", seqOff: 100000 }, { by: "c", flags: "A", ackOff: 0 }, ...exchange()],
        { port: 40223, seed: 45, lanHost: 49 }),
    ],
  });
  // a long conversation: the entry walks every state with many packets per state
  const long: TcpAct[] = [...handshake({ sackok: true })];
  for (let i = 0; i < 8; i++) long.push(...exchange(200 + i * 60));
  long.push({ by: "c", flags: "A", hold: true }, { by: "s", flags: "A", hold: true }, ...finClose("s"), { by: "c", flags: "A", rtx: true }, { by: "s", flags: "FA", rtx: true });
  out.push({
    name: "tcp: long conversation (window advancing, duplicate ACKs, retransmitted FIN)",
    ruleset: rules({ nat: MASQ_PODS }),
    flows: tcpPair(long, { port: 40151, seed: 32 }),
  });
  return out;
}

// ---------------------------------------------------------------------------
// UDP and ICMP

function udpScenarios(): CtScenario[] {
  const udp = (client: Peer, sport: number, dst: string, dport: number, acts: Act<DgramAct>[]) =>
    udpConv({ client, dst, sport, dport, server: { iif: "eth0" } }, acts);
  return [
    {
      name: "udp: request/response, [UNREPLIED] to replied to [ASSURED]",
      doc: "a reply clears UNREPLIED; a packet more than 2 s after the first makes the stream ASSURED (udp_packet: stream_ts), timeout 120",
      ruleset: rules({ nat: MASQ_PODS }),
      flows: [
        udp(LAN(50), 5001, "203.0.113.53", 53, [{ by: "c" }, { by: "s" }, { by: "c", delay: 2.4 }, { by: "s" }, { by: "c" }]),
        udp(POD_A, 5002, "203.0.113.53", 53, [{ by: "c" }, { by: "s" }, { by: "c" }, { by: "s" }, { by: "s" }]),
        udp(POD_B, 5003, "198.51.100.9", 123, [{ by: "c" }, { by: "c" }, { by: "c" }, { by: "s" }, { by: "c" }]),
      ],
    },
    {
      name: "udp: one-way flows",
      ruleset: rules({ nat: MASQ_PODS }),
      flows: [
        udp(LAN(51), 5011, "203.0.113.54", 514, [{ by: "c" }, { by: "c" }, { by: "c", delay: 0.5 }]),
        udp(POD_A, 5012, "203.0.113.54", 514, [{ by: "c" }, { by: "c" }, { by: "c" }]),
        // the far end speaks first (a new connection in the other direction, from the internet to a LAN host)
        udpConv({ client: NET(55), dst: "192.168.1.52", sport: 9999, dport: 5013, server: { iif: "eth1" } }, [{ by: "c" }, { by: "c" }]),
      ],
    },
    {
      name: "udp: ICMP port unreachable answering a datagram (RELATED)",
      doc: "from the far end (translated back through MASQUERADE), and the node's own answer for a closed local port",
      ruleset: rules({ nat: MASQ_PODS }),
      flows: [
        udp(LAN(53), 5021, "203.0.113.55", 161, [{ by: "c" }, { err: "s", type: 3, code: 3 }, { by: "c" }]),
        udp(POD_B, 5022, "203.0.113.55", 161, [{ by: "c" }, { err: "s", type: 3, code: 3 }, { by: "c" }, { err: "s", type: 3, code: 1, from: "10.0.0.1" }]),
        udpConv({ client: LAN(54), dst: "192.168.1.1", sport: 5023, dport: 7, server: { iif: "eth1" } }, [{ by: "c" }, { by: "c" }]),
        udpConv({ client: NET(56), dst: NODE, sport: 5024, dport: 9, server: { iif: "eth0" } }, [{ by: "c" }]),
      ],
    },
  ];
}

function icmpScenarios(): CtScenario[] {
  const echo = (client: Peer, dst: string, id: number, acts: Act<DgramAct>[], serverIif = "eth0") =>
    echoConv({ client, dst, id, server: { iif: serverIif } }, acts);
  const r = new Rnd(40);
  return [
    {
      name: "icmp: echo request/reply pairs by id",
      doc: "several ids from one client to one server, interleaved; replies refresh the entry",
      ruleset: rules({ nat: MASQ_PODS }),
      flows: [
        echo(LAN(60), "203.0.113.60", 100, [{ by: "c" }, { by: "s" }, { by: "c" }, { by: "s" }]),
        echo(LAN(60), "203.0.113.60", 101, [{ by: "c" }, { by: "c" }, { by: "s" }, { by: "s" }]),
        echo(LAN(60), "203.0.113.60", 102, [{ by: "c" }, { by: "s" }]),
        echo(POD_A, "203.0.113.60", 100, [{ by: "c" }, { by: "s" }, { by: "c", delay: 0.3 }, { by: "s" }]),
        echo(POD_B, "198.51.100.61", r.int(1, 65535), [{ by: "c" }, { by: "s" }]),
        // to the node itself (its own echo replies)
        echo(LAN(61), "192.168.1.1", 103, [{ by: "c" }, { by: "c" }], "eth1"),
      ],
    },
    {
      name: "icmp: echo without reply, and a reply nobody asked for",
      ruleset: rules({ nat: MASQ_PODS }),
      flows: [
        echo(LAN(62), "203.0.113.62", 200, [{ by: "c" }, { by: "c" }, { by: "c", delay: 0.5 }]),
        echo(POD_A, "203.0.113.62", 201, [{ by: "c" }, { by: "c" }]),
        // an echo reply as a first packet (INVALID: icmp_new accepts requests only)
        echoConv({ client: NET(63), dst: "192.168.1.63", id: 202, server: { iif: "eth1" } }, [{ by: "s" }, { by: "s" }]),
      ],
    },
    {
      name: "icmp: errors RELATED to TCP, UDP and ICMP flows",
      doc: "time exceeded and fragmentation needed from a router and from the far end, about packets in either direction, through MASQUERADE; TTL 1 packets the node answers itself",
      ruleset: rules({ nat: MASQ_PODS }),
      flows: [
        ...tcpPair([{ by: "c", flags: "S" }, { err: "s", type: 11, code: 0, from: "10.0.0.1" }, { by: "c", flags: "S", rtx: true }, { by: "s", flags: "SA" }, { by: "c", flags: "A" },
          { by: "c", flags: "PA", data: 1400 }, { err: "s", type: 3, code: 4, from: "10.0.0.1" }, { by: "s", flags: "PA", data: 100 }, { err: "c", type: 3, code: 1 },
          { by: "c", flags: "PA", data: 10, ttl: 1 }], { port: 40201, seed: 41 }),
        udpConv({ client: POD_B, dst: "203.0.113.65", sport: 5031, dport: 33434, server: { iif: "eth0" } }, [{ by: "c", ttl: 1 }, { by: "c" }, { err: "s", type: 11, code: 0, from: "198.51.100.1" }, { by: "s" }, { err: "c", type: 3, code: 3 }]),
        echoConv({ client: POD_A, dst: "203.0.113.66", id: 300, server: { iif: "eth0" } }, [{ by: "c" }, { err: "s", type: 11, code: 0, from: "10.0.0.1" }, { by: "c", ttl: 1 }, { by: "s" }]),
        echoConv({ client: LAN(67), dst: "203.0.113.67", id: 301, server: { iif: "eth0" } }, [{ by: "c" }, { err: "s", type: 3, code: 13 }]),
        // an error quoting a flow nobody tracks (INVALID), and a redirect quoting a tracked one
        fixed([{ pkt: { iif: "eth0", src: "203.0.113.68", dst: "192.168.1.68", proto: "icmp", icmpType: 3, icmpCode: 3, inner: { src: "192.168.1.68", dst: "203.0.113.68", proto: "udp", sport: 5032, dport: 53, id: 4242 } } }]),
        udpConv({ client: LAN(69), dst: "203.0.113.69", sport: 5033, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { err: "c", type: 3, code: 3 }, { by: "s" }, { err: "c", type: 3, code: 3 }]),
      ],
    },
    {
      name: "icmp: errors to the node about packets no socket sent",
      doc: "errors addressed to the node quoting TCP, UDP and ICMP packets from the node that no socket sent (conntrack: INVALID, error counter); the transport's error " +
        "handler finds no socket (tcp_v4_err, __udp4_lib_err count IcmpInErrors; ping_err does not)",
      ruleset: rules({}),
      flows: [
        fixed([
          { pkt: { iif: "eth0", src: "10.0.0.1", dst: "10.0.0.2", proto: "icmp", icmpType: 11, icmpCode: 0, inner: { src: "10.0.0.2", dst: "203.0.113.68", proto: "tcp", sport: 5033, dport: 443, id: 4243 } } },
          { pkt: { iif: "eth0", src: "10.0.0.1", dst: "10.0.0.2", proto: "icmp", icmpType: 3, icmpCode: 4, icmpRest: 1400, inner: { src: "10.0.0.2", dst: "203.0.113.68", proto: "tcp", sport: 5034, dport: 443, id: 4244 } } },
        ]),
        fixed([
          { pkt: { iif: "eth0", src: "203.0.113.68", dst: "10.0.0.2", proto: "icmp", icmpType: 3, icmpCode: 3, inner: { src: "10.0.0.2", dst: "203.0.113.68", proto: "udp", sport: 5035, dport: 53, id: 4245 } } },
          { pkt: { iif: "eth1", src: "192.168.1.254", dst: "192.168.1.1", proto: "icmp", icmpType: 3, icmpCode: 1, inner: { src: "192.168.1.1", dst: "203.0.113.68", proto: "icmp", icmpType: 8, icmpId: 77, icmpSeq: 1, id: 4246 } } },
        ]),
      ],
    },
    {
      name: "icmp: timestamp and address-mask queries",
      doc: "other query types tracked by id (13/14, 17/18), through MASQUERADE; an unanswered one; a reply type as a first packet",
      ruleset: rules({ nat: MASQ_PODS }),
      flows: [
        echoConv({ client: LAN(64), dst: "203.0.113.64", id: 1200, types: [13, 14], server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }]),
        echoConv({ client: POD_B, dst: "203.0.113.64", id: 1201, types: [13, 14], server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
        echoConv({ client: POD_A, dst: "203.0.113.64", id: 1202, types: [17, 18], server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
        echoConv({ client: NET(65), dst: "192.168.1.65", id: 1203, types: [13, 14], server: { iif: "eth1" } }, [{ by: "s" }]),
      ],
    },
  ];
}

// ---------------------------------------------------------------------------
// NAT

function natScenarios(): CtScenario[] {
  const out: CtScenario[] = [];
  const tcpScript = [...handshake(), ...exchange(), ...finClose("c")];
  out.push({
    name: "nat: DNAT to a pod with a port change",
    doc: "node port 80 -> 10.244.0.5:8080 and udp 53 -> 10.244.0.6:5353; the pod's answers are un-DNATed",
    ruleset: rules({
      nat: ["-A PREROUTING -d 10.0.0.2/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.0.5:8080",
        "-A PREROUTING -d 10.0.0.2/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.0.6:5353",
        "-A PREROUTING -d 10.0.0.2/32 -p icmp -j DNAT --to-destination 10.244.0.6"],
    }),
    flows: [
      tcpConv({ client: NET(70), dst: NODE, sport: 40301, dport: 80, server: { iif: "eni0a", ip: "10.244.0.5", port: 8080 }, isnC: 1111, isnS: 2222 }, tcpScript),
      tcpConv({ client: LAN(70), dst: NODE, sport: 40302, dport: 80, server: { iif: "eni0a", ip: "10.244.0.5", port: 8080 }, isnC: 3333, isnS: 4444 }, [...handshake(), { by: "s", flags: "RA" }]),
      udpConv({ client: NET(71), dst: NODE, sport: 40303, dport: 53, server: { iif: "eni0b" } }, [{ by: "c" }, { by: "s" }, { by: "c" }, { err: "s", type: 3, code: 3 }]),
      echoConv({ client: NET(72), dst: NODE, id: 400, server: { iif: "eni0b" } }, [{ by: "c" }, { by: "s" }]),
      // TTL 1: the node's time exceeded quotes the header the client sent (un-DNATed)
      udpConv({ client: NET(73), dst: NODE, sport: 40304, dport: 53, server: { iif: "eni0b" } }, [{ by: "c", ttl: 1 }, { by: "c" }, { by: "c", ttl: 1 }]),
    ],
  });
  out.push({
    name: "nat: SNAT --to-source",
    ruleset: rules({
      nat: ["-A POSTROUTING -s 10.244.0.0/16 -o eth0 -j SNAT --to-source 10.0.0.2",
        "-A POSTROUTING -s 203.0.113.0/24 -o eth1 -j SNAT --to-source 192.168.1.2"],
    }),
    nat: { mode: "keep" },
    flows: [
      tcpConv({ client: POD_A, dst: "203.0.113.80", sport: 40401, dport: 443, server: { iif: "eth0" }, isnC: 10, isnS: 20 }, tcpScript),
      udpConv({ client: POD_B, dst: "203.0.113.80", sport: 40402, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
      echoConv({ client: POD_B, dst: "203.0.113.80", id: 500, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
      tcpConv({ client: NET(81), dst: "192.168.1.81", sport: 40403, dport: 22, server: { iif: "eth1" }, isnC: 30, isnS: 40 }, tcpScript),
    ],
  });
  out.push({
    name: "nat: MASQUERADE",
    doc: "pods and LAN hosts out of eth0 (the address of the output device), TCP/UDP/ICMP; a low source port (kept)",
    ruleset: rules({ nat: ["-A POSTROUTING -o eth0 -j MASQUERADE"] }),
    nat: { mode: "keep" },
    flows: [
      tcpConv({ client: LAN(82), dst: "203.0.113.82", sport: 40501, dport: 443, server: { iif: "eth0" }, isnC: 50, isnS: 60 }, tcpScript),
      tcpConv({ client: POD_A, dst: "203.0.113.82", sport: 700, dport: 443, server: { iif: "eth0" }, isnC: 70, isnS: 80 }, tcpScript),
      udpConv({ client: POD_B, dst: "203.0.113.82", sport: 123, dport: 123, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
      echoConv({ client: LAN(83), dst: "203.0.113.82", id: 600, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
    ],
  });
  out.push({
    name: "nat: SNAT with a port range",
    doc: "--to-source 10.0.0.2:20000-20009: an original port inside the range is kept when free; others get a port in the range (random: compared by property)",
    ruleset: rules({ nat: ["-A POSTROUTING -s 10.244.0.0/16 -o eth0 -p tcp -j SNAT --to-source 10.0.0.2:20000-20009",
      "-A POSTROUTING -s 10.244.0.0/16 -o eth0 -p udp -j SNAT --to-source 10.0.0.2:20000-20009"] }),
    nat: { mode: "keep", range: [20000, 20009] },
    flows: [
      tcpConv({ client: POD_A, dst: "203.0.113.84", sport: 20005, dport: 443, server: { iif: "eth0" }, isnC: 1, isnS: 2 }, tcpScript),
      tcpConv({ client: POD_B, dst: "203.0.113.84", sport: 20005, dport: 443, server: { iif: "eth0" }, isnC: 3, isnS: 4 }, tcpScript),
      tcpConv({ client: POD_A, dst: "203.0.113.85", sport: 40601, dport: 443, server: { iif: "eth0" }, isnC: 5, isnS: 6 }, tcpScript),
      udpConv({ client: POD_B, dst: "203.0.113.85", sport: 40602, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }]),
      // another server than the flow before's: that flow's port is the kernel's random pick in the
      // range, and had it picked 20009 to the same server, this tuple would be taken there and not here
      udpConv({ client: POD_A, dst: "203.0.113.96", sport: 20009, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
    ],
  });
  out.push({
    name: "nat: two clients with the same source port to the same server",
    doc: "the second connection's tuple is taken: it gets another port (random, compared by property); the first client's next connection reuses its mapping (find_appropriate_src); same for ICMP ids",
    ruleset: rules({ nat: ["-A POSTROUTING -o eth0 -j MASQUERADE"] }),
    nat: { mode: "keep" },
    flows: [
      tcpConv({ client: POD_A, dst: "203.0.113.86", sport: 40701, dport: 443, server: { iif: "eth0" }, isnC: 7, isnS: 8 }, tcpScript),
      tcpConv({ client: POD_B, dst: "203.0.113.86", sport: 40701, dport: 443, server: { iif: "eth0" }, isnC: 9, isnS: 10 }, tcpScript),
      tcpConv({ client: LAN(86), dst: "203.0.113.86", sport: 40701, dport: 443, server: { iif: "eth0" }, isnC: 11, isnS: 12 }, [{ by: "c", flags: "S" }, { by: "s", flags: "SA" }, { by: "c", flags: "A" }]),
      udpConv({ client: POD_A, dst: "203.0.113.87", sport: 40702, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
      udpConv({ client: POD_B, dst: "203.0.113.87", sport: 40702, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }]),
      echoConv({ client: POD_A, dst: "203.0.113.88", id: 700, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
      echoConv({ client: POD_B, dst: "203.0.113.88", id: 700, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }, { by: "s" }]),
    ],
  });
  out.push({
    name: "nat: the first client's mapping is reused for its next connection",
    ruleset: rules({ nat: ["-A POSTROUTING -o eth0 -j MASQUERADE"] }),
    nat: { mode: "keep" },
    flows: [
      // a LAN host takes 40801 first; the pod's 40801 to the same server then moves; the pod's later connection to another server keeps the moved port
      tcpConv({ client: LAN(89), dst: "203.0.113.89", sport: 40801, dport: 443, server: { iif: "eth0" }, isnC: 13, isnS: 14 }, [...handshake(), ...exchange()]),
      tcpConv({ client: POD_A, dst: "203.0.113.89", sport: 40801, dport: 443, server: { iif: "eth0" }, isnC: 15, isnS: 16 }, [...idle(1), ...handshake(), ...exchange()]),
      tcpConv({ client: POD_A, dst: "203.0.113.90", sport: 40801, dport: 443, server: { iif: "eth0" }, isnC: 17, isnS: 18 }, [...idle(2), ...handshake()]),
      udpConv({ client: POD_B, dst: "203.0.113.89", sport: 40802, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
      udpConv({ client: POD_A, dst: "203.0.113.89", sport: 40802, dport: 53, server: { iif: "eth0" } }, [...idle(1), { by: "c" }, { by: "s" }]),
      udpConv({ client: POD_A, dst: "203.0.113.90", sport: 40802, dport: 53, server: { iif: "eth0" } }, [...idle(2), { by: "c" }, { by: "s" }]),
    ],
  });
  for (const [flag, name] of [["--random", "--random"], ["--random-fully", "--random-fully"]] as const) {
    out.push({
      name: `nat: MASQUERADE ${name}`,
      doc: "every source port is random (compared by property: in 1024-65535, unique); replies are un-NATed to the client",
      ruleset: rules({ nat: [`-A POSTROUTING -o eth0 -j MASQUERADE ${flag}`] }),
      nat: { mode: "random" },
      flows: [
        tcpConv({ client: POD_A, dst: "203.0.113.91", sport: 40901, dport: 443, server: { iif: "eth0" }, isnC: 19, isnS: 20 }, tcpScript),
        tcpConv({ client: POD_B, dst: "203.0.113.91", sport: 40901, dport: 443, server: { iif: "eth0" }, isnC: 21, isnS: 22 }, tcpScript),
        udpConv({ client: LAN(91), dst: "203.0.113.91", sport: 40902, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }, { err: "s", type: 3, code: 3 }]),
        echoConv({ client: LAN(92), dst: "203.0.113.91", id: 800, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
      ],
    });
  }
  out.push({
    name: "nat: SNAT --random-fully with a port range",
    ruleset: rules({ nat: ["-A POSTROUTING -s 10.244.0.0/16 -o eth0 -p tcp -j SNAT --to-source 10.0.0.2:30000-30099 --random-fully"] }),
    nat: { mode: "random", range: [30000, 30099] },
    flows: [
      tcpConv({ client: POD_A, dst: "203.0.113.93", sport: 30050, dport: 443, server: { iif: "eth0" }, isnC: 23, isnS: 24 }, tcpScript),
      tcpConv({ client: POD_B, dst: "203.0.113.93", sport: 41001, dport: 443, server: { iif: "eth0" }, isnC: 25, isnS: 26 }, tcpScript),
    ],
  });
  out.push({
    name: "nat: SNAT range of two ports exhausted, TIME_WAIT eviction",
    doc: "--to-source 10.0.0.2:20000-20001: two connections take both ports; a third one clashes at confirmation (insert_failed, dropped); after the first closes to TIME_WAIT, a new SYN with a higher sequence number evicts it and takes its port (nf_nat_used_tuple_harder)",
    ruleset: rules({ nat: ["-A POSTROUTING -s 10.244.0.0/16 -o eth0 -p tcp -j SNAT --to-source 10.0.0.2:20000-20001"] }),
    nat: { mode: "keep", range: [20000, 20001] },
    flows: [
      tcpConv({ client: POD_A, dst: "203.0.113.98", sport: 42301, dport: 443, server: { iif: "eth0" }, isnC: 1000, isnS: 2000 }, [...handshake(), ...exchange(), ...finClose("c")]),
      tcpConv({ client: POD_B, dst: "203.0.113.98", sport: 42302, dport: 443, server: { iif: "eth0" }, isnC: 3000, isnS: 4000 }, [...handshake(), ...exchange()]),
      tcpConv({ client: POD_A, dst: "203.0.113.98", sport: 42303, dport: 443, server: { iif: "eth0" }, isnC: 5000, isnS: 6000 }, [...idle(3), { by: "c", flags: "S" }, { by: "c", flags: "S", rtx: true }]),
      tcpConv({ client: POD_B, dst: "203.0.113.98", sport: 42304, dport: 443, server: { iif: "eth0" }, isnC: 900000, isnS: 8000 }, [...idle(11), ...handshake(), ...exchange()]),
    ],
  });
  out.push({
    name: "nat: REDIRECT to the node",
    doc: "TCP and UDP redirected to local ports nothing listens on: the node's reset and port unreachable leave from the address the client used",
    ruleset: rules({ nat: ["-A PREROUTING -i eth1 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080",
      "-A PREROUTING -i eth1 -p udp -m udp --dport 53 -j REDIRECT --to-ports 5353",
      "-A PREROUTING -i eth0 -p tcp -m tcp --dport 8443 -j REDIRECT"] }),
    flows: [
      tcpConv({ client: LAN(94), dst: "203.0.113.94", sport: 41101, dport: 80, server: { iif: "eth0" }, isnC: 27, isnS: 28 }, [{ by: "c", flags: "S" }, { by: "c", flags: "S", rtx: true }]),
      udpConv({ client: LAN(95), dst: "203.0.113.95", sport: 41102, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "c" }]),
      tcpConv({ client: NET(96), dst: NODE, sport: 41103, dport: 8443, server: { iif: "eth0" }, isnC: 29, isnS: 30 }, [{ by: "c", flags: "S" }, { by: "c", flags: "A", ackOff: 1 }]),
    ],
  });
  out.push({
    name: "nat: SNAT and DNAT to address ranges",
    doc: "--to-source 10.0.0.20-10.0.0.23 and --to-destination 10.244.0.5-10.244.0.6: the address is chosen by find_best_ips_proto's jhash (deterministic)",
    ruleset: rules({
      nat: ["-A PREROUTING -d 10.0.0.2/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.244.0.5-10.244.0.6",
        "-A POSTROUTING -s 192.168.1.16/30 -o eth0 -j SNAT --to-source 10.0.0.30-10.0.0.33 --persistent",
        "-A POSTROUTING -s 192.168.1.0/24 -o eth0 -j SNAT --to-source 10.0.0.20-10.0.0.23"],
    }),
    nat: { mode: "keep" },
    flows: [
      ...[10, 11, 12, 13, 14, 15, 16, 17, 18, 19].map((h, i) => udpConv({ client: LAN(h), dst: `203.0.113.${100 + i}`, sport: 41200 + i, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }])),
      ...[1, 2, 3, 4, 5, 6].map((h, i) => tcpConv({ client: NET(h), dst: NODE, sport: 41300 + i, dport: 8080, server: { iif: "eni0a", ip: "10.244.0.5" }, isnC: 100 + i, isnS: 200 + i },
        [{ by: "c", flags: "S" }, { by: "s", flags: "SA" }, { by: "c", flags: "A" }])),
    ],
  });
  out.push({
    name: "nat: hairpin (DNAT to a pod, MASQUERADE back into the pod network)",
    ruleset: rules({
      nat: ["-A PREROUTING -d 10.0.0.2/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.0.6:8080",
        "-A POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -m conntrack --ctstate DNAT -j MASQUERADE"],
    }),
    nat: { mode: "keep" },
    flows: [
      tcpConv({ client: POD_A, dst: NODE, sport: 41401, dport: 80, server: { iif: "eni0b", ip: "10.244.0.6", port: 8080 }, isnC: 31, isnS: 32 }, tcpScript),
      tcpConv({ client: POD_B, dst: NODE, sport: 41402, dport: 80, server: { iif: "eni0b", ip: "10.244.0.6", port: 8080 }, isnC: 33, isnS: 34 }, [{ by: "c", flags: "S" }, { by: "s", flags: "SA" }, { by: "c", flags: "A" }]),
    ],
  });
  out.push({
    name: "nat: DNAT in OUTPUT for the node's own sockets",
    ruleset: rules({
      nat: ["-A OUTPUT -d 10.96.0.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.0.6:5353",
        "-A POSTROUTING -s 10.0.0.2/32 -o eth0 -p udp -j SNAT --to-source 10.0.0.2"],
      filter: ["-A OUTPUT -p udp -m conntrack --ctstate DNAT --ctorigdst 10.96.0.10"],
    }),
    flows: [
      localUdpConv({ dst: "10.96.0.10", dport: 53 }),
      localUdpConv({ dst: "203.0.113.97", dport: 53 }),
      localUdpConv({ dst: "10.96.0.10", dport: 53, delay: 0.1 }),
    ],
  });
  return out;
}

// ---------------------------------------------------------------------------
// untracked traffic and other protocols

/** Packets with bad or missing transport checksums, forwarded and to the node (`k` varies the ports between scenarios). */
function checksumFlows(k: number): CtFlow[] {
  const r = new Rnd(70 + k);
  const p = 44000 + k * 100;
  return [
    // a bad SYN (INVALID), then a good one, the handshake, and a bad data segment in ESTABLISHED
    tcpConv({ client: LAN(95), dst: "203.0.113.170", sport: p + 1, dport: 443, server: { iif: "eth0" }, isnC: r.u32(), isnS: r.u32() },
      [{ by: "c", flags: "S", csum: "bad" }, { by: "c", flags: "S", rtx: true }, { by: "s", flags: "SA" }, { by: "c", flags: "A" }, { by: "c", flags: "PA", data: 100, csum: "bad", hold: true },
        { by: "c", flags: "PA", data: 100 }, { by: "s", flags: "A" }]),
    fixed([
      { pkt: { iif: "eni0a", src: "10.244.0.5", dst: "203.0.113.170", proto: "tcp", sport: p + 2, dport: 443, flags: "S", seq: 1, csum: "bad" } },
      { pkt: { iif: "eni0a", src: "10.244.0.5", dst: "203.0.113.170", proto: "udp", sport: p + 3, dport: 53, len: 48, csum: "bad" } },
      { pkt: { iif: "eni0a", src: "10.244.0.5", dst: "203.0.113.170", proto: "udp", sport: p + 4, dport: 53, len: 48, csum: "none" } },
      { pkt: { iif: "eni0a", src: "10.244.0.5", dst: "203.0.113.170", proto: "icmp", icmpType: 8, icmpId: 1400 + k, icmpSeq: 1, len: 44, csum: "bad" } },
      { pkt: { iif: "eth0", src: "10.0.0.1", dst: "10.244.0.5", proto: "icmp", icmpType: 3, icmpCode: 3, csum: "bad",
        inner: { src: "10.244.0.5", dst: "203.0.113.170", proto: "udp", sport: p + 4, dport: 53 } } },
    ]),
    // to the node itself: closed ports, an echo request
    fixed([
      { pkt: { iif: "eth1", src: "192.168.1.96", dst: "192.168.1.1", proto: "tcp", sport: p + 5, dport: 81, flags: "S", seq: 5, csum: "bad" } },
      { pkt: { iif: "eth1", src: "192.168.1.96", dst: "192.168.1.1", proto: "udp", sport: p + 6, dport: 7, len: 40, csum: "bad" } },
      { pkt: { iif: "eth1", src: "192.168.1.96", dst: "192.168.1.1", proto: "udp", sport: p + 7, dport: 7, len: 40, csum: "none" } },
      { pkt: { iif: "eth1", src: "192.168.1.96", dst: "192.168.1.1", proto: "icmp", icmpType: 8, icmpId: 1500 + k, icmpSeq: 1, csum: "bad" } },
    ]),
  ];
}

function otherScenarios(): CtScenario[] {
  return [
    {
      name: "notrack: raw NOTRACK and CT --notrack (UNTRACKED, no entry, no NAT)",
      ruleset: rules({
        raw: ["-A PREROUTING -p udp -m udp --dport 514 -j NOTRACK", "-A PREROUTING -s 192.168.1.80/32 -j CT --notrack"],
        nat: ["-A POSTROUTING -o eth0 -j MASQUERADE"],
      }),
      flows: [
        udpConv({ client: LAN(81), dst: "203.0.113.160", sport: 5101, dport: 514, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }]),
        tcpConv({ client: LAN(80), dst: "203.0.113.160", sport: 5102, dport: 443, server: { iif: "eth0" }, isnC: 1, isnS: 2 }, [...handshake(), { by: "c", flags: "FA" }]),
        udpConv({ client: LAN(82), dst: "203.0.113.160", sport: 5103, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
        echoConv({ client: LAN(80), dst: "203.0.113.160", id: 1300, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }]),
      ],
    },
    {
      name: "generic: other IP protocols (nf_conntrack_generic_timeout=3)",
      doc: "protocols without their own tracker (253, 41): tracked by addresses only, NATed by address, expiring after the generic timeout (the names conntrack -L prints for them: next scenario)",
      ruleset: rules({ nat: MASQ_PODS }),
      protoNames: false,
      sysctl: { "net.netfilter.nf_conntrack_generic_timeout": "3" },
      flows: [
        rawConv({ client: LAN(83), dst: "203.0.113.161", proto: 253, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c", delay: 1 }, { by: "s", delay: 3.5 }, { by: "c" }]),
        rawConv({ client: POD_A, dst: "203.0.113.161", proto: 253, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }, { by: "c" }, { by: "s" }]),
        rawConv({ client: POD_B, dst: "203.0.113.162", proto: 41, server: { iif: "eth0" } }, [{ by: "c" }, { err: "s", type: 3, code: 2 }, { by: "s" }]),
      ],
    },
    {
      name: "other trackers: gre",
      doc: "GRE version 0 (no keys): nf_conntrack_proto_gre's timeouts (30 s, 180 s once both directions were seen, then ASSURED) and srckey/dstkey in conntrack -L",
      ruleset: rules({ nat: MASQ_PODS }),
      flows: [
        rawConv({ client: LAN(87), dst: "203.0.113.164", proto: 47, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }, { by: "s" }]),
        rawConv({ client: POD_A, dst: "203.0.113.164", proto: 47, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }]),
        rawConv({ client: LAN(88), dst: "203.0.113.165", proto: 47, server: { iif: "eth0" } }, [{ by: "c" }, { by: "c" }]),
      ],
    },
    {
      name: "other trackers: udp-lite",
      doc: "UDP-Lite tracked like UDP (30 s; 120 s and ASSURED from the first packet after a reply, without the 2 s rule), through MASQUERADE; a partial checksum coverage; " +
        "INVALID: a null checksum, a coverage beyond the datagram, a truncated header. nf_conntrack_checksum=0 on both sides: the kernel checks UDP-Lite against a UDP " +
        "pseudo-header (udplite_error passes IPPROTO_UDP to nf_checksum_partial), which RFC 3828 senders do not use",
      ruleset: rules({ nat: MASQ_PODS, dropInvalid: false }),
      sysctl: { "net.netfilter.nf_conntrack_checksum": "0" },
      flows: [
        rawConv({ client: LAN(90), dst: "203.0.113.166", proto: 136, sport: 5201, dport: 5202, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }, { by: "s" }]),
        rawConv({ client: POD_A, dst: "203.0.113.166", proto: 136, sport: 5203, dport: 5204, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }]),
        fixed([
          { pkt: { iif: "eth1", src: "192.168.1.93", dst: "203.0.113.166", proto: 136, sport: 5207, dport: 5208, len: 60, cscov: 16 } },
          { pkt: { iif: "eth1", src: "192.168.1.93", dst: "203.0.113.166", proto: 136, sport: 5209, dport: 5210, len: 60, csum: "none" } },
          { pkt: { iif: "eth1", src: "192.168.1.93", dst: "203.0.113.166", proto: 136, sport: 5211, dport: 5212, len: 60, cscov: 100 } },
          { pkt: { iif: "eth1", src: "192.168.1.93", dst: "203.0.113.166", proto: 136, len: 24 } },
        ]),
      ],
    },
    {
      name: "other trackers: sctp",
      doc: "an SCTP association (INIT, INIT ACK, COOKIE ECHO, COOKIE ACK: CLOSED, COOKIE_WAIT, COOKIE_ECHOED, ESTABLISHED [ASSURED], each state with its timeout) and SCTP without a chunk (INVALID)",
      ruleset: rules({ nat: MASQ_PODS, dropInvalid: false }),
      flows: [
        rawConv({ client: LAN(91), dst: "203.0.113.166", proto: 132, sport: 5205, dport: 5206, server: { iif: "eth0" } }, [
          { by: "c", sctp: { chunk: 1, tag: 0x1111 } }, { by: "s", sctp: { chunk: 2, tag: 0x2222, vtag: 0x1111 } },
          { by: "c", sctp: { chunk: 10, vtag: 0x2222 } }, { by: "s", sctp: { chunk: 11, vtag: 0x1111 } }]),
        rawConv({ client: LAN(92), dst: "203.0.113.166", proto: 132, server: { iif: "eth0" } }, [{ by: "c" }]),
      ],
    },
    {
      name: "other trackers: sctp teardown, tags and out-of-the-blue chunks",
      doc: "SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE (SHUTDOWN_SENT, SHUTDOWN_ACK_SENT, CLOSED); DATA with a wrong verification tag (INVALID); " +
        "ABORT with the T flag and the peer's tag; an association from a pod through MASQUERADE; HEARTBEAT starting an entry (HEARTBEAT_SENT) " +
        "and its ACK (ESTABLISHED); DATA, COOKIE ACK and INIT with a tag as first packets (INVALID)",
      ruleset: rules({ nat: MASQ_PODS, dropInvalid: false }),
      flows: [
        rawConv({ client: LAN(93), dst: "203.0.113.166", proto: 132, sport: 5213, dport: 5214, server: { iif: "eth0" } }, [
          { by: "c", sctp: { chunk: 1, tag: 0x3333 } }, { by: "s", sctp: { chunk: 2, tag: 0x4444, vtag: 0x3333 } },
          { by: "c", sctp: { chunk: 10, vtag: 0x4444 } }, { by: "s", sctp: { chunk: 11, vtag: 0x3333 } },
          { by: "c", sctp: { chunk: 0, vtag: 0x4444 } }, { by: "c", sctp: { chunk: 0, vtag: 0x9999 } },
          { by: "s", sctp: { chunk: 3, vtag: 0x3333 } },
          { by: "c", sctp: { chunk: 7, vtag: 0x4444 } }, { by: "s", sctp: { chunk: 8, vtag: 0x3333 } },
          { by: "c", sctp: { chunk: 14, vtag: 0x4444 } }]),
        rawConv({ client: LAN(94), dst: "203.0.113.166", proto: 132, sport: 5215, dport: 5216, server: { iif: "eth0" } }, [
          { by: "c", sctp: { chunk: 1, tag: 0x5555 } }, { by: "s", sctp: { chunk: 2, tag: 0x6666, vtag: 0x5555 } },
          { by: "c", sctp: { chunk: 10, vtag: 0x6666 } }, { by: "s", sctp: { chunk: 11, vtag: 0x5555 } },
          { by: "s", sctp: { chunk: 6, vtag: 0x1234, flags: 1 } }, { by: "s", sctp: { chunk: 6, vtag: 0x6666, flags: 1 } }]),
        rawConv({ client: POD_A, dst: "203.0.113.166", proto: 132, sport: 5219, dport: 5220, server: { iif: "eth0" } }, [
          { by: "c", sctp: { chunk: 1, tag: 0x7171 } }, { by: "s", sctp: { chunk: 2, tag: 0x7272, vtag: 0x7171 } },
          { by: "c", sctp: { chunk: 10, vtag: 0x7272 } }, { by: "s", sctp: { chunk: 11, vtag: 0x7171 } },
          { by: "c", sctp: { chunk: 0, vtag: 0x7272 } }]),
        rawConv({ client: LAN(95), dst: "203.0.113.166", proto: 132, sport: 5217, dport: 5218, server: { iif: "eth0" } }, [
          { by: "c", sctp: { chunk: 4, vtag: 0x7777 } }, { by: "s", sctp: { chunk: 5, vtag: 0x8888 } }, { by: "c", sctp: { chunk: 0, vtag: 0x7777 } }]),
        rawConv({ client: LAN(96), dst: "203.0.113.166", proto: 132, sport: 5221, dport: 5222, server: { iif: "eth0" } }, [
          { by: "c", sctp: { chunk: 0, vtag: 0x1 } }, { by: "c", sctp: { chunk: 11, vtag: 0x1 } }, { by: "c", sctp: { chunk: 1, tag: 0x2, vtag: 0x3 } }]),
      ],
    },
    {
      name: "checksum: bad and missing transport checksums, nf_conntrack_checksum=1",
      doc: "a bad TCP, UDP or ICMP checksum makes a packet arriving on a link INVALID (no entry, not NATed, an established entry untouched) and is dropped on local delivery " +
        "(TcpInCsumErrors, UdpInCsumErrors, IcmpInCsumErrors, no reset or port unreachable); a UDP checksum of 0 means none",
      ruleset: rules({ nat: MASQ_PODS, dropInvalid: false }),
      flows: checksumFlows(0),
    },
    {
      name: "checksum: bad transport checksums, nf_conntrack_checksum=0",
      doc: "conntrack takes packets with bad checksums as they come (NEW entries, NAT); local delivery still drops them",
      ruleset: rules({ nat: MASQ_PODS, dropInvalid: false }),
      sysctl: { "net.netfilter.nf_conntrack_checksum": "0" },
      flows: checksumFlows(1),
    },
    {
      name: "conntrack -L: protocol names",
      doc: "conntrack-tools names tcp, udp, udplite, icmp, icmpv6, sctp, gre and dccp (and prints ports for dccp even though 6.18 tracks it generically), and prints \"unknown\" for every other protocol",
      ruleset: rules({}),
      flows: [
        rawConv({ client: LAN(84), dst: "203.0.113.163", proto: 253, server: { iif: "eth0" } }, [{ by: "c" }]),
        rawConv({ client: LAN(85), dst: "203.0.113.163", proto: 41, server: { iif: "eth0" } }, [{ by: "c" }]),
        udpConv({ client: LAN(86), dst: "203.0.113.163", sport: 5104, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }]),
        rawConv({ client: LAN(87), dst: "203.0.113.163", proto: 33, server: { iif: "eth0" } }, [{ by: "c" }]),
      ],
    },
  ];
}

// ---------------------------------------------------------------------------
// timeouts

function timeoutScenarios(): CtScenario[] {
  return [
    {
      name: "timeout: udp (nf_conntrack_udp_timeout=3, _stream=6)",
      doc: "an unreplied entry expires after 3 s and the next datagram makes a NEW one; a replied one is refreshed to 3 s; remaining timeouts compared after each round",
      ruleset: rules({ nat: MASQ_PODS }),
      sysctl: { "net.netfilter.nf_conntrack_udp_timeout": "3", "net.netfilter.nf_conntrack_udp_timeout_stream": "6" },
      flows: [
        udpConv({ client: LAN(20), dst: "203.0.113.120", sport: 6001, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "c", delay: 1.5 }, { by: "c", delay: 3.6 }, { by: "s" }]),
        udpConv({ client: POD_A, dst: "203.0.113.120", sport: 6002, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }, { by: "s" }]),
        // a reply after the entry expired: a new connection in the other direction
        udpConv({ client: POD_B, dst: "203.0.113.121", sport: 6003, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "c" }, { by: "s" }, { by: "c" }]),
      ],
    },
    {
      name: "timeout: tcp (syn_sent=2, close_wait=3, time_wait=2, close=2)",
      doc: "a SYN_SENT entry expires before the SYN-ACK (which is then INVALID); CLOSE_WAIT, TIME_WAIT and CLOSE expire, and the next packet starts over (picked up mid-stream, or a new SYN)",
      ruleset: rules({ nat: MASQ_PODS }),
      sysctl: {
        "net.netfilter.nf_conntrack_tcp_timeout_syn_sent": "2", "net.netfilter.nf_conntrack_tcp_timeout_close_wait": "3",
        "net.netfilter.nf_conntrack_tcp_timeout_time_wait": "2", "net.netfilter.nf_conntrack_tcp_timeout_close": "2",
      },
      flows: [
        // rounds 0-10: the SYN_SENT entry expires before the SYN-ACK; CLOSE_WAIT expires before the client's next segment
        ...tcpPair([{ by: "c", flags: "S" }, { by: "s", flags: "SA", delay: 2.6 }, { by: "c", flags: "A" }, ...exchange(),
          { by: "s", flags: "FA" }, { by: "c", flags: "A" }, { by: "c", flags: "PA", data: 10, delay: 3.5 }, { by: "s", flags: "A" }], { port: 41501, seed: 50 }),
        // TIME_WAIT at round 6 expires before the SYN of round 9; CLOSE at round 12 expires before the SYN of round 13
        tcpConv({ client: LAN(21), dst: "203.0.113.122", sport: 41503, dport: 443, server: { iif: "eth0" }, isnC: 35, isnS: 36 },
          [...handshake(), ...finClose("c"), ...idle(2), { by: "c", flags: "S", seqOff: 1000 }, { by: "s", flags: "SA", seqOff: 1000 }, { by: "c", flags: "A" },
            { by: "c", flags: "R" }, { by: "c", flags: "S", seqOff: 5, delay: 2.5 }, { by: "s", flags: "SA" }]),
      ],
    },
    {
      name: "timeout: icmp (nf_conntrack_icmp_timeout=2)",
      doc: "an echo entry expires; the late reply is INVALID; the next request is NEW",
      ruleset: rules({ nat: MASQ_PODS }),
      sysctl: { "net.netfilter.nf_conntrack_icmp_timeout": "2" },
      flows: [
        echoConv({ client: LAN(22), dst: "203.0.113.123", id: 900, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s", delay: 1.2 }, { by: "s", delay: 2.5 }, { by: "c" }, { by: "s" }]),
        echoConv({ client: POD_A, dst: "203.0.113.123", id: 901, server: { iif: "eth0" } }, [{ by: "c" }, { by: "c" }, { by: "c" }, { by: "s" }]),
      ],
    },
  ];
}

// ---------------------------------------------------------------------------
// table full

function tableFullScenarios(): CtScenario[] {
  const r = new Rnd(60);
  const established = (i: number) => tcpConv({ client: LAN(10 + i), dst: "203.0.113.130", sport: 42000 + i, dport: 443, server: { iif: "eth0" }, isnC: r.u32(), isnS: r.u32() },
    [...handshake(), { by: "c", flags: "PA", data: 10, delay: 0 }, { by: "s", flags: "A" }, { by: "c", flags: "PA", data: 10 }, { by: "s", flags: "A" }, ...(i < 3 ? [{ by: "c" as const, flags: "R" }] : [{ by: "c" as const, flags: "A" }])]);
  // new connections once the table is full of assured entries (round 3 on)
  const late = (i: number) => tcpConv({ client: LAN(40 + i), dst: "203.0.113.131", sport: 42100 + i, dport: 443, server: { iif: "eth0" }, isnC: r.u32(), isnS: r.u32() },
    [...idle(3), { by: "c", flags: "S" }, { by: "c", flags: "S", rtx: true }, { by: "s", flags: "SA" }, { by: "c", flags: "A" }, { by: "c", flags: "S", rtx: true }]);
  return [
    {
      name: "table full: early drop of unassured entries (nf_conntrack_max=1000, 512 buckets)",
      doc: "4 assured connections and 996 unreplied UDP flows fill the table (about 16 entries per 8 buckets); each new connection then evicts the unassured entries " +
        "of the first non-empty bucket early_drop scans and gets through (a window of 8 buckets without an entry has odds of about 2e-7). Which entries go depends on " +
        "the kernel's random hash seed: assured entries are compared exactly, unassured ones by count, early_drop by whether it happened; the evicted flows send nothing more",
      ruleset: rules({ nat: MASQ_PODS }),
      ctMax: 1000,
      ctBuckets: 512,
      earlyDrop: true,
      flows: [
        ...Array.from({ length: 4 }, (_, i) => tcpConv({ client: LAN(10 + i), dst: "203.0.113.135", sport: 42400 + i, dport: 443, server: { iif: "eth0" }, isnC: r.u32(), isnS: r.u32() },
          [...handshake(), ...idle(2), ...exchange(), { by: "c", flags: "R" }])),
        ...Array.from({ length: 996 }, (_, i) => udpConv({ client: LAN(20 + (i % 60)), dst: `198.51.100.${1 + Math.floor(i / 60)}`, sport: 43000 + i, dport: 53, server: { iif: "eth0" } }, [...idle(3), { by: "c" }])),
        ...Array.from({ length: 6 }, (_, i) => udpConv({ client: POD_B, dst: "203.0.113.137", sport: 42600 + i, dport: 53, server: { iif: "eth0" } }, [...idle(4), { by: "c" }])),
        ...Array.from({ length: 4 }, (_, i) => tcpConv({ client: POD_A, dst: "203.0.113.138", sport: 42700 + i, dport: 443, server: { iif: "eth0" }, isnC: r.u32(), isnS: r.u32() }, [...idle(5), { by: "c", flags: "S" }])),
      ],
    },
    {
      name: "table full: nf_conntrack_max=16, every entry assured",
      doc: "16 assured connections fill the table; new connections are dropped (drop counter; early_drop finds nothing to evict); established traffic still flows; RST leaves CLOSE entries that still count",
      ruleset: rules({ nat: MASQ_PODS }),
      ctMax: 16,
      flows: [...Array.from({ length: 16 }, (_, i) => established(i)), ...Array.from({ length: 3 }, (_, i) => late(i)),
        udpConv({ client: POD_A, dst: "203.0.113.132", sport: 42200, dport: 53, server: { iif: "eth0" } }, [...idle(3), { by: "c" }, { by: "c" }, { by: "s" }, { by: "c" }]),
        echoConv({ client: POD_B, dst: "203.0.113.133", id: 1100, server: { iif: "eth0" } }, [...idle(4), { by: "c" }, { by: "s" }])],
    },
  ];
}

// ---------------------------------------------------------------------------
// CONNMARK and conntrack matches

function connmarkScenarios(): CtScenario[] {
  return [
    {
      name: "connmark: save/restore with masks, -m connmark, -m conntrack --ctstatus/--ctdir/--ctorig*/--ctrepl*/--ctexpire, -m state",
      doc: "marks set on the first packet and saved to the connection, restored on replies (a restored 0x10 bit sends the replies through policy routing table 100)",
      ruleset: rules({
        mangle: [
          "-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xff",
          "-A PREROUTING -m mark --mark 0x0/0xff -p tcp -m tcp --dport 443 -j MARK --set-xmark 0x21/0xff",
          "-A PREROUTING -m mark --mark 0x0/0xff -p udp -m udp --dport 53 -j MARK --set-xmark 0x42/0xff",
          "-A PREROUTING -m mark --mark 0x0/0xff -s 192.168.1.77/32 -j MARK --set-xmark 0x10/0xff",
          "-A PREROUTING -m conntrack --ctstate NEW -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff",
          "-A PREROUTING -m conntrack --ctstate NEW -p icmp -j CONNMARK --set-xmark 0x300/0xf00",
          "-A POSTROUTING -m conntrack --ctstate NEW -m connmark --mark 0x21/0xff -j CONNMARK --or-mark 0x1000",
          "-A FORWARD -m connmark --mark 0x1021",
          "-A FORWARD -m connmark ! --mark 0x0/0xff -m conntrack --ctdir REPLY",
          "-A FORWARD -m state --state ESTABLISHED,RELATED",
          "-A FORWARD -m state --state NEW",
        ],
        nat: [...MASQ_PODS, "-A PREROUTING -d 10.0.0.2/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.0.5:8080"],
        filter: [
          "-A FORWARD -m conntrack --ctstatus ASSURED,SEEN_REPLY",
          "-A FORWARD -m conntrack --ctstatus CONFIRMED",
          "-A FORWARD -m conntrack ! --ctstatus SEEN_REPLY",
          "-A FORWARD -m conntrack --ctorigdst 203.0.113.140",
          "-A FORWARD -m conntrack --ctorigsrc 10.244.0.0/16 --ctrepldst 10.0.0.2",
          "-A FORWARD -p tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL",
          "-A FORWARD -p tcp -m conntrack --ctreplsrc 10.244.0.5 --ctreplsrcport 8080",
          "-A FORWARD -p tcp -m conntrack --ctorigsrcport 40000:41000 --ctrepldstport 40000:41000",
          "-A FORWARD -m conntrack --ctproto udp --ctstate ESTABLISHED",
          "-A FORWARD -m conntrack --ctexpire 1000:500000",
          "-A FORWARD -m conntrack --ctexpire 0:200",
          "-A FORWARD -m conntrack --ctstate NEW,RELATED -m connmark --mark 0x300/0xf00",
          "-A FORWARD -m conntrack --ctstate DNAT --ctorigdst 10.0.0.2 -j ACCEPT",
        ],
      }),
      flows: [
        tcpConv({ client: LAN(75), dst: "203.0.113.140", sport: 40601, dport: 443, server: { iif: "eth0" }, isnC: 41, isnS: 42 }, [...handshake(), ...exchange(), ...finClose("s")]),
        tcpConv({ client: POD_A, dst: "203.0.113.140", sport: 40602, dport: 443, server: { iif: "eth0" }, isnC: 43, isnS: 44 }, [...handshake(), ...exchange(), { by: "c", flags: "R" }]),
        tcpConv({ client: NET(76), dst: NODE, sport: 40603, dport: 80, server: { iif: "eni0a", ip: "10.244.0.5", port: 8080 }, isnC: 45, isnS: 46 }, [...handshake(), ...exchange()]),
        udpConv({ client: POD_B, dst: "203.0.113.141", sport: 40604, dport: 53, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }, { err: "s", type: 3, code: 3 }]),
        // the 0x10 mark is restored on the replies: they follow ip rule 100 (out of eth1 via 192.168.1.254)
        udpConv({ client: LAN(77), dst: "203.0.113.142", sport: 40605, dport: 5000, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { by: "c" }]),
        echoConv({ client: POD_A, dst: "203.0.113.143", id: 1000, server: { iif: "eth0" } }, [{ by: "c" }, { by: "s" }, { err: "s", type: 11, code: 0, from: "10.0.0.1" }]),
      ],
    },
  ];
}

export function allScenarios(): CtScenario[] {
  return [...tcpScenarios(), ...udpScenarios(), ...icmpScenarios(), ...natScenarios(), ...otherScenarios(), ...timeoutScenarios(), ...tableFullScenarios(), ...connmarkScenarios()];
}
