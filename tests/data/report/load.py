"""The traffic of the recording (record.sh): for 24 s, two clients in a loop
on /app/sleep?0.3 and one on a static file; from 8 s to 16 s, four more on
/app/sleep?0.3, so that six requests compete for the group's four threads."""
import sys, threading, time, urllib.request

base = sys.argv[1]
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
           [("/app/sleep?0.3", 0, 24)] * 2 + [("/static/f.txt", 0, 24)]
           + [("/app/sleep?0.3", 8, 16)] * 4]
for t in threads:
    t.start()
for t in threads:
    t.join()
