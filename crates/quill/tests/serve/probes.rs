//! httpd's checks before any handler: Host rules, absolute-form targets,
//! dot segments, OPTIONS *, bare-LF heads, LimitRequestLine,
//! RequestReadTimeout's header and body stages (shortened to header=2-4
//! and body=2), malformed and oversized chunked bodies. `tests/data/httpd/probes/httpd.json` holds what
//! real Debian apache2 answered to each probe (recorded by
//! `bench/apache/probes.py record`, which says how); `quill serve` of the
//! same `Alias` must answer each with the same status.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::{Server, TempDir};

/// Probes where Quill still differs from httpd, and why. The test checks
/// that they still differ, so that fixing one means moving it out of here.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

fn status(port: u16, request: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    s.write_all(request.as_bytes()).expect("send");
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    head.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn host_and_path_checks_answer_as_httpd_does() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/httpd/probes/httpd.json");
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&data).expect("recorded probes"))
            .expect("json");
    let root = TempDir::new("probes");
    let files = root.0.join("docs/sub");
    std::fs::create_dir_all(&files).expect("dir");
    std::fs::write(files.join("f.txt"), "f\n").expect("file");
    // The WSGI application at /app, as probes.py mounts it in httpd.
    let app = root.0.join("lifecycle.wsgi");
    std::fs::copy(crate::fixtures().join("lifecycle.wsgi"), &app).expect("copy the app");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let conf = root.0.join("httpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerRoot \"{r}\"\nServerName localhost\nListen 127.0.0.1:{port}\n\
             LoadModule mpm_event_module modules/mod_mpm_event.so\n\
             LoadModule alias_module modules/mod_alias.so\n\
             LoadModule reqtimeout_module modules/mod_reqtimeout.so\n\
             RequestReadTimeout header=2-4,MinRate=500 body=2,MinRate=500\n\
             LoadModule wsgi_module modules/mod_wsgi.so\n\
             LimitRequestBody 1000\n\
             WSGISocketPrefix \"{r}/wsgi\"\n\
             WSGIDaemonProcess app processes=1 threads=2\n\
             WSGIChunkedRequest On\n\
             WSGIScriptAlias /app \"{app}\" process-group=app application-group=%{{GLOBAL}}\n\
             Alias /static \"{f}\"\n",
            r = root.0.display(),
            f = files.display(),
            app = app.display()
        ),
    )
    .expect("config");
    let s = Server::serve(root, &conf, port);
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for probe in recorded["probes"].as_array().expect("probes") {
        let name = probe["name"].as_str().expect("name");
        let httpd = probe["status"].as_u64().map(|c| c as u16);
        let quill = status(s.port, probe["request"].as_str().expect("request"));
        match KNOWN_DIFFERENCES.iter().find(|(n, _)| *n == name) {
            Some((_, why)) => assert_ne!(
                quill, httpd,
                "{name}: now answered as httpd does ({why}): move it out of KNOWN_DIFFERENCES"
            ),
            None if quill != httpd => {
                mismatches.push(format!("{name}: httpd {httpd:?}, quill {quill:?}"))
            }
            None => compared += 1,
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of the probes differ:\n{}\nlog:\n{}",
        mismatches.len(),
        mismatches.join("\n"),
        s.log()
    );
    assert!(compared >= 15, "the probes ran: {compared}");
}
