//! The mod_wsgi daemon tier: a group's threads, its backlog, connect
//! retries (503), queue-timeout (504 at pick-up), socket-timeout (504).

use super::*;

impl Engine<'_> {
    // ---- daemon tier ------------------------------------------------------

    pub(super) fn daemon_connect(&mut self, id: ConnId) {
        let Some(d) = self.daemon.as_mut() else {
            return;
        };
        if d.busy < d.model.processes * d.model.threads && d.backlog.is_empty() {
            d.busy += 1;
            self.conns[id as usize].daemon = DaemonPhase::Running;
            let dur = self.request_duration(id);
            self.push(self.now + dur, Ev::RequestDone(id));
            self.arm_socket_timeout(id);
            return;
        }
        if d.backlog.len() < d.model.listen_backlog as usize + 1 {
            d.backlog.push_back(id);
            self.conns[id as usize].daemon = DaemonPhase::Backlog;
            self.arm_socket_timeout(id);
            return;
        }
        let since = match self.conns[id as usize].daemon {
            DaemonPhase::Retrying { since } => since,
            _ => self.now,
        };
        let elapsed = self.now - since;
        let timeout = d.model.connect_timeout_us;
        if elapsed >= timeout {
            self.conns[id as usize].daemon = DaemonPhase::None;
            self.acc.s503 += 1;
            self.totals.status_503 += 1;
            self.finish_request(id, false);
            return;
        }
        // mod_wsgi sleeps 0.125 s between retries for the first 2 s, then 1 s.
        let step = if elapsed < 2_000_000 {
            125_000
        } else {
            1_000_000
        };
        self.conns[id as usize].daemon = DaemonPhase::Retrying { since };
        let at = self.now + step.min(timeout - elapsed).max(1);
        self.push(at, Ev::DaemonRetry(id));
    }

    pub(super) fn arm_socket_timeout(&mut self, id: ConnId) {
        let Some(d) = self.daemon.as_ref() else {
            return;
        };
        if d.model.socket_timeout_us > 0 {
            let epoch = self.conns[id as usize].epoch;
            let at = self.now + d.model.socket_timeout_us;
            self.push(at, Ev::SocketTimeout(id, epoch));
        }
    }

    /// A daemon thread became free: it accepts the oldest backlog entry.
    pub(super) fn daemon_thread_free(&mut self) {
        loop {
            let Some(d) = self.daemon.as_mut() else {
                return;
            };
            d.busy -= 1;
            let Some(next) = d.backlog.pop_front() else {
                return;
            };
            d.busy += 1;
            let queue_timeout = d.model.queue_timeout_us;
            let phase = self.conns[next as usize].daemon;
            let waited = self.now - self.conns[next as usize].since_us;
            if phase == DaemonPhase::Abandoned {
                // The front end already answered 504; the daemon still runs it.
                let dur = self.request_duration(next);
                self.push(self.now + dur, Ev::RequestDone(next));
                return;
            }
            if queue_timeout > 0 && waited > queue_timeout {
                // 504 without running the application; the thread is free again.
                self.conns[next as usize].daemon = DaemonPhase::None;
                self.acc.s504 += 1;
                self.totals.status_504 += 1;
                self.finish_request(next, false);
                continue;
            }
            self.conns[next as usize].daemon = DaemonPhase::Running;
            let dur = self.request_duration(next);
            self.push(self.now + dur, Ev::RequestDone(next));
            return;
        }
    }
}
