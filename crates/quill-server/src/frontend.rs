//! The HTTP front end: HTTP/1.1 with keep-alive (hyper), static files for
//! `Alias`, and proxying of WSGI requests to the daemon groups over the
//! wire protocol with bodies streamed both ways.
//!
//! It owns no processes: it knows each group by socket path and timeouts
//! ([`GroupEndpoint`]), so several front ends can run side by side (the
//! pool controller of a later issue) while one supervisor runs the groups.
//!
//! ```text
//!  accept ─▶ hyper conn ─▶ route ─┬─ Alias ─────────▶ file body
//!                                 ├─ WSGI mount ───▶ connect (retry ≤ connect-timeout, else 503)
//!                                 │                   Head ─▶ [Continue ─▶ body pump task]
//!                                 │                   first frame ≤ socket-timeout (else 504)
//!                                 │                   ResponseHead ─▶ proxied body stream
//!                                 └─ else 404
//! ```

use std::io;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::{Body, Frame as HttpFrame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, UnixStream};
use tokio::sync::watch;

use crate::log::{AccessRecord, ErrorLog, Level};
use crate::plan::{Mount, ServerPlan, StaticAlias};
use crate::protocol::{self, Frame, RequestHead, VERSION};

/// How the front end reaches one daemon group.
#[derive(Debug, Clone)]
pub struct GroupEndpoint {
    pub name: String,
    pub socket_path: PathBuf,
    pub processes: u32,
    pub connect_timeout: Duration,
    pub socket_timeout: Duration,
}

/// Writes access-log lines.
pub type AccessSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Everything a front end serves with.
pub struct FrontEnd {
    pub server_name: String,
    pub document_root: PathBuf,
    pub mounts: Vec<Mount>,
    pub aliases: Vec<StaticAlias>,
    pub groups: Vec<GroupEndpoint>,
    pub limit_request_body: u64,
    pub limit_request_head: usize,
    pub keep_alive: Option<Duration>,
    pub timeout: Duration,
    pub error_log: Arc<ErrorLog>,
    pub access_log: Option<AccessSink>,
}

impl std::fmt::Debug for FrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontEnd")
            .field("mounts", &self.mounts)
            .field("aliases", &self.aliases)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

impl FrontEnd {
    pub fn from_plan(
        plan: &ServerPlan,
        error_log: Arc<ErrorLog>,
        access_log: Option<AccessSink>,
    ) -> FrontEnd {
        FrontEnd {
            server_name: plan.server_name.clone(),
            document_root: plan.document_root.clone(),
            mounts: plan.mounts.clone(),
            aliases: plan.aliases.clone(),
            groups: plan
                .groups
                .iter()
                .map(|g| GroupEndpoint {
                    name: g.spec.group.clone(),
                    socket_path: g.socket_path.clone(),
                    processes: g.spec.processes,
                    connect_timeout: g.connect_timeout,
                    socket_timeout: g.socket_timeout,
                })
                .collect(),
            limit_request_body: plan.limit_request_body,
            limit_request_head: plan.limit_request_head,
            keep_alive: plan.keep_alive,
            timeout: plan.timeout,
            error_log,
            access_log,
        }
    }
}

/// Accepts and serves connections until `shutdown` turns true, then lets
/// open connections finish their current request.
pub async fn serve(listener: TcpListener, fe: Arc<FrontEnd>, mut shutdown: watch::Receiver<bool>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        fe.error_log.log(Level::Error, "core", &format!("accept failed: {e}"));
                        // EMFILE and friends: pause instead of spinning.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().unwrap_or(peer);
                let fe = fe.clone();
                let mut stop = shutdown.clone();
                conns.spawn(async move {
                    let svc_fe = fe.clone();
                    let service = service_fn(move |req| {
                        let fe = svc_fe.clone();
                        async move { Ok::<_, io::Error>(handle(fe, req, peer, local).await) }
                    });
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    builder
                        .timer(TokioTimer::new())
                        .keep_alive(fe.keep_alive.is_some())
                        .header_read_timeout(fe.timeout)
                        .max_buf_size(fe.limit_request_head.max(8192));
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    while conns.join_next().await.is_some() {}
}

type Resp = Response<RespBody>;

async fn handle(
    fe: Arc<FrontEnd>,
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Resp {
    let started = Instant::now();
    let start_time = chrono::Local::now();
    let request_line = format!(
        "{} {} {}",
        req.method(),
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
        version_str(req.version())
    );
    let referer = header_str(&req, header::REFERER);
    let agent = header_str(&req, header::USER_AGENT);
    let access = fe.access_log.clone().map(|sink| AccessInfo {
        sink,
        remote: peer.ip().to_string(),
        request_line,
        time: start_time,
        referer,
        agent,
        started,
    });
    let mut resp = route(&fe, req, peer, local).await;
    if fe.keep_alive.is_none() {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let status = resp.status().as_u16();
    if let Some(a) = access {
        resp.body_mut().set_access(AccessGuard {
            info: a,
            status,
            bytes: 0,
        });
    }
    resp
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_09 => "HTTP/0.9",
        _ => "HTTP/1.1",
    }
}

/// Collapses runs of `/` (mod_wsgi does this for SCRIPT_NAME/PATH_INFO).
fn collapse_slashes(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if b == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(b);
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// `prefix` matches `path` at a segment boundary (`/app` ⊂ `/app/x`, not
/// `/apple`); the root mount (`""`) matches everything.
fn prefix_matches(prefix: &str, path: &[u8]) -> bool {
    let p = prefix.as_bytes();
    path.starts_with(p) && (path.len() == p.len() || path[p.len()] == b'/' || p.is_empty())
}

async fn route(fe: &FrontEnd, req: Request<Incoming>, peer: SocketAddr, local: SocketAddr) -> Resp {
    let raw_path = req.uri().path().to_string();
    let decoded = collapse_slashes(&percent_decode(&raw_path));
    if decoded.first() != Some(&b'/') {
        return error_page(StatusCode::BAD_REQUEST, "");
    }
    // Alias first: mod_alias translates before mod_wsgi.
    for alias in &fe.aliases {
        if prefix_matches(&alias.url, &decoded) {
            return static_file(&req, alias, &decoded[alias.url.len()..]).await;
        }
    }
    for mount in &fe.mounts {
        if prefix_matches(&mount.url, &decoded) {
            let path_info = decoded[mount.url.len()..].to_vec();
            return proxy(fe, mount, req, peer, local, path_info).await;
        }
    }
    error_page(
        StatusCode::NOT_FOUND,
        "The requested URL was not found on this server.",
    )
}

fn error_page(status: StatusCode, detail: &str) -> Resp {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>{code} {reason}</title>\n</head><body>\n<h1>{reason}</h1>\n<p>{detail}</p>\n</body></html>\n",
        code = status.as_u16()
    );
    let mut r = Response::new(RespBody::full(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=iso-8859-1"),
    );
    r
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("html" | "htm") => "text/html",
        Some("css") => "text/css",
        Some("js" | "mjs") => "text/javascript",
        Some("json") => "application/json",
        Some("txt") => "text/plain",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

async fn static_file(req: &Request<Incoming>, alias: &StaticAlias, rest: &[u8]) -> Resp {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = error_page(StatusCode::METHOD_NOT_ALLOWED, "");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let rest = String::from_utf8_lossy(rest).into_owned();
    let mut path = alias.path.clone();
    for c in Path::new(rest.trim_start_matches('/')).components() {
        match c {
            Component::Normal(p) => path.push(p),
            Component::CurDir => {}
            _ => {
                return error_page(
                    StatusCode::FORBIDDEN,
                    "You don't have permission to access this resource.",
                );
            }
        }
    }
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(_) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "The requested URL was not found on this server.",
            );
        }
    };
    let meta = match file.metadata().await {
        Ok(m) if m.is_file() => m,
        Ok(_) => {
            return error_page(
                StatusCode::FORBIDDEN,
                "You don't have permission to access this resource.",
            );
        }
        Err(_) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "The requested URL was not found on this server.",
            );
        }
    };
    let len = meta.len();
    let mut r = if req.method() == Method::HEAD {
        Response::new(RespBody::empty())
    } else {
        Response::new(RespBody::file(file, len))
    };
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(m) = meta.modified() {
        if let Ok(v) = HeaderValue::from_str(&httpdate(m)) {
            h.insert(header::LAST_MODIFIED, v);
        }
    }
    r
}

fn httpdate(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Facts about one request that are not in the `Request` itself.
struct RequestCtx {
    peer: SocketAddr,
    local: SocketAddr,
    path_info: Vec<u8>,
    request_start: u64,
    chunked: bool,
}

/// The CGI variables of a request (docs/protocol.md "Environ").
fn environ(
    fe: &FrontEnd,
    mount: &Mount,
    group: &GroupEndpoint,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> Vec<(Bytes, Bytes)> {
    let RequestCtx {
        peer,
        local,
        path_info,
        request_start,
        chunked,
    } = ctx;
    let (peer, local, request_start, chunked) = (*peer, *local, *request_start, *chunked);
    let mut env: Vec<(Bytes, Bytes)> = Vec::with_capacity(32 + req.headers().len());
    let mut put = |k: &str, v: &[u8]| {
        env.push((
            Bytes::copy_from_slice(k.as_bytes()),
            Bytes::copy_from_slice(v),
        ))
    };
    let uri = req.uri();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            h.rsplit_once(':')
                .filter(|(_, p)| p.parse::<u16>().is_ok())
                .map_or(h, |(n, _)| n)
                .to_string()
        })
        .unwrap_or_else(|| fe.server_name.clone());
    put("REQUEST_METHOD", req.method().as_str().as_bytes());
    put("SCRIPT_NAME", mount.url.as_bytes());
    put("PATH_INFO", path_info);
    put("QUERY_STRING", uri.query().unwrap_or("").as_bytes());
    put(
        "REQUEST_URI",
        uri.path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .as_bytes(),
    );
    put("SERVER_NAME", host.as_bytes());
    put("SERVER_PORT", local.port().to_string().as_bytes());
    put("SERVER_ADDR", local.ip().to_string().as_bytes());
    put("SERVER_PROTOCOL", version_str(req.version()).as_bytes());
    put("SERVER_SOFTWARE", b"Quill");
    put("GATEWAY_INTERFACE", b"CGI/1.1");
    put("REQUEST_SCHEME", b"http");
    put("REMOTE_ADDR", peer.ip().to_string().as_bytes());
    put("REMOTE_PORT", peer.port().to_string().as_bytes());
    put(
        "SCRIPT_FILENAME",
        mount.script.as_os_str().as_encoded_bytes(),
    );
    put(
        "DOCUMENT_ROOT",
        fe.document_root.as_os_str().as_encoded_bytes(),
    );
    put(
        "CONTEXT_DOCUMENT_ROOT",
        fe.document_root.as_os_str().as_encoded_bytes(),
    );
    put("CONTEXT_PREFIX", b"");
    // Headers: names with characters other than letters, digits and `-`
    // are dropped; repeated headers are joined with ", ".
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, value) in req.headers() {
        let n = name.as_str();
        if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        let key = match n {
            "content-type" => "CONTENT_TYPE".to_string(),
            "content-length" => "CONTENT_LENGTH".to_string(),
            "authorization" if !mount.pass_authorization => continue,
            // httpoxy: never let a client set HTTP_PROXY.
            "proxy" => continue,
            _ => format!("HTTP_{}", n.to_ascii_uppercase().replace('-', "_")),
        };
        match seen.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => {
                v.extend_from_slice(b", ");
                v.extend_from_slice(value.as_bytes());
            }
            None => seen.push((key, value.as_bytes().to_vec())),
        }
    }
    for (k, v) in &seen {
        put(k, v);
    }
    put("mod_wsgi.process_group", group.name.as_bytes());
    put(
        "mod_wsgi.application_group",
        mount.application_group.as_bytes(),
    );
    put("mod_wsgi.callable_object", mount.callable.as_bytes());
    put(
        "mod_wsgi.script_reloading",
        if mount.script_reloading { b"1" } else { b"0" },
    );
    put("mod_wsgi.request_handler", b"wsgi-script");
    put("mod_wsgi.handler_script", b"");
    put("mod_wsgi.listener_host", local.ip().to_string().as_bytes());
    put(
        "mod_wsgi.listener_port",
        local.port().to_string().as_bytes(),
    );
    put(
        "mod_wsgi.request_start",
        request_start.to_string().as_bytes(),
    );
    put("quill.request_start", request_start.to_string().as_bytes());
    if chunked {
        put("quill.chunked", b"1");
    }
    env
}

async fn proxy(
    fe: &FrontEnd,
    mount: &Mount,
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
    path_info: Vec<u8>,
) -> Resp {
    let request_start = epoch_us();
    let Some(group) = fe.groups.get(mount.group) else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "");
    };
    let log = &fe.error_log;
    let remote = format!("[client {}:{}]", peer.ip(), peer.port());

    // Request body framing checks, as mod_wsgi does them.
    let chunked = req
        .headers()
        .get(header::TRANSFER_ENCODING)
        .map(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    if chunked == Some(false) {
        return error_page(
            StatusCode::NOT_IMPLEMENTED,
            "Transfer-Encoding is not supported.",
        );
    }
    let chunked = chunked == Some(true);
    if chunked && !mount.chunked_request {
        log.log(
            Level::Error,
            "wsgi",
            &format!(
                "{remote} Unable to process a chunked request body: WSGIChunkedRequest is Off."
            ),
        );
        return error_page(
            StatusCode::LENGTH_REQUIRED,
            "A request with the method requires a valid Content-length.",
        );
    }
    let content_length = req.body().size_hint().exact();
    if fe.limit_request_body > 0 && content_length.is_some_and(|n| n > fe.limit_request_body) {
        log.log(
            Level::Error,
            "core",
            &format!(
                "{remote} Requested content-length of {} is larger than the configured limit of {}",
                content_length.unwrap_or(0),
                fe.limit_request_body
            ),
        );
        return error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The requested resource does not allow request data with this method, or the amount of data provided in the request exceeds the capacity limit.",
        );
    }
    let has_body = chunked || content_length.is_some_and(|n| n > 0);

    let head = RequestHead {
        version: VERSION,
        has_body,
        environ: environ(
            fe,
            mount,
            group,
            &req,
            &RequestCtx {
                peer,
                local,
                path_info,
                request_start,
                chunked,
            },
        ),
    };
    let mut head_bytes = BytesMut::new();
    protocol::encode(&Frame::Head(head), &mut head_bytes);
    let head_bytes = head_bytes.freeze();

    let mut body = Some(req.into_body());
    let max_attempts = 2 * group.processes.max(1) + 1;
    for _attempt in 0..max_attempts {
        let stream = match connect(group).await {
            Ok(s) => s,
            Err(ConnectError::Exhausted(e)) => {
                log.log(Level::Error, "wsgi", &format!(
                    "{remote} Unable to connect to WSGI daemon process '{}' on '{}' after multiple attempts as listener backlog limit was exceeded or the socket does not exist: {e}",
                    group.name, group.socket_path.display()
                ));
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.",
                );
            }
            Err(ConnectError::Fatal(e)) => {
                log.log(
                    Level::Error,
                    "wsgi",
                    &format!(
                        "{remote} Unable to connect to WSGI daemon process '{}' on '{}': {e}",
                        group.name,
                        group.socket_path.display()
                    ),
                );
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.",
                );
            }
        };
        let (read, mut write) = stream.into_split();
        if let Err(e) = write.write_all(&head_bytes).await {
            log.log(
                Level::Error,
                "wsgi",
                &format!(
                    "{remote} Failed to send the request to daemon process '{}': {e}",
                    group.name
                ),
            );
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, "");
        }
        let mut reader = FrameStream::new(read);
        let mut write = Some(write);
        let mut pump = None;
        let first = loop {
            let frame = match tokio::time::timeout(group.socket_timeout, reader.next()).await {
                Err(_) => {
                    log.log(Level::Error, "wsgi", &format!("{remote} Timeout when reading response headers from daemon process '{}': {}", group.name, mount.script.display()));
                    return error_page(
                        StatusCode::GATEWAY_TIMEOUT,
                        "The gateway did not receive a timely response from the upstream server or application.",
                    );
                }
                Ok(f) => f,
            };
            match frame {
                Ok(Some(Frame::Continue)) if pump.is_none() => {
                    if let (Some(b), Some(w)) = (body.take(), write.take()) {
                        pump = Some(AbortOnDrop(tokio::spawn(pump_body(
                            b,
                            w,
                            fe.limit_request_body,
                        ))));
                    }
                    // Without a body (impossible: has_body) keep `write` alive.
                    continue;
                }
                other => break other,
            }
        };
        match first {
            Ok(Some(Frame::Reject)) if pump.is_none() => continue,
            Ok(Some(Frame::Fail { status, message })) => {
                log.log(
                    Level::Error,
                    "wsgi",
                    &format!(
                        "{remote} Daemon process '{}' failed the request: {message}",
                        group.name
                    ),
                );
                return error_page(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    "",
                );
            }
            Ok(Some(Frame::ResponseHead(h))) => {
                let mut r = Response::new(RespBody::proxied(reader, pump, write));
                let status =
                    StatusCode::from_u16(h.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                *r.status_mut() = status;
                // Keep the application's reason phrase when it is not the
                // standard one ("299 Custom Thing").
                if status.canonical_reason().map(str::as_bytes) != Some(&h.reason[..]) {
                    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(h.reason.clone()) {
                        r.extensions_mut().insert(reason);
                    }
                }
                let hm = r.headers_mut();
                for (k, v) in h.headers {
                    match (
                        header::HeaderName::from_bytes(&k),
                        HeaderValue::from_maybe_shared(v),
                    ) {
                        (Ok(k), Ok(v)) => {
                            hm.append(k, v);
                        }
                        _ => {
                            log.log(
                                Level::Error,
                                "wsgi",
                                &format!(
                                    "{remote} Malformed header from daemon process '{}'.",
                                    group.name
                                ),
                            );
                            return error_page(StatusCode::INTERNAL_SERVER_ERROR, "");
                        }
                    }
                }
                return r;
            }
            Ok(None) | Ok(Some(_)) | Err(_) => {
                log.log(Level::Error, "wsgi", &format!("{remote} Truncated or oversized response headers received from daemon process '{}': {}", group.name, mount.script.display()));
                return error_page(StatusCode::INTERNAL_SERVER_ERROR, "");
            }
        }
    }
    log.log(Level::Error, "wsgi", &format!("{remote} Maximum number of WSGI daemon process restart connects reached {max_attempts}."));
    error_page(StatusCode::SERVICE_UNAVAILABLE, "")
}

enum ConnectError {
    Exhausted(io::Error),
    Fatal(io::Error),
}

/// mod_wsgi's connect loop: retry refused/backlog-full connects, 0.125 s
/// apart for the first 2 s then 1 s apart, until connect-timeout.
async fn connect(group: &GroupEndpoint) -> Result<UnixStream, ConnectError> {
    let start = Instant::now();
    let mut slept = Duration::ZERO;
    loop {
        match connect_once(&group.socket_path) {
            Ok(s) => return Ok(s),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::WouldBlock
                ) =>
            {
                if start.elapsed() >= group.connect_timeout {
                    return Err(ConnectError::Exhausted(e));
                }
                let step = if slept < Duration::from_secs(2) {
                    Duration::from_millis(125)
                } else {
                    Duration::from_secs(1)
                };
                let step = step
                    .min(group.connect_timeout.saturating_sub(start.elapsed()))
                    .max(Duration::from_millis(1));
                tokio::time::sleep(step).await;
                slept += step;
            }
            Err(e) => return Err(ConnectError::Fatal(e)),
        }
    }
}

/// One non-blocking connect: a full backlog is `EAGAIN` at once (tokio's
/// connect would wait for room instead, hiding the overload).
fn connect_once(path: &Path) -> io::Result<UnixStream> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(path)?;
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr)?;
    UnixStream::from_std(std::os::unix::net::UnixStream::from(fd))
}

/// Streams the client's body to the daemon; stops quietly when the daemon
/// closes (the application did not read it all).
async fn pump_body(mut body: Incoming, mut write: OwnedWriteHalf, limit: u64) {
    let mut total = 0u64;
    loop {
        let frame = match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(_)) => return, // client went away mid-body
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        total += data.len() as u64;
        if limit > 0 && total > limit {
            return; // daemon sees an early end of body
        }
        for piece in data.chunks(protocol::BODY_CHUNK) {
            let header = protocol::body_frame_header(protocol::kind::BODY, piece.len());
            if write.write_all(&header).await.is_err() || write.write_all(piece).await.is_err() {
                return;
            }
        }
    }
    let mut end = BytesMut::new();
    protocol::encode(&Frame::End, &mut end);
    let _ = write.write_all(&end).await;
    // Keep the write half open until the response is read: dropping it
    // would be a half-close the daemon need not see.
    std::future::pending::<()>().await;
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Frames from the daemon.
struct FrameStream {
    read: OwnedReadHalf,
    buf: BytesMut,
}

impl FrameStream {
    fn new(read: OwnedReadHalf) -> FrameStream {
        FrameStream {
            read,
            buf: BytesMut::with_capacity(16 * 1024),
        }
    }

    async fn next(&mut self) -> io::Result<Option<Frame>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Frame>>> {
        loop {
            match protocol::decode(&mut self.buf) {
                Ok(Some(f)) => return Poll::Ready(Ok(Some(f))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e))),
            }
            let mut chunk = [0u8; 32 * 1024];
            let mut rb = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut self.read).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                return Poll::Ready(if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "daemon closed inside a frame",
                    ))
                });
            }
            self.buf.extend_from_slice(rb.filled());
        }
    }
}

struct AccessInfo {
    sink: AccessSink,
    remote: String,
    request_line: String,
    time: chrono::DateTime<chrono::Local>,
    referer: Option<String>,
    agent: Option<String>,
    started: Instant,
}

/// Writes the access-log line when the response body is finished or
/// dropped (client gone).
struct AccessGuard {
    info: AccessInfo,
    status: u16,
    bytes: u64,
}

impl Drop for AccessGuard {
    fn drop(&mut self) {
        let i = &self.info;
        let line = AccessRecord {
            remote: &i.remote,
            user: None,
            time: i.time,
            request_line: &i.request_line,
            status: self.status,
            bytes: self.bytes,
            referer: i.referer.as_deref(),
            user_agent: i.agent.as_deref(),
            micros: i.started.elapsed().as_micros(),
        }
        .combined();
        (i.sink)(&line);
    }
}

enum Kind {
    Full(Option<Bytes>),
    File {
        file: tokio::fs::File,
        left: u64,
    },
    Proxied {
        frames: FrameStream,
        _pump: Option<AbortOnDrop>,
        _write: Option<OwnedWriteHalf>,
        done: bool,
    },
}

/// Response bodies: a fixed buffer, a file, or frames relayed from a daemon.
pub struct RespBody {
    kind: Kind,
    access: Option<AccessGuard>,
}

impl std::fmt::Debug for RespBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RespBody").finish_non_exhaustive()
    }
}

impl RespBody {
    fn full(b: Bytes) -> RespBody {
        RespBody {
            kind: Kind::Full(Some(b)),
            access: None,
        }
    }
    fn empty() -> RespBody {
        RespBody {
            kind: Kind::Full(None),
            access: None,
        }
    }
    fn file(file: tokio::fs::File, len: u64) -> RespBody {
        RespBody {
            kind: Kind::File { file, left: len },
            access: None,
        }
    }
    fn proxied(
        frames: FrameStream,
        pump: Option<AbortOnDrop>,
        write: Option<OwnedWriteHalf>,
    ) -> RespBody {
        RespBody {
            kind: Kind::Proxied {
                frames,
                _pump: pump,
                _write: write,
                done: false,
            },
            access: None,
        }
    }
    fn set_access(&mut self, guard: AccessGuard) {
        self.access = Some(guard);
    }
    fn count(&mut self, n: usize) {
        if let Some(a) = self.access.as_mut() {
            a.bytes += n as u64;
        }
    }
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<HttpFrame<Bytes>, io::Error>>> {
        let this = &mut *self;
        let out = match &mut this.kind {
            Kind::Full(b) => b.take().map(|b| Ok(HttpFrame::data(b))),
            Kind::File { file, left } => {
                if *left == 0 {
                    None
                } else {
                    let mut buf = vec![0u8; (*left).min(64 * 1024) as usize];
                    let mut rb = ReadBuf::new(&mut buf);
                    ready!(Pin::new(file).poll_read(cx, &mut rb))?;
                    let n = rb.filled().len();
                    if n == 0 {
                        Some(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file shrank while being sent",
                        )))
                    } else {
                        *left -= n as u64;
                        buf.truncate(n);
                        Some(Ok(HttpFrame::data(Bytes::from(buf))))
                    }
                }
            }
            Kind::Proxied { frames, done, .. } => {
                if *done {
                    None
                } else {
                    match ready!(frames.poll_next(cx)) {
                        Ok(Some(Frame::ResponseBody(b))) => Some(Ok(HttpFrame::data(b))),
                        Ok(Some(Frame::ResponseEnd)) => {
                            *done = true;
                            None
                        }
                        Ok(Some(Frame::Abort(m))) => Some(Err(io::Error::other(format!(
                            "application failed mid-response: {m}"
                        )))),
                        Ok(Some(f)) => Some(Err(io::Error::other(format!(
                            "unexpected {} frame from the daemon",
                            f.name()
                        )))),
                        Ok(None) => Some(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "daemon closed the response early",
                        ))),
                        Err(e) => Some(Err(e)),
                    }
                }
            }
        };
        if let Some(Ok(f)) = &out {
            if let Some(d) = f.data_ref() {
                let n = d.len();
                this.count(n);
            }
        }
        Poll::Ready(out)
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::File { left, .. } => *left == 0,
            Kind::Proxied { done, .. } => *done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::File { left, .. } => SizeHint::with_exact(*left),
            Kind::Proxied { .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_match_at_segment_boundaries() {
        assert!(prefix_matches("/app", b"/app"));
        assert!(prefix_matches("/app", b"/app/x"));
        assert!(!prefix_matches("/app", b"/apple"));
        assert!(prefix_matches("", b"/anything"));
    }

    #[test]
    fn paths_are_decoded_and_collapsed() {
        assert_eq!(collapse_slashes(&percent_decode("//a%20b///c")), b"/a b/c");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%41"), b"A");
    }
}
