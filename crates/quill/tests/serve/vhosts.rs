//! Virtual hosts in `quill serve`: each request is answered by the server
//! httpd 2.4 would choose (the address and port the connection arrived
//! at, then the Host header), with that server's mounts, aliases and
//! settings, and mod_wsgi's visibility rule for daemon groups at run
//! time. Raw requests on 127.0.0.1, so that the Host header is the test's.

use std::path::Path;

use crate::{Server, TempDir, free_port, raw};

/// A WSGI script that answers `NAME SERVER_NAME process-group`.
fn app(dir: &Path, name: &str) {
    std::fs::write(
        dir.join(format!("{name}.wsgi")),
        format!(
            "def application(environ, start_response):\n\
             \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
             \x20   return [' '.join(['{name}', environ['SERVER_NAME'], environ['mod_wsgi.process_group']]).encode()]\n"
        ),
    )
    .expect("write the app");
}

/// (status, headers, body) of one HTTP/1.0 request with `host` (none: no
/// Host field), the connection closed after it.
fn ask(port: u16, host: Option<&str>, request_line: &str, extra: &str) -> (u16, String, String) {
    let head = match host {
        Some(h) => format!("{request_line} HTTP/1.0\r\nHost: {h}\r\n{extra}\r\n"),
        None => format!("{request_line} HTTP/1.0\r\n{extra}\r\n"),
    };
    let answer = raw(port, head.as_bytes());
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    (status, head.to_string(), body.to_string())
}

fn get(port: u16, host: Option<&str>, path: &str) -> (u16, String) {
    let (status, _, body) = ask(port, host, &format!("GET {path}"), "");
    (status, body)
}

/// Four ports: name-based virtual hosts on the first, an IP-specific one
/// beside a `*` one on the second, the HTTP/HTTPS-twin pattern of the
/// seed's configuration (same ServerName, another port) on the third, and
/// none on the fourth.
#[test]
fn requests_are_answered_by_the_virtual_host_httpd_selects() {
    let root = TempDir::new("serve-vhosts");
    let r = root.0.clone();
    for name in ["main", "a", "b", "c", "star", "ip", "twin"] {
        app(&r, name);
    }
    for (dir, file, text) in [
        ("a-files", "hello.txt", "a's file\n"),
        ("common", "c.txt", "common file\n"),
    ] {
        std::fs::create_dir_all(r.join(dir)).expect("alias dir");
        std::fs::write(r.join(dir).join(file), text).expect("alias file");
    }
    let [p1, p2, p3, p4] = [free_port(), free_port(), free_port(), free_port()];
    let conf = r.join("httpd.conf");
    let rd = r.display();
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{rd}"
ServerName localhost
Listen 127.0.0.1:{p1}
Listen 127.0.0.1:{p2}
Listen 127.0.0.1:{p3}
Listen 127.0.0.1:{p4}
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule alias_module modules/mod_alias.so
LoadModule wsgi_module modules/mod_wsgi.so
LoadModule status_module modules/mod_status.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule authz_host_module modules/mod_authz_host.so
WSGISocketPrefix "{rd}/wsgi"
WSGIDaemonProcess shared processes=1 threads=4
<Location /server-status>
    SetHandler server-status
    Require local
</Location>
WSGIScriptAlias /app "{rd}/main.wsgi" process-group=shared application-group=%{{GLOBAL}}
Alias /common "{rd}/common"

<VirtualHost *:{p1}>
    ServerName a.example
    ServerAlias *.a.example
    WSGIScriptAlias /app "{rd}/a.wsgi" process-group=shared application-group=%{{GLOBAL}}
    Alias /files "{rd}/a-files"
</VirtualHost>
<VirtualHost *:{p1}>
    ServerName b.example
    KeepAlive Off
    LimitRequestBody 10
    WSGIDaemonProcess private processes=1 threads=2
    WSGIScriptAlias /app "{rd}/b.wsgi" process-group=private application-group=%{{GLOBAL}}
</VirtualHost>
<VirtualHost *:{p1}>
    ServerName c.example
    WSGIScriptAlias /app "{rd}/c.wsgi" process-group=private
</VirtualHost>

<VirtualHost *:{p2}>
    ServerName star.example
    WSGIScriptAlias /app "{rd}/star.wsgi" process-group=shared application-group=%{{GLOBAL}}
    <Location /star-status>
        SetHandler server-status
        Require local
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:{p2}>
    ServerName ip.example
    WSGIScriptAlias /app "{rd}/ip.wsgi" process-group=shared application-group=%{{GLOBAL}}
</VirtualHost>

<VirtualHost *:{p3}>
    ServerName b.example
    WSGIScriptAlias /app "{rd}/twin.wsgi" process-group=private application-group=%{{GLOBAL}}
</VirtualHost>
"#
        ),
    )
    .expect("write the config");
    let s = Server::serve(root, &conf, p1);

    // Name-based on one port: by Host, with a ServerAlias wildcard and the
    // port ignored; an unknown or missing Host gets the first.
    assert_eq!(
        get(p1, Some("a.example"), "/app"),
        (200, "a a.example shared".into())
    );
    assert_eq!(
        get(p1, Some("b.example:8080"), "/app"),
        (200, "b b.example private".into())
    );
    assert_eq!(
        get(p1, Some("B.EXAMPLE."), "/app").1.split(' ').next(),
        Some("b")
    );
    assert_eq!(
        get(p1, Some("www.a.example"), "/app").1,
        "a www.a.example shared"
    );
    assert_eq!(
        get(p1, Some("unknown.example"), "/app").1,
        "a unknown.example shared"
    );
    // (SERVER_NAME without a Host: the selected server's ServerName.)
    assert_eq!(get(p1, None, "/app").1, "a a.example shared");

    // A virtual host's Alias is its own; the main server's it inherits.
    assert_eq!(
        get(p1, Some("a.example"), "/files/hello.txt"),
        (200, "a's file\n".into())
    );
    assert_eq!(get(p1, Some("b.example"), "/files/hello.txt").0, 404);
    assert_eq!(
        get(p1, Some("b.example"), "/common/c.txt"),
        (200, "common file\n".into())
    );

    // The selected server's settings: KeepAlive Off and LimitRequestBody
    // are b's, not a's.
    let (_, head, _) = ask(p1, Some("b.example"), "GET /app", "");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let (status, _, _) = ask(
        p1,
        Some("a.example"),
        "POST /app",
        "Content-Length: 20\r\n\r\n01234567890123456789",
    );
    assert_eq!(status, 200);
    let (status, _, _) = ask(
        p1,
        Some("b.example"),
        "POST /app",
        "Content-Length: 20\r\n\r\n01234567890123456789",
    );
    assert_eq!(status, 413);
    let keep = raw(
        p1,
        b"GET /app HTTP/1.1\r\nHost: a.example\r\n\r\nGET /app HTTP/1.1\r\nHost: b.example\r\n\r\n",
    );
    assert_eq!(
        keep.matches("HTTP/1.1 200").count(),
        2,
        "a's KeepAlive On keeps the connection for the next request: {keep}"
    );

    // mod_wsgi's visibility rule: `private` was declared in b.example, so
    // c.example may not use it (500 and mod_wsgi's line) …
    let (status, _) = get(p1, Some("c.example"), "/app");
    assert_eq!(status, 500);
    let line = format!(
        "Daemon process called 'private' cannot be accessed by this WSGI application: {}",
        s.root.0.join("c.wsgi").display()
    );
    assert!(s.wait_log(&line), "log:\n{}", s.log());
    assert!(
        s.log().contains("[wsgi:error]"),
        "at error level: {}",
        s.log()
    );
    // … but b.example's twin on another port may (same ServerName).
    assert_eq!(
        get(p3, Some("b.example"), "/app"),
        (200, "twin b.example private".into())
    );

    // IP-based before name-based: on 127.0.0.1:p2 the IP-specific virtual
    // host answers even star.example's name.
    assert_eq!(
        get(p2, Some("star.example"), "/app").1,
        "ip star.example shared"
    );

    // The main server's <Location>s apply in every virtual host; a
    // virtual host's only in it.
    assert_eq!(get(p1, Some("b.example"), "/server-status?auto").0, 200);
    assert_eq!(get(p2, Some("ip.example"), "/star-status?auto").0, 404);

    // A port no virtual host names: the main server.
    assert_eq!(
        get(p4, Some("a.example"), "/app"),
        (200, "main a.example shared".into())
    );
    assert_eq!(get(p4, Some("a.example"), "/files/hello.txt").0, 404);
    assert_eq!(s.stop(), Some(0));
}

/// `quill serve` starts with a group that is not visible from a virtual
/// host, as httpd does, and says so.
#[test]
fn serve_starts_with_a_group_not_visible_and_says_so() {
    let root = TempDir::new("serve-vhosts-visibility");
    let r = root.0.clone();
    app(&r, "x");
    let port = free_port();
    let conf = r.join("httpd.conf");
    let rd = r.display();
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{rd}"
ServerName localhost
Listen 127.0.0.1:{port}
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule wsgi_module modules/mod_wsgi.so
WSGISocketPrefix "{rd}/wsgi"
<VirtualHost *:{port}>
    ServerName one.example
    WSGIDaemonProcess one processes=1 threads=1
    WSGIScriptAlias / "{rd}/x.wsgi" process-group=one application-group=%{{GLOBAL}}
</VirtualHost>
<VirtualHost *:{port}>
    ServerName two.example
    WSGIProcessGroup one
    WSGIScriptAlias / "{rd}/x.wsgi"
</VirtualHost>
"#
        ),
    )
    .expect("write the config");
    let s = Server::serve(root, &conf, port);
    assert!(
        s.wait_log("starting anyway, as httpd does"),
        "log:\n{}",
        s.log()
    );
    assert!(
        s.log()
            .contains("process group 'one' is declared in virtual host #0"),
        "log:\n{}",
        s.log()
    );
    assert_eq!(get(port, Some("one.example"), "/").0, 200);
    assert_eq!(get(port, Some("two.example"), "/").0, 500);
    assert_eq!(s.stop(), Some(0));
}

/// The server httpd picked for each probe of `bench/apache/vhosts.py`
/// (tests/data/httpd/vhosts/httpd.json, recorded from real Debian apache2
/// with tests/data/httpd/vhosts/vhosts.conf): `quill serve` of the same
/// virtual hosts must pick the same one for every address, port and Host.
#[test]
fn virtual_host_selection_matches_recorded_httpd() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/httpd/vhosts");
    let recorded: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("httpd.json")).expect("recorded answers"),
    )
    .expect("json");
    let hosts = std::fs::read_to_string(data.join("vhosts.conf")).expect("virtual hosts");
    let root = TempDir::new("serve-vhost-selection");
    let r = root.0.clone();
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let mut names = std::collections::BTreeSet::new();
    for probe in recorded["probes"].as_array().expect("probes") {
        names.insert(probe["server"].as_str().expect("server").to_string());
    }
    // The names come from the recording's answers: every server that
    // answered there answers with its name here.
    for name in ["main"].into_iter().chain(names.iter().map(String::as_str)) {
        let dir = r.join("who").join(name);
        std::fs::create_dir_all(&dir).expect("who dir");
        std::fs::write(dir.join("who.txt"), name).expect("who file");
    }
    let mut text = hosts.replace("@ROOT@", &r.display().to_string());
    for (i, p) in ports.iter().enumerate() {
        text = text.replace(&format!("@P{}@", i + 1), &p.to_string());
    }
    let conf = r.join("httpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerRoot \"{}\"\n\
             LoadModule mpm_event_module modules/mod_mpm_event.so\n\
             LoadModule alias_module modules/mod_alias.so\n{text}",
            r.display()
        ),
    )
    .expect("write the config");
    let s = Server::serve(root, &conf, ports[0]);
    let mut mismatches = Vec::new();
    let probes = recorded["probes"].as_array().expect("probes");
    for probe in probes {
        let address = probe["address"].as_str().expect("address");
        let port = ports[probe["port"].as_u64().expect("port") as usize - 1];
        let host = probe["host"].as_str();
        let httpd = probe["server"].as_str().expect("server");
        let ip: std::net::IpAddr = address.parse().expect("an address");
        let head = match host {
            Some(h) => format!("GET /who/who.txt HTTP/1.0\r\nHost: {h}\r\n\r\n"),
            None => "GET /who/who.txt HTTP/1.0\r\n\r\n".to_string(),
        };
        let answer = raw_to((ip, port).into(), head.as_bytes());
        let quill = match answer.split_once("\r\n\r\n") {
            Some((h, body)) if h.split(' ').nth(1) == Some("200") => body.to_string(),
            _ => format!(
                "status {}",
                answer.split(' ').nth(1).unwrap_or("(no answer)")
            ),
        };
        if quill != httpd {
            mismatches.push(format!(
                "{address} port {} Host {host:?}: httpd {httpd}, quill {quill}",
                probe["port"]
            ));
        }
    }
    assert!(probes.len() > 100, "the recording has its probes");
    // Keep-alive is the answering server's: five pipelined requests on one
    // connection, answered until its KeepAlive or MaxKeepAliveRequests
    // closes it (or KeepAliveTimeout 1 ends it).
    let kept = recorded["keep_alive"]
        .as_array()
        .expect("keep-alive probes");
    assert!(!kept.is_empty());
    for probe in kept {
        let port = ports[probe["port"].as_u64().expect("port") as usize - 1];
        let host = probe["host"].as_str().expect("host");
        let httpd = probe["answered"].as_u64().expect("answered") as usize;
        let answer = raw_to(
            ([127, 0, 0, 1], port).into(),
            format!("GET /who/who.txt HTTP/1.1\r\nHost: {host}\r\n\r\n")
                .repeat(5)
                .as_bytes(),
        );
        let quill = answer.matches(" 200 OK\r\n").count();
        if quill != httpd {
            mismatches.push(format!(
                "keep-alive, port {} Host {host}: httpd answered {httpd} of 5, quill {quill}",
                probe["port"]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} probes differ:\n{}",
        mismatches.len(),
        probes.len(),
        mismatches.join("\n")
    );
    assert_eq!(s.stop(), Some(0));
}

/// All of one HTTP/1.0 exchange with `to`.
fn raw_to(to: std::net::SocketAddr, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&to, std::time::Duration::from_secs(10))
        .expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(request).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The chosen server's `Timeout` governs the request body (httpd switches
/// to it once the Host chose the server): a body that stalls is given up
/// after b.example's `Timeout 1`, while on the same connection's default
/// server (`Timeout 30`) it is still waited for.
#[test]
fn the_chosen_servers_timeout_applies_to_the_body() {
    let root = TempDir::new("serve-vhost-timeout");
    let r = root.0.clone();
    std::fs::write(
        r.join("read.wsgi"),
        "def application(environ, start_response):\n\
         \x20   data = environ['wsgi.input'].read()\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [b'read %d' % len(data)]\n",
    )
    .expect("write the app");
    let port = free_port();
    let conf = r.join("httpd.conf");
    let rd = r.display();
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{rd}"
ServerName localhost
Listen 127.0.0.1:{port}
Timeout 30
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule wsgi_module modules/mod_wsgi.so
WSGISocketPrefix "{rd}/wsgi"
WSGIDaemonProcess app processes=1 threads=2
WSGIScriptAlias /read "{rd}/read.wsgi" process-group=app application-group=%{{GLOBAL}}
<VirtualHost *:{port}>
    ServerName a.example
</VirtualHost>
<VirtualHost *:{port}>
    ServerName b.example
    Timeout 1
</VirtualHost>
"#
        ),
    )
    .expect("write the config");
    let s = Server::serve(root, &conf, port);
    use std::io::{Read, Write};
    let stall = |host: &str, wait: u64| -> Option<String> {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(std::time::Duration::from_secs(wait)))
            .expect("read timeout");
        c.write_all(
            format!("POST /read HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\n12345")
                .as_bytes(),
        )
        .expect("send");
        let mut out = Vec::new();
        match c.read_to_end(&mut out) {
            Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => Some(format!("read error: {e}")),
        }
    };
    // b.example: given up after its Timeout, with mod_wsgi's line.
    let answer = stall("b.example", 20);
    assert!(answer.is_some(), "b.example's Timeout 1 ended the request");
    assert!(
        s.wait_log("Request data read error when proxying data to daemon process: The timeout specified has expired."),
        "log:\n{}",
        s.log()
    );
    // a.example, the default server: still waiting after 3 s.
    assert_eq!(
        stall("a.example", 3),
        None,
        "a.example waits for Timeout 30"
    );
    assert_eq!(s.stop(), Some(0));
}
