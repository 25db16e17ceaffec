//! A front-end child's worker slots: its `ThreadsPerChild` rows of the
//! shared scoreboard, and what holds one, per MPM as httpd does.
//!
//! ```text
//!   prefork  one slot per process        a connection holds it for its life
//!   worker   ThreadsPerChild slots       a connection holds one for its life,
//!                                        keep-alive waits included (K)
//!   event    ThreadsPerChild slots       only a request in progress holds one;
//!                                        kept-alive connections wait without
//!                                        one, up to the AsyncRequestWorkerFactor
//!                                        limit (the child stops accepting above it)
//! ```
//!
//! In every MPM the slot is taken before the accept: httpd's event listener
//! too waits for an idle worker, accepts, and hands the new connection to
//! it for its first request. A child whose slots are all busy leaves new
//! connections in the listen queue, where other children (or the ones the
//! parent forks because idle workers ran short) take them.
//!
//! A slot is an async permit, not an OS thread: the front end's I/O is
//! asynchronous, and what httpd's MPMs bound with threads (how much one
//! child takes on, and what the parent counts as idle) Quill bounds with
//! these slots, whose states the scoreboard shows as httpd's would.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quill_mpm::{Mpm, ThreadStatus};
use tokio::sync::{Notify, oneshot};

use crate::scoreboard::Scoreboard;

/// How often a child that took over a stopping child's scoreboard row looks
/// for thread slots the old child has released (they are released by
/// another process, which cannot wake this one).
const TAKEOVER_POLL: Duration = Duration::from_millis(100);

/// The worker slots of one front-end child.
#[derive(Debug)]
pub struct Workers {
    mpm: Mpm,
    sb: Arc<Scoreboard>,
    slot: u32,
    /// Thread slots this child owns and that are idle (READY), most
    /// recently used last.
    idle: Mutex<Vec<u32>>,
    /// Thread slots (< ThreadsPerChild) this child has not claimed yet
    /// because a stopping child still held them when this one started.
    unclaimed: Mutex<Vec<u32>>,
    /// Requests waiting for a slot, oldest first: a slot that is released
    /// goes straight to the oldest, so none waits behind later arrivals
    /// (httpd's worker queue is first come, first served too). Locked
    /// before `idle` wherever both are.
    waiters: Mutex<VecDeque<oneshot::Sender<Worker>>>,
    /// Wakes the event listener when a slot turns idle or the child stops.
    released: Notify,
    stopping: AtomicBool,
    threads_per_child: u32,
    async_factor: u32,
    /// Open connections.
    connections: AtomicU32,
    /// Requests in progress (the rest of the connections wait in
    /// keep-alive).
    requests: AtomicU32,
    /// (event) What the scoreboard says: the child stopped accepting.
    not_accepting: AtomicBool,
}

impl Workers {
    /// Claims this child's thread slots in scoreboard row `slot`: every
    /// free one below `threads_per_child` at once, the rest as a stopping
    /// child that shares the row releases them.
    pub fn new(
        mpm: Mpm,
        sb: Arc<Scoreboard>,
        slot: u32,
        threads_per_child: u32,
        async_factor: u32,
    ) -> Arc<Workers> {
        let threads_per_child = threads_per_child.min(sb.thread_limit()).max(1);
        let mut idle = Vec::new();
        let mut unclaimed = Vec::new();
        for t in (0..threads_per_child).rev() {
            if sb.claim_thread(slot, t, ThreadStatus::Ready) {
                idle.push(t);
            } else {
                unclaimed.push(t);
            }
        }
        Arc::new(Workers {
            mpm,
            sb,
            slot,
            idle: Mutex::new(idle),
            unclaimed: Mutex::new(unclaimed),
            waiters: Mutex::new(VecDeque::new()),
            released: Notify::new(),
            stopping: AtomicBool::new(false),
            threads_per_child,
            async_factor,
            connections: AtomicU32::new(0),
            requests: AtomicU32::new(0),
            not_accepting: AtomicBool::new(false),
        })
    }

    pub fn mpm(&self) -> Mpm {
        self.mpm
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<u32>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims what a stopping child has released since the last look.
    fn claim_released(&self) -> bool {
        let mut unclaimed = self.unclaimed.lock().unwrap_or_else(|e| e.into_inner());
        if unclaimed.is_empty() {
            return false;
        }
        let mut got = false;
        unclaimed.retain(|&t| {
            if self.sb.claim_thread(self.slot, t, ThreadStatus::Ready) {
                self.lock_idle().push(t);
                got = true;
                false
            } else {
                true
            }
        });
        got
    }

    fn has_unclaimed(&self) -> bool {
        !self
            .unclaimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// An idle slot now, if there is one (it shows READY until the caller
    /// gives it work).
    ///
    /// A stopping child has given its idle slots up (a new child may
    /// already have claimed them); a request still arriving on one of its
    /// open connections gets a worker without a slot, so it is served
    /// without writing the scoreboard. (The child accepts no more, so its
    /// open connections bound these.)
    pub fn try_acquire(self: &Arc<Self>) -> Option<Worker> {
        if self.stopping() {
            return Some(Worker {
                workers: self.clone(),
                thread: None,
            });
        }
        // (The idle lock must be released before claim_released takes it.)
        let popped = self.lock_idle().pop();
        let t = match popped {
            Some(t) => t,
            None => {
                if !self.claim_released() {
                    return None;
                }
                self.lock_idle().pop()?
            }
        };
        // Still READY in the scoreboard: it is the slot waiting for the next
        // connection (or request), as httpd's idle worker is; the caller
        // marks it busy once it has work.
        Some(Worker {
            workers: self.clone(),
            thread: Some(t),
        })
    }

    /// Waits for an idle slot and takes it (it shows READY until the caller
    /// gives it work). Waiters are served first come, first served.
    ///
    /// Cancel-safe: a waiter that goes away passes the slot it would have
    /// been given on to the next.
    pub async fn acquire(self: &Arc<Self>) -> Worker {
        loop {
            let rx = {
                let mut waiters = self.lock_waiters();
                // (A stopping child serves everyone at once, without slots.)
                if (waiters.is_empty() || self.stopping())
                    && let Some(w) = self.try_acquire()
                {
                    return w;
                }
                let (tx, rx) = oneshot::channel();
                waiters.push_back(tx);
                rx
            };
            if self.has_unclaimed() {
                // Slots a stopping child releases wake nobody here (another
                // process frees them): look again now and then.
                match tokio::time::timeout(TAKEOVER_POLL, rx).await {
                    Ok(Ok(w)) => return w,
                    _ => {
                        if self.claim_released() {
                            self.hand_on_idle();
                        }
                    }
                }
            } else if let Ok(w) = rx.await {
                return w;
            }
        }
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, VecDeque<oneshot::Sender<Worker>>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives idle slots to waiters, oldest first (after slots were claimed
    /// from a stopping child).
    fn hand_on_idle(self: &Arc<Self>) {
        loop {
            let mut waiters = self.lock_waiters();
            if waiters.is_empty() {
                return;
            }
            let Some(t) = self.lock_idle().pop() else {
                return;
            };
            let Some(tx) = waiters.pop_front() else {
                return;
            };
            drop(waiters);
            let w = Worker {
                workers: self.clone(),
                thread: Some(t),
            };
            // A waiter that went away: its slot goes back (through Drop,
            // which hands it on in turn).
            let _ = tx.send(w);
        }
    }

    /// A slot this child owns is free again: to the oldest waiter still
    /// waiting, else idle.
    fn release(self: &Arc<Self>, t: u32) {
        loop {
            let mut waiters = self.lock_waiters();
            let Some(tx) = waiters.pop_front() else {
                self.sb.set_status(self.slot, t, ThreadStatus::Ready);
                self.lock_idle().push(t);
                drop(waiters);
                // An event listener waiting on the connection limit
                // watches for idle slots.
                self.released.notify_waiters();
                return;
            };
            drop(waiters);
            self.sb.set_status(self.slot, t, ThreadStatus::Ready);
            let w = Worker {
                workers: self.clone(),
                thread: Some(t),
            };
            match tx.send(w) {
                Ok(()) => return,
                // That waiter went away: disarm the returned worker (its
                // Drop would release the slot again) and try the next.
                Err(mut w) => w.thread = None,
            }
        }
    }

    /// Idle slots now.
    pub fn idle(&self) -> u32 {
        u32::try_from(self.lock_idle().len()).unwrap_or(u32::MAX)
    }

    /// (event) httpd's `connections_above_limit`: accept only while a slot
    /// is idle and the open connections stay below ThreadsPerChild + idle ×
    /// AsyncRequestWorkerFactor.
    pub fn may_accept(&self) -> bool {
        let idle = self.idle();
        if idle == 0 && !self.claim_released() {
            return false;
        }
        let idle = self.idle();
        let conns = self.connections.load(Ordering::Relaxed);
        conns
            < self
                .threads_per_child
                .saturating_add(idle.saturating_mul(self.async_factor))
    }

    /// (event) Waits until [`Workers::may_accept`], telling the scoreboard
    /// while it does not.
    ///
    /// The state lives in `self`, not in the future: the caller may drop
    /// the wait (to do other work) and call it again.
    pub async fn wait_until_accepting(self: &Arc<Self>) {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.may_accept() {
                self.set_not_accepting(false);
                return;
            }
            if self.idle() > 0 {
                // Over the connection limit with idle workers: httpd's
                // listener disables itself and says so in the scoreboard.
                self.set_not_accepting(true);
            }
            let _ = tokio::time::timeout(TAKEOVER_POLL, released).await;
        }
    }

    /// Tells the scoreboard, when it changes, whether the child accepts.
    fn set_not_accepting(&self, not_accepting: bool) {
        if self.not_accepting.swap(not_accepting, Ordering::AcqRel) != not_accepting {
            self.sb.set_not_accepting(self.slot, not_accepting);
        }
    }

    /// A connection opened; dropping the guard closes it.
    pub fn open_connection(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.publish_connections();
        ConnectionGuard {
            workers: self.clone(),
        }
    }

    /// Tells the scoreboard the open connections and how many of them wait
    /// in keep-alive (no request in progress). Lingering closes are not
    /// counted apart: that field stays 0.
    fn publish_connections(&self) {
        let open = self.connections.load(Ordering::Relaxed);
        let busy = self.requests.load(Ordering::Relaxed);
        self.sb
            .set_connections(self.slot, open, open.saturating_sub(busy), 0);
    }

    /// A request began on one of the open connections; it ends when the
    /// guard is dropped (its response sent, or the request abandoned).
    pub fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.publish_connections();
        RequestGuard {
            workers: self.clone(),
        }
    }

    /// The child stops gracefully: idle slots are given up (DEAD), busy
    /// ones show GRACEFUL until their work ends.
    pub fn begin_graceful_stop(self: &Arc<Self>) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        // worker and event announce it; httpd's prefork child writes
        // nothing (it exits from wherever it is), and its controller never
        // clears the flag, so a prefork child must not set it.
        if self.mpm != Mpm::Prefork {
            self.sb.announce_quiescing(self.slot);
        }
        let idle: Vec<u32> = std::mem::take(&mut *self.lock_idle());
        let idle_set: std::collections::HashSet<u32> = idle.iter().copied().collect();
        for t in idle {
            self.sb.set_status(self.slot, t, ThreadStatus::Dead);
        }
        self.unclaimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        // The slots still in use: everything this child claimed that is not
        // idle.
        for t in 0..self.threads_per_child {
            if !idle_set.contains(&t) && self.sb.status(self.slot, t) > ThreadStatus::Ready {
                self.sb.set_status(self.slot, t, ThreadStatus::Graceful);
            }
        }
        // Requests already waiting for a slot get workers without one, as
        // later ones do (see `try_acquire`).
        for tx in std::mem::take(&mut *self.lock_waiters()) {
            let _ = tx.send(Worker {
                workers: self.clone(),
                thread: None,
            });
        }
        self.released.notify_waiters();
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// One worker slot in use; back to idle (or DEAD in a stopping child) when
/// dropped. A stopping child's late requests get workers without a slot
/// (see [`Workers::try_acquire`]).
#[derive(Debug)]
pub struct Worker {
    workers: Arc<Workers>,
    thread: Option<u32>,
}

impl Worker {
    /// Shows what the slot is doing (R, W, K …); a stopping child's slots
    /// stay GRACEFUL.
    pub fn set(&self, status: ThreadStatus) {
        if let Some(t) = self.thread
            && !self.workers.stopping()
        {
            self.workers.sb.set_status(self.workers.slot, t, status);
        }
    }

    /// The child's slots (for its connection and request counts).
    pub fn workers(&self) -> &Arc<Workers> {
        &self.workers
    }

    /// A request on this slot finished, having sent `bytes` in
    /// `duration_us`.
    pub fn count_request(&self, bytes: u64, duration_us: u64, now_us: u64) {
        if let Some(t) = self.thread {
            self.workers
                .sb
                .count_request(self.workers.slot, t, bytes, duration_us, now_us);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let Some(t) = self.thread.take() else { return };
        let w = &self.workers;
        if w.stopping() {
            w.sb.set_status(w.slot, t, ThreadStatus::Dead);
            w.released.notify_waiters();
        } else {
            w.release(t);
        }
    }
}

/// A request in progress, counted while it lives.
#[derive(Debug)]
pub struct RequestGuard {
    workers: Arc<Workers>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let w = &self.workers;
        let _ = w
            .requests
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        w.publish_connections();
    }
}

/// An open connection, counted while it lives.
#[derive(Debug)]
pub struct ConnectionGuard {
    workers: Arc<Workers>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.workers.connections.fetch_sub(1, Ordering::Relaxed);
        self.workers.publish_connections();
        self.workers.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(name: &str, slots: u32, threads: u32) -> (Arc<Scoreboard>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("quill-workers-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("sb");
        (
            Arc::new(Scoreboard::create(&path, slots, threads).expect("scoreboard")),
            path,
        )
    }

    #[tokio::test]
    async fn slots_show_idle_busy_and_graceful_as_httpd_does() {
        let (sb, path) = board("states", 2, 3);
        let w = Workers::new(Mpm::Worker, sb.clone(), 1, 3, 2);
        assert_eq!(sb.status_chars(2, 3), "...___");
        let a = w.acquire().await;
        a.set(ThreadStatus::BusyWrite);
        let b = w.acquire().await;
        assert_eq!(w.idle(), 1);
        assert_eq!(
            sb.status_chars(2, 3).matches('_').count(),
            2,
            "a taken slot shows idle until it has work"
        );
        b.set(ThreadStatus::BusyRead);
        assert_eq!(sb.status_chars(2, 3).matches('_').count(), 1);
        drop(b);
        assert_eq!(w.idle(), 2);
        w.begin_graceful_stop();
        assert_eq!(sb.status_chars(2, 3), "...G..");
        a.set(ThreadStatus::BusyKeepalive);
        assert_eq!(sb.status_chars(2, 3), "...G..", "a stopping child stays G");
        drop(a);
        assert_eq!(sb.status_chars(2, 3), "......");
        let _ = std::fs::remove_file(path);
    }

    #[tokio::test]
    async fn a_child_taking_over_a_row_uses_only_the_slots_left_free() {
        let (sb, path) = board("takeover", 1, 2);
        let old = Workers::new(Mpm::Worker, sb.clone(), 0, 2, 2);
        let busy = old.acquire().await;
        old.begin_graceful_stop();
        let new = Workers::new(Mpm::Worker, sb.clone(), 0, 2, 2);
        assert_eq!(new.idle(), 1, "one slot was free");
        let first = new.acquire().await;
        assert!(new.try_acquire().is_none(), "the other is the old child's");
        drop(busy);
        let second = tokio::time::timeout(Duration::from_secs(5), new.acquire())
            .await
            .expect("the released slot is claimed");
        drop((first, second));
        assert_eq!(sb.status_chars(1, 2), "__");
        let _ = std::fs::remove_file(path);
    }

    #[tokio::test]
    async fn a_stopping_child_serves_late_requests_without_taking_a_slot() {
        let (sb, path) = board("late", 1, 2);
        let old = Workers::new(Mpm::Event, sb.clone(), 0, 2, 2);
        old.begin_graceful_stop();
        // A new child takes the row's slots the old one gave up …
        let new = Workers::new(Mpm::Event, sb.clone(), 0, 2, 2);
        assert_eq!(new.idle(), 2);
        // … and a request arriving on one of the old child's open
        // connections still gets a worker at once, which leaves the new
        // child's slots alone.
        let late = tokio::time::timeout(Duration::from_secs(5), old.acquire())
            .await
            .expect("a late request is not left waiting");
        late.set(ThreadStatus::BusyWrite);
        late.count_request(10, 5, 1);
        drop(late);
        assert_eq!(sb.status_chars(1, 2), "__");
        assert_eq!(new.idle(), 2);
        let _ = std::fs::remove_file(path);
    }

    /// Requests waiting for a slot get one first come, first served: a
    /// newcomer never takes a released slot from an earlier waiter, and a
    /// waiter that gives up passes its turn on.
    #[tokio::test]
    async fn waiting_requests_get_slots_in_arrival_order() {
        let (sb, path) = board("fifo", 1, 1);
        let w = Workers::new(Mpm::Event, sb.clone(), 0, 1, 2);
        let first = w.acquire().await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let (go_tx, go_rx) = tokio::sync::watch::channel(false);
        let mut waiters = Vec::new();
        for i in 1..=3 {
            let (w, order, mut go) = (w.clone(), order.clone(), go_rx.clone());
            waiters.push(tokio::spawn(async move {
                let got = w.acquire().await;
                order.lock().expect("order").push(i);
                let _ = go.wait_for(|g| *g).await;
                drop(got);
            }));
            tokio::task::yield_now().await;
        }
        // Waiter 2 gives up: its turn goes to waiter 3.
        waiters.remove(1).abort();
        drop(first);
        // A newcomer polled before waiter 1 has even run finds no slot.
        tokio::select! {
            biased;
            _ = w.acquire() => panic!("a newcomer took the slot of a waiter"),
            () = std::future::ready(()) => {}
        }
        go_tx.send_replace(true);
        for t in waiters {
            t.await.expect("waiter");
        }
        assert_eq!(*order.lock().expect("order"), vec![1, 3]);
        assert_eq!(w.idle(), 1, "the slot is idle again");
        assert_eq!(sb.status_chars(1, 1), "_");
        let _ = std::fs::remove_file(path);
    }

    /// A child that stops gracefully gives requests already waiting for a
    /// slot workers without one, so that none waits forever.
    #[tokio::test]
    async fn a_stopping_child_serves_requests_that_were_waiting() {
        let (sb, path) = board("stop-waiting", 1, 1);
        let w = Workers::new(Mpm::Event, sb.clone(), 0, 1, 2);
        let busy = w.acquire().await;
        let waiter = tokio::spawn({
            let w = w.clone();
            async move { w.acquire().await.thread }
        });
        tokio::task::yield_now().await;
        w.begin_graceful_stop();
        let thread = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter is served")
            .expect("join");
        assert_eq!(thread, None, "without a slot");
        drop(busy);
        assert_eq!(sb.status_chars(1, 1), ".");
        let _ = std::fs::remove_file(path);
    }

    #[tokio::test]
    async fn event_accepts_up_to_the_async_factor_limit() {
        let (sb, path) = board("event", 1, 2);
        let w = Workers::new(Mpm::Event, sb.clone(), 0, 2, 2);
        // 2 threads + 2 idle × factor 2 = 6 connections.
        let conns: Vec<_> = (0..6).map(|_| w.open_connection()).collect();
        assert!(!w.may_accept(), "at the limit");
        // A wait that is given up (as the accept loop's select does) leaves
        // the scoreboard saying "not accepting" …
        let gave_up =
            tokio::time::timeout(Duration::from_millis(300), w.wait_until_accepting()).await;
        assert!(gave_up.is_err());
        assert!(sb.not_accepting(0));
        drop(conns);
        assert!(w.may_accept());
        // … and the next wait, which returns at once, says it accepts again.
        w.wait_until_accepting().await;
        assert!(!sb.not_accepting(0), "accepting again");
        let _ = std::fs::remove_file(path);
    }
}
