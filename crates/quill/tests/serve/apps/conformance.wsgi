# One route per PEP 3333 rule the conformance tests check.
import json
import os
import sys
import time

CLOSED = {"n": 0}


class Closing:
    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        CLOSED["n"] += 1


def jsonr(start_response, obj, status="200 OK"):
    body = json.dumps(obj).encode()
    start_response(status, [("Content-Type", "application/json")])
    return [body]


def application(environ, start_response):
    p = environ["PATH_INFO"]
    if p.startswith("/environ"):
        keys = {k: (v if isinstance(v, (str, int, bool)) else repr(type(v))) for k, v in environ.items()
                if k != "wsgi.version"}
        keys["wsgi.version"] = list(environ["wsgi.version"])
        keys["str_types"] = all(type(v) is str for k, v in environ.items() if k.isupper())
        keys["pid"] = os.getpid()
        keys["sys.prefix"] = sys.prefix
        keys["sys.executable"] = sys.executable
        # The interpreter the app runs in, as the mod_wsgi module says.
        keys["interpreter"] = sys.modules["mod_wsgi"].application_group
        return jsonr(start_response, keys)
    if p == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body]
    if p == "/read-some":
        # Five bytes of the body, whatever its length; the rest unread.
        got = environ["wsgi.input"].read(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [got]
    if p == "/read-sized":
        n = int(environ.get("CONTENT_LENGTH") or 0)
        inp = environ["wsgi.input"]
        first = inp.read(3)
        rest = inp.read(n - 3)
        after = inp.read(10)
        return jsonr(start_response, {"first": first.decode(), "rest": len(rest), "after": after.decode()})
    if p == "/lines":
        inp = environ["wsgi.input"]
        one = inp.readline()
        limited = inp.readline(2)
        rest_of_two = inp.readline()
        remaining = inp.readlines()
        return jsonr(start_response, {"one": one.decode(), "limited": limited.decode(),
                                      "rest": rest_of_two.decode(), "remaining": [l.decode() for l in remaining]})
    if p == "/iterate":
        return jsonr(start_response, {"lines": [l.decode() for l in environ["wsgi.input"]]})
    if p == "/count":
        inp, total = environ["wsgi.input"], 0
        while True:
            b = inp.read(65536)
            if not b:
                break
            total += len(b)
        return jsonr(start_response, {"total": total})
    if p == "/digest":
        # The request body read with read(N) (N from the query; none: one
        # read()): its SHA-256, length, and how many reads it took.
        import hashlib

        q = environ["QUERY_STRING"]
        inp, h, total, reads = environ["wsgi.input"], hashlib.sha256(), 0, 0
        while True:
            b = inp.read(int(q)) if q else inp.read()
            reads += 1
            if not b:
                break
            h.update(b)
            total += len(b)
            if not q:
                break
        return jsonr(start_response, {"sha256": h.hexdigest(), "total": total, "reads": reads})
    if p == "/pattern":
        # N seeded pseudo-random bytes, yielded in pieces of the sizes
        # listed (cycled), with their SHA-256 in a header.
        import hashlib
        import random

        n, sizes = environ["QUERY_STRING"].split("&")
        data = random.Random(n).randbytes(int(n))
        sizes = [int(x) for x in sizes.split(",")]
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("X-Sha256", hashlib.sha256(data).hexdigest())])

        def pieces():
            at, i = 0, 0
            while at < len(data):
                yield data[at:at + sizes[i % len(sizes)]]
                at += sizes[i % len(sizes)]
                i += 1

        return pieces()
    if p == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written-")
        return [b"iterated"]
    if p == "/close":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing([b"a", b"", b"b"])
    if p == "/closed":
        return jsonr(start_response, CLOSED)
    if p == "/generator":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (("%d\n" % i).encode() for i in range(1000))
    if p == "/big":
        n = int(environ["QUERY_STRING"] or 0)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        chunk = b"x" * 65536
        return (chunk for _ in range(n))
    if p == "/raise-before":
        raise RuntimeError("boom before headers")
    if p == "/raise-after":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"partial"
            raise RuntimeError("boom mid-body")

        return gen()
    if p == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("caught")
        except ValueError:
            start_response("503 Custom Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"replaced"]
    if p == "/exc-info-late":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"sent")
        try:
            raise ValueError("late")
        except ValueError:
            start_response("500 Oops", [], sys.exc_info())
        return [b"never"]
    if p == "/twice":
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"never"]
    if p == "/hop":
        start_response("200 OK", [("Connection", "close")])
        return [b"never"]
    if p == "/bad-status":
        start_response("abc", [])
        return [b"never"]
    if p == "/bad-value":
        start_response("200 OK", [("X-Bad", "a\r\nInjected: yes")])
        return [b"never"]
    if p == "/headers-tuple":
        start_response("200 OK", (("Content-Type", "text/plain"),))
        return [b"never"]
    if p == "/not-bytes":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["text"]
    if p == "/no-start":
        return [b"x"]
    if p == "/close-not-bytes":
        # An iterator over a list is taken whole, as a list is: a bad
        # item is found before the head goes out.
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing([b"sent?", "text"])
    if p == "/reason":
        start_response("299 Custom Thing", [("Content-Type", "text/plain"), ("X-Multi", "1"), ("X-Multi", "2")])
        return [b"ok"]
    if p == "/content-length":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"0123456789"]
    if p == "/file":
        f = open(environ["SCRIPT_FILENAME"], "rb")
        f.seek(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](f, 4096)
    if p == "/file-iter":
        class NoFd:
            def __init__(self):
                self.data = [b"one", b"two", b""]

            def read(self, n):
                return self.data.pop(0)

        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](NoFd())
    if p == "/errors":
        environ["wsgi.errors"].write("conformance wsgi.errors line\n")
        environ["wsgi.errors"].flush()
        print("conformance print line")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"logged"]
    if p == "/sleep":
        time.sleep(float(environ["QUERY_STRING"] or 1))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slept"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no route " + p.encode("latin-1")]
