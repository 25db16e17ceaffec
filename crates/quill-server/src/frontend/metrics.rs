//! `SetHandler quill-metrics`: Prometheus metrics of the daemon groups
//! (from their busy boards, `quill_protocol::busy`) and of the front-end
//! pool (from the scoreboard), in the OpenMetrics text format, encoded with
//! the prometheus-client crate. docs/status.md lists the metrics.
//!
//! As for the status page, the facts are read once ([`facts`]) and the
//! rendering ([`render`]) is pure.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use quill_mpm::ThreadStatus;
use quill_protocol::busy::{BUCKETS_US, Counters, Histogram, RESTART_REASONS};

use super::FrontEnd;
use crate::scoreboard::Scoreboard;

/// One daemon group's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupFacts {
    pub name: String,
    /// What processes that are gone did.
    pub retired: Counters,
    pub live: Vec<Counters>,
}

/// Everything one scrape reports.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsFacts {
    pub now_us: u64,
    pub groups: Vec<GroupFacts>,
    /// Front-end worker slots per scoreboard state (httpd's names).
    pub workers: Vec<(&'static str, u64)>,
    /// Front-end children, and those stopping.
    pub processes: (u64, u64),
    /// Requests and bytes the front end has answered (all worker slots).
    pub accesses: u64,
    pub sent_bytes: u64,
}

/// The scoreboard state names the Prometheus Apache exporter uses.
fn state_name(s: ThreadStatus) -> &'static str {
    match s {
        ThreadStatus::Dead => "open_slot",
        ThreadStatus::Starting => "startup",
        ThreadStatus::Ready => "idle",
        ThreadStatus::BusyRead => "read",
        ThreadStatus::BusyWrite => "reply",
        ThreadStatus::BusyKeepalive => "keepalive",
        ThreadStatus::BusyLog => "logging",
        ThreadStatus::BusyDns => "dns",
        ThreadStatus::Closing => "closing",
        ThreadStatus::Graceful => "graceful_stop",
        ThreadStatus::IdleKill => "idle_cleanup",
    }
}

/// Reads the boards, the scoreboard and the clock.
pub fn facts(fe: &FrontEnd, sb: &Scoreboard) -> MetricsFacts {
    let groups = fe
        .groups
        .iter()
        .map(|g| {
            let (retired, live) = g.pool.board().map(|b| b.snapshot()).unwrap_or_default();
            GroupFacts {
                name: g.name.clone(),
                retired,
                live,
            }
        })
        .collect();
    let order = [
        ThreadStatus::Ready,
        ThreadStatus::BusyRead,
        ThreadStatus::BusyWrite,
        ThreadStatus::BusyKeepalive,
        ThreadStatus::Closing,
        ThreadStatus::BusyLog,
        ThreadStatus::BusyDns,
        ThreadStatus::Graceful,
        ThreadStatus::IdleKill,
        ThreadStatus::Starting,
        ThreadStatus::Dead,
    ];
    let mut counts = [0u64; 11];
    let (mut processes, mut stopping, mut accesses, mut sent_bytes) = (0, 0, 0, 0);
    for slot in 0..sb.server_limit() {
        if sb.pid(slot) != 0 {
            processes += 1;
            if sb.quiescing(slot) != quill_mpm::Quiescing::No {
                stopping += 1;
            }
        }
        for t in 0..sb.thread_limit() {
            let s = sb.status(slot, t);
            if let Some(i) = order.iter().position(|o| *o == s) {
                counts[i] += 1;
            }
            let totals = sb.thread_totals(slot, t);
            accesses += u64::from(totals.requests);
            sent_bytes += totals.bytes;
        }
    }
    MetricsFacts {
        now_us: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        groups,
        workers: order.iter().map(|s| state_name(*s)).zip(counts).collect(),
        processes: (processes, stopping),
        accesses,
        sent_bytes,
    }
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// Thread-µs a live process has had since it started, or the retired
/// processes had.
fn thread_us(c: &Counters, now_us: u64, retired: bool) -> u64 {
    if retired {
        c.started_us
    } else {
        u64::from(c.threads).saturating_mul(now_us.saturating_sub(c.started_us))
    }
}

impl Collector for MetricsFacts {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        // (group, process) for every entry: a pid, or "retired".
        let rows: Vec<(&str, String, &Counters, bool)> = self
            .groups
            .iter()
            .flat_map(|g| {
                std::iter::once((g.name.as_str(), "retired".to_string(), &g.retired, true)).chain(
                    g.live
                        .iter()
                        .map(move |c| (g.name.as_str(), c.pid.to_string(), c, false)),
                )
            })
            .collect();
        let labels = |g: &str, p: &str| vec![("group", g.to_string()), ("process", p.to_string())];

        let mut m = enc.encode_descriptor(
            "quill_daemon_requests",
            "Requests a daemon thread ran",
            None,
            MetricType::Counter,
        )?;
        for (g, p, c, _) in &rows {
            m.encode_family(&labels(g, p))?
                .encode_counter::<NoLabelSet, _, u64>(&c.requests, None)?;
        }
        let mut m = enc.encode_descriptor(
            "quill_daemon_responses",
            "Responses of daemon threads by status class",
            None,
            MetricType::Counter,
        )?;
        for (g, p, c, _) in &rows {
            for (i, n) in c.classes.iter().enumerate() {
                let mut l = labels(g, p);
                l.push(("class", format!("{}xx", i + 1)));
                m.encode_family(&l)?
                    .encode_counter::<NoLabelSet, _, u64>(n, None)?;
            }
        }
        let mut m = enc.encode_descriptor(
            "quill_daemon_busy",
            "Thread time spent running requests",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?;
        for (g, p, c, _) in &rows {
            m.encode_family(&labels(g, p))?
                .encode_counter::<NoLabelSet, _, u64>(&secs(c.busy_us), None)?;
        }
        let mut m = enc.encode_descriptor(
            "quill_daemon_available",
            "Thread time the processes had (threads × time alive): busy ÷ available is mod_wsgi's capacity utilisation",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?;
        for (g, p, c, retired) in &rows {
            m.encode_family(&labels(g, p))?
                .encode_counter::<NoLabelSet, _, u64>(
                    &secs(thread_us(c, self.now_us, *retired)),
                    None,
                )?;
        }
        for (name, help, pick) in [
            (
                "quill_daemon_threads",
                "Threads of a live daemon process",
                (|c: &Counters| c.threads) as fn(&Counters) -> u32,
            ),
            (
                "quill_daemon_busy_threads",
                "Threads of a live daemon process running a request now",
                |c: &Counters| c.busy,
            ),
        ] {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (g, p, c, retired) in &rows {
                if !retired {
                    m.encode_family(&labels(g, p))?
                        .encode_gauge(&i64::from(pick(c)))?;
                }
            }
        }
        let mut m = enc.encode_descriptor(
            "quill_daemon_utilization",
            "Busy thread time ÷ available thread time of the group since the server started",
            None,
            MetricType::Gauge,
        )?;
        for g in &self.groups {
            let all = std::iter::once((&g.retired, true)).chain(g.live.iter().map(|c| (c, false)));
            let (busy, avail) = all.fold((0u64, 0u64), |(b, a), (c, r)| {
                (b + c.busy_us, a + thread_us(c, self.now_us, r))
            });
            let ratio = if avail == 0 {
                0.0
            } else {
                busy as f64 / avail as f64
            };
            m.encode_family(&vec![("group", g.name.clone())])?
                .encode_gauge(&ratio)?;
        }
        for (name, help, pick) in [
            (
                "quill_daemon_queue",
                "From the front end's arrival to a daemon thread taking the request",
                (|c: &Counters| c.queue) as fn(&Counters) -> Histogram,
            ),
            (
                "quill_daemon_application",
                "A daemon thread running the request",
                |c: &Counters| c.app,
            ),
            (
                "quill_daemon_server",
                "From the front end's arrival to the end of the response",
                |c: &Counters| c.server,
            ),
        ] {
            let mut m =
                enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
            for g in &self.groups {
                let mut sum = Histogram::default();
                for c in std::iter::once(&g.retired).chain(&g.live) {
                    let h = pick(c);
                    sum.sum_us += h.sum_us;
                    for (a, b) in sum.buckets.iter_mut().zip(h.buckets) {
                        *a += b;
                    }
                }
                // (prometheus-client adds the buckets up itself.)
                let buckets: Vec<(f64, u64)> = BUCKETS_US
                    .iter()
                    .zip(sum.buckets)
                    .map(|(&le, n)| {
                        let le = if le == u64::MAX {
                            f64::INFINITY
                        } else {
                            secs(le)
                        };
                        (le, n)
                    })
                    .collect();
                m.encode_family(&vec![("group", g.name.clone())])?
                    .encode_histogram::<NoLabelSet>(
                        secs(sum.sum_us),
                        sum.count(),
                        &buckets,
                        None,
                    )?;
            }
        }
        let mut m = enc.encode_descriptor(
            "quill_daemon_restarts",
            "Daemon processes that ended and were replaced, by reason",
            None,
            MetricType::Counter,
        )?;
        for g in &self.groups {
            for (reason, n) in RESTART_REASONS.iter().zip(g.retired.restarts) {
                m.encode_family(&vec![
                    ("group", g.name.clone()),
                    ("reason", reason.to_string()),
                ])?
                .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        let mut m = enc.encode_descriptor(
            "quill_frontend_workers",
            "Front-end worker slots by scoreboard state",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in &self.workers {
            m.encode_family(&vec![("state", state.to_string())])?
                .encode_gauge(n)?;
        }
        let mut m = enc.encode_descriptor(
            "quill_frontend_processes",
            "Front-end child processes, all and stopping",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in [("all", self.processes.0), ("stopping", self.processes.1)] {
            m.encode_family(&vec![("state", state.to_string())])?
                .encode_gauge(&n)?;
        }
        let m = enc.encode_descriptor(
            "quill_frontend_requests",
            "Requests the front end answered",
            None,
            MetricType::Counter,
        )?;
        m.encode_counter_value(self.accesses)?;
        let m = enc.encode_descriptor(
            "quill_frontend_sent",
            "Response bytes the front end sent",
            Some(&Unit::Bytes),
            MetricType::Counter,
        )?;
        m.encode_counter_value(self.sent_bytes)?;
        Ok(())
    }
}

/// Lets a metric without labels be written straight from its descriptor.
trait CounterValue {
    fn encode_counter_value(self, v: u64) -> Result<(), std::fmt::Error>;
}

impl CounterValue for prometheus_client::encoding::MetricEncoder<'_> {
    fn encode_counter_value(mut self, v: u64) -> Result<(), std::fmt::Error> {
        self.encode_counter::<NoLabelSet, _, u64>(&v, None)
    }
}

/// The metrics page for a request under a metrics `<Location>`: 403 unless
/// a Require line grants the client, 405 for a method other than GET/HEAD.
pub(super) fn respond<B>(
    fe: &FrontEnd,
    site: &super::route::RouteTable,
    sb: &Scoreboard,
    access: &[quill_config::model::Require],
    req: &http::Request<B>,
    ends: super::route::Ends,
    path: &[u8],
) -> Result<super::Resp, super::error::FrontError> {
    super::status::check_access(site, access, ends.peer, ends.local, path)?;
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return Err(super::error::FrontError::method_not_allowed("GET, HEAD"));
    }
    let body = render(facts(fe, sb));
    let mut resp = http::Response::new(super::RespBody::full(bytes::Bytes::from(body)));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    Ok(resp)
}

/// The OpenMetrics text of `facts`.
pub fn render(facts: MetricsFacts) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(facts));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_of_a_group_and_the_front_end() {
        let mut hist = Histogram {
            sum_us: 30_000,
            ..Histogram::default()
        };
        hist.buckets[3] = 2; // ≤ 10 ms
        hist.buckets[5] = 1; // ≤ 50 ms
        let live = Counters {
            pid: 4242,
            busy: 1,
            requests: 3,
            busy_us: 30_000,
            classes: [0, 2, 0, 1, 0],
            started_us: 1_000_000,
            threads: 2,
            queue: hist,
            app: hist,
            server: hist,
            restarts: [0; 8],
        };
        let retired = Counters {
            requests: 1,
            busy_us: 10_000,
            classes: [0, 1, 0, 0, 0],
            started_us: 2_000_000,
            restarts: [0, 1, 0, 0, 0, 0, 2, 0],
            ..Counters::default()
        };
        let facts = MetricsFacts {
            now_us: 11_000_000,
            groups: vec![GroupFacts {
                name: "app".into(),
                retired,
                live: vec![live],
            }],
            workers: vec![("idle", 3), ("reply", 1), ("open_slot", 4)],
            processes: (2, 0),
            accesses: 17,
            sent_bytes: 2048,
        };
        insta::assert_snapshot!(render(facts));
    }
}
