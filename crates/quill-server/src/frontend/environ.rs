//! What a WSGI request sends its daemon: mod_wsgi's checks of the request
//! body's framing and size, then the `Head` frame with the CGI/WSGI
//! environ (docs/protocol.md "Environ"), written without allocating where
//! it can (`Dec`, `IpText`). Pure: the time and the request id come in as
//! [`Stamps`].

use bytes::BytesMut;
use http::Request;
use http::header;
use hyper::body::Body;

use super::error::{Client, FrontError};
use super::route::{Ends, RouteTable};
use super::version_str;
use crate::plan::Mount;
use crate::protocol::{HeadEncoder, PairsBlock, VERSION};

/// What the environ takes from outside the request.
#[derive(Debug, Clone)]
pub struct Stamps {
    /// When the request started, in µs since the epoch
    /// (`mod_wsgi.request_start`).
    pub request_start: u64,
    /// When it started going to its group (`mod_wsgi.queue_start`).
    pub queue_start: u64,
    /// `mod_wsgi.request_id`.
    pub request_id: String,
}

/// Facts about one request that are not in the `Request` itself.
struct RequestCtx<'a> {
    ends: Ends,
    path_info: &'a [u8],
    stamps: Stamps,
    chunked: bool,
}

/// Decimal digits of `n`, without allocating.
struct Dec([u8; 20], usize);

/// "00" to "99": `Dec` writes two digits per division.
const TWO_DIGITS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

impl Dec {
    fn new(mut n: u64) -> Dec {
        let mut b = [0u8; 20];
        let mut i = b.len();
        while n >= 100 {
            let d = (n % 100) as usize * 2;
            n /= 100;
            i -= 2;
            b[i..i + 2].copy_from_slice(&TWO_DIGITS[d..d + 2]);
        }
        if n >= 10 {
            let d = n as usize * 2;
            i -= 2;
            b[i..i + 2].copy_from_slice(&TWO_DIGITS[d..d + 2]);
        } else {
            i -= 1;
            b[i] = b'0' + n as u8;
        }
        Dec(b, i)
    }
    fn as_bytes(&self) -> &[u8] {
        &self.0[self.1..]
    }
}

/// An IP address as text, without allocating.
struct IpText([u8; 48], usize);

impl IpText {
    fn new(ip: std::net::IpAddr) -> IpText {
        use std::io::Write as _;
        let mut b = [0u8; 48];
        if let std::net::IpAddr::V4(v4) = ip {
            // (The usual case, without the formatting machinery.)
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    b[n] = b'.';
                    n += 1;
                }
                let d = Dec::new(u64::from(octet));
                let d = d.as_bytes();
                b[n..n + d.len()].copy_from_slice(d);
                n += d.len();
            }
            return IpText(b, n);
        }
        let mut cur = std::io::Cursor::new(&mut b[..]);
        let _ = write!(cur, "{ip}");
        let n = usize::try_from(cur.position()).unwrap_or(0);
        IpText(b, n)
    }
    fn as_bytes(&self) -> &[u8] {
        &self.0[..self.1]
    }
}

/// A mount's environ pairs that are the same for every request to it,
/// encoded once (`RouteTable::environ_blocks`, beside `mounts`).
#[derive(Debug, Clone, Default)]
pub struct MountBlocks {
    files: PairsBlock,
    wsgi: PairsBlock,
}

/// The script's and the document root's pairs.
fn files_pairs<'a>(mount: &'a Mount, root: &'a [u8]) -> [(&'a [u8], &'a [u8]); 4] {
    [
        (
            b"SCRIPT_FILENAME",
            mount.script.as_os_str().as_encoded_bytes(),
        ),
        (b"DOCUMENT_ROOT", root),
        (b"CONTEXT_DOCUMENT_ROOT", root),
        (b"CONTEXT_PREFIX", b""),
    ]
}

/// The process and application group's pairs and the handler's.
fn wsgi_pairs<'a>(mount: &'a Mount, group: &'a str) -> [(&'a [u8], &'a [u8]); 8] {
    [
        (b"mod_wsgi.process_group", group.as_bytes()),
        (b"quill.process_group", group.as_bytes()),
        (
            b"mod_wsgi.application_group",
            mount.application_group.as_bytes(),
        ),
        (
            b"quill.application_group",
            mount.application_group.as_bytes(),
        ),
        (b"mod_wsgi.callable_object", mount.callable.as_bytes()),
        (
            b"mod_wsgi.script_reloading",
            if mount.script_reloading { b"1" } else { b"0" },
        ),
        (b"mod_wsgi.request_handler", b"wsgi-script"),
        (b"mod_wsgi.handler_script", b""),
    ]
}

/// The process group's name in the environ: the daemon group's, or
/// mod_wsgi's `""` in embedded mode; `None` when `mount` names a group
/// the table does not have.
fn group_of<'t>(table_groups: &'t [String], mount: &Mount) -> Option<&'t str> {
    match mount.group {
        Some(g) => table_groups.get(g).map(String::as_str),
        None => Some(""),
    }
}

/// Each mount's [`MountBlocks`], in the order of `mounts`.
pub fn mount_blocks(
    mounts: &[Mount],
    groups: &[String],
    document_root: &std::path::Path,
) -> Vec<MountBlocks> {
    let root = document_root.as_os_str().as_encoded_bytes();
    mounts
        .iter()
        .map(|m| MountBlocks {
            files: PairsBlock::new(files_pairs(m, root)),
            wsgi: PairsBlock::new(wsgi_pairs(m, group_of(groups, m).unwrap_or(""))),
        })
        .collect()
}

/// Writes the CGI variables of a request (docs/protocol.md "Environ")
/// into the `Head` frame being encoded.
fn environ<B>(
    enc: &mut HeadEncoder<'_>,
    table: &RouteTable,
    mount: &Mount,
    group: &str,
    req: &Request<B>,
    ctx: &RequestCtx<'_>,
) {
    let uri = req.uri();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or(table.server_name.as_bytes(), |h| {
            h.rsplit_once(':')
                .filter(|(_, p)| p.parse::<u16>().is_ok())
                .map_or(h, |(n, _)| n)
                .as_bytes()
        });
    // (None for a mount that is not the table's own: each pair is then
    // written one by one, the same bytes.)
    let blocks = table
        .mounts
        .iter()
        .position(|m| std::ptr::eq(m, mount))
        .and_then(|i| table.environ_blocks.get(i));
    let local_port = Dec::new(u64::from(ctx.ends.local.port()));
    let local_ip = IpText::new(ctx.ends.local.ip());
    // SetEnvIf's variables first: as in mod_wsgi, the CGI variables
    // written after them win a clash.
    if let Some(env) = req.extensions().get::<super::remoteip::RequestEnv>() {
        for (k, v) in &env.0 {
            enc.pair(k.as_bytes(), v.as_bytes());
        }
    }
    enc.pair(b"REQUEST_METHOD", req.method().as_str().as_bytes());
    enc.pair(b"SCRIPT_NAME", mount.url.as_bytes());
    enc.pair(b"PATH_INFO", ctx.path_info);
    enc.pair(b"QUERY_STRING", uri.query().unwrap_or("").as_bytes());
    enc.pair(
        b"REQUEST_URI",
        uri.path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .as_bytes(),
    );
    enc.pair(b"SERVER_NAME", host);
    enc.pair(b"SERVER_PORT", local_port.as_bytes());
    enc.pair(b"SERVER_ADDR", local_ip.as_bytes());
    enc.pair(b"SERVER_PROTOCOL", version_str(req.version()).as_bytes());
    enc.pair(b"SERVER_SOFTWARE", b"Quill");
    enc.pair(b"GATEWAY_INTERFACE", b"CGI/1.1");
    let tls = req.extensions().get::<super::ConnTls>();
    enc.pair(
        b"REQUEST_SCHEME",
        if tls.is_some() { b"https" } else { b"http" },
    );
    if let Some(tls) = tls {
        tls.facts().encode(enc);
    }
    if req.version() == http::Version::HTTP_2 {
        quill_protocol::transport::encode_http2(enc);
    }
    enc.pair(b"REMOTE_ADDR", IpText::new(ctx.ends.peer.ip()).as_bytes());
    enc.pair(
        b"REMOTE_PORT",
        Dec::new(u64::from(ctx.ends.peer.port())).as_bytes(),
    );
    match blocks {
        Some(b) => enc.block(&b.files),
        None => {
            let root = table.document_root.as_os_str().as_encoded_bytes();
            for (k, v) in files_pairs(mount, root) {
                enc.pair(k, v);
            }
        }
    }
    // Headers: names with characters other than letters, digits and `-`
    // are dropped; repeated headers are joined with ", ". HeaderMap names
    // are lower case, so two names never map to one variable.
    let headers = req.headers();
    for name in headers.keys() {
        let n = name.as_str();
        if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        let key: Option<&[u8]> = match n {
            "content-type" => Some(b"CONTENT_TYPE"),
            "content-length" => Some(b"CONTENT_LENGTH"),
            "authorization" if !mount.pass_authorization => continue,
            // httpoxy: never let a client set HTTP_PROXY.
            "proxy" => continue,
            // (HTTP_ and the name, written by `pair_http`.)
            _ => None,
        };
        // Most headers come once: their value as it is, with nothing to
        // gather.
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else {
            continue;
        };
        let joined: Vec<&[u8]>;
        let value: &[&[u8]] = match values.next() {
            None => &[first.as_bytes()],
            Some(second) => {
                let mut parts = vec![first.as_bytes(), b", ", second.as_bytes()];
                for v in values {
                    parts.push(b", ");
                    parts.push(v.as_bytes());
                }
                joined = parts;
                &joined
            }
        };
        match key {
            Some(key) => enc.pair_parts(&[key], value),
            None => enc.pair_http(n.as_bytes(), value),
        }
    }
    match blocks {
        Some(b) => enc.block(&b.wsgi),
        None => {
            for (k, v) in wsgi_pairs(mount, group) {
                enc.pair(k, v);
            }
        }
    }
    enc.pair(b"mod_wsgi.listener_host", local_ip.as_bytes());
    enc.pair(b"mod_wsgi.listener_port", local_port.as_bytes());
    let start = Dec::new(ctx.stamps.request_start);
    enc.pair(b"mod_wsgi.request_start", start.as_bytes());
    enc.pair(b"quill.request_start", start.as_bytes());
    let queued = Dec::new(ctx.stamps.queue_start);
    enc.pair(b"mod_wsgi.queue_start", queued.as_bytes());
    enc.pair(b"quill.queue_start", queued.as_bytes());
    let id = ctx.stamps.request_id.as_bytes();
    enc.pair(b"mod_wsgi.request_id", id);
    enc.pair(b"quill.request_id", id);
    if ctx.chunked {
        enc.pair(b"quill.chunked", b"1");
    }
}

/// Room for a request's `Head` frame, so that it is written without
/// growing (and copying) its buffer: 1.5 KB for the variables every
/// request has (1.2 KB of names, values and lengths with short paths and
/// the longest times and request id: `route`'s tests), plus the URI
/// twice (`REQUEST_URI`, then `PATH_INFO` and `QUERY_STRING`) and each
/// header as an `HTTP_*` pair.
pub(super) fn head_capacity<B>(req: &Request<B>) -> usize {
    const FIXED: usize = 1536;
    // A pair's two lengths and the `HTTP_` of its name.
    const PER_HEADER: usize = 8 + 5;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + PER_HEADER)
        .sum();
    FIXED + 2 * req.uri().path_and_query().map_or(0, |p| p.as_str().len()) + headers
}

/// The synchronous half of proxying: mod_wsgi's request checks and the
/// encoded `Head`. It consumes the request and keeps only its body, so
/// that nothing borrowed from hyper's read buffer (URI, header values)
/// stays alive while the daemon works: hyper then reuses that buffer for
/// the connection's next request instead of allocating another.
pub(super) fn prepare<B: Body>(
    table: &RouteTable,
    mount: &Mount,
    req: Request<B>,
    ends: Ends,
    path_info: &[u8],
    stamps: impl FnOnce() -> Stamps,
) -> Result<(BytesMut, B), FrontError> {
    let group = group_of(&table.groups, mount).ok_or_else(FrontError::no_group)?;
    let remote = Client(ends.peer);

    // Request body framing checks, as mod_wsgi does them.
    let chunked = req
        .headers()
        .get(header::TRANSFER_ENCODING)
        .map(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    if chunked == Some(false) {
        return Err(FrontError::transfer_encoding());
    }
    let chunked = chunked == Some(true);
    if chunked && !mount.chunked_request {
        return Err(FrontError::chunked_refused(remote));
    }
    let content_length = req.body().size_hint().exact();
    let limit = table.limit_request_body;
    if limit > 0 && content_length.is_some_and(|n| n > limit) {
        return Err(FrontError::body_too_large(
            remote,
            content_length.unwrap_or(0),
            limit,
        ));
    }
    let has_body = chunked || content_length.is_some_and(|n| n > 0);

    let mut head_bytes = BytesMut::with_capacity(head_capacity(&req));
    let mut enc = HeadEncoder::new(&mut head_bytes, VERSION, has_body);
    environ(
        &mut enc,
        table,
        mount,
        group,
        &req,
        &RequestCtx {
            ends,
            path_info,
            stamps: stamps(),
            chunked,
        },
    );
    enc.finish();

    Ok((head_bytes, req.into_body()))
}

#[cfg(test)]
mod tests {
    use super::{Dec, IpText};
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    proptest! {
        #[test]
        fn addresses_are_written_as_std_writes_them(v4: u32, v6: u128) {
            for ip in [IpAddr::V4(Ipv4Addr::from(v4)), IpAddr::V6(Ipv6Addr::from(v6))] {
                let (got, want) = (IpText::new(ip), ip.to_string());
                prop_assert_eq!(got.as_bytes(), want.as_bytes());
            }
        }

        #[test]
        fn numbers_are_written_in_decimal(n: u64) {
            let (got, want) = (Dec::new(n), n.to_string());
            prop_assert_eq!(got.as_bytes(), want.as_bytes());
        }
    }

    #[test]
    fn edge_addresses() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "127.0.0.1",
            "10.0.200.9",
            "::1",
            "::ffff:1.2.3.4",
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::new(parsed).as_bytes(), ip.as_bytes());
        }
    }
}
