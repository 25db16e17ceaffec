//! The worked examples of reference §11, second by second.
//!
//! Each table gives the number of live child processes during second t
//! (after the tick at t). Ticks run at t = 1, 2, 3 … after the start-up
//! forks at t = 0; load changes land just before the tick at their second.

use quill_mpm::{Decision, MessageId, Mpm, Timestamp};

use crate::harness::{Harness, prefork, worker_like};

/// Counts for seconds `from..=to` from a table where each entry covers a run
/// of seconds: `expand(&[(0, 10), (1, 9)])`.
fn expand(runs: &[(u64, u64, u32)]) -> Vec<u32> {
    runs.iter()
        .flat_map(|&(from, to, count)| (from..=to).map(move |_| count))
        .collect()
}

// ---------------------------------------------------------------------------
// (a) StartServers 10, MRW 400, Min 25, Max 75, TPC 25 (daemons_limit 16)
// ---------------------------------------------------------------------------

fn example_a(mpm: Mpm) -> Harness {
    let config = worker_like(mpm, 10, 400, 25, 75, 25);
    assert_eq!(config.daemons_limit, 16);
    let mut harness = Harness::new(config);
    harness.set_load_before_tick(20, 200);
    harness.set_load_before_tick(50, 0);
    harness
}

#[test]
fn example_a_worker_zero_load_kills_one_child_per_tick() {
    let mut harness = example_a(Mpm::Worker);
    let live = harness.live_per_second(0, 14);
    assert_eq!(live, vec![10, 9, 8, 7, 6, 5, 4, 3, 3, 3, 3, 3, 3, 3, 3]);
}

#[test]
fn example_a_event_zero_load_kills_only_every_other_tick() {
    let mut harness = example_a(Mpm::Event);
    let live = harness.live_per_second(0, 14);
    assert_eq!(live, vec![10, 9, 9, 8, 8, 7, 7, 6, 6, 5, 5, 4, 4, 3, 3]);
    // The even ticks wanted to kill but the guard held them back.
    let deferred: Vec<u64> = harness
        .decisions()
        .into_iter()
        .filter(|(_, decision)| *decision == Decision::KillDeferred)
        .map(|(at, _)| at.as_nanos() / 1_000_000_000)
        .collect();
    assert_eq!(deferred, vec![2, 4, 6, 8, 10, 12]);
}

#[test]
fn example_a_worker_load_step_and_removal() {
    let mut harness = example_a(Mpm::Worker);
    let live = harness.live_per_second(15, 62);
    let expected = expand(&[
        (15, 19, 3),
        (20, 20, 4),
        (21, 21, 6),
        (22, 49, 10),
        (50, 50, 9),
        (51, 51, 8),
        (52, 52, 7),
        (53, 53, 6),
        (54, 54, 5),
        (55, 55, 4),
        (56, 62, 3),
    ]);
    assert_eq!(live, expected);
    // The rate reached 8 only after the last spawning round: no "seems busy".
    assert!(harness.logs_with(MessageId::SeemsBusy).is_empty());
}

#[test]
fn example_a_event_load_step_and_removal() {
    let mut harness = example_a(Mpm::Event);
    let live = harness.live_per_second(15, 65);
    let expected = expand(&[
        (15, 19, 3),
        (20, 20, 4),
        (21, 21, 6),
        (22, 49, 10),
        (50, 51, 9),
        (52, 53, 8),
        (54, 55, 7),
        (56, 57, 6),
        (58, 59, 5),
        (60, 61, 4),
        (62, 65, 3),
    ]);
    assert_eq!(live, expected);
}

#[test]
fn example_a_oldest_children_die_first() {
    let mut harness = example_a(Mpm::Worker);
    harness.run_until(Timestamp::from_secs(70));
    // Survivors after the ramp-down are the three most recently forked.
    let survivors: Vec<u64> = harness
        .children
        .iter()
        .filter(|(_, child)| !child.exited)
        .map(|(id, _)| id.serial())
        .collect();
    assert_eq!(survivors, vec![15, 16, 17]);
}

// ---------------------------------------------------------------------------
// (b) StartServers 2, MRW 150, Min 25, Max 75, TPC 25 (daemons_limit 6)
// ---------------------------------------------------------------------------

fn example_b(mpm: Mpm) -> Harness {
    let config = worker_like(mpm, 2, 150, 25, 75, 25);
    assert_eq!(config.daemons_limit, 6);
    let mut harness = Harness::new(config);
    harness.set_load_before_tick(20, 200);
    harness.set_load_before_tick(50, 0);
    harness
}

fn example_b_counts() -> Vec<u32> {
    expand(&[
        (0, 19, 2),
        (20, 20, 3),
        (21, 21, 5),
        (22, 49, 6),
        (50, 50, 5),
        (51, 51, 4),
        (52, 60, 3),
    ])
}

#[test]
fn example_b_worker_settles_at_three_not_two() {
    let mut harness = example_b(Mpm::Worker);
    assert_eq!(harness.live_per_second(0, 60), example_b_counts());
    let reached = harness.logs_with(MessageId::ReachedMaxRequestWorkers);
    assert_eq!(reached.len(), 1, "logged once, not every tick");
    assert_eq!(reached[0].at, Timestamp::from_secs(23));
    assert_eq!(
        reached[0].to_string(),
        "[mpm_worker:error] AH00286: server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting"
    );
}

#[test]
fn example_b_event_matches_worker_and_kills_every_tick() {
    let mut harness = example_b(Mpm::Event);
    assert_eq!(harness.live_per_second(0, 60), example_b_counts());
    assert_eq!(
        harness.logs_with(MessageId::ReachedMaxRequestWorkers).len(),
        1
    );
    // The tick-22 spawn was capped by the active-daemons limit: 1, not 4.
    let tick_22 = harness
        .ticks
        .iter()
        .find(|record| record.at == Timestamp::from_secs(22));
    assert_eq!(
        tick_22.map(|record| record.decision.clone()),
        Some(Decision::Spawn { slots: vec![5] })
    );
}

// ---------------------------------------------------------------------------
// (c) StartServers 15, MRW 400, Min 25, Max 375, TPC 25
// ---------------------------------------------------------------------------

#[test]
fn example_c_idle_equal_to_max_never_kills() {
    for mpm in [Mpm::Worker, Mpm::Event] {
        let mut harness = Harness::new(worker_like(mpm, 15, 400, 25, 375, 25));
        harness.set_load_before_tick(20, 200);
        harness.set_load_before_tick(50, 0);
        let live = harness.live_per_second(0, 65);
        assert_eq!(live, vec![15; 66], "{mpm:?}");
        assert!(
            harness
                .decisions()
                .iter()
                .all(|(_, decision)| *decision == Decision::Balanced),
            "{mpm:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Extra: prefork, StartServers 5, Min 5, Max 10, MRW 150, 30 slow connections
// ---------------------------------------------------------------------------

#[test]
fn extra_prefork_ramp_overshoots_then_settles_at_max_spare() {
    let mut harness = Harness::new(prefork(5, 5, 10, 150));
    harness.set_load_before_tick(20, 30);
    harness.set_load_before_tick(50, 0);
    let ramp = harness.live_per_second(19, 26);
    assert_eq!(ramp, vec![5, 6, 8, 12, 20, 36, 36, 36]);

    let busy: Vec<String> = harness
        .logs_with(MessageId::SeemsBusy)
        .iter()
        .map(|record| record.message.clone())
        .collect();
    assert_eq!(
        busy,
        vec![
            "server seems busy, (you may need to increase StartServers, or Min/MaxSpareServers), spawning 8 children, there are 0 idle, and 12 total children",
            "server seems busy, (you may need to increase StartServers, or Min/MaxSpareServers), spawning 16 children, there are 0 idle, and 20 total children",
        ]
    );

    // One kill per tick for 26 ticks: 36 → 10, never down to MinSpare.
    let down = harness.live_per_second(49, 80);
    let mut expected = vec![36];
    expected.extend((10..=35).rev());
    expected.extend(std::iter::repeat_n(10, 80 - 75));
    assert_eq!(down, expected);
    let kills = harness
        .decisions()
        .iter()
        .filter(|(_, decision)| *decision == Decision::Kill)
        .count();
    assert_eq!(kills, 26);
}
