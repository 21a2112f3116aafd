#!/usr/bin/env python3
"""Attacks on krelay and the peers they need, for krelay_attack_test.sh (lab).

Raw sockets and struct only (scapy costs seconds per start under emulation).

flood --dst IP --dport P --src A-B [-n N | --seconds S] [--rate PPS]
      [--kind syn|synfin|dns|mix] [--sport BASE]
        spoofed packets from addresses A..B (IP_HDRINCL): SYNs, SYN|FINs or
        DNS queries (mix: SYN and query in turn), each from its own
        address:port; prints "sent N"
echo ADDR PORT LOG
        echo server (one thread a connection, lines): logs "accept PEER";
        after a line "HALF TOKEN" it shuts its sending side, counts what
        still comes until EOF and logs "half N token TOKEN from PEER"
hold HOST PORT READY GO
        client: one echo, write READY (holding the connection), wait for GO,
        echo again; prints "ok" or "FAIL: why"
inject HOST PORT --mode none|rst|rstexact|rstsyn|fin [--linger S] [--half S]
        client: connect, echo once while sniffing eth0 for the live
        sequence numbers, then send from the client's own address:port
        rst      an RST inside the window, 100 past the expected sequence
        rstexact an RST at the exact expected sequence (control)
        rstsyn   the inexact RST, then a SYN on the same tuple
        fin      a FIN 2^31 away from the expected sequence
        then wait up to --linger seconds while krelay still lists the flow,
        echo again; with --half S: send "HALF X" (X: our port, which the
        server does not see: it sees tcp_relay's), read to EOF (the server's
        half-close), wait S seconds (less if krelay forgets the flow
        before), send 1000 bytes and close.
        Prints "lport X", what it sent, and "ok" or "FAIL: why"
icmp --src IP --dst IP --quote SRC:SPORT-DST:DPORT [--type T --code C]
     [--gw IP] [--bad-csum] [--id N]
        one ICMP error quoting a UDP packet (a redirect with --type 5)
sniff IFACE SECONDS READY [STOP]
        print every ICMP packet arriving on IFACE for SECONDS (or until STOP
        exists, once nothing more arrives):
        "icmp id=N src=A dst=B type=T code=C csum=ok|bad inner=S:P>D:Q"
fakerelay GPORT Y READY STOP
        tcp_relay's part for one connection: accept on GPORT, ORIGINAL_DST,
        a server socket bound to port Y linked with CLIENT, one request and
        its answer relayed, then the server socket closed with SO_LINGER 0
        (RST, no TIME_WAIT); the client's socket is held until STOP exists.
        It registers its listener with krelay (LISTENER), as tcp_relay does
squat PORT READY STOP
        a local user's listener on PORT (no registration): prints "accepted
        PEER" for each connection it gets, until STOP exists
http HOST PORT PATH STOP
        GET PATH, print the status line, hold the connection until STOP
"""
import os
import random
import select
import socket
import struct
import sys
import threading
import time

SO_BASE = 2048			# krelay/uapi/krelay.h
KRELAY_SO_ORIGINAL_DST = SO_BASE
KRELAY_SO_CLIENT = SO_BASE
KRELAY_SO_LISTENER = SO_BASE + 1
ETH_P_ALL = 0x0003		# outgoing frames reach only ETH_P_ALL sockets
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(src, dst, proto, payload, ident=None, ttl=64):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload),
                    random.randrange(1, 65536) if ident is None else ident,
                    0, ttl, proto, 0, socket.inet_aton(src),
                    socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def l4csum(src, dst, proto, seg):
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!BBH", 0, proto, len(seg))
    return csum(pseudo + seg)


def tcp(src, dst, sport, dport, seq, ack, flags, win=64240, data=b""):
    h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                    ack & 0xFFFFFFFF, 5 << 4, flags, win, 0, 0)
    c = l4csum(src, dst, 6, h + data)
    return ip4(src, dst, 6, h[:16] + struct.pack("!H", c) + h[18:] + data)


def udp(src, dst, sport, dport, data):
    h = struct.pack("!HHHH", sport, dport, 8 + len(data), 0)
    c = l4csum(src, dst, 17, h + data) or 0xFFFF
    return ip4(src, dst, 17, h[:6] + struct.pack("!H", c) + data)


def dns_query(name="flood.test.lab"):
    q = struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)


def raw_sender():
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


def addr_range(spec):
    a, b = spec.split("-")
    lo = struct.unpack("!I", socket.inet_aton(a))[0]
    hi = struct.unpack("!I", socket.inet_aton(b))[0]
    return [socket.inet_ntoa(struct.pack("!I", i)) for i in range(lo, hi + 1)]


def opts(argv):
    """--name value pairs and --flags; the rest positional."""
    o, pos, i = {}, [], 0
    while i < len(argv):
        if argv[i].startswith("--"):
            name = argv[i][2:]
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                o[name] = argv[i + 1]
                i += 2
                continue
            o[name] = True
        elif argv[i] == "-n":
            o["n"] = argv[i + 1]
            i += 2
            continue
        else:
            pos.append(argv[i])
        i += 1
    return o, pos


# ---- flood

def flood(o):
    dst, dport = o["dst"], int(o["dport"])
    srcs = addr_range(o["src"])
    kind = o.get("kind", "syn")
    n = int(o.get("n", 0))
    seconds = float(o.get("seconds", 0))
    rate = float(o.get("rate", 0))
    base = int(o.get("sport", 20000))
    s = raw_sender()
    q = dns_query()
    start = time.monotonic()
    i = sent = 0
    while (n and i < n) or (seconds and time.monotonic() - start < seconds):
        src = srcs[i % len(srcs)]
        sport = base + i % (65536 - base)
        k = kind if kind != "mix" else ("syn", "dns")[i % 2]
        if k == "dns":
            pkt = udp(src, dst, sport, 53, q)
        else:
            flags = SYN | FIN if k == "synfin" else SYN
            pkt = tcp(src, dst, sport, dport, random.getrandbits(32), 0, flags)
        try:
            s.sendto(pkt, (dst, 0))
            sent += 1
        except OSError as e:
            if e.errno not in (105, 11):	# ENOBUFS, EAGAIN: go on
                raise
        i += 1
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    print("sent %d" % sent, flush=True)
    return 0


# ---- echo server

def echo(pos):
    addr, port, log = pos[0], int(pos[1]), pos[2]
    lock = threading.Lock()

    def note(line):
        with lock, open(log, "a") as f:
            f.write(line + "\n")

    def serve(c, peer):
        p = "%s:%d" % peer
        note("accept %s" % p)
        buf, half, got, token = b"", False, 0, ""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                if half:
                    got += len(d)
                    continue
                buf += d
                while b"\n" in buf and not half:
                    line, buf = buf.split(b"\n", 1)
                    if line.startswith(b"HALF"):
                        c.shutdown(socket.SHUT_WR)
                        half, got = True, len(buf)
                        token = line[5:].decode(errors="replace")
                    else:
                        c.sendall(line + b"\n")
        except OSError as e:
            note("error %s from %s" % (e.strerror, p))
        if half:
            note("half %d token %s from %s" % (got, token, p))
        c.close()

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(128)
    while True:
        c, peer = ls.accept()
        threading.Thread(target=serve, args=(c, peer), daemon=True).start()


# ---- clients

def exchange(s, word, timeout=5.0):
    """Send a line, expect it back; None or what went wrong."""
    s.settimeout(timeout)
    try:
        s.sendall(word + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            d = s.recv(4096)
            if not d:
                return "EOF instead of the echo"
            buf += d
    except OSError as e:
        return "%s during the echo" % (e.strerror or type(e).__name__)
    return None if buf == word + b"\n" else "echo was %r" % buf


def wait_file(path, secs):
    end = time.monotonic() + secs
    while not os.path.exists(path):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def hold(pos):
    host, port, ready, go = pos[0], int(pos[1]), pos[2], pos[3]
    s = socket.create_connection((host, port), timeout=5)
    err = exchange(s, b"hold-1")
    if err:
        print("FAIL: first echo: " + err)
        return 1
    with open(ready, "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    if not wait_file(go, 300):
        print("FAIL: never told to go on")
        return 1
    err = exchange(s, b"hold-2")
    print("FAIL: echo after: " + err if err else "ok")
    return 1 if err else 0


class Sniffer:
    """TCP segments of one connection on an interface (AF_PACKET)."""

    def __init__(self, iface):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                               socket.htons(ETH_P_ALL))
        self.s.bind((iface, 0))
        self.s.setblocking(False)

    def segments(self, a, ap, b, bp):
        """(direction, seq, ack, flags, payload length), a->b is 'out'."""
        out = []
        while True:
            try:
                frame = self.s.recv(65600)
            except BlockingIOError:
                return out
            ip = frame[14:]
            if frame[12:14] != b"\x08\x00" or len(ip) < 40 or ip[9] != 6:
                continue
            ihl = (ip[0] & 15) * 4
            tot = struct.unpack("!H", ip[2:4])[0]
            src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
            sp, dp, seq, ack, off, flags = struct.unpack(
                "!HHIIBB", ip[ihl:ihl + 14])
            plen = tot - ihl - (off >> 4) * 4
            if (src, sp, dst, dp) == (a, ap, b, bp):
                out.append(("out", seq, ack, flags, plen))
            elif (src, sp, dst, dp) == (b, bp, a, ap):
                out.append(("in", seq, ack, flags, plen))


def flow_listed(client):
    try:
        with open("/proc/krelay/nat") as f:
            for line in f:
                w = line.split()
                if len(w) > 2 and w[0] == "tcp" and w[2] == client:
                    return w[1]
    except OSError:
        pass
    return None


def inject(o, pos):
    host, port = pos[0], int(pos[1])
    mode = o.get("mode", "none")
    linger = float(o.get("linger", 0))
    sn = Sniffer(o.get("iface", "eth0"))
    s = socket.create_connection((host, port), timeout=5)
    me, lport = s.getsockname()
    print("lport %d" % lport, flush=True)
    err = exchange(s, b"before")
    if err:
        print("FAIL: first echo: " + err)
        return 1
    time.sleep(0.3)
    segs = sn.segments(me, lport, host, port)
    outs = [x for x in segs if x[0] == "out"]
    ins = [x for x in segs if x[0] == "in"]
    if not outs or not ins:
        print("FAIL: sniffer saw %d segments out, %d in" % (len(outs), len(ins)))
        return 1
    # What the relay expects next from us, and what we expect from it.
    exp = ins[-1][2]
    for d, seq, ack, fl, n in outs:
        nxt = (seq + n + (1 if fl & (SYN | FIN) else 0)) & 0xFFFFFFFF
        if (nxt - exp) & 0x80000000 == 0:
            exp = nxt
    rcv = 0
    for d, seq, ack, fl, n in ins:
        rcv = (seq + n + (1 if fl & (SYN | FIN) else 0)) & 0xFFFFFFFF
    print("seen %d segments out, %d in: expected seq %d, ack %d" %
          (len(outs), len(ins), exp, rcv), flush=True)
    raw = raw_sender()
    sent = []
    if mode in ("rst", "rstsyn"):
        sent.append(("RST seq+100", tcp(me, host, lport, port, exp + 100, 0, RST)))
    if mode == "rstexact":
        sent.append(("RST seq+0", tcp(me, host, lport, port, exp, 0, RST)))
    if mode == "rstsyn":
        sent.append(("SYN", tcp(me, host, lport, port,
                                random.getrandbits(32), 0, SYN)))
    if mode == "fin":
        sent.append(("FIN seq+2^31", tcp(me, host, lport, port,
                                         exp + 0x80000000, rcv, FIN | ACK)))
    for what, pkt in sent:
        raw.sendto(pkt, (host, 0))
        print("sent " + what, flush=True)
        time.sleep(0.1)
    client = "%s:%d" % (me, lport)
    end = time.monotonic() + linger
    while time.monotonic() < end and flow_listed(client):
        time.sleep(0.1)
    print("after %.1f s krelay lists the flow as %s" %
          (linger - max(0.0, end - time.monotonic()), flow_listed(client)),
          flush=True)
    if "half" in o:
        return half_close(s, float(o["half"]), client)
    err = exchange(s, b"after")
    print("FAIL: echo after: " + err if err else "ok")
    return 1 if err else 0


def half_close(s, wait, client):
    """The server half-closes; we go on sending after wait seconds (less
    if krelay forgets the flow before)."""
    s.settimeout(5)
    try:
        s.sendall(b"HALF %d\n" % s.getsockname()[1])
        while s.recv(4096):
            pass
    except OSError as e:
        print("FAIL: no EOF after HALF: %s" % (e.strerror or type(e).__name__))
        return 1
    print("server's half-close arrived", flush=True)
    end = time.monotonic() + wait
    while time.monotonic() < end and flow_listed(client):
        time.sleep(0.1)
    print("after the half-close krelay lists the flow as %s" %
          flow_listed(client), flush=True)
    try:
        s.sendall(b"x" * 1000)
        s.shutdown(socket.SHUT_WR)
        while s.recv(4096):
            pass
    except OSError as e:
        print("after the wait: %s" % (e.strerror or type(e).__name__))
    print("ok: sent 1000 bytes after the server's half-close")
    return 0


# ---- ICMP

def icmp(o):
    src, dst = o["src"], o["dst"]
    qs, qd = o["quote"].split("-")
    qsrc, qsport = qs.split(":")
    qdst, qdport = qd.split(":")
    typ, code = int(o.get("type", 3)), int(o.get("code", 3))
    data = dns_query("quoted.test.lab")
    quoted = ip4(qsrc, qdst, 17,
                 struct.pack("!HHHH", int(qsport), int(qdport), 8 + len(data),
                             0x1234) + data, ttl=63)
    rest = socket.inet_aton(o["gw"]) if typ == 5 else b"\0\0\0\0"
    body = struct.pack("!BBH", typ, code, 0) + rest + quoted
    c = csum(body)
    if "bad-csum" in o:
        c ^= 0x5555
    body = body[:2] + struct.pack("!H", c) + body[4:]
    ident = int(o["id"]) if "id" in o else None
    raw_sender().sendto(ip4(src, dst, 1, body, ident=ident), (dst, 0))
    print("sent icmp type %d code %d%s" % (typ, code,
                                           " (bad checksum)" if "bad-csum" in o else ""))
    return 0


def sniff(pos):
    iface, secs, ready = pos[0], float(pos[1]), pos[2]
    stop = pos[3] if len(pos) > 3 else None
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    open(ready, "w").close()
    end = time.monotonic() + secs
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        if not select.select([s], [], [], min(left, 0.2))[0]:
            if stop and os.path.exists(stop):
                break
            continue
        frame, addr = s.recvfrom(65600)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        ip = frame[14:]
        if frame[12:14] != b"\x08\x00" or len(ip) < 28 or ip[9] != 1:
            continue
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack("!H", ip[2:4])[0]
        body = ip[ihl:tot]
        line = "icmp id=%d src=%s dst=%s type=%d code=%d csum=%s" % (
            struct.unpack("!H", ip[4:6])[0], socket.inet_ntoa(ip[12:16]),
            socket.inet_ntoa(ip[16:20]), body[0], body[1],
            "ok" if csum(body) == 0 else "bad")
        inner = body[8:]
        if len(inner) >= 28 and inner[0] >> 4 == 4:
            il = (inner[0] & 15) * 4
            sp, dp = struct.unpack("!HH", inner[il:il + 4])
            line += " inner=%s:%d>%s:%d" % (socket.inet_ntoa(inner[12:16]), sp,
                                            socket.inet_ntoa(inner[16:20]), dp)
        print(line, flush=True)
    return 0


# ---- tcp_relay's part, and a client for it

def fakerelay(pos):
    gport, y, ready, stop = int(pos[0]), int(pos[1]), pos[2], pos[3]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", gport))
    ls.listen(8)
    ls.setsockopt(socket.IPPROTO_IP, KRELAY_SO_LISTENER, None, 0)
    open(ready, "w").close()
    ls.settimeout(30)
    c, (cip, cport) = ls.accept()
    od = c.getsockopt(socket.IPPROTO_IP, KRELAY_SO_ORIGINAL_DST, 16)
    rip, rport, sip, sport = struct.unpack("!4sH2x4sH2x", od)
    print("client %s:%d relay %s:%d server %s:%d" % (
        cip, cport, socket.inet_ntoa(rip), rport, socket.inet_ntoa(sip), sport),
        flush=True)
    s = socket.socket()
    s.bind(("0.0.0.0", y))
    s.setsockopt(socket.IPPROTO_IP, KRELAY_SO_CLIENT,
                 struct.pack("!4sH2x4sH2x", socket.inet_aton(cip), cport,
                             rip, rport))
    s.settimeout(10)
    s.connect((socket.inet_ntoa(sip), sport))
    print("linked and connected from port %d" % y, flush=True)
    c.settimeout(10)
    req = b""
    while b"\r\n\r\n" not in req:
        d = c.recv(4096)
        if not d:
            break
        req += d
    s.sendall(req)
    resp = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        resp += d
    c.sendall(resp)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print("relayed %d bytes; server socket closed with RST" % len(resp),
          flush=True)
    wait_file(stop, 60)
    c.close()
    return 0


def http(pos):
    host, port, path, stop = pos[0], int(pos[1]), pos[2], pos[3]
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path.encode(),
                                                         host.encode()))
    resp = b""
    while b"\r\n" not in resp:
        d = s.recv(4096)
        if not d:
            break
        resp += d
    print(resp.split(b"\r\n")[0].decode(errors="replace"), flush=True)
    wait_file(stop, 60)
    s.close()
    return 0


def squat(pos):
    port, ready, stop = int(pos[0]), pos[1], pos[2]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(8)
    ls.settimeout(0.2)
    open(ready, "w").close()
    while not os.path.exists(stop):
        try:
            c, peer = ls.accept()
        except socket.timeout:
            continue
        print("accepted %s:%d" % peer, flush=True)
        c.close()
    ls.close()
    return 0


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    cmd = sys.argv[1]
    o, pos = opts(sys.argv[2:])
    if cmd == "flood":
        return flood(o)
    if cmd == "echo":
        return echo(pos)
    if cmd == "hold":
        return hold(pos)
    if cmd == "inject":
        return inject(o, pos)
    if cmd == "icmp":
        return icmp(o)
    if cmd == "sniff":
        return sniff(pos)
    if cmd == "fakerelay":
        return fakerelay(pos)
    if cmd == "http":
        return http(pos)
    if cmd == "squat":
        return squat(pos)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
