//! Lines and words, as httpd 2.4 reads them.
//!
//! * A physical line ending in `\` (after trailing white space is removed)
//!   continues on the next one; the backslash and line break vanish.
//! * Leading and trailing white space is dropped; empty lines are skipped.
//! * A line whose first character is `#` is a comment. Continuation is
//!   applied *first*, so a comment ending in `\` swallows the next line
//!   (Apache behaves so; we report it).
//! * Words are split on white space; a word starting with `"` or `'` runs to
//!   the matching quote. Inside any word `\\` is one backslash and, inside a
//!   quoted word, `\"` (or `\'`) is the quote; every other backslash stays.
//!
//! Every byte of a [`LogicalLine`] remembers its offset in the file so spans
//! survive continuation and `${VAR}` expansion.

use crate::source::{FileId, Span};

/// One logical line: continuation removed, leading/trailing blanks trimmed.
#[derive(Debug, Clone)]
pub struct LogicalLine {
    pub text: String,
    /// `offsets[i]` is the file offset of `text`'s byte `i`; one extra entry
    /// for the end.
    pub offsets: Vec<u32>,
    /// Offset of the first and one past the last byte in the file.
    pub start: u32,
    pub end: u32,
    /// Number of physical lines this logical line took beyond the first.
    pub continued: u32,
}

impl LogicalLine {
    pub fn span(&self, file: FileId) -> Span {
        Span {
            file,
            start: self.start,
            end: self.end,
        }
    }

    /// File span of bytes `a..b` of `text`.
    pub fn sub_span(&self, file: FileId, a: usize, b: usize) -> Span {
        let at = |i: usize| self.offsets.get(i).copied().unwrap_or(self.end);
        let start = at(a);
        // End at the byte after the last included byte, so spans stay tight
        // even when continuation removed text in between.
        let end = if b > a {
            at(b - 1).saturating_add(1)
        } else {
            start
        };
        Span {
            file,
            start,
            end: end.max(start),
        }
    }
}

/// What the line splitter found besides directives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// A comment line ended with `\` and swallowed the following line(s),
    /// at least one of which was not a comment (or blank) itself.
    CommentSwallowedLine { start: u32, end: u32 },
}

/// Split a file into logical lines, skipping blank and comment lines.
pub fn logical_lines(text: &str) -> (Vec<LogicalLine>, Vec<LineEvent>) {
    let mut out = Vec::new();
    let mut events = Vec::new();
    let bytes = text.as_bytes();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let mut buf = String::new();
        let mut offsets: Vec<u32> = Vec::new();
        let first_start = pos;
        let mut continued = 0u32;
        // Whether some swallowed line (after the first) holds more than a
        // comment or blanks: only then does the continuation change anything.
        let mut swallows_text = false;
        let mut line_end;
        loop {
            let nl = text[pos..].find('\n').map_or(bytes.len(), |i| pos + i);
            line_end = nl;
            let raw = &text[pos..nl];
            if continued > 0 {
                let t = raw.trim_start();
                swallows_text |= !(t.is_empty() || t.starts_with('#'));
            }
            let trimmed = raw.trim_end_matches([' ', '\t', '\r', '\x0b', '\x0c']);
            let (content, cont) = match trimmed.strip_suffix('\\') {
                Some(c) => (c, true),
                None => (trimmed, false),
            };
            buf.push_str(content);
            offsets.extend((0..content.len()).map(|i| to_u32(pos + i)));
            pos = if nl < bytes.len() { nl + 1 } else { nl };
            if cont && pos < bytes.len() {
                continued += 1;
                continue;
            }
            break;
        }
        let lead = buf.len() - buf.trim_start().len();
        let text_trimmed = buf[lead..].trim_end();
        if text_trimmed.is_empty() {
            continue;
        }
        let offs = offsets[lead..lead + text_trimmed.len()].to_vec();
        if text_trimmed.starts_with('#') {
            if swallows_text {
                events.push(LineEvent::CommentSwallowedLine {
                    start: to_u32(first_start),
                    end: to_u32(line_end),
                });
            }
            continue;
        }
        let start = offs.first().copied().unwrap_or(to_u32(first_start));
        let end = offs.last().map_or(start, |&o| o + 1);
        let mut offsets = offs;
        offsets.push(end);
        out.push(LogicalLine {
            text: text_trimmed.to_string(),
            offsets,
            start,
            end,
            continued,
        });
    }
    (out, events)
}

fn to_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// One word of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub value: String,
    /// Byte range in the logical line's text (quotes included).
    pub start: usize,
    pub end: usize,
    pub quoted: bool,
    /// A quoted word whose closing quote is missing (Apache takes the rest of
    /// the line).
    pub unterminated: bool,
}

/// Split `text[from..]` into words the way `ap_getword_conf` does.
pub fn words(text: &str, from: usize) -> Vec<Word> {
    let b = text.as_bytes();
    let mut i = from.min(b.len());
    let mut out = Vec::new();
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        let q = b[i];
        if q == b'"' || q == b'\'' {
            let mut j = i + 1;
            while j < b.len() && b[j] != q {
                if b[j] == b'\\' && j + 1 < b.len() && b[j + 1] == q {
                    j += 2;
                } else {
                    j += 1;
                }
            }
            let unterminated = j >= b.len();
            let inner_end = j.min(b.len());
            let value = unescape(&text[i + 1..inner_end], Some(q));
            let end = if unterminated { b.len() } else { j + 1 };
            out.push(Word {
                value,
                start,
                end,
                quoted: true,
                unterminated,
            });
            i = end;
        } else {
            let mut j = i;
            while j < b.len() && !b[j].is_ascii_whitespace() {
                j += 1;
            }
            out.push(Word {
                value: unescape(&text[i..j], None),
                start,
                end: j,
                quoted: false,
                unterminated: false,
            });
            i = j;
        }
    }
    out
}

fn unescape(s: &str, quote: Option<u8>) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() && (b[i + 1] == b'\\' || Some(b[i + 1]) == quote) {
            out.push(b[i + 1]);
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    // Only ASCII bytes were removed, so the result is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Result of `${NAME}` expansion of one line.
#[derive(Debug, Clone)]
pub struct Expanded {
    pub line: LogicalLine,
    /// Names that were neither defined nor in the environment, with the
    /// byte range of `${NAME}` in the *original* line text.
    pub undefined: Vec<(String, usize, usize)>,
}

/// Expand `${NAME}` over the whole line, once, left to right, like
/// `ap_resolve_env` (httpd resolves the line before splitting it into words,
/// so a value with spaces becomes several arguments). Unknown names stay as
/// written.
pub fn expand_vars(line: &LogicalLine, lookup: &dyn Fn(&str) -> Option<String>) -> Expanded {
    if !line.text.contains("${") {
        return Expanded {
            line: line.clone(),
            undefined: Vec::new(),
        };
    }
    let text = &line.text;
    let mut out = String::with_capacity(text.len());
    let mut offsets = Vec::with_capacity(line.offsets.len());
    let mut undefined = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with("${") {
            if let Some(close) = text[i + 2..].find('}') {
                let name = &text[i + 2..i + 2 + close];
                let whole_end = i + 2 + close + 1;
                if !name.is_empty() {
                    match lookup(name) {
                        Some(v) => {
                            let at = line.offsets[i];
                            out.push_str(&v);
                            offsets.extend(std::iter::repeat_n(at, v.len()));
                        }
                        None => {
                            undefined.push((name.to_string(), i, whole_end));
                            out.push_str(&text[i..whole_end]);
                            offsets.extend_from_slice(&line.offsets[i..whole_end]);
                        }
                    }
                    i = whole_end;
                    continue;
                }
            }
        }
        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + ch_len]);
        offsets.extend_from_slice(&line.offsets[i..i + ch_len]);
        i += ch_len;
    }
    offsets.push(line.end);
    let expanded = LogicalLine {
        text: out,
        offsets,
        start: line.start,
        end: line.end,
        continued: line.continued,
    };
    Expanded {
        line: expanded,
        undefined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(ws: &[Word]) -> Vec<&str> {
        ws.iter().map(|w| w.value.as_str()).collect()
    }

    #[test]
    fn a_comment_swallowing_only_comments_changes_nothing() {
        // Debian's default-ssl.conf, line 126.
        let src = "\t# BrowserMatch \"MSIE [2-6]\" \\\n\t#   nokeepalive ssl-unclean-shutdown \\\n\t#   downgrade-1.0 force-response-1.0\nTimeout 5\n";
        let (lines, events) = logical_lines(src);
        assert_eq!(lines.len(), 1);
        assert_eq!(events, [], "nothing swallowed but comments");
        let (_, events) = logical_lines("# a \\\n# b \\\nKeepAlive Off\n");
        assert_eq!(events.len(), 1, "the third line is a directive");
    }

    #[test]
    fn continuation_comments_and_blank_lines() {
        let src = "# comment\n\n  Listen \\\n   80\nServerName a \t\r\n# swallow \\\nKeepAlive Off\nTimeout 5";
        let (lines, events) = logical_lines(src);
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["Listen    80", "ServerName a", "Timeout 5"]);
        assert_eq!(lines[0].continued, 1);
        assert_eq!(events.len(), 1, "the comment swallowed `KeepAlive Off`");
        // Offsets point back into the file: `80` is on physical line 4.
        let l = &lines[0];
        let at = l.text.find("80").unwrap();
        assert_eq!(
            &src[l.offsets[at] as usize..l.offsets[at] as usize + 2],
            "80"
        );
    }

    #[test]
    fn words_follow_ap_getword_conf() {
        let w = words(
            r#"Header set X "a \"b\" c" 'it\'s' plain\\x back\slash "unterminated x"#,
            0,
        );
        assert_eq!(
            vals(&w),
            [
                "Header",
                "set",
                "X",
                r#"a "b" c"#,
                "it's",
                r"plain\x",
                r"back\slash",
                "unterminated x"
            ]
        );
        assert!(w[3].quoted && !w[3].unterminated);
        assert!(w[7].unterminated);
    }

    #[test]
    fn expansion_happens_on_the_whole_line() {
        let (lines, _) = logical_lines("Listen ${ADDR} ${NOPE}x");
        let e = expand_vars(&lines[0], &|n| {
            (n == "ADDR").then(|| "127.0.0.1:80 8080".to_string())
        });
        assert_eq!(
            vals(&words(&e.line.text, 0)),
            ["Listen", "127.0.0.1:80", "8080", "${NOPE}x"]
        );
        assert_eq!(e.undefined.len(), 1);
        assert_eq!(e.undefined[0].0, "NOPE");
        assert_eq!(e.line.offsets.len(), e.line.text.len() + 1);
    }
}
