#!/usr/bin/env python3
"""Load files and the HTTP load driver of the Quill Apache fidelity harness.

Standard library only (CPython 3.11).  Three load-file kinds, told apart by the
header row (the same files are read by Quill's simulator):

* concurrency schedule  ``t_s,concurrency,request_ms[,requests_per_conn,think_ms,close_on_stop]``
* request trace         ``arrival_ms,duration_ms[,requests_per_conn,think_ms][,conn_id]``
  (``requests.csv`` written by the harness is such a trace, with extra columns)
* Poisson arrivals      ``t_s,rate_per_s,median_ms,sigma[,requests_per_conn,think_ms]``

Blank lines and lines starting with ``#`` are ignored.  All times are relative
to t=0 (see README.md: the start of the Apache parent process).

The driver speaks HTTP/1.1 to ``GET /sleep?ms=N`` on 127.0.0.1 with asyncio and
records one row per request.  Used by record.py; can also be run alone against
an already running server (``python3 load.py LOAD.csv --port P``, t=0 = now).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import math
import random
import sys
import time
from typing import Callable

# --------------------------------------------------------------------------
# Load files


class LoadError(ValueError):
    """A load file that cannot be understood."""


@dataclasses.dataclass
class Segment:
    """One row of a concurrency schedule: from t_s until the next row."""

    t_s: float
    concurrency: int
    request_ms: float
    requests_per_conn: int = 1
    think_ms: float = 0.0
    # What a client that stops (concurrency fell) does with its kept-alive
    # connection: 1 = close it at once; 0 = stop sending and leave it open
    # until the server closes it (KeepAliveTimeout).
    close_on_stop: int = 0


@dataclasses.dataclass
class Conn:
    """One client connection of an open-loop load (trace or Poisson)."""

    start_ms: float
    # (not-before time in ms, duration_ms) per request, sent in order on one
    # connection; a request is sent at max(not_before, previous end + think).
    requests: list[tuple[float, float]]
    think_ms: float = 0.0


@dataclasses.dataclass
class Load:
    kind: str  # "concurrency" | "trace" | "poisson"
    segments: list[Segment] = dataclasses.field(default_factory=list)
    conns: list[Conn] = dataclasses.field(default_factory=list)
    # Poisson source rows (kept for meta.json)
    poisson_rows: list[dict] = dataclasses.field(default_factory=list)
    seed: int | None = None

    def end_s(self) -> float:
        """Time (s since t=0) after which the load starts nothing new."""
        if self.kind == "concurrency":
            return self.segments[-1].t_s if self.segments else 0.0
        if self.kind == "poisson":
            return float(self.poisson_rows[-1]["t_s"]) if self.poisson_rows else 0.0
        if not self.conns:
            return 0.0
        return max(c.requests[-1][0] for c in self.conns) / 1000.0

    def n_requests(self) -> int | None:
        if self.kind == "concurrency":
            return None
        return sum(len(c.requests) for c in self.conns)


def _num(row: dict, key: str, path: str, line: int, default=None, conv=float):
    raw = row.get(key)
    if raw is None or raw.strip() == "":
        if default is None:
            raise LoadError(f"{path}:{line}: missing value for '{key}'")
        return default
    try:
        v = conv(raw.strip())
    except ValueError:
        try:
            f = float(raw.strip())
        except ValueError:
            raise LoadError(f"{path}:{line}: '{key}' is not a number: {raw!r}") from None
        if conv is int and f != int(f):
            raise LoadError(f"{path}:{line}: '{key}' must be an integer: {raw!r}") from None
        v = conv(f)
    if isinstance(v, float) and not math.isfinite(v):
        raise LoadError(f"{path}:{line}: '{key}' must be finite: {raw!r}")
    if v < 0:
        raise LoadError(f"{path}:{line}: '{key}' must not be negative: {raw!r}")
    return v


def read_load(path: str, seed: int = 1) -> Load:
    with open(path, newline="") as fh:
        lines = [(i + 1, ln) for i, ln in enumerate(fh) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise LoadError(f"{path}: empty load file")
    header = [h.strip() for h in next(csv.reader([lines[0][1]]))]
    rows = []
    for lineno, text in lines[1:]:
        vals = next(csv.reader([text]))
        if len(vals) > len(header):
            raise LoadError(f"{path}:{lineno}: {len(vals)} fields for {len(header)} columns")
        rows.append((lineno, dict(zip(header, vals))))
    cols = set(header)
    if {"t_s", "concurrency", "request_ms"} <= cols:
        return _concurrency(path, rows)
    if {"arrival_ms", "duration_ms"} <= cols:
        return _trace(path, rows)
    if {"t_s", "rate_per_s", "median_ms", "sigma"} <= cols:
        return _poisson(path, rows, seed)
    raise LoadError(
        f"{path}: unknown load header {header!r}; expected t_s,concurrency,request_ms | "
        "arrival_ms,duration_ms | t_s,rate_per_s,median_ms,sigma"
    )


def _concurrency(path, rows) -> Load:
    segs = []
    for line, r in rows:
        s = Segment(
            t_s=_num(r, "t_s", path, line),
            concurrency=_num(r, "concurrency", path, line, conv=int),
            request_ms=_num(r, "request_ms", path, line),
            requests_per_conn=max(1, _num(r, "requests_per_conn", path, line, default=1, conv=int)),
            think_ms=_num(r, "think_ms", path, line, default=0.0),
            close_on_stop=_num(r, "close_on_stop", path, line, default=0, conv=int),
        )
        if s.close_on_stop not in (0, 1):
            raise LoadError(f"{path}:{line}: 'close_on_stop' must be 0 or 1")
        if segs and s.t_s < segs[-1].t_s:
            raise LoadError(f"{path}:{line}: t_s must not decrease")
        segs.append(s)
    if not segs:
        raise LoadError(f"{path}: no rows")
    return Load(kind="concurrency", segments=segs)


def _trace(path, rows) -> Load:
    by_conn: dict[str, list] = {}
    conns: list[Conn] = []
    for line, r in rows:
        arr = _num(r, "arrival_ms", path, line)
        dur = _num(r, "duration_ms", path, line)
        cid = (r.get("conn_id") or "").strip()
        if cid:
            by_conn.setdefault(cid, []).append((arr, dur))
            continue
        rpc = max(1, _num(r, "requests_per_conn", path, line, default=1, conv=int))
        think = _num(r, "think_ms", path, line, default=0.0)
        conns.append(Conn(start_ms=arr, requests=[(arr, dur)] * rpc, think_ms=think))
    for reqs in by_conn.values():
        reqs.sort()
        conns.append(Conn(start_ms=reqs[0][0], requests=reqs, think_ms=0.0))
    conns.sort(key=lambda c: c.start_ms)
    return Load(kind="trace", conns=conns)


def _poisson(path, rows, seed: int) -> Load:
    prow = []
    for line, r in rows:
        d = {
            "t_s": _num(r, "t_s", path, line),
            "rate_per_s": _num(r, "rate_per_s", path, line),
            "median_ms": _num(r, "median_ms", path, line),
            "sigma": _num(r, "sigma", path, line),
            "requests_per_conn": max(1, _num(r, "requests_per_conn", path, line, default=1, conv=int)),
            "think_ms": _num(r, "think_ms", path, line, default=0.0),
        }
        if prow and d["t_s"] < prow[-1]["t_s"]:
            raise LoadError(f"{path}:{line}: t_s must not decrease")
        prow.append(d)
    if not prow:
        raise LoadError(f"{path}: no rows")
    conns = poisson_conns(prow, seed)
    return Load(kind="poisson", conns=conns, poisson_rows=prow, seed=seed)


def poisson_conns(prow: list[dict], seed: int) -> list[Conn]:
    """Arrivals of a piecewise-constant Poisson process, lognormal durations.

    Deterministic for a seed: random.Random(seed); per segment, exponential
    inter-arrival gaps restarted at the segment start (exact, memoryless);
    each arrival draws its duration right after its gap:
    round(lognormvariate(ln(median_ms), sigma)) ms.  The last row only ends
    the previous segment (its rate applies until the recording ends only if
    it is > 0; rows should end with rate 0).
    """
    rng = random.Random(seed)
    conns = []
    for i, seg in enumerate(prow):
        start = seg["t_s"]
        end = prow[i + 1]["t_s"] if i + 1 < len(prow) else start  # last row: nothing
        rate = seg["rate_per_s"]
        if rate <= 0 or end <= start:
            continue
        t = start
        while True:
            t += rng.expovariate(rate)
            if t >= end:
                break
            mu = math.log(seg["median_ms"]) if seg["median_ms"] > 0 else -math.inf
            dur = round(rng.lognormvariate(mu, seg["sigma"])) if seg["median_ms"] > 0 else 0
            ms = round(t * 1000.0, 3)
            conns.append(Conn(start_ms=ms, requests=[(ms, float(dur))] * seg["requests_per_conn"], think_ms=seg["think_ms"]))
    return conns


# --------------------------------------------------------------------------
# HTTP driver


@dataclasses.dataclass
class Result:
    arrival_ms: float
    duration_ms: float
    status: int
    latency_ms: float
    conn_id: int
    retries: int
    error: str


class Driver:
    """Drives a Load at 127.0.0.1:port.  now_s() gives seconds since t=0."""

    def __init__(
        self,
        port: int,
        now_s: Callable[[], float],
        end_s: float,
        request_timeout_s: float = 90.0,
        max_inflight: int = 2000,
        max_requests: int = 200000,
        host: str = "127.0.0.1",
    ):
        self.host = host
        self.port = port
        self.now_s = now_s
        self.end_s = end_s
        self.request_timeout_s = request_timeout_s
        self.max_inflight = max_inflight
        self.max_requests = max_requests
        self.results: list[Result] = []
        self.next_conn_id = 0
        self.inflight = 0
        self.started = 0
        self.capped = 0  # requests not sent because of max_requests / max_inflight
        self.load_started_s: float | None = None

    # -- one HTTP exchange -------------------------------------------------
    async def _open(self):
        r, w = await asyncio.open_connection(self.host, self.port)
        self.next_conn_id += 1
        return r, w, self.next_conn_id

    async def _exchange(self, reader, writer, dur_ms: float, keep_alive: bool):
        ms = int(dur_ms) if float(dur_ms).is_integer() else dur_ms
        req = (
            f"GET /sleep?ms={ms} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"User-Agent: quill-bench-load\r\nConnection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        ).encode()
        writer.write(req)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1])
        clen = None
        server_close = parts[0] == "HTTP/1.0"
        for ln in lines[1:]:
            if ":" not in ln:
                continue
            k, v = ln.split(":", 1)
            k = k.strip().lower()
            if k == "content-length":
                clen = int(v.strip())
            elif k == "connection":
                tok = v.strip().lower()
                if "close" in tok:
                    server_close = True
                elif "keep-alive" in tok:
                    server_close = False
        if clen is None:
            await reader.read()  # until EOF
            server_close = True
        elif clen:
            await reader.readexactly(clen)
        return status, server_close

    async def _connection(
        self, plan: list[tuple[float, float]], think_ms: float, stop_check=None, close_on_stop: bool = True
    ):
        """Send requests in order on one keep-alive connection (reconnecting
        when the server closed it).  plan = [(not_before_ms, duration_ms)].
        When stop_check() says stop before a request, the client sends
        nothing more; with close_on_stop False it leaves the connection open
        until the server closes it (or the load ends)."""
        rw = None
        conn = 0
        n = len(plan)
        try:
            for i, (not_before, dur) in enumerate(plan):
                if i > 0:
                    wait = max(not_before / 1000.0, self.now_s() + think_ms / 1000.0) - self.now_s()
                    if wait > 0:
                        await asyncio.sleep(wait)
                if stop_check is not None and stop_check():
                    if rw is not None and not close_on_stop:
                        try:
                            await asyncio.wait_for(rw[0].read(), max(0.0, self.end_s - self.now_s()))
                        except (asyncio.TimeoutError, ConnectionError, OSError):
                            pass
                    break
                if self.now_s() >= self.end_s or self.started >= self.max_requests:
                    self.capped += 1
                    break
                keep = i < n - 1
                self.started += 1
                arrival = self.now_s()
                retries = 0
                status, err = 0, ""
                while True:
                    reused = rw is not None
                    try:
                        if rw is None:
                            r, w, conn = await self._open()
                            rw = (r, w)
                        status, server_close = await asyncio.wait_for(
                            self._exchange(rw[0], rw[1], dur, keep), self.request_timeout_s
                        )
                        err = ""
                        if server_close or not keep:
                            self._close(rw)
                            rw = None
                        break
                    except (ConnectionError, asyncio.IncompleteReadError, OSError) as e:
                        if rw is not None:
                            self._close(rw)
                            rw = None
                        # A kept-alive connection the server closed: reconnect and resend.
                        if reused and retries < 3:
                            retries += 1
                            continue
                        status, err = 0, type(e).__name__
                        break
                    except asyncio.TimeoutError:
                        if rw is not None:
                            self._close(rw)
                            rw = None
                        status, err = 0, "timeout"
                        break
                    except ValueError as e:  # malformed response
                        if rw is not None:
                            self._close(rw)
                            rw = None
                        status, err = 0, f"bad-response:{e}"[:40]
                        break
                done = self.now_s()
                self.results.append(
                    Result(arrival * 1000.0, dur, status, (done - arrival) * 1000.0, conn, retries, err)
                )
        finally:
            if rw is not None:
                self._close(rw)

    @staticmethod
    def _close(rw):
        try:
            rw[1].close()
        except Exception:
            pass

    # -- load kinds ------------------------------------------------------------
    async def _sleep_until(self, t_s: float):
        d = t_s - self.now_s()
        if d > 0:
            await asyncio.sleep(d)

    async def run(self, load: Load):
        self.load_started_s = self.now_s()
        main = self._run_concurrency(load) if load.kind == "concurrency" else self._run_open(load)
        try:
            await asyncio.wait_for(main, max(0.0, self.end_s - self.now_s()) + 0.5)
        except asyncio.TimeoutError:
            pass
        # Anything still running at end_s is cancelled (recorded as "aborted").
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _run_concurrency(self, load: Load):
        segs = load.segments
        state = {"target": 0, "active": 0, "seg": segs[0]}
        tasks = set()

        def over() -> bool:
            return state["active"] > state["target"]

        async def client():
            state["active"] += 1
            try:
                while not over() and self.now_s() < self.end_s:
                    seg = state["seg"]
                    plan = [(0.0, seg.request_ms)] * seg.requests_per_conn
                    await self._tracked(
                        self._connection(plan, seg.think_ms, stop_check=over, close_on_stop=bool(seg.close_on_stop))
                    )
            finally:
                state["active"] -= 1

        for i, seg in enumerate(segs):
            await self._sleep_until(seg.t_s)
            state["seg"] = seg
            state["target"] = seg.concurrency
            for _ in range(max(0, seg.concurrency - state["active"])):
                t = asyncio.ensure_future(client())
                tasks.add(t)
                t.add_done_callback(tasks.discard)
        await self._sleep_until(self.end_s)

    async def _tracked(self, coro):
        self.inflight += 1
        try:
            await coro
        finally:
            self.inflight -= 1

    async def _run_open(self, load: Load):
        tasks = set()
        for c in load.conns:
            await self._sleep_until(c.start_ms / 1000.0)
            if self.now_s() >= self.end_s:
                break
            if self.inflight >= self.max_inflight:
                self.capped += len(c.requests)
                continue
            t = asyncio.ensure_future(self._tracked(self._connection(c.requests, c.think_ms)))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        await self._sleep_until(self.end_s)

    def write_requests(self, path: str):
        rows = sorted(self.results, key=lambda r: (r.arrival_ms, r.conn_id))
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["arrival_ms", "duration_ms", "status", "latency_ms", "conn_id", "retries", "error"])
            for r in rows:
                dur = int(r.duration_ms) if float(r.duration_ms).is_integer() else r.duration_ms
                w.writerow([f"{r.arrival_ms:.1f}", dur, r.status, f"{r.latency_ms:.1f}", r.conn_id, r.retries, r.error])

    def summary(self) -> dict:
        ok = sum(1 for r in self.results if 200 <= r.status < 300)
        errs: dict[str, int] = {}
        for r in self.results:
            if r.status == 0 or r.status >= 400:
                k = r.error or str(r.status)
                errs[k] = errs.get(k, 0) + 1
        return {
            "requests": len(self.results),
            "ok": ok,
            "errors": errs,
            "retried_requests": sum(1 for r in self.results if r.retries),
            "connections": self.next_conn_id,
            "not_sent_capped": self.capped,
            "load_started_s": self.load_started_s,
        }


def drive(load: Load, port: int, now_s, end_s: float, **kw) -> Driver:
    d = Driver(port, now_s, end_s, **kw)
    asyncio.run(d.run(load))
    return d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Drive a Quill load file against 127.0.0.1:PORT (t=0 = now).")
    ap.add_argument("load")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, help="stop after this many seconds (default: load end + 10)")
    ap.add_argument("--out", default="requests.csv")
    args = ap.parse_args(argv)
    try:
        load = read_load(args.load, args.seed)
    except LoadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    end = args.duration if args.duration else load.end_s() + 10.0
    d = drive(load, args.port, lambda: time.monotonic() - t0, end)
    d.write_requests(args.out)
    print(d.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
