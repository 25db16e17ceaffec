#!/usr/bin/env python3
"""Side-by-side benchmark: Quill, Granian, gunicorn (gthread), uWSGI and
Apache + mod_wsgi daemon mode, at equal processes x threads, driven by wrk
on 127.0.0.1. Prints a Markdown table (and writes it with --out).

    python3 bench/servers/bench.py --setup            # apt wrk, apache2, mod_wsgi; a venv with the peers
    python3 bench/servers/bench.py [--duration 10] [--servers quill,gunicorn] [--scenarios hello,io]
    python3 bench/servers/bench.py --servers quill,base --variant base=/tmp/old/quill --repeat 3

`--variant NAME=PATH` adds a server NAME that is Quill run from another
binary (before/after comparisons in one run). `NAME-embedded` (e.g.
`quill-embedded`) is Quill build NAME with `--embedded-mode`. `--repeat N` runs every
(scenario, server) pair N times, interleaved, and keeps the run with the
median req/s; each round starts one server further down the list, so that
a machine whose speed drifts during the run favours no server. `--json
FILE` keeps every run (for plot.py).

Every server is started by this script, on a private port, and stopped by
PID (its own session) at the end of its run. Needs a release build of
quill (`cargo build --release -p quill`) and root for Apache.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
VENV = os.path.join(ROOT, "target", "bench-venv")
PY = os.path.join(VENV, "bin")
QUILL = os.path.join(ROOT, "target", "release", "quill")

SCENARIOS = {
    # name: (path, connections, wrk extra args)
    "hello": ("/", 50, []),
    "django": ("/django", 50, []),
    "io": ("/io", 200, []),
    "stream": ("/stream", 20, []),
    "upload": ("/upload", 8, ["-s", os.path.join(HERE, "upload.lua")]),
}


def setup():
    subprocess.check_call(["apt-get", "install", "-y", "wrk", "apache2", "libapache2-mod-wsgi-py3"])
    if not os.path.exists(PY):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([os.path.join(PY, "pip"), "install", "--quiet", "gunicorn", "granian", "uwsgi", "django"])


def apache_conf(tmp, port, procs, threads):
    conf = os.path.join(tmp, "httpd.conf")
    mods = "/usr/lib/apache2/modules"
    with open(conf, "w") as f:
        f.write(f"""ServerRoot {tmp}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {tmp}/httpd.pid
ErrorLog {tmp}/error_log
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module {mods}/mod_mpm_event.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule wsgi_module {mods}/mod_wsgi.so
ThreadsPerChild 25
MaxRequestWorkers 400
ServerLimit 16
StartServers 2
KeepAlive On
KeepAliveTimeout 2
WSGISocketPrefix {tmp}/wsgi
WSGIDaemonProcess bench processes={procs} threads={threads} listen-backlog={DAEMON_BACKLOG} python-home={VENV} python-path={HERE} home={HERE}
WSGIScriptAlias / {HERE}/app.wsgi process-group=bench application-group=%{{GLOBAL}}
<Directory {HERE}>
  Require all granted
</Directory>
""")
    os.chmod(tmp, 0o755)
    return conf


VARIANTS = {"quill": QUILL}
# The daemon socket's listen-backlog of the two mod_wsgi-style servers
# (Quill, Apache): mod_wsgi's default of 100 is below the 200 connections
# of the io scenario, and a full backlog means connect retries every
# 0.125 s, out of arrival order (both servers had wrk timeouts from it).
DAEMON_BACKLOG = 500
QUIET_WAIT = 0


def command(server, port, procs, threads, tmp):
    # `NAME-embedded`: Quill build NAME in embedded mode (the application
    # in the front-end children, no daemon processes).
    if server.endswith("-embedded") and server[: -len("-embedded")] in VARIANTS:
        return command(server[: -len("-embedded")], port, procs, threads, tmp) + ["--embedded-mode"]
    if server in VARIANTS:
        return [VARIANTS[server], "express", os.path.join(HERE, "app.wsgi"), "--host", "127.0.0.1", "--port", str(port),
                "--processes", str(procs), "--threads", str(threads), "--python-home", VENV,
                "--python-path", HERE, "--log-level", "error", "--server-root", tmp,
                "--limit-request-body", "0", "--queue-timeout", "120", "--socket-timeout", "120",
                "--request-timeout", "120", "--daemon-backlog", str(DAEMON_BACKLOG)]
    if server == "gunicorn":
        return [os.path.join(PY, "gunicorn"), "-k", "gthread", "-w", str(procs), "--threads", str(threads),
                "-b", f"127.0.0.1:{port}", "--chdir", HERE, "--log-level", "error", "apps:application"]
    if server == "granian":
        return [os.path.join(PY, "granian"), "--interface", "wsgi", "--workers", str(procs),
                "--blocking-threads", str(threads), "--host", "127.0.0.1", "--port", str(port),
                "--working-dir", HERE, "--log-level", "error", "apps:application"]
    if server == "uwsgi":
        return [os.path.join(PY, "uwsgi"), "--http", f"127.0.0.1:{port}", "--processes", str(procs),
                "--threads", str(threads), "--wsgi-file", os.path.join(HERE, "app.wsgi"), "--master",
                "--disable-logging", "--chdir", HERE, "--http-keepalive", "--add-header", "Connection: Keep-Alive"]
    if server == "apache":
        return ["/usr/sbin/apache2", "-f", apache_conf(tmp, port, procs, threads), "-DFOREGROUND"]
    raise ValueError(server)


def tree(pid):
    out = [pid]
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out += tree(int(p))
    return out


def rss_detail_kb(pids):
    """Current anonymous and file-backed RSS per process (the peak is
    VmHWM, which /proc does not split)."""
    res = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                st = f.read()
            res[p] = {k: int(re.search(k + r":\s+(\d+)", st).group(1)) for k in ("RssAnon", "RssFile")}
        except (OSError, AttributeError):
            pass
    return res


def peak_rss_kb(pids):
    res = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                m = re.search(r"VmHWM:\s+(\d+)", f.read())
            with open(f"/proc/{p}/comm") as f:
                comm = f.read().strip()
            if m:
                res[p] = (comm, int(m.group(1)))
        except OSError:
            pass
    return res


def cpu_ticks(pids):
    res = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            res[p] = int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return res


def pss_kb(pids):
    res = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                m = re.search(r"^Pss:\s+(\d+)", f.read(), re.M)
            if m:
                res[p] = int(m.group(1))
        except OSError:
            pass
    return res


def cpu_idle_fraction(seconds=1.0):
    def sample():
        with open("/proc/stat") as f:
            v = list(map(int, f.readline().split()[1:]))
        return v[3] + v[4], sum(v)  # idle + iowait, total
    i0, t0 = sample()
    time.sleep(seconds)
    i1, t1 = sample()
    return (i1 - i0) / max(t1 - t0, 1)


def wait_quiet(max_wait, threshold=0.85):
    """Waits (at most max_wait s) until other work leaves the CPUs idle:
    the machine is shared, and a compile next door halves any result."""
    deadline = time.time() + max_wait
    while time.time() < deadline:
        if cpu_idle_fraction() >= threshold:
            return True
    print(f"machine still busy after {max_wait} s; measuring anyway", file=sys.stderr)
    return False


def wait_up(url, deadline):
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return True
        except Exception:
            time.sleep(0.2)
    return False


def parse_wrk(text):
    def ms(v, unit):
        return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", text)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": ms(*p50.groups()) if p50 else None,
        "p99": ms(*p99.groups()) if p99 else None,
        "errors": errors,
        "requests": int(total.group(1)) if total else 0,
    }


def run_one(server, scenario, port, procs, threads, duration):
    tmp = tempfile.mkdtemp(prefix=f"bench-{server}-")
    cmd = command(server, port, procs, threads, tmp)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "stderr"), "w"),
                            start_new_session=True, cwd=HERE)
    result = {"server": server, "scenario": scenario}
    try:
        path, conns, extra = SCENARIOS[scenario]
        url = f"http://127.0.0.1:{port}{path}"
        if not wait_up(f"http://127.0.0.1:{port}/", time.time() + 60):
            result["error"] = "did not start: " + open(os.path.join(tmp, "stderr")).read()[-300:]
            return result
        subprocess.run(["wrk", "-t2", f"-c{conns}", "-d2s", url] + extra, capture_output=True)  # warm-up
        if QUIET_WAIT:
            result["quiet"] = wait_quiet(QUIET_WAIT)
        pids = tree(proc.pid)
        before = cpu_ticks(pids)
        out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency", url] + extra,
                             capture_output=True, text=True).stdout
        after = cpu_ticks(pids)
        result.update(parse_wrk(out))
        result["wrk"] = out
        pids = tree(proc.pid)
        result["rss"] = peak_rss_kb(pids)
        result["rss_detail"] = rss_detail_kb(pids)
        pss = pss_kb(pids)
        hz = os.sysconf("SC_CLK_TCK")
        n = max(result["requests"], 1)
        # CPU time per request of each process, in microseconds.
        result["cpu_us"] = {p: (after[p] - before[p]) * 1e6 / hz / n for p in after if p in before}
        result["pss"] = pss
    finally:
        for p in reversed(tree(proc.pid)):
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            for p in tree(proc.pid):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def table(results):
    lines = ["| scenario | server | req/s | p50 ms | p99 ms | errors | peak RSS per process (MB) | CPU µs/request per process |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['scenario']} | {r['server']} | — | — | — | — | {r['error'][:60]} |")
            continue
        rss = ", ".join(f"{c} {kb / 1024:.1f}" for c, kb in sorted(r["rss"].values()))
        cpu = ", ".join(f"{r['rss'].get(p, ('?', 0))[0]} {us:.1f}" for p, us in sorted(r.get("cpu_us", {}).items()) if us >= 0.05)
        f = lambda v: "—" if v is None else f"{v:.2f}"
        lines.append(f"| {r['scenario']} | {r['server']} | {r['rps']:.0f} | {f(r['p50'])} | {f(r['p99'])} | {r['errors']} | {rss} | {cpu} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--setup", action="store_true")
    ap.add_argument("--servers", default="quill,granian,gunicorn,uwsgi,apache")
    ap.add_argument("--scenarios", default="hello,django,io,stream,upload")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--port", type=int, default=18700)
    ap.add_argument("--out")
    ap.add_argument("--json")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--quiet-wait", type=int, default=120,
                    help="before each measurement wait up to this many seconds for idle CPUs (0: don't)")
    a = ap.parse_args()
    global QUIET_WAIT
    QUIET_WAIT = a.quiet_wait
    if a.setup:
        setup()
        return
    for v in a.variant:
        name, path = v.split("=", 1)
        VARIANTS[name] = os.path.abspath(path)
    servers = a.servers.split(",")
    results, runs = [], []
    for scenario in a.scenarios.split(","):
        by_server = {s: [] for s in servers}
        for k in range(a.repeat):
            order = list(enumerate(servers))
            order = order[k % len(order):] + order[:k % len(order)]
            for i, server in order:
                r = run_one(server, scenario, a.port + i, a.processes, a.threads, a.duration)
                print(r, file=sys.stderr, flush=True)
                by_server[server].append(r)
                runs.append(r)
        for server in servers:
            rs = sorted(by_server[server], key=lambda r: r.get("rps", 0))
            results.append(rs[len(rs) // 2])
    t = table(results)
    print(t)
    if a.out:
        with open(a.out, "w") as f:
            f.write(t + "\n")
    if a.json:
        import json
        meta = {"processes": a.processes, "threads": a.threads, "duration": a.duration,
                "repeat": a.repeat, "command": " ".join(sys.argv)}
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "median": results, "runs": runs}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
