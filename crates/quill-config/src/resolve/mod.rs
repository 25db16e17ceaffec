//! From the syntax tree to the typed [`ResolvedConfig`].
//!
//! 1. [`collect`]: walk the tree, look every directive up in the table,
//!    check its context and argument count (Apache's errors), group it by
//!    server (main or virtual host) and enclosing directory section, and
//!    list what Quill does not model.
//! 2. MPM: pick the MPM, read its directives with C `atoi`, apply httpd's
//!    checks and adjustments ([`mpm::adjust`]) and turn each into a
//!    diagnostic.
//! 3. Servers: listeners, main server, virtual hosts (inheriting from the
//!    main server), name-based routing.
//! 4. mod_wsgi ([`crate::wsgi`]).

pub mod core;
mod logs;
pub mod mpm;
pub mod tls;

use std::collections::BTreeMap;

use crate::build::{Build, BuildSource};
use crate::diag::{Diagnostic, Diagnostics};
use crate::directives::{self, DirectiveDef};
use crate::model::{MpmKind, ResolvedConfig, SCHEMA_VERSION, UnknownDirective};
use crate::modules::{Availability, ModuleIndex};
use crate::source::{SourceMap, Span};
use crate::syntax::{Directive, Node, ParsedConfig, Section};

/// Inputs of resolution that do not come from the files.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// `--mpm`: use this MPM whatever LoadModule says.
    pub mpm_override: Option<MpmKind>,
    /// Online CPU cores (for ListenCoresBucketsRatio).
    pub online_cores: u32,
    /// Whose compiled-in defaults apply, and how that was decided.
    pub build: Build,
    pub build_source: BuildSource,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            mpm_override: None,
            online_cores: 2,
            build: Build::Debian,
            build_source: BuildSource::Guessed,
        }
    }
}

/// A resolved configuration with everything said about it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: ResolvedConfig,
    pub diagnostics: Diagnostics,
    pub sources: SourceMap,
}

/// A known directive where it appeared.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    pub def: &'static DirectiveDef,
    pub directive: &'a Directive,
    /// Enclosing directory-type sections (`<Directory>`, `<Location>`, …),
    /// outermost first; empty at server or virtual-host level.
    pub dirs: Vec<&'a Section>,
    /// Position in document order (includes spliced in), for rules that
    /// depend on what comes first.
    pub seq: usize,
}

impl Item<'_> {
    pub fn span(&self) -> Span {
        self.directive.span
    }

    pub fn arg(&self, i: usize) -> Option<&str> {
        self.directive.args.get(i).map(|a| a.value.as_str())
    }

    pub fn in_dir(&self) -> bool {
        !self.dirs.is_empty()
    }
}

/// The directives of one `<VirtualHost>`.
#[derive(Debug, Clone)]
pub struct VhostItems<'a> {
    pub section: &'a Section,
    pub items: Vec<Item<'a>>,
}

/// Known directives grouped by server.
#[derive(Debug, Clone)]
pub struct Collected<'a> {
    /// Main server (outside every virtual host), in file order.
    pub global: Vec<Item<'a>>,
    pub vhosts: Vec<VhostItems<'a>>,
    unknown: BTreeMap<String, (String, usize, Span)>,
    next_seq: usize,
    /// Modules loaded so far in document order (all of them once the walk is done).
    modules: ModuleIndex,
}

impl<'a> Collected<'a> {
    /// Last occurrence of a directive at server level of the main server
    /// (not inside a directory section).
    pub fn global_last(&self, name: &str) -> Option<&Item<'a>> {
        last_in(&self.global, name)
    }
}

/// Last occurrence of `name` at server level among `items`.
pub fn last_in<'i, 'a>(items: &'i [Item<'a>], name: &str) -> Option<&'i Item<'a>> {
    items
        .iter()
        .rev()
        .find(|i| !i.in_dir() && i.def.name.eq_ignore_ascii_case(name))
}

/// Every occurrence of `name` at server level among `items`.
pub fn all_in<'i, 'a>(
    items: &'i [Item<'a>],
    name: &'i str,
) -> impl Iterator<Item = &'i Item<'a>> + 'i {
    items
        .iter()
        .filter(move |i| !i.in_dir() && i.def.name.eq_ignore_ascii_case(name))
}

/// Containers whose contents are per-directory configuration.
const DIR_SECTIONS: &[&str] = &[
    "Directory",
    "DirectoryMatch",
    "Location",
    "LocationMatch",
    "Files",
    "FilesMatch",
    "Proxy",
    "ProxyMatch",
    "If",
    "ElseIf",
    "Else",
    "Limit",
    "LimitExcept",
    "RequireAll",
    "RequireAny",
    "RequireNone",
    "AuthnProviderAlias",
    "AuthzProviderAlias",
];

fn is_dir_section(s: &Section) -> bool {
    DIR_SECTIONS.iter().any(|n| s.is(n))
}

/// Walk the tree: module and table look-up, context and arity checks,
/// grouping.
pub fn collect<'a>(parsed: &'a ParsedConfig, diags: &mut Diagnostics) -> Collected<'a> {
    let nodes = &parsed.nodes;
    let mut c = Collected {
        global: Vec::new(),
        vhosts: Vec::new(),
        unknown: BTreeMap::new(),
        next_seq: 0,
        modules: ModuleIndex::new(parsed.static_modules.iter().map(String::as_str)),
    };
    let mut unknown_sections: BTreeMap<String, Span> = BTreeMap::new();
    walk_level(
        nodes,
        None,
        &mut Vec::new(),
        &mut c,
        diags,
        &mut unknown_sections,
    );
    for (name, span) in unknown_sections {
        diags.push(
            Diagnostic::note(
                "config/unmodelled-section",
                format!("<{name}> is not modelled by Quill; the directives inside it are ignored"),
            )
            .at(span, "first one here"),
        );
    }
    c
}

fn walk_level<'a>(
    nodes: &'a [Node],
    vhost: Option<usize>,
    dirs: &mut Vec<&'a Section>,
    c: &mut Collected<'a>,
    diags: &mut Diagnostics,
    unknown_sections: &mut BTreeMap<String, Span>,
) {
    for node in nodes {
        match node {
            Node::Directive(d) => visit_directive(d, vhost, dirs, c, diags),
            Node::Section(s) if !section_available(s, c, diags) => {}
            Node::Section(s) if s.is("VirtualHost") => {
                if vhost.is_some() || !dirs.is_empty() {
                    let within = if vhost.is_some() && dirs.is_empty() {
                        "<VirtualHost>"
                    } else {
                        "<Directory/Location/Files>"
                    };
                    diags.push(
                        Diagnostic::error(
                            "config/context",
                            format!("<VirtualHost> cannot be nested inside {within}"),
                        )
                        .at(s.span, "not allowed here")
                        .apache(format!(
                            "<VirtualHost> cannot occur within {within} section"
                        ))
                        .help("move this <VirtualHost> to the top level of the configuration"),
                    );
                    continue;
                }
                c.vhosts.push(VhostItems {
                    section: s,
                    items: Vec::new(),
                });
                let idx = c.vhosts.len() - 1;
                walk_level(&s.children, Some(idx), dirs, c, diags, unknown_sections);
            }
            Node::Section(s) if is_dir_section(s) => {
                dirs.push(s);
                walk_level(&s.children, vhost, dirs, c, diags, unknown_sections);
                dirs.pop();
            }
            Node::Section(s) => {
                unknown_sections.entry(s.name.clone()).or_insert(s.span);
            }
        }
    }
}

/// httpd's message for a directive no loaded module defines.
pub fn invalid_command(name: &str) -> String {
    format!(
        "Invalid command '{name}', perhaps misspelled or defined by a module not included in the server configuration"
    )
}

/// The error for a name (a directive, or `<Section`) that no loaded module
/// defines, or `None` when a loaded module (or, perhaps, a third-party one)
/// does. MPM directives are left to the MPM resolver, which knows `--mpm`.
fn unavailable(name: &str, span: Span, modules: &ModuleIndex) -> Option<Diagnostic> {
    let shown = if let Some(sec) = name.strip_prefix('<') {
        format!("<{sec}>")
    } else {
        name.to_string()
    };
    match modules.availability(name) {
        Availability::Loaded | Availability::Mpm => None,
        // A loaded module Quill does not know may define it; but a name one
        // typo away from a known directive is more likely that typo.
        Availability::MaybeThirdParty => modules.suggest(name).map(|s| {
            let s = s.trim_start_matches('<');
            let third: Vec<&str> = modules.third_party().collect();
            Diagnostic::warning(
                "config/unknown-directive",
                format!("no known module defines {shown}; did you mean `{s}`?"),
            )
            .at(span, format!("did you mean `{s}`?"))
            .apache(invalid_command(name))
            .note_line(format!(
                "httpd refuses to start unless a module Quill does not know defines it (loaded: {})",
                third.join(", ")
            ))
            .help(format!("write `{s}`"))
        }),
        Availability::NotLoaded(defs) => {
            let m = defs[0];
            let mut d = Diagnostic::error(
                "config/module-not-loaded",
                format!("{shown} is defined by {}, which is not loaded", m.source),
            )
            .at(span, format!("needs {}", m.symbol))
            .apache(invalid_command(name))
            .help(m.how_to_load());
            if defs.len() > 1 {
                let others: Vec<&str> = defs[1..].iter().map(|m| m.source).collect();
                d = d.note_line(format!("also defined by {}", others.join(", ")));
            }
            Some(d)
        }
        Availability::Unknown => {
            let d = Diagnostic::error(
                "config/unknown-directive",
                format!("no loaded module defines {shown}"),
            )
            .apache(invalid_command(name));
            Some(match modules.suggest(name) {
                Some(s) => {
                    let s = s.trim_start_matches('<');
                    d.at(span, format!("did you mean `{s}`?"))
                        .help(format!("write `{s}`"))
                }
                None => d.at(span, "unknown directive").help(
                    "check the spelling; a directive of a module Quill does not know needs that module's LoadModule before it",
                ),
            })
        }
    }
}

/// Whether a section's name is defined by a loaded module; reports it when not.
fn section_available(s: &Section, c: &Collected<'_>, diags: &mut Diagnostics) -> bool {
    match unavailable(&format!("<{}", s.name), s.name_span, &c.modules) {
        Some(d) => {
            diags.push(d);
            false
        }
        None => true,
    }
}

fn visit_directive<'a>(
    d: &'a Directive,
    vhost: Option<usize>,
    dirs: &[&'a Section],
    c: &mut Collected<'a>,
    diags: &mut Diagnostics,
) {
    if let Some(diag) = unavailable(&d.name, d.name_span, &c.modules) {
        diags.push(diag);
        return;
    }
    if d.name.eq_ignore_ascii_case("LoadModule") {
        if let Some(sym) = d.args.first() {
            c.modules.load(&sym.value);
        }
    }
    let Some(def) = directives::find(&d.name) else {
        let key = d.name.to_ascii_lowercase();
        let entry = c
            .unknown
            .entry(key)
            .or_insert_with(|| (d.name.clone(), 0, d.name_span));
        entry.1 += 1;
        return;
    };
    // Parse-time directives were handled by the parser; keep them for
    // completeness but they need no further checks here beyond context.
    // mod_alias: `Alias URL-path` (one argument) inside <Location>; never
    // inside <Directory>; two arguments anywhere else.
    if def.name == "Alias" {
        let in_location = dirs
            .last()
            .is_some_and(|s| s.is("Location") || s.is("LocationMatch"));
        let problem = match dirs.last() {
            Some(s) if s.is("Directory") || s.is("DirectoryMatch") => Some((
                "Alias cannot occur within directory context".to_string(),
                "Alias is not allowed inside a <Directory> section",
            )),
            _ if !in_location && d.args.len() == 1 => Some((
                "Alias must have two arguments when used globally".to_string(),
                "Alias needs a URL path and a target outside <Location>",
            )),
            _ => None,
        };
        if let Some((apache, msg)) = problem {
            diags.push(
                Diagnostic::error("config/context", msg)
                    .at(d.name_span, "not allowed here")
                    .apache(apache)
                    .help("write `Alias /url /path` at server or virtual-host level"),
            );
            return;
        }
    }
    let ctx_ok = if def.name == "Alias" && !dirs.is_empty() {
        true
    } else if !dirs.is_empty() {
        def.contexts.directory
    } else if vhost.is_some() {
        def.contexts.vhost
    } else {
        def.contexts.server
    };
    if !ctx_ok {
        let (msg, apache, help) = if !dirs.is_empty() {
            let sec = dirs.last().map_or("Directory", |s| s.name.as_str());
            (
                format!("{} is not allowed inside <{sec}>", def.name),
                // invoke_cmd names the enclosing section and the
                // directive as its module spells it.
                format!("{} not allowed in <{sec}> context", def.name),
                format!("move `{}` out of the <{sec}> section", def.name),
            )
        } else if vhost.is_some() {
            (
                format!("{} cannot be set per virtual host", def.name),
                format!("{} cannot occur within <VirtualHost> section", d.name),
                format!(
                    "move `{}` to the main server configuration, outside every <VirtualHost>",
                    def.name
                ),
            )
        } else {
            (
                format!("{} is only valid inside <VirtualHost>", def.name),
                format!("{} only used in <VirtualHost>", d.name),
                format!("move `{}` into the <VirtualHost> it names", def.name),
            )
        };
        diags.push(
            Diagnostic::error("config/context", msg)
                .at(d.name_span, "not allowed here")
                .apache(apache)
                .help(help),
        );
        return;
    }
    // The parser has already checked the arguments of the directives it
    // acts on.
    const PARSE_TIME: &[&str] = &[
        "Define",
        "UnDefine",
        "ServerRoot",
        "LoadModule",
        "Include",
        "IncludeOptional",
    ];
    if !def.arity.accepts(d.args.len()) && PARSE_TIME.contains(&def.name) {
        return;
    }
    if !def.arity.accepts(d.args.len()) {
        diags.push(
            Diagnostic::error(
                "config/argument-count",
                format!(
                    "{} {}, got {}",
                    def.name,
                    def.arity.apache_phrase(),
                    d.args.len()
                ),
            )
            .at(
                if d.args.is_empty() {
                    d.name_span
                } else {
                    d.args_span()
                },
                "here",
            )
            .apache(def.apache_arity_error())
            .help(format!("syntax: `{}`", def.syntax)),
        );
        return;
    }
    if def.name == "LogLevel" && !log_level_ok(d, &c.modules, diags) {
        return;
    }
    let item = Item {
        def,
        directive: d,
        dirs: dirs.to_vec(),
        seq: c.next_seq,
    };
    c.next_seq += 1;
    match vhost {
        Some(i) => c.vhosts[i].items.push(item),
        None => c.global.push(item),
    }
}

/// httpd's check of `LogLevel [module:]level …`: a known level keyword,
/// and a module prefix that names a loaded module.
fn log_level_ok(d: &Directive, modules: &ModuleIndex, diags: &mut Diagnostics) -> bool {
    const LEVELS: &[&str] = &[
        "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2",
        "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
    ];
    const KEYWORDS: &str = "Log level keyword must be one of emerg/alert/crit/error/warn/notice/info/debug/trace1/.../trace8";
    for arg in &d.args {
        let (module, level) = match arg.value.split_once(':') {
            Some((m, l)) => (Some(m), l),
            None => (None, arg.value.as_str()),
        };
        let refuse = |apache: String, what: String| {
            Diagnostic::error("config/bad-value", what)
                .at(arg.span, "not accepted")
                .apache(apache)
                .help(
                    "write e.g. `LogLevel warn` or `LogLevel info ssl:warn` (with mod_ssl loaded)",
                )
        };
        // The level is checked first (`ssl:bogus` is a keyword error even
        // without mod_ssl); the module goes by its short name (`ssl`, not
        // `mod_ssl`).
        if !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level)) {
            let apache = match module {
                Some(_) => format!("{}: {KEYWORDS}", arg.value),
                None => KEYWORDS.to_string(),
            };
            diags.push(refuse(apache, format!("`{level}` is not a log level")));
            return false;
        }
        if let Some(m) = module {
            if !modules.is_loaded(&format!("{m}_module")) {
                let mut d = refuse(
                    format!("Cannot find module {m}"),
                    format!("LogLevel names module `{m}`, which is not loaded"),
                );
                if let Some(short) = m.strip_prefix("mod_") {
                    if modules.is_loaded(&format!("{short}_module")) {
                        d = d.help(format!(
                            "write `{short}:{level}`: LogLevel names a module by its short name"
                        ));
                    }
                }
                diags.push(d);
                return false;
            }
        }
    }
    true
}

/// Resolve a parsed configuration.
pub fn resolve(parsed: &ParsedConfig, opts: &ResolveOptions) -> Resolved {
    let mut diags = parsed.diagnostics.clone();
    let collected = collect(parsed, &mut diags);
    let sources = &parsed.sources;
    let mpm = core::resolve_mpm(parsed, &collected, opts, &mut diags);
    let listeners = core::listeners(&collected, sources, &mut diags);
    let mut main_server = core::main_server(&collected, sources, &mut diags);
    if main_server.document_root.is_none() {
        // Compiled in; virtual hosts inherit it.
        main_server.document_root = Some(opts.build.document_root().into());
    }
    let mut vhosts = core::vhosts(&collected, &main_server, sources, &mut diags);
    let wsgi = crate::wsgi::resolve(
        &collected,
        opts.build,
        sources,
        &mut main_server,
        &mut vhosts,
        &mut diags,
    );
    let routing = core::routing(&listeners, &vhosts);
    // Listed in the model (and by `quill config`); `check` reports them once as a note.
    let unknown_directives = collected
        .unknown
        .values()
        .map(|(name, count, span)| UnknownDirective {
            name: name.clone(),
            count: *count,
            first: sources.location(*span),
        })
        .collect::<Vec<_>>();
    let config = ResolvedConfig {
        schema_version: SCHEMA_VERSION,
        main_file: parsed.main_file.clone(),
        server_root: parsed.server_root.clone(),
        files: sources.files().map(|(_, f)| f.path.clone()).collect(),
        modules: parsed.modules.iter().map(|m| m.name.clone()).collect(),
        mpm,
        listeners,
        main_server,
        vhosts,
        routing,
        wsgi,
        unknown_directives,
        build: crate::model::BuildInfo {
            build: opts.build,
            chosen_by: opts.build_source,
        },
    };
    Resolved {
        config,
        diagnostics: diags,
        sources: parsed.sources.clone(),
    }
}
