//! Daemon connections the front end keeps between requests (protocol v2,
//! docs/protocol.md "Connections").
//!
//! A kept connection belongs to one daemon process (the one that accepted
//! it and said so with `Accepted`). The pool counts, per process, the
//! requests this front end has in flight there, and hands out a kept
//! connection only to a process with fewer of them than it has threads —
//! one with an idle thread, which takes the request at once. With several
//! front-end children, a process's threads may be busy with the others'
//! requests: each daemon process publishes its busy threads on its group's
//! busy board (`quill_protocol::busy`), and the pool goes by the larger of
//! that count and its own (its own requests not yet taken by a thread are
//! not on the board yet). Otherwise the
//! caller connects to the group's socket as in protocol v1, where any idle
//! thread of any process accepts. Before either, a request waits for its
//! turn in the group's [`Admission`]: no more requests are sent than the
//! group has threads, so under overload requests queue here, first come,
//! first served, and then still find kept connections.
//!
//! Requests on new connections are *unplaced* until their `Accepted`
//! arrives (it comes with the first frame the daemon sends: the
//! response's head, or `Continue`): they may still wait in the backlog, or
//! run somewhere uncounted. A kept connection is handed
//! out only while the board shows more idle threads than this front end
//! has unplaced requests (without a board, only while none is), so keeping connections never queues a request
//! behind a busy process while another has an idle thread.
//!
//! When every thread of the group is busy, some with this front end's
//! requests, a request that finds no kept connection waits here in a
//! queue ([`Pool::queue`]), first come, first served, rather than on a new
//! connection in the daemon's backlog: each end of one of this front
//! end's requests wakes the first waiting request, and one waiting
//! request also looks at the board every [`POLL`] for threads that other
//! front ends' requests free. With several front-end children the
//! backlog would otherwise take most requests of a saturated group, each
//! paying a new connection.
//!
//! ```text
//!  take ──▶ no one queued, idle threads > unplaced, a process with max(busy, board) < threads and a kept connection?
//!            ├─ yes ─▶ Lease(pid), busy+1
//!            └─ no ──▶ saturated (or others queued)? ─▶ queue, wait for a release or a look; take again
//!                      otherwise: connect; Lease(unplaced), unplaced+1
//!  Accepted{pid} ─▶ bind: unplaced−1, busy+1
//!  ResponseEnd{keep} ─▶ put back (at most `threads` kept per process); Lease dropped: busy−1, wake the queue
//! ```
//!
//! A kept connection whose process went away is noticed without a system
//! call when its end of stream has reached the reactor (it is then
//! dropped at `take`), or when the next write or read on it fails before
//! the daemon read anything (the caller retries).

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use quill_protocol::busy::BusyBoard;
use tokio::net::UnixStream;

/// A daemon connection between requests, with what its reader had left.
#[derive(Debug)]
pub struct KeptConn {
    pub stream: UnixStream,
    pub buf: BytesMut,
}

#[derive(Debug)]
struct ProcEntry {
    pid: u32,
    /// Requests in flight on connections held by this process.
    busy: u32,
    /// Kept connections, most recently used last.
    idle: Vec<KeptConn>,
}

/// The kept connections of one daemon group.
#[derive(Debug)]
pub struct Pool {
    threads: u32,
    procs: Mutex<Vec<ProcEntry>>,
    /// Requests on new connections whose process is not known yet.
    unplaced: std::sync::atomic::AtomicU32,
    /// Every process's busy threads, as the processes publish them.
    board: Option<BusyBoard>,
    /// Requests waiting here for a thread of a saturated group.
    waiters: std::sync::atomic::AtomicU32,
    /// Told when one of this front end's requests lets go of its process.
    released: tokio::sync::Notify,
    /// One waiting request also looks at the busy board every
    /// [`POLL`], for threads that other front ends' requests free.
    poller: std::sync::atomic::AtomicBool,
}

/// How often the first waiting request looks at the busy board.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(1);

impl Pool {
    /// A pool for a group whose processes have `threads` threads each,
    /// reading their busy threads from `board` when there is one.
    pub fn new(threads: u32, board: Option<BusyBoard>) -> Arc<Pool> {
        Arc::new(Pool {
            threads: threads.max(1),
            procs: Mutex::new(Vec::new()),
            unplaced: std::sync::atomic::AtomicU32::new(0),
            board,
            waiters: std::sync::atomic::AtomicU32::new(0),
            released: tokio::sync::Notify::new(),
            poller: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The group's busy board, when there is one.
    pub fn board(&self) -> Option<&BusyBoard> {
        self.board.as_ref()
    }

    /// Busy threads of a process: its own count, or the process's when
    /// that is larger.
    fn load(&self, e: &ProcEntry) -> u32 {
        match &self.board {
            Some(b) => e.busy.max(b.busy(e.pid).unwrap_or(0)),
            None => e.busy,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<ProcEntry>> {
        self.procs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A kept connection to the least busy process that has an idle
    /// thread, if there is one and no request is unplaced. A request that
    /// has not waited yet (`queued` false) gets none while others wait.
    pub fn take(self: &Arc<Pool>, queued: bool) -> Option<(Lease, KeptConn)> {
        if !queued && self.waiters.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            return None;
        }
        let unplaced = self.unplaced.load(std::sync::atomic::Ordering::Relaxed);
        let mut procs = self.lock();
        if unplaced > 0 && self.free(&procs).is_none_or(|free| free <= unplaced) {
            return None;
        }
        loop {
            let Some(entry) = procs
                .iter_mut()
                .filter(|e| !e.idle.is_empty())
                .map(|e| (self.load(e), e))
                .filter(|(load, _)| *load < self.threads)
                .min_by_key(|(load, _)| *load)
                .map(|(_, e)| e)
            else {
                procs.retain(|e| e.busy > 0 || !e.idle.is_empty());
                return None;
            };
            let Some(conn) = entry.idle.pop() else {
                continue;
            };
            if !alive(&conn.stream) {
                continue;
            }
            entry.busy += 1;
            let pid = entry.pid;
            procs.retain(|e| e.busy > 0 || !e.idle.is_empty());
            return Some((
                Lease {
                    pool: self.clone(),
                    pid: Some(pid),
                },
                conn,
            ));
        }
    }

    /// Wakes the first request of the queue, if any waits.
    fn wake_one(&self) {
        if self.waiters.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            self.released.notify_one();
        }
    }

    /// A lease for a new connection: unplaced until its process is known.
    pub fn unbound(self: &Arc<Pool>) -> Lease {
        self.unplaced
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Lease {
            pool: self.clone(),
            pid: None,
        }
    }

    fn entry(procs: &mut Vec<ProcEntry>, pid: u32) -> &mut ProcEntry {
        let i = match procs.iter().position(|e| e.pid == pid) {
            Some(i) => i,
            None => {
                procs.push(ProcEntry {
                    pid,
                    busy: 0,
                    idle: Vec::new(),
                });
                procs.len() - 1
            }
        };
        &mut procs[i]
    }

    fn put(&self, pid: u32, conn: KeptConn) {
        let mut procs = self.lock();
        let e = Pool::entry(&mut procs, pid);
        if e.idle.len() < self.threads as usize {
            e.idle.push(conn);
        }
    }

    /// Whether a request that got no kept connection should wait here, in
    /// the queue of [`Pool::queue`], for one of this front end's requests
    /// to end, instead of connecting to the group's socket: when others
    /// already wait, or [`Pool::saturated`].
    ///
    /// With several front-end children a group's requests would otherwise
    /// wait in its kernel backlog, each on a new connection that the
    /// daemon closes after the response; this way they wait in the front
    /// end, first come, first served, and go out on kept connections.
    pub fn should_wait(&self) -> bool {
        self.waiters.load(std::sync::atomic::Ordering::SeqCst) > 0 && self.ours() > 0
            || self.saturated()
    }

    /// Idle threads in the group by the busy board (busy being the
    /// larger of the board's count and this front end's own); `None`
    /// without a board.
    fn free(&self, procs: &[ProcEntry]) -> Option<u32> {
        let board = self.board.as_ref()?;
        Some(
            board
                .loads()
                .map(|(pid, busy, threads)| {
                    let own = procs.iter().find(|e| e.pid == pid).map_or(0, |e| e.busy);
                    threads.saturating_sub(busy.max(own))
                })
                .sum(),
        )
    }

    /// Requests of this front end in flight in the group, placed or not.
    fn ours(&self) -> u32 {
        self.unplaced.load(std::sync::atomic::Ordering::Relaxed)
            + self.lock().iter().map(|e| e.busy).sum::<u32>()
    }

    /// Every idle thread of the group (by the busy board) is spoken for
    /// by this front end's unplaced requests, and this front end has
    /// requests in flight there, whose ends will wake the queue.
    /// Unplaced requests count as waiting for a thread, though some
    /// already run: that errs towards waiting here, not in the backlog.
    pub fn saturated(&self) -> bool {
        let unplaced = self.unplaced.load(std::sync::atomic::Ordering::Relaxed);
        let procs = self.lock();
        let ours = unplaced + procs.iter().map(|e| e.busy).sum::<u32>();
        if ours == 0 {
            return false;
        }
        let Some(board) = &self.board else {
            return false;
        };
        board.loads().next().is_some() && self.free(&procs).is_some_and(|free| free <= unplaced)
    }

    /// A place in the queue of requests waiting for one of this front
    /// end's requests to let go of its process.
    pub fn queue(&self) -> Turn<'_> {
        self.waiters
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut notified = Box::pin(self.released.notified());
        notified.as_mut().enable();
        Turn {
            pool: self,
            notified,
            polling: false,
        }
    }

    /// Whether another kept connection would be kept (fewer than
    /// `threads` per process are kept in all), so that a new connection is
    /// worth keeping after its response.
    pub fn wants_more(&self) -> bool {
        let procs = self.lock();
        let kept: usize = procs.iter().map(|e| e.idle.len()).sum();
        kept < self.threads as usize * procs.len().max(1)
    }

    /// Drops kept connections whose daemon closed them (a process that
    /// retired or died). The front end calls it every second, so that
    /// nothing is held for processes that are gone.
    pub fn sweep(&self) {
        let mut procs = self.lock();
        for e in procs.iter_mut() {
            e.idle.retain(|c| alive(&c.stream));
        }
        procs.retain(|e| e.busy > 0 || !e.idle.is_empty());
    }

    /// Kept connections and requests in flight, per process (for tests
    /// and diagnostics).
    pub fn snapshot(&self) -> Vec<(u32, u32, usize)> {
        self.lock()
            .iter()
            .map(|e| (e.pid, e.busy, e.idle.len()))
            .collect()
    }
}

/// A request's place in a pool's queue (see [`Pool::should_wait`]),
/// registered from its creation on, so that no release between a check
/// and the wait is missed. Given back on drop.
pub struct Turn<'a> {
    pool: &'a Pool,
    notified: Pin<Box<tokio::sync::futures::Notified<'a>>>,
    /// This request is the one that looks at the board every [`POLL`].
    polling: bool,
}

impl std::fmt::Debug for Turn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn").finish_non_exhaustive()
    }
}

impl Turn<'_> {
    /// Waits for a release (first come, first served), then stays
    /// registered for the next one. One waiting request at a time (the
    /// first to ask) also wakes every [`POLL`]: threads that other front
    /// ends' requests free wake nothing here.
    pub async fn wait(&mut self) {
        use std::sync::atomic::Ordering::SeqCst;
        if !self.polling {
            self.polling = self
                .pool
                .poller
                .compare_exchange(false, true, SeqCst, SeqCst)
                .is_ok();
        }
        if self.polling {
            let _ = tokio::time::timeout(POLL, self.notified.as_mut()).await;
        } else {
            self.notified.as_mut().await;
        }
        self.notified = Box::pin(self.pool.released.notified());
        self.notified.as_mut().enable();
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.pool.waiters.fetch_sub(1, SeqCst);
        if self.polling {
            self.pool.poller.store(false, SeqCst);
            // The next waiting request takes over the looking.
            self.pool.wake_one();
        }
    }
}

/// A connection that has reported end of stream (or sent something
/// unasked) to the reactor is dead. No system call unless the reactor
/// saw the connection become readable.
fn alive(stream: &UnixStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// One request in flight on a daemon process: counted in that process's
/// `busy` from `bind` (or `take`) until dropped.
#[derive(Debug)]
pub struct Lease {
    pool: Arc<Pool>,
    pid: Option<u32>,
}

impl Lease {
    /// The connection was accepted by process `pid`.
    pub fn bind(&mut self, pid: u32) {
        if self.pid.is_some() {
            return;
        }
        let mut procs = self.pool.lock();
        Pool::entry(&mut procs, pid).busy += 1;
        self.pid = Some(pid);
        self.pool
            .unplaced
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The request is over and its connection may take another: keep it
    /// (if its process is known).
    pub fn keep(self, conn: KeptConn) {
        if let Some(pid) = self.pid {
            self.pool.put(pid, conn);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(pid) = self.pid else {
            self.pool
                .unplaced
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            self.pool.wake_one();
            return;
        };
        {
            let mut procs = self.pool.lock();
            if let Some(e) = procs.iter_mut().find(|e| e.pid == pid) {
                e.busy = e.busy.saturating_sub(1);
            }
            procs.retain(|e| e.busy > 0 || !e.idle.is_empty());
        }
        self.pool.wake_one();
    }
}

/// Admission of requests to one daemon group, in the front end.
///
/// A daemon thread takes work only when idle; a request sent to a busy
/// process would wait there behind that process's requests. So the front
/// end sends at most `processes × threads` requests at a time (one per
/// thread) and lets the rest wait here, first come, first served — on a
/// kept connection when their turn comes. This is the queue mod_wsgi keeps
/// in the daemon socket's kernel backlog, with the same bound: at most
/// `listen-backlog + 1` requests wait (Linux admits one connection more
/// than the backlog); a request that finds no room retries like mod_wsgi's
/// connect loop (0.125 s apart, then 1 s) until connect-timeout, then
/// gets its 503. queue-timeout is still checked by the daemon when it
/// takes the request, from the request's arrival.
#[derive(Debug)]
pub struct Admission {
    /// Requests that may be in flight at once (processes × threads).
    pub capacity: u32,
    /// Requests that may wait for one of them.
    pub queue_limit: u32,
    permits: Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicU32,
}

/// A request admitted to its group: one daemon thread's worth of capacity
/// until dropped.
pub type Permit = tokio::sync::OwnedSemaphorePermit;

impl Admission {
    pub fn new(capacity: u32, listen_backlog: u32) -> Admission {
        let capacity = capacity.max(1);
        Admission {
            capacity,
            queue_limit: listen_backlog.saturating_add(1),
            permits: Arc::new(tokio::sync::Semaphore::new(capacity as usize)),
            waiting: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Waits for a daemon thread; `Err` when the queue stayed full for
    /// `connect_timeout`.
    pub async fn admit(&self, connect_timeout: std::time::Duration) -> Result<Permit, ()> {
        // No barging: tokio hands released permits to waiters first.
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        let mut pacing = ConnectPacing::new(connect_timeout);
        loop {
            if let Some(_place) = self.enter() {
                return self.permits.clone().acquire_owned().await.map_err(|_| ());
            }
            if !pacing.pause().await {
                return Err(());
            }
        }
    }

    /// A place in the queue, if there is room (given back on drop, also
    /// when the client goes away while waiting).
    fn enter(&self) -> Option<Place<'_>> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.waiting.fetch_add(1, SeqCst) >= self.queue_limit {
            self.waiting.fetch_sub(1, SeqCst);
            return None;
        }
        Some(Place(&self.waiting))
    }

    /// Requests waiting for a thread.
    pub fn waiting(&self) -> u32 {
        self.waiting.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// mod_wsgi's pace for retrying a daemon socket whose backlog is full:
/// 0.125 s apart for the first 2 s of sleeping, then 1 s apart, until
/// connect-timeout. Used for connects and for the admission queue alike.
#[derive(Debug)]
pub struct ConnectPacing {
    start: tokio::time::Instant,
    slept: std::time::Duration,
    limit: std::time::Duration,
}

impl ConnectPacing {
    pub fn new(limit: std::time::Duration) -> ConnectPacing {
        ConnectPacing {
            start: tokio::time::Instant::now(),
            slept: std::time::Duration::ZERO,
            limit,
        }
    }

    /// Sleeps until the next attempt; `false` (at once) when
    /// connect-timeout has passed.
    pub async fn pause(&mut self) -> bool {
        use std::time::Duration;
        let elapsed = self.start.elapsed();
        if elapsed >= self.limit {
            return false;
        }
        let step = if self.slept < Duration::from_secs(2) {
            Duration::from_millis(125)
        } else {
            Duration::from_secs(1)
        };
        let step = step
            .min(self.limit.saturating_sub(elapsed))
            .max(Duration::from_millis(1));
        tokio::time::sleep(step).await;
        self.slept += step;
        true
    }
}

struct Place<'a>(&'a std::sync::atomic::AtomicU32);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().expect("socketpair")
    }

    fn kept(s: UnixStream) -> KeptConn {
        KeptConn {
            stream: s,
            buf: BytesMut::new(),
        }
    }

    #[tokio::test]
    async fn kept_connections_go_only_to_processes_with_an_idle_thread() {
        let pool = Pool::new(2, None);
        let (a1, _pa1) = pair();
        let (a2, _pa2) = pair();
        let (b1, _pb1) = pair();
        // Process 10 has two requests in flight, process 20 none.
        let mut l1 = pool.unbound();
        l1.bind(10);
        let mut l2 = pool.unbound();
        l2.bind(10);
        pool.put(10, kept(a1));
        pool.put(10, kept(a2));
        assert!(pool.take(false).is_none(), "process 10 has no idle thread");
        pool.put(20, kept(b1));
        let (lease, _c) = pool.take(false).expect("process 20 is idle");
        assert_eq!(lease.pid, Some(20));
        drop(l1);
        let (lease2, _c) = pool
            .take(false)
            .expect("process 10 has an idle thread again");
        assert_eq!(lease2.pid, Some(10));
        drop((lease, lease2, l2));
        assert_eq!(pool.snapshot(), vec![(10, 0, 1)]);
    }

    #[tokio::test]
    async fn while_a_request_is_unplaced_new_ones_go_to_the_backlog() {
        let pool = Pool::new(4, None);
        let (s, _peer) = pair();
        pool.put(1, kept(s));
        let mut waiting = pool.unbound();
        assert!(pool.take(false).is_none(), "first come, first served");
        waiting.bind(2);
        let (lease, _c) = pool.take(false).expect("nothing unplaced: kept connection");
        assert_eq!(lease.pid, Some(1));
        let gone = pool.unbound();
        drop(gone);
        assert_eq!(pool.unplaced.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn the_least_busy_process_is_chosen_and_kept_connections_are_bounded() {
        let pool = Pool::new(3, None);
        let mut busy = pool.unbound();
        busy.bind(1);
        let mut peers = Vec::new();
        for pid in [1, 2] {
            for _ in 0..5 {
                let (s, p) = pair();
                peers.push(p);
                pool.put(pid, kept(s));
            }
        }
        assert_eq!(pool.snapshot(), vec![(1, 1, 3), (2, 0, 3)]);
        let (lease, _c) = pool.take(false).expect("a kept connection");
        assert_eq!(lease.pid, Some(2));
    }

    #[tokio::test]
    async fn a_process_busy_with_another_childs_requests_gets_none_of_ours() {
        let dir = std::env::temp_dir().join(format!("quill-pool-board-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("g.busy");
        let daemons = BusyBoard::create(&path, 2).expect("create the board");
        let pool = Pool::new(2, Some(BusyBoard::attach(&path).expect("attach")));
        // Process 10 has both threads busy with another child's requests;
        // this child has nothing in flight anywhere.
        let ten = daemons.claim(10, 2, 0).expect("an entry");
        daemons.enter(ten);
        daemons.enter(ten);
        daemons.claim(20, 2, 0).expect("an entry");
        let mut peers = Vec::new();
        for pid in [10, 10, 20] {
            let (s, p) = pair();
            peers.push(p);
            pool.put(pid, kept(s));
        }
        let (lease, _c) = pool.take(false).expect("process 20 is idle");
        assert_eq!(lease.pid, Some(20));
        assert!(
            pool.take(false).is_none(),
            "10 is busy, though not with our requests; 20 has no kept connection left"
        );
        daemons.leave(ten);
        let (lease10, _c) = pool
            .take(false)
            .expect("process 10 has a thread idle again");
        assert_eq!(lease10.pid, Some(10));
        assert_eq!(pool.snapshot(), vec![(10, 1, 1), (20, 1, 0)]);
        drop((lease, lease10));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    /// A board for one process (pid 10) of `threads` threads, and a pool
    /// of this child reading it, with `kept` kept connections to it.
    struct Saturated {
        dir: std::path::PathBuf,
        daemons: BusyBoard,
        ten: quill_protocol::busy::Claim,
        pool: Arc<Pool>,
        _peers: Vec<UnixStream>,
    }

    fn saturated(name: &str, threads: u32, kept_conns: usize) -> Saturated {
        let dir = std::env::temp_dir().join(format!("quill-pool-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("g.busy");
        let daemons = BusyBoard::create(&path, 1).expect("create the board");
        let pool = Pool::new(threads, Some(BusyBoard::attach(&path).expect("attach")));
        let ten = daemons.claim(10, threads, 0).expect("an entry");
        let mut peers = Vec::new();
        for _ in 0..kept_conns {
            let (s, p) = pair();
            peers.push(p);
            pool.put(10, kept(s));
        }
        Saturated {
            dir,
            daemons,
            ten,
            pool,
            _peers: peers,
        }
    }

    impl Drop for Saturated {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_saturated_group_queues_requests_here_first_come_first_served() {
        let t = saturated("queue", 2, 2);
        let pool = &t.pool;
        // Both threads busy: one with our request, one with another child's.
        let (ours, conn) = pool.take(false).expect("an idle thread");
        t.daemons.enter(t.ten);
        t.daemons.enter(t.ten);
        assert!(pool.take(false).is_none());
        assert!(pool.should_wait(), "wait here, not in the backlog");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for i in 0..2 {
            let (pool, order) = (pool.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let mut turn = pool.queue();
                let lease = loop {
                    if let Some((lease, _)) = pool.take(true) {
                        break lease;
                    }
                    assert!(pool.saturated(), "no reason to leave the queue");
                    turn.wait().await;
                };
                order.lock().expect("order").push(i);
                lease
            }));
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.waiters.load(std::sync::atomic::Ordering::SeqCst), 2);
        // The other child's request ends: a newcomer does not overtake the
        // queue for that thread.
        t.daemons.leave(t.ten);
        assert!(pool.take(false).is_none(), "no overtaking the queue");
        assert!(pool.should_wait());
        let first = waiters.remove(0).await.expect("join");
        assert_eq!(*order.lock().expect("order"), vec![0]);
        t.daemons.enter(t.ten);
        // Our request ends: its thread and connection go to the next in
        // the queue.
        t.daemons.leave(t.ten);
        ours.keep(conn);
        let second = waiters.remove(0).await.expect("join");
        assert_eq!(*order.lock().expect("order"), vec![0, 1]);
        assert_eq!(pool.waiters.load(std::sync::atomic::Ordering::SeqCst), 0);
        drop((first, second));
    }

    #[tokio::test(start_paused = true)]
    async fn a_thread_another_child_frees_is_found_by_looking_at_the_board() {
        let t = saturated("poll", 2, 2);
        let pool = t.pool.clone();
        // Two threads: one runs our request, one another child's.
        let (ours, _c) = pool.take(false).expect("an idle thread");
        t.daemons.enter(t.ten);
        t.daemons.enter(t.ten);
        assert!(pool.should_wait());
        let waiter = tokio::spawn({
            let pool = pool.clone();
            async move {
                let mut turn = pool.queue();
                loop {
                    if let Some((lease, _)) = pool.take(true) {
                        return lease;
                    }
                    turn.wait().await;
                }
            }
        });
        tokio::task::yield_now().await;
        // The other child's request ends: nothing here is told.
        let t0 = tokio::time::Instant::now();
        t.daemons.leave(t.ten);
        let lease = tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("the waiting request found the idle thread")
            .expect("join");
        assert!(t0.elapsed() <= POLL, "found within one look");
        assert_eq!(lease.pid, Some(10));
        drop((lease, ours));
    }

    #[tokio::test]
    async fn unplaced_requests_hold_back_kept_connections_only_while_they_need_the_idle_threads() {
        let t = saturated("unplaced", 2, 1);
        let pool = &t.pool;
        let waiting = pool.unbound();
        let (lease, _c) = pool
            .take(false)
            .expect("two idle threads, one request unplaced: one is ours to take");
        let other = pool.unbound();
        assert!(
            pool.take(false).is_none(),
            "one idle thread, one unplaced request"
        );
        assert!(pool.saturated());
        drop((waiting, other, lease));
        assert!(!pool.saturated(), "nothing of ours in flight");
    }

    #[tokio::test]
    async fn closed_connections_are_dropped_not_handed_out() {
        let pool = Pool::new(1, None);
        let (s, peer) = pair();
        drop(peer);
        // Let the reactor see the end of stream.
        s.readable().await.expect("readable");
        pool.put(7, kept(s));
        assert!(pool.take(false).is_none());
        assert_eq!(pool.snapshot(), vec![]);
        let (s, peer) = pair();
        pool.put(8, kept(s));
        let (live, _peer) = pair();
        pool.put(9, kept(live));
        drop(peer);
        let dead = pool.lock()[0].idle.pop().expect("kept");
        dead.stream.readable().await.expect("readable");
        pool.lock()[0].idle.push(dead);
        pool.sweep();
        assert_eq!(pool.snapshot(), vec![(9, 0, 1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn admission_is_first_come_first_served_and_bounded_like_the_backlog() {
        use std::time::Duration;
        let adm = Arc::new(Admission::new(1, 1)); // 1 thread, 2 may wait
        let running = adm
            .admit(Duration::from_secs(1))
            .await
            .expect("a free thread");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for i in 0..2 {
            let (adm, order) = (adm.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let p = adm.admit(Duration::from_secs(1)).await;
                order.lock().expect("order").push(i);
                p
            }));
            tokio::task::yield_now().await;
        }
        assert_eq!(adm.waiting(), 2);
        // A third finds the queue full and gives up after connect-timeout.
        let t0 = tokio::time::Instant::now();
        assert!(adm.admit(Duration::from_secs(1)).await.is_err());
        assert!(t0.elapsed() >= Duration::from_secs(1));
        drop(running);
        let first = waiters.remove(0).await.expect("join").expect("admitted");
        drop(first);
        let second = waiters.remove(0).await.expect("join").expect("admitted");
        assert_eq!(*order.lock().expect("order"), vec![0, 1]);
        assert_eq!(adm.waiting(), 0);
        drop(second);
        // A waiter that goes away gives its place back.
        let hold = adm.admit(Duration::from_secs(1)).await.expect("free again");
        let gone = tokio::spawn({
            let adm = adm.clone();
            async move { adm.admit(Duration::from_secs(1)).await.map(drop) }
        });
        tokio::task::yield_now().await;
        assert_eq!(adm.waiting(), 1);
        gone.abort();
        let _ = gone.await;
        assert_eq!(adm.waiting(), 0);
        drop(hold);
    }
}
