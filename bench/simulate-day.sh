#!/usr/bin/env bash
# Simulator throughput: 24 hours of Poisson traffic at 500 requests/s
# (≈43 million requests) on the worker MPM. Prints wall time, peak memory and
# simulated requests per second of wall time, for three runs.
# Usage: bench/simulate-day.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p quill
for run in 1 2 3; do
  out=$(mktemp)
  /usr/bin/time -f "%e %M %U" -o "$out.time" ./target/release/quill simulate examples/configs/django/httpd.conf \
    --load examples/loads/day-500rps.csv --no-daemon --duration 86400 --format json > "$out"
  read -r wall rss user < "$out.time"
  completed=$(python3 -c "import json,sys; print(json.load(open('$out'))['totals']['completed'])")
  python3 -c "print(f'run $run: {$wall:.2f} s wall ({$user:.2f} s CPU), {$rss/1024:.1f} MiB peak RSS, $completed requests, {$completed/$wall/1e6:.2f} M simulated requests/s')"
  rm -f "$out" "$out.time"
done
