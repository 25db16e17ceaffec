//! The front end against the daemon tier it delegates to (rule
//! `tier-capacity`): how many concurrent requests each can hold, where
//! queueing, 503 and 504 start, and a MaxRequestWorkers that fits.

use std::collections::BTreeSet;

use quill_config::model::ResolvedConfig;
use quill_config::resolve::Collected;
use quill_config::source::Location;
use quill_config::wsgi::DelegationMode;

use crate::context::MpmFacts;

/// One daemon group requests are delegated to.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCapacity {
    pub name: String,
    pub processes: u32,
    pub threads: u32,
    /// `listen-backlog` (Linux admits one more).
    pub listen_backlog: u32,
    pub queue_timeout_s: u32,
    pub connect_timeout_s: u32,
    pub socket_timeout_s: u64,
    pub at: Location,
}

/// What the front end can do with the daemon tier behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct TierAssessment {
    pub groups: Vec<GroupCapacity>,
    /// Σ processes × threads.
    pub daemon_threads: u32,
    /// Σ (listen-backlog + 1): requests that can wait in the groups' sockets.
    pub backlog: u32,
    /// Front-end threads (what MaxRequestWorkers lets serve at once).
    pub front_threads: u32,
    pub verdict: Verdict,
    /// A MaxRequestWorkers within [daemon threads, daemon threads + backlog]
    /// (a multiple of ThreadsPerChild), when the current one is outside.
    pub proposed_front: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fewer front-end threads than daemon threads.
    FrontTooSmall,
    /// More front-end threads than the daemon threads and backlog can hold.
    FrontTooLarge,
    Balanced,
}

impl TierAssessment {
    /// Front-end threads that can only wait for a daemon thread.
    pub fn waiting_threads(&self) -> u32 {
        self.front_threads.saturating_sub(self.daemon_threads)
    }

    /// Front-end threads whose requests cannot even enter a backlog (503
    /// after connect-timeout).
    pub fn refused_threads(&self) -> u32 {
        self.front_threads
            .saturating_sub(self.daemon_threads.saturating_add(self.backlog))
    }

    /// Concurrency above which requests get 504 from queue-timeout, if
    /// requests take `request_s` seconds and a queue-timeout is set (the
    /// smallest one among the groups).
    pub fn queue_timeout_504_from(&self, request_s: f64) -> Option<u32> {
        let qt = self
            .groups
            .iter()
            .filter(|g| g.queue_timeout_s > 0)
            .map(|g| g.queue_timeout_s)
            .min()?;
        // A request behind k others waits about k / D × request_s.
        let k = (f64::from(qt) / request_s * f64::from(self.daemon_threads)).floor() as u32;
        let at = self.daemon_threads.saturating_add(k);
        (at < self.daemon_threads.saturating_add(self.backlog)).then_some(at.saturating_add(1))
    }

    /// The smallest connect-timeout (how long a refused request retries
    /// before 503).
    pub fn connect_timeout_s(&self) -> u32 {
        self.groups
            .iter()
            .map(|g| g.connect_timeout_s)
            .min()
            .unwrap_or(15)
    }
}

fn round_up(v: u32, step: u32) -> u32 {
    v.div_ceil(step.max(1)).saturating_mul(step.max(1))
}

fn round_down(v: u32, step: u32) -> u32 {
    v / step.max(1) * step.max(1)
}

/// The groups any request can be delegated to: mounts in daemon mode,
/// WSGIProcessGroup directives and WSGIHandlerScript `process-group=`.
/// None without mod_wsgi loaded; a WSGIProcessGroup counts only where
/// something is mounted (a misspelt or removed WSGIScriptAlias leaves a
/// group nothing sends requests to).
pub fn used_groups(config: &ResolvedConfig, named: &NamedGroups) -> Vec<GroupCapacity> {
    if !config.modules.iter().any(|m| m == "wsgi_module") {
        return Vec::new();
    }
    let servers =
        || std::iter::once(&config.main_server).chain(config.vhosts.iter().map(|v| &v.server));
    let mounted = servers().any(|s| !s.wsgi_mounts.is_empty());
    let mut names: BTreeSet<String> = named.handler_scripts.clone();
    if mounted {
        names.extend(named.process_groups.iter().cloned());
    }
    for s in servers() {
        for m in &s.wsgi_mounts {
            if let (DelegationMode::Daemon, Some(g)) =
                (m.process_group.mode, &m.process_group.group)
            {
                names.insert(g.clone());
            }
        }
    }
    config
        .wsgi
        .daemons
        .iter()
        .filter(|d| names.contains(&d.name) && d.threads > 0)
        .map(|d| GroupCapacity {
            name: d.name.clone(),
            processes: d.processes,
            threads: d.threads,
            listen_backlog: d.socket.listen_backlog,
            queue_timeout_s: d.timeouts.queue_timeout_s,
            connect_timeout_s: d.timeouts.connect_timeout_s,
            socket_timeout_s: d.timeouts.effective_socket_timeout_s,
            at: d.at.clone(),
        })
        .collect()
}

/// Assess the tiers (`None` without a daemon tier).
pub fn assess_groups(groups: Vec<GroupCapacity>, mpm: &MpmFacts<'_>) -> Option<TierAssessment> {
    if groups.is_empty() {
        return None;
    }
    let tpc = mpm.tpc();
    let daemon_threads: u32 = groups.iter().fold(0u32, |a, g| {
        a.saturating_add(g.processes.saturating_mul(g.threads))
    });
    let backlog: u32 = groups.iter().fold(0u32, |a, g| {
        a.saturating_add(g.listen_backlog.saturating_add(1))
    });
    let front_threads = u32::try_from(crate::context::knob_value(
        &mpm.pool,
        quill_mpm::Knob::MaxRequestWorkers,
    ))
    .unwrap_or(u32::MAX);
    // Never more than the compile-time limits allow.
    let most = mpm.kind.max_server_limit().saturating_mul(tpc);
    let limit_hi = round_down(daemon_threads.saturating_add(backlog), tpc)
        .max(round_up(daemon_threads, tpc))
        .min(round_down(most, tpc));
    let (verdict, proposed_front) = if front_threads < daemon_threads {
        let want = round_up(daemon_threads.saturating_mul(3).div_ceil(2), tpc).min(limit_hi);
        // At the compile-time limit already: only the daemon side can change.
        (
            Verdict::FrontTooSmall,
            (want > front_threads).then_some(want),
        )
    } else if front_threads > limit_hi {
        (Verdict::FrontTooLarge, Some(limit_hi))
    } else {
        (Verdict::Balanced, None)
    };
    Some(TierAssessment {
        groups,
        daemon_threads,
        backlog,
        front_threads,
        verdict,
        proposed_front,
    })
}

/// Assess the configuration as written.
pub fn assess(
    config: &ResolvedConfig,
    mpm: &MpmFacts<'_>,
    items: &Collected<'_>,
) -> Option<TierAssessment> {
    assess_groups(used_groups(config, &named_groups(items)), mpm)
}

/// Groups named outside the mount model.
#[derive(Debug, Default)]
pub struct NamedGroups {
    /// By `WSGIProcessGroup` (also inside sections).
    pub process_groups: BTreeSet<String>,
    /// By `WSGIHandlerScript … process-group=` (how mod_wsgi-express
    /// delegates).
    pub handler_scripts: BTreeSet<String>,
}

/// Groups named by `WSGIProcessGroup` (also inside sections) and by
/// `WSGIHandlerScript … process-group=`, which the mount model does not
/// cover.
fn named_groups(items: &Collected<'_>) -> NamedGroups {
    let mut out = NamedGroups::default();
    let all = items
        .global
        .iter()
        .chain(items.vhosts.iter().flat_map(|v| v.items.iter()));
    for item in all {
        match item.def.name {
            "WSGIProcessGroup" => {
                if let Some(g) = item.arg(0) {
                    if !g.contains("%{") {
                        out.process_groups.insert(g.to_string());
                    }
                }
            }
            "WSGIHandlerScript" => {
                for a in &item.directive.args {
                    if let Some(g) = a.value.strip_prefix("process-group=") {
                        let g = g.trim_matches(['\'', '"']);
                        if !g.contains("%{") {
                            out.handler_scripts.insert(g.to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use quill_config::fs::MemFs;
    use quill_config::syntax::{ParseOptions, parse_str};
    use quill_config::{ResolveOptions, resolve};
    use quill_sim::engine::{SimEvent, Sink, run};
    use quill_sim::load::parse_load;
    use quill_sim::setup::{SimChoices, sim_config};
    use quill_sim::timeline::SecondRow;

    use crate::rules::testing::{fixture, lint, only};

    struct Nothing;
    impl Sink for Nothing {
        fn second(&mut self, _: &SecondRow) {}
        fn event(&mut self, _: &SimEvent) {}
    }

    /// 503s the simulator counts with `concurrency` clients holding 60 s
    /// requests for 40 s.
    fn simulated_503(text: &str, concurrency: u32) -> u64 {
        let parsed = parse_str(
            Path::new("/etc/httpd/httpd.conf"),
            text,
            &MemFs::new(),
            &ParseOptions::default(),
        );
        let resolved = resolve(&parsed, &ResolveOptions::default());
        let choices = SimChoices {
            duration_us: 40_000_000,
            ..SimChoices::default()
        };
        let (config, _) = sim_config(&resolved.config, &choices).expect("simulates");
        let load = parse_load(&format!(
            "t_s,concurrency,request_ms\n1,{concurrency},60000\n"
        ))
        .expect("load");
        run(&config, &load, &mut Nothing).expect("runs").status_503
    }

    #[test]
    fn the_simulator_agrees_where_503_starts() {
        let text = fixture("tier-capacity", "fires.conf");
        let f = lint(&text);
        let t = only(&f, "tier-capacity");
        let from = t.data["status_503_from"].as_u64().expect("a 503 threshold") as u32;
        assert_eq!(from, 141);
        // Up to the threshold every request finds a daemon thread or a
        // place in the backlog; beyond it some are refused for 15 s, then 503.
        assert_eq!(simulated_503(&text, from), 0);
        assert!(simulated_503(&text, from + 10) > 0);
    }

    #[test]
    fn a_front_end_within_the_daemon_tier_and_its_backlog_is_balanced() {
        let text = fixture("tier-capacity", "fixed.conf");
        assert!(lint(&text).iter().all(|f| f.rule.id != "tier-capacity"));
        // 125 front-end threads can never produce a 503.
        assert_eq!(simulated_503(&text, 125), 0);
    }
}
