#!/usr/bin/env bash
# Resident memory of an idle `quill express` (issue 10 §5: a front-end
# child under 8 MB idle; docs/benchmarks.md).
#
#     bench/servers/idle_rss.sh BINDIR [PORT]
#
# Starts BINDIR/quill express --processes 2 --threads 8 (its built-in demo
# application, daemon mode) on 127.0.0.1:PORT (default 19900), sends one
# request, waits two seconds, and prints VmRSS and RssAnon of each process
# of its session (the supervisor, the daemon processes, the front-end
# child), then stops that session, by its leader's process group.
set -euo pipefail
bindir=$1 port=${2:-19900}
. "$(dirname "$0")/session.sh"
# (Kept after the run: the server's log is in it.)
dir=$(mktemp -d /tmp/quill-rss.XXXXXX)
start_session "$dir/out" "$bindir/quill" express --processes 2 --threads 8 \
  --host 127.0.0.1 --port "$port" --server-root "$dir"
wait_for "http://127.0.0.1:$port/"
sleep 2
for pid in $(pgrep -s "$leader"); do
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
  anon=$(awk '/^RssAnon:/{print $2}' "/proc/$pid/status")
  printf '%6d kB  anonymous %6d kB  %s\n' "$rss" "$anon" "$(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-70)"
done
