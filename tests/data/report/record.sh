#!/usr/bin/env bash
# Records what this directory holds: `quill serve` of httpd.conf (under a
# temporary ServerRoot) with load.py's traffic, sampled by `quill report
# --record` (samples.jsonl), and the access log it wrote (access.log).
# Run from the repository root: tests/data/report/record.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cargo build -q -p quill
quill="$PWD/target/debug/quill"
root="$(mktemp -d)"
mkdir -p "$root/static"
head -c 3000 /dev/zero | tr '\0' x > "$root/static/f.txt"
cp crates/quill/tests/serve/apps/lifecycle.wsgi "$root/"
sed "s#/srv/quill-report#$root#g" "$here/httpd.conf" > "$root/httpd.conf"
"$quill" serve "$root/httpd.conf" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$root"' EXIT
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:18765/server-status?auto >/dev/null && break
  sleep 0.1
done
python3 "$here/load.py" http://127.0.0.1:18765 &
load=$!
"$quill" report "$root/httpd.conf" --url http://127.0.0.1:18765 --window 24 --interval 2 \
  --record "$here/samples.jsonl" >/dev/null
wait $load
sed "s#$root#/srv/quill-report#g" "$root/access.log" > "$here/access.log"
