//! The front-end process pool of `quill serve`: children exec'd by the
//! supervisor and grown and shrunk by the pool controller, as httpd's MPMs
//! do, counted from /proc.

use std::time::{Duration, Instant};

use crate::{Server, TempDir, free_port, get, unsafe_kill};

/// A `quill serve` of `mpm_directives` on a free port, with no application
/// (the front end answers 404 itself).
fn serve_mpm(name: &str, mpm: &str, mpm_directives: &str) -> Server {
    let root = TempDir::new(name);
    let port = free_port();
    let conf = root.0.join("httpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerRoot \"{}\"\nServerName localhost\nListen 127.0.0.1:{port}\n\
             LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so\n{mpm_directives}\n",
            root.0.display()
        ),
    )
    .expect("write the config");
    Server::serve(root, &conf, port)
}

/// Samples the number of front-end children every 50 ms until `done` says
/// so or `limit` passes; returns the distinct counts in order, with when
/// each was first seen.
fn watch_children(
    s: &Server,
    limit: Duration,
    mut done: impl FnMut(&[(usize, Duration)]) -> bool,
) -> Vec<(usize, Duration)> {
    let start = Instant::now();
    let mut seen: Vec<(usize, Duration)> = Vec::new();
    while start.elapsed() < limit {
        let n = s.front_ends().len();
        if seen.last().map(|l| l.0) != Some(n) {
            seen.push((n, start.elapsed()));
        }
        if done(&seen) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    seen
}

/// The thread's first configuration: StartServers 10 × 25 threads = 250
/// idle threads above MaxSpareThreads 75, so httpd kills one idle child a
/// second until 3 remain (3 × 25 = 75).
#[test]
fn worker_kills_idle_children_one_at_a_time_down_to_three() {
    let s = serve_mpm(
        "pool-killoff",
        "worker",
        "StartServers 10\nMaxRequestWorkers 400\nServerLimit 16\nMinSpareThreads 25\n\
         MaxSpareThreads 75\nThreadsPerChild 25",
    );
    let mut settled_at = None;
    let seen = watch_children(&s, Duration::from_secs(40), |seen| {
        // Settled: 3 children for two seconds.
        match seen.last() {
            Some((3, _)) => {
                let at = *settled_at.get_or_insert_with(Instant::now);
                at.elapsed() > Duration::from_secs(2)
            }
            _ => {
                settled_at = None;
                false
            }
        }
    });
    eprintln!("front-end children over time: {seen:?}");
    let counts: Vec<usize> = seen.iter().map(|(n, _)| *n).collect();
    let top = counts
        .iter()
        .position(|&n| n == 10)
        .unwrap_or_else(|| panic!("StartServers 10 children: {counts:?}"));
    assert_eq!(
        counts[top..],
        [10, 9, 8, 7, 6, 5, 4, 3],
        "one child at a time, down to 3: {seen:?}\nlog:\n{}",
        s.log()
    );
    assert_eq!(get(&s.url("/")).0, 404, "the pool still answers");
}

/// A front-end child killed with SIGKILL is reaped and replaced (the idle
/// threads fall below MinSpareThreads), and the server keeps answering.
#[test]
fn a_killed_child_is_replaced() {
    let s = serve_mpm(
        "pool-sigkill",
        "worker",
        "StartServers 2\nMinSpareThreads 15\nMaxSpareThreads 30\nThreadsPerChild 10\n\
         MaxRequestWorkers 40\nServerLimit 4",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let before = loop {
        let f = s.front_ends();
        if f.len() == 2 || Instant::now() > deadline {
            break f;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(before.len(), 2, "StartServers 2");
    unsafe_kill(before[0] as i32, 9);
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let f = s.front_ends();
        if (f.len() == 2 && !f.contains(&before[0])) || Instant::now() > deadline {
            break f;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        after.len() == 2 && !after.contains(&before[0]),
        "the killed child {} is replaced: {before:?} → {after:?}\nlog:\n{}",
        before[0],
        s.log()
    );
    assert_eq!(get(&s.url("/")).0, 404, "the pool still answers");
}

/// Clients sending requests back to back on kept-alive connections until
/// told to stop; counts what succeeded and what failed.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    clients: Vec<std::thread::JoinHandle<(u64, Vec<String>)>>,
}

impl Load {
    fn start(url: String, clients: usize) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients = (0..clients)
            .map(|_| {
                let (url, stop) = (url.clone(), stop.clone());
                std::thread::spawn(move || {
                    let agent = crate::agent();
                    let (mut ok, mut failed) = (0u64, Vec::new());
                    // Bounded: at most 10 minutes, whatever happens.
                    let limit = Instant::now() + Duration::from_secs(600);
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < limit
                    {
                        match agent.get(&url).call() {
                            Ok(mut r) if r.status() == 200 => {
                                let _ = r.body_mut().read_to_string();
                                ok += 1;
                            }
                            Ok(r) => failed.push(format!("status {}", r.status())),
                            Err(e) => failed.push(e.to_string()),
                        }
                    }
                    (ok, failed)
                })
            })
            .collect();
        Load { stop, clients }
    }

    /// Stops the clients; (requests answered 200, failures).
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut ok = 0;
        let mut failed = Vec::new();
        for c in self.clients {
            let (o, f) = c.join().expect("client thread");
            ok += o;
            failed.extend(f);
        }
        (ok, failed)
    }
}

/// `quill serve` of a worker pool in front of a daemon group running the
/// lifecycle app at /app.
fn serve_app(name: &str, mpm_directives: &str) -> Server {
    serve_app_with(name, mpm_directives, &[])
}

fn serve_app_with(name: &str, mpm_directives: &str, args: &[&str]) -> Server {
    serve_app_mpm(name, "worker", mpm_directives, args)
}

/// `serve_app` with the MPM named.
fn serve_app_mpm(name: &str, mpm: &str, mpm_directives: &str, args: &[&str]) -> Server {
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
             LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so\n\
             LoadModule wsgi_module modules/mod_wsgi.so\n{mpm_directives}\n\
             WSGISocketPrefix \"{r}/wsgi\"\n\
             WSGIDaemonProcess app processes=2 threads=4\n\
             WSGIScriptAlias /app \"{}\" process-group=app application-group=%{{GLOBAL}}\n",
            app.display()
        ),
    )
    .expect("write the config");
    Server::serve_with(root, &conf, port, args)
}

/// A worker pool of 2 to 8 children of 10 threads.
macro_rules! small_pool {
    () => {
        "StartServers 2\nMinSpareThreads 10\nMaxSpareThreads 40\nThreadsPerChild 10\n\
         MaxRequestWorkers 80\nServerLimit 8"
    };
}
const SMALL_POOL: &str = small_pool!();

/// Waits (at most 30 s) for the server to exit by itself; its exit code.
fn wait_exit(s: &mut Server) -> Option<Option<i32>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(code) = s.exited() {
            return Some(code);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(pid: u32, sig: i32) {
    unsafe_kill(i32::try_from(pid).expect("pid"), sig);
}

/// Ten graceful restarts (SIGUSR1) under load: every generation's children
/// finish what they started and the daemon groups are replaced gracefully,
/// so no request fails.
#[test]
fn graceful_restarts_under_load_lose_no_request() {
    graceful_restarts_lose_no_request("worker");
}

/// The same with the event MPM, whose stopping children close their
/// kept-alive connections at once rather than at KeepAliveTimeout.
#[test]
fn graceful_restarts_of_event_children_under_load_lose_no_request() {
    graceful_restarts_lose_no_request("event");
}

fn graceful_restarts_lose_no_request(mpm: &str) {
    let s = serve_app_mpm(&format!("pool-graceful-{mpm}"), mpm, SMALL_POOL, &[]);
    let first = s.front_ends();
    let load = Load::start(s.url("/app/pid"), 6);
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(700));
        signal(s.pid(), 10);
    }
    std::thread::sleep(Duration::from_secs(2));
    let (ok, failed) = load.finish();
    eprintln!(
        "graceful restarts ({mpm}): {ok} requests answered, {} failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}\nlog:\n{}",
        failed.len(),
        ok + failed.len() as u64,
        &failed[..failed.len().min(5)],
        s.log()
    );
    assert!(ok > 0, "the load ran");
    let now = s.front_ends();
    assert!(
        !now.is_empty() && now.iter().all(|p| !first.contains(p)),
        "a new generation of children: {first:?} → {now:?}"
    );
}

/// MaxConnectionsPerChild recycles children under load (one request per
/// connection, so every child reaches its limit quickly) without losing a
/// request.
#[test]
fn max_connections_per_child_recycles_children_without_losing_requests() {
    let s = serve_app(
        "pool-maxconn",
        concat!(small_pool!(), "\nMaxConnectionsPerChild 25\nKeepAlive Off"),
    );
    let first = s.front_ends();
    let load = Load::start(s.url("/app/pid"), 6);
    std::thread::sleep(Duration::from_secs(6));
    let (ok, failed) = load.finish();
    eprintln!(
        "MaxConnectionsPerChild 25: {ok} requests answered, {} failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} requests failed: {:?}\nlog:\n{}",
        failed.len(),
        &failed[..failed.len().min(5)],
        s.log()
    );
    assert!(ok > 100, "enough connections to recycle children: {ok}");
    let now = s.front_ends();
    assert!(
        now.iter().any(|p| !first.contains(p)),
        "children were recycled: {first:?} → {now:?}"
    );
}

/// A graceful stop (SIGWINCH) lets requests in flight finish, then the
/// server exits by itself.
#[test]
fn graceful_stop_drains_requests_in_flight() {
    let s = serve_app(
        "pool-winch",
        concat!(small_pool!(), "\nGracefulShutdownTimeout 30"),
    );
    let url = s.url("/app/sleep?2");
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || crate::agent().get(&url).call().map(|r| r.status().as_u16()))
        })
        .collect();
    // Let the four requests reach their daemon threads.
    std::thread::sleep(Duration::from_millis(700));
    signal(s.pid(), 28);
    let statuses: Vec<_> = slow
        .into_iter()
        .map(|t| t.join().expect("client").map_err(|e| e.to_string()))
        .collect();
    assert!(
        statuses.iter().all(|r| r == &Ok(200)),
        "requests in flight finish: {statuses:?}\nlog:\n{}",
        s.log()
    );
    let mut s = s;
    let code = wait_exit(&mut s);
    assert_eq!(code, Some(Some(0)), "exits by itself\nlog:\n{}", s.log());
}

/// A child killed with SIGKILL under load: only requests that child had
/// taken may fail; everything else is answered, and the pool goes on.
#[test]
fn a_child_killed_under_load_costs_only_its_own_requests() {
    let s = serve_app("pool-kill-load", SMALL_POOL);
    let clients = 6;
    let load = Load::start(s.url("/app/pid"), clients);
    std::thread::sleep(Duration::from_secs(1));
    let victim = s.front_ends()[0];
    signal(victim, 9);
    std::thread::sleep(Duration::from_secs(3));
    let (ok, failed) = load.finish();
    eprintln!(
        "SIGKILL of a child under load: {ok} answered, {} failed: {failed:?}",
        failed.len()
    );
    // A kept-alive client connection lives in one child: at most one
    // request per client was in that child when it died.
    assert!(
        failed.len() <= clients,
        "only the killed child's requests fail: {failed:?}"
    );
    assert!(ok > 0);
    assert_eq!(get(&s.url("/app/pid")).0, 200, "the pool goes on");
}

/// Waits (bounded) until the server has `n` front-end children, then
/// checks that the count holds for two seconds; returns the last count.
fn settle_at(s: &Server, n: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    let mut since: Option<Instant> = None;
    loop {
        let got = s.front_ends().len();
        if got == n {
            let at = *since.get_or_insert_with(Instant::now);
            if at.elapsed() >= Duration::from_secs(2) {
                return got;
            }
        } else {
            since = None;
        }
        if Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Many concurrent clients each get their answer from the pool.
fn concurrent_gets(s: &Server, clients: usize) -> Vec<u16> {
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let url = s.url("/");
            std::thread::spawn(move || get(&url).0)
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("client"))
        .collect()
}

#[test]
fn prefork_runs_150_children() {
    let s = serve_mpm(
        "pool-prefork150",
        "prefork",
        "StartServers 150\nMinSpareServers 5\nMaxSpareServers 200\nMaxRequestWorkers 150",
    );
    let n = settle_at(&s, 150, Duration::from_secs(90));
    assert_eq!(n, 150, "150 prefork children\nlog:\n{}", s.log());
    let statuses = concurrent_gets(&s, 60);
    assert!(
        statuses.iter().all(|&c| c == 404),
        "every client answered: {statuses:?}"
    );
}

#[test]
fn worker_runs_16_children_of_25_threads() {
    let s = serve_mpm(
        "pool-worker16",
        "worker",
        "StartServers 16\nServerLimit 16\nThreadsPerChild 25\nMaxRequestWorkers 400\n\
         MinSpareThreads 25\nMaxSpareThreads 400",
    );
    let n = settle_at(&s, 16, Duration::from_secs(60));
    assert_eq!(n, 16, "16 worker children\nlog:\n{}", s.log());
    let statuses = concurrent_gets(&s, 100);
    assert!(
        statuses.iter().all(|&c| c == 404),
        "every client answered: {statuses:?}"
    );
}

/// Behind a load balancer: with `--graceful-sigterm`, SIGTERM closes the
/// listeners (a readiness check against any URL now fails: the connection
/// is refused, so the balancer sends traffic elsewhere) and drains. Under
/// load, every request the server took is answered; the only errors are
/// refused connections, which carried no request.
#[test]
fn a_drain_under_load_loses_no_request() {
    let mut s = serve_app_with(
        "pool-drain",
        concat!(small_pool!(), "\nGracefulShutdownTimeout 30"),
        &["--graceful-sigterm"],
    );
    let load = Load::start(s.url("/app/sleep?0.2"), 6);
    std::thread::sleep(Duration::from_millis(1500));
    signal(s.pid(), 15);
    let code = wait_exit(&mut s);
    let (ok, failed) = load.finish();
    let (refused, lost): (Vec<_>, Vec<_>) = failed
        .iter()
        .partition(|e| e.contains("Connection refused"));
    eprintln!(
        "drain under load: {ok} answered, {} refused after the listeners closed, {} lost",
        refused.len(),
        lost.len()
    );
    assert_eq!(code, Some(Some(0)), "exits by itself\nlog:\n{}", s.log());
    assert!(ok > 0, "the load ran");
    assert!(
        lost.is_empty(),
        "requests the server took were answered: {lost:?}\nlog:\n{}",
        s.log()
    );
}

/// At MaxRequestWorkers the pool cannot grow: httpd's error-log line says
/// so (once), and requests wait for a free child instead of failing.
#[test]
fn reaching_max_request_workers_is_logged_as_httpd_logs_it() {
    let s = serve_app(
        "pool-maxworkers",
        "StartServers 1\nMinSpareThreads 2\nMaxSpareThreads 4\nThreadsPerChild 2\n\
         MaxRequestWorkers 4\nServerLimit 2\nKeepAlive Off",
    );
    // Five slow requests on 2 × 2 slots: every slot busy, so maintenance
    // wants more children than MaxRequestWorkers allows.
    let url = s.url("/app/sleep?3");
    let slow: Vec<_> = (0..5)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || crate::agent().get(&url).call().map(|r| r.status().as_u16()))
        })
        .collect();
    let logged = s.wait_log(
        "AH00286: server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting",
    );
    let statuses: Vec<_> = slow
        .into_iter()
        .map(|t| t.join().expect("client").map_err(|e| e.to_string()))
        .collect();
    assert!(logged, "the error log says it, as httpd:\n{}", s.log());
    assert!(
        statuses.iter().all(|r| r == &Ok(200)),
        "the requests wait, then are answered: {statuses:?}"
    );
}

/// httpd's start-up adjustments of the MPM settings are logged in its
/// words, with where the directive is.
#[test]
fn start_up_adjustments_are_logged_in_httpds_words() {
    let s = serve_mpm(
        "pool-adjustments",
        "worker",
        "StartServers 1\nThreadsPerChild 25\nMaxRequestWorkers 401",
    );
    assert!(
        s.wait_log(
            "WARNING: MaxRequestWorkers of 401 is not an integer multiple of ThreadsPerChild of 25, \
             decreasing to nearest multiple 400, for a maximum of 16 servers."
        ),
        "log:\n{}",
        s.log()
    );
    assert!(s.log().contains("httpd.conf:7)"), "where: {}", s.log());
}

/// Idle prefork children count as idle (`_`), so a pool within its spare
/// band neither grows nor shrinks.
#[test]
fn an_idle_prefork_pool_within_its_spare_band_stays_as_it_is() {
    let s = serve_mpm(
        "pool-prefork-idle",
        "prefork",
        "StartServers 3\nMinSpareServers 2\nMaxSpareServers 5\nMaxRequestWorkers 50",
    );
    let seen = watch_children(&s, Duration::from_secs(5), |_| false);
    let counts: Vec<usize> = seen.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        counts.last(),
        Some(&3),
        "3 idle children, between 2 and 5 spare: {seen:?}\nlog:\n{}",
        s.log()
    );
    assert!(counts.iter().all(|&n| n <= 3), "never more: {seen:?}");
}

/// An event child takes a connection only when it has an idle worker for
/// it, as httpd's listener does: six slow requests against three children of
/// two threads run all at once, none waiting in a child whose workers are
/// busy while another child has one idle.
#[test]
fn an_event_child_accepts_only_for_an_idle_worker() {
    let s = serve_app_mpm(
        "pool-event-accept",
        "event",
        "StartServers 3\nServerLimit 3\nThreadLimit 2\nThreadsPerChild 2\n\
         MaxRequestWorkers 6\nMinSpareThreads 1\nMaxSpareThreads 6",
        &[],
    );
    assert_eq!(
        settle_at(&s, 3, Duration::from_secs(20)),
        3,
        "three children"
    );
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let url = s.url("/app/sleep?3");
            std::thread::spawn(move || get(&url).0)
        })
        .collect();
    let statuses: Vec<u16> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    assert_eq!(statuses, [200; 6], "every slow request answered");
    let (status, in_flight) = get(&s.url("/app/in-flight"));
    assert_eq!(status, 200);
    assert_eq!(
        in_flight,
        "0 6",
        "now 0 and at the peak all 6 in flight at once (now peak)\nlog:\n{}",
        s.log()
    );
}

/// A graceful restart re-reads the configuration, as httpd's does: the new
/// generation serves an Alias added to the file; a changed Listen is kept
/// (with a warning) until a full restart; a configuration that no longer
/// reads is logged and the server goes on with the one in use.
#[test]
fn a_graceful_restart_rereads_the_configuration() {
    let mut s = serve_app("pool-reread", SMALL_POOL);
    let conf = s.root.0.join("httpd.conf");
    let files = s.root.0.join("static");
    std::fs::create_dir_all(&files).expect("static dir");
    std::fs::write(files.join("hello.txt"), "hello from the alias\n").expect("static file");
    assert_eq!(get(&s.url("/static/hello.txt")).0, 404, "no Alias yet");

    let original = std::fs::read_to_string(&conf).expect("read the config");
    let other_port = free_port();
    std::fs::write(
        &conf,
        format!(
            "{original}LoadModule alias_module modules/mod_alias.so\n\
             Alias /static \"{}\"\nListen 127.0.0.1:{other_port}\n",
            files.display()
        ),
    )
    .expect("edit the config");
    signal(s.pid(), 10);
    assert!(
        s.wait_log("Listen changed; the running server keeps its own"),
        "the new Listen is reported\nlog:\n{}",
        s.log()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answer = get(&s.url("/static/hello.txt"));
    while answer.0 != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        answer = get(&s.url("/static/hello.txt"));
    }
    assert_eq!(
        answer,
        (200, "hello from the alias\n".to_string()),
        "the new generation serves the new Alias\nlog:\n{}",
        s.log()
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", other_port)).is_err(),
        "the new Listen waits for a full restart"
    );

    let edited = std::fs::read_to_string(&conf).expect("read the config");
    std::fs::write(
        &conf,
        format!("{edited}WSGIScriptAlais /typo /nowhere.wsgi\n"),
    )
    .expect("break the config");
    let before = s.front_ends();
    signal(s.pid(), 10);
    assert!(
        s.wait_log("Re-reading the configuration failed"),
        "the broken configuration is reported\nlog:\n{}",
        s.log()
    );
    assert!(s.log().contains("WSGIScriptAlais"), "with its error");
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.front_ends().iter().any(|p| before.contains(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.exited(), None, "the server goes on");
    assert_eq!(
        get(&s.url("/static/hello.txt")).0,
        200,
        "the next generation runs the configuration in use"
    );
    assert_eq!(get(&s.url("/app/pid")).0, 200);
}

/// KeepAliveTimeout: a kept-alive connection used again within it stays
/// open; one left idle for longer is closed by the server (worker and
/// event alike).
#[test]
fn an_idle_kept_alive_connection_closes_at_keep_alive_timeout() {
    use std::io::{Read, Write};
    for mpm in ["worker", "event"] {
        let s = serve_app_mpm(
            &format!("pool-keepalive-{mpm}"),
            mpm,
            concat!(small_pool!(), "\nKeepAlive On\nKeepAliveTimeout 2"),
            &[],
        );
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let request = b"GET /app/pid HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let answer = |c: &mut std::net::TcpStream| {
            c.write_all(request).expect("send");
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).expect("an answer");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        assert!(answer(&mut c).starts_with("HTTP/1.1 200"), "{mpm}: first");
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            answer(&mut c).starts_with("HTTP/1.1 200"),
            "{mpm}: the connection is still open within KeepAliveTimeout"
        );
        let idle = Instant::now();
        let mut buf = [0u8; 64];
        let n = c
            .read(&mut buf)
            .expect("the server closes, not the read timeout");
        assert_eq!(n, 0, "{mpm}: closed by the server");
        assert!(
            idle.elapsed() >= Duration::from_millis(1900),
            "{mpm}: not before KeepAliveTimeout: {:?}",
            idle.elapsed()
        );
    }
}

/// AllowEncodedSlashes: a `%2F` in the path is decoded (On) or passed on
/// as it is (NoDecode) in PATH_INFO; Off, httpd's default, answers 404
/// (tests/serve/probes.rs).
#[test]
fn allow_encoded_slashes_on_and_nodecode_reach_the_application() {
    for (value, path_info) in [("On", "/echo/a/b"), ("NoDecode", "/echo/a%2Fb")] {
        let s = serve_app_with(
            &format!("pool-slashes-{value}"),
            &format!("{}\nAllowEncodedSlashes {value}", SMALL_POOL),
            &[],
        );
        assert_eq!(
            get(&s.url("/app/echo/a%2Fb")),
            (200, path_info.to_string()),
            "AllowEncodedSlashes {value}"
        );
    }
}

/// (pid, busy threads) per claimed entry of a busy board.
type Board = Vec<(u32, u32)>;

/// The busy threads of each daemon process, as its group's busy board
/// (`WSGISocketPrefix….busy`: entries of 57 u64 words, the first entry the
/// retired totals, word 0 of the others `pid << 32 | busy`) says: (pid,
/// busy) per claimed entry.
fn busy_board(s: &Server) -> Board {
    let path = std::fs::read_dir(&s.root.0)
        .expect("read the server root")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "busy"))
        .expect("a busy board beside the daemon socket");
    std::fs::read(&path)
        .expect("read the busy board")
        .chunks_exact(57 * 8)
        .skip(1)
        .map(|c| u64::from_le_bytes(c[..8].try_into().expect("8 bytes")))
        .filter(|v| *v != 0)
        .map(|v| ((v >> 32) as u32, (v & 0xffff_ffff) as u32))
        .collect()
}

/// Every daemon process publishes its busy threads, so that each
/// front-end child sends a request on a kept connection only to a process
/// with a thread idle, whichever child keeps the others busy.
#[test]
fn daemon_processes_publish_their_busy_threads_for_every_child() {
    let s = serve_app("pool-busy-board", SMALL_POOL);
    let wait_for = |what: &str, ok: &dyn Fn(&Board) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let board = busy_board(&s);
            if ok(&board) {
                return board;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the board says {board:?}\nlog:\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let idle = wait_for("both processes, idle", &|b| {
        b.len() == 2 && b.iter().all(|e| e.1 == 0)
    });
    for (pid, _) in &idle {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            String::from_utf8_lossy(&cmdline).contains("quill-daemon"),
            "entry of pid {pid} is a daemon process: {cmdline:?}"
        );
    }
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let url = s.url("/app/sleep?3");
            std::thread::spawn(move || get(&url).0)
        })
        .collect();
    wait_for("three threads busy", &|b| {
        b.iter().map(|e| e.1).sum::<u32>() == 3
    });
    for c in clients {
        assert_eq!(c.join().expect("client"), 200);
    }
    let after = wait_for("idle again", &|b| b.iter().all(|e| e.1 == 0));
    assert_eq!(after, idle, "the same two processes");
}
