/**
 * The TCP connection tracker (net/netfilter/nf_conntrack_proto_tcp.c):
 * tcp_error, tcp_new, nf_conntrack_tcp_packet with the tcp_conntracks state
 * table, tcp_in_window sequence/window tracking, the IGNORE path and the
 * timeout choice. Semantics follow the kernel function by function; the
 * comments name them.
 */
import { ipHdrLen } from "../util/ip";
import { TH_FIN, TH_SYN, TH_RST, TH_PSH, TH_ACK, TH_URG, TH_ECE, TH_CWR } from "../abi";
import {
  PKT_TCPFLAGS, PKT_SEQ, PKT_ACK, PKT_WIN, PKT_LEN, PKT_TCP_DOFF, PKT_TCP_WSCALE, PKT_TCP_OPTS, PKT_TCP_SACK,
  TO_SACK_PERM, TO_SACK, IPS_SEEN_REPLY, IPS_ASSURED, IPS_FIXED_TIMEOUT, IPS_CONFIRMED,
  TCP_CONNTRACK_NONE, TCP_CONNTRACK_SYN_SENT, TCP_CONNTRACK_SYN_RECV, TCP_CONNTRACK_ESTABLISHED,
  TCP_CONNTRACK_FIN_WAIT, TCP_CONNTRACK_CLOSE_WAIT, TCP_CONNTRACK_LAST_ACK, TCP_CONNTRACK_TIME_WAIT,
  TCP_CONNTRACK_CLOSE, TCP_CONNTRACK_SYN_SENT2, TCP_CONNTRACK_MAX, TCP_CONNTRACK_IGNORE,
  TCP_CONNTRACK_RETRANS, TCP_CONNTRACK_UNACK, PKT_CSUM, CSUM_BAD, NF_INET_PRE_ROUTING, PKT_L4_BYTES,
} from "../abi";
import {
  TCPF_WINDOW_SCALE, TCPF_SACK_PERM, TCPF_CLOSE_INIT,
  TCPF_BE_LIBERAL, TCPF_DATA_UNACKNOWLEDGED, TCPF_MAXACK_SET, TCPF_EXP_CHALLENGE_ACK, TCPF_SIMULTANEOUS_OPEN,
  ctStatus, ctStatusSet, ctState, tcpSetState, tcpSetStateLast, tcpLastIndex, tcpSetLastIndex, tcpLastDir,
  tcpSetLastDir, tcpScale, tcpSetScale, tcpEnd, tcpSetEnd, tcpMaxEnd, tcpSetMaxEnd, tcpMaxWin, tcpSetMaxWin,
  tcpMaxAck, tcpSetMaxAck, tcpFlags, tcpSetFlags, tcpSeenClear, tcpLastAck, tcpSetLastAck, tcpLastSeq,
  tcpLastSeqAck, tcpLastLenWin, tcpSetLastNote,
  tcpLastEnd, tcpSetLastSeqEnd, tcpLastWin, tcpSetLastWin, tcpRetrans, tcpSetRetrans, tcpLastWscale,
  tcpSetLastWscale, tcpLastFlags, tcpSetLastFlags, tcpAreaClear,
} from "./entry";
import { tcpLoose, tcpBeLiberal, tcpMaxRetrans, tcpIgnoreInvalidRst, tcpTimeout, ctChecksum } from "./config";
import { hsHook } from "../netfilter/state";
import { nfChecksumBad } from "./csum";
import { ctRefresh, ctKillAcct, NF_ACCEPT, NF_DROP, NF_INVALID, NF_REPEAT } from "./verdict";
import { ctKill, nfctTime, ctTimeout, ctSetTimeout } from "./table";
import { hz } from "../config";

// enum tcp_bit_set
const TCP_SYN_SET: u32 = 0;
const TCP_SYNACK_SET: u32 = 1;
const TCP_FIN_SET: u32 = 2;
const TCP_ACK_SET: u32 = 3;
const TCP_RST_SET: u32 = 4;
const TCP_NONE_SET: u32 = 5;

const FIN: u32 = TH_FIN;
const SYN: u32 = TH_SYN;
const RST: u32 = TH_RST;
const PSH: u32 = TH_PSH;
const ACK: u32 = TH_ACK;
const URG: u32 = TH_URG;
const ECE: u32 = TH_ECE;
const CWR: u32 = TH_CWR;

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
  const payload = <u32>load<u16>(p, PKT_LEN) - ipHdrLen(p) - (doffOf(p) << 2);
  return seq + payload + ((flags >> 1) & 1) + (flags & 1);
}

/**
 * tcp_error: truncated header, a bad checksum (checked only at PREROUTING
 * with nf_conntrack_checksum on), or an impossible flag combination (PSH,
 * ECE, CWR are always fine).
 */
// @ts-ignore: decorator
@inline
export function tcpError(p: usize): bool {
  // a header under 20 bytes (skb_header_pointer fails: -NF_ACCEPT), a data offset
  // below 5 or beyond the segment ("truncated packet"): PKT_L4_BYTES says so
  if (load<u8>(p, PKT_L4_BYTES) != 0) return true;
  const doff = doffOf(p);
  const len = <u32>load<u16>(p, PKT_LEN);
  if (doff < 5 || len < ipHdrLen(p) + (doff << 2)) return true;
  if (nfChecksumBad(p)) return true; // "bad checksum" (nf_checksum: the packet is CHECKSUM_COMPLETE after it)
  const f = <u32>load<u8>(p, PKT_TCPFLAGS) & ~(ECE | CWR | PSH);
  // tcp_valid_flags[], as a bitmap (f < 64: FIN, SYN, RST, ACK, URG)
  return ((TCP_VALID_FLAGS >> <u64>f) & 1) == 0;
}

/** The combinations tcp_valid_flags[] allows, bit f set for flags f. */
const TCP_VALID_FLAGS: u64 = (<u64>1 << SYN) | (<u64>1 << (SYN | URG)) | (<u64>1 << (SYN | ACK)) | (<u64>1 << RST) |
  (<u64>1 << (RST | ACK)) | (<u64>1 << (FIN | ACK)) | (<u64>1 << (FIN | ACK | URG)) | (<u64>1 << ACK) | (<u64>1 << (ACK | URG));


/** tcp_options into seen[dir]: window scale and SACK-permitted, when the header has options. */
function tcpOptions(p: usize, ct: usize, dir: u32): void {
  if (doffOf(p) <= 5) return;
  tcpSetScale(ct, dir, 0);
  let f = tcpFlags(ct, dir) & TCPF_BE_LIBERAL;
  const opts = <u32>load<u8>(p, PKT_TCP_OPTS);
  if (opts & TO_SACK_PERM) f |= TCPF_SACK_PERM;
  const ws = <u32>load<u8>(p, PKT_TCP_WSCALE);
  if (ws != 0) {
    tcpSetScale(ct, dir, min<u32>(ws - 1, 14));
    f |= TCPF_WINDOW_SCALE;
  }
  tcpSetFlags(ct, dir, f);
}

/** tcp_new: a packet without an entry; false means it cannot start one. */
export function tcpNew(ct: usize, p: usize): bool {
  const flags = <u32>load<u8>(p, PKT_TCPFLAGS);
  const newState = unchecked(TRANSITIONS[conntrackIndex(flags) * 10 + TCP_CONNTRACK_NONE]);
  if (newState >= sIV) return false;
  const seq = load<u32>(p, PKT_SEQ);
  let win = <u32>load<u16>(p, PKT_WIN);
  tcpAreaClear(ct);
  const end = segmentEnd(p, seq, flags);
  const maxwin = win == 0 ? 1 : win;
  if (newState == sSS) {
    tcpSetEnd(ct, 0, end);
    tcpSetMaxWin(ct, 0, maxwin);
    tcpSetMaxEnd(ct, 0, end);
    tcpOptions(p, ct, 0);
  } else if (!tcpLoose) {
    return false;
  } else {
    // mid-stream pickup: the history is lost; take what the packet says
    tcpSetEnd(ct, 0, end);
    tcpSetMaxWin(ct, 0, maxwin);
    tcpSetMaxEnd(ct, 0, end + maxwin);
    tcpSetFlags(ct, 0, TCPF_SACK_PERM | TCPF_BE_LIBERAL);
    tcpSetFlags(ct, 1, TCPF_SACK_PERM | TCPF_BE_LIBERAL);
  }
  tcpSetLastIndex(ct, TCP_NONE_SET);
  return true;
}

/** tcp_init_sender (sender = seen[dir], receiver = seen[!dir]) */
function initSender(p: usize, ct: usize, end: u32, win: u32, dir: u32): void {
  tcpSetEnd(ct, dir, end);
  tcpSetMaxEnd(ct, dir, end);
  tcpSetMaxWin(ct, dir, win == 0 ? 1 : win);
  tcpOptions(p, ct, dir);
  // RFC 1323: both sides must send the window scale option to use it
  if (dir == 1 && !((tcpFlags(ct, dir) & TCPF_WINDOW_SCALE) != 0 && (tcpFlags(ct, dir ^ 1) & TCPF_WINDOW_SCALE) != 0)) {
    tcpSetScale(ct, dir, 0);
    tcpSetScale(ct, dir ^ 1, 0);
  }
}

const WIN_ACCEPT: i32 = 2;
const WIN_INVALID: i32 = 1;
const WIN_IGNORE: i32 = 0;

/** nf_tcp_log_invalid: a liberal sender (or tcp_be_liberal) turns a complaint into ACCEPT. */
function logInvalid(ct: usize, sdir: u32, ret: i32): i32 {
  if ((tcpFlags(ct, sdir) & TCPF_BE_LIBERAL) != 0 || tcpBeLiberal) return WIN_ACCEPT;
  return ret;
}

/** MAXACKWINDOW(sender) */
// @ts-ignore: decorator
@inline function maxAckWindow(ct: usize, sdir: u32): u32 {
  const w = tcpMaxWin(ct, sdir);
  return w > 66000 ? w : 66000;
}

/** tcp_in_window: sender is seen[dir], receiver seen[!dir]. */
// @ts-ignore: decorator
@inline
function tcpInWindow(ct: usize, dir: u32, index: u32, p: usize): i32 {
  const sd = dir;
  const rd = dir ^ 1;
  const flags = <u32>load<u8>(p, PKT_TCPFLAGS);
  let seq = load<u32>(p, PKT_SEQ);
  let ack = load<u32>(p, PKT_ACK);
  let sack = ack;
  const winRaw = <u32>load<u16>(p, PKT_WIN);
  let win = winRaw;
  let end = segmentEnd(p, seq, flags);
  if ((tcpFlags(ct, rd) & TCPF_SACK_PERM) != 0 && (load<u8>(p, PKT_TCP_OPTS) & TO_SACK) != 0 && doffOf(p) > 5) {
    const tmp = load<u32>(p, PKT_TCP_SACK);
    if (after(tmp, sack)) sack = tmp;
  }
  // (no NAT sequence adjustment: no helpers are modelled)
  if (tcpMaxWin(ct, sd) == 0) {
    // initialise sender data
    if (flags & SYN) {
      initSender(p, ct, end, win, dir);
      if (!(flags & ACK)) return WIN_ACCEPT; // simultaneous open
    } else {
      // in the middle of a connection: use what the packet says
      tcpSetEnd(ct, sd, end);
      let swin = win << tcpScale(ct, sd);
      if (swin == 0) swin = 1;
      tcpSetMaxWin(ct, sd, swin);
      tcpSetMaxEnd(ct, sd, end + swin);
      if (tcpMaxWin(ct, rd) == 0) {
        tcpSetEnd(ct, rd, sack);
        tcpSetMaxEnd(ct, rd, sack);
      } else if (sack == tcpEnd(ct, rd) + 1) {
        // likely a reply to a keepalive
        tcpSetEnd(ct, rd, tcpEnd(ct, rd) + 1);
      }
    }
  } else if ((flags & SYN) != 0 && after(end, tcpEnd(ct, sd)) &&
             (ctState(ct) == <u32>sSS || ctState(ct) == <u32>sSR)) {
    // RFC 793: a reinitialised TCP may use higher sequence numbers: re-init
    initSender(p, ct, end, win, dir);
    if (dir == 1 && !(flags & ACK)) return WIN_ACCEPT;
  }

  if (!(flags & ACK)) {
    ack = tcpEnd(ct, rd);
    sack = ack;
  } else if ((flags & (ACK | RST)) == (ACK | RST) && ack == 0) {
    // broken stacks: RST+ACK with a zero ack
    ack = tcpEnd(ct, rd);
    sack = ack;
  }

  if ((flags & RST) != 0 && seq == 0 && ctState(ct) == <u32>sSS) {
    // RST sent answering SYN
    seq = tcpEnd(ct, sd);
    end = seq;
  }

  const sEnd = tcpEnd(ct, sd);
  const sMaxEnd = tcpMaxEnd(ct, sd);
  const rEnd = tcpEnd(ct, rd);
  const rMaxWin = tcpMaxWin(ct, rd);
  const seqOk = before(seq, sMaxEnd + 1);
  if (!seqOk) {
    const overshot = end - sMaxEnd + 1;
    const ackOk = after(sack, rEnd - maxAckWindow(ct, sd) - 1);
    const inRecvWin = rMaxWin != 0 && after(end, sEnd - rMaxWin - 1);
    if (inRecvWin && ackOk && overshot <= rMaxWin && before(sack, rEnd + 1)) {
      // the peer sent more than the window allowed: let the ACK of it through later
      tcpSetEnd(ct, sd, end);
      tcpSetFlags(ct, sd, tcpFlags(ct, sd) | TCPF_DATA_UNACKNOWLEDGED);
      return logInvalid(ct, sd, WIN_IGNORE);
    }
    return logInvalid(ct, sd, WIN_INVALID); // SEQ is over the upper bound
  }
  if (!before(sack, rEnd + 1)) return logInvalid(ct, sd, WIN_INVALID); // ACK over upper bound
  const inRecvWin = rMaxWin == 0 || after(end, sEnd - rMaxWin - 1);
  if (!inRecvWin) return logInvalid(ct, sd, WIN_IGNORE); // SEQ under lower bound (retransmitted)
  if (!after(sack, rEnd - maxAckWindow(ct, sd) - 1)) return logInvalid(ct, sd, WIN_IGNORE); // ACK under lower bound

  // window scaling (RFC 1323)
  if (!(flags & SYN)) win <<= tcpScale(ct, sd);

  // update sender data
  const swin = win + (sack - ack);
  if (tcpMaxWin(ct, sd) < swin) tcpSetMaxWin(ct, sd, swin);
  let sFlags = tcpFlags(ct, sd);
  if (after(end, sEnd)) {
    tcpSetEnd(ct, sd, end);
    sFlags |= TCPF_DATA_UNACKNOWLEDGED;
  }
  if (flags & ACK) {
    if (!(sFlags & TCPF_MAXACK_SET)) {
      tcpSetMaxAck(ct, sd, ack);
      sFlags |= TCPF_MAXACK_SET;
    } else if (after(ack, tcpMaxAck(ct, sd))) {
      tcpSetMaxAck(ct, sd, ack);
    }
  }
  tcpSetFlags(ct, sd, sFlags);
  // update receiver data
  if (rMaxWin != 0 && after(end, sMaxEnd)) {
    tcpSetMaxWin(ct, rd, rMaxWin + (end - sMaxEnd));
  }
  if (after(sack + win, tcpMaxEnd(ct, rd) - 1)) {
    tcpSetMaxEnd(ct, rd, sack + win + (win == 0 ? 1 : 0));
  }
  if (ack == tcpEnd(ct, rd)) {
    tcpSetFlags(ct, rd, tcpFlags(ct, rd) & ~TCPF_DATA_UNACKNOWLEDGED);
  }
  // check retransmissions
  if (index == TCP_ACK_SET) {
    // a repeat (same direction, seq, ack, end, window) counts retrans++, else the packet is noted and retrans = 0;
    // without branches (whether the previous packet went the same way is unpredictable): a repeat already has
    // the noted values, so writing them again changes nothing
    // (last_seq and last_ack in one word, last_end - last_seq and last_win in another: tcpLastNote)
    const lenWin = tcpLastLenWin(ct);
    const same = <u32>(tcpLastDir(ct) == dir) & <u32>(tcpLastSeqAck(ct) == ((<u64>ack << 32) | <u64>seq)) &
      <u32>((lenWin & 0xffff) == end - seq) & <u32>((lenWin >> 16) == winRaw);
    tcpSetRetrans(ct, select<u32>((tcpRetrans(ct) + 1) & 0xff, 0, same != 0)); // u8 retrans++
    // last_dir = dir: written with the state by nf_conntrack_tcp_packet (tcpSetStateLast) once this returns
    tcpSetLastNote(ct, seq, ack, end, winRaw);
  }
  return WIN_ACCEPT;
}

/** nf_tcp_handle_invalid: shrink the timeout of an assured entry on an out-of-window FIN/RST answering one. */
function handleInvalid(idx: u32, ct: usize, dir: u32, index: u32): void {
  const st = ctStatus(ct);
  if (!(st & IPS_ASSURED) || (st & IPS_FIXED_TIMEOUT) != 0) return;
  if (index != TCP_RST_SET && index != TCP_FIN_SET) return;
  const lastIndex = tcpLastIndex(ct);
  if (tcpLastDir(ct) != dir && (lastIndex == TCP_FIN_SET || lastIndex == TCP_RST_SET)) {
    const expires = ctTimeout(idx) - nfctTime();
    if (<i32>expires < <i32>(120 * hz)) return;
    const timeout = tcpTimeout(TCP_CONNTRACK_UNACK);
    if (expires > timeout) ctSetTimeout(idx, timeout + nfctTime());
  } else {
    tcpSetLastIndex(ct, index);
    tcpSetLastDir(ct, dir);
  }
}

/** nf_conntrack_tcp_established */
// @ts-ignore: decorator
@inline function established(ct: usize): bool {
  return ctState(ct) == <u32>sES && (ctStatus(ct) & IPS_ASSURED) != 0;
}

/** tcp_can_early_drop */
export function tcpCanEarlyDrop(ct: usize): bool {
  const s = ctState(ct);
  return s == <u32>sFW || s == <u32>sLA || s == <u32>sTW || s == <u32>sCL || s == <u32>sCW;
}

/**
 * nf_conntrack_tcp_packet for entry `idx` at `ct`, direction `dir` (0
 * original, 1 reply). Returns NF_ACCEPT, NF_INVALID (-NF_ACCEPT), NF_DROP
 * or NF_REPEAT (the entry was killed: look up again).
 */
// @ts-ignore: decorator
@inline
export function tcpPacket(idx: u32, ct: usize, p: usize, dir: u32): i32 {
  if (tcpError(p)) return NF_INVALID;
  // an unconfirmed entry belongs to the one packet that created it
  if (!(ctStatus(ct) & IPS_CONFIRMED) && !tcpNew(ct, p)) return NF_INVALID;
  const flags = <u32>load<u8>(p, PKT_TCPFLAGS);
  let oldState = ctState(ct);
  const index = conntrackIndex(flags);
  let newState = <u32>unchecked(TRANSITIONS[dir * 60 + index * 10 + oldState]);

  let skipWindow = false;
  // the switch (new_state) of nf_conntrack_tcp_packet
  if (newState == sSS) {
    if (oldState >= sTW) {
      // reopen of a closed or aborted connection?
      if (((tcpFlags(ct, dir) | tcpFlags(ct, dir ^ 1)) & TCPF_CLOSE_INIT) != 0 ||
          (tcpLastDir(ct) == dir && tcpLastIndex(ct) == TCP_RST_SET)) {
        ctKill(idx);
        return NF_REPEAT;
      }
      newState = sIG; // fall through to the IGNORE handling
    }
  }
  if (newState == sES) {
    // ESTABLISHED, the common case, has no case of its own
  } else if (newState == sIG) {
    if (index == TCP_SYNACK_SET && tcpLastIndex(ct) == TCP_SYN_SET &&
        tcpLastDir(ct) != dir && load<u32>(p, PKT_ACK) == tcpLastEnd(ct)) {
      // b) this SYN/ACK acknowledges a SYN we ignored: get in sync from what we noted
      oldState = sSS;
      newState = sSR;
      const ld = tcpLastDir(ct);
      const lastEnd = tcpLastEnd(ct);
      tcpSetEnd(ct, ld, lastEnd);
      tcpSetMaxEnd(ct, ld, lastEnd);
      const lw = tcpLastWin(ct);
      tcpSetMaxWin(ct, ld, lw == 0 ? 1 : lw);
      tcpSetScale(ct, ld, tcpLastWscale(ct));
      tcpSetLastFlags(ct, tcpLastFlags(ct) & ~TCPF_EXP_CHALLENGE_ACK);
      tcpSetFlags(ct, ld, tcpLastFlags(ct));
      // nf_ct_tcp_state_reset(&seen[dir])
      tcpSeenClear(ct, dir, TCPF_BE_LIBERAL);
    } else {
      const seq = load<u32>(p, PKT_SEQ);
      tcpSetLastIndex(ct, index);
      tcpSetLastDir(ct, dir);
      tcpSetLastSeqEnd(ct, seq, segmentEnd(p, seq, flags));
      tcpSetLastWin(ct, <u32>load<u16>(p, PKT_WIN));
      if (index == TCP_SYN_SET && dir == 0) {
        // a) a SYN in ORIGINAL: note its options; the server's answer syncs us
        let lf: u32 = 0;
        tcpSetLastWscale(ct, 0);
        if (doffOf(p) > 5) {
          const ws = <u32>load<u8>(p, PKT_TCP_WSCALE);
          if (ws != 0) {
            lf |= TCPF_WINDOW_SCALE;
            tcpSetLastWscale(ct, min<u32>(ws - 1, 14));
          }
          if (load<u8>(p, PKT_TCP_OPTS) & TO_SACK_PERM) lf |= TCPF_SACK_PERM;
        }
        if (oldState == sLA) lf |= TCPF_EXP_CHALLENGE_ACK;
        tcpSetLastFlags(ct, lf);
      }
      // possible challenge ACK reply to a SYN
      if (oldState == sSS && index == TCP_ACK_SET && dir == 1) tcpSetLastAck(ct, load<u32>(p, PKT_ACK));
      return NF_ACCEPT; // ignored: no state change, no timeout refresh
    }
  } else if (newState == sIV) {
    return NF_INVALID;
  } else if (newState == sTW) {
    // RFC 5961 challenge ACK must not be taken as the last ACK
    if (oldState == sLA && index == TCP_ACK_SET && tcpLastDir(ct) != dir &&
        tcpLastIndex(ct) == TCP_SYN_SET && (tcpLastFlags(ct) & TCPF_EXP_CHALLENGE_ACK) != 0) {
      tcpSetLastFlags(ct, tcpLastFlags(ct) & ~TCPF_EXP_CHALLENGE_ACK);
      return NF_ACCEPT;
    }
  } else if (newState == sS2) {
    tcpSetLastFlags(ct, tcpLastFlags(ct) | TCPF_SIMULTANEOUS_OPEN);
  } else if (newState == sSR) {
    if (dir == 1 && index == TCP_ACK_SET && (tcpLastFlags(ct) & TCPF_SIMULTANEOUS_OPEN) != 0) newState = sES;
  } else if (newState == sCL) {
    if (index == TCP_RST_SET) {
      if (tcpCanEarlyDrop(ct)) {
        skipWindow = true;
      } else {
        let done = false;
        const other = dir ^ 1;
        if ((tcpFlags(ct, other) & TCPF_MAXACK_SET) != 0 && tcpLastIndex(ct) != TCP_SYN_SET) {
          const seq = load<u32>(p, PKT_SEQ);
          if (seq == 0 && !established(ct)) {
            done = true; // answer to a SYN we let through
          } else {
            if (before(seq, tcpMaxAck(ct, other)) && !tcpIgnoreInvalidRst) return NF_INVALID; // invalid RST
            if (!established(ct) || seq == tcpMaxAck(ct, other)) {
              done = true;
            } else if (tcpLastIndex(ct) == TCP_ACK_SET && tcpLastDir(ct) == dir && seq == tcpLastEnd(ct)) {
              done = true; // RST in a train
            } else {
              newState = oldState; // keep the state for a possible challenge ACK
            }
          }
        }
        if (!done) {
          const st = ctStatus(ct);
          const li = tcpLastIndex(ct);
          if ((((st & IPS_SEEN_REPLY) != 0 && li == TCP_SYN_SET) || ((st & IPS_ASSURED) == 0 && li == TCP_ACK_SET)) &&
              load<u32>(p, PKT_ACK) == tcpLastEnd(ct)) {
            skipWindow = true; // RST to a SYN/ACK we let through at a) or c)
          } else if (oldState == sSS && li == TCP_ACK_SET && tcpLastDir(ct) == 1 &&
                     load<u32>(p, PKT_SEQ) == tcpLastAck(ct)) {
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
      handleInvalid(idx, ct, dir, index);
      return NF_INVALID;
    }
  }
  // in_window: from now on we have in-window packets (last_index, last_dir and state in one write)
  tcpSetStateLast(ct, newState, index, dir);
  if (oldState != newState && newState == sFW) {
    tcpSetFlags(ct, dir, tcpFlags(ct, dir) | TCPF_CLOSE_INIT);
  }
  let timeout: u32;
  const stateTimeout = tcpTimeout(newState);
  if (tcpRetrans(ct) >= tcpMaxRetrans && stateTimeout > tcpTimeout(TCP_CONNTRACK_RETRANS)) {
    timeout = tcpTimeout(TCP_CONNTRACK_RETRANS);
  } else if (index == TCP_RST_SET) {
    timeout = tcpTimeout(sCL);
  } else if (((tcpFlags(ct, 0) | tcpFlags(ct, 1)) & TCPF_DATA_UNACKNOWLEDGED) != 0 &&
             stateTimeout > tcpTimeout(TCP_CONNTRACK_UNACK)) {
    timeout = tcpTimeout(TCP_CONNTRACK_UNACK);
  } else if (tcpLastWin(ct) == 0 && stateTimeout > tcpTimeout(TCP_CONNTRACK_RETRANS)) {
    timeout = tcpTimeout(TCP_CONNTRACK_RETRANS);
  } else {
    timeout = stateTimeout;
  }

  const st = ctStatus(ct);
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
    ctStatusSet(ct, IPS_ASSURED);
  }
  ctRefresh(idx, ct, timeout);
  return NF_ACCEPT;
}

export { NF_DROP };
