//! Routing. First httpd's checks of the request: an HTTP/1.1 request needs
//! one valid Host field (400 otherwise, RFC 9112 §3.2), and an
//! absolute-form target's authority replaces it (§3.2.2). Then the request
//! path (404 for a `%2F` in it under `AllowEncodedSlashes Off`, httpd's
//! default), %-decoded, with runs of `/` collapsed (as mod_wsgi makes
//! SCRIPT_NAME and PATH_INFO) and its `.` and `..` segments removed (as
//! httpd's ap_normalize_path; 400 for a `..` above the root, so that no
//! `Alias` or mount can be escaped), goes to the first `Alias` whose prefix
//! matches it at a segment boundary (mod_alias translates before mod_wsgi),
//! else to the first matching WSGI mount, else 404; a `<Location>` with
//! `SetHandler server-status` or `quill-metrics` comes before all of them. `OPTIONS *` is
//! answered 200, as httpd's core does.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, Version};
use hyper::body::Incoming;

use super::environ::prepare;
use super::error::{Client, FrontError};
use super::proxy::forward;
use super::static_files::static_file;
use super::{FrontEnd, Resp, RespBody};
use crate::log::{ErrorLog, Level};
use crate::plan::EncodedSlashes;

/// Collapses runs of `/` (mod_wsgi does this for SCRIPT_NAME/PATH_INFO).
fn collapse_slashes(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if b == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(b);
    }
    out
}

/// %-decodes `s`, except `%2F` when `keep_slashes` (AllowEncodedSlashes
/// NoDecode).
fn percent_decode(s: &str, keep_slashes: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let c = (h * 16 + l) as u8;
                if !(keep_slashes && c == b'/') {
                    out.push(c);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// RFC 3986 §5.2.4 on an absolute path whose slashes are collapsed: `.`
/// segments go, `..` takes the one before it away; `None` when a `..`
/// would climb above the root.
fn remove_dot_segments(path: &[u8]) -> Option<Vec<u8>> {
    let segments: Vec<&[u8]> = path[1..].split(|&b| b == b'/').collect();
    let mut out: Vec<&[u8]> = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            b"." => {}
            b".." => {
                out.pop()?;
            }
            s => {
                out.push(s);
                continue;
            }
        }
        // A final `.` or `..` leaves a directory: the path ends with `/`.
        if last {
            out.push(b"");
        }
    }
    let mut p = Vec::with_capacity(path.len());
    for s in out {
        p.push(b'/');
        p.extend_from_slice(s);
    }
    if p.is_empty() {
        p.push(b'/');
    }
    Some(p)
}

/// Whether `path` has a `%2F` (either case).
fn has_encoded_slash(path: &str) -> bool {
    path.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'2' && (w[2] == b'f' || w[2] == b'F'))
}

/// Whether `path` has a `.` or `..` segment.
fn has_dot_segment(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(|s| s == b"." || s == b"..")
}

/// A Host value httpd accepts: a name (letters, digits, `-`, `_`, `.`) or
/// a bracketed IPv6 address, then an optional `:` and digits.
fn valid_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let Some((addr, after)) = rest.split_once(']') else {
                return false;
            };
            if addr.is_empty()
                || !addr
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return false;
            }
            match after {
                "" => ("x", ""),
                a => match a.strip_prefix(':') {
                    Some(port) => ("x", port),
                    None => return false,
                },
            }
        }
        None => host.rsplit_once(':').unwrap_or((host, "")),
    };
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && port.bytes().all(|b| b.is_ascii_digit())
}

/// httpd's Host rules (see the module doc); an absolute-form target's
/// authority is moved into the Host field.
fn check_host(
    req: &mut Request<Incoming>,
    remote: Client,
    log: &ErrorLog,
) -> Result<(), FrontError> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        let joined: Vec<_> = req
            .headers()
            .get_all(header::HOST)
            .iter()
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
            .collect();
        return Err(FrontError::malformed_host(remote, &joined.join(", ")));
    }
    // (Borrowed: this runs for every request; text that is not visible
    // ASCII is no host name.)
    let host = first.map(|h| h.to_str().map(str::trim).map_err(|_| h.as_bytes()));
    let host = match host {
        Some(Ok(h)) if !h.is_empty() => h,
        Some(Err(bytes)) => {
            let shown = String::from_utf8_lossy(bytes).into_owned();
            return Err(FrontError::malformed_host(remote, &shown));
        }
        // httpd wants the field even with an absolute-form target.
        _ if req.version() == Version::HTTP_11 => {
            return Err(FrontError::no_host(remote, req.uri().path()));
        }
        _ => return Ok(()),
    };
    let Some(authority) = req.uri().authority().cloned() else {
        return match valid_host(host) {
            true => Ok(()),
            false => Err(FrontError::malformed_host(remote, host)),
        };
    };
    log.log(
        Level::Debug,
        "core",
        &format!(
            "{remote} AH02417: Replacing host header '{host}' with host '{authority}' given in \
             the request uri"
        ),
    );
    match HeaderValue::from_str(authority.as_str()) {
        Ok(v) if valid_host(authority.as_str()) => {
            req.headers_mut().insert(header::HOST, v);
            Ok(())
        }
        _ => Err(FrontError::malformed_host(remote, authority.as_str())),
    }
}

/// `prefix` matches `path` at a segment boundary (`/app` ⊂ `/app/x`, not
/// `/apple`); the root mount (`""`) matches everything.
fn prefix_matches(prefix: &str, path: &[u8]) -> bool {
    let p = prefix.as_bytes();
    path.starts_with(p) && (path.len() == p.len() || path[p.len()] == b'/' || p.is_empty())
}

/// The response to a request: a static file, a daemon's, or an error
/// page (its error-log line written).
pub(super) async fn route(
    fe: &FrontEnd,
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Resp {
    match dispatch(fe, req, peer, local).await {
        Ok(r) => r,
        Err(e) => e.respond(&fe.error_log),
    }
}

async fn dispatch(
    fe: &FrontEnd,
    mut req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Result<Resp, FrontError> {
    check_host(&mut req, Client(peer), &fe.error_log)?;
    if req.method() == Method::OPTIONS && req.uri().path() == "*" {
        return Ok(Response::new(RespBody::full(Bytes::new())));
    }
    // Everything borrowed from the request ends with this block, before
    // the daemon is awaited (see `prepare`).
    let (mount, head_bytes, body) = {
        // Most paths need neither %-decoding nor collapsing: borrow them
        // (from a clone of the URI, which shares its bytes: `req` moves on).
        let uri = req.uri().clone();
        let raw_path = uri.path();
        let encoded_slash = raw_path.contains('%') && has_encoded_slash(raw_path);
        if encoded_slash && fe.encoded_slashes == EncodedSlashes::Off {
            return Err(FrontError::encoded_slash(Client(peer), raw_path));
        }
        let keep = encoded_slash && fe.encoded_slashes == EncodedSlashes::NoDecode;
        let decoded: std::borrow::Cow<'_, [u8]> =
            if raw_path.contains('%') || raw_path.contains("//") {
                std::borrow::Cow::Owned(collapse_slashes(&percent_decode(raw_path, keep)))
            } else {
                std::borrow::Cow::Borrowed(raw_path.as_bytes())
            };
        if decoded.first() != Some(&b'/') {
            return Err(FrontError::bad_request());
        }
        let decoded = if has_dot_segment(&decoded) {
            match remove_dot_segments(&decoded) {
                Some(p) => std::borrow::Cow::Owned(p),
                None => return Err(FrontError::invalid_path(Client(peer), raw_path)),
            }
        } else {
            decoded
        };
        // mod_status's and the metrics' <Location>s, whatever else maps
        // the URL.
        if let Some((handlers, sb)) = &fe.metrics
            && let Some(access) = super::status::handler_for(handlers, &decoded)
        {
            return super::metrics::respond(fe, sb, access, &req, peer, local, &decoded);
        }
        if let Some(page) = &fe.status
            && let Some(access) = page.handler_for(&decoded)
        {
            return super::status::respond(fe, page, access, &req, peer, local, &decoded);
        }
        // Alias first: mod_alias translates before mod_wsgi.
        for alias in &fe.aliases {
            if prefix_matches(&alias.url, &decoded) {
                return static_file(&req, alias, &decoded[alias.url.len()..]).await;
            }
        }
        let Some(mount) = fe.mounts.iter().find(|m| prefix_matches(&m.url, &decoded)) else {
            return Err(FrontError::not_found());
        };
        let path_info = &decoded[mount.url.len()..];
        let (head, body) = prepare(fe, mount, req, peer, local, path_info)?;
        (mount, head, body)
    };
    Ok(forward(fe, mount, peer, head_bytes, body).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_match_at_segment_boundaries() {
        assert!(prefix_matches("/app", b"/app"));
        assert!(prefix_matches("/app", b"/app/x"));
        assert!(!prefix_matches("/app", b"/apple"));
        assert!(prefix_matches("", b"/anything"));
    }

    #[test]
    fn dot_segments_are_removed_and_may_not_climb_above_the_root() {
        let norm =
            |p: &str| remove_dot_segments(p.as_bytes()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(
            norm("/static/../index.html").as_deref(),
            Some("/index.html")
        );
        assert_eq!(norm("/a/./b/.").as_deref(), Some("/a/b/"));
        assert_eq!(norm("/a/b/..").as_deref(), Some("/a/"));
        assert_eq!(norm("/a/..").as_deref(), Some("/"));
        assert_eq!(norm("/.").as_deref(), Some("/"));
        assert_eq!(norm("/a/.hidden/..x").as_deref(), Some("/a/.hidden/..x"));
        assert_eq!(norm("/../index.html"), None);
        assert_eq!(norm("/static/../../index.html"), None);
        assert!(has_dot_segment(b"/a/../b") && has_dot_segment(b"/a/."));
        assert!(!has_dot_segment(b"/a/.b/c..") && !has_dot_segment(b"/"));
    }

    #[test]
    fn host_values_as_httpd_takes_them() {
        for ok in [
            "localhost",
            "localhost:80",
            "my_host",
            "a.example.",
            "[::1]:8080",
            "[::1]",
            "10.0.0.1:8",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "a b/c",
            "x:abc",
            "probe, evil.example",
            "[::1",
            "[zz]",
            ":80",
            "a@b",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn paths_are_decoded_and_collapsed() {
        assert_eq!(
            collapse_slashes(&percent_decode("//a%20b///c", false)),
            b"/a b/c"
        );
        assert_eq!(percent_decode("%zz%4", false), b"%zz%4");
        assert_eq!(percent_decode("%41", false), b"A");
        assert_eq!(percent_decode("/a%2Fb%2fc", false), b"/a/b/c");
        assert_eq!(percent_decode("/a%2Fb%41", true), b"/a%2FbA");
        assert!(has_encoded_slash("/a%2fb") && has_encoded_slash("/a%2Fb"));
        assert!(!has_encoded_slash("/a%20b/%2"));
    }
}
