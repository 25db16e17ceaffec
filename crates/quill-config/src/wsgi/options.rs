//! `key=value` options of WSGIDaemonProcess, WSGIScriptAlias and
//! WSGIImportScript.
//!
//! These directives take Apache's RAW_ARGS: mod_wsgi itself reads
//! `name=value` pairs where only the *value* may be quoted
//! (`python-path='/a b:/c'`). The parser has already split the line into
//! words at blanks, so a quoted value containing blanks arrives in pieces
//! (`python-path='/a`, `b:/c'`); [`split_options`] glues them back.

use crate::source::{SourceMap, Span};
use crate::syntax::Arg;

/// One `name=value` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawOption {
    pub name: String,
    pub value: String,
    /// The whole `name=value` text.
    pub span: Span,
    /// The name only (falls back to `span` when it cannot be located).
    pub name_span: Span,
    /// The value only (falls back to `span`).
    pub value_span: Span,
}

/// A word that is not `name=value` (mod_wsgi: "Invalid option …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub text: String,
    pub span: Span,
    pub why: &'static str,
}

/// Parse the option words `args` (those after the positional arguments).
pub(crate) fn split_options(args: &[Arg], sources: &SourceMap) -> (Vec<RawOption>, Vec<Malformed>) {
    let mut options = Vec::new();
    let mut malformed = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        // The parser unquoted a fully quoted word; mod_wsgi sees the quote
        // as the first character of the option name.
        if arg.quoted {
            malformed.push(Malformed {
                text: raw_text(arg, sources),
                span: arg.span,
                why: "only the value may be quoted",
            });
            continue;
        }
        let text = arg.value.as_str();
        let Some(eq) = text.find('=') else {
            malformed.push(Malformed {
                text: text.to_string(),
                span: arg.span,
                why: "not of the form name=value",
            });
            continue;
        };
        if eq == 0 {
            malformed.push(Malformed {
                text: text.to_string(),
                span: arg.span,
                why: "the option name is missing",
            });
            continue;
        }
        let name = text[..eq].to_string();
        let rest = &text[eq + 1..];
        let exact = arg.span.range().len() == text.len();
        let sub = |a: usize, b: usize| {
            if exact {
                Span::new(
                    arg.span.file,
                    arg.span.start as usize + a,
                    arg.span.start as usize + b,
                )
            } else {
                arg.span
            }
        };
        let name_span = sub(0, eq);
        let q = rest.chars().next().filter(|c| *c == '\'' || *c == '"');
        let Some(q) = q else {
            options.push(RawOption {
                name,
                value: rest.to_string(),
                span: arg.span,
                name_span,
                value_span: sub(eq + 1, text.len()),
            });
            continue;
        };
        // Quoted value: collect until the closing quote, across words.
        let mut buf = rest[1..].to_string();
        let mut span = arg.span;
        let mut prev_end = arg.span;
        let mut closed = closing_quote(&buf, q);
        while closed.is_none() && i < args.len() {
            let next = &args[i];
            i += 1;
            buf.push_str(&gap(prev_end, next.span, sources));
            buf.push_str(&raw_text(next, sources));
            span = span.to(next.span);
            prev_end = next.span;
            closed = closing_quote(&buf, q);
        }
        let value = match closed {
            Some(end) => unescape(&buf[..end], q),
            // Unterminated: Apache takes the rest of the line.
            None => unescape(&buf, q),
        };
        let value_span = if span == arg.span {
            sub(eq + 1, text.len())
        } else {
            Span::new(
                span.file,
                arg.span.start as usize + eq + 1,
                span.end as usize,
            )
        };
        options.push(RawOption {
            name,
            value,
            span,
            name_span,
            value_span,
        });
    }
    (options, malformed)
}

/// Byte index of the first unescaped `q` in `s`.
fn closing_quote(s: &str, q: char) -> Option<usize> {
    let b = s.as_bytes();
    let mut j = 0;
    while j < b.len() {
        if b[j] == b'\\' && j + 1 < b.len() && b[j + 1] == q as u8 {
            j += 2;
        } else if b[j] == q as u8 {
            return Some(j);
        } else {
            j += 1;
        }
    }
    None
}

fn unescape(s: &str, q: char) -> String {
    let escaped = format!("\\{q}");
    s.replace(&escaped, &q.to_string())
}

/// The word as written in the file when that is available and free of
/// `${…}` (whose expansion the parser already did), else its value.
fn raw_text(arg: &Arg, sources: &SourceMap) -> String {
    let raw = sources.snippet(arg.span);
    if !raw.is_empty() && !raw.contains("${") && !raw.contains('\n') {
        raw.to_string()
    } else if arg.quoted {
        format!("\"{}\"", arg.value)
    } else {
        arg.value.clone()
    }
}

/// The blanks between two words as written (one space if unknown).
fn gap(a: Span, b: Span, sources: &SourceMap) -> String {
    if a.file == b.file && a.end <= b.start {
        let s = sources.snippet(Span::new(a.file, a.end as usize, b.start as usize));
        if !s.is_empty() && s.bytes().all(|c| c == b' ' || c == b'\t') {
            return s.to_string();
        }
    }
    " ".to_string()
}

pub(crate) use crate::text::{atoi64, closest};

/// Whether `s` is a plain whole number (so `atoi` reads all of it).
pub(crate) fn is_plain_int(s: &str, max_digits: usize) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && t.len() <= max_digits
}
