//! Access-log lines: what a request's line needs, gathered as the request
//! arrives ([`Arrival`]) and once it is answered ([`AccessGuard`]), then
//! written with each CustomLog's format of the server that answered when
//! the response body ends or is dropped (the client gone: `%X` is `X`).
//!
//! Values are escaped as httpd's `ap_escape_logitem` escapes them: `"`,
//! `\` and every byte that is not printable ASCII, as `\"`, `\\`, `\n`,
//! `\xhh`…, so a line is always one line.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use http::header::{self, HeaderName};
use http::{Method, Request, Response, Version};
use quill_config::logs::{
    FieldKind, LogFormat, LogItem, PortKind, ProcessKind, TakenUnit, TimeStyle,
};

use crate::logging::{AccessSink, SiteSinks};

/// The request and response headers some format of some server writes
/// (the only ones copied per request).
#[derive(Debug, Default)]
pub(super) struct Needs {
    request: Vec<HeaderName>,
    response: Vec<HeaderName>,
    /// Some server has an access log.
    pub(super) any: bool,
}

impl Needs {
    pub(super) fn of(sites: &[SiteSinks]) -> Needs {
        let mut n = Needs::default();
        let add = |list: &mut Vec<HeaderName>, name: &str| {
            if let Ok(h) = HeaderName::from_bytes(name.as_bytes()) {
                if !list.contains(&h) {
                    list.push(h);
                }
            }
        };
        for sink in sites.iter().flat_map(|s| &s.access) {
            n.any = true;
            for f in sink.format.fields() {
                match &f.kind {
                    FieldKind::RequestHeader(h) => add(&mut n.request, h),
                    FieldKind::Cookie(_) => add(&mut n.request, "cookie"),
                    FieldKind::ResponseHeader(h) => add(&mut n.response, h),
                    _ => {}
                }
            }
        }
        n
    }
}

/// What is known of a request when it arrives.
pub(super) struct Arrival {
    time: DateTime<Local>,
    started: Instant,
    method: Method,
    /// The request target as sent (path and query).
    target: String,
    version: Version,
    /// The request head was refused before it was read whole: `%r` is
    /// `-`.
    refused: bool,
    peer: SocketAddr,
    local: SocketAddr,
    host: Option<String>,
    headers: Vec<(HeaderName, String)>,
    keepalives: u64,
    /// The request's Connection field says `close`…
    connection_close: bool,
    /// … or `keep-alive`.
    connection_keep_alive: bool,
}

impl Arrival {
    pub(super) fn new<B>(
        req: &Request<B>,
        needs: &Needs,
        peer: SocketAddr,
        local: SocketAddr,
        keepalives: u64,
        refused: bool,
    ) -> Arrival {
        let text = |v: &http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        let connection = |word: &str| {
            req.headers()
                .get_all(header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(word))
        };
        let (connection_close, connection_keep_alive) =
            (connection("close"), connection("keep-alive"));
        let mut headers = Vec::new();
        for name in &needs.request {
            // httpd merges a repeated request header into one value.
            let values: Vec<String> = req.headers().get_all(name).iter().map(text).collect();
            if !values.is_empty() {
                headers.push((name.clone(), values.join(", ")));
            }
        }
        Arrival {
            time: Local::now(),
            started: Instant::now(),
            method: req.method().clone(),
            target: req
                .uri()
                .path_and_query()
                .map_or_else(|| req.uri().to_string(), |p| p.as_str().to_string()),
            version: req.version(),
            refused,
            peer,
            local,
            host: req
                .uri()
                .authority()
                .map(|a| a.host().to_string())
                .or_else(|| req.headers().get(header::HOST).map(text)),
            headers,
            keepalives,
            connection_close,
            connection_keep_alive,
        }
    }
}

impl Arrival {
    /// The request headers as mod_remoteip left them (`%{…}i` writes what
    /// the request has when it is logged).
    pub(super) fn rewrite(&mut self, rewritten: Vec<(HeaderName, Option<String>)>) {
        for (name, value) in rewritten {
            self.headers.retain(|(n, _)| *n != name);
            if let Some(v) = value {
                self.headers.push((name, v));
            }
        }
    }
}

/// Writes the request's lines when the response body ends or is dropped.
pub(super) struct AccessGuard {
    arrival: Arrival,
    sinks: Vec<AccessSink>,
    server_name: String,
    client: IpAddr,
    status: u16,
    response_headers: Vec<(HeaderName, String)>,
    head_bytes: u64,
    /// The connection is closed after this response.
    closing: bool,
    /// Body bytes sent so far.
    pub(super) bytes: u64,
    /// The body was sent whole (else the client went away: `%X` is `X`).
    pub(super) complete: bool,
    /// The request's environment variables (SetEnvIf), for `env=` and `%{…}e`.
    env: Vec<(String, String)>,
}

impl AccessGuard {
    /// `None` when the server that answered has no access log.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new<B: hyper::body::Body>(
        arrival: Arrival,
        site: &SiteSinks,
        server_name: &str,
        client: IpAddr,
        resp: &Response<B>,
        needs: &Needs,
        env: Vec<(String, String)>,
    ) -> Option<AccessGuard> {
        if site.access.is_empty() {
            return None;
        }
        let text = |v: &http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        let mut response_headers = Vec::new();
        for name in &needs.response {
            let values: Vec<String> = resp.headers().get_all(name).iter().map(text).collect();
            if !values.is_empty() {
                response_headers.push((name.clone(), values.join(", ")));
            }
        }
        // The connection closes after this response when the response
        // says so, or the client asked for it (HTTP/1.1 `close`, HTTP/1.0
        // without `keep-alive`), as hyper decides.
        let says = |v: Option<&http::HeaderValue>, word: &str| {
            v.and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(word)))
        };
        let closing = says(resp.headers().get(header::CONNECTION), "close")
            || match arrival.version {
                Version::HTTP_11 => arrival.connection_close,
                Version::HTTP_2 => false,
                _ => !arrival.connection_keep_alive,
            };
        Some(AccessGuard {
            head_bytes: head_size(resp, &arrival.method),
            arrival,
            sinks: site.access.clone(),
            server_name: server_name.to_string(),
            client,
            status: resp.status().as_u16(),
            response_headers,
            closing,
            bytes: 0,
            complete: false,
            env,
        })
    }
}

impl Drop for AccessGuard {
    fn drop(&mut self) {
        let end = Local::now();
        let taken = self.arrival.started.elapsed();
        for sink in &self.sinks {
            if let Some(c) = &sink.condition {
                let has = self.env.iter().any(|(k, _)| *k == c.variable);
                if !c.logs(has) {
                    continue;
                }
            }
            let line = render(&sink.format, self, end, taken);
            sink.file.write_line(&line);
        }
    }
}

/// The size of the response head as hyper writes it: the status line,
/// the fields, the Date field hyper adds, and the framing field it adds
/// (Content-Length for a body of known size, else chunked on HTTP/1.1).
fn head_size<B: hyper::body::Body>(resp: &Response<B>, method: &Method) -> u64 {
    let status = resp.status();
    let reason = status.canonical_reason().unwrap_or("");
    let mut n = "HTTP/1.1 ".len() + 3 + 1 + reason.len() + 2;
    for (name, value) in resp.headers() {
        n += name.as_str().len() + 2 + value.len() + 2;
    }
    if !resp.headers().contains_key(header::DATE) {
        // An IMF-fixdate is always 29 characters.
        n += "date: \r\n".len() + 29;
    }
    let bodiless = *method == Method::HEAD || status.as_u16() == 304 || status.as_u16() == 204;
    if !bodiless && !resp.headers().contains_key(header::CONTENT_LENGTH) {
        n += match resp.body().size_hint().exact() {
            Some(len) => "content-length: \r\n".len() + len.to_string().len(),
            None if !resp.headers().contains_key(header::TRANSFER_ENCODING) => {
                "transfer-encoding: chunked\r\n".len()
            }
            None => 0,
        };
    }
    (n + 2) as u64
}

/// One line of `format` for the request `g`, ending with a newline.
fn render(format: &LogFormat, g: &AccessGuard, end: DateTime<Local>, taken: Duration) -> Vec<u8> {
    let a = &g.arrival;
    let mut out: Vec<u8> = Vec::with_capacity(256);
    for item in &format.items {
        let f = match item {
            LogItem::Text(t) => {
                out.extend_from_slice(t.as_bytes());
                continue;
            }
            LogItem::Field(f) => f,
        };
        if !f.applies_to(g.status) {
            out.push(b'-');
            continue;
        }
        let mut num = |n: u128| out.extend_from_slice(n.to_string().as_bytes());
        match &f.kind {
            FieldKind::ClientIp | FieldKind::ClientHost => {
                num_text(&mut out, &g.client.to_string())
            }
            FieldKind::PeerIp | FieldKind::PeerHost => num_text(&mut out, &a.peer.ip().to_string()),
            FieldKind::LocalIp => num_text(&mut out, &a.local.ip().to_string()),
            FieldKind::BodyBytes => num(g.bytes.into()),
            FieldKind::BodyBytesClf if g.bytes == 0 => out.push(b'-'),
            FieldKind::BodyBytesClf => num(g.bytes.into()),
            FieldKind::Cookie(name) => {
                let cookie = header_of(&a.headers, &header::COOKIE).and_then(|c| {
                    c.split(';').find_map(|kv| {
                        let (k, v) = kv.trim().split_once('=')?;
                        (k == name).then_some(v)
                    })
                });
                escaped(&mut out, cookie);
            }
            FieldKind::Micros => num(taken.as_micros()),
            FieldKind::Env(name) => {
                let v = g
                    .env
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str());
                escaped(&mut out, v);
            }
            FieldKind::Protocol => num_text(&mut out, version_str(a.version)),
            FieldKind::RequestHeader(name) => {
                let v = HeaderName::from_bytes(name.as_bytes())
                    .ok()
                    .and_then(|h| header_of(&a.headers, &h));
                escaped(&mut out, v);
            }
            FieldKind::KeepAlives => num(a.keepalives.into()),
            FieldKind::RemoteLogname
            | FieldKind::LogId
            | FieldKind::User
            | FieldKind::Unfilled(_) => out.push(b'-'),
            FieldKind::Method => escaped(&mut out, Some(a.method.as_str())),
            FieldKind::ResponseHeader(name) => {
                let v = HeaderName::from_bytes(name.as_bytes())
                    .ok()
                    .and_then(|h| header_of(&g.response_headers, &h));
                escaped(&mut out, v);
            }
            FieldKind::Port(PortKind::Local) => num(a.local.port().into()),
            FieldKind::Port(PortKind::Remote) => num(a.peer.port().into()),
            FieldKind::Process(ProcessKind::Pid) => num(std::process::id().into()),
            FieldKind::Process(ProcessKind::Tid) => {
                num(u128::try_from(nix::unistd::gettid().as_raw()).unwrap_or(0))
            }
            FieldKind::Process(ProcessKind::HexTid) => {
                let tid = nix::unistd::gettid().as_raw();
                num_text(&mut out, &format!("{tid:x}"));
            }
            FieldKind::Query => {
                if let Some((_, q)) = a.target.split_once('?') {
                    out.push(b'?');
                    escaped(&mut out, Some(q));
                }
            }
            FieldKind::RequestLine if a.refused => out.push(b'-'),
            FieldKind::RequestLine => {
                let line = format!("{} {} {}", a.method, a.target, version_str(a.version));
                escaped(&mut out, Some(&line));
            }
            FieldKind::Status => num(g.status.into()),
            FieldKind::Time(t) => {
                let at = if t.at_end { end } else { a.time };
                let us = at.timestamp_micros();
                match &t.style {
                    TimeStyle::Clf => {
                        num_text(&mut out, &at.format("[%d/%b/%Y:%H:%M:%S %z]").to_string())
                    }
                    TimeStyle::Sec => num_text(&mut out, &at.timestamp().to_string()),
                    TimeStyle::Msec => num_text(&mut out, &(us / 1000).to_string()),
                    TimeStyle::Usec => num_text(&mut out, &us.to_string()),
                    TimeStyle::MsecFrac => {
                        num_text(&mut out, &format!("{:03}", us.rem_euclid(1_000_000) / 1000))
                    }
                    TimeStyle::UsecFrac => {
                        num_text(&mut out, &format!("{:06}", us.rem_euclid(1_000_000)))
                    }
                    TimeStyle::Strftime(s) => {
                        // (Checked when the plan was made; a format that
                        // still fails writes `-`.)
                        use std::fmt::Write as _;
                        let mut text = String::new();
                        match write!(text, "{}", at.format(s)) {
                            Ok(()) => escaped(&mut out, Some(&text)),
                            Err(_) => out.push(b'-'),
                        }
                    }
                }
            }
            FieldKind::Taken(unit) => num(match unit {
                TakenUnit::Seconds => taken.as_secs().into(),
                TakenUnit::Millis => taken.as_millis(),
                TakenUnit::Micros => taken.as_micros(),
            }),
            FieldKind::UrlPath => {
                let path = a.target.split('?').next().unwrap_or("");
                escaped(&mut out, Some(&percent_decoded(path)));
            }
            FieldKind::ServerName => escaped(&mut out, Some(&g.server_name)),
            FieldKind::RequestServerName => {
                let host = a.host.as_deref().map(host_without_port);
                escaped(&mut out, Some(host.unwrap_or(&g.server_name)));
            }
            FieldKind::ConnStatus => out.push(match (g.complete, g.closing) {
                (false, _) => b'X',
                (true, true) => b'-',
                (true, false) => b'+',
            }),
            FieldKind::BytesSent => num((g.head_bytes + g.bytes).into()),
        }
    }
    out.push(b'\n');
    out
}

fn header_of<'a>(headers: &'a [(HeaderName, String)], name: &HeaderName) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

/// Text that needs no escaping (numbers, addresses, dates).
fn num_text(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

/// `s` escaped as httpd's `ap_escape_logitem`; `None` is `-`.
fn escaped(out: &mut Vec<u8>, s: Option<&str>) {
    let Some(s) = s else {
        out.push(b'-');
        return;
    };
    for &b in s.as_bytes() {
        let letter = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x0b => b'v',
            0x20..=0x7e => {
                out.push(b);
                continue;
            }
            _ => {
                out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                continue;
            }
        };
        out.push(b'\\');
        out.push(letter);
    }
}

/// `%U`: the path with its %-escapes decoded (a bad escape stays).
fn percent_decoded(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|&c| (c as char).to_digit(16));
        if let (b'%', Some(h), Some(l)) = (b[i], hex(i + 1), hex(i + 2)) {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    host.rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// For the tests: a guard over `arrival` for `format`, written nowhere.
#[cfg(test)]
fn line_for(format: &str, arrival: Arrival, client: IpAddr, status: u16, bytes: u64) -> String {
    let parsed = quill_config::logs::parse_log_format(format).expect("a format");
    let g = AccessGuard {
        arrival,
        sinks: Vec::new(),
        server_name: "www.example".into(),
        client,
        status,
        response_headers: vec![(header::CONTENT_TYPE, "text/html".into())],
        head_bytes: 100,
        closing: false,
        bytes,
        complete: true,
        env: vec![("api".into(), "1".into())],
    };
    let taken = Duration::from_micros(1_234_567);
    let line = render(&parsed.format, &g, g.arrival.time, taken);
    String::from_utf8(line).expect("text")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn arrival(target: &str, headers: &[(&str, &str)]) -> Arrival {
        let mut b = Request::builder().method("GET").uri(target);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(()).expect("request");
        let needs = Needs {
            request: vec![
                HeaderName::from_static("referer"),
                HeaderName::from_static("user-agent"),
                header::COOKIE,
                header::HOST,
            ],
            response: vec![header::CONTENT_TYPE],
            any: true,
        };
        let mut a = Arrival::new(
            &req,
            &needs,
            "10.0.0.9:50000".parse().expect("peer"),
            "127.0.0.1:8080".parse().expect("local"),
            2,
            false,
        );
        a.time = Local
            .with_ymd_and_hms(2024, 10, 11, 14, 32, 52)
            .single()
            .expect("a time");
        a
    }

    #[test]
    fn the_combined_format_as_httpd_writes_it() {
        let a = arrival(
            "/a%20b?x=1",
            &[
                ("User-Agent", "curl/8 \"\u{e9}\""),
                ("Host", "site.example:8080"),
            ],
        );
        let line = line_for(
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#,
            a,
            "203.0.113.7".parse().expect("ip"),
            200,
            0,
        );
        let offset = Local
            .with_ymd_and_hms(2024, 10, 11, 14, 32, 52)
            .single()
            .expect("a time")
            .format("%z")
            .to_string();
        assert_eq!(
            line,
            format!(
                "203.0.113.7 - - [11/Oct/2024:14:32:52 {offset}] \"GET /a%20b?x=1 HTTP/1.1\" 200 - \"-\" \"curl/8 \\\"\\xc3\\xa9\\\"\"\n"
            )
        );
    }

    #[test]
    fn every_field_has_its_value() {
        let a = arrival(
            "/p%2Fq?k=v",
            &[("Cookie", "a=1; sid=xyz"), ("Host", "Site.Example:8080")],
        );
        let line = line_for(
            "%a|%{c}a|%A|%B|%b|%{sid}C|%D|%{api}e|%{none}e|%H|%k|%m|%{Content-Type}o|%p|%{remote}p|%q|%s|%T|%{ms}T|%{us}T|%U|%v|%V|%X|%O|%f|%L|%{sec}t|%{msec_frac}t|%{%Y}t",
            a,
            "203.0.113.7".parse().expect("ip"),
            404,
            12,
        );
        let fields: Vec<&str> = line.trim_end().split('|').collect();
        let want = [
            "203.0.113.7",
            "10.0.0.9",
            "127.0.0.1",
            "12",
            "12",
            "xyz",
            "1234567",
            "1",
            "-",
            "HTTP/1.1",
            "2",
            "GET",
            "text/html",
            "8080",
            "50000",
            "?k=v",
            "404",
            "1",
            "1234",
            "1234567",
            "/p/q",
            "www.example",
            "Site.Example",
            "+",
            "112",
            "-",
            "-",
            "1728649972",
            "000",
            "2024",
        ];
        assert_eq!(fields.len(), want.len(), "{line}");
        for (i, (got, want)) in fields.iter().zip(want).enumerate() {
            if i == 27 {
                // Seconds since the epoch depend on the local zone.
                assert!(got.parse::<i64>().is_ok(), "{line}");
                continue;
            }
            assert_eq!(*got, want, "field {i} of {line}");
        }
    }

    #[test]
    fn status_conditions_write_a_dash() {
        let line = line_for(
            "%404{Referer}i %!404m %200m",
            arrival("/", &[("Referer", "http://r/")]),
            "203.0.113.7".parse().expect("ip"),
            404,
            0,
        );
        assert_eq!(line, "http://r/ - -\n");
    }

    /// `%X` and `%D` through [`AccessGuard::new`] and its drop, written to a
    /// real file.
    #[test]
    fn the_connection_status_follows_request_and_response() {
        let path = std::env::temp_dir().join(format!("quill-access-x-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let target = crate::plan::LogTarget::File(path.clone());
        let format = quill_config::logs::parse_log_format("%X %r").expect("format");
        let site = SiteSinks {
            error: std::sync::Arc::new(crate::log::ErrorLog::new(
                crate::log::Level::Warn,
                Box::new(std::io::sink()),
            )),
            access: vec![AccessSink {
                file: std::sync::Arc::new(crate::logging::LogFile::open(&target).expect("open")),
                format: std::sync::Arc::new(format.format),
                condition: None,
            }],
            remote_ip: Default::default(),
            set_env: Default::default(),
        };
        let needs = Needs::of(std::slice::from_ref(&site));
        let cases = [
            (Version::HTTP_11, None, None, true),
            (Version::HTTP_11, Some("close"), None, true),
            (Version::HTTP_11, None, Some("close"), true),
            (Version::HTTP_10, None, None, true),
            (Version::HTTP_10, Some("Keep-Alive"), None, true),
            (Version::HTTP_11, None, None, false),
        ];
        for (version, asked, answered, whole) in cases {
            let mut b = Request::builder().uri("/").version(version);
            if let Some(c) = asked {
                b = b.header(header::CONNECTION, c);
            }
            let req = b.body(()).expect("request");
            let peer = "127.0.0.1:1".parse().expect("peer");
            let a = Arrival::new(&req, &needs, peer, peer, 0, false);
            let mut r = Response::builder().status(200);
            if let Some(c) = answered {
                r = r.header(header::CONNECTION, c);
            }
            let resp = r.body(super::super::RespBody::empty()).expect("response");
            let mut g = AccessGuard::new(a, &site, "s", peer.ip(), &resp, &needs, Vec::new())
                .expect("a guard");
            g.complete = whole;
        }
        let text = std::fs::read_to_string(&path).expect("the log");
        let _ = std::fs::remove_file(&path);
        let status: Vec<&str> = text.lines().map(|l| &l[..1]).collect();
        assert_eq!(status, ["+", "-", "-", "-", "+", "X"], "{text}");
    }

    #[test]
    fn hosts_lose_their_ports() {
        assert_eq!(host_without_port("a.example:80"), "a.example");
        assert_eq!(host_without_port("[::1]:80"), "::1");
        assert_eq!(host_without_port("a.example"), "a.example");
    }

    #[test]
    fn the_head_is_counted_as_hyper_writes_it() {
        let resp = Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(http_body_util_full(5))
            .expect("response");
        // "HTTP/1.1 200 OK\r\n" 17, content-type 26, date 37,
        // content-length 19, blank line 2.
        assert_eq!(head_size(&resp, &Method::GET), 17 + 26 + 37 + 19 + 2);
    }

    fn http_body_util_full(n: usize) -> super::super::RespBody {
        super::super::RespBody::full(bytes::Bytes::from(vec![b'x'; n]))
    }

    #[test]
    fn escaping_keeps_one_line() {
        let mut out = Vec::new();
        escaped(&mut out, Some("a\"b\\c\nd\u{1}"));
        assert_eq!(out, b"a\\\"b\\\\c\\nd\\x01");
    }
}
