//! The supervisor: binds every socket, creates the shared scoreboard, runs
//! the pool controller (`quill_mpm::Controller`) in real time and carries
//! out what it decides — exec'ing front-end children (`quill __frontend`,
//! never a fork of this threaded process), stopping them, reaping them —
//! and runs the daemon processes (`quill-daemon`): restarts them with
//! back-off and replaces them gracefully when their script changes.
//!
//! One task owns all process state; everything else sends it `Event`s.
//! The controller wakes it for maintenance once a second, at httpd's phase:
//! [`PARENT_START`] after the process started ([`PROCESS_START`]), plus
//! whole seconds.
//!
//! | signal to the supervisor | front-end children (the controller, as httpd) | daemon groups |
//! |---|---|---|
//! | SIGTERM, SIGINT | stop: SIGTERM to each, SIGKILL to stragglers (SIGTERM with `graceful_sigterm`: as SIGWINCH) | after the children: SIGTERM, SIGKILL after shutdown-timeout + 2 s |
//! | SIGWINCH | graceful stop: listeners closed, children finish their requests, bounded by GracefulShutdownTimeout | as for SIGTERM, once the children are gone |
//! | SIGHUP | restart: children stopped at once, the configuration re-read, a new generation started | replaced gracefully (new processes first, old ones finish) |
//! | SIGUSR1 | graceful restart: the configuration re-read, a new generation; old children finish their requests | replaced gracefully |

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen, socket,
};
use nix::unistd::Pid;
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpSocket;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use quill_mpm::{ExitStatus, ParentSignal, ParentState, ServerIdentity, Timestamp};

use crate::child::FrontendSpec;
use crate::control::ControlMessage;
use crate::log::{ErrorLog, Level};
use crate::plan::ServerPlan;
use crate::pool_driver::{ChildProcesses, PoolDriver};
use crate::scoreboard::Scoreboard;
use crate::spec::{CONTROL_FD, LISTEN_FD};
use quill_protocol::busy::{BUSY_FD, BusyBoard};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot create run directory {0}: {1}")]
    RunDir(PathBuf, io::Error),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, io::Error),
    #[error("cannot create daemon socket {0}: {1}")]
    DaemonSocket(PathBuf, nix::Error),
    #[error("cannot create the daemon group's busy board {0}: {1}")]
    BusyBoard(PathBuf, io::Error),
    #[error("cannot start daemon process of group '{0}': {1}")]
    Spawn(String, io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(io::Error),
    #[error("{0}")]
    Scoreboard(crate::scoreboard::ScoreboardError),
    #[error("cannot write the front-end children's spec {0}: {1}")]
    FrontendSpec(PathBuf, io::Error),
    #[error("the process pool's settings are invalid: {0}")]
    Pool(String),
}

/// How long a daemon must have lived for its death not to count as a
/// crash loop.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Longest wait between restarts of a slot that keeps dying.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug)]
enum Event {
    /// A front-end child exited.
    FrontExited {
        pid: i32,
        status: ExitStatus,
    },
    Exited {
        pid: i32,
        status: String,
        clean: bool,
    },
    Retiring {
        pid: i32,
        reason: String,
    },
    Start {
        group: usize,
        slot: u32,
    },
}

#[derive(Debug)]
struct Proc {
    group: usize,
    slot: u32,
    started: Instant,
    retiring: bool,
    /// Why it retires (the daemon's word, or `replaced`), for the metrics.
    reason: Option<String>,
}

struct GroupState {
    /// The listening socket, at a descriptor ≥ 10 so that moving it to
    /// fd 3 in a child never overwrites another inherited descriptor.
    listener: OwnedFd,
    /// The group's busy board, mapped, and its file at a descriptor ≥ 10
    /// for the daemons to inherit at `BUSY_FD`.
    board: BusyBoard,
    board_fd: OwnedFd,
    scripts: Vec<(PathBuf, Option<SystemTime>)>,
}

/// When to restart daemon processes that die on their own: the decision,
/// apart from the processes. A death within `STABLE_AFTER` of the
/// process's start counts as one more quick death of its slot; a later one
/// starts the count afresh.
#[derive(Debug, Default)]
pub struct RestartPolicy {
    /// Quick deaths in a row, per (group, slot).
    failures: HashMap<(usize, u32), u32>,
}

/// What [`RestartPolicy`] decided about one death.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    /// Wait this long, then start the replacement.
    pub delay: Duration,
    /// Quick deaths of this slot in a row, this one included.
    pub failures: u32,
    /// Three or more: report a crash loop.
    pub crash_loop: bool,
}

impl RestartPolicy {
    /// The process of `slot` died after living `lived`.
    pub fn on_death(&mut self, slot: (usize, u32), lived: Duration) -> Restart {
        let failures = self.failures.entry(slot).or_insert(0);
        if lived >= STABLE_AFTER {
            *failures = 0;
        }
        *failures += 1;
        Restart {
            delay: restart_delay(*failures),
            failures: *failures,
            crash_loop: *failures >= 3,
        }
    }
}

/// The backoff before restarting a slot after `failures` quick deaths in a
/// row: none for the first, then 0.5 s doubling up to 30 s.
pub fn restart_delay(failures: u32) -> Duration {
    if failures <= 1 {
        return Duration::ZERO;
    }
    let exp = (failures - 2).min(16);
    (Duration::from_millis(500) * 2u32.pow(exp)).min(MAX_BACKOFF)
}

/// What the caller is told once everything listens.
#[derive(Debug, Clone)]
pub struct Started {
    pub addresses: Vec<SocketAddr>,
}

/// The programs the supervisor execs.
#[derive(Debug, Clone)]
pub struct Programs {
    /// `quill` itself, run as `quill __frontend …` for front-end children.
    pub frontend: PathBuf,
    /// `quill-daemon`, for the daemon processes of WSGI groups.
    pub daemon: PathBuf,
}

/// When this process started: `main` sets it first thing. The pool's
/// maintenance ticks keep their phase from it (without it, from the moment
/// the pool starts).
pub static PROCESS_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// How long after its process starts httpd's parent enters its maintenance
/// loop: its first tick comes 1.03–1.06 s after the start (measured; the
/// simulator's `Timing::startup_us`). The pool controller is started as of
/// this instant, or as of now if the supervisor got there sooner.
pub const PARENT_START: Duration = Duration::from_millis(40);

/// Re-reads the configuration at a restart (SIGHUP, SIGUSR1): the plan it
/// gives now, or why it cannot be served, in words for the error log.
pub type Reload = Box<dyn FnMut() -> Result<ServerPlan, String> + Send>;

/// Runs a whole server until the pool controller exits (SIGTERM/SIGINT:
/// stop; SIGWINCH: graceful stop). `daemon_stderr` is given to every
/// daemon process as stderr (the error log when it is a file). At a
/// restart, `reload` re-reads the configuration (see
/// [`ServerPlan::restarted_with`] for what a new generation takes from it);
/// without it, or when it fails, the new generation runs the running plan.
pub async fn run(
    plan: ServerPlan,
    programs: Programs,
    log: Arc<ErrorLog>,
    daemon_stderr: Option<File>,
    mut reload: Option<Reload>,
    on_started: impl FnOnce(&Started),
) -> Result<(), ServerError> {
    std::fs::create_dir_all(&plan.run_dir)
        .map_err(|e| ServerError::RunDir(plan.run_dir.clone(), e))?;
    let _ = std::fs::set_permissions(&plan.run_dir, std::fs::Permissions::from_mode(0o700));

    // Every Listen socket, at a descriptor above those the children get
    // them at (3, 4, …), so that placing them never overwrites a source.
    let first_free = crate::child::FIRST_LISTEN_FD
        + i32::try_from(plan.listen.len()).unwrap_or(i32::MAX - 64)
        + 10;
    let mut listeners = Vec::new();
    let mut addresses = Vec::new();
    for addr in &plan.listen {
        let sock = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| ServerError::Listen(*addr, e))?;
        sock.set_reuseaddr(true)
            .map_err(|e| ServerError::Listen(*addr, e))?;
        sock.bind(*addr)
            .map_err(|e| ServerError::Listen(*addr, e))?;
        let l = sock
            .listen(plan.listen_backlog.max(1))
            .map_err(|e| ServerError::Listen(*addr, e))?;
        addresses.push(l.local_addr().unwrap_or(*addr));
        let fd = fd_at_least(&l.as_fd(), first_free)
            .map_err(|e| ServerError::Listen(*addr, e.into()))?;
        listeners.push(fd);
    }

    let mut groups = Vec::new();
    for (i, g) in plan.groups.iter().enumerate() {
        let fd = bind_unix(&g.socket_path, g.listen_backlog)
            .map_err(|e| ServerError::DaemonSocket(g.socket_path.clone(), e))?;
        let board_path = g.busy_board_path();
        let board_err = |e: io::Error| ServerError::BusyBoard(board_path.clone(), e);
        let board = BusyBoard::create(&board_path, g.spec.processes).map_err(board_err)?;
        let board_fd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&board_path)
            .and_then(|f| fd_at_least(&f, 10).map_err(io::Error::from))
            .map_err(board_err)?;
        groups.push(GroupState {
            listener: fd,
            board,
            board_fd,
            scripts: watched_scripts(&plan, i),
        });
    }

    let pool = &plan.pool;
    // Named after this process, as the group sockets are: servers sharing
    // a run directory (the default WSGISocketPrefix's) never share files.
    let scoreboard_path = plan
        .run_dir
        .join(format!("scoreboard.{}", std::process::id()));
    let scoreboard = Arc::new(
        Scoreboard::create(&scoreboard_path, pool.server_limit, pool.thread_limit)
            .map_err(ServerError::Scoreboard)?,
    );
    let frontend_spec = plan
        .run_dir
        .join(format!("frontend.{}.json", std::process::id()));
    let mut spec = FrontendSpec {
        plan: plan.clone(),
        scoreboard: scoreboard_path.clone(),
        listeners: u32::try_from(listeners.len()).unwrap_or(u32::MAX),
    };
    write_frontend_spec(&frontend_spec, &spec)?;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut sup = Sup {
        plan: &plan,
        daemon_exe: programs.daemon.clone(),
        log: log.clone(),
        groups,
        procs: HashMap::new(),
        restarts: RestartPolicy::default(),
        tx: tx.clone(),
        daemon_stderr,
        stopping: false,
    };
    for g in 0..plan.groups.len() {
        for slot in 0..plan.groups[g].spec.processes.max(1) {
            sup.spawn(g, slot)?;
        }
    }

    let epoch = PROCESS_START
        .get()
        .map_or_else(tokio::time::Instant::now, |s| {
            tokio::time::Instant::from_std(*s)
        });
    let now = move || {
        Timestamp::from_nanos(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    };
    let parent_start = Timestamp::from_nanos(u64::try_from(PARENT_START.as_nanos()).unwrap_or(0));
    let identity = ServerIdentity {
        server_description: concat!("Quill/", env!("CARGO_PKG_VERSION")).to_owned(),
        core_dump_directory: plan.run_dir.display().to_string(),
    };
    let children = RealChildren {
        embedded_env: plan.embedded.as_ref().map(|e| e.env.clone()),
        programs: programs.clone(),
        spec: frontend_spec.clone(),
        listeners,
        tx: tx.clone(),
        restart_pool: None,
    };
    let mut front = PoolDriver::new(
        pool.clone(),
        identity,
        now().min(parent_start),
        children,
        scoreboard.clone(),
        log.clone(),
    )
    .map_err(|e| ServerError::Pool(e.to_string()))?;
    for warning in &plan.startup_warnings {
        log.log(Level::Warn, "core", warning);
    }
    log.log(
        Level::Notice,
        "core",
        &format!(
            "Quill configured -- resuming normal operations (listening on {})",
            addresses
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    on_started(&Started { addresses });

    let sig = |k: SignalKind| signal(k).map_err(ServerError::Signals);
    let mut term = sig(SignalKind::terminate())?;
    let mut int = sig(SignalKind::interrupt())?;
    let mut hup = sig(SignalKind::hangup())?;
    let mut usr1 = sig(SignalKind::user_defined1())?;
    let mut winch = sig(SignalKind::window_change())?;
    let mut scripts = tokio::time::interval(Duration::from_secs(1));
    scripts.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        front.perform(now());
        if matches!(front.state(), ParentState::Exited { .. }) {
            break;
        }
        let wake = front
            .poll_timeout()
            .map(|t| epoch + Duration::from_nanos(t.as_nanos()));
        tokio::select! {
            _ = tokio::time::sleep_until(wake.unwrap_or(epoch)), if wake.is_some() => {
                front.tick(now());
            }
            Some(ev) = rx.recv() => match ev {
                Event::FrontExited { pid, status } => front.exited(pid, status, now()),
                other => sup.on_event(other)?,
            },
            _ = term.recv() => {
                let how = if plan.graceful_sigterm {
                    ParentSignal::GracefulStop
                } else {
                    ParentSignal::Stop
                };
                front.signal(how, "SIGTERM", now());
            }
            _ = int.recv() => front.signal(ParentSignal::Stop, "SIGINT", now()),
            _ = winch.recv() => front.signal(ParentSignal::GracefulStop, "SIGWINCH", now()),
            _ = hup.recv() => {
                front.signal(ParentSignal::Restart, "SIGHUP", now());
                sup.reopen_error_log();
                if let Some(reload) = &mut reload {
                    reread(reload, &mut spec, &frontend_spec, &mut sup, &mut front);
                }
                for g in 0..sup.groups.len() {
                    sup.replace_group(g)?;
                }
            }
            _ = usr1.recv() => {
                front.signal(ParentSignal::GracefulRestart, "SIGUSR1", now());
                sup.reopen_error_log();
                if let Some(reload) = &mut reload {
                    reread(reload, &mut spec, &frontend_spec, &mut sup, &mut front);
                }
                for g in 0..sup.groups.len() {
                    sup.replace_group(g)?;
                }
            }
            _ = scripts.tick() => sup.check_scripts()?,
        }
    }

    // The front end is gone: daemons get SIGTERM, then SIGKILL.
    sup.stopping = true;
    for pid in sup.procs.keys() {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let longest = plan
        .groups
        .iter()
        .map(|g| g.spec.shutdown_timeout)
        .max()
        .unwrap_or(5);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(longest) + 2);
    while !sup.procs.is_empty() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Event::Exited { pid, .. })) => {
                sup.procs.remove(&pid);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    for pid in sup.procs.keys() {
        log.log(
            Level::Warn,
            "wsgi",
            &format!("Daemon process {pid} did not stop in time; killing it."),
        );
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    let kill_deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !sup.procs.is_empty() {
        match tokio::time::timeout_at(kill_deadline, rx.recv()).await {
            Ok(Some(Event::Exited { pid, .. })) => {
                sup.procs.remove(&pid);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    for g in &plan.groups {
        let _ = std::fs::remove_file(&g.socket_path);
        let _ = std::fs::remove_file(g.busy_board_path());
    }
    for g in 0..plan.groups.len() {
        for slot in 0..plan.groups[g].spec.processes.max(1) {
            let _ = std::fs::remove_file(spec_path(&plan, g, slot));
        }
    }
    let _ = std::fs::remove_file(&frontend_spec);
    let _ = std::fs::remove_file(&scoreboard_path);
    Ok(())
}

fn write_frontend_spec(path: &std::path::Path, spec: &FrontendSpec) -> Result<(), ServerError> {
    let json = serde_json::to_vec(spec)
        .map_err(|e| ServerError::FrontendSpec(path.to_path_buf(), io::Error::other(e)))?;
    // Readable by the server's user only: it carries the TLS keys.
    let write = || -> io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        io::Write::write_all(&mut f, &json)
    };
    write().map_err(|e| ServerError::FrontendSpec(path.to_path_buf(), e))
}

/// A restart re-reads the configuration: the children of the new
/// generation (they read `frontend_spec` when they start) and the pool
/// controller get what it changes, within what a restart can change
/// ([`ServerPlan::restarted_with`]); what it cannot change, and a
/// configuration that cannot be served, are logged, and the server goes on
/// with what it runs.
fn reread(
    reload: &mut Reload,
    spec: &mut FrontendSpec,
    frontend_spec: &std::path::Path,
    sup: &mut Sup<'_>,
    front: &mut PoolDriver<RealChildren>,
) {
    let new = match reload() {
        Ok(p) => p,
        Err(e) => {
            sup.log.log(
                Level::Error,
                "core",
                &format!(
                    "Re-reading the configuration failed; the new generation runs the \
                     configuration in use:\n{e}"
                ),
            );
            return;
        }
    };
    let restarted = spec.plan.restarted_with(new);
    for kept in &restarted.kept {
        sup.log.log(Level::Warn, "core", kept);
    }
    for warning in &restarted.plan.startup_warnings {
        sup.log.log(Level::Warn, "core", warning);
    }
    let next = FrontendSpec {
        plan: restarted.plan,
        scoreboard: spec.scoreboard.clone(),
        listeners: spec.listeners,
    };
    if let Err(e) = write_frontend_spec(frontend_spec, &next) {
        sup.log.log(
            Level::Error,
            "core",
            &format!("{e}; the new generation runs the configuration in use"),
        );
        return;
    }
    // Scripts to watch, for the mounts the new configuration has.
    for (g, state) in sup.groups.iter_mut().enumerate() {
        state.scripts = watched_scripts(&next.plan, g);
    }
    front.processes().restart_pool = Some(next.plan.pool.clone());
    front.processes().embedded_env = next.plan.embedded.as_ref().map(|e| e.env.clone());
    *spec = next;
}

/// The scripts of group `g` whose changes restart it.
fn watched_scripts(plan: &ServerPlan, g: usize) -> Vec<(PathBuf, Option<SystemTime>)> {
    let mut scripts: Vec<(PathBuf, Option<SystemTime>)> = Vec::new();
    // (A virtual host repeats the main server's mounts it inherits, and
    // two servers may mount one script: each script is watched once.)
    for m in plan.servers.iter().flat_map(|s| &s.mounts) {
        if m.group == Some(g)
            && m.script_reloading
            && plan.reload_scripts
            && !scripts.iter().any(|(p, _)| *p == m.script)
        {
            scripts.push((m.script.clone(), mtime(&m.script)));
        }
    }
    scripts
}

/// Front-end child processes, exec'd as `quill __frontend …` with the
/// Listen sockets at descriptors 3, 4, … In embedded mode they host
/// Python, so they are `quill-daemon __frontend …` instead, the program
/// that links libpython (`quill` never maps it).
struct RealChildren {
    programs: Programs,
    /// Embedded mode: the children's environment (the interpreter's
    /// libpython first on LD_LIBRARY_PATH); `None`: plain children.
    embedded_env: Option<Vec<(String, String)>>,
    spec: PathBuf,
    /// The Listen sockets, until a graceful stop closes them.
    listeners: Vec<OwnedFd>,
    tx: mpsc::UnboundedSender<Event>,
    /// The re-read configuration's pool settings, for the restart under way.
    restart_pool: Option<quill_mpm::PoolConfig>,
}

impl ChildProcesses for RealChildren {
    fn start(&mut self, slot: u32, generation: u32) -> io::Result<i32> {
        let exe = match &self.embedded_env {
            Some(_) => &self.programs.daemon,
            None => &self.programs.frontend,
        };
        let mut cmd = tokio::process::Command::new(exe);
        cmd.envs(self.embedded_env.iter().flatten().map(|(k, v)| (k, v)));
        cmd.arg(crate::child::ROLE)
            .arg("--spec")
            .arg(&self.spec)
            .arg("--slot")
            .arg(slot.to_string())
            .arg("--generation")
            .arg(generation.to_string())
            .stdin(Stdio::null());
        let fds: Vec<i32> = self.listeners.iter().map(|l| l.as_raw_fd()).collect();
        #[allow(unsafe_code)]
        // SAFETY: the closure runs in the child between fork and exec and
        // only calls dup2 and prctl, which are async-signal-safe. Every
        // source descriptor is above every target (see `fd_at_least`), so
        // no dup2 overwrites a later source; dup2 clears close-on-exec on
        // the targets.
        unsafe {
            cmd.pre_exec(move || {
                for (i, fd) in fds.iter().enumerate() {
                    let target = crate::child::FIRST_LISTEN_FD + i as i32;
                    if libc::dup2(*fd, target) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                // A child never outlives its supervisor.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
            return Err(io::Error::other("the child exited at once"));
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    match (s.code(), s.signal()) {
                        (Some(code), _) => ExitStatus::Exited { code },
                        (None, Some(signal)) => ExitStatus::Signaled {
                            signal,
                            core_dumped: s.core_dumped(),
                        },
                        _ => ExitStatus::Exited { code: 255 },
                    }
                }
                Err(_) => ExitStatus::Exited { code: 255 },
            };
            let _ = tx.send(Event::FrontExited { pid, status });
        });
        Ok(pid)
    }

    fn signal(&mut self, pid: i32, signal: i32) {
        if let Ok(sig) = Signal::try_from(signal) {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }

    fn close_listeners(&mut self) {
        self.listeners.clear();
    }

    fn restart_pool(&mut self) -> Option<quill_mpm::PoolConfig> {
        self.restart_pool.take()
    }
}

fn mtime(p: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn spec_path(plan: &ServerPlan, group: usize, slot: u32) -> PathBuf {
    plan.run_dir.join(format!(
        "daemon.{}.{}-{slot}.json",
        std::process::id(),
        group + 1
    ))
}

/// A listening UNIX socket with the given backlog, private to this user,
/// at a descriptor ≥ 10.
fn bind_unix(path: &std::path::Path, backlog: u32) -> nix::Result<OwnedFd> {
    let _ = std::fs::remove_file(path);
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(path)?;
    bind(fd.as_raw_fd(), &addr)?;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    let backlog =
        Backlog::new(i32::try_from(backlog).unwrap_or(i32::MAX)).unwrap_or(Backlog::MAXCONN);
    listen(&fd, backlog)?;
    high_fd(&fd)
}

fn high_fd(fd: &OwnedFd) -> nix::Result<OwnedFd> {
    fd_at_least(&fd.as_fd(), 10)
}

/// A close-on-exec duplicate of `fd` at a descriptor ≥ `min`.
fn fd_at_least(fd: &impl AsFd, min: i32) -> nix::Result<OwnedFd> {
    use nix::fcntl::{FcntlArg, fcntl};
    let raw = fcntl(fd.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(min))?;
    #[allow(unsafe_code)]
    // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor we now own.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

struct Sup<'a> {
    plan: &'a ServerPlan,
    daemon_exe: PathBuf,
    log: Arc<ErrorLog>,
    groups: Vec<GroupState>,
    procs: HashMap<i32, Proc>,
    restarts: RestartPolicy,
    tx: mpsc::UnboundedSender<Event>,
    daemon_stderr: Option<File>,
    stopping: bool,
}

impl Sup<'_> {
    /// httpd opens its logs again at every restart: the main error log,
    /// opened afresh (after a rotation, the new file), for the supervisor
    /// and the daemon processes started from now on. The front-end
    /// children of the new generation open theirs when they start.
    fn reopen_error_log(&mut self) {
        let crate::plan::LogTarget::File(path) = &self.plan.error_log else {
            return;
        };
        let reopened = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|f| Ok((f.try_clone()?, f)));
        match reopened {
            Ok((own, daemons)) => {
                self.log.reopen(Box::new(own));
                if self.daemon_stderr.is_some() {
                    self.daemon_stderr = Some(daemons);
                }
            }
            Err(e) => self.log.log(
                Level::Error,
                "core",
                &format!(
                    "cannot open the error log {} again: {e}; writing on to the file open",
                    path.display()
                ),
            ),
        }
    }

    fn group_name(&self, g: usize) -> &str {
        &self.plan.groups[g].spec.group
    }

    fn spawn(&mut self, g: usize, slot: u32) -> Result<(), ServerError> {
        let name = self.group_name(g).to_string();
        let err = |e: io::Error| ServerError::Spawn(name.clone(), e);
        let gp = &self.plan.groups[g];
        let mut spec = gp.spec.clone();
        spec.slot = slot;
        let path = spec_path(self.plan, g, slot);
        let json = serde_json::to_vec_pretty(&spec).map_err(|e| err(io::Error::other(e)))?;
        std::fs::write(&path, json).map_err(err)?;

        let (ctl_read, ctl_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| err(e.into()))?;
        let ctl_write = high_fd(&ctl_write).map_err(|e| err(e.into()))?;
        let listen_raw = self.groups[g].listener.as_raw_fd();
        let board_raw = self.groups[g].board_fd.as_raw_fd();
        let ctl_raw = ctl_write.as_raw_fd();

        let mut cmd = tokio::process::Command::new(&self.daemon_exe);
        // `ps` shows argv: with a display-name, argv is that name alone
        // (mod_wsgi rewrites its argv the same way) and the spec file
        // travels in the environment.
        match &spec.display_name {
            Some(name) => {
                cmd.arg0(name).env(crate::spec::SPEC_ENV, &path);
            }
            None => {
                cmd.arg("--spec").arg(&path);
            }
        }
        cmd.envs(gp.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.stdin(Stdio::null());
        // The error log of the virtual host that declared the group, opened
        // for each process (so a restart after a rotation opens the new
        // file), else the main server's.
        let own_log = match &gp.error_log {
            Some(crate::plan::LogTarget::File(p)) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(err)?,
            ),
            _ => None,
        };
        match own_log.as_ref().or(self.daemon_stderr.as_ref()) {
            Some(f) => {
                cmd.stderr(Stdio::from(f.try_clone().map_err(err)?));
                cmd.stdout(Stdio::from(f.try_clone().map_err(err)?));
            }
            None => {
                cmd.stdout(Stdio::null());
            }
        }
        if let Some(home) = &gp.spec.home {
            cmd.current_dir(home);
        }
        #[allow(unsafe_code)]
        // SAFETY: the closure runs in the child between fork and exec and
        // only calls dup2, which is async-signal-safe. Every source is
        // ≥ 10, so no dup2 overwrites another's source; dup2 clears
        // close-on-exec on the targets.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(listen_raw, LISTEN_FD) < 0
                    || libc::dup2(ctl_raw, CONTROL_FD) < 0
                    || libc::dup2(board_raw, BUSY_FD) < 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(err)?;
        drop(ctl_write);
        let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
            return Err(err(io::Error::other("daemon exited at once")));
        };
        self.log.log(
            Level::Info,
            "wsgi",
            &format!(
                "Starting process '{name}' (slot {slot}) with pid {pid} and threads={}.",
                gp.spec.threads
            ),
        );
        self.procs.insert(
            pid,
            Proc {
                group: g,
                slot,
                started: Instant::now(),
                retiring: false,
                reason: None,
            },
        );

        let tx = self.tx.clone();
        tokio::spawn(async move {
            let (status, clean) = match child.wait().await {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    match (s.code(), s.signal()) {
                        (Some(c), _) => (format!("exit status {c}"), c == 0),
                        (None, Some(sig)) => (
                            format!(
                                "signal {}",
                                Signal::try_from(sig)
                                    .map(|s| s.as_str().to_string())
                                    .unwrap_or_else(|_| sig.to_string())
                            ),
                            false,
                        ),
                        _ => ("unknown status".to_string(), false),
                    }
                }
                Err(e) => (format!("wait failed: {e}"), false),
            };
            let _ = tx.send(Event::Exited { pid, status, clean });
        });
        let tx = self.tx.clone();
        let ctl = tokio::net::unix::pipe::Receiver::from_owned_fd(ctl_read);
        tokio::spawn(async move {
            let Ok(ctl) = ctl else { return };
            let mut lines = tokio::io::BufReader::new(ctl).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match ControlMessage::decode(&line) {
                    Ok(ControlMessage::Retiring { reason }) => {
                        let _ = tx.send(Event::Retiring { pid, reason });
                    }
                    // A daemon of another build: nothing to act on.
                    Err(_) => {}
                }
            }
        });
        Ok(())
    }

    fn on_event(&mut self, ev: Event) -> Result<(), ServerError> {
        match ev {
            // The front-end children's exits go to the pool controller.
            Event::FrontExited { .. } => {}
            Event::Start { group, slot } => {
                if !self.stopping {
                    self.spawn(group, slot)?;
                }
            }
            Event::Retiring { pid, reason } => {
                if let Some(p) = self.procs.get_mut(&pid) {
                    if !p.retiring && !self.stopping {
                        p.retiring = true;
                        p.reason = Some(reason.clone());
                        let (g, slot) = (p.group, p.slot);
                        self.log.log(Level::Info, "wsgi", &format!("Process {pid} of '{}' is retiring ({reason}); starting its replacement.", self.group_name(g)));
                        self.spawn(g, slot)?;
                    }
                }
            }
            Event::Exited { pid, status, clean } => {
                let Some(p) = self.procs.remove(&pid) else {
                    return Ok(());
                };
                if let Ok(pid) = u32::try_from(pid) {
                    let now_us = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
                    let board = &self.groups[p.group].board;
                    board.retire(pid, now_us);
                    if !self.stopping {
                        board.count_restart(p.reason.as_deref().unwrap_or("died"));
                    }
                }
                let name = self.group_name(p.group).to_string();
                if self.stopping || p.retiring {
                    self.log.log(
                        Level::Info,
                        "wsgi",
                        &format!("Process {pid} of '{name}' has stopped ({status})."),
                    );
                    return Ok(());
                }
                let key = (p.group, p.slot);
                let Restart {
                    delay,
                    failures: n,
                    crash_loop,
                } = self.restarts.on_death(key, p.started.elapsed());
                let level = if clean { Level::Info } else { Level::Error };
                if crash_loop {
                    self.log.log(Level::Error, "wsgi", &format!(
                        "Daemon process '{name}' (slot {}) keeps dying: {n} times in a row, each within {} s of starting (last: pid {pid}, {status}); restarting in {:.1} s. The lines above from that process say why.",
                        p.slot, STABLE_AFTER.as_secs(), delay.as_secs_f64()
                    ));
                } else {
                    self.log.log(level, "wsgi", &format!("Process {pid} of '{name}' has died ({status}), deregister and restart it."));
                }
                if delay.is_zero() {
                    self.spawn(p.group, p.slot)?;
                } else {
                    let tx = self.tx.clone();
                    let (group, slot) = key;
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send(Event::Start { group, slot });
                    });
                }
            }
        }
        Ok(())
    }

    /// Starts a replacement for every running process of group `g`, then
    /// asks the old ones to retire (SIGUSR1: finish requests, then exit).
    fn replace_group(&mut self, g: usize) -> Result<(), ServerError> {
        let old: Vec<(i32, u32)> = self
            .procs
            .iter()
            .filter(|(_, p)| p.group == g && !p.retiring)
            .map(|(pid, p)| (*pid, p.slot))
            .collect();
        for (pid, slot) in old {
            if let Some(p) = self.procs.get_mut(&pid) {
                p.retiring = true;
                p.reason = Some("replaced".into());
            }
            self.spawn(g, slot)?;
            let _ = kill(Pid::from_raw(pid), Signal::SIGUSR1);
        }
        Ok(())
    }

    fn check_scripts(&mut self) -> Result<(), ServerError> {
        for g in 0..self.groups.len() {
            let mut changed = None;
            for (path, seen) in &mut self.groups[g].scripts {
                let now = mtime(path);
                if now != *seen {
                    *seen = now;
                    changed = Some(path.clone());
                }
            }
            if let Some(path) = changed {
                self.log.log(Level::Info, "wsgi", &format!(
                    "Script file '{}' changed; gracefully restarting the daemon processes of '{}'.",
                    path.display(),
                    self.group_name(g)
                ));
                self.replace_group(g)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_deaths_escalate_and_a_stable_process_starts_afresh() {
        let mut p = RestartPolicy::default();
        let quick = Duration::from_secs(1);
        let first = p.on_death((0, 0), quick);
        assert_eq!(
            (first.delay, first.failures, first.crash_loop),
            (Duration::ZERO, 1, false)
        );
        assert_eq!(p.on_death((0, 0), quick).delay, Duration::from_millis(500));
        let third = p.on_death((0, 0), quick);
        assert!(third.crash_loop, "three quick deaths are a crash loop");
        assert_eq!(third.delay, Duration::from_secs(1));
        // Another slot has its own count.
        assert_eq!(p.on_death((0, 1), quick).failures, 1);
        // A process that lived long enough was not part of a loop.
        let stable = p.on_death((0, 0), STABLE_AFTER);
        assert_eq!((stable.failures, stable.delay), (1, Duration::ZERO));
    }

    #[test]
    fn backoff_starts_at_zero_and_doubles_to_a_cap() {
        assert_eq!(restart_delay(1), Duration::ZERO);
        assert_eq!(restart_delay(2), Duration::from_millis(500));
        assert_eq!(restart_delay(3), Duration::from_secs(1));
        assert_eq!(restart_delay(4), Duration::from_secs(2));
        assert_eq!(restart_delay(30), MAX_BACKOFF);
    }
}
