//! Children: acceptors, thread states in the scoreboard, event's accept
//! throttling, graceful stop, exit and readiness.

use super::*;

impl Engine<'_> {
    #[inline(always)]
    pub(super) fn child(&self, idx: ChildIdx) -> Option<&SimChild> {
        self.children.get(idx as usize).and_then(Option::as_ref)
    }

    #[inline(always)]
    pub(super) fn child_mut(&mut self, idx: ChildIdx) -> Option<&mut SimChild> {
        self.children.get_mut(idx as usize).and_then(Option::as_mut)
    }

    pub(super) fn find_child(&self, id: ChildId) -> Option<ChildIdx> {
        self.children
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.id == id))
            .map(|i| i as u32)
    }

    // ---- acceptor bookkeeping ------------------------------------------

    #[inline(always)]
    pub(super) fn can_accept(c: &SimChild) -> bool {
        c.ready && !c.stopping && !c.exiting && !c.not_accepting && !c.idle.is_empty()
    }

    /// Add a child to the acceptors, or remove it, when it can now (not)
    /// take a connection; nothing to do in the common case, inlined.
    #[inline(always)]
    pub(super) fn refresh_acceptor(&mut self, idx: ChildIdx) {
        let Some(c) = self.children.get(idx as usize).and_then(Option::as_ref) else {
            return;
        };
        if Self::can_accept(c) != c.acceptor_pos.is_some() {
            self.change_acceptor(idx);
        }
    }

    #[inline(never)]
    fn change_acceptor(&mut self, idx: ChildIdx) {
        let Some(c) = self.children.get(idx as usize).and_then(Option::as_ref) else {
            return;
        };
        let want = Self::can_accept(c);
        let pos = c.acceptor_pos;
        match (want, pos) {
            (true, None) => {
                self.acceptors.push(idx);
                let p = self.acceptors.len() - 1;
                if let Some(c) = self.child_mut(idx) {
                    c.acceptor_pos = Some(p);
                }
            }
            (false, Some(p)) => {
                self.acceptors.swap_remove(p);
                if let Some(&moved) = self.acceptors.get(p) {
                    if let Some(m) = self.child_mut(moved) {
                        m.acceptor_pos = Some(p);
                    }
                }
                if let Some(c) = self.child_mut(idx) {
                    c.acceptor_pos = None;
                }
            }
            _ => {}
        }
    }

    #[inline(always)]
    pub(super) fn set_status(&mut self, idx: ChildIdx, thread: u32, status: ThreadStatus) {
        if let Some(slot) = self.child(idx).map(|c| c.slot) {
            let _ = self
                .ctl
                .scoreboard_mut()
                .set_thread_status(slot, thread, status);
        }
    }

    /// event (§6.5): a child stops accepting when no worker is idle or its
    /// connections reach ThreadsPerChild + factor × idle workers.
    #[inline(always)]
    pub(super) fn update_event_throttle(&mut self, idx: ChildIdx) {
        if self.mpm == Mpm::Event {
            self.update_event_throttle_now(idx);
        }
    }

    #[inline(never)]
    fn update_event_throttle_now(&mut self, idx: ChildIdx) {
        let Some(c) = self.child(idx) else { return };
        if !c.ready || c.stopping {
            return;
        }
        let i = c.idle.len() as u32;
        let conns = c.busy + c.parked;
        let above = i == 0 || conns >= self.tpc + i * self.cfg.async_factor;
        if above != c.not_accepting {
            let slot = c.slot;
            if let Some(c) = self.child_mut(idx) {
                c.not_accepting = above;
            }
            let _ = self.ctl.scoreboard_mut().set_not_accepting(slot, above);
            if above && i == 0 {
                self.close_parked(idx);
            }
        }
        self.refresh_acceptor(idx);
    }

    // ---- children ---------------------------------------------------------

    pub(super) fn begin_stop(&mut self, idx: ChildIdx, reason: ExitReason) {
        let Some(c) = self.child_mut(idx) else { return };
        if c.stopping {
            return;
        }
        c.stopping = true;
        c.reason = reason;
        let slot = c.slot;
        let idle: Vec<u32> = std::mem::take(&mut c.idle);
        for &t in &idle {
            c.threads[t as usize] = ThreadState::Dead;
        }
        self.stopping_children += 1;
        self.refresh_acceptor(idx);
        let _ = self
            .ctl
            .scoreboard_mut()
            .begin_graceful_stop(self.mpm, slot, self.tpc);
        if self.mpm == Mpm::Worker {
            for &t in &idle {
                self.set_status(idx, t, ThreadStatus::Dead);
            }
        }
        // Kept-alive connections are not served again by a stopping child.
        let held: Vec<(ConnId, u32)> = self
            .child(idx)
            .map(|c| {
                c.threads
                    .iter()
                    .enumerate()
                    .filter_map(|(t, s)| match s {
                        ThreadState::Busy(id) => Some((*id, t as u32)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (id, t) in held {
            if let ConnState::KeepAliveHeld { .. } = self.conns[id as usize].state {
                self.keepalive -= 1;
                self.conns[id as usize].epoch = self.conns[id as usize].epoch.wrapping_add(1);
                self.set_conn_state(
                    id,
                    ConnState::Serving {
                        child: idx,
                        thread: t,
                    },
                );
                let more = self.conns[id as usize].request
                    < self.conns[id as usize].arrival.requests_per_conn;
                self.close_conn_on_thread(id, idx, t, more);
            }
        }
        self.close_parked(idx);
        self.maybe_exit(idx);
    }

    pub(super) fn maybe_exit(&mut self, idx: ChildIdx) {
        let Some(c) = self.child(idx) else { return };
        if c.stopping && !c.exiting && c.busy == 0 && c.parked == 0 {
            self.schedule_exit(idx, self.cfg.timing.exit_us);
        }
    }

    pub(super) fn schedule_exit(&mut self, idx: ChildIdx, after: u64) {
        if let Some(c) = self.child_mut(idx) {
            if c.exiting {
                return;
            }
            c.exiting = true;
        }
        self.refresh_acceptor(idx);
        let at = self.now + after;
        self.push(at, Ev::ChildExit(idx));
    }

    pub(super) fn child_exit(&mut self, idx: ChildIdx, sink: &mut dyn Sink) {
        if self.mpm == Mpm::Prefork {
            // A prefork child that exits keeps its last status (the dummy
            // connection's `C`) until the parent reaps it: neither idle nor free.
            self.set_status(idx, 0, ThreadStatus::Closing);
        }
        // An exiting child is no acceptor (refresh removes it if it still is).
        if let Some(c) = self.child_mut(idx) {
            c.exiting = true;
        }
        self.refresh_acceptor(idx);
        let Some(c) = self.children.get_mut(idx as usize).and_then(Option::take) else {
            return;
        };
        // A child killed outright drops whatever it held.
        for s in &c.threads {
            if let ThreadState::Busy(id) = *s {
                self.busy_threads -= 1;
                if let ConnState::KeepAliveHeld { .. } = self.conns[id as usize].state {
                    self.keepalive -= 1;
                }
                self.conns[id as usize].epoch = self.conns[id as usize].epoch.wrapping_add(1);
                let more = self.conns[id as usize].request
                    < self.conns[id as usize].arrival.requests_per_conn;
                self.conn_closed(id, more);
            }
        }
        if c.stopping {
            self.stopping_children -= 1;
        }
        self.live_children -= 1;
        self.free_children.push(idx);
        self.acc.exited += 1;
        self.totals.exited += 1;
        sink.event(&SimEvent::Exited {
            at_us: self.now,
            child: child_num(c.id),
            slot: c.slot,
            reason: c.reason,
        });
        let _ = self
            .ctl
            .handle_child_exit(ts(self.now), c.id, ExitStatus::SUCCESS);
        self.ctl_touched = true;
        self.unreaped.push((c.id, c.slot));
    }

    pub(super) fn child_ready(&mut self, idx: ChildIdx) {
        let tpc = self.tpc;
        let Some(c) = self.child_mut(idx) else { return };
        if c.stopping || c.exiting {
            return;
        }
        c.ready = true;
        for t in (0..tpc).rev() {
            c.threads[t as usize] = ThreadState::Idle;
            c.idle.push(t);
        }
        let slot = c.slot;
        let _ = self
            .ctl
            .scoreboard_mut()
            .set_thread_statuses(slot, tpc, ThreadStatus::Ready);
        // prefork and worker may have reached MaxConnectionsPerChild 0 < …
        self.refresh_acceptor(idx);
        self.refill_from_queue();
        self.update_event_throttle(idx);
    }
}
