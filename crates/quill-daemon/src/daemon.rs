//! The daemon process (`quill-daemon --spec FILE`): embedded Python,
//! `threads` request threads that take work only when idle, a GIL ticker,
//! a monitor enforcing the timeouts, and the shutdown sequence.
//!
//! ```text
//!  main thread ── sigwait(TERM, INT, USR1, USR2=internal) ── shutdown ── join (bounded by the reaper)
//!  worker × threads ─ epoll_wait(listen | parked connections | wake) → accept or take ─ read Head
//!                     ─ run WSGI app ─ park the connection (kept) or close it ─ repeat
//!  ticker ── every 1 s: take the GIL (deadlock detection), inject RequestTimeout
//!  monitor ─ every 1 s: request-timeout, deadlock-timeout, inactivity, startup
//! ```
//!
//! Work is a new connection on the group's listening socket or a new
//! request on a connection the front end kept (a *parked* connection, see
//! docs/protocol.md). Both are in one epoll set per process, with
//! one-shot registrations, and only idle threads wait on it: epoll wakes
//! one waiter per event, the most recently idle one first (as mod_wsgi's
//! LIFO idle stack), and a thread that finishes a request while more work
//! is ready takes it without sleeping. A process therefore never takes
//! more requests than it has idle threads: excess connections stay in the
//! kernel backlog, excess requests in their connection's socket buffer.

use std::collections::HashMap;

use bytes::Bytes;
use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{SockFlag, accept4};
use pyo3::prelude::*;
use pyo3::types::PyModule;
use quill_protocol::busy::{BUSY_FD, BusyBoard, Claim, Sample};
use quill_protocol::control::ControlMessage;
use quill_protocol::log::{ErrorLog, Level};
use quill_protocol::protocol::{Frame, RequestHead, VERSION};
use quill_protocol::spec::{CONTROL_FD, DaemonSpec, LISTEN_FD};

use crate::bridge::{self, EnvironCache, Input, Outcome, ProcessFacts, RequestFacts, ScriptCheck};
use crate::conn::{Body, Conn, FrameReader, Writer};
use crate::monitor::{
    ProcessExpiry, ProcessLimits, ProcessReadings, ThreadExpiry, process_expiry, thread_expiry,
};
use crate::subinterp::{
    Entered, Host, Interpreters, PaceState, Served, Setup, SubRequest, ThreadStates,
};

const SUPPORT: &str = include_str!("support.py");

/// One request thread as the monitor sees it.
#[derive(Debug, Default)]
struct Slot {
    /// `threading.get_ident()` of the thread.
    ident: u64,
    busy_since: Option<Instant>,
    writer: Option<Writer>,
    interrupted_at: Option<Instant>,
    requests: u64,
    /// The application group of the request in progress (`""`: the main
    /// interpreter), for the ticker's interrupt.
    app_group: String,
}

#[derive(Debug)]
struct Shared {
    spec: DaemonSpec,
    log: ErrorLog,
    slots: Vec<Mutex<Slot>>,
    shutdown: AtomicBool,
    /// Read end in the epoll set; written once at shutdown.
    wake_read: OwnedFd,
    wake_write: OwnedFd,
    /// The listening socket, the wake pipe and parked connections.
    epoll: Epoll,
    /// Connections waiting for their next request, by epoll token.
    parked: Mutex<HashMap<u64, Conn>>,
    pid: u32,
    /// A shutdown was requested from inside (no more connections kept).
    retiring: AtomicBool,
    total_requests: AtomicU64,
    active: AtomicU64,
    /// Where this process publishes `active` for the front ends, if the
    /// supervisor gave it a board (quill_protocol::busy).
    busy_board: Option<(BusyBoard, Claim)>,
    started: Instant,
    /// Milliseconds since `started` of the last request activity; 0 = none
    /// yet (the inactivity timer is armed by the first request).
    last_activity_ms: AtomicU64,
    /// Milliseconds since `started` when the ticker last held the GIL.
    last_gil_ms: AtomicU64,
    first_load_failure_ms: AtomicU64,
    /// Why a shutdown was requested from inside (monitor, max requests).
    reason: Mutex<Option<String>>,
    /// Threads to interrupt: (`threading.get_ident()`, application group).
    interrupts: Mutex<Option<mpsc::Sender<(u64, String)>>>,
    /// The sub-interpreters of application groups other than %{GLOBAL}.
    interps: Interpreters,
    /// Embedded mode: requests come from the front end of this process
    /// (crate::embed), not from the listening socket.
    inbox: Option<Arc<crate::embed::Inbox>>,
    /// Embedded mode: the scripts' mtimes, for script reloading.
    scripts: ScriptMtimes,
    /// Request threads waiting for the GIL to start a request.
    turns: crate::turns::GilTurns,
}

fn new_shared(
    spec: DaemonSpec,
    log: ErrorLog,
    (wake_read, wake_write): (OwnedFd, OwnedFd),
    epoll: Epoll,
    busy_board: Option<(BusyBoard, Claim)>,
    inbox: Option<Arc<crate::embed::Inbox>>,
) -> Arc<Shared> {
    let threads = spec.threads.max(1) as usize;
    let setup = Setup {
        group: spec.group.clone(),
        threads: spec.threads,
        processes: spec.processes,
        home: spec.home.clone(),
        python_path: spec.python_path.clone(),
        multithread: process_facts(&spec).multithread,
        multiprocess: process_facts(&spec).multiprocess,
        run_once: process_facts(&spec).run_once,
    };
    // The natives reach the process through `Shared`, made just below.
    let host_shared: Arc<std::sync::OnceLock<std::sync::Weak<Shared>>> = Arc::default();
    let host = {
        let (for_log, for_restart) = (host_shared.clone(), host_shared.clone());
        Host {
            log: Box::new(move |level, msg| {
                if let Some(s) = for_log.get().and_then(std::sync::Weak::upgrade) {
                    s.log.log(level, "wsgi", msg);
                }
            }),
            restart: Box::new(move |reason| {
                if let Some(s) = for_restart.get().and_then(std::sync::Weak::upgrade) {
                    s.request_shutdown(reason);
                }
            }),
        }
    };
    let shared = Arc::new(Shared {
        slots: (0..threads).map(|_| Mutex::new(Slot::default())).collect(),
        spec,
        log,
        shutdown: AtomicBool::new(false),
        wake_read,
        wake_write,
        epoll,
        parked: Mutex::new(HashMap::new()),
        pid: std::process::id(),
        retiring: AtomicBool::new(false),
        total_requests: AtomicU64::new(0),
        active: AtomicU64::new(0),
        busy_board,
        started: Instant::now(),
        last_activity_ms: AtomicU64::new(0),
        last_gil_ms: AtomicU64::new(1),
        first_load_failure_ms: AtomicU64::new(0),
        reason: Mutex::new(None),
        interrupts: Mutex::new(None),
        interps: Interpreters::new(host, setup),
        inbox,
        scripts: ScriptMtimes::default(),
        turns: crate::turns::GilTurns::default(),
    });
    let _ = host_shared.set(Arc::downgrade(&shared));
    shared
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn group(&self) -> &str {
        &self.spec.group
    }

    fn socket_timeout(&self) -> Option<Duration> {
        (self.spec.socket_timeout > 0)
            .then(|| Duration::from_secs(u64::from(self.spec.socket_timeout)))
    }

    /// Puts a kept connection back in the epoll set, to be taken by an
    /// idle thread when the front end sends its next request (or closes).
    fn park(&self, mut conn: Conn) {
        if self.shutdown.load(Ordering::SeqCst) {
            return; // dropped: closed
        }
        let stream = conn.stream.clone();
        // (An in-memory link is never kept: nothing to park.)
        let (Some(token), Some(fd)) = (crate::conn::token(&stream), stream.socket_fd()) else {
            return;
        };
        let registered = std::mem::replace(&mut conn.registered, true);
        lock(&self.parked).insert(token, conn);
        let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLONESHOT;
        let mut ev = EpollEvent::new(flags, token);
        let armed = if registered {
            self.epoll.modify(fd, &mut ev)
        } else {
            self.epoll.add(fd, ev)
        };
        if armed.is_err() {
            lock(&self.parked).remove(&token);
        }
        // A shutdown that began meanwhile may have emptied the set already.
        if self.shutdown.load(Ordering::SeqCst) {
            self.close_parked();
        }
    }

    /// Closes every parked connection (shutdown): the front end sees them
    /// end and sends its next requests elsewhere.
    fn close_parked(&self) {
        let conns = std::mem::take(&mut *lock(&self.parked));
        drop(conns);
    }

    /// Asks the main thread to shut the process down (graceful: running
    /// requests finish), telling the supervisor first so that a
    /// replacement starts before this process retires.
    fn request_shutdown(&self, reason: &str) {
        {
            let mut r = lock(&self.reason);
            if r.is_some() {
                return;
            }
            *r = Some(reason.to_string());
        }
        self.retiring.store(true, Ordering::SeqCst);
        tell_supervisor(&ControlMessage::Retiring {
            reason: reason.to_string(),
        });
        // To the process, not this thread (`raise` would pend the signal on
        // the calling thread, where it is blocked, and the main thread's
        // sigwait would never see it: a monitor-requested retirement then
        // left the process running).
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), Signal::SIGUSR2);
    }
}

fn tell_supervisor(message: &ControlMessage) {
    // fd 4 may not exist (daemon run by hand); a failed write is ignored.
    let fd = CONTROL_FD;
    if nix::fcntl::fcntl(borrow(fd), nix::fcntl::FcntlArg::F_GETFD).is_ok() {
        let _ = nix::unistd::write(borrow(fd), &message.encode());
    }
}

/// The group's busy board at [`BUSY_FD`], with an entry claimed for this
/// process; `None` when there is none (a daemon run by hand, or a board
/// of another size) or when every entry is taken.
fn open_busy_board(processes: u32, threads: u32) -> Option<(BusyBoard, Claim)> {
    let fd = borrow(BUSY_FD);
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).ok()?;
    let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() != BusyBoard::len_for(processes) as u64 {
        return None;
    }
    let board = BusyBoard::map(&file).ok()?;
    let claim = board.claim(std::process::id(), threads, epoch_us())?;
    Some((board, claim))
}

fn borrow(fd: i32) -> BorrowedFd<'static> {
    #[allow(unsafe_code)]
    // SAFETY: the fixed descriptors (LISTEN_FD, CONTROL_FD, BUSY_FD) are inherited
    // from the supervisor and stay open for the life of the process; the
    // only use on a possibly-closed fd is F_GETFD, which just fails.
    unsafe {
        BorrowedFd::borrow_raw(fd)
    }
}

fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Runs the daemon process; returns its exit status.
pub fn run(spec_path: &Path) -> i32 {
    let boot = ErrorLog::stderr(Level::Warn);
    let spec: DaemonSpec = match std::fs::read(spec_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            boot.error(&format!(
                "cannot read daemon spec {}: {e}",
                spec_path.display()
            ));
            return 2;
        }
    };
    let level = spec.log_level.parse().unwrap_or(Level::Warn);
    let log = ErrorLog::stderr(level);

    // Signals are handled by sigwait in the main thread: block them before
    // any thread exists so every thread inherits the mask.
    let mut signals = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGHUP,
    ] {
        signals.add(s);
    }
    if let Err(e) = signals.thread_block() {
        log.error(&format!("cannot block signals: {e}"));
        return 1;
    }

    if let Some((uid, gid)) = spec.run_as {
        if let Err(e) = drop_privileges(uid, gid, &spec.supplementary_gids) {
            log.error(&format!("Unable to change to uid={uid} and gid={gid}: {e}"));
            return 1;
        }
    }
    if let Some(home) = &spec.home {
        if let Err(e) = std::env::set_current_dir(home) {
            log.error(&format!(
                "Unable to change working directory to '{home}': {e}"
            ));
            return 1;
        }
    }
    if let Some(name) = &spec.display_name {
        let _ =
            nix::sys::prctl::set_name(&std::ffi::CString::new(name.clone()).unwrap_or_default());
    }
    log.info(&format!(
        "Starting process '{}' with uid={}, gid={} and threads={}.",
        spec.group,
        nix::unistd::getuid(),
        nix::unistd::getgid(),
        spec.threads
    ));

    if let Err(e) = crate::interp::initialize(&spec.python) {
        log.error(&format!(
            "Python could not be initialised for daemon process '{}' from {}: {e}",
            spec.group, spec.python.executable
        ));
        return 1;
    }

    let (wake_read, wake_write) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => {
            log.error(&format!("cannot create the wake-up pipe: {e}"));
            return 1;
        }
    };
    let listen = borrow(LISTEN_FD);
    if let Err(e) = set_nonblocking(listen) {
        log.error(&format!(
            "daemon process '{}' has no listening socket on fd {LISTEN_FD}: {e}",
            spec.group
        ));
        return 1;
    }
    let epoll = match new_epoll(listen, wake_read.as_fd()) {
        Ok(e) => e,
        Err(e) => {
            log.error(&format!("cannot create the daemon's epoll set: {e}"));
            return 1;
        }
    };
    let threads = spec.threads.max(1) as usize;
    let busy_board = open_busy_board(spec.processes, spec.threads.max(1));
    let shared = new_shared(spec, log, (wake_read, wake_write), epoll, busy_board, None);

    let mut main_states = ThreadStates::default();
    let support = Python::attach(|py| setup_python(py, &shared, &mut main_states));
    let support = match support {
        Ok(s) => s,
        Err(e) => {
            shared
                .log
                .error(&format!("Quill's Python support failed to load: {e}"));
            return 1;
        }
    };

    let (tx, rx) = mpsc::channel();
    *lock(&shared.interrupts) = Some(tx);
    let mut helpers = Vec::new();
    {
        let s = shared.clone();
        let sup = Python::attach(|py| support.clone_ref(py));
        helpers.push(
            std::thread::Builder::new()
                .name("quill-ticker".into())
                .spawn(move || ticker(&s, &sup, &rx)),
        );
    }
    {
        let s = shared.clone();
        helpers.push(
            std::thread::Builder::new()
                .name("quill-monitor".into())
                .spawn(move || monitor(&s)),
        );
    }
    {
        let s = shared.clone();
        helpers.push(
            std::thread::Builder::new()
                .name("quill-gil-pacer".into())
                .spawn(move || gil_pacer(&s)),
        );
    }
    let mut workers = Vec::new();
    for i in 0..threads {
        let s = shared.clone();
        let sup = Python::attach(|py| support.clone_ref(py));
        match std::thread::Builder::new()
            .name(format!("quill-worker-{}", i + 1))
            .spawn(move || worker(&s, &sup, i))
        {
            Ok(h) => workers.push(h),
            Err(e) => {
                shared
                    .log
                    .error(&format!("cannot start request thread: {e}"));
                return 1;
            }
        }
    }
    if helpers.iter().any(|h| h.is_err()) {
        shared.log.error("cannot start the monitor threads");
        return 1;
    }

    // Main thread: wait for a reason to stop.
    let mut graceful = true;
    loop {
        match signals.wait() {
            Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP) => {
                graceful = false;
                shared
                    .log
                    .info(&format!("Shutdown requested '{}'.", shared.group()));
                break;
            }
            Ok(Signal::SIGUSR1) => {
                shared.request_shutdown("graceful_signal");
            }
            Ok(Signal::SIGUSR2) => break,
            Ok(_) => {}
            Err(e) => {
                shared.log.error(&format!("sigwait failed: {e}"));
                break;
            }
        }
    }
    let reason = lock(&shared.reason).clone().unwrap_or_default();
    shared.shutdown.store(true, Ordering::SeqCst);
    let _ = nix::unistd::write(shared.wake_write.as_fd(), b"x");

    // The reaper bounds everything below. A retiring process (graceful)
    // lets its requests run for graceful-timeout, then the usual
    // shutdown-timeout applies.
    let mut deadline = Duration::from_secs(u64::from(shared.spec.shutdown_timeout));
    if graceful {
        deadline += Duration::from_secs(u64::from(shared.spec.graceful_timeout));
    }
    if !deadline.is_zero() {
        let s = shared.clone();
        let _ = std::thread::Builder::new()
            .name("quill-reaper".into())
            .spawn(move || {
                std::thread::sleep(deadline);
                s.log.info(&format!("Aborting process '{}'.", s.group()));
                hard_exit(1);
            });
    }
    for w in workers {
        let _ = w.join();
    }
    shared.log.info(&format!(
        "Stopping process '{}'{}.",
        shared.group(),
        if reason.is_empty() {
            String::new()
        } else {
            format!(" ({reason})")
        }
    ));
    Python::attach(|py| run_exit_functions(py, &shared, support.bind(py), &mut main_states));
    let _ = std::io::stderr().flush();
    0
}

/// Runs the `atexit` functions of the main interpreter, then of each
/// sub-interpreter, as mod_wsgi does when it destroys them; failures are
/// logged. `states` are this thread's (the GIL is held with the main
/// interpreter current).
fn run_exit_functions(
    py: Python<'_>,
    shared: &Shared,
    support: &Bound<'_, PyModule>,
    states: &mut ThreadStates,
) {
    if let Err(e) = support.call_method0("run_exit_functions") {
        shared.log.error(&format!("atexit functions failed: {e}"));
    }
    for name in shared.interps.names() {
        let ran = states
            .enter(py, &shared.interps, &name, false)
            .and_then(|e| e.run_exit_functions());
        if let Err(e) = ran {
            shared.log.error(&format!(
                "atexit functions of interpreter '{name}' failed: {e}"
            ));
        }
    }
}

/// epoll tokens of the listening socket and the wake pipe; connections
/// use their descriptor number.
const LISTEN_TOKEN: u64 = u64::MAX;
const WAKE_TOKEN: u64 = u64::MAX - 1;

fn listen_event() -> EpollEvent {
    EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLONESHOT, LISTEN_TOKEN)
}

fn new_epoll(listen: BorrowedFd<'_>, wake: BorrowedFd<'_>) -> nix::Result<Epoll> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(listen, listen_event())?;
    // Level-triggered and never drained: every waiting thread sees it.
    epoll.add(wake, EpollEvent::new(EpollFlags::EPOLLIN, WAKE_TOKEN))?;
    Ok(epoll)
}

fn drop_privileges(uid: u32, gid: u32, supplementary: &[u32]) -> nix::Result<()> {
    use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
    let groups: Vec<Gid> = std::iter::once(gid)
        .chain(supplementary.iter().copied())
        .map(Gid::from_raw)
        .collect();
    setgroups(&groups)?;
    setgid(Gid::from_raw(gid))?;
    setuid(Uid::from_raw(uid))
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

fn setup_python(
    py: Python<'_>,
    shared: &Arc<Shared>,
    states: &mut ThreadStates,
) -> PyResult<Py<PyModule>> {
    let code = std::ffi::CString::new(SUPPORT)?;
    let support = PyModule::from_code(py, &code, c"<quill support>", c"_quill_support")?;
    let log_shared = shared.clone();
    let log_fn =
        pyo3::types::PyCFunction::new_closure(py, None, None, move |args, _kw| -> PyResult<()> {
            let (level, msg): (String, String) = args.extract()?;
            let level = level.parse().unwrap_or(Level::Error);
            log_shared.log.log(level, "wsgi", &msg);
            Ok(())
        })?;
    support.setattr("_log", log_fn)?;
    let restart_shared = shared.clone();
    let restart_fn =
        pyo3::types::PyCFunction::new_closure(py, None, None, move |args, _kw| -> PyResult<()> {
            let (reason,): (String,) = args.extract()?;
            restart_shared.request_shutdown(&reason);
            Ok(())
        })?;
    support.setattr("_restart", restart_fn)?;
    let spec = &shared.spec;
    support.call_method1(
        "setup",
        (
            spec.group.clone(),
            spec.threads,
            spec.processes,
            spec.home.clone(),
            spec.python_path.clone(),
        ),
    )?;
    for p in &spec.preload {
        let script = &p.script;
        let loaded = if p.application_group.is_empty() {
            support
                .call_method1("load_script", (script.clone(),))
                .map(drop)
                .map_err(|e| format_exception(py, &support, &e))
        } else {
            states
                .enter(py, &shared.interps, &p.application_group, true)
                .and_then(|e| e.load_script(script))
        };
        if let Err(e) = loaded {
            shared.log.error(&format!(
                "Failed to exec Python script file '{script}'.\n{e}"
            ));
        }
    }
    if spec.reload_on_changes {
        support.call_method0("start_module_watcher")?;
    }
    Ok(support.unbind())
}

fn format_exception(py: Python<'_>, support: &Bound<'_, PyModule>, e: &PyErr) -> String {
    support
        .call_method1("format_exception", (e.value(py),))
        .and_then(|s| s.extract::<String>())
        .unwrap_or_else(|_| e.to_string())
}

/// Takes the GIL every second (so the monitor can tell a deadlock) and
/// delivers request-timeout interrupts.
fn ticker(shared: &Shared, support: &Py<PyModule>, rx: &mpsc::Receiver<(u64, String)>) {
    // This thread's states in the sub-interpreters it interrupts in.
    let mut states = ThreadStates::default();
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(id) => Some(id),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        Python::attach(|py| {
            shared.last_gil_ms.store(shared.ms(), Ordering::SeqCst);
            let Ok(exc) = support.bind(py).getattr("RequestTimeout") else {
                return;
            };
            for (id, group) in first.into_iter().chain(rx.try_iter()) {
                if group.is_empty() {
                    crate::interp::interrupt_thread(py, id, &exc);
                } else if let Ok(e) = states.enter(py, &shared.interps, &group, false) {
                    e.interrupt(id);
                }
            }
        });
    }
}

/// Keeps the GIL moving between interpreters while requests run in
/// sub-interpreters.
///
/// In CPython 3.11 a thread waiting for the GIL asks for it (the "drop
/// request" of the switch interval) in its own interpreter only, and only
/// threads running in that interpreter see the request. A thread running
/// Python in sub-interpreter X therefore keeps the GIL against waiters of
/// every other interpreter — request threads picking up work (they wait
/// with their main-interpreter state), the ticker (so the deadlock timer
/// would fire on a busy, not deadlocked, process) — until it blocks. So,
/// once sub-interpreters exist, a pacing thread per interpreter (the main
/// one included) takes the GIL there every switch interval while a request
/// runs in it, and gives it back at once: its waiting makes the running
/// thread of that interpreter let go, and the waiters get their chance.
/// Having had the GIL, a pacer also tells the deadlock timer so (the ticker,
/// waiting in the main interpreter, may keep losing that race); a GIL that
/// is never released stops these threads too, and the timer still fires.
/// A process with no sub-interpreter starts no pacing thread.
fn gil_pacer(shared: &Arc<Shared>) {
    // One pacing thread per interpreter that has had a request running
    // while sub-interpreters exist (the main one included): a pacer waits
    // for the GIL in its interpreter only, and may wait long.
    let mut pacers: Vec<String> = Vec::new();
    loop {
        let mut fds = [PollFd::new(shared.wake_read.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(100u16));
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        if !shared.interps.any() {
            continue;
        }
        for group in busy_groups(shared) {
            if pacers.contains(&group) {
                continue;
            }
            let s = shared.clone();
            let g = group.clone();
            let started = std::thread::Builder::new()
                .name("quill-gil-pacer".into())
                .spawn(move || pace_interpreter(&s, &g));
            if started.is_ok() {
                pacers.push(group);
            }
        }
    }
}

/// The application groups with a request running now (`""`: the main
/// interpreter).
fn busy_groups(shared: &Shared) -> Vec<String> {
    let mut busy: Vec<String> = Vec::new();
    for slot in &shared.slots {
        let s = lock(slot);
        if s.busy_since.is_some() && !busy.contains(&s.app_group) {
            busy.push(s.app_group.clone());
        }
    }
    busy
}

/// Every switch interval while a request runs in `group`'s interpreter,
/// takes the GIL there and gives it back (see `gil_pacer`).
fn pace_interpreter(shared: &Shared, group: &str) {
    let Some(state) = PaceState::new(&shared.interps, group) else {
        return;
    };
    loop {
        let busy = shared.slots.iter().any(|s| {
            let s = lock(s);
            s.busy_since.is_some() && s.app_group == group
        });
        let pause = if busy { 5u16 } else { 100u16 };
        let mut fds = [PollFd::new(shared.wake_read.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(pause));
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        if busy {
            state.pace();
            // The GIL moves: whatever holds it, it is not stuck.
            shared.last_gil_ms.store(shared.ms(), Ordering::SeqCst);
        }
    }
}

/// Leave now, whatever the other threads hold: no atexit handlers, no
/// stdio locks (a thread stuck in C may hold one, or the GIL an exit
/// handler would need) — `exit()` could hang where `_exit()` cannot.
fn hard_exit(code: i32) -> ! {
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` takes no pointers and never returns; skipping the
    // process's exit handlers is the point.
    #[allow(unsafe_code)]
    unsafe {
        libc::_exit(code)
    }
}

fn monitor(shared: &Shared) {
    let spec = &shared.spec;
    let limits = ProcessLimits {
        deadlock_timeout_s: spec.deadlock_timeout,
        inactivity_timeout_s: spec.inactivity_timeout,
        startup_timeout_s: spec.startup_timeout,
    };
    let request_limit =
        (spec.request_timeout > 0).then(|| Duration::from_secs(u64::from(spec.request_timeout)));
    let grace = Duration::from_secs(u64::from(spec.interrupt_timeout.max(1)));
    loop {
        // Wake every second; exit promptly at shutdown.
        let mut fds = [PollFd::new(shared.wake_read.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(1000u16));
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let now = Instant::now();
        let readings = ProcessReadings {
            now_ms: shared.ms(),
            last_gil_ms: shared.last_gil_ms.load(Ordering::SeqCst),
            last_activity_ms: shared.last_activity_ms.load(Ordering::SeqCst),
            active: u32::try_from(shared.active.load(Ordering::SeqCst)).unwrap_or(u32::MAX),
            first_load_failure_ms: shared.first_load_failure_ms.load(Ordering::SeqCst),
        };
        let expiry = process_expiry(&limits, &readings);

        if expiry == Some(ProcessExpiry::Deadlock) {
            shared.log.error(&format!(
                "Daemon process deadlock timer expired, stopping process '{}'.",
                shared.group()
            ));
            for slot in &shared.slots {
                if let Some(w) = lock(slot).writer.clone() {
                    w.fail_for_stuck_thread(
                        500,
                        "daemon process deadlocked (the GIL was not released)",
                    );
                }
            }
            tell_supervisor(&ControlMessage::Retiring {
                reason: "deadlock_timeout".into(),
            });
            // The GIL is stuck: Python cannot be finalised.
            hard_exit(1);
        }

        if request_limit.is_some() {
            for (i, slot) in shared.slots.iter().enumerate() {
                let mut s = lock(slot);
                let verdict = thread_expiry(
                    request_limit,
                    grace,
                    now,
                    s.busy_since,
                    s.interrupted_at,
                    s.writer.is_some(),
                );
                match verdict {
                    Some(ThreadExpiry::Interrupt) => {
                        shared.log.warn(&format!(
                            "Request time limit of {} seconds exceeded in thread {} of process '{}', interrupting it.",
                            spec.request_timeout,
                            i + 1,
                            shared.group()
                        ));
                        s.interrupted_at = Some(now);
                        if let Some(tx) = lock(&shared.interrupts).as_ref() {
                            let _ = tx.send((s.ident, s.app_group.clone()));
                        }
                    }
                    Some(ThreadExpiry::Restart) => {
                        shared.log.error(&format!(
                            "Thread {} of process '{}' did not unwind within {} seconds of its request-timeout interrupt, restarting the process.",
                            i + 1,
                            shared.group(),
                            grace.as_secs()
                        ));
                        if let Some(w) = s.writer.take() {
                            w.fail_for_stuck_thread(
                                504,
                                "request-timeout expired; the thread did not unwind",
                            );
                        }
                        drop(s);
                        shared.request_shutdown("request_timeout");
                    }
                    None => {}
                }
            }
        }

        if expiry == Some(ProcessExpiry::Inactivity) {
            shared.log.info(&format!(
                "Daemon process inactivity timer expired, stopping process '{}'.",
                shared.group()
            ));
            shared.request_shutdown("inactivity_timeout");
        }

        if expiry == Some(ProcessExpiry::Startup) {
            shared.log.error(&format!(
                "Application startup timer expired, stopping process '{}'.",
                shared.group()
            ));
            shared.request_shutdown("startup_timeout");
        }
    }
}

/// Waits, idle, for the next connection with work: a new one from the
/// listening socket (`true`) or a parked one the front end wrote to.
/// `None` at shutdown.
fn next_conn(shared: &Shared) -> Option<(Conn, bool)> {
    let listen = borrow(LISTEN_FD);
    let mut events = [EpollEvent::empty()];
    loop {
        if shared.shutdown.load(Ordering::SeqCst) {
            shared.close_parked();
            return None;
        }
        match shared.epoll.wait(&mut events, PollTimeout::NONE) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => {
                shared
                    .log
                    .error(&format!("epoll_wait on the daemon socket failed: {e}"));
                return None;
            }
        }
        match events[0].data() {
            WAKE_TOKEN => {
                shared.close_parked();
                return None;
            }
            LISTEN_TOKEN => {
                let accepted = accept4(
                    listen.as_raw_fd(),
                    SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                );
                // Re-arm at once: another idle thread may take the next one.
                let _ = shared.epoll.modify(listen, &mut listen_event());
                match accepted {
                    #[allow(unsafe_code)]
                    // SAFETY: accept4 returned a new descriptor that nothing else owns.
                    Ok(fd) => {
                        let stream = unsafe { UnixStream::from_raw_fd(fd) };
                        crate::conn::set_buffer_sizes(
                            &stream,
                            shared.spec.send_buffer_size,
                            shared.spec.receive_buffer_size,
                        );
                        return Some((Conn::new(stream), true));
                    }
                    Err(
                        nix::errno::Errno::EAGAIN
                        | nix::errno::Errno::EINTR
                        | nix::errno::Errno::ECONNABORTED,
                    ) => {}
                    Err(e) => {
                        shared
                            .log
                            .error(&format!("accept on the daemon socket failed: {e}"));
                        // EMFILE and friends: back off instead of spinning.
                        let mut fds = [PollFd::new(shared.wake_read.as_fd(), PollFlags::POLLIN)];
                        let _ = poll(&mut fds, PollTimeout::from(100u16));
                    }
                }
            }
            token => {
                if let Some(conn) = lock(&shared.parked).remove(&token) {
                    return Some((conn, false));
                }
            }
        }
    }
}

/// What `wsgi.multithread`, `wsgi.multiprocess` and `wsgi.run_once` say.
fn process_facts(spec: &DaemonSpec) -> ProcessFacts {
    ProcessFacts {
        multithread: spec.threads != 1,
        multiprocess: spec.multiprocess,
        run_once: spec.threads == 1 && spec.maximum_requests == 1,
    }
}

/// An application of the main interpreter a request thread has loaded.
struct LoadedApp {
    script: Bytes,
    callable: Bytes,
    /// The script file's mtime when a request checked it (embedded mode's
    /// script reloading, `ScriptCheck`).
    mtime: Option<i64>,
    app: Py<PyAny>,
}

/// What a request thread keeps between requests.
struct ThreadLocal {
    /// Loaded applications of the main interpreter.
    apps: Vec<LoadedApp>,
    cache: EnvironCache,
    /// This thread's states in the sub-interpreters it served requests in.
    subs: ThreadStates,
}

/// A request a thread took: its connection and what was read of it.
struct Picked {
    conn: Conn,
    reader: FrameReader,
    writer: Writer,
    head: RequestHead,
}

/// The next request for this (idle) thread; `None` at shutdown. Parks
/// `kept`, the previous request's connection, first.
///
/// (In daemon mode, taking ready work before releasing the GIL, to save
/// the hand-off to the thread epoll woke, was measured: no gain in
/// requests/s, a worse p99; docs/benchmarks.md. Embedded mode's inbox
/// does it: `next_request_ready`.)
fn next_request(shared: &Shared, kept: Option<Conn>) -> Option<Picked> {
    if let Some(conn) = kept {
        shared.park(conn);
    }
    loop {
        let (conn, fresh) = match &shared.inbox {
            Some(inbox) => (inbox.next(&shared.shutdown)?, false),
            None => next_conn(shared)?,
        };
        if let Some(picked) = read_head(shared, conn, fresh) {
            return Some(picked);
        }
    }
}

/// Embedded mode: the next request if one already waits in the inbox,
/// taken while the thread still holds the GIL (no sleep, no wake-up, no
/// GIL hand-off between two requests). The event loop writes a request's
/// whole `Head` into its pipe before it submits it, so reading it here
/// never waits.
fn next_request_ready(shared: &Shared) -> Option<Picked> {
    let conn = shared.inbox.as_ref()?.try_next(&shared.shutdown)?;
    read_head(shared, conn, false)
}

/// Reads the `Head` frame a connection starts with; `None` (logged when
/// it is a protocol error) when it has none.
fn read_head(shared: &Shared, mut conn: Conn, fresh: bool) -> Option<Picked> {
    let timeout = shared.socket_timeout();
    let mut reader = FrameReader::new(&mut conn, timeout);
    match reader.next() {
        Ok(Some(Frame::Head(head))) => {
            let writer = Writer::new(&conn, timeout, fresh.then_some(shared.pid));
            Some(Picked {
                conn,
                reader,
                writer,
                head,
            })
        }
        // The front end closed a connection it kept.
        Ok(None) => None,
        Err(e) if !fresh && e.kind() == std::io::ErrorKind::ConnectionReset => None,
        Ok(Some(f)) => {
            shared.log.error(&format!(
                "protocol error from the front end: {} frame before Head",
                f.name()
            ));
            None
        }
        Err(e) => {
            shared.log.error(&format!(
                "protocol error from the front end (speaking version {VERSION}): {e}"
            ));
            None
        }
    }
}

fn worker(shared: &Arc<Shared>, support: &Py<PyModule>, index: usize) {
    Python::attach(|py| {
        let support = support.bind(py);
        let ident: u64 = py
            .import("threading")
            .and_then(|t| t.getattr("get_ident")?.call0()?.extract())
            .unwrap_or(0);
        lock(&shared.slots[index]).ident = ident;
        let timeout_exc = match support.getattr("RequestTimeout") {
            Ok(e) => e,
            Err(e) => {
                shared.log.error(&format!("support module is broken: {e}"));
                return;
            }
        };
        let process = process_facts(&shared.spec);
        let log_shared = shared.clone();
        let errors: bridge::ErrorSink =
            Arc::new(move |line: &str| log_shared.log.log(Level::Error, "wsgi", line));
        let cache = match EnvironCache::new(py, &process, errors) {
            Ok(c) => c,
            Err(e) => {
                shared
                    .log
                    .error(&format!("cannot prepare the WSGI environ: {e}"));
                return;
            }
        };
        let mut local = ThreadLocal {
            apps: Vec::new(),
            cache,
            subs: ThreadStates::default(),
        };
        let mut kept = None;
        loop {
            // A thread waits too long for the GIL: let it go first
            // (crate::turns).
            let ready = match kept {
                None if !shared.turns.overdue() => next_request_ready(shared),
                _ => None,
            };
            let picked = match ready {
                Some(p) => Some(p),
                None => {
                    let s = shared.clone();
                    let p = py.detach(move || {
                        let p = next_request(&s, kept);
                        if p.is_some() {
                            s.turns.give_way();
                            s.turns.enter();
                        }
                        p
                    });
                    if p.is_some() {
                        shared.turns.entered();
                    }
                    p
                }
            };
            let Some(picked) = picked else {
                break;
            };
            kept = handle(py, shared, support, &timeout_exc, index, picked, &mut local);
            let done = shared.total_requests.fetch_add(1, Ordering::SeqCst) + 1;
            let max = shared.spec.maximum_requests;
            if max > 0 && done >= u64::from(max) {
                shared.log.info(&format!(
                    "Maximum requests reached, triggering shutdown of process '{}'.",
                    shared.group()
                ));
                shared.request_shutdown("maximum_requests");
                break;
            }
        }
    });
}

fn handle(
    py: Python<'_>,
    shared: &Arc<Shared>,
    support: &Bound<'_, PyModule>,
    timeout_exc: &Bound<'_, PyAny>,
    index: usize,
    picked: Picked,
    local: &mut ThreadLocal,
) -> Option<Conn> {
    let ThreadLocal { apps, cache, subs } = local;
    let daemon_start_us = epoch_us();
    let Picked {
        mut conn,
        reader,
        writer,
        head,
    } = picked;
    if shared.shutdown.load(Ordering::SeqCst) {
        py.detach(|| writer.finish(&Frame::Reject));
        return None;
    }
    let queue_timeout = u64::from(shared.spec.queue_timeout) * 1_000_000;
    if queue_timeout > 0 {
        let start = request_start(&head).unwrap_or(daemon_start_us);
        if daemon_start_us.saturating_sub(start) > queue_timeout {
            shared.log.warn(&format!(
                "Queue timeout expired for WSGI daemon process '{}'.",
                shared.group()
            ));
            py.detach(|| {
                writer.finish(&Frame::Fail {
                    status: 504,
                    message: "queue-timeout expired".into(),
                })
            });
            return None;
        }
    }
    if head.has_body {
        let w = writer.clone();
        let sent =
            writer.queue(&Frame::Continue).is_ok() && py.detach(move || w.flush_blocking()).is_ok();
        if !sent {
            writer.close();
            return None;
        }
    }
    // The response may leave the connection open for the next request
    // when this process goes on serving and the body was read to its end.
    let max = u64::from(shared.spec.maximum_requests);
    let last = max > 0 && shared.total_requests.load(Ordering::SeqCst) + 1 >= max;

    let script_raw = head.get("SCRIPT_FILENAME").unwrap_or_default();
    let script = latin1(script_raw);
    let callable_raw = head
        .get("mod_wsgi.callable_object")
        .filter(|c| !c.is_empty())
        .unwrap_or(b"application");
    let log_request = |msg: &str| {
        let remote = format!(
            "{}:{}",
            head.get("REMOTE_ADDR").map(latin1).unwrap_or_default(),
            head.get("REMOTE_PORT").map(latin1).unwrap_or_default()
        );
        let tagged: String = msg
            .lines()
            .map(|l| format!("[remote {remote}] {l}\n"))
            .collect();
        shared.log.error(tagged.trim_end());
    };

    // The interpreter: `""` (%{GLOBAL}) is the main one.
    let app_group = head.get("mod_wsgi.application_group").unwrap_or_default();
    {
        let mut slot = lock(&shared.slots[index]);
        slot.busy_since = Some(Instant::now());
        slot.interrupted_at = None;
        slot.writer = Some(writer.clone());
        slot.app_group.clear();
        slot.app_group.push_str(&latin1(app_group));
    }
    shared.active.fetch_add(1, Ordering::SeqCst);
    if let Some((board, claim)) = &shared.busy_board {
        board.enter(*claim);
    }
    shared.last_activity_ms.store(shared.ms(), Ordering::SeqCst);

    let check = script_check(shared, &head, &script);
    let mut kept_reader = None;
    let outcome = if !app_group.is_empty() {
        let body = Arc::new(Mutex::new(Body::new(reader, head.has_body)));
        let outcome = serve_in_sub(
            py,
            shared,
            subs,
            &latin1(app_group),
            &SubRequest {
                head: &head,
                script: &script,
                callable: &latin1(callable_raw),
                check,
                facts: &request_facts(shared, index, daemon_start_us),
                script_start_us: epoch_us(),
                writer: &writer,
                body: body.clone(),
                log: &log_request,
                keep: &keep_when(shared, last, head.close, &body),
            },
        );
        kept_reader = lock(&body).close();
        outcome
    } else {
        let known = apps
            .iter()
            .position(|a| a.script == script_raw && a.callable == callable_raw);
        let cached = known
            .filter(|&i| check.accepts(apps[i].mtime))
            .map(|i| apps[i].app.clone_ref(py));
        let was_cached = cached.is_some();
        let app = match cached {
            Some(a) => Ok(a),
            None => {
                let (check, mtime) = check.args();
                support
                    .call_method1(
                        "get_application",
                        (script.as_ref(), latin1(callable_raw).as_ref(), check, mtime),
                    )
                    .map(|a| a.unbind())
            }
        };
        match app {
            Ok(app) => {
                shared.first_load_failure_ms.store(0, Ordering::SeqCst);
                if !was_cached {
                    let loaded = LoadedApp {
                        script: Bytes::copy_from_slice(script_raw),
                        callable: Bytes::copy_from_slice(callable_raw),
                        mtime: check.args().1,
                        app: app.clone_ref(py),
                    };
                    match known {
                        Some(i) => apps[i] = loaded,
                        None => apps.push(loaded),
                    }
                }
                let body = Arc::new(Mutex::new(Body::new(reader, head.has_body)));
                let keep = keep_when(shared, last, head.close, &body);
                let input = Input::from_body(body.clone());
                let facts = request_facts(shared, index, daemon_start_us);
                let outcome = match bridge::environ(py, cache, &head, input, &facts) {
                    Ok(environ) => {
                        let _ = bridge::stamp_script_start(py, cache, &environ, epoch_us());
                        bridge::run(
                            py,
                            support,
                            app.bind(py),
                            &environ,
                            &writer,
                            timeout_exc,
                            &script,
                            &log_request,
                            &keep,
                        )
                    }
                    Err(e) => {
                        log_request(&format!("cannot build the WSGI environ: {e}"));
                        let message = e.to_string();
                        py.detach(|| {
                            writer.finish(&Frame::Fail {
                                status: 500,
                                message,
                            })
                        });
                        Outcome::Failed
                    }
                };
                kept_reader = lock(&body).close();
                outcome
            }
            Err(e) => {
                // (A script that failed to load again is not kept.)
                if let Some(i) = known {
                    apps.swap_remove(i);
                }
                let now = shared.ms();
                let _ = shared.first_load_failure_ms.compare_exchange(
                    0,
                    now,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                let lookup = e.is_instance_of::<pyo3::exceptions::PyLookupError>(py);
                if lookup {
                    log_request(&e.value(py).to_string());
                } else {
                    log_request(&format!(
                        "Failed to exec Python script file '{script}'.\n{}",
                        format_exception(py, support, &e)
                    ));
                }
                py.detach(|| {
                    writer.finish(&Frame::Fail {
                        status: 500,
                        message: "the WSGI script could not be loaded".into(),
                    })
                });
                Outcome::Failed
            }
        }
    };
    if outcome == Outcome::ClientGone {
        shared.log.debug("Client closed connection.");
    }
    // A pending interrupt that arrived after the app returned must not hit
    // the next request: clear it under the GIL.
    let interrupted = {
        let mut slot = lock(&shared.slots[index]);
        slot.busy_since = None;
        slot.writer = None;
        slot.requests += 1;
        slot.interrupted_at.take().is_some()
    };
    if interrupted && outcome != Outcome::TimedOut {
        if app_group.is_empty() {
            clear_async_exc(py);
        } else if let Ok(e) = subs.enter(py, &shared.interps, &latin1(app_group), false) {
            e.clear_async_exc();
        }
    }
    shared.active.fetch_sub(1, Ordering::SeqCst);
    if let Some((board, claim)) = &shared.busy_board {
        let end_us = epoch_us();
        let arrived = request_start(&head).unwrap_or(daemon_start_us);
        board.record(
            *claim,
            &Sample {
                status: writer.status(),
                queue_us: daemon_start_us.saturating_sub(arrived),
                app_us: end_us.saturating_sub(daemon_start_us),
                server_us: end_us.saturating_sub(arrived),
            },
        );
        board.leave(*claim);
    }
    shared.last_activity_ms.store(shared.ms(), Ordering::SeqCst);
    if outcome == (Outcome::Completed { kept: true }) {
        if let (Some(reader), Some(_)) = (kept_reader, writer.take_for_reuse()) {
            conn.buf = reader.into_buf();
            return Some(conn);
        }
    }
    // Whatever did not end the response properly ends it now. A response
    // that ended and closed its connection (embedded mode's, or one not
    // kept) has nothing left: no GIL hand-off for it.
    if writer.is_open() {
        py.detach(|| writer.finish(&Frame::Abort("request ended".into())));
    }
    None
}

/// Embedded mode: Python in this process (a front-end child) and
/// `spec.threads` request threads taking their requests from `inbox`,
/// with the daemon's request handling (`handle`). No listening socket,
/// no signals, no monitor: the front-end child owns the process, and
/// ends Python with [`Embedded::exit`].
pub(crate) fn start_embedded(
    spec: DaemonSpec,
    log: ErrorLog,
    inbox: Arc<crate::embed::Inbox>,
) -> Result<Embedded, String> {
    crate::interp::initialize(&spec.python).map_err(|e| {
        format!(
            "Python could not be initialised for embedded mode from {}: {e}",
            spec.python.executable
        )
    })?;
    let wake = nix::unistd::pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
        .map_err(|e| format!("cannot create an epoll set: {e}"))?;
    let threads = spec.threads.max(1) as usize;
    let shared = new_shared(spec, log, wake, epoll, None, Some(inbox));
    // (This thread's states in the sub-interpreters that preloading
    // creates; this thread runs no Python after it.)
    let mut states = ThreadStates::default();
    let support = Python::attach(|py| setup_python(py, &shared, &mut states))
        .map_err(|e| format!("Quill's Python support failed to load: {e}"))?;
    let mut workers = Vec::with_capacity(threads);
    for i in 0..threads {
        let s = shared.clone();
        let sup = Python::attach(|py| support.clone_ref(py));
        let w = std::thread::Builder::new()
            .name(format!("quill-python-{}", i + 1))
            .spawn(move || worker(&s, &sup, i))
            .map_err(|e| format!("cannot start request thread: {e}"))?;
        workers.push(w);
    }
    Ok(Embedded {
        shared,
        support,
        workers: Mutex::new(workers),
        exiting: AtomicBool::new(false),
    })
}

/// Embedded mode's Python in this front-end child, once started.
#[derive(Debug)]
pub(crate) struct Embedded {
    shared: Arc<Shared>,
    support: Py<PyModule>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    exiting: AtomicBool,
}

impl Embedded {
    /// Ends Python as a daemon process's shutdown does, for a child that
    /// exits: no request thread takes another request; with `drain`, the
    /// requests in progress finish first; then the `atexit` functions of
    /// the main interpreter and of each sub-interpreter run. All of it
    /// within `shutdown_timeout` seconds of the spec (embedded mode's
    /// bound, `EMBEDDED_SHUTDOWN_TIMEOUT_S` in quill-server's
    /// configure.rs): past them, the process logs it and exits at once,
    /// whatever still runs. Runs once; a second call returns at once.
    pub(crate) fn exit(&self, drain: bool) {
        if self.exiting.swap(true, Ordering::SeqCst) {
            return;
        }
        let shared = &self.shared;
        shared.shutdown.store(true, Ordering::SeqCst);
        if let Some(inbox) = &shared.inbox {
            inbox.wake_all();
        }
        let bound = Duration::from_secs(u64::from(shared.spec.shutdown_timeout));
        if !bound.is_zero() {
            let s = shared.clone();
            let _ = std::thread::Builder::new()
                .name("quill-reaper".into())
                .spawn(move || {
                    std::thread::sleep(bound);
                    s.log.warn(&format!(
                        "Aborting process: its requests and atexit functions did not finish within {} seconds of its exit.",
                        bound.as_secs()
                    ));
                    hard_exit(1);
                });
        }
        if drain {
            for w in std::mem::take(&mut *lock(&self.workers)) {
                let _ = w.join();
            }
        }
        // This thread's states in the sub-interpreters, made as needed.
        let mut states = ThreadStates::default();
        Python::attach(|py| run_exit_functions(py, shared, self.support.bind(py), &mut states));
        let _ = std::io::stderr().flush();
    }
}

/// Whether this request checks its script for changes (`ScriptCheck`).
/// Embedded mode only, with `WSGIScriptReloading On` (the request's
/// `mod_wsgi.script_reloading`): a changed script is imported again in
/// place, as mod_wsgi's embedded mode does. A daemon process never
/// reloads in place: its supervisor replaces the group's processes when a
/// script changes.
fn script_check(shared: &Shared, head: &RequestHead, script: &str) -> ScriptCheck {
    if shared.inbox.is_some() && head.get("mod_wsgi.script_reloading") == Some(b"1".as_slice()) {
        ScriptCheck::Mtime(shared.scripts.mtime(script, Instant::now()))
    } else {
        ScriptCheck::Off
    }
}

/// How often a process of embedded mode stats a script whose requests
/// check it: at most once a second per script, as the supervisor checks
/// daemon mode's scripts. mod_wsgi stats it on every request; here that
/// cost a few percent of a small request (docs/embedded.md, "Script
/// reloading").
const SCRIPT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The mtimes of the scripts this process checks, each with when it was
/// taken (embedded mode's script reloading).
#[derive(Debug, Default)]
struct ScriptMtimes(Mutex<HashMap<String, (Instant, Option<i64>)>>);

impl ScriptMtimes {
    /// The mtime of the script at `path` (`bridge::script_mtime`), stat'ed
    /// again when the last look is [`SCRIPT_CHECK_INTERVAL`] old.
    fn mtime(&self, path: &str, now: Instant) -> Option<i64> {
        let mut seen = lock(&self.0);
        if let Some(&(at, mtime)) = seen.get(path) {
            if now.saturating_duration_since(at) < SCRIPT_CHECK_INTERVAL {
                return mtime;
            }
        }
        let mtime = bridge::script_mtime(path);
        seen.insert(path.to_string(), (now, mtime));
        mtime
    }
}

/// When the front end received the request (µs since the epoch), as it
/// tells mod_wsgi's `mod_wsgi.request_start`.
fn request_start(head: &RequestHead) -> Option<u64> {
    head.get("mod_wsgi.request_start")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
}

fn clear_async_exc(py: Python<'_>) {
    // Run a little bytecode so a pending async exception fires here, then
    // swallow it.
    let _ = py.run(c"pass", None, None);
    let _ = PyErr::take(py);
}

/// Latin-1 bytes as text; ASCII (the usual case) is borrowed.
fn latin1(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) if b.is_ascii() => std::borrow::Cow::Borrowed(s),
        _ => std::borrow::Cow::Owned(b.iter().map(|&c| char::from(c)).collect()),
    }
}

/// The per-request facts the environ reports.
fn request_facts(shared: &Shared, index: usize, daemon_start_us: u64) -> RequestFacts {
    RequestFacts {
        thread_id: u32::try_from(index + 1).unwrap_or(u32::MAX),
        thread_requests: lock(&shared.slots[index]).requests,
        total_requests: shared.total_requests.load(Ordering::SeqCst),
        daemon_start_us,
    }
}

/// Whether the connection may carry another request once the response
/// ends: this process goes on serving, the client did not ask to close,
/// and the request body was read to its end.
fn keep_when<'a>(
    shared: &'a Shared,
    last: bool,
    close: bool,
    body: &Arc<Mutex<Body>>,
) -> impl Fn() -> bool + 'a {
    let body = body.clone();
    move || {
        !last
            && !close
            && !shared.shutdown.load(Ordering::SeqCst)
            && !shared.retiring.load(Ordering::SeqCst)
            && lock(&body).ended()
    }
}

/// Serves a request of application group `group` in its sub-interpreter
/// (crate::subinterp), created on first use.
fn serve_in_sub(
    py: Python<'_>,
    shared: &Shared,
    states: &mut ThreadStates,
    group: &str,
    req: &SubRequest<'_>,
) -> Outcome {
    let served = states
        .enter(py, &shared.interps, group, true)
        .map(|e: Entered<'_>| e.serve(req));
    match served {
        Ok(Served {
            outcome,
            load_failed,
        }) => {
            if load_failed {
                let now = shared.ms();
                let _ = shared.first_load_failure_ms.compare_exchange(
                    0,
                    now,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
            } else {
                shared.first_load_failure_ms.store(0, Ordering::SeqCst);
            }
            outcome
        }
        Err(e) => {
            (req.log)(&format!(
                "Python interpreter '{group}' is not available: {e}"
            ));
            py.detach(|| {
                req.writer.finish(&Frame::Fail {
                    status: 500,
                    message: "the application group's interpreter is not available".into(),
                })
            });
            Outcome::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A script is stat'ed again only once its last look is a second old:
    /// a change is seen by the first check after that.
    #[test]
    fn script_mtimes_are_taken_at_most_once_a_second() {
        let dir = std::env::temp_dir().join(format!("quill-mtimes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.wsgi");
        let set = |secs: u64| {
            std::fs::write(&path, b"").unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
                .unwrap();
        };
        let p = path.to_str().unwrap();
        let seen = ScriptMtimes::default();
        let t0 = Instant::now();
        set(1_000);
        assert_eq!(seen.mtime(p, t0), Some(1_000_000_000));
        set(2_000);
        let soon = t0 + Duration::from_millis(999);
        assert_eq!(
            seen.mtime(p, soon),
            Some(1_000_000_000),
            "not looked at again"
        );
        assert_eq!(
            seen.mtime(p, t0 + SCRIPT_CHECK_INTERVAL),
            Some(2_000_000_000)
        );
        std::fs::remove_file(&path).unwrap();
        let later = t0 + 2 * SCRIPT_CHECK_INTERVAL;
        assert_eq!(seen.mtime(p, later), None, "gone");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
