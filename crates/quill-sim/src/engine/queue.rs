//! The engine's timed events: a 4-ary min-heap of 16-byte keys, in a
//! total order, so that events due at the same microsecond come out in an
//! order defined by the events themselves, whatever the heap's shape.
//!
//! ```text
//!   key = at (u64 µs) │ event packed in a u64: kind (4 bits) │ a (28) │ b (32)
//!         compared as one u128: by time, then kind (Ev's order), then the
//!         connection, child, client or step index, then the epoch
//!   push: append, sift up            pop: the root's hole sinks to a leaf
//!                                    along the least child, the last key
//!                                    fills it and rises (Floyd's order)
//! ```
//!
//! Why 4-ary: a pop, one per request, walks from the root to a leaf, and
//! each level is a load that depends on the comparison before it; with
//! four children per node the ~60-event heap of a busy day is 3 levels
//! deep instead of 6.
//! Why a total order: with time alone, which of two events at the same
//! microsecond comes first depends on the sequence of heap operations (it
//! decides, for example, which child's thread frees first), so the results
//! were tied to one heap algorithm. Keys never compare equal unless the
//! events are identical, so any correct priority queue pops this order.

use super::{ChildIdx, ConnId};

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

/// Children per node.
const ARITY: usize = 4;

/// An unused slot: above every key, even one due at `u64::MAX` µs (no
/// event packs to all ones: kinds stop at 9).
const VACANT: u128 = u128::MAX;

#[inline(always)]
fn key(at: u64, ev: Ev) -> u128 {
    (u128::from(at) << 64) | u128::from(ev.pack())
}

/// A 4-ary min-heap of events in the order of their keys.
///
/// The keys live in the first `len` of `slots`; every slot from `len` on
/// holds [`VACANT`], and there are always at least `ARITY` of them, so a
/// node's four children can be compared without looking at `len`. The
/// length of `slots` is a power of two and every index is masked with
/// `slots.len() − 1`, which changes none (they all stay below the length)
/// but lets the compiler drop the bounds checks without `unsafe`.
#[derive(Debug)]
pub(super) struct EventQueue {
    slots: Vec<u128>,
    len: usize,
}

impl Default for EventQueue {
    fn default() -> Self {
        EventQueue {
            slots: vec![VACANT; 64],
            len: 0,
        }
    }
}

impl EventQueue {
    /// When the next event is due.
    #[inline]
    pub(super) fn next_at(&self) -> Option<u64> {
        (self.len > 0).then(|| (self.slots[0] >> 64) as u64)
    }

    #[inline(always)]
    pub(super) fn push(&mut self, at: u64, ev: Ev) {
        if self.len + ARITY >= self.slots.len() {
            self.grow();
        }
        let pos = self.len;
        self.len += 1;
        self.sift_up(pos, key(at, ev));
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        self.slots.resize(2 * self.slots.len(), VACANT);
    }

    /// The next event: the earliest, and among those due at the same
    /// microsecond the least key.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<(u64, Ev)> {
        if self.len == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let top = self.slots[0];
        self.len -= 1;
        let last = std::mem::replace(&mut self.slots[self.len & mask], VACANT);
        if self.len > 0 {
            self.sift_down_to_bottom(last);
        }
        Some(((top >> 64) as u64, Ev::unpack(top as u64)))
    }

    /// Place `moving` at the hole `pos` or above it.
    #[inline(always)]
    fn sift_up(&mut self, mut pos: usize, moving: u128) {
        let slots = &mut self.slots[..];
        let mask = slots.len() - 1;
        while pos > 0 {
            let parent = (pos - 1) / ARITY;
            let p = slots[parent & mask];
            if moving >= p {
                break;
            }
            slots[pos & mask] = p;
            pos = parent;
        }
        slots[pos & mask] = moving;
    }

    /// With the root a hole: move it down to a leaf, each time taking the
    /// least of the four children (vacant slots lose every comparison),
    /// then place `moving` there or above.
    #[inline(always)]
    fn sift_down_to_bottom(&mut self, moving: u128) {
        let end = self.len;
        let slots = &mut self.slots[..];
        let mask = slots.len() - 1;
        let mut pos = 0;
        let mut first = 1;
        while first < end {
            // A small tournament, without branches: the two pairs, then
            // their winners.
            let (a, b) = (slots[first & mask], slots[(first + 1) & mask]);
            let (c, d) = (slots[(first + 2) & mask], slots[(first + 3) & mask]);
            let (i_ab, ab) = if b < a { (first + 1, b) } else { (first, a) };
            let (i_cd, cd) = if d < c {
                (first + 3, d)
            } else {
                (first + 2, c)
            };
            let (child, least) = if cd < ab { (i_cd, cd) } else { (i_ab, ab) };
            slots[pos & mask] = least;
            pos = child;
            first = ARITY * pos + 1;
        }
        self.sift_up(pos, moving);
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
    /// against std's heap on that pair, on runs full of ties (and of
    /// identical events) and of growth.
    #[test]
    fn pops_in_time_then_event_order() {
        for seed in 0..40u64 {
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
            let mut ours = EventQueue::default();
            let mut reference = BinaryHeap::new();
            // Few distinct times, so that most pops choose among ties.
            let spread = [1u64, 3, 20, 1_000][seed as usize % 4];
            let push_odds = [3, 4][seed as usize % 2];
            let mut now = 0;
            for step in 0..5_000u32 {
                if rng.random_range(0..6) < push_odds {
                    let at = now + rng.random_range(0..spread);
                    let id = rng.random_range(0..50);
                    let ev = match step % 4 {
                        0 => Ev::RequestDone(id),
                        1 => Ev::NextRequest(id, step),
                        2 => Ev::KeepAliveTimeout(id, step / 2),
                        _ => Ev::ChildReady(id),
                    };
                    ours.push(at, ev);
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
            assert!(ours.slots[..].iter().all(|&k| k == VACANT));
        }
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
            q.push(10, ev);
        }
        q.push(9, Ev::DaemonRetry(1));
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
