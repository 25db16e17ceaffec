//! Every rule, one definition each (see [`crate::rule::Rule`]), grouped by
//! family: one file per family, the tests beside the rules.

pub mod capacity;
pub mod config;
pub mod keepalive;
pub mod mpm;
pub mod proxy;
pub mod wsgi;

use quill_mpm::Knob;

use crate::context::Ctx;
use crate::finding::{Edit, Finding};
use crate::rule::Rule;

/// Rule ids, for code that refers to a rule by name.
pub mod ids {
    pub const CONFIG_ERROR: &str = "config-error";
    pub const CONFIG_WARNING: &str = "config-warning";
    pub const CONFIG_NOTE: &str = "config-note";
    pub const UNKNOWN_DIRECTIVES: &str = "unknown-directives";
    pub const STARTUP_ADJUSTMENT: &str = "startup-adjustment";
    pub const SPARE_NOT_MULTIPLE: &str = "spare-not-multiple";
    pub const STARTUP_KILL_OFF: &str = "startup-kill-off";
    pub const STARTUP_BURST: &str = "startup-burst";
    pub const SPARE_BAND_CHURN: &str = "spare-band-churn";
    pub const UNREACHABLE_CAPACITY: &str = "unreachable-capacity";
    pub const OVERSIZED_SERVER_LIMIT: &str = "oversized-server-limit";
    pub const KEEPALIVE_PINNING: &str = "keepalive-pinning";
    pub const WSGI_DUPLICATE_HTTPS_GROUP: &str = "wsgi-duplicate-https-group";
    pub const WSGI_GROUP_NOT_VISIBLE: &str = "wsgi-group-not-visible";
    pub const WSGI_GROUP_DEFINED_LATER: &str = "wsgi-group-defined-later";
    pub const WSGI_REDUNDANT_IMPORT: &str = "wsgi-redundant-import";
    pub const WSGI_OPTIONS_ON_ALIAS: &str = "wsgi-options-on-alias";
    pub const WSGI_SUB_INTERPRETER: &str = "wsgi-sub-interpreter";
    pub const WSGI_UNUSED_DAEMON: &str = "wsgi-unused-daemon";
    pub const TIER_CAPACITY: &str = "tier-capacity";
    pub const DAEMON_TIERS: &str = "daemon-tiers";
    pub const MEMORY_ESTIMATE: &str = "memory-estimate";
    pub const REMOTEIP_TRUSTS_EVERYONE: &str = "remoteip-trusts-everyone";
}

/// Every rule, in the order docs/rules.md lists them and checks run.
pub static RULES: &[&Rule] = &[
    &config::CONFIG_ERROR,
    &config::CONFIG_WARNING,
    &config::CONFIG_NOTE,
    &config::UNKNOWN_DIRECTIVES,
    &mpm::STARTUP_ADJUSTMENT,
    &mpm::SPARE_NOT_MULTIPLE,
    &mpm::STARTUP_KILL_OFF,
    &mpm::STARTUP_BURST,
    &mpm::SPARE_BAND_CHURN,
    &mpm::UNREACHABLE_CAPACITY,
    &mpm::OVERSIZED_SERVER_LIMIT,
    &keepalive::KEEPALIVE_PINNING,
    &wsgi::WSGI_DUPLICATE_HTTPS_GROUP,
    &wsgi::WSGI_GROUP_NOT_VISIBLE,
    &wsgi::WSGI_GROUP_DEFINED_LATER,
    &wsgi::WSGI_REDUNDANT_IMPORT,
    &wsgi::WSGI_OPTIONS_ON_ALIAS,
    &wsgi::WSGI_SUB_INTERPRETER,
    &wsgi::WSGI_UNUSED_DAEMON,
    &capacity::TIER_CAPACITY,
    &capacity::DAEMON_TIERS,
    &capacity::MEMORY_ESTIMATE,
    &proxy::REMOTEIP_TRUSTS_EVERYONE,
];

/// A rule by id, or the rule that reports a resolver diagnostic code
/// (`mpm/mrw-not-multiple` → `startup-adjustment`; any other `syntax/…`,
/// `config/…`, `wsgi/…` code → its `config-*` pass-through rule).
pub fn find(id_or_code: &str) -> Option<&'static Rule> {
    let wanted = id_or_code.trim();
    if let Some(r) = RULES.iter().find(|r| r.id.eq_ignore_ascii_case(wanted)) {
        return Some(r);
    }
    if let Some(r) = RULES.iter().find(|r| r.claims_code(wanted)) {
        return Some(r);
    }
    if wanted.contains('/') {
        return Some(&config::CONFIG_WARNING);
    }
    None
}

/// Whether some rule other than the pass-through ones reports `code`.
pub fn claimed(code: &str) -> bool {
    RULES.iter().any(|r| r.claims_code(code))
}

/// The knobs a finding of `rule` is about: `own` plus every knob the plan
/// changed because of `rule`; with their planned values where they differ
/// from what is written.
pub fn plan_edits(
    ctx: &Ctx<'_>,
    rule: &str,
    own: &[Knob],
    exclude: &[Knob],
) -> Vec<(Knob, i64, Edit)> {
    let changed = ctx.plan.changed(&ctx.mpm);
    crate::context::KNOBS
        .iter()
        .copied()
        .filter(|k| changed.contains(k) && !exclude.contains(k))
        .filter(|&k| own.contains(&k) || ctx.plan.caused_by(k, rule))
        .filter_map(|k| {
            let v = ctx.plan.value(k);
            ctx.knob_edit(k, v).map(|e| (k, v, e))
        })
        .collect()
}

/// Attach the plan's edits for `rule` to a finding, with a help line that
/// names every directive line to write.
pub fn with_plan(ctx: &Ctx<'_>, f: Finding, rule: &str, own: &[Knob], why: &str) -> Finding {
    with_plan_excluding(ctx, f, rule, own, &[], why)
}

/// [`with_plan`] leaving out `exclude` (shown by another finding of the
/// same rule).
pub fn with_plan_excluding(
    ctx: &Ctx<'_>,
    f: Finding,
    rule: &str,
    own: &[Knob],
    exclude: &[Knob],
    why: &str,
) -> Finding {
    let edits = plan_edits(ctx, rule, own, exclude);
    if edits.is_empty() {
        return f;
    }
    let lines = plan_lines(ctx, &edits);
    let others: Vec<&str> = edits
        .iter()
        .flat_map(|(k, _, _)| {
            ctx.plan.causes[crate::context::knob_index(*k)]
                .iter()
                .copied()
        })
        .filter(|c| *c != rule)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let also = if others.is_empty() {
        String::new()
    } else {
        format!("; also fixes {}", others.join(", "))
    };
    let why = if why.is_empty() {
        also.trim_start_matches("; ").to_string()
    } else {
        format!("{why}{also}")
    };
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" — {why}")
    };
    let f = f.help(format!("write {}{why}", join_and(&lines)));
    f.edits(edits.into_iter().map(|(_, _, e)| e))
}

/// What a help line says of each planned edit: `` `Name v` (instead of
/// `Name w`) ``.
pub fn plan_lines(ctx: &Ctx<'_>, edits: &[(Knob, i64, Edit)]) -> Vec<String> {
    edits
        .iter()
        .map(|(k, v, _)| {
            let name = ctx.mpm.name(*k);
            match ctx.mpm.written(*k) {
                Some(w) => format!("`{name} {v}` (instead of `{name} {}`)", w.value),
                None => format!(
                    "`{name} {v}` (new line; the default is {})",
                    ctx.mpm.as_written(*k)
                ),
            }
        })
        .collect()
}

/// `a`, `a and b`, `a, b and c`.
pub fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Megabytes, rounded (`1.2 GB` above 1000 MB).
pub fn mb(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1} TB", v / 1_000_000.0)
    } else if v >= 1000.0 {
        format!("{:.1} GB", v / 1000.0)
    } else {
        format!("{} MB", v.round() as i64)
    }
}

/// `1 child`, `3 children`.
pub fn children(n: impl Into<u64>) -> String {
    let n = n.into();
    if n == 1 {
        "1 child".to_string()
    } else {
        format!("{n} children")
    }
}

/// A per-hour figure with at most one decimal.
pub fn per_hour(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

#[cfg(test)]
pub(crate) mod testing;
