//! The MPM values the controller runs with.
//!
//! [`PoolConfig`] holds the *final* numbers after all of httpd's start-up
//! adjustments (reference §3: the check_config clamps and the silent raises
//! done when the MPM starts running). [`adjust`] computes them from the
//! directive values as written ([`MpmDirectives`]) and reports every change
//! as an [`Adjustment`] quoting Apache; the config crate turns those into
//! diagnostics, and [`PoolConfig::from_directives`] keeps only the result
//! (for tests and what-if simulations written the way a user writes
//! httpd.conf). [`PoolConfig::validate`] rejects values that violate the
//! invariants those adjustments establish, so a hand-built config that
//! forgets one is caught instead of silently changing behaviour.
//!
//! ```text
//!   MpmDirectives ──adjust──▶ AdjustedMpm ──.pool──▶ PoolConfig ──▶ Controller::new
//!                               └─ adjustments (Apache's warnings)
//! ```

mod adjust;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use adjust::{AdjustedMpm, Adjustment, Knob, MpmDirectives, adjust};

/// Which multi-processing module's parent logic to reproduce. Serialized
/// as httpd names it: `"prefork"`, `"worker"`, `"event"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mpm {
    /// One single-threaded process per connection (`mpm_prefork`).
    Prefork,
    /// Threaded children; a connection holds its thread for its whole life (`mpm_worker`).
    Worker,
    /// Threaded children; keep-alive and lingering close park in the listener (`mpm_event`).
    Event,
}

impl Mpm {
    /// The name httpd reports (`ServerMPM:` in mod_status).
    pub const fn name(self) -> &'static str {
        match self {
            Mpm::Prefork => "prefork",
            Mpm::Worker => "worker",
            Mpm::Event => "event",
        }
    }

    /// Whether children run several threads (worker, event).
    pub const fn is_threaded(self) -> bool {
        !matches!(self, Mpm::Prefork)
    }

    /// Parses an MPM name (`prefork`, `worker`, `event`; any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "prefork" => Some(Mpm::Prefork),
            "worker" => Some(Mpm::Worker),
            "event" => Some(Mpm::Event),
            _ => None,
        }
    }

    /// The module name httpd prints in error-log lines (`[mpm_event:error]`).
    pub const fn module_name(self) -> &'static str {
        match self {
            Mpm::Prefork => "mpm_prefork",
            Mpm::Worker => "mpm_worker",
            Mpm::Event => "mpm_event",
        }
    }

    /// MAX_SERVER_LIMIT: the compile-time cap on ServerLimit (reference §2.2).
    pub const fn max_server_limit(self) -> u32 {
        match self {
            Mpm::Prefork => 200_000,
            Mpm::Worker | Mpm::Event => 20_000,
        }
    }

    /// MAX_THREAD_LIMIT: the compile-time cap on ThreadLimit (prefork is single-threaded).
    pub const fn max_thread_limit(self) -> u32 {
        match self {
            Mpm::Prefork => 1,
            Mpm::Worker => 20_000,
            Mpm::Event => 100_000,
        }
    }
}

/// MAX_SPAWN_RATE: at most this many children are forked per tick (per
/// server for prefork; divided by the number of buckets for worker/event).
pub const MAX_SPAWN_RATE: u32 = 32;

/// Quill's own bound on scoreboard cells (ServerLimit × ThreadLimit).
///
/// Apache would try to allocate that much shared memory and fail at start-up;
/// we reject such a config up front instead of aborting on allocation.
pub const MAX_SCOREBOARD_CELLS: u64 = 1 << 24;

/// The final MPM settings, after every start-up adjustment of reference §3.
///
/// Counts are `u32` because httpd's clamps make them all ≥ 1 (except the
/// signed MaxConnectionsPerChild, where a negative `atoi` result has meaning).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolConfig {
    /// Which MPM's parent loop to run.
    pub mpm: Mpm,
    /// `StartServers`: children forked at start-up and after a restart
    /// (raised to at least `num_buckets`).
    pub start_servers: u32,
    /// `MinSpareServers` (prefork, processes) or `MinSpareThreads`
    /// (worker/event, threads), after the run-time raises of §3.1.6 / §3.2.13.
    pub min_spare: u32,
    /// `MaxSpareServers` (prefork) or `MaxSpareThreads` (worker/event), after
    /// the run-time raises (worker/event: at least min_spare + (TPC+1)·nb).
    pub max_spare: u32,
    /// `ThreadsPerChild` (always 1 for prefork).
    pub threads_per_child: u32,
    /// `ThreadLimit`: thread slots per process in the scoreboard (1 for prefork).
    /// Fixed for the master process's lifetime.
    pub thread_limit: u32,
    /// `ServerLimit`: process slots in the scoreboard. Fixed for the master
    /// process's lifetime.
    pub server_limit: u32,
    /// worker: `ap_daemons_limit`; event: `active_daemons_limit` — that is
    /// `MaxRequestWorkers / ThreadsPerChild` capped at ServerLimit and raised
    /// to `num_buckets`. prefork has no such value; it must equal
    /// `max_request_workers`, which prefork uses as its scan limit.
    pub daemons_limit: u32,
    /// `MaxRequestWorkers` (old name `MaxClients`). For worker/event this may
    /// be the *stale* value of §3.2 step 9 (larger than daemons_limit × TPC)
    /// because httpd does not lower it when ServerLimit caps daemons_limit.
    pub max_request_workers: u32,
    /// `MaxConnectionsPerChild` (old name `MaxRequestsPerChild`); 0 = unlimited.
    /// Enforced by children; see [`crate::ConnectionCounter`].
    pub max_connections_per_child: i32,
    /// Number of listener buckets (from `ListenCoresBucketsRatio`; 1 by default).
    pub num_buckets: u32,
    /// `GracefulShutdownTimeout`: how long a graceful stop waits for children
    /// before killing them; zero waits forever. Whole seconds in httpd.
    pub graceful_shutdown_timeout: Duration,
}

/// A [`PoolConfig`] value that breaks an invariant httpd's adjustments guarantee.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// num_buckets must be at least 1.
    #[error("num_buckets is 0; there is always at least one listener bucket")]
    NoBuckets,
    /// ServerLimit outside 1..=MAX_SERVER_LIMIT.
    #[error("ServerLimit {value} is outside 1..={max} for {mpm}; httpd clamps it into that range")]
    ServerLimit {
        /// the offending value
        value: u32,
        /// the compile-time cap
        max: u32,
        /// the MPM name
        mpm: &'static str,
    },
    /// ThreadLimit outside 1..=MAX_THREAD_LIMIT.
    #[error("ThreadLimit {value} is outside 1..={max} for {mpm}; httpd clamps it into that range")]
    ThreadLimit {
        /// the offending value
        value: u32,
        /// the compile-time cap
        max: u32,
        /// the MPM name
        mpm: &'static str,
    },
    /// ThreadsPerChild outside 1..=ThreadLimit (exactly 1 for prefork).
    #[error("ThreadsPerChild {value} is outside 1..={thread_limit}; lower it or raise ThreadLimit")]
    ThreadsPerChild {
        /// the offending value
        value: u32,
        /// the ThreadLimit it must not exceed
        thread_limit: u32,
    },
    /// The scoreboard would be unreasonably large.
    #[error(
        "ServerLimit {server_limit} × ThreadLimit {thread_limit} needs more than {MAX_SCOREBOARD_CELLS} scoreboard cells; lower one of them"
    )]
    ScoreboardTooLarge {
        /// ServerLimit
        server_limit: u32,
        /// ThreadLimit
        thread_limit: u32,
    },
    /// MaxRequestWorkers breaks its per-MPM invariant.
    #[error("MaxRequestWorkers {value}: {reason}")]
    MaxRequestWorkers {
        /// the offending value
        value: u32,
        /// which invariant is broken and how httpd would have adjusted it
        reason: String,
    },
    /// daemons_limit does not follow from MaxRequestWorkers, ThreadsPerChild,
    /// ServerLimit and num_buckets.
    #[error(
        "daemons_limit {found} should be {expected} (MaxRequestWorkers / ThreadsPerChild, capped at ServerLimit, raised to num_buckets)"
    )]
    DaemonsLimit {
        /// the configured value
        found: u32,
        /// the value httpd computes
        expected: u32,
    },
    /// StartServers below num_buckets (or 0).
    #[error(
        "StartServers {value} is below {minimum}; httpd raises it to the number of buckets (at least 1)"
    )]
    StartServers {
        /// the offending value
        value: u32,
        /// the minimum httpd enforces
        minimum: u32,
    },
    /// Min spare below what httpd enforces.
    #[error("{directive} {value} is below {minimum}, the floor httpd enforces when it starts")]
    MinSpare {
        /// `MinSpareServers` or `MinSpareThreads`
        directive: &'static str,
        /// the offending value
        value: u32,
        /// the floor
        minimum: u32,
    },
    /// Max spare below what httpd enforces.
    #[error("{directive} {value} is below {minimum}, the floor httpd enforces when it starts")]
    MaxSpare {
        /// `MaxSpareServers` or `MaxSpareThreads`
        directive: &'static str,
        /// the offending value
        value: u32,
        /// the floor
        minimum: u32,
    },
    /// A value that httpd keeps for the master process's lifetime changed on restart.
    #[error(
        "{field} cannot change on restart (was {old}, new config has {new}); httpd keeps the original value"
    )]
    FixedForLifetime {
        /// which field
        field: &'static str,
        /// the running value
        old: String,
        /// the value in the reloaded config
        new: String,
    },
}

impl PoolConfig {
    /// Checks the invariants httpd's start-up adjustments establish.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mpm = self.mpm;
        let nb = self.num_buckets;
        if nb == 0 {
            return Err(ConfigError::NoBuckets);
        }
        if self.server_limit == 0 || self.server_limit > mpm.max_server_limit() {
            return Err(ConfigError::ServerLimit {
                value: self.server_limit,
                max: mpm.max_server_limit(),
                mpm: mpm.name(),
            });
        }
        if self.thread_limit == 0 || self.thread_limit > mpm.max_thread_limit() {
            return Err(ConfigError::ThreadLimit {
                value: self.thread_limit,
                max: mpm.max_thread_limit(),
                mpm: mpm.name(),
            });
        }
        if self.threads_per_child == 0 || self.threads_per_child > self.thread_limit {
            return Err(ConfigError::ThreadsPerChild {
                value: self.threads_per_child,
                thread_limit: self.thread_limit,
            });
        }
        if u64::from(self.server_limit) * u64::from(self.thread_limit) > MAX_SCOREBOARD_CELLS {
            return Err(ConfigError::ScoreboardTooLarge {
                server_limit: self.server_limit,
                thread_limit: self.thread_limit,
            });
        }
        if self.start_servers < nb {
            return Err(ConfigError::StartServers {
                value: self.start_servers,
                minimum: nb,
            });
        }
        match mpm {
            Mpm::Prefork => self.validate_prefork(),
            Mpm::Worker | Mpm::Event => self.validate_threaded(),
        }
    }

    fn validate_prefork(&self) -> Result<(), ConfigError> {
        let nb = self.num_buckets;
        let mrw = self.max_request_workers;
        if mrw < nb || mrw > self.server_limit {
            return Err(ConfigError::MaxRequestWorkers {
                value: mrw,
                reason: format!(
                    "prefork needs num_buckets ({nb}) <= MaxRequestWorkers <= ServerLimit ({})",
                    self.server_limit
                ),
            });
        }
        if self.daemons_limit != mrw {
            return Err(ConfigError::DaemonsLimit {
                found: self.daemons_limit,
                expected: mrw,
            });
        }
        if self.min_spare < nb {
            return Err(ConfigError::MinSpare {
                directive: "MinSpareServers",
                value: self.min_spare,
                minimum: nb,
            });
        }
        let max_floor = self.min_spare.saturating_add(nb);
        if self.max_spare < max_floor {
            return Err(ConfigError::MaxSpare {
                directive: "MaxSpareServers",
                value: self.max_spare,
                minimum: max_floor,
            });
        }
        Ok(())
    }

    fn validate_threaded(&self) -> Result<(), ConfigError> {
        let nb = self.num_buckets;
        let tpc = self.threads_per_child;
        let mrw = self.max_request_workers;
        if mrw < tpc || mrw % tpc != 0 {
            return Err(ConfigError::MaxRequestWorkers {
                value: mrw,
                reason: format!(
                    "must be a non-zero multiple of ThreadsPerChild ({tpc}); httpd raises it to ThreadsPerChild or rounds it down"
                ),
            });
        }
        let expected = (mrw / tpc).min(self.server_limit).max(nb);
        if self.daemons_limit != expected {
            return Err(ConfigError::DaemonsLimit {
                found: self.daemons_limit,
                expected,
            });
        }
        if self.daemons_limit > self.server_limit {
            return Err(ConfigError::MaxRequestWorkers {
                value: mrw,
                reason: format!(
                    "num_buckets ({nb}) exceeds ServerLimit ({}); every bucket needs a process slot",
                    self.server_limit
                ),
            });
        }
        let min_floor = u64::from(tpc) * u64::from(nb - 1) + u64::from(nb);
        if u64::from(self.min_spare) < min_floor {
            return Err(ConfigError::MinSpare {
                directive: "MinSpareThreads",
                value: self.min_spare,
                minimum: u32::try_from(min_floor).unwrap_or(u32::MAX),
            });
        }
        let max_floor = u64::from(self.min_spare) + (u64::from(tpc) + 1) * u64::from(nb);
        if u64::from(self.max_spare) < max_floor {
            return Err(ConfigError::MaxSpare {
                directive: "MaxSpareThreads",
                value: self.max_spare,
                minimum: u32::try_from(max_floor).unwrap_or(u32::MAX),
            });
        }
        Ok(())
    }

    /// Checks that `new` (a config re-read at restart) keeps the values httpd
    /// fixes for the master process's lifetime.
    pub fn check_restart_compatible(&self, new: &PoolConfig) -> Result<(), ConfigError> {
        fn fixed<T: PartialEq + std::fmt::Debug>(
            field: &'static str,
            old: T,
            new: T,
        ) -> Result<(), ConfigError> {
            if old == new {
                Ok(())
            } else {
                Err(ConfigError::FixedForLifetime {
                    field,
                    old: format!("{old:?}"),
                    new: format!("{new:?}"),
                })
            }
        }
        fixed("MPM", self.mpm, new.mpm)?;
        fixed("ServerLimit", self.server_limit, new.server_limit)?;
        fixed("ThreadLimit", self.thread_limit, new.thread_limit)?;
        fixed("num_buckets", self.num_buckets, new.num_buckets)
    }

    /// How far start-up looks for free slots and how many children it may
    /// start: prefork MaxRequestWorkers, worker/event daemons_limit.
    pub fn start_limit(&self) -> u32 {
        match self.mpm {
            Mpm::Prefork => self.max_request_workers,
            Mpm::Worker | Mpm::Event => self.daemons_limit,
        }
    }

    /// `min(StartServers, limit)`: children forked at start-up (§3.1.7, §3.2.15).
    pub fn children_to_start(&self) -> u32 {
        self.start_servers.min(self.start_limit())
    }

    /// Spawn-rate ceiling for one bucket as 2.4.x computes it: 32 for
    /// prefork, the truncating `32 / nb` for worker/event (may be 0 with more
    /// than 32 buckets, which httpd does not guard against).
    pub fn spawn_rate_cap(&self) -> u32 {
        match self.mpm {
            Mpm::Prefork => MAX_SPAWN_RATE,
            Mpm::Worker | Mpm::Event => MAX_SPAWN_RATE / self.num_buckets.max(1),
        }
    }

    /// Threads that can serve at once: `daemons_limit × threads_per_child`
    /// (for worker/event possibly fewer than a stale MaxRequestWorkers).
    pub fn max_threads(&self) -> u32 {
        self.daemons_limit.saturating_mul(self.threads_per_child)
    }

    /// The config httpd would run with for these directive values: the
    /// result of [`adjust`] without the list of adjustments.
    pub fn from_directives(mpm: Mpm, directives: &MpmDirectives) -> PoolConfig {
        adjust(mpm, directives).pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(
        start: i64,
        min: i64,
        max: i64,
        tpc: i64,
        mrw: i64,
        server_limit: Option<i64>,
    ) -> PoolConfig {
        PoolConfig::from_directives(
            Mpm::Worker,
            &MpmDirectives {
                start_servers: Some(start),
                min_spare_threads: Some(min),
                max_spare_threads: Some(max),
                threads_per_child: Some(tpc),
                max_request_workers: Some(mrw),
                server_limit,
                ..MpmDirectives::default()
            },
        )
    }

    #[test]
    fn defaults_match_reference_table() {
        let prefork = PoolConfig::from_directives(Mpm::Prefork, &MpmDirectives::default());
        assert_eq!(
            (prefork.start_servers, prefork.min_spare, prefork.max_spare),
            (5, 5, 10)
        );
        assert_eq!(
            (prefork.server_limit, prefork.max_request_workers),
            (256, 256)
        );
        let event = PoolConfig::from_directives(Mpm::Event, &MpmDirectives::default());
        assert_eq!(
            (event.start_servers, event.min_spare, event.max_spare),
            (3, 75, 250)
        );
        assert_eq!(
            (
                event.threads_per_child,
                event.thread_limit,
                event.server_limit
            ),
            (25, 64, 16)
        );
        assert_eq!((event.max_request_workers, event.daemons_limit), (400, 16));
        prefork.validate().unwrap_or_else(|e| panic!("{e}"));
        event.validate().unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn max_spare_floor_is_min_plus_tpc_plus_one() {
        let config = worker(2, 25, 50, 25, 150, None);
        assert_eq!(config.max_spare, 51);
        assert_eq!(config.daemons_limit, 6);
    }

    #[test]
    fn mrw_rounds_down_and_stays_stale_when_server_limit_caps() {
        let rounded = worker(3, 75, 250, 25, 410, None);
        assert_eq!(rounded.max_request_workers, 400);
        let capped = worker(3, 75, 250, 25, 400, Some(4));
        assert_eq!(capped.daemons_limit, 4);
        assert_eq!(
            capped.max_request_workers, 400,
            "MRW is not lowered (§3.2 step 9)"
        );
        assert_eq!(capped.validate(), Ok(()));
    }

    #[test]
    fn validate_rejects_unadjusted_values() {
        let mut config = worker(2, 25, 75, 25, 150, None);
        config.max_spare = 50;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::MaxSpare { minimum: 51, .. })
        ));
        let mut config = worker(2, 25, 75, 25, 150, None);
        config.daemons_limit = 7;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::DaemonsLimit { expected: 6, .. })
        ));
        let mut config = worker(2, 25, 75, 25, 150, None);
        config.max_request_workers = 160;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::MaxRequestWorkers { .. })
        ));
        let mut prefork = PoolConfig::from_directives(Mpm::Prefork, &MpmDirectives::default());
        prefork.threads_per_child = 2;
        assert!(prefork.validate().is_err());
        let mut zero = prefork.clone();
        zero.threads_per_child = 1;
        zero.num_buckets = 0;
        assert_eq!(zero.validate(), Err(ConfigError::NoBuckets));
    }

    #[test]
    fn restart_may_not_change_fixed_values() {
        let old = worker(2, 25, 75, 25, 150, None);
        let mut new = old.clone();
        new.start_servers = 4;
        assert_eq!(old.check_restart_compatible(&new), Ok(()));
        new.server_limit = 32;
        assert!(matches!(
            old.check_restart_compatible(&new),
            Err(ConfigError::FixedForLifetime {
                field: "ServerLimit",
                ..
            })
        ));
    }
}
