//! `quill express [APP.wsgi]`: run a WSGI application with no
//! configuration, in the spirit of `mod_wsgi-express start-server`.
//!
//! Express writes the Apache configuration its options mean (the one
//! `--print-config` shows) into its server root and serves it with the
//! same code as `quill serve`, so the two can never disagree.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::cmd_serve::{self, Extras};
use crate::load::{ColorArg, ConfArgs};

const DEMO_APP: &str = include_str!("express_demo.wsgi");

#[derive(Debug, Clone, Args)]
pub struct ExpressArgs {
    /// The WSGI script to run (its `application` callable). Without one,
    /// Quill's built-in demo application runs.
    #[arg(value_name = "APP.wsgi")]
    pub script: Option<PathBuf>,
    /// Interface to listen on [default: all interfaces].
    #[arg(long, value_name = "ADDR")]
    pub host: Option<String>,
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Daemon processes; giving it at all makes wsgi.multiprocess True.
    #[arg(long, value_name = "N")]
    pub processes: Option<u32>,
    /// Request threads per daemon process.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub threads: u32,
    /// Python installation or virtualenv to run the application with
    /// [default: the `python3` on PATH].
    #[arg(long, value_name = "DIR")]
    pub python_home: Option<PathBuf>,
    /// Directory added to sys.path (with site.addsitedir; repeatable).
    #[arg(long, value_name = "DIR")]
    pub python_path: Vec<PathBuf>,
    /// Name of the WSGI callable in the script.
    #[arg(long, default_value = "application", value_name = "NAME")]
    pub callable_object: String,
    /// URL the application is mounted at.
    #[arg(long, default_value = "/", value_name = "URL")]
    pub mount_point: String,
    /// Serve static files: URL prefix and directory or file (repeatable).
    #[arg(long, num_args = 2, value_names = ["URL", "PATH"])]
    pub url_alias: Vec<String>,
    /// Working directory of the daemon processes, also sys.path[0]
    /// [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub working_directory: Option<PathBuf>,
    /// Directory for the generated configuration, sockets and logs
    /// [default: $TMPDIR/quill-express-PORT-UID].
    #[arg(long, value_name = "DIR")]
    pub server_root: Option<PathBuf>,
    /// Restart a daemon process after this many requests (0 = never).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub maximum_requests: u32,
    /// Interrupt a request running longer than this (seconds; 504).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub request_timeout: u32,
    /// How long an interrupted request may take to unwind before its
    /// process is restarted (seconds).
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub interrupt_timeout: u32,
    /// Answer 504 for requests that waited longer than this for a thread.
    #[arg(long, default_value_t = 45, value_name = "SECONDS")]
    pub queue_timeout: u32,
    /// Wait for a daemon's response this long (504), and Apache's Timeout.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub socket_timeout: u32,
    /// Keep retrying a full daemon backlog this long before 503.
    #[arg(long, default_value_t = 15, value_name = "SECONDS")]
    pub connect_timeout: u32,
    /// Restart a process whose GIL is held this long.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub deadlock_timeout: u32,
    /// Restart a process idle this long (0 = never).
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub inactivity_timeout: u32,
    /// Let a retiring process finish its requests this long.
    #[arg(long, default_value_t = 15, value_name = "SECONDS")]
    pub graceful_timeout: u32,
    /// Kill a stopping process after this long.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub shutdown_timeout: u32,
    /// Restart a process whose script keeps failing to load this long.
    #[arg(long, default_value_t = 15, value_name = "SECONDS")]
    pub startup_timeout: u32,
    /// Listen backlog of the daemon socket (requests queued for a thread).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub daemon_backlog: u32,
    /// Listen backlog of the HTTP socket.
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub server_backlog: u32,
    /// Largest request body in bytes (413 above; 0 = unlimited).
    #[arg(long, default_value_t = 10_485_760, value_name = "BYTES")]
    pub limit_request_body: u64,
    /// Keep-alive timeout in seconds (0 disables keep-alive).
    #[arg(long, default_value_t = 2, value_name = "SECONDS")]
    pub keep_alive_timeout: u32,
    /// Accept chunked request bodies (else 411, as mod_wsgi).
    #[arg(long)]
    pub chunked_request: bool,
    /// Write an access log (combined format with %D).
    #[arg(long)]
    pub access_log: bool,
    /// Error log to stderr, access log to stdout.
    #[arg(long)]
    pub log_to_terminal: bool,
    /// Make SIGTERM a graceful stop, as SIGWINCH is (for orchestrators that
    /// stop with SIGTERM, such as Kubernetes).
    #[arg(long)]
    pub graceful_sigterm: bool,
    /// Directory for error_log and access_log [default: the server root].
    #[arg(long, value_name = "DIR")]
    pub log_directory: Option<PathBuf>,
    /// Error log level.
    #[arg(long, default_value = "warn", value_name = "LEVEL")]
    pub log_level: String,
    /// Restart when any imported Python module changes.
    #[arg(long)]
    pub reload_on_changes: bool,
    /// Do not restart when the script file changes (embedded mode: do not
    /// import it again).
    #[arg(long)]
    pub disable_reloading: bool,
    /// LANG and LC_ALL of the daemon processes [default: the current
    /// locale, C.UTF-8 instead of C/POSIX].
    #[arg(long, value_name = "LOCALE")]
    pub locale: Option<String>,
    /// ServerName [default: localhost].
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// Print the equivalent Apache configuration (for `quill serve`) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Run the application inside the server's own processes (mod_wsgi's
    /// embedded mode) instead of daemon processes: `--processes` front-end
    /// processes of `--threads` threads each call it directly, with no
    /// daemon hop. The daemon options (the timeouts, backlogs, locale,
    /// working directory, --reload-on-changes) do not apply;
    /// `--maximum-requests` becomes MaxConnectionsPerChild; a changed
    /// script is imported again in place unless --disable-reloading
    /// (docs/embedded.md).
    #[arg(long)]
    pub embedded_mode: bool,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn abs(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// mod_wsgi-express's MPM sizing (reference §5.4), event MPM.
fn event_sizing(processes: u32, threads: u32) -> (u32, u32, u32, u32, u32, u32) {
    let capacity = processes.max(1) * threads;
    let mc = 10 + (capacity * 3 / 2).max(10);
    let tpc = if mc > 20 { mc / (mc / 20 + 1) } else { 10 };
    let server_limit = mc.div_ceil(tpc);
    let max_clients = server_limit * tpc;
    let start = ((server_limit as f64 * 0.2) as u32).max(1);
    let min_spare = tpc.max(((server_limit as f64 * 0.2) as u32) * tpc);
    let max_spare = tpc.max(((server_limit as f64 * 0.6) as u32) * tpc);
    (tpc, server_limit, max_clients, start, min_spare, max_spare)
}

struct Resolved {
    root: PathBuf,
    script: PathBuf,
    port: u16,
    host: Option<String>,
    group: String,
    locale: String,
}

fn resolve_paths(args: &ExpressArgs) -> Result<Resolved, String> {
    let mut port = args.port;
    let host = args.host.clone().filter(|h| h != "0.0.0.0" && h != "*");
    if port == 0 {
        let bind = host.clone().unwrap_or_else(|| "0.0.0.0".into());
        let l = std::net::TcpListener::bind((bind.as_str(), 0))
            .map_err(|e| format!("cannot find a free port: {e}"))?;
        port = l.local_addr().map_err(|e| e.to_string())?.port();
    }
    let uid = nix::unistd::getuid().as_raw();
    let name = args
        .server_name
        .clone()
        .unwrap_or_else(|| "localhost".into());
    let root = match &args.server_root {
        Some(r) => abs(r),
        None => std::env::temp_dir().join(format!("quill-express-{name}:{port}:{uid}")),
    };
    std::fs::create_dir_all(&root)
        .map_err(|e| format!("cannot create server root {}: {e}", root.display()))?;
    let script = match &args.script {
        Some(s) => {
            let s = abs(s);
            if !s.is_file() {
                return Err(format!(
                    "{} is not a file; give the path of a WSGI script",
                    s.display()
                ));
            }
            s
        }
        None => {
            let demo = root.join("demo.wsgi");
            std::fs::write(&demo, DEMO_APP)
                .map_err(|e| format!("cannot write the demo application: {e}"))?;
            demo
        }
    };
    let locale = args.locale.clone().unwrap_or_else(|| {
        let cur = std::env::var("LC_ALL")
            .or_else(|_| std::env::var("LANG"))
            .unwrap_or_default();
        if cur.is_empty() || cur == "C" || cur == "POSIX" {
            "C.UTF-8".into()
        } else {
            cur
        }
    });
    Ok(Resolved {
        root,
        script,
        port,
        host,
        group: format!("{name}:{port}"),
        locale,
    })
}

/// The Apache configuration these options mean.
fn config_text(args: &ExpressArgs, r: &Resolved) -> String {
    let mut c = String::new();
    let line = |c: &mut String, s: &str| {
        c.push_str(s);
        c.push('\n');
    };
    line(
        &mut c,
        "# Generated by `quill express`; run it with `quill serve THIS-FILE`.",
    );
    line(
        &mut c,
        &format!("ServerRoot {}", quote(&r.root.display().to_string())),
    );
    line(
        &mut c,
        &format!(
            "ServerName {}",
            args.server_name.as_deref().unwrap_or("localhost")
        ),
    );
    match &r.host {
        Some(h) => line(&mut c, &format!("Listen {h}:{}", r.port)),
        None => line(&mut c, &format!("Listen {}", r.port)),
    }
    line(
        &mut c,
        "LoadModule mpm_event_module modules/mod_mpm_event.so",
    );
    line(&mut c, "LoadModule alias_module modules/mod_alias.so");
    line(
        &mut c,
        "LoadModule log_config_module modules/mod_log_config.so",
    );
    // mod_wsgi-express loads mod_reqtimeout too: heads and bodies that
    // trickle get 408 (RequestReadTimeout's defaults).
    line(
        &mut c,
        "LoadModule reqtimeout_module modules/mod_reqtimeout.so",
    );
    line(&mut c, "LoadModule wsgi_module modules/mod_wsgi.so");
    let (tpc, sl, mc, start, min_spare, max_spare, max_conns) = if args.embedded_mode {
        embedded_sizing(
            args.processes.unwrap_or(1),
            args.threads,
            args.maximum_requests,
        )
    } else {
        let (tpc, sl, mc, start, min_spare, max_spare) =
            event_sizing(args.processes.unwrap_or(1), args.threads);
        (tpc, sl, mc, start, min_spare, max_spare, 0)
    };
    line(
        &mut c,
        &format!(
            "ThreadsPerChild {tpc}\nThreadLimit {tpc}\nServerLimit {sl}\nMaxRequestWorkers {mc}\nStartServers {start}\nMinSpareThreads {min_spare}\nMaxSpareThreads {max_spare}\nMaxConnectionsPerChild {max_conns}"
        ),
    );
    line(&mut c, &format!("Timeout {}", args.socket_timeout));
    line(&mut c, &format!("ListenBacklog {}", args.server_backlog));
    line(
        &mut c,
        &format!("LimitRequestBody {}", args.limit_request_body),
    );
    if args.keep_alive_timeout == 0 {
        line(&mut c, "KeepAlive Off");
    } else {
        line(
            &mut c,
            &format!("KeepAlive On\nKeepAliveTimeout {}", args.keep_alive_timeout),
        );
        // As mod_wsgi-express 6.0 sets it for the event MPM: a kept
        // connection waits without a worker slot, so there is no reason to
        // end it after Apache's default of 100 requests. With 100, a busy
        // client reconnects every 101st request, and the new connection
        // waits in the accept queue while the children are at their
        // connection limit (docs/benchmarks.md).
        line(&mut c, "MaxKeepAliveRequests 0");
    }
    let log_dir = args
        .log_directory
        .as_deref()
        .map(abs)
        .unwrap_or_else(|| r.root.clone());
    if args.log_to_terminal && args.log_directory.is_none() {
        line(&mut c, "ErrorLog /dev/stderr");
    } else {
        line(
            &mut c,
            &format!(
                "ErrorLog {}",
                quote(&log_dir.join("error_log").display().to_string())
            ),
        );
    }
    line(&mut c, &format!("LogLevel {}", args.log_level));
    if args.access_log {
        line(
            &mut c,
            "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Referer}i\\\" \\\"%{User-agent}i\\\" %D\" combined",
        );
        if args.log_to_terminal && args.log_directory.is_none() {
            line(&mut c, "CustomLog /dev/stdout combined");
        } else {
            line(
                &mut c,
                &format!(
                    "CustomLog {} combined",
                    quote(&log_dir.join("access_log").display().to_string())
                ),
            );
        }
    }
    line(
        &mut c,
        &format!(
            "DocumentRoot {}",
            quote(&r.root.join("htdocs").display().to_string())
        ),
    );
    if let Some(home) = &args.python_home {
        line(
            &mut c,
            &format!("WSGIPythonHome {}", quote(&abs(home).display().to_string())),
        );
    }
    line(
        &mut c,
        &format!(
            "WSGISocketPrefix {}",
            quote(&r.root.join("wsgi").display().to_string())
        ),
    );
    line(&mut c, "WSGISocketRotation Off");
    if args.embedded_mode {
        return embedded_tail(args, r, c, line);
    }
    line(&mut c, "WSGIRestrictEmbedded On");
    if args.chunked_request {
        line(&mut c, "WSGIChunkedRequest On");
    }
    if args.disable_reloading {
        line(&mut c, "WSGIScriptReloading Off");
    }
    let workdir = args
        .working_directory
        .as_deref()
        .map(abs)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("/"));
    let mut d = format!(
        "WSGIDaemonProcess {group} \\\n    display-name='(wsgi:{group})' \\\n    home={home} \\\n",
        group = r.group,
        home = quote(&workdir.display().to_string())
    );
    if let Some(p) = args.processes {
        d.push_str(&format!("    processes={p} \\\n"));
    }
    d.push_str(&format!("    threads={} \\\n", args.threads));
    if let Some(pp) = python_path(args) {
        d.push_str(&format!("    python-path={pp} \\\n"));
    }
    d.push_str(&format!(
        "    lang={l} locale={l} \\\n    maximum-requests={} listen-backlog={} \\\n    queue-timeout={} socket-timeout={} connect-timeout={} \\\n    request-timeout={} inactivity-timeout={} startup-timeout={} \\\n    deadlock-timeout={} graceful-timeout={} shutdown-timeout={}",
        args.maximum_requests,
        args.daemon_backlog,
        args.queue_timeout,
        args.socket_timeout,
        args.connect_timeout,
        args.request_timeout,
        args.inactivity_timeout,
        args.startup_timeout,
        args.deadlock_timeout,
        args.graceful_timeout,
        args.shutdown_timeout,
        l = quote(&r.locale)
    ));
    line(&mut c, &d);
    line(
        &mut c,
        &format!(
            "WSGIScriptAlias {} {} process-group={} application-group=%{{GLOBAL}} callable-object={}",
            mount_point(args),
            quote(&r.script.display().to_string()),
            r.group,
            args.callable_object
        ),
    );
    url_aliases(args, &mut c);
    c
}

/// `--python-path` directories, absolute, joined with `:` and quoted for
/// the configuration; `None` when none was given.
fn python_path(args: &ExpressArgs) -> Option<String> {
    (!args.python_path.is_empty()).then(|| {
        let pp: Vec<String> = args
            .python_path
            .iter()
            .map(|p| abs(p).display().to_string())
            .collect();
        quote(&pp.join(":"))
    })
}

fn mount_point(args: &ExpressArgs) -> String {
    if args.mount_point.starts_with('/') {
        args.mount_point.clone()
    } else {
        format!("/{}", args.mount_point)
    }
}

/// mod_wsgi-express's `--embedded-mode` sizing (reference §5.4): the
/// server's own processes are the capacity, P × T with every thread
/// spare (so P processes start and stay); `--maximum-requests` recycles
/// them as MaxConnectionsPerChild.
fn embedded_sizing(
    processes: u32,
    threads: u32,
    maximum_requests: u32,
) -> (u32, u32, u32, u32, u32, u32, u32) {
    let (p, t) = (processes.max(1), threads.max(1));
    (t, p, p * t, p, p * t, p * t, maximum_requests)
}

/// The rest of an `--embedded-mode` configuration: the mount in
/// `%{GLOBAL}`, WSGIPythonPath instead of a daemon's python-path.
fn embedded_tail(
    args: &ExpressArgs,
    r: &Resolved,
    mut c: String,
    line: impl Fn(&mut String, &str),
) -> String {
    if args.chunked_request {
        line(&mut c, "WSGIChunkedRequest On");
    }
    // (As mod_wsgi-express writes it, whatever the mode: here it stops the
    // script being re-imported in place.)
    if args.disable_reloading {
        line(&mut c, "WSGIScriptReloading Off");
    }
    if let Some(pp) = python_path(args) {
        line(&mut c, &format!("WSGIPythonPath {pp}"));
    }
    line(
        &mut c,
        &format!(
            "WSGIScriptAlias {} {} process-group=%{{GLOBAL}} application-group=%{{GLOBAL}} callable-object={}",
            mount_point(args),
            quote(&r.script.display().to_string()),
            args.callable_object
        ),
    );
    url_aliases(args, &mut c);
    c
}

fn url_aliases(args: &ExpressArgs, c: &mut String) {
    for pair in args.url_alias.chunks(2) {
        if let [url, path] = pair {
            c.push_str(&format!(
                "Alias {url} {}\n",
                quote(&abs(Path::new(path)).display().to_string())
            ));
        }
    }
}

pub fn run(args: &ExpressArgs) -> ExitCode {
    let r = match resolve_paths(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let text = config_text(args, &r);
    if args.print_config {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    let conf = r.root.join("httpd.conf");
    if let Err(e) = std::fs::write(&conf, &text) {
        eprintln!("error: cannot write {}: {e}", conf.display());
        return ExitCode::from(2);
    }
    let conf_args = ConfArgs {
        conf: conf.clone(),
        defines: Vec::new(),
        mpm: None,
        build: None,
        server_root: None,
        envvars: None,
        cores: None,
        color: ColorArg::Never,
    };
    let resolved = match crate::load::load(&conf_args) {
        Ok(r) => r,
        Err(crate::load::Unreadable(msg)) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let extras = Extras {
        log_to_terminal: false,
        graceful_sigterm: args.graceful_sigterm,
        reload_on_changes: args.reload_on_changes,
        interrupt_timeout: args.interrupt_timeout,
        run_dir: Some(r.root.clone()),
    };
    let processes = args.processes.unwrap_or(1);
    cmd_serve::serve_resolved(&resolved, &extras, None, |addrs| {
        let port = addrs.first().map_or(r.port, |(a, _)| a.port());
        let host = r.host.clone().unwrap_or_else(|| "localhost".into());
        println!(
            "Server URL         : http://{host}:{port}{}",
            if args.mount_point.ends_with('/') {
                args.mount_point.clone()
            } else {
                format!("{}/", args.mount_point)
            }
        );
        println!(
            "Application        : {}",
            if args.script.is_some() {
                r.script.display().to_string()
            } else {
                "(built-in demo)".into()
            }
        );
        println!("Server Root        : {}", r.root.display());
        println!("Server Conf        : {}", conf.display());
        println!(
            "Error Log          : {} ({})",
            if args.log_to_terminal && args.log_directory.is_none() {
                "/dev/stderr".into()
            } else {
                r.root.join("error_log").display().to_string()
            },
            args.log_level
        );
        println!(
            "Operating Mode     : {}",
            if args.embedded_mode {
                "embedded"
            } else {
                "daemon"
            }
        );
        println!(
            "Request Capacity   : {} ({processes} process * {} threads)",
            processes * args.threads,
            args.threads
        );
        if args.embedded_mode {
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
            return;
        }
        println!("Request Timeout    : {} (seconds)", args.request_timeout);
        println!("Startup Time Limit : {} (seconds)", args.startup_timeout);
        println!("Queue Backlog      : {}", args.daemon_backlog);
        println!("Queue Timeout      : {} (seconds)", args.queue_timeout);
        println!("Server Backlog     : {}", args.server_backlog);
        println!("Locale Setting     : {}", r.locale);
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_matches_the_reference_examples() {
        // reference/mod_wsgi.md §5.4 worked examples (event/worker).
        assert_eq!(event_sizing(1, 5), (10, 2, 20, 1, 10, 10));
        assert_eq!(event_sizing(2, 5), (12, 3, 36, 1, 12, 12));
        assert_eq!(event_sizing(4, 10), (17, 5, 85, 1, 17, 51));
    }

    #[test]
    fn embedded_sizing_is_processes_times_threads() {
        // reference/mod_wsgi.md §5.4: MaxClients = P*T, ServerLimit = P,
        // ThreadsPerChild = T, spare = MaxClients.
        assert_eq!(embedded_sizing(2, 8, 0), (8, 2, 16, 2, 16, 16, 0));
        assert_eq!(embedded_sizing(3, 5, 1000), (5, 3, 15, 3, 15, 15, 1000));
    }
}
