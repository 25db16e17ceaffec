//! The HTTP front end: HTTP/1.1 with keep-alive and, over TLS where
//! `Protocols h2` offers it, HTTP/2 (hyper), TLS with SNI (rustls), static
//! files for `Alias`, and proxying of WSGI requests to the daemon groups
//! over the wire protocol with bodies streamed both ways.
//!
//! It runs in each front-end child process ([`crate::child`]) and owns no
//! processes: it knows each group by socket path and timeouts
//! ([`GroupEndpoint`]), so the children run side by side while one
//! supervisor runs the groups. What a connection or request holds of the
//! child's worker slots is [`crate::workers`]'.
//!
//! ```text
//!  accept ─▶ [TLS handshake: SNI, ALPN] ─▶ hyper conn (HTTP/1.1 or HTTP/2)
//!         ─▶ route ─┬─ Alias ─────────▶ file body
//!                   ├─ embedded mount ▶ this process's Python (`embedded`)
//!                   ├─ WSGI mount ───▶ connect (retry ≤ connect-timeout, else 503)
//!                   │                   Head ─▶ [Continue ─▶ body pump task]
//!                   │                   first frame ≤ socket-timeout (else 504)
//!                   │                   ResponseHead ─▶ relay task ─▶ spool ─▶ body
//!                   └─ else 404
//! ```
//!
//! This file holds the accept loop and the connection tasks ([`serve`])
//! and what every request goes through (`handle`); the rest is split by
//! stage:
//!
//! * `tls` — TLS as mod_ssl does it: the SNI name chooses the server and
//!   its certificate, ALPN chooses HTTP/2, a Host whose server's TLS is
//!   not the connection's gets 421;
//! * `client_io`, `framing` — the client socket as hyper sees it: heads
//!   held until whole and checked (bare LF, LimitRequestLine), timed
//!   (RequestReadTimeout's header stage), writes bounded by Timeout;
//! * `route` — the request path (%-decoding, `//` collapsing) and which
//!   `Alias` or WSGI mount serves it;
//! * `static_files` — an `Alias`'s files;
//! * `environ` — mod_wsgi's request checks and the CGI/WSGI environ of
//!   the `Head` frame;
//! * `proxy` — admission, connecting to the group, the body pump and the
//!   daemon's frames, up to the response head;
//! * `embedded` — a mount without a daemon group, run by this process's
//!   own Python threads (embedded mode);
//! * `spool` — a daemon's response taken off it at once, in memory then
//!   in a temporary file, for the client to read at its pace;
//! * `body` — response bodies ([`RespBody`]) and what ends with them: the
//!   access-log line, the worker slot, the request's place on its
//!   connection;
//! * `error` — a failed request: its status, error page and error-log line.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderValue};
use http::{Request, Response, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::log::{ErrorLog, Level};
use crate::plan::{ReadTimeouts, ResponseBuffer, ServerPlan};
use crate::pool::{Admission, Pool};
use crate::workers::{Worker, Workers};
use quill_mpm::{AcceptCheck, ConnectionCounter, Mpm, ThreadStatus};

mod access_log;
mod body;
mod client_io;
mod embedded;
mod environ;
mod error;
mod framing;
pub mod metrics;
mod parse;
mod proxy;
mod remoteip;
mod route;
mod spool;
mod static_files;
pub mod status;
mod tls;

pub use body::RespBody;
use body::{ConnState, InFlight, SlotGuard};
use client_io::{ClientIo, IoRules};
pub use embedded::{Engine, Python};
pub use environ::Stamps;
pub use error::FrontError;
pub use parse::{Declared, parse_head};
pub use route::{Ends, RouteTable, Routed, Sites, environ_fault, route_request};
pub use tls::{ConnTls, TlsSites};

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

/// What reading a connection's requests takes from the server the
/// connection starts with (httpd reads a request's head before it knows
/// its Host: see [`crate::plan::SitePlan`]).
#[derive(Debug, Clone)]
pub struct ConnRules {
    pub limit_request_head: usize,
    /// `LimitRequestLine`.
    pub limit_request_line: usize,
    /// `HttpProtocolOptions Strict`.
    pub strict_heads: bool,
    /// `RequestReadTimeout`.
    pub read_timeouts: ReadTimeouts,
    /// `KeepAliveTimeout` (`None`: `KeepAlive Off`).
    pub keep_alive: Option<Duration>,
    /// `Timeout`: the longest wait for one read or write of a client.
    pub timeout: Duration,
    /// mod_http2's limits for an HTTP/2 connection.
    pub h2: crate::plan::H2Plan,
}

/// Everything a front end serves with.
pub struct FrontEnd {
    /// What routing and the environ take from the configuration: the
    /// servers and how each listener's connections choose among them.
    pub sites: Sites,
    /// Per server of [`Sites::servers`], what reading its connections
    /// takes.
    pub conn_rules: Vec<ConnRules>,
    /// The daemon groups, indexed as [`RouteTable::groups`].
    pub groups: Vec<GroupEndpoint>,
    /// What is held of each response for a slow client (see `spool`).
    pub response_buffer: ResponseBuffer,
    /// The main server's error log: what belongs to no request.
    pub error_log: Arc<ErrorLog>,
    /// Per server of [`Sites::servers`], its error log, access logs and
    /// mod_remoteip (none: the main server's error log, no access log).
    pub logs: Vec<crate::logging::SiteSinks>,
    /// The headers the access logs write.
    log_needs: access_log::Needs,
    /// mod_status, when a `<Location>` sets `server-status` (see
    /// [`FrontEnd::with_status`]).
    pub status: Option<status::StatusPage>,
    /// `SetHandler quill-metrics` (its `<Location>`s are in
    /// [`RouteTable::metrics`]): the scoreboard for the front-end pool's
    /// gauges.
    pub metrics: Option<Arc<crate::scoreboard::Scoreboard>>,
    /// Embedded mode: this process's Python, for the mounts without a
    /// daemon group (see [`FrontEnd::with_embedded`]); `None`: such mounts
    /// get 500 (`WSGIRestrictEmbedded On`).
    pub embedded: Option<Engine>,
    /// Each server's TLS (see `tls`; none until [`FrontEnd::with_tls`]).
    pub tls: TlsSites,
}

impl std::fmt::Debug for FrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontEnd")
            .field("sites", &self.sites)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

impl FrontEnd {
    pub fn from_plan(
        plan: &ServerPlan,
        error_log: Arc<ErrorLog>,
        logs: Vec<crate::logging::SiteSinks>,
    ) -> FrontEnd {
        let groups: Vec<String> = plan.groups.iter().map(|g| g.spec.group.clone()).collect();
        let servers = plan
            .servers
            .iter()
            .map(|s| RouteTable {
                server_name: s.server_name.clone(),
                document_root: s.document_root.clone(),
                mounts: s.mounts.clone(),
                environ_blocks: environ::mount_blocks(&s.mounts, &groups, &s.document_root),
                aliases: s.aliases.clone(),
                groups: groups.clone(),
                encoded_slashes: s.encoded_slashes,
                limit_request_body: s.limit_request_body,
                keep_alive: s.keep_alive,
                max_keep_alive_requests: s.max_keep_alive_requests,
                timeout: s.timeout,
                body_stage: s.read_timeouts.body,
                // (Served only with a scoreboard: see `with_status`.)
                status: Vec::new(),
                metrics: Vec::new(),
            })
            .collect();
        // Each socket's routing, in the order the sockets are handed over
        // (a socket the configuration no longer names: the main server's).
        let listeners = plan
            .listen
            .iter()
            .map(|addr| {
                plan.routing
                    .iter()
                    .find(|r| r.listen == *addr)
                    .map(|r| r.routing.clone())
            })
            .collect();
        FrontEnd {
            sites: Sites { servers, listeners },
            conn_rules: plan
                .servers
                .iter()
                .map(|s| ConnRules {
                    limit_request_head: s.limit_request_head,
                    limit_request_line: s.limit_request_line,
                    strict_heads: s.strict_heads,
                    read_timeouts: s.read_timeouts,
                    keep_alive: s.keep_alive,
                    timeout: s.timeout,
                    h2: s.h2,
                })
                .collect(),
            groups: plan
                .groups
                .iter()
                .map(|g| GroupEndpoint {
                    name: g.spec.group.clone(),
                    socket_path: g.socket_path.clone(),
                    processes: g.spec.processes,
                    connect_timeout: g.connect_timeout,
                    socket_timeout: g.socket_timeout,
                    // Without the board, the pool counts only its own
                    // requests.
                    pool: Pool::new(
                        g.spec.threads,
                        quill_protocol::busy::BusyBoard::attach(&g.busy_board_path()).ok(),
                    ),
                    admission: Arc::new(Admission::new(
                        g.spec
                            .processes
                            .max(1)
                            .saturating_mul(g.spec.threads.max(1)),
                        g.listen_backlog,
                    )),
                })
                .collect(),
            response_buffer: plan.response_buffer.clone(),
            error_log,
            log_needs: access_log::Needs::of(&logs),
            logs,
            status: None,
            metrics: None,
            embedded: None,
            tls: TlsSites::default(),
        }
    }

    /// Runs the embedded-mode mounts in `engine` (a front-end child that
    /// hosts Python).
    pub fn with_embedded(mut self, engine: Engine) -> FrontEnd {
        self.embedded = Some(engine);
        self
    }

    /// Serves `plan`'s TLS, from the certificates and keys the supervisor
    /// read for this generation.
    pub fn with_tls(mut self, plan: &ServerPlan) -> Result<FrontEnd, crate::tls::TlsError> {
        self.tls = TlsSites::from_plan(plan)?;
        Ok(self)
    }

    /// Serves `plan`'s status pages from `scoreboard` (a front-end child's).
    pub fn with_status(
        mut self,
        plan: &ServerPlan,
        scoreboard: Arc<crate::scoreboard::Scoreboard>,
    ) -> FrontEnd {
        for (table, site) in self.sites.servers.iter_mut().zip(&plan.servers) {
            table.status = site.status.clone();
            table.metrics = site.metrics.clone();
        }
        if plan.servers.iter().any(|s| !s.metrics.is_empty()) {
            self.metrics = Some(scoreboard.clone());
        }
        if plan.servers.iter().any(|s| !s.status.is_empty()) {
            self.status = Some(status::StatusPage {
                extended: plan.extended_status,
                mpm: plan.pool.mpm,
                max_servers: if plan.pool.mpm == Mpm::Prefork {
                    plan.pool.max_request_workers
                } else {
                    plan.pool.max_request_workers / plan.pool.threads_per_child.max(1)
                },
                threads_per_child: plan.pool.threads_per_child,
                scoreboard,
            });
        }
        self
    }

    /// The error log of server `i` (the main server's when it has none).
    fn site_error_log(&self, i: usize) -> &Arc<ErrorLog> {
        self.logs.get(i).map_or(&self.error_log, |l| &l.error)
    }

    /// The rules for reading a connection that starts with server `base`.
    fn conn_rules(&self, base: usize) -> &ConnRules {
        match self
            .conn_rules
            .get(base)
            .or_else(|| self.conn_rules.first())
        {
            Some(r) => r,
            None => &FALLBACK_RULES,
        }
    }
}

/// httpd's defaults, for a front end made without any server (never from
/// a plan, which always has the main server).
static FALLBACK_RULES: ConnRules = ConnRules {
    limit_request_head: 16 * 1024,
    limit_request_line: 8190,
    strict_heads: true,
    read_timeouts: ReadTimeouts {
        header: None,
        body: None,
    },
    keep_alive: Some(Duration::from_secs(5)),
    timeout: Duration::from_secs(60),
    h2: crate::plan::H2Plan {
        max_streams: 100,
        stream_window: 65535,
    },
};

/// How often a connection without a keep-alive time looks whether a
/// response gave it one (see the connection task in [`serve`]).
const KEEP_ALIVE_LOOK: Duration = Duration::from_secs(1);

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

/// How long a stopping event child leaves a kept-alive connection open
/// after its last response, at least, before it closes it (httpd closes
/// them at once; a request sent right after a response may be on its way).
const STOPPING_EVENT_GRACE: Duration = Duration::from_millis(100);

/// How a connection's requests get their worker slot (see [`crate::workers`]).
#[derive(Clone)]
enum SlotCtx {
    /// prefork/worker: the connection holds one slot for its whole life.
    Held(Arc<Worker>),
    /// event: each request takes a slot while it is in progress. The
    /// first request uses the slot the listener reserved before it accepted
    /// the connection, as httpd's event listener hands a new connection to
    /// the idle worker it waited for.
    PerRequest(Arc<Workers>, Arc<std::sync::Mutex<Option<Worker>>>),
}

/// The first connection any of `listeners` has ready, with the index of
/// the listener that accepted it.
async fn accept_any(
    listeners: &[TcpListener],
) -> (usize, io::Result<(tokio::net::TcpStream, SocketAddr)>) {
    std::future::poll_fn(|cx| {
        for (i, l) in listeners.iter().enumerate() {
            if let Poll::Ready(r) = l.poll_accept(cx) {
                return Poll::Ready((i, r));
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
        // The MPM's gate: a free slot (prefork/worker), or room under the
        // connection limit and an idle slot, reserved for the connection's
        // first request (event). Either way, the slot is taken before the
        // accept, so a child whose slots are all busy leaves new
        // connections in the listen queue for other children, as httpd's
        // do.
        let reserved = loop {
            tokio::select! {
                _ = shutdown.changed() => break 'accepting StopReason::Told,
                _ = sweep.tick() => for g in &fe.groups { g.pool.sweep() },
                Some(_) = conns.join_next(), if !conns.is_empty() => counter.on_connection_finished(),
                w = workers.acquire(), if !event => break w,
                _ = workers.wait_until_accepting(), if event => {
                    if let Some(w) = workers.try_acquire() {
                        break w;
                    }
                }
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
        let (listener, accepted) = accepted;
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
        reserved.set(ThreadStatus::BusyRead);
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(peer);
        let ends = Ends {
            peer,
            local,
            listener,
        };
        let slot = if event {
            SlotCtx::PerRequest(
                workers.clone(),
                Arc::new(std::sync::Mutex::new(Some(reserved))),
            )
        } else {
            SlotCtx::Held(Arc::new(reserved))
        };
        let open = workers.open_connection();
        let fe = fe.clone();
        let mut stop = drain_rx.clone();
        conns.spawn(async move {
            let _open = open;
            let svc_fe = fe.clone();
            // The server the connection starts with (httpd's base server).
            let base = fe.sites.base(ends.listener, ends.local.ip());
            let rules = fe.conn_rules(base);
            let state = Arc::new(ConnState::new(rules.keep_alive, rules.timeout));
            let svc_state = state.clone();
            // The request's future is boxed: it is large (the whole
            // proxying state machine) and would otherwise sit inline
            // in every connection's task, idle ones included.
            // TLS when the base server has it (see `tls`).
            let (stream, conn_tls) = match fe.tls.get(base) {
                None => (tls::Transport::Plain(stream), None),
                Some(_) => {
                    let shake = tls::handshake(
                        &fe.sites,
                        &fe.tls,
                        stream,
                        ends,
                        base,
                        rules.timeout,
                        &fe.error_log,
                    );
                    match shake.await {
                        Some((t, c)) => (t, Some(c)),
                        None => return,
                    }
                }
            };
            let http2 = conn_tls.as_ref().is_some_and(|c| c.h2);
            let service = service_fn(move |mut req: Request<Incoming>| {
                let fe = svc_fe.clone();
                let slot = slot.clone();
                let state = svc_state.clone();
                if let Some(c) = &conn_tls {
                    req.extensions_mut().insert(c.clone());
                }
                Box::pin(async move {
                    Ok::<_, io::Error>(handle(fe, req, ends, base, slot, state).await)
                })
            });
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            if http2 {
                // mod_http2's limits; the connection window stays hyper's.
                let h2 = rules.h2;
                builder = builder.http2_only();
                builder
                    .http2()
                    .timer(TokioTimer::new())
                    .max_concurrent_streams(h2.max_streams)
                    .initial_stream_window_size(h2.stream_window)
                    .max_header_list_size(
                        u32::try_from(rules.limit_request_head).unwrap_or(u32::MAX),
                    );
            } else {
                builder = builder.http1_only();
                // (Heads are timed by ClientIo, as mod_reqtimeout times them.
                // Whether a response keeps the connection is the answering
                // server's KeepAlive: `route` says `Connection: close` when
                // not.)
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .keep_alive(true)
                    .header_read_timeout(None)
                    .max_buf_size(rules.limit_request_head.max(8192));
            }
            let io = ClientIo::new(
                stream,
                IoRules {
                    strict: rules.strict_heads,
                    line_limit: rules.limit_request_line,
                    head_limit: rules.limit_request_head.max(8192),
                    header: rules.read_timeouts.header,
                    timeout: rules.timeout,
                    http2,
                },
                state.clone(),
                fe.error_log.clone(),
                peer,
            );
            let conn = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            // KeepAliveTimeout (of the server that answered the last
            // response): a connection with no request in progress closes
            // this long after its last response (or after it was accepted,
            // while it drains). A stopping event child closes its
            // kept-alive connections at once, as httpd's listener does when
            // its child is dying, except one whose last response left less
            // than STOPPING_EVENT_GRACE ago: a request may be on its way.
            let wait_for = |draining: bool| match state.keep_alive() {
                k if !(draining && event) => k,
                Some(k) => Some(k.min(STOPPING_EVENT_GRACE)),
                None => Some(STOPPING_EVENT_GRACE),
            };
            // One lazy timer per connection, not one per request: when it
            // fires, it closes the connection if it has been idle long
            // enough, else it is set again for the earliest time it could
            // be (requests never wake this task). While the connection has
            // no keep-alive time (its default server has `KeepAlive Off`
            // and no response set one yet), it looks every KEEP_ALIVE_LOOK.
            let first = wait_for(false);
            let sleep = tokio::time::sleep(first.unwrap_or(KEEP_ALIVE_LOOK));
            tokio::pin!(sleep);
            let mut draining = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    _ = stop.changed(), if !draining => {
                        // Stopping: the next response says `Connection:
                        // close`, and an idle connection is closed when its
                        // keep-alive time is up (prefork/worker, as httpd's
                        // threads do) or at once (event, see above), so a
                        // request already on its way is still answered.
                        draining = true;
                        state.closing.store(true, std::sync::atomic::Ordering::Relaxed);
                        if let Some(k) = wait_for(true) {
                            let since = state.idle_since(true);
                            let now = tokio::time::Instant::now();
                            sleep.as_mut().reset(since.unwrap_or(now) + k);
                        }
                    }
                    _ = sleep.as_mut() => {
                        let now = tokio::time::Instant::now();
                        let Some(k) = wait_for(draining) else {
                            sleep.as_mut().reset(now + KEEP_ALIVE_LOOK);
                            continue;
                        };
                        match state.idle_since(draining) {
                            Some(t) if t + k <= now => {
                                if draining && event {
                                    state.no_linger.store(true, std::sync::atomic::Ordering::Relaxed);
                                }
                                conn.as_mut().graceful_shutdown();
                                let _ = conn.await;
                                break;
                            }
                            Some(t) => sleep.as_mut().reset(t + k),
                            // A request in progress (or none yet, before
                            // a drain): its end is later than now.
                            None => sleep.as_mut().reset(now + k),
                        }
                    }
                }
            }
        });
    };
    drop(listeners);
    workers.begin_graceful_stop();
    // Connections already open finish their current request, and kept-alive
    // ones close after it, or when their keep-alive time is up
    // (prefork/worker) or at once (event).
    let _ = drain_tx.send(true);
    while conns.join_next().await.is_some() {}
    reason
}

type Resp = Response<RespBody>;

async fn handle(
    fe: Arc<FrontEnd>,
    req: Request<Incoming>,
    ends: Ends,
    base: usize,
    slot: SlotCtx,
    conn: Arc<ConnState>,
) -> Resp {
    let peer = ends.peer;
    let rules = fe.conn_rules(base);
    // (Until a server is chosen, the default server's Timeout.)
    conn.set_timeout(rules.timeout);
    let refused = conn.next_request();
    let in_flight = InFlight::new(conn);
    let started = Instant::now();
    // The request's worker slot: the connection's own (prefork/worker), or
    // one taken now and held until the response ends (event).
    let write_completion = matches!(slot, SlotCtx::PerRequest(..));
    let worker = match slot {
        SlotCtx::Held(w) => w,
        SlotCtx::PerRequest(workers, first) => {
            let reserved = first.lock().unwrap_or_else(|e| e.into_inner()).take();
            match reserved {
                Some(w) => Arc::new(w),
                None => Arc::new(workers.acquire().await),
            }
        }
    };
    worker.set(ThreadStatus::BusyWrite);
    let request = worker.workers().begin_request();
    // Access-log facts are gathered only when there is an access log.
    let arrival = fe.log_needs.any.then(|| {
        let keepalives = in_flight.0.requests_so_far().saturating_sub(1);
        access_log::Arrival::new(
            &req,
            &fe.log_needs,
            peer,
            ends.local,
            keepalives,
            refused.is_some(),
        )
    });
    let closing = refused.is_some();
    let (mut resp, served) = match refused {
        // (Its server is not known: its line goes to the main server's
        // error log, its access-log line to the default server's logs.)
        Some(e) => (e.respond(&fe.error_log), route::Served::at(base, peer)),
        None => route::route(&fe, req, ends, rules, &in_flight.0).await,
    };
    if closing
        || in_flight
            .0
            .closing
            .load(std::sync::atomic::Ordering::Relaxed)
    {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let (Some(mut a), Some(site)) = (arrival, fe.logs.get(served.site)) {
        a.rewrite(served.rewritten);
        let name = fe
            .sites
            .servers
            .get(served.site)
            .map_or("", |t| t.server_name.as_str());
        let guard = access_log::AccessGuard::new(
            a,
            site,
            name,
            served.client,
            &resp,
            &fe.log_needs,
            served.env,
        );
        if let Some(g) = guard {
            resp.body_mut().set_access(g);
        }
    }
    resp.body_mut().set_slot(
        SlotGuard {
            worker: Some(worker),
            bytes: 0,
            started,
            _request: request,
            _in_flight: in_flight,
        },
        write_completion,
    );
    resp
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_09 => "HTTP/0.9",
        // (As mod_http2 names it in SERVER_PROTOCOL and the access log.)
        Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
