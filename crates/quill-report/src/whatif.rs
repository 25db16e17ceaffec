//! The observed traffic replayed through the simulator (the same pool
//! controller the server runs), once with the configuration as it is and
//! once with the proposal, side by side.

use quill_config::model::ResolvedConfig;
use quill_lint::LintOptions;
use quill_sim::engine::{self, SimEvent, Sink, Totals};
use quill_sim::load::Load;
use quill_sim::setup::{SimChoices, sim_config};
use quill_sim::timeline::SecondRow;
use serde::Serialize;

use crate::observe::{round1, round3};

/// Idle counts of maintenance ticks before this second are the start-up's
/// (StartServers), not the load's.
pub const SETTLED_AFTER_S: u64 = 10;

/// What the simulator says one configuration does under the replayed load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// `StartServers`, the spare band and MaxRequestWorkers simulated.
    pub start_servers: u32,
    pub min_spare: u32,
    pub max_spare: u32,
    pub max_workers: u32,
    pub processes_peak: u32,
    pub processes_mean: f64,
    pub processes_final: u32,
    pub spawned: u64,
    pub killed: u64,
    /// Idle worker slots (threads, or processes for prefork), mean over the load.
    pub idle_mean: f64,
    /// Longest accept queue of the front end.
    pub front_queue_peak: u32,
    /// Longest wait of a connection for a front-end worker (ms).
    pub longest_wait_ms: u64,
    /// The daemon group the simulator models (the `/` mount's).
    pub daemon: Option<DaemonOutcome>,
    pub status_503: u64,
    pub status_504: u64,
    pub memory: Memory,
    /// Kills after the start-up ([`SETTLED_AFTER_S`]): churn caused by
    /// the load.
    #[serde(skip)]
    pub killed_after_startup: u64,
    /// Most idle slots a maintenance tick saw after the start-up: a
    /// MaxSpare at least this large kills nothing under this load.
    #[serde(skip)]
    pub max_idle_after_startup: u32,
    #[serde(skip)]
    pub rows: Vec<SecondRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaemonOutcome {
    pub group: String,
    pub processes: u32,
    pub threads: u32,
    pub busy_peak: u32,
    /// Busy threads ÷ threads, mean over the load (sampled once a second).
    pub utilisation: f64,
    /// Most requests waiting in the group's listen backlog.
    pub queued_peak: u32,
    /// Seconds in which requests waited there.
    pub seconds_queued: u64,
}

/// Resident memory, with the sizes assumed (`--process-rss`, `--daemon-rss`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Memory {
    /// Front-end children at their peak × process RSS.
    pub front_peak_mb: f64,
    /// Every daemon process of the groups in use × daemon RSS (mod_wsgi
    /// starts them all at once).
    pub daemon_mb: f64,
    pub total_mb: f64,
}

/// The two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// What was replayed.
    pub load: String,
    pub seconds: u64,
    pub current: Outcome,
    pub proposed: Outcome,
}

#[derive(Default)]
struct Collect {
    rows: Vec<SecondRow>,
    max_idle_after_startup: u32,
}

impl Sink for Collect {
    fn second(&mut self, row: &SecondRow) {
        self.rows.push(row.clone());
    }
    fn event(&mut self, event: &SimEvent) {
        if let SimEvent::Tick { at_us, record } = event {
            if *at_us >= SETTLED_AFTER_S * 1_000_000 {
                self.max_idle_after_startup = self.max_idle_after_startup.max(record.idle);
            }
        }
    }
}

/// Simulated seconds for a load: until it ends, plus 30 s.
pub fn duration_s(load: &Load) -> u64 {
    load.end_us().div_ceil(1_000_000).saturating_add(30)
}

/// Runs `load` on `config`.
pub fn simulate(
    config: &ResolvedConfig,
    load: &Load,
    seed: u64,
    lint: &LintOptions,
) -> Result<Outcome, String> {
    let choices = SimChoices {
        seed,
        duration_us: duration_s(load).saturating_mul(1_000_000),
        ..SimChoices::default()
    };
    let (sim, _) = sim_config(config, &choices)?;
    let mut sink = Collect::default();
    let totals: Totals = engine::run(&sim, load, &mut sink).map_err(|e| e.to_string())?;
    let rows = sink.rows;
    let load_end_s = load.end_us().div_ceil(1_000_000).max(1);
    let during: Vec<&SecondRow> = rows.iter().filter(|r| r.t_s < load_end_s).collect();
    let n = during.len().max(1) as f64;
    let mean =
        |f: fn(&SecondRow) -> u32| round1(during.iter().map(|r| f64::from(f(r))).sum::<f64>() / n);
    let daemon = sim.daemon.as_ref().map(|d| {
        let threads = d.processes.saturating_mul(d.threads).max(1);
        DaemonOutcome {
            group: d.name.clone(),
            processes: d.processes,
            threads: d.threads,
            busy_peak: rows.iter().map(|r| r.daemon_busy).max().unwrap_or(0),
            utilisation: round3(
                during.iter().map(|r| f64::from(r.daemon_busy)).sum::<f64>()
                    / (n * f64::from(threads)),
            ),
            queued_peak: rows.iter().map(|r| r.daemon_queued).max().unwrap_or(0),
            seconds_queued: rows.iter().filter(|r| r.daemon_queued > 0).count() as u64,
        }
    });
    let processes_peak = rows.iter().map(|r| r.processes).max().unwrap_or(0);
    let daemon_processes: u32 = quill_lint::tier::used_groups(config, &Default::default())
        .iter()
        .map(|g| g.processes)
        .sum();
    let front_peak_mb = f64::from(processes_peak) * lint.process_rss_mb;
    let daemon_mb = f64::from(daemon_processes) * lint.daemon_rss_mb;
    let m = &config.mpm;
    Ok(Outcome {
        start_servers: m.start_servers,
        min_spare: m.min_spare,
        max_spare: m.max_spare,
        max_workers: m.max_threads.min(m.max_request_workers),
        processes_peak,
        processes_mean: mean(|r| r.processes),
        processes_final: rows.last().map_or(0, |r| r.processes),
        spawned: totals.spawned,
        killed: totals.killed,
        idle_mean: mean(|r| r.idle),
        front_queue_peak: rows.iter().map(|r| r.max_queued).max().unwrap_or(0),
        longest_wait_ms: rows.iter().map(|r| r.max_wait_ms).max().unwrap_or(0),
        daemon,
        status_503: totals.status_503,
        status_504: totals.status_504,
        memory: Memory {
            front_peak_mb: round1(front_peak_mb),
            daemon_mb: round1(daemon_mb),
            total_mb: round1(front_peak_mb + daemon_mb),
        },
        killed_after_startup: rows
            .iter()
            .filter(|r| r.t_s >= SETTLED_AFTER_S)
            .map(|r| u64::from(r.killed))
            .sum(),
        max_idle_after_startup: sink.max_idle_after_startup,
        rows,
    })
}
