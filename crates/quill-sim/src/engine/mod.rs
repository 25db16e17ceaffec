//! The discrete-event engine: Apache's children, their worker threads, the
//! accept queue, keep-alive, kill victims and (optionally) a mod_wsgi daemon
//! group, driven in virtual time around the full pool controller (quill-mpm).
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
//! engine jumps from one event to the next (a queue of timed events: a
//! calendar of the next two seconds and a heap for the rest; a FIFO
//! of daemon socket-timeouts, the next open-loop arrival and the
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
use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::collections::VecDeque;

use crate::load::{Arrival, Arrivals, Load, Schedule};
use crate::timeline::SecondRow;

mod children;
mod clients;
mod conns;
mod daemon;
mod queue;

use queue::{Ev, EventQueue};

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
    /// Linux drops a SYN when the accept queue is full; the client
    /// retransmits it after this long, then after twice as long each time
    /// (the initial retransmission timeout, 1 s).
    pub syn_rto_us: u64,
    /// Retransmissions before the client gives up (`tcp_syn_retries`, 6):
    /// with a 1 s timeout the SYNs go out at 0, 1, 3, 7, 15, 31 and 63 s
    /// and the connect times out at 127 s.
    pub syn_retries: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            startup_us: 40_000,
            fork_ready_us: 30_000,
            exit_us: 5_000,
            turnaround_us: 1_000,
            syn_rto_us: 1_000_000,
            syn_retries: 6,
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
    /// The scoreboard the controller reads at its tick at `at_us`, just
    /// before it reads it (for the parity test of the real driver, which
    /// replays it).
    fn tick_input(&mut self, _at_us: u64, _scoreboard: &quill_mpm::Scoreboard) {}
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
    /// SYNs dropped because the accept queue was full (every
    /// retransmission counts).
    pub refused: u64,
    /// Connections whose client gave up after its last SYN retransmission.
    pub connect_timeouts: u64,
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
    /// SYN retransmissions of the connection attempt under way.
    syn_retries: u32,
    /// Closed loop: when its client stops, the connection is closed at
    /// once rather than left to the server's KeepAliveTimeout.
    close_on_stop: bool,
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
    connect_timeouts: u64,
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
    events: EventQueue,
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
    /// When the next open-loop arrival is due (`u64::MAX`: none); the
    /// arrival itself stays in `arrivals` until then.
    next_arrival_us: u64,
    schedule: Option<&'a Schedule>,
    step: Option<u32>,
    clients: Vec<Client>,
    active_clients: u32,
    daemon: Option<Daemon>,
    /// Daemon socket-timeouts as (deadline, connection, epoch). They all
    /// have the same delay, so they are armed in deadline order and a FIFO
    /// replaces the heap for them (most are cancelled long before they are
    /// due: one per request, 60 s ahead, would otherwise fill the heap).
    socket_timeouts: VecDeque<(u64, ConnId, u32)>,
    /// A `handle_*` call may have queued controller actions.
    ctl_touched: bool,
    /// The controller's `poll_timeout` in µs (`u64::MAX`: none), read
    /// again after each `handle_*` call (nothing else changes it).
    ctl_next_us: u64,
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
            events: EventQueue::default(),
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
            next_arrival_us: u64::MAX,
            schedule,
            step: None,
            clients: Vec::new(),
            active_clients: 0,
            daemon,
            socket_timeouts: VecDeque::new(),
            ctl_touched: false,
            ctl_next_us: u64::MAX,
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

    #[inline(always)]
    fn push(&mut self, at: u64, ev: Ev) {
        self.events.push(self.now, at, ev);
    }

    fn pull_arrival(&mut self) {
        if let Some(it) = self.arrivals.as_mut() {
            // Kept beside the heap, not in it: one heap push and pop less
            // per request on open-loop loads.
            self.next_arrival_us = it.next_at_us();
        }
    }

    /// The next open-loop arrival reaches the server.
    fn arrive(&mut self) {
        if let Some(a) = self.arrivals.as_mut().and_then(Iterator::next) {
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
            let next_ev = self.events.next_at().unwrap_or(u64::MAX);
            let next_arrival = self.next_arrival_us;
            let next_socket = self.next_socket_timeout().unwrap_or(u64::MAX);
            let next = next_arrival
                .min(next_ev)
                .min(self.ctl_next_us)
                .min(next_socket);
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
            if next_arrival == next {
                self.arrive();
            } else if next_socket == next {
                if let Some((_, id, epoch)) = self.socket_timeouts.pop_front() {
                    self.socket_timeout(id, epoch);
                }
            } else if next_ev == next {
                if let Some((_, ev)) = self.events.pop() {
                    self.handle(ev, sink);
                }
            } else {
                sink.tick_input(next, self.ctl.scoreboard());
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
            connect_timeouts: acc.connect_timeouts,
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
        self.ctl_next_us = self.ctl.poll_timeout().map_or(u64::MAX, us_of);
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
                if self.client_stops(id) {
                    self.stop_sending(id, epoch);
                    return;
                }
                self.next_request(id);
            }
            Ev::KeepAliveTimeout(id, epoch) => {
                if self.conns[id as usize].epoch != epoch {
                    return;
                }
                self.close_kept_alive(id);
            }
            Ev::Reconnect(id) => {
                // A client that stopped while its connection was closed does
                // not come back (one retransmitting a SYN is still connecting).
                if self.conns[id as usize].syn_retries == 0 && self.client_stops(id) {
                    self.conn_closed(id, false);
                    return;
                }
                self.conns[id as usize].since_us = self.now;
                self.connect(id);
            }
            Ev::ConnectTimeout(id) => {
                self.acc.connect_timeouts += 1;
                self.totals.connect_timeouts += 1;
                self.conn_closed(id, false);
            }
            Ev::ChildReady(idx) => self.child_ready(idx),
            Ev::ChildExit(idx) => self.child_exit(idx, sink),
            Ev::DaemonRetry(id) => self.daemon_connect(id),
        }
    }
}

fn child_num(id: ChildId) -> u64 {
    id.serial()
}

#[cfg(test)]
mod tests;
