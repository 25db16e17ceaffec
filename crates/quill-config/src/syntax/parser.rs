//! Parse-time processing of an Apache configuration, the way httpd 2.4's
//! `ap_build_config` does it: files are read in order, `Include`d files are
//! spliced in where they are named, `Define`/`UnDefine` take effect from
//! their line on, `${NAME}` is expanded (defines first, then the
//! environment), `LoadModule` feeds `<IfModule>`, and the conditional
//! sections are decided as they are met.
//!
//! ```text
//!  file ──lines──▶ ${} expansion ──words──▶ directive / <section> / </section>
//!    ▲                                          │
//!    └──────────── Include (sorted glob) ◀──────┘
//! ```
//!
//! Errors never stop the parse: each is recorded with its span and the
//! parser recovers (a stray close tag is dropped, an unclosed section is
//! closed at end of file), so `quill check` can list everything at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::ast::{Arg, Directive, Node, Section};
use super::lexer::{LineEvent, LogicalLine, expand_vars, logical_lines, words};
use crate::diag::{Diagnostic, Diagnostics};
use crate::fs::ConfigFs;
use crate::source::{FileId, SourceMap, Span};

/// The httpd version `<IfVersion>` compares against: the 2.4 branch the
/// reference documents.
pub const EMULATED_HTTPD_VERSION: (u32, u32, u32) = (2, 4, 62);

/// Modules compiled into Debian's `apache2` binary (`apache2 -l`); they
/// satisfy `<IfModule>` without a `LoadModule`.
pub const DEBIAN_STATIC_MODULES: &[(&str, &str)] = &[
    ("core_module", "core.c"),
    ("so_module", "mod_so.c"),
    ("watchdog_module", "mod_watchdog.c"),
    ("http_module", "http_core.c"),
    ("log_config_module", "mod_log_config.c"),
    ("logio_module", "mod_logio.c"),
    ("version_module", "mod_version.c"),
    ("unixd_module", "mod_unixd.c"),
];

/// Guards against hostile or broken inputs.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// httpd's own `AP_MAX_INCLUDE_DEPTH`.
    pub max_include_depth: usize,
    pub max_file_bytes: u64,
    /// Total bytes parsed, counting a file again each time it is included.
    pub max_total_bytes: u64,
    /// Nesting of containers inside one another.
    pub max_section_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_include_depth: 128,
            max_file_bytes: 16 << 20,
            // ~85× the 5,000-directive benchmark tree; the tree costs ~34 bytes
            // per byte of input, so this bounds a hostile include fan-out to
            // about half a gigabyte.
            max_total_bytes: 16 << 20,
            max_section_depth: 64,
        }
    }
}

/// Inputs of a parse besides the files.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// httpd's `-d`: the ServerRoot before any `ServerRoot` directive. When
    /// absent, the directory of the main configuration file.
    pub server_root: Option<PathBuf>,
    /// httpd's `-D NAME` (visible to `<IfDefine>`, not to `${}`).
    pub defines: Vec<String>,
    /// The environment `${NAME}` falls back to.
    pub env: BTreeMap<String, String>,
    pub limits: Limits,
    /// Modules present without LoadModule; `None` means Debian's list.
    pub static_modules: Option<Vec<(String, String)>>,
    /// `--mpm` (`prefork`, `worker`, `event`): where an Include brings in
    /// another MPM's `mods-enabled/mpm_*.load` or `.conf`, read the chosen
    /// MPM's own file from `mods-available` instead, as `a2dismod`/`a2enmod`
    /// would make it.
    pub mpm: Option<String>,
}

/// A module named by `LoadModule`.
#[derive(Debug, Clone, Serialize)]
pub struct LoadedModule {
    /// Symbol name, e.g. `mpm_event_module`.
    pub name: String,
    pub path: String,
    pub span: Span,
}

/// One `Include`/`IncludeOptional` and the files it brought in.
#[derive(Debug, Clone, Serialize)]
pub struct IncludeRecord {
    pub pattern: String,
    pub optional: bool,
    pub files: Vec<PathBuf>,
    pub span: Span,
}

/// The result of parsing: the tree, every file read, and what went wrong.
#[derive(Debug, Clone)]
pub struct ParsedConfig {
    pub nodes: Vec<Node>,
    pub sources: SourceMap,
    pub diagnostics: Diagnostics,
    /// ServerRoot in force at the end of the parse.
    pub server_root: PathBuf,
    /// `Define`d names with their values, plus `-D` names (value `None`).
    pub defines: BTreeMap<String, Option<String>>,
    pub modules: Vec<LoadedModule>,
    pub includes: Vec<IncludeRecord>,
    /// The main configuration file.
    pub main_file: PathBuf,
    /// Modules compiled in (present without LoadModule), by symbol.
    pub static_modules: Vec<String>,
}

/// Parse the configuration whose main file is `path`.
pub fn parse_file(path: &Path, fs: &dyn ConfigFs, opts: &ParseOptions) -> ParsedConfig {
    let mut p = Parser::new(path, fs, opts);
    let main = p.absolute(path);
    match p.load(&main) {
        Ok(id) => {
            let nodes = p.parse_file_id(id, 0, 0);
            p.finish(nodes)
        }
        Err(msg) => {
            p.diags.push(
                Diagnostic::error(
                    "syntax/unreadable-file",
                    format!("cannot read {}: {msg}", main.display()),
                )
                .help("check the path and its permissions"),
            );
            p.finish(Vec::new())
        }
    }
}

/// Parse a main configuration given as text (its includes still go through `fs`).
pub fn parse_str(name: &Path, text: &str, fs: &dyn ConfigFs, opts: &ParseOptions) -> ParsedConfig {
    let mut p = Parser::new(name, fs, opts);
    let main = p.absolute(name);
    let id = p.sources.add(main.clone(), text);
    p.by_path.insert(main, id);
    let nodes = p.parse_file_id(id, 0, 0);
    p.finish(nodes)
}

struct Parser<'a> {
    fs: &'a dyn ConfigFs,
    opts: &'a ParseOptions,
    sources: SourceMap,
    by_path: BTreeMap<PathBuf, FileId>,
    diags: Diagnostics,
    server_root: PathBuf,
    main_file: PathBuf,
    defines: BTreeMap<String, Option<String>>,
    modules: Vec<LoadedModule>,
    module_names: BTreeSet<String>,
    static_modules: Vec<String>,
    includes: Vec<IncludeRecord>,
    /// Files being parsed, outermost first (for cycle reports).
    include_stack: Vec<PathBuf>,
    total_bytes: u64,
    budget_exhausted: bool,
}

/// An open container of the current file.
struct Open {
    section: Section,
    /// A true conditional (`<IfModule>` …): its children go to the parent.
    transparent: bool,
}

/// The name and arguments of `<Name args>`.
struct OpenTag {
    name: String,
    name_span: Span,
    args: Vec<Arg>,
}

/// Conditionals decided while parsing.
const CONDITIONALS: &[&str] = &["IfDefine", "IfModule", "IfVersion", "IfFile"];

impl<'a> Parser<'a> {
    fn new(main: &Path, fs: &'a dyn ConfigFs, opts: &'a ParseOptions) -> Self {
        let main_abs = normalize(main);
        let server_root = opts.server_root.clone().unwrap_or_else(|| {
            main_abs
                .parent()
                .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
        });
        let mut module_names = BTreeSet::new();
        let statics: Vec<(String, String)> = match &opts.static_modules {
            Some(list) => list.clone(),
            None => DEBIAN_STATIC_MODULES
                .iter()
                .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
                .collect(),
        };
        let static_modules = statics.iter().map(|(sym, _)| sym.clone()).collect();
        for (sym, file) in statics {
            module_names.insert(sym);
            module_names.insert(file);
        }
        Parser {
            fs,
            opts,
            sources: SourceMap::new(),
            by_path: BTreeMap::new(),
            diags: Diagnostics::new(),
            server_root: normalize(&server_root),
            main_file: main_abs,
            defines: opts.defines.iter().map(|d| (d.clone(), None)).collect(),
            modules: Vec::new(),
            module_names,
            static_modules,
            includes: Vec::new(),
            include_stack: Vec::new(),
            total_bytes: 0,
            budget_exhausted: false,
        }
    }

    fn finish(self, nodes: Vec<Node>) -> ParsedConfig {
        ParsedConfig {
            nodes,
            sources: self.sources,
            diagnostics: self.diags,
            server_root: self.server_root,
            defines: self.defines,
            modules: self.modules,
            includes: self.includes,
            main_file: self.main_file,
            static_modules: self.static_modules,
        }
    }

    fn absolute(&self, p: &Path) -> PathBuf {
        normalize(p)
    }

    /// `ap_server_root_relative`.
    fn root_relative(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            normalize(path)
        } else {
            normalize(&self.server_root.join(path))
        }
    }

    fn load(&mut self, path: &Path) -> Result<FileId, String> {
        if let Some(&id) = self.by_path.get(path) {
            return Ok(id);
        }
        let text = self
            .fs
            .read_to_string(path, self.opts.limits.max_file_bytes)
            .map_err(|e| e.to_string())?;
        let id = self.sources.add(path.to_path_buf(), text);
        self.by_path.insert(path.to_path_buf(), id);
        Ok(id)
    }

    /// `depth`: include nesting; `outer_sections`: containers already open in
    /// the files that include this one (the section limit spans includes).
    fn parse_file_id(&mut self, id: FileId, depth: usize, outer_sections: usize) -> Vec<Node> {
        let path = self.sources.path(id).to_path_buf();
        let text = self
            .sources
            .get(id)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        self.total_bytes += text.len() as u64;
        if self.total_bytes > self.opts.limits.max_total_bytes {
            if !self.budget_exhausted {
                self.budget_exhausted = true;
                self.diags.push(
                    Diagnostic::error(
                        "syntax/too-much-input",
                        format!(
                            "the configuration expands to more than {} bytes through includes; stopped reading at {}",
                            self.opts.limits.max_total_bytes,
                            path.display()
                        ),
                    )
                    .help("look for a file that is included many times over"),
                );
            }
            return Vec::new();
        }
        self.include_stack.push(path);
        let (lines, events) = logical_lines(&text);
        for LineEvent::CommentSwallowedLine { start, end } in events {
            self.diags.push(
                Diagnostic::warning(
                    "syntax/comment-continues",
                    "this comment ends with `\\`, so Apache reads the next line as part of the comment",
                )
                .at(Span { file: id, start, end }, "the following line is ignored")
                .help("remove the trailing backslash from the comment"),
            );
        }
        let mut top: Vec<Node> = Vec::new();
        let mut stack: Vec<Open> = Vec::new();
        // Inside a false conditional lines are soaked up and only nesting is
        // tracked, like ap_soak_end_container (no ${} expansion there).
        let mut skip: Vec<(String, Span)> = Vec::new();
        for raw in &lines {
            if !skip.is_empty() {
                self.soak_line(id, raw, &mut skip);
                continue;
            }
            let line = &self.expand(id, raw);
            if let Some(rest) = line.text.strip_prefix("</") {
                self.close_section(id, line, rest, &mut stack, &mut top);
            } else if line.text.starts_with('<') {
                let Some(tag) = self.open_tag(id, line) else {
                    continue;
                };
                let span = line.span(id);
                let transparent = match self.conditional(&tag, span) {
                    Some(true) => true,
                    Some(false) => {
                        skip.push((tag.name, span));
                        continue;
                    }
                    None => false,
                };
                if outer_sections + stack.len() >= self.opts.limits.max_section_depth {
                    self.diags.push(
                        Diagnostic::error(
                            "syntax/too-deep",
                            format!(
                                "containers nested more than {} deep",
                                self.opts.limits.max_section_depth
                            ),
                        )
                        .at(span, "too deep")
                        .help("flatten the nesting"),
                    );
                    skip.push((tag.name, span));
                    continue;
                }
                let section = Section {
                    name: tag.name,
                    name_span: tag.name_span,
                    args: tag.args,
                    span,
                    close_span: None,
                    children: Vec::new(),
                };
                stack.push(Open {
                    section,
                    transparent,
                });
            } else {
                let nodes = self.directive(id, line, depth, &stack, outer_sections + stack.len());
                sink(&mut stack, &mut top).extend(nodes);
            }
        }
        for (name, span) in skip.into_iter().rev() {
            self.unclosed(&name, span);
        }
        while let Some(open) = stack.pop() {
            self.unclosed(&open.section.name, open.section.span);
            attach(open, &mut stack, &mut top);
        }
        self.include_stack.pop();
        top
    }

    fn unclosed(&mut self, name: &str, span: Span) {
        // httpd names the file and line where the section opened.
        let at = self.sources.location(span);
        self.diags.push(
            Diagnostic::error("syntax/unclosed-section", format!("<{name}> is never closed"))
                .at(span, "opened here")
                .apache(format!("{}:{}: <{name}> was not closed.", at.file.display(), at.line))
                .help(format!("add `</{name}>` after the section's last line (a section must close in the file that opens it)")),
        );
    }

    fn expand(&mut self, id: FileId, line: &LogicalLine) -> LogicalLine {
        let defines = &self.defines;
        let env = &self.opts.env;
        let lookup = |name: &str| -> Option<String> {
            match defines.get(name) {
                Some(Some(v)) => Some(v.clone()),
                _ => env.get(name).cloned(),
            }
        };
        let e = expand_vars(line, &lookup);
        for (name, a, b) in e.undefined {
            let span = line.sub_span(id, a, b);
            self.diags.push(
                Diagnostic::warning("syntax/undefined-variable", format!("${{{name}}} is not defined"))
                    .at(span, "left as written")
                    .apache(format!("Config variable ${{{name}}} is not defined"))
                    .help(format!(
                        "add `Define {name} <value>` before this line, or set {name} in the environment (Debian: /etc/apache2/envvars; pass `--envvars FILE` to Quill)"
                    )),
            );
        }
        e.line
    }

    /// Read `<Name args>`; reports a missing `>`.
    fn open_tag(&mut self, id: FileId, line: &LogicalLine) -> Option<OpenTag> {
        let t = &line.text;
        let name_end = t[1..]
            .find(|c: char| c.is_ascii_whitespace() || c == '>')
            .map_or(t.len(), |i| i + 1);
        let name = t[1..name_end].to_string();
        let name_span = line.sub_span(id, 0, name_end);
        if name.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "syntax/bad-section",
                    "a line starting with `<` must open a section, like `<VirtualHost *:80>`",
                )
                .at(line.span(id), "no section name")
                .help("remove the stray `<` or write the section name right after it"),
            );
            return None;
        }
        let Some(gt) = t.rfind('>').filter(|&g| g >= name_end) else {
            self.diags.push(
                Diagnostic::error(
                    "syntax/missing-gt",
                    format!("<{name} is missing its closing `>`"),
                )
                .at(line.span(id), "no `>` on this line")
                .apache(format!("<{name}> directive missing closing '>'"))
                .help(format!("end the line with `>`, e.g. `<{name} ...>`")),
            );
            return None;
        };
        if !t[gt + 1..].trim().is_empty() {
            self.diags.push(
                Diagnostic::warning(
                    "syntax/text-after-gt",
                    format!("text after the `>` of <{name}> is ignored"),
                )
                .at(line.sub_span(id, gt + 1, t.len()), "ignored by Apache")
                .help("move it to its own line (Apache has no trailing comments)"),
            );
        }
        let inner = &t[..gt];
        let args = self.args_of(id, line, inner, name_end);
        Some(OpenTag {
            name,
            name_span,
            args,
        })
    }

    fn args_of(&mut self, id: FileId, line: &LogicalLine, text: &str, from: usize) -> Vec<Arg> {
        words(text, from)
            .into_iter()
            .map(|w| {
                let span = line.sub_span(id, w.start, w.end);
                if w.unterminated {
                    self.diags.push(
                        Diagnostic::warning(
                            "syntax/unterminated-quote",
                            "this quoted argument has no closing quote",
                        )
                        .at(span, "runs to the end of the line")
                        .help("add the closing quote"),
                    );
                }
                Arg {
                    value: w.value,
                    span,
                    quoted: w.quoted,
                }
            })
            .collect()
    }

    fn close_section(
        &mut self,
        id: FileId,
        line: &LogicalLine,
        rest: &str,
        stack: &mut Vec<Open>,
        top: &mut Vec<Node>,
    ) {
        let span = line.span(id);
        let name = rest.trim_end().trim_end_matches('>').trim().to_string();
        if !rest.trim_end().ends_with('>') {
            self.diags.push(
                Diagnostic::error(
                    "syntax/missing-gt",
                    format!("</{name} is missing its closing `>`"),
                )
                .at(span, "no `>`")
                .help(format!("write `</{name}>`")),
            );
        }
        let Some(pos) = stack
            .iter()
            .rposition(|o| o.section.name.eq_ignore_ascii_case(&name))
        else {
            let d = Diagnostic::error(
                "syntax/unmatched-close",
                format!("</{name}> closes nothing"),
            )
            .at(span, "no open section of this name")
            .apache(format!("</{name}> without matching <{name}> section"));
            let d = match stack.last() {
                Some(open) => d
                    .also(
                        open.section.span,
                        format!("the innermost open section is <{}>", open.section.name),
                    )
                    .help(format!("did you mean `</{}>`?", open.section.name)),
                None => d.help("remove this line"),
            };
            self.diags.push(d);
            return;
        };
        // Sections opened after the matching one were never closed.
        while stack.len() > pos + 1 {
            let Some(open) = stack.pop() else { break };
            let want = open.section.name.clone();
            self.diags.push(
                Diagnostic::error(
                    "syntax/mismatched-close",
                    format!("expected </{want}> but found </{name}>"),
                )
                .at(span, format!("closes <{name}>"))
                .also(open.section.span, format!("<{want}> opened here"))
                .apache(format!("Expected </{want}> but saw </{name}>"))
                .help(format!("add `</{want}>` before this line")),
            );
            attach(open, stack, top);
        }
        if let Some(mut open) = stack.pop() {
            open.section.close_span = Some(span);
            attach(open, stack, top);
        }
    }

    /// Inside a false conditional: track nesting until its close tag.
    fn soak_line(&mut self, id: FileId, line: &LogicalLine, skip: &mut Vec<(String, Span)>) {
        let t = &line.text;
        if let Some(rest) = t.strip_prefix("</") {
            let name = rest.trim_end().trim_end_matches('>').trim();
            if let Some((open, open_span)) = skip.last() {
                if open.eq_ignore_ascii_case(name) {
                    skip.pop();
                } else {
                    self.diags.push(
                        Diagnostic::error(
                            "syntax/mismatched-close",
                            format!("expected </{open}> but found </{name}>"),
                        )
                        .at(line.span(id), "inside a skipped section")
                        .also(*open_span, format!("<{open}> opened here"))
                        .apache(format!("Expected </{open}> but saw </{name}>"))
                        .help(format!("add `</{open}>` before this line")),
                    );
                    // Recover like the active parser: close through a match.
                    if let Some(pos) = skip.iter().rposition(|(n, _)| n.eq_ignore_ascii_case(name))
                    {
                        skip.truncate(pos);
                    }
                }
            }
        } else if let Some(rest) = t.strip_prefix('<') {
            let name: String = rest
                .chars()
                .take_while(|c| !c.is_ascii_whitespace() && *c != '>')
                .collect();
            if !name.is_empty() {
                skip.push((name, line.span(id)));
            }
        }
    }

    /// `Some(result)` for a parse-time conditional, `None` for other containers.
    fn conditional(&mut self, tag: &OpenTag, span: Span) -> Option<bool> {
        let kind = CONDITIONALS
            .iter()
            .find(|c| c.eq_ignore_ascii_case(&tag.name))?;
        if tag.args.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "syntax/conditional-without-argument",
                    format!("<{kind}> needs an argument"),
                )
                .at(span, "nothing to test")
                .apache(format!("<{kind}> directive requires an argument"))
                .help(format!("e.g. `<{kind} {}>`", example_condition(kind))),
            );
            return Some(false);
        }
        let result = match *kind {
            "IfVersion" => self.if_version(tag, span),
            _ => {
                let first = &tag.args[0];
                if tag.args.len() > 1 {
                    self.diags.push(
                        Diagnostic::warning(
                            "syntax/conditional-extra-arguments",
                            format!("<{kind}> takes one argument; the rest is ignored"),
                        )
                        .at(
                            tag.args[1].span.to(tag.args[tag.args.len() - 1].span),
                            "ignored",
                        )
                        .help("nest a second conditional to test two things"),
                    );
                }
                let (negate, what) = match first.value.strip_prefix('!') {
                    Some(w) => (true, w),
                    None => (false, first.value.as_str()),
                };
                let truth = match *kind {
                    "IfDefine" => self.defines.contains_key(what),
                    "IfModule" => self.module_names.contains(what),
                    _ => self.fs.exists(&self.root_relative(what)),
                };
                truth != negate
            }
        };
        Some(result)
    }

    fn if_version(&mut self, tag: &OpenTag, span: Span) -> bool {
        let args: Vec<&str> = tag.args.iter().map(|a| a.value.as_str()).collect();
        let (negate, op, ver) = match args.as_slice() {
            [v] => (false, "=", *v),
            [op, v, ..] => match op.strip_prefix('!') {
                Some(o) => (true, if o.is_empty() { "=" } else { o }, *v),
                None => (false, *op, *v),
            },
            [] => return false,
        };
        let (ma, mi, pa) = EMULATED_HTTPD_VERSION;
        let result = if op == "~" || (ver.starts_with('/') && ver.ends_with('/') && ver.len() >= 2)
        {
            let re = if op == "~" {
                ver
            } else {
                &ver[1..ver.len() - 1]
            };
            match regex::Regex::new(re) {
                Ok(r) => r.is_match(&format!("{ma}.{mi}.{pa}")),
                Err(e) => {
                    self.diags.push(
                        Diagnostic::error(
                            "syntax/bad-version-regex",
                            format!("invalid regular expression in <IfVersion>: {e}"),
                        )
                        .at(span, "here")
                        .help("write a valid regular expression, e.g. `<IfVersion ~ ^2\\.4>`"),
                    );
                    false
                }
            }
        } else {
            let parts: Vec<Option<u32>> = ver.split('.').map(|p| p.parse().ok()).collect();
            if parts.is_empty() || parts.len() > 3 || parts.iter().any(Option::is_none) {
                self.diags.push(
                    Diagnostic::error("syntax/bad-version", format!("`{ver}` is not a version"))
                        .at(
                            tag.args[tag.args.len() - 1].span,
                            "expected e.g. 2.4 or 2.4.62",
                        )
                        .help("write `<IfVersion >= 2.4>`"),
                );
                return false;
            }
            let want: Vec<u32> = parts.into_iter().flatten().collect();
            let have = [ma, mi, pa];
            // Only the components written are compared: `= 2.4` is any 2.4.x.
            let ord = have[..want.len()].cmp(&want[..]);
            use std::cmp::Ordering::*;
            match op {
                "=" | "==" => ord == Equal,
                ">" => ord == Greater,
                ">=" => ord != Less,
                "<" => ord == Less,
                "<=" => ord != Greater,
                other => {
                    self.diags.push(
                        Diagnostic::error(
                            "syntax/bad-version-operator",
                            format!("unknown <IfVersion> operator `{other}`"),
                        )
                        .at(tag.args[0].span, "here")
                        .help("use one of = == > >= < <= ~ or /regex/"),
                    );
                    false
                }
            }
        };
        result != negate
    }

    /// A directive line. Returns the nodes it contributes (several for an
    /// Include, none for a parse-time-only directive that failed).
    fn directive(
        &mut self,
        id: FileId,
        line: &LogicalLine,
        depth: usize,
        stack: &[Open],
        sections: usize,
    ) -> Vec<Node> {
        let all = words(&line.text, 0);
        let Some(first) = all.first() else {
            return Vec::new();
        };
        let name = first.value.clone();
        let name_span = line.sub_span(id, first.start, first.end);
        let args = self.args_of(id, line, &line.text, first.end);
        let d = Directive {
            name,
            name_span,
            args,
            span: line.span(id),
        };
        let lower = d.name.to_ascii_lowercase();
        match lower.as_str() {
            "include" | "includeoptional" => {
                return self.include(d, lower == "includeoptional", depth, sections);
            }
            "define" => self.define(&d),
            "undefine" => {
                if let [a] = d.args.as_slice() {
                    self.defines.remove(&a.value);
                } else {
                    self.arg_count(&d, "UnDefine takes one argument", "`UnDefine NAME`");
                }
            }
            "serverroot" => {
                if let [a] = d.args.as_slice() {
                    if stack.iter().any(|o| !o.transparent) {
                        // Context errors are the resolver's; keep the old root.
                    } else {
                        let p = Path::new(&a.value);
                        let root = if p.is_absolute() {
                            normalize(p)
                        } else {
                            normalize(&self.server_root.join(p))
                        };
                        if self.opts.server_root.is_none() && !self.fs.is_dir(&root) {
                            self.diags.push(
                                Diagnostic::warning("syntax/server-root-missing", format!("ServerRoot {} is not a directory on this machine", root.display()))
                                    .at(a.span, "not found")
                                    .apache("ServerRoot must be a valid directory")
                                    .help("pass `--server-root DIR` to read the tree from elsewhere; relative Include paths resolve against it"),
                            );
                        }
                        if self.opts.server_root.is_none() {
                            self.server_root = root;
                        }
                    }
                } else {
                    self.arg_count(
                        &d,
                        "ServerRoot takes one argument",
                        "`ServerRoot /etc/apache2`",
                    );
                }
            }
            "loadmodule" => {
                if let [m, p] = d.args.as_slice() {
                    if self.modules.iter().any(|x| x.name == m.value) {
                        self.diags.push(
                            Diagnostic::warning("syntax/module-loaded-twice", format!("module {} is loaded twice; the second LoadModule is skipped", m.value))
                                .at(d.span, "skipped")
                                .apache(format!("module {} is already loaded, skipping", m.value))
                                .help("remove one of the LoadModule lines (Debian: check mods-enabled for duplicates)"),
                        );
                    } else {
                        for n in module_aliases(&m.value, &p.value) {
                            self.module_names.insert(n);
                        }
                        self.modules.push(LoadedModule {
                            name: m.value.clone(),
                            path: p.value.clone(),
                            span: d.span,
                        });
                    }
                } else {
                    self.arg_count(
                        &d,
                        "LoadModule takes two arguments",
                        "`LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so`",
                    );
                }
            }
            _ => {}
        }
        vec![Node::Directive(d)]
    }

    fn arg_count(&mut self, d: &Directive, fallback: &str, example: &str) {
        // The table knows httpd's wording (with the directive's description).
        let apache = crate::directives::find(&d.name)
            .map_or_else(|| fallback.to_string(), |def| def.apache_arity_error());
        self.diags.push(
            Diagnostic::error(
                "syntax/argument-count",
                format!("{} takes a different number of arguments", d.name),
            )
            .at(d.span, format!("{} argument(s) given", d.args.len()))
            .apache(apache)
            .help(format!("write it as {example}")),
        );
    }

    fn define(&mut self, d: &Directive) {
        match d.args.as_slice() {
            [n] | [n, _] if n.value.contains(':') => {
                self.diags.push(
                    Diagnostic::error(
                        "syntax/bad-define",
                        format!("the variable name `{}` contains `:`", n.value),
                    )
                    .at(n.span, "not allowed")
                    .apache("Variable name must not contain ':'")
                    .help("choose a name without `:`"),
                );
            }
            [n] => {
                self.defines.insert(n.value.clone(), None);
            }
            [n, v] => {
                self.defines.insert(n.value.clone(), Some(v.value.clone()));
            }
            _ => self.arg_count(
                d,
                "Define takes one or two arguments",
                "`Define NAME` or `Define NAME value`",
            ),
        }
    }

    fn include(
        &mut self,
        d: Directive,
        optional: bool,
        depth: usize,
        sections: usize,
    ) -> Vec<Node> {
        let name = if optional {
            "IncludeOptional"
        } else {
            "Include"
        };
        let [arg] = d.args.as_slice() else {
            self.arg_count(
                &d,
                &format!("{name} takes one argument"),
                &format!("`{name} conf.d/*.conf`"),
            );
            return Vec::new();
        };
        let arg = arg.clone();
        if depth + 1 > self.opts.limits.max_include_depth {
            self.diags.push(
                Diagnostic::error("syntax/include-depth", format!("includes nested more than {} deep", self.opts.limits.max_include_depth))
                    .at(d.span, "stopped here")
                    .apache(format!(
                        "Exceeded the maximum include directory nesting level of {}. You have probably a recursion somewhere.",
                        self.opts.limits.max_include_depth
                    ))
                    .help("look for files that include each other"),
            );
            return Vec::new();
        }
        let pattern = self.root_relative(&arg.value);
        let files = match self.expand_include(&pattern) {
            Ok(f) => f,
            Err(IncludeError::NoMatch) if optional => Vec::new(),
            Err(IncludeError::NoMatch) => {
                let (dir, wild) = split_wildcard_dir(&pattern);
                self.diags.push(
                    Diagnostic::error("syntax/include-no-match", format!("no file matches {}", pattern.display()))
                        .at(arg.span, "matches nothing")
                        .apache(format!("Include/IncludeOptional: No matches for the wildcard '{}' in '{}', failing", wild, dir.display()))
                        .help("use IncludeOptional when the files may be absent, or fix the path (relative paths start at ServerRoot)"),
                );
                Vec::new()
            }
            Err(IncludeError::NoDirectory(_)) if optional => Vec::new(),
            Err(IncludeError::NoDirectory(dir)) => {
                let why = if self.fs.exists(&dir) {
                    "Not a directory"
                } else {
                    "No such file or directory"
                };
                self.diags.push(
                    Diagnostic::error(
                        "syntax/include-missing",
                        format!(
                            "cannot include {}: {} does not exist",
                            pattern.display(),
                            dir.display()
                        ),
                    )
                    .at(
                        arg.span,
                        format!("relative to ServerRoot {}", self.server_root.display()),
                    )
                    .apache(format!(
                        "Include/IncludeOptional: Could not open directory {}: {why}",
                        dir.display()
                    ))
                    .help(
                        "fix the path, set ServerRoot (or `--server-root`), or use IncludeOptional",
                    ),
                );
                Vec::new()
            }
            Err(IncludeError::Missing(msg)) if optional => {
                let _ = msg;
                Vec::new()
            }
            Err(IncludeError::Missing(msg)) => {
                self.diags.push(
                    Diagnostic::error(
                        "syntax/include-missing",
                        format!("cannot include {}: {msg}", pattern.display()),
                    )
                    .at(
                        arg.span,
                        format!("relative to ServerRoot {}", self.server_root.display()),
                    )
                    .apache(format!(
                        "Could not open configuration file {}: {msg}",
                        pattern.display()
                    ))
                    .help(
                        "fix the path, set ServerRoot (or `--server-root`), or use IncludeOptional",
                    ),
                );
                Vec::new()
            }
        };
        let files = self.swap_mpm_files(files, d.span);
        let mut nodes = Vec::new();
        let mut record = IncludeRecord {
            pattern: arg.value.clone(),
            optional,
            files: Vec::new(),
            span: d.span,
        };
        for file in files {
            if let Some(pos) = self.include_stack.iter().position(|p| *p == file) {
                let chain: Vec<String> = self.include_stack[pos..]
                    .iter()
                    .chain(std::iter::once(&file))
                    .map(|p| p.display().to_string())
                    .collect();
                self.diags.push(
                    Diagnostic::error("syntax/include-cycle", format!("include cycle: {}", chain.join(" → ")))
                        .at(d.span, "includes a file that is already being read")
                        .apache("Exceeded the maximum include directory nesting level of 128. You have probably a recursion somewhere.")
                        .help("remove the Include that closes the loop"),
                );
                continue;
            }
            match self.load(&file) {
                Ok(id) => {
                    record.files.push(file.clone());
                    nodes.extend(self.parse_file_id(id, depth + 1, sections));
                }
                Err(msg) => {
                    self.diags.push(
                        Diagnostic::error(
                            "syntax/include-unreadable",
                            format!("cannot read {}: {msg}", file.display()),
                        )
                        .at(d.span, "included here")
                        .apache(format!(
                            "Could not open configuration file {}: {msg}",
                            file.display()
                        ))
                        .help("check the file's permissions and size"),
                    );
                }
            }
        }
        self.includes.push(record);
        nodes
    }

    /// `--mpm`: another MPM's Debian module files replaced by the chosen
    /// MPM's, where the tree has them (reported as a note).
    fn swap_mpm_files(&mut self, files: Vec<PathBuf>, span: Span) -> Vec<PathBuf> {
        let Some(chosen) = self.opts.mpm.clone() else {
            return files;
        };
        files
            .into_iter()
            .map(|f| {
                let Some((other, ext)) = debian_mpm_file(&f) else {
                    return f;
                };
                let (Some(dir), Some(root)) = (f.parent(), f.parent().and_then(Path::parent))
                else {
                    return f;
                };
                if other == chosen || !dir.ends_with("mods-enabled") {
                    return f;
                }
                let own = root
                    .join("mods-available")
                    .join(format!("mpm_{chosen}.{ext}"));
                if !self.fs.exists(&own) {
                    return f;
                }
                self.diags.push(
                    Diagnostic::note(
                        "config/mpm-files-swapped",
                        format!(
                            "--mpm {chosen}: read {} instead of {}",
                            own.display(),
                            f.display()
                        ),
                    )
                    .at(span, format!("includes mpm_{other}.{ext}"))
                    .note_line(format!(
                        "as after `a2dismod mpm_{other}; a2enmod mpm_{chosen}`"
                    )),
                );
                own
            })
            .collect()
    }

    /// Files an Include names, in Apache's order: a directory is read
    /// recursively; wildcards (in any path component) match entries sorted
    /// by byte order, dot-files only when the pattern starts with a dot.
    fn expand_include(&self, pattern: &Path) -> Result<Vec<PathBuf>, IncludeError> {
        if !has_wildcard(&pattern.to_string_lossy()) {
            if self.fs.is_dir(pattern) {
                let mut out = Vec::new();
                self.dir_files(pattern, &mut out, 0);
                return Ok(out);
            }
            if self.fs.exists(pattern) {
                return Ok(vec![pattern.to_path_buf()]);
            }
            return Err(IncludeError::Missing(
                "No such file or directory".to_string(),
            ));
        }
        let (dir, _) = split_wildcard_dir(pattern);
        if !self.fs.is_dir(&dir) {
            return Err(IncludeError::NoDirectory(dir));
        }
        let mut candidates = vec![PathBuf::from("/")];
        let comps: Vec<String> = pattern
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let mut next = Vec::new();
            for base in &candidates {
                if has_wildcard(comp) {
                    let Ok(pat) = glob::Pattern::new(comp) else {
                        continue;
                    };
                    let opts = glob::MatchOptions {
                        case_sensitive: true,
                        require_literal_separator: true,
                        require_literal_leading_dot: true,
                    };
                    let mut names = self.fs.read_dir(base).unwrap_or_default();
                    names.sort();
                    for n in names {
                        if n == "." || n == ".." || !pat.matches_with(&n, opts) {
                            continue;
                        }
                        let p = base.join(&n);
                        // Intermediate components must be directories.
                        if last || self.fs.is_dir(&p) {
                            next.push(p);
                        }
                    }
                } else {
                    next.push(base.join(comp));
                }
            }
            candidates = next;
        }
        let mut out = Vec::new();
        for c in candidates {
            if self.fs.is_dir(&c) {
                self.dir_files(&c, &mut out, 0);
            } else if self.fs.exists(&c) {
                out.push(c);
            }
        }
        if out.is_empty() {
            Err(IncludeError::NoMatch)
        } else {
            Ok(out)
        }
    }

    fn dir_files(&self, dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
        if depth > self.opts.limits.max_include_depth {
            return;
        }
        let mut names = self.fs.read_dir(dir).unwrap_or_default();
        names.sort();
        for n in names {
            if n == "." || n == ".." {
                continue;
            }
            let p = dir.join(&n);
            if self.fs.is_dir(&p) {
                self.dir_files(&p, out, depth + 1);
            } else {
                out.push(p);
            }
        }
    }
}

enum IncludeError {
    NoMatch,
    Missing(String),
    /// The directory before the first wildcard does not exist.
    NoDirectory(PathBuf),
}

fn sink<'s>(stack: &'s mut [Open], top: &'s mut Vec<Node>) -> &'s mut Vec<Node> {
    match stack.last_mut() {
        Some(open) => &mut open.section.children,
        None => top,
    }
}

/// Put a finished section where it belongs: a true conditional dissolves
/// into its parent, any other container becomes a node.
fn attach(open: Open, stack: &mut [Open], top: &mut Vec<Node>) {
    let parent = sink(stack, top);
    if open.transparent {
        parent.extend(open.section.children);
    } else {
        parent.push(Node::Section(open.section));
    }
}

/// `mpm_event.conf` → (`event`, `conf`), for Debian's MPM module files.
fn debian_mpm_file(p: &Path) -> Option<(String, String)> {
    let name = p.file_name()?.to_str()?;
    let (stem, ext) = name.rsplit_once('.')?;
    let mpm = stem.strip_prefix("mpm_")?;
    (["prefork", "worker", "event"].contains(&mpm) && ["load", "conf"].contains(&ext))
        .then(|| (mpm.to_string(), ext.to_string()))
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// For Apache's messages: the directory before the first wildcard
/// component, and that component.
fn split_wildcard_dir(p: &Path) -> (PathBuf, String) {
    let mut dir = PathBuf::from("/");
    for c in p.components() {
        if let Component::Normal(s) = c {
            let s = s.to_string_lossy();
            if has_wildcard(&s) {
                return (dir, s.into_owned());
            }
            dir.push(&*s);
        }
    }
    (dir, String::new())
}

/// Names under which `<IfModule>` finds a loaded module: its symbol
/// (`ssl_module`) and its source file name (`mod_ssl.c`, derived from the
/// symbol and from the shared object's name; the MPMs' sources are
/// `event.c`, `worker.c`, `prefork.c`).
fn module_aliases(symbol: &str, path: &str) -> Vec<String> {
    let mut out = vec![symbol.to_string()];
    if let Some(stem) = symbol.strip_suffix("_module") {
        out.push(format!("mod_{stem}.c"));
        if let Some(mpm) = stem.strip_prefix("mpm_") {
            out.push(format!("{mpm}.c"));
        }
    }
    if let Some(file) = Path::new(path).file_stem() {
        out.push(format!("{}.c", file.to_string_lossy()));
    }
    out
}

fn example_condition(kind: &str) -> &'static str {
    match kind {
        "IfDefine" => "SSL",
        "IfModule" => "mod_ssl.c",
        "IfVersion" => ">= 2.4",
        _ => "conf/extra.conf",
    }
}

/// Lexical normalisation (`.` and `..` removed) without touching the disk.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}
