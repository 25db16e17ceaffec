# The soak run's application (bench/soak.py): each request sleeps 100 ms,
# as a request that waits on a database would, and answers "ID PID" (ID
# from the query string). While it runs, a file markers/PID.ID exists beside
# the script (the soak run works on a copy in a temporary directory): the
# soak run lists them, with the process stopped, just before it kills that
# process, to know exactly which requests were in flight in it.
import os
import time

MARKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "markers")
PID = os.getpid()


class Body:
    """The response, whose marker goes when the server closes it (after
    the body was written to the front end, PEP 3333)."""

    def __init__(self, marker, data):
        self.marker = marker
        self.data = data

    def __iter__(self):
        yield self.data

    def close(self):
        try:
            os.unlink(self.marker)
        except OSError:
            pass


def application(environ, start_response):
    rid = environ.get("QUERY_STRING", "")
    if not rid.isdigit():
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d" % PID]
    marker = os.path.join(MARKERS, "%d.%s" % (PID, rid))
    open(marker, "w").close()
    time.sleep(0.1)
    data = ("%s %d" % (rid, PID)).encode()
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))]
    )
    return Body(marker, data)
