#!/usr/bin/env python3
"""Malformed HTTP at webadmin over its socket.

httpfuzz.py HOST PORT PASSWORD [COUNT] [SEED]

Sends COUNT requests from 127.0.0.3-62 (default 3000) drawn from broken request lines, huge
headers, bad Content-Length, chunked garbage, invalid UTF-8 and JSON, deep
nesting, wrong methods, bad queries and slow senders; after every 100, and
at the end, a well-formed request must get its 200. Prints a summary line;
exits 1 when webadmin stopped answering well-formed requests.
"""
import base64
import concurrent.futures
import random
import socket
import sys
import time

HOST, PORT, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3]
COUNT = int(sys.argv[4]) if len(sys.argv) > 4 else 3000
rnd = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
AUTH = "Authorization: Basic " + base64.b64encode(
    ("admin:" + PASSWORD).encode()).decode()
HOSTHDR = "Host: %s:%d" % (HOST, PORT)


def send(data, read=True, timeout=3.0, chunks=None, delay=0.0, src=None):
    """Send data (bytes) from 127.0.0.SRC (default: one of 3-62, so that
    webadmin's per-IP limit does not refuse the flood), return the status
    code (0 when none came)."""
    if src is None:
        src = rnd.randint(3, 62)
    try:
        s = socket.create_connection((HOST, PORT), timeout=timeout,
                                     source_address=("127.0.0.%d" % src, 0))
    except OSError:
        return 0
    try:
        if chunks:
            for i in range(0, len(data), chunks):
                s.sendall(data[i:i + chunks])
                time.sleep(delay)
        else:
            s.sendall(data)
        if not read:
            return 0
        s.shutdown(socket.SHUT_WR)
        got = b""
        while len(got) < 65536:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except OSError:
        return 0
    finally:
        s.close()
    if got.startswith(b"HTTP/1.") and len(got) >= 12:
        try:
            return int(got[9:12])
        except ValueError:
            return -1
    return 0


def req(method, path, headers=(), body=b"", auth=True, ctype=True):
    h = ["%s %s HTTP/1.1" % (method, path), HOSTHDR, "Connection: close"]
    if auth:
        h.append(AUTH)
    if ctype:
        h.append("Content-Type: application/json")
    h.extend(headers)
    if body and not any(x.lower().startswith(("content-length",
                                               "transfer-encoding"))
                        for x in headers):
        h.append("Content-Length: %d" % len(body))
    return ("\r\n".join(h) + "\r\n\r\n").encode("latin-1", "replace") + body


def rbytes(n):
    return bytes(rnd.getrandbits(8) for _ in range(n))


def rstr(n, alphabet="abc%/.:?&=\x00\x7f\xff ;,\"'\\{}[]0123456789"):
    return "".join(rnd.choice(alphabet) for _ in range(n))


def broken_request_line():
    return rnd.choice([
        rbytes(rnd.randint(1, 200)) + b"\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n" + HOSTHDR.encode() + b"\r\n\r\n",
        b"GET /" + b"a" * rnd.randint(1000, 200000) + b" HTTP/1.1\r\n\r\n",
        ("GET /%s HTTP/1.1\r\n%s\r\n\r\n" % (rstr(50), HOSTHDR)).encode(
            "latin-1", "replace"),
        b"GET / HTTP/1.1\n\n",
        b" / HTTP/1.1\r\n\r\n",
        b"GET  /  HTTP/1.1\r\n\r\n",
        b"\r\n\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost\r\n\r\n",
        b"GET / HTTP/1.1\r\n: empty\r\n\r\n",
        b"GET / HTTP/1.1\r\n Folded: x\r\n\r\n",
    ])


def huge_headers():
    k = rnd.choice([1, 2, 3])
    if k == 1:
        return req("GET", "/api/status", ["X-Big: " + "a" * rnd.randint(
            10000, 1000000)])
    if k == 2:
        return req("GET", "/api/status",
                   ["X-H%d: %s" % (i, "v" * 20) for i in range(
                       rnd.randint(100, 5000))])
    return req("GET", "/", ["Host: " + "h" * 70000])


def bad_content_length():
    body = rbytes(rnd.randint(0, 100))
    cl = rnd.choice(["-1", "abc", "99999999999999999999999", "1e3",
                     "18446744073709551615", "65537", " 5", "5, 6", "0x10",
                     str(len(body) + 100)])
    hdrs = ["Content-Length: " + cl]
    if rnd.random() < 0.3:
        hdrs.append("Content-Length: 3")
    return req(rnd.choice(["PUT", "GET", "DELETE"]),
               rnd.choice(["/api/config", "/api/start", "/api/nat", "/"]),
               hdrs, body)


def chunked_garbage():
    parts = rnd.choice([
        b"zz\r\nabc\r\n0\r\n\r\n",
        b"ffffffffffffffffff\r\n",
        b"7fffffff\r\n" + rbytes(100),
        b"-5\r\nabc\r\n",
        b"3\r\nabcdef\r\n0\r\n\r\n",
        b"3;ext=" + b"x" * 5000 + b"\r\nabc\r\n0\r\n\r\n",
        b"0\r\nTrailer: " + b"t" * 40000 + b"\r\n\r\n",
        rbytes(rnd.randint(1, 300)),
        b"10000\r\n" + b" " * 0x10000 + b"\r\n0\r\n\r\n",
    ])
    return req("PUT", rnd.choice(["/api/config", "/api/start"]),
               ["Transfer-Encoding: chunked"], parts)


def bad_json():
    body = rnd.choice([
        rbytes(rnd.randint(1, 500)),
        b'{"gport": "\xff\xfe"}',
        b'{"real_ip": "\xc0\xaf"}',
        b'{"gport": ' + b"9" * 5000 + b"}",
        b"[" * 100000 + b"]" * 100000,
        b'{"a":' * 50000 + b"1" + b"}" * 50000,
        b'{"tcp_ports": [' + b"1," * 20000 + b"1]}",
        b'{"gport": 1e400}',
        b'{"gport": -0}',
        b'{"\x00": 1}',
        b'{"started": true}' + b"\x00garbage",
        ('{"%s": %s}' % (rstr(10), rstr(10))).encode("latin-1", "replace"),
    ])
    return req("PUT", rnd.choice(["/api/config", "/api/start"]), [],
               body[:70000])


def wrong_method():
    m = rnd.choice(["OPTIONS", "TRACE", "CONNECT", "PATCH", "POST", "get",
                    "G\x00T", "X" * 3000, "PROPFIND", "PUT", "DELETE"])
    return req(m, rnd.choice(["/api/status", "/", "/metrics", "*",
                              "http://evil/", "/api/nat"]),
               auth=rnd.random() < 0.5, ctype=rnd.random() < 0.5)


def bad_query():
    q = rnd.choice(["offset", "limit", "proto", "client", "x"])
    v = rnd.choice([rstr(rnd.randint(0, 40)), "%00", "%ff%fe", "%",
                    "1" * 100, "10.0.0.1:%0a", "-1", "+5"])
    path = "/api/nat?%s=%s&%s" % (q, v, rstr(5))
    return req(rnd.choice(["GET", "DELETE"]), path)


def bad_auth():
    a = rnd.choice([
        "Authorization: Basic " + rstr(30),
        "Authorization: Basic " + base64.b64encode(rbytes(50)).decode(),
        "Authorization: Basic",
        "Authorization: Digest x",
        "Authorization: Basic " + "A" * 60000,
        "Authorization: Basic " + base64.b64encode(
            b"admin:" + b"x" * 5000).decode(),
    ])
    return req("GET", "/api/status", [a], auth=False)


KINDS = [broken_request_line, huge_headers, bad_content_length,
         chunked_garbage, bad_json, wrong_method, bad_query, bad_auth]


def good():
    return send(req("GET", "/api/status", ctype=False), timeout=10, src=2)


def one(data):
    return send(data, timeout=0.5)


def main():
    codes = {}
    slow = 0
    pool = concurrent.futures.ThreadPoolExecutor(4)
    for start in range(0, COUNT, 100):
        n = min(100, COUNT - start)
        batch = [rnd.choice(KINDS)() for _ in range(n)]
        # a slow sender (one byte at a time) and one that stops half-way
        slowf = pool.submit(send, req("GET", "/api/status", ctype=False),
                            chunks=1, delay=0.002, timeout=10, src=2)
        send(req("PUT", "/api/config", [], b'{"gport": 1')[:-5], read=False)
        slow += 2
        for c in pool.map(one, batch):
            codes[c] = codes.get(c, 0) + 1
        if slowf.result() != 200:
            print("httpfuzz: the slow sender got no 200")
            return 1
        if good() != 200:
            print("httpfuzz: no 200 for a good request after %d requests"
                  % (start + n))
            return 1
    print("httpfuzz: %d requests and %d slow senders, status codes %s "
          "(0: none, connection closed); still answering"
          % (COUNT, slow, dict(sorted(codes.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
