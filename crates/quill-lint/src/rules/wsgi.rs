//! mod_wsgi daemon mode: duplicated groups, visibility, definition order,
//! redundant imports, sub-interpreters, unused groups.

use std::collections::BTreeSet;

use quill_config::Severity;
use quill_config::source::{SourceMap, Span};
use quill_config::syntax::{Directive, ParsedConfig, Section, walk};
use quill_config::wsgi::{DaemonProcess, DelegationMode, Origin, WsgiMount};

use quill_mpm::Knob;

use super::{ids, join_and, mb};
use crate::context::{Ctx, before_line, whole_lines};
use crate::finding::{Edit, Finding};
use crate::rule::{Example, Family, Rule};

/// The `WSGIDaemonProcess` directive of a group.
fn daemon_directive<'a>(ctx: &Ctx<'a>, d: &DaemonProcess) -> Option<&'a Directive> {
    ctx.directive_at(&d.at)
}

/// The group name a diagnostic's span names (`G`, `process-group=G`).
fn group_named_at(ctx: &Ctx<'_>, span: Span) -> String {
    let s = ctx.sources.snippet(span).trim();
    let s = s.strip_prefix("process-group=").unwrap_or(s);
    s.trim_matches(['\'', '"']).to_string()
}

/// The directive containing `span` and its enclosing sections.
fn enclosing<'a>(ctx: &Ctx<'a>, span: Span) -> Option<(&'a Directive, Vec<&'a Section>)> {
    let mut found = None;
    walk(&ctx.parsed.nodes, &mut |d, sections| {
        if found.is_none()
            && d.span.file == span.file
            && d.span.start <= span.start
            && span.end <= d.span.end
        {
            found = Some((d, sections.to_vec()));
        }
    });
    found
}

/// Where a directive at global scope must go to come before `span`: the
/// `<VirtualHost>` line around it, or its own line at global scope.
fn global_anchor_before(ctx: &Ctx<'_>, span: Span) -> Span {
    match enclosing(ctx, span) {
        Some((d, sections)) => sections
            .iter()
            .find(|s| s.is("VirtualHost"))
            .map_or(d.span, |s| s.span),
        None => span,
    }
}

fn position(span: Span) -> (u32, u32) {
    (span.file.0, span.start)
}

/// Move a daemon group's definition to global scope, before every place
/// that needs it earlier or elsewhere. The same edits whichever rule asks
/// (so they count once).
fn move_daemon(ctx: &Ctx<'_>, name: &str) -> Option<(Vec<Edit>, String)> {
    let d = ctx.config.wsgi.daemon(name)?;
    let directive = daemon_directive(ctx, d)?;
    let mut anchors: Vec<Span> = Vec::new();
    let uses: Vec<(&str, Span)> = ctx
        .diagnostics
        .iter()
        .filter(|x| WSGI_GROUP_NOT_VISIBLE.claims_code(x.code))
        .filter_map(|x| x.span.map(|s| (x.code, s)))
        .filter(|(_, s)| group_named_at(ctx, *s) == name)
        .collect();
    if !uses.is_empty() {
        if let Some(section) = d.declared_in.vhost.and_then(|v| ctx.vhost_section(v)) {
            anchors.push(section.span);
        }
    }
    // A preloading use (checked while the configuration is read) needs the
    // group before it, too.
    for (code, s) in &uses {
        if *code != "wsgi/process-group-not-visible" {
            anchors.push(global_anchor_before(ctx, *s));
        }
    }
    for x in ctx.resolver("wsgi/group-not-yet-configured") {
        if let Some(s) = x.span.filter(|s| group_named_at(ctx, *s) == name) {
            anchors.push(global_anchor_before(ctx, s));
        }
    }
    let target = anchors.into_iter().min_by_key(|s| position(*s))?;
    let lines = whole_lines(ctx.sources, directive.span);
    let at = before_line(ctx.sources, target)?;
    let text = ctx.sources.snippet(lines);
    let indent: String = text
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let target_indent = ctx
        .sources
        .get(at.file)
        .and_then(|f| f.text.get(at.line_start..at.line_start + at.indent_len))
        .unwrap_or("")
        .to_string();
    let mut moved = String::new();
    for line in text.lines() {
        let line = line.strip_prefix(indent.as_str()).unwrap_or(line);
        moved.push_str(&target_indent);
        moved.push_str(line);
        moved.push('\n');
    }
    let shown: String = ctx
        .sources
        .snippet(target)
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(60)
        .collect();
    let where_ = format!("before `{}` ({})", shown.trim(), ctx.line_of(target));
    Some((
        vec![Edit::delete(lines), Edit::insert(at.file, at.offset, moved)],
        where_,
    ))
}

pub static WSGI_DUPLICATE_HTTPS_GROUP: Rule = Rule {
    id: ids::WSGI_DUPLICATE_HTTPS_GROUP,
    severity: Severity::Warning,
    family: Family::Wsgi,
    summary: "A second WSGIDaemonProcess in the HTTPS twin of a virtual host, for the same script",
    explanation: "\
What: the :443 virtual host defines its own daemon process group for the same WSGI \
script as the :80 virtual host with the same ServerName. mod_wsgi lets a virtual host \
use a group declared in another virtual host with the same ServerName \
(reference/mod_wsgi.md §3.7), so one group can serve both.

Why it matters: the second group starts its own processes, each with its own copy of the \
application: twice the memory, two caches, half the requests each, and two places to \
keep in step.

Fix: remove the second `WSGIDaemonProcess` and delegate the HTTPS virtual host to the \
first group (`WSGIProcessGroup` and every `process-group=` renamed). The daemon tier \
shrinks by the duplicate's threads and queue: when MaxRequestWorkers no longer fits it, \
the edit also writes the MaxRequestWorkers that `tier-capacity` would propose for the \
merged tier (and what follows from it in the MPM plan), so one application of the edits \
is enough.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/wsgi-duplicate-https-group/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/wsgi-duplicate-https-group/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("kept_group", "the group both virtual hosts share"),
        ("removed_group", "the duplicate"),
        ("processes_saved", "daemon processes no longer started"),
        ("memory_saved_mb", "their memory at --daemon-rss"),
    ],
    check: |ctx, out| {
        for (keep, dup, dup_is_https) in duplicate_groups(ctx.config, ctx.parsed, ctx.sources) {
            if let Some(dir2) = daemon_directive(ctx, dup) {
                out.push(duplicate_finding(ctx, keep, dup, dir2, dup_is_https));
            }
        }
    },
};

/// Daemon groups that duplicate another one in the HTTP/HTTPS twin of
/// their virtual host (same ServerName, same script): (the group kept, the
/// duplicate, whether the duplicate's virtual host is the HTTPS one).
/// (`Ctx::new` needs them before the context exists: the plan sizes the
/// front end for the merged tier.)
pub(crate) fn duplicate_groups<'a>(
    config: &'a quill_config::model::ResolvedConfig,
    parsed: &ParsedConfig,
    sources: &SourceMap,
) -> Vec<(&'a DaemonProcess, &'a DaemonProcess, bool)> {
    let daemons = &config.wsgi.daemons;
    let mut found = Vec::new();
    let mut removed = BTreeSet::new();
    for (i, g1) in daemons.iter().enumerate() {
        for g2 in &daemons[i + 1..] {
            if removed.contains(&g2.name) {
                continue;
            }
            let (Some(v1), Some(v2)) = (g1.declared_in.vhost, g2.declared_in.vhost) else {
                continue;
            };
            if v1 == v2
                || g1.declared_in.server_name.is_none()
                || g1.declared_in.server_name != g2.declared_in.server_name
            {
                continue;
            }
            let (Some(h1), Some(h2)) = (config.vhosts.get(v1), config.vhosts.get(v2)) else {
                continue;
            };
            let https = |v: &quill_config::model::VirtualHost| {
                v.server.tls.enabled || v.addresses.iter().any(|a| a.port == Some(443))
            };
            if https(h1) == https(h2) {
                continue;
            }
            fn delegated<'v>(
                v: &'v quill_config::model::VirtualHost,
                g: &str,
            ) -> Vec<&'v WsgiMount> {
                v.server
                    .wsgi_mounts
                    .iter()
                    .filter(|m| {
                        m.process_group.mode == DelegationMode::Daemon
                            && m.process_group.group.as_deref() == Some(g)
                    })
                    .collect()
            }
            let same_script = delegated(h1, &g1.name).iter().any(|m1| {
                delegated(h2, &g2.name)
                    .iter()
                    .any(|m2| m2.target == m1.target)
            });
            if !same_script || crate::context::directive_at(parsed, sources, &g2.at).is_none() {
                continue;
            }
            removed.insert(g2.name.clone());
            found.push((g1, g2, https(h2)));
        }
    }
    found
}

fn duplicate_finding(
    ctx: &Ctx<'_>,
    keep: &DaemonProcess,
    dup: &DaemonProcess,
    dup_directive: &Directive,
    dup_is_https: bool,
) -> Finding {
    let scheme = |https: bool| if https { "HTTPS" } else { "HTTP" };
    let saved_mb = f64::from(dup.processes) * ctx.options.daemon_rss_mb;
    let name = dup.declared_in.server_name.clone().unwrap_or_default();
    let mut f = Finding::new(
        &WSGI_DUPLICATE_HTTPS_GROUP,
        format!(
            "the {} virtual host of {name} defines its own daemon group '{}' for the same script as '{}' in its {} twin: {} more process(es) × {} threads (about {}) for the same application",
            scheme(dup_is_https),
            dup.name,
            keep.name,
            scheme(!dup_is_https),
            dup.processes,
            dup.threads,
            mb(saved_mb)
        ),
    )
    .at(dup_directive.span, "a second copy of the application")
    .note("a virtual host may use a group declared in another virtual host with the same ServerName (mod_wsgi's visibility rule)")
    .data("kept_group", keep.name.clone())
    .data("removed_group", dup.name.clone())
    .data("processes_saved", dup.processes)
    .data("memory_saved_mb", saved_mb.round());
    if let Some(d) = daemon_directive(ctx, keep) {
        f = f.also(d.span, "this group can serve both");
    }
    let mut a = keep.clone();
    let mut b = dup.clone();
    for x in [&mut a, &mut b] {
        x.name.clear();
        x.definition_index = 0;
        x.declared_in.vhost = None;
        x.at = keep.at.clone();
        x.display_name = None;
        x.process_title = None;
        x.socket.path.clear();
        x.options_given.clear();
    }
    if a != b {
        f = f.note(format!(
            "the two groups' options differ; the shared group keeps those of '{}'",
            keep.name
        ));
    }
    if let Some(t) = &ctx.tier {
        let left: Vec<_> = t
            .groups
            .iter()
            .filter(|g| g.name != dup.name)
            .cloned()
            .collect();
        if let Some(after) = crate::tier::assess_groups(left, &ctx.mpm) {
            if after.verdict != t.verdict && after.verdict != crate::tier::Verdict::Balanced {
                let then = if ctx
                    .plan
                    .caused_by(Knob::MaxRequestWorkers, ids::WSGI_DUPLICATE_HTTPS_GROUP)
                {
                    format!(
                        "the edit also writes MaxRequestWorkers {}, which fits",
                        ctx.plan.value(Knob::MaxRequestWorkers)
                    )
                } else {
                    "once the edit is applied, tier-capacity proposes a MaxRequestWorkers that fits"
                        .to_string()
                };
                f = f.note(format!(
                    "without '{}' the daemon tier runs {} threads and queues {} more, against the front end's {} threads; {then}",
                    dup.name, after.daemon_threads, after.backlog, after.front_threads
                ));
            }
        }
    }
    let mut edits = vec![Edit::delete(whole_lines(ctx.sources, dup_directive.span))];
    let mut rewritten = Vec::new();
    // Lines that wsgi-options-on-alias rewrites get its edits (the same
    // edits, so applying both findings' counts them once).
    let simplified = alias_options(ctx);
    walk(&ctx.parsed.nodes, &mut |d, _| {
        if let Some(a) = simplified.iter().find(|a| a.touches(d)) {
            if std::ptr::eq(a.alias, d) && a.new_group == keep.name && a.group == dup.name {
                edits.extend(a.edits(ctx));
                rewritten.push(format!(
                    "`{}` ({}) in place of the virtual host's WSGIProcessGroup, WSGIApplicationGroup and WSGIImportScript lines (the edit of wsgi-options-on-alias)",
                    a.new_alias_line(ctx),
                    ctx.line_of(d.span)
                ));
            }
            return;
        }
        if d.is("WSGIProcessGroup") {
            if let Some(arg) = d.args.first().filter(|a| a.value == dup.name) {
                edits.push(Edit::replace(arg.span, keep.name.clone()));
                rewritten.push(format!(
                    "`WSGIProcessGroup {}` ({})",
                    keep.name,
                    ctx.line_of(d.span)
                ));
            }
        } else if [
            "WSGIScriptAlias",
            "WSGIScriptAliasMatch",
            "WSGIImportScript",
            "WSGIHandlerScript",
        ]
        .iter()
        .any(|n| d.is(n))
        {
            for arg in &d.args {
                if arg
                    .value
                    .strip_prefix("process-group=")
                    .map(|g| g.trim_matches(['\'', '"']))
                    == Some(dup.name.as_str())
                {
                    edits.push(Edit::replace(
                        arg.span,
                        format!("process-group={}", keep.name),
                    ));
                    rewritten.push(format!(
                        "`process-group={}` ({})",
                        keep.name,
                        ctx.line_of(d.span)
                    ));
                }
            }
        }
    });
    // The front end resized for the merged tier (the plan's, see
    // `Plan::new`), and what that changes in turn.
    let planned = super::plan_edits(ctx, ids::WSGI_DUPLICATE_HTTPS_GROUP, &[], &[]);
    rewritten.extend(super::plan_lines(ctx, &planned));
    edits.extend(planned.into_iter().map(|(_, _, e)| e));
    f.help(format!(
        "remove `WSGIDaemonProcess {} …` ({}) and write {}",
        dup.name,
        ctx.line_of(dup_directive.span),
        join_and(&rewritten)
    ))
    .edits(edits)
}

pub static WSGI_GROUP_NOT_VISIBLE: Rule = Rule {
    id: ids::WSGI_GROUP_NOT_VISIBLE,
    severity: Severity::Error,
    family: Family::Wsgi,
    summary: "A daemon group used where mod_wsgi's visibility rule forbids it (500 at run time)",
    explanation: "\
What: a request handled by a virtual host may use a daemon process group only if the \
group was declared in that virtual host, at global scope (outside every \
`<VirtualHost>`), or in a virtual host with exactly the same ServerName \
(reference/mod_wsgi.md §3.7). Otherwise every request delegated to it fails with \
`Daemon process called 'G' cannot be accessed by this WSGI application` and a 500; for a \
preloading `WSGIScriptAlias` or `WSGIImportScript` Apache refuses to start (`WSGI \
process group not accessible.`).

Why it matters: the configuration passes `apachectl configtest` and fails only when \
requests arrive.

Fix: declare the group at global scope (the edit moves the `WSGIDaemonProcess` line out \
of its virtual host, right before it), give the virtual hosts the same ServerName if they \
are the same site, or define a group per site.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/wsgi-group-not-visible/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/wsgi-group-not-visible/fixed.conf"),
    }),
    claims: &[
        "wsgi/process-group-not-visible",
        "wsgi/group-not-accessible",
        "wsgi/group-not-matchable",
    ],
    data: &[("group", "the daemon group")],
    check: |ctx, out| {
        for d in ctx
            .diagnostics
            .iter()
            .filter(|d| WSGI_GROUP_NOT_VISIBLE.claims_code(d.code))
        {
            let mut d = d.clone();
            let group = d.span.map(|s| group_named_at(ctx, s)).unwrap_or_default();
            let moved = move_daemon(ctx, &group);
            if moved.is_some() {
                d.help = None;
            }
            let mut f = Finding::wrap(&WSGI_GROUP_NOT_VISIBLE, d).data("group", group.clone());
            if let Some((edits, where_)) = moved {
                f = f
                    .help(format!(
                        "move `WSGIDaemonProcess {group} …` to global scope, {where_}, so every virtual host can use it"
                    ))
                    .note("at global scope the group logs to the main ErrorLog and its socket-timeout defaults to the main server's Timeout")
                    .edits(edits);
            }
            out.push(f);
        }
    },
};

pub static WSGI_GROUP_DEFINED_LATER: Rule = Rule {
    id: ids::WSGI_GROUP_DEFINED_LATER,
    severity: Severity::Error,
    family: Family::Wsgi,
    summary: "A preloading WSGIScriptAlias or WSGIImportScript uses a daemon group defined later",
    explanation: "\
What: a `WSGIScriptAlias` with both `process-group=` and `application-group=` preloads \
the script when the group's processes start, like `WSGIImportScript` \
(reference/mod_wsgi.md §3.3–3.4). For that mod_wsgi looks the group up while reading the \
configuration, so the `WSGIDaemonProcess` must come earlier in the files.

Why it matters: Apache refuses to start: `WSGI process group not yet configured.`

Fix: move the `WSGIDaemonProcess` before its first preloading use (the edit moves it \
to global scope, right before that use or the `<VirtualHost>` holding it).",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/wsgi-group-defined-later/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/wsgi-group-defined-later/fixed.conf"),
    }),
    claims: &["wsgi/group-not-yet-configured"],
    data: &[("group", "the daemon group")],
    check: |ctx, out| {
        for d in ctx.resolver("wsgi/group-not-yet-configured") {
            let mut d = d.clone();
            let group = d.span.map(|s| group_named_at(ctx, s)).unwrap_or_default();
            let moved = move_daemon(ctx, &group);
            if moved.is_some() {
                d.help = None;
            }
            let mut f = Finding::wrap(&WSGI_GROUP_DEFINED_LATER, d).data("group", group.clone());
            if let Some((edits, where_)) = moved {
                f = f
                    .help(format!("move `WSGIDaemonProcess {group} …` {where_}"))
                    .edits(edits);
            }
            out.push(f);
        }
    },
};

pub static WSGI_REDUNDANT_IMPORT: Rule = Rule {
    id: ids::WSGI_REDUNDANT_IMPORT,
    severity: Severity::Note,
    family: Family::Wsgi,
    summary: "WSGIImportScript made redundant by a WSGIScriptAlias that preloads the same script",
    explanation: "\
What: a `WSGIScriptAlias` carrying both `process-group=` and `application-group=` \
already loads its script when the group's processes start (reference/mod_wsgi.md §3.3); \
a `WSGIImportScript` of the same script into the same groups does it a second time \
(mod_wsgi finds the module loaded and does nothing).

Why it matters: two places to keep in step; removing one of them later silently changes \
nothing or everything.

Fix: remove the `WSGIImportScript` line.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/wsgi-redundant-import/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/wsgi-redundant-import/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("script", "the script"),
        ("process_group", "the daemon group"),
    ],
    check: |ctx, out| {
        let imports = &ctx.config.wsgi.import_scripts;
        for imp in imports.iter().filter(|i| !i.from_script_alias) {
            let Some(alias) = imports.iter().find(|a| {
                a.from_script_alias
                    && a.script == imp.script
                    && a.process_group == imp.process_group
                    && a.application_group == imp.application_group
            }) else {
                continue;
            };
            let Some(d) = ctx.directive_at(&imp.at) else {
                continue;
            };
            let group = if imp.process_group.is_empty() {
                "%{GLOBAL}"
            } else {
                &imp.process_group
            };
            let mut f = Finding::new(
                &WSGI_REDUNDANT_IMPORT,
                format!(
                    "WSGIImportScript loads {} into '{group}', which the WSGIScriptAlias at {} already preloads",
                    imp.script, alias.at
                ),
            )
            .at(d.span, "loads the script a second time")
            .data("script", imp.script.clone())
            .data("process_group", imp.process_group.clone());
            if let Some(a) = ctx.directive_at(&alias.at) {
                f = f.also(
                    a.span,
                    "preloads it (process-group= and application-group=)",
                );
            }
            out.push(
                f.help(format!(
                    "remove this `WSGIImportScript` line ({})",
                    ctx.line_of(d.span)
                ))
                .edit(Edit::delete(whole_lines(ctx.sources, d.span))),
            );
        }
    },
};

pub static WSGI_OPTIONS_ON_ALIAS: Rule = Rule {
    id: ids::WSGI_OPTIONS_ON_ALIAS,
    severity: Severity::Note,
    family: Family::Wsgi,
    summary: "WSGIProcessGroup + WSGIApplicationGroup + WSGIImportScript of the alias's script: options on the WSGIScriptAlias say it in one line",
    explanation: "\
What: a server (virtual host) delegates its one `WSGIScriptAlias` with `WSGIProcessGroup` \
and `WSGIApplicationGroup`, and preloads the same script into the same groups with \
`WSGIImportScript`. `process-group=` and `application-group=` on the `WSGIScriptAlias` \
line do all three: they delegate the mount, and because both are given (and name no \
`%{…}` other than `%{GLOBAL}`), mod_wsgi preloads the script into that group and \
interpreter when its processes start, exactly as `WSGIImportScript` did \
(reference/mod_wsgi.md §3.3–3.4).

Why it matters: four lines that must agree become one; nothing changes at run time.

The rule stays silent where the rewrite could change behaviour: another mount, handler \
or script in the server (or inherited from the main server) that relies on \
`WSGIProcessGroup`/`WSGIApplicationGroup`; those directives in a `<Directory>` or \
`<Location>`, or written twice; an import of another script or into other groups; a \
group or interpreter decided per request (`%{ENV:…}`, `%{RESOURCE}`); a group defined \
after the alias (a preloading alias needs it earlier) or not visible from the server; \
an alias that already has options (see `wsgi-redundant-import`).

Fix: remove the three lines and write the options on the alias (the edit does it). When \
other findings change the same lines, the edit writes their values: the HTTP twin's \
group (`wsgi-duplicate-https-group`) and `%{GLOBAL}` (`wsgi-sub-interpreter`).",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/wsgi-options-on-alias/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/wsgi-options-on-alias/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("mount", "the URL"),
        ("script", "the script"),
        ("process_group", "the group as written (WSGIProcessGroup)"),
        (
            "application_group",
            "the interpreter as written (WSGIApplicationGroup)",
        ),
        (
            "alias",
            "the WSGIScriptAlias line the edit writes (with the values other findings change)",
        ),
        ("lines_removed", "directives the edit removes (3)"),
    ],
    check: |ctx, out| {
        for a in alias_options(ctx) {
            let mut f = Finding::new(
                &WSGI_OPTIONS_ON_ALIAS,
                format!(
                    "`process-group={} application-group={}` on this WSGIScriptAlias replace WSGIProcessGroup, WSGIApplicationGroup and WSGIImportScript: with both options the alias sends {} to the same group and interpreter and preloads {} itself — one line instead of four",
                    a.group, a.app_group, a.url, a.script
                ),
            )
            .at(a.alias.span, "the options belong on this line")
            .also(a.process_group.span, "process-group= replaces this")
            .also(a.application_group.span, "application-group= replaces this")
            .also(a.import.span, "the alias preloads the script itself")
            .data("mount", a.url.clone())
            .data("script", a.script.clone())
            .data("process_group", a.group.clone())
            .data("application_group", a.app_group.clone())
            .data("alias", a.new_alias_line(ctx))
            .data("lines_removed", 3);
            let mut changed = Vec::new();
            if a.new_group != a.group {
                changed.push(format!(
                    "`process-group={}`, the group of the HTTP twin (wsgi-duplicate-https-group)",
                    a.new_group
                ));
            }
            if a.new_app_group != a.app_group {
                changed.push(format!(
                    "`application-group={}`, the main interpreter (wsgi-sub-interpreter)",
                    a.new_app_group
                ));
            }
            if !changed.is_empty() {
                f = f.note(format!(
                    "the edit writes {} rather than the values written here",
                    join_and(&changed)
                ));
            }
            out.push(
                f.help(format!(
                    "write `{}` ({}) and remove the three other lines ({}, {}, {}): three lines fewer",
                    a.new_alias_line(ctx),
                    ctx.line_of(a.alias.span),
                    ctx.line_of(a.process_group.span),
                    ctx.line_of(a.application_group.span),
                    ctx.line_of(a.import.span)
                ))
                .edits(a.edits(ctx)),
            );
        }
    },
};

/// A server whose `WSGIProcessGroup` + `WSGIApplicationGroup` +
/// `WSGIImportScript` can become options on its one `WSGIScriptAlias`
/// without changing what runs where (see [`WSGI_OPTIONS_ON_ALIAS`]).
struct AliasOptions<'a> {
    alias: &'a Directive,
    process_group: &'a Directive,
    application_group: &'a Directive,
    import: &'a Directive,
    url: String,
    script: String,
    /// As written.
    group: String,
    app_group: String,
    /// What the edit writes: the HTTP twin's group when this one is a
    /// duplicate, `%{GLOBAL}` (the other findings' fixes, so that every
    /// finding touching these lines offers the same edits).
    new_group: String,
    new_app_group: String,
}

impl AliasOptions<'_> {
    /// The alias line after the edit (without indentation).
    fn new_alias_line(&self, ctx: &Ctx<'_>) -> String {
        format!(
            "{}{}",
            ctx.sources.snippet(self.alias.span).trim(),
            self.options()
        )
    }

    fn options(&self) -> String {
        format!(
            " process-group={} application-group={}",
            self.new_group, self.new_app_group
        )
    }

    fn edits(&self, ctx: &Ctx<'_>) -> Vec<Edit> {
        let end = self.alias.args.last().map_or(self.alias.span, |a| a.span);
        vec![
            Edit::delete(whole_lines(ctx.sources, self.process_group.span)),
            Edit::delete(whole_lines(ctx.sources, self.application_group.span)),
            Edit::insert(end.file, end.end as usize, self.options()),
            Edit::delete(whole_lines(ctx.sources, self.import.span)),
        ]
    }

    fn touches(&self, d: &Directive) -> bool {
        [
            self.process_group,
            self.application_group,
            self.import,
            self.alias,
        ]
        .iter()
        .any(|x| std::ptr::eq(*x, d))
    }
}

/// Directives that hand requests (or scripts) to mod_wsgi and so may rely on
/// the server's `WSGIProcessGroup`/`WSGIApplicationGroup`.
fn is_wsgi_consumer(d: &Directive) -> bool {
    const NAMES: &[&str] = &[
        "WSGIScriptAlias",
        "WSGIScriptAliasMatch",
        "WSGIHandlerScript",
        "WSGIDispatchScript",
        "WSGIAccessScript",
        "WSGIAuthUserScript",
        "WSGIAuthGroupScript",
    ];
    NAMES.iter().any(|n| d.is(n))
        || (["AddHandler", "SetHandler"].iter().any(|n| d.is(n))
            && d.args
                .first()
                .is_some_and(|a| a.value.eq_ignore_ascii_case("wsgi-script")))
}

/// Per server (`None` = main server): the WSGI consumers, and the
/// `WSGIProcessGroup`/`WSGIApplicationGroup` directives anywhere in it.
fn wsgi_directives_by_server<'a>(
    ctx: &Ctx<'a>,
) -> std::collections::BTreeMap<Option<usize>, (usize, Vec<&'a Directive>)> {
    let mut by: std::collections::BTreeMap<Option<usize>, (usize, Vec<&'a Directive>)> =
        Default::default();
    walk(&ctx.parsed.nodes, &mut |d, sections| {
        let server = sections.iter().find(|s| s.is("VirtualHost")).and_then(|s| {
            ctx.items
                .vhosts
                .iter()
                .position(|v| std::ptr::eq(v.section, *s))
        });
        let entry = by.entry(server).or_default();
        if is_wsgi_consumer(d) {
            entry.0 += 1;
        }
        if d.is("WSGIProcessGroup") || d.is("WSGIApplicationGroup") {
            entry.1.push(d);
        }
    });
    by
}

/// Document order of a directive (known directives only).
fn seq_of(ctx: &Ctx<'_>, d: &Directive) -> Option<usize> {
    ctx.all_items()
        .find(|(_, i)| std::ptr::eq(i.directive, d))
        .map(|(_, i)| i.seq)
}

fn alias_options<'a>(ctx: &Ctx<'a>) -> Vec<AliasOptions<'a>> {
    let by_server = wsgi_directives_by_server(ctx);
    let consumers = |s: Option<usize>| by_server.get(&s).map_or(0, |e| e.0);
    let merged = duplicate_groups(ctx.config, ctx.parsed, ctx.sources);
    let servers = std::iter::once((None, &ctx.config.main_server))
        .chain(ctx.config.vhosts.iter().map(|v| (Some(v.index), &v.server)));
    let mut found = Vec::new();
    for (server, s) in servers {
        // One consumer in this server and none that shares its settings:
        // for a virtual host none in the main server (inherited aliases,
        // handlers in global <Directory> sections), for the main server
        // none in the virtual hosts (they inherit its settings).
        let others = match server {
            Some(_) => consumers(None),
            None => (0..ctx.config.vhosts.len())
                .map(|v| consumers(Some(v)))
                .sum(),
        };
        if consumers(server) != 1 || others != 0 {
            continue;
        }
        let [m] = s.wsgi_mounts.as_slice() else {
            continue;
        };
        if let Some(a) = alias_options_of(ctx, server, s, m, &by_server, &merged) {
            found.push(a);
        }
    }
    found
}

fn alias_options_of<'a>(
    ctx: &Ctx<'a>,
    server: Option<usize>,
    s: &quill_config::model::ServerConfig,
    m: &WsgiMount,
    by_server: &std::collections::BTreeMap<Option<usize>, (usize, Vec<&'a Directive>)>,
    merged: &[(&'a DaemonProcess, &'a DaemonProcess, bool)],
) -> Option<AliasOptions<'a>> {
    if m.inherited || m.regex || m.preloaded || !m.section_overrides.is_empty() {
        return None;
    }
    let alias = ctx.directive_at(&m.at)?;
    if !alias.is("WSGIScriptAlias") || alias.args.len() != 2 {
        return None;
    }
    // Both settings from this server's own single directive each.
    let (pg, ag) = (&m.process_group, &m.application_group);
    let (Origin::Server { at: pg_at }, Origin::Server { at: ag_at }) = (&pg.origin, &ag.origin)
    else {
        return None;
    };
    let own = by_server
        .get(&server)
        .map(|e| e.1.as_slice())
        .unwrap_or(&[]);
    if own.len() != 2 {
        return None;
    }
    let process_group = ctx.directive_at(pg_at)?;
    let application_group = ctx.directive_at(ag_at)?;
    if !own.iter().any(|d| std::ptr::eq(*d, process_group))
        || !own.iter().any(|d| std::ptr::eq(*d, application_group))
    {
        return None;
    }
    // A named daemon group and a fixed interpreter: otherwise the alias
    // would not preload (§3.3).
    let group = pg.group.clone()?;
    if pg.mode != DelegationMode::Daemon || pg.expression.contains("%{") {
        return None;
    }
    let global = ag.expression.eq_ignore_ascii_case("%{GLOBAL}");
    if ag.expression.contains("%{") && !global {
        return None;
    }
    let interpreter = if global { "" } else { ag.expression.as_str() };
    // The import: the same script into the same group and interpreter, in
    // this server.
    let imp = ctx.config.wsgi.import_scripts.iter().find(|i| {
        !i.from_script_alias
            && i.declared_in.vhost == server
            && i.script == m.target
            && i.process_group == group
            && i.application_group == interpreter
    })?;
    let import = ctx.directive_at(&imp.at)?;
    // Nothing the configuration reader reported about these lines (a group
    // not visible, not yet defined, …).
    let involved = [process_group, application_group, import, alias];
    let reported = ctx.diagnostics.iter().any(|x| {
        x.span.is_some_and(|sp| {
            involved
                .iter()
                .any(|d| d.span.file == sp.file && d.span.start <= sp.start && sp.end <= d.span.end)
        })
    });
    if reported {
        return None;
    }
    // The group the edit writes: defined before the alias (a preloading
    // alias looks it up while the configuration is read) and visible here.
    let new_group = merged
        .iter()
        .find(|(_, dup, _)| dup.name == group)
        .map_or(group.clone(), |(keep, _, _)| keep.name.clone());
    let daemon = ctx.config.wsgi.daemon(&new_group)?;
    let visible = daemon.declared_in.vhost.is_none()
        || daemon.declared_in.vhost == server
        || (daemon.declared_in.server_name.is_some()
            && daemon.declared_in.server_name == s.server_name);
    let before = seq_of(ctx, daemon_directive(ctx, daemon)?)? < seq_of(ctx, alias)?;
    if !visible || !before {
        return None;
    }
    Some(AliasOptions {
        alias,
        process_group,
        application_group,
        import,
        url: m.url.clone(),
        script: m.target.clone(),
        group,
        app_group: ag.expression.clone(),
        new_group,
        new_app_group: "%{GLOBAL}".to_string(),
    })
}

pub static WSGI_SUB_INTERPRETER: Rule = Rule {
    id: ids::WSGI_SUB_INTERPRETER,
    severity: Severity::Warning,
    family: Family::Wsgi,
    summary: "An application runs in a sub-interpreter, not the main interpreter (%{GLOBAL})",
    explanation: "\
What: `WSGIApplicationGroup` decides which Python interpreter inside the process runs \
the application. Its default, `%{RESOURCE}`, names a sub-interpreter per virtual host \
and mount (`www.example.com|/app`); only `%{GLOBAL}` is the main interpreter \
(reference/mod_wsgi.md §3.2).

Why it matters: C extensions that use the simplified GIL API (`PyGILState_*`) assume \
the main interpreter and deadlock or crash in a sub-interpreter; extensions that cache \
types or modules (NumPy, SciPy, lxml, …) misbehave. Every process also carries a second \
interpreter, and one more copy of the application for each further application group \
it serves. In daemon mode one group per application already isolates applications, so \
the main interpreter costs nothing. docs/interpreters.md says what a C extension needs \
to work in a sub-interpreter.

Fix: `WSGIApplicationGroup %{GLOBAL}` for the mount (or `application-group=%{GLOBAL}` \
where the alias line already sets it). A `WSGIImportScript` that preloads the mount's \
script into its group and old sub-interpreter gets `application-group=%{GLOBAL}` too, so \
that it still preloads the interpreter requests run in.",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/wsgi-sub-interpreter/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/wsgi-sub-interpreter/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("mount", "the URL"),
        (
            "interpreter",
            "the sub-interpreter's name (null: decided per request)",
        ),
        ("processes", "processes that each hold it"),
        (
            "extra_copies_mb",
            "memory of further copies of the application (several application groups in one process group), at --daemon-rss",
        ),
    ],
    check: |ctx, out| {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let servers = std::iter::once((None, &ctx.config.main_server))
            .chain(ctx.config.vhosts.iter().map(|v| (Some(v.index), &v.server)));
        // Interpreters per process group (an embedded mount: the children).
        let mut per_group: std::collections::BTreeMap<String, BTreeSet<String>> =
            Default::default();
        for (_, s) in std::iter::once((None::<usize>, &ctx.config.main_server))
            .chain(ctx.config.vhosts.iter().map(|v| (Some(v.index), &v.server)))
        {
            for m in &s.wsgi_mounts {
                let g = m.process_group.group.clone().unwrap_or_default();
                let i = m
                    .application_group
                    .interpreter
                    .clone()
                    .unwrap_or_else(|| m.application_group.expression.clone());
                per_group.entry(g).or_default().insert(i);
            }
        }
        for (server, s) in servers {
            for m in &s.wsgi_mounts {
                if m.application_group.interpreter.as_deref() == Some("") {
                    continue;
                }
                let key = m.at.to_string();
                if !seen.insert(key) {
                    continue;
                }
                out.push(sub_interpreter_finding(ctx, server, m, &per_group));
            }
        }
    },
};

fn sub_interpreter_finding(
    ctx: &Ctx<'_>,
    server: Option<usize>,
    m: &WsgiMount,
    per_group: &std::collections::BTreeMap<String, BTreeSet<String>>,
) -> Finding {
    let ag = &m.application_group;
    let (processes, holder) = match (m.process_group.mode, &m.process_group.group) {
        (DelegationMode::Daemon, Some(g)) => {
            let n = ctx.config.wsgi.daemon(g).map_or(1, |d| d.processes);
            (
                n,
                format!("each of the {n} process(es) of daemon group '{g}'"),
            )
        }
        _ => {
            let n = ctx.mpm.pool.daemons_limit;
            (
                n,
                format!("each of up to {n} Apache children (embedded mode)"),
            )
        }
    };
    let group = m.process_group.group.clone().unwrap_or_default();
    let copies = per_group.get(&group).map_or(1, BTreeSet::len);
    let extra_mb =
        (copies.saturating_sub(1)) as f64 * f64::from(processes) * ctx.options.daemon_rss_mb;
    let name = match &ag.interpreter {
        Some(i) => format!("sub-interpreter '{i}'"),
        None => format!(
            "a sub-interpreter chosen per request ({})",
            ag.depends_on.as_deref().unwrap_or("computed")
        ),
    };
    let origin = match &ag.origin {
        Origin::Default => "WSGIApplicationGroup defaults to %{RESOURCE}".to_string(),
        Origin::AliasOption { .. } => {
            format!("application-group={} on the alias line", ag.expression)
        }
        Origin::Server { at } | Origin::Section { at, .. } => {
            format!("WSGIApplicationGroup {} at {at}", ag.expression)
        }
    };
    let mount_span = ctx.directive_at(&m.at).map(|d| d.span);
    let mut f = Finding::new(
        &WSGI_SUB_INTERPRETER,
        format!(
            "mount {} runs in {name} ({origin}), not the main interpreter: C extensions using the simplified GIL API can deadlock there",
            m.url
        ),
    )
    .at_opt(mount_span, "not %{GLOBAL}")
    .note(format!("{holder} creates this interpreter besides the main one"))
    .data("mount", m.url.clone())
    .data("interpreter", ag.interpreter.clone())
    .data("processes", processes)
    .data("extra_copies_mb", extra_mb.round());
    if copies > 1 {
        f = f.note(format!(
            "the group runs {copies} application groups: {copies} copies of the application per process, about {} more than one",
            mb(extra_mb)
        ));
    }
    if let Some(a) = alias_options(ctx)
        .into_iter()
        .find(|a| ctx.sources.location(a.alias.span) == m.at)
    {
        return f
            .help(format!(
                "write `{}` ({}) and remove the server's WSGIProcessGroup, WSGIApplicationGroup and WSGIImportScript lines (the edit of wsgi-options-on-alias)",
                a.new_alias_line(ctx),
                ctx.line_of(a.alias.span)
            ))
            .edits(a.edits(ctx));
    }
    let (edit, help) = match &ag.origin {
        Origin::AliasOption { at } => {
            let e = ctx.directive_at(at).and_then(|d| {
                d.args
                    .iter()
                    .find(|a| a.value.starts_with("application-group="))
                    .map(|a| Edit::replace(a.span, "application-group=%{GLOBAL}"))
            });
            let help = e.as_ref().map(|e| {
                format!(
                    "write `application-group=%{{GLOBAL}}` on the alias line ({})",
                    ctx.line_of(e.span)
                )
            });
            (e, help)
        }
        Origin::Server { at } | Origin::Section { at, .. } => {
            let e = ctx
                .directive_at(at)
                .and_then(|d| d.args.first())
                .map(|a| Edit::replace(a.span, "%{GLOBAL}"));
            let help = e.as_ref().map(|e| {
                format!(
                    "write `WSGIApplicationGroup %{{GLOBAL}}` ({})",
                    ctx.line_of(e.span)
                )
            });
            (e, help)
        }
        Origin::Default => {
            // One line per server, after its first alias relying on the
            // default (so every such mount of that server gets it).
            let anchor =
                first_default_alias(ctx, if m.inherited { None } else { server }).or(mount_span);
            let e = anchor
                .and_then(|s| crate::context::after_line(ctx.sources, s))
                .map(|at| {
                    crate::context::insert_line(ctx.sources, at, "WSGIApplicationGroup %{GLOBAL}")
                });
            let help = anchor.map(|a| {
                format!(
                    "add `WSGIApplicationGroup %{{GLOBAL}}` after the `WSGIScriptAlias` at {}",
                    ctx.line_of(a)
                )
            });
            (e, help)
        }
    };
    match (edit, help) {
        (Some(e), Some(h)) => {
            // The script's WSGIImportScript follows the mount into the main
            // interpreter: left as it is, it would preload an interpreter
            // no request uses any more.
            let (imports, lines): (Vec<Edit>, Vec<String>) =
                import_edits(ctx, m).into_iter().unzip();
            let h = if lines.is_empty() {
                h
            } else {
                format!(
                    "{h} and `application-group=%{{GLOBAL}}` on the WSGIImportScript of the same script ({}), so that it preloads the interpreter requests run in",
                    join_and(&lines)
                )
            };
            f.help(h).edit(e).edits(imports)
        }
        _ => f.help("add `WSGIApplicationGroup %{GLOBAL}` to the mount's server"),
    }
}

/// Edits moving the `WSGIImportScript` lines that preload `m`'s script into
/// its group and sub-interpreter to `%{GLOBAL}` (with the line each is on),
/// for when the mount moves there. Imports that another finding removes
/// (wsgi-options-on-alias, wsgi-redundant-import) are left to it.
fn import_edits(ctx: &Ctx<'_>, m: &WsgiMount) -> Vec<(Edit, String)> {
    let (Some(group), Some(interpreter)) = (
        m.process_group.group.as_deref(),
        m.application_group.interpreter.as_deref(),
    ) else {
        return Vec::new();
    };
    if m.process_group.mode != DelegationMode::Daemon || interpreter.is_empty() {
        return Vec::new();
    }
    let imports = &ctx.config.wsgi.import_scripts;
    let removed: Vec<&Directive> = alias_options(ctx).iter().map(|a| a.import).collect();
    imports
        .iter()
        .filter(|i| {
            !i.from_script_alias
                && i.script == m.target
                && i.process_group == group
                && i.application_group == interpreter
        })
        // wsgi-redundant-import deletes an import an alias already does.
        .filter(|i| {
            !imports.iter().any(|a| {
                a.from_script_alias
                    && a.script == i.script
                    && a.process_group == i.process_group
                    && a.application_group == i.application_group
            })
        })
        .filter_map(|i| ctx.directive_at(&i.at))
        .filter(|d| !removed.iter().any(|r| std::ptr::eq(*r, *d)))
        .filter_map(|d| {
            let arg = d
                .args
                .iter()
                .find(|a| a.value.starts_with("application-group="))?;
            Some((
                Edit::replace(arg.span, "application-group=%{GLOBAL}"),
                ctx.line_of(d.span),
            ))
        })
        .collect()
}

/// The first alias of a server (not inherited) whose application group
/// is the default.
fn first_default_alias(ctx: &Ctx<'_>, server: Option<usize>) -> Option<Span> {
    let s = match server {
        None => &ctx.config.main_server,
        Some(v) => &ctx.config.vhosts.get(v)?.server,
    };
    s.wsgi_mounts
        .iter()
        .find(|m| !m.inherited && matches!(m.application_group.origin, Origin::Default))
        .and_then(|m| ctx.directive_at(&m.at))
        .map(|d| d.span)
}

pub static WSGI_UNUSED_DAEMON: Rule = Rule {
    id: ids::WSGI_UNUSED_DAEMON,
    severity: Severity::Warning,
    family: Family::Wsgi,
    summary: "A WSGIDaemonProcess that no request is delegated to",
    explanation: "\
What: defining a daemon process group starts its processes; requests reach it only \
through `WSGIProcessGroup`, `process-group=` on a `WSGIScriptAlias`, or \
`WSGIImportScript`/`WSGIHandlerScript`. Nothing names this one.

Why it matters: its processes start, load Python (and any import scripts), hold memory \
and serve nothing — often a leftover, or a typo in the name used elsewhere.

Fix: delegate to it, or remove the `WSGIDaemonProcess` line (the edit removes it).",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/wsgi-unused-daemon/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/wsgi-unused-daemon/fixed.conf"),
    }),
    claims: &["wsgi/unused-daemon"],
    data: &[
        ("group", "the daemon group"),
        ("processes", "its processes"),
        ("memory_mb", "their memory at --daemon-rss"),
    ],
    check: |ctx, out| {
        for d in ctx.resolver("wsgi/unused-daemon") {
            let group = d.span.map(|s| group_named_at(ctx, s)).unwrap_or_default();
            let Some(daemon) = ctx.config.wsgi.daemon(&group) else {
                out.push(Finding::wrap(&WSGI_UNUSED_DAEMON, d.clone()));
                continue;
            };
            let memory = f64::from(daemon.processes) * ctx.options.daemon_rss_mb;
            let mut f = Finding::wrap(&WSGI_UNUSED_DAEMON, d.clone())
                .note(format!(
                    "about {} of memory for nothing (--daemon-rss {} MB per process)",
                    mb(memory),
                    ctx.options.daemon_rss_mb
                ))
                .data("group", group.clone())
                .data("processes", daemon.processes)
                .data("memory_mb", memory.round());
            if let Some(dir) = daemon_directive(ctx, daemon) {
                f = f.edit(Edit::delete(whole_lines(ctx.sources, dir.span)));
            }
            out.push(f);
        }
    },
};

#[cfg(test)]
mod tests {
    use crate::rules::testing::{fires_and_is_fixed, only};

    #[test]
    fn duplicate_https_group_is_merged_into_the_first() {
        let f = fires_and_is_fixed("wsgi-duplicate-https-group");
        let d = only(&f, "wsgi-duplicate-https-group");
        assert_eq!(d.data["removed_group"], "shop-ssl");
        assert_eq!(d.data["memory_saved_mb"], 200.0);
        assert!(
            d.diagnostic
                .help
                .as_deref()
                .is_some_and(|h| h.contains("`WSGIProcessGroup shop`"))
        );
    }

    #[test]
    fn a_group_not_visible_is_moved_to_global_scope() {
        let f = fires_and_is_fixed("wsgi-group-not-visible");
        let v = only(&f, "wsgi-group-not-visible");
        assert_eq!(v.severity(), quill_config::Severity::Error);
        assert_eq!(v.edits.len(), 2);
    }

    #[test]
    fn a_group_defined_after_its_preloading_alias_is_moved_before_it() {
        let f = fires_and_is_fixed("wsgi-group-defined-later");
        only(&f, "wsgi-group-defined-later");
    }

    #[test]
    fn redundant_import_script_is_removed() {
        let f = fires_and_is_fixed("wsgi-redundant-import");
        only(&f, "wsgi-redundant-import");
    }

    #[test]
    fn group_settings_and_import_become_options_on_the_alias() {
        let f = fires_and_is_fixed("wsgi-options-on-alias");
        let o = only(&f, "wsgi-options-on-alias");
        assert_eq!(o.data["process_group"], "app");
        assert_eq!(o.data["lines_removed"], 3);
        assert_eq!(
            o.data["alias"],
            "WSGIScriptAlias / /srv/app/app.wsgi process-group=app application-group=%{GLOBAL}"
        );
    }

    /// The seed's first configuration (docs/reference/the-thread.md): every
    /// WSGI edit together gives the expert's corrected virtual hosts.
    #[test]
    fn the_threads_first_configuration_gets_the_experts_alias_lines() {
        let text = include_str!("../../../../examples/configs/the-thread/httpd.conf");
        let (findings, fixed) =
            crate::rules::testing::lint_with(text, &crate::LintOptions::default());
        let simplified: Vec<_> = findings
            .iter()
            .filter(|f| f.rule.id == "wsgi-options-on-alias")
            .collect();
        assert_eq!(simplified.len(), 2);
        assert_eq!(simplified[1].data["process_group"], "app1-ssl");
        let want = "    WSGIScriptAlias / /path/to/django.wsgi process-group=app1 application-group=%{GLOBAL}\n";
        assert_eq!(fixed.matches(want).count(), 2, "{fixed}");
        for gone in [
            "WSGIProcessGroup",
            "WSGIApplicationGroup",
            "WSGIImportScript",
            "app1-ssl",
        ] {
            assert!(!fixed.contains(gone), "{gone} left:\n{fixed}");
        }
        // Merging the HTTPS group leaves 200 + 101 places for 400 front-end
        // threads: the duplicate's finding says so and its edit resizes the
        // front end too, so one application of the edits converges — the
        // second check finds no warning and nothing new.
        let dup = only(&findings, "wsgi-duplicate-https-group");
        assert!(
            dup.diagnostic
                .notes
                .iter()
                .any(|n| n.contains("runs 200 threads and queues 101 more")
                    && n.contains("MaxRequestWorkers 300")),
            "{:?}",
            dup.diagnostic.notes
        );
        assert!(fixed.contains("\nMaxRequestWorkers 300\n"), "{fixed}");
        let again = crate::rules::testing::lint(&fixed);
        let new: Vec<_> = crate::rules::testing::rule_ids(&again)
            .into_iter()
            .filter(|id| !findings.iter().any(|f| f.rule.id == *id))
            .collect();
        assert!(new.is_empty(), "{new:?}\n{fixed}");
        let warnings: Vec<_> = again
            .iter()
            .filter(|f| f.severity() != quill_config::Severity::Note)
            .map(|f| &f.diagnostic.message)
            .collect();
        assert!(warnings.is_empty(), "{warnings:#?}\n{fixed}");
    }

    /// When the front end is too large for the daemon tier already as
    /// written, tier-capacity and the merge of the duplicate group propose
    /// one MaxRequestWorkers, the one that fits the merged tier: a second
    /// check has nothing left to say about it.
    #[test]
    fn tier_capacity_and_the_merge_propose_the_front_end_of_the_merged_tier() {
        let seed = include_str!("../../../../examples/configs/the-thread/httpd.conf");
        // app1 7 × 20 + app1-ssl 2 × 20 and 202 places in the queues: 382
        // is below 400, and once merged 140 + 101 is.
        let text = seed.replace("processes=10", "processes=7");
        let (findings, fixed) =
            crate::rules::testing::lint_with(&text, &crate::LintOptions::default());
        let tier = only(&findings, "tier-capacity");
        assert_eq!(tier.data["proposed_max_request_workers"], 225);
        assert!(
            tier.diagnostic
                .notes
                .iter()
                .any(|n| n.contains("once wsgi-duplicate-https-group's edit merges")),
            "{:?}",
            tier.diagnostic.notes
        );
        let dup = only(&findings, "wsgi-duplicate-https-group");
        assert!(
            dup.diagnostic
                .help
                .as_deref()
                .is_some_and(|h| h.contains("`MaxRequestWorkers 225`")),
            "{:?}",
            dup.diagnostic.help
        );
        assert!(fixed.contains("\nMaxRequestWorkers 225\n"), "{fixed}");
        let again = crate::rules::testing::lint(&fixed);
        assert!(
            !again.iter().any(|f| f.rule.id == "tier-capacity"),
            "{fixed}"
        );
    }

    /// Every `WSGIImportScript` of `text` preloads its script into a
    /// (process group, interpreter) that a mount of the same script runs
    /// requests in: none preloads an interpreter no request uses.
    fn assert_imports_match_mounts(text: &str, why: &str) {
        let parsed = quill_config::syntax::parse_str(
            std::path::Path::new(crate::rules::testing::MAIN),
            text,
            &quill_config::fs::MemFs::new(),
            &Default::default(),
        );
        let resolved = quill_config::resolve(&parsed, &Default::default());
        let c = &resolved.config;
        let mounts: Vec<(String, String, String)> = std::iter::once(&c.main_server)
            .chain(c.vhosts.iter().map(|v| &v.server))
            .flat_map(|s| &s.wsgi_mounts)
            .map(|m| {
                (
                    m.target.clone(),
                    m.process_group.group.clone().unwrap_or_default(),
                    m.application_group.interpreter.clone().unwrap_or_default(),
                )
            })
            .collect();
        for i in c
            .wsgi
            .import_scripts
            .iter()
            .filter(|i| !i.from_script_alias)
        {
            let key = (
                i.script.clone(),
                i.process_group.clone(),
                i.application_group.clone(),
            );
            assert!(
                mounts.contains(&key),
                "{why}: WSGIImportScript at {} preloads {key:?}, where no request runs ({mounts:?}):\n{text}",
                i.at
            );
        }
    }

    /// The seed's first configuration, and variants of it where
    /// wsgi-options-on-alias stays silent (so the import stays): applying
    /// every edit of every finding together leaves each import preloading
    /// the group and interpreter its script's requests run in.
    #[test]
    fn every_edit_together_keeps_the_imports_on_the_interpreters_requests_use() {
        let seed = include_str!("../../../../examples/configs/the-thread/httpd.conf");
        let alias = "    WSGIScriptAlias / /path/to/django.wsgi\n";
        let admin = "    WSGIScriptAlias /admin /path/to/admin.wsgi\n";
        let ssl_alias = "    WSGIImportScript /path/to/django.wsgi process-group=app1-ssl";
        assert!(seed.contains(alias) && seed.contains(ssl_alias));
        let https_only = {
            let (http, https) = seed.split_at(seed.find("<VirtualHost *:443>").unwrap_or(0));
            format!(
                "{http}{}",
                https.replacen(alias, &format!("{alias}{admin}"), 1)
            )
        };
        let cases = [
            ("the seed", seed.to_string()),
            (
                "a second mount in each virtual host",
                seed.replace(alias, &format!("{alias}{admin}")),
            ),
            ("a second mount in the HTTPS virtual host", https_only),
        ];
        for (why, text) in cases {
            let (findings, fixed) =
                crate::rules::testing::lint_with(&text, &crate::LintOptions::default());
            assert!(
                findings.iter().any(|f| f.rule.id == "wsgi-sub-interpreter"),
                "{why}"
            );
            assert_imports_match_mounts(&text, &format!("{why}, as written"));
            assert_imports_match_mounts(&fixed, &format!("{why}, every edit applied"));
            // And the WSGI findings the edits were for are gone.
            let again = crate::rules::testing::lint(&fixed);
            for id in [
                "wsgi-sub-interpreter",
                "wsgi-duplicate-https-group",
                "wsgi-options-on-alias",
            ] {
                assert!(
                    !again.iter().any(|f| f.rule.id == id),
                    "{why}: {id} after the edits:\n{fixed}"
                );
            }
        }
    }

    /// Variants of the rule's fixture where moving the settings onto the
    /// alias would change what runs where, or would not preload.
    #[test]
    fn options_on_alias_stays_silent_where_the_rewrite_changes_behaviour() {
        let base = crate::rules::testing::fixture("wsgi-options-on-alias", "fires.conf");
        let import = "    WSGIImportScript /srv/app/app.wsgi process-group=app application-group=%{GLOBAL}\n";
        let alias = "    WSGIScriptAlias / /srv/app/app.wsgi\n";
        let daemon = "    WSGIDaemonProcess app processes=2 threads=10\n";
        let pg = "    WSGIProcessGroup app\n";
        let ag = "    WSGIApplicationGroup %{GLOBAL}\n";
        for s in [import, alias, daemon, pg, ag] {
            assert!(base.contains(s), "{s}");
        }
        let cases: Vec<(&str, String)> = vec![
            (
                "another script imported",
                base.replace(import, &import.replace("/srv/app/app.wsgi", "/srv/app/other.wsgi")),
            ),
            (
                "imported into another interpreter",
                base.replace(import, &import.replace("=%{GLOBAL}", "=other")),
            ),
            (
                "a second mount relies on WSGIProcessGroup",
                base.replace(alias, &format!("{alias}    WSGIScriptAlias /admin /srv/app/admin.wsgi\n")),
            ),
            (
                "a handler relies on WSGIProcessGroup",
                base.replace(
                    alias,
                    &format!("{alias}    <Directory /srv/scripts>\n        AddHandler wsgi-script .wsgi\n    </Directory>\n"),
                ),
            ),
            (
                "a mount of the main server is inherited",
                base.replace("<VirtualHost *:80>", "WSGIScriptAlias /old /srv/old.wsgi\n<VirtualHost *:80>"),
            ),
            (
                "a Location sets its own group",
                base.replace(
                    alias,
                    &format!("{alias}    <Location /admin>\n        WSGIProcessGroup %{{GLOBAL}}\n    </Location>\n"),
                ),
            ),
            (
                "WSGIProcessGroup written twice",
                base.replace(pg, &format!("{pg}{pg}")),
            ),
            (
                "the interpreter is decided per request",
                base.replace(ag, "    WSGIApplicationGroup %{RESOURCE}\n")
                    .replace(import, &import.replace("=%{GLOBAL}", "=%{RESOURCE}")),
            ),
            (
                "the group is decided per request",
                base.replace(pg, "    WSGIProcessGroup %{ENV:GROUP}\n"),
            ),
            (
                "the group is defined after the alias",
                base.replace(daemon, "").replace(alias, &format!("{alias}{daemon}")),
            ),
            (
                "the group is not visible from this server",
                base.replace(daemon, "").replace(
                    "<VirtualHost *:80>",
                    &format!("<VirtualHost *:80>\n    ServerName other.example\n{daemon}</VirtualHost>\n<VirtualHost *:80>"),
                ),
            ),
            (
                "the alias has options already",
                base.replace(alias, "    WSGIScriptAlias / /srv/app/app.wsgi process-group=app application-group=%{GLOBAL}\n"),
            ),
        ];
        for (why, text) in cases {
            let ids = crate::rules::testing::rule_ids(&crate::rules::testing::lint(&text));
            assert!(
                !ids.contains(&"wsgi-options-on-alias"),
                "fires although {why}:\n{text}"
            );
        }
        // The same pattern in the main server, with no virtual host sharing
        // its settings, fires.
        let main = base
            .replace("<VirtualHost *:80>\n    ServerName www.example.com\n", "")
            .replace("</VirtualHost>\n", "");
        let ids = crate::rules::testing::rule_ids(&crate::rules::testing::lint(&main));
        assert!(ids.contains(&"wsgi-options-on-alias"), "{main}\n{ids:?}");
    }

    #[test]
    fn sub_interpreter_gets_global() {
        let f = fires_and_is_fixed("wsgi-sub-interpreter");
        let s = only(&f, "wsgi-sub-interpreter");
        assert_eq!(s.data["interpreter"], "app.example|/app");
    }

    #[test]
    fn unused_daemon_is_removed_with_its_memory() {
        let f = fires_and_is_fixed("wsgi-unused-daemon");
        let u = only(&f, "wsgi-unused-daemon");
        assert_eq!(u.data["memory_mb"], 300.0);
    }

    #[test]
    fn a_preloading_alias_in_another_site_gets_the_group_moved_before_it() {
        let text = "LoadModule mpm_event_module m.so\nLoadModule wsgi_module m.so\nListen 80\nServerName a.example\n\
            MaxRequestWorkers 100\nMaxSpareThreads 100\nKeepAlive Off\n\
            <VirtualHost *:80>\n    ServerName b.example\n    WSGIScriptAlias / /srv/app.wsgi process-group=app application-group=%{GLOBAL}\n</VirtualHost>\n\
            <VirtualHost *:80>\n    ServerName a.example\n    WSGIDaemonProcess app\n    WSGIProcessGroup app\n    WSGIApplicationGroup %{GLOBAL}\n    WSGIScriptAlias / /srv/app.wsgi\n</VirtualHost>\n";
        let (findings, fixed) =
            crate::rules::testing::lint_with(text, &crate::LintOptions::default());
        assert!(
            findings
                .iter()
                .any(|f| f.rule.id == "wsgi-group-not-visible"
                    || f.rule.id == "wsgi-group-defined-later")
        );
        crate::rules::testing::assert_edits_remove_findings(&findings, &fixed);
        assert!(
            fixed.find("WSGIDaemonProcess app") < fixed.find("<VirtualHost"),
            "{fixed}"
        );
    }
}
