//! A front-end child process: `quill __frontend --spec FILE --slot N
//! --generation G`, exec'd by the supervisor (never forked from it).
//!
//! ```text
//!   supervisor ──exec──▶ quill __frontend
//!     fds 3 … 3+n−1  the Listen sockets, inherited
//!     FILE           the plan (JSON) and the scoreboard's path
//!     N, G           its scoreboard row and generation
//!
//!   accept within its worker slots (crate::workers) ─▶ crate::frontend
//!   embedded mode: exec'd as `quill-daemon __frontend …` instead, which
//!                  starts Python here first (`run_with`)
//!   SIGUSR1  graceful stop: stop accepting, quiesce, finish, exit 0
//!            (embedded mode: then Python's atexit functions, bounded)
//!   SIGTERM, SIGHUP  exit now (embedded mode: after the atexit
//!                    functions, bounded)
//!   SIGINT, SIGWINCH ignored (the supervisor's signals; Ctrl-C reaches
//!                    the whole process group, and the supervisor decides)
//!   parent death     SIGTERM (set by the supervisor before exec)
//! ```

use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use quill_mpm::ConnectionCounter;
use serde::{Deserialize, Serialize};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::frontend::{self, FrontEnd, StopReason};
use crate::log::{ErrorLog, Level};
use crate::logging::{self, SiteSinks};
use crate::plan::{EmbeddedPlan, ServerPlan};
use crate::scoreboard::Scoreboard;
use crate::workers::Workers;

/// The first inherited listening socket; the others follow it.
pub const FIRST_LISTEN_FD: i32 = 3;

/// What every front-end child of a generation is told.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrontendSpec {
    pub plan: ServerPlan,
    /// The shared scoreboard file.
    pub scoreboard: PathBuf,
    /// How many listening sockets it inherits, from [`FIRST_LISTEN_FD`] on.
    pub listeners: u32,
}

/// Starts this process's Python for embedded mode (the program that
/// links libpython passes it; see [`run_with`]).
pub type StartEngine = fn(&EmbeddedPlan, ErrorLog) -> Result<frontend::Engine, String>;

/// Writes a panic of this child to the main server's error log too (a
/// child's stderr is the supervisor's, not the error log). tokio contains
/// a panic in a task: the child goes on, and what the task served (a
/// connection, usually) is dropped without an answer.
fn report_panics(log: Arc<ErrorLog>) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        log.try_log(
            Level::Crit,
            "core",
            &format!("front-end child: {info} (what it was serving is dropped)"),
        );
        previous(info);
    }));
}

/// The role argument that makes a program a front-end child.
pub const ROLE: &str = "__frontend";

/// How a front-end child is started, for its usage error.
pub const USAGE: &str = "__frontend --spec FILE --slot N --generation G";

/// A front-end child's arguments after [`ROLE`]: `--spec FILE --slot N
/// --generation G`, in any order; `None` when one is missing, a flag has
/// no value or is unknown, or a number does not parse. Read by hand,
/// without clap: a child then runs none of the command line's code.
pub fn parse_args(args: &[std::ffi::OsString]) -> Option<(PathBuf, u32, u32)> {
    let (mut spec, mut slot, mut generation) = (None, None, None);
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            return None;
        };
        let number = || value.to_str().and_then(|v| v.parse::<u32>().ok());
        match flag.to_str() {
            Some("--spec") => spec = Some(PathBuf::from(value)),
            Some("--slot") => slot = Some(number()?),
            Some("--generation") => generation = Some(number()?),
            _ => return None,
        }
    }
    Some((spec?, slot?, generation?))
}

/// Runs a front-end child; returns its exit status.
pub fn run(spec_path: &Path, slot: u32, generation: u32) -> i32 {
    run_with(spec_path, slot, generation, None)
}

/// [`run`], in a program that can host Python: with `start_engine`, a
/// plan with embedded mounts starts Python in this process first.
pub fn run_with(
    spec_path: &Path,
    slot: u32,
    generation: u32,
    start_engine: Option<StartEngine>,
) -> i32 {
    let boot = ErrorLog::stderr(Level::Warn);
    let spec: FrontendSpec = match std::fs::read(spec_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            boot.log(
                Level::Error,
                "core",
                &format!(
                    "front-end child: cannot read its spec {}: {e}",
                    spec_path.display()
                ),
            );
            return 2;
        }
    };
    let log = match spec.plan.open_error_log() {
        Ok(l) => Arc::new(l),
        Err(e) => {
            boot.log(
                Level::Error,
                "core",
                &format!("front-end child: cannot open the error log: {e}"),
            );
            return 2;
        }
    };
    report_panics(log.clone());
    let fail = |what: String| {
        log.log(Level::Error, "core", &format!("front-end child: {what}"));
        2
    };
    let sb = match Scoreboard::attach(&spec.scoreboard) {
        Ok(sb) => Arc::new(sb),
        Err(e) => return fail(e.to_string()),
    };
    if slot >= sb.server_limit() {
        return fail(format!(
            "slot {slot} is outside the scoreboard (ServerLimit {})",
            sb.server_limit()
        ));
    }
    // Every server's logs, opened afresh by each child (so a graceful
    // restart after a rotation writes to the new files).
    let sites: Vec<&logging::SiteLogs> = spec.plan.servers.iter().map(|s| &s.logs).collect();
    let access = match logging::open_sites(&sites, &log, &spec.plan.error_log) {
        Ok(a) => a,
        Err(e) => return fail(format!("cannot open a log: {e}")),
    };
    let engine = match (&spec.plan.embedded, start_engine) {
        (None, _) => None,
        (Some(plan), Some(start)) => {
            let engine_log = match spec.plan.open_error_log() {
                Ok(l) => l,
                Err(e) => return fail(format!("cannot open the error log: {e}")),
            };
            match start(plan, engine_log) {
                Ok(e) => Some(e),
                Err(e) => return fail(e),
            }
        }
        (Some(_), None) => {
            return fail(
                "the configuration runs applications in embedded mode, which this program \
                 cannot host (it does not link libpython): the supervisor starts \
                 `quill-daemon __frontend` for that"
                    .into(),
            );
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let python = engine.clone();
    let code = runtime.block_on(serve_child(spec, sb, slot, generation, log, access, engine));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    // A child hosting Python ends it as a daemon process does: its
    // requests finish, then the interpreters' atexit functions run.
    if let Some(python) = python {
        python.exit(true);
    }
    code
}

async fn serve_child(
    spec: FrontendSpec,
    sb: Arc<Scoreboard>,
    slot: u32,
    generation: u32,
    log: Arc<ErrorLog>,
    access: Vec<SiteSinks>,
    engine: Option<frontend::Engine>,
) -> i32 {
    let mut listeners = Vec::new();
    for i in 0..spec.listeners {
        let fd = FIRST_LISTEN_FD + i32::try_from(i).unwrap_or(i32::MAX);
        #[allow(unsafe_code)]
        // SAFETY: the supervisor placed a listening TCP socket at each of
        // these descriptors before exec (spawn's pre_exec), and nothing
        // else in this process uses them: they are taken over here once.
        let std_listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        let l = std_listener
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpListener::from_std(std_listener));
        match l {
            Ok(l) => listeners.push(l),
            Err(e) => {
                log.log(
                    Level::Error,
                    "core",
                    &format!("front-end child: inherited listener fd {fd} is unusable: {e}"),
                );
                return 2;
            }
        }
    }
    let pool = &spec.plan.pool;
    let status_sb = sb.clone();
    let workers = Workers::new(
        pool.mpm,
        sb,
        slot,
        pool.threads_per_child,
        spec.plan.async_request_worker_factor,
    );
    let counter = ConnectionCounter::new(pool.mpm, pool.max_connections_per_child);
    // TLS from the certificates and keys the supervisor read and checked
    // for this generation (a graceful restart's new one gets renewed ones).
    let fe = match FrontEnd::from_plan(&spec.plan, log.clone(), access)
        .with_status(&spec.plan, status_sb)
        .with_tls(&spec.plan)
    {
        Ok(mut fe) => {
            if let Some(engine) = &engine {
                fe = fe.with_embedded(engine.clone());
            }
            Arc::new(fe)
        }
        Err(e) => {
            log.log(Level::Error, "ssl", &format!("front-end child: {e}"));
            return 2;
        }
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let signals = (
        signal(SignalKind::user_defined1()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::window_change()),
    );
    let (Ok(mut usr1), Ok(mut term), Ok(mut hup), Ok(mut int), Ok(mut winch)) = signals else {
        log.log(
            Level::Error,
            "core",
            "front-end child: cannot install its signal handlers",
        );
        return 2;
    };
    let python = engine.clone();
    // httpd's children die at once on SIGTERM and SIGHUP, after their
    // pool cleanups (mod_wsgi's runs the atexit functions): the requests
    // in progress are abandoned.
    let exit_now = move || {
        if let Some(python) = &python {
            python.exit(false);
        }
        std::process::exit(0)
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = usr1.recv() => { let _ = stop_tx.send(true); }
                _ = term.recv() => exit_now(),
                _ = hup.recv() => exit_now(),
                // Handled (so not fatal) and ignored: the supervisor's.
                _ = int.recv() => {}
                _ = winch.recv() => {}
            }
        }
    });
    log.log(
        Level::Debug,
        "core",
        &format!("front-end child in slot {slot} (generation {generation}) accepting"),
    );
    let reason = frontend::serve(listeners, fe, workers, counter, stop_rx).await;
    let why = match reason {
        StopReason::Told => "told to stop",
        StopReason::ConnectionLimit | StopReason::ExitNow => "MaxConnectionsPerChild reached",
    };
    log.log(
        Level::Debug,
        "core",
        &format!("front-end child in slot {slot} (generation {generation}) exiting: {why}"),
    );
    0
}

#[cfg(test)]
mod tests {
    use super::parse_args;
    use std::ffi::OsString;
    use std::path::PathBuf;

    fn args(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn a_childs_arguments_are_read_in_any_order() {
        let want = Some((PathBuf::from("/run/q/spec.json"), 3, 7));
        assert_eq!(
            parse_args(&args("--spec /run/q/spec.json --slot 3 --generation 7")),
            want
        );
        assert_eq!(
            parse_args(&args("--generation 7 --spec /run/q/spec.json --slot 3")),
            want
        );
    }

    #[test]
    fn a_missing_bad_or_unknown_argument_is_refused() {
        for bad in [
            "",
            "--spec f --slot 3",
            "--spec f --slot three --generation 7",
            "--spec f --slot 3 --generation -1",
            "--spec f --slot 3 --generation 7 --verbose",
            "--spec f --slot 3 --generation 7 --port 80",
        ] {
            assert_eq!(parse_args(&args(bad)), None, "{bad:?}");
        }
    }
}
