/**
 * The node's own connections: sockets a local process sends from.
 *
 * A process that sends TCP or UDP has a socket bound to its source address
 * and port: tcp_v4_connect hashes it into the established hash with both
 * ends (inet_hash_connect), udp_sendmsg binds it (inet_autobind) before the
 * datagram is built. A segment or datagram that comes back for that socket
 * is delivered to it (__inet_lookup_established, __udp4_lib_lookup) before
 * any listener is looked at, so the kernel answers it with no reset and no
 * port unreachable. The snapshot's `ss.txt` lists listeners only: this table
 * adds the connections the replayed packets show the node making.
 *
 * What is modelled of a socket's life (the process itself is not visible):
 * a TCP socket is made by the first segment its process sends on the
 * four-tuple (a SYN, or any segment of a connection already open when the
 * replay began) and ends when its process sends a reset, when a reset is
 * delivered to it (tcp_reset -> tcp_done), or TCP_TIMEWAIT_LEN (60 s) after
 * its process sent a FIN (FIN_WAIT and TIME_WAIT sockets still answer their
 * peer: inet_twsk in the established hash). A UDP socket, whose close a
 * replay cannot see, stays for the rest of the replay and takes datagrams
 * from the peer it sent to (a connected socket; what an unconnected one would
 * take from other peers is not modelled).
 *
 * Layout: open addressing with linear probing, SLOT bytes a slot
 * (laddr u32 @0, raddr u32 @4, lport u16 @8, rport u16 @10, proto u8 @12,
 * FIN sent u8 @13, FIN jiffies i64 @16); proto 0 is an empty slot; removal
 * shifts the rest of the run back (no tombstones).
 */
import { zalloc, release } from "../util/mem";
import { fmix32 } from "../util/hash";
import { jiffies } from "./clock";
import { hz } from "../config";
import { TH_FIN, TH_RST } from "../abi";

const SLOT: usize = 24;
const S_LADDR: usize = 0;
const S_RADDR: usize = 4;
const S_LPORT: usize = 8;
const S_RPORT: usize = 10;
const S_PROTO: usize = 12;
const S_FIN: usize = 13;
const S_FIN_AT: usize = 16;

/** TCP_TIMEWAIT_LEN, in seconds (the FIN_WAIT2 timeout tcp_fin_timeout is the same by default). */
const TIMEWAIT_SECONDS: i64 = 60;

/** False: every sender closes its socket right after sending (EngineOptions.senderSockets "closed"); configuration, not state. */
let keep = true;

export function connSocksKeep(on: bool): void {
  keep = on;
  if (!on) connSocksReset();
}

let slots: usize = 0;
let cap: u32 = 0;
let used: u32 = 0;

/** Forgets every connection (state_reset). */
export function connSocksReset(): void {
  release(slots);
  slots = 0;
  cap = 0;
  used = 0;
}

// @ts-ignore: decorator
@inline
function slotHash(proto: u32, laddr: u32, lport: u32, raddr: u32, rport: u32): u32 {
  return fmix32(laddr ^ fmix32(raddr ^ fmix32((lport << 16 | rport) ^ (proto << 24))));
}

/** The slot holding the connection, or 0. */
function find(proto: u32, laddr: u32, lport: u32, raddr: u32, rport: u32): usize {
  if (used == 0) return 0;
  const mask = cap - 1;
  let i = slotHash(proto, laddr, lport, raddr, rport) & mask;
  for (;;) {
    const s = slots + <usize>i * SLOT;
    const sp = <u32>load<u8>(s, S_PROTO);
    if (sp == 0) return 0;
    if (sp == proto && load<u32>(s, S_LADDR) == laddr && load<u32>(s, S_RADDR) == raddr &&
        <u32>load<u16>(s, S_LPORT) == lport && <u32>load<u16>(s, S_RPORT) == rport) return s;
    i = (i + 1) & mask;
  }
  return 0; // not reached: the table is never full
}

/** Removes the connection at slot `s`, moving back the entries of its run that its removal would hide. */
function removeAt(s: usize): void {
  const mask = cap - 1;
  let hole = <u32>((s - slots) / SLOT);
  let i = hole;
  for (;;) {
    i = (i + 1) & mask;
    const t = slots + <usize>i * SLOT;
    if (load<u8>(t, S_PROTO) == 0) break;
    const home = slotHash(<u32>load<u8>(t, S_PROTO), load<u32>(t, S_LADDR), <u32>load<u16>(t, S_LPORT),
      load<u32>(t, S_RADDR), <u32>load<u16>(t, S_RPORT)) & mask;
    // t may fill the hole when its home is not cyclically within (hole, i]
    const dHome = (i - home) & mask;
    const dHole = (i - hole) & mask;
    if (dHome >= dHole) {
      memory.copy(slots + <usize>hole * SLOT, t, SLOT);
      hole = i;
    }
  }
  memory.fill(slots + <usize>hole * SLOT, 0, SLOT);
  used--;
}

function insert(proto: u32, laddr: u32, lport: u32, raddr: u32, rport: u32): usize {
  if ((used + 1) * 2 > cap) rehash(cap == 0 ? 64 : cap * 2);
  const mask = cap - 1;
  let i = slotHash(proto, laddr, lport, raddr, rport) & mask;
  for (;;) {
    const s = slots + <usize>i * SLOT;
    if (load<u8>(s, S_PROTO) == 0) {
      store<u32>(s, laddr, S_LADDR);
      store<u32>(s, raddr, S_RADDR);
      store<u16>(s, <u16>lport, S_LPORT);
      store<u16>(s, <u16>rport, S_RPORT);
      store<u8>(s, <u8>proto, S_PROTO);
      used++;
      return s;
    }
    i = (i + 1) & mask;
  }
  return 0; // not reached: the table is never full
}

function rehash(newCap: u32): void {
  const old = slots, oldCap = cap;
  slots = zalloc(<usize>newCap * SLOT);
  cap = newCap;
  used = 0;
  for (let i: u32 = 0; i < oldCap; i++) {
    const o = old + <usize>i * SLOT;
    if (load<u8>(o, S_PROTO) == 0) continue;
    const s = insert(<u32>load<u8>(o, S_PROTO), load<u32>(o, S_LADDR), <u32>load<u16>(o, S_LPORT),
      load<u32>(o, S_RADDR), <u32>load<u16>(o, S_RPORT));
    memory.copy(s + S_FIN, o + S_FIN, SLOT - S_FIN);
  }
  release(old);
}

/**
 * A local process sends `proto` (6 or 17) from laddr:lport to raddr:rport
 * (the source output routing chose), with TCP flags `tcpFlags`: its socket
 * exists from now on, or (a reset) no longer does.
 */
export function connSockSend(proto: u32, laddr: u32, lport: u32, raddr: u32, rport: u32, tcpFlags: u32): void {
  if (!keep) return;
  let s = find(proto, laddr, lport, raddr, rport);
  if (proto == 6 && (tcpFlags & TH_RST) != 0) {
    // tcp_send_active_reset, then tcp_done: unhashed
    if (s != 0) removeAt(s);
    return;
  }
  if (s != 0 && proto == 6 && load<u8>(s, S_FIN) != 0 && expired(s)) {
    // a new connection on the four-tuple after the old one's TIME_WAIT ended
    removeAt(s);
    s = 0;
  }
  if (s == 0) s = insert(proto, laddr, lport, raddr, rport);
  if (proto == 6 && (tcpFlags & TH_FIN) != 0 && load<u8>(s, S_FIN) == 0) {
    store<u8>(s, 1, S_FIN);
    store<i64>(s, jiffies(), S_FIN_AT);
  }
}

// @ts-ignore: decorator
@inline
function expired(s: usize): bool {
  return jiffies() - load<i64>(s, S_FIN_AT) >= TIMEWAIT_SECONDS * <i64>hz;
}

/**
 * A packet for laddr:lport from raddr:rport (after NAT: the addresses the
 * socket was made with) arrives for local delivery: true when a socket of
 * the node's own connections takes it. A TCP reset delivered to it ends it.
 */
export function connSockDeliver(proto: u32, laddr: u32, lport: u32, raddr: u32, rport: u32, tcpFlags: u32): bool {
  const s = find(proto, laddr, lport, raddr, rport);
  if (s == 0) return false;
  if (proto == 6) {
    if (load<u8>(s, S_FIN) != 0 && expired(s)) { removeAt(s); return false; }
    if ((tcpFlags & TH_RST) != 0) removeAt(s); // tcp_reset -> tcp_done
  }
  return true;
}
