# For the lifecycle tests (a copy runs from a temporary directory): a script
# that crashes its process (or raises) at import while a marker file exists, and a
# response that drips forever and notes when it is closed.
import fcntl
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# When this module was imported, and when this process took its first
# request: preloading imports before the process takes any request.
IMPORTED_US = int(time.time() * 1e6)
FIRST_REQUEST_US = None

if os.path.exists(os.path.join(HERE, "crash-on-import")):
    os._exit(7)
if os.path.exists(os.path.join(HERE, "raise-on-import")):
    raise RuntimeError("lifecycle app told to fail at import")


class Drip:
    """1 KiB every 50 ms for 5 minutes: only a client that goes away ends
    it early (the next write fails, then close() is called)."""

    def __iter__(self):
        for _ in range(6000):
            time.sleep(0.05)
            yield b"x" * 1024

    def close(self):
        open(os.path.join(HERE, "drip-closed"), "w").close()


def in_flight(change):
    """Adds `change` to the /sleep requests in flight in every process of
    the group (a locked file beside the script); "now peak"."""
    with open(os.path.join(HERE, "in-flight"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        now, peak = (int(x) for x in (f.read().split() or ["0", "0"]))
        now += change
        peak = max(peak, now)
        f.seek(0)
        f.truncate()
        f.write("%d %d" % (now, peak))
        return "%d %d" % (now, peak)


def application(environ, start_response):
    global FIRST_REQUEST_US
    if FIRST_REQUEST_US is None:
        FIRST_REQUEST_US = int(environ["mod_wsgi.daemon_start"])
    p = environ["PATH_INFO"]
    if p == "/preload":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d %d" % (IMPORTED_US, FIRST_REQUEST_US)]
    if p == "/pid":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    if p == "/spec-env":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str("QUILL_DAEMON_SPEC" in os.environ).encode()]
    if p == "/drip":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Drip()
    if p == "/sleep":
        in_flight(1)
        try:
            time.sleep(float(environ["QUERY_STRING"] or 1))
        finally:
            in_flight(-1)
    if p == "/read":
        n = len(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(n).encode()]
    if p == "/big":
        # QUERY_STRING MiB in 64 KiB pieces, with a Content-Length.
        n = int(environ["QUERY_STRING"] or 16) << 20
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(n))],
        )
        piece = b"x" * 65536
        return (piece for _ in range(n // 65536))
    if p.startswith("/echo"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [p.encode("latin-1")]
    if p == "/in-flight":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [in_flight(0).encode()]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
