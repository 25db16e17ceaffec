#!/usr/bin/env bash
# Records samples.jsonl, the evidence of docs/worked-example.md's `quill
# report` step: `quill serve` of examples/configs/the-thread-serve/httpd.conf
# (the thread's corrected configuration, runnable on one machine; copied to a
# temporary directory with a free port instead of 8080), driven by ApacheBench
# (package apache2-utils) on `/` — app.wsgi's 50 ms requests — with 8
# concurrent clients for 20 s, 32 for 20 s, 16 for 15 s, then none, and
# sampled for 60 s every 5 s by `quill report --record`. Run from the
# repository root: tests/data/report/the-thread/record.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
conf=examples/configs/the-thread-serve
cargo build -q -p quill
quill="$PWD/target/debug/quill"
root="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cp "$conf/app.wsgi" "$root/"
sed "s#8080#$port#g" "$conf/httpd.conf" > "$root/httpd.conf"
"$quill" serve "$root/httpd.conf" 2>"$root/error.log" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$root"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/server-status?auto" >/dev/null && break
  sleep 0.1
done
url="http://127.0.0.1:$port/"
(
  ab -q -c 8 -t 20 -n 1000000 "$url" >/dev/null
  ab -q -c 32 -t 20 -n 1000000 "$url" >/dev/null
  ab -q -c 16 -t 15 -n 1000000 "$url" >/dev/null
) &
load=$!
"$quill" report "$root/httpd.conf" --url "http://127.0.0.1:$port" --window 60 --interval 5 \
  --record "$here/samples.jsonl" >/dev/null
wait $load
