#!/usr/bin/env python3
"""Hold many TCP connections open and see when the other side closes them.

slowloris.py HOST PORT -n COUNT [--bind ADDR] [--trickle S] [--wait S]
Opens COUNT connections (from ADDR), sends the start of an HTTP request,
then one byte a second on each for --trickle seconds, then nothing. Waits
at most --wait seconds more for the other side to close them. Prints
"opened O refused R closed_early E closed C open L" (closed_early: closed
while trickling; closed: closed after; open: still open at the end);
exits 0.
"""
import argparse
import select
import socket
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--bind", default="")
    ap.add_argument("--trickle", type=float, default=0)
    ap.add_argument("--wait", type=float, default=30)
    a = ap.parse_args()

    socks, refused = [], 0
    for _ in range(a.n):
        s = socket.socket()
        s.settimeout(5)
        if a.bind:
            s.bind((a.bind, 0))
        try:
            s.connect((a.host, a.port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
            socks.append(s)
        except OSError:
            refused += 1
            s.close()
    opened = len(socks)
    live = set(socks)
    early = closed = 0

    def reap(timeout):
        nonlocal live
        gone = set()
        r, _, x = select.select(list(live), [], list(live), timeout)
        for s in set(r) | set(x):
            try:
                if s.recv(65536) == b"":
                    gone.add(s)
            except BlockingIOError:
                pass
            except OSError:
                gone.add(s)
        for s in gone:
            s.close()
        live -= gone
        return len(gone)

    end = time.monotonic() + a.trickle
    while live and time.monotonic() < end:
        for s in list(live):
            try:
                s.send(b"X")
            except OSError:
                live.discard(s)
                s.close()
                early += 1
        early += reap(1)
    end = time.monotonic() + a.wait
    while live and time.monotonic() < end:
        closed += reap(max(0.1, end - time.monotonic()))
    print("opened %d refused %d closed_early %d closed %d open %d" %
          (opened, refused, early, closed, len(live)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
