# A stand-in for the thread's Django site, with Python's standard library
# only: each request takes 50 ms of the daemon thread's time.
import os
import time


def application(environ, start_response):
    time.sleep(0.05)
    body = "Hello from daemon process {} of group '{}'\n".format(
        os.getpid(), environ.get("mod_wsgi.process_group", "")
    ).encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]
