//! Start-up (`*_run()` up to the loop), `server_main_loop()` — the wait
//! step, reaping, the worker/event crash fast path — and `make_child()`
//! (reference §4, §5, §7.6).

use crate::action::{Action, Spawn};
use crate::child::{ChildId, ChildRecord, ChildState, ExitStatus, exit_code, signal};
use crate::config::Mpm;
use crate::messages::Messages;
use crate::scoreboard::{Quiescing, Scoreboard, ThreadStatus};
use crate::time::Timestamp;

use super::{
    AfterReap, Controller, ExitClass, GRACEFUL_RESTART_HOLD_OFF, MAINTENANCE_INTERVAL, Phase,
};

impl Controller {
    /// `{prefork,worker,event}_run()` up to the main loop.
    pub(super) fn run(&mut self, now: Timestamp) {
        if !self.was_graceful {
            // A first start or hard restart gets a new, cleared scoreboard.
            self.scoreboard = Scoreboard::new(self.config.server_limit, self.config.thread_limit);
        }
        let mut remaining = self.config.children_to_start();
        if !self.was_graceful {
            self.startup_children(now, remaining);
            remaining = 0;
        } else {
            self.hold_off = GRACEFUL_RESTART_HOLD_OFF;
        }
        self.log(
            self.messages
                .configured(now, &self.identity.server_description),
        );
        self.remaining_children_to_start = remaining;
        self.successive_kills = 0;
        self.continue_main_loop(now);
    }

    /// `startup_children()`: fork into the lowest free slots (prefork: thread
    /// 0 DEAD, within MaxRequestWorkers; worker: no pid, within daemons_limit;
    /// event: no pid, within ServerLimit).
    fn startup_children(&mut self, now: Timestamp, mut number_to_start: u32) {
        let limit = match self.config.mpm {
            Mpm::Prefork => self.config.max_request_workers,
            Mpm::Worker => self.config.daemons_limit,
            Mpm::Event => self.config.server_limit,
        };
        let buckets = self.config.num_buckets;
        for slot in 0..limit {
            if number_to_start == 0 {
                break;
            }
            let free = match self.config.mpm {
                Mpm::Prefork => self.scoreboard.status(slot, 0) == ThreadStatus::Dead,
                Mpm::Worker | Mpm::Event => self.scoreboard.slot(slot).child.is_none(),
            };
            if free {
                self.make_child(now, slot, slot % buckets);
                number_to_start -= 1;
            }
        }
    }

    /// The top of `server_main_loop`'s `while`: leave if a signal is pending,
    /// otherwise do the wait step — reap one exited child per iteration
    /// without sleeping, or go to sleep for [`MAINTENANCE_INTERVAL`].
    pub(super) fn continue_main_loop(&mut self, now: Timestamp) {
        loop {
            if self.restart_pending || self.shutdown_pending {
                self.leave_main_loop(now);
                return;
            }
            let Some(child) = self.exited.pop_front() else {
                self.phase = Phase::Running {
                    wake_at: now + MAINTENANCE_INTERVAL,
                };
                return;
            };
            match self.reap_in_main_loop(now, child) {
                AfterReap::Continue => {}
                AfterReap::StartRemaining => {
                    let number = std::mem::take(&mut self.remaining_children_to_start);
                    self.startup_children(now, number);
                }
                AfterReap::MpmRunFailed => {
                    self.log(Messages::mpm_run_failed(now));
                    self.exit(1);
                    return;
                }
            }
        }
    }

    /// The wait step slept without finding an exited child (or a signal cut
    /// the sleep short): start leftover restart children, else maintain.
    pub(super) fn after_wait_timeout(&mut self, now: Timestamp) {
        self.successive_kills = 0;
        if self.remaining_children_to_start > 0 {
            // Skips maintenance: the new children are not idle yet and
            // counting them would fork extra ones.
            let number = std::mem::take(&mut self.remaining_children_to_start);
            self.startup_children(now, number);
        } else {
            self.idle_maintenance(now);
        }
        self.continue_main_loop(now);
    }

    /// One reap iteration of `server_main_loop` (reference §7.6).
    fn reap_in_main_loop(&mut self, now: Timestamp, child: ChildId) -> AfterReap {
        let Some(record) = self.children.remove(&child) else {
            return AfterReap::Continue;
        };
        let ChildState::Exited { status, .. } = record.state else {
            // Only exited children are queued; put it back untouched.
            self.children.insert(child, record);
            return AfterReap::Continue;
        };
        let mpm = self.config.mpm;
        let pid = record.os_pid.map_or(child.0, u64::from);
        let class = self.process_child_status(now, pid, status);
        let slot = self.find_child_slot(child);

        if class == ExitClass::Fatal {
            let current_generation =
                slot.is_none_or(|slot| self.scoreboard.slot(slot).generation == self.generation);
            if current_generation {
                self.child_fatal = true;
                if mpm == Mpm::Prefork {
                    return AfterReap::MpmRunFailed;
                }
                // worker/event: the loop ends and the graceful-stop path runs.
                self.shutdown_pending = true;
                return AfterReap::Continue;
            }
            self.log(self.messages.ignoring_fatal_of_old_generation(now, pid));
            if mpm != Mpm::Prefork {
                self.sick_child_detected = true;
            }
        } else if class == ExitClass::Sick && mpm != Mpm::Prefork {
            self.sick_child_detected = true;
        }

        if let Some(slot) = slot {
            self.free_slot_after_reap(now, slot, pid);
            let bucket = slot % self.config.num_buckets;
            if class == ExitClass::Sick {
                // Resource shortage: minimise the fork rate.
                self.set_spawn_rate(if mpm == Mpm::Prefork { 0 } else { bucket }, 1);
            } else if self.remaining_children_to_start > 0
                && (mpm == Mpm::Event || slot < self.config.start_limit())
            {
                // Graceful restart: 1-for-1 replacement in the same slot.
                self.make_child(now, slot, bucket);
                self.remaining_children_to_start -= 1;
            }
        } else if let Some(position) = self.extras.iter().position(|extra| *extra == child) {
            self.extras.remove(position);
            if class == ExitClass::Sick && record.generation == self.generation {
                self.spawn_rate.iter_mut().for_each(|rate| *rate = 1);
            }
        } else if self.was_graceful {
            self.log(self.messages.long_lost_child(now, pid));
        }

        // worker/event (2.4.54+): a child in the scoreboard killed by a
        // signal is replaced at once, unless children keep dying.
        if mpm == Mpm::Prefork || slot.is_none() || !status.is_signaled() {
            return AfterReap::Continue;
        }
        self.successive_kills += 1;
        if self.successive_kills >= 3 {
            if self.successive_kills % 10 == 3 {
                self.log(self.messages.children_killed_successively(now));
            }
            return AfterReap::Continue;
        }
        self.remaining_children_to_start += 1;
        AfterReap::StartRemaining
    }

    /// `ap_process_child_status`: log what deserves it and classify.
    pub(super) fn process_child_status(
        &mut self,
        now: Timestamp,
        pid: u64,
        status: ExitStatus,
    ) -> ExitClass {
        match status {
            ExitStatus::Exited {
                code: exit_code::CHILD_SICK,
            } => ExitClass::Sick,
            ExitStatus::Exited {
                code: exit_code::CHILD_FATAL,
            } => {
                self.log(Messages::child_fatal(now, pid));
                ExitClass::Fatal
            }
            ExitStatus::Exited { .. } => ExitClass::Normal,
            ExitStatus::Signaled {
                signal: signum,
                core_dumped,
            } => {
                let expected = matches!(
                    signum,
                    signal::TERM | signal::HUP | signal::USR1 | signal::KILL
                );
                if !expected {
                    let directory =
                        core_dumped.then_some(self.identity.core_dump_directory.as_str());
                    let record = Messages::child_exit_signal(now, pid, signum, directory);
                    self.log(record);
                }
                ExitClass::Normal
            }
        }
    }

    /// `ap_find_child_by_pid`: only slots below `max_used` are searched —
    /// faithfully, including worker's per-bucket overwrite of that value.
    fn find_child_slot(&self, child: ChildId) -> Option<u32> {
        (0..self.max_used.min(self.config.server_limit))
            .find(|slot| self.scoreboard.slot(*slot).child == Some(child))
    }

    /// The main loop's reap bookkeeping for a child found in `slot`.
    fn free_slot_after_reap(&mut self, now: Timestamp, slot: u32, pid: u64) {
        match self.config.mpm {
            Mpm::Prefork => {
                self.scoreboard.force_status(slot, 0, ThreadStatus::Dead);
                if let Some(process) = self.scoreboard.slot_mut(slot) {
                    process.child = None;
                }
            }
            Mpm::Worker => {
                self.scoreboard
                    .mark_threads_dead(slot, self.config.threads_per_child);
                if let Some(process) = self.scoreboard.slot_mut(slot) {
                    process.child = None;
                    process.quiescing = Quiescing::No;
                }
            }
            Mpm::Event => self.event_note_child_stopped(now, slot, pid),
        }
    }

    /// `event_note_child_stopped`: reset the slot and keep the daemon counters.
    pub(super) fn event_note_child_stopped(&mut self, now: Timestamp, slot: u32, pid: u64) {
        self.scoreboard
            .mark_threads_dead(slot, self.config.threads_per_child);
        let process = self.scoreboard.slot(slot);
        if process.quiescing != Quiescing::Noticed {
            self.active_daemons = self.active_daemons.saturating_sub(1);
        }
        self.total_daemons = self.total_daemons.saturating_sub(1);
        let quiescing = match process.quiescing {
            Quiescing::No => 0,
            Quiescing::Announced => 1,
            Quiescing::Noticed => 2,
        };
        let record = self.messages.event_child_stopped(
            now,
            slot,
            pid,
            process.generation.0,
            self.daemon_counts(),
            quiescing,
        );
        self.log(record);
        if let Some(process) = self.scoreboard.slot_mut(slot) {
            process.not_accepting = false;
            process.quiescing = Quiescing::No;
            process.child = None;
        }
    }

    /// `make_child()`: claim the slot and ask the driver to fork.
    pub(super) fn make_child(&mut self, now: Timestamp, slot: u32, bucket: u32) {
        self.max_used = self.max_used.max(slot.saturating_add(1));
        let child = ChildId(self.next_child_serial);
        self.next_child_serial += 1;
        let previous = self.scoreboard.slot(slot);
        let mut takes_over_from = None;
        if self.config.mpm == Mpm::Worker {
            if let Some(old) = previous.child {
                // §7.4 squatting: remember the old child so it can still be
                // reaped and killed.
                let record = self.messages.taking_over_slot(
                    now,
                    child.0,
                    self.pid_for_log(old),
                    previous.quiescing != Quiescing::No,
                );
                self.log(record);
                self.extras.push(old);
                takes_over_from = Some(old);
            }
        }
        if self.config.mpm == Mpm::Prefork {
            self.scoreboard
                .force_status(slot, 0, ThreadStatus::Starting);
        }
        let generation = self.generation;
        if let Some(process) = self.scoreboard.slot_mut(slot) {
            process.child = Some(child);
            process.generation = generation;
            if self.config.mpm == Mpm::Worker {
                process.quiescing = Quiescing::No;
            }
        }
        self.children.insert(
            child,
            ChildRecord {
                slot,
                bucket,
                generation,
                spawned_at: now,
                os_pid: None,
                state: ChildState::Running,
                took_over_from: takes_over_from,
            },
        );
        self.actions.push_back(Action::Spawn(Spawn {
            child,
            slot,
            bucket,
            generation,
            takes_over_from,
        }));
        if self.config.mpm == Mpm::Event {
            // event_note_child_started(), after the fork.
            self.total_daemons += 1;
            self.active_daemons += 1;
            let record = self.messages.event_child_started(
                now,
                slot,
                child.0,
                generation.0,
                self.daemon_counts(),
            );
            self.log(record);
        }
    }
}
