/**
 * The TCP connection tracker (net/netfilter/nf_conntrack_proto_tcp.c):
 * tcp_error, tcp_new, nf_conntrack_tcp_packet with the tcp_conntracks state
 * table, tcp_in_window sequence/window tracking, the IGNORE path and the
 * timeout choice. Semantics follow the kernel function by function; the
 * comments name them.
 */
import {
  PKT_TCPFLAGS, PKT_SEQ, PKT_ACK, PKT_WIN, PKT_LEN, PKT_TCP_DOFF, PKT_TCP_WSCALE, PKT_TCP_OPTS, PKT_TCP_SACK,
  TO_SACK_PERM, TO_SACK, IPS_SEEN_REPLY, IPS_ASSURED, IPS_FIXED_TIMEOUT, IPS_CONFIRMED,
  TCP_CONNTRACK_NONE, TCP_CONNTRACK_SYN_SENT, TCP_CONNTRACK_SYN_RECV, TCP_CONNTRACK_ESTABLISHED,
  TCP_CONNTRACK_FIN_WAIT, TCP_CONNTRACK_CLOSE_WAIT, TCP_CONNTRACK_LAST_ACK, TCP_CONNTRACK_TIME_WAIT,
  TCP_CONNTRACK_CLOSE, TCP_CONNTRACK_SYN_SENT2, TCP_CONNTRACK_MAX, TCP_CONNTRACK_IGNORE,
  TCP_CONNTRACK_RETRANS, TCP_CONNTRACK_UNACK,
} from "../abi";
import {
  CT_TCP, CT_STATE, CT_STATUS, CT_TIMEOUT, TCPS_SIZE, TS_END, TS_MAXEND, TS_MAXWIN, TS_MAXACK, TS_SCALE, TS_FLAGS,
  CT_TCP_LAST_DIR, CT_TCP_RETRANS, CT_TCP_LAST_INDEX, CT_TCP_LAST_WSCALE, CT_TCP_LAST_FLAGS, CT_TCP_LAST_SEQ,
  CT_TCP_LAST_ACK, CT_TCP_LAST_END, CT_TCP_LAST_WIN, TCPF_WINDOW_SCALE, TCPF_SACK_PERM, TCPF_CLOSE_INIT,
  TCPF_BE_LIBERAL, TCPF_DATA_UNACKNOWLEDGED, TCPF_MAXACK_SET, TCPF_EXP_CHALLENGE_ACK, TCPF_SIMULTANEOUS_OPEN,
} from "./entry";
import { tcpLoose, tcpBeLiberal, tcpMaxRetrans, tcpIgnoreInvalidRst, tcpTimeout } from "./config";
import { ctRefresh, ctKillAcct, NF_ACCEPT, NF_DROP, NF_INVALID, NF_REPEAT } from "./verdict";
import { ctKill, nfctTime } from "./table";

// enum tcp_bit_set
const TCP_SYN_SET: u32 = 0;
const TCP_SYNACK_SET: u32 = 1;
const TCP_FIN_SET: u32 = 2;
const TCP_ACK_SET: u32 = 3;
const TCP_RST_SET: u32 = 4;
const TCP_NONE_SET: u32 = 5;

const FIN: u32 = 1;
const SYN: u32 = 2;
const RST: u32 = 4;
const PSH: u32 = 8;
const ACK: u32 = 16;
const URG: u32 = 32;
const ECE: u32 = 64;
const CWR: u32 = 128;

const sNO: u8 = <u8>TCP_CONNTRACK_NONE;
const sSS: u8 = <u8>TCP_CONNTRACK_SYN_SENT;
const sSR: u8 = <u8>TCP_CONNTRACK_SYN_RECV;
const sES: u8 = <u8>TCP_CONNTRACK_ESTABLISHED;
const sFW: u8 = <u8>TCP_CONNTRACK_FIN_WAIT;
const sCW: u8 = <u8>TCP_CONNTRACK_CLOSE_WAIT;
const sLA: u8 = <u8>TCP_CONNTRACK_LAST_ACK;
const sTW: u8 = <u8>TCP_CONNTRACK_TIME_WAIT;
const sCL: u8 = <u8>TCP_CONNTRACK_CLOSE;
const sS2: u8 = <u8>TCP_CONNTRACK_SYN_SENT2;
const sIV: u8 = <u8>TCP_CONNTRACK_MAX;
const sIG: u8 = <u8>TCP_CONNTRACK_IGNORE;

/** tcp_conntracks[dir][index][state], flattened: dir * 60 + index * 10 + state. */
const TRANSITIONS: StaticArray<u8> = [
  // ORIGINAL    sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
  /* syn    */ sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2,
  /* synack */ sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR,
  /* fin    */ sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV,
  /* ack    */ sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV,
  /* rst    */ sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
  /* none   */ sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV,
  // REPLY
  /* syn    */ sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2,
  /* synack */ sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR,
  /* fin    */ sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV,
  /* ack    */ sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG,
  /* rst    */ sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
  /* none   */ sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV,
];

/** get_conntrack_index */
function conntrackIndex(flags: u32): u32 {
  if (flags & RST) return TCP_RST_SET;
  if (flags & SYN) return (flags & ACK) ? TCP_SYNACK_SET : TCP_SYN_SET;
  if (flags & FIN) return TCP_FIN_SET;
  if (flags & ACK) return TCP_ACK_SET;
  return TCP_NONE_SET;
}

// @ts-ignore: decorator
@inline function before(a: u32, b: u32): bool { return <i32>(a - b) < 0; }
// @ts-ignore: decorator
@inline function after(a: u32, b: u32): bool { return <i32>(b - a) < 0; }

// @ts-ignore: decorator
@inline function doffOf(p: usize): u32 {
  const d = <u32>load<u8>(p, PKT_TCP_DOFF);
  return d == 0 ? 5 : d;
}

/** segment_seq_plus_len: seq + payload length + SYN + FIN. */
function segmentEnd(p: usize, seq: u32, flags: u32): u32 {
  const payload = <u32>load<u16>(p, PKT_LEN) - 20 - (doffOf(p) << 2);
  return seq + payload + ((flags >> 1) & 1) + (flags & 1);
}

/** tcp_error: truncated header or an impossible flag combination (PSH, ECE, CWR are always fine). */
export function tcpError(p: usize): bool {
  const doff = doffOf(p);
  const len = <u32>load<u16>(p, PKT_LEN);
  if (doff < 5 || len < 20 + (doff << 2)) return true;
  const f = <u32>load<u8>(p, PKT_TCPFLAGS) & ~(ECE | CWR | PSH);
  // tcp_valid_flags[]
  return !(f == SYN || f == (SYN | URG) || f == (SYN | ACK) || f == RST || f == (RST | ACK) ||
    f == (FIN | ACK) || f == (FIN | ACK | URG) || f == ACK || f == (ACK | URG));
}

// @ts-ignore: decorator
@inline function seen(ct: usize, dir: u32): usize { return ct + CT_TCP + <usize>dir * TCPS_SIZE; }

/** tcp_options: window scale and SACK-permitted, when the header has options. */
function tcpOptions(p: usize, state: usize): void {
  if (doffOf(p) <= 5) return;
  store<u8>(state, 0, TS_SCALE);
  store<u8>(state, load<u8>(state, TS_FLAGS) & TCPF_BE_LIBERAL, TS_FLAGS);
  const opts = <u32>load<u8>(p, PKT_TCP_OPTS);
  if (opts & TO_SACK_PERM) store<u8>(state, load<u8>(state, TS_FLAGS) | TCPF_SACK_PERM, TS_FLAGS);
  const ws = <u32>load<u8>(p, PKT_TCP_WSCALE);
  if (ws != 0) {
    store<u8>(state, <u8>min<u32>(ws - 1, 14), TS_SCALE);
    store<u8>(state, load<u8>(state, TS_FLAGS) | TCPF_WINDOW_SCALE, TS_FLAGS);
  }
}

/** tcp_new: a packet without an entry; false means it cannot start one. */
export function tcpNew(ct: usize, p: usize): bool {
  const flags = <u32>load<u8>(p, PKT_TCPFLAGS);
  const newState = TRANSITIONS[conntrackIndex(flags) * 10 + TCP_CONNTRACK_NONE];
  if (newState >= sIV) return false;
  const s0 = seen(ct, 0);
  const seq = load<u32>(p, PKT_SEQ);
  let win = <u32>load<u16>(p, PKT_WIN);
  memory.fill(ct + CT_TCP, 0, 64);
  if (newState == sSS) {
    store<u32>(s0, segmentEnd(p, seq, flags), TS_END);
    store<u32>(s0, win == 0 ? 1 : win, TS_MAXWIN);
    store<u32>(s0, load<u32>(s0, TS_END), TS_MAXEND);
    tcpOptions(p, s0);
  } else if (!tcpLoose) {
    return false;
  } else {
    // mid-stream pickup: the history is lost; take what the packet says
    store<u32>(s0, segmentEnd(p, seq, flags), TS_END);
    store<u32>(s0, win == 0 ? 1 : win, TS_MAXWIN);
    store<u32>(s0, load<u32>(s0, TS_END) + load<u32>(s0, TS_MAXWIN), TS_MAXEND);
    store<u8>(s0, TCPF_SACK_PERM | TCPF_BE_LIBERAL, TS_FLAGS);
    store<u8>(seen(ct, 1), TCPF_SACK_PERM | TCPF_BE_LIBERAL, TS_FLAGS);
  }
  store<u8>(ct, <u8>TCP_NONE_SET, CT_TCP_LAST_INDEX);
  return true;
}

/** tcp_init_sender */
function initSender(p: usize, sender: usize, receiver: usize, end: u32, win: u32, dir: u32): void {
  store<u32>(sender, end, TS_END);
  store<u32>(sender, end, TS_MAXEND);
  store<u32>(sender, win == 0 ? 1 : win, TS_MAXWIN);
  tcpOptions(p, sender);
  // RFC 1323: both sides must send the window scale option to use it
  if (dir == 1 && !((load<u8>(sender, TS_FLAGS) & TCPF_WINDOW_SCALE) != 0 && (load<u8>(receiver, TS_FLAGS) & TCPF_WINDOW_SCALE) != 0)) {
    store<u8>(sender, 0, TS_SCALE);
    store<u8>(receiver, 0, TS_SCALE);
  }
}

const WIN_ACCEPT: i32 = 2;
const WIN_INVALID: i32 = 1;
const WIN_IGNORE: i32 = 0;

/** nf_tcp_log_invalid: a liberal sender (or tcp_be_liberal) turns a complaint into ACCEPT. */
function logInvalid(sender: usize, ret: i32): i32 {
  if ((load<u8>(sender, TS_FLAGS) & TCPF_BE_LIBERAL) != 0 || tcpBeLiberal) return WIN_ACCEPT;
  return ret;
}

/** MAXACKWINDOW(sender) */
// @ts-ignore: decorator
@inline function maxAckWindow(sender: usize): u32 {
  const w = load<u32>(sender, TS_MAXWIN);
  return w > 66000 ? w : 66000;
}

/** tcp_in_window */
function tcpInWindow(ct: usize, dir: u32, index: u32, p: usize): i32 {
  const sender = seen(ct, dir);
  const receiver = seen(ct, dir ^ 1);
  const flags = <u32>load<u8>(p, PKT_TCPFLAGS);
  let seq = load<u32>(p, PKT_SEQ);
  let ack = load<u32>(p, PKT_ACK);
  let sack = ack;
  const winRaw = <u32>load<u16>(p, PKT_WIN);
  let win = winRaw;
  let end = segmentEnd(p, seq, flags);
  if ((load<u8>(receiver, TS_FLAGS) & TCPF_SACK_PERM) != 0 && (load<u8>(p, PKT_TCP_OPTS) & TO_SACK) != 0 && doffOf(p) > 5) {
    const tmp = load<u32>(p, PKT_TCP_SACK);
    if (after(tmp, sack)) sack = tmp;
  }
  // (no NAT sequence adjustment: no helpers are modelled)
  if (load<u32>(sender, TS_MAXWIN) == 0) {
    // initialise sender data
    if (flags & SYN) {
      initSender(p, sender, receiver, end, win, dir);
      if (!(flags & ACK)) return WIN_ACCEPT; // simultaneous open
    } else {
      // in the middle of a connection: use what the packet says
      store<u32>(sender, end, TS_END);
      const swin = win << load<u8>(sender, TS_SCALE);
      store<u32>(sender, swin == 0 ? 1 : swin, TS_MAXWIN);
      store<u32>(sender, end + load<u32>(sender, TS_MAXWIN), TS_MAXEND);
      if (load<u32>(receiver, TS_MAXWIN) == 0) {
        store<u32>(receiver, sack, TS_END);
        store<u32>(receiver, sack, TS_MAXEND);
      } else if (sack == load<u32>(receiver, TS_END) + 1) {
        // likely a reply to a keepalive
        store<u32>(receiver, load<u32>(receiver, TS_END) + 1, TS_END);
      }
    }
  } else if ((flags & SYN) != 0 && after(end, load<u32>(sender, TS_END)) &&
             (load<u8>(ct, CT_STATE) == sSS || load<u8>(ct, CT_STATE) == sSR)) {
    // RFC 793: a reinitialised TCP may use higher sequence numbers: re-init
    initSender(p, sender, receiver, end, win, dir);
    if (dir == 1 && !(flags & ACK)) return WIN_ACCEPT;
  }

  if (!(flags & ACK)) {
    ack = load<u32>(receiver, TS_END);
    sack = ack;
  } else if ((flags & (ACK | RST)) == (ACK | RST) && ack == 0) {
    // broken stacks: RST+ACK with a zero ack
    ack = load<u32>(receiver, TS_END);
    sack = ack;
  }

  if ((flags & RST) != 0 && seq == 0 && load<u8>(ct, CT_STATE) == sSS) {
    // RST sent answering SYN
    seq = load<u32>(sender, TS_END);
    end = seq;
  }

  const seqOk = before(seq, load<u32>(sender, TS_MAXEND) + 1);
  if (!seqOk) {
    const overshot = end - load<u32>(sender, TS_MAXEND) + 1;
    const ackOk = after(sack, load<u32>(receiver, TS_END) - maxAckWindow(sender) - 1);
    const rmaxwin = load<u32>(receiver, TS_MAXWIN);
    const inRecvWin = rmaxwin != 0 && after(end, load<u32>(sender, TS_END) - rmaxwin - 1);
    if (inRecvWin && ackOk && overshot <= rmaxwin && before(sack, load<u32>(receiver, TS_END) + 1)) {
      // the peer sent more than the window allowed: let the ACK of it through later
      store<u32>(sender, end, TS_END);
      store<u8>(sender, load<u8>(sender, TS_FLAGS) | TCPF_DATA_UNACKNOWLEDGED, TS_FLAGS);
      return logInvalid(sender, WIN_IGNORE);
    }
    return logInvalid(sender, WIN_INVALID); // SEQ is over the upper bound
  }
  if (!before(sack, load<u32>(receiver, TS_END) + 1)) return logInvalid(sender, WIN_INVALID); // ACK over upper bound
  const rmaxwin = load<u32>(receiver, TS_MAXWIN);
  const inRecvWin = rmaxwin == 0 || after(end, load<u32>(sender, TS_END) - rmaxwin - 1);
  if (!inRecvWin) return logInvalid(sender, WIN_IGNORE); // SEQ under lower bound (retransmitted)
  if (!after(sack, load<u32>(receiver, TS_END) - maxAckWindow(sender) - 1)) return logInvalid(sender, WIN_IGNORE); // ACK under lower bound

  // window scaling (RFC 1323)
  if (!(flags & SYN)) win <<= load<u8>(sender, TS_SCALE);

  // update sender data
  const swin = win + (sack - ack);
  if (load<u32>(sender, TS_MAXWIN) < swin) store<u32>(sender, swin, TS_MAXWIN);
  if (after(end, load<u32>(sender, TS_END))) {
    store<u32>(sender, end, TS_END);
    store<u8>(sender, load<u8>(sender, TS_FLAGS) | TCPF_DATA_UNACKNOWLEDGED, TS_FLAGS);
  }
  if (flags & ACK) {
    if (!(load<u8>(sender, TS_FLAGS) & TCPF_MAXACK_SET)) {
      store<u32>(sender, ack, TS_MAXACK);
      store<u8>(sender, load<u8>(sender, TS_FLAGS) | TCPF_MAXACK_SET, TS_FLAGS);
    } else if (after(ack, load<u32>(sender, TS_MAXACK))) {
      store<u32>(sender, ack, TS_MAXACK);
    }
  }
  // update receiver data
  if (load<u32>(receiver, TS_MAXWIN) != 0 && after(end, load<u32>(sender, TS_MAXEND))) {
    store<u32>(receiver, load<u32>(receiver, TS_MAXWIN) + (end - load<u32>(sender, TS_MAXEND)), TS_MAXWIN);
  }
  if (after(sack + win, load<u32>(receiver, TS_MAXEND) - 1)) {
    store<u32>(receiver, sack + win + (win == 0 ? 1 : 0), TS_MAXEND);
  }
  if (ack == load<u32>(receiver, TS_END)) {
    store<u8>(receiver, load<u8>(receiver, TS_FLAGS) & ~TCPF_DATA_UNACKNOWLEDGED, TS_FLAGS);
  }
  // check retransmissions
  if (index == TCP_ACK_SET) {
    if (<u32>load<u8>(ct, CT_TCP_LAST_DIR) == dir && load<u32>(ct, CT_TCP_LAST_SEQ) == seq &&
        load<u32>(ct, CT_TCP_LAST_ACK) == ack && load<u32>(ct, CT_TCP_LAST_END) == end &&
        <u32>load<u16>(ct, CT_TCP_LAST_WIN) == winRaw) {
      const r = load<u8>(ct, CT_TCP_RETRANS);
      if (r < 255) store<u8>(ct, r + 1, CT_TCP_RETRANS);
    } else {
      store<u8>(ct, <u8>dir, CT_TCP_LAST_DIR);
      store<u32>(ct, seq, CT_TCP_LAST_SEQ);
      store<u32>(ct, ack, CT_TCP_LAST_ACK);
      store<u32>(ct, end, CT_TCP_LAST_END);
      store<u16>(ct, <u16>winRaw, CT_TCP_LAST_WIN);
      store<u8>(ct, 0, CT_TCP_RETRANS);
    }
  }
  return WIN_ACCEPT;
}

/** nf_tcp_handle_invalid: shrink the timeout of an assured entry on an out-of-window FIN/RST answering one. */
function handleInvalid(ct: usize, dir: u32, index: u32): void {
  const st = load<u32>(ct, CT_STATUS);
  if (!(st & IPS_ASSURED) || (st & IPS_FIXED_TIMEOUT) != 0) return;
  if (index != TCP_RST_SET && index != TCP_FIN_SET) return;
  const lastIndex = <u32>load<u8>(ct, CT_TCP_LAST_INDEX);
  if (<u32>load<u8>(ct, CT_TCP_LAST_DIR) != dir && (lastIndex == TCP_FIN_SET || lastIndex == TCP_RST_SET)) {
    const expires = load<u32>(ct, CT_TIMEOUT) - nfctTime();
    if (<i32>expires < <i32>(120 * tcpHz())) return;
    const timeout = tcpTimeout(TCP_CONNTRACK_UNACK);
    if (expires > timeout) store<u32>(ct, timeout + nfctTime(), CT_TIMEOUT);
  } else {
    store<u8>(ct, <u8>index, CT_TCP_LAST_INDEX);
    store<u8>(ct, <u8>dir, CT_TCP_LAST_DIR);
  }
}

import { hz } from "../config";
// @ts-ignore: decorator
@inline function tcpHz(): u32 { return hz; }

/** nf_conntrack_tcp_established */
// @ts-ignore: decorator
@inline function established(ct: usize): bool {
  return load<u8>(ct, CT_STATE) == sES && (load<u32>(ct, CT_STATUS) & IPS_ASSURED) != 0;
}

/** tcp_can_early_drop */
export function tcpCanEarlyDrop(ct: usize): bool {
  const s = load<u8>(ct, CT_STATE);
  return s == sFW || s == sLA || s == sTW || s == sCL || s == sCW;
}

/**
 * nf_conntrack_tcp_packet for entry `idx` at `ct`, direction `dir` (0
 * original, 1 reply). Returns NF_ACCEPT, NF_INVALID (-NF_ACCEPT), NF_DROP
 * or NF_REPEAT (the entry was killed: look up again).
 */
export function tcpPacket(idx: u32, ct: usize, p: usize, dir: u32): i32 {
  if (tcpError(p)) return NF_INVALID;
  // an unconfirmed entry belongs to the one packet that created it
  if (!(load<u32>(ct, CT_STATUS) & IPS_CONFIRMED) && !tcpNew(ct, p)) return NF_INVALID;
  const flags = <u32>load<u8>(p, PKT_TCPFLAGS);
  let oldState = <u32>load<u8>(ct, CT_STATE);
  const index = conntrackIndex(flags);
  let newState = <u32>TRANSITIONS[dir * 60 + index * 10 + oldState];

  let skipWindow = false;
  // the switch (new_state) of nf_conntrack_tcp_packet
  if (newState == sSS) {
    if (oldState >= sTW) {
      // reopen of a closed or aborted connection?
      if (((load<u8>(seen(ct, dir), TS_FLAGS) | load<u8>(seen(ct, dir ^ 1), TS_FLAGS)) & TCPF_CLOSE_INIT) != 0 ||
          (<u32>load<u8>(ct, CT_TCP_LAST_DIR) == dir && <u32>load<u8>(ct, CT_TCP_LAST_INDEX) == TCP_RST_SET)) {
        ctKill(idx);
        return NF_REPEAT;
      }
      newState = sIG; // fall through to the IGNORE handling
    }
  }
  if (newState == sIG) {
    if (index == TCP_SYNACK_SET && <u32>load<u8>(ct, CT_TCP_LAST_INDEX) == TCP_SYN_SET &&
        <u32>load<u8>(ct, CT_TCP_LAST_DIR) != dir && load<u32>(p, PKT_ACK) == load<u32>(ct, CT_TCP_LAST_END)) {
      // b) this SYN/ACK acknowledges a SYN we ignored: get in sync from what we noted
      oldState = sSS;
      newState = sSR;
      const ld = <u32>load<u8>(ct, CT_TCP_LAST_DIR);
      const s = seen(ct, ld);
      store<u32>(s, load<u32>(ct, CT_TCP_LAST_END), TS_END);
      store<u32>(s, load<u32>(ct, CT_TCP_LAST_END), TS_MAXEND);
      const lw = <u32>load<u16>(ct, CT_TCP_LAST_WIN);
      store<u32>(s, lw == 0 ? 1 : lw, TS_MAXWIN);
      store<u8>(s, load<u8>(ct, CT_TCP_LAST_WSCALE), TS_SCALE);
      store<u8>(ct, load<u8>(ct, CT_TCP_LAST_FLAGS) & ~TCPF_EXP_CHALLENGE_ACK, CT_TCP_LAST_FLAGS);
      store<u8>(s, load<u8>(ct, CT_TCP_LAST_FLAGS), TS_FLAGS);
      // nf_ct_tcp_state_reset(&seen[dir])
      const r = seen(ct, dir);
      store<u32>(r, 0, TS_END);
      store<u32>(r, 0, TS_MAXEND);
      store<u32>(r, 0, TS_MAXWIN);
      store<u32>(r, 0, TS_MAXACK);
      store<u8>(r, 0, TS_SCALE);
      store<u8>(r, load<u8>(r, TS_FLAGS) & TCPF_BE_LIBERAL, TS_FLAGS);
    } else {
      const seq = load<u32>(p, PKT_SEQ);
      store<u8>(ct, <u8>index, CT_TCP_LAST_INDEX);
      store<u8>(ct, <u8>dir, CT_TCP_LAST_DIR);
      store<u32>(ct, seq, CT_TCP_LAST_SEQ);
      store<u32>(ct, segmentEnd(p, seq, flags), CT_TCP_LAST_END);
      store<u16>(ct, load<u16>(p, PKT_WIN), CT_TCP_LAST_WIN);
      if (index == TCP_SYN_SET && dir == 0) {
        // a) a SYN in ORIGINAL: note its options; the server's answer syncs us
        store<u8>(ct, 0, CT_TCP_LAST_FLAGS);
        store<u8>(ct, 0, CT_TCP_LAST_WSCALE);
        if (doffOf(p) > 5) {
          const ws = <u32>load<u8>(p, PKT_TCP_WSCALE);
          let lf: u8 = 0;
          if (ws != 0) {
            lf |= TCPF_WINDOW_SCALE;
            store<u8>(ct, <u8>min<u32>(ws - 1, 14), CT_TCP_LAST_WSCALE);
          }
          if (load<u8>(p, PKT_TCP_OPTS) & TO_SACK_PERM) lf |= TCPF_SACK_PERM;
          store<u8>(ct, lf, CT_TCP_LAST_FLAGS);
        }
        if (oldState == sLA) store<u8>(ct, load<u8>(ct, CT_TCP_LAST_FLAGS) | TCPF_EXP_CHALLENGE_ACK, CT_TCP_LAST_FLAGS);
      }
      // possible challenge ACK reply to a SYN
      if (oldState == sSS && index == TCP_ACK_SET && dir == 1) store<u32>(ct, load<u32>(p, PKT_ACK), CT_TCP_LAST_ACK);
      return NF_ACCEPT; // ignored: no state change, no timeout refresh
    }
  } else if (newState == sIV) {
    return NF_INVALID;
  } else if (newState == sTW) {
    // RFC 5961 challenge ACK must not be taken as the last ACK
    if (oldState == sLA && index == TCP_ACK_SET && <u32>load<u8>(ct, CT_TCP_LAST_DIR) != dir &&
        <u32>load<u8>(ct, CT_TCP_LAST_INDEX) == TCP_SYN_SET &&
        (load<u8>(ct, CT_TCP_LAST_FLAGS) & TCPF_EXP_CHALLENGE_ACK) != 0) {
      store<u8>(ct, load<u8>(ct, CT_TCP_LAST_FLAGS) & ~TCPF_EXP_CHALLENGE_ACK, CT_TCP_LAST_FLAGS);
      return NF_ACCEPT;
    }
  } else if (newState == sS2) {
    store<u8>(ct, load<u8>(ct, CT_TCP_LAST_FLAGS) | TCPF_SIMULTANEOUS_OPEN, CT_TCP_LAST_FLAGS);
  } else if (newState == sSR) {
    if (dir == 1 && index == TCP_ACK_SET && (load<u8>(ct, CT_TCP_LAST_FLAGS) & TCPF_SIMULTANEOUS_OPEN) != 0) newState = sES;
  } else if (newState == sCL) {
    if (index == TCP_RST_SET) {
      if (tcpCanEarlyDrop(ct)) {
        skipWindow = true;
      } else {
        let done = false;
        const other = seen(ct, dir ^ 1);
        if ((load<u8>(other, TS_FLAGS) & TCPF_MAXACK_SET) != 0 && <u32>load<u8>(ct, CT_TCP_LAST_INDEX) != TCP_SYN_SET) {
          const seq = load<u32>(p, PKT_SEQ);
          if (seq == 0 && !established(ct)) {
            done = true; // answer to a SYN we let through
          } else {
            if (before(seq, load<u32>(other, TS_MAXACK)) && !tcpIgnoreInvalidRst) return NF_INVALID; // invalid RST
            if (!established(ct) || seq == load<u32>(other, TS_MAXACK)) {
              done = true;
            } else if (<u32>load<u8>(ct, CT_TCP_LAST_INDEX) == TCP_ACK_SET && <u32>load<u8>(ct, CT_TCP_LAST_DIR) == dir &&
                       seq == load<u32>(ct, CT_TCP_LAST_END)) {
              done = true; // RST in a train
            } else {
              newState = oldState; // keep the state for a possible challenge ACK
            }
          }
        }
        if (!done) {
          const st = load<u32>(ct, CT_STATUS);
          const li = <u32>load<u8>(ct, CT_TCP_LAST_INDEX);
          if ((((st & IPS_SEEN_REPLY) != 0 && li == TCP_SYN_SET) || ((st & IPS_ASSURED) == 0 && li == TCP_ACK_SET)) &&
              load<u32>(p, PKT_ACK) == load<u32>(ct, CT_TCP_LAST_END)) {
            skipWindow = true; // RST to a SYN/ACK we let through at a) or c)
          } else if (oldState == sSS && li == TCP_ACK_SET && <u32>load<u8>(ct, CT_TCP_LAST_DIR) == 1 &&
                     load<u32>(p, PKT_SEQ) == load<u32>(ct, CT_TCP_LAST_ACK)) {
            skipWindow = true; // reset answering a challenge ACK we let through
          }
        }
      }
    }
  }

  if (!skipWindow) {
    const res = tcpInWindow(ct, dir, index, p);
    if (res == WIN_IGNORE) return NF_ACCEPT;
    if (res == WIN_INVALID) {
      handleInvalid(ct, dir, index);
      return NF_INVALID;
    }
  }
  // in_window: from now on we have in-window packets
  store<u8>(ct, <u8>index, CT_TCP_LAST_INDEX);
  store<u8>(ct, <u8>dir, CT_TCP_LAST_DIR);
  store<u8>(ct, <u8>newState, CT_STATE);
  if (oldState != newState && newState == sFW) {
    const s = seen(ct, dir);
    store<u8>(s, load<u8>(s, TS_FLAGS) | TCPF_CLOSE_INIT, TS_FLAGS);
  }
  let timeout: u32;
  const stateTimeout = tcpTimeout(newState);
  if (<u32>load<u8>(ct, CT_TCP_RETRANS) >= tcpMaxRetrans && stateTimeout > tcpTimeout(TCP_CONNTRACK_RETRANS)) {
    timeout = tcpTimeout(TCP_CONNTRACK_RETRANS);
  } else if (index == TCP_RST_SET) {
    timeout = tcpTimeout(sCL);
  } else if (((load<u8>(seen(ct, 0), TS_FLAGS) | load<u8>(seen(ct, 1), TS_FLAGS)) & TCPF_DATA_UNACKNOWLEDGED) != 0 &&
             stateTimeout > tcpTimeout(TCP_CONNTRACK_UNACK)) {
    timeout = tcpTimeout(TCP_CONNTRACK_UNACK);
  } else if (load<u16>(ct, CT_TCP_LAST_WIN) == 0 && stateTimeout > tcpTimeout(TCP_CONNTRACK_RETRANS)) {
    timeout = tcpTimeout(TCP_CONNTRACK_RETRANS);
  } else {
    timeout = stateTimeout;
  }

  const st = load<u32>(ct, CT_STATUS);
  if (!(st & IPS_SEEN_REPLY)) {
    // only a RST in reply (or before any reply): the connection never was; delete it now
    if (flags & RST) {
      ctKillAcct(idx);
      return NF_ACCEPT;
    }
    // do not renew the timeout on a SYN retransmit
    if (index == TCP_SYN_SET && oldState == sSS) return NF_ACCEPT;
    // mid-stream pickup without a reply yet: avoid the long ESTABLISHED timeout
    if (newState == sES && timeout > tcpTimeout(TCP_CONNTRACK_UNACK)) timeout = tcpTimeout(TCP_CONNTRACK_UNACK);
  } else if (!(st & IPS_ASSURED) && (oldState == sSR || oldState == sES) && newState == sES) {
    store<u32>(ct, st | IPS_ASSURED, CT_STATUS);
  }
  ctRefresh(ct, timeout);
  return NF_ACCEPT;
}

export { NF_DROP };
