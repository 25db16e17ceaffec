//! Capacity across the tiers, and what the configuration costs in memory.

use std::collections::{BTreeMap, BTreeSet};

use quill_config::Severity;
use quill_config::wsgi::DelegationMode;
use quill_mpm::Knob;

use super::{children, ids, mb, with_plan};
use crate::context::{Ctx, knob_value};
use crate::finding::Finding;
use crate::rule::{Example, Family, Rule};
use crate::tier::Verdict;

/// The request duration assumed when saying when queue-timeout answers 504.
const REQUEST_S: f64 = 1.0;

pub static TIER_CAPACITY: Rule = Rule {
    id: ids::TIER_CAPACITY,
    severity: Severity::Warning,
    family: Family::Capacity,
    summary: "Front-end capacity (MaxRequestWorkers) out of proportion with the daemon tier it delegates to",
    explanation: "\
What: in daemon mode every WSGI request holds a front-end thread (one of \
MaxRequestWorkers) for its whole life, while a daemon thread runs it. The daemon tier \
runs Σ processes × threads requests at once; further requests wait in the group's \
socket backlog (`listen-backlog`, default 100; Linux admits one more) — where \
`queue-timeout` answers 504 to those waiting too long — and when the backlog is full the \
front end retries for `connect-timeout` (15 s) and answers 503 \
(reference/mod_wsgi.md §1.8).

Two ways to get it wrong:
* front end too small (MaxRequestWorkers below the daemon threads): daemon threads that \
can never be busy, and excess requests wait in Apache's own listen queue, where no \
queue-timeout applies;
* front end far too large (above the daemon threads plus their backlogs): front-end \
threads that can only wait, the last of them only for a 503.

Why it matters: capacity paid for in memory that cannot serve, and overload answered \
late (503 after 15 s) instead of early.

Fix: a MaxRequestWorkers between the daemon threads and the daemon threads plus \
backlog (Quill proposes 1.5 × the daemon threads when raising, as mod_wsgi-express does, \
and the largest multiple of ThreadsPerChild that fits when lowering), or resize the \
daemon groups. Remember the front end also serves static files and other virtual hosts.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/tier-capacity/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/tier-capacity/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("front_threads", "requests the front end holds at once"),
        ("daemon_threads", "requests the daemon groups run at once"),
        ("backlog", "requests that can wait in the groups' sockets"),
        (
            "waiting_threads",
            "front-end threads that can only wait for a daemon thread",
        ),
        (
            "refused_threads",
            "front-end threads whose requests get 503",
        ),
        (
            "queueing_from",
            "concurrent requests above which requests queue",
        ),
        (
            "status_503_from",
            "concurrent requests above which requests get 503 (null: the front end cannot hold that many)",
        ),
        (
            "status_504_from",
            "concurrent 1 s requests from which queue-timeout answers 504 (null: no queue-timeout, or 503 comes first)",
        ),
        ("proposed_max_request_workers", "MaxRequestWorkers proposed"),
    ],
    check: |ctx, out| {
        let Some(t) = &ctx.tier else { return };
        if t.verdict == Verdict::Balanced {
            return;
        }
        let groups: Vec<String> = t
            .groups
            .iter()
            .map(|g| format!("'{}' {} × {}", g.name, g.processes, g.threads))
            .collect();
        let d = t.daemon_threads;
        let q503 = d.saturating_add(t.backlog);
        let status_504 = t.queue_timeout_504_from(REQUEST_S);
        // prefork's front end is processes of one request each.
        let (workers, worker) = if ctx.mpm.kind.is_threaded() {
            ("front-end threads", "front-end thread")
        } else {
            ("front-end processes", "front-end process")
        };
        let message = match t.verdict {
            Verdict::FrontTooLarge => format!(
                "MaxRequestWorkers lets the front end hold {} requests, but the daemon tier runs {d} at once ({}) and queues {} more: {} {workers} can only wait for a daemon thread, and above {q503} concurrent requests the rest get 503 after connect-timeout ({} s)",
                t.front_threads,
                groups.join(", "),
                t.backlog,
                t.waiting_threads(),
                t.connect_timeout_s()
            ),
            _ => format!(
                "MaxRequestWorkers lets the front end hold only {} requests, fewer than the {d} the daemon tier runs at once ({}): {} daemon threads can never be busy, and above {} concurrent requests clients wait in Apache's listen queue, where no queue-timeout applies",
                t.front_threads,
                groups.join(", "),
                d - t.front_threads,
                t.front_threads
            ),
        };
        let mut f = Finding::new(&TIER_CAPACITY, message)
            .at_opt(ctx.mpm.span(Knob::MaxRequestWorkers), format!("{} {workers}", t.front_threads))
            .note(format!(
                "requests queue in the daemon backlog above {d} concurrent requests; 503 comes above {q503}{}",
                match status_504 {
                    Some(c) => format!(
                        "; with {REQUEST_S:.0} s requests, queue-timeout answers 504 from {c}"
                    ),
                    None => String::new(),
                }
            ))
            .note("the front end also serves static files and other virtual hosts: keep room for them")
            .data("front_threads", t.front_threads)
            .data("daemon_threads", d)
            .data("backlog", t.backlog)
            .data("waiting_threads", t.waiting_threads())
            .data("refused_threads", t.refused_threads())
            .data("queueing_from", d)
            .data("status_503_from", (t.front_threads > q503).then_some(q503))
            .data("status_504_from", status_504)
            .data(
                "proposed_max_request_workers",
                t.proposed_front
                    .map(|_| ctx.plan.value(Knob::MaxRequestWorkers)),
            );
        if ctx
            .plan
            .caused_by(Knob::MaxRequestWorkers, ids::WSGI_DUPLICATE_HTTPS_GROUP)
        {
            f = f.note(
                "the MaxRequestWorkers proposed fits the daemon tier once wsgi-duplicate-https-group's edit merges the duplicate group",
            );
        }
        for g in &t.groups {
            if let Some(dir) = ctx.directive_at(&g.at) {
                f = f.also(
                    dir.span,
                    format!(
                        "{} × {} threads, listen-backlog {}",
                        g.processes, g.threads, g.listen_backlog
                    ),
                );
            }
        }
        let why = match t.verdict {
            Verdict::FrontTooLarge => {
                format!("every {worker} can at least queue for a daemon thread")
            }
            _ => "room to queue at the daemon, where queue-timeout applies".to_string(),
        };
        if t.proposed_front.is_none() {
            // No MaxRequestWorkers can fix it (compile-time limits).
            out.push(f.help(format!(
                "the front end cannot grow past {} {workers}: give the daemon groups fewer processes × threads (at most {} in all)",
                t.front_threads, t.front_threads
            )));
            return;
        }
        out.push(with_plan(
            ctx,
            f,
            ids::TIER_CAPACITY,
            &[Knob::MaxRequestWorkers, Knob::ServerLimit],
            &why,
        ));
    },
};

/// Memory of the configuration at start, idle and maximum.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryEstimate {
    pub front_children: (u32, u32, u32),
    pub front_child_mb: f64,
    /// Extra per child at its maximum when the application runs embedded.
    pub embedded_app_mb: f64,
    pub daemon_processes: u32,
    pub daemon_mb: f64,
}

impl MemoryEstimate {
    pub fn start(&self) -> f64 {
        f64::from(self.front_children.0) * self.front_child_mb + self.daemon_mb
    }
    pub fn idle(&self) -> f64 {
        f64::from(self.front_children.1) * self.front_child_mb + self.daemon_mb
    }
    pub fn max(&self) -> f64 {
        f64::from(self.front_children.2) * (self.front_child_mb + self.embedded_app_mb)
            + self.daemon_mb
    }
}

pub fn memory(ctx: &Ctx<'_>) -> MemoryEstimate {
    let o = ctx.options;
    // Interpreters holding the application, per process group ("" = the
    // Apache children, embedded mode).
    let mut interpreters: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let servers =
        std::iter::once(&ctx.config.main_server).chain(ctx.config.vhosts.iter().map(|v| &v.server));
    for s in servers {
        for m in &s.wsgi_mounts {
            let group = match (m.process_group.mode, &m.process_group.group) {
                (DelegationMode::Daemon, Some(g)) => g.clone(),
                (DelegationMode::Embedded, _) => String::new(),
                _ => continue,
            };
            let i = m
                .application_group
                .interpreter
                .clone()
                .unwrap_or_else(|| m.application_group.expression.clone());
            interpreters.entry(group).or_default().insert(i);
        }
    }
    let embedded = interpreters.get("").map_or(0, BTreeSet::len);
    let mut daemon_processes = 0;
    let mut daemon_mb = 0.0;
    for d in &ctx.config.wsgi.daemons {
        let copies = interpreters.get(&d.name).map_or(1, |s| s.len().max(1));
        daemon_processes += d.processes;
        daemon_mb += f64::from(d.processes) * o.daemon_rss_mb * copies as f64;
    }
    MemoryEstimate {
        front_children: (
            ctx.mpm.pool.children_to_start(),
            ctx.startup.settled_children,
            ctx.mpm.pool.daemons_limit,
        ),
        front_child_mb: o.process_rss_mb,
        embedded_app_mb: embedded as f64 * o.daemon_rss_mb,
        daemon_processes,
        daemon_mb,
    }
}

pub static DAEMON_TIERS: Rule = Rule {
    id: ids::DAEMON_TIERS,
    severity: Severity::Note,
    family: Family::Capacity,
    summary: "How the front end and the daemon tier divide the work, and which directive sizes what",
    explanation: "\
What: in daemon mode Apache's threads (MaxRequestWorkers; prefork: its processes) do not \
run Python. Each WSGI request holds one of them for its whole life only to pass the \
request to a daemon thread and the response back. What runs the application is the \
daemon tier: Σ processes × threads of the WSGIDaemonProcess groups requests reach. Beyond \
those, requests wait in the groups' sockets (`listen-backlog` + 1 each), where \
`queue-timeout` applies; the rest of the front end's threads wait for room there, or \
serve what is not WSGI (static files, other hosts). So the daemon threads are not carved \
out of MaxRequestWorkers: a front end of 400 threads in front of groups of 200 + 40 \
threads does not leave 160 for static files, it lets 400 requests in, 240 of which run \
at once.

Why it matters: sizing the wrong tier. MaxRequestWorkers sizes how many connections the \
front end takes on; WSGIDaemonProcess processes × threads sizes how many requests the \
application runs at once.

Whether the daemon tier itself is the right size depends on the application's request \
times, which no configuration shows: the note says where to measure its thread \
utilisation.

Fix: nothing to fix: this note is a report, present whenever requests go to a daemon \
tier. tier-capacity says when the two tiers are out of proportion.",
    example: None,
    claims: &[],
    data: &[
        (
            "front_threads",
            "requests the front end holds at once (MaxRequestWorkers)",
        ),
        ("daemon_threads", "requests the daemon groups run at once"),
        ("backlog", "requests that can wait in the groups' sockets"),
    ],
    check: |ctx, out| {
        let Some(t) = &ctx.tier else { return };
        let workers = if ctx.mpm.kind.is_threaded() {
            "threads"
        } else {
            "processes"
        };
        let groups: Vec<String> = t
            .groups
            .iter()
            .map(|g| format!("'{}' {} × {}", g.name, g.processes, g.threads))
            .collect();
        let sum: Vec<String> = t
            .groups
            .iter()
            .map(|g| g.processes.saturating_mul(g.threads).to_string())
            .collect();
        let mut f = Finding::new(
            &DAEMON_TIERS,
            format!(
                "daemon mode: the front end's {} {workers} only pass WSGI requests to {} daemon threads ({}), which run them; up to {} more wait in the groups' sockets, the rest wait for room there or serve what is not WSGI",
                t.front_threads,
                sum.join(" + "),
                groups.join(", "),
                t.backlog
            ),
        )
        .at_opt(
            ctx.mpm.span(Knob::MaxRequestWorkers),
            format!("sizes the front end: {} {workers}", t.front_threads),
        );
        for g in &t.groups {
            if let Some(dir) = ctx.directive_at(&g.at) {
                f = f.also(
                    dir.span,
                    format!("sizes what runs: {} × {} threads", g.processes, g.threads),
                );
            }
        }
        out.push(
            f.note(format!(
                "the daemon threads are not part of the front end's {}: each WSGI request holds one of each while it runs",
                t.front_threads
            ))
            .note(format!(
                "whether {} suit{} the application depends on its request times: measure the daemon threads' utilisation (busy ÷ available thread time, mod_wsgi's capacity analysis), e.g. on the metrics page of `quill serve` (`SetHandler quill-metrics`, docs/status.md)",
                groups.join(", "),
                if t.groups.len() == 1 { "s" } else { "" }
            ))
            .data("front_threads", t.front_threads)
            .data("daemon_threads", t.daemon_threads)
            .data("backlog", t.backlog),
        );
    },
};

pub static MEMORY_ESTIMATE: Rule = Rule {
    id: ids::MEMORY_ESTIMATE,
    severity: Severity::Note,
    family: Family::Capacity,
    summary: "What the configuration costs in memory at start, at idle and at its maximum, per tier",
    explanation: "\
What: an estimate of resident memory per tier, from per-process sizes: the front end \
(Apache children: those forked at start, those left once the pool settles with no load \
— simulated —, and the most MaxRequestWorkers allows) and the daemon tier (every \
`WSGIDaemonProcess`: processes × one copy of the application per application group it \
serves; mod_wsgi does not grow or shrink groups). A WSGI application in embedded mode is \
loaded into every Apache child that serves it, counted at the maximum. The sizes are \
`--process-rss` (an Apache child, default 20 MB) and `--daemon-rss` (a Python process \
with the application, default 100 MB); pass measured values (RSS in `ps -o rss`) for a \
real answer.

Why it matters: the maximum is what the machine must hold under full load; the gap \
between idle and maximum is what a traffic spike allocates.

Fix: nothing to fix: this note is a report (always present). The other rules' edits \
change the figures.",
    example: None,
    claims: &[],
    data: &[
        ("process_rss_mb", "size of a front-end child assumed"),
        ("daemon_rss_mb", "size of a daemon process assumed"),
        ("front_children", "`[start, idle, max]` Apache children"),
        ("daemon_processes", "daemon processes (all groups)"),
        (
            "embedded_app_mb",
            "application memory per Apache child at the maximum (embedded mode)",
        ),
        ("start_mb", "total at start"),
        ("idle_mb", "total once the pool settles with no load"),
        ("max_mb", "total at MaxRequestWorkers"),
    ],
    check: |ctx, out| {
        let m = memory(ctx);
        let (s, i, x) = m.front_children;
        let mut f = Finding::new(
            &MEMORY_ESTIMATE,
            format!(
                "memory estimate: {} at start, {} idle, {} at MaxRequestWorkers",
                mb(m.start()),
                mb(m.idle()),
                mb(m.max())
            ),
        )
        .at_opt(ctx.mpm.span(Knob::MaxRequestWorkers), format!("{} at most", children(x)))
        .note(format!(
            "front end: {} at start, {i} idle, {x} at most, × {} MB{}",
            children(s),
            m.front_child_mb,
            if m.embedded_app_mb > 0.0 {
                format!(" (+ {} of embedded application each at the maximum)", mb(m.embedded_app_mb))
            } else {
                String::new()
            }
        ))
        .note(if m.daemon_processes > 0 {
            format!(
                "daemon tier: {} process(es), {} (constant: mod_wsgi starts every process at once)",
                m.daemon_processes,
                mb(m.daemon_mb)
            )
        } else {
            "daemon tier: none".to_string()
        })
        .note(format!(
            "sizes assumed: --process-rss {} MB, --daemon-rss {} MB (pass measured RSS for a real answer)",
            ctx.options.process_rss_mb, ctx.options.daemon_rss_mb
        ))
        .data("process_rss_mb", ctx.options.process_rss_mb)
        .data("daemon_rss_mb", ctx.options.daemon_rss_mb)
        .data("front_children", vec![s, i, x])
        .data("daemon_processes", m.daemon_processes)
        .data("embedded_app_mb", m.embedded_app_mb)
        .data("start_mb", m.start().round())
        .data("idle_mb", m.idle().round())
        .data("max_mb", m.max().round());
        let threads = knob_value(&ctx.mpm.pool, Knob::MaxRequestWorkers);
        if ctx.mpm.kind.is_threaded() {
            f = f.note(format!("{threads} front-end threads at most"));
        }
        out.push(f);
    },
};

#[cfg(test)]
mod tests {
    use crate::LintOptions;
    use crate::rules::testing::assert_edits_remove_findings;
    use crate::rules::testing::{fires_and_is_fixed, fixture, lint_with, only};

    #[test]
    fn tier_capacity_says_where_503_starts_and_proposes_a_front_end() {
        let f = fires_and_is_fixed("tier-capacity");
        let t = only(&f, "tier-capacity");
        assert_eq!(t.data["daemon_threads"], 40);
        assert_eq!(t.data["status_503_from"], 141);
        assert_eq!(t.data["waiting_threads"], 160);
        assert_eq!(t.data["proposed_max_request_workers"], 125);
    }

    /// No tier without anything mounted in it (a misspelt or removed
    /// WSGIScriptAlias) or without mod_wsgi loaded; prefork's front end is
    /// spoken of as processes.
    #[test]
    fn tier_capacity_needs_a_mounted_group_and_speaks_of_prefork_processes() {
        let text = fixture("tier-capacity", "fires.conf");
        let unmounted = text.replace("WSGIScriptAlias / /srv/app/app.wsgi", "");
        assert!(
            !lint_with(&unmounted, &LintOptions::default())
                .0
                .iter()
                .any(|f| f.rule.id == "tier-capacity"),
            "nothing is mounted"
        );
        let unloaded = text.replace("LoadModule wsgi_module modules/mod_wsgi.so", "");
        assert!(
            !lint_with(&unloaded, &LintOptions::default())
                .0
                .iter()
                .any(|f| f.rule.id == "tier-capacity"),
            "mod_wsgi is not loaded"
        );
        let prefork = text
            .replace(
                "mpm_worker_module modules/mod_mpm_worker.so",
                "mpm_prefork_module modules/mod_mpm_prefork.so",
            )
            .replace(
                "MinSpareThreads 25\nMaxSpareThreads 125\nThreadsPerChild 25\n",
                "ServerLimit 200\n",
            );
        let (f, _) = lint_with(&prefork, &LintOptions::default());
        let t = only(&f, "tier-capacity");
        let m = &t.diagnostic.message;
        assert!(m.contains("front-end processes"), "{m}");
        let all = format!("{:?}", t.diagnostic);
        assert!(!all.contains("front-end thread"), "{all}");
    }

    /// The thread's configuration: 400 front-end threads before groups of
    /// 200 and 40 daemon threads.
    #[test]
    fn daemon_tiers_say_which_threads_run_the_application() {
        let text = "LoadModule mpm_worker_module modules/mod_mpm_worker.so\n\
                    LoadModule wsgi_module modules/mod_wsgi.so\nListen 80\nServerName www.example.com\n\
                    StartServers 4\nServerLimit 16\nThreadsPerChild 25\nMaxRequestWorkers 400\n\
                    MinSpareThreads 25\nMaxSpareThreads 75\n\
                    WSGIDaemonProcess site processes=10 threads=20\n\
                    WSGIDaemonProcess admin processes=2 threads=20\n\
                    WSGIScriptAlias / /srv/site.wsgi process-group=site\n\
                    WSGIScriptAlias /admin /srv/admin.wsgi process-group=admin\n";
        let (f, _) = lint_with(text, &LintOptions::default());
        let t = only(&f, "daemon-tiers");
        assert_eq!(t.data["front_threads"], 400);
        assert_eq!(t.data["daemon_threads"], 240);
        let m = &t.diagnostic.message;
        assert!(
            m.contains("400 threads only pass WSGI requests to 200 + 40 daemon threads"),
            "{m}"
        );
        // No daemon tier, no note.
        let embedded = text
            .replace(" process-group=site", "")
            .replace(" process-group=admin", "");
        let (f, _) = lint_with(&embedded, &LintOptions::default());
        assert!(!f.iter().any(|f| f.rule.id == "daemon-tiers"));
    }

    #[test]
    fn memory_estimate_follows_the_sizes_given() {
        let text = fixture("tier-capacity", "fires.conf");
        let (f, _) = lint_with(
            &text,
            &LintOptions {
                process_rss_mb: 10.0,
                daemon_rss_mb: 50.0,
            },
        );
        let m = only(&f, "memory-estimate");
        // 4 children at start, 8 at most; 4 daemon processes × 50 MB.
        assert_eq!(m.data["start_mb"], 240.0);
        assert_eq!(m.data["max_mb"], 280.0);
    }

    #[test]
    fn hostile_values_give_findings_not_panics_and_their_edits_still_hold() {
        let texts = [
            "LoadModule mpm_event_module m.so\nLoadModule wsgi_module m.so\nListen 80\nServerName a.example\n\
             StartServers 20000\nServerLimit 99999\nThreadLimit 0\nThreadsPerChild 0\n\
             MaxRequestWorkers 2147483647\nMinSpareThreads -4\nMaxSpareThreads 99999999999\n\
             WSGIDaemonProcess big processes=100000 threads=65000 listen-backlog=2147483647\n\
             WSGIProcessGroup big\nWSGIScriptAlias / /x.wsgi\n",
            "LoadModule mpm_prefork_module m.so\nListen 80\nStartServers 200000\n\
             MaxRequestWorkers 200000\nServerLimit 200000\nMinSpareServers 0\nMaxSpareServers 0\n\
             KeepAliveTimeout 100000\n",
            "LoadModule mpm_worker_module m.so\nListen 80\nThreadsPerChild 100000\nThreadLimit 100000\n\
             MaxRequestWorkers 1\nStartServers -1\n",
        ];
        for text in texts {
            let (findings, fixed) = lint_with(text, &LintOptions::default());
            assert!(findings.iter().any(|f| f.rule.id == "memory-estimate"));
            assert_edits_remove_findings(&findings, &fixed);
        }
    }
}
