//! The simulations behind the numbers: the pool started with no load
//! (start-up kill-off and burst) and the pool under the standard noisy load
//! (churn). Both run the full pool controller (quill-mpm) in virtual time through
//! `quill-sim`; both are deterministic.

use std::sync::Mutex;

use quill_config::model::ResolvedConfig;
use quill_mpm::{Mpm, PoolConfig};
use quill_sim::engine::{KeepAliveModel, SimConfig, SimEvent, Sink, Timing, run};
use quill_sim::load::{Load, parse_load};
use quill_sim::timeline::SecondRow;

/// The pool started with no load at all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartupRun {
    /// Children forked at start: min(StartServers, the child limit).
    pub children_at_start: u32,
    /// The second (since start) of each maintenance kill.
    pub kills: Vec<u64>,
    /// (second, children forked at that tick) after the start-up fork.
    pub spawns: Vec<(u64, u32)>,
    /// Children alive when nothing changes any more.
    pub settled_children: u32,
    /// The second of the last spawn or kill (0: none).
    pub settled_at_s: u64,
}

impl StartupRun {
    pub fn spawned(&self) -> u32 {
        self.spawns.iter().map(|(_, n)| n).sum()
    }
}

/// The pool under the standard noisy load.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnMeasure {
    /// Children forked during the measured half hour.
    pub spawns: u64,
    /// Children killed during it.
    pub kills: u64,
    /// (spawns + kills) per hour.
    pub per_hour: f64,
    /// The load's mean concurrency (busy threads on average).
    pub mean_busy: f64,
    /// Lowest and highest level of the load, in concurrent requests.
    pub levels: (f64, f64),
    /// The most idle threads (prefork: processes) any maintenance tick saw:
    /// a MaxSpare at least this large never kills on this run, so the same
    /// run with it has exactly the same spawns and no kill.
    pub max_idle: u32,
    /// Spawns and kills undone within [`UNDONE_WITHIN_S`]: a child forked
    /// less than that before or after a kill, a child killed that close to
    /// a fork — the pool reacting to the load's noise, not to its level.
    pub undone: u64,
    /// `undone` per hour: what the rule weighs.
    pub undone_per_hour: f64,
    /// Children alive on average over the measured half hour (what a wider
    /// band costs in memory).
    pub mean_children: f64,
}

/// A spawn and a kill this close (seconds) undo each other: the child
/// killed was needed again, or the child forked was not needed.
pub const UNDONE_WITHIN_S: u64 = 60;

/// Of `mine` (sorted seconds, one entry per child), how many have an entry
/// of `other` (sorted) within [`UNDONE_WITHIN_S`].
fn undone_of(mine: &[u64], other: &[u64]) -> u64 {
    mine.iter()
        .filter(|&&t| {
            let i = other.partition_point(|&o| o + UNDONE_WITHIN_S < t);
            other.get(i).is_some_and(|&o| o <= t + UNDONE_WITHIN_S)
        })
        .count() as u64
}

/// The standard noisy load, in words (also in docs/rules.md).
pub const STANDARD_LOAD: &str = "open-loop Poisson arrivals whose rate steps every 60 s through \
    +0 %, +15 %, +30 %, +15 %, +0 %, −15 %, −30 %, −15 % around a mean of one third of the \
    server's thread capacity (MaxRequestWorkers), requests lasting a lognormal 1 s median \
    (σ 0.5), seed 1; spawns and kills are counted from minute 2 to minute 32 and scaled to an hour";

/// Seconds before counting (the pool settles after start-up).
pub const WARMUP_S: u64 = 120;
/// Seconds counted.
pub const MEASURE_S: u64 = 1800;
const LEVEL_S: u64 = 60;
const PATTERN: [f64; 8] = [0.0, 0.5, 1.0, 0.5, 0.0, -0.5, -1.0, -0.5];
const AMPLITUDE: f64 = 0.3;
const MEDIAN_MS: f64 = 1000.0;
const SIGMA: f64 = 0.5;
const SEED: u64 = 1;

/// Servers above this many threads are not simulated for churn (the run
/// would take too long; the rule says so).
pub const CHURN_MAX_THREADS: u32 = 5_000;

/// Spawns + kills undone within a minute, per hour, at or above which the
/// pool churns.
pub const CHURN_LIMIT_PER_HOUR: f64 = 60.0;
/// What a proposed band must reach: at most one spawn or kill undone in
/// five minutes.
pub const CHURN_TARGET_PER_HOUR: f64 = 12.0;

/// The standard load for a server of `max_threads` threads, as a load file
/// (docs/loads.md, Poisson arrivals).
pub fn standard_load_csv(max_threads: u32) -> String {
    let mean = f64::from(max_threads) / 3.0;
    // Mean duration of a lognormal: median × e^(σ²/2).
    let mean_s = MEDIAN_MS / 1000.0 * (SIGMA * SIGMA / 2.0).exp();
    let mut csv = String::from("t_s,rate_per_s,median_ms,sigma\n");
    let end = WARMUP_S + MEASURE_S;
    let mut t = 0;
    let mut i = 0;
    while t < end {
        let level = mean * (1.0 + AMPLITUDE * PATTERN[i % PATTERN.len()]);
        csv.push_str(&format!("{t},{:.4},{MEDIAN_MS},{SIGMA}\n", level / mean_s));
        t += LEVEL_S;
        i += 1;
    }
    csv.push_str(&format!("{end},0,{MEDIAN_MS},{SIGMA}\n"));
    csv
}

#[derive(Default)]
struct Counter {
    /// The second of each spawn and of each kill counted.
    spawns: Vec<u64>,
    kills: Vec<u64>,
    from_s: u64,
    max_idle: u32,
    child_seconds: u64,
    seconds: u64,
}

impl Sink for Counter {
    fn second(&mut self, row: &SecondRow) {
        if row.t_s >= self.from_s {
            for _ in 0..row.spawned {
                self.spawns.push(row.t_s);
            }
            for _ in 0..row.killed {
                self.kills.push(row.t_s);
            }
            self.child_seconds += u64::from(row.processes);
            self.seconds += 1;
        }
    }
    fn event(&mut self, event: &SimEvent) {
        if let SimEvent::Tick { record, .. } = event {
            self.max_idle = self.max_idle.max(record.idle);
        }
    }
}

fn sim_config(pool: &PoolConfig, async_factor: u32, duration_s: u64, seed: u64) -> SimConfig {
    SimConfig {
        pool: pool.clone(),
        // Keep-alive has its own rule; clients here close after one request.
        keep_alive: KeepAliveModel {
            enabled: false,
            timeout_us: 0,
            max_requests: 0,
        },
        listen_backlog: 511,
        async_factor,
        // The front end's pool alone: the daemon tier does not change how
        // many front-end threads are busy.
        daemon: None,
        timing: Timing::default(),
        seed,
        duration_us: duration_s.saturating_mul(1_000_000),
        step_limit: 200_000_000,
    }
}

/// Whether the pool can kill at all: idle threads never exceed what the
/// child limit allows.
pub fn can_kill(pool: &PoolConfig) -> bool {
    pool.max_spare < max_threads(pool)
}

/// Churn of `pool` under the standard load of its own size.
pub fn churn_of(pool: &PoolConfig, async_factor: u32) -> Option<ChurnMeasure> {
    churn_under(pool, async_factor, max_threads(pool))
}

/// Threads the pool can serve with (the standard load's scale).
pub fn max_threads(pool: &PoolConfig) -> u32 {
    pool.daemons_limit
        .saturating_mul(pool.threads_per_child.max(1))
}

/// Churn of `pool` under the standard load of a server of `max_threads`
/// threads (the plan checks a proposed pool under the written server's load
/// as well as its own).
pub fn churn_under(pool: &PoolConfig, async_factor: u32, max_threads: u32) -> Option<ChurnMeasure> {
    let key = (pool.clone(), async_factor, max_threads);
    if let Some(known) = RUNS
        .lock()
        .ok()
        .and_then(|runs| runs.iter().find(|(k, _)| *k == key).map(|(_, m)| m.clone()))
    {
        return known;
    }
    let measured = run_churn(pool, async_factor, max_threads);
    if let Ok(mut runs) = RUNS.lock() {
        if runs.len() >= RUNS_KEPT {
            runs.remove(0);
        }
        runs.push((key, measured.clone()));
    }
    measured
}

/// Churn runs already made in this process, by (pool, async factor, load
/// scale). A run is a pure function of those, and the same pools come back:
/// the plan tries the pool its edits give, which the check of the edited
/// configuration runs again (`quill report` checks its proposal in rounds;
/// the tests check every fixture before and after its edits).
type ChurnRun = ((PoolConfig, u32, u32), Option<ChurnMeasure>);
static RUNS: Mutex<Vec<ChurnRun>> = Mutex::new(Vec::new());
/// Runs kept (the oldest is dropped first); a lookup compares each.
const RUNS_KEPT: usize = 256;

fn run_churn(pool: &PoolConfig, async_factor: u32, max_threads: u32) -> Option<ChurnMeasure> {
    if max_threads > CHURN_MAX_THREADS || self::max_threads(pool) > CHURN_MAX_THREADS {
        return None;
    }
    let load = parse_load(&standard_load_csv(max_threads)).ok()?;
    let config = sim_config(pool, async_factor, WARMUP_S + MEASURE_S, SEED);
    let mut counter = Counter {
        from_s: WARMUP_S,
        ..Counter::default()
    };
    run(&config, &load, &mut counter).ok()?;
    let mean = f64::from(max_threads) / 3.0;
    let hourly = |n: u64| n as f64 * 3600.0 / MEASURE_S as f64;
    let (spawns, kills) = (counter.spawns.len() as u64, counter.kills.len() as u64);
    let undone =
        undone_of(&counter.spawns, &counter.kills) + undone_of(&counter.kills, &counter.spawns);
    Some(ChurnMeasure {
        spawns,
        kills,
        per_hour: hourly(spawns + kills),
        mean_busy: mean,
        levels: (mean * (1.0 - AMPLITUDE), mean * (1.0 + AMPLITUDE)),
        max_idle: counter.max_idle,
        undone,
        undone_per_hour: hourly(undone),
        mean_children: counter.child_seconds as f64 / counter.seconds.max(1) as f64,
    })
}

/// Churn of the configuration as written (`None` when it cannot kill, so
/// it cannot churn).
pub fn churn(pool: &PoolConfig, config: &ResolvedConfig) -> Option<ChurnMeasure> {
    if !can_kill(pool) || max_threads(pool) > CHURN_MAX_THREADS {
        return None;
    }
    churn_of(pool, config.mpm.async_request_worker_factor.unwrap_or(2))
}

#[derive(Default)]
struct StartupSink {
    kills: Vec<u64>,
    spawns: Vec<(u64, u32)>,
    initial: u32,
    live: i64,
    last_change_s: u64,
}

impl Sink for StartupSink {
    fn second(&mut self, _row: &SecondRow) {}
    fn event(&mut self, event: &SimEvent) {
        match event {
            SimEvent::Spawned { at_us, .. } => {
                self.live += 1;
                // The start-up fork happens before the first tick (t < 1 s).
                if *at_us < 1_000_000 {
                    self.initial += 1;
                    return;
                }
                let s = at_us / 1_000_000;
                self.last_change_s = s;
                match self.spawns.last_mut() {
                    Some((t, n)) if *t == s => *n += 1,
                    _ => self.spawns.push((s, 1)),
                }
            }
            SimEvent::Killed { at_us, .. } => {
                let s = at_us / 1_000_000;
                self.kills.push(s);
                self.last_change_s = s;
            }
            SimEvent::Exited { .. } => self.live -= 1,
            _ => {}
        }
    }
}

/// Start `pool` with no load and watch it settle.
pub fn startup(pool: &PoolConfig) -> StartupRun {
    if pool.daemons_limit.max(pool.children_to_start()) > STARTUP_MAX_CHILDREN {
        return startup_closed_form(pool);
    }
    let Ok(load) = parse_load("t_s,concurrency,request_ms\n0,0,0\n") else {
        return StartupRun::default();
    };
    let limit = u64::from(pool.daemons_limit.max(pool.start_servers));
    // One kill per tick at most (event: every other tick), spawns double.
    let duration_s = (2 * limit + 30).min(4_000);
    run_startup(pool, &load, duration_s)
}

/// Pools with more children than this get the closed form of
/// reference/apache-mpm.md §11 instead of a simulation.
pub const STARTUP_MAX_CHILDREN: u32 = 2_000;

/// The no-load start in closed form (one bucket): from above, one kill per
/// tick (event: every other tick when its guard applies) down to
/// MaxSpare ÷ ThreadsPerChild children; from below, spawns of 1, 2, 4, …
/// (at most 32) per tick until MinSpare idle threads exist.
fn startup_closed_form(pool: &PoolConfig) -> StartupRun {
    let tpc = pool.threads_per_child.max(1);
    let start = pool.children_to_start();
    let mut run = StartupRun {
        children_at_start: start,
        settled_children: start,
        ..StartupRun::default()
    };
    if start.saturating_mul(tpc) > pool.max_spare {
        let settled = (pool.max_spare / tpc).max(1);
        let kills = u64::from(start.saturating_sub(settled));
        let every_other = event_kills_every_other_tick(pool);
        run.kills = (0..kills)
            .map(|i| if every_other { 1 + 2 * i } else { 1 + i })
            .collect();
        run.settled_children = settled;
        run.settled_at_s = run.kills.last().copied().unwrap_or(0);
    } else if start.saturating_mul(tpc) < pool.min_spare {
        let (mut live, mut rate, mut t) = (start, 1u32, 0u64);
        while live.saturating_mul(tpc) < pool.min_spare && live < pool.daemons_limit {
            t += 1;
            let n = rate.min(pool.daemons_limit - live);
            run.spawns.push((t, n));
            live += n;
            rate = (rate * 2).min(32);
        }
        run.settled_children = live;
        run.settled_at_s = t;
    }
    run
}

fn run_startup(pool: &PoolConfig, load: &Load, duration_s: u64) -> StartupRun {
    let config = sim_config(pool, 2, duration_s, SEED);
    let mut sink = StartupSink::default();
    if run(&config, load, &mut sink).is_err() {
        return StartupRun::default();
    }
    StartupRun {
        children_at_start: sink.initial,
        kills: sink.kills,
        spawns: sink.spawns,
        settled_children: u32::try_from(sink.live.max(0)).unwrap_or(0),
        settled_at_s: sink.last_change_s,
    }
}

/// Whether event's kill guard can halve the ramp-down (docs: §6.3).
pub fn event_kills_every_other_tick(pool: &PoolConfig) -> bool {
    pool.mpm == Mpm::Event
        && pool.server_limit.saturating_sub(pool.children_to_start()) <= pool.daemons_limit
}

#[cfg(test)]
mod tests {
    use quill_mpm::MpmDirectives;

    use super::*;

    fn pool(mpm: Mpm, d: MpmDirectives) -> PoolConfig {
        PoolConfig::from_directives(mpm, &d)
    }

    #[test]
    fn worked_example_a_kills_seven_children_one_per_second() {
        // reference/apache-mpm.md §11 (a): StartServers 10, Min 25, Max 75.
        let p = pool(
            Mpm::Worker,
            MpmDirectives {
                start_servers: Some(10),
                min_spare_threads: Some(25),
                max_spare_threads: Some(75),
                ..MpmDirectives::default()
            },
        );
        let run = startup(&p);
        assert_eq!(run.children_at_start, 10);
        assert_eq!(run.kills, vec![1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(run.settled_children, 3);
        assert!(run.spawns.is_empty());
    }

    #[test]
    fn event_kills_every_other_second_with_default_server_limit() {
        let p = pool(
            Mpm::Event,
            MpmDirectives {
                start_servers: Some(10),
                min_spare_threads: Some(25),
                max_spare_threads: Some(75),
                ..MpmDirectives::default()
            },
        );
        assert!(event_kills_every_other_tick(&p));
        let run = startup(&p);
        assert_eq!(run.kills, vec![1, 3, 5, 7, 9, 11, 13]);
        assert_eq!(run.settled_children, 3);
    }

    #[test]
    fn too_few_children_at_start_spawn_one_then_two() {
        let p = pool(
            Mpm::Worker,
            MpmDirectives {
                start_servers: Some(1),
                min_spare_threads: Some(75),
                max_spare_threads: Some(250),
                ..MpmDirectives::default()
            },
        );
        let run = startup(&p);
        assert_eq!(run.children_at_start, 1);
        assert_eq!(run.spawns, vec![(1, 1), (2, 2)]);
        assert_eq!(run.settled_children, 4);
    }

    #[test]
    fn a_spawn_and_a_kill_within_a_minute_undo_each_other() {
        // Kill at 100 s: the spawns at 40 s (60 s before) and 150 s undo
        // it; the spawn at 30 s and the kill at 400 s stand alone.
        let spawns = [30, 40, 150];
        let kills = [100, 400];
        assert_eq!(undone_of(&spawns, &kills), 2);
        assert_eq!(undone_of(&kills, &spawns), 1);
        assert_eq!(undone_of(&[], &kills), 0);
    }

    #[test]
    fn standard_load_has_sixteen_levels_around_a_third_of_capacity() {
        let csv = standard_load_csv(150);
        let load = parse_load(&csv).expect("valid load");
        assert_eq!(load.end_us(), (WARMUP_S + MEASURE_S) * 1_000_000);
        assert_eq!(csv.lines().count(), 1 + 32 + 1);
        // 50 busy on average: 50 / 1.133 s ≈ 44.1 arrivals a second.
        assert!(
            csv.lines().nth(1).is_some_and(|l| l.starts_with("0,44.12")),
            "{csv}"
        );
    }

    #[test]
    fn a_narrow_prefork_band_churns_and_a_wide_one_does_not() {
        let narrow = pool(
            Mpm::Prefork,
            MpmDirectives {
                max_request_workers: Some(60),
                min_spare_servers: Some(2),
                max_spare_servers: Some(4),
                ..MpmDirectives::default()
            },
        );
        let wide = pool(
            Mpm::Prefork,
            MpmDirectives {
                max_request_workers: Some(60),
                min_spare_servers: Some(2),
                max_spare_servers: Some(50),
                ..MpmDirectives::default()
            },
        );
        let n = churn_of(&narrow, 2).expect("runs");
        let w = churn_of(&wide, 2).expect("runs");
        assert!(n.undone_per_hour >= CHURN_LIMIT_PER_HOUR, "{n:?}");
        assert!(w.undone_per_hour < CHURN_TARGET_PER_HOUR, "{w:?}");
        assert!(w.per_hour < CHURN_TARGET_PER_HOUR, "{w:?}");
        // The wide band pays in children kept.
        assert!(w.mean_children > n.mean_children, "{n:?} {w:?}");
        // Deterministic: the same pool gives the same numbers.
        assert_eq!(churn_of(&narrow, 2), Some(n));
    }
}
