//! Helpers for the rules' unit tests: lint a configuration given as text,
//! read a fixture of tests/data/lint/, apply every suggested edit.

use std::path::{Path, PathBuf};

use quill_config::fs::MemFs;
use quill_config::syntax::{ParseOptions, parse_str};
use quill_config::{ResolveOptions, resolve};

use crate::{Finding, LintOptions, check};

pub const MAIN: &str = "/etc/httpd/httpd.conf";

/// The text of `tests/data/lint/<rule>/<name>`.
pub fn fixture(rule: &str, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/lint")
        .join(rule)
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Findings for a one-file configuration.
pub fn lint(text: &str) -> Vec<Finding> {
    lint_with(text, &LintOptions::default()).0
}

/// Findings, and the text after applying every suggested edit.
pub fn lint_with(text: &str, options: &LintOptions) -> (Vec<Finding>, String) {
    let parsed = parse_str(
        Path::new(MAIN),
        text,
        &MemFs::new(),
        &ParseOptions::default(),
    );
    let resolved = resolve(&parsed, &ResolveOptions::default());
    let report = check(&parsed, &resolved, options);
    let fixed = report
        .fixed_files(&resolved.sources)
        .unwrap_or_else(|e| panic!("conflicting edits: {e}"));
    let text = fixed
        .get(&PathBuf::from(MAIN))
        .cloned()
        .unwrap_or_else(|| text.to_string());
    (report.findings, text)
}

pub fn rule_ids(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.rule.id).collect()
}

/// The one finding of `rule` (panics if there is none or several).
pub fn only<'f>(findings: &'f [Finding], rule: &str) -> &'f Finding {
    let found: Vec<&Finding> = findings.iter().filter(|f| f.rule.id == rule).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {rule} finding, got: {:#?}",
        findings
            .iter()
            .map(|f| (&f.rule.id, &f.diagnostic.message))
            .collect::<Vec<_>>()
    );
    found[0]
}

/// `rule` fires on `fires.conf`, not on `fixed.conf`, and applying the
/// suggested edits to `fires.conf` removes every finding that had an edit
/// without adding any; returns the findings on `fires.conf`.
pub fn fires_and_is_fixed(rule: &str) -> Vec<Finding> {
    let fires = fixture(rule, "fires.conf");
    let (findings, after) = lint_with(&fires, &LintOptions::default());
    assert!(
        rule_ids(&findings).contains(&rule),
        "{rule} does not fire on its fixture: {:?}",
        rule_ids(&findings)
    );
    let fixed = fixture(rule, "fixed.conf");
    let on_fixed = lint(&fixed);
    assert!(
        !rule_ids(&on_fixed).contains(&rule),
        "{rule} fires on fixed.conf: {:#?}",
        on_fixed
            .iter()
            .map(|f| &f.diagnostic.message)
            .collect::<Vec<_>>()
    );
    assert_edits_remove_findings(&findings, &after);
    findings
}

/// After the edits: no finding that had edits is left, no new one appears.
pub fn assert_edits_remove_findings(before: &[Finding], after_text: &str) {
    let after = lint(after_text);
    let fixable: Vec<&str> = before
        .iter()
        .filter(|f| !f.edits.is_empty())
        .map(|f| f.rule.id)
        .collect();
    for f in &after {
        assert!(
            !fixable.contains(&f.rule.id) || f.edits.is_empty() && f.rule.id == "memory-estimate",
            "{} still fires after the edits:\n{}\n{after_text}",
            f.rule.id,
            f.diagnostic.message
        );
        assert!(
            before.iter().any(|b| b.rule.id == f.rule.id),
            "the edits introduced {}: {}\n{after_text}",
            f.rule.id,
            f.diagnostic.message
        );
    }
}
