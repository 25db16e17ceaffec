//! Deterministic text formatting shared by the chart and the report:
//! escaping, coordinates, thousands separators, times and durations.
//!
//! Floats are never printed with `{}` (whose shortest-round-trip output is
//! exact but noisy); coordinates get one fixed decimal, trimmed when whole.

use std::fmt::Write as _;

/// Escape text for XML/HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 forbids most control characters even when escaped.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with one decimal, `12` rather than `12.0`, never `-0`.
pub(crate) fn num(v: f64) -> String {
    let mut s = String::new();
    push_num(&mut s, v);
    s
}

/// [`num`] appended to `out` (paths are built from thousands of these).
pub(crate) fn push_num(out: &mut String, v: f64) {
    let tenths = if v.is_finite() {
        (v * 10.0).round() as i64
    } else {
        0
    };
    if tenths < 0 {
        out.push('-');
    }
    let a = tenths.unsigned_abs();
    let _ = write!(out, "{}", a / 10);
    if a % 10 != 0 {
        let _ = write!(out, ".{}", a % 10);
    }
}

/// `86400` → `86,400`.
pub fn thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A fixed one-decimal number with thousands separators: `1,234.5`.
pub fn decimal1(v: f64) -> String {
    let tenths = if v.is_finite() {
        (v * 10.0).round() as i64
    } else {
        0
    };
    let sign = if tenths < 0 { "-" } else { "" };
    let a = tenths.unsigned_abs();
    format!("{sign}{}.{}", thousands(a / 10), a % 10)
}

/// A point in simulated time given in seconds: `23 s`, `4:03`, `5:12:03`.
pub(crate) fn clock_s(t: u64) -> String {
    if t < 60 {
        format!("{t} s")
    } else if t < 3600 {
        format!("{}:{:02}", t / 60, t % 60)
    } else {
        format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
    }
}

/// A point in simulated time given in milliseconds: `23.030 s`,
/// `4:03.030`, `5:12:03.030`.
pub(crate) fn clock_ms(t_ms: u64) -> String {
    let (s, ms) = (t_ms / 1000, t_ms % 1000);
    if s < 60 {
        format!("{s}.{ms:03} s")
    } else {
        format!("{}.{ms:03}", clock_s(s))
    }
}

/// A length of time: `45 s`, `1 min 4 s`, `2 h 5 min`, `3 d 2 h`.
pub fn duration_s(d: u64) -> String {
    let (days, h, m, s) = (d / 86_400, d / 3600 % 24, d / 60 % 60, d % 60);
    let parts: [(u64, &str); 4] = [(days, "d"), (h, "h"), (m, "min"), (s, "s")];
    let first = parts.iter().position(|(v, _)| *v > 0).unwrap_or(3);
    // Two units are enough to read; drop the rest.
    parts[first..]
        .iter()
        .take(2)
        .filter(|(v, _)| *v > 0 || first == 3)
        .map(|(v, u)| format!("{v} {u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.04), "12");
        assert_eq!(num(12.06), "12.1");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(-3.25), "-3.3");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(86_400), "86,400");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(decimal1(1234.56), "1,234.6");
    }

    #[test]
    fn times() {
        assert_eq!(clock_s(0), "0 s");
        assert_eq!(clock_s(243), "4:03");
        assert_eq!(clock_s(18_723), "5:12:03");
        assert_eq!(clock_ms(23_030), "23.030 s");
        assert_eq!(clock_ms(243_005), "4:03.005");
        assert_eq!(duration_s(0), "0 s");
        assert_eq!(duration_s(45), "45 s");
        assert_eq!(duration_s(64), "1 min 4 s");
        assert_eq!(duration_s(3600), "1 h");
        assert_eq!(duration_s(7500), "2 h 5 min");
        assert_eq!(duration_s(86_400), "1 d");
        assert_eq!(duration_s(90_061), "1 d 1 h");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">R&D's</a>\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;R&amp;D&#39;s&lt;/a&gt;\u{FFFD}"
        );
    }
}
