//! The discrete-event engine: Apache's children, their worker threads, the
//! accept queue, keep-alive, kill victims and (optionally) a mod_wsgi daemon
//! group, driven in virtual time around the real pool controller.
//!
//! ```text
//!   arrivals ─▶ accept queue (ListenBacklog) ─▶ idle thread of an accepting child
//!                                                   │ holds it for the request
//!                                                   ▼ (+ daemon wait, keep-alive …)
//!   quill_mpm::Controller ◀── scoreboard writes ── children ──▶ timeline rows
//!        │ Spawn / Kill / Log                        ▲
//!        └───────────────────────────────────────────┘
//! ```
//!
//! Time is an integer number of microseconds since the server started. The
//! engine jumps from one event to the next (a heap of timed events plus the
//! controller's `poll_timeout`); a step limit turns a livelock into an
//! error. Every random choice comes from one seeded generator, so the same
//! inputs give the same outputs.
//!
//! What is modelled, per reference/apache-mpm.md §7–8 and §12:
//! * children accept only into idle threads (prefork: one); the kernel's
//!   choice of child is a uniform draw among children with an idle thread;
//!   the most recently freed thread is reused first;
//! * prefork and worker: a kept-alive connection holds its thread (`K`)
//!   until the next request or KeepAliveTimeout; event parks it without a
//!   thread, and when its next request finds no idle worker in that child
//!   the connection is closed and the client reconnects;
//! * event's per-child accept throttling (§6.5) feeding `not_accepting`;
//! * MaxKeepAliveRequests N allows N + 1 requests per connection;
//! * kill victims (oldest first) stop accepting, finish their connections
//!   and exit; a kept-alive wait is cut short;
//! * MaxConnectionsPerChild with each MPM's counting rule;
//! * a daemon group: processes × threads, its listen backlog, connect retry
//!   up to connect-timeout (503), queue-timeout at pick-up (504),
//!   socket-timeout while waiting for the response (504).
//!
//! Not modelled: lingering close (clients are assumed to close first),
//! slow clients, TLS, the request-read phase as a separate state.

use quill_mpm::{
    AcceptCheck, Action, ChildId, ConnectionCounter, Controller, ExitStatus, LogRecord, Mpm,
    PoolConfig, StopMode, ThreadStatus, TickRecord, Timestamp,
};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::collections::{BinaryHeap, VecDeque};

use crate::load::{Arrival, Arrivals, Load, Schedule};
use crate::timeline::SecondRow;

/// Delays of the model that Apache does not configure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// From the parent's start to the first children forking; the parent's
    /// 1-second ticks keep this phase (measured: first tick 1.03–1.06 s
    /// after start).
    pub startup_us: u64,
    /// From fork to a child accepting connections (embedded Python start
    /// in mod_wsgi children: 12–114 ms measured).
    pub fork_ready_us: u64,
    /// From the last connection of a stopping child to its exit.
    pub exit_us: u64,
    /// Closed-loop clients: from a response to the next connection.
    pub turnaround_us: u64,
    /// A client whose connection was refused (accept queue full) retries
    /// after this long (the kernel's SYN retransmission).
    pub syn_retry_us: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            startup_us: 40_000,
            fork_ready_us: 30_000,
            exit_us: 5_000,
            turnaround_us: 1_000,
            syn_retry_us: 1_000_000,
        }
    }
}

/// Keep-alive settings of the server that answers the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepAliveModel {
    pub enabled: bool,
    pub timeout_us: u64,
    /// MaxKeepAliveRequests (0 = unlimited).
    pub max_requests: u32,
}

/// One mod_wsgi daemon process group that every request is delegated to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonModel {
    pub name: String,
    pub processes: u32,
    pub threads: u32,
    /// listen-backlog (Linux admits one more).
    pub listen_backlog: u32,
    /// 0 = off.
    pub queue_timeout_us: u64,
    pub connect_timeout_us: u64,
    /// 0 = off.
    pub socket_timeout_us: u64,
}

/// Everything a simulation needs besides the load.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub pool: PoolConfig,
    pub keep_alive: KeepAliveModel,
    /// ListenBacklog, capped by the kernel's somaxconn.
    pub listen_backlog: u32,
    /// event: AsyncRequestWorkerFactor (integer, as httpd uses it).
    pub async_factor: u32,
    pub daemon: Option<DaemonModel>,
    pub timing: Timing,
    pub seed: u64,
    /// Simulated time, from the server's start.
    pub duration_us: u64,
    /// Upper bound on processed events (a livelock guard).
    pub step_limit: u64,
}

/// Where the engine writes its results, as they happen (nothing is kept in
/// memory that grows with the number of requests).
pub trait Sink {
    fn second(&mut self, row: &SecondRow);
    fn event(&mut self, event: &SimEvent);
}

/// Something worth a line in `events.log`.
#[derive(Debug, Clone, PartialEq)]
pub enum SimEvent {
    Spawned {
        at_us: u64,
        child: u64,
        slot: u32,
    },
    Killed {
        at_us: u64,
        child: u64,
        slot: u32,
        busy_threads: u32,
    },
    Exited {
        at_us: u64,
        child: u64,
        slot: u32,
        reason: ExitReason,
    },
    /// The parent reaped an exited child: its slot is free again.
    Reaped {
        at_us: u64,
        child: u64,
        slot: u32,
    },
    /// A line Apache writes to its error log.
    Apache {
        at_us: u64,
        record: LogRecord,
    },
    /// A maintenance tick (only with `SimConfig` … always emitted; sinks may ignore).
    Tick {
        at_us: u64,
        record: TickRecord,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// Told to stop by maintenance (pipe of death).
    Killed,
    /// MaxConnectionsPerChild reached.
    MaxConnections,
    /// Stopped by the parent (stop or restart).
    Stopped,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the pool configuration is invalid: {0}")]
    Config(String),
    #[error(
        "the simulation did not finish within {steps} events (stopped at t = {at_s:.3} s); this is a livelock or an extreme load — lower the duration or raise the step limit"
    )]
    StepLimit { steps: u64, at_s: f64 },
}

/// Totals over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub arrivals: u64,
    pub completed: u64,
    pub refused: u64,
    pub spawned: u64,
    pub killed: u64,
    pub exited: u64,
    pub status_503: u64,
    pub status_504: u64,
    pub steps: u64,
}

// ---------------------------------------------------------------------------

type ConnId = u32;
type ChildIdx = u32;

/// A heap entry, ordered by time only (reversed for a min-heap). Events at
/// the same microsecond come out in an order fixed by the sequence of heap
/// operations, so runs stay deterministic.
#[derive(Debug, PartialEq, Eq)]
struct Timed {
    at: u64,
    ev: Ev,
}

impl Timed {
    fn at(&self) -> u64 {
        self.at
    }
}

impl Ord for Timed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at)
    }
}

impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    /// Closed loop: the schedule changes to step `n`.
    Step(u32),
    /// Closed loop: client `n` opens a connection.
    ClientSend(u32),
    /// A request's service is over.
    RequestDone(ConnId),
    /// A kept-alive connection sends its next request.
    NextRequest(ConnId, u32),
    /// Keep-alive timeout of a connection (valid if its epoch matches).
    KeepAliveTimeout(ConnId, u32),
    /// A client whose connection was refused (or closed with requests left)
    /// reconnects.
    Reconnect(ConnId),
    ChildReady(ChildIdx),
    ChildExit(ChildIdx),
    /// Daemon: a connect retry for a request waiting on a full backlog.
    DaemonRetry(ConnId),
    /// Daemon: socket-timeout fires for a request (epoch match).
    SocketTimeout(ConnId, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThreadState {
    /// No thread (child not ready, or the thread exited while stopping).
    Dead,
    Idle,
    Busy(ConnId),
}

#[derive(Debug)]
struct SimChild {
    id: ChildId,
    slot: u32,
    ready: bool,
    stopping: bool,
    exiting: bool,
    not_accepting: bool,
    threads: Vec<ThreadState>,
    /// Idle thread indices, most recently freed last.
    idle: Vec<u32>,
    busy: u32,
    /// event: connections parked in keep-alive.
    parked: u32,
    counter: ConnectionCounter,
    /// Position in the acceptor list, if present.
    acceptor_pos: Option<usize>,
    reason: ExitReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Queued,
    /// Being served by (child, thread).
    Serving {
        child: ChildIdx,
        thread: u32,
    },
    /// prefork/worker: waiting for the next request, thread held.
    KeepAliveHeld {
        child: ChildIdx,
        thread: u32,
    },
    /// event: parked in the listener, no thread.
    KeepAliveParked {
        child: ChildIdx,
    },
    /// Client thinking before reconnecting / retrying.
    Away,
}

#[derive(Debug, Clone, Copy)]
struct Conn {
    arrival: Arrival,
    /// Index of the request being (or next to be) served.
    request: u32,
    /// Requests answered on the current TCP connection (keep-alive limit).
    on_this_connection: u32,
    /// When the current request (or connection, when queued) arrived.
    since_us: u64,
    state: ConnState,
    /// Closed-loop client that owns it.
    client: Option<u32>,
    /// Bumped whenever a pending timer for this connection becomes stale.
    epoch: u32,
    daemon: DaemonPhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DaemonPhase {
    None,
    /// Waiting in the group's backlog since the connect.
    Backlog,
    /// Retrying a refused connect since `since`.
    Retrying {
        since: u64,
    },
    Running,
    /// The front end gave up (504); the daemon still runs the request.
    Abandoned,
}

struct Daemon {
    model: DaemonModel,
    busy: u32,
    backlog: VecDeque<ConnId>,
}

struct Client {
    active: bool,
    conn: Option<ConnId>,
}

/// Per-second accumulators.
#[derive(Default)]
struct Acc {
    max_queued: u32,
    spawned: u32,
    killed: u32,
    exited: u32,
    arrivals: u64,
    completed: u64,
    max_wait_us: u64,
    refused: u64,
    s503: u64,
    s504: u64,
    idle_at_tick: Option<u32>,
}

/// Run a simulation; results go to `sink` as they are produced.
pub fn run(config: &SimConfig, load: &Load, sink: &mut dyn Sink) -> Result<Totals, SimError> {
    let mut engine = Engine::new(config, load)?;
    engine.run(sink)?;
    Ok(engine.totals)
}

struct Engine<'a> {
    cfg: &'a SimConfig,
    mpm: Mpm,
    tpc: u32,
    now: u64,
    ctl: Controller,
    heap: BinaryHeap<Timed>,
    rng: Pcg64Mcg,
    children: Vec<Option<SimChild>>,
    free_children: Vec<ChildIdx>,
    /// Children that can take a connection now.
    acceptors: Vec<ChildIdx>,
    conns: Vec<Conn>,
    free_conns: Vec<ConnId>,
    live_conns: u32,
    /// Connections between requests (client thinking or reconnecting).
    away: u32,
    queue: VecDeque<ConnId>,
    queue_cap: usize,
    arrivals: Option<Arrivals<'a>>,
    pending_arrival: Option<Arrival>,
    schedule: Option<&'a Schedule>,
    step: Option<u32>,
    clients: Vec<Client>,
    active_clients: u32,
    daemon: Option<Daemon>,
    /// A `handle_*` call may have queued controller actions.
    ctl_touched: bool,
    /// Children that exited and that the parent has not reaped yet.
    unreaped: Vec<(ChildId, u32)>,
    // gauges
    busy_threads: u32,
    keepalive: u32,
    stopping_children: u32,
    live_children: u32,
    acc: Acc,
    totals: Totals,
    next_second: u64,
}

fn ts(us: u64) -> Timestamp {
    Timestamp::from_micros(us)
}

fn us_of(t: Timestamp) -> u64 {
    t.as_nanos().div_ceil(1_000)
}

impl<'a> Engine<'a> {
    fn new(cfg: &'a SimConfig, load: &'a Load) -> Result<Self, SimError> {
        cfg.pool
            .validate()
            .map_err(|e| SimError::Config(e.to_string()))?;
        let ctl = Controller::new(cfg.pool.clone(), ts(cfg.timing.startup_us))
            .map_err(|e| SimError::Config(e.to_string()))?;
        let (arrivals, schedule) = match load {
            Load::Open(open) => (Some(open.arrivals(cfg.seed)), None),
            Load::Closed(s) => (None, Some(s)),
        };
        let daemon = cfg.daemon.clone().map(|model| Daemon {
            model,
            busy: 0,
            backlog: VecDeque::new(),
        });
        let mut e = Engine {
            cfg,
            mpm: cfg.pool.mpm,
            tpc: cfg.pool.threads_per_child.max(1),
            now: 0,
            ctl,
            heap: BinaryHeap::new(),
            rng: Pcg64Mcg::seed_from_u64(cfg.seed ^ 0x5157_494c_4c5f_5349),
            children: Vec::new(),
            free_children: Vec::new(),
            acceptors: Vec::new(),
            conns: Vec::new(),
            free_conns: Vec::new(),
            live_conns: 0,
            away: 0,
            queue: VecDeque::new(),
            // Linux admits backlog + 1 connections into a listen queue.
            queue_cap: cfg.listen_backlog as usize + 1,
            arrivals,
            pending_arrival: None,
            schedule,
            step: None,
            clients: Vec::new(),
            active_clients: 0,
            daemon,
            ctl_touched: false,
            unreaped: Vec::new(),
            busy_threads: 0,
            keepalive: 0,
            stopping_children: 0,
            live_children: 0,
            acc: Acc::default(),
            totals: Totals::default(),
            next_second: 1_000_000,
        };
        e.pull_arrival();
        if let Some(s) = e.schedule {
            for (i, st) in s.steps.iter().enumerate() {
                e.push(st.t_us, Ev::Step(i as u32));
            }
        }
        Ok(e)
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.heap.push(Timed { at, ev });
    }

    fn pull_arrival(&mut self) {
        if let Some(it) = self.arrivals.as_mut() {
            // Kept beside the heap, not in it: one heap push and pop less
            // per request on open-loop loads.
            self.pending_arrival = it.next();
        }
    }

    /// The pending open-loop arrival reaches the server.
    fn arrive(&mut self) {
        if let Some(a) = self.pending_arrival.take() {
            let id = self.new_conn(a, None);
            self.acc.arrivals += 1;
            self.totals.arrivals += 1;
            self.connect(id);
        }
        self.pull_arrival();
    }

    fn run(&mut self, sink: &mut dyn Sink) -> Result<(), SimError> {
        // The controller forks StartServers at start-up.
        self.drain_controller(sink);
        let end = self.cfg.duration_us;
        loop {
            let next_ev = self.heap.peek().map(Timed::at);
            let next_ctl = self.ctl.poll_timeout().map(us_of);
            let next_arrival = self.pending_arrival.as_ref().map(|a| a.at_us);
            let next = [next_arrival, next_ev, next_ctl]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(u64::MAX);
            // Emit the rows of every second that ends before the next event.
            while self.next_second <= next.min(end) {
                self.emit_row(sink);
            }
            if next >= end {
                break;
            }
            self.totals.steps += 1;
            if self.totals.steps > self.cfg.step_limit {
                return Err(SimError::StepLimit {
                    steps: self.cfg.step_limit,
                    at_s: self.now as f64 / 1e6,
                });
            }
            self.now = next;
            if next_arrival == Some(next) {
                self.arrive();
            } else if next_ev == Some(next) {
                if let Some(Timed { ev, .. }) = self.heap.pop() {
                    self.handle(ev, sink);
                }
            } else {
                self.ctl.handle_timeout(ts(next));
                self.ctl_touched = true;
            }
            // Only the controller's handle_* calls produce actions.
            if std::mem::take(&mut self.ctl_touched) {
                self.drain_controller(sink);
            }
        }
        Ok(())
    }

    fn emit_row(&mut self, sink: &mut dyn Sink) {
        let t_s = self.next_second / 1_000_000 - 1;
        let acc = std::mem::take(&mut self.acc);
        let idle_now: u32 = self
            .children
            .iter()
            .flatten()
            .filter(|c| c.ready && !c.stopping)
            .map(|c| c.idle.len() as u32)
            .sum();
        let (daemon_busy, daemon_queued) = self
            .daemon
            .as_ref()
            .map_or((0, 0), |d| (d.busy, d.backlog.len() as u32));
        let row = SecondRow {
            t_s,
            processes: self.live_children,
            stopping: self.stopping_children,
            busy: self.busy_threads,
            idle: acc.idle_at_tick.unwrap_or(idle_now),
            queued: self.queue.len() as u32,
            max_queued: acc.max_queued.max(self.queue.len() as u32),
            spawned: acc.spawned,
            killed: acc.killed,
            exited: acc.exited,
            arrivals: acc.arrivals,
            completed: acc.completed,
            in_flight: self.live_conns - self.keepalive_parked_or_away(),
            keepalive: self.keepalive,
            max_wait_ms: acc.max_wait_us / 1_000,
            refused: acc.refused,
            daemon_busy,
            daemon_queued,
            status_503: acc.s503,
            status_504: acc.s504,
        };
        sink.second(&row);
        self.next_second += 1_000_000;
    }

    /// Connections that are not waiting for or holding service right now.
    fn keepalive_parked_or_away(&self) -> u32 {
        // in_flight counts requests queued, being served or waiting for a
        // daemon: every live connection except those idle between requests.
        self.keepalive + self.away
    }

    fn drain_controller(&mut self, sink: &mut dyn Sink) {
        while let Some(a) = self.ctl.poll_action() {
            self.apply(a, sink);
        }
        // Exited children the parent has now reaped (one tick late).
        if !self.unreaped.is_empty() {
            let ctl = &self.ctl;
            let (reaped, kept): (Vec<_>, Vec<_>) = self
                .unreaped
                .drain(..)
                .partition(|(id, _)| ctl.child(*id).is_none());
            self.unreaped = kept;
            for (id, slot) in reaped {
                sink.event(&SimEvent::Reaped {
                    at_us: self.now,
                    child: child_num(id),
                    slot,
                });
            }
        }
        while let Some(t) = self.ctl.poll_tick_record() {
            self.acc.idle_at_tick = Some(t.idle);
            sink.event(&SimEvent::Tick {
                at_us: us_of(t.at),
                record: t,
            });
        }
    }

    fn apply(&mut self, action: Action, sink: &mut dyn Sink) {
        match action {
            Action::Spawn(s) => {
                let child = SimChild {
                    id: s.child,
                    slot: s.slot,
                    ready: false,
                    stopping: false,
                    exiting: false,
                    not_accepting: false,
                    threads: vec![ThreadState::Dead; self.tpc as usize],
                    idle: Vec::with_capacity(self.tpc as usize),
                    busy: 0,
                    parked: 0,
                    counter: ConnectionCounter::new(
                        self.mpm,
                        self.cfg.pool.max_connections_per_child,
                    ),
                    acceptor_pos: None,
                    reason: ExitReason::Killed,
                };
                let idx = match self.free_children.pop() {
                    Some(i) => {
                        self.children[i as usize] = Some(child);
                        i
                    }
                    None => {
                        self.children.push(Some(child));
                        (self.children.len() - 1) as u32
                    }
                };
                self.live_children += 1;
                self.acc.spawned += 1;
                self.totals.spawned += 1;
                sink.event(&SimEvent::Spawned {
                    at_us: self.now,
                    child: child_num(s.child),
                    slot: s.slot,
                });
                let at = self.now + self.cfg.timing.fork_ready_us;
                self.push(at, Ev::ChildReady(idx));
            }
            Action::Kill { bucket, .. } => {
                if let Some(victim) = self.ctl.default_kill_victim(bucket) {
                    if let Some(idx) = self.find_child(victim) {
                        let busy = self.child(idx).map_or(0, |c| c.busy);
                        let slot = self.child(idx).map_or(0, |c| c.slot);
                        self.acc.killed += 1;
                        self.totals.killed += 1;
                        sink.event(&SimEvent::Killed {
                            at_us: self.now,
                            child: child_num(victim),
                            slot,
                            busy_threads: busy,
                        });
                        self.begin_stop(idx, ExitReason::Killed);
                    }
                }
            }
            Action::Stop { child, mode, .. } => {
                if let Some(idx) = self.find_child(child) {
                    match mode {
                        StopMode::Graceful => self.begin_stop(idx, ExitReason::Stopped),
                        StopMode::Immediate => self.schedule_exit(idx, 0),
                    }
                }
            }
            Action::Signal { child, .. } => {
                if let Some(idx) = self.find_child(child) {
                    self.schedule_exit(idx, 0);
                }
            }
            Action::Log(record) => sink.event(&SimEvent::Apache {
                at_us: us_of(record.at),
                record,
            }),
            Action::CloseListeners | Action::ReloadConfig | Action::Exit { .. } => {}
        }
    }

    fn child(&self, idx: ChildIdx) -> Option<&SimChild> {
        self.children.get(idx as usize).and_then(Option::as_ref)
    }

    fn child_mut(&mut self, idx: ChildIdx) -> Option<&mut SimChild> {
        self.children.get_mut(idx as usize).and_then(Option::as_mut)
    }

    fn find_child(&self, id: ChildId) -> Option<ChildIdx> {
        self.children
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.id == id))
            .map(|i| i as u32)
    }

    // ---- acceptor bookkeeping ------------------------------------------

    fn can_accept(c: &SimChild) -> bool {
        c.ready && !c.stopping && !c.exiting && !c.not_accepting && !c.idle.is_empty()
    }

    fn refresh_acceptor(&mut self, idx: ChildIdx) {
        let Some(c) = self.children.get(idx as usize).and_then(Option::as_ref) else {
            return;
        };
        let want = Self::can_accept(c);
        let pos = c.acceptor_pos;
        match (want, pos) {
            (true, None) => {
                self.acceptors.push(idx);
                let p = self.acceptors.len() - 1;
                if let Some(c) = self.child_mut(idx) {
                    c.acceptor_pos = Some(p);
                }
            }
            (false, Some(p)) => {
                self.acceptors.swap_remove(p);
                if let Some(&moved) = self.acceptors.get(p) {
                    if let Some(m) = self.child_mut(moved) {
                        m.acceptor_pos = Some(p);
                    }
                }
                if let Some(c) = self.child_mut(idx) {
                    c.acceptor_pos = None;
                }
            }
            _ => {}
        }
    }

    fn set_status(&mut self, idx: ChildIdx, thread: u32, status: ThreadStatus) {
        if let Some(slot) = self.child(idx).map(|c| c.slot) {
            let _ = self
                .ctl
                .scoreboard_mut()
                .set_thread_status(slot, thread, status);
        }
    }

    /// event (§6.5): a child stops accepting when no worker is idle or its
    /// connections reach ThreadsPerChild + factor × idle workers.
    fn update_event_throttle(&mut self, idx: ChildIdx) {
        if self.mpm != Mpm::Event {
            return;
        }
        let Some(c) = self.child(idx) else { return };
        if !c.ready || c.stopping {
            return;
        }
        let i = c.idle.len() as u32;
        let conns = c.busy + c.parked;
        let above = i == 0 || conns >= self.tpc + i * self.cfg.async_factor;
        if above != c.not_accepting {
            let slot = c.slot;
            if let Some(c) = self.child_mut(idx) {
                c.not_accepting = above;
            }
            let _ = self.ctl.scoreboard_mut().set_not_accepting(slot, above);
            if above && i == 0 {
                self.close_parked(idx);
            }
        }
        self.refresh_acceptor(idx);
    }

    // ---- connections ----------------------------------------------------

    fn new_conn(&mut self, arrival: Arrival, client: Option<u32>) -> ConnId {
        let conn = Conn {
            arrival,
            request: 0,
            on_this_connection: 0,
            since_us: self.now,
            state: ConnState::Away,
            client,
            epoch: 0,
            daemon: DaemonPhase::None,
        };
        self.live_conns += 1;
        self.away += 1;
        match self.free_conns.pop() {
            Some(id) => {
                self.conns[id as usize] = conn;
                id
            }
            None => {
                self.conns.push(conn);
                (self.conns.len() - 1) as ConnId
            }
        }
    }

    fn free_conn(&mut self, id: ConnId) {
        if self.conns[id as usize].state == ConnState::Away {
            self.away -= 1;
        }
        self.conns[id as usize].epoch = self.conns[id as usize].epoch.wrapping_add(1);
        self.live_conns -= 1;
        self.free_conns.push(id);
    }

    fn set_conn_state(&mut self, id: ConnId, state: ConnState) {
        let old = self.conns[id as usize].state;
        if old == ConnState::Away {
            self.away -= 1;
        }
        if state == ConnState::Away {
            self.away += 1;
        }
        self.conns[id as usize].state = state;
    }

    /// A connection reaches the server (new TCP connection).
    fn connect(&mut self, id: ConnId) {
        self.conns[id as usize].since_us = self.now;
        self.conns[id as usize].on_this_connection = 0;
        if self.queue.is_empty() && self.dispatch_to_acceptor(id) {
            return;
        }
        if self.queue.len() >= self.queue_cap {
            self.acc.refused += 1;
            self.totals.refused += 1;
            self.set_conn_state(id, ConnState::Away);
            let at = self.now + self.cfg.timing.syn_retry_us;
            self.push(at, Ev::Reconnect(id));
            return;
        }
        self.set_conn_state(id, ConnState::Queued);
        self.queue.push_back(id);
        self.acc.max_queued = self.acc.max_queued.max(self.queue.len() as u32);
    }

    /// Hand a connection to a random child with an idle thread.
    fn dispatch_to_acceptor(&mut self, id: ConnId) -> bool {
        while !self.acceptors.is_empty() {
            let pick = self.rng.random_range(0..self.acceptors.len());
            let idx = self.acceptors[pick];
            if self.accept_into(idx, id) {
                return true;
            }
        }
        false
    }

    /// The child `idx` accepts connection `id` into its most recently idle
    /// thread, unless MaxConnectionsPerChild stops it first.
    fn accept_into(&mut self, idx: ChildIdx, id: ConnId) -> bool {
        let check = match self.child_mut(idx) {
            Some(c) => c.counter.check_before_accept(),
            None => return false,
        };
        match check {
            AcceptCheck::Accept => {}
            AcceptCheck::ExitNow => {
                self.begin_stop(idx, ExitReason::MaxConnections);
                return false;
            }
            AcceptCheck::StopGracefully => {
                self.begin_stop(idx, ExitReason::MaxConnections);
                return false;
            }
        }
        let Some(thread) = self.child_mut(idx).and_then(|c| c.idle.pop()) else {
            self.refresh_acceptor(idx);
            return false;
        };
        if let Some(c) = self.child_mut(idx) {
            c.counter.on_accepted();
            c.threads[thread as usize] = ThreadState::Busy(id);
            c.busy += 1;
        }
        self.busy_threads += 1;
        self.set_status(idx, thread, ThreadStatus::BusyWrite);
        let wait = self.now - self.conns[id as usize].since_us;
        self.acc.max_wait_us = self.acc.max_wait_us.max(wait);
        self.set_conn_state(id, ConnState::Serving { child: idx, thread });
        self.start_request(id);
        self.update_event_throttle(idx);
        self.refresh_acceptor(idx);
        // event: after MaxConnectionsPerChild accepts the limit may be hit
        // now; the child notices at its next listener loop.
        if self.mpm == Mpm::Event {
            if let Some(c) = self.child_mut(idx) {
                if c.counter.check_before_accept() == AcceptCheck::StopGracefully {
                    self.begin_stop(idx, ExitReason::MaxConnections);
                }
            }
        }
        true
    }

    fn request_duration(&self, id: ConnId) -> u64 {
        let c = &self.conns[id as usize];
        c.arrival
            .request_duration_us(c.request)
            .unwrap_or(c.arrival.duration_us)
            .max(1)
    }

    /// The worker starts handling the connection's current request.
    fn start_request(&mut self, id: ConnId) {
        self.conns[id as usize].since_us = self.now;
        let dur = self.request_duration(id);
        if self.daemon.is_some() {
            self.daemon_connect(id);
        } else {
            self.push(self.now + dur, Ev::RequestDone(id));
        }
    }

    /// The response of the current request is complete (or an error was
    /// answered): keep-alive or close.
    fn finish_request(&mut self, id: ConnId, counted: bool) {
        if counted {
            self.acc.completed += 1;
            self.totals.completed += 1;
        }
        let (child, thread) = match self.conns[id as usize].state {
            ConnState::Serving { child, thread } => (child, thread),
            _ => return,
        };
        let stopping = self.child(child).is_none_or(|ch| ch.stopping);
        let c = &mut self.conns[id as usize];
        c.request += 1;
        c.on_this_connection += 1;
        let more = c.request < c.arrival.requests_per_conn;
        let ka = &self.cfg.keep_alive;
        let under_limit = ka.max_requests == 0 || c.on_this_connection <= ka.max_requests;
        if more && ka.enabled && ka.timeout_us > 0 && under_limit && !stopping {
            let think = c.arrival.think_us;
            c.epoch = c.epoch.wrapping_add(1);
            let epoch = c.epoch;
            self.keepalive += 1;
            if think < ka.timeout_us {
                let at = self.now + think;
                self.push(at, Ev::NextRequest(id, epoch));
            } else {
                let at = self.now + ka.timeout_us;
                self.push(at, Ev::KeepAliveTimeout(id, epoch));
            }
            if self.mpm == Mpm::Event {
                self.set_conn_state(id, ConnState::KeepAliveParked { child });
                if let Some(ch) = self.child_mut(child) {
                    ch.parked += 1;
                }
                self.release_thread(child, thread);
            } else {
                self.set_conn_state(id, ConnState::KeepAliveHeld { child, thread });
                self.set_status(child, thread, ThreadStatus::BusyKeepalive);
            }
            return;
        }
        // Close this TCP connection.
        self.close_conn_on_thread(id, child, thread, more);
    }

    /// The server closes a connection held by a thread; the client comes
    /// back on a new connection if it has requests left.
    fn close_conn_on_thread(&mut self, id: ConnId, child: ChildIdx, thread: u32, more: bool) {
        if let Some(ch) = self.child_mut(child) {
            ch.counter.on_connection_finished();
        }
        self.release_thread(child, thread);
        self.conn_closed(id, more);
    }

    fn conn_closed(&mut self, id: ConnId, more: bool) {
        if more {
            // The client sends the rest on a new connection after thinking.
            self.set_conn_state(id, ConnState::Away);
            let at = self.now + self.conns[id as usize].arrival.think_us;
            self.push(at, Ev::Reconnect(id));
            return;
        }
        let client = self.conns[id as usize].client;
        self.free_conn(id);
        if let Some(cl) = client {
            self.client_done(cl);
        }
    }

    fn release_thread(&mut self, idx: ChildIdx, thread: u32) {
        let Some(c) = self.child_mut(idx) else { return };
        if !matches!(c.threads[thread as usize], ThreadState::Busy(_)) {
            return;
        }
        c.busy -= 1;
        let stopping = c.stopping;
        self.busy_threads -= 1;
        if stopping {
            if let Some(c) = self.child_mut(idx) {
                c.threads[thread as usize] = ThreadState::Dead;
            }
            let status = if self.mpm == Mpm::Event {
                ThreadStatus::Graceful
            } else {
                ThreadStatus::Dead
            };
            self.set_status(idx, thread, status);
            self.maybe_exit(idx);
            return;
        }
        if let Some(c) = self.child_mut(idx) {
            c.threads[thread as usize] = ThreadState::Idle;
            c.idle.push(thread);
        }
        // The freed thread takes the next queued connection at once.
        if let Some(next) = self.queue.pop_front() {
            if self.accept_into(idx, next) {
                return;
            }
            self.queue.push_front(next);
            self.refill_from_queue();
        }
        if self
            .child(idx)
            .is_some_and(|c| c.threads[thread as usize] == ThreadState::Idle)
        {
            self.set_status(idx, thread, ThreadStatus::Ready);
        }
        self.update_event_throttle(idx);
        self.refresh_acceptor(idx);
    }

    /// Give queued connections to whatever child can take them.
    fn refill_from_queue(&mut self) {
        while !self.queue.is_empty() && !self.acceptors.is_empty() {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            if !self.dispatch_to_acceptor(id) {
                self.queue.push_front(id);
                break;
            }
        }
    }

    /// event: close every parked keep-alive connection of a child.
    fn close_parked(&mut self, idx: ChildIdx) {
        if self.child(idx).is_none_or(|c| c.parked == 0) {
            return;
        }
        let parked: Vec<ConnId> = (0..self.conns.len() as ConnId)
            .filter(|&id| {
                self.conns[id as usize].state == ConnState::KeepAliveParked { child: idx }
            })
            .collect();
        for id in parked {
            self.unpark(id, idx);
            if let Some(ch) = self.child_mut(idx) {
                ch.counter.on_connection_finished();
            }
            let more =
                self.conns[id as usize].request < self.conns[id as usize].arrival.requests_per_conn;
            self.conn_closed(id, more);
        }
    }

    fn unpark(&mut self, id: ConnId, idx: ChildIdx) {
        self.keepalive -= 1;
        self.conns[id as usize].epoch = self.conns[id as usize].epoch.wrapping_add(1);
        if let Some(ch) = self.child_mut(idx) {
            ch.parked -= 1;
        }
    }

    // ---- children ---------------------------------------------------------

    fn begin_stop(&mut self, idx: ChildIdx, reason: ExitReason) {
        let Some(c) = self.child_mut(idx) else { return };
        if c.stopping {
            return;
        }
        c.stopping = true;
        c.reason = reason;
        let slot = c.slot;
        let idle: Vec<u32> = std::mem::take(&mut c.idle);
        for &t in &idle {
            c.threads[t as usize] = ThreadState::Dead;
        }
        self.stopping_children += 1;
        self.refresh_acceptor(idx);
        let _ = self
            .ctl
            .scoreboard_mut()
            .begin_graceful_stop(self.mpm, slot, self.tpc);
        if self.mpm == Mpm::Worker {
            for &t in &idle {
                self.set_status(idx, t, ThreadStatus::Dead);
            }
        }
        // Kept-alive connections are not served again by a stopping child.
        let held: Vec<(ConnId, u32)> = self
            .child(idx)
            .map(|c| {
                c.threads
                    .iter()
                    .enumerate()
                    .filter_map(|(t, s)| match s {
                        ThreadState::Busy(id) => Some((*id, t as u32)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (id, t) in held {
            if let ConnState::KeepAliveHeld { .. } = self.conns[id as usize].state {
                self.keepalive -= 1;
                self.conns[id as usize].epoch = self.conns[id as usize].epoch.wrapping_add(1);
                self.set_conn_state(
                    id,
                    ConnState::Serving {
                        child: idx,
                        thread: t,
                    },
                );
                let more = self.conns[id as usize].request
                    < self.conns[id as usize].arrival.requests_per_conn;
                self.close_conn_on_thread(id, idx, t, more);
            }
        }
        self.close_parked(idx);
        self.maybe_exit(idx);
    }

    fn maybe_exit(&mut self, idx: ChildIdx) {
        let Some(c) = self.child(idx) else { return };
        if c.stopping && !c.exiting && c.busy == 0 && c.parked == 0 {
            self.schedule_exit(idx, self.cfg.timing.exit_us);
        }
    }

    fn schedule_exit(&mut self, idx: ChildIdx, after: u64) {
        if let Some(c) = self.child_mut(idx) {
            if c.exiting {
                return;
            }
            c.exiting = true;
        }
        self.refresh_acceptor(idx);
        let at = self.now + after;
        self.push(at, Ev::ChildExit(idx));
    }

    fn child_exit(&mut self, idx: ChildIdx, sink: &mut dyn Sink) {
        if self.mpm == Mpm::Prefork {
            // A prefork child that exits keeps its last status (the dummy
            // connection's `C`) until the parent reaps it: neither idle nor free.
            self.set_status(idx, 0, ThreadStatus::Closing);
        }
        // An exiting child is no acceptor (refresh removes it if it still is).
        if let Some(c) = self.child_mut(idx) {
            c.exiting = true;
        }
        self.refresh_acceptor(idx);
        let Some(c) = self.children.get_mut(idx as usize).and_then(Option::take) else {
            return;
        };
        // A child killed outright drops whatever it held.
        for s in &c.threads {
            if let ThreadState::Busy(id) = *s {
                self.busy_threads -= 1;
                if let ConnState::KeepAliveHeld { .. } = self.conns[id as usize].state {
                    self.keepalive -= 1;
                }
                self.conns[id as usize].epoch = self.conns[id as usize].epoch.wrapping_add(1);
                let more = self.conns[id as usize].request
                    < self.conns[id as usize].arrival.requests_per_conn;
                self.conn_closed(id, more);
            }
        }
        if c.stopping {
            self.stopping_children -= 1;
        }
        self.live_children -= 1;
        self.free_children.push(idx);
        self.acc.exited += 1;
        self.totals.exited += 1;
        sink.event(&SimEvent::Exited {
            at_us: self.now,
            child: child_num(c.id),
            slot: c.slot,
            reason: c.reason,
        });
        let _ = self
            .ctl
            .handle_child_exit(ts(self.now), c.id, ExitStatus::SUCCESS);
        self.ctl_touched = true;
        self.unreaped.push((c.id, c.slot));
    }

    fn child_ready(&mut self, idx: ChildIdx) {
        let tpc = self.tpc;
        let Some(c) = self.child_mut(idx) else { return };
        if c.stopping || c.exiting {
            return;
        }
        c.ready = true;
        for t in (0..tpc).rev() {
            c.threads[t as usize] = ThreadState::Idle;
            c.idle.push(t);
        }
        let slot = c.slot;
        let _ = self
            .ctl
            .scoreboard_mut()
            .set_thread_statuses(slot, tpc, ThreadStatus::Ready);
        // prefork and worker may have reached MaxConnectionsPerChild 0 < …
        self.refresh_acceptor(idx);
        self.refill_from_queue();
        self.update_event_throttle(idx);
    }

    // ---- load -----------------------------------------------------------

    fn client_done(&mut self, client: u32) {
        let target = self.step_concurrency();
        let cl = &mut self.clients[client as usize];
        cl.conn = None;
        if self.active_clients > target {
            cl.active = false;
            self.active_clients -= 1;
            return;
        }
        let at = self.now + self.cfg.timing.turnaround_us;
        self.push(at, Ev::ClientSend(client));
    }

    fn step_concurrency(&self) -> u32 {
        match (self.schedule, self.step) {
            (Some(s), Some(i)) => s.steps.get(i as usize).map_or(0, |st| st.concurrency),
            _ => 0,
        }
    }

    fn change_step(&mut self, i: u32) {
        self.step = Some(i);
        let target = self.step_concurrency();
        // Start clients up to the target; surplus clients stop after their
        // current connection.
        while self.active_clients < target {
            let free = self
                .clients
                .iter()
                .position(|c| !c.active && c.conn.is_none());
            let id = match free {
                Some(f) => f as u32,
                None => {
                    self.clients.push(Client {
                        active: false,
                        conn: None,
                    });
                    (self.clients.len() - 1) as u32
                }
            };
            self.clients[id as usize].active = true;
            self.active_clients += 1;
            self.push(self.now, Ev::ClientSend(id));
        }
        // Surplus clients stop before their next request: what is in
        // flight, queued connections included, completes (as the bench
        // harness's clients do).
    }

    fn client_send(&mut self, client: u32) {
        let Some(step) = self
            .schedule
            .zip(self.step)
            .and_then(|(s, i)| s.steps.get(i as usize))
            .copied()
        else {
            return;
        };
        if !self.clients[client as usize].active {
            return;
        }
        if self.active_clients > step.concurrency {
            self.clients[client as usize].active = false;
            self.active_clients -= 1;
            return;
        }
        let arrival = Arrival::new(self.now, step.request_us)
            .with_keep_alive(step.requests_per_conn, step.think_us);
        let id = self.new_conn(arrival, Some(client));
        self.clients[client as usize].conn = Some(id);
        self.acc.arrivals += 1;
        self.totals.arrivals += 1;
        self.connect(id);
    }

    // ---- daemon tier ------------------------------------------------------

    fn daemon_connect(&mut self, id: ConnId) {
        let Some(d) = self.daemon.as_mut() else {
            return;
        };
        if d.busy < d.model.processes * d.model.threads && d.backlog.is_empty() {
            d.busy += 1;
            self.conns[id as usize].daemon = DaemonPhase::Running;
            let dur = self.request_duration(id);
            self.push(self.now + dur, Ev::RequestDone(id));
            self.arm_socket_timeout(id);
            return;
        }
        if d.backlog.len() < d.model.listen_backlog as usize + 1 {
            d.backlog.push_back(id);
            self.conns[id as usize].daemon = DaemonPhase::Backlog;
            self.arm_socket_timeout(id);
            return;
        }
        let since = match self.conns[id as usize].daemon {
            DaemonPhase::Retrying { since } => since,
            _ => self.now,
        };
        let elapsed = self.now - since;
        let timeout = d.model.connect_timeout_us;
        if elapsed >= timeout {
            self.conns[id as usize].daemon = DaemonPhase::None;
            self.acc.s503 += 1;
            self.totals.status_503 += 1;
            self.finish_request(id, false);
            return;
        }
        // mod_wsgi sleeps 0.125 s between retries for the first 2 s, then 1 s.
        let step = if elapsed < 2_000_000 {
            125_000
        } else {
            1_000_000
        };
        self.conns[id as usize].daemon = DaemonPhase::Retrying { since };
        let at = self.now + step.min(timeout - elapsed).max(1);
        self.push(at, Ev::DaemonRetry(id));
    }

    fn arm_socket_timeout(&mut self, id: ConnId) {
        let Some(d) = self.daemon.as_ref() else {
            return;
        };
        if d.model.socket_timeout_us > 0 {
            let epoch = self.conns[id as usize].epoch;
            let at = self.now + d.model.socket_timeout_us;
            self.push(at, Ev::SocketTimeout(id, epoch));
        }
    }

    /// A daemon thread became free: it accepts the oldest backlog entry.
    fn daemon_thread_free(&mut self) {
        loop {
            let Some(d) = self.daemon.as_mut() else {
                return;
            };
            d.busy -= 1;
            let Some(next) = d.backlog.pop_front() else {
                return;
            };
            d.busy += 1;
            let queue_timeout = d.model.queue_timeout_us;
            let phase = self.conns[next as usize].daemon;
            let waited = self.now - self.conns[next as usize].since_us;
            if phase == DaemonPhase::Abandoned {
                // The front end already answered 504; the daemon still runs it.
                let dur = self.request_duration(next);
                self.push(self.now + dur, Ev::RequestDone(next));
                return;
            }
            if queue_timeout > 0 && waited > queue_timeout {
                // 504 without running the application; the thread is free again.
                self.conns[next as usize].daemon = DaemonPhase::None;
                self.acc.s504 += 1;
                self.totals.status_504 += 1;
                self.finish_request(next, false);
                continue;
            }
            self.conns[next as usize].daemon = DaemonPhase::Running;
            let dur = self.request_duration(next);
            self.push(self.now + dur, Ev::RequestDone(next));
            return;
        }
    }

    // ---- events -----------------------------------------------------------

    fn handle(&mut self, ev: Ev, sink: &mut dyn Sink) {
        match ev {
            Ev::Step(i) => self.change_step(i),
            Ev::ClientSend(c) => self.client_send(c),
            Ev::RequestDone(id) => {
                match self.conns[id as usize].daemon {
                    DaemonPhase::Running => {
                        self.conns[id as usize].daemon = DaemonPhase::None;
                        self.conns[id as usize].epoch =
                            self.conns[id as usize].epoch.wrapping_add(1);
                        self.daemon_thread_free();
                    }
                    DaemonPhase::Abandoned => {
                        // The front end is long gone; only the daemon thread frees.
                        self.conns[id as usize].daemon = DaemonPhase::None;
                        self.daemon_thread_free();
                        let client = self.conns[id as usize].client;
                        self.free_conn(id);
                        if let Some(cl) = client {
                            self.client_done(cl);
                        }
                        return;
                    }
                    _ => {}
                }
                self.finish_request(id, true);
            }
            Ev::NextRequest(id, epoch) => {
                if self.conns[id as usize].epoch != epoch {
                    return;
                }
                self.next_request(id);
            }
            Ev::KeepAliveTimeout(id, epoch) => {
                if self.conns[id as usize].epoch != epoch {
                    return;
                }
                let more = self.conns[id as usize].request
                    < self.conns[id as usize].arrival.requests_per_conn;
                match self.conns[id as usize].state {
                    ConnState::KeepAliveHeld { child, thread } => {
                        self.keepalive -= 1;
                        self.set_conn_state(id, ConnState::Serving { child, thread });
                        self.close_conn_on_thread(id, child, thread, more);
                    }
                    ConnState::KeepAliveParked { child } => {
                        self.unpark(id, child);
                        if let Some(ch) = self.child_mut(child) {
                            ch.counter.on_connection_finished();
                        }
                        self.conn_closed(id, more);
                        self.update_event_throttle(child);
                        self.maybe_exit(child);
                    }
                    _ => {}
                }
            }
            Ev::Reconnect(id) => {
                self.conns[id as usize].since_us = self.now;
                self.connect(id);
            }
            Ev::ChildReady(idx) => self.child_ready(idx),
            Ev::ChildExit(idx) => self.child_exit(idx, sink),
            Ev::DaemonRetry(id) => self.daemon_connect(id),
            Ev::SocketTimeout(id, epoch) => {
                if self.conns[id as usize].epoch != epoch {
                    return;
                }
                match self.conns[id as usize].daemon {
                    DaemonPhase::Backlog => {
                        // Never picked up: answered 504, removed from nothing —
                        // the daemon will still accept it later and run it.
                        self.conns[id as usize].daemon = DaemonPhase::Abandoned;
                        self.acc.s504 += 1;
                        self.totals.status_504 += 1;
                        self.detach_front(id);
                    }
                    DaemonPhase::Running => {
                        self.conns[id as usize].daemon = DaemonPhase::Abandoned;
                        self.acc.s504 += 1;
                        self.totals.status_504 += 1;
                        self.detach_front(id);
                    }
                    _ => {}
                }
            }
        }
    }

    /// The front end answers (504) while the daemon keeps the request: free
    /// the front-end thread and close the client's connection; the
    /// connection record stays until the daemon finishes with it.
    fn detach_front(&mut self, id: ConnId) {
        if let ConnState::Serving { child, thread } = self.conns[id as usize].state {
            if let Some(ch) = self.child_mut(child) {
                ch.counter.on_connection_finished();
            }
            self.set_conn_state(id, ConnState::Away);
            self.release_thread(child, thread);
        }
    }

    fn next_request(&mut self, id: ConnId) {
        self.conns[id as usize].since_us = self.now;
        match self.conns[id as usize].state {
            ConnState::KeepAliveHeld { child, thread } => {
                self.keepalive -= 1;
                self.conns[id as usize].epoch = self.conns[id as usize].epoch.wrapping_add(1);
                self.set_conn_state(id, ConnState::Serving { child, thread });
                self.set_status(child, thread, ThreadStatus::BusyWrite);
                self.start_request(id);
            }
            ConnState::KeepAliveParked { child } => {
                self.unpark(id, child);
                // The listener needs an idle worker of this child right now.
                let thread = self.child_mut(child).and_then(|c| c.idle.pop());
                match thread {
                    Some(t) => {
                        if let Some(c) = self.child_mut(child) {
                            c.threads[t as usize] = ThreadState::Busy(id);
                            c.busy += 1;
                        }
                        self.busy_threads += 1;
                        self.set_status(child, t, ThreadStatus::BusyWrite);
                        self.set_conn_state(id, ConnState::Serving { child, thread: t });
                        self.start_request(id);
                        self.update_event_throttle(child);
                        self.refresh_acceptor(child);
                    }
                    None => {
                        // No worker: the connection is closed; the client
                        // reconnects and sends the request again.
                        if let Some(ch) = self.child_mut(child) {
                            ch.counter.on_connection_finished();
                        }
                        self.set_conn_state(id, ConnState::Away);
                        self.connect(id);
                        self.maybe_exit(child);
                    }
                }
            }
            _ => {}
        }
    }
}

fn child_num(id: ChildId) -> u64 {
    id.serial()
}

#[cfg(test)]
mod tests;
