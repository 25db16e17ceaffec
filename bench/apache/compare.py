#!/usr/bin/env python3
"""Compare the per-second process counts of two sets of recordings (run-to-run variation).

    python3 bench/apache/compare.py tests/data/recordings /tmp/rerun

For every recording name present in both directories prints the share of
seconds with equal counts and within +-1, and the seconds that differ.
"""

import csv
import os
import sys


def counts(path):
    with open(os.path.join(path, "per_second.csv")) as fh:
        return [r["processes"] for r in csv.DictReader(fh)]


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a_dir, b_dir = argv
    for name in sorted(os.listdir(a_dir)):
        a_path, b_path = os.path.join(a_dir, name), os.path.join(b_dir, name)
        if not (os.path.exists(os.path.join(a_path, "per_second.csv")) and os.path.exists(os.path.join(b_path, "per_second.csv"))):
            continue
        a, b = counts(a_path), counts(b_path)
        n = min(len(a), len(b))
        pairs = [(i, a[i], b[i]) for i in range(n) if a[i] != "" and b[i] != ""]
        eq = sum(1 for _, x, y in pairs if x == y)
        near = sum(1 for _, x, y in pairs if abs(int(x) - int(y)) <= 1)
        diff = [f"{i}:{x}/{y}" for i, x, y in pairs if x != y]
        print(f"{name}: {len(pairs)} s, equal {100 * eq / max(1, len(pairs)):.0f}%, within 1 {100 * near / max(1, len(pairs)):.0f}%"
              + (f"; differ at {' '.join(diff[:30])}{' ...' if len(diff) > 30 else ''}" if diff else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
