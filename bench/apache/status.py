#!/usr/bin/env python3
"""Records real httpd's mod_status pages, for the comparison in
crates/quill/tests/serve/status.rs.

    python3 bench/apache/status.py     # needs /usr/sbin/apache2 (apt-get install apache2)

For each MPM (event, worker, prefork) it starts Debian's apache2 on
127.0.0.1:19090 with the configuration below in a temp dir (mod_status with
`Require local`, ExtendedStatus on by default), fetches a static file five
times, then (1.5 s later) `/server-status?auto`, stops apache2 by its pid file, and
writes tests/data/httpd/status/auto-MPM.txt.
"""
import os, subprocess, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "httpd", "status")
MODS = "/usr/lib/apache2/modules"

CONF = """ServerRoot {root}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {root}/httpd.pid
ErrorLog {root}/error_log
User www-data
Group www-data
LoadModule mpm_{mpm}_module {mods}/mod_mpm_{mpm}.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule authz_host_module {mods}/mod_authz_host.so
LoadModule status_module {mods}/mod_status.so
{pool}
DocumentRoot {root}/docs
<Directory {root}/docs>
Require all granted
</Directory>
<Location /server-status>
SetHandler server-status
Require local
</Location>
"""

POOLS = {
    "event": "StartServers 2\nThreadsPerChild 5\nServerLimit 4\nMaxRequestWorkers 20\nMinSpareThreads 5\nMaxSpareThreads 15",
    "worker": "StartServers 2\nThreadsPerChild 5\nServerLimit 4\nMaxRequestWorkers 20\nMinSpareThreads 5\nMaxSpareThreads 15",
    "prefork": "StartServers 2\nServerLimit 4\nMaxRequestWorkers 4\nMinSpareServers 1\nMaxSpareServers 3",
}


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode("latin-1")


def record(mpm, port=19090):
    root = tempfile.mkdtemp(prefix="quill-status-")
    os.chmod(root, 0o755)  # apache2's children run as www-data
    os.makedirs(os.path.join(root, "docs"))
    with open(os.path.join(root, "docs", "f.txt"), "w") as f:
        f.write("0123456789" * 300)
    conf = os.path.join(root, "httpd.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(root=root, port=port, mpm=mpm, mods=MODS, pool=POOLS[mpm]))
    subprocess.run(["/usr/sbin/apache2", "-f", conf, "-k", "start"], check=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 10
        while True:
            try:
                fetch(base + "/f.txt")
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        for _ in range(4):
            fetch(base + "/f.txt")
        time.sleep(1.5)  # so that the per-second lines are printed
        auto = fetch(base + "/server-status?auto")
    finally:
        subprocess.run(["/usr/sbin/apache2", "-f", conf, "-k", "stop"], check=False)
        time.sleep(1)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f"auto-{mpm}.txt"), "w") as f:
        f.write(auto)
    print(f"{mpm}: {len(auto.splitlines())} lines")


if __name__ == "__main__":
    for mpm in ("event", "worker", "prefork"):
        record(mpm)
