//! Embedded mode (mounts without a daemon group): front-end children that
//! host Python themselves, under the same pool controller; children that
//! don't embed it never map libpython; `WSGIRestrictEmbedded On`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::{Server, TempDir, fixtures, get};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `quill serve` of the conformance app at /app with `wsgi` (the mount's
/// WSGI directives, `APP` standing for the script) and `mpm` directives
/// (worker MPM).
fn serve(name: &str, mpm: &str, wsgi: &str) -> Server {
    let root = TempDir::new(name);
    let app = root.0.join("conformance.wsgi");
    std::fs::copy(fixtures().join("conformance.wsgi"), &app).expect("copy the app");
    let port = free_port();
    let conf = root.0.join("httpd.conf");
    let r = root.0.display();
    let wsgi = wsgi.replace("APP", &format!("\"{}\"", app.display()));
    std::fs::write(
        &conf,
        format!(
            "ServerRoot \"{r}\"\nServerName localhost\nListen 127.0.0.1:{port}\n\
             LoadModule mpm_worker_module modules/mod_mpm_worker.so\n\
             LoadModule wsgi_module modules/mod_wsgi.so\n{mpm}\n\
             WSGISocketPrefix \"{r}/wsgi\"\n{wsgi}\n"
        ),
    )
    .expect("write the config");
    Server::serve(root, &conf, port)
}

/// Whether `pid` has a libpython mapped.
fn maps_libpython(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/maps: {e}"))
        .contains("libpython")
}

const POOL: &str = "StartServers 2\nServerLimit 4\nThreadsPerChild 4\nMinSpareThreads 4\n\
                    MaxSpareThreads 16\nMaxRequestWorkers 16";

#[test]
fn embedded_children_map_libpython_and_daemon_mode_children_do_not() {
    let embedded = serve(
        "embedded-maps",
        POOL,
        "WSGIScriptAlias /app APP application-group=%{GLOBAL}",
    );
    let (st, body) = get(&embedded.url("/app/environ"));
    assert_eq!(st, 200, "{body}\n{}", embedded.log());
    let e: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["mod_wsgi.process_group"], "", "embedded mode's group");
    let children = embedded.front_ends();
    assert_eq!(children.len(), 2, "StartServers 2");
    assert!(embedded.daemons().is_empty(), "no daemon process");
    for c in &children {
        assert!(maps_libpython(*c), "embedded child {c} hosts Python");
    }
    assert!(
        !maps_libpython(embedded.pid()),
        "the supervisor never maps it"
    );

    let daemon = serve(
        "daemon-maps",
        POOL,
        "WSGIDaemonProcess app processes=1 threads=2\n\
         WSGIScriptAlias /app APP process-group=app application-group=%{GLOBAL}",
    );
    assert_eq!(get(&daemon.url("/app/write")).0, 200);
    let children = daemon.front_ends();
    assert!(!children.is_empty());
    for c in &children {
        assert!(!maps_libpython(*c), "daemon-mode child {c} maps libpython");
    }
    for d in daemon.daemons() {
        assert!(maps_libpython(d), "the daemon process runs Python");
    }
}

#[test]
fn restrict_embedded_gives_mod_wsgis_500_and_children_stay_without_python() {
    let s = serve(
        "embedded-restricted",
        POOL,
        "WSGIRestrictEmbedded On\nWSGIScriptAlias /app APP",
    );
    let (st, _) = get(&s.url("/app/write"));
    assert_eq!(st, 500);
    let line = "Embedded mode of mod_wsgi disabled by runtime configuration: ";
    assert!(s.wait_log(line), "{}", s.log());
    assert!(
        s.log().contains("[wsgi:error]") && s.log().contains("conformance.wsgi"),
        "{}",
        s.log()
    );
    for c in s.front_ends() {
        assert!(!maps_libpython(c), "child {c} maps libpython");
    }
}

#[test]
fn the_mpm_recycles_embedded_children_after_max_connections_per_child() {
    let s = serve(
        "embedded-recycled",
        "StartServers 1\nServerLimit 2\nThreadsPerChild 2\nMinSpareThreads 1\n\
         MaxSpareThreads 4\nMaxRequestWorkers 4\nMaxConnectionsPerChild 3",
        "WSGIScriptAlias /app APP application-group=%{GLOBAL}",
    );
    let first = s.front_ends();
    // Each request on a connection of its own: every child serves 3, then
    // is replaced by the controller, Python and all.
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..10 {
        let (st, body) = get(&s.url("/app/environ"));
        assert_eq!(st, 200, "{body}\n{}", s.log());
        let e: serde_json::Value = serde_json::from_str(&body).unwrap();
        pids.insert(e["pid"].as_u64().unwrap_or(0));
    }
    assert!(
        pids.len() >= 3,
        "10 connections over children of 3 each: {pids:?}"
    );
    assert!(
        s.front_ends().iter().all(|p| !first.contains(p)),
        "the first child was replaced"
    );
}

/// A request thread waiting for its body releases the GIL: another
/// request of the same child runs meanwhile.
#[test]
fn a_thread_waiting_for_its_body_does_not_hold_the_gil() {
    let s = serve(
        "embedded-gil",
        "StartServers 1\nServerLimit 1\nThreadsPerChild 4\nMinSpareThreads 1\n\
         MaxSpareThreads 4\nMaxRequestWorkers 4",
        "WSGIScriptAlias /app APP application-group=%{GLOBAL}",
    );
    assert_eq!(s.front_ends().len(), 1, "one child: both requests in it");
    let mut slow = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    slow.write_all(
        b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhalf.",
    )
    .unwrap();
    // The app is now in wsgi.input.read(), waiting for the rest.
    std::thread::sleep(Duration::from_millis(300));
    // Were the GIL held, this would wait for the first request, which
    // waits for us: the client's timeout would fail it.
    assert_eq!(get(&s.url("/app/write")), (200, "written-iterated".into()));
    slow.write_all(b"rest.").unwrap();
    let mut out = String::new();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = slow.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("half.rest."), "{out}");
}
