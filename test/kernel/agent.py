#!/usr/bin/env python3
"""nodeplane kernel-differential harness agent (Python 3 standard library only).

JSON lines on stdin/stdout, one request -> one response. Exits when stdin closes.

  agent.py --capture   (world ns) capture on every non-loopback interface, send frames
  agent.py             (node ns)  send locally generated packets with real sockets

Requests:
  {"op":"now"}                                    -> {"ok":true,"now":N}
  {"op":"send","frames":[{"ifname","hex"}],"gapUs":200}
                                                  -> {"ok":true,"sent":[{"tNs":N}|{"error":"E"}]}
  {"op":"collect","sinceNs":N,"afterNs":N,"quietMs":150,"maxWaitMs":3000}
                                                  -> {"ok":true,"frames":[{"ifname","tNs","hex"}]}
  {"op":"local","packets":[...],"gapUs":200}      -> {"ok":true,"results":[{"id","tNs","error"?,"src"?,"sport"?}]}
Any failure -> {"ok":false,"error":"..."}.
"""
import errno
import json
import os
import select
import socket
import struct
import sys
import threading
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_MARK = 36
SO_BINDTODEVICE = 25
SO_RCVBUFFORCE = 33
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2


def errname(e):
    if isinstance(e, OSError) and e.errno is not None:
        return errno.errorcode.get(e.errno, "E%d" % e.errno)
    return type(e).__name__ + ": " + str(e)


class Capture:
    def __init__(self):
        self.cond = threading.Condition()
        self.frames = []  # (tNs, ifname, bytes)
        self.last_ns = 0
        self.socks = {}
        for _, name in socket.if_nameindex():
            if name == "lo":
                continue
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            try:
                s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
            except OSError:
                pass
            s.bind((name, ETH_P_ALL))
            s.setblocking(False)
            self.socks[name] = s
        self.by_fd = {s.fileno(): s for s in self.socks.values()}
        t = threading.Thread(target=self.run, daemon=True)
        t.start()

    def run(self):
        poller = select.poll()
        for fd in self.by_fd:
            poller.register(fd, select.POLLIN)
        while True:
            for fd, ev in poller.poll():
                if ev & (select.POLLHUP | select.POLLNVAL):
                    poller.unregister(fd)
                    continue
                s = self.by_fd[fd]
                got = []
                while True:
                    try:
                        data, addr = s.recvfrom(65535)
                    except BlockingIOError:
                        break
                    except OSError:
                        break
                    now = time.monotonic_ns()
                    if addr[2] == PACKET_OUTGOING:
                        continue
                    got.append((now, addr[0], data))
                if got:
                    with self.cond:
                        self.frames.extend(got)
                        self.last_ns = max(self.last_ns, got[-1][0])
                        self.cond.notify_all()

    def send(self, frames, gap_us):
        out = []
        for i, f in enumerate(frames):
            if i and gap_us > 0:
                pause(gap_us)
            s = self.socks.get(f["ifname"])
            if s is None:
                out.append({"error": "ENODEV"})
                continue
            data = bytes.fromhex(f["hex"])
            t = time.monotonic_ns()
            try:
                s.send(data)
                out.append({"tNs": t})
            except OSError as e:
                out.append({"tNs": t, "error": errname(e)})
        return out

    def collect(self, since_ns, after_ns, quiet_ms, max_wait_ms):
        quiet = int(quiet_ms * 1e6)
        deadline = time.monotonic_ns() + int(max_wait_ms * 1e6)
        with self.cond:
            while True:
                now = time.monotonic_ns()
                last = max(self.last_ns, after_ns)
                if now - last >= quiet or now >= deadline:
                    break
                wait = min(quiet - (now - last), deadline - now)
                self.cond.wait(max(wait, 1000) / 1e9)
            frames = [f for f in self.frames if f[0] >= since_ns]
            # consumed: forget everything up to now
            self.frames = []
        return [{"ifname": n, "tNs": t, "hex": d.hex()} for (t, n, d) in frames]


def pause(us):
    # sleep (not spin): the capture thread needs the GIL to timestamp frames promptly
    time.sleep(us / 1e6)


def inet_sum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


PROTOS = {"tcp": 6, "udp": 17, "icmp": 1}


def send_local(p):
    res = {"id": p.get("id")}
    proto = p.get("proto", "udp")
    proto = PROTOS.get(proto, proto)
    uid = p.get("uid")
    s = None
    try:
        if uid is not None and proto not in (6, 17):
            res["error"] = "UNSUPPORTED_UID"
            return res
        if uid is not None:
            os.seteuid(uid)
        try:
            if proto == 17:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            elif proto == 6:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)
        finally:
            if uid is not None:
                os.seteuid(0)
        if p.get("mark") is not None:
            s.setsockopt(socket.SOL_SOCKET, SO_MARK, p["mark"])
        if p.get("oif") is not None:
            s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, p["oif"].encode())
        if p.get("ttl") is not None:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, p["ttl"])
        if p.get("tos") is not None:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, p["tos"])
        if p.get("df") is not None:
            s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if p["df"] else IP_PMTUDISC_DONT)
        if proto == 6:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if p.get("src") is not None or p.get("sport"):
            try:
                s.bind((p.get("src") or "0.0.0.0", p.get("sport") or 0))
            except OSError as e:
                res["error"] = errname(e)
                res["stage"] = "bind"
                return res
        dst = p["dst"]
        dport = p.get("dport") or 0
        ln = p.get("len")
        t = time.monotonic_ns()
        res["tNs"] = t
        try:
            if proto == 17:
                n = 28 if ln is None else ln
                s.sendto(b"\0" * max(0, n - 28), (dst, dport))
            elif proto == 6:
                s.setblocking(False)
                rc = s.connect_ex((dst, dport))
                if rc not in (0, errno.EINPROGRESS):
                    res["error"] = errno.errorcode.get(rc, "E%d" % rc)
            elif proto == 1:
                n = 28 if ln is None else ln
                typ = p.get("icmpType", 8)
                code = p.get("icmpCode", 0)
                if p.get("icmpRest") is not None:
                    rest = p["icmpRest"] & 0xFFFFFFFF
                else:
                    rest = ((p.get("icmpId", 0) & 0xFFFF) << 16) | (p.get("icmpSeq", 0) & 0xFFFF)
                body = struct.pack("!BBHI", typ, code, 0, rest) + b"\0" * max(0, n - 28)
                c = inet_sum(body)
                body = body[:2] + struct.pack("!H", c) + body[4:]
                s.sendto(body, (dst, 0))
            else:
                n = 20 if ln is None else ln
                s.sendto(b"\0" * max(0, n - 20), (dst, 0))
        except OSError as e:
            res["error"] = errname(e)
            res["stage"] = "send"
        try:
            a = s.getsockname()
            res["src"] = a[0]
            if proto in (6, 17):
                res["sport"] = a[1]
        except OSError:
            pass
        return res
    except OSError as e:
        res["error"] = errname(e)
        res["stage"] = "socket"
        return res
    finally:
        if s is not None:
            s.close()


def main():
    cap = Capture() if "--capture" in sys.argv[1:] else None
    out = sys.stdout
    out.write(json.dumps({"ok": True, "ready": True, "ifaces": sorted(cap.socks) if cap else []}) + "\n")
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "now":
                resp = {"ok": True, "now": time.monotonic_ns()}
            elif op == "send":
                if cap is None:
                    raise RuntimeError("this agent does not capture/send frames")
                resp = {"ok": True, "sent": cap.send(req["frames"], req.get("gapUs", 200))}
            elif op == "collect":
                if cap is None:
                    raise RuntimeError("this agent does not capture frames")
                resp = {"ok": True, "frames": cap.collect(req.get("sinceNs", 0), req.get("afterNs", 0),
                                                          req.get("quietMs", 150), req.get("maxWaitMs", 3000))}
            elif op == "local":
                gap = req.get("gapUs", 200)
                results = []
                for i, p in enumerate(req["packets"]):
                    if i and gap > 0:
                        pause(gap)
                    results.append(send_local(p))
                resp = {"ok": True, "results": results}
            else:
                raise RuntimeError("unknown op %r" % (op,))
        except Exception as e:  # report, keep serving
            resp = {"ok": False, "error": type(e).__name__ + ": " + str(e)}
        out.write(json.dumps(resp) + "\n")
        out.flush()


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
