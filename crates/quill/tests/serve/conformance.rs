//! PEP 3333 through a real HTTP client: one test per rule, each against
//! its own server (2 processes × 3 threads, the same fixture app), and
//! each twice: in the main interpreter (`%{GLOBAL}`, as `quill express`
//! runs it) and in a sub-interpreter (a named application group, whose
//! bridge is another implementation: crates/quill-daemon/src/subbridge.py).
//! The whole suite runs twice: daemon mode (`conformance`) and embedded
//! mode (`conformance_embedded`, see `crate::mode_args`).

use std::io::Read;

use crate::{Server, TempDir, agent, fd_count, fixtures, get, raw, thread_count};

/// Which interpreter of the daemon process runs the fixture app.
#[derive(Debug, Clone, Copy)]
enum Interp {
    /// `application-group=%{GLOBAL}`.
    Main,
    /// `application-group=conformance`.
    Named,
}

impl Interp {
    /// `mod_wsgi.application_group` as the application sees it.
    fn group(self) -> &'static str {
        match self {
            Interp::Main => "",
            Interp::Named => "conformance",
        }
    }

    /// `quill express SCRIPT ARGS…`, or the same configuration with the
    /// mount's application group named, run by `quill serve`.
    fn express(self, name: &str, args: &[&str]) -> Server {
        let script = fixtures().join("conformance.wsgi");
        match self {
            Interp::Main => Server::express(name, &script, args),
            Interp::Named => Server::express_edited(name, &script, args, |conf| {
                assert!(conf.contains("application-group=%{GLOBAL}"), "{conf}");
                conf.replace(
                    "application-group=%{GLOBAL}",
                    "application-group=conformance",
                )
            }),
        }
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The conformance app under /app, with a static directory under /static.
fn server(interp: Interp) -> (Server, TempDir) {
    let statics = TempDir::new("conformance-static");
    std::fs::write(statics.0.join("hello.txt"), "static hello\n").unwrap();
    let s = interp.express(
        "conformance",
        &[
            crate::mode_args(module_path!()),
            &[
                "--mount-point",
                "/app",
                "--processes",
                "2",
                "--threads",
                "3",
                "--chunked-request",
                "--access-log",
                "--limit-request-body",
                "67108864",
                "--url-alias",
                "/static",
                statics.0.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    (s, statics)
}

/// The processes running the application: the daemon processes, or in
/// embedded mode the front-end children.
fn python_processes(s: &Server) -> Vec<u32> {
    if crate::embedded(module_path!()) {
        s.front_ends()
    } else {
        s.daemons()
    }
}

fn app(s: &Server, p: &str) -> String {
    s.url(&format!("/app{p}"))
}

fn environ_has_cgi_variables_the_mount_split_and_wsgi_keys(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // environ: CGI variables, the SCRIPT_NAME/PATH_INFO split, wsgi.* keys.
    let r = agent()
        .get(&url("/environ/x%20y//z?a=1&b=2"))
        .header("X-Custom", "one")
        .header("X_Under", "dropped")
        .header("Cookie", "a=1")
        .header("Authorization", "Basic secret")
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let e = json(&r.into_body().read_to_string().unwrap());
    assert_eq!(e["REQUEST_METHOD"], "GET");
    assert_eq!(e["SCRIPT_NAME"], "/app");
    assert_eq!(
        e["PATH_INFO"], "/environ/x y/z",
        "decoded, slashes collapsed"
    );
    assert_eq!(e["QUERY_STRING"], "a=1&b=2");
    assert_eq!(e["REQUEST_URI"], "/app/environ/x%20y//z?a=1&b=2");
    assert_eq!(e["SERVER_PROTOCOL"], "HTTP/1.1");
    assert_eq!(e["SERVER_NAME"], "127.0.0.1");
    assert_eq!(e["SERVER_PORT"], s.port.to_string());
    assert_eq!(e["REMOTE_ADDR"], "127.0.0.1");
    assert!(e["REMOTE_PORT"].as_str().unwrap().parse::<u16>().is_ok());
    assert_eq!(e["HTTP_X_CUSTOM"], "one");
    assert!(e.get("HTTP_X_UNDER").is_none(), "names with _ are dropped");
    assert!(
        e.get("HTTP_AUTHORIZATION").is_none(),
        "Authorization hidden by default"
    );
    assert_eq!(e["HTTP_COOKIE"], "a=1");
    assert_eq!(e["wsgi.version"], serde_json::json!([1, 0]));
    assert_eq!(e["wsgi.url_scheme"], "http");
    assert_eq!(e["wsgi.multithread"], true);
    assert_eq!(e["wsgi.multiprocess"], true);
    assert_eq!(e["wsgi.run_once"], false);
    assert_eq!(e["wsgi.input_terminated"], true);
    assert_eq!(e["str_types"], true, "every CGI value is a native str");
    // (Embedded mode's process group is mod_wsgi's "".)
    let group = if crate::embedded(module_path!()) {
        String::new()
    } else {
        format!("localhost:{}", s.port)
    };
    assert_eq!(e["mod_wsgi.process_group"], group);
    assert_eq!(e["mod_wsgi.application_group"], interp.group());
    assert_eq!(
        e["interpreter"],
        interp.group(),
        "the app runs in the interpreter the environ names"
    );
    assert!(
        e["mod_wsgi.request_start"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert!(e["quill.request_start"].as_str().is_some());
    assert!(e.get("CONTENT_LENGTH").is_none());
    // Timing keys: the request was read, then queued for its group.
    let us = |k: &str| -> u64 {
        e[k].as_str()
            .unwrap_or_else(|| panic!("{k} missing"))
            .parse()
            .unwrap_or_else(|_| panic!("{k} not µs"))
    };
    assert!(us("mod_wsgi.queue_start") >= us("mod_wsgi.request_start"));
    assert_eq!(us("quill.queue_start"), us("mod_wsgi.queue_start"));
    assert_eq!(us("quill.request_start"), us("mod_wsgi.request_start"));
    // Quill's names for mod_wsgi's keys carry the same values.
    assert_eq!(e["quill.process_group"], e["mod_wsgi.process_group"]);
    assert_eq!(e["quill.application_group"], interp.group());
    assert_eq!(e["quill.request_id"], e["mod_wsgi.request_id"]);
    let again = json(&get(&url("/environ")).1);
    assert!(!e["quill.request_id"].as_str().unwrap_or("").is_empty());
    assert_ne!(
        again["quill.request_id"], e["quill.request_id"],
        "one id per request"
    );
}

fn repeated_request_headers_are_joined(interp: Interp) {
    let (s, _statics) = server(interp);
    // Repeated headers are joined with ", " (raw request: the client would
    // merge them itself).
    let out = raw(
        s.port,
        b"GET /app/environ HTTP/1.1\r\nHost: x\r\nX-Rep: a\r\nX-Rep: b\r\nConnection: close\r\n\r\n",
    );
    assert!(out.contains("\"HTTP_X_REP\": \"a, b\""), "{out}");
    assert!(out.contains("\"SERVER_NAME\": \"x\""), "{out}");
}

/// A request thread reuses the strings of values that did not change
/// since its last request, and starts each environ as a copy of the items
/// that stayed the same for a few requests (crates/quill-daemon/src/bridge.rs,
/// `EnvironCache`): every request still sees its own values, whether they
/// repeat, alternate, change every time, are long, change after a long
/// run, or stop coming after one.
fn environ_values_are_each_requests_own(interp: Interp) {
    let (s, _statics) = server(interp);
    let agent = agent();
    let long_a = "a".repeat(300);
    let long_b = "b".repeat(300);
    for i in 0..48 {
        let seq = ["same", "same", "other", "same", "third"][i % 5];
        let long = if i % 3 == 0 { &long_a } else { &long_b };
        // Names come and go, so that the same name comes at another
        // place in the environ from one request to the next.
        let mut req = agent.get(&app(&s, &format!("/environ?n={i}")));
        if i % 2 == 0 {
            req = req.header("X-Even", "yes");
        }
        // Present for twelve requests, absent for twelve, and so on.
        let run = (i / 12) % 2 == 0;
        if run {
            req = req.header("X-Run", "steady");
        }
        // Changes in the request where X-Run stops coming again.
        let phase = if i < 36 { "one" } else { "two" };
        let which = format!("X-Which-{}", i % 3);
        let r = req
            .header(&which, "1")
            .header("X-Seq", seq)
            .header("X-Long", long)
            .header("X-Count", i.to_string())
            .header("X-Phase", phase)
            .call()
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        let e = json(&r.into_body().read_to_string().expect("body"));
        let even = e.get("HTTP_X_EVEN").and_then(|v| v.as_str());
        assert_eq!(even, (i % 2 == 0).then_some("yes"), "request {i}");
        for k in 0..3 {
            let got = e.get(format!("HTTP_X_WHICH_{k}")).and_then(|v| v.as_str());
            assert_eq!(got, (i % 3 == k).then_some("1"), "request {i}, X-Which-{k}");
        }
        let got = e.get("HTTP_X_RUN").and_then(|v| v.as_str());
        assert_eq!(got, run.then_some("steady"), "request {i}, X-Run");
        assert_eq!(e["HTTP_X_PHASE"], phase, "request {i}");
        assert_eq!(e["HTTP_X_SEQ"], seq, "request {i}");
        assert_eq!(e["HTTP_X_LONG"], long.as_str(), "request {i}");
        assert_eq!(e["HTTP_X_COUNT"], i.to_string(), "request {i}");
        assert_eq!(e["QUERY_STRING"], format!("n={i}"), "request {i}");
    }
    assert_eq!(s.stop(), Some(0));
}

fn wsgi_input_read_never_goes_past_the_body(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // wsgi.input: read() with and without a size, never past the body.
    let mut r = agent()
        .post(&url("/read-sized"))
        .send(&b"abcdefghij"[..])
        .unwrap();
    let (st, body) = (r.status().as_u16(), r.body_mut().read_to_string().unwrap());
    assert_eq!(st, 200);
    let v = json(&body);
    assert_eq!(v["first"], "abc");
    assert_eq!(v["rest"], 7);
    assert_eq!(v["after"], "", "reading past the body gives b''");
    let mut r = agent().post(&url("/echo")).send(&b"echo me"[..]).unwrap();
    assert_eq!(r.body_mut().read_to_string().unwrap(), "echo me");
}

/// A body the application leaves unread, whole or in part, is read and
/// thrown away, as httpd does after mod_wsgi's handler: the client can
/// send all of it, and the connection answers the next request. (Real
/// apache2 with mod_wsgi, daemon and embedded mode, answers all four of
/// these requests on one connection.)
fn a_body_left_unread_is_discarded_and_the_connection_kept(interp: Interp) {
    use std::io::Write;
    let (s, _statics) = server(interp);
    let big = vec![b'a'; 3 << 20];
    let mut chunked = Vec::new();
    for piece in big.chunks(64 << 10) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let mut requests = Vec::new();
    for (path, framing, body) in [
        ("/app/write", format!("Content-Length: {}", big.len()), &big),
        (
            "/app/read-some",
            "Transfer-Encoding: chunked".into(),
            &chunked,
        ),
        ("/app/write", "Transfer-Encoding: chunked".into(), &chunked),
    ] {
        requests.extend_from_slice(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n").as_bytes(),
        );
        requests.extend_from_slice(body);
    }
    requests.extend_from_slice(b"GET /app/write HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    let timeout = Some(std::time::Duration::from_secs(30));
    conn.set_read_timeout(timeout).expect("timeout");
    conn.set_write_timeout(timeout).expect("timeout");
    // Answers are read while the bodies go out, as a client does.
    let mut reader = conn.try_clone().expect("clone");
    let answers = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    let sent = conn.write_all(&requests);
    let out = answers.join().expect("reader");
    assert!(sent.is_ok(), "the client could not send it all: {sent:?}");
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 4, "{out}");
    assert_eq!(
        out.matches("aaaaa").count(),
        1,
        "the five bytes read: {out}"
    );
    assert_eq!(s.stop(), Some(0));
}

fn wsgi_input_readline_readlines_and_iteration(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // readline (with a size), readlines, iteration.
    let mut r = agent()
        .post(&url("/lines"))
        .send(&b"line1\nline2\nline3\nline4"[..])
        .unwrap();
    let v = json(&r.body_mut().read_to_string().unwrap());
    assert_eq!(v["one"], "line1\n");
    assert_eq!(v["limited"], "li");
    assert_eq!(v["rest"], "ne2\n");
    assert_eq!(v["remaining"], serde_json::json!(["line3\n", "line4"]));
    let mut r = agent().post(&url("/iterate")).send(&b"a\nb\n"[..]).unwrap();
    assert_eq!(
        json(&r.body_mut().read_to_string().unwrap())["lines"],
        serde_json::json!(["a\n", "b\n"])
    );
}

fn a_chunked_request_body_reads_to_its_end(interp: Interp) {
    let (s, _statics) = server(interp);
    // A chunked request body (no Content-Length) reads to its end.
    let out = raw(
        s.port,
        b"POST /app/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("hello world"), "{out}");
}

fn bodies_stream_both_ways_without_being_buffered_whole(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // Bodies stream both ways: 32 MiB up and down, never buffered whole:
    // afterwards no process's peak RSS stands 16 MiB above its current
    // one (a whole body in memory would have raised the peak by 32 MiB,
    // and blocks that large go back to the system when freed).
    let kb = |pid: u32, key: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|st| {
                st.lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    };
    let upload = vec![7u8; 32 << 20];
    let mut r = agent().post(&url("/count")).send(&upload[..]).unwrap();
    assert_eq!(
        json(&r.body_mut().read_to_string().unwrap())["total"],
        32 << 20
    );
    let mut r = agent().get(&url("/big?512")).call().unwrap();
    let mut n = 0usize;
    let mut reader = r.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = reader.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        n += k;
    }
    assert_eq!(n, 512 * 65536);
    for pid in std::iter::once(s.pid()).chain(s.daemons()) {
        let (peak, now) = (kb(pid, "VmHWM:"), kb(pid, "VmRSS:"));
        assert!(
            peak.saturating_sub(now) < 16 << 10,
            "process {pid}: peak RSS {peak} KiB, now {now} KiB"
        );
    }
}

/// SHA-256 of `data`, by coreutils' `sha256sum`.
fn sha256(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("sha256sum output");
    writer.join().expect("writer").expect("write to sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

fn large_bodies_arrive_whole_and_in_order(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // Up: pseudo-random bytes (xorshift), an odd length, read by the
    // application in pieces smaller than, equal to and larger than the
    // wire protocol's 64 KiB body frames, and in one read().
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let body: Vec<u8> = (0..(3 << 20) + 12_345)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let digest = sha256(&body);
    for size in ["1000", "65536", "100003", ""] {
        let mut r = agent()
            .post(&url(&format!("/digest?{size}")))
            .send(&body[..])
            .unwrap();
        let v = json(&r.body_mut().read_to_string().unwrap());
        assert_eq!(v["total"], body.len(), "read({size})");
        assert_eq!(v["sha256"], digest.as_str(), "read({size})");
        if let Ok(n) = size.parse::<usize>() {
            // Every read but the last two is full.
            assert_eq!(v["reads"], body.len().div_ceil(n) + 1, "read({size})");
        }
    }
    // Up, chunked: the first MiB in chunks of 1 byte to more than a
    // frame, many of them smaller than anything worth a write of its own.
    let part = &body[..1 << 20];
    let mut request =
        b"POST /app/digest?65536 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    let (mut at, mut i) = (0, 0);
    while at < part.len() {
        let n = [1, 13, 4096, 70_001, 2][i % 5].min(part.len() - at);
        request.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        request.extend_from_slice(&part[at..at + n]);
        request.extend_from_slice(b"\r\n");
        (at, i) = (at + n, i + 1);
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let out = raw(s.port, &request);
    // (The answer is chunked: its one chunk is the JSON object.)
    let v = json(
        out.get(out.find('{').unwrap_or(0)..=out.rfind('}').unwrap_or(0))
            .unwrap_or(&out),
    );
    assert_eq!(v["total"], part.len(), "{out}");
    assert_eq!(v["sha256"], sha256(part).as_str());
    // Down: pieces of 1 byte to more than a frame, each in order.
    let mut r = agent()
        .get(&url("/pattern?5000000&1,70000,65536,3,200000,4096"))
        .call()
        .unwrap();
    let want = r.headers()["x-sha256"].to_str().unwrap().to_string();
    let mut got = Vec::new();
    r.body_mut()
        .as_reader()
        .read_to_end(&mut got)
        .expect("the response body");
    assert_eq!(got.len(), 5_000_000);
    assert_eq!(sha256(&got), want);
}

fn write_then_iterable_and_close_is_always_called(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // write() then iterable; empty chunks skipped; close() always called.
    assert_eq!(get(&url("/write")), (200, "written-iterated".into()));
    let before = json(&get(&url("/closed")).1)["n"].as_u64().unwrap();
    assert_eq!(get(&url("/close")), (200, "ab".into()));
    // /closed may hit the other process: ask until this process answers.
    let mut closed_seen = false;
    for _ in 0..20 {
        if json(&get(&url("/closed")).1)["n"].as_u64().unwrap() > before {
            closed_seen = true;
            break;
        }
    }
    assert!(closed_seen, "close() was called");
    let (st, body) = get(&url("/generator"));
    assert_eq!(st, 200);
    assert_eq!(body.lines().count(), 1000);
}

fn reason_phrases_and_repeated_response_headers_pass_through(interp: Interp) {
    let (s, _statics) = server(interp);
    // Custom reason phrases and repeated response headers pass through.
    let out = raw(
        s.port,
        b"GET /app/reason HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 299 Custom Thing\r\n"), "{out}");
    assert!(
        out.contains("x-multi: 1\r\n") && out.contains("x-multi: 2\r\n"),
        "{out}"
    );
}

fn content_length_from_the_app_drops_excess_bytes(interp: Interp) {
    let (s, _statics) = server(interp);
    // Content-Length from the app: excess bytes dropped.
    let out = raw(
        s.port,
        b"GET /app/content-length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(out.ends_with("\r\n\r\n01234"), "{out}");
}

fn exc_info_replaces_the_status_before_the_head_and_cuts_after(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // exc_info: replaces the status before the head was sent …
    assert_eq!(get(&url("/exc-info")), (503, "replaced".into()));
    // … and re-raises after it was sent (the response is cut).
    let out = raw(
        s.port,
        b"GET /app/exc-info-late HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(out.is_empty() || out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        !out.ends_with("0\r\n\r\n"),
        "no valid end of a chunked body: {out}"
    );
}

fn application_errors_give_500_or_a_visible_truncation(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // Application errors: 500 before the head; after it, the connection ends
    // without a valid end (no terminating chunk).
    for path in [
        "/raise-before",
        "/twice",
        "/hop",
        "/bad-status",
        "/bad-value",
        "/headers-tuple",
        "/not-bytes",
        "/close-not-bytes",
        "/no-start",
    ] {
        let (st, _) = get(&url(path));
        assert_eq!(st, 500, "{path}");
    }
    let out = raw(
        s.port,
        b"GET /app/raise-after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    // hyper may drop the connection before it flushed the head: either
    // way the client sees no complete response.
    assert!(out.is_empty() || out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        !out.ends_with("0\r\n\r\n"),
        "truncation must be visible: {out}"
    );
    assert!(
        s.wait_log("Exception occurred processing WSGI script"),
        "traceback logged"
    );
    assert!(s.log().contains("RuntimeError: boom before headers"));
    assert!(s.log().contains("hop-by-hop header"));
}

fn file_wrapper_sends_the_file_from_its_position(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // wsgi.file_wrapper: a real file from its position (sendfile), with
    // Content-Length; a file-like without a descriptor is iterated.
    let script = std::fs::read(fixtures().join("conformance.wsgi")).unwrap();
    let r = agent().get(&url("/file")).call().unwrap();
    assert_eq!(
        r.headers().get("content-length").unwrap().to_str().unwrap(),
        (script.len() - 10).to_string()
    );
    assert_eq!(r.into_body().read_to_vec().unwrap(), script[10..].to_vec());
    assert_eq!(get(&url("/file-iter")), (200, "onetwo".into()));
}

fn wsgi_errors_and_print_go_to_the_error_log_with_the_client(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // wsgi.errors and print() go to the error log with the request's client.
    assert_eq!(get(&url("/errors")).0, 200);
    assert!(s.wait_log("conformance wsgi.errors line"));
    assert!(s.log().lines().any(|l| l.contains("[remote 127.0.0.1:") && l.contains("conformance wsgi.errors line")), "{}", s.log());
    assert!(s.wait_log("conformance print line"));
}

fn static_files_via_url_alias(interp: Interp) {
    let (s, _statics) = server(interp);
    // Static files via Alias, served by the front end.
    assert_eq!(
        get(&s.url("/static/hello.txt")),
        (200, "static hello\n".into())
    );
    assert_eq!(get(&s.url("/static/missing.txt")).0, 404);
    assert_eq!(get(&s.url("/elsewhere")).0, 404);
}

fn malformed_http_gets_400_431_413_501_and_nothing_else_is_disturbed(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // Malformed HTTP: 400, 431, 413, 411/501 — and nothing else disturbed.
    let out = raw(s.port, b"GARBAGE\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    let huge = format!(
        "GET /app/environ HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let out = raw(s.port, huge.as_bytes());
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    let out = raw(
        s.port,
        b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    let out = raw(
        s.port,
        b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    let out = raw(s.port, b"POST /app/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n");
    assert!(
        out.starts_with("HTTP/1.1 501") || out.starts_with("HTTP/1.1 400"),
        "{out}"
    );
    // The server, its daemons and other clients carry on.
    assert_eq!(get(&url("/write")), (200, "written-iterated".into()));
    assert_eq!(python_processes(&s).len(), 2);
}

fn keep_alive_and_the_combined_access_log(interp: Interp) {
    let (s, _statics) = server(interp);
    // Keep-alive: several requests on one connection.
    let out = raw(
        s.port,
        b"GET /app/write HTTP/1.1\r\nHost: x\r\n\r\nGET /app/write HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(out.matches("HTTP/1.1 200").count(), 2, "{out}");

    // The access log: combined format with %D.
    assert!(s.wait_log("\"GET /app/write HTTP/1.1\" 200"));
}

fn nothing_leaks_and_the_server_stops_cleanly(interp: Interp) {
    let (s, _statics) = server(interp);
    let url = |p: &str| app(&s, p);
    // Nothing leaks in the supervisor across many requests.
    let (fds, threads) = (fd_count(s.pid()), thread_count(s.pid()));
    for _ in 0..200 {
        assert_eq!(get(&url("/write")).0, 200);
    }
    assert!(
        fd_count(s.pid()) <= fds + 2,
        "fds {} → {}",
        fds,
        fd_count(s.pid())
    );
    assert!(thread_count(s.pid()) <= threads + 2);
    let daemons = python_processes(&s);
    assert_eq!(
        daemons.len(),
        2,
        "two daemon processes (embedded: children)"
    );
    assert_eq!(s.stop(), Some(0), "clean stop");
    for d in daemons {
        assert!(
            !std::path::Path::new(&format!("/proc/{d}")).exists()
                || std::fs::read_to_string(format!("/proc/{d}/stat"))
                    .map(|s| s.contains(") Z"))
                    .unwrap_or(true),
            "daemon {d} gone"
        );
    }
}

fn multithread_and_multiprocess_follow_the_group(interp: Interp) {
    // One thread, and no processes= at all (mod_wsgi: giving it, even
    // `processes=1`, makes wsgi.multiprocess True): both False.
    let s = interp.express(
        "conformance-single",
        &["--mount-point", "/app", "--threads", "1"],
    );
    let e = json(&get(&app(&s, "/environ")).1);
    assert_eq!(e["wsgi.multithread"], false);
    assert_eq!(e["wsgi.multiprocess"], false);
    assert_eq!(s.stop(), Some(0));
}

/// Every rule in both interpreters: `main_interpreter::RULE` and
/// `sub_interpreter::RULE`.
macro_rules! in_each_interpreter {
    ($($rule:ident),* $(,)?) => {
        mod main_interpreter {
            $(#[test]
            fn $rule() {
                super::$rule(super::Interp::Main)
            })*
        }
        mod sub_interpreter {
            $(#[test]
            fn $rule() {
                super::$rule(super::Interp::Named)
            })*
        }
    };
}

in_each_interpreter!(
    environ_has_cgi_variables_the_mount_split_and_wsgi_keys,
    repeated_request_headers_are_joined,
    environ_values_are_each_requests_own,
    wsgi_input_read_never_goes_past_the_body,
    a_body_left_unread_is_discarded_and_the_connection_kept,
    wsgi_input_readline_readlines_and_iteration,
    a_chunked_request_body_reads_to_its_end,
    bodies_stream_both_ways_without_being_buffered_whole,
    large_bodies_arrive_whole_and_in_order,
    write_then_iterable_and_close_is_always_called,
    reason_phrases_and_repeated_response_headers_pass_through,
    content_length_from_the_app_drops_excess_bytes,
    exc_info_replaces_the_status_before_the_head_and_cuts_after,
    application_errors_give_500_or_a_visible_truncation,
    file_wrapper_sends_the_file_from_its_position,
    wsgi_errors_and_print_go_to_the_error_log_with_the_client,
    static_files_via_url_alias,
    malformed_http_gets_400_431_413_501_and_nothing_else_is_disturbed,
    keep_alive_and_the_combined_access_log,
    nothing_leaks_and_the_server_stops_cleanly,
    multithread_and_multiprocess_follow_the_group,
);
