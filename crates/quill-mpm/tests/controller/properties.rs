//! Invariants over random configurations, loads, crashes and API misuse.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use quill_mpm::{
    Action, ChildId, Controller, Decision, ExitStatus, Mpm, MpmDirectives, ParentSignal,
    PoolConfig, ThreadStatus, TickRecord, Timestamp, exit_code, signal,
};

use crate::harness::Harness;

const SECONDS: usize = 30;

fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

prop_compose! {
    fn threaded_config()(
        mpm in prop_oneof![Just(Mpm::Worker), Just(Mpm::Event)],
        start in 1i64..12,
        min in 1i64..120,
        max in 1i64..300,
        tpc in 1i64..30,
        mrw in 1i64..600,
        server_limit in 1i64..20,
        buckets in 1u32..4,
    ) -> PoolConfig {
        PoolConfig::from_directives(mpm, &MpmDirectives {
            start_servers: Some(start),
            min_spare_threads: Some(min),
            max_spare_threads: Some(max),
            threads_per_child: Some(tpc),
            max_request_workers: Some(mrw),
            server_limit: Some(server_limit),
            listen_cores_buckets_ratio: Some(1),
            online_cores: buckets,
            ..MpmDirectives::default()
        })
    }
}

prop_compose! {
    fn prefork_config()(
        start in 1i64..20,
        min in 1i64..10,
        max in 1i64..20,
        mrw in 1i64..60,
        server_limit in 1i64..80,
        buckets in 1u32..4,
    ) -> PoolConfig {
        PoolConfig::from_directives(Mpm::Prefork, &MpmDirectives {
            start_servers: Some(start),
            min_spare_servers: Some(min),
            max_spare_servers: Some(max),
            max_request_workers: Some(mrw),
            server_limit: Some(server_limit),
            listen_cores_buckets_ratio: Some(1),
            online_cores: buckets,
            ..MpmDirectives::default()
        })
    }
}

fn any_config() -> impl Strategy<Value = PoolConfig> {
    prop_oneof![threaded_config(), prefork_config()]
        .prop_filter("httpd would reject it", |config| config.validate().is_ok())
}

#[derive(Clone, Debug)]
struct Step {
    /// Connections held during this second, as a fraction of capacity (‰).
    load_permille: u32,
    /// Crash (or exit) one child: which one, and how.
    exit: Option<(usize, u8)>,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            0u32..1600,
            prop::option::weighted(0.15, (0usize..64, 0u8..4)),
        )
            .prop_map(|(load_permille, exit)| Step {
                load_permille,
                exit,
            }),
        SECONDS,
    )
}

fn exit_status(kind: u8) -> ExitStatus {
    match kind {
        0 => ExitStatus::SUCCESS,
        1 => ExitStatus::Exited {
            code: exit_code::CHILD_SICK,
        },
        2 => ExitStatus::signaled(signal::SEGV),
        _ => ExitStatus::signaled(signal::KILL),
    }
}

struct Run {
    actions: Vec<(Timestamp, Action)>,
    ticks: Vec<TickRecord>,
}

/// Drives a harness through the script, checking the population invariants
/// at every step.
fn run(config: &PoolConfig, script: &[Step], restart_at: Option<u64>) -> Run {
    let capacity = config.daemons_limit.min(config.server_limit) * config.threads_per_child;
    let mut harness = Harness::new(config.clone());
    if let Some(second) = restart_at {
        harness.signal_at(
            secs(second) + Duration::from_millis(400),
            ParentSignal::GracefulRestart,
        );
    }
    for (index, step) in script.iter().enumerate() {
        let second = index as u64 + 1;
        let load = u32::try_from(u64::from(capacity) * u64::from(step.load_permille) / 1000)
            .unwrap_or(u32::MAX);
        harness.set_load_before_tick(second, load);
        harness.run_until(secs(second) + Duration::from_millis(300));
        if let Some((pick, kind)) = step.exit {
            let alive: Vec<ChildId> = harness
                .children
                .iter()
                .filter(|(_, child)| !child.exited && !child.exit_scheduled)
                .map(|(id, _)| *id)
                .collect();
            if !alive.is_empty() {
                let child = alive[pick % alive.len()];
                let at = harness.now + Duration::from_millis(100);
                harness.child_exits_at(at, child, exit_status(kind));
            }
        }
        check_population(&harness, config);
    }
    Run {
        actions: harness.actions,
        ticks: harness.ticks,
    }
}

fn check_population(harness: &Harness, config: &PoolConfig) {
    let controller = &harness.controller;
    let in_scoreboard: Vec<_> = controller.children().filter(|c| c.in_scoreboard).collect();
    assert!(in_scoreboard.len() <= config.server_limit as usize);
    match config.mpm {
        // Neither ever shares a slot, so live processes are bounded too.
        Mpm::Prefork | Mpm::Event => {
            assert!(harness.live_children() <= config.server_limit);
        }
        Mpm::Worker => {
            assert!(in_scoreboard.iter().all(|c| c.slot < config.daemons_limit));
        }
    }
    if config.mpm == Mpm::Prefork {
        assert!(
            in_scoreboard
                .iter()
                .all(|c| c.slot < config.max_request_workers)
        );
    }
    if config.mpm == Mpm::Event {
        assert!(controller.active_daemons() <= controller.total_daemons());
    }
}

fn is_reset_decision(decision: &Decision) -> bool {
    matches!(
        decision,
        Decision::Kill
            | Decision::KillDeferred
            | Decision::Balanced
            | Decision::AtMaxRequestWorkers
            | Decision::ScoreboardFull
            | Decision::SpawnCancelledAtActiveLimit
    )
}

fn check_decisions(config: &PoolConfig, run: &Run, hold_off_possible: bool) {
    let cap = config.spawn_rate_cap();
    for record in &run.ticks {
        let (idle, min, max) = (record.idle, record.min_spare, record.max_spare);
        match &record.decision {
            // Strict thresholds: idle == Max never kills, idle == Min never spawns.
            Decision::Kill | Decision::KillDeferred => assert!(idle > max, "{record:?}"),
            Decision::Spawn { .. }
            | Decision::AtMaxRequestWorkers
            | Decision::ScoreboardFull
            | Decision::SpawnCancelledAtActiveLimit => assert!(idle < min, "{record:?}"),
            Decision::Balanced => assert!(min <= idle && idle <= max, "{record:?}"),
            Decision::AwaitingHealthyChild | Decision::GaveUp => {}
        }
        if is_reset_decision(&record.decision) {
            assert_eq!(record.next_spawn_rate, 1, "{record:?}");
        }
        if let Decision::Spawn { slots } = &record.decision {
            let (rate, next) = (record.spawn_rate, record.next_spawn_rate);
            assert!(
                !slots.is_empty() && slots.len() as u32 <= rate,
                "{record:?}"
            );
            assert!(slots.len() as u32 <= record.free_slots, "{record:?}");
            if hold_off_possible {
                assert!(
                    next == rate || (next == rate * 2 && rate < cap),
                    "{record:?}"
                );
            } else if rate < cap {
                // The doubling sequence 1, 2, 4, … up to the cap.
                assert_eq!(next, rate * 2, "{record:?}");
            } else {
                assert_eq!(next, rate, "{record:?}");
            }
            if config.mpm == Mpm::Event {
                assert!(record.active_daemons <= config.daemons_limit, "{record:?}");
            }
        }
        if config.num_buckets == 1 {
            assert!(record.next_spawn_rate <= 32);
        }
        assert!(record.next_spawn_rate.is_power_of_two());
    }
    // At most one kill per bucket per maintenance run.
    let mut kills: BTreeMap<(Timestamp, u32), u32> = BTreeMap::new();
    for (at, action) in &run.actions {
        if let Action::Kill { bucket, graceful } = action {
            assert!(*graceful);
            assert!(*bucket < config.num_buckets);
            *kills.entry((*at, *bucket)).or_default() += 1;
        }
    }
    assert!(kills.values().all(|count| *count == 1), "{kills:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn maintenance_invariants_hold(config in any_config(), script in steps()) {
        let run = run(&config, &script, None);
        check_decisions(&config, &run, false);
        // Without signals, ticks are exactly one second apart: one record
        // per bucket (prefork: one) at t = 1, 2, … whatever exits happened.
        let buckets = if config.mpm == Mpm::Prefork { 1 } else { config.num_buckets };
        let mut per_second: BTreeMap<u64, u32> = BTreeMap::new();
        for record in &run.ticks {
            let nanos = record.at.as_nanos();
            prop_assert_eq!(nanos % 1_000_000_000, 0, "tick off the 1-s grid: {:?}", record.at);
            *per_second.entry(nanos / 1_000_000_000).or_default() += 1;
        }
        let expected: BTreeMap<u64, u32> = (1..=SECONDS as u64).map(|s| (s, buckets)).collect();
        // A sick-child give-up ends the run early.
        if !run.ticks.iter().any(|r| r.decision == Decision::GaveUp) {
            prop_assert_eq!(per_second, expected);
        }
    }

    #[test]
    fn invariants_hold_across_a_graceful_restart(
        config in any_config(),
        script in steps(),
        restart_at in 2u64..20,
    ) {
        let run = run(&config, &script, Some(restart_at));
        check_decisions(&config, &run, true);
    }

    #[test]
    fn same_inputs_give_same_actions(config in any_config(), script in steps()) {
        let first = run(&config, &script, Some(7));
        let second = run(&config, &script, Some(7));
        prop_assert_eq!(first.actions, second.actions);
        prop_assert_eq!(first.ticks, second.ticks);
    }

    #[test]
    fn spawn_rate_doubles_from_one_to_the_cap_under_sustained_shortage(
        config in any_config(),
    ) {
        // Unbounded demand from t=1: every tick is short of idle workers.
        let script = vec![Step { load_permille: 100_000, exit: None }; 12];
        let run = run(&config, &script, None);
        let cap = config.spawn_rate_cap().max(1);
        let rates: Vec<u32> = run
            .ticks
            .iter()
            .filter(|r| r.bucket == 0)
            .take_while(|r| matches!(r.decision, Decision::Spawn { .. }))
            .map(|r| r.spawn_rate)
            .collect();
        // 2.4.x doubles while the rate is below the cap, without clamping.
        let mut expected = 1;
        for rate in &rates {
            prop_assert_eq!(*rate, expected, "rates {:?}, cap {}", rates, cap);
            if expected < cap {
                expected *= 2;
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Advance(u16),
    Timeout,
    Exit(usize, u8),
    SpawnFailed(usize),
    Signal(u8),
    Write(u32, u32, u8),
    Quiesce(u32),
    NotAccepting(u32, bool),
    Reload(bool),
    Pid(usize, u32),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (0u16..3000).prop_map(Op::Advance),
        4 => Just(Op::Timeout),
        2 => (0usize..40, 0u8..6).prop_map(|(pick, kind)| Op::Exit(pick, kind)),
        1 => (0usize..40).prop_map(Op::SpawnFailed),
        1 => (0u8..4).prop_map(Op::Signal),
        3 => (0u32..40, 0u32..70, 0u8..11).prop_map(|(s, t, st)| Op::Write(s, t, st)),
        1 => (0u32..40).prop_map(Op::Quiesce),
        1 => (0u32..40, any::<bool>()).prop_map(|(s, b)| Op::NotAccepting(s, b)),
        1 => any::<bool>().prop_map(Op::Reload),
        1 => (0usize..40, any::<u32>()).prop_map(|(pick, pid)| Op::Pid(pick, pid)),
    ];
    prop::collection::vec(op, 1..200)
}

const STATUSES: [ThreadStatus; 11] = [
    ThreadStatus::Dead,
    ThreadStatus::Starting,
    ThreadStatus::Ready,
    ThreadStatus::BusyRead,
    ThreadStatus::BusyWrite,
    ThreadStatus::BusyKeepalive,
    ThreadStatus::BusyLog,
    ThreadStatus::BusyDns,
    ThreadStatus::Closing,
    ThreadStatus::Graceful,
    ThreadStatus::IdleKill,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any sequence of driver calls, sensible or not, is answered without a
    /// panic, and the controller keeps its counters consistent.
    #[test]
    fn arbitrary_driver_calls_never_panic(config in any_config(), ops in ops()) {
        let mut controller = Controller::new(config.clone(), Timestamp::ZERO)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut now = Timestamp::ZERO;
        let mut spawned: Vec<ChildId> = Vec::new();
        for op in ops {
            while let Some(action) = controller.poll_action() {
                if let Action::Spawn(spawn) = action {
                    spawned.push(spawn.child);
                }
            }
            while controller.poll_tick_record().is_some() {}
            let pick = |index: usize| spawned.get(index % spawned.len().max(1)).copied();
            match op {
                Op::Advance(ms) => now = now + Duration::from_millis(u64::from(ms)),
                Op::Timeout => {
                    if let Some(deadline) = controller.poll_timeout() {
                        now = now.max(deadline);
                        controller.handle_timeout(now);
                    }
                }
                Op::Exit(index, kind) => {
                    if let Some(child) = pick(index) {
                        let status = match kind {
                            4 => ExitStatus::Exited { code: exit_code::CHILD_FATAL },
                            5 => ExitStatus::Signaled { signal: 99, core_dumped: true },
                            other => exit_status(other),
                        };
                        let _ = controller.handle_child_exit(now, child, status);
                    }
                }
                Op::SpawnFailed(index) => {
                    if let Some(child) = pick(index) {
                        let _ = controller.handle_spawn_failed(now, child);
                    }
                }
                Op::Signal(kind) => {
                    let signal = match kind {
                        0 => ParentSignal::Stop,
                        1 => ParentSignal::GracefulStop,
                        2 => ParentSignal::Restart,
                        _ => ParentSignal::GracefulRestart,
                    };
                    controller.handle_signal(now, signal);
                }
                Op::Write(slot, thread, status) => {
                    let status = STATUSES[status as usize % STATUSES.len()];
                    let _ = controller.scoreboard_mut().set_thread_status(slot, thread, status);
                }
                Op::Quiesce(slot) => {
                    let _ = controller.scoreboard_mut().announce_quiescing(slot);
                }
                Op::NotAccepting(slot, value) => {
                    let _ = controller.scoreboard_mut().set_not_accepting(slot, value);
                }
                Op::Reload(valid) => {
                    let mut new = config.clone();
                    if !valid {
                        new.max_spare = 0;
                    }
                    let _ = controller.handle_config_reloaded(now, new);
                }
                Op::Pid(index, pid) => {
                    if let Some(child) = pick(index) {
                        let _ = controller.handle_child_pid(child, pid);
                    }
                }
            }
            if config.mpm == Mpm::Event {
                prop_assert!(controller.active_daemons() <= controller.total_daemons());
            }
            let occupied = controller
                .scoreboard()
                .processes()
                .iter()
                .filter(|p| p.child().is_some())
                .count();
            prop_assert!(occupied <= config.server_limit as usize);
        }
    }
}
