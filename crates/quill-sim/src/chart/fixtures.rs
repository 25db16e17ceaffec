//! Hand-made timelines telling the stories of reference/apache-mpm.md §11,
//! for the chart and report tests (independent of the engine).

use quill_config::model::{MpmKind, MpmSettings, MpmSource};

use crate::chart::{ChartInfo, Marker};
use crate::report::LogLine;
use crate::timeline::SecondRow;

pub(crate) fn worker_settings(
    start_servers: u32,
    max_request_workers: u32,
    min_spare: u32,
    max_spare: u32,
) -> MpmSettings {
    let tpc = 25;
    let max_children = (max_request_workers / tpc).min(16);
    MpmSettings {
        mpm: MpmKind::Worker,
        selected_by: MpmSource::LoadModule,
        start_servers,
        children_at_start: start_servers.min(max_children),
        min_spare,
        max_spare,
        spare_unit: "threads",
        threads_per_child: tpc,
        thread_limit: 64,
        server_limit: 16,
        max_request_workers,
        max_children,
        max_threads: max_children * tpc,
        max_connections_per_child: 0,
        listen_backlog: 511,
        listen_cores_buckets_ratio: 0,
        num_buckets: 1,
        async_request_worker_factor: None,
        graceful_shutdown_timeout: 0,
    }
}

fn idle_row(t_s: u64, processes: u32) -> SecondRow {
    SecondRow {
        t_s,
        processes,
        idle: processes * 25,
        ..SecondRow::default()
    }
}

/// §11 (a): worker, StartServers 10, MaxSpareThreads 75, no load: one kill
/// per second from 10 children down to 3, then stable (75 idle is not > 75).
pub(crate) fn decay() -> (Vec<SecondRow>, MpmSettings, ChartInfo) {
    let settings = worker_settings(10, 400, 25, 75);
    let rows = (0..20u64)
        .map(|t| {
            let processes = 10u32.saturating_sub(t as u32).max(3);
            let mut r = idle_row(t, processes);
            if t == 0 {
                r.spawned = 10;
            } else if t <= 7 {
                r.killed = 1;
                r.exited = 1;
            }
            r
        })
        .collect();
    let info = ChartInfo::new(&settings, "none (idle server)", None);
    (rows, settings, info)
}

pub(crate) const MRW_MESSAGE: &str = "AH00286: server reached MaxRequestWorkers setting, \
     consider raising the MaxRequestWorkers setting";
const CONFIGURED: &str = "AH00489: Apache/2.4.71 (Unix) configured -- resuming normal operations";

/// A step from 0 to 300 slow connections at 20 s, held until 50 s, on
/// worker StartServers 3, MaxRequestWorkers 250: spawns 1, 2, 4 (3 → 10
/// children), MaxRequestWorkers reached at 23 s with 50 connections
/// queued, then one kill per second back to 3 (each victim finishes its
/// last response first, so it is shown stopping for a second).
pub(crate) fn step() -> (Vec<SecondRow>, MpmSettings, ChartInfo, Vec<LogLine>) {
    let settings = worker_settings(3, 250, 25, 75);
    let mut rows = Vec::new();
    for t in 0..65u64 {
        let mut r = idle_row(t, 3);
        match t {
            0 => r.spawned = 3,
            20..=49 => {
                let (spawned, processes, max_queued) = match t {
                    20 => (1, 4, 225),
                    21 => (2, 6, 200),
                    22 => (4, 10, 150),
                    _ => (0, 10, 50),
                };
                r.spawned = spawned;
                r.processes = processes;
                r.busy = (processes * 25).min(300);
                r.idle = 0;
                r.in_flight = 300;
                r.queued = 300 - r.busy;
                r.max_queued = max_queued;
                r.arrivals = if t == 20 { 300 } else { 0 };
                r.max_wait_ms = match t {
                    21 => 1_000,
                    22 => 2_000,
                    _ => 0,
                };
            }
            50..=56 => {
                let running = 9 - (t - 50) as u32;
                r.processes = running + 1;
                r.stopping = 1;
                r.idle = running * 25;
                r.killed = 1;
                r.exited = u32::from(t > 50);
                if t == 50 {
                    r.completed = 300;
                    r.max_wait_ms = 27_000;
                }
            }
            57 => r.exited = 1,
            _ => {}
        }
        rows.push(r);
    }
    let log = vec![
        LogLine::new(0, "notice", CONFIGURED),
        LogLine::new(23_004, "error", MRW_MESSAGE),
    ];
    let mut info = ChartInfo::new(
        &settings,
        "300 slow connections from 20 s to 50 s",
        Some(42),
    );
    info.markers = vec![Marker::from_log(23_004, MRW_MESSAGE)];
    (rows, settings, info, log)
}

/// A day at 3 idle children with one busy second at 13:53:21.
pub(crate) const SPIKE_AT: u64 = 50_001;

pub(crate) fn day_with_spike() -> (Vec<SecondRow>, ChartInfo) {
    let settings = worker_settings(3, 400, 25, 75);
    let mut rows: Vec<_> = (0..86_400).map(|t| idle_row(t, 3)).collect();
    let r = &mut rows[SPIKE_AT as usize];
    r.arrivals = 500;
    r.in_flight = 500;
    r.busy = 75;
    r.idle = 0;
    r.queued = 425;
    r.max_queued = 425;
    r.spawned = 1;
    r.processes = 4;
    let info = ChartInfo::new(&settings, "idle, one burst of 500 requests", Some(7));
    (rows, info)
}

/// A day of a noisy daily cycle (50–300 concurrent requests) on worker
/// StartServers 3, MaxRequestWorkers 400, with a toy version of the
/// maintenance rule (§12) so that spawns and kills look plausible: the
/// noise makes idle threads cross the spare band all day long.
pub(crate) fn diurnal() -> (Vec<SecondRow>, ChartInfo) {
    let settings = worker_settings(3, 400, 25, 75);
    let (tpc, limit) = (25u32, 16u32);
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = move || {
        // xorshift64: deterministic, good enough for test data.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % 81) as i64 - 40
    };
    let (mut processes, mut stopping, mut rate) = (3u32, 0u32, 1u32);
    let mut rows = Vec::with_capacity(86_400);
    for t in 0..86_400u64 {
        let phase = t as f64 / 86_400.0 * std::f64::consts::TAU;
        let base = 175.0 - 125.0 * phase.cos();
        let burst = if (50_000..50_030).contains(&t) {
            300
        } else {
            0
        };
        let load = (base as i64 + noise() + burst).max(0) as u32;
        let exited = stopping;
        processes -= stopping;
        stopping = 0;
        let capacity = processes * tpc;
        let busy = load.min(capacity);
        let idle = capacity - busy;
        let (mut spawned, mut killed) = (0, 0);
        if idle < 25 && processes < limit {
            spawned = rate.min(limit - processes);
            processes += spawned;
            rate = (rate * 2).min(32);
        } else if idle > 75 {
            killed = 1;
            stopping = 1;
            rate = 1;
        } else {
            rate = 1;
        }
        let running = processes - stopping;
        let busy = load.min(running * tpc);
        rows.push(SecondRow {
            t_s: t,
            processes,
            stopping,
            busy,
            idle: running * tpc - busy,
            queued: load - busy,
            max_queued: load - busy,
            spawned,
            killed,
            exited,
            arrivals: u64::from(load / 2),
            completed: u64::from(load / 2),
            in_flight: load,
            max_wait_ms: if load > busy { 1_000 } else { 0 },
            ..SecondRow::default()
        });
    }
    let mut info = ChartInfo::new(&settings, "daily cycle 50–300 concurrent, noisy", Some(1));
    info.markers = vec![Marker::from_log(50_000_400, MRW_MESSAGE)];
    (rows, info)
}
