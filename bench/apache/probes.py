#!/usr/bin/env python3
"""Host and path probes: what a server answers to requests that httpd
checks before any handler runs (RFC 9112 Host rules, absolute-form
targets, dot segments, encoded slashes, OPTIONS *, bare-LF heads,
LimitRequestLine, RequestReadTimeout's header and body stages, shortened
to header=2-4 and body=2 so that a head or body that never ends is
answered within seconds, and malformed or oversized chunked bodies).

    python3 bench/apache/probes.py record    # real Debian apache2 on 127.0.0.1:19080
    python3 bench/apache/probes.py PORT       # print what the server on PORT answers

`record` starts /usr/sbin/apache2 (apt-get install apache2) with the config
below in a temp dir (an Alias /static to a directory holding f.txt,
mod_reqtimeout, and mod_wsgi 4.9.4 (libapache2-mod-wsgi-py3) serving the
tests' lifecycle.wsgi at /app in daemon mode), sends
every probe, stops it by its pid file, and writes
tests/data/httpd/probes/httpd.json: each probe's name, raw request and the
status line's code. crates/quill/tests/serve/probes.rs sends the same
requests to `quill serve` of the same Alias and compares.
"""
import json, os, shutil, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "httpd", "probes", "httpd.json")
# The WSGI application at /app: the one the Quill test mounts there.
APP = os.path.join(ROOT, "crates", "quill", "tests", "serve", "apps", "lifecycle.wsgi")

CHUNKED = b"POST /app/read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

PROBES = [
    ("control", b"GET /static/f.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("no Host, HTTP/1.1", b"GET /static/f.txt HTTP/1.1\r\n\r\n"),
    ("no Host, HTTP/1.0", b"GET /static/f.txt HTTP/1.0\r\n\r\n"),
    ("two Host fields", b"GET /static/f.txt HTTP/1.1\r\nHost: probe\r\nHost: evil.example\r\n\r\n"),
    ("Host with a space and a slash", b"GET /static/f.txt HTTP/1.1\r\nHost: a b/c\r\n\r\n"),
    ("empty Host", b"GET /static/f.txt HTTP/1.1\r\nHost: \r\n\r\n"),
    ("Host with a port that is not a number", b"GET /static/f.txt HTTP/1.1\r\nHost: x:abc\r\n\r\n"),
    ("Host with a port", b"GET /static/f.txt HTTP/1.1\r\nHost: localhost:80\r\n\r\n"),
    ("Host, IPv6 literal", b"GET /static/f.txt HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
    ("Host with an underscore", b"GET /static/f.txt HTTP/1.1\r\nHost: my_host\r\n\r\n"),
    ("absolute-form target, no Host", b"GET http://other.example/static/f.txt HTTP/1.1\r\n\r\n"),
    ("absolute-form target and a Host", b"GET http://other.example/static/f.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("/static/x/../f.txt", b"GET /static/x/../f.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("/static/x/%2e%2e/f.txt", b"GET /static/x/%2e%2e/f.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("/nothing/../static/f.txt", b"GET /nothing/../static/f.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("/static/./f.txt", b"GET /static/./f.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("/../static/f.txt", b"GET /../static/f.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("/static/../../f.txt", b"GET /static/../../f.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("/static/%2e%2e/%2e%2e/f.txt", b"GET /static/%2e%2e/%2e%2e/f.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("/static%2Ff.txt", b"GET /static%2Ff.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    # ap_unescape_url: a % not followed by two hex digits is a 400, a %00 a 404.
    ("/static/f%zz.txt", b"GET /static/f%zz.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("/static/f.txt%2", b"GET /static/f.txt%2 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("/static/f%00.txt", b"GET /static/f%00.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("/app/x%00 (the WSGI mount)", b"GET /app/x%00 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("%zz in the query string", b"GET /static/f.txt?%zz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("bare-LF head", b"GET /static/f.txt HTTP/1.1\nHost: x\n\n"),
    ("bare LF in a header field", b"GET /static/f.txt HTTP/1.1\r\nHost: x\nX: y\r\n\r\n"),
    ("request line over LimitRequestLine", b"GET /static/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    # LimitRequestLine 8190: httpd takes a line of up to 8191 bytes (its
    # ap_rgetline is given limit + 2 with the CRLF), refuses 8192.
    ("request line of 8191 bytes", b"GET /static/f.txt?" + b"a" * (8191 - 27) + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("request line of 8192 bytes", b"GET /static/f.txt?" + b"a" * (8192 - 27) + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    # RequestReadTimeout header=2-4 (CONF): the head never ends.
    ("header fields that never end", b"GET /static/f.txt HTTP/1.1\r\nHost: x\r\n"),
    ("a request line that never ends", b"GET /static/f.txt HTTP/1.1"),
    # Request bodies, read by the WSGI application's wsgi.input.read()
    # (LimitRequestBody 1000, RequestReadTimeout body=2).
    ("chunked body", CHUNKED + b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"),
    ("malformed chunked body", CHUNKED + b"5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n"),
    ("chunked body over LimitRequestBody", CHUNKED + b"800\r\n" + b"x" * 0x800 + b"\r\n0\r\n\r\n"),
    ("a body that stops short of its Content-Length",
     b"POST /app/read HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789"),
]

CONF = """ServerRoot {root}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {root}/httpd.pid
ErrorLog {root}/error_log
LogLevel debug
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
LoadModule reqtimeout_module /usr/lib/apache2/modules/mod_reqtimeout.so
RequestReadTimeout header=2-4,MinRate=500 body=2,MinRate=500
LoadModule wsgi_module /usr/lib/apache2/modules/mod_wsgi.so
LimitRequestBody 1000
WSGISocketPrefix {root}/wsgi
WSGIDaemonProcess app processes=1 threads=2
WSGIChunkedRequest On
WSGIScriptAlias /app {root}/app.wsgi process-group=app application-group=%{{GLOBAL}}
DocumentRoot {root}/docs
<Directory {root}>
Require all granted
</Directory>
Alias /static {root}/docs/sub
"""


def status(port, raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(raw)
        data = s.recv(4096)
    except socket.timeout:
        data = b""
    finally:
        s.close()
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else None


def record():
    port = 19080
    root = tempfile.mkdtemp(prefix="quill-probes-")
    os.makedirs(os.path.join(root, "docs", "sub"))
    with open(os.path.join(root, "docs", "sub", "f.txt"), "w") as f:
        f.write("f\n")
    shutil.copy(APP, os.path.join(root, "app.wsgi"))
    os.chmod(root, 0o755)
    with open(os.path.join(root, "httpd.conf"), "w") as f:
        f.write(CONF.format(root=root, port=port))
    subprocess.check_call(["/usr/sbin/apache2", "-f", os.path.join(root, "httpd.conf"), "-k", "start"])
    try:
        time.sleep(1)
        version = subprocess.check_output(["/usr/sbin/apache2", "-v"], text=True).splitlines()[0]
        rows = [{"name": n, "request": r.decode(), "status": status(port, r)} for n, r in PROBES]
    finally:
        with open(os.path.join(root, "httpd.pid")) as f:
            os.kill(int(f.read()), 15)
    with open(OUT, "w") as f:
        json.dump({"server": version, "probes": rows}, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT} ({version})")
    # What httpd logged for them (LogLevel debug), to compare Quill's lines.
    with open(os.path.join(root, "error_log")) as f:
        for line in f:
            if "[client " in line:
                print(line.rstrip()[:300])
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["record"]:
        record()
    else:
        port = int(sys.argv[1])
        for n, r in PROBES:
            print(f"{n:40} {status(port, r)}")
