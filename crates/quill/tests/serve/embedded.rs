//! Embedded mode (mounts without a daemon group): front-end children that
//! host Python themselves, under the same pool controller; children that
//! don't embed it never map libpython; `WSGIRestrictEmbedded On`; script
//! reloading in place; atexit functions when a child exits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::{Server, TempDir, fixtures, free_port, get, within};

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

/// `quill serve` of a configuration of the `mpm` MPM (`worker`, `event`)
/// and mod_wsgi, `LogLevel info`, with `body` after that head.
fn serve_config(root: TempDir, mpm: &str, body: &str) -> Server {
    let port = free_port();
    let conf = root.0.join("httpd.conf");
    let r = root.0.display();
    std::fs::write(
        &conf,
        format!(
            "ServerRoot \"{r}\"\nServerName localhost\nListen 127.0.0.1:{port}\n\
             LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so\n\
             LoadModule wsgi_module modules/mod_wsgi.so\nLogLevel info\n\
             WSGISocketPrefix \"{r}/wsgi\"\n{body}\n"
        ),
    )
    .expect("write the config");
    Server::serve(root, &conf, port)
}

/// A WSGI script answering `VERSION HELPER PID RELOADING`: its version,
/// `helper.VALUE` (a module it imports), its process and the request's
/// `mod_wsgi.script_reloading`; `?wait` holds the request 0.5 s first.
fn versioned_script(version: &str) -> String {
    format!(
        "import os\nimport time\n\nimport helper\n\nVERSION = {version:?}\n\n\
         def application(environ, start_response):\n\
         \x20   if environ.get('QUERY_STRING') == 'wait':\n\
         \x20       time.sleep(0.5)\n\
         \x20   body = ' '.join([VERSION, helper.VALUE, str(os.getpid()),\n\
         \x20                    environ['mod_wsgi.script_reloading']])\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [body.encode()]\n"
    )
}

/// A script that fails at import (a syntax error).
const BROKEN_SCRIPT: &str = "def application(environ, start_response:\n    pass\n";

/// Writes `text` to `path` with an mtime `ahead_s` seconds from now, as
/// a deploy that rewrites the file would (each rewrite of a test gets its
/// own mtime, however quickly they follow each other).
fn rewrite(path: &Path, text: &str, ahead_s: u64) {
    std::fs::write(path, text).expect("write the script");
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now() + Duration::from_secs(ahead_s)))
        .expect("set the mtime");
}

/// Two requests for `path?wait` at once: each request thread of the (one)
/// child answers one, so what both say is what every thread serves.
fn both_threads(s: &Server, path: &str) -> Vec<(u16, String)> {
    let ask: Vec<_> = (0..2)
        .map(|_| {
            let url = s.url(&format!("{path}?wait"));
            std::thread::spawn(move || get(&url))
        })
        .collect();
    ask.into_iter().map(|t| t.join().expect("client")).collect()
}

/// Asks for `path` until the answer has `status` and a body starting with
/// `start` (bounded).
fn until_answers(s: &Server, path: &str, status: u16, start: &str) {
    let answered = within(Duration::from_secs(10), || {
        let (st, body) = get(&s.url(path));
        (st == status && body.starts_with(start)).then_some(())
    });
    assert!(
        answered.is_some(),
        "{path} never answered {status} {start}…\n{}",
        s.log()
    );
}

/// The error-log lines of `script`'s first failed load: the `Failed to
/// exec` line and the traceback logged with it, without their timestamp,
/// pid and client (`[remote …]`), the script's path written SCRIPT; and
/// the prefix they had.
fn failed_load(log: &str, script: &Path) -> (String, Vec<String>) {
    let needle = format!("Failed to exec Python script file '{}'.", script.display());
    let first = log
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no `{needle}` in the log:\n{log}"));
    let prefix = &first[..first.find("Failed to exec").unwrap_or(0)];
    let path = script.display().to_string();
    let lines = log
        .lines()
        .skip_while(|l| *l != first)
        .take_while(|l| l.starts_with(prefix))
        .map(|l| l[prefix.len()..].replace(&path, "SCRIPT"))
        .collect();
    let without_time = prefix[prefix.find("] ").map_or(0, |i| i + 2)..].to_string();
    (without_time, lines)
}

/// WSGIScriptReloading On (the default) in embedded mode: a changed script
/// is imported again in place (once the child has looked at it, at most
/// a second later), in the main interpreter and in a named group's
/// sub-interpreter, and every request thread serves the new one;
/// the modules it imports are not reloaded (mod_wsgi re-imports only the
/// script module). A broken version gives a 500 and the daemon's error-log
/// lines for a script that fails to import, and the child lives on; the
/// fixed file serves again. With WSGIScriptReloading Off the loaded
/// script keeps serving.
#[test]
fn a_changed_script_is_imported_again_in_place_and_reloading_off_keeps_it() {
    let app = TempDir::new("embedded-reload-app");
    let d = &app.0;
    std::fs::create_dir_all(d.join("lib")).expect("lib dir");
    std::fs::write(d.join("lib/helper.py"), "VALUE = 'h1'\n").expect("helper");
    let (main, named, off) = (
        d.join("main.wsgi"),
        d.join("named.wsgi"),
        d.join("off.wsgi"),
    );
    let daemon_broken = d.join("daemon-broken.wsgi");
    for script in [&main, &named, &off] {
        rewrite(script, &versioned_script("v1"), 0);
    }
    rewrite(&daemon_broken, BROKEN_SCRIPT, 0);
    let dd = d.display();
    // One child of two threads: every request reaches the same process.
    // (The daemon's mount is not preloaded: its script fails on a request
    // too.)
    let s = serve_config(
        TempDir::new("embedded-reload"),
        "worker",
        &format!(
            "StartServers 1\nServerLimit 1\nThreadsPerChild 2\nMinSpareThreads 1\n\
             MaxSpareThreads 4\nMaxRequestWorkers 2\n\
             WSGIPythonPath \"{dd}/lib\"\n\
             WSGIScriptAlias /main \"{dd}/main.wsgi\" application-group=%{{GLOBAL}}\n\
             WSGIScriptAlias /named \"{dd}/named.wsgi\" application-group=named\n\
             WSGIScriptAlias /off \"{dd}/off.wsgi\" application-group=%{{GLOBAL}}\n\
             <Location /off>\nWSGIScriptReloading Off\n</Location>\n\
             WSGIDaemonProcess d processes=1 threads=1\n\
             WSGIApplicationGroup %{{GLOBAL}}\n\
             WSGIScriptAlias /daemon \"{dd}/daemon-broken.wsgi\" process-group=d\n"
        ),
    );
    let children = s.front_ends();
    assert_eq!(children.len(), 1, "one child");
    let pid = children[0];
    let says = |version: &str, helper: &str, reloading: &str| -> Vec<(u16, String)> {
        vec![(200, format!("{version} {helper} {pid} {reloading}")); 2]
    };
    for m in ["/main", "/named"] {
        assert_eq!(
            both_threads(&s, m),
            says("v1", "h1", "1"),
            "{m}\n{}",
            s.log()
        );
    }
    assert_eq!(
        both_threads(&s, "/off"),
        says("v1", "h1", "0"),
        "{}",
        s.log()
    );

    // A new version of each script, and of the module they import. The
    // child looks at a script at most once a second: the new version
    // serves from its first look after the change on.
    std::fs::write(d.join("lib/helper.py"), "VALUE = 'h2'\n").expect("helper");
    let changed = Instant::now();
    for script in [&main, &named, &off] {
        rewrite(script, &versioned_script("v2"), 10);
    }
    for m in ["/main", "/named"] {
        until_answers(&s, m, 200, "v2 ");
        assert_eq!(
            both_threads(&s, m),
            says("v2", "h1", "1"),
            "{m}\n{}",
            s.log()
        );
    }
    // With Off, still the first version, more than a second after the
    // change (had it been looked at, it would have been seen).
    let look = Duration::from_millis(1500);
    std::thread::sleep(look.saturating_sub(changed.elapsed()));
    assert_eq!(
        both_threads(&s, "/off"),
        says("v1", "h1", "0"),
        "Off keeps it"
    );
    for script in [&main, &named] {
        let line = format!("Reloading WSGI script '{}'.", script.display());
        assert!(s.log().contains(&line), "{line}\n{}", s.log());
    }
    assert!(
        !s.log()
            .contains(&format!("Reloading WSGI script '{}'", off.display())),
        "{}",
        s.log()
    );

    // A broken version: 500 on every request, logged as the daemon logs a
    // script that fails to import; the child stays.
    for script in [&main, &named] {
        rewrite(script, BROKEN_SCRIPT, 20);
    }
    for m in ["/main", "/named"] {
        until_answers(&s, m, 500, "");
        for (st, body) in both_threads(&s, m) {
            assert_eq!(st, 500, "{m}: {body}\n{}", s.log());
        }
    }
    assert_eq!(get(&s.url("/daemon")).0, 500);
    let (embedded_prefix, embedded) = failed_load(&s.log(), &main);
    let (daemon_prefix, daemon) = failed_load(&s.log(), &daemon_broken);
    assert!(embedded.len() > 2, "a traceback: {embedded:?}");
    assert!(
        embedded
            .last()
            .is_some_and(|l| l.starts_with("SyntaxError")),
        "{embedded:?}"
    );
    assert_eq!(embedded, daemon, "the daemon's lines");
    for prefix in [&embedded_prefix, &daemon_prefix] {
        assert!(
            prefix.starts_with("[wsgi:error]") && prefix.contains("[remote 127.0.0.1:"),
            "{prefix}"
        );
    }
    let (_, named_lines) = failed_load(&s.log(), &named);
    assert!(
        named_lines
            .last()
            .is_some_and(|l| l.starts_with("SyntaxError")),
        "{named_lines:?}"
    );
    assert_eq!(s.front_ends(), [pid], "the child lives on");

    // Fixed: served again, by every thread.
    for script in [&main, &named] {
        rewrite(script, &versioned_script("v3"), 30);
    }
    for m in ["/main", "/named"] {
        until_answers(&s, m, 200, "v3 ");
        assert_eq!(
            both_threads(&s, m),
            says("v3", "h1", "1"),
            "{m}\n{}",
            s.log()
        );
    }
    assert_eq!(s.stop(), Some(0));
}

/// A script preloaded into the main interpreter and a named group's
/// sub-interpreter of every embedded child, recording each load in
/// loads.txt and each run of its atexit function in exits.txt beside it
/// (`GROUP PID` lines); with a file `hang` beside it, the atexit function
/// never returns.
fn exit_recording_app(d: &Path) -> String {
    std::fs::write(
        d.join("exit.wsgi"),
        "import atexit\nimport os\nimport time\n\nimport mod_wsgi\n\n\
         HERE = os.path.dirname(__file__)\n\
         GROUP = mod_wsgi.application_group or '%{GLOBAL}'\n\n\
         def record(name):\n\
         \x20   with open(os.path.join(HERE, name), 'a') as f:\n\
         \x20       f.write('%s %d\\n' % (GROUP, os.getpid()))\n\n\
         record('loads.txt')\n\n\
         @atexit.register\n\
         def _exiting():\n\
         \x20   record('exits.txt')\n\
         \x20   while os.path.exists(os.path.join(HERE, 'hang')):\n\
         \x20       time.sleep(1)\n\n\
         def application(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [str(os.getpid()).encode()]\n",
    )
    .expect("write the app");
    let dd = d.display();
    format!(
        "WSGIImportScript \"{dd}/exit.wsgi\" process-group=%{{GLOBAL}} application-group=%{{GLOBAL}}\n\
         WSGIImportScript \"{dd}/exit.wsgi\" process-group=%{{GLOBAL}} application-group=named\n\
         WSGIScriptAlias /app \"{dd}/exit.wsgi\" application-group=%{{GLOBAL}}\n"
    )
}

/// The processes that loaded the script of [`exit_recording_app`] in `d`.
fn loaders(d: &Path) -> std::collections::BTreeSet<u32> {
    std::fs::read_to_string(d.join("loads.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect()
}

/// The `GROUP PID` lines of `file` in `d`, for `pid`.
fn records(d: &Path, file: &str, pid: u32) -> Vec<String> {
    std::fs::read_to_string(d.join(file))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with(&format!(" {pid}")))
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect()
}

/// Every embedded child that exits runs the atexit functions of its
/// interpreters, the main one's first, as a daemon process does: children
/// the pool kills as surplus, a child recycled by MaxConnectionsPerChild,
/// and the last ones at a graceful stop.
#[test]
fn an_exiting_embedded_child_runs_its_atexit_functions() {
    let app = TempDir::new("embedded-atexit-app");
    let d = &app.0;
    // Three children of two idle threads each, where MaxSpareThreads 4
    // allows two: the pool kills one (as `quill check` says).
    let mut s = serve_config(
        TempDir::new("embedded-atexit"),
        // (event: a child counts a connection when it accepts it, so it
        // stops right after its second.)
        "event",
        &format!(
            "StartServers 3\nServerLimit 3\nThreadsPerChild 2\nMinSpareThreads 1\n\
             MaxSpareThreads 4\nMaxRequestWorkers 6\nMaxConnectionsPerChild 2\n{}",
            exit_recording_app(d)
        ),
    );
    let loaded = |pid: u32| records(d, "loads.txt", pid).len() == 2;
    let exited = |pid: u32| records(d, "exits.txt", pid) == ["%{GLOBAL}", "named"];

    // The pool's kill of a surplus child: of the three that loaded the
    // script, one is gone.
    let killed = within(Duration::from_secs(30), || {
        let now = s.front_ends();
        let started = loaders(d);
        let gone: Vec<u32> = started
            .iter()
            .copied()
            .filter(|p| !now.contains(p))
            .collect();
        (started.len() == 3 && now.len() == 2 && !gone.is_empty()).then_some(gone)
    })
    .unwrap_or_else(|| panic!("the pool killed no child\n{}", s.log()));
    for pid in &killed {
        assert!(
            loaded(*pid),
            "{pid} preloaded both: {:?}",
            records(d, "loads.txt", *pid)
        );
        assert!(
            within(Duration::from_secs(10), || exited(*pid).then_some(())).is_some(),
            "killed child {pid}: {:?}\n{}",
            records(d, "exits.txt", *pid),
            s.log()
        );
    }

    // A child recycled after MaxConnectionsPerChild 2: requests, each on
    // a connection of its own, until one child has had two.
    let mut served: std::collections::BTreeMap<u32, u32> = Default::default();
    let recycled = loop {
        let (st, body) = get(&s.url("/app"));
        assert_eq!(st, 200, "{body}\n{}", s.log());
        let pid: u32 = body.parse().expect("a pid");
        let n = served.entry(pid).or_default();
        *n += 1;
        if *n == 2 {
            break pid;
        }
        assert!(served.values().sum::<u32>() < 10, "{served:?}");
    };
    assert!(
        within(Duration::from_secs(10), || exited(recycled).then_some(())).is_some(),
        "recycled child {recycled}: {:?}\n{}",
        records(d, "exits.txt", recycled),
        s.log()
    );

    // A graceful stop (SIGWINCH): the server exits once its children
    // have, each after its atexit functions.
    let last = within(Duration::from_secs(30), || {
        let now = s.front_ends();
        (!now.is_empty() && now.iter().all(|p| loaded(*p))).then_some(now)
    })
    .expect("a child again");
    crate::unsafe_kill(i32::try_from(s.pid()).expect("pid"), 28);
    let code = within(Duration::from_secs(30), || s.exited());
    assert_eq!(code, Some(Some(0)), "exits by itself\n{}", s.log());
    for pid in last {
        assert!(
            exited(pid),
            "child {pid} at the graceful stop: {:?}",
            records(d, "exits.txt", pid)
        );
    }
}

/// A stop (SIGTERM) ends the children at once, as httpd's: still after
/// their atexit functions.
#[test]
fn a_stopped_embedded_child_runs_its_atexit_functions() {
    let app = TempDir::new("embedded-atexit-stop-app");
    let d = &app.0;
    let s = serve_config(
        TempDir::new("embedded-atexit-stop"),
        "worker",
        &format!(
            "StartServers 2\nServerLimit 2\nThreadsPerChild 2\nMinSpareThreads 1\n\
             MaxSpareThreads 4\nMaxRequestWorkers 4\n{}",
            exit_recording_app(d)
        ),
    );
    let children = s.front_ends();
    assert_eq!(children.len(), 2);
    // Both children have loaded the script (and serve).
    let loaded = || {
        children
            .iter()
            .all(|p| records(d, "loads.txt", *p).len() == 2)
            .then_some(())
    };
    assert!(
        within(Duration::from_secs(30), loaded).is_some(),
        "{}",
        s.log()
    );
    assert_eq!(s.stop(), Some(0));
    for pid in children {
        assert_eq!(
            records(d, "exits.txt", pid),
            ["%{GLOBAL}", "named"],
            "{pid}"
        );
    }
}

/// An atexit function that never returns keeps an exiting child no longer
/// than embedded mode's bound (5 s): at a graceful stop, which would
/// otherwise wait for it forever (GracefulShutdownTimeout 0), the child
/// logs that it aborts and exits, and so does the server.
#[test]
fn a_hanging_atexit_function_cannot_keep_an_embedded_child() {
    let app = TempDir::new("embedded-atexit-hang-app");
    let d = &app.0;
    let mut s = serve_config(
        TempDir::new("embedded-atexit-hang"),
        "worker",
        &format!(
            "StartServers 1\nServerLimit 1\nThreadsPerChild 2\nMinSpareThreads 1\n\
             MaxSpareThreads 4\nMaxRequestWorkers 2\n{}",
            exit_recording_app(d)
        ),
    );
    let child = s.front_ends()[0];
    std::fs::write(d.join("hang"), "").expect("hang marker");
    crate::unsafe_kill(i32::try_from(s.pid()).expect("pid"), 28);
    let code = within(Duration::from_secs(30), || s.exited());
    assert_eq!(code, Some(Some(0)), "exits by itself\n{}", s.log());
    assert_eq!(
        records(d, "exits.txt", child),
        ["%{GLOBAL}"],
        "the main one's hung"
    );
    let line =
        "Aborting process: its requests and atexit functions did not finish within 5 seconds";
    assert!(
        s.log().contains(&format!("[pid {child}] {line}")),
        "{}",
        s.log()
    );
}
