//! Closed-loop clients driven by a concurrency schedule.

use super::*;

impl Engine<'_> {
    // ---- load -----------------------------------------------------------

    pub(super) fn client_done(&mut self, client: u32) {
        let target = self.step_concurrency();
        let cl = &mut self.clients[client as usize];
        cl.conn = None;
        if !cl.active {
            // Stopped on a kept-alive connection that has now closed.
            return;
        }
        if self.active_clients > target {
            cl.active = false;
            self.active_clients -= 1;
            return;
        }
        let at = self.now + self.cfg.timing.turnaround_us;
        self.push(at, Ev::ClientSend(client));
    }

    pub(super) fn step_concurrency(&self) -> u32 {
        match (self.schedule, self.step) {
            (Some(s), Some(i)) => s.steps.get(i as usize).map_or(0, |st| st.concurrency),
            _ => 0,
        }
    }

    /// Closed loop: the client of connection `id` is about to send its next
    /// request. If the concurrency fell below the active clients it stops
    /// instead, and its connection will carry no more requests.
    pub(super) fn client_stops(&mut self, id: ConnId) -> bool {
        let Some(client) = self.conns[id as usize].client else {
            return false;
        };
        if self.clients[client as usize].active {
            if self.active_clients <= self.step_concurrency() {
                return false;
            }
            self.clients[client as usize].active = false;
            self.active_clients -= 1;
        }
        let c = &mut self.conns[id as usize];
        c.arrival.requests_per_conn = c.request;
        true
    }

    pub(super) fn change_step(&mut self, i: u32) {
        self.step = Some(i);
        let target = self.step_concurrency();
        // Start clients up to the target; surplus clients stop after their
        // current connection.
        while self.active_clients < target {
            let free = self
                .clients
                .iter()
                .position(|c| !c.active && c.conn.is_none());
            let id = match free {
                Some(f) => f as u32,
                None => {
                    self.clients.push(Client {
                        active: false,
                        conn: None,
                    });
                    (self.clients.len() - 1) as u32
                }
            };
            self.clients[id as usize].active = true;
            self.active_clients += 1;
            self.push(self.now, Ev::ClientSend(id));
        }
        // Surplus clients stop before their next request: what is in
        // flight, queued connections included, completes (as the bench
        // harness's clients do).
    }

    pub(super) fn client_send(&mut self, client: u32) {
        let Some(step) = self
            .schedule
            .zip(self.step)
            .and_then(|(s, i)| s.steps.get(i as usize))
            .copied()
        else {
            return;
        };
        if !self.clients[client as usize].active {
            return;
        }
        if self.active_clients > step.concurrency {
            self.clients[client as usize].active = false;
            self.active_clients -= 1;
            return;
        }
        let arrival = Arrival::new(self.now, step.request_us)
            .with_keep_alive(step.requests_per_conn, step.think_us);
        let id = self.new_conn(arrival, Some(client));
        self.conns[id as usize].close_on_stop = step.close_on_stop;
        self.clients[client as usize].conn = Some(id);
        self.acc.arrivals += 1;
        self.totals.arrivals += 1;
        self.connect(id);
    }
}
