//! Routing: the request path, %-decoded and with runs of `/` collapsed
//! (as mod_wsgi makes SCRIPT_NAME and PATH_INFO), goes to the first
//! `Alias` whose prefix matches it at a segment boundary (mod_alias
//! translates before mod_wsgi), else to the first matching WSGI mount,
//! else 404.

use std::net::SocketAddr;

use http::Request;
use hyper::body::Incoming;

use super::environ::prepare;
use super::error::FrontError;
use super::proxy::forward;
use super::static_files::static_file;
use super::{FrontEnd, Resp};

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

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
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
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Result<Resp, FrontError> {
    // Everything borrowed from the request ends with this block, before
    // the daemon is awaited (see `prepare`).
    let (mount, head_bytes, body) = {
        // Most paths need neither %-decoding nor collapsing: borrow them
        // (from a clone of the URI, which shares its bytes: `req` moves on).
        let uri = req.uri().clone();
        let raw_path = uri.path();
        let decoded: std::borrow::Cow<'_, [u8]> =
            if raw_path.contains('%') || raw_path.contains("//") {
                std::borrow::Cow::Owned(collapse_slashes(&percent_decode(raw_path)))
            } else {
                std::borrow::Cow::Borrowed(raw_path.as_bytes())
            };
        if decoded.first() != Some(&b'/') {
            return Err(FrontError::bad_request());
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
    fn paths_are_decoded_and_collapsed() {
        assert_eq!(collapse_slashes(&percent_decode("//a%20b///c")), b"/a b/c");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%41"), b"A");
    }
}
