//! The life of a daemon group around its requests: a client that goes
//! away mid-response, a script that changes, a process that keeps dying.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, SystemTime};

use crate::{Server, TempDir, fixtures, get, within};

/// A private copy of the lifecycle app (the tests write marker files next
/// to it and change its mtime).
fn app_copy(dir: &TempDir) -> PathBuf {
    let script = dir.0.join("lifecycle.wsgi");
    std::fs::copy(fixtures().join("lifecycle.wsgi"), &script).expect("copy the app");
    script
}

/// Moves the script's mtime forward, as a deploy that rewrites it would.
fn touch(script: &Path, ahead_s: u64) {
    let f = std::fs::File::options()
        .write(true)
        .open(script)
        .expect("open the script");
    f.set_modified(SystemTime::now() + Duration::from_secs(ahead_s))
        .expect("set mtime");
}

#[test]
fn a_client_that_disconnects_frees_its_daemon_thread() {
    let dir = TempDir::new("lifecycle-disconnect-app");
    let script = app_copy(&dir);
    // One thread in all: the next request can only run if the dripping
    // one lets go of it.
    let s = Server::express(
        "lifecycle-disconnect",
        &script,
        &["--processes", "1", "--threads", "1"],
    );
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    c.write_all(b"GET /drip HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut got = 0;
    let mut buf = [0u8; 4096];
    while got < 4096 {
        let n = c.read(&mut buf).expect("the drip starts");
        assert!(n > 0, "the drip ended early");
        got += n;
    }
    drop(c);
    // Answered by the one thread (the agent gives up after 60 s; the drip
    // would hold the thread for 5 minutes).
    assert_eq!(get(&s.url("/pid")).0, 200);
    assert!(
        within(Duration::from_secs(10), || dir
            .0
            .join("drip-closed")
            .exists()
            .then_some(()))
        .is_some(),
        "the response's close() was called"
    );
    assert_eq!(s.daemons().len(), 1, "no process was sacrificed");
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn a_changed_script_restarts_the_group_gracefully_and_a_crash_loop_is_reported() {
    let dir = TempDir::new("lifecycle-reload-app");
    let script = app_copy(&dir);
    let s = Server::express(
        "lifecycle-reload",
        &script,
        &["--processes", "1", "--threads", "2"],
    );
    let first = serving_pid(&s).expect("a pid");
    // A request in flight when the script changes finishes normally.
    let slow = {
        let url = s.url("/sleep?2");
        thread::spawn(move || get(&url))
    };
    thread::sleep(Duration::from_millis(300));
    touch(&script, 10);
    let second = within(Duration::from_secs(30), || {
        serving_pid(&s).filter(|p| *p != first)
    })
    .expect("a new process after the change");
    assert_eq!(slow.join().expect("join"), (200, "ok".into()), "graceful");
    assert!(
        s.wait_log("changed; gracefully restarting the daemon processes"),
        "{}",
        s.log()
    );

    // Now the new script kills its process at import, every time.
    std::fs::write(dir.0.join("crash-on-import"), "").expect("marker");
    touch(&script, 20);
    assert!(s.wait_log("keeps dying"), "{}", s.log());
    assert!(s.log().contains("exit status 7"), "{}", s.log());
    // Fixed: the next restart (after its back-off) stays up.
    std::fs::remove_file(dir.0.join("crash-on-import")).expect("unmark");
    let third = within(Duration::from_secs(60), || serving_pid(&s)).expect("back up");
    assert_ne!(third, second);
    assert_eq!(s.wait_daemons(1).len(), 1, "back to full strength");
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn ps_shows_the_display_name() {
    let dir = TempDir::new("lifecycle-display-app");
    let script = app_copy(&dir);
    let s = Server::express("lifecycle-display", &script, &["--processes", "2"]);
    let daemons = s.wait_daemons(2);
    assert_eq!(daemons.len(), 2);
    for d in daemons {
        // argv is the display-name alone, as mod_wsgi shows it.
        let cmdline = std::fs::read(format!("/proc/{d}/cmdline")).expect("cmdline");
        assert_eq!(
            String::from_utf8_lossy(&cmdline),
            format!("(wsgi:localhost:{})\0", s.port)
        );
    }
    // The spec file's path does not reach the application's environment.
    assert_eq!(get(&s.url("/spec-env")), (200, "False".into()));
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn express_preloads_the_script_before_the_first_request() {
    let dir = TempDir::new("lifecycle-preload-app");
    let script = app_copy(&dir);
    // process-group and application-group on the mount: mod_wsgi imports
    // the script when the process starts.
    let s = Server::express("lifecycle-preload", &script, &["--processes", "1"]);
    let (st, body) = get(&s.url("/preload"));
    assert_eq!(st, 200);
    let v: Vec<u64> = body.split(' ').map(|n| n.parse().expect("µs")).collect();
    assert!(
        v[0] < v[1],
        "imported at {} µs, first request taken at {} µs",
        v[0],
        v[1]
    );
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn an_idle_process_is_replaced_after_inactivity_timeout() {
    let dir = TempDir::new("lifecycle-idle-app");
    let script = app_copy(&dir);
    let s = Server::express(
        "lifecycle-idle",
        &script,
        &["--processes", "1", "--inactivity-timeout", "1"],
    );
    let first = s.wait_daemons(1);
    assert_eq!(first.len(), 1);
    // No requests from now on (the timer was armed by the server's
    // readiness probe): the process stops and the supervisor replaces it.
    let replaced = within(Duration::from_secs(30), || {
        let d = s.daemons();
        (d.len() == 1 && d[0] != first[0]).then(|| d[0])
    })
    .expect("a replacement process");
    assert!(
        s.wait_log("Daemon process inactivity timer expired"),
        "{}",
        s.log()
    );
    // The replacement answers (it may still be importing the script).
    let answered =
        within(Duration::from_secs(30), || serving_pid(&s)).expect("the replacement answers");
    assert_ne!(answered, first[0].to_string(), "{}", s.log());
    assert_eq!(
        s.wait_daemons(1),
        vec![answered.parse::<u32>().expect("pid")],
        "replaced by {replaced}; log:\n{}",
        s.log()
    );
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn a_script_that_fails_to_load_restarts_its_process_after_startup_timeout() {
    let dir = TempDir::new("lifecycle-startup-app");
    let script = app_copy(&dir);
    std::fs::write(dir.0.join("raise-on-import"), "").expect("marker");
    let s = Server::express(
        "lifecycle-startup",
        &script,
        &["--processes", "1", "--startup-timeout", "1"],
    );
    // The import fails: 500 with the traceback, the process stays up…
    assert_eq!(get(&s.url("/pid")).0, 500);
    assert!(s.wait_log("told to fail at import"), "{}", s.log());
    let first = s.wait_daemons(1);
    assert_eq!(first.len(), 1);
    // … until startup-timeout, then it is replaced; once the script is
    // fixed, the replacement serves.
    assert!(
        s.wait_log("Application startup timer expired"),
        "{}",
        s.log()
    );
    std::fs::remove_file(dir.0.join("raise-on-import")).expect("unmark");
    let answered =
        within(Duration::from_secs(30), || serving_pid(&s)).expect("the replacement serves");
    assert_ne!(answered, first[0].to_string());
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn a_retiring_process_gives_running_requests_graceful_plus_shutdown_timeout() {
    let dir = TempDir::new("lifecycle-graceful-app");
    let script = app_copy(&dir);
    let s = Server::express(
        "lifecycle-graceful",
        &script,
        &[
            "--processes",
            "1",
            "--threads",
            "2",
            "--graceful-timeout",
            "1",
            "--shutdown-timeout",
            "1",
        ],
    );
    let first = serving_pid(&s).expect("a pid");
    // A request that would take 20 s, then the script changes: the old
    // process may finish it only within graceful-timeout + shutdown-timeout.
    let long = {
        let url = s.url("/sleep?20");
        thread::spawn(move || get(&url))
    };
    thread::sleep(Duration::from_millis(300));
    touch(&script, 10);
    let (status, _) = long.join().expect("join");
    assert_eq!(status, 500, "cut when the old process had to go");
    assert!(s.wait_log("changed; gracefully restarting"), "{}", s.log());
    let next = within(Duration::from_secs(30), || {
        serving_pid(&s).filter(|p| *p != first)
    })
    .expect("the replacement serves");
    assert_ne!(next, first);
    assert_eq!(s.stop(), Some(0));
}

/// The pid of the daemon process that answered `/pid`, if one did.
fn serving_pid(s: &Server) -> Option<String> {
    let (st, body) = get(&s.url("/pid"));
    (st == 200).then_some(body)
}
