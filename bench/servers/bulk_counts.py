#!/usr/bin/env python3
"""Counts per request of daemon mode's bulk transfers, by process role:
CPU time, system calls (by name) and context switches, for one Quill
build (issue 16 §2, docs/benchmarks.md "Bulk
transfers in daemon mode, counted").

    python3 bench/servers/bulk_counts.py SCENARIO BINDIR [REQUESTS]
    COPIES=1 python3 bench/servers/bulk_counts.py SCENARIO BINDIR [REQUESTS]

SCENARIO is `stream` (GET /stream: 1 MiB as 16 x 64 KiB chunks, 20
connections) or `upload` (POST /upload of 10 MiB, 8 connections), as in
bench.py; BINDIR holds a `quill` and a `quill-daemon` build. Serves
express's configuration (2 processes x 8 threads, bench.py's options),
warms up, then sends exactly REQUESTS requests (default 2000 for stream,
200 for upload) with h2load and counts over them with `perf stat`
(tracepoints; needs root) on the front-end children and on the daemon
processes, and with /proc/PID/stat for CPU time. The counts move
with the machine's load less than requests/s does (the system calls and
switches by up to a fifth on a busy machine), CPU time more. With COPIES=1 it counts instead the bytes user space copied
and zeroed (glibc's `__memmove_avx_unaligned_erms` and
`__memset_avx2_unaligned_erms` (at +4: its first instruction cannot take a
uprobe), which memcpy/memmove/memset resolve to on
this machine, through uprobes that it adds and removes; slower). The
server is started and stopped by this script, by its
process group.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

scenario, bindir = sys.argv[1], sys.argv[2]
W = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PATHS = {"stream": ("/stream", 20, 2000), "upload": ("/upload", 8, 200)}
path, conns, default_n = PATHS[scenario]
n = int(sys.argv[3]) if len(sys.argv) > 3 else default_n
HZ = os.sysconf("SC_CLK_TCK")
CALLS = ["read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg",
         "epoll_wait", "poll", "ppoll", "futex", "sched_yield", "splice"]

port = 18600 + os.getpid() % 90
sr = tempfile.mkdtemp(prefix="quill-bulk-")
cmd = [f"{bindir}/quill", "express", f"{W}/bench/servers/app.wsgi", "--host", "127.0.0.1", "--port", str(port),
       "--processes", "2", "--threads", "8", "--python-home", f"{W}/target/bench-venv",
       "--python-path", f"{W}/bench/servers", "--log-level", "error", "--server-root", sr,
       "--limit-request-body", "0", "--queue-timeout", "120", "--socket-timeout", "120",
       "--request-timeout", "120", "--daemon-backlog", "500"]
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
body = None
try:
    url = f"http://127.0.0.1:{port}{path}"
    extra = []
    if scenario == "upload":
        body = os.path.join(sr, "body")
        with open(body, "wb") as f:
            f.write(b"x" * (10 * 1024 * 1024))
        extra = ["-d", body, "-H", "Content-Type: application/octet-stream"]
    for _ in range(100):
        time.sleep(0.1)
        if subprocess.run(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}/"]).returncode == 0:
            break
    h2load = ["h2load", "--h1", "-c", str(conns)] + extra
    subprocess.run(h2load + ["-n", str(max(n // 4, conns)), url], capture_output=True)  # warm-up

    def tree(pid):
        out = []
        for q in os.listdir("/proc"):
            if q.isdigit():
                try:
                    ppid = int(open(f"/proc/{q}/stat").read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
                if ppid == pid:
                    out.append(int(q))
        return out

    def comm(pid):
        return open(f"/proc/{pid}/comm").read().strip()

    def ticks(pids):
        t = 0
        for q in pids:
            f = open(f"/proc/{q}/stat").read().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])
        return t

    groups = {}
    for k in tree(p.pid):
        groups.setdefault("daemons" if comm(k).startswith("(wsgi") else "children", []).append(k)
    ev = ",".join(["raw_syscalls:sys_enter", "sched:sched_switch"] + [f"syscalls:sys_enter_{c}" for c in CALLS])
    copies = os.environ.get("COPIES") == "1"
    if copies:
        libc = "/lib/x86_64-linux-gnu/libc.so.6"
        for probe in ["bulk_mm=__memmove_avx_unaligned_erms len=%dx:u64",
                      "bulk_ms=__memset_avx2_unaligned_erms+4 len=%dx:u64"]:
            subprocess.run(["perf", "probe", "-q", "-x", libc, "-a", probe], check=True)
        perfs = {g: subprocess.Popen(["perf", "record", "-q", "-m", "16M", "-o", os.path.join(sr, f"{g}.data"),
                                      "-e", "probe_libc:bulk_mm,probe_libc:bulk_ms", "-p", ",".join(map(str, ps))],
                                     stderr=subprocess.PIPE, text=True) for g, ps in groups.items()}
    else:
        # perf stat until SIGINT: started before the run, stopped after it.
        perfs = {g: subprocess.Popen(["perf", "stat", "-x,", "-e", ev, "-p", ",".join(map(str, ps))],
                                     stderr=subprocess.PIPE, text=True) for g, ps in groups.items()}
    time.sleep(0.5)
    before = {g: ticks(ps) for g, ps in groups.items()}
    out = subprocess.run(h2load + ["-n", str(n), url], capture_output=True, text=True).stdout
    after = {g: ticks(ps) for g, ps in groups.items()}
    for pr in perfs.values():
        pr.send_signal(signal.SIGINT)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    ok = int(done.group(2)) if done else 0
    status = re.search(r"status codes: (\d+) 2xx", out)
    finished = re.search(r"finished in ([\d.]+m?s)", out)
    print(f"{scenario} {bindir}: {ok} of {n} requests succeeded ({status.group(1) if status else '?'} 2xx)"
          f" in {finished.group(1) if finished else '?'}")
    for g, pr in perfs.items():
        err = pr.communicate()[1]
        if copies:
            script = subprocess.run(["perf", "script", "-i", os.path.join(sr, f"{g}.data")],
                                    capture_output=True, text=True).stdout
            sums = {"bulk_mm": [0, 0], "bulk_ms": [0, 0]}
            for line in script.splitlines():
                m = re.search(r"(bulk_m[ms]).*len=(\d+)", line)
                if m:
                    sums[m.group(1)][0] += 1
                    sums[m.group(1)][1] += int(m.group(2))
            k = max(ok, 1)
            print(f"  {g} ({len(groups[g])}): memmove {sums['bulk_mm'][1] / k / 1024:.0f} KiB in"
                  f" {sums['bulk_mm'][0] / k:.0f} calls, memset {sums['bulk_ms'][1] / k / 1024:.0f} KiB in"
                  f" {sums['bulk_ms'][0] / k:.0f} calls per request")
            continue
        vals = {}
        for line in err.splitlines():
            f = line.split(",")
            if len(f) > 2 and f[0].replace(".", "").isdigit():
                vals[f[2].split(":")[-1]] = int(float(f[0]))
        cpu_us = (after[g] - before[g]) * 1e6 / HZ / max(ok, 1)
        calls = {k[len("sys_enter_"):]: v / max(ok, 1) for k, v in vals.items()
                 if k.startswith("sys_enter_") and v}
        print(f"  {g} ({len(groups[g])}): CPU {cpu_us:.0f} us, syscalls {vals.get('sys_enter', 0) / max(ok, 1):.1f},"
              f" switches {vals.get('sched_switch', 0) / max(ok, 1):.1f} per request")
        print("    " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])))
finally:
    if os.environ.get("COPIES") == "1":
        subprocess.run(["perf", "probe", "-q", "-d", "probe_libc:bulk_*"], capture_output=True)
    os.killpg(p.pid, signal.SIGTERM)
    p.wait()
    shutil.rmtree(sr, ignore_errors=True)
