//! `quill config`: the effective configuration and its diagnostics.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use quill_config::diag::{DiagnosticJson, render_color, render_plain};
use quill_config::model::{MpmKind, MpmSource, ResolvedConfig, ServerConfig};
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
    let failed = summary.errors > 0;
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
    }
    if failed {
        ExitCode::from(1)
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

    let wsgi = serde_json::to_value(&c.wsgi).unwrap_or(serde_json::Value::Null);
    if !is_empty_value(&wsgi) {
        let _ = writeln!(o, "\nmod_wsgi");
        render_value(&mut o, &wsgi, 1);
    }
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
    let mounts = serde_json::to_value(&s.wsgi_mounts).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Array(list) = &mounts {
        for m in list {
            let _ = writeln!(o, "{ind}WSGI mount");
            render_value(o, m, ind.len() / 2 + 1);
        }
    }
    let logs: Vec<String> = s
        .custom_logs
        .iter()
        .map(|l| format!("{} ({})", l.target, l.format))
        .collect();
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

fn is_empty_value(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Object(m) => m.values().all(is_empty_value),
        serde_json::Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Indented `key: value` text for nested data (stable: serde's field order).
fn render_value(o: &mut String, v: &serde_json::Value, depth: usize) {
    use serde_json::Value;
    let ind = "  ".repeat(depth);
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                match val {
                    Value::Object(_) if is_empty_value(val) => {}
                    Value::Object(_) => {
                        let _ = writeln!(o, "{ind}{k}:");
                        render_value(o, val, depth + 1);
                    }
                    Value::Array(items) if items.is_empty() => {}
                    Value::Array(items)
                        if items.iter().all(|i| !i.is_object() && !i.is_array()) =>
                    {
                        let parts: Vec<String> = items.iter().map(scalar).collect();
                        let _ = writeln!(o, "{ind}{k}: {}", parts.join(", "));
                    }
                    Value::Array(items) => {
                        let _ = writeln!(o, "{ind}{k}:");
                        for it in items {
                            let _ = writeln!(o, "{ind}  -");
                            render_value(o, it, depth + 2);
                        }
                    }
                    Value::Null => {}
                    other => {
                        let _ = writeln!(o, "{ind}{k}: {}", scalar(other));
                    }
                }
            }
        }
        other => {
            let _ = writeln!(o, "{ind}{}", scalar(other));
        }
    }
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
