//! The parent loop's timing and reaping rules (reference §5, §7.6) and the
//! per-MPM idle accounting details of §6 that the worked examples do not reach.

use quill_mpm::{
    Action, ChildId, Controller, Decision, ExitStatus, LogLevel, MessageId, Mpm, MpmDirectives,
    ParentState, PoolConfig, ThreadStatus, Timestamp, exit_code, signal,
};

use crate::harness::{Harness, prefork, worker_like};

fn secs(s: f64) -> Timestamp {
    Timestamp::from_nanos((s * 1e9).round() as u64)
}

fn drain(controller: &mut Controller) -> Vec<Action> {
    std::iter::from_fn(|| controller.poll_action()).collect()
}

fn spawned(actions: &[Action]) -> Vec<(ChildId, u32)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Spawn(spawn) => Some((spawn.child, spawn.slot)),
            _ => None,
        })
        .collect()
}

fn logged(actions: &[Action], id: MessageId) -> usize {
    actions
        .iter()
        .filter(|action| matches!(action, Action::Log(record) if record.id == id))
        .count()
}

/// Marks every thread of every spawned child READY, as a started child would.
fn all_ready(controller: &mut Controller, children: &[(ChildId, u32)]) {
    let threads = controller.config().threads_per_child;
    for (_, slot) in children {
        let board = controller.scoreboard_mut();
        assert!(
            board
                .set_thread_statuses(*slot, threads, ThreadStatus::Ready)
                .is_ok()
        );
    }
}

#[test]
fn start_up_forks_at_once_into_lowest_slots_and_ticks_every_second() {
    let config = worker_like(Mpm::Worker, 3, 400, 25, 100, 25);
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    let actions = drain(&mut controller);
    let slots: Vec<u32> = spawned(&actions).iter().map(|(_, slot)| *slot).collect();
    assert_eq!(slots, vec![0, 1, 2]);
    assert_eq!(logged(&actions, MessageId::Configured), 1);
    assert_eq!(controller.poll_timeout(), Some(secs(1.0)));
    // Too early: nothing happens.
    controller.handle_timeout(secs(0.5));
    assert_eq!(controller.poll_timeout(), Some(secs(1.0)));
    controller.handle_timeout(secs(1.0));
    assert_eq!(controller.poll_timeout(), Some(secs(2.0)));
    assert_eq!(controller.poll_tick_record().map(|r| r.at), Some(secs(1.0)));
}

#[test]
fn start_servers_is_capped_by_daemons_limit() {
    let config = worker_like(Mpm::Event, 10, 150, 25, 400, 25);
    assert_eq!(config.children_to_start(), 6);
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    assert_eq!(spawned(&drain(&mut controller)).len(), 6);
}

#[test]
fn killed_child_is_a_zombie_during_the_next_tick_and_reaped_right_after() {
    let mut harness = Harness::new(worker_like(Mpm::Worker, 10, 400, 25, 75, 25));
    harness.run_until(secs(2.5));
    let tick_2 = harness.ticks.iter().find(|r| r.at == secs(2.0)).unwrap();
    // The tick-1 victim still holds its slot but counts nothing.
    assert_eq!(tick_2.processes, 10);
    assert_eq!(tick_2.idle, 9 * 25);
    let tick_3 = harness.ticks.iter().find(|r| r.at == secs(3.0));
    assert!(tick_3.is_none());
    harness.run_until(secs(3.5));
    let tick_3 = harness.ticks.iter().find(|r| r.at == secs(3.0)).unwrap();
    assert_eq!(
        tick_3.processes, 9,
        "the tick-1 victim was reaped after tick 2"
    );
}

#[test]
fn reaping_neither_sleeps_nor_runs_maintenance() {
    let config = worker_like(Mpm::Worker, 3, 400, 25, 100, 25);
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    let children = spawned(&drain(&mut controller));
    all_ready(&mut controller, &children);
    controller
        .handle_child_exit(secs(0.3), children[0].0, ExitStatus::SUCCESS)
        .unwrap();
    controller
        .handle_child_exit(secs(0.4), children[1].0, ExitStatus::SUCCESS)
        .unwrap();
    // Exits do not wake the parent: SIGCHLD is not caught.
    assert_eq!(controller.poll_timeout(), Some(secs(1.0)));
    controller.handle_timeout(secs(1.0));
    let records: Vec<_> = std::iter::from_fn(|| controller.poll_tick_record()).collect();
    assert_eq!(records.len(), 1, "one maintenance run, before the reaps");
    assert_eq!(records[0].processes, 3);
    // Both reaped at once; the next tick is still one second later.
    assert_eq!(controller.poll_timeout(), Some(secs(2.0)));
    assert_eq!(controller.children().count(), 1);
    // Normal exits are not replaced directly (§7.3): only maintenance forks.
    assert!(spawned(&drain(&mut controller)).is_empty());
}

#[test]
fn worker_crash_is_replaced_at_once_but_prefork_waits_for_maintenance() {
    for mpm in [Mpm::Worker, Mpm::Event, Mpm::Prefork] {
        let config = match mpm {
            Mpm::Prefork => prefork(3, 1, 10, 150),
            _ => worker_like(mpm, 3, 400, 25, 100, 25),
        };
        let mut harness = Harness::new(config);
        harness.run_until(secs(5.0));
        let victim = *harness.children.keys().next().unwrap();
        harness.child_exits_at(
            secs(5.5),
            victim,
            ExitStatus::Signaled {
                signal: signal::SEGV,
                core_dumped: false,
            },
        );
        harness.run_until(secs(6.5));
        let replacement_at_6: Vec<u32> = harness
            .actions
            .iter()
            .filter(|(at, action)| *at == secs(6.0) && matches!(action, Action::Spawn(_)))
            .map(|(_, action)| match action {
                Action::Spawn(spawn) => spawn.slot,
                _ => u32::MAX,
            })
            .collect();
        let notice = harness.logs_with(MessageId::ChildExitSignal);
        assert_eq!(notice.len(), 1, "{mpm:?}");
        assert_eq!(
            notice[0].to_string(),
            "[core:notice] AH00052: child pid 1 exit signal Segmentation fault (11)"
        );
        if mpm == Mpm::Prefork {
            // 2 idle ≥ MinSpareServers 1: prefork never replaces it.
            assert!(replacement_at_6.is_empty());
            assert_eq!(harness.live_children(), 2);
        } else {
            assert_eq!(replacement_at_6, vec![0], "{mpm:?}");
            assert_eq!(harness.live_children(), 3);
            // The replacement happened in a reap iteration: no extra tick.
            assert_eq!(
                harness.ticks.iter().filter(|r| r.at == secs(6.0)).count(),
                1
            );
        }
    }
}

#[test]
fn third_successive_crash_is_not_replaced_and_warns() {
    let mut harness = Harness::new(worker_like(Mpm::Event, 3, 400, 25, 100, 25));
    harness.run_until(secs(5.0));
    let children: Vec<ChildId> = harness.children.keys().copied().collect();
    for child in &children {
        harness.child_exits_at(secs(5.5), *child, ExitStatus::signaled(signal::KILL));
    }
    harness.run_until(secs(6.5));
    assert_eq!(harness.live_children(), 2);
    let warnings = harness.logs_with(MessageId::ChildrenKilledSuccessively);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].level, LogLevel::Warn);
    assert_eq!(warnings[0].code, Some(10392));
    // SIGKILL deaths are expected: no "exit signal" notice.
    assert!(harness.logs_with(MessageId::ChildExitSignal).is_empty());
    // A timeout resets the streak: the next crash is replaced again.
    let next = *harness.children.keys().next_back().unwrap();
    harness.child_exits_at(secs(7.5), next, ExitStatus::signaled(signal::SEGV));
    harness.run_until(secs(8.5));
    assert_eq!(harness.live_children(), 2);
}

#[test]
fn child_sick_exit_resets_spawn_rate() {
    let config = worker_like(Mpm::Worker, 1, 400, 75, 200, 25);
    let mut harness = Harness::new(config);
    harness.set_load_before_tick(1, 1000);
    harness.run_until(secs(3.5));
    // Ticks 1, 2, 3 spawned 1, 2, 4: the rate is now 8.
    assert_eq!(harness.controller.spawn_rate(0), 8);
    let child = *harness.children.keys().next().unwrap();
    harness.child_exits_at(
        secs(3.6),
        child,
        ExitStatus::Exited {
            code: exit_code::CHILD_SICK,
        },
    );
    harness.run_until(secs(4.5));
    // Tick 4 (rate 8) ran before the reap; the reap reset the rate.
    let tick_4 = harness.ticks.iter().find(|r| r.at == secs(4.0)).unwrap();
    assert_eq!(tick_4.spawn_rate, 8);
    assert_eq!(harness.controller.spawn_rate(0), 1);
}

#[test]
fn sick_child_without_any_healthy_child_makes_the_server_give_up() {
    let config = worker_like(Mpm::Worker, 2, 400, 25, 100, 25);
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    let children = spawned(&drain(&mut controller));
    // No child ever starts its threads, and one exits "sick".
    controller
        .handle_child_exit(
            secs(0.5),
            children[0].0,
            ExitStatus::Exited {
                code: exit_code::CHILD_SICK,
            },
        )
        .unwrap();
    controller.handle_timeout(secs(1.0));
    drain(&mut controller);
    controller.handle_timeout(secs(2.0));
    let actions = drain(&mut controller);
    assert_eq!(logged(&actions, MessageId::SickChildGiveUp), 1);
    assert!(actions.contains(&Action::CloseListeners));
    // child_fatal: the graceful stop runs without the SIGWINCH notice.
    assert_eq!(logged(&actions, MessageId::CaughtSigwinch), 0);
    assert_eq!(controller.state(), ParentState::GracefulStopping);
}

#[test]
fn sick_child_is_forgiven_once_a_child_was_healthy() {
    let config = worker_like(Mpm::Worker, 2, 400, 25, 100, 25);
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    let children = spawned(&drain(&mut controller));
    all_ready(&mut controller, &children[1..]);
    controller
        .handle_child_exit(
            secs(0.5),
            children[0].0,
            ExitStatus::Exited {
                code: exit_code::CHILD_SICK,
            },
        )
        .unwrap();
    controller.handle_timeout(secs(1.0));
    controller.handle_timeout(secs(2.0));
    let actions = drain(&mut controller);
    assert_eq!(logged(&actions, MessageId::SickChildGiveUp), 0);
    assert_eq!(controller.state(), ParentState::Running);
}

#[test]
fn fatal_child_stops_worker_gracefully_and_exits_prefork_at_once() {
    for mpm in [Mpm::Worker, Mpm::Event, Mpm::Prefork] {
        let config = match mpm {
            Mpm::Prefork => prefork(2, 1, 10, 150),
            _ => worker_like(mpm, 2, 400, 25, 100, 25),
        };
        let mut harness = Harness::new(config);
        harness.run_until(secs(3.0));
        let child = *harness.children.keys().next().unwrap();
        harness.child_exits_at(
            secs(3.5),
            child,
            ExitStatus::Exited {
                code: exit_code::CHILD_FATAL,
            },
        );
        harness.run_until(secs(10.0));
        let alert = harness.logs_with(MessageId::ChildFatal);
        assert_eq!(alert.len(), 1);
        assert_eq!(
            alert[0].to_string(),
            "[core:alert] AH00050: Child 1 returned a Fatal error... Apache is exiting!"
        );
        assert!(harness.logs_with(MessageId::CaughtSigwinch).is_empty());
        assert!(harness.logs_with(MessageId::CaughtSigterm).is_empty());
        let exits: Vec<(Timestamp, i32)> = harness
            .actions
            .iter()
            .filter_map(|(at, action)| match action {
                Action::Exit { code } => Some((*at, *code)),
                _ => None,
            })
            .collect();
        match mpm {
            Mpm::Prefork => {
                assert_eq!(harness.logs_with(MessageId::MpmRunFailed).len(), 1);
                assert_eq!(exits, vec![(secs(4.0), 1)]);
            }
            _ => {
                // Graceful stop: the other child is told to finish, the
                // first 1-s check finds it gone, reclaim finds nothing.
                assert_eq!(exits, vec![(secs(5.0), 0)], "{mpm:?}");
            }
        }
    }
}

#[test]
fn scoreboard_full_is_logged_every_tick_with_a_stale_max_request_workers() {
    for (mpm, text) in [
        (Mpm::Worker, "scoreboard is full, not at MaxRequestWorkers"),
        (
            Mpm::Event,
            "scoreboard is full, not at MaxRequestWorkers.Increase ServerLimit.",
        ),
    ] {
        let config = PoolConfig::from_directives(
            mpm,
            &MpmDirectives {
                start_servers: Some(4),
                server_limit: Some(4),
                min_spare_threads: Some(25),
                max_spare_threads: Some(150),
                ..MpmDirectives::default()
            },
        );
        assert_eq!((config.daemons_limit, config.max_request_workers), (4, 400));
        let mut harness = Harness::new(config);
        harness.set_load_before_tick(5, 200);
        harness.run_until(secs(10.5));
        let full = harness.logs_with(MessageId::ScoreboardFull);
        assert_eq!(full.len(), 6, "ticks 5..=10, {mpm:?}");
        assert!(full.iter().all(|record| record.message == text));
        assert!(
            harness
                .logs_with(MessageId::ReachedMaxRequestWorkers)
                .is_empty()
        );
    }
}

#[test]
fn near_max_request_workers_is_reported_once() {
    let config = worker_like(Mpm::Worker, 6, 150, 50, 200, 25);
    let mut harness = Harness::new(config);
    harness.set_load_before_tick(3, 120);
    harness.run_until(secs(8.5));
    let near = harness.logs_with(MessageId::WithinMinSpareThreads);
    assert_eq!(near.len(), 1);
    assert_eq!(near[0].at, secs(3.0));
    assert!(
        harness
            .decisions()
            .iter()
            .filter(|(at, _)| *at >= secs(3.0))
            .all(|(_, decision)| *decision == Decision::AtMaxRequestWorkers)
    );
}

#[test]
fn event_children_that_stopped_accepting_count_no_idle_threads() {
    let config = worker_like(Mpm::Event, 3, 400, 25, 100, 25);
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    let children = spawned(&drain(&mut controller));
    all_ready(&mut controller, &children);
    for (_, slot) in &children[..2] {
        controller
            .scoreboard_mut()
            .set_not_accepting(*slot, true)
            .unwrap();
    }
    controller.handle_timeout(secs(1.0));
    let record = controller.poll_tick_record().unwrap();
    assert_eq!(record.idle, 25, "25 is not < 25: no spawn");
    assert_eq!(record.decision, Decision::Balanced);
    controller
        .scoreboard_mut()
        .set_not_accepting(children[2].1, true)
        .unwrap();
    controller.handle_timeout(secs(2.0));
    let record = controller.poll_tick_record().unwrap();
    assert_eq!(record.idle, 0);
    assert_eq!(record.decision, Decision::Spawn { slots: vec![3] });
}

#[test]
fn worker_counts_dead_and_starting_threads_of_live_children_as_idle() {
    let config = worker_like(Mpm::Worker, 2, 400, 25, 100, 25);
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    let children = spawned(&drain(&mut controller));
    let board = controller.scoreboard_mut();
    board
        .set_thread_statuses(children[0].1, 10, ThreadStatus::Starting)
        .unwrap();
    board
        .set_thread_statuses(children[1].1, 5, ThreadStatus::BusyWrite)
        .unwrap();
    controller.handle_timeout(secs(1.0));
    let record = controller.poll_tick_record().unwrap();
    // Child 0: 10 STARTING + 15 DEAD; child 1: 5 busy + 20 DEAD.
    assert_eq!(record.idle, 45);
    assert_eq!(record.active_threads, 5);
    // Quiescing children count nothing.
    controller
        .scoreboard_mut()
        .announce_quiescing(children[0].1)
        .unwrap();
    controller.handle_timeout(secs(2.0));
    assert_eq!(controller.poll_tick_record().unwrap().idle, 20);
}

#[test]
fn event_spawns_are_cancelled_at_the_active_daemons_limit() {
    let config = worker_like(Mpm::Event, 2, 50, 25, 60, 25);
    assert_eq!(config.daemons_limit, 2);
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    let children = spawned(&drain(&mut controller));
    for (_, slot) in &children {
        controller
            .scoreboard_mut()
            .set_not_accepting(*slot, true)
            .unwrap();
    }
    controller.handle_timeout(secs(1.0));
    let record = controller.poll_tick_record().unwrap();
    assert_eq!(record.decision, Decision::SpawnCancelledAtActiveLimit);
    assert_eq!(record.next_spawn_rate, 1);
    assert_eq!(record.hold_off, 0, "the increment is spent at once");
    let actions = drain(&mut controller);
    assert!(spawned(&actions).is_empty());
    assert_eq!(logged(&actions, MessageId::ActiveDaemonsLimit), 1);
}

#[test]
fn failed_fork_frees_the_slot_and_backs_off_ten_seconds() {
    let config = worker_like(Mpm::Worker, 2, 400, 75, 200, 25);
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    drain(&mut controller);
    controller.handle_timeout(secs(1.0));
    let failed = spawned(&drain(&mut controller));
    assert_eq!(failed.len(), 1);
    controller
        .handle_spawn_failed(secs(1.0), failed[0].0)
        .unwrap();
    let actions = drain(&mut controller);
    assert_eq!(logged(&actions, MessageId::ForkFailed), 1);
    assert_eq!(
        controller
            .scoreboard()
            .process(failed[0].1)
            .unwrap()
            .child(),
        None
    );
    assert_eq!(controller.state(), ParentState::ForkBackoff);
    assert_eq!(controller.poll_timeout(), Some(secs(11.0)));
    controller.handle_timeout(secs(11.0));
    assert_eq!(controller.poll_timeout(), Some(secs(12.0)));
    assert_eq!(
        controller.handle_spawn_failed(secs(12.0), failed[0].0),
        Err(quill_mpm::ControllerError::UnknownChild(failed[0].0))
    );
}

#[test]
fn bad_reports_are_errors_not_panics() {
    let config = prefork(2, 1, 10, 150);
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    let children = spawned(&drain(&mut controller));
    let child = children[0].0;
    controller
        .handle_child_exit(secs(0.1), child, ExitStatus::SUCCESS)
        .unwrap();
    assert!(matches!(
        controller.handle_child_exit(secs(0.2), child, ExitStatus::SUCCESS),
        Err(quill_mpm::ControllerError::ChildAlreadyExited(_))
    ));
    assert!(matches!(
        controller.handle_config_reloaded(secs(0.3), prefork(2, 1, 10, 150)),
        Err(quill_mpm::ControllerError::NotAwaitingConfig)
    ));
    controller.handle_timeout(secs(1.0));
    assert!(matches!(
        controller.handle_child_exit(secs(1.1), child, ExitStatus::SUCCESS),
        Err(quill_mpm::ControllerError::UnknownChild(_))
    ));
}

#[test]
fn prefork_kills_rotate_over_buckets_and_worker_kills_once_per_bucket() {
    let config = PoolConfig::from_directives(
        Mpm::Prefork,
        &MpmDirectives {
            start_servers: Some(20),
            max_spare_servers: Some(10),
            listen_cores_buckets_ratio: Some(1),
            online_cores: 2,
            ..MpmDirectives::default()
        },
    );
    let mut harness = Harness::new(config);
    harness.run_until(secs(4.5));
    let buckets: Vec<u32> = harness
        .actions
        .iter()
        .filter_map(|(_, action)| match action {
            Action::Kill { bucket, .. } => Some(*bucket),
            _ => None,
        })
        .collect();
    assert_eq!(buckets, vec![0, 1, 0, 1]);

    let config = PoolConfig::from_directives(
        Mpm::Worker,
        &MpmDirectives {
            start_servers: Some(12),
            min_spare_threads: Some(26),
            max_spare_threads: Some(102),
            listen_cores_buckets_ratio: Some(1),
            online_cores: 2,
            ..MpmDirectives::default()
        },
    );
    assert_eq!((config.min_spare, config.max_spare), (27, 102));
    let mut harness = Harness::new(config);
    harness.run_until(secs(1.5));
    let kills_at_1: Vec<u32> = harness
        .actions
        .iter()
        .filter_map(|(at, action)| match action {
            Action::Kill { bucket, .. } if *at == secs(1.0) => Some(*bucket),
            _ => None,
        })
        .collect();
    // 150 idle threads per bucket > 102 / 2: one kill in each bucket.
    assert_eq!(kills_at_1, vec![0, 1]);
    assert!(
        harness
            .ticks
            .iter()
            .all(|r| r.max_spare == 51 && r.min_spare == 13)
    );
}

#[test]
fn worker_child_takes_over_a_stopping_childs_slot() {
    // Kill at tick 1 (idle 100 > 75), then a load spike at tick 2 makes the
    // parent fork while the victim is still a zombie in slot 0.
    let config = worker_like(Mpm::Worker, 4, 400, 25, 75, 25);
    let mut harness = Harness::new(config);
    harness.set_load_before_tick(2, 75);
    harness.run_until(secs(2.5));
    let takeovers: Vec<_> = harness
        .actions
        .iter()
        .filter_map(|(at, action)| match action {
            Action::Spawn(spawn) if spawn.takes_over_from.is_some() => Some((*at, *spawn)),
            _ => None,
        })
        .collect();
    assert_eq!(takeovers.len(), 1);
    let (at, spawn) = takeovers[0];
    assert_eq!((at, spawn.slot), (secs(2.0), 0));
    assert_eq!(harness.logs_with(MessageId::TakingOverSlot).len(), 1);
    // The old child is still tracked, outside the scoreboard, and reaped.
    let old = spawn.takes_over_from.unwrap();
    assert!(
        harness.controller.child(old).is_none(),
        "reaped after tick 2"
    );
    let new = harness.controller.child(spawn.child).unwrap();
    assert!(new.in_scoreboard);
}

/// Code-derived quirk (reference §6.2 calls it harmless, and nb > 1 was
/// never run): worker's per-bucket passes leave `max_used` at the *last*
/// bucket's highest slot + 1, and `ap_find_child_by_pid` only searches below
/// it, so an exited child in a higher slot of another bucket is not found:
/// its slot keeps the dead child's id.
#[test]
fn worker_with_several_buckets_cannot_find_a_child_above_the_last_buckets_highest_slot() {
    let config = PoolConfig::from_directives(
        Mpm::Worker,
        &MpmDirectives {
            start_servers: Some(3),
            max_spare_threads: Some(150),
            min_spare_threads: Some(27),
            listen_cores_buckets_ratio: Some(1),
            online_cores: 2,
            ..MpmDirectives::default()
        },
    );
    let mut controller = Controller::new(config, Timestamp::ZERO).unwrap();
    let children = spawned(&drain(&mut controller));
    all_ready(&mut controller, &children);
    assert_eq!(
        children.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    controller.handle_timeout(secs(1.0));
    let (highest, slot) = children[2];
    controller
        .handle_child_exit(secs(1.5), highest, ExitStatus::SUCCESS)
        .unwrap();
    controller.handle_timeout(secs(2.0));
    assert!(controller.child(highest).is_none(), "waitpid consumed it");
    assert_eq!(
        controller.scoreboard().process(slot).unwrap().child(),
        Some(highest),
        "but its slot was not freed"
    );
}
