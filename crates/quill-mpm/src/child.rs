//! Identities and exit statuses of child processes.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// A child process, named by the controller when it decides to fork it.
///
/// Numbers increase in fork order, so ordering by `ChildId` is "oldest
/// first". The real supervisor maps them to OS pids (and may report the pid
/// with [`crate::Controller::handle_child_pid`] so log lines show it); the
/// simulator can use them directly as pids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChildId(pub(crate) u64);

impl ChildId {
    /// The fork-order serial number (1 for the first child ever forked).
    pub const fn serial(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child#{}", self.0)
    }
}

/// The MPM generation: 0 at first start, +1 at every restart (graceful or not).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Generation(pub u32);

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Apache's special child exit codes (`APEXIT_*`).
pub mod exit_code {
    /// Normal exit.
    pub const OK: i32 = 0;
    /// APEXIT_CHILDINIT: the child failed to initialise.
    pub const CHILD_INIT: i32 = 3;
    /// APEXIT_CHILDSICK: resource shortage; the parent drops the spawn rate to 1.
    pub const CHILD_SICK: i32 = 7;
    /// APEXIT_CHILDFATAL: fatal; a current-generation child's exit stops the server.
    pub const CHILD_FATAL: i32 = 15;
}

/// Linux signal numbers the controller needs to name or recognise.
pub mod signal {
    /// SIGHUP: restart (sent to prefork children at a hard restart).
    pub const HUP: i32 = 1;
    /// SIGINT
    pub const INT: i32 = 2;
    /// SIGABRT
    pub const ABRT: i32 = 6;
    /// SIGBUS
    pub const BUS: i32 = 7;
    /// SIGKILL: the reclaim escalation's last resort.
    pub const KILL: i32 = 9;
    /// SIGUSR1: AP_SIG_GRACEFUL.
    pub const USR1: i32 = 10;
    /// SIGSEGV
    pub const SEGV: i32 = 11;
    /// SIGTERM
    pub const TERM: i32 = 15;
    /// SIGWINCH: AP_SIG_GRACEFUL_STOP.
    pub const WINCH: i32 = 28;

    /// APR's description of a signal (its own table, Linux numbering), as
    /// printed in `child pid %ld exit signal %s (%d)`.
    pub fn description(signum: i32) -> std::borrow::Cow<'static, str> {
        super::apr_signal_description(signum)
    }
}

fn apr_signal_description(signum: i32) -> Cow<'static, str> {
    // apr_signal_init() stores these in this order; later entries win where
    // Linux aliases numbers (SIGIOT=SIGABRT, SIGPOLL=SIGIO, SIGCLD=SIGCHLD).
    let text = match signum {
        0 => "Signal 0",
        1 => "Hangup",
        2 => "Interrupt",
        3 => "Quit",
        4 => "Illegal instruction",
        5 => "Trace/BPT trap",
        6 => "Abort",
        7 => "Bus error",
        8 => "Arithmetic exception",
        9 => "Killed",
        10 => "User defined signal 1",
        11 => "Segmentation fault",
        12 => "User defined signal 2",
        13 => "Broken pipe",
        14 => "Alarm clock",
        15 => "Terminated",
        17 => "Child status change",
        18 => "Continued",
        19 => "Stopped (signal)",
        20 => "Stopped",
        21 => "Stopped (tty input)",
        22 => "Stopped (tty output)",
        23 => "urgent socket condition",
        24 => "exceeded cpu limit",
        25 => "exceeded file size limit",
        26 => "virtual timer expired",
        27 => "profiling timer expired",
        28 => "Window changed",
        29 => "socket I/O possible",
        30 => "Power-fail restart",
        31 => "Bad system call",
        n if (0..65).contains(&n) => return Cow::Owned(format!("signal #{n}")),
        _ => "unknown signal (number)",
    };
    Cow::Borrowed(text)
}

/// How a child process ended, as `waitpid` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExitStatus {
    /// The child called `exit(code)`.
    Exited {
        /// the exit code (see [`exit_code`])
        code: i32,
    },
    /// The child was killed by a signal.
    Signaled {
        /// the signal number (see [`signal`])
        signal: i32,
        /// whether the kernel reported a core dump
        core_dumped: bool,
    },
}

impl ExitStatus {
    /// `exit(0)`.
    pub const SUCCESS: ExitStatus = ExitStatus::Exited { code: 0 };

    /// Killed by `signal` without a core dump.
    pub const fn signaled(signal: i32) -> ExitStatus {
        ExitStatus::Signaled {
            signal,
            core_dumped: false,
        }
    }

    /// Whether the child died from a signal (APR_PROC_CHECK_SIGNALED).
    pub const fn is_signaled(self) -> bool {
        matches!(self, ExitStatus::Signaled { .. })
    }
}

/// Where a child process is in its life, as far as the parent knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChildState {
    /// Forked and not yet reported as exited.
    Running,
    /// Reported as exited but not reaped yet: a zombie that may still occupy
    /// its scoreboard slot.
    Exited {
        /// when the driver reported the exit
        at: Timestamp,
        /// how it ended
        status: ExitStatus,
    },
}

/// A read-only view of a child the controller still tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChildView {
    /// Who.
    pub id: ChildId,
    /// The scoreboard slot it was forked into.
    pub slot: u32,
    /// Its listener bucket (`slot % num_buckets`).
    pub bucket: u32,
    /// The generation it was forked in.
    pub generation: Generation,
    /// When the controller decided to fork it.
    pub spawned_at: Timestamp,
    /// The OS pid, if the driver reported one.
    pub os_pid: Option<u32>,
    /// Running or exited-not-reaped.
    pub state: ChildState,
    /// Whether its slot in the scoreboard still names it. False for a worker
    /// child whose slot was taken over by a newer child (§7.4) and for
    /// children forgotten when a hard restart recreated the scoreboard.
    pub in_scoreboard: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct ChildRecord {
    pub(crate) slot: u32,
    pub(crate) bucket: u32,
    pub(crate) generation: Generation,
    pub(crate) spawned_at: Timestamp,
    pub(crate) os_pid: Option<u32>,
    pub(crate) state: ChildState,
    /// worker: the stopping child whose slot this one took over at fork.
    pub(crate) took_over_from: Option<ChildId>,
}

impl ChildRecord {
    pub(crate) fn is_running(&self) -> bool {
        matches!(self.state, ChildState::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_descriptions_follow_apr_table() {
        assert_eq!(signal::description(signal::SEGV), "Segmentation fault");
        assert_eq!(signal::description(signal::ABRT), "Abort");
        assert_eq!(signal::description(16), "signal #16");
        assert_eq!(signal::description(99), "unknown signal (number)");
        assert_eq!(signal::description(-1), "unknown signal (number)");
    }
}
