#!/usr/bin/env python3
"""Print a one-paragraph summary of each recording (for checking and for README.md).

    python3 bench/apache/summarize.py [tests/data/recordings/NAME ...]

Per-second live children are shown run-length encoded: `3x20` = 3 for 20 s;
`t=..` gives the second each run starts.
"""

import csv
import glob
import json
import os
import sys


def rle(values):
    out = []
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            n = i - start
            out.append(f"{values[start]}" + (f"x{n}" if n > 1 else "") + f"@{start}")
            start = i
    return out


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    dirs = argv or sorted(glob.glob(os.path.join(repo, "tests/data/recordings/*/")))
    for d in dirs:
        if not os.path.exists(os.path.join(d, "meta.json")):
            continue
        meta = json.load(open(os.path.join(d, "meta.json")))
        ps = list(csv.DictReader(open(os.path.join(d, "per_second.csv"))))
        procs = [r["processes"] for r in ps]
        stop = [int(r["stopping"] or 0) for r in ps]
        s = meta.get("load_summary") or {}
        name = os.path.basename(os.path.normpath(d))
        label = name if name == meta["scenario"] else f"{name} (scenario {meta['scenario']})"
        print(f"{label} [{meta['mpm']}] {meta['duration_s']:g}s, {s.get('requests', 0)} requests "
              f"({s.get('ok', 0)} ok, errors {s.get('errors', {})}, retried {s.get('retried_requests', 0)}, "
              f"{s.get('connections', 0)} connections)")
        print("  processes (value@first second): " + " ".join(rle(procs)))
        if any(stop):
            print("  stopping>0 at seconds: " + " ".join(str(i) for i, v in enumerate(stop) if v))
        print(f"  maintenance forks at: {meta.get('maintenance_fork_s')}")
        if meta.get("cpu"):
            print(f"  foreign CPU load during the recording: {meta['cpu']['other_cpu_fraction_of_one_core']} cores")
        if meta.get("dummy_connection_s"):
            print(f"  prefork dummy connections (kills): {len(meta['dummy_connection_s'])}")
        log = open(os.path.join(d, "error.log")).read().splitlines()
        for ln in log:
            if any(k in ln for k in ("seems busy", "MaxRequestWorkers", "scoreboard is full", "WARNING", ":warn]", ":error]")):
                print("  log: " + ln[ln.find("] [") + 2:][:200])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
