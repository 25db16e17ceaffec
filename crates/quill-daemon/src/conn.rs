//! One front-end connection, daemon side.
//!
//! Sockets are non-blocking. Reads and writes are tried at once; only when
//! one would block does the caller wait (`poll`, bounded by the group's
//! socket-timeout), and callers that hold the GIL release it only for that
//! wait ([`Writer::try_flush`] / [`Writer::flush_blocking`]). Response
//! frames collect in the writer's buffer and go out in one write per
//! flush: head, body block and (for a response known to be complete) its
//! end, together.
//!
//! A connection outlives its request when the response ended cleanly and
//! the request body was read to its end: it is then parked in the
//! process's epoll set (docs/protocol.md, "Connections").

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use quill_protocol::protocol::{self, Frame, ResponseHead, kind};

use crate::link::{Link, Ready};

/// How much room a reader makes for each read.
const READ_CHUNK: usize = 16 * 1024;

/// How much room a reader makes for each read inside a request body: the
/// front end writes up to 256 KiB of it at a time (its body pump's
/// batch), and body bytes are handed out as they come, so a large read
/// costs no copy (see [`FrameReader::next_body`]).
const BODY_READ: usize = 256 * 1024;

/// A connection from the front end, between requests or in use.
#[derive(Debug)]
pub struct Conn {
    pub stream: Arc<Link>,
    /// Bytes read but not yet decoded.
    pub buf: BytesMut,
    /// Already in the process's epoll set (parked before).
    pub registered: bool,
}

impl Conn {
    pub fn new(stream: UnixStream) -> Conn {
        Conn::over(Link::Socket(stream))
    }

    pub fn over(link: Link) -> Conn {
        Conn {
            stream: Arc::new(link),
            buf: BytesMut::new(),
            registered: false,
        }
    }
}

/// Sets the daemon end's SO_SNDBUF and SO_RCVBUF (`send-buffer-size`,
/// `receive-buffer-size`; 0 leaves the system's). A size the system
/// refuses keeps the system's: it only makes writes smaller.
pub fn set_buffer_sizes(stream: &UnixStream, send: u32, receive: u32) {
    use nix::sys::socket::{setsockopt, sockopt};
    if send > 0 {
        let _ = setsockopt(stream, sockopt::SndBuf, &(send as usize));
    }
    if receive > 0 {
        let _ = setsockopt(stream, sockopt::RcvBuf, &(receive as usize));
    }
}

/// Reads frames from the front end.
#[derive(Debug)]
pub struct FrameReader {
    stream: Arc<Link>,
    buf: BytesMut,
    timeout: Option<Duration>,
    /// Bytes of the current `Body` frame's payload not handed out yet
    /// (see [`FrameReader::next_body`]).
    body_left: usize,
}

/// What [`FrameReader::next_body`] read.
#[derive(Debug)]
pub enum BodyPiece {
    /// Body bytes: a `Body` frame's payload or part of it.
    Data(Bytes),
    /// The body's `End`.
    End,
    /// Any other frame.
    Other(Frame),
}

impl FrameReader {
    pub fn new(conn: &mut Conn, timeout: Option<Duration>) -> FrameReader {
        FrameReader {
            stream: conn.stream.clone(),
            buf: std::mem::take(&mut conn.buf),
            timeout,
            body_left: 0,
        }
    }

    /// Gives the unread bytes back to the connection (for its next
    /// request); an empty buffer grown for a body is let go rather than
    /// kept while the connection is parked.
    pub fn into_buf(self) -> BytesMut {
        if self.buf.is_empty() && self.buf.capacity() > READ_CHUNK {
            BytesMut::new()
        } else {
            self.buf
        }
    }

    /// The next piece of a request body: a `Body` frame's payload is
    /// handed out as far as it has been read, without waiting for the
    /// whole frame to be in one buffer (so a read may take several frames
    /// and nothing read is moved to make room for the rest of a frame);
    /// other frames whole. Waits as [`FrameReader::next`] does.
    pub fn next_body(&mut self) -> io::Result<Option<BodyPiece>> {
        loop {
            if self.body_left > 0 {
                if !self.buf.is_empty() {
                    let n = self.body_left.min(self.buf.len());
                    self.body_left -= n;
                    return Ok(Some(BodyPiece::Data(self.buf.split_to(n).freeze())));
                }
            } else if self.buf.len() >= protocol::FRAME_HEADER_LEN && self.buf[0] == kind::BODY {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
                let len = len as usize;
                if len > protocol::MAX_FRAME_LEN {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        protocol::ProtocolError::TooLong(len),
                    ));
                }
                let _ = self.buf.split_to(protocol::FRAME_HEADER_LEN);
                self.body_left = len;
                continue;
            } else {
                match protocol::decode(&mut self.buf) {
                    Ok(Some(Frame::End)) => return Ok(Some(BodyPiece::End)),
                    Ok(Some(f)) => return Ok(Some(BodyPiece::Other(f))),
                    Ok(None) => {}
                    Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                }
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(BODY_READ);
            }
            if self.fill_once()? == 0 {
                return if self.buf.is_empty() && self.body_left == 0 {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside a frame",
                    ))
                };
            }
        }
    }

    /// One read into the buffer's spare room, waiting up to the socket
    /// timeout for it; 0 at the end of stream.
    fn fill_once(&mut self) -> io::Result<usize> {
        loop {
            match self.stream.read_spare(&mut self.buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stream.wait(Ready::Read, self.timeout)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next frame, waiting up to the socket timeout for each read;
    /// `Ok(None)` at a clean end of stream.
    pub fn next(&mut self) -> io::Result<Option<Frame>> {
        loop {
            match protocol::decode(&mut self.buf) {
                Ok(Some(f)) => return Ok(Some(f)),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(READ_CHUNK);
            }
            if self.fill_once()? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside a frame",
                    ))
                };
            }
        }
    }
}

/// The request body as the application reads it (`wsgi.input`).
#[derive(Debug)]
pub struct Body {
    reader: Option<FrameReader>,
    pending: Bytes,
    eof: bool,
    /// The body's `End` was read (or there was no body): the connection
    /// is at a frame boundary.
    ended: bool,
    error: Option<String>,
}

impl Body {
    pub fn new(reader: FrameReader, has_body: bool) -> Body {
        Body {
            reader: Some(reader),
            pending: Bytes::new(),
            eof: !has_body,
            ended: !has_body,
            error: None,
        }
    }

    /// Ends the body for late readers (after the request finished) and
    /// returns the reader when the body was read to its end, so that the
    /// connection can take another request.
    pub fn close(&mut self) -> Option<FrameReader> {
        let reader = self.reader.take();
        self.eof = true;
        self.pending = Bytes::new();
        if self.ended && self.error.is_none() {
            reader
        } else {
            None
        }
    }

    /// The whole body has been read (the connection can be kept).
    pub fn ended(&self) -> bool {
        self.ended && self.error.is_none()
    }

    fn fail(&mut self, msg: String) -> io::Error {
        self.error = Some(msg.clone());
        io::Error::other(format!("Quill request data read error: {msg}."))
    }

    /// Makes `pending` non-empty unless the body is over.
    fn fill(&mut self) -> io::Result<()> {
        if let Some(e) = &self.error {
            return Err(io::Error::other(format!(
                "Quill request data read error: {e}. Input is already in error state."
            )));
        }
        while self.pending.is_empty() && !self.eof {
            let Some(reader) = self.reader.as_mut() else {
                self.eof = true;
                break;
            };
            match reader.next_body() {
                Ok(Some(BodyPiece::Data(b))) => self.pending = b,
                Ok(Some(BodyPiece::End)) => {
                    self.eof = true;
                    self.ended = true;
                }
                Ok(Some(BodyPiece::Other(f))) => {
                    return Err(self.fail(format!("unexpected {} frame", f.name())));
                }
                Ok(None) => {
                    return Err(self.fail("connection closed before the end of the body".into()));
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Err(self.fail("timed out".into()));
                }
                Err(e) => return Err(self.fail(e.to_string())),
            }
        }
        Ok(())
    }

    /// Up to `limit` bytes (`None` = everything left), as the frames
    /// brought them: not copied yet (see [`BodyRead`]).
    pub fn read(&mut self, limit: Option<usize>) -> io::Result<BodyRead> {
        let mut out = BodyRead::default();
        loop {
            let want = match limit {
                Some(l) if out.len >= l => break,
                Some(l) => l - out.len,
                None => usize::MAX,
            };
            self.fill()?;
            if self.pending.is_empty() {
                break;
            }
            let n = want.min(self.pending.len());
            out.len += n;
            out.pieces.push(self.pending.split_to(n));
        }
        Ok(out)
    }

    /// One line including its `\n`, at most `limit` bytes.
    pub fn readline(&mut self, limit: Option<usize>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            self.fill()?;
            if self.pending.is_empty() {
                break;
            }
            let room = limit.map_or(usize::MAX, |l| l - out.len());
            let upto = match self.pending.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1).min(room),
                None => self.pending.len().min(room),
            };
            let piece = self.pending.split_to(upto);
            let done = piece.last() == Some(&b'\n');
            out.extend_from_slice(&piece);
            if done {
                break;
            }
        }
        Ok(out)
    }
}

/// Body bytes read for the application, still in the buffers their
/// frames were read into: the caller copies them once, into the object it
/// gives the application (a read that spans frames used to be gathered
/// into a `Vec` first, then copied again).
#[derive(Debug, Default)]
pub struct BodyRead {
    pieces: Vec<Bytes>,
    len: usize,
}

impl BodyRead {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the bytes, in order, to the start of `dst`, which holds at
    /// least [`BodyRead::len`] bytes.
    pub fn copy_to(&self, dst: &mut [u8]) {
        let mut at = 0;
        for p in &self.pieces {
            dst[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len];
        self.copy_to(&mut v);
        v
    }
}

#[derive(Debug)]
struct WriterState {
    stream: Option<Arc<Link>>,
    /// Frames not yet written.
    out: BytesMut,
    head_sent: bool,
    /// The status the response started with (a head's, or a Fail's), 0
    /// while none has.
    status: u16,
    /// Bytes of body still allowed by the application's Content-Length.
    remaining: Option<u64>,
    body_bytes: u64,
    timeout: Option<Duration>,
}

/// The response side of a connection. Shared by the request thread and the
/// monitor; whoever finishes the response first takes the stream.
#[derive(Debug, Clone)]
pub struct Writer {
    state: Arc<Mutex<WriterState>>,
}

/// What happened to a write.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The front end (client) went away, or the monitor already answered.
    #[error("connection closed: {0}")]
    Closed(io::Error),
}

fn closed() -> WriteError {
    WriteError::Closed(io::Error::new(
        io::ErrorKind::BrokenPipe,
        "response already finished",
    ))
}

/// Writes as much of `out` as the socket takes now; true when all of it.
fn write_now(stream: &Link, out: &mut BytesMut) -> Result<bool, WriteError> {
    while !out.is_empty() {
        match stream.write(out) {
            Ok(0) => return Err(WriteError::Closed(io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                let _ = out.split_to(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(WriteError::Closed(e)),
        }
    }
    Ok(true)
}

impl Writer {
    /// `accepted`: the connection is new, so the response starts with an
    /// `Accepted` frame naming this process (it goes out with the first
    /// write of the response: no write of its own).
    pub fn new(conn: &Conn, timeout: Option<Duration>, accepted: Option<u32>) -> Writer {
        let mut out = BytesMut::with_capacity(1024);
        if let Some(pid) = accepted {
            protocol::encode(&Frame::Accepted { pid }, &mut out);
        }
        Writer {
            state: Arc::new(Mutex::new(WriterState {
                stream: Some(conn.stream.clone()),
                out,
                head_sent: false,
                status: 0,
                remaining: None,
                body_bytes: 0,
                timeout,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, WriterState> {
        // A poisoned lock only means another thread panicked mid-write; the
        // state is still a valid "stream or no stream".
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True while the response is not finished (the stream is held).
    pub fn is_open(&self) -> bool {
        self.lock().stream.is_some()
    }

    pub fn head_sent(&self) -> bool {
        self.lock().head_sent
    }

    /// The status the response started with; 0 while none has.
    pub fn status(&self) -> u16 {
        self.lock().status
    }

    /// Queues a control frame (Continue, ResponseEnd, Fail…).
    pub fn queue(&self, frame: &Frame) -> Result<(), WriteError> {
        let mut st = self.lock();
        if st.stream.is_none() {
            return Err(closed());
        }
        if let Frame::Fail { status, .. } = frame
            && st.status == 0
        {
            st.status = *status;
        }
        protocol::encode(frame, &mut st.out);
        Ok(())
    }

    /// Queues the head if not yet sent.
    pub fn queue_head(
        &self,
        head: &ResponseHead,
        content_length: Option<u64>,
    ) -> Result<(), WriteError> {
        let mut st = self.lock();
        if st.stream.is_none() {
            return Err(closed());
        }
        if !st.head_sent {
            protocol::encode_response_head(head, &mut st.out);
            st.head_sent = true;
            st.status = head.status;
            st.remaining = content_length;
        }
        Ok(())
    }

    /// Queues body bytes, cut to the application's Content-Length
    /// (mod_wsgi drops the excess silently). The head must be queued.
    pub fn queue_body(&self, data: &[u8]) -> Result<(), WriteError> {
        let mut st = self.lock();
        let n = match st.remaining {
            Some(r) => usize::try_from(r).unwrap_or(usize::MAX).min(data.len()),
            None => data.len(),
        };
        if st.stream.is_none() {
            return Err(closed());
        }
        for piece in data[..n].chunks(protocol::MAX_FRAME_LEN) {
            let header = protocol::body_frame_header(kind::RESPONSE_BODY, piece.len());
            st.out.extend_from_slice(&header);
            st.out.extend_from_slice(piece);
        }
        st.body_bytes += n as u64;
        if let Some(r) = st.remaining.as_mut() {
            *r -= n as u64;
        }
        Ok(())
    }

    /// Head (if not yet queued) and a body block, written now as far as
    /// the socket takes them; a large block goes out with one `writev`
    /// and is copied only for what the socket did not take. True when
    /// nothing is left to flush.
    pub fn send_body(
        &self,
        head: &ResponseHead,
        content_length: Option<u64>,
        data: &[u8],
    ) -> Result<bool, WriteError> {
        self.queue_head(head, content_length)?;
        let mut st = self.lock();
        let n = match st.remaining {
            Some(r) => usize::try_from(r).unwrap_or(usize::MAX).min(data.len()),
            None => data.len(),
        };
        let Some(stream) = st.stream.clone() else {
            return Err(closed());
        };
        if n < 16 * 1024 {
            drop(st);
            self.queue_body(data)?;
            return self.try_flush();
        }
        st.body_bytes += n as u64;
        if let Some(r) = st.remaining.as_mut() {
            *r -= n as u64;
        }
        for piece in data[..n].chunks(protocol::MAX_FRAME_LEN) {
            let header = protocol::body_frame_header(kind::RESPONSE_BODY, piece.len());
            st.out.extend_from_slice(&header);
            // Write what is queued and the piece together; keep the rest.
            let queued = st.out.len();
            let written = loop {
                let iov = [IoSlice::new(&st.out), IoSlice::new(piece)];
                match stream.write_vectored(&iov) {
                    Ok(w) => break w,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break 0,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(WriteError::Closed(e)),
                }
            };
            if written >= queued {
                st.out.clear();
                st.out.extend_from_slice(&piece[written - queued..]);
            } else {
                let _ = st.out.split_to(written);
                st.out.extend_from_slice(piece);
            }
        }
        write_now(&stream, &mut st.out)
    }

    /// Writes what is queued as far as the socket takes it now, without
    /// waiting; true when nothing is left.
    pub fn try_flush(&self) -> Result<bool, WriteError> {
        let mut st = self.lock();
        let Some(stream) = st.stream.clone() else {
            return Err(closed());
        };
        write_now(&stream, &mut st.out)
    }

    /// Writes everything queued, waiting (socket-timeout) when the socket
    /// is full. Call without the GIL.
    pub fn flush_blocking(&self) -> Result<(), WriteError> {
        let mut st = self.lock();
        let Some(stream) = st.stream.clone() else {
            return Err(closed());
        };
        let timeout = st.timeout;
        while !write_now(&stream, &mut st.out)? {
            stream.wait(Ready::Write, timeout).map_err(|e| {
                if e.kind() == io::ErrorKind::TimedOut {
                    WriteError::Closed(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "timed out writing to the front end",
                    ))
                } else {
                    WriteError::Closed(e)
                }
            })?;
        }
        Ok(())
    }

    /// Sends `len` bytes of `file` from `offset` with sendfile(2); the head
    /// must have been queued. A file that shrinks under us leaves a short
    /// frame: the connection is then closed, which the front end reports
    /// as a truncated response. Call without the GIL.
    pub fn sendfile<F: AsFd>(&self, file: F, offset: u64, len: u64) -> Result<(), WriteError> {
        self.flush_blocking()?;
        let mut st = self.lock();
        if st.stream.as_ref().is_some_and(|s| s.socket_fd().is_none()) {
            drop(st);
            return self.copy_file(file.as_fd(), offset, len);
        }
        let len = match st.remaining {
            Some(r) => r.min(len),
            None => len,
        };
        let Some(stream) = st.stream.clone() else {
            return Err(closed());
        };
        let timeout = st.timeout;
        let mut off = i64::try_from(offset).unwrap_or(i64::MAX);
        let mut left = len;
        while left > 0 {
            let frame = left.min(protocol::MAX_FRAME_LEN as u64) as usize;
            let mut header =
                BytesMut::from(&protocol::body_frame_header(kind::RESPONSE_BODY, frame)[..]);
            while !write_now(&stream, &mut header)? {
                stream
                    .wait(Ready::Write, timeout)
                    .map_err(WriteError::Closed)?;
            }
            let mut in_frame = frame;
            while in_frame > 0 {
                let Some(out) = stream.socket_fd() else {
                    return Err(closed());
                };
                match nix::sys::sendfile::sendfile(out, file.as_fd(), Some(&mut off), in_frame) {
                    Ok(0) => {
                        st.stream = None;
                        stream.shutdown();
                        return Err(WriteError::Closed(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file shrank while being sent",
                        )));
                    }
                    Ok(n) => in_frame -= n,
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(nix::errno::Errno::EAGAIN) => {
                        stream.wait(Ready::Write, timeout).map_err(|_| {
                            WriteError::Closed(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "timed out writing to the front end",
                            ))
                        })?;
                    }
                    Err(e) => return Err(WriteError::Closed(e.into())),
                }
            }
            left -= frame as u64;
        }
        st.body_bytes += len;
        if let Some(r) = st.remaining.as_mut() {
            *r -= len;
        }
        Ok(())
    }

    /// [`Writer::sendfile`] over an in-memory link (embedded mode): the
    /// file is read and its blocks written as body frames.
    fn copy_file(&self, file: BorrowedFd<'_>, offset: u64, len: u64) -> Result<(), WriteError> {
        let mut buf = vec![0u8; 64 * 1024];
        let (mut off, mut left) = (offset, len);
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let at = i64::try_from(off).unwrap_or(i64::MAX);
            let n = match nix::sys::uio::pread(file, &mut buf[..want], at) {
                Ok(0) => {
                    self.close();
                    return Err(WriteError::Closed(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while being sent",
                    )));
                }
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(WriteError::Closed(e.into())),
            };
            self.queue_body(&buf[..n])?;
            self.flush_blocking()?;
            off += n as u64;
            left -= n as u64;
        }
        Ok(())
    }

    /// Takes the connection back after a response that ended with
    /// `ResponseEnd { keep: true }` (already flushed): `None` if someone
    /// else finished it or bytes are still unwritten.
    pub fn take_for_reuse(&self) -> Option<Arc<Link>> {
        let mut st = self.lock();
        if !st.out.is_empty() {
            return None;
        }
        st.stream.take()
    }

    /// Ends the response with `frame` (Abort, Fail, Reject) and closes the
    /// connection. Returns false when someone else already did. Waits for
    /// a full socket (socket-timeout): call without the GIL.
    pub fn finish(&self, frame: &Frame) -> bool {
        if self.queue(frame).is_err() {
            return false;
        }
        let _ = self.flush_blocking();
        self.close()
    }

    /// Closes the connection without another frame (the front end sees
    /// the end of stream). False when someone else already did.
    pub fn close(&self) -> bool {
        let mut st = self.lock();
        st.out.clear();
        match st.stream.take() {
            Some(s) => {
                // Other holders of the stream (the request's reader) must
                // see the end too: shut it down rather than only drop it.
                s.shutdown();
                true
            }
            None => false,
        }
    }

    /// Ends the response for a thread that cannot: a 504/500 when nothing
    /// was sent, else an Abort. Used by the monitor.
    pub fn fail_for_stuck_thread(&self, status: u16, message: &str) -> bool {
        let head_sent = self.head_sent();
        if head_sent {
            self.finish(&Frame::Abort(message.to_string()))
        } else {
            self.finish(&Frame::Fail {
                status,
                message: message.to_string(),
            })
        }
    }
}

/// The raw descriptor of a connection (its epoll token); `None` for an
/// in-memory link, which is never parked.
pub fn token(stream: &Link) -> Option<u64> {
    stream
        .socket_fd()
        .map(|fd| u64::try_from(fd.as_raw_fd()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{getsockopt, sockopt};
    use std::io::Write;

    #[test]
    fn the_daemon_end_gets_the_buffer_sizes_asked_for() {
        let (a, _b) = UnixStream::pair().expect("a socket pair");
        let before = getsockopt(&a, sockopt::SndBuf).expect("SO_SNDBUF");
        set_buffer_sizes(&a, 0, 0);
        assert_eq!(getsockopt(&a, sockopt::SndBuf).ok(), Some(before));
        set_buffer_sizes(&a, 1 << 20, 100_000);
        // (Linux doubles what it is given, for its own bookkeeping.)
        assert_eq!(getsockopt(&a, sockopt::SndBuf).ok(), Some(2 << 20));
        assert_eq!(getsockopt(&a, sockopt::RcvBuf).ok(), Some(200_000));
    }

    #[test]
    fn a_read_spanning_frames_keeps_their_order() {
        let (front, daemon) = UnixStream::pair().expect("a socket pair");
        let mut wire = BytesMut::new();
        let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for piece in body.chunks(30_000) {
            wire.extend_from_slice(&protocol::body_frame_header(kind::BODY, piece.len()));
            wire.extend_from_slice(piece);
        }
        protocol::encode(&Frame::End, &mut wire);
        let writer = std::thread::spawn(move || (&front).write_all(&wire));
        let mut conn = Conn::new(daemon);
        let mut b = Body::new(
            FrameReader::new(&mut conn, Some(Duration::from_secs(10))),
            true,
        );
        let mut got = Vec::new();
        for limit in [Some(1), Some(65_536), Some(100_003), None] {
            let r = b.read(limit).expect("a read");
            if let Some(l) = limit {
                assert_eq!(r.len(), l.min(body.len() - got.len()));
            }
            got.extend_from_slice(&r.to_vec());
        }
        assert_eq!(got, body);
        assert!(b.read(Some(10)).expect("after the end").is_empty());
        assert!(b.ended());
        writer.join().expect("writer").expect("write");
    }

    #[test]
    fn a_body_frame_over_the_limit_fails_the_read() {
        let (front, daemon) = UnixStream::pair().expect("a socket pair");
        let header = protocol::body_frame_header(kind::BODY, protocol::MAX_FRAME_LEN + 1);
        (&front).write_all(&header).expect("write");
        let mut conn = Conn::new(daemon);
        let mut b = Body::new(
            FrameReader::new(&mut conn, Some(Duration::from_secs(10))),
            true,
        );
        let e = b.read(Some(10)).expect_err("an oversized frame");
        assert!(e.to_string().contains("over the"), "{e}");
        assert!(!b.ended());
    }
}
