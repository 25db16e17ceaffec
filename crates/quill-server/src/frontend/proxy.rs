//! Proxying to a daemon group: admission to the group, a kept connection
//! or a new one (mod_wsgi's connect retries), the `Head`, the request body
//! pumped in `Body` frames, and the daemon's frames up to the response
//! head; after it, the response body is taken off the daemon by a
//! [`relay`] task into a [`Spool`] (see `spool`) that the response body
//! reads, and the connection is kept for the next request when the
//! response ends cleanly.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use hyper::body::{Body, Incoming};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;

use super::error::{Client, FrontError};
use super::route::RouteTable;
use super::spool::{Room, Spool};
use super::{FrontEnd, GroupEndpoint, Resp, RespBody};
use crate::log::Level;
use crate::plan::{Mount, ReadStage};
use crate::pool::{ConnectPacing, KeptConn, Lease, Permit};
use crate::protocol::{self, Frame};

/// Sends the request to the group and relays its answer. Its failures
/// are rendered where they happen, so that their error-log line is
/// written before the request lets go of its daemon connection and thread.
pub(super) async fn forward(
    fe: &FrontEnd,
    site: &RouteTable,
    mount: &Mount,
    peer: SocketAddr,
    mut head_bytes: BytesMut,
    body: Incoming,
) -> Resp {
    let log = fe.site_error_log(fe.sites.index_of(site));
    let Some(group) = mount.group.and_then(|g| fe.groups.get(g)) else {
        return FrontError::no_group().respond(log);
    };
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
        Err(_) => return FrontError::head_timeout(remote, group, mount).respond(log),
        Ok(Err(())) => return FrontError::queue_full(remote, group).respond(log),
    };
    let max_attempts = 2 * group.processes.max(1) + 1;
    let mut attempts = 0;
    loop {
        // A kept connection to a process with an idle thread, else a new
        // one through the group's backlog (docs/protocol.md).
        let taken = match group.pool.take(false) {
            Some(t) => Some(t),
            // Every thread is busy, some with our requests: wait for one of
            // them to end rather than in the backlog (crate::pool).
            None if group.pool.should_wait() => {
                let mut turn = group.pool.queue();
                loop {
                    if let Some(t) = group.pool.take(true) {
                        break Some(t);
                    }
                    if !group.pool.saturated() {
                        break None;
                    }
                    if tokio::time::timeout_at(head_deadline, turn.wait())
                        .await
                        .is_err()
                    {
                        return FrontError::head_timeout(remote, group, mount).respond(log);
                    }
                }
            }
            None => None,
        };
        let (mut lease, conn, kept) = match taken {
            Some((lease, conn)) => (lease, conn, true),
            None => {
                attempts += 1;
                if attempts > max_attempts {
                    return FrontError::restart_connects(remote, max_attempts).respond(log);
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
                        return FrontError::connect_exhausted(remote, group, &e).respond(log);
                    }
                    Err(ConnectError::Fatal(e)) => {
                        return FrontError::connect_failed(remote, group, &e).respond(log);
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
        // The body pump while it runs. Once its task has ended it is
        // dropped (its result taken here, or lost with the write half):
        // a JoinHandle must not be polled again after it gave its output.
        let mut pump: Option<AbortOnDrop<PumpResult>> = None;
        let mut heard = false;
        // socket-timeout bounds the whole wait for the head, from the
        // request's admission wait on, whatever frames (Accepted, Continue)
        // come before it.
        let deadline = head_deadline;
        let first = loop {
            let frame = tokio::select! {
                // The client's body failed (too slow, malformed, too
                // large) before the application answered: that is the
                // answer (408, 400, 413), not the daemon's.
                done = async { (&mut pump.as_mut()?.task).await.ok() }, if pump.is_some() => {
                    pump = None;
                    match done {
                        Some(Ok(w)) => write = Some(w),
                        Some(Err(e)) if e.answer().is_some() => {
                            let answer = e.answer();
                            drain_in_background(reader, lease, permit.take(), group.socket_timeout);
                            return match answer {
                                Some(e) => e.respond(log),
                                None => FrontError::no_group().respond(log),
                            };
                        }
                        // The client or the daemon went away mid-body, or
                        // the task failed: the daemon's answer still
                        // stands; the connection is not kept (no write half).
                        _ => {}
                    }
                    continue;
                }
                f = tokio::time::timeout_at(deadline, reader.next()) => match f {
                    Err(_) => return FrontError::head_timeout(remote, group, mount).respond(log),
                    Ok(f) => f,
                },
            };
            match frame {
                Ok(Some(Frame::Accepted { pid })) if !heard => {
                    lease.bind(pid);
                    heard = true;
                    continue;
                }
                Ok(Some(Frame::Continue)) if body.is_some() => {
                    heard = true;
                    if let (Some(b), Some(w)) = (body.take(), write.take()) {
                        pump = Some(AbortOnDrop::new(tokio::spawn(pump_body(
                            b,
                            w,
                            BodyRules {
                                limit: site.limit_request_body,
                                stage: site.body_stage,
                                timeout: site.timeout,
                                log: log.clone(),
                                remote,
                            },
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
            Ok(Some(Frame::Reject)) if body.is_some() => continue,
            Ok(Some(Frame::Fail { status, message })) => {
                return FrontError::daemon_failed(remote, group, status, &message).respond(log);
            }
            Ok(Some(Frame::ResponseHead(h))) => {
                let Some((mut r, expected)) = response_for(h) else {
                    return FrontError::malformed_header(remote, group).respond(log);
                };
                let writer = match (pump, write) {
                    (Some(_), Some(w)) => WriteSide::Idle(w),
                    (Some(p), _) => WriteSide::Pump(p),
                    (None, Some(w)) => WriteSide::Idle(w),
                    (None, None) => WriteSide::Gone,
                };
                let spool = std::sync::Arc::new(Spool::new(fe.response_buffer.clone()));
                let mut proxied = Proxied {
                    frames: Some(reader),
                    writer,
                    lease: Some(lease),
                    permit: permit.take(),
                    expected,
                    socket_timeout: group.socket_timeout,
                };
                // Most responses came whole with their head: no task.
                if !relay_buffered(&mut proxied, &spool) {
                    tokio::spawn(relay(proxied, spool.clone()));
                }
                *r.body_mut() = RespBody::spooled(spool, expected);
                return r;
            }
            Ok(None) | Ok(Some(_)) | Err(_) => {
                return FrontError::truncated_head(remote, group, mount).respond(log);
            }
        }
    }
}

/// The response an application's head starts, with its Content-Length;
/// `None` when a header is not valid HTTP.
pub(super) fn response_for(h: protocol::ResponseHead) -> Option<(Resp, Option<u64>)> {
    let status = StatusCode::from_u16(h.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = Response::new(RespBody::empty());
    *r.status_mut() = status;
    // Keep the application's reason phrase when it is not the standard
    // one ("299 Custom Thing").
    if status.canonical_reason().map(str::as_bytes) != Some(&h.reason[..]) {
        if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(h.reason.clone()) {
            r.extensions_mut().insert(reason);
        }
    }
    let hm = r.headers_mut();
    for (k, v) in h.headers {
        let k = header::HeaderName::from_bytes(&k).ok()?;
        let v = HeaderValue::from_maybe_shared(v).ok()?;
        hm.append(k, v);
    }
    let expected = hm
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    Some((r, expected))
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

/// What the body pump reads the client's body by.
pub(super) struct BodyRules {
    /// `LimitRequestBody` (0 = none): a chunked body over it gets 413.
    pub(super) limit: u64,
    /// mod_reqtimeout's body stage, if on.
    pub(super) stage: Option<ReadStage>,
    /// `Timeout`: the longest wait for one read without the body stage.
    pub(super) timeout: Duration,
    pub(super) log: std::sync::Arc<crate::log::ErrorLog>,
    pub(super) remote: Client,
}

/// Why the body pump stopped before the body's end.
#[derive(Debug)]
pub(super) enum PumpError {
    /// The client went away (or broke the connection) mid-body.
    ClientGone,
    /// The daemon stopped reading (the application read no more).
    DaemonGone,
    /// The body did not come within RequestReadTimeout's body stage (or
    /// a read took longer than Timeout): 408.
    TimedOut,
    /// A chunked body that is not valid chunked coding: 400.
    Malformed,
    /// A chunked body over LimitRequestBody: 413.
    TooLarge,
}

impl PumpError {
    /// The client's answer when no response head went out yet; `None`
    /// when the daemon's answer is still the one to give.
    pub(super) fn answer(&self) -> Option<FrontError> {
        match self {
            PumpError::ClientGone | PumpError::DaemonGone => None,
            PumpError::TimedOut => Some(FrontError::body_timeout()),
            PumpError::Malformed => Some(FrontError::malformed_body()),
            PumpError::TooLarge => Some(FrontError::chunked_too_large()),
        }
    }
}

type PumpResult = Result<OwnedWriteHalf, PumpError>;

/// How much of the client's body the pump gathers for one write to the
/// daemon when the client has sent more than one read's worth: every
/// write wakes a daemon thread waiting for the body, and on an upload
/// those wake-ups cost the front end and the daemon more than the copies
/// (docs/benchmarks.md, "Bulk transfers in daemon mode, counted").
const PUMP_BATCH: usize = 256 * 1024;

/// At most this many pieces in one batch (a chunked body may come in
/// pieces of a byte: each is a frame of its own, two `iovec`s).
const PUMP_BATCH_PIECES: usize = 64;

/// Streams the client's body to the daemon; stops quietly when the daemon
/// closes (the application did not read it all). Gives the write half
/// back after the `End` frame, for the connection's next request; on a
/// failure it is dropped, a half-close the daemon sees as an early end of
/// the body, and the failure's error-log line is written here (httpd's
/// words: mod_reqtimeout's AH01382, the HTTP input filter's AH01590 and
/// AH01591), whether or not the response has started.
///
/// What the client already sent is gathered, up to [`PUMP_BATCH`] bytes
/// or [`PUMP_BATCH_PIECES`] pieces, and
/// written with one `writev`: after each piece hyper hands over, its
/// connection task is given a turn to read the next; the batch goes out as
/// soon as it has nothing more at once.
pub(super) async fn pump_body<W: AsyncWrite + Unpin>(
    mut body: Incoming,
    mut write: W,
    rules: BodyRules,
) -> Result<W, PumpError> {
    let mut total = 0u64;
    let start = Instant::now();
    let mut batch: Vec<Bytes> = Vec::new();
    loop {
        let mut ended = next_frame(&mut body, start, &mut total, &rules, &mut batch, true).await?;
        let mut gathered: usize = batch.iter().map(Bytes::len).sum();
        while !ended && gathered > 0 && gathered < PUMP_BATCH && batch.len() < PUMP_BATCH_PIECES {
            let mut turned = false;
            // One turn for the other tasks: the connection task is already
            // queued (taking a piece woke it). Not `yield_now`, which also
            // polls the I/O driver (an `epoll_wait`) every time.
            std::future::poll_fn(|cx| {
                if std::mem::replace(&mut turned, true) {
                    Poll::Ready(())
                } else {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await;
            let more =
                std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await;
            let Poll::Ready(frame) = more else {
                break;
            };
            let before = batch.len();
            ended = take_frame(frame, &mut total, &rules, &mut batch, true)?;
            gathered += batch[before..].iter().map(Bytes::len).sum::<usize>();
        }
        if !batch.is_empty() {
            if write_body_frames(&mut write, &batch).await.is_err() {
                if !ended {
                    tokio::spawn(discard_rest(body, start, total, rules));
                }
                return Err(PumpError::DaemonGone);
            }
            batch.clear();
        }
        if ended {
            break;
        }
    }
    let mut end = BytesMut::new();
    protocol::encode(&Frame::End, &mut end);
    match write.write_all(&end).await {
        Ok(()) => Ok(write),
        Err(_) => Err(PumpError::DaemonGone),
    }
}

/// The rest of a body the application stopped reading (its daemon
/// process or request thread let go of it) is read and thrown away, as
/// httpd discards a request body the handler left unread: the client can
/// finish sending it and read its answer, and the connection stays usable.
/// Bounded as the body's reads are (RequestReadTimeout's body stage, or
/// Timeout per read, and LimitRequestBody); a failure ends it, and hyper
/// then closes the connection after the response.
async fn discard_rest(mut body: Incoming, start: Instant, mut total: u64, rules: BodyRules) {
    let mut sink = Vec::new();
    while let Ok(false) = next_frame(&mut body, start, &mut total, &rules, &mut sink, false).await {
        sink.clear();
    }
}

/// Waits for the next frame of the client's body, within its read
/// deadline (RequestReadTimeout's body stage from `start`, else Timeout),
/// and takes it as [`take_frame`] does.
async fn next_frame(
    body: &mut Incoming,
    start: Instant,
    total: &mut u64,
    rules: &BodyRules,
    batch: &mut Vec<Bytes>,
    proxying: bool,
) -> Result<bool, PumpError> {
    let deadline = match rules.stage {
        Some(stage) => stage.deadline(start, *total),
        None => Instant::now() + rules.timeout,
    };
    let next = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx));
    match tokio::time::timeout_at(deadline, next).await {
        Err(_) => {
            if rules.stage.is_some() {
                rules.log.log(
                    Level::Info,
                    "reqtimeout",
                    &format!("{} AH01382: Request body read timeout", rules.remote),
                );
            }
            if proxying {
                proxy_error(rules, "The timeout specified has expired.");
            }
            Err(PumpError::TimedOut)
        }
        Ok(frame) => take_frame(frame, total, rules, batch, proxying),
    }
}

/// One frame of the client's body: its data added to `batch` (counted
/// against LimitRequestBody); true at the body's end. `proxying`: the
/// body is still going to the application, and a failure also gets
/// mod_wsgi's line about it.
fn take_frame(
    frame: Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>,
    total: &mut u64,
    rules: &BodyRules,
    batch: &mut Vec<Bytes>,
    proxying: bool,
) -> Result<bool, PumpError> {
    let remote = rules.remote;
    let frame = match frame {
        None => return Ok(true),
        Some(Ok(f)) => f,
        Some(Err(e)) if is_malformed(&e) => {
            rules.log.log(
                Level::Info,
                "http",
                &format!("(22)Invalid argument: {remote} AH01590: Error reading/parsing chunk  "),
            );
            if proxying {
                proxy_error(rules, "Unknown error -102.");
            }
            return Err(PumpError::Malformed);
        }
        Some(Err(_)) => return Err(PumpError::ClientGone),
    };
    let Ok(data) = frame.into_data() else {
        return Ok(false);
    };
    if data.is_empty() {
        return Ok(false);
    }
    *total += data.len() as u64;
    if rules.limit > 0 && *total > rules.limit {
        rules.log.log(
            Level::Info,
            "http",
            &format!(
                "{remote} AH01591: Read content length of {total} is larger than the configured limit of {}",
                rules.limit
            ),
        );
        if proxying {
            proxy_error(rules, "Unknown error -102.");
        }
        return Err(PumpError::TooLarge);
    }
    batch.push(data);
    Ok(false)
}

/// Writes `pieces` as `Body` frames (each piece one frame, cut at
/// `BODY_CHUNK`), headers and payloads together in as few `writev`s as
/// the socket takes.
async fn write_body_frames<W: AsyncWrite + Unpin>(
    write: &mut W,
    pieces: &[Bytes],
) -> io::Result<()> {
    let payloads: Vec<&[u8]> = pieces
        .iter()
        .flat_map(|p| p.chunks(protocol::BODY_CHUNK))
        .collect();
    let headers: Vec<[u8; protocol::FRAME_HEADER_LEN]> = payloads
        .iter()
        .map(|p| protocol::body_frame_header(protocol::kind::BODY, p.len()))
        .collect();
    let mut slices: Vec<io::IoSlice<'_>> = headers
        .iter()
        .zip(&payloads)
        .flat_map(|(h, p)| [io::IoSlice::new(h), io::IoSlice::new(p)])
        .collect();
    let mut left = &mut slices[..];
    while !left.is_empty() {
        let n = write.write_vectored(left).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        io::IoSlice::advance_slices(&mut left, n);
    }
    Ok(())
}

/// mod_wsgi's line after the HTTP input filter's (or mod_reqtimeout's)
/// when the body it proxies fails, with APR's words for the failure
/// (`Unknown error -102` is AP_FILTER_ERROR, which APR cannot name).
fn proxy_error(rules: &BodyRules, why: &str) {
    rules.log.log(
        Level::Error,
        "wsgi",
        &format!(
            "{} mod_wsgi (pid={}): Request data read error when proxying data to daemon process: {why}",
            rules.remote,
            std::process::id()
        ),
    );
}

/// Whether hyper's body error is a malformed chunked coding (hyper's
/// decoder says InvalidInput or InvalidData) rather than a connection
/// that ended.
fn is_malformed(e: &hyper::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData
            );
        }
        source = s.source();
    }
    false
}

/// After the front end answered a request itself (its body failed), the
/// daemon's answer is read and dropped, so that the request keeps its
/// daemon thread (`permit`) and process (`lease`) until the application
/// is done, as admission counts them; at most `timeout`.
fn drain_in_background(
    mut frames: FrameStream,
    lease: Lease,
    permit: Option<Permit>,
    timeout: Duration,
) {
    tokio::spawn(async move {
        let _held = (lease, permit);
        let _ = tokio::time::timeout(timeout, async {
            while let Ok(Some(f)) = frames.next().await {
                if matches!(f, Frame::ResponseEnd { .. } | Frame::Fail { .. }) {
                    break;
                }
            }
        })
        .await;
    });
}

/// A task aborted when this is dropped, unless it was let go first.
pub(super) struct AbortOnDrop<T> {
    pub(super) task: tokio::task::JoinHandle<T>,
    abort: bool,
}

impl<T> AbortOnDrop<T> {
    pub(super) fn new(task: tokio::task::JoinHandle<T>) -> AbortOnDrop<T> {
        AbortOnDrop { task, abort: true }
    }

    /// Lets the task run to its end on its own.
    pub(super) fn let_go(mut self) {
        self.abort = false;
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if self.abort {
            self.task.abort();
        }
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
pub(super) struct FrameStream {
    read: OwnedReadHalf,
    buf: BytesMut,
}

impl FrameStream {
    /// `buf`: what a kept connection's reader had left (normally nothing,
    /// but its allocation is reused).
    fn with_buf(read: OwnedReadHalf, buf: BytesMut) -> FrameStream {
        FrameStream { read, buf }
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

/// The daemon side of a request, while its response is relayed.
enum WriteSide {
    /// No request body: the write half, idle.
    Idle(OwnedWriteHalf),
    /// The body pump, which gives the write half back when done.
    Pump(AbortOnDrop<PumpResult>),
    Gone,
}

/// A response being relayed from a daemon, and its connection.
pub(super) struct Proxied {
    /// `None` once the connection was kept or given up.
    frames: Option<FrameStream>,
    writer: WriteSide,
    /// Counts the request against its process until the response ends.
    lease: Option<Lease>,
    /// Its daemon thread, in the group's admission, until the response ends.
    permit: Option<Permit>,
    /// The application's Content-Length.
    expected: Option<u64>,
    socket_timeout: Duration,
}

impl Proxied {
    /// `ResponseEnd` arrived: keep the connection for the next request
    /// when the daemon keeps it and the request body went out whole (the
    /// body pump, if any, is done).
    fn end(&mut self, keep: bool) {
        let write = match std::mem::replace(&mut self.writer, WriteSide::Gone) {
            WriteSide::Idle(w) => Some(w),
            // (A finished task's result is ready at the first poll.)
            WriteSide::Pump(mut p) if p.task.is_finished() => {
                let mut cx = Context::from_waker(std::task::Waker::noop());
                match Pin::new(&mut p.task).poll(&mut cx) {
                    Poll::Ready(Ok(Ok(w))) => Some(w),
                    _ => None,
                }
            }
            // Still pumping: the application left some of its body unread
            // and its process let go of the connection. The pump goes on
            // and discards the rest (see `discard_rest`).
            WriteSide::Pump(p) => {
                p.let_go();
                None
            }
            WriteSide::Gone => None,
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
}

/// Moves the frames already read into `spool`; true when they held the
/// response's end (nothing left to relay).
fn relay_buffered(p: &mut Proxied, spool: &Spool) -> bool {
    loop {
        let Some(frames) = p.frames.as_mut() else {
            return true;
        };
        match protocol::decode(&mut frames.buf) {
            Ok(Some(Frame::ResponseBody(b))) => spool.push(b),
            Ok(Some(Frame::ResponseEnd { keep })) => {
                p.end(keep);
                spool.finish(Ok(()));
                return true;
            }
            Ok(Some(Frame::Abort(m))) => {
                spool.finish(Err(io::Error::other(format!(
                    "application failed mid-response: {m}"
                ))));
                return true;
            }
            Ok(Some(f)) => {
                spool.finish(Err(io::Error::other(format!(
                    "unexpected {} frame from the daemon",
                    f.name()
                ))));
                return true;
            }
            Ok(None) => return false,
            Err(e) => {
                spool.finish(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
                return true;
            }
        }
    }
}

/// Takes the daemon's response body into `spool` as fast as the daemon
/// sends it (see `spool`), until its end, then keeps the daemon connection
/// and lets go of the daemon thread. When the response body is dropped
/// first, the client got everything or went away: with the whole
/// Content-Length sent, the end is awaited (at most socket-timeout) so
/// that the connection can be kept; otherwise the connection is let go,
/// which stops the application at its next write.
pub(super) async fn relay(mut p: Proxied, spool: std::sync::Arc<Spool>) {
    loop {
        // Memory full: the client has `spill_after` to make room, then
        // the file takes what follows.
        let room = std::future::poll_fn(|cx| spool.poll_room(cx));
        let consumed = match tokio::time::timeout(spool.spill_after(), room).await {
            Ok(Room::Yes) => None,
            Ok(Room::ConsumerGone { consumed }) => Some(consumed),
            Err(_) => {
                spool.allow_spill();
                continue;
            }
        };
        let Some(frames) = p.frames.as_mut() else {
            return;
        };
        if let Some(consumed) = consumed {
            if p.expected != Some(consumed) {
                return;
            }
            let end = tokio::time::timeout(p.socket_timeout, async {
                loop {
                    match frames.next().await {
                        Ok(Some(Frame::ResponseBody(_))) => continue,
                        Ok(Some(Frame::ResponseEnd { keep })) => return Some(keep),
                        _ => return None,
                    }
                }
            })
            .await;
            if let Ok(Some(keep)) = end {
                p.end(keep);
            }
            return;
        }
        // (FrameStream::next keeps its state in its buffer: it may be
        // dropped unfinished when the body goes away.)
        let frame = tokio::select! {
            f = frames.next() => f,
            _ = std::future::poll_fn(|cx| spool.poll_gone(cx)) => continue,
        };
        let end = match frame {
            Ok(Some(Frame::ResponseBody(b))) => {
                spool.push(b);
                continue;
            }
            Ok(Some(Frame::ResponseEnd { keep })) => {
                p.end(keep);
                Ok(())
            }
            Ok(Some(Frame::Abort(m))) => Err(io::Error::other(format!(
                "application failed mid-response: {m}"
            ))),
            Ok(Some(f)) => Err(io::Error::other(format!(
                "unexpected {} frame from the daemon",
                f.name()
            ))),
            Ok(None) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "daemon closed the response early",
            )),
            Err(e) => Err(e),
        };
        spool.finish(end);
        return;
    }
}
