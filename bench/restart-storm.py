#!/usr/bin/env python3
"""Faults in a row, without load: what the supervisor's memory does.

    python3 bench/restart-storm.py restart|kill N EVERY PORT

Starts `target/release/quill serve` of the soak run's configuration
(bench/soak.py: worker MPM, one group of 2 processes x 8 threads running
bench/soak-app.wsgi) on 127.0.0.1:PORT, then N times, EVERY seconds apart,
sends the supervisor SIGUSR1 (`restart`: a graceful restart) or SIGKILLs
the group's lowest-pid daemon process (`kill`; keep EVERY above half of
the supervisor's 10 s "quick death" limit, or its restart backoff leaves
nothing to kill), and every 10 faults prints the supervisor's RssAnon and
RssFile (KiB) and its open descriptors. Stops the server (SIGTERM) at the
end. docs/reliability.md says what it showed.
"""
import os, signal, socket, subprocess, sys, tempfile, time, shutil
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
what = sys.argv[1]          # restart | kill
n = int(sys.argv[2]); every = float(sys.argv[3]); port = int(sys.argv[4])
tmp = tempfile.mkdtemp(prefix="quill-storm-")
shutil.copy(f"{ROOT}/bench/soak-app.wsgi", f"{tmp}/soak.wsgi"); os.mkdir(f"{tmp}/markers")
open(f"{tmp}/httpd.conf", "w").write(
    f'ServerRoot "{tmp}"\nServerName localhost\nListen 127.0.0.1:{port}\n'
    "LoadModule mpm_worker_module modules/mod_mpm_worker.so\nLoadModule wsgi_module modules/mod_wsgi.so\n"
    f'WSGISocketPrefix "{tmp}/wsgi"\nWSGIDaemonProcess soak processes=2 threads=8\n'
    f'WSGIScriptAlias / "{tmp}/soak.wsgi" process-group=soak application-group=%{{GLOBAL}}\n')
log = open(f"{tmp}/log", "w")
srv = subprocess.Popen([f"{ROOT}/target/release/quill", "serve", f"{tmp}/httpd.conf", "--log-to-terminal"], stdout=log, stderr=log)
def kinds(pid):
    return {l.split(":")[0]: int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith(("RssAnon", "RssFile"))}
def daemons():
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                st = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                if st[1] == str(srv.pid) and b"quill-daemon" in open(f"/proc/{p}/cmdline", "rb").read():
                    out.append(int(p))
            except OSError:
                pass
    return sorted(out)
try:
    # Until it answers (at most 60 s).
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                if s.recv(64).split(b" ")[1:2] == [b"200"]:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or srv.poll() is not None:
            sys.exit(f"the server did not answer; its log: {tmp}/log")
        time.sleep(0.2)
    for i in range(n + 1):
        if i % 10 == 0:
            print(i, kinds(srv.pid), len(os.listdir(f"/proc/{srv.pid}/fd")), flush=True)
        if what == "restart":
            os.kill(srv.pid, signal.SIGUSR1)
        else:
            d = daemons()
            if d:
                os.kill(d[0], signal.SIGKILL)
        time.sleep(every)
    time.sleep(3)
    print("end", kinds(srv.pid), len(os.listdir(f"/proc/{srv.pid}/fd")), flush=True)
finally:
    srv.terminate(); srv.wait(20)
