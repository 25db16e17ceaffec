//! Routing. First httpd's checks of the request: an HTTP/1.1 request needs
//! one valid Host field (400 otherwise, RFC 9112 §3.2), and an
//! absolute-form target's authority replaces it (§3.2.2). Then the request
//! path (as httpd's ap_unescape_url: 400 for a `%` not followed by two
//! hexadecimal digits, 404 for a `%00` or, under `AllowEncodedSlashes
//! Off`, httpd's default, a `%2F`), %-decoded, with runs of `/` collapsed (as mod_wsgi makes
//! SCRIPT_NAME and PATH_INFO) and its `.` and `..` segments removed (as
//! httpd's ap_normalize_path; 400 for a `..` above the root, so that no
//! `Alias` or mount can be escaped), goes to the first `Alias` whose prefix
//! matches it at a segment boundary (mod_alias translates before mod_wsgi),
//! else to the first matching WSGI mount, else 404; a `<Location>` with
//! `SetHandler server-status` or `quill-metrics` comes before all of them. `OPTIONS *` is
//! answered 200, as httpd's core does.
//!
//! [`route_request`] decides all of that and, for a WSGI mount, encodes the
//! `Head` frame with the environ (`environ`): it reads no clock and touches
//! no socket, so the fuzz target `fuzz/fuzz_targets/request.rs` and the
//! unit tests call the very function the server calls. [`route`] is the
//! server's half: it answers what `route_request` decided (a status page,
//! a file, the daemon's response, an error page).

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, Version};
use hyper::body::{Body, Incoming};
use quill_config::model::Require;
use quill_config::resolve::core::select_vhost;

use super::body::ConnState;
use super::environ::{Stamps, prepare};
use super::error::{Client, FrontError};
use super::proxy::forward;
use super::static_files::static_file;
use super::status::Handlers;
use super::{ConnRules, ConnTls, FrontEnd, Resp, RespBody, epoch_us};
use crate::log::{ErrorLog, Level};
use crate::plan::{EncodedSlashes, Mount, StaticAlias};

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

/// Why a path's %-escapes are refused (httpd's ap_unescape_url).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unescape {
    /// A `%` not followed by two hexadecimal digits: 400.
    BadEscape,
    /// A `%00`, or a `%2F` under `AllowEncodedSlashes Off`: 404.
    BadPath,
}

/// %-decodes a request path as httpd does: `%2F` stays as it is under
/// `AllowEncodedSlashes NoDecode`; a bad escape anywhere is a 400, else a
/// `%00` or (under `Off`) a `%2F` is a 404.
fn percent_decode(s: &str, slashes: EncodedSlashes) -> Result<Vec<u8>, Unescape> {
    let b = s.as_bytes();
    let hex = |i: usize| b.get(i).and_then(|&c| (c as char).to_digit(16));
    let mut out = Vec::with_capacity(b.len());
    let (mut bad_escape, mut bad_path) = (false, false);
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) else {
            bad_escape = true;
            out.push(b'%');
            i += 1;
            continue;
        };
        let c = (h * 16 + l) as u8;
        match (c, slashes) {
            (b'/', EncodedSlashes::NoDecode) => out.extend_from_slice(&b[i..i + 3]),
            (b'/', EncodedSlashes::Off) | (0, _) => bad_path = true,
            _ => out.push(c),
        }
        i += 3;
    }
    match (bad_escape, bad_path) {
        (true, _) => Err(Unescape::BadEscape),
        (false, true) => Err(Unescape::BadPath),
        (false, false) => Ok(out),
    }
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
fn check_host<B>(req: &mut Request<B>, remote: Client, log: &ErrorLog) -> Result<(), FrontError> {
    // HTTP/2 names the host in `:authority` (the URI's), which mod_http2
    // makes the Host field when the client sent none.
    if req.version() == Version::HTTP_2 && !req.headers().contains_key(header::HOST) {
        let authority = req.uri().authority().map(|a| a.as_str().to_string());
        if let Some(v) = authority.and_then(|a| HeaderValue::from_str(&a).ok()) {
            req.headers_mut().insert(header::HOST, v);
        }
        return Ok(());
    }
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

/// What routing and the environ take from one server's configuration
/// (the main server's or a virtual host's): plain data (no sockets, no
/// processes), the same in every front-end child.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// `ServerName`: SERVER_NAME when the request has no Host.
    pub server_name: String,
    pub document_root: PathBuf,
    /// `WSGIScriptAlias` mounts, in configuration order.
    pub mounts: Vec<Mount>,
    /// Each mount's environ pairs that every request to it has, encoded
    /// once (`environ::mount_blocks`); empty: each pair is written per
    /// request.
    pub environ_blocks: Vec<super::environ::MountBlocks>,
    /// `Alias`es, in configuration order.
    pub aliases: Vec<StaticAlias>,
    /// The daemon groups' names, indexed by [`Mount::group`].
    pub groups: Vec<String>,
    pub encoded_slashes: EncodedSlashes,
    /// `LimitRequestBody` (0: no limit).
    pub limit_request_body: u64,
    /// `KeepAlive On`: a request this server answers may leave its
    /// connection open (the time is the connection's: see `ConnRules`).
    /// `KeepAliveTimeout` after this server's responses (`None`:
    /// `KeepAlive Off`, the connection closes after the response).
    pub keep_alive: Option<std::time::Duration>,
    /// `MaxKeepAliveRequests` (0: unlimited).
    pub max_keep_alive_requests: u32,
    /// `Timeout`, once this server is chosen: for the body and the
    /// response (the head was read with the connection's default server's).
    pub timeout: std::time::Duration,
    /// mod_reqtimeout's body stage, as this server sets it.
    pub body_stage: Option<crate::plan::ReadStage>,
    /// `<Location>`s with `SetHandler server-status` (none: no status page).
    pub status: Handlers,
    /// `<Location>`s with `SetHandler quill-metrics`.
    pub metrics: Handlers,
}

/// Every server a front end answers for, and how each listening socket's
/// connections choose among them (the configuration's
/// [`Routing`](quill_config::model::Routing), decided by
/// `quill_config::resolve::core::select_vhost`).
#[derive(Debug, Clone)]
pub struct Sites {
    /// The main server, then virtual host #i at `1 + i`.
    pub servers: Vec<RouteTable>,
    /// Per listening socket, by its index: its routing (`None`: the main
    /// server answers all its requests).
    pub listeners: Vec<Option<quill_config::model::Routing>>,
}

impl Sites {
    /// One server answering every request.
    pub fn single(table: RouteTable) -> Sites {
        Sites {
            servers: vec![table],
            listeners: Vec::new(),
        }
    }

    /// The index in `servers` of the server that answers `host` (the Host
    /// header, or later the SNI name; `None`: none) on a connection that
    /// `listener` accepted at `local`.
    pub fn select(&self, listener: usize, local: IpAddr, host: Option<&str>) -> usize {
        let routing = self.listeners.get(listener).and_then(Option::as_ref);
        let vhost = routing.and_then(|r| select_vhost(r, Some(local), host));
        match vhost {
            Some(i) if i + 1 < self.servers.len() => i + 1,
            _ => 0,
        }
    }

    /// The server a connection starts with (httpd's base server: the
    /// default of the address and port it arrived at), whose settings read
    /// its request heads.
    pub fn base(&self, listener: usize, local: IpAddr) -> usize {
        self.select(listener, local, None)
    }

    /// The index of `table`, one of [`Sites::servers`] (0 for another).
    pub fn index_of(&self, table: &RouteTable) -> usize {
        self.servers
            .iter()
            .position(|t| std::ptr::eq(t, table))
            .unwrap_or(0)
    }

    fn server(&self, i: usize) -> Option<&RouteTable> {
        self.servers.get(i).or_else(|| self.servers.first())
    }
}

/// The two ends of the client's connection, and the listening socket that
/// accepted it (its index in the plan's `listen`).
#[derive(Debug, Clone, Copy)]
pub struct Ends {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub listener: usize,
}

/// Where a request goes, as [`route_request`] decided. Every path here is
/// %-decoded (but for a `%2F` under `AllowEncodedSlashes NoDecode`),
/// collapsed and without `.` or `..` segments.
#[derive(Debug)]
pub enum Routed<'t, B> {
    /// `OPTIONS *`: 200 with an empty body (httpd's core).
    ServerOptions,
    /// Under a `SetHandler quill-metrics` `<Location>` (its Require lines)
    /// of server `site`.
    Metrics {
        site: &'t RouteTable,
        access: &'t [Require],
        path: Vec<u8>,
        req: Request<B>,
    },
    /// Under a `SetHandler server-status` `<Location>`.
    Status {
        site: &'t RouteTable,
        access: &'t [Require],
        path: Vec<u8>,
        req: Request<B>,
    },
    /// A file of an `Alias`: `path` starts with the alias' URL.
    Alias {
        site: &'t RouteTable,
        alias: &'t StaticAlias,
        path: Vec<u8>,
        req: Request<B>,
    },
    /// A WSGI mount: the encoded `Head` frame (its environ holds
    /// SCRIPT_NAME, the mount's URL, and PATH_INFO, the rest of the path)
    /// and the body still to be streamed to the daemon.
    Wsgi {
        site: &'t RouteTable,
        mount: &'t Mount,
        head: BytesMut,
        body: B,
    },
}

/// The server that answers `req` (see [`Sites::select`]), once its Host
/// passed httpd's checks (an absolute-form target's authority replacing
/// it). `log` gets only httpd's debug line for that replacement.
pub fn select_site<'t, B>(
    req: &mut Request<B>,
    sites: &'t Sites,
    ends: Ends,
    log: &ErrorLog,
) -> Result<&'t RouteTable, FrontError> {
    check_host(req, Client(ends.peer), log)?;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let i = sites.select(ends.listener, ends.local.ip(), host);
    sites.server(i).ok_or_else(FrontError::not_found)
}

/// Decides which server answers `req` and where in it the request goes
/// (see the module doc) and, for a WSGI mount, runs mod_wsgi's checks of
/// the body's framing and size and encodes the `Head` frame with the
/// environ, taking the time and request id from `stamps` (called only
/// then). A refused request is the error: its status, page and log line.
/// `log` gets only httpd's debug line for an absolute-form target
/// replacing Host.
pub fn route_request<'t, B: Body>(
    mut req: Request<B>,
    sites: &'t Sites,
    ends: Ends,
    stamps: impl FnOnce() -> Stamps,
    log: &ErrorLog,
) -> Result<Routed<'t, B>, FrontError> {
    let table = select_site(&mut req, sites, ends, log)?;
    route_in(req, table, ends, stamps)
}

/// [`route_request`] once the server is chosen.
fn route_in<'t, B: Body>(
    req: Request<B>,
    table: &'t RouteTable,
    ends: Ends,
    stamps: impl FnOnce() -> Stamps,
) -> Result<Routed<'t, B>, FrontError> {
    let remote = Client(ends.peer);
    if req.method() == Method::OPTIONS && req.uri().path() == "*" {
        return Ok(Routed::ServerOptions);
    }
    // Most paths need neither %-decoding nor collapsing: borrow them (from
    // a clone of the URI, which shares its bytes: `req` moves on).
    let uri = req.uri().clone();
    let raw_path = uri.path();
    let decoded: Cow<'_, [u8]> = if raw_path.contains('%') || raw_path.contains("//") {
        match percent_decode(raw_path, table.encoded_slashes) {
            Ok(p) => Cow::Owned(collapse_slashes(&p)),
            Err(Unescape::BadEscape) => return Err(FrontError::bad_escape()),
            Err(Unescape::BadPath) => {
                let logged = table.encoded_slashes == EncodedSlashes::Off;
                return Err(FrontError::encoded_slash(remote, raw_path, logged));
            }
        }
    } else {
        Cow::Borrowed(raw_path.as_bytes())
    };
    if decoded.first() != Some(&b'/') {
        return Err(FrontError::bad_request());
    }
    let decoded = if has_dot_segment(&decoded) {
        match remove_dot_segments(&decoded) {
            Some(p) => Cow::Owned(p),
            None => return Err(FrontError::invalid_path(remote, raw_path)),
        }
    } else {
        decoded
    };
    // mod_status's and the metrics' <Location>s, whatever else maps the
    // URL.
    let site = table;
    if let Some(access) = super::status::handler_for(&table.metrics, &decoded) {
        let path = decoded.into_owned();
        return Ok(Routed::Metrics {
            site,
            access,
            path,
            req,
        });
    }
    if let Some(access) = super::status::handler_for(&table.status, &decoded) {
        let path = decoded.into_owned();
        return Ok(Routed::Status {
            site,
            access,
            path,
            req,
        });
    }
    // Alias first: mod_alias translates before mod_wsgi.
    if let Some(alias) = table
        .aliases
        .iter()
        .find(|a| prefix_matches(&a.url, &decoded))
    {
        let path = decoded.into_owned();
        return Ok(Routed::Alias {
            site,
            alias,
            path,
            req,
        });
    }
    let Some(mount) = table
        .mounts
        .iter()
        .find(|m| prefix_matches(&m.url, &decoded))
    else {
        return Err(FrontError::not_found());
    };
    let path_info = &decoded[mount.url.len()..];
    let (head, body) = prepare(table, mount, req, ends, path_info, stamps)?;
    // mod_wsgi's visibility rule comes after its checks of the body.
    if !mount.group_visible {
        let group = mount
            .group
            .and_then(|g| table.groups.get(g))
            .map_or("", String::as_str);
        return Err(FrontError::group_not_visible(remote, group, mount));
    }
    Ok(Routed::Wsgi {
        site,
        mount,
        head,
        body,
    })
}

/// A request id unique in this server's life: the front end's pid and a
/// counter, in hexadecimal (`3f2a-1c`).
fn request_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    // The pid, read once: getpid is a system call (glibc does not cache it).
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    hex_pair(u64::from(*PID.get_or_init(std::process::id)), n)
}

/// `format!("{a:x}-{b:x}")`, without the formatting machinery (a few
/// hundred instructions a request).
fn hex_pair(a: u64, b: u64) -> String {
    fn push_hex(s: &mut String, n: u64) {
        let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            let d = ((n >> (4 * i)) & 0xf) as u8;
            s.push(char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 }));
        }
    }
    let mut s = String::with_capacity(33);
    push_hex(&mut s, a);
    s.push('-');
    push_hex(&mut s, b);
    s
}

/// Which server answered a request, and the client's address (the peer's,
/// or mod_remoteip's): what its access-log line needs.
#[derive(Debug, Clone)]
pub(super) struct Served {
    /// Its index in [`Sites::servers`].
    pub(super) site: usize,
    pub(super) client: IpAddr,
    /// The request headers mod_remoteip rewrote.
    pub(super) rewritten: super::remoteip::Rewritten,
    /// Its environment variables (SetEnvIf).
    pub(super) env: Vec<(String, String)>,
}

impl Served {
    pub(super) fn at(site: usize, peer: SocketAddr) -> Served {
        Served {
            site,
            client: peer.ip(),
            rewritten: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// The response to a request: a static file, a daemon's, or an error
/// page (its error-log line written to the error log of the server that
/// answers). Once the server is chosen, its mod_remoteip settings give
/// the client's address and its SetEnvIf lines the request's
/// environment. It also decides whether the connection stays open after
/// the response, as httpd's ap_set_keepalive does: `KeepAlive Off`, or the connection's request
/// number above its `MaxKeepAliveRequests`, closes it; else it waits for
/// the next request for that server's `KeepAliveTimeout`. (A request no
/// server is selected for goes by the connection's default server.)
pub(super) async fn route(
    fe: &FrontEnd,
    mut req: Request<Incoming>,
    ends: Ends,
    rules: &ConnRules,
    conn: &ConnState,
) -> (Resp, Served) {
    let site = match select_site(&mut req, &fe.sites, ends, &fe.error_log) {
        Ok(site) => site,
        Err(e) => {
            let mut resp = e.respond(&fe.error_log);
            conn.set_keep_alive(rules.keep_alive);
            if rules.keep_alive.is_none() {
                close(&mut resp);
            }
            return (resp, Served::at(0, ends.peer));
        }
    };
    let index = fe.sites.index_of(site);
    let (ends, rewritten, env) = match fe.logs.get(index) {
        Some(l) => {
            let (ends, rewritten) = super::remoteip::apply(&l.remote_ip, &mut req, ends, &l.error);
            let env = super::remoteip::set_env(&l.set_env, &mut req, ends);
            (ends, rewritten, env)
        }
        None => (ends, Vec::new(), Vec::new()),
    };
    let served = Served {
        rewritten,
        env,
        ..Served::at(index, ends.peer)
    };
    let keep = site.keep_alive.filter(|_| {
        let max = u64::from(site.max_keep_alive_requests);
        max == 0 || conn.requests() <= max
    });
    conn.set_keep_alive(keep);
    conn.set_timeout(site.timeout);
    if req.extensions().get::<ConnTls>().is_some() {
        if let Err(e) = on_tls(fe, &mut req, ends) {
            let mut resp = e.respond(fe.site_error_log(index));
            if keep.is_none() {
                close(&mut resp);
            }
            return (resp, served);
        }
    }
    let mut resp = match dispatch(fe, req, site, ends).await {
        Ok(r) => r,
        Err(e) => e.respond(fe.site_error_log(index)),
    };
    if keep.is_none() {
        close(&mut resp);
    }
    (resp, served)
}

fn close(resp: &mut Resp) {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// A request on a TLS connection: mod_ssl's check that its server's TLS
/// is the connection's (421 otherwise), and that server's environ
/// settings (`SSLOptions +StdEnvVars`, its certificate's variables).
fn on_tls(fe: &FrontEnd, req: &mut Request<Incoming>, ends: Ends) -> Result<(), FrontError> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let server = fe
        .sites
        .select(ends.listener, ends.local.ip(), host.as_deref());
    let Some(conn) = req.extensions_mut().get_mut::<ConnTls>() else {
        return Ok(());
    };
    super::tls::misdirected(
        &fe.tls,
        conn,
        server,
        host.as_deref(),
        &fe.sites,
        Client(ends.peer),
    )?;
    if let Some(site) = fe.tls.get(server) {
        conn.std_env_vars = site.plan.std_env_vars;
        conn.server_cert = site.server_cert.clone();
    }
    Ok(())
}

async fn dispatch(
    fe: &FrontEnd,
    req: Request<Incoming>,
    site: &RouteTable,
    ends: Ends,
) -> Result<Resp, FrontError> {
    let (peer, local) = (ends.peer, ends.local);
    let stamps = || Stamps {
        request_start: epoch_us(),
        // The request goes to its group from here (admission, then a
        // connection): mod_wsgi's "child started connecting to the
        // daemon".
        queue_start: epoch_us(),
        request_id: request_id(),
    };
    // Nothing borrowed from the request outlives this call but what it
    // returns (see `prepare`).
    match route_in(req, site, ends, stamps)? {
        Routed::ServerOptions => Ok(Response::new(RespBody::full(Bytes::new()))),
        Routed::Metrics {
            site,
            access,
            path,
            req,
        } => match &fe.metrics {
            Some(sb) => super::metrics::respond(fe, site, sb, access, &req, ends, &path),
            None => Err(FrontError::not_found()),
        },
        Routed::Status {
            site,
            access,
            path,
            req,
        } => match &fe.status {
            Some(page) => super::status::respond(site, page, access, &req, peer, local, &path),
            None => Err(FrontError::not_found()),
        },
        Routed::Alias {
            alias, path, req, ..
        } => static_file(&req, alias, &path[alias.url.len()..]).await,
        Routed::Wsgi {
            site,
            mount,
            head,
            body,
        } => Ok(match (mount.group, &fe.embedded) {
            (Some(_), _) => forward(fe, site, mount, peer, head, body).await,
            (None, Some(engine)) => {
                super::embedded::call(fe, engine, site, mount, peer, head, body).await
            }
            // (Without an engine: WSGIRestrictEmbedded On.)
            (None, None) => {
                FrontError::embedded_restricted(Client(peer), mount).respond(&fe.error_log)
            }
        }),
    }
}

/// The first thing wrong with an environ the front end built, if any:
/// a name that is not a CGI/WSGI name (letters, digits, `_` and `.`, not
/// starting with a digit), a name given twice, an `HTTP_` name with
/// other than upper-case letters, digits and `_`, or `HTTP_PROXY`
/// (httpoxy). For the tests and the request fuzz target.
pub fn environ_fault(environ: &quill_protocol::protocol::Pairs) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in environ.iter() {
        let name = || String::from_utf8_lossy(k);
        let cgi = !k.is_empty()
            && !k[0].is_ascii_digit()
            && k.iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        if !cgi {
            return Some(format!("environ name {:?}", name()));
        }
        if !seen.insert(k) {
            return Some(format!("{:?} twice", name()));
        }
        if let Some(rest) = k.strip_prefix(b"HTTP_") {
            if !rest
                .iter()
                .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            {
                return Some(format!("header name {:?}", name()));
            }
        }
        if k == b"HTTP_PROXY" {
            return Some("HTTP_PROXY (httpoxy)".into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::{Declared, parse_head};
    use quill_protocol::protocol::{Frame, RequestHead, decode};

    /// What the probe suite's configuration (crates/quill/tests/serve/probes.rs)
    /// routes by: /app mounted (chunked bodies on), /static aliased,
    /// LimitRequestBody 1000, AllowEncodedSlashes Off.
    fn probe_table() -> RouteTable {
        RouteTable {
            server_name: "localhost".into(),
            document_root: "/srv/htdocs".into(),
            mounts: vec![Mount {
                url: "/app".into(),
                script: "/srv/lifecycle.wsgi".into(),
                group: Some(0),
                application_group: String::new(),
                callable: "application".into(),
                pass_authorization: false,
                chunked_request: true,
                script_reloading: true,
                group_visible: true,
            }],
            // (Written pair by pair: `heads_are_the_same_with_blocks`.)
            environ_blocks: Vec::new(),
            aliases: vec![StaticAlias {
                url: "/static".into(),
                path: "/srv/docs/sub".into(),
            }],
            groups: vec!["app".into()],
            encoded_slashes: EncodedSlashes::Off,
            limit_request_body: 1000,
            keep_alive: Some(std::time::Duration::from_secs(5)),
            max_keep_alive_requests: 100,
            timeout: std::time::Duration::from_secs(60),
            body_stage: None,
            status: Vec::new(),
            metrics: Vec::new(),
        }
    }

    const ENDS: Ends = Ends {
        peer: SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000),
        local: SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 80),
        listener: 0,
    };

    fn stamps() -> Stamps {
        Stamps {
            request_start: 1,
            queue_start: 2,
            request_id: "0-1".into(),
        }
    }

    /// The request a whole, valid head makes.
    fn whole(bytes: &[u8]) -> Request<Declared> {
        parse_head(bytes, true, 8190, ENDS.peer)
            .expect("a head")
            .expect("whole")
    }

    /// The environ of a `Head` frame, checked: names are CGI/WSGI names
    /// and each comes once; SCRIPT_NAME is the mount's URL and PATH_INFO
    /// a normalised path under it.
    fn checked_environ(head: &[u8], mount: &Mount) -> RequestHead {
        let mut buf = BytesMut::from(head);
        let Ok(Some(Frame::Head(h))) = decode(&mut buf) else {
            panic!("not a Head frame: {head:?}");
        };
        assert!(buf.is_empty(), "one frame");
        if let Some(fault) = environ_fault(&h.environ) {
            panic!("{fault}");
        }
        assert_eq!(h.get("SCRIPT_NAME"), Some(mount.url.as_bytes()));
        let info = h.get("PATH_INFO").unwrap_or_default();
        assert!(info.is_empty() || info[0] == b'/', "PATH_INFO {info:?}");
        assert!(!has_dot_segment(info), "PATH_INFO {info:?}");
        assert!(!info.windows(2).any(|w| w == b"//"), "PATH_INFO {info:?}");
        h
    }

    /// What the front end makes of `bytes`, in a word or two.
    fn outcome(bytes: &[u8], sites: &Sites) -> String {
        let log = ErrorLog::new(Level::Debug, Box::new(std::io::sink()));
        let req = match parse_head(bytes, true, 8190, ENDS.peer) {
            Err(e) => return format!("{} (head)", e.status().as_u16()),
            Ok(None) => return "head not whole".into(),
            Ok(Some(req)) => req,
        };
        match route_request(req, sites, ENDS, stamps, &log) {
            Err(e) => format!("{}", e.status().as_u16()),
            Ok(Routed::ServerOptions) => "OPTIONS *".into(),
            Ok(Routed::Alias { alias, path, .. }) => {
                assert!(prefix_matches(&alias.url, &path) && !has_dot_segment(&path));
                format!("Alias {}", String::from_utf8_lossy(&path))
            }
            Ok(Routed::Status { path, .. } | Routed::Metrics { path, .. }) => {
                format!("status {}", String::from_utf8_lossy(&path))
            }
            Ok(Routed::Wsgi {
                mount, head, body, ..
            }) => {
                let h = checked_environ(&head, mount);
                let show = |k| String::from_utf8_lossy(h.get(k).unwrap_or(b"-")).into_owned();
                let fields: Vec<String> = h
                    .environ
                    .iter()
                    .filter(|(k, _)| k.starts_with(b"HTTP_") && &k[..] != b"HTTP_HOST")
                    .map(|(k, v)| {
                        format!(
                            "{}={}",
                            String::from_utf8_lossy(k),
                            String::from_utf8_lossy(v)
                        )
                    })
                    .collect();
                format!(
                    "WSGI {}+{} HTTP_HOST={} SERVER_NAME={} {fields:?} body={:?}",
                    show("SCRIPT_NAME"),
                    show("PATH_INFO"),
                    show("HTTP_HOST"),
                    show("SERVER_NAME"),
                    body.0
                )
            }
        }
    }

    /// Requests beyond the probe suite's, for the WSGI mount.
    const MORE: &[(&str, &str)] = &[
        (
            "WSGI, dot segments",
            "GET /app/a/./b/../c HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        (
            "WSGI, %2e%2e out of the mount",
            "GET /app/%2e%2e/static/f.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        (
            "WSGI, slashes collapsed",
            "GET /app//a///b HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        (
            "WSGI, absolute form",
            "GET http://other.example:8080/app/x HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        (
            "WSGI, fields",
            "GET /app HTTP/1.1\r\nHost: x\r\nProxy: evil\r\nX_Under: 1\r\nX-1: a\r\nX-1: b\r\n\r\n",
        ),
        (
            "WSGI, Content-Length over LimitRequestBody",
            "POST /app HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
        ),
        (
            "WSGI, gzip transfer coding",
            "POST /app HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        ),
        (
            "an /apple is not under /app",
            "GET /apple HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
    ];

    /// Every probe of tests/data/httpd/probes/httpd.json through the
    /// server's own `route_request` (its parse as `parse_head` makes it):
    /// where the front end refuses a request before any handler, it is
    /// with httpd's status; what it routes is snapshotted, with the
    /// environ's rules checked (`checked_environ`).
    #[test]
    fn the_probes_route_as_the_server_routes_them() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/httpd/probes/httpd.json");
        let recorded: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&data).expect("recorded probes"))
                .expect("json");
        let table = Sites::single(probe_table());
        let mut lines = Vec::new();
        for probe in recorded["probes"].as_array().expect("probes") {
            let name = probe["name"].as_str().expect("name");
            let request = probe["request"].as_str().expect("request");
            let httpd = probe["status"].as_u64();
            let got = outcome(request.as_bytes(), &table);
            if let Ok(code) = got.split(' ').next().unwrap_or("").parse::<u64>() {
                assert_eq!(Some(code), httpd, "{name}: refused otherwise than httpd");
            }
            let httpd = httpd.map_or("none".to_string(), |c| c.to_string());
            lines.push(format!("{name}: httpd {httpd}; {got}"));
        }
        for (name, request) in MORE {
            lines.push(format!("{name}: {}", outcome(request.as_bytes(), &table)));
        }
        assert!(lines.len() > 30, "the probes were read");
        insta::assert_snapshot!(lines.join("\n"));
    }

    proptest::proptest! {
        #[test]
        fn request_ids_are_written_as_format_writes_them(a: u64, b: u64) {
            proptest::prop_assert_eq!(hex_pair(a, b), format!("{a:x}-{b:x}"));
        }
    }

    #[test]
    fn request_ids_at_the_edges() {
        for (a, b) in [(0, 0), (1, 15), (16, u64::MAX), (0xabc, 0x1000)] {
            assert_eq!(hex_pair(a, b), format!("{a:x}-{b:x}"));
        }
    }

    /// A `Head` frame is written into a buffer sized for it up front
    /// (`head_capacity`), for a bare request and for a browser's, with
    /// its cookie, and for the request id and times at their longest.
    #[test]
    fn a_heads_buffer_is_sized_for_it_up_front() {
        let sites = Sites::single(probe_table());
        let log = ErrorLog::new(Level::Debug, Box::new(std::io::sink()));
        let cookie = "c".repeat(900);
        let browser = format!(
            "GET /app/some/page?q=search+terms&page=2 HTTP/1.1\r\nHost: www.example.com\r\n\
             User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
             Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
             Accept-Language: en-GB,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\
             Referer: https://www.example.com/app/some/other/page\r\nConnection: keep-alive\r\n\
             Cookie: {cookie}\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\n\
             Sec-Fetch-Mode: navigate\r\nSec-Fetch-Site: same-origin\r\nPriority: u=0, i\r\n\r\n"
        );
        let longest = || Stamps {
            request_start: u64::MAX,
            queue_start: u64::MAX,
            request_id: format!("{}-{}", u64::MAX, u64::MAX),
        };
        for bytes in ["GET /app HTTP/1.1\r\nHost: x\r\n\r\n", browser.as_str()] {
            let req = whole(bytes.as_bytes());
            let room = super::super::environ::head_capacity(&req);
            let Ok(Routed::Wsgi { head, .. }) = route_request(req, &sites, ENDS, longest, &log)
            else {
                panic!("not routed to the application: {bytes}");
            };
            assert!(
                head.len() <= room,
                "{} bytes of head in {room} bytes of room",
                head.len()
            );
        }
    }

    /// A mount's pairs encoded once (`environ::mount_blocks`) give the
    /// same `Head` frame as the pairs written one by one, for a daemon
    /// mount and an embedded one.
    #[test]
    fn heads_are_the_same_with_blocks() {
        let log = ErrorLog::new(Level::Debug, Box::new(std::io::sink()));
        for embedded in [false, true] {
            let mut table = probe_table();
            if embedded {
                table.mounts[0].group = None;
                table.mounts[0].application_group = "app|/app".into();
                table.mounts[0].script_reloading = false;
            }
            let mut blocks = table.clone();
            blocks.environ_blocks = super::super::environ::mount_blocks(
                &blocks.mounts,
                &blocks.groups,
                &blocks.document_root,
            );
            assert_eq!(blocks.environ_blocks.len(), 1);
            let head = |table: &RouteTable| {
                let req = whole(b"GET /app/x HTTP/1.1\r\nHost: h\r\n\r\n");
                let Ok(Routed::Wsgi { head, .. }) =
                    route_request(req, &Sites::single(table.clone()), ENDS, stamps, &log)
                else {
                    panic!("not routed to the application");
                };
                head
            };
            let (one_by_one, with_blocks) = (head(&table), head(&blocks));
            assert_eq!(one_by_one, with_blocks, "embedded: {embedded}");
            let Ok(Some(Frame::Head(h))) = decode(&mut one_by_one.clone()) else {
                panic!("not a head");
            };
            let group: &[u8] = if embedded { b"" } else { b"app" };
            assert_eq!(h.get("mod_wsgi.process_group"), Some(group));
            assert_eq!(h.get("SCRIPT_FILENAME"), Some(&b"/srv/lifecycle.wsgi"[..]));
        }
    }

    #[test]
    fn the_listener_and_host_choose_the_server_and_so_its_mounts() {
        use quill_config::model::Routing;
        let main = probe_table();
        let mut a = probe_table();
        a.server_name = "a.example".into();
        let mut b = probe_table();
        b.server_name = "b.example".into();
        b.aliases.clear();
        b.mounts[0].url = "/b".into();
        b.mounts[0].group_visible = false;
        let routing = Routing {
            listener: "*:80".into(),
            default_vhost: Some(0),
            names: vec![("a.example".into(), 0), ("*.b.example".into(), 1)],
            by_address: Vec::new(),
        };
        // Listener 0 has the virtual hosts; listener 1 none (main server).
        let sites = Sites {
            servers: vec![main, a, b],
            listeners: vec![Some(routing), None],
        };
        let on = |listener: usize, host: &str, path: &str| {
            let log = ErrorLog::new(Level::Debug, Box::new(std::io::sink()));
            let bytes = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let req = whole(bytes.as_bytes());
            let ends = Ends { listener, ..ENDS };
            match route_request(req, &sites, ends, stamps, &log) {
                Ok(Routed::Alias { site, .. } | Routed::Wsgi { site, .. }) => {
                    Ok(site.server_name.clone())
                }
                Ok(_) => Ok("other".into()),
                Err(e) => Err((
                    e.status().as_u16(),
                    e.log_line().map(|(_, m, l)| format!("{m}: {l}")),
                )),
            }
        };
        assert_eq!(on(0, "a.example", "/static/f"), Ok("a.example".into()));
        assert_eq!(on(0, "unknown", "/app"), Ok("a.example".into()));
        assert_eq!(on(0, "x.b.example", "/static/f"), Err((404, None)));
        assert_eq!(on(1, "x.b.example", "/app"), Ok("localhost".into()));
        assert_eq!(
            on(0, "x.b.example", "/b"),
            Err((
                500,
                Some(
                    "wsgi: [client 127.0.0.1:40000] Daemon process called 'app' cannot be \
                     accessed by this WSGI application: /srv/lifecycle.wsgi"
                        .into()
                )
            ))
        );
        // A listener beyond those known: the main server.
        assert_eq!(on(7, "a.example", "/app"), Ok("localhost".into()));
    }

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
        use EncodedSlashes::{NoDecode, Off, On};
        let dec =
            |p: &str, s| percent_decode(p, s).map(|v| String::from_utf8_lossy(&v).into_owned());
        assert_eq!(
            collapse_slashes(&percent_decode("//a%20b///c", Off).unwrap()),
            b"/a b/c"
        );
        assert_eq!(dec("%41", Off).as_deref(), Ok("A"));
        assert_eq!(dec("/a%2Fb%2fc", On).as_deref(), Ok("/a/b/c"));
        assert_eq!(dec("/a%2Fb%41", NoDecode).as_deref(), Ok("/a%2FbA"));
        assert_eq!(dec("/a%2fb", Off), Err(Unescape::BadPath));
        // httpd's ap_unescape_url: %00 is refused whatever AllowEncodedSlashes
        // says; a bad escape is a 400 even beside a %2F or %00.
        assert_eq!(dec("/a%00", NoDecode), Err(Unescape::BadPath));
        assert_eq!(dec("/a%zz", On), Err(Unescape::BadEscape));
        assert_eq!(dec("/a%4", On), Err(Unescape::BadEscape));
        assert_eq!(dec("/a%2F%zz", Off), Err(Unescape::BadEscape));
        assert_eq!(dec("/a%00%g0", Off), Err(Unescape::BadEscape));
    }
}
