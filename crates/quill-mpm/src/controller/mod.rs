//! The parent process's control loop as a sans-IO state machine.
//!
//! Structure mirrors httpd so each rule can be checked against the reference:
//! * this file — state, public API, small helpers;
//! * [`main_loop`] — `*_run()` (start-up), `server_main_loop()` (wait step,
//!   reaping, the crash fast path), `make_child()`;
//! * [`maintenance`] — `perform_idle_server_maintenance()` for each MPM;
//! * [`shutdown`] — what follows the main loop: restarts, stops, the
//!   graceful-stop wait and `ap_reclaim_child_processes()`.

mod main_loop;
mod maintenance;
mod shutdown;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use crate::action::{Action, TickRecord};
use crate::child::{ChildId, ChildRecord, ChildState, ChildView, ExitStatus, Generation};
use crate::config::{ConfigError, Mpm, PoolConfig};
use crate::messages::{DaemonCounts, LogRecord, Messages};
use crate::scoreboard::{Quiescing, Scoreboard, ThreadStatus};
use crate::time::Timestamp;

use shutdown::Reclaim;
pub use shutdown::{GRACEFUL_STOP_CHECK_INTERVAL, RECLAIM_FIRST_WAIT, RECLAIM_MAX_WAIT};

/// The wait step sleeps this long when no child has exited (`ap_wait_or_timeout`).
pub const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(1);

/// After a failed fork httpd sleeps this long before going on.
pub const FORK_FAILURE_BACKOFF: Duration = Duration::from_secs(10);

/// Spawning rounds after a graceful restart that do not double the spawn rate.
pub const GRACEFUL_RESTART_HOLD_OFF: u32 = 10;

/// Signals the parent itself receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ParentSignal {
    /// SIGTERM / SIGINT: stop now.
    Stop,
    /// SIGWINCH: stop gracefully (bounded by GracefulShutdownTimeout).
    GracefulStop,
    /// SIGHUP: kill all children, re-read the config, start afresh.
    Restart,
    /// SIGUSR1: new generation; old children finish their work and are replaced.
    GracefulRestart,
}

/// What the parent is doing between driver calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ParentState {
    /// In the main loop, sleeping in the wait step until the next tick.
    Running,
    /// Sleeping 10 s after a failed fork.
    ForkBackoff,
    /// Graceful stop: checking every second whether children are gone.
    GracefulStopping,
    /// Reclaiming children (stop or hard restart), escalating signals.
    Reclaiming,
    /// Waiting for the driver to re-read the configuration.
    AwaitingConfig,
    /// The parent has exited.
    Exited {
        /// its exit code
        code: i32,
    },
}

/// A driver report the controller cannot accept.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ControllerError {
    /// The child was never spawned by this controller or is already reaped.
    #[error("{0} is not a child this controller is tracking")]
    UnknownChild(ChildId),
    /// The child's exit (or spawn failure) was already reported.
    #[error("{0} has already been reported as exited")]
    ChildAlreadyExited(ChildId),
    /// `handle_config_reloaded` outside a restart.
    #[error("no configuration reload was requested; wait for Action::ReloadConfig")]
    NotAwaitingConfig,
    /// The reloaded configuration is invalid or changes a lifetime-fixed value.
    #[error("reloaded configuration rejected: {0}")]
    InvalidConfig(#[from] ConfigError),
}

/// Strings httpd prints that are not MPM settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerIdentity {
    /// `ap_get_server_description()`, e.g. `Apache/2.4.71 (Debian)`.
    pub server_description: String,
    /// `CoreDumpDirectory` (defaults to ServerRoot), named when a child dumps core.
    pub core_dump_directory: String,
}

impl Default for ServerIdentity {
    fn default() -> Self {
        ServerIdentity {
            server_description: concat!("Quill/", env!("CARGO_PKG_VERSION")).to_owned(),
            core_dump_directory: ".".to_owned(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Running {
        wake_at: Timestamp,
    },
    ForkBackoff {
        until: Timestamp,
    },
    GracefulStopping {
        next_check: Timestamp,
        cutoff: Option<Timestamp>,
    },
    Reclaiming(Reclaim),
    AwaitingConfig,
    Exited {
        code: i32,
    },
}

/// How `ap_process_child_status` classified an exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExitClass {
    Normal,
    Sick,
    Fatal,
}

/// What the main loop does after reaping one child.
enum AfterReap {
    /// `continue`: back to the wait step.
    Continue,
    /// worker/event crash fast path: start `remaining_children_to_start` now.
    StartRemaining,
    /// prefork fatal child: `prefork_run` returns an error and httpd exits.
    MpmRunFailed,
}

/// The httpd parent process for one MPM, without I/O.
///
/// ```text
///   driver                                   Controller
///   ──────                                   ──────────
///   new(config, now) ───────────────────────▶ start-up forks (StartServers)
///   loop {
///     while let Some(a) = poll_action()  ◀─── Spawn / Kill / Stop / Signal / Log …
///       perform a (fork, write the pipe of death, …)
///     children write the scoreboard ────────▶ scoreboard_mut()
///     a child exits ────────────────────────▶ handle_child_exit(t, child, status)
///     t == poll_timeout() ──────────────────▶ handle_timeout(t): reap, maintain
///     a signal arrives ─────────────────────▶ handle_signal(t, signal)
///   }
/// ```
///
/// Timing follows httpd's `ap_wait_or_timeout` exactly (reference §5): after
/// every loop iteration the parent polls for exited children; if one is
/// waiting it is reaped at once and the loop polls again (no maintenance);
/// otherwise the parent sleeps [`MAINTENANCE_INTERVAL`] and runs maintenance
/// when it wakes. Exits reported while it sleeps are therefore reaped right
/// *after* the next tick, so a child killed at tick k is still in the
/// scoreboard (as a zombie) during tick k+1.
#[derive(Debug)]
pub struct Controller {
    config: PoolConfig,
    identity: ServerIdentity,
    messages: Messages,
    scoreboard: Scoreboard,
    children: BTreeMap<ChildId, ChildRecord>,
    /// Children whose slot a newer worker child took over, newest last
    /// (httpd's `extras` list, which it walks newest first).
    extras: Vec<ChildId>,
    /// Exited children not yet reaped, in the order their exits were reported.
    exited: VecDeque<ChildId>,
    next_child_serial: u64,
    generation: Generation,

    // httpd's retained data (survives restarts).
    spawn_rate: Vec<u32>,
    hold_off: u32,
    max_used: u32,
    maxclients_reported: bool,
    near_maxclients_reported: bool,
    sick_child_detected: bool,
    had_healthy_child: bool,
    active_daemons: u32,
    total_daemons: u32,
    next_prefork_kill_bucket: u32,
    was_graceful: bool,

    // server_main_loop's locals.
    remaining_children_to_start: u32,
    successive_kills: u32,

    // Signal flags (unixd's retained data).
    shutdown_pending: bool,
    restart_pending: bool,
    is_ungraceful: bool,
    child_fatal: bool,

    phase: Phase,
    actions: VecDeque<Action>,
    tick_records: VecDeque<TickRecord>,
}

impl Controller {
    /// Starts the parent at `now`: forks `min(StartServers, limit)` children
    /// into the lowest free slots (queued as [`Action::Spawn`]) and schedules
    /// the first tick one second later.
    pub fn new(config: PoolConfig, now: Timestamp) -> Result<Self, ConfigError> {
        Self::with_identity(config, ServerIdentity::default(), now)
    }

    /// Like [`Controller::new`] with the server description and core-dump
    /// directory httpd prints in some messages.
    pub fn with_identity(
        config: PoolConfig,
        identity: ServerIdentity,
        now: Timestamp,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let buckets = config.num_buckets as usize;
        let mut controller = Controller {
            messages: Messages { mpm: config.mpm },
            scoreboard: Scoreboard::new(config.server_limit, config.thread_limit),
            children: BTreeMap::new(),
            extras: Vec::new(),
            exited: VecDeque::new(),
            next_child_serial: 1,
            generation: Generation(0),
            spawn_rate: vec![1; buckets],
            hold_off: 0,
            max_used: 0,
            maxclients_reported: false,
            near_maxclients_reported: false,
            sick_child_detected: false,
            had_healthy_child: false,
            active_daemons: 0,
            total_daemons: 0,
            next_prefork_kill_bucket: 0,
            was_graceful: false,
            remaining_children_to_start: 0,
            successive_kills: 0,
            shutdown_pending: false,
            restart_pending: false,
            is_ungraceful: false,
            child_fatal: false,
            phase: Phase::AwaitingConfig,
            actions: VecDeque::new(),
            tick_records: VecDeque::new(),
            config,
            identity,
        };
        controller.run(now);
        Ok(controller)
    }

    // ------------------------------------------------------------------
    // Inputs
    // ------------------------------------------------------------------

    /// Advances the parent to `now`. Does nothing before [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        match self.phase {
            Phase::Running { wake_at } if now >= wake_at => self.after_wait_timeout(now),
            Phase::ForkBackoff { until } if now >= until => self.continue_main_loop(now),
            Phase::GracefulStopping { next_check, .. } if now >= next_check => {
                self.graceful_stop_check(now)
            }
            Phase::Reclaiming(reclaim) if now >= reclaim.next_poll => self.reclaim_poll(now),
            _ => {}
        }
    }

    /// A child process has exited (the driver saw it via `waitpid` or in its
    /// model). The parent reaps it at its next wait step; until then the
    /// child keeps its scoreboard slot as a zombie.
    pub fn handle_child_exit(
        &mut self,
        now: Timestamp,
        child: ChildId,
        status: ExitStatus,
    ) -> Result<(), ControllerError> {
        let record = self
            .children
            .get_mut(&child)
            .ok_or(ControllerError::UnknownChild(child))?;
        if !record.is_running() {
            return Err(ControllerError::ChildAlreadyExited(child));
        }
        record.state = ChildState::Exited { at: now, status };
        self.exited.push_back(child);
        Ok(())
    }

    /// The fork for an [`Action::Spawn`] failed. The slot is released, httpd's
    /// error is logged, and a parent in its main loop sleeps
    /// [`FORK_FAILURE_BACKOFF`] before its next wait step.
    ///
    /// Simplification: httpd learns of the failure synchronously inside the
    /// spawning loop (start-up stops forking, maintenance goes on with the
    /// next slot after another 10 s). Here the other forks of the same batch
    /// were already issued.
    pub fn handle_spawn_failed(
        &mut self,
        now: Timestamp,
        child: ChildId,
    ) -> Result<(), ControllerError> {
        let record = self
            .children
            .get(&child)
            .ok_or(ControllerError::UnknownChild(child))?;
        if !record.is_running() {
            return Err(ControllerError::ChildAlreadyExited(child));
        }
        let slot = record.slot;
        let displaced = record.took_over_from;
        self.children.remove(&child);
        if self.scoreboard.slot(slot).child == Some(child) {
            // In httpd the failed fork never touched the slot: a worker
            // child it would have taken over keeps it (still stopping),
            // unless that child has been reaped meanwhile.
            let displaced = displaced.filter(|previous| self.children.contains_key(previous));
            if let Some(previous) = displaced {
                self.extras.retain(|extra| *extra != previous);
            }
            if let Some(process) = self.scoreboard.slot_mut(slot) {
                process.child = displaced;
                if displaced.is_some() {
                    process.quiescing = Quiescing::Announced;
                }
            }
            match self.config.mpm {
                Mpm::Prefork => self.scoreboard.force_status(slot, 0, ThreadStatus::Dead),
                Mpm::Event => {
                    self.active_daemons = self.active_daemons.saturating_sub(1);
                    self.total_daemons = self.total_daemons.saturating_sub(1);
                }
                Mpm::Worker => {}
            }
        }
        self.log(self.messages.fork_failed(now));
        if let Phase::Running { .. } = self.phase {
            self.phase = Phase::ForkBackoff {
                until: now + FORK_FAILURE_BACKOFF,
            };
        }
        Ok(())
    }

    /// Records the OS pid of a forked child so log lines show it (otherwise
    /// they show the child's serial number).
    pub fn handle_child_pid(&mut self, child: ChildId, os_pid: u32) -> Result<(), ControllerError> {
        let record = self
            .children
            .get_mut(&child)
            .ok_or(ControllerError::UnknownChild(child))?;
        record.os_pid = Some(os_pid);
        Ok(())
    }

    /// A signal reached the parent. Like httpd's handlers it only sets flags,
    /// but it also cuts short whatever sleep the parent is in, so the
    /// interrupted step runs at `now` (in the main loop that means one
    /// maintenance run before the loop exits — reference §5).
    pub fn handle_signal(&mut self, now: Timestamp, signal: ParentSignal) {
        if matches!(self.phase, Phase::Exited { .. }) {
            return;
        }
        match signal {
            ParentSignal::Stop | ParentSignal::GracefulStop => {
                let graceful = signal == ParentSignal::GracefulStop;
                if !(self.shutdown_pending && (self.is_ungraceful || graceful)) {
                    self.shutdown_pending = true;
                    if !graceful {
                        self.is_ungraceful = true;
                    }
                }
            }
            ParentSignal::Restart | ParentSignal::GracefulRestart => {
                let graceful = signal == ParentSignal::GracefulRestart;
                if !(self.restart_pending && (self.is_ungraceful || graceful)) {
                    self.restart_pending = true;
                    if !graceful {
                        self.is_ungraceful = true;
                    }
                }
            }
        }
        match self.phase {
            Phase::Running { .. } => self.after_wait_timeout(now),
            Phase::ForkBackoff { .. } => self.continue_main_loop(now),
            Phase::GracefulStopping { .. } => self.graceful_stop_check(now),
            Phase::Reclaiming(_) => self.reclaim_poll(now),
            Phase::AwaitingConfig | Phase::Exited { .. } => {}
        }
    }

    /// The driver re-read the configuration after [`Action::ReloadConfig`].
    /// The parent re-enters its run function: after a graceful restart the
    /// new generation replaces old children one for one as they are reaped;
    /// after a hard restart StartServers children are forked at once.
    pub fn handle_config_reloaded(
        &mut self,
        now: Timestamp,
        config: PoolConfig,
    ) -> Result<(), ControllerError> {
        if !matches!(self.phase, Phase::AwaitingConfig) {
            return Err(ControllerError::NotAwaitingConfig);
        }
        config.validate()?;
        self.config.check_restart_compatible(&config)?;
        self.config = config;
        // A static reset by the MPM's pre_config hook at every config read.
        self.had_healthy_child = false;
        self.run(now);
        Ok(())
    }

    /// Re-reading the configuration failed: httpd exits with status 1 (the
    /// config reader, not the MPM, reports why). `now` is kept for symmetry
    /// with the other inputs.
    pub fn handle_config_reload_failed(&mut self, _now: Timestamp) {
        if matches!(self.phase, Phase::AwaitingConfig) {
            self.exit(1);
        }
    }

    /// Child-side scoreboard writes (thread statuses, quiescing, not_accepting).
    #[inline]
    pub fn scoreboard_mut(&mut self) -> &mut Scoreboard {
        &mut self.scoreboard
    }

    // ------------------------------------------------------------------
    // Outputs
    // ------------------------------------------------------------------

    /// The next instruction for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next maintenance decision record (one per bucket per tick).
    /// Records queue up until polled.
    pub fn poll_tick_record(&mut self) -> Option<TickRecord> {
        self.tick_records.pop_front()
    }

    /// All pending actions, in order (`poll_action` until `None`).
    pub fn drain_actions(&mut self) -> impl Iterator<Item = Action> + '_ {
        self.actions.drain(..)
    }

    /// All pending tick records, in order.
    pub fn drain_tick_records(&mut self) -> impl Iterator<Item = TickRecord> + '_ {
        self.tick_records.drain(..)
    }

    /// When the parent next wakes up by itself; `None` while it waits for a
    /// config reload or after it exited.
    #[inline]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.phase {
            Phase::Running { wake_at } => Some(wake_at),
            Phase::ForkBackoff { until } => Some(until),
            Phase::GracefulStopping { next_check, .. } => Some(next_check),
            Phase::Reclaiming(reclaim) => Some(reclaim.next_poll),
            Phase::AwaitingConfig | Phase::Exited { .. } => None,
        }
    }

    // ------------------------------------------------------------------
    // Inspection
    // ------------------------------------------------------------------

    /// The configuration in force.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// The scoreboard.
    #[inline]
    pub fn scoreboard(&self) -> &Scoreboard {
        &self.scoreboard
    }

    /// The running generation.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// What the parent is doing.
    pub fn state(&self) -> ParentState {
        match self.phase {
            Phase::Running { .. } => ParentState::Running,
            Phase::ForkBackoff { .. } => ParentState::ForkBackoff,
            Phase::GracefulStopping { .. } => ParentState::GracefulStopping,
            Phase::Reclaiming(_) => ParentState::Reclaiming,
            Phase::AwaitingConfig => ParentState::AwaitingConfig,
            Phase::Exited { code } => ParentState::Exited { code },
        }
    }

    /// One tracked child.
    pub fn child(&self, child: ChildId) -> Option<ChildView> {
        self.children
            .get(&child)
            .map(|record| self.view(child, record))
    }

    /// Every tracked child (running or exited-not-reaped), oldest first.
    pub fn children(&self) -> impl Iterator<Item = ChildView> + '_ {
        self.children
            .iter()
            .map(|(id, record)| self.view(*id, record))
    }

    /// A bucket's current spawn rate (0 for buckets that do not exist).
    pub fn spawn_rate(&self, bucket: u32) -> u32 {
        self.spawn_rate.get(bucket as usize).copied().unwrap_or(0)
    }

    /// Spawning rounds left that will not double the rate.
    pub fn hold_off(&self) -> u32 {
        self.hold_off
    }

    /// (event) Children not known to be stopping.
    pub fn active_daemons(&self) -> u32 {
        self.active_daemons
    }

    /// (event) Children holding a slot, stopping and unreaped ones included.
    pub fn total_daemons(&self) -> u32 {
        self.total_daemons
    }

    /// Children still to be started after a graceful restart.
    pub fn remaining_children_to_start(&self) -> u32 {
        self.remaining_children_to_start
    }

    /// The child that should read a maintenance [`Action::Kill`] byte, per
    /// the reference's observation on Linux: the **oldest** current-generation
    /// child of the bucket that is not already stopping. For prefork the
    /// oldest child that is idle (READY — it would accept the dummy
    /// connection) is preferred; if none is idle, the oldest one, which a
    /// driver should treat as "the next child to finish a connection".
    ///
    /// `None` if the bucket has no candidate (the byte then waits in the pipe).
    pub fn default_kill_victim(&self, bucket: u32) -> Option<ChildId> {
        let mut candidates = self.children.iter().filter(|(id, record)| {
            let slot = self.scoreboard.slot(record.slot);
            record.is_running()
                && record.bucket == bucket
                && record.generation == self.generation
                && slot.child == Some(**id)
                && slot.quiescing == Quiescing::No
        });
        if self.config.mpm == Mpm::Prefork {
            let idle = candidates
                .clone()
                .find(|(_, record)| self.scoreboard.status(record.slot, 0) == ThreadStatus::Ready);
            if let Some((id, _)) = idle {
                return Some(*id);
            }
        }
        candidates.next().map(|(id, _)| *id)
    }

    fn view(&self, id: ChildId, record: &ChildRecord) -> ChildView {
        ChildView {
            id,
            slot: record.slot,
            bucket: record.bucket,
            generation: record.generation,
            spawned_at: record.spawned_at,
            os_pid: record.os_pid,
            state: record.state,
            in_scoreboard: self.scoreboard.slot(record.slot).child == Some(id),
        }
    }

    // ------------------------------------------------------------------
    // Small helpers
    // ------------------------------------------------------------------

    fn log(&mut self, record: LogRecord) {
        self.actions.push_back(Action::Log(record));
    }

    fn exit(&mut self, code: i32) {
        self.phase = Phase::Exited { code };
        self.actions.push_back(Action::Exit { code });
    }

    fn pid_for_log(&self, child: ChildId) -> u64 {
        self.children
            .get(&child)
            .and_then(|record| record.os_pid)
            .map_or(child.0, u64::from)
    }

    fn set_spawn_rate(&mut self, bucket: u32, rate: u32) {
        if let Some(slot) = self.spawn_rate.get_mut(bucket as usize) {
            *slot = rate;
        }
    }

    fn daemon_counts(&self) -> DaemonCounts {
        DaemonCounts {
            active: self.active_daemons,
            active_limit: self.config.daemons_limit,
            total: self.total_daemons,
            max_used: self.max_used,
            server_limit: self.config.server_limit,
        }
    }

    /// Forgets a reaped child everywhere.
    fn forget_child(&mut self, child: ChildId) -> Option<ChildRecord> {
        self.exited.retain(|queued| *queued != child);
        self.children.remove(&child)
    }
}
