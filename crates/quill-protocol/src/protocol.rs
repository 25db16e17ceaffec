//! The front end ↔ daemon wire protocol, version 2 (see `docs/protocol.md`).
//!
//! Pure: encoding into and decoding from byte buffers, no I/O. Every message
//! is one frame:
//!
//! ```text
//!  ┌────────┬──────────────────┬─────────────────────┐
//!  │ kind u8│ length u32 (BE)  │ payload (length B)  │
//!  └────────┴──────────────────┴─────────────────────┘
//! ```
//!
//! Request direction (front end → daemon): `Head`, then `Body`* and `End`
//! when the head says a body follows. Response direction (daemon → front
//! end): `Accepted` first on a newly accepted connection, optionally
//! `Continue`, then either `Reject`, `Fail`, or `ResponseHead` followed by
//! `ResponseBody`* and `ResponseEnd` or `Abort`. A `ResponseEnd` that says
//! so leaves the connection open for the front end's next request.
//! Flow control is the UNIX socket's own: a side that stops reading stops
//! the other side's writes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The protocol version this build speaks; sent in every [`RequestHead`].
pub const VERSION: u16 = 2;

/// Bytes before a frame's payload.
pub const FRAME_HEADER_LEN: usize = 5;

/// Bits of a `Head` frame's flags byte.
pub mod head_flag {
    /// A request body follows.
    pub const BODY: u8 = 1;
    /// The front end will not keep the connection (version 2).
    pub const CLOSE: u8 = 2;
}

/// Where the flags byte of an encoded `Head` frame is (a front end that
/// resends a head on another connection sets [`head_flag::CLOSE`] there).
pub const HEAD_FLAGS_OFFSET: usize = FRAME_HEADER_LEN + 2;

fn head_flags(has_body: bool, close: bool) -> u8 {
    (if has_body { head_flag::BODY } else { 0 }) | (if close { head_flag::CLOSE } else { 0 })
}

/// The largest payload a frame may carry. Request heads hold the whole
/// environ; 16 MiB is far above any real one and bounds what a confused
/// peer can make us buffer.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Body frames are cut at this size by senders (receivers accept up to
/// [`MAX_FRAME_LEN`]).
pub const BODY_CHUNK: usize = 64 * 1024;

/// Frame kinds (the first byte of every frame).
pub mod kind {
    pub const HEAD: u8 = 0x01;
    pub const BODY: u8 = 0x02;
    pub const END: u8 = 0x03;
    pub const CONTINUE: u8 = 0x81;
    pub const REJECT: u8 = 0x82;
    pub const FAIL: u8 = 0x83;
    pub const RESPONSE_HEAD: u8 = 0x84;
    pub const RESPONSE_BODY: u8 = 0x85;
    pub const RESPONSE_END: u8 = 0x86;
    pub const ABORT: u8 = 0x87;
    pub const ACCEPTED: u8 = 0x88;
}

/// Why a byte stream is not a valid frame sequence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("unknown frame kind 0x{0:02x}")]
    UnknownKind(u8),
    #[error("frame of {0} bytes is over the {MAX_FRAME_LEN}-byte limit")]
    TooLong(usize),
    #[error("truncated {0} frame")]
    Truncated(&'static str),
    #[error("protocol version {0} is not supported (this build speaks {VERSION})")]
    Version(u16),
    #[error("{0} frame has {1} trailing bytes")]
    Trailing(&'static str, usize),
    #[error("unexpected {got} frame, expected {expected}")]
    Unexpected {
        got: &'static str,
        expected: &'static str,
    },
    #[error("invalid response status {0}")]
    Status(u16),
}

/// What the front end sends first: the CGI/WSGI environ as byte pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Protocol version of the sender.
    pub version: u16,
    /// A request body follows (`Body`* then `End`), after the daemon's
    /// `Continue`.
    pub has_body: bool,
    /// The front end will close the connection after this response (it
    /// keeps enough already): the daemon need not keep it.
    pub close: bool,
    /// Environ variables in order; values are Latin-1 strings as bytes.
    pub environ: Pairs,
}

impl RequestHead {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.environ.get(key.as_bytes())
    }
}

/// Name/value byte pairs in order, as one decoded frame holds them: the
/// frame's bytes and where each name and value lies in them, so that
/// decoding a head costs one `Vec` and no reference count per pair.
#[derive(Clone, Default)]
pub struct Pairs {
    buf: Bytes,
    /// (name start, name end, value start, value end) in `buf`.
    spans: Vec<[u32; 4]>,
}

impl Pairs {
    /// The pairs in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.spans.iter().map(|&[ks, ke, vs, ve]| {
            (
                &self.buf[ks as usize..ke as usize],
                &self.buf[vs as usize..ve as usize],
            )
        })
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The value of the first pair named `name`.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// `part` (a name or value [`Pairs::iter`] gave) as shared bytes,
    /// without a copy (copied if it lies elsewhere).
    pub fn share(&self, part: &[u8]) -> Bytes {
        let within = self.buf.as_ptr_range();
        let at = part.as_ptr_range();
        if part.is_empty() {
            Bytes::new()
        } else if within.start <= at.start && at.end <= within.end {
            self.buf.slice_ref(part)
        } else {
            Bytes::copy_from_slice(part)
        }
    }
}

impl<K: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(K, V)> for Pairs {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Pairs {
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        let mut at = |b: &[u8]| {
            let start = buf.len();
            buf.extend_from_slice(b);
            (
                u32::try_from(start).unwrap_or(u32::MAX),
                u32::try_from(buf.len()).unwrap_or(u32::MAX),
            )
        };
        for (k, v) in pairs {
            let (ks, ke) = at(k.as_ref());
            let (vs, ve) = at(v.as_ref());
            spans.push([ks, ke, vs, ve]);
        }
        Pairs {
            buf: Bytes::from(buf),
            spans,
        }
    }
}

impl PartialEq for Pairs {
    fn eq(&self, other: &Pairs) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Pairs {}

impl std::fmt::Debug for Pairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(k, v)| (Bytes::copy_from_slice(k), Bytes::copy_from_slice(v))),
            )
            .finish()
    }
}

/// The application's status line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: Bytes,
    pub headers: Vec<(Bytes, Bytes)>,
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Head(RequestHead),
    Body(Bytes),
    End,
    /// The daemon took the request and now reads its body.
    Continue,
    /// The daemon will not run this request (shutting down): connect again
    /// and resend. Only sent before any body byte was read.
    Reject,
    /// The request failed before response headers: answer `status`.
    Fail {
        status: u16,
        message: String,
    },
    ResponseHead(ResponseHead),
    ResponseBody(Bytes),
    /// The response is complete. `keep`: the daemon keeps the connection
    /// open and will take the next request sent on it (else it closes it).
    ResponseEnd {
        keep: bool,
    },
    /// The response failed after its head was sent: the client connection
    /// must end without a valid end of message.
    Abort(String),
    /// First frame on a connection a daemon process accepted: which
    /// process holds the connection from now on.
    Accepted {
        pid: u32,
    },
}

impl Frame {
    /// The frame's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Head(_) => "Head",
            Frame::Body(_) => "Body",
            Frame::End => "End",
            Frame::Continue => "Continue",
            Frame::Reject => "Reject",
            Frame::Fail { .. } => "Fail",
            Frame::ResponseHead(_) => "ResponseHead",
            Frame::ResponseBody(_) => "ResponseBody",
            Frame::ResponseEnd { .. } => "ResponseEnd",
            Frame::Abort(_) => "Abort",
            Frame::Accepted { .. } => "Accepted",
        }
    }
}

fn put_header(dst: &mut BytesMut, kind: u8, len: usize) {
    dst.put_u8(kind);
    // Callers keep payloads under MAX_FRAME_LEN, which fits in u32.
    dst.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
}

/// The 5 bytes that precede a body payload of `len` bytes, for senders that
/// write the payload from elsewhere (a file, a borrowed buffer).
pub fn body_frame_header(kind: u8, len: usize) -> [u8; FRAME_HEADER_LEN] {
    let l = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [kind, l[0], l[1], l[2], l[3]]
}

fn pairs_len<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: impl Iterator<Item = (K, V)>) -> usize {
    4 + pairs
        .map(|(k, v)| 8 + k.as_ref().len() + v.as_ref().len())
        .sum::<usize>()
}

fn put_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    dst: &mut BytesMut,
    count: usize,
    pairs: impl Iterator<Item = (K, V)>,
) {
    dst.put_u32(u32::try_from(count).unwrap_or(u32::MAX));
    for (k, v) in pairs {
        put_bytes(dst, k.as_ref());
        put_bytes(dst, v.as_ref());
    }
}

/// One length-prefixed string, the concatenation of `parts`.
fn put_parts(dst: &mut BytesMut, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    dst.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    for p in parts {
        dst.put_slice(p);
    }
}

#[inline]
fn put_bytes(dst: &mut BytesMut, b: &[u8]) {
    dst.put_u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
    dst.put_slice(b);
}

/// Appends a `ResponseHead` frame for `h` to `dst` (what [`encode`] does
/// for `Frame::ResponseHead`, without cloning the head into a frame).
pub fn encode_response_head(h: &ResponseHead, dst: &mut BytesMut) {
    let len = 2 + 4 + h.reason.len() + pairs_len(h.headers.iter().map(|(k, v)| (k, v)));
    dst.reserve(FRAME_HEADER_LEN + len);
    put_header(dst, kind::RESPONSE_HEAD, len);
    dst.put_u16(h.status);
    put_bytes(dst, &h.reason);
    put_pairs(dst, h.headers.len(), h.headers.iter().map(|(k, v)| (k, v)));
}

/// Appends `frame` to `dst`.
pub fn encode(frame: &Frame, dst: &mut BytesMut) {
    match frame {
        Frame::Head(h) => {
            let len = 2 + 1 + pairs_len(h.environ.iter());
            dst.reserve(FRAME_HEADER_LEN + len);
            put_header(dst, kind::HEAD, len);
            dst.put_u16(h.version);
            dst.put_u8(head_flags(h.has_body, h.close));
            put_pairs(dst, h.environ.len(), h.environ.iter());
        }
        Frame::Body(b) => {
            put_header(dst, kind::BODY, b.len());
            dst.put_slice(b);
        }
        Frame::End => put_header(dst, kind::END, 0),
        Frame::Continue => put_header(dst, kind::CONTINUE, 0),
        Frame::Reject => put_header(dst, kind::REJECT, 0),
        Frame::Fail { status, message } => {
            put_header(dst, kind::FAIL, 2 + message.len());
            dst.put_u16(*status);
            dst.put_slice(message.as_bytes());
        }
        Frame::ResponseHead(h) => encode_response_head(h, dst),
        Frame::ResponseBody(b) => {
            put_header(dst, kind::RESPONSE_BODY, b.len());
            dst.put_slice(b);
        }
        Frame::ResponseEnd { keep } => {
            put_header(dst, kind::RESPONSE_END, 1);
            dst.put_u8(u8::from(*keep));
        }
        Frame::Abort(m) => {
            put_header(dst, kind::ABORT, m.len());
            dst.put_slice(m.as_bytes());
        }
        Frame::Accepted { pid } => {
            put_header(dst, kind::ACCEPTED, 4);
            dst.put_u32(*pid);
        }
    }
}

/// Writes a `Head` frame straight into a buffer, pair by pair, without
/// building a [`RequestHead`] first: the front end's per-request path.
/// The bytes are exactly those of [`encode`] for the same head.
#[derive(Debug)]
pub struct HeadEncoder<'a> {
    dst: &'a mut BytesMut,
    start: usize,
    count: u32,
}

impl<'a> HeadEncoder<'a> {
    pub fn new(dst: &'a mut BytesMut, version: u16, has_body: bool) -> HeadEncoder<'a> {
        let start = dst.len();
        dst.reserve(1024);
        put_header(dst, kind::HEAD, 0);
        dst.put_u16(version);
        dst.put_u8(head_flags(has_body, false));
        dst.put_u32(0);
        HeadEncoder {
            dst,
            start,
            count: 0,
        }
    }

    /// One environ variable. (Inlined: most keys are literals, whose
    /// copies then need no call to `memcpy`.)
    #[inline]
    pub fn pair(&mut self, key: &[u8], value: &[u8]) {
        put_bytes(self.dst, key);
        put_bytes(self.dst, value);
        self.count += 1;
    }

    /// One environ variable whose key and value are each the
    /// concatenation of `parts` (an `HTTP_*` name, joined header values).
    pub fn pair_parts(&mut self, key: &[&[u8]], value: &[&[u8]]) {
        put_parts(self.dst, key);
        put_parts(self.dst, value);
        self.count += 1;
    }

    /// One `HTTP_*` variable: `HTTP_` then `name` (a header's, lower
    /// case) upper-cased with `-` as `_`, transformed where it is copied
    /// to; the value is the concatenation of `value` (joined header
    /// values).
    pub fn pair_http(&mut self, name: &[u8], value: &[&[u8]]) {
        let key_len = 5 + name.len();
        self.dst.reserve(4 + key_len);
        self.dst.put_u32(u32::try_from(key_len).unwrap_or(u32::MAX));
        self.dst.put_slice(b"HTTP_");
        let at = self.dst.len();
        self.dst.put_slice(name);
        for b in &mut self.dst[at..] {
            *b = if *b == b'-' {
                b'_'
            } else {
                b.to_ascii_uppercase()
            };
        }
        put_parts(self.dst, value);
        self.count += 1;
    }

    /// Pairs encoded once ([`PairsBlock`]), copied in one piece: the
    /// frame's bytes are those of [`HeadEncoder::pair`] for each.
    pub fn block(&mut self, block: &PairsBlock) {
        self.dst.extend_from_slice(&block.bytes);
        self.count += block.count;
    }

    /// Patches the frame length and the pair count.
    pub fn finish(self) {
        let len = self.dst.len() - self.start - FRAME_HEADER_LEN;
        let len = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
        self.dst[self.start + 1..self.start + 5].copy_from_slice(&len);
        let at = self.start + FRAME_HEADER_LEN + 3;
        self.dst[at..at + 4].copy_from_slice(&self.count.to_be_bytes());
    }
}

/// Environ pairs encoded once, for [`HeadEncoder::block`] to add to many
/// `Head` frames (pairs whose values are the same for every request to a
/// mount).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairsBlock {
    bytes: Vec<u8>,
    count: u32,
}

impl PairsBlock {
    /// `pairs`, in their order, encoded as a `Head` frame holds them.
    pub fn new<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut bytes = Vec::new();
        let mut count = 0;
        for (k, v) in pairs {
            for part in [k.as_ref(), v.as_ref()] {
                let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
                bytes.extend_from_slice(&len.to_be_bytes());
                bytes.extend_from_slice(part);
            }
            count += 1;
        }
        PairsBlock { bytes, count }
    }
}

/// Takes one complete frame off the front of `src`, or returns `Ok(None)`
/// when more bytes are needed (nothing is consumed then).
pub fn decode(src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
    if src.len() < FRAME_HEADER_LEN {
        return Ok(None);
    }
    let k = src[0];
    let len = u32::from_be_bytes([src[1], src[2], src[3], src[4]]) as usize;
    if len > MAX_FRAME_LEN {
        return Err(ProtocolError::TooLong(len));
    }
    if !matches!(
        k,
        kind::HEAD
            | kind::BODY
            | kind::END
            | kind::CONTINUE
            | kind::REJECT
            | kind::FAIL
            | kind::RESPONSE_HEAD
            | kind::RESPONSE_BODY
            | kind::RESPONSE_END
            | kind::ABORT
            | kind::ACCEPTED
    ) {
        return Err(ProtocolError::UnknownKind(k));
    }
    if src.len() < FRAME_HEADER_LEN + len {
        src.reserve(FRAME_HEADER_LEN + len - src.len());
        return Ok(None);
    }
    src.advance(FRAME_HEADER_LEN);
    let mut p = src.split_to(len).freeze();
    let frame = match k {
        kind::HEAD => {
            let name = "Head";
            let version = get_u16(&mut p, name)?;
            if version != VERSION {
                return Err(ProtocolError::Version(version));
            }
            let flags = get_u8(&mut p, name)?;
            let has_body = flags & head_flag::BODY != 0;
            let close = flags & head_flag::CLOSE != 0;
            let environ = get_spans(p, name)?;
            Frame::Head(RequestHead {
                version,
                has_body,
                close,
                environ,
            })
        }
        kind::BODY => Frame::Body(p),
        kind::END => empty(&p, "End", Frame::End)?,
        kind::CONTINUE => empty(&p, "Continue", Frame::Continue)?,
        kind::REJECT => empty(&p, "Reject", Frame::Reject)?,
        kind::FAIL => {
            let status = get_u16(&mut p, "Fail")?;
            Frame::Fail {
                status,
                message: String::from_utf8_lossy(&p).into_owned(),
            }
        }
        kind::RESPONSE_HEAD => {
            let name = "ResponseHead";
            let status = get_u16(&mut p, name)?;
            if !(100..=999).contains(&status) {
                return Err(ProtocolError::Status(status));
            }
            let reason = get_bytes(&mut p, name)?;
            let headers = get_pairs(&mut p, name)?;
            finish(&p, name)?;
            Frame::ResponseHead(ResponseHead {
                status,
                reason,
                headers,
            })
        }
        kind::RESPONSE_BODY => Frame::ResponseBody(p),
        kind::RESPONSE_END => {
            let flags = get_u8(&mut p, "ResponseEnd")?;
            finish(&p, "ResponseEnd")?;
            Frame::ResponseEnd {
                keep: flags & 1 != 0,
            }
        }
        kind::ACCEPTED => {
            let pid = get_u32(&mut p, "Accepted")?;
            finish(&p, "Accepted")?;
            Frame::Accepted {
                pid: u32::try_from(pid).unwrap_or(u32::MAX),
            }
        }
        _ => Frame::Abort(String::from_utf8_lossy(&p).into_owned()),
    };
    Ok(Some(frame))
}

fn empty(p: &Bytes, name: &'static str, f: Frame) -> Result<Frame, ProtocolError> {
    finish(p, name).map(|()| f)
}

fn finish(p: &Bytes, name: &'static str) -> Result<(), ProtocolError> {
    if p.is_empty() {
        Ok(())
    } else {
        Err(ProtocolError::Trailing(name, p.len()))
    }
}

fn get_u8(p: &mut Bytes, name: &'static str) -> Result<u8, ProtocolError> {
    if p.remaining() < 1 {
        return Err(ProtocolError::Truncated(name));
    }
    Ok(p.get_u8())
}

fn get_u16(p: &mut Bytes, name: &'static str) -> Result<u16, ProtocolError> {
    if p.remaining() < 2 {
        return Err(ProtocolError::Truncated(name));
    }
    Ok(p.get_u16())
}

fn get_u32(p: &mut Bytes, name: &'static str) -> Result<usize, ProtocolError> {
    if p.remaining() < 4 {
        return Err(ProtocolError::Truncated(name));
    }
    Ok(p.get_u32() as usize)
}

fn get_bytes(p: &mut Bytes, name: &'static str) -> Result<Bytes, ProtocolError> {
    let n = get_u32(p, name)?;
    if p.remaining() < n {
        return Err(ProtocolError::Truncated(name));
    }
    Ok(p.split_to(n))
}

/// The pairs that are the rest of a frame's payload, `p`.
fn get_spans(p: Bytes, name: &'static str) -> Result<Pairs, ProtocolError> {
    let truncated = ProtocolError::Truncated(name);
    let u32_at = |i: usize| -> Result<usize, ProtocolError> {
        let b = p.get(i..i + 4).ok_or(truncated.clone())?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let n = u32_at(0)?;
    let mut i = 4;
    // Each pair needs at least 8 bytes: never trust `n` for the allocation.
    let mut spans = Vec::with_capacity(n.min(p.len().saturating_sub(i) / 8));
    let part = |i: &mut usize| -> Result<(u32, u32), ProtocolError> {
        let len = u32_at(*i)?;
        let start = *i + 4;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= p.len())
            .ok_or(truncated.clone())?;
        *i = end;
        // (A frame is at most MAX_FRAME_LEN bytes: offsets fit in u32.)
        Ok((start as u32, end as u32))
    };
    for _ in 0..n {
        let (ks, ke) = part(&mut i)?;
        let (vs, ve) = part(&mut i)?;
        spans.push([ks, ke, vs, ve]);
    }
    if i != p.len() {
        return Err(ProtocolError::Trailing(name, p.len() - i));
    }
    Ok(Pairs { buf: p, spans })
}

fn get_pairs(p: &mut Bytes, name: &'static str) -> Result<Vec<(Bytes, Bytes)>, ProtocolError> {
    let n = get_u32(p, name)?;
    // Each pair needs at least 8 bytes: never trust `n` for the allocation.
    let mut out = Vec::with_capacity(n.min(p.remaining() / 8));
    for _ in 0..n {
        let k = get_bytes(p, name)?;
        let v = get_bytes(p, name)?;
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn roundtrip(f: &Frame) -> Frame {
        let mut buf = BytesMut::new();
        encode(f, &mut buf);
        let got = decode(&mut buf).unwrap().unwrap();
        assert!(buf.is_empty(), "decode consumed the whole frame");
        got
    }

    fn all_frames() -> Vec<Frame> {
        vec![
            Frame::Head(RequestHead {
                version: VERSION,
                has_body: true,
                close: true,
                environ: [(b("REQUEST_METHOD"), b("POST")), (b("EMPTY"), b(""))]
                    .into_iter()
                    .collect(),
            }),
            Frame::Body(b("hello")),
            Frame::End,
            Frame::Continue,
            Frame::Reject,
            Frame::Fail {
                status: 504,
                message: "queue timeout".into(),
            },
            Frame::ResponseHead(ResponseHead {
                status: 200,
                reason: b("OK"),
                headers: vec![(b("Content-Type"), b("text/plain"))],
            }),
            Frame::ResponseBody(b("x")),
            Frame::ResponseEnd { keep: true },
            Frame::ResponseEnd { keep: false },
            Frame::Abort("boom".into()),
            Frame::Accepted { pid: 4242 },
        ]
    }

    #[test]
    fn every_frame_round_trips() {
        for f in all_frames() {
            assert_eq!(roundtrip(&f), f);
        }
    }

    #[test]
    fn partial_input_waits_and_consumes_nothing() {
        let mut whole = BytesMut::new();
        for f in all_frames() {
            encode(&f, &mut whole);
        }
        // Feed one byte at a time: frames come out in order, never early.
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in whole.iter() {
            buf.put_u8(*byte);
            while let Some(f) = decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, all_frames());
    }

    #[test]
    fn decoded_pairs_find_names_and_share_the_frame() {
        let environ: Pairs = [("A", "1"), ("B", ""), ("A", "2")].into_iter().collect();
        let got = roundtrip(&Frame::Head(RequestHead {
            version: VERSION,
            has_body: false,
            close: false,
            environ,
        }));
        let Frame::Head(h) = got else {
            panic!("not a head: {got:?}");
        };
        assert_eq!(h.get("A"), Some(&b"1"[..]));
        assert_eq!(h.get("B"), Some(&b""[..]));
        assert_eq!(h.get("C"), None);
        assert_eq!(h.environ.len(), 3);
        let (_, last) = h.environ.iter().nth(2).unwrap();
        assert_eq!(h.environ.share(last), Bytes::from_static(b"2"));
        assert_eq!(
            h.environ.share(b"elsewhere"),
            Bytes::from_static(b"elsewhere")
        );
        assert_eq!(
            format!("{:?}", h.environ),
            r#"[(b"A", b"1"), (b"B", b""), (b"A", b"2")]"#
        );
    }

    #[test]
    fn head_layout_is_the_documented_one() {
        let mut buf = BytesMut::new();
        encode(
            &Frame::Head(RequestHead {
                version: 2,
                has_body: false,
                close: false,
                environ: [("A", "bc")].into_iter().collect(),
            }),
            &mut buf,
        );
        assert_eq!(
            &buf[..],
            &[
                0x01, 0, 0, 0, 18, // kind, length
                0, 2, // version
                0, // flags
                0, 0, 0, 1, // one pair
                0, 0, 0, 1, b'A', 0, 0, 0, 2, b'b', b'c'
            ][..]
        );
    }

    #[test]
    fn head_encoder_writes_what_encode_writes() {
        let head = RequestHead {
            version: VERSION,
            has_body: true,
            close: false,
            environ: [
                ("A", "bc"),
                ("HTTP_X_Y", "1, 2"),
                ("HTTP_USER_AGENT_2", "curl"),
                ("", ""),
                ("SCRIPT_FILENAME", "/srv/app.wsgi"),
                ("CONTEXT_PREFIX", ""),
            ]
            .into_iter()
            .collect(),
        };
        let mut want = BytesMut::from(&b"prefix"[..]);
        encode(&Frame::Head(head), &mut want);
        let mut got = BytesMut::from(&b"prefix"[..]);
        let mut enc = HeadEncoder::new(&mut got, VERSION, true);
        enc.pair(b"A", b"bc");
        enc.pair_parts(&[b"HTTP_", b"X_Y"], &[b"1", b", ", b"2"]);
        enc.pair_http(b"user-agent-2", &[b"cu", b"rl"]);
        enc.pair(b"", b"");
        enc.block(&PairsBlock::new([
            ("SCRIPT_FILENAME", "/srv/app.wsgi"),
            ("CONTEXT_PREFIX", ""),
        ]));
        enc.block(&PairsBlock::default());
        enc.finish();
        assert_eq!(got, want);
    }

    #[test]
    fn rejects_unknown_kind_oversize_and_bad_version() {
        let mut buf = BytesMut::from(&[0x42u8, 0, 0, 0, 0][..]);
        assert_eq!(decode(&mut buf), Err(ProtocolError::UnknownKind(0x42)));
        let mut buf = BytesMut::from(&[kind::BODY, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(decode(&mut buf), Err(ProtocolError::TooLong(_))));
        let mut buf = BytesMut::from(&[kind::HEAD, 0, 0, 0, 7, 0, 9, 0, 0, 0, 0, 0][..]);
        assert_eq!(decode(&mut buf), Err(ProtocolError::Version(9)));
    }

    #[test]
    fn rejects_truncated_and_trailing_payloads() {
        // A pair count of 1 with no pair bytes.
        let mut buf = BytesMut::from(&[kind::HEAD, 0, 0, 0, 7, 0, 2, 0, 0, 0, 0, 1][..]);
        assert_eq!(decode(&mut buf), Err(ProtocolError::Truncated("Head")));
        let mut buf = BytesMut::from(&[kind::END, 0, 0, 0, 1, 7][..]);
        assert_eq!(decode(&mut buf), Err(ProtocolError::Trailing("End", 1)));
        let mut buf = BytesMut::from(&[kind::RESPONSE_HEAD, 0, 0, 0, 2, 0, 5][..]);
        assert_eq!(decode(&mut buf), Err(ProtocolError::Status(5)));
    }

    #[test]
    fn huge_pair_count_does_not_allocate_it() {
        let mut buf =
            BytesMut::from(&[kind::HEAD, 0, 0, 0, 7, 0, 2, 0, 0xff, 0xff, 0xff, 0xff][..]);
        assert_eq!(decode(&mut buf), Err(ProtocolError::Truncated("Head")));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut buf = BytesMut::from(&data[..]);
            for _ in 0..64 {
                match decode(&mut buf) {
                    Ok(Some(_)) => continue,
                    _ => break,
                }
            }
        }

        #[test]
        fn heads_round_trip(pairs in proptest::collection::vec((any::<Vec<u8>>(), any::<Vec<u8>>()), 0..8), body: bool) {
            let environ: Pairs = pairs.into_iter().collect();
            let f = Frame::Head(RequestHead { version: VERSION, has_body: body, close: !body, environ });
            prop_assert_eq!(roundtrip(&f), f);
        }
    }
}
