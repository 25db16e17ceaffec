//! Small text helpers shared by the load parsers and `describe()`.

/// The lines that carry content, with their 1-based line numbers in the
/// file: blank lines and lines starting with `#` (after optional spaces) are
/// skipped but still counted, so errors point at the right line. A leading
/// UTF-8 byte-order mark (spreadsheet exports) is ignored.
pub(crate) fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> + Clone {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines().enumerate().filter_map(|(i, line)| {
        let trimmed = line.trim();
        (!trimmed.is_empty() && !trimmed.starts_with('#')).then_some((i + 1, line))
    })
}

/// A number for people: no trailing zeros, at most three decimals, the same
/// text on every platform (`20`, `0.5`, `1.25`).
pub(crate) fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Values that change over a load, for a title: `20→80→30`, consecutive
/// repeats merged, long runs shortened to `10→20→…→30→0`.
pub(crate) fn fmt_steps(values: impl IntoIterator<Item = String>) -> String {
    let mut steps: Vec<String> = Vec::new();
    for v in values {
        if steps.last() != Some(&v) {
            steps.push(v);
        }
    }
    if steps.len() > 6 {
        let n = steps.len();
        let short = [&steps[0], &steps[1], "…", &steps[n - 2], &steps[n - 1]];
        return short.join("→");
    }
    steps.join("→")
}

/// `a` when every value is `a`, else `min–max` (for titles).
pub(crate) fn fmt_range(values: impl IntoIterator<Item = f64>) -> Option<String> {
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    for v in values {
        min = min.min(v);
        max = max.max(v);
    }
    if min > max {
        None
    } else if min == max {
        Some(fmt_num(min))
    } else {
        Some(format!("{}–{}", fmt_num(min), fmt_num(max)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_lines_keep_file_line_numbers() {
        let text = "\u{feff}# comment\n\nt_s,x\r\n   \n  # indented comment\n1,2\n";
        let lines: Vec<_> = content_lines(text).collect();
        assert_eq!(lines, vec![(3, "t_s,x"), (6, "1,2")]);
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(fmt_num(20.0), "20");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(1.2504), "1.25");
        assert_eq!(fmt_num(-0.0001), "0");
        assert_eq!(
            fmt_steps(["0", "10", "10", "20"].map(String::from)),
            "0→10→20"
        );
        assert_eq!(fmt_steps((0..10).map(|i| i.to_string())), "0→1→…→8→9");
        assert_eq!(fmt_range([1.0, 1.0]).as_deref(), Some("1"));
        assert_eq!(fmt_range([2.0, 0.5]).as_deref(), Some("0.5–2"));
        assert_eq!(fmt_range([]), None);
    }
}
