//! Apache httpd 2.4's parent process manager — prefork, worker and event —
//! as a pure state machine.
//!
//! This crate decides when a server forks a child, which slot it gets, when
//! an idle child is told to stop, what gets logged, and how restarts and
//! stops unfold — exactly as httpd's parent does (see
//! `reference/apache-mpm.md`). It performs no I/O, reads no clock, starts no
//! thread and draws no random number, so two drivers share it:
//!
//! * the simulator (`quill-sim`) runs it in virtual time against modelled
//!   children and load;
//! * the supervisor (`quill-server`) runs it in real time against real
//!   processes.
//!
//! The interface follows quinn-proto's sans-IO style: `handle_*` feeds in
//! what happened, `poll_*` hands out what to do, and `now` is always a
//! parameter.
//!
//! ```text
//!             handle_child_exit(t, child, status)      poll_action()
//!   driver ── handle_signal(t, signal) ─────────▶ ┌────────────┐ ──▶ Spawn / Kill / Stop /
//!   (sim or   handle_timeout(t)                   │ Controller │     Signal / Log / Exit
//!   supervisor) scoreboard_mut(): child writes ─▶ └────────────┘ ──▶ poll_tick_record()
//!        ▲                                              │
//!        └──────────── poll_timeout(): next wake-up ◀───┘
//!
//!   parent loop (httpd's ap_wait_or_timeout):
//!
//!   t=0 fork StartServers ─ wait ─┬─ exited child queued? ── reap it, wait again (no sleep,
//!                                 │                          no maintenance)
//!                                 └─ none ── sleep 1 s ── tick: maintenance ── wait …
//!
//!   ticks at t = 1, 2, 3 … s; a child killed at tick k exits ms later, while
//!   the parent sleeps, so it is a zombie during tick k+1 and reaped right
//!   after it.
//! ```
//!
//! A minimal driver loop (the simulator's has the same shape):
//!
//! ```
//! use quill_mpm::{Action, Controller, ExitStatus, Mpm, MpmDirectives, PoolConfig, Timestamp};
//!
//! let config = PoolConfig::from_directives(
//!     Mpm::Worker,
//!     &MpmDirectives { start_servers: Some(10), min_spare_threads: Some(25),
//!                      max_spare_threads: Some(75), ..MpmDirectives::default() },
//! );
//! let mut controller = Controller::new(config, Timestamp::ZERO)?;
//! let mut live = 0;
//! for _ in 0..10 {
//!     while let Some(action) = controller.poll_action() {
//!         match action {
//!             Action::Spawn(_) => live += 1,
//!             Action::Kill { bucket, .. } => {
//!                 // The driver picks who reads the pipe of death; here the
//!                 // oldest child, which stops at once because it is idle.
//!                 if let Some(victim) = controller.default_kill_victim(bucket) {
//!                     let slot = controller.child(victim).map(|c| c.slot).unwrap_or(0);
//!                     controller.scoreboard_mut().announce_quiescing(slot)?;
//!                     let at = controller.poll_timeout().unwrap_or_default();
//!                     controller.handle_child_exit(at, victim, ExitStatus::SUCCESS)?;
//!                     live -= 1;
//!                 }
//!             }
//!             _ => {}
//!         }
//!     }
//!     if let Some(deadline) = controller.poll_timeout() {
//!         controller.handle_timeout(deadline);
//!     }
//! }
//! // 10 children × 25 idle threads > MaxSpareThreads 75: one kill per tick.
//! assert!(live < 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Module map: [`config`] (the MPM values, and [`adjust`]: httpd's defaults
//! and start-up adjustments from directives as written), [`scoreboard`] (the shared
//! table), [`Controller`] (loop, reaping, maintenance, restarts), [`action`]
//! (outputs and per-tick records), [`messages`] (httpd's exact log texts),
//! [`ConnectionCounter`] (MaxConnectionsPerChild, enforced by children).
//!
//! Simplifications, each documented where it applies: fork failures are
//! reported after the fact ([`Controller::handle_spawn_failed`]); the
//! parent's `monitor` hook, piped loggers and other non-MPM children are not
//! modelled; the victim of a pipe-of-death byte is chosen by the driver.

pub mod action;
mod child;
pub mod config;
mod connection_limit;
mod controller;
pub mod messages;
pub mod scoreboard;
mod time;

pub use action::{Action, ChildSignal, Decision, Spawn, StopMode, StopVia, TickRecord};
pub use child::{ChildId, ChildState, ChildView, ExitStatus, Generation, exit_code, signal};
pub use config::{
    AdjustedMpm, Adjustment, ConfigError, Knob, Mpm, MpmDirectives, PoolConfig, adjust,
};
pub use connection_limit::{AcceptCheck, ConnectionCounter};
pub use controller::{
    Controller, ControllerError, FORK_FAILURE_BACKOFF, GRACEFUL_RESTART_HOLD_OFF,
    GRACEFUL_STOP_CHECK_INTERVAL, MAINTENANCE_INTERVAL, ParentSignal, ParentState,
    RECLAIM_FIRST_WAIT, RECLAIM_MAX_WAIT, ServerIdentity,
};
pub use messages::{LogLevel, LogRecord, MessageId};
pub use scoreboard::{ProcessSlot, Quiescing, Scoreboard, ScoreboardError, ThreadStatus};
pub use time::Timestamp;
