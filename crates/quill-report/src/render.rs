//! The report as text (terminals), and as one self-contained HTML page
//! with the charts of `quill simulate` (the same chart code): the observed
//! window when it was sampled, and the replay under the current and the
//! proposed configuration.

use std::fmt::Write as _;

use quill_config::model::MpmSettings;
use quill_sim::chart::{ChartInfo, decimal1, duration_s, escape, render_svg, thousands};
use quill_sim::report::CSS;

use crate::Report;
use crate::observe::{Evidence, GroupUse, Observation, Stat};
use crate::whatif::Outcome;

fn pct(share: f64) -> String {
    format!("{} %", decimal1(share * 100.0))
}

fn n1(v: f64) -> String {
    let s = decimal1(v);
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

fn range(s: &Stat) -> String {
    if s.min == s.max {
        n1(s.max)
    } else {
        format!("{}–{} (mean {})", n1(s.min), n1(s.max), n1(s.mean))
    }
}

fn front_only(n: Option<u64>) -> String {
    n.map_or(String::new(), |n| {
        format!(
            ", {} of them answered by the front end itself",
            thousands(n)
        )
    })
}

/// The thread's questions, answered from the observation.
pub fn answers(o: &Observation) -> Vec<String> {
    let f = &o.front;
    let c = &f.configured;
    let unit = if c.mpm == "prefork" {
        "processes"
    } else {
        "threads"
    };
    let mut out = Vec::new();
    let used = if c.max_workers > 0 {
        f.busy.max / f64::from(c.max_workers)
    } else {
        0.0
    };
    out.push(match (o.evidence, &f.processes) {
        (Evidence::Samples, Some(p)) => format!(
            "Front end ({} MPM): {} child processes alive of the {} it may have; {} of its {} \
             worker {unit} busy — at most {} of capacity. {} requests in {} ({} a second){}.",
            c.mpm,
            range(p),
            c.max_processes,
            range(&f.busy),
            c.max_workers,
            pct(used),
            thousands(f.requests),
            duration_s(o.window_s.round() as u64),
            n1(f.requests_per_s),
            front_only(f.front_only_requests),
        ),
        (Evidence::Samples, None) => format!(
            "Front end ({} MPM): no status page was sampled, so its processes and workers are \
             not known ({} of each allowed). {} requests in {} ({} a second){}.",
            c.mpm,
            c.max_processes,
            thousands(f.requests),
            duration_s(o.window_s.round() as u64),
            n1(f.requests_per_s),
            front_only(f.front_only_requests),
        ),
        (Evidence::AccessLog, _) => format!(
            "Front end ({} MPM): at most {} requests in progress at once (per-second mean {}) \
             of the {} worker {unit} MaxRequestWorkers allows — at most {} of capacity; each \
             holds a worker while it lasts. {} requests in {} ({} a second){}. An access log \
             does not say how many processes were alive: the replay below shows what the pool \
             does with this traffic.",
            c.mpm,
            n1(f.busy.max),
            n1(f.busy.mean),
            c.max_workers,
            pct(used),
            thousands(f.requests),
            duration_s(o.window_s.round() as u64),
            n1(f.requests_per_s),
            front_only(f.front_only_requests),
        ),
    });
    if o.groups.is_empty() {
        out.push(
            "Daemon groups: none seen (no metrics page was sampled, or no request went to a \
             WSGI daemon group)."
                .to_string(),
        );
    }
    for g in &o.groups {
        out.push(group_answer(g, o.evidence));
    }
    out.push(time_answer(o));
    out
}

fn group_answer(g: &GroupUse, evidence: Evidence) -> String {
    let total = g.processes.saturating_mul(g.threads);
    let size = if total > 0 {
        format!("{} × {} = {total} threads", g.processes, g.threads)
    } else {
        "not in this configuration".to_string()
    };
    let busy = match evidence {
        Evidence::Samples => format!("{} threads busy when sampled", range(&g.busy)),
        Evidence::AccessLog => format!(
            "at most {} of its requests in progress at once (per-second mean {})",
            n1(g.busy.max),
            n1(g.busy.mean)
        ),
    };
    let n = thousands(g.requests);
    let waited = if g.waiting.requests == 0 {
        match evidence {
            Evidence::Samples => format!(
                "Of its {n} requests none waited for a thread (none queued over 5 ms; mean \
                 queue time {} ms).",
                g.waiting.mean_ms.map_or("?".into(), n1)
            ),
            Evidence::AccessLog => format!(
                "Of its {n} requests none arrived while every thread was busy: none had to wait."
            ),
        }
    } else if g.waiting.inferred {
        format!(
            "Of its {n} requests {} ({}) arrived while all {total} threads were busy, and \
             waited (inferred from the log's arrivals and durations).",
            thousands(g.waiting.requests),
            pct(g.waiting.share)
        )
    } else {
        format!(
            "Of its {n} requests {} ({}) waited over 5 ms for a thread; queue time mean {} ms, \
             90th percentile {} ms.",
            thousands(g.waiting.requests),
            pct(g.waiting.share),
            g.waiting.mean_ms.map_or("?".into(), n1),
            g.waiting.p90_ms.map_or("?".into(), n1),
        )
    };
    let restarts = if g.restarts.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = g.restarts.iter().map(|(r, n)| format!("{n} {r}")).collect();
        format!(" Processes restarted: {}.", list.join(", "))
    };
    format!(
        "Daemon group '{}' ({size}): utilisation {} (busy ÷ available thread time); {busy}; on \
         average {} requests in the group, running or waiting. {waited}{restarts}",
        g.name,
        pct(g.utilisation),
        n1(g.demand),
    )
}

fn time_answer(o: &Observation) -> String {
    let mut parts = Vec::new();
    for g in &o.groups {
        match (g.time.queue_ms, g.time.other_ms) {
            (Some(q), Some(other)) => parts.push(format!(
                "a request to '{}' spends {} ms waiting for a thread, {} ms in the application \
                 and {} ms in the front end around it",
                g.name,
                n1(q),
                n1(g.time.app_ms),
                n1(other)
            )),
            _ => parts.push(format!(
                "a request to '{}' takes {} ms as logged (%D: waiting included)",
                g.name,
                n1(g.time.app_ms)
            )),
        }
    }
    let mut text = if parts.is_empty() {
        "Where the time goes: no daemon group figures.".to_string()
    } else {
        format!("Where the time goes: {}.", parts.join("; "))
    };
    let daemon_s: f64 = o.groups.iter().map(|g| g.time.total_s).sum();
    match o.front_time_s.filter(|s| *s > 0.0) {
        Some(front) if !o.groups.is_empty() => {
            let _ = write!(
                text,
                " Of the {} request-seconds the front end spent, the daemon groups account for \
                 {} ({}).",
                n1(front),
                n1(daemon_s),
                pct((daemon_s / front).min(1.0))
            );
        }
        Some(front) => {
            let _ = write!(
                text,
                " The front end spent {} request-seconds ({}).",
                n1(front),
                match o.evidence {
                    Evidence::Samples => "the status page's Total Duration",
                    Evidence::AccessLog => "the sum of %D",
                }
            );
        }
        None => {}
    }
    if !o.paths.is_empty() {
        let top: Vec<String> = o
            .paths
            .iter()
            .take(4)
            .map(|p| {
                format!(
                    "{} ({}, {} requests, mean {} ms): {}",
                    p.prefix,
                    p.served_by,
                    thousands(p.requests),
                    n1(p.mean_ms),
                    pct(p.share)
                )
            })
            .collect();
        let _ = write!(text, " By URL: {}.", top.join("; "));
    }
    text
}

/// Rows of the side-by-side table: label, current, proposed.
fn comparison_rows(r: &Report) -> Vec<(String, String, String)> {
    let (a, b) = (&r.whatif.current, &r.whatif.proposed);
    let unit = if a.max_workers == a.start_servers {
        "servers"
    } else {
        "threads"
    };
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut add = |label: &str, f: &dyn Fn(&Outcome) -> String| {
        rows.push((label.to_string(), f(a), f(b)));
    };
    add("StartServers · spare band · MaxRequestWorkers", &|o| {
        format!(
            "{} · {}–{} · {}",
            o.start_servers, o.min_spare, o.max_spare, o.max_workers
        )
    });
    add("front-end processes: peak / mean / final", &|o| {
        format!(
            "{} / {} / {}",
            o.processes_peak,
            n1(o.processes_mean),
            o.processes_final
        )
    });
    add("children spawned / killed", &|o| {
        format!("{} / {}", thousands(o.spawned), thousands(o.killed))
    });
    add(&format!("idle {unit}, mean"), &|o| n1(o.idle_mean));
    add("longest accept queue · wait for a worker", &|o| {
        format!(
            "{} · {} ms",
            thousands(u64::from(o.front_queue_peak)),
            thousands(o.longest_wait_ms)
        )
    });
    add("daemon processes × threads", &|o| {
        o.daemon.as_ref().map_or("—".into(), |d| {
            format!("{} × {} ('{}')", d.processes, d.threads, d.group)
        })
    });
    add("daemon threads busy: peak · utilisation", &|o| {
        o.daemon.as_ref().map_or("—".into(), |d| {
            format!("{} · {}", d.busy_peak, pct(d.utilisation))
        })
    });
    add("daemon queue: longest · seconds with a queue", &|o| {
        o.daemon.as_ref().map_or("—".into(), |d| {
            format!("{} · {}", d.queued_peak, d.seconds_queued)
        })
    });
    add("503 / 504 responses", &|o| {
        format!("{} / {}", thousands(o.status_503), thousands(o.status_504))
    });
    add("memory: front end at peak + daemons", &|o| {
        format!(
            "{} + {} = {} MB",
            n1(o.memory.front_peak_mb),
            n1(o.memory.daemon_mb),
            n1(o.memory.total_mb)
        )
    });
    rows
}

/// `text` in lines of at most `width` characters, the first indented by
/// `indent`, the others by `indent` and `hang` more spaces.
fn wrap(text: &str, width: usize, indent: &str, hang: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    let rest = format!("{indent}{}", " ".repeat(hang));
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out += if out.is_empty() { indent } else { &rest };
            out += &line;
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line += word;
    }
    if !line.is_empty() {
        out += if out.is_empty() { indent } else { &rest };
        out += &line;
        out.push('\n');
    }
    out
}

fn evidence_name(o: &Observation) -> String {
    match o.evidence {
        Evidence::Samples => format!(
            "{} samples over {} of {}",
            o.count,
            duration_s(o.window_s.round() as u64),
            o.source
        ),
        Evidence::AccessLog => format!(
            "{} requests over {} in the access log {}",
            thousands(o.count),
            duration_s(o.window_s.round() as u64),
            o.source
        ),
    }
}

/// The report for a terminal.
pub fn text(r: &Report) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "quill report: {}", evidence_name(&r.observation));
    t.push('\n');
    for a in &r.answers {
        t += &wrap(a, 96, "  ", 0);
        t.push('\n');
    }
    let p = &r.proposal;
    let _ = writeln!(
        t,
        "Proposal (daemon threads for {} utilisation):",
        pct(p.target_utilisation)
    );
    if p.steps.is_empty() {
        t += "  nothing to change\n";
    }
    for s in &p.steps {
        t += &wrap(&format!("- {s}"), 96, "  ", 2);
    }
    for h in &p.hunks {
        let _ = writeln!(t, "  {}:{}", h.file, h.line);
        for l in &h.removed {
            let _ = writeln!(t, "    - {l}");
        }
        for l in &h.added {
            let _ = writeln!(t, "    + {l}");
        }
    }
    let c = &p.check;
    let _ = writeln!(
        t,
        "  quill check on the proposal: {} ({} errors, {} warnings, {} notes)",
        if c.clean { "clean" } else { "NOT clean" },
        c.errors,
        c.warnings,
        c.notes
    );
    for rem in &c.remaining {
        t += &wrap(&format!("! {rem}"), 96, "    ", 2);
    }
    t.push('\n');
    t += &wrap(
        &format!(
            "What-if: {}: {}; {} simulated from the server's start.",
            r.whatif.load,
            r.replay,
            duration_s(r.whatif.seconds)
        ),
        96,
        "",
        2,
    );
    let rows = comparison_rows(r);
    let w0 = rows.iter().map(|x| x.0.chars().count()).max().unwrap_or(0);
    let w1 = rows
        .iter()
        .map(|x| x.1.chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    let _ = writeln!(t, "  {:w0$}  {:w1$}  proposed", "", "current");
    for (label, a, b) in rows {
        let _ = writeln!(t, "  {label:w0$}  {a:w1$}  {b}");
    }
    t
}

fn chart_info(settings: &MpmSettings, load: &str) -> ChartInfo {
    ChartInfo::new(settings, load, None)
}

/// The report as one HTML page (no scripts, no external assets).
pub fn html(r: &Report, current: &MpmSettings) -> String {
    let o = &r.observation;
    let mut h = String::with_capacity(256 * 1024);
    h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    let _ = writeln!(
        h,
        "<title>Quill report: {}</title>\n<style>\n{CSS}.cmp td.n{{text-align:left}}\n</style>\n</head>\n<body>",
        escape(&o.source)
    );
    let _ = writeln!(h, "<h1>Capacity report: {}</h1>", escape(&evidence_name(o)));
    h += "<h2 id=\"answers\">What the server used</h2>\n";
    for a in &r.answers {
        let _ = writeln!(h, "<p>{}</p>", escape(a));
    }
    if !o.rows.is_empty() {
        let mut info = chart_info(current, &format!("sampled from {}", o.source));
        info.observed = true;
        h += "<figure>\n";
        h += &render_svg(&o.rows, &info);
        h += "<figcaption>The sampled window: processes, busy and idle workers and daemon \
              threads as each sample found them, requests spread over each interval. Spawns, \
              kills, queues and error responses are not sampled (they stay at 0 here); the \
              replays below have them.</figcaption>\n</figure>\n";
    }
    let p = &r.proposal;
    h += "<h2 id=\"proposal\">Proposal</h2>\n";
    let _ = writeln!(
        h,
        "<p>Daemon threads sized for {} utilisation, then <code>quill check</code>'s own edits \
         until it has none left.</p>\n<ol>",
        escape(&pct(p.target_utilisation))
    );
    for s in &p.steps {
        let _ = writeln!(h, "<li>{}</li>", escape(s));
    }
    h += "</ol>\n";
    if p.hunks.is_empty() {
        h += "<p class=\"muted\">Nothing to change.</p>\n";
    } else {
        h += "<pre>";
        for hk in &p.hunks {
            let _ = writeln!(h, "{}:{}", escape(&hk.file), hk.line);
            for l in &hk.removed {
                let _ = writeln!(h, "- {}", escape(l));
            }
            for l in &hk.added {
                let _ = writeln!(h, "+ {}", escape(l));
            }
        }
        h += "</pre>\n";
    }
    let c = &p.check;
    let _ = writeln!(
        h,
        "<p><strong>quill check</strong> on the proposal: {} ({} errors, {} warnings, {} notes).</p>",
        if c.clean { "clean" } else { "not clean" },
        c.errors,
        c.warnings,
        c.notes
    );
    if !c.remaining.is_empty() {
        h += "<ul>\n";
        for rem in &c.remaining {
            let _ = writeln!(h, "<li>{}</li>", escape(rem));
        }
        h += "</ul>\n";
    }
    h += "<h2 id=\"whatif\">What-if: the observed traffic replayed</h2>\n";
    let _ = writeln!(
        h,
        "<p>{}: {}. Simulated with the pool controller the server runs, from the server's \
         start, {}.</p>",
        escape(&r.whatif.load),
        escape(&r.replay),
        escape(&duration_s(r.whatif.seconds))
    );
    h += "<table class=\"cmp\">\n<thead><tr><th></th><th>current</th><th>proposed</th></tr></thead>\n<tbody>\n";
    for (label, a, b) in comparison_rows(r) {
        let _ = writeln!(
            h,
            "<tr><th>{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&label),
            escape(&a),
            escape(&b)
        );
    }
    h += "</tbody>\n</table>\n";
    for (name, outcome, settings) in [
        ("current", &r.whatif.current, current),
        ("proposed", &r.whatif.proposed, &p.resolved.config.mpm),
    ] {
        let _ = writeln!(
            h,
            "<h2 id=\"replay-{name}\">The replay, {name} configuration</h2>\n<figure>"
        );
        h += &render_svg(&outcome.rows, &chart_info(settings, &r.whatif.load));
        h += "</figure>\n";
    }
    h += "</body>\n</html>\n";
    h
}
