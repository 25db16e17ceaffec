#!/usr/bin/env python3
"""CPU time per request of Quill builds, side by side (issue 16 §2).

    python3 bench/servers/cpu_per_request.py MODE PATH SECONDS BINDIR...

MODE is `daemon` or `embedded` (`quill express --embedded-mode`); PATH is a
scenario of app.wsgi (/hello, /django, /io); each BINDIR holds a `quill`
and a `quill-daemon` build, or is the word `granian`: Granian from
target/bench-venv as bench.py runs it (--workers 2 --blocking-threads 8;
MODE does not apply, and SWITCH_INTERVAL is not supported). Every build serves express's configuration
(2 processes x 8 threads, as bench.py's) in turn, ROUNDS (env, default 3)
rounds, the order reversed every other round (ABBA); wrk -t2 -c50 warms up
for 2 s, then runs SECONDS. The figure is the CPU time (utime + stime in
/proc/PID/stat) of the whole process tree over the measured run, divided
by the requests wrk completed: on a machine shared with other work it is
steadier than requests/s. Servers are started and stopped by this script,
by process group. Needs wrk and target/bench-venv (bench.py --setup).

PERF=1 (env) also counts, with `perf stat` over the measured run, the
futex calls, all system calls and the context switches per request of the
processes that run Python (the daemon processes; in embedded mode the
children). SWITCH_INTERVAL=S (env) serves app.wsgi through a wrapper that
first calls sys.setswitchinterval(S) (CPython's default is 0.005).
"""
import os, re, shutil, signal, subprocess, sys, tempfile, time
mode, path, secs = sys.argv[1], sys.argv[2], int(sys.argv[3])
bins = sys.argv[4:]
rounds = int(os.environ.get("ROUNDS", "3"))
W = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HZ = os.sysconf("SC_CLK_TCK")
def tree(pid):
    out = [pid]
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
            except Exception:
                continue
            if ppid == pid:
                out += tree(int(p))
    return out
def ticks(pids):
    t = {}
    for p in pids:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            t[p] = int(f[11]) + int(f[12])
        except Exception:
            pass
    return t
perf = os.environ.get("PERF") == "1"
script = f"{W}/bench/servers/app.wsgi"
if os.environ.get("SWITCH_INTERVAL"):
    wrap = tempfile.mkdtemp(prefix="quill-si-")
    script = f"{wrap}/app.wsgi"
    with open(script, "w") as f:
        app = f"{W}/bench/servers/app.wsgi"
        f.write(f"import sys\nsys.setswitchinterval({float(os.environ['SWITCH_INTERVAL'])})\n"
                f"__file__ = {app!r}\nexec(compile(open(__file__).read(), __file__, 'exec'))\n")
def runs_python(pid):
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return False
    return cmd.startswith(b"(wsgi:") or (mode == "embedded" and b"__frontend" in cmd)
def perf_counts(text, n):
    c = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,.]+)\s+(?:msec\s+)?(\S+)", line)
        if m and m.group(2) in ("context-switches", "syscalls:sys_enter_futex", "raw_syscalls:sys_enter"):
            c[m.group(2).split(":")[-1]] = float(m.group(1).replace(",", "")) / n
    return c
res = {b: [] for b in bins}
port = 18400
for r in range(rounds):
    for b in (bins if r % 2 == 0 else bins[::-1]):
        port += 1
        sr = tempfile.mkdtemp(prefix="quill-cpu-")
        cmd = [f"{b}/quill", "express", script, "--host", "127.0.0.1", "--port", str(port),
               "--processes", "2", "--threads", "8", "--python-home", f"{W}/target/bench-venv", "--python-path", f"{W}/bench/servers",
               "--log-level", "error", "--server-root", sr, "--limit-request-body", "0", "--queue-timeout", "120",
               "--socket-timeout", "120", "--request-timeout", "120", "--daemon-backlog", "500"]
        if mode == "embedded":
            cmd.append("--embedded-mode")
        if b == "granian":
            if os.environ.get("SWITCH_INTERVAL"):
                sys.exit("SWITCH_INTERVAL applies to Quill builds only")
            cmd = [f"{W}/target/bench-venv/bin/granian", "--interface", "wsgi", "--workers", "2", "--blocking-threads", "8",
                   "--host", "127.0.0.1", "--port", str(port), "--working-dir", f"{W}/bench/servers", "--log-level", "error",
                   "apps:application"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(100):
            time.sleep(0.1)
            if subprocess.run(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}{path}"]).returncode == 0:
                break
        subprocess.run(["wrk", "-t2", "-c50", "-d2s", f"http://127.0.0.1:{port}{path}"], capture_output=True)
        pids = tree(p.pid)
        # (Granian's Python runs in its workers, the children of the first.)
        py = [pp for pp in pids if (pp != p.pid if b == "granian" else runs_python(pp))]
        ps = None
        if perf:
            ps = subprocess.Popen(["perf", "stat", "-x", " ", "-e", "context-switches,syscalls:sys_enter_futex,raw_syscalls:sys_enter",
                                   "-p", ",".join(map(str, py))], stderr=subprocess.PIPE, text=True)
        before = ticks(pids)
        out = subprocess.run(["wrk", "-t2", "-c50", f"-d{secs}s", f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True).stdout
        after = ticks(pids)
        counts = ""
        if ps:
            ps.send_signal(signal.SIGINT)
            text = ps.communicate()[1]
        n = int(re.search(r"(\d+) requests in", out).group(1))
        per = {pp: (after[pp] - before[pp]) * 1e6 / HZ / n for pp in after if pp in before}
        front = per.get(p.pid, 0)
        tot = sum(per.values())
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        res[b].append(tot)
        if ps:
            counts = "  in Python's processes, per request: " + ", ".join(f"{k} {v:.1f}" for k, v in perf_counts(text, n).items())
        print(f"round {r} {b}: {tot:.1f} us/req (supervisor {front:.1f}) {rps:.0f} req/s  load {os.getloadavg()[0]:.1f}{counts}", flush=True)
        os.killpg(p.pid, signal.SIGTERM)
        p.wait()
        shutil.rmtree(sr, ignore_errors=True)
for b in bins:
    v = sorted(res[b])
    print(f"{b}: median {v[len(v)//2]:.1f} us/req, all {', '.join(f'{x:.1f}' for x in res[b])}")
