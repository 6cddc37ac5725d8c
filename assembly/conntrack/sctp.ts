/**
 * The SCTP tracker (net/netfilter/nf_conntrack_proto_sctp.c): the
 * association's state as seen from the middle (CLOSED, COOKIE_WAIT,
 * COOKIE_ECHOED, ESTABLISHED, the three SHUTDOWN states, HEARTBEAT_SENT),
 * driven chunk by chunk through the kernel's transition table, with the
 * verification-tag checks of RFC 9260 section 8.5 as the kernel applies
 * them. The packet's chunk list comes from the descriptor (PKT_SCTP_*,
 * abi.ts); the entry's state and tags are in its TCP-pool record
 * (entry.ts).
 */
import { ipHdrLen } from "../util/ip";
import {
  PKT_LEN, PKT_SCTP_VTAG, PKT_SCTP_INIT_TAG, PKT_SCTP_NCHUNKS, PKT_SCTP_CHUNKS, PKT_SCTP_TFLAGS,
  PKT_SCTP_ZEROLEN, PKT_SCTP_FLAGS, SCTPF_NO_INITHDR, SCTP_MAX_CHUNKS, PKT_L4_BYTES,
  IPS_CONFIRMED, IPS_ASSURED,
  SCTP_CONNTRACK_NONE, SCTP_CONNTRACK_CLOSED, SCTP_CONNTRACK_ESTABLISHED, SCTP_CONNTRACK_MAX,
} from "../abi";
import { ctStatus, ctStatusSet, ctState, sctpSetState, sctpVtag, sctpSetVtag, sctpBits, sctpSetBits } from "./entry";
import { sctpTimeout } from "./config";
import { NF_ACCEPT, NF_INVALID, ctRefresh } from "./verdict";

// chunk types (include/linux/sctp.h enum sctp_cid)
const CID_DATA: u32 = 0;
const CID_INIT: u32 = 1;
const CID_INIT_ACK: u32 = 2;
const CID_HEARTBEAT: u32 = 4;
const CID_HEARTBEAT_ACK: u32 = 5;
const CID_ABORT: u32 = 6;
const CID_SHUTDOWN_ACK: u32 = 8;
const CID_COOKIE_ECHO: u32 = 10;
const CID_COOKIE_ACK: u32 = 11;
const CID_SHUTDOWN_COMPLETE: u32 = 14;

/** ip_ct_sctp bits (entry.ts): init[dir] is bit dir. */
const B_HB_VTAG_FAILED: u32 = 4;
const B_LAST_DIR: u32 = 8;

// states, short names as in the kernel's table
const sNO: u8 = <u8>SCTP_CONNTRACK_NONE;
const sCL: u8 = 1, sCW: u8 = 2, sCE: u8 = 3, sES: u8 = 4, sSS: u8 = 5, sSR: u8 = 6, sSA: u8 = 7, sHS: u8 = 8;
const sIV: u8 = <u8>SCTP_CONNTRACK_MAX;

/**
 * sctp_conntracks[dir][chunk row][state]: the kernel's transition table
 * (rows: init, init_ack, abort, shutdown, shutdown_ack, error, cookie_echo,
 * cookie_ack, shutdown_comp, heartbeat, heartbeat_ack; columns sNO..sHS).
 */
const TRANSITIONS: StaticArray<u8> = [
  // ORIGINAL
  sCL, sCL, sCW, sCE, sES, sCL, sCL, sSA, sCW,
  sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL,
  sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
  sCL, sCL, sCW, sCE, sSS, sSS, sSR, sSA, sCL,
  sSA, sCL, sCW, sCE, sES, sSA, sSA, sSA, sSA,
  sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL,
  sCL, sCL, sCE, sCE, sES, sSS, sSR, sSA, sCL,
  sCL, sCL, sCW, sES, sES, sSS, sSR, sSA, sCL,
  sCL, sCL, sCW, sCE, sES, sSS, sSR, sCL, sCL,
  sHS, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS,
  sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS,
  // REPLY
  sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sIV,
  sIV, sCW, sCW, sCE, sES, sSS, sSR, sSA, sIV,
  sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sIV,
  sIV, sCL, sCW, sCE, sSR, sSS, sSR, sSA, sIV,
  sIV, sCL, sCW, sCE, sES, sSA, sSA, sSA, sIV,
  sIV, sCL, sCW, sCL, sES, sSS, sSR, sSA, sIV,
  sIV, sCL, sCE, sCE, sES, sSS, sSR, sSA, sIV,
  sIV, sCL, sCW, sES, sES, sSS, sSR, sSA, sIV,
  sIV, sCL, sCW, sCE, sES, sSS, sSR, sCL, sIV,
  sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS,
  sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sES,
];

/** The table row of a chunk type, -1 for chunks that leave the state alone (DATA, SACK, ...). */
function chunkRow(type: u32): i32 {
  switch (type) {
    case 1: return 0; // INIT
    case 2: return 1; // INIT_ACK
    case 6: return 2; // ABORT
    case 7: return 3; // SHUTDOWN
    case 8: return 4; // SHUTDOWN_ACK
    case 9: return 5; // ERROR
    case 10: return 6; // COOKIE_ECHO
    case 11: return 7; // COOKIE_ACK
    case 14: return 8; // SHUTDOWN_COMPLETE
    case 4: return 9; // HEARTBEAT
    case 5: return 10; // HEARTBEAT_ACK
    default: return -1;
  }
}

/** sctp_new_state */
function newState(dir: u32, cur: u32, type: u32): u32 {
  const row = chunkRow(type);
  if (row < 0) return cur;
  return <u32>unchecked(TRANSITIONS[(<i32>dir * 11 + row) * 9 + <i32>cur]);
}

// @ts-ignore: decorator
@inline function chunkType(p: usize, i: u32): u32 { return <u32>load<u8>(p + PKT_SCTP_CHUNKS + <usize>i); }
// @ts-ignore: decorator
@inline function chunkT(p: usize, i: u32): bool { return ((<u32>load<u8>(p, PKT_SCTP_TFLAGS) >> i) & 1) != 0; }
// @ts-ignore: decorator
@inline function bit(type: u32): u32 { return type < 32 ? <u32>1 << type : 0; }

/**
 * do_basic_checks: at least one chunk, none of zero length, COOKIE_ECHO and
 * COOKIE_ACK only first, INIT, INIT_ACK and SHUTDOWN_COMPLETE only alone.
 * Returns the set of chunk types present (bit per type below 32, the only
 * ones the tracker tests) with bit 31 set on failure.
 */
function basicChecks(p: usize): u32 {
  const n = <u32>load<u8>(p, PKT_SCTP_NCHUNKS);
  if (n == 0) return 1 << 31;
  const zero = <u32>load<u8>(p, PKT_SCTP_ZEROLEN);
  let flag = false;
  let map: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const type = chunkType(p, i);
    if (type == CID_INIT || type == CID_INIT_ACK || type == CID_SHUTDOWN_COMPLETE) flag = true;
    if (((type == CID_COOKIE_ACK || type == CID_COOKIE_ECHO || flag) && i != 0) || ((zero >> i) & 1) != 0) return 1 << 31;
    map |= bit(type);
  }
  return map;
}

/** sctp_new: the first packet of an entry, in the original direction from state NONE. */
function sctpNew(ct: usize, p: usize): bool {
  sctpSetVtag(ct, 0, 0);
  sctpSetVtag(ct, 1, 0);
  sctpSetBits(ct, 0);
  sctpSetState(ct, SCTP_CONNTRACK_NONE);
  const n = <u32>load<u8>(p, PKT_SCTP_NCHUNKS);
  const vtag = load<u32>(p, PKT_SCTP_VTAG);
  for (let i: u32 = 0; i < n; i++) {
    const type = chunkType(p, i);
    const st = newState(0, SCTP_CONNTRACK_NONE, type);
    if (st == <u32>SCTP_CONNTRACK_NONE || st == <u32>SCTP_CONNTRACK_MAX) return false;
    if (type == CID_INIT) {
      if (vtag != 0) return false; // 8.5.1 (A)
      if ((<u32>load<u8>(p, PKT_SCTP_FLAGS) & SCTPF_NO_INITHDR) != 0) return false;
      sctpSetVtag(ct, 1, load<u32>(p, PKT_SCTP_INIT_TAG));
    } else if (type == CID_HEARTBEAT) {
      sctpSetVtag(ct, 0, vtag);
    } else if (type == CID_SHUTDOWN_ACK) {
      sctpSetVtag(ct, 1, vtag); // OOTB SHUTDOWN ACK: expect a SHUTDOWN COMPLETE back (8.4 (5))
    }
  }
  return true;
}

/**
 * nf_conntrack_sctp_packet. `dir` is the packet's direction; `bad` says
 * sctp_error found the packet short or its CRC32c wrong (checked only at
 * PREROUTING with nf_conntrack_checksum on, as for the other protocols).
 * Returns NF_ACCEPT or NF_INVALID (the entry is not used: -NF_ACCEPT).
 */
export function sctpPacket(idx: u32, ct: usize, p: usize, dir: u32, bad: bool): i32 {
  // sctp_error: "short packet" (under the 12-byte common header, PKT_L4_BYTES), "bad CRC"
  if (load<u8>(p, PKT_L4_BYTES) != 0 || <u32>load<u16>(p, PKT_LEN) < ipHdrLen(p) + 12 || bad) return NF_INVALID;
  const map = basicChecks(p);
  if ((map & (1 << 31)) != 0) return NF_INVALID;
  const confirmed = (ctStatus(ct) & IPS_CONFIRMED) != 0;
  if (!confirmed) {
    // an out-of-the-blue packet with these chunks is discarded (8.4)
    if ((map & (bit(CID_ABORT) | bit(CID_SHUTDOWN_COMPLETE) | bit(CID_COOKIE_ACK))) != 0) return NF_INVALID;
    if (!sctpNew(ct, p)) return NF_INVALID;
  }
  const vtag = load<u32>(p, PKT_SCTP_VTAG);
  const exempt = bit(CID_INIT) | bit(CID_SHUTDOWN_COMPLETE) | bit(CID_COOKIE_ECHO) | bit(CID_ABORT) |
    bit(CID_SHUTDOWN_ACK) | bit(CID_HEARTBEAT) | bit(CID_HEARTBEAT_ACK);
  if ((map & exempt) == 0 && vtag != sctpVtag(ct, dir)) return NF_INVALID; // 8.5
  const other = dir ^ 1;
  let oldState: u32 = SCTP_CONNTRACK_NONE;
  let state: u32 = SCTP_CONNTRACK_NONE;
  let ignore = false;
  const n = <u32>load<u8>(p, PKT_SCTP_NCHUNKS);
  for (let i: u32 = 0; i < n && i < <u32>SCTP_MAX_CHUNKS; i++) {
    const type = chunkType(p, i);
    let bits = sctpBits(ct);
    if (type == CID_INIT) {
      if (vtag != 0) return NF_INVALID; // 8.5.1 (A)
    } else if (type == CID_ABORT || type == CID_SHUTDOWN_COMPLETE) {
      // 8.5.1 (B), (C): our tag without the T flag, the peer's with it
      if (vtag != sctpVtag(ct, chunkT(p, i) ? other : dir)) return NF_INVALID;
    } else if (type == CID_COOKIE_ECHO) {
      if (vtag != sctpVtag(ct, dir)) return NF_INVALID; // 8.5.1 (D)
    } else if (type == CID_COOKIE_ACK) {
      sctpSetBits(ct, bits & ~3); // init[both] = 0
    } else if (type == CID_HEARTBEAT) {
      if (sctpVtag(ct, dir) == 0) {
        sctpSetVtag(ct, dir, vtag);
      } else if (vtag != sctpVtag(ct, dir)) {
        if ((map & bit(CID_DATA)) != 0 || ignore) return NF_INVALID;
        sctpSetBits(ct, (bits | B_HB_VTAG_FAILED) & ~B_LAST_DIR | (dir != 0 ? B_LAST_DIR : 0));
        ignore = true;
        continue;
      } else if ((bits & B_HB_VTAG_FAILED) != 0) {
        sctpSetBits(ct, bits & ~B_HB_VTAG_FAILED);
      }
    } else if (type == CID_HEARTBEAT_ACK) {
      if (sctpVtag(ct, dir) == 0) {
        sctpSetVtag(ct, dir, vtag);
      } else if (vtag != sctpVtag(ct, dir)) {
        if ((map & bit(CID_DATA)) != 0 || ignore) return NF_INVALID;
        const lastDir: u32 = (bits & B_LAST_DIR) != 0 ? 1 : 0;
        if ((bits & B_HB_VTAG_FAILED) == 0 || lastDir == dir) return NF_INVALID;
        sctpSetBits(ct, bits & ~B_HB_VTAG_FAILED);
        sctpSetVtag(ct, dir, vtag);
        sctpSetVtag(ct, other, 0);
      } else if ((bits & B_HB_VTAG_FAILED) != 0) {
        sctpSetBits(ct, bits & ~B_HB_VTAG_FAILED);
      }
    }

    oldState = ctState(ct);
    state = newState(dir, oldState, type);
    if (state == <u32>SCTP_CONNTRACK_MAX) return NF_INVALID;

    if (type == CID_INIT || type == CID_INIT_ACK) {
      if ((<u32>load<u8>(p, PKT_SCTP_FLAGS) & SCTPF_NO_INITHDR) != 0) return NF_INVALID;
      const initTag = load<u32>(p, PKT_SCTP_INIT_TAG);
      bits = sctpBits(ct);
      if (type == CID_INIT) {
        if ((bits & (1 << dir)) != 0 && (bits & (1 << other)) != 0) bits &= ~(<u32>1 << other);
        sctpSetBits(ct, bits | (<u32>1 << dir));
        sctpSetVtag(ct, other, initTag);
        // an INIT retransmitted in CLOSED does not renew the timeout (port reuse cannot keep the entry alive)
        if (state == <u32>SCTP_CONNTRACK_CLOSED && oldState == <u32>SCTP_CONNTRACK_CLOSED && confirmed) ignore = true;
      } else {
        const peerTag = sctpVtag(ct, other);
        const initOther = (bits & (1 << other)) != 0;
        const initDir = (bits & (1 << dir)) != 0;
        if (!initOther && peerTag != 0 && peerTag != initTag) return NF_INVALID;
        if (initDir && initOther && peerTag != initTag) return NF_INVALID; // collision
        sctpSetVtag(ct, other, initTag);
      }
    }

    sctpSetState(ct, state);
    if (oldState != state && state == <u32>SCTP_CONNTRACK_ESTABLISHED) ctStatusSet(ct, IPS_ASSURED);
  }
  if (ignore) return NF_ACCEPT; // allowed, timeout not refreshed
  ctRefresh(idx, ct, sctpTimeout(state));
  return NF_ACCEPT;
}
