//! [`LoadError`]: what is wrong with a load file, where, and how to fix it.

use std::fmt;

/// A load file that cannot be used.
///
/// Every error says where (the 1-based line in the file, counting blank and
/// comment lines, and the column when one value is at fault), what was
/// expected, and how to fix it. [`Display`](fmt::Display) renders all of it:
///
/// ```text
/// load.csv, line 7: request_ms must be a positive number of milliseconds, found "fast"
///   help: request_ms is how long each request holds its worker, e.g. 250 or 0.5
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Rendered(self))]
pub struct LoadError {
    /// The file's name as the caller gave it ([`ParseOptions::source_name`](super::ParseOptions::source_name)).
    pub file: Option<String>,
    /// 1-based line number in the file; `None` for problems of the whole
    /// file (such as an empty one).
    pub line: Option<usize>,
    /// The column at fault (its lower-case name, e.g. `request_ms`), when one is.
    pub column: Option<String>,
    /// One line: what is wrong, quoting what was found.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl LoadError {
    /// An error of the whole file.
    pub(crate) fn file(message: impl Into<String>, help: impl Into<String>) -> Self {
        LoadError {
            file: None,
            line: None,
            column: None,
            message: message.into(),
            help: help.into(),
        }
    }

    /// An error on one line.
    pub(crate) fn at(line: usize, message: impl Into<String>, help: impl Into<String>) -> Self {
        LoadError {
            line: Some(line),
            ..LoadError::file(message, help)
        }
    }

    /// Names the column at fault.
    pub(crate) fn in_column(mut self, column: &str) -> Self {
        self.column = Some(column.to_owned());
        self
    }

    /// Names the file the error is in (shown before the line number).
    #[must_use]
    pub fn with_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
}

struct Rendered<'a>(&'a LoadError);

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        match (&e.file, e.line) {
            (Some(file), Some(line)) => write!(f, "{file}, line {line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            (None, Some(line)) => write!(f, "line {line}: ")?,
            (None, None) => {}
        }
        f.write_str(&e.message)?;
        if !e.help.is_empty() {
            write!(f, "\n  help: {}", e.help)?;
        }
        Ok(())
    }
}

/// Quotes a value found in the input for a message: at most 40 characters,
/// control characters escaped, so a hostile line cannot flood or garble the
/// terminal.
pub(crate) fn quote(found: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut out = String::with_capacity(found.len().min(MAX_CHARS * 2) + 2);
    out.push('"');
    for (i, c) in found.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_place_message_and_help() {
        let e =
            LoadError::at(7, "request_ms must be positive", "write 250").in_column("request_ms");
        assert_eq!(
            e.to_string(),
            "line 7: request_ms must be positive\n  help: write 250"
        );
        let e = e.with_file("load.csv");
        assert_eq!(
            e.to_string(),
            "load.csv, line 7: request_ms must be positive\n  help: write 250"
        );
        assert_eq!(e.column.as_deref(), Some("request_ms"));
        let e = LoadError::file("empty", "").with_file("x.csv");
        assert_eq!(e.to_string(), "x.csv: empty");
    }

    #[test]
    fn quote_bounds_and_escapes() {
        assert_eq!(quote("fast"), "\"fast\"");
        assert_eq!(quote("a\"b\u{1b}"), "\"a\\\"b\\u{1b}\"");
        let long = "x".repeat(100);
        assert_eq!(quote(&long).chars().count(), 40 + 3);
    }
}
