//! The supervisor: binds every socket, execs the daemon processes
//! (`quill-daemon`, never a fork of this threaded process), restarts
//! them with back-off, replaces them gracefully when their script changes,
//! and runs the front end (one, in this process, for now).
//!
//! One task owns all process state; everything else sends it [`Event`]s.
//!
//! | signal to the supervisor | effect |
//! |---|---|
//! | SIGTERM, SIGINT | stop: front end stops accepting and drains, daemons get SIGTERM, SIGKILL after their shutdown-timeout + 2 s |
//! | SIGHUP | graceful restart of every daemon group (replacements first) |

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
use tokio::sync::{mpsc, watch};

use crate::frontend::{self, AccessSink, FrontEnd};
use crate::log::{ErrorLog, Level};
use crate::plan::ServerPlan;
use crate::spec::{CONTROL_FD, LISTEN_FD};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot create run directory {0}: {1}")]
    RunDir(PathBuf, io::Error),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, io::Error),
    #[error("cannot create daemon socket {0}: {1}")]
    DaemonSocket(PathBuf, nix::Error),
    #[error("cannot start daemon process of group '{0}': {1}")]
    Spawn(String, io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(io::Error),
}

/// How long a daemon must have lived for its death not to count as a
/// crash loop.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Longest wait between restarts of a slot that keeps dying.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug)]
enum Event {
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
}

struct GroupState {
    /// The listening socket, at a descriptor ≥ 10 so that moving it to
    /// fd 3 in a child never overwrites another inherited descriptor.
    listener: OwnedFd,
    scripts: Vec<(PathBuf, Option<SystemTime>)>,
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

/// Runs a whole server until SIGTERM/SIGINT. `daemon_exe` is the
/// `quill-daemon` binary; `daemon_stderr` is given to every daemon process
/// as stderr (the error log when it is a file).
pub async fn run(
    plan: ServerPlan,
    daemon_exe: PathBuf,
    log: Arc<ErrorLog>,
    access: Option<AccessSink>,
    daemon_stderr: Option<File>,
    on_started: impl FnOnce(&Started),
) -> Result<(), ServerError> {
    std::fs::create_dir_all(&plan.run_dir)
        .map_err(|e| ServerError::RunDir(plan.run_dir.clone(), e))?;
    let _ = std::fs::set_permissions(&plan.run_dir, std::fs::Permissions::from_mode(0o700));

    let mut listeners = Vec::new();
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
        listeners.push(l);
    }

    let mut groups = Vec::new();
    for (i, g) in plan.groups.iter().enumerate() {
        let fd = bind_unix(&g.socket_path, g.listen_backlog)
            .map_err(|e| ServerError::DaemonSocket(g.socket_path.clone(), e))?;
        let scripts = plan
            .mounts
            .iter()
            .filter(|m| m.group == i && m.script_reloading && plan.reload_scripts)
            .map(|m| (m.script.clone(), mtime(&m.script)))
            .collect();
        groups.push(GroupState {
            listener: fd,
            scripts,
        });
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut sup = Sup {
        plan: &plan,
        daemon_exe,
        log: log.clone(),
        groups,
        procs: HashMap::new(),
        failures: HashMap::new(),
        tx: tx.clone(),
        daemon_stderr,
        stopping: false,
    };
    for g in 0..plan.groups.len() {
        for slot in 0..plan.groups[g].spec.processes.max(1) {
            sup.spawn(g, slot)?;
        }
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let fe = Arc::new(FrontEnd::from_plan(&plan, log.clone(), access));
    let mut addresses = Vec::new();
    let mut fronts = tokio::task::JoinSet::new();
    for l in listeners {
        if let Ok(a) = l.local_addr() {
            addresses.push(a);
        }
        fronts.spawn(frontend::serve(l, fe.clone(), stop_rx.clone()));
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

    let mut term = signal(SignalKind::terminate()).map_err(ServerError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServerError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(ServerError::Signals)?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                log.log(Level::Notice, "core", "SIGHUP received: gracefully restarting every daemon process.");
                for g in 0..sup.groups.len() {
                    sup.replace_group(g)?;
                }
            }
            _ = tick.tick() => sup.check_scripts()?,
            Some(ev) = rx.recv() => sup.on_event(ev)?,
        }
    }

    // Stop: front ends drain, daemons get SIGTERM, then SIGKILL.
    log.log(Level::Notice, "core", "caught SIGTERM, shutting down");
    sup.stopping = true;
    let _ = stop_tx.send(true);
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
    let drain = tokio::time::Instant::now() + plan.timeout;
    while let Ok(Some(_)) = tokio::time::timeout_at(drain, fronts.join_next()).await {}
    for g in &plan.groups {
        let _ = std::fs::remove_file(&g.socket_path);
    }
    for g in 0..plan.groups.len() {
        for slot in 0..plan.groups[g].spec.processes.max(1) {
            let _ = std::fs::remove_file(spec_path(&plan, g, slot));
        }
    }
    Ok(())
}

fn mtime(p: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn spec_path(plan: &ServerPlan, group: usize, slot: u32) -> PathBuf {
    plan.run_dir
        .join(format!("daemon-{}-{slot}.json", group + 1))
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
    use nix::fcntl::{FcntlArg, fcntl};
    let raw = fcntl(fd.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(10))?;
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
    failures: HashMap<(usize, u32), u32>,
    tx: mpsc::UnboundedSender<Event>,
    daemon_stderr: Option<File>,
    stopping: bool,
}

impl Sup<'_> {
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
        match &self.daemon_stderr {
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
        // only calls dup2, which is async-signal-safe. Both sources are
        // ≥ 10, so neither dup2 overwrites the other's source; dup2 clears
        // close-on-exec on the targets.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(listen_raw, LISTEN_FD) < 0 || libc::dup2(ctl_raw, CONTROL_FD) < 0 {
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
                if let Some(reason) = line.strip_prefix("retiring ") {
                    let _ = tx.send(Event::Retiring {
                        pid,
                        reason: reason.to_string(),
                    });
                }
            }
        });
        Ok(())
    }

    fn on_event(&mut self, ev: Event) -> Result<(), ServerError> {
        match ev {
            Event::Start { group, slot } => {
                if !self.stopping {
                    self.spawn(group, slot)?;
                }
            }
            Event::Retiring { pid, reason } => {
                if let Some(p) = self.procs.get_mut(&pid) {
                    if !p.retiring && !self.stopping {
                        p.retiring = true;
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
                let failures = self.failures.entry(key).or_insert(0);
                if p.started.elapsed() >= STABLE_AFTER {
                    *failures = 0;
                }
                *failures += 1;
                let n = *failures;
                let delay = restart_delay(n);
                let level = if clean { Level::Info } else { Level::Error };
                if n >= 3 {
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
    fn backoff_starts_at_zero_and_doubles_to_a_cap() {
        assert_eq!(restart_delay(1), Duration::ZERO);
        assert_eq!(restart_delay(2), Duration::from_millis(500));
        assert_eq!(restart_delay(3), Duration::from_secs(1));
        assert_eq!(restart_delay(4), Duration::from_secs(2));
        assert_eq!(restart_delay(30), MAX_BACKOFF);
    }
}
