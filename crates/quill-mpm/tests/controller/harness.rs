//! A tiny deterministic driver for the controller, in virtual time.
//!
//! Model (the assumptions of reference §11):
//! * load = N connections that each hold one worker thread (one prefork
//!   process) until the load is lowered; excess connections wait in one
//!   accept queue and are picked up by any accepting child at once;
//! * children are idle unless they hold a connection; a spawned child has all
//!   threads READY immediately;
//! * a stopping child with no connection exits `EXIT_DELAY` after it was
//!   told to stop (or after its last connection ended);
//! * the maintenance-kill victim is [`Controller::default_kill_victim`].

use std::collections::BTreeMap;
use std::time::Duration;

use quill_mpm::{
    Action, ChildId, ChildSignal, Controller, Decision, ExitStatus, Generation, LogRecord,
    MessageId, Mpm, MpmDirectives, ParentSignal, PoolConfig, ServerIdentity, StopMode,
    ThreadStatus, TickRecord, Timestamp, signal,
};

/// How long an idle child takes to exit once told to.
pub const EXIT_DELAY: Duration = Duration::from_millis(5);

/// A guard against a controller that never stops asking to be woken.
const STEP_LIMIT: usize = 1_000_000;

#[derive(Clone, Debug)]
pub struct SimChild {
    pub slot: u32,
    pub generation: Generation,
    pub busy: u32,
    pub stopping: Option<StopMode>,
    pub exit_scheduled: bool,
    pub exited: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    SetLoad(u32),
    ChildExit(ChildId, ExitStatus),
    Signal(ParentSignal),
    ConfigReloaded,
}

pub struct Harness {
    pub controller: Controller,
    mpm: Mpm,
    threads_per_child: u32,
    pub children: BTreeMap<ChildId, SimChild>,
    /// Connections held or waiting.
    load: u32,
    queued: u32,
    events: BTreeMap<(Timestamp, u64), Event>,
    next_event: u64,
    pub now: Timestamp,
    /// Every action with the time it was emitted.
    pub actions: Vec<(Timestamp, Action)>,
    pub ticks: Vec<TickRecord>,
    pub reload_delay: Duration,
    config: PoolConfig,
}

impl Harness {
    pub fn new(config: PoolConfig) -> Self {
        let identity = ServerIdentity {
            server_description: "Apache/2.4.71 (Quill test)".to_owned(),
            core_dump_directory: "/tmp".to_owned(),
        };
        let controller = match Controller::with_identity(config.clone(), identity, Timestamp::ZERO)
        {
            Ok(controller) => controller,
            Err(error) => panic!("test config rejected: {error}"),
        };
        let mut harness = Harness {
            mpm: config.mpm,
            threads_per_child: config.threads_per_child,
            controller,
            children: BTreeMap::new(),
            load: 0,
            queued: 0,
            events: BTreeMap::new(),
            next_event: 0,
            now: Timestamp::ZERO,
            actions: Vec::new(),
            ticks: Vec::new(),
            reload_delay: Duration::from_millis(50),
            config,
        };
        harness.settle();
        harness
    }

    /// Children that have not exited yet.
    pub fn live_children(&self) -> u32 {
        u32::try_from(self.children.values().filter(|child| !child.exited).count())
            .unwrap_or(u32::MAX)
    }

    /// Changes the load `before` a whole second ("just before the tick").
    pub fn set_load_before_tick(&mut self, second: u64, load: u32) {
        let at = Timestamp::from_millis((second * 1000).saturating_sub(1));
        self.schedule(at, Event::SetLoad(load));
    }

    pub fn signal_at(&mut self, at: Timestamp, signal: ParentSignal) {
        self.schedule(at, Event::Signal(signal));
    }

    /// A child dies at `at` with `status` (crash, fatal exit …).
    pub fn child_exits_at(&mut self, at: Timestamp, child: ChildId, status: ExitStatus) {
        if let Some(sim) = self.children.get_mut(&child) {
            sim.exit_scheduled = true;
        }
        self.schedule(at, Event::ChildExit(child, status));
    }

    fn schedule(&mut self, at: Timestamp, event: Event) {
        self.events.insert((at, self.next_event), event);
        self.next_event += 1;
    }

    /// Runs until just before `until`, processing everything due earlier.
    pub fn run_until(&mut self, until: Timestamp) {
        for _ in 0..STEP_LIMIT {
            let next_event = self.events.keys().next().map(|(at, _)| *at);
            let next_timeout = self.controller.poll_timeout();
            // Driver events at the same instant come first: a child's exit
            // at exactly a tick is still reaped after that tick.
            let (at, is_event) = match (next_event, next_timeout) {
                (Some(e), Some(t)) if e <= t => (e, true),
                (Some(e), None) => (e, true),
                (_, Some(t)) => (t, false),
                (None, None) => return,
            };
            if at >= until {
                return;
            }
            self.now = at;
            if is_event {
                if let Some((_, event)) = self.events.pop_first() {
                    self.apply(event);
                }
            } else {
                self.controller.handle_timeout(at);
            }
            self.settle();
        }
        panic!("step limit reached: the controller livelocked");
    }

    /// Live children sampled in the middle of each second `from..=to`.
    pub fn live_per_second(&mut self, from: u64, to: u64) -> Vec<u32> {
        (from..=to)
            .map(|second| {
                self.run_until(Timestamp::from_millis(second * 1000 + 500));
                self.live_children()
            })
            .collect()
    }

    pub fn logs(&self) -> Vec<&LogRecord> {
        self.actions
            .iter()
            .filter_map(|(_, action)| match action {
                Action::Log(record) => Some(record),
                _ => None,
            })
            .collect()
    }

    pub fn logs_with(&self, id: MessageId) -> Vec<&LogRecord> {
        self.logs()
            .into_iter()
            .filter(|record| record.id == id)
            .collect()
    }

    pub fn decisions(&self) -> Vec<(Timestamp, Decision)> {
        self.ticks
            .iter()
            .map(|record| (record.at, record.decision.clone()))
            .collect()
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::SetLoad(load) => self.set_load(load),
            Event::ChildExit(child, status) => {
                if let Some(sim) = self.children.get_mut(&child) {
                    sim.exited = true;
                }
                // Errors here mean the test scheduled a bogus exit.
                if let Err(error) = self.controller.handle_child_exit(self.now, child, status) {
                    panic!("exit report rejected: {error}");
                }
            }
            Event::Signal(signal) => self.controller.handle_signal(self.now, signal),
            Event::ConfigReloaded => {
                if let Err(error) = self
                    .controller
                    .handle_config_reloaded(self.now, self.config.clone())
                {
                    panic!("reload rejected: {error}");
                }
            }
        }
    }

    fn set_load(&mut self, load: u32) {
        if load >= self.load {
            self.queued += load - self.load;
        } else {
            let mut drop = self.load - load;
            let from_queue = drop.min(self.queued);
            self.queued -= from_queue;
            drop -= from_queue;
            // Release held connections, newest children first.
            for sim in self.children.values_mut().rev() {
                if drop == 0 {
                    break;
                }
                let released = drop.min(sim.busy);
                sim.busy -= released;
                drop -= released;
            }
        }
        self.load = load;
    }

    /// Performs queued actions, hands out queued connections, finishes
    /// stopping children and rewrites the scoreboard, until nothing changes.
    fn settle(&mut self) {
        while let Some(action) = self.controller.poll_action() {
            self.actions.push((self.now, action.clone()));
            self.perform(action);
        }
        while let Some(record) = self.controller.poll_tick_record() {
            self.ticks.push(record);
        }
        self.hand_out_connections();
        self.schedule_exits_of_drained_children();
        self.write_scoreboard();
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Spawn(spawn) => {
                self.children.insert(
                    spawn.child,
                    SimChild {
                        slot: spawn.slot,
                        generation: spawn.generation,
                        busy: 0,
                        stopping: None,
                        exit_scheduled: false,
                        exited: false,
                    },
                );
            }
            Action::Kill { bucket, graceful } => {
                if let Some(victim) = self.controller.default_kill_victim(bucket) {
                    let mode = if graceful {
                        StopMode::Graceful
                    } else {
                        StopMode::Immediate
                    };
                    self.stop_child(victim, mode);
                }
            }
            Action::Stop { child, mode, via } => {
                let _ = via;
                self.stop_child(child, mode);
            }
            Action::Signal { child, signal } => {
                let number = match signal {
                    ChildSignal::Term => signal::TERM,
                    ChildSignal::Kill => signal::KILL,
                    ChildSignal::Hup => signal::HUP,
                    ChildSignal::GracefulUsr1 => signal::USR1,
                };
                self.exit_child_soon(child, ExitStatus::signaled(number));
            }
            Action::ReloadConfig => {
                let at = self.now + self.reload_delay;
                self.schedule(at, Event::ConfigReloaded);
            }
            Action::CloseListeners | Action::Exit { .. } | Action::Log(_) => {}
        }
    }

    fn stop_child(&mut self, child: ChildId, mode: StopMode) {
        let Some(sim) = self.children.get_mut(&child) else {
            return;
        };
        if sim.exited || sim.exit_scheduled {
            return;
        }
        if mode == StopMode::Immediate || sim.stopping.is_none() {
            sim.stopping = Some(mode);
        }
        let slot = sim.slot;
        if mode == StopMode::Immediate {
            // Connections are cut; their clients go back to the queue.
            let cut = sim.busy;
            sim.busy = 0;
            self.queued += cut;
            self.exit_child_soon(child, ExitStatus::SUCCESS);
            return;
        }
        match self.mpm {
            Mpm::Prefork => {
                // It served the dummy connection and exits from `C`.
                if sim.busy == 0 {
                    let _ = self.controller.scoreboard_mut().set_thread_status(
                        slot,
                        0,
                        ThreadStatus::Closing,
                    );
                }
            }
            Mpm::Worker | Mpm::Event => {
                let tpc = self.threads_per_child;
                let board = self.controller.scoreboard_mut();
                let _ = board.begin_graceful_stop(self.mpm, slot, tpc);
            }
        }
    }

    fn exit_child_soon(&mut self, child: ChildId, status: ExitStatus) {
        let Some(sim) = self.children.get_mut(&child) else {
            return;
        };
        if sim.exited || sim.exit_scheduled {
            return;
        }
        sim.exit_scheduled = true;
        let at = self.now + EXIT_DELAY;
        self.schedule(at, Event::ChildExit(child, status));
    }

    fn hand_out_connections(&mut self) {
        let generation = self.controller.generation();
        let capacity = self.threads_per_child;
        for sim in self.children.values_mut() {
            if self.queued == 0 {
                break;
            }
            let accepting = !sim.exited
                && !sim.exit_scheduled
                && sim.stopping.is_none()
                && sim.generation == generation;
            if accepting && sim.busy < capacity {
                let taken = (capacity - sim.busy).min(self.queued);
                sim.busy += taken;
                self.queued -= taken;
            }
        }
    }

    fn schedule_exits_of_drained_children(&mut self) {
        let drained: Vec<ChildId> = self
            .children
            .iter()
            .filter(|(_, sim)| {
                sim.stopping.is_some() && sim.busy == 0 && !sim.exited && !sim.exit_scheduled
            })
            .map(|(id, _)| *id)
            .collect();
        for child in drained {
            self.exit_child_soon(child, ExitStatus::SUCCESS);
        }
    }

    fn write_scoreboard(&mut self) {
        let tpc = self.threads_per_child;
        let mpm = self.mpm;
        for (id, sim) in &self.children {
            if sim.exited {
                continue; // a zombie keeps its last statuses
            }
            let owns_slot = self
                .controller
                .scoreboard()
                .process(sim.slot)
                .is_some_and(|process| process.child() == Some(*id));
            if !owns_slot {
                continue;
            }
            let board = self.controller.scoreboard_mut();
            for thread in 0..tpc {
                let status = if mpm == Mpm::Event && sim.stopping.is_some() {
                    ThreadStatus::Graceful
                } else if thread < sim.busy {
                    ThreadStatus::BusyWrite
                } else {
                    match (mpm, sim.stopping) {
                        (_, None) => ThreadStatus::Ready,
                        (Mpm::Prefork, Some(_)) => ThreadStatus::Closing,
                        (Mpm::Worker, Some(_)) => ThreadStatus::Dead,
                        (Mpm::Event, Some(_)) => ThreadStatus::Graceful,
                    }
                };
                let _ = board.set_thread_status(sim.slot, thread, status);
            }
        }
    }
}

/// Config helpers in httpd's own terms.
pub fn worker_like(mpm: Mpm, start: i64, mrw: i64, min: i64, max: i64, tpc: i64) -> PoolConfig {
    PoolConfig::from_directives(
        mpm,
        &MpmDirectives {
            start_servers: Some(start),
            max_request_workers: Some(mrw),
            min_spare_threads: Some(min),
            max_spare_threads: Some(max),
            threads_per_child: Some(tpc),
            ..MpmDirectives::default()
        },
    )
}

pub fn prefork(start: i64, min: i64, max: i64, mrw: i64) -> PoolConfig {
    PoolConfig::from_directives(
        Mpm::Prefork,
        &MpmDirectives {
            start_servers: Some(start),
            min_spare_servers: Some(min),
            max_spare_servers: Some(max),
            max_request_workers: Some(mrw),
            ..MpmDirectives::default()
        },
    )
}
