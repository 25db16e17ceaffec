//! mod_wsgi directives (reference/mod_wsgi.md §2–3): daemon process groups,
//! delegation, application groups, script aliases.
//!
//! ```text
//!  directives in document order ──▶ WSGIDaemonProcess → DaemonProcess (options, defaults, socket)
//!        (config-time pass)     ──▶ WSGIScriptAlias / WSGIImportScript: options, preloading,
//!                                   "group not yet configured / accessible / matchable"
//!  per server (main, vhosts)    ──▶ WsgiMount: process group (alias option > <Directory>/<Location>
//!        (run-time view)            > server > %{GLOBAL}), interpreter name, flags,
//!                                   visibility rule §3.7, WSGIRestrictEmbedded/Process
//! ```
//!
//! Diagnostic codes all start with `wsgi/`; each quotes mod_wsgi's own
//! message when it has one (config-time errors make Apache refuse to start;
//! run-time ones, marked [`crate::diag::Stage::RunTime`], are a 500 on every
//! request of the mount while httpd runs).

mod daemon;
mod directives;
mod model;
mod mounts;
mod options;
mod sections;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

pub use daemon::{Check, DAEMON_OPTIONS, DaemonOption, daemon_option, daemon_options_markdown};
pub use directives::DIRECTIVES;
pub use model::*;

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{ServerConfig, VirtualHost};
use crate::resolve::core::{parse_host_port, server_name_host};
use crate::resolve::{Collected, Item, all_in, last_in};
use crate::source::{SourceMap, Span};
use mounts::{ConfigTimeView, Expansion, GroupUse, ParsedAlias, ServerView};

pub(crate) fn resolve(
    c: &Collected<'_>,
    build: crate::build::Build,
    sources: &SourceMap,
    main: &mut ServerConfig,
    vhosts: &mut [VirtualHost],
    diags: &mut Diagnostics,
) -> WsgiConfig {
    let mut cfg = server_wide(c, build, diags);
    check_flags(c, diags);

    // Every server-level item with its server, in document order.
    let mut all: Vec<(Option<usize>, &Item<'_>)> = c
        .global
        .iter()
        .map(|i| (None, i))
        .chain(
            c.vhosts
                .iter()
                .enumerate()
                .flat_map(|(v, vi)| vi.items.iter().map(move |i| (Some(v), i))),
        )
        .filter(|(_, i)| !i.in_dir())
        .collect();
    all.sort_by_key(|(_, i)| i.seq);

    let final_name = |server: Option<usize>| -> Option<String> {
        match server {
            None => main.server_name.clone(),
            Some(v) => vhosts.get(v).and_then(|vh| vh.server.server_name.clone()),
        }
    };
    let timeout_of = |server: Option<usize>| -> u64 {
        match server {
            None => main.timeout_s,
            Some(v) => vhosts
                .get(v)
                .map_or(main.timeout_s, |vh| vh.server.timeout_s),
        }
    };

    let all_daemons: Vec<(String, Span)> = all
        .iter()
        .filter(|(_, i)| i.def.name == "WSGIDaemonProcess")
        .filter_map(|(_, i)| i.directive.args.first().map(|a| (a.value.clone(), a.span)))
        .collect();
    let mut names_so_far: Vec<Option<String>> = vec![None; c.vhosts.len() + 1];
    let mut daemon_spans: Vec<Span> = Vec::new();
    let mut aliases: Vec<ParsedAlias<'_, '_>> = Vec::new();

    for (server, item) in &all {
        let server = *server;
        let slot = server.map_or(0, |v| v + 1);
        match item.def.name {
            "ServerName" => names_so_far[slot] = item.arg(0).map(server_name_host),
            "WSGIDaemonProcess" => {
                let ctx = daemon::DaemonContext {
                    definition_index: cfg.daemons.len() + 1,
                    declared_in: DeclaredIn {
                        vhost: server,
                        server_name: final_name(server),
                    },
                    server_timeout_s: timeout_of(server),
                    python_home: cfg.python_home.as_deref(),
                    socket_prefix: &cfg.socket_prefix,
                    socket_rotation: cfg.socket_rotation,
                };
                let Some(d) = daemon::parse(item, &ctx, sources, diags) else {
                    continue;
                };
                let name_span = item.directive.args[0].span;
                if let Some(pos) = cfg.daemons.iter().position(|p| p.name == d.name) {
                    diags.push(
                        Diagnostic::error(
                            "wsgi/duplicate-daemon",
                            format!("a daemon process group called '{}' is already defined", d.name),
                        )
                        .at(name_span, "second definition")
                        .also(daemon_spans[pos], "first defined here")
                        .apache("Name duplicates previous WSGI daemon definition.")
                        .note_line("group names are global to the server, even inside <VirtualHost>; a virtual host with the same ServerName (the :443 twin of a :80 host) can use the first group as it is")
                        .help(format!(
                            "remove this WSGIDaemonProcess and use `WSGIProcessGroup {}`, or rename it (e.g. `{}-2`)",
                            d.name, d.name
                        )),
                    );
                    continue;
                }
                daemon_spans.push(name_span);
                cfg.daemons.push(d);
            }
            "WSGIScriptAlias" | "WSGIScriptAliasMatch" => {
                let Some(mut a) = mounts::parse_alias(item, server, sources, diags) else {
                    continue;
                };
                if a.preloaded {
                    let (pg, pg_span) = a.process_group.clone().unwrap_or_default_span(item);
                    let pg = if pg == "%{GLOBAL}" { String::new() } else { pg };
                    let view = ConfigTimeView {
                        registered: &cfg.daemons,
                        all_daemons: &all_daemons,
                        names_so_far: &names_so_far,
                    };
                    if mounts::config_time_check(&pg, pg_span, server, item.def.name, view, diags) {
                        let ag = a.application_group.as_ref().map_or("", |g| g.0.as_str());
                        let ag = if ag == "%{GLOBAL}" { "" } else { ag };
                        cfg.import_scripts.push(mounts::import_entry(
                            &a.target,
                            &pg,
                            ag,
                            DeclaredIn {
                                vhost: server,
                                server_name: final_name(server),
                            },
                            sources.location(item.span()),
                            true,
                        ));
                    } else {
                        a.group_reported = true;
                    }
                }
                aliases.push(a);
            }
            "WSGIImportScript" => {
                let Some(imp) = mounts::parse_import(item, sources, diags) else {
                    continue;
                };
                let view = ConfigTimeView {
                    registered: &cfg.daemons,
                    all_daemons: &all_daemons,
                    names_so_far: &names_so_far,
                };
                if mounts::config_time_check(
                    &imp.process_group.0,
                    imp.process_group.1,
                    server,
                    "WSGIImportScript",
                    view,
                    diags,
                ) {
                    cfg.import_scripts.push(mounts::import_entry(
                        &imp.script,
                        &imp.process_group.0,
                        &imp.application_group,
                        DeclaredIn {
                            vhost: server,
                            server_name: final_name(server),
                        },
                        sources.location(item.span()),
                        false,
                    ));
                }
            }
            _ => {}
        }
    }

    // Run-time view: one set of mounts per server.
    let mut uses: Vec<(Option<usize>, GroupUse)> = Vec::new();
    let mut mount_checks = MountChecks::default();
    let main_view = ServerView {
        vhost: None,
        own: &[],
        main: &c.global,
        server_name: main.server_name.clone(),
        port: server_name_port(&c.global).or_else(|| first_listen_port(&c.global)),
        timeout_s: main.timeout_s,
    };
    main.wsgi_mounts = aliases
        .iter()
        .filter(|a| a.server.is_none())
        .map(|a| {
            let mut u = Vec::new();
            let m = mounts::build_mount(a, &main_view, &cfg.daemons, sources, &mut u);
            mount_checks.check(&m, a, None, &cfg, diags);
            uses.extend(u.into_iter().map(|u| (None, u)));
            m
        })
        .collect();
    for (v, vh) in vhosts.iter_mut().enumerate() {
        let Some(items) = c.vhosts.get(v) else {
            continue;
        };
        let view = ServerView {
            vhost: Some(v),
            own: &items.items,
            main: &c.global,
            server_name: vh.server.server_name.clone(),
            port: vh
                .addresses
                .iter()
                .find_map(|a| a.port)
                .or_else(|| server_name_port(&items.items))
                .or_else(|| server_name_port(&c.global)),
            timeout_s: vh.server.timeout_s,
        };
        let own = aliases.iter().filter(|a| a.server == Some(v));
        let inherited = aliases.iter().filter(|a| a.server.is_none());
        vh.server.wsgi_mounts = own
            .chain(inherited)
            .map(|a| {
                let mut u = Vec::new();
                let m = mounts::build_mount(a, &view, &cfg.daemons, sources, &mut u);
                mount_checks.check(&m, a, Some(v), &cfg, diags);
                uses.extend(u.into_iter().map(|u| (Some(v), u)));
                m
            })
            .collect();
    }

    // Requests handled by a server can only use the groups its own
    // WSGIProcessGroup directives name, mounts or not (AddHandler wsgi-script).
    let servers = std::iter::once((None, c.global.as_slice())).chain(
        c.vhosts
            .iter()
            .enumerate()
            .map(|(v, vi)| (Some(v), vi.items.as_slice())),
    );
    for (server, items) in servers {
        for item in items.iter().filter(|i| i.def.name == "WSGIProcessGroup") {
            let Some(arg) = item.directive.args.first() else {
                continue;
            };
            if let Expansion::Literal(g) = mounts::expansion(&arg.value) {
                if !g.is_empty() {
                    uses.push((
                        server,
                        GroupUse {
                            group: g,
                            span: arg.span,
                            computed: false,
                            partial: false,
                            reported: false,
                        },
                    ));
                }
            }
        }
    }
    check_visibility(&uses, &cfg, main, vhosts, diags);
    check_unknown_groups(c, &aliases, &cfg, diags);
    check_unused(c, &aliases, &cfg, &daemon_spans, diags);
    check_python_path(c, main, vhosts, diags);
    cfg
}

/// Position of a span in the configuration. Exact within one file; across
/// files it assumes included files come after what precedes the Include,
/// which holds for the usual layouts (conf-enabled/, sites-enabled/).
trait DefaultSpan {
    fn unwrap_or_default_span(self, item: &Item<'_>) -> (String, Span);
}

impl DefaultSpan for Option<(String, Span)> {
    fn unwrap_or_default_span(self, item: &Item<'_>) -> (String, Span) {
        self.unwrap_or_else(|| (String::new(), item.span()))
    }
}

fn server_name_port(items: &[Item<'_>]) -> Option<u16> {
    let arg = last_in(items, "ServerName")?.arg(0)?;
    let no_scheme = arg.split_once("://").map_or(arg, |(_, r)| r);
    parse_host_port(no_scheme).and_then(|(_, p)| p)
}

fn first_listen_port(items: &[Item<'_>]) -> Option<u16> {
    all_in(items, "Listen")
        .filter_map(|i| i.arg(0))
        .find_map(|a| parse_host_port(a).and_then(|(_, p)| p))
}

/// The server-wide directives (main server only).
fn server_wide(
    c: &Collected<'_>,
    build: crate::build::Build,
    diags: &mut Diagnostics,
) -> WsgiConfig {
    let mut cfg = WsgiConfig {
        socket_prefix: build.wsgi_socket_prefix().to_string(),
        ..WsgiConfig::default()
    };
    let text = |name: &str| {
        c.global_last(name)
            .and_then(|i| i.arg(0))
            .map(str::to_string)
    };
    let flag = |name: &str, default: bool| -> bool {
        match text(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            Some("on") => true,
            Some("off") => false,
            _ => default,
        }
    };
    cfg.python_home = text("WSGIPythonHome");
    cfg.python_path = text("WSGIPythonPath")
        .map(|p| {
            p.split(':')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    cfg.python_eggs = text("WSGIPythonEggs");
    if let Some(p) = text("WSGISocketPrefix") {
        cfg.socket_prefix = p;
        cfg.socket_prefix_configured = true;
    }
    cfg.socket_rotation = flag("WSGISocketRotation", true);
    cfg.restrict_embedded = flag("WSGIRestrictEmbedded", false);
    cfg.lazy_initialization = flag("WSGILazyInitialization", true);
    cfg.destroy_interpreter = flag("WSGIDestroyInterpreter", true);
    cfg.restrict_signal = flag("WSGIRestrictSignal", true);
    cfg.restrict_stdout = flag("WSGIRestrictStdout", false);
    cfg.restrict_stdin = flag("WSGIRestrictStdin", false);
    cfg.server_metrics = flag("WSGIServerMetrics", false);
    if let Some(item) = c.global_last("WSGIAcceptMutex") {
        let v = item.arg(0).unwrap_or_default();
        const MECHS: &[&str] = &[
            "default", "flock", "fcntl", "sysvsem", "posixsem", "pthread",
        ];
        match MECHS.iter().find(|m| m.eq_ignore_ascii_case(v)) {
            Some(m) => cfg.accept_mutex = (*m).to_string(),
            None => diags.push(
                Diagnostic::error("wsgi/bad-value", format!("`{v}` is not an accept mutex mechanism"))
                    .at(item.directive.args[0].span, "unknown mechanism")
                    .apache(format!(
                        "Accept mutex lock mechanism '{v}' is invalid. Valid accept mutex mechanisms for this platform are: default, flock, fcntl, sysvsem, posixsem, pthread."
                    ))
                    .help("write `WSGIAcceptMutex default`"),
            ),
        }
    }
    cfg
}

/// On/Off directives (and WSGIMapHEADToGET's Auto), wherever they appear.
fn check_flags(c: &Collected<'_>, diags: &mut Diagnostics) {
    let items = c
        .global
        .iter()
        .chain(c.vhosts.iter().flat_map(|v| v.items.iter()));
    for item in items {
        if item.def.module != "mod_wsgi"
            || !item.def.syntax.ends_with("On|Off") && !item.def.syntax.ends_with("On|Off|Auto")
        {
            continue;
        }
        let auto = item.def.syntax.ends_with("|Auto");
        let v = item.arg(0).unwrap_or_default();
        let ok = v.eq_ignore_ascii_case("on")
            || v.eq_ignore_ascii_case("off")
            || (auto && v.eq_ignore_ascii_case("auto"));
        if ok {
            continue;
        }
        let choices = if auto { "Off | On | Auto" } else { "Off | On" };
        diags.push(
            Diagnostic::error(
                "wsgi/bad-flag",
                format!(
                    "{} takes On or Off{}, not `{v}`",
                    item.def.name,
                    if auto { " or Auto" } else { "" }
                ),
            )
            .at(
                item.directive.args.first().map_or(item.span(), |a| a.span),
                "not accepted",
            )
            .apache(format!("{} must be one of: {choices}", item.def.name))
            .help(format!(
                "write `{} {}`",
                item.def.name,
                if auto { "Auto" } else { "On" }
            )),
        );
    }
}

/// Per-mount run-time findings, deduplicated across the servers that
/// inherit the same alias.
#[derive(Debug, Default)]
struct MountChecks {
    seen: BTreeSet<(u32, u32, u32, &'static str)>,
}

impl MountChecks {
    fn once(&mut self, span: Span, what: &'static str) -> bool {
        self.seen.insert((span.file.0, span.start, span.end, what))
    }

    fn check(
        &mut self,
        m: &WsgiMount,
        a: &ParsedAlias<'_, '_>,
        server: Option<usize>,
        cfg: &WsgiConfig,
        diags: &mut Diagnostics,
    ) {
        let span = a.item.span();
        let group_now = match m.process_group.mode {
            DelegationMode::Embedded => Some(String::new()),
            DelegationMode::Daemon => m.process_group.group.clone(),
            DelegationMode::Runtime => None,
        };
        if let (Some(list), Some(g)) = (&m.restrict_process, &group_now) {
            if !list.contains(g) && self.once(span, "restrict-process") {
                let shown = if g.is_empty() {
                    "%{GLOBAL}"
                } else {
                    g.as_str()
                };
                diags.push(
                    Diagnostic::error(
                        "wsgi/restricted-process-group",
                        format!("mount {} runs in process group {shown}, which WSGIRestrictProcess does not allow", m.url),
                    )
                    .at_run_time()
                    .at(span, "every request here gets 500")
                    .apache(format!("Daemon process called '{g}' cannot be accessed by this WSGI application as not a member of allowed groups"))
                    .help(format!("add `{shown}` to WSGIRestrictProcess, or delegate the mount to an allowed group")),
                );
            }
        }
        if m.process_group.mode != DelegationMode::Embedded {
            return;
        }
        let fix = match cfg.daemons.first() {
            Some(d) => format!(
                "add `process-group={}` to this WSGIScriptAlias line, or `WSGIProcessGroup {}` in its server",
                d.name, d.name
            ),
            None => format!(
                "define a group and delegate to it: `WSGIDaemonProcess app` then `WSGIScriptAlias {} {} process-group=app`",
                m.url, m.target
            ),
        };
        let scope = match server {
            Some(v) if m.inherited => format!(" (inherited by virtual host #{v})"),
            _ => String::new(),
        };
        if cfg.restrict_embedded {
            if self.once(span, "embedded-restricted") {
                diags.push(
                    Diagnostic::error(
                        "wsgi/embedded-restricted",
                        format!("mount {} runs in embedded mode, which WSGIRestrictEmbedded On forbids{scope}", m.url),
                    )
                    .at_run_time()
                    .at(span, "every request here gets 500")
                    .apache("Embedded mode of mod_wsgi disabled by runtime configuration")
                    .note_line(format!("process group: {} ({})", m.process_group.expression, origin_words(&m.process_group.origin)))
                    .help(fix),
                );
            }
        } else if !cfg.daemons.is_empty() && self.once(span, "embedded") {
            diags.push(
                Diagnostic::warning(
                    "wsgi/embedded-mount",
                    format!("mount {} runs in embedded mode (inside the Apache children), although daemon groups are defined{scope}", m.url),
                )
                .at(span, "not delegated to a daemon group")
                .note_line(format!("process group: {} ({})", m.process_group.expression, origin_words(&m.process_group.origin)))
                .help(fix),
            );
        }
    }
}

fn origin_words(o: &Origin) -> String {
    match o {
        Origin::Default => "the default".to_string(),
        Origin::AliasOption { .. } => "set on the alias line".to_string(),
        Origin::Server { at } => format!("set at {at}"),
        Origin::Section { section, at } => format!("set in {section} at {at}"),
    }
}

/// §3.7: a group declared in a virtual host is usable only from servers
/// with the same ServerName.
fn check_visibility(
    uses: &[(Option<usize>, GroupUse)],
    cfg: &WsgiConfig,
    main: &ServerConfig,
    vhosts: &[VirtualHost],
    diags: &mut Diagnostics,
) {
    let mut seen = BTreeSet::new();
    for (server, u) in uses {
        if u.reported || !seen.insert((u.span.file.0, u.span.start, *server, u.group.clone())) {
            continue;
        }
        let Some(g) = cfg.daemon(&u.group) else {
            if u.computed {
                diags.push(unknown_group(&u.group, u.span, cfg, true));
            }
            continue;
        };
        let here = match server {
            None => main.server_name.as_deref(),
            Some(v) => vhosts
                .get(*v)
                .and_then(|vh| vh.server.server_name.as_deref()),
        };
        if g.visible_from(*server, here) {
            continue;
        }
        let Some(gv) = g.declared_in.vhost else {
            continue;
        };
        let there = g.declared_in.server_name.as_deref();
        let who = |n: Option<&str>, s: Option<usize>| match (n, s) {
            (Some(n), Some(v)) => format!("virtual host #{v} (`{n}`)"),
            (None, Some(v)) => format!("virtual host #{v} (no ServerName)"),
            (Some(n), None) => format!("the main server (`{n}`)"),
            (None, None) => "the main server (no ServerName)".to_string(),
        };
        let partly = if u.partial {
            " for part of a mount"
        } else {
            ""
        };
        diags.push(
            Diagnostic::error(
                "wsgi/process-group-not-visible",
                format!(
                    "process group '{}' is declared in {}, so {} cannot use it{partly}",
                    u.group,
                    who(there, Some(gv)),
                    who(here, *server)
                ),
            )
            .at_run_time()
                    .at(u.span, "every request delegated here gets 500")
            .apache(format!("Daemon process called '{}' cannot be accessed by this WSGI application", u.group))
            .note_line(format!("declared at {}", g.at))
            .note_line("a group may be used by its own virtual host, by virtual hosts with the same ServerName, or by anyone when declared outside every <VirtualHost>")
            .help(match there {
                Some(n) if here.is_some() => format!(
                    "move `WSGIDaemonProcess {}` outside every <VirtualHost>, or give this server `ServerName {n}` if it is the same site, or define a group of its own",
                    u.group
                ),
                _ => format!("move `WSGIDaemonProcess {}` outside every <VirtualHost>", u.group),
            }),
        );
    }
}

fn unknown_group(group: &str, span: Span, cfg: &WsgiConfig, computed: bool) -> Diagnostic {
    let names: Vec<&str> = cfg.daemons.iter().map(|d| d.name.as_str()).collect();
    let mut d = Diagnostic::error(
        "wsgi/unknown-process-group",
        format!("no WSGIDaemonProcess defines the process group '{group}'"),
    )
    .at_run_time()
    .at(span, "every request delegated here gets 500")
    .apache(format!(
        "No WSGI daemon process called '{group}' has been configured"
    ));
    if computed {
        d = d.note_line("the name is computed from %{SERVER}/%{RESOURCE} for this server");
    }
    if !names.is_empty() {
        d = d.note_line(format!("defined groups: {}", names.join(", ")));
    }
    match options::closest(group, names.iter().copied()) {
        Some(s) => d.help(format!("write `{s}` (the closest defined group), or add `WSGIDaemonProcess {group}`")),
        None => d.help(format!("add `WSGIDaemonProcess {group} threads=15` (global scope makes it usable from every virtual host)")),
    }
}

/// Every WSGIProcessGroup and alias `process-group=` naming a group that
/// no WSGIDaemonProcess defines.
fn check_unknown_groups(
    c: &Collected<'_>,
    aliases: &[ParsedAlias<'_, '_>],
    cfg: &WsgiConfig,
    diags: &mut Diagnostics,
) {
    let items = c
        .global
        .iter()
        .chain(c.vhosts.iter().flat_map(|v| v.items.iter()));
    for item in items.filter(|i| i.def.name == "WSGIProcessGroup") {
        let Some(arg) = item.directive.args.first() else {
            continue;
        };
        if let Expansion::Literal(g) = mounts::expansion(&arg.value) {
            if !g.is_empty() && cfg.daemon(&g).is_none() {
                diags.push(unknown_group(&g, arg.span, cfg, false));
            }
        }
    }
    for a in aliases.iter().filter(|a| !a.group_reported) {
        if let Some((g, span)) = &a.process_group {
            if let Expansion::Literal(g) = mounts::expansion(g) {
                if cfg.daemon(&g).is_none() {
                    diags.push(unknown_group(&g, *span, cfg, false));
                }
            }
        }
    }
}

/// Groups nothing delegates to: they start processes that serve nothing.
fn check_unused(
    c: &Collected<'_>,
    aliases: &[ParsedAlias<'_, '_>],
    cfg: &WsgiConfig,
    daemon_spans: &[Span],
    diags: &mut Diagnostics,
) {
    let mut named: BTreeSet<String> = BTreeSet::new();
    let items = c
        .global
        .iter()
        .chain(c.vhosts.iter().flat_map(|v| v.items.iter()));
    for item in items {
        match item.def.name {
            "WSGIDispatchScript" => return,
            "WSGIProcessGroup" | "WSGIRestrictProcess" => {
                for a in &item.directive.args {
                    match mounts::expansion(&a.value) {
                        Expansion::Literal(g) => {
                            named.insert(g);
                        }
                        Expansion::Global => {}
                        // Computed per request: any group may be meant.
                        _ => return,
                    }
                }
            }
            "WSGIHandlerScript" => {
                for a in &item.directive.args {
                    if let Some(g) = a.value.strip_prefix("process-group=") {
                        named.insert(g.trim_matches(['\'', '"']).to_string());
                    }
                }
            }
            _ => {}
        }
    }
    for a in aliases {
        if let Some((g, _)) = &a.process_group {
            if g.contains("%{") && g != "%{GLOBAL}" {
                return;
            }
            named.insert(g.clone());
        }
    }
    for s in &cfg.import_scripts {
        named.insert(s.process_group.clone());
    }
    for (d, span) in cfg.daemons.iter().zip(daemon_spans) {
        if named.contains(&d.name) {
            continue;
        }
        diags.push(
            Diagnostic::warning(
                "wsgi/unused-daemon",
                format!("daemon process group '{}' is defined but no request is delegated to it", d.name),
            )
            .note_line(format!(
                "its {} process(es) × {} thread(s) start and use memory, yet serve nothing",
                d.processes, d.threads
            ))
            .at(*span, "nothing uses this group")
            .help(format!(
                "delegate to it with `WSGIProcessGroup {}` (or `process-group={}` on the WSGIScriptAlias line), or remove it",
                d.name, d.name
            )),
        );
    }
}

/// WSGIPythonPath applies to embedded mode only.
fn check_python_path(
    c: &Collected<'_>,
    main: &ServerConfig,
    vhosts: &[VirtualHost],
    diags: &mut Diagnostics,
) {
    let Some(item) = c.global_last("WSGIPythonPath") else {
        return;
    };
    let mounts: Vec<&WsgiMount> = main
        .wsgi_mounts
        .iter()
        .chain(vhosts.iter().flat_map(|v| v.server.wsgi_mounts.iter()))
        .collect();
    if mounts.is_empty()
        || mounts
            .iter()
            .any(|m| m.process_group.mode != DelegationMode::Daemon)
    {
        return;
    }
    let group = mounts
        .iter()
        .find_map(|m| m.process_group.group.clone())
        .unwrap_or_default();
    let path = item.arg(0).unwrap_or_default();
    diags.push(
        Diagnostic::warning(
            "wsgi/python-path-embedded-only",
            "WSGIPythonPath has no effect: every mount runs in a daemon group, and daemon groups ignore it",
        )
        .at(item.span(), "embedded mode only")
        .help(format!("add `python-path={path}` to `WSGIDaemonProcess {group}` instead")),
    );
}
