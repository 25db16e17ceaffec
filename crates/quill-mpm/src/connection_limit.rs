//! MaxConnectionsPerChild, as each MPM's *child* enforces it (§7.3).
//!
//! The parent plays no part: a child counts its connections and stops by
//! itself, and the parent only notices a free slot later. Both drivers (the
//! simulated children and the real front-end children) use this one
//! implementation so they stop after exactly the same connection.

use serde::Serialize;

use crate::config::Mpm;

/// What a child does at the point where it would accept a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AcceptCheck {
    /// Go on accepting.
    Accept,
    /// prefork: the limit is reached; exit now (the child is between
    /// connections) instead of accepting. Exit code 0.
    ExitNow,
    /// worker/event: the limit is reached; stop gracefully (announce
    /// quiescing, stop accepting, finish open connections, exit 0).
    /// Sticky: every later check returns it again.
    StopGracefully,
}

/// A child's MaxConnectionsPerChild counter.
///
/// Call [`check_before_accept`](Self::check_before_accept) where httpd checks:
/// prefork — at the top of the accept loop; worker — in the listener loop
/// before waiting for an idle worker and accepting; event — at the top of
/// every listener loop iteration. Then report accepted and finished
/// connections. The per-MPM differences:
///
/// * prefork counts **before** each accept and exits once it has served
///   exactly N connections; a negative value means unlimited.
/// * worker decrements when a connection **finishes**, so accepted but
///   unfinished connections are not counted yet and a child can accept more
///   than N; a negative value stops the child right after it starts.
/// * event decrements at each **accept**; a negative value stops the child
///   right after it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionCounter {
    mpm: Mpm,
    limit: i32,
    /// prefork: connections counted so far; worker/event: connections left.
    counter: i64,
    /// worker/event: the graceful stop has been requested.
    stopping: bool,
}

impl ConnectionCounter {
    /// A fresh counter for a child that just started.
    pub fn new(mpm: Mpm, max_connections_per_child: i32) -> Self {
        let counter = match mpm {
            Mpm::Prefork => 0,
            // 0 codes infinity: httpd starts the counter at INT_MAX.
            Mpm::Worker | Mpm::Event if max_connections_per_child == 0 => i64::from(i32::MAX),
            Mpm::Worker | Mpm::Event => i64::from(max_connections_per_child),
        };
        ConnectionCounter {
            mpm,
            limit: max_connections_per_child,
            counter,
            stopping: false,
        }
    }

    /// The check httpd makes before accepting.
    #[inline]
    pub fn check_before_accept(&mut self) -> AcceptCheck {
        match self.mpm {
            Mpm::Prefork => {
                // `ap_max_requests_per_child > 0 && requests_this_child++ >= max`
                if self.limit > 0 {
                    let served = self.counter;
                    self.counter += 1;
                    if served >= i64::from(self.limit) {
                        return AcceptCheck::ExitNow;
                    }
                }
                AcceptCheck::Accept
            }
            Mpm::Worker | Mpm::Event => {
                if self.stopping {
                    return AcceptCheck::StopGracefully;
                }
                if self.counter > 0 {
                    return AcceptCheck::Accept;
                }
                // check_infinite_requests(): a limit of 0 just rearms the
                // counter (0 codes infinity); otherwise the child stops
                // gracefully and its listener never accepts again.
                if self.limit != 0 {
                    self.stopping = true;
                    AcceptCheck::StopGracefully
                } else {
                    self.counter = i64::from(i32::MAX);
                    AcceptCheck::Accept
                }
            }
        }
    }

    /// A connection was accepted (event counts here).
    #[inline]
    pub fn on_accepted(&mut self) {
        if self.mpm == Mpm::Event {
            self.counter -= 1;
        }
    }

    /// A connection finished (worker counts here).
    #[inline]
    pub fn on_connection_finished(&mut self) {
        if self.mpm == Mpm::Worker {
            self.counter -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts connections one at a time, finishing each before the next,
    /// until the counter says stop; returns how many were accepted.
    fn sequential_accepts(mpm: Mpm, limit: i32) -> (u32, AcceptCheck) {
        let mut counter = ConnectionCounter::new(mpm, limit);
        for accepted in 0..1000 {
            match counter.check_before_accept() {
                AcceptCheck::Accept => {
                    counter.on_accepted();
                    counter.on_connection_finished();
                }
                stop => return (accepted, stop),
            }
        }
        (1000, AcceptCheck::Accept)
    }

    #[test]
    fn sequential_connections_stop_after_exactly_n() {
        assert_eq!(
            sequential_accepts(Mpm::Prefork, 10),
            (10, AcceptCheck::ExitNow)
        );
        assert_eq!(
            sequential_accepts(Mpm::Worker, 10),
            (10, AcceptCheck::StopGracefully)
        );
        assert_eq!(
            sequential_accepts(Mpm::Event, 10),
            (10, AcceptCheck::StopGracefully)
        );
    }

    #[test]
    fn zero_is_unlimited_for_every_mpm() {
        for mpm in [Mpm::Prefork, Mpm::Worker, Mpm::Event] {
            assert_eq!(sequential_accepts(mpm, 0), (1000, AcceptCheck::Accept));
        }
    }

    #[test]
    fn negative_is_unlimited_for_prefork_but_stops_threaded_children_at_once() {
        assert_eq!(
            sequential_accepts(Mpm::Prefork, -1),
            (1000, AcceptCheck::Accept)
        );
        assert_eq!(
            sequential_accepts(Mpm::Worker, -1),
            (0, AcceptCheck::StopGracefully)
        );
        assert_eq!(
            sequential_accepts(Mpm::Event, -1),
            (0, AcceptCheck::StopGracefully)
        );
    }

    #[test]
    fn worker_does_not_count_unfinished_connections_but_event_does() {
        // Three connections accepted back to back, none finished yet.
        let mut worker = ConnectionCounter::new(Mpm::Worker, 2);
        let mut event = ConnectionCounter::new(Mpm::Event, 2);
        let mut worker_accepted = 0;
        let mut event_accepted = 0;
        for _ in 0..3 {
            if worker.check_before_accept() == AcceptCheck::Accept {
                worker.on_accepted();
                worker_accepted += 1;
            }
            if event.check_before_accept() == AcceptCheck::Accept {
                event.on_accepted();
                event_accepted += 1;
            }
        }
        assert_eq!(worker_accepted, 3, "worker over-accepts (§7.3)");
        assert_eq!(event_accepted, 2);
    }

    #[test]
    fn stop_request_is_sticky() {
        let mut counter = ConnectionCounter::new(Mpm::Event, 1);
        assert_eq!(counter.check_before_accept(), AcceptCheck::Accept);
        counter.on_accepted();
        assert_eq!(counter.check_before_accept(), AcceptCheck::StopGracefully);
        assert_eq!(counter.check_before_accept(), AcceptCheck::StopGracefully);
    }
}
