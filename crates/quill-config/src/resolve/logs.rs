//! One server's logs, mod_remoteip and mod_setenvif settings, as httpd
//! merges them: a virtual host starts from the main server's LogLevel and
//! LogFormat nicknames and adds its own; its own CustomLogs replace the
//! main server's (without any, it writes to the main server's); its own
//! RemoteIP proxies replace the main server's; its SetEnvIf lines follow
//! the main server's.

use super::{Item, all_in, last_in};
use crate::diag::{Diagnostic, Diagnostics};
use crate::logs::{ConditionError, DEBIAN_FORMATS, LogCondition, parse_log_format};
use crate::model::{CustomLog, CustomLogCondition, ProxyListFile, ServerConfig};
use crate::remoteip::{IpNet, ProxyMatch};
use crate::setenvif::SetEnvRule;
use crate::source::{SourceMap, Span};

/// ErrorLog, LogLevel, LogFormat and CustomLog of the server whose
/// directives are `items`; `cfg` starts as a copy of its parent's (the
/// defaults for the main server).
pub(crate) fn server_logs(
    items: &[Item<'_>],
    is_vhost: bool,
    sources: &SourceMap,
    diags: &mut Diagnostics,
    cfg: &mut ServerConfig,
) {
    if let Some(i) = last_in(items, "ErrorLog").and_then(|i| i.arg(0)) {
        cfg.error_log = Some(i.to_string());
    }
    for i in all_in(items, "LogLevel") {
        let words: Vec<&str> = i.directive.args.iter().map(|a| a.value.as_str()).collect();
        cfg.log_levels.apply(words.iter().copied());
        cfg.log_level = words.join(" ");
    }
    // LogFormat: checked where it is written (httpd refuses a bad one
    // there); nicknames overlay the parent's, the last one winning.
    for i in all_in(items, "LogFormat") {
        let (Some(fmt), Some(arg)) = (i.arg(0), i.directive.args.first()) else {
            continue;
        };
        if !format_ok(fmt, arg.span, "LogFormat", false, diags) {
            continue;
        }
        if let Some(nick) = i.arg(1) {
            // (httpd keeps nicknames in a case-insensitive table.)
            cfg.log_formats
                .retain(|(n, _)| !n.eq_ignore_ascii_case(nick));
            cfg.log_formats.push((nick.to_string(), fmt.to_string()));
        }
    }
    let mut own = Vec::new();
    for i in all_in(items, "CustomLog") {
        let (Some(target), Some(format), Some(arg)) = (i.arg(0), i.arg(1), i.directive.args.get(1))
        else {
            continue;
        };
        let condition = match (i.arg(2), i.directive.args.get(2)) {
            (Some(c), Some(c_arg)) => match LogCondition::parse(c) {
                Ok(c) => Some(CustomLogCondition::Env(c)),
                Err(ConditionError::Expression) => {
                    Some(CustomLogCondition::Unsupported(c.to_string()))
                }
                Err(ConditionError::Syntax) => {
                    diags.push(
                        Diagnostic::error(
                            "config/bad-value",
                            "CustomLog's third argument must be env=… or expr=…",
                        )
                        .at(c_arg.span, "not a condition")
                        .apache("error in condition clause")
                        .help("write e.g. `CustomLog logs/access_log combined env=!dontlog`"),
                    );
                    continue;
                }
            },
            _ => None,
        };
        // A nickname (looked up once every LogFormat is read, as httpd
        // does when it opens the logs), else the format itself.
        let nicknamed = cfg
            .log_formats
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(format))
            .map(|(_, f)| f.clone());
        let resolved = match nicknamed {
            Some(f) => {
                format_ok(&f, arg.span, "CustomLog", true, diags);
                f
            }
            None => {
                if !format_ok(format, arg.span, "CustomLog", true, diags) {
                    continue;
                }
                if !format.contains('%') && !format.contains(char::is_whitespace) {
                    diags.push(undefined_nickname(format, arg.span));
                }
                format.to_string()
            }
        };
        let items = match parse_log_format(&resolved) {
            Ok(p) => p.format,
            Err(_) => continue,
        };
        own.push(CustomLog {
            target: target.to_string(),
            format: format.to_string(),
            resolved_format: resolved,
            items,
            condition,
            at: sources.location(i.span()),
        });
    }
    // A virtual host without CustomLog writes to the main server's logs.
    if !own.is_empty() || !is_vhost {
        cfg.custom_logs = own;
    }
}

/// Reports a format mod_log_config refuses (error) or, when it is `used`
/// (by a CustomLog), what Quill does not fill in it (warnings); true
/// when it parses.
fn format_ok(fmt: &str, span: Span, directive: &str, used: bool, diags: &mut Diagnostics) -> bool {
    match parse_log_format(fmt) {
        Ok(p) => {
            for what in p.unfilled.into_iter().filter(|_| used) {
                diags.push(
                    Diagnostic::note("log/unfilled-field", format!("{what} in this {directive}"))
                        .at(span, "here")
                        .note_line(
                            "httpd fills it from a module or a request note Quill does not have",
                        )
                        .help("remove the field, or expect `-` in its place"),
                );
            }
            true
        }
        Err(e) => {
            diags.push(
                Diagnostic::error("config/bad-log-format", format!("{directive} format: {e}"))
                    .at(span, "in this format")
                    .apache(e)
                    .help(
                        "the fields are mod_log_config's: %h %l %u %t %r %>s %b %{Header}i … \
                         (write %% for a percent sign)",
                    ),
            );
            false
        }
    }
}

fn undefined_nickname(word: &str, span: Span) -> Diagnostic {
    let d = Diagnostic::warning(
        "log/undefined-nickname",
        format!("no LogFormat defines the nickname `{word}`: httpd writes the word `{word}` as each line"),
    )
    .at(span, "not a nickname defined here");
    match DEBIAN_FORMATS.iter().find(|(n, _)| *n == word) {
        Some((n, f)) => d.help(format!(
            "define it first, as Debian's apache2.conf does: `LogFormat \"{f}\" {n}`"
        )),
        None => {
            d.help("define it with `LogFormat \"…\" NAME`, or write the format itself in quotes")
        }
    }
}

/// RemoteIPHeader, RemoteIPProxiesHeader, RemoteIPTrustedProxy,
/// RemoteIPInternalProxy and their -List forms of one server; `cfg`
/// starts as its parent's.
pub(crate) fn server_remote_ip(
    items: &[Item<'_>],
    sources: &SourceMap,
    diags: &mut Diagnostics,
    cfg: &mut ServerConfig,
) {
    if let Some(h) = last_in(items, "RemoteIPHeader").and_then(|i| i.arg(0)) {
        cfg.remote_ip.header = Some(h.to_string());
    }
    if let Some(h) = last_in(items, "RemoteIPProxiesHeader").and_then(|i| i.arg(0)) {
        cfg.remote_ip.proxies_header = Some(h.to_string());
    }
    let mut proxies = Vec::new();
    let mut lists = Vec::new();
    let mut any = false;
    for i in items.iter().filter(|i| !i.in_dir()) {
        let name = i.def.name;
        let internal = name.starts_with("RemoteIPInternal");
        match name {
            "RemoteIPTrustedProxy" | "RemoteIPInternalProxy" => {
                any = true;
                for a in &i.directive.args {
                    match IpNet::parse(&a.value) {
                        Some(net) => proxies.push(ProxyMatch { net, internal }),
                        None => diags.push(
                            Diagnostic::error(
                                "config/bad-value",
                                format!("{name}: `{}` is not an IP address or network", a.value),
                            )
                            .at(a.span, "not an address")
                            .note_line(
                                "httpd would look a host name up once, at start-up; Quill does not",
                            )
                            .help(format!(
                                "write an address or a network: `{name} 10.0.0.1 192.168.0.0/16`"
                            )),
                        ),
                    }
                }
            }
            "RemoteIPTrustedProxyList" | "RemoteIPInternalProxyList" => {
                any = true;
                if let Some(p) = i.arg(0) {
                    lists.push(ProxyListFile {
                        path: p.to_string(),
                        internal,
                        at: sources.location(i.span()),
                    });
                }
            }
            _ => {}
        }
    }
    if any {
        cfg.remote_ip.proxies = proxies;
        cfg.remote_ip_lists = lists;
    }
}

/// SetEnvIf, SetEnvIfNoCase, BrowserMatch and BrowserMatchNoCase of one
/// server (outside directory sections), after its parent's.
pub(crate) fn server_set_env_if(
    items: &[Item<'_>],
    diags: &mut Diagnostics,
    cfg: &mut ServerConfig,
) {
    for i in items.iter().filter(|i| !i.in_dir()) {
        let (browser, nocase) = match i.def.name {
            "SetEnvIf" => (false, false),
            "SetEnvIfNoCase" => (false, true),
            "BrowserMatch" => (true, false),
            "BrowserMatchNoCase" => (true, true),
            _ => continue,
        };
        let words: Vec<&str> = i.directive.args.iter().map(|a| a.value.as_str()).collect();
        let (attribute, rest) = if browser {
            ("User-Agent", &words[..])
        } else {
            match words.split_first() {
                Some((a, rest)) => (*a, rest),
                None => continue,
            }
        };
        let Some((pattern, actions)) = rest.split_first() else {
            continue;
        };
        match SetEnvRule::parse(attribute, pattern, actions, nocase) {
            Ok(rule) => cfg.set_env_if.push(rule),
            Err(e) => {
                // The pattern is the first argument (BrowserMatch) or the
                // second.
                let at = i
                    .directive
                    .args
                    .get(usize::from(!browser))
                    .map_or(i.span(), |a| a.span);
                diags.push(
                    Diagnostic::error("config/bad-value", format!("{}: {e}", i.def.name))
                        .at(at, "here")
                        .apache(e.apache())
                        .help(format!(
                            "write e.g. `SetEnvIf Request_URI \"^/health$\" dontlog`; syntax: `{}`",
                            i.def.syntax
                        )),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::logs::{FieldKind, LogCondition};
    use crate::remoteip::IpNet;
    use quill_mpm::LogLevel;

    fn resolved(text: &str) -> crate::Resolved {
        let parsed = crate::syntax::parse_str(
            std::path::Path::new("/etc/httpd/conf/httpd.conf"),
            text,
            &crate::fs::MemFs::new(),
            &Default::default(),
        );
        crate::resolve::resolve(&parsed, &Default::default())
    }

    const HEAD: &str = "LoadModule mpm_event_module modules/mod_mpm_event.so\n\
        LoadModule remoteip_module modules/mod_remoteip.so\n\
        LoadModule wsgi_module modules/mod_wsgi.so\nListen 80\nServerName main.example\n";

    fn codes(r: &crate::Resolved) -> Vec<&str> {
        r.diagnostics.iter().map(|d| d.code).collect()
    }

    #[test]
    fn virtual_hosts_see_the_main_nicknames_and_replace_its_logs() {
        let r = resolved(&format!(
            "{HEAD}CustomLog logs/access_log short env=!dontlog\n\
             LogFormat \"%h %>s\" short\n\
             <VirtualHost *:80>\nServerName a.example\nCustomLog logs/a_log short\n</VirtualHost>\n\
             <VirtualHost *:80>\nServerName b.example\n</VirtualHost>\n"
        ));
        assert!(codes(&r).is_empty(), "{:?}", r.diagnostics);
        let main = &r.config.main_server;
        // The nickname is looked up once every LogFormat is read.
        assert_eq!(main.custom_logs[0].resolved_format, "%h %>s");
        assert_eq!(
            main.custom_logs[0].condition,
            Some(crate::model::CustomLogCondition::Env(LogCondition {
                variable: "dontlog".into(),
                negated: true
            }))
        );
        let a = &r.config.vhosts[0].server;
        assert_eq!(a.custom_logs.len(), 1);
        assert_eq!(a.custom_logs[0].target, "logs/a_log");
        assert_eq!(a.custom_logs[0].items.fields().count(), 2);
        let b = &r.config.vhosts[1].server;
        assert_eq!(b.custom_logs[0].target, "logs/access_log");
    }

    #[test]
    fn a_bad_format_is_httpds_error_where_it_is_written() {
        let r = resolved(&format!(
            "{HEAD}LogFormat \"%h %Z\" broken\nCustomLog logs/x \"%y\"\n"
        ));
        let errors: Vec<&crate::Diagnostic> = r
            .diagnostics
            .iter()
            .filter(|d| d.code == "config/bad-log-format")
            .collect();
        assert_eq!(errors.len(), 2, "{:?}", r.diagnostics);
        assert_eq!(
            errors[0].apache.as_deref(),
            Some("Unrecognized LogFormat directive %Z")
        );
        assert!(r.config.main_server.custom_logs.is_empty());
    }

    #[test]
    fn an_undefined_nickname_is_written_as_a_word_with_a_warning() {
        let r = resolved(&format!("{HEAD}CustomLog logs/access_log combined\n"));
        assert_eq!(codes(&r), vec!["log/undefined-nickname"]);
        let l = &r.config.main_server.custom_logs[0];
        assert_eq!(l.resolved_format, "combined");
        assert_eq!(l.items.fields().count(), 0);
        let help = r
            .diagnostics
            .iter()
            .next()
            .expect("a diagnostic")
            .help
            .clone()
            .unwrap_or_default();
        assert!(help.contains("%>s %O"), "Debian's definition: {help}");
    }

    #[test]
    fn clf_is_the_one_built_in_nickname_and_case_does_not_matter() {
        let r = resolved(&format!(
            "{HEAD}LogFormat \"%h %>s\" Short\nCustomLog logs/a clf\nCustomLog logs/b SHORT\n"
        ));
        assert!(codes(&r).is_empty(), "{:?}", r.diagnostics);
        let logs = &r.config.main_server.custom_logs;
        assert_eq!(logs[0].resolved_format, "%h %l %u %t \"%r\" %>s %b");
        assert_eq!(logs[1].resolved_format, "%h %>s");
    }

    #[test]
    fn conditions_other_than_env_are_kept_or_refused() {
        let r = resolved(&format!(
            "{HEAD}LogFormat \"%h\" h\nCustomLog logs/a h \"expr=%{{REQUEST_URI}} =~ /x/\"\nCustomLog logs/b h nonsense\n"
        ));
        assert_eq!(codes(&r), vec!["config/bad-value"]);
        let logs = &r.config.main_server.custom_logs;
        assert_eq!(logs.len(), 1);
        assert!(matches!(
            logs[0].condition,
            Some(crate::model::CustomLogCondition::Unsupported(_))
        ));
    }

    #[test]
    fn unfilled_fields_in_used_formats_are_noted() {
        // Defined, unused: nothing to say.
        let r = resolved(&format!("{HEAD}LogFormat \"%h %f\" files\n"));
        assert!(codes(&r).is_empty());
        let r = resolved(&format!(
            "{HEAD}LogFormat \"%h %f\" files\nCustomLog logs/f files\n"
        ));
        assert_eq!(codes(&r), vec!["log/unfilled-field"]);
        let d = resolved(&format!("{HEAD}CustomLog logs/x \"%h %{{x}}n\"\n"));
        assert_eq!(codes(&d), vec!["log/unfilled-field"]);
        let l = &d.config.main_server.custom_logs[0];
        assert!(matches!(
            l.items.fields().last().map(|f| &f.kind),
            Some(FieldKind::Unfilled(_))
        ));
    }

    #[test]
    fn log_levels_merge_into_virtual_hosts() {
        let r = resolved(&format!(
            "{HEAD}LogLevel info wsgi:debug\nErrorLog logs/main_error\n\
             <VirtualHost *:80>\nServerName a.example\nLogLevel core:error\nErrorLog logs/a_error\n</VirtualHost>\n"
        ));
        assert!(codes(&r).is_empty(), "{:?}", r.diagnostics);
        let main = &r.config.main_server;
        assert_eq!(main.log_levels.for_module("http"), LogLevel::Info);
        let a = &r.config.vhosts[0].server;
        assert_eq!(a.error_log.as_deref(), Some("logs/a_error"));
        assert_eq!(a.log_levels.for_module("wsgi"), LogLevel::Debug);
        assert_eq!(a.log_levels.for_module("core"), LogLevel::Error);
        assert_eq!(a.log_levels.for_module("http"), LogLevel::Info);
    }

    #[test]
    fn set_env_if_lines_follow_the_main_servers() {
        let r = resolved(&format!(
            "LoadModule setenvif_module modules/mod_setenvif.so\n{HEAD}\
             SetEnvIf Request_URI ^/health$ dontlog\n\
             <Location /x>\nSetEnvIf Request_URI ^/x inx\n</Location>\n\
             <VirtualHost *:80>\nServerName a.example\nBrowserMatchNoCase ^curl cli\n\
             SetEnvIf Request_URI ( broken\n</VirtualHost>\n"
        ));
        assert_eq!(codes(&r), vec!["config/bad-value"]);
        let main = &r.config.main_server.set_env_if;
        assert_eq!(main.len(), 1, "the <Location> line is not applied");
        let a = &r.config.vhosts[0].server.set_env_if;
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].pattern, "^/health$");
        assert_eq!((a[1].attribute.as_str(), a[1].nocase), ("User-Agent", true));
    }

    #[test]
    fn remote_ip_settings_and_their_inheritance() {
        let r = resolved(&format!(
            "{HEAD}RemoteIPHeader X-Forwarded-For\nRemoteIPInternalProxy 10.0.0.0/8\n\
             RemoteIPTrustedProxyList conf/proxies.txt\n\
             <VirtualHost *:80>\nServerName a.example\nRemoteIPTrustedProxy 192.0.2.1 lb.example\n</VirtualHost>\n\
             <VirtualHost *:80>\nServerName b.example\n</VirtualHost>\n"
        ));
        // The host name is refused, with where it is.
        assert_eq!(codes(&r), vec!["config/bad-value"]);
        assert!(
            r.diagnostics
                .iter()
                .next()
                .expect("a diagnostic")
                .message
                .contains("lb.example")
        );
        let main = &r.config.main_server;
        assert_eq!(main.remote_ip.header.as_deref(), Some("X-Forwarded-For"));
        assert_eq!(main.remote_ip.proxies.len(), 1);
        assert!(main.remote_ip.proxies[0].internal);
        assert_eq!(main.remote_ip_lists.len(), 1);
        let a = &r.config.vhosts[0].server;
        assert_eq!(a.remote_ip.header.as_deref(), Some("X-Forwarded-For"));
        assert_eq!(
            a.remote_ip
                .proxies
                .iter()
                .map(|p| p.net)
                .collect::<Vec<_>>(),
            vec![IpNet::parse("192.0.2.1").expect("net")]
        );
        assert!(
            a.remote_ip_lists.is_empty(),
            "replaced with the vhost's own"
        );
        let b = &r.config.vhosts[1].server;
        assert_eq!(b.remote_ip, main.remote_ip);
    }
}
