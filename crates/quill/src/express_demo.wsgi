# Quill's built-in demo application (standard library only): what
# `quill express` runs when no WSGI script is given.
import html
import os
import sys
import time


def _page(environ):
    rows = "".join(
        "<tr><th>%s</th><td>%s</td></tr>" % (html.escape(k), html.escape(repr(environ[k])))
        for k in sorted(environ)
    )
    return """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Quill is running</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}th{text-align:left;padding-right:1em}
td,th{font-size:90%%;vertical-align:top;border-bottom:1px solid #eee}</style></head>
<body><h1>Quill is running</h1>
<p>This is Quill's built-in demo application, served by daemon process %(pid)d
of group <code>%(group)s</code> with Python %(version)s from <code>%(prefix)s</code>.</p>
<p>Run your own application with <code>quill express path/to/app.wsgi</code>;
<code>quill express --help</code> lists the options and
<code>quill express APP --print-config</code> shows the equivalent Apache configuration.</p>
<ul><li><a href="stream">a streamed response</a> (five chunks, 0.2 s apart)</li>
<li><form method="post" action="echo" style="display:inline"><input name="text" value="hello">
<button>POST it</button></form></li></ul>
<h2>The WSGI environ of this request</h2><table>%(rows)s</table></body></html>
""" % {
        "pid": os.getpid(),
        "group": html.escape(environ.get("mod_wsgi.process_group", "")),
        "version": sys.version.split()[0],
        "prefix": html.escape(sys.prefix),
        "rows": rows,
    }


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])

        def chunks():
            for i in range(5):
                yield ("chunk %d at %.1f\n" % (i, time.time())).encode()
                time.sleep(0.2)

        return chunks()
    if path == "/echo" and environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"You posted: " + body + b"\n"]
    body = _page(environ).encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
