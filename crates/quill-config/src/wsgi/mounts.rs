//! WSGIScriptAlias / WSGIScriptAliasMatch / WSGIImportScript (reference
//! §3.3–3.4): options, preloading, the config-time ordering rule, and for
//! each mount the process group, interpreter and flags it runs with, plus
//! the run-time visibility rule (§3.7).

use super::model::{
    DaemonProcess, DelegationMode, ImportScript, MountTarget, Origin, SectionOverride,
    WsgiApplicationGroup, WsgiMount, WsgiProcessGroup,
};
use super::options::{self, RawOption};
use super::sections::{self, Coverage, MountShape};
use crate::diag::{Diagnostic, Diagnostics};
use crate::resolve::{Item, last_in};
use crate::source::{SourceMap, Span};

/// A WSGIScriptAlias(Match) line after option parsing.
#[derive(Debug, Clone)]
pub(crate) struct ParsedAlias<'i, 'a> {
    pub item: &'i Item<'a>,
    /// `None` = main server, else the virtual host index.
    pub server: Option<usize>,
    pub url: String,
    pub target: String,
    pub regex: Option<regex::Regex>,
    pub process_group: Option<(String, Span)>,
    pub application_group: Option<(String, Span)>,
    pub callable_object: Option<String>,
    pub pass_authorization: Option<bool>,
    pub preloaded: bool,
    /// The config-time check already reported a problem with the group.
    pub group_reported: bool,
}

/// Report an option word that is not `name=value`.
fn malformed(m: &options::Malformed, directive: &str, apache: &str, diags: &mut Diagnostics) {
    diags.push(
        Diagnostic::error(
            "wsgi/malformed-option",
            format!("`{}` is not a {directive} option: {}", m.text, m.why),
        )
        .at(m.span, "expected name=value")
        .apache(apache)
        .help(super::daemon::malformed_help(&m.text)),
    );
}

fn unknown(
    o: &RawOption,
    directive: &str,
    valid: &[&'static str],
    apache: &str,
    diags: &mut Diagnostics,
) {
    let suggestion = options::closest(&o.name, valid.iter().copied());
    diags.push(
        Diagnostic::error(
            "wsgi/unknown-option",
            format!("unknown {directive} option `{}`", o.name),
        )
        .at(
            o.name_span,
            match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "not an option here".to_string(),
            },
        )
        .apache(apache)
        .note_line(format!("valid options: {}", valid.join(", ")))
        .help(match suggestion {
            Some(s) => format!("write `{s}={}`", o.value),
            None => format!("remove `{}={}`", o.name, o.value),
        }),
    );
}

fn empty_value(o: &RawOption, apache: &str, example: &str, diags: &mut Diagnostics) {
    diags.push(
        Diagnostic::error(
            "wsgi/bad-option-value",
            format!("`{}=` needs a value", o.name),
        )
        .at(o.span, "empty value")
        .apache(apache)
        .help(format!("write e.g. `{example}`")),
    );
}

const ALIAS_OPTIONS: &[&str] = &[
    "process-group",
    "application-group",
    "callable-object",
    "pass-authorization",
];
const ALIAS_APACHE: &str = "Invalid option to WSGI script alias definition.";

/// Parse a WSGIScriptAlias(Match) line (without the config-time group check).
pub(crate) fn parse_alias<'i, 'a>(
    item: &'i Item<'a>,
    server: Option<usize>,
    sources: &SourceMap,
    diags: &mut Diagnostics,
) -> Option<ParsedAlias<'i, 'a>> {
    let is_match = item.def.name == "WSGIScriptAliasMatch";
    let url = item.arg(0)?.to_string();
    let target = item.arg(1)?.to_string();
    let (opts, bad) = options::split_options(&item.directive.args[2..], sources);
    for m in &bad {
        malformed(m, item.def.name, ALIAS_APACHE, diags);
    }
    let mut a = ParsedAlias {
        item,
        server,
        url,
        target,
        regex: None,
        process_group: None,
        application_group: None,
        callable_object: None,
        pass_authorization: None,
        preloaded: false,
        group_reported: false,
    };
    for o in &opts {
        match o.name.as_str() {
            "process-group" => {
                if o.value.is_empty() {
                    empty_value(
                        o,
                        "Invalid name for WSGI process group.",
                        "process-group=myapp",
                        diags,
                    );
                } else {
                    a.process_group = Some((o.value.clone(), o.span));
                }
            }
            "application-group" => {
                if o.value.is_empty() {
                    empty_value(
                        o,
                        "Invalid name for WSGI application group.",
                        "application-group=%{GLOBAL}",
                        diags,
                    );
                } else {
                    a.application_group = Some((o.value.clone(), o.span));
                }
            }
            "callable-object" => {
                if o.value.is_empty() {
                    empty_value(
                        o,
                        "Invalid name for WSGI callable object.",
                        "callable-object=application",
                        diags,
                    );
                } else {
                    a.callable_object = Some(o.value.clone());
                }
            }
            "pass-authorization" => {
                if o.value.eq_ignore_ascii_case("on") {
                    a.pass_authorization = Some(true);
                } else if o.value.eq_ignore_ascii_case("off") {
                    a.pass_authorization = Some(false);
                } else {
                    diags.push(
                        Diagnostic::error(
                            "wsgi/bad-option-value",
                            format!("pass-authorization={} must be On or Off", o.value),
                        )
                        .at(o.span, "not On or Off")
                        .apache("Invalid value for authorization flag.")
                        .help("write `pass-authorization=On`"),
                    );
                }
            }
            _ => unknown(o, item.def.name, ALIAS_OPTIONS, ALIAS_APACHE, diags),
        }
    }
    if is_match {
        match regex::Regex::new(&a.url) {
            Ok(r) => a.regex = Some(r),
            Err(e) => {
                diags.push(
                    Diagnostic::error(
                        "wsgi/bad-regex",
                        format!("WSGIScriptAliasMatch pattern does not compile: {e}"),
                    )
                    .at(item.directive.args[0].span, "invalid regular expression")
                    .apache("Regular expression could not be compiled.")
                    .help("fix the pattern (POSIX extended syntax), e.g. `^/app(/.*)?$`"),
                );
                return None;
            }
        }
    }
    // §3.3 preloading: both groups given, no `%{` left after %{GLOBAL} → "",
    // and (Match) no `$` substitution in the target.
    let no_subst = |v: &Option<(String, Span)>| {
        v.as_ref()
            .is_some_and(|(s, _)| s == "%{GLOBAL}" || !s.contains("%{"))
    };
    a.preloaded = no_subst(&a.process_group)
        && no_subst(&a.application_group)
        && (!is_match || !a.target.contains('$'));
    Some(a)
}

/// A WSGIImportScript line after option parsing.
#[derive(Debug, Clone)]
pub(crate) struct ParsedImport {
    pub script: String,
    /// `%{GLOBAL}` already turned into `""`.
    pub process_group: (String, Span),
    pub application_group: String,
}

const IMPORT_APACHE: &str = "Invalid option to WSGI import script definition.";

pub(crate) fn parse_import(
    item: &Item<'_>,
    sources: &SourceMap,
    diags: &mut Diagnostics,
) -> Option<ParsedImport> {
    let script = item.arg(0)?.to_string();
    if script.is_empty() {
        diags.push(
            Diagnostic::error("wsgi/bad-import-script", "WSGIImportScript needs a script path")
                .at(item.directive.args[0].span, "empty")
                .apache("Location of import script not supplied.")
                .help("write e.g. `WSGIImportScript /srv/app/app.wsgi process-group=myapp application-group=%{GLOBAL}`"),
        );
        return None;
    }
    let (opts, bad) = options::split_options(&item.directive.args[1..], sources);
    for m in &bad {
        malformed(m, "WSGIImportScript", IMPORT_APACHE, diags);
    }
    let mut pg: Option<(String, Span)> = None;
    let mut ag: Option<String> = None;
    let mut ok = bad.is_empty();
    for o in &opts {
        match o.name.as_str() {
            "process-group" if o.value.is_empty() => {
                empty_value(
                    o,
                    "Invalid name for WSGI process group.",
                    "process-group=myapp",
                    diags,
                );
                ok = false;
            }
            "process-group" => pg = Some((o.value.clone(), o.span)),
            "application-group" if o.value.is_empty() => {
                empty_value(
                    o,
                    "Invalid name for WSGI application group.",
                    "application-group=%{GLOBAL}",
                    diags,
                );
                ok = false;
            }
            "application-group" => ag = Some(o.value.clone()),
            _ => {
                unknown(
                    o,
                    "WSGIImportScript",
                    &["process-group", "application-group"],
                    IMPORT_APACHE,
                    diags,
                );
                ok = false;
            }
        }
    }
    let example = format!(
        "WSGIImportScript {script} process-group={} application-group={}",
        pg.as_ref().map_or("myapp", |p| p.0.as_str()),
        ag.as_deref().unwrap_or("%{GLOBAL}")
    );
    let Some(ag) = ag else {
        diags.push(
            Diagnostic::error(
                "wsgi/bad-import-script",
                "WSGIImportScript needs application-group=",
            )
            .at(item.span(), "no application-group")
            .apache("Name of WSGI application group required.")
            .help(format!("write `{example}`")),
        );
        return None;
    };
    let Some(pg) = pg else {
        diags.push(
            Diagnostic::error(
                "wsgi/bad-import-script",
                "WSGIImportScript needs process-group=",
            )
            .at(item.span(), "no process-group")
            .apache("Name of WSGI process group required.")
            .help(format!("write `{example}`")),
        );
        return None;
    };
    if !ok {
        return None;
    }
    let global = |s: String| if s == "%{GLOBAL}" { String::new() } else { s };
    Some(ParsedImport {
        script,
        process_group: (global(pg.0), pg.1),
        application_group: global(ag),
    })
}

/// What the config-time check needs to know about a server at the moment
/// the directive is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConfigTimeView<'v> {
    /// Daemon groups registered so far.
    pub registered: &'v [DaemonProcess],
    /// Every WSGIDaemonProcess (name, span), including later ones.
    pub all_daemons: &'v [(String, Span)],
    /// ServerName read so far, per server (0 = main, i + 1 = vhost i).
    pub names_so_far: &'v [Option<String>],
}

fn server_slot(server: Option<usize>) -> usize {
    server.map_or(0, |i| i + 1)
}

/// mod_wsgi's config-time rule for preloading aliases and import scripts:
/// the group must already be defined and be visible from here. Returns
/// whether it passed.
pub(crate) fn config_time_check(
    group: &str,
    group_span: Span,
    server: Option<usize>,
    what: &str,
    view: ConfigTimeView<'_>,
    diags: &mut Diagnostics,
) -> bool {
    if group.is_empty() {
        return true;
    }
    let Some(g) = view.registered.iter().find(|d| d.name == group) else {
        let later = view
            .all_daemons
            .iter()
            .find(|(n, s)| n == group && *s != group_span);
        let mut d = Diagnostic::error(
            "wsgi/group-not-yet-configured",
            format!("{what} names process group '{group}', which is not defined before it"),
        )
        .at(group_span, "not defined yet")
        .apache("WSGI process group not yet configured.");
        d = match later {
            Some((_, span)) => d
                .also(*span, "defined here, after its use")
                .note_line("with both process-group and application-group the script is preloaded, so mod_wsgi needs the group when it reads this line")
                .help(format!("move `WSGIDaemonProcess {group} …` above this line")),
            None => {
                let names = view.all_daemons.iter().map(|(n, _)| n.as_str());
                match options::closest(group, names) {
                    Some(s) => d.help(format!("write `process-group={s}`, or add `WSGIDaemonProcess {group}` before this line")),
                    None => d.help(format!("add `WSGIDaemonProcess {group}` before this line")),
                }
            }
        };
        diags.push(d);
        return false;
    };
    let Some(gv) = g.declared_in.vhost else {
        return true;
    };
    let here = view.names_so_far[server_slot(server)].as_deref();
    let there = view.names_so_far[gv + 1].as_deref();
    match (here, there) {
        (Some(a), Some(b)) if a != b => {
            diags.push(
                Diagnostic::error(
                    "wsgi/group-not-accessible",
                    format!("process group '{group}' belongs to virtual host `{b}`, not to `{a}`"),
                )
                .at(group_span, "not accessible from here")
                .also(g_span(g, view), "declared here")
                .apache("WSGI process group not accessible.")
                .note_line("a group declared in a <VirtualHost> can only be used where ServerName is the same string")
                .help(format!("declare `WSGIDaemonProcess {group} …` at global scope (outside every <VirtualHost>), or use a group of this virtual host")),
            );
            false
        }
        (None, Some(b)) => {
            diags.push(
                Diagnostic::error(
                    "wsgi/group-not-matchable",
                    format!("process group '{group}' belongs to virtual host `{b}`, but no ServerName is set here yet"),
                )
                .at(group_span, "ServerName unknown at this point")
                .also(g_span(g, view), "declared here")
                .apache("WSGI process group not matchable.")
                .help(format!("add `ServerName {b}` above this line")),
            );
            false
        }
        (Some(a), None) => {
            diags.push(
                Diagnostic::error(
                    "wsgi/group-not-matchable",
                    format!("process group '{group}' belongs to a virtual host with no ServerName (yet), used from `{a}`"),
                )
                .at(group_span, "cannot be matched")
                .also(g_span(g, view), "declared here")
                .apache("WSGI process group not matchable.")
                .help(format!("add `ServerName {a}` to the <VirtualHost> declaring '{group}', before this line")),
            );
            false
        }
        _ => true,
    }
}

/// Where the registered group was declared: the first WSGIDaemonProcess
/// with its name (later duplicates are refused).
fn g_span(g: &DaemonProcess, view: ConfigTimeView<'_>) -> Span {
    view.all_daemons
        .iter()
        .find(|(n, _)| *n == g.name)
        .map_or(Span::new(crate::source::FileId(0), 0, 0), |(_, s)| *s)
}

/// Build an [`ImportScript`] entry.
pub(crate) fn import_entry(
    script: &str,
    process_group: &str,
    application_group: &str,
    declared_in: super::model::DeclaredIn,
    at: crate::source::Location,
    from_script_alias: bool,
) -> ImportScript {
    ImportScript {
        script: script.to_string(),
        process_group: process_group.to_string(),
        application_group: application_group.to_string(),
        declared_in,
        at,
        from_script_alias,
    }
}

/// Everything about one server that mount resolution reads.
#[derive(Debug)]
pub(crate) struct ServerView<'i, 'a> {
    /// `None` = main server.
    pub vhost: Option<usize>,
    /// The virtual host's own items (empty for the main server).
    pub own: &'i [Item<'a>],
    /// The main server's items.
    pub main: &'i [Item<'a>],
    /// ServerName after inheritance.
    pub server_name: Option<String>,
    /// Port used in interpreter names.
    pub port: Option<u16>,
    /// Apache `Timeout` of this server.
    pub timeout_s: u64,
}

impl<'i, 'a> ServerView<'i, 'a> {
    /// Scopes in merge order for per-directory sections: main, then own.
    fn dir_scopes(&self) -> Vec<&'i [Item<'a>]> {
        if self.vhost.is_some() {
            vec![self.main, self.own]
        } else {
            vec![self.main]
        }
    }

    /// Last server-level `name`: the virtual host's, else the main server's.
    fn server_level(&self, name: &str) -> Option<&'i Item<'a>> {
        if self.vhost.is_some() {
            if let Some(i) = last_in(self.own, name) {
                return Some(i);
            }
        }
        last_in(self.main, name)
    }
}

/// The setting in force for a whole mount plus the sections that change it
/// for part of the mount.
struct Picked<'i, 'a> {
    value: Option<(String, Origin, Span)>,
    partial: Vec<&'i Item<'a>>,
}

fn pick<'i, 'a>(
    name: &str,
    sv: &ServerView<'i, 'a>,
    shape: &MountShape<'_>,
    sources: &SourceMap,
) -> Picked<'i, 'a> {
    let found = sections::applicable(name, &sv.dir_scopes(), shape);
    let last_full = found.iter().rposition(|a| a.coverage == Coverage::Full);
    let partial = found
        .iter()
        .enumerate()
        .filter(|(i, a)| a.coverage == Coverage::Partial && last_full.is_none_or(|f| *i > f))
        .map(|(_, a)| a.item)
        .collect();
    let value = match last_full {
        Some(f) => {
            let item = found[f].item;
            Some((
                args_joined(item),
                Origin::Section {
                    section: sections::describe(&item.dirs),
                    at: sources.location(item.span()),
                },
                arg_span(item),
            ))
        }
        None => sv.server_level(name).map(|item| {
            (
                args_joined(item),
                Origin::Server {
                    at: sources.location(item.span()),
                },
                arg_span(item),
            )
        }),
    };
    Picked { value, partial }
}

fn args_joined(item: &Item<'_>) -> String {
    item.directive
        .args
        .iter()
        .map(|a| a.value.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn arg_span(item: &Item<'_>) -> Span {
    item.directive.args.first().map_or(item.span(), |a| a.span)
}

/// `%{…}` forms of WSGIProcessGroup / WSGIApplicationGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expansion {
    Global,
    Resource,
    Server,
    Host,
    Env(String),
    Literal(String),
}

pub(crate) fn expansion(s: &str) -> Expansion {
    match s {
        "%{GLOBAL}" => Expansion::Global,
        "%{RESOURCE}" => Expansion::Resource,
        "%{SERVER}" => Expansion::Server,
        "%{HOST}" => Expansion::Host,
        _ => match s.strip_prefix("%{ENV:").and_then(|r| r.strip_suffix('}')) {
            Some(v) if !v.is_empty() => Expansion::Env(v.to_string()),
            _ => Expansion::Literal(s.to_string()),
        },
    }
}

/// `H`, `H:P` (P unless 80/443).
fn host_port(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) if p != 80 && p != 443 => format!("{host}:{p}"),
        _ => host.to_string(),
    }
}

/// SCRIPT_NAME as mod_wsgi puts it in `%{RESOURCE}`: runs of `/`
/// collapsed, lower-cased, empty for an application at `/`.
pub(crate) fn resource_script_name(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_end_matches('/');
    trimmed.to_lowercase()
}

/// Expand an expression that names a process group or an interpreter
/// for one mount: `Ok(name)` when static, `Err(what it depends on)`.
fn expand_static(
    e: &Expansion,
    sv: &ServerView<'_, '_>,
    script_name: Result<&str, &str>,
) -> Result<String, String> {
    let host = || {
        sv.server_name
            .clone()
            .ok_or_else(|| "the host name Apache guesses (no ServerName is set)".to_string())
    };
    match e {
        Expansion::Global => Ok(String::new()),
        Expansion::Literal(s) => Ok(s.clone()),
        Expansion::Env(v) => Err(format!(
            "the variable {v} of each request (SetEnv, RewriteRule E=, environment)"
        )),
        Expansion::Host => Err("the Host header of each request".to_string()),
        Expansion::Server => Ok(host_port(&host()?, sv.port)),
        Expansion::Resource => {
            let h = host_port(&host()?, sv.port);
            let s = script_name.map_err(str::to_string)?;
            Ok(format!("{h}|{s}"))
        }
    }
}

/// What mount resolution found that the caller checks afterwards.
#[derive(Debug, Clone)]
pub(crate) struct GroupUse {
    /// The group name used (static).
    pub group: String,
    /// Where the name was written (alias option or WSGIProcessGroup).
    pub span: Span,
    /// The name was computed (`%{SERVER}`, `%{RESOURCE}`) rather than written.
    pub computed: bool,
    /// Applies to part of the mount only.
    pub partial: bool,
    /// Already reported at config time.
    pub reported: bool,
}

/// Resolve one alias in one server.
pub(crate) fn build_mount(
    a: &ParsedAlias<'_, '_>,
    sv: &ServerView<'_, '_>,
    daemons: &[DaemonProcess],
    sources: &SourceMap,
    uses: &mut Vec<GroupUse>,
) -> WsgiMount {
    let is_match = a.regex.is_some();
    let target_kind = if is_match && a.target.contains('$') {
        MountTarget::Template
    } else if a.target.ends_with('/') {
        MountTarget::Directory
    } else {
        MountTarget::Script
    };
    let literal_url = if is_match {
        sections::literal_prefix(&a.url)
    } else {
        Some(a.url.clone())
    };
    let (script_dir, script_file) = match target_kind {
        MountTarget::Script => match a.target.rsplit_once('/') {
            Some((d, f)) => (
                Some(if d.is_empty() {
                    "/".to_string()
                } else {
                    d.to_string()
                }),
                Some(f.to_string()),
            ),
            None => (None, Some(a.target.clone())),
        },
        MountTarget::Directory => (Some(a.target.trim_end_matches('/').to_string()), None),
        MountTarget::Template => {
            let lit = &a.target[..a.target.find('$').unwrap_or(a.target.len())];
            (lit.rsplit_once('/').map(|(d, _)| d.to_string()), None)
        }
    };
    let shape = MountShape {
        url: literal_url.as_deref(),
        url_regex: a.regex.as_ref(),
        script_dir,
        script_file,
    };
    let at = sources.location(a.item.span());
    let alias_origin = || Origin::AliasOption { at: at.clone() };
    let script_name: Result<String, &str> = match target_kind {
        _ if is_match => Err("the URL each request matched"),
        MountTarget::Directory => Err("the script file named by each URL"),
        _ => Ok(resource_script_name(&a.url)),
    };
    let script_name_ref = script_name.as_deref().map_err(|e| *e);

    let mut section_overrides = Vec::new();
    let note_partials = |items: &[&Item<'_>], out: &mut Vec<SectionOverride>| {
        for item in items {
            out.push(SectionOverride {
                section: sections::describe(&item.dirs),
                directive: item.def.name.to_string(),
                value: args_joined(item),
                at: sources.location(item.span()),
            });
        }
    };

    // Process group.
    let (expr, origin, span) = match &a.process_group {
        Some((v, span)) => (v.clone(), alias_origin(), Some(*span)),
        None => {
            let p = pick("WSGIProcessGroup", sv, &shape, sources);
            note_partials(&p.partial, &mut section_overrides);
            for item in &p.partial {
                if let Some(v) = item.arg(0) {
                    if let Expansion::Literal(g) = expansion(v) {
                        if !g.is_empty() {
                            uses.push(GroupUse {
                                group: g,
                                span: arg_span(item),
                                computed: false,
                                partial: true,
                                reported: false,
                            });
                        }
                    }
                }
            }
            match p.value {
                Some((v, o, s)) => (v, o, Some(s)),
                None => ("%{GLOBAL}".to_string(), Origin::Default, None),
            }
        }
    };
    let e = expansion(&expr);
    let (mode, group) = match expand_static(&e, sv, script_name_ref) {
        Ok(g) if g.is_empty() => (DelegationMode::Embedded, None),
        Ok(g) => (DelegationMode::Daemon, Some(g)),
        Err(_) => (DelegationMode::Runtime, None),
    };
    if let (Some(g), Some(span)) = (&group, span) {
        uses.push(GroupUse {
            group: g.clone(),
            span,
            computed: !matches!(e, Expansion::Literal(_)),
            partial: false,
            reported: a.group_reported && a.process_group.is_some(),
        });
    }
    let process_group = WsgiProcessGroup {
        expression: expr,
        origin,
        mode,
        group: group.clone(),
    };

    // Application group.
    let (expr, origin) = match &a.application_group {
        Some((v, _)) => (v.clone(), alias_origin()),
        None => {
            let p = pick("WSGIApplicationGroup", sv, &shape, sources);
            note_partials(&p.partial, &mut section_overrides);
            match p.value {
                Some((v, o, _)) => (v, o),
                None => ("%{RESOURCE}".to_string(), Origin::Default),
            }
        }
    };
    let (interpreter, depends_on) = match expand_static(&expansion(&expr), sv, script_name_ref) {
        Ok(n) => (Some(n), None),
        Err(why) => (None, Some(why)),
    };
    let application_group = WsgiApplicationGroup {
        expression: expr,
        origin,
        interpreter,
        depends_on,
    };

    // Callable object (the alias option is taken literally; the directive
    // also accepts %{ENV:X}, resolved per request).
    let callable_object = match &a.callable_object {
        Some(c) => c.clone(),
        None => {
            let p = pick("WSGICallableObject", sv, &shape, sources);
            note_partials(&p.partial, &mut section_overrides);
            p.value.map_or_else(|| "application".to_string(), |v| v.0)
        }
    };

    let flag = |name: &str, default: bool, out: &mut Vec<SectionOverride>| -> bool {
        let p = pick(name, sv, &shape, sources);
        note_partials(&p.partial, out);
        match p.value.map(|v| v.0.to_ascii_lowercase()).as_deref() {
            Some("on") => true,
            Some("off") => false,
            _ => default,
        }
    };
    let pass_authorization = match a.pass_authorization {
        Some(v) => v,
        None => flag("WSGIPassAuthorization", false, &mut section_overrides),
    };
    let script_reloading = flag("WSGIScriptReloading", true, &mut section_overrides);
    let chunked_request = flag("WSGIChunkedRequest", false, &mut section_overrides);
    let error_override = flag("WSGIErrorOverride", false, &mut section_overrides);
    let ignore_activity = flag("WSGIIgnoreActivity", false, &mut section_overrides);
    let enable_sendfile = flag("WSGIEnableSendfile", false, &mut section_overrides);
    let map_head_to_get = {
        let p = pick("WSGIMapHEADToGET", sv, &shape, sources);
        note_partials(&p.partial, &mut section_overrides);
        match p.value.map(|v| v.0.to_ascii_lowercase()).as_deref() {
            Some(v @ ("on" | "off" | "auto")) => v.to_string(),
            _ => "auto".to_string(),
        }
    };
    let restrict_process = {
        let p = pick("WSGIRestrictProcess", sv, &shape, sources);
        note_partials(&p.partial, &mut section_overrides);
        p.value.map(|(v, _, _)| {
            v.split_whitespace()
                .map(|g| {
                    if g == "%{GLOBAL}" {
                        String::new()
                    } else {
                        g.to_string()
                    }
                })
                .collect()
        })
    };
    let socket_timeout_s = group
        .as_ref()
        .and_then(|g| daemons.iter().find(|d| d.name == *g))
        .map(|d| {
            if d.timeouts.socket_timeout_s > 0 {
                u64::from(d.timeouts.socket_timeout_s)
            } else {
                sv.timeout_s
            }
        });
    WsgiMount {
        url: a.url.clone(),
        regex: is_match,
        target: a.target.clone(),
        target_kind,
        at,
        inherited: sv.vhost.is_some() && a.server.is_none(),
        process_group,
        application_group,
        callable_object,
        pass_authorization,
        script_reloading,
        chunked_request,
        map_head_to_get,
        error_override,
        ignore_activity,
        enable_sendfile,
        restrict_process,
        preloaded: a.preloaded,
        socket_timeout_s,
        section_overrides,
    }
}
