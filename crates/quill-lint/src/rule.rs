//! A lint rule, defined once, as data: its id, severity, one-line summary,
//! explanation (what, why it matters, an example and its fix), the resolver
//! diagnostics it reports, the numbers it adds to JSON, and the check.
//!
//! Everything users read about a rule — `quill check --explain RULE`,
//! docs/rules.md, the SARIF rule table — is generated from these
//! definitions ([`crate::rules::RULES`]).

use std::fmt::Write as _;

use quill_config::Severity;

use crate::context::Ctx;
use crate::finding::Finding;

/// One rule.
#[derive(Debug)]
pub struct Rule {
    /// Stable identifier, kebab-case (`startup-kill-off`).
    pub id: &'static str,
    /// Severity of its findings (wrapped resolver diagnostics keep theirs
    /// only in the `config-*` pass-through rules).
    pub severity: Severity,
    /// Which part of the issue's list it belongs to, for the docs' grouping.
    pub family: Family,
    /// One line: what the rule finds.
    pub summary: &'static str,
    /// Markdown: what happens, why it matters, how to fix it.
    pub explanation: &'static str,
    /// A configuration that fires the rule (a test fixture, so it is known
    /// to fire) and the same configuration with the suggested edits applied.
    pub example: Option<Example>,
    /// Codes of `quill-config` diagnostics this rule reports as its own
    /// findings (the resolver computes them; the rule adds the edit).
    pub claims: &'static [&'static str],
    /// Keys of the finding's `data` object in JSON and their meaning.
    pub data: &'static [(&'static str, &'static str)],
    /// The check: reads the context, pushes findings.
    pub check: fn(&Ctx<'_>, &mut Vec<Finding>),
}

/// An example for the explanation.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// The configuration that fires the rule.
    pub fires: &'static str,
    /// The same configuration after the suggested edits.
    pub fixed: &'static str,
}

/// Groups of rules, in the order docs/rules.md shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// What `quill config` already reports (Apache's own errors and warnings).
    Config,
    /// The MPM: spare thresholds, start-up, limits.
    Mpm,
    /// Keep-alive.
    KeepAlive,
    /// mod_wsgi daemon mode.
    Wsgi,
    /// Capacity and memory across the front end and the daemon tier.
    Capacity,
    /// Behind a proxy (mod_remoteip).
    Proxy,
}

impl Family {
    pub fn title(self) -> &'static str {
        match self {
            Family::Config => "Configuration as Apache reads it",
            Family::Mpm => "The process pool (MPM)",
            Family::KeepAlive => "Keep-alive",
            Family::Wsgi => "mod_wsgi daemon mode",
            Family::Capacity => "Capacity and memory across tiers",
            Family::Proxy => "Behind a proxy",
        }
    }
}

impl Rule {
    /// Whether this rule reports the resolver diagnostic `code`.
    pub fn claims_code(&self, code: &str) -> bool {
        self.claims.contains(&code)
    }

    /// `--explain`: the rule as plain text for a terminal.
    pub fn explain(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} ({}): {}\n",
            self.id,
            self.severity.as_str(),
            self.summary
        );
        o.push_str(self.explanation.trim_end());
        o.push('\n');
        if let Some(ex) = &self.example {
            let _ = write!(
                o,
                "\nExample (fires):\n\n{}\nFixed (the suggested edits applied):\n\n{}",
                indent(ex.fires),
                indent(ex.fixed)
            );
        }
        if !self.claims.is_empty() {
            let _ = writeln!(
                o,
                "\nReports these diagnostics of the configuration reader: {}",
                self.claims.join(", ")
            );
        }
        o
    }

    /// This rule's section of docs/rules.md.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "### `{}`\n", self.id);
        let _ = writeln!(o, "**{}** — {}\n", self.severity.as_str(), self.summary);
        o.push_str(self.explanation.trim_end());
        o.push_str("\n\n");
        if let Some(ex) = &self.example {
            let _ = writeln!(
                o,
                "Example that fires:\n\n```apache\n{}```\n\nThe same configuration, fixed (by the suggested edits where the rule has any):\n\n```apache\n{}```\n",
                ex.fires, ex.fixed
            );
        }
        if !self.claims.is_empty() {
            let codes: Vec<String> = self.claims.iter().map(|c| format!("`{c}`")).collect();
            let _ = writeln!(
                o,
                "Reports these diagnostics of the configuration reader (`quill config`): {}.\n",
                codes.join(", ")
            );
        }
        if !self.data.is_empty() {
            o.push_str("JSON `data`:\n\n| key | meaning |\n|---|---|\n");
            for (k, v) in self.data {
                let _ = writeln!(o, "| `{k}` | {v} |");
            }
            o.push('\n');
        }
        o
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("    {l}\n")
            }
        })
        .collect()
}

/// docs/rules.md, generated from the definitions.
pub fn rules_markdown(rules: &[&Rule]) -> String {
    let mut o = String::new();
    o.push_str(
        "# `quill check` rules\n\n\
         <!-- Generated from crates/quill-lint/src/rules/*.rs; do not edit.\n     \
         Regenerate with: cargo run -q -p quill -- check --rules-markdown > docs/rules.md -->\n\n\
         Each rule is defined once in `crates/quill-lint/src/rules/`; this page, \
         `quill check --explain RULE` and the SARIF rule table are generated from \
         those definitions. How findings are printed, the JSON and SARIF formats and \
         the exit status are described in [check.md](check.md).\n\n\
         | rule | severity | finds |\n|---|---|---|\n",
    );
    for r in rules {
        let _ = writeln!(
            o,
            "| [`{}`](#{}) | {} | {} |",
            r.id,
            r.id,
            r.severity.as_str(),
            r.summary
        );
    }
    let mut family = None;
    for r in rules {
        if family != Some(r.family) {
            family = Some(r.family);
            let _ = writeln!(o, "\n## {}\n", r.family.title());
        }
        o.push_str(&r.markdown());
    }
    while o.ends_with("\n\n") {
        o.pop();
    }
    o
}
