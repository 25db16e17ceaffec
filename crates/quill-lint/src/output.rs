//! The three output formats: human (rustc-style), JSON (schema in
//! docs/check.md) and SARIF 2.1.0 (for code-review tools).

use std::path::{Path, PathBuf};

use quill_config::diag::{render_color, render_plain};
use quill_config::source::{SourceMap, Span};
use quill_config::{Diagnostic, Severity};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::rule::Family;
use crate::rules::RULES;
use crate::{Finding, Report};

/// Version of the JSON output; bumped on any incompatible change.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The diagnostic as printed: lint findings under their rule id; the
/// configuration reader's own under its code.
fn shown(f: &Finding) -> Diagnostic {
    let mut d = f.diagnostic.clone();
    if f.rule.family != Family::Config {
        d.code = f.rule.id;
    }
    d
}

/// rustc-style text: `file:line:col`, the source line, a caret, Apache's
/// words, notes, and `help:` with the concrete edit; ANSI colours if asked.
pub fn human(report: &Report, sources: &SourceMap, color: bool) -> String {
    let diags: Vec<Diagnostic> = report.findings.iter().map(shown).collect();
    let mut out = if color {
        render_color(&diags, sources)
    } else {
        render_plain(&diags, sources)
    };
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

/// `1 error, 3 warnings, 2 notes; 4 with a suggested edit`.
pub fn summary_line(report: &Report) -> String {
    let n = |s: Severity, one: &str, many: &str| {
        let c = report.count(s);
        format!("{c} {}", if c == 1 { one } else { many })
    };
    let fixable = report
        .findings
        .iter()
        .filter(|f| !f.edits.is_empty())
        .count();
    format!(
        "{}, {}, {}; {fixable} with a suggested edit",
        n(Severity::Error, "error", "errors"),
        n(Severity::Warning, "warning", "warnings"),
        n(Severity::Note, "note", "notes")
    )
}

#[derive(Serialize)]
struct JsonLocation {
    file: PathBuf,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
}

fn location(sources: &SourceMap, span: Span) -> Option<JsonLocation> {
    let f = sources.get(span.file)?;
    let (line, column) = f.line_col(span.start as usize);
    let (end_line, end_column) = f.line_col(span.end as usize);
    Some(JsonLocation {
        file: f.path.clone(),
        line,
        column,
        end_line,
        end_column,
    })
}

#[derive(Serialize)]
struct JsonLabel {
    location: Option<JsonLocation>,
    message: String,
}

#[derive(Serialize)]
struct JsonEdit {
    location: Option<JsonLocation>,
    start_byte: u32,
    end_byte: u32,
    replacement: String,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'static str,
    code: &'static str,
    severity: Severity,
    message: &'a str,
    location: Option<JsonLocation>,
    label: &'a str,
    secondary: Vec<JsonLabel>,
    apache: Option<&'a str>,
    notes: &'a [String],
    help: Option<&'a str>,
    edits: Vec<JsonEdit>,
    data: &'a Map<String, Value>,
}

#[derive(Serialize)]
struct JsonSummary {
    errors: usize,
    warnings: usize,
    notes: usize,
    with_edits: usize,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    tool: Value,
    config: &'a Path,
    mpm: &'static str,
    findings: Vec<JsonFinding<'a>>,
    summary: JsonSummary,
}

/// `--format json` (schema: docs/check.md).
pub fn json(report: &Report, sources: &SourceMap, config: &Path, mpm: &'static str) -> Value {
    let findings = report
        .findings
        .iter()
        .map(|f| {
            let d = &f.diagnostic;
            JsonFinding {
                rule: f.rule.id,
                code: d.code,
                severity: d.severity,
                message: &d.message,
                location: d.span.and_then(|s| location(sources, s)),
                label: &d.label,
                secondary: d
                    .secondary
                    .iter()
                    .map(|l| JsonLabel {
                        location: location(sources, l.span),
                        message: l.message.clone(),
                    })
                    .collect(),
                apache: d.apache.as_deref(),
                notes: &d.notes,
                help: d.help.as_deref(),
                edits: f
                    .edits
                    .iter()
                    .map(|e| JsonEdit {
                        location: location(sources, e.span),
                        start_byte: e.span.start,
                        end_byte: e.span.end,
                        replacement: e.replacement.clone(),
                    })
                    .collect(),
                data: &f.data,
            }
        })
        .collect();
    let out = JsonReport {
        schema_version: JSON_SCHEMA_VERSION,
        tool: json!({"name": "quill", "version": env!("CARGO_PKG_VERSION")}),
        config,
        mpm,
        findings,
        summary: JsonSummary {
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
            notes: report.count(Severity::Note),
            with_edits: report
                .findings
                .iter()
                .filter(|f| !f.edits.is_empty())
                .count(),
        },
    };
    serde_json::to_value(out).unwrap_or(Value::Null)
}

/// A `file://` URI for a path (absolute paths; others relative references).
pub fn file_uri(path: &Path) -> String {
    let s = path.to_string_lossy();
    let mut enc = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                enc.push(char::from(b));
            }
            _ => enc.push_str(&format!("%{b:02X}")),
        }
    }
    if path.is_absolute() {
        format!("file://{enc}")
    } else {
        enc
    }
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

fn region(sources: &SourceMap, span: Span) -> Value {
    match location(sources, span) {
        Some(l) => json!({
            "startLine": l.line,
            "startColumn": l.column,
            "endLine": l.end_line,
            "endColumn": l.end_column,
        }),
        None => json!({}),
    }
}

fn sarif_location(sources: &SourceMap, span: Span, message: &str) -> Value {
    let mut loc = json!({
        "physicalLocation": {
            "artifactLocation": {"uri": file_uri(sources.path(span.file))},
            "region": region(sources, span),
        }
    });
    if !message.is_empty() {
        loc["message"] = json!({"text": message});
    }
    loc
}

/// `--format sarif`: SARIF 2.1.0, one run, every rule in the driver's
/// table, one result per finding with its location, related locations and
/// fixes.
pub fn sarif(report: &Report, sources: &SourceMap) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.explanation},
                "help": {"text": r.explain(), "markdown": r.markdown()},
                "defaultConfiguration": {"level": sarif_level(r.severity)},
                "properties": {"family": r.family.title()},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let d = &f.diagnostic;
            let mut text = d.message.clone();
            if let Some(h) = &d.help {
                text.push_str(&format!(" (help: {h})"));
            }
            let mut r = json!({
                "ruleId": f.rule.id,
                "ruleIndex": RULES.iter().position(|x| x.id == f.rule.id).unwrap_or(0),
                "level": sarif_level(d.severity),
                "message": {"text": text},
                "locations": d.span.map(|s| vec![sarif_location(sources, s, &d.label)]).unwrap_or_default(),
                "properties": {
                    "code": d.code,
                    "apache": d.apache,
                    "notes": d.notes,
                    "data": f.data,
                },
            });
            if !d.secondary.is_empty() {
                r["relatedLocations"] = Value::Array(
                    d.secondary
                        .iter()
                        .enumerate()
                        .map(|(i, l)| {
                            let mut v = sarif_location(sources, l.span, &l.message);
                            v["id"] = json!(i);
                            v
                        })
                        .collect(),
                );
            }
            if !f.edits.is_empty() {
                let mut by_file: Vec<(quill_config::source::FileId, Vec<Value>)> = Vec::new();
                for e in &f.edits {
                    let rep = json!({
                        "deletedRegion": region(sources, e.span),
                        "insertedContent": {"text": e.replacement},
                    });
                    match by_file.iter_mut().find(|(id, _)| *id == e.span.file) {
                        Some((_, v)) => v.push(rep),
                        None => by_file.push((e.span.file, vec![rep])),
                    }
                }
                r["fixes"] = json!([{
                    "description": {"text": d.help.clone().unwrap_or_else(|| "apply the suggested edit".to_string())},
                    "artifactChanges": by_file.into_iter().map(|(id, reps)| json!({
                        "artifactLocation": {"uri": file_uri(sources.path(id))},
                        "replacements": reps,
                    })).collect::<Vec<_>>(),
                }]);
            }
            r
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "quill",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/quill/docs/rules.md",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}
