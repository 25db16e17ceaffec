//! Core resolution: MPM choice and settings, listeners, servers, routing.

use std::net::IpAddr;
use std::path::PathBuf;

use super::mpm::{self, Knob, MpmDirectives};
use super::{Collected, Item, all_in, last_in};
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{
    AddressRouting, AliasMapping, EncodedSlashes, H2Limits, HttpConformance, KeepAlive, Listener,
    MpmKind, MpmSettings, MpmSource, RequestLimits, RequestReadTimeout, Require, Routing, Scheme,
    ServerConfig, StatusHandler, Tls, TlsVersion, VhostAddr, VirtualHost,
};
use crate::resolve::ResolveOptions;
use crate::source::{SourceMap, Span};
use crate::syntax::ParsedConfig;

const MPM_MODULES: &[(&str, MpmKind)] = &[
    ("mpm_prefork_module", MpmKind::Prefork),
    ("mpm_worker_module", MpmKind::Worker),
    ("mpm_event_module", MpmKind::Event),
];

/// Directives only one family of MPMs registers; elsewhere httpd does not
/// know them at all.
type AppliesTo = fn(MpmKind) -> bool;

fn mpm_owner(name: &str) -> Option<(&'static str, AppliesTo)> {
    match name {
        "MinSpareServers" | "MaxSpareServers" => Some(("prefork", |m| m == MpmKind::Prefork)),
        "MinSpareThreads" | "MaxSpareThreads" | "ThreadsPerChild" | "ThreadLimit" => {
            Some(("worker and event", MpmKind::is_threaded))
        }
        "AsyncRequestWorkerFactor" => Some(("event", |m| m == MpmKind::Event)),
        _ => None,
    }
}

pub(crate) fn resolve_mpm(
    parsed: &ParsedConfig,
    c: &Collected<'_>,
    opts: &ResolveOptions,
    diags: &mut Diagnostics,
) -> MpmSettings {
    let loaded: Vec<(MpmKind, Span)> = parsed
        .modules
        .iter()
        .filter_map(|m| {
            MPM_MODULES
                .iter()
                .find(|(n, _)| *n == m.name)
                .map(|(_, k)| (*k, m.span))
        })
        .collect();
    if loaded.len() > 1 {
        let mut d = Diagnostic::error("config/several-mpms", "more than one MPM is loaded")
            .at(loaded[1].1, format!("{} loaded here", loaded[1].0.name()))
            .also(loaded[0].1, format!("{} already loaded here", loaded[0].0.name()))
            .apache("More than one MPM loaded.")
            .help("keep exactly one of mpm_prefork_module, mpm_worker_module, mpm_event_module (Debian: `a2dismod mpm_prefork`)");
        if opts.mpm_override.is_some() {
            d = d.note_line("--mpm decides which one Quill uses");
        }
        diags.push(d);
    }
    if let (Some(chosen), Some((written, span))) = (opts.mpm_override, loaded.first()) {
        if chosen != *written {
            // The parser swaps Debian's mpm_*.load/.conf where the tree has
            // the chosen MPM's (then `loaded` is that one); here it did not.
            diags.push(
                Diagnostic::note(
                    "config/mpm-override",
                    format!(
                        "--mpm {}: this tree loads {} and has no files of {}'s own, so the MPM settings read are those written for {}",
                        chosen.name(),
                        written.name(),
                        chosen.name(),
                        written.name()
                    ),
                )
                .at(*span, format!("{} loaded here", written.name()))
                .note_line("<IfModule> sections test the loaded MPM, not the one given with --mpm"),
            );
        }
    }
    let (kind, source, mpm_span) = match (opts.mpm_override, loaded.first()) {
        (Some(k), first) => (k, MpmSource::CommandLine, first.map(|f| f.1)),
        (None, Some((k, span))) => (*k, MpmSource::LoadModule, Some(*span)),
        (None, None) => {
            diags.push(
                Diagnostic::error("config/no-mpm", "no MPM is loaded")
                    .apache("No MPM loaded.")
                    .note_line("Quill assumed the event MPM to show the rest of the configuration")
                    .help("add `LoadModule mpm_event_module modules/mod_mpm_event.so` (or worker/prefork), or pass `--mpm event`"),
            );
            (MpmKind::Event, MpmSource::Assumed, None)
        }
    };
    let mut raw = MpmDirectives {
        online_cores: opts.online_cores,
        ..MpmDirectives::default()
    };
    let mut spans: Vec<(Knob, Span)> = Vec::new();
    for item in &c.global {
        if item.in_dir() || item.def.module == "mod_so" {
            continue;
        }
        let name = item.def.name;
        if let Some((owner, applies)) = mpm_owner(name) {
            if !applies(kind) {
                let d = if source == MpmSource::LoadModule {
                    Diagnostic::error("config/directive-of-other-mpm", format!("{name} belongs to the {owner} MPM, but {} is loaded", kind.name()))
                        .at(item.directive.name_span, "unknown to this MPM")
                        .apache(format!(
                            "Invalid command '{}', perhaps misspelled or defined by a module not included in the server configuration",
                            item.directive.name
                        ))
                        .help(format!("wrap it in `<IfModule mpm_{}_module>` … `</IfModule>` or remove it", owner.split(' ').next().unwrap_or(owner)))
                } else {
                    Diagnostic::warning(
                        "config/directive-of-other-mpm",
                        format!(
                            "{name} belongs to the {owner} MPM and is ignored under {}",
                            kind.name()
                        ),
                    )
                    .at(item.directive.name_span, "ignored")
                };
                diags.push(d);
                continue;
            }
        }
        let Some(arg) = item.arg(0) else { continue };
        let knob_value = |diags: &mut Diagnostics| -> i64 { lenient_int(diags, item) };
        let deprecated = |diags: &mut Diagnostics, old: &str, new: &str| {
            if item.directive.name.eq_ignore_ascii_case(old) {
                diags.push(
                    Diagnostic::note(
                        "config/deprecated-name",
                        format!("{old} is the old name of {new}"),
                    )
                    .at(item.directive.name_span, "deprecated")
                    .apache(format!("{old} is deprecated, use {new} instead."))
                    .help(format!("write `{new}`")),
                );
            }
        };
        match name {
            "StartServers" => {
                raw.start_servers = Some(knob_value(diags));
                spans.push((Knob::StartServers, item.span()));
            }
            "MinSpareServers" | "MinSpareThreads" => {
                let v = Some(knob_value(diags));
                if name == "MinSpareServers" {
                    raw.min_spare_servers = v
                } else {
                    raw.min_spare_threads = v
                }
                spans.push((Knob::MinSpare, item.span()));
            }
            "MaxSpareServers" | "MaxSpareThreads" => {
                let v = Some(knob_value(diags));
                if name == "MaxSpareServers" {
                    raw.max_spare_servers = v
                } else {
                    raw.max_spare_threads = v
                }
                spans.push((Knob::MaxSpare, item.span()));
            }
            "ThreadsPerChild" => {
                raw.threads_per_child = Some(knob_value(diags));
                spans.push((Knob::ThreadsPerChild, item.span()));
            }
            "ThreadLimit" => {
                raw.thread_limit = Some(knob_value(diags));
                spans.push((Knob::ThreadLimit, item.span()));
            }
            "ServerLimit" => {
                raw.server_limit = Some(knob_value(diags));
                spans.push((Knob::ServerLimit, item.span()));
            }
            "MaxRequestWorkers" => {
                deprecated(diags, "MaxClients", "MaxRequestWorkers");
                raw.max_request_workers = Some(knob_value(diags));
                spans.push((Knob::MaxRequestWorkers, item.span()));
            }
            "MaxConnectionsPerChild" => {
                deprecated(diags, "MaxRequestsPerChild", "MaxConnectionsPerChild");
                let v = knob_value(diags);
                if v < 0 && kind.is_threaded() {
                    diags.push(
                        Diagnostic::warning("config/negative-max-connections", format!("MaxConnectionsPerChild {v} makes every {} child stop right after it starts", kind.name()))
                            .at(item.directive.args[0].span, "negative")
                            .note_line("prefork treats a negative value as unlimited; worker and event do not (read from httpd's code)")
                            .help("write `MaxConnectionsPerChild 0` for unlimited"),
                    );
                }
                raw.max_connections_per_child = Some(v);
            }
            "ListenBacklog" => {
                let v = knob_value(diags);
                if v < 1 {
                    diags.push(
                        Diagnostic::error("config/bad-value", "ListenBacklog must be at least 1")
                            .at(item.directive.args[0].span, "too small")
                            .apache("ListenBacklog must be > 0")
                            .help("write e.g. `ListenBacklog 511` (the default)"),
                    );
                } else {
                    raw.listen_backlog = Some(v);
                }
            }
            "ListenCoresBucketsRatio" => {
                let v = knob_value(diags);
                if v <= 0 {
                    // listen.c refuses 0 too: only leaving it out disables it.
                    diags.push(
                        Diagnostic::error(
                            "config/bad-value",
                            "ListenCoresBucketsRatio must be above 0",
                        )
                        .at(item.directive.args[0].span, "not above 0")
                        .apache("ListenCoresBucketsRatio must be > 0")
                        .help("remove the line to keep one listener bucket, or write e.g. `ListenCoresBucketsRatio 8`"),
                    );
                } else {
                    raw.listen_cores_buckets_ratio = Some(v);
                }
            }
            "GracefulShutdownTimeout" => raw.graceful_shutdown_timeout = Some(knob_value(diags)),
            "AsyncRequestWorkerFactor" => match arg.trim().parse::<f64>() {
                Ok(v) if v > 0.0 && v.is_finite() => {
                    let f16 = (v * 16.0).trunc().min(f64::from(i32::MAX)) as i64;
                    if v.fract() != 0.0 {
                        diags.push(
                            Diagnostic::warning("config/async-factor-fraction", format!("AsyncRequestWorkerFactor {arg} acts as {} at run time", (f16.max(16)) / 16))
                                .at(item.directive.args[0].span, "fraction dropped")
                                .note_line("httpd 2.4 stores the factor ×16 but divides it by 16 with integer division wherever it uses it")
                                .help(format!("write `AsyncRequestWorkerFactor {}`", (f16.max(16)) / 16)),
                        );
                    }
                    raw.async_factor16 = Some(f16);
                }
                Ok(_) => diags.push(
                    Diagnostic::error(
                        "config/bad-value",
                        "AsyncRequestWorkerFactor must be a positive number",
                    )
                    .at(item.directive.args[0].span, "not positive")
                    .apache("AsyncRequestWorkerFactor argument must be a positive number")
                    .help("write e.g. `AsyncRequestWorkerFactor 2` (the default)"),
                ),
                Err(_) => diags.push(
                    Diagnostic::error("config/bad-value", format!("`{arg}` is not a number"))
                        .at(item.directive.args[0].span, "not a number")
                        .apache("error parsing value")
                        .help("write e.g. `AsyncRequestWorkerFactor 2`"),
                ),
            },
            _ => {}
        }
    }
    let adjusted = mpm::adjust(kind, &raw);
    let settings = MpmSettings::from_adjusted(source, &adjusted);
    for a in adjusted.adjustments {
        let directive = a.knob.directive(kind);
        let span = spans
            .iter()
            .rev()
            .find(|(k, _)| *k == a.knob)
            .map(|(_, s)| *s);
        let what = if a.code == "mpm/mrw-above-server-limit" && kind.is_threaded() {
            "children"
        } else {
            directive
        };
        let change = format!("{what} {} → {}", a.before, a.after);
        let mut d = Diagnostic::warning(a.code, a.plain.clone());
        d = match (span, mpm_span) {
            (Some(s), _) => d.at(s, change),
            (None, Some(m)) => d.at(
                m,
                format!(
                    "{change} (the {} MPM's default {directive} is {})",
                    kind.name(),
                    a.before
                ),
            ),
            (None, None) => d.note_line(change),
        };
        if let Some(text) = a.apache {
            d = d.apache(text);
        } else {
            d = d.note_line("Apache makes this change silently, without a log line");
        }
        let help = match a.code {
            "mpm/mrw-above-server-limit" if kind.is_threaded() => format!(
                "raise `ServerLimit` to {} or lower `MaxRequestWorkers` to {}",
                (i64::from(settings.max_request_workers) + i64::from(settings.threads_per_child)
                    - 1)
                    / i64::from(settings.threads_per_child.max(1)),
                settings.max_threads
            ),
            _ => format!(
                "write `{directive} {}` so the file says what Apache does",
                a.after
            ),
        };
        diags.push(d.help(help));
    }
    settings
}

pub(crate) fn listeners(
    c: &Collected<'_>,
    sources: &SourceMap,
    diags: &mut Diagnostics,
) -> Vec<Listener> {
    let mut out: Vec<Listener> = Vec::new();
    let mut first_span: Vec<Span> = Vec::new();
    for item in all_in(&c.global, "Listen") {
        let Some(spec) = item.arg(0) else { continue };
        let Some((address, port)) = parse_host_port(spec) else {
            diags.push(
                Diagnostic::error(
                    "config/bad-listen",
                    format!("`{spec}` is not an address and port"),
                )
                .at(item.directive.args[0].span, "expected [address:]port")
                .apache("Invalid address or port")
                .help("write e.g. `Listen 80`, `Listen 127.0.0.1:8080` or `Listen [::1]:8080`"),
            );
            continue;
        };
        let Some(port) = port.filter(|&p| p > 0) else {
            diags.push(
                Diagnostic::error("config/bad-listen", format!("`{spec}` has no valid port"))
                    .at(item.directive.args[0].span, "port must be 1–65535")
                    // apr_parse_addr_port refuses port 0 itself; listen.c
                    // complains when there is no port at all.
                    .apache(if port == Some(0) {
                        "Invalid address or port"
                    } else {
                        "Port must be specified"
                    })
                    .help("write e.g. `Listen 80`"),
            );
            continue;
        };
        let protocol = match item.arg(1).map(str::to_ascii_lowercase).as_deref() {
            Some("https") => Scheme::Https,
            Some(_) => Scheme::Http,
            None if port == 443 => Scheme::Https,
            None => Scheme::Http,
        };
        let l = Listener {
            address,
            port,
            protocol,
            at: sources.location(item.span()),
        };
        if let Some(pos) = out
            .iter()
            .position(|o| o.port == l.port && overlaps(&o.address, &l.address))
        {
            diags.push(
                Diagnostic::error(
                    "config/duplicate-listen",
                    format!("{} overlaps {}", l.display(), out[pos].display()),
                )
                .at(item.span(), "second bind of the same port")
                .also(first_span[pos], "first here")
                .apache(if out[pos].address == l.address {
                    // Refused while reading the configuration (listen.c).
                    "Cannot define multiple Listeners on the same IP:port".to_string()
                } else {
                    // Accepted by `-t`; the second bind fails at start.
                    format!(
                        "(98)Address already in use: AH00072: make_sock: could not bind to address {}",
                        l.display()
                    )
                })
                .help("remove one of the two Listen lines"),
            );
            continue;
        }
        first_span.push(item.span());
        out.push(l);
    }
    if out.is_empty() {
        diags.push(
            Diagnostic::error(
                "config/no-listen",
                "no Listen directive: the server would not accept connections",
            )
            .apache("no listening sockets available, shutting down")
            .help("add `Listen 80` (Debian keeps it in ports.conf)"),
        );
    }
    out
}

fn overlaps(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => true,
    }
}

/// `80`, `1.2.3.4:80`, `[::1]:80`, `host:*`, `*`, `_default_:443`.
/// Returns (address, port); address `None` for `*`/`_default_`/absent,
/// port `None` for `*` or absent. `None` overall when malformed.
pub fn parse_host_port(spec: &str) -> Option<(Option<String>, Option<u16>)> {
    let port_of = |p: &str| -> Option<Option<u16>> {
        if p == "*" {
            Some(None)
        } else {
            p.parse::<u16>().ok().map(Some)
        }
    };
    if let Some(rest) = spec.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => port_of(p)?,
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((Some(addr.to_string()), port));
    }
    if spec.bytes().all(|b| b.is_ascii_digit()) && !spec.is_empty() {
        return Some((None, Some(spec.parse().ok()?)));
    }
    let (host, port) = match spec.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, port_of(p)?),
        Some(_) => (spec, None), // bare IPv6 without brackets
        None => (spec, None),
    };
    if host.is_empty() {
        return None;
    }
    let address = if host == "*" || host.eq_ignore_ascii_case("_default_") {
        None
    } else {
        Some(host.to_string())
    };
    Some((address, port))
}

/// Host part of a ServerName argument: `https://www.example.com:443` →
/// `www.example.com`.
pub fn server_name_host(arg: &str) -> String {
    let no_scheme = arg.split_once("://").map_or(arg, |(_, r)| r);
    match parse_host_port(no_scheme) {
        Some((Some(h), _)) => h,
        _ => no_scheme.to_string(),
    }
}

/// Seconds with an optional unit (`ms`, `s`, `mi`, `h`), like
/// `ap_timeout_parameter_parse`. Returns milliseconds.
fn parse_timeout_ms(s: &str) -> Option<u64> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits_end].parse().ok()?;
    let unit = &s[digits_end..];
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "s" => 1000,
        "ms" => 1,
        "mi" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

struct ServerScope<'i, 'a> {
    items: &'i [Item<'a>],
}

impl<'i, 'a> ServerScope<'i, 'a> {
    fn last(&self, name: &str) -> Option<&'i Item<'a>> {
        last_in(self.items, name)
    }
}

/// A value httpd refuses (it will not start), with httpd's own message.
fn refuse(diags: &mut Diagnostics, item: &Item<'_>, what: &str, example: &str, apache: String) {
    let span = item.directive.args.first().map_or(item.span(), |a| a.span);
    refuse_arg(diags, item, span, what, example, apache);
}

/// Like [`refuse`], pointing at the argument httpd stopped at.
fn refuse_arg(
    diags: &mut Diagnostics,
    item: &Item<'_>,
    span: Span,
    what: &str,
    example: &str,
    apache: String,
) {
    diags.push(
        Diagnostic::error(
            "config/bad-value",
            format!("{} needs {what}", item.def.name),
        )
        .at(span, "not accepted")
        .apache(apache)
        .help(format!("write e.g. `{} {example}`", item.def.name)),
    );
}

/// A number httpd reads with C `atoi`, as it does; warns when `atoi` did
/// not read the whole text (`Timeout abc` is 0 to httpd, surely a mistake).
pub(crate) fn lenient_int(diags: &mut Diagnostics, item: &Item<'_>) -> i64 {
    let arg = item.arg(0).unwrap_or_default();
    let n = super::mpm::atoi(arg);
    if !super::mpm::is_clean_int(arg) || arg.trim().parse::<i64>().ok() != Some(n) {
        let digits = arg.strip_prefix(['-', '+']).unwrap_or(arg);
        let what = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            "does not fit in a C int"
        } else {
            "is not a whole number"
        };
        diags.push(
            Diagnostic::warning(
                "config/not-a-number",
                format!("`{arg}` {what}; Apache reads it as {n}"),
            )
            .at(item.directive.args[0].span, "read with C atoi")
            .help(format!(
                "write a number, e.g. `{} {}`",
                item.def.name,
                item.def.default.parse::<i64>().unwrap_or(n.max(1))
            )),
        );
    }
    n
}

/// Settings of a server from its own directives; `parent` is the main
/// server for a virtual host (values not set are inherited).
fn server_config(
    items: &[Item<'_>],
    parent: Option<&ServerConfig>,
    sources: &SourceMap,
    diags: &mut Diagnostics,
) -> ServerConfig {
    let s = ServerScope { items };
    let base = parent.cloned().unwrap_or_else(default_server);
    let mut cfg = ServerConfig {
        server_aliases: Vec::new(),
        status_handlers: Vec::new(),
        metrics_handlers: Vec::new(),
        wsgi_mounts: Vec::new(),
        ..base.clone()
    };
    if let Some(i) = s.last("ServerName").and_then(|i| i.arg(0).map(|a| (i, a))) {
        let (_, a) = i;
        cfg.server_name = Some(server_name_host(a));
    }
    for i in all_in(items, "ServerAlias") {
        cfg.server_aliases
            .extend(i.directive.args.iter().map(|a| a.value.clone()));
    }
    if let Some(i) = s.last("KeepAlive") {
        // http_core.c: only On and Off (the numbers of httpd 1.3 are refused).
        match i.arg(0).map(str::to_ascii_lowercase).as_deref() {
            Some("on") => cfg.keep_alive.enabled = true,
            Some("off") => cfg.keep_alive.enabled = false,
            _ => refuse(
                diags,
                i,
                "On or Off",
                "On",
                "KeepAlive must be On or Off".into(),
            ),
        }
    }
    if let Some(i) = s.last("KeepAliveTimeout") {
        // ap_timeout_parameter_parse: strict, with an optional unit.
        match i.arg(0).and_then(parse_timeout_ms) {
            Some(ms) => cfg.keep_alive.timeout_ms = ms,
            None => refuse(
                diags,
                i,
                "a number of seconds (or `250ms`)",
                "5",
                "KeepAliveTimeout has wrong format".into(),
            ),
        }
    }
    if let Some(i) = s.last("MaxKeepAliveRequests") {
        // atoi; a negative maximum leaves no request to keep alive for.
        let n = lenient_int(diags, i);
        match u32::try_from(n) {
            Ok(n) => cfg.keep_alive.max_requests = n,
            Err(_) => {
                cfg.keep_alive.enabled = false;
                diags.push(
                    Diagnostic::warning(
                        "config/negative-value",
                        format!("MaxKeepAliveRequests {n} turns keep-alive off"),
                    )
                    .at(i.directive.args[0].span, "negative")
                    .note_line("httpd keeps a connection open while the maximum is 0 (unlimited) or not yet reached; a negative one is always reached")
                    .help("write `MaxKeepAliveRequests 0` for unlimited, or `KeepAlive Off`"),
                );
            }
        }
    }
    if let Some(i) = s.last("Timeout") {
        // core.c reads Timeout with atoi: no units, and anything goes.
        let n = lenient_int(diags, i);
        match u64::try_from(n) {
            Ok(n) => cfg.timeout_s = n,
            Err(_) => {
                cfg.timeout_s = 0;
                diags.push(
                    Diagnostic::warning(
                        "config/negative-value",
                        format!("Timeout {n} is negative: sockets never time out"),
                    )
                    .at(i.directive.args[0].span, "negative")
                    .note_line("httpd passes the negative time to APR, where it means blocking without a timeout; Quill shows it as 0")
                    .help("write e.g. `Timeout 60`"),
                );
            }
        }
    }
    // LimitRequestBody is read strictly (apr_strtoff); the other three with
    // atoi, refusing only a negative result.
    if let Some(i) = s.last("LimitRequestBody") {
        match i.arg(0).and_then(|a| a.parse::<u64>().ok()) {
            Some(n) => cfg.limits.body = n,
            None => refuse(
                diags,
                i,
                "a whole number of bytes",
                "10485760",
                "LimitRequestBody requires a non-negative integer.".into(),
            ),
        }
    }
    for (name, apache_name, tail, slot) in [
        (
            "LimitRequestFields",
            "LimitRequestFields",
            " (0 = no limit)",
            &mut cfg.limits.fields,
        ),
        (
            "LimitRequestFieldSize",
            "LimitRequestFieldsize",
            "",
            &mut cfg.limits.field_size,
        ),
        (
            "LimitRequestLine",
            "LimitRequestLine",
            "",
            &mut cfg.limits.line,
        ),
    ] {
        let Some(i) = s.last(name) else { continue };
        let n = lenient_int(diags, i);
        match u32::try_from(n) {
            Ok(n) => *slot = n,
            Err(_) => refuse(
                diags,
                i,
                "a non-negative whole number",
                "8190",
                format!(
                    "{apache_name} \"{}\" must be a non-negative integer{tail}",
                    i.arg(0).unwrap_or_default()
                ),
            ),
        }
    }
    if let Some(i) = s.last("AllowEncodedSlashes") {
        match i.arg(0).map(str::to_ascii_lowercase).as_deref() {
            Some("on") => cfg.encoded_slashes = EncodedSlashes::On,
            Some("off") => cfg.encoded_slashes = EncodedSlashes::Off,
            Some("nodecode") => cfg.encoded_slashes = EncodedSlashes::NoDecode,
            _ => refuse(
                diags,
                i,
                "On, Off or NoDecode",
                "NoDecode",
                "AllowEncodedSlashes must be On, Off, or NoDecode".into(),
            ),
        }
    }
    if let Some(i) = s.last("ExtendedStatus") {
        match i.arg(0).map(str::to_ascii_lowercase).as_deref() {
            Some("on") => cfg.extended_status = true,
            Some("off") => cfg.extended_status = false,
            _ => refuse(
                diags,
                i,
                "On or Off",
                "On",
                "ExtendedStatus must be On or Off".into(),
            ),
        }
    }
    // Every RequestReadTimeout of the scope sets the stages it names, in
    // order (Debian's reqtimeout.conf has two lines).
    for i in all_in(items, "RequestReadTimeout") {
        for arg in &i.directive.args {
            let (key, value) = match arg.value.split_once('=') {
                Some(kv) => kv,
                None => {
                    refuse_arg(
                        diags,
                        i,
                        arg.span,
                        "key=value arguments",
                        "header=20-40,MinRate=500",
                        "Invalid RequestReadTimeout parameter. Parameter must be in the form 'key=value'".into(),
                    );
                    break;
                }
            };
            if let Err(why) = cfg.request_read_timeout.set(key, value) {
                refuse_arg(
                    diags,
                    i,
                    arg.span,
                    "handshake=, header= or body= with seconds[-maximum][,MinRate=bytes per second]",
                    "header=20-40,MinRate=500",
                    format!("RequestReadTimeout: {key}={value}: {why}"),
                );
                break;
            }
        }
    }
    // httpd ORs the options of every HttpProtocolOptions of the scope, and
    // refuses a pair that contradicts itself.
    let mut options = [false; 6];
    for i in all_in(items, "HttpProtocolOptions") {
        for arg in &i.directive.args {
            const NAMES: [&str; 6] = [
                "strict",
                "unsafe",
                "registeredmethods",
                "lenientmethods",
                "allow0.9",
                "require1.0",
            ];
            let Some(k) = NAMES.iter().position(|n| arg.value.eq_ignore_ascii_case(n)) else {
                refuse_arg(
                    diags,
                    i,
                    arg.span,
                    "Strict or Unsafe, RegisteredMethods or LenientMethods, Allow0.9 or Require1.0",
                    "Unsafe",
                    "HttpProtocolOptions accepts 'Unsafe' or 'Strict' (default), 'RegisteredMethods' or 'LenientMethods' (default), and 'Require1.0' or 'Allow0.9' (default)".into(),
                );
                break;
            };
            options[k] = true;
            let clash = [
                (4, 5, "'Allow0.9' and 'Require1.0'"),
                (0, 1, "'Strict' and 'Unsafe'"),
                (2, 3, "'RegisteredMethods' and 'LenientMethods'"),
            ]
            .into_iter()
            .find(|(a, b, _)| options[*a] && options[*b]);
            if let Some((_, _, pair)) = clash {
                refuse_arg(
                    diags,
                    i,
                    arg.span,
                    "one option of each pair",
                    "Unsafe",
                    format!("HttpProtocolOptions {pair} are mutually exclusive"),
                );
                break;
            }
        }
    }
    if options[1] {
        cfg.http_conformance = HttpConformance::Unsafe;
    } else if options[0] {
        cfg.http_conformance = HttpConformance::Strict;
    }
    if let Some(i) = s.last("SSLEngine") {
        cfg.tls.engine_at = Some(sources.location(i.span()));
        match i.arg(0).map(str::to_ascii_lowercase).as_deref() {
            Some("on") => cfg.tls.enabled = true,
            Some("off") => cfg.tls.enabled = false,
            Some("optional") => cfg.tls.enabled = false,
            _ => refuse(
                diags,
                i,
                "on, off or optional",
                "on",
                "Argument must be On or Off".into(),
            ),
        }
    }
    let path = |name: &str| {
        s.last(name)
            .and_then(|i| Some((PathBuf::from(i.arg(0)?), sources.location(i.span()))))
    };
    if let Some((p, at)) = path("SSLCertificateFile") {
        cfg.tls.certificate_file = Some(p);
        cfg.tls.certificate_file_at = Some(at);
    }
    if let Some((p, at)) = path("SSLCertificateKeyFile") {
        cfg.tls.certificate_key_file = Some(p);
        cfg.tls.certificate_key_file_at = Some(at);
    }
    if let Some((p, at)) = path("SSLCertificateChainFile") {
        cfg.tls.certificate_chain_file = Some(p);
        cfg.tls.certificate_chain_file_at = Some(at);
    }
    super::tls::read(items, &mut cfg, diags);
    if let Some(p) = path("DocumentRoot") {
        cfg.document_root = Some(p.0);
    }
    // mod_alias: a virtual host's aliases come first, then the main server's.
    let mut aliases: Vec<AliasMapping> = Vec::new();
    for i in items.iter().filter(|i| !i.in_dir()) {
        let regex = i.def.name == "AliasMatch";
        if i.def.name != "Alias" && !regex {
            continue;
        }
        if let (Some(url), Some(target)) = (i.arg(0), i.arg(1)) {
            if regex {
                if let Err(e) = regex::Regex::new(url) {
                    diags.push(
                        Diagnostic::error(
                            "config/bad-regex",
                            format!("AliasMatch pattern does not compile: {e}"),
                        )
                        .at(i.directive.args[0].span, "invalid regular expression")
                        .help("fix the pattern (POSIX extended syntax)"),
                    );
                    continue;
                }
            }
            aliases.push(AliasMapping {
                url: url.to_string(),
                target: target.to_string(),
                regex,
                at: sources.location(i.span()),
            });
        }
    }
    if parent.is_some() {
        aliases.extend(base.aliases.iter().cloned());
    }
    cfg.aliases = aliases;
    super::logs::server_logs(items, parent.is_some(), sources, diags, &mut cfg);
    super::logs::server_remote_ip(items, sources, diags, &mut cfg);
    super::logs::server_set_env_if(items, diags, &mut cfg);
    for i in items.iter().filter(|i| i.def.name == "SetHandler") {
        let is_status = i
            .arg(0)
            .is_some_and(|a| a.eq_ignore_ascii_case("server-status"));
        let is_metrics = i
            .arg(0)
            .is_some_and(|a| a.eq_ignore_ascii_case("quill-metrics"));
        let Some(loc) = i
            .dirs
            .iter()
            .rev()
            .find(|s| s.is("Location") || s.is("LocationMatch"))
        else {
            continue;
        };
        if is_status || is_metrics {
            let url = loc
                .args
                .first()
                .map(|a| a.value.clone())
                .unwrap_or_default();
            // The Location's own Require lines; one inside <RequireAll>
            // and friends is not modelled and grants nobody.
            let access = items
                .iter()
                .filter(|r| {
                    r.def.name == "Require" && r.dirs.iter().any(|d| std::ptr::eq(*d, *loc))
                })
                .map(|r| {
                    let args: Vec<&str> =
                        r.directive.args.iter().map(|a| a.value.as_str()).collect();
                    if r.dirs.last().is_some_and(|d| std::ptr::eq(*d, *loc)) {
                        Require::parse(&args)
                    } else {
                        Require::Unsupported(format!(
                            "{} (inside a <Require…> section)",
                            args.join(" ")
                        ))
                    }
                })
                .collect();
            let handler = StatusHandler {
                url,
                at: sources.location(i.span()),
                access,
            };
            if is_status {
                cfg.status_handlers.push(handler);
            } else {
                cfg.metrics_handlers.push(handler);
            }
        }
    }
    cfg
}

fn default_server() -> ServerConfig {
    ServerConfig {
        server_name: None,
        server_aliases: Vec::new(),
        keep_alive: KeepAlive {
            enabled: true,
            timeout_ms: 5000,
            max_requests: 100,
        },
        timeout_s: 60,
        limits: RequestLimits {
            body: 1 << 30,
            fields: 100,
            field_size: 8190,
            line: 8190,
        },
        encoded_slashes: EncodedSlashes::Off,
        request_read_timeout: RequestReadTimeout::default(),
        http_conformance: HttpConformance::Strict,
        tls: Tls {
            enabled: false,
            engine_at: None,
            certificate_file: None,
            certificate_file_at: None,
            certificate_key_file: None,
            certificate_key_file_at: None,
            certificate_chain_file: None,
            certificate_chain_file_at: None,
            protocols: vec![TlsVersion::Tls12, TlsVersion::Tls13],
            ciphers_tls12: Vec::new(),
            ciphers_tls13: Vec::new(),
            std_env_vars: false,
            honor_cipher_order: false,
        },
        protocols: vec!["http/1.1".to_string()],
        h2: H2Limits::default(),
        document_root: None,
        aliases: Vec::new(),
        error_log: Some("logs/error_log".to_string()),
        log_level: "warn".to_string(),
        log_levels: crate::logs::LogLevels::default(),
        custom_logs: Vec::new(),
        // mod_log_config's one built-in nickname.
        log_formats: vec![("CLF".into(), "%h %l %u %t \"%r\" %>s %b".into())],
        remote_ip: crate::remoteip::RemoteIp::default(),
        remote_ip_lists: Vec::new(),
        set_env_if: Vec::new(),
        status_handlers: Vec::new(),
        metrics_handlers: Vec::new(),
        extended_status: true,
        wsgi_mounts: Vec::new(),
    }
}

pub(crate) fn main_server(
    c: &Collected<'_>,
    sources: &SourceMap,
    diags: &mut Diagnostics,
) -> ServerConfig {
    let cfg = server_config(&c.global, None, sources, diags);
    if cfg.server_name.is_none() {
        diags.push(
            Diagnostic::note("config/no-server-name", "the main server has no ServerName")
                .apache("Could not reliably determine the server's fully qualified domain name, using 127.0.1.1. Set the 'ServerName' directive globally to suppress this message")
                .help("add `ServerName www.example.com` at the top level"),
        );
    }
    cfg
}

pub(crate) fn vhosts(
    c: &Collected<'_>,
    main: &ServerConfig,
    sources: &SourceMap,
    diags: &mut Diagnostics,
) -> Vec<VirtualHost> {
    let mut out = Vec::new();
    for (index, v) in c.vhosts.iter().enumerate() {
        let mut addresses = Vec::new();
        for a in &v.section.args {
            match parse_host_port(&a.value) {
                Some((address, port)) => addresses.push(VhostAddr { address, port }),
                None => diags.push(
                    Diagnostic::error(
                        "config/bad-vhost-address",
                        format!("`{}` is not an address for <VirtualHost>", a.value),
                    )
                    .at(a.span, "expected addr[:port]")
                    .help("write e.g. `<VirtualHost *:80>`"),
                ),
            }
        }
        if v.section.args.is_empty() {
            diags.push(
                Diagnostic::error(
                    "config/bad-vhost-address",
                    "<VirtualHost> needs at least one address",
                )
                .at(v.section.span, "no address")
                .apache("<VirtualHost> directive requires an argument")
                .help("write e.g. `<VirtualHost *:80>`"),
            );
        }
        let server = server_config(&v.items, Some(main), sources, diags);
        out.push(VirtualHost {
            index,
            addresses,
            at: sources.location(v.section.span),
            server,
        });
    }
    out
}

/// httpd 2.4's selection per listener (vhost.c): the virtual hosts whose
/// address and port match the connection's, IP-specific ones before `*`
/// and `_default_` ones (which then are not candidates at all), and for
/// each address those that name the port before those for any port
/// (`*:*`, which then are not candidates either); each set in
/// configuration order, its first the default. On an `IP:port`
/// listener that is one set; on a listener for every address the
/// IP-specific sets are kept per address ([`Routing::by_address`]), since
/// which one applies depends on the address a connection arrives at.
pub(crate) fn routing(listeners: &[Listener], vhosts: &[VirtualHost]) -> Vec<Routing> {
    listeners
        .iter()
        .map(|l| {
            let port_ok = |a: &VhostAddr| a.port.is_none_or(|p| p == l.port);
            // The virtual hosts with an address matching `address` (`None`:
            // the wildcard ones) on this listener's port, or, when none
            // names the port, those for any port (`addr:*`): httpd keys
            // its sets by address and port, and an exact port wins.
            let at = |address: Option<&str>| -> Vec<usize> {
                let with_port = |port: Option<u16>| -> Vec<usize> {
                    vhosts
                        .iter()
                        .filter(|v| {
                            v.addresses.iter().any(|a| {
                                a.port == port
                                    && match (address, a.address.as_deref()) {
                                        (None, None) => true,
                                        (Some(x), Some(y)) => same_address(x, y),
                                        _ => false,
                                    }
                            })
                        })
                        .map(|v| v.index)
                        .collect()
                };
                let exact = with_port(Some(l.port));
                if exact.is_empty() {
                    with_port(None)
                } else {
                    exact
                }
            };
            let (wild, by_address) = match &l.address {
                Some(addr) => {
                    let exact = at(Some(addr));
                    (if exact.is_empty() { at(None) } else { exact }, Vec::new())
                }
                None => {
                    let mut addresses: Vec<&str> = Vec::new();
                    for a in vhosts.iter().flat_map(|v| &v.addresses) {
                        if let (true, Some(x)) = (port_ok(a), a.address.as_deref()) {
                            if !addresses.iter().any(|y| same_address(x, y)) {
                                addresses.push(x);
                            }
                        }
                    }
                    let by = addresses
                        .into_iter()
                        .filter_map(|address| {
                            let set = at(Some(address));
                            Some(AddressRouting {
                                address: address.to_string(),
                                default_vhost: *set.first()?,
                                names: names_of(&set, vhosts),
                            })
                        })
                        .collect();
                    (at(None), by)
                }
            };
            Routing {
                listener: l.display(),
                default_vhost: wild.first().copied(),
                names: names_of(&wild, vhosts),
                by_address,
            }
        })
        .collect()
}

/// (lower-cased name, vhost index) for ServerName then ServerAlias of each
/// virtual host of `set`, in its order.
fn names_of(set: &[usize], vhosts: &[VirtualHost]) -> Vec<(String, usize)> {
    let mut names = Vec::new();
    for &i in set {
        let s = &vhosts[i].server;
        if let Some(n) = &s.server_name {
            names.push((n.to_ascii_lowercase(), i));
        }
        for a in &s.server_aliases {
            names.push((a.to_ascii_lowercase(), i));
        }
    }
    names
}

/// Two addresses as written: the same IP address in any of its text
/// forms, else the same name.
fn same_address(x: &str, y: &str) -> bool {
    match (x.parse::<IpAddr>(), y.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => unmapped(a) == unmapped(b),
        _ => x.eq_ignore_ascii_case(y),
    }
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether a connection that arrived at `local` arrived at `address` as a
/// `<VirtualHost>` writes it. A name other than `localhost` (which httpd
/// would look up in the DNS when it starts) matches no address here.
fn arrived_at(address: &str, local: IpAddr) -> bool {
    let local = unmapped(local);
    match address.parse::<IpAddr>() {
        Ok(a) => unmapped(a) == local,
        Err(_) => address.eq_ignore_ascii_case("localhost") && local.is_loopback(),
    }
}

/// The name a Host header (or SNI) value is matched by: without its port
/// and a final dot (httpd's fix_hostname); matched without regard to
/// ASCII case ([`wildcard_match`]). Borrowed: this runs for every request.
fn host_name(host: &str) -> &str {
    let h = host.trim();
    let name = match h.strip_prefix('[') {
        Some(rest) => match rest.find(']') {
            Some(end) => &h[..end + 2],
            None => h,
        },
        None => match h.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => h,
        },
    };
    name.strip_suffix('.').unwrap_or(name)
}

/// The virtual host (index) that answers a request on `routing`'s
/// listener, or `None` for the main server: among the virtual hosts of
/// the address the connection arrived at (`local`; `None` when unknown,
/// as in `quill simulate`: the `*` ones), the first whose ServerName or
/// ServerAlias matches `host` (the Host header's value, or the SNI name),
/// else the first of them.
pub fn select_vhost(routing: &Routing, local: Option<IpAddr>, host: Option<&str>) -> Option<usize> {
    let by_address = local.and_then(|ip| {
        routing
            .by_address
            .iter()
            .find(|a| arrived_at(&a.address, ip))
    });
    let (default, names) = match by_address {
        Some(a) => (Some(a.default_vhost), &a.names),
        None => (routing.default_vhost, &routing.names),
    };
    if let Some(h) = host.map(host_name) {
        if let Some((_, i)) = names.iter().find(|(pat, _)| wildcard_match(pat, h)) {
            return Some(*i);
        }
    }
    default
}

/// ServerAlias wildcards: `*` any run, `?` one byte, as httpd's
/// ap_strcasecmp_match; `pat` is in lower case, `s` in any ASCII case.
fn wildcard_match(pat: &str, s: &str) -> bool {
    let (p, t) = (pat.as_bytes(), s.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti].to_ascii_lowercase()) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` as /etc/httpd/conf/httpd.conf, resolved with `opts`.
    fn resolved(text: &str, opts: &ResolveOptions) -> crate::Resolved {
        let parsed = crate::syntax::parse_str(
            std::path::Path::new("/etc/httpd/conf/httpd.conf"),
            text,
            &crate::fs::MemFs::new(),
            &Default::default(),
        );
        crate::resolve::resolve(&parsed, opts)
    }

    #[test]
    fn mpm_override_without_the_mpms_own_files_says_what_it_read() {
        let text =
            "LoadModule mpm_prefork_module modules/mod_mpm_prefork.so\nListen 80\nStartServers 7\n";
        let opts = ResolveOptions {
            mpm_override: Some(MpmKind::Worker),
            ..ResolveOptions::default()
        };
        let r = resolved(text, &opts);
        let note = r
            .diagnostics
            .iter()
            .find(|d| d.code == "config/mpm-override")
            .expect("says so");
        assert!(
            note.message
                .contains("settings read are those written for prefork")
        );
        assert_eq!(r.config.mpm.mpm, MpmKind::Worker);
        assert_eq!(r.config.mpm.start_servers, 7);
        let plain = resolved(text, &ResolveOptions::default());
        assert!(
            !plain
                .diagnostics
                .iter()
                .any(|d| d.code == "config/mpm-override")
        );
    }

    #[test]
    fn a_status_location_carries_its_require_lines() {
        let text = "LoadModule status_module modules/mod_status.so\n\
                    LoadModule authz_core_module modules/mod_authz_core.so\nListen 80\n\
                    ExtendedStatus Off\n\
                    <Location /server-status>\nSetHandler server-status\nRequire local\n\
                    Require ip 10.0.0.0/8\n<RequireAll>\nRequire ip 192.168.1.1\n</RequireAll>\n\
                    </Location>\n<Location /open-status>\nSetHandler server-status\n</Location>\n\
                    <Location /other>\nRequire all granted\n</Location>\n";
        let r = resolved(text, &ResolveOptions::default());
        let main = &r.config.main_server;
        assert!(!main.extended_status);
        let [guarded, open] = main.status_handlers.as_slice() else {
            panic!("two status handlers: {:?}", main.status_handlers);
        };
        assert_eq!(guarded.url, "/server-status");
        let ten = crate::model::IpNetwork::parse("10.0.0.0/8").expect("a network");
        assert_eq!(
            guarded.access,
            vec![
                Require::Local,
                Require::Ip(vec![ten]),
                Require::Unsupported("ip 192.168.1.1 (inside a <Require…> section)".into()),
            ]
        );
        assert_eq!(open.url, "/open-status");
        assert!(open.access.is_empty(), "no Require: nobody");
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(parse_host_port("80"), Some((None, Some(80))));
        assert_eq!(
            parse_host_port("127.0.0.1:8080"),
            Some((Some("127.0.0.1".into()), Some(8080)))
        );
        assert_eq!(
            parse_host_port("[::1]:443"),
            Some((Some("::1".into()), Some(443)))
        );
        assert_eq!(parse_host_port("*:*"), Some((None, None)));
        assert_eq!(parse_host_port("_default_:443"), Some((None, Some(443))));
        assert_eq!(
            parse_host_port("www.example.com"),
            Some((Some("www.example.com".into()), None))
        );
        assert_eq!(parse_host_port("1.2.3.4:99999"), None);
        assert_eq!(parse_host_port("[::1"), None);
    }

    #[test]
    fn timeouts_with_units() {
        assert_eq!(parse_timeout_ms("5"), Some(5000));
        assert_eq!(parse_timeout_ms("250ms"), Some(250));
        assert_eq!(parse_timeout_ms("2mi"), Some(120_000));
        assert_eq!(parse_timeout_ms("x"), None);
    }

    #[test]
    fn servers_are_selected_by_address_then_by_name() {
        let text = "ServerName main.example\nListen 80\nListen 127.0.0.1:8080\nListen 8081\n\
                    <VirtualHost *:80>\nServerName a.example\nServerAlias *.a.example w?w.b.example\n</VirtualHost>\n\
                    <VirtualHost *:80>\nServerName b.example\n</VirtualHost>\n\
                    <VirtualHost 127.0.0.1:80>\nServerName ip.example\n</VirtualHost>\n\
                    <VirtualHost _default_:8080>\nServerName d.example\n</VirtualHost>\n\
                    <VirtualHost 127.0.0.1:8080 [::1]:80>\nServerName e.example\n</VirtualHost>\n\
                    <VirtualHost *:*>\nServerName any.example\n</VirtualHost>\n";
        let r = resolved(text, &ResolveOptions::default());
        let routing = &r.config.routing;
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("an address"));
        let any_80 = &routing[0];
        assert_eq!(any_80.listener, "*:80");
        // The `*` ones, on any address but those with virtual hosts of
        // their own.
        let sel = |local, host| select_vhost(any_80, local, host);
        assert_eq!(sel(ip("10.0.0.5"), Some("b.example")), Some(1));
        assert_eq!(sel(ip("10.0.0.5"), Some("B.Example.:80")), Some(1));
        assert_eq!(sel(ip("10.0.0.5"), Some("www.a.example")), Some(0));
        assert_eq!(sel(ip("10.0.0.5"), Some("www.b.example")), Some(0));
        // `*:*` is another set: the `*:80` one answers for it (as
        // recorded from httpd, tests/data/httpd/vhosts).
        assert_eq!(sel(ip("10.0.0.5"), Some("any.example")), Some(0));
        assert_eq!(sel(ip("10.0.0.5"), Some("unknown.example")), Some(0));
        assert_eq!(sel(ip("10.0.0.5"), None), Some(0));
        assert_eq!(sel(None, Some("b.example")), Some(1));
        // An address with virtual hosts of its own: only those.
        assert_eq!(sel(ip("127.0.0.1"), Some("b.example")), Some(2));
        assert_eq!(sel(ip("::ffff:127.0.0.1"), None), Some(2));
        assert_eq!(sel(ip("::1"), Some("b.example")), Some(4));
        assert_eq!(
            any_80
                .by_address
                .iter()
                .map(|a| (a.address.as_str(), a.default_vhost))
                .collect::<Vec<_>>(),
            [("127.0.0.1", 2), ("::1", 4)]
        );
        // An IP:port listener: its exact matches, before `_default_` ones.
        let ip_8080 = &routing[1];
        assert_eq!(ip_8080.listener, "127.0.0.1:8080");
        assert_eq!(
            select_vhost(ip_8080, ip("127.0.0.1"), Some("d.example")),
            Some(4)
        );
        assert!(ip_8080.by_address.is_empty());
        // A port no virtual host is written for but `*:*`.
        assert_eq!(
            select_vhost(&routing[2], ip("10.0.0.5"), Some("a.example")),
            Some(5)
        );
    }

    #[test]
    fn a_listener_no_virtual_host_matches_is_the_main_servers() {
        let text = "ServerName main.example\nListen 80\nListen 8081\n\
                    <VirtualHost *:80>\nServerName a.example\n</VirtualHost>\n";
        let r = resolved(text, &ResolveOptions::default());
        let on_8081 = &r.config.routing[1];
        assert_eq!(on_8081.default_vhost, None);
        assert_eq!(select_vhost(on_8081, None, Some("a.example")), None);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.example.com", "www.example.com"));
        assert!(wildcard_match("w?w.example.com", "www.example.com"));
        assert!(!wildcard_match("*.example.com", "example.org"));
        assert!(wildcard_match("*.example.com", "WWW.Example.COM"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(!wildcard_match("www.example.com", "www.example.co"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn host_names_lose_their_port_and_final_dot() {
        assert_eq!(host_name(" Example.COM.:8080 "), "Example.COM");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("[::1"), "[::1");
        assert_eq!(host_name("a.example:x"), "a.example:x");
        assert_eq!(host_name("a.example"), "a.example");
    }
}
