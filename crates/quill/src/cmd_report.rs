//! `quill report`: how much of its configuration a server really uses, and
//! a proposal checked by `quill check` and replayed through the simulator.
//! Parse the arguments, gather the evidence (sample the server, read a log
//! or a recording), call `quill_report`, render.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use quill_report::{AdviceOptions, Observed, RawSample};
use quill_sim::load::LogDurationUnit;

use crate::load::{self, ConfArgs, Unreadable};
use crate::sample;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("evidence").required(true).args(["url", "access_log", "samples"])))]
pub struct ReportArgs {
    #[command(flatten)]
    pub conf: ConfArgs,
    /// Sample this running server (`http://HOST:PORT`): its status page
    /// (`SetHandler server-status`, read with `?auto`) and Quill's metrics
    /// page (`SetHandler quill-metrics`), at the paths the configuration
    /// gives them.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Read this access log instead: Apache's common or combined format
    /// with %D (microseconds) appended, from Quill or from httpd.
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<PathBuf>,
    /// Read samples recorded earlier with `--record` instead.
    #[arg(long, value_name = "FILE")]
    pub samples: Option<PathBuf>,
    /// Seconds to sample for (with --url).
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub window: u64,
    /// Seconds between two samples (with --url).
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    pub interval: f64,
    /// Path of the status page [default: the configuration's `SetHandler
    /// server-status` Location].
    #[arg(long, value_name = "PATH")]
    pub status_path: Option<String>,
    /// Path of the metrics page [default: the configuration's `SetHandler
    /// quill-metrics` Location].
    #[arg(long, value_name = "PATH")]
    pub metrics_path: Option<String>,
    /// Save the samples (JSON lines) to read them again with --samples.
    #[arg(long, value_name = "FILE", requires = "url")]
    pub record: Option<PathBuf>,
    /// Unit of the access log's last field when it cannot be guessed: `us`
    /// (%D) or `ms` (%{ms}T). Whole seconds (%T) are too coarse.
    #[arg(long, value_name = "UNIT")]
    pub duration_unit: Option<LogDurationUnit>,
    /// Daemon thread utilisation the proposal sizes for (0.05–1).
    #[arg(long, value_name = "RATIO", default_value_t = 0.5)]
    pub target_utilisation: f64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write report.html (with the charts) and the proposed configuration
    /// files (under proposed/) here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Resident memory of one front-end child, in MB (for the memory figures).
    #[arg(long, value_name = "MB", default_value_t = quill_lint::DEFAULT_PROCESS_RSS_MB)]
    pub process_rss: f64,
    /// Resident memory of one daemon process with the application loaded, in MB.
    #[arg(long, value_name = "MB", default_value_t = quill_lint::DEFAULT_DAEMON_RSS_MB)]
    pub daemon_rss: f64,
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(code)
}

pub fn run(args: &ReportArgs) -> ExitCode {
    if !(0.05..=1.0).contains(&args.target_utilisation) {
        return fail(
            2,
            format!(
                "--target-utilisation takes a ratio between 0.05 and 1 (0.5 = half the threads busy), not {}",
                args.target_utilisation
            ),
        );
    }
    if !(args.interval.is_finite() && args.interval >= 0.1) || args.window == 0 {
        return fail(
            2,
            "--interval takes seconds (0.1 or more) and --window seconds (1 or more)",
        );
    }
    for (name, v) in [
        ("--process-rss", args.process_rss),
        ("--daemon-rss", args.daemon_rss),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return fail(2, format!("{name} takes a size in MB (0 or more), not {v}"));
        }
    }
    let reader = match load::reader(&args.conf) {
        Ok(r) => r,
        Err(Unreadable(msg)) => return fail(2, msg),
    };
    let (parsed, resolved) = reader.read_tree();
    if let Some(errors) = load::rendered_errors(&resolved) {
        eprint!("{errors}");
        return fail(
            1,
            "Apache would refuse this configuration; fix the errors above (see `quill check`)",
        );
    }
    let observed = match gather(args, &resolved.config) {
        Ok(o) => o,
        Err((code, msg)) => return fail(code, msg),
    };
    let options = AdviceOptions {
        target_utilisation: args.target_utilisation,
        lint: quill_lint::LintOptions {
            process_rss_mb: args.process_rss,
            daemon_rss_mb: args.daemon_rss,
        },
        seed: 1,
    };
    let report = match quill_report::analyse((&parsed, &resolved), &observed, &reader, &options) {
        Ok(r) => r,
        Err(e) => return fail(1, e),
    };
    if let Some(dir) = &args.out {
        if let Err(e) = write_out(dir, &report, &resolved) {
            return fail(2, format!("cannot write to {}: {e}", dir.display()));
        }
    }
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(2, e),
        }
    } else {
        print!("{}", quill_report::render::text(&report));
        if let Some(dir) = &args.out {
            println!(
                "wrote {}/report.html and the proposed configuration under {}/proposed/",
                dir.display(),
                dir.display()
            );
        }
    }
    ExitCode::SUCCESS
}

/// The observation from whichever evidence was given: (exit status, message) on failure.
fn gather(
    args: &ReportArgs,
    config: &quill_config::model::ResolvedConfig,
) -> Result<Observed, (u8, String)> {
    if let Some(path) = &args.access_log {
        let text = std::fs::read_to_string(path).map_err(|e| {
            (
                2,
                format!("cannot read the access log {}: {e}", path.display()),
            )
        })?;
        let name = path.display().to_string();
        return quill_report::from_access_log(config, &name, &text, args.duration_unit)
            .map_err(|e| (2, e.to_string()));
    }
    if let Some(path) = &args.samples {
        let text = std::fs::read_to_string(path).map_err(|e| {
            (
                2,
                format!("cannot read the samples {}: {e}", path.display()),
            )
        })?;
        let mut samples = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let s: RawSample = serde_json::from_str(line).map_err(|e| {
                (
                    2,
                    format!(
                        "{}, line {}: not a sample written by --record: {e}",
                        path.display(),
                        i + 1
                    ),
                )
            })?;
            samples.push(s);
        }
        let name = path.display().to_string();
        return quill_report::from_samples(config, &name, &samples).map_err(|e| (2, e.to_string()));
    }
    let Some(url) = &args.url else {
        return Err((2, "give --url, --access-log or --samples".to_string()));
    };
    let base = url.trim_end_matches('/').to_string();
    if !base.starts_with("http://") {
        return Err((
            2,
            format!("--url takes the server's http:// address (https is not sampled), not {url}"),
        ));
    }
    let main = &config.main_server;
    let plan = sample::Plan {
        base: base.clone(),
        status_path: args
            .status_path
            .clone()
            .or_else(|| main.status_handlers.first().map(|h| h.url.clone())),
        metrics_path: args
            .metrics_path
            .clone()
            .or_else(|| main.metrics_handlers.first().map(|h| h.url.clone())),
        window: Duration::from_secs(args.window),
        interval: Duration::from_secs_f64(args.interval),
    };
    if plan.status_path.is_none() && plan.metrics_path.is_none() {
        return Err((
            2,
            "the configuration has no `SetHandler server-status` or `SetHandler quill-metrics` \
             Location to sample (docs/status.md); add one, or give --status-path / --metrics-path"
                .to_string(),
        ));
    }
    if plan.metrics_path.is_none() {
        eprintln!(
            "note: no metrics page (`SetHandler quill-metrics`): the report has the front end only, no daemon group figures"
        );
    }
    eprintln!(
        "sampling {base} every {} s for {} s …",
        args.interval, args.window
    );
    let samples = sample::run(&plan, &mut |w| eprintln!("warning: {w}")).map_err(|e| (2, e))?;
    if let Some(path) = &args.record {
        let mut text = String::new();
        for s in &samples {
            let line = serde_json::to_string(s).map_err(|e| (2, e.to_string()))?;
            text += &line;
            text.push('\n');
        }
        std::fs::write(path, text)
            .map_err(|e| (2, format!("cannot write {}: {e}", path.display())))?;
    }
    quill_report::from_samples(config, &base, &samples).map_err(|e| (2, e.to_string()))
}

fn write_out(
    dir: &std::path::Path,
    report: &quill_report::Report,
    resolved: &quill_config::Resolved,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("proposed"))?;
    std::fs::write(
        dir.join("report.html"),
        quill_report::render::html(report, &resolved.config.mpm),
    )?;
    for (path, text) in &report.proposal.files {
        let name = path
            .strip_prefix("/")
            .unwrap_or(path)
            .to_string_lossy()
            .replace('/', "__");
        std::fs::write(dir.join("proposed").join(name), text)?;
    }
    Ok(())
}
