//! The two pages a live server is sampled from, read back: httpd's
//! `/server-status?auto` (Quill's or a real httpd's) and Quill's metrics
//! page (`SetHandler quill-metrics`, OpenMetrics text, docs/status.md).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// A page that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    #[error(
        "the status page has no {0} line: is the URL a `SetHandler server-status` Location, asked with `?auto`?"
    )]
    StatusField(&'static str),
    #[error(
        "line {line} of the metrics page is not `name{{labels}} value`: {text:?}; is the URL a `SetHandler quill-metrics` Location?"
    )]
    MetricsLine { line: usize, text: String },
}

/// A `?auto` status page: its `Key: value` lines in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusPage {
    pub fields: Vec<(String, String)>,
}

impl StatusPage {
    /// Reads a page; it must have the `BusyWorkers`, `IdleWorkers` and
    /// `Scoreboard` lines every httpd 2.4 page has.
    pub fn parse(text: &str) -> Result<StatusPage, ScrapeError> {
        let fields: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let page = StatusPage { fields };
        for key in ["BusyWorkers", "IdleWorkers", "Scoreboard"] {
            if page.get(key).is_none() {
                return Err(ScrapeError::StatusField(key));
            }
        }
        Ok(page)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric field (httpd writes `.4` for 0.4).
    pub fn number(&self, key: &str) -> Option<f64> {
        self.get(key)?.parse().ok()
    }

    pub fn busy_workers(&self) -> u32 {
        self.number("BusyWorkers").map_or(0, |v| v as u32)
    }

    pub fn idle_workers(&self) -> u32 {
        self.number("IdleWorkers").map_or(0, |v| v as u32)
    }

    /// Requests served since the server started.
    pub fn total_accesses(&self) -> Option<u64> {
        self.number("Total Accesses").map(|v| v as u64)
    }

    /// Milliseconds spent on them (httpd 2.4.x's `Total Duration`).
    pub fn total_duration_ms(&self) -> Option<u64> {
        self.number("Total Duration").map(|v| v as u64)
    }

    /// Child processes: slots of the scoreboard (ServerLimit slots of
    /// `thread_limit` characters) with a worker in any state but `.` (open
    /// slot).
    pub fn processes(&self, thread_limit: u32) -> u32 {
        let board = self.get("Scoreboard").unwrap_or("").as_bytes();
        board
            .chunks(thread_limit.max(1) as usize)
            .filter(|slot| slot.iter().any(|c| *c != b'.'))
            .count() as u32
    }
}

/// One line of a metrics page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricLine {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl MetricLine {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A metrics page, line by line (comments dropped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsPage {
    pub lines: Vec<MetricLine>,
}

/// A Prometheus histogram: cumulative counts per upper bound (seconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub sum_s: f64,
    pub count: f64,
    /// `(le, cumulative count)` in increasing `le`; the last is +Inf.
    pub buckets: Vec<(f64, f64)>,
}

impl Histogram {
    /// What was added between `earlier` and `self` (counters only grow;
    /// a restarted server makes them fall, which reads as zero).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let d = |a: f64, b: f64| (a - b).max(0.0);
        Histogram {
            sum_s: d(self.sum_s, earlier.sum_s),
            count: d(self.count, earlier.count),
            buckets: self
                .buckets
                .iter()
                .map(|&(le, n)| {
                    let before = earlier
                        .buckets
                        .iter()
                        .find(|(l, _)| *l == le)
                        .map_or(0.0, |(_, n)| *n);
                    (le, d(n, before))
                })
                .collect(),
        }
    }

    pub fn mean_s(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum_s / self.count)
    }

    /// Observations above `le_s` (a bucket bound; otherwise the next bound
    /// above it is used).
    pub fn above(&self, le_s: f64) -> f64 {
        let within = self
            .buckets
            .iter()
            .find(|(le, _)| *le >= le_s)
            .map_or(self.count, |(_, n)| *n);
        (self.count - within).max(0.0)
    }

    /// The `q` quantile, interpolated linearly inside its bucket (as
    /// Prometheus's `histogram_quantile` does); `None` without
    /// observations. A quantile in the +Inf bucket is the last finite bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count;
        let mut lower = (0.0, 0.0);
        for &(le, n) in &self.buckets {
            if n >= rank {
                if le.is_infinite() {
                    return Some(lower.0);
                }
                let width = n - lower.1;
                let frac = if width > 0.0 {
                    (rank - lower.1) / width
                } else {
                    1.0
                };
                return Some(lower.0 + (le - lower.0) * frac);
            }
            lower = (le, n);
        }
        Some(lower.0)
    }
}

/// One daemon group's figures on a metrics page (live processes and the
/// retired row added up).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupCounters {
    pub requests: f64,
    pub busy_s: f64,
    pub available_s: f64,
    /// Threads of the live processes.
    pub threads: f64,
    /// Threads running a request when the page was made.
    pub busy_threads: f64,
    pub live_processes: u32,
    /// Responses by class, `1xx` … `5xx`.
    pub classes: [f64; 5],
    pub queue: Histogram,
    pub app: Histogram,
    pub server: Histogram,
    /// `(reason, count)`.
    pub restarts: Vec<(String, f64)>,
}

impl MetricsPage {
    pub fn parse(text: &str) -> Result<MetricsPage, ScrapeError> {
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let bad = || ScrapeError::MetricsLine {
                line: i + 1,
                text: raw.chars().take(120).collect(),
            };
            lines.push(parse_line(l).ok_or_else(bad)?);
        }
        Ok(MetricsPage { lines })
    }

    fn of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a MetricLine> + 'a {
        self.lines.iter().filter(move |l| l.name == name)
    }

    /// Daemon groups on the page, by name.
    pub fn groups(&self) -> BTreeSet<String> {
        self.of("quill_daemon_requests_total")
            .chain(self.of("quill_daemon_utilization"))
            .filter_map(|l| l.label("group"))
            .map(str::to_string)
            .collect()
    }

    /// The front end's requests (`quill_frontend_requests_total`).
    pub fn frontend_requests(&self) -> Option<f64> {
        self.of("quill_frontend_requests_total")
            .map(|l| l.value)
            .next()
    }

    pub fn group(&self, group: &str) -> GroupCounters {
        let sum = |name: &str| -> f64 {
            self.of(name)
                .filter(|l| l.label("group") == Some(group))
                .map(|l| l.value)
                .sum()
        };
        let mut classes = [0.0; 5];
        for l in self
            .of("quill_daemon_responses_total")
            .filter(|l| l.label("group") == Some(group))
        {
            let class = l.label("class").and_then(|c| c.strip_suffix("xx"));
            if let Some(i) = class.and_then(|c| c.parse::<usize>().ok()) {
                if (1..=5).contains(&i) {
                    classes[i - 1] += l.value;
                }
            }
        }
        let histogram = |base: &str| -> Histogram {
            let mut buckets: Vec<(f64, f64)> = self
                .of(&format!("{base}_bucket"))
                .filter(|l| l.label("group") == Some(group))
                .filter_map(|l| Some((parse_value(l.label("le")?)?, l.value)))
                .collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            Histogram {
                sum_s: sum(&format!("{base}_sum")),
                count: sum(&format!("{base}_count")),
                buckets,
            }
        };
        let restarts = self
            .of("quill_daemon_restarts_total")
            .filter(|l| l.label("group") == Some(group))
            .filter_map(|l| Some((l.label("reason")?.to_string(), l.value)))
            .collect();
        GroupCounters {
            requests: sum("quill_daemon_requests_total"),
            busy_s: sum("quill_daemon_busy_seconds_total"),
            available_s: sum("quill_daemon_available_seconds_total"),
            threads: sum("quill_daemon_threads"),
            busy_threads: sum("quill_daemon_busy_threads"),
            live_processes: self
                .of("quill_daemon_threads")
                .filter(|l| l.label("group") == Some(group))
                .count() as u32,
            classes,
            queue: histogram("quill_daemon_queue_seconds"),
            app: histogram("quill_daemon_application_seconds"),
            server: histogram("quill_daemon_server_seconds"),
            restarts,
        }
    }
}

fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => v.parse().ok(),
    }
}

/// `name{k="v",…} value [timestamp]` or `name value`.
fn parse_line(l: &str) -> Option<MetricLine> {
    let name_end = l.find(['{', ' ']).unwrap_or(l.len());
    let name = &l[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &l[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '}' {
                end = Some(i);
                break;
            }
            if c == ',' || c == ' ' {
                continue;
            }
            // key
            let key_start = i;
            let mut key_end = i + c.len_utf8();
            while let Some(&(j, c)) = chars.peek() {
                if c == '=' {
                    break;
                }
                key_end = j + c.len_utf8();
                chars.next();
            }
            chars.next(); // '='
            if chars.next().map(|(_, c)| c) != Some('"') {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()? {
                    (_, '"') => break,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    (_, c) => value.push(c),
                }
            }
            labels.push((body[key_start..key_end].trim().to_string(), value));
        }
        let end = end?;
        rest = &body[end + 1..];
    }
    let value = parse_value(rest.split_whitespace().next()?)?;
    Some(MetricLine {
        name: name.to_string(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines_with_and_without_labels() {
        let p = MetricsPage::parse(
            "# HELP x y\nquill_frontend_requests_total 17\n\
             quill_daemon_queue_seconds_bucket{le=\"+Inf\",group=\"a \\\"b\\\"\"} 3 1700000000\n",
        )
        .unwrap();
        assert_eq!(p.frontend_requests(), Some(17.0));
        assert_eq!(p.lines[1].labels[0], ("le".into(), "+Inf".into()));
        assert_eq!(p.lines[1].labels[1], ("group".into(), "a \"b\"".into()));
        assert_eq!(p.lines[1].value, 3.0);
        assert!(MetricsPage::parse("<html>").is_err());
    }

    #[test]
    fn histogram_quantiles_interpolate_within_a_bucket() {
        let h = Histogram {
            sum_s: 1.0,
            count: 10.0,
            buckets: vec![(0.1, 0.0), (0.2, 10.0), (f64::INFINITY, 10.0)],
        };
        let q = h.quantile(0.5).unwrap();
        assert!((q - 0.15).abs() < 1e-9, "{q}");
        assert_eq!(h.above(0.1), 10.0);
        assert_eq!(h.above(0.2), 0.0);
        let d = h.since(&Histogram {
            sum_s: 0.5,
            count: 4.0,
            buckets: vec![(0.1, 0.0), (0.2, 4.0), (f64::INFINITY, 4.0)],
        });
        assert_eq!(d.count, 6.0);
        assert_eq!(d.buckets[1], (0.2, 6.0));
    }

    #[test]
    fn processes_are_scoreboard_slots_in_use() {
        let p = StatusPage::parse("BusyWorkers: 1\nIdleWorkers: 6\nScoreboard: _W__.....___\n")
            .unwrap();
        assert_eq!(p.processes(4), 2);
        assert!(StatusPage::parse("hello").is_err());
    }
}
