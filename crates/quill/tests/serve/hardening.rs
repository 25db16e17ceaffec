//! httpd's rules for clients that are slow, malformed or never read
//! (issue 12): RequestReadTimeout (mod_reqtimeout) answers 408 to a head or
//! body that trickles; HttpProtocolOptions Strict answers 400 to bare-LF
//! heads; LimitRequestLine answers 414; a malformed chunked body gets 400
//! and one over LimitRequestBody 413 before the application answers. Raw
//! sockets on 127.0.0.1, every wait bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::{Server, TempDir, free_port, get};

/// `quill serve` of the lifecycle app at /app (one process, `threads`
/// threads, chunked bodies accepted), event MPM, mod_reqtimeout loaded,
/// LogLevel debug, and `directives`.
fn serve(name: &str, threads: u32, directives: &str) -> Server {
    let root = TempDir::new(name);
    let app = root.0.join("lifecycle.wsgi");
    std::fs::copy(crate::fixtures().join("lifecycle.wsgi"), &app).expect("copy the app");
    let port = free_port();
    let conf = root.0.join("httpd.conf");
    let r = root.0.display();
    std::fs::write(
        &conf,
        format!(
            "ServerRoot \"{r}\"\nServerName localhost\nListen 127.0.0.1:{port}\n\
             LoadModule mpm_event_module modules/mod_mpm_event.so\n\
             LoadModule reqtimeout_module modules/mod_reqtimeout.so\n\
             LoadModule wsgi_module modules/mod_wsgi.so\nLogLevel debug\n{directives}\n\
             WSGISocketPrefix \"{r}/wsgi\"\n\
             WSGIDaemonProcess app processes=1 threads={threads}\n\
             WSGIChunkedRequest On\n\
             WSGIScriptAlias /app \"{}\" process-group=app application-group=%{{GLOBAL}}\n",
            app.display()
        ),
    )
    .expect("write the config");
    Server::serve(root, &conf, port)
}

/// Sends `parts` (pausing `pause` between them) and returns all the
/// server answers until it closes, at most 30 s.
fn exchange(port: u16, parts: &[&[u8]], pause: Duration) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        // The server may answer and close before everything is sent.
        if s.write_all(p).is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status(answer: &str) -> Option<u16> {
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// Finding 3: header fields that never end get 408 once mod_reqtimeout's
/// header stage is over; a request line that never ends gets nothing
/// (httpd closes without an answer). Both log mod_reqtimeout's AH01382.
#[test]
fn a_trickling_head_gets_408_after_the_header_stage() {
    let s = serve(
        "hard-header",
        2,
        "RequestReadTimeout header=1-2,MinRate=500 body=1,MinRate=500",
    );
    let answer = exchange(
        s.port,
        &[
            b"GET /app/echo HTTP/1.1\r\n",
            b"Host: x\r\n",
            b"X-Slow: 1\r\n",
        ],
        Duration::from_millis(300),
    );
    assert_eq!(status(&answer), Some(408), "{answer}\nlog:\n{}", s.log());
    assert!(
        answer.contains("Server timeout waiting for the HTTP request from the client."),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        s.wait_log("[reqtimeout:info]") && s.wait_log("AH01382: Request header read timeout"),
        "{}",
        s.log()
    );
    let answer = exchange(s.port, &[b"GET /app/ec"], Duration::ZERO);
    assert_eq!(answer, "", "a request line that never ends gets no answer");
    assert_eq!(get(&s.url("/app/echo")).0, 200, "the server still answers");
}

/// Finding 2: a body that trickles gets 408 from the front end once the
/// body stage is over, not the daemon's 504, and the daemon's thread is
/// free again for the next request.
#[test]
fn a_trickling_body_gets_408_not_a_gateway_timeout() {
    let s = serve("hard-body", 1, "RequestReadTimeout body=1,MinRate=500");
    let answer = exchange(
        s.port,
        &[
            b"POST /app/read HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
            b"0123456789",
        ],
        Duration::from_millis(100),
    );
    assert_eq!(status(&answer), Some(408), "{answer}\nlog:\n{}", s.log());
    assert!(
        s.wait_log("AH01382: Request body read timeout"),
        "{}",
        s.log()
    );
    assert!(
        !s.log().contains("Timeout when reading response headers"),
        "the daemon is not blamed:\n{}",
        s.log()
    );
    // The group's one thread is free again.
    assert_eq!(get(&s.url("/app/echo")).0, 200, "log:\n{}", s.log());
}

/// Finding 5: HttpProtocolOptions Strict (the default) answers 400 to a
/// head with bare-LF line ends, as httpd; Unsafe takes it.
#[test]
fn bare_lf_heads_get_400_unless_http_protocol_options_unsafe() {
    let bare: &[u8] = b"GET /app/echo HTTP/1.1\nHost: x\nConnection: close\n\n";
    let field: &[u8] = b"GET /app/echo HTTP/1.1\r\nHost: x\nX: y\r\n\r\n";
    let s = serve("hard-strict", 1, "");
    let answer = exchange(s.port, &[bare], Duration::ZERO);
    assert_eq!(status(&answer), Some(400), "{answer}");
    assert!(
        s.wait_log("AH00566: request failed: malformed request line"),
        "{}",
        s.log()
    );
    let answer = exchange(s.port, &[field], Duration::ZERO);
    assert_eq!(status(&answer), Some(400), "{answer}");
    assert!(
        s.wait_log("AH00567: request failed: error reading the headers"),
        "{}",
        s.log()
    );
    drop(s);
    let s = serve("hard-unsafe", 1, "HttpProtocolOptions Unsafe");
    let answer = exchange(s.port, &[bare], Duration::ZERO);
    assert_eq!(status(&answer), Some(200), "{answer}");
}

/// Finding 5: a request line over LimitRequestLine gets 414 (hyper's own
/// limit gave 431), with httpd's AH00565 line.
#[test]
fn a_request_line_over_limit_request_line_gets_414() {
    let s = serve("hard-line", 1, "LimitRequestLine 100");
    let long = format!(
        "GET /app/echo/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(100)
    );
    let answer = exchange(s.port, &[long.as_bytes()], Duration::ZERO);
    assert_eq!(status(&answer), Some(414), "{answer}");
    assert!(
        answer.contains("The requested URL's length exceeds the capacity"),
        "{answer}"
    );
    assert!(
        s.wait_log(
            "AH00565: request failed: client's request-line exceeds LimitRequestLine (longer than 100)"
        ),
        "{}",
        s.log()
    );
    let short = format!(
        "GET /app/echo/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(70)
    );
    let answer = exchange(s.port, &[short.as_bytes()], Duration::ZERO);
    assert_eq!(status(&answer), Some(200), "{answer}");
    drop(s);
    // The default limit (8190): the 100 KB line.
    let s = serve("hard-line-default", 1, "");
    let long = format!(
        "GET /app/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(100_000)
    );
    let answer = exchange(s.port, &[long.as_bytes()], Duration::ZERO);
    assert_eq!(status(&answer), Some(414), "{answer}");
}

/// Finding 5: a malformed chunked body gets 400, and a chunked body over
/// LimitRequestBody 413, before the application answers (it would answer
/// 200, having read what came); a good one reaches it.
#[test]
fn malformed_or_oversized_chunked_bodies_get_400_and_413() {
    let s = serve("hard-chunked", 2, "LimitRequestBody 1000");
    let head = "POST /app/read HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    let good = format!("{head}5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n");
    let answer = exchange(s.port, &[good.as_bytes()], Duration::ZERO);
    assert_eq!(status(&answer), Some(200), "{answer}");
    // (Chunked: "2\r\n10\r\n0\r\n\r\n".)
    assert!(answer.contains("\r\n10\r\n"), "{answer}");
    let bad = format!("{head}5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n");
    let answer = exchange(s.port, &[bad.as_bytes()], Duration::ZERO);
    assert_eq!(status(&answer), Some(400), "{answer}\nlog:\n{}", s.log());
    assert!(
        s.wait_log("[http:info]")
            && s.wait_log("AH01590: Error reading/parsing chunk")
            && s.wait_log(
                "Request data read error when proxying data to daemon process: Unknown error -102."
            ),
        "{}",
        s.log()
    );
    let big = format!("{head}800\r\n{}\r\n0\r\n\r\n", "x".repeat(0x800));
    let answer = exchange(s.port, &[big.as_bytes()], Duration::ZERO);
    assert_eq!(status(&answer), Some(413), "{answer}\nlog:\n{}", s.log());
    assert!(
        s.wait_log("is larger than the configured limit of 1000"),
        "{}",
        s.log()
    );
    assert_eq!(get(&s.url("/app/echo")).0, 200, "log:\n{}", s.log());
}

/// Lingering close: a client that sends its whole body before it reads
/// (as Python's urllib and most simple clients do) gets the 413 of a body
/// over LimitRequestBody, not a reset while it is still sending (real
/// apache2 answers 413 to 3 MB and 30 MB bodies over a 1 MB limit, daemon
/// and embedded mode). And the lingering ends by itself when the client
/// sends nothing more and does not close.
#[test]
fn a_client_still_sending_reads_its_413() {
    let s = serve("hard-linger", 2, "LimitRequestBody 1000000");
    let body = vec![b'x'; 30 << 20];
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    c.set_write_timeout(Some(Duration::from_secs(30)))
        .expect("write timeout");
    let head = format!(
        "POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let sent = c
        .write_all(head.as_bytes())
        .and_then(|()| c.write_all(&body));
    assert!(sent.is_ok(), "the body could not be sent: {sent:?}");
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let answer = String::from_utf8_lossy(&out);
    assert_eq!(status(&answer), Some(413), "{answer}\nlog:\n{}", s.log());

    // This client keeps its side open and is silent: twice the 2 s a
    // lingering close waits for a byte later, the server's side is gone (a
    // byte sent to it is answered with a reset, which fails a later write).
    std::thread::sleep(Duration::from_secs(4));
    let refused = crate::within(Duration::from_secs(5), || c.write_all(b"x").err());
    assert!(
        refused.as_ref().is_some_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        )),
        "{refused:?}"
    );
}

/// A front-end child's resident memory, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Finding 4: clients that ask for a big response and never read it do
/// not hold the daemon's threads, nor (event) the front end's worker
/// slots. The front end takes each response off the daemon (256 KiB in
/// memory, the rest in an unlinked temporary file), so another request to
/// the same group is answered while they wait, the front end's memory
/// stays far below the responses' size, and each such client is let go
/// once a write has waited `Timeout` for it.
#[test]
fn clients_that_never_read_do_not_hold_the_daemon_threads() {
    const CLIENTS: usize = 8;
    const MIB: usize = 16;
    // Two daemon threads; one event child of 4 worker slots, fewer than
    // the stuck clients (their slots are let go once their response is
    // off the daemon: write completion); Timeout 5 for the client writes
    // (and the daemon's socket-timeout, which follows it).
    let s = serve(
        "hard-never-read",
        2,
        "Timeout 5\nStartServers 1\nServerLimit 1\nThreadLimit 4\nThreadsPerChild 4\n\
         MaxRequestWorkers 4\nMinSpareThreads 1\nMaxSpareThreads 8",
    );
    let stuck: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
            c.write_all(format!("GET /app/big?{MIB} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .expect("send");
            c
        })
        .collect();
    // The same group answers meanwhile: its threads are not stuck writing
    // to clients that do not read (before: 504 after socket-timeout).
    let start = std::time::Instant::now();
    let (code, body) = get(&s.url("/app/echo/health"));
    eprintln!("health answered after {:?}", start.elapsed());
    assert_eq!(
        (code, body.as_str()),
        (200, "/echo/health"),
        "log:\n{}",
        s.log()
    );
    for _ in 0..3 {
        assert_eq!(get(&s.url("/app/echo/again")).0, 200, "log:\n{}", s.log());
    }
    // The responses are held outside memory: each front-end child far
    // below one response's size, let alone eight.
    for pid in s.front_ends() {
        let kib = rss_kib(pid);
        eprintln!("front-end child {pid}: {kib} KiB resident");
        assert!(
            kib < (MIB as u64) * 1024 * 3 / 2,
            "front-end child {pid} holds {kib} KiB"
        );
    }
    // Each stuck client is let go after Timeout (5 s) without a read: it
    // gets what the socket buffers held, never the whole response.
    std::thread::sleep(Duration::from_secs(7));
    let start = std::time::Instant::now();
    for mut c in stuck {
        c.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        let ended = loop {
            match c.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        assert!(ended, "the server closed the connection");
        assert!(got < MIB << 20, "{got} bytes: the whole response came");
        eprintln!(
            "a stuck client got {got} bytes, then the end, {:?} after the wait",
            start.elapsed()
        );
    }
}
