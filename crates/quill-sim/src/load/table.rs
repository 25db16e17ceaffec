//! The three CSV kinds: header recognition, then one row at a time.
//!
//! Records are read by the `csv` crate: fields are separated by commas,
//! trimmed, and may be wrapped in double quotes (as spreadsheets export
//! them; a quoted field may then hold a comma, a doubled quote or a line
//! break). Lines that are blank or start with `#` (after optional spaces)
//! are skipped, and every error names the line the record starts on.

use super::error::quote;
use super::text::fmt_num;
use super::{Load, LoadError, LoadLimits, OpenLoad, Poisson, PoissonSegment, Schedule, Step};
use super::{Trace, TraceOrigin, TraceRow};

/// The columns of all kinds. Each is documented in docs/loads.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Col {
    Ts,
    Concurrency,
    RequestMs,
    ArrivalMs,
    DurationMs,
    RatePerS,
    MedianMs,
    Sigma,
    RequestsPerConn,
    ThinkMs,
    CloseOnStop,
}

const N_COLS: usize = 11;

const ALL_COLS: [Col; N_COLS] = [
    Col::Ts,
    Col::Concurrency,
    Col::RequestMs,
    Col::ArrivalMs,
    Col::DurationMs,
    Col::RatePerS,
    Col::MedianMs,
    Col::Sigma,
    Col::RequestsPerConn,
    Col::ThinkMs,
    Col::CloseOnStop,
];

/// How a column's value is read and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A time in seconds since the server started.
    Seconds,
    /// A duration or time in milliseconds.
    Millis,
    /// A whole number.
    Whole,
    /// Arrivals per second.
    Rate,
    /// A plain number.
    Plain,
}

impl Col {
    fn name(self) -> &'static str {
        match self {
            Col::Ts => "t_s",
            Col::Concurrency => "concurrency",
            Col::RequestMs => "request_ms",
            Col::ArrivalMs => "arrival_ms",
            Col::DurationMs => "duration_ms",
            Col::RatePerS => "rate_per_s",
            Col::MedianMs => "median_ms",
            Col::Sigma => "sigma",
            Col::RequestsPerConn => "requests_per_conn",
            Col::ThinkMs => "think_ms",
            Col::CloseOnStop => "close_on_stop",
        }
    }

    fn from_name(name: &str) -> Option<Col> {
        ALL_COLS.into_iter().find(|c| c.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    fn unit(self) -> Unit {
        match self {
            Col::Ts => Unit::Seconds,
            Col::Concurrency | Col::RequestsPerConn | Col::CloseOnStop => Unit::Whole,
            Col::RequestMs | Col::ArrivalMs | Col::DurationMs | Col::MedianMs | Col::ThinkMs => {
                Unit::Millis
            }
            Col::RatePerS => Unit::Rate,
            Col::Sigma => Unit::Plain,
        }
    }

    /// What a value must be, completing "`{name}` must be …".
    fn expects(self) -> &'static str {
        match self {
            Col::Ts => "a number of seconds (0 or more)",
            Col::Concurrency => "a whole number (0 or more)",
            Col::RequestMs | Col::MedianMs => "a positive number of milliseconds",
            Col::ArrivalMs | Col::DurationMs | Col::ThinkMs => {
                "a number of milliseconds (0 or more)"
            }
            Col::RatePerS => "a number of arrivals per second (0 or more)",
            Col::Sigma => "a number (0 or more)",
            Col::RequestsPerConn => "a whole number (1 or more)",
            Col::CloseOnStop => "0 or 1",
        }
    }

    /// What the column means, with an example.
    fn help(self) -> &'static str {
        match self {
            Col::Ts => "t_s is a time in seconds since the server started, e.g. 0, 10 or 20.5",
            Col::Concurrency => {
                "concurrency is how many clients each keep one request in flight, e.g. 50"
            }
            Col::RequestMs => {
                "request_ms is how long each request holds its worker, e.g. 250 or 0.5"
            }
            Col::ArrivalMs => {
                "arrival_ms is when the request arrives, in milliseconds since the server \
                 started, e.g. 1500"
            }
            Col::DurationMs => "duration_ms is how long the request holds its worker, e.g. 250",
            Col::RatePerS => {
                "rate_per_s is the mean number of new connections a second from t_s until the \
                 next row, e.g. 20; the last row has 0"
            }
            Col::MedianMs => "median_ms is the median request duration, e.g. 200",
            Col::Sigma => {
                "sigma is the standard deviation of the log of the duration: 0 makes every \
                 request take median_ms, 0.5 is a moderate spread, 1 a heavy tail"
            }
            Col::RequestsPerConn => {
                "requests_per_conn is how many requests a client sends on one keep-alive \
                 connection; 1 (the default) means no keep-alive"
            }
            Col::ThinkMs => {
                "think_ms is the pause between a response and the next request on the same \
                 connection, e.g. 500 (default 0)"
            }
            Col::CloseOnStop => {
                "close_on_stop says what a client that stops (concurrency fell) does with its \
                 kept-alive connection: 1 closes it at once, 0 (the default) leaves it open \
                 until the server closes it at KeepAliveTimeout"
            }
        }
    }
}

/// The three CSV kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CsvKind {
    Schedule,
    Trace,
    Poisson,
}

/// Optional columns of every kind.
const OPTIONAL: [Col; 2] = [Col::RequestsPerConn, Col::ThinkMs];
/// A concurrency schedule's clients may also say how they stop.
const SCHEDULE_OPTIONAL: [Col; 3] = [Col::RequestsPerConn, Col::ThinkMs, Col::CloseOnStop];

impl CsvKind {
    const ALL: [CsvKind; 3] = [CsvKind::Schedule, CsvKind::Trace, CsvKind::Poisson];

    fn name(self) -> &'static str {
        match self {
            CsvKind::Schedule => "a concurrency schedule",
            CsvKind::Trace => "a request trace",
            CsvKind::Poisson => "a Poisson load",
        }
    }

    fn required(self) -> &'static [Col] {
        match self {
            CsvKind::Schedule => &[Col::Ts, Col::Concurrency, Col::RequestMs],
            CsvKind::Trace => &[Col::ArrivalMs, Col::DurationMs],
            CsvKind::Poisson => &[Col::Ts, Col::RatePerS, Col::MedianMs, Col::Sigma],
        }
    }

    /// Columns that only this kind has: one of them in a header names the kind.
    fn markers(self) -> &'static [Col] {
        match self {
            CsvKind::Schedule => &[Col::Concurrency, Col::RequestMs],
            CsvKind::Trace => &[Col::ArrivalMs, Col::DurationMs],
            CsvKind::Poisson => &[Col::RatePerS, Col::MedianMs, Col::Sigma],
        }
    }

    fn optional(self) -> &'static [Col] {
        match self {
            CsvKind::Schedule => &SCHEDULE_OPTIONAL,
            CsvKind::Trace | CsvKind::Poisson => &OPTIONAL,
        }
    }

    fn allows(self, col: Col) -> bool {
        self.required().contains(&col) || self.optional().contains(&col)
    }

    /// `t_s, concurrency, request_ms, requests_per_conn, think_ms`
    fn valid_list(self) -> String {
        let cols: Vec<&str> = self
            .required()
            .iter()
            .chain(self.optional())
            .map(|c| c.name())
            .collect();
        cols.join(", ")
    }

    fn header_help(self) -> String {
        let required: Vec<&str> = self.required().iter().map(|c| c.name()).collect();
        let optional = match self {
            CsvKind::Schedule => "requests_per_conn, think_ms and close_on_stop",
            CsvKind::Trace | CsvKind::Poisson => "requests_per_conn and think_ms",
        };
        format!(
            "{}'s header is {} (in any order), optionally with {optional}",
            capitalise(self.name()),
            required.join(",")
        )
    }

    fn example_row(self) -> &'static str {
        match self {
            CsvKind::Schedule => "0,10,200",
            CsvKind::Trace => "1500,250",
            CsvKind::Poisson => "0,20,200,0.5 followed by 60,0,200,0.5",
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A reader of comma-separated records with the rules of docs/loads.md
/// (the caller skips blank and comment records, see [`is_skipped`]).
fn csv_reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes())
}

/// A field as the files mean it: trimmed, and unwrapped from double quotes
/// also when spaces came before the opening quote (which CSV proper reads
/// as part of the value).
fn field(raw: &str) -> &str {
    raw.strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .map_or(raw, str::trim)
}

/// Blank lines (one empty field) and indented `#` comments, which the
/// reader itself only recognises at the start of a line.
fn is_skipped(record: &csv::StringRecord) -> bool {
    match record.get(0) {
        None => true,
        Some(first) => (record.len() == 1 && first.is_empty()) || first.starts_with('#'),
    }
}

/// A record that is not valid CSV (a quote left open, bytes that are not
/// UTF-8) as a load error at its line.
fn csv_error(e: &csv::Error, line_base: usize) -> LoadError {
    let line = e
        .position()
        .map_or(line_base, |p| line_base + p.line() as usize - 1);
    LoadError::at(
        line,
        format!("this line is not valid CSV: {e}"),
        "separate values with commas; a value in double quotes must end with a double quote",
    )
}

/// A recognised header row.
#[derive(Debug)]
pub(super) struct Header {
    kind: CsvKind,
    /// The column of each field, in file order.
    cols: Vec<Col>,
    line: usize,
}

impl Header {
    /// `Ok(None)` when the line names no known column (it is not a CSV
    /// header); an error when it names some but cannot be used.
    pub(super) fn recognise(line_no: usize, line: &str) -> Result<Option<Header>, LoadError> {
        let mut record = csv::StringRecord::new();
        // An unreadable line is not a CSV header (it may be an access log).
        if !csv_reader(line).read_record(&mut record).unwrap_or(false) {
            return Ok(None);
        }
        // One more than all columns: such a header has an unknown or a
        // repeated column, which the checks below report.
        let names: Vec<String> = record
            .iter()
            .take(N_COLS + 1)
            .map(|f| field(f).to_ascii_lowercase())
            .collect();
        if !names.iter().any(|n| Col::from_name(n).is_some()) {
            return Ok(None);
        }
        let has = |c: Col| names.iter().any(|n| n == c.name());
        let kinds: Vec<CsvKind> = CsvKind::ALL
            .into_iter()
            .filter(|k| k.markers().iter().any(|&c| has(c)))
            .collect();
        let kind = match kinds[..] {
            [kind] => kind,
            [] => {
                return Err(LoadError::at(
                    line_no,
                    format!(
                        "cannot tell which kind of load the header {} describes",
                        quote(line.trim())
                    ),
                    "name the kind's columns: t_s,concurrency,request_ms (concurrency schedule), \
                     arrival_ms,duration_ms (request trace) or t_s,rate_per_s,median_ms,sigma \
                     (Poisson arrivals)",
                ));
            }
            [a, b, ..] => {
                let marker = |k: CsvKind| {
                    k.markers()
                        .iter()
                        .find(|&&c| has(c))
                        .map_or("", |c| c.name())
                };
                return Err(LoadError::at(
                    line_no,
                    format!(
                        "the header mixes columns of {} ({}) and {} ({})",
                        a.name(),
                        marker(a),
                        b.name(),
                        marker(b)
                    ),
                    "a load file is one kind of load; split it into two files, or remove the \
                     other kind's columns",
                ));
            }
        };

        let mut cols = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(LoadError::at(
                    line_no,
                    format!("column {} of the header has no name", i + 1),
                    format!(
                        "remove the extra comma, or name the column; {} has the columns {}",
                        kind.name(),
                        kind.valid_list()
                    ),
                ));
            }
            let col = match Col::from_name(name) {
                Some(col) if kind.allows(col) => col,
                Some(_) => {
                    return Err(LoadError::at(
                        line_no,
                        format!(
                            "column {} is not used by {}; its columns are {}",
                            quote(name),
                            kind.name(),
                            kind.valid_list()
                        ),
                        kind.header_help(),
                    )
                    .in_column(name));
                }
                None => {
                    return Err(LoadError::at(
                        line_no,
                        format!(
                            "unknown column {} in {}; its columns are {}",
                            quote(name),
                            kind.name(),
                            kind.valid_list()
                        ),
                        unknown_column_help(kind, name),
                    )
                    .in_column(name));
                }
            };
            if cols.contains(&col) {
                return Err(LoadError::at(
                    line_no,
                    format!("column {} appears twice in the header", quote(name)),
                    "remove one of them",
                )
                .in_column(name));
            }
            cols.push(col);
        }
        if let Some(missing) = kind.required().iter().find(|c| !cols.contains(c)) {
            return Err(LoadError::at(
                line_no,
                format!("{} needs a {} column", kind.name(), quote(missing.name())),
                kind.header_help(),
            )
            .in_column(missing.name()));
        }
        Ok(Some(Header {
            kind,
            cols,
            line: line_no,
        }))
    }
}

fn unknown_column_help(kind: CsvKind, name: &str) -> String {
    const RESULT_COLUMNS: [&str; 5] = ["status", "latency_ms", "conn_id", "retries", "error"];
    if kind == CsvKind::Trace && RESULT_COLUMNS.contains(&name) {
        return "this looks like a bench recording's requests.csv, whose extra columns are \
                results; keep only the first two columns (e.g. `cut -d, -f1,2 requests.csv`)"
            .to_owned();
    }
    "remove the column or correct its name (names are case-insensitive)".to_owned()
}

/// Reads the rows under `header` into a load: `rest` is the file after the
/// header row, and its first line is line `line_base` of the file.
pub(super) fn parse_rows(
    header: &Header,
    rest: &str,
    line_base: usize,
    limits: &LoadLimits,
) -> Result<Load, LoadError> {
    let mut builder = match header.kind {
        CsvKind::Schedule => Builder::Schedule(Vec::new()),
        CsvKind::Trace => Builder::Trace(Vec::new()),
        CsvKind::Poisson => Builder::Poisson(Vec::new()),
    };
    let mut reader = csv_reader(rest);
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    let mut last_time: Option<(u64, String, usize)> = None;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(&e, line_base)),
        }
        if is_skipped(&record) {
            continue;
        }
        let line = record
            .position()
            .map_or(line_base, |p| line_base + p.line() as usize - 1);
        rows += 1;
        if rows > limits.max_rows {
            return Err(LoadError::at(
                line,
                format!("the load has more than {} rows", limits.max_rows),
                "the limit guards against runaway files; shorten the load, or use a Poisson \
                 load for long steady traffic",
            ));
        }
        if record.len() > header.cols.len() {
            let names: Vec<&str> = header.cols.iter().map(|c| c.name()).collect();
            return Err(LoadError::at(
                line,
                format!(
                    "expected at most {} values ({}), found {}",
                    header.cols.len(),
                    names.join(", "),
                    record.len()
                ),
                "give one value per header column, separated by commas",
            ));
        }
        let mut values = [None; N_COLS];
        for (col, value) in header.cols.iter().zip(record.iter()) {
            let value = field(value);
            if !value.is_empty() {
                values[col.index()] = Some(value);
            }
        }
        let row = Row {
            line,
            values,
            limits,
        };
        // Schedules and Poisson rows are in time order; a trace is sorted.
        if header.kind != CsvKind::Trace {
            let t_us = row.seconds(Col::Ts)?;
            let raw = values[Col::Ts.index()].unwrap_or_default();
            if let Some((prev_us, prev_raw, prev_line)) = &last_time {
                if t_us < *prev_us {
                    return Err(LoadError::at(
                        line,
                        format!(
                            "t_s must not decrease: {} comes after {} on line {prev_line}",
                            quote(raw),
                            quote(prev_raw)
                        ),
                        format!(
                            "the rows of {} are in time order; sort them by t_s",
                            header.kind.name()
                        ),
                    )
                    .in_column("t_s"));
                }
            }
            last_time = Some((t_us, raw.to_owned(), line));
        }
        builder.push(&row)?;
    }
    if rows == 0 {
        return Err(LoadError::at(
            header.line,
            format!(
                "{} needs at least one row under its header",
                header.kind.name()
            ),
            format!("add rows such as {}", header.kind.example_row()),
        ));
    }
    builder.finish(limits)
}

/// Rows read so far, by kind.
enum Builder {
    Schedule(Vec<Step>),
    Trace(Vec<TraceRow>),
    /// Rows with their line and raw rate (for the last-row check).
    Poisson(Vec<(PoissonSegment, usize, String)>),
}

impl Builder {
    fn push(&mut self, row: &Row<'_>) -> Result<(), LoadError> {
        let (requests_per_conn, think_us) = row.keep_alive()?;
        match self {
            Builder::Schedule(steps) => {
                let concurrency = row.whole(Col::Concurrency, row.limits.max_concurrency)?;
                let request_us =
                    row.positive_ms_if(Col::RequestMs, concurrency > 0, "concurrency")?;
                let close_on_stop = match row.optional_number(Col::CloseOnStop)? {
                    None => false,
                    Some(v) if v == 0.0 || v == 1.0 => v == 1.0,
                    Some(_) => {
                        let raw = row.values[Col::CloseOnStop.index()].unwrap_or_default();
                        return Err(row.invalid(Col::CloseOnStop, raw));
                    }
                };
                steps.push(Step {
                    t_us: row.seconds(Col::Ts)?,
                    concurrency,
                    request_us,
                    requests_per_conn,
                    think_us,
                    close_on_stop,
                });
            }
            Builder::Trace(rows) => {
                let at_us = row.millis(Col::ArrivalMs, row.limits.max_time_us)?;
                let duration_us = row.millis(Col::DurationMs, row.limits.max_duration_us)?;
                rows.push(TraceRow {
                    at_us,
                    duration_us: duration_us.max(1),
                    think_us,
                    requests_per_conn,
                });
            }
            Builder::Poisson(rows) => {
                let rate_per_s = row.number(Col::RatePerS)?;
                let rate_per_s =
                    row.at_most(Col::RatePerS, rate_per_s, row.limits.max_rate_per_s)?;
                let median_us =
                    row.positive_ms_if(Col::MedianMs, rate_per_s > 0.0, "rate_per_s")?;
                let sigma = row.number(Col::Sigma)?;
                let sigma = row.at_most(Col::Sigma, sigma, row.limits.max_sigma)?;
                // The exact median (not rounded to whole µs) drives the draws.
                let median_ms = row.number(Col::MedianMs)?;
                let start_us = row.seconds(Col::Ts)?;
                let segment = PoissonSegment {
                    start_us,
                    end_us: start_us,
                    rate_per_s,
                    median_us: if median_us == 0 {
                        0.0
                    } else {
                        median_ms * 1000.0
                    },
                    sigma,
                    requests_per_conn,
                    think_us,
                };
                let raw_rate = row.values[Col::RatePerS.index()].unwrap_or_default();
                rows.push((segment, row.line, raw_rate.to_owned()));
            }
        }
        Ok(())
    }

    fn finish(self, limits: &LoadLimits) -> Result<Load, LoadError> {
        Ok(match self {
            Builder::Schedule(steps) => Load::Closed(Schedule { steps }),
            Builder::Trace(rows) => Load::Open(OpenLoad::Trace(Trace::new(rows, TraceOrigin::Csv))),
            Builder::Poisson(rows) => {
                // parse_rows has checked there is a row; none would be an empty load.
                let last = rows.last();
                if let Some((last, line, raw_rate)) = last.filter(|(l, ..)| l.rate_per_s > 0.0) {
                    return Err(LoadError::at(
                        *line,
                        format!(
                            "the last row of a Poisson load must have rate_per_s 0 (it says when \
                             arrivals stop), found {}",
                            quote(raw_rate)
                        ),
                        format!(
                            "add a row after it such as `{},0,{},{}`: arrivals at {} a second \
                             then run from t_s {} until that row's t_s",
                            fmt_num(last.start_us as f64 / 1e6 + 60.0),
                            fmt_num(last.median_us / 1000.0),
                            fmt_num(last.sigma),
                            fmt_num(last.rate_per_s),
                            fmt_num(last.start_us as f64 / 1e6),
                        ),
                    )
                    .in_column("rate_per_s"));
                }
                let end_us = last.map_or(0, |(l, ..)| l.start_us);
                let segments = rows
                    .windows(2)
                    .map(|w| PoissonSegment {
                        end_us: w[1].0.start_us,
                        ..w[0].0
                    })
                    .collect();
                Load::Open(OpenLoad::Poisson(Poisson {
                    segments,
                    end_us,
                    max_duration_us: limits.max_duration_us,
                }))
            }
        })
    }
}

/// One data row: its values by column.
struct Row<'a> {
    line: usize,
    values: [Option<&'a str>; N_COLS],
    limits: &'a LoadLimits,
}

impl Row<'_> {
    fn invalid(&self, col: Col, raw: &str) -> LoadError {
        LoadError::at(
            self.line,
            format!(
                "{} must be {}, found {}",
                col.name(),
                col.expects(),
                quote(raw)
            ),
            col.help(),
        )
        .in_column(col.name())
    }

    /// A required number, finite and not negative.
    fn number(&self, col: Col) -> Result<f64, LoadError> {
        self.optional_number(col)?.ok_or_else(|| {
            LoadError::at(
                self.line,
                format!("{} is missing", col.name()),
                format!("every row needs a value for {}; {}", col.name(), col.help()),
            )
            .in_column(col.name())
        })
    }

    fn optional_number(&self, col: Col) -> Result<Option<f64>, LoadError> {
        let Some(raw) = self.values[col.index()] else {
            return Ok(None);
        };
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
            _ => Err(self.invalid(col, raw)),
        }
    }

    fn at_most(&self, col: Col, value: f64, max: f64) -> Result<f64, LoadError> {
        if value <= max {
            return Ok(value);
        }
        let raw = self.values[col.index()].unwrap_or_default();
        let limit = match col.unit() {
            Unit::Seconds => format!("{} s ({} days)", fmt_num(max), fmt_num(max / 86_400.0)),
            Unit::Millis => format!("{} ms ({} h)", fmt_num(max), fmt_num(max / 3_600_000.0)),
            Unit::Rate => format!("{} a second", fmt_num(max)),
            Unit::Whole | Unit::Plain => fmt_num(max),
        };
        Err(LoadError::at(
            self.line,
            format!(
                "{} is {}, more than the limit of {limit}",
                col.name(),
                quote(raw)
            ),
            "the limit guards against typos and runaway files; check the value",
        )
        .in_column(col.name()))
    }

    /// A required time in seconds, as µs.
    fn seconds(&self, col: Col) -> Result<u64, LoadError> {
        let s = self.number(col)?;
        let max_s = self.limits.max_time_us as f64 / 1e6;
        Ok((self.at_most(col, s, max_s)? * 1e6).round() as u64)
    }

    /// A required time or duration in milliseconds, as µs.
    fn millis(&self, col: Col, max_us: u64) -> Result<u64, LoadError> {
        let ms = self.number(col)?;
        Ok((self.at_most(col, ms, max_us as f64 / 1e3)? * 1e3).round() as u64)
    }

    /// Milliseconds as µs that must be above 0 when `needed` (because
    /// `because` is above 0); a positive value is raised to 1 µs.
    fn positive_ms_if(&self, col: Col, needed: bool, because: &str) -> Result<u64, LoadError> {
        let us = self.millis(col, self.limits.max_duration_us)?;
        let raw = self.values[col.index()].unwrap_or_default();
        if raw.parse::<f64>().is_ok_and(|v| v > 0.0) {
            return Ok(us.max(1));
        }
        if needed {
            return Err(LoadError::at(
                self.line,
                format!(
                    "{} must be {} when {because} is above 0, found {}",
                    col.name(),
                    col.expects(),
                    quote(raw)
                ),
                col.help(),
            )
            .in_column(col.name()));
        }
        Ok(0)
    }

    /// A required whole number up to `max`.
    fn whole(&self, col: Col, max: u32) -> Result<u32, LoadError> {
        let v = self.number(col)?;
        self.whole_value(col, v, max)
    }

    fn whole_value(&self, col: Col, v: f64, max: u32) -> Result<u32, LoadError> {
        let raw = self.values[col.index()].unwrap_or_default();
        if v.fract() != 0.0 {
            return Err(self.invalid(col, raw));
        }
        Ok(self.at_most(col, v, f64::from(max))? as u32)
    }

    /// `requests_per_conn` (default 1) and `think_ms` (default 0) as µs.
    fn keep_alive(&self) -> Result<(u32, u64), LoadError> {
        let col = Col::RequestsPerConn;
        let requests_per_conn = match self.optional_number(col)? {
            None => 1,
            Some(v) => {
                let n = self.whole_value(col, v, self.limits.max_requests_per_conn)?;
                if n == 0 {
                    return Err(self.invalid(col, self.values[col.index()].unwrap_or_default()));
                }
                n
            }
        };
        let think_us = match self.optional_number(Col::ThinkMs)? {
            None => 0,
            Some(_) => self.millis(Col::ThinkMs, self.limits.max_duration_us)?,
        };
        Ok((requests_per_conn, think_us))
    }
}
