#!/usr/bin/env bash
# Simulator throughput, three runs of each case (from the repository root):
#   day/no-daemon   24 h of Poisson 500 req/s (lognormal, median 100 ms, σ 0.5;
#                   ≈43 million requests) on examples/configs/django, front end only
#   day/daemon      the same day with the mod_wsgi daemon tier, the django
#                   group widened to 4 × 25 threads (mean ≈57 busy: 57%); the
#                   shipped 4 × 10 threads cannot carry 500 req/s
#   hour/overload   1 h of Poisson 500 req/s (lognormal, median 300 ms, σ 1:
#                   mean ≈495 ms) against 10 × 20 = 200 daemon threads and 200
#                   front-end threads (≈404 req/s): overloaded for the whole hour
# Prints wall time, CPU time, peak memory and simulated requests per second,
# and the machine's load average before and after (other work on the
# machine moves the wall time).
# Usage: bench/simulate-day.sh
#        QUILL=/path/to/quill bench/simulate-day.sh   # another build (say, a
#            copy of main's binary), side by side with this one; no build
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${QUILL:-}" ]; then
  cargo build -q --release -p quill
  QUILL=./target/release/quill
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/processes=4 threads=10/processes=4 threads=25/' examples/configs/django/httpd.conf > "$tmp/daemon-100.conf"
sed 's/processes=4 threads=10/processes=10 threads=20/' examples/configs/django/httpd.conf > "$tmp/daemon-200.conf"
printf 't_s,rate_per_s,median_ms,sigma\n0,500,300,1\n3600,0,300,1\n' > "$tmp/overload-hour.csv"

bench() {
  local name=$1; shift
  for run in 1 2 3; do
    /usr/bin/time -f "%e %M %U" -o "$tmp/time" "$QUILL" simulate "$@" --format json > "$tmp/out.json"
    read -r wall rss user < "$tmp/time"
    python3 - "$tmp/out.json" "$name" "$run" "$wall" "$user" "$rss" <<'PY'
import json, sys
path, name, run, wall, user, rss = sys.argv[1:]
t = json.load(open(path))["totals"]
wall, user, rss = float(wall), float(user), int(rss)
print(f"{name:<14} run {run}: {wall:5.2f} s wall ({user:5.2f} s CPU), {rss/1024:5.1f} MiB peak RSS, "
      f"{t['completed']:,} completed, {t['completed']/wall/1e6:.2f} M simulated requests/s; "
      f"{t['refused']:,} SYNs dropped, {t['connect_timeouts']:,} connect timeouts, "
      f"{t['status_503']:,} × 503, {t['status_504']:,} × 504")
PY
  done
}

echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
bench day/no-daemon examples/configs/django/httpd.conf --load examples/loads/day-500rps.csv --duration 86400 --no-daemon
bench day/daemon "$tmp/daemon-100.conf" --load examples/loads/day-500rps.csv --duration 86400
bench hour/overload "$tmp/daemon-200.conf" --load "$tmp/overload-hour.csv" --duration 3600
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
