//! A 4-ary min-heap of event keys: events too far ahead for the calendar,
//! or in a crowded slot of it.
//!
//! ```text
//!   push: append, sift up            pop: the root's hole sinks to a leaf
//!                                    along the least child, the last key
//!                                    fills it and rises (Floyd's order)
//! ```
//!
//! Why 4-ary: a pop walks from the root to a leaf, and each level is a
//! load that depends on the comparison before it; with four children per
//! node a heap of 60 events is 3 levels deep instead of 6.

use super::VACANT;

/// Children per node.
const ARITY: usize = 4;

/// A 4-ary min-heap of event keys.
///
/// The keys live in the first `len` of `slots`; every slot from `len` on
/// holds [`VACANT`], and there are always at least `ARITY` of them, so a
/// node's four children can be compared without looking at `len`. The
/// length of `slots` is a power of two and every index is masked with
/// `slots.len() − 1`, which changes none (they all stay below the length)
/// but lets the compiler drop the bounds checks without `unsafe`.
#[derive(Debug)]
pub(super) struct Heap {
    slots: Vec<u128>,
    len: usize,
}

impl Default for Heap {
    fn default() -> Self {
        Heap {
            slots: vec![VACANT; 64],
            len: 0,
        }
    }
}

impl Heap {
    /// The least key ([`VACANT`] when empty).
    #[inline(always)]
    pub(super) fn least(&self) -> u128 {
        self.slots[0]
    }

    #[inline(always)]
    pub(super) fn push(&mut self, key: u128) {
        if self.len + ARITY >= self.slots.len() {
            self.grow();
        }
        let pos = self.len;
        self.len += 1;
        self.sift_up(pos, key);
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        self.slots.resize(2 * self.slots.len(), VACANT);
    }

    /// Remove the least key (nothing when empty).
    #[inline(always)]
    pub(super) fn pop(&mut self) {
        if self.len == 0 {
            return;
        }
        let mask = self.slots.len() - 1;
        self.len -= 1;
        let last = std::mem::replace(&mut self.slots[self.len & mask], VACANT);
        if self.len > 0 {
            self.sift_down_to_bottom(last);
        }
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

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }
}
