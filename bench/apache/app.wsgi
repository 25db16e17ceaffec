"""WSGI app used by the Quill Apache fidelity harness (bench/apache).

/sleep?ms=N  holds the daemon thread (and so the Apache worker thread that
             proxies to it) for N milliseconds, then answers 200 "ok".
/info        JSON with mod_wsgi/python versions and the process group.
"""
import json
import os
import sys
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if path.startswith("/info"):
        try:
            import mod_wsgi  # only importable inside mod_wsgi

            version = ".".join(str(v) for v in mod_wsgi.version)
            group = mod_wsgi.process_group
        except Exception:  # pragma: no cover - outside mod_wsgi
            version = environ.get("mod_wsgi.version", "")
            group = environ.get("mod_wsgi.process_group", "")
        body = json.dumps(
            {
                "mod_wsgi_version": version,
                "process_group": group,
                "application_group": environ.get("mod_wsgi.application_group", ""),
                "python": sys.version.split()[0],
                "pid": os.getpid(),
                "multithread": environ.get("wsgi.multithread"),
                "multiprocess": environ.get("wsgi.multiprocess"),
            }
        ).encode()
        ctype = "application/json"
    else:
        qs = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            ms = float(qs.get("ms", ["0"])[0])
        except ValueError:
            ms = 0.0
        if ms > 0:
            time.sleep(min(ms, 600000.0) / 1000.0)
        body = b"ok\n"
        ctype = "text/plain"
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]
