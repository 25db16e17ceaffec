//! Lognormal durations without a call to the platform's `exp` in the
//! common case, and with exactly the same whole microseconds.
//!
//! A duration is `median · e^x` rounded to whole µs (`x = σ·z`). What
//! matters is the integer, not the last bit of `e^x`: a cheap `e^x` with a
//! relative error below 2^-50 gives the same integer as the platform's
//! `exp` unless the product lies within a hair of a rounding boundary (a
//! relative distance of 2^-44 is used here: ≥ 16 times the two results'
//! possible difference). Only then, or outside the range the fast path
//! handles, is the platform's `exp` called — about one draw in 10^8 at
//! 100 ms medians — so the simulator's outputs do not change.
//!
//! ```text
//!  x = k·ln2/256 + r,  |r| ≤ ln2/512     (k by rounding, r by Cody–Waite)
//!  e^x = 2^(k div 256) · 2^((k mod 256)/256) · e^r
//!        exponent bits   table of 256 (libm)  degree-4 Taylor (error < 2^-54),
//!                                             evaluated as Estrin's scheme: a
//!                                             short chain of dependent operations
//! ```

use std::sync::OnceLock;

/// 2^(j/256) for j in 0..256 (libm: under an ulp, the same on every
/// platform).
fn table() -> &'static [f64; 256] {
    static T: OnceLock<[f64; 256]> = OnceLock::new();
    T.get_or_init(|| std::array::from_fn(|j| libm::exp2(j as f64 / 256.0)))
}

/// The fast path takes |x| up to this (σ ≤ 5 and the normal draws keep
/// |x| far below it); beyond, the caller's exact path runs.
const X_MAX: f64 = 64.0;

/// e^x for |x| ≤ [`X_MAX`], relative error below 2^-50.
#[inline]
fn exp_near(x: f64) -> f64 {
    // 1.5 · 2^52: adding it rounds to an integer held in the low bits.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    const INV_STEP: f64 = 256.0 / std::f64::consts::LN_2;
    // ln 2 / 256 split as in fdlibm (ln2_hi has 32 significant bits, so
    // k·STEP_HI is exact for |k| < 2^21; ln2_lo is the rest).
    const STEP_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000) / 256.0;
    const STEP_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76) / 256.0;
    let kd = x * INV_STEP + SHIFT;
    let k = (kd.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let kf = kd - SHIFT;
    // x − k·STEP_HI is exact (Sterbenz: both are within a factor 2).
    let r = (x - kf * STEP_HI) - kf * STEP_LO;
    let r2 = r * r;
    let p = (1.0 + r) + r2 * ((0.5 + r * (1.0 / 6.0)) + r2 * (1.0 / 24.0));
    let scale = f64::from_bits(((1023 + (k >> 8)) as u64) << 52);
    (table()[(k & 255) as usize] * scale) * p
}

/// `median · e^x` rounded half up to whole µs when that integer is certain
/// to equal what `clamp_us(median · x.exp(), max_us)` gives and lies
/// strictly between 1 and `max_us`; `None` when the caller must compute it
/// the exact way.
#[inline]
pub(super) fn rounded_us(median_us: f64, x: f64, max_us: u64) -> Option<u64> {
    if x.is_nan() || x.abs() > X_MAX {
        return None;
    }
    let r = median_us * exp_near(x) + 0.5;
    // Far below 2^52 (where every double is an integer) and inside (1, max).
    if r.is_nan() || r < 2.0 || r >= (1u64 << 40) as f64 {
        return None;
    }
    // Signed conversions: one instruction each (r < 2^40), where u64's
    // take a dozen on x86-64.
    let n = r as i64;
    let frac = r - n as f64;
    let margin = r * (1.0 / (1u64 << 44) as f64);
    if frac < margin || 1.0 - frac < margin {
        return None;
    }
    // r < n + 1 ≤ max_us: not clamped.
    let n = n as u64;
    (n < max_us).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn exp_near_is_within_its_bound() {
        let mut worst: f64 = 0.0;
        let mut x = -X_MAX;
        while x <= X_MAX {
            let exact = libm::exp(x);
            worst = worst.max(((exp_near(x) - exact) / exact).abs());
            x += 0.000_731;
        }
        // libm's exp is within an ulp of e^x; ours within 2^-50.
        assert!(worst < 2f64.powi(-50) + 2f64.powi(-52), "worst {worst:e}");
    }

    /// The rounded durations equal the old formula's (platform exp and
    /// the same rounding) for every draw, or the fast path steps aside.
    #[test]
    fn gives_the_same_microseconds_as_the_platform_exp() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        let mut fast = 0u32;
        let cases: u32 = 2_000_000;
        for i in 0..cases {
            let median = match i % 4 {
                0 => rng.random_range(1.0..1_000.0),
                1 => rng.random_range(1_000.0..1_000_000.0),
                2 => 100_000.0,
                _ => rng.random_range(1.0..86_400e6),
            };
            let sigma = rng.random_range(0.0..5.0);
            let z: f64 = rng.random_range(-9.0..9.0);
            let x = sigma * z;
            let max_us = if i % 7 == 0 { 200_000 } else { 86_400_000_000 };
            let r = median * x.exp() + 0.5;
            let expected = if r >= max_us as f64 {
                max_us
            } else if r >= 1.0 {
                r as u64
            } else {
                1
            };
            if let Some(us) = rounded_us(median, x, max_us) {
                fast += 1;
                assert_eq!(us, expected, "median {median}, x {x}");
            }
        }
        // Nearly every draw takes the fast path (the rest are clamped).
        assert!(fast > cases / 2, "{fast} of {cases}");
    }

    #[test]
    fn steps_aside_at_the_edges() {
        assert_eq!(rounded_us(100.0, f64::NAN, 1_000), None);
        assert_eq!(rounded_us(100.0, 100.0, u64::MAX), None);
        // Exactly half a µs above an integer: a rounding boundary.
        assert_eq!(rounded_us(2.5, 0.0, 1_000), None);
        assert_eq!(rounded_us(0.2, 0.0, 1_000), None);
        assert_eq!(rounded_us(999.9, 0.0, 1_000), None);
        assert_eq!(rounded_us(100.2, 0.0, 1_000), Some(100));
    }
}
