//! A calendar of the next two seconds: one slot per 1,024 µs, each slot
//! holding up to two keys in order (a calendar queue, after R. Brown,
//! 1988, with one year only and no resizing).
//!
//! ```text
//!   bucket = at >> 10 (1,024 µs)      slot = bucket mod 2048
//!   ┌──────┬──────┬──────┬─ ─ ─┬──────┐
//!   │ k₁ · │ ·  · │ k₂ k₃│     │ ·  · │   · = vacant; k₂ < k₃
//!   └──────┴──────┴──────┴─ ─ ─┴──────┘
//!   occupied: one bit per slot, and one per word of those bits
//!   least: the least key, kept up to date
//!   base: the bucket of the last key taken; every key here is due in
//!         base … base + 2047, so the slots in order from base's, going
//!         round, are the buckets in time order
//! ```
//!
//! Why: nearly every event of a busy run is due within a second or two
//! (a request's end), and at hundreds of events a second a slot of a
//! millisecond rarely holds more than one. A push sorts the key into its
//! slot and a pop shifts the slot and looks for the next occupied one in
//! the bit words, with no branch that depends on the keys in the common
//! case, where a heap of 60 events walks three levels of dependent loads.
//! A key that does not fit (due two seconds or more ahead of `base`, or
//! into a slot that already holds two) is refused, and the caller keeps it
//! in its heap: no slot grows, whatever the load.

use super::VACANT;

/// log2 of a slot's width in µs.
const SLOT_SHIFT: u32 = 10;
/// Slots (a power of two); with 1,024 µs each, 2.1 s ahead.
const SLOTS: usize = 2048;
const WORDS: usize = SLOTS / 64;

#[derive(Debug)]
pub(super) struct Calendar {
    /// No key is due before this bucket (`at >> SLOT_SHIFT`), and none
    /// `SLOTS` buckets or more after it.
    base: u64,
    /// Each slot's keys, the lesser first, [`VACANT`] where none.
    slots: Box<[[u128; 2]; SLOTS]>,
    /// Occupied slots, one bit each.
    occupied: [u64; WORDS],
    /// Words of `occupied` with a bit set.
    summary: u32,
    len: usize,
    /// The least key ([`VACANT`] when empty).
    least: u128,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            base: 0,
            slots: Box::new([[VACANT; 2]; SLOTS]),
            occupied: [0; WORDS],
            summary: 0,
            len: 0,
            least: VACANT,
        }
    }
}

#[inline(always)]
fn bucket(key: u128) -> u64 {
    ((key >> 64) as u64) >> SLOT_SHIFT
}

#[inline(always)]
fn slot_of(bucket: u64) -> usize {
    bucket as usize & (SLOTS - 1)
}

impl Calendar {
    /// The least key ([`VACANT`] when empty).
    #[inline(always)]
    pub(super) fn least(&self) -> u128 {
        self.least
    }

    /// Take `key` if it fits; `false` leaves it to the caller. `now`: no
    /// key pushed from now on is due before it.
    #[inline(always)]
    pub(super) fn push(&mut self, now: u64, key: u128) -> bool {
        if self.len == 0 {
            self.base = now >> SLOT_SHIFT;
        }
        let b = bucket(key);
        // A key due before `base` (none is) wraps to a large distance.
        if b.wrapping_sub(self.base) >= SLOTS as u64 {
            return false;
        }
        let s = slot_of(b);
        let [first, second] = self.slots[s];
        if second != VACANT {
            return false;
        }
        // Sorted in: a vacant first slot (the largest key) moves second.
        self.slots[s] = [first.min(key), first.max(key)];
        self.occupied[s / 64] |= 1 << (s % 64);
        self.summary |= 1 << (s / 64);
        self.len += 1;
        self.least = self.least.min(key);
        true
    }

    /// Remove the least key; the caller has taken it as the least of all
    /// its events (so nothing left is due before it).
    #[inline(always)]
    pub(super) fn pop(&mut self) {
        let key = self.least;
        if key == VACANT {
            return;
        }
        let b = bucket(key);
        self.base = b;
        let s = slot_of(b);
        // The least key is its slot's first.
        let second = self.slots[s][1];
        self.slots[s] = [second, VACANT];
        self.len -= 1;
        let (w, bit) = (s / 64, s % 64);
        let emptied = u64::from(second == VACANT);
        self.occupied[w] &= !(emptied << bit);
        self.summary &= !(u32::from(self.occupied[w] == 0) << w);
        // Next: the slot's other key, or else the first key of the next
        // occupied slot (always looked up: the lesser of the two is the
        // answer either way, and there is no branch on which it is).
        let after = self.occupied[w] & ((u64::MAX << bit) << 1);
        let next = if after != 0 {
            w * 64 + after.trailing_zeros() as usize
        } else {
            match self.next_word(w) {
                Some(word) => word * 64 + self.occupied[word].trailing_zeros() as usize,
                None => {
                    self.least = second;
                    return;
                }
            }
        };
        self.least = second.min(self.slots[next & (SLOTS - 1)][0]);
    }

    /// The first word with an occupied slot after word `w`, going round
    /// (back to `w` itself last).
    #[cold]
    fn next_word(&self, w: usize) -> Option<usize> {
        let later = self.summary & u32::MAX.checked_shl(w as u32 + 1).unwrap_or(0);
        let word = match (later, self.summary) {
            (0, 0) => return None,
            (0, all) => all.trailing_zeros(),
            (later, _) => later.trailing_zeros(),
        };
        Some(word as usize % WORDS)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Empty, and every slot and bit as at the start.
    #[cfg(test)]
    pub(super) fn is_clear(&self) -> bool {
        self.len == 0
            && self.least == VACANT
            && self.summary == 0
            && self.occupied.iter().all(|&w| w == 0)
            && self.slots.iter().flatten().all(|&k| k == VACANT)
    }
}
