#!/usr/bin/env python3
"""Virtual-host selection: which server real httpd picks for a connection's
address and port and a request's Host header.

    python3 bench/apache/vhosts.py record       # real Debian apache2, ports 19181-19184
    python3 bench/apache/vhosts.py P1 P2 P3 P4  # print what the server on those ports answers

The virtual hosts are tests/data/httpd/vhosts/vhosts.conf (name-based ones
with ServerAlias wildcards, a duplicate name and one without a ServerName;
IP-based beside `*`; `*:*`, `_default_:port` and `[::1]:port`). Each answers
GET /who/who.txt with its name. `record` starts /usr/sbin/apache2 (apt-get
install apache2) with that file in a temp dir, sends every probe below,
stops it by its pid file and writes tests/data/httpd/vhosts/httpd.json:
each probe's address, port (1-4), Host field (or none) and the name that
answered; and, for KEEP_ALIVE, how many of five pipelined requests one
connection answered. crates/quill/tests/serve/vhosts.rs sends the same probes to
`quill serve` of the same file and compares.
"""
import json, os, shutil, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "httpd", "vhosts")
NAMES = ["main", "a", "b", "dup", "noname", "literal", "star", "ip4", "ip4b", "anyport", "anyport2", "dflt", "six"]

HOSTS = [
    None, "a.example", "A.EXAMPLE.", "a.example:8080", "www.a.example", "x.y.a.example",
    "alt.example", "b.example", "b1.example", "b12.example", "localhost", "127.0.0.1",
    "unknown.example", "star.example", "ip4.example", "ip4b.example", "any.example", "any2.example",
    "dflt.example", "six.example", "[::1]",
]
PROBES = [(addr, port, host) for port in (1, 2, 3, 4) for addr in ("127.0.0.1", "::1")
          for host in HOSTS if not (port == 1 and addr == "::1")]

# Keep-alive per virtual host: five pipelined HTTP/1.1 requests on one
# connection (port, Host); how many are answered before the server closes
# it (KeepAliveTimeout 1 ends a connection kept open).
KEEP_ALIVE = [(1, "a.example"), (1, "b.example"), (1, "localhost"), (2, "ip4.example"),
              (2, "ip4b.example"), (2, "star.example"), (4, "any.example")]

PREAMBLE = """ServerRoot {root}
PidFile {root}/httpd.pid
ErrorLog {root}/error_log
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
<Directory {root}>
Require all granted
</Directory>
"""


def config(root, ports):
    """The shared virtual hosts, filled in for this root and these ports."""
    with open(os.path.join(DATA, "vhosts.conf")) as f:
        text = f.read().replace("@ROOT@", root)
    for i, p in enumerate(ports, 1):
        text = text.replace(f"@P{i}@", str(p))
    return text


def who_files(root):
    for n in NAMES:
        os.makedirs(os.path.join(root, "who", n))
        with open(os.path.join(root, "who", n, "who.txt"), "w") as f:
            f.write(n)


def ask(addr, port, host):
    s = socket.create_connection((addr, port), timeout=10)
    try:
        head = "GET /who/who.txt HTTP/1.0\r\n" + (f"Host: {host}\r\n" if host is not None else "") + "\r\n"
        s.sendall(head.encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    finally:
        s.close()
    status = data.split(b"\r\n", 1)[0].split()[1].decode()
    body = data.split(b"\r\n\r\n", 1)[1].decode()
    return body if status == "200" else f"status {status}"


def answered(port, host):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(f"GET /who/who.txt HTTP/1.1\r\nHost: {host}\r\n\r\n".encode() * 5)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    finally:
        s.close()
    return data.count(b" 200 OK\r\n")


def record():
    ports = [19181, 19182, 19183, 19184]
    root = tempfile.mkdtemp(prefix="quill-vhosts-")
    who_files(root)
    os.chmod(root, 0o755)
    conf = os.path.join(root, "httpd.conf")
    with open(conf, "w") as f:
        f.write(PREAMBLE.format(root=root) + config(root, ports))
    subprocess.check_call(["/usr/sbin/apache2", "-f", conf, "-k", "start"])
    try:
        time.sleep(1)
        version = subprocess.check_output(["/usr/sbin/apache2", "-v"], text=True).splitlines()[0]
        rows = [{"address": a, "port": p, "host": h, "server": ask(a, ports[p - 1], h)}
                for a, p, h in PROBES]
        kept = [{"port": p, "host": h, "answered": answered(ports[p - 1], h)} for p, h in KEEP_ALIVE]
    finally:
        with open(os.path.join(root, "httpd.pid")) as f:
            os.kill(int(f.read()), 15)
    out = os.path.join(DATA, "httpd.json")
    with open(out, "w") as f:
        json.dump({"server": version, "probes": rows, "keep_alive": kept}, f, indent=1)
        f.write("\n")
    print(f"wrote {out} ({version})")
    time.sleep(1)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["record"]:
        record()
    elif len(sys.argv) == 5:
        ports = [int(p) for p in sys.argv[1:]]
        for a, p, h in PROBES:
            print(f"{a:10} P{p} {str(h):18} {ask(a, ports[p - 1], h)}")
        for p, h in KEEP_ALIVE:
            print(f"keep-alive P{p} {h:18} {answered(ports[p - 1], h)} answered")
    else:
        sys.exit(__doc__)
