//! `perform_idle_server_maintenance()` for prefork, worker and event
//! (reference §6), ported loop for loop so quirks survive: early scan
//! stops, the order of checks, which counter is reset where.

use crate::action::{Action, Decision, TickRecord};
use crate::config::{MAX_SPAWN_RATE, Mpm};
use crate::scoreboard::{Quiescing, ThreadStatus};
use crate::time::Timestamp;

use super::Controller;

/// What a maintenance scan counted, for the tick record.
#[derive(Clone, Copy, Debug, Default)]
struct ScanCounts {
    idle: u32,
    active_threads: u32,
    total: u32,
    processes: u32,
    free_slots: u32,
}

/// Index into a free list: a `u32` count compared with `usize` lengths.
fn len_u32(list: &[u32]) -> u32 {
    u32::try_from(list.len()).unwrap_or(u32::MAX)
}

impl Controller {
    /// One tick's maintenance: prefork globally, worker/event once per bucket.
    pub(super) fn idle_maintenance(&mut self, now: Timestamp) {
        match self.config.mpm {
            Mpm::Prefork => self.prefork_maintenance(now),
            Mpm::Worker => {
                for bucket in 0..self.config.num_buckets {
                    self.worker_maintenance(now, bucket);
                }
            }
            Mpm::Event => {
                // event recomputes max_daemon_used from scratch every tick.
                let mut max_used = 0;
                for bucket in 0..self.config.num_buckets {
                    self.event_maintenance(now, bucket, &mut max_used);
                }
                self.max_used = max_used;
            }
        }
    }

    /// §6.1: count processes over MaxRequestWorkers slots, globally.
    fn prefork_maintenance(&mut self, now: Timestamp) {
        let rate = self.spawn_rate(0);
        let mut free_slots: Vec<u32> = Vec::new();
        let mut counts = ScanCounts::default();
        let mut last_non_dead: Option<u32> = None;
        for slot in 0..self.config.max_request_workers {
            if slot >= self.max_used && len_u32(&free_slots) == rate {
                break;
            }
            let status = self.scoreboard.status(slot, 0);
            if status == ThreadStatus::Dead {
                if len_u32(&free_slots) < rate {
                    free_slots.push(slot);
                }
            } else {
                // STARTING counts as idle: a child forked a tick ago that is
                // still starting should not make us fork more.
                if status <= ThreadStatus::Ready {
                    counts.idle += 1;
                }
                if status.counts_active() {
                    counts.active_threads += 1;
                }
                counts.total += 1;
                last_non_dead = Some(slot);
            }
        }
        self.max_used = last_non_dead.map_or(0, |slot| slot + 1);
        counts.processes = counts.total;
        counts.free_slots = len_u32(&free_slots);

        let (min_spare, max_spare) = (self.config.min_spare, self.config.max_spare);
        let decision = if counts.idle > max_spare {
            // A static round-robin over buckets picks the pipe to write.
            let bucket = self.next_prefork_kill_bucket;
            self.next_prefork_kill_bucket = (bucket + 1) % self.config.num_buckets;
            self.actions.push_back(Action::Kill {
                bucket,
                graceful: true,
            });
            self.set_spawn_rate(0, 1);
            Decision::Kill
        } else if counts.idle < min_spare {
            if free_slots.is_empty() {
                if !self.maxclients_reported {
                    self.log(self.messages.reached_max_request_workers(now));
                    self.maxclients_reported = true;
                }
                self.set_spawn_rate(0, 1);
                Decision::AtMaxRequestWorkers
            } else {
                if rate >= 8 {
                    // prefork prints the rate, not the number actually forked.
                    let record =
                        self.messages
                            .prefork_seems_busy(now, rate, counts.idle, counts.total);
                    self.log(record);
                }
                for slot in &free_slots {
                    self.make_child(now, *slot, slot % self.config.num_buckets);
                }
                self.grow_spawn_rate(0, MAX_SPAWN_RATE);
                Decision::Spawn { slots: free_slots }
            }
        } else {
            self.set_spawn_rate(0, 1);
            Decision::Balanced
        };
        self.record_tick(now, 0, counts, rate, (min_spare, max_spare), decision);
    }

    /// §6.2: count thread slots of bucket `bucket` within daemons_limit.
    fn worker_maintenance(&mut self, now: Timestamp, bucket: u32) {
        let buckets = self.config.num_buckets;
        let threads_per_child = self.config.threads_per_child;
        let rate = self.spawn_rate(bucket);
        let cap = MAX_SPAWN_RATE / buckets;
        let mut free_slots: Vec<u32> = Vec::new();
        let mut totally_free: u32 = 0;
        let mut counts = ScanCounts::default();
        let mut last_non_dead: Option<u32> = None;
        for slot in 0..self.config.daemons_limit {
            if buckets > 1 && slot % buckets != bucket {
                continue;
            }
            if slot >= self.max_used && totally_free == rate {
                break;
            }
            let process = self.scoreboard.slot(slot);
            let mut any_dying = false;
            let mut any_dead = false;
            let mut all_dead = true;
            let mut child_active = 0;
            for thread in 0..threads_per_child {
                let status = self.scoreboard.status(slot, thread);
                any_dying |= status == ThreadStatus::Graceful;
                any_dead |= status == ThreadStatus::Dead;
                all_dead &= status == ThreadStatus::Dead || status == ThreadStatus::Graceful;
                if process.child.is_some() {
                    // DEAD thread slots of a live, current, non-stopping
                    // child count as idle: a fresh child counts TPC at once.
                    if status <= ThreadStatus::Ready
                        && process.quiescing == Quiescing::No
                        && process.generation == self.generation
                    {
                        counts.idle += 1;
                    }
                    if status.counts_active() {
                        child_active += 1;
                    }
                }
            }
            counts.active_threads += child_active;
            let stopping_or_empty = process.child.is_none() || process.quiescing != Quiescing::No;
            if any_dead && totally_free < rate && len_u32(&free_slots) < cap && stopping_or_empty {
                if all_dead {
                    // Totally free slots go first (a new child can start all
                    // its threads at once); the first partially free one
                    // moves to the back to make room.
                    let front = totally_free as usize;
                    if front < free_slots.len() {
                        let moved = free_slots[front];
                        free_slots.push(moved);
                        free_slots[front] = slot;
                    } else {
                        free_slots.push(slot);
                    }
                    totally_free += 1;
                } else {
                    free_slots.push(slot);
                }
            } else if child_active == threads_per_child {
                self.had_healthy_child = true;
            }
            if !any_dying {
                // Counts empty slots too: httpd's "total children" is not a process count.
                counts.total += 1;
            }
            if process.child.is_some() {
                counts.processes += 1;
                last_non_dead = Some(slot);
            }
        }
        // With several buckets each pass overwrites this (httpd quirk).
        self.max_used = last_non_dead.map_or(0, |slot| slot + 1);
        counts.free_slots = len_u32(&free_slots);

        let (min_spare, max_spare) = (
            self.config.min_spare / buckets,
            self.config.max_spare / buckets,
        );
        if let Some(decision) = self.sick_child_check(now, bucket) {
            self.record_tick(now, bucket, counts, rate, (min_spare, max_spare), decision);
            return;
        }
        let decision = if counts.idle > max_spare {
            self.actions.push_back(Action::Kill {
                bucket,
                graceful: true,
            });
            self.set_spawn_rate(bucket, 1);
            Decision::Kill
        } else if counts.idle < min_spare {
            if free_slots.is_empty() {
                let decision = if counts.active_threads >= self.config.max_request_workers / buckets
                {
                    self.log_at_max_request_workers(now, counts.idle);
                    Decision::AtMaxRequestWorkers
                } else {
                    self.log(self.messages.scoreboard_full(now));
                    Decision::ScoreboardFull
                };
                self.set_spawn_rate(bucket, 1);
                decision
            } else {
                let spawning = len_u32(&free_slots).min(rate);
                if rate >= 8 {
                    let record =
                        self.messages
                            .worker_seems_busy(now, spawning, counts.idle, counts.total);
                    self.log(record);
                }
                free_slots.truncate(spawning as usize);
                for slot in &free_slots {
                    self.make_child(now, *slot, bucket);
                }
                self.grow_spawn_rate(bucket, cap);
                Decision::Spawn { slots: free_slots }
            }
        } else {
            self.set_spawn_rate(bucket, 1);
            Decision::Balanced
        };
        self.record_tick(now, bucket, counts, rate, (min_spare, max_spare), decision);
    }

    /// §6.3: count thread slots of bucket `bucket` within ServerLimit.
    fn event_maintenance(&mut self, now: Timestamp, bucket: u32, max_used: &mut u32) {
        let buckets = self.config.num_buckets;
        let threads_per_child = self.config.threads_per_child;
        let rate = self.spawn_rate(bucket);
        let mut free_slots: Vec<u32> = Vec::new();
        let mut counts = ScanCounts::default();
        let mut last_non_dead: Option<u32> = None;
        for slot in 0..self.config.server_limit {
            if buckets > 1 && slot % buckets != bucket {
                continue;
            }
            if slot >= self.max_used && len_u32(&free_slots) == rate {
                break;
            }
            let mut process = self.scoreboard.slot(slot);
            let Some(child) = process.child else {
                if len_u32(&free_slots) < rate {
                    free_slots.push(slot);
                }
                continue;
            };
            if process.quiescing == Quiescing::Announced {
                // Account for the stopping child exactly once.
                process.quiescing = Quiescing::Noticed;
                if let Some(stored) = self.scoreboard.slot_mut(slot) {
                    stored.quiescing = Quiescing::Noticed;
                }
                self.active_daemons = self.active_daemons.saturating_sub(1);
                let record = self.messages.event_child_quiescing(
                    now,
                    slot,
                    self.pid_for_log(child),
                    process.generation.0,
                    self.daemon_counts(),
                );
                self.log(record);
            }
            let mut child_active = 0;
            for thread in 0..threads_per_child {
                let status = self.scoreboard.status(slot, thread);
                if status <= ThreadStatus::Ready
                    && process.quiescing == Quiescing::No
                    && !process.not_accepting
                    && process.generation == self.generation
                {
                    counts.idle += 1;
                }
                if status.counts_active() {
                    child_active += 1;
                }
            }
            counts.active_threads += child_active;
            if child_active == threads_per_child {
                self.had_healthy_child = true;
            }
            counts.processes += 1;
            last_non_dead = Some(slot);
        }
        *max_used = (*max_used).max(last_non_dead.map_or(0, |slot| slot + 1));
        counts.free_slots = len_u32(&free_slots);
        counts.total = self.total_daemons;

        let (min_spare, max_spare) = (
            self.config.min_spare / buckets,
            self.config.max_spare / buckets,
        );
        if let Some(decision) = self.sick_child_check(now, bucket) {
            self.record_tick(now, bucket, counts, rate, (min_spare, max_spare), decision);
            return;
        }
        let daemons_limit = self.config.daemons_limit;
        let decision = if counts.idle > max_spare {
            // Don't stop more children while some are still stopping, unless
            // the scoreboard has room to spare: stopping children could
            // otherwise fill it up.
            let spare_room = i64::from(self.config.server_limit) - i64::from(self.total_daemons);
            let do_kill =
                self.active_daemons == self.total_daemons || spare_room > i64::from(daemons_limit);
            let record = self.messages.event_shutting_down_one_child(
                now,
                do_kill,
                self.daemon_counts(),
                counts.idle,
                self.config.max_request_workers,
            );
            self.log(record);
            self.set_spawn_rate(bucket, 1);
            if do_kill {
                self.actions.push_back(Action::Kill {
                    bucket,
                    graceful: true,
                });
                Decision::Kill
            } else {
                Decision::KillDeferred
            }
        } else if counts.idle < min_spare {
            // Unlike worker, MaxRequestWorkers is checked before free slots.
            if counts.active_threads >= self.config.max_request_workers / buckets {
                self.log_at_max_request_workers(now, counts.idle);
                self.set_spawn_rate(bucket, 1);
                Decision::AtMaxRequestWorkers
            } else if free_slots.is_empty() {
                self.log(self.messages.scoreboard_full(now));
                self.set_spawn_rate(bucket, 1);
                Decision::ScoreboardFull
            } else {
                let mut spawning = len_u32(&free_slots).min(self.spawn_rate(bucket));
                let mut cancelled = false;
                if spawning.saturating_add(self.active_daemons) > daemons_limit {
                    if self.active_daemons < daemons_limit {
                        spawning = daemons_limit - self.active_daemons;
                    } else {
                        let record = self.messages.event_active_daemons_limit(
                            now,
                            spawning,
                            self.daemon_counts(),
                            self.spawn_rate(bucket),
                        );
                        self.log(record);
                        // Reset the rate and keep the growth below from
                        // doubling it (the increment is consumed at once).
                        self.set_spawn_rate(bucket, 1);
                        self.hold_off += 1;
                        spawning = 0;
                        cancelled = true;
                    }
                }
                if self.spawn_rate(bucket) >= 8 {
                    let record = self.messages.event_seems_busy(
                        now,
                        spawning,
                        counts.idle,
                        self.active_daemons,
                        self.total_daemons,
                    );
                    self.log(record);
                }
                free_slots.truncate(spawning as usize);
                for slot in &free_slots {
                    self.make_child(now, *slot, bucket);
                    *max_used = (*max_used).max(slot + 1);
                }
                self.grow_spawn_rate(bucket, MAX_SPAWN_RATE / buckets);
                if cancelled {
                    Decision::SpawnCancelledAtActiveLimit
                } else {
                    Decision::Spawn { slots: free_slots }
                }
            }
        } else {
            self.set_spawn_rate(bucket, 1);
            Decision::Balanced
        };
        self.record_tick(now, bucket, counts, rate, (min_spare, max_spare), decision);
    }

    /// After a child exited with APEXIT_CHILDSICK (or an old-generation one
    /// with CHILDFATAL): carry on once some child was fully healthy; give up
    /// if none ever was by the last bucket. `Some` ends this bucket's pass.
    fn sick_child_check(&mut self, now: Timestamp, bucket: u32) -> Option<Decision> {
        if !self.sick_child_detected {
            return None;
        }
        if self.had_healthy_child {
            // Assume a transient error and keep serving.
            self.sick_child_detected = false;
            None
        } else if bucket + 1 < self.config.num_buckets {
            Some(Decision::AwaitingHealthyChild)
        } else {
            self.shutdown_pending = true;
            self.child_fatal = true;
            self.log(self.messages.sick_child_give_up(now));
            Some(Decision::GaveUp)
        }
    }

    /// worker/event at MaxRequestWorkers: one message each, once per master lifetime.
    fn log_at_max_request_workers(&mut self, now: Timestamp, idle: u32) {
        if idle == 0 {
            if !self.maxclients_reported {
                self.log(self.messages.reached_max_request_workers(now));
                self.maxclients_reported = true;
            }
        } else if !self.near_maxclients_reported {
            self.log(self.messages.within_min_spare_threads(now));
            self.near_maxclients_reported = true;
        }
    }

    /// After a spawning round: spend one hold-off round, else double the rate
    /// while it is below `cap` (2.4.x doubles without clamping to the cap).
    fn grow_spawn_rate(&mut self, bucket: u32, cap: u32) {
        if self.hold_off > 0 {
            self.hold_off -= 1;
        } else {
            let rate = self.spawn_rate(bucket);
            if rate < cap {
                self.set_spawn_rate(bucket, rate.saturating_mul(2));
            }
        }
    }

    fn record_tick(
        &mut self,
        now: Timestamp,
        bucket: u32,
        counts: ScanCounts,
        rate_before: u32,
        (min_spare, max_spare): (u32, u32),
        decision: Decision,
    ) {
        let event = self.config.mpm == Mpm::Event;
        self.tick_records.push_back(TickRecord {
            at: now,
            generation: self.generation,
            bucket,
            idle: counts.idle,
            active_threads: counts.active_threads,
            total: counts.total,
            processes: counts.processes,
            free_slots: counts.free_slots,
            min_spare,
            max_spare,
            spawn_rate: rate_before,
            next_spawn_rate: self.spawn_rate(bucket),
            hold_off: self.hold_off,
            active_daemons: if event { self.active_daemons } else { 0 },
            total_daemons: if event { self.total_daemons } else { 0 },
            decision,
        });
    }
}
