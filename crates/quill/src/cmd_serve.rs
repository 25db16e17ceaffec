//! `quill serve CONF`: run the server an Apache configuration describes.
//!
//! A supervisor that runs the MPM's process pool (front-end children under
//! the pool controller, as httpd) and the configuration's
//! `WSGIDaemonProcess` groups. The front end matches requests by URL only
//! — every `Listen` socket serves the WSGI mounts and `Alias`es of the main
//! server and of every virtual host, without Host routing. TLS
//! (`SSLEngine on`, HTTPS listeners) and embedded mode are reported and
//! refused.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use quill_config::diag::render_plain;
use quill_config::model::Scheme;
use quill_config::wsgi::{DaemonProcess, DelegationMode, MountTarget};
use quill_config::{Resolved, Severity};
use quill_server::log::{ErrorLog, Level};
use quill_server::plan::{GroupPlan, LogTarget, Mount, ServerPlan, StaticAlias};
use quill_server::spec::DaemonSpec;

use crate::load::{self, ConfArgs};

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub conf: ConfArgs,
    /// Send the error log to stderr and the access log to stdout, whatever
    /// ErrorLog and CustomLog say.
    #[arg(long)]
    pub log_to_terminal: bool,
    /// Make SIGTERM a graceful stop, as SIGWINCH is: listeners close,
    /// requests in flight finish (bounded by GracefulShutdownTimeout). For
    /// orchestrators that stop with SIGTERM (Kubernetes); httpd's SIGTERM
    /// stops at once.
    #[arg(long)]
    pub graceful_sigterm: bool,
}

/// Settings of Quill's own, beyond what an Apache configuration says.
#[derive(Debug, Clone)]
pub struct Extras {
    pub log_to_terminal: bool,
    /// SIGTERM stops gracefully (`--graceful-sigterm`).
    pub graceful_sigterm: bool,
    pub reload_on_changes: bool,
    /// Seconds a request-timeout interrupt may take to unwind.
    pub interrupt_timeout: u32,
    /// Run directory override (express: its server root).
    pub run_dir: Option<PathBuf>,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            log_to_terminal: false,
            graceful_sigterm: false,
            reload_on_changes: false,
            interrupt_timeout: 5,
            run_dir: None,
        }
    }
}

/// A user as mod_wsgi takes it: a name, or `#uid`; (uid, primary gid if
/// the user has a passwd entry).
fn lookup_user(user: &str) -> Result<(u32, Option<u32>), String> {
    match user.strip_prefix('#') {
        Some(n) => {
            let uid: u32 = n
                .parse()
                .map_err(|_| format!("`{user}` is neither a user name nor #uid"))?;
            let primary = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map(|u| u.gid.as_raw());
            Ok((uid, primary))
        }
        None => nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| (u.uid.as_raw(), Some(u.gid.as_raw())))
            .ok_or_else(|| format!("no user `{user}` on this machine")),
    }
}

/// A group as mod_wsgi takes it: a name, or `#gid`.
fn lookup_group(group: &str) -> Result<u32, String> {
    match group.strip_prefix('#') {
        Some(n) => n
            .parse()
            .map_err(|_| format!("`{group}` is neither a group name nor #gid")),
        None => nix::unistd::Group::from_name(group)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
            .ok_or_else(|| format!("no group `{group}` on this machine")),
    }
}

pub fn run(args: &ServeArgs) -> ExitCode {
    let resolved = match load::load(&args.conf) {
        Ok(r) => r,
        Err(load::Unreadable(msg)) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let extras = Extras {
        log_to_terminal: args.log_to_terminal,
        graceful_sigterm: args.graceful_sigterm,
        ..Extras::default()
    };
    serve_resolved(&resolved, &extras, |addrs| {
        for a in addrs {
            println!("Listening on http://{a}/");
        }
        println!("(SIGTERM or Ctrl-C stops the server and its daemon processes)");
    })
}

/// Serves a resolved configuration until SIGTERM/SIGINT; `on_started` is
/// called once every socket listens.
pub fn serve_resolved(
    resolved: &Resolved,
    extras: &Extras,
    on_started: impl FnOnce(&[SocketAddr]),
) -> ExitCode {
    if resolved.diagnostics.has_errors() {
        let errors: Vec<_> = resolved
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .cloned()
            .collect();
        eprint!("{}", render_plain(&errors, &resolved.sources));
        eprintln!("error: the configuration has errors; `quill config` shows all of them");
        return ExitCode::from(1);
    }
    let plan = match plan_from_config(resolved, extras) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    run_plan(plan, on_started)
}

/// The `quill-daemon` binary next to this one: daemon processes run it,
/// so that only they link libpython (this process stays small). Under
/// `cargo run`, which builds only the binary it runs, a missing daemon is
/// built first, with the same profile and target directory.
fn daemon_exe() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| {
        format!("cannot find this program's own path (to start daemon processes): {e}")
    })?;
    let daemon = me.with_file_name("quill-daemon");
    if !daemon.is_file() {
        if let Some(build) = CargoBuild::for_cargo_run(&me) {
            build.run()?;
        }
    }
    if daemon.is_file() {
        Ok(daemon)
    } else {
        Err(format!(
            "{} is missing: daemon processes run it. Build it with \
             `cargo build --release -p quill`, or install both programs with \
             `cargo install --path crates/quill`",
            daemon.display()
        ))
    }
}

/// The `cargo build` that gives a `quill` started by `cargo run` its
/// `quill-daemon`: cargo sets `CARGO` and `CARGO_MANIFEST_DIR` for the
/// programs it runs, and the target directory layout
/// (`TARGET[/TRIPLE]/PROFILE/quill`) tells the profile.
#[derive(Debug)]
struct CargoBuild {
    cargo: PathBuf,
    manifest: PathBuf,
    target_dir: PathBuf,
    triple: Option<String>,
    profile: String,
}

impl CargoBuild {
    fn for_cargo_run(me: &Path) -> Option<CargoBuild> {
        let cargo = PathBuf::from(std::env::var_os("CARGO")?);
        let manifest = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR")?).join("Cargo.toml");
        if !manifest.is_file() {
            return None;
        }
        let profile_dir = me.parent()?;
        let profile = profile_dir.file_name()?.to_str()?.to_string();
        let above = profile_dir.parent()?;
        // Cargo marks its target directory with CACHEDIR.TAG.
        let (target_dir, triple) = if above.join("CACHEDIR.TAG").is_file() {
            (above.to_path_buf(), None)
        } else {
            let root = above.parent()?;
            if !root.join("CACHEDIR.TAG").is_file() {
                return None;
            }
            (
                root.to_path_buf(),
                Some(above.file_name()?.to_str()?.to_string()),
            )
        };
        Some(CargoBuild {
            cargo,
            manifest,
            target_dir,
            triple,
            profile,
        })
    }

    fn args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "build".into(),
            "--manifest-path".into(),
            self.manifest.clone().into(),
            "--bin".into(),
            "quill-daemon".into(),
            "--target-dir".into(),
            self.target_dir.clone().into(),
        ];
        match self.profile.as_str() {
            "debug" => {}
            "release" => args.push("--release".into()),
            other => args.extend(["--profile".into(), other.into()]),
        }
        if let Some(t) = &self.triple {
            args.extend(["--target".into(), t.into()]);
        }
        args
    }

    fn run(&self) -> Result<(), String> {
        let args = self.args();
        let shown: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        eprintln!(
            "quill-daemon (the program of daemon processes) is not built yet; building it: cargo {}",
            shown.join(" ")
        );
        let status = std::process::Command::new(&self.cargo)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", self.cargo.display()))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("building quill-daemon failed ({status})"))
        }
    }
}

/// `quill __daemon --spec FILE` (kept for scripts that start a daemon by
/// hand): runs `quill-daemon` in this process's place.
pub fn exec_daemon(spec: &Path) -> ExitCode {
    use std::os::unix::process::CommandExt;
    match daemon_exe() {
        Ok(exe) => {
            let e = std::process::Command::new(exe)
                .arg("--spec")
                .arg(spec)
                .exec();
            eprintln!("error: cannot run quill-daemon: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

pub fn run_plan(plan: ServerPlan, on_started: impl FnOnce(&[SocketAddr])) -> ExitCode {
    let programs = match (std::env::current_exe(), daemon_exe()) {
        (Ok(frontend), Ok(daemon)) => quill_server::supervisor::Programs { frontend, daemon },
        (Err(e), _) => {
            eprintln!(
                "error: cannot find this program's own path (to start front-end children): {e}"
            );
            return ExitCode::from(1);
        }
        (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let (error_out, daemon_stderr) = match &plan.error_log {
        LogTarget::File(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p);
            match f.and_then(|f| Ok((f.try_clone()?, f))) {
                Ok((a, b)) => (Box::new(a) as Box<dyn std::io::Write + Send>, Some(b)),
                Err(e) => {
                    eprintln!("error: cannot open error log {}: {e}", p.display());
                    return ExitCode::from(1);
                }
            }
        }
        other => match other.open() {
            Ok(w) => (w, None),
            Err(e) => {
                eprintln!("error: cannot open the error log: {e}");
                return ExitCode::from(1);
            }
        },
    };
    let log = Arc::new(ErrorLog::new(plan.log_level, error_out));
    // The front-end children write the access log; refuse to start here
    // if they could not open it.
    if let Some(t) = &plan.access_log {
        if let Err(e) = t.open() {
            eprintln!("error: cannot open the access log: {e}");
            return ExitCode::from(1);
        }
    }
    // One thread runs the supervisor: it only runs the pool controller
    // and the daemon processes; requests are served by the front-end
    // children, each on one thread of its own (docs/benchmarks.md,
    // "Serving").
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(quill_server::supervisor::run(
        plan,
        programs,
        log,
        daemon_stderr,
        |s| on_started(&s.addresses),
    ));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn log_target(value: &str, server_root: &Path) -> LogTarget {
    match value {
        "/dev/stderr" => LogTarget::Stderr,
        "/dev/stdout" => LogTarget::Stdout,
        p if Path::new(p).is_absolute() => LogTarget::File(PathBuf::from(p)),
        p => LogTarget::File(server_root.join(p)),
    }
}

/// The plan for a resolved configuration.
pub fn plan_from_config(resolved: &Resolved, extras: &Extras) -> Result<ServerPlan, String> {
    let cfg = &resolved.config;
    let main = &cfg.main_server;
    let server_root = &cfg.server_root;
    let prefix = {
        let p = Path::new(&cfg.wsgi.socket_prefix);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            server_root.join(p)
        }
    };
    let run_dir = extras
        .run_dir
        .clone()
        .or_else(|| prefix.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| server_root.clone());

    // Never plain HTTP where the configuration asks for TLS.
    let servers = std::iter::once(main).chain(cfg.vhosts.iter().map(|v| &v.server));
    if let Some(tls) = servers.map(|s| &s.tls).find(|t| t.enabled) {
        let at = tls
            .engine_at
            .as_ref()
            .map_or_else(|| "the configuration".to_string(), |l| l.to_string());
        return Err(format!(
            "{at}: `SSLEngine on`: quill serve does not support TLS yet, and will not serve \
             plain HTTP where the configuration asks for HTTPS; remove that virtual host (or \
             its SSLEngine line) to serve the rest over HTTP"
        ));
    }

    let mut listen = Vec::new();
    for l in &cfg.listeners {
        if l.protocol == Scheme::Https {
            return Err(format!(
                "Listen {} is an HTTPS listener; quill serve does not do TLS yet",
                l.display()
            ));
        }
        let ip: IpAddr = match &l.address {
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(a) if a == "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(a) => a
                .parse()
                .map_err(|_| format!("Listen {}: cannot use address `{a}`", l.display()))?,
        };
        listen.push(SocketAddr::new(ip, l.port));
    }
    if listen.is_empty() {
        return Err("the configuration has no Listen directive".into());
    }

    let level: Level = main
        .log_level
        .split_whitespace()
        .next()
        .unwrap_or("warn")
        .parse()
        .unwrap_or(Level::Warn);
    let pid = std::process::id();
    let mut groups = Vec::new();
    for d in &cfg.wsgi.daemons {
        groups.push(group_plan(resolved, d, &prefix, pid, extras, level)?);
    }

    let mut mounts = Vec::new();
    let mut aliases = Vec::new();
    let servers = std::iter::once(main).chain(cfg.vhosts.iter().map(|v| &v.server));
    for server in servers {
        for m in server
            .wsgi_mounts
            .iter()
            .filter(|m| !m.inherited || std::ptr::eq(server, main))
        {
            if m.regex || m.target_kind != MountTarget::Script {
                return Err(format!(
                    "{} {}: only WSGIScriptAlias to a script file is served for now (not regex or directory targets)",
                    m.url, m.target
                ));
            }
            let group = match (m.process_group.mode, &m.process_group.group) {
                (DelegationMode::Daemon, Some(name)) => cfg
                    .wsgi
                    .daemons
                    .iter()
                    .position(|d| &d.name == name)
                    .ok_or_else(|| {
                        format!("No WSGI daemon process called '{name}' has been configured")
                    })?,
                (DelegationMode::Embedded, _) => {
                    return Err(format!(
                        "WSGIScriptAlias {} runs in embedded mode; Quill runs applications only in daemon groups: add `WSGIDaemonProcess NAME` and `process-group=NAME`",
                        m.url
                    ));
                }
                _ => {
                    return Err(format!(
                        "WSGIScriptAlias {}: the process group `{}` is decided per request, which quill serve does not do yet",
                        m.url, m.process_group.expression
                    ));
                }
            };
            let script = PathBuf::from(&m.target);
            let script = if script.is_absolute() {
                script
            } else {
                server_root.join(script)
            };
            mounts.push(Mount {
                url: m.url.trim_end_matches('/').to_string(),
                script,
                group,
                application_group: m.application_group.interpreter.clone().unwrap_or_default(),
                callable: m.callable_object.clone(),
                pass_authorization: m.pass_authorization,
                chunked_request: m.chunked_request,
                script_reloading: m.script_reloading,
            });
        }
        for a in server.aliases.iter().filter(|a| !a.regex) {
            let path = PathBuf::from(&a.target);
            aliases.push(StaticAlias {
                url: a.url.trim_end_matches('/').to_string(),
                path: if path.is_absolute() {
                    path
                } else {
                    server_root.join(path)
                },
            });
        }
    }
    // Longer prefixes first so that /static wins over /.
    aliases.sort_by_key(|a| std::cmp::Reverse(a.url.len()));

    let (error_log, access_log) = if extras.log_to_terminal {
        (
            LogTarget::Stderr,
            main.custom_logs.first().map(|_| LogTarget::Stdout),
        )
    } else {
        (
            main.error_log
                .as_deref()
                .map_or(LogTarget::Stderr, |e| log_target(e, server_root)),
            main.custom_logs
                .first()
                .map(|c| log_target(&c.target, server_root)),
        )
    };
    Ok(ServerPlan {
        listen,
        listen_backlog: cfg.mpm.listen_backlog,
        server_name: main
            .server_name
            .clone()
            .unwrap_or_else(|| "localhost".into()),
        document_root: main
            .document_root
            .clone()
            .unwrap_or_else(|| server_root.join("htdocs")),
        mounts,
        aliases,
        groups,
        limit_request_body: main.limits.body,
        limit_request_head: (main.limits.line as usize + main.limits.field_size as usize * 4)
            .max(16 * 1024),
        keep_alive: main
            .keep_alive
            .enabled
            .then(|| Duration::from_millis(main.keep_alive.timeout_ms)),
        timeout: Duration::from_secs(main.timeout_s.max(1)),
        error_log,
        log_level: level,
        access_log,
        run_dir,
        reload_scripts: true,
        graceful_sigterm: extras.graceful_sigterm,
        pool: cfg.mpm.pool_config(),
        async_request_worker_factor: cfg.mpm.async_request_worker_factor.unwrap_or(2),
    })
}

fn group_plan(
    resolved: &Resolved,
    d: &DaemonProcess,
    prefix: &Path,
    pid: u32,
    extras: &Extras,
    level: Level,
) -> Result<GroupPlan, String> {
    let cfg = &resolved.config;
    let home = d.python.effective_python_home.as_deref().map(Path::new);
    let exe = quill_server::python::interpreter(home)
        .map_err(|e| format!("daemon group '{}': {e}", d.name))?;
    let python = quill_server::python::probe(&exe, quill_server::python::libpython_version())
        .map_err(|e| format!("daemon group '{}': {e}", d.name))?;
    let mut env = Vec::new();
    if let Some(libdir) = &python.libdir {
        let old = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
        env.push((
            "LD_LIBRARY_PATH".to_string(),
            if old.is_empty() {
                libdir.clone()
            } else {
                format!("{libdir}:{old}")
            },
        ));
    }
    if let Some(lang) = &d.python.lang {
        env.push(("LANG".into(), lang.clone()));
    }
    if let Some(locale) = &d.python.locale {
        env.push(("LC_ALL".into(), locale.clone()));
    }
    // mod_wsgi's user=/group=/supplementary-groups= (names or #ids), only
    // when started as root; the group defaults to the user's primary one.
    let (run_as, supplementary_gids) = match (&d.identity.user, nix::unistd::geteuid().is_root()) {
        (Some(user), true) => {
            let who = |e: String| format!("daemon group '{}': {e}", d.name);
            let (uid, primary) = lookup_user(user).map_err(who)?;
            let gid = match (&d.identity.group, primary) {
                (Some(g), _) => lookup_group(g).map_err(who)?,
                (None, Some(p)) => p,
                (None, None) => {
                    return Err(who(format!(
                        "user `{user}` has no passwd entry, so its group is unknown: add group=NAME or group=#GID"
                    )));
                }
            };
            let extra = d
                .identity
                .supplementary_groups
                .iter()
                .map(|g| lookup_group(g))
                .collect::<Result<Vec<_>, _>>()
                .map_err(who)?;
            (Some((uid, gid)), extra)
        }
        _ => (None, Vec::new()),
    };
    let t = &d.timeouts;
    let socket_timeout = u32::try_from(t.effective_socket_timeout_s).unwrap_or(u32::MAX);
    let spec = DaemonSpec {
        group: d.name.clone(),
        slot: 0,
        processes: d.processes.max(1),
        threads: d.threads,
        multiprocess: d.multiprocess,
        display_name: d.process_title.clone(),
        home: d.identity.home.clone(),
        python,
        python_path: d.python.python_path.clone(),
        preload: cfg
            .wsgi
            .import_scripts
            .iter()
            .filter(|s| s.process_group == d.name)
            .map(|s| s.script.clone())
            .collect(),
        maximum_requests: d.maximum_requests,
        inactivity_timeout: t.inactivity_timeout_s,
        request_timeout: t.request_timeout_s,
        interrupt_timeout: extras.interrupt_timeout,
        deadlock_timeout: t.deadlock_timeout_s,
        graceful_timeout: t.graceful_timeout_s,
        shutdown_timeout: t.shutdown_timeout_s,
        startup_timeout: t.startup_timeout_s,
        queue_timeout: t.queue_timeout_s,
        socket_timeout,
        reload_on_changes: extras.reload_on_changes,
        log_level: level.name().to_string(),
        run_as,
        supplementary_gids,
    };
    if d.threads == 0 {
        return Err(format!(
            "daemon group '{}' has threads=0 (managed-process mode), which Quill does not run yet",
            d.name
        ));
    }
    let mut socket_path = prefix.as_os_str().to_owned();
    socket_path.push(format!(".{pid}.0.{}.sock", d.definition_index));
    Ok(GroupPlan {
        spec,
        listen_backlog: d.socket.listen_backlog,
        connect_timeout: Duration::from_secs(u64::from(t.connect_timeout_s)),
        socket_timeout: Duration::from_secs(t.effective_socket_timeout_s.max(1)),
        socket_path: PathBuf::from(socket_path),
        env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_by_name_or_number() {
        assert_eq!(lookup_user("root"), Ok((0, Some(0))));
        assert_eq!(lookup_user("#0"), Ok((0, Some(0))));
        // A uid with no passwd entry is still a uid, without a group.
        assert_eq!(lookup_user("#4000000"), Ok((4_000_000, None)));
        assert!(lookup_user("#x").is_err());
        assert!(
            lookup_user("no-such-user-here")
                .unwrap_err()
                .contains("no user")
        );
        assert_eq!(lookup_group("root"), Ok(0));
        assert_eq!(lookup_group("#27"), Ok(27));
        assert!(lookup_group("no-such-group-here").is_err());
    }
}
