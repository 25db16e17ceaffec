//! What the logs are made of, read once at configuration time:
//! mod_log_config's `LogFormat` strings parsed into [`LogFormat`] items,
//! `CustomLog`'s `env=` conditions, and `LogLevel`'s per-module levels.
//!
//! ```text
//!  LogFormat "%h %l %u %t \"%r\" %>s %b" common
//!      └─ parse_log_format ─▶ [Field(ClientHost), Text(" "), Field(RemoteLogname), …]
//!                                   │ (the front end renders one line per request)
//!  CustomLog logs/access_log common env=!dontlog
//!      └─ target, LogFormat, LogCondition::Env { name: "dontlog", negated: true }
//! ```
//!
//! The parser follows mod_log_config's `parse_log_item`: `%` then any
//! number of modifiers (`!`, `<`, `>`, `,`, status codes, `{argument}`)
//! then one letter (or `^` and two letters); text between fields has
//! its `\n`, `\r`, `\t` and `\\` escapes replaced. An unknown letter is
//! httpd's own error, `Unrecognized LogFormat directive %Z`.

use quill_mpm::LogLevel;
use serde::{Deserialize, Serialize};

/// A parsed log format: text and fields, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogFormat {
    pub items: Vec<LogItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogItem {
    /// Written as it is.
    Text(String),
    Field(Field),
}

/// One `%…x` of a format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub kind: FieldKind,
    /// `%400,501{User-agent}i`: the field is written only for these
    /// statuses (`-` otherwise); with `negated` (`%!200…`), only for the
    /// others. Empty: always.
    pub statuses: Vec<u16>,
    pub negated: bool,
}

impl Field {
    /// Whether the field is written for a response with `status` (else
    /// `-` stands in its place), as mod_log_config's status conditions.
    pub fn applies_to(&self, status: u16) -> bool {
        if self.statuses.is_empty() {
            return true;
        }
        self.statuses.contains(&status) != self.negated
    }
}

/// What a field writes. Quill never redirects a request internally, so
/// `%<s`, `%s` and `%>s` are the one status, and `<`/`>` change nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldKind {
    /// `%a`: the client's IP address (mod_remoteip's, when it applies).
    ClientIp,
    /// `%{c}a`: the connection's peer's IP address.
    PeerIp,
    /// `%A`: the local IP address the request arrived at.
    LocalIp,
    /// `%B`: response body bytes.
    BodyBytes,
    /// `%b`: response body bytes, `-` for none (CLF).
    BodyBytesClf,
    /// `%{NAME}C`: a cookie of the request.
    Cookie(String),
    /// `%D`: the time taken, in microseconds.
    Micros,
    /// `%{NAME}e`: a variable of the request's environment (SetEnvIf).
    Env(String),
    /// `%h`: the client's host: its IP address (no HostnameLookups).
    ClientHost,
    /// `%{c}h`: the peer's host.
    PeerHost,
    /// `%H`: the request's protocol (`HTTP/1.1`).
    Protocol,
    /// `%{NAME}i`: a request header.
    RequestHeader(String),
    /// `%k`: requests already answered on this connection before this one.
    KeepAlives,
    /// `%l`: the remote logname (identd): always `-`.
    RemoteLogname,
    /// `%L`: the request's error-log id: always `-` (Quill's error-log
    /// lines carry none).
    LogId,
    /// `%m`: the request method.
    Method,
    /// `%{NAME}o`: a response header.
    ResponseHeader(String),
    /// `%p`, `%{canonical}p`, `%{local}p`: the port the request arrived
    /// at; `%{remote}p`: the peer's port.
    Port(PortKind),
    /// `%P`, `%{pid}P`, `%{tid}P`, `%{hextid}P`.
    Process(ProcessKind),
    /// `%q`: `?` and the query string, or nothing.
    Query,
    /// `%r`: the request line.
    RequestLine,
    /// `%s`, `%>s`, `%<s`: the status.
    Status,
    /// `%t`, `%{format}t`.
    Time(TimeFormat),
    /// `%T`, `%{ms}T`, `%{us}T`, `%{s}T`: the time taken.
    Taken(TakenUnit),
    /// `%u`: the authenticated user: `-` (Quill authenticates nobody).
    User,
    /// `%U`: the URL path, %-decoded, without the query string.
    UrlPath,
    /// `%v`: the ServerName of the server that answered.
    ServerName,
    /// `%V`: the host the request named (its Host), else the ServerName.
    RequestServerName,
    /// `%X`: the connection when the response was done: `X` aborted,
    /// `+` may be kept alive, `-` closed after it.
    ConnStatus,
    /// `%O` (mod_logio): bytes sent, head and body. The head is counted as
    /// Quill hands it to hyper, plus the `Date` field hyper adds.
    BytesSent,
    /// A field httpd knows but Quill does not fill (`%f`, `%R`, `%{…}n`,
    /// mod_logio's `%I`, `%S` and `%^FB`, mod_ssl's `%{…}x` and `%{…}c`,
    /// `%^ti`, `%^to`, an argument Quill does not know): written as `-`.
    /// (Those of mod_logio and mod_ssl are read whether or not the module
    /// is loaded.)
    /// It holds the field as written.
    Unfilled(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortKind {
    Local,
    Remote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcessKind {
    Pid,
    Tid,
    HexTid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TakenUnit {
    Seconds,
    Millis,
    Micros,
}

/// `%t` and `%{format}t`: when (the request's start, or with `end:` the
/// time the line is written) and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeFormat {
    pub at_end: bool,
    pub style: TimeStyle,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeStyle {
    /// `[10/Oct/2000:13:55:36 -0700]`.
    Clf,
    /// `sec`, `msec`, `usec`: since the epoch.
    Sec,
    Msec,
    Usec,
    /// `msec_frac`, `usec_frac`: the fraction of the second.
    MsecFrac,
    UsecFrac,
    /// A strftime(3) format, in local time.
    Strftime(String),
}

/// A format's parse: the format, or httpd's error message.
pub type ParsedFormat = Result<Parsed, String>;

/// A format that parsed, and what Quill will not fill in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub format: LogFormat,
    /// One sentence per field written as `-` ([`FieldKind::Unfilled`]).
    pub unfilled: Vec<String>,
}

/// Parses a `LogFormat` / `CustomLog` format string (after the
/// configuration's own unquoting) as mod_log_config does.
pub fn parse_log_format(s: &str) -> ParsedFormat {
    let mut items = Vec::new();
    let mut unfilled = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        match rest.strip_prefix('%') {
            None => {
                let end = rest.find('%').unwrap_or(rest.len());
                let text = unescape_text(&rest[..end]);
                push_text(&mut items, &text);
                rest = &rest[end..];
            }
            Some(after) => {
                if let Some(r) = after.strip_prefix('%') {
                    push_text(&mut items, "%");
                    rest = r;
                    continue;
                }
                let (field, r) = parse_field(after)?;
                if let FieldKind::Unfilled(what) = &field.kind {
                    unfilled.push(format!("Quill writes `-` for `{what}`"));
                }
                items.push(LogItem::Field(field));
                rest = r;
            }
        }
    }
    Ok(Parsed {
        format: LogFormat { items },
        unfilled,
    })
}

fn push_text(items: &mut Vec<LogItem>, text: &str) {
    if let Some(LogItem::Text(t)) = items.last_mut() {
        t.push_str(text);
    } else if !text.is_empty() {
        items.push(LogItem::Text(text.to_string()));
    }
}

/// mod_log_config's escapes in the text between fields: `\\`, `\r`,
/// `\n`, `\t`; any other backslash stays.
fn unescape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    out
}

/// One field after its `%`: modifiers, then the letter; returns the rest.
fn parse_field(s: &str) -> Result<(Field, &str), String> {
    let mut statuses = Vec::new();
    let mut negated = false;
    let mut arg: Option<String> = None;
    let mut rest = s;
    loop {
        let Some(c) = rest.chars().next() else {
            return Err("Ran off end of LogFormat parsing args to some directive".into());
        };
        match c {
            '!' => {
                negated = !negated;
                rest = &rest[1..];
            }
            '<' | '>' | ',' => rest = &rest[1..],
            '{' => {
                let inner = &rest[1..];
                let (a, r) = inner.split_once('}').unwrap_or((inner, ""));
                arg = Some(a.to_string());
                rest = r;
            }
            '0'..='9' => {
                let end = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                // (A number too large for a status matches none.)
                statuses.push(rest[..end].parse::<u16>().unwrap_or(0));
                rest = &rest[end..];
            }
            '^' if matches!(rest.get(1..3), Some("ti" | "to" | "FB")) => {
                let kind = FieldKind::Unfilled(format!("%{}", &rest[..3]));
                let field = Field {
                    kind,
                    statuses,
                    negated,
                };
                return Ok((field, &rest[3..]));
            }
            letter => {
                let kind = field_kind(letter, arg.as_deref())
                    .ok_or_else(|| format!("Unrecognized LogFormat directive %{letter}"))?;
                let field = Field {
                    kind,
                    statuses,
                    negated,
                };
                return Ok((field, &rest[letter.len_utf8()..]));
            }
        }
    }
}

/// The field of `letter` with its `{argument}`; `None` for a letter
/// mod_log_config (with mod_logio) does not know.
fn field_kind(letter: char, arg: Option<&str>) -> Option<FieldKind> {
    let a = arg.unwrap_or("");
    let written = || match arg {
        Some(a) => format!("%{{{a}}}{letter}"),
        None => format!("%{letter}"),
    };
    Some(match letter {
        'a' if a == "c" => FieldKind::PeerIp,
        'a' => FieldKind::ClientIp,
        'A' => FieldKind::LocalIp,
        'B' => FieldKind::BodyBytes,
        'b' => FieldKind::BodyBytesClf,
        'C' => FieldKind::Cookie(a.to_string()),
        'D' => FieldKind::Micros,
        'e' => FieldKind::Env(a.to_string()),
        'h' if a == "c" => FieldKind::PeerHost,
        'h' => FieldKind::ClientHost,
        'H' => FieldKind::Protocol,
        'i' => FieldKind::RequestHeader(a.to_string()),
        'k' => FieldKind::KeepAlives,
        'l' => FieldKind::RemoteLogname,
        'L' => FieldKind::LogId,
        'm' => FieldKind::Method,
        'o' => FieldKind::ResponseHeader(a.to_string()),
        'p' => match a.to_ascii_lowercase().as_str() {
            "" | "canonical" | "local" => FieldKind::Port(PortKind::Local),
            "remote" => FieldKind::Port(PortKind::Remote),
            _ => FieldKind::Unfilled(written()),
        },
        'P' => match a.to_ascii_lowercase().as_str() {
            "" | "pid" => FieldKind::Process(ProcessKind::Pid),
            "tid" => FieldKind::Process(ProcessKind::Tid),
            "hextid" => FieldKind::Process(ProcessKind::HexTid),
            _ => FieldKind::Unfilled(written()),
        },
        'q' => FieldKind::Query,
        'r' => FieldKind::RequestLine,
        's' => FieldKind::Status,
        't' => FieldKind::Time(time_format(a)),
        'T' => match a.to_ascii_lowercase().as_str() {
            "" | "s" => FieldKind::Taken(TakenUnit::Seconds),
            "ms" => FieldKind::Taken(TakenUnit::Millis),
            "us" => FieldKind::Taken(TakenUnit::Micros),
            _ => FieldKind::Unfilled(written()),
        },
        'u' => FieldKind::User,
        'U' => FieldKind::UrlPath,
        'v' => FieldKind::ServerName,
        'V' => FieldKind::RequestServerName,
        'X' => FieldKind::ConnStatus,
        'O' => FieldKind::BytesSent,
        // mod_log_config's own, mod_logio's and mod_ssl's.
        'f' | 'R' | 'n' | 'I' | 'S' | 'x' | 'c' => FieldKind::Unfilled(written()),
        _ => return None,
    })
}

fn time_format(arg: &str) -> TimeFormat {
    let (at_end, f) = if let Some(f) = arg.strip_prefix("begin:") {
        (false, f)
    } else if let Some(f) = arg.strip_prefix("end:") {
        (true, f)
    } else {
        (false, arg)
    };
    let style = match f {
        "" => TimeStyle::Clf,
        "sec" => TimeStyle::Sec,
        "msec" => TimeStyle::Msec,
        "usec" => TimeStyle::Usec,
        "msec_frac" => TimeStyle::MsecFrac,
        "usec_frac" => TimeStyle::UsecFrac,
        f => TimeStyle::Strftime(f.to_string()),
    };
    TimeFormat { at_end, style }
}

impl LogFormat {
    /// Every request header the format writes, as named in it.
    pub fn request_headers(&self) -> impl Iterator<Item = &str> {
        self.fields().filter_map(|f| match &f.kind {
            FieldKind::RequestHeader(h) => Some(h.as_str()),
            _ => None,
        })
    }

    /// Every response header the format writes.
    pub fn response_headers(&self) -> impl Iterator<Item = &str> {
        self.fields().filter_map(|f| match &f.kind {
            FieldKind::ResponseHeader(h) => Some(h.as_str()),
            _ => None,
        })
    }

    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.items.iter().filter_map(|i| match i {
            LogItem::Field(f) => Some(f),
            LogItem::Text(_) => None,
        })
    }
}

/// `CustomLog … env=[!]NAME`: log a request only when its environment
/// has (or, negated, lacks) the variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCondition {
    pub variable: String,
    pub negated: bool,
}

impl LogCondition {
    /// Reads a CustomLog's third argument; the error is httpd's.
    pub fn parse(arg: &str) -> Result<LogCondition, ConditionError> {
        if let Some(v) = arg.strip_prefix("env=") {
            let (negated, variable) = match v.strip_prefix('!') {
                Some(v) => (true, v),
                None => (false, v),
            };
            return Ok(LogCondition {
                variable: variable.to_string(),
                negated,
            });
        }
        if arg.starts_with("expr=") {
            return Err(ConditionError::Expression);
        }
        Err(ConditionError::Syntax)
    }

    /// Whether a request whose environment `has` the variable is logged.
    pub fn logs(&self, has: bool) -> bool {
        has != self.negated
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionError {
    /// `expr=`: an ap_expr, which Quill does not evaluate.
    Expression,
    /// Neither `env=` nor `expr=` (httpd: "error in condition clause").
    Syntax,
}

/// `LogLevel level [module:level] …` after every LogLevel line of a
/// server (a virtual host's start from the main server's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLevels {
    pub level: LogLevel,
    /// Per module, by its short name (`wsgi`, `core`, `http`…).
    pub modules: Vec<(String, LogLevel)>,
}

impl Default for LogLevels {
    /// httpd's default: `warn` for every module.
    fn default() -> Self {
        LogLevels {
            level: LogLevel::Warn,
            modules: Vec::new(),
        }
    }
}

impl LogLevels {
    /// Applies one LogLevel line's words (already checked by the
    /// resolver: known levels, loaded modules); a word that does not read
    /// is skipped.
    pub fn apply<'a>(&mut self, words: impl IntoIterator<Item = &'a str>) {
        for w in words {
            match w.split_once(':') {
                None => {
                    if let Ok(l) = w.parse() {
                        self.level = l;
                    }
                }
                Some((m, l)) => {
                    if let Ok(l) = l.parse() {
                        let m = m.to_ascii_lowercase();
                        self.modules.retain(|(n, _)| *n != m);
                        self.modules.push((m, l));
                    }
                }
            }
        }
    }

    /// The level of `module`'s lines.
    pub fn for_module(&self, module: &str) -> LogLevel {
        self.modules
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(module))
            .map_or(self.level, |(_, l)| *l)
    }

    /// The most verbose level any module logs at.
    pub fn most_verbose(&self) -> LogLevel {
        self.modules
            .iter()
            .map(|(_, l)| *l)
            .fold(self.level, std::cmp::max)
    }
}

/// The formats Debian's apache2.conf names, for help texts.
pub const DEBIAN_FORMATS: &[(&str, &str)] = &[
    (
        "vhost_combined",
        r#"%v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\""#,
    ),
    (
        "combined",
        r#"%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\""#,
    ),
    ("common", r#"%h %l %u %t \"%r\" %>s %O"#),
    ("referer", r#"%{Referer}i -> %U"#),
    ("agent", r#"%{User-agent}i"#),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> LogFormat {
        match parse_log_format(s) {
            Ok(p) => p.format,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn field(kind: FieldKind) -> LogItem {
        LogItem::Field(Field {
            kind,
            statuses: Vec::new(),
            negated: false,
        })
    }

    fn text(s: &str) -> LogItem {
        LogItem::Text(s.into())
    }

    #[test]
    fn the_common_format_reads_as_fields_and_text() {
        let f = parse(r#"%h %l %u %t "%r" %>s %b"#);
        assert_eq!(
            f.items,
            vec![
                field(FieldKind::ClientHost),
                text(" "),
                field(FieldKind::RemoteLogname),
                text(" "),
                field(FieldKind::User),
                text(" "),
                field(FieldKind::Time(TimeFormat {
                    at_end: false,
                    style: TimeStyle::Clf
                })),
                text(" \""),
                field(FieldKind::RequestLine),
                text("\" "),
                field(FieldKind::Status),
                text(" "),
                field(FieldKind::BodyBytesClf),
            ]
        );
    }

    #[test]
    fn arguments_and_their_letters() {
        let f = parse("%{c}a %a %{c}h %{X-Id}i %{Set-Cookie}o %{remote}p %{tid}P %{ms}T %{sid}C");
        let kinds: Vec<FieldKind> = f.fields().map(|f| f.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                FieldKind::PeerIp,
                FieldKind::ClientIp,
                FieldKind::PeerHost,
                FieldKind::RequestHeader("X-Id".into()),
                FieldKind::ResponseHeader("Set-Cookie".into()),
                FieldKind::Port(PortKind::Remote),
                FieldKind::Process(ProcessKind::Tid),
                FieldKind::Taken(TakenUnit::Millis),
                FieldKind::Cookie("sid".into()),
            ]
        );
    }

    #[test]
    fn time_formats_begin_end_and_strftime() {
        let f = parse("%{end:%Y-%m-%d}t %{msec_frac}t %{begin:sec}t");
        let kinds: Vec<FieldKind> = f.fields().map(|f| f.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                FieldKind::Time(TimeFormat {
                    at_end: true,
                    style: TimeStyle::Strftime("%Y-%m-%d".into())
                }),
                FieldKind::Time(TimeFormat {
                    at_end: false,
                    style: TimeStyle::MsecFrac
                }),
                FieldKind::Time(TimeFormat {
                    at_end: false,
                    style: TimeStyle::Sec
                }),
            ]
        );
    }

    #[test]
    fn status_conditions_and_negation() {
        let f = parse("%400,501{User-agent}i %!200,304{Referer}i");
        let fields: Vec<&Field> = f.fields().collect();
        assert_eq!(fields[0].statuses, vec![400, 501]);
        assert!(fields[0].applies_to(400) && !fields[0].applies_to(200));
        assert!(fields[1].negated);
        assert!(!fields[1].applies_to(304) && fields[1].applies_to(500));
    }

    #[test]
    fn percent_and_backslash_escapes_in_text() {
        let f = parse(r"100%% \t\n\\ \q");
        assert_eq!(f.items, vec![text("100% \t\n\\ \\q")]);
    }

    #[test]
    fn unknown_letters_are_httpds_error() {
        assert_eq!(
            parse_log_format("%h %Z").map(|p| p.format),
            Err("Unrecognized LogFormat directive %Z".to_string())
        );
        assert_eq!(
            parse_log_format("%{Referer").map(|p| p.format),
            Err("Ran off end of LogFormat parsing args to some directive".to_string())
        );
        assert!(parse_log_format("trailing %").is_err());
    }

    #[test]
    fn fields_quill_does_not_fill_are_named() {
        let p = parse_log_format("%f %^ti %{x}n %I").expect("parses");
        assert_eq!(p.unfilled.len(), 4, "{:?}", p.unfilled);
        assert!(p.unfilled[1].contains("%^ti"), "{:?}", p.unfilled);
    }

    #[test]
    fn debians_formats_parse_without_unfilled_fields() {
        for (nick, f) in DEBIAN_FORMATS {
            // The configuration's unquoting turns \" into ".
            let p = parse_log_format(&f.replace("\\\"", "\"")).expect(nick);
            assert!(p.unfilled.is_empty(), "{nick}: {:?}", p.unfilled);
        }
    }

    #[test]
    fn conditions_read_env_and_refuse_the_rest() {
        assert_eq!(
            LogCondition::parse("env=!dontlog"),
            Ok(LogCondition {
                variable: "dontlog".into(),
                negated: true
            })
        );
        let c = LogCondition::parse("env=api").expect("env");
        assert!(c.logs(true) && !c.logs(false));
        assert_eq!(
            LogCondition::parse("expr=%{REQUEST_URI} =~ /x/"),
            Err(ConditionError::Expression)
        );
        assert_eq!(LogCondition::parse("dontlog"), Err(ConditionError::Syntax));
    }

    #[test]
    fn log_levels_per_module() {
        let mut l = LogLevels::default();
        l.apply(["info", "wsgi:debug", "core:error"]);
        assert_eq!(l.for_module("wsgi"), LogLevel::Debug);
        assert_eq!(l.for_module("core"), LogLevel::Error);
        assert_eq!(l.for_module("http"), LogLevel::Info);
        assert_eq!(l.most_verbose(), LogLevel::Debug);
        // A later line changes what it names and keeps the rest.
        l.apply(["warn"]);
        assert_eq!(l.for_module("http"), LogLevel::Warn);
        assert_eq!(l.for_module("wsgi"), LogLevel::Debug);
    }

    proptest::proptest! {
        /// Whatever the text, the parser answers (a format or an error)
        /// and never panics; a text without `%` is one Text item.
        #[test]
        fn any_text_parses_or_errs(s in "\\PC{0,40}") {
            let r = parse_log_format(&s);
            if !s.contains('%') && !s.contains('\\') {
                let f = r.expect("plain text").format;
                let want = if s.is_empty() { vec![] } else { vec![LogItem::Text(s.clone())] };
                proptest::prop_assert_eq!(f.items, want);
            }
        }
    }
}
