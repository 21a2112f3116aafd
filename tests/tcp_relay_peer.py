#!/usr/bin/env python3
"""Peers for tests/tcp_relay_test.sh: a threaded server and test clients.

server PORT MODE LOG   serve on 127.0.0.1:PORT; per connection one line in
                       LOG: "<how> <bytes> <sha256 of bytes received>",
                       how = eof or reset. MODE:
                         echo   send back what comes; half-close on EOF
                         reply  read to EOF, then send "got N\\n" and close
                         rst    read the first bytes, then close with RST
                         greet  send "hello\\n" first, then echo
                         urgent send one urgent byte (MSG_OOB) "U" on the
                                first data, then echo as echo does
                         shutfirst  send "bye\\n" and half-close at once,
                                then read to EOF
clients (exit 0 and print the result, exit 1 on an unexpected error):
bulk PORT MIB          send MIB MiB, read the echo; print the two sha256
many PORT N            N concurrent echo exchanges; print "ok N"
seq PORT N             N exchanges one after the other; print "ok N"
halfclose PORT         send, shutdown(SHUT_WR), print the reply
readend PORT           send a byte, then print how the connection ends
                       (reset, eof) and after how many seconds
clientrst PORT         send a byte, get it back, close with RST
twostep PORT FILE      echo once (print it), wait for FILE, echo again
hold PORT SRC N FILE   N connections from address SRC that send nothing,
                       held until FILE exists; print "closed K" (K the
                       ones the relay closed meanwhile)
echofrom PORT SRC N    N echo exchanges one after the other from address
                       SRC; print "ok K"
silent PORT            connect, send nothing, print how the connection
                       ends and after how many seconds
greeted PORT SECS      read the server's greeting, wait SECS, echo once;
                       print "ok" or what went wrong
closes PORT N          N connections one after the other, each sending a
                       byte and waiting to be closed; print "closed N"
urgent PORT            send an urgent byte "!", then 1 MiB, against an
                       urgent server: print "intact" if "U!" and the MiB
                       came back, else what came
afterfin PORT N        against shutfirst: read to EOF, then send N bytes
                       and close; print what was read
PEER_HOST: the address servers bind and clients connect to (127.0.0.1).
"""
import hashlib
import os
import socket
import struct
import sys
import threading
import time

HOST = os.environ.get("PEER_HOST", "127.0.0.1")


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def server(port, mode, logpath):
    lock = threading.Lock()
    log = open(logpath, "a")

    def note(how, n, h):
        with lock:
            log.write("%s %d %s\n" % (how, n, h.hexdigest()))
            log.flush()

    def handle(c):
        h = hashlib.sha256()
        n = 0
        how = "eof"
        if mode == "urgent":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        try:
            if mode == "greet":
                c.sendall(b"hello\n")
            elif mode == "shutfirst":
                c.sendall(b"bye\n")
                c.shutdown(socket.SHUT_WR)
            while True:
                try:
                    b = c.recv(262144)
                except ConnectionResetError:
                    how = "reset"
                    break
                if not b:
                    break
                n += len(b)
                h.update(b)
                if mode == "urgent" and n == len(b):
                    c.send(b"U", socket.MSG_OOB)
                if mode in ("echo", "urgent", "greet"):
                    c.sendall(b)
                elif mode == "rst":
                    linger0(c)
                    how = "sent-rst"
                    break
            if mode in ("echo", "urgent", "greet") and how == "eof":
                c.shutdown(socket.SHUT_WR)
            elif mode == "reply" and how == "eof":
                c.sendall(b"got %d\n" % n)
        except OSError:
            how = "reset"
        finally:
            c.close()
            note(how, n, h)

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST, port))
    ls.listen(1024)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def connect(port):
    return socket.create_connection((HOST, port), timeout=30)


def echo_once(s, msg):
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        b = s.recv(65536)
        if not b:
            break
        got += b
    return got


def bulk(port, mib):
    size = mib << 20
    data = os.urandom(size)
    s = connect(port)
    s.settimeout(60)

    def send():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send)
    t.start()
    h = hashlib.sha256()
    n = 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    t.join()
    s.close()
    print(hashlib.sha256(data).hexdigest(), h.hexdigest(), n)


def many(port, count):
    ok = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(count, timeout=60)

    def one(i):
        msg = (b"%06d:" % i) * 2000
        try:
            s = connect(port)
            barrier.wait()      # all connected at once
            if echo_once(s, msg) == msg:
                with lock:
                    ok[0] += 1
            s.close()
        except (OSError, threading.BrokenBarrierError) as e:
            sys.stderr.write("conn %d: %s\n" % (i, e))
            barrier.abort()

    ts = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("ok", ok[0])


def seq(port, count):
    ok = 0
    for i in range(count):
        s = connect(port)
        msg = b"ping %d\n" % i
        if echo_once(s, msg) == msg:
            ok += 1
        s.close()
    print("ok", ok)


def read_to_eof(s):
    got = b""
    while True:
        b = s.recv(4096)
        if not b:
            return got
        got += b


def halfclose(port):
    s = connect(port)
    s.sendall(b"hello, half-closed\n")
    s.shutdown(socket.SHUT_WR)
    got = read_to_eof(s)
    s.close()
    sys.stdout.write(got.decode())


def readend(port):
    t0 = time.monotonic()
    how = "eof"
    try:
        # On loopback the RST can beat connect()'s own check.
        s = connect(port)
        s.settimeout(8)
        s.sendall(b"x")
        while True:
            b = s.recv(4096)
            if not b:
                break
    except (ConnectionResetError, BrokenPipeError):
        how = "reset"
    except socket.timeout:
        how = "timeout"
    print(how, "%.2f" % (time.monotonic() - t0))


def clientrst(port):
    s = connect(port)
    if echo_once(s, b"x") != b"x":
        print("no echo")
        return
    linger0(s)
    s.close()
    print("sent-rst")


def twostep(port, path):
    s = connect(port)
    a = echo_once(s, b"before\n")
    print(a.decode().strip(), end=" ", flush=True)
    while not os.path.exists(path):
        time.sleep(0.05)
    b = echo_once(s, b"after\n")
    s.close()
    print(b.decode().strip())


def connect_from(port, src):
    s = socket.socket()
    s.settimeout(30)
    s.bind((src, 0))
    s.connect((HOST, port))
    return s


def hold(port, src, count, path):
    socks = [connect_from(port, src) for _ in range(count)]
    while not os.path.exists(path):
        time.sleep(0.05)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    print("closed", closed)


def from_src(port, src, count):
    ok = 0
    for i in range(count):
        try:
            s = connect_from(port, src)
            msg = b"from %s %d\n" % (src.encode(), i)
            if echo_once(s, msg) == msg:
                ok += 1
            s.close()
        except OSError as e:
            sys.stderr.write("from %s: %s\n" % (src, e))
    print("ok", ok)


def silent(port):
    t0 = time.monotonic()
    how = "eof"
    s = connect(port)
    s.settimeout(30)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "timeout"
    print(how, "%.2f" % (time.monotonic() - t0))


def greeted(port, secs):
    s = connect(port)
    s.settimeout(10)
    hello = b""
    while not hello.endswith(b"\n"):
        b = s.recv(64)
        if not b:
            print("closed before the greeting")
            return
        hello += b
    time.sleep(secs)
    try:
        got = echo_once(s, b"after the greeting\n")
    except OSError as e:
        print("echo failed:", e)
        return
    print("ok" if got == b"after the greeting\n" else "got %r" % got)


def closes(port, count):
    n = 0
    for _ in range(count):
        try:
            s = connect(port)
            s.settimeout(8)
            s.sendall(b"x")
            while s.recv(4096):
                pass
            n += 1
        except (ConnectionResetError, BrokenPipeError):
            n += 1
        except socket.timeout:
            pass
        s.close()
    print("closed", n)


def urgent(port):
    data = os.urandom(1 << 20)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
    s.settimeout(20)
    s.connect((HOST, port))
    s.send(b"!", socket.MSG_OOB)

    def send():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send)
    t.start()
    got = []
    try:
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            got.append(b)
    except socket.timeout:
        got.append(b"<timeout>")
    t.join()
    s.close()
    got = b"".join(got)
    if got == b"U!" + data:
        print("intact")
    else:
        print("got %d bytes, starting %r" % (len(got), got[:8]))


def afterfin(port, count):
    s = connect(port)
    got = read_to_eof(s)
    s.sendall(b"y" * count)
    s.close()
    sys.stdout.write(got.decode())


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    if cmd == "server":
        server(port, args[0], args[1])
    elif cmd == "bulk":
        bulk(port, int(args[0]))
    elif cmd == "many":
        many(port, int(args[0]))
    elif cmd == "seq":
        seq(port, int(args[0]))
    elif cmd == "halfclose":
        halfclose(port)
    elif cmd == "readend":
        readend(port)
    elif cmd == "clientrst":
        clientrst(port)
    elif cmd == "hold":
        hold(port, args[0], int(args[1]), args[2])
    elif cmd == "echofrom":
        from_src(port, args[0], int(args[1]))
    elif cmd == "silent":
        silent(port)
    elif cmd == "greeted":
        greeted(port, float(args[0]))
    elif cmd == "closes":
        closes(port, int(args[0]))
    elif cmd == "urgent":
        urgent(port)
    elif cmd == "afterfin":
        afterfin(port, int(args[0]))
    elif cmd == "twostep":
        twostep(port, args[0])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
