#!/usr/bin/env python3
"""Fidelity of the real server: `quill serve` vs real Apache httpd 2.4.

    python3 bench/apache/serve_fidelity.py                     # every scenario that has a recording
    python3 bench/apache/serve_fidelity.py worker_step event_step
    python3 bench/apache/serve_fidelity.py --wait-build        # first wait for target/release/{quill,quill-daemon}
                                                               # to be stable for 30 s and copy them to /tmp/quill-fid/

For each scenario (bench/apache/scenarios/NAME with a recording in
tests/data/recordings/NAME) this runs `quill serve CONF` with the scenario's
Apache config template filled in for a private temp ServerRoot and a free
port in 20000-20999 on 127.0.0.1, counts the front-end children every 100 ms
from /proc (children of the supervisor whose cmdline contains `__frontend`,
zombies excluded) in a separate sampler process, drives the scenario's load
with bench/apache/load.py (same seed, same t=0 definition: the start time of
the process we exec, here the quill supervisor), stops quill by its pid
(SIGTERM, SIGKILL after 20 s) and compares quill's per-second counts with the
recording's per_second.csv:

* "same-second +-1": the rule of crates/quill-sim/tests/fidelity.rs: quill's
  count in second t within +-1 of httpd's in second t (bar: >= 95% of seconds),
  plus "steady": seconds whose recorded count is the same for 4 s on each side
  must match exactly;
* "+-1 s phase": the looser rule: httpd's count in second t is within +-1 of
  quill's in second t-1, t or t+1.

The sampler also copies quill's shared scoreboard (RUN_DIR/scoreboard) into
samples.csv: BusyWorkers, IdleWorkers (as the pool controller counts them),
ConnsTotal and Scoreboard (per process slot: thread states, '*' quiescing,
'!' not accepting, '(N)' open connections).  --max-loadavg/--max-wait wait
for a quieter machine before each scenario; the load average is recorded.

The recording's /server-status polling (every status_ms, Connection: close)
is reproduced so that the connection load is the same (quill has no
mod_status: the polls get 404, which still costs a connection and a slot).

Outputs go to bench/apache/serve-results/: NAME.csv (quill's per-second
counts next to httpd's), NAME/ (samples.csv, children.csv, result.json,
quill's error log and console), and RESULTS.md (the table over every
scenario that has a result.json; the table is also printed).

Only processes started here are signalled, by pid.  Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import load as loadmod  # noqa: E402
import sampler as samplermod  # noqa: E402
from record import http_get, load_scenario, per_second, render  # noqa: E402
from sampler import boottime, read_stat  # noqa: E402

SCENARIOS = os.path.join(HERE, "scenarios")
RECORDINGS = os.path.join(REPO, "tests", "data", "recordings")
RESULTS = os.path.join(HERE, "serve-results")
BIN_DIR = "/tmp/quill-fid"
BUILD_DIR = os.path.join(REPO, "target", "release")
PORT_RANGE = (20000, 20999)
# Extra recordings compared against the run of another scenario (no run of their own).
EXTRA_RECORDINGS = {"event_idle_decay": ["event_idle_decay_contended"]}


def log(msg: str):
    print(f"[serve-fidelity {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# binaries


def wait_build(stable_s: float = 30.0, timeout_s: float = 1800.0) -> None:
    """Wait until target/release/quill and quill-daemon exist and their size
    and mtime do not change for stable_s, then copy both to BIN_DIR."""
    names = ("quill", "quill-daemon")
    deadline = time.monotonic() + timeout_s
    last = None
    since = time.monotonic()
    while True:
        try:
            cur = tuple((os.stat(os.path.join(BUILD_DIR, n)).st_size, os.stat(os.path.join(BUILD_DIR, n)).st_mtime_ns)
                        for n in names)
        except FileNotFoundError:
            cur = None
        if cur is None or cur != last:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= stable_s:
            break
        if time.monotonic() > deadline:
            sys.exit(f"error: {BUILD_DIR}/quill and quill-daemon not stable within {timeout_s:.0f} s")
        time.sleep(2)
    os.makedirs(BIN_DIR, exist_ok=True)
    for n in names:
        shutil.copy2(os.path.join(BUILD_DIR, n), os.path.join(BIN_DIR, n + ".tmp"))
        os.replace(os.path.join(BIN_DIR, n + ".tmp"), os.path.join(BIN_DIR, n))
    log(f"copied {', '.join(names)} from {BUILD_DIR} to {BIN_DIR}")


# --------------------------------------------------------------------------
# sampler (runs as a separate process: `serve_fidelity.py --sampler ...`)


def full_cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("latin-1")
    except (FileNotFoundError, ProcessLookupError):
        return ""


SB_CHARS = ".S_RWKLDCGI"


def read_scoreboard(path: str):
    """quill's shared scoreboard (crates/quill-server/src/scoreboard.rs, layout 1):
    (row per occupied process slot, '|'-separated: its thread statuses, then '*' if
    quiescing, '!' if not accepting, '(N)' its open connections; busy; idle as the
    pool controller counts it (Ready slots of accepting, non-quiescing children);
    total connections) or None."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if len(data) < 64 or data[:4] != b"QSB1" or int.from_bytes(data[4:8], "little") != 1:
        return None
    u32 = lambda o: int.from_bytes(data[o:o + 4], "little")  # noqa: E731
    sl, tl = u32(8), u32(12)
    rows = []
    busy = idle = conns = 0
    for slot in range(sl):
        pb = 64 + slot * 32
        if u32(pb) == 0:
            continue
        quiescing, not_accepting, c = data[pb + 8], data[pb + 9], u32(pb + 12)
        conns += c
        tb = 64 + sl * 32 + slot * tl * 32
        chars = "".join(SB_CHARS[data[tb + i * 32]] if data[tb + i * 32] < len(SB_CHARS) else "?" for i in range(tl))
        rows.append(chars.rstrip(".") + ("*" if quiescing else "") + ("!" if not_accepting else "") + f"({c})")
        if not quiescing and not not_accepting:
            idle += chars.count("_")
        busy += sum(chars.count(ch) for ch in "RWKLDCG")
    return "|".join(rows), busy, idle, conns


class QuillSampler(samplermod.Sampler):
    """sampler.Sampler counting quill's front-end children instead of Apache's;
    also copies quill's scoreboard into the Scoreboard/BusyWorkers/IdleWorkers/
    ConnsTotal columns (quill has no mod_status; see read_scoreboard)."""

    scoreboard_path = ""

    def kind_of(self, pid: int) -> str:
        cl = full_cmdline(pid)
        if "__frontend" in cl:
            return "frontend"
        if "quill-daemon" in cl or cl.startswith(self.daemon_name) or cl.startswith("(wsgi:"):
            return "wsgi"
        return "other"  # e.g. forked but not yet exec'd, or the python probe

    def scan(self, row: dict):
        t = self.rel(boottime())
        row["t_s"] = f"{t:.3f}"
        if not self.listen:
            self.listen = samplermod.listen_inodes(self.ppid, self.port)
        live = stopping = zombies = daemons = 0
        seen = set()
        for pid in samplermod.children_of(self.ppid):
            st = read_stat(pid)
            if st is None or st[2] != self.ppid:
                continue
            state, start, _ = st
            seen.add(pid)
            zombie = state == "Z"
            info = self.children.get(pid)
            if info is None:
                kind = "zombie?" if zombie else self.kind_of(pid)
                info = {"pid": pid, "kind": kind, "start_s": f"{self.rel(start):.2f}", "first_seen_s": row["t_s"],
                        "stopping_s": "", "exit_s": ""}
                self.children[pid] = info
            elif not zombie and info["kind"] in ("other", "zombie?"):
                info["kind"] = self.kind_of(pid)  # exec'd since we first saw it
            if zombie:
                if info["kind"] == "frontend":
                    zombies += 1
                if not info["exit_s"]:
                    info["exit_s"] = row["t_s"]
                continue
            if info["kind"] == "wsgi":
                daemons += 1
                continue
            if info["kind"] != "frontend":
                continue
            live += 1
            if self.listen:
                held = samplermod.holds_any(pid, self.listen)
                if held is False:
                    stopping += 1
                    if not info["stopping_s"]:
                        info["stopping_s"] = row["t_s"]
        for pid, info in self.children.items():
            if pid not in seen and not info["exit_s"]:
                info["exit_s"] = row["t_s"]
        row.update(processes=live, stopping=stopping if self.listen else "", zombies=zombies, wsgi_daemons=daemons)
        if self.scoreboard_path:
            sb = read_scoreboard(self.scoreboard_path)
            if sb:
                row["Scoreboard"], row["BusyWorkers"], row["IdleWorkers"], row["ConnsTotal"] = sb


def sampler_main(argv) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ppid", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--t0", type=float, required=True)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--status-every", type=int, default=2)
    ap.add_argument("--daemon-name", default="wsgi-daemon")
    ap.add_argument("--until", type=float, required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--children", required=True)
    ap.add_argument("--scoreboard", default="")
    a = ap.parse_args(argv)
    s = QuillSampler(a.ppid, a.port, a.t0, a.interval, a.status_every, 3.0, a.daemon_name)
    s.scoreboard_path = a.scoreboard
    signal.signal(signal.SIGTERM, lambda *_: s.stop.set())
    signal.signal(signal.SIGINT, lambda *_: s.stop.set())
    s.run(a.until)
    s.write(a.samples, a.children)
    return 0


# --------------------------------------------------------------------------
# one run


def free_port() -> int:
    ports = list(range(PORT_RANGE[0], PORT_RANGE[1] + 1))
    random.SystemRandom().shuffle(ports)
    for p in ports[:200]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
            return p
    sys.exit("error: no free port in 20000-20999")


def run_cmd(cmd: list[str], timeout: float = 30, **kw) -> tuple[int, str]:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
        return p.returncode, (p.stdout + p.stderr)
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, f"<{e}>"


def uptime() -> str:
    rc, out = run_cmd(["uptime"], timeout=10)
    return out.strip()


def loadavg() -> list[float]:
    with open("/proc/loadavg") as fh:
        return [float(x) for x in fh.read().split()[:3]]


def stop_quill(proc: subprocess.Popen) -> str:
    """SIGTERM the supervisor we started, by pid; SIGKILL it after 20 s."""
    if proc.poll() is not None:
        return f"already exited rc={proc.returncode}"
    t = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
        return f"SIGTERM rc={proc.returncode} after {time.monotonic() - t:.2f} s"
    except subprocess.TimeoutExpired:
        log(f"quill pid {proc.pid} did not stop 20 s after SIGTERM; SIGKILL")
        proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return "SIGKILL (did not exit within 10 s)"
        return "SIGKILL after 20 s"


def leftovers(children: list[dict], t0: float) -> list[int]:
    """Children of our supervisor still alive after it stopped (same pid and start time)."""
    out = []
    for c in children:
        st = read_stat(int(c["pid"]))
        if st and st[0] != "Z" and abs((st[1] - t0) - float(c["start_s"])) < 0.02:
            out.append(int(c["pid"]))
    return out


def run_scenario(name: str, quill: str, seed_override: int | None) -> dict:
    scen = os.path.join(SCENARIOS, name)
    cfg, conf_path, load_path, _ = load_scenario(scen)
    seed = seed_override if seed_override is not None else int(cfg["seed"])
    load = loadmod.read_load(load_path, seed)
    rec_dir = os.path.join(RECORDINGS, name)
    rec = recorded(rec_dir)
    duration = float(cfg["duration_s"] or (load.end_s() + 20.0))
    duration = max(duration, float(len(rec)))
    out_dir = os.path.join(RESULTS, name)
    os.makedirs(out_dir, exist_ok=True)

    up = uptime()
    la = loadavg()
    log(f"{name}: {up}")
    port = free_port()
    root = tempfile.mkdtemp(prefix="quill-fid-")
    for d in ("run", "logs", "app"):
        os.makedirs(os.path.join(root, d))
    for d in (root, *(os.path.join(root, x) for x in ("run", "logs", "app"))):
        os.chmod(d, 0o755)
    script = os.path.join(root, "app", "app.wsgi")
    shutil.copy(os.path.join(HERE, "app.wsgi"), script)
    os.chmod(script, 0o644)
    with open(conf_path) as fh:
        conf_text = render(fh.read(), root, port, script)
    conf = os.path.join(root, "httpd.conf")
    with open(conf, "w") as fh:
        fh.write(conf_text)

    result: dict = {
        "scenario": name, "seed": seed, "port": port, "duration_s": duration,
        "uptime_before": up, "loadavg_before": la, "quill": quill,
        "recording_loadavg_start": json.load(open(os.path.join(rec_dir, "meta.json"))).get("loadavg_start"),
        "recording_other_cpu": (json.load(open(os.path.join(rec_dir, "meta.json"))).get("cpu") or {}).get(
            "other_cpu_fraction_of_one_core"),
    }
    # What quill makes of the config (its MPM values after httpd's adjustments).
    rc, cfg_out = run_cmd([quill, "config", conf], timeout=30, cwd=root)
    result["quill_config_rc"] = rc
    with open(os.path.join(out_dir, "quill-config.txt"), "w") as fh:
        fh.write(cfg_out.replace(root, "@SERVER_ROOT@"))

    console_path = os.path.join(root, "logs", "console.log")
    console = open(console_path, "wb")
    env = dict(os.environ)
    env.pop("CARGO", None)
    env.pop("CARGO_MANIFEST_DIR", None)
    proc = subprocess.Popen([quill, "serve", conf], stdout=console, stderr=subprocess.STDOUT, cwd=root,
                            env=env, start_new_session=True)
    st = read_stat(proc.pid)
    t0 = st[1] if st else boottime()
    now_s = lambda: boottime() - t0  # noqa: E731
    log(f"{name}: quill serve pid {proc.pid} port {port} root {root}")
    samples_path = os.path.join(out_dir, "samples.csv")
    children_path = os.path.join(out_dir, "children.csv")
    status_every = int(round(cfg["status_ms"] / cfg["sample_ms"])) if cfg["status_ms"] else 0
    sampler = subprocess.Popen([
        sys.executable, os.path.abspath(__file__), "--sampler",
        "--ppid", str(proc.pid), "--port", str(port), "--t0", repr(t0),
        "--interval", str(cfg["sample_ms"] / 1000.0), "--status-every", str(status_every),
        "--daemon-name", cfg["daemon_name"], "--until", str(duration),
        "--samples", samples_path, "--children", children_path,
        "--scoreboard", os.path.join(root, "run", "scoreboard"),
    ])
    ready_s = None
    driver = None
    refused = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                status, _ = http_get(port, "/info")
                if status == 200:
                    ready_s = now_s()
                    break
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        if ready_s is None:
            refused = f"quill serve did not answer /info within 30 s (rc={proc.poll()})"
        else:
            log(f"{name}: ready at t={ready_s:.3f}s; driving {load.kind} load until t={duration:.1f}s")
            driver = loadmod.drive(load, port, now_s, duration, request_timeout_s=float(cfg["request_timeout_s"]))
            while now_s() < duration + 0.2 and sampler.poll() is None:
                time.sleep(0.05)
    finally:
        if sampler.poll() is None:
            sampler.send_signal(signal.SIGTERM)
        try:
            sampler.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sampler.kill()
            sampler.wait(timeout=5)
        result["quill_stop"] = stop_quill(proc)
        console.close()

    with open(console_path, errors="replace") as fh:
        console_text = fh.read().replace(root, "@SERVER_ROOT@")
    with open(os.path.join(out_dir, "console.log"), "w") as fh:
        fh.write(console_text)
    err_src = os.path.join(root, "logs", "error.log")
    if os.path.exists(err_src):
        with open(err_src, errors="replace") as fh:
            text = fh.read().replace(root, "@SERVER_ROOT@")
        with open(os.path.join(out_dir, "error.log"), "w") as fh:
            fh.write(text)
    with open(os.path.join(out_dir, "httpd.conf"), "w") as fh:
        fh.write(conf_text.replace(root, "@SERVER_ROOT@"))
    children = list(csv.DictReader(open(children_path))) if os.path.exists(children_path) else []
    left = leftovers(children, t0)
    if left:
        # Children of the supervisor we started that outlived it: end them by pid.
        time.sleep(3)
        for pid in leftovers(children, t0):
            log(f"{name}: leftover child {pid} ({full_cmdline(pid)[:60]}); SIGKILL")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    result["leftover_children"] = left
    result["uptime_after"] = uptime()
    result["loadavg_after"] = loadavg()
    result["ready_s"] = round(ready_s, 3) if ready_s is not None else None
    result["refused"] = refused
    result["console_head"] = console_text[:2000]
    if driver:
        result["load_summary"] = driver.summary()
    first = min((float(c["start_s"]) for c in children if c["kind"] == "frontend"), default=0.0)
    # StartServers children: forked within 0.5 s of the first one (quill forks them
    # 0.2-3 s after its start, after probing Python and starting the daemons).
    startup = sorted(float(c["start_s"]) for c in children if c["kind"] == "frontend" and float(c["start_s"]) < first + 0.5)
    forks = sorted(float(c["start_s"]) for c in children if c["kind"] == "frontend" and float(c["start_s"]) >= first + 0.5)
    result["startup_fork_s"] = startup
    result["frontend_exit_s"] = sorted(float(c["exit_s"]) for c in children if c["kind"] == "frontend" and c["exit_s"])
    result["maintenance_fork_s"] = forks
    shutil.rmtree(root, ignore_errors=True)

    samples = list(csv.DictReader(open(samples_path))) if os.path.exists(samples_path) else []
    ps = per_second(samples, duration) if samples else []
    quill_counts = [int(p) if p != "" else None for _, p, _ in ps]
    quill_stopping = [s for _, _, s in ps]
    result["comparisons"] = {}
    for rname in [name] + EXTRA_RECORDINGS.get(name, []):
        r = recorded(os.path.join(RECORDINGS, rname))
        result["comparisons"][rname] = compare(r, quill_counts)
        write_series(os.path.join(RESULTS, f"{rname}.csv"), r, quill_counts, quill_stopping,
                     recorded(os.path.join(RECORDINGS, rname), "stopping"))
    with open(os.path.join(out_dir, "result.json"), "w") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    return result


# --------------------------------------------------------------------------
# comparison


def recorded(rec_dir: str, col: str = "processes") -> list[int | None]:
    with open(os.path.join(rec_dir, "per_second.csv")) as fh:
        return [int(r[col]) if r[col] != "" else None for r in csv.DictReader(fh)]


def compare(rec: list, q: list) -> dict:
    n = min(len(rec), len(q))
    seconds = exact = within = phase = steady = steady_eq = 0
    diffs = []
    for t in range(n):
        r, s = rec[t], q[t]
        if r is None or s is None:
            continue
        seconds += 1
        exact += r == s
        within += abs(r - s) <= 1
        near = [q[u] for u in (t - 1, t, t + 1) if 0 <= u < len(q) and q[u] is not None]
        phase += any(abs(r - x) <= 1 for x in near)
        lo, hi = t - 4, t + 4
        if lo >= 0 and hi < len(rec) and all(x == r for x in rec[lo:hi + 1]):
            steady += 1
            steady_eq += r == s
        if r != s:
            diffs.append((t, r, s))
    pct = lambda k: round(100.0 * k / seconds, 1) if seconds else 0.0  # noqa: E731
    return {
        "seconds": seconds, "exact_pct": pct(exact), "within1_pct": pct(within), "phase_pct": pct(phase),
        "steady": steady, "steady_equal": steady_eq,
        "pass_same_second": seconds >= 20 and within >= 0.95 * seconds and steady_eq == steady,
        "pass_phase": seconds >= 20 and phase >= 0.95 * seconds,
        "diffs": diffs,
    }


def write_series(path, rec, q, q_stop, rec_stop):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["t_s", "quill_processes", "quill_stopping", "httpd_processes", "httpd_stopping", "diff"])
        for t in range(max(len(rec), len(q))):
            a = q[t] if t < len(q) else None
            b = rec[t] if t < len(rec) else None
            w.writerow([t, "" if a is None else a, q_stop[t] if t < len(q_stop) else "",
                        "" if b is None else b, rec_stop[t] if t < len(rec_stop) and rec_stop[t] is not None else "",
                        "" if a is None or b is None else a - b])


def runs(xs: list) -> str:
    """Run-length: 10,9,9,8 -> '10 9x2 8'."""
    out = []
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[i]:
            j += 1
        v = "-" if xs[i] is None else str(xs[i])
        out.append(f"{v}@{i}" + (f"..{j}" if j > i else ""))
        i = j + 1
    return " ".join(out)


def results_md() -> str:
    rows = []
    details = []
    for name in sorted(os.listdir(RESULTS)) if os.path.isdir(RESULTS) else []:
        p = os.path.join(RESULTS, name, "result.json")
        if not os.path.exists(p):
            continue
        res = json.load(open(p))
        la = res.get("loadavg_before") or []
        for rname, c in res.get("comparisons", {}).items():
            label = rname if rname == name else f"{rname} (run of {name})"
            rows.append(
                f"| {label} | {c['seconds']} | {c['exact_pct']:.1f} | {c['within1_pct']:.1f} | {c['phase_pct']:.1f} "
                f"| {c['steady_equal']}/{c['steady']} | {'yes' if c['pass_same_second'] else 'NO'} "
                f"| {'yes' if c['pass_phase'] else 'NO'} | {' '.join(f'{x:.2f}' for x in la)} "
                f"| {res.get('recording_other_cpu') if res.get('recording_other_cpu') is not None else 'n/a'} |")
            rec = recorded(os.path.join(RECORDINGS, rname))
            series = os.path.join(RESULTS, f"{rname}.csv")
            q = []
            if os.path.exists(series):
                q = [int(r["quill_processes"]) if r["quill_processes"] != "" else None
                     for r in csv.DictReader(open(series))]
            d = c["diffs"]
            details.append(
                f"### {label}\n\n"
                f"* loadavg before: {' '.join(str(x) for x in la)}; after: "
                f"{' '.join(str(x) for x in res.get('loadavg_after') or [])}; quill ready at t={res.get('ready_s')} s; "
                f"stop: {res.get('quill_stop')}\n"
                f"* load: {json.dumps(res.get('load_summary'))}\n"
                f"* quill start-up forks (s): {res.get('startup_fork_s')}; maintenance forks (s): "
                f"{res.get('maintenance_fork_s')}\n"
                f"* quill front-end exits seen (s, 100 ms resolution): {res.get('frontend_exit_s')}\n"
                + (f"* refused / failed: {res['refused']}\n" if res.get("refused") else "")
                + f"* httpd: `{runs(rec)}`\n* quill: `{runs(q)}`\n"
                f"* seconds that differ (t:httpd/quill): "
                f"{' '.join(f'{t}:{r}/{s}' for t, r, s in d[:60])}{' ...' if len(d) > 60 else ''}\n")
    table = (
        "| recording | seconds | exact % | same-second ±1 % | ±1 s phase ±1 % | steady equal | pass (fidelity.rs rule) "
        "| pass (±1 s phase) | loadavg before run | foreign CPU in recording (cores) |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    head = (
        "# `quill serve` vs real Apache httpd 2.4: front-end children per second\n\n"
        "Made by `python3 bench/apache/serve_fidelity.py` (see its docstring). For each second, quill's count of live\n"
        "front-end children (`quill __frontend`, children of the supervisor, zombies excluded; last 100 ms sample of\n"
        "the second, like `per_second.csv`) against the recording's `processes`. *same-second ±1*: the rule of\n"
        "`crates/quill-sim/tests/fidelity.rs` (within ±1 process in the same second; bar 95 %, and steady seconds —\n"
        "recorded count constant for 4 s on each side — must be exact). *±1 s phase*: httpd's count in second t\n"
        "within ±1 of quill's in t−1, t or t+1. The loadavg is the 1/5/15-min load average just before the run\n"
        "(2-core machine shared with builds: above ~2 the run was contended).\n\n"
    )
    return head + table + "\n## Per recording\n\n" + "\n".join(details)


def main(argv=None) -> int:
    global RESULTS
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--sampler"]:
        return sampler_main(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="*", help="scenario names (default: every one with a recording)")
    ap.add_argument("--quill", default=os.path.join(BIN_DIR, "quill"),
                    help=f"quill binary (quill-daemon must be next to it; default {BIN_DIR}/quill)")
    ap.add_argument("--wait-build", action="store_true",
                    help=f"first wait for {BUILD_DIR}/quill and quill-daemon to be stable for 30 s, copy them to {BIN_DIR}")
    ap.add_argument("--seed", type=int, help="seed for Poisson loads (default: the scenario's)")
    ap.add_argument("--max-loadavg", type=float, default=None,
                    help="before each scenario wait (up to --max-wait s) until the 1-min load average is below this")
    ap.add_argument("--max-wait", type=float, default=90.0, help="longest wait for --max-loadavg per scenario (s)")
    ap.add_argument("--report-only", action="store_true", help="only rewrite RESULTS.md from existing results")
    ap.add_argument("--results", default=RESULTS, help="output directory (default bench/apache/serve-results)")
    args = ap.parse_args(argv)
    RESULTS = os.path.abspath(args.results)
    os.makedirs(RESULTS, exist_ok=True)
    if not args.report_only:
        if args.wait_build:
            wait_build()
        quill = os.path.abspath(args.quill)
        for b in (quill, os.path.join(os.path.dirname(quill), "quill-daemon")):
            if not os.access(b, os.X_OK):
                sys.exit(f"error: {b} not found (use --wait-build or --quill)")
        names = args.scenarios or sorted(
            n for n in os.listdir(SCENARIOS)
            if os.path.isdir(os.path.join(SCENARIOS, n)) and os.path.exists(os.path.join(RECORDINGS, n, "per_second.csv")))
        for name in names:
            if not os.path.isdir(os.path.join(SCENARIOS, name)):
                sys.exit(f"error: no scenario {name}")
            if args.max_loadavg is not None:
                end = time.monotonic() + args.max_wait
                while loadavg()[0] >= args.max_loadavg and time.monotonic() < end:
                    time.sleep(10)
            res = run_scenario(name, quill, args.seed)
            for rname, c in res["comparisons"].items():
                log(f"{rname}: exact {c['exact_pct']}%, same-second ±1 {c['within1_pct']}%, "
                    f"±1 s phase {c['phase_pct']}%, steady {c['steady_equal']}/{c['steady']}")
            with open(os.path.join(RESULTS, "RESULTS.md"), "w") as fh:
                fh.write(results_md())
    md = results_md()
    with open(os.path.join(RESULTS, "RESULTS.md"), "w") as fh:
        fh.write(md)
    print(md.split("\n## Per recording")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
