//! mod_status in `quill serve`: `<Location /server-status>` with
//! `SetHandler server-status`, its Require lines, `?auto` in httpd 2.4's
//! form (compared with real httpd's, recorded in tests/data/httpd/status),
//! and the real Prometheus Apache exporter scraping it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Server, TempDir, free_port, get, unsafe_kill};

/// `quill serve` of an event pool (2 children of 4 threads, ServerLimit
/// 3) with a static Alias and two status Locations: one for this machine,
/// one for an address the tests never use.
fn serve_status(name: &str, mpm: &str) -> Server {
    serve_status_in(name, mpm, None)
}

/// `serve_status`, with its sockets and run files under `run_dir`.
fn serve_status_in(name: &str, mpm: &str, run_dir: Option<&Path>) -> Server {
    let root = TempDir::new(name);
    let r = root.0.display();
    std::fs::create_dir_all(root.0.join("static")).expect("mkdir");
    std::fs::write(root.0.join("static/f.txt"), "0123456789".repeat(300)).expect("write");
    let body = format!(
        "LoadModule status_module modules/mod_status.so\n\
         LoadModule alias_module modules/mod_alias.so\n\
         StartServers 2\nServerLimit 3\nThreadLimit 4\nThreadsPerChild 4\n\
         MaxRequestWorkers 12\nMinSpareThreads 1\nMaxSpareThreads 12\n\
         Alias /static \"{r}/static\"\n\
         <Location /server-status>\nSetHandler server-status\nRequire local\n</Location>\n\
         <Location /hidden-status>\nSetHandler server-status\nRequire ip 192.0.2.1\n</Location>\n\
         {}",
        run_dir.map_or(String::new(), |d| format!(
            "LoadModule wsgi_module modules/mod_wsgi.so\nWSGISocketPrefix \"{}/wsgi\"\n",
            d.display()
        ))
    );
    serve_conf(root, mpm, &body)
}

/// `quill serve` of a configuration for `mpm` on a free port of
/// 127.0.0.1, with the authorisation modules loaded, then `body`.
pub(crate) fn serve_conf(root: TempDir, mpm: &str, body: &str) -> Server {
    let r = root.0.display();
    let port = free_port();
    let conf = root.0.join("httpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerRoot \"{r}\"\nServerName localhost\nListen 127.0.0.1:{port}\n\
             LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so\n\
             LoadModule authz_core_module modules/mod_authz_core.so\n\
             LoadModule authz_host_module modules/mod_authz_host.so\n{body}"
        ),
    )
    .expect("write the config");
    Server::serve(root, &conf, port)
}

/// The field names of a `?auto` page, but CPULoad, which both print only
/// once some CPU time is counted.
/// A connection that has had one response (a 3000-byte file) and stays
/// open.
fn kept_alive(port: u16) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(b"GET /static/f.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .is_none_or(|at| got.len() < at + 4 + 3000)
    {
        let n = c.read(&mut buf).expect("read the response");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    c
}

fn keys(auto: &str) -> Vec<String> {
    auto.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
        .filter(|k| k != "CPULoad")
        .collect()
}

fn field<'a>(auto: &'a str, key: &str) -> &'a str {
    auto.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in\n{auto}"))
}

/// The `?auto` page has httpd's fields in httpd's order (event and
/// worker), counts what was served, and shows the pool's scoreboard.
#[test]
fn the_auto_page_reads_as_httpds() {
    for mpm in ["event", "worker"] {
        let s = serve_status(&format!("status-auto-{mpm}"), mpm);
        for _ in 0..5 {
            assert_eq!(get(&s.url("/static/f.txt")).0, 200);
        }
        // A connection left open after its response waits in keep-alive.
        let idle = kept_alive(s.port);
        // The per-second lines are printed once the server has been up a
        // whole second (as in the recording).
        std::thread::sleep(Duration::from_millis(1200));
        let (status, auto) = get(&s.url("/server-status?auto"));
        if mpm == "event" {
            assert!(
                field(&auto, "ConnsAsyncKeepAlive")
                    .parse::<u32>()
                    .expect("n")
                    >= 1,
                "the idle connection:\n{auto}"
            );
            assert!(
                field(&auto, "ConnsTotal").parse::<u32>().expect("n") >= 2,
                "{auto}"
            );
        }
        drop(idle);
        assert_eq!(status, 200, "{auto}\nlog:\n{}", s.log());
        let recorded = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../../tests/data/httpd/status/auto-{mpm}.txt")),
        )
        .expect("the recorded httpd page");
        assert_eq!(keys(&auto), keys(&recorded), "{mpm}: quill's\n{auto}");
        assert_eq!(auto.lines().next(), Some("127.0.0.1"), "the request's host");
        assert_eq!(field(&auto, "ServerMPM"), mpm);
        let accesses: u64 = field(&auto, "Total Accesses").parse().expect("a count");
        assert!(accesses >= 5, "five files served: {accesses}");
        assert!(
            field(&auto, "Total kBytes").parse::<u64>().expect("kB") >= 14,
            "5 × 3000 bytes"
        );
        let board = field(&auto, "Scoreboard");
        assert_eq!(board.len(), 12, "ServerLimit 3 × ThreadLimit 4: {board:?}");
        assert!(
            board.contains('W'),
            "this request is being answered: {board:?}"
        );
        let busy: u32 = field(&auto, "BusyWorkers").parse().expect("busy");
        let idle: u32 = field(&auto, "IdleWorkers").parse().expect("idle");
        assert!(busy >= 1 && busy + idle <= 12, "busy {busy}, idle {idle}");
        assert_eq!(field(&auto, "ParentServerConfigGeneration"), "1");
    }
}

/// Two servers whose run files share a directory (WSGISocketPrefix) keep
/// their own scoreboards: each page lists its own children's PIDs.
#[test]
fn servers_sharing_a_run_directory_keep_their_own_scoreboards() {
    let shared = TempDir::new("status-shared-run");
    let a = serve_status_in("status-shared-a", "event", Some(&shared.0));
    let b = serve_status_in("status-shared-b", "event", Some(&shared.0));
    for s in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, page) = get(&s.url("/server-status?notable"));
            // The process table's rows: <tr><td>SLOT</td><td>PID</td>…
            let mut listed: Vec<u32> = page
                .lines()
                .filter_map(|l| l.strip_prefix("<tr><td>"))
                .filter_map(|l| {
                    let mut cells = l.split("</td><td>");
                    cells.next()?.parse::<u32>().ok()?; // the slot (not "Sum")
                    cells.next()?.parse().ok()
                })
                .collect();
            let mut own = s.front_ends();
            listed.sort_unstable();
            own.sort_unstable();
            if own.len() == 2 && listed == own {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "its children are {own:?}, the page lists {listed:?}:\n{page}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The HTML page, `?refresh` and `?notable`.
#[test]
fn the_html_page_refreshes_and_leaves_its_tables_out_on_request() {
    let s = serve_status("status-html", "event");
    let r = crate::agent()
        .get(&s.url("/server-status?refresh=7"))
        .call()
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers().get("refresh").and_then(|v| v.to_str().ok()),
        Some("7")
    );
    let page = r.into_body().read_to_string().expect("body");
    assert!(
        page.contains("<h1>Quill Server Status for 127.0.0.1"),
        "{page}"
    );
    assert!(page.contains("<th>Srv</th>"), "the worker table: {page}");
    let (_, plain) = get(&s.url("/server-status/?notable"));
    assert!(plain.contains("Scoreboard Key"), "{plain}");
    assert!(!plain.contains("<th>Srv</th>"), "no worker table: {plain}");
}

/// A client that no Require line grants gets httpd's 403 and its log line;
/// so does everyone when a Location has no Require at all.
#[test]
fn a_client_not_granted_is_refused_as_httpd_refuses_it() {
    let s = serve_status("status-denied", "event");
    let (status, body) = get(&s.url("/hidden-status?auto"));
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("Scoreboard"), "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.log().contains("AH01630") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        s.log()
            .contains("AH01630: client denied by server configuration: "),
        "log:\n{}",
        s.log()
    );
}

/// The Prometheus exporter for Apache (Debian's
/// prometheus-apache-exporter, which scripts/test installs) scrapes Quill
/// as it scrapes httpd.
#[test]
fn the_prometheus_apache_exporter_scrapes_quill() {
    let exporter = "/usr/bin/prometheus-apache-exporter";
    assert!(
        Path::new(exporter).exists(),
        "{exporter} is missing: apt-get install prometheus-apache-exporter (scripts/test does)"
    );
    let s = serve_status("status-exporter", "event");
    for _ in 0..3 {
        assert_eq!(get(&s.url("/static/f.txt")).0, 200);
    }
    let port = free_port();
    let mut child = Command::new(exporter)
        .arg(format!("--telemetry.address=127.0.0.1:{port}"))
        .arg(format!("--scrape_uri={}", s.url("/server-status/?auto")))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the exporter");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let got = crate::agent()
            .get(&format!("http://127.0.0.1:{port}/metrics"))
            .call()
            .ok()
            .and_then(|r| r.into_body().read_to_string().ok());
        if let Some(m) = got {
            break m;
        }
        assert!(Instant::now() < deadline, "the exporter never answered");
        std::thread::sleep(Duration::from_millis(100));
    };
    unsafe_kill(i32::try_from(pid).expect("pid"), 15);
    let _ = child.wait();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    };
    assert_eq!(value("apache_up"), 1.0, "{metrics}");
    assert!(value("apache_accesses_total") >= 3.0, "{metrics}");
    assert!(value("apache_workers{state=\"busy\"}") >= 1.0, "{metrics}");
    assert!(
        value("apache_workers{state=\"idle\"}") + value("apache_workers{state=\"busy\"}") <= 12.0
    );
    assert!(
        value("apache_scoreboard{state=\"reply\"}") >= 1.0,
        "{metrics}"
    );
    assert_eq!(value("apache_processes{state=\"all\"}"), 2.0, "{metrics}");
    assert!(
        metrics.contains("apache_info{mpm=\"event\",version=\"Quill/"),
        "{metrics}"
    );
    assert_eq!(value("apache_generation{type=\"config\"}"), 1.0);
}

/// `quill serve` of the lifecycle app in daemon group `app` (with
/// `options`) at /app, and the metrics at /quill-metrics.
fn serve_metrics(name: &str, options: &str) -> Server {
    let root = TempDir::new(name);
    let app = root.0.join("lifecycle.wsgi");
    std::fs::copy(crate::fixtures().join("lifecycle.wsgi"), &app).expect("copy the app");
    let r = root.0.display();
    let body = format!(
        "LoadModule wsgi_module modules/mod_wsgi.so\n\
         WSGISocketPrefix \"{r}/wsgi\"\n\
         WSGIDaemonProcess app {options}\n\
         WSGIScriptAlias /app \"{}\" process-group=app application-group=%{{GLOBAL}}\n\
         <Location /quill-metrics>\nSetHandler quill-metrics\nRequire local\n</Location>\n",
        app.display()
    );
    serve_conf(root, "event", &body)
}

/// A process that retires (maximum-requests) leaves its counts to the
/// group's `retired` row and is counted as a restart with its reason.
#[test]
fn a_retired_process_keeps_its_counts_and_its_reason() {
    let s = serve_metrics(
        "status-metrics-retired",
        "processes=1 threads=1 maximum-requests=2",
    );
    for _ in 0..3 {
        assert_eq!(get(&s.url("/app/echo")).0, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, text) = get(&s.url("/quill-metrics"));
        let value = |line: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.parse::<f64>().ok())
        };
        let retired = value("quill_daemon_requests_total{group=\"app\",process=\"retired\"}");
        let restarts =
            value("quill_daemon_restarts_total{group=\"app\",reason=\"maximum_requests\"}");
        if retired == Some(2.0) && restarts == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no retired process counted:\n{text}\nlog:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `SetHandler quill-metrics`: the daemon group's requests, status
/// classes, busy threads and time histograms, and the front-end pool's
/// gauges, in the OpenMetrics text format that the Python Prometheus
/// client's parser (in the test virtualenv) reads.
#[test]
fn the_metrics_page_counts_each_daemon_groups_requests() {
    let Some(venv) = crate::venv() else { return };
    let s = serve_metrics("status-metrics", "processes=2 threads=4");
    for _ in 0..6 {
        assert_eq!(get(&s.url("/app/echo")).0, 200);
    }
    let slow = {
        let url = s.url("/app/sleep?2");
        std::thread::spawn(move || get(&url).0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let (status, text) = get(&s.url("/quill-metrics"));
        assert_eq!(status, 200, "{text}\nlog:\n{}", s.log());
        let lines = |prefix: &'static str| {
            text.lines()
                .filter(move |l| l.starts_with(prefix))
                .collect::<Vec<_>>()
        };
        // Both processes publish, and the slow request holds a thread.
        if lines("quill_daemon_threads{").len() == 2
            && lines("quill_daemon_busy_threads{")
                .iter()
                .any(|l| !l.ends_with(" 0"))
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "two processes and a busy thread not shown:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(slow.join().expect("client"), 200);
    let sum = |prefix: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(
        sum("quill_daemon_requests_total{group=\"app\""),
        6.0,
        "six finished requests:\n{metrics}"
    );
    assert_eq!(
        sum("quill_daemon_responses_total{group=\"app\",process=\"retired\",class=\"2xx\"}"),
        0.0
    );
    let two_xx: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("quill_daemon_responses_total{") && l.contains("class=\"2xx\""))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(two_xx, 6.0, "{metrics}");
    assert_eq!(
        sum("quill_daemon_threads{group=\"app\""),
        8.0,
        "2 × 4 threads"
    );
    assert_eq!(
        sum("quill_daemon_application_seconds_count{group=\"app\"}"),
        6.0
    );
    assert!(sum("quill_frontend_processes{state=\"all\"}") >= 1.0);
    // The Prometheus client's own parser reads the page.
    let parsed = Command::new(venv.join("bin/python3"))
        .args([
            "-c",
            "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
             print(len(list(p(sys.stdin.read()))))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().expect("stdin").write_all(metrics.as_bytes())?;
            c.wait_with_output()
        })
        .expect("run the parser");
    assert!(
        parsed.status.success(),
        "the parser refused the page: {}\n{metrics}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&parsed.stdout).trim(),
        "15",
        "metric families"
    );
}

/// A known load gives known figures: one request sleeping 2 s on a process
/// of 2 threads adds 2 s (and less than 2 s more) of busy thread time, and
/// the available thread time grows by 2 threads × the time between the two
/// scrapes (within 0.5 s of the test's own clock on each side).
#[test]
fn busy_and_available_thread_time_follow_a_known_load() {
    let s = serve_metrics("status-metrics-load", "processes=1 threads=2");
    assert_eq!(get(&s.url("/app/echo")).0, 200);
    let scrape = || {
        let (_, text) = get(&s.url("/quill-metrics"));
        let value = |name: &str| {
            text.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
                .sum::<f64>()
        };
        (
            value("quill_daemon_busy_seconds_total{group=\"app\""),
            value("quill_daemon_available_seconds_total{group=\"app\""),
        )
    };
    let (busy0, avail0) = scrape();
    let t0 = Instant::now();
    assert_eq!(get(&s.url("/app/sleep?2")).0, 200);
    let (busy1, avail1) = scrape();
    let wall = t0.elapsed().as_secs_f64();
    let busy = busy1 - busy0;
    assert!(
        (2.0..4.0).contains(&busy),
        "a 2 s request adds 2 s of busy thread time, not {busy}"
    );
    let avail = avail1 - avail0;
    assert!(
        (avail - 2.0 * wall).abs() < 1.0,
        "2 threads × {wall:.2} s available, not {avail:.2} s"
    );
}

/// The configuration docs/worked-example.md serves
/// (examples/configs/the-thread-serve) runs as written, on a free port:
/// the application in daemon group app1, httpd's status page with its 300
/// worker slots, and the group's utilisation on the metrics page.
#[test]
fn the_worked_examples_configuration_serves_its_pages() {
    let root = TempDir::new("worked-example");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/configs/the-thread-serve");
    std::fs::copy(dir.join("app.wsgi"), root.0.join("app.wsgi")).expect("copy app.wsgi");
    let port = free_port();
    let text = std::fs::read_to_string(dir.join("httpd.conf")).expect("read httpd.conf");
    assert!(text.contains("127.0.0.1:8080") && text.contains("*:8080"));
    let text = format!(
        "ServerRoot \"{}\"\n{}",
        root.0.display(),
        text.replace(":8080", &format!(":{port}"))
    );
    let conf = root.0.join("httpd.conf");
    std::fs::write(&conf, text).expect("write httpd.conf");
    let s = Server::serve(root, &conf, port);
    let (status, body) = get(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("of group 'app1'"), "{body}");
    let (status, auto) = get(&format!("http://127.0.0.1:{port}/server-status?auto"));
    assert_eq!(status, 200, "{auto}");
    assert!(auto.contains("ServerMPM: worker"), "{auto}");
    let field = |name: &str| -> u32 {
        auto.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name}\n{auto}"))
    };
    assert_eq!(field("BusyWorkers:") + field("IdleWorkers:"), 300, "{auto}");
    let (status, metrics) = get(&format!("http://127.0.0.1:{port}/quill-metrics"));
    assert_eq!(status, 200, "{metrics}");
    assert!(
        metrics.contains("quill_daemon_utilization{group=\"app1\"}"),
        "{metrics}"
    );
    drop(s);
}
