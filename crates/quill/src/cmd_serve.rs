//! `quill serve CONF`: run the server an Apache configuration describes.
//!
//! A supervisor that runs the MPM's process pool (front-end children under
//! the pool controller, as httpd) and the configuration's
//! `WSGIDaemonProcess` groups. The front end chooses the server of each
//! request as httpd 2.4 does (by the address and port the connection
//! arrived at, then by Host, `quill config`'s routing) and serves it with
//! that server's WSGI mounts and `Alias`es, over TLS where `SSLEngine on`
//! says so (the SNI name choosing the virtual host and its certificate)
//! and HTTP/2 where `Protocols h2` does. Mounts without a daemon group
//! run in embedded mode, inside the front-end children (docs/embedded.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use quill_config::diag::render_plain;
use quill_config::{Resolved, Severity};
pub use quill_server::configure::Extras;
use quill_server::configure::plan_from_config;
use quill_server::log::ErrorLog;
use quill_server::plan::{LogTarget, ServerPlan};
use quill_server::supervisor::Reload;

use crate::load::{self, ConfArgs};

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub conf: ConfArgs,
    /// Send every error log to stderr and every access log to stdout,
    /// whatever ErrorLog and CustomLog say (their formats and conditions
    /// still apply).
    #[arg(long)]
    pub log_to_terminal: bool,
    /// Make SIGTERM a graceful stop, as SIGWINCH is: listeners close,
    /// requests in flight finish (bounded by GracefulShutdownTimeout). For
    /// orchestrators that stop with SIGTERM (Kubernetes); httpd's SIGTERM
    /// stops at once.
    #[arg(long)]
    pub graceful_sigterm: bool,
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
    // A restart (SIGHUP, SIGUSR1) re-reads the configuration, as httpd
    // does.
    let (conf, reread_extras) = (args.conf.clone(), extras.clone());
    let reload: Reload = Box::new(move || {
        let resolved = load::load(&conf).map_err(|load::Unreadable(msg)| msg)?;
        if let Some(errors) = rendered_errors(&resolved) {
            return Err(errors.trim_end().to_string());
        }
        plan_from_config(&resolved, &reread_extras).map_err(|e| e.to_string())
    });
    serve_resolved(&resolved, &extras, Some(reload), |addrs| {
        for (a, tls) in addrs {
            let scheme = if *tls { "https" } else { "http" };
            println!("Listening on {scheme}://{a}/");
        }
        println!("(SIGTERM or Ctrl-C stops the server and its daemon processes)");
    })
}

/// Run-time errors `quill serve` meets where httpd does, instead of
/// refusing to start: the requests concerned get httpd's status and log
/// line.
const SERVED_AT_RUN_TIME: &[&str] = &["wsgi/process-group-not-visible", "wsgi/embedded-restricted"];

fn served_at_run_time(d: &quill_config::Diagnostic) -> bool {
    d.stage == quill_config::diag::Stage::RunTime && SERVED_AT_RUN_TIME.contains(&d.code)
}

/// The configuration's errors, rendered with their sources; `None` when
/// it has none (but those [`SERVED_AT_RUN_TIME`]).
fn rendered_errors(resolved: &Resolved) -> Option<String> {
    let errors: Vec<_> = resolved
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error && !served_at_run_time(d))
        .cloned()
        .collect();
    if errors.is_empty() {
        return None;
    }
    Some(render_plain(&errors, &resolved.sources))
}

/// The errors [`SERVED_AT_RUN_TIME`], rendered, to be shown at start-up.
fn rendered_run_time_errors(resolved: &Resolved) -> Option<String> {
    let errors: Vec<_> = resolved
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error && served_at_run_time(d))
        .cloned()
        .collect();
    (!errors.is_empty()).then(|| render_plain(&errors, &resolved.sources))
}

/// Serves a resolved configuration until SIGTERM/SIGINT; `on_started` is
/// called once every socket listens, with each address and whether its
/// connections speak TLS, and `reload` re-reads the configuration at each
/// restart.
pub fn serve_resolved(
    resolved: &Resolved,
    extras: &Extras,
    reload: Option<Reload>,
    on_started: impl FnOnce(&[(SocketAddr, bool)]),
) -> ExitCode {
    if let Some(errors) = rendered_errors(resolved) {
        eprint!("{errors}");
        eprintln!("error: the configuration has errors; `quill config` shows all of them");
        return ExitCode::from(1);
    }
    if let Some(errors) = rendered_run_time_errors(resolved) {
        eprint!("{errors}");
        eprintln!(
            "warning: starting anyway, as httpd does: the requests concerned get 500 and \
             mod_wsgi's error-log line"
        );
    }
    let plan = match plan_from_config(resolved, extras) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let tls: Vec<bool> = (0..plan.listen.len())
        .map(|i| plan.listener_tls(i))
        .collect();
    run_plan(plan, reload, |addrs| {
        let with: Vec<(SocketAddr, bool)> = addrs
            .iter()
            .zip(tls.iter().chain(std::iter::repeat(&false)))
            .map(|(a, t)| (*a, *t))
            .collect();
        on_started(&with)
    })
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

pub fn run_plan(
    plan: ServerPlan,
    reload: Option<Reload>,
    on_started: impl FnOnce(&[SocketAddr]),
) -> ExitCode {
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
    let log =
        Arc::new(ErrorLog::new(plan.log_level, error_out).with_modules(plan.log_modules.clone()));
    // The front-end children write the access logs and the virtual
    // hosts' error logs; refuse to start here if they could not open them.
    if let Err(e) = quill_server::logging::check_can_open(&plan) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
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
        reload,
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
