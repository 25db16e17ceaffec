//! One proxied request's connection, daemon side: blocking frame reads for
//! the request, and a writer shared with the monitor thread (which may
//! answer for a thread that is stuck).

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use quill_server::protocol::{self, Frame, ResponseHead, kind};

/// Reads frames from the front end.
#[derive(Debug)]
pub struct FrameReader {
    stream: UnixStream,
    buf: BytesMut,
}

impl FrameReader {
    pub fn new(stream: UnixStream) -> FrameReader {
        FrameReader {
            stream,
            buf: BytesMut::with_capacity(16 * 1024),
        }
    }

    /// The next frame; `Ok(None)` at a clean end of stream.
    pub fn next(&mut self) -> io::Result<Option<Frame>> {
        loop {
            match protocol::decode(&mut self.buf) {
                Ok(Some(f)) => return Ok(Some(f)),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside a frame",
                    ))
                };
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The request body as the application reads it (`wsgi.input`).
#[derive(Debug)]
pub struct Body {
    reader: Option<FrameReader>,
    pending: Bytes,
    eof: bool,
    error: Option<String>,
}

impl Body {
    pub fn new(reader: FrameReader, has_body: bool) -> Body {
        Body {
            reader: Some(reader),
            pending: Bytes::new(),
            eof: !has_body,
            error: None,
        }
    }

    /// Ends the body for late readers (after the request finished).
    pub fn close(&mut self) {
        self.reader = None;
        self.eof = true;
        self.pending = Bytes::new();
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
            match reader.next() {
                Ok(Some(Frame::Body(b))) => self.pending = b,
                Ok(Some(Frame::End)) => self.eof = true,
                Ok(Some(f)) => return Err(self.fail(format!("unexpected {} frame", f.name()))),
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

    /// Up to `limit` bytes (`None` = everything left).
    pub fn read(&mut self, limit: Option<usize>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let want = match limit {
                Some(l) if out.len() >= l => break,
                Some(l) => l - out.len(),
                None => usize::MAX,
            };
            self.fill()?;
            if self.pending.is_empty() {
                break;
            }
            let n = want.min(self.pending.len());
            out.extend_from_slice(&self.pending.split_to(n));
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

#[derive(Debug)]
struct WriterState {
    stream: Option<UnixStream>,
    head_sent: bool,
    /// Bytes of body still allowed by the application's Content-Length.
    remaining: Option<u64>,
    body_bytes: u64,
}

/// The response side of a connection. Shared by the request thread and the
/// monitor; whoever finishes the response first takes the stream.
#[derive(Debug, Clone)]
pub struct Writer {
    state: Arc<Mutex<WriterState>>,
}

/// What happened to a write.
#[derive(Debug)]
pub enum WriteError {
    /// The front end (client) went away, or the monitor already answered.
    Closed(io::Error),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Closed(e) => write!(f, "connection closed: {e}"),
        }
    }
}

fn closed() -> WriteError {
    WriteError::Closed(io::Error::new(
        io::ErrorKind::BrokenPipe,
        "response already finished",
    ))
}

impl Writer {
    pub fn new(stream: UnixStream) -> Writer {
        Writer {
            state: Arc::new(Mutex::new(WriterState {
                stream: Some(stream),
                head_sent: false,
                remaining: None,
                body_bytes: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, WriterState> {
        // A poisoned lock only means another thread panicked mid-write; the
        // state is still a valid "stream or no stream".
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn head_sent(&self) -> bool {
        self.lock().head_sent
    }

    fn write_frame(st: &mut WriterState, frame: &Frame) -> Result<(), WriteError> {
        let Some(stream) = st.stream.as_mut() else {
            return Err(closed());
        };
        let mut buf = BytesMut::new();
        protocol::encode(frame, &mut buf);
        stream.write_all(&buf).map_err(WriteError::Closed)
    }

    /// A control frame (Continue).
    pub fn send(&self, frame: &Frame) -> Result<(), WriteError> {
        Self::write_frame(&mut self.lock(), frame)
    }

    /// Sends the head if not yet sent.
    pub fn ensure_head(
        &self,
        head: &ResponseHead,
        content_length: Option<u64>,
    ) -> Result<(), WriteError> {
        let mut st = self.lock();
        if st.head_sent {
            return Ok(());
        }
        Self::write_frame(&mut st, &Frame::ResponseHead(head.clone()))?;
        st.head_sent = true;
        st.remaining = content_length;
        Ok(())
    }

    /// Body bytes, cut to the application's Content-Length (mod_wsgi drops
    /// the excess silently). The head must have been sent.
    pub fn body(&self, data: &[u8]) -> Result<(), WriteError> {
        let mut st = self.lock();
        let n = match st.remaining {
            Some(r) => usize::try_from(r).unwrap_or(usize::MAX).min(data.len()),
            None => data.len(),
        };
        if n == 0 {
            return Ok(());
        }
        let Some(stream) = st.stream.as_mut() else {
            return Err(closed());
        };
        for piece in data[..n].chunks(protocol::MAX_FRAME_LEN) {
            let header = protocol::body_frame_header(kind::RESPONSE_BODY, piece.len());
            if piece.len() < 8192 {
                let mut v = Vec::with_capacity(header.len() + piece.len());
                v.extend_from_slice(&header);
                v.extend_from_slice(piece);
                stream.write_all(&v).map_err(WriteError::Closed)?;
            } else {
                stream.write_all(&header).map_err(WriteError::Closed)?;
                stream.write_all(piece).map_err(WriteError::Closed)?;
            }
        }
        st.body_bytes += n as u64;
        if let Some(r) = st.remaining.as_mut() {
            *r -= n as u64;
        }
        Ok(())
    }

    /// Sends `len` bytes of `file` from `offset` with sendfile(2); the head
    /// must have been sent. A file that shrinks under us leaves a short
    /// frame: the connection is then closed, which the front end reports
    /// as a truncated response.
    pub fn sendfile<F: AsFd>(&self, file: F, offset: u64, len: u64) -> Result<(), WriteError> {
        let mut st = self.lock();
        let len = match st.remaining {
            Some(r) => r.min(len),
            None => len,
        };
        let Some(stream) = st.stream.as_mut() else {
            return Err(closed());
        };
        let mut off = i64::try_from(offset).unwrap_or(i64::MAX);
        let mut left = len;
        while left > 0 {
            let frame = left.min(protocol::MAX_FRAME_LEN as u64) as usize;
            let header = protocol::body_frame_header(kind::RESPONSE_BODY, frame);
            stream.write_all(&header).map_err(WriteError::Closed)?;
            let mut in_frame = frame;
            while in_frame > 0 {
                match nix::sys::sendfile::sendfile(
                    stream.as_fd(),
                    file.as_fd(),
                    Some(&mut off),
                    in_frame,
                ) {
                    Ok(0) => {
                        st.stream = None;
                        return Err(WriteError::Closed(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file shrank while being sent",
                        )));
                    }
                    Ok(n) => in_frame -= n,
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(nix::errno::Errno::EAGAIN) => {
                        return Err(WriteError::Closed(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "timed out writing to the front end",
                        )));
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

    /// Ends the response with `frame` (ResponseEnd, Abort, Fail, Reject) and
    /// gives up the stream. Returns false when someone else already did.
    pub fn finish(&self, frame: &Frame) -> bool {
        let mut st = self.lock();
        if st.stream.is_none() {
            return false;
        }
        let _ = Self::write_frame(&mut st, frame);
        if let Some(s) = st.stream.take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        true
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
