//! `quill config`: the effective configuration and its diagnostics.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use quill_config::build::BuildSource;
use quill_config::diag::{DiagnosticJson, render_color, render_plain};
use quill_config::model::{MpmKind, MpmSource, ResolvedConfig, ServerConfig};
use quill_config::wsgi::{DelegationMode, WsgiMount};
use quill_config::{Resolved, Severity};
use serde::Serialize;

use crate::load::{self, ConfArgs};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub conf: ConfArgs,
    /// Print JSON (schema: docs/config-json.md) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--json` output: the resolved configuration plus its diagnostics.
#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(flatten)]
    config: &'a ResolvedConfig,
    diagnostics: Vec<DiagnosticJson>,
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
    notes: usize,
}

pub fn run(args: &ConfigArgs) -> ExitCode {
    let resolved = match load::load(&args.conf) {
        Ok(r) => r,
        Err(load::Unreadable(msg)) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let d = &resolved.diagnostics;
    let summary = Summary {
        errors: d.count(Severity::Error),
        warnings: d.count(Severity::Warning),
        notes: d.count(Severity::Note),
    };
    let start_up_errors = d.iter().filter(|x| x.is_start_up_error()).count();
    let run_time_errors = summary.errors - start_up_errors;
    if args.json {
        let out = JsonOut {
            config: &resolved.config,
            diagnostics: d.iter().map(|x| x.to_json(&resolved.sources)).collect(),
            summary,
        };
        match serde_json::to_string_pretty(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot encode JSON: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", render_text(&resolved));
        let diags: Vec<_> = d.iter().cloned().collect();
        let text = if load::use_color(args.conf.color) {
            render_color(&diags, &resolved.sources)
        } else {
            render_plain(&diags, &resolved.sources)
        };
        eprint!("{text}");
        eprintln!(
            "{} error(s), {} warning(s), {} note(s)",
            summary.errors, summary.warnings, summary.notes
        );
        if start_up_errors > 0 {
            eprintln!("httpd would refuse to start");
        } else if run_time_errors > 0 {
            eprintln!(
                "httpd would start, but answer the requests concerned by {run_time_errors} run-time error(s) with 500"
            );
        }
    }
    if start_up_errors > 0 {
        ExitCode::from(1)
    } else if run_time_errors > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// The human-readable effective configuration.
pub fn render_text(r: &Resolved) -> String {
    let c = &r.config;
    let mut o = String::new();
    let _ = writeln!(o, "Configuration {}", c.main_file.display());
    let _ = writeln!(
        o,
        "  ServerRoot {}; {} file(s) read",
        c.server_root.display(),
        c.files.len()
    );
    let _ = writeln!(
        o,
        "  compiled-in defaults of {} ({})",
        c.build.build.describe(),
        match c.build.chosen_by {
            BuildSource::CommandLine => "from --build",
            BuildSource::Guessed => "guessed from CONF; --build changes it",
        }
    );
    let m = &c.mpm;
    let how = match m.selected_by {
        MpmSource::LoadModule => "from LoadModule",
        MpmSource::CommandLine => "from --mpm",
        MpmSource::Assumed => "assumed: no MPM loaded",
    };
    let _ = writeln!(o, "\nMPM {} ({how})", m.mpm.name());
    let row = |o: &mut String, k: &str, v: String| {
        let _ = writeln!(o, "  {k:<24} {v}");
    };
    row(
        &mut o,
        "StartServers",
        format!(
            "{} (children forked at start: {})",
            m.start_servers, m.children_at_start
        ),
    );
    if m.mpm == MpmKind::Prefork {
        row(&mut o, "MinSpareServers", m.min_spare.to_string());
        row(&mut o, "MaxSpareServers", m.max_spare.to_string());
        row(&mut o, "ServerLimit", m.server_limit.to_string());
        row(
            &mut o,
            "MaxRequestWorkers",
            format!(
                "{} (= at most {} children, one request each)",
                m.max_request_workers, m.max_children
            ),
        );
    } else {
        row(&mut o, "MinSpareThreads", m.min_spare.to_string());
        row(&mut o, "MaxSpareThreads", m.max_spare.to_string());
        row(
            &mut o,
            "ThreadsPerChild",
            format!("{} (ThreadLimit {})", m.threads_per_child, m.thread_limit),
        );
        row(&mut o, "ServerLimit", m.server_limit.to_string());
        let stale = if m.max_request_workers > m.max_threads {
            " — capped by ServerLimit"
        } else {
            ""
        };
        row(
            &mut o,
            "MaxRequestWorkers",
            format!(
                "{} (= at most {} children × {} threads = {} threads{stale})",
                m.max_request_workers, m.max_children, m.threads_per_child, m.max_threads
            ),
        );
    }
    let mcpc = if m.max_connections_per_child == 0 {
        "0 (unlimited)".to_string()
    } else {
        m.max_connections_per_child.to_string()
    };
    row(&mut o, "MaxConnectionsPerChild", mcpc);
    row(&mut o, "ListenBacklog", m.listen_backlog.to_string());
    if m.listen_cores_buckets_ratio > 0 || m.num_buckets > 1 {
        row(
            &mut o,
            "ListenCoresBucketsRatio",
            format!(
                "{} ({} listener bucket(s))",
                m.listen_cores_buckets_ratio, m.num_buckets
            ),
        );
    }
    if let Some(f) = m.async_request_worker_factor {
        row(&mut o, "AsyncRequestWorkerFactor", f.to_string());
    }
    if m.graceful_shutdown_timeout > 0 {
        row(
            &mut o,
            "GracefulShutdownTimeout",
            format!("{} s", m.graceful_shutdown_timeout),
        );
    }

    let _ = writeln!(o, "\nListeners");
    if c.listeners.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for (l, route) in c.listeners.iter().zip(&c.routing) {
        let default = match route.default_vhost {
            Some(i) => format!("virtual host #{i}"),
            None => "main server".to_string(),
        };
        let proto = match l.protocol {
            quill_config::model::Scheme::Http => "http",
            quill_config::model::Scheme::Https => "https",
        };
        let _ = writeln!(o, "  {:<22} {proto:<5} default: {default}", l.display());
        for (name, i) in &route.names {
            let _ = writeln!(o, "  {:<22}       Host {name} → #{i}", "");
        }
        for a in &route.by_address {
            let _ = writeln!(
                o,
                "  {:<22}       at {}: default: virtual host #{}",
                "", a.address, a.default_vhost
            );
            for (name, i) in &a.names {
                let _ = writeln!(o, "  {:<22}         Host {name} → #{i}", "");
            }
        }
    }

    let _ = writeln!(o, "\nMain server");
    server_block(&mut o, &c.main_server, "  ");
    for v in &c.vhosts {
        let addrs: Vec<String> = v.addresses.iter().map(|a| a.display()).collect();
        let _ = writeln!(
            o,
            "\nVirtual host #{} <{}> at {}",
            v.index,
            addrs.join(" "),
            short_loc(&v.at, c)
        );
        server_block(&mut o, &v.server, "  ");
    }

    wsgi_block(&mut o, c);
    if !c.unknown_directives.is_empty() {
        let names: Vec<String> = c
            .unknown_directives
            .iter()
            .map(|u| format!("{} ×{}", u.name, u.count))
            .collect();
        let _ = writeln!(o, "\nNot modelled (kept, ignored): {}", names.join(", "));
    }
    o
}

fn short_loc(l: &quill_config::Location, c: &ResolvedConfig) -> String {
    let p = l.file.strip_prefix(&c.server_root).unwrap_or(&l.file);
    format!("{}:{}", p.display(), l.line)
}

fn server_block(o: &mut String, s: &ServerConfig, ind: &str) {
    let name = s.server_name.as_deref().unwrap_or("(none)");
    let _ = writeln!(o, "{ind}ServerName {name}");
    if !s.server_aliases.is_empty() {
        let _ = writeln!(o, "{ind}ServerAlias {}", s.server_aliases.join(" "));
    }
    let ka = &s.keep_alive;
    let ka_text = if ka.enabled {
        let max = if ka.max_requests == 0 {
            "unlimited".to_string()
        } else {
            format!("{} requests", ka.max_requests + 1)
        };
        format!(
            "On, timeout {}, at most {max} per connection",
            fmt_ms(ka.timeout_ms)
        )
    } else {
        "Off".to_string()
    };
    let _ = writeln!(o, "{ind}KeepAlive {ka_text}; Timeout {} s", s.timeout_s);
    if s.tls.enabled {
        let cert = s
            .tls
            .certificate_file
            .as_ref()
            .map_or("(no certificate)".to_string(), |p| p.display().to_string());
        let _ = writeln!(o, "{ind}TLS on, certificate {cert}");
    }
    if let Some(d) = &s.document_root {
        let _ = writeln!(o, "{ind}DocumentRoot {}", d.display());
    }
    for a in &s.aliases {
        let kind = if a.regex { "AliasMatch" } else { "Alias" };
        let _ = writeln!(o, "{ind}{kind} {} → {}", a.url, a.target);
    }
    for h in &s.status_handlers {
        let _ = writeln!(o, "{ind}server-status at {}", h.url);
    }
    for m in &s.wsgi_mounts {
        mount_line(o, m, ind);
    }
    let logs: Vec<String> = s
        .custom_logs
        .iter()
        .map(|l| match &l.condition {
            Some(quill_config::model::CustomLogCondition::Env(c)) => format!(
                "{} ({}, env={}{})",
                l.target,
                l.format,
                if c.negated { "!" } else { "" },
                c.variable
            ),
            Some(quill_config::model::CustomLogCondition::Unsupported(e)) => {
                format!("{} ({}, {e})", l.target, l.format)
            }
            None => format!("{} ({})", l.target, l.format),
        })
        .collect();
    if let Some(h) = &s.remote_ip.header {
        let mut proxies: Vec<String> = s
            .remote_ip
            .proxies
            .iter()
            .map(|p| format!("{}{}", p.net, if p.internal { " (internal)" } else { "" }))
            .collect();
        proxies.extend(
            s.remote_ip_lists
                .iter()
                .map(|l| format!("the list {}", l.path)),
        );
        let _ = writeln!(
            o,
            "{ind}RemoteIPHeader {h}; proxies: {}",
            if proxies.is_empty() {
                "every peer (none listed)".to_string()
            } else {
                proxies.join(", ")
            }
        );
    }
    let _ = writeln!(
        o,
        "{ind}ErrorLog {}; LogLevel {}{}",
        s.error_log.as_deref().unwrap_or("-"),
        s.log_level,
        if logs.is_empty() {
            String::new()
        } else {
            format!("; CustomLog {}", logs.join(", "))
        }
    );
}

fn fmt_ms(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

fn mount_line(o: &mut String, m: &WsgiMount, ind: &str) {
    let kind = if m.regex {
        "WSGIScriptAliasMatch"
    } else {
        "WSGIScriptAlias"
    };
    let inherited = if m.inherited {
        " (inherited from the main server)"
    } else {
        ""
    };
    let _ = writeln!(o, "{ind}{kind} {} → {}{inherited}", m.url, m.target);
    let group = match (m.process_group.mode, &m.process_group.group) {
        (DelegationMode::Daemon, Some(g)) => format!("daemon group {g}"),
        (DelegationMode::Daemon, None) | (DelegationMode::Embedded, _) => {
            "embedded mode (inside the Apache children)".to_string()
        }
        (DelegationMode::Runtime, _) => format!(
            "a group decided per request ({})",
            m.process_group.expression
        ),
    };
    let interp = match (
        &m.application_group.interpreter,
        &m.application_group.depends_on,
    ) {
        (Some(i), _) if i.is_empty() => "main interpreter (%{GLOBAL})".to_string(),
        (Some(i), _) => format!("sub-interpreter '{i}'"),
        (None, Some(why)) => format!("{} ({why})", m.application_group.expression),
        (None, None) => m.application_group.expression.clone(),
    };
    let mut extras = Vec::new();
    if m.callable_object != "application" {
        extras.push(format!("callable {}", m.callable_object));
    }
    if m.preloaded {
        extras.push("preloaded at start".to_string());
    }
    if m.pass_authorization {
        extras.push("passes Authorization".to_string());
    }
    let extras = if extras.is_empty() {
        String::new()
    } else {
        format!("; {}", extras.join(", "))
    };
    let _ = writeln!(o, "{ind}  runs in {group}, {interp}{extras}");
    for ov in &m.section_overrides {
        let _ = writeln!(
            o,
            "{ind}  except {}: {} {}",
            ov.section, ov.directive, ov.value
        );
    }
}

fn wsgi_block(o: &mut String, c: &ResolvedConfig) {
    let w = &c.wsgi;
    if w.daemons.is_empty() && w.import_scripts.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nmod_wsgi daemon process groups");
    for d in &w.daemons {
        let place = match (&d.declared_in.vhost, &d.declared_in.server_name) {
            (Some(v), Some(n)) => format!("virtual host #{v} ({n})"),
            (Some(v), None) => format!("virtual host #{v}"),
            (None, _) => "main server".to_string(),
        };
        let _ = writeln!(
            o,
            "  {} — declared in {place} at {}",
            d.name,
            short_loc(&d.at, c)
        );
        let _ = writeln!(
            o,
            "    {} process(es) × {} thread(s) = {} request threads; listen-backlog {}",
            d.processes,
            d.threads,
            d.processes * d.threads,
            d.socket.listen_backlog
        );
        let t = &d.timeouts;
        let on = |v: u32| {
            if v == 0 {
                "off".to_string()
            } else {
                format!("{v} s")
            }
        };
        let _ = writeln!(
            o,
            "    timeouts: queue {}, request {}, socket {} s, connect {} s, deadlock {}, inactivity {}, graceful {}, shutdown {}",
            on(t.queue_timeout_s),
            on(t.request_timeout_s),
            t.effective_socket_timeout_s,
            t.connect_timeout_s,
            on(t.deadlock_timeout_s),
            on(t.inactivity_timeout_s),
            on(t.graceful_timeout_s),
            on(t.shutdown_timeout_s)
        );
        if d.maximum_requests > 0 {
            let _ = writeln!(o, "    maximum-requests {}", d.maximum_requests);
        }
        let py = &d.python;
        if let Some(h) = &py.effective_python_home {
            let _ = writeln!(o, "    python-home {h}");
        }
        if !py.python_path.is_empty() {
            let _ = writeln!(o, "    python-path {}", py.python_path.join(":"));
        }
        if let Some(h) = &d.identity.home {
            let _ = writeln!(o, "    home {h}");
        }
        if let Some(t) = &d.process_title {
            let _ = writeln!(o, "    process title {t}");
        }
        let _ = writeln!(o, "    socket {}", d.socket.path);
    }
    for s in &w.import_scripts {
        let group = if s.process_group.is_empty() {
            "the Apache children"
        } else {
            s.process_group.as_str()
        };
        let _ = writeln!(o, "  preloads {} in {group} at start", s.script);
    }
    if w.restrict_embedded {
        let _ = writeln!(
            o,
            "  WSGIRestrictEmbedded On: nothing runs inside the Apache children"
        );
    }
}
