//! The engine's timed events, as 16-byte keys in a total order, so that
//! events due at the same microsecond come out in an order defined by the
//! events themselves, whatever structure holds them.
//!
//! ```text
//!   key = at (u64 µs) │ event packed in a u64: kind (4 bits) │ a (28) │ b (32)
//!         compared as one u128: by time, then kind (Ev's order), then the
//!         connection, child, client or step index, then the epoch
//!
//!   push ─▶ due within 2 s, slot not full? ─yes─▶ calendar (calendar.rs)
//!                                          └─no──▶ 4-ary heap (heap.rs)
//!   pop  ◀─ the lesser of the two least keys
//! ```
//!
//! Why a total order: with time alone, which of two events at the same
//! microsecond comes first depends on the sequence of heap operations (it
//! decides, for example, which child's thread frees first), so the results
//! were tied to one heap algorithm. Keys never compare equal unless the
//! events are identical, so any correct priority queue pops this order,
//! and so does the pair of them.

use super::{ChildIdx, ConnId};

mod calendar;
mod heap;

use calendar::Calendar;
use heap::Heap;

/// Something that happens at a given microsecond. Among events due at
/// the same microsecond, the kinds come in the order declared here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ev {
    /// Closed loop: the schedule changes to step `n`.
    Step(u32),
    /// Closed loop: client `n` opens a connection.
    ClientSend(u32),
    /// A request's service is over.
    RequestDone(ConnId),
    /// A kept-alive connection sends its next request.
    NextRequest(ConnId, u32),
    /// Keep-alive timeout of a connection (valid if its epoch matches).
    KeepAliveTimeout(ConnId, u32),
    /// A client whose SYN was dropped retransmits it, or a client whose
    /// connection was closed with requests left reconnects.
    Reconnect(ConnId),
    /// A client whose every SYN was dropped gives up.
    ConnectTimeout(ConnId),
    ChildReady(ChildIdx),
    ChildExit(ChildIdx),
    /// Daemon: a connect retry for a request waiting on a full backlog.
    DaemonRetry(ConnId),
}

/// Largest index an event can carry (28 bits). Connection, child, client
/// and schedule-step indices stay far below it: they are bounded by what
/// is alive at once (a connection record alone is ~100 bytes: 2^28 of them
/// would be 27 GB) or by the load file's row limit (10 million).
const INDEX_MAX: u32 = (1 << 28) - 1;

impl Ev {
    #[inline]
    fn pack(self) -> u64 {
        let (kind, a, b) = match self {
            Ev::Step(n) => (0, n, 0),
            Ev::ClientSend(n) => (1, n, 0),
            Ev::RequestDone(id) => (2, id, 0),
            Ev::NextRequest(id, epoch) => (3, id, epoch),
            Ev::KeepAliveTimeout(id, epoch) => (4, id, epoch),
            Ev::Reconnect(id) => (5, id, 0),
            Ev::ConnectTimeout(id) => (6, id, 0),
            Ev::ChildReady(idx) => (7, idx, 0),
            Ev::ChildExit(idx) => (8, idx, 0),
            Ev::DaemonRetry(id) => (9, id, 0),
        };
        debug_assert!(a <= INDEX_MAX, "event index {a} does not fit in 28 bits");
        (kind << 60) | (u64::from(a & INDEX_MAX) << 32) | u64::from(b)
    }

    #[inline]
    fn unpack(bits: u64) -> Ev {
        let a = ((bits >> 32) as u32) & INDEX_MAX;
        let b = bits as u32;
        match bits >> 60 {
            0 => Ev::Step(a),
            1 => Ev::ClientSend(a),
            2 => Ev::RequestDone(a),
            3 => Ev::NextRequest(a, b),
            4 => Ev::KeepAliveTimeout(a, b),
            5 => Ev::Reconnect(a),
            6 => Ev::ConnectTimeout(a),
            7 => Ev::ChildReady(a),
            8 => Ev::ChildExit(a),
            _ => Ev::DaemonRetry(a),
        }
    }
}

/// An unused slot: above every key, even one due at `u64::MAX` µs (no
/// event packs to all ones: kinds stop at 9).
const VACANT: u128 = u128::MAX;

#[inline(always)]
fn key(at: u64, ev: Ev) -> u128 {
    (u128::from(at) << 64) | u128::from(ev.pack())
}

/// The timed events, in the order of their keys: those of the next two
/// seconds in a calendar, the rest (and a crowded slot's extra) in a heap;
/// a pop takes the lesser of the two least keys.
#[derive(Debug, Default)]
pub(super) struct EventQueue {
    calendar: Calendar,
    heap: Heap,
}

impl EventQueue {
    /// When the next event is due.
    #[inline(always)]
    pub(super) fn next_at(&self) -> Option<u64> {
        let least = self.calendar.least().min(self.heap.least());
        (least != VACANT).then_some((least >> 64) as u64)
    }

    /// Queue `ev` at `at`; `now`: no event is pushed due before it, now
    /// or later.
    #[inline(always)]
    pub(super) fn push(&mut self, now: u64, at: u64, ev: Ev) {
        let key = key(at, ev);
        if !self.calendar.push(now, key) {
            self.heap.push(key);
        }
    }

    /// The next event: the earliest, and among those due at the same
    /// microsecond the least key.
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Option<(u64, Ev)> {
        let (c, h) = (self.calendar.least(), self.heap.least());
        let least = c.min(h);
        if least == VACANT {
            return None;
        }
        if c < h {
            self.calendar.pop();
        } else {
            self.heap.pop();
        }
        Some(((least >> 64) as u64, Ev::unpack(least as u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[test]
    fn events_round_trip_through_packing() {
        let evs = [
            Ev::Step(0),
            Ev::ClientSend(INDEX_MAX),
            Ev::RequestDone(17),
            Ev::NextRequest(3, u32::MAX),
            Ev::KeepAliveTimeout(INDEX_MAX, 0),
            Ev::Reconnect(5),
            Ev::ConnectTimeout(6),
            Ev::ChildReady(7),
            Ev::ChildExit(8),
            Ev::DaemonRetry(9),
        ];
        for ev in evs {
            assert_eq!(Ev::unpack(ev.pack()), ev);
        }
    }

    /// Pops come out in the order of (time, packed event), checked
    /// against std's heap on that pair: on runs full of ties (and of
    /// identical events), so that slots overflow into the heap; with
    /// events beyond the calendar's two seconds; with both at once; and
    /// over many turns of the calendar.
    #[test]
    fn pops_in_time_then_event_order() {
        // (µs ahead of now that pushes spread over, steps)
        let cases: [(&[u64], u32); 9] = [
            (&[1], 5_000),
            (&[3], 5_000),
            (&[20], 5_000),
            (&[1_000], 5_000),
            (&[5_000], 5_000),
            (&[300_000], 20_000),
            (&[4_000_000], 5_000),
            (&[1, 2_000, 150_000, 2_100_000, 60_000_000], 50_000),
            (&[1_024, 2_048 * 1_024, 2_049 * 1_024], 20_000),
        ];
        for seed in 0..40u64 {
            let (spreads, steps) = cases[seed as usize % cases.len()];
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
            let mut ours = EventQueue::default();
            let mut reference = BinaryHeap::new();
            let push_odds = [3, 4][seed as usize % 2];
            let mut now = 0;
            for step in 0..steps {
                if rng.random_range(0..6) < push_odds {
                    let spread = spreads[rng.random_range(0..spreads.len())];
                    let at = now + rng.random_range(0..spread);
                    let id = rng.random_range(0..50);
                    let ev = match step % 4 {
                        0 => Ev::RequestDone(id),
                        1 => Ev::NextRequest(id, step),
                        2 => Ev::KeepAliveTimeout(id, step / 2),
                        _ => Ev::ChildReady(id),
                    };
                    ours.push(now, at, ev);
                    reference.push(Reverse((at, ev.pack())));
                } else {
                    let theirs = reference.pop().map(|Reverse(t)| t);
                    let got = ours.pop().map(|(at, ev)| (at, ev.pack()));
                    assert_eq!(got, theirs, "seed {seed}, step {step}");
                    if let Some((at, _)) = theirs {
                        now = at;
                    }
                }
                assert_eq!(
                    ours.next_at(),
                    reference.peek().map(|Reverse((at, _))| *at),
                    "seed {seed}, step {step}"
                );
            }
            while let Some(Reverse(t)) = reference.pop() {
                assert_eq!(ours.pop().map(|(at, ev)| (at, ev.pack())), Some(t));
            }
            assert_eq!(ours.pop(), None);
            assert!(ours.calendar.is_clear(), "seed {seed}");
            assert_eq!(ours.heap.least(), VACANT);
        }
    }

    /// Events of the next two seconds go to the calendar, two per slot at
    /// most; the rest to the heap.
    #[test]
    fn the_calendar_takes_the_near_future() {
        let mut q = EventQueue::default();
        let now = 10_000_000;
        for i in 0..100 {
            q.push(now, now + i * 5_000, Ev::RequestDone(i as u32));
        }
        assert_eq!((q.calendar.len(), q.heap.len()), (100, 0));
        // A slot of 1,024 µs holds two.
        for i in 0..3 {
            q.push(now, now + 600_000, Ev::RequestDone(200 + i));
        }
        assert_eq!((q.calendar.len(), q.heap.len()), (102, 1));
        // 2,048 slots ahead of the last bucket taken is too far.
        q.push(now, now + 2_048 * 1_024, Ev::RequestDone(300));
        q.push(now, now + 60_000_000, Ev::RequestDone(301));
        assert_eq!((q.calendar.len(), q.heap.len()), (102, 3));
        let mut last = 0;
        let mut popped = 0;
        while let Some((at, _)) = q.pop() {
            assert!(at >= last);
            last = at;
            popped += 1;
        }
        assert_eq!(popped, 105);
    }

    /// At the same microsecond: the enum's order of kinds, then the index,
    /// then the epoch, whatever the order of the pushes.
    #[test]
    fn ties_follow_the_kind_then_the_index() {
        let mut q = EventQueue::default();
        let evs = [
            Ev::ChildExit(0),
            Ev::KeepAliveTimeout(1, 9),
            Ev::RequestDone(7),
            Ev::NextRequest(2, 1),
            Ev::RequestDone(3),
            Ev::NextRequest(2, 0),
            Ev::Step(4),
        ];
        for ev in evs {
            q.push(0, 10, ev);
        }
        q.push(0, 9, Ev::DaemonRetry(1));
        let order: Vec<Ev> = std::iter::from_fn(|| q.pop().map(|(_, ev)| ev)).collect();
        assert_eq!(
            order,
            [
                Ev::DaemonRetry(1),
                Ev::Step(4),
                Ev::RequestDone(3),
                Ev::RequestDone(7),
                Ev::NextRequest(2, 0),
                Ev::NextRequest(2, 1),
                Ev::KeepAliveTimeout(1, 9),
                Ev::ChildExit(0),
            ]
        );
    }
}
