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
use std::sync::{Arc, Condvar, Mutex};

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
}

impl Inbox {
    fn push(&self, link: AppHalf) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.queue.push_back(link);
        if st.idle > 0 {
            self.ready.notify_one();
        }
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
                return Some(Conn::over(Link::Memory(link)));
            }
            st.idle += 1;
            st = self.ready.wait(st).unwrap_or_else(|p| p.into_inner());
            st.idle -= 1;
        }
    }
}

/// Python and its request threads in this process, for the front end.
#[derive(Debug, Clone)]
pub struct Engine {
    inbox: Arc<Inbox>,
}

impl Engine {
    /// Initialises Python as `spec` says (interpreter, `python-path`,
    /// preloaded scripts) and starts `spec.threads` request threads.
    pub fn start(spec: DaemonSpec, log: ErrorLog) -> Result<Engine, String> {
        let inbox = Arc::new(Inbox::default());
        crate::daemon::start_embedded(spec, log, inbox.clone())?;
        Ok(Engine { inbox })
    }

    /// Hands a request to the next idle request thread: `link` holds its
    /// `Head` frame, and the thread answers on it.
    pub fn submit(&self, link: AppHalf) {
        self.inbox.push(link);
    }
}
