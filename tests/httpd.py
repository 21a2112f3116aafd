#!/usr/bin/env python3
"""The lab's web server: python's http.server, with a listen backlog that
a burst of connections does not overflow.

    httpd.py PORT [--bind ADDR] [--directory DIR]

`python3 -m http.server` listens with a backlog of 5: on a slow kernel
(the debug kernel, PREEMPT_RT) 200 concurrent connections overflow it,
and the SYNs the server's stack drops then look like a relay that cannot
connect. Requests are logged on stderr as http.server logs them.
"""
import argparse
import functools
import http.server


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--directory", default=".")
    a = ap.parse_args()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=a.directory)
    with Server((a.bind, a.port), handler) as httpd:
        httpd.serve_forever()


if __name__ == "__main__":
    main()
