//! httpd's log messages, verbatim: text, level, module and AH number.
//!
//! Users grep their error logs for these strings and search the web for the
//! AH numbers, so both are reproduced exactly (including httpd's typos, e.g.
//! event's `MaxRequestWorkers.Increase ServerLimit.`). Every message the
//! controller can emit is built here; [`MessageId`] lets drivers and tests
//! match on the kind without comparing text.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Mpm;
use crate::time::Timestamp;

/// httpd's log levels (`LogLevel`), most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// emerg
    Emerg,
    /// alert
    Alert,
    /// crit
    Crit,
    /// error
    Error,
    /// warn
    Warn,
    /// notice
    Notice,
    /// info
    Info,
    /// debug
    Debug,
    /// trace1
    Trace1,
    /// trace5
    Trace5,
}

impl LogLevel {
    /// The name httpd prints (`[mpm_event:error]`).
    pub const fn name(self) -> &'static str {
        match self {
            LogLevel::Emerg => "emerg",
            LogLevel::Alert => "alert",
            LogLevel::Crit => "crit",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace1 => "trace1",
            LogLevel::Trace5 => "trace5",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;

    /// A `LogLevel` word, any case; `trace2`…`trace4` read as trace1 and
    /// `trace6`…`trace8` as trace5, the two trace levels modelled here.
    fn from_str(s: &str) -> Result<LogLevel, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "emerg" => LogLevel::Emerg,
            "alert" => LogLevel::Alert,
            "crit" => LogLevel::Crit,
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "notice" => LogLevel::Notice,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace1" | "trace2" | "trace3" | "trace4" => LogLevel::Trace1,
            "trace5" | "trace6" | "trace7" | "trace8" => LogLevel::Trace5,
            other => return Err(format!("unknown log level `{other}`")),
        })
    }
}

/// Which message a [`LogRecord`] carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum MessageId {
    /// `%s configured -- resuming normal operations`
    Configured,
    /// `fork: Unable to fork new process`
    ForkFailed,
    /// `server reached MaxRequestWorkers setting, …` (once per master lifetime)
    ReachedMaxRequestWorkers,
    /// `server is within MinSpareThreads of MaxRequestWorkers, …` (once)
    WithinMinSpareThreads,
    /// `scoreboard is full, not at MaxRequestWorkers` (every tick)
    ScoreboardFull,
    /// `server seems busy, …`
    SeemsBusy,
    /// `A resource shortage or other unrecoverable failure … httpd is exiting!`
    SickChildGiveUp,
    /// `Child %d returned a Fatal error... Apache is exiting!`
    ChildFatal,
    /// `Ignoring fatal error in child of previous generation (pid %ld).`
    IgnoringFatalOfOldGeneration,
    /// `child pid %ld exit signal %s (%d)[, possible coredump in %s]`
    ChildExitSignal,
    /// `long lost child came home! (pid %ld)`
    LongLostChild,
    /// `children are killed successively!`
    ChildrenKilledSuccessively,
    /// prefork `Graceful restart requested, doing restart` / worker, event
    /// `SIGUSR1 received.  Doing graceful restart`
    GracefulRestart,
    /// `SIGHUP received.  Attempting to restart`
    HardRestart,
    /// `caught SIGTERM, shutting down`
    CaughtSigterm,
    /// `caught SIGWINCH, shutting down gracefully`
    CaughtSigwinch,
    /// `child process %d still did not exit, sending a SIGTERM`
    ReclaimSigterm,
    /// `child process %d still did not exit, sending a SIGKILL`
    ReclaimSigkill,
    /// `could not make child process %d exit, attempting to continue anyway`
    ReclaimGiveUp,
    /// `MPM run failed, exiting`
    MpmRunFailed,
    /// worker debug: `pid %d taking over scoreboard slot from %d (quiescing)`
    TakingOverSlot,
    /// event debug: `Child %d started: …`
    ChildStarted,
    /// event debug: `Child %d stopped: …`
    ChildStopped,
    /// event debug: `Child %d quiescing: …`
    ChildQuiescing,
    /// event trace5: `Shutting down one child: …` / `Not shutting down one child: …`
    ShuttingDownOneChild,
    /// event trace1: `server is at active daemons limit, spawning of %d children cancelled: …`
    ActiveDaemonsLimit,
}

/// One error-log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogRecord {
    /// When the parent logged it.
    pub at: Timestamp,
    /// Its level.
    pub level: LogLevel,
    /// The module httpd attributes it to (`mpm_event`, `core`).
    pub module: &'static str,
    /// The AH number, if httpd gives one.
    pub code: Option<u32>,
    /// Which message.
    pub id: MessageId,
    /// The exact text.
    pub message: String,
}

impl fmt::Display for LogRecord {
    /// httpd's error-log layout without the date and pid: `[module:level] AH00000: text`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}:{}] ", self.module, self.level.name())?;
        if let Some(code) = self.code {
            write!(f, "AH{code:05}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Builds [`LogRecord`]s for one MPM.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Messages {
    pub(crate) mpm: Mpm,
}

/// The module name for messages from httpd's shared MPM code (mpm_unix.c, main.c).
const CORE: &str = "core";

impl Messages {
    fn mpm_record(
        self,
        at: Timestamp,
        level: LogLevel,
        codes: [Option<u32>; 3],
        id: MessageId,
        message: String,
    ) -> LogRecord {
        let code = match self.mpm {
            Mpm::Prefork => codes[0],
            Mpm::Worker => codes[1],
            Mpm::Event => codes[2],
        };
        LogRecord {
            at,
            level,
            module: self.mpm.module_name(),
            code,
            id,
            message,
        }
    }

    fn core_record(
        at: Timestamp,
        level: LogLevel,
        code: u32,
        id: MessageId,
        message: String,
    ) -> LogRecord {
        LogRecord {
            at,
            level,
            module: CORE,
            code: Some(code),
            id,
            message,
        }
    }

    pub(crate) fn configured(self, at: Timestamp, server_description: &str) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Notice,
            [Some(163), Some(292), Some(489)],
            MessageId::Configured,
            format!("{server_description} configured -- resuming normal operations"),
        )
    }

    pub(crate) fn fork_failed(self, at: Timestamp) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Error,
            [Some(159), Some(283), Some(481)],
            MessageId::ForkFailed,
            "fork: Unable to fork new process".to_owned(),
        )
    }

    pub(crate) fn reached_max_request_workers(self, at: Timestamp) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Error,
            [Some(161), Some(286), Some(484)],
            MessageId::ReachedMaxRequestWorkers,
            "server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting"
                .to_owned(),
        )
    }

    pub(crate) fn within_min_spare_threads(self, at: Timestamp) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Error,
            [None, Some(287), Some(10159)],
            MessageId::WithinMinSpareThreads,
            "server is within MinSpareThreads of MaxRequestWorkers, consider raising the MaxRequestWorkers setting"
                .to_owned(),
        )
    }

    pub(crate) fn scoreboard_full(self, at: Timestamp) -> LogRecord {
        let text = match self.mpm {
            // sic: event's message lacks the space after the full stop.
            Mpm::Event => "scoreboard is full, not at MaxRequestWorkers.Increase ServerLimit.",
            Mpm::Prefork | Mpm::Worker => "scoreboard is full, not at MaxRequestWorkers",
        };
        self.mpm_record(
            at,
            LogLevel::Error,
            [None, Some(288), Some(3490)],
            MessageId::ScoreboardFull,
            text.to_owned(),
        )
    }

    pub(crate) fn prefork_seems_busy(
        self,
        at: Timestamp,
        spawn_rate: u32,
        idle: u32,
        total: u32,
    ) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Info,
            [Some(162), None, None],
            MessageId::SeemsBusy,
            format!(
                "server seems busy, (you may need to increase StartServers, or Min/MaxSpareServers), spawning {spawn_rate} children, there are {idle} idle, and {total} total children"
            ),
        )
    }

    pub(crate) fn worker_seems_busy(
        self,
        at: Timestamp,
        spawning: u32,
        idle: u32,
        total: u32,
    ) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Info,
            [None, Some(289), None],
            MessageId::SeemsBusy,
            format!(
                "server seems busy, (you may need to increase StartServers, ThreadsPerChild or Min/MaxSpareThreads), spawning {spawning} children, there are around {idle} idle threads, and {total} total children"
            ),
        )
    }

    pub(crate) fn event_seems_busy(
        self,
        at: Timestamp,
        spawning: u32,
        idle: u32,
        active_daemons: u32,
        total_daemons: u32,
    ) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Info,
            [None, None, Some(486)],
            MessageId::SeemsBusy,
            format!(
                "server seems busy, (you may need to increase StartServers, ThreadsPerChild or Min/MaxSpareThreads), spawning {spawning} children, there are around {idle} idle threads, {active_daemons} active children, and {total_daemons} children that are shutting down"
            ),
        )
    }

    pub(crate) fn sick_child_give_up(self, at: Timestamp) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Alert,
            [None, Some(2325), Some(2324)],
            MessageId::SickChildGiveUp,
            "A resource shortage or other unrecoverable failure was encountered before any child process initialized successfully... httpd is exiting!"
                .to_owned(),
        )
    }

    pub(crate) fn child_fatal(at: Timestamp, pid: u64) -> LogRecord {
        Self::core_record(
            at,
            LogLevel::Alert,
            50,
            MessageId::ChildFatal,
            format!("Child {pid} returned a Fatal error... Apache is exiting!"),
        )
    }

    pub(crate) fn ignoring_fatal_of_old_generation(self, at: Timestamp, pid: u64) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Warn,
            [Some(166), Some(290), Some(487)],
            MessageId::IgnoringFatalOfOldGeneration,
            format!("Ignoring fatal error in child of previous generation (pid {pid})."),
        )
    }

    pub(crate) fn child_exit_signal(
        at: Timestamp,
        pid: u64,
        signal: i32,
        core_dump_directory: Option<&str>,
    ) -> LogRecord {
        let description = crate::child::signal::description(signal);
        let (code, message) = match core_dump_directory {
            Some(directory) => (
                51,
                format!(
                    "child pid {pid} exit signal {description} ({signal}), possible coredump in {directory}"
                ),
            ),
            None => (
                52,
                format!("child pid {pid} exit signal {description} ({signal})"),
            ),
        };
        Self::core_record(
            at,
            LogLevel::Notice,
            code,
            MessageId::ChildExitSignal,
            message,
        )
    }

    pub(crate) fn long_lost_child(self, at: Timestamp, pid: u64) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Warn,
            [Some(167), Some(291), Some(488)],
            MessageId::LongLostChild,
            format!("long lost child came home! (pid {pid})"),
        )
    }

    pub(crate) fn children_killed_successively(self, at: Timestamp) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Warn,
            [None, Some(10393), Some(10392)],
            MessageId::ChildrenKilledSuccessively,
            "children are killed successively!".to_owned(),
        )
    }

    pub(crate) fn graceful_restart(self, at: Timestamp) -> LogRecord {
        let text = match self.mpm {
            Mpm::Prefork => "Graceful restart requested, doing restart",
            Mpm::Worker | Mpm::Event => "SIGUSR1 received.  Doing graceful restart",
        };
        self.mpm_record(
            at,
            LogLevel::Notice,
            [Some(171), Some(297), Some(493)],
            MessageId::GracefulRestart,
            text.to_owned(),
        )
    }

    pub(crate) fn hard_restart(self, at: Timestamp) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Notice,
            [Some(173), Some(298), Some(494)],
            MessageId::HardRestart,
            "SIGHUP received.  Attempting to restart".to_owned(),
        )
    }

    pub(crate) fn caught_sigterm(self, at: Timestamp) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Notice,
            [Some(169), Some(295), Some(491)],
            MessageId::CaughtSigterm,
            "caught SIGTERM, shutting down".to_owned(),
        )
    }

    pub(crate) fn caught_sigwinch(self, at: Timestamp) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Notice,
            [Some(170), Some(296), Some(492)],
            MessageId::CaughtSigwinch,
            "caught SIGWINCH, shutting down gracefully".to_owned(),
        )
    }

    pub(crate) fn reclaim_sigterm(at: Timestamp, pid: u64) -> LogRecord {
        Self::core_record(
            at,
            LogLevel::Warn,
            45,
            MessageId::ReclaimSigterm,
            format!("child process {pid} still did not exit, sending a SIGTERM"),
        )
    }

    pub(crate) fn reclaim_sigkill(at: Timestamp, pid: u64) -> LogRecord {
        Self::core_record(
            at,
            LogLevel::Error,
            46,
            MessageId::ReclaimSigkill,
            format!("child process {pid} still did not exit, sending a SIGKILL"),
        )
    }

    pub(crate) fn reclaim_give_up(at: Timestamp, pid: u64) -> LogRecord {
        Self::core_record(
            at,
            LogLevel::Error,
            47,
            MessageId::ReclaimGiveUp,
            format!("could not make child process {pid} exit, attempting to continue anyway"),
        )
    }

    pub(crate) fn mpm_run_failed(at: Timestamp) -> LogRecord {
        Self::core_record(
            at,
            LogLevel::Emerg,
            2818,
            MessageId::MpmRunFailed,
            "MPM run failed, exiting".to_owned(),
        )
    }

    pub(crate) fn taking_over_slot(
        self,
        at: Timestamp,
        new_pid: u64,
        old_pid: u64,
        quiescing: bool,
    ) -> LogRecord {
        let suffix = if quiescing { " (quiescing)" } else { "" };
        self.mpm_record(
            at,
            LogLevel::Debug,
            [None, Some(263), None],
            MessageId::TakingOverSlot,
            format!("pid {new_pid} taking over scoreboard slot from {old_pid}{suffix}"),
        )
    }

    pub(crate) fn event_child_started(
        self,
        at: Timestamp,
        slot: u32,
        pid: u64,
        generation: u32,
        c: DaemonCounts,
    ) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Debug,
            [None, None, None],
            MessageId::ChildStarted,
            format!(
                "Child {slot} started: pid {pid}, gen {generation}, active {}/{}, total {}/{}/{}",
                c.active, c.active_limit, c.total, c.max_used, c.server_limit
            ),
        )
    }

    pub(crate) fn event_child_stopped(
        self,
        at: Timestamp,
        slot: u32,
        pid: u64,
        generation: u32,
        c: DaemonCounts,
        quiescing: u8,
    ) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Debug,
            [None, None, None],
            MessageId::ChildStopped,
            format!(
                "Child {slot} stopped: pid {pid}, gen {generation}, active {}/{}, total {}/{}/{}, quiescing {quiescing}",
                c.active, c.active_limit, c.total, c.max_used, c.server_limit
            ),
        )
    }

    pub(crate) fn event_child_quiescing(
        self,
        at: Timestamp,
        slot: u32,
        pid: u64,
        generation: u32,
        c: DaemonCounts,
    ) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Debug,
            [None, None, None],
            MessageId::ChildQuiescing,
            format!(
                "Child {slot} quiescing: pid {pid}, gen {generation}, active {}/{}, total {}/{}/{}",
                c.active, c.active_limit, c.total, c.max_used, c.server_limit
            ),
        )
    }

    pub(crate) fn event_shutting_down_one_child(
        self,
        at: Timestamp,
        do_kill: bool,
        c: DaemonCounts,
        idle: u32,
        max_workers: u32,
    ) -> LogRecord {
        let prefix = if do_kill { "S" } else { "Not s" };
        self.mpm_record(
            at,
            LogLevel::Trace5,
            [None, None, None],
            MessageId::ShuttingDownOneChild,
            format!(
                "{prefix}hutting down one child: active {}/{}, total {}/{}/{}, idle threads {idle}, max workers {max_workers}",
                c.active, c.active_limit, c.total, c.max_used, c.server_limit
            ),
        )
    }

    pub(crate) fn event_active_daemons_limit(
        self,
        at: Timestamp,
        cancelled: u32,
        c: DaemonCounts,
        rate: u32,
    ) -> LogRecord {
        self.mpm_record(
            at,
            LogLevel::Trace1,
            [None, None, None],
            MessageId::ActiveDaemonsLimit,
            format!(
                "server is at active daemons limit, spawning of {cancelled} children cancelled: active {}/{}, total {}/{}/{}, rate {rate}",
                c.active, c.active_limit, c.total, c.max_used, c.server_limit
            ),
        )
    }
}

/// The counters event prints in its debug/trace lines
/// (`active %d/%d, total %d/%d/%d`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DaemonCounts {
    pub(crate) active: u32,
    pub(crate) active_limit: u32,
    pub(crate) total: u32,
    pub(crate) max_used: u32,
    pub(crate) server_limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_error_log_layout() {
        let record = Messages { mpm: Mpm::Worker }.reached_max_request_workers(Timestamp::ZERO);
        assert_eq!(
            record.to_string(),
            "[mpm_worker:error] AH00286: server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting"
        );
    }

    #[test]
    fn event_scoreboard_full_keeps_the_missing_space() {
        let record = Messages { mpm: Mpm::Event }.scoreboard_full(Timestamp::ZERO);
        assert_eq!(
            record.message,
            "scoreboard is full, not at MaxRequestWorkers.Increase ServerLimit."
        );
        assert_eq!(record.code, Some(3490));
    }

    #[test]
    fn prefork_seems_busy_text() {
        let record = Messages { mpm: Mpm::Prefork }.prefork_seems_busy(Timestamp::ZERO, 8, 0, 12);
        assert_eq!(
            record.message,
            "server seems busy, (you may need to increase StartServers, or Min/MaxSpareServers), spawning 8 children, there are 0 idle, and 12 total children"
        );
    }

    #[test]
    fn exit_signal_mentions_core_dump_directory_only_when_dumped() {
        let plain = Messages::child_exit_signal(Timestamp::ZERO, 42, 11, None);
        assert_eq!(
            plain.message,
            "child pid 42 exit signal Segmentation fault (11)"
        );
        let dumped = Messages::child_exit_signal(Timestamp::ZERO, 42, 6, Some("/srv"));
        assert_eq!(
            dumped.message,
            "child pid 42 exit signal Abort (6), possible coredump in /srv"
        );
        assert_eq!(dumped.code, Some(51));
    }
}
