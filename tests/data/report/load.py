"""The traffic of the recordings (record.sh, record-httpd.sh): for 24 s, two
clients in a loop on a 0.3 s request and one on a static file; from 8 s to
16 s, four more on the 0.3 s request, so that six requests compete for the
group's four threads. Arguments: the server's base URL, and the path of the
0.3 s request (default /app/sleep?0.3, lifecycle.wsgi's)."""
import sys, threading, time, urllib.request

base = sys.argv[1]
slow = sys.argv[2] if len(sys.argv) > 2 else "/app/sleep?0.3"
start = time.monotonic()

def client(path, t_from, t_to):
    while time.monotonic() - start < t_from:
        time.sleep(0.05)
    while time.monotonic() - start < t_to:
        with urllib.request.urlopen(base + path, timeout=30) as r:
            r.read()
        if path.startswith("/static"):
            time.sleep(0.2)

threads = [threading.Thread(target=client, args=a) for a in
           [(slow, 0, 24)] * 2 + [("/static/f.txt", 0, 24)]
           + [(slow, 8, 16)] * 4]
for t in threads:
    t.start()
for t in threads:
    t.join()
