//! `report.html`: one self-contained page explaining a simulated run.
//!
//! ```text
//!  title (the configuration's key numbers) · load · seed
//!  chart.svg, inline
//!  summary ─ peaks, churn, queue, errors          (also `quill simulate`'s output)
//!  what Apache logged ─ identical lines grouped, count, first and last time
//!  configuration problems ─ the diagnostics that explain those lines
//!  effective configuration ─ MpmSettings, plus caller-supplied key/values
//! ```
//!
//! No external assets and no JavaScript: the page can be mailed, attached
//! to a ticket or opened offline. All text is escaped; output is a pure
//! function of the input (byte-identical for the same input).

mod summary;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;

use quill_config::diag::{Diagnostic, Severity};
use quill_config::model::MpmSettings;

use crate::chart::text::{clock_ms, duration_s, escape, thousands};
use crate::chart::{ChartInfo, render_svg};
use crate::timeline::SecondRow;

pub use summary::{Summary, summary};

/// One line Apache would have written to its error log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Simulated time, milliseconds since start.
    pub t_ms: u64,
    /// httpd's level name: `error`, `warn`, `notice`, `info`, `debug` …
    pub level: String,
    /// The message, verbatim (including its `AHnnnnn:` prefix if any).
    pub text: String,
}

impl LogLine {
    pub fn new(t_ms: u64, level: impl Into<String>, text: impl Into<String>) -> LogLine {
        LogLine {
            t_ms,
            level: level.into(),
            text: text.into(),
        }
    }
}

/// A configuration problem that explains what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Already rendered text (e.g. `quill_config::diag::render_plain` with
    /// its file:line:col and caret), shown verbatim in a monospace block.
    Rendered(String),
    /// The parts of a diagnostic, laid out by the report.
    Item {
        severity: Severity,
        /// Stable identifier, e.g. `mpm/mrw-not-multiple`.
        code: String,
        /// One line: what is wrong.
        message: String,
        /// Apache's own words for it, verbatim.
        apache: Option<String>,
        /// The edit that fixes it.
        help: Option<String>,
    },
}

impl From<&Diagnostic> for Problem {
    fn from(d: &Diagnostic) -> Problem {
        Problem::Item {
            severity: d.severity,
            code: d.code.to_string(),
            message: d.message.clone(),
            apache: d.apache.clone(),
            help: d.help.clone(),
        }
    }
}

/// Everything the report shows.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    pub rows: &'a [SecondRow],
    /// Title pieces and markers for the chart (and the page title).
    pub chart: &'a ChartInfo,
    pub settings: &'a MpmSettings,
    /// More key/value lines for the configuration table (e.g. KeepAlive,
    /// Timeout, the load file), in display order.
    pub extra_config: &'a [(String, String)],
    /// Apache's log lines, in any order.
    pub log: &'a [LogLine],
    pub problems: &'a [Problem],
}

/// The page's style sheet (also used by `quill report`'s page).
pub const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;background:#fff;\
margin:0 auto;padding:16px 24px 48px;max-width:1240px;line-height:1.45}
h1{font-size:1.35em;margin:.4em 0 .1em}
h2{font-size:1.1em;margin:1.6em 0 .5em;padding-bottom:.2em;border-bottom:1px solid #ddd}
figure{margin:0}
figcaption{color:#444;font-size:.92em;margin:.5em 0 0;max-width:70em}
figure svg{max-width:100%;height:auto;border:1px solid #e4e4e4}
table{border-collapse:collapse;font-size:.95em}
th,td{text-align:left;padding:3px 12px 3px 0;vertical-align:top}
th{font-weight:600;color:#444}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr{border-top:1px solid #eee}
.muted{color:#666}
.lvl{font-size:.8em;font-weight:600;padding:1px 6px;border-radius:3px;background:#eee;white-space:nowrap}
.lvl-emerg,.lvl-alert,.lvl-crit,.lvl-error{background:#D55E00;color:#fff}
.lvl-warn,.lvl-warning{background:#E69F00;color:#000}
.lvl-notice,.lvl-note{background:#56B4E9;color:#000}
.problem{border-left:4px solid #ccc;padding:4px 12px;margin:10px 0}
.problem.error{border-color:#D55E00}.problem.warning{border-color:#E69F00}.problem.note{border-color:#56B4E9}
.problem p{margin:.2em 0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f6f6f6;padding:8px 12px;overflow-x:auto;white-space:pre}
";

/// Render the whole page.
pub fn render_html(input: &ReportInput<'_>) -> String {
    let sum = summary(input.rows);
    let title = input.chart.title();
    let mut h = String::with_capacity(64 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(h, "<title>Quill simulation: {}</title>", escape(&title));
    let _ = writeln!(h, "<style>\n{CSS}</style>\n</head>\n<body>");
    let _ = writeln!(
        h,
        "<h1>Apache {} MPM: {} simulated</h1>",
        escape(input.chart.mpm.name()),
        escape(&duration_s(sum.seconds))
    );
    h.push_str("<figure>\n");
    h.push_str(&render_svg(input.rows, input.chart));
    let _ = writeln!(
        h,
        "<figcaption>{}</figcaption>\n</figure>",
        escape(&how_to_read(input.chart))
    );
    summary_section(&mut h, &sum);
    log_section(&mut h, input.log);
    problems_section(&mut h, input.problems);
    config_section(&mut h, input.settings, input.extra_config);
    h.push_str("</body>\n</html>\n");
    h
}

/// The rule the chart illustrates, in the configuration's own numbers.
fn how_to_read(c: &ChartInfo) -> String {
    let (unit, min_name, max_name) = if c.mpm.is_threaded() {
        ("threads", "MinSpareThreads", "MaxSpareThreads")
    } else {
        ("servers", "MinSpareServers", "MaxSpareServers")
    };
    format!(
        "How to read it: once a second Apache's parent counts idle {unit}. Fewer than \
         {min_name} ({}) and it forks children: 1, then 2, 4, … up to 32 per second while \
         the shortage lasts, never more than {} children. More than {max_name} ({}) and it \
         stops one child per second. In between it does nothing, so the number of children \
         depends on history. When every child is busy and no more may be forked, new \
         connections wait in the accept queue.",
        c.min_spare, c.max_children, c.max_spare
    )
}

fn row(h: &mut String, key: &str, value: &str, note: &str) {
    let _ = writeln!(
        h,
        "<tr><th>{}</th><td class=\"n\">{}</td><td class=\"muted\">{}</td></tr>",
        escape(key),
        escape(value),
        escape(note)
    );
}

fn at(t_s: u64) -> String {
    format!("at {}", crate::chart::text::clock_s(t_s))
}

fn summary_section(h: &mut String, s: &Summary) {
    h.push_str("<h2 id=\"summary\">Summary</h2>\n<table>\n<tbody>\n");
    row(h, "Simulated", &duration_s(s.seconds), "");
    row(
        h,
        "Peak child processes",
        &s.peak_processes.to_string(),
        &at(s.peak_processes_at_s),
    );
    row(
        h,
        "Final child processes",
        &s.final_processes.to_string(),
        "alive at the end",
    );
    row(h, "Spawned", &thousands(s.spawned), "children forked");
    row(
        h,
        "Killed",
        &thousands(s.killed),
        "children told to stop by maintenance",
    );
    row(
        h,
        "Exited",
        &thousands(s.exited),
        "children that exited, any reason",
    );
    row(
        h,
        "Churn",
        &thousands(s.churn),
        "spawned + killed: each is a fork or a lost warm process",
    );
    if let Some(per_hour) = s.churn_per_hour {
        row(
            h,
            "Churn per hour",
            &crate::chart::text::decimal1(per_hour),
            "",
        );
    }
    row(
        h,
        "Peak busy workers",
        &thousands(u64::from(s.peak_busy)),
        &at(s.peak_busy_at_s),
    );
    row(
        h,
        "Peak requests in flight",
        &thousands(u64::from(s.peak_in_flight)),
        &at(s.peak_in_flight_at_s),
    );
    row(
        h,
        "Requests",
        &thousands(s.arrivals),
        &format!("arrived; {} completed", thousands(s.completed)),
    );
    row(
        h,
        "Longest accept queue",
        &thousands(u64::from(s.longest_queue)),
        &if s.longest_queue > 0 {
            format!("connections, {}", at(s.longest_queue_at_s))
        } else {
            "connections".to_string()
        },
    );
    row(
        h,
        "Longest wait for a worker",
        &format!("{} ms", thousands(s.longest_wait_ms)),
        &if s.longest_wait_ms > 0 {
            at(s.longest_wait_at_s)
        } else {
            String::new()
        },
    );
    row(
        h,
        "Dropped SYNs",
        &thousands(s.refused),
        "accept queue full; clients retransmit after 1, 2, 4 … 32 s",
    );
    row(
        h,
        "Connect timeouts",
        &thousands(s.connect_timeouts),
        "clients that gave up ~127 s after their first SYN",
    );
    row(h, "503 responses", &thousands(s.status_503), "");
    row(h, "504 responses", &thousands(s.status_504), "");
    h.push_str("</tbody>\n</table>\n");
}

/// Identical log lines (same level and text) grouped.
#[derive(Debug)]
struct LogGroup<'a> {
    level: &'a str,
    text: &'a str,
    count: u64,
    first_ms: u64,
    last_ms: u64,
}

fn group_log(log: &[LogLine]) -> Vec<LogGroup<'_>> {
    let mut sorted: Vec<&LogLine> = log.iter().collect();
    sorted.sort_by(|a, b| (a.t_ms, &a.level, &a.text).cmp(&(b.t_ms, &b.level, &b.text)));
    let mut groups: Vec<LogGroup<'_>> = Vec::new();
    let mut index: std::collections::BTreeMap<(&str, &str), usize> = Default::default();
    for l in sorted {
        match index.get(&(l.level.as_str(), l.text.as_str())) {
            Some(&i) => {
                let g = &mut groups[i];
                g.count += 1;
                g.last_ms = l.t_ms;
            }
            None => {
                index.insert((&l.level, &l.text), groups.len());
                groups.push(LogGroup {
                    level: &l.level,
                    text: &l.text,
                    count: 1,
                    first_ms: l.t_ms,
                    last_ms: l.t_ms,
                });
            }
        }
    }
    groups
}

fn level_class(level: &str) -> String {
    let clean: String = level
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("lvl lvl-{clean}")
}

fn log_section(h: &mut String, log: &[LogLine]) {
    h.push_str("<h2 id=\"log\">What Apache logged</h2>\n");
    if log.is_empty() {
        h.push_str(
            "<p class=\"muted\">Nothing: Apache would not have logged anything about its \
             processes during this run.</p>\n",
        );
        return;
    }
    let groups = group_log(log);
    let _ = writeln!(
        h,
        "<p class=\"muted\">{} lines, {} distinct; identical lines are grouped.</p>",
        thousands(log.len() as u64),
        thousands(groups.len() as u64)
    );
    h.push_str(
        "<table>\n<thead><tr><th>level</th><th>message</th><th>count</th><th>first</th>\
         <th>last</th></tr></thead>\n<tbody>\n",
    );
    for g in &groups {
        let last = if g.count > 1 {
            clock_ms(g.last_ms)
        } else {
            String::new()
        };
        let _ = writeln!(
            h,
            "<tr><td><span class=\"{}\">{}</span></td><td><code>{}</code></td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            level_class(g.level),
            escape(g.level),
            escape(g.text),
            thousands(g.count),
            clock_ms(g.first_ms),
            last
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

fn problems_section(h: &mut String, problems: &[Problem]) {
    h.push_str("<h2 id=\"problems\">Configuration problems</h2>\n");
    if problems.is_empty() {
        h.push_str("<p class=\"muted\">None found.</p>\n");
        return;
    }
    for p in problems {
        match p {
            Problem::Rendered(text) => {
                let _ = writeln!(h, "<pre>{}</pre>", escape(text.trim_end()));
            }
            Problem::Item {
                severity,
                code,
                message,
                apache,
                help,
            } => {
                let sev = severity.as_str();
                let _ = writeln!(
                    h,
                    "<div class=\"problem {sev}\">\n<p><span class=\"{}\">{sev}</span> \
                     <code>{}</code> {}</p>",
                    level_class(sev),
                    escape(code),
                    escape(message)
                );
                if let Some(a) = apache {
                    let _ = writeln!(
                        h,
                        "<p class=\"muted\">Apache says: <code>{}</code></p>",
                        escape(a)
                    );
                }
                if let Some(help) = help {
                    let _ = writeln!(h, "<p><strong>Fix:</strong> {}</p>", escape(help));
                }
                h.push_str("</div>\n");
            }
        }
    }
}

fn config_section(h: &mut String, m: &MpmSettings, extra: &[(String, String)]) {
    h.push_str("<h2 id=\"config\">Effective configuration</h2>\n");
    h.push_str(
        "<p class=\"muted\">After Apache's defaults and its silent adjustments at start-up.</p>\n",
    );
    h.push_str("<table>\n<tbody>\n");
    let selected = match m.selected_by {
        quill_config::model::MpmSource::LoadModule => "LoadModule",
        quill_config::model::MpmSource::CommandLine => "command line",
        quill_config::model::MpmSource::Assumed => "assumed: no MPM was loaded",
    };
    row(h, "MPM", m.mpm.name(), &format!("selected by {selected}"));
    row(
        h,
        "StartServers",
        &m.start_servers.to_string(),
        &format!("{} children forked at start", m.children_at_start),
    );
    let (min_name, max_name) = if m.mpm.is_threaded() {
        ("MinSpareThreads", "MaxSpareThreads")
    } else {
        ("MinSpareServers", "MaxSpareServers")
    };
    row(
        h,
        min_name,
        &m.min_spare.to_string(),
        &format!("fewer idle {} → spawn", m.spare_unit),
    );
    row(
        h,
        max_name,
        &m.max_spare.to_string(),
        &format!("more idle {} → kill one child per second", m.spare_unit),
    );
    if m.mpm.is_threaded() {
        row(h, "ThreadsPerChild", &m.threads_per_child.to_string(), "");
        row(h, "ThreadLimit", &m.thread_limit.to_string(), "");
    }
    row(h, "ServerLimit", &m.server_limit.to_string(), "");
    row(
        h,
        "MaxRequestWorkers",
        &m.max_request_workers.to_string(),
        "",
    );
    row(
        h,
        "Max children",
        &m.max_children.to_string(),
        "the most children that can serve at once",
    );
    if m.mpm.is_threaded() {
        row(
            h,
            "Max threads",
            &m.max_threads.to_string(),
            "max children × ThreadsPerChild",
        );
    }
    row(
        h,
        "MaxConnectionsPerChild",
        &m.max_connections_per_child.to_string(),
        if m.max_connections_per_child == 0 {
            "unlimited"
        } else {
            "connections, then the child exits"
        },
    );
    row(h, "ListenBacklog", &m.listen_backlog.to_string(), "");
    row(
        h,
        "ListenCoresBucketsRatio",
        &m.listen_cores_buckets_ratio.to_string(),
        &format!("{} listener bucket(s)", m.num_buckets),
    );
    if let Some(f) = m.async_request_worker_factor {
        row(
            h,
            "AsyncRequestWorkerFactor",
            &f.to_string(),
            "as used (fractions dropped)",
        );
    }
    row(
        h,
        "GracefulShutdownTimeout",
        &m.graceful_shutdown_timeout.to_string(),
        if m.graceful_shutdown_timeout == 0 {
            "seconds; 0 = wait forever"
        } else {
            "seconds"
        },
    );
    for (k, v) in extra {
        row(h, k, v, "");
    }
    h.push_str("</tbody>\n</table>\n");
}
