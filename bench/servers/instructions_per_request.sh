#!/usr/bin/env bash
# Instructions (user space, callgrind) per request of one server process,
# thread by thread: the counts that do not move with the machine's load
# (issue 16 §2; docs/benchmarks.md).
#
#     bench/servers/instructions_per_request.sh BINDIR MODE PATH [N]
#
# MODE `embedded`: `quill express --embedded-mode` of bench/servers/app.wsgi
# with one front-end child of 8 request threads; the figures are that
# child's (thread 1 is its event loop). MODE `daemon`: express's daemon
# mode (2 daemon processes x 8 threads) with one front-end child of 34
# slots; the figures are the child's (the daemons are not traced). BINDIR
# holds a `quill` and a `quill-daemon` build. MODE `granian` (BINDIR is
# ignored): Granian from target/bench-venv with one worker of 8 blocking
# threads; the figures are the worker's (its busiest thread is its I/O
# thread). PATH is a scenario of app.wsgi (/hello, /django).
#
# HEADERS=FILE (env) sends each line of FILE as a request header besides
# Host (bench/servers/browser-headers.txt: what a browser sends).
#
# The server runs under `valgrind --tool=callgrind --separate-threads=yes`;
# h2load --h1 -c 10 sends 300 requests to warm up, the counters are zeroed,
# then it sends N (default 4000) and the counters are dumped. Needs
# valgrind, h2load (nghttp2-client) and target/bench-venv (bench.py
# --setup). The server is started and stopped by this script, by process
# group.
set -euo pipefail
bindir=$1 mode=$2 path=$3 n=${4:-4000}
here=$(cd "$(dirname "$0")" && pwd)
work=$(cd "$here/../.." && pwd)
dir=$(mktemp -d /tmp/quill-instr.XXXXXX)
port=$((19200 + $$ % 500))
venv=$work/target/bench-venv

case $mode in
  embedded | daemon)
    threads=8 extra=(--embedded-mode)
    if [ "$mode" = daemon ]; then threads=34 extra=(); fi
    "$bindir/quill" express "$here/app.wsgi" --host 127.0.0.1 --port "$port" \
      --processes 2 --threads 8 --python-home "$venv" --python-path "$here" \
      --log-level error --server-root "$dir" --limit-request-body 0 \
      --queue-timeout 120 "${extra[@]}" --print-config >"$dir/express.conf"
    # One front-end child: every request reaches the process traced.
    sed -E -e 's/^(ServerLimit|StartServers) .*/\1 1/' \
      -e "s/^(ThreadsPerChild|ThreadLimit|MaxRequestWorkers|MinSpareThreads|MaxSpareThreads) .*/\1 $threads/" \
      "$dir/express.conf" >"$dir/one.conf"
    cmd=("$bindir/quill" serve "$dir/one.conf")
    # Daemon mode's daemon processes are `quill-daemon`, its child `quill`
    # (embedded mode's child is `quill-daemon`, and traced).
    skip=()
    if [ "$mode" = daemon ]; then skip=(--trace-children-skip='*/quill-daemon'); fi
    ;;
  granian)
    cmd=("$venv/bin/granian" --interface wsgi --workers 1 --blocking-threads 8
      --host 127.0.0.1 --port "$port" --working-dir "$here" --log-level error apps:application)
    skip=()
    ;;
  *) echo "MODE is embedded, daemon or granian" >&2; exit 2 ;;
esac

. "$here/session.sh"
start_session "$dir/valgrind.log" valgrind --tool=callgrind --trace-children=yes "${skip[@]}" \
  --separate-threads=yes --callgrind-out-file="$dir/cg.%p" "${cmd[@]}"
# (Slow to start under valgrind.)
wait_for "http://127.0.0.1:$port$path" 120
# The process serving: the front-end child, or Granian's worker.
if [ "$mode" = granian ]; then
  pattern="granian --interface"
else
  pattern="__frontend --spec $dir"
fi
pid=$(pgrep -f -- "$pattern" | sort -n | tail -1)
extra_h2load=()
if [ -n "${HEADERS:-}" ]; then
  while IFS= read -r line; do
    [ -n "$line" ] && extra_h2load+=(-H "$line")
  done <"$HEADERS"
fi
h2load --h1 -n 300 -c 10 "${extra_h2load[@]}" "http://127.0.0.1:$port$path" >/dev/null
callgrind_control -z "$pid" >/dev/null
h2load --h1 -n "$n" -c 10 "${extra_h2load[@]}" "http://127.0.0.1:$port$path" | grep -E '^requests:'
callgrind_control -d "$pid" >/dev/null
sleep 2
total=0
for f in "$dir"/cg."$pid".*-*; do
  ir=$(awk '/^summary:/ {print $2; exit}' "$f")
  thread=$(awk '/^thread:/ {print $2; exit}' "$f")
  [ "${ir:-0}" -gt 0 ] || continue
  total=$((total + ir))
  echo "thread $thread: $((ir / n)) instructions per request"
done
echo "all threads: $((total / n)) instructions per request (files in $dir)"
