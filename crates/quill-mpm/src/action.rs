//! What the controller asks its driver to do, and what it records about each tick.

use serde::Serialize;

use crate::child::{ChildId, Generation};
use crate::messages::LogRecord;
use crate::time::Timestamp;

/// An instruction for the driver, in the order the parent would perform it.
///
/// Actions are emitted at the `now` of the `handle_*` call that produced them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Fork a child into a scoreboard slot.
    Spawn(Spawn),
    /// Idle-maintenance kill: write one byte to `bucket`'s pipe of death.
    ///
    /// Which child reads it is the driver's decision, as the kernel decides in
    /// httpd: worker/event — whichever current-generation child of the bucket
    /// is woken (on Linux mostly the oldest; it may be busy and then lingers);
    /// prefork — httpd also opens a dummy `OPTIONS *` connection to the first
    /// listener and the victim is the next child that checks the pipe after a
    /// connection (normally the one that got the dummy connection). See
    /// [`crate::Controller::default_kill_victim`]. A maintenance kill is always
    /// graceful.
    Kill {
        /// the listener bucket whose pipe receives the byte
        bucket: u32,
        /// `!` (finish current work, then exit) rather than `$` (exit now)
        graceful: bool,
    },
    /// Tell one specific child to stop, as part of a restart or stop.
    ///
    /// httpd broadcasts these (pipe-of-death bytes for every child of a
    /// bucket, `SIGUSR1` to each prefork child, `killpg`); the controller
    /// names each recipient so both drivers deliver the same set.
    Stop {
        /// who
        child: ChildId,
        /// finish current work first, or exit now
        mode: StopMode,
        /// the mechanism httpd uses, for drivers that mimic it
        via: StopVia,
    },
    /// Send a signal to one child (the reclaim escalation of §9).
    Signal {
        /// who
        child: ChildId,
        /// which signal
        signal: ChildSignal,
    },
    /// Close the listening sockets (graceful stop).
    CloseListeners,
    /// Re-read the configuration (restart), then call
    /// [`crate::Controller::handle_config_reloaded`] (or
    /// [`crate::Controller::handle_config_reload_failed`]).
    ReloadConfig,
    /// The parent process exits with this code; the controller is finished.
    Exit {
        /// the exit status of the httpd parent
        code: i32,
    },
    /// Write a line to the error log.
    Log(LogRecord),
}

/// Where to fork a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Spawn {
    /// The new child's identity.
    pub child: ChildId,
    /// Its scoreboard slot.
    pub slot: u32,
    /// Its listener bucket (decides which pipe of death and listeners it uses).
    pub bucket: u32,
    /// The generation it belongs to.
    pub generation: Generation,
    /// worker only: the stopping child whose slot this one takes over (§7.4).
    /// The new child may only start threads in thread slots that are DEAD or
    /// GRACEFUL; the old one keeps running until its connections end.
    pub takes_over_from: Option<ChildId>,
}

/// How urgently a child is asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum StopMode {
    /// Stop accepting, finish in-flight work, then exit (`!`, `SIGUSR1`).
    Graceful,
    /// Exit now (`$`, `SIGTERM`, `SIGHUP`).
    Immediate,
}

/// The mechanism httpd uses to deliver a stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum StopVia {
    /// A byte on the child's bucket's pipe of death (worker/event).
    PipeOfDeath,
    /// A signal (prefork).
    Signal(ChildSignal),
}

/// Signals the parent sends to children.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ChildSignal {
    /// SIGTERM: exit now.
    Term,
    /// SIGKILL.
    Kill,
    /// SIGHUP: prefork hard restart.
    Hup,
    /// SIGUSR1 (AP_SIG_GRACEFUL): prefork graceful restart/stop.
    GracefulUsr1,
}

impl ChildSignal {
    /// The Linux signal number.
    pub const fn number(self) -> i32 {
        match self {
            ChildSignal::Term => crate::child::signal::TERM,
            ChildSignal::Kill => crate::child::signal::KILL,
            ChildSignal::Hup => crate::child::signal::HUP,
            ChildSignal::GracefulUsr1 => crate::child::signal::USR1,
        }
    }
}

/// What one run of idle-server maintenance decided for one bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Decision {
    /// idle > MaxSpare: one graceful kill on the bucket's pipe of death.
    Kill,
    /// (event) idle > MaxSpare but a stopping child is still around and the
    /// scoreboard has no spare room (§6.3 rule 1): wait.
    KillDeferred,
    /// idle < MinSpare: forked children into these slots.
    Spawn {
        /// the slots, in fork order
        slots: Vec<u32>,
    },
    /// (event) idle < MinSpare but active daemons are at daemons_limit: nothing forked.
    SpawnCancelledAtActiveLimit,
    /// idle < MinSpare and MaxRequestWorkers is reached (or no free slot in
    /// prefork, where that is the same thing).
    AtMaxRequestWorkers,
    /// idle < MinSpare, no free slot, but below MaxRequestWorkers (worker/event).
    ScoreboardFull,
    /// MinSpare ≤ idle ≤ MaxSpare.
    Balanced,
    /// A sick child was detected and no healthy child exists yet; this (not
    /// last) bucket skipped its decision.
    AwaitingHealthyChild,
    /// A sick child was detected and no child ever became healthy: the server stops.
    GaveUp,
}

/// One bucket's maintenance pass: the inputs it saw and what it decided.
///
/// Counts follow each MPM's own rules (§6.1–6.4); `idle` is what the parent
/// compares with the thresholds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TickRecord {
    /// When the tick ran.
    pub at: Timestamp,
    /// The running generation.
    pub generation: Generation,
    /// The bucket (0 for prefork, which counts globally).
    pub bucket: u32,
    /// Idle count: processes (prefork) or thread slots (worker/event).
    pub idle: u32,
    /// Thread slots in READY..GRACEFUL, all generations (prefork: processes).
    pub active_threads: u32,
    /// The "total children" figure httpd would print (prefork: non-dead
    /// slots; worker: scanned slots without a GRACEFUL thread, empty slots
    /// included; event: total_daemons).
    pub total: u32,
    /// Scanned slots holding a child (stopping and unreaped ones included).
    pub processes: u32,
    /// Free slots the scan collected (capped by the spawn rate).
    pub free_slots: u32,
    /// The MinSpare threshold applied (already divided by the bucket count).
    pub min_spare: u32,
    /// The MaxSpare threshold applied (already divided by the bucket count).
    pub max_spare: u32,
    /// The bucket's spawn rate before the decision.
    pub spawn_rate: u32,
    /// The bucket's spawn rate after the decision.
    pub next_spawn_rate: u32,
    /// The graceful-restart hold-off counter after the decision.
    pub hold_off: u32,
    /// (event) children not known to be stopping, after the decision; else 0.
    pub active_daemons: u32,
    /// (event) children holding a slot, after the decision; else 0.
    pub total_daemons: u32,
    /// What was decided.
    pub decision: Decision,
}
