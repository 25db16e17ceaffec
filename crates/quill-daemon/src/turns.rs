//! Request threads take turns at the GIL between requests.
//!
//! CPython gives the GIL to a waiting thread when the holder lets go of
//! it, or, once the waiter has waited a whole switch interval (5 ms unless
//! the application changes it) without the GIL changing hands, by making
//! the holder drop it at its next bytecode boundary, wherever that is. A
//! request thread that finishes a request and starts the next lets go of
//! the GIL only for a moment, and can take it back before the thread that
//! was signalled gets a CPU; a few requests later the waiter forces the
//! drop, wherever the holder is, possibly inside a section the
//! application guards with a `threading` lock (Django goes through
//! asgiref's `Local`, which takes one on every attribute access). Every
//! other request thread then blocks on that lock in turn: in
//! bench/servers' Django scenario, 18–40 futex calls per request in the
//! daemon processes instead of about 5 (docs/benchmarks.md, "Django's
//! lock convoys").
//!
//! So a thread about to start a request first lets a thread that has been
//! waiting for the GIL longer than [`OVERDUE_US`] have it: it sleeps until
//! one of the waiting threads got the GIL, for at most [`GIVE_WAY_BOUND`].
//! Only request threads that wait to start a request are counted; threads
//! waiting inside an application are CPython's business.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a thread may wait to start a request before the next thread
/// that could take the GIL first gives way: a fifth of CPython's default
/// switch interval.
pub(crate) const OVERDUE_US: u64 = 1_000;

/// The longest a thread gives way (a waiting thread that does not get the
/// GIL by then may be waiting for something else).
pub(crate) const GIVE_WAY_BOUND: Duration = Duration::from_millis(1);

/// The request threads of one process waiting for the GIL to start a
/// request.
#[derive(Debug)]
pub(crate) struct GilTurns {
    base: Instant,
    waiting: AtomicUsize,
    /// How many waiting threads got the GIL, ever.
    served: AtomicU64,
    /// Microseconds after `base` when a waiting thread last got the GIL,
    /// or when one began to wait while none did.
    progress_us: AtomicU64,
    /// Threads giving way, asleep on `served_cv` until `served` moves.
    giving_way: AtomicUsize,
    served_lock: Mutex<()>,
    served_cv: Condvar,
}

impl Default for GilTurns {
    fn default() -> Self {
        GilTurns {
            base: Instant::now(),
            waiting: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            progress_us: AtomicU64::new(0),
            giving_way: AtomicUsize::new(0),
            served_lock: Mutex::new(()),
            served_cv: Condvar::new(),
        }
    }
}

impl GilTurns {
    fn now_us(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Whether a thread has waited to start a request for longer than
    /// [`OVERDUE_US`] without any of the waiting threads getting the GIL.
    pub(crate) fn overdue(&self) -> bool {
        self.overdue_at(self.now_us())
    }

    fn overdue_at(&self, now_us: u64) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
            && now_us.saturating_sub(self.progress_us.load(Ordering::SeqCst)) >= OVERDUE_US
    }

    /// Called without the GIL by a thread about to take it to start a
    /// request: when another has been waiting too long, sleeps until one
    /// of the waiting threads got it (at most [`GIVE_WAY_BOUND`]).
    pub(crate) fn give_way(&self) {
        if !self.overdue() {
            return;
        }
        let seen = self.served.load(Ordering::SeqCst);
        let deadline = Instant::now() + GIVE_WAY_BOUND;
        self.giving_way.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.served_lock.lock().unwrap_or_else(|p| p.into_inner());
        while self.none_served_since(seen) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            guard = match self.served_cv.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        drop(guard);
        self.giving_way.fetch_sub(1, Ordering::SeqCst);
    }

    /// True while threads wait and none of them got the GIL since
    /// `served` was `seen`.
    fn none_served_since(&self, seen: u64) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0 && self.served.load(Ordering::SeqCst) == seen
    }

    /// This thread is about to wait for the GIL to start a request; call
    /// [`GilTurns::entered`] once it holds it.
    pub(crate) fn enter(&self) {
        self.enter_at(self.now_us());
    }

    fn enter_at(&self, now_us: u64) {
        if self.waiting.fetch_add(1, Ordering::SeqCst) == 0 {
            self.progress_us.store(now_us, Ordering::SeqCst);
        }
    }

    /// A thread that [`GilTurns::enter`]ed holds the GIL.
    pub(crate) fn entered(&self) {
        self.entered_at(self.now_us());
    }

    fn entered_at(&self, now_us: u64) {
        self.progress_us.store(now_us, Ordering::SeqCst);
        self.served.fetch_add(1, Ordering::SeqCst);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if self.giving_way.load(Ordering::SeqCst) > 0 {
            // Under the lock: a thread between its look at `served` and its
            // sleep cannot miss this.
            let _guard = self.served_lock.lock().unwrap_or_else(|p| p.into_inner());
            self.served_cv.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_is_overdue_when_nobody_waits() {
        let t = GilTurns::default();
        assert!(!t.overdue_at(0));
        assert!(!t.overdue_at(1_000_000));
    }

    #[test]
    fn a_waiter_is_overdue_after_the_threshold_until_one_is_served() {
        let t = GilTurns::default();
        t.enter_at(10_000);
        assert!(!t.overdue_at(10_000 + OVERDUE_US - 1));
        assert!(t.overdue_at(10_000 + OVERDUE_US));
        // A second waiter does not restart the clock.
        t.enter_at(10_500);
        assert!(t.overdue_at(10_000 + OVERDUE_US));
        // One of them got the GIL: the other's clock starts again.
        t.entered_at(11_200);
        assert!(!t.overdue_at(11_200 + OVERDUE_US - 1));
        assert!(t.overdue_at(11_200 + OVERDUE_US));
        t.entered_at(11_300);
        assert!(!t.overdue_at(1_000_000));
    }

    #[test]
    fn giving_way_lasts_until_a_waiter_is_served_or_none_waits() {
        let t = GilTurns::default();
        t.enter_at(0);
        t.enter_at(0);
        let seen = t.served.load(Ordering::SeqCst);
        assert!(t.none_served_since(seen));
        t.entered_at(10);
        assert!(!t.none_served_since(seen));
        let seen = t.served.load(Ordering::SeqCst);
        assert!(t.none_served_since(seen));
        t.entered_at(20);
        // Nobody waits any more.
        assert!(!t.none_served_since(t.served.load(Ordering::SeqCst)));
    }
}
