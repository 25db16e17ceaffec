//! Response bodies ([`RespBody`]: a fixed buffer, a file, or a daemon's
//! response taken off it into a spool) and what a request holds until its body ends or
//! is dropped: its access-log line ([`AccessGuard`]), its worker slot
//! ([`SlotGuard`]) and its place on the connection ([`InFlight`], counted
//! in [`ConnState`] for keep-alive and draining).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body, Frame as HttpFrame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

use super::access_log::AccessGuard;
use super::epoch_us;
use super::error::FrontError;
use super::spool::Spool;
use crate::workers::Worker;
use quill_mpm::ThreadStatus;

/// What a connection's task needs to know of its requests.
pub(super) struct ConnState {
    /// Requests whose response has not ended.
    pub(super) in_flight: std::sync::atomic::AtomicU32,
    /// When the last response ended.
    pub(super) last_done: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// The child is stopping: responses say `Connection: close`.
    pub(super) closing: std::sync::atomic::AtomicBool,
    /// Closed without a lingering close (see `client_io`): a kept-alive
    /// connection a stopping event child closes at once.
    pub(super) no_linger: std::sync::atomic::AtomicBool,
    /// When the connection was accepted.
    pub(super) accepted: tokio::time::Instant,
    /// A request head is being received (its first byte came): the
    /// connection is not idle (see `client_io`).
    receiving: std::sync::atomic::AtomicBool,
    /// Requests that reached the service so far.
    requests: std::sync::atomic::AtomicU64,
    /// A head refused before hyper saw it, by its request's number, and
    /// the answer it gets (see `client_io`).
    refused: std::sync::Mutex<Option<(u64, FrontError)>>,
    /// How long the connection stays open with no request after its last
    /// response, ms: the KeepAliveTimeout of the server that answered it
    /// (at first, of the connection's default server). `u64::MAX`: none
    /// (`KeepAlive Off`).
    keep_alive_ms: std::sync::atomic::AtomicU64,
    /// `Timeout` for the writes of the response in progress, ms: the
    /// chosen server's (before one is chosen, the default server's).
    timeout_ms: std::sync::atomic::AtomicU64,
}

impl ConnState {
    /// A connection whose default server has `keep_alive` and `timeout`.
    pub(super) fn new(
        keep_alive: Option<std::time::Duration>,
        timeout: std::time::Duration,
    ) -> ConnState {
        ConnState {
            keep_alive_ms: std::sync::atomic::AtomicU64::new(Self::ms(keep_alive)),
            timeout_ms: std::sync::atomic::AtomicU64::new(
                u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            ),
            in_flight: Default::default(),
            last_done: Default::default(),
            closing: Default::default(),
            no_linger: Default::default(),
            accepted: tokio::time::Instant::now(),
            receiving: Default::default(),
            requests: Default::default(),
            refused: Default::default(),
        }
    }

    pub(super) fn set_receiving(&self, receiving: bool) {
        self.receiving
            .store(receiving, std::sync::atomic::Ordering::Relaxed);
    }

    /// Request number `n` (counted from 0) is answered with `error`.
    pub(super) fn refuse(&self, n: u64, error: FrontError) {
        *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some((n, error));
    }

    fn ms(keep_alive: Option<std::time::Duration>) -> u64 {
        keep_alive.map_or(u64::MAX, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX - 1)
        })
    }

    /// The keep-alive time after the response now being answered (see
    /// `keep_alive_ms`).
    pub(super) fn set_keep_alive(&self, keep_alive: Option<std::time::Duration>) {
        self.keep_alive_ms
            .store(Self::ms(keep_alive), std::sync::atomic::Ordering::Relaxed);
    }

    /// The `Timeout` of the server answering now.
    pub(super) fn set_timeout(&self, timeout: std::time::Duration) {
        self.timeout_ms.store(
            u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    pub(super) fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// How long the connection may stay idle now (`None`: it closes
    /// after its response).
    pub(super) fn keep_alive(&self) -> Option<std::time::Duration> {
        match self
            .keep_alive_ms
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            u64::MAX => None,
            ms => Some(std::time::Duration::from_millis(ms)),
        }
    }

    /// Requests that reached the service so far, the one in progress
    /// included: its number, counted from 1.
    pub(super) fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts a request reaching the service; its answer if its head was
    /// refused.
    pub(super) fn next_request(&self) -> Option<FrontError> {
        let n = self
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        match refused.take() {
            Some((m, e)) if m == n => Some(e),
            other => {
                *refused = other;
                None
            }
        }
    }

    /// How many requests reached the service on this connection so far.
    pub(super) fn requests_so_far(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Since when the connection has had no request in progress: its last
    /// response's end, or (while draining, when no request came yet) its
    /// acceptance; `None` while a request is in progress.
    pub(super) fn idle_since(&self, draining: bool) -> Option<tokio::time::Instant> {
        if self.in_flight.load(std::sync::atomic::Ordering::Relaxed) > 0
            || self.receiving.load(std::sync::atomic::Ordering::Relaxed)
        {
            return None;
        }
        let last = *self.last_done.lock().unwrap_or_else(|e| e.into_inner());
        last.or_else(|| draining.then_some(self.accepted))
    }
}

/// A request in progress on its connection, from the moment it reached
/// the service until its response ends (or it is dropped unanswered).
pub(super) struct InFlight(pub(super) Arc<ConnState>);

impl InFlight {
    pub(super) fn new(conn: Arc<ConnState>) -> InFlight {
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
    }
}

/// Shows the request's worker slot busy until its response ends; then
/// counts the request in the scoreboard, and the slot waits in keep-alive
/// (prefork/worker, where the connection keeps it) or goes back to idle
/// (event, where this was the only holder).
pub(super) struct SlotGuard {
    /// `None` once handed to the response's spool (event's write
    /// completion, see [`RespBody::set_slot`]).
    pub(super) worker: Option<Arc<Worker>>,
    pub(super) bytes: u64,
    /// When the request's head had been read: its duration is counted.
    pub(super) started: Instant,
    /// Counts the request in progress (keep-alive connections are the
    /// others), until the response ends.
    pub(super) _request: crate::workers::RequestGuard,
    /// Dropped after the fields above: the request ends with its response.
    pub(super) _in_flight: InFlight,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(w) = &self.worker {
            let duration_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            w.count_request(self.bytes, duration_us, epoch_us());
            w.set(ThreadStatus::BusyKeepalive);
        }
    }
}

enum Kind {
    Full(Option<Bytes>),
    /// (Boxed, as the access guard is: a response is moved from task to
    /// task and into hyper, and every move copies it whole.)
    File {
        file: Box<tokio::fs::File>,
        left: u64,
    },
    /// A daemon's response, taken off it by its relay task; with the
    /// application's Content-Length, the
    /// bytes still to send: the body ends when they are sent, without
    /// waiting for the daemon's end of response (HTTP/1.1 ends there by
    /// itself; an HTTP/2 stream would otherwise end only with it).
    Spooled(Arc<Spool>, Option<u64>),
}

/// Response bodies: a fixed buffer, a file, or frames relayed from a daemon.
pub struct RespBody {
    kind: Kind,
    access: Option<Box<AccessGuard>>,
    slot: Option<SlotGuard>,
}

impl std::fmt::Debug for RespBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RespBody").finish_non_exhaustive()
    }
}

impl RespBody {
    pub(super) fn full(b: Bytes) -> RespBody {
        RespBody {
            kind: Kind::Full(Some(b)),
            access: None,
            slot: None,
        }
    }
    pub(super) fn empty() -> RespBody {
        RespBody {
            kind: Kind::Full(None),
            access: None,
            slot: None,
        }
    }
    pub(super) fn file(file: tokio::fs::File, len: u64) -> RespBody {
        RespBody {
            kind: Kind::File {
                file: Box::new(file),
                left: len,
            },
            access: None,
            slot: None,
        }
    }
    pub(super) fn spooled(spool: Arc<Spool>, content_length: Option<u64>) -> RespBody {
        RespBody {
            kind: Kind::Spooled(spool, content_length),
            access: None,
            slot: None,
        }
    }
    pub(super) fn set_access(&mut self, guard: AccessGuard) {
        self.access = Some(Box::new(guard));
    }
    /// Holds the request's worker slot until the body ends; with
    /// `write_completion` (event), a daemon's response lets it go as soon
    /// as it is all taken off the daemon, as httpd's event MPM hands a
    /// connection whose response is written to its listener: a client
    /// slow to read holds no worker slot.
    pub(super) fn set_slot(&mut self, mut guard: SlotGuard, write_completion: bool) {
        if let (true, Kind::Spooled(spool, _)) = (write_completion, &self.kind) {
            if let Some(w) = guard.worker.take() {
                spool.hold_worker(w, guard.started);
            }
        }
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
            Kind::Spooled(_, Some(0)) => None,
            Kind::Spooled(spool, left) => {
                let piece = ready!(spool.poll_next(cx));
                if let (Some(Ok(b)), Some(l)) = (&piece, left.as_mut()) {
                    *l = l.saturating_sub(b.len() as u64);
                }
                piece.map(|r| r.map(HttpFrame::data))
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
            Kind::Spooled(_, Some(0)) => true,
            Kind::Spooled(spool, _) => spool.is_end(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::File { left, .. } => SizeHint::with_exact(*left),
            Kind::Spooled(..) => SizeHint::default(),
        }
    }
}

impl Drop for RespBody {
    fn drop(&mut self) {
        // The access-log line (written when the guard goes, after this)
        // says whether the body was sent whole.
        let whole = self.is_end_stream();
        if let Some(a) = self.access.as_mut() {
            a.complete = whole;
        }
        if let Kind::Spooled(spool, _) = &self.kind {
            spool.consumer_gone();
        }
    }
}
