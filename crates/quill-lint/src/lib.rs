//! # quill-lint — what an Apache + mod_wsgi configuration will really do
//!
//! ```text
//!  ParsedConfig (spans) ─┐
//!                        ├─▶ Ctx: MPM as written / as Apache runs it ──▶ rules (one definition each:
//!  Resolved (model,     ─┘        start-up run, churn run (quill-sim)       id, severity, summary,
//!   resolver diagnostics)         tier assessment                           explanation, check)
//!                                 Plan: one fix for every MPM finding            │
//!                                                                                ▼
//!                                          findings (diagnostic + edits + numbers) ──▶ human / JSON / SARIF
//! ```
//!
//! Rules reuse what the configuration reader already knows: Apache's
//! start-up adjustments and mod_wsgi's errors arrive as `quill-config`
//! diagnostics, which the rules wrap with a rule id and the edit that fixes
//! them. Numbers come from the simulator running the full pool controller (quill-mpm)
//! (start-up kill-off, churn under a standard noisy load) or from closed
//! forms (capacity, memory).
//!
//! Pure: no clock, no environment, no file access — the caller parses.
//!
//! ```
//! use std::path::Path;
//! use quill_config::fs::MemFs;
//! use quill_config::syntax::{parse_str, ParseOptions};
//! use quill_config::{resolve, ResolveOptions};
//!
//! let text = "LoadModule mpm_worker_module m.so\nListen 80\nServerName a.example\n\
//!             StartServers 10\nMinSpareThreads 25\nMaxSpareThreads 75\n";
//! let parsed = parse_str(Path::new("/etc/httpd.conf"), text, &MemFs::new(), &ParseOptions::default());
//! let resolved = resolve(&parsed, &ResolveOptions::default());
//! let report = quill_lint::check(&parsed, &resolved, &quill_lint::LintOptions::default());
//! let kill_off = report.findings.iter().find(|f| f.rule.id == "startup-kill-off").unwrap();
//! assert!(kill_off.diagnostic.message.contains("7 of the 10 children"));
//! ```

pub mod context;
pub mod finding;
pub mod output;
pub mod plan;
pub mod rule;
pub mod rules;
pub mod sim;
pub mod tier;

use quill_config::source::SourceMap;
use quill_config::syntax::ParsedConfig;
use quill_config::{Resolved, Severity};

pub use context::{Ctx, DEFAULT_DAEMON_RSS_MB, DEFAULT_PROCESS_RSS_MB, LintOptions, knob_edit};
pub use finding::{Edit, EditConflict, Finding, apply_edits};
pub use rule::{Example, Family, Rule, rules_markdown};
pub use rules::{RULES, find};

/// Everything `quill check` found.
#[derive(Debug, Clone)]
pub struct Report {
    /// In source order (files in the order read), findings without a place last.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity() == severity)
            .count()
    }

    /// Every suggested edit.
    pub fn edits(&self) -> impl Iterator<Item = &Edit> {
        self.findings.iter().flat_map(|f| f.edits.iter())
    }

    /// Apply every suggested edit; the new text of each changed file.
    pub fn fixed_files(
        &self,
        sources: &SourceMap,
    ) -> Result<std::collections::BTreeMap<std::path::PathBuf, String>, EditConflict> {
        apply_edits(sources, self.edits())
    }
}

/// Run every rule over a configuration.
pub fn check(parsed: &ParsedConfig, resolved: &Resolved, options: &LintOptions) -> Report {
    let ctx = Ctx::new(parsed, resolved, options);
    let mut findings = Vec::new();
    for rule in RULES {
        (rule.check)(&ctx, &mut findings);
    }
    // Source order (a stable sort keeps each rule's own order within a
    // line); the summaries (unknown directives, memory) come last.
    findings.sort_by_key(|f| {
        let summary = [rules::ids::UNKNOWN_DIRECTIVES, rules::ids::MEMORY_ESTIMATE]
            .iter()
            .position(|id| *id == f.rule.id);
        match (summary, f.diagnostic.span) {
            (Some(i), _) => (2, i as u32, 0),
            (None, Some(s)) => (0, s.file.0, s.start),
            (None, None) => (1, 0, 0),
        }
    });
    Report { findings }
}
