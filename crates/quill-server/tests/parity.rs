//! Parity: the simulator (`quill-sim`) and the supervisor's real-time
//! driver (`quill_server::pool_driver`) drive the same pool controller. Given
//! the same configuration, the same clock and the same children's
//! behaviour (forked children become idle after the same delay and exit the
//! same time after a stop), they must decide the same actions: the same
//! forks into the same slots and the same kills of the same slots, at the
//! same instants.
//!
//! The real driver runs here on a virtual clock with scripted children that
//! write the shared-memory scoreboard as the real ones do (all worker slots
//! idle once ready; quiescing and DEAD slots on a graceful stop).

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

fn simulated(pool: &PoolConfig, timing: &Timing, duration_us: u64) -> Vec<Decision> {
    let load = parse_load("t_s,concurrency,request_ms\n0,0,0\n").expect("an empty load");
    let config = SimConfig {
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
        step_limit: 10_000_000,
    };
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
            // A maintenance kill or a graceful stop: it quiesces, gives up
            // its idle slots and exits.
            self.decisions.push(Decision::Kill {
                at_us: self.now_us,
                slot,
            });
            self.scoreboard.announce_quiescing(slot);
            for t in 0..self.threads {
                self.scoreboard.set_status(slot, t, ThreadStatus::Dead);
            }
        }
        self.schedule(self.now_us + self.timing.exit_us, Scripted::Exit { pid });
    }

    fn close_listeners(&mut self) {}
}

fn driven(pool: &PoolConfig, timing: &Timing, duration_us: u64, name: &str) -> Vec<Decision> {
    let dir = std::env::temp_dir().join(format!("quill-parity-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("scoreboard");
    let scoreboard = Arc::new(
        Scoreboard::create(&path, pool.server_limit, pool.thread_limit).expect("scoreboard"),
    );
    let children = ScriptedChildren {
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
    let log = Arc::new(ErrorLog::new(Level::Warn, Box::new(io::sink())));
    let ts = Timestamp::from_micros;
    // The simulator starts its parent `startup_us` into the run.
    let mut driver = PoolDriver::new(
        pool.clone(),
        ServerIdentity::default(),
        ts(timing.startup_us),
        children,
        scoreboard.clone(),
        log,
    )
    .expect("a valid pool");
    driver.perform(ts(timing.startup_us));
    loop {
        let next_child = driver
            .processes()
            .agenda
            .first_key_value()
            .map(|(k, _)| k.0);
        let next_tick = driver.poll_timeout().map(|t| t.as_nanos() / 1_000);
        let now_us = match (next_child, next_tick) {
            (Some(c), Some(t)) => c.min(t),
            (Some(c), None) => c,
            (None, Some(t)) => t,
            (None, None) => break,
        };
        if now_us >= duration_us {
            break;
        }
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
