#!/usr/bin/env python3
"""Hostile input to krelay's kernel side, for kfuzz_test.sh (in the lab).

kfuzz.py proc N          N random writes to every /proc/krelay knob and to
                         nat: random bytes, huge, partial, at offsets; a
                         refused write must leave the value as it was
kfuzz.py race SECONDS    writers on every knob (good and bad values) and
                         readers of nat/stats, concurrently
kfuzz.py sockopt N       N random setsockopt/getsockopt calls around
                         krelay's option numbers on TCP/UDP/raw sockets,
                         bad lengths and pointers; prints "errno COUNT"
kfuzz.py packets N DST GPORT [SRC]
                         crafted packets from SRC (10.0.0.1) toward DST: bad headers, fragments, flag soup,
                         ICMP errors; prints how many were sent
Every command prints "tried N" and exits non-zero on a broken promise.
"""
import ctypes
import errno
import os
import random
import socket
import struct
import sys
import threading
import time

PROC = "/proc/krelay"
KNOBS = ["gport", "real_ip", "tcp_ports", "udp_ports", "max_entries",
         "udp_timeout", "udp_stream_timeout", "tcp_timeout_established",
         "tcp_timeout_close", "max_per_client", "relay_max_pairs",
         "relay_max_per_client", "relay_idle_timeout", "relay_connect_timeout",
         "tcp_mode"]
GOOD = {
    "gport": ["16000", "16001", "16002"],
    "real_ip": ["192.168.0.10"],
    "tcp_ports": ["53,80", "80,53"],
    "udp_ports": ["53"],
    "max_entries": ["262144", "100000"],
    "udp_timeout": ["30", "29"],
    "udp_stream_timeout": ["120", "119"],
    "tcp_timeout_established": ["432000", "431999"],
    "tcp_timeout_close": ["10", "9"],
    "max_per_client": ["0", "100"],
    "relay_max_pairs": ["256", "255"],
    "relay_max_per_client": ["64", "63"],
    "relay_idle_timeout": ["300", "299"],
    "relay_connect_timeout": ["10", "9"],
    # the race flips the kernel relay's listener open and shut
    "tcp_mode": ["user", "kernel"],
}
SO_BASE = 2048
libc = ctypes.CDLL(None, use_errno=True)
rng = random.Random(int(os.environ.get("KFUZZ_SEED", "0")) or None)


def fail(msg):
    print("FAIL:", msg, flush=True)
    sys.exit(1)


def read(name):
    with open(os.path.join(PROC, name), "rb") as f:
        return f.read()


def write(name, data, offset=0):
    """One write(2) (pwrite at offset); returns 0 or the errno."""
    fd = os.open(os.path.join(PROC, name), os.O_WRONLY)
    try:
        if offset:
            os.pwrite(fd, data, offset)
        else:
            os.write(fd, data)
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def junk():
    kind = rng.randrange(9)
    if kind == 0:
        return os.urandom(rng.randrange(1, 200))
    if kind == 1:
        return b"1" * rng.choice([127, 128, 129, 4096, 1 << 20])
    if kind == 2:
        return rng.choice([b"", b"\n", b"\n\n", b" ", b"\0", b"-1", b"+5",
                           b"0x10", b"1e3", b"65536", b"4294967296",
                           b"99999999999999999999", b"1\n\n", b"1 ",
                           b" 1", b"1\0", b"53,", b",53", b"53,,80",
                           b"53,53", b"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
                           b"0.0.0.0", b"255.255.255.255", b"224.0.0.1",
                           b"127.0.0.1", b"1.2.3", b"1.2.3.4.5", b"1.2.3.4\n\n",
                           b"1.2.3.256", b"::1", b"flush\n\n", b"flushx",
                           b"delete tcp ", b"delete udp 1.2.3.4:",
                           b"delete udp 1.2.3.4:0", b"delete tcp 1.2.3.4:70000",
                           b"delete tcp 1.2.3.4:99999999999999999",
                           b"delete xyz 1.2.3.4:5", b"delete udp :5"])
    if kind == 3:
        # a valid value cut short, or with something after it
        v = rng.choice(sum(GOOD.values(), [])).encode()
        return rng.choice([v[:rng.randrange(len(v))], v + b"x", v + b"\r\n"])
    if kind == 4:
        return bytes(rng.choice(b"0123456789,.\n :") for _ in range(rng.randrange(1, 40)))
    return bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 130)))


def same_value(name, wrote, reads):
    """Does a knob that took wrote read back as that value?"""
    v = wrote[:-1] if wrote.endswith(b"\n") else wrote
    try:
        if name == "tcp_mode":
            return v == reads.strip()
        if name == "real_ip":
            return socket.inet_aton(v.decode()) == socket.inet_aton(reads.strip().decode())
        return [int(x) for x in v.split(b",")] == [int(x) for x in reads.split(b",")]
    except (ValueError, OSError, UnicodeDecodeError):
        return False


def cmd_proc(n):
    tried = 0
    for name in KNOBS + ["nat"]:
        for _ in range(n):
            data = junk()
            offset = rng.choice([0, 0, 0, 1, 5, 4096])
            before = read(name) if name != "nat" else None
            err = write(name, data, offset)
            tried += 1
            if name == "nat":
                continue
            after = read(name)
            if offset and not err:
                fail("%s: write at offset %d taken" % (name, offset))
            if err and after != before:
                fail("%s: refused write %r (errno %d) changed %r to %r" %
                     (name, data[:40], err, before, after))
            if not err and not same_value(name, data, after):
                fail("%s: took %r, reads %r" % (name, data[:40], after))
        # partial writes on one descriptor: each write(2) is a whole value
        if name != "nat":
            fd = os.open(os.path.join(PROC, name), os.O_WRONLY)
            good = GOOD[name][0].encode()
            for chunk in (good[:1], good[1:]):
                try:
                    os.write(fd, chunk)
                except OSError:
                    pass
                tried += 1
            os.close(fd)
            write(name, good + b"\n")
            if read(name).strip() != good:
                fail("%s: restore %r failed" % (name, good))
    print("tried", tried)


def cmd_race(secs):
    stop = time.monotonic() + secs
    errors = []
    counts = {"writes": 0, "reads": 0}

    def writer(name):
        while time.monotonic() < stop:
            v = rng.choice(GOOD[name]).encode() + b"\n" if rng.random() < 0.7 else junk()
            write(name, v)
            counts["writes"] += 1

    def reader(name):
        while time.monotonic() < stop:
            try:
                data = read(name)
            except OSError as e:
                errors.append("read %s: %s" % (name, e))
                return
            if name == "nat" and not data.startswith(b"proto state "):
                errors.append("nat without header: %r" % data[:60])
                return
            counts["reads"] += 1

    def flusher():
        while time.monotonic() < stop:
            write("nat", b"flush\n")
            time.sleep(0.01)

    threads = [threading.Thread(target=writer, args=(k,)) for k in KNOBS]
    threads += [threading.Thread(target=reader, args=(k,))
                for k in ["nat", "nat", "stats"] + KNOBS]
    threads.append(threading.Thread(target=flusher))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in KNOBS:
        write(k, GOOD[k][0].encode() + b"\n")
        if read(k).strip() != GOOD[k][0].encode():
            errors.append("%s: restore failed" % k)
    if errors:
        fail("; ".join(errors[:5]))
    print("tried %d writes %d reads" % (counts["writes"], counts["reads"]))


# ---- socket options, through libc so that lengths and pointers can lie.

def setsockopt(fd, opt, buf, length):
    b = ctypes.create_string_buffer(buf, max(len(buf), 1))
    rc = libc.setsockopt(fd, socket.IPPROTO_IP, opt, b, ctypes.c_uint(length))
    return 0 if rc == 0 else ctypes.get_errno()


def getsockopt(fd, opt, size, length, null_len=False, bad_ptr=False):
    # the kernel may believe length: never let it write past the buffer
    b = ctypes.create_string_buffer(max(size, 1) if length <= size else 1 << 21)
    if rng.random() < 0.5:
        # a query (TABLE_PAGE reads one): random, or version 1 and a
        # random cursor and filter
        head = os.urandom(min(size, 40))
        if rng.random() < 0.5 and len(head) >= 40:
            head = struct.pack("=II", 1, 0) + head[8:16] + bytes(12) + head[28:]
        ctypes.memmove(b, head, len(head))
    ln = ctypes.c_int(length)
    ptr = ctypes.c_void_p(16) if bad_ptr else b
    rc = libc.getsockopt(fd, socket.IPPROTO_IP, opt, ptr,
                         None if null_len else ctypes.byref(ln))
    return 0 if rc == 0 else ctypes.get_errno()


def sockets():
    out = []
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    out.append(("tcp", t))
    b = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    b.bind(("0.0.0.0", 0))
    out.append(("tcp-bound", b))
    out.append(("udp", socket.socket(socket.AF_INET, socket.SOCK_DGRAM)))
    try:
        out.append(("raw", socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                         socket.IPPROTO_UDP)))
    except PermissionError:
        pass
    return out


# What each call may answer; anything else (or success where the caller
# cannot have it) is a broken promise.
PRIVILEGED = os.geteuid() == 0


def cmd_sockopt(n, expect_unpriv=False):
    seen = {}
    tried = 0
    socks = sockets()
    opts = list(range(SO_BASE - 4, SO_BASE + 6))
    for _ in range(n):
        kind, s = rng.choice(socks)
        opt = rng.choice(opts)
        fd = s.fileno()
        if rng.random() < 0.5:
            ln = rng.choice([0, 1, 15, 16, 17, 32, rng.randrange(0, 300),
                             0xffffffff, 0x7fffffff, 1 << 20])
            buf = os.urandom(min(ln, 300))
            if rng.random() < 0.3 and len(buf) >= 16:
                # a plausible CLIENT naming the lab's client
                buf = socket.inet_aton("10.0.0.1") + struct.pack(
                    "!HH", rng.randrange(65536), 0) + socket.inet_aton(
                    "192.168.0.2") + struct.pack("!HH", 80, 0) + buf[16:]
            err = setsockopt(fd, opt, buf, ln if ln <= len(buf) else len(buf)
                             if rng.random() < 0.7 else ln)
            what = "set"
        else:
            size = rng.choice([0, 4, 16, 64, 4096])
            ln = rng.choice([-1, -(1 << 31), 0, 1, 8, 15, 16, 17, 1 << 30, size])
            ln = min(ln, size) if ln > 0 and rng.random() < 0.7 else ln
            err = getsockopt(fd, opt, size, ln, null_len=rng.random() < 0.05,
                             bad_ptr=rng.random() < 0.05)
            what = "get"
        tried += 1
        key = "%s %s" % (what, errno.errorcode.get(err, "ok") if err else "ok")
        seen[key] = seen.get(key, 0) + 1
        if expect_unpriv and not err and (what == "set" or
                                          opt in (SO_BASE + 1, SO_BASE + 2)):
            fail("unprivileged %s of option %d on %s succeeded" % (what, opt, kind))
    for k in sorted(seen):
        print(k, seen[k])
    print("tried", tried)


# ---- packets.

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip(src, dst, proto, payload, ihl=5, opts=b"", frag=0, mf=False, ident=None,
       tot=None, bad_csum=False, ttl=64):
    ident = rng.randrange(65536) if ident is None else ident
    hl = ihl * 4
    tot = hl + len(payload) if tot is None else tot
    ff = (0x2000 if mf else 0) | (frag & 0x1fff)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot, ident, ff, ttl, proto,
                    0, socket.inet_aton(src), socket.inet_aton(dst))
    h += opts.ljust(max(hl - 20, 0), b"\0")[:max(hl - 20, 0)]
    c = csum(h[:20 + max(hl - 20, 0)])
    if bad_csum:
        c ^= 0x5a5a
    h = h[:10] + struct.pack("!H", c) + h[12:]
    return h + payload


def l4csum(src, dst, proto, seg):
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(
        "!BBH", 0, proto, len(seg))
    return csum(ph + seg)


def tcp(src, dst, sport, dport, flags, payload=b"", doff=5, bad=False):
    seg = struct.pack("!HHIIBBHHH", sport, dport, rng.randrange(1 << 32),
                      rng.randrange(1 << 32), doff << 4, flags, 65535, 0, 0)
    seg += b"\x01" * max(doff * 4 - 20, 0) + payload
    c = l4csum(src, dst, 6, seg) ^ (0x1234 if bad else 0)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(src, dst, sport, dport, payload=b"", bad=False, zero=False):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = 0 if zero else (l4csum(src, dst, 17, seg) or 0xffff) ^ (0x1234 if bad else 0)
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def icmp_err(quoted, typ=3, code=3):
    body = struct.pack("!BBHI", typ, code, 0, 0) + quoted
    return body[:2] + struct.pack("!H", csum(body)) + body[4:]


def crafted(src, dst, gport):
    """Yield (name, ip packet) pairs, a fresh random mix each call."""
    sp = rng.randrange(1024, 65535)
    dns = struct.pack(">HHHHHH", rng.randrange(65536), 0x0100, 1, 0, 0, 0) + \
        b"\x04test\x03lab\x00\x00\x01\x00\x01"
    tp = rng.choice([53, 80, 81, gport])
    up = rng.choice([53, 54, 0])
    flags = rng.choice([0x00, 0x03, 0x07, 0x3f, 0xff, 0x04, 0x14, 0x11,
                        0x02, 0x12, 0x01, 0x29, 0xc2])
    seg = tcp(src, dst, sp, tp, flags)
    yield "tcp-flags", ip(src, dst, 6, seg)
    yield "tcp-bad-csum", ip(src, dst, 6, tcp(src, dst, sp, tp, 0x02, bad=True))
    yield "tcp-doff-short", ip(src, dst, 6, tcp(src, dst, sp, tp, 0x02, doff=rng.randrange(0, 5)))
    yield "tcp-doff-long", ip(src, dst, 6, tcp(src, dst, sp, tp, 0x02)[:12] +
                              bytes([0xf0]) + tcp(src, dst, sp, tp, 0x02)[13:])
    yield "tcp-truncated", ip(src, dst, 6, seg[:rng.randrange(0, 20)])
    yield "udp-truncated", ip(src, dst, 17, udp(src, dst, sp, up, dns)[:rng.randrange(0, 8)])
    yield "udp-bad-csum", ip(src, dst, 17, udp(src, dst, sp, up, dns, bad=True))
    yield "udp-zero-csum", ip(src, dst, 17, udp(src, dst, sp, up, dns, zero=True))
    yield "udp-bad-len", ip(src, dst, 17, udp(src, dst, sp, up, dns)[:4] +
                            struct.pack("!H", rng.choice([0, 7, 9, 4000])) +
                            udp(src, dst, sp, up, dns)[6:])
    yield "ip-bad-ihl", ip(src, dst, 17, udp(src, dst, sp, 53, dns),
                           ihl=rng.choice([0, 1, 4, 15]))
    yield "ip-bad-tot", ip(src, dst, 17, udp(src, dst, sp, 53, dns),
                           tot=rng.choice([0, 19, 21, 60000]))
    yield "ip-bad-csum", ip(src, dst, 17, udp(src, dst, sp, 53, dns), bad_csum=True)
    opts = rng.choice([b"\x01\x01\x01\x00", b"\x07\x07\x04" + b"\0" * 5,
                       b"\x44\x0c\x05\x00" + b"\0" * 8, b"\x83\x03\x04\x00",
                       os.urandom(rng.choice([4, 8, 40]))])
    yield "ip-options-udp", ip(src, dst, 17, udp(src, dst, sp, 53, dns),
                               ihl=5 + (len(opts) + 3) // 4, opts=opts)
    yield "ip-options-tcp", ip(src, dst, 6, tcp(src, dst, sp, 80, 0x02),
                               ihl=5 + (len(opts) + 3) // 4, opts=opts)
    # fragments of a DNS query: tiny, out of order, overlapping, missing
    whole = udp(src, dst, sp, 53, dns + b"\0" * 40)
    ident = rng.randrange(65536)
    pieces = [(0, whole[:8], True), (1, whole[8:24], True), (3, whole[24:], False)]
    order = rng.choice(["in", "rev", "overlap", "tiny", "missing", "dup"])
    if order == "rev":
        pieces.reverse()
    elif order == "overlap":
        pieces.insert(1, (0, whole[:16], True))
    elif order == "tiny":
        pieces = [(0, whole[:8], True), (1, whole[8:16], True),
                  (2, whole[16:24], True), (3, whole[24:], False)]
    elif order == "missing":
        pieces = pieces[:2]
    elif order == "dup":
        pieces = pieces + pieces
    for off, data, mf in pieces:
        yield "frag-" + order, ip(src, dst, 17, data, frag=off, mf=mf, ident=ident)
    # a TCP SYN in fragments with the ports in the second one
    syn = tcp(src, dst, sp, 80, 0x02)
    ident = rng.randrange(65536)
    yield "frag-tcp", ip(src, dst, 6, syn[:8], frag=0, mf=True, ident=ident)
    yield "frag-tcp", ip(src, dst, 6, syn[8:], frag=1, ident=ident)
    # ICMP errors quoting unknown flows, truncated quotes, krelay's flows
    for _ in range(3):
        qsrc, qdst = rng.choice([(dst, src), (src, dst), ("192.168.0.10", src),
                                 (dst, "192.168.0.10")])
        inner = ip(qsrc, qdst, rng.choice([6, 17, 1, 47]),
                   udp(qsrc, qdst, rng.choice([53, 80, gport, sp]),
                       rng.choice([53, 80, sp]), dns),
                   ihl=rng.choice([5, 5, 6, 15]))
        cut = rng.choice([len(inner), 28, 24, 21, 20, 8, 0, rng.randrange(len(inner))])
        yield "icmp-err", ip(src, dst, 1, icmp_err(inner[:cut], *rng.choice(
            [(3, 3), (3, 4), (11, 0), (12, 0), (5, 1), (4, 0)])))
    yield "icmp-echo", ip(src, dst, 1, icmp_err(b"ping", 8, 0))
    yield "icmp-short", ip(src, dst, 1, os.urandom(rng.randrange(0, 8)))
    # RST storm on a relayed port, and straight to the gateway port
    for _ in range(4):
        yield "rst", ip(src, dst, 6, tcp(src, dst, sp, 80, 0x04))
    yield "gport-syn", ip(src, dst, 6, tcp(src, dst, sp, gport, 0x02))
    yield "gport-udp", ip(src, dst, 17, udp(src, dst, sp, gport, dns))
    yield "random", ip(src, dst, rng.randrange(256), os.urandom(rng.randrange(0, 100)))


def cmd_packets(n, dst, gport, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    sent = {}
    tried = 0
    for _ in range(n):
        for name, pkt in crafted(src, dst, gport):
            try:
                s.sendto(pkt, (dst, 0))
            except OSError:
                name += "(refused)"
            sent[name] = sent.get(name, 0) + 1
            tried += 1
    for k in sorted(sent):
        print(k, sent[k])
    print("tried", tried)


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "proc":
        cmd_proc(int(sys.argv[2]))
    elif cmd == "race":
        cmd_race(float(sys.argv[2]))
    elif cmd == "sockopt":
        cmd_sockopt(int(sys.argv[2]), expect_unpriv=not PRIVILEGED or
                    "--unpriv" in sys.argv)
    elif cmd == "packets":
        cmd_packets(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]),
                    sys.argv[5] if len(sys.argv) > 5 else "10.0.0.1")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
