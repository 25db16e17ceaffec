//! Diagnostics: what went wrong or what Apache will silently change, where,
//! and how to fix it.
//!
//! One [`Diagnostic`] type serves every phase (lexing, parsing, resolving, and
//! later linting). Phases push into a [`Diagnostics`] sink and keep going, so
//! `quill check` can report everything at once, while `quill serve` prints
//! the errors and refuses to start.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel};
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term::{self, Config};
use serde::Serialize;

use crate::source::{FileId, Location, SourceMap, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The configuration cannot be used as written: Apache refuses to start,
    /// or (see [`Stage`]) fails the requests concerned.
    Error,
    /// Apache starts, but changes or ignores something, or it will misbehave.
    Warning,
    /// Information worth knowing (e.g. directives Quill does not model).
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// When an error bites: most stop httpd from starting; some (mod_wsgi's
/// process-group look-ups) only make httpd answer 500 at run time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// httpd refuses to start (`-t` fails).
    #[default]
    StartUp,
    /// httpd starts (`-t` says Syntax OK); the requests concerned fail.
    RunTime,
}

/// A secondary location with its own short message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// For errors: whether httpd refuses to start or fails at run time.
    pub stage: Stage,
    /// Stable identifier, e.g. `syntax/unclosed-section` or `mpm/mrw-not-multiple`.
    pub code: &'static str,
    /// One line: what is wrong.
    pub message: String,
    /// Where (absent for problems with no place, such as a missing file given
    /// on the command line).
    pub span: Option<Span>,
    /// Short text shown under the caret.
    pub label: String,
    pub secondary: Vec<Label>,
    /// Apache httpd's own message for this situation, verbatim, when it has one.
    pub apache: Option<String>,
    /// Further explanation lines.
    pub notes: Vec<String>,
    /// The concrete edit that fixes it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            stage: Stage::StartUp,
            code,
            message: message.into(),
            span: None,
            label: String::new(),
            secondary: Vec::new(),
            apache: None,
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    pub fn note(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Note, code, message)
    }

    /// An error httpd only reports at run time (it starts; requests fail).
    pub fn at_run_time(mut self) -> Self {
        self.stage = Stage::RunTime;
        self.notes.push(
            "httpd starts with this (`apache2ctl -t`: Syntax OK); the error comes at run time"
                .into(),
        );
        self
    }

    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.span = Some(span);
        self.label = label.into();
        self
    }

    pub fn also(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn apache(mut self, text: impl Into<String>) -> Self {
        self.apache = Some(text.into());
        self
    }

    pub fn note_line(mut self, text: impl Into<String>) -> Self {
        self.notes.push(text.into());
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// An error that stops httpd from starting.
    pub fn is_start_up_error(&self) -> bool {
        self.is_error() && self.stage == Stage::StartUp
    }
}

/// Collects diagnostics from every phase.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Whether httpd would refuse to start.
    pub fn has_start_up_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_start_up_error)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// A diagnostic in a machine-readable, self-contained form (paths and
/// line/column instead of byte spans), for `--json` outputs.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnosticJson {
    pub severity: Severity,
    /// `start-up` or `run-time` for errors, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    pub code: &'static str,
    pub message: String,
    pub location: Option<Location>,
    pub label: String,
    pub apache: Option<String>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn to_json(&self, sources: &SourceMap) -> DiagnosticJson {
        DiagnosticJson {
            severity: self.severity,
            stage: self.is_error().then_some(self.stage),
            code: self.code,
            message: self.message.clone(),
            location: self.span.map(|s| sources.location(s)),
            label: self.label.clone(),
            apache: self.apache.clone(),
            notes: self.notes.clone(),
            help: self.help.clone(),
        }
    }
}

// codespan-reporting needs a file database; our SourceMap is one.
impl<'a> Files<'a> for SourceMap {
    type FileId = FileId;
    type Name = String;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<String, FilesError> {
        self.get(id)
            .map(|f| f.path.display().to_string())
            .ok_or(FilesError::FileMissing)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        self.get(id)
            .map(|f| f.text.as_str())
            .ok_or(FilesError::FileMissing)
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, FilesError> {
        let f = self.get(id).ok_or(FilesError::FileMissing)?;
        Ok(f.line_col(byte_index).0 as usize - 1)
    }

    fn line_range(
        &'a self,
        id: FileId,
        line_index: usize,
    ) -> Result<std::ops::Range<usize>, FilesError> {
        let f = self.get(id).ok_or(FilesError::FileMissing)?;
        let mut starts = std::iter::once(0).chain(f.text.match_indices('\n').map(|(i, _)| i + 1));
        let start = starts.nth(line_index).ok_or(FilesError::LineTooLarge {
            given: line_index,
            max: f.text.lines().count(),
        })?;
        let end = f.text[start..]
            .find('\n')
            .map_or(f.text.len(), |i| start + i + 1);
        Ok(start..end)
    }
}

fn to_codespan(d: &Diagnostic) -> CsDiagnostic<FileId> {
    let cs = match d.severity {
        Severity::Error => CsDiagnostic::error(),
        Severity::Warning => CsDiagnostic::warning(),
        Severity::Note => CsDiagnostic::note(),
    }
    .with_code(d.code)
    .with_message(&d.message);
    let mut labels = Vec::new();
    if let Some(span) = d.span {
        labels.push(CsLabel::primary(span.file, span.range()).with_message(&d.label));
    }
    for l in &d.secondary {
        labels.push(CsLabel::secondary(l.span.file, l.span.range()).with_message(&l.message));
    }
    let mut notes = Vec::new();
    if let Some(a) = &d.apache {
        notes.push(format!("apache: {a}"));
    }
    notes.extend(d.notes.iter().cloned());
    if let Some(h) = &d.help {
        notes.push(format!("help: {h}"));
    }
    cs.with_labels(labels).with_notes(notes)
}

/// Render diagnostics rustc-style: `file:line:col`, the source line, a caret,
/// the message, Apache's own text, and a `help:` line. Plain text (no colour).
pub fn render_plain(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let config = Config::default();
    let mut out = String::new();
    for d in diags {
        match term::emit_into_string(&config, sources, &to_codespan(d)) {
            Ok(s) => out.push_str(&s),
            // The span points outside its file: still say what happened.
            Err(_) => out.push_str(&format!(
                "{}[{}]: {}\n",
                d.severity.as_str(),
                d.code,
                d.message
            )),
        }
    }
    out
}

/// Render with ANSI colours (for terminals).
pub fn render_color(diags: &[Diagnostic], sources: &SourceMap) -> String {
    use codespan_reporting::term::termcolor::Ansi;
    use codespan_reporting::term::{Styles, StylesWriter};
    let config = Config::default();
    let styles = Styles::default();
    let mut buf = Vec::new();
    for d in diags {
        let mut writer = StylesWriter::new(Ansi::new(&mut buf), &styles);
        if term::emit_to_write_style(&mut writer, &config, sources, &to_codespan(d)).is_err() {
            buf.extend_from_slice(
                format!("{}[{}]: {}\n", d.severity.as_str(), d.code, d.message).as_bytes(),
            );
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_source_caret_and_help() {
        let mut sources = SourceMap::new();
        let id = sources.add("httpd.conf", "Listen 80\nStartServers ten\n");
        let d = Diagnostic::error("test/demo", "bad number")
            .at(Span::new(id, 23, 26), "not a number")
            .help("write a number, e.g. `StartServers 10`");
        let text = render_plain(&[d], &sources);
        assert!(text.contains("httpd.conf:2:14"), "{text}");
        assert!(text.contains("StartServers ten"), "{text}");
        assert!(text.contains("^^^"), "{text}");
        assert!(text.contains("help: write a number"), "{text}");
    }
}
