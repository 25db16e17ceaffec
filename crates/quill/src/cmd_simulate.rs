//! `quill simulate`: what the pool does under a load, second by second.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use quill_config::Severity;
use quill_config::diag::render_plain;
use quill_sim::chart::{ChartInfo, Marker, render_svg};
use quill_sim::engine::{self, ExitReason, SimEvent, Sink, Timing};
use quill_sim::load::{Load, parse_load_named};
use quill_sim::report::{LogLine, Problem, ReportInput, render_html, summary};
use quill_sim::setup::{SimChoices, sim_config};
use quill_sim::timeline::{CSV_HEADER, SecondRow};
use serde::Serialize;

use crate::load::{self, ConfArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub conf: ConfArgs,
    /// The load: a CSV file (`t_s,concurrency,request_ms`,
    /// `arrival_ms,duration_ms` or `t_s,rate_per_s,median_ms,sigma`; see
    /// docs/loads.md) or an Apache access log with %D or %T appended.
    #[arg(long, value_name = "FILE")]
    pub load: PathBuf,
    /// Simulated seconds [default: until the load ends, plus 30 s].
    #[arg(long, value_name = "S")]
    pub duration: Option<u64>,
    /// Seed for every random choice (Poisson arrivals, which child accepts).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write timeline.csv, events.log, chart.svg and report.html here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Terminal output.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Host header of the load (chooses the virtual host) [default: the
    /// default server of the first Listen].
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Do not model the mod_wsgi daemon group behind the front end.
    #[arg(long)]
    pub no_daemon: bool,
    /// Milliseconds from fork to a child accepting connections.
    #[arg(long, value_name = "MS", default_value_t = 30)]
    pub fork_delay_ms: u64,
}

/// The sink of a command-line run: streams the timeline and the events to
/// files, keeps the per-second rows and Apache's lines for the chart.
struct CliSink {
    /// The configured LogLevel (its first, module-less word).
    log_level: String,
    rows: Vec<SecondRow>,
    log: Vec<LogLine>,
    timeline: Option<csv::Writer<BufWriter<File>>>,
    events: Option<BufWriter<File>>,
    error: Option<String>,
}

impl CliSink {
    fn note_err(&mut self, e: impl std::fmt::Display) {
        if self.error.is_none() {
            self.error = Some(e.to_string());
        }
    }
}

impl Sink for CliSink {
    fn second(&mut self, row: &SecondRow) {
        if let Some(w) = self.timeline.as_mut() {
            if let Err(e) = w.write_record(row.csv_fields()) {
                self.note_err(e);
            }
        }
        self.rows.push(row.clone());
    }

    fn event(&mut self, event: &SimEvent) {
        if let SimEvent::Apache { record, .. } = event {
            if !logged_at(record.level.name(), &self.log_level) {
                return;
            }
        }
        let line = match event {
            SimEvent::Spawned { at_us, child, slot } => Some(format!(
                "{} spawn   child {child} in slot {slot}",
                stamp(*at_us)
            )),
            SimEvent::Killed {
                at_us,
                child,
                slot,
                busy_threads,
            } => Some(format!(
                "{} kill    child {child} in slot {slot} (pipe of death; {busy_threads} busy thread(s) to finish)",
                stamp(*at_us)
            )),
            SimEvent::Exited {
                at_us,
                child,
                slot,
                reason,
            } => {
                let why = match reason {
                    ExitReason::Killed => "stopped by maintenance",
                    ExitReason::MaxConnections => "MaxConnectionsPerChild reached",
                    ExitReason::Stopped => "stopped by the parent",
                };
                Some(format!(
                    "{} exit    child {child} in slot {slot} ({why})",
                    stamp(*at_us)
                ))
            }
            SimEvent::Apache { at_us, record } => {
                self.log.push(LogLine::new(
                    at_us / 1_000,
                    record.level.name(),
                    record.message.clone(),
                ));
                Some(format!("{} {record}", stamp(*at_us)))
            }
            SimEvent::Reaped { at_us, child, slot } => Some(format!(
                "{} reap    child {child} in slot {slot} (slot free again)",
                stamp(*at_us)
            )),
            SimEvent::Tick { .. } => None,
        };
        if let (Some(line), Some(w)) = (line, self.events.as_mut()) {
            if let Err(e) = writeln!(w, "{line}") {
                self.note_err(e);
            }
        }
    }
}

/// Whether httpd writes a message of `level` at LogLevel `configured`.
/// Notice messages are always written, whatever the LogLevel.
fn logged_at(level: &str, configured: &str) -> bool {
    const ORDER: &[&str] = &[
        "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
    ];
    let rank = |l: &str| {
        ORDER
            .iter()
            .position(|x| l.starts_with(x))
            .unwrap_or(ORDER.len())
    };
    level == "notice" || rank(level) <= rank(configured)
}

fn stamp(us: u64) -> String {
    format!("[{:>10.3} s]", us as f64 / 1e6)
}

#[derive(Serialize)]
struct JsonOut<'a> {
    seed: u64,
    load: String,
    server: &'a str,
    daemon: &'a str,
    summary: quill_sim::report::Summary,
    totals: &'a engine::Totals,
    apache_log: Vec<JsonLog<'a>>,
    out_dir: Option<String>,
}

#[derive(Serialize)]
struct JsonLog<'a> {
    t_ms: u64,
    level: &'a str,
    text: &'a str,
}

pub fn run(args: &SimulateArgs) -> ExitCode {
    let resolved = match load::load(&args.conf) {
        Ok(r) => r,
        Err(load::Unreadable(msg)) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    if let Some(errors) = load::rendered_errors(&resolved) {
        eprint!("{errors}");
        eprintln!(
            "error: Apache would refuse this configuration; fix the errors above (see `quill config`)"
        );
        return ExitCode::from(1);
    }
    let text = match std::fs::read_to_string(&args.load) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "error: cannot read the load file {}: {e}",
                args.load.display()
            );
            return ExitCode::from(2);
        }
    };
    let load_name = args.load.display().to_string();
    let load = match parse_load_named(&load_name, &text) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let duration_s = args.duration.unwrap_or_else(|| default_duration_s(&load));
    let choices = SimChoices {
        host: args.host.clone(),
        daemon_tier: !args.no_daemon,
        seed: args.seed,
        duration_us: duration_s.saturating_mul(1_000_000),
        timing: Timing {
            fork_ready_us: args.fork_delay_ms.saturating_mul(1_000),
            ..Timing::default()
        },
        ..SimChoices::default()
    };
    let (sim, notes) = match sim_config(&resolved.config, &choices) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: the MPM settings cannot be simulated: {e}");
            return ExitCode::from(1);
        }
    };
    let log_level = resolved
        .config
        .main_server
        .log_level
        .split_whitespace()
        .find(|w| !w.contains(':'))
        .unwrap_or("warn")
        .to_string();
    let mut sink = CliSink {
        log_level,
        rows: Vec::new(),
        log: Vec::new(),
        timeline: None,
        events: None,
        error: None,
    };
    if let Some(dir) = &args.out {
        match open_outputs(dir) {
            Ok((t, e)) => {
                sink.timeline = Some(t);
                sink.events = Some(e);
            }
            Err(e) => {
                eprintln!("error: cannot write to {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    let totals = match engine::run(&sim, &load, &mut sink) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let seed =
        matches!(load, Load::Open(quill_sim::load::OpenLoad::Poisson(_))).then_some(args.seed);
    let mut info = ChartInfo::new(&resolved.config.mpm, load.describe(), seed);
    info.markers = sink
        .log
        .iter()
        .filter(|l| {
            matches!(
                l.level.as_str(),
                "emerg" | "alert" | "crit" | "error" | "warn" | "notice"
            )
        })
        .map(|l| Marker::from_log(l.t_ms, &l.text))
        .collect();
    if let Some(dir) = &args.out {
        if let Err(e) = finish_outputs(dir, &mut sink, &info, &resolved, &notes, &load_name) {
            eprintln!("error: cannot write to {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    }
    let sum = summary(&sink.rows);
    match args.format {
        Format::Json => {
            let out = JsonOut {
                seed: args.seed,
                load: load.describe(),
                server: &notes.server,
                daemon: &notes.daemon,
                summary: sum,
                totals: &totals,
                apache_log: sink
                    .log
                    .iter()
                    .map(|l| JsonLog {
                        t_ms: l.t_ms,
                        level: &l.level,
                        text: &l.text,
                    })
                    .collect(),
                out_dir: args.out.as_ref().map(|d| d.display().to_string()),
            };
            match serde_json::to_string_pretty(&out) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        Format::Text => {
            println!("{}", info.title());
            println!(
                "load: {} · answered by {} · {}",
                load.describe(),
                notes.server,
                notes.daemon
            );
            println!("{sum}");
            print_log(&sink.log);
            if let Some(dir) = &args.out {
                println!(
                    "wrote {}/{{timeline.csv,events.log,chart.svg,report.html}}",
                    dir.display()
                );
            }
            println!(
                "replay: quill simulate {} --load {} --seed {} --duration {duration_s}",
                args.conf.conf.display(),
                load_name,
                args.seed
            );
        }
    }
    ExitCode::SUCCESS
}

/// Until the load ends, plus 30 s to show what the pool does afterwards.
fn default_duration_s(load: &Load) -> u64 {
    load.end_us().div_ceil(1_000_000).saturating_add(30).max(30)
}

fn print_log(log: &[LogLine]) {
    if log.is_empty() {
        return;
    }
    println!("Apache would log:");
    let mut groups: Vec<(&LogLine, u64)> = Vec::new();
    for l in log {
        match groups.iter_mut().find(|(g, _)| g.text == l.text) {
            Some((_, n)) => *n += 1,
            None => groups.push((l, 1)),
        }
    }
    for (l, n) in groups {
        let times = if n > 1 {
            format!(" (×{n})")
        } else {
            String::new()
        };
        println!(
            "  {:>9.3} s [{}] {}{times}",
            l.t_ms as f64 / 1000.0,
            l.level,
            l.text
        );
    }
}

type Outputs = (csv::Writer<BufWriter<File>>, BufWriter<File>);

fn open_outputs(dir: &Path) -> std::io::Result<Outputs> {
    std::fs::create_dir_all(dir)?;
    let mut timeline =
        csv::Writer::from_writer(BufWriter::new(File::create(dir.join("timeline.csv"))?));
    timeline
        .write_record(CSV_HEADER)
        .map_err(std::io::Error::other)?;
    let events = BufWriter::new(File::create(dir.join("events.log"))?);
    Ok((timeline, events))
}

fn finish_outputs(
    dir: &Path,
    sink: &mut CliSink,
    info: &ChartInfo,
    resolved: &quill_config::Resolved,
    notes: &quill_sim::setup::SetupNotes,
    load_name: &str,
) -> std::io::Result<()> {
    if let Some(e) = sink.error.take() {
        return Err(std::io::Error::other(e));
    }
    if let Some(mut t) = sink.timeline.take() {
        t.flush()?;
    }
    if let Some(mut e) = sink.events.take() {
        e.flush()?;
    }
    let svg = render_svg(&sink.rows, info);
    std::fs::write(dir.join("chart.svg"), &svg)?;
    let problems: Vec<Problem> = resolved
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Note)
        .map(|d| Problem::Rendered(render_plain(std::slice::from_ref(d), &resolved.sources)))
        .collect();
    let server = &notes.server;
    let extra = vec![
        ("Load".to_string(), load_name.to_string()),
        ("Answered by".to_string(), server.clone()),
        ("Daemon tier".to_string(), notes.daemon.clone()),
    ];
    let html = render_html(&ReportInput {
        rows: &sink.rows,
        chart: info,
        settings: &resolved.config.mpm,
        extra_config: &extra,
        log: &sink.log,
        problems: &problems,
    });
    std::fs::write(dir.join("report.html"), html)
}
