use std::path::Path;

use super::*;
use crate::diag::Severity;
use crate::resolve::Resolved;

const HEAD: &str = "LoadModule mpm_event_module modules/mod_mpm_event.so\nLoadModule wsgi_module modules/mod_wsgi.so\nLoadModule alias_module modules/mod_alias.so\nListen 80\nListen 443\nServerName main.example\n";

fn run(body: &str) -> Resolved {
    let text = format!("{HEAD}{body}");
    let parsed = crate::syntax::parse_str(
        Path::new("/etc/httpd.conf"),
        &text,
        &crate::fs::MemFs::new(),
        &Default::default(),
    );
    crate::resolve::resolve(&parsed, &Default::default())
}

/// `wsgi/…` diagnostic codes, in order.
fn codes(r: &Resolved) -> Vec<&'static str> {
    r.diagnostics
        .iter()
        .map(|d| d.code)
        .filter(|c| c.starts_with("wsgi/"))
        .collect()
}

fn find<'r>(r: &'r Resolved, code: &str) -> &'r Diagnostic {
    r.diagnostics
        .iter()
        .find(|d| d.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:#?}", r.diagnostics))
}

fn daemon<'r>(r: &'r Resolved, name: &str) -> &'r DaemonProcess {
    r.config
        .wsgi
        .daemon(name)
        .unwrap_or_else(|| panic!("no daemon {name}"))
}

fn vmounts(r: &Resolved, v: usize) -> &[WsgiMount] {
    &r.config.vhosts[v].server.wsgi_mounts
}

#[test]
fn every_daemon_option_has_its_default() {
    let r = run("WSGIDaemonProcess app\nWSGIScriptAlias / /srv/app.wsgi process-group=app\n");
    assert_eq!(codes(&r), Vec::<&str>::new(), "{:#?}", r.diagnostics);
    let d = daemon(&r, "app");
    assert_eq!(d.definition_index, 1);
    assert_eq!(
        d.declared_in,
        DeclaredIn {
            vhost: None,
            server_name: Some("main.example".into())
        }
    );
    assert_eq!((d.processes, d.multiprocess), (1, false));
    assert_eq!((d.threads, d.multithread), (15, true));
    assert_eq!(d.display_name, None);
    assert_eq!(d.maximum_requests, 0);
    assert!(d.monitor_thread);
    assert!(!d.server_metrics);
    assert_eq!(
        d.identity,
        DaemonIdentity {
            user: None,
            group: None,
            supplementary_groups: vec![],
            umask: None,
            chroot: None,
            home: None,
            socket_user: None,
            script_user: None,
            script_group: None,
        }
    );
    assert_eq!(
        d.python,
        DaemonPython {
            python_home: None,
            effective_python_home: None,
            python_path: vec![],
            python_eggs: None,
            lang: None,
            locale: None,
            newrelic_config_file: None,
            newrelic_environment: None,
        }
    );
    assert_eq!(
        d.timeouts,
        DaemonTimeouts {
            inactivity_timeout_s: 0,
            request_timeout_s: 0,
            deadlock_timeout_s: 300,
            graceful_timeout_s: 15,
            eviction_timeout_s: 0,
            shutdown_timeout_s: 5,
            startup_timeout_s: 0,
            restart_interval_s: 0,
            connect_timeout_s: 15,
            socket_timeout_s: 0,
            effective_socket_timeout_s: 60,
            queue_timeout_s: 0,
            response_socket_timeout_s: 0,
            effective_response_socket_timeout_s: 60,
        }
    );
    assert_eq!(
        d.socket,
        DaemonSocket {
            path: "/var/run/apache2/wsgi.{pid}.{generation}.1.sock".into(),
            listen_backlog: 100,
            send_buffer_size: 0,
            receive_buffer_size: 0,
            header_buffer_size: 0,
            effective_header_buffer_size: 32768,
            response_buffer_size: 0,
            effective_response_buffer_size: 65536,
        }
    );
    assert_eq!(
        d.limits,
        DaemonLimits {
            cpu_time_limit_s: 0,
            cpu_priority: 0,
            memory_limit: 0,
            virtual_memory_limit: 0,
            stack_size: 0,
        }
    );
    let w = &r.config.wsgi;
    assert!(w.socket_rotation && !w.restrict_embedded && w.lazy_initialization);
    assert_eq!(w.socket_prefix, "/var/run/apache2/wsgi", "Debian's build");
    assert_eq!(w.accept_mutex, "default");
}

#[test]
fn every_daemon_option_is_read() {
    let r = run(concat!(
        "Timeout 30\n",
        "WSGIPythonHome /opt/py\n",
        "WSGISocketPrefix /run/wsgi\nWSGISocketRotation Off\n",
        "WSGIDaemonProcess first\n",
        "WSGIDaemonProcess app processes=1 threads=1 display-name=%{GROUP} home=/srv/app ",
        "python-path='/srv/app:/srv/lib' python-eggs=/tmp/eggs lang=en_US.UTF-8 locale=\"C.UTF-8\" ",
        "user=www-data group=www-data supplementary-groups=adm,staff umask=0027 ",
        "maximum-requests=1000 inactivity-timeout=300 request-timeout=60 deadlock-timeout=60 ",
        "graceful-timeout=10 eviction-timeout=20 shutdown-timeout=3 startup-timeout=15 ",
        "restart-interval=3600 connect-timeout=5 socket-timeout=0 queue-timeout=45 listen-backlog=50 ",
        "send-buffer-size=1024 receive-buffer-size=2048 header-buffer-size=8192 ",
        "response-buffer-size=131072 response-socket-timeout=0 socket-user=sock ",
        "script-user=owner cpu-time-limit=100 cpu-priority=-5 memory-limit=4294967296 ",
        "virtual-memory-limit=8589934592 stack-size=524288 server-metrics=On ",
        "newrelic-config-file=/etc/nr.ini newrelic-environment=prod\n",
        "WSGIProcessGroup app\nWSGIImportScript /srv/x.py process-group=first application-group=%{GLOBAL}\n",
        "WSGIScriptAlias / /srv/app.wsgi\n",
    ));
    assert_eq!(codes(&r), Vec::<&str>::new(), "{:#?}", r.diagnostics);
    let d = daemon(&r, "app");
    assert_eq!(d.definition_index, 2);
    assert_eq!((d.processes, d.multiprocess), (1, true));
    assert_eq!((d.threads, d.multithread), (1, false));
    assert_eq!(d.process_title.as_deref(), Some("(wsgi:app)"));
    assert_eq!(d.maximum_requests, 1000);
    assert!(d.server_metrics);
    assert_eq!(d.identity.home.as_deref(), Some("/srv/app"));
    assert_eq!(d.identity.user.as_deref(), Some("www-data"));
    assert_eq!(d.identity.supplementary_groups, vec!["adm", "staff"]);
    assert_eq!(d.identity.umask, Some(0o027));
    assert_eq!(d.identity.socket_user.as_deref(), Some("sock"));
    assert_eq!(d.identity.script_user.as_deref(), Some("owner"));
    assert_eq!(d.python.python_path, vec!["/srv/app", "/srv/lib"]);
    assert_eq!(d.python.effective_python_home.as_deref(), Some("/opt/py"));
    assert_eq!(d.python.locale.as_deref(), Some("C.UTF-8"));
    assert_eq!(d.python.lang.as_deref(), Some("en_US.UTF-8"));
    assert_eq!(d.python.newrelic_environment.as_deref(), Some("prod"));
    let t = &d.timeouts;
    assert_eq!(
        (
            t.inactivity_timeout_s,
            t.request_timeout_s,
            t.deadlock_timeout_s,
            t.graceful_timeout_s,
            t.eviction_timeout_s,
            t.shutdown_timeout_s,
            t.startup_timeout_s,
            t.restart_interval_s,
            t.connect_timeout_s,
            t.queue_timeout_s
        ),
        (300, 60, 60, 10, 20, 3, 15, 3600, 5, 45)
    );
    // socket-timeout=0 → the Timeout of the server it is declared in.
    assert_eq!(t.effective_socket_timeout_s, 30);
    assert_eq!(t.effective_response_socket_timeout_s, 30);
    assert_eq!(d.socket.path, "/run/wsgi.{pid}.u{uid}.2.sock");
    assert_eq!(d.socket.listen_backlog, 50);
    assert_eq!(
        (
            d.socket.send_buffer_size,
            d.socket.receive_buffer_size,
            d.socket.effective_header_buffer_size,
            d.socket.effective_response_buffer_size
        ),
        (1024, 2048, 8192, 131072)
    );
    assert_eq!(
        d.limits,
        DaemonLimits {
            cpu_time_limit_s: 100,
            cpu_priority: -5,
            memory_limit: 4_294_967_296,
            virtual_memory_limit: 8_589_934_592,
            stack_size: 524_288,
        }
    );
    // Every option but python-home, chroot and script-group.
    assert_eq!(d.options_given.len(), DAEMON_OPTIONS.len() - 3);
}

#[test]
fn socket_timeout_comes_from_the_declaring_vhost() {
    let r = run(concat!(
        "<VirtualHost *:80>\nServerName a.example\nTimeout 20\n",
        "WSGIDaemonProcess a socket-timeout=0\nWSGIProcessGroup a\nWSGIScriptAlias / /srv/a.wsgi\n</VirtualHost>\n",
    ));
    assert_eq!(daemon(&r, "a").timeouts.effective_socket_timeout_s, 20);
    assert_eq!(vmounts(&r, 0)[0].socket_timeout_s, Some(20));
}

#[test]
fn each_validation_error_quotes_mod_wsgi() {
    let cases: &[(&str, &str)] = &[
        (
            "processes=0",
            "Invalid process count for WSGI daemon process.",
        ),
        (
            "processes=abc",
            "Invalid process count for WSGI daemon process.",
        ),
        (
            "processes=",
            "Invalid process count for WSGI daemon process.",
        ),
        (
            "threads=-1",
            "Invalid thread count for WSGI daemon process.",
        ),
        (
            "threads=65534",
            "Invalid thread count for WSGI daemon process.",
        ),
        (
            "home=relative/dir",
            "Invalid home directory for WSGI daemon process.",
        ),
        (
            "chroot=jail",
            "Invalid chroot directory for WSGI daemon process.",
        ),
        ("umask=0999", "Invalid umask for WSGI daemon process."),
        (
            "maximum-requests=-1",
            "Invalid request count for WSGI daemon process.",
        ),
        (
            "deadlock-timeout=-5",
            "Invalid deadlock timeout for WSGI daemon process.",
        ),
        (
            "socket-timeout=-1",
            "Invalid socket timeout for WSGI daemon process.",
        ),
        (
            "listen-backlog=-1",
            "Invalid listen backlog for WSGI daemon process.",
        ),
        (
            "header-buffer-size=4096",
            "Header buffer size must be >= 8192 bytes, or 0 for default.",
        ),
        (
            "response-buffer-size=1000",
            "Response buffer size must be >= 65536 bytes, or 0 for default.",
        ),
        (
            "send-buffer-size=100",
            "Send buffer size must be >= 512 bytes, or 0 for system default.",
        ),
        (
            "receive-buffer-size=511",
            "Receive buffer size must be >= 512 bytes, or 0 for system default.",
        ),
        (
            "stack-size=0",
            "Invalid stack size for WSGI daemon process.",
        ),
        (
            "memory-limit=-1",
            "Invalid memory limit for WSGI daemon process.",
        ),
        (
            "server-metrics=yes",
            "Invalid server metrics flag for WSGI daemon process.",
        ),
        ("group=", "Invalid group for WSGI daemon process."),
        (
            "cpu-priority=",
            "Invalid CPU priority for WSGI daemon process.",
        ),
    ];
    for (opt, apache) in cases {
        let r = run(&format!(
            "WSGIDaemonProcess app {opt}\nWSGIProcessGroup app\nWSGIScriptAlias / /srv/a.wsgi\n"
        ));
        let d = find(&r, "wsgi/bad-daemon-option");
        assert_eq!(d.apache.as_deref(), Some(*apache), "{opt}");
        assert!(d.span.is_some() && d.help.is_some(), "{opt}");
        assert!(d.help.as_deref().unwrap_or("").contains('`'), "{opt}");
        // The group is still registered: no cascade of "unknown group".
        assert!(!codes(&r).contains(&"wsgi/unknown-process-group"), "{opt}");
    }
}

#[test]
fn valid_boundaries_are_accepted() {
    let r = run(
        "WSGIDaemonProcess app threads=0 header-buffer-size=0 response-buffer-size=65536 send-buffer-size=512 processes=1\nWSGIImportScript /srv/svc.py process-group=app application-group=%{GLOBAL}\n",
    );
    assert_eq!(codes(&r), Vec::<&str>::new(), "{:#?}", r.diagnostics);
    assert_eq!(daemon(&r, "app").threads, 0);
}

#[test]
fn root_and_script_owner_conflicts_are_refused() {
    let r = run("WSGIDaemonProcess app user=root\n");
    assert_eq!(
        find(&r, "wsgi/daemon-as-root").apache.as_deref(),
        Some("WSGI process blocked from running as root.")
    );
    let r = run("WSGIDaemonProcess app user=#0\n");
    assert!(codes(&r).contains(&"wsgi/daemon-as-root"));
    let r = run("WSGIDaemonProcess app script-user=a script-group=b\n");
    assert_eq!(
        find(&r, "wsgi/bad-daemon-option").apache.as_deref(),
        Some("Only one of script-user and script-group allowed.")
    );
}

#[test]
fn garbage_numbers_warn_and_read_like_atoi() {
    let r = run(
        "WSGIDaemonProcess app threads=abc request-timeout=30s\nWSGIImportScript /srv/s.py process-group=app application-group=%{GLOBAL}\n",
    );
    let warnings: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.code == "wsgi/not-a-number")
        .collect();
    assert_eq!(warnings.len(), 2, "{:#?}", r.diagnostics);
    assert!(warnings.iter().all(|d| d.severity == Severity::Warning));
    let d = daemon(&r, "app");
    assert_eq!(d.threads, 0, "threads=abc is managed mode");
    assert_eq!(d.timeouts.request_timeout_s, 30);
}

#[test]
fn unknown_option_suggests_the_closest_and_lists_all() {
    let r = run(
        "WSGIDaemonProcess app thread=5\nWSGIProcessGroup app\nWSGIScriptAlias / /srv/a.wsgi\n",
    );
    let d = find(&r, "wsgi/unknown-daemon-option");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(
        d.apache.as_deref(),
        Some("Invalid option to WSGI daemon process definition.")
    );
    assert_eq!(d.help.as_deref(), Some("write `threads=5`"));
    assert!(d.label.contains("threads"));
    assert!(d.notes.iter().any(|n| n.contains("inactivity-timeout")));
    let r = run("WSGIDaemonProcess app frobnicate=1\n");
    assert_eq!(
        find(&r, "wsgi/unknown-daemon-option").help.as_deref(),
        Some("remove `frobnicate=1`")
    );
}

#[test]
fn malformed_and_fully_quoted_options() {
    let r = run("WSGIDaemonProcess app threads\n");
    assert_eq!(
        find(&r, "wsgi/malformed-option").apache.as_deref(),
        Some("Invalid option to WSGI daemon process definition.")
    );
    let r = run("WSGIDaemonProcess app \"threads=5\"\n");
    let d = find(&r, "wsgi/malformed-option");
    assert_eq!(
        d.help.as_deref(),
        Some("quote only the value: `threads='5'`")
    );
}

#[test]
fn quoted_values_may_contain_blanks() {
    let r = run(
        "WSGIDaemonProcess app display-name='my app  (%{GROUP})' python-path=\"/a b:/c\" home=/srv\n",
    );
    assert_eq!(
        codes(&r),
        vec!["wsgi/unused-daemon"],
        "{:#?}",
        r.diagnostics
    );
    let d = daemon(&r, "app");
    assert_eq!(d.display_name.as_deref(), Some("my app  (%{GROUP})"));
    assert_eq!(d.process_title.as_deref(), Some("my app  ((wsgi:app))"));
    assert_eq!(d.python.python_path, vec!["/a b", "/c"]);
    assert_eq!(d.identity.home.as_deref(), Some("/srv"));
}

#[test]
fn duplicate_group_names_are_refused_even_across_vhosts() {
    let r = run(concat!(
        "<VirtualHost *:80>\nServerName a.example\nWSGIDaemonProcess app\nWSGIProcessGroup app\nWSGIScriptAlias / /srv/a.wsgi\n</VirtualHost>\n",
        "<VirtualHost *:443>\nServerName a.example\nWSGIDaemonProcess app\nWSGIProcessGroup app\nWSGIScriptAlias / /srv/a.wsgi\n</VirtualHost>\n",
    ));
    let d = find(&r, "wsgi/duplicate-daemon");
    assert_eq!(
        d.apache.as_deref(),
        Some("Name duplicates previous WSGI daemon definition.")
    );
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(r.config.wsgi.daemons.len(), 1);
    // The :443 host shares the :80 group (same ServerName): no other error.
    assert_eq!(codes(&r), vec!["wsgi/duplicate-daemon"]);
}

#[test]
fn https_twin_shares_the_group_of_the_http_vhost() {
    let r = run(concat!(
        "<VirtualHost *:80>\nServerName www.example.com\nWSGIDaemonProcess site threads=5\n",
        "WSGIProcessGroup site\nWSGIScriptAlias / /srv/site/wsgi.py\n</VirtualHost>\n",
        "<VirtualHost *:443>\nServerName www.example.com\n",
        "WSGIProcessGroup site\nWSGIScriptAlias / /srv/site/wsgi.py\n</VirtualHost>\n",
    ));
    assert_eq!(codes(&r), Vec::<&str>::new(), "{:#?}", r.diagnostics);
    let d = daemon(&r, "site");
    assert_eq!(
        d.declared_in,
        DeclaredIn {
            vhost: Some(0),
            server_name: Some("www.example.com".into())
        }
    );
    for v in 0..2 {
        let m = &vmounts(&r, v)[0];
        assert_eq!(m.process_group.mode, DelegationMode::Daemon);
        assert_eq!(m.process_group.group.as_deref(), Some("site"));
        assert_eq!(
            m.application_group.interpreter.as_deref(),
            Some("www.example.com|")
        );
    }
}

#[test]
fn a_vhost_with_another_server_name_cannot_use_the_group() {
    let r = run(concat!(
        "<VirtualHost *:80>\nServerName a.example\nWSGIDaemonProcess a\nWSGIProcessGroup a\nWSGIScriptAlias / /srv/a.wsgi\n</VirtualHost>\n",
        "<VirtualHost *:80>\nServerName b.example\nWSGIProcessGroup a\nWSGIScriptAlias / /srv/b.wsgi\n</VirtualHost>\n",
    ));
    assert_eq!(codes(&r), vec!["wsgi/process-group-not-visible"]);
    let d = find(&r, "wsgi/process-group-not-visible");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(
        d.apache.as_deref(),
        Some("Daemon process called 'a' cannot be accessed by this WSGI application")
    );
    assert!(
        d.help
            .as_deref()
            .unwrap_or("")
            .contains("outside every <VirtualHost>")
    );
    let loc = r.sources.location(d.span.unwrap());
    assert_eq!(loc.line, 15, "points at the WSGIProcessGroup of b.example");
}

#[test]
fn a_global_group_is_usable_everywhere() {
    let r = run(concat!(
        "WSGIDaemonProcess shared processes=2 threads=4\n",
        "WSGIScriptAlias /common /srv/common.wsgi process-group=shared\n",
        "<VirtualHost *:80>\nServerName a.example\nWSGIProcessGroup shared\nWSGIScriptAlias / /srv/a.wsgi\n</VirtualHost>\n",
        "<VirtualHost *:8080>\nServerName b.example\nWSGIProcessGroup shared\nWSGIScriptAlias /b /srv/b.wsgi\n</VirtualHost>\n",
    ));
    assert_eq!(codes(&r), Vec::<&str>::new(), "{:#?}", r.diagnostics);
    assert_eq!(r.config.main_server.wsgi_mounts.len(), 1);
    // Own aliases first, then the inherited main-server alias.
    let a = vmounts(&r, 0);
    assert_eq!(
        a.iter()
            .map(|m| (m.url.as_str(), m.inherited))
            .collect::<Vec<_>>(),
        vec![("/", false), ("/common", true)]
    );
    let b = vmounts(&r, 1);
    assert_eq!(
        b[0].application_group.interpreter.as_deref(),
        Some("b.example:8080|/b")
    );
    assert_eq!(
        b[1].application_group.interpreter.as_deref(),
        Some("b.example:8080|/common")
    );
    assert!(
        b.iter()
            .all(|m| m.process_group.group.as_deref() == Some("shared"))
    );
}

#[test]
fn an_undefined_group_is_a_runtime_500() {
    let r = run("WSGIDaemonProcess apps\nWSGIScriptAlias / /srv/a.wsgi process-group=app\n");
    let d = find(&r, "wsgi/unknown-process-group");
    assert_eq!(
        d.apache.as_deref(),
        Some("No WSGI daemon process called 'app' has been configured")
    );
    assert!(d.help.as_deref().unwrap_or("").contains("`apps`"));
}

#[test]
fn preloading_needs_the_group_defined_earlier() {
    let r = run(concat!(
        "WSGIScriptAlias / /srv/a.wsgi process-group=app application-group=%{GLOBAL}\n",
        "WSGIDaemonProcess app\n",
    ));
    assert_eq!(codes(&r), vec!["wsgi/group-not-yet-configured"]);
    let d = find(&r, "wsgi/group-not-yet-configured");
    assert_eq!(
        d.apache.as_deref(),
        Some("WSGI process group not yet configured.")
    );
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(
        d.help.as_deref(),
        Some("move `WSGIDaemonProcess app …` above this line")
    );
    assert!(r.config.main_server.wsgi_mounts[0].preloaded);

    // In order: preloaded, and listed as an import script.
    let r = run(concat!(
        "WSGIDaemonProcess app\n",
        "WSGIScriptAlias / /srv/a.wsgi process-group=app application-group=%{GLOBAL}\n",
    ));
    assert_eq!(codes(&r), Vec::<&str>::new(), "{:#?}", r.diagnostics);
    let m = &r.config.main_server.wsgi_mounts[0];
    assert!(m.preloaded);
    assert_eq!(m.application_group.interpreter.as_deref(), Some(""));
    let imp = &r.config.wsgi.import_scripts;
    assert_eq!(imp.len(), 1);
    assert_eq!(
        (
            imp[0].script.as_str(),
            imp[0].process_group.as_str(),
            imp[0].application_group.as_str(),
            imp[0].from_script_alias
        ),
        ("/srv/a.wsgi", "app", "", true)
    );

    // Only one group option: not preloaded, so order does not matter.
    let r = run("WSGIScriptAlias / /srv/a.wsgi process-group=app\nWSGIDaemonProcess app\n");
    assert_eq!(codes(&r), Vec::<&str>::new());
    assert!(!r.config.main_server.wsgi_mounts[0].preloaded);
    // %{…} in a group option: not preloaded either.
    let r = run(
        "WSGIDaemonProcess app\nWSGIScriptAlias / /srv/a.wsgi process-group=app application-group=%{SERVER}\n",
    );
    assert!(!r.config.main_server.wsgi_mounts[0].preloaded);
    // WSGIScriptAliasMatch with $1 in the target: not preloaded.
    let r = run(
        "WSGIDaemonProcess app\nWSGIScriptAliasMatch ^/([^/]+) /srv/$1.wsgi process-group=app application-group=%{GLOBAL}\n",
    );
    assert!(!r.config.main_server.wsgi_mounts[0].preloaded);
    assert_eq!(
        r.config.main_server.wsgi_mounts[0].target_kind,
        MountTarget::Template
    );
}

#[test]
fn preloading_checks_visibility_at_config_time() {
    let r = run(concat!(
        "<VirtualHost *:80>\nServerName a.example\nWSGIDaemonProcess a\n</VirtualHost>\n",
        "<VirtualHost *:80>\nServerName b.example\n",
        "WSGIScriptAlias / /srv/b.wsgi process-group=a application-group=%{GLOBAL}\n</VirtualHost>\n",
    ));
    assert_eq!(codes(&r), vec!["wsgi/group-not-accessible"]);
    assert_eq!(
        find(&r, "wsgi/group-not-accessible").apache.as_deref(),
        Some("WSGI process group not accessible.")
    );
    // ServerName after the alias: not matchable (mod_wsgi reads in order).
    let r = run(concat!(
        "<VirtualHost *:80>\nServerName a.example\nWSGIDaemonProcess a\n</VirtualHost>\n",
        "<VirtualHost *:443>\n",
        "WSGIScriptAlias / /srv/a.wsgi process-group=a application-group=%{GLOBAL}\nServerName a.example\n</VirtualHost>\n",
    ));
    assert_eq!(codes(&r), vec!["wsgi/group-not-matchable"]);
    let d = find(&r, "wsgi/group-not-matchable");
    assert_eq!(
        d.apache.as_deref(),
        Some("WSGI process group not matchable.")
    );
    assert_eq!(
        d.help.as_deref(),
        Some("add `ServerName a.example` above this line")
    );
}

#[test]
fn import_script_requires_both_options_and_order() {
    let r = run("WSGIDaemonProcess app\nWSGIImportScript /srv/a.py process-group=app\n");
    assert_eq!(
        find(&r, "wsgi/bad-import-script").apache.as_deref(),
        Some("Name of WSGI application group required.")
    );
    let r = run("WSGIDaemonProcess app\nWSGIImportScript /srv/a.py application-group=%{GLOBAL}\n");
    assert_eq!(
        find(&r, "wsgi/bad-import-script").apache.as_deref(),
        Some("Name of WSGI process group required.")
    );
    let r = run(
        "WSGIImportScript /srv/a.py process-group=app application-group=%{GLOBAL}\nWSGIDaemonProcess app\n",
    );
    assert!(codes(&r).contains(&"wsgi/group-not-yet-configured"));
    let r =
        run("WSGIImportScript /srv/a.py process-group=app application-group=%{GLOBAL} foo=bar\n");
    assert_eq!(
        find(&r, "wsgi/unknown-option").apache.as_deref(),
        Some("Invalid option to WSGI import script definition.")
    );
    // %{GLOBAL} process group = preload into the Apache children.
    let r = run("WSGIImportScript /srv/a.py process-group=%{GLOBAL} application-group=%{GLOBAL}\n");
    assert_eq!(codes(&r), Vec::<&str>::new());
    assert_eq!(r.config.wsgi.import_scripts[0].process_group, "");
}

#[test]
fn alias_options_are_checked() {
    let r = run("WSGIDaemonProcess app\nWSGIScriptAlias / /srv/a.wsgi proces-group=app\n");
    let d = find(&r, "wsgi/unknown-option");
    assert_eq!(
        d.apache.as_deref(),
        Some("Invalid option to WSGI script alias definition.")
    );
    assert_eq!(d.help.as_deref(), Some("write `process-group=app`"));
    let r = run("WSGIScriptAlias / /srv/a.wsgi pass-authorization=yes\n");
    assert_eq!(
        find(&r, "wsgi/bad-option-value").apache.as_deref(),
        Some("Invalid value for authorization flag.")
    );
    let r = run("WSGIScriptAliasMatch ^/(unclosed /srv/a.wsgi\n");
    assert_eq!(
        find(&r, "wsgi/bad-regex").apache.as_deref(),
        Some("Regular expression could not be compiled.")
    );
    let r = run("WSGIScriptAlias / /srv/a.wsgi callable-object=app pass-authorization=On\n");
    let m = &r.config.main_server.wsgi_mounts[0];
    assert_eq!(m.callable_object, "app");
    assert!(m.pass_authorization);
}

#[test]
fn application_group_names() {
    let r = run(concat!(
        "WSGIDaemonProcess app\nWSGIProcessGroup app\n",
        "WSGIScriptAlias /Shop//Cart /srv/cart.wsgi\n",
        "WSGIScriptAlias /g /srv/g.wsgi application-group=%{GLOBAL}\n",
        "WSGIScriptAlias /s /srv/s.wsgi application-group=%{SERVER}\n",
        "WSGIScriptAlias /h /srv/h.wsgi application-group=%{HOST}\n",
        "WSGIScriptAlias /e /srv/e.wsgi application-group=%{ENV:APPGROUP}\n",
        "WSGIScriptAlias /l /srv/l.wsgi application-group=mine\n",
        "WSGIScriptAlias /dir/ /srv/scripts/\n",
        "<VirtualHost *:8443>\nServerName Shop.Example\n</VirtualHost>\n",
        "<VirtualHost *:443>\nServerName secure.example\n</VirtualHost>\n",
    ));
    assert_eq!(codes(&r), Vec::<&str>::new(), "{:#?}", r.diagnostics);
    let names = |ms: &[WsgiMount]| -> Vec<Option<String>> {
        ms.iter()
            .map(|m| m.application_group.interpreter.clone())
            .collect()
    };
    // Main server: ServerName main.example, first Listen port 80.
    assert_eq!(
        names(&r.config.main_server.wsgi_mounts),
        vec![
            Some("main.example|/shop/cart".into()),
            Some(String::new()),
            Some("main.example".into()),
            None,
            None,
            Some("mine".into()),
            None,
        ]
    );
    let main = &r.config.main_server.wsgi_mounts;
    assert_eq!(main[0].application_group.expression, "%{RESOURCE}");
    assert_eq!(main[0].application_group.origin, Origin::Default);
    assert!(
        main[3]
            .application_group
            .depends_on
            .as_deref()
            .unwrap_or("")
            .contains("Host header")
    );
    assert!(
        main[4]
            .application_group
            .depends_on
            .as_deref()
            .unwrap_or("")
            .contains("APPGROUP")
    );
    assert_eq!(main[6].target_kind, MountTarget::Directory);
    // Port other than 80/443 appended; host keeps its case, the path is lower-cased.
    assert_eq!(
        vmounts(&r, 0)[0].application_group.interpreter.as_deref(),
        Some("Shop.Example:8443|/shop/cart")
    );
    assert_eq!(
        vmounts(&r, 1)[2].application_group.interpreter.as_deref(),
        Some("secure.example")
    );
}

#[test]
fn process_group_from_directory_and_location_sections() {
    let r = run(concat!(
        "WSGIDaemonProcess one\nWSGIDaemonProcess two\nWSGIDaemonProcess admin\n",
        "WSGIScriptAlias /app /srv/app/app.wsgi\n",
        "WSGIScriptAlias /other /srv/other/other.wsgi\n",
        "<Directory /srv/app>\n  WSGIProcessGroup one\n  WSGIApplicationGroup %{GLOBAL}\n</Directory>\n",
        "<Location /other>\n  WSGIProcessGroup two\n</Location>\n",
        "<Location /app/admin>\n  WSGIProcessGroup admin\n</Location>\n",
    ));
    assert_eq!(codes(&r), Vec::<&str>::new(), "{:#?}", r.diagnostics);
    let ms = &r.config.main_server.wsgi_mounts;
    assert_eq!(ms[0].process_group.group.as_deref(), Some("one"));
    assert!(matches!(
        &ms[0].process_group.origin,
        Origin::Section { section, .. } if section == "<Directory /srv/app>"
    ));
    assert_eq!(ms[0].application_group.interpreter.as_deref(), Some(""));
    assert_eq!(ms[0].section_overrides.len(), 1);
    assert_eq!(ms[0].section_overrides[0].section, "<Location /app/admin>");
    assert_eq!(ms[0].section_overrides[0].value, "admin");
    assert_eq!(ms[1].process_group.group.as_deref(), Some("two"));
    assert!(ms[1].section_overrides.is_empty());
}

#[test]
fn location_beats_directory_and_alias_option_beats_both() {
    let r = run(concat!(
        "WSGIDaemonProcess one\nWSGIDaemonProcess two\nWSGIDaemonProcess three\n",
        "WSGIProcessGroup one\n",
        "WSGIScriptAlias /a /srv/app/a.wsgi\n",
        "WSGIScriptAlias /b /srv/app/b.wsgi process-group=three\n",
        "<Location />\n  WSGIProcessGroup two\n</Location>\n",
        "<Directory /srv>\n  WSGIProcessGroup one\n</Directory>\n",
    ));
    let ms = &r.config.main_server.wsgi_mounts;
    assert_eq!(ms[0].process_group.group.as_deref(), Some("two"));
    assert_eq!(ms[1].process_group.group.as_deref(), Some("three"));
    assert!(matches!(
        ms[1].process_group.origin,
        Origin::AliasOption { .. }
    ));
}

#[test]
fn vhost_inherits_the_main_server_process_group() {
    let r = run(concat!(
        "WSGIDaemonProcess g\nWSGIProcessGroup g\n",
        "<VirtualHost *:80>\nServerName v.example\nWSGIScriptAlias / /srv/v.wsgi\n</VirtualHost>\n",
    ));
    assert_eq!(codes(&r), Vec::<&str>::new(), "{:#?}", r.diagnostics);
    let m = &vmounts(&r, 0)[0];
    assert_eq!(m.process_group.group.as_deref(), Some("g"));
    assert!(matches!(m.process_group.origin, Origin::Server { .. }));
}

#[test]
fn global_process_group_is_embedded_mode() {
    let r = run(concat!(
        "WSGIDaemonProcess app\n",
        "WSGIScriptAlias /a /srv/a.wsgi process-group=app\n",
        "WSGIScriptAlias /e /srv/e.wsgi process-group=%{GLOBAL}\n",
        "WSGIScriptAlias /d /srv/d.wsgi\n",
        "WSGIScriptAlias /env /srv/env.wsgi process-group=%{ENV:GROUP}\n",
    ));
    let ms = &r.config.main_server.wsgi_mounts;
    assert_eq!(ms[1].process_group.mode, DelegationMode::Embedded);
    assert_eq!(ms[1].process_group.expression, "%{GLOBAL}");
    assert_eq!(ms[2].process_group.mode, DelegationMode::Embedded);
    assert_eq!(ms[2].process_group.origin, Origin::Default);
    assert_eq!(ms[2].socket_timeout_s, None);
    assert_eq!(ms[3].process_group.mode, DelegationMode::Runtime);
    assert_eq!(ms[3].process_group.group, None);
    // With daemon groups defined, an embedded mount is probably a mistake.
    let warns: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.code == "wsgi/embedded-mount")
        .collect();
    assert_eq!(warns.len(), 2);
    assert!(
        warns[0]
            .help
            .as_deref()
            .unwrap_or("")
            .contains("process-group=app")
    );
}

#[test]
fn restrict_embedded_makes_embedded_mounts_errors() {
    let r = run(concat!(
        "WSGIRestrictEmbedded On\nWSGIDaemonProcess app\n",
        "WSGIScriptAlias /a /srv/a.wsgi process-group=app\n",
        "WSGIScriptAlias /b /srv/b.wsgi\n",
        "<VirtualHost *:80>\nServerName v.example\n</VirtualHost>\n",
    ));
    assert!(r.config.wsgi.restrict_embedded);
    // Reported once although the vhost inherits /b.
    assert_eq!(codes(&r), vec!["wsgi/embedded-restricted"]);
    let d = find(&r, "wsgi/embedded-restricted");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(
        d.apache.as_deref(),
        Some("Embedded mode of mod_wsgi disabled by runtime configuration")
    );
    assert!(
        d.help
            .as_deref()
            .unwrap_or("")
            .contains("process-group=app")
    );
}

#[test]
fn restrict_process_limits_groups() {
    let r = run(concat!(
        "WSGIDaemonProcess a\nWSGIDaemonProcess b\n",
        "WSGIRestrictProcess a\n",
        "WSGIScriptAlias /a /srv/a.wsgi process-group=a\n",
        "WSGIScriptAlias /b /srv/b.wsgi process-group=b\n",
    ));
    assert_eq!(codes(&r), vec!["wsgi/restricted-process-group"]);
    assert_eq!(
        r.config.main_server.wsgi_mounts[0].restrict_process,
        Some(vec!["a".to_string()])
    );
}

#[test]
fn flags_are_validated_and_resolved_per_mount() {
    let r = run(concat!(
        "WSGIScriptReloading Off\nWSGIChunkedRequest On\nWSGIMapHEADToGET Off\n",
        "WSGIScriptAlias /a /srv/a.wsgi\n",
        "<Location /a>\nWSGIPassAuthorization On\nWSGIErrorOverride On\n</Location>\n",
        "WSGIIgnoreActivity maybe\n",
    ));
    assert_eq!(codes(&r), vec!["wsgi/bad-flag"]);
    assert_eq!(
        find(&r, "wsgi/bad-flag").apache.as_deref(),
        Some("WSGIIgnoreActivity must be one of: Off | On")
    );
    let m = &r.config.main_server.wsgi_mounts[0];
    assert!(!m.script_reloading && m.chunked_request && m.pass_authorization && m.error_override);
    assert_eq!(m.map_head_to_get, "off");
    assert!(!m.ignore_activity);
    assert_eq!(m.callable_object, "application");
}

#[test]
fn server_only_directives_are_refused_in_vhosts() {
    let r = run("<VirtualHost *:80>\nWSGIRestrictEmbedded On\nWSGIPythonHome /x\n</VirtualHost>\n");
    let ctx: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.code == "config/context")
        .collect();
    assert_eq!(ctx.len(), 2);
    let r = run("<Location />\nWSGIDaemonProcess x\n</Location>\n");
    assert!(r.diagnostics.iter().any(|d| d.code == "config/context"));
}

#[test]
fn timers_without_monitor_thread_warn() {
    let r = run(
        "WSGIDaemonProcess app deadlock-timeout=0 request-timeout=30\nWSGIProcessGroup app\nWSGIScriptAlias / /srv/a.wsgi\n",
    );
    assert_eq!(codes(&r), vec!["wsgi/timers-not-enforced"]);
    assert!(!daemon(&r, "app").monitor_thread);
}

#[test]
fn unused_groups_and_python_path_are_flagged() {
    let r = run(
        "WSGIPythonPath /srv/lib\nWSGIDaemonProcess used\nWSGIDaemonProcess idle\nWSGIScriptAlias / /srv/a.wsgi process-group=used\n",
    );
    assert_eq!(
        codes(&r),
        vec!["wsgi/unused-daemon", "wsgi/python-path-embedded-only"]
    );
    assert!(find(&r, "wsgi/unused-daemon").message.contains("'idle'"));
    assert_eq!(
        find(&r, "wsgi/python-path-embedded-only").help.as_deref(),
        Some("add `python-path=/srv/lib` to `WSGIDaemonProcess used` instead")
    );
    assert_eq!(r.config.wsgi.python_path, vec!["/srv/lib"]);
}

#[test]
fn definition_order_numbers_registered_groups_only() {
    let r = run(
        "WSGIDaemonProcess a\nWSGIDaemonProcess a\nWSGIDaemonProcess b\nWSGIProcessGroup a\nWSGIScriptAlias / /x.wsgi\nWSGIScriptAlias /b /y.wsgi process-group=b\n",
    );
    assert_eq!(daemon(&r, "b").definition_index, 2);
    assert_eq!(
        daemon(&r, "b").socket.path,
        "/var/run/apache2/wsgi.{pid}.{generation}.2.sock"
    );
}

#[test]
fn every_option_in_the_table_is_applied() {
    let plain = run("WSGIDaemonProcess g\nWSGIProcessGroup g\nWSGIScriptAlias / /x.wsgi\n");
    for o in DAEMON_OPTIONS {
        let example = o.example.split_once('=').map_or("", |(_, v)| v);
        // An example that is the default (threads=15) would show no effect.
        let value = match example.parse::<i64>() {
            Ok(n) if example == o.default => (n + 1).to_string(),
            _ => example.to_string(),
        };
        let r = run(&format!(
            "WSGIDaemonProcess g {}={value}\nWSGIProcessGroup g\nWSGIScriptAlias / /x.wsgi\n",
            o.name
        ));
        let bad: Vec<_> = codes(&r)
            .into_iter()
            .filter(|c| *c != "wsgi/chroot-needs-root")
            .collect();
        assert!(bad.is_empty(), "{}: {:#?}", o.name, r.diagnostics);
        let with = daemon(&r, "g");
        assert_eq!(with.options_given, vec![o.name.to_string()]);
        // The option changes the group: the value is not the default, so
        // only an arm of `apply` that stores it makes a difference.
        let mut with = serde_json::to_value(with).expect("serialisable");
        let mut without = serde_json::to_value(daemon(&plain, "g")).expect("serialisable");
        for v in [&mut with, &mut without] {
            if let Some(m) = v.as_object_mut() {
                m.remove("options_given");
            }
        }
        assert_ne!(
            with, without,
            "{}={value} has no effect on the group",
            o.name
        );
    }
}

#[test]
fn every_diagnostic_has_span_and_help() {
    let r = run(concat!(
        "WSGIRestrictEmbedded On\n",
        "WSGIDaemonProcess a thread=1 home=x user=root\nWSGIDaemonProcess a\n",
        "WSGIScriptAlias /x /x.wsgi process-group=zz application-group=%{GLOBAL}\n",
        "WSGIScriptAlias /y /y.wsgi process-group=zz\n",
        "WSGIScriptAlias /e /e.wsgi\n",
        "<VirtualHost *:80>\nServerName v.example\nWSGIDaemonProcess v\n</VirtualHost>\n",
        "<VirtualHost *:80>\nServerName w.example\nWSGIProcessGroup v\nWSGIScriptAlias /w /w.wsgi\n</VirtualHost>\n",
    ));
    let wsgi: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.code.starts_with("wsgi/"))
        .collect();
    assert!(wsgi.len() >= 8, "{wsgi:#?}");
    for d in wsgi {
        assert!(d.help.is_some(), "{d:#?}");
        assert!(d.span.is_some(), "{d:#?}");
    }
    let text = crate::diag::render_plain(&r.diagnostics.clone().into_vec(), &r.sources);
    assert!(text.contains("/etc/httpd.conf:8:"), "{text}");
}

#[test]
fn json_schema_is_stable() {
    let r = run("WSGIDaemonProcess app\nWSGIScriptAlias / /srv/a.wsgi process-group=app\n");
    let v = serde_json::to_value(&r.config.wsgi).unwrap_or_default();
    let d = &v["daemons"][0];
    assert_eq!(d["timeouts"]["deadlock_timeout_s"], 300);
    assert_eq!(d["declared_in"]["vhost"], serde_json::Value::Null);
    let m = serde_json::to_value(&r.config.main_server.wsgi_mounts[0]).unwrap_or_default();
    assert_eq!(m["process_group"]["mode"], "daemon");
    assert_eq!(m["process_group"]["origin"]["kind"], "alias_option");
    assert_eq!(m["application_group"]["origin"]["kind"], "default");
    assert_eq!(m["target_kind"], "script");
}

#[test]
fn visibility_is_checked_without_script_aliases() {
    // AddHandler-style delegation: no WSGIScriptAlias, still a 500.
    let r = run(concat!(
        "<VirtualHost *:80>\nServerName a.example\nWSGIDaemonProcess a\n</VirtualHost>\n",
        "<VirtualHost *:80>\nServerName b.example\n<Directory /srv/b>\nWSGIProcessGroup a\n</Directory>\n</VirtualHost>\n",
    ));
    assert_eq!(codes(&r), vec!["wsgi/process-group-not-visible"]);
}

#[test]
fn root_message_names_the_group() {
    let r = run("WSGIDaemonProcess site user=#0\n");
    assert_eq!(
        find(&r, "wsgi/daemon-as-root").message,
        "daemon group 'site' would run as root (user=#0)"
    );
}

#[test]
fn daemon_options_table_renders_every_option() {
    let md = daemon_options_markdown();
    assert_eq!(md.lines().count(), DAEMON_OPTIONS.len() + 2);
    assert!(md.contains("| `deadlock-timeout` | 300 |"));
}

#[test]
fn the_socket_prefix_default_is_the_builds() {
    let text = format!("{HEAD}WSGIDaemonProcess g\n");
    let parsed = crate::syntax::parse_str(
        Path::new("/etc/httpd.conf"),
        &text,
        &crate::fs::MemFs::new(),
        &Default::default(),
    );
    for (build, prefix) in [
        (crate::build::Build::Debian, "/var/run/apache2/wsgi"),
        (crate::build::Build::Rhel, "run/wsgi"),
        (crate::build::Build::Upstream, "logs/wsgi"),
    ] {
        let opts = crate::resolve::ResolveOptions {
            build,
            ..Default::default()
        };
        let r = crate::resolve::resolve(&parsed, &opts);
        assert_eq!(r.config.wsgi.socket_prefix, prefix, "{build:?}");
        assert_eq!(
            daemon(&r, "g").socket.path,
            format!("{prefix}.{{pid}}.{{generation}}.1.sock")
        );
    }
}
