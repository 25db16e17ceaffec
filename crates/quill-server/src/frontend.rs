//! The HTTP front end: HTTP/1.1 with keep-alive (hyper), static files for
//! `Alias`, and proxying of WSGI requests to the daemon groups over the
//! wire protocol with bodies streamed both ways.
//!
//! It runs in each front-end child process ([`crate::child`]) and owns no
//! processes: it knows each group by socket path and timeouts
//! ([`GroupEndpoint`]), so the children run side by side while one
//! supervisor runs the groups. What a connection or request holds of the
//! child's worker slots is [`crate::workers`]'.
//!
//! ```text
//!  accept ─▶ hyper conn ─▶ route ─┬─ Alias ─────────▶ file body
//!                                 ├─ WSGI mount ───▶ connect (retry ≤ connect-timeout, else 503)
//!                                 │                   Head ─▶ [Continue ─▶ body pump task]
//!                                 │                   first frame ≤ socket-timeout (else 504)
//!                                 │                   ResponseHead ─▶ proxied body stream
//!                                 └─ else 404
//! ```

use std::future::Future;
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
use crate::pool::{Admission, ConnectPacing, KeptConn, Lease, Permit, Pool};
use crate::protocol::{self, Frame, HeadEncoder, VERSION};
use crate::workers::{Worker, Workers};
use quill_mpm::{AcceptCheck, ConnectionCounter, Mpm, ThreadStatus};

/// How the front end reaches one daemon group.
#[derive(Debug, Clone)]
pub struct GroupEndpoint {
    pub name: String,
    pub socket_path: PathBuf,
    pub processes: u32,
    pub connect_timeout: Duration,
    pub socket_timeout: Duration,
    /// Daemon connections kept between requests (protocol v2).
    pub pool: Arc<Pool>,
    /// Requests admitted to the group: at most processes × threads in
    /// flight, the rest wait here first come, first served (see `admit`).
    pub admission: Arc<Admission>,
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
                    pool: Pool::new(g.spec.threads),
                    admission: Arc::new(Admission::new(
                        g.spec
                            .processes
                            .max(1)
                            .saturating_mul(g.spec.threads.max(1)),
                        g.listen_backlog,
                    )),
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

/// Why a front-end child stopped accepting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Told to stop gracefully (SIGUSR1, a maintenance kill, a restart).
    Told,
    /// MaxConnectionsPerChild was reached (worker/event: finish, then exit).
    ConnectionLimit,
    /// prefork's MaxConnectionsPerChild: exit without accepting again.
    ExitNow,
}

/// How a connection's requests get their worker slot (see [`crate::workers`]).
#[derive(Clone)]
enum SlotCtx {
    /// prefork/worker: the connection holds one slot for its whole life.
    Held(Arc<Worker>),
    /// event: each request takes a slot while it is in progress.
    PerRequest(Arc<Workers>),
}

/// The first connection any of `listeners` has ready.
async fn accept_any(listeners: &[TcpListener]) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
    std::future::poll_fn(|cx| {
        for l in listeners {
            if let Poll::Ready(r) = l.poll_accept(cx) {
                return Poll::Ready(r);
            }
        }
        Poll::Pending
    })
    .await
}

/// Accepts and serves connections on `listeners` within this child's worker
/// slots, as its MPM says (see [`crate::workers`]), until `shutdown` turns
/// true or MaxConnectionsPerChild (`counter`) is reached; then stops
/// accepting, announces that it is quiescing, lets open connections finish
/// their current request, and returns why it stopped.
pub async fn serve(
    listeners: Vec<TcpListener>,
    fe: Arc<FrontEnd>,
    workers: Arc<Workers>,
    mut counter: ConnectionCounter,
    mut shutdown: watch::Receiver<bool>,
) -> StopReason {
    let mut conns = tokio::task::JoinSet::new();
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let event = workers.mpm() == Mpm::Event;
    // Open connections drain (finish the current request, then close)
    // when this turns true, whatever made the child stop.
    let (drain_tx, drain_rx) = watch::channel(false);
    let reason = 'accepting: loop {
        // The MPM's gate: a free slot (prefork/worker), or an idle slot and
        // room under the connection limit (event).
        let held = loop {
            tokio::select! {
                _ = shutdown.changed() => break 'accepting StopReason::Told,
                _ = sweep.tick() => for g in &fe.groups { g.pool.sweep() },
                Some(_) = conns.join_next(), if !conns.is_empty() => counter.on_connection_finished(),
                w = workers.acquire(), if !event => break Some(w),
                _ = workers.wait_until_accepting(), if event => break None,
            }
        };
        match counter.check_before_accept() {
            AcceptCheck::Accept => {}
            AcceptCheck::StopGracefully => break StopReason::ConnectionLimit,
            AcceptCheck::ExitNow => break StopReason::ExitNow,
        }
        let accepted = loop {
            tokio::select! {
                _ = shutdown.changed() => break 'accepting StopReason::Told,
                _ = sweep.tick() => for g in &fe.groups { g.pool.sweep() },
                Some(_) = conns.join_next(), if !conns.is_empty() => counter.on_connection_finished(),
                a = accept_any(&listeners) => break a,
            }
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                fe.error_log
                    .log(Level::Error, "core", &format!("accept failed: {e}"));
                // EMFILE and friends: pause instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        counter.on_accepted();
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(peer);
        let slot = match held {
            Some(w) => SlotCtx::Held(Arc::new(w)),
            None => SlotCtx::PerRequest(workers.clone()),
        };
        let open = workers.open_connection();
        let fe = fe.clone();
        let mut stop = drain_rx.clone();
        conns.spawn(async move {
            let _open = open;
            let svc_fe = fe.clone();
            let state = Arc::new(ConnState::new());
            let svc_state = state.clone();
            // The request's future is boxed: it is large (the whole
            // proxying state machine) and would otherwise sit inline
            // in every connection's task, idle ones included.
            let service = service_fn(move |req| {
                let fe = svc_fe.clone();
                let slot = slot.clone();
                let state = svc_state.clone();
                Box::pin(async move {
                    Ok::<_, io::Error>(handle(fe, req, peer, local, slot, state).await)
                })
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .keep_alive(fe.keep_alive.is_some())
                .header_read_timeout(fe.timeout)
                .max_buf_size(fe.limit_request_head.max(8192));
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let mut draining = false;
            loop {
                // KeepAliveTimeout: a connection with no request in
                // progress closes this long after its last response (or
                // after it was accepted, while it drains).
                let idle_until = fe
                    .keep_alive
                    .and_then(|k| state.idle_since(draining).map(|t| t + k));
                let ended = state.ended.notified();
                tokio::select! {
                    _ = conn.as_mut() => break,
                    _ = stop.changed(), if !draining => {
                        // Stopping: the next response says `Connection:
                        // close`, and an idle connection is closed when its
                        // keep-alive time is up, so a request already on
                        // its way is still answered (as httpd's worker
                        // threads do).
                        draining = true;
                        state.closing.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    _ = ended => {}
                    _ = tokio::time::sleep_until(idle_until.unwrap_or_else(tokio::time::Instant::now)),
                        if idle_until.is_some() =>
                    {
                        if state.in_flight.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                            break;
                        }
                    }
                }
            }
        });
    };
    drop(listeners);
    workers.begin_graceful_stop();
    // Connections already open finish their current request, and kept-alive
    // ones close after it or when their keep-alive time is up.
    let _ = drain_tx.send(true);
    while conns.join_next().await.is_some() {}
    reason
}

type Resp = Response<RespBody>;

async fn handle(
    fe: Arc<FrontEnd>,
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
    slot: SlotCtx,
    conn: Arc<ConnState>,
) -> Resp {
    let in_flight = InFlight::new(conn);
    // The request's worker slot: the connection's own (prefork/worker), or
    // one taken now and held until the response ends (event).
    let worker = match slot {
        SlotCtx::Held(w) => w,
        SlotCtx::PerRequest(workers) => Arc::new(workers.acquire().await),
    };
    worker.set(ThreadStatus::BusyWrite);
    // Access-log facts are gathered only when there is an access log.
    let access = fe.access_log.clone().map(|sink| AccessInfo {
        sink,
        remote: peer.ip().to_string(),
        request_line: format!(
            "{} {} {}",
            req.method(),
            req.uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/"),
            version_str(req.version())
        ),
        time: chrono::Local::now(),
        referer: header_str(&req, header::REFERER),
        agent: header_str(&req, header::USER_AGENT),
        started: Instant::now(),
    });
    let mut resp = route(&fe, req, peer, local).await;
    if fe.keep_alive.is_none()
        || in_flight
            .0
            .closing
            .load(std::sync::atomic::Ordering::Relaxed)
    {
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
    resp.body_mut().set_slot(SlotGuard {
        worker,
        bytes: 0,
        _in_flight: in_flight,
    });
    resp
}

/// What a connection's task needs to know of its requests.
struct ConnState {
    /// Requests whose response has not ended.
    in_flight: std::sync::atomic::AtomicU32,
    /// When the last response ended.
    last_done: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// Signalled when a response ends.
    ended: tokio::sync::Notify,
    /// The child is stopping: responses say `Connection: close`.
    closing: std::sync::atomic::AtomicBool,
    /// When the connection was accepted.
    accepted: tokio::time::Instant,
}

impl ConnState {
    fn new() -> ConnState {
        ConnState {
            in_flight: Default::default(),
            last_done: Default::default(),
            ended: Default::default(),
            closing: Default::default(),
            accepted: tokio::time::Instant::now(),
        }
    }

    /// Since when the connection has had no request in progress: its last
    /// response's end, or (while draining, when no request came yet) its
    /// acceptance; `None` while a request is in progress.
    fn idle_since(&self, draining: bool) -> Option<tokio::time::Instant> {
        if self.in_flight.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            return None;
        }
        let last = *self.last_done.lock().unwrap_or_else(|e| e.into_inner());
        last.or_else(|| draining.then_some(self.accepted))
    }
}

/// A request in progress on its connection, from the moment it reached
/// the service until its response ends (or it is dropped unanswered).
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn new(conn: Arc<ConnState>) -> InFlight {
        conn.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        InFlight(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last_done.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(tokio::time::Instant::now());
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.0.ended.notify_one();
    }
}

/// Shows the request's worker slot busy until its response ends; then
/// counts the request in the scoreboard, and the slot waits in keep-alive
/// (prefork/worker, where the connection keeps it) or goes back to idle
/// (event, where this was the only holder).
struct SlotGuard {
    worker: Arc<Worker>,
    bytes: u64,
    /// Dropped after the fields above: the request ends with its response.
    _in_flight: InFlight,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.worker.count_request(self.bytes, epoch_us());
        self.worker.set(ThreadStatus::BusyKeepalive);
    }
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
    // Everything borrowed from the request ends with this block, before
    // the daemon is awaited (see `prepare`).
    let (mount, head_bytes, body) = {
        // Most paths need neither %-decoding nor collapsing: borrow them
        // (from a clone of the URI, which shares its bytes: `req` moves on).
        let uri = req.uri().clone();
        let raw_path = uri.path();
        let decoded: std::borrow::Cow<'_, [u8]> =
            if raw_path.contains('%') || raw_path.contains("//") {
                std::borrow::Cow::Owned(collapse_slashes(&percent_decode(raw_path)))
            } else {
                std::borrow::Cow::Borrowed(raw_path.as_bytes())
            };
        if decoded.first() != Some(&b'/') {
            return error_page(StatusCode::BAD_REQUEST, "");
        }
        // Alias first: mod_alias translates before mod_wsgi.
        for alias in &fe.aliases {
            if prefix_matches(&alias.url, &decoded) {
                return static_file(&req, alias, &decoded[alias.url.len()..]).await;
            }
        }
        let Some(mount) = fe.mounts.iter().find(|m| prefix_matches(&m.url, &decoded)) else {
            return error_page(
                StatusCode::NOT_FOUND,
                "The requested URL was not found on this server.",
            );
        };
        let path_info = &decoded[mount.url.len()..];
        match prepare(fe, mount, req, peer, local, path_info) {
            Ok((head, body)) => (mount, head, body),
            Err(r) => return *r,
        }
    };
    forward(fe, mount, peer, head_bytes, body).await
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

/// A request id unique in this server's life: the front end's pid and a
/// counter, in hexadecimal (`3f2a-1c`).
fn request_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}-{n:x}", std::process::id())
}

fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `[client IP:PORT]` in error-log lines, formatted only when logged.
struct Client(SocketAddr);

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[client {}:{}]", self.0.ip(), self.0.port())
    }
}

/// Facts about one request that are not in the `Request` itself.
struct RequestCtx<'a> {
    peer: SocketAddr,
    local: SocketAddr,
    path_info: &'a [u8],
    request_start: u64,
    chunked: bool,
}

/// Decimal digits of `n`, without allocating.
struct Dec([u8; 20], usize);

impl Dec {
    fn new(mut n: u64) -> Dec {
        let mut b = [0u8; 20];
        let mut i = b.len();
        loop {
            i -= 1;
            b[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Dec(b, i)
    }
    fn as_bytes(&self) -> &[u8] {
        &self.0[self.1..]
    }
}

/// An IP address as text, without allocating.
struct IpText([u8; 48], usize);

impl IpText {
    fn new(ip: std::net::IpAddr) -> IpText {
        use std::io::Write as _;
        let mut b = [0u8; 48];
        let mut cur = std::io::Cursor::new(&mut b[..]);
        // 48 bytes hold any IPv6 text form (at most 45).
        let _ = write!(cur, "{ip}");
        let n = usize::try_from(cur.position()).unwrap_or(0);
        IpText(b, n)
    }
    fn as_bytes(&self) -> &[u8] {
        &self.0[..self.1]
    }
}

/// Writes the CGI variables of a request (docs/protocol.md "Environ")
/// into the `Head` frame being encoded.
fn environ(
    enc: &mut HeadEncoder<'_>,
    fe: &FrontEnd,
    mount: &Mount,
    group: &GroupEndpoint,
    req: &Request<Incoming>,
    ctx: &RequestCtx<'_>,
) {
    let uri = req.uri();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or(fe.server_name.as_bytes(), |h| {
            h.rsplit_once(':')
                .filter(|(_, p)| p.parse::<u16>().is_ok())
                .map_or(h, |(n, _)| n)
                .as_bytes()
        });
    let local_port = Dec::new(u64::from(ctx.local.port()));
    let local_ip = IpText::new(ctx.local.ip());
    enc.pair(b"REQUEST_METHOD", req.method().as_str().as_bytes());
    enc.pair(b"SCRIPT_NAME", mount.url.as_bytes());
    enc.pair(b"PATH_INFO", ctx.path_info);
    enc.pair(b"QUERY_STRING", uri.query().unwrap_or("").as_bytes());
    enc.pair(
        b"REQUEST_URI",
        uri.path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .as_bytes(),
    );
    enc.pair(b"SERVER_NAME", host);
    enc.pair(b"SERVER_PORT", local_port.as_bytes());
    enc.pair(b"SERVER_ADDR", local_ip.as_bytes());
    enc.pair(b"SERVER_PROTOCOL", version_str(req.version()).as_bytes());
    enc.pair(b"SERVER_SOFTWARE", b"Quill");
    enc.pair(b"GATEWAY_INTERFACE", b"CGI/1.1");
    enc.pair(b"REQUEST_SCHEME", b"http");
    enc.pair(b"REMOTE_ADDR", IpText::new(ctx.peer.ip()).as_bytes());
    enc.pair(
        b"REMOTE_PORT",
        Dec::new(u64::from(ctx.peer.port())).as_bytes(),
    );
    enc.pair(
        b"SCRIPT_FILENAME",
        mount.script.as_os_str().as_encoded_bytes(),
    );
    let root = fe.document_root.as_os_str().as_encoded_bytes();
    enc.pair(b"DOCUMENT_ROOT", root);
    enc.pair(b"CONTEXT_DOCUMENT_ROOT", root);
    enc.pair(b"CONTEXT_PREFIX", b"");
    // Headers: names with characters other than letters, digits and `-`
    // are dropped; repeated headers are joined with ", ". HeaderMap names
    // are lower case, so two names never map to one variable.
    let headers = req.headers();
    let mut key = Vec::with_capacity(64);
    let mut parts: Vec<&[u8]> = Vec::new();
    for name in headers.keys() {
        let n = name.as_str();
        if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        key.clear();
        match n {
            "content-type" => key.extend_from_slice(b"CONTENT_TYPE"),
            "content-length" => key.extend_from_slice(b"CONTENT_LENGTH"),
            "authorization" if !mount.pass_authorization => continue,
            // httpoxy: never let a client set HTTP_PROXY.
            "proxy" => continue,
            _ => {
                key.extend_from_slice(b"HTTP_");
                key.extend(n.bytes().map(|b| {
                    if b == b'-' {
                        b'_'
                    } else {
                        b.to_ascii_uppercase()
                    }
                }));
            }
        }
        parts.clear();
        for (i, v) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                parts.push(b", ");
            }
            parts.push(v.as_bytes());
        }
        enc.pair_parts(&[&key], &parts);
    }
    enc.pair(b"mod_wsgi.process_group", group.name.as_bytes());
    enc.pair(b"quill.process_group", group.name.as_bytes());
    enc.pair(
        b"mod_wsgi.application_group",
        mount.application_group.as_bytes(),
    );
    enc.pair(
        b"quill.application_group",
        mount.application_group.as_bytes(),
    );
    enc.pair(b"mod_wsgi.callable_object", mount.callable.as_bytes());
    enc.pair(
        b"mod_wsgi.script_reloading",
        if mount.script_reloading { b"1" } else { b"0" },
    );
    enc.pair(b"mod_wsgi.request_handler", b"wsgi-script");
    enc.pair(b"mod_wsgi.handler_script", b"");
    enc.pair(b"mod_wsgi.listener_host", local_ip.as_bytes());
    enc.pair(b"mod_wsgi.listener_port", local_port.as_bytes());
    let start = Dec::new(ctx.request_start);
    enc.pair(b"mod_wsgi.request_start", start.as_bytes());
    enc.pair(b"quill.request_start", start.as_bytes());
    // The request goes to its group from here (admission, then a
    // connection): mod_wsgi's "child started connecting to the daemon".
    let queued = Dec::new(epoch_us());
    enc.pair(b"mod_wsgi.queue_start", queued.as_bytes());
    enc.pair(b"quill.queue_start", queued.as_bytes());
    let id = request_id();
    enc.pair(b"mod_wsgi.request_id", id.as_bytes());
    enc.pair(b"quill.request_id", id.as_bytes());
    if ctx.chunked {
        enc.pair(b"quill.chunked", b"1");
    }
}

/// The synchronous half of proxying: mod_wsgi's request checks and the
/// encoded `Head`. It consumes the request and keeps only its body, so
/// that nothing borrowed from hyper's read buffer (URI, header values)
/// stays alive while the daemon works: hyper then reuses that buffer for
/// the connection's next request instead of allocating another.
fn prepare(
    fe: &FrontEnd,
    mount: &Mount,
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
    path_info: &[u8],
) -> Result<(BytesMut, Incoming), Box<Resp>> {
    let request_start = epoch_us();
    let Some(group) = fe.groups.get(mount.group) else {
        return Err(Box::new(error_page(StatusCode::INTERNAL_SERVER_ERROR, "")));
    };
    let log = &fe.error_log;
    let remote = Client(peer);

    // Request body framing checks, as mod_wsgi does them.
    let chunked = req
        .headers()
        .get(header::TRANSFER_ENCODING)
        .map(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    if chunked == Some(false) {
        return Err(Box::new(error_page(
            StatusCode::NOT_IMPLEMENTED,
            "Transfer-Encoding is not supported.",
        )));
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
        return Err(Box::new(error_page(
            StatusCode::LENGTH_REQUIRED,
            "A request with the method requires a valid Content-length.",
        )));
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
        return Err(Box::new(error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The requested resource does not allow request data with this method, or the amount of data provided in the request exceeds the capacity limit.",
        )));
    }
    let has_body = chunked || content_length.is_some_and(|n| n > 0);

    let mut head_bytes = BytesMut::new();
    let mut enc = HeadEncoder::new(&mut head_bytes, VERSION, has_body);
    environ(
        &mut enc,
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
    );
    enc.finish();

    Ok((head_bytes, req.into_body()))
}

/// Sends the request to the group and relays its answer.
async fn forward(
    fe: &FrontEnd,
    mount: &Mount,
    peer: SocketAddr,
    mut head_bytes: BytesMut,
    body: Incoming,
) -> Resp {
    let Some(group) = fe.groups.get(mount.group) else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "");
    };
    let log = &fe.error_log;
    let remote = Client(peer);
    let mut body = Some(body);
    // Wait for a daemon thread (first come, first served) or give up as
    // mod_wsgi does when the backlog stays full. Under mod_wsgi a request
    // waiting in the backlog already waits for its response, so
    // socket-timeout counts from here, the wait for admission included.
    let head_deadline = tokio::time::Instant::now() + group.socket_timeout;
    let admitted =
        tokio::time::timeout_at(head_deadline, group.admission.admit(group.connect_timeout)).await;
    let mut permit = match admitted {
        Ok(Ok(p)) => Some(p),
        Err(_) => {
            log.log(
                Level::Error,
                "wsgi",
                &format!(
                    "{remote} Timeout when reading response headers from daemon process '{}': {}",
                    group.name,
                    mount.script.display()
                ),
            );
            return error_page(
                StatusCode::GATEWAY_TIMEOUT,
                "The gateway did not receive a timely response from the upstream server or application.",
            );
        }
        Ok(Err(())) => {
            log.log(Level::Error, "wsgi", &format!(
                "{remote} Unable to connect to WSGI daemon process '{}' on '{}' after multiple attempts as listener backlog limit was exceeded or the socket does not exist: the group's {} threads are busy and {} requests wait",
                group.name, group.socket_path.display(), group.admission.capacity, group.admission.queue_limit
            ));
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.",
            );
        }
    };
    let max_attempts = 2 * group.processes.max(1) + 1;
    let mut attempts = 0;
    loop {
        // A kept connection to a process with an idle thread, else a new
        // one through the group's backlog (docs/protocol.md).
        let (mut lease, conn, kept) = match group.pool.take() {
            Some((lease, conn)) => (lease, conn, true),
            None => {
                attempts += 1;
                if attempts > max_attempts {
                    log.log(Level::Error, "wsgi", &format!("{remote} Maximum number of WSGI daemon process restart connects reached {max_attempts}."));
                    return error_page(StatusCode::SERVICE_UNAVAILABLE, "");
                }
                // Unplaced from now: while it waits to connect or in the
                // backlog, later requests queue behind it (crate::pool).
                let lease = group.pool.unbound();
                match connect(group).await {
                    Ok(stream) => (
                        lease,
                        KeptConn {
                            stream,
                            buf: BytesMut::new(),
                        },
                        false,
                    ),
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
                }
            }
        };
        // A new connection the pool would not keep anyway is closed by the
        // daemon after the response, instead of being parked for nothing.
        let close = !kept && !group.pool.wants_more();
        head_bytes[protocol::HEAD_FLAGS_OFFSET] = (head_bytes[protocol::HEAD_FLAGS_OFFSET]
            & !protocol::head_flag::CLOSE)
            | if close { protocol::head_flag::CLOSE } else { 0 };
        let (read, mut write) = conn.stream.into_split();
        if let Err(e) = write.write_all(&head_bytes).await {
            // The daemon end is gone and read nothing: the request did not
            // run, send it again.
            if !kept {
                log.log(
                    Level::Info,
                    "wsgi",
                    &format!(
                        "{remote} Failed to send the request to daemon process '{}', retrying: {e}",
                        group.name
                    ),
                );
            }
            continue;
        }
        let mut reader = FrameStream::with_buf(read, conn.buf);
        let mut write = Some(write);
        let mut pump = None;
        let mut heard = false;
        // socket-timeout bounds the whole wait for the head, from the
        // request's admission wait on, whatever frames (Accepted, Continue)
        // come before it.
        let deadline = head_deadline;
        let first = loop {
            let frame = match tokio::time::timeout_at(deadline, reader.next()).await {
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
                Ok(Some(Frame::Accepted { pid })) if !heard => {
                    lease.bind(pid);
                    heard = true;
                    continue;
                }
                Ok(Some(Frame::Continue)) if pump.is_none() => {
                    heard = true;
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
            // The daemon closed the connection without reading the request
            // (a kept connection it let go, or a process that ended before
            // taking it): nothing ran, send it again.
            Err(e) if !heard && e.kind() == io::ErrorKind::ConnectionReset => continue,
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
                let status =
                    StatusCode::from_u16(h.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut r = Response::new(RespBody::empty());
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
                let expected = hm
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok());
                let writer = match (pump, write) {
                    (Some(p), _) => WriteSide::Pump(p),
                    (None, Some(w)) => WriteSide::Idle(w),
                    (None, None) => WriteSide::Gone,
                };
                *r.body_mut() = RespBody::proxied(Proxied {
                    frames: Some(reader),
                    writer,
                    lease: Some(lease),
                    permit: permit.take(),
                    expected,
                    relayed: 0,
                    socket_timeout: group.socket_timeout,
                    done: false,
                });
                return r;
            }
            Ok(None) | Ok(Some(_)) | Err(_) => {
                log.log(Level::Error, "wsgi", &format!("{remote} Truncated or oversized response headers received from daemon process '{}': {}", group.name, mount.script.display()));
                return error_page(StatusCode::INTERNAL_SERVER_ERROR, "");
            }
        }
    }
}

enum ConnectError {
    Exhausted(io::Error),
    Fatal(io::Error),
}

/// mod_wsgi's connect loop: retry refused/backlog-full connects, 0.125 s
/// apart for the first 2 s then 1 s apart, until connect-timeout.
async fn connect(group: &GroupEndpoint) -> Result<UnixStream, ConnectError> {
    let mut pacing = ConnectPacing::new(group.connect_timeout);
    loop {
        match connect_once(&group.socket_path) {
            Ok(s) => return Ok(s),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::WouldBlock
                ) =>
            {
                if !pacing.pause().await {
                    return Err(ConnectError::Exhausted(e));
                }
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
/// closes (the application did not read it all). Gives the write half
/// back after the `End` frame, for the connection's next request; on a
/// failure it is dropped, a half-close the daemon sees as an early end of
/// the body.
async fn pump_body(
    mut body: Incoming,
    mut write: OwnedWriteHalf,
    limit: u64,
) -> Option<OwnedWriteHalf> {
    let mut total = 0u64;
    loop {
        let frame = match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(_)) => return None, // client went away mid-body
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        total += data.len() as u64;
        if limit > 0 && total > limit {
            return None; // daemon sees an early end of body
        }
        for piece in data.chunks(protocol::BODY_CHUNK) {
            let header = protocol::body_frame_header(protocol::kind::BODY, piece.len());
            if write_frame(&mut write, &header, piece).await.is_err() {
                return None;
            }
        }
    }
    let mut end = BytesMut::new();
    protocol::encode(&Frame::End, &mut end);
    write.write_all(&end).await.ok()?;
    Some(write)
}

/// Writes a frame header and its payload with one `writev` where the
/// socket takes both (half the system calls of two writes).
async fn write_frame(write: &mut OwnedWriteHalf, header: &[u8], payload: &[u8]) -> io::Result<()> {
    let (mut header, mut payload) = (header, payload);
    while !header.is_empty() {
        let n = write
            .write_vectored(&[io::IoSlice::new(header), io::IoSlice::new(payload)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        if n < header.len() {
            header = &header[n..];
        } else {
            payload = &payload[n - header.len()..];
            header = &[];
        }
    }
    write.write_all(payload).await
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How much room the frame reader makes for a read from a daemon: little
/// at first (most responses are small); a long body's frames get what
/// they need when their header says how long they are.
const FIRST_READ: usize = 2 * 1024;
const MIN_ROOM: usize = 1024;
const READ_CHUNK: usize = 16 * 1024;

/// Frames from the daemon. A body frame is relayed whole, one client
/// write per frame: relaying its pieces as they arrived saved memory
/// (≤ 64 KiB per stream) but cost 2× the front-end CPU on a streamed
/// 1 MiB response, each piece being a chunked write to the client
/// (docs/benchmarks.md).
struct FrameStream {
    read: OwnedReadHalf,
    buf: BytesMut,
}

impl FrameStream {
    /// `buf`: what a kept connection's reader had left (normally nothing,
    /// but its allocation is reused).
    fn with_buf(read: OwnedReadHalf, buf: BytesMut) -> FrameStream {
        FrameStream { read, buf }
    }

    /// `Some(keep)` when the next frame, already buffered, is the
    /// `ResponseEnd` (then taken); nothing is read.
    fn buffered_end(&mut self) -> Option<bool> {
        if self.buf.first() != Some(&protocol::kind::RESPONSE_END) {
            return None;
        }
        match protocol::decode(&mut self.buf) {
            Ok(Some(Frame::ResponseEnd { keep })) => Some(keep),
            _ => None,
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
            if self.buf.capacity() == 0 {
                self.buf.reserve(FIRST_READ);
            } else if self.buf.capacity() - self.buf.len() < MIN_ROOM {
                self.buf.reserve(READ_CHUNK);
            }
            // Read straight into the buffer's spare room (no bounce copy).
            let read = {
                let fut = tokio::io::AsyncReadExt::read_buf(&mut self.read, &mut self.buf);
                tokio::pin!(fut);
                ready!(fut.poll(cx))?
            };
            if read == 0 {
                return Poll::Ready(if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "daemon closed inside a frame",
                    ))
                });
            }
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
    File { file: tokio::fs::File, left: u64 },
    Proxied(Box<Proxied>),
}

/// The daemon side of a request, while its response is relayed.
enum WriteSide {
    /// No request body: the write half, idle.
    Idle(OwnedWriteHalf),
    /// The body pump, which gives the write half back when done.
    Pump(AbortOnDrop<Option<OwnedWriteHalf>>),
    Gone,
}

/// A response being relayed from a daemon, and its connection.
struct Proxied {
    /// `None` once the connection was kept or given up.
    frames: Option<FrameStream>,
    writer: WriteSide,
    /// Counts the request against its process until the response ends.
    lease: Option<Lease>,
    /// Its daemon thread, in the group's admission, until the response ends.
    permit: Option<Permit>,
    /// The application's Content-Length.
    expected: Option<u64>,
    relayed: u64,
    socket_timeout: Duration,
    done: bool,
}

impl Proxied {
    /// `ResponseEnd` arrived: keep the connection for the next request
    /// when the daemon keeps it and the request body went out whole.
    fn end(&mut self, keep: bool, cx: Option<&mut Context<'_>>) {
        self.done = true;
        let write = match std::mem::replace(&mut self.writer, WriteSide::Gone) {
            WriteSide::Idle(w) => Some(w),
            WriteSide::Pump(mut p) if p.0.is_finished() => match cx {
                Some(cx) => match Pin::new(&mut p.0).poll(cx) {
                    Poll::Ready(Ok(w)) => w,
                    _ => None,
                },
                None => None,
            },
            _ => None,
        };
        let lease = self.lease.take();
        let frames = self.frames.take();
        if let (true, Some(write), Some(lease), Some(frames)) = (keep, write, lease, frames) {
            if let Ok(stream) = frames.read.reunite(write) {
                lease.keep(KeptConn {
                    stream,
                    buf: frames.buf,
                });
            }
        }
        // The thread is free: the next waiting request may go, and finds
        // this connection kept.
        self.permit = None;
    }

    /// After hyper has sent the whole Content-Length it drops the body,
    /// possibly before `ResponseEnd` arrived (it follows the
    /// application's close()). Then wait for it in the background so the
    /// connection can be kept — only then: a response the client did not
    /// get whole closes the connection, which stops the application.
    fn finish_in_background(mut self) {
        if self.done || self.frames.is_none() || self.expected != Some(self.relayed) {
            return;
        }
        let timeout = self.socket_timeout;
        tokio::spawn(async move {
            let end = tokio::time::timeout(timeout, async {
                let frames = self.frames.as_mut()?;
                loop {
                    match frames.next().await {
                        Ok(Some(Frame::ResponseBody(_))) => continue,
                        Ok(Some(Frame::ResponseEnd { keep })) => return Some(keep),
                        _ => return None,
                    }
                }
            })
            .await;
            let Ok(Some(keep)) = end else { return };
            if let WriteSide::Pump(mut p) = std::mem::replace(&mut self.writer, WriteSide::Gone) {
                if let Ok(Some(w)) = (&mut p.0).await {
                    self.writer = WriteSide::Idle(w);
                }
            }
            self.end(keep, None);
        });
    }
}

/// Response bodies: a fixed buffer, a file, or frames relayed from a daemon.
pub struct RespBody {
    kind: Kind,
    access: Option<AccessGuard>,
    slot: Option<SlotGuard>,
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
            slot: None,
        }
    }
    fn empty() -> RespBody {
        RespBody {
            kind: Kind::Full(None),
            access: None,
            slot: None,
        }
    }
    fn file(file: tokio::fs::File, len: u64) -> RespBody {
        RespBody {
            kind: Kind::File { file, left: len },
            access: None,
            slot: None,
        }
    }
    fn proxied(p: Proxied) -> RespBody {
        RespBody {
            kind: Kind::Proxied(Box::new(p)),
            access: None,
            slot: None,
        }
    }
    fn set_access(&mut self, guard: AccessGuard) {
        self.access = Some(guard);
    }
    fn set_slot(&mut self, guard: SlotGuard) {
        self.slot = Some(guard);
    }
    fn count(&mut self, n: usize) {
        if let Some(a) = self.access.as_mut() {
            a.bytes += n as u64;
        }
        if let Some(s) = self.slot.as_mut() {
            s.bytes += n as u64;
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
            Kind::Proxied(p) => {
                let Some(frames) = p.frames.as_mut().filter(|_| !p.done) else {
                    return Poll::Ready(None);
                };
                {
                    match ready!(frames.poll_next(cx)) {
                        Ok(Some(Frame::ResponseBody(b))) => {
                            p.relayed += b.len() as u64;
                            // The end usually came in the same read: take it
                            // now, so the connection is kept even when hyper
                            // stops at the Content-Length.
                            if let Some(keep) = frames.buffered_end() {
                                p.end(keep, Some(cx));
                            }
                            Some(Ok(HttpFrame::data(b)))
                        }
                        Ok(Some(Frame::ResponseEnd { keep })) => {
                            p.end(keep, Some(cx));
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
            Kind::Proxied(p) => p.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::File { left, .. } => SizeHint::with_exact(*left),
            Kind::Proxied(_) => SizeHint::default(),
        }
    }
}

impl Drop for RespBody {
    fn drop(&mut self) {
        if let Kind::Proxied(p) = std::mem::replace(&mut self.kind, Kind::Full(None)) {
            p.finish_in_background();
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
