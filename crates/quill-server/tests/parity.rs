//! Parity: the simulator (`quill-sim`) and the supervisor's real-time
//! driver (`quill_server::pool_driver`) drive the same pool controller. Given
//! the same configuration, the same clock and the same children's
//! behaviour (forked children become idle after the same delay and exit the
//! same time after a stop), they must decide the same actions: the same
//! forks into the same slots and the same kills of the same slots, at the
//! same instants.
//!
//! The real driver runs here on a virtual clock with scripted children that
//! write the shared-memory scoreboard: without clients, as the real ones do
//! (all worker slots idle once ready; quiescing and DEAD slots on a
//! graceful stop); under load, by replaying the scoreboard the simulator's
//! controller read at each tick and the simulated children's exits.

// A test of the shell: it creates a scoreboard file under the temp dir.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use quill_mpm::{
    ExitStatus, Mpm, MpmDirectives, PoolConfig, ServerIdentity, ThreadStatus, Timestamp, signal,
};
use quill_server::log::{ErrorLog, Level};
use quill_server::pool_driver::{ChildProcesses, PoolDriver};
use quill_server::scoreboard::Scoreboard;
use quill_sim::engine::{KeepAliveModel, SimConfig, SimEvent, Sink, Timing, run};
use quill_sim::load::parse_load;
use quill_sim::timeline::SecondRow;

/// A fork or a kill: (µs since start, slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Decision {
    Fork { at_us: u64, slot: u32 },
    Kill { at_us: u64, slot: u32 },
}

#[derive(Default)]
struct Decisions(Vec<Decision>);

impl Sink for Decisions {
    fn second(&mut self, _row: &SecondRow) {}
    fn event(&mut self, event: &SimEvent) {
        match event {
            SimEvent::Spawned { at_us, slot, .. } => self.0.push(Decision::Fork {
                at_us: *at_us,
                slot: *slot,
            }),
            SimEvent::Killed { at_us, slot, .. } => self.0.push(Decision::Kill {
                at_us: *at_us,
                slot: *slot,
            }),
            _ => {}
        }
    }
}

/// The simulator's configuration of the parity scenarios: no keep-alive,
/// no daemon tier.
fn sim_config(pool: &PoolConfig, timing: &Timing, duration_us: u64) -> SimConfig {
    SimConfig {
        pool: pool.clone(),
        keep_alive: KeepAliveModel {
            enabled: false,
            timeout_us: 5_000_000,
            max_requests: 100,
        },
        listen_backlog: 511,
        async_factor: 2,
        daemon: None,
        timing: timing.clone(),
        seed: 1,
        duration_us,
        step_limit: 50_000_000,
    }
}

fn simulated(pool: &PoolConfig, timing: &Timing, duration_us: u64) -> Vec<Decision> {
    let load = parse_load("t_s,concurrency,request_ms\n0,0,0\n").expect("an empty load");
    let config = sim_config(pool, timing, duration_us);
    let mut sink = Decisions::default();
    run(&config, &load, &mut sink).expect("the simulation runs");
    sink.0
}

/// What a scripted child does next, at a virtual time (µs).
#[derive(Debug, Clone, Copy)]
enum Scripted {
    /// The child's worker slots become idle (it accepts).
    Ready { pid: i32 },
    /// The child exits.
    Exit { pid: i32 },
}

/// Children that behave as the simulator's idle children do: ready
/// `fork_ready_us` after the fork, gone `exit_us` after a stop.
struct ScriptedChildren {
    mpm: Mpm,
    now_us: u64,
    timing: Timing,
    threads: u32,
    scoreboard: Arc<Scoreboard>,
    next_pid: i32,
    slots: BTreeMap<i32, u32>,
    agenda: BTreeMap<(u64, u64), Scripted>,
    seq: u64,
    decisions: Vec<Decision>,
}

impl ScriptedChildren {
    fn schedule(&mut self, at_us: u64, what: Scripted) {
        self.seq += 1;
        self.agenda.insert((at_us, self.seq), what);
    }
}

impl ChildProcesses for ScriptedChildren {
    fn start(&mut self, slot: u32, _generation: u32) -> io::Result<i32> {
        self.next_pid += 1;
        let pid = self.next_pid;
        self.slots.insert(pid, slot);
        self.decisions.push(Decision::Fork {
            at_us: self.now_us,
            slot,
        });
        self.schedule(
            self.now_us + self.timing.fork_ready_us,
            Scripted::Ready { pid },
        );
        Ok(pid)
    }

    fn signal(&mut self, pid: i32, sig: i32) {
        let Some(&slot) = self.slots.get(&pid) else {
            return;
        };
        if sig == signal::USR1 {
            // A maintenance kill or a graceful stop: it quiesces (worker,
            // event: prefork children write nothing), gives up its idle
            // slots and exits.
            self.decisions.push(Decision::Kill {
                at_us: self.now_us,
                slot,
            });
            if self.mpm != Mpm::Prefork {
                self.scoreboard.announce_quiescing(slot);
            }
            for t in 0..self.threads {
                self.scoreboard.set_status(slot, t, ThreadStatus::Dead);
            }
        }
        self.schedule(self.now_us + self.timing.exit_us, Scripted::Exit { pid });
    }

    fn close_listeners(&mut self) {}
}

/// A scoreboard file for scenario `name`, in a directory of its own.
fn board(pool: &PoolConfig, name: &str) -> (std::path::PathBuf, Arc<Scoreboard>) {
    let dir = std::env::temp_dir().join(format!("quill-parity-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scoreboard = Arc::new(
        Scoreboard::create(
            &dir.join("scoreboard"),
            pool.server_limit,
            pool.thread_limit,
        )
        .expect("scoreboard"),
    );
    (dir, scoreboard)
}

/// The real driver, started (its start-up forks done) when the simulator
/// starts its parent: `startup_us` into the run.
fn started<P: ChildProcesses>(
    pool: &PoolConfig,
    timing: &Timing,
    children: P,
    scoreboard: &Arc<Scoreboard>,
) -> PoolDriver<P> {
    let log = Arc::new(ErrorLog::new(Level::Warn, Box::new(io::sink())));
    let start = Timestamp::from_micros(timing.startup_us);
    let mut driver = PoolDriver::new(
        pool.clone(),
        ServerIdentity::default(),
        start,
        children,
        scoreboard.clone(),
        log,
    )
    .expect("a valid pool");
    driver.perform(start);
    driver
}

/// The next instant (µs) of a run: the earlier of a scripted event and the
/// driver's next tick, if it comes before `duration_us`.
fn next_instant<P: ChildProcesses>(
    driver: &PoolDriver<P>,
    scripted: Option<u64>,
    duration_us: u64,
) -> Option<u64> {
    let tick = driver.poll_timeout().map(|t| t.as_nanos() / 1_000);
    let at = match (scripted, tick) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    at.filter(|&t| t < duration_us)
}

fn driven(pool: &PoolConfig, timing: &Timing, duration_us: u64, name: &str) -> Vec<Decision> {
    let (dir, scoreboard) = board(pool, name);
    let children = ScriptedChildren {
        mpm: pool.mpm,
        now_us: timing.startup_us,
        timing: timing.clone(),
        threads: pool.threads_per_child,
        scoreboard: scoreboard.clone(),
        next_pid: 1000,
        slots: BTreeMap::new(),
        agenda: BTreeMap::new(),
        seq: 0,
        decisions: Vec::new(),
    };
    let ts = Timestamp::from_micros;
    let mut driver = started(pool, timing, children, &scoreboard);
    loop {
        let next_child = driver
            .processes()
            .agenda
            .first_key_value()
            .map(|(k, _)| k.0);
        let Some(now_us) = next_instant(&driver, next_child, duration_us) else {
            break;
        };
        driver.processes().now_us = now_us;
        if next_child == Some(now_us) {
            let Some((_, what)) = driver.processes().agenda.pop_first() else {
                break;
            };
            match what {
                Scripted::Ready { pid } => {
                    let slot = driver.processes().slots[&pid];
                    for t in 0..pool.threads_per_child {
                        scoreboard.claim_thread(slot, t, ThreadStatus::Ready);
                    }
                }
                Scripted::Exit { pid } => {
                    let slot = driver.processes().slots[&pid];
                    for t in 0..pool.threads_per_child {
                        scoreboard.set_status(slot, t, ThreadStatus::Dead);
                    }
                    driver.exited(pid, ExitStatus::SUCCESS, ts(now_us));
                }
            }
        } else {
            driver.tick(ts(now_us));
        }
        driver.perform(ts(now_us));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::mem::take(&mut driver.processes().decisions)
}

/// `expect` = (kills, forks after the start-up ones) the scenario must
/// make, so that it exercises the rule it is about.
fn assert_parity(name: &str, mpm: Mpm, directives: MpmDirectives, expect: (usize, usize)) {
    let pool = PoolConfig::from_directives(mpm, &directives);
    let timing = Timing::default();
    let duration_us = 30_000_000;
    // The simulator stamps the start-up forks, which its parent decides
    // `startup_us` into the run, with t = 0; those are compared by slot.
    let startup = |d: Decision| match d {
        Decision::Fork { at_us, slot } if at_us <= timing.startup_us => {
            Decision::Fork { at_us: 0, slot }
        }
        other => other,
    };
    let sim: Vec<_> = simulated(&pool, &timing, duration_us)
        .into_iter()
        .map(startup)
        .collect();
    let real: Vec<_> = driven(&pool, &timing, duration_us, name)
        .into_iter()
        .map(startup)
        .collect();
    let kills = real
        .iter()
        .filter(|d| matches!(d, Decision::Kill { .. }))
        .count();
    let later_forks = real
        .iter()
        .filter(|d| matches!(d, Decision::Fork { at_us, .. } if *at_us > 0))
        .count();
    assert_eq!(
        (kills, later_forks),
        expect,
        "{name}: the scenario exercises its rule: {real:?}"
    );
    assert_eq!(
        sim, real,
        "{name}: the simulator and the real driver decide the same forks and kills"
    );
}

#[test]
fn worker_start_up_kill_off_is_decided_the_same() {
    assert_parity(
        "worker-killoff",
        Mpm::Worker,
        MpmDirectives {
            start_servers: Some(10),
            max_request_workers: Some(400),
            server_limit: Some(16),
            min_spare_threads: Some(25),
            max_spare_threads: Some(75),
            threads_per_child: Some(25),
            ..MpmDirectives::default()
        },
        (7, 0),
    );
}

#[test]
fn worker_start_up_burst_is_decided_the_same() {
    assert_parity(
        "worker-burst",
        Mpm::Worker,
        MpmDirectives {
            start_servers: Some(1),
            max_request_workers: Some(400),
            server_limit: Some(16),
            min_spare_threads: Some(300),
            max_spare_threads: Some(400),
            threads_per_child: Some(25),
            ..MpmDirectives::default()
        },
        (0, 15),
    );
}

#[test]
fn prefork_start_up_kill_off_is_decided_the_same() {
    assert_parity(
        "prefork-killoff",
        Mpm::Prefork,
        MpmDirectives {
            start_servers: Some(20),
            min_spare_servers: Some(2),
            max_spare_servers: Some(5),
            ..MpmDirectives::default()
        },
        (15, 0),
    );
}

#[test]
fn event_start_up_kill_off_is_decided_the_same() {
    assert_parity(
        "event-killoff",
        Mpm::Event,
        MpmDirectives {
            start_servers: Some(10),
            max_request_workers: Some(400),
            min_spare_threads: Some(25),
            max_spare_threads: Some(75),
            threads_per_child: Some(25),
            ..MpmDirectives::default()
        },
        (7, 0),
    );
}

// ---- Under load: the simulator's scoreboard, replayed -------------------
//
// With clients, which worker slots are busy depends on the simulated
// connections. The simulator hands the parity test the scoreboard its
// controller reads at every tick, and when each child exited; scripted
// children write exactly that into the real driver's shared scoreboard
// before the same tick, and exit at the same instants. Both controllers
// then read the same scoreboard sequence on the same clock, and must
// decide the same forks and kills.

/// One slot's row as the controller read it.
#[derive(Debug, Clone)]
struct SlotRow {
    threads: Vec<ThreadStatus>,
    quiescing: bool,
    not_accepting: bool,
}

#[derive(Default)]
struct Recorded {
    decisions: Vec<Decision>,
    /// Tick time (µs) → every slot's row.
    ticks: BTreeMap<u64, Vec<SlotRow>>,
    /// (µs, slot) of every child exit.
    exits: Vec<(u64, u32)>,
}

impl Sink for Recorded {
    fn second(&mut self, _row: &SecondRow) {}
    fn event(&mut self, event: &SimEvent) {
        match event {
            SimEvent::Spawned { at_us, slot, .. } => self.decisions.push(Decision::Fork {
                at_us: *at_us,
                slot: *slot,
            }),
            SimEvent::Killed { at_us, slot, .. } => self.decisions.push(Decision::Kill {
                at_us: *at_us,
                slot: *slot,
            }),
            SimEvent::Exited { at_us, slot, .. } => self.exits.push((*at_us, *slot)),
            _ => {}
        }
    }
    fn tick_input(&mut self, at_us: u64, sb: &quill_mpm::Scoreboard) {
        let rows = (0..sb.server_limit())
            .map(|slot| SlotRow {
                threads: sb.threads(slot).to_vec(),
                quiescing: sb
                    .process(slot)
                    .is_some_and(|p| p.quiescing() != quill_mpm::Quiescing::No),
                not_accepting: sb.process(slot).is_some_and(|p| p.not_accepting()),
            })
            .collect();
        self.ticks.insert(at_us, rows);
    }
}

fn simulated_under(pool: &PoolConfig, load: &str, duration_us: u64) -> Recorded {
    let load = parse_load(load).expect("a load");
    let config = sim_config(pool, &Timing::default(), duration_us);
    let mut sink = Recorded::default();
    run(&config, &load, &mut sink).expect("the simulation runs");
    sink
}

/// Children that only exit when told to: the replay writes their slots.
struct ReplayedChildren {
    now_us: u64,
    next_pid: i32,
    /// slot → pid of the child in it.
    in_slot: BTreeMap<u32, i32>,
    decisions: Vec<Decision>,
}

impl ChildProcesses for ReplayedChildren {
    fn start(&mut self, slot: u32, _generation: u32) -> io::Result<i32> {
        self.next_pid += 1;
        self.in_slot.insert(slot, self.next_pid);
        self.decisions.push(Decision::Fork {
            at_us: self.now_us,
            slot,
        });
        Ok(self.next_pid)
    }

    fn signal(&mut self, pid: i32, sig: i32) {
        if sig == signal::USR1 {
            if let Some((&slot, _)) = self.in_slot.iter().find(|(_, p)| **p == pid) {
                self.decisions.push(Decision::Kill {
                    at_us: self.now_us,
                    slot,
                });
            }
        }
    }

    fn close_listeners(&mut self) {}
}

fn replayed(pool: &PoolConfig, sim: &Recorded, duration_us: u64, name: &str) -> Vec<Decision> {
    let timing = Timing::default();
    let (dir, scoreboard) = board(pool, name);
    let children = ReplayedChildren {
        now_us: timing.startup_us,
        next_pid: 1000,
        in_slot: BTreeMap::new(),
        decisions: Vec::new(),
    };
    let ts = Timestamp::from_micros;
    let mut driver = started(pool, &timing, children, &scoreboard);
    let mut exits = sim.exits.iter().copied().peekable();
    loop {
        let next_exit = exits.peek().map(|e| e.0);
        let Some(now_us) = next_instant(&driver, next_exit, duration_us) else {
            break;
        };
        driver.processes().now_us = now_us;
        if next_exit == Some(now_us) {
            let (_, slot) = exits.next().expect("peeked");
            let pid = driver.processes().in_slot.remove(&slot);
            let pid =
                pid.unwrap_or_else(|| panic!("{name}: no child in slot {slot} at {now_us} µs"));
            driver.exited(pid, ExitStatus::SUCCESS, ts(now_us));
        } else {
            let rows = sim
                .ticks
                .get(&now_us)
                .unwrap_or_else(|| panic!("{name}: the simulator had no tick at {now_us} µs"));
            for (slot, row) in (0u32..).zip(rows) {
                for (t, status) in (0u32..).zip(&row.threads) {
                    scoreboard.set_status(slot, t, *status);
                }
                if row.quiescing {
                    scoreboard.announce_quiescing(slot);
                }
                scoreboard.set_not_accepting(slot, row.not_accepting);
            }
            driver.tick(ts(now_us));
        }
        driver.perform(ts(now_us));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::mem::take(&mut driver.processes().decisions)
}

/// Parity under `load`; the scenario must both fork (after start-up) and
/// kill, so that it exercises both rules.
fn assert_parity_under(name: &str, mpm: Mpm, directives: MpmDirectives, load: &str) {
    let pool = PoolConfig::from_directives(mpm, &directives);
    let timing = Timing::default();
    let duration_us = 60_000_000;
    let startup = |d: Decision| match d {
        Decision::Fork { at_us, slot } if at_us <= timing.startup_us => {
            Decision::Fork { at_us: 0, slot }
        }
        other => other,
    };
    let sim = simulated_under(&pool, load, duration_us);
    let real: Vec<_> = replayed(&pool, &sim, duration_us, name)
        .into_iter()
        .map(startup)
        .collect();
    let expected: Vec<_> = sim.decisions.iter().copied().map(startup).collect();
    let kills = real
        .iter()
        .filter(|d| matches!(d, Decision::Kill { .. }))
        .count();
    let later_forks = real
        .iter()
        .filter(|d| matches!(d, Decision::Fork { at_us, .. } if *at_us > 0))
        .count();
    assert!(
        kills > 0 && later_forks > 0,
        "{name}: the load makes the pool both grow and shrink: {real:?}"
    );
    assert_eq!(
        expected, real,
        "{name}: the simulator and the real driver decide the same forks and kills under load"
    );
}

/// 0 → 300 concurrent clients of 100 ms requests and back, in steps.
const RAMP: &str =
    "t_s,concurrency,request_ms\n0,0,100\n5,60,100\n12,300,100\n25,40,100\n35,0,100\n";

/// Two children of 25 threads to start, up to 16, spares 25–75.
fn threaded_ramp_pool() -> MpmDirectives {
    MpmDirectives {
        start_servers: Some(2),
        max_request_workers: Some(400),
        server_limit: Some(16),
        min_spare_threads: Some(25),
        max_spare_threads: Some(75),
        threads_per_child: Some(25),
        ..MpmDirectives::default()
    }
}

#[test]
fn worker_under_a_ramp_is_decided_the_same() {
    assert_parity_under("worker-ramp", Mpm::Worker, threaded_ramp_pool(), RAMP);
}

#[test]
fn event_under_a_ramp_is_decided_the_same() {
    assert_parity_under("event-ramp", Mpm::Event, threaded_ramp_pool(), RAMP);
}

#[test]
fn prefork_under_a_ramp_is_decided_the_same() {
    assert_parity_under(
        "prefork-ramp",
        Mpm::Prefork,
        MpmDirectives {
            start_servers: Some(5),
            min_spare_servers: Some(5),
            max_spare_servers: Some(10),
            max_request_workers: Some(150),
            ..MpmDirectives::default()
        },
        "t_s,concurrency,request_ms\n0,0,100\n5,20,100\n12,100,100\n25,10,100\n35,0,100\n",
    );
}
