//! Downsampling: many seconds → at most one column per pixel.
//!
//! A column covers `bucket_s` whole seconds. Within it, gauges keep their
//! highest and lowest second (so a one-second spike or dip survives any
//! zoom level), rates keep their highest second (units stay "per second"),
//! and event counters (spawns, kills, exits, errors) are summed, so the
//! bars still add up to the run's totals.

use crate::timeline::SecondRow;

/// Column widths, in seconds, that read well on a time axis.
const NICE_BUCKETS: &[u64] = &[
    1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10_800,
    21_600, 43_200, 86_400,
];

/// Lowest and highest value of a gauge within a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub min: u64,
    pub max: u64,
}

impl Range {
    const EMPTY: Range = Range {
        min: u64::MAX,
        max: 0,
    };

    fn add(&mut self, v: u64) {
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    fn finish(&mut self) {
        if self.min == u64::MAX {
            self.min = 0;
        }
    }
}

/// One drawn column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub in_flight: Range,
    /// Highest number of worker slots holding a connection (keep-alive
    /// waits included on prefork and worker).
    pub busy: u64,
    /// Highest arrivals in one second.
    pub arrivals: u64,
    pub spawned: u64,
    pub killed: u64,
    pub exited: u64,
    pub processes: Range,
    /// Highest number of children not stopping.
    pub running: u64,
    pub idle: Range,
    pub queued: u64,
    pub max_queued: u64,
    pub daemon_queued: u64,
    pub max_wait_ms: u64,
    pub refused: u64,
    pub connect_timeouts: u64,
    pub status_503: u64,
    pub status_504: u64,
}

impl Column {
    fn empty() -> Self {
        Column {
            in_flight: Range::EMPTY,
            busy: 0,
            arrivals: 0,
            spawned: 0,
            killed: 0,
            exited: 0,
            processes: Range::EMPTY,
            running: 0,
            idle: Range::EMPTY,
            queued: 0,
            max_queued: 0,
            daemon_queued: 0,
            max_wait_ms: 0,
            refused: 0,
            connect_timeouts: 0,
            status_503: 0,
            status_504: 0,
        }
    }

    fn add(&mut self, r: &SecondRow) {
        self.in_flight.add(u64::from(r.in_flight));
        self.busy = self.busy.max(u64::from(r.busy));
        self.arrivals = self.arrivals.max(r.arrivals);
        self.spawned += u64::from(r.spawned);
        self.killed += u64::from(r.killed);
        self.exited += u64::from(r.exited);
        self.processes.add(u64::from(r.processes));
        self.running = self
            .running
            .max(u64::from(r.processes.saturating_sub(r.stopping)));
        self.idle.add(u64::from(r.idle));
        self.queued = self.queued.max(u64::from(r.queued));
        // A row's peak can never be below its end-of-second value.
        self.max_queued = self.max_queued.max(u64::from(r.max_queued.max(r.queued)));
        self.daemon_queued = self.daemon_queued.max(u64::from(r.daemon_queued));
        self.max_wait_ms = self.max_wait_ms.max(r.max_wait_ms);
        self.refused += r.refused;
        self.connect_timeouts += r.connect_timeouts;
        self.status_503 += r.status_503;
        self.status_504 += r.status_504;
    }

    fn finish(&mut self) {
        self.in_flight.finish();
        self.processes.finish();
        self.idle.finish();
    }
}

/// The timeline cut into columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Columns {
    /// Time of the left edge of the first column.
    pub t0: u64,
    /// Seconds per column.
    pub bucket_s: u64,
    /// Seconds the rows cover (first row to the end of the last).
    pub span_s: u64,
    pub cols: Vec<Column>,
}

impl Columns {
    /// Cut `rows` into at most `max_cols` columns (`rows` must be non-empty
    /// for the result to have any column). Rows may come in any order; a
    /// second with no row counts as all zeros.
    pub(crate) fn new(rows: &[SecondRow], max_cols: usize) -> Columns {
        let max_cols = max_cols.max(1) as u64;
        let (Some(t0), Some(t_last)) = (
            rows.iter().map(|r| r.t_s).min(),
            rows.iter().map(|r| r.t_s).max(),
        ) else {
            return Columns {
                t0: 0,
                bucket_s: 1,
                span_s: 0,
                cols: Vec::new(),
            };
        };
        let span_s = t_last - t0 + 1;
        let needed = span_s.div_ceil(max_cols);
        let bucket_s = NICE_BUCKETS
            .iter()
            .copied()
            .find(|&b| b >= needed)
            .unwrap_or(needed);
        let n = span_s.div_ceil(bucket_s) as usize;
        let mut cols = vec![Column::empty(); n];
        for r in rows {
            let i = ((r.t_s - t0) / bucket_s) as usize;
            cols[i].add(r);
        }
        for c in &mut cols {
            c.finish();
        }
        Columns {
            t0,
            bucket_s,
            span_s,
            cols,
        }
    }

    pub(crate) fn is_downsampled(&self) -> bool {
        self.bucket_s > 1
    }

    /// Time at the right edge of the last column.
    pub(crate) fn t_end(&self) -> u64 {
        self.t0 + self.cols.len() as u64 * self.bucket_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t_s: u64) -> SecondRow {
        SecondRow {
            t_s,
            ..SecondRow::default()
        }
    }

    #[test]
    fn short_runs_are_not_downsampled() {
        let rows: Vec<_> = (0..60).map(row).collect();
        let c = Columns::new(&rows, 1100);
        assert_eq!((c.bucket_s, c.cols.len(), c.span_s), (1, 60, 60));
        assert!(!c.is_downsampled());
    }

    #[test]
    fn a_day_becomes_two_minute_columns_and_keeps_a_spike() {
        let mut rows: Vec<_> = (0..86_400).map(row).collect();
        rows[50_001].in_flight = 500;
        rows[50_001].spawned = 3;
        rows[50_002].spawned = 4;
        rows[50_003].idle = 9;
        let c = Columns::new(&rows, 1100);
        assert_eq!((c.bucket_s, c.cols.len()), (120, 720));
        let col = &c.cols[50_001 / 120];
        assert_eq!(col.in_flight, Range { min: 0, max: 500 });
        assert_eq!(col.spawned, 7);
        assert_eq!(col.idle, Range { min: 0, max: 9 });
        assert_eq!(c.t_end(), 86_400);
    }

    #[test]
    fn gaps_and_offsets() {
        let rows = vec![row(10), row(14)];
        let c = Columns::new(&rows, 1100);
        assert_eq!((c.t0, c.span_s, c.cols.len()), (10, 5, 5));
        assert_eq!(c.cols[2].processes, Range { min: 0, max: 0 });
    }
}
