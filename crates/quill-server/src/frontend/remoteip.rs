//! mod_remoteip and mod_setenvif in the front end: once the server that answers a request
//! is known, its `RemoteIPHeader` gives the client's address
//! (`quill_config::remoteip` decides), which the rest of the request
//! sees as its peer's (REMOTE_ADDR, `Require ip`, the error log's
//! `[client …]`); REMOTE_PORT stays the connection's, as in httpd. The
//! entries taken leave the header, and `RemoteIPProxiesHeader` lists the
//! external proxies passed. Then its SetEnvIf lines set the request's
//! environment ([`RequestEnv`], which the environ and the access log
//! read).

use std::net::SocketAddr;

use http::Request;
use http::header::{HeaderName, HeaderValue};
use quill_config::remoteip::RemoteIp;

use super::route::Ends;
use crate::log::{ErrorLog, Level};

/// The headers mod_remoteip rewrote: each one's new value, or `None`
/// when it was removed (what `%{…}i` writes afterwards, as in httpd).
pub(super) type Rewritten = Vec<(HeaderName, Option<String>)>;

/// `ends` with the client's address in place of the peer's when `cfg`
/// applies to `req` (whose headers it rewrites, as it returns).
pub(super) fn apply<B>(
    cfg: &RemoteIp,
    req: &mut Request<B>,
    ends: Ends,
    log: &ErrorLog,
) -> (Ends, Rewritten) {
    let Some(name) = cfg
        .header
        .as_deref()
        .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok())
    else {
        return (ends, Vec::new());
    };
    // httpd merges a repeated header into one value, comma-separated.
    let values: Vec<&str> = req
        .headers()
        .get_all(&name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return (ends, Vec::new());
    }
    let Some(outcome) = cfg.apply(ends.peer.ip(), &values.join(", ")) else {
        return (ends, Vec::new());
    };
    let mut rewritten = Vec::new();
    let headers = req.headers_mut();
    headers.remove(&name);
    let rest = outcome
        .header
        .as_deref()
        .and_then(|r| HeaderValue::from_str(r).ok());
    rewritten.push((
        name.clone(),
        outcome.header.clone().filter(|_| rest.is_some()),
    ));
    if let Some(rest) = rest {
        headers.insert(name, rest);
    }
    let proxies: Vec<String> = outcome.proxies.iter().map(ToString::to_string).collect();
    if let (Some(h), false) = (cfg.proxies_header.as_deref(), proxies.is_empty()) {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(h.as_bytes()),
            HeaderValue::from_str(&proxies.join(", ")),
        ) {
            rewritten.push((n.clone(), Some(proxies.join(", "))));
            req.headers_mut().insert(n, v);
        }
    }
    if log.enabled_for(Level::Trace1, "remoteip") {
        let msg = if proxies.is_empty() {
            format!(
                "Using {} as client's IP by internal proxies",
                outcome.client
            )
        } else {
            format!(
                "Using {} as client's IP by proxies {}",
                outcome.client,
                proxies.join(", ")
            )
        };
        log.log(Level::Trace1, "remoteip", &msg);
    }
    let ends = Ends {
        peer: SocketAddr::new(outcome.client, ends.peer.port()),
        ..ends
    };
    (ends, rewritten)
}

/// The request's environment variables (mod_setenvif's), in the
/// request's extensions for the WSGI environ.
#[derive(Debug, Clone, Default)]
pub struct RequestEnv(pub Vec<(String, String)>);

/// What SetEnvIf sees of a request.
struct Attrs<'a, B> {
    req: &'a Request<B>,
    ends: Ends,
}

impl<B> quill_config::setenvif::Attributes for Attrs<'_, B> {
    fn remote_addr(&self) -> String {
        self.ends.peer.ip().to_string()
    }
    fn server_addr(&self) -> String {
        self.ends.local.ip().to_string()
    }
    fn method(&self) -> &str {
        self.req.method().as_str()
    }
    fn protocol(&self) -> &str {
        super::version_str(self.req.version())
    }
    fn uri(&self) -> &str {
        self.req.uri().path()
    }
    fn header(&self, name: &str) -> Option<String> {
        let values: Vec<String> = self
            .req
            .headers()
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }
}

/// Applies `rules` (a server's SetEnvIf lines) to `req`, arrived at
/// `ends` (mod_remoteip's client in it): the variables are put in the
/// request's extensions and returned.
pub(super) fn set_env<B>(
    rules: &quill_config::setenvif::Compiled,
    req: &mut Request<B>,
    ends: Ends,
) -> Vec<(String, String)> {
    if rules.is_empty() {
        return Vec::new();
    }
    let env = rules.evaluate(&Attrs { req, ends });
    if !env.is_empty() {
        req.extensions_mut().insert(RequestEnv(env.clone()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use quill_config::remoteip::{IpNet, ProxyMatch};

    fn ends() -> Ends {
        Ends {
            peer: "127.0.0.1:40000".parse().expect("peer"),
            local: "127.0.0.1:80".parse().expect("local"),
            listener: 0,
        }
    }

    fn cfg(trusted: &str) -> RemoteIp {
        RemoteIp {
            header: Some("X-Forwarded-For".into()),
            proxies_header: Some("X-Forwarded-By".into()),
            proxies: vec![ProxyMatch {
                net: IpNet::parse(trusted).expect("net"),
                internal: false,
            }],
        }
    }

    fn req(xff: &[&str]) -> Request<()> {
        let mut b = Request::builder().uri("/");
        for v in xff {
            b = b.header("x-forwarded-for", *v);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn a_trusted_peer_rewrites_the_peer_address_and_the_header() {
        let log = ErrorLog::new(Level::Warn, Box::new(std::io::sink()));
        let mut r = req(&["198.51.100.4", "203.0.113.7"]);
        let (e, rewritten) = apply(&cfg("127.0.0.1"), &mut r, ends(), &log);
        assert_eq!(e.peer, "203.0.113.7:40000".parse().expect("addr"));
        assert_eq!(rewritten.len(), 2, "{rewritten:?}");
        assert_eq!(
            r.headers().get("x-forwarded-for").map(|v| v.as_bytes()),
            Some(&b"198.51.100.4"[..])
        );
        assert_eq!(
            r.headers().get("x-forwarded-by").map(|v| v.as_bytes()),
            Some(&b"127.0.0.1"[..])
        );
    }

    #[test]
    fn an_untrusted_peer_changes_nothing() {
        let log = ErrorLog::new(Level::Warn, Box::new(std::io::sink()));
        let mut r = req(&["203.0.113.7"]);
        let (e, rewritten) = apply(&cfg("10.0.0.1"), &mut r, ends(), &log);
        assert_eq!(e.peer, ends().peer);
        assert!(rewritten.is_empty());
        assert!(r.headers().contains_key("x-forwarded-for"));
        assert!(!r.headers().contains_key("x-forwarded-by"));
    }
}
