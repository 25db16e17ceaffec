//! Small text helpers shared by the resolver and the mod_wsgi rules.

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `name` (compared case-insensitively), if it is
/// close enough to be a likely typo: at most a third of its length off
/// (1 to 4 edits), and not a complete rewrite of a short word.
pub fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    closest_within(name, candidates, |len| (len / 3).clamp(1, 4))
}

/// [`closest`] with the allowed number of edits as a function of the
/// candidate's length.
pub fn closest_within<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
    max_edits: impl Fn(usize) -> usize,
) -> Option<&'c str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        // A length difference is a lower bound of the distance: skip early.
        .filter(|c| c.len().abs_diff(lower.len()) <= max_edits(c.len()))
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= max_edits(c.len()) && *d < c.len().min(lower.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// C `atoi` over 64 bits (`apr_atoi64`): optional blanks and sign, then
/// digits; anything else stops it; no digits → 0. Saturates.
pub fn atoi64(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg { -v } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        let names = ["StartServers", "MaxSpareThreads", "threads", "processes"];
        assert_eq!(closest("startserver", names), Some("StartServers"));
        assert_eq!(closest("thread", names), Some("threads"));
        assert_eq!(closest("RewriteEngine", names), None);
        assert_eq!(closest("x", names), None);
    }

    #[test]
    fn atoi64_is_apr_atoi64() {
        assert_eq!(atoi64(" -12abc"), -12);
        assert_eq!(atoi64("abc"), 0);
        assert_eq!(atoi64("99999999999999999999"), i64::MAX);
    }
}
