#!/usr/bin/env python3
"""Clients that never read (issue 12, finding 4), against `quill express`.

    python3 bench/slow-clients.py [QUILL]     # default: target/debug/quill

Starts `QUILL express` of crates/quill/tests/serve/apps/lifecycle.wsgi with
2 processes x 4 threads on 127.0.0.1:19180 (its defaults otherwise:
Timeout 60, mod_reqtimeout), opens 50 connections that each ask for
/big?16 (16 MiB, with a Content-Length) and never read, then for 75 s asks
for /echo/health every 0.5 s (each with a 10 s bound) and samples the
front-end children's resident memory and open files. Prints each
/health's status and time, the worst, and the memory and file peaks; stops
the server by its pid (SIGTERM, then SIGKILL after 20 s).
"""
import os, shutil, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUILL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "quill")
APP = os.path.join(ROOT, "crates", "quill", "tests", "serve", "apps", "lifecycle.wsgi")
PORT = 19180
CLIENTS = 50
WATCH_S = 75


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            stat = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[1] == str(pid) and fields[0] != "Z":
            out.append(int(p))
    return out


def front_ends(pid):
    out = []
    for c in children(pid):
        try:
            if b"__frontend" in open(f"/proc/{c}/cmdline", "rb").read().split(b"\0"):
                out.append(c)
        except OSError:
            pass
    return out


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def get(path, timeout=10.0):
    t = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        line = data.split(b"\r\n", 1)[0].split()
        status = int(line[1]) if len(line) > 1 else None
    except OSError:
        status = None
    return status, time.monotonic() - t


def main():
    root = tempfile.mkdtemp(prefix="quill-slow-clients-")
    server = subprocess.Popen(
        [QUILL, "express", APP, "--host", "127.0.0.1", "--port", str(PORT), "--processes", "2",
         "--threads", "4", "--server-root", root, "--log-to-terminal"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(root, "stderr.log"), "w"))
    try:
        deadline = time.monotonic() + 60
        while get("/echo/ready", 2)[0] != 200:
            if time.monotonic() > deadline:
                sys.exit("the server did not answer within 60 s")
            time.sleep(0.2)
        stuck = []
        for _ in range(CLIENTS):
            c = socket.create_connection(("127.0.0.1", PORT))
            c.sendall(b"GET /big?16 HTTP/1.1\r\nHost: x\r\n\r\n")
            stuck.append(c)
        print(f"{CLIENTS} clients asked for 16 MiB each and read nothing")
        start = time.monotonic()
        worst, answered, failed = 0.0, 0, 0
        rss_peak, fd_peak = 0, 0
        while time.monotonic() - start < WATCH_S:
            status, took = get("/echo/health")
            worst = max(worst, took)
            answered += status == 200
            failed += status != 200
            fe = front_ends(server.pid)
            rss = sum(rss_kib(p) for p in fe)
            nfd = sum(fds(p) for p in fe)
            rss_peak, fd_peak = max(rss_peak, rss), max(fd_peak, nfd)
            print(f"t={time.monotonic() - start:5.1f}s /health {status} in {took * 1000:7.1f} ms; "
                  f"front ends: {len(fe)}, {rss} KiB resident, {nfd} fds")
            time.sleep(0.5)
        print(f"/health: {answered} answered 200, {failed} not; worst {worst * 1000:.1f} ms; "
              f"front-end peak {rss_peak} KiB resident (all children), {fd_peak} fds")
        for c in stuck:
            c.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
