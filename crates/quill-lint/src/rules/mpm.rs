//! The process pool: what Apache changes at start-up, spare thresholds,
//! start-up kill-off and burst, churn, unreachable and oversized limits.

use quill_config::{Diagnostic, Severity};
use quill_mpm::{Adjustment, Knob, Mpm};

use super::{children, ids, per_hour, with_plan, with_plan_excluding};
use crate::context::Ctx;
use crate::finding::{Edit, Finding};
use crate::plan::{
    burst_fires, child_limit, kill_off_fires, oversized_fires, round_down, round_up,
    server_limit_headroom, spare_not_multiple_fires, start_above_limit,
};
use crate::rule::{Example, Family, Rule};
use crate::sim::{self, CHURN_LIMIT_PER_HOUR};

/// Codes of adjustments that `unreachable-capacity` reports.
const UNREACHABLE_CODES: &[&str] = &["mpm/mrw-above-server-limit", "mpm/tpc-above-thread-limit"];

/// Each adjustment `quill_mpm::adjust` made, with the resolver's diagnostic
/// for it (same function, same input: the same sequence).
fn adjustments<'c>(ctx: &'c Ctx<'_>) -> Vec<(&'c Adjustment, Option<&'c Diagnostic>)> {
    let diags: Vec<&Diagnostic> = ctx
        .diagnostics
        .iter()
        .filter(|d| d.code.starts_with("mpm/"))
        .collect();
    let adj = &ctx.mpm.adjusted.adjustments;
    let aligned = diags.len() == adj.len() && diags.iter().zip(adj).all(|(d, a)| d.code == a.code);
    adj.iter()
        .enumerate()
        .map(|(i, a)| (a, if aligned { diags.get(i).copied() } else { None }))
        .collect()
}

/// A finding for one adjustment (wrapping the resolver's diagnostic).
fn adjustment_finding(
    ctx: &Ctx<'_>,
    rule: &'static Rule,
    a: &Adjustment,
    d: Option<&Diagnostic>,
) -> Finding {
    let name = a.knob.directive(ctx.mpm.kind);
    let mut f = match d {
        Some(d) => {
            let mut d = d.clone();
            d.help = None;
            Finding::wrap(rule, d)
        }
        None => {
            let mut f = Finding::new(rule, a.plain.clone()).at_opt(
                ctx.mpm.span(a.knob),
                format!("{name} {} → {}", a.before, a.after),
            );
            f.diagnostic.code = a.code;
            if let Some(t) = &a.apache {
                f = f.apache(t.clone());
            }
            f
        }
    };
    f.diagnostic.severity = rule.severity;
    if !f.diagnostic.message.contains(name) {
        f.diagnostic.message = format!("{name} {}", f.diagnostic.message);
    }
    f.data("directive", name)
        .data("before", a.before)
        .data("after", a.after)
        .data("logged", a.apache.is_some())
}

pub static STARTUP_ADJUSTMENT: Rule = Rule {
    id: ids::STARTUP_ADJUSTMENT,
    severity: Severity::Warning,
    family: Family::Mpm,
    summary: "Apache changes an MPM value at start-up, with a warning or silently (before → after)",
    explanation: "\
What: httpd 2.4 checks the MPM directives when it starts and changes what it does not \
accept (reference/apache-mpm.md §3): MaxRequestWorkers is rounded down to a multiple of \
ThreadsPerChild, MinSpareThreads and MaxSpareThreads are raised (MaxSpareThreads to \
MinSpareThreads + ThreadsPerChild + 1, one more than the manual says), values below 1 \
become 1, compile-time limits cap ServerLimit and ThreadLimit. Some changes print a \
`WARNING:` at start-up (quoted under `= apache:`); the run-time raises are silent.

Why it matters: the file says one thing and the server does another; the difference \
shows up as unexpected process counts, and the next person to tune the file starts from \
the wrong numbers.

Fix: write the value Apache really uses (the `help:` line; when another MPM rule fires \
too, the value that satisfies both, e.g. a MaxSpareThreads that is also a multiple of \
ThreadsPerChild).",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/startup-adjustment/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/startup-adjustment/fixed.conf"),
    }),
    claims: &[
        "mpm/server-limit-above-compile-limit",
        "mpm/server-limit-below-one",
        "mpm/thread-limit-above-compile-limit",
        "mpm/thread-limit-below-one",
        "mpm/tpc-below-one",
        "mpm/mrw-below-one",
        "mpm/mrw-below-tpc",
        "mpm/mrw-not-multiple",
        "mpm/start-servers-below-one",
        "mpm/min-spare-below-one",
        "mpm/raised-to-buckets",
        "mpm/min-spare-raised",
        "mpm/max-spare-raised",
        "config/async-factor-fraction",
    ],
    data: &[
        ("directive", "the directive Apache changes"),
        ("before", "the value as written (or the default)"),
        ("after", "the value Apache uses"),
        ("logged", "whether Apache prints a warning (false: silent)"),
    ],
    check: |ctx, out| {
        let mine: Vec<(&Adjustment, Option<&Diagnostic>)> = adjustments(ctx)
            .into_iter()
            .filter(|(a, _)| !UNREACHABLE_CODES.contains(&a.code))
            .collect();
        let own_knobs: Vec<Knob> = mine.iter().map(|(a, _)| a.knob).collect();
        for (i, (a, d)) in mine.iter().enumerate() {
            let f = adjustment_finding(ctx, &STARTUP_ADJUSTMENT, a, *d);
            let why = if ctx.plan.value(a.knob) != a.after {
                format!("Apache uses {}", a.after)
            } else {
                "the value Apache uses".to_string()
            };
            // Each finding shows its own directive; the first one also the
            // changes this rule's adjustments made necessary elsewhere.
            let exclude: Vec<Knob> = if i == 0 {
                own_knobs.iter().copied().filter(|k| *k != a.knob).collect()
            } else {
                crate::context::KNOBS
                    .iter()
                    .copied()
                    .filter(|k| *k != a.knob)
                    .collect()
            };
            out.push(with_plan_excluding(
                ctx,
                f,
                ids::STARTUP_ADJUSTMENT,
                &[a.knob],
                &exclude,
                &why,
            ));
        }
        // AsyncRequestWorkerFactor keeps only its integer part.
        for d in ctx.resolver("config/async-factor-fraction") {
            let Some(span) = d.span else { continue };
            let value = d.help.as_deref().and_then(|h| {
                h.trim_end_matches('`')
                    .rsplit(' ')
                    .next()
                    .map(str::to_string)
            });
            let mut f = Finding::wrap(&STARTUP_ADJUSTMENT, d.clone());
            f.diagnostic.severity = Severity::Warning;
            if let Some(v) = value {
                f = f.edit(Edit::replace(span, v));
            }
            out.push(f);
        }
    },
};

pub static SPARE_NOT_MULTIPLE: Rule = Rule {
    id: ids::SPARE_NOT_MULTIPLE,
    severity: Severity::Note,
    family: Family::Mpm,
    summary: "MinSpareThreads/MaxSpareThreads not a multiple of ThreadsPerChild (and what they act as)",
    explanation: "\
What: worker and event start and stop whole children, ThreadsPerChild threads at a time, \
so the idle-thread count moves in steps of ThreadsPerChild. A threshold between two steps \
acts as the step beyond it: with no load (and whenever the busy threads are a multiple of \
ThreadsPerChild) `MinSpareThreads 30` with 25 threads per child spawns as if it were 50, \
`MaxSpareThreads 130` kills as if it were 125.

Why it matters: the band the server really keeps is not the one written, usually \
narrower; under load the effective values move with the busy count, which makes the \
pool's behaviour hard to predict.

Fix: write multiples of ThreadsPerChild: MinSpareThreads rounded up, MaxSpareThreads \
rounded down, keeping MaxSpareThreads at least MinSpareThreads + 2 × ThreadsPerChild so \
Apache does not raise it.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/spare-not-multiple/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/spare-not-multiple/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("min_spare", "MinSpareThreads Apache uses"),
        ("max_spare", "MaxSpareThreads Apache uses"),
        ("threads_per_child", "ThreadsPerChild"),
        (
            "acts_as_min",
            "the MinSpareThreads it acts as (rounded up to a whole child)",
        ),
        (
            "acts_as_max",
            "the MaxSpareThreads it acts as (rounded down to a whole child)",
        ),
    ],
    check: |ctx, out| {
        if !spare_not_multiple_fires(&ctx.mpm) {
            return;
        }
        let p = &ctx.mpm.pool;
        let tpc = ctx.mpm.tpc();
        let (min, max) = (i64::from(p.min_spare), i64::from(p.max_spare));
        let (acts_min, acts_max) = (
            round_up(min, i64::from(tpc)),
            round_down(max, i64::from(tpc)),
        );
        let mut parts = Vec::new();
        if min % i64::from(tpc) != 0 {
            parts.push(format!("MinSpareThreads {min} acts as {acts_min}"));
        }
        if max % i64::from(tpc) != 0 {
            parts.push(format!("MaxSpareThreads {max} acts as {acts_max}"));
        }
        let (first, second) = if min % i64::from(tpc) != 0 {
            (Knob::MinSpare, Knob::MaxSpare)
        } else {
            (Knob::MaxSpare, Knob::MinSpare)
        };
        let mut f = Finding::new(
            &SPARE_NOT_MULTIPLE,
            format!(
                "children come and go {tpc} threads at a time (ThreadsPerChild), so {}",
                parts.join(" and ")
            ),
        )
        .at_opt(ctx.mpm.span(first), "not a multiple of ThreadsPerChild")
        .note(format!(
            "with no load (and whenever the busy threads are a multiple of {tpc}) the pool keeps between {acts_min} and {acts_max} idle threads"
        ))
        .data("min_spare", min)
        .data("max_spare", max)
        .data("threads_per_child", tpc)
        .data("acts_as_min", acts_min)
        .data("acts_as_max", acts_max);
        if parts.len() == 2 {
            if let Some(w) = ctx.mpm.written(second) {
                f = f.also(w.directive.span, "not a multiple either");
            }
        }
        out.push(with_plan(
            ctx,
            f,
            ids::SPARE_NOT_MULTIPLE,
            &[Knob::MinSpare, Knob::MaxSpare],
            "whole children",
        ));
    },
};

fn seconds_list(s: &[u64]) -> String {
    let consecutive = s.windows(2).all(|w| w[1] == w[0] + 1);
    match s {
        [a, .., z] if consecutive && s.len() > 2 => format!("t = {a}–{z} s"),
        [] => String::new(),
        [one] => format!("t = {one} s"),
        [a, b] => format!("t = {a} and {b} s"),
        [a, b, c] => format!("t = {a}, {b} and {c} s"),
        [a, b, .., z] => format!("t = {a}, {b}, …, {z} s"),
    }
}

pub static STARTUP_KILL_OFF: Rule = Rule {
    id: ids::STARTUP_KILL_OFF,
    severity: Severity::Warning,
    family: Family::Mpm,
    summary: "StartServers × ThreadsPerChild above MaxSpareThreads: children killed one by one right after start",
    explanation: "\
What: httpd forks StartServers children at once when it starts (and again after every \
restart). If their idle threads exceed MaxSpareThreads (prefork: StartServers above \
MaxSpareServers), the very first maintenance ticks find too many idle threads and kill \
one child per second — under event with the default ServerLimit only every other second, \
because a victim still holds its scoreboard slot during the next tick \
(reference/apache-mpm.md §6.3, §11 example (a)). The count is simulated with the full pool \
controller (quill-mpm) and no load.

Why it matters: this is the classic \"I set StartServers 10 — why does Apache kill \
processes every second right after start?\"; the forks were wasted, and children that \
have loaded Python (mod_wsgi embedded mode) are thrown away.

Fix: lower StartServers to the number of children the server keeps anyway \
(MaxSpareThreads ÷ ThreadsPerChild), or raise MaxSpareThreads to at least \
StartServers × ThreadsPerChild.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/startup-kill-off/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/startup-kill-off/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("children_at_start", "children forked at start"),
        ("killed", "children killed before the pool settles"),
        ("first_kill_s", "second of the first kill"),
        ("last_kill_s", "second of the last kill"),
        ("every_other_second", "event's kill guard halves the pace"),
        ("settled_children", "children left"),
    ],
    check: |ctx, out| {
        if !kill_off_fires(&ctx.mpm) {
            return;
        }
        let p = &ctx.mpm.pool;
        let run = &ctx.startup;
        let tpc = ctx.mpm.tpc();
        let started = p.children_to_start();
        let max_name = ctx.mpm.name(Knob::MaxSpare);
        let idle = started.saturating_mul(tpc);
        let (first, last) = (run.kills.first().copied(), run.kills.last().copied());
        let pace = if sim::event_kills_every_other_tick(p) && run.kills.len() > 1 {
            "one every other second (event waits until each victim is reaped)"
        } else {
            "one per second"
        };
        let what = if ctx.mpm.kind.is_threaded() {
            format!(
                "{} with {idle} idle threads at start, above {max_name} {}",
                children(started),
                p.max_spare
            )
        } else {
            format!(
                "{} idle at start, above {max_name} {}",
                children(started),
                p.max_spare
            )
        };
        let message = match (first, last) {
            (Some(a), Some(z)) => format!(
                "{what}: Apache kills {} of the {started} children right after start, {pace}, over {} s ({})",
                run.kills.len(),
                z - a + 1,
                seconds_list(&run.kills)
            ),
            _ => format!("{what}: Apache kills children right after start"),
        };
        let mut f = Finding::new(&STARTUP_KILL_OFF, message)
            .at_opt(ctx.mpm.span(Knob::StartServers), format!("{} children forked at start", started))
            .note(format!(
                "the pool settles at {} once idle threads are at most {max_name}; the same happens after every restart",
                children(run.settled_children)
            ))
            .note(format!(
                "or keep StartServers and raise `{max_name}` to at least {idle}"
            ))
            .data("children_at_start", started)
            .data("killed", run.kills.len())
            .data("first_kill_s", first)
            .data("last_kill_s", last)
            .data("every_other_second", pace.starts_with("one every"))
            .data("settled_children", run.settled_children);
        if let Some(w) = ctx.mpm.written(Knob::MaxSpare) {
            f = f.also(w.directive.span, "idle threads above this are killed");
        }
        let why = if ctx.plan.value(Knob::StartServers) < i64::from(p.start_servers) {
            "the children the server keeps anyway"
        } else {
            "then the children started are kept"
        };
        out.push(with_plan(
            ctx,
            f,
            ids::STARTUP_KILL_OFF,
            &[Knob::StartServers, Knob::MaxSpare],
            why,
        ));
    },
};

pub static STARTUP_BURST: Rule = Rule {
    id: ids::STARTUP_BURST,
    severity: Severity::Warning,
    family: Family::Mpm,
    summary: "Fewer idle threads at start than MinSpareThreads: a burst of forks right after start",
    explanation: "\
What: when StartServers × ThreadsPerChild is below MinSpareThreads (prefork: \
StartServers below MinSpareServers), the first maintenance ticks find too few idle \
threads and fork 1, then 2, then 4 … children per second until MinSpareThreads idle \
threads exist (reference/apache-mpm.md §6.2). Nothing relates StartServers to \
MinSpareThreads in httpd. The forks are simulated with the full pool controller (quill-mpm) and no \
load.

Why it matters: every start and restart is followed by a burst of forks (with mod_wsgi \
embedded mode, each one initialises Python), and the pool the server settles at is not \
the one StartServers says.

Fix: raise StartServers to MinSpareThreads ÷ ThreadsPerChild, rounded up.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/startup-burst/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/startup-burst/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("children_at_start", "children forked at start"),
        ("spawned", "children forked by the first ticks"),
        ("spawns", "`[[second, children]]` of each spawning tick"),
        ("settled_children", "children once MinSpareThreads is met"),
    ],
    check: |ctx, out| {
        if !burst_fires(&ctx.mpm) {
            return;
        }
        let p = &ctx.mpm.pool;
        let run = &ctx.startup;
        let started = p.children_to_start();
        let min_name = ctx.mpm.name(Knob::MinSpare);
        let idle = started.saturating_mul(ctx.mpm.tpc());
        let ticks: Vec<String> = run
            .spawns
            .iter()
            .map(|(s, n)| format!("{n} at t = {s} s"))
            .collect();
        let what = if ctx.mpm.kind.is_threaded() {
            format!(
                "{} with {idle} idle threads at start, below {min_name} {}",
                children(started),
                p.min_spare
            )
        } else {
            format!(
                "{} at start, below {min_name} {}",
                children(started),
                p.min_spare
            )
        };
        let message = if run.spawns.is_empty() {
            format!("{what}: Apache forks more children right after start")
        } else {
            format!(
                "{what}: Apache forks {} in the first {} s ({})",
                match run.spawned() {
                    1 => "1 more child".to_string(),
                    n => format!("{n} more children"),
                },
                run.settled_at_s,
                super::join_and(&ticks)
            )
        };
        let mut f = Finding::new(&STARTUP_BURST, message)
            .at_opt(
                ctx.mpm.span(Knob::StartServers),
                format!("{} forked at start", children(started)),
            )
            .note(format!(
                "the pool settles at {}; the same burst follows every restart",
                children(run.settled_children)
            ))
            .data("children_at_start", started)
            .data("spawned", run.spawned())
            .data(
                "spawns",
                run.spawns
                    .iter()
                    .map(|(s, n)| serde_json::json!([s, n]))
                    .collect::<Vec<_>>(),
            )
            .data("settled_children", run.settled_children);
        if let Some(w) = ctx.mpm.written(Knob::MinSpare) {
            f = f.also(
                w.directive.span,
                "fewer idle threads than this make Apache fork",
            );
        }
        out.push(with_plan(
            ctx,
            f,
            ids::STARTUP_BURST,
            &[Knob::StartServers],
            "enough children for MinSpare from the start",
        ));
    },
};

pub static SPARE_BAND_CHURN: Rule = Rule {
    id: ids::SPARE_BAND_CHURN,
    // A note: it predicts what a load would do, and fires on the spare
    // band Debian ships (25–75), so a stock tree passes `--deny warnings`.
    severity: Severity::Note,
    family: Family::Mpm,
    summary: "Spare band too narrow for a fluctuating load: children forked and killed again within a minute, over and over",
    explanation: "\
What: the pool keeps between MinSpareThreads and MaxSpareThreads idle threads. When the \
band is narrower than the load's second-to-second noise, every rise forks children and \
the next dip kills them again. Quill measures it by simulating the configuration with \
the full pool controller (quill-mpm) under a standard noisy load — open-loop Poisson \
arrivals whose rate steps every 60 s through +0 %, +15 %, +30 %, +15 %, +0 %, −15 %, \
−30 %, −15 % around a mean of one third of the server's thread capacity, requests lasting \
a lognormal 1 s median (σ 0.5), seed 1 — and counting, from minute 2 to minute 32, the \
spawns and kills that are undone within a minute: a child forked less than 60 s before or \
after a kill, a child killed that close to a fork. Spawns and kills minutes apart are the \
pool following the load's level, which is its job, and do not count. At 60 or more undone \
per hour (one a minute) the rule fires.

Why it matters: each fork costs CPU and, with mod_wsgi embedded mode, a Python start; \
each kill throws away warm caches; a busy child chosen as victim lingers until its \
requests end. Prefork, whose band is counted in processes, churns most.

The trade-off: a wider band (a larger MaxSpareThreads, prefork: MaxSpareServers) forks \
and kills less, but keeps more idle children after every peak, and each holds its memory \
(an Apache child, and in embedded mode the application too). A band so wide that the \
pool never kills keeps the children of the highest peak for good — which is why \
Apache's documentation calls a large MaxSpareServers almost always a bad idea.

Fix: Quill proposes the smallest MaxSpare at which no more than 12 spawns and kills an \
hour are undone within a minute under that load (found by simulation, in whole \
children), not the one at which the pool never kills: the pool still follows the load's \
level, and keeps no more idle children than that takes. The finding gives both sides — \
the children kept on average now, with the proposal and with a band that never kills, \
and their memory at `--process-rss` (plus `--daemon-rss` per embedded application) — so \
a machine short of memory can choose a narrower band and accept the forks.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/spare-band-churn/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/spare-band-churn/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("spawns", "children forked in the measured 30 minutes"),
        ("kills", "children killed in the measured 30 minutes"),
        ("per_hour", "spawns + kills per hour"),
        (
            "undone_per_hour",
            "spawns + kills per hour undone within a minute (what fires the rule)",
        ),
        ("mean_children", "children alive on average"),
        ("load_low", "lowest load level, concurrent requests"),
        ("load_high", "highest load level, concurrent requests"),
        ("proposed_max_spare", "the MaxSpare value proposed"),
        (
            "proposed_per_hour",
            "spawns + kills per hour with it (simulated)",
        ),
        (
            "proposed_undone_per_hour",
            "of those, undone within a minute",
        ),
        (
            "proposed_mean_children",
            "children alive on average with it",
        ),
        (
            "proposed_extra_mb",
            "memory of the children it keeps beyond today's, on average",
        ),
        (
            "never_kill_max_spare",
            "the MaxSpare at which the pool never kills under that load",
        ),
        (
            "never_kill_mean_children",
            "children alive on average with it",
        ),
    ],
    check: |ctx, out| {
        let Some(c) = &ctx.churn else { return };
        if c.undone_per_hour < CHURN_LIMIT_PER_HOUR || ctx.mpm.pool.num_buckets != 1 {
            return;
        }
        let p = &ctx.mpm.pool;
        let unit = if ctx.mpm.kind.is_threaded() {
            "threads"
        } else {
            "processes"
        };
        let (min_name, max_name) = (ctx.mpm.name(Knob::MinSpare), ctx.mpm.name(Knob::MaxSpare));
        let width = p.max_spare.saturating_sub(p.min_spare);
        let wide = if ctx.mpm.kind.is_threaded() {
            format!(
                "{width} threads, {:.1} children",
                f64::from(width) / f64::from(ctx.mpm.tpc())
            )
        } else {
            format!("{width} processes")
        };
        let mut f = Finding::new(
            &SPARE_BAND_CHURN,
            format!(
                "the spare band {min_name} {} – {max_name} {} ({wide} wide) churns under a fluctuating load: {} spawns + kills per hour, {} of them undone within a minute ({} spawns, {} kills in 30 simulated minutes)",
                p.min_spare,
                p.max_spare,
                per_hour(c.per_hour),
                per_hour(c.undone_per_hour),
                c.spawns,
                c.kills
            ),
        )
        .at_opt(ctx.mpm.span(Knob::MaxSpare), format!("idle {unit} above this are killed"))
        .note(format!(
            "standard noisy load: {:.0}–{:.0} concurrent requests (a third of the {} {unit} MaxRequestWorkers allows, ±30 %), changing every minute, Poisson arrivals, 1 s median requests",
            c.levels.0,
            c.levels.1,
            p.daemons_limit.saturating_mul(ctx.mpm.tpc())
        ))
        .data("spawns", c.spawns)
        .data("kills", c.kills)
        .data("per_hour", round1(c.per_hour))
        .data("undone_per_hour", round1(c.undone_per_hour))
        .data("mean_children", round1(c.mean_children))
        .data("load_low", c.levels.0.round())
        .data("load_high", c.levels.1.round());
        if let Some(w) = ctx.mpm.written(Knob::MinSpare) {
            f = f.also(
                w.directive.span,
                format!("idle {unit} below this make Apache fork"),
            );
        }
        let proposed = ctx.plan.value(Knob::MaxSpare);
        f = f.data("proposed_max_spare", proposed);
        let m = super::capacity::memory(ctx);
        let child_mb = m.front_child_mb + m.embedded_app_mb;
        let kept = |mean: f64| {
            let extra = (mean - c.mean_children).max(0.0);
            format!(
                "{mean:.1} ({:+.1}, about {} more)",
                mean - c.mean_children,
                super::mb(extra * child_mb)
            )
        };
        let why = match &ctx.plan.churn {
            Some(after) => {
                f = f
                    .data("proposed_per_hour", round1(after.per_hour))
                    .data("proposed_undone_per_hour", round1(after.undone_per_hour))
                    .data("proposed_mean_children", round1(after.mean_children))
                    .data(
                        "proposed_extra_mb",
                        ((after.mean_children - c.mean_children).max(0.0) * child_mb).round(),
                    );
                let mut trade = format!(
                    "the trade-off, simulated under the same load: today the pool keeps {:.1} children on average; {max_name} {proposed} keeps {}",
                    c.mean_children,
                    kept(after.mean_children)
                );
                if let Some((never, mean)) = ctx.plan.never_kill.filter(|(n, _)| *n > proposed) {
                    f = f
                        .data("never_kill_max_spare", never)
                        .data("never_kill_mean_children", round1(mean));
                    trade.push_str(&format!(
                        "; a band that never kills ({max_name} {never}) keeps {}",
                        kept(mean)
                    ));
                }
                f = f.note(format!(
                    "{trade} (--process-rss {} MB per child{})",
                    ctx.options.process_rss_mb,
                    if m.embedded_app_mb > 0.0 {
                        format!(
                            ", + {} of embedded application",
                            super::mb(m.embedded_app_mb)
                        )
                    } else {
                        String::new()
                    }
                ));
                if !ctx.mpm.kind.is_threaded() {
                    f = f.note(
                        "Apache's documentation calls a large MaxSpareServers almost always a bad idea: every idle process holds its memory; if memory is short, keep a narrower band and accept the forks",
                    );
                }
                format!(
                    "simulated under the same load: {} spawns + kills per hour, following the load's level; {} an hour undone within a minute",
                    per_hour(after.per_hour),
                    per_hour(after.undone_per_hour)
                )
            }
            None => {
                f = f
                    .data("proposed_per_hour", 0)
                    .data("proposed_undone_per_hour", 0);
                "idle children are then never killed: no churn".to_string()
            }
        };
        let mrw = ctx.plan.value(Knob::MaxRequestWorkers);
        let why = if mrw != ctx.mpm.as_written(Knob::MaxRequestWorkers) {
            format!("with MaxRequestWorkers {mrw} as planned, {why}")
        } else {
            why
        };
        out.push(with_plan(
            ctx,
            f,
            ids::SPARE_BAND_CHURN,
            &[Knob::MaxSpare],
            &why,
        ));
    },
};

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub static UNREACHABLE_CAPACITY: Rule = Rule {
    id: ids::UNREACHABLE_CAPACITY,
    severity: Severity::Warning,
    family: Family::Mpm,
    summary: "Capacity the limits make unreachable: MaxRequestWorkers above ServerLimit × ThreadsPerChild, ThreadsPerChild above ThreadLimit, StartServers above the child limit",
    explanation: "\
What: three limits cap what the other directives ask for. ServerLimit caps the number of \
children: MaxRequestWorkers above ServerLimit × ThreadsPerChild (prefork: above \
ServerLimit) cannot be reached, and worker/event keep the stale MaxRequestWorkers \
internally, so at full load they log `scoreboard is full, not at MaxRequestWorkers` every \
second. ThreadLimit caps ThreadsPerChild. And only min(StartServers, MaxRequestWorkers ÷ \
ThreadsPerChild) children start, silently.

Why it matters: the capacity planned for does not exist; the error log fills at the \
worst moment.

Fix: write what Apache really runs with (lower MaxRequestWorkers, ThreadsPerChild or \
StartServers), or raise the limit (ServerLimit, ThreadLimit) if the capacity was meant — \
both are in the message; the edit keeps today's behaviour.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/unreachable-capacity/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/unreachable-capacity/fixed.conf"),
    }),
    claims: &["mpm/mrw-above-server-limit", "mpm/tpc-above-thread-limit"],
    data: &[
        (
            "directive",
            "the directive asking for more than the limit allows",
        ),
        ("before", "what it asks for"),
        ("after", "what Apache runs with"),
    ],
    check: |ctx, out| {
        let kind = ctx.mpm.kind;
        for (a, d) in adjustments(ctx) {
            if !UNREACHABLE_CODES.contains(&a.code) {
                continue;
            }
            let mut f = adjustment_finding(ctx, &UNREACHABLE_CAPACITY, a, d);
            let alternative = match a.code {
                "mpm/tpc-above-thread-limit" => {
                    format!(
                        "or raise `ThreadLimit` to {} (needs a full restart)",
                        a.before
                    )
                }
                _ if kind.is_threaded() => format!(
                    "or raise `ServerLimit` to {} (needs a full restart) to reach MaxRequestWorkers {}",
                    a.before, ctx.mpm.pool.max_request_workers
                ),
                _ => format!("or raise `ServerLimit` to {}", a.before),
            };
            f = f.note(alternative);
            // StartServers has a finding of its own (below).
            let exclude: &[Knob] = if start_above_limit(&ctx.mpm) {
                &[Knob::StartServers]
            } else {
                &[]
            };
            out.push(with_plan_excluding(
                ctx,
                f,
                ids::UNREACHABLE_CAPACITY,
                &[a.knob, Knob::MaxRequestWorkers],
                exclude,
                "what Apache runs with",
            ));
        }
        if start_above_limit(&ctx.mpm) {
            let limit = child_limit(&ctx.mpm);
            let start = ctx.mpm.pool.start_servers;
            let why = if kind.is_threaded() {
                format!(
                    "MaxRequestWorkers {} ÷ ThreadsPerChild {}",
                    knob_mrw(ctx),
                    ctx.mpm.tpc()
                )
            } else {
                format!("MaxRequestWorkers {}", ctx.mpm.pool.max_request_workers)
            };
            let f = Finding::new(
                &UNREACHABLE_CAPACITY,
                format!(
                    "StartServers {start} asks for more children than {why} allows: only {limit} start (silently)"
                ),
            )
            .at_opt(ctx.mpm.span(Knob::StartServers), format!("{limit} start"))
            .data("directive", "StartServers")
            .data("before", start)
            .data("after", limit);
            // The other knobs the limits change are on the findings above.
            let others: Vec<Knob> = crate::context::KNOBS
                .iter()
                .copied()
                .filter(|k| *k != Knob::StartServers)
                .collect();
            let exclude: &[Knob] = if adjustments(ctx)
                .iter()
                .any(|(a, _)| UNREACHABLE_CODES.contains(&a.code))
            {
                &others
            } else {
                &[]
            };
            out.push(with_plan_excluding(
                ctx,
                f,
                ids::UNREACHABLE_CAPACITY,
                &[Knob::StartServers],
                exclude,
                "what Apache starts",
            ));
        }
    },
};

fn knob_mrw(ctx: &Ctx<'_>) -> i64 {
    crate::context::knob_value(&ctx.mpm.pool, Knob::MaxRequestWorkers)
}

/// Approximate bytes of one thread slot of the scoreboard (httpd 2.4's
/// `worker_score` on 64-bit Linux).
pub const WORKER_SCORE_BYTES: u64 = 352;
/// Approximate bytes of one process slot (`process_score`).
pub const PROCESS_SCORE_BYTES: u64 = 48;

pub static OVERSIZED_SERVER_LIMIT: Rule = Rule {
    id: ids::OVERSIZED_SERVER_LIMIT,
    severity: Severity::Note,
    family: Family::Mpm,
    summary: "ServerLimit far above what MaxRequestWorkers needs",
    explanation: "\
What: ServerLimit sizes the scoreboard — one process slot and ThreadLimit thread slots \
per possible child — for the life of the master process. Only MaxRequestWorkers ÷ \
ThreadsPerChild children (prefork: MaxRequestWorkers) can ever serve; event also uses \
spare slots for children that are stopping, so it is fine with up to twice that. The \
rule fires above twice what the MPM can use.

Why it matters: the unused slots are shared memory allocated for nothing, and a \
ServerLimit much larger than needed hides the real capacity from whoever reads the file.

Fix: lower ServerLimit to what MaxRequestWorkers needs (event: twice that); raise it \
again together with MaxRequestWorkers when the server grows (a change of ServerLimit \
needs a full restart).",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/oversized-server-limit/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/oversized-server-limit/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("server_limit", "ServerLimit"),
        ("needed", "children MaxRequestWorkers allows"),
        ("unused_slots", "process slots that can never be used"),
        ("scoreboard_kb", "their shared memory, approximately"),
    ],
    check: |ctx, out| {
        if !oversized_fires(&ctx.mpm) {
            return;
        }
        let p = &ctx.mpm.pool;
        let needed = child_limit(&ctx.mpm);
        let headroom = server_limit_headroom(ctx.mpm.kind, i64::from(needed));
        let unused = i64::from(p.server_limit) - headroom;
        let per_slot = PROCESS_SCORE_BYTES + u64::from(p.thread_limit.max(1)) * WORKER_SCORE_BYTES;
        let kb = (unused.max(0) as u64 * per_slot).div_ceil(1024);
        let usable = if ctx.mpm.kind == Mpm::Event {
            format!(
                "{needed} run at once (event uses up to {headroom} slots with stopping children)"
            )
        } else {
            format!("{needed} can ever run")
        };
        let f = Finding::new(
            &OVERSIZED_SERVER_LIMIT,
            format!(
                "ServerLimit {} reserves scoreboard slots for {} children, but MaxRequestWorkers lets only {usable}: {unused} slots (about {kb} KB of shared memory) are never used",
                p.server_limit, p.server_limit
            ),
        )
        .at_opt(ctx.mpm.span(Knob::ServerLimit), format!("{unused} slots unused"))
        .data("server_limit", p.server_limit)
        .data("needed", needed)
        .data("unused_slots", unused)
        .data("scoreboard_kb", kb);
        out.push(with_plan(
            ctx,
            f,
            ids::OVERSIZED_SERVER_LIMIT,
            &[Knob::ServerLimit],
            "what MaxRequestWorkers needs",
        ));
    },
};

#[cfg(test)]
mod tests {
    use crate::rules::testing::{fires_and_is_fixed, fixture, lint, only, rule_ids};

    #[test]
    fn startup_adjustment_shows_before_and_after_and_writes_the_value() {
        let f = fires_and_is_fixed("startup-adjustment");
        let a = f
            .iter()
            .find(|f| f.code() == "mpm/mrw-not-multiple")
            .expect("rounded MaxRequestWorkers");
        assert_eq!(a.rule.id, "startup-adjustment");
        assert_eq!(a.diagnostic.label, "MaxRequestWorkers 160 → 150");
        assert!(
            a.diagnostic
                .apache
                .as_deref()
                .is_some_and(|t| t.contains("not an integer multiple"))
        );
        assert!(
            a.diagnostic
                .help
                .as_deref()
                .is_some_and(|h| h.contains("`MaxRequestWorkers 150`"))
        );
        assert!(
            !rule_ids(&lint(&fixture("startup-adjustment", "fixed.conf")))
                .contains(&"startup-adjustment")
        );
    }

    #[test]
    fn spare_not_multiple_says_what_the_thresholds_act_as() {
        let f = fires_and_is_fixed("spare-not-multiple");
        let s = only(&f, "spare-not-multiple");
        assert!(
            s.diagnostic
                .message
                .contains("MinSpareThreads 30 acts as 50"),
            "{}",
            s.diagnostic.message
        );
        assert!(
            s.diagnostic
                .message
                .contains("MaxSpareThreads 130 acts as 125"),
            "{}",
            s.diagnostic.message
        );
    }

    #[test]
    fn startup_kill_off_counts_the_children_and_seconds() {
        let f = fires_and_is_fixed("startup-kill-off");
        let k = only(&f, "startup-kill-off");
        assert!(
            k.diagnostic.message.contains(
                "kills 4 of the 10 children right after start, one per second, over 4 s (t = 1–4 s)"
            ),
            "{}",
            k.diagnostic.message
        );
        assert_eq!(k.data["killed"], 4);
        assert!(
            k.diagnostic
                .help
                .as_deref()
                .is_some_and(|h| h.contains("`StartServers 6`"))
        );
    }

    #[test]
    fn startup_burst_counts_the_forks() {
        let f = fires_and_is_fixed("startup-burst");
        let b = only(&f, "startup-burst");
        assert_eq!(b.data["spawned"], 3);
        assert!(
            b.diagnostic
                .help
                .as_deref()
                .is_some_and(|h| h.contains("`StartServers 3`"))
        );
    }

    #[test]
    fn churn_is_measured_and_the_proposed_band_verified() {
        // Debian's prefork band, 5–10 of 150: nearly every fork is undone
        // within a minute.
        let f = fires_and_is_fixed("spare-band-churn");
        let c = only(&f, "spare-band-churn");
        let num = |k: &str| c.data[k].as_f64().unwrap_or_else(|| panic!("{k}"));
        assert!(num("undone_per_hour") >= 60.0, "{:?}", c.data);
        assert!(num("proposed_undone_per_hour") <= 12.0, "{:?}", c.data);
        // The proposal stops well short of the band that never kills (the
        // old proposal, MaxSpareServers 112), and says what each costs.
        let (proposed, never) = (num("proposed_max_spare"), num("never_kill_max_spare"));
        assert_eq!((proposed, never), (43.0, 112.0));
        let (now, with, far) = (
            num("mean_children"),
            num("proposed_mean_children"),
            num("never_kill_mean_children"),
        );
        assert!(now < with && with < far, "{now} {with} {far}");
        // 20 MB (--process-rss) per child kept beyond today's.
        assert!((num("proposed_extra_mb") - ((with - now) * 20.0).round()).abs() <= 2.0);
        let notes = c.diagnostic.notes.join("\n");
        assert!(notes.contains("MaxSpareServers 43 keeps"), "{notes}");
        assert!(
            notes.contains("never kills (MaxSpareServers 112)"),
            "{notes}"
        );
        assert!(notes.contains("almost always a bad idea"), "{notes}");
    }

    /// The proposal is the smallest calm band: one process narrower, the
    /// standard load undoes more than 12 forks and kills an hour.
    #[test]
    fn the_proposed_band_is_the_narrowest_calm_one() {
        let fires = crate::rules::testing::fixture("spare-band-churn", "fires.conf");
        let c = only(&lint(&fires), "spare-band-churn").clone();
        let proposed = c.data["proposed_max_spare"].as_i64().expect("number");
        let narrower = fires.replace(
            "MaxSpareServers 10",
            &format!("MaxSpareServers {}", proposed - 1),
        );
        let pool = quill_mpm::PoolConfig::from_directives(
            quill_mpm::Mpm::Prefork,
            &quill_mpm::MpmDirectives {
                start_servers: Some(5),
                min_spare_servers: Some(5),
                max_spare_servers: Some(proposed - 1),
                max_request_workers: Some(150),
                ..quill_mpm::MpmDirectives::default()
            },
        );
        let m = crate::sim::churn_of(&pool, 2).expect("simulated");
        assert!(m.undone_per_hour > 12.0, "{m:?}");
        // Narrower than the firing limit, it does not fire either: the
        // rule and the proposal disagree only between 12 and 60 an hour.
        let ids = rule_ids(&lint(&narrower));
        assert_eq!(
            ids.contains(&"spare-band-churn"),
            m.undone_per_hour >= 60.0,
            "{ids:?} {m:?}"
        );
    }

    #[test]
    fn unreachable_capacity_wraps_apache_and_adds_start_servers() {
        let f = fires_and_is_fixed("unreachable-capacity");
        let codes: Vec<_> = f
            .iter()
            .filter(|f| f.rule.id == "unreachable-capacity")
            .map(|f| f.code())
            .collect();
        // Source order: StartServers comes before MaxRequestWorkers.
        assert_eq!(
            codes,
            ["unreachable-capacity", "mpm/mrw-above-server-limit"]
        );
    }

    #[test]
    fn oversized_server_limit_counts_unused_slots() {
        let f = fires_and_is_fixed("oversized-server-limit");
        let o = only(&f, "oversized-server-limit");
        assert_eq!(o.data["unused_slots"], 56);
    }

    #[test]
    fn a_balanced_pool_gives_no_mpm_finding() {
        let text = "LoadModule mpm_event_module m.so\nListen 80\nServerName a.example\n\
                    StartServers 2\nMinSpareThreads 25\nMaxSpareThreads 125\nThreadsPerChild 25\nMaxRequestWorkers 150\n";
        let ids = rule_ids(&lint(text));
        assert_eq!(ids, ["memory-estimate"]);
    }
}
