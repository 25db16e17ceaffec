#!/bin/bash
# One front-end child against express's default (two), Django, 3 × 10 s each,
# interleaved: `quill serve` of the configuration `quill express --processes 2
# --threads 8` writes, and of the same with the event pool held to one child
# of 60 slots. Needs `cargo build --release -p quill`, wrk, and
# target/bench-venv with Django (`python3 bench/servers/bench.py --setup`).
# Usage, from anywhere: bench/servers/one-vs-two-children.sh
# (QUILL=/path/to/quill to measure another build; BASE=/path/to/quill adds
# a third variant, two children of that build, interleaved with the others;
# RUNS=N for N rounds instead of 3; URLPATH=/hello for
# the hello-world app). Servers and wrk run at nice -15, so
# that other work on the machine disturbs them less (needs root).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${QUILL:-$ROOT/target/release/quill}
WORK=$(mktemp -d)
mk() { # $1 dir $2 port: express conf written by a short express run
  rm -rf $1; mkdir -p $1
  $BIN express $ROOT/bench/servers/app.wsgi --host 127.0.0.1 --port $2 --processes 2 --threads 8 \
    --python-home $ROOT/target/bench-venv --python-path $ROOT/bench/servers --log-level error \
    --server-root $1 --limit-request-body 0 --queue-timeout 120 --socket-timeout 120 --request-timeout 120 --daemon-backlog 500 > $1/out.log 2>&1 &
  local p=$!; sleep 4; kill $p; wait $p 2>/dev/null; sleep 1
}
mk $WORK/two 19101
mk $WORK/one 19102
sed -i -e 's/^ThreadsPerChild .*/ThreadsPerChild 60/' -e 's/^ThreadLimit .*/ThreadLimit 60/' -e 's/^ServerLimit .*/ServerLimit 1/' \
  -e 's/^MaxRequestWorkers .*/MaxRequestWorkers 60/' -e 's/^MinSpareThreads .*/MinSpareThreads 1/' -e 's/^MaxSpareThreads .*/MaxSpareThreads 60/' $WORK/one/httpd.conf
for i in $(seq 1 ${RUNS:-3}); do
  for v in ${BASE:+base} two one; do
    port=$([ $v = one ] && echo 19102 || echo 19101)
    bin=$([ $v = base ] && echo "$BASE" || echo "$BIN")
    conf=$WORK/$([ $v = one ] && echo one || echo two)/httpd.conf
    nice -n -15 $bin serve $conf > $WORK/$v.log 2>&1 &
    p=$!; sleep 4
    curl -s -o /dev/null http://127.0.0.1:$port${URLPATH:-/django}
    wrk -t2 -c50 -d3s http://127.0.0.1:$port${URLPATH:-/django} > /dev/null
    n=$(pgrep -P $p -f __frontend | wc -l)
    r=$(nice -n -15 wrk -t2 -c50 -d10s --latency http://127.0.0.1:$port${URLPATH:-/django} | grep -E "Requests/sec|  99%|Socket errors" | tr -s ' ' | tr '\n' ' ')
    echo "$v (children $n): $r"
    kill $p; wait $p 2>/dev/null; sleep 2
  done
done
