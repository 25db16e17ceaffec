//! One row per simulated second: the simulator's main output
//! (`timeline.csv`, the charts and the report are made from it).
//! Every column is documented in docs/simulate.md.

use serde::Serialize;

/// What happened during second `t_s` (from `t_s` to `t_s + 1`; `t_s = 0`
/// is the moment the server starts). Gauges are sampled at the end of the
/// second; counters cover the whole second.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SecondRow {
    pub t_s: u64,
    /// Front-end children alive at the end of the second, gracefully
    /// stopping ones included (not yet reaped zombies excluded).
    pub processes: u32,
    /// Of those, children stopping gracefully.
    pub stopping: u32,
    /// Worker slots holding a connection (reading, handling, writing,
    /// keep-alive wait on prefork/worker, lingering close) at the end.
    pub busy: u32,
    /// Idle worker slots of running (not stopping) children at the end.
    pub idle: u32,
    /// Connections waiting in the accept queue (ListenBacklog) at the end.
    pub queued: u32,
    /// Longest accept queue seen during the second.
    pub max_queued: u32,
    /// Children forked during the second.
    pub spawned: u32,
    /// Children told to stop by maintenance during the second.
    pub killed: u32,
    /// Children that exited (any reason) during the second.
    pub exited: u32,
    /// Requests that arrived.
    pub arrivals: u64,
    /// Requests completed.
    pub completed: u64,
    /// Requests in the system at the end: queued, being served, or waiting
    /// for a daemon thread.
    pub in_flight: u32,
    /// Client connections idle in keep-alive at the end.
    pub keepalive: u32,
    /// Longest time a request that started service this second had waited
    /// for a worker, in milliseconds.
    pub max_wait_ms: u64,
    /// SYNs dropped because the accept queue was full (Linux drops them;
    /// the client retransmits after 1, 2, 4 … s, and each retransmission
    /// dropped counts again).
    pub refused: u64,
    /// Connections whose client gave up: every SYN dropped, ~127 s after the first.
    pub connect_timeouts: u64,
    /// Daemon tier (mod_wsgi groups): busy daemon threads at the end.
    pub daemon_busy: u32,
    /// Requests waiting for a daemon thread (in the group's listen backlog) at the end.
    pub daemon_queued: u32,
    /// Responses 503 (daemon backlog full past connect-timeout) this second.
    pub status_503: u64,
    /// Responses 504 (queue-timeout or socket-timeout) this second.
    pub status_504: u64,
}

/// The `timeline.csv` header, in column order.
pub const CSV_HEADER: &[&str] = &[
    "t_s",
    "processes",
    "stopping",
    "busy",
    "idle",
    "queued",
    "max_queued",
    "spawned",
    "killed",
    "exited",
    "arrivals",
    "completed",
    "in_flight",
    "keepalive",
    "max_wait_ms",
    "refused",
    "connect_timeouts",
    "daemon_busy",
    "daemon_queued",
    "status_503",
    "status_504",
];

impl SecondRow {
    /// The row as CSV fields, in [`CSV_HEADER`] order.
    pub fn csv_fields(&self) -> [String; 21] {
        [
            self.t_s.to_string(),
            self.processes.to_string(),
            self.stopping.to_string(),
            self.busy.to_string(),
            self.idle.to_string(),
            self.queued.to_string(),
            self.max_queued.to_string(),
            self.spawned.to_string(),
            self.killed.to_string(),
            self.exited.to_string(),
            self.arrivals.to_string(),
            self.completed.to_string(),
            self.in_flight.to_string(),
            self.keepalive.to_string(),
            self.max_wait_ms.to_string(),
            self.refused.to_string(),
            self.connect_timeouts.to_string(),
            self.daemon_busy.to_string(),
            self.daemon_queued.to_string(),
            self.status_503.to_string(),
            self.status_504.to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_fields() {
        assert_eq!(CSV_HEADER.len(), SecondRow::default().csv_fields().len());
    }
}
