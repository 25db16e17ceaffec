//! A client connection as hyper reads and writes it ([`ClientIo`]), with
//! httpd's rules on the way:
//!
//! * each request head is held back until it is whole and checked
//!   ([`super::framing`]: bare LF under `HttpProtocolOptions Strict`,
//!   `LimitRequestLine`), so that hyper never sees a refused one;
//! * a head must come within mod_reqtimeout's header stage
//!   (`RequestReadTimeout header=20-40,MinRate=500`), or, without it,
//!   with no pause longer than `Timeout`;
//! * a write may wait for the client at most `Timeout`, as httpd's core
//!   output filter: a client that stops reading is let go;
//! * a connection hyper closes gets httpd's lingering close: the write side
//!   is shut, then what the client still sends is read and thrown away
//!   until it closes, at most [`LINGER_IDLE`] without a byte and
//!   [`LINGER_MOST`] in all (httpd's SECONDS_TO_LINGER and
//!   MAX_SECS_TO_LINGER); a stopping child's, [`LINGER_IDLE`] in all, as
//!   httpd's event MPM shortens them (Quill does so under every MPM). A
//!   client still sending a body (one over LimitRequestBody, say) reads
//!   its answer instead of a reset. A kept-alive connection a stopping
//!   event child closes does not linger, as httpd's listener closes them.
//!
//! ```text
//!  socket ─▶ buf ─▶ Framing ─┬─ body bytes ──────────────▶ hyper
//!                            ├─ head, whole and fine ────▶ hyper
//!                            └─ refused / timed out ─────▶ stand-in head ─▶ hyper
//!                                                           (the service answers
//!                                                            400/408/414 and closes)
//! ```
//!
//! A refused head reaches the service as a stand-in request, so that its
//! answer goes out in order after any response still being written
//! (pipelining), through hyper like every other; the service knows it by
//! the refusal left in [`ConnState`] for that request's number, never by
//! what the client sent. Body bytes of a Content-Length body are read
//! straight into hyper's buffer; heads and chunked bodies go through this
//! one (a copy, of a few hundred bytes for most heads).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::body::ConnState;
use super::error::{Client, FrontError};
use super::framing::{Framing, Scan};
use super::tls::Transport;
use crate::log::{ErrorLog, Level};
use crate::plan::ReadStage;

/// The head the service receives in place of a refused one.
const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\nHost: refused.invalid\r\n\r\n";

/// How much is read from the socket at a time into this buffer.
const READ_CHUNK: usize = 8 * 1024;

/// A lingering close ends after this long without a byte from the client.
pub(super) const LINGER_IDLE: Duration = Duration::from_secs(2);

/// A lingering close ends after this long in all.
pub(super) const LINGER_MOST: Duration = Duration::from_secs(30);

/// The rules a connection's reads and writes follow.
#[derive(Debug, Clone, Copy)]
pub(super) struct IoRules {
    pub(super) strict: bool,
    pub(super) line_limit: usize,
    /// The longest head held back; a longer one goes to hyper, which
    /// answers 431.
    pub(super) head_limit: usize,
    /// mod_reqtimeout's header stage, if on.
    pub(super) header: Option<ReadStage>,
    /// `Timeout`.
    pub(super) timeout: Duration,
    /// An HTTP/2 connection: its bytes go to hyper as they come (no
    /// HTTP/1.1 heads to hold or check); writes are still bounded by
    /// `Timeout`.
    pub(super) http2: bool,
}

pub(super) struct ClientIo {
    stream: Transport,
    rules: IoRules,
    framing: Framing,
    /// Bytes read and not yet handed to hyper: `buf[..released]` may go;
    /// after it, `held` bytes of the head being received (scanned), then
    /// bytes not scanned yet.
    buf: BytesMut,
    released: usize,
    held: usize,
    /// Heads handed to hyper so far (the next refused one's number).
    heads: u64,
    /// When the current head's wait started (the connection's accept for
    /// its first request; the head's first byte for the next ones), and
    /// its bytes so far.
    head_start: Option<Instant>,
    head_bytes: u64,
    /// When a byte last came (for `Timeout` without mod_reqtimeout).
    last_byte: Instant,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
    /// The write timer runs: a write is waiting for the client.
    write_waiting: bool,
    /// Refused or timed out: after what is released, the end.
    ended: bool,
    /// Refused: after the stand-in head, nothing more to read, ever (an
    /// EOF would make hyper drop the connection before it answers).
    refused: bool,
    /// The write side is shut and the connection lingers until then.
    linger_end: Option<Instant>,
    conn: Arc<ConnState>,
    log: Arc<ErrorLog>,
    peer: SocketAddr,
}

impl ClientIo {
    pub(super) fn new(
        stream: Transport,
        rules: IoRules,
        conn: Arc<ConnState>,
        log: Arc<ErrorLog>,
        peer: SocketAddr,
    ) -> ClientIo {
        let now = Instant::now();
        ClientIo {
            stream,
            rules,
            framing: Framing::new(rules.strict, rules.line_limit),
            buf: BytesMut::new(),
            released: 0,
            held: 0,
            heads: 0,
            head_start: Some(now),
            head_bytes: 0,
            last_byte: now,
            read_timer: Box::pin(tokio::time::sleep_until(now)),
            write_timer: Box::pin(tokio::time::sleep_until(now)),
            write_waiting: false,
            ended: false,
            refused: false,
            linger_end: None,
            conn,
            log,
            peer,
        }
    }

    /// When the head being waited for times out, if one is.
    fn head_deadline(&self) -> Option<Instant> {
        if self.rules.http2 || !self.framing.in_head() {
            return None;
        }
        let start = self.head_start?;
        Some(match self.rules.header {
            Some(stage) => stage.deadline(start, self.head_bytes),
            None => self.last_byte.max(start) + self.rules.timeout,
        })
    }

    /// Scans what was read: releases body bytes and whole heads, holds a
    /// head being received, refuses a bad one.
    fn scan(&mut self) {
        if self.rules.http2 {
            self.released = self.buf.len();
            return;
        }
        loop {
            let region = &self.buf[self.released..];
            if self.held == region.len() {
                return;
            }
            match self.framing.scan(region, self.held) {
                Scan::Head(n) => {
                    self.held += n;
                    self.head_bytes += n as u64;
                    if self.framing.head_started() {
                        self.head_start.get_or_insert_with(Instant::now);
                        self.conn.set_receiving(true);
                    }
                    if self.held > self.rules.head_limit {
                        // Too long to hold: hyper answers 431.
                        self.framing.give_up();
                        self.released += self.held;
                        self.held = 0;
                    }
                }
                Scan::HeadEnd(n) => {
                    self.released += self.held + n;
                    self.held = 0;
                    self.heads += 1;
                    self.head_start = None;
                    self.head_bytes = 0;
                    self.conn.set_receiving(false);
                }
                Scan::Body(0) => return,
                Scan::Body(n) => self.released += n,
                Scan::Reject(r) => {
                    return self.refuse(r.error(Client(self.peer), self.rules.line_limit));
                }
            }
        }
    }

    /// The head being received is answered with `error`: the service gets
    /// a stand-in request in its place, and the connection ends after it.
    fn refuse(&mut self, error: FrontError) {
        self.buf.truncate(self.released);
        self.buf.extend_from_slice(STAND_IN);
        self.released = self.buf.len();
        self.held = 0;
        self.conn.refuse(self.heads, error);
        self.heads += 1;
        self.refused = true;
        self.end();
    }

    fn end(&mut self) {
        self.buf.truncate(self.released);
        self.held = 0;
        self.ended = true;
        self.conn.set_receiving(false);
    }

    /// Reads and throws away what the client sends until it closes (or
    /// breaks the connection), it sends nothing for [`LINGER_IDLE`], or
    /// the lingering time is up.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let end = self.linger_end.unwrap_or_else(Instant::now);
        loop {
            self.buf.clear();
            match self.stream.poll_read_buf(cx, &mut self.buf, READ_CHUNK) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(_)) => {
                    let next = (Instant::now() + LINGER_IDLE).min(end);
                    self.read_timer.as_mut().reset(next);
                }
                Poll::Pending => {
                    ready!(self.read_timer.as_mut().poll(cx));
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }

    /// The head did not come in time: mod_reqtimeout's line; a 408 when
    /// its request line came (httpd answers a request line that did not
    /// come with nothing).
    fn time_out(&mut self) {
        let remote = Client(self.peer);
        if self.rules.header.is_some() {
            self.log.log(
                Level::Info,
                "reqtimeout",
                &format!("{remote} AH01382: Request header read timeout"),
            );
        }
        if self.framing.request_line_done() {
            self.refuse(FrontError::header_timeout(remote));
        } else {
            self.end();
        }
    }

    /// Polls the write timer while a write waits for the client: `Timeout`
    /// without progress ends the connection.
    fn write_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.write_waiting {
            self.write_waiting = true;
            // (The server answering now: see `ConnState::set_timeout`.)
            let at = Instant::now() + self.conn.timeout();
            self.write_timer.as_mut().reset(at);
        }
        ready!(self.write_timer.as_mut().poll(cx));
        self.log.log(
            Level::Trace1,
            "core",
            &format!(
                "(70007)The timeout specified has expired: {} core_output_filter: writing data to the network",
                Client(self.peer)
            ),
        );
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing for Timeout seconds",
        ))
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.released > 0 {
                let n = this.released.min(dst.remaining());
                dst.put_slice(&this.buf[..n]);
                this.buf.advance(n);
                this.released -= n;
                return Poll::Ready(Ok(()));
            }
            if this.refused {
                // (The answer says `Connection: close`: hyper closes after
                // writing it.)
                return Poll::Pending;
            }
            if this.ended {
                return Poll::Ready(Ok(()));
            }
            // A Content-Length body goes straight into hyper's buffer.
            if this.buf.is_empty() {
                if let Some(left) = this.framing.body_left() {
                    let want = dst
                        .remaining()
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = ready!(this.stream.poll_read_into(cx, dst, want))?;
                    this.framing.passed(n);
                    return Poll::Ready(Ok(()));
                }
            }
            match this.stream.poll_read_buf(cx, &mut this.buf, READ_CHUNK) {
                Poll::Ready(Ok(0)) => this.end(),
                Poll::Ready(Ok(_)) => {
                    this.last_byte = Instant::now();
                    this.scan();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    let Some(deadline) = this.head_deadline() else {
                        return Poll::Pending;
                    };
                    if this.read_timer.deadline() != deadline {
                        this.read_timer.as_mut().reset(deadline);
                    }
                    ready!(this.read_timer.as_mut().poll(cx));
                    this.time_out();
                }
            }
        }
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Pending => self.write_pending(cx).map(Err),
            done => {
                self.write_waiting = false;
                done
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.write_pending(cx).map(Err),
            done => {
                self.write_waiting = false;
                done
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// Shuts the write side, then lingers (see the module's doc).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.linger_end.is_none() {
            match Pin::new(&mut this.stream).poll_shutdown(cx) {
                Poll::Pending => return this.write_pending(cx).map(Err),
                Poll::Ready(Err(e)) => {
                    this.write_waiting = false;
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(())) => this.write_waiting = false,
            }
            if this
                .conn
                .no_linger
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                return Poll::Ready(Ok(()));
            }
            let now = Instant::now();
            let most = if this.conn.closing.load(std::sync::atomic::Ordering::Relaxed) {
                LINGER_IDLE
            } else {
                LINGER_MOST
            };
            this.linger_end = Some(now + most);
            this.read_timer.as_mut().reset(now + LINGER_IDLE);
        }
        this.poll_linger(cx)
    }
}
