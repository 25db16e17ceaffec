//! What the server did, from either kind of evidence:
//!
//! ```text
//!  samples of /server-status?auto + metrics ─┐
//!   (a live Quill, or a recording of one)   ├─▶ Observation: front end used vs configured,
//!  access log with %D + the configuration  ─┘     per daemon group utilisation, waiting, time
//!                                                 + the load that replays it (quill-sim)
//! ```
//!
//! Live samples measure the daemon groups directly (busy and available
//! thread time, queue time per request). An access log only says when each
//! request arrived and how long it took: concurrency, utilisation and
//! waiting are inferred from it and the configuration, and said to be.

use std::collections::BTreeMap;

use quill_config::model::ResolvedConfig;
use quill_config::wsgi::DelegationMode;
use quill_sim::load::{
    LoadError, LogDurationUnit, LoggedRequest, ParseOptions, access_log_requests, parse_load_named,
};
use quill_sim::timeline::SecondRow;
use serde::{Deserialize, Serialize};

use crate::scrape::{GroupCounters, Histogram, MetricsPage, ScrapeError, StatusPage};

/// A request counts as having waited for a daemon thread when its queue
/// time is above this (the metrics' 5 ms bucket: handing a request over
/// takes well under a millisecond).
pub const WAITED_ABOVE_S: f64 = 0.005;

/// One sample of a live server, as fetched: the pages' text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawSample {
    /// Milliseconds since the first sample was asked for.
    pub t_ms: u64,
    /// The `?auto` status page, if the server has one.
    pub status: Option<String>,
    /// The metrics page, if the server has one.
    pub metrics: Option<String>,
}

/// Evidence that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ObserveError {
    #[error("the sample at {t_ms} ms: {error}")]
    Page { t_ms: u64, error: ScrapeError },
    #[error(
        "{0} sample(s) with a page: at least two are needed to measure rates (sample for longer than --interval)"
    )]
    TooFewSamples(usize),
    #[error("{0}")]
    Log(#[from] LoadError),
    #[error(
        "{name}: the request durations look like %T (whole seconds; the largest is {largest}): quill report needs %D (microseconds) to measure utilisation — add %D at the end of the LogFormat, e.g. LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{{Referer}}i\\\" \\\"%{{User-Agent}}i\\\" %D\" combined; if the field is %D and every request took under 1 ms, say so with --duration-unit us"
    )]
    SecondsLog { name: String, largest: u64 },
    #[error("{0}: the access log has no request")]
    EmptyLog(String),
}

/// Minimum, mean and maximum of a quantity over the window (one decimal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stat {
    pub min: f64,
    pub mean: f64,
    pub max: f64,
}

impl Stat {
    fn of(values: impl Iterator<Item = f64> + Clone) -> Stat {
        let n = values.clone().count();
        if n == 0 {
            return Stat::default();
        }
        let min = values.clone().fold(f64::INFINITY, f64::min);
        let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
        let mean = values.sum::<f64>() / n as f64;
        Stat {
            min: round1(min),
            mean: round1(mean),
            max: round1(max),
        }
    }
}

pub(crate) fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub(crate) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Which evidence the observation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// Samples of the status and metrics pages.
    Samples,
    /// An access log with %D.
    AccessLog,
}

/// The front end as configured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrontConfigured {
    pub mpm: &'static str,
    pub start_servers: u32,
    pub min_spare: u32,
    pub max_spare: u32,
    pub threads_per_child: u32,
    /// The most children that can serve at once.
    pub max_processes: u32,
    /// MaxRequestWorkers as Apache runs it (threads, or processes for prefork).
    pub max_workers: u32,
}

impl FrontConfigured {
    pub fn of(config: &ResolvedConfig) -> FrontConfigured {
        let m = &config.mpm;
        FrontConfigured {
            mpm: m.mpm.name(),
            start_servers: m.start_servers,
            min_spare: m.min_spare,
            max_spare: m.max_spare,
            threads_per_child: m.threads_per_child,
            max_processes: m.max_children,
            max_workers: m.max_threads.min(m.max_request_workers).max(1),
        }
    }
}

/// How much of the front end was really used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrontUse {
    pub configured: FrontConfigured,
    /// Child processes alive (samples only: an access log does not say).
    pub processes: Option<Stat>,
    /// Worker slots busy (samples), or requests in progress at once (an
    /// access log: the per-second averages' minimum and mean, and the
    /// largest number at any instant).
    pub busy: Stat,
    /// Idle worker slots (samples only).
    pub idle: Option<Stat>,
    /// Requests answered in the window.
    pub requests: u64,
    pub requests_per_s: f64,
    /// Of those, answered by the front end itself (static files, status
    /// pages), not by a daemon group; `None` when samples have no metrics
    /// page to count the daemon groups' requests.
    pub front_only_requests: Option<u64>,
}

/// Waiting for a daemon thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waiting {
    /// Requests that waited (samples: queue time above
    /// [`WAITED_ABOVE_S`]; an access log: arrived while every thread of
    /// the group was busy).
    pub requests: u64,
    /// Their share of the group's requests (0–1).
    pub share: f64,
    /// Mean and 90th-percentile queue time in ms (samples only).
    pub mean_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    /// Inferred from arrivals and durations rather than measured.
    pub inferred: bool,
}

/// Where a group's requests spent their time (mean ms per request).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeSplit {
    /// Waiting for a daemon thread (samples only).
    pub queue_ms: Option<f64>,
    /// A daemon thread running the application (samples), or the whole
    /// request as logged (%D: an access log cannot tell waiting apart).
    pub app_ms: f64,
    /// The rest of the front end's time: passing the request and the
    /// response (samples only).
    pub other_ms: Option<f64>,
    /// Total thread-seconds spent in the window.
    pub total_s: f64,
}

/// One daemon group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupUse {
    pub name: String,
    /// `processes` and `threads` as configured (0 when the group is not in
    /// the configuration given).
    pub processes: u32,
    pub threads: u32,
    /// Threads of the live processes when last sampled (samples only).
    pub live_threads: Option<u32>,
    pub requests: u64,
    pub requests_per_s: f64,
    /// Busy thread time ÷ available thread time over the window (0–1).
    pub utilisation: f64,
    /// Threads running a request: sampled (samples), or concurrent requests
    /// of the group (an access log).
    pub busy: Stat,
    /// Requests in the group on average, running or waiting (Little's law:
    /// arrival rate × time from arrival to the end of the application).
    pub demand: f64,
    pub waiting: Waiting,
    pub time: TimeSplit,
    /// Responses by status class `1xx` … `5xx`.
    pub status_classes: [u64; 5],
    /// Processes restarted in the window, by reason (samples only).
    pub restarts: Vec<(String, u64)>,
}

/// Where the window's request time went, by URL prefix (an access log).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathTime {
    /// The first segment of the path (`/static`, `/api`), or `/`.
    pub prefix: String,
    /// Who answered: a daemon group's name, or `front end`.
    pub served_by: String,
    pub requests: u64,
    pub total_s: f64,
    /// Share of all request time (0–1).
    pub share: f64,
    pub mean_ms: f64,
}

/// What the server did in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub evidence: Evidence,
    /// Where from (a URL, a file), for titles.
    pub source: String,
    pub window_s: f64,
    /// Samples taken (samples), or log lines read.
    pub count: u64,
    pub front: FrontUse,
    pub groups: Vec<GroupUse>,
    /// Request time per URL prefix, largest first (an access log only).
    pub paths: Vec<PathTime>,
    /// Time the front end spent on all requests (samples: `Total Duration`
    /// of the status page; an access log: the sum of %D), seconds.
    pub front_time_s: Option<f64>,
    /// One row per second of the window for the chart (samples only;
    /// spawns, kills, queues and error responses are not sampled and stay 0).
    #[serde(skip)]
    pub rows: Vec<SecondRow>,
}

/// An observation and the load that replays it.
#[derive(Debug, Clone)]
pub struct Observed {
    pub observation: Observation,
    /// For the simulator (docs/loads.md), with a line saying what it is.
    pub replay_csv: String,
    pub replay_note: String,
}

impl Observed {
    /// The replay load, parsed.
    pub fn replay_load(&self) -> Result<quill_sim::load::Load, LoadError> {
        parse_load_named("replay", &self.replay_csv)
    }
}

/// Daemon groups of the configuration: name → (processes, threads).
fn configured_groups(config: &ResolvedConfig) -> BTreeMap<String, (u32, u32)> {
    config
        .wsgi
        .daemons
        .iter()
        .map(|d| (d.name.clone(), (d.processes, d.threads)))
        .collect()
}

struct Parsed {
    t_ms: u64,
    status: Option<StatusPage>,
    metrics: Option<MetricsPage>,
}

/// The observation of a live server from its samples (in time order).
pub fn from_samples(
    config: &ResolvedConfig,
    source: &str,
    samples: &[RawSample],
) -> Result<Observed, ObserveError> {
    let mut parsed = Vec::new();
    for s in samples {
        let page = |e| ObserveError::Page {
            t_ms: s.t_ms,
            error: e,
        };
        let status = s
            .status
            .as_deref()
            .map(StatusPage::parse)
            .transpose()
            .map_err(page)?;
        let metrics = s
            .metrics
            .as_deref()
            .map(MetricsPage::parse)
            .transpose()
            .map_err(page)?;
        if status.is_some() || metrics.is_some() {
            parsed.push(Parsed {
                t_ms: s.t_ms,
                status,
                metrics,
            });
        }
    }
    let (Some(first), Some(last)) = (parsed.first(), parsed.last()) else {
        return Err(ObserveError::TooFewSamples(0));
    };
    if parsed.len() < 2 || last.t_ms <= first.t_ms {
        return Err(ObserveError::TooFewSamples(parsed.len()));
    }
    let window_s = (last.t_ms - first.t_ms) as f64 / 1000.0;
    let thread_limit = config.mpm.thread_limit.max(1);
    let statuses = || parsed.iter().filter_map(|p| p.status.as_ref());
    let delta_u64 = |f: &dyn Fn(&Parsed) -> Option<f64>| -> Option<f64> {
        let a = parsed.iter().find_map(f)?;
        let b = parsed.iter().rev().find_map(f)?;
        Some((b - a).max(0.0))
    };

    // Daemon groups, from the first and last samples with a metrics page.
    let configured = configured_groups(config);
    let metric_pages: Vec<(u64, &MetricsPage)> = parsed
        .iter()
        .filter_map(|p| Some((p.t_ms, p.metrics.as_ref()?)))
        .collect();
    let mut groups = Vec::new();
    if let (Some((t0, m0)), Some((t1, m1))) = (metric_pages.first(), metric_pages.last()) {
        let span_s = (t1.saturating_sub(*t0)) as f64 / 1000.0;
        for name in m1.groups() {
            let (a, b) = (m0.group(&name), m1.group(&name));
            let busy = Stat::of(
                metric_pages
                    .iter()
                    .map(|(_, m)| m.group(&name).busy_threads),
            );
            groups.push(group_from_counters(
                &name,
                configured.get(&name).copied(),
                &a,
                &b,
                span_s,
                busy,
            ));
        }
    }
    let daemon_requests: u64 = groups.iter().map(|g| g.requests).sum();

    let requests = delta_u64(&|p| p.status.as_ref()?.total_accesses().map(|v| v as f64))
        .or_else(|| delta_u64(&|p| p.metrics.as_ref()?.frontend_requests()))
        .unwrap_or(daemon_requests as f64) as u64;
    let front_time_s =
        delta_u64(&|p| p.status.as_ref()?.total_duration_ms().map(|v| v as f64)).map(|ms| ms / 1e3);
    let have_status = statuses().next().is_some();
    let front = FrontUse {
        configured: FrontConfigured::of(config),
        processes: have_status
            .then(|| Stat::of(statuses().map(|s| f64::from(s.processes(thread_limit))))),
        busy: Stat::of(statuses().map(|s| f64::from(s.busy_workers()))),
        idle: have_status.then(|| Stat::of(statuses().map(|s| f64::from(s.idle_workers())))),
        requests,
        requests_per_s: round1(requests as f64 / window_s),
        front_only_requests: (!metric_pages.is_empty())
            .then(|| requests.saturating_sub(daemon_requests)),
    };
    let rows = sample_rows(&parsed, thread_limit);
    let (replay_csv, replay_note) = samples_replay(&metric_pages, &parsed, &groups);
    Ok(Observed {
        observation: Observation {
            evidence: Evidence::Samples,
            source: source.to_string(),
            window_s: round1(window_s),
            count: parsed.len() as u64,
            front,
            groups,
            paths: Vec::new(),
            front_time_s: front_time_s.map(round1),
            rows,
        },
        replay_csv,
        replay_note,
    })
}

fn group_from_counters(
    name: &str,
    configured: Option<(u32, u32)>,
    a: &GroupCounters,
    b: &GroupCounters,
    span_s: f64,
    busy: Stat,
) -> GroupUse {
    let d = |x: f64, y: f64| (y - x).max(0.0);
    let requests = d(a.requests, b.requests);
    let busy_s = d(a.busy_s, b.busy_s);
    let available_s = d(a.available_s, b.available_s);
    let queue = b.queue.since(&a.queue);
    let app = b.app.since(&a.app);
    let server = b.server.since(&a.server);
    let rate = if span_s > 0.0 { requests / span_s } else { 0.0 };
    let queue_mean = queue.mean_s();
    let app_mean = if requests > 0.0 {
        app.mean_s().unwrap_or(busy_s / requests)
    } else {
        0.0
    };
    let waited = queue.above(WAITED_ABOVE_S);
    let (processes, threads) = configured.unwrap_or((0, 0));
    let ms = |s: f64| round1(s * 1000.0);
    GroupUse {
        name: name.to_string(),
        processes,
        threads,
        live_threads: Some(b.threads as u32),
        requests: requests as u64,
        requests_per_s: round1(rate),
        utilisation: if available_s > 0.0 {
            round3(busy_s / available_s)
        } else {
            0.0
        },
        busy,
        demand: round1(rate * (queue_mean.unwrap_or(0.0) + app_mean)),
        waiting: Waiting {
            requests: waited as u64,
            share: if queue.count > 0.0 {
                round3(waited / queue.count)
            } else {
                0.0
            },
            mean_ms: queue_mean.map(ms),
            p90_ms: queue.quantile(0.9).map(ms),
            inferred: false,
        },
        time: TimeSplit {
            queue_ms: queue_mean.map(ms),
            app_ms: ms(app_mean),
            other_ms: server
                .mean_s()
                .map(|s| ms((s - queue_mean.unwrap_or(0.0) - app_mean).max(0.0))),
            total_s: round1(server.sum_s.max(busy_s)),
        },
        status_classes: std::array::from_fn(|i| d(a.classes[i], b.classes[i]) as u64),
        restarts: b
            .restarts
            .iter()
            .map(|(reason, n)| {
                let before = a
                    .restarts
                    .iter()
                    .find(|(r, _)| r == reason)
                    .map_or(0.0, |(_, n)| *n);
                (reason.clone(), d(before, *n) as u64)
            })
            .filter(|(_, n)| *n > 0)
            .collect(),
    }
}

/// One row per second between the first and the last sample: the gauges
/// of the sample that ends the second's interval, the counters spread
/// evenly over the interval.
fn sample_rows(parsed: &[Parsed], thread_limit: u32) -> Vec<SecondRow> {
    let Some(first) = parsed.first() else {
        return Vec::new();
    };
    let t0 = first.t_ms;
    let mut rows = Vec::new();
    for pair in parsed.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let from_s = (a.t_ms - t0) / 1000;
        let to_s = ((b.t_ms - t0) / 1000).max(from_s + 1);
        let secs = (to_s - from_s) as f64;
        let accesses = |p: &Parsed| p.status.as_ref().and_then(StatusPage::total_accesses);
        let arrivals = match (accesses(a), accesses(b)) {
            (Some(x), Some(y)) => y.saturating_sub(x) as f64 / secs,
            _ => 0.0,
        };
        let daemon_busy = b.metrics.as_ref().map_or(0, |m| {
            m.groups()
                .iter()
                .map(|g| m.group(g).busy_threads as u32)
                .sum()
        });
        for t_s in from_s..to_s {
            if rows.last().is_some_and(|r: &SecondRow| r.t_s >= t_s) {
                continue;
            }
            // Spread the interval's requests so the seconds add up to them.
            let k = t_s - from_s;
            let per = |x: f64| ((x * (k + 1) as f64).round() - (x * k as f64).round()) as u64;
            let (busy, idle, processes) = b.status.as_ref().map_or((0, 0, 0), |s| {
                (
                    s.busy_workers(),
                    s.idle_workers(),
                    s.processes(thread_limit),
                )
            });
            rows.push(SecondRow {
                t_s,
                processes,
                busy,
                idle,
                arrivals: per(arrivals),
                completed: per(arrivals),
                in_flight: busy,
                daemon_busy,
                ..SecondRow::default()
            });
        }
    }
    rows
}

/// The samples as a Poisson load: per interval, the daemon groups' request
/// rate, requests lasting the mean thread time of the window, spread as the
/// application-time histogram says.
fn samples_replay(
    metric_pages: &[(u64, &MetricsPage)],
    parsed: &[Parsed],
    groups: &[GroupUse],
) -> (String, String) {
    let mut csv = String::from("t_s,rate_per_s,median_ms,sigma\n");
    let t0 = parsed.first().map_or(0, |p| p.t_ms);
    let (Some((_, m0)), Some((_, m1))) = (metric_pages.first(), metric_pages.last()) else {
        // No metrics: the front end's requests and durations.
        let mut last_t = 0.0;
        for pair in parsed.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let (Some(sa), Some(sb)) = (&a.status, &b.status) else {
                continue;
            };
            let dt = (b.t_ms - a.t_ms) as f64 / 1000.0;
            let n = sb
                .total_accesses()
                .unwrap_or(0)
                .saturating_sub(sa.total_accesses().unwrap_or(0)) as f64;
            let ms = sb
                .total_duration_ms()
                .unwrap_or(0)
                .saturating_sub(sa.total_duration_ms().unwrap_or(0)) as f64;
            let mean_ms = if n > 0.0 { (ms / n).max(1.0) } else { 1.0 };
            let t = (a.t_ms - t0) as f64 / 1000.0;
            csv += &format!(
                "{},{},{},0.5\n",
                num(t),
                num(n / dt),
                num(median_of(mean_ms, 0.5))
            );
            last_t = (b.t_ms - t0) as f64 / 1000.0;
        }
        csv += &format!("{},0,1,0.5\n", num(last_t));
        return (
            csv,
            "Poisson arrivals at the front end's request rate of each interval, durations from \
             the status page's Total Duration (σ 0.5 assumed: no metrics page)"
                .to_string(),
        );
    };
    // Durations: the mean thread time per request over the window (what
    // utilisation is made of), spread as the application times are.
    let mut app = Histogram::default();
    let (mut busy_s, mut requests) = (0.0, 0.0);
    for g in m1.groups() {
        let (a, b) = (m0.group(&g), m1.group(&g));
        let h = b.app.since(&a.app);
        if app.buckets.is_empty() {
            app = h;
        } else {
            app.count += h.count;
            app.sum_s += h.sum_s;
            for (x, y) in app.buckets.iter_mut().zip(&h.buckets) {
                x.1 += y.1;
            }
        }
        busy_s += (b.busy_s - a.busy_s).max(0.0);
        requests += (b.requests - a.requests).max(0.0);
    }
    let sigma = match (app.quantile(0.5), app.quantile(0.9)) {
        (Some(p50), Some(p90)) if p50 > 0.0 && p90 > p50 => {
            ((p90 / p50).ln() / 1.2816).clamp(0.1, 2.0)
        }
        _ => 0.5,
    };
    let mean_ms = if requests > 0.0 {
        (busy_s / requests * 1000.0).max(0.001)
    } else {
        1.0
    };
    let median_ms = median_of(mean_ms, sigma);
    let mut last_t = 0.0;
    for pair in metric_pages.windows(2) {
        let ((ta, a), (tb, b)) = (&pair[0], &pair[1]);
        let dt = (tb - ta) as f64 / 1000.0;
        let n: f64 = groups
            .iter()
            .map(|g| (b.group(&g.name).requests - a.group(&g.name).requests).max(0.0))
            .sum();
        let t = (ta - t0) as f64 / 1000.0;
        csv += &format!(
            "{},{},{},{}\n",
            num(t),
            num(n / dt),
            num(median_ms),
            num(sigma)
        );
        last_t = (tb - t0) as f64 / 1000.0;
    }
    csv += &format!("{},0,{},{}\n", num(last_t), num(median_ms), num(sigma));
    (
        csv,
        format!(
            "Poisson arrivals at the daemon groups' request rate of each interval, lognormal \
             durations with the window's mean thread time per request ({} ms; median {} ms, σ {} \
             from the application-time histogram); requests the front end answers itself are \
             left out",
            num(mean_ms),
            num(median_ms),
            num(sigma)
        ),
    )
}

/// The median of a lognormal with this mean and σ.
fn median_of(mean: f64, sigma: f64) -> f64 {
    mean / (sigma * sigma / 2.0).exp()
}

/// A number for a load file: up to three decimals, no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{:.3}", if v.is_finite() { v.max(0.0) } else { 0.0 });
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() { "0".into() } else { s.into() }
}

/// How the configuration routes URLs: prefixes the front end answers
/// itself (Alias, status pages: mod_alias translates before mod_wsgi), and
/// WSGI mounts with their daemon group (`None`: embedded mode).
struct Routes {
    front: Vec<String>,
    wsgi: Vec<(String, Option<String>)>,
}

/// Whether `path` is under the URL prefix `url` (at a segment boundary).
fn under(url: &str, path: &str) -> bool {
    url == "/"
        || path == url
        || path
            .strip_prefix(url)
            .is_some_and(|rest| rest.starts_with('/') || url.ends_with('/'))
}

/// Who serves a path: the daemon group of the WSGI mount it falls under
/// (the longest matching prefix in any server, the main server first, then
/// the virtual hosts in order; `embedded` for embedded mode), `None` for
/// the front end.
fn served_by<'c>(routes: &'c Routes, path: &str) -> Option<&'c str> {
    if routes.front.iter().any(|url| under(url, path)) {
        return None;
    }
    // The longest prefix; among equals the first server's (an access log
    // without %v cannot tell virtual hosts apart).
    routes
        .wsgi
        .iter()
        .filter(|(url, _)| under(url, path))
        .min_by_key(|(url, _)| std::cmp::Reverse(url.len()))
        .map(|(_, g)| g.as_deref().unwrap_or("embedded"))
}

/// The routes of every server (groups chosen per request and regex mounts
/// are not followed).
fn routes(config: &ResolvedConfig) -> Routes {
    let servers =
        || std::iter::once(&config.main_server).chain(config.vhosts.iter().map(|v| &v.server));
    let front = servers()
        .flat_map(|s| {
            s.aliases
                .iter()
                .filter(|a| !a.regex)
                .map(|a| a.url.clone())
                .chain(s.status_handlers.iter().map(|h| h.url.clone()))
                .chain(s.metrics_handlers.iter().map(|h| h.url.clone()))
        })
        .collect();
    let wsgi = servers()
        .flat_map(|s| s.wsgi_mounts.iter())
        .filter(|m| !m.regex)
        .map(|m| {
            let group = match (m.process_group.mode, &m.process_group.group) {
                (DelegationMode::Daemon, Some(g)) => Some(g.clone()),
                _ => None,
            };
            (m.url.clone(), group)
        })
        .collect();
    Routes { front, wsgi }
}

/// The observation of an access log with %D, read with the configuration
/// that served it. `unit`: the duration unit when the caller knows it.
pub fn from_access_log(
    config: &ResolvedConfig,
    name: &str,
    text: &str,
    unit: Option<LogDurationUnit>,
) -> Result<Observed, ObserveError> {
    let mut options = ParseOptions::default().source_name(name);
    options.log_duration_unit = unit;
    let read = access_log_requests(text, &options)?;
    if read.unit == LogDurationUnit::Seconds {
        let largest = read
            .requests
            .iter()
            .map(|r| r.duration_us / 1_000_000)
            .max()
            .unwrap_or(0);
        return Err(ObserveError::SecondsLog {
            name: name.to_string(),
            largest,
        });
    }
    let requests = read.requests;
    if requests.is_empty() {
        return Err(ObserveError::EmptyLog(name.to_string()));
    }
    let routes = routes(config);
    let configured = configured_groups(config);
    let end_us = requests
        .iter()
        .map(|r| r.at_us + r.duration_us)
        .max()
        .unwrap_or(1);
    let span_s = end_us.div_ceil(1_000_000).max(1);
    let window_s = end_us as f64 / 1e6;

    // Who served each request.
    let who: Vec<Option<&str>> = requests
        .iter()
        .map(|r| served_by(&routes, r.path.as_deref().unwrap_or("")))
        .collect();
    let front_sweep = sweep(requests.iter(), span_s, u32::MAX);
    let total_s: f64 = requests.iter().map(|r| r.duration_us as f64 / 1e6).sum();
    let wsgi = |g: &str| -> Vec<&LoggedRequest> {
        requests
            .iter()
            .zip(&who)
            .filter(|(_, w)| **w == Some(g))
            .map(|(r, _)| r)
            .collect()
    };
    let mut names: Vec<&str> = who.iter().flatten().copied().collect();
    names.sort_unstable();
    names.dedup();
    let mut groups = Vec::new();
    for g in &names {
        let (processes, threads) = configured.get(*g).copied().unwrap_or((0, 0));
        let capacity = processes.saturating_mul(threads);
        let mine = wsgi(g);
        let s = sweep(
            mine.iter().copied(),
            span_s,
            if capacity > 0 { capacity } else { u32::MAX },
        );
        let n = mine.len() as u64;
        let time_s: f64 = mine.iter().map(|r| r.duration_us as f64 / 1e6).sum();
        let mut classes = [0u64; 5];
        for r in &mine {
            if let Some(c) = r.status.map(|s| usize::from(s / 100)) {
                if (1..=5).contains(&c) {
                    classes[c - 1] += 1;
                }
            }
        }
        let rate = n as f64 / window_s;
        let mean_s = time_s / n.max(1) as f64;
        groups.push(GroupUse {
            name: (*g).to_string(),
            processes,
            threads,
            live_threads: None,
            requests: n,
            requests_per_s: round1(rate),
            utilisation: if capacity > 0 {
                round3(time_s / (f64::from(capacity) * window_s))
            } else {
                0.0
            },
            busy: s.stat(),
            demand: round1(rate * mean_s),
            waiting: Waiting {
                requests: s.waited,
                share: round3(s.waited as f64 / n.max(1) as f64),
                mean_ms: None,
                p90_ms: None,
                inferred: true,
            },
            time: TimeSplit {
                queue_ms: None,
                app_ms: round1(mean_s * 1000.0),
                other_ms: None,
                total_s: round1(time_s),
            },
            status_classes: classes,
            restarts: Vec::new(),
        });
    }
    let daemon_requests: u64 = groups.iter().map(|g| g.requests).sum();
    let front = FrontUse {
        configured: FrontConfigured::of(config),
        processes: None,
        busy: front_sweep.stat(),
        idle: None,
        requests: requests.len() as u64,
        requests_per_s: round1(requests.len() as f64 / window_s),
        front_only_requests: Some(requests.len() as u64 - daemon_requests),
    };
    let paths = path_times(&requests, &who, total_s);

    // Replay: the WSGI requests as logged (every request when none is).
    let replayed: Vec<&LoggedRequest> = if daemon_requests > 0 {
        requests
            .iter()
            .zip(&who)
            .filter(|(_, w)| w.is_some_and(|g| g != "embedded"))
            .map(|(r, _)| r)
            .collect()
    } else {
        requests.iter().collect()
    };
    let mut csv = String::from("arrival_ms,duration_ms\n");
    for r in &replayed {
        csv += &format!(
            "{},{}\n",
            num(r.at_us as f64 / 1000.0),
            num(r.duration_us as f64 / 1000.0)
        );
    }
    let replay_note = if daemon_requests > 0 {
        let left_out = requests.len() - replayed.len();
        format!(
            "the log's {} requests to daemon groups at their arrival times, each holding a \
             thread for its %D (which includes any wait for a daemon thread){}",
            replayed.len(),
            if left_out > 0 {
                format!("; {left_out} requests not sent to a daemon group are left out")
            } else {
                String::new()
            }
        )
    } else {
        format!(
            "the log's {} requests at their arrival times, each lasting its %D",
            replayed.len()
        )
    };
    Ok(Observed {
        observation: Observation {
            evidence: Evidence::AccessLog,
            source: name.to_string(),
            window_s: round1(window_s),
            count: requests.len() as u64,
            front,
            groups,
            paths,
            front_time_s: Some(round1(total_s)),
            rows: Vec::new(),
        },
        replay_csv: csv,
        replay_note,
    })
}

/// Concurrency over time of a set of requests.
struct Sweep {
    /// Mean concurrency of each second.
    per_second: Vec<f64>,
    /// Most requests in progress at any instant.
    peak: u32,
    /// Requests that arrived while `capacity` were in progress.
    waited: u64,
}

impl Sweep {
    fn stat(&self) -> Stat {
        let n = self.per_second.len().max(1) as f64;
        Stat {
            min: round1(
                self.per_second
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min),
            ),
            mean: round1(self.per_second.iter().sum::<f64>() / n),
            max: f64::from(self.peak),
        }
    }
}

fn sweep<'r>(
    requests: impl Iterator<Item = &'r LoggedRequest>,
    span_s: u64,
    capacity: u32,
) -> Sweep {
    // (time, +1 start / −1 end); ends sort before starts at the same time.
    let mut events: Vec<(u64, i8)> = Vec::new();
    for r in requests {
        events.push((r.at_us, 1));
        events.push((r.at_us + r.duration_us, -1));
    }
    events.sort_unstable();
    let mut per_second = vec![0.0; span_s as usize];
    let (mut level, mut peak, mut waited) = (0u32, 0u32, 0u64);
    let mut last_t = 0u64;
    for (t, delta) in events {
        // Add level × (t − last_t) to the seconds it spans.
        let mut from = last_t;
        while from < t && level > 0 {
            let second = from / 1_000_000;
            let to = t.min((second + 1) * 1_000_000);
            if let Some(s) = per_second.get_mut(second as usize) {
                *s += f64::from(level) * (to - from) as f64 / 1e6;
            }
            from = to;
        }
        last_t = t;
        if delta > 0 {
            if level >= capacity {
                waited += 1;
            }
            level += 1;
            peak = peak.max(level);
        } else {
            level = level.saturating_sub(1);
        }
    }
    Sweep {
        per_second,
        peak,
        waited,
    }
}

fn path_times(requests: &[LoggedRequest], who: &[Option<&str>], total_s: f64) -> Vec<PathTime> {
    let mut by: BTreeMap<(String, String), (u64, f64)> = BTreeMap::new();
    for (r, w) in requests.iter().zip(who) {
        let path = r.path.as_deref().unwrap_or("-");
        let prefix = match path.trim_start_matches('/').split('/').next() {
            Some(first) if !first.is_empty() && path.len() > first.len() + 1 => {
                format!("/{first}/")
            }
            Some(first) if !first.is_empty() => format!("/{first}"),
            _ => path.to_string(),
        };
        let e = by
            .entry((prefix, w.unwrap_or("front end").to_string()))
            .or_default();
        e.0 += 1;
        e.1 += r.duration_us as f64 / 1e6;
    }
    let mut out: Vec<PathTime> = by
        .into_iter()
        .map(|((prefix, served_by), (n, s))| PathTime {
            prefix,
            served_by,
            requests: n,
            total_s: round1(s),
            share: if total_s > 0.0 {
                round3(s / total_s)
            } else {
                0.0
            },
            mean_ms: round1(s / n as f64 * 1000.0),
        })
        .collect();
    out.sort_by(|a, b| {
        b.total_s
            .total_cmp(&a.total_s)
            .then(a.prefix.cmp(&b.prefix))
    });
    out.truncate(8);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(at_ms: u64, dur_ms: u64) -> LoggedRequest {
        LoggedRequest {
            at_us: at_ms * 1000,
            duration_us: dur_ms * 1000,
            received_s: 0,
            path: Some("/".into()),
            status: Some(200),
            line: 1,
        }
    }

    #[test]
    fn a_sweep_integrates_concurrency_per_second_and_counts_who_waited() {
        // Two requests overlap for 500 ms in second 0; a third in second 1.
        let rs = [req(0, 1000), req(500, 1000), req(1500, 200)];
        let s = sweep(rs.iter(), 2, 1);
        assert_eq!(s.per_second, vec![1.5, 0.7]);
        assert_eq!(s.peak, 2);
        assert_eq!(
            s.waited, 1,
            "the second arrived while the one thread was busy"
        );
    }

    #[test]
    fn paths_are_served_by_an_alias_or_the_longest_mount() {
        let mut r = Routes {
            front: vec!["/static".to_string()],
            wsgi: vec![
                ("/".to_string(), Some("site".to_string())),
                ("/api".to_string(), Some("api".to_string())),
            ],
        };
        assert_eq!(served_by(&r, "/api/x"), Some("api"));
        assert_eq!(served_by(&r, "/apix"), Some("site"));
        assert_eq!(served_by(&r, "/static/a.css"), None);
        r.wsgi.push(("/".to_string(), Some("site-ssl".to_string())));
        assert_eq!(served_by(&r, "/x"), Some("site"), "the first server's");
        r.wsgi.retain(|(url, _)| url != "/");
        assert_eq!(served_by(&r, "/other"), None);
    }
}
