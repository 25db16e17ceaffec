//! TLS and HTTP/2 in `quill serve`, with real clients: curl (`--resolve`
//! for SNI, `--http2`), `openssl s_client -servername`, Python's
//! `ssl`/`http.client`, and nghttp2's h2load (Debian's nghttp2-client,
//! which scripts/test installs). Certificates are made in each test's
//! temporary directory with the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Server, TempDir, free_port, get};

/// A self-signed certificate for `name` (EC P-256) in `dir`:
/// `NAME.crt` and `NAME.key`.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj"])
        .arg(format!("/O=Quill Test/CN={name}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{name}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (crt, key)
}

/// A WSGI script that answers its environ's text values and its pid as
/// JSON.
fn environ_app(path: &Path) {
    std::fs::write(
        path,
        "import json, os\n\
         def application(environ, start_response):\n\
         \x20   env = {k: v for k, v in environ.items() if isinstance(v, str)}\n\
         \x20   env['pid'] = os.getpid()\n\
         \x20   body = json.dumps(env).encode()\n\
         \x20   start_response('200 OK', [('Content-Type', 'application/json')])\n\
         \x20   return [body]\n",
    )
    .expect("write the app");
}

/// curl's output, bounded in time; `-w` text last when asked for.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// GET `url` with curl, trusting `ca`, resolving `host:port` to
/// 127.0.0.1: (status, HTTP version, body).
fn https(ca: &Path, host: &str, port: u16, path: &str, extra: &[&str]) -> (u16, String, String) {
    let resolve = format!("{host}:{port}:127.0.0.1");
    let url = format!("https://{host}:{port}{path}");
    let mut args = vec![
        "--cacert",
        ca.to_str().expect("path"),
        "--resolve",
        &resolve,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-w", "\n%{http_code} %{http_version}", &url]);
    let out = curl(&args);
    let (body, tail) = out.rsplit_once('\n').unwrap_or(("", &out));
    let mut t = tail.split(' ');
    let status = t.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, t.next().unwrap_or("").to_string(), body.to_string())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// `openssl s_client`'s view of a handshake: the certificate's subject,
/// protocol and cipher lines, and its serial number.
fn s_client(port: u16, servername: Option<&str>, extra: &[&str]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    if let Some(n) = servername {
        cmd.args(["-servername", n]);
    }
    let out = cmd
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn subject(s_client_out: &str) -> String {
    s_client_out
        .lines()
        .find_map(|l| l.strip_prefix("subject="))
        .unwrap_or("(no certificate)")
        .to_string()
}

/// The corrected configuration of the seed thread (examples/configs/
/// the-thread-corrected) served as written, but for what one machine
/// without root needs: its two ports on 127.0.0.1 (free ones), no
/// `user=`/`group=`, a stand-in for /path/to/django.wsgi, and the
/// certificate lines its `# SSLCertificateFile …` comment leaves to the
/// reader. Its HTTP and HTTPS virtual hosts answer with the same daemon
/// processes (the HTTPS one delegates to the HTTP one's group); it says
/// nothing of HTTP/2, so curl --http2 gets HTTP/1.1.
#[test]
fn the_seed_s_corrected_configuration_is_served_over_http_and_https() {
    let root = TempDir::new("serve-tls-seed");
    let r = root.0.clone();
    let (crt, key) = certificate(&r, "www.example.com");
    environ_app(&r.join("django.wsgi"));
    std::fs::create_dir_all(r.join("logs")).expect("logs dir");
    let (p80, p443) = (free_port(), free_port());
    let seed_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/configs/the-thread-corrected/httpd.conf");
    let seed = std::fs::read_to_string(seed_path).expect("the seed's corrected configuration");
    let conf_text = seed
        .replace("Listen 80\n", &format!("Listen 127.0.0.1:{p80}\n"))
        .replace("Listen 443\n", &format!("Listen 127.0.0.1:{p443}\n"))
        .replace("<VirtualHost *:80>", &format!("<VirtualHost *:{p80}>"))
        .replace("<VirtualHost *:443>", &format!("<VirtualHost *:{p443}>"))
        .replace(" user=http group=http", "")
        .replace(
            "/path/to/django.wsgi",
            &r.join("django.wsgi").display().to_string(),
        )
        .replace(
            "    # SSLCertificateFile / SSLCertificateKeyFile …\n",
            &format!(
                "    SSLCertificateFile {}\n    SSLCertificateKeyFile {}\n",
                crt.display(),
                key.display()
            ),
        );
    assert!(
        conf_text.contains("SSLCertificateKeyFile"),
        "the seed has changed:\n{seed}"
    );
    let conf = r.join("httpd.conf");
    std::fs::write(
        &conf,
        format!("ServerRoot \"{}\"\n{conf_text}", r.display()),
    )
    .expect("write");
    let s = Server::serve(root, &conf, p80);

    let mut http_pids = std::collections::BTreeSet::new();
    let mut https_pids = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let (status, body) = get(&s.url("/app"));
        assert_eq!(status, 200, "{body}");
        let e = json(&body);
        assert_eq!(e["wsgi.url_scheme"], "http");
        assert_eq!(e["mod_wsgi.process_group"], "app1");
        http_pids.insert(e["pid"].as_u64().expect("pid"));

        let (status, version, body) = https(&crt, "www.example.com", p443, "/app", &["--http2"]);
        assert_eq!(
            (status, version.as_str()),
            (200, "1.1"),
            "{body}\n{}",
            s.log()
        );
        let e = json(&body);
        assert_eq!(e["wsgi.url_scheme"], "https");
        assert_eq!(e["REQUEST_SCHEME"], "https");
        assert_eq!(e["SERVER_NAME"], "www.example.com");
        assert_eq!(e["SERVER_PORT"], p443.to_string());
        assert_eq!(e["SSL_TLS_SNI"], "www.example.com");
        assert!(
            e.get("HTTPS").is_none(),
            "mod_wsgi does not pass HTTPS on: {body}"
        );
        assert!(
            e.get("SSL_PROTOCOL").is_none(),
            "no SSLOptions +StdEnvVars: {body}"
        );
        assert_eq!(e["mod_wsgi.process_group"], "app1");
        https_pids.insert(e["pid"].as_u64().expect("pid"));
    }
    let daemons: std::collections::BTreeSet<u64> =
        s.wait_daemons(10).into_iter().map(u64::from).collect();
    assert_eq!(
        daemons.len(),
        10,
        "one group of processes=10, for both virtual hosts"
    );
    assert!(
        http_pids.is_subset(&daemons) && https_pids.is_subset(&daemons),
        "HTTP {http_pids:?} and HTTPS {https_pids:?} are answered by the group's processes {daemons:?}"
    );
}

/// Two name-based virtual hosts on one TLS address, each with its own
/// certificate; HTTP/2 offered by the first only; SSLProtocol and
/// SSLCipherSuite on the second; a plain HTTP listener beside them.
fn two_sites(r: &Path) -> (PathBuf, u16, u16) {
    let (a_crt, a_key) = certificate(r, "a.example");
    let (b_crt, b_key) = certificate(r, "b.example");
    environ_app(&r.join("env.wsgi"));
    // Its iterable's close() waits (at most 60 s) for the file `release`:
    // the response, whole by its Content-Length, must reach the client
    // before the daemon's end of response does.
    std::fs::write(
        r.join("slow_close.wsgi"),
        format!(
            "import os, time\n\
             class Body:\n\
             \x20   def __iter__(self):\n\
             \x20       yield b'done'\n\
             \x20   def close(self):\n\
             \x20       end = time.time() + 60\n\
             \x20       while not os.path.exists({release:?}) and time.time() < end:\n\
             \x20           time.sleep(0.02)\n\
             def application(environ, start_response):\n\
             \x20   start_response('200 OK', [('Content-Length', '4')])\n\
             \x20   return Body()\n",
            release = r.join("release").display().to_string(),
        ),
    )
    .expect("write the app");
    let (p_http, p_tls) = (free_port(), free_port());
    let rd = r.display();
    let conf = r.join("httpd.conf");
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{rd}"
ServerName localhost
Listen 127.0.0.1:{p_http}
Listen 127.0.0.1:{p_tls}
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule ssl_module modules/mod_ssl.so
LoadModule http2_module modules/mod_http2.so
LoadModule wsgi_module modules/mod_wsgi.so
StartServers 1
WSGISocketPrefix "{rd}/wsgi"
WSGIDaemonProcess shared processes=1 threads=4
WSGIScriptAlias /slow-close "{rd}/slow_close.wsgi" process-group=shared application-group=%{{GLOBAL}}
WSGIScriptAlias / "{rd}/env.wsgi" process-group=shared application-group=%{{GLOBAL}}

<VirtualHost *:{p_tls}>
    ServerName a.example
    Protocols h2 http/1.1
    SSLEngine on
    SSLCertificateFile "{a_crt}"
    SSLCertificateKeyFile "{a_key}"
    SSLOptions +StdEnvVars
</VirtualHost>
<VirtualHost *:{p_tls}>
    ServerName b.example
    SSLEngine on
    SSLCertificateFile "{b_crt}"
    SSLCertificateKeyFile "{b_key}"
    SSLProtocol TLSv1.1 +TLSv1.2
    SSLCipherSuite ECDHE-ECDSA-AES128-GCM-SHA256:AES128-SHA
</VirtualHost>
"#,
            a_crt = a_crt.display(),
            a_key = a_key.display(),
            b_crt = b_crt.display(),
            b_key = b_key.display(),
        ),
    )
    .expect("write the config");
    (conf, p_http, p_tls)
}

#[test]
fn sni_chooses_the_virtual_host_and_its_certificate() {
    let root = TempDir::new("serve-tls-sni");
    let r = root.0.clone();
    let (conf, p_http, p_tls) = two_sites(&r);
    let s = Server::serve(root, &conf, p_http);
    let (a, b) = (r.join("a.example.crt"), r.join("b.example.crt"));

    // openssl s_client: the SNI name chooses the certificate; none, or an
    // unknown one, gets the address's default (the first virtual host).
    assert!(subject(&s_client(p_tls, Some("a.example"), &[])).contains("CN = a.example"));
    assert!(subject(&s_client(p_tls, Some("b.example"), &[])).contains("CN = b.example"));
    assert!(subject(&s_client(p_tls, Some("other.example"), &[])).contains("CN = a.example"));
    assert!(subject(&s_client(p_tls, None, &["-noservername"])).contains("CN = a.example"));

    // SSLProtocol and SSLCipherSuite of b.example: TLS 1.2, its one
    // suite rustls has; TLS 1.3 refused.
    let b12 = s_client(p_tls, Some("b.example"), &[]);
    assert!(b12.contains("Protocol  : TLSv1.2"), "{b12}");
    assert!(
        b12.contains("Cipher    : ECDHE-ECDSA-AES128-GCM-SHA256"),
        "{b12}"
    );
    let b13 = s_client(p_tls, Some("b.example"), &["-tls1_3"]);
    assert_eq!(subject(&b13), "(no certificate)", "{b13}");
    // What rustls cannot do is said at start-up, with file and line.
    let conf_at = format!("{}:", conf.display());
    assert!(
        s.log()
            .lines()
            .any(|l| l.contains("rustls does not speak TLSv1.1") && l.contains(&conf_at)),
        "{}",
        s.log()
    );
    assert!(
        s.log()
            .contains("rustls has no cipher suite among AES128-SHA"),
        "{}",
        s.log()
    );

    // curl with SNI: each virtual host with its own environ.
    let (status, version, body) = https(&a, "a.example", p_tls, "/x?q=1", &["--http1.1"]);
    assert_eq!((status, version.as_str()), (200, "1.1"), "{body}");
    let e = json(&body);
    assert_eq!(e["SERVER_NAME"], "a.example");
    assert_eq!(e["SERVER_PROTOCOL"], "HTTP/1.1");
    assert_eq!(e["SSL_TLS_SNI"], "a.example");
    // +StdEnvVars on a.example: mod_ssl's variables.
    assert_eq!(e["SSL_PROTOCOL"], "TLSv1.3");
    assert_eq!(e["SSL_CIPHER"], "TLS_AES_256_GCM_SHA384");
    assert_eq!(e["SSL_SERVER_S_DN"], "CN=a.example,O=Quill Test");
    assert_eq!(e["SSL_SERVER_S_DN_CN"], "a.example");
    assert_eq!(e["SSL_SERVER_SAN_DNS_0"], "a.example");
    assert_eq!(e["SSL_SESSION_RESUMED"], "Initial");
    let (status, _, body) = https(&b, "b.example", p_tls, "/", &[]);
    assert_eq!(status, 200, "{body}");
    let e = json(&body);
    assert_eq!(e["SERVER_NAME"], "b.example");
    assert!(
        e.get("SSL_PROTOCOL").is_none(),
        "no StdEnvVars on b.example: {body}"
    );

    // A Host that names a server with other TLS than the SNI one: 421
    // and mod_ssl's line; without SNI, the default's TLS is the one.
    let (status, _, body) = https(&a, "a.example", p_tls, "/", &["-H", "Host: b.example"]);
    assert_eq!(status, 421, "{body}");
    assert!(
        body.contains("<title>421 Misdirected Request</title>"),
        "{body}"
    );
    assert!(s.wait_log(
        "AH02032: Hostname a.example provided via SNI and hostname b.example provided via HTTP have no compatible SSL setup"
    ));
    let no_sni = curl(&[
        "-k",
        "--http1.1",
        "-H",
        "Host: b.example",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("https://127.0.0.1:{p_tls}/"),
    ]);
    assert_eq!(no_sni, "421");
    assert!(s.wait_log("AH02032: Hostname a.example (default host as no SNI was provided)"));
    // A Host no server has goes to the default, whose TLS is the SNI one.
    let (status, _, _) = https(&a, "a.example", p_tls, "/", &["-H", "Host: c.example"]);
    assert_eq!(status, 200);

    // Plain HTTP beside it, from the same daemon.
    let (status, body) = get(&s.url("/"));
    assert_eq!(status, 200);
    assert_eq!(json(&body)["wsgi.url_scheme"], "http");
}

#[test]
fn http2_where_protocols_says_so() {
    let root = TempDir::new("serve-tls-h2");
    let r = root.0.clone();
    let (conf, p_http, p_tls) = two_sites(&r);
    let s = Server::serve(root, &conf, p_http);
    let (a, b) = (r.join("a.example.crt"), r.join("b.example.crt"));

    let (status, version, body) = https(&a, "a.example", p_tls, "/h2?x=1", &["--http2"]);
    assert_eq!(
        (status, version.as_str()),
        (200, "2"),
        "{body}\n{}",
        s.log()
    );
    let e = json(&body);
    // What mod_wsgi reports under mod_http2.
    assert_eq!(e["SERVER_PROTOCOL"], "HTTP/2.0");
    assert_eq!(e["HTTP2"], "on");
    assert_eq!(e["REQUEST_URI"], "/h2?x=1");
    assert_eq!(e["SERVER_NAME"], "a.example");
    assert_eq!(e["wsgi.url_scheme"], "https");
    // A body over HTTP/2.
    let (status, _, body) = https(
        &a,
        "a.example",
        p_tls,
        "/post",
        &["--http2", "--data-binary", "0123456789"],
    );
    assert_eq!(status, 200);
    assert_eq!(json(&body)["CONTENT_LENGTH"], "10");
    // An HTTP/2 stream ends with the response's Content-Length, not with
    // the application's close() (as an HTTP/1.1 response does): this one
    // would otherwise end only when the test's next step makes the file
    // close() waits for. (nghttp, of nghttp2-client, waits for the
    // stream's end; curl stops at the Content-Length.)
    if Path::new("/usr/bin/nghttp").exists() {
        let out = Command::new("timeout")
            .args(["20", "nghttp"])
            .arg(format!("https://127.0.0.1:{p_tls}/slow-close"))
            .stdin(Stdio::null())
            .output()
            .expect("run nghttp");
        std::fs::write(r.join("release"), "").expect("release close()");
        assert!(out.status.success(), "nghttp: {out:?}\n{}", s.log());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "done");
    } else {
        eprintln!("SKIPPED: nghttp is missing (apt-get install nghttp2-client; scripts/test does)");
    }
    // b.example does not offer h2: HTTP/1.1.
    let (status, version, _) = https(&b, "b.example", p_tls, "/", &["--http2"]);
    assert_eq!((status, version.as_str()), (200, "1.1"));

    // Python's ssl and http.client, verifying the certificate.
    let script = format!(
        "import http.client, json, socket, ssl\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         c = http.client.HTTPSConnection('a.example', {p_tls}, context=ctx, timeout=30)\n\
         raw = socket.create_connection(('127.0.0.1', {p_tls}), timeout=30)\n\
         c.sock = ctx.wrap_socket(raw, server_hostname='a.example')\n\
         c.request('GET', '/py')\n\
         r = c.getresponse()\n\
         e = json.loads(r.read())\n\
         print(r.status, c.sock.version(), e['SSL_PROTOCOL'], e['SSL_TLS_SNI'], e['wsgi.url_scheme'])\n",
        ca = a.display().to_string(),
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "200 TLSv1.3 TLSv1.3 a.example https",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // h2load: many streams on few connections, every one answered.
    if !Path::new("/usr/bin/h2load").exists() {
        eprintln!("SKIPPED: h2load is missing (apt-get install nghttp2-client; scripts/test does)");
        return;
    }
    let out = Command::new("timeout")
        .args(["60", "h2load", "-n", "300", "-c", "3", "-m", "10"])
        .arg(format!("https://127.0.0.1:{p_tls}/load"))
        .stdin(Stdio::null())
        .output()
        .expect("run h2load");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Application protocol: h2"), "{text}");
    assert!(
        text.contains("requests: 300 total, 300 started, 300 done, 300 succeeded, 0 failed"),
        "{text}"
    );
    assert!(text.contains("status codes: 300 2xx"), "{text}");

    // Bodies the application never reads (this one answers from environ
    // alone), on streams that share connections: every one answered.
    let upload = r.join("upload.bin");
    std::fs::write(&upload, vec![b'u'; 200 << 10]).expect("write the upload");
    let out = Command::new("timeout")
        .args(["60", "h2load", "-n", "60", "-c", "2", "-m", "10", "-d"])
        .arg(&upload)
        .arg(format!("https://127.0.0.1:{p_tls}/unread"))
        .stdin(Stdio::null())
        .output()
        .expect("run h2load");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("requests: 60 total, 60 started, 60 done, 60 succeeded, 0 failed"),
        "{text}\n{}",
        s.log()
    );
}

/// A graceful restart (SIGUSR1) reads the certificate files afresh for
/// its new generation of front-end children; one whose files are
/// unusable is logged and keeps the certificates in use.
#[test]
fn a_graceful_restart_reads_renewed_certificates() {
    let root = TempDir::new("serve-tls-renew");
    let r = root.0.clone();
    let (conf, p_http, p_tls) = two_sites(&r);
    let s = Server::serve(root, &conf, p_http);
    // The certificate the server sent, as PEM.
    let serial = |out: &str| {
        let start = out.find("-----BEGIN CERTIFICATE-----")?;
        let end = "-----END CERTIFICATE-----";
        let len = out[start..].find(end)? + end.len();
        Some(out[start..start + len].to_string())
    };
    let before = serial(&s_client(p_tls, Some("a.example"), &[])).expect("a certificate");
    // Renewed in place, as certbot and friends do.
    certificate(&r, "a.example");
    Command::new("kill")
        .args(["-USR1", &s.pid().to_string()])
        .status()
        .expect("kill -USR1");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = serial(&s_client(p_tls, Some("a.example"), &[])).expect("a certificate");
        if now != before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still the old certificate:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let renewed = serial(&s_client(p_tls, Some("a.example"), &[])).expect("a certificate");

    // A broken renewal: the restart says why, and the renewed certificate
    // stays in service in the next generation.
    std::fs::write(r.join("a.example.key"), "not a key\n").expect("break the key");
    Command::new("kill")
        .args(["-USR1", &s.pid().to_string()])
        .status()
        .expect("kill -USR1");
    assert!(
        s.wait_log("Re-reading the configuration failed"),
        "{}",
        s.log()
    );
    assert!(
        s.log().contains("a.example.key: no private key in it"),
        "{}",
        s.log()
    );
    // (Any child of either generation: the same certificate.)
    for _ in 0..5 {
        let now = serial(&s_client(p_tls, Some("a.example"), &[]));
        assert_eq!(now.as_deref(), Some(renewed.as_str()), "{}", s.log());
    }
}
