//! The front end's request → environ path: arbitrary bytes as a client's
//! request head, through `quill_server::frontend::parse_head` (the
//! server's own head checks, then httparse as hyper parses) and
//! `route_request`, the function the server routes every request with.
//!
//! The first byte chooses the configuration: `AllowEncodedSlashes`
//! Off/On/NoDecode (byte % 3) and `HttpProtocolOptions` Strict or Unsafe
//! (bit 2); the rest is the request. The route table has a status and a
//! metrics `<Location>`, two `Alias`es and three WSGI mounts, the last at
//! the root, so that most paths reach an environ.
//!
//! Checks, besides "no panic": a refused request gets a 4xx (or
//! mod_wsgi's 501 for a transfer coding other than plain chunked); a routed
//! request never leaves what routed it: its path (an Alias', a
//! `<Location>`'s, or SCRIPT_NAME + PATH_INFO) starts with that prefix at
//! a segment boundary, has no `.` or `..` segment and no `//`, and is the
//! first match in httpd's order (`<Location>` handlers, Alias, mounts); the
//! `Head` frame is one frame whose environ names are CGI/WSGI names, each
//! once, `HTTP_*` names upper case, no `HTTP_PROXY`, SCRIPT_NAME the
//! mount's URL and REQUEST_METHOD the request's.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use quill_config::model::Require;
use quill_protocol::protocol::{Frame, decode};
use quill_server::frontend::{
    Ends, RouteTable, Routed, Sites, Stamps, environ_fault, parse_head, route_request,
};
use quill_server::log::{ErrorLog, Level};
use quill_server::plan::{EncodedSlashes, Mount, StaticAlias};

fn mount(url: &str, group: usize) -> Mount {
    Mount {
        url: url.into(),
        script: format!("/srv{url}/app.wsgi").into(),
        group: Some(group),
        application_group: String::new(),
        callable: "application".into(),
        pass_authorization: group == 1,
        chunked_request: group == 0,
        script_reloading: true,
        group_visible: true,
    }
}

fn table(slashes: EncodedSlashes) -> RouteTable {
    RouteTable {
        server_name: "localhost".into(),
        document_root: "/srv/htdocs".into(),
        mounts: vec![mount("/app/admin", 1), mount("/app", 0), mount("", 1)],
        aliases: vec![
            StaticAlias {
                url: "/static".into(),
                path: "/srv/static".into(),
            },
            StaticAlias {
                url: "/favicon.ico".into(),
                path: "/srv/static/favicon.ico".into(),
            },
        ],
        groups: vec!["app".into(), "admin".into()],
        encoded_slashes: slashes,
        limit_request_body: 1 << 20,
        keep_alive: Some(std::time::Duration::from_secs(5)),
        max_keep_alive_requests: 100,
        timeout: std::time::Duration::from_secs(60),
        body_stage: None,
        status: vec![("/server-status".into(), vec![Require::Local])],
        metrics: vec![("/metrics".into(), vec![Require::Local])],
    }
}

fn tables() -> &'static [Sites; 3] {
    static T: OnceLock<[Sites; 3]> = OnceLock::new();
    T.get_or_init(|| {
        [
            Sites::single(table(EncodedSlashes::Off)),
            Sites::single(table(EncodedSlashes::On)),
            Sites::single(table(EncodedSlashes::NoDecode)),
        ]
    })
}

fn log() -> &'static ErrorLog {
    static L: OnceLock<ErrorLog> = OnceLock::new();
    // Debug: the log lines are formatted too.
    L.get_or_init(|| ErrorLog::new(Level::Debug, Box::new(std::io::sink())))
}

const ENDS: Ends = Ends {
    peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000),
    local: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 80),
    listener: 0,
};

/// `prefix` covers `path` at a segment boundary (the root covers all).
fn under(prefix: &[u8], path: &[u8]) -> bool {
    path.starts_with(prefix)
        && (prefix.is_empty() || path.len() == prefix.len() || path[prefix.len()] == b'/')
}

/// An absolute path with no `.`/`..` segment and no empty segment inside.
fn normalised(path: &[u8]) -> bool {
    path.first() == Some(&b'/')
        && !path.windows(2).any(|w| w == b"//")
        && !path.split(|&b| b == b'/').any(|s| s == b"." || s == b"..")
}

/// Nothing that comes before `taken` in httpd's order matches `path`.
fn first_match(t: &RouteTable, path: &[u8], taken: usize) {
    let locations = t.metrics.iter().chain(&t.status).map(|(u, _)| u.as_bytes());
    let prefixes: Vec<&[u8]> = locations
        .chain(t.aliases.iter().map(|a| a.url.as_bytes()))
        .chain(t.mounts.iter().map(|m| m.url.as_bytes()))
        .collect();
    for (i, p) in prefixes[..taken].iter().enumerate() {
        assert!(
            !under(p, path),
            "{path:?} is under #{i} {p:?}, taken: #{taken}"
        );
    }
    assert!(
        under(prefixes[taken], path),
        "{path:?} not under {:?}",
        prefixes[taken]
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&opts, bytes)) = data.split_first() else {
        return;
    };
    let sites = &tables()[usize::from(opts) % 3];
    let t = &sites.servers[0];
    let strict = opts & 4 == 0;
    let req = match parse_head(bytes, strict, 8190, ENDS.peer) {
        Ok(Some(req)) => req,
        Ok(None) => return,
        Err(e) => {
            assert!(e.status().is_client_error(), "head: {}", e.status());
            return;
        }
    };
    let method = req.method().clone();
    let stamps = || Stamps {
        request_start: 1,
        queue_start: 2,
        request_id: "1-1".into(),
    };
    let locations = t.metrics.len() + t.status.len();
    match route_request(req, sites, ENDS, stamps, log()) {
        Err(e) => assert!(
            e.status().is_client_error() || e.status() == http::StatusCode::NOT_IMPLEMENTED,
            "route: {}",
            e.status()
        ),
        Ok(Routed::ServerOptions) => {}
        Ok(Routed::Metrics { path, .. }) => {
            assert!(normalised(&path));
            first_match(t, &path, 0);
        }
        Ok(Routed::Status { path, .. }) => {
            assert!(normalised(&path));
            first_match(t, &path, t.metrics.len());
        }
        Ok(Routed::Alias { alias, path, .. }) => {
            assert!(normalised(&path), "{path:?}");
            let i = t.aliases.iter().position(|a| std::ptr::eq(a, alias));
            first_match(t, &path, locations + i.expect("an alias of the table"));
        }
        Ok(Routed::Wsgi { mount, head, .. }) => {
            let mut buf = BytesMut::from(&head[..]);
            let Ok(Some(Frame::Head(h))) = decode(&mut buf) else {
                panic!("not a Head frame");
            };
            assert!(buf.is_empty(), "one frame");
            if let Some(fault) = environ_fault(&h.environ) {
                panic!("{fault}");
            }
            assert_eq!(h.get("REQUEST_METHOD"), Some(method.as_str().as_bytes()));
            let script = h.get("SCRIPT_NAME").expect("SCRIPT_NAME");
            assert_eq!(script, mount.url.as_bytes());
            let info = h.get("PATH_INFO").expect("PATH_INFO");
            assert!(info.is_empty() || info[0] == b'/', "PATH_INFO {info:?}");
            let full = [script, info].concat();
            assert!(normalised(&full) || full.is_empty(), "{full:?}");
            let i = t.mounts.iter().position(|m| std::ptr::eq(m, mount));
            let path = if full.is_empty() { b"/".to_vec() } else { full };
            first_match(t, &path, locations + t.aliases.len() + i.expect("a mount"));
        }
    }
});
