//! The scoreboard: httpd's shared table of process slots × thread slots.
//!
//! Two parties write it, exactly as in httpd:
//! * the **parent** (this crate's [`crate::Controller`]) owns the process-level
//!   identity fields — which child holds a slot, its generation — and resets
//!   slots when it reaps a child;
//! * **children** write their thread statuses, announce that they are
//!   stopping (`quiescing`) and, for event, that they stopped accepting
//!   (`not_accepting`). The driver performs these writes on the children's
//!   behalf through the public methods below (the simulator from its model,
//!   the supervisor by copying from shared memory).
//!
//! Writes are addressed by slot, like httpd's shared memory: after a worker
//! child takes over a stopping child's slot (§7.4) both processes' threads
//! write into the same row.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::child::{ChildId, Generation};
use crate::config::Mpm;

/// A thread slot's status. The numeric order matters: the MPMs compare with
/// `<=` / `<` (e.g. "idle" is `status <= Ready`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[repr(u8)]
pub enum ThreadStatus {
    /// `.` no thread / slot free
    #[default]
    Dead = 0,
    /// `S` being created
    Starting = 1,
    /// `_` idle, waiting for a connection
    Ready = 2,
    /// `R` reading a request
    BusyRead = 3,
    /// `W` running the handler / sending the reply
    BusyWrite = 4,
    /// `K` waiting for the next request on a kept-alive connection (sync MPMs)
    BusyKeepalive = 5,
    /// `L` logging
    BusyLog = 6,
    /// `D` DNS lookup
    BusyDns = 7,
    /// `C` lingering close
    Closing = 8,
    /// `G` gracefully finishing
    Graceful = 9,
    /// `I` idle cleanup (never set by prefork/worker/event)
    IdleKill = 10,
}

impl ThreadStatus {
    /// The character mod_status prints for this status.
    pub const fn status_char(self) -> char {
        match self {
            ThreadStatus::Dead => '.',
            ThreadStatus::Starting => 'S',
            ThreadStatus::Ready => '_',
            ThreadStatus::BusyRead => 'R',
            ThreadStatus::BusyWrite => 'W',
            ThreadStatus::BusyKeepalive => 'K',
            ThreadStatus::BusyLog => 'L',
            ThreadStatus::BusyDns => 'D',
            ThreadStatus::Closing => 'C',
            ThreadStatus::Graceful => 'G',
            ThreadStatus::IdleKill => 'I',
        }
    }

    /// Busy in the parent's "active" sense: READY ≤ status < GRACEFUL.
    pub(crate) fn counts_active(self) -> bool {
        self >= ThreadStatus::Ready && self < ThreadStatus::Graceful
    }
}

/// httpd's `quiescing` field. Worker uses only the first two values; event's
/// parent moves 1 → 2 when a maintenance scan first notices the stopping
/// child, so its `active_daemons` counter is decremented exactly once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Quiescing {
    /// 0: not stopping.
    #[default]
    No,
    /// 1: the child announced it is stopping gracefully.
    Announced,
    /// 2: (event) the parent has accounted for the stop.
    Noticed,
}

/// One process slot (`process_score`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProcessSlot {
    pub(crate) child: Option<ChildId>,
    pub(crate) generation: Generation,
    pub(crate) quiescing: Quiescing,
    pub(crate) not_accepting: bool,
}

impl ProcessSlot {
    /// The child holding this slot (httpd: `pid != 0`). May name a child the
    /// parent no longer tracks in rare cases httpd also has (see
    /// `Controller` docs on reaping).
    pub fn child(&self) -> Option<ChildId> {
        self.child
    }

    /// The generation the slot's child was forked in.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// Whether the child is stopping gracefully.
    pub fn quiescing(&self) -> Quiescing {
        self.quiescing
    }

    /// (event) Whether the child has temporarily stopped accepting connections.
    pub fn not_accepting(&self) -> bool {
        self.not_accepting
    }
}

/// A scoreboard write addressed outside the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ScoreboardError {
    /// No such process slot.
    #[error("process slot {slot} is outside the scoreboard (ServerLimit {server_limit})")]
    SlotOutOfRange {
        /// the requested slot
        slot: u32,
        /// the table's ServerLimit
        server_limit: u32,
    },
    /// No such thread slot.
    #[error("thread slot {thread} is outside the scoreboard (ThreadLimit {thread_limit})")]
    ThreadOutOfRange {
        /// the requested thread slot
        thread: u32,
        /// the table's ThreadLimit
        thread_limit: u32,
    },
}

/// ServerLimit process slots × ThreadLimit thread slots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Scoreboard {
    server_limit: u32,
    thread_limit: u32,
    processes: Vec<ProcessSlot>,
    threads: Vec<ThreadStatus>,
}

impl Scoreboard {
    /// A fresh table: every slot empty, every thread DEAD. Dimensions must
    /// come from a validated config (bounded by `MAX_SCOREBOARD_CELLS`).
    pub(crate) fn new(server_limit: u32, thread_limit: u32) -> Self {
        let cells = server_limit as usize * thread_limit as usize;
        Scoreboard {
            server_limit,
            thread_limit,
            processes: vec![ProcessSlot::default(); server_limit as usize],
            threads: vec![ThreadStatus::Dead; cells],
        }
    }

    /// Number of process slots (ServerLimit).
    pub fn server_limit(&self) -> u32 {
        self.server_limit
    }

    /// Thread slots per process (ThreadLimit).
    pub fn thread_limit(&self) -> u32 {
        self.thread_limit
    }

    /// A process slot, if it exists.
    pub fn process(&self, slot: u32) -> Option<&ProcessSlot> {
        self.processes.get(slot as usize)
    }

    /// All process slots in order.
    pub fn processes(&self) -> &[ProcessSlot] {
        &self.processes
    }

    /// The thread statuses of one process slot (empty if out of range).
    pub fn threads(&self, slot: u32) -> &[ThreadStatus] {
        let start = slot as usize * self.thread_limit as usize;
        self.threads
            .get(start..start + self.thread_limit as usize)
            .unwrap_or(&[])
    }

    /// One thread's status; DEAD for positions outside the table.
    pub fn status(&self, slot: u32, thread: u32) -> ThreadStatus {
        self.cell_index(slot, thread)
            .ok()
            .and_then(|index| self.threads.get(index).copied())
            .unwrap_or(ThreadStatus::Dead)
    }

    /// Child-side write: a thread changes status.
    #[inline]
    pub fn set_thread_status(
        &mut self,
        slot: u32,
        thread: u32,
        status: ThreadStatus,
    ) -> Result<(), ScoreboardError> {
        let index = self.cell_index(slot, thread)?;
        if let Some(cell) = self.threads.get_mut(index) {
            *cell = status;
        }
        Ok(())
    }

    /// Child-side write: the first `count` threads of a slot take `status`
    /// (a convenience for drivers; count is clamped to ThreadLimit).
    pub fn set_thread_statuses(
        &mut self,
        slot: u32,
        count: u32,
        status: ThreadStatus,
    ) -> Result<(), ScoreboardError> {
        self.check_slot(slot)?;
        for thread in 0..count.min(self.thread_limit) {
            self.set_thread_status(slot, thread, status)?;
        }
        Ok(())
    }

    /// Child-side write: the child in `slot` starts stopping gracefully
    /// (worker/event set `quiescing = 1` when they read the pipe of death or
    /// reach MaxConnectionsPerChild). A value the parent already advanced is kept.
    pub fn announce_quiescing(&mut self, slot: u32) -> Result<(), ScoreboardError> {
        let process = self.slot_mut_checked(slot)?;
        if process.quiescing == Quiescing::No {
            process.quiescing = Quiescing::Announced;
        }
        Ok(())
    }

    /// Child-side writes when the child in `slot` reads a graceful stop
    /// (pipe-of-death `!`, or its MaxConnectionsPerChild is reached), per
    /// reference §7.2: worker and event announce `quiescing`; event also
    /// marks **all** its thread slots GRACEFUL, busy ones included. (prefork
    /// writes nothing: it exits from wherever it is.) The driver still
    /// reports later changes, e.g. worker threads going DEAD as they exit.
    pub fn begin_graceful_stop(
        &mut self,
        mpm: Mpm,
        slot: u32,
        threads_per_child: u32,
    ) -> Result<(), ScoreboardError> {
        match mpm {
            Mpm::Prefork => self.check_slot(slot),
            Mpm::Worker => self.announce_quiescing(slot),
            Mpm::Event => {
                self.announce_quiescing(slot)?;
                self.set_thread_statuses(slot, threads_per_child, ThreadStatus::Graceful)
            }
        }
    }

    /// Child-side write (event): the child stops or resumes accepting (§6.5).
    pub fn set_not_accepting(
        &mut self,
        slot: u32,
        not_accepting: bool,
    ) -> Result<(), ScoreboardError> {
        self.slot_mut_checked(slot)?.not_accepting = not_accepting;
        Ok(())
    }

    /// The mod_status `Scoreboard:` characters for the first `slots` process
    /// slots × `threads` thread slots (no omission rules applied).
    pub fn status_chars(&self, slots: u32, threads: u32) -> String {
        let mut out = String::new();
        for slot in 0..slots.min(self.server_limit) {
            for thread in 0..threads.min(self.thread_limit) {
                out.push(self.status(slot, thread).status_char());
            }
        }
        out
    }

    #[inline]
    fn check_slot(&self, slot: u32) -> Result<(), ScoreboardError> {
        if slot < self.server_limit {
            Ok(())
        } else {
            Err(ScoreboardError::SlotOutOfRange {
                slot,
                server_limit: self.server_limit,
            })
        }
    }

    #[inline]
    fn cell_index(&self, slot: u32, thread: u32) -> Result<usize, ScoreboardError> {
        self.check_slot(slot)?;
        if thread >= self.thread_limit {
            return Err(ScoreboardError::ThreadOutOfRange {
                thread,
                thread_limit: self.thread_limit,
            });
        }
        Ok(slot as usize * self.thread_limit as usize + thread as usize)
    }

    fn slot_mut_checked(&mut self, slot: u32) -> Result<&mut ProcessSlot, ScoreboardError> {
        let server_limit = self.server_limit;
        self.processes
            .get_mut(slot as usize)
            .ok_or(ScoreboardError::SlotOutOfRange { slot, server_limit })
    }

    // ----- parent-side access (crate only) -----

    /// The slot record, or a detached default for out-of-range slots so
    /// callers never panic (validated configs never ask for those).
    pub(crate) fn slot(&self, slot: u32) -> ProcessSlot {
        self.processes
            .get(slot as usize)
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn slot_mut(&mut self, slot: u32) -> Option<&mut ProcessSlot> {
        self.processes.get_mut(slot as usize)
    }

    /// Parent-side: mark the first `count` threads DEAD (reap).
    pub(crate) fn mark_threads_dead(&mut self, slot: u32, count: u32) {
        // Errors mean "outside the table", where there is nothing to reset.
        let _ = self.set_thread_statuses(slot, count, ThreadStatus::Dead);
    }

    /// Parent-side: set one thread's status, ignoring out-of-range positions.
    pub(crate) fn force_status(&mut self, slot: u32, thread: u32, status: ThreadStatus) {
        let _ = self.set_thread_status(slot, thread, status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_order_matches_httpd_codes() {
        assert!(ThreadStatus::Dead < ThreadStatus::Starting);
        assert!(ThreadStatus::Starting < ThreadStatus::Ready);
        assert!(ThreadStatus::Closing < ThreadStatus::Graceful);
        assert_eq!(ThreadStatus::Graceful as u8, 9);
        assert!(ThreadStatus::Closing.counts_active());
        assert!(!ThreadStatus::Graceful.counts_active());
        assert!(!ThreadStatus::Starting.counts_active());
    }

    #[test]
    fn writes_outside_the_table_are_errors_not_panics() {
        let mut board = Scoreboard::new(2, 3);
        assert!(matches!(
            board.set_thread_status(2, 0, ThreadStatus::Ready),
            Err(ScoreboardError::SlotOutOfRange { slot: 2, .. })
        ));
        assert!(matches!(
            board.set_thread_status(1, 3, ThreadStatus::Ready),
            Err(ScoreboardError::ThreadOutOfRange { thread: 3, .. })
        ));
        assert!(board.announce_quiescing(5).is_err());
        assert_eq!(board.status(9, 9), ThreadStatus::Dead);
        assert!(board.threads(7).is_empty());
    }

    #[test]
    fn announce_quiescing_keeps_parent_noticed_state() {
        let mut board = Scoreboard::new(1, 1);
        board.announce_quiescing(0).unwrap();
        assert_eq!(board.slot(0).quiescing, Quiescing::Announced);
        if let Some(slot) = board.slot_mut(0) {
            slot.quiescing = Quiescing::Noticed;
        }
        board.announce_quiescing(0).unwrap();
        assert_eq!(board.slot(0).quiescing, Quiescing::Noticed);
    }

    #[test]
    fn graceful_stop_writes_follow_each_mpm() {
        let mut board = Scoreboard::new(1, 3);
        board
            .set_thread_status(0, 0, ThreadStatus::BusyWrite)
            .unwrap();
        board.begin_graceful_stop(Mpm::Worker, 0, 2).unwrap();
        assert_eq!(board.slot(0).quiescing, Quiescing::Announced);
        assert_eq!(board.status(0, 0), ThreadStatus::BusyWrite);
        board.begin_graceful_stop(Mpm::Event, 0, 2).unwrap();
        assert_eq!(board.status_chars(1, 3), "GG.");
        assert!(board.begin_graceful_stop(Mpm::Prefork, 1, 1).is_err());
    }

    #[test]
    fn status_chars_render_mod_status_line() {
        let mut board = Scoreboard::new(2, 2);
        board
            .set_thread_status(0, 1, ThreadStatus::BusyWrite)
            .unwrap();
        board.set_thread_status(1, 0, ThreadStatus::Ready).unwrap();
        assert_eq!(board.status_chars(2, 2), ".W_.");
    }
}
