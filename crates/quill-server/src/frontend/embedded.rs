//! Embedded mode: a WSGI mount whose process group is `%{GLOBAL}` (no
//! daemon) runs in this front-end child's own Python (see
//! `quill_daemon::embed`). The request goes to an idle request thread of
//! this process through an in-memory pipe carrying the wire protocol's
//! frames, so the daemon's request handling and PEP 3333 bridge serve it
//! unchanged; there is no socket, no admission queue and no connect: the
//! child's worker slots (ThreadsPerChild) are its Python threads, one each.
//!
//! ```text
//!  Head ─▶ pipe ─▶ engine (idle request thread) ─ [Continue ─▶ body pump task]
//!  ResponseHead ◀─ pipe ─▶ response; body frames ─▶ spool (relay task if not whole)
//! ```

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use hyper::body::Incoming;
use quill_protocol::pipe::{self, AppHalf, FrontHalf};
use tokio::io::AsyncWrite;

use super::error::{Client, FrontError};
use super::proxy::{AbortOnDrop, BodyRules, PumpError, pump_body, response_for};
use super::route::RouteTable;
use super::spool::{Room, Spool};
use super::{FrontEnd, Resp, RespBody};
use crate::plan::Mount;
use crate::protocol::{self, Frame};

/// This process's Python, as the front-end child uses it (the program
/// that links libpython provides it: `quill_daemon::embed`).
pub trait Python: Send + Sync {
    /// Hands a request's pipe (its `Head` in it) to an idle request
    /// thread.
    fn submit(&self, link: AppHalf);

    /// Ends Python before the child exits: no request thread takes
    /// another request; with `drain`, the requests in progress finish
    /// first; then the `atexit` functions of every interpreter run. Bounded
    /// in time: past its bound, the process exits at once. Runs once.
    fn exit(&self, drain: bool);
}

/// This process's Python, shared by the child's tasks.
pub type Engine = Arc<dyn Python>;

/// The front end's half, as the body pump writes to it.
struct PipeWriter(Arc<FrontHalf>);

impl AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.close_write();
        Poll::Ready(Ok(()))
    }
}

/// Frames from the request thread.
struct Frames {
    front: Arc<FrontHalf>,
    buf: BytesMut,
}

impl Frames {
    /// The next frame; `Ok(None)` when the thread closed the pipe.
    /// Cancel-safe: what was read stays in `buf`.
    async fn next(&mut self) -> io::Result<Option<Frame>> {
        loop {
            match protocol::decode(&mut self.buf) {
                Ok(Some(f)) => return Ok(Some(f)),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let n = std::future::poll_fn(|cx| self.front.poll_read(cx, &mut self.buf)).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the request thread closed inside a frame",
                    ))
                };
            }
        }
    }
}

type Pump = AbortOnDrop<Result<PipeWriter, PumpError>>;

/// Runs the request in this process's Python and answers with its
/// response.
pub(super) async fn call(
    fe: &FrontEnd,
    engine: &Engine,
    site: &RouteTable,
    mount: &Mount,
    peer: SocketAddr,
    mut head_bytes: BytesMut,
    body: Incoming,
) -> Resp {
    let log = &fe.error_log;
    let remote = Client(peer);
    // One pipe per request: the thread ends it with the response.
    head_bytes[protocol::HEAD_FLAGS_OFFSET] |= protocol::head_flag::CLOSE;
    let (front, app) = pipe::pair_with(head_bytes);
    let front = Arc::new(front);
    engine.submit(app);
    let mut frames = Frames {
        front: front.clone(),
        buf: BytesMut::new(),
    };
    let mut body = Some(body);
    // The body pump while it runs; dropped once its task has ended (as in
    // `proxy::forward`: its result is taken once).
    let mut pump: Option<Pump> = None;
    let head = loop {
        let frame = tokio::select! {
            // The client's body failed (too slow, malformed, too large)
            // before the application answered: that is the answer.
            done = async { (&mut pump.as_mut()?.task).await.ok() }, if pump.is_some() => {
                pump = None;
                if let Some(answer) = done.and_then(|d| d.err()).and_then(|e| e.answer()) {
                    // The thread sees the body end early.
                    return answer.respond(log);
                }
                continue;
            }
            f = frames.next() => f,
        };
        match frame {
            Ok(Some(Frame::Continue)) => {
                if let Some(b) = body.take() {
                    pump = Some(AbortOnDrop::new(tokio::spawn(pump_body(
                        b,
                        PipeWriter(front.clone()),
                        BodyRules {
                            limit: site.limit_request_body,
                            stage: site.body_stage,
                            timeout: site.timeout,
                            log: fe.error_log.clone(),
                            remote,
                        },
                    ))));
                }
            }
            Ok(Some(Frame::ResponseHead(h))) => break h,
            // The thread logged why.
            Ok(Some(Frame::Fail { status, .. })) => {
                return FrontError::embedded_failed(status).respond(log);
            }
            Ok(_) | Err(_) => return FrontError::embedded_truncated(remote, mount).respond(log),
        }
    };
    let Some((mut r, expected)) = response_for(head) else {
        return FrontError::embedded_truncated(remote, mount).respond(log);
    };
    let spool = Arc::new(Spool::new(fe.response_buffer.clone()));
    // Most responses came whole with their head: no task.
    if relay_buffered(&mut frames, &spool) {
        let_go(pump);
    } else {
        tokio::spawn(relay(frames, pump, spool.clone()));
    }
    *r.body_mut() = RespBody::spooled(spool, expected);
    r
}

/// Moves the frames already read into `spool`; true when they held the
/// response's end.
fn relay_buffered(frames: &mut Frames, spool: &Spool) -> bool {
    loop {
        match protocol::decode(&mut frames.buf) {
            Ok(Some(Frame::ResponseBody(b))) => spool.push(b),
            Ok(Some(f)) => {
                spool.finish(end_of(Some(f)));
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

/// How a response that is not a body frame ends it.
fn end_of(frame: Option<Frame>) -> Result<(), io::Error> {
    match frame {
        Some(Frame::ResponseEnd { .. }) => Ok(()),
        Some(Frame::Abort(m)) => Err(io::Error::other(format!(
            "application failed mid-response: {m}"
        ))),
        Some(f) => Err(io::Error::other(format!(
            "unexpected {} frame from the request thread",
            f.name()
        ))),
        None => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the request thread closed the response early",
        )),
    }
}

/// Takes the response body into `spool` as the thread writes it, until
/// its end. When the client goes away first, dropping the pipe makes the
/// application's next write fail (its thread is then free). The body
/// pump, if any, lives as long, and is let go when the response ends.
async fn relay(mut frames: Frames, pump: Option<Pump>, spool: Arc<Spool>) {
    loop {
        let room = std::future::poll_fn(|cx| spool.poll_room(cx));
        match tokio::time::timeout(spool.spill_after(), room).await {
            Ok(Room::Yes) => {}
            Ok(Room::ConsumerGone { .. }) => return,
            Err(_) => {
                spool.allow_spill();
                continue;
            }
        }
        let frame = tokio::select! {
            f = frames.next() => f,
            _ = std::future::poll_fn(|cx| spool.poll_gone(cx)) => continue,
        };
        match frame {
            Ok(Some(Frame::ResponseBody(b))) => spool.push(b),
            Ok(f) => {
                let_go(pump);
                return spool.finish(end_of(f));
            }
            Err(e) => return spool.finish(Err(e)),
        }
    }
}

/// The response ended: a body pump still running (the application left
/// some of its body unread) goes on by itself, and discards the rest once
/// the request thread has let go of the pipe (`proxy::pump_body`).
fn let_go(pump: Option<Pump>) {
    if let Some(p) = pump {
        p.let_go();
    }
}
