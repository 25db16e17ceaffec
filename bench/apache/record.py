#!/usr/bin/env python3
"""Record real Apache httpd 2.4 (Debian's apache2 + mod_wsgi) under a load.

    python3 bench/apache/record.py bench/apache/scenarios/NAME --out tests/data/recordings/NAME

SCENARIO is a directory holding ``httpd.conf`` (template), ``load.csv`` and an
optional ``scenario.json``, or the path of such a scenario.json (whose
``conf``/``load`` keys may name other files, relative to it).

Everything runs on 127.0.0.1 with a private port and a private ServerRoot in
a temp dir; the system's /etc/apache2 is never read or touched.  Only the
processes started here are signalled, by pid.  Standard library only.
See bench/apache/README.md for the formats and definitions.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import load as loadmod  # noqa: E402
from sampler import CLK_TCK, boottime, read_stat  # noqa: E402

APACHE = "/usr/sbin/apache2"
DEFAULTS = {
    "description": "",
    "duration_s": None,  # default: load end + 20 s
    "sample_ms": 100,
    "status_ms": 200,  # 0 = no /server-status polling
    "seed": 1,
    "request_timeout_s": 90,
    "daemon_name": "wsgi-daemon",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_scenario(path: str) -> tuple[dict, str, str, str]:
    path = os.path.abspath(path)
    if os.path.isdir(path):
        base, js = path, os.path.join(path, "scenario.json")
    else:
        base, js = os.path.dirname(path), path
    cfg = dict(DEFAULTS)
    if os.path.exists(js):
        with open(js) as fh:
            cfg.update(json.load(fh))
    conf = os.path.join(base, cfg.get("conf", "httpd.conf"))
    load = os.path.join(base, cfg.get("load", "load.csv"))
    for p in (conf, load):
        if not os.path.exists(p):
            sys.exit(f"error: scenario file missing: {p}")
    return cfg, conf, load, base


def render(template: str, root: str, port: int, script: str) -> str:
    return template.replace("@WSGI_SCRIPT@", script).replace("@SERVER_ROOT@", root).replace("@PORT@", str(port))


def unrender(text: str, root: str) -> str:
    return text.replace(root, "@SERVER_ROOT@")


def run_out(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"<{e}>"


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Connection": "close", "User-Agent": "quill-bench-record"})
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def per_second(samples: list[dict], duration: float) -> list[tuple[int, str, str]]:
    """processes/stopping at the end of each whole second: last sample with t < t_s+1."""
    out = []
    rows = [(float(r["t_s"]), r) for r in samples if r.get("t_s")]
    j = -1
    for s in range(int(duration)):
        while j + 1 < len(rows) and rows[j + 1][0] < s + 1:
            j += 1
        if j < 0 or rows[j][0] < s:  # no sample inside second s
            out.append((s, "", ""))
        else:
            out.append((s, rows[j][1]["processes"], rows[j][1]["stopping"]))
    return out


def cpu_busy_s() -> float:
    """System-wide busy CPU seconds since boot (all cores), from /proc/stat."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)  # idle + iowait
    return (sum(f[:8]) - idle) / CLK_TCK


def stop_apache(proc: subprocess.Popen, log) -> str:
    """SIGTERM the parent we started; wait; SIGKILL its own session's group as a last resort."""
    if proc.poll() is not None:
        return f"already exited rc={proc.returncode}"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
        return f"SIGTERM rc={proc.returncode}"
    except subprocess.TimeoutExpired:
        log("apache did not stop after SIGTERM; SIGKILL to its process group")
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group is the session we created (pgid == our child's pid)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        return "SIGKILL"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", help="scenario directory or scenario.json")
    ap.add_argument("--out", required=True, help="output directory (created/overwritten)")
    ap.add_argument("--seed", type=int, help="seed for Poisson loads (default: scenario's, else 1)")
    ap.add_argument("--duration", type=float, help="recording length in s since t=0")
    ap.add_argument("--port", type=int, help="port (default: a free one)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp ServerRoot")
    args = ap.parse_args(argv)

    def log(msg):
        print(f"[record] {msg}", file=sys.stderr, flush=True)

    if not os.access(APACHE, os.X_OK):
        sys.exit(f"error: {APACHE} not found; apt-get install -y apache2 libapache2-mod-wsgi-py3")
    cfg, conf_path, load_path, scen_dir = load_scenario(args.scenario)
    seed = args.seed if args.seed is not None else int(cfg["seed"])
    try:
        load = loadmod.read_load(load_path, seed)
    except loadmod.LoadError as e:
        sys.exit(f"error: {e}")
    duration = args.duration or cfg["duration_s"] or (load.end_s() + 20.0)
    duration = float(duration)
    port = args.port or free_port()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    root = tempfile.mkdtemp(prefix="quill-apache-")
    for d in ("run", "logs", "app"):
        os.makedirs(os.path.join(root, d))
    for d in (root, *(os.path.join(root, x) for x in ("run", "logs", "app"))):
        os.chmod(d, 0o755)  # www-data must reach the app and the wsgi socket
    script = os.path.join(root, "app", "app.wsgi")
    shutil.copy(os.path.join(HERE, "app.wsgi"), script)
    os.chmod(script, 0o644)
    with open(conf_path) as fh:
        template = fh.read()
    conf_text = render(template, root, port, script)
    conf = os.path.join(root, "httpd.conf")
    with open(conf, "w") as fh:
        fh.write(conf_text)

    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C",
        "APACHE_RUN_DIR": os.path.join(root, "run"),
        "APACHE_LOCK_DIR": os.path.join(root, "run"),
        "APACHE_PID_FILE": os.path.join(root, "run", "httpd.pid"),
        "APACHE_LOG_DIR": os.path.join(root, "logs"),
        "APACHE_RUN_USER": "www-data",
        "APACHE_RUN_GROUP": "www-data",
    }
    test = subprocess.run([APACHE, "-t", "-f", conf], capture_output=True, text=True, env=env, cwd=root)
    if test.returncode != 0:
        log(test.stdout + test.stderr)
        sys.exit("error: apache2 -t failed")

    loadavg_start = open("/proc/loadavg").read().split()[:3]
    busy_start, wall_start, own_start = cpu_busy_s(), boottime(), sum(os.times()[:4])
    cmd = [APACHE, "-f", conf, "-DFOREGROUND"]
    out_f = open(os.path.join(root, "logs", "stdout.log"), "wb")
    before = boottime()
    proc = subprocess.Popen(cmd, stdout=out_f, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    after = boottime()
    st = read_stat(proc.pid)
    t0 = st[1] if st else before
    wall_t0 = time.time() - (boottime() - t0)
    log(f"apache parent pid {proc.pid} port {port} root {root}")

    sampler_cmd = [
        sys.executable, os.path.join(HERE, "sampler.py"),
        "--ppid", str(proc.pid), "--port", str(port), "--t0", repr(t0),
        "--interval", str(cfg["sample_ms"] / 1000.0),
        "--status-every", str(int(round(cfg["status_ms"] / cfg["sample_ms"])) if cfg["status_ms"] else 0),
        "--daemon-name", cfg["daemon_name"],
        "--until", str(duration),
        "--samples", os.path.join(out, "samples.csv"),
        "--children", os.path.join(out, "children.csv"),
    ]
    sampler = subprocess.Popen(sampler_cmd)
    now_s = lambda: boottime() - t0  # noqa: E731

    info: dict = {}
    ready_s = None
    stop_how = ""
    driver = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"apache exited early rc={proc.returncode}")
            try:
                status, body = http_get(port, "/info")
                if status == 200:
                    info = json.loads(body)
                    ready_s = now_s()
                    break
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        if ready_s is None:
            raise RuntimeError("apache did not answer /info within 30 s")
        log(f"ready at t={ready_s:.3f}s; driving {load.kind} load until t={duration:.1f}s")
        driver = loadmod.drive(load, port, now_s, duration, request_timeout_s=float(cfg["request_timeout_s"]))
        driver.write_requests(os.path.join(out, "requests.csv"))
        # let the sampler take its last sample
        while now_s() < duration + 0.2 and sampler.poll() is None:
            time.sleep(0.05)
    finally:
        if sampler.poll() is None:
            sampler.send_signal(signal.SIGTERM)
        try:
            sampler.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sampler.kill()
        stop_how = stop_apache(proc, log)
        out_f.close()

    # ---- outputs ---------------------------------------------------------
    # CPU accounting: everything this recording ran (harness, sampler, Apache and its
    # children, all reaped by now) vs the whole machine, to expose foreign CPU load.
    wall = boottime() - wall_start
    busy = cpu_busy_s() - busy_start
    own = sum(os.times()[:4]) - own_start
    cpu = {
        "wall_s": round(wall, 2),
        "machine_busy_cpu_s": round(busy, 2),
        "recording_cpu_s": round(own, 2),
        "other_cpu_s": round(max(0.0, busy - own), 2),
        "other_cpu_fraction_of_one_core": round(max(0.0, busy - own) / wall, 3) if wall > 0 else None,
    }
    with open(os.path.join(out, "httpd.conf"), "w") as fh:
        fh.write(unrender(conf_text, root))
    with open(os.path.join(root, "logs", "error.log"), errors="replace") as fh:
        errlog = fh.read()
    with open(os.path.join(out, "error.log"), "w") as fh:
        fh.write(unrender(errlog, root))
    with open(os.path.join(root, "logs", "stdout.log"), errors="replace") as fh:
        console = unrender(fh.read(), root)
    with open(os.path.join(out, "samples.csv")) as fh:
        samples = list(csv.DictReader(fh))
    with open(os.path.join(out, "per_second.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["t_s", "processes", "stopping"])
        w.writerows(per_second(samples, duration))
    with open(os.path.join(out, "children.csv")) as fh:
        children = list(csv.DictReader(fh))

    access = os.path.join(root, "logs", "access.log")
    dummy = []
    access_lines = 0
    per_pid: dict[str, int] = {}
    if os.path.exists(access):
        with open(access, errors="replace") as fh:
            for ln in fh:
                access_lines += 1
                parts = ln.split()
                if parts:
                    per_pid[parts[-1]] = per_pid.get(parts[-1], 0) + 1
                if '"OPTIONS * ' in ln:
                    try:
                        dummy.append(round(float(ln.split()[0]) - wall_t0, 3))
                    except ValueError:
                        pass

    mpm_children = [c for c in children if c["kind"] == "mpm"]
    startup = [float(c["start_s"]) for c in mpm_children if float(c["start_s"]) < (ready_s or 1.0)]
    forks = sorted(float(c["start_s"]) for c in mpm_children if float(c["start_s"]) >= (ready_s or 1.0))
    mpm = "unknown"
    for ln in conf_text.splitlines():
        s = ln.strip().split()
        if len(s) >= 2 and s[0] == "LoadModule" and s[1].startswith("mpm_"):
            mpm = s[1][4:].replace("_module", "")
    repo = os.path.dirname(os.path.dirname(HERE))  # commands are given relative to the repo root
    rel_out = os.path.relpath(out, repo)
    rel_scen = os.path.relpath(os.path.abspath(args.scenario), repo)
    remake = ["python3", "bench/apache/record.py", rel_scen, "--out", rel_out]
    if args.seed is not None:
        remake += ["--seed", str(args.seed)]
    if args.duration:
        remake += ["--duration", str(args.duration)]
    meta = {
        "scenario": os.path.basename(os.path.normpath(scen_dir)),
        "description": cfg["description"],
        "remake_command": shlex.join(remake),
        "remake_all_command": "bash bench/apache/record_all.sh",
        "apache_version": run_out([APACHE, "-v"]),
        "apache_package": run_out(["dpkg-query", "-W", "-f=${Version}", "apache2"]),
        "mod_wsgi_version": info.get("mod_wsgi_version", ""),
        "mod_wsgi_package": run_out(["dpkg-query", "-W", "-f=${Version}", "libapache2-mod-wsgi-py3"]),
        "daemon_python": info.get("python", ""),
        "mpm": mpm,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "somaxconn": open("/proc/sys/net/core/somaxconn").read().strip(),
        "harness_python": platform.python_version(),
        "loadavg_start": loadavg_start,
        "loadavg_end": open("/proc/loadavg").read().split()[:3],
        "cpu": cpu,
        "port": port,
        "seed": seed,
        "load_kind": load.kind,
        "load_file": "load.csv",
        "duration_s": duration,
        "sample_interval_ms": cfg["sample_ms"],
        "status_interval_ms": cfg["status_ms"],
        "t0_definition": (
            "t=0 is the start time of the Apache parent process (the /usr/sbin/apache2 -DFOREGROUND process "
            "started by the harness), field 22 (starttime) of /proc/<pid>/stat, in CLOCK_BOOTTIME, "
            f"resolution 1/{CLK_TCK} s. All *_s / *_ms times in this recording are relative to it."
        ),
        "t0_boottime_s": t0,
        "t0_unix_s": round(wall_t0, 6),
        "popen_window_s": [round(before - t0, 4), round(after - t0, 4)],
        "ready_s": round(ready_s, 4) if ready_s is not None else None,
        "load_started_s": round(driver.load_started_s, 4) if driver and driver.load_started_s else None,
        "startup_fork_s": sorted(startup),
        "maintenance_fork_s": forks,
        "dummy_connection_s": dummy,
        "access_log_lines": access_lines,
        "access_log_lines_per_child_pid": per_pid,
        "load_summary": driver.summary() if driver else None,
        "apache_stop": stop_how,
        "apache_console": console,
        "daemon_info": info,
    }
    if load.kind == "poisson":
        meta["poisson_generated_requests"] = load.n_requests()
    with open(os.path.join(out, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=2)
        fh.write("\n")
    shutil.copy(load_path, os.path.join(out, "load.csv"))
    if args.keep_tmp:
        log(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    ps = per_second(samples, duration)
    log("per-second processes: " + " ".join(str(p) for _, p, _ in ps))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
