#!/usr/bin/env python3
"""What a server does with request bodies its application does not read,
and with a body over LimitRequestBody that the client sends whole before
it reads: the checks behind the 2026-12-07 fixes (docs/reliability.md).

    python3 bench/apache/unread_bodies.py PORT UNREAD PARTIAL
    python3 bench/apache/unread_bodies.py --limited PORT PATH

PORT: a server on 127.0.0.1. UNREAD: the path of a WSGI application that
answers 200 without reading wsgi.input; PARTIAL: one that reads 5 bytes of
it and answers them. Chunked requests need `WSGIChunkedRequest On`.
`--limited`: the server runs with `LimitRequestBody 1000000`, PATH is any
application.

It prints, for each case, what came back:

* pipelined on one connection (bodies written while answers are read):
  POST UNREAD with a 3 MiB Content-Length body, POST PARTIAL and POST
  UNREAD with 3 MiB chunked bodies, then GET UNREAD with Connection:
  close. httpd 2.4 with mod_wsgi 4.9 (Debian 12), daemon and embedded
  mode: 4 answers, the five bytes once, no error;
* Python's urllib (the whole body sent, then the answer read), 5 times
  each with 3 MB and 30 MB to UNREAD: httpd answers 200 every time;
* `--limited`: the same uploads, over the limit: httpd answers 413 every
  time.

The httpd side of the comparison ran with a configuration of this shape
(User/Group www-data, the modules from /usr/lib/apache2/modules):

    LoadModule mpm_event_module …/mod_mpm_event.so
    LoadModule authz_core_module …/mod_authz_core.so
    LoadModule alias_module …/mod_alias.so
    LoadModule wsgi_module …/mod_wsgi.so
    WSGIDaemonProcess shared processes=1 threads=4
    WSGIChunkedRequest On
    WSGIScriptAlias /c c.wsgi process-group=shared application-group=%{GLOBAL}
    WSGIScriptAlias /dd d.wsgi process-group=shared application-group=%{GLOBAL}
    WSGIScriptAlias /e c.wsgi
    WSGIScriptAlias /de d.wsgi

and `quill serve` with the same directives (without the User/Group and
module paths).
"""
import socket
import sys
import threading
import urllib.error
import urllib.request

BIG = 3 << 20


def chunked(data: bytes, piece: int = 64 << 10) -> bytes:
    out = bytearray()
    for i in range(0, len(data), piece):
        c = data[i:i + piece]
        out += b"%x\r\n" % len(c) + c + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def pipelined(port: int, unread: str, partial: str) -> str:
    body = b"a" * BIG
    reqs = (
        f"POST {unread} HTTP/1.1\r\nHost: x\r\nContent-Length: {BIG}\r\n\r\n".encode() + body
        + f"POST {partial} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunked(body)
        + f"POST {unread} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunked(body)
        + f"GET {unread} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(30)
    out = bytearray()
    errors = []

    def read():
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out.extend(d)
        except OSError as e:
            errors.append(f"read {e!r}")

    t = threading.Thread(target=read)
    t.start()
    try:
        s.sendall(reqs)
    except OSError as e:
        errors.append(f"write {e!r}")
    t.join(40)
    s.close()
    return (f"answers {out.count(b'HTTP/1.1 200 OK')} of 4, the five bytes "
            f"{out.count(b'aaaaa')} time(s), errors {errors or 'none'}")


def uploads(port: int, path: str) -> str:
    lines = []
    for n in (3_000_000, 30_000_000):
        got = []
        for _ in range(5):
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"a" * n)
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    got.append(str(r.status))
            except urllib.error.HTTPError as e:
                got.append(str(e.code))
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                got.append(type(reason).__name__)
        lines.append(f"{n} bytes: {' '.join(got)}")
    return "; ".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--limited":
        print("urllib, over LimitRequestBody:", uploads(int(argv[1]), argv[2]))
        return 0
    if len(argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    port, unread, partial = int(argv[0]), argv[1], argv[2]
    print("pipelined:", pipelined(port, unread, partial))
    print("urllib, unread:", uploads(port, unread))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
