//! Application groups are interpreters: in one daemon process, each
//! `WSGIApplicationGroup` other than `%{GLOBAL}` is a sub-interpreter of
//! its own, with its own modules, settings and globals; `%{GLOBAL}` is the
//! main interpreter. (The PEP 3333 rules in a sub-interpreter are
//! conformance.rs's `sub_interpreter::*`.)

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{Server, TempDir, agent, fixtures, free_port, get, venv};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from).expect("read fixture dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy fixture");
        }
    }
}

/// Two Django projects (settings `site_a.settings` and `site_b.settings`)
/// mounted in one daemon process under two application groups, each
/// preloaded at start by the alias's `process-group=` and
/// `application-group=`.
#[test]
fn two_django_projects_in_one_process_each_see_only_their_own_settings_and_globals() {
    let Some(venv) = venv() else { return };
    let root = TempDir::new("interp-django");
    let sites = root.0.join("sites");
    copy_dir(&fixtures().join("two_sites"), &sites);
    let port = free_port();
    let conf = root.0.join("httpd.conf");
    let (r, d, v) = (root.0.display(), sites.display(), venv.display());
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{r}"
ServerName localhost
Listen 127.0.0.1:{port}
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule wsgi_module modules/mod_wsgi.so
LogLevel info
WSGISocketPrefix "{r}/wsgi"
WSGIPythonHome "{v}"
WSGIDaemonProcess sites processes=1 threads=4 python-path="{d}:{d}/lib"
WSGIScriptAlias /a "{d}/a.wsgi" process-group=sites application-group=site-a
WSGIScriptAlias /b "{d}/b.wsgi" process-group=sites application-group=site-b
"#
        ),
    )
    .expect("write the config");
    let s = Server::serve(root, &conf, port);
    // Both are created (and their scripts loaded) at start: before any
    // request reaches a daemon.
    for name in ["site-a", "site-b"] {
        assert!(
            s.wait_log(&format!("Create interpreter '{name}'.")),
            "{}",
            s.log()
        );
    }
    let info = |p: &str| {
        let (st, body) = get(&s.url(p));
        assert_eq!(st, 200, "{p}: {body}\n{}", s.log());
        json(&body)
    };

    let a = info("/a/info?set=set-by-a");
    let b = info("/b/info");
    assert_eq!(a["pid"], b["pid"], "one daemon process serves both");
    assert_eq!(a["label"], "site A");
    assert_eq!(a["settings_module"], "site_a.settings");
    assert_eq!(a["root_urlconf"], "site_a.urls");
    assert_eq!(b["label"], "site B");
    assert_eq!(b["settings_module"], "site_b.settings");
    assert_eq!(b["root_urlconf"], "site_b.urls");
    // Each interpreter imported only its own project.
    assert_eq!(
        a["site_modules"],
        serde_json::json!(["site_a", "site_a.settings", "site_a.urls"])
    );
    assert_eq!(
        b["site_modules"],
        serde_json::json!(["site_b", "site_b.settings", "site_b.urls"])
    );
    // A module global set by A is not B's.
    assert_eq!(a["shared"], "set-by-a");
    assert_eq!(b["shared"], serde_json::Value::Null);
    assert_eq!(info("/a/info")["shared"], "set-by-a", "A keeps its own");
    assert_eq!(info("/b/info?set=set-by-b")["shared"], "set-by-b");
    assert_eq!(info("/a/info")["shared"], "set-by-a", "B's write stays B's");
    // The real names, in the environ and in the mod_wsgi module.
    for (v, name) in [(&a, "site-a"), (&b, "site-b")] {
        assert_eq!(v["application_group"], name);
        assert_eq!(v["environ_application_group"], name);
    }
    // Four client threads, both sites at once on the daemon's four
    // threads: every answer from the right project.
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let base = s.url("");
            std::thread::spawn(move || {
                for i in 0..25 {
                    let (path, label) = if (i + t) % 2 == 0 {
                        ("/a/info", "site A")
                    } else {
                        ("/b/info", "site B")
                    };
                    let (st, body) = get(&format!("{base}{path}"));
                    assert_eq!(st, 200, "{body}");
                    assert_eq!(json(&body)["label"], label);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("client thread");
    }
    assert_eq!(s.stop(), Some(0));
}

/// `WSGIImportScript` into a named group loads the script into that
/// interpreter at start (so the first request there finds it loaded);
/// a group nobody preloads is created by its first request; `%{GLOBAL}`
/// is the main interpreter, reported as `''`.
#[test]
fn import_script_preloads_into_its_interpreter_and_other_groups_start_on_demand() {
    let root = TempDir::new("interp-import");
    // Outside the server's root, which goes with the server at its stop.
    let app = TempDir::new("interp-import-app");
    let d = app.0.clone();
    std::fs::copy(fixtures().join("marker.wsgi"), d.join("marker.wsgi")).expect("copy app");
    let port = free_port();
    let conf = root.0.join("httpd.conf");
    let (r, dd) = (root.0.display(), d.display());
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{r}"
ServerName localhost
Listen 127.0.0.1:{port}
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule wsgi_module modules/mod_wsgi.so
LogLevel info
WSGISocketPrefix "{r}/wsgi"
WSGIDaemonProcess g processes=1 threads=2
WSGIImportScript "{dd}/marker.wsgi" process-group=g application-group=preloaded
WSGIProcessGroup g
WSGIScriptAlias /pre "{dd}/marker.wsgi" application-group=preloaded
WSGIScriptAlias /lazy "{dd}/marker.wsgi" application-group=lazy
WSGIScriptAlias /global "{dd}/marker.wsgi" application-group=%{{GLOBAL}}
"#
        ),
    )
    .expect("write the config");
    let s = Server::serve(root, &conf, port);
    let loads = d.join("loads.txt");
    // The preload happens at start, before any request reaches the app.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&loads).is_ok_and(|t| t.contains("preloaded ")) {
        assert!(Instant::now() < deadline, "no preload: {}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let groups = |v: &serde_json::Value| -> Vec<String> {
        v["loads"]
            .as_array()
            .expect("loads")
            .iter()
            .map(|l| {
                l.as_str()
                    .unwrap_or("")
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };

    let pre = json(&get(&s.url("/pre")).1);
    assert_eq!(pre["group"], "preloaded");
    assert_eq!(pre["module_group"], "preloaded");
    assert_eq!(
        groups(&pre),
        ["preloaded"],
        "the request ran where the script was preloaded (no second load)"
    );
    assert!(!s.log().contains("Create interpreter 'lazy'"));

    let lazy = json(&get(&s.url("/lazy")).1);
    assert_eq!(lazy["group"], "lazy");
    assert_eq!(lazy["module_group"], "lazy");
    assert_eq!(groups(&lazy), ["preloaded", "lazy"]);
    assert!(
        s.log().contains("Create interpreter 'lazy'."),
        "{}",
        s.log()
    );

    let global = json(&get(&s.url("/global")).1);
    assert_eq!(global["group"], "", "%{{GLOBAL}} is reported as ''");
    assert_eq!(global["module_group"], "");
    assert_eq!(groups(&global), ["preloaded", "lazy", "%{GLOBAL}"]);
    assert!(!s.log().contains("Create interpreter ''"));

    // Loaded once per interpreter, whatever the number of requests.
    for p in ["/pre", "/lazy", "/global", "/pre"] {
        assert_eq!(groups(&json(&get(&s.url(p)).1)).len(), 3, "{p}");
    }
    let pids: std::collections::BTreeSet<String> = [&pre, &lazy, &global]
        .iter()
        .map(|v| v["pid"].to_string())
        .collect();
    assert_eq!(pids.len(), 1, "one process holds all three interpreters");
    assert_eq!(s.stop(), Some(0));
    // At stop, the atexit functions of every interpreter ran: the main
    // one's first.
    let exits = std::fs::read_to_string(d.join("exits.txt")).unwrap_or_default();
    let exits: Vec<&str> = exits.lines().collect();
    assert_eq!(exits.first(), Some(&"%{GLOBAL}"), "{exits:?}");
    let mut sorted = exits.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["%{GLOBAL}", "lazy", "preloaded"]);
}

/// Flask, from the virtualenv, in a named application group: the same
/// checks as the main interpreter's test (apps.rs).
#[test]
fn flask_app_in_a_named_application_group() {
    let Some(venv) = venv() else { return };
    let s = Server::express_edited(
        "interp-flask",
        &fixtures().join("flask_app.wsgi"),
        &["--python-home", venv.to_str().expect("venv path")],
        |conf| conf.replace("application-group=%{GLOBAL}", "application-group=flask"),
    );
    let (st, body) = get(&s.url("/sys"));
    assert_eq!(st, 200, "{body}\n{}", s.log());
    let v = json(&body);
    assert_eq!(
        Path::new(v["prefix"].as_str().expect("prefix"))
            .canonicalize()
            .expect("prefix exists"),
        venv.canonicalize().expect("venv exists"),
        "the sub-interpreter runs the virtualenv's Python"
    );
    assert!(
        v["path"]
            .as_array()
            .expect("path")
            .iter()
            .any(|p| p.as_str().unwrap_or("").contains("site-packages"))
    );
    let (st, body) = get(&s.url("/hello/Quill"));
    assert_eq!(st, 200);
    assert!(body.contains("<h1>Hello, Quill!</h1>"), "{body}");
    let mut r = agent()
        .post(&s.url("/form"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(&b"name=flask+form"[..])
        .expect("POST");
    assert_eq!(
        r.body_mut().read_to_string().expect("body"),
        "posted flask form"
    );
    assert_eq!(get(&s.url("/stream")), (200, "0\n1\n2\n3\n4\n".into()));
    assert!(
        s.log().contains("Create interpreter 'flask'."),
        "{}",
        s.log()
    );
    assert_eq!(s.stop(), Some(0));
}

/// request-timeout in a sub-interpreter: the stuck thread is interrupted
/// (with that interpreter's RequestTimeout) and answers 504, the process
/// carries on; a crash takes the process, and its replacement creates the
/// interpreter again.
#[test]
fn request_timeout_and_crashes_in_a_sub_interpreter() {
    let s = Server::express_edited(
        "interp-faults",
        &fixtures().join("faults.wsgi"),
        &[
            "--threads",
            "3",
            "--request-timeout",
            "2",
            "--interrupt-timeout",
            "2",
        ],
        |conf| conf.replace("application-group=%{GLOBAL}", "application-group=faults"),
    );
    let pid = || {
        let (st, body) = get(&s.url("/pid"));
        assert_eq!(st, 200, "{body}");
        body
    };
    let first = pid();
    let url = s.url("/loop");
    let hung = std::thread::spawn(move || get(&url).0);
    assert_eq!(get(&s.url("/sleep?0.5")), (200, "ok".into()));
    assert_eq!(hung.join().expect("client"), 504);
    assert!(
        s.wait_log("interrupted by request-timeout; it unwound cleanly"),
        "{}",
        s.log()
    );
    assert_eq!(pid(), first, "the thread unwound: same process");
    assert_eq!(get(&s.url("/sleep?0")), (200, "ok".into()));

    assert_eq!(get(&s.url("/exit")).0, 500);
    assert!(s.wait_log("has died"), "{}", s.log());
    s.wait_daemons(1);
    assert_ne!(
        pid(),
        first,
        "a new process, with the interpreter made again"
    );
    assert_eq!(s.log().matches("Create interpreter 'faults'.").count(), 2);
    assert_eq!(s.stop(), Some(0));
}

/// The simplified GIL API (`PyGILState_*`, used by some C extensions)
/// returns at once in the main interpreter and deadlocks in a
/// sub-interpreter, where deadlock-timeout replaces the process — what
/// docs/interpreters.md and `quill check`'s wsgi-sub-interpreter say.
#[test]
fn the_simplified_gil_api_works_in_the_main_interpreter_only() {
    let args = ["--threads", "2", "--deadlock-timeout", "2"];
    let main = Server::express(
        "interp-gilstate-main",
        &fixtures().join("faults.wsgi"),
        &args,
    );
    assert_eq!(get(&main.url("/gilstate")), (200, "ok".into()));
    assert_eq!(main.stop(), Some(0));

    let s = Server::express_edited(
        "interp-gilstate-sub",
        &fixtures().join("faults.wsgi"),
        &args,
        |conf| conf.replace("application-group=%{GLOBAL}", "application-group=faults"),
    );
    assert_eq!(get(&s.url("/gilstate")).0, 500);
    assert!(s.wait_log("deadlock timer expired"), "{}", s.log());
    s.wait_daemons(1);
    assert_eq!(get(&s.url("/sleep?0")), (200, "ok".into()), "replaced");
    assert_eq!(s.stop(), Some(0));
}

/// CPython 3.11 asks for the GIL per interpreter: without Quill's GIL
/// pacer, a thread running pure Python in a sub-interpreter kept it from
/// the main interpreter's threads until it finished — other groups'
/// requests waited, and the deadlock timer (which takes the GIL from the
/// main interpreter) restarted a busy process. With it, a request in the
/// main interpreter is answered meanwhile and the spin completes.
#[test]
fn python_spinning_in_a_sub_interpreter_does_not_hold_up_the_others() {
    let root = TempDir::new("interp-spin");
    let port = free_port();
    let conf = root.0.join("httpd.conf");
    let (r, app) = (root.0.display(), fixtures().join("faults.wsgi"));
    let app = app.display();
    std::fs::write(
        &conf,
        format!(
            r#"ServerRoot "{r}"
ServerName localhost
Listen 127.0.0.1:{port}
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule wsgi_module modules/mod_wsgi.so
LogLevel info
WSGISocketPrefix "{r}/wsgi"
WSGIDaemonProcess g processes=1 threads=3 deadlock-timeout=2
WSGIScriptAlias /sub "{app}" process-group=g application-group=spinner
WSGIScriptAlias /main "{app}" process-group=g application-group=%{{GLOBAL}}
"#
        ),
    )
    .expect("write the config");
    let s = Server::serve(root, &conf, port);
    let (st, pid) = get(&s.url("/main/pid"));
    assert_eq!(st, 200);
    assert_eq!(get(&s.url("/sub/pid")), (200, pid.clone()), "one process");
    let url = s.url("/sub/spin?4");
    let spinner = std::thread::spawn(move || get(&url));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get(&s.url("/main/pid")),
        (200, pid.clone()),
        "answered during the spin, by the same process"
    );
    assert_eq!(
        spinner.join().expect("client"),
        (200, "ok".into()),
        "{}",
        s.log()
    );
    assert!(
        !s.log().contains("deadlock timer expired"),
        "a busy process is not a deadlocked one: {}",
        s.log()
    );
    assert_eq!(get(&s.url("/main/pid")), (200, pid));
    assert_eq!(s.stop(), Some(0));
}
