#!/usr/bin/env python3
"""SVG charts of a bench.py run (its --json file), with nothing but the
standard library: one panel per scenario, one bar per server.

    python3 bench/servers/plot.py RESULTS.json OUTDIR

writes OUTDIR/servers-throughput.svg, servers-latency.svg and
servers-rss.svg. Output is deterministic for a given input (fixed float
formatting, servers and scenarios in the order of the run).
"""
import json
import os
import sys

COLORS = {
    "quill": "#1f6feb",
    "quill-v1": "#8cb4f5",
    "granian": "#d2691e",
    "gunicorn": "#2e8b57",
    "uwsgi": "#8b5cf6",
    "apache": "#b22222",
}
FALLBACK = ["#555555", "#999999", "#c0a000", "#008b8b"]
TITLES = {
    "hello": "(a) hello world",
    "django": "(b) Django template",
    "io": "(c) 50 ms I/O, 200 conn.",
    "stream": "(d) 1 MiB streamed",
    "upload": "(e) 10 MiB upload",
}


def color(server, order):
    return COLORS.get(server, FALLBACK[order.index(server) % len(FALLBACK)])


def esc(t):
    return str(t).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def num(v):
    if v >= 10000:
        return f"{v / 1000:.1f}k"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def panels(title, scenarios, servers, value, unit, note=""):
    """Small multiples: one bar chart per scenario, each with its own scale."""
    pw, ph, top, left, bottom = 230, 210, 60, 20, 70
    width = left + pw * len(scenarios) + 20
    height = top + ph + bottom
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="15" font-weight="bold">{esc(title)}</text>']
    if note:
        out.append(f'<text x="{left}" y="40" fill="#555">{esc(note)}</text>')
    for i, sc in enumerate(scenarios):
        x0 = left + i * pw
        vals = [(s, value(sc, s)) for s in servers]
        vmax = max([v for _, v in vals if v is not None] + [1e-9])
        out.append(f'<text x="{x0 + pw / 2:.1f}" y="{top - 6}" text-anchor="middle" '
                   f'font-weight="bold">{esc(TITLES.get(sc, sc))}</text>')
        out.append(f'<line x1="{x0 + 10}" y1="{top + ph}" x2="{x0 + pw - 10}" y2="{top + ph}" stroke="#333"/>')
        bw = (pw - 30) / max(len(servers), 1)
        for j, (s, v) in enumerate(vals):
            bx = x0 + 15 + j * bw
            if v is None:
                out.append(f'<text x="{bx + bw / 2:.1f}" y="{top + ph - 4}" text-anchor="middle" fill="#999">n/a</text>')
                continue
            h = (ph - 20) * v / vmax
            out.append(f'<rect x="{bx + 2:.1f}" y="{top + ph - h:.1f}" width="{bw - 4:.1f}" height="{h:.1f}" '
                       f'fill="{color(s, servers)}"><title>{esc(s)}: {num(v)} {esc(unit)}</title></rect>')
            out.append(f'<text x="{bx + bw / 2:.1f}" y="{top + ph - h - 3:.1f}" text-anchor="middle" '
                       f'font-size="9">{num(v)}</text>')
            out.append(f'<text x="{bx + bw / 2:.1f}" y="{top + ph + 12}" text-anchor="end" font-size="9" '
                       f'transform="rotate(-40 {bx + bw / 2:.1f} {top + ph + 12})">{esc(s)}</text>')
    out.append(f'<text x="{left}" y="{height - 8}" fill="#555">{esc(unit)}; each panel has its own scale</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    data = json.load(open(sys.argv[1]))
    outdir = sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    med = data["median"]
    scenarios = list(dict.fromkeys(r["scenario"] for r in med))
    servers = list(dict.fromkeys(r["server"] for r in med))
    by = {(r["scenario"], r["server"]): r for r in med}
    meta = data.get("meta", {})
    note = f'{meta.get("processes", "?")} processes × {meta.get("threads", "?")} threads, wrk -t2; ' \
           f'median of {meta.get("repeat", 1)} runs of {meta.get("duration", "?")} s'

    def get(key):
        def f(sc, s):
            r = by.get((sc, s))
            if not r or "error" in r or r.get(key) is None:
                return None
            return float(r[key])
        return f

    with open(os.path.join(outdir, "servers-throughput.svg"), "w") as f:
        f.write(panels("Requests per second (higher is better)", scenarios, servers, get("rps"), "requests/s", note))
    with open(os.path.join(outdir, "servers-latency.svg"), "w") as f:
        f.write(panels("p99 latency (lower is better)", scenarios, servers, get("p99"), "ms", note))

    def peak_parent(sc, s):
        # The process that faces the clients: Quill's front end, Apache's
        # and uWSGI's largest non-Python process is not comparable, so show
        # the largest process of each server (its Python worker), and
        # Quill's front end separately in the table.
        r = by.get((sc, s))
        if not r or "error" in r:
            return None
        return max(kb for _, kb in r["rss"].values()) / 1024

    with open(os.path.join(outdir, "servers-rss.svg"), "w") as f:
        f.write(panels("Largest peak RSS of any one process (lower is better)", scenarios, servers,
                       peak_parent, "MB (VmHWM)", note))

    def front_end(sc, s):
        r = by.get((sc, s))
        if not r or "error" in r:
            return None
        fe = [kb for comm, kb in r["rss"].values() if comm.startswith("quill")]
        return max(fe) / 1024 if fe else None

    quills = [s for s in servers if s.startswith("quill")]
    if quills:
        with open(os.path.join(outdir, "servers-quill-front-end-rss.svg"), "w") as f:
            f.write(panels("Quill front-end peak RSS (target: under 10 MB)", scenarios, quills, front_end,
                           "MB (VmHWM)", note))


if __name__ == "__main__":
    main()
