//! Embedded mode (mod_wsgi's `WSGIProcessGroup %{GLOBAL}` with no daemon):
//! Python inside a front-end child, whose request threads run the
//! application as a daemon process's do, the same `handle` and bridge,
//! but take each request from the child's event loop through an
//! in-memory pipe (`quill_protocol::pipe`) instead of a socket.
//!
//! ```text
//!  event loop ── submit(AppHalf with the Head in it) ──▶ Inbox ──▶ idle request thread
//!             ◀── ResponseHead, ResponseBody…, ResponseEnd ─────── (GIL held only in Python)
//! ```

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use quill_protocol::log::ErrorLog;
use quill_protocol::pipe::AppHalf;
use quill_protocol::spec::DaemonSpec;

use crate::conn::Conn;
use crate::link::Link;

/// Requests waiting for a request thread, first come, first served.
#[derive(Debug, Default)]
pub struct Inbox {
    state: Mutex<Waiting>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct Waiting {
    queue: VecDeque<AppHalf>,
    /// Threads waiting on `ready` (no wake-up call when none waits).
    idle: usize,
    /// A waiting thread was signalled and has not yet come back: at most
    /// one wake-up is under way at a time. The woken thread wakes the next
    /// if requests are still queued, and a thread that finishes a request
    /// takes a queued one before it sleeps, so a burst of requests does
    /// not wake every idle thread at once only for them to queue on the
    /// GIL.
    waking: bool,
}

impl Waiting {
    /// Whether to signal one waiting thread: requests wait and no wake-up
    /// is already under way (then it is, from now).
    fn take_wake(&mut self) -> bool {
        let wake = !self.queue.is_empty() && self.idle > 0 && !self.waking;
        self.waking |= wake;
        wake
    }
}

impl Inbox {
    /// Lets go of the lock, then signals a waiting thread if `wake`
    /// (signalled under the lock, it would wait for the lock at once).
    fn unlock_and_wake(&self, st: MutexGuard<'_, Waiting>, wake: bool) {
        drop(st);
        if wake {
            self.ready.notify_one();
        }
    }

    fn push(&self, link: AppHalf) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.queue.push_back(link);
        let wake = st.take_wake();
        self.unlock_and_wake(st, wake);
    }

    /// A request already waiting, without blocking; `None` when none
    /// waits or once `shutdown` is set. A thread that has just finished a
    /// request takes the next one this way before it releases the GIL.
    pub(crate) fn try_next(&self, shutdown: &AtomicBool) -> Option<Conn> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if shutdown.load(Ordering::SeqCst) {
            return None;
        }
        let link = st.queue.pop_front()?;
        let wake = st.take_wake();
        self.unlock_and_wake(st, wake);
        Some(Conn::over(Link::Memory(link)))
    }

    /// Wakes every waiting thread, to see that `shutdown` is set (set it
    /// first).
    pub(crate) fn wake_all(&self) {
        // Under the lock: a thread between its look at `shutdown` and its
        // wait cannot miss this.
        let _st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.ready.notify_all();
    }

    /// The next request's connection; `None` once `shutdown` is set.
    /// Call without the GIL.
    pub(crate) fn next(&self, shutdown: &AtomicBool) -> Option<Conn> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if shutdown.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(link) = st.queue.pop_front() {
                let wake = st.take_wake();
                self.unlock_and_wake(st, wake);
                return Some(Conn::over(Link::Memory(link)));
            }
            st.idle += 1;
            st = self.ready.wait(st).unwrap_or_else(|p| p.into_inner());
            st.idle -= 1;
            st.waking = false;
        }
    }
}

/// Python and its request threads in this process, for the front end.
#[derive(Debug, Clone)]
pub struct Engine {
    inbox: Arc<Inbox>,
    python: Arc<crate::daemon::Embedded>,
}

impl Engine {
    /// Initialises Python as `spec` says (interpreter, `python-path`,
    /// preloaded scripts) and starts `spec.threads` request threads.
    pub fn start(spec: DaemonSpec, log: ErrorLog) -> Result<Engine, String> {
        let inbox = Arc::new(Inbox::default());
        let python = crate::daemon::start_embedded(spec, log, inbox.clone())?;
        Ok(Engine {
            inbox,
            python: Arc::new(python),
        })
    }

    /// Ends Python before the process exits: no request thread takes
    /// another request; with `drain`, the requests in progress finish
    /// first; then the `atexit` functions of every interpreter run, the
    /// main one's first. Bounded by the spec's `shutdown_timeout`: past
    /// it, the process logs it and exits at once. Runs once.
    pub fn exit(&self, drain: bool) {
        self.python.exit(drain);
    }

    /// Queues a request for the request threads, first come, first
    /// served: `link` holds its whole `Head` frame, and the thread that
    /// takes it answers on it.
    pub fn submit(&self, link: AppHalf) {
        self.inbox.push(link);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Three threads wait; three requests come at once, and each thread
    /// keeps its request (as an application blocked in I/O would). With
    /// one wake-up under way at a time, every request must still reach a
    /// thread: each woken thread wakes the next.
    #[test]
    fn a_burst_reaches_every_waiting_thread() {
        let inbox = Arc::new(Inbox::default());
        let shutdown = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        for _ in 0..3 {
            let (inbox, shutdown, tx) = (inbox.clone(), shutdown.clone(), tx.clone());
            threads.push(std::thread::spawn(move || {
                let conn = inbox.next(&shutdown);
                let _ = tx.send(conn.is_some());
                conn
            }));
        }
        // Let the three go to sleep first (otherwise they find the
        // requests already queued, which proves less).
        while inbox.state.lock().unwrap().idle < 3 {
            std::thread::yield_now();
        }
        let mut fronts = Vec::new();
        for _ in 0..3 {
            let (front, app) = quill_protocol::pipe::pair();
            fronts.push(front);
            inbox.push(app);
        }
        for _ in 0..3 {
            assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(true));
        }
        for t in threads {
            assert!(t.join().unwrap().is_some());
        }
        assert!(inbox.state.lock().unwrap().queue.is_empty());
    }

    #[test]
    fn try_next_takes_only_what_waits() {
        let inbox = Inbox::default();
        let shutdown = AtomicBool::new(false);
        assert!(inbox.try_next(&shutdown).is_none());
        let (_front, app) = quill_protocol::pipe::pair();
        inbox.push(app);
        assert!(inbox.try_next(&shutdown).is_some());
        assert!(inbox.try_next(&shutdown).is_none());
        let (_front, app) = quill_protocol::pipe::pair();
        inbox.push(app);
        shutdown.store(true, Ordering::SeqCst);
        assert!(inbox.try_next(&shutdown).is_none());
    }
}
