//! Open-loop arrivals: the lazy iterator over a trace or a Poisson load, and
//! the deterministic random draws behind it.
//!
//! Determinism across platforms: the generator is PCG (`Pcg64Mcg`, integer
//! arithmetic only), uniform numbers are made from its bits by hand, and the
//! only transcendental functions (`exp`, `log`) come from the pure-Rust
//! `libm`, built from IEEE basic operations — so the same seed gives the same
//! bits on every platform (std's `f64::exp`/`ln` would call the platform's C
//! library, whose last bit differs between systems).

use std::iter::FusedIterator;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::{Poisson, PoissonSegment, TraceRow};

/// One client connection of an open-loop load.
///
/// It opens at `at_us` and sends `requests_per_conn` requests, one after the
/// other: each is sent `think_us` after the previous response (the first at
/// once), and holds a worker for its duration. With `requests_per_conn == 1`
/// (no keep-alive) it is simply one request of `duration_us`.
///
/// Durations of the requests after the first: [`Arrival::request_duration_us`]
/// (deterministic — the same arrival always gives the same durations; for a
/// Poisson load each is drawn independently, for a trace they all equal
/// `duration_us`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// When the connection opens and its first request is sent, in
    /// microseconds since the server started.
    pub at_us: u64,
    /// How long the first request holds its worker (≥ 1 µs).
    pub duration_us: u64,
    /// Requests sent on this connection (≥ 1).
    pub requests_per_conn: u32,
    /// Pause between a response and the next request on this connection.
    pub think_us: u64,
    later: Later,
}

/// How the durations of requests after the first are made.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Later {
    /// All equal to the first.
    Same,
    /// Lognormal draws from a stream of their own, keyed by the request's
    /// index, so they can be asked for in any order.
    LogNormal {
        median_us: f64,
        sigma: f64,
        max_us: u64,
        seed: u64,
    },
}

impl Arrival {
    /// A connection with one request (no keep-alive); for tests and for
    /// callers that make their own arrivals. `duration_us` is raised to 1 µs.
    pub fn new(at_us: u64, duration_us: u64) -> Self {
        Arrival {
            at_us,
            duration_us: duration_us.max(1),
            requests_per_conn: 1,
            think_us: 0,
            later: Later::Same,
        }
    }

    /// The same connection sending `requests_per_conn` requests (raised to 1)
    /// of `duration_us` each, `think_us` apart.
    #[must_use]
    pub fn with_keep_alive(mut self, requests_per_conn: u32, think_us: u64) -> Self {
        self.requests_per_conn = requests_per_conn.max(1);
        self.think_us = think_us;
        self
    }

    /// Duration of the connection's request number `index` (0 is the
    /// first, `duration_us`); `None` past the last. Deterministic: it
    /// depends only on this arrival, not on the order of calls.
    pub fn request_duration_us(&self, index: u32) -> Option<u64> {
        if index >= self.requests_per_conn {
            return None;
        }
        if index == 0 {
            return Some(self.duration_us);
        }
        Some(match self.later {
            Later::Same => self.duration_us,
            Later::LogNormal {
                median_us,
                sigma,
                max_us,
                seed,
            } => {
                let mut draws = Draws::new(splitmix64(seed.wrapping_add(u64::from(index))));
                lognormal_us(median_us, sigma, draws.normal(), max_us)
            }
        })
    }

    /// The durations of all the connection's requests, in order.
    pub fn request_durations(&self) -> RequestDurations {
        RequestDurations {
            arrival: *self,
            next: 0,
        }
    }

    /// When the connection would close if every request were served at
    /// once (no queueing): `at_us` + all durations + the think times.
    pub fn unqueued_end_us(&self) -> u64 {
        let thinks = self
            .think_us
            .saturating_mul(u64::from(self.requests_per_conn - 1));
        self.request_durations()
            .fold(self.at_us.saturating_add(thinks), u64::saturating_add)
    }
}

/// The request durations of one [`Arrival`], from
/// [`Arrival::request_durations`].
#[derive(Debug, Clone)]
pub struct RequestDurations {
    arrival: Arrival,
    next: u32,
}

impl Iterator for RequestDurations {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let d = self.arrival.request_duration_us(self.next)?;
        self.next += 1;
        Some(d)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.arrival.requests_per_conn - self.next.min(self.arrival.requests_per_conn))
            as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for RequestDurations {}
impl FusedIterator for RequestDurations {}

/// The arrivals of an open-loop load in non-decreasing `at_us`, made lazily:
/// memory does not grow with their number. From
/// [`OpenLoad::arrivals`](super::OpenLoad::arrivals).
#[derive(Debug, Clone)]
pub struct Arrivals<'a> {
    inner: Inner<'a>,
}

// The Poisson variant carries its buffer of drawn arrivals (1 KiB) inline:
// an iterator is made once per run, and boxing it would allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Inner<'a> {
    Trace(std::slice::Iter<'a, TraceRow>),
    Poisson(PoissonArrivals<'a>),
}

impl<'a> Arrivals<'a> {
    pub(crate) fn trace(rows: &'a [TraceRow]) -> Self {
        Arrivals {
            inner: Inner::Trace(rows.iter()),
        }
    }

    pub(crate) fn poisson(load: &'a Poisson, seed: u64) -> Self {
        Arrivals {
            inner: Inner::Poisson(PoissonArrivals::new(load, seed)),
        }
    }
}

impl Arrivals<'_> {
    /// When the next arrival is due (`u64::MAX`: none left), without
    /// taking it: the engine compares this time with its other events
    /// and makes the arrival itself only when it is due.
    #[inline]
    pub(crate) fn next_at_us(&mut self) -> u64 {
        match &mut self.inner {
            Inner::Trace(rows) => rows.as_slice().first().map_or(u64::MAX, |r| r.at_us),
            Inner::Poisson(p) => p.next_at_us(),
        }
    }
}

impl Iterator for Arrivals<'_> {
    type Item = Arrival;

    #[inline]
    fn next(&mut self) -> Option<Arrival> {
        match &mut self.inner {
            Inner::Trace(rows) => rows.next().map(|r| Arrival {
                at_us: r.at_us,
                duration_us: r.duration_us,
                requests_per_conn: r.requests_per_conn,
                think_us: r.think_us,
                later: Later::Same,
            }),
            Inner::Poisson(p) => p.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Inner::Trace(rows) => rows.size_hint(),
            Inner::Poisson(p) => (0, if p.done() { Some(0) } else { None }),
        }
    }
}

impl FusedIterator for Arrivals<'_> {}

/// A piecewise-constant Poisson process: within each segment, exponential
/// gaps from the segment's start (exact, since the process is memoryless);
/// each arrival draws its first request's duration right after its gap.
///
/// Arrivals are drawn [`BATCH`] at a time into a buffer (times and first
/// durations side by side), in the same order from the same stream as one
/// at a time, so the numbers are the same. Why: one arrival's draws are a
/// chain of dependent operations (the generator's multiplication, a table
/// look-up, the lognormal's `e^x`); drawn one per request, amid the
/// engine's other work, each chain is waited for, while in a loop of
/// draws the processor overlaps one arrival's chain with the next one's.
#[derive(Debug, Clone)]
struct PoissonArrivals<'a> {
    segments: &'a [PoissonSegment],
    segment: usize,
    /// The current segment has no arrival left (its next gap ends past it).
    segment_over: bool,
    /// Time of the last arrival (or the segment's start), in µs, unrounded.
    t_us: f64,
    /// 1e6 / rate of the current segment.
    mean_gap_us: f64,
    /// The current segment's end as a float (converted once, not per
    /// arrival: a u64 to f64 conversion is a dozen instructions on x86-64).
    end_us: f64,
    draws: Draws,
    seed: u64,
    /// Arrivals made so far: keys the per-connection duration streams.
    index: u64,
    max_duration_us: u64,
    buffer: Batch,
}

/// How many arrivals are drawn at a time.
const BATCH: usize = 64;

/// Arrivals drawn ahead, all from one segment.
#[derive(Debug, Clone)]
struct Batch {
    at_us: [u64; BATCH],
    duration_us: [u64; BATCH],
    len: usize,
    next: usize,
    /// The segment they belong to.
    segment: usize,
    /// `index` of the first.
    first_index: u64,
}

impl<'a> PoissonArrivals<'a> {
    fn new(load: &'a Poisson, seed: u64) -> Self {
        let mut p = PoissonArrivals {
            segments: &load.segments,
            segment: 0,
            segment_over: false,
            t_us: 0.0,
            mean_gap_us: 0.0,
            end_us: 0.0,
            draws: Draws::new(seed),
            seed,
            index: 0,
            max_duration_us: load.max_duration_us,
            buffer: Batch {
                at_us: [0; BATCH],
                duration_us: [0; BATCH],
                len: 0,
                next: 0,
                segment: 0,
                first_index: 0,
            },
        };
        p.enter_segment(0);
        p
    }

    fn enter_segment(&mut self, i: usize) {
        self.segment = i;
        self.segment_over = false;
        if let Some(s) = self.segments.get(i) {
            self.t_us = s.start_us as f64;
            self.end_us = s.end_us as f64;
            self.mean_gap_us = if s.rate_per_s > 0.0 {
                1e6 / s.rate_per_s
            } else {
                0.0
            };
        }
    }

    fn done(&self) -> bool {
        self.buffer.next >= self.buffer.len && self.segment >= self.segments.len()
    }

    #[inline]
    fn next(&mut self) -> Option<Arrival> {
        let b = &self.buffer;
        if b.next < b.len {
            let k = b.next;
            self.buffer.next += 1;
            return Some(self.arrival(k));
        }
        self.refill();
        (self.buffer.len > 0).then(|| {
            self.buffer.next = 1;
            self.arrival(0)
        })
    }

    #[inline]
    fn next_at_us(&mut self) -> u64 {
        if self.buffer.next >= self.buffer.len {
            self.refill();
        }
        let b = &self.buffer;
        if b.next < b.len {
            b.at_us[b.next]
        } else {
            u64::MAX
        }
    }

    /// The buffer's arrival `k` (its later requests' stream keyed by its index).
    #[inline]
    fn arrival(&self, k: usize) -> Arrival {
        let b = &self.buffer;
        let seg = &self.segments[b.segment];
        let later = if seg.requests_per_conn > 1 && seg.sigma > 0.0 {
            let index = b.first_index + k as u64;
            Later::LogNormal {
                median_us: seg.median_us,
                sigma: seg.sigma,
                max_us: self.max_duration_us,
                seed: splitmix64(self.seed ^ splitmix64(index)),
            }
        } else {
            Later::Same
        };
        Arrival {
            at_us: b.at_us[k],
            duration_us: b.duration_us[k],
            requests_per_conn: seg.requests_per_conn,
            think_us: seg.think_us,
            later,
        }
    }

    /// Draw the next batch: up to [`BATCH`] arrivals of the first segment
    /// that has any left; none when the load is over.
    #[inline(never)]
    fn refill(&mut self) {
        self.buffer.len = 0;
        self.buffer.next = 0;
        while let Some(seg) = self.segments.get(self.segment) {
            if !self.segment_over && self.mean_gap_us > 0.0 {
                let n = if seg.sigma > 0.0 {
                    let (median, sigma) = (seg.median_us, seg.sigma);
                    self.draw(|draws, max| lognormal_us(median, sigma, draws.normal(), max))
                } else {
                    let d = clamp_us(seg.median_us, self.max_duration_us);
                    self.draw(|_, _| d)
                };
                if n > 0 {
                    self.buffer.len = n;
                    self.buffer.segment = self.segment;
                    self.buffer.first_index = self.index;
                    self.index += n as u64;
                    return;
                }
            }
            self.enter_segment(self.segment + 1);
        }
    }

    /// Fill the buffer with the current segment's next arrivals, each
    /// duration from `duration` right after its gap; how many.
    #[inline(always)]
    fn draw(&mut self, mut duration: impl FnMut(&mut Draws, u64) -> u64) -> usize {
        let (gap, end, max) = (self.mean_gap_us, self.end_us, self.max_duration_us);
        let mut t = self.t_us;
        let mut n = 0;
        while n < BATCH {
            t += self.draws.exp1() * gap;
            if t >= end {
                self.segment_over = true;
                break;
            }
            // t ≥ the segment's start, an integer, so flooring keeps the
            // arrivals in order and inside the segment. (Through i64, the
            // same value: t is below 2^63 µs, and the signed conversion is
            // one instruction on x86-64.)
            self.buffer.at_us[n] = t as i64 as u64;
            self.buffer.duration_us[n] = duration(&mut self.draws, max);
            n += 1;
        }
        self.t_us = t;
        n
    }
}

/// Random draws from one PCG stream.
#[derive(Debug, Clone)]
struct Draws {
    rng: Pcg64Mcg,
}

impl super::ziggurat::Bits for Pcg64Mcg {
    #[inline]
    fn bits(&mut self) -> u64 {
        self.next_u64()
    }
}

impl Draws {
    fn new(seed: u64) -> Self {
        Draws {
            rng: Pcg64Mcg::seed_from_u64(seed),
        }
    }

    /// Standard exponential (ziggurat).
    #[inline]
    fn exp1(&mut self) -> f64 {
        super::ziggurat::exp1(&mut self.rng)
    }

    /// Standard normal (ziggurat).
    #[inline]
    fn normal(&mut self) -> f64 {
        super::ziggurat::normal(&mut self.rng)
    }
}

/// `median · e^(sigma·z)` rounded to whole µs, in [1, max_us].
#[inline]
fn lognormal_us(median_us: f64, sigma: f64, z: f64, max_us: u64) -> u64 {
    let x = sigma * z;
    // Nearly always: the same integer without calling `exp` (see
    // `rounded_exp`).
    if let Some(us) = super::rounded_exp::rounded_us(median_us, x, max_us) {
        return us;
    }
    // The platform's exp (several times faster than libm's here): the
    // same binary on the same platform gives the same bits; across
    // platforms a last-bit difference can only move a duration by 1 µs.
    clamp_us(median_us * x.exp(), max_us)
}

#[inline]
fn clamp_us(us: f64, max_us: u64) -> u64 {
    // Round half up; `us` is never negative here (and NaN ends as 1 µs).
    // `as u64` truncates, which is `floor` for the values that reach it
    // (≥ 1): no call to `floor`, which is not inlined on baseline x86-64.
    let r = us + 0.5;
    if r >= max_us as f64 {
        max_us
    } else if r >= 1.0 {
        r as u64
    } else {
        1
    }
}

/// SplitMix64's finaliser: turns neighbouring integers into unrelated seeds.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_keeps_durations_in_range() {
        assert_eq!(clamp_us(0.0, 10), 1);
        assert_eq!(clamp_us(f64::NAN, 10), 1);
        assert_eq!(clamp_us(0.4, 10), 1);
        assert_eq!(clamp_us(2.5, 10), 3);
        assert_eq!(clamp_us(1e30, 10), 10);
        assert_eq!(clamp_us(f64::INFINITY, 10), 10);
    }

    #[test]
    fn draws_are_pinned() {
        // The exact bits a seed gives are part of the contract (recorded
        // runs replay with their seed); this catches accidental changes.
        let mut d = Draws::new(1);
        let xs: Vec<String> = (0..3)
            .map(|_| format!("{:.12}/{:.12}", d.exp1(), d.normal()))
            .collect();
        insta::assert_snapshot!(xs.join("\n"));
    }

    #[test]
    fn keep_alive_durations_are_independent_and_repeatable() {
        let a = Arrival {
            later: Later::LogNormal {
                median_us: 200_000.0,
                sigma: 0.5,
                max_us: u64::MAX,
                seed: 42,
            },
            ..Arrival::new(5, 123).with_keep_alive(5, 1_000)
        };
        let ds: Vec<u64> = a.request_durations().collect();
        assert_eq!(ds.len(), 5);
        assert_eq!(ds[0], 123);
        assert_eq!(ds, a.request_durations().collect::<Vec<_>>());
        assert_eq!(a.request_duration_us(3), Some(ds[3]));
        assert_eq!(a.request_duration_us(5), None);
        let distinct: std::collections::BTreeSet<_> = ds[1..].iter().collect();
        assert_eq!(distinct.len(), 4, "{ds:?}");
        assert_eq!(a.unqueued_end_us(), 5 + 4 * 1_000 + ds.iter().sum::<u64>());
        let plain = Arrival::new(0, 0).with_keep_alive(3, 10);
        assert_eq!(plain.request_durations().collect::<Vec<_>>(), vec![1, 1, 1]);
        assert_eq!(plain.unqueued_end_us(), 23);
    }
}
