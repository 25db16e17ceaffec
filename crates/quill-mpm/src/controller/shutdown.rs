//! What follows the main loop (reference §9): graceful restart, hard
//! restart, stop, graceful stop, and `ap_reclaim_child_processes()`'s
//! escalation timeline.

use std::time::Duration;

use crate::action::{Action, ChildSignal, StopMode, StopVia};
use crate::child::{ChildId, ChildState, Generation};
use crate::config::Mpm;
use crate::messages::Messages;
use crate::scoreboard::{Quiescing, ThreadStatus};
use crate::time::Timestamp;

use super::{Controller, Phase};

/// The graceful-stop loop checks for remaining children this often.
pub const GRACEFUL_STOP_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// `ap_reclaim_child_processes` first sleeps 1024 × 16 µs, then ×4 each
/// time, capped at one second.
pub const RECLAIM_FIRST_WAIT: Duration = Duration::from_micros(1024 * 16);

/// The longest sleep between reclaim polls.
pub const RECLAIM_MAX_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReclaimStep {
    /// Reap whoever exited; leave the others alone.
    Nothing,
    /// SIGTERM without a log line (the first action of a terminating reclaim).
    SigtermQuietly,
    /// SIGTERM with `child process %d still did not exit, sending a SIGTERM`.
    Sigterm,
    /// SIGKILL with its error line.
    Sigkill,
    /// Log `could not make child process %d exit…` and stop waiting.
    GiveUp,
}

/// httpd's action table: what to do once this much time has passed since
/// the reclaim started. Index 0 is the "nothing due" entry.
const RECLAIM_SCHEDULE: [(ReclaimStep, Duration); 7] = [
    (ReclaimStep::Nothing, Duration::ZERO),
    (ReclaimStep::SigtermQuietly, Duration::ZERO),
    (ReclaimStep::Sigterm, Duration::from_secs(3)),
    (ReclaimStep::Sigterm, Duration::from_secs(5)),
    (ReclaimStep::Sigterm, Duration::from_secs(7)),
    (ReclaimStep::Sigkill, Duration::from_secs(9)),
    (ReclaimStep::GiveUp, Duration::from_secs(10)),
];

/// What the parent does once every child is reclaimed (or it gave up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AfterReclaim {
    /// The run function returns DONE: the parent exits with status 0.
    Exit { log_caught_sigterm: bool },
    /// Hard restart: re-read the configuration.
    Reload { log_hard_restart: bool },
}

/// The state of one `ap_reclaim_child_processes` call.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reclaim {
    started: Timestamp,
    pub(super) next_poll: Timestamp,
    wait: Duration,
    next_step: usize,
    then: AfterReclaim,
}

impl Controller {
    /// The main loop ended because a signal (or a fatal child) set a flag.
    pub(super) fn leave_main_loop(&mut self, now: Timestamp) {
        if self.shutdown_pending && self.is_ungraceful {
            self.stop_now(now);
        } else if self.shutdown_pending {
            self.begin_graceful_stop(now);
        } else {
            self.restart(now);
        }
    }

    /// SIGTERM: kill every child at once, reclaim, exit.
    fn stop_now(&mut self, now: Timestamp) {
        match self.config.mpm {
            Mpm::Prefork => {
                self.signal_every_child(StopMode::Immediate, ChildSignal::Term);
                self.begin_reclaim(
                    now,
                    true,
                    AfterReclaim::Exit {
                        log_caught_sigterm: true,
                    },
                );
            }
            Mpm::Worker | Mpm::Event => {
                self.pipe_of_death_broadcast(self.generation, StopMode::Immediate);
                let log_caught_sigterm = !self.child_fatal;
                self.begin_reclaim(now, true, AfterReclaim::Exit { log_caught_sigterm });
            }
        }
    }

    /// SIGWINCH (or a fatal child in worker/event): close listeners, ask
    /// children to finish, then wait for them second by second.
    fn begin_graceful_stop(&mut self, now: Timestamp) {
        self.actions.push_back(Action::CloseListeners);
        match self.config.mpm {
            // prefork's pipe-of-death helper does nothing here (§9 quirk);
            // SIGUSR1 to each non-dead slot does the work.
            Mpm::Prefork => self.prefork_signal_non_dead_slots(false),
            Mpm::Worker | Mpm::Event => {
                self.pipe_of_death_broadcast(self.generation, StopMode::Graceful)
            }
        }
        self.relieve(now);
        if !self.child_fatal {
            self.log(self.messages.caught_sigwinch(now));
        }
        let timeout = self.config.graceful_shutdown_timeout;
        let cutoff = (!timeout.is_zero()).then(|| now + timeout);
        self.shutdown_pending = false;
        self.phase = Phase::GracefulStopping {
            next_check: now + GRACEFUL_STOP_CHECK_INTERVAL,
            cutoff,
        };
    }

    /// One iteration of the graceful-stop wait: reap, then keep waiting
    /// while a child is alive, no second stop signal came, and the
    /// GracefulShutdownTimeout has not passed.
    pub(super) fn graceful_stop_check(&mut self, now: Timestamp) {
        let Phase::GracefulStopping { cutoff, .. } = self.phase else {
            return;
        };
        self.relieve(now);
        let bound = match self.config.mpm {
            Mpm::Prefork => self.config.max_request_workers,
            Mpm::Worker => self.config.daemons_limit,
            Mpm::Event => self.max_used,
        };
        let any_alive = (0..bound).any(|slot| {
            self.scoreboard
                .slot(slot)
                .child
                .is_some_and(|child| self.children.contains_key(&child))
        });
        let before_cutoff = cutoff.is_none_or(|cutoff| now < cutoff);
        if !self.shutdown_pending && any_alive && before_cutoff {
            self.phase = Phase::GracefulStopping {
                next_check: now + GRACEFUL_STOP_CHECK_INTERVAL,
                cutoff,
            };
            return;
        }
        // Whatever remains is killed.
        match self.config.mpm {
            Mpm::Prefork => {
                self.signal_every_child(StopMode::Immediate, ChildSignal::Term);
                self.exit(0);
            }
            Mpm::Worker | Mpm::Event => {
                self.pipe_of_death_broadcast(self.generation, StopMode::Immediate);
                self.begin_reclaim(
                    now,
                    true,
                    AfterReclaim::Exit {
                        log_caught_sigterm: false,
                    },
                );
            }
        }
    }

    /// SIGUSR1 / SIGHUP: advance the generation and get rid of the old children.
    fn restart(&mut self, now: Timestamp) {
        let old_generation = self.generation;
        self.generation = Generation(self.generation.0.wrapping_add(1));
        let mpm = self.config.mpm;
        if !self.is_ungraceful {
            self.log(self.messages.graceful_restart(now));
            match mpm {
                Mpm::Prefork => self.prefork_signal_non_dead_slots(true),
                Mpm::Worker | Mpm::Event => {
                    self.pipe_of_death_broadcast(old_generation, StopMode::Graceful)
                }
            }
            self.enter_awaiting_config();
            return;
        }
        match mpm {
            Mpm::Prefork => {
                self.signal_every_child(StopMode::Immediate, ChildSignal::Hup);
                // prefork reclaims without the initial SIGTERM.
                self.begin_reclaim(
                    now,
                    false,
                    AfterReclaim::Reload {
                        log_hard_restart: true,
                    },
                );
            }
            Mpm::Worker => {
                self.pipe_of_death_broadcast(old_generation, StopMode::Immediate);
                self.begin_reclaim(
                    now,
                    true,
                    AfterReclaim::Reload {
                        log_hard_restart: true,
                    },
                );
            }
            Mpm::Event => {
                // event logs before killing, worker and prefork after reclaiming.
                self.log(self.messages.hard_restart(now));
                self.pipe_of_death_broadcast(old_generation, StopMode::Immediate);
                self.begin_reclaim(
                    now,
                    true,
                    AfterReclaim::Reload {
                        log_hard_restart: false,
                    },
                );
            }
        }
    }

    /// The run function returned OK: httpd clears its config pool (which
    /// resets the signal flags) and re-reads the configuration.
    fn enter_awaiting_config(&mut self) {
        self.was_graceful = !self.is_ungraceful;
        self.shutdown_pending = false;
        self.restart_pending = false;
        self.is_ungraceful = false;
        self.phase = Phase::AwaitingConfig;
        self.actions.push_back(Action::ReloadConfig);
    }

    /// `ap_mpm_podx_killpg(pod, daemons_limit, …)` on every bucket's pipe of
    /// `generation`: each child still reading it takes one byte. Children
    /// already stopping no longer read their pipe.
    fn pipe_of_death_broadcast(&mut self, generation: Generation, mode: StopMode) {
        for bucket in 0..self.config.num_buckets {
            let recipients: Vec<ChildId> = self
                .children
                .iter()
                .filter(|(id, record)| {
                    let slot = self.scoreboard.slot(record.slot);
                    record.is_running()
                        && record.bucket == bucket
                        && record.generation == generation
                        && slot.child == Some(**id)
                        && slot.quiescing == Quiescing::No
                })
                .map(|(id, _)| *id)
                .take(self.config.daemons_limit as usize)
                .collect();
            for child in recipients {
                self.actions.push_back(Action::Stop {
                    child,
                    mode,
                    via: StopVia::PipeOfDeath,
                });
            }
        }
    }

    /// prefork graceful restart / graceful stop: SIGUSR1 to the child of
    /// every slot whose status is not DEAD (restart also marks it GRACEFUL).
    fn prefork_signal_non_dead_slots(&mut self, mark_graceful: bool) {
        for slot in 0..self.config.max_request_workers {
            if self.scoreboard.status(slot, 0) == ThreadStatus::Dead {
                continue;
            }
            if mark_graceful {
                self.scoreboard
                    .force_status(slot, 0, ThreadStatus::Graceful);
            }
            let running = self
                .scoreboard
                .slot(slot)
                .child
                .filter(|child| self.children.get(child).is_some_and(|r| r.is_running()));
            if let Some(child) = running {
                self.actions.push_back(Action::Stop {
                    child,
                    mode: StopMode::Graceful,
                    via: StopVia::Signal(ChildSignal::GracefulUsr1),
                });
            }
        }
    }

    /// `killpg(getpgrp(), signal)`: every running child, tracked in the
    /// scoreboard or not.
    fn signal_every_child(&mut self, mode: StopMode, signal: ChildSignal) {
        let running: Vec<ChildId> = self
            .children
            .iter()
            .filter(|(_, record)| record.is_running())
            .map(|(id, _)| *id)
            .collect();
        for child in running {
            self.actions.push_back(Action::Stop {
                child,
                mode,
                via: StopVia::Signal(signal),
            });
        }
    }

    /// `ap_relieve_child_processes`: reap whoever has exited, nothing else.
    fn relieve(&mut self, now: Timestamp) {
        self.reclaim_pass(now, ReclaimStep::Nothing);
    }

    fn begin_reclaim(&mut self, now: Timestamp, terminate: bool, then: AfterReclaim) {
        self.phase = Phase::Reclaiming(Reclaim {
            started: now,
            next_poll: now,
            wait: RECLAIM_FIRST_WAIT,
            next_step: if terminate { 1 } else { 2 },
            then,
        });
        self.reclaim_loop_top(now);
    }

    /// The top of the reclaim do-loop: sleep unless the next action is due
    /// at once (only the initial SIGTERM is).
    fn reclaim_loop_top(&mut self, now: Timestamp) {
        let Phase::Reclaiming(mut reclaim) = self.phase else {
            return;
        };
        let next_due = RECLAIM_SCHEDULE
            .get(reclaim.next_step)
            .map_or(Duration::ZERO, |(_, due)| *due);
        if next_due.is_zero() {
            self.reclaim_poll(now);
            return;
        }
        reclaim.next_poll = now + reclaim.wait;
        reclaim.wait = (reclaim.wait * 4).min(RECLAIM_MAX_WAIT);
        self.phase = Phase::Reclaiming(reclaim);
    }

    /// One reclaim iteration: take the action that has come due (if any),
    /// reap exited children, count the rest.
    pub(super) fn reclaim_poll(&mut self, now: Timestamp) {
        let Phase::Reclaiming(mut reclaim) = self.phase else {
            return;
        };
        let elapsed = now.saturating_duration_since(reclaim.started);
        let step = match RECLAIM_SCHEDULE.get(reclaim.next_step) {
            Some((step, due)) if *due <= elapsed => {
                reclaim.next_step += 1;
                *step
            }
            _ => ReclaimStep::Nothing,
        };
        self.phase = Phase::Reclaiming(reclaim);
        let not_dead_yet = self.reclaim_pass(now, step);
        if not_dead_yet > 0 && step != ReclaimStep::GiveUp {
            self.reclaim_loop_top(now);
            return;
        }
        match reclaim.then {
            AfterReclaim::Exit { log_caught_sigterm } => {
                if log_caught_sigterm {
                    self.log(self.messages.caught_sigterm(now));
                }
                self.exit(0);
            }
            AfterReclaim::Reload { log_hard_restart } => {
                if log_hard_restart {
                    self.log(self.messages.hard_restart(now));
                }
                self.enter_awaiting_config();
            }
        }
    }

    /// Visits every child httpd would (scoreboard slots below `max_used`,
    /// then the worker take-over list, newest first): reap it if it exited,
    /// else apply `step`. Returns how many are still alive.
    fn reclaim_pass(&mut self, now: Timestamp, step: ReclaimStep) -> u32 {
        let mut not_dead_yet = 0;
        for slot in 0..self.max_used.min(self.config.server_limit) {
            let Some(child) = self.scoreboard.slot(slot).child else {
                continue;
            };
            let pid = self.pid_for_log(child);
            if self.reclaim_one(now, child, step) {
                self.note_child_reclaimed(now, slot, pid);
            } else {
                not_dead_yet += 1;
            }
        }
        let extras: Vec<ChildId> = self.extras.iter().rev().copied().collect();
        for child in extras {
            if self.reclaim_one(now, child, step) {
                self.extras.retain(|extra| *extra != child);
            } else {
                not_dead_yet += 1;
            }
        }
        not_dead_yet
    }

    /// `reclaim_one_pid`: true if the child is gone (reaped now, or a pid we
    /// no longer have, which `waitpid` would refuse).
    fn reclaim_one(&mut self, now: Timestamp, child: ChildId, step: ReclaimStep) -> bool {
        let Some(record) = self.children.get(&child) else {
            return true;
        };
        let pid = record.os_pid.map_or(child.0, u64::from);
        if let ChildState::Exited { status, .. } = record.state {
            self.forget_child(child);
            self.process_child_status(now, pid, status);
            return true;
        }
        let signal = match step {
            ReclaimStep::Nothing => None,
            ReclaimStep::SigtermQuietly => Some(ChildSignal::Term),
            ReclaimStep::Sigterm => {
                self.log(Messages::reclaim_sigterm(now, pid));
                Some(ChildSignal::Term)
            }
            ReclaimStep::Sigkill => {
                self.log(Messages::reclaim_sigkill(now, pid));
                Some(ChildSignal::Kill)
            }
            ReclaimStep::GiveUp => {
                self.log(Messages::reclaim_give_up(now, pid));
                None
            }
        };
        if let Some(signal) = signal {
            self.actions.push_back(Action::Signal { child, signal });
        }
        false
    }

    /// The MPM's reclaim callback for a slot whose child is gone: prefork and
    /// worker only clear the pid; event resets the slot and its counters.
    fn note_child_reclaimed(&mut self, now: Timestamp, slot: u32, pid: u64) {
        match self.config.mpm {
            Mpm::Prefork | Mpm::Worker => {
                if let Some(process) = self.scoreboard.slot_mut(slot) {
                    process.child = None;
                }
            }
            Mpm::Event => self.event_note_child_stopped(now, slot, pid),
        }
    }
}
