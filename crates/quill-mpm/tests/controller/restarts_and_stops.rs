//! Restarts, stops and the reclaim escalation (reference §9).

use std::time::Duration;

use quill_mpm::{
    Action, ChildSignal, Controller, Decision, ExitStatus, Generation, MessageId, Mpm,
    ParentSignal, ParentState, StopMode, StopVia, ThreadStatus, Timestamp, exit_code,
};

use crate::harness::{Harness, prefork, worker_like};

fn secs(s: f64) -> Timestamp {
    Timestamp::from_nanos((s * 1e9).round() as u64)
}

fn spawns_at(harness: &Harness, at: Timestamp) -> Vec<(u32, Generation)> {
    harness
        .actions
        .iter()
        .filter_map(|(when, action)| match action {
            Action::Spawn(spawn) if *when == at => Some((spawn.slot, spawn.generation)),
            _ => None,
        })
        .collect()
}

fn actions_at(harness: &Harness, at: Timestamp) -> Vec<Action> {
    harness
        .actions
        .iter()
        .filter(|(when, _)| *when == at)
        .map(|(_, action)| action.clone())
        .collect()
}

#[test]
fn a_signal_cuts_the_sleep_short_and_maintenance_runs_first() {
    let mut harness = Harness::new(worker_like(Mpm::Worker, 10, 400, 25, 75, 25));
    harness.signal_at(secs(0.5), ParentSignal::GracefulStop);
    harness.run_until(secs(0.6));
    let first = harness.ticks.first().map(|r| (r.at, r.decision.clone()));
    assert_eq!(first, Some((secs(0.5), Decision::Kill)));
    assert_eq!(harness.controller.state(), ParentState::GracefulStopping);
}

#[test]
fn graceful_restart_replaces_old_children_one_for_one() {
    let mut harness = Harness::new(worker_like(Mpm::Worker, 2, 150, 25, 75, 25));
    harness.signal_at(secs(10.5), ParentSignal::GracefulRestart);
    harness.run_until(secs(13.0));

    let at_signal = actions_at(&harness, secs(10.5));
    let restart_log = at_signal.iter().find_map(|action| match action {
        Action::Log(record) if record.id == MessageId::GracefulRestart => Some(record.to_string()),
        _ => None,
    });
    assert_eq!(
        restart_log.as_deref(),
        Some("[mpm_worker:notice] AH00297: SIGUSR1 received.  Doing graceful restart")
    );
    let stops = at_signal
        .iter()
        .filter(|action| {
            matches!(
                action,
                Action::Stop {
                    mode: StopMode::Graceful,
                    via: StopVia::PipeOfDeath,
                    ..
                }
            )
        })
        .count();
    assert_eq!(stops, 2);
    assert!(at_signal.contains(&Action::ReloadConfig));

    // Config reloaded 50 ms later; the idle old children have exited and are
    // replaced in their own slots right away.
    assert_eq!(
        spawns_at(&harness, secs(10.55)),
        vec![(0, Generation(1)), (1, Generation(1))]
    );
    assert_eq!(harness.controller.generation(), Generation(1));
    assert_eq!(harness.controller.hold_off(), 10);
    let ticks_after: Vec<Timestamp> = harness
        .ticks
        .iter()
        .map(|r| r.at)
        .filter(|at| *at > secs(10.5))
        .collect();
    assert_eq!(ticks_after, vec![secs(11.55), secs(12.55)]);
    assert_eq!(harness.live_children(), 2);
}

#[test]
fn graceful_restart_starts_missing_children_at_the_first_timeout_without_maintenance() {
    let mut harness = Harness::new(worker_like(Mpm::Worker, 2, 150, 25, 75, 25));
    harness.reload_delay = Duration::ZERO;
    harness.signal_at(secs(10.5), ParentSignal::GracefulRestart);
    harness.run_until(secs(13.0));
    // Reloaded before the old children exited: nothing to reap at 10.5.
    assert!(spawns_at(&harness, secs(10.5)).is_empty());
    // At the first timeout the zombies still hold slots 0 and 1.
    assert_eq!(
        spawns_at(&harness, secs(11.5)),
        vec![(2, Generation(1)), (3, Generation(1))]
    );
    assert!(
        harness.ticks.iter().all(|r| r.at != secs(11.5)),
        "no maintenance in the iteration that starts the remaining children"
    );
    assert!(harness.ticks.iter().any(|r| r.at == secs(12.5)));
}

#[test]
fn graceful_restart_holds_off_exponential_spawning_for_ten_rounds() {
    let mut harness = Harness::new(worker_like(Mpm::Worker, 1, 400, 25, 75, 25));
    harness.signal_at(secs(2.5), ParentSignal::GracefulRestart);
    harness.set_load_before_tick(5, 1000);
    harness.run_until(secs(20.0));
    let rounds: Vec<(u32, u32, u32)> = harness
        .ticks
        .iter()
        .filter(|r| matches!(r.decision, Decision::Spawn { .. }))
        .map(|r| (r.spawn_rate, r.next_spawn_rate, r.hold_off))
        .take(12)
        .collect();
    let mut expected: Vec<(u32, u32, u32)> = (0..10).rev().map(|left| (1, 1, left)).collect();
    expected.push((1, 2, 0));
    expected.push((2, 4, 0));
    assert_eq!(rounds, expected);
}

#[test]
fn prefork_graceful_restart_marks_slots_graceful_and_signals_each_child() {
    let mut controller = Controller::new(prefork(3, 1, 10, 150), Timestamp::ZERO).unwrap();
    std::iter::from_fn(|| controller.poll_action()).for_each(drop);
    for slot in 0..3 {
        controller
            .scoreboard_mut()
            .set_thread_status(slot, 0, ThreadStatus::Ready)
            .unwrap();
    }
    controller.handle_signal(secs(0.5), ParentSignal::GracefulRestart);
    let actions: Vec<Action> = std::iter::from_fn(|| controller.poll_action()).collect();
    for slot in 0..3 {
        assert_eq!(
            controller.scoreboard().status(slot, 0),
            ThreadStatus::Graceful
        );
    }
    let usr1 = actions
        .iter()
        .filter(|action| {
            matches!(
                action,
                Action::Stop {
                    via: StopVia::Signal(ChildSignal::GracefulUsr1),
                    ..
                }
            )
        })
        .count();
    assert_eq!(usr1, 3);
    assert!(actions.iter().any(|action| matches!(
        action,
        Action::Log(record) if record.message == "Graceful restart requested, doing restart"
    )));
    assert_eq!(controller.state(), ParentState::AwaitingConfig);
    assert_eq!(controller.poll_timeout(), None);
    // Old-generation GRACEFUL slots never count as idle.
    controller
        .handle_config_reloaded(secs(0.6), prefork(3, 1, 10, 150))
        .unwrap();
    controller.handle_timeout(secs(1.6));
    controller.handle_timeout(secs(2.6));
    let records: Vec<_> = std::iter::from_fn(|| controller.poll_tick_record()).collect();
    let ticks: Vec<Timestamp> = records.iter().map(|r| r.at).collect();
    // 0.5: the interrupted sleep; 1.6 started the new children instead.
    assert_eq!(ticks, vec![secs(0.5), secs(2.6)]);
    // Three GRACEFUL old children, three STARTING new ones (in slots 3..6).
    assert_eq!(records[1].idle, 3, "only the new generation counts");
    assert_eq!(records[1].processes, 6);
}

#[test]
fn fatal_exit_of_an_old_generation_child_is_ignored() {
    let mut harness = Harness::new(worker_like(Mpm::Worker, 2, 150, 25, 75, 25));
    harness.set_load_before_tick(5, 10);
    harness.signal_at(secs(10.5), ParentSignal::GracefulRestart);
    harness.run_until(secs(11.0));
    // The busy old child lingers; it then dies with APEXIT_CHILDFATAL.
    let old = *harness.children.keys().next().unwrap();
    assert!(!harness.children[&old].exited);
    harness.child_exits_at(
        secs(12.3),
        old,
        ExitStatus::Exited {
            code: exit_code::CHILD_FATAL,
        },
    );
    harness.run_until(secs(15.0));
    let ignored = harness.logs_with(MessageId::IgnoringFatalOfOldGeneration);
    assert_eq!(ignored.len(), 1);
    assert_eq!(
        ignored[0].message,
        "Ignoring fatal error in child of previous generation (pid 1)."
    );
    assert_eq!(harness.controller.state(), ParentState::Running);
}

#[test]
fn event_hard_restart_kills_reclaims_and_starts_afresh() {
    let mut harness = Harness::new(worker_like(Mpm::Event, 2, 150, 25, 75, 25));
    harness.signal_at(secs(10.5), ParentSignal::Restart);
    harness.run_until(secs(12.0));
    let at_signal = actions_at(&harness, secs(10.5));
    // event logs first, then `$` to each child, then the silent SIGTERM.
    let kinds: Vec<&str> = at_signal
        .iter()
        .filter_map(|action| match action {
            Action::Log(record) if record.id == MessageId::HardRestart => Some("log"),
            Action::Stop {
                mode: StopMode::Immediate,
                via: StopVia::PipeOfDeath,
                ..
            } => Some("$"),
            Action::Signal {
                signal: ChildSignal::Term,
                ..
            } => Some("TERM"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec!["log", "$", "$", "TERM", "TERM"]);
    // Children exit 5 ms later; the reclaim's first sleep is 16.384 ms.
    let reclaimed_at = secs(10.5) + Duration::from_micros(16_384);
    assert!(actions_at(&harness, reclaimed_at).contains(&Action::ReloadConfig));
    let restarted_at = reclaimed_at + Duration::from_millis(50);
    assert_eq!(
        spawns_at(&harness, restarted_at),
        vec![(0, Generation(1)), (1, Generation(1))]
    );
    assert_eq!(harness.controller.active_daemons(), 2);
    assert_eq!(harness.controller.total_daemons(), 2);
    assert_eq!(harness.controller.hold_off(), 0);
}

#[test]
fn prefork_hard_restart_sends_sighup_and_logs_after_reclaiming() {
    let mut harness = Harness::new(prefork(2, 1, 10, 150));
    harness.signal_at(secs(10.5), ParentSignal::Restart);
    harness.run_until(secs(12.0));
    let at_signal = actions_at(&harness, secs(10.5));
    let hups = at_signal
        .iter()
        .filter(|action| {
            matches!(
                action,
                Action::Stop {
                    via: StopVia::Signal(ChildSignal::Hup),
                    ..
                }
            )
        })
        .count();
    assert_eq!(hups, 2);
    assert!(
        !at_signal
            .iter()
            .any(|action| matches!(action, Action::Signal { .. })),
        "prefork reclaims without the initial SIGTERM"
    );
    let log = harness.logs_with(MessageId::HardRestart);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].at, secs(10.5) + Duration::from_micros(16_384));
}

#[test]
fn stop_escalates_against_children_that_ignore_signals() {
    let config = worker_like(Mpm::Worker, 2, 400, 25, 100, 25);
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    let mut timeline: Vec<(Duration, Action)> = Vec::new();
    let start = secs(4.5);
    controller.handle_timeout(secs(1.0));
    std::iter::from_fn(|| controller.poll_action()).for_each(drop);
    controller.handle_signal(start, ParentSignal::Stop);
    let mut polls = Vec::new();
    loop {
        while let Some(action) = controller.poll_action() {
            let now = polls.last().copied().unwrap_or(start);
            timeline.push((now.saturating_duration_since(start), action));
        }
        let Some(next) = controller.poll_timeout() else {
            break;
        };
        polls.push(next);
        controller.handle_timeout(next);
        assert!(polls.len() < 100, "reclaim never ends");
    }
    let poll_offsets: Vec<u64> = polls
        .iter()
        .map(|at| at.saturating_duration_since(start).as_micros() as u64)
        .collect();
    assert_eq!(
        poll_offsets,
        vec![
            16_384, 81_920, 344_064, 1_344_064, 2_344_064, 3_344_064, 4_344_064, 5_344_064,
            6_344_064, 7_344_064, 8_344_064, 9_344_064, 10_344_064
        ]
    );
    let signals: Vec<(u64, ChildSignal)> = timeline
        .iter()
        .filter_map(|(offset, action)| match action {
            Action::Signal { signal, .. } => Some((offset.as_micros() as u64, *signal)),
            _ => None,
        })
        .collect();
    let mut expected = Vec::new();
    for (offset, signal) in [
        (0, ChildSignal::Term),
        (3_344_064, ChildSignal::Term),
        (5_344_064, ChildSignal::Term),
        (7_344_064, ChildSignal::Term),
        (9_344_064, ChildSignal::Kill),
    ] {
        expected.push((offset, signal));
        expected.push((offset, signal));
    }
    assert_eq!(signals, expected);
    let log_ids: Vec<MessageId> = timeline
        .iter()
        .filter_map(|(_, action)| match action {
            Action::Log(record) if record.module == "core" => Some(record.id),
            _ => None,
        })
        .collect();
    let mut expected_logs = vec![MessageId::ReclaimSigterm; 6];
    expected_logs.extend([MessageId::ReclaimSigkill; 2]);
    expected_logs.extend([MessageId::ReclaimGiveUp; 2]);
    assert_eq!(log_ids, expected_logs);
    let (last_offset, last) = timeline.last().unwrap();
    assert_eq!(*last, Action::Exit { code: 0 });
    assert_eq!(last_offset.as_micros(), 10_344_064);
    assert!(timeline.iter().any(|(_, action)| matches!(
        action,
        Action::Log(record) if record.message == "caught SIGTERM, shutting down"
    )));
    assert_eq!(controller.state(), ParentState::Exited { code: 0 });
}

#[test]
fn graceful_stop_waits_for_busy_children_until_the_timeout() {
    let mut config = worker_like(Mpm::Worker, 2, 150, 25, 75, 25);
    config.graceful_shutdown_timeout = Duration::from_secs(3);
    let mut harness = Harness::new(config);
    harness.set_load_before_tick(5, 10);
    harness.signal_at(secs(10.5), ParentSignal::GracefulStop);
    harness.run_until(secs(20.0));
    let at_signal = actions_at(&harness, secs(10.5));
    assert!(at_signal.contains(&Action::CloseListeners));
    assert_eq!(
        harness.logs_with(MessageId::CaughtSigwinch)[0].to_string(),
        "[mpm_worker:notice] AH00296: caught SIGWINCH, shutting down gracefully"
    );
    // The busy child is stopping and ignores `$`; the reclaim's SIGTERM at
    // the cutoff ends it.
    let term_at = harness
        .actions
        .iter()
        .find_map(|(at, action)| match action {
            Action::Signal {
                signal: ChildSignal::Term,
                ..
            } => Some(*at),
            _ => None,
        });
    assert_eq!(term_at, Some(secs(13.5)));
    let exit = harness.actions.last().cloned();
    assert_eq!(
        exit,
        Some((
            secs(13.5) + Duration::from_micros(16_384),
            Action::Exit { code: 0 }
        ))
    );
    assert!(harness.logs_with(MessageId::CaughtSigterm).is_empty());
}

#[test]
fn a_second_stop_signal_ends_a_graceful_stop_at_once() {
    let mut harness = Harness::new(worker_like(Mpm::Event, 2, 150, 25, 75, 25));
    harness.set_load_before_tick(5, 10);
    harness.signal_at(secs(10.5), ParentSignal::GracefulStop);
    harness.signal_at(secs(20.2), ParentSignal::Stop);
    harness.run_until(secs(30.0));
    assert_eq!(
        harness.controller.state(),
        ParentState::Exited { code: 0 },
        "GracefulShutdownTimeout 0 would have waited forever"
    );
    let term_at = harness
        .actions
        .iter()
        .find_map(|(at, action)| match action {
            Action::Signal { .. } => Some(*at),
            _ => None,
        });
    assert_eq!(term_at, Some(secs(20.2)));
}

#[test]
fn prefork_stop_kills_the_process_group_and_reclaims() {
    let mut harness = Harness::new(prefork(3, 1, 10, 150));
    harness.signal_at(secs(2.5), ParentSignal::Stop);
    harness.run_until(secs(5.0));
    let at_signal = actions_at(&harness, secs(2.5));
    let killpg = at_signal
        .iter()
        .filter(|action| {
            matches!(
                action,
                Action::Stop {
                    mode: StopMode::Immediate,
                    via: StopVia::Signal(ChildSignal::Term),
                    ..
                }
            )
        })
        .count();
    assert_eq!(killpg, 3);
    let sigterm = harness.logs_with(MessageId::CaughtSigterm);
    assert_eq!(sigterm.len(), 1);
    assert_eq!(sigterm[0].at, secs(2.5) + Duration::from_micros(16_384));
    assert_eq!(harness.controller.state(), ParentState::Exited { code: 0 });
}

#[test]
fn reload_failure_exits_and_reload_may_not_change_server_limit() {
    let config = worker_like(Mpm::Worker, 2, 150, 25, 75, 25);
    let mut controller = Controller::new(config.clone(), Timestamp::ZERO).unwrap();
    controller.handle_signal(secs(0.5), ParentSignal::GracefulRestart);
    let mut bigger = config.clone();
    bigger.server_limit = 32;
    assert!(matches!(
        controller.handle_config_reloaded(secs(0.6), bigger),
        Err(quill_mpm::ControllerError::InvalidConfig(_))
    ));
    assert_eq!(controller.state(), ParentState::AwaitingConfig);
    controller.handle_config_reload_failed(secs(0.7));
    assert_eq!(controller.state(), ParentState::Exited { code: 1 });
    // Nothing moves an exited parent.
    controller.handle_signal(secs(0.8), ParentSignal::Restart);
    controller.handle_timeout(secs(100.0));
    assert_eq!(controller.state(), ParentState::Exited { code: 1 });
}
