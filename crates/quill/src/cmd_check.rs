//! `quill check`: lint a configuration — what Apache will silently adjust,
//! rules spanning several directives, process-group visibility, front end
//! against daemon capacity, memory — with numbers and the edit that fixes
//! each finding.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use quill_config::Severity;
use quill_lint::{LintOptions, RULES, Report};

use crate::load::{self, ColorArg, ConfArgs, Unreadable};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// rustc-style diagnostics (colours only on a terminal).
    Human,
    /// One JSON document (schema: docs/check.md).
    Json,
    /// SARIF 2.1.0, for code-review tools.
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Deny {
    /// Exit with status 1 when there are warnings, too.
    Warnings,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub conf: Option<ConfArgs>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Make warnings fail too (exit status 1).
    #[arg(long, value_enum, value_name = "WHAT")]
    pub deny: Vec<Deny>,
    /// Print what a rule checks, why it matters and how to fix it (a rule
    /// id such as `startup-kill-off`, or a code shown in brackets).
    #[arg(long, value_name = "RULE", exclusive = true)]
    pub explain: Option<String>,
    /// List the rules.
    #[arg(long, exclusive = true)]
    pub list_rules: bool,
    /// Print docs/rules.md, generated from the rule definitions.
    #[arg(long, exclusive = true, hide = true)]
    pub rules_markdown: bool,
    /// Resident memory of one front-end (Apache) child, in MB, for the
    /// memory estimate.
    #[arg(long, value_name = "MB", default_value_t = quill_lint::DEFAULT_PROCESS_RSS_MB)]
    pub process_rss: f64,
    /// Resident memory of one Python process with the application loaded
    /// (a daemon process, or what an embedded-mode child adds), in MB.
    #[arg(long, value_name = "MB", default_value_t = quill_lint::DEFAULT_DAEMON_RSS_MB)]
    pub daemon_rss: f64,
}

pub fn run(args: &CheckArgs) -> ExitCode {
    if let Some(rule) = &args.explain {
        return explain(rule);
    }
    if args.list_rules {
        for r in RULES {
            println!("{:<28} {:<8} {}", r.id, r.severity.as_str(), r.summary);
        }
        return ExitCode::SUCCESS;
    }
    if args.rules_markdown {
        print!("{}", quill_lint::rules_markdown(RULES));
        return ExitCode::SUCCESS;
    }
    let Some(conf) = &args.conf else {
        eprintln!("error: give the configuration to check: quill check CONF (or --explain RULE)");
        return ExitCode::from(2);
    };
    for (name, v) in [
        ("--process-rss", args.process_rss),
        ("--daemon-rss", args.daemon_rss),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            eprintln!("error: {name} takes a size in MB (0 or more), not {v}");
            return ExitCode::from(2);
        }
    }
    let (parsed, resolved) = match load::load_with_tree(conf) {
        Ok(r) => r,
        Err(Unreadable(msg)) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let options = LintOptions {
        process_rss_mb: args.process_rss,
        daemon_rss_mb: args.daemon_rss,
    };
    let report = quill_lint::check(&parsed, &resolved, &options);
    let printed = match args.format {
        Format::Human => {
            let color = match conf.color {
                ColorArg::Always => true,
                ColorArg::Never => false,
                ColorArg::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            Ok(quill_lint::output::human(&report, &resolved.sources, color))
        }
        Format::Json => serde_json::to_string_pretty(&quill_lint::output::json(
            &report,
            &resolved.sources,
            &resolved.config.main_file,
            resolved.config.mpm.mpm.name(),
        ))
        .map(|s| s + "\n"),
        Format::Sarif => {
            serde_json::to_string_pretty(&quill_lint::output::sarif(&report, &resolved.sources))
                .map(|s| s + "\n")
        }
    };
    match printed {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("error: cannot encode the report: {e}");
            return ExitCode::from(2);
        }
    }
    exit_status(&report, args.deny.contains(&Deny::Warnings))
}

/// 0: no error (and, with `--deny warnings`, no warning); 1 otherwise.
fn exit_status(report: &Report, deny_warnings: bool) -> ExitCode {
    let failing =
        report.count(Severity::Error) > 0 || (deny_warnings && report.count(Severity::Warning) > 0);
    if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn explain(rule: &str) -> ExitCode {
    match quill_lint::find(rule) {
        Some(r) => {
            if !r.id.eq_ignore_ascii_case(rule.trim()) {
                println!("`{}` is reported by the rule {}.\n", rule.trim(), r.id);
            }
            print!("{}", r.explain());
            ExitCode::SUCCESS
        }
        None => {
            let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
            eprintln!(
                "error: no rule called `{rule}`; the rules are: {}",
                ids.join(", ")
            );
            ExitCode::from(2)
        }
    }
}
