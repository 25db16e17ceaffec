//! The logs `quill serve` writes, read as users read them: access logs in
//! their CustomLog formats per virtual host (and parsed by GoAccess),
//! error logs per virtual host at their LogLevel per module, files
//! reopened at a graceful restart (logrotate's way), and mod_remoteip's
//! client address behind a proxy (curl sending X-Forwarded-For).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Server, TempDir, free_port, quill_bin, raw};

/// `quill serve CONF`, writing its logs where the configuration says.
fn serve_to_files(root: TempDir, conf: &Path) -> Server {
    let mut cmd = Command::new(quill_bin());
    cmd.arg("serve").arg(conf);
    Server::launch(cmd, root, "Listening on http://127.0.0.1:")
}

/// A WSGI app that answers with its REMOTE_ADDR, REMOTE_PORT and
/// X-Forwarded-For, and an `X-Out` header.
fn app(dir: &Path) -> PathBuf {
    let p = dir.join("app.wsgi");
    std::fs::write(
        &p,
        "def application(environ, start_response):\n\
         \x20   body = ' '.join([environ['REMOTE_ADDR'], environ['REMOTE_PORT'],\n\
         \x20                    environ.get('HTTP_X_FORWARDED_FOR', '-')]).encode()\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Out', 'yes')])\n\
         \x20   return [body]\n",
    )
    .expect("write the app");
    p
}

/// The status and body of one HTTP/1.0 request.
fn ask(port: u16, host: &str, target: &str, extra: &str) -> (u16, String) {
    let answer = raw(
        port,
        format!("GET {target} HTTP/1.0\r\nHost: {host}\r\n{extra}\r\n").as_bytes(),
    );
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    (status, body.to_string())
}

/// The lines of `path` once it has at least `n` of them (bounded wait:
/// a line is written when its response ends).
fn lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let l: Vec<String> = text.lines().map(str::to_string).collect();
        if l.len() >= n || Instant::now() > deadline {
            return l;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

const MODULES: &str = "LoadModule mpm_event_module modules/mod_mpm_event.so\n\
                       LoadModule alias_module modules/mod_alias.so\n\
                       LoadModule wsgi_module modules/mod_wsgi.so\n\
                       LoadModule remoteip_module modules/mod_remoteip.so\n";

#[test]
fn access_and_error_logs_per_virtual_host() {
    let root = TempDir::new("serve-logs-vhosts");
    let r = root.0.clone();
    let script = app(&r);
    let port = free_port();
    let conf = r.join("httpd.conf");
    let (rd, sd) = (r.display(), script.display());
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{rd}"
ServerName localhost
Listen 127.0.0.1:{port}
{MODULES}
WSGISocketPrefix "{rd}/wsgi"
WSGIDaemonProcess shared processes=1 threads=2
ErrorLog "{rd}/error_log"
LogLevel warn core:info
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{{Referer}}i\" \"%{{User-Agent}}i\"" combined
LogFormat "%v|%V|%a|%{{c}}a|%p|%m|%U|%q|%H|%s|%B|%b|%k|%X|%{{X-Req}}i|%{{X-Out}}o|%{{sid}}C|%404{{X-Req}}i" fields
CustomLog "{rd}/access_log" combined
CustomLog "{rd}/fields_log" fields

<VirtualHost *:{port}>
    ServerName a.example
    ErrorLog "{rd}/a_error_log"
    LogLevel info
    CustomLog "{rd}/a_access_log" "%v %>s %U"
    WSGIDaemonProcess a-group processes=1 threads=1
    WSGIScriptAlias /app "{sd}" process-group=a-group application-group=%{{GLOBAL}}
</VirtualHost>
<VirtualHost *:{port}>
    ServerName b.example
    WSGIScriptAlias /app "{sd}" process-group=shared application-group=%{{GLOBAL}}
</VirtualHost>
"#
        ),
    )
    .expect("write the config");
    let s = serve_to_files(root, &conf);
    // (The harness's readiness probes, GET / with a Host no server
    // names, are answered by the first virtual host: a.)
    let probes = lines(&r.join("a_access_log"), 1);
    assert!(
        !probes.is_empty() && probes.iter().all(|l| l == "a.example 404 /"),
        "{probes:?}\n{}",
        s.log()
    );

    assert_eq!(ask(port, "a.example", "/app", "").0, 200);
    assert_eq!(
        ask(
            port,
            "b.example:8080",
            "/app?x=1",
            "X-Req: r\"1\r\nCookie: a=2; sid=s3\r\nUser-Agent: test/1\r\n"
        )
        .0,
        200
    );
    // A %2F refused with httpd's info line: in a's error log (LogLevel
    // info); b's goes to the main server's at core:info.
    assert_eq!(ask(port, "a.example", "/app%2Fa", "").0, 404);
    assert_eq!(ask(port, "b.example", "/app%2Fb", "").0, 404);

    let a: Vec<String> = lines(&r.join("a_access_log"), probes.len() + 2)
        .into_iter()
        .filter(|l| l.contains("/app"))
        .collect();
    assert_eq!(a, ["a.example 200 /app", "a.example 404 /app/a"]);
    // b has no CustomLog of its own: the main server's.
    let combined = lines(&r.join("access_log"), 2);
    assert_eq!(combined.len(), 2, "{combined:?}");
    assert!(
        combined[0].starts_with("127.0.0.1 - - ["),
        "{}",
        combined[0]
    );
    // `%O` counts the head and the body (`127.0.0.1 PORT -`).
    let after_time = combined[0].split_once("] ").map_or("", |(_, r)| r);
    let rest = after_time
        .strip_prefix("\"GET /app?x=1 HTTP/1.0\" 200 ")
        .unwrap_or_else(|| panic!("{}", combined[0]));
    let (sent, agents) = rest.split_once(' ').unwrap_or(("", ""));
    assert!(
        sent.parse::<u32>().is_ok_and(|n| n > 100),
        "{}",
        combined[0]
    );
    assert_eq!(agents, "\"-\" \"test/1\"");
    let fields = lines(&r.join("fields_log"), 2);
    let f: Vec<&str> = fields[0].split('|').collect();
    let port_s = port.to_string();
    assert_eq!(
        f,
        [
            "b.example",
            "b.example",
            "127.0.0.1",
            "127.0.0.1",
            port_s.as_str(),
            "GET",
            "/app",
            "?x=1",
            "HTTP/1.0",
            "200",
            f[10],
            f[10],
            "0",
            "-",
            "r\\\"1",
            "yes",
            "s3",
            "-",
        ],
        "{}",
        fields[0]
    );
    assert!(f[10].parse::<u32>().is_ok_and(|n| n > 10), "{}", fields[0]);
    let f404: Vec<&str> = fields[1].split('|').collect();
    assert_eq!(f404[6], "/app/b", "%U is decoded: {}", fields[1]);
    assert_eq!(f404[9], "404");
    assert_eq!(f404[17], "-", "%404{{X-Req}}i without the header");

    let a_err = lines(&r.join("a_error_log"), 1).join("\n");
    assert!(
        a_err.contains("[core:info]") && a_err.contains("AH00026") && a_err.contains("/app%2Fa"),
        "{a_err}"
    );
    assert!(!a_err.contains("/app%2Fb"), "{a_err}");
    // a's daemon group writes to a's error log, as mod_wsgi makes it.
    assert!(
        a_err.contains("[wsgi:info]") && a_err.contains("Starting process 'a-group' with uid"),
        "{a_err}"
    );
    let main_err = std::fs::read_to_string(r.join("error_log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut main_err = main_err;
    while !main_err.contains("/app%2Fb") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
        main_err = std::fs::read_to_string(r.join("error_log")).unwrap_or_default();
    }
    assert!(
        main_err.contains("[core:info]") && main_err.contains("/app%2Fb"),
        "{main_err}"
    );
    assert!(!main_err.contains("/app%2Fa"), "{main_err}");
    assert!(!main_err.contains("'a-group' with uid"), "{main_err}");
    s.stop();
}

/// The requests GoAccess counts in `log` read as `--log-format=COMBINED`:
/// (total, valid, failed, per status class).
fn goaccess(log: &Path) -> (u64, u64, u64, Vec<(String, u64)>) {
    let exe = "/usr/bin/goaccess";
    assert!(
        Path::new(exe).exists(),
        "{exe} is missing: apt-get install goaccess (scripts/test does)"
    );
    let out = Command::new(exe)
        .arg(log)
        .args(["--log-format=COMBINED", "--no-global-config", "-o", "json"])
        .output()
        .expect("run goaccess");
    assert!(
        out.status.success(),
        "goaccess failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("goaccess's JSON");
    let n = |k: &str| v["general"][k].as_u64().unwrap_or(u64::MAX);
    let classes = v["status_codes"]["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["data"].as_str().unwrap_or("").to_string(),
                        c["hits"]["count"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (
        n("total_requests"),
        n("valid_requests"),
        n("failed_requests"),
        classes,
    )
}

/// Debian's combined format, as `quill serve` writes it, is read by
/// GoAccess's COMBINED parser line for line.
#[test]
fn goaccess_parses_the_combined_log() {
    let root = TempDir::new("serve-logs-goaccess");
    let r = root.0.clone();
    let script = app(&r);
    let port = free_port();
    let conf = r.join("httpd.conf");
    let (rd, sd) = (r.display(), script.display());
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{rd}"
ServerName localhost
Listen 127.0.0.1:{port}
{MODULES}
WSGISocketPrefix "{rd}/wsgi"
WSGIDaemonProcess shared processes=1 threads=2
ErrorLog "{rd}/error_log"
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{{Referer}}i\" \"%{{User-Agent}}i\"" combined
CustomLog "{rd}/access_log" combined
WSGIScriptAlias /app "{sd}" process-group=shared application-group=%{{GLOBAL}}
"#
        ),
    )
    .expect("write the config");
    let s = serve_to_files(root, &conf);
    let probes = lines(&r.join("access_log"), 1).len();
    for i in 0..5 {
        let extra =
            format!("Referer: http://ref.example/{i}\r\nUser-Agent: Mozilla/5.0 \"quoted\"\r\n");
        assert_eq!(
            ask(port, "localhost", &format!("/app?i={i}"), &extra).0,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(ask(port, "localhost", "/missing", "").0, 404);
    }
    let total = probes + 7;
    assert_eq!(lines(&r.join("access_log"), total).len(), total);
    let (all, valid, failed, classes) = goaccess(&r.join("access_log"));
    assert_eq!(
        (all, valid, failed),
        (total as u64, total as u64, 0),
        "{}",
        std::fs::read_to_string(r.join("access_log")).unwrap_or_default()
    );
    let count = |class: &str| {
        classes
            .iter()
            .find(|(c, _)| c.starts_with(class))
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(count("2xx"), 5, "{classes:?}");
    assert_eq!(count("4xx") as usize, 2 + probes, "{classes:?}");
    s.stop();
}

/// logrotate without copytruncate: the files are moved away, a graceful
/// restart (SIGUSR1) follows, and the new generation writes new files.
#[test]
fn logs_are_reopened_at_a_graceful_restart() {
    let root = TempDir::new("serve-logs-rotate");
    let r = root.0.clone();
    let script = app(&r);
    let port = free_port();
    let conf = r.join("httpd.conf");
    let (rd, sd) = (r.display(), script.display());
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{rd}"
ServerName localhost
Listen 127.0.0.1:{port}
{MODULES}
WSGISocketPrefix "{rd}/wsgi"
WSGIDaemonProcess shared processes=1 threads=2
ErrorLog "{rd}/error_log"
LogLevel info
CustomLog "{rd}/access_log" "%U %P"
WSGIScriptAlias /app "{sd}" process-group=shared application-group=%{{GLOBAL}}
"#
        ),
    )
    .expect("write the config");
    let s = serve_to_files(root, &conf);
    assert_eq!(ask(port, "localhost", "/app?before", "").0, 200);
    let before = lines(&r.join("access_log"), 2);
    assert!(before.iter().any(|l| l.starts_with("/app ")), "{before:?}");
    let old_children = s.front_ends();
    std::fs::rename(r.join("access_log"), r.join("access_log.1")).expect("rotate");
    std::fs::rename(r.join("error_log"), r.join("error_log.1")).expect("rotate");
    let sent = Command::new("kill")
        .args(["-USR1", &s.pid().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    // Requests are answered by the old children until the new generation
    // takes over; each new child opens the new file.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut new_lines = Vec::new();
    while Instant::now() < deadline {
        let _ = ask(port, "localhost", "/app", "");
        new_lines = std::fs::read_to_string(r.join("access_log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        if !new_lines.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!new_lines.is_empty(), "no new access_log\n{}", s.log());
    // Written by a child of the new generation.
    let pid: u32 = new_lines[0]
        .split(' ')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("a pid");
    assert!(!old_children.contains(&pid), "{pid} in {old_children:?}");
    let rotated = std::fs::read_to_string(r.join("access_log.1")).unwrap_or_default();
    assert!(rotated.contains("/app "), "{rotated}");
    // The supervisor opened the error log again: the restart's own lines
    // are in the new file, and so are those of the daemon process started
    // for the new generation (its stderr is the new file).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut new_err = String::new();
    while Instant::now() < deadline && !new_err.contains("Loading Python script file") {
        std::thread::sleep(Duration::from_millis(25));
        new_err = std::fs::read_to_string(r.join("error_log")).unwrap_or_default();
    }
    assert!(new_err.contains("Doing graceful restart"), "{new_err}");
    assert!(new_err.contains("Loading Python script file"), "{new_err}");
    let old_err = std::fs::read_to_string(r.join("error_log.1")).unwrap_or_default();
    assert!(!old_err.contains("Doing graceful restart"), "{old_err}");
    s.stop();
}

/// curl, from 127.0.0.1, sending X-Forwarded-For: (status, body).
fn curl(port: u16, host: &str, xff: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "20", "-w", "\n%{http_code}", "-H"])
        .arg(format!("Host: {host}"));
    if let Some(x) = xff {
        cmd.arg("-H").arg(format!("X-Forwarded-For: {x}"));
    }
    let out = cmd
        .arg(format!("http://127.0.0.1:{port}/app"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (code.parse().unwrap_or(0), body.to_string())
}

/// Behind a proxy: REMOTE_ADDR and `%a` are the client's when the peer
/// (curl on 127.0.0.1) is a trusted proxy, and only then; `%{c}a` is
/// always the peer.
#[test]
fn remote_ip_from_trusted_proxies_only() {
    let root = TempDir::new("serve-logs-remoteip");
    let r = root.0.clone();
    let script = app(&r);
    let port = free_port();
    let conf = r.join("httpd.conf");
    let (rd, sd) = (r.display(), script.display());
    std::fs::write(
        r.join("internal.txt"),
        "# our balancers\n127.0.0.0/8 10.9.9.9\n",
    )
    .expect("a proxy list");
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{rd}"
ServerName localhost
Listen 127.0.0.1:{port}
{MODULES}
WSGISocketPrefix "{rd}/wsgi"
WSGIDaemonProcess shared processes=1 threads=2
ErrorLog "{rd}/error_log"
RemoteIPHeader X-Forwarded-For
RemoteIPProxiesHeader X-Forwarded-By
CustomLog "{rd}/access_log" "%v %a %{{c}}a %h %{{X-Forwarded-By}}i"

<VirtualHost *:{port}>
    ServerName trusted.example
    RemoteIPTrustedProxy 127.0.0.1
    WSGIScriptAlias /app "{sd}" process-group=shared application-group=%{{GLOBAL}}
</VirtualHost>
<VirtualHost *:{port}>
    ServerName internal.example
    RemoteIPInternalProxyList internal.txt
    WSGIScriptAlias /app "{sd}" process-group=shared application-group=%{{GLOBAL}}
</VirtualHost>
<VirtualHost *:{port}>
    ServerName untrusted.example
    RemoteIPTrustedProxy 192.0.2.1
    WSGIScriptAlias /app "{sd}" process-group=shared application-group=%{{GLOBAL}}
</VirtualHost>
"#
        ),
    )
    .expect("write the config");
    let s = serve_to_files(root, &conf);
    let probes = lines(&r.join("access_log"), 1).len();
    let ask = |host: &str, xff: Option<&str>| {
        let (code, body) = curl(port, host, xff);
        assert_eq!(code, 200, "{host} {xff:?}: {body}\n{}", s.log());
        let mut words = body.split(' ');
        let addr = words.next().unwrap_or("").to_string();
        let _port = words.next();
        let xff_left = words.collect::<Vec<_>>().join(" ");
        (addr, xff_left)
    };
    // Trusted: the rightmost public address is the client, taken out of
    // the header the application sees.
    assert_eq!(
        ask("trusted.example", Some("198.51.100.1, 203.0.113.7")),
        ("203.0.113.7".into(), "198.51.100.1".into())
    );
    // A trusted (external) proxy cannot present a private address.
    assert_eq!(
        ask("trusted.example", Some("10.1.2.3")),
        ("127.0.0.1".into(), "10.1.2.3".into())
    );
    // Internal proxies (from the list file) may; the walk goes on through
    // 10.9.9.9, also internal, to 203.0.113.9.
    assert_eq!(
        ask("internal.example", Some("203.0.113.9, 10.9.9.9")),
        ("203.0.113.9".into(), "-".into())
    );
    // An untrusted peer cannot spoof its address.
    assert_eq!(
        ask("untrusted.example", Some("203.0.113.7")),
        ("127.0.0.1".into(), "203.0.113.7".into())
    );
    // Without the header, nothing changes.
    assert_eq!(
        ask("trusted.example", None),
        ("127.0.0.1".into(), "-".into())
    );
    let logged: Vec<String> = lines(&r.join("access_log"), probes + 5)
        .into_iter()
        .skip(probes)
        .collect();
    assert_eq!(
        logged,
        [
            "trusted.example 203.0.113.7 127.0.0.1 203.0.113.7 127.0.0.1",
            "trusted.example 127.0.0.1 127.0.0.1 127.0.0.1 -",
            "internal.example 203.0.113.9 127.0.0.1 203.0.113.9 -",
            "untrusted.example 127.0.0.1 127.0.0.1 127.0.0.1 -",
            "trusted.example 127.0.0.1 127.0.0.1 127.0.0.1 -",
        ]
    );
    s.stop();
}

/// SetEnvIf's variables decide which CustomLog a request goes to
/// (`env=`, `env=!`), are written by `%{NAME}e`, and reach the
/// application's environ.
#[test]
fn conditional_logs_follow_set_env_if() {
    let root = TempDir::new("serve-logs-setenvif");
    let r = root.0.clone();
    let script = r.join("env.wsgi");
    std::fs::write(
        &script,
        "def application(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [' '.join(environ.get(k, '-') for k in ('client', 'dontlog')).encode()]\n",
    )
    .expect("write the app");
    let port = free_port();
    let conf = r.join("httpd.conf");
    let (rd, sd) = (r.display(), script.display());
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{rd}"
ServerName localhost
Listen 127.0.0.1:{port}
{MODULES}
LoadModule setenvif_module modules/mod_setenvif.so
WSGISocketPrefix "{rd}/wsgi"
WSGIDaemonProcess shared processes=1 threads=2
ErrorLog "{rd}/error_log"
SetEnvIf Request_URI "^/app/health$" dontlog
BrowserMatchNoCase "^curl/(\d+)" client=cli$1
CustomLog "{rd}/access_log" "%U %{{client}}e" env=!dontlog
CustomLog "{rd}/health_log" "%U %{{dontlog}}e" env=dontlog
WSGIScriptAlias /app "{sd}" process-group=shared application-group=%{{GLOBAL}}
"#
        ),
    )
    .expect("write the config");
    let s = serve_to_files(root, &conf);
    let probes = lines(&r.join("access_log"), 1).len();
    assert_eq!(
        ask(port, "localhost", "/app/health", "User-Agent: curl/8\r\n"),
        (200, "cli8 1".into())
    );
    assert_eq!(
        ask(port, "localhost", "/app/x", "User-Agent: Mozilla/5.0\r\n"),
        (200, "- -".into())
    );
    assert_eq!(
        ask(port, "localhost", "/app/y", "User-Agent: CURL/7\r\n"),
        (200, "cli7 -".into())
    );
    let access: Vec<String> = lines(&r.join("access_log"), probes + 2)
        .into_iter()
        .skip(probes)
        .collect();
    assert_eq!(access, ["/app/x -", "/app/y cli7"]);
    assert_eq!(lines(&r.join("health_log"), 1), ["/app/health 1"]);
    s.stop();
}

/// What `quill serve` cannot do with a log refuses the start, saying
/// what, where and what to do instead.
#[test]
fn log_settings_quill_cannot_serve_refuse_the_start() {
    let root = TempDir::new("serve-logs-refused");
    let r = root.0.clone();
    let port = free_port();
    let cases = [
        "CustomLog \"|/usr/bin/rotatelogs logs/access_log 86400\" \"%h\"",
        "CustomLog logs/access_log \"%h\" \"expr=%{REQUEST_STATUS} -ge 400\"",
        "CustomLog logs/access_log \"%{%Q}t\"",
        "ErrorLog syslog:local7",
        "RemoteIPHeader X-Forwarded-For\nRemoteIPTrustedProxyList conf/proxies.txt",
        "CustomLog no-such-dir/access_log \"%h\"",
    ];
    std::fs::create_dir_all(r.join("logs")).expect("logs dir");
    let mut shown = String::new();
    for (i, line) in cases.iter().enumerate() {
        let conf = r.join(format!("case{i}.conf"));
        std::fs::write(
            &conf,
            format!(
                "ServerRoot \"{}\"\nServerName localhost\nListen 127.0.0.1:{port}\n{MODULES}\
                 ErrorLog logs/error_log\n{line}\n",
                r.display()
            ),
        )
        .expect("write the config");
        let out = Command::new(quill_bin())
            .arg("serve")
            .arg(&conf)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run quill serve");
        let stderr =
            String::from_utf8_lossy(&out.stderr).replace(&r.display().to_string(), "<root>");
        assert!(
            String::from_utf8_lossy(&out.stdout).is_empty(),
            "never says it listens: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        shown.push_str(&format!(
            "$ quill serve case{i}.conf   # {line}\nexit {:?}\n{stderr}\n",
            out.status.code()
        ));
    }
    insta::assert_snapshot!(shown);
}

/// Several prefork children append to one access log at once: every
/// line arrives whole (O_APPEND, one write(2) per line), none is lost.
#[test]
fn children_writing_one_log_never_interleave_lines() {
    let root = TempDir::new("serve-logs-children");
    let r = root.0.clone();
    let script = app(&r);
    let port = free_port();
    let conf = r.join("httpd.conf");
    let (rd, sd) = (r.display(), script.display());
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{rd}"
ServerName localhost
Listen 127.0.0.1:{port}
LoadModule mpm_prefork_module modules/mod_mpm_prefork.so
LoadModule wsgi_module modules/mod_wsgi.so
StartServers 4
MinSpareServers 4
MaxSpareServers 8
WSGISocketPrefix "{rd}/wsgi"
WSGIDaemonProcess shared processes=2 threads=4
ErrorLog "{rd}/error_log"
CustomLog "{rd}/access_log" "%P %U%q %>s %{{X-Pad}}i"
WSGIScriptAlias /app "{sd}" process-group=shared application-group=%{{GLOBAL}}
"#
        ),
    )
    .expect("write the config");
    let s = serve_to_files(root, &conf);
    let probes = lines(&r.join("access_log"), 1).len();
    // Long lines (a 2 KiB header each), from 8 clients at once.
    let pad = "x".repeat(2048);
    let (clients, each) = (8, 25);
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let pad = pad.clone();
            std::thread::spawn(move || {
                for i in 0..each {
                    let target = format!("/app?c={c}&i={i}");
                    let (status, _) = ask(port, "localhost", &target, &format!("X-Pad: {pad}\r\n"));
                    assert_eq!(status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    let all = lines(&r.join("access_log"), probes + clients * each);
    let logged: Vec<&String> = all.iter().filter(|l| l.contains("/app")).collect();
    assert_eq!(logged.len(), clients * each);
    let mut pids = std::collections::BTreeSet::new();
    for l in &logged {
        let words: Vec<&str> = l.split(' ').collect();
        assert_eq!(words.len(), 4, "a whole line: {l}");
        assert!(words[1].starts_with("/app?c="), "{l}");
        assert_eq!(words[2], "200", "{l}");
        assert_eq!(words[3], pad, "{l}");
        pids.insert(words[0].to_string());
    }
    for c in 0..clients {
        for i in 0..each {
            let want = format!("/app?c={c}&i={i}");
            assert!(
                logged
                    .iter()
                    .any(|l| l.split(' ').nth(1) == Some(want.as_str())),
                "{want} missing"
            );
        }
    }
    assert!(pids.len() > 1, "written by several children: {pids:?}");
    s.stop();
}
