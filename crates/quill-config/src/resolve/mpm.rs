//! MPM settings: httpd 2.4's defaults, start-up checks and silent
//! adjustments, in exactly the order of reference/apache-mpm.md §2–3.
//!
//! [`adjust`] is a pure function of the values as written; every change it
//! makes is returned as an [`Adjustment`] quoting Apache's own warning.

use crate::model::{MpmKind, MpmSettings, MpmSource};

/// Compile-time caps of httpd 2.4.
pub const PREFORK_MAX_SERVER_LIMIT: i64 = 200_000;
pub const THREADED_MAX_SERVER_LIMIT: i64 = 20_000;
pub const WORKER_MAX_THREAD_LIMIT: i64 = 20_000;
pub const EVENT_MAX_THREAD_LIMIT: i64 = 100_000;

/// MPM directive values as written (already through C `atoi`); `None` when
/// the directive is absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawMpm {
    pub start_servers: Option<i64>,
    pub min_spare_servers: Option<i64>,
    pub max_spare_servers: Option<i64>,
    pub min_spare_threads: Option<i64>,
    pub max_spare_threads: Option<i64>,
    pub threads_per_child: Option<i64>,
    pub thread_limit: Option<i64>,
    pub server_limit: Option<i64>,
    pub max_request_workers: Option<i64>,
    pub max_connections_per_child: Option<i64>,
    pub listen_backlog: Option<i64>,
    pub listen_cores_buckets_ratio: Option<i64>,
    /// `factor16` = trunc(value × 16) as httpd stores it.
    pub async_factor16: Option<i64>,
    pub graceful_shutdown_timeout: Option<i64>,
}

/// Which directive an adjustment is about (for locating it in the files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    StartServers,
    MinSpare,
    MaxSpare,
    ThreadsPerChild,
    ThreadLimit,
    ServerLimit,
    MaxRequestWorkers,
}

impl Knob {
    pub fn directive(self, mpm: MpmKind) -> &'static str {
        match (self, mpm) {
            (Knob::StartServers, _) => "StartServers",
            (Knob::MinSpare, MpmKind::Prefork) => "MinSpareServers",
            (Knob::MaxSpare, MpmKind::Prefork) => "MaxSpareServers",
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
#[derive(Debug, Clone, PartialEq)]
pub struct Adjustment {
    pub knob: Knob,
    /// Stable id, e.g. `mpm/mrw-not-multiple`.
    pub code: &'static str,
    pub before: i64,
    pub after: i64,
    /// Apache's message (the long `WARNING:` form printed at start-up), or
    /// `None` for the silent run-time adjustments.
    pub apache: Option<String>,
    /// What changed, in plain words.
    pub plain: String,
}

fn clamp_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// Apply httpd's defaults and adjustments. `online_cores` feeds
/// ListenCoresBucketsRatio.
pub fn adjust(
    mpm: MpmKind,
    source: MpmSource,
    raw: &RawMpm,
    online_cores: u32,
) -> (MpmSettings, Vec<Adjustment>) {
    let mut adj = Vec::new();
    let ratio = raw.listen_cores_buckets_ratio.unwrap_or(0);
    let nb: i64 = if ratio > 0 {
        let val = i64::from(online_cores) / ratio;
        if val > 1 { val } else { 1 }
    } else {
        1
    };
    let listen_backlog = raw.listen_backlog.unwrap_or(511);
    let mcpc = raw.max_connections_per_child.unwrap_or(0);
    let gst = raw.graceful_shutdown_timeout.unwrap_or(0);
    let settings = match mpm {
        MpmKind::Prefork => {
            let mut server_limit = raw.server_limit.unwrap_or(256);
            let mut mrw = raw.max_request_workers.unwrap_or(256);
            let mut start = raw.start_servers.unwrap_or(5);
            let mut min_spare = raw.min_spare_servers.unwrap_or(5);
            let mut max_spare = raw.max_spare_servers.unwrap_or(10);
            server_limit_checks(&mut adj, &mut server_limit, PREFORK_MAX_SERVER_LIMIT);
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
            let floor = min_spare + nb;
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
            let mrw_u = clamp_u32(mrw);
            MpmSettings {
                mpm,
                selected_by: source,
                start_servers: clamp_u32(start),
                children_at_start: clamp_u32(start.min(mrw)),
                min_spare: clamp_u32(min_spare),
                max_spare: clamp_u32(max_spare),
                spare_unit: "servers",
                threads_per_child: 1,
                thread_limit: 1,
                server_limit: clamp_u32(server_limit),
                max_request_workers: mrw_u,
                max_children: mrw_u,
                max_threads: mrw_u,
                max_connections_per_child: mcpc,
                listen_backlog: clamp_u32(listen_backlog),
                listen_cores_buckets_ratio: clamp_u32(ratio),
                num_buckets: clamp_u32(nb),
                async_request_worker_factor: None,
                graceful_shutdown_timeout: clamp_u32(gst),
            }
        }
        MpmKind::Worker | MpmKind::Event => {
            let max_thread_limit = if mpm == MpmKind::Event {
                EVENT_MAX_THREAD_LIMIT
            } else {
                WORKER_MAX_THREAD_LIMIT
            };
            let mut server_limit = raw.server_limit.unwrap_or(16);
            let mut thread_limit = raw.thread_limit.unwrap_or(64);
            let mut tpc = raw.threads_per_child.unwrap_or(25);
            let mut mrw = raw.max_request_workers.unwrap_or(400);
            let mut start = raw.start_servers.unwrap_or(3);
            let mut min_spare = raw.min_spare_threads.unwrap_or(75);
            let mut max_spare = raw.max_spare_threads.unwrap_or(250);
            server_limit_checks(&mut adj, &mut server_limit, THREADED_MAX_SERVER_LIMIT);
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
            let max_floor = min_spare + (tpc + 1) * nb;
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
            let factor = raw.async_factor16.map(|f16| clamp_u32(f16.max(16) / 16));
            MpmSettings {
                mpm,
                selected_by: source,
                start_servers: clamp_u32(start),
                children_at_start: clamp_u32(start.min(daemons_limit)),
                min_spare: clamp_u32(min_spare),
                max_spare: clamp_u32(max_spare),
                spare_unit: "threads",
                threads_per_child: clamp_u32(tpc),
                thread_limit: clamp_u32(thread_limit),
                server_limit: clamp_u32(server_limit),
                max_request_workers: clamp_u32(mrw),
                max_children: clamp_u32(daemons_limit),
                max_threads: clamp_u32(daemons_limit * tpc),
                max_connections_per_child: mcpc,
                listen_backlog: clamp_u32(listen_backlog),
                listen_cores_buckets_ratio: clamp_u32(ratio),
                num_buckets: clamp_u32(nb),
                async_request_worker_factor: if mpm == MpmKind::Event {
                    Some(factor.unwrap_or(2))
                } else {
                    None
                },
                graceful_shutdown_timeout: clamp_u32(gst),
            }
        }
    };
    (settings, adj)
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

/// C `atoi`: optional blanks and sign, then digits; anything else stops
/// it; no digits → 0. Saturates instead of overflowing.
pub fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    // C's atoi returns an int; httpd stores ints.
    let v = if neg { -v } else { v };
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

/// Whether `atoi` read all of `s` (so no warning is needed).
pub fn is_clean_int(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && t.len() <= 10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(raw: RawMpm) -> (MpmSettings, Vec<Adjustment>) {
        adjust(MpmKind::Worker, MpmSource::LoadModule, &raw, 2)
    }

    #[test]
    fn shipped_defaults() {
        let (s, adj) = worker(RawMpm::default());
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
            (s.server_limit, s.max_request_workers, s.max_children),
            (16, 400, 16)
        );
        let (p, adj) = adjust(
            MpmKind::Prefork,
            MpmSource::LoadModule,
            &RawMpm::default(),
            2,
        );
        assert!(adj.is_empty());
        assert_eq!(
            (
                p.start_servers,
                p.min_spare,
                p.max_spare,
                p.max_request_workers
            ),
            (5, 5, 10, 256)
        );
        let (e, _) = adjust(MpmKind::Event, MpmSource::LoadModule, &RawMpm::default(), 2);
        assert_eq!(e.async_request_worker_factor, Some(2));
    }

    #[test]
    fn default_mrw_does_not_follow_tpc() {
        // Only ThreadsPerChild 50: MRW stays 400 → 8 children.
        let (s, _) = worker(RawMpm {
            threads_per_child: Some(50),
            ..Default::default()
        });
        assert_eq!((s.max_request_workers, s.max_children), (400, 8));
    }

    #[test]
    fn mrw_rounds_down_to_a_multiple() {
        let (s, adj) = worker(RawMpm {
            max_request_workers: Some(160),
            ..Default::default()
        });
        assert_eq!((s.max_request_workers, s.max_children), (150, 6));
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
        let (s, adj) = worker(RawMpm {
            max_request_workers: Some(1000),
            ..Default::default()
        });
        assert_eq!(
            (s.max_request_workers, s.max_children, s.max_threads),
            (1000, 16, 400)
        );
        assert_eq!(adj.len(), 1);
        assert!(adj[0].apache.as_deref().unwrap().contains(
            "would require 40 servers and would exceed ServerLimit of 16, decreasing to 400"
        ));
    }

    #[test]
    fn max_spare_floor_is_min_plus_tpc_plus_one() {
        let (s, adj) = worker(RawMpm {
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
        let raw = RawMpm {
            min_spare_servers: Some(10),
            max_spare_servers: Some(10),
            max_request_workers: Some(300),
            ..Default::default()
        };
        let (s, adj) = adjust(MpmKind::Prefork, MpmSource::LoadModule, &raw, 2);
        assert_eq!((s.max_spare, s.max_request_workers), (11, 256));
        let codes: Vec<_> = adj.iter().map(|a| a.code).collect();
        assert_eq!(
            codes,
            ["mpm/mrw-above-server-limit", "mpm/max-spare-raised"]
        );
    }

    #[test]
    fn zeros_are_raised_with_apaches_words() {
        let raw = RawMpm {
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
        let raw = RawMpm {
            listen_cores_buckets_ratio: Some(2),
            ..Default::default()
        };
        let (s, _) = adjust(MpmKind::Worker, MpmSource::LoadModule, &raw, 8);
        assert_eq!(s.num_buckets, 4);
        // MinSpare ≥ 25×3+4 = 79; MaxSpare ≥ 79 + 26×4 = 183 (250 already above).
        assert_eq!((s.min_spare, s.max_spare), (79, 250));
        let (s, _) = adjust(MpmKind::Worker, MpmSource::LoadModule, &raw, 2);
        assert_eq!(s.num_buckets, 1);
    }

    #[test]
    fn async_factor_fraction_is_dropped() {
        let raw = RawMpm {
            async_factor16: Some(24),
            ..Default::default()
        }; // 1.5
        let (s, _) = adjust(MpmKind::Event, MpmSource::LoadModule, &raw, 2);
        assert_eq!(s.async_request_worker_factor, Some(1));
    }

    #[test]
    fn atoi_is_c_atoi() {
        assert_eq!(atoi("42"), 42);
        assert_eq!(atoi("  -7x"), -7);
        assert_eq!(atoi("ten"), 0);
        assert_eq!(atoi("99999999999999"), i64::from(i32::MAX));
        assert!(is_clean_int("25") && !is_clean_int("25k") && !is_clean_int(""));
    }
}
