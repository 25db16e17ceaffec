//! A request head's bytes as the server would take them, without a
//! connection: for the tests and the fuzz target
//! (`fuzz/fuzz_targets/request.rs`), which then give the request to
//! [`route_request`](super::route_request), as the server does.
//!
//! The front end's own checks are the server's code ([`Framing`]: bare LF
//! under `HttpProtocolOptions Strict`, `LimitRequestLine`). The parse
//! itself is hyper's in the server; here it is httparse, the parser hyper
//! calls, followed by what hyper 1's server role does with its result
//! (the request line, the fields, and the body's framing from
//! Transfer-Encoding and Content-Length). hyper's own refusals become a
//! 400 (431 for more than 100 fields, 414 for a target over 65,534 bytes),
//! which is what hyper answers them with.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Uri, Version};
use hyper::body::{Body, Frame, SizeHint};

use super::error::{Client, FrontError};
use super::framing::{Framing, Scan};

/// The most fields hyper takes in a head (its `DEFAULT_MAX_HEADERS`).
const MAX_FIELDS: usize = 100;
/// The longest target hyper takes (its `MAX_URI_LEN`).
const MAX_TARGET: usize = (u16::MAX - 1) as usize;

/// A request body known only by the length its head declared, as hyper's
/// `Incoming` reports it before any byte is read: `Some(n)` for a
/// Content-Length (0 without one), `None` for a chunked body. It yields no
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared(pub Option<u64>);

impl Body for Declared {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(None)
    }

    fn size_hint(&self) -> SizeHint {
        match self.0 {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// The first request head in `bytes` (see the module doc): `Ok(None)` while
/// it is not whole, the error the client would get for a head refused by
/// the front end's checks or by hyper's parse, else the request.
pub fn parse_head(
    bytes: &[u8],
    strict: bool,
    line_limit: usize,
    peer: SocketAddr,
) -> Result<Option<Request<Declared>>, FrontError> {
    let remote = Client(peer);
    let head = match Framing::new(strict, line_limit).scan(bytes, 0) {
        Scan::HeadEnd(n) => &bytes[..n],
        Scan::Reject(r) => return Err(r.error(remote, line_limit)),
        Scan::Head(_) | Scan::Body(_) => return Ok(None),
    };
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(FrontError::too_many_fields()),
        Err(_) => return Err(FrontError::bad_request()),
    }
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(FrontError::bad_request());
    };
    if target.len() > MAX_TARGET {
        return Err(FrontError::target_too_long());
    }
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| FrontError::bad_request())?;
    let uri = Uri::try_from(target).map_err(|_| FrontError::bad_request())?;
    let version = if version == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    let mut req = Request::new(Declared(Some(0)));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    // hyper's framing: Transfer-Encoding wins over Content-Length (which
    // it then drops), must end in chunked and is refused in HTTP/1.0;
    // Content-Length values must agree.
    let (mut te, mut te_chunked, mut length) = (false, false, None);
    for f in parsed.headers.iter() {
        let name =
            HeaderName::from_bytes(f.name.as_bytes()).map_err(|_| FrontError::bad_request())?;
        let value = HeaderValue::from_bytes(f.value).map_err(|_| FrontError::bad_request())?;
        if name == header::TRANSFER_ENCODING {
            if version != Version::HTTP_11 {
                return Err(FrontError::bad_request());
            }
            te = true;
            if length.take().is_some() {
                req.headers_mut().remove(header::CONTENT_LENGTH);
            }
            te_chunked = value
                .as_bytes()
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name == header::CONTENT_LENGTH {
            if te {
                continue;
            }
            let n = content_length(value.as_bytes()).ok_or_else(FrontError::bad_request)?;
            match length {
                Some(prev) if prev != n => return Err(FrontError::bad_request()),
                Some(_) => continue,
                None => length = Some(n),
            }
        }
        req.headers_mut().append(name, value);
    }
    if te && !te_chunked {
        return Err(FrontError::bad_request());
    }
    *req.body_mut() = Declared(if te { None } else { Some(length.unwrap_or(0)) });
    Ok(Some(req))
}

/// A Content-Length value as hyper reads it: digits, or a comma-separated
/// list of the same digits; below u64::MAX - 1.
fn content_length(v: &[u8]) -> Option<u64> {
    let mut n = None;
    for part in v.split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let m: u64 = std::str::from_utf8(part).ok()?.parse().ok()?;
        if n.is_some_and(|p| p != m) || m >= u64::MAX - 1 {
            return None;
        }
        n = Some(m);
    }
    n
}
