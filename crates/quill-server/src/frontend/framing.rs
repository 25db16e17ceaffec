//! Where request heads are in a client connection's bytes, and what httpd
//! checks in them before any parsing: line ends (`HttpProtocolOptions
//! Strict` refuses a bare LF, 400) and the request line's length
//! (`LimitRequestLine`, 414).
//!
//! Pure: [`Framing`] is fed the bytes as they arrive and says which are a
//! head still being received (held back from hyper until whole, see
//! `client_io`), which end one, and which are a body (passed on). hyper
//! still parses everything; this only follows the framing far enough to
//! know where the next head starts: a Content-Length counted, a chunked
//! body's chunks followed. Whatever it cannot follow (a framing hyper will
//! refuse anyway, CONNECT) turns it [`State::Opaque`]: the rest of the
//! connection passes through unchecked, and hyper answers it.

use super::error::{Client, FrontError};

/// Why a head is refused before hyper sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejection {
    /// A line of the head ends in LF without CR (HttpProtocolOptions
    /// Strict): 400. `in_request_line`: the request line itself.
    BareLf { in_request_line: bool },
    /// The request line is longer than LimitRequestLine: 414.
    LineTooLong,
}

impl Rejection {
    /// The answer to a head refused so, from `remote` (`line_limit`:
    /// LimitRequestLine, for the log line).
    pub(super) fn error(self, remote: Client, line_limit: usize) -> FrontError {
        match self {
            Rejection::LineTooLong => FrontError::line_too_long(remote, line_limit),
            Rejection::BareLf { in_request_line } => FrontError::bare_lf(remote, in_request_line),
        }
    }
}

/// What a call to [`Framing::scan`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scan {
    /// `n` more bytes of a head that is not whole yet (hold them).
    Head(usize),
    /// The head ends after `n` more bytes: the whole head may go.
    HeadEnd(usize),
    /// `n` bytes of a body (or of a connection no longer followed): they
    /// may go at once.
    Body(usize),
    /// The head is refused.
    Reject(Rejection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunk {
    /// In a chunk-size line: hex digits seen, then anything to the LF
    /// (extensions).
    Size {
        digits: u32,
        size: u64,
        ext: bool,
    },
    Data(u64),
    /// After a chunk's data: its CRLF (`cr`: the CR came).
    DataEnd {
        cr: bool,
    },
    /// Trailer fields after the last chunk; `empty`: nothing on this line
    /// yet.
    Trailers {
        empty: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Receiving a head: complete lines so far, bytes in the current
    /// line, whether the last byte was a CR.
    Head {
        lines: u32,
        line_len: usize,
        cr: bool,
    },
    /// A Content-Length body: bytes left.
    Length(u64),
    Chunked(Chunk),
    /// Not followed any more.
    Opaque,
}

/// The framing of one client connection's request stream.
#[derive(Debug, Clone)]
pub(super) struct Framing {
    state: State,
    strict: bool,
    line_limit: usize,
}

const NEW_HEAD: State = State::Head {
    lines: 0,
    line_len: 0,
    cr: false,
};

impl Framing {
    pub(super) fn new(strict: bool, line_limit: usize) -> Framing {
        Framing {
            state: NEW_HEAD,
            strict,
            line_limit,
        }
    }

    #[cfg(test)]
    pub(super) fn state(&self) -> State {
        self.state
    }

    /// Between requests or receiving a head.
    pub(super) fn in_head(&self) -> bool {
        matches!(self.state, State::Head { .. })
    }

    /// Some byte of the current head has come (blank lines before a
    /// request line do not count).
    pub(super) fn head_started(&self) -> bool {
        matches!(self.state, State::Head { lines, line_len, cr } if lines > 0 || line_len > 0 || cr)
    }

    /// The current head's request line is whole.
    pub(super) fn request_line_done(&self) -> bool {
        matches!(self.state, State::Head { lines, .. } if lines > 0)
    }

    /// Bytes left of a Content-Length body (read straight through).
    pub(super) fn body_left(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Opaque => Some(u64::MAX),
            _ => None,
        }
    }

    /// Stops following the connection (a head too long to hold).
    pub(super) fn give_up(&mut self) {
        self.state = State::Opaque;
    }

    /// `n` bytes of a Content-Length body (or opaque) went through.
    pub(super) fn passed(&mut self, n: usize) {
        if let State::Length(left) = &mut self.state {
            *left = left.saturating_sub(n as u64);
            if *left == 0 {
                self.state = NEW_HEAD;
            }
        }
    }

    /// Scans `bytes`, from the `held` bytes of the head being received
    /// (already scanned) on: stops at the end of the bytes, of a head or
    /// of a body, or at a refused head. The counts exclude `held`.
    pub(super) fn scan(&mut self, bytes: &[u8], held: usize) -> Scan {
        let new = &bytes[held..];
        match self.state {
            State::Head { .. } => self.scan_head(bytes, held),
            State::Opaque => Scan::Body(new.len()),
            State::Length(left) => {
                let n = new.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                self.passed(n);
                Scan::Body(n)
            }
            State::Chunked(_) => Scan::Body(self.scan_chunked(new)),
        }
    }

    fn scan_head(&mut self, bytes: &[u8], held: usize) -> Scan {
        let State::Head {
            mut lines,
            mut line_len,
            mut cr,
        } = self.state
        else {
            return Scan::Body(0);
        };
        let new = &bytes[held..];
        let mut i = 0;
        while i < new.len() {
            // A run of bytes other than CR and LF (most of a head) at once.
            let run = cr_or_lf(&new[i..]).unwrap_or(new.len() - i);
            if run > 0 {
                line_len += run + usize::from(cr);
                cr = false;
                i += run;
            } else {
                if new[i] == b'\n' {
                    if self.strict && !cr {
                        return Scan::Reject(Rejection::BareLf {
                            in_request_line: lines == 0,
                        });
                    }
                    cr = false;
                    if line_len > 0 {
                        lines += 1;
                        line_len = 0;
                    } else if lines > 0 {
                        let end = held + i + 1;
                        self.state = body_of(&bytes[..end]);
                        return Scan::HeadEnd(i + 1);
                    }
                    // (A blank line before the request line is skipped,
                    // as httpd and hyper do.)
                } else {
                    if cr {
                        line_len += 1;
                    }
                    cr = true;
                }
                i += 1;
            }
            // (httpd takes a request line of up to limit + 1 bytes: its
            // ap_rgetline gets limit + 2 with the CRLF; recorded by
            // bench/apache/probes.py.)
            if lines == 0 && line_len > self.line_limit.saturating_add(1) {
                return Scan::Reject(Rejection::LineTooLong);
            }
        }
        self.state = State::Head {
            lines,
            line_len,
            cr,
        };
        Scan::Head(bytes.len() - held)
    }

    /// Follows a chunked body through `new`; returns how many bytes are
    /// the body's (the rest start the next head).
    fn scan_chunked(&mut self, new: &[u8]) -> usize {
        let mut i = 0;
        while i < new.len() {
            let State::Chunked(chunk) = self.state else {
                return i;
            };
            let b = new[i];
            let next = match chunk {
                Chunk::Size { digits, size, ext } => match (b, ext) {
                    (b'\n', _) if digits == 0 => State::Opaque,
                    (b'\n', _) if size == 0 => State::Chunked(Chunk::Trailers { empty: true }),
                    (b'\n', _) => State::Chunked(Chunk::Data(size)),
                    (_, false) if b.is_ascii_hexdigit() => {
                        if digits >= 15 {
                            State::Opaque
                        } else {
                            let d = u64::from((b as char).to_digit(16).unwrap_or(0));
                            State::Chunked(Chunk::Size {
                                digits: digits + 1,
                                size: size * 16 + d,
                                ext: false,
                            })
                        }
                    }
                    _ if digits == 0 => State::Opaque,
                    _ => State::Chunked(Chunk::Size {
                        digits,
                        size,
                        ext: true,
                    }),
                },
                Chunk::Data(left) => {
                    let take = (new.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    i += take;
                    let left = left - take as u64;
                    self.state = State::Chunked(if left == 0 {
                        Chunk::DataEnd { cr: false }
                    } else {
                        Chunk::Data(left)
                    });
                    continue;
                }
                Chunk::DataEnd { cr } => match b {
                    b'\r' if !cr => State::Chunked(Chunk::DataEnd { cr: true }),
                    b'\n' => State::Chunked(Chunk::Size {
                        digits: 0,
                        size: 0,
                        ext: false,
                    }),
                    _ => State::Opaque,
                },
                Chunk::Trailers { empty } => match b {
                    b'\n' if empty => {
                        self.state = NEW_HEAD;
                        return i + 1;
                    }
                    b'\n' => State::Chunked(Chunk::Trailers { empty: true }),
                    b'\r' => State::Chunked(Chunk::Trailers { empty }),
                    _ => State::Chunked(Chunk::Trailers { empty: false }),
                },
            };
            self.state = next;
            i += 1;
            if self.state == State::Opaque {
                return new.len();
            }
        }
        i
    }
}

/// Where the first CR or LF of `bytes` is. Header lines are short (tens
/// of bytes): eight bytes at a time in a word beats memchr's vector
/// search, whose set-up costs more than such a line.
fn cr_or_lf(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const CRS: u64 = u64::from_ne_bytes([b'\r'; 8]);
    const LFS: u64 = u64::from_ne_bytes([b'\n'; 8]);
    // A byte of `x` is zero: its high bit is set in the result (bytes
    // above the first zero byte may be flagged too; only the first
    // flagged byte is used).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let found = zero(x ^ CRS) | zero(x ^ LFS);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|p| at + p)
}

/// The framing of the body after `head`: chunked when the last
/// Transfer-Encoding ends in `chunked`, a Content-Length when all of them
/// agree, none without either; opaque for what hyper will refuse or treat
/// specially (another transfer coding, CONNECT, a bad length).
fn body_of(head: &[u8]) -> State {
    if head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .is_some_and(|s| head[s..].starts_with(b"CONNECT "))
    {
        return State::Opaque;
    }
    let mut te: Option<&[u8]> = None;
    let mut length: Option<u64> = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (n, length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(l)) if n == l => {}
                _ => return State::Opaque,
            }
        }
    }
    match (te, length) {
        (Some(te), _) => {
            let last = te.rsplit(|&b| b == b',').next().map(trim);
            if last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")) {
                State::Chunked(Chunk::Size {
                    digits: 0,
                    size: 0,
                    ext: false,
                })
            } else {
                State::Opaque
            }
        }
        (None, Some(0)) | (None, None) => NEW_HEAD,
        (None, Some(n)) => State::Length(n),
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes, as a connection would, and
    /// returns the heads found (as text) and the first refusal.
    fn heads(f: &mut Framing, input: &[u8], step: usize) -> (Vec<String>, Option<Rejection>) {
        let mut buf: Vec<u8> = Vec::new();
        let mut held = 0;
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            while held < buf.len() {
                match f.scan(&buf, held) {
                    Scan::Head(n) => held += n,
                    Scan::HeadEnd(n) => {
                        out.push(String::from_utf8_lossy(&buf[..held + n]).into_owned());
                        buf.drain(..held + n);
                        held = 0;
                    }
                    Scan::Body(n) => {
                        assert_eq!(held, 0);
                        buf.drain(..n);
                        if n == 0 {
                            break;
                        }
                    }
                    Scan::Reject(r) => return (out, Some(r)),
                }
            }
        }
        (out, None)
    }

    /// The head scan byte by byte, as it was before it skipped runs of
    /// bytes other than CR and LF: the heads of `input` (fed whole) and the first refusal.
    fn heads_byte_by_byte(
        input: &[u8],
        strict: bool,
        limit: usize,
    ) -> (Vec<String>, Option<Rejection>) {
        let (mut out, mut start) = (Vec::new(), 0);
        let (mut lines, mut line_len, mut cr) = (0usize, 0usize, false);
        for (i, &b) in input.iter().enumerate() {
            match b {
                b'\n' => {
                    if strict && !cr {
                        let r = Rejection::BareLf {
                            in_request_line: lines == 0,
                        };
                        return (out, Some(r));
                    }
                    cr = false;
                    if line_len > 0 {
                        lines += 1;
                        line_len = 0;
                    } else if lines > 0 {
                        out.push(String::from_utf8_lossy(&input[start..=i]).into_owned());
                        (start, lines) = (i + 1, 0);
                    }
                }
                b'\r' => {
                    line_len += usize::from(cr);
                    cr = true;
                }
                _ => {
                    line_len += 1 + usize::from(cr);
                    cr = false;
                }
            }
            if lines == 0 && line_len > limit + 1 {
                return (out, Some(Rejection::LineTooLong));
            }
        }
        (out, None)
    }

    proptest::proptest! {
        /// The word-at-a-time search finds the first CR or LF, as a plain
        /// search does, wherever it is and whatever surrounds it.
        #[test]
        fn cr_or_lf_finds_the_first(
            input in proptest::collection::vec(
                proptest::sample::select(b"\r\nab\x00\x0b\x0c\x0e\x8d\x8a\xff".to_vec()), 0..40),
        ) {
            let want = input.iter().position(|&b| b == b'\r' || b == b'\n');
            proptest::prop_assert_eq!(cr_or_lf(&input), want);
        }

        /// Skipping runs finds the same heads and refusals as looking at
        /// every byte, however the input is cut into reads.
        #[test]
        fn the_run_skipping_scan_agrees_with_a_byte_by_byte_one(
            input in proptest::collection::vec(
                proptest::sample::select(b"ab :\r\n".to_vec()), 0..200),
            step in 1usize..40,
            strict: bool,
            limit in 0usize..30,
        ) {
            let got = heads(&mut Framing::new(strict, limit), &input, step);
            proptest::prop_assert_eq!(got, heads_byte_by_byte(&input, strict, limit));
        }
    }

    #[test]
    fn heads_are_found_between_bodies_of_every_framing() {
        let input = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n\
            POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n\
            GET /d HTTP/1.1\r\nHost: x\r\n\r\n";
        for step in [1, 2, 7, input.len()] {
            let (found, refused) = heads(&mut Framing::new(true, 8190), input, step);
            assert_eq!(refused, None, "{step}");
            let firsts: Vec<_> = found
                .iter()
                .map(|h| h.split("\r\n").next().unwrap_or_default().to_string())
                .collect();
            assert_eq!(
                firsts,
                [
                    "POST /a HTTP/1.1",
                    "GET /b HTTP/1.1",
                    "POST /c HTTP/1.1",
                    "GET /d HTTP/1.1"
                ],
                "{step}"
            );
        }
    }

    #[test]
    fn strict_refuses_a_bare_lf_and_unsafe_takes_it() {
        let bare = b"GET / HTTP/1.1\nHost: x\n\n";
        let (_, r) = heads(&mut Framing::new(true, 8190), bare, 3);
        assert_eq!(
            r,
            Some(Rejection::BareLf {
                in_request_line: true
            })
        );
        let (_, r) = heads(
            &mut Framing::new(true, 8190),
            b"GET / HTTP/1.1\r\nHost: x\n\r\n",
            3,
        );
        assert_eq!(
            r,
            Some(Rejection::BareLf {
                in_request_line: false
            })
        );
        let (found, r) = heads(&mut Framing::new(false, 8190), bare, 3);
        assert_eq!((found.len(), r), (1, None));
        // A bare LF inside a body is the body's business.
        let (found, r) = heads(
            &mut Framing::new(true, 8190),
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n\n\nGET / HTTP/1.1\r\n\r\n",
            4,
        );
        assert_eq!((found.len(), r), (2, None));
    }

    #[test]
    fn a_request_line_over_the_limit_is_refused_before_its_end() {
        let mut f = Framing::new(true, 20);
        let long = format!("GET /{} HTTP/1.1", "a".repeat(100));
        let (_, r) = heads(&mut f, &long.as_bytes()[..30], 5);
        assert_eq!(r, Some(Rejection::LineTooLong));
        // The limit + 1 is fine, as in httpd (not + 2); fields may be
        // longer.
        let line = |n: usize| {
            format!(
                "GET /{} HTTP/1.1\r\nX: {}\r\n\r\n",
                "a".repeat(n),
                "b".repeat(50)
            )
        };
        assert_eq!("GET /aaaaaaa HTTP/1.1".len(), 21);
        let (found, r) = heads(&mut Framing::new(true, 20), line(7).as_bytes(), 4);
        assert_eq!((found.len(), r), (1, None));
        let (_, r) = heads(&mut Framing::new(true, 20), line(8).as_bytes(), 4);
        assert_eq!(r, Some(Rejection::LineTooLong));
    }

    #[test]
    fn what_cannot_be_followed_passes_through() {
        for head in [
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "CONNECT a:1 HTTP/1.1\r\n\r\n",
        ] {
            let mut f = Framing::new(true, 8190);
            let input = format!("{head}GET /\nnot checked\n\n");
            let (found, r) = heads(&mut f, input.as_bytes(), 3);
            assert_eq!((found.len(), r), (1, None), "{head}");
            assert_eq!(f.state(), State::Opaque, "{head}");
        }
    }

    #[test]
    fn progress_is_reported_for_the_timeouts() {
        let mut f = Framing::new(true, 8190);
        assert!(!f.head_started());
        assert_eq!(f.scan(b"\r\n", 0), Scan::Head(2));
        assert!(!f.head_started());
        assert_eq!(f.scan(b"\r\nGET / HTTP/1.1\r", 2), Scan::Head(15));
        assert!(f.head_started() && !f.request_line_done());
        assert_eq!(f.scan(b"\r\nGET / HTTP/1.1\r\nHo", 17), Scan::Head(3));
        assert!(f.request_line_done());
    }
}
