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
            let socket_timeout = d.model.socket_timeout_us;
            let dur = self.request_duration(id);
            let timer = socket_timeout > 0 && dur >= socket_timeout;
            let c = &mut self.conns[id as usize];
            c.daemon = DaemonPhase::Running;
            if !timer {
                // The response comes before socket-timeout: no timer (the
                // common case, and most of the daemon tier's cost when
                // every request armed one). A new epoch all the same, so
                // that no earlier request's timer can fire on this one.
                c.epoch = c.epoch.wrapping_add(1);
            }
            self.push(self.now + dur, Ev::RequestDone(id));
            if timer {
                self.arm_socket_timeout(id);
            }
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
            // A new epoch: a timer armed for an earlier request of this
            // connection (one that ended in a 503 or a queue-timeout 504
            // without bumping it) must not fire on this one.
            let c = &mut self.conns[id as usize];
            c.epoch = c.epoch.wrapping_add(1);
            let at = self.now + d.model.socket_timeout_us;
            self.socket_timeouts.push_back((at, id, c.epoch));
        }
    }

    /// When the next live socket-timeout is due; cancelled ones at the
    /// front are dropped on the way.
    pub(super) fn next_socket_timeout(&mut self) -> Option<u64> {
        while let Some(&(at, id, epoch)) = self.socket_timeouts.front() {
            if self.conns[id as usize].epoch == epoch {
                return Some(at);
            }
            self.socket_timeouts.pop_front();
        }
        None
    }

    /// socket-timeout fires while the front end waits for the daemon: 504.
    pub(super) fn socket_timeout(&mut self, id: ConnId, epoch: u32) {
        if self.conns[id as usize].epoch != epoch {
            return;
        }
        match self.conns[id as usize].daemon {
            // Never picked up (the daemon will still accept it later and
            // run it), or running: the front end answers 504 either way.
            DaemonPhase::Backlog | DaemonPhase::Running => {
                self.conns[id as usize].daemon = DaemonPhase::Abandoned;
                self.acc.s504 += 1;
                self.totals.status_504 += 1;
                self.detach_front(id);
            }
            _ => {}
        }
    }

    /// A daemon thread became free: it accepts the oldest backlog entry.
    #[inline(always)]
    pub(super) fn daemon_thread_free(&mut self) {
        match self.daemon.as_mut() {
            // The common case: nobody waits in the backlog.
            Some(d) if d.backlog.is_empty() => d.busy -= 1,
            Some(_) => self.daemon_thread_takes_backlog(),
            None => {}
        }
    }

    #[inline(never)]
    fn daemon_thread_takes_backlog(&mut self) {
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
