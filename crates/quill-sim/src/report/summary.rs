//! The run in a dozen numbers: shared by `report.html`, the chart's
//! headings and `quill simulate`'s terminal and JSON output.

use std::fmt;

use serde::Serialize;

use crate::chart::text::{clock_s, decimal1, duration_s, thousands};
use crate::timeline::SecondRow;

/// Totals and peaks of a timeline. Times (`*_at_s`) are the first second
/// at which the peak was reached; every field is 0 for an empty timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Seconds covered (first row to the end of the last).
    pub seconds: u64,
    pub peak_processes: u32,
    pub peak_processes_at_s: u64,
    /// Children alive at the end of the last second.
    pub final_processes: u32,
    /// Children forked.
    pub spawned: u64,
    /// Children told to stop by maintenance.
    pub killed: u64,
    /// Children that exited, for any reason.
    pub exited: u64,
    /// spawned + killed: how hard the pool was pumped.
    pub churn: u64,
    /// Churn per hour (one decimal), for runs of an hour or more.
    pub churn_per_hour: Option<f64>,
    /// Most worker slots holding a connection at once (threads, or
    /// processes for prefork).
    pub peak_busy: u32,
    pub peak_busy_at_s: u64,
    /// Most requests in the system at once.
    pub peak_in_flight: u32,
    pub peak_in_flight_at_s: u64,
    /// Most arrivals in one second.
    pub peak_arrivals: u64,
    pub arrivals: u64,
    pub completed: u64,
    /// Longest accept queue (max of `max_queued`).
    pub longest_queue: u32,
    pub longest_queue_at_s: u64,
    /// Longest wait for a worker, in milliseconds (max of `max_wait_ms`).
    pub longest_wait_ms: u64,
    pub longest_wait_at_s: u64,
    /// SYNs dropped because the accept queue was full (retransmissions count).
    pub refused: u64,
    /// Connections given up by their client after the last SYN retransmission.
    pub connect_timeouts: u64,
    pub status_503: u64,
    pub status_504: u64,
}

/// Track the first time a maximum is reached.
fn peak<T: Copy + PartialOrd>(best: &mut (T, u64), v: T, t: u64) {
    if v > best.0 {
        *best = (v, t);
    }
}

/// Summarise `rows` (in time order; the last row gives the final count).
pub fn summary(rows: &[SecondRow]) -> Summary {
    let seconds = match (
        rows.iter().map(|r| r.t_s).min(),
        rows.iter().map(|r| r.t_s).max(),
    ) {
        (Some(a), Some(b)) => b - a + 1,
        _ => 0,
    };
    let t0 = rows.first().map_or(0, |r| r.t_s);
    let (mut processes, mut busy, mut in_flight) = ((0u32, t0), (0u32, t0), (0u32, t0));
    let (mut queue, mut wait, mut arrivals_peak) = ((0u32, t0), (0u64, t0), (0u64, t0));
    let (mut spawned, mut killed, mut exited) = (0u64, 0u64, 0u64);
    let (mut arrivals, mut completed) = (0u64, 0u64);
    let (mut refused, mut status_503, mut status_504) = (0u64, 0u64, 0u64);
    let mut connect_timeouts = 0u64;
    for r in rows {
        peak(&mut processes, r.processes, r.t_s);
        peak(&mut busy, r.busy, r.t_s);
        peak(&mut in_flight, r.in_flight, r.t_s);
        peak(&mut queue, r.max_queued.max(r.queued), r.t_s);
        peak(&mut wait, r.max_wait_ms, r.t_s);
        peak(&mut arrivals_peak, r.arrivals, r.t_s);
        spawned += u64::from(r.spawned);
        killed += u64::from(r.killed);
        exited += u64::from(r.exited);
        arrivals += r.arrivals;
        completed += r.completed;
        refused += r.refused;
        connect_timeouts += r.connect_timeouts;
        status_503 += r.status_503;
        status_504 += r.status_504;
    }
    let churn = spawned + killed;
    let churn_per_hour =
        (seconds >= 3600).then(|| (churn as f64 * 3600.0 / seconds as f64 * 10.0).round() / 10.0);
    Summary {
        seconds,
        peak_processes: processes.0,
        peak_processes_at_s: processes.1,
        final_processes: rows.last().map_or(0, |r| r.processes),
        spawned,
        killed,
        exited,
        churn,
        churn_per_hour,
        peak_busy: busy.0,
        peak_busy_at_s: busy.1,
        peak_in_flight: in_flight.0,
        peak_in_flight_at_s: in_flight.1,
        peak_arrivals: arrivals_peak.0,
        arrivals,
        completed,
        longest_queue: queue.0,
        longest_queue_at_s: queue.1,
        longest_wait_ms: wait.0,
        longest_wait_at_s: wait.1,
        refused,
        connect_timeouts,
        status_503,
        status_504,
    }
}

impl Summary {
    /// `1,234 (3,456.7 per hour)` or just `1,234`.
    pub(crate) fn churn_text(&self) -> String {
        match self.churn_per_hour {
            Some(h) => format!("{} ({} per hour)", thousands(self.churn), decimal1(h)),
            None => thousands(self.churn),
        }
    }
}

/// A compact block for terminals (the §11-style step load of the tests):
///
/// ```text
/// simulated  1 min 5 s
/// processes  peak 10 at 22 s, final 3
/// churn      17 (10 spawned + 7 killed), 7 exited
/// busy       peak 250 at 22 s; 300 in flight at 20 s
/// queue      longest 225 at 20 s; longest wait 27,000 ms
/// errors     0 refused · 0 connect timeouts · 0 × 503 · 0 × 504
/// ```
///
/// Runs of an hour or more add the churn per hour: `churn      21,420
/// (3,060.0 per hour) (…)`.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "simulated  {}", duration_s(self.seconds))?;
        writeln!(
            f,
            "processes  peak {} at {}, final {}",
            self.peak_processes,
            clock_s(self.peak_processes_at_s),
            self.final_processes
        )?;
        writeln!(
            f,
            "churn      {} ({} spawned + {} killed), {} exited",
            self.churn_text(),
            thousands(self.spawned),
            thousands(self.killed),
            thousands(self.exited)
        )?;
        writeln!(
            f,
            "busy       peak {} at {}; {} in flight at {}",
            thousands(u64::from(self.peak_busy)),
            clock_s(self.peak_busy_at_s),
            thousands(u64::from(self.peak_in_flight)),
            clock_s(self.peak_in_flight_at_s)
        )?;
        if self.longest_queue == 0 && self.longest_wait_ms == 0 {
            writeln!(f, "queue      never used")?;
        } else {
            writeln!(
                f,
                "queue      longest {} at {}; longest wait {} ms",
                thousands(u64::from(self.longest_queue)),
                clock_s(self.longest_queue_at_s),
                thousands(self.longest_wait_ms)
            )?;
        }
        write!(
            f,
            "errors     {} refused · {} connect timeouts · {} × 503 · {} × 504",
            thousands(self.refused),
            thousands(self.connect_timeouts),
            thousands(self.status_503),
            thousands(self.status_504)
        )
    }
}
