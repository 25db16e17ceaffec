//! Connections: the accept queue, handing a connection to an idle thread,
//! requests, keep-alive, closing.

use super::*;

impl Engine<'_> {
    // ---- connections ----------------------------------------------------

    #[inline]
    pub(super) fn new_conn(&mut self, arrival: Arrival, client: Option<u32>) -> ConnId {
        let mut conn = Conn {
            arrival,
            request: 0,
            on_this_connection: 0,
            since_us: self.now,
            state: ConnState::Away,
            client,
            epoch: 0,
            daemon: DaemonPhase::None,
            syn_retries: 0,
            close_on_stop: false,
        };
        self.live_conns += 1;
        self.away += 1;
        match self.free_conns.pop() {
            Some(id) => {
                // A reused id keeps counting epochs: timers armed for the
                // connection that had it before (a socket-timeout 60 s
                // out, a keep-alive timeout) must stay stale.
                conn.epoch = self.conns[id as usize].epoch;
                self.conns[id as usize] = conn;
                id
            }
            None => {
                self.conns.push(conn);
                (self.conns.len() - 1) as ConnId
            }
        }
    }

    #[inline(always)]
    pub(super) fn free_conn(&mut self, id: ConnId) {
        if self.conns[id as usize].state == ConnState::Away {
            self.away -= 1;
        }
        self.conns[id as usize].epoch = self.conns[id as usize].epoch.wrapping_add(1);
        self.live_conns -= 1;
        self.free_conns.push(id);
    }

    #[inline(always)]
    pub(super) fn set_conn_state(&mut self, id: ConnId, state: ConnState) {
        let old = self.conns[id as usize].state;
        if old == ConnState::Away {
            self.away -= 1;
        }
        if state == ConnState::Away {
            self.away += 1;
        }
        self.conns[id as usize].state = state;
    }

    /// A connection reaches the server (new TCP connection).
    pub(super) fn connect(&mut self, id: ConnId) {
        let c = &mut self.conns[id as usize];
        c.since_us = self.now;
        c.on_this_connection = 0;
        if self.queue.is_empty() && self.dispatch_to_acceptor(id) {
            self.conns[id as usize].syn_retries = 0;
            return;
        }
        if self.queue.len() >= self.queue_cap {
            // Linux drops the SYN; the client retransmits with exponential
            // backoff and gives up after its last retransmission's timeout.
            self.acc.refused += 1;
            self.totals.refused += 1;
            self.set_conn_state(id, ConnState::Away);
            let timing = &self.cfg.timing;
            let tries = self.conns[id as usize].syn_retries;
            let wait = timing.syn_rto_us.saturating_mul(1u64 << tries.min(20));
            let at = self.now.saturating_add(wait);
            if tries < timing.syn_retries {
                self.conns[id as usize].syn_retries = tries + 1;
                self.push(at, Ev::Reconnect(id));
            } else {
                self.push(at, Ev::ConnectTimeout(id));
            }
            return;
        }
        self.conns[id as usize].syn_retries = 0;
        self.set_conn_state(id, ConnState::Queued);
        self.queue.push_back(id);
        self.acc.max_queued = self.acc.max_queued.max(self.queue.len() as u32);
    }

    /// Hand a connection to a random child with an idle thread.
    pub(super) fn dispatch_to_acceptor(&mut self, id: ConnId) -> bool {
        while !self.acceptors.is_empty() {
            let pick = pick_index(&mut self.rng, self.acceptors.len());
            let idx = self.acceptors[pick];
            if self.accept_into(idx, id) {
                return true;
            }
        }
        false
    }

    /// The child `idx` accepts connection `id` into its most recently idle
    /// thread, unless MaxConnectionsPerChild stops it first.
    pub(super) fn accept_into(&mut self, idx: ChildIdx, id: ConnId) -> bool {
        let Some(c) = self.child_mut(idx) else {
            return false;
        };
        match c.counter.check_before_accept() {
            AcceptCheck::Accept => {}
            AcceptCheck::ExitNow | AcceptCheck::StopGracefully => {
                self.begin_stop(idx, ExitReason::MaxConnections);
                return false;
            }
        }
        let Some(thread) = c.idle.pop() else {
            self.refresh_acceptor(idx);
            return false;
        };
        c.counter.on_accepted();
        c.threads[thread as usize] = ThreadState::Busy(id);
        c.busy += 1;
        let slot = c.slot;
        self.busy_threads += 1;
        let _ = self
            .ctl
            .scoreboard_mut()
            .set_thread_status(slot, thread, ThreadStatus::BusyWrite);
        let wait = self.now - self.conns[id as usize].since_us;
        self.acc.max_wait_us = self.acc.max_wait_us.max(wait);
        self.set_conn_state(id, ConnState::Serving { child: idx, thread });
        self.start_request(id);
        self.update_event_throttle(idx);
        self.refresh_acceptor(idx);
        // event: after MaxConnectionsPerChild accepts the limit may be hit
        // now; the child notices at its next listener loop.
        if self.mpm == Mpm::Event {
            if let Some(c) = self.child_mut(idx) {
                if c.counter.check_before_accept() == AcceptCheck::StopGracefully {
                    self.begin_stop(idx, ExitReason::MaxConnections);
                }
            }
        }
        true
    }

    #[inline(always)]
    pub(super) fn request_duration(&self, id: ConnId) -> u64 {
        let c = &self.conns[id as usize];
        if c.request == 0 {
            // The first request (most connections have no other): its
            // duration is the arrival's, whatever requests_per_conn says.
            return c.arrival.duration_us.max(1);
        }
        later_request_duration(&c.arrival, c.request)
    }

    /// The worker starts handling the connection's current request.
    #[inline(always)]
    pub(super) fn start_request(&mut self, id: ConnId) {
        self.conns[id as usize].since_us = self.now;
        if self.daemon.is_some() {
            self.daemon_connect(id);
        } else {
            let dur = self.request_duration(id);
            self.push(self.now + dur, Ev::RequestDone(id));
        }
    }

    /// The response of the current request is complete (or an error was
    /// answered): keep-alive or close.
    pub(super) fn finish_request(&mut self, id: ConnId, counted: bool) {
        if counted {
            self.acc.completed += 1;
            self.totals.completed += 1;
        }
        let (child, thread) = match self.conns[id as usize].state {
            ConnState::Serving { child, thread } => (child, thread),
            _ => return,
        };
        let stopping = self.child(child).is_none_or(|ch| ch.stopping);
        let c = &mut self.conns[id as usize];
        c.request += 1;
        c.on_this_connection += 1;
        let more = c.request < c.arrival.requests_per_conn;
        let ka = &self.cfg.keep_alive;
        let under_limit = ka.max_requests == 0 || c.on_this_connection <= ka.max_requests;
        if more && ka.enabled && ka.timeout_us > 0 && under_limit && !stopping {
            let think = c.arrival.think_us;
            c.epoch = c.epoch.wrapping_add(1);
            let epoch = c.epoch;
            self.keepalive += 1;
            if think < ka.timeout_us {
                let at = self.now + think;
                self.push(at, Ev::NextRequest(id, epoch));
            } else {
                let at = self.now + ka.timeout_us;
                self.push(at, Ev::KeepAliveTimeout(id, epoch));
            }
            if self.mpm == Mpm::Event {
                self.set_conn_state(id, ConnState::KeepAliveParked { child });
                if let Some(ch) = self.child_mut(child) {
                    ch.parked += 1;
                }
                self.release_thread(child, thread);
            } else {
                self.set_conn_state(id, ConnState::KeepAliveHeld { child, thread });
                self.set_status(child, thread, ThreadStatus::BusyKeepalive);
            }
            return;
        }
        // Close this TCP connection.
        self.close_conn_on_thread(id, child, thread, more);
    }

    /// The server closes a connection held by a thread; the client comes
    /// back on a new connection if it has requests left.
    #[inline(always)]
    pub(super) fn close_conn_on_thread(
        &mut self,
        id: ConnId,
        child: ChildIdx,
        thread: u32,
        more: bool,
    ) {
        if let Some(ch) = self.child_mut(child) {
            ch.counter.on_connection_finished();
        }
        self.release_thread(child, thread);
        self.conn_closed(id, more);
    }

    #[inline(always)]
    pub(super) fn conn_closed(&mut self, id: ConnId, more: bool) {
        if more {
            // The client sends the rest on a new connection after thinking.
            self.set_conn_state(id, ConnState::Away);
            let at = self.now + self.conns[id as usize].arrival.think_us;
            self.push(at, Ev::Reconnect(id));
            return;
        }
        let client = self.conns[id as usize].client;
        self.free_conn(id);
        if let Some(cl) = client {
            self.client_done(cl);
        }
    }

    pub(super) fn release_thread(&mut self, idx: ChildIdx, thread: u32) {
        let mpm = self.mpm;
        let Some(c) = self.child_mut(idx) else { return };
        if !matches!(c.threads[thread as usize], ThreadState::Busy(_)) {
            return;
        }
        c.busy -= 1;
        let slot = c.slot;
        if c.stopping {
            c.threads[thread as usize] = ThreadState::Dead;
            self.busy_threads -= 1;
            let status = if mpm == Mpm::Event {
                ThreadStatus::Graceful
            } else {
                ThreadStatus::Dead
            };
            let _ = self
                .ctl
                .scoreboard_mut()
                .set_thread_status(slot, thread, status);
            self.maybe_exit(idx);
            return;
        }
        c.threads[thread as usize] = ThreadState::Idle;
        c.idle.push(thread);
        self.busy_threads -= 1;
        if self.queue.is_empty() {
            // The common case: nothing waits for the thread.
            let _ = self
                .ctl
                .scoreboard_mut()
                .set_thread_status(slot, thread, ThreadStatus::Ready);
            self.update_event_throttle(idx);
            self.refresh_acceptor(idx);
            return;
        }
        // The freed thread takes the next queued connection at once.
        if let Some(next) = self.queue.pop_front() {
            if self.accept_into(idx, next) {
                return;
            }
            self.queue.push_front(next);
            self.refill_from_queue();
        }
        if self
            .child(idx)
            .is_some_and(|c| c.threads[thread as usize] == ThreadState::Idle)
        {
            self.set_status(idx, thread, ThreadStatus::Ready);
        }
        self.update_event_throttle(idx);
        self.refresh_acceptor(idx);
    }

    /// Give queued connections to whatever child can take them.
    pub(super) fn refill_from_queue(&mut self) {
        while !self.queue.is_empty() && !self.acceptors.is_empty() {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            if !self.dispatch_to_acceptor(id) {
                self.queue.push_front(id);
                break;
            }
        }
    }

    /// event: close every parked keep-alive connection of a child.
    pub(super) fn close_parked(&mut self, idx: ChildIdx) {
        if self.child(idx).is_none_or(|c| c.parked == 0) {
            return;
        }
        let parked: Vec<ConnId> = (0..self.conns.len() as ConnId)
            .filter(|&id| {
                self.conns[id as usize].state == ConnState::KeepAliveParked { child: idx }
            })
            .collect();
        for id in parked {
            self.unpark(id, idx);
            if let Some(ch) = self.child_mut(idx) {
                ch.counter.on_connection_finished();
            }
            let more =
                self.conns[id as usize].request < self.conns[id as usize].arrival.requests_per_conn;
            self.conn_closed(id, more);
        }
    }

    pub(super) fn unpark(&mut self, id: ConnId, idx: ChildIdx) {
        self.keepalive -= 1;
        self.conns[id as usize].epoch = self.conns[id as usize].epoch.wrapping_add(1);
        if let Some(ch) = self.child_mut(idx) {
            ch.parked -= 1;
        }
    }

    /// The front end answers (504) while the daemon keeps the request: free
    /// the front-end thread and close the client's connection; the
    /// connection record stays until the daemon finishes with it.
    pub(super) fn detach_front(&mut self, id: ConnId) {
        if let ConnState::Serving { child, thread } = self.conns[id as usize].state {
            if let Some(ch) = self.child_mut(child) {
                ch.counter.on_connection_finished();
            }
            self.set_conn_state(id, ConnState::Away);
            self.release_thread(child, thread);
        }
    }

    /// The server closes a connection idle in keep-alive (KeepAliveTimeout,
    /// or its client closed it).
    pub(super) fn close_kept_alive(&mut self, id: ConnId) {
        let more =
            self.conns[id as usize].request < self.conns[id as usize].arrival.requests_per_conn;
        match self.conns[id as usize].state {
            ConnState::KeepAliveHeld { child, thread } => {
                self.keepalive -= 1;
                self.set_conn_state(id, ConnState::Serving { child, thread });
                self.close_conn_on_thread(id, child, thread, more);
            }
            ConnState::KeepAliveParked { child } => {
                self.unpark(id, child);
                if let Some(ch) = self.child_mut(child) {
                    ch.counter.on_connection_finished();
                }
                self.conn_closed(id, more);
                self.update_event_throttle(child);
                self.maybe_exit(child);
            }
            _ => {}
        }
    }

    /// A stopped client sends nothing more on its kept-alive connection:
    /// it closes it at once, or leaves it open and the server closes it
    /// KeepAliveTimeout after the last response (`think_us` ago: the client
    /// stops when its next request is due).
    pub(super) fn stop_sending(&mut self, id: ConnId, epoch: u32) {
        if self.conns[id as usize].close_on_stop {
            self.close_kept_alive(id);
            return;
        }
        let last_response = self
            .now
            .saturating_sub(self.conns[id as usize].arrival.think_us);
        let at = (last_response + self.cfg.keep_alive.timeout_us).max(self.now);
        self.push(at, Ev::KeepAliveTimeout(id, epoch));
    }

    pub(super) fn next_request(&mut self, id: ConnId) {
        self.conns[id as usize].since_us = self.now;
        match self.conns[id as usize].state {
            ConnState::KeepAliveHeld { child, thread } => {
                self.keepalive -= 1;
                self.conns[id as usize].epoch = self.conns[id as usize].epoch.wrapping_add(1);
                self.set_conn_state(id, ConnState::Serving { child, thread });
                self.set_status(child, thread, ThreadStatus::BusyWrite);
                self.start_request(id);
            }
            ConnState::KeepAliveParked { child } => {
                self.unpark(id, child);
                // The listener needs an idle worker of this child right now.
                let thread = self.child_mut(child).and_then(|c| c.idle.pop());
                match thread {
                    Some(t) => {
                        if let Some(c) = self.child_mut(child) {
                            c.threads[t as usize] = ThreadState::Busy(id);
                            c.busy += 1;
                        }
                        self.busy_threads += 1;
                        self.set_status(child, t, ThreadStatus::BusyWrite);
                        self.set_conn_state(id, ConnState::Serving { child, thread: t });
                        self.start_request(id);
                        self.update_event_throttle(child);
                        self.refresh_acceptor(child);
                    }
                    None => {
                        // No worker: the connection is closed; the client
                        // reconnects and sends the request again.
                        if let Some(ch) = self.child_mut(child) {
                            ch.counter.on_connection_finished();
                        }
                        self.set_conn_state(id, ConnState::Away);
                        self.connect(id);
                        self.maybe_exit(child);
                    }
                }
            }
            _ => {}
        }
    }
}

/// `rng.random_range(0..n)`: the same draws and the same result as rand
/// 0.10's (Canon's method on 32 bits for `n` below 2^32), written out so
/// that it inlines into the accept path, once per connection.
#[inline]
pub(super) fn pick_index(rng: &mut Pcg64Mcg, n: usize) -> usize {
    let Ok(range) = u32::try_from(n) else {
        return rng.random_range(0..n);
    };
    let widen = |x: u32| {
        let wide = u64::from(x) * u64::from(range);
        ((wide >> 32) as u32, wide as u32)
    };
    let (hi, lo) = widen(rng.next_u32());
    if lo > range.wrapping_neg() {
        // The low word could carry into the result: one more draw decides.
        let (next_hi, _) = widen(rng.next_u32());
        return (hi + u32::from(lo.checked_add(next_hi).is_none())) as usize;
    }
    hi as usize
}

#[inline(never)]
fn later_request_duration(arrival: &Arrival, request: u32) -> u64 {
    arrival
        .request_duration_us(request)
        .unwrap_or(arrival.duration_us)
        .max(1)
}
