# Misbehaving requests for the fault tests.
import ctypes
import os
import time


def application(environ, start_response):
    p = environ["PATH_INFO"]
    if p == "/pid":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    if p == "/exit":
        os._exit(3)
    if p == "/segfault":
        ctypes.string_at(0)
    if p == "/loop":
        # Python code: a request-timeout interrupt unwinds it.
        while True:
            time.sleep(0.05)
    if p == "/stuck":
        # One long C call that releases the GIL: an interrupt cannot land.
        ctypes.CDLL(None).sleep(30)
    if p == "/hold-gil":
        # A C call that keeps the GIL (PyDLL): the deadlock timer fires.
        ctypes.PyDLL(None).sleep(30)
    if p == "/gilstate":
        # The simplified GIL API, as some C extensions use it: fine in the
        # main interpreter, a deadlock in a sub-interpreter.
        api = ctypes.pythonapi
        api.PyGILState_Ensure.restype = ctypes.c_int
        api.PyGILState_Release(api.PyGILState_Ensure())
    if p == "/spin":
        # Pure Python for that many seconds: the GIL is given up only when
        # the interpreter asks this thread to.
        end = time.monotonic() + float(environ["QUERY_STRING"] or 1)
        while time.monotonic() < end:
            pass
    if p == "/sleep":
        time.sleep(float(environ["QUERY_STRING"] or 1))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
