//! Load models: what the clients do to the server.
//!
//! ```text
//!  load.csv / access.log ──parse_load──▶ Load ─┬─ Closed(Schedule)  clients held at a count:
//!                                              │    steps of (t_us, concurrency, request_us, …)
//!                                              └─ Open(OpenLoad)    connections arriving:
//!                                                   ├─ Trace         listed one by one
//!                                                   └─ Poisson       at a piecewise-constant rate
//!                                                         │
//!                                     .arrivals(seed) ────┴──▶ Arrival, Arrival, …  (lazy)
//! ```
//!
//! Four inputs, told apart by their first line (see docs/loads.md for every
//! column, with examples):
//!
//! | first line | kind | becomes |
//! |---|---|---|
//! | `t_s,concurrency,request_ms` | concurrency schedule (closed loop) | [`Load::Closed`] |
//! | `arrival_ms,duration_ms` | request trace (open loop) | [`OpenLoad::Trace`] |
//! | `t_s,rate_per_s,median_ms,sigma` | Poisson arrivals (open loop) | [`OpenLoad::Poisson`] |
//! | an Apache access log line ending in `%D` or `%T` | request trace | [`OpenLoad::Trace`] |
//!
//! Any CSV kind may add `requests_per_conn` and `think_ms` (keep-alive
//! clients). Column order is free, names are case-insensitive, blank lines
//! and `#` comments are ignored. Times are microseconds (`u64`) everywhere,
//! counted from the start of the server (t = 0).
//!
//! ```
//! use quill_sim::load::{parse_load, Load};
//!
//! let load = parse_load("t_s,rate_per_s,median_ms,sigma\n5,20,200,0.5\n35,0,200,0.5\n")?;
//! assert_eq!(load.describe(), "Poisson 20 req/s, median 200 ms, σ 0.5");
//! assert_eq!(load.end_us(), 35_000_000);
//! let Load::Open(open) = &load else { unreachable!() };
//! let first = open.arrivals(7).next().unwrap();
//! assert!(first.at_us >= 5_000_000);
//! # Ok::<(), quill_sim::load::LoadError>(())
//! ```
//!
//! Parsing never panics on any input; every error names its line, the
//! column and how to fix it ([`LoadError`]).

mod access_log;
mod arrivals;
mod error;
mod rounded_exp;
mod table;
#[cfg(test)]
mod tests;
mod text;
mod ziggurat;

use std::fmt;
use std::str::FromStr;

pub use access_log::LoggedRequest;
pub use arrivals::{Arrival, Arrivals, RequestDurations};
pub use error::LoadError;

use text::{fmt_num, fmt_range, fmt_steps};

/// Parses a load file (any of the four kinds) with the default options.
///
/// ```
/// let load = quill_sim::load::parse_load("t_s,concurrency,request_ms\n10,50,200\n40,0,200\n")?;
/// assert_eq!(load.describe(), "closed loop 50→0 clients, 200 ms requests");
/// # Ok::<(), quill_sim::load::LoadError>(())
/// ```
pub fn parse_load(text: &str) -> Result<Load, LoadError> {
    parse_load_with(text, &ParseOptions::default())
}

/// [`parse_load`], naming the source (a file name) in error messages.
pub fn parse_load_named(source_name: &str, text: &str) -> Result<Load, LoadError> {
    parse_load_with(text, &ParseOptions::default().source_name(source_name))
}

/// Parses a load file with explicit options.
pub fn parse_load_with(text: &str, options: &ParseOptions) -> Result<Load, LoadError> {
    parse_inner(text, options).map_err(|e| match &options.source_name {
        Some(name) => e.with_file(name.clone()),
        None => e,
    })
}

fn parse_inner(text: &str, options: &ParseOptions) -> Result<Load, LoadError> {
    let lines = text::content_lines(text);
    let Some((first_no, first)) = lines.clone().next() else {
        return Err(LoadError::file(
            "the load file is empty (it has only blank lines and comments)",
            "start with a header row naming the kind of load: t_s,concurrency,request_ms \
             (concurrency schedule), arrival_ms,duration_ms (request trace) or \
             t_s,rate_per_s,median_ms,sigma (Poisson arrivals); or give an Apache access log",
        ));
    };
    if let Some(header) = table::Header::recognise(first_no, first)? {
        // The rest of the file, from the line after the header row (which
        // is a slice of `text`).
        let header_end = (first.as_ptr() as usize - text.as_ptr() as usize) + first.len();
        let rest = text.get(header_end..).unwrap_or_default();
        let rest = rest.split_once('\n').map_or("", |(_, after)| after);
        return table::parse_rows(&header, rest, first_no + 1, &options.limits);
    }
    if access_log::looks_like(first) {
        let trace = access_log::parse(lines, options.log_duration_unit, &options.limits)?;
        return Ok(Load::Open(OpenLoad::Trace(trace)));
    }
    Err(LoadError::at(
        first_no,
        format!(
            "expected a CSV header naming the load's columns or an Apache access log line, found {}",
            error::quote(first)
        ),
        "a load file starts with a header row: t_s,concurrency,request_ms (concurrency \
         schedule), arrival_ms,duration_ms (request trace) or t_s,rate_per_s,median_ms,sigma \
         (Poisson arrivals); an access log needs the %t time in brackets and the duration \
         (%D or %T) as its last field",
    ))
}

/// The requests of an Apache access log, one by one (what `quill report`
/// reads; [`parse_load`] reads the same log as a trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogRequests {
    /// In arrival order (the log's order within a second).
    pub requests: Vec<LoggedRequest>,
    /// The unit the durations were read in.
    pub unit: LogDurationUnit,
    /// Whether the unit was guessed (see [`LogDurationUnit`]).
    pub guessed: bool,
}

/// Reads an access log (common or combined format with the duration
/// appended) request by request, with the same rules and errors as
/// [`parse_load_with`].
///
/// ```
/// use quill_sim::load::{access_log_requests, ParseOptions};
///
/// let log = "h - - [10/Oct/2025:13:55:36 +0000] \"GET /app/x?y=1 HTTP/1.1\" 200 5 1500\n";
/// let read = access_log_requests(log, &ParseOptions::default())?;
/// assert_eq!(read.requests[0].path.as_deref(), Some("/app/x"));
/// assert_eq!(read.requests[0].duration_us, 1500);
/// # Ok::<(), quill_sim::load::LoadError>(())
/// ```
pub fn access_log_requests(
    text: &str,
    options: &ParseOptions,
) -> Result<AccessLogRequests, LoadError> {
    let read = || {
        let lines = text::content_lines(text);
        let Some((first_no, first)) = lines.clone().next() else {
            return Err(LoadError::file(
                "the access log is empty",
                "give a log with at least one request line",
            ));
        };
        if !access_log::looks_like(first) {
            return Err(LoadError::at(
                first_no,
                format!(
                    "expected an Apache access log line, found {}",
                    error::quote(first)
                ),
                "an access log line has the time (%t) in brackets and the duration (%D) as \
                 its last field",
            ));
        }
        let (requests, unit, guessed) =
            access_log::requests(lines, options.log_duration_unit, &options.limits)?;
        Ok(AccessLogRequests {
            requests,
            unit,
            guessed,
        })
    };
    read().map_err(|e| match &options.source_name {
        Some(name) => e.with_file(name.clone()),
        None => e,
    })
}

/// How to read a load file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParseOptions {
    /// Shown before the line number in errors (usually the file's path).
    pub source_name: Option<String>,
    /// The unit of an access log's last field; `None` guesses it (see
    /// [`LogDurationUnit`]). Ignored for CSV loads.
    pub log_duration_unit: Option<LogDurationUnit>,
    /// Limits against mistaken or hostile inputs.
    pub limits: LoadLimits,
}

impl ParseOptions {
    /// Sets [`ParseOptions::source_name`].
    #[must_use]
    pub fn source_name(mut self, name: impl Into<String>) -> Self {
        self.source_name = Some(name.into());
        self
    }

    /// Sets [`ParseOptions::log_duration_unit`].
    #[must_use]
    pub fn log_duration_unit(mut self, unit: LogDurationUnit) -> Self {
        self.log_duration_unit = Some(unit);
        self
    }
}

/// Limits on what a load file may ask for. Values past them are errors (with
/// the line), not silently clamped: they are almost always typos, and they
/// keep a hostile file from exhausting memory or time.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadLimits {
    /// Data rows (or access log lines). Default 10,000,000 (a trace is held
    /// in memory, 32 bytes a row).
    pub max_rows: usize,
    /// Latest time in the load (`t_s`, `arrival_ms`, the span of an access
    /// log). Default 366 days.
    pub max_time_us: u64,
    /// Longest request or think time (`request_ms`, `duration_ms`,
    /// `median_ms`, `think_ms`, an access log's duration). Poisson draws are
    /// clamped to it. Default 1 day.
    pub max_duration_us: u64,
    /// Largest `concurrency`. Default 1,000,000.
    pub max_concurrency: u32,
    /// Largest `requests_per_conn`. Default 1,000,000.
    pub max_requests_per_conn: u32,
    /// Largest `rate_per_s`. Default 1,000,000.
    pub max_rate_per_s: f64,
    /// Largest `sigma`. Default 5 (at 5, one request in a hundred takes
    /// 100,000 times the median).
    pub max_sigma: f64,
}

impl Default for LoadLimits {
    fn default() -> Self {
        const DAY_US: u64 = 86_400 * 1_000_000;
        LoadLimits {
            max_rows: 10_000_000,
            max_time_us: 366 * DAY_US,
            max_duration_us: DAY_US,
            max_concurrency: 1_000_000,
            max_requests_per_conn: 1_000_000,
            max_rate_per_s: 1_000_000.0,
            max_sigma: 5.0,
        }
    }
}

/// The unit of the duration at the end of an access log line.
///
/// When not given, Quill guesses from the largest value in the log: 1000 or
/// more means `%D` (microseconds; `%T` would mean a request of 17 minutes or
/// more), below that `%T` (seconds). A `%D` log whose requests all took less
/// than a millisecond is misread: say the unit. [`Load::describe`] shows
/// which unit was used and whether it was guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogDurationUnit {
    /// `%D` (or `%{us}T`).
    Microseconds,
    /// `%{ms}T`. Apache truncates; Quill adds half a millisecond.
    Milliseconds,
    /// `%T` (or `%{s}T`). Apache truncates to whole seconds; Quill adds half
    /// a second (a `0` becomes 500 ms).
    Seconds,
}

impl LogDurationUnit {
    /// The LogFormat directive that writes this unit.
    pub fn directive(self) -> &'static str {
        match self {
            LogDurationUnit::Microseconds => "%D",
            LogDurationUnit::Milliseconds => "%{ms}T",
            LogDurationUnit::Seconds => "%T",
        }
    }

    /// Microseconds per unit.
    fn us(self) -> u64 {
        match self {
            LogDurationUnit::Microseconds => 1,
            LogDurationUnit::Milliseconds => 1_000,
            LogDurationUnit::Seconds => 1_000_000,
        }
    }

    fn name(self) -> &'static str {
        match self {
            LogDurationUnit::Microseconds => "µs",
            LogDurationUnit::Milliseconds => "ms",
            LogDurationUnit::Seconds => "s",
        }
    }
}

/// Accepts `us`, `µs`, `D`, `%D`, `ms`, `%{ms}T`, `s`, `T`, `%T` (for a
/// `--duration-unit` option).
impl FromStr for LogDurationUnit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "us" | "µs" | "D" | "%D" | "%{us}T" => Ok(LogDurationUnit::Microseconds),
            "ms" | "%{ms}T" => Ok(LogDurationUnit::Milliseconds),
            "s" | "T" | "%T" | "%{s}T" => Ok(LogDurationUnit::Seconds),
            _ => Err(format!(
                "unknown duration unit {s:?}: use us (%D), ms (%{{ms}}T) or s (%T)"
            )),
        }
    }
}

impl fmt::Display for LogDurationUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogDurationUnit::Microseconds => "us",
            LogDurationUnit::Milliseconds => "ms",
            LogDurationUnit::Seconds => "s",
        })
    }
}

/// A load: what the clients do to the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// Closed loop: a number of clients, each sending its next request as
    /// soon as the previous one is answered.
    Closed(Schedule),
    /// Open loop: connections arrive at their times whatever the server does.
    Open(OpenLoad),
}

/// Which input a [`Load`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadKind {
    Schedule,
    Trace,
    AccessLog,
    Poisson,
}

impl LoadKind {
    /// `concurrency`, `trace`, `access_log` or `poisson` (the first three
    /// as in the bench harness's `meta.json` `load_kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            LoadKind::Schedule => "concurrency",
            LoadKind::Trace => "trace",
            LoadKind::AccessLog => "access_log",
            LoadKind::Poisson => "poisson",
        }
    }
}

impl Load {
    /// Which input this load came from.
    pub fn kind(&self) -> LoadKind {
        match self {
            Load::Closed(_) => LoadKind::Schedule,
            Load::Open(OpenLoad::Trace(t)) => match t.origin {
                TraceOrigin::Csv => LoadKind::Trace,
                TraceOrigin::AccessLog { .. } => LoadKind::AccessLog,
            },
            Load::Open(OpenLoad::Poisson(_)) => LoadKind::Poisson,
        }
    }

    /// When the load ends, in µs since the server started:
    /// - schedule: the last row's time (from then on its concurrency holds
    ///   until the simulation stops — 0 if the load is over);
    /// - trace: when the last connection would finish if served without
    ///   waiting (its arrival + durations + think times);
    /// - Poisson: the last row's time (no arrival at or after it; connections
    ///   that arrived shortly before may still be running).
    pub fn end_us(&self) -> u64 {
        match self {
            Load::Closed(s) => s.end_us(),
            Load::Open(o) => o.end_us(),
        }
    }

    /// [`Load::end_us`] in milliseconds, rounded up.
    pub fn end_ms(&self) -> u64 {
        self.end_us().div_ceil(1_000)
    }

    /// A short description for chart and report titles, e.g. `Poisson
    /// 20→80→30 req/s, median 600 ms, σ 0.5` or `closed loop 0→200→0
    /// clients, 1000 ms requests`.
    pub fn describe(&self) -> String {
        match self {
            Load::Closed(s) => s.describe(),
            Load::Open(OpenLoad::Trace(t)) => t.describe(),
            Load::Open(OpenLoad::Poisson(p)) => p.describe(),
        }
    }
}

/// A closed-loop load: from each step's time until the next step's, exactly
/// `concurrency` clients each keep one connection busy. A client opens a
/// connection, sends `requests_per_conn` requests on it one after the other
/// (each sent `think_us` after the previous response), closes it, and at once
/// opens the next.
///
/// When the count rises, new clients start at the step's time. When it
/// falls, clients finish their current request and stop (the bench harness
/// does the same). A connection keeps the step's `request_us`,
/// `requests_per_conn` and `think_us` that were in force when it opened.
/// Before the first step there are no clients; the last step holds until the
/// simulation stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// In non-decreasing `t_us` (several steps at the same time: the last
    /// one wins). Never empty when parsed.
    pub steps: Vec<Step>,
}

/// One row of a [`Schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// From this time on (µs since the server started)…
    pub t_us: u64,
    /// …keep this many clients busy;
    pub concurrency: u32,
    /// each request holds its worker this long (≥ 1 µs when `concurrency`
    /// is above 0);
    pub request_us: u64,
    /// requests sent on one connection (≥ 1; 1 = no keep-alive);
    pub requests_per_conn: u32,
    /// pause between a response and the next request on the connection;
    pub think_us: u64,
    /// when the concurrency falls and a client stops: `true` closes its
    /// kept-alive connection at once, `false` leaves it open until the
    /// server's KeepAliveTimeout.
    pub close_on_stop: bool,
}

impl Schedule {
    /// The step in force at `t_us`, `None` before the first one.
    pub fn step_at(&self, t_us: u64) -> Option<&Step> {
        let after = self.steps.partition_point(|s| s.t_us <= t_us);
        after.checked_sub(1).map(|i| &self.steps[i])
    }

    /// The last step's time.
    pub fn end_us(&self) -> u64 {
        self.steps.last().map_or(0, |s| s.t_us)
    }

    fn describe(&self) -> String {
        let clients = fmt_steps(self.steps.iter().map(|s| s.concurrency.to_string()));
        let busy = || self.steps.iter().filter(|s| s.concurrency > 0);
        let mut out = format!("closed loop {clients} clients");
        if let Some(ms) = fmt_range(busy().map(|s| s.request_us as f64 / 1000.0)) {
            out += &format!(", {ms} ms requests");
        }
        if busy().any(|s| s.requests_per_conn > 1) {
            keep_alive_title(&mut out, busy().map(|s| (s.requests_per_conn, s.think_us)));
        }
        out
    }
}

/// `, 5 requests/conn, think 500 ms` for titles.
fn keep_alive_title(out: &mut String, conns: impl Iterator<Item = (u32, u64)> + Clone) {
    if let Some(n) = fmt_range(conns.clone().map(|(n, _)| f64::from(n))) {
        out.push_str(&format!(", {n} requests/conn"));
    }
    if let Some(think) = fmt_range(conns.map(|(_, t)| t as f64 / 1000.0)) {
        if think != "0" {
            out.push_str(&format!(", think {think} ms"));
        }
    }
}

/// An open-loop load: connections arrive at their times, whatever the server
/// does.
#[derive(Debug, Clone, PartialEq)]
pub enum OpenLoad {
    /// Arrivals listed one by one (a request trace or an access log).
    Trace(Trace),
    /// Arrivals drawn at random from a seed.
    Poisson(Poisson),
}

impl OpenLoad {
    /// The arrivals in non-decreasing `at_us`, lazily. For a Poisson load,
    /// the same seed gives the same arrivals on every platform; a trace
    /// ignores the seed.
    pub fn arrivals(&self, seed: u64) -> Arrivals<'_> {
        match self {
            OpenLoad::Trace(t) => Arrivals::trace(&t.rows),
            OpenLoad::Poisson(p) => Arrivals::poisson(p, seed),
        }
    }

    /// See [`Load::end_us`].
    pub fn end_us(&self) -> u64 {
        match self {
            OpenLoad::Trace(t) => t.end_us,
            OpenLoad::Poisson(p) => p.end_us,
        }
    }
}

/// Arrivals listed one by one, sorted by time (a file's rows are sorted
/// when read, keeping the order of rows with equal times).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    rows: Vec<TraceRow>,
    origin: TraceOrigin,
    end_us: u64,
}

/// A trace's arrival as stored (an [`Arrival`] without the machinery for
/// random durations: 32 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceRow {
    pub(crate) at_us: u64,
    pub(crate) duration_us: u64,
    pub(crate) think_us: u64,
    pub(crate) requests_per_conn: u32,
}

/// Where a [`Trace`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceOrigin {
    /// An `arrival_ms,duration_ms` CSV file.
    Csv,
    /// An Apache access log, read with this duration unit (`guessed`: not
    /// given by the caller, see [`LogDurationUnit`]).
    AccessLog {
        unit: LogDurationUnit,
        guessed: bool,
    },
}

impl Trace {
    fn new(mut rows: Vec<TraceRow>, origin: TraceOrigin) -> Self {
        // Stable: rows with equal times keep the file's order.
        rows.sort_by_key(|r| r.at_us);
        let end_us = rows
            .iter()
            .map(|r| {
                let thinks = r
                    .think_us
                    .saturating_mul(u64::from(r.requests_per_conn - 1));
                let work = r.duration_us.saturating_mul(u64::from(r.requests_per_conn));
                r.at_us.saturating_add(thinks).saturating_add(work)
            })
            .max()
            .unwrap_or(0);
        Trace {
            rows,
            origin,
            end_us,
        }
    }

    /// Where the trace came from.
    pub fn origin(&self) -> TraceOrigin {
        self.origin
    }

    /// Connections in the trace.
    pub fn connections(&self) -> usize {
        self.rows.len()
    }

    /// Requests in the trace (connections × their requests).
    pub fn requests(&self) -> u64 {
        self.rows
            .iter()
            .map(|r| u64::from(r.requests_per_conn))
            .sum()
    }

    fn describe(&self) -> String {
        let what = match self.origin {
            TraceOrigin::Csv => "trace".to_owned(),
            TraceOrigin::AccessLog { unit, guessed } => format!(
                "access log ({} {}{})",
                unit.directive(),
                unit.name(),
                if guessed { ", guessed" } else { "" }
            ),
        };
        // Tenths of a second are enough for a title.
        let secs = |us: u64| fmt_num((us as f64 / 1e5).round() / 10.0);
        let mut out = format!("{what}, {} requests", self.requests());
        if let (Some(first), Some(last)) = (self.rows.first(), self.rows.last()) {
            if first.at_us == last.at_us {
                out += &format!(" arriving at {} s", secs(first.at_us));
            } else {
                out += &format!(" arriving {}–{} s", secs(first.at_us), secs(last.at_us));
            }
        }
        if self.rows.iter().any(|r| r.requests_per_conn > 1) {
            keep_alive_title(
                &mut out,
                self.rows.iter().map(|r| (r.requests_per_conn, r.think_us)),
            );
        }
        out
    }
}

/// Poisson arrivals: from each segment's start to its end, connections
/// arrive at random at `rate_per_s` a second on average; each request takes
/// a lognormal time (median `median_us`, log-standard deviation `sigma`).
#[derive(Debug, Clone, PartialEq)]
pub struct Poisson {
    segments: Vec<PoissonSegment>,
    end_us: u64,
    max_duration_us: u64,
}

/// One row of a Poisson load, up to the next row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoissonSegment {
    pub start_us: u64,
    pub end_us: u64,
    /// Mean new connections a second (0: none).
    pub rate_per_s: f64,
    /// Median request duration (µs, fractional).
    pub median_us: f64,
    /// Standard deviation of the log of the duration (0: every request
    /// takes the median).
    pub sigma: f64,
    pub requests_per_conn: u32,
    pub think_us: u64,
}

impl Poisson {
    /// The segments, in time order (the file's last row, which only ends the
    /// load, is not one).
    pub fn segments(&self) -> &[PoissonSegment] {
        &self.segments
    }

    /// Expected number of connections.
    pub fn expected_connections(&self) -> f64 {
        self.segments
            .iter()
            .map(|s| s.rate_per_s * (s.end_us - s.start_us) as f64 / 1e6)
            .sum()
    }

    fn describe(&self) -> String {
        let active = || self.segments.iter().filter(|s| s.rate_per_s > 0.0);
        let keep_alive = active().any(|s| s.requests_per_conn > 1);
        let unit = if keep_alive { "conn/s" } else { "req/s" };
        let rates = fmt_steps(self.segments.iter().map(|s| fmt_num(s.rate_per_s)));
        let mut out = format!("Poisson {rates} {unit}");
        if keep_alive {
            keep_alive_title(
                &mut out,
                active().map(|s| (s.requests_per_conn, s.think_us)),
            );
        }
        let medians = fmt_range(active().map(|s| s.median_us / 1000.0));
        let sigmas = fmt_range(active().map(|s| s.sigma));
        match (medians, sigmas.as_deref()) {
            (Some(m), Some("0")) => out += &format!(", {m} ms requests"),
            (Some(m), Some(sigma)) => out += &format!(", median {m} ms, σ {sigma}"),
            _ => {}
        }
        out
    }
}
