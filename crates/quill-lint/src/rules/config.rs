//! What the configuration reader already reports — Apache's own errors and
//! warnings — passed through so `quill check` shows everything at once, and
//! the directives Quill does not model, listed once.

use quill_config::Severity;

use super::{claimed, ids};
use crate::context::Ctx;
use crate::finding::Finding;
use crate::rule::{Example, Family, Rule};

fn pass_through(ctx: &Ctx<'_>, out: &mut Vec<Finding>, rule: &'static Rule) {
    for d in ctx.diagnostics.iter() {
        if d.severity == rule.severity && !claimed(d.code) {
            out.push(Finding::wrap(rule, d.clone()));
        }
    }
}

pub static CONFIG_ERROR: Rule = Rule {
    id: ids::CONFIG_ERROR,
    severity: Severity::Error,
    family: Family::Config,
    summary: "Apache refuses to start with this configuration, or rejects every request of a mount",
    explanation: "\
What: an error of the configuration reader (the same as `quill config` prints): a syntax \
error, a directive no loaded module defines (misspelt, or its module not loaded: \
\"Invalid command\"), a directive in a context where httpd rejects it, a missing \
include, a mod_wsgi option httpd refuses, a WSGI mount whose process group does not \
exist. The message \
quotes Apache's or mod_wsgi's own words where they have some (`= apache:`), and the \
bracket shows the reader's code (`config/context`, `wsgi/unknown-process-group`, …).

Why it matters: `apachectl configtest` fails and the server does not start, or (for \
mod_wsgi run-time errors) every request of the mount is answered with 500.

Fix: follow the `help:` line. These findings come with no automatic edit: the right \
fix depends on what was meant.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/config-error/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/config-error/fixed.conf"),
    }),
    claims: &[],
    data: &[],
    check: |ctx, out| pass_through(ctx, out, &CONFIG_ERROR),
};

pub static CONFIG_WARNING: Rule = Rule {
    id: ids::CONFIG_WARNING,
    severity: Severity::Warning,
    family: Family::Config,
    summary: "Apache reads something differently from how it is written",
    explanation: "\
What: a warning of the configuration reader that no other rule reports: a number httpd \
reads with C `atoi` (`25k` is 25, `Timeout abc` is 0), an undefined `${VARIABLE}`, a \
WSGI mount that runs in embedded mode although daemon groups exist, a directive of \
another MPM ignored under `--mpm`.

Why it matters: the server starts, but not with the configuration its author had in \
mind.

Fix: follow the `help:` line.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/config-warning/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/config-warning/fixed.conf"),
    }),
    claims: &[],
    data: &[],
    check: |ctx, out| pass_through(ctx, out, &CONFIG_WARNING),
};

pub static CONFIG_NOTE: Rule = Rule {
    id: ids::CONFIG_NOTE,
    severity: Severity::Note,
    family: Family::Config,
    summary: "Something worth knowing about how Apache reads the configuration",
    explanation: "\
What: a note of the configuration reader: a deprecated directive name (`MaxClients`, \
`MaxRequestsPerChild`), a main server without `ServerName`, a container Quill does not \
model, the `envvars` file that was read.

Why it matters: nothing breaks; the note says what Apache does (and often logs) \
about it.

Fix: follow the `help:` line, if any.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/config-note/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/config-note/fixed.conf"),
    }),
    claims: &[],
    data: &[],
    check: |ctx, out| pass_through(ctx, out, &CONFIG_NOTE),
};

pub static UNKNOWN_DIRECTIVES: Rule = Rule {
    id: ids::UNKNOWN_DIRECTIVES,
    severity: Severity::Note,
    family: Family::Config,
    summary: "Directives Quill does not model, listed once",
    explanation: "\
What: the directives of the configuration that Quill does not model (from loaded modules \
whose effect it does not compute, such as `RewriteEngine`, `SSLProtocol` or \
`ThreadStackSize`, or perhaps from a third-party module it does not know), listed \
once, with how often each appears. They are kept, never fatal, and play no part in \
the checks.

Why it matters: a check can only be as good as what it reads; if one of these changes \
the process model (a third-party MPM setting, say), Quill's numbers do not include it.

Fix: nothing to do. A misspelt directive, or one of a module that is not loaded, is \
an error as in httpd (\"Invalid command\"), reported by `config-error` with the name it \
probably meant or the module to load.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/unknown-directives/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/unknown-directives/fixed.conf"),
    }),
    claims: &[],
    data: &[(
        "directives",
        "`[{name, count}]`, in name order (as the configuration reader lists them)",
    )],
    check: |ctx, out| {
        let unknown = &ctx.config.unknown_directives;
        let Some(first) = unknown.first() else {
            return;
        };
        let names: Vec<String> = unknown
            .iter()
            .map(|u| {
                if u.count > 1 {
                    format!("{} (×{})", u.name, u.count)
                } else {
                    u.name.clone()
                }
            })
            .collect();
        let total: usize = unknown.iter().map(|u| u.count).sum();
        let mut f = Finding::new(
            &UNKNOWN_DIRECTIVES,
            format!(
                "{} directive name(s) Quill does not model ({total} line(s)), kept and left out of the checks: {}",
                unknown.len(),
                names.join(", ")
            ),
        )
        .data(
            "directives",
            unknown
                .iter()
                .map(|u| serde_json::json!({"name": u.name, "count": u.count}))
                .collect::<Vec<_>>(),
        );
        // Point at the earliest of them in the files.
        let order = |l: &quill_config::source::Location| {
            let file = ctx
                .config
                .files
                .iter()
                .position(|f| *f == l.file)
                .unwrap_or(usize::MAX);
            (file, l.line, l.column)
        };
        let earliest = unknown
            .iter()
            .min_by_key(|u| order(&u.first))
            .unwrap_or(first);
        let span = ctx.directive_at(&earliest.first).map(|d| d.name_span);
        f = f.at_opt(span, format!("`{}` is not modelled", earliest.name));
        if span.is_none() {
            f = f.note(format!("first `{}` at {}", earliest.name, earliest.first));
        }
        out.push(f);
    },
};

#[cfg(test)]
mod tests {
    use crate::rules::testing::{fixture, lint, rule_ids};

    #[test]
    fn errors_warnings_and_notes_of_the_reader_pass_through() {
        let r = lint(&fixture("config-error", "fires.conf"));
        let f = r
            .iter()
            .find(|f| f.rule.id == "config-error")
            .expect("fires");
        assert_eq!(f.code(), "config/context");
        assert!(!rule_ids(&lint(&fixture("config-error", "fixed.conf"))).contains(&"config-error"));
        let w = lint(&fixture("config-warning", "fires.conf"));
        assert!(w.iter().any(|f| f.code() == "config/not-a-number"));
        assert!(
            !rule_ids(&lint(&fixture("config-warning", "fixed.conf"))).contains(&"config-warning")
        );
        let n = lint(&fixture("config-note", "fires.conf"));
        assert!(n.iter().any(|f| f.code() == "config/deprecated-name"));
        assert!(!rule_ids(&lint(&fixture("config-note", "fixed.conf"))).contains(&"config-note"));
    }

    #[test]
    fn unknown_directives_are_listed_once_with_counts() {
        let r = lint(&fixture("unknown-directives", "fires.conf"));
        let found: Vec<_> = r
            .iter()
            .filter(|f| f.rule.id == "unknown-directives")
            .collect();
        assert_eq!(found.len(), 1);
        let msg = &found[0].diagnostic.message;
        assert!(msg.contains("RewriteEngine (×2)"), "{msg}");
        assert!(msg.contains("ThreadStackSize"), "{msg}");
        assert!(
            !rule_ids(&lint(&fixture("unknown-directives", "fixed.conf")))
                .contains(&"unknown-directives")
        );
    }
}
