#!/usr/bin/env python3
"""Sampler of the Quill Apache fidelity harness (standard library only).

Run by record.py as a separate process (so it does not share a GIL with the
load driver).  Every --interval seconds, on a grid k*interval after t=0, it
scans /proc for the children of the Apache parent and, every --status-every
samples, fetches /server-status?auto (Connection: close) in a helper thread.
It stops on SIGTERM/SIGINT or at --until and then writes samples.csv and
children.csv (formats in README.md).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import http.client
import os
import signal
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

STATUS_KEYS = [
    "BusyWorkers",
    "IdleWorkers",
    "GracefulWorkers",
    "Processes",
    "Stopping",
    "ConnsTotal",
    "ConnsAsyncKeepAlive",
    "ConnsAsyncClosing",
    "Total Accesses",
    "Scoreboard",
]
STATUS_COLS = [k.replace(" ", "") for k in STATUS_KEYS]

SAMPLE_COLS = ["t_s", "processes", "stopping", "zombies", "wsgi_daemons", "status_t_s", "status_ms"] + STATUS_COLS
CHILD_COLS = ["pid", "kind", "start_s", "first_seen_s", "stopping_s", "exit_s"]


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def proc_start_s(pid: int) -> float | None:
    """Process start time in seconds since boot (CLOCK_BOOTTIME), 1/CLK_TCK resolution."""
    st = read_stat(pid)
    return None if st is None else st[1]


def read_stat(pid: int):
    """(state, start_boottime_s, ppid) from /proc/pid/stat, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("latin-1")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = data.rsplit(")", 1)[1].split()
    # rest[0] is field 3 (state); starttime is field 22 -> rest[19]
    return rest[0], int(rest[19]) / CLK_TCK, int(rest[1])


def children_of(ppid: int) -> list[int]:
    pids: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{ppid}/task")
    except FileNotFoundError:
        return []
    ok = False
    for tid in tasks:
        try:
            with open(f"/proc/{ppid}/task/{tid}/children") as fh:
                pids.update(int(x) for x in fh.read().split())
            ok = True
        except (FileNotFoundError, ProcessLookupError):
            continue
    if ok:
        return sorted(pids)
    # Kernel without CONFIG_PROC_CHILDREN: scan /proc.
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = read_stat(int(name))
            if st and st[2] == ppid:
                pids.add(int(name))
    return sorted(pids)


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().split(b"\0", 1)[0].decode("latin-1")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def listen_inodes(ppid: int, port: int) -> set[str]:
    """Socket inodes of the parent's listening TCP socket(s) on PORT."""
    out = set()
    for f in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{ppid}/net/{f}") as fh:
                next(fh)
                for ln in fh:
                    p = ln.split()
                    local, state, inode = p[1], p[3], p[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        out.add(f"socket:[{inode}]")
        except FileNotFoundError:
            continue
    return out


def holds_any(pid: int, links: set[str]) -> bool | None:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in links:
                return True
        except OSError:
            continue
    return False


def fetch_status(port: int, timeout: float):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/server-status?auto", headers={"Connection": "close", "User-Agent": "quill-bench-sampler"})
        resp = conn.getresponse()
        body = resp.read().decode("latin-1")
        if resp.status != 200:
            return None
    finally:
        conn.close()
    vals = {}
    for ln in body.splitlines():
        if ":" in ln:
            k, v = ln.split(":", 1)
            vals[k.strip()] = v.strip()
    return vals


class Sampler:
    def __init__(self, ppid, port, t0, interval, status_every, status_timeout, daemon_name):
        self.ppid = ppid
        self.port = port
        self.t0 = t0
        self.interval = interval
        self.status_every = status_every
        self.status_timeout = status_timeout
        self.daemon_name = daemon_name
        self.rows: list[dict] = []
        self.children: dict[int, dict] = {}
        self.daemons: set[int] = set()
        self.listen: set[str] = set()
        self.stop = threading.Event()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=32)
        self.futures = []

    def rel(self, bt: float) -> float:
        return bt - self.t0

    def is_daemon(self, pid: int) -> bool:
        if pid in self.daemons:
            return True
        name = cmdline(pid)
        if name.startswith(self.daemon_name) or name.startswith("(wsgi:"):
            self.daemons.add(pid)
            return True
        return False

    def scan(self, row: dict):
        t = self.rel(boottime())
        row["t_s"] = f"{t:.3f}"
        if not self.listen:
            self.listen = listen_inodes(self.ppid, self.port)
        live = stopping = zombies = daemons = 0
        seen = set()
        for pid in children_of(self.ppid):
            st = read_stat(pid)
            if st is None or st[2] != self.ppid:
                continue
            state, start, _ = st
            seen.add(pid)
            zombie = state == "Z"
            info = self.children.get(pid)
            if info is None:
                kind = "wsgi" if (not zombie and self.is_daemon(pid)) else "mpm"
                info = {"pid": pid, "kind": kind, "start_s": f"{self.rel(start):.2f}", "first_seen_s": row["t_s"],
                        "stopping_s": "", "exit_s": ""}
                self.children[pid] = info
            elif info["kind"] == "mpm" and not zombie and self.is_daemon(pid):
                info["kind"] = "wsgi"  # display-name applied after we first saw it
            if zombie:
                if info["kind"] == "mpm":
                    zombies += 1
                if not info["exit_s"]:
                    info["exit_s"] = row["t_s"]
                continue
            if info["kind"] == "wsgi":
                daemons += 1
                continue
            live += 1
            if self.listen:
                held = holds_any(pid, self.listen)
                if held is False:
                    stopping += 1
                    if not info["stopping_s"]:
                        info["stopping_s"] = row["t_s"]
        for pid, info in self.children.items():
            if pid not in seen and not info["exit_s"]:
                info["exit_s"] = row["t_s"]
        row.update(processes=live, stopping=stopping if self.listen else "", zombies=zombies, wsgi_daemons=daemons)

    def status(self, row: dict):
        sent = self.rel(boottime())
        try:
            vals = fetch_status(self.port, self.status_timeout)
        except Exception:
            vals = None
        done = self.rel(boottime())
        row["status_t_s"] = f"{sent:.3f}"
        if vals is None:
            return
        row["status_ms"] = f"{(done - sent) * 1000.0:.1f}"
        for key, col in zip(STATUS_KEYS, STATUS_COLS):
            row[col] = vals.get(key, "")

    def run(self, until: float | None):
        k = max(0, int(self.rel(boottime()) / self.interval) + 1)
        while not self.stop.is_set():
            target = k * self.interval
            if until is not None and target > until:
                break
            delay = target - self.rel(boottime())
            if delay > 0 and self.stop.wait(delay):
                break
            row: dict = {}
            self.scan(row)
            if self.status_every > 0 and k % self.status_every == 0:
                self.futures.append(self.pool.submit(self.status, row))
            self.rows.append(row)
            if not os.path.exists(f"/proc/{self.ppid}"):
                break
            k += 1
            # If a scan overran, skip grid points rather than bunch up.
            while k * self.interval < self.rel(boottime()):
                k += 1
        concurrent.futures.wait(self.futures, timeout=self.status_timeout + 1.0)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def write(self, samples_path: str, children_path: str):
        with open(samples_path, "w", newline="") as fh:
            w = csv.DictWriter(fh, SAMPLE_COLS, lineterminator="\n", extrasaction="ignore")
            w.writeheader()
            for r in self.rows:
                w.writerow(dict(r))
        with open(children_path, "w", newline="") as fh:
            w = csv.DictWriter(fh, CHILD_COLS, lineterminator="\n")
            w.writeheader()
            for info in sorted(self.children.values(), key=lambda i: (float(i["start_s"]), i["pid"])):
                w.writerow(info)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ppid", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--t0", type=float, required=True, help="t=0 in CLOCK_BOOTTIME seconds")
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--status-every", type=int, default=2, help="status poll every N samples (0 = never)")
    ap.add_argument("--status-timeout", type=float, default=3.0)
    ap.add_argument("--daemon-name", default="wsgi-daemon")
    ap.add_argument("--until", type=float, help="last sample time (s since t=0)")
    ap.add_argument("--samples", required=True)
    ap.add_argument("--children", required=True)
    args = ap.parse_args(argv)
    s = Sampler(args.ppid, args.port, args.t0, args.interval, args.status_every, args.status_timeout, args.daemon_name)
    signal.signal(signal.SIGTERM, lambda *_: s.stop.set())
    signal.signal(signal.SIGINT, lambda *_: s.stop.set())
    s.run(args.until)
    s.write(args.samples, args.children)
    return 0


if __name__ == "__main__":
    sys.exit(main())
