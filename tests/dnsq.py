#!/usr/bin/env python3
"""Send DNS A queries concurrently, one UDP socket each, and report answers.

dnsq.py SERVER NAME [-n COUNT] [--sport PORT] [--timeout S] [--nocheck]
                    [--garbage]
Prints one line per query: "SPORT ANSWER-IP|-" and a last line
"answered N/COUNT"; exits 0 only if every query was answered.
--sport binds query i to PORT+i; --nocheck sends with a zero UDP checksum
(SO_NO_CHECK); --garbage sends a payload that is not DNS (no answer comes).
"""
import argparse
import random
import select
import socket
import struct
import sys
import time

SO_NO_CHECK = 11


def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)


def first_a(resp):
    """The first A record of a response, as dotted text, or None."""
    qd, an = struct.unpack(">HH", resp[4:8])
    off = 12
    for _ in range(qd):
        while resp[off]:
            off += resp[off] + 1
        off += 5
    for _ in range(an):
        if resp[off] & 0xC0 == 0xC0:
            off += 2
        else:
            while resp[off]:
                off += resp[off] + 1
            off += 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", resp[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(resp[off:off + 4])
        off += rdlen
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("name")
    ap.add_argument("-n", type=int, default=1)
    ap.add_argument("--sport", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--nocheck", action="store_true")
    ap.add_argument("--garbage", action="store_true")
    a = ap.parse_args()

    socks = {}
    for i in range(a.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if a.sport:
            # the same flow again after an earlier run's socket closed
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if a.nocheck:
            s.setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)
        s.bind(("0.0.0.0", a.sport + i if a.sport else 0))
        qid = random.randrange(65536)
        payload = b"\xffnot dns" if a.garbage else query(a.name, qid)
        s.sendto(payload, (a.server, 53))
        socks[s] = (s.getsockname()[1], qid)

    answers = {}
    deadline = time.monotonic() + a.timeout
    while len(answers) < len(socks) and time.monotonic() < deadline:
        pending = [s for s in socks if s not in answers]
        ready, _, _ = select.select(pending, [], [], deadline - time.monotonic())
        for s in ready:
            try:
                resp, peer = s.recvfrom(4096)
            except ConnectionRefusedError:
                answers[s] = "refused"
                continue
            port, qid = socks[s]
            if peer != (a.server, 53) or struct.unpack(">H", resp[:2])[0] != qid:
                answers[s] = "bad-peer-%s:%d" % peer
            else:
                answers[s] = first_a(resp) or "noanswer"

    ok = 0
    for s, (port, _) in socks.items():
        ans = answers.get(s, "-")
        print(port, ans)
        ok += ans not in ("-", "refused", "noanswer") and not ans.startswith("bad")
    print("answered %d/%d" % (ok, len(socks)))
    return 0 if ok == len(socks) else 1


if __name__ == "__main__":
    sys.exit(main())
