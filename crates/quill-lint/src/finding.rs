//! Findings and the text edits that fix them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use quill_config::source::{FileId, SourceMap, Span};
use quill_config::{Diagnostic, Severity};
use serde_json::{Map, Value};

use crate::rule::Rule;

/// What a rule found: a diagnostic (where, what, Apache's words, help), the
/// edits that fix it, and its numbers.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: &'static Rule,
    /// `code` is the rule id, or for a wrapped resolver diagnostic the
    /// resolver's code (e.g. `mpm/mrw-not-multiple`).
    pub diagnostic: Diagnostic,
    /// Applying these (all findings' together) removes the finding.
    pub edits: Vec<Edit>,
    /// The numbers behind the message, for JSON (keys listed in the rule's
    /// `data`).
    pub data: Map<String, Value>,
}

impl Finding {
    /// A finding of `rule` with the rule's severity and id as code.
    pub fn new(rule: &'static Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            diagnostic: Diagnostic::new(rule.severity, rule.id, message),
            edits: Vec::new(),
            data: Map::new(),
        }
    }

    /// Wrap a resolver diagnostic as a finding of `rule` (keeping its
    /// severity and code).
    pub fn wrap(rule: &'static Rule, diagnostic: Diagnostic) -> Finding {
        Finding {
            rule,
            diagnostic,
            edits: Vec::new(),
            data: Map::new(),
        }
    }

    pub fn severity(&self) -> Severity {
        self.diagnostic.severity
    }

    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.diagnostic = self.diagnostic.at(span, label);
        self
    }

    pub fn at_opt(self, span: Option<Span>, label: impl Into<String>) -> Self {
        match span {
            Some(s) => self.at(s, label),
            None => self,
        }
    }

    pub fn also(mut self, span: Span, message: impl Into<String>) -> Self {
        self.diagnostic = self.diagnostic.also(span, message);
        self
    }

    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.diagnostic = self.diagnostic.note_line(text);
        self
    }

    pub fn apache(mut self, text: impl Into<String>) -> Self {
        self.diagnostic = self.diagnostic.apache(text);
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.diagnostic = self.diagnostic.help(text);
        self
    }

    pub fn edit(mut self, edit: Edit) -> Self {
        if !self.edits.contains(&edit) {
            self.edits.push(edit);
        }
        self
    }

    pub fn edits(mut self, edits: impl IntoIterator<Item = Edit>) -> Self {
        for e in edits {
            self = self.edit(e);
        }
        self
    }

    pub fn data(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_string(), value.into());
        self
    }

    /// The finding's code: the rule id, or the configuration reader's code
    /// of a wrapped diagnostic.
    pub fn code(&self) -> &'static str {
        self.diagnostic.code
    }
}

/// Replace the bytes `span` covers with `replacement` (an empty span
/// inserts, an empty replacement deletes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Edit {
    pub span: Span,
    pub replacement: String,
}

impl Edit {
    pub fn replace(span: Span, replacement: impl Into<String>) -> Edit {
        Edit {
            span,
            replacement: replacement.into(),
        }
    }

    pub fn insert(file: FileId, at: usize, text: impl Into<String>) -> Edit {
        Edit {
            span: Span::new(file, at, at),
            replacement: text.into(),
        }
    }

    pub fn delete(span: Span) -> Edit {
        Edit {
            span,
            replacement: String::new(),
        }
    }
}

/// Two edits change the same text differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditConflict {
    pub file: PathBuf,
    pub first: (u32, u32),
    pub second: (u32, u32),
}

impl std::fmt::Display for EditConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "edits overlap in {} (bytes {}..{} and {}..{})",
            self.file.display(),
            self.first.0,
            self.first.1,
            self.second.0,
            self.second.1
        )
    }
}

/// Apply edits to the files they touch; returns the new text of each
/// changed file. Identical edits count once; insertions at the same place
/// keep their order; overlapping changes are a conflict.
pub fn apply_edits<'e>(
    sources: &SourceMap,
    edits: impl IntoIterator<Item = &'e Edit>,
) -> Result<BTreeMap<PathBuf, String>, EditConflict> {
    let mut by_file: BTreeMap<FileId, Vec<&Edit>> = BTreeMap::new();
    for e in edits {
        let list = by_file.entry(e.span.file).or_default();
        if !list.contains(&e) {
            list.push(e);
        }
    }
    let mut out = BTreeMap::new();
    for (file, mut list) in by_file {
        let Some(source) = sources.get(file) else {
            continue;
        };
        // Stable: insertions at one offset keep the order they were made in.
        list.sort_by_key(|e| (e.span.start, e.span.end));
        for pair in list.windows(2) {
            let (a, b) = (pair[0].span, pair[1].span);
            let overlap =
                b.start < a.end || (a.start == b.start && a.end > a.start && b.end > b.start);
            if overlap {
                return Err(EditConflict {
                    file: source.path.clone(),
                    first: (a.start, a.end),
                    second: (b.start, b.end),
                });
            }
        }
        let text = &source.text;
        let mut new = String::with_capacity(text.len());
        let mut pos = 0usize;
        for e in list {
            let (s, t) = (e.span.start as usize, e.span.end as usize);
            let (s, t) = (s.min(text.len()), t.min(text.len()));
            new.push_str(text.get(pos..s).unwrap_or(""));
            new.push_str(&e.replacement);
            pos = pos.max(t);
        }
        new.push_str(text.get(pos..).unwrap_or(""));
        out.insert(source.path.clone(), new);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_replacements_insertions_and_deletions_in_place() {
        let mut sources = SourceMap::new();
        let id = sources.add(
            "/a.conf",
            "StartServers 10\nMaxSpareThreads 75\nKeepAlive On\n",
        );
        let edits = [
            Edit::replace(Span::new(id, 0, 15), "StartServers 3"),
            Edit::insert(id, 35, "ServerLimit 4\n"),
            Edit::delete(Span::new(id, 35, 48)),
            Edit::replace(Span::new(id, 0, 15), "StartServers 3"),
        ];
        let out = apply_edits(&sources, &edits).expect("no conflict");
        assert_eq!(
            out[&PathBuf::from("/a.conf")],
            "StartServers 3\nMaxSpareThreads 75\nServerLimit 4\n"
        );
    }

    #[test]
    fn overlapping_changes_are_a_conflict() {
        let mut sources = SourceMap::new();
        let id = sources.add("/a.conf", "StartServers 10\n");
        let edits = [
            Edit::replace(Span::new(id, 0, 15), "StartServers 3"),
            Edit::replace(Span::new(id, 13, 15), "4"),
        ];
        let err = apply_edits(&sources, &edits).expect_err("conflict");
        assert_eq!((err.first, err.second), ((0, 15), (13, 15)));
    }
}
