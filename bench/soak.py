#!/usr/bin/env python3
"""The soak run (issue 12): half load for 30 minutes, a daemon process
SIGKILLed every minute, a graceful restart every 5 minutes.

    nice -n 10 python3 bench/soak.py [--quill target/release/quill]
        [--minutes 30] [--rate R] [--kill-every 60] [--restart-every 300]
        [--port 19190] [--json FILE]

Starts `QUILL serve` of a worker-MPM configuration (httpd's worker defaults)
with one daemon group of 2 processes x 8 threads running
bench/soak-app.wsgi (each request sleeps 100 ms and answers its id and
its process id) on 127.0.0.1:19190. Then:

1. Capacity: 48 clients in a closed loop (each sends its next request as
   soon as the last one is answered) for 20 s, after 3 s of warm-up. With
   48 > 16 threads the daemons are never idle, so the answered requests per
   second are what this group can do on this machine now.
2. The soak, at half that rate (or --rate): an open loop, one new
   connection per request (`Connection: close`), sent on a fixed schedule
   by 64 client threads (a request whose thread was not free goes late,
   and its lateness is reported). Every minute (at 15 s, 75 s, ...), one
   of the group's daemon processes (alternately the lower and the higher
   pid) is stopped (SIGSTOP), the requests the application is running in
   it are listed (the app keeps a marker file per request while it runs),
   and it is SIGKILLed. Every 5 minutes (at 150 s, 450 s, ...), the
   supervisor is sent SIGUSR1 (graceful restart). Every 10 s, the resident
   memory (VmRSS) and open file descriptors of the supervisor, of each
   front-end child (`quill __frontend`) and of each daemon process
   (`quill-daemon`) are read from /proc, and the supervisor's by kind
   (RssAnon, RssFile, RssShmem: its heap apart from its binary's pages).
3. After the schedule ends and every request has been answered: one more
   sample after 5 s with no load, then SIGTERM (SIGKILL after 20 s if the
   server has not exited).

A request fails when it gets no complete answer, a status other than
200, or a body other than its own id. A failure is *allowed* only when its
id was among the requests running in a process that was killed (listed
just before the kill). The report counts failures by class, lists the
others in full, and gives start/end/max of memory and descriptors per role.
It exits 1 if any failure is not allowed. SIGTERM stops the run and the
server. `--kill-every` / `--restart-every` longer than the run leave the
faults out (a run of load alone).
"""
import argparse, json, os, queue, shutil, signal, socket, statistics, subprocess
import sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "bench", "soak-app.wsgi")
PORT = 19190
PROCESSES, THREADS = 2, 8


def proc_children(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            out.append(int(p))
    return out


def role(pid):
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return None
    if b"__frontend" in argv:
        return "frontend"
    if argv and os.path.basename(argv[0]).startswith(b"quill-daemon"):
        return "daemon"
    try:
        if os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("quill-daemon"):
            return "daemon"
    except OSError:
        pass
    return None


def rss_kib(pid, field="VmRSS"):
    """VmRSS (or RssAnon, RssFile, RssShmem) of `pid`, in KiB."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def state(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def processes(server):
    """{role: [pid, ...]} of the server's children."""
    out = {"frontend": [], "daemon": []}
    for c in proc_children(server):
        r = role(c)
        if r:
            out[r].append(c)
    return out


def get(rid, timeout=60.0):
    """(status or error text, body) of GET /?rid on a new connection."""
    try:
        s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    except OSError as e:
        return f"connect: {e.__class__.__name__}", b""
    try:
        s.sendall(
            f"GET /?{rid} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except OSError as e:
        return f"io: {e.__class__.__name__}", b""
    finally:
        s.close()
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return "no head" if not data else "truncated head", b""
    parts = head.split(b"\r\n", 1)[0].split()
    status = parts[1].decode() if len(parts) > 1 else "?"
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length" and int(v) != len(body):
            return f"{status} truncated body", body
    return status, body


def capacity(seconds=20.0, warm=3.0, clients=48):
    done = []
    stop = threading.Event()
    counting = threading.Event()
    ids = iter(range(10**9, 2 * 10**9))
    lock = threading.Lock()

    def loop():
        while not stop.is_set():
            with lock:
                rid = next(ids)
            status, body = get(rid)
            if counting.is_set() and not stop.is_set():
                done.append(status == "200" and body.split()[0] == str(rid).encode())

    ts = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    for t in ts:
        t.start()
    time.sleep(warm)
    counting.set()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join(70)
    return sum(done) / seconds, len(done) - sum(done)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quill", default=os.path.join(ROOT, "target", "release", "quill"))
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, help="requests/s (default: half the measured capacity)")
    ap.add_argument("--kill-every", type=float, default=60)
    ap.add_argument("--restart-every", type=float, default=300)
    ap.add_argument("--json", help="write every sample, fault and failure here")
    ap.add_argument("--port", type=int, default=PORT)
    args = ap.parse_args()
    globals()["PORT"] = args.port

    tmp = tempfile.mkdtemp(prefix="quill-soak-")
    app = os.path.join(tmp, "soak.wsgi")
    shutil.copy(APP, app)
    markers = os.path.join(tmp, "markers")
    os.mkdir(markers)
    conf = os.path.join(tmp, "httpd.conf")
    with open(conf, "w") as f:
        f.write(
            f'ServerRoot "{tmp}"\nServerName localhost\nListen 127.0.0.1:{PORT}\n'
            "LoadModule mpm_worker_module modules/mod_mpm_worker.so\n"
            "LoadModule wsgi_module modules/mod_wsgi.so\n"
            f'WSGISocketPrefix "{tmp}/wsgi"\n'
            f"WSGIDaemonProcess soak processes={PROCESSES} threads={THREADS}\n"
            f'WSGIScriptAlias / "{app}" process-group=soak application-group=%{{GLOBAL}}\n'
        )
    log_path = os.path.join(tmp, "server.log")
    log = open(log_path, "w")
    server = subprocess.Popen(
        [args.quill, "serve", conf, "--log-to-terminal"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )
    print(f"quill: {args.quill} (pid {server.pid}), files in {tmp}", flush=True)
    # SIGTERM stops the run and the server (a background job ignores SIGINT).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    try:
        return run(args, server, tmp, markers, log_path)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def sample(server_pid, t):
    procs = processes(server_pid)
    s = {"t": round(t, 1), "supervisor": [(server_pid, rss_kib(server_pid), fds(server_pid))],
         # The supervisor's resident memory by kind: heap and stacks, mapped
         # files (its own binary's pages), shared memory.
         "supervisor_kinds": [rss_kib(server_pid, k) for k in ("RssAnon", "RssFile", "RssShmem")]}
    for r, pids in procs.items():
        s[r] = [(p, rss_kib(p), fds(p)) for p in sorted(pids)]
        s[r] = [x for x in s[r] if x[1] is not None and x[2] is not None]
    return s


def run(args, server, tmp, markers, log_path):
    deadline = time.monotonic() + 60
    while True:
        status, body = get("ready", timeout=5)
        if status == "200":
            break
        if time.monotonic() > deadline or server.poll() is not None:
            print("the server did not answer within 60 s:\n" + open(log_path).read())
            return 2
        time.sleep(0.2)

    cap, cap_failed = capacity()
    rate = args.rate or cap / 2
    print(f"capacity: {cap:.1f} requests/s (48 clients, closed loop, 20 s; "
          f"{cap_failed} failed); soak rate: {rate:.1f} requests/s", flush=True)

    duration = args.minutes * 60
    # Kills a quarter period in (15 s, 75 s, ...), restarts half a period
    # in (150 s, 450 s, ...): never at the same instant.
    kills = [args.kill_every / 4 + i * args.kill_every
             for i in range(int(duration // args.kill_every + 1))
             if args.kill_every / 4 + i * args.kill_every < duration]
    restarts = [args.restart_every / 2 + i * args.restart_every
                for i in range(int(duration // args.restart_every + 1))
                if args.restart_every / 2 + i * args.restart_every < duration]

    results = {}  # id -> (t_sched, t_start, t_end, status, body ok)
    jobs = queue.Queue()
    t0 = time.monotonic()

    def worker():
        while True:
            job = jobs.get()
            if job is None:
                return
            rid, t_sched = job
            t_start = time.monotonic() - t0
            status, body = get(rid)
            ok = status == "200" and body.split()[:1] == [str(rid).encode()]
            results[rid] = (t_sched, t_start, time.monotonic() - t0, status, ok)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(64)]
    for w in workers:
        w.start()

    samples = [sample(server.pid, 0.0)]
    faults = []
    stop = threading.Event()

    def sampler():
        n = 1
        while not stop.wait(max(0.0, t0 + 10 * n - time.monotonic())):
            samples.append(sample(server.pid, time.monotonic() - t0))
            n += 1

    def faulter():
        events = sorted([(t, "kill") for t in kills] + [(t, "restart") for t in restarts])
        k = 0
        for t, what in events:
            if stop.wait(max(0.0, t0 + t - time.monotonic())):
                return
            now = time.monotonic() - t0
            if what == "restart":
                os.kill(server.pid, signal.SIGUSR1)
                faults.append({"t": round(now, 2), "what": "graceful restart (SIGUSR1)"})
                continue
            daemons = sorted(processes(server.pid)["daemon"])
            if not daemons:
                faults.append({"t": round(now, 2), "what": "kill: no daemon process found"})
                continue
            pid = daemons[k % len(daemons)] if k % 2 == 0 else daemons[-1]
            k += 1
            os.kill(pid, signal.SIGSTOP)
            until = time.monotonic() + 2
            while state(pid) not in ("T", "t", None) and time.monotonic() < until:
                time.sleep(0.001)
            running = sorted(int(m.split(".", 1)[1]) for m in os.listdir(markers)
                             if m.startswith(f"{pid}."))
            os.kill(pid, signal.SIGKILL)
            for r in running:
                try:
                    os.unlink(os.path.join(markers, f"{pid}.{r}"))
                except OSError:
                    pass
            faults.append({"t": round(now, 2), "what": "SIGKILL daemon", "pid": pid,
                           "daemons": daemons, "running": running})
            print(f"{now:7.1f} s  SIGKILL daemon {pid} of {daemons}: "
                  f"{len(running)} requests running in it", flush=True)

    threads = [threading.Thread(target=sampler, daemon=True),
               threading.Thread(target=faulter, daemon=True)]
    for t in threads:
        t.start()

    i = 0
    while True:
        t_sched = i / rate
        if t_sched >= duration:
            break
        delay = t0 + t_sched - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        jobs.put((i, t_sched))
        i += 1
        if i % int(rate * 60) == 0:
            done = len(results)
            bad = sum(1 for r in list(results.values()) if not r[4])
            print(f"{time.monotonic() - t0:7.1f} s  sent {i}, answered {done}, failed {bad}",
                  flush=True)
    sent = i
    for _ in workers:
        jobs.put(None)
    for w in workers:
        w.join(90)
    stop.set()
    for t in threads:
        t.join(30)
    time.sleep(5)
    samples.append(sample(server.pid, time.monotonic() - t0))
    server_alive = server.poll() is None
    return report(args, rate, cap, sent, results, faults, samples, log_path, server_alive)


def summarise_log(path):
    """Error-log lines counted by their text without times, pids and ids."""
    import re
    counts = {}
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        line = re.sub(r"^\[[^\]]*\] ", "", line)          # the time
        line = re.sub(r"\b(pid|process|tid) \d+", r"\1 N", line)
        line = re.sub(r"\d+(\.\d+)?", "N", line)
        line = re.sub(r"/tmp/quill-soak-[^/ ]+", "TMP", line)
        counts[line] = counts.get(line, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def report(args, rate, cap, sent, results, faults, samples, log_path, server_alive):
    kills = [f for f in faults if f["what"] == "SIGKILL daemon"]
    running = {r: f for f in kills for r in f["running"]}
    failed = {rid: r for rid, r in results.items() if not r[4]}
    unanswered = sent - len(results)
    allowed = {rid: r for rid, r in failed.items() if rid in running}
    other = {rid: r for rid, r in failed.items() if rid not in running}
    survived = [rid for rid in running if rid in results and results[rid][4]]
    classes = {}
    for r in allowed.values():
        classes[r[3]] = classes.get(r[3], 0) + 1
    lat = sorted(r[2] - r[1] for r in results.values() if r[4])
    late = sorted(r[1] - r[0] for r in results.values())

    out = []
    p = out.append
    p(f"duration {args.minutes:g} min; capacity {cap:.1f} req/s; rate {rate:.1f} req/s")
    p(f"requests sent {sent}, answered 200 with their own id {len(results) - len(failed)}, "
      f"failed {len(failed)}, never finished {unanswered}")
    p(f"daemon processes SIGKILLed {len(kills)}, graceful restarts "
      f"{sum(1 for f in faults if 'restart' in f['what'])}; "
      f"requests running in a killed process {len(running)}")
    p(f"failures allowed (running in the killed process): {len(allowed)}, by answer: "
      + ", ".join(f"{k} x{v}" for k, v in sorted(classes.items())))
    p(f"requests running in a killed process that still succeeded: {len(survived)} {survived[:10]}")
    p(f"failures NOT allowed: {len(other)}")
    for rid, r in sorted(other.items()):
        near = [f for f in faults if abs(f["t"] - r[1]) < 65 and f["t"] <= r[2] + 1]
        p(f"  id {rid}: scheduled {r[0]:.3f} s, sent {r[1]:.3f} s, ended {r[2]:.3f} s, "
          f"answer {r[3]!r}; faults around: "
          + "; ".join(f"{f['what']} at {f['t']} s" for f in near[-3:]))
    if lat:
        p(f"latency of answered requests: median {statistics.median(lat) * 1000:.0f} ms, "
          f"p99 {lat[int(len(lat) * 0.99)] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms; "
          f"sending lateness p99 {late[int(len(late) * 0.99)] * 1000:.1f} ms, "
          f"max {late[-1] * 1000:.1f} ms")
    p(f"server still running at the end: {server_alive}")
    p("")
    p("memory (VmRSS, KiB) and open descriptors, sampled every 10 s "
      f"({len(samples)} samples; the first before the load, the last 5 s after it):")
    p(f"  {'role':<24} {'start':>10} {'end':>10} {'max':>10}   (processes start/end)")
    for r in ("supervisor", "frontend", "daemon"):
        first, last = samples[0][r], samples[-1][r]
        for what, idx in (("RSS", 1), ("fds", 2)):
            tot = lambda s: sum(x[idx] for x in s[r])
            per = [x[idx] for s in samples for x in s[r]]
            p(f"  {r + ' ' + what + ' (sum)':<24} {tot(samples[0]):>10} {tot(samples[-1]):>10} "
              f"{max(tot(s) for s in samples):>10}   ({len(first)}/{len(last)})")
            if r != "supervisor":
                p(f"  {r + ' ' + what + ' (each)':<24} "
                  f"{min(x[idx] for x in first) if first else '-':>10} "
                  f"{max(x[idx] for x in last) if last else '-':>10} {max(per):>10}"
                  "   (start: smallest, end: largest)")
    kinds = [s["supervisor_kinds"] for s in samples]
    p("  supervisor RSS by kind (KiB, start/end/max): " + ", ".join(
        f"{k} {kinds[0][i]}/{kinds[-1][i]}/{max(x[i] for x in kinds)}"
        for i, k in enumerate(("anonymous", "file", "shared"))))
    p("")
    p("server log lines (times, numbers and the temporary path replaced):")
    for line, n in summarise_log(log_path)[:40]:
        p(f"  {n:6} x {line}")
    text = "\n".join(out)
    print("\n" + text, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rate": rate, "capacity": cap, "sent": sent, "faults": faults,
                       "samples": samples,
                       "failed": {str(k): v for k, v in failed.items()}}, f, indent=1)
    return 0 if not other and not unanswered and server_alive else 1


if __name__ == "__main__":
    sys.exit(main())
