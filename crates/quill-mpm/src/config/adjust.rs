//! From directive values as written to the [`PoolConfig`] httpd runs with:
//! httpd 2.4's defaults, start-up checks and silent adjustments, in exactly
//! the order of reference/apache-mpm.md §2–3.
//!
//! ```text
//!   MpmDirectives ──▶ adjust(mpm, ·) ──▶ AdjustedMpm { pool: PoolConfig, …,
//!   (atoi'd values,                                    adjustments: [Adjustment] }
//!    None = default)                                        │
//!                                  quill-config: one diagnostic each
//! ```
//!
//! [`adjust`] is the only implementation of that arithmetic in Quill. Every
//! change it makes is returned as an [`Adjustment`] quoting Apache's own
//! warning (or saying that httpd changes it silently), so the config crate
//! can point at the line responsible; [`PoolConfig::from_directives`] keeps
//! only the result.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Mpm, PoolConfig};

/// Raw MPM directive values as written in httpd.conf (`None` = absent, use
/// httpd's compiled-in default), plus the one machine fact they depend on.
/// Values are what C `atoi` would produce (httpd stores `int`s).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MpmDirectives {
    /// `StartServers`
    pub start_servers: Option<i64>,
    /// `MinSpareServers` (prefork only)
    pub min_spare_servers: Option<i64>,
    /// `MaxSpareServers` (prefork only)
    pub max_spare_servers: Option<i64>,
    /// `MinSpareThreads` (worker/event only)
    pub min_spare_threads: Option<i64>,
    /// `MaxSpareThreads` (worker/event only)
    pub max_spare_threads: Option<i64>,
    /// `ThreadsPerChild` (worker/event only)
    pub threads_per_child: Option<i64>,
    /// `ThreadLimit` (worker/event only)
    pub thread_limit: Option<i64>,
    /// `ServerLimit`
    pub server_limit: Option<i64>,
    /// `MaxRequestWorkers` / `MaxClients`
    pub max_request_workers: Option<i64>,
    /// `MaxConnectionsPerChild` / `MaxRequestsPerChild`
    pub max_connections_per_child: Option<i64>,
    /// `GracefulShutdownTimeout` in seconds
    pub graceful_shutdown_timeout: Option<i64>,
    /// `ListenBacklog` (httpd rejects values below 1 while parsing; that
    /// check is the config reader's)
    pub listen_backlog: Option<i64>,
    /// `ListenCoresBucketsRatio`; 0 or absent = one listener bucket.
    pub listen_cores_buckets_ratio: Option<i64>,
    /// `AsyncRequestWorkerFactor` (event only) the way httpd stores it:
    /// `factor16 = trunc(value × 16)` (reference §2.3).
    pub async_factor16: Option<i64>,
    /// Not a directive: the online CPU cores ListenCoresBucketsRatio divides
    /// (ignored while the ratio is 0).
    pub online_cores: u32,
}

/// Which directive an [`Adjustment`] is about (for locating it in the files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Knob {
    /// `StartServers`
    StartServers,
    /// `MinSpareServers` (prefork) or `MinSpareThreads` (worker/event)
    MinSpare,
    /// `MaxSpareServers` (prefork) or `MaxSpareThreads` (worker/event)
    MaxSpare,
    /// `ThreadsPerChild`
    ThreadsPerChild,
    /// `ThreadLimit`
    ThreadLimit,
    /// `ServerLimit`
    ServerLimit,
    /// `MaxRequestWorkers`, or for worker/event the child limit derived from it
    MaxRequestWorkers,
}

impl Knob {
    /// The directive's name under `mpm`.
    pub fn directive(self, mpm: Mpm) -> &'static str {
        match (self, mpm) {
            (Knob::StartServers, _) => "StartServers",
            (Knob::MinSpare, Mpm::Prefork) => "MinSpareServers",
            (Knob::MaxSpare, Mpm::Prefork) => "MaxSpareServers",
            (Knob::MinSpare, _) => "MinSpareThreads",
            (Knob::MaxSpare, _) => "MaxSpareThreads",
            (Knob::ThreadsPerChild, _) => "ThreadsPerChild",
            (Knob::ThreadLimit, _) => "ThreadLimit",
            (Knob::ServerLimit, _) => "ServerLimit",
            (Knob::MaxRequestWorkers, _) => "MaxRequestWorkers",
        }
    }
}

/// One change httpd makes to what was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjustment {
    /// The directive concerned.
    pub knob: Knob,
    /// Stable id, e.g. `mpm/mrw-not-multiple`.
    pub code: &'static str,
    /// The value before the change.
    pub before: i64,
    /// The value after it.
    pub after: i64,
    /// Apache's message (the long `WARNING:` form printed at start-up), or
    /// `None` for the silent run-time adjustments.
    pub apache: Option<String>,
    /// What changed, in plain words.
    pub plain: String,
}

/// What [`adjust`] returns: the controller's input, the few MPM values the
/// controller does not use, and every change made on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdjustedMpm {
    /// The final values the controller runs with.
    pub pool: PoolConfig,
    /// `ListenBacklog` (default 511).
    pub listen_backlog: u32,
    /// `ListenCoresBucketsRatio` as given (0 = disabled); the resulting
    /// bucket count is `pool.num_buckets`.
    pub listen_cores_buckets_ratio: u32,
    /// event only: the integer AsyncRequestWorkerFactor httpd really uses
    /// (`factor16 / 16`, at least 1; default 2); `None` for prefork/worker.
    pub async_request_worker_factor: Option<u32>,
    /// Every change httpd makes to the values as written, in httpd's order.
    pub adjustments: Vec<Adjustment>,
}

fn clamp_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn clamp_i32(v: i64) -> i32 {
    i32::try_from(v.clamp(i64::from(i32::MIN), i64::from(i32::MAX))).unwrap_or(0)
}

/// Applies httpd's defaults and adjustments (reference §2.1, §3.1, §3.2) to
/// the directive values as written.
pub fn adjust(mpm: Mpm, directives: &MpmDirectives) -> AdjustedMpm {
    let raw = directives;
    let mut adj = Vec::new();
    let ratio = raw.listen_cores_buckets_ratio.unwrap_or(0);
    let nb: i64 = if ratio > 0 {
        let val = i64::from(raw.online_cores) / ratio;
        if val > 1 { val } else { 1 }
    } else {
        1
    };
    let listen_backlog = clamp_u32(raw.listen_backlog.unwrap_or(511));
    let max_connections_per_child = clamp_i32(raw.max_connections_per_child.unwrap_or(0));
    let graceful_shutdown_timeout = Duration::from_secs(u64::from(clamp_u32(
        raw.graceful_shutdown_timeout.unwrap_or(0),
    )));
    let max_server_limit = i64::from(mpm.max_server_limit());
    let pool = match mpm {
        Mpm::Prefork => {
            let mut server_limit = raw.server_limit.unwrap_or(256);
            let mut mrw = raw.max_request_workers.unwrap_or(256);
            let mut start = raw.start_servers.unwrap_or(5);
            let mut min_spare = raw.min_spare_servers.unwrap_or(5);
            let mut max_spare = raw.max_spare_servers.unwrap_or(10);
            server_limit_checks(&mut adj, &mut server_limit, max_server_limit);
            if mrw > server_limit {
                adj.push(Adjustment {
                    knob: Knob::MaxRequestWorkers,
                    code: "mpm/mrw-above-server-limit",
                    before: mrw,
                    after: server_limit,
                    apache: Some(format!(
                        "WARNING: MaxRequestWorkers of {mrw} exceeds ServerLimit value of {server_limit} servers, decreasing MaxRequestWorkers to {server_limit}. To increase, please see the ServerLimit directive."
                    )),
                    plain: format!("MaxRequestWorkers lowered from {mrw} to ServerLimit ({server_limit}): prefork serves one request per child"),
                });
                mrw = server_limit;
            }
            if mrw < 1 {
                adj.push(raise_to_one(
                    Knob::MaxRequestWorkers,
                    "mpm/mrw-below-one",
                    mrw,
                    format!("WARNING: MaxRequestWorkers of {mrw} not allowed, increasing to 1."),
                ));
                mrw = 1;
            }
            if start < 1 {
                adj.push(raise_to_one(
                    Knob::StartServers,
                    "mpm/start-servers-below-one",
                    start,
                    format!("WARNING: StartServers of {start} not allowed, increasing to 1."),
                ));
                start = 1;
            }
            if min_spare < 1 {
                adj.push(raise_to_one(Knob::MinSpare, "mpm/min-spare-below-one", min_spare, format!(
                    "WARNING: MinSpareServers of {min_spare} not allowed, increasing to 1 to avoid almost certain server failure. Please read the documentation."
                )));
                min_spare = 1;
            }
            // Silent run-time adjustments (prefork_run).
            silent(
                &mut adj,
                Knob::MaxRequestWorkers,
                "mpm/raised-to-buckets",
                &mut mrw,
                nb,
                "MaxRequestWorkers raised to the number of listener buckets",
            );
            silent(
                &mut adj,
                Knob::StartServers,
                "mpm/raised-to-buckets",
                &mut start,
                nb,
                "StartServers raised to the number of listener buckets",
            );
            silent(
                &mut adj,
                Knob::MinSpare,
                "mpm/raised-to-buckets",
                &mut min_spare,
                nb,
                "MinSpareServers raised to the number of listener buckets",
            );
            let floor = min_spare.saturating_add(nb);
            if max_spare < floor {
                adj.push(Adjustment {
                    knob: Knob::MaxSpare,
                    code: "mpm/max-spare-raised",
                    before: max_spare,
                    after: floor,
                    apache: None,
                    plain: format!(
                        "MaxSpareServers raised silently from {max_spare} to MinSpareServers + {nb} = {floor}, so that a spawn is never followed at once by a kill"
                    ),
                });
                max_spare = floor;
            }
            // prefork has no daemons_limit: MaxRequestWorkers is its scan limit.
            PoolConfig {
                mpm,
                start_servers: clamp_u32(start),
                min_spare: clamp_u32(min_spare),
                max_spare: clamp_u32(max_spare),
                threads_per_child: 1,
                thread_limit: 1,
                server_limit: clamp_u32(server_limit),
                daemons_limit: clamp_u32(mrw),
                max_request_workers: clamp_u32(mrw),
                max_connections_per_child,
                num_buckets: clamp_u32(nb),
                graceful_shutdown_timeout,
            }
        }
        Mpm::Worker | Mpm::Event => {
            let max_thread_limit = i64::from(mpm.max_thread_limit());
            let mut server_limit = raw.server_limit.unwrap_or(16);
            let mut thread_limit = raw.thread_limit.unwrap_or(64);
            let mut tpc = raw.threads_per_child.unwrap_or(25);
            let mut mrw = raw.max_request_workers.unwrap_or(400);
            let mut start = raw.start_servers.unwrap_or(3);
            let mut min_spare = raw.min_spare_threads.unwrap_or(75);
            let mut max_spare = raw.max_spare_threads.unwrap_or(250);
            server_limit_checks(&mut adj, &mut server_limit, max_server_limit);
            if thread_limit > max_thread_limit {
                adj.push(Adjustment {
                    knob: Knob::ThreadLimit,
                    code: "mpm/thread-limit-above-compile-limit",
                    before: thread_limit,
                    after: max_thread_limit,
                    apache: Some(format!(
                        "WARNING: ThreadLimit of {thread_limit} exceeds compile-time limit of {max_thread_limit} threads, decreasing to {max_thread_limit}."
                    )),
                    plain: format!("ThreadLimit lowered from {thread_limit} to the compiled-in maximum {max_thread_limit}"),
                });
                thread_limit = max_thread_limit;
            } else if thread_limit < 1 {
                adj.push(raise_to_one(
                    Knob::ThreadLimit,
                    "mpm/thread-limit-below-one",
                    thread_limit,
                    format!("WARNING: ThreadLimit of {thread_limit} not allowed, increasing to 1."),
                ));
                thread_limit = 1;
            }
            if tpc > thread_limit {
                adj.push(Adjustment {
                    knob: Knob::ThreadsPerChild,
                    code: "mpm/tpc-above-thread-limit",
                    before: tpc,
                    after: thread_limit,
                    apache: Some(format!(
                        "WARNING: ThreadsPerChild of {tpc} exceeds ThreadLimit of {thread_limit} threads, decreasing to {thread_limit}. To increase, please see the ThreadLimit directive."
                    )),
                    plain: format!("ThreadsPerChild lowered from {tpc} to ThreadLimit ({thread_limit})"),
                });
                tpc = thread_limit;
            } else if tpc < 1 {
                adj.push(raise_to_one(
                    Knob::ThreadsPerChild,
                    "mpm/tpc-below-one",
                    tpc,
                    format!("WARNING: ThreadsPerChild of {tpc} not allowed, increasing to 1."),
                ));
                tpc = 1;
            }
            if mrw < tpc {
                adj.push(Adjustment {
                    knob: Knob::MaxRequestWorkers,
                    code: "mpm/mrw-below-tpc",
                    before: mrw,
                    after: tpc,
                    apache: Some(format!(
                        "WARNING: MaxRequestWorkers of {mrw} is less than ThreadsPerChild of {tpc}, increasing to {tpc}. MaxRequestWorkers must be at least as large as the number of threads in a single server."
                    )),
                    plain: format!("MaxRequestWorkers raised from {mrw} to ThreadsPerChild ({tpc}): one child is the smallest unit"),
                });
                mrw = tpc;
            }
            let mut daemons_limit = mrw / tpc;
            if mrw % tpc != 0 {
                let rounded = daemons_limit * tpc;
                adj.push(Adjustment {
                    knob: Knob::MaxRequestWorkers,
                    code: "mpm/mrw-not-multiple",
                    before: mrw,
                    after: rounded,
                    apache: Some(format!(
                        "WARNING: MaxRequestWorkers of {mrw} is not an integer multiple of ThreadsPerChild of {tpc}, decreasing to nearest multiple {rounded}, for a maximum of {daemons_limit} servers."
                    )),
                    plain: format!("MaxRequestWorkers rounded down from {mrw} to {rounded} ({daemons_limit} children × {tpc} threads)"),
                });
                mrw = rounded;
            }
            if daemons_limit > server_limit {
                let cap = server_limit * tpc;
                adj.push(Adjustment {
                    knob: Knob::MaxRequestWorkers,
                    code: "mpm/mrw-above-server-limit",
                    before: daemons_limit,
                    after: server_limit,
                    apache: Some(format!(
                        "WARNING: MaxRequestWorkers of {mrw} would require {daemons_limit} servers and would exceed ServerLimit of {server_limit}, decreasing to {cap}. To increase, please see the ServerLimit directive."
                    )),
                    plain: format!(
                        "at most {server_limit} children (ServerLimit) instead of the {daemons_limit} MaxRequestWorkers asks for, so {cap} threads, not {mrw}; httpd keeps MaxRequestWorkers at {mrw} internally and will log `scoreboard is full, not at MaxRequestWorkers` every second at full load"
                    ),
                });
                // §3.2 step 9: only daemons_limit is capped; MRW stays stale.
                daemons_limit = server_limit;
            }
            if start < 1 {
                adj.push(raise_to_one(
                    Knob::StartServers,
                    "mpm/start-servers-below-one",
                    start,
                    format!("WARNING: StartServers of {start} not allowed, increasing to 1."),
                ));
                start = 1;
            }
            if min_spare < 1 {
                adj.push(raise_to_one(Knob::MinSpare, "mpm/min-spare-below-one", min_spare, format!(
                    "WARNING: MinSpareThreads of {min_spare} not allowed, increasing to 1 to avoid almost certain server failure. Please read the documentation."
                )));
                min_spare = 1;
            }
            // Silent run-time adjustments (worker_run / event_run).
            if daemons_limit < nb {
                adj.push(Adjustment {
                    knob: Knob::MaxRequestWorkers,
                    code: "mpm/raised-to-buckets",
                    before: daemons_limit,
                    after: nb,
                    apache: None,
                    plain: format!(
                        "the child limit raised from {daemons_limit} to the {nb} listener buckets"
                    ),
                });
                daemons_limit = nb;
            }
            silent(
                &mut adj,
                Knob::StartServers,
                "mpm/raised-to-buckets",
                &mut start,
                nb,
                "StartServers raised to the number of listener buckets",
            );
            let min_floor = tpc * (nb - 1) + nb;
            if min_spare < min_floor {
                adj.push(Adjustment {
                    knob: Knob::MinSpare,
                    code: "mpm/min-spare-raised",
                    before: min_spare,
                    after: min_floor,
                    apache: None,
                    plain: format!("MinSpareThreads raised silently from {min_spare} to {min_floor} (ThreadsPerChild × (buckets − 1) + buckets)"),
                });
                min_spare = min_floor;
            }
            let max_floor = min_spare.saturating_add((tpc + 1) * nb);
            if max_spare < max_floor {
                adj.push(Adjustment {
                    knob: Knob::MaxSpare,
                    code: "mpm/max-spare-raised",
                    before: max_spare,
                    after: max_floor,
                    apache: None,
                    plain: format!(
                        "MaxSpareThreads raised silently from {max_spare} to {max_floor} = MinSpareThreads {min_spare} + (ThreadsPerChild {tpc} + 1) × {nb} bucket(s) — one more than the documented MinSpareThreads + ThreadsPerChild"
                    ),
                });
                max_spare = max_floor;
            }
            PoolConfig {
                mpm,
                start_servers: clamp_u32(start),
                min_spare: clamp_u32(min_spare),
                max_spare: clamp_u32(max_spare),
                threads_per_child: clamp_u32(tpc),
                thread_limit: clamp_u32(thread_limit),
                server_limit: clamp_u32(server_limit),
                daemons_limit: clamp_u32(daemons_limit),
                max_request_workers: clamp_u32(mrw),
                max_connections_per_child,
                num_buckets: clamp_u32(nb),
                graceful_shutdown_timeout,
            }
        }
    };
    let async_request_worker_factor = (mpm == Mpm::Event).then(|| {
        raw.async_factor16
            .map_or(2, |factor16| clamp_u32(factor16.max(16) / 16))
    });
    AdjustedMpm {
        pool,
        listen_backlog,
        listen_cores_buckets_ratio: clamp_u32(ratio),
        async_request_worker_factor,
        adjustments: adj,
    }
}

fn server_limit_checks(adj: &mut Vec<Adjustment>, server_limit: &mut i64, cap: i64) {
    let v = *server_limit;
    if v > cap {
        adj.push(Adjustment {
            knob: Knob::ServerLimit,
            code: "mpm/server-limit-above-compile-limit",
            before: v,
            after: cap,
            apache: Some(format!("WARNING: ServerLimit of {v} exceeds compile-time limit of {cap} servers, decreasing to {cap}.")),
            plain: format!("ServerLimit lowered from {v} to the compiled-in maximum {cap}"),
        });
        *server_limit = cap;
    } else if v < 1 {
        adj.push(raise_to_one(
            Knob::ServerLimit,
            "mpm/server-limit-below-one",
            v,
            format!("WARNING: ServerLimit of {v} not allowed, increasing to 1."),
        ));
        *server_limit = 1;
    }
}

fn raise_to_one(knob: Knob, code: &'static str, before: i64, apache: String) -> Adjustment {
    Adjustment {
        knob,
        code,
        before,
        after: 1,
        apache: Some(apache),
        plain: format!("raised from {before} to 1"),
    }
}

fn silent(
    adj: &mut Vec<Adjustment>,
    knob: Knob,
    code: &'static str,
    v: &mut i64,
    nb: i64,
    what: &str,
) {
    if *v < nb {
        adj.push(Adjustment {
            knob,
            code,
            before: *v,
            after: nb,
            apache: None,
            plain: format!("{what}: {} → {nb}", *v),
        });
        *v = nb;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cores(mpm: Mpm, directives: MpmDirectives, online_cores: u32) -> AdjustedMpm {
        adjust(
            mpm,
            &MpmDirectives {
                online_cores,
                ..directives
            },
        )
    }

    fn worker(directives: MpmDirectives) -> (PoolConfig, Vec<Adjustment>) {
        let adjusted = with_cores(Mpm::Worker, directives, 2);
        (adjusted.pool, adjusted.adjustments)
    }

    #[test]
    fn shipped_defaults() {
        let (s, adj) = worker(MpmDirectives::default());
        assert!(adj.is_empty(), "{adj:?}");
        assert_eq!(
            (
                s.start_servers,
                s.min_spare,
                s.max_spare,
                s.threads_per_child
            ),
            (3, 75, 250, 25)
        );
        assert_eq!(
            (s.server_limit, s.max_request_workers, s.daemons_limit),
            (16, 400, 16)
        );
        let p = with_cores(Mpm::Prefork, MpmDirectives::default(), 2);
        assert!(p.adjustments.is_empty());
        let p = p.pool;
        assert_eq!(
            (
                p.start_servers,
                p.min_spare,
                p.max_spare,
                p.max_request_workers
            ),
            (5, 5, 10, 256)
        );
        let e = with_cores(Mpm::Event, MpmDirectives::default(), 2);
        assert_eq!(e.async_request_worker_factor, Some(2));
    }

    #[test]
    fn default_mrw_does_not_follow_tpc() {
        // Only ThreadsPerChild 50: MRW stays 400 → 8 children.
        let (s, _) = worker(MpmDirectives {
            threads_per_child: Some(50),
            ..Default::default()
        });
        assert_eq!((s.max_request_workers, s.daemons_limit), (400, 8));
    }

    #[test]
    fn mrw_rounds_down_to_a_multiple() {
        let (s, adj) = worker(MpmDirectives {
            max_request_workers: Some(160),
            ..Default::default()
        });
        assert_eq!((s.max_request_workers, s.daemons_limit), (150, 6));
        assert_eq!(adj[0].code, "mpm/mrw-not-multiple");
        assert_eq!(
            adj[0].apache.as_deref(),
            Some(
                "WARNING: MaxRequestWorkers of 160 is not an integer multiple of ThreadsPerChild of 25, decreasing to nearest multiple 150, for a maximum of 6 servers."
            )
        );
    }

    #[test]
    fn server_limit_caps_children_but_leaves_mrw_stale() {
        let (s, adj) = worker(MpmDirectives {
            max_request_workers: Some(1000),
            ..Default::default()
        });
        assert_eq!(
            (s.max_request_workers, s.daemons_limit, s.max_threads()),
            (1000, 16, 400)
        );
        assert_eq!(adj.len(), 1);
        assert!(adj[0].apache.as_deref().unwrap().contains(
            "would require 40 servers and would exceed ServerLimit of 16, decreasing to 400"
        ));
    }

    #[test]
    fn max_spare_floor_is_min_plus_tpc_plus_one() {
        let (s, adj) = worker(MpmDirectives {
            min_spare_threads: Some(25),
            max_spare_threads: Some(50),
            ..Default::default()
        });
        assert_eq!(s.max_spare, 51);
        assert_eq!(adj[0].code, "mpm/max-spare-raised");
        assert!(adj[0].apache.is_none());
    }

    #[test]
    fn prefork_max_spare_floor_and_mrw_cap() {
        let raw = MpmDirectives {
            min_spare_servers: Some(10),
            max_spare_servers: Some(10),
            max_request_workers: Some(300),
            ..Default::default()
        };
        let adjusted = with_cores(Mpm::Prefork, raw, 2);
        let (s, adj) = (adjusted.pool, adjusted.adjustments);
        assert_eq!((s.max_spare, s.max_request_workers), (11, 256));
        let codes: Vec<_> = adj.iter().map(|a| a.code).collect();
        assert_eq!(
            codes,
            ["mpm/mrw-above-server-limit", "mpm/max-spare-raised"]
        );
    }

    #[test]
    fn zeros_are_raised_with_apaches_words() {
        let raw = MpmDirectives {
            start_servers: Some(0),
            threads_per_child: Some(0),
            min_spare_threads: Some(0),
            ..Default::default()
        };
        let (s, adj) = worker(raw);
        assert_eq!((s.start_servers, s.threads_per_child), (1, 1));
        // MinSpareThreads 0 → 1 (check_config), then MaxSpare floor 1+2.
        assert_eq!(s.min_spare, 1);
        let texts: Vec<_> = adj.iter().filter_map(|a| a.apache.clone()).collect();
        assert!(
            texts.contains(
                &"WARNING: ThreadsPerChild of 0 not allowed, increasing to 1.".to_string()
            )
        );
        assert!(
            texts.contains(&"WARNING: StartServers of 0 not allowed, increasing to 1.".to_string())
        );
    }

    #[test]
    fn buckets_from_cores_ratio() {
        let raw = MpmDirectives {
            listen_cores_buckets_ratio: Some(2),
            ..Default::default()
        };
        let s = with_cores(Mpm::Worker, raw.clone(), 8).pool;
        assert_eq!(s.num_buckets, 4);
        // MinSpare ≥ 25×3+4 = 79; MaxSpare ≥ 79 + 26×4 = 183 (250 already above).
        assert_eq!((s.min_spare, s.max_spare), (79, 250));
        let s = with_cores(Mpm::Worker, raw, 2).pool;
        assert_eq!(s.num_buckets, 1);
    }

    #[test]
    fn async_factor_fraction_is_dropped() {
        let raw = MpmDirectives {
            async_factor16: Some(24),
            ..Default::default()
        }; // 1.5
        let s = with_cores(Mpm::Event, raw, 2);
        assert_eq!(s.async_request_worker_factor, Some(1));
    }

    #[test]
    fn hostile_values_saturate_instead_of_overflowing() {
        for mpm in [Mpm::Prefork, Mpm::Worker, Mpm::Event] {
            let adjusted = adjust(
                mpm,
                &MpmDirectives {
                    start_servers: Some(i64::MAX),
                    min_spare_servers: Some(i64::MAX),
                    min_spare_threads: Some(i64::MAX),
                    max_spare_servers: Some(i64::MIN),
                    max_spare_threads: Some(i64::MIN),
                    listen_cores_buckets_ratio: Some(1),
                    online_cores: u32::MAX,
                    ..MpmDirectives::default()
                },
            );
            assert_eq!(adjusted.pool.max_spare, u32::MAX, "{mpm:?}");
        }
    }
}
