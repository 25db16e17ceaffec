#!/usr/bin/env python3
"""System calls, futex calls, epoll_waits and context switches per request
of one Quill build, by process role (issue 16 §2).

    python3 bench/servers/syscalls_per_request.py MODE PATH BINDIR

MODE, PATH and BINDIR as for cpu_per_request.py. Serves express's
configuration (2 processes x 8 threads), warms up with wrk for 2 s, then
counts with `perf stat` (tracepoints raw_syscalls:sys_enter,
syscalls:sys_enter_futex, syscalls:sys_enter_epoll_wait,
sched:sched_switch; needs root) on the front-end children and on the
daemon processes while wrk -t2 -c50 runs 6 s, and divides by wrk's request
count. Unlike `strace -c`, this does not slow the processes down (strace
makes the threads contend where they otherwise would not).
"""
import os, re, shutil, signal, subprocess, sys, tempfile, time
mode, path, b = sys.argv[1], sys.argv[2], sys.argv[3]
W = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
port = 18500 + os.getpid() % 90
sr = tempfile.mkdtemp(prefix="quill-sys-")
cmd = [f"{b}/quill", "express", f"{W}/bench/servers/app.wsgi", "--host", "127.0.0.1", "--port", str(port),
       "--processes", "2", "--threads", "8", "--python-home", f"{W}/target/bench-venv", "--python-path", f"{W}/bench/servers",
       "--log-level", "error", "--server-root", sr, "--limit-request-body", "0", "--queue-timeout", "120",
       "--socket-timeout", "120", "--request-timeout", "120", "--daemon-backlog", "500"]
if mode == "embedded": cmd.append("--embedded-mode")
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
for _ in range(100):
    time.sleep(0.1)
    if subprocess.run(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}{path}"]).returncode == 0: break
subprocess.run(["wrk", "-t2", "-c50", "-d2s", f"http://127.0.0.1:{port}{path}"], capture_output=True)
kids = [int(x) for x in subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()]
def comm(pid): return open(f"/proc/{pid}/comm").read().strip()
groups = {}
for k in kids:
    groups.setdefault("daemon" if comm(k).startswith("(wsgi") else "front-end child", []).append(k)
ev = "raw_syscalls:sys_enter,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,sched:sched_switch"
perfs = {g: subprocess.Popen(["perf", "stat", "-x,", "-e", ev, "-p", ",".join(map(str, ps)), "--", "sleep", "6"],
                             stderr=subprocess.PIPE, text=True) for g, ps in groups.items()}
out = subprocess.run(["wrk", "-t2", "-c50", "-d6s", f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True).stdout
n = int(re.search(r"(\d+) requests in", out).group(1))
for g, pr in perfs.items():
    err = pr.communicate()[1]
    vals = {}
    for line in err.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].replace(".", "").isdigit(): vals[f[2].split(":")[-1]] = int(float(f[0]))
    print(f"{mode} {g} ({len(groups[g])} procs), {n} requests: " + ", ".join(f"{k} {v/n:.2f}" for k, v in vals.items()) + " per request")
os.killpg(p.pid, signal.SIGTERM); p.wait()
shutil.rmtree(sr, ignore_errors=True)
