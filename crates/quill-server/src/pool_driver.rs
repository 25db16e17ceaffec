//! The real-time driver of the pool controller (`quill_mpm::Controller`):
//! it carries out the controller's actions on front-end child processes
//! and feeds back what the children wrote in the shared scoreboard, their
//! exits and the supervisor's signals. The simulator (`quill-sim`) is the
//! other driver of the same controller; the parity test
//! (`tests/parity.rs`) runs both on the same configuration and clock and
//! requires the same decisions.
//!
//! ```text
//!   supervisor ── tick(now) ─────────────▶ PoolDriver ── scoreboard sync ─▶ Controller
//!              ── exited(pid, status) ───▶            ◀── actions ────────┘
//!              ── signal(ParentSignal) ──▶     │
//!                                              ▼
//!                          ChildProcesses: start(slot, generation), signal(pid, sig),
//!                                          close_listeners()
//! ```
//!
//! Time is a parameter; processes are behind [`ChildProcesses`], so a test
//! can drive it with a virtual clock and scripted children.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use quill_mpm::{
    Action, ChildId, ConfigError, Controller, ExitStatus, ParentSignal, ParentState, PoolConfig,
    Quiescing, ServerIdentity, Spawn, StopMode, Timestamp, signal,
};

use crate::log::{ErrorLog, Level};
use crate::scoreboard::Scoreboard;

/// How the driver reaches front-end child processes.
pub trait ChildProcesses {
    /// Starts a child in scoreboard row `slot` of `generation`; its pid.
    fn start(&mut self, slot: u32, generation: u32) -> io::Result<i32>;
    /// Sends signal number `signal` to `pid`.
    fn signal(&mut self, pid: i32, signal: i32);
    /// Closes the listening sockets (a graceful stop); children keep theirs.
    fn close_listeners(&mut self);
    /// At a restart, the pool settings of the re-read configuration (the
    /// supervisor re-reads it when the signal comes); `None` keeps the
    /// running ones.
    fn restart_pool(&mut self) -> Option<PoolConfig> {
        None
    }
}

/// The pool controller and the children it decided about.
#[derive(Debug)]
pub struct PoolDriver<P> {
    ctl: Controller,
    procs: P,
    scoreboard: Arc<Scoreboard>,
    /// pid → the controller's child.
    pids: HashMap<i32, ChildId>,
    /// The controller's child → (pid, slot).
    children: HashMap<ChildId, (i32, u32)>,
    log: Arc<ErrorLog>,
    /// The generation whose restart the scoreboard shows.
    published: Option<u32>,
}

impl<P: ChildProcesses> PoolDriver<P> {
    /// A controller for `config` started at `now`; call [`PoolDriver::perform`]
    /// to fork the start-up children.
    pub fn new(
        config: PoolConfig,
        identity: ServerIdentity,
        now: Timestamp,
        procs: P,
        scoreboard: Arc<Scoreboard>,
        log: Arc<ErrorLog>,
    ) -> Result<Self, ConfigError> {
        Ok(PoolDriver {
            ctl: Controller::with_identity(config, identity, now)?,
            procs,
            scoreboard,
            pids: HashMap::new(),
            children: HashMap::new(),
            log,
            published: None,
        })
    }

    /// What the parent is doing (`Exited` once the pool is gone).
    pub fn state(&self) -> ParentState {
        self.ctl.state()
    }

    /// When [`PoolDriver::tick`] is due next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.ctl.poll_timeout()
    }

    pub fn processes(&mut self) -> &mut P {
        &mut self.procs
    }

    /// The controller's deadline has come: it reads what the children wrote
    /// and runs maintenance (or its stop and restart steps).
    pub fn tick(&mut self, now: Timestamp) {
        self.sync_scoreboard();
        self.ctl.handle_timeout(now);
        // The controller queues a record of each maintenance decision for
        // a driver that reads them (the simulator's timeline); this one has
        // no use for them, and unread they piled up for ever (one a second:
        // the supervisor's heap grew ~5 KiB a minute in bench/soak.py).
        self.ctl.drain_tick_records().for_each(drop);
    }

    /// A child process exited.
    pub fn exited(&mut self, pid: i32, status: ExitStatus, now: Timestamp) {
        if let Some(&child) = self.pids.get(&pid) {
            let _ = self.ctl.handle_child_exit(now, child, status);
        }
    }

    /// A signal to the server (`name` for the log).
    pub fn signal(&mut self, signal: ParentSignal, name: &str, now: Timestamp) {
        self.log
            .log(Level::Notice, "core", &format!("{name} received"));
        self.ctl.handle_signal(now, signal);
    }

    /// Carries out everything the controller asked for, then forgets the
    /// children it has reaped.
    pub fn perform(&mut self, now: Timestamp) {
        while let Some(action) = self.ctl.poll_action() {
            match action {
                Action::Spawn(s) => self.spawn(s, now),
                Action::Kill { bucket, graceful } => {
                    // Who reads the pipe-of-death byte is decided as the
                    // simulator decides it (the oldest current child).
                    if let Some(victim) = self.ctl.default_kill_victim(bucket) {
                        let mode = if graceful {
                            StopMode::Graceful
                        } else {
                            StopMode::Immediate
                        };
                        self.stop(victim, mode);
                    }
                }
                Action::Stop { child, mode, .. } => self.stop(child, mode),
                Action::Signal { child, signal } => {
                    if let Some(&(pid, _)) = self.children.get(&child) {
                        self.procs.signal(pid, signal.number());
                    }
                }
                Action::CloseListeners => self.procs.close_listeners(),
                Action::ReloadConfig => {
                    // The new generation's pool settings: the re-read
                    // configuration's, or the running ones if it has none
                    // or they cannot be used.
                    let running = self.ctl.config().clone();
                    let config = self.procs.restart_pool().unwrap_or_else(|| running.clone());
                    let mut result = self.ctl.handle_config_reloaded(now, config);
                    if let Err(e) = &result {
                        self.log.log(
                            Level::Error,
                            "core",
                            &format!("{e}; the pool keeps its running settings"),
                        );
                        result = self.ctl.handle_config_reloaded(now, running);
                    }
                    if let Err(e) = result {
                        self.log
                            .log(Level::Error, "core", &format!("restart failed: {e}"));
                        self.ctl.handle_config_reload_failed(now);
                    }
                }
                Action::Exit { .. } => {}
                Action::Log(record) => {
                    let text = match record.code {
                        Some(code) => format!("AH{code:05}: {}", record.message),
                        None => record.message.clone(),
                    };
                    self.log.log(record.level, record.module, &text);
                }
            }
        }
        // Reaped children: their scoreboard rows are empty again, unless a
        // newer child took the row over.
        let reaped: Vec<ChildId> = self
            .children
            .keys()
            .copied()
            .filter(|c| self.ctl.child(*c).is_none())
            .collect();
        for child in reaped {
            if let Some((pid, slot)) = self.children.remove(&child) {
                self.pids.remove(&pid);
                if self.scoreboard.pid(slot) == u32::try_from(pid).unwrap_or(0) {
                    self.scoreboard.vacate(slot, false);
                }
            }
        }
        // A new generation: the restart mod_status reports (httpd counts
        // configuration generations from 1, MPM generations from 0).
        let generation = self.ctl.generation().0;
        if self.published != Some(generation) {
            self.published = Some(generation);
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
            self.scoreboard
                .set_restart(now_us, generation.saturating_add(1), generation);
        }
    }

    fn stop(&mut self, child: ChildId, mode: StopMode) {
        let Some(&(pid, slot)) = self.children.get(&child) else {
            return;
        };
        let sig = match mode {
            StopMode::Graceful => {
                // What the child will write when it reads the stop (worker
                // and event: quiescing; prefork: nothing); the controller's
                // model learns it now, as in the simulator.
                let (mpm, threads) = (self.ctl.config().mpm, self.ctl.config().threads_per_child);
                let _ = self
                    .ctl
                    .scoreboard_mut()
                    .begin_graceful_stop(mpm, slot, threads);
                signal::USR1
            }
            StopMode::Immediate => signal::TERM,
        };
        self.procs.signal(pid, sig);
    }

    fn spawn(&mut self, s: Spawn, now: Timestamp) {
        match self.procs.start(s.slot, s.generation.0) {
            Ok(pid) => {
                self.pids.insert(pid, s.child);
                self.children.insert(s.child, (pid, s.slot));
                let pid = u32::try_from(pid).unwrap_or(0);
                self.scoreboard.occupy(s.slot, pid, s.generation.0);
                let _ = self.ctl.handle_child_pid(s.child, pid);
            }
            Err(e) => {
                self.log.log(
                    Level::Error,
                    "core",
                    &format!("cannot start a front-end child in slot {}: {e}", s.slot),
                );
                let _ = self.ctl.handle_spawn_failed(now, s.child);
            }
        }
    }

    /// Copies what the children wrote into the controller's model of the
    /// scoreboard: thread statuses, quiescing, not-accepting.
    fn sync_scoreboard(&mut self) {
        let sb = &self.scoreboard;
        let model = self.ctl.scoreboard_mut();
        for slot in 0..sb.server_limit() {
            for t in 0..sb.thread_limit() {
                let _ = model.set_thread_status(slot, t, sb.status(slot, t));
            }
            let occupied = model.process(slot).is_some_and(|p| p.child().is_some());
            let known = model
                .process(slot)
                .is_some_and(|p| p.quiescing() != Quiescing::No);
            if occupied && !known && sb.quiescing(slot) == Quiescing::Announced {
                let _ = model.announce_quiescing(slot);
            }
            let _ = model.set_not_accepting(slot, sb.not_accepting(slot));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quill_mpm::{Mpm, MpmDirectives};

    /// Children that start and never exit.
    struct Started(i32);

    impl ChildProcesses for Started {
        fn start(&mut self, _slot: u32, _generation: u32) -> io::Result<i32> {
            self.0 += 1;
            Ok(self.0)
        }
        fn signal(&mut self, _pid: i32, _signal: i32) {}
        fn close_listeners(&mut self) {}
    }

    /// An hour of maintenance ticks leaves no tick record queued in the
    /// controller (the soak run's supervisor kept every one of them).
    #[test]
    fn maintenance_ticks_leave_nothing_queued() {
        let dir = std::env::temp_dir().join(format!("quill-driver-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pool = PoolConfig::from_directives(Mpm::Worker, &MpmDirectives::default());
        let scoreboard = Arc::new(
            Scoreboard::create(
                &dir.join("scoreboard"),
                pool.server_limit,
                pool.thread_limit,
            )
            .expect("scoreboard"),
        );
        let log = Arc::new(ErrorLog::new(Level::Warn, Box::new(io::sink())));
        let start = Timestamp::from_micros(0);
        let mut driver = PoolDriver::new(
            pool,
            ServerIdentity::default(),
            start,
            Started(1000),
            scoreboard,
            log,
        )
        .expect("a valid pool");
        driver.perform(start);
        let mut ticks = 0;
        while let Some(at) = driver
            .poll_timeout()
            .filter(|t| t.as_nanos() <= 3_600 * 1_000_000_000)
        {
            driver.tick(at);
            driver.perform(at);
            ticks += 1;
        }
        assert!(ticks >= 3_600, "an hour of ticks: {ticks}");
        assert!(
            driver.ctl.poll_tick_record().is_none(),
            "tick records queued"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
