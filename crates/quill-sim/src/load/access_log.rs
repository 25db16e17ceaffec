//! Apache access logs (common or combined LogFormat with the request
//! duration appended) as request traces.
//!
//! ```text
//! %h %l %u %t "%r" %>s %b %D                                  common + duration
//! %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D   combined + duration
//! ```
//!
//! Fields before `%t` are not read (so `%v:%p %h …` works too). `%t` is when
//! the request was received, to the second; Apache writes the line when the
//! request ends, so lines are not in `%t` order: the trace is sorted. The n
//! requests received in the same second are spread evenly over it
//! (`k/n` s after its start, in log order), not stacked at its start, which
//! would turn a steady load into bursts.

use super::error::quote;
use super::{LoadError, LoadLimits, LogDurationUnit, Trace, TraceOrigin, TraceRow};

const FORMAT_HELP: &str = "an access log line is Apache's common or combined format with the \
    request duration as the last field: LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \
    \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\" %D\"";

/// Whether the line could be meant as an access log line (it has a
/// bracketed field, like `%t`): then its errors are access log errors.
pub(super) fn looks_like(line: &str) -> bool {
    line.find('[')
        .is_some_and(|open| line[open..].contains(']'))
}

/// One line, as read.
struct Entry<'a> {
    /// `%t` in seconds since the Unix epoch (UTC).
    second: i64,
    /// The last field, in the log's unit.
    duration: u64,
    line: usize,
    /// `%r`, as written (escapes kept).
    request: &'a str,
    /// `%>s`, when it is a number.
    status: Option<u16>,
}

/// One request of an access log, as [`access_log_requests`](super::access_log_requests)
/// reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// When it arrived, in µs after the start of the log's first second:
    /// the n requests of one `%t` second are spread evenly over it, as in
    /// the replayed trace.
    pub at_us: u64,
    /// How long it took (µs; at least 1).
    pub duration_us: u64,
    /// `%t` in seconds since the Unix epoch (UTC).
    pub received_s: i64,
    /// The URL path of `%r` (`GET /a/b?x HTTP/1.1` → `/a/b`), `None` when
    /// the request line has no path (`-`, a malformed request).
    pub path: Option<String>,
    /// `%>s`, when it is a number.
    pub status: Option<u16>,
    /// 1-based line number in the log.
    pub line: usize,
}

pub(super) fn parse<'a>(
    lines: impl Iterator<Item = (usize, &'a str)>,
    unit: Option<LogDurationUnit>,
    limits: &LoadLimits,
) -> Result<Trace, LoadError> {
    let (requests, unit, guessed) = requests(lines, unit, limits)?;
    let rows = requests
        .iter()
        .map(|r| TraceRow {
            at_us: r.at_us,
            duration_us: r.duration_us,
            think_us: 0,
            requests_per_conn: 1,
        })
        .collect();
    Ok(Trace::new(rows, TraceOrigin::AccessLog { unit, guessed }))
}

/// Every request of the log in arrival order, the unit used and whether it
/// was guessed.
pub(super) fn requests<'a>(
    lines: impl Iterator<Item = (usize, &'a str)>,
    unit: Option<LogDurationUnit>,
    limits: &LoadLimits,
) -> Result<(Vec<LoggedRequest>, LogDurationUnit, bool), LoadError> {
    let mut entries = Vec::new();
    for (line, text) in lines {
        if entries.len() == limits.max_rows {
            return Err(LoadError::at(
                line,
                format!("the access log has more than {} lines", limits.max_rows),
                "the limit guards against runaway files; use a part of the log (e.g. one hour \
                 with `grep`)",
            ));
        }
        let fields = parse_line(line, text)?;
        entries.push(Entry {
            second: fields.second,
            duration: fields.duration,
            line,
            request: fields.request,
            status: fields.status,
        });
    }

    let guessed = unit.is_none();
    let unit = unit.unwrap_or_else(|| guess_unit(entries.iter().map(|e| e.duration)));
    // Apache truncates %T and %{ms}T: the middle of the interval is the best
    // guess (and keeps a `0` from becoming an instant request).
    let half_unit = if unit == LogDurationUnit::Microseconds {
        0
    } else {
        unit.us() / 2
    };
    let first_second = entries.iter().map(|e| e.second).min().unwrap_or(0);
    // Stable: requests of the same second keep the log's order.
    entries.sort_by_key(|e| e.second);

    let mut rows = Vec::with_capacity(entries.len());
    for group in entries.chunk_by(|a, b| a.second == b.second) {
        let Some(first) = group.first() else { continue };
        let offset_s = first.second.abs_diff(first_second);
        let base_us = offset_s.saturating_mul(1_000_000);
        if base_us > limits.max_time_us {
            return Err(LoadError::at(
                first.line,
                format!(
                    "this request was received {offset_s} s after the log's first, more than \
                     the limit of {} days",
                    limits.max_time_us / 86_400_000_000
                ),
                "use a part of the log (e.g. one day with `grep`)",
            )
            .in_column("%t"));
        }
        let n = group.len() as u64;
        for (k, e) in (0u64..).zip(group) {
            let duration_us = e
                .duration
                .checked_mul(unit.us())
                .and_then(|us| us.checked_add(half_unit))
                .filter(|&us| us <= limits.max_duration_us)
                .ok_or_else(|| {
                    LoadError::at(
                        e.line,
                        format!(
                            "the request duration {} {} ({}) is more than the limit of {} h",
                            e.duration,
                            unit.name(),
                            unit.directive(),
                            limits.max_duration_us / 3_600_000_000
                        ),
                        if guessed {
                            "the duration unit was guessed from the largest value; say which \
                             one the log uses (%D microseconds, %T seconds)"
                        } else {
                            "check the duration unit, or leave such requests out of the log"
                        },
                    )
                    .in_column("duration")
                })?;
            rows.push(LoggedRequest {
                at_us: base_us + k * 1_000_000 / n,
                duration_us: duration_us.max(1),
                received_s: e.second,
                path: request_path(e.request),
                status: e.status,
                line: e.line,
            });
        }
    }
    Ok((rows, unit, guessed))
}

/// The path of a request line: `GET /a/b?x HTTP/1.1` → `/a/b`.
fn request_path(request: &str) -> Option<String> {
    let target = request.split_whitespace().nth(1)?;
    let path = target.split(['?', '#']).next()?;
    path.starts_with('/').then(|| path.to_string())
}

/// %D (µs) if any duration is 1000 or more — as %T that would be a request
/// of 17 minutes — else %T (s). Documented on [`LogDurationUnit`].
fn guess_unit(durations: impl Iterator<Item = u64>) -> LogDurationUnit {
    if durations.max().unwrap_or(0) >= 1000 {
        LogDurationUnit::Microseconds
    } else {
        LogDurationUnit::Seconds
    }
}

/// What a line says.
struct LineFields<'a> {
    /// `%t` as Unix seconds.
    second: i64,
    /// The duration field.
    duration: u64,
    /// `%r`.
    request: &'a str,
    /// `%>s`.
    status: Option<u16>,
}

/// The fields of line number `no`.
fn parse_line(no: usize, line: &str) -> Result<LineFields<'_>, LoadError> {
    let fields = fields(line).map_err(|message| LoadError::at(no, message, FORMAT_HELP))?;
    let bracketed = fields.iter().enumerate().find_map(|(i, f)| match f {
        Field::Bracketed(time) => Some((i, *time)),
        _ => None,
    });
    let Some((t, time)) = bracketed else {
        return Err(LoadError::at(
            no,
            "expected the time the request was received (%t) in brackets, like \
             [10/Oct/2025:13:55:36 +0000]",
            FORMAT_HELP,
        )
        .in_column("%t"));
    };
    let second = parse_time(time).ok_or_else(|| {
        LoadError::at(
            no,
            format!(
                "the time [{}] is not in Apache's %t format, like [10/Oct/2025:13:55:36 +0000]",
                quote(time).trim_matches('"')
            ),
            "log %t as Apache does by default (day/month/year:hour:minute:second zone)",
        )
        .in_column("%t")
    })?;
    use Field::{Bare, Quoted};
    let (request, status, duration) = match fields[t + 1..] {
        [Quoted(r), Bare(s), Bare(_), Bare(d)]
        | [Quoted(r), Bare(s), Bare(_), Quoted(_), Quoted(_), Bare(d)] => (r, s, d),
        [Quoted(_), Bare(_), Bare(_)] => return Err(no_duration(no, "%b (common format)")),
        [Quoted(_), Bare(_), Bare(_), Quoted(_), Quoted(_)] => {
            return Err(no_duration(no, "the User-Agent (combined format)"));
        }
        _ => {
            return Err(LoadError::at(
                no,
                "expected \"%r\" %>s %b, then optionally \"%{Referer}i\" \"%{User-Agent}i\", \
                 then the duration (%D or %T) after the time",
                FORMAT_HELP,
            ));
        }
    };
    let duration = digits(duration).ok_or_else(|| {
        LoadError::at(
            no,
            format!(
                "the last field must be the request duration (%D microseconds or %T seconds), \
                 found {}",
                quote(duration)
            ),
            FORMAT_HELP,
        )
        .in_column("duration")
    })?;
    Ok(LineFields {
        second,
        duration,
        request,
        status: status_code(status),
    })
}

fn status_code(s: &str) -> Option<u16> {
    digits(s).and_then(|v| u16::try_from(v).ok())
}

fn no_duration(no: usize, last: &str) -> LoadError {
    LoadError::at(
        no,
        format!("the line has no request duration: it ends with {last}"),
        "append %D (microseconds) to the LogFormat, e.g. LogFormat \"%h %l %u %t \\\"%r\\\" %>s \
         %b \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\" %D\"",
    )
    .in_column("duration")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field<'a> {
    Bare(&'a str),
    /// Without the brackets.
    Bracketed(&'a str),
    /// Without the quotes, escapes left as they are.
    Quoted(&'a str),
}

/// Splits a line into space-separated fields, keeping `"…"` (with `\"`
/// escapes, as Apache writes them) and `[…]` whole.
fn fields(line: &str) -> Result<Vec<Field<'_>>, &'static str> {
    // The formats have a dozen fields; more is not an access log line (and
    // would let a hostile line grow this vector without bound).
    const MAX_FIELDS: usize = 64;
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if out.len() == MAX_FIELDS {
            return Err("the line has more than 64 fields");
        }
        match bytes[i] {
            b' ' | b'\t' => i += 1,
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                if j >= bytes.len() {
                    return Err("a quoted field is not closed (a \" is missing)");
                }
                out.push(Field::Quoted(&line[i + 1..j]));
                i = j + 1;
            }
            b'[' => {
                let Some(len) = line[i..].find(']') else {
                    return Err("the [ of the time is not closed");
                };
                out.push(Field::Bracketed(&line[i + 1..i + len]));
                i += len + 1;
            }
            _ => {
                let len = line[i..].find([' ', '\t']).unwrap_or(line.len() - i);
                out.push(Field::Bare(&line[i..i + len]));
                i += len;
            }
        }
    }
    Ok(out)
}

/// A whole number written with ASCII digits only (no sign), that fits.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `10/Oct/2025:13:55:36 +0200` as Unix seconds (UTC).
fn parse_time(s: &str) -> Option<i64> {
    let (date_time, zone) = s.split_once(' ')?;
    let mut parts = date_time.splitn(3, '/');
    let day = digits(parts.next()?)?;
    let month = month_number(parts.next()?)?;
    let (year, clock) = parts.next()?.split_once(':')?;
    let year = digits(year).filter(|y| (1970..=9999).contains(y))?;
    let mut hms = clock.splitn(3, ':').map(digits);
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let zone = zone.trim();
    let (sign, hhmm) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if hhmm.len() != 4 {
        return None;
    }
    let offset = digits(hhmm)?;
    let offset_s = sign * ((offset / 100) * 3600 + (offset % 100) * 60) as i64;
    let days = days_from_civil(year as i64, month, day as i64);
    Some(days * 86_400 + (h * 3600 + m * 60 + sec) as i64 - offset_s)
}

fn month_number(name: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    (1..)
        .zip(MONTHS)
        .find(|(_, m)| m.eq_ignore_ascii_case(name))
        .map(|(n, _)| n)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_seconds() {
        assert_eq!(parse_time("01/Jan/1970:00:00:00 +0000"), Some(0));
        assert_eq!(parse_time("10/Oct/2000:13:55:36 -0700"), Some(971_211_336));
        assert_eq!(
            parse_time("29/Feb/2024:23:59:59 +0100"),
            Some(1_709_247_599)
        );
        assert_eq!(parse_time("10/Foo/2000:13:55:36 -0700"), None);
        assert_eq!(parse_time("10/Oct/2000:13:55:36"), None);
        assert_eq!(parse_time("10/Oct/2000:25:55:36 +0000"), None);
        assert_eq!(parse_time("10/Oct/2000:13:55 +0000"), None);
        assert_eq!(parse_time("10/Oct/2000:13:55:36 +00"), None);
    }

    #[test]
    fn fields_keep_quotes_and_brackets_whole() {
        let f = fields(r#"h - u [t 1] "GET /a\"b HTTP/1.1" 200 - "ua [x]" 5"#).unwrap();
        assert_eq!(
            f,
            vec![
                Field::Bare("h"),
                Field::Bare("-"),
                Field::Bare("u"),
                Field::Bracketed("t 1"),
                Field::Quoted(r#"GET /a\"b HTTP/1.1"#),
                Field::Bare("200"),
                Field::Bare("-"),
                Field::Quoted("ua [x]"),
                Field::Bare("5"),
            ]
        );
    }

    #[test]
    fn unit_guess() {
        assert_eq!(
            guess_unit([0, 1, 999].into_iter()),
            LogDurationUnit::Seconds
        );
        assert_eq!(
            guess_unit([3, 1000].into_iter()),
            LogDurationUnit::Microseconds
        );
        assert_eq!(guess_unit(std::iter::empty()), LogDurationUnit::Seconds);
    }
}
