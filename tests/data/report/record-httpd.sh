#!/usr/bin/env bash
# Records httpd/: Debian's real apache2 with mod_wsgi running httpd/httpd.conf
# (under a temporary ServerRoot) with load.py's traffic, sampled by `quill
# report --record` (httpd/samples.jsonl: the status page only; httpd has no
# metrics page) and the access log it wrote (httpd/access.log). Needs root
# (httpd drops to www-data) and the packages apache2 and
# libapache2-mod-wsgi-py3. Run from the repository root:
# tests/data/report/record-httpd.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cargo build -q -p quill
quill="$PWD/target/debug/quill"
root="$(mktemp -d)"
chmod 755 "$root"
mkdir -p "$root/static" "$root/run" "$root/logs"
head -c 3000 /dev/zero | tr '\0' x > "$root/static/f.txt"
cp bench/apache/app.wsgi "$root/"
chmod -R a+rX "$root"
sed "s#/srv/quill-report-httpd#$root#g" "$here/httpd/httpd.conf" > "$root/httpd.conf"
setsid /usr/sbin/apache2 -d "$root" -f "$root/httpd.conf" -DFOREGROUND &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$root"' EXIT
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:18766/server-status?auto >/dev/null && break
  sleep 0.1
done
python3 "$here/load.py" http://127.0.0.1:18766 "/app/sleep?ms=300" &
load=$!
"$quill" report "$root/httpd.conf" --server-root "$root" --url http://127.0.0.1:18766 \
  --window 24 --interval 2 --record "$here/httpd/samples.jsonl" >/dev/null
wait $load
sed "s#$root#/srv/quill-report-httpd#g" "$root/logs/access.log" > "$here/httpd/access.log"
