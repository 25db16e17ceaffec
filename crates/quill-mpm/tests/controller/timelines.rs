//! Snapshots of what an operator would see: the parent's actions and error
//! log over a whole scenario, one line per action. Bless changes with
//! `INSTA_UPDATE=always cargo test -p quill-mpm --test controller` and review
//! the diff.

use std::fmt::Write;

use quill_mpm::{Action, Mpm, ParentSignal, Timestamp};

use crate::harness::{Harness, worker_like};

fn render(harness: &Harness) -> String {
    let mut out = String::new();
    for (at, action) in &harness.actions {
        let line = match action {
            Action::Spawn(spawn) => format!(
                "spawn {} slot {} bucket {} gen {}",
                spawn.child, spawn.slot, spawn.bucket, spawn.generation
            ),
            Action::Kill { bucket, graceful } => {
                format!("kill bucket {bucket} graceful {graceful}")
            }
            Action::Stop { child, mode, via } => format!("stop {child} {mode:?} via {via:?}"),
            Action::Signal { child, signal } => format!("signal {child} {signal:?}"),
            Action::CloseListeners => "close listeners".to_owned(),
            Action::ReloadConfig => "reload config".to_owned(),
            Action::Exit { code } => format!("exit {code}"),
            Action::Log(record) => format!("log {record}"),
        };
        let _ = writeln!(out, "{:>9} {line}", at.to_string());
    }
    out
}

#[test]
fn worker_example_b_with_restart_and_stop() {
    let mut harness = Harness::new(worker_like(Mpm::Worker, 2, 150, 25, 75, 25));
    harness.set_load_before_tick(20, 200);
    harness.set_load_before_tick(50, 0);
    harness.signal_at(
        Timestamp::from_millis(55_500),
        ParentSignal::GracefulRestart,
    );
    harness.signal_at(Timestamp::from_millis(58_500), ParentSignal::Stop);
    harness.run_until(Timestamp::from_secs(70));
    insta::assert_snapshot!(render(&harness));
}

#[test]
fn event_example_a_ramp_down_log() {
    let mut harness = Harness::new(worker_like(Mpm::Event, 10, 400, 25, 75, 25));
    harness.run_until(Timestamp::from_millis(15_500));
    insta::assert_snapshot!(render(&harness));
}
