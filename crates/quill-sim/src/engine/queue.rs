//! The engine's timed events: a binary min-heap on time with 16-byte
//! entries, popping in exactly the order `std`'s `BinaryHeap` did.
//!
//! ```text
//!   entry = at (u64 µs) │ event packed in a u64: kind (4 bits) │ a (28) │ b (32)
//!   push: append, sift up            pop: last → root, sift down to the
//!                                    bottom, then sift up (std's algorithm)
//! ```
//!
//! Why not `std::collections::BinaryHeap`: with its 24-byte `(at, Ev)`
//! entries the heap's pop was a fifth of a run, one per request. Why the
//! same algorithm: events at the same microsecond come out in an order fixed
//! by the sequence of heap operations, and keeping std's exact sift rules
//! keeps every simulation bit-identical to what it was (a test below checks
//! the pop order against std's heap on runs full of ties).

use super::{ChildIdx, ConnId};

/// Something that happens at a given microsecond.
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

#[derive(Debug, Clone, Copy)]
struct Entry {
    at: u64,
    ev: u64,
}

const VACANT: Entry = Entry { at: 0, ev: 0 };

/// A min-heap of events on their time.
///
/// The entries live in the first `len` of `slots`, whose length is a power
/// of two (at least 2): every index is masked with `slots.len() − 1`, which
/// changes none (they are all below `len`) but lets the compiler drop the
/// bounds checks from the sift loops without `unsafe`.
#[derive(Debug)]
pub(super) struct EventQueue {
    slots: Vec<Entry>,
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
        (self.len > 0).then(|| self.slots[0].at)
    }

    #[inline(always)]
    pub(super) fn push(&mut self, at: u64, ev: Ev) {
        if self.len == self.slots.len() {
            self.slots.resize(2 * self.len, VACANT);
        }
        let pos = self.len;
        self.len += 1;
        self.sift_up(pos, Entry { at, ev: ev.pack() });
    }

    /// The next event (std's `pop`: the last entry takes the root's place,
    /// sinks to the bottom along the earlier child, then rises).
    #[inline]
    pub(super) fn pop(&mut self) -> Option<(u64, Ev)> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let mask = self.slots.len() - 1;
        let last = self.slots[self.len & mask];
        let top = self.slots[0];
        if self.len > 0 {
            self.sift_down_to_bottom(last);
        }
        Some((top.at, Ev::unpack(top.ev)))
    }

    /// Place `moving` at the hole `pos` or above it: up while it is earlier
    /// than the parent (an equal time stops it, as in std).
    #[inline]
    fn sift_up(&mut self, mut pos: usize, moving: Entry) {
        let slots = &mut self.slots[..];
        let mask = slots.len() - 1;
        assert!(mask > 0);
        while pos > 0 {
            let parent = (pos - 1) / 2;
            let p = slots[parent & mask];
            if moving.at >= p.at {
                break;
            }
            slots[pos & mask] = p;
            pos = parent;
        }
        slots[pos & mask] = moving;
    }

    /// With the root a hole: move it down to a leaf, always along the
    /// earlier child (the right one on a tie), then place `moving` there
    /// or above.
    #[inline]
    fn sift_down_to_bottom(&mut self, moving: Entry) {
        let end = self.len;
        let slots = &mut self.slots[..];
        let mask = slots.len() - 1;
        assert!(mask > 0);
        let mut pos = 0;
        let mut child = 1;
        while child + 1 < end {
            child += usize::from(slots[child & mask].at >= slots[(child + 1) & mask].at);
            slots[pos & mask] = slots[child & mask];
            pos = child;
            child = 2 * pos + 1;
        }
        if child + 1 == end {
            slots[pos & mask] = slots[child & mask];
            pos = child;
        }
        self.sift_up(pos, moving);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use std::collections::BinaryHeap;

    /// std's heap with the engine's former ordering: time only, reversed.
    #[derive(Debug, PartialEq, Eq)]
    struct Timed {
        at: u64,
        ev: Ev,
    }

    impl Ord for Timed {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            other.at.cmp(&self.at)
        }
    }

    impl PartialOrd for Timed {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }

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

    #[test]
    fn pops_in_the_order_of_std_binary_heap() {
        // Few distinct times, so that most pops choose among ties: the
        // order among equal times is what must match.
        for seed in 0..40u64 {
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
            let mut ours = EventQueue::default();
            let mut std = BinaryHeap::new();
            let spread = [1u64, 3, 20, 1_000][seed as usize % 4];
            let mut now = 0;
            for step in 0..5_000u32 {
                if rng.random_range(0..5) < 3 {
                    let at = now + rng.random_range(0..spread);
                    let ev = if step % 2 == 0 {
                        Ev::RequestDone(step)
                    } else {
                        Ev::NextRequest(step, step.wrapping_mul(7))
                    };
                    ours.push(at, ev);
                    std.push(Timed { at, ev });
                } else {
                    let theirs = std.pop().map(|t| (t.at, t.ev));
                    assert_eq!(ours.pop(), theirs, "seed {seed}, step {step}");
                    if let Some((at, _)) = theirs {
                        now = at;
                    }
                }
                assert_eq!(ours.next_at(), std.peek().map(|t| t.at));
            }
            while let Some(t) = std.pop() {
                assert_eq!(ours.pop(), Some((t.at, t.ev)));
            }
            assert_eq!(ours.pop(), None);
        }
    }
}
